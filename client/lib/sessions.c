/* Pairwise sessions with every remote device, own other devices included,
 * driven by the generated session machine: device lists and TOFU, bundles
 * checked before X3DH (SEC-4), PrekeyMessages until confirmed, the
 * responder's commit, simultaneous initiation and identity changes.
 * Implements spec/state/session.md (SM-200 to SM-203) and spec/crypto.md
 * sections 5 and 7 (CRYPTO-49, -60 to -78, -93, -120 to -128). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "ventra/crypto.h"
#include "ventra/frame.h"
#include "ventra/prekeys.h"
#include "ventra/ratchet.h"
#include "ventra/session.h"
#include "ventra/x3dh.h"
#include "vt_constants.h"
#include "vt_sm_session.h"

/* ---- the stored sessions ---------------------------------------------------- */

static vt_err load(vt_client *c, const char *user, uint32_t dev, vc_session_slot slot,
                   vt_ratchet **out)
{
    size_t cap = 8192, len = 0;
    uint8_t *buf = malloc(cap);
    vt_err err;

    *out = NULL;
    if (buf == NULL)
        return VT_ERR_NO_MEMORY;
    err = vc_store_get_session(c->store, user, dev, slot, buf, cap, &len);
    if (err == VT_ERR_BUFFER_TOO_SMALL) {
        uint8_t *nb = realloc(buf, len);
        if (nb == NULL) {
            free(buf);
            return VT_ERR_NO_MEMORY;
        }
        buf = nb;
        cap = len;
        err = vc_store_get_session(c->store, user, dev, slot, buf, cap, &len);
    }
    if (err == VT_OK)
        err = vt_ratchet_deserialize(out, buf, len);
    vt_wipe(buf, cap);
    free(buf);
    return err;
}

static vt_err save(vt_client *c, const char *user, uint32_t dev, vc_session_slot slot,
                   const vt_ratchet *r)
{
    size_t cap = vt_ratchet_serialized_len(r), len = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    vt_err err;

    if (buf == NULL)
        return VT_ERR_NO_MEMORY;
    err = vt_ratchet_serialize(r, buf, cap, &len);
    if (err == VT_OK)
        err = vc_store_put_session(c->store, user, dev, slot, buf, len, vc_now_s());
    vt_wipe(buf, cap);
    free(buf);
    return err;
}

/* ---- the machine's context --------------------------------------------------- */

typedef struct sctx {
    vt_client *c;
    const char *user;
    uint32_t dev;
    vt_ratchet *cur;    /* the current session, loaded */
    vt_ratchet *losing; /* the losing session, when a message matched it */
    vt_ratchet *cand;   /* a new or scratch session to commit */
    const vt_bundle *bundle;
    const uint8_t *seen_ik; /* the identity key a bundle/list/PrekeyMessage names */
    bool has_commit;
    vt_x3dh_commit commit;
    const uint8_t *pt; /* SEND: the plaintext */
    size_t pt_len;
    vc_envelope *env;
    bool delivered;
    vt_err err;
} sctx;

static bool g_peer_wins(void *ctx)
{
    sctx *s = ctx;
    return vt_session_new_replaces(s->cur, vt_identity_public(s->c->id), s->seen_ik);
}

static bool g_same_base_key(void *ctx)
{
    sctx *s = ctx;
    return s->cur && s->cand && vt_ratchet_get_role(s->cur) == VT_RATCHET_RESPONDER &&
           vt_equal(vt_ratchet_base_key(s->cur), vt_ratchet_base_key(s->cand), 32);
}

/* SM-202: the scratch state decrypted with the losing session (CRYPTO-124). */
static bool g_losing_base_key(void *ctx)
{
    sctx *s = ctx;
    return s->losing && s->cand && !s->has_commit &&
           vt_equal(vt_ratchet_base_key(s->losing), vt_ratchet_base_key(s->cand), 32);
}

