/* What the RPC handlers share: typed error answers (spec/wire.md 3,
 * WIRE-41, WIRE-43), the username and length forms of section 5, store
 * operations around a handler, token issuance (AUTH-50) and the ends of
 * sessions (WIRE-9, WIRE-601). */
#include <string.h>

#include "log.h"
#include "server.h"
#include "token.h"

static void reply_error_full(vt_srv_call *call, vt_err code, const char *message,
                             uint32_t retry_ms)
{
    Ventra__V1__Error e = VENTRA__V1__ERROR__INIT;
    Ventra__V1__Response resp = VENTRA__V1__RESPONSE__INIT;
    e.code = (Ventra__V1__ErrorCode)(code < VT_ERR_LOCAL_FIRST ? code : VT_ERR_INTERNAL);
    e.message = (char *)(message ? message : "");
    e.retry_after_ms = retry_ms;
    resp.error = &e;
    vt_srv_call_reply(call, &resp);
}

void vtd_reply_error(vt_srv_call *call, vt_err code, const char *message)
{
    reply_error_full(call, code, message, 0);
}

void vtd_reply_rate_limited(vt_srv_call *call, uint32_t retry_after_ms)
{
    reply_error_full(call, VT_ERR_RATE_LIMITED, "rate limited", retry_after_ms);
}

void vtd_reply_internal(vt_srv_call *call, const char *what, vt_err err)
{
    vtd_log(VTD_LOG_ERROR, "internal error", "where=%s err=%s", what, vt_strerror(err));
    reply_error_full(call, VT_ERR_INTERNAL, "internal error", 0);
}

bool vtd_username_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < VT_MIN_USERNAME_LEN || n > VT_MAX_USERNAME_LEN ||
        !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

bool vtd_bytes_len(const ProtobufCBinaryData *b, size_t n)
{
    return b->len == n && (n == 0 || b->data != NULL);
}

bool vtd_op_begin(vt_srv_call *call)
{
    vt_err err = vtd_store_op_begin(call->conn->srv->store);
    if (err != VT_OK) {
        vtd_reply_internal(call, "op_begin", err);
        return false;
    }
    return true;
}

bool vtd_op_end(vt_srv_call *call, bool keep)
{
    vt_err err = vtd_store_op_end(call->conn->srv->store, keep);
    if (err != VT_OK) {
        if (!call->replied)
            vtd_reply_internal(call, "op_end", err);
        return false;
    }
    return true;
}

vt_err vtd_issue_token(vt_srv_conn *c, char *token, uint64_t *exp)
{
    vtd_server *srv = c->srv;
    uint8_t jti[VTD_JTI_LEN];
    size_t len = 0;
    uint64_t iat = vtd_now_s();
    vt_err err = vt_random_bytes(jti, sizeof jti);
    if (err == VT_OK)
        err = vtd_token_issue(token, VT_MAX_TOKEN_LEN + 1, &len, srv->server_pk,
                              srv->server_sk, c->bind_username, c->bind_device, iat, jti);
    *exp = iat + VT_TOKEN_TTL_S;
    if (err == VT_OK) /* AUTH-52: a token is valid while its record lives */
        err = vtd_store_token_add(srv->store, jti, c->bind_acct, c->bind_device, *exp);
    return err;
}

void vtd_end_device_sessions(vtd_server *srv, vtd_account_id acct, uint32_t device_id,
                             int reason)
{
    for (vt_srv_conn *c = srv->conns; c; c = c->next)
        if (c->authed && c->acct == acct &&
            (device_id == 0 || c->device_id == device_id)) {
            vtd_hub_remove(srv, c);
            vtd_conn_end_session(c, reason);
        }
}

void vtd_notify_prekeys_low(vtd_server *srv, vtd_account_id acct, uint32_t device_id,
                            uint32_t count)
{
    vt_srv_conn *c = vtd_hub_get(srv, acct, device_id);
    if (!c)
        return;
    Ventra__V1__PrekeysLowEvent pl = VENTRA__V1__PREKEYS_LOW_EVENT__INIT;
    Ventra__V1__Event ev = VENTRA__V1__EVENT__INIT;
    pl.one_time_count = count;
    ev.body_case = VENTRA__V1__EVENT__BODY_PREKEYS_LOW;
    ev.prekeys_low = &pl;
    vtd_conn_emit_event(c, &ev);
}

bool vtd_challenge_take(vt_srv_conn *c, int purpose, const ProtobufCBinaryData *nonce)
{
    bool ok = c->challenge[purpose].live &&
              vtd_now_s() - c->challenge[purpose].issued_s <= VT_CHALLENGE_TTL_S &&
              vt_equal(c->challenge[purpose].nonce, nonce->data, VT_CHALLENGE_NONCE_LEN);
    c->challenge[purpose].live = false;
    vt_wipe(c->challenge[purpose].nonce, VT_CHALLENGE_NONCE_LEN);
    return ok;
}

int vtd_caller_signed(vt_srv_call *call, const uint8_t *transcript, size_t len,
                      const ProtobufCBinaryData *sig)
{
    vt_srv_conn *c = call->conn;
    vtd_device me;
    vt_err err = vtd_store_device_get(c->srv->store, c->acct, c->device_id, &me);
    if (err != VT_OK) {
        vtd_reply_internal(call, "caller device", err);
        return -1;
    }
    return vt_ed25519_verify(sig->data, transcript, len, me.identity_key) == VT_OK;
}

vt_err vtd_active_devices(vtd_store *st, vtd_account_id acct, vtd_device *out, size_t *n)
{
    return vtd_store_devices_list(st, acct, false, vtd_now_s(), out,
                                  VT_MAX_DEVICES_PER_ACCOUNT + 1, n);
}

bool vtd_account_devices(vt_srv_call *call, const char *username, vtd_account_id *acct,
                         vtd_device *out, size_t *n)
{
    vtd_store *st = call->conn->srv->store;
    vt_err err = vtd_store_account_find(st, username, acct);
    if (err == VT_ERR_NOT_FOUND) {
        vtd_reply_error(call, VT_ERR_NOT_FOUND, "no such account");
        return false;
    }
    if (err == VT_OK)
        err = vtd_active_devices(st, *acct, out, n);
    if (err != VT_OK) {
        vtd_reply_internal(call, "account devices", err);
        return false;
    }
    return true;
}
