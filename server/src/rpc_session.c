/* Handlers of service Session: GetServerInfo, Ping, GetChallenge,
 * Register, Login, Resume (spec/wire.md 5.1 to 5.6; spec/auth.md
 * Challenges, Registration, Login, Session tokens, Resume). */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "server.h"
#include "token.h"
#include "ventra/identity.h"

void vt_srv_handle_get_server_info(vt_srv_conn *conn, vt_srv_call *call,
                                   const Ventra__V1__GetServerInfoRequest *req)
{
    (void)req;
    Ventra__V1__GetServerInfoResponse r = VENTRA__V1__GET_SERVER_INFO_RESPONSE__INIT;
    Ventra__V1__Limits l = VENTRA__V1__LIMITS__INIT;
    /* WIRE-62: the constants, exactly */
    l.max_frame_size = VT_MAX_FRAME_SIZE;
    l.max_content_size = VT_MAX_CONTENT_SIZE;
    l.max_devices_per_account = VT_MAX_DEVICES_PER_ACCOUNT;
    l.max_prekeys_per_upload = VT_MAX_PREKEYS_PER_UPLOAD;
    l.push_window = VT_PUSH_WINDOW;
    l.max_group_members = VT_MAX_GROUP_MEMBERS;
    l.max_inflight_requests = VT_MAX_INFLIGHT_REQUESTS;
    l.max_queue_depth = VT_MAX_QUEUE_DEPTH;
    r.server_key.data = conn->srv->server_pk;
    r.server_key.len = VT_KEY_LEN;
    r.protocol = (char *)VT_PROTOCOL_NAME;
    r.limits = &l;
    vt_srv_reply_get_server_info(call, &r);
}

void vt_srv_handle_ping(vt_srv_conn *conn, vt_srv_call *call,
                        const Ventra__V1__PingRequest *req)
{
    (void)conn;
    Ventra__V1__PingResponse r = VENTRA__V1__PING_RESPONSE__INIT;
    r.nonce = req->nonce;
    r.server_time_ms = vtd_now_ms();
    vt_srv_reply_ping(call, &r);
}

void vt_srv_handle_get_challenge(vt_srv_conn *conn, vt_srv_call *call,
                                 const Ventra__V1__GetChallengeRequest *req)
{
    int p = (int)req->purpose;
    if (p < VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_LOGIN ||
        p > VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_DELETE_ACCOUNT) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "unknown challenge purpose");
        return;
    }
    if (p != VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_DELETE_ACCOUNT &&
        conn->authed) {
        vtd_reply_error(call, VT_ERR_PERMISSION_DENIED, "already authenticated");
        return;
    }
    if (p == VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_DELETE_ACCOUNT &&
        !conn->authed) {
        vtd_reply_error(call, VT_ERR_UNAUTHENTICATED, "authenticate first");
        return;
    }
    /* AUTH-30, AUTH-32: fresh, and replacing the purpose's earlier one */
    if (vt_random_bytes(conn->challenge[p].nonce, VT_CHALLENGE_NONCE_LEN) != VT_OK) {
        vtd_reply_internal(call, "random", VT_ERR_CRYPTO);
        return;
    }
    conn->challenge[p].issued_s = vtd_now_s();
    conn->challenge[p].live = true;
    Ventra__V1__GetChallengeResponse r = VENTRA__V1__GET_CHALLENGE_RESPONSE__INIT;
    r.nonce.data = conn->challenge[p].nonce;
    r.nonce.len = VT_CHALLENGE_NONCE_LEN;
    r.expires_in_s = (uint32_t)VT_CHALLENGE_TTL_S;
    vt_srv_reply_get_challenge(call, &r);
}

static bool auth_forms_ok(const ProtobufCBinaryData *nonce,
                          const ProtobufCBinaryData *sig)
{
    return vtd_bytes_len(nonce, VT_CHALLENGE_NONCE_LEN) &&
           vtd_bytes_len(sig, VT_SIGNATURE_LEN);
}

/* Binds the connection (AUTH_OK) once the response is queued. */
static void authenticate(vt_srv_conn *c, vtd_account_id acct, uint32_t device_id,
                         const char *username)
{
    c->bind_acct = acct;
    c->bind_device = device_id;
    snprintf(c->bind_username, sizeof c->bind_username, "%s", username);
}

