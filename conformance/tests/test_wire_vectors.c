/* The wire vectors (conformance/vectors/wire/ JSON files) against both codecs and
 * against protoc: spec/wire.md, Framing and Limits (WIRE-20, WIRE-24). Valid
 * vectors must decode to the same values in protobuf-c and nanopb (the
 * SendRequest envelopes nanopb keeps as callback fields included), re-encode
 * to the same bytes with both and print as their "text" with protoc
 * --decode; invalid ones must be refused by both with exactly their "error". */
#define _POSIX_C_SOURCE 200809L /* popen, mkstemp */

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <pb_common.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "ventra/frame.h"
#include "ventra/pbc_limits.h"
#include "ventra/v1/e2e.pb-c.h"
#include "ventra/v1/e2e.pb.h"
#include "vt_constants.h"

#define VECTOR_DIR "conformance/vectors/wire"

/* The message types vectors may name, in both codecs. */
typedef struct msg_type {
    const char *name;
    const ProtobufCMessageDescriptor *pbc;
    const pb_msgdesc_t *nanopb;
    size_t nanopb_size;
} msg_type;

static const msg_type types[] = {
    {"ventra.v1.Frame", &ventra__v1__frame__descriptor, ventra_v1_Frame_fields,
     sizeof(ventra_v1_Frame)},
    {"ventra.v1.PrekeyMessage", &ventra__v1__prekey_message__descriptor,
     ventra_v1_PrekeyMessage_fields, sizeof(ventra_v1_PrekeyMessage)},
    {"ventra.v1.Content", &ventra__v1__content__descriptor, ventra_v1_Content_fields,
     sizeof(ventra_v1_Content)},
    {"ventra.v1.LinkCode", &ventra__v1__link_code__descriptor, ventra_v1_LinkCode_fields,
     sizeof(ventra_v1_LinkCode)},
};

static const msg_type *find_type(const char *name)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(types[i].name, name) == 0) {
            return &types[i];
        }
    }
    return NULL;
}

/* ---- a growing text buffer --------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len;
    size_t cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p != NULL ? b->p + b->len : NULL,
                          b->p != NULL ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if (b->p != NULL && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
        b->p[b->len] = '\0';
    }
}

static void sb_hex(sbuf *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sb_printf(b, "%02x", p[i]);
    }
}

/* ---- SendRequest envelopes in nanopb ----------------------------------- *
 * nanopb keeps SendRequest.to_recipient and to_self as callback fields, and
 * a frame decode cannot preset their decode callbacks: SendRequest sits in
 * the oneofs Frame.kind and Request.body, and nanopb clears a oneof member
 * before decoding into it. So the test finds the SendRequest bytes itself
 * and decodes them a second time with callbacks that collect the envelopes
 * (np_collect_send()); encode callbacks on the frame's send body then write
 * the collected envelopes back, and dump_nanopb() prints them. */

/* One collected envelope list: |cap| is the field's max_count. */
typedef struct np_envs {
    ventra_v1_OutgoingEnvelope *items;
    pb_size_t cap;
    pb_size_t count;
} np_envs;

typedef struct np_send {
    np_envs to_recipient;
    np_envs to_self;
} np_send;

/* max_count of SendRequest.to_recipient and to_self (messaging.options);
 * np_collect_send() checks them against the generated limit table. */
#define NP_TO_RECIPIENT_MAX 6
#define NP_TO_SELF_MAX 5

/* An envelope is about 16 KB: static storage, not the stack. */
static ventra_v1_OutgoingEnvelope np_to_recipient[NP_TO_RECIPIENT_MAX];
static ventra_v1_OutgoingEnvelope np_to_self[NP_TO_SELF_MAX];

/* Decode callback: nanopb calls it once per envelope, |stream| holding
 * exactly that envelope's bytes. */
static bool np_decode_env(pb_istream_t *stream, const pb_field_t *field, void **arg)
{
    (void)field;
    np_envs *e = *arg;
    if (e->count >= e->cap) {
        PB_RETURN_ERROR(stream, "envelope array overflow");
    }
    if (!pb_decode(stream, ventra_v1_OutgoingEnvelope_fields, &e->items[e->count])) {
        return false;
    }
    e->count++;
    return true;
}

