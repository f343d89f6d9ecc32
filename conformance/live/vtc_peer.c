/* The end-to-end peer of the conformance kit (vtc_peer.h): prekeys it keeps
 * (spec/crypto.md section 4), X3DH both ways (section 5), one Double Ratchet
 * session per remote device (sections 6 and 7), padding (section 8), and the
 * Send / MessageEvent / Ack exchange of spec/delivery.md around them. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ventra/crypto.h"
#include "ventra/prekeys.h"
#include "ventra/ratchet.h"
#include "ventra/session.h"
#include "ventra/x3dh.h"
#include "vt_constants.h"
#include "vtc.h"
#include "vtc_int.h"
#include "vtc_peer.h"

/* Most devices of one account the peer fans out to (the kit's limit). */
#define FANOUT_MAX 16

/* What the peer knows of one remote (account, device): the recorded
 * identity key, the current session and the losing one (CRYPTO-120,
 * CRYPTO-124). */
typedef struct remote {
    char user[33];
    uint32_t device;
    bool has_ik;
    uint8_t ik[32];
    vt_ratchet *cur;
    vt_ratchet *losing;
} remote;

/* A (sender, message_id) pair already processed (DELIV-90). */
typedef struct seen_id {
    char user[33];
    uint8_t mid[16];
} seen_id;

struct vtc_peer {
    vtc_device *d;
    bool auto_ack;
    vt_signed_prekey spk, lrk;
    vt_prekey otk[VTC_PEER_ONE_TIME_PREKEYS]; /* id 0 once consumed (CRYPTO-73) */
    remote *rem;
    size_t n_rem, cap_rem;
    uint8_t (*base_keys)[32]; /* CRYPTO-76; one signed prekey, so no key id */
    size_t n_base, cap_base;
    seen_id *seen;
    size_t n_seen, cap_seen;
    vtc_peer_secret *secrets; /* SEC-1: what its sessions derived */
    size_t n_secrets, cap_secrets;
};

/* ---- Bookkeeping ------------------------------------------------------- */

static remote *find_remote(const vtc_peer *p, const char *user, uint32_t device)
{
    size_t i;

    for (i = 0; i < p->n_rem; i++)
        if (p->rem[i].device == device && strcmp(p->rem[i].user, user) == 0)
            return &p->rem[i];
    return NULL;
}

static remote *get_remote(vtc_peer *p, const char *user, uint32_t device)
{
    remote *r = find_remote(p, user, device);

    if (r != NULL)
        return r;
    if (p->n_rem == p->cap_rem) {
        p->cap_rem = p->cap_rem ? 2 * p->cap_rem : 8;
        p->rem = vtc_xrealloc(p->rem, p->cap_rem * sizeof *p->rem);
    }
    r = &p->rem[p->n_rem++];
    memset(r, 0, sizeof *r);
    snprintf(r->user, sizeof r->user, "%s", user);
    r->device = device;
    return r;
}

static void drop_remote_sessions(remote *r)
{
    vt_ratchet_free(r->cur);
    vt_ratchet_free(r->losing);
    r->cur = NULL;
    r->losing = NULL;
}

/* Drops every session, record and prekey: the state of a new device. */
static void clear_state(vtc_peer *p)
{
    size_t i;

    for (i = 0; i < p->n_rem; i++)
        drop_remote_sessions(&p->rem[i]);
    if (p->rem != NULL)
        sodium_memzero(p->rem, p->cap_rem * sizeof *p->rem);
    free(p->rem);
    p->rem = NULL;
    p->n_rem = p->cap_rem = 0;
    if (p->base_keys != NULL)
        sodium_memzero(p->base_keys, p->cap_base * sizeof *p->base_keys);
    free(p->base_keys);
    p->base_keys = NULL;
    p->n_base = p->cap_base = 0;
    free(p->seen);
    p->seen = NULL;
    p->n_seen = p->cap_seen = 0;
    sodium_memzero(&p->spk, sizeof p->spk);
    sodium_memzero(&p->lrk, sizeof p->lrk);
    sodium_memzero(p->otk, sizeof p->otk);
}

static bool seen_before(const vtc_peer *p, const char *user, const uint8_t mid[16])
{
    size_t i;

    for (i = 0; i < p->n_seen; i++)
        if (strcmp(p->seen[i].user, user) == 0 && memcmp(p->seen[i].mid, mid, 16) == 0)
            return true;
    return false;
}

static void remember_seen(vtc_peer *p, const char *user, const uint8_t mid[16])
{
    if (p->n_seen == p->cap_seen) {
        p->cap_seen = p->cap_seen ? 2 * p->cap_seen : 16;
        p->seen = vtc_xrealloc(p->seen, p->cap_seen * sizeof *p->seen);
    }
    snprintf(p->seen[p->n_seen].user, sizeof p->seen[p->n_seen].user, "%s", user);
    memcpy(p->seen[p->n_seen].mid, mid, 16);
    p->n_seen++;
}

/* ---- Prekeys (spec/crypto.md section 4) ------------------------------- */

static void signed_prekey_msg(Ventra__V1__SignedPrekey *m, vt_signed_prekey *k)
{
    m->id = k->key.id;
    m->public_key = vtc_bin(k->key.pub, 32);
    m->signature = vtc_bin(k->signature, 64);
}

/* Generates the device's prekeys (CRYPTO-20, -25, -27: a fresh device, so
 * ids start at 1 in each id space) and uploads them. */
