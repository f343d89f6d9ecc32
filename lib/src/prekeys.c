/* libventra prekeys: generation and signing of one-time, signed and
 * last-resort prekeys, and the initiator's check of a fetched bundle
 * (spec/crypto.md sections 4 and 5.1). */
#include "ventra/prekeys.h"

#include <string.h>

#include "vt_constants.h"

vt_err vt_prekey_generate(vt_prekey *out, uint32_t id)
{
    if (out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    /* Id 0 means "none" in a PrekeyMessage (spec/crypto.md section 4). */
    if (id == 0)
        return VT_ERR_INVALID_ARGUMENT;
    vt_err err = vt_x25519_keypair(out->pub, out->priv); /* CRYPTO-25 */
    if (err != VT_OK) {
        vt_wipe(out, sizeof(*out));
        return err;
    }
    out->id = id;
    return VT_OK;
}

vt_err vt_signed_prekey_generate(vt_signed_prekey *out, const vt_identity *id,
                                 uint32_t prekey_id, bool last_resort)
{
    uint8_t transcript[VT_TRANSCRIPT_MAX];
    size_t len = 0;
    vt_err err;

    if (out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    if (id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vt_prekey_generate(&out->key, prekey_id); /* CRYPTO-20, CRYPTO-27 */
    if (err != VT_OK)
        goto out;
    /* spec/crypto.md CRYPTO-21 */
    err = vt_transcript_prekey(transcript, sizeof(transcript), &len, last_resort,
                               prekey_id, out->key.pub);
    if (err != VT_OK)
        goto out;
    err = vt_identity_sign(id, out->signature, transcript, len);
    if (err != VT_OK)
        goto out;
    out->last_resort = last_resort;
out:
    if (err != VT_OK)
        vt_wipe(out, sizeof(*out));
    return err;
}

vt_err vt_prekey_signature_verify(const uint8_t identity_key[32], bool last_resort,
                                  uint32_t prekey_id, const uint8_t public_key[32],
                                  const uint8_t signature[64])
{
    uint8_t transcript[VT_TRANSCRIPT_MAX];
    size_t len = 0;

    if (identity_key == NULL || public_key == NULL || signature == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    vt_err err = vt_transcript_prekey(transcript, sizeof(transcript), &len, last_resort,
                                      prekey_id, public_key);
    if (err != VT_OK)
        return err;
    /* Strict verification (CRYPTO-5); any failure is a bad signature. */
    return vt_ed25519_verify(signature, transcript, len, identity_key) == VT_OK
               ? VT_OK
               : VT_ERR_BAD_SIGNATURE;
}

vt_err vt_bundle_verify(const vt_bundle *b)
{
    if (b == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* The checks run in the order CRYPTO-50 fixes, so every implementation
     * reports the same error for the same bundle. */
    if (b->signed_prekey_id == 0 || (b->has_one_time && b->one_time_id == 0) ||
        (b->has_last_resort && b->last_resort_id == 0) ||
        (b->has_one_time && b->has_last_resort))
        return VT_ERR_INVALID_ARGUMENT; /* CRYPTO-45 */
    if (!vt_ed25519_public_valid(b->identity_key))
        return VT_ERR_CRYPTO; /* CRYPTO-46 */
    vt_err err = vt_prekey_signature_verify(b->identity_key, false, b->signed_prekey_id,
                                            b->signed_prekey, b->signed_prekey_sig);
    if (err != VT_OK)
        return err; /* CRYPTO-47 */
    if (b->has_last_resort)
        return vt_prekey_signature_verify(b->identity_key, true, b->last_resort_id,
                                          b->last_resort, b->last_resort_sig); /* CRYPTO-48 */
    return VT_OK;
}

void vt_prekey_ring_init(vt_prekey_ring *ring, bool last_resort)
{
    memset(ring, 0, sizeof(*ring));
    ring->last_resort = last_resort;
}

bool vt_prekey_ring_rotation_due(const vt_prekey_ring *ring, uint64_t now)
{
    /* spec/crypto.md CRYPTO-22 */
    return !ring->has_current || now < ring->current_since ||
           now - ring->current_since >= VT_SIGNED_PREKEY_ROTATION_S;
}

vt_err vt_prekey_ring_rotate(vt_prekey_ring *ring, const vt_identity *id, uint32_t new_id,
                             uint64_t now)
{
    vt_signed_prekey fresh;

    if (ring == NULL || id == NULL || new_id == 0 || vt_prekey_ring_find(ring, new_id))
        return VT_ERR_INVALID_ARGUMENT; /* CRYPTO-20, CRYPTO-27 */
    /* A replaced key may only go once its grace period is over (CRYPTO-23):
     * with no room left, refuse rather than drop one early. */
    if (ring->has_current && ring->old_count == VT_PREKEY_RING_MAX)
        return VT_ERR_LIMIT_EXCEEDED;
    vt_err err = vt_signed_prekey_generate(&fresh, id, new_id, ring->last_resort);
    if (err != VT_OK)
        return err;
    if (ring->has_current) {
        vt_prekey_ring_entry *e = &ring->old[ring->old_count++];
        e->key = ring->current;
        e->replaced_at = 0;
    }
    ring->current = fresh;
    ring->current_since = now;
    ring->has_current = true;
    vt_wipe(&fresh, sizeof(fresh));
    return VT_OK;
}

void vt_prekey_ring_mark_uploaded(vt_prekey_ring *ring, uint64_t now)
{
    for (size_t i = 0; i < ring->old_count; i++) {
        if (ring->old[i].replaced_at == 0)
            ring->old[i].replaced_at = now;
    }
}

const vt_signed_prekey *vt_prekey_ring_find(const vt_prekey_ring *ring, uint32_t prekey_id)
{
    if (ring->has_current && ring->current.key.id == prekey_id)
        return &ring->current;
    for (size_t i = 0; i < ring->old_count; i++) {
        if (ring->old[i].key.key.id == prekey_id)
            return &ring->old[i].key;
    }
    return NULL;
}

size_t vt_prekey_ring_expire(vt_prekey_ring *ring, uint64_t now, uint64_t queue_drained_at)
{
    size_t kept = 0, deleted = 0;

    for (size_t i = 0; i < ring->old_count; i++) {
        vt_prekey_ring_entry *e = &ring->old[i];
        uint64_t grace_end = e->replaced_at + VT_SIGNED_PREKEY_GRACE_S;
        /* spec/crypto.md CRYPTO-23, CRYPTO-24: past the grace period, and a
         * drained queue since, so no message made from it can still wait. */
        if (e->replaced_at != 0 && now >= grace_end && queue_drained_at >= grace_end) {
            deleted++;
            continue;
        }
        if (kept != i)
            ring->old[kept] = *e;
        kept++;
    }
    /* Wipe the slots the survivors moved out of and the deleted keys. */
    for (size_t i = kept; i < ring->old_count; i++)
        vt_wipe(&ring->old[i], sizeof(ring->old[i]));
    ring->old_count = kept;
    return deleted;
}

void vt_prekey_ring_clear(vt_prekey_ring *ring)
{
    if (ring != NULL)
        vt_wipe(ring, sizeof(*ring));
}