/* Encode callback: writes every collected envelope as one field occurrence,
 * in the order they were read. */
static bool np_encode_env(pb_ostream_t *stream, const pb_field_t *field, void *const *arg)
{
    const np_envs *e = *arg;
    for (pb_size_t i = 0; i < e->count; i++) {
        if (!pb_encode_tag_for_field(stream, field) ||
            !pb_encode_submessage(stream, ventra_v1_OutgoingEnvelope_fields,
                                  &e->items[i])) {
            return false;
        }
    }
    return true;
}

static void np_set_encode(ventra_v1_SendRequest *send, np_send *ns)
{
    send->to_recipient.funcs.encode = np_encode_env;
    send->to_recipient.arg = &ns->to_recipient;
    send->to_self.funcs.encode = np_encode_env;
    send->to_self.arg = &ns->to_self;
}

/* ---- canonical dumps --------------------------------------------------- *
 * One line per present value: "<path> <class> <value>", the path being field
 * numbers joined by '.', with "[i]" for repeated elements; classes: n integer
 * (enums included: nanopb keeps non-negative enums unsigned), b bool, s string (hex), y bytes (hex), m
 * submessage (followed by its fields). Fields in field-number order; proto3
 * singular scalars only when not zero/empty, as both codecs encode them. */

/* Storage for nanopb field iterators that only read descriptors: as large
 * as any message the vectors use, so computed field pointers stay inside. */
static union {
    ventra_v1_Frame frame;
    ventra_v1_PrekeyMessage prekey;
    ventra_v1_Content content;
    ventra_v1_LinkCode link;
} nanopb_scratch;

static const pb_msgdesc_t *nanopb_sub(const pb_msgdesc_t *nd, uint32_t tag)
{
    pb_field_iter_t it;
    assert_true(pb_field_iter_begin_const(&it, nd, &nanopb_scratch));
    assert_true(pb_field_iter_find(&it, tag));
    return it.submsg_desc;
}

static void dump_pbc(sbuf *b, const ProtobufCMessage *m, const pb_msgdesc_t *nd,
                     const char *prefix);

static bool pbc_value(sbuf *b, const ProtobufCFieldDescriptor *fd, const void *p,
                      const pb_msgdesc_t *nd, const char *path, bool omit_zero)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v = *(const int32_t *)p;
        if (omit_zero && v == 0) {
            return false;
        }
        sb_printf(b, "%s n %ld\n", path, (long)v);
        return true;
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: {
        uint32_t v = *(const uint32_t *)p;
        if (omit_zero && v == 0) {
            return false;
        }
        sb_printf(b, "%s n %lu\n", path, (unsigned long)v);
        return true;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        int64_t v = *(const int64_t *)p;
        if (omit_zero && v == 0) {
            return false;
        }
        sb_printf(b, "%s n %lld\n", path, (long long)v);
        return true;
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        if (omit_zero && v == 0) {
            return false;
        }
        sb_printf(b, "%s n %llu\n", path, (unsigned long long)v);
        return true;
    }
    case PROTOBUF_C_TYPE_BOOL: {
        protobuf_c_boolean v = *(const protobuf_c_boolean *)p;
        if (omit_zero && !v) {
            return false;
        }
        sb_printf(b, "%s b %d\n", path, v ? 1 : 0);
        return true;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        size_t n = s != NULL ? strlen(s) : 0;
        if (omit_zero && n == 0) {
            return false;
        }
        sb_printf(b, "%s s ", path);
        sb_hex(b, (const uint8_t *)s, n);
        sb_printf(b, "\n");
        return true;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = p;
        if (omit_zero && bd->len == 0) {
            return false;
        }
        sb_printf(b, "%s y ", path);
        sb_hex(b, bd->data, bd->len);
        sb_printf(b, "\n");
        return true;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
        if (sub == NULL) {
            return false;
        }
        sb_printf(b, "%s m\n", path);
        dump_pbc(b, sub, nanopb_sub(nd, fd->id), path);
        return true;
    }
    default:
        fail_msg("field %s: type %d not handled", fd->name, (int)fd->type);
        return false;
    }
}