void vt_srv_handle_register(vt_srv_conn *conn, vt_srv_call *call,
                            const Ventra__V1__RegisterRequest *req)
{
    vtd_server *srv = conn->srv;
    uint32_t retry = 0;
    if (conn->authed) {
        vtd_reply_error(call, VT_ERR_PERMISSION_DENIED, "already authenticated");
        return;
    }
    if (!vtd_username_ok(req->username)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT, "username is not well-formed");
        return;
    }
    if (!vtd_bytes_len(&req->identity_key, VT_KEY_LEN) ||
        !auth_forms_ok(&req->nonce, &req->signature)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT,
                        "identity_key, nonce or signature has a wrong length");
        return;
    }
    if (!srv->cfg.registration_open) { /* AUTH-102 */
        vtd_reply_error(call, VT_ERR_PERMISSION_DENIED, "registration is closed");
        return;
    }
    /* AUTH-100: refused before the challenge is consumed */
    if (!vtd_limit_check(srv, VTD_LIMIT_REGISTRATIONS, conn->peer, strlen(conn->peer),
                         &retry)) {
        vtd_reply_rate_limited(call, retry);
        return;
    }
    if (!vtd_challenge_take(conn,
                            VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_REGISTER,
                            &req->nonce)) {
        vtd_reply_error(call, VT_ERR_BAD_CHALLENGE, "no such register challenge");
        return;
    }
    uint8_t t[VT_TRANSCRIPT_MAX];
    size_t tlen = 0;
    /* AUTH-15: an unacceptable key of the right length fails as a signature */
    if (!vt_ed25519_public_valid(req->identity_key.data) ||
        vt_transcript_register(t, sizeof t, &tlen, srv->server_pk, req->nonce.data,
                               req->nonce.len, req->username,
                               req->identity_key.data) != VT_OK ||
        vt_ed25519_verify(req->signature.data, t, tlen, req->identity_key.data) !=
            VT_OK) {
        vtd_reply_error(call, VT_ERR_BAD_SIGNATURE, "signature does not verify");
        return;
    }
    if (!vtd_op_begin(call))
        return;
    vtd_account_id acct = 0;
    vt_err err = vtd_store_account_create(
        srv->store, req->username, req->identity_key.data,
        req->device_name ? req->device_name : "", vtd_now_s(), &acct);
    char token[VT_MAX_TOKEN_LEN + 1];
    uint64_t exp = 0;
    authenticate(conn, acct, 1, req->username);
    if (err == VT_OK)
        err = vtd_issue_token(conn, token, &exp);
    if (!vtd_op_end(call, err == VT_OK) || err != VT_OK)
        vt_wipe(token, sizeof token); /* issued, perhaps, but not kept */
    if (call->replied)
        return;
    if (err == VT_ERR_ALREADY_EXISTS) {
        vtd_reply_error(call, VT_ERR_ALREADY_EXISTS, "username is taken");
        return;
    }
    if (err != VT_OK) {
        vtd_reply_internal(call, "register", err);
        return;
    }
    (void)vtd_limit_take(srv, VTD_LIMIT_REGISTRATIONS, conn->peer, strlen(conn->peer),
                         &retry);
    Ventra__V1__RegisterResponse r = VENTRA__V1__REGISTER_RESPONSE__INIT;
    r.device_id = 1;
    r.token = token;
    r.token_expires_at = exp;
    vt_srv_reply_register(call, &r);
    vt_wipe(token, sizeof token); /* a bearer credential (AUTH-54) */
    vtd_log(VTD_LOG_DEBUG, "registered", NULL);
    vtd_conn_fire(conn, VT_SERVER_CONN_EV_AUTH_OK);
}

/* A fixed, valid key to verify against when there is no device, so a
 * failed Login takes the same time either way (AUTH-41). */
static const uint8_t dummy_key[32] = {
    0x03, 0xa1, 0x07, 0xbf, 0xf3, 0xce, 0x10, 0xbe, 0x1d, 0x70, 0xdd,
    0x18, 0xe7, 0x4b, 0xc0, 0x99, 0x67, 0xe4, 0xd6, 0x30, 0x9b, 0xa5,
    0x0d, 0x5f, 0x1d, 0xdc, 0x86, 0x64, 0x12, 0x55, 0x31, 0xb8,
};