/* Records the key on first use (TOFU, CRYPTO-74 identity record). */
static vt_err record_identity(sctx *s, const uint8_t ik[32])
{
    vc_device_row row;
    vt_err err = vc_store_get_device(s->c->store, s->user, s->dev, &row);

    if (err == VT_OK) {
        if (!row.active) {
            row.active = true;
            err = vc_store_put_device(s->c->store, &row);
        }
        return err;
    }
    if (err != VT_ERR_NOT_FOUND)
        return err;
    memset(&row, 0, sizeof row);
    snprintf(row.username, sizeof row.username, "%s", s->user);
    row.device_id = s->dev;
    memcpy(row.identity_key, ik, 32);
    row.trust = VC_TRUST_TOFU;
    row.active = true;
    row.first_seen = vc_now_s();
    return vc_store_put_device(s->c->store, &row);
}

static void a_x3dh_initiate(void *ctx)
{
    sctx *s = ctx;
    vt_ratchet *r = NULL;

    s->err = vt_x3dh_initiate(&r, s->c->id, s->bundle, NULL);
    if (s->err == VT_OK)
        s->err = vc_store_delete_sessions(s->c->store, s->user, s->dev);
    if (s->err == VT_OK)
        s->err = save(s->c, s->user, s->dev, VC_SESSION_CURRENT, r);
    if (s->err == VT_OK)
        s->err = record_identity(s, s->bundle->identity_key);
    vt_ratchet_free(r);
}

static void a_report_invalid_bundle(void *ctx)
{
    sctx *s = ctx;
    vc_notice(s->c, "the prekey bundle of %s/%u does not verify; not sending to it",
              s->user, s->dev);
    if (s->err == VT_OK)
        s->err = VT_ERR_BAD_SIGNATURE;
}

static vt_err apply_commit(sctx *s)
{
    vt_err err = VT_OK;

    if (!s->has_commit)
        return VT_OK;
    if (s->commit.consumed_one_time_id) /* CRYPTO-73 */
        err = vc_store_delete_prekey(s->c->store, VC_PREKEY_ONE_TIME,
                                     s->commit.consumed_one_time_id);
    if (err == VT_OK) /* CRYPTO-76 */
        err = vc_store_add_base_key(s->c->store, s->commit.base_key,
                                    s->commit.signed_prekey_id, vc_now_s());
    if (err == VT_OK)
        err = record_identity(s, s->commit.identity_key);
    return err;
}

static void a_commit_responder_session(void *ctx)
{
    sctx *s = ctx;
    /* CRYPTO-123/125: replaces the current one and any losing session */
    s->err = vc_store_delete_sessions(s->c->store, s->user, s->dev);
    if (s->err == VT_OK)
        s->err = save(s->c, s->user, s->dev, VC_SESSION_CURRENT, s->cand);
    if (s->err == VT_OK)
        s->err = apply_commit(s);
}

static void a_keep_losing_session(void *ctx)
{
    sctx *s = ctx;
    /* CRYPTO-124: beside the current session, never used to encrypt; a
     * message of the losing session stores its advanced state */
    s->err = save(s->c, s->user, s->dev, VC_SESSION_LOSING, s->cand);
    if (s->err == VT_OK)
        s->err = apply_commit(s);
}

static void a_commit_ratchet(void *ctx)
{
    sctx *s = ctx;
    s->err = save(s->c, s->user, s->dev, VC_SESSION_CURRENT, s->cand);
}

static void a_deliver_plaintext(void *ctx)
{
    sctx *s = ctx;
    s->delivered = s->err == VT_OK;
}

static void a_report_decrypt_failure(void *ctx)
{
    sctx *s = ctx;
    if (s->err == VT_OK)
        s->err = VT_ERR_DECRYPT;
}

static void a_record_pending_identity(void *ctx)
{
    sctx *s = ctx;
    vc_device_row row;

    /* CRYPTO-72: the recorded key stays; the new one waits beside it */
    if (vc_store_get_device(s->c->store, s->user, s->dev, &row) != VT_OK)
        return;
    memcpy(row.pending_key, s->seen_ik, 32);
    row.trust = VC_TRUST_CHANGED;
    row.active = true; /* it is listed or it wrote to us */
    VC_IGNORE(vc_store_put_device(s->c->store, &row));
    s->err = VT_ERR_PERMISSION_DENIED;
}