static size_t pbc_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    default:
        return 4;
    }
}

/* |nd| is the nanopb descriptor of the same type, giving the submessage
 * types to pass down. */
static void dump_pbc(sbuf *b, const ProtobufCMessage *m, const pb_msgdesc_t *nd,
                     const char *prefix)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        char path[256];
        snprintf(path, sizeof path, "%s%s%u", prefix, *prefix ? "." : "", fd->id);
        if (i > 0) {
            assert_true(d->fields[i - 1].id < fd->id); /* field-number order */
        }
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(const void *)(base + fd->quantifier_offset);
            const char *arr = *(const char *const *)(const void *)(base + fd->offset);
            for (size_t j = 0; j < n; j++) {
                char ep[300];
                snprintf(ep, sizeof ep, "%s[%zu]", path, j);
                pbc_value(b, fd, arr + j * pbc_elem_size(fd->type), nd, ep, false);
            }
            continue;
        }
        bool oneof = (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
        if (oneof &&
            *(const uint32_t *)(const void *)(base + fd->quantifier_offset) != fd->id) {
            continue;
        }
        pbc_value(b, fd, base + fd->offset, nd, path, !oneof);
    }
}

static void dump_nanopb(sbuf *b, const pb_msgdesc_t *nd, const void *msg,
                        const char *prefix);

static void nanopb_value(sbuf *b, const pb_field_iter_t *it, const void *p,
                         const char *path, bool omit_zero)
{
    switch (PB_LTYPE(it->type)) {
    case PB_LTYPE_BOOL:
        if (!omit_zero || *(const bool *)p) {
            sb_printf(b, "%s b %d\n", path, *(const bool *)p ? 1 : 0);
        }
        return;
    case PB_LTYPE_VARINT:
    case PB_LTYPE_SVARINT:
    case PB_LTYPE_FIXED32:
    case PB_LTYPE_FIXED64:
    case PB_LTYPE_UVARINT: {
        bool is_signed = PB_LTYPE(it->type) == PB_LTYPE_VARINT ||
                         PB_LTYPE(it->type) == PB_LTYPE_SVARINT;
        if (it->data_size == 8) {
            uint64_t v = *(const uint64_t *)p;
            if (omit_zero && v == 0) {
                return;
            }
            if (is_signed) {
                sb_printf(b, "%s n %lld\n", path, (long long)(int64_t)v);
            } else {
                sb_printf(b, "%s n %llu\n", path, (unsigned long long)v);
            }
        } else {
            assert_int_equal(it->data_size, 4);
            uint32_t v = *(const uint32_t *)p;
            if (omit_zero && v == 0) {
                return;
            }
            if (is_signed) {
                sb_printf(b, "%s n %ld\n", path, (long)(int32_t)v);
            } else {
                sb_printf(b, "%s n %lu\n", path, (unsigned long)v);
            }
        }
        return;
    }
    case PB_LTYPE_STRING: {
        size_t n = strlen((const char *)p);
        if (!omit_zero || n > 0) {
            sb_printf(b, "%s s ", path);
            sb_hex(b, p, n);
            sb_printf(b, "\n");
        }
        return;
    }
    case PB_LTYPE_BYTES: {
        const pb_bytes_array_t *ba = p;
        if (!omit_zero || ba->size > 0) {
            sb_printf(b, "%s y ", path);
            sb_hex(b, ba->bytes, ba->size);
            sb_printf(b, "\n");
        }
        return;
    }
    case PB_LTYPE_SUBMESSAGE:
        sb_printf(b, "%s m\n", path);
        dump_nanopb(b, it->submsg_desc, p, path);
        return;
    default:
        fail_msg("nanopb field %u: type %u not handled", (unsigned)it->tag,
                 (unsigned)it->type);
    }
}

