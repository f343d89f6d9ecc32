/* One-call wrappers of the Session and Devices RPCs with every field under
 * the test's control (wrong lengths included), and the transcript
 * signatures of spec/auth.md AUTH-12 made by a given key. */
#define _GNU_SOURCE
#include <string.h>

#include "vtc.h"
#include "vtc_int.h"

static ProtobufCBinaryData bin(const uint8_t *p, size_t len)
{
    ProtobufCBinaryData b;

    b.data = (uint8_t *)p;
    b.len = p ? len : 0;
    return b;
}

Ventra__V1__Response *vtc_rpc_server_info(vtc_client *c)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__GetServerInfoRequest body = VENTRA__V1__GET_SERVER_INFO_REQUEST__INIT;

    req.body_case = VENTRA__V1__REQUEST__BODY_GET_SERVER_INFO;
    req.get_server_info = &body;
    return vtc_call(c, &req);
}

Ventra__V1__Response *vtc_rpc_ping(vtc_client *c, uint64_t nonce)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__PingRequest body = VENTRA__V1__PING_REQUEST__INIT;

    body.nonce = nonce;
    req.body_case = VENTRA__V1__REQUEST__BODY_PING;
    req.ping = &body;
    return vtc_call(c, &req);
}

Ventra__V1__Response *vtc_rpc_get_challenge(vtc_client *c, int purpose)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__GetChallengeRequest body = VENTRA__V1__GET_CHALLENGE_REQUEST__INIT;

    body.purpose = (Ventra__V1__ChallengePurpose)purpose;
    req.body_case = VENTRA__V1__REQUEST__BODY_GET_CHALLENGE;
    req.get_challenge = &body;
    return vtc_call(c, &req);
}

Ventra__V1__Response *vtc_rpc_register(vtc_client *c, const char *username,
                                       const uint8_t *ik, size_t ik_len,
                                       const uint8_t *nonce, size_t nonce_len,
                                       const uint8_t *sig, size_t sig_len)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__RegisterRequest body = VENTRA__V1__REGISTER_REQUEST__INIT;

    body.username = (char *)username;
    body.identity_key = bin(ik, ik_len);
    body.nonce = bin(nonce, nonce_len);
    body.signature = bin(sig, sig_len);
    req.body_case = VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT;
    req.register_account = &body;
    return vtc_call(c, &req);
}

Ventra__V1__Response *vtc_rpc_login(vtc_client *c, const char *username,
                                    uint32_t device_id, const uint8_t *nonce,
                                    size_t nonce_len, const uint8_t *sig, size_t sig_len)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__LoginRequest body = VENTRA__V1__LOGIN_REQUEST__INIT;

    body.username = (char *)username;
    body.device_id = device_id;
    body.nonce = bin(nonce, nonce_len);
    body.signature = bin(sig, sig_len);
    req.body_case = VENTRA__V1__REQUEST__BODY_LOGIN;
    req.login = &body;
    return vtc_call(c, &req);
}

Ventra__V1__Response *vtc_rpc_resume(vtc_client *c, const char *token)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__ResumeRequest body = VENTRA__V1__RESUME_REQUEST__INIT;

    body.token = (char *)token;
    req.body_case = VENTRA__V1__REQUEST__BODY_RESUME;
    req.resume = &body;
    return vtc_call(c, &req);
}

Ventra__V1__Response *vtc_rpc_add_device(vtc_client *c, const uint8_t *ik, size_t ik_len,
                                         const char *name, const uint8_t *sig,
                                         size_t sig_len)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__AddDeviceRequest body = VENTRA__V1__ADD_DEVICE_REQUEST__INIT;

    body.identity_key = bin(ik, ik_len);
    body.device_name = (char *)(name ? name : "");
    body.signature = bin(sig, sig_len);
    req.body_case = VENTRA__V1__REQUEST__BODY_ADD_DEVICE;
    req.add_device = &body;
    return vtc_call(c, &req);
}

Ventra__V1__Response *vtc_rpc_remove_device(vtc_client *c, uint32_t device_id)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__RemoveDeviceRequest body = VENTRA__V1__REMOVE_DEVICE_REQUEST__INIT;

    body.device_id = device_id;
    req.body_case = VENTRA__V1__REQUEST__BODY_REMOVE_DEVICE;
    req.remove_device = &body;
    return vtc_call(c, &req);
}