static void a_notify_identity_changed(void *ctx)
{
    sctx *s = ctx;
    vc_outbox_identity_changed(s->c, s->user); /* SM-303 */
    if (s->c->cb.identity_changed)
        s->c->cb.identity_changed(s->c->ud, s->user, s->dev);
    else /* a notice only for what no callback of its own tells */
        vc_notice(s->c,
                  "the identity key of %s device %u changed; messages to %s are held "
                  "until you accept it",
                  s->user, s->dev, s->user);
    s->err = VT_ERR_PERMISSION_DENIED;
}

static void encrypt_with(sctx *s, bool prekey)
{
    size_t cap = s->pt_len + VT_RATCHET_OVERHEAD, len = 0;
    uint8_t *msg = malloc(cap);
    vt_err err;

    if (msg == NULL) {
        s->err = VT_ERR_NO_MEMORY;
        return;
    }
    err = vt_ratchet_encrypt(s->cur, msg, cap, &len, s->pt, s->pt_len);
    if (err == VT_OK && prekey) {
        /* CRYPTO-60/61: the same X3DH fields until confirmed */
        vt_x3dh_fields x;
        size_t pcap = len + 128, plen = 0;
        uint8_t *pm = malloc(pcap);
        err = pm ? vt_ratchet_x3dh_fields(s->cur, &x) : VT_ERR_NO_MEMORY;
        if (err == VT_OK)
            err = vt_prekey_message_encode(pm, pcap, &plen, &x, msg, len);
        if (err == VT_OK) {
            free(msg);
            msg = pm;
            len = plen;
        } else {
            free(pm);
        }
    }
    /* CRYPTO-93: the advanced state is stored before the ciphertext leaves */
    if (err == VT_OK)
        err = save(s->c, s->user, s->dev, VC_SESSION_CURRENT, s->cur);
    if (err != VT_OK) {
        free(msg);
        s->err = err;
        return;
    }
    s->env->device_id = s->dev;
    s->env->type = prekey ? ventra_v1_EnvelopeType_ENVELOPE_TYPE_PREKEY
                          : ventra_v1_EnvelopeType_ENVELOPE_TYPE_MESSAGE;
    s->env->content = msg;
    s->env->len = len;
}

static void a_encrypt_prekey_message(void *ctx)
{
    encrypt_with(ctx, true);
}
static void a_encrypt_message(void *ctx)
{
    encrypt_with(ctx, false);
}

static void a_discard_session(void *ctx)
{
    sctx *s = ctx;
    /* in UNTRUSTED the recorded and pending keys stay (SM-203) */
    s->err = vc_store_delete_sessions(s->c->store, s->user, s->dev);
}

static void a_trust_pending_identity(void *ctx)
{
    sctx *s = ctx;
    vc_device_row row;

    /* CRYPTO-128 */
    s->err = vc_store_get_device(s->c->store, s->user, s->dev, &row);
    if (s->err != VT_OK)
        return;
    memcpy(row.identity_key, row.pending_key, 32);
    memset(row.pending_key, 0, 32);
    row.trust = VC_TRUST_TOFU;
    s->err = vc_store_put_device(s->c->store, &row);
}

static const vt_session_ops session_ops = {
    .guard_peer_wins_tiebreak = g_peer_wins,
    .guard_same_base_key = g_same_base_key,
    .guard_losing_base_key = g_losing_base_key,
    .action_x3dh_initiate = a_x3dh_initiate,
    .action_report_invalid_bundle = a_report_invalid_bundle,
    .action_commit_responder_session = a_commit_responder_session,
    .action_deliver_plaintext = a_deliver_plaintext,
    .action_report_decrypt_failure = a_report_decrypt_failure,
    .action_record_pending_identity = a_record_pending_identity,
    .action_notify_identity_changed = a_notify_identity_changed,
    .action_encrypt_prekey_message = a_encrypt_prekey_message,
    .action_keep_losing_session = a_keep_losing_session,
    .action_commit_ratchet = a_commit_ratchet,
    .action_discard_session = a_discard_session,
    .action_encrypt_message = a_encrypt_message,
    .action_trust_pending_identity = a_trust_pending_identity,
};

