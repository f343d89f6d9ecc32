/* Handlers of service Devices: AddDevice, RemoveDevice, ListDevices,
 * DeleteAccount (spec/wire.md 5.7 to 5.10; spec/auth.md Linking, Listing
 * devices, Removing a device, Deleting an account). */
#include <string.h>

#include "log.h"
#include "server.h"
#include "ventra/identity.h"

void vt_srv_handle_add_device(vt_srv_conn *conn, vt_srv_call *call,
                              const Ventra__V1__AddDeviceRequest *req)
{
    vtd_server *srv = conn->srv;
    if (!vtd_bytes_len(&req->identity_key, VT_KEY_LEN) ||
        !vt_ed25519_public_valid(req->identity_key.data) ||
        !vtd_bytes_len(&req->signature, VT_SIGNATURE_LEN)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT,
                        "identity_key or signature not valid");
        return;
    }
    uint8_t t[VT_TRANSCRIPT_MAX];
    size_t tlen = 0;
    int ok = 0;
    if (vt_transcript_link(t, sizeof t, &tlen, srv->server_pk, conn->username,
                           conn->device_id, req->identity_key.data) == VT_OK &&
        (ok = vtd_caller_signed(call, t, tlen, &req->signature)) < 0)
        return;
    if (!ok) {
        vtd_reply_error(call, VT_ERR_BAD_SIGNATURE, "link signature does not verify");
        return;
    }
    vtd_device devs[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    size_t n = 0;
    uint64_t now = vtd_now_s();
    vt_err err = vtd_store_devices_list(srv->store, conn->acct, true, now, devs,
                                        sizeof devs / sizeof devs[0], &n);
    if (err != VT_OK) {
        vtd_reply_internal(call, "devices_list", err);
        return;
    }
    Ventra__V1__AddDeviceResponse r = VENTRA__V1__ADD_DEVICE_RESPONSE__INIT;
    for (size_t i = 0; i < n; i++) {
        if (!vt_equal(devs[i].identity_key, req->identity_key.data, VT_KEY_LEN))
            continue;
        if (devs[i].active) {
            vtd_reply_error(call, VT_ERR_ALREADY_EXISTS, "an active device has this key");
            return;
        }
        /* WIRE-200: a retried AddDevice answers the same pending device */
        r.device_id = devs[i].device_id;
        r.expires_at = devs[i].expires_at;
        vt_srv_reply_add_device(call, &r);
        return;
    }
    if (n >= VT_MAX_DEVICES_PER_ACCOUNT) { /* AUTH-5 */
        vtd_reply_error(call, VT_ERR_LIMIT_EXCEEDED, "the account has its most devices");
        return;
    }
    if (!vtd_op_begin(call))
        return;
    uint32_t id = 0;
    uint64_t expires = now + VT_LINK_TTL_S;
    err = vtd_store_device_add_pending(srv->store, conn->acct, req->identity_key.data,
                                       req->device_name ? req->device_name : "", now,
                                       expires, &id);
    if (!vtd_op_end(call, err == VT_OK))
        return;
    if (err == VT_ERR_LIMIT_EXCEEDED) {
        vtd_reply_error(call, VT_ERR_LIMIT_EXCEEDED, "device ids exhausted");
        return;
    }
    if (err != VT_OK) {
        vtd_reply_internal(call, "add_pending", err);
        return;
    }
    r.device_id = id;
    r.expires_at = expires;
    vt_srv_reply_add_device(call, &r);
}

static size_t count_active(const vtd_device *devs, size_t n)
{
    size_t a = 0;
    for (size_t i = 0; i < n; i++)
        a += devs[i].active;
    return a;
}

void vt_srv_handle_remove_device(vt_srv_conn *conn, vt_srv_call *call,
                                 const Ventra__V1__RemoveDeviceRequest *req)
{
    vtd_server *srv = conn->srv;
    Ventra__V1__RemoveDeviceResponse r = VENTRA__V1__REMOVE_DEVICE_RESPONSE__INIT;
    if (req->device_id == 0) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "device_id is 0");
        return;
    }
    bool issued = false;
    vt_err err = vtd_store_device_issued(srv->store, conn->acct, req->device_id, &issued);
    if (err != VT_OK) {
        vtd_reply_internal(call, "device_issued", err);
        return;
    }
    if (!issued) {
        vtd_reply_error(call, VT_ERR_NOT_FOUND, "no such device");
        return;
    }
    vtd_device dev;
    uint64_t now = vtd_now_s();
    err = vtd_store_device_get(srv->store, conn->acct, req->device_id, &dev);
    if (err == VT_ERR_NOT_FOUND ||
        (err == VT_OK && !dev.active && dev.expires_at <= now)) {
        vt_srv_reply_remove_device(call, &r); /* AUTH-85: already gone */
        return;
    }
    if (err != VT_OK) {
        vtd_reply_internal(call, "device_get", err);
        return;
    }
    if (dev.active) {
        vtd_device devs[VT_MAX_DEVICES_PER_ACCOUNT + 1];
        size_t n = 0;
        err = vtd_active_devices(srv->store, conn->acct, devs, &n);
        if (err != VT_OK) {
            vtd_reply_internal(call, "devices_list", err);
            return;
        }
        if (count_active(devs, n) <= 1) {
            vtd_reply_error(call, VT_ERR_PERMISSION_DENIED,
                            "the only active device; delete the account instead");
            return;
        }
    }
    if (!vtd_op_begin(call))
        return;
    err = vtd_store_device_remove(srv->store, conn->acct, req->device_id);
    if (!vtd_op_end(call, err == VT_OK))
        return;
    if (err != VT_OK) {
        vtd_reply_internal(call, "device_remove", err);
        return;
    }
    vt_srv_reply_remove_device(call, &r);
    /* AUTH-86: the answer first, then the event and the close */
    vtd_end_device_sessions(
        srv, conn->acct, req->device_id,
        VENTRA__V1__SESSION_END_REASON__SESSION_END_REASON_DEVICE_REMOVED);
}

