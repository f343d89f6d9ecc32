/* The wire vectors (conformance/vectors/wire/ JSON files) against both codecs and
 * against protoc: spec/wire.md, Framing and Limits (WIRE-20, WIRE-24). Valid
 * vectors must decode to the same values in protobuf-c and nanopb (the
 * SendRequest envelopes nanopb keeps as callback fields included), re-encode
 * to the same bytes with both and print as their "text" with protoc
 * --decode; invalid ones must be refused by both with exactly their "error". */
#define _POSIX_C_SOURCE 200809L /* popen, mkstemp */

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

#include <jansson.h>
#include <pb_common.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "vectors.h"
#include "vectors_int.h"
#include "ventra/frame.h"
#include "ventra/pbc_limits.h"
#include "ventra/v1/e2e.pb-c.h"
#include "ventra/v1/e2e.pb.h"
#include "vt_constants.h"

/* ---- failing a case ---------------------------------------------------- *
 * A check that does not hold ends the case, as a failed cmocka assertion
 * ended the test this code comes from: wfail() records why and jumps back
 * to run_case() (or vt_conform_np_collect_send()), which frees what the
 * case held (cur). */

static jmp_buf *fail_jmp;
static vt_conform_detail fail_text;

static void wfail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void wfail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vt_conform_detail_vadd(&fail_text, fmt, ap);
    va_end(ap);
    longjmp(*fail_jmp, 1);
}

#define CHECK(c)                                                                         \
    do {                                                                                 \
        if (!(c))                                                                        \
            wfail("check failed at %s:%d: %s", __FILE__, __LINE__, #c);                  \
    } while (0)
#define CHECK_EQ(a, b) CHECK((uintmax_t)(a) == (uintmax_t)(b))

typedef struct sbuf {
    char *p;
    size_t len;
    size_t cap;
} sbuf;

/* What the running case holds, released by run_case() on every path. */
static struct {
    uint8_t *buf; /* the vector's bytes */
    ProtobufCMessage *pm;
    void *nm;
    sbuf d1, d2;
    uint8_t *out;
    char *got;
    char tmp[32]; /* protoc's input file while it exists */
} cur;

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

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p != NULL ? b->p + b->len : NULL,
                          b->p != NULL ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        CHECK(n >= 0);
        if (b->p != NULL && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        b->p = realloc(b->p, cap);
        CHECK((b->p) != NULL);
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
 * before decoding into it. So the runner finds the SendRequest bytes itself
 * and decodes them a second time with callbacks that collect the envelopes
 * (collect_send()); encode callbacks on the frame's send body then write
 * the collected envelopes back, and dump_nanopb() prints them. */

/* An envelope is about 16 KB: static storage, not the stack. */
ventra_v1_OutgoingEnvelope vt_conform_np_to_recipient[NP_TO_RECIPIENT_MAX];
ventra_v1_OutgoingEnvelope vt_conform_np_to_self[NP_TO_SELF_MAX];

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

void vt_conform_np_set_encode(ventra_v1_SendRequest *send, np_send *ns)
{
    send->to_recipient.funcs.encode = np_encode_env;
    send->to_recipient.arg = &ns->to_recipient;
    send->to_self.funcs.encode = np_encode_env;
    send->to_self.arg = &ns->to_self;
}

/* ---- canonical dumps --------------------------------------------------- *
 * One line per present value: "<path> <class> <value>", the path being field
 * numbers joined by '.', with "[i]" for repeated elements; classes: n integer
 * (enums included: nanopb keeps non-negative enums unsigned), b bool, s string (hex), y
 * bytes (hex), m submessage (followed by its fields). Fields in field-number order;
 * proto3 singular scalars only when not zero/empty, as both codecs encode them. */

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
    CHECK(pb_field_iter_begin_const(&it, nd, &nanopb_scratch));
    CHECK(pb_field_iter_find(&it, tag));
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
        wfail("field %s: type %d not handled", fd->name, (int)fd->type);
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
            CHECK(d->fields[i - 1].id < fd->id); /* field-number order */
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
            CHECK_EQ(it->data_size, 4);
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
        wfail("nanopb field %u: type %u not handled", (unsigned)it->tag,
              (unsigned)it->type);
    }
}

