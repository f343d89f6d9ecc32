/* Versioned binary form of a Double Ratchet session (the variables of
 * spec/crypto.md 6.1) for the client's store; private to libventra.
 *
 * Version 1, all integers big-endian:
 *   u8 version (1) | u8 role (0 initiator, 1 responder)
 *   u8 flags (bit0 confirmed, bit1 DHr set, bit2 CKs set, bit3 CKr set)
 *   AD[65] | base_key[32] | u32 spk_id | u32 otk_id | u32 lr_id
 *   DHs.public[32] | DHs.private[32] | RK[32]
 *   DHr[32] if set | CKs[32] if set | CKr[32] if set
 *   u32 Ns | u32 Nr | u32 PN | u32 count (<= MAX_SKIPPED_KEYS)
 *   count x (dh[32] | u32 n | mk[32] | u64 stored_at), oldest first */
#include <string.h>

#include "ratchet_int.h"
#include "ventra/crypto.h"
#include "vt_constants.h"

#define F_CONFIRMED 0x01u
#define F_DHR 0x02u
#define F_CKS 0x04u
#define F_CKR 0x08u
#define F_ALL (F_CONFIRMED | F_DHR | F_CKS | F_CKR)

#define FIXED_LEN (3 + VT_RATCHET_AD_LEN + 32 + 12 + 32 * 3 + 16)
#define ENTRY_LEN (32 + 4 + 32 + 8)

size_t vt_ratchet_serialized_len(const vt_ratchet *r)
{
    if (r == NULL)
        return 0;
    return FIXED_LEN +
           32u * ((r->c.has_dhr != 0) + (r->c.has_cks != 0) + (r->c.has_ckr != 0)) +
           ENTRY_LEN * r->sk_len;
}

typedef struct wbuf {
    uint8_t *p;
} wbuf;

static void put(wbuf *w, const void *src, size_t n)
{
    memcpy(w->p, src, n);
    w->p += n;
}

static void put_u8(wbuf *w, uint8_t v)
{
    *w->p++ = v;
}

static void put_u32(wbuf *w, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        *w->p++ = (uint8_t)(v >> (8 * i));
}

static void put_u64(wbuf *w, uint64_t v)
{
    for (int i = 7; i >= 0; i--)
        *w->p++ = (uint8_t)(v >> (8 * i));
}