void vt_srv_handle_list_devices(vt_srv_conn *conn, vt_srv_call *call,
                                const Ventra__V1__ListDevicesRequest *req)
{
    const char *name = req->username && req->username[0] ? req->username : conn->username;
    if (!vtd_username_ok(name)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "username is not well-formed");
        return;
    }
    vtd_account_id acct = 0;
    vtd_device devs[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    size_t n = 0;
    if (!vtd_account_devices(call, name, &acct, devs, &n))
        return;
    bool own = acct == conn->acct; /* AUTH-6: names only to the account */
    Ventra__V1__DeviceInfo infos[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    Ventra__V1__DeviceInfo *ptrs[VT_MAX_DEVICES_PER_ACCOUNT + 1];
    for (size_t i = 0; i < n; i++) {
        ventra__v1__device_info__init(&infos[i]);
        infos[i].device_id = devs[i].device_id;
        infos[i].identity_key.data = devs[i].identity_key;
        infos[i].identity_key.len = VT_KEY_LEN;
        infos[i].name = own ? devs[i].name : (char *)"";
        infos[i].created_at = own ? devs[i].created_at : 0;
        ptrs[i] = &infos[i];
    }
    Ventra__V1__ListDevicesResponse r = VENTRA__V1__LIST_DEVICES_RESPONSE__INIT;
    r.n_devices = n;
    r.devices = ptrs;
    vt_srv_reply_list_devices(call, &r);
}

void vt_srv_handle_delete_account(vt_srv_conn *conn, vt_srv_call *call,
                                  const Ventra__V1__DeleteAccountRequest *req)
{
    vtd_server *srv = conn->srv;
    uint32_t retry = 0;
    if (!vtd_bytes_len(&req->nonce, VT_CHALLENGE_NONCE_LEN) ||
        !vtd_bytes_len(&req->signature, VT_SIGNATURE_LEN)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT,
                        "nonce or signature has a wrong length");
        return;
    }
    size_t ulen = strlen(conn->username);
    if (!vtd_limit_check(srv, VTD_LIMIT_FAILED_LOGINS, conn->username, ulen, &retry)) {
        vtd_reply_rate_limited(call, retry);
        return;
    }
    if (!vtd_challenge_take(
            conn, VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_DELETE_ACCOUNT,
            &req->nonce)) {
        vtd_reply_error(call, VT_ERR_BAD_CHALLENGE, "no such delete-account challenge");
        return;
    }
    uint8_t t[VT_TRANSCRIPT_MAX];
    size_t tlen = 0;
    int ok = 0;
    if (vt_transcript_delete_account(t, sizeof t, &tlen, srv->server_pk, req->nonce.data,
                                     req->nonce.len, conn->username,
                                     conn->device_id) == VT_OK &&
        (ok = vtd_caller_signed(call, t, tlen, &req->signature)) < 0)
        return;
    if (!ok) {
        (void)vtd_limit_take(srv, VTD_LIMIT_FAILED_LOGINS, conn->username, ulen, &retry);
        vtd_reply_error(call, VT_ERR_BAD_SIGNATURE, "signature does not verify");
        return;
    }
    if (!vtd_op_begin(call))
        return;
    static uint8_t changed[VT_MAX_GROUPS_PER_ACCOUNT][VTD_GROUP_ID_LEN];
    size_t n_changed = 0;
    vt_err err = vtd_groups_leave_all(srv, conn->acct, changed, &n_changed);
    if (err == VT_OK)
        err = vtd_store_account_delete(srv->store, conn->acct);
    if (!vtd_op_end(call, err == VT_OK))
        return;
    if (err != VT_OK) {
        vtd_reply_internal(call, "delete_account", err);
        return;
    }
    Ventra__V1__DeleteAccountResponse r = VENTRA__V1__DELETE_ACCOUNT_RESPONSE__INIT;
    vt_srv_reply_delete_account(call, &r);
    vtd_groups_notify(srv, (const uint8_t(*)[VTD_GROUP_ID_LEN])changed, n_changed,
                      conn->username);
    /* AUTH-92: every connection of the account, the caller's last */
    vtd_account_id acct = conn->acct;
    vtd_end_device_sessions(
        srv, acct, 0, VENTRA__V1__SESSION_END_REASON__SESSION_END_REASON_ACCOUNT_DELETED);
}