static void dump_nanopb(sbuf *b, const pb_msgdesc_t *nd, const void *msg,
                        const char *prefix)
{
    for (uint32_t tag = 1; tag <= nd->largest_tag; tag++) {
        pb_field_iter_t it;
        assert_true(pb_field_iter_begin_const(&it, nd, msg));
        if (!pb_field_iter_find(&it, tag)) {
            continue;
        }
        char path[256];
        snprintf(path, sizeof path, "%s%s%u", prefix, *prefix ? "." : "", (unsigned)tag);
        if (PB_ATYPE(it.type) == PB_ATYPE_CALLBACK) {
            /* The only callback fields are SendRequest's envelope lists,
             * which np_collect_send() has filled: one missing its
             * collection is a gap in this test, not a pass. */
            const pb_callback_t *cb = it.pData;
            if (cb->funcs.encode != np_encode_env || PB_HTYPE(it.type) != PB_HTYPE_REPEATED) {
                fail_msg("nanopb callback field %s was not collected", path);
            }
            const np_envs *e = cb->arg;
            for (pb_size_t j = 0; j < e->count; j++) {
                char ep[300];
                snprintf(ep, sizeof ep, "%s[%u]", path, (unsigned)j);
                nanopb_value(b, &it, &e->items[j], ep, false);
            }
            continue;
        }
        switch (PB_HTYPE(it.type)) {
        case PB_HTYPE_REPEATED: {
            pb_size_t n = *(const pb_size_t *)it.pSize;
            for (pb_size_t j = 0; j < n; j++) {
                char ep[300];
                snprintf(ep, sizeof ep, "%s[%u]", path, (unsigned)j);
                nanopb_value(b, &it, (const char *)it.pField + (size_t)j * it.data_size, ep,
                             false);
            }
            break;
        }
        case PB_HTYPE_ONEOF:
            if (*(const pb_size_t *)it.pSize == it.tag) {
                nanopb_value(b, &it, it.pData, path, false);
            }
            break;
        case PB_HTYPE_OPTIONAL:
            if (it.pSize == NULL || *(const bool *)it.pSize) {
                nanopb_value(b, &it, it.pData, path, it.pSize == NULL);
            }
            break;
        default:
            nanopb_value(b, &it, it.pData, path, true);
            break;
        }
    }
}

/* ---- helpers ----------------------------------------------------------- */

static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    assert_int_equal(n % 2, 0);
    uint8_t *out = malloc(n / 2 + 1);
    assert_non_null(out);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    *len = n / 2;
    return out;
}

/* protoc --decode of |buf|; returns its output (caller frees) and status. */
static char *protoc_decode(const char *type, const char *proto, const uint8_t *buf,
                           size_t len, int *status)
{
    char tmp[] = "/tmp/vt-wire-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
    const char *protoc = getenv("PROTOC");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --decode=%s -Ischemas %s < %s",
             protoc != NULL && *protoc ? protoc : "protoc", type, proto, tmp);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    sbuf out = {0};
    sb_printf(&out, "%s", "");
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0) {
        sb_printf(&out, "%.*s", (int)n, chunk);
    }
    *status = pclose(p);
    unlink(tmp);
    return out.p;
}

/* Points *sub at the payload of field |want| (wire type LEN) of the message
 * |s| holds and returns how often the field occurs (*sub: the last one).
 * Uses only nanopb's own wire primitives. */
static size_t np_find_field(pb_istream_t s, uint32_t want, pb_istream_t *sub)
{
    size_t n = 0;
    for (;;) {
        pb_wire_type_t wt;
        uint32_t tag;
        bool eof = false;
        if (!pb_decode_tag(&s, &wt, &tag, &eof)) {
            assert_true(eof); /* the bytes passed the decode already */
            return n;
        }
        if (tag != want) {
            assert_true(pb_skip_field(&s, wt));
            continue;
        }
        assert_int_equal(wt, PB_WT_STRING);
        pb_istream_t payload;
        assert_true(pb_make_string_substream(&s, &payload));
        *sub = payload; /* a copy still at the start of the payload */
        assert_true(pb_close_string_substream(&s, &payload));
        n++;
    }
}

