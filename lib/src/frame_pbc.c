/* libventra framing over protobuf-c, the server's codec: decode with the
 * rules of ventra/frame.h, encode within the bounds. Implements spec/wire.md,
 * Framing and Limits (WIRE-20, WIRE-24; over a bound -> ERROR_TOO_LARGE). */
#include "ventra/frame.h"

#include <stdbool.h>
#include <stdlib.h>

#include "frame_int.h"
#include "ventra/pbc_limits.h"

/* protobuf-c reports every failure as NULL; this allocator remembers
 * whether one of them was running out of memory. */
typedef struct alloc_state {
    bool failed;
} alloc_state;

static void *track_alloc(void *data, size_t size)
{
    void *p = malloc(size);
    if (p == NULL) {
        ((alloc_state *)data)->failed = true;
    }
    return p;
}

static void track_free(void *data, void *p)
{
    (void)data;
    free(p);
}

vt_err vt_msg_decode_pbc(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                         size_t len, size_t max_size, ProtobufCMessage **out)
{
    ProtobufCMessage *msg = NULL;
    vt_err err = VT_OK;

    if (desc == NULL || out == NULL || (buf == NULL && len > 0)) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    if (len > max_size) {
        return VT_ERR_TOO_LARGE;
    }
    err = vt_wire_check(buf, len, desc);
    if (err != VT_OK) {
        goto out;
    }
    alloc_state st = {false};
    ProtobufCAllocator alloc = {track_alloc, track_free, &st};
    static const uint8_t empty[1];
    msg = protobuf_c_message_unpack(desc, &alloc, len, buf != NULL ? buf : empty);
    if (msg == NULL) {
        err = st.failed ? VT_ERR_NO_MEMORY : VT_ERR_MALFORMED_FRAME;
        goto out;
    }
    /* vt_wire_check() has enforced the bounds on the bytes; checking the
     * decoded message as well costs little and guards the table's use. */
    err = vt_pbc_check_limits(msg);
    if (err != VT_OK) {
        goto out;
    }
    *out = msg;
    msg = NULL;
out:
    vt_msg_free_pbc(msg);
    return err;
}

void vt_msg_free_pbc(ProtobufCMessage *msg)
{
    /* The tracking allocator is malloc/free underneath, so the default
     * allocator releases what it allocated. */
    if (msg != NULL) {
        protobuf_c_message_free_unpacked(msg, NULL);
    }
}

vt_err vt_msg_encode_pbc(const ProtobufCMessage *msg, uint8_t *buf, size_t cap,
                         size_t *out_len)
{
    if (msg == NULL || out_len == NULL || (buf == NULL && cap > 0)) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    vt_err err = vt_pbc_check_limits(msg);
    if (err != VT_OK) {
        return err;
    }
    size_t need = protobuf_c_message_get_packed_size(msg);
    if (need > cap) {
        *out_len = need;
        return VT_ERR_BUFFER_TOO_SMALL;
    }
    *out_len = need > 0 ? protobuf_c_message_pack(msg, buf) : 0;
    return VT_OK;
}

vt_err vt_frame_decode_pbc(const uint8_t *buf, size_t len, size_t max_frame_size,
                           Ventra__V1__Frame **out)
{
    ProtobufCMessage *msg = NULL;
    if (out == NULL) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    vt_err err = vt_msg_decode_pbc(&ventra__v1__frame__descriptor, buf, len,
                                   max_frame_size, &msg);
    if (err != VT_OK) {
        return err;
    }
    Ventra__V1__Frame *frame = (Ventra__V1__Frame *)msg;
    /* WIRE-24: a frame with no kind (or only kinds this version does not
     * know, which protobuf-c keeps as unknown fields) is refused. */
    if (frame->kind_case == VENTRA__V1__FRAME__KIND__NOT_SET) {
        vt_msg_free_pbc(msg);
        return VT_ERR_UNKNOWN_FRAME_KIND;
    }
    *out = frame;
    return VT_OK;
}

void vt_frame_free_pbc(Ventra__V1__Frame *frame)
{
    vt_msg_free_pbc(frame != NULL ? &frame->base : NULL);
}

size_t vt_frame_size_pbc(const Ventra__V1__Frame *frame)
{
    return frame != NULL ? protobuf_c_message_get_packed_size(&frame->base) : 0;
}

vt_err vt_frame_encode_pbc(const Ventra__V1__Frame *frame, uint8_t *buf, size_t cap,
                           size_t *out_len)
{
    if (frame == NULL) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    return vt_msg_encode_pbc(&frame->base, buf, cap, out_len);
}