bool vc_session_ops_complete(void)
{
    bool ok = true;
#define G(n) ok &= session_ops.guard_##n != NULL;
#define A(n) ok &= session_ops.action_##n != NULL;
    VT_SESSION_GUARD_LIST(G)
    VT_SESSION_ACTION_LIST(A)
#undef G
#undef A
    return ok;
}

/* The machine's state, from what the store holds. */
static vt_session_state derive(sctx *s)
{
    vc_device_row row;

    if (vc_store_get_device(s->c->store, s->user, s->dev, &row) == VT_OK &&
        row.trust == VC_TRUST_CHANGED)
        return VT_SESSION_UNTRUSTED;
    if (s->cur == NULL &&
        load(s->c, s->user, s->dev, VC_SESSION_CURRENT, &s->cur) != VT_OK)
        return VT_SESSION_NONE;
    if (vt_ratchet_get_role(s->cur) == VT_RATCHET_INITIATOR &&
        !vt_ratchet_confirmed(s->cur))
        return VT_SESSION_INITIATED;
    return VT_SESSION_ESTABLISHED;
}

static bool fire(sctx *s, vt_session_event ev)
{
    vt_session_state st = derive(s);

    if (!vt_session_step(&session_ops, s, &st, ev)) {
        if (s->err == VT_OK) /* SM-201 */
            s->err = VT_ERR_STATE;
        return false;
    }
    return true;
}

static void sctx_done(sctx *s)
{
    vt_ratchet_free(s->cur);
    vt_ratchet_free(s->losing);
    vt_ratchet_free(s->cand);
    vt_wipe(&s->commit, sizeof s->commit);
}

/* ---- device lists ---------------------------------------------------------- */

void vc_drop_device(vt_client *c, const char *username, uint32_t device)
{
    vc_device_row row;
    sctx s;

    /* CRYPTO-127, DELIV-31 extra: RESET (an UNTRUSTED device stays so) */
    memset(&s, 0, sizeof s);
    s.c = c;
    s.user = username;
    s.dev = device;
    (void)fire(&s, VT_SESSION_EV_RESET);
    sctx_done(&s);
    if (vc_store_get_device(c->store, username, device, &row) == VT_OK && row.active) {
        row.active = false;
        VC_IGNORE(vc_store_put_device(c->store, &row));
    }
}

/* A key seen for (username, device): TOFU, or IDENTITY_CHANGED. */
static vt_err check_key(vt_client *c, const char *username, uint32_t dev,
                        const uint8_t ik[32])
{
    vc_device_row row;
    vt_err err = vc_store_get_device(c->store, username, dev, &row);

    if (err == VT_ERR_NOT_FOUND) {
        memset(&row, 0, sizeof row);
        snprintf(row.username, sizeof row.username, "%s", username);
        row.device_id = dev;
        memcpy(row.identity_key, ik, 32);
        row.trust = VC_TRUST_TOFU;
        row.active = true;
        row.first_seen = vc_now_s();
        return vc_store_put_device(c->store, &row);
    }
    if (err != VT_OK)
        return err;
    if (!vt_equal(row.identity_key, ik, 32)) {
        sctx s;
        memset(&s, 0, sizeof s);
        s.c = c;
        s.user = username;
        s.dev = dev;
        s.seen_ik = ik;
        if (!(row.trust == VC_TRUST_CHANGED && vt_equal(row.pending_key, ik, 32)))
            (void)fire(&s, VT_SESSION_EV_IDENTITY_CHANGED);
        sctx_done(&s);
        if (!row.active) {
            VC_IGNORE(vc_store_get_device(c->store, username, dev, &row));
            row.active = true;
            VC_IGNORE(vc_store_put_device(c->store, &row));
        }
        return VT_ERR_PERMISSION_DENIED;
    }
    if (!row.active) {
        row.active = true;
        return vc_store_put_device(c->store, &row);
    }
    return VT_OK;
}

