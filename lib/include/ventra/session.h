/* libventra session helpers around the ratchet: Content padding and the
 * session-replacement rule for simultaneous initiation. Implements
 * spec/crypto.md section 8 (CRYPTO-130 to CRYPTO-132) and CRYPTO-123/124. */
#ifndef VENTRA_SESSION_H
#define VENTRA_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/err.h"
#include "ventra/ratchet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pads an encoded ventra.v1.Content (|content|, |len| bytes) per
 * CRYPTO-130/131: any field 15 in the input is dropped, then, unless the
 * rest is a positive multiple of PADDING_BLOCK bytes, field 15 is appended
 * with the smallest number p >= 1 of zero bytes that makes the whole a
 * multiple of PADDING_BLOCK. Writes the result into |out| (capacity |cap|;
 * |len| + 2 * PADDING_BLOCK always suffices) and sets *out_len. |out| must
 * not overlap |content|.
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL, or |content| is not a sequence of
 * protobuf fields), VT_ERR_BUFFER_TOO_SMALL. */
__attribute__((warn_unused_result)) vt_err vt_content_pad(uint8_t *out, size_t cap,
                                                          size_t *out_len,
                                                          const uint8_t *content,
                                                          size_t len);

/* The padding length p of CRYPTO-130 for an encoding of |b| bytes without
 * field 15: 0 when |b| is a positive multiple of PADDING_BLOCK. */
size_t vt_content_padding_len(size_t b);

/* Removes every field 15 from an encoded Content (CRYPTO-132: the padding
 * is ignored whatever its length or bytes). |out| receives at most |len|
 * bytes; |out| may equal |content|.
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL, not a sequence of protobuf
 * fields), VT_ERR_BUFFER_TOO_SMALL. */
__attribute__((warn_unused_result)) vt_err vt_content_unpad(uint8_t *out, size_t cap,
                                                            size_t *out_len,
                                                            const uint8_t *content,
                                                            size_t len);

/* CRYPTO-123/124: what to do with a session just made from a
 * PrekeyMessage, given the current session for that (account, device)
 * (NULL when none) and the two identity keys. Returns true when the new
 * session replaces the current one (the caller then deletes the current and
 * any losing session, CRYPTO-125), false when it must be kept as the losing
 * session (the current one is an unconfirmed initiator session and our
 * identity key is lower as unsigned bytes). */
bool vt_session_new_replaces(const vt_ratchet *current, const uint8_t own_ik[32],
                             const uint8_t sender_ik[32]);

#ifdef __cplusplus
}
#endif

#endif
