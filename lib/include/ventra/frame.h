/* libventra framing: bytes <-> Frame (and any other Ventra message) with
 * protobuf-c (server) or nanopb (client), both held to one set of rules.
 * Implements spec/wire.md, Framing and Limits (WIRE-20, WIRE-24). Sans-I/O.
 *
 * Decoding rules, identical for both codecs and applied in this order:
 *  1. more than |max_size| bytes                       -> VT_ERR_TOO_LARGE
 *  2. not well-formed (truncated or over-long varint, tag 0, group or
 *     reserved wire type, wrong wire type for a known field, length past the
 *     end, a 32-bit field whose value does not fit 32 bits, an enum value
 *     outside 0..2^31-1, a string that is not UTF-8 (RFC 3629) or holds
 *     U+0000)                                           -> VT_ERR_MALFORMED_FRAME
 *  3. a string, bytes or repeated field over its bound (the .options
 *     files through the limit table of vt_pbc_limits.h: max_size,
 *     max_count)                                        -> VT_ERR_TOO_LARGE
 *  4. Frame only: no kind set                           -> VT_ERR_UNKNOWN_FRAME_KIND
 * Unknown fields (valid wire types only) are skipped. Rules 2 and 3 are
 * decided on the bytes by one check that both paths share, against the
 * protobuf-c descriptors and the generated limit table; a frame both
 * malformed and over a bound is malformed, whichever comes first.
 * In nanopb, SendRequest.to_recipient and to_self are callback fields: a
 * client never decodes a SendRequest, and vt_frame_decode_nanopb() checks
 * but drops them. */
#ifndef VENTRA_FRAME_H
#define VENTRA_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <pb.h>
#include <protobuf-c/protobuf-c.h>

#include "ventra/err.h"
#include "ventra/v1/frame.pb-c.h"
#include "ventra/v1/frame.pb.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- protobuf-c (server side) ------------------------------------------ */

/* Decodes one Frame from |buf| (|len| bytes; |buf| may be NULL when |len|
 * is 0) by the rules above, refusing inputs longer than |max_frame_size|
 * (normally VT_MAX_FRAME_SIZE).
 * On VT_OK, *out is a new Frame owned by the caller, released with
 * vt_frame_free_pbc(); on any error *out is untouched and nothing leaks.
 * Errors: VT_ERR_INVALID_ARGUMENT (|out| NULL, or |buf| NULL with len > 0),
 * VT_ERR_TOO_LARGE, VT_ERR_MALFORMED_FRAME, VT_ERR_UNKNOWN_FRAME_KIND,
 * VT_ERR_NO_MEMORY. */
__attribute__((warn_unused_result)) vt_err
vt_frame_decode_pbc(const uint8_t *buf, size_t len, size_t max_frame_size,
                    Ventra__V1__Frame **out);

/* Releases a Frame from vt_frame_decode_pbc(). Accepts NULL. */
void vt_frame_free_pbc(Ventra__V1__Frame *frame);

/* The encoded size of |frame| in bytes (0 for NULL). */
size_t vt_frame_size_pbc(const Ventra__V1__Frame *frame);

/* Encodes |frame| into |buf| (|cap| bytes) and stores the length in
 * *out_len. Does not take ownership of |frame|. Refuses a frame with a field
 * over its bound, so nothing is sent that a peer must reject.
 * Errors: VT_ERR_INVALID_ARGUMENT (|frame| or |out_len| NULL, or |buf| NULL
 * with cap > 0), VT_ERR_TOO_LARGE (a field over its bound),
 * VT_ERR_BUFFER_TOO_SMALL (then *out_len is the size needed and |buf| is
 * not written). */
__attribute__((warn_unused_result)) vt_err
vt_frame_encode_pbc(const Ventra__V1__Frame *frame, uint8_t *buf, size_t cap,
                    size_t *out_len);

/* Any Ventra message: as vt_frame_decode_pbc() for the type |desc| (e.g.
 * &ventra__v1__content__descriptor), minus the kind check (step 4).
 * On VT_OK *out is owned by the caller, released with vt_msg_free_pbc(). */
__attribute__((warn_unused_result)) vt_err
vt_msg_decode_pbc(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                  size_t len, size_t max_size, ProtobufCMessage **out);

/* Releases a message from vt_msg_decode_pbc(). Accepts NULL. */
void vt_msg_free_pbc(ProtobufCMessage *msg);

/* Any Ventra message: as vt_frame_encode_pbc(). */
__attribute__((warn_unused_result)) vt_err
vt_msg_encode_pbc(const ProtobufCMessage *msg, uint8_t *buf, size_t cap,
                  size_t *out_len);

/* ---- nanopb (client side) ---------------------------------------------- */

/* Decodes one Frame into the caller's |out| by the rules above. A
 * ventra_v1_Frame is large (about 17 KB): allocate it on the heap. Nothing
 * is allocated; on VT_OK |out| holds the frame, on any error |out| is all
 * zero bytes.
 * Errors: VT_ERR_INVALID_ARGUMENT (|out| NULL, or |buf| NULL with len > 0),
 * VT_ERR_TOO_LARGE, VT_ERR_MALFORMED_FRAME, VT_ERR_UNKNOWN_FRAME_KIND. */
__attribute__((warn_unused_result)) vt_err
vt_frame_decode_nanopb(const uint8_t *buf, size_t len, size_t max_frame_size,
                       ventra_v1_Frame *out);

/* The encoded size of |frame| in *out_len.
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL argument, or a count or string in
 * |frame| that does not fit its array). */
__attribute__((warn_unused_result)) vt_err
vt_frame_size_nanopb(const ventra_v1_Frame *frame, size_t *out_len);

/* Encodes |frame| into |buf| (|cap| bytes), length in *out_len.
 * Errors: VT_ERR_INVALID_ARGUMENT (as vt_frame_size_nanopb(), or |buf| NULL
 * with cap > 0), VT_ERR_BUFFER_TOO_SMALL (then *out_len is the size needed
 * and |buf| is not written). */
__attribute__((warn_unused_result)) vt_err
vt_frame_encode_nanopb(const ventra_v1_Frame *frame, uint8_t *buf, size_t cap,
                       size_t *out_len);

/* Any Ventra message: as vt_frame_decode_nanopb() for the type |fields|
 * (e.g. ventra_v1_Content_fields) into |out|, a struct of that type, minus
 * the kind check (step 4). |desc| is the protobuf-c descriptor of the same
 * type (e.g. &ventra__v1__content__descriptor): it carries the schema and
 * bounds that rules 2 and 3 are checked against, so the two codecs cannot
 * drift apart. Fields nanopb declares as callbacks (SendRequest.to_recipient
 * and to_self) are checked but skipped unless |out| has their callbacks
 * set. On an error the contents of |out| are unspecified.
 * Errors: as vt_frame_decode_nanopb() (without UNKNOWN_FRAME_KIND), and
 * VT_ERR_NO_MEMORY. */
__attribute__((warn_unused_result)) vt_err
vt_msg_decode_nanopb(const ProtobufCMessageDescriptor *desc,
                     const pb_msgdesc_t *fields, const uint8_t *buf, size_t len,
                     size_t max_size, void *out);

/* Any Ventra message: as vt_frame_encode_nanopb(); |msg| is a struct of the
 * type |fields|. */
__attribute__((warn_unused_result)) vt_err
vt_msg_encode_nanopb(const pb_msgdesc_t *fields, const void *msg, uint8_t *buf,
                     size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif
