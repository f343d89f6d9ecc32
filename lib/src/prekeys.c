/* libventra prekeys: generation and signing of one-time, signed and
 * last-resort prekeys, and the initiator's check of a fetched bundle
 * (spec/crypto.md sections 4 and 5.1). */
#include "ventra/prekeys.h"

#include <string.h>

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