static void make_prekeys(vtc_peer *p)
{
    Ventra__V1__UploadPrekeysRequest body = VENTRA__V1__UPLOAD_PREKEYS_REQUEST__INIT;
    Ventra__V1__SignedPrekey spk = VENTRA__V1__SIGNED_PREKEY__INIT;
    Ventra__V1__SignedPrekey lrk = VENTRA__V1__SIGNED_PREKEY__INIT;
    Ventra__V1__OneTimePrekey otk[VTC_PEER_ONE_TIME_PREKEYS];
    Ventra__V1__OneTimePrekey *otkp[VTC_PEER_ONE_TIME_PREKEYS];
    Ventra__V1__Response *r;
    uint32_t i, count;

    if (vt_signed_prekey_generate(&p->spk, p->d->id, 1, false) != VT_OK ||
        vt_signed_prekey_generate(&p->lrk, p->d->id, 1, true) != VT_OK)
        vtc_fail("peer %s: vt_signed_prekey_generate failed", p->d->username);
    for (i = 0; i < VTC_PEER_ONE_TIME_PREKEYS; i++) {
        Ventra__V1__OneTimePrekey init = VENTRA__V1__ONE_TIME_PREKEY__INIT;

        if (vt_prekey_generate(&p->otk[i], i + 1) != VT_OK)
            vtc_fail("peer %s: vt_prekey_generate failed", p->d->username);
        otk[i] = init;
        otk[i].id = p->otk[i].id;
        otk[i].public_key = vtc_bin(p->otk[i].pub, 32);
        otkp[i] = &otk[i];
    }
    signed_prekey_msg(&spk, &p->spk);
    signed_prekey_msg(&lrk, &p->lrk);
    body.signed_prekey = &spk;
    body.last_resort_prekey = &lrk;
    body.n_one_time_prekeys = VTC_PEER_ONE_TIME_PREKEYS;
    body.one_time_prekeys = otkp;
    r = vtc_call_body(p->d->c, VENTRA__V1__REQUEST__BODY_UPLOAD_PREKEYS, &body);
    if (r == NULL || r->body_case != VENTRA__V1__RESPONSE__BODY_UPLOAD_PREKEYS) {
        int rc = vtc_error_code(r);

        vtc_response_free(r);
        vtc_fail("peer %s/%u: UploadPrekeys: error %d", p->d->username, p->d->device_id,
                 rc);
    }
    count = r->upload_prekeys->one_time_count;
    vtc_response_free(r);
    if (count != VTC_PEER_ONE_TIME_PREKEYS)
        vtc_fail("peer %s/%u: UploadPrekeys: one_time_count %u, want %u", p->d->username,
                 p->d->device_id, count, VTC_PEER_ONE_TIME_PREKEYS);
}

/* The responder's key lookups of vt_x3dh_respond (step 7 of CRYPTO-65);
 * nothing is consumed here, the commit does that. */
static vt_err lookup_signed(void *ctx, uint32_t id, vt_prekey *out)
{
    vtc_peer *p = ctx;

    if (id == 0 || id != p->spk.key.id)
        return VT_ERR_NOT_FOUND;
    *out = p->spk.key;
    return VT_OK;
}

static vt_err lookup_one_time(void *ctx, uint32_t id, vt_prekey *out)
{
    vtc_peer *p = ctx;
    size_t i;

    for (i = 0; id != 0 && i < VTC_PEER_ONE_TIME_PREKEYS; i++)
        if (p->otk[i].id == id) {
            *out = p->otk[i];
            return VT_OK;
        }
    return VT_ERR_NOT_FOUND;
}

static vt_err lookup_last_resort(void *ctx, uint32_t id, vt_prekey *out)
{
    vtc_peer *p = ctx;

    if (id == 0 || id != p->lrk.key.id)
        return VT_ERR_NOT_FOUND;
    *out = p->lrk.key;
    return VT_OK;
}

static bool base_key_used(void *ctx, const uint8_t base_key[32])
{
    vtc_peer *p = ctx;
    size_t i;

    for (i = 0; i < p->n_base; i++)
        if (sodium_memcmp(p->base_keys[i], base_key, 32) == 0)
            return true;
    return false;
}

/* ---- Life cycle --------------------------------------------------------- */

static vtc_peer *peer_new(vtc_device *d)
{
    vtc_peer *p = vtc_xmalloc(sizeof *p);

    memset(p, 0, sizeof *p);
    p->d = d;
    p->auto_ack = true;
    make_prekeys(p);
    return p;
}

vtc_peer *vtc_peer_register(int port, const char *prefix)
{
    char name[33];

    vtc_username(name, prefix);
    return peer_new(vtc_register(port, name));
}

vtc_peer *vtc_peer_link(vtc_peer *owner)
{
    return peer_new(vtc_link(owner->d));
}

void vtc_peer_free(vtc_peer *p)
{
    if (p == NULL)
        return;
    clear_state(p);
    if (p->secrets != NULL)
        sodium_memzero(p->secrets, p->cap_secrets * sizeof *p->secrets);
    free(p->secrets);
    vtc_device_free(p->d);
    sodium_memzero(p, sizeof *p);
    free(p);
}

const char *vtc_peer_username(const vtc_peer *p)
{
    return p->d->username;
}

uint32_t vtc_peer_device_id(const vtc_peer *p)
{
    return p->d->device_id;
}

const uint8_t *vtc_peer_identity_key(const vtc_peer *p)
{
    return vt_identity_public(p->d->id);
}

vtc_device *vtc_peer_device(vtc_peer *p)
{
    return p->d;
}

void vtc_peer_set_auto_ack(vtc_peer *p, bool on)
{
    p->auto_ack = on;
}