vt_err vc_devices_refresh(vt_client *c, const char *username, uint64_t deadline_ms)
{
    ventra_v1_Request req;
    ventra_v1_Frame *resp = NULL;
    vc_device_row rows[16];
    size_t n = 0;
    bool own = strcmp(username, c->username) == 0;
    vt_err err;

    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_list_devices_tag;
    snprintf(req.body.list_devices.username, sizeof req.body.list_devices.username, "%s",
             username);
    err = vc_rpc_call(c, &req, &resp, deadline_ms);
    if (err == VT_ERR_NOT_FOUND) {
        /* AUTH-94: a deleted account keeps its keys here, inactive */
        if (vc_store_list_devices(c->store, username, rows, 16, &n) == VT_OK)
            for (size_t i = 0; i < n && i < 16; i++)
                vc_drop_device(c, username, rows[i].device_id);
    }
    if (err != VT_OK)
        goto out;
    {
        const ventra_v1_ListDevicesResponse *l = &resp->kind.response.body.list_devices;
        if ((err = vc_store_list_devices(c->store, username, rows, 16, &n)) != VT_OK)
            goto out;
        for (size_t i = 0; i < n && i < 16; i++) {
            bool listed = false;
            for (size_t j = 0; j < l->devices_count; j++)
                listed |= l->devices[j].device_id == rows[i].device_id;
            if (!listed)
                vc_drop_device(c, username, rows[i].device_id);
        }
        for (size_t j = 0; j < l->devices_count; j++) {
            const ventra_v1_DeviceInfo *d = &l->devices[j];
            if (own && d->device_id == c->device_id)
                continue;
            if (d->identity_key.size != 32)
                continue;
            (void)check_key(c, username, d->device_id, d->identity_key.bytes);
        }
    }
    if (own)
        c->own_devices_listed = true;
    {
        bool seen = false;
        for (size_t i = 0; i < c->n_listed; i++)
            seen |= strcmp(c->listed[i], username) == 0;
        if (!seen && c->n_listed < 32)
            snprintf(c->listed[c->n_listed++], sizeof c->listed[0], "%s", username);
    }
out:
    vt_wipe(rows, sizeof rows);
    free(resp);
    return err;
}

size_t vc_active_devices(vt_client *c, const char *username, uint32_t *ids, size_t cap,
                         bool *changed)
{
    vc_device_row rows[16];
    size_t n = 0, k = 0;
    bool own = strcmp(username, c->username) == 0;

    if (changed)
        *changed = false;
    if (vc_store_list_devices(c->store, username, rows, 16, &n) != VT_OK)
        return 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        if (!rows[i].active || (own && rows[i].device_id == c->device_id))
            continue;
        if (rows[i].trust == VC_TRUST_CHANGED && changed)
            *changed = true;
        if (k < cap)
            ids[k] = rows[i].device_id;
        k++;
    }
    vt_wipe(rows, sizeof rows);
    return k < cap ? k : cap;
}

static bool has_session(vt_client *c, const char *user, uint32_t dev)
{
    return vc_store_has_session(c->store, user, dev, VC_SESSION_CURRENT);
}

void vc_devices_unlist(vt_client *c, const char *username)
{
    for (size_t i = 0; i < c->n_listed; i++) {
        if (strcmp(c->listed[i], username) != 0)
            continue;
        memmove(c->listed[i], c->listed[i + 1],
                (c->n_listed - i - 1) * sizeof c->listed[0]);
        c->n_listed--;
        return;
    }
}

