/* One-call wrappers of the Session, Devices and Ack RPCs with every field
 * under the test's control (wrong lengths included), and the transcript
 * signatures of spec/auth.md AUTH-12 made by a given key. */
#define _GNU_SOURCE
#include <string.h>

#include "vtc.h"
#include "vtc_int.h"

ProtobufCBinaryData vtc_bin(const uint8_t *p, size_t len)
{
    ProtobufCBinaryData b;

    b.data = (uint8_t *)p;
    b.len = p ? len : 0;
    return b;
}

Ventra__V1__Response *vtc_call_body(vtc_client *c, int body_case, void *body)
{
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;

    req.body_case = (Ventra__V1__Request__BodyCase)body_case;
    /* The body oneof is a union of message pointers; protobuf-c reads the
     * member that body_case names, and every member has this address. */
    req.get_server_info = body;
    return vtc_call(c, &req);
}

Ventra__V1__Response *vtc_rpc_server_info(vtc_client *c)
{
    Ventra__V1__GetServerInfoRequest body = VENTRA__V1__GET_SERVER_INFO_REQUEST__INIT;

    return vtc_call_body(c, VENTRA__V1__REQUEST__BODY_GET_SERVER_INFO, &body);
}

Ventra__V1__Response *vtc_rpc_ping(vtc_client *c, uint64_t nonce)
{
    Ventra__V1__PingRequest body = VENTRA__V1__PING_REQUEST__INIT;

    body.nonce = nonce;
    return vtc_call_body(c, VENTRA__V1__REQUEST__BODY_PING, &body);
}

Ventra__V1__Response *vtc_rpc_get_challenge(vtc_client *c, int purpose)
{
    Ventra__V1__GetChallengeRequest body = VENTRA__V1__GET_CHALLENGE_REQUEST__INIT;

    body.purpose = (Ventra__V1__ChallengePurpose)purpose;
    return vtc_call_body(c, VENTRA__V1__REQUEST__BODY_GET_CHALLENGE, &body);
}

Ventra__V1__Response *vtc_rpc_register(vtc_client *c, const char *username,
                                       const uint8_t *ik, size_t ik_len,
                                       const uint8_t *nonce, size_t nonce_len,
                                       const uint8_t *sig, size_t sig_len)
{
    Ventra__V1__RegisterRequest body = VENTRA__V1__REGISTER_REQUEST__INIT;

    body.username = (char *)username;
    body.identity_key = vtc_bin(ik, ik_len);
    body.nonce = vtc_bin(nonce, nonce_len);
    body.signature = vtc_bin(sig, sig_len);
    return vtc_call_body(c, VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT, &body);
}

Ventra__V1__Response *vtc_rpc_login(vtc_client *c, const char *username,
                                    uint32_t device_id, const uint8_t *nonce,
                                    size_t nonce_len, const uint8_t *sig, size_t sig_len)
{
    Ventra__V1__LoginRequest body = VENTRA__V1__LOGIN_REQUEST__INIT;

    body.username = (char *)username;
    body.device_id = device_id;
    body.nonce = vtc_bin(nonce, nonce_len);
    body.signature = vtc_bin(sig, sig_len);
    return vtc_call_body(c, VENTRA__V1__REQUEST__BODY_LOGIN, &body);
}

Ventra__V1__Response *vtc_rpc_resume(vtc_client *c, const char *token)
{
    Ventra__V1__ResumeRequest body = VENTRA__V1__RESUME_REQUEST__INIT;

    body.token = (char *)token;
    return vtc_call_body(c, VENTRA__V1__REQUEST__BODY_RESUME, &body);
}

Ventra__V1__Response *vtc_rpc_add_device(vtc_client *c, const uint8_t *ik, size_t ik_len,
                                         const char *name, const uint8_t *sig,
                                         size_t sig_len)
{
    Ventra__V1__AddDeviceRequest body = VENTRA__V1__ADD_DEVICE_REQUEST__INIT;

    body.identity_key = vtc_bin(ik, ik_len);
    body.device_name = (char *)(name ? name : "");
    body.signature = vtc_bin(sig, sig_len);
    return vtc_call_body(c, VENTRA__V1__REQUEST__BODY_ADD_DEVICE, &body);
}