vt_err vt_ratchet_serialize(const vt_ratchet *r, uint8_t *out, size_t cap,
                            size_t *out_len)
{
    if (out_len != NULL)
        *out_len = 0;
    if (r == NULL || out == NULL || out_len == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    size_t need = vt_ratchet_serialized_len(r);
    if (cap < need)
        return VT_ERR_BUFFER_TOO_SMALL;
    const vt_ratchet_core *c = &r->c;
    wbuf w = {out};
    put_u8(&w, VT_RATCHET_SERIAL_VERSION);
    put_u8(&w, c->role);
    put_u8(&w, (uint8_t)((c->confirmed ? F_CONFIRMED : 0) | (c->has_dhr ? F_DHR : 0) |
                         (c->has_cks ? F_CKS : 0) | (c->has_ckr ? F_CKR : 0)));
    put(&w, c->ad, sizeof c->ad);
    put(&w, c->base_key, 32);
    put_u32(&w, c->spk_id);
    put_u32(&w, c->otk_id);
    put_u32(&w, c->lr_id);
    put(&w, c->dhs_pub, 32);
    put(&w, c->dhs_priv, 32);
    put(&w, c->rk, 32);
    if (c->has_dhr)
        put(&w, c->dhr, 32);
    if (c->has_cks)
        put(&w, c->cks, 32);
    if (c->has_ckr)
        put(&w, c->ckr, 32);
    put_u32(&w, c->ns);
    put_u32(&w, c->nr);
    put_u32(&w, c->pn);
    put_u32(&w, (uint32_t)r->sk_len);
    for (size_t i = 0; i < r->sk_len; i++) {
        put(&w, r->sk[i].dh, 32);
        put_u32(&w, r->sk[i].n);
        put(&w, r->sk[i].mk, 32);
        put_u64(&w, r->sk[i].stored_at);
    }
    *out_len = (size_t)(w.p - out);
    return VT_OK;
}

typedef struct rbuf {
    const uint8_t *p;
    size_t left;
} rbuf;

static bool get(rbuf *b, void *dst, size_t n)
{
    if (b->left < n)
        return false;
    memcpy(dst, b->p, n);
    b->p += n;
    b->left -= n;
    return true;
}

static bool get_u32(rbuf *b, uint32_t *v)
{
    uint8_t t[4];
    if (!get(b, t, 4))
        return false;
    *v = (uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3];
    return true;
}

static bool get_u64(rbuf *b, uint64_t *v)
{
    uint8_t t[8];
    if (!get(b, t, 8))
        return false;
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v = *v << 8 | t[i];
    return true;
}

vt_err vt_ratchet_deserialize(vt_ratchet **out, const uint8_t *in, size_t len)
{
    if (out == NULL || in == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    vt_err rc = VT_ERR_INVALID_ARGUMENT;
    rbuf b = {in, len};
    uint8_t hdr[3];
    uint32_t count = 0;
    vt_ratchet *r = NULL;
    if (!get(&b, hdr, 3) || hdr[0] != VT_RATCHET_SERIAL_VERSION ||
        (hdr[1] != VT_RATCHET_INITIATOR && hdr[1] != VT_RATCHET_RESPONDER) ||
        (hdr[2] & ~F_ALL) != 0)
        goto out;
    r = vt_ratchet_alloc_int();
    if (r == NULL) {
        rc = VT_ERR_NO_MEMORY;
        goto out;
    }
    vt_ratchet_core *c = &r->c;
    c->role = hdr[1];
    c->confirmed = (hdr[2] & F_CONFIRMED) != 0;
    c->has_dhr = (hdr[2] & F_DHR) != 0;
    c->has_cks = (hdr[2] & F_CKS) != 0;
    c->has_ckr = (hdr[2] & F_CKR) != 0;
    /* A receiving chain exists only with a remote ratchet key (6.7). */
    if (c->has_ckr && !c->has_dhr)
        goto out;
    if (!get(&b, c->ad, sizeof c->ad) || c->ad[0] != VT_PROTOCOL_VERSION ||
        !get(&b, c->base_key, 32) || !get_u32(&b, &c->spk_id) ||
        !get_u32(&b, &c->otk_id) || !get_u32(&b, &c->lr_id) || !get(&b, c->dhs_pub, 32) ||
        !get(&b, c->dhs_priv, 32) || !get(&b, c->rk, 32))
        goto out;
    if ((c->has_dhr && !get(&b, c->dhr, 32)) || (c->has_cks && !get(&b, c->cks, 32)) ||
        (c->has_ckr && !get(&b, c->ckr, 32)))
        goto out;
    if (!get_u32(&b, &c->ns) || !get_u32(&b, &c->nr) || !get_u32(&b, &c->pn) ||
        !get_u32(&b, &count) || count > VT_MAX_SKIPPED_KEYS)
        goto out;
    /* Exact length: truncated and trailing bytes are both refused. */
    if (b.left != (size_t)count * ENTRY_LEN)
        goto out;
    if (vt_ratchet_reserve_int(r, count) != VT_OK) {
        rc = VT_ERR_NO_MEMORY;
        goto out;
    }
    for (uint32_t i = 0; i < count; i++) {
        vt_ratchet_skipped *e = &r->sk[i];
        if (!get(&b, e->dh, 32) || !get_u32(&b, &e->n) || !get(&b, e->mk, 32) ||
            !get_u64(&b, &e->stored_at))
            goto out;
    }
    r->sk_len = count;
    rc = VT_OK;
out:
    if (rc != VT_OK)
        vt_ratchet_free(r);
    else
        *out = r;
    return rc;
}