static void dump_nanopb(sbuf *b, const pb_msgdesc_t *nd, const void *msg,
                        const char *prefix)
{
    for (uint32_t tag = 1; tag <= nd->largest_tag; tag++) {
        pb_field_iter_t it;
        CHECK(pb_field_iter_begin_const(&it, nd, msg));
        if (!pb_field_iter_find(&it, tag)) {
            continue;
        }
        char path[256];
        snprintf(path, sizeof path, "%s%s%u", prefix, *prefix ? "." : "", (unsigned)tag);
        if (PB_ATYPE(it.type) == PB_ATYPE_CALLBACK) {
            /* The only callback fields are SendRequest's envelope lists,
             * which collect_send() has filled: one missing its
             * collection is a gap in this test, not a pass. */
            const pb_callback_t *cb = it.pData;
            if (cb->funcs.encode != np_encode_env ||
                PB_HTYPE(it.type) != PB_HTYPE_REPEATED) {
                wfail("nanopb callback field %s was not collected", path);
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
                nanopb_value(b, &it, (const char *)it.pField + (size_t)j * it.data_size,
                             ep, false);
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

/* |hex| decoded into cur.buf (freed by run_case()). */
static void unhex(const char *hex, size_t *len)
{
    CHECK(hex != NULL);
    size_t n = strlen(hex);
    CHECK_EQ(n % 2, 0);
    cur.buf = malloc(n / 2 + 1);
    CHECK((cur.buf) != NULL);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        CHECK_EQ(sscanf(hex + 2 * i, "%2x", &v), 1);
        cur.buf[i] = (uint8_t)v;
    }
    *len = n / 2;
}

/* protoc --decode of |buf|; returns its output (caller frees) and status.
 * The temporary file is cur.tmp, removed by run_case() on a failure. */
static char *protoc_decode(const char *type, const char *proto, const uint8_t *buf,
                           size_t len, int *status)
{
    char *tmp = cur.tmp;
    strcpy(tmp, "/tmp/vt-wire-XXXXXX");
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    ssize_t w = write(fd, buf, len);
    close(fd);
    CHECK_EQ(w, (ssize_t)len);
    const char *protoc = getenv("PROTOC");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --decode=%s -Ischemas %s < %s",
             protoc != NULL && *protoc ? protoc : "protoc", type, proto, tmp);
    FILE *p = popen(cmd, "r");
    CHECK((p) != NULL);
    sbuf out = {0};
    sb_printf(&out, "%s", "");
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0) {
        sb_printf(&out, "%.*s", (int)n, chunk);
    }
    *status = pclose(p);
    unlink(tmp);
    tmp[0] = '\0';
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
            CHECK(eof); /* the bytes passed the decode already */
            return n;
        }
        if (tag != want) {
            CHECK(pb_skip_field(&s, wt));
            continue;
        }
        CHECK_EQ(wt, PB_WT_STRING);
        pb_istream_t payload;
        CHECK(pb_make_string_substream(&s, &payload));
        *sub = payload; /* a copy still at the start of the payload */
        CHECK(pb_close_string_substream(&s, &payload));
        n++;
    }
}

/* vt_conform_np_collect_send() (vectors_int.h) inside a case: the SendRequest
 * is Frame field 1, Request field 40. Returns false, with nanopb's message
 * in *why, when the second decode fails (e.g. more envelopes than
 * max_count); a check that does not hold fails the case. */