/* For |frame| decoded from |buf| with request body send: decodes the
 * SendRequest in |buf| (Frame field 1, Request field 40) again into a
 * fresh struct whose callbacks collect the envelopes into |ns|, checks the
 * two decodes agree on every other field, and sets encode callbacks on the
 * frame's send body that write the collected envelopes. Returns false, with
 * nanopb's message in *why, when the second decode fails (e.g. more
 * envelopes than max_count). */
static bool np_collect_send(const uint8_t *buf, size_t len, ventra_v1_Frame *frame,
                            np_send *ns, const char **why)
{
    const vt_pbc_limit *lr = vt_pbc_limit_find(&ventra__v1__send_request__descriptor,
                                               ventra_v1_SendRequest_to_recipient_tag);
    const vt_pbc_limit *ls = vt_pbc_limit_find(&ventra__v1__send_request__descriptor,
                                               ventra_v1_SendRequest_to_self_tag);
    assert_non_null(lr);
    assert_non_null(ls);
    assert_int_equal(lr->max_count, NP_TO_RECIPIENT_MAX);
    assert_int_equal(ls->max_count, NP_TO_SELF_MAX);
    assert_int_equal(frame->which_kind, ventra_v1_Frame_request_tag);
    assert_int_equal(frame->kind.request.which_body, ventra_v1_Request_send_tag);

    /* One occurrence each, as every encoder writes them; merged repeats
     * are not needed by the vectors and would be refused here loudly. */
    pb_istream_t req;
    pb_istream_t send;
    assert_int_equal(np_find_field(pb_istream_from_buffer(buf, len),
                                   ventra_v1_Frame_request_tag, &req),
                     1);
    assert_int_equal(np_find_field(req, ventra_v1_Request_send_tag, &send), 1);

    *ns = (np_send){
        .to_recipient = {np_to_recipient, NP_TO_RECIPIENT_MAX, 0},
        .to_self = {np_to_self, NP_TO_SELF_MAX, 0},
    };
    memset(np_to_recipient, 0, sizeof np_to_recipient);
    memset(np_to_self, 0, sizeof np_to_self);
    ventra_v1_SendRequest fresh = ventra_v1_SendRequest_init_zero;
    fresh.to_recipient.funcs.decode = np_decode_env;
    fresh.to_recipient.arg = &ns->to_recipient;
    fresh.to_self.funcs.decode = np_decode_env;
    fresh.to_self.arg = &ns->to_self;
    if (!pb_decode(&send, ventra_v1_SendRequest_fields, &fresh)) {
        *why = PB_GET_ERROR(&send);
        return false;
    }
    assert_int_equal(send.bytes_left, 0);

    ventra_v1_SendRequest *body = &frame->kind.request.body.send;
    np_set_encode(&fresh, ns);
    np_set_encode(body, ns);
    sbuf d1 = {0};
    sbuf d2 = {0};
    sb_printf(&d1, "%s", "");
    sb_printf(&d2, "%s", "");
    dump_nanopb(&d1, ventra_v1_SendRequest_fields, &fresh, "");
    dump_nanopb(&d2, ventra_v1_SendRequest_fields, body, "");
    assert_string_equal(d1.p, d2.p); /* the walk found the frame's SendRequest */
    free(d1.p);
    free(d2.p);
    return true;
}

typedef struct counts {
    size_t valid;
    size_t invalid;
    size_t nanopb_send; /* of the valid: frames carrying a SendRequest */
} counts;

