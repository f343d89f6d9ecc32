/* libventra identity keys and signed transcripts: a device's Ed25519 key
 * (and its X25519 form), and the exact bytes every signature covers.
 * Implements spec/crypto.md section 3 (CRYPTO-12 to CRYPTO-15), CRYPTO-21 and
 * spec/auth.md "Signed transcripts" (AUTH-10, AUTH-12). */
#ifndef VENTRA_IDENTITY_H
#define VENTRA_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/crypto.h"
#include "ventra/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A device identity: the Ed25519 key pair made from a 32-byte seed and the
 * X25519 key pair derived from it (CRYPTO-14, CRYPTO-15). Opaque; the secret
 * part lives in sodium_malloc'd memory (guard pages, locked) and is wiped by
 * vt_identity_free. Immutable after creation, so a const handle may be used
 * from several threads at once. */
typedef struct vt_identity vt_identity;

/* Draws a fresh seed (CRYPTO-10, CRYPTO-12) and makes an identity of it into
 * |*out|; the caller owns it and frees it with vt_identity_free. |*out| is
 * untouched on failure. Errors: VT_ERR_INVALID_ARGUMENT (NULL out),
 * VT_ERR_NO_MEMORY, VT_ERR_CRYPTO. */
VT_MUST_CHECK vt_err vt_identity_generate(vt_identity **out);

/* Makes the identity of |seed| (deterministic: the same seed always gives the
 * same keys) into |*out|; the caller owns it. The seed is copied; the caller
 * keeps and wipes its own. |*out| is untouched on failure. Errors:
 * VT_ERR_INVALID_ARGUMENT (NULL), VT_ERR_NO_MEMORY, VT_ERR_CRYPTO. */
VT_MUST_CHECK vt_err vt_identity_from_seed(vt_identity **out, const uint8_t seed[32]);

/* Wipes and frees |id|. NULL is a no-op. */
void vt_identity_free(vt_identity *id);

/* The 32-byte Ed25519 public key (IK), owned by |id| and valid until it is
 * freed. NULL for a NULL |id|. */
const uint8_t *vt_identity_public(const vt_identity *id);

/* The 32-byte X25519 public identity key (IKx.public, CRYPTO-14), owned by
 * |id| and valid until it is freed. NULL for a NULL |id|. */
const uint8_t *vt_identity_x25519_public(const vt_identity *id);

/* Signs |msg| (|len| bytes) with the identity key into |sig| (64 bytes).
 * AUTH-13: callers sign only transcripts built by the functions below.
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL), VT_ERR_CRYPTO (sig zeroed). */
VT_MUST_CHECK vt_err vt_identity_sign(const vt_identity *id, uint8_t sig[64],
                                      const uint8_t *msg, size_t len);

/* out = X25519(IKx.private, peer_x25519_pub) (CRYPTO-52, DH1/DH2). |out| is a
 * secret: the caller wipes it. Errors: VT_ERR_INVALID_ARGUMENT (NULL),
 * VT_ERR_CRYPTO (all-zero result, CRYPTO-2; out zeroed). */
VT_MUST_CHECK vt_err vt_identity_dh(const vt_identity *id, uint8_t out[32],
                                    const uint8_t peer_x25519_pub[32]);

/* Copies the 32-byte seed into |seed| so the client can store it; the caller
 * must wipe its copy. Errors: VT_ERR_INVALID_ARGUMENT (NULL). */
VT_MUST_CHECK vt_err vt_identity_seed(const vt_identity *id, uint8_t seed[32]);

/* ---- Transcripts (spec/auth.md AUTH-12; spec/crypto.md CRYPTO-21) ----
 *
 * Each function writes the exact transcript bytes into |out| (|cap| bytes
 * available) and sets |*out_len| to their count; |*out_len| is set only on
 * success. |username| is a NUL-terminated string whose bytes (without the
 * NUL) are taken as they are: length and character rules are the server's
 * business (spec/wire.md), only the u16 length prefix bounds it here. |nonce|
 * is taken with its given length (the server requires CHALLENGE_NONCE_LEN; a
 * transcript is built from whatever the request carried).
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL pointer; NULL nonce with a non-zero
 * length; a field longer than 65535 bytes, which lp() cannot encode),
 * VT_ERR_BUFFER_TOO_SMALL (|cap| below the transcript's length). */

/* Largest transcript for a username of up to MAX_USERNAME_LEN bytes and a
 * nonce of CHALLENGE_NONCE_LEN bytes (the longest, register, is 155). */
#define VT_TRANSCRIPT_MAX 256

/* label "ventra.v1/register" 00 lp(server_key) lp(nonce) lp(username)
 * lp(identity_key). */
VT_MUST_CHECK vt_err vt_transcript_register(uint8_t *out, size_t cap, size_t *out_len,
                                            const uint8_t server_key[32],
                                            const uint8_t *nonce, size_t nonce_len,
                                            const char *username,
                                            const uint8_t identity_key[32]);

/* label "ventra.v1/login" 00 lp(server_key) lp(nonce) lp(username)
 * u32be(device_id). */
VT_MUST_CHECK vt_err vt_transcript_login(uint8_t *out, size_t cap, size_t *out_len,
                                         const uint8_t server_key[32], const uint8_t *nonce,
                                         size_t nonce_len, const char *username,
                                         uint32_t device_id);

/* label "ventra.v1/link" 00 lp(server_key) lp(username)
 * u32be(approving_device_id) lp(new_identity_key). */
VT_MUST_CHECK vt_err vt_transcript_link(uint8_t *out, size_t cap, size_t *out_len,
                                        const uint8_t server_key[32], const char *username,
                                        uint32_t approving_device_id,
                                        const uint8_t new_identity_key[32]);

/* label "ventra.v1/delete-account" 00 lp(server_key) lp(nonce) lp(username)
 * u32be(device_id). */
VT_MUST_CHECK vt_err vt_transcript_delete_account(uint8_t *out, size_t cap, size_t *out_len,
                                                  const uint8_t server_key[32],
                                                  const uint8_t *nonce, size_t nonce_len,
                                                  const char *username, uint32_t device_id);

/* CRYPTO-21: label 00 u32be(prekey_id) lp(public_key), label
 * "ventra.v1/last-resort-prekey" when |last_resort|, else "ventra.v1/prekey"
 * (no server key: prekeys are end to end). */
VT_MUST_CHECK vt_err vt_transcript_prekey(uint8_t *out, size_t cap, size_t *out_len,
                                          bool last_resort, uint32_t prekey_id,
                                          const uint8_t public_key[32]);

#ifdef __cplusplus
}
#endif

#endif