void vtc_peer_forget(vtc_peer *p, const char *username)
{
    size_t i = 0;

    while (i < p->n_rem) {
        if (strcmp(p->rem[i].user, username) == 0) {
            drop_remote_sessions(&p->rem[i]);
            p->rem[i] = p->rem[--p->n_rem];
            sodium_memzero(&p->rem[p->n_rem], sizeof p->rem[p->n_rem]);
        } else {
            i++;
        }
    }
}

bool vtc_peer_has_session(const vtc_peer *p, const char *username, uint32_t device_id,
                          bool *confirmed)
{
    const remote *r = find_remote(p, username, device_id);

    if (r == NULL || r->cur == NULL)
        return false;
    if (confirmed != NULL)
        *confirmed = vt_ratchet_get_role(r->cur) == VT_RATCHET_RESPONDER ||
                     vt_ratchet_confirmed(r->cur);
    return true;
}

void vtc_peer_rotate_identity(vtc_peer *p)
{
    char name[33];
    int port = p->d->port, rc;

    snprintf(name, sizeof name, "%s", p->d->username);
    rc = vtc_delete_account(p->d);
    if (rc != 0)
        vtc_fail("peer %s: DeleteAccount: error %d", name, rc);
    clear_state(p);
    vtc_device_free(p->d);
    /* AUTH-93: the name is free again; vtc_register draws a new identity. */
    p->d = vtc_register(port, name);
    make_prekeys(p);
}

/* ---- The secrets the sessions derive (SEC-1) ---------------------------- */

static void note(vtc_peer *p, const uint8_t *b, size_t len)
{
    size_t i;

    if (len == 0 || len > 32 || sodium_is_zero(b, len))
        return;
    for (i = 0; i < p->n_secrets; i++)
        if (p->secrets[i].len == len && memcmp(p->secrets[i].bytes, b, len) == 0)
            return;
    if (p->n_secrets == p->cap_secrets) {
        p->cap_secrets = p->cap_secrets ? 2 * p->cap_secrets : 64;
        p->secrets = vtc_xrealloc(p->secrets, p->cap_secrets * sizeof *p->secrets);
    }
    memset(&p->secrets[p->n_secrets], 0, sizeof p->secrets[p->n_secrets]);
    memcpy(p->secrets[p->n_secrets].bytes, b, len);
    p->secrets[p->n_secrets++].len = len;
}

/* A message key and what CRYPTO-82 expands it into (AES key and nonce). */
static void note_message_key(vtc_peer *p, const uint8_t mk[32])
{
    uint8_t okm[44];

    note(p, mk, 32);
    if (vt_hkdf_sha256(okm, sizeof okm, NULL, 0, mk, 32,
                       (const uint8_t *)VT_LABEL_MESSAGE_KEYS,
                       VT_LABEL_MESSAGE_KEYS_LEN) == VT_OK) {
        note(p, okm, 32);
        note(p, okm + 32, 12);
    }
    sodium_memzero(okm, sizeof okm);
}

/* The chain keys from |ck| on (CRYPTO-81) until |end| (NULL: one step) and
 * the message key of each. */
static void note_chain(vtc_peer *p, const uint8_t ck[32], const uint8_t *end)
{
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t cur[32], mk[32];
    unsigned i;

    memcpy(cur, ck, 32);
    for (i = 0; i < 2 * VT_MAX_SKIP + 2; i++) {
        note(p, cur, 32);
        if (end != NULL && sodium_memcmp(cur, end, 32) == 0)
            break;
        if (vt_hmac_sha256(mk, cur, 32, &one, 1) != VT_OK)
            break;
        note_message_key(p, mk);
        if (vt_hmac_sha256(cur, cur, 32, &two, 1) != VT_OK || end == NULL)
            break;
    }
    sodium_memzero(cur, sizeof cur);
    sodium_memzero(mk, sizeof mk);
}

/* The shared secrets of one exported state: root key, chain keys (and the
 * message key each would give next), skipped message keys. The ratchet's
 * own private key is the peer's, never the client's: not noted. */
static void note_state(vtc_peer *p, const vt_ratchet_state *st)
{
    size_t i;

    note(p, st->rk, 32);
    if (st->has_cks)
        note_chain(p, st->cks, NULL);
    if (st->has_ckr)
        note_chain(p, st->ckr, NULL);
    for (i = 0; i < st->skipped_len; i++)
        note_message_key(p, st->skipped[i].mk);
}

/* What a decryption from |pre| to |post| derived: the receiving chain it
 * walked, through a DH ratchet step (CRYPTO-80) when the remote ratchet
 * key changed. |pre_rk| and |pre_dhs_priv| are |pre|'s, or SK and the
 * signed prekey for a new responder session. */
static void note_step(vtc_peer *p, const uint8_t pre_rk[32],
                      const uint8_t pre_dhs_priv[32], bool same_chain,
                      const uint8_t *pre_ckr, const vt_ratchet_state *post)
{
    uint8_t dh[32], okm[64];

    if (same_chain && pre_ckr != NULL) {
        note_chain(p, pre_ckr, post->has_ckr ? post->ckr : NULL);
    } else if (post->has_dhr && vt_x25519(dh, pre_dhs_priv, post->dhr) == VT_OK &&
               vt_hkdf_sha256(okm, sizeof okm, pre_rk, 32, dh, 32,
                              (const uint8_t *)VT_LABEL_RATCHET_ROOT,
                              VT_LABEL_RATCHET_ROOT_LEN) == VT_OK) {
        note(p, okm, 32);
        note_chain(p, okm + 32, post->has_ckr ? post->ckr : NULL);
    }
    note_state(p, post);
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(okm, sizeof okm);
}

static bool export_state(const vt_ratchet *r, vt_ratchet_state *st)
{
    memset(st, 0, sizeof *st);
    return r != NULL && vt_ratchet_export_state(r, st) == VT_OK;
}

