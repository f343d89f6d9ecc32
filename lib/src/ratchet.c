/* The Double Ratchet: key derivation, initialization, encryption and
 * commit-after-verify decryption with skipped message keys.
 * Implements spec/crypto.md section 6 (CRYPTO-80 to CRYPTO-104). */
#include "ventra/ratchet.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ratchet_int.h"
#include "ventra/crypto.h"
#include "vt_constants.h"

#define HEADER_LEN VT_RATCHET_HEADER_LEN
#define TAG_LEN VT_AEAD_TAG_LEN
#define AAD_LEN (VT_RATCHET_AD_LEN + HEADER_LEN)

_Static_assert(HEADER_LEN == 41, "CRYPTO-86 header is 41 bytes");
_Static_assert(HEADER_LEN + TAG_LEN == VT_RATCHET_OVERHEAD, "CRYPTO-87 overhead");
_Static_assert(2 * VT_MAX_SKIP <= VT_MAX_SKIPPED_KEYS, "one message always fits (11.6)");

static const uint8_t ZERO32[32];

vt_err vt_rng_system(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    return vt_random_bytes(out, len);
}

static vt_err draw(const vt_rng *rng, uint8_t *out, size_t len)
{
    if (rng != NULL && rng->fn != NULL)
        return rng->fn(rng->ctx, out, len);
    return vt_random_bytes(out, len);
}

/* GENERATE_DH (CRYPTO-3): 32 drawn bytes, stored as drawn; the public key
 * is X25519(private, 9). */
static vt_err generate_dh(const vt_rng *rng, uint8_t pub[32], uint8_t priv[32])
{
    vt_err rc = draw(rng, priv, 32);
    if (rc == VT_OK)
        rc = vt_x25519_public(pub, priv);
    if (rc != VT_OK) {
        vt_wipe(priv, 32);
        vt_wipe(pub, 32);
    }
    return rc;
}

/* KDF_RK (CRYPTO-80): new root key and chain key from rk and a DH output. */
static vt_err kdf_rk(uint8_t rk[32], uint8_t ck[32], const uint8_t dh_out[32])
{
    uint8_t okm[64];
    vt_err rc =
        vt_hkdf_sha256(okm, sizeof okm, rk, 32, dh_out, 32,
                       (const uint8_t *)VT_LABEL_RATCHET_ROOT, VT_LABEL_RATCHET_ROOT_LEN);
    if (rc == VT_OK) {
        memcpy(rk, okm, 32);
        memcpy(ck, okm + 32, 32);
    }
    vt_wipe(okm, sizeof okm);
    return rc;
}

/* KDF_CK (CRYPTO-81): MK = HMAC(ck, 01), CK' = HMAC(ck, 02); ck is
 * replaced by CK'. */
static vt_err kdf_ck(uint8_t ck[32], uint8_t mk[32])
{
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t next[32];
    vt_err rc = vt_hmac_sha256(mk, ck, 32, &one, 1);
    if (rc == VT_OK)
        rc = vt_hmac_sha256(next, ck, 32, &two, 1);
    if (rc == VT_OK)
        memcpy(ck, next, 32);
    else
        vt_wipe(mk, 32);
    vt_wipe(next, sizeof next);
    return rc;
}

/* EXPAND (CRYPTO-82): AES key = OKM[0..32], nonce = OKM[32..44]. */
static vt_err expand(const uint8_t mk[32], uint8_t key[32], uint8_t nonce[12])
{
    uint8_t okm[44];
    vt_err rc =
        vt_hkdf_sha256(okm, sizeof okm, ZERO32, sizeof ZERO32, mk, 32,
                       (const uint8_t *)VT_LABEL_MESSAGE_KEYS, VT_LABEL_MESSAGE_KEYS_LEN);
    if (rc == VT_OK) {
        memcpy(key, okm, 32);
        memcpy(nonce, okm + 32, 12);
    }
    vt_wipe(okm, sizeof okm);
    return rc;
}