Ventra__V1__Response *vtc_rpc_remove_device(vtc_client *c, uint32_t device_id)
{
    Ventra__V1__RemoveDeviceRequest body = VENTRA__V1__REMOVE_DEVICE_REQUEST__INIT;

    body.device_id = device_id;
    return vtc_call_body(c, VENTRA__V1__REQUEST__BODY_REMOVE_DEVICE, &body);
}

Ventra__V1__Response *vtc_rpc_list_devices(vtc_client *c, const char *username)
{
    Ventra__V1__ListDevicesRequest body = VENTRA__V1__LIST_DEVICES_REQUEST__INIT;

    body.username = (char *)(username ? username : "");
    return vtc_call_body(c, VENTRA__V1__REQUEST__BODY_LIST_DEVICES, &body);
}

Ventra__V1__Response *vtc_rpc_delete_account(vtc_client *c, const uint8_t *nonce,
                                             size_t nonce_len, const uint8_t *sig,
                                             size_t sig_len)
{
    Ventra__V1__DeleteAccountRequest body = VENTRA__V1__DELETE_ACCOUNT_REQUEST__INIT;

    body.nonce = vtc_bin(nonce, nonce_len);
    body.signature = vtc_bin(sig, sig_len);
    return vtc_call_body(c, VENTRA__V1__REQUEST__BODY_DELETE_ACCOUNT, &body);
}

Ventra__V1__Response *vtc_rpc_ack(vtc_client *c, const uint64_t *seqs, size_t count)
{
    Ventra__V1__AckRequest body = VENTRA__V1__ACK_REQUEST__INIT;

    body.n_seqs = count;
    body.seqs = (uint64_t *)seqs;
    return vtc_call_body(c, VENTRA__V1__REQUEST__BODY_ACK, &body);
}

/* ---- Transcript signatures (AUTH-12) ---------------------------------- */

/* Signs with |id| the transcript that vt_transcript_|what| built into |tr|
 * and *|len| (it returned |rc|); fails the test when either step failed. */
static void sign(const vt_identity *id, vt_err rc, const char *what, const uint8_t *tr,
                 const size_t *len, uint8_t sig[64])
{
    if (rc != VT_OK)
        vtc_fail("vt_transcript_%s failed", what);
    if (vt_identity_sign(id, sig, tr, *len) != VT_OK)
        vtc_fail("vt_identity_sign failed");
}

/* vt_transcript_|what|(tr, cap, &len, ...) signed by |id| into |sig|. The
 * builder runs before sign() reads the length through its pointer. */
#define SIGN_TRANSCRIPT(id, sig, what, ...)                                              \
    do {                                                                                 \
        uint8_t tr_[VT_TRANSCRIPT_MAX];                                                  \
        size_t len_ = 0;                                                                 \
                                                                                         \
        sign((id), vt_transcript_##what(tr_, sizeof tr_, &len_, __VA_ARGS__), #what,     \
             tr_, &len_, (sig));                                                         \
    } while (0)

void vtc_sign_register(const vt_identity *id, const uint8_t server_key[32],
                       const uint8_t *nonce, size_t nonce_len, const char *username,
                       const uint8_t identity_key[32], uint8_t sig[64])
{
    SIGN_TRANSCRIPT(id, sig, register, server_key, nonce, nonce_len, username,
                    identity_key);
}

void vtc_sign_login(const vt_identity *id, const uint8_t server_key[32],
                    const uint8_t *nonce, size_t nonce_len, const char *username,
                    uint32_t device_id, uint8_t sig[64])
{
    SIGN_TRANSCRIPT(id, sig, login, server_key, nonce, nonce_len, username, device_id);
}

void vtc_sign_link(const vt_identity *id, const uint8_t server_key[32],
                   const char *username, uint32_t approving_device_id,
                   const uint8_t new_identity_key[32], uint8_t sig[64])
{
    SIGN_TRANSCRIPT(id, sig, link, server_key, username, approving_device_id,
                    new_identity_key);
}

void vtc_sign_delete_account(const vt_identity *id, const uint8_t server_key[32],
                             const uint8_t *nonce, size_t nonce_len, const char *username,
                             uint32_t device_id, uint8_t sig[64])
{
    SIGN_TRANSCRIPT(id, sig, delete_account, server_key, nonce, nonce_len, username,
                    device_id);
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
