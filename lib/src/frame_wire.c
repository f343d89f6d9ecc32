/* libventra framing: the well-formedness check shared by the protobuf-c and
 * nanopb decode paths (spec/wire.md, Framing; WIRE-20). It decides rule 2 of
 * ventra/frame.h alone, so neither codec's leniency or strictness leaks into
 * what the protocol accepts. */
#include "frame_int.h"

#include <stdlib.h>

#include "ventra/pbc_limits.h"

/* No Ventra message nests deeper than this; unknown fields are skipped, not
 * descended into, so honest input never gets near it. */
#define MAX_DEPTH 16

typedef struct reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
} reader;

/* A varint of at most 10 bytes whose 10th byte carries only bit 63. */
static bool read_varint(reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (r->pos >= r->len) {
            return false;
        }
        uint8_t b = r->p[r->pos++];
        if (i == 9 && b > 1) {
            return false;
        }
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The wire-level classes of field types. */
typedef enum wire_kind {
    WIRE_U32,     /* uint32, bool: varint, value < 2^32 */
    WIRE_I32,     /* int32: varint, a sign-extended int32 */
    WIRE_ENUM,    /* enums: varint, 0 to 2^31 - 1 */
    WIRE_U64,     /* uint64, int64, sint64: any 64-bit varint */
    WIRE_FIXED32, /* fixed32, sfixed32, float */
    WIRE_FIXED64, /* fixed64, sfixed64, double */
    WIRE_STRING,
    WIRE_BYTES,
    WIRE_MESSAGE
} wire_kind;

static wire_kind kind_of(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
        return WIRE_I32;
    case PROTOBUF_C_TYPE_ENUM:
        return WIRE_ENUM;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_BOOL:
        return WIRE_U32;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return WIRE_FIXED32;
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return WIRE_FIXED64;
    case PROTOBUF_C_TYPE_STRING:
        return WIRE_STRING;
    case PROTOBUF_C_TYPE_BYTES:
        return WIRE_BYTES;
    case PROTOBUF_C_TYPE_MESSAGE:
        return WIRE_MESSAGE;
    default:
        return WIRE_U64;
    }
}

static bool varint_fits(wire_kind kind, uint64_t v)
{
    switch (kind) {
    case WIRE_U32:
        /* nanopb refuses wider values for 32-bit fields where protobuf-c
         * truncates; refusing them keeps both codecs in step. */
        return v <= UINT32_MAX;
    case WIRE_I32:
        /* Negative int32 values travel sign-extended to 64 bits. */
        return v <= INT32_MAX || v >= (uint64_t)INT64_C(-2147483648);
    case WIRE_ENUM:
        /* No Ventra enum has negative values, and nanopb stores such enums
         * unsigned, refusing sign-extended negatives protobuf-c keeps. */
        return v <= INT32_MAX;
    case WIRE_U64:
        return true;
    default:
        return false; /* not a varint type */
    }
}

bool vt_wire_utf8_ok(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c == 0) {
            return false; /* C strings cannot hold U+0000 */
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        uint32_t min;
        if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i < n) {
            return false;
        }
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not
         * UTF-8 (RFC 3629, section 3). */
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += n;
    }
    return true;
}

/* The state of one check: malformed input ends it at once; a bound
 * exceeded is remembered while the rest is checked for well-formedness. */
typedef struct check_state {
    bool too_large;
    bool no_memory;
} check_state;

static bool check_message(check_state *st, const uint8_t *buf, size_t len,
                          const ProtobufCMessageDescriptor *desc, unsigned depth);

/* The payload (|n| bytes at |p|) of a length-delimited field |fd|: string,
 * bytes, submessage or a packed run of scalars (*elems counts its values). */