static bool collect_send(const uint8_t *buf, size_t len, ventra_v1_Frame *frame,
                         np_send *ns, const char **why)
{
    const vt_pbc_limit *lr = vt_pbc_limit_find(&ventra__v1__send_request__descriptor,
                                               ventra_v1_SendRequest_to_recipient_tag);
    const vt_pbc_limit *ls = vt_pbc_limit_find(&ventra__v1__send_request__descriptor,
                                               ventra_v1_SendRequest_to_self_tag);
    CHECK((lr) != NULL);
    CHECK((ls) != NULL);
    CHECK_EQ(lr->max_count, NP_TO_RECIPIENT_MAX);
    CHECK_EQ(ls->max_count, NP_TO_SELF_MAX);
    CHECK_EQ(frame->which_kind, ventra_v1_Frame_request_tag);
    CHECK_EQ(frame->kind.request.which_body, ventra_v1_Request_send_tag);

    /* One occurrence each, as every encoder writes them; merged repeats
     * are not needed by the vectors and would be refused here loudly. */
    pb_istream_t req;
    pb_istream_t send;
    CHECK_EQ(np_find_field(pb_istream_from_buffer(buf, len), ventra_v1_Frame_request_tag,
                           &req),
             1);
    CHECK_EQ(np_find_field(req, ventra_v1_Request_send_tag, &send), 1);

    *ns = (np_send){
        .to_recipient = {vt_conform_np_to_recipient, NP_TO_RECIPIENT_MAX, 0},
        .to_self = {vt_conform_np_to_self, NP_TO_SELF_MAX, 0},
    };
    memset(vt_conform_np_to_recipient, 0, sizeof vt_conform_np_to_recipient);
    memset(vt_conform_np_to_self, 0, sizeof vt_conform_np_to_self);
    ventra_v1_SendRequest fresh = ventra_v1_SendRequest_init_zero;
    fresh.to_recipient.funcs.decode = np_decode_env;
    fresh.to_recipient.arg = &ns->to_recipient;
    fresh.to_self.funcs.decode = np_decode_env;
    fresh.to_self.arg = &ns->to_self;
    if (!pb_decode(&send, ventra_v1_SendRequest_fields, &fresh)) {
        *why = PB_GET_ERROR(&send);
        return false;
    }
    CHECK_EQ(send.bytes_left, 0);

    ventra_v1_SendRequest *body = &frame->kind.request.body.send;
    vt_conform_np_set_encode(&fresh, ns);
    vt_conform_np_set_encode(body, ns);
    sbuf d1 = {0};
    sbuf d2 = {0};
    sb_printf(&d1, "%s", "");
    sb_printf(&d2, "%s", "");
    dump_nanopb(&d1, ventra_v1_SendRequest_fields, &fresh, "");
    dump_nanopb(&d2, ventra_v1_SendRequest_fields, body, "");
    CHECK(strcmp(d1.p, d2.p) == 0); /* the walk found the frame's SendRequest */
    free(d1.p);
    free(d2.p);
    return true;
}

bool vt_conform_np_collect_send(const uint8_t *buf, size_t len, ventra_v1_Frame *frame,
                                np_send *ns, const char **why)
{
    jmp_buf jb, *saved = fail_jmp;
    volatile bool ok = false;
    vt_conform_detail_reset(&fail_text);
    fail_jmp = &jb;
    if (setjmp(jb) == 0)
        ok = collect_send(buf, len, frame, ns, why);
    else
        *why = fail_text.text;
    fail_jmp = saved;
    return ok;
}

/* ---- one case ---------------------------------------------------------- */

/* Decodes |buf| with both codecs into the current case (protobuf-c into
 * cur.pm, nanopb into cur.nm), as a Frame when |t| is Frame. */
static void decode_both(const msg_type *t, const uint8_t *buf, size_t len, vt_err *e1,
                        vt_err *e2)
{
    bool is_frame = t->pbc == &ventra__v1__frame__descriptor;
    *e1 = is_frame ? vt_frame_decode_pbc(buf, len, VT_MAX_FRAME_SIZE,
                                         (Ventra__V1__Frame **)&cur.pm)
                   : vt_msg_decode_pbc(t->pbc, buf, len, VT_MAX_FRAME_SIZE, &cur.pm);
    *e2 = is_frame ? vt_frame_decode_nanopb(buf, len, VT_MAX_FRAME_SIZE, cur.nm)
                   : vt_msg_decode_nanopb(t->pbc, t->nanopb, buf, len, VT_MAX_FRAME_SIZE,
                                          cur.nm);
}