static void note_session(vtc_peer *p, const vt_ratchet *r)
{
    vt_ratchet_state st;

    if (export_state(r, &st))
        note_state(p, &st);
    vt_ratchet_state_clear(&st);
}

/* vt_ratchet_decrypt with what it derived noted. */
static vt_err decrypt_noted(vtc_peer *p, vt_ratchet *r, uint8_t *pt, size_t cap,
                            size_t *pt_len, const uint8_t *msg, size_t len)
{
    vt_ratchet_state pre, post;
    bool have_pre = export_state(r, &pre);
    vt_err rc =
        vt_ratchet_decrypt(r, pt, cap, pt_len, msg, len, (uint64_t)time(NULL), NULL);

    if (rc == VT_OK && have_pre && export_state(r, &post)) {
        bool same =
            pre.has_dhr && post.has_dhr && sodium_memcmp(pre.dhr, post.dhr, 32) == 0;

        note_step(p, pre.rk, pre.dhs_private, same, pre.has_ckr ? pre.ckr : NULL, &post);
        vt_ratchet_state_clear(&post);
    }
    vt_ratchet_state_clear(&pre);
    return rc;
}

size_t vtc_peer_secrets(const vtc_peer *p, const vtc_peer_secret **out)
{
    *out = p->secrets;
    return p->n_secrets;
}

/* ---- Receiving ---------------------------------------------------------- */

/* SEC-1: a new responder session's SK (its first root key, CRYPTO-85) and
 * the first receiving chain, recomputed from the prekeys |pm| names
 * (before the commit consumes a one-time key). */
static void note_responder(vtc_peer *p, const vt_ratchet *s, const vt_prekey_message *pm)
{
    vt_prekey spk, opk;
    bool has_opk = false;
    uint8_t sk[32], ad[VT_RATCHET_AD_LEN];
    vt_ratchet_state post;

    memset(&opk, 0, sizeof opk);
    if (lookup_signed(p, pm->signed_prekey_id, &spk) != VT_OK)
        return;
    if (pm->one_time_prekey_id != 0)
        has_opk = lookup_one_time(p, pm->one_time_prekey_id, &opk) == VT_OK;
    else if (pm->last_resort_prekey_id != 0)
        has_opk = lookup_last_resort(p, pm->last_resort_prekey_id, &opk) == VT_OK;
    if (vt_x3dh_responder_secret(sk, ad, p->d->id, pm->identity_key, pm->base_key, &spk,
                                 has_opk ? &opk : NULL) == VT_OK &&
        export_state(s, &post)) {
        note(p, sk, 32);
        note_step(p, sk, spk.priv, false, NULL, &post);
        vt_ratchet_state_clear(&post);
    }
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(&spk, sizeof spk);
    sodium_memzero(&opk, sizeof opk);
}

/* CRYPTO-65: a PrekeyMessage from (|user|, |device|) into |pt|. */
static vt_err open_prekey(vtc_peer *p, const char *user, uint32_t device,
                          const uint8_t *in, size_t len, uint8_t *pt, size_t cap,
                          size_t *pt_len, bool *new_session)
{
    vt_x3dh_keys keys = {.ctx = p,
                         .identity = p->d->id,
                         .signed_prekey = lookup_signed,
                         .one_time_prekey = lookup_one_time,
                         .last_resort_prekey = lookup_last_resort,
                         .base_key_used = base_key_used};
    vt_prekey_message pm;
    vt_x3dh_commit commit;
    vt_ratchet *s = NULL;
    remote *r;
    uint64_t now = (uint64_t)time(NULL);
    vt_err rc;
    size_t i;

    rc = vt_prekey_message_decode(&pm, in, len); /* step 1 */
    if (rc != VT_OK)
        return rc;
    rc = vt_prekey_message_check(&pm); /* steps 2 and 3 */
    if (rc != VT_OK)
        return rc;
    r = find_remote(p, user, device);
    if (r != NULL && r->has_ik && !vt_equal(r->ik, pm.identity_key, 32))
        return VT_ERR_PERMISSION_DENIED; /* step 4, CRYPTO-68 */
    /* Step 5, CRYPTO-122: a session already made from this base key. */
    if (r != NULL && r->cur != NULL &&
        vt_ratchet_get_role(r->cur) == VT_RATCHET_RESPONDER &&
        vt_equal(vt_ratchet_base_key(r->cur), pm.base_key, 32))
        return decrypt_noted(p, r->cur, pt, cap, pt_len, pm.message, pm.message_len);
    if (r != NULL && r->losing != NULL &&
        vt_equal(vt_ratchet_base_key(r->losing), pm.base_key, 32))
        return decrypt_noted(p, r->losing, pt, cap, pt_len, pm.message, pm.message_len);
    rc = vt_x3dh_respond(&s, &commit, pt, cap, pt_len, &pm, &keys, now, NULL);
    if (rc != VT_OK)
        return rc;
    note_responder(p, s, &pm);
    /* Step 10, CRYPTO-73 to CRYPTO-76 (in memory, so atomic). */
    for (i = 0; commit.consumed_one_time_id != 0 && i < VTC_PEER_ONE_TIME_PREKEYS; i++)
        if (p->otk[i].id == commit.consumed_one_time_id)
            sodium_memzero(&p->otk[i], sizeof p->otk[i]);
    if (p->n_base == p->cap_base) {
        p->cap_base = p->cap_base ? 2 * p->cap_base : 8;
        p->base_keys = vtc_xrealloc(p->base_keys, p->cap_base * sizeof *p->base_keys);
    }
    memcpy(p->base_keys[p->n_base++], commit.base_key, 32);
    r = get_remote(p, user, device);
    if (!r->has_ik) {
        memcpy(r->ik, commit.identity_key, 32);
        r->has_ik = true;
    }
    /* CRYPTO-123 to CRYPTO-125. */
    if (vt_session_new_replaces(r->cur, vt_identity_public(p->d->id),
                                commit.identity_key)) {
        drop_remote_sessions(r);
        r->cur = s;
    } else {
        vt_ratchet_free(r->losing);
        r->losing = s;
    }
    sodium_memzero(&commit, sizeof commit);
    *new_session = true;
    return VT_OK;
}

