/* libventra: checks a protobuf-c message against the generated limit table
 * (the nanopb .options bounds), so the server's codec refuses what the
 * client's static codec could not hold. Implements spec/wire.md, Limits
 * (field over a limit -> ERROR_TOO_LARGE). */
#include "ventra/pbc_limits.h"

#include <stdbool.h>
#include <string.h>

#include "vt_constants.h"

static int cmp_key(const vt_pbc_limit *l, const char *name, uint32_t field)
{
    int c = strcmp(l->message->name, name);
    if (c != 0) {
        return c;
    }
    return l->field < field ? -1 : l->field > field;
}

const vt_pbc_limit *vt_pbc_limit_find(const ProtobufCMessageDescriptor *desc,
                                      uint32_t field)
{
    if (desc == NULL) {
        return NULL;
    }
    /* The table is sorted by (message full name, field number). */
    size_t lo = 0;
    size_t hi = vt_pbc_limit_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_key(&vt_pbc_limits[mid], desc->name, field);
        if (c == 0) {
            return &vt_pbc_limits[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static vt_err check_message(const ProtobufCMessage *msg, bool forms);

/* One value of |fd| stored at |p| (an element, for repeated fields). */
/* spec/wire.md 4.2: byte fields of these lengths are forms (keys,
 * signatures, nonces, message and group ids), which each RPC checks. */
static bool is_form_length(size_t n)
{
    return n == VT_KEY_LEN || n == VT_SIGNATURE_LEN || n == VT_CHALLENGE_NONCE_LEN ||
           n == VT_MESSAGE_ID_LEN || n == VT_GROUP_ID_LEN;
}

static vt_err check_value(const ProtobufCFieldDescriptor *fd, const void *p,
                          const vt_pbc_limit *lim, bool forms)
{
    size_t max_len = lim != NULL ? lim->max_len : 0;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING: {
        /* protobuf-c NUL-terminates strings; the application sees (and
         * stores) at most strlen() bytes, so that is the length bounded. */
        const char *s = *(const char *const *)p;
        if (max_len != 0 && s != NULL && strlen(s) > max_len) {
            return VT_ERR_TOO_LARGE;
        }
        return VT_OK;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = p;
        if (max_len != 0 && bd->len > max_len && (forms || !is_form_length(max_len))) {
            return VT_ERR_TOO_LARGE;
        }
        return VT_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
        return sub != NULL ? check_message(sub, forms) : VT_OK;
    }
    default:
        return VT_OK;
    }
}

static size_t element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 0; /* scalars carry no length and no submessages */
    }
}

/* Recursion depth is bounded by the schema: no Ventra message contains
 * itself, directly or not. */
static vt_err check_message(const ProtobufCMessage *msg, bool forms)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    const char *base = (const char *)msg;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        const vt_pbc_limit *lim = vt_pbc_limit_find(d, fd->id);
        vt_err err = VT_OK;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(const void *)(base + fd->quantifier_offset);
            if (lim != NULL && lim->max_count != 0 && n > lim->max_count) {
                return VT_ERR_TOO_LARGE;
            }
            size_t size = element_size(fd->type);
            const char *arr = *(const char *const *)(const void *)(base + fd->offset);
            for (size_t j = 0; size != 0 && arr != NULL && j < n && err == VT_OK; j++) {
                err = check_value(fd, arr + j * size, lim, forms);
            }
        } else {
            /* A oneof's members share storage: only the set one is valid. */
            if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
                *(const uint32_t *)(const void *)(base + fd->quantifier_offset) !=
                    fd->id) {
                continue;
            }
            err = check_value(fd, base + fd->offset, lim, forms);
        }
        if (err != VT_OK) {
            return err;
        }
    }
    return VT_OK;
}

vt_err vt_pbc_check_limits(const ProtobufCMessage *msg)
{
    if (msg == NULL || msg->descriptor == NULL) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    return check_message(msg, true);
}

vt_err vt_pbc_check_bounds(const ProtobufCMessage *msg)
{
    if (msg == NULL || msg->descriptor == NULL) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    return check_message(msg, false);
}