void vt_srv_handle_login(vt_srv_conn *conn, vt_srv_call *call,
                         const Ventra__V1__LoginRequest *req)
{
    vtd_server *srv = conn->srv;
    uint32_t retry = 0;
    if (conn->authed) {
        vtd_reply_error(call, VT_ERR_PERMISSION_DENIED, "already authenticated");
        return;
    }
    if (!vtd_username_ok(req->username) || req->device_id == 0) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT,
                        "username or device_id is not valid");
        return;
    }
    if (!auth_forms_ok(&req->nonce, &req->signature)) {
        vtd_reply_error(call, VT_ERR_INVALID_ARGUMENT,
                        "nonce or signature has a wrong length");
        return;
    }
    size_t ulen = strlen(req->username);
    if (!vtd_limit_check(srv, VTD_LIMIT_FAILED_LOGINS, req->username, ulen, &retry)) {
        vtd_reply_rate_limited(call, retry);
        return;
    }
    if (!vtd_challenge_take(conn, VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_LOGIN,
                            &req->nonce)) {
        vtd_reply_error(call, VT_ERR_BAD_CHALLENGE, "no such login challenge");
        return;
    }
    /* AUTH-40 step 4, AUTH-41: one answer for every way of failing */
    vtd_account_id acct = 0;
    vtd_device dev;
    uint64_t now = vtd_now_s();
    bool known = vtd_store_account_find(srv->store, req->username, &acct) == VT_OK &&
                 vtd_store_device_get(srv->store, acct, req->device_id, &dev) == VT_OK &&
                 (dev.active || dev.expires_at > now);
    uint8_t t[VT_TRANSCRIPT_MAX];
    size_t tlen = 0;
    bool ok =
        vt_transcript_login(t, sizeof t, &tlen, srv->server_pk, req->nonce.data,
                            req->nonce.len, req->username, req->device_id) == VT_OK &&
        vt_ed25519_verify(req->signature.data, t, tlen,
                          known ? dev.identity_key : dummy_key) == VT_OK &&
        known;
    if (!ok) {
        (void)vtd_limit_take(srv, VTD_LIMIT_FAILED_LOGINS, req->username, ulen, &retry);
        vtd_reply_error(call, VT_ERR_BAD_SIGNATURE, "login failed");
        return;
    }
    if (!vtd_op_begin(call))
        return;
    char token[VT_MAX_TOKEN_LEN + 1];
    uint64_t exp = 0;
    vt_err err =
        dev.active ? VT_OK : vtd_store_device_activate(srv->store, acct, req->device_id);
    authenticate(conn, acct, req->device_id, req->username);
    if (err == VT_OK)
        err = vtd_issue_token(conn, token, &exp);
    if (!vtd_op_end(call, err == VT_OK) || err != VT_OK)
        vt_wipe(token, sizeof token); /* issued, perhaps, but not kept */
    if (call->replied)
        return;
    if (err != VT_OK) {
        vtd_reply_internal(call, "login", err);
        return;
    }
    Ventra__V1__LoginResponse r = VENTRA__V1__LOGIN_RESPONSE__INIT;
    r.token = token;
    r.token_expires_at = exp;
    vt_srv_reply_login(call, &r);
    vt_wipe(token, sizeof token);
    vtd_conn_fire(conn, VT_SERVER_CONN_EV_AUTH_OK);
}

void vt_srv_handle_resume(vt_srv_conn *conn, vt_srv_call *call,
                          const Ventra__V1__ResumeRequest *req)
{
    vtd_server *srv = conn->srv;
    if (conn->authed) {
        vtd_reply_error(call, VT_ERR_PERMISSION_DENIED, "already authenticated");
        return;
    }
    /* AUTH-51: form, header, signature, claims, expiry, then revocation */
    vtd_token_claims cl;
    vtd_account_id acct = 0;
    vtd_device dev;
    bool valid = false;
    const char *tok = req->token ? req->token : "";
    if (vtd_token_verify(tok, strlen(tok), srv->server_pk, vtd_now_s(), &cl) == VT_OK &&
        vtd_store_account_find(srv->store, cl.sub, &acct) == VT_OK &&
        vtd_store_device_get(srv->store, acct, cl.dev, &dev) == VT_OK && dev.active &&
        vtd_store_token_valid(srv->store, cl.jti, acct, cl.dev, &valid) == VT_OK &&
        valid) {
        if (!vtd_op_begin(call))
            return;
        char token[VT_MAX_TOKEN_LEN + 1];
        uint64_t exp = 0;
        authenticate(conn, acct, cl.dev, cl.sub);
        vt_err err = vtd_issue_token(conn, token, &exp);
        if (!vtd_op_end(call, err == VT_OK) || err != VT_OK)
            vt_wipe(token, sizeof token); /* issued, perhaps, but not kept */
        if (call->replied)
            return;
        if (err != VT_OK) {
            vtd_reply_internal(call, "resume", err);
            return;
        }
        Ventra__V1__ResumeResponse r = VENTRA__V1__RESUME_RESPONSE__INIT;
        r.username = cl.sub;
        r.device_id = cl.dev;
        r.token = token;
        r.token_expires_at = exp;
        vt_srv_reply_resume(call, &r);
        vt_wipe(token, sizeof token);
        vtd_conn_fire(conn, VT_SERVER_CONN_EV_AUTH_OK);
        return;
    }
    vtd_reply_error(call, VT_ERR_BAD_TOKEN, "token is not valid");
}