/* Decrypts the envelope of |m| into out->content and decodes it. */
static void open_message(vtc_peer *p, const Ventra__V1__MessageEvent *m,
                         vtc_peer_msg *out)
{
    size_t cap = m->content.len > 0 ? m->content.len : 1, pt_len = 0, plain_len = 0;
    uint8_t *pt = vtc_xmalloc(cap), *plain;
    vt_err rc;

    switch (m->type) {
    case VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY:
        rc = open_prekey(p, m->sender, m->sender_device, m->content.data, m->content.len,
                         pt, cap, &pt_len, &out->new_session);
        break;
    case VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE: {
        remote *r = find_remote(p, m->sender, m->sender_device);

        if (r == NULL || r->cur == NULL)
            rc = VT_ERR_STATE; /* CRYPTO-121 */
        else
            rc = decrypt_noted(p, r->cur, pt, cap, &pt_len, m->content.data,
                               m->content.len);
        break;
    }
    default:
        rc = VT_ERR_INVALID_ARGUMENT; /* CRYPTO-129 */
        break;
    }
    out->error = rc;
    if (rc != VT_OK) {
        sodium_memzero(pt, cap);
        free(pt);
        return;
    }
    out->content = pt;
    out->content_len = pt_len;
    if (out->message_id_len == 16)
        remember_seen(p, m->sender, out->message_id);
    /* CRYPTO-132: the padding is dropped before decoding, never checked. */
    plain = vtc_xmalloc(cap);
    out->error = vt_content_unpad(plain, cap, &plain_len, pt, pt_len);
    if (out->error == VT_OK) {
        out->body = ventra__v1__content__unpack(NULL, plain_len, plain);
        if (out->body == NULL)
            out->error = VT_ERR_INVALID_ARGUMENT;
    }
    sodium_memzero(plain, cap);
    free(plain);
}

bool vtc_peer_recv(vtc_peer *p, int timeout_ms, vtc_peer_msg *out)
{
    Ventra__V1__MessageEvent *m;

    memset(out, 0, sizeof *out);
    m = vtc_next_message(p->d, timeout_ms);
    if (m == NULL)
        return false;
    out->seq = m->seq;
    snprintf(out->sender, sizeof out->sender, "%s", m->sender ? m->sender : "");
    out->sender_device = m->sender_device;
    snprintf(out->recipient, sizeof out->recipient, "%s",
             m->recipient ? m->recipient : "");
    out->message_id_len = m->message_id.len;
    if (m->message_id.len > 0)
        memcpy(out->message_id, m->message_id.data,
               m->message_id.len < 16 ? m->message_id.len : 16);
    out->type = (int)m->type;
    out->ephemeral = m->ephemeral;
    out->group_id_len = m->group_id.len;
    if (m->group_id.len > 0)
        memcpy(out->group_id, m->group_id.data,
               m->group_id.len < 16 ? m->group_id.len : 16);
    out->server_time_ms = m->server_time_ms;
    if (m->message_id.len == 16 && seen_before(p, out->sender, out->message_id))
        out->duplicate = true; /* DELIV-90: acked, not decrypted again */
    else
        open_message(p, m, out);
    if (p->auto_ack && !m->ephemeral && m->seq != 0) {
        if (vtc_ack(p->d, &m->seq, 1) < 0)
            vtc_fail("peer %s/%u: Ack(%llu) failed", p->d->username, p->d->device_id,
                     (unsigned long long)m->seq);
        out->acked = true;
    }
    vtc_message_free(m);
    return true;
}

void vtc_peer_msg_clear(vtc_peer_msg *m)
{
    if (m == NULL)
        return;
    if (m->content != NULL) {
        sodium_memzero(m->content, m->content_len);
        free(m->content);
    }
    if (m->body != NULL)
        ventra__v1__content__free_unpacked(m->body, NULL);
    sodium_memzero(m, sizeof *m);
}

const char *vtc_peer_msg_text(const vtc_peer_msg *m)
{
    if (m->body == NULL || m->body->body_case != VENTRA__V1__CONTENT__BODY_DATA ||
        m->body->data == NULL)
        return NULL;
    return m->body->data->text;
}

/* ---- Sending ------------------------------------------------------------ */

/* ListDevices(|user|): the active device ids but |skip| (0: none). */
static vt_err list_devices(vtc_peer *p, const char *user, uint32_t skip,
                           uint32_t ids[FANOUT_MAX], size_t *n)
{
    Ventra__V1__Response *r = vtc_rpc_list_devices(p->d->c, user);
    vt_err rc = (vt_err)vtc_error_code(r);
    size_t i;

    *n = 0;
    if (r == NULL)
        vtc_fail("peer %s: ListDevices(%s): no response", p->d->username, user);
    if (rc == VT_OK && r->body_case != VENTRA__V1__RESPONSE__BODY_LIST_DEVICES)
        rc = VT_ERR_INTERNAL;
    for (i = 0; rc == VT_OK && i < r->list_devices->n_devices; i++) {
        uint32_t id = r->list_devices->devices[i]->device_id;

        if (id == skip)
            continue;
        if (*n == FANOUT_MAX)
            vtc_fail("peer %s: %s has more than %d devices", p->d->username, user,
                     FANOUT_MAX);
        ids[(*n)++] = id;
    }
    vtc_response_free(r);
    return rc;
}

