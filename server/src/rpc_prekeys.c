/* Handlers of service Prekeys: UploadPrekeys, FetchBundles, GetPrekeyCount
 * (spec/wire.md 5.11 to 5.13; spec/crypto.md Prekeys). Each one-time
 * prekey is handed out at most once: taking it is a store write that is
 * flushed before the bundle leaves (WIRE-310). */
#include <string.h>

#include "log.h"
#include "server.h"
#include "ventra/prekeys.h"

static bool signed_form_ok(const Ventra__V1__SignedPrekey *k)
{
    return !k || (k->id != 0 && vtd_bytes_len(&k->public_key, VT_KEY_LEN) &&
                  vtd_bytes_len(&k->signature, VT_SIGNATURE_LEN));
}

static bool signature_ok(const uint8_t ik[VT_KEY_LEN], const Ventra__V1__SignedPrekey *k,
                         bool last_resort)
{
    return !k || vt_prekey_signature_verify(ik, last_resort, k->id, k->public_key.data,
                                            k->signature.data) == VT_OK;
}

static void to_store_key(vtd_signed_prekey *out, const Ventra__V1__SignedPrekey *k)
{
    out->id = k->id;
    memcpy(out->public_key, k->public_key.data, VT_KEY_LEN);
    memcpy(out->signature, k->signature.data, VT_SIGNATURE_LEN);
}

void vt_srv_handle_upload_prekeys(vt_srv_conn *conn, vt_srv_call *call,
                                  const Ventra__V1__UploadPrekeysRequest *req)
{
    vtd_server *srv = conn->srv;
    vtd_store *st = srv->store;
    if (!signed_form_ok(req->signed_prekey) || !signed_form_ok(req->last_resort_prekey)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "signed prekey not valid");
        return;
    }
    for (size_t i = 0; i < req->n_one_time_prekeys; i++) {
        const Ventra__V1__OneTimePrekey *k = req->one_time_prekeys[i];
        if (k->id == 0 || !vtd_bytes_len(&k->public_key, VT_KEY_LEN)) {
            vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "one-time prekey not valid");
            return;
        }
        for (size_t j = 0; j < i; j++)
            if (req->one_time_prekeys[j]->id == k->id) {
                vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT,
                                "one-time prekey id repeated");
                return;
            }
    }
    uint32_t fresh = 0, stored = 0;
    for (size_t i = 0; i < req->n_one_time_prekeys; i++) {
        const Ventra__V1__OneTimePrekey *k = req->one_time_prekeys[i];
        uint8_t have[VT_KEY_LEN];
        bool present = false;
        vt_err err = vtd_store_one_time_prekey_get(st, conn->acct, conn->device_id, k->id,
                                                   have, &present);
        if (err != VT_OK) {
            vtd_reply_internal(call, "otk_get", err);
            return;
        }
        if (present && !vt_equal(have, k->public_key.data, VT_KEY_LEN)) {
            vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT,
                            "one-time prekey id stored with another key");
            return;
        }
        fresh += !present;
    }
    vtd_device me;
    vt_err err = vtd_store_device_get(st, conn->acct, conn->device_id, &me);
    if (err != VT_OK) {
        vtd_reply_internal(call, "device_get", err);
        return;
    }
    if (!signature_ok(me.identity_key, req->signed_prekey, false) ||
        !signature_ok(me.identity_key, req->last_resort_prekey, true)) { /* CRYPTO-21 */
        vtd_reply_error(call, VT_ERR_BAD_SIGNATURE, "prekey signature does not verify");
        return;
    }
    err = vtd_store_one_time_prekey_count(st, conn->acct, conn->device_id, &stored);
    if (err != VT_OK) {
        vtd_reply_internal(call, "otk_count", err);
        return;
    }
    if (stored + fresh > VT_MAX_ONE_TIME_PREKEYS_STORED) {
        vtd_reply_error(call, VT_ERR_LIMIT_EXCEEDED, "too many one-time prekeys stored");
        return;
    }
    if (!vtd_op_begin(call))
        return;
    vtd_signed_prekey sk;
    if (req->signed_prekey) {
        to_store_key(&sk, req->signed_prekey);
        err = vtd_store_signed_prekey_set(st, conn->acct, conn->device_id, false, &sk);
    }
    if (err == VT_OK && req->last_resort_prekey) {
        to_store_key(&sk, req->last_resort_prekey);
        err = vtd_store_signed_prekey_set(st, conn->acct, conn->device_id, true, &sk);
    }
    for (size_t i = 0; err == VT_OK && i < req->n_one_time_prekeys; i++) {
        vtd_one_time_prekey k;
        bool added;
        k.id = req->one_time_prekeys[i]->id;
        memcpy(k.public_key, req->one_time_prekeys[i]->public_key.data, VT_KEY_LEN);
        err = vtd_store_one_time_prekey_add(st, conn->acct, conn->device_id, &k, &added);
    }
    if (!vtd_op_end(call, err == VT_OK))
        return;
    if (err != VT_OK) {
        vtd_reply_internal(call, "upload", err);
        return;
    }
    Ventra__V1__UploadPrekeysResponse r = VENTRA__V1__UPLOAD_PREKEYS_RESPONSE__INIT;
    r.one_time_count = stored + fresh;
    vt_srv_reply_upload_prekeys(call, &r);
}