static void check_valid(const msg_type *t, const char *proto, json_t *tc, const uint8_t *buf,
                        size_t len, counts *c)
{
    const char *id = json_string_value(json_object_get(tc, "id"));
    const char *text = json_string_value(json_object_get(tc, "text"));
    bool is_frame = t->pbc == &ventra__v1__frame__descriptor;
    ProtobufCMessage *pm = NULL;
    void *nm = calloc(1, t->nanopb_size);
    assert_non_null(nm);
    assert_non_null(text);

    vt_err e1 = is_frame ? vt_frame_decode_pbc(buf, len, VT_MAX_FRAME_SIZE,
                                               (Ventra__V1__Frame **)&pm)
                         : vt_msg_decode_pbc(t->pbc, buf, len, VT_MAX_FRAME_SIZE, &pm);
    vt_err e2 = is_frame ? vt_frame_decode_nanopb(buf, len, VT_MAX_FRAME_SIZE, nm)
                         : vt_msg_decode_nanopb(t->pbc, t->nanopb, buf, len,
                                                VT_MAX_FRAME_SIZE, nm);
    if (e1 != VT_OK || e2 != VT_OK) {
        fail_msg("%s: decode: protobuf-c %s, nanopb %s", id, vt_err_name(e1),
                 vt_err_name(e2));
    }
    np_send ns;
    if (is_frame && ((ventra_v1_Frame *)nm)->which_kind == ventra_v1_Frame_request_tag &&
        ((ventra_v1_Frame *)nm)->kind.request.which_body == ventra_v1_Request_send_tag) {
        const char *why = NULL;
        if (!np_collect_send(buf, len, nm, &ns, &why)) {
            fail_msg("%s: nanopb envelope decode: %s", id, why != NULL ? why : "?");
        }
        c->nanopb_send++;
    }

    /* Both codecs decoded the same values, envelopes included. */
    sbuf d1 = {0};
    sbuf d2 = {0};
    sb_printf(&d1, "%s", "");
    sb_printf(&d2, "%s", "");
    dump_pbc(&d1, pm, t->nanopb, "");
    dump_nanopb(&d2, t->nanopb, nm, "");
    if (strcmp(d1.p, d2.p) != 0) {
        fail_msg("%s: decoded values differ\nprotobuf-c:\n%s\nnanopb:\n%s", id, d1.p, d2.p);
    }
    assert_true(d1.len > 0 || len == 0);

    /* Both re-encode to the vector's bytes (nanopb writes the envelopes
     * through the encode callbacks np_collect_send() set). */
    uint8_t *out = malloc(len + 1);
    assert_non_null(out);
    size_t out_len = 0;
    assert_int_equal(vt_msg_encode_pbc(pm, out, len, &out_len), VT_OK);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, buf, len);
    vt_err e3 = vt_msg_encode_nanopb(t->nanopb, nm, out, len, &out_len);
    if (e3 != VT_OK || out_len != len || memcmp(out, buf, len) != 0) {
        fail_msg("%s: nanopb re-encoding differs (%s, %zu of %zu bytes)", id,
                 vt_err_name(e3), out_len, len);
    }

    /* Google's protoc reads the bytes as the vector's text. */
    int status = -1;
    char *got = protoc_decode(t->name, proto, buf, len, &status);
    assert_int_equal(status, 0);
    if (strcmp(got, text) != 0) {
        fail_msg("%s: protoc --decode gives\n%s\nexpected\n%s", id, got, text);
    }

    free(got);
    free(out);
    free(d1.p);
    free(d2.p);
    vt_msg_free_pbc(pm);
    free(nm);
    c->valid++;
}

static void check_invalid(const msg_type *t, json_t *tc, const uint8_t *buf, size_t len,
                          counts *c)
{
    const char *id = json_string_value(json_object_get(tc, "id"));
    const char *want = json_string_value(json_object_get(tc, "error"));
    bool is_frame = t->pbc == &ventra__v1__frame__descriptor;
    ProtobufCMessage *pm = NULL;
    void *nm = calloc(1, t->nanopb_size);
    assert_non_null(nm);
    assert_non_null(want);

    vt_err e1 = is_frame ? vt_frame_decode_pbc(buf, len, VT_MAX_FRAME_SIZE,
                                               (Ventra__V1__Frame **)&pm)
                         : vt_msg_decode_pbc(t->pbc, buf, len, VT_MAX_FRAME_SIZE, &pm);
    vt_err e2 = is_frame ? vt_frame_decode_nanopb(buf, len, VT_MAX_FRAME_SIZE, nm)
                         : vt_msg_decode_nanopb(t->pbc, t->nanopb, buf, len,
                                                VT_MAX_FRAME_SIZE, nm);
    const char *n1 = vt_err_name(e1);
    const char *n2 = vt_err_name(e2);
    if (n1 == NULL || n2 == NULL || strcmp(n1, want) != 0 || strcmp(n2, want) != 0) {
        fail_msg("%s: want %s, protobuf-c gave %s, nanopb gave %s", id, want,
                 n1 != NULL ? n1 : "?", n2 != NULL ? n2 : "?");
    }
    assert_null(pm); /* untouched on failure */
    free(nm);
    c->invalid++;
}