static bool copy_key(uint8_t out[32], const ProtobufCBinaryData *b)
{
    if (b->len != 32)
        return false;
    memcpy(out, b->data, 32);
    return true;
}

/* CRYPTO-45: the form of one bundle, into |b|. */
static bool bundle_form(vt_bundle *b, const Ventra__V1__PrekeyBundle *pb)
{
    memset(b, 0, sizeof *b);
    if (!copy_key(b->identity_key, &pb->identity_key) || pb->signed_prekey == NULL ||
        pb->signed_prekey->signature.len != 64 ||
        !copy_key(b->signed_prekey, &pb->signed_prekey->public_key))
        return false;
    b->signed_prekey_id = pb->signed_prekey->id;
    memcpy(b->signed_prekey_sig, pb->signed_prekey->signature.data, 64);
    if (pb->one_time_prekey != NULL) {
        if (!copy_key(b->one_time, &pb->one_time_prekey->public_key))
            return false;
        b->has_one_time = true;
        b->one_time_id = pb->one_time_prekey->id;
    }
    if (pb->last_resort_prekey != NULL) {
        if (!copy_key(b->last_resort, &pb->last_resort_prekey->public_key) ||
            pb->last_resort_prekey->signature.len != 64)
            return false;
        b->has_last_resort = true;
        b->last_resort_id = pb->last_resort_prekey->id;
        memcpy(b->last_resort_sig, pb->last_resort_prekey->signature.data, 64);
    }
    /* Ids 0 and both optional prekeys are vt_bundle_verify's step 1. */
    return true;
}

/* Makes sessions (X3DH as initiator) with those of the |n| devices |ids| of
 * |user| that have none. */
static vt_err open_sessions(vtc_peer *p, const char *user, const uint32_t *ids, size_t n)
{
    Ventra__V1__FetchBundlesRequest body = VENTRA__V1__FETCH_BUNDLES_REQUEST__INIT;
    uint32_t want[FANOUT_MAX];
    bool got[FANOUT_MAX] = {false};
    Ventra__V1__Response *r;
    vt_err rc = VT_OK;
    size_t i, j, nw = 0;

    for (i = 0; i < n; i++) {
        const remote *rm = find_remote(p, user, ids[i]);

        if (rm == NULL || rm->cur == NULL)
            want[nw++] = ids[i];
    }
    if (nw == 0)
        return VT_OK;
    body.username = (char *)user;
    body.device_ids = want;
    body.n_device_ids = nw;
    r = vtc_call_body(p->d->c, VENTRA__V1__REQUEST__BODY_FETCH_BUNDLES, &body);
    if (r == NULL)
        vtc_fail("peer %s: FetchBundles(%s): no response", p->d->username, user);
    rc = (vt_err)vtc_error_code(r);
    if (rc == VT_OK && r->body_case != VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES)
        rc = VT_ERR_INTERNAL;
    for (i = 0; rc == VT_OK && i < r->fetch_bundles->n_bundles; i++) {
        const Ventra__V1__PrekeyBundle *pb = r->fetch_bundles->bundles[i];
        vt_ratchet *s = NULL;
        vt_bundle b;
        remote *rm;

        for (j = 0; j < nw && want[j] != pb->device_id; j++)
            ;
        if (j == nw || got[j] || !bundle_form(&b, pb)) {
            rc = VT_ERR_INVALID_ARGUMENT; /* CRYPTO-45 */
            break;
        }
        got[j] = true;
        rc = vt_bundle_verify(&b); /* CRYPTO-45 to CRYPTO-48 */
        rm = find_remote(p, user, pb->device_id);
        if (rc == VT_OK && rm != NULL && rm->has_ik &&
            !vt_equal(rm->ik, b.identity_key, 32))
            rc = VT_ERR_PERMISSION_DENIED; /* CRYPTO-49 */
        if (rc == VT_OK)
            rc = vt_x3dh_initiate(&s, p->d->id, &b, NULL);
        if (rc == VT_OK)
            note_session(p, s);
        if (rc == VT_OK) {
            rm = get_remote(p, user, pb->device_id);
            memcpy(rm->ik, b.identity_key, 32);
            rm->has_ik = true;
            vt_ratchet_free(rm->cur);
            rm->cur = s;
        }
    }
    for (j = 0; rc == VT_OK && j < nw; j++)
        if (!got[j])
            rc = VT_ERR_NOT_FOUND; /* no bundle for a device asked for */
    vtc_response_free(r);
    return rc;
}

/* One envelope's content for (|user|, |device|): the ratchet message of
 * |pt|, wrapped in a PrekeyMessage while the session is an unconfirmed
 * initiator session (CRYPTO-61, CRYPTO-62) unless |bare| (misbehaving:
 * CRYPTO-121). Malloc'd into *out. */