static void check_valid(const msg_type *t, const char *proto, json_t *tc,
                        const uint8_t *buf, size_t len)
{
    const char *text = json_string_value(json_object_get(tc, "text"));
    bool is_frame = t->pbc == &ventra__v1__frame__descriptor;
    cur.nm = calloc(1, t->nanopb_size);
    CHECK((cur.nm) != NULL);
    CHECK((text) != NULL);

    vt_err e1, e2;
    decode_both(t, buf, len, &e1, &e2);
    if (e1 != VT_OK || e2 != VT_OK) {
        wfail("decode: protobuf-c %s, nanopb %s", vt_err_name(e1), vt_err_name(e2));
    }
    ventra_v1_Frame *nf = cur.nm;
    np_send ns;
    if (is_frame && nf->which_kind == ventra_v1_Frame_request_tag &&
        nf->kind.request.which_body == ventra_v1_Request_send_tag) {
        const char *why = NULL;
        if (!collect_send(buf, len, nf, &ns, &why)) {
            wfail("nanopb envelope decode: %s", why != NULL ? why : "?");
        }
    }

    /* Both codecs decoded the same values, envelopes included. */
    sb_printf(&cur.d1, "%s", "");
    sb_printf(&cur.d2, "%s", "");
    dump_pbc(&cur.d1, cur.pm, t->nanopb, "");
    dump_nanopb(&cur.d2, t->nanopb, cur.nm, "");
    if (strcmp(cur.d1.p, cur.d2.p) != 0) {
        wfail("decoded values differ\nprotobuf-c:\n%s\nnanopb:\n%s", cur.d1.p, cur.d2.p);
    }
    CHECK(cur.d1.len > 0 || len == 0);

    /* Both re-encode to the vector's bytes (nanopb writes the envelopes
     * through the encode callbacks collect_send() set). */
    cur.out = malloc(len + 1);
    CHECK((cur.out) != NULL);
    size_t out_len = 0;
    CHECK_EQ(vt_msg_encode_pbc(cur.pm, cur.out, len, &out_len), VT_OK);
    CHECK_EQ(out_len, len);
    CHECK(memcmp(cur.out, buf, len) == 0);
    vt_err e3 = vt_msg_encode_nanopb(t->nanopb, cur.nm, cur.out, len, &out_len);
    if (e3 != VT_OK || out_len != len || memcmp(cur.out, buf, len) != 0) {
        wfail("nanopb re-encoding differs (%s, %zu of %zu bytes)", vt_err_name(e3),
              out_len, len);
    }

    /* Google's protoc reads the bytes as the vector's text. */
    int status = -1;
    cur.got = protoc_decode(t->name, proto, buf, len, &status);
    CHECK_EQ(status, 0);
    if (strcmp(cur.got, text) != 0) {
        wfail("protoc --decode gives\n%s\nexpected\n%s", cur.got, text);
    }
}

static void check_invalid(const msg_type *t, json_t *tc, const uint8_t *buf, size_t len)
{
    const char *want = json_string_value(json_object_get(tc, "error"));
    cur.nm = calloc(1, t->nanopb_size);
    CHECK((cur.nm) != NULL);
    CHECK((want) != NULL);

    vt_err e1, e2;
    decode_both(t, buf, len, &e1, &e2);
    const char *n1 = vt_err_name(e1);
    const char *n2 = vt_err_name(e2);
    if (n1 == NULL || n2 == NULL || strcmp(n1, want) != 0 || strcmp(n2, want) != 0) {
        wfail("want %s, protobuf-c gave %s, nanopb gave %s", want, n1 != NULL ? n1 : "?",
              n2 != NULL ? n2 : "?");
    }
    CHECK((cur.pm) == NULL); /* untouched on failure */
}

/* Runs the test |tc| of a group of message type |mt| (NULL: the group has
 * none) in |proto|; returns 1 when it failed. */
