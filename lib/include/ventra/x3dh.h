/* libventra X3DH: the initiator's key agreement from a prekey bundle and the
 * responder's processing of a PrekeyMessage, both ending in a Double Ratchet
 * session. Implements spec/crypto.md section 5 (CRYPTO-45 to CRYPTO-76). */
#ifndef VENTRA_X3DH_H
#define VENTRA_X3DH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/err.h"
#include "ventra/identity.h"
#include "ventra/prekeys.h"
#include "ventra/ratchet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The initiator's side (CRYPTO-50 to CRYPTO-57). Checks |bundle| with
 * vt_bundle_verify (CRYPTO-45 to CRYPTO-48; CRYPTO-49, the recorded identity
 * key, is the caller's, before this call), draws EK and then the first
 * ratchet key pair from |rng| (NULL: system, CRYPTO-56), computes DH1..DH3
 * and DH4 when the bundle has a one-time or else a last-resort prekey
 * (CRYPTO-53), SK (CRYPTO-54) and AD (CRYPTO-55), and returns the new
 * initiator session in *out (untouched on failure). The PrekeyMessage
 * fields to send are vt_ratchet_x3dh_fields(*out); the first message is
 * vt_ratchet_encrypt(*out, ...). EK.private and the DH values are wiped
 * before returning (CRYPTO-57).
 * Errors: VT_ERR_INVALID_ARGUMENT, VT_ERR_CRYPTO, VT_ERR_BAD_SIGNATURE (from
 * the bundle check), VT_ERR_CRYPTO (an all-zero DH, CRYPTO-2),
 * VT_ERR_NO_MEMORY, the rng's error. */
__attribute__((warn_unused_result)) vt_err vt_x3dh_initiate(vt_ratchet **out,
                                                            const vt_identity *self,
                                                            const vt_bundle *bundle,
                                                            const vt_rng *rng);

/* A decoded PrekeyMessage (schemas/ventra/v1/e2e.proto). |message| points
 * into the caller's buffer. */
typedef struct vt_prekey_message {
    const uint8_t *identity_key;
    size_t identity_key_len;
    const uint8_t *base_key;
    size_t base_key_len;
    uint32_t signed_prekey_id;
    uint32_t one_time_prekey_id;
    uint32_t last_resort_prekey_id;
    const uint8_t *message;
    size_t message_len;
} vt_prekey_message;

/* Steps 2 and 3 of CRYPTO-65: the form (CRYPTO-66,
 * VT_ERR_INVALID_ARGUMENT) and the identity key's validity (CRYPTO-67,
 * VT_ERR_CRYPTO). A caller runs this, then its own steps 4 (recorded
 * identity key, CRYPTO-68) and 5 (a session with this base key,
 * CRYPTO-122), then vt_x3dh_respond. */
__attribute__((warn_unused_result)) vt_err
vt_prekey_message_check(const vt_prekey_message *pm);

/* Encodes a PrekeyMessage (protobuf, e2e.proto) from an initiator session's
 * X3DH fields and a ratchet message into |out|; VT_ERR_BUFFER_TOO_SMALL,
 * VT_ERR_INVALID_ARGUMENT. Decoding: vt_prekey_message_decode fills |pm|
 * with pointers into |in| (which must outlive it); VT_ERR_INVALID_ARGUMENT
 * when it does not decode (CRYPTO-65 step 1). */
__attribute__((warn_unused_result)) vt_err
vt_prekey_message_encode(uint8_t *out, size_t cap, size_t *out_len,
                         const vt_x3dh_fields *x3dh, const uint8_t *message,
                         size_t message_len);
__attribute__((warn_unused_result)) vt_err
vt_prekey_message_decode(vt_prekey_message *pm, const uint8_t *in, size_t len);

/* The device's private keys, looked up by id for the responder (step 7).
 * Each lookup fills |out| (public and private key; the library wipes its
 * copy) and returns VT_OK, or VT_ERR_NOT_FOUND when it holds no private key
 * for |id| (CRYPTO-70), or another error which is passed on. Lookups must
 * not change anything: nothing is consumed until the caller commits.
 * |base_key_used| (optional, may be NULL) answers step 6: true when a
 * session was already committed with this base key (CRYPTO-76). */
typedef struct vt_x3dh_keys {
    void *ctx;
    const vt_identity *identity; /* the device's own identity */
    vt_err (*signed_prekey)(void *ctx, uint32_t id, vt_prekey *out);
    vt_err (*one_time_prekey)(void *ctx, uint32_t id, vt_prekey *out);
    vt_err (*last_resort_prekey)(void *ctx, uint32_t id, vt_prekey *out);
    bool (*base_key_used)(void *ctx, const uint8_t base_key[32]);
} vt_x3dh_keys;

/* What the caller must store atomically with the new session (CRYPTO-74)
 * once vt_x3dh_respond succeeds: delete one-time prekey
 * |consumed_one_time_id| if non-zero (CRYPTO-73; a last-resort prekey is
 * never consumed, CRYPTO-75), record |base_key| with |signed_prekey_id|
 * (CRYPTO-76), and record |identity_key| for the sender if none was. */
typedef struct vt_x3dh_commit {
    uint32_t consumed_one_time_id;
    uint32_t signed_prekey_id;
    uint8_t base_key[32];
    uint8_t identity_key[32];
} vt_x3dh_commit;

/* The responder's side, steps 2, 3 and 6 to 9 of CRYPTO-65: checks the
 * form and identity key, rejects a used base key (VT_ERR_DECRYPT), looks up
 * the named private keys (VT_ERR_NOT_FOUND), computes SK and AD, makes the
 * candidate session with RatchetInitBob and decrypts |pm->message| with it
 * at |now|, drawing the new ratchet key pair from |rng| (NULL: system).
 * Only when that decryption succeeds are *out (the committed candidate),
 * the plaintext (|pt|, |cap|, *pt_len as vt_ratchet_decrypt) and *commit
 * written; on any failure *out and *commit are untouched, no plaintext is
 * left in |pt| and nothing was reported consumed (CRYPTO-71, CRYPTO-72).
 * Errors: as vt_prekey_message_check, VT_ERR_DECRYPT, VT_ERR_NOT_FOUND, the
 * errors of vt_ratchet_decrypt and of the lookups, VT_ERR_NO_MEMORY. */
__attribute__((warn_unused_result)) vt_err
vt_x3dh_respond(vt_ratchet **out, vt_x3dh_commit *commit, uint8_t *pt, size_t cap,
                size_t *pt_len, const vt_prekey_message *pm, const vt_x3dh_keys *keys,
                uint64_t now, const vt_rng *rng);

/* X3DH's shared secret and AD without a session, for vectors and tests:
 * the initiator's (EK drawn from |rng|; |ek_public| receives EK.public) and
 * the responder's. |opk| is NULL when no one-time or last-resort prekey takes
 * part. Same errors as above. */
__attribute__((warn_unused_result)) vt_err
vt_x3dh_initiator_secret(uint8_t sk[32], uint8_t ad[VT_RATCHET_AD_LEN],
                         uint8_t ek_public[32], const vt_identity *self,
                         const uint8_t remote_ik[32], const uint8_t spk_public[32],
                         const uint8_t *opk_public, const vt_rng *rng);
__attribute__((warn_unused_result)) vt_err
vt_x3dh_responder_secret(uint8_t sk[32], uint8_t ad[VT_RATCHET_AD_LEN],
                         const vt_identity *self, const uint8_t remote_ik[32],
                         const uint8_t base_key[32], const vt_prekey *spk,
                         const vt_prekey *opk);

#ifdef __cplusplus
}
#endif

#endif