static void check_file(const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL) {
        fail_msg("%s: %s (line %d)", path, jerr.text, jerr.line);
    }
    assert_string_equal(json_string_value(json_object_get(root, "algorithm")),
                        "ventra-wire-v1");
    json_t *groups = json_object_get(root, "testGroups");
    assert_true(json_array_size(groups) > 0);
    counts c = {0};
    size_t total = 0;
    size_t gi;
    json_t *g;
    json_array_foreach(groups, gi, g)
    {
        const char *mt = json_string_value(json_object_get(g, "messageType"));
        const char *proto = json_string_value(json_object_get(g, "protoFile"));
        assert_non_null(mt);
        assert_non_null(proto);
        const msg_type *t = find_type(mt);
        if (t == NULL) {
            fail_msg("%s: message type %s unknown to this test", path, mt);
        }
        json_t *tests = json_object_get(g, "tests");
        assert_true(json_array_size(tests) > 0);
        size_t ti;
        json_t *tc;
        json_array_foreach(tests, ti, tc)
        {
            size_t len = 0;
            uint8_t *buf = unhex(json_string_value(json_object_get(tc, "encoded")), &len);
            const char *result = json_string_value(json_object_get(tc, "result"));
            assert_non_null(result);
            if (strcmp(result, "valid") == 0) {
                check_valid(t, proto, tc, buf, len, &c);
            } else {
                assert_string_equal(result, "invalid");
                check_invalid(t, tc, buf, len, &c);
            }
            free(buf);
            total++;
        }
    }
    assert_int_equal(total, json_integer_value(json_object_get(root, "numberOfTests")));
    printf("%s: %zu valid (%zu with SendRequest envelopes), %zu invalid passed\n", path,
           c.valid, c.nanopb_send, c.invalid);
    json_decref(root);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_wire_vectors(void **state)
{
    (void)state;
    DIR *d = opendir(VECTOR_DIR);
    assert_non_null(d);
    char *names[64];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0) {
            assert_true(n < sizeof names / sizeof names[0]);
            names[n] = malloc(sizeof VECTOR_DIR + l + 1);
            assert_non_null(names[n]);
            sprintf(names[n], "%s/%s", VECTOR_DIR, de->d_name);
            n++;
        }
    }
    closedir(d);
    assert_true(n > 0);
    qsort(names, n, sizeof names[0], cmp_str);
    for (size_t i = 0; i < n; i++) {
        check_file(names[i]);
        free(names[i]);
    }
}

/* Encodes with nanopb a Send frame holding |nr| to_recipient and |nself|
 * to_self envelopes, written by np_encode_env(); returns a new buffer. */