vt_err vc_sessions_prepare(vt_client *c, const char *username, const uint32_t *only,
                           size_t n_only, uint64_t deadline_ms)
{
    uint32_t ids[16], need[6];
    size_t n, k = 0;
    bool changed = false, own = strcmp(username, c->username) == 0;
    ventra_v1_Request req;
    ventra_v1_Frame *resp = NULL;
    vt_err err = VT_OK;

    bool listed = false;
    for (size_t i = 0; i < c->n_listed; i++)
        listed |= strcmp(c->listed[i], username) == 0;
    n = vc_active_devices(c, username, ids, 16, &changed);
    /* the device list once per connection: a re-registered account shows
     * its new keys there (AUTH-94) */
    if (!listed || (n == 0 && !own) || (own && !c->own_devices_listed)) {
        if ((err = vc_devices_refresh(c, username, deadline_ms)) != VT_OK)
            return err;
        n = vc_active_devices(c, username, ids, 16, &changed);
    }
    if (changed)
        return VT_ERR_PERMISSION_DENIED; /* SM-303: held */
    for (size_t i = 0; i < n; i++)
        if (!has_session(c, username, ids[i]) && k < 6)
            need[k++] = ids[i];
    for (size_t i = 0; i < n_only; i++) {
        bool dup = false;
        for (size_t j = 0; j < k; j++)
            dup |= need[j] == only[i];
        if (!dup && k < 6 && !has_session(c, username, only[i]))
            need[k++] = only[i];
    }
    if (k == 0)
        return VT_OK;
    memset(&req, 0, sizeof req);
    req.which_body = ventra_v1_Request_fetch_bundles_tag;
    snprintf(req.body.fetch_bundles.username, sizeof req.body.fetch_bundles.username,
             "%s", username);
    memcpy(req.body.fetch_bundles.device_ids, need, k * sizeof need[0]);
    req.body.fetch_bundles.device_ids_count = (pb_size_t)k;
    err = vc_rpc_call(c, &req, &resp, deadline_ms);
    if (err == VT_ERR_NOT_FOUND) {
        /* a device went away: the list is stale */
        free(resp);
        VC_IGNORE(vc_devices_refresh(c, username, deadline_ms));
        return VT_ERR_UNAVAILABLE;
    }
    if (err != VT_OK)
        goto out;
    {
        const ventra_v1_FetchBundlesResponse *fb =
            &resp->kind.response.body.fetch_bundles;
        for (size_t i = 0; i < fb->bundles_count && err == VT_OK; i++) {
            const ventra_v1_PrekeyBundle *pb = &fb->bundles[i];
            vt_bundle b;
            bool asked = false;
            sctx s;

            for (size_t j = 0; j < k; j++)
                asked |= need[j] == pb->device_id;
            memset(&b, 0, sizeof b);
            memset(&s, 0, sizeof s);
            s.c = c;
            s.user = username;
            s.dev = pb->device_id;
            s.bundle = &b;
            /* CRYPTO-45: the form, which fixed arrays cannot carry */
            if (!asked || pb->identity_key.size != 32 || !pb->has_signed_prekey ||
                pb->signed_prekey.public_key.size != 32 ||
                pb->signed_prekey.signature.size != 64 ||
                (pb->has_one_time_prekey && pb->one_time_prekey.public_key.size != 32) ||
                (pb->has_last_resort_prekey &&
                 (pb->last_resort_prekey.public_key.size != 32 ||
                  pb->last_resort_prekey.signature.size != 64))) {
                (void)fire(&s, VT_SESSION_EV_BUNDLE_INVALID);
                err = VT_ERR_BAD_SIGNATURE;
                sctx_done(&s);
                break;
            }
            memcpy(b.identity_key, pb->identity_key.bytes, 32);
            b.signed_prekey_id = pb->signed_prekey.id;
            memcpy(b.signed_prekey, pb->signed_prekey.public_key.bytes, 32);
            memcpy(b.signed_prekey_sig, pb->signed_prekey.signature.bytes, 64);
            if (pb->has_one_time_prekey) {
                b.has_one_time = true;
                b.one_time_id = pb->one_time_prekey.id;
                memcpy(b.one_time, pb->one_time_prekey.public_key.bytes, 32);
            }
            if (pb->has_last_resort_prekey) {
                b.has_last_resort = true;
                b.last_resort_id = pb->last_resort_prekey.id;
                memcpy(b.last_resort, pb->last_resort_prekey.public_key.bytes, 32);
                memcpy(b.last_resort_sig, pb->last_resort_prekey.signature.bytes, 64);
            }
            /* SEC-4: signatures first, then the recorded key (CRYPTO-49) */
            if (vt_bundle_verify(&b) != VT_OK) {
                (void)fire(&s, VT_SESSION_EV_BUNDLE_INVALID);
                err = VT_ERR_BAD_SIGNATURE;
            } else if ((err = check_key(c, username, pb->device_id, b.identity_key)) ==
                       VT_OK) {
                (void)fire(&s, VT_SESSION_EV_FETCH_BUNDLE_OK);
                err = s.err;
            }
            sctx_done(&s);
        }
    }
out:
    free(resp);
    return err;
}

