/* X3DH: the initiator's key agreement from a verified bundle, the
 * responder's commit-after-verify processing of a PrekeyMessage, and the
 * PrekeyMessage codec. Implements spec/crypto.md section 5 (CRYPTO-45 to
 * CRYPTO-76); the ratchet it starts is section 6 (ratchet.c). */
#include "ventra/x3dh.h"

#include <string.h>

#include "ventra/crypto.h"
#include "vt_constants.h"
#include "varint_int.h"

static const uint8_t ZERO32[32];

/* SK = HKDF(ZERO32, FF32 || DH1 || DH2 || DH3 [|| DH4], LABEL_X3DH, 32)
 * (CRYPTO-54); |dh| holds ndh consecutive 32-byte values. */
static vt_err derive_sk(uint8_t sk[32], const uint8_t *dh, size_t ndh)
{
    uint8_t ikm[32 * 5];
    memset(ikm, 0xff, 32);
    memcpy(ikm + 32, dh, 32 * ndh);
    vt_err rc = vt_hkdf_sha256(sk, 32, ZERO32, sizeof ZERO32, ikm, 32 * (ndh + 1),
                               (const uint8_t *)VT_LABEL_X3DH, VT_LABEL_X3DH_LEN);
    vt_wipe(ikm, sizeof ikm);
    return rc;
}

/* AD = u8(PROTOCOL_VERSION) || IK_initiator || IK_responder (CRYPTO-55). */
static void make_ad(uint8_t ad[VT_RATCHET_AD_LEN], const uint8_t ik_init[32],
                    const uint8_t ik_resp[32])
{
    ad[0] = VT_PROTOCOL_VERSION;
    memcpy(ad + 1, ik_init, 32);
    memcpy(ad + 33, ik_resp, 32);
}