static void put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* CRYPTO-102: a skipped key is unusable from stored_at + TTL on. The sum
 * saturates instead of wrapping. */
static bool expired(const vt_ratchet_skipped *e, uint64_t now)
{
    if (e->stored_at > UINT64_MAX - VT_SKIPPED_KEY_TTL_S)
        return false;
    return now >= e->stored_at + VT_SKIPPED_KEY_TTL_S;
}

vt_ratchet *vt_ratchet_alloc_int(void)
{
    if (vt_crypto_init() != VT_OK)
        return NULL;
    vt_ratchet *r = sodium_malloc(sizeof *r);
    if (r != NULL)
        memset(r, 0, sizeof *r);
    return r;
}

vt_err vt_ratchet_reserve_int(vt_ratchet *r, size_t want)
{
    if (want > VT_MAX_SKIPPED_KEYS)
        want = VT_MAX_SKIPPED_KEYS;
    if (want <= r->sk_cap)
        return VT_OK;
    size_t cap = r->sk_cap ? r->sk_cap : 16;
    while (cap < want)
        cap *= 4;
    if (cap > VT_MAX_SKIPPED_KEYS)
        cap = VT_MAX_SKIPPED_KEYS;
    vt_ratchet_skipped *n = sodium_allocarray(cap, sizeof *n);
    if (n == NULL)
        return VT_ERR_NO_MEMORY;
    memset(n, 0, cap * sizeof *n);
    if (r->sk_len > 0)
        memcpy(n, r->sk, r->sk_len * sizeof *n);
    sodium_free(r->sk); /* sodium_free wipes */
    r->sk = n;
    r->sk_cap = cap;
    return VT_OK;
}

void vt_ratchet_free(vt_ratchet *r)
{
    if (r == NULL)
        return;
    sodium_free(r->sk); /* zeroes before unmapping; NULL ok */
    sodium_free(r);
}