vt_err vc_session_encrypt(vt_client *c, const char *username, uint32_t device,
                          const uint8_t *pt, size_t len, vc_envelope *out)
{
    sctx s;
    vt_err err;

    memset(&s, 0, sizeof s);
    memset(out, 0, sizeof *out);
    s.c = c;
    s.user = username;
    s.dev = device;
    s.pt = pt;
    s.pt_len = len;
    s.env = out;
    if (derive(&s) == VT_SESSION_UNTRUSTED)
        err = VT_ERR_PERMISSION_DENIED; /* SM-200 */
    else if (!fire(&s, VT_SESSION_EV_SEND))
        err = s.err;
    else
        err = s.err;
    sctx_done(&s);
    return err;
}

/* ---- decryption --------------------------------------------------------------- */

struct keys_ctx {
    vt_client *c;
};

static vt_err lookup(vt_client *c, vc_prekey_kind kind, uint32_t id, vt_prekey *out)
{
    vc_prekey_row row;
    vt_err err = vc_store_get_prekey(c->store, kind, id, &row);

    if (err == VT_OK) {
        out->id = row.id;
        memcpy(out->pub, row.pub, 32);
        memcpy(out->priv, row.priv, 32);
    }
    vt_wipe(&row, sizeof row);
    return err;
}

static vt_err k_signed(void *ctx, uint32_t id, vt_prekey *out)
{
    return lookup(ctx, VC_PREKEY_SIGNED, id, out);
}
static vt_err k_one_time(void *ctx, uint32_t id, vt_prekey *out)
{
    return lookup(ctx, VC_PREKEY_ONE_TIME, id, out);
}
static vt_err k_last_resort(void *ctx, uint32_t id, vt_prekey *out)
{
    return lookup(ctx, VC_PREKEY_LAST_RESORT, id, out);
}
static bool k_base_used(void *ctx, const uint8_t base_key[32])
{
    vt_client *c = ctx;
    return vc_store_has_base_key(c->store, base_key);
}

/* Decrypts |msg| with a copy of |r| into *out_scratch. */
static vt_err scratch_decrypt(const vt_ratchet *r, const uint8_t *msg, size_t len,
                              uint8_t *pt, size_t cap, size_t *pt_len, vt_ratchet **out)
{
    vt_ratchet *x = NULL;
    vt_err err = vt_ratchet_clone(&x, r);

    if (err == VT_OK)
        err = vt_ratchet_decrypt(x, pt, cap, pt_len, msg, len, vc_now_s(), NULL);
    if (err != VT_OK) {
        vt_ratchet_free(x);
        return err;
    }
    *out = x;
    return VT_OK;
}