/* The initiator's computation; also returns EK.public. */
vt_err vt_x3dh_initiator_secret(uint8_t sk[32], uint8_t ad[VT_RATCHET_AD_LEN],
                                uint8_t ek_public[32], const vt_identity *self,
                                const uint8_t remote_ik[32], const uint8_t spk_public[32],
                                const uint8_t *opk_public, const vt_rng *rng)
{
    if (sk == NULL || ad == NULL || ek_public == NULL || self == NULL ||
        remote_ik == NULL || spk_public == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    uint8_t ikx_b[32], ek_priv[32], ek_pub[32], dh[4 * 32], out_sk[32];
    size_t ndh = opk_public != NULL ? 4 : 3;
    vt_err rc;
    /* CRYPTO-46 / CRYPTO-13, then the map of CRYPTO-14. */
    if (!vt_ed25519_public_valid(remote_ik)) {
        rc = VT_ERR_CRYPTO;
        goto out;
    }
    rc = vt_ed25519_pk_to_x25519(ikx_b, remote_ik);
    if (rc != VT_OK)
        goto out;
    /* CRYPTO-51: EK = GENERATE_DH(), the first draw (CRYPTO-56). */
    if (rng != NULL && rng->fn != NULL)
        rc = rng->fn(rng->ctx, ek_priv, sizeof ek_priv);
    else
        rc = vt_random_bytes(ek_priv, sizeof ek_priv);
    if (rc != VT_OK)
        goto out;
    rc = vt_x25519_public(ek_pub, ek_priv);
    if (rc != VT_OK)
        goto out;
    /* CRYPTO-52, initiator column. */
    rc = vt_identity_dh(self, dh, spk_public);
    if (rc == VT_OK)
        rc = vt_x25519(dh + 32, ek_priv, ikx_b);
    if (rc == VT_OK)
        rc = vt_x25519(dh + 64, ek_priv, spk_public);
    if (rc == VT_OK && opk_public != NULL) /* CRYPTO-53 */
        rc = vt_x25519(dh + 96, ek_priv, opk_public);
    if (rc != VT_OK)
        goto out;
    rc = derive_sk(out_sk, dh, ndh);
    if (rc != VT_OK)
        goto out;
    memcpy(sk, out_sk, 32);
    make_ad(ad, vt_identity_public(self), remote_ik);
    memcpy(ek_public, ek_pub, 32);
out:
    /* CRYPTO-57: EK.private and the DH values go at once. */
    vt_wipe(ek_priv, sizeof ek_priv);
    vt_wipe(dh, sizeof dh);
    vt_wipe(out_sk, sizeof out_sk);
    return rc;
}

vt_err vt_x3dh_responder_secret(uint8_t sk[32], uint8_t ad[VT_RATCHET_AD_LEN],
                                const vt_identity *self, const uint8_t remote_ik[32],
                                const uint8_t base_key[32], const vt_prekey *spk,
                                const vt_prekey *opk)
{
    if (sk == NULL || ad == NULL || self == NULL || remote_ik == NULL ||
        base_key == NULL || spk == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    uint8_t ikx_a[32], dh[4 * 32], out_sk[32];
    size_t ndh = opk != NULL ? 4 : 3;
    vt_err rc;
    if (!vt_ed25519_public_valid(remote_ik)) { /* CRYPTO-67 */
        rc = VT_ERR_CRYPTO;
        goto out;
    }
    rc = vt_ed25519_pk_to_x25519(ikx_a, remote_ik);
    if (rc != VT_OK)
        goto out;
    /* CRYPTO-52, responder column. */
    rc = vt_x25519(dh, spk->priv, ikx_a);
    if (rc == VT_OK)
        rc = vt_identity_dh(self, dh + 32, base_key);
    if (rc == VT_OK)
        rc = vt_x25519(dh + 64, spk->priv, base_key);
    if (rc == VT_OK && opk != NULL) /* CRYPTO-53 */
        rc = vt_x25519(dh + 96, opk->priv, base_key);
    if (rc != VT_OK)
        goto out;
    rc = derive_sk(out_sk, dh, ndh);
    if (rc != VT_OK)
        goto out;
    memcpy(sk, out_sk, 32);
    make_ad(ad, remote_ik, vt_identity_public(self));
out:
    vt_wipe(dh, sizeof dh);
    vt_wipe(out_sk, sizeof out_sk);
    return rc;
}

vt_err vt_x3dh_initiate(vt_ratchet **out, const vt_identity *self,
                        const vt_bundle *bundle, const vt_rng *rng)
{
    if (out == NULL || self == NULL || bundle == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    uint8_t sk[32], ad[VT_RATCHET_AD_LEN];
    vt_x3dh_fields f;
    memset(&f, 0, sizeof f);
    /* CRYPTO-50: the whole bundle passes CRYPTO-45..48 before any key of it
     * is used. */
    vt_err rc = vt_bundle_verify(bundle);
    if (rc != VT_OK)
        goto out;
    const uint8_t *opk = NULL;
    if (bundle->has_one_time) {
        opk = bundle->one_time;
        f.one_time_prekey_id = bundle->one_time_id;
    } else if (bundle->has_last_resort) {
        opk = bundle->last_resort;
        f.last_resort_prekey_id = bundle->last_resort_id;
    }
    rc = vt_x3dh_initiator_secret(sk, ad, f.base_key, self, bundle->identity_key,
                                  bundle->signed_prekey, opk, rng);
    if (rc != VT_OK)
        goto out;
    memcpy(f.identity_key, vt_identity_public(self), 32);
    f.signed_prekey_id = bundle->signed_prekey_id;
    /* CRYPTO-56: RatchetInitAlice(SK, SPK_B.public), the second draw. */
    rc = vt_ratchet_init_alice(out, sk, bundle->signed_prekey, ad, &f, rng);
out:
    vt_wipe(sk, sizeof sk);
    return rc;
}

vt_err vt_prekey_message_check(const vt_prekey_message *pm)
{
    if (pm == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* CRYPTO-66 */
    if (pm->identity_key == NULL || pm->identity_key_len != VT_KEY_LEN ||
        pm->base_key == NULL || pm->base_key_len != VT_KEY_LEN ||
        pm->signed_prekey_id == 0 ||
        (pm->one_time_prekey_id != 0 && pm->last_resort_prekey_id != 0) ||
        pm->message == NULL || pm->message_len < VT_RATCHET_HEADER_LEN + VT_AEAD_TAG_LEN)
        return VT_ERR_INVALID_ARGUMENT;
    /* CRYPTO-67 */
    if (!vt_ed25519_public_valid(pm->identity_key))
        return VT_ERR_CRYPTO;
    return VT_OK;
}

vt_err vt_x3dh_respond(vt_ratchet **out, vt_x3dh_commit *commit, uint8_t *pt, size_t cap,
                       size_t *pt_len, const vt_prekey_message *pm,
                       const vt_x3dh_keys *keys, uint64_t now, const vt_rng *rng)
{
    if (pt_len != NULL)
        *pt_len = 0;
    if (out == NULL || commit == NULL || pt_len == NULL || keys == NULL ||
        keys->identity == NULL || keys->signed_prekey == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    vt_prekey spk, opk;
    uint8_t sk[32], ad[VT_RATCHET_AD_LEN];
    vt_ratchet *cand = NULL;
    bool have_opk = false;
    memset(&spk, 0, sizeof spk);
    memset(&opk, 0, sizeof opk);
    /* Steps 2 and 3 (CRYPTO-66, CRYPTO-67). */
    vt_err rc = vt_prekey_message_check(pm);
    if (rc != VT_OK)
        goto out;
    /* Step 6: a replayed initial message (CRYPTO-76). */
    if (keys->base_key_used != NULL && keys->base_key_used(keys->ctx, pm->base_key)) {
        rc = VT_ERR_DECRYPT;
        goto out;
    }
    /* Step 7: the named private keys (CRYPTO-70). */
    rc = keys->signed_prekey(keys->ctx, pm->signed_prekey_id, &spk);
    if (rc != VT_OK)
        goto out;
    if (pm->one_time_prekey_id != 0) {
        rc = keys->one_time_prekey != NULL
                 ? keys->one_time_prekey(keys->ctx, pm->one_time_prekey_id, &opk)
                 : VT_ERR_NOT_FOUND;
        have_opk = true;
    } else if (pm->last_resort_prekey_id != 0) {
        rc = keys->last_resort_prekey != NULL
                 ? keys->last_resort_prekey(keys->ctx, pm->last_resort_prekey_id, &opk)
                 : VT_ERR_NOT_FOUND;
        have_opk = true;
    }
    if (rc != VT_OK)
        goto out;
    /* Step 8 (CRYPTO-52 to CRYPTO-55). */
    rc = vt_x3dh_responder_secret(sk, ad, keys->identity, pm->identity_key, pm->base_key,
                                  &spk, have_opk ? &opk : NULL);
    if (rc != VT_OK)
        goto out;
    /* Step 9: the candidate, decrypted in memory only (CRYPTO-71). */
    rc = vt_ratchet_init_bob(&cand, sk, spk.pub, spk.priv, ad, pm->base_key);
    if (rc != VT_OK)
        goto out;
    rc =
        vt_ratchet_decrypt(cand, pt, cap, pt_len, pm->message, pm->message_len, now, rng);
    if (rc != VT_OK)
        goto out;
    /* Step 10 is the caller's atomic store of what *commit lists. */
    memset(commit, 0, sizeof *commit);
    commit->consumed_one_time_id = pm->one_time_prekey_id; /* CRYPTO-73, 75 */
    commit->signed_prekey_id = pm->signed_prekey_id;
    memcpy(commit->base_key, pm->base_key, 32);
    memcpy(commit->identity_key, pm->identity_key, 32);
    *out = cand;
    cand = NULL;
out:
    vt_ratchet_free(cand);
    vt_wipe(&spk, sizeof spk);
    vt_wipe(&opk, sizeof opk);
    vt_wipe(sk, sizeof sk);
    return rc;
}

/* ---- PrekeyMessage codec (proto3 wire format, e2e.proto) ---- */

vt_err vt_prekey_message_encode(uint8_t *out, size_t cap, size_t *out_len,
                                const vt_x3dh_fields *x3dh, const uint8_t *message,
                                size_t message_len)
{
    if (out_len != NULL)
        *out_len = 0;
    if (out == NULL || out_len == NULL || x3dh == NULL ||
        (message == NULL && message_len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    /* Fields in number order; proto3 omits zero ids and empty bytes. */
    uint32_t ids[3] = {x3dh->signed_prekey_id, x3dh->one_time_prekey_id,
                       x3dh->last_resort_prekey_id};
    size_t need = 2 * (2 + 32);
    for (int i = 0; i < 3; i++)
        if (ids[i] != 0)
            need += 1 + vt_varint_len(ids[i]);
    if (message_len > 0)
        need += 1 + vt_varint_len(message_len) + message_len;
    if (cap < need)
        return VT_ERR_BUFFER_TOO_SMALL;
    uint8_t *p = out;
    *p++ = 0x0a; /* 1: identity_key */
    *p++ = 32;
    memcpy(p, x3dh->identity_key, 32);
    p += 32;
    *p++ = 0x12; /* 2: base_key */
    *p++ = 32;
    memcpy(p, x3dh->base_key, 32);
    p += 32;
    for (int i = 0; i < 3; i++) {
        if (ids[i] != 0) {
            *p++ = (uint8_t)((3 + i) << 3); /* 3..5, varint */
            p = vt_varint_put(p, ids[i]);
        }
    }
    if (message_len > 0) {
        *p++ = 0x32; /* 6: message */
        p = vt_varint_put(p, message_len);
        memcpy(p, message, message_len);
        p += message_len;
    }
    *out_len = (size_t)(p - out);
    return VT_OK;
}

vt_err vt_prekey_message_decode(vt_prekey_message *pm, const uint8_t *in, size_t len)
{
    if (pm == NULL || (in == NULL && len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    vt_prekey_message m;
    memset(&m, 0, sizeof m);
    const uint8_t *p = in, *end = in + len;
    while (p < end) {
        uint64_t key, v = 0;
        if (!vt_varint_get(&p, end, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX >> 3)
            return VT_ERR_INVALID_ARGUMENT;
        uint32_t field = (uint32_t)(key >> 3), wt = (uint32_t)(key & 7);
        const uint8_t *bytes = NULL;
        size_t blen = 0;
        switch (wt) {
        case 0:
            if (!vt_varint_get(&p, end, &v))
                return VT_ERR_INVALID_ARGUMENT;
            break;
        case 1:
        case 5: {
            size_t w = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < w)
                return VT_ERR_INVALID_ARGUMENT;
            p += w;
            break;
        }
        case 2:
            if (!vt_varint_get(&p, end, &v) || v > (uint64_t)(end - p))
                return VT_ERR_INVALID_ARGUMENT;
            bytes = p;
            blen = (size_t)v;
            p += blen;
            break;
        default: /* groups (3, 4) and reserved types do not decode */
            return VT_ERR_INVALID_ARGUMENT;
        }
        /* A known field with the wrong wire type does not decode; unknown
         * fields are skipped (proto3); the last occurrence wins. */
        switch (field) {
        case 1:
        case 2:
        case 6:
            if (wt != 2)
                return VT_ERR_INVALID_ARGUMENT;
            if (field == 1) {
                m.identity_key = bytes;
                m.identity_key_len = blen;
            } else if (field == 2) {
                m.base_key = bytes;
                m.base_key_len = blen;
            } else {
                m.message = bytes;
                m.message_len = blen;
            }
            break;
        case 3:
        case 4:
        case 5:
            if (wt != 0)
                return VT_ERR_INVALID_ARGUMENT;
            if (field == 3)
                m.signed_prekey_id = (uint32_t)v;
            else if (field == 4)
                m.one_time_prekey_id = (uint32_t)v;
            else
                m.last_resort_prekey_id = (uint32_t)v;
            break;
        default:
            break;
        }
    }
    *pm = m;
    return VT_OK;
}