Ventra__V1__Response *vtc_rpc_list_devices(vtc_client *c, const char *username)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__ListDevicesRequest body = VENTRA__V1__LIST_DEVICES_REQUEST__INIT;

    body.username = (char *)(username ? username : "");
    req.body_case = VENTRA__V1__REQUEST__BODY_LIST_DEVICES;
    req.list_devices = &body;
    return vtc_call(c, &req);
}

Ventra__V1__Response *vtc_rpc_delete_account(vtc_client *c, const uint8_t *nonce,
                                             size_t nonce_len, const uint8_t *sig,
                                             size_t sig_len)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__DeleteAccountRequest body = VENTRA__V1__DELETE_ACCOUNT_REQUEST__INIT;

    body.nonce = bin(nonce, nonce_len);
    body.signature = bin(sig, sig_len);
    req.body_case = VENTRA__V1__REQUEST__BODY_DELETE_ACCOUNT;
    req.delete_account = &body;
    return vtc_call(c, &req);
}

/* ---- Transcript signatures (AUTH-12) ---------------------------------- */

static void sign(const vt_identity *id, const uint8_t *tr, size_t len, uint8_t sig[64])
{
    if (vt_identity_sign(id, sig, tr, len) != VT_OK)
        vtc_fail("vt_identity_sign failed");
}

void vtc_sign_register(const vt_identity *id, const uint8_t server_key[32],
                       const uint8_t *nonce, size_t nonce_len, const char *username,
                       const uint8_t identity_key[32], uint8_t sig[64])
{
    uint8_t tr[VT_TRANSCRIPT_MAX];
    size_t len;

    if (vt_transcript_register(tr, sizeof tr, &len, server_key, nonce, nonce_len,
                               username, identity_key) != VT_OK)
        vtc_fail("vt_transcript_register failed");
    sign(id, tr, len, sig);
}

void vtc_sign_login(const vt_identity *id, const uint8_t server_key[32],
                    const uint8_t *nonce, size_t nonce_len, const char *username,
                    uint32_t device_id, uint8_t sig[64])
{
    uint8_t tr[VT_TRANSCRIPT_MAX];
    size_t len;

    if (vt_transcript_login(tr, sizeof tr, &len, server_key, nonce, nonce_len, username,
                            device_id) != VT_OK)
        vtc_fail("vt_transcript_login failed");
    sign(id, tr, len, sig);
}

void vtc_sign_link(const vt_identity *id, const uint8_t server_key[32],
                   const char *username, uint32_t approving_device_id,
                   const uint8_t new_identity_key[32], uint8_t sig[64])
{
    uint8_t tr[VT_TRANSCRIPT_MAX];
    size_t len;

    if (vt_transcript_link(tr, sizeof tr, &len, server_key, username, approving_device_id,
                           new_identity_key) != VT_OK)
        vtc_fail("vt_transcript_link failed");
    sign(id, tr, len, sig);
}

void vtc_sign_delete_account(const vt_identity *id, const uint8_t server_key[32],
                             const uint8_t *nonce, size_t nonce_len, const char *username,
                             uint32_t device_id, uint8_t sig[64])
{
    uint8_t tr[VT_TRANSCRIPT_MAX];
    size_t len;

    if (vt_transcript_delete_account(tr, sizeof tr, &len, server_key, nonce, nonce_len,
                                     username, device_id) != VT_OK)
        vtc_fail("vt_transcript_delete_account failed");
    sign(id, tr, len, sig);
}

int vtc_delete_account(vtc_device *d)
{
    Ventra__V1__Response *r;
    uint8_t nonce[32], sig[64];
    int rc;

    if (d->c == NULL)
        return -1;
    if (!vtc_challenge(
            d->c, VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_DELETE_ACCOUNT, nonce))
        return -1;
    vtc_sign_delete_account(d->id, d->server_key, nonce, 32, d->username, d->device_id,
                            sig);
    r = vtc_rpc_delete_account(d->c, nonce, 32, sig, 64);
    rc = vtc_error_code(r);
    if (rc == 0 && r->body_case != VENTRA__V1__RESPONSE__BODY_DELETE_ACCOUNT)
        rc = VENTRA__V1__ERROR_CODE__ERROR_INTERNAL;
    vtc_response_free(r);
    return rc;
}