vt_err vc_session_decrypt(vt_client *c, const char *sender, uint32_t device, int type,
                          const uint8_t *ct, size_t ct_len, uint8_t *pt, size_t cap,
                          size_t *pt_len)
{
    sctx s;
    vt_session_state st;
    vt_err err = VT_OK;

    memset(&s, 0, sizeof s);
    s.c = c;
    s.user = sender;
    s.dev = device;
    *pt_len = 0;
    st = derive(&s);
    if (type == ventra_v1_EnvelopeType_ENVELOPE_TYPE_MESSAGE) {
        if (st == VT_SESSION_UNTRUSTED) {
            err = VT_ERR_PERMISSION_DENIED; /* SM-200: dropped */
            (void)fire(&s, VT_SESSION_EV_DECRYPT_FAILED);
        } else if (s.cur == NULL) {
            err = VT_ERR_STATE; /* CRYPTO-121 */
            (void)fire(&s, VT_SESSION_EV_DECRYPT_FAILED);
        } else if ((err = scratch_decrypt(s.cur, ct, ct_len, pt, cap, pt_len, &s.cand)) !=
                   VT_OK) {
            (void)fire(&s, VT_SESSION_EV_DECRYPT_FAILED);
        } else {
            (void)fire(&s, VT_SESSION_EV_RECEIVE_MESSAGE);
            err = s.err;
        }
        goto out;
    }
    if (type != ventra_v1_EnvelopeType_ENVELOPE_TYPE_PREKEY) {
        err = VT_ERR_INVALID_ARGUMENT; /* CRYPTO-129 */
        goto out;
    }
    {
        vt_prekey_message pm;
        vc_device_row row;
        vt_ratchet *losing = NULL;

        /* CRYPTO-65 steps 1 to 3 */
        if ((err = vt_prekey_message_decode(&pm, ct, ct_len)) != VT_OK ||
            (err = vt_prekey_message_check(&pm)) != VT_OK) {
            (void)fire(&s, VT_SESSION_EV_DECRYPT_FAILED);
            goto out;
        }
        if (st == VT_SESSION_UNTRUSTED) {
            err = VT_ERR_PERMISSION_DENIED;
            (void)fire(&s, VT_SESSION_EV_DECRYPT_FAILED);
            goto out;
        }
        /* step 4, CRYPTO-68 */
        if (vc_store_get_device(c->store, sender, device, &row) == VT_OK &&
            !vt_equal(row.identity_key, pm.identity_key, 32)) {
            s.seen_ik = pm.identity_key;
            (void)fire(&s, VT_SESSION_EV_IDENTITY_CHANGED);
            err = VT_ERR_PERMISSION_DENIED;
            goto out;
        }
        s.seen_ik = pm.identity_key;
        /* step 5, CRYPTO-122: the session we hold with this base key */
        if (s.cur && vt_ratchet_get_role(s.cur) == VT_RATCHET_RESPONDER &&
            vt_equal(vt_ratchet_base_key(s.cur), pm.base_key, 32)) {
            err = scratch_decrypt(s.cur, pm.message, pm.message_len, pt, cap, pt_len,
                                  &s.cand);
            if (err != VT_OK) {
                (void)fire(&s, VT_SESSION_EV_DECRYPT_FAILED);
                goto out;
            }
            (void)fire(&s, VT_SESSION_EV_RECEIVE_PREKEY_MESSAGE); /* same_base_key */
            err = s.err;
            goto out;
        }
        if (load(c, sender, device, VC_SESSION_LOSING, &losing) == VT_OK &&
            vt_equal(vt_ratchet_base_key(losing), pm.base_key, 32)) {
            /* step 5 with the losing session: losing_base_key (SM-202) */
            s.losing = losing;
            err = scratch_decrypt(losing, pm.message, pm.message_len, pt, cap, pt_len,
                                  &s.cand);
            if (err != VT_OK) {
                (void)fire(&s, VT_SESSION_EV_DECRYPT_FAILED);
                goto out;
            }
            (void)fire(&s, VT_SESSION_EV_RECEIVE_PREKEY_MESSAGE);
            err = s.err;
            goto out;
        }
        vt_ratchet_free(losing);
        /* steps 6 to 9 */
        {
            vt_x3dh_keys keys = {c,          c->id,         k_signed,
                                 k_one_time, k_last_resort, k_base_used};
            err = vt_x3dh_respond(&s.cand, &s.commit, pt, cap, pt_len, &pm, &keys,
                                  vc_now_s(), NULL);
        }
        if (err != VT_OK) {
            (void)fire(&s, VT_SESSION_EV_DECRYPT_FAILED);
            goto out;
        }
        s.has_commit = true;
        /* step 10: commit_responder_session or keep_losing_session */
        (void)fire(&s, VT_SESSION_EV_RECEIVE_PREKEY_MESSAGE);
        err = s.err;
    }
out:
    if (err != VT_OK && *pt_len) {
        vt_wipe(pt, *pt_len);
        *pt_len = 0;
    }
    sctx_done(&s);
    return err;
}

vt_err vc_session_accept(vt_client *c, const char *username)
{
    vc_device_row rows[16];
    size_t n = 0;
    vt_err err = vc_store_list_devices(c->store, username, rows, 16, &n);

    for (size_t i = 0; err == VT_OK && i < n && i < 16; i++) {
        sctx s;
        if (rows[i].trust != VC_TRUST_CHANGED)
            continue;
        memset(&s, 0, sizeof s);
        s.c = c;
        s.user = username;
        s.dev = rows[i].device_id;
        (void)fire(&s, VT_SESSION_EV_USER_ACCEPTED_KEY); /* discard, trust pending */
        err = s.err;
        sctx_done(&s);
    }
    vt_wipe(rows, sizeof rows);
    return err;
}