static bool check_delimited(check_state *st, const uint8_t *p, size_t n,
                            const ProtobufCFieldDescriptor *fd, const vt_pbc_limit *lim,
                            size_t *elems, unsigned depth)
{
    wire_kind kind = kind_of(fd->type);
    bool repeated = fd->label == PROTOBUF_C_LABEL_REPEATED;
    size_t max_len = lim != NULL ? lim->max_len : 0;

    *elems = 1;
    switch (kind) {
    case WIRE_STRING:
    case WIRE_BYTES:
        if (kind == WIRE_STRING && !vt_wire_utf8_ok(p, n)) {
            return false;
        }
        /* A string's bound counts bytes, as nanopb's max_size does. */
        if (max_len != 0 && n > max_len) {
            st->too_large = true;
        }
        return true;
    case WIRE_MESSAGE:
        return check_message(st, p, n, fd->descriptor, depth + 1);
    case WIRE_FIXED32:
    case WIRE_FIXED64: {
        size_t w = kind == WIRE_FIXED32 ? 4 : 8;
        *elems = n / w;
        return repeated && n % w == 0;
    }
    default:
        break;
    }
    if (!repeated) {
        return false; /* a singular scalar is never length-delimited */
    }
    reader r = {p, n, 0};
    *elems = 0;
    while (r.pos < r.len) {
        uint64_t v;
        if (!read_varint(&r, &v) || !varint_fits(kind, v)) {
            return false;
        }
        (*elems)++;
    }
    return true;
}

/* One field (key already read) at r->pos. */
static bool check_field(check_state *st, reader *r, uint32_t number, unsigned wire_type,
                        const ProtobufCMessageDescriptor *desc, size_t *counts,
                        unsigned depth)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, number);
    const vt_pbc_limit *lim = fd != NULL ? vt_pbc_limit_find(desc, number) : NULL;
    size_t elems = 1;

    switch (wire_type) {
    case 0: {
        uint64_t v;
        if (!read_varint(r, &v)) {
            return false;
        }
        if (fd != NULL && !varint_fits(kind_of(fd->type), v)) {
            return false; /* also: a varint for a non-varint type */
        }
        break;
    }
    case 1:
    case 5: {
        size_t n = wire_type == 1 ? 8 : 4;
        if (r->len - r->pos < n) {
            return false;
        }
        if (fd != NULL && kind_of(fd->type) != (wire_type == 1 ? WIRE_FIXED64 : WIRE_FIXED32)) {
            return false;
        }
        r->pos += n;
        break;
    }
    case 2: {
        uint64_t n;
        if (!read_varint(r, &n) || n > UINT32_MAX || n > r->len - r->pos) {
            return false;
        }
        if (fd != NULL &&
            !check_delimited(st, r->p + r->pos, (size_t)n, fd, lim, &elems, depth)) {
            return false;
        }
        r->pos += (size_t)n;
        break;
    }
    default:
        /* Groups (3, 4) are not proto3 and neither codec skips them;
         * 6 and 7 are not wire types. */
        return false;
    }
    if (fd != NULL && fd->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *c = &counts[fd - desc->fields];
        *c += elems;
        if (lim != NULL && lim->max_count != 0 && *c > lim->max_count) {
            st->too_large = true;
        }
    }
    return true;
}

static bool check_message(check_state *st, const uint8_t *buf, size_t len,
                          const ProtobufCMessageDescriptor *desc, unsigned depth)
{
    size_t small[64] = {0};
    size_t *counts = small;
    bool ok = true;

    if (depth > MAX_DEPTH) {
        return false;
    }
    if (desc->n_fields > sizeof small / sizeof small[0]) {
        counts = calloc(desc->n_fields, sizeof *counts);
        if (counts == NULL) {
            st->no_memory = true;
            return false;
        }
    }
    reader r = {buf, len, 0};
    while (ok && r.pos < r.len) {
        uint64_t key;
        if (!read_varint(&r, &key) || key > UINT32_MAX || (key >> 3) == 0) {
            ok = false; /* also: field number 0 */
            break;
        }
        ok = check_field(st, &r, (uint32_t)(key >> 3), (unsigned)(key & 7), desc, counts,
                         depth);
    }
    if (counts != small) {
        free(counts);
    }
    return ok;
}

vt_err vt_wire_check(const uint8_t *buf, size_t len,
                     const ProtobufCMessageDescriptor *desc)
{
    check_state st = {false, false};
    static const uint8_t empty[1];
    if (!check_message(&st, buf != NULL ? buf : empty, len, desc, 0)) {
        return st.no_memory ? VT_ERR_NO_MEMORY : VT_ERR_MALFORMED_FRAME;
    }
    return st.too_large ? VT_ERR_TOO_LARGE : VT_OK;
}
