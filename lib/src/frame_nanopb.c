/* libventra framing over nanopb, the client's codec: decode with the rules of
 * ventra/frame.h into static structs, encode with size checks. Implements
 * spec/wire.md, Framing and Limits (WIRE-20, WIRE-24). */
#include "ventra/frame.h"

#include <stdbool.h>
#include <string.h>

#include <pb_common.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "frame_int.h"

static bool decode_to(const pb_msgdesc_t *fields, const uint8_t *buf, size_t len,
                      void *out, const char **why)
{
    static const uint8_t empty[1];
    pb_istream_t in = pb_istream_from_buffer(buf != NULL ? buf : empty, len);
    bool ok = pb_decode(&in, fields, out);
    *why = PB_GET_ERROR(&in);
    return ok;
}

vt_err vt_msg_decode_nanopb(const ProtobufCMessageDescriptor *desc,
                            const pb_msgdesc_t *fields, const uint8_t *buf, size_t len,
                            size_t max_size, void *out)
{
    if (desc == NULL || fields == NULL || out == NULL || (buf == NULL && len > 0)) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    if (len > max_size) {
        return VT_ERR_TOO_LARGE;
    }
    /* The protobuf-c descriptor carries the schema and, through the limit
     * table, the bounds; checking the bytes against it gives nanopb exactly
     * the server's rules, including bounds of callback fields nanopb skips. */
    vt_err err = vt_wire_check(buf, len, desc);
    if (err != VT_OK) {
        return err;
    }
    const char *why = NULL;
    if (!decode_to(fields, buf, len, out, &why)) {
        /* The input is well-formed (checked above), so what nanopb still
         * refuses is a value its static arrays cannot hold: "string
         * overflow", "bytes overflow", "array overflow". */
        return why != NULL && strstr(why, "overflow") != NULL ? VT_ERR_TOO_LARGE
                                                              : VT_ERR_MALFORMED_FRAME;
    }
    return VT_OK;
}

vt_err vt_msg_encode_nanopb(const pb_msgdesc_t *fields, const void *msg, uint8_t *buf,
                            size_t cap, size_t *out_len)
{
    size_t need = 0;
    if (fields == NULL || msg == NULL || out_len == NULL || (buf == NULL && cap > 0)) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    if (!pb_get_encoded_size(&need, fields, msg)) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    if (need > cap) {
        *out_len = need;
        return VT_ERR_BUFFER_TOO_SMALL;
    }
    if (need == 0) {
        *out_len = 0;
        return VT_OK;
    }
    pb_ostream_t os = pb_ostream_from_buffer(buf, cap);
    if (!pb_encode(&os, fields, msg)) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    *out_len = os.bytes_written;
    return VT_OK;
}

vt_err vt_frame_decode_nanopb(const uint8_t *buf, size_t len, size_t max_frame_size,
                              ventra_v1_Frame *out)
{
    if (out == NULL) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    vt_err err = vt_msg_decode_nanopb(&ventra__v1__frame__descriptor,
                                      ventra_v1_Frame_fields, buf, len,
                                      max_frame_size, out);
    /* WIRE-24: no kind, or only kinds this version does not know. */
    if (err == VT_OK && out->which_kind == 0) {
        err = VT_ERR_UNKNOWN_FRAME_KIND;
    }
    if (err != VT_OK) {
        memset(out, 0, sizeof *out);
    }
    return err;
}

vt_err vt_frame_size_nanopb(const ventra_v1_Frame *frame, size_t *out_len)
{
    if (frame == NULL || out_len == NULL) {
        return VT_ERR_INVALID_ARGUMENT;
    }
    return pb_get_encoded_size(out_len, ventra_v1_Frame_fields, frame)
               ? VT_OK
               : VT_ERR_INVALID_ARGUMENT;
}

vt_err vt_frame_encode_nanopb(const ventra_v1_Frame *frame, uint8_t *buf, size_t cap,
                              size_t *out_len)
{
    return vt_msg_encode_nanopb(ventra_v1_Frame_fields, frame, buf, cap, out_len);
}