vt_err vt_ratchet_clone(vt_ratchet **out, const vt_ratchet *r)
{
    if (out == NULL || r == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    vt_ratchet *n = vt_ratchet_alloc_int();
    if (n == NULL)
        return VT_ERR_NO_MEMORY;
    n->c = r->c;
    if (vt_ratchet_reserve_int(n, r->sk_len) != VT_OK) {
        vt_ratchet_free(n);
        return VT_ERR_NO_MEMORY;
    }
    if (r->sk_len > 0)
        memcpy(n->sk, r->sk, r->sk_len * sizeof *r->sk);
    n->sk_len = r->sk_len;
    *out = n;
    return VT_OK;
}

vt_err vt_ratchet_init_alice(vt_ratchet **out, const uint8_t sk[32],
                             const uint8_t spk_public[32],
                             const uint8_t ad[VT_RATCHET_AD_LEN],
                             const vt_x3dh_fields *x3dh, const vt_rng *rng)
{
    if (out == NULL || sk == NULL || spk_public == NULL || ad == NULL || x3dh == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (ad[0] != VT_PROTOCOL_VERSION)
        return VT_ERR_INVALID_ARGUMENT;
    vt_err rc;
    uint8_t dh_out[32];
    vt_ratchet *r = vt_ratchet_alloc_int();
    if (r == NULL)
        return VT_ERR_NO_MEMORY;
    vt_ratchet_core *c = &r->c;
    c->role = VT_RATCHET_INITIATOR;
    c->confirmed = 0;
    memcpy(c->ad, ad, VT_RATCHET_AD_LEN);
    memcpy(c->base_key, x3dh->base_key, 32);
    c->spk_id = x3dh->signed_prekey_id;
    c->otk_id = x3dh->one_time_prekey_id;
    c->lr_id = x3dh->last_resort_prekey_id;
    /* CRYPTO-84: DHs fresh (the second draw of CRYPTO-56), DHr = SPK_B. */
    rc = generate_dh(rng, c->dhs_pub, c->dhs_priv);
    if (rc != VT_OK)
        goto out;
    memcpy(c->dhr, spk_public, 32);
    c->has_dhr = 1;
    rc = vt_x25519(dh_out, c->dhs_priv, c->dhr);
    if (rc != VT_OK)
        goto out;
    memcpy(c->rk, sk, 32);
    rc = kdf_rk(c->rk, c->cks, dh_out);
    if (rc != VT_OK)
        goto out;
    c->has_cks = 1;
out:
    vt_wipe(dh_out, sizeof dh_out);
    if (rc != VT_OK)
        vt_ratchet_free(r);
    else
        *out = r;
    return rc;
}

vt_err vt_ratchet_init_bob(vt_ratchet **out, const uint8_t sk[32],
                           const uint8_t spk_public[32], const uint8_t spk_private[32],
                           const uint8_t ad[VT_RATCHET_AD_LEN],
                           const uint8_t base_key[32])
{
    if (out == NULL || sk == NULL || spk_public == NULL || spk_private == NULL ||
        ad == NULL || base_key == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (ad[0] != VT_PROTOCOL_VERSION)
        return VT_ERR_INVALID_ARGUMENT;
    vt_ratchet *r = vt_ratchet_alloc_int();
    if (r == NULL)
        return VT_ERR_NO_MEMORY;
    /* CRYPTO-85: DHs = SPK_B, RK = SK, everything else unset or zero. */
    r->c.role = VT_RATCHET_RESPONDER;
    r->c.confirmed = 1;
    memcpy(r->c.ad, ad, VT_RATCHET_AD_LEN);
    memcpy(r->c.base_key, base_key, 32);
    memcpy(r->c.dhs_pub, spk_public, 32);
    memcpy(r->c.dhs_priv, spk_private, 32);
    memcpy(r->c.rk, sk, 32);
    *out = r;
    return VT_OK;
}

vt_err vt_ratchet_encrypt(vt_ratchet *r, uint8_t *out, size_t cap, size_t *out_len,
                          const uint8_t *pt, size_t pt_len)
{
    if (out_len != NULL)
        *out_len = 0;
    if (r == NULL || out == NULL || out_len == NULL || (pt == NULL && pt_len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    /* CRYPTO-89 / CRYPTO-92, in this order. */
    if (!r->c.has_cks)
        return VT_ERR_STATE;
    if (r->c.ns == UINT32_MAX)
        return VT_ERR_LIMIT_EXCEEDED;
    if (pt_len > SIZE_MAX - VT_RATCHET_OVERHEAD || cap < pt_len + VT_RATCHET_OVERHEAD)
        return VT_ERR_BUFFER_TOO_SMALL;

    uint8_t ck[32], mk[32], key[32], nonce[12], aad[AAD_LEN];
    vt_err rc;
    memcpy(ck, r->c.cks, 32);
    rc = kdf_ck(ck, mk);
    if (rc != VT_OK)
        goto out;
    uint8_t *header = aad + VT_RATCHET_AD_LEN;
    header[0] = VT_PROTOCOL_VERSION;
    memcpy(header + 1, r->c.dhs_pub, 32);
    put_u32be(header + 33, r->c.pn);
    put_u32be(header + 37, r->c.ns);
    memcpy(aad, r->c.ad, VT_RATCHET_AD_LEN); /* CRYPTO-88: AD || header */
    rc = expand(mk, key, nonce);
    if (rc != VT_OK)
        goto out;
    rc = vt_aes256gcm_encrypt(out + HEADER_LEN, pt, pt_len, aad, sizeof aad, key, nonce);
    if (rc != VT_OK)
        goto out;
    memcpy(out, header, HEADER_LEN);
    /* Commit: the message key is gone once the chain advances (CRYPTO-83). */
    memcpy(r->c.cks, ck, 32);
    r->c.ns++;
    *out_len = pt_len + VT_RATCHET_OVERHEAD;
out:
    if (rc != VT_OK)
        vt_wipe(out,
                cap < pt_len + VT_RATCHET_OVERHEAD ? cap : pt_len + VT_RATCHET_OVERHEAD);
    vt_wipe(ck, sizeof ck);
    vt_wipe(mk, sizeof mk);
    vt_wipe(key, sizeof key);
    vt_wipe(nonce, sizeof nonce);
    return rc;
}

/* SKIP (section 6.7) on the scratch core: the keys go to |pend|, appended
 * to MKSKIPPED only at commit. Callers have checked MAX_SKIP. */
static vt_err skip(vt_ratchet_core *s, uint32_t until, vt_ratchet_skipped *pend,
                   size_t *npend, uint64_t now)
{
    while (s->nr < until) {
        vt_ratchet_skipped *e = &pend[*npend];
        vt_err rc = kdf_ck(s->ckr, e->mk);
        if (rc != VT_OK)
            return rc;
        memcpy(e->dh, s->dhr, 32);
        e->n = s->nr;
        e->stored_at = now;
        (*npend)++;
        s->nr++;
    }
    return VT_OK;
}

/* DH_RATCHET (CRYPTO-104) on the scratch core. */
static vt_err dh_ratchet(vt_ratchet_core *s, const uint8_t dh[32], const vt_rng *rng)
{
    uint8_t dh_out[32];
    vt_err rc;
    s->pn = s->ns;
    s->ns = 0;
    s->nr = 0;
    memcpy(s->dhr, dh, 32);
    s->has_dhr = 1;
    rc = vt_x25519(dh_out, s->dhs_priv, s->dhr); /* CRYPTO-2 */
    if (rc != VT_OK)
        goto out;
    rc = kdf_rk(s->rk, s->ckr, dh_out);
    if (rc != VT_OK)
        goto out;
    s->has_ckr = 1;
    rc = generate_dh(rng, s->dhs_pub, s->dhs_priv); /* the one random draw */
    if (rc != VT_OK)
        goto out;
    rc = vt_x25519(dh_out, s->dhs_priv, s->dhr);
    if (rc != VT_OK)
        goto out;
    rc = kdf_rk(s->rk, s->cks, dh_out);
    if (rc != VT_OK)
        goto out;
    s->has_cks = 1;
out:
    vt_wipe(dh_out, sizeof dh_out);
    return rc;
}

/* COMMIT (section 6.7): write the scratch core back, drop the used entry,
 * the expired ones (CRYPTO-102), append the new ones (CRYPTO-101) and evict
 * the oldest beyond MAX_SKIPPED_KEYS (CRYPTO-103). Capacity was reserved
 * before the tag check, so this cannot fail. */
static void commit(vt_ratchet *r, const vt_ratchet_core *s, size_t used, bool have_used,
                   vt_ratchet_skipped *pend, size_t npend, uint64_t now)
{
    size_t len = r->sk_len, w = 0;
    r->c = *s;
    for (size_t i = 0; i < len; i++) {
        if ((have_used && i == used) || expired(&r->sk[i], now))
            continue;
        if (w != i)
            r->sk[w] = r->sk[i];
        w++;
    }
    /* Pending entries are stored at now and so never expired here. */
    size_t total = w + npend, drop_old = 0, drop_new = 0;
    if (total > VT_MAX_SKIPPED_KEYS) {
        size_t k = total - VT_MAX_SKIPPED_KEYS;
        drop_old = k < w ? k : w;
        drop_new = k - drop_old;
    }
    if (drop_old > 0)
        memmove(r->sk, r->sk + drop_old, (w - drop_old) * sizeof *r->sk);
    w -= drop_old;
    if (npend > drop_new)
        memcpy(r->sk + w, pend + drop_new, (npend - drop_new) * sizeof *pend);
    w += npend - drop_new;
    if (w < len)
        vt_wipe(r->sk + w, (len - w) * sizeof *r->sk);
    r->sk_len = w;
}

static bool find_skipped(const vt_ratchet *r, const uint8_t dh[32], uint32_t n,
                         size_t *idx)
{
    for (size_t i = 0; i < r->sk_len; i++) {
        if (r->sk[i].n == n && vt_equal(r->sk[i].dh, dh, 32)) {
            *idx = i;
            return true;
        }
    }
    return false;
}

vt_err vt_ratchet_decrypt(vt_ratchet *r, uint8_t *pt, size_t cap, size_t *pt_len,
                          const uint8_t *msg, size_t msg_len, uint64_t now,
                          const vt_rng *rng)
{
    if (pt_len != NULL)
        *pt_len = 0;
    if (r == NULL || pt_len == NULL || msg == NULL || (pt == NULL && cap > 0))
        return VT_ERR_INVALID_ARGUMENT;
    /* CRYPTO-94, CRYPTO-95, CRYPTO-96, in the order of CRYPTO-90. */
    if (msg_len < HEADER_LEN + TAG_LEN)
        return VT_ERR_INVALID_ARGUMENT;
    const uint8_t *header = msg;
    if (header[0] != VT_PROTOCOL_VERSION)
        return VT_ERR_INVALID_ARGUMENT;
    const uint8_t *dh = header + 1;
    uint32_t pn = get_u32be(header + 33);
    uint32_t n = get_u32be(header + 37);
    if (n == UINT32_MAX)
        return VT_ERR_INVALID_ARGUMENT;
    size_t body_len = msg_len - HEADER_LEN;
    size_t out_len = body_len - TAG_LEN;
    if (cap < out_len || (pt == NULL && out_len > 0))
        return VT_ERR_BUFFER_TOO_SMALL;

    vt_err rc;
    vt_ratchet_core s = r->c; /* the scratch copy */
    vt_ratchet_skipped *pend = NULL;
    size_t npend = 0, pend_cap = 0, idx = 0;
    uint8_t mk[32], key[32], nonce[12], aad[AAD_LEN];
    uint8_t dummy[1];
    uint8_t *dst = pt != NULL ? pt : dummy;
    memcpy(aad, s.ad, VT_RATCHET_AD_LEN);
    memcpy(aad + VT_RATCHET_AD_LEN, header, HEADER_LEN);

    /* 1. A stored skipped key that has not expired. */
    if (find_skipped(r, dh, n, &idx) && !expired(&r->sk[idx], now)) {
        rc = expand(r->sk[idx].mk, key, nonce);
        if (rc != VT_OK)
            goto out;
        rc = vt_aes256gcm_decrypt(dst, msg + HEADER_LEN, body_len, aad, sizeof aad, key,
                                  nonce);
        if (rc != VT_OK)
            goto out; /* VT_ERR_DECRYPT when the tag fails */
        s.confirmed = 1;
        commit(r, &s, idx, true, NULL, 0, now);
        *pt_len = out_len;
        goto out;
    }

    /* 2. Limits, before any computation (CRYPTO-100). */
    bool same = s.has_dhr && vt_equal(dh, s.dhr, 32);
    if (same) {
        if (n < s.nr || !s.has_ckr) {
            rc = VT_ERR_DECRYPT; /* CRYPTO-99 */
            goto out;
        }
        if (n - s.nr > VT_MAX_SKIP) {
            rc = VT_ERR_LIMIT_EXCEEDED;
            goto out;
        }
        pend_cap = n - s.nr;
    } else {
        if (s.has_ckr && pn > s.nr && pn - s.nr > VT_MAX_SKIP) {
            rc = VT_ERR_LIMIT_EXCEEDED;
            goto out;
        }
        if (n > VT_MAX_SKIP) {
            rc = VT_ERR_LIMIT_EXCEEDED;
            goto out;
        }
        pend_cap = (s.has_ckr && pn > s.nr ? pn - s.nr : 0) + n;
    }
    if (pend_cap > 0) {
        pend = calloc(pend_cap, sizeof *pend);
        if (pend == NULL) {
            rc = VT_ERR_NO_MEMORY;
            goto out;
        }
    }
    /* Room for the result, reserved now so that COMMIT cannot fail. */
    rc = vt_ratchet_reserve_int(r, r->sk_len + pend_cap);
    if (rc != VT_OK)
        goto out;

    /* 3. Ratchet, on the scratch copy only. */
    if (!same) {
        if (s.has_ckr) {
            rc = skip(&s, pn, pend, &npend, now);
            if (rc != VT_OK)
                goto out;
        }
        rc = dh_ratchet(&s, dh, rng);
        if (rc != VT_OK)
            goto out;
    }
    rc = skip(&s, n, pend, &npend, now);
    if (rc != VT_OK)
        goto out;
    rc = kdf_ck(s.ckr, mk);
    if (rc != VT_OK)
        goto out;
    s.nr++;

    /* 4. Verify, then commit (CRYPTO-98). */
    rc = expand(mk, key, nonce);
    if (rc != VT_OK)
        goto out;
    rc = vt_aes256gcm_decrypt(dst, msg + HEADER_LEN, body_len, aad, sizeof aad, key,
                              nonce);
    if (rc != VT_OK)
        goto out; /* VT_ERR_DECRYPT when the tag fails */
    s.confirmed = 1;
    commit(r, &s, 0, false, pend, npend, now);
    *pt_len = out_len;
out:
    if (rc != VT_OK && pt != NULL)
        vt_wipe(pt, cap < out_len ? cap : out_len);
    if (pend != NULL) {
        vt_wipe(pend, pend_cap * sizeof *pend);
        free(pend);
    }
    vt_wipe(&s, sizeof s);
    vt_wipe(mk, sizeof mk);
    vt_wipe(key, sizeof key);
    vt_wipe(nonce, sizeof nonce);
    vt_wipe(dummy, sizeof dummy);
    return rc;
}

vt_ratchet_role vt_ratchet_get_role(const vt_ratchet *r)
{
    return (vt_ratchet_role)r->c.role;
}

bool vt_ratchet_confirmed(const vt_ratchet *r)
{
    return r->c.confirmed != 0;
}

const uint8_t *vt_ratchet_ad(const vt_ratchet *r)
{
    return r->c.ad;
}

const uint8_t *vt_ratchet_remote_ik(const vt_ratchet *r)
{
    /* CRYPTO-55: AD = version || IK_initiator || IK_responder. */
    return r->c.role == VT_RATCHET_INITIATOR ? r->c.ad + 33 : r->c.ad + 1;
}

const uint8_t *vt_ratchet_base_key(const vt_ratchet *r)
{
    return r->c.base_key;
}

vt_err vt_ratchet_x3dh_fields(const vt_ratchet *r, vt_x3dh_fields *out)
{
    if (r == NULL || out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (r->c.role != VT_RATCHET_INITIATOR)
        return VT_ERR_STATE;
    memcpy(out->identity_key, r->c.ad + 1, 32);
    memcpy(out->base_key, r->c.base_key, 32);
    out->signed_prekey_id = r->c.spk_id;
    out->one_time_prekey_id = r->c.otk_id;
    out->last_resort_prekey_id = r->c.lr_id;
    return VT_OK;
}

size_t vt_ratchet_skipped_count(const vt_ratchet *r)
{
    return r->sk_len;
}

vt_err vt_ratchet_export_state(const vt_ratchet *r, vt_ratchet_state *st)
{
    if (r == NULL || st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    memset(st, 0, sizeof *st);
    if (r->sk_len > 0) {
        st->skipped = calloc(r->sk_len, sizeof *st->skipped);
        if (st->skipped == NULL)
            return VT_ERR_NO_MEMORY;
        memcpy(st->skipped, r->sk, r->sk_len * sizeof *r->sk);
    }
    const vt_ratchet_core *c = &r->c;
    st->skipped_len = r->sk_len;
    st->role = (vt_ratchet_role)c->role;
    st->confirmed = c->confirmed != 0;
    memcpy(st->ad, c->ad, sizeof st->ad);
    memcpy(st->remote_ik, vt_ratchet_remote_ik(r), 32);
    memcpy(st->base_key, c->base_key, 32);
    if (c->role == VT_RATCHET_INITIATOR && vt_ratchet_x3dh_fields(r, &st->x3dh) != VT_OK)
        memset(&st->x3dh, 0, sizeof st->x3dh);
    memcpy(st->dhs_public, c->dhs_pub, 32);
    memcpy(st->dhs_private, c->dhs_priv, 32);
    st->has_dhr = c->has_dhr;
    st->has_cks = c->has_cks;
    st->has_ckr = c->has_ckr;
    memcpy(st->dhr, c->dhr, 32);
    memcpy(st->rk, c->rk, 32);
    memcpy(st->cks, c->cks, 32);
    memcpy(st->ckr, c->ckr, 32);
    st->ns = c->ns;
    st->nr = c->nr;
    st->pn = c->pn;
    return VT_OK;
}

void vt_ratchet_state_clear(vt_ratchet_state *st)
{
    if (st == NULL)
        return;
    if (st->skipped != NULL) {
        vt_wipe(st->skipped, st->skipped_len * sizeof *st->skipped);
        free(st->skipped);
    }
    vt_wipe(st, sizeof *st);
}

vt_err vt_ratchet_import_state(vt_ratchet **out, const vt_ratchet_state *st)
{
    if (out == NULL || st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if ((st->role != VT_RATCHET_INITIATOR && st->role != VT_RATCHET_RESPONDER) ||
        st->skipped_len > VT_MAX_SKIPPED_KEYS ||
        (st->skipped_len > 0 && st->skipped == NULL))
        return VT_ERR_INVALID_ARGUMENT;
    vt_ratchet *r = vt_ratchet_alloc_int();
    if (r == NULL)
        return VT_ERR_NO_MEMORY;
    if (vt_ratchet_reserve_int(r, st->skipped_len) != VT_OK) {
        vt_ratchet_free(r);
        return VT_ERR_NO_MEMORY;
    }
    vt_ratchet_core *c = &r->c;
    c->role = (uint8_t)st->role;
    c->confirmed = st->confirmed;
    memcpy(c->ad, st->ad, sizeof c->ad);
    memcpy(c->base_key, st->base_key, 32);
    if (st->role == VT_RATCHET_INITIATOR) {
        c->spk_id = st->x3dh.signed_prekey_id;
        c->otk_id = st->x3dh.one_time_prekey_id;
        c->lr_id = st->x3dh.last_resort_prekey_id;
    }
    memcpy(c->dhs_pub, st->dhs_public, 32);
    memcpy(c->dhs_priv, st->dhs_private, 32);
    c->has_dhr = st->has_dhr;
    c->has_cks = st->has_cks;
    c->has_ckr = st->has_ckr;
    if (st->has_dhr)
        memcpy(c->dhr, st->dhr, 32);
    memcpy(c->rk, st->rk, 32);
    if (st->has_cks)
        memcpy(c->cks, st->cks, 32);
    if (st->has_ckr)
        memcpy(c->ckr, st->ckr, 32);
    c->ns = st->ns;
    c->nr = st->nr;
    c->pn = st->pn;
    if (st->skipped_len > 0)
        memcpy(r->sk, st->skipped, st->skipped_len * sizeof *r->sk);
    r->sk_len = st->skipped_len;
    *out = r;
    return VT_OK;
}