static int run_case(const char *label, const char *mt, const char *proto, json_t *tc,
                    vt_conform_case_fn fn, void *ud)
{
    vt_conform_case c;
    jmp_buf jb;
    volatile int failed = 0;
    vt_conform_case_fill(&c, label, tc);
    vt_conform_detail_reset(&fail_text);
    fail_jmp = &jb;
    if (setjmp(jb) == 0) {
        CHECK((mt) != NULL);
        CHECK((proto) != NULL);
        const msg_type *t = find_type(mt);
        if (t == NULL) {
            wfail("message type %s unknown to this runner", mt);
        }
        size_t len = 0;
        unhex(json_string_value(json_object_get(tc, "encoded")), &len);
        const char *result = json_string_value(json_object_get(tc, "result"));
        CHECK((result) != NULL);
        if (strcmp(result, "valid") == 0) {
            check_valid(t, proto, tc, cur.buf, len);
        } else {
            CHECK(strcmp(result, "invalid") == 0);
            check_invalid(t, tc, cur.buf, len);
        }
    } else {
        failed = 1;
    }
    fail_jmp = NULL;
    if (cur.tmp[0] != '\0')
        unlink(cur.tmp);
    free(cur.buf);
    vt_msg_free_pbc(cur.pm);
    free(cur.nm);
    free(cur.d1.p);
    free(cur.d2.p);
    free(cur.out);
    free(cur.got);
    memset(&cur, 0, sizeof cur);
    c.result = failed ? VT_CONFORM_FAIL : VT_CONFORM_PASS;
    c.detail = failed ? fail_text.text : NULL;
    fn(&c, ud);
    return failed;
}

/* Reports a problem of the file |label| itself (not of one case). */
static int file_failure(const char *label, const char *why, vt_conform_case_fn fn,
                        void *ud)
{
    vt_conform_case c;
    vt_conform_case_fill(&c, label, NULL);
    c.result = VT_CONFORM_FAIL;
    c.detail = why;
    fn(&c, ud);
    return 1;
}

static int check_file(const char *path, const char *label, vt_conform_case_fn fn,
                      void *ud)
{
    json_error_t jerr;
    char why[512];
    int failed = 0;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL) {
        snprintf(why, sizeof why, "does not parse: %s (line %d)", jerr.text, jerr.line);
        return file_failure(label, why, fn, ud);
    }
    const char *alg = json_string_value(json_object_get(root, "algorithm"));
    json_t *groups = json_object_get(root, "testGroups");
    if (alg == NULL || strcmp(alg, "ventra-wire-v1") != 0)
        failed += file_failure(label, "algorithm is not ventra-wire-v1", fn, ud);
    if (json_array_size(groups) == 0)
        failed += file_failure(label, "no testGroups", fn, ud);
    size_t total = 0;
    size_t gi;
    json_t *g;
    json_array_foreach(groups, gi, g)
    {
        const char *mt = json_string_value(json_object_get(g, "messageType"));
        const char *proto = json_string_value(json_object_get(g, "protoFile"));
        json_t *tests = json_object_get(g, "tests");
        if (json_array_size(tests) == 0) {
            snprintf(why, sizeof why, "test group %zu has no tests", gi);
            failed += file_failure(label, why, fn, ud);
        }
        size_t ti;
        json_t *tc;
        json_array_foreach(tests, ti, tc)
        {
            failed += run_case(label, mt, proto, tc, fn, ud);
            total++;
        }
    }
    if ((json_int_t)total != json_integer_value(json_object_get(root, "numberOfTests"))) {
        snprintf(why, sizeof why, "ran %zu tests, numberOfTests says %lld", total,
                 (long long)json_integer_value(json_object_get(root, "numberOfTests")));
        failed += file_failure(label, why, fn, ud);
    }
    json_decref(root);
    return failed;
}

typedef struct wire_walk {
    vt_conform_case_fn fn;
    void *ud;
} wire_walk;

static int wire_file(const char *path, const char *label, void *arg)
{
    const wire_walk *w = arg;
    return check_file(path, label, w->fn, w->ud);
}

/* Not vt_conform_kind_run: a wire file is checked further (its algorithm,
 * non-empty groups and tests) and each test decoded by both protobuf-c and
 * nanopb, so only the directory walk is shared. */
int vt_conform_wire_run(const char *dir, vt_conform_case_fn fn, void *ud)
{
    wire_walk w = {fn, ud};
    return vt_conform_dir_run(dir, "wire", wire_file, &w);
}
