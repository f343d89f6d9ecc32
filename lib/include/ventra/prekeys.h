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

/* The signed (or last-resort) prekeys a device holds: the current one and
 * the ones it replaced, kept through the grace period so PrekeyMessages made
 * from older bundles still decrypt (spec/crypto.md CRYPTO-20, CRYPTO-22 to
 * CRYPTO-24, CRYPTO-27, CRYPTO-30). Plain data the client stores (wiped by
 * vt_prekey_ring_clear); one ring per kind (signed, last-resort). */
#define VT_PREKEY_RING_MAX 4

typedef struct vt_prekey_ring_entry {
    vt_signed_prekey key;
    uint64_t replaced_at; /* when the upload replacing it succeeded; 0: not yet */
} vt_prekey_ring_entry;

typedef struct vt_prekey_ring {
    bool last_resort;         /* which kind of prekey the ring holds */
    bool has_current;
    vt_signed_prekey current;
    uint64_t current_since;   /* when |current| was made (Unix seconds) */
    size_t old_count;
    vt_prekey_ring_entry old[VT_PREKEY_RING_MAX];
} vt_prekey_ring;

/* An empty ring for signed (|last_resort| false) or last-resort prekeys. */
void vt_prekey_ring_init(vt_prekey_ring *ring, bool last_resort);

/* True when the ring has no current key or it is SIGNED_PREKEY_ROTATION_S
 * old at |now| (CRYPTO-22). */
bool vt_prekey_ring_rotation_due(const vt_prekey_ring *ring, uint64_t now);

/* Makes a new current key with id |new_id| signed by |id|; the previous one
 * is kept as replaced, its grace period starting when
 * vt_prekey_ring_mark_uploaded() reports the new key's upload (CRYPTO-23).
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL, id 0, or an id the ring still
 * holds: CRYPTO-20, CRYPTO-27), VT_ERR_LIMIT_EXCEEDED (VT_PREKEY_RING_MAX
 * replaced keys are still in their grace period), and those of
 * vt_signed_prekey_generate. On error the ring is unchanged. */
VT_MUST_CHECK vt_err vt_prekey_ring_rotate(vt_prekey_ring *ring, const vt_identity *id,
                                           uint32_t new_id, uint64_t now);

/* Records that the upload of the current key succeeded at |now|: the grace
 * period of every replaced key still waiting for it starts. */
void vt_prekey_ring_mark_uploaded(vt_prekey_ring *ring, uint64_t now);

/* The key with id |prekey_id|, current or replaced, or NULL. The responder
 * looks keys up here when it processes a PrekeyMessage. */
const vt_signed_prekey *vt_prekey_ring_find(const vt_prekey_ring *ring, uint32_t prekey_id);

/* Deletes (wipes) the replaced keys whose grace period has passed at |now|,
 * provided the device's queue has been drained since it passed
 * (|queue_drained_at| >= replaced_at + SIGNED_PREKEY_GRACE_S; CRYPTO-24).
 * Returns how many were deleted. */
size_t vt_prekey_ring_expire(vt_prekey_ring *ring, uint64_t now, uint64_t queue_drained_at);

/* Wipes every key of the ring. */
void vt_prekey_ring_clear(vt_prekey_ring *ring);

#ifdef __cplusplus
}
#endif

#endif