static void seal(vtc_peer *p, const char *user, uint32_t device, const uint8_t *pt,
                 size_t pt_len, bool bare, uint8_t **out, size_t *out_len, int *type)
{
    remote *rm = find_remote(p, user, device);
    size_t cap = pt_len + VT_RATCHET_OVERHEAD, mlen = 0;
    uint8_t *msg = vtc_xmalloc(cap);
    vt_x3dh_fields x;

    if (rm == NULL || rm->cur == NULL)
        vtc_fail("peer %s: no session with %s/%u", p->d->username, user, device);
    note_session(p, rm->cur); /* SEC-1: the sending chain and its next key */
    if (vt_ratchet_encrypt(rm->cur, msg, cap, &mlen, pt, pt_len) != VT_OK)
        vtc_fail("peer %s: vt_ratchet_encrypt for %s/%u failed", p->d->username, user,
                 device);
    note_session(p, rm->cur);
    if (vt_ratchet_get_role(rm->cur) == VT_RATCHET_INITIATOR &&
        !vt_ratchet_confirmed(rm->cur) && !bare) {
        size_t pcap = mlen + 128;

        *out = vtc_xmalloc(pcap);
        if (vt_ratchet_x3dh_fields(rm->cur, &x) != VT_OK ||
            vt_prekey_message_encode(*out, pcap, out_len, &x, msg, mlen) != VT_OK)
            vtc_fail("peer %s: PrekeyMessage for %s/%u failed", p->d->username, user,
                     device);
        *type = VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY;
        free(msg);
    } else {
        *out = msg;
        *out_len = mlen;
        *type = VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE;
    }
}

/* Who a send from |p| to |to_user| goes to (spec/delivery.md 3.2). */
typedef struct fanout {
    uint32_t rids[FANOUT_MAX], sids[FANOUT_MAX];
    size_t nr, ns;
} fanout;

static vt_err plan_fanout(vtc_peer *p, const char *to_user, bool group, fanout *f)
{
    bool self = strcmp(to_user, p->d->username) == 0;
    vt_err rc;

    memset(f, 0, sizeof *f);
    rc = list_devices(p, to_user, self ? p->d->device_id : 0, f->rids, &f->nr);
    if (rc == VT_OK && !self && !group)
        rc = list_devices(p, "", p->d->device_id, f->sids, &f->ns);
    return rc;
}

/* The envelope contents of one send, |n| of them: to_recipient first. */
typedef struct sealed {
    Ventra__V1__OutgoingEnvelope env[2 * FANOUT_MAX];
    Ventra__V1__OutgoingEnvelope *rp[FANOUT_MAX], *sp[FANOUT_MAX];
    uint8_t *buf[2 * FANOUT_MAX];
    size_t n;
} sealed;

static void add_env(sealed *s, uint32_t device, int type, uint8_t *buf, size_t len)
{
    Ventra__V1__OutgoingEnvelope init = VENTRA__V1__OUTGOING_ENVELOPE__INIT;

    s->env[s->n] = init;
    s->env[s->n].device_id = device;
    s->env[s->n].type = (Ventra__V1__EnvelopeType)type;
    s->env[s->n].content = vtc_bin(buf, len);
    s->buf[s->n++] = buf;
}

/* Sends the envelopes of |s| (|f|'s lists, in order) and frees them. */
static vt_err send_sealed(vtc_peer *p, const char *to_user, const fanout *f, sealed *s,
                          const vtc_peer_send_opts *o, uint8_t mid_out[16])
{
    Ventra__V1__SendRequest body = VENTRA__V1__SEND_REQUEST__INIT;
    Ventra__V1__Response *r;
    uint8_t mid[16];
    vt_err rc;
    size_t i;

    if (o != NULL && o->message_id != NULL)
        memcpy(mid, o->message_id, 16);
    else
        vtc_random16(mid);
    for (i = 0; i < f->nr; i++)
        s->rp[i] = &s->env[i];
    for (i = 0; i < f->ns; i++)
        s->sp[i] = &s->env[f->nr + i];
    body.message_id = vtc_bin(mid, 16);
    body.recipient = (char *)to_user;
    body.to_recipient = s->rp;
    body.n_to_recipient = f->nr;
    body.to_self = s->sp;
    body.n_to_self = f->ns;
    if (o != NULL && o->group_id != NULL)
        body.group_id = vtc_bin(o->group_id, 16);
    body.ephemeral = o != NULL && o->ephemeral;
    r = vtc_call_body(p->d->c, VENTRA__V1__REQUEST__BODY_SEND, &body);
    if (r == NULL)
        vtc_fail("peer %s: Send to %s: no response", p->d->username, to_user);
    rc = (vt_err)vtc_error_code(r);
    if (rc == VT_OK && r->body_case != VENTRA__V1__RESPONSE__BODY_SEND)
        rc = VT_ERR_INTERNAL;
    vtc_response_free(r);
    for (i = 0; i < s->n; i++)
        free(s->buf[i]);
    s->n = 0;
    if (mid_out != NULL)
        memcpy(mid_out, mid, 16);
    return rc;
}

vt_err vtc_peer_send(vtc_peer *p, const char *to_user, const Ventra__V1__Content *c,
                     const vtc_peer_send_opts *o, uint8_t mid_out[16])
{
    Ventra__V1__Content bare = *c;
    bool group = o != NULL && o->group_id != NULL;
    uint8_t *enc, *pt;
    size_t enc_len, pt_len = 0, i;
    sealed s;
    fanout f;
    vt_err rc;

    if (p->d->c == NULL)
        vtc_fail("peer %s: offline", p->d->username);
    rc = plan_fanout(p, to_user, group, &f);
    if (rc == VT_OK)
        rc = open_sessions(p, to_user, f.rids, f.nr);
    if (rc == VT_OK)
        rc = open_sessions(p, p->d->username, f.sids, f.ns);
    if (rc != VT_OK)
        return rc;
    /* CRYPTO-130/131: padding computed by the library from the bare body. */
    bare.padding.data = NULL;
    bare.padding.len = 0;
    enc_len = ventra__v1__content__get_packed_size(&bare);
    enc = vtc_xmalloc(enc_len + 1);
    ventra__v1__content__pack(&bare, enc);
    if (o != NULL && o->unpadded) {
        pt = enc;
        pt_len = enc_len;
    } else {
        size_t cap = enc_len + 2 * VT_PADDING_BLOCK;

        pt = vtc_xmalloc(cap);
        if (vt_content_pad(pt, cap, &pt_len, enc, enc_len) != VT_OK)
            vtc_fail("peer %s: vt_content_pad failed", p->d->username);
        sodium_memzero(enc, enc_len);
        free(enc);
    }
    s.n = 0;
    for (i = 0; i < f.nr + f.ns; i++) {
        const char *user = i < f.nr ? to_user : p->d->username;
        uint32_t dev = i < f.nr ? f.rids[i] : f.sids[i - f.nr];
        uint8_t *buf;
        size_t len;
        int type;

        seal(p, user, dev, pt, pt_len, o != NULL && o->bare, &buf, &len, &type);
        add_env(&s, dev, type, buf, len);
    }
    sodium_memzero(pt, pt_len);
    free(pt);
    return send_sealed(p, to_user, &f, &s, o, mid_out);
}

