/* libventra prekeys: one-time, signed and last-resort X25519 prekeys, their
 * signatures, and the initiator's check of a fetched bundle.
 * Implements spec/crypto.md section 4 (CRYPTO-20, -21, -25, -27) and
 * section 5.1 (CRYPTO-45 to CRYPTO-48, CRYPTO-50). */
#ifndef VENTRA_PREKEYS_H
#define VENTRA_PREKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/crypto.h"
#include "ventra/err.h"
#include "ventra/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An X25519 prekey pair with its id. |priv| is a secret: whoever holds a
 * vt_prekey wipes it (vt_wipe(&k, sizeof k)) when done. */
typedef struct vt_prekey {
    uint32_t id;
    uint8_t pub[32];
    uint8_t priv[32];
} vt_prekey;

/* A signed prekey (last_resort false, label LABEL_PREKEY) or a last-resort
 * prekey (last_resort true, label LABEL_LAST_RESORT), with the identity
 * key's signature over its CRYPTO-21 transcript. Secret: wipe. */
typedef struct vt_signed_prekey {
    vt_prekey key;
    uint8_t signature[64];
    bool last_resort;
} vt_signed_prekey;

/* GENERATE_DH() with id |id| into |*out| (CRYPTO-25; also the key of a
 * signed or last-resort prekey). Errors: VT_ERR_INVALID_ARGUMENT (NULL out,
 * id 0, which never names a key), VT_ERR_CRYPTO; |*out| is zeroed on
 * error. */
VT_MUST_CHECK vt_err vt_prekey_generate(vt_prekey *out, uint32_t id);

/* Generates a prekey with id |prekey_id| and signs its CRYPTO-21 transcript
 * with |id| (label per |last_resort|) into |*out|. Errors:
 * VT_ERR_INVALID_ARGUMENT (NULL, prekey_id 0), VT_ERR_CRYPTO; |*out| zeroed
 * on error. */
VT_MUST_CHECK vt_err vt_signed_prekey_generate(vt_signed_prekey *out, const vt_identity *id,
                                               uint32_t prekey_id, bool last_resort);

/* Verifies |signature| over the CRYPTO-21 transcript of (|last_resort|,
 * |prekey_id|, |public_key|) under the Ed25519 key |identity_key|. Used by
 * vt_bundle_verify and by a server checking an upload (WIRE-300).
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL), VT_ERR_BAD_SIGNATURE (does not
 * verify, including an unacceptable identity key). */
VT_MUST_CHECK vt_err vt_prekey_signature_verify(const uint8_t identity_key[32],
                                                bool last_resort, uint32_t prekey_id,
                                                const uint8_t public_key[32],
                                                const uint8_t signature[64]);

/* A fetched PrekeyBundle reduced to fixed-size fields. The caller maps the
 * protobuf into it and rejects wrong lengths, an absent signed prekey and a
 * device id it did not ask for itself (CRYPTO-45), since fixed arrays cannot
 * carry those. */
typedef struct vt_bundle {
    uint8_t identity_key[32];
    uint32_t signed_prekey_id;
    uint8_t signed_prekey[32];
    uint8_t signed_prekey_sig[64];
    bool has_one_time;
    uint32_t one_time_id;
    uint8_t one_time[32];
    bool has_last_resort;
    uint32_t last_resort_id;
    uint8_t last_resort[32];
    uint8_t last_resort_sig[64];
} vt_bundle;

/* Checks |b| in the order of CRYPTO-50 (the recorded-key check CRYPTO-49 is
 * the caller's, after this returns VT_OK):
 *   1. form (CRYPTO-45): VT_ERR_INVALID_ARGUMENT when a present prekey has id
 *      0, or both a one-time and a last-resort prekey are present;
 *   2. identity key (CRYPTO-46): VT_ERR_CRYPTO unless it is a valid identity
 *      key (CRYPTO-13);
 *   3. signed prekey signature, label LABEL_PREKEY (CRYPTO-47):
 *      VT_ERR_BAD_SIGNATURE;
 *   4. last-resort signature when present, label LABEL_LAST_RESORT
 *      (CRYPTO-48): VT_ERR_BAD_SIGNATURE.
 * Also VT_ERR_INVALID_ARGUMENT for a NULL |b|. VT_OK when all pass. */
VT_MUST_CHECK vt_err vt_bundle_verify(const vt_bundle *b);

#ifdef __cplusplus
}
#endif

#endif
