/* Helpers shared by the live cases (case_util.h): owned responses, events
 * and buffers, and the GetChallenge, GetServerInfo, Register, Login and
 * Ping steps of spec/auth.md and spec/wire.md 5.1 to 5.6. */
#include "case_util.h"

#include <stdlib.h>
#include <string.h>

#include "ventra/err.h"
#include "vt_constants.h"
#include "vt_rpc.h"

const char *vcl_code_name(int code)
{
    const char *name = code < 0 ? "no response" : code == 0 ? "OK" : vt_err_name(code);

    return name != NULL ? name : "unknown code";
}

void vcl_expect_code(vcl_ctx *ctx, Ventra__V1__Response *r, int want, const char *what)
{
    vcl_check_code(ctx, vtc_take_code(r), want, what);
}

void vcl_unimplemented_if_unknown(vcl_ctx *ctx, int code, const char *what)
{
    if (code == VT_ERR_UNKNOWN_RPC)
        vcl_unimplemented(ctx, "%s answered ERROR_UNKNOWN_RPC", what);
}

Ventra__V1__Response *vcl_expect_body(vcl_ctx *ctx, Ventra__V1__Response *r, int body,
                                      const char *what)
{
    int code = vtc_error_code(r);

    VCL_CHECK(ctx, code == 0, "%s: got %s, want success", what, vcl_code_name(code));
    VCL_CHECK(ctx, (int)r->body_case == body, "%s: answered body %d, want body %d", what,
              (int)r->body_case, body);
    return r;
}

Ventra__V1__Response *vcl_ok_body(vcl_ctx *ctx, Ventra__V1__Response *r, int body,
                                  const char *what)
{
    return vcl_expect_body(ctx, vcl_keep(ctx, r), body, what);
}

static void free_response(void *p)
{
    vtc_response_free(p);
}

static void free_event(void *p)
{
    vtc_event_free(p);
}

static void free_device(void *p)
{
    vtc_device_free(p);
}

static void free_client(void *p)
{
    vtc_client_free(p);
}

static void free_identity(void *p)
{
    vt_identity_free(p);
}

static void free_msg(void *p)
{
    vtc_ws_msg_free(p);
    free(p);
}

/* |p| (unless NULL) freed by |fn| after the case. */
static void *hold(vcl_ctx *ctx, void (*fn)(void *), void *p)
{
    if (p != NULL)
        vcl_defer(ctx, fn, p);
    return p;
}

Ventra__V1__Response *vcl_keep(vcl_ctx *ctx, Ventra__V1__Response *r)
{
    return hold(ctx, free_response, r);
}

Ventra__V1__Event *vcl_hold_event(vcl_ctx *ctx, Ventra__V1__Event *e)
{
    return hold(ctx, free_event, e);
}

vtc_device *vcl_hold_device(vcl_ctx *ctx, vtc_device *d)
{
    return hold(ctx, free_device, d);
}

vtc_client *vcl_hold_client(vcl_ctx *ctx, vtc_client *c)
{
    return hold(ctx, free_client, c);
}

void *vcl_alloc(vcl_ctx *ctx, size_t n)
{
    void *p = calloc(1, n ? n : 1);

    VCL_CHECK(ctx, p != NULL, "out of memory");
    vcl_defer(ctx, free, p);
    return p;
}

vtc_ws_msg *vcl_msg(vcl_ctx *ctx)
{
    vtc_ws_msg *m = calloc(1, sizeof *m);

    VCL_CHECK(ctx, m != NULL, "out of memory");
    vcl_defer(ctx, free_msg, m);
    return m;
}

vt_identity *vcl_identity(vcl_ctx *ctx)
{
    vt_identity *id = vtc_new_identity();

    vcl_defer(ctx, free_identity, id);
    return id;
}

void vcl_challenge(vcl_ctx *ctx, vtc_client *c, int purpose, uint8_t nonce[32])
{
    Ventra__V1__Response *r = vtc_rpc_get_challenge(c, purpose);
    int code = vtc_error_code(r);
    bool ok = code == 0 && r->body_case == VENTRA__V1__RESPONSE__BODY_GET_CHALLENGE &&
              r->get_challenge->nonce.len == VT_CHALLENGE_NONCE_LEN;

    if (ok)
        memcpy(nonce, r->get_challenge->nonce.data, 32);
    vtc_response_free(r);
    VCL_CHECK(ctx, code == 0, "GetChallenge(%d): got %s, want a nonce", purpose,
              vcl_code_name(code));
    VCL_CHECK(ctx, ok, "GetChallenge(%d): no GetChallengeResponse of a 32-byte nonce",
              purpose);
}

void vcl_server_key(vcl_ctx *ctx, vtc_client *c, uint8_t key[32])
{
    VCL_CHECK(ctx, vtc_server_info(c, key), "GetServerInfo gave no 32-byte server key");
}

int vcl_register_code(vtc_client *c, const vt_identity *signer, const uint8_t key[32],
                      const uint8_t *nonce, const char *signed_name, const char *name,
                      const uint8_t *ik)
{
    uint8_t sig[64];

    vtc_sign_register(signer, key, nonce, 32, signed_name, ik, sig);
    return vtc_take_code(vtc_rpc_register(c, name, ik, 32, nonce, 32, sig, 64));
}

int vcl_login_code(vtc_client *c, const vt_identity *signer, const uint8_t key[32],
                   const uint8_t *nonce, const char *user, uint32_t dev)
{
    uint8_t sig[64];

    vtc_sign_login(signer, key, nonce, 32, user, dev, sig);
    return vtc_take_code(vtc_rpc_login(c, user, dev, nonce, 32, sig, 64));
}

Ventra__V1__Response *vcl_expect_raw_error(vcl_ctx *ctx, vtc_client *c, const void *data,
                                           size_t len, uint32_t id, int code,
                                           const char *what)
{
    Ventra__V1__Response *r = vcl_keep(ctx, vtc_call_raw(c, data, len));

    VCL_CHECK(ctx, r != NULL, "%s: no response (close code %d), want %s", what,
              vtc_client_close_code(c), vcl_code_name(code));
    vcl_check_code(ctx, vtc_error_code(r), code, what);
    VCL_CHECK(ctx, r->id == id, "%s: response id %u, want %u", what, r->id, id);
    VCL_CHECK(ctx, r->body_case == VENTRA__V1__RESPONSE__BODY__NOT_SET,
              "%s: an error with a body", what);
    return r;
}

size_t vcl_ping_frame(uint8_t *out, size_t cap, uint32_t id, uint64_t nonce)
{
    uint8_t body[16];
    size_t n = 0;

    body[n++] = 0x08; /* field 1 (nonce), varint */
    n += vtc_pb_varint(body + n, nonce);
    return vtc_raw_request(out, cap, id, VT_RPC_PING, body, n);
}

void vcl_expect_ping_ok(vcl_ctx *ctx, vtc_client *c, uint64_t nonce)
{
    Ventra__V1__Response *r = vtc_rpc_ping(c, nonce);
    bool ok = r != NULL && r->body_case == VENTRA__V1__RESPONSE__BODY_PING &&
              r->ping->nonce == nonce;
    int code = vtc_error_code(r);

    vtc_response_free(r);
    VCL_CHECK(ctx, ok, "Ping(%llu): got %s (close code %d), want its PingResponse",
              (unsigned long long)nonce, vcl_code_name(code), vtc_client_close_code(c));
}