vt_err vtc_peer_send_text(vtc_peer *p, const char *to_user, const char *text,
                          uint8_t mid_out[16])
{
    Ventra__V1__Content c = VENTRA__V1__CONTENT__INIT;
    Ventra__V1__DataMessage dm = VENTRA__V1__DATA_MESSAGE__INIT;

    dm.text = (char *)text;
    dm.sent_at_ms = vtc_wall_ms();
    c.body_case = VENTRA__V1__CONTENT__BODY_DATA;
    c.data = &dm;
    return vtc_peer_send(p, to_user, &c, NULL, mid_out);
}

vt_err vtc_peer_send_receipt(vtc_peer *p, const char *to_user, const uint8_t (*mids)[16],
                             size_t n, bool read)
{
    Ventra__V1__Content c = VENTRA__V1__CONTENT__INIT;
    Ventra__V1__ReceiptMessage rm = VENTRA__V1__RECEIPT_MESSAGE__INIT;
    ProtobufCBinaryData ids[64];
    size_t i;

    if (n > 64)
        vtc_fail("vtc_peer_send_receipt: %zu ids, at most 64", n);
    for (i = 0; i < n; i++)
        ids[i] = vtc_bin(mids[i], 16);
    rm.type = read ? VENTRA__V1__RECEIPT_TYPE__RECEIPT_TYPE_READ
                   : VENTRA__V1__RECEIPT_TYPE__RECEIPT_TYPE_DELIVERED;
    rm.message_ids = ids;
    rm.n_message_ids = n;
    rm.at_ms = vtc_wall_ms();
    c.body_case = VENTRA__V1__CONTENT__BODY_RECEIPT;
    c.receipt = &rm;
    return vtc_peer_send(p, to_user, &c, NULL, NULL);
}

vt_err vtc_peer_send_typing(vtc_peer *p, const char *to_user, bool started)
{
    Ventra__V1__Content c = VENTRA__V1__CONTENT__INIT;
    Ventra__V1__TypingMessage tm = VENTRA__V1__TYPING_MESSAGE__INIT;
    vtc_peer_send_opts o = {.ephemeral = true};

    tm.action = started ? VENTRA__V1__TYPING_ACTION__TYPING_ACTION_STARTED
                        : VENTRA__V1__TYPING_ACTION__TYPING_ACTION_STOPPED;
    tm.at_ms = vtc_wall_ms();
    c.body_case = VENTRA__V1__CONTENT__BODY_TYPING;
    c.typing = &tm;
    return vtc_peer_send(p, to_user, &c, &o, NULL);
}

vt_err vtc_peer_send_raw(vtc_peer *p, const char *to_user, int type,
                         const uint8_t *content, size_t len, uint8_t mid_out[16])
{
    sealed s;
    fanout f;
    vt_err rc;
    size_t i;

    if (p->d->c == NULL)
        vtc_fail("peer %s: offline", p->d->username);
    rc = plan_fanout(p, to_user, false, &f);
    if (rc != VT_OK)
        return rc;
    s.n = 0;
    for (i = 0; i < f.nr + f.ns; i++) {
        uint8_t *buf = vtc_xmalloc(len + 1);

        if (len > 0)
            memcpy(buf, content, len);
        add_env(&s, i < f.nr ? f.rids[i] : f.sids[i - f.nr], type, buf, len);
    }
    return send_sealed(p, to_user, &f, &s, NULL, mid_out);
}

vt_err vtc_peer_start_sessions(vtc_peer *p, const char *to_user)
{
    fanout f;
    vt_err rc;

    if (p->d->c == NULL)
        vtc_fail("peer %s: offline", p->d->username);
    rc = list_devices(p, to_user,
                      strcmp(to_user, p->d->username) == 0 ? p->d->device_id : 0, f.rids,
                      &f.nr);
    if (rc == VT_OK)
        rc = open_sessions(p, to_user, f.rids, f.nr);
    return rc;
}

bool vtc_peer_session_x3dh(const vtc_peer *p, const char *username, uint32_t device_id,
                           vt_x3dh_fields *out)
{
    const remote *r = find_remote(p, username, device_id);

    return r != NULL && r->cur != NULL && vt_ratchet_x3dh_fields(r->cur, out) == VT_OK;
}

/* ---- Added: several sessions with one device (CRYPTO-124, CRYPTO-125) ---- */

vt_ratchet *vtc_peer_session_swap(vtc_peer *p, const char *username, uint32_t device_id,
                                  vt_ratchet *s)
{
    remote *r = s != NULL ? get_remote(p, username, device_id)
                          : find_remote(p, username, device_id);
    vt_ratchet *old;

    if (r == NULL)
        return NULL;
    old = r->cur;
    r->cur = s;
    return old;
}