/* One bundle under construction, with the storage its message points at. */
typedef struct bundle {
    Ventra__V1__PrekeyBundle msg;
    Ventra__V1__SignedPrekey spk, lrk;
    Ventra__V1__OneTimePrekey otk;
    vtd_device dev;
    vtd_signed_prekey s, l;
    vtd_one_time_prekey o;
    bool has_lr, took;
    uint32_t left;
} bundle;

static void wire_signed(Ventra__V1__SignedPrekey *m, vtd_signed_prekey *k)
{
    ventra__v1__signed_prekey__init(m);
    m->id = k->id;
    m->public_key.data = k->public_key;
    m->public_key.len = VT_KEY_LEN;
    m->signature.data = k->signature;
    m->signature.len = VT_SIGNATURE_LEN;
}

void vt_srv_handle_fetch_bundles(vt_srv_conn *conn, vt_srv_call *call,
                                 const Ventra__V1__FetchBundlesRequest *req)
{
    vtd_server *srv = conn->srv;
    vtd_store *st = srv->store;
    if (!vtd_username_ok(req->username)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "username is not well-formed");
        return;
    }
    bool own = strcmp(req->username, conn->username) == 0;
    for (size_t i = 0; i < req->n_device_ids; i++) {
        bool bad =
            req->device_ids[i] == 0 || (own && req->device_ids[i] == conn->device_id);
        for (size_t j = 0; j < i && !bad; j++)
            bad = req->device_ids[j] == req->device_ids[i];
        if (bad) {
            vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "device_ids not valid");
            return;
        }
    }
    vtd_account_id acct = 0;
    vtd_device devs[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    size_t n = 0;
    vt_err err = VT_OK;
    if (!vtd_account_devices(call, req->username, &acct, devs, &n))
        return;
    /* the requested devices, in increasing id (devs is sorted) */
    bundle b[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        bool want = req->n_device_ids == 0
                        ? !(own && devs[i].device_id == conn->device_id)
                        : false;
        for (size_t j = 0; j < req->n_device_ids; j++)
            want = want || req->device_ids[j] == devs[i].device_id;
        if (want)
            b[nb++].dev = devs[i];
    }
    if (nb < req->n_device_ids) {
        vtd_reply_error(call, VT_ERR_NOT_FOUND, "a requested device is not active");
        return;
    }
    for (size_t i = 0; i < nb; i++) {
        bool has_s = false;
        uint32_t count = 0;
        err = vtd_store_signed_prekey_get(st, acct, b[i].dev.device_id, false, &b[i].s,
                                          &has_s);
        if (err == VT_OK)
            err = vtd_store_signed_prekey_get(st, acct, b[i].dev.device_id, true, &b[i].l,
                                              &b[i].has_lr);
        if (err == VT_OK)
            err = vtd_store_one_time_prekey_count(st, acct, b[i].dev.device_id, &count);
        if (err != VT_OK) {
            vtd_reply_internal(call, "fetch read", err);
            return;
        }
        if (!has_s || (count == 0 && !b[i].has_lr)) {
            vtd_reply_error(call, VT_ERR_NO_PREKEYS, "a requested device has no bundle");
            return;
        }
        uint32_t retry = 0; /* WIRE-72 bundles: keyed by target device */
        struct {
            vtd_account_id a;
            uint32_t d;
        } key = {acct, b[i].dev.device_id};
        if (count > 0 &&
            !vtd_limit_check(srv, VTD_LIMIT_BUNDLES, &key, sizeof key, &retry)) {
            vtd_reply_rate_limited(call, retry);
            return;
        }
    }
    if (!vtd_op_begin(call))
        return;
    for (size_t i = 0; err == VT_OK && i < nb; i++) {
        err = vtd_store_one_time_prekey_take(st, acct, b[i].dev.device_id, &b[i].o,
                                             &b[i].took);
        if (err == VT_OK && b[i].took)
            err =
                vtd_store_one_time_prekey_count(st, acct, b[i].dev.device_id, &b[i].left);
    }
    if (!vtd_op_end(call, err == VT_OK))
        return;
    if (err != VT_OK) {
        vtd_reply_internal(call, "fetch take", err);
        return;
    }
    Ventra__V1__PrekeyBundle *ptrs[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    for (size_t i = 0; i < nb; i++) {
        Ventra__V1__PrekeyBundle *m = &b[i].msg;
        ventra__v1__prekey_bundle__init(m);
        m->device_id = b[i].dev.device_id;
        m->identity_key.data = b[i].dev.identity_key;
        m->identity_key.len = VT_KEY_LEN;
        wire_signed(&b[i].spk, &b[i].s);
        m->signed_prekey = &b[i].spk;
        if (b[i].took) { /* never both (WIRE-310) */
            ventra__v1__one_time_prekey__init(&b[i].otk);
            b[i].otk.id = b[i].o.id;
            b[i].otk.public_key.data = b[i].o.public_key;
            b[i].otk.public_key.len = VT_KEY_LEN;
            m->one_time_prekey = &b[i].otk;
        } else {
            wire_signed(&b[i].lrk, &b[i].l);
            m->last_resort_prekey = &b[i].lrk;
        }
        ptrs[i] = m;
    }
    Ventra__V1__FetchBundlesResponse r = VENTRA__V1__FETCH_BUNDLES_RESPONSE__INIT;
    r.n_bundles = nb;
    r.bundles = ptrs;
    vt_srv_reply_fetch_bundles(call, &r);
    for (size_t i = 0; i < nb; i++) {
        if (!b[i].took)
            continue;
        uint32_t retry = 0;
        struct {
            vtd_account_id a;
            uint32_t d;
        } key = {acct, b[i].dev.device_id};
        (void)vtd_limit_take(srv, VTD_LIMIT_BUNDLES, &key, sizeof key, &retry);
        if (b[i].left < VT_PREKEY_LOW_WATERMARK) /* WIRE-311 */
            vtd_notify_prekeys_low(srv, acct, b[i].dev.device_id, b[i].left);
    }
}

void vt_srv_handle_get_prekey_count(vt_srv_conn *conn, vt_srv_call *call,
                                    const Ventra__V1__GetPrekeyCountRequest *req)
{
    (void)req;
    vtd_store *st = conn->srv->store;
    Ventra__V1__GetPrekeyCountResponse r = VENTRA__V1__GET_PREKEY_COUNT_RESPONSE__INIT;
    vtd_signed_prekey k;
    bool s = false, l = false;
    uint32_t count = 0;
    vt_err err = vtd_store_one_time_prekey_count(st, conn->acct, conn->device_id, &count);
    if (err == VT_OK)
        err = vtd_store_signed_prekey_get(st, conn->acct, conn->device_id, false, &k, &s);
    if (err == VT_OK)
        err = vtd_store_signed_prekey_get(st, conn->acct, conn->device_id, true, &k, &l);
    if (err != VT_OK) {
        vtd_reply_internal(call, "prekey_count", err);
        return;
    }
    r.one_time_count = count;
    r.has_signed_prekey = s;
    r.has_last_resort_prekey = l;
    vt_srv_reply_get_prekey_count(call, &r);
}