static uint8_t *np_send_frame(pb_size_t nr, pb_size_t nself, size_t *len)
{
    ventra_v1_Frame *f = calloc(1, sizeof *f);
    ventra_v1_OutgoingEnvelope *src = calloc((size_t)nr + nself + 1, sizeof *src);
    assert_non_null(f);
    assert_non_null(src);
    for (pb_size_t i = 0; i < nr + nself; i++) {
        src[i].device_id = 1u + i;
        src[i].type = ventra_v1_EnvelopeType_ENVELOPE_TYPE_MESSAGE;
        src[i].content.size = 2;
        src[i].content.bytes[0] = (uint8_t)(0xc0 + i);
        src[i].content.bytes[1] = (uint8_t)i;
    }
    np_send srcs = {{src, nr, nr}, {src + nr, nself, nself}};
    f->which_kind = ventra_v1_Frame_request_tag;
    f->kind.request.id = 7;
    f->kind.request.which_body = ventra_v1_Request_send_tag;
    ventra_v1_SendRequest *s = &f->kind.request.body.send;
    s->message_id.size = 16;
    memset(s->message_id.bytes, 0x5a, 16);
    strcpy(s->recipient, "bob");
    np_set_encode(s, &srcs);
    size_t need = 0;
    assert_int_equal(vt_frame_size_nanopb(f, &need), VT_OK);
    uint8_t *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(vt_frame_encode_nanopb(f, buf, need, len), VT_OK);
    assert_int_equal(*len, need);
    free(src);
    free(f);
    return buf;
}

/* The envelope collector used for the Send vectors: it reads every
 * envelope at the bounds, writes them back byte for byte, and refuses one
 * envelope more than max_count in either list. */
static void test_nanopb_send_collector(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = np_send_frame(NP_TO_RECIPIENT_MAX, NP_TO_SELF_MAX, &len);
    ventra_v1_Frame *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(vt_frame_decode_nanopb(buf, len, VT_MAX_FRAME_SIZE, f), VT_OK);
    np_send ns;
    const char *why = NULL;
    assert_true(np_collect_send(buf, len, f, &ns, &why));
    assert_int_equal(ns.to_recipient.count, NP_TO_RECIPIENT_MAX);
    assert_int_equal(ns.to_self.count, NP_TO_SELF_MAX);
    assert_int_equal(np_to_recipient[0].device_id, 1);
    assert_int_equal(np_to_self[NP_TO_SELF_MAX - 1].device_id,
                     NP_TO_RECIPIENT_MAX + NP_TO_SELF_MAX);
    assert_int_equal(np_to_self[0].content.size, 2);
    assert_int_equal(np_to_self[0].content.bytes[0], 0xc0 + NP_TO_RECIPIENT_MAX);
    uint8_t *out = malloc(len);
    assert_non_null(out);
    size_t out_len = 0;
    assert_int_equal(vt_frame_encode_nanopb(f, out, len, &out_len), VT_OK);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, buf, len);
    free(out);
    free(buf);

    /* One over, in each list: the frame decode refuses it by the bounds
     * check, and so does the collector on its own. */
    static const pb_size_t over[2][2] = {{NP_TO_RECIPIENT_MAX + 1, 0},
                                         {0, NP_TO_SELF_MAX + 1}};
    for (size_t i = 0; i < 2; i++) {
        buf = np_send_frame(over[i][0], over[i][1], &len);
        assert_int_equal(vt_frame_decode_nanopb(buf, len, VT_MAX_FRAME_SIZE, f),
                         VT_ERR_TOO_LARGE);
        memset(f, 0, sizeof *f);
        f->which_kind = ventra_v1_Frame_request_tag;
        f->kind.request.which_body = ventra_v1_Request_send_tag;
        why = NULL;
        assert_false(np_collect_send(buf, len, f, &ns, &why));
        assert_non_null(why);
        assert_non_null(strstr(why, "envelope array overflow"));
        free(buf);
    }
    free(f);
}

/* The files the suite promises exist (a missing one must fail, not skip). */
static void test_expected_files_present(void **state)
{
    (void)state;
    static const char *const want[] = {"requests", "responses", "events", "e2e", "invalid"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.json", VECTOR_DIR, want[i]);
        json_error_t jerr;
        json_t *root = json_load_file(path, 0, &jerr);
        if (root == NULL) {
            fail_msg("%s: %s", path, jerr.text);
        }
        assert_true(json_integer_value(json_object_get(root, "numberOfTests")) > 0);
        json_decref(root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expected_files_present),
        cmocka_unit_test(test_nanopb_send_collector),
        cmocka_unit_test(test_wire_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
