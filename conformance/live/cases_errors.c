/* Live cases of requests and errors (spec/wire.md 2.2 to 2.4 and 3;
 * spec/security.md SEC-21, SEC-40; spec/state/server_conn.md SM-102):
 * request ids, one response per request, the in-flight limit, the order of
 * the general checks, unknown RPCs, the authentication gate, the shape and
 * the discretion of errors, failed requests without effect, and the count
 * of consecutive bad frames. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "live.h"
#include "ventra/crypto.h"
#include "ventra/err.h"
#include "vt_constants.h"
#include "vt_rpc.h"

#define P(name) VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_##name

static void send_raw(vcl_ctx *ctx, vtc_client *c, const void *data, size_t len)
{
    VCL_CHECK(ctx, vtc_ws_send(vtc_client_ws(c), 2, data, len, 1), "write failed");
}

/* Sends |len| raw bytes; the next Response must be the error |code| with
 * |id| and nothing else in it (WIRE-43). */
static void expect_raw_error(vcl_ctx *ctx, vtc_client *c, const void *data, size_t len,
                             uint32_t id, int code, const char *what)
{
    Ventra__V1__Response *r = vcl_expect_raw_error(ctx, c, data, len, id, code, what);

    VCL_CHECK(ctx, r->error->retry_after_ms == 0, "%s: retry_after_ms %u, want 0", what,
              r->error->retry_after_ms);
}

/* A Request of |method| (0: no body) with |id|, refused with |code|. */
static void expect_request_error(vcl_ctx *ctx, vtc_client *c, uint32_t id,
                                 uint32_t method, const uint8_t *body, size_t body_len,
                                 int code, const char *what)
{
    uint8_t buf[600];
    size_t n = vtc_raw_request(buf, sizeof buf, id, method, body, body_len);

    expect_raw_error(ctx, c, buf, n, id, code, what);
}

/* Encodes a string field |field| of |s| into |out|; returns the length. */
static size_t pb_string(uint8_t *out, uint32_t field, const char *s, size_t len)
{
    size_t n = vtc_pb_varint(out, (uint64_t)field << 3 | 2);

    n += vtc_pb_varint(out + n, len);
    memcpy(out + n, s, len);
    return n + len;
}

/* ---- Request ids (WIRE-33, WIRE-31) ----------------------------------------------- */

static void request_id_zero(vcl_ctx *ctx)
{
    static const uint8_t zero[] = {0x0a, 0x04, 0x08, 0x00, 0x5a, 0x00};
    vtc_client *c = vcl_client(ctx);
    vt_identity *id = vcl_identity(ctx);
    vtc_device *w = vcl_account(ctx, "idzwatch");
    uint8_t buf[256], key[32], nonce[32], sig[64];
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__RegisterRequest reg = VENTRA__V1__REGISTER_REQUEST__INIT;
    char user[33];
    size_t n;

    vcl_step(ctx, "a Ping without an id field");
    n = vcl_ping_frame(buf, sizeof buf, 0, 5);
    expect_raw_error(ctx, c, buf, n, 0, VT_ERR_DUPLICATE_REQUEST_ID, "Ping of id 0");
    vcl_expect_ping_ok(ctx, c, 0xabcdef);
    vcl_step(ctx, "a Ping with an explicit id 0 on the wire");
    expect_raw_error(ctx, c, zero, sizeof zero, 0, VT_ERR_DUPLICATE_REQUEST_ID,
                     "Ping of id 0");
    vcl_expect_ping_ok(ctx, c, 0xabcdef);

    vcl_step(ctx, "a valid Register of id 0 is not executed");
    VCL_CHECK(ctx, vtc_server_info(c, key), "GetServerInfo failed");
    vtc_username(user, "idzero");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vtc_sign_register(id, key, nonce, 32, user, vt_identity_public(id), sig);
    reg.username = user;
    reg.identity_key = vtc_bin(vt_identity_public(id), 32);
    reg.nonce = vtc_bin(nonce, 32);
    reg.signature = vtc_bin(sig, 64);
    req.body_case = VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT;
    req.register_account = &reg;
    {
        Ventra__V1__Frame f = VENTRA__V1__FRAME__INIT;

        f.kind_case = VENTRA__V1__FRAME__KIND_REQUEST;
        f.request = &req; /* id 0: protobuf-c leaves the field out */
        n = ventra__v1__frame__get_packed_size(&f);
        VCL_CHECK(ctx, n <= sizeof buf, "frame too large");
        ventra__v1__frame__pack(&f, buf);
    }
    expect_raw_error(ctx, c, buf, n, 0, VT_ERR_DUPLICATE_REQUEST_ID, "Register of id 0");
    vcl_expect_code(ctx, vtc_rpc_list_devices(c, ""), VT_ERR_UNAUTHENTICATED,
                    "ListDevices after it");
    vcl_expect_code(ctx, vtc_rpc_list_devices(w->c, user), VT_ERR_NOT_FOUND,
                    "ListDevices of the name");
    vcl_step(ctx, "the same Register with an id registers (its nonce was not consumed)");
    req.id = 77;
    {
        Ventra__V1__Response *r = vcl_keep(ctx, vtc_call(c, &req));

        VCL_CODE(ctx, vtc_error_code(r), 0);
        VCL_CHECK(ctx, r->id == 77, "response id %u, want 77", r->id);
    }
}

/* Two requests of one id sent back to back: the first is answered as
 * itself; the second is DUPLICATE_REQUEST_ID when the first was still
 * unanswered on its arrival, else executed. Each gets one response. */
static void duplicate_in_flight(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    uint8_t a[64], b[64];
    size_t na = vcl_ping_frame(a, sizeof a, 7, 1), nb = vcl_ping_frame(b, sizeof b, 7, 2);
    Ventra__V1__Response *r1, *r2, *r3;
    int dup = 0;

    for (int round = 0; round < 4; round++) {
        vcl_step(ctx, "round %d: Ping(id 7, nonce 1) and Ping(id 7, nonce 2) in a row",
                 round);
        send_raw(ctx, c, a, na);
        send_raw(ctx, c, b, nb);
        r1 = vcl_keep(ctx, vtc_wait_response(c, 7, 5000));
        r2 = vcl_keep(ctx, vtc_wait_response(c, 7, 5000));
        VCL_CHECK(ctx, r1 != NULL && r2 != NULL, "want two responses of id 7, got %d",
                  (r1 != NULL) + (r2 != NULL));
        VCL_CHECK(
            ctx, r1->body_case == VENTRA__V1__RESPONSE__BODY_PING && r1->ping->nonce == 1,
            "the first response is not Ping(1) (%s): the request in flight must be "
            "unaffected",
            vcl_code_name(vtc_error_code(r1)));
        if (vtc_error_code(r2) == VT_ERR_DUPLICATE_REQUEST_ID) {
            VCL_CHECK(ctx, r2->body_case == VENTRA__V1__RESPONSE__BODY__NOT_SET,
                      "DUPLICATE_REQUEST_ID with a body");
            dup++;
        } else {
            VCL_CHECK(ctx,
                      r2->body_case == VENTRA__V1__RESPONSE__BODY_PING &&
                          r2->ping->nonce == 2,
                      "the second response is %s, want DUPLICATE_REQUEST_ID or Ping(2)",
                      vcl_code_name(vtc_error_code(r2)));
        }
        r3 = vtc_wait_response(c, 7, 100);
        vtc_response_free(r3);
        VCL_CHECK(ctx, r3 == NULL, "a third response of id 7");
        vcl_expect_ping_ok(ctx, c, 0xabcdef);
    }
    (void)dup; /* how many were refused depends on the server's timing */
}

/* ---- One response per request, the in-flight limit (WIRE-34, WIRE-35) ---------------
 */

static void one_response_per_request(vcl_ctx *ctx)
{
    enum { N = 24 };
    vtc_client *c = vcl_client(ctx);
    uint8_t buf[64], body[8];
    int want[N];

    vcl_step(ctx, "24 requests of several kinds sent without waiting");
    for (uint32_t i = 0; i < N; i++) {
        size_t n;

        switch (i % 4) {
        case 0:
            n = vcl_ping_frame(buf, sizeof buf, 100 + i, i);
            want[i] = 0;
            break;
        case 1:
            n = vtc_raw_request(buf, sizeof buf, 100 + i, 99, NULL, 0);
            want[i] = VT_ERR_UNKNOWN_RPC;
            break;
        case 2:
            n = vtc_raw_request(buf, sizeof buf, 100 + i, VT_RPC_LIST_DEVICES, NULL, 0);
            want[i] = VT_ERR_UNAUTHENTICATED;
            break;
        default:
            body[0] = 0x08;
            body[1] = 0x63; /* purpose 99 */
            n = vtc_raw_request(buf, sizeof buf, 100 + i, VT_RPC_GET_CHALLENGE, body, 2);
            want[i] = VT_ERR_INVALID_ARGUMENT;
            break;
        }
        send_raw(ctx, c, buf, n);
    }
    for (uint32_t i = 0; i < N; i++) {
        Ventra__V1__Response *r;

        vcl_step(ctx, "the response of request %u", 100 + i);
        r = vcl_keep(ctx, vtc_wait_response(c, 100 + i, 5000));
        VCL_CHECK(ctx, r != NULL, "request %u was not answered (close code %d)", 100 + i,
                  vtc_client_close_code(c));
        vcl_check_code(ctx, vtc_error_code(r), want[i], "the response");
    }
    vcl_step(ctx, "no second response to any of them");
    {
        Ventra__V1__Response *r =
            vtc_call_raw(c, buf, vcl_ping_frame(buf, sizeof buf, 999, 9));
        uint32_t id = r ? r->id : 0;

        vtc_response_free(r);
        VCL_CHECK(ctx, id == 999, "a response of id %u after all were answered", id);
    }
}

static void inflight_limit(vcl_ctx *ctx)
{
    enum { MAX = VT_MAX_INFLIGHT_REQUESTS, OVER = VT_MAX_INFLIGHT_REQUESTS + 8 };
    vtc_client *c = vcl_client(ctx);
    uint8_t buf[64];

    vcl_step(ctx, "MAX_INFLIGHT_REQUESTS Pings sent without waiting");
    for (uint32_t i = 1; i <= MAX; i++)
        send_raw(ctx, c, buf, vcl_ping_frame(buf, sizeof buf, i, 1000 + i));
    for (uint32_t i = 1; i <= MAX; i++) {
        Ventra__V1__Response *r = vcl_keep(ctx, vtc_wait_response(c, i, 5000));

        VCL_CHECK(ctx, r != NULL, "Ping %u was not answered (close code %d)", i,
                  vtc_client_close_code(c));
        VCL_CHECK(ctx,
                  r->body_case == VENTRA__V1__RESPONSE__BODY_PING &&
                      r->ping->nonce == 1000 + i,
                  "Ping %u of %d in flight: got %s, want its PingResponse", i, MAX,
                  vcl_code_name(vtc_error_code(r)));
    }
    vcl_step(ctx, "MAX_INFLIGHT_REQUESTS + 8 Pings sent without waiting");
    for (uint32_t i = 1; i <= OVER; i++)
        send_raw(ctx, c, buf, vcl_ping_frame(buf, sizeof buf, 100 + i, i));
    for (uint32_t i = 1; i <= OVER; i++) {
        Ventra__V1__Response *r = vcl_keep(ctx, vtc_wait_response(c, 100 + i, 5000));

        VCL_CHECK(ctx, r != NULL, "Ping %u was not answered (close code %d)", 100 + i,
                  vtc_client_close_code(c));
        if (r->body_case == VENTRA__V1__RESPONSE__BODY_PING) {
            VCL_CHECK(ctx, r->ping->nonce == i, "Ping %u: a wrong nonce", 100 + i);
            continue;
        }
        vcl_check_code(ctx, vtc_error_code(r), VT_ERR_RATE_LIMITED,
                       "a request beyond the limit, not executed");
        VCL_CHECK(ctx, r->error->retry_after_ms == 0,
                  "the in-flight refusal carries retry_after_ms %u, want 0",
                  r->error->retry_after_ms);
        VCL_CHECK(ctx, i > MAX, "Ping %u of the first %d refused", i, MAX);
    }
    vcl_step(ctx, "the connection still serves");
    vcl_expect_ping_ok(ctx, c, 0xabcdef);
}

/* ---- The order of checks, unknown RPCs, the gate (WIRE-26, WIRE-38, WIRE-50) --------
 */

static void check_order(vcl_ctx *ctx)
{
    /* Each request: |id|, |method| (0: no body) whose body is a string field 1
     * of |len| bytes (0: empty), refused with |code| on an unauthenticated
     * connection. */
    static const struct {
        const char *step;
        uint32_t id, method;
        size_t len;
        int code;
    } order[] = {
        {"id 0 and no body: step 5 before 8", 0, 0, 0, VT_ERR_DUPLICATE_REQUEST_ID},
        {"id 0 and a private RPC before authentication: step 5 before 9", 0,
         VT_RPC_LIST_DEVICES, 0, VT_ERR_DUPLICATE_REQUEST_ID},
        {"id 0 and a username over its bound: step 5 before 11", 0, VT_RPC_REGISTER, 33,
         VT_ERR_DUPLICATE_REQUEST_ID},
        {"an unknown RPC before authentication: step 8 before 9", 5, 99, 0,
         VT_ERR_UNKNOWN_RPC},
        {"ListDevices of a 33-byte name before authentication: step 9 before 11", 6,
         VT_RPC_LIST_DEVICES, 33, VT_ERR_UNAUTHENTICATED},
        {"Register of a malformed 33-byte name, no challenge: step 11 before 12", 7,
         VT_RPC_REGISTER, 33, VT_ERR_TOO_LARGE},
        {"Resume of a 513-byte token: step 11 before 12", 8, VT_RPC_RESUME,
         VT_MAX_TOKEN_LEN + 1, VT_ERR_TOO_LARGE},
    };
    vtc_client *c = vcl_client(ctx);
    vtc_device *d = vcl_account(ctx, "order");
    uint8_t body[600];
    char big[600];

    memset(big, 'A', sizeof big);
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        size_t n = order[i].len ? pb_string(body, 1, big, order[i].len) : 0;

        vcl_step(ctx, "%s", order[i].step);
        expect_request_error(ctx, c, order[i].id, order[i].method, n ? body : NULL, n,
                             order[i].code, "the request");
        vcl_expect_ping_ok(ctx, c, 0xabcdef);
    }
    vcl_step(ctx, "authenticated: ListDevices of a malformed 33-byte name");
    vcl_expect_code(ctx, vtc_rpc_list_devices(d->c, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                    VT_ERR_TOO_LARGE, "ListDevices");
    vcl_expect_ping_ok(ctx, d->c, 0xabcdef);
}

static void unknown_rpc(vcl_ctx *ctx)
{
    static const struct {
        uint32_t method;
        const char *what;
    } bodies[] = {{0, "no body"},
                  {16, "body field 16"},
                  {99, "body field 99"},
                  {1000, "body field 1000"}};
    vtc_device *d = vcl_account(ctx, "unkrpc");

    for (int authed = 0; authed < 2; authed++) {
        vtc_client *c = authed ? d->c : vcl_client(ctx);

        for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
            uint32_t id = 40 + (uint32_t)i;

            vcl_step(ctx, "a request with %s, %sauthenticated", bodies[i].what,
                     authed ? "" : "un");
            expect_request_error(
                ctx, c, id, bodies[i].method, (const uint8_t *)"\x08\x01",
                bodies[i].method == 1000 ? 2 : 0, VT_ERR_UNKNOWN_RPC, "the request");
            vcl_expect_ping_ok(ctx, c, 0xabcdef);
        }
    }
}

static void unauthenticated_gate(vcl_ctx *ctx)
{
    static const uint32_t private_rpcs[] = {20, 21, 22, 23, 30, 31, 32, 40,
                                            41, 50, 51, 52, 53, 54, 55};
    vtc_client *c = vcl_client(ctx);
    uint8_t nonce[32];

    for (size_t i = 0; i < sizeof private_rpcs / sizeof private_rpcs[0]; i++) {
        vcl_step(ctx, "RPC %u before authentication", private_rpcs[i]);
        expect_request_error(ctx, c, 100 + (uint32_t)i, private_rpcs[i], NULL, 0,
                             VT_ERR_UNAUTHENTICATED, "the request");
        vcl_expect_ping_ok(ctx, c, 0xabcdef);
    }
    vcl_step(ctx, "the public RPCs pass the gate");
    vcl_expect_code(ctx, vtc_rpc_server_info(c), 0, "GetServerInfo");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vcl_step(ctx, "after Resume the same connection passes it");
    {
        vtc_device *d = vcl_account(ctx, "gate");

        vcl_expect_code(ctx, vtc_rpc_resume(c, d->token), 0, "Resume");
        vcl_expect_code(ctx, vtc_rpc_list_devices(c, ""), 0, "ListDevices");
    }
}

/* ---- The shape and discretion of errors (WIRE-43, WIRE-41, SEC-21) -------------------
 */

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xe0) == 0xc0 ? 1
                : (*p & 0xf0) == 0xe0 ? 2
                : (*p & 0xf8) == 0xf0 ? 3
                                      : -1;

        if (n < 0 || (n == 1 && *p < 0xc2))
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return false;
    }
    return true;
}

/* WIRE-43, WIRE-41: |r| is exactly an error of |want|. */
static void check_shape(vcl_ctx *ctx, const Ventra__V1__Response *r, int want,
                        const char *what)
{
    int code = vtc_error_code(r);
    const char *msg;

    VCL_CHECK(ctx, r != NULL, "%s: no response", what);
    vcl_check_code(ctx, code, want, what);
    VCL_CHECK(ctx, r->body_case == VENTRA__V1__RESPONSE__BODY__NOT_SET,
              "%s: both error and body set", what);
    VCL_CHECK(ctx, code >= 1 && code < 100, "%s: the local code %d on the wire", what,
              code);
    VCL_CHECK(ctx, code == VT_ERR_RATE_LIMITED || r->error->retry_after_ms == 0,
              "%s: %s with retry_after_ms %u, want 0", what, vcl_code_name(code),
              r->error->retry_after_ms);
    VCL_CHECK(ctx, code == VT_ERR_STALE_DEVICES || r->error->n_stale == 0,
              "%s: %s with %zu stale entries", what, vcl_code_name(code),
              r->error->n_stale);
    msg = r->error->message ? r->error->message : "";
    VCL_CHECK(ctx, strlen(msg) <= VT_MAX_ERROR_MESSAGE_LEN,
              "%s: Error.message of %zu bytes > MAX_ERROR_MESSAGE_LEN", what,
              strlen(msg));
    VCL_CHECK(ctx, utf8_valid(msg), "%s: Error.message is not UTF-8", what);
}

/* Every error code a client can provoke on its own, each once. */
static void error_shape(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    vtc_device *d = vcl_account(ctx, "shape"), *t = vcl_account(ctx, "shapetaken");
    vt_identity *id = vcl_identity(ctx);
    uint8_t buf[64], nonce[32], sig[64] = {0}, rnd[32];
    char big[40];
    size_t n;

    memset(big, 'a', sizeof big);
    big[33] = '\0';
    VCL_CHECK(ctx, vt_random_bytes(rnd, 32) == VT_OK, "vt_random_bytes failed");
#define SHAPE(call, want, what)                                                          \
    do {                                                                                 \
        vcl_step(ctx, "%s", what);                                                       \
        check_shape(ctx, vcl_keep(ctx, call), want, what);                               \
    } while (0)
    SHAPE(vtc_call_raw(c, "\xff\xff", 2), VT_ERR_MALFORMED_FRAME, "a malformed frame");
    SHAPE(vtc_call_raw(c, "", 0), VT_ERR_UNKNOWN_FRAME_KIND, "an empty frame");
    n = vcl_ping_frame(buf, sizeof buf, 0, 1);
    SHAPE(vtc_call_raw(c, buf, n), VT_ERR_DUPLICATE_REQUEST_ID, "request id 0");
    n = vtc_raw_request(buf, sizeof buf, 3, 99, NULL, 0);
    SHAPE(vtc_call_raw(c, buf, n), VT_ERR_UNKNOWN_RPC, "an unknown RPC");
    vcl_expect_ping_ok(ctx, c, 0xabcdef);
    SHAPE(vtc_rpc_list_devices(c, ""), VT_ERR_UNAUTHENTICATED,
          "ListDevices unauthenticated");
    SHAPE(vtc_rpc_get_challenge(c, 0), VT_ERR_INVALID_ARGUMENT, "GetChallenge(0)");
    SHAPE(vtc_rpc_resume(c, big), VT_ERR_BAD_TOKEN, "Resume with garbage");
    vcl_expect_ping_ok(ctx, c, 0xabcdef);
    SHAPE(vtc_rpc_login(c, big, 1, rnd, 32, sig, 64), VT_ERR_TOO_LARGE,
          "Login of a 33-byte name");
    SHAPE(vtc_rpc_login(c, d->username, 1, rnd, 32, sig, 64), VT_ERR_BAD_CHALLENGE,
          "Login with no challenge");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    SHAPE(vtc_rpc_login(c, d->username, 1, nonce, 32, sig, 64), VT_ERR_BAD_SIGNATURE,
          "Login with a zero signature");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vtc_sign_register(id, d->server_key, nonce, 32, t->username, vt_identity_public(id),
                      sig);
    SHAPE(
        vtc_rpc_register(c, t->username, vt_identity_public(id), 32, nonce, 32, sig, 64),
        VT_ERR_ALREADY_EXISTS, "Register of a taken name");
    SHAPE(vtc_rpc_get_challenge(d->c, P(LOGIN)), VT_ERR_PERMISSION_DENIED,
          "GetChallenge(LOGIN) authenticated");
    SHAPE(vtc_rpc_remove_device(d->c, 9), VT_ERR_NOT_FOUND, "RemoveDevice of device 9");
#undef SHAPE
}

/* Whether |msg| holds any 8 bytes of |secret| (|len| bytes) raw, or any
 * 16 characters of it in hex or 12 in base64 (standard or url). */
static bool leaks(const char *msg, const uint8_t *secret, size_t len)
{
    char hex[2][260], b64[2][200], *u;
    size_t mlen = strlen(msg), hl = 2 * len, bl;

    for (size_t i = 0; i + 8 <= len; i++)
        if (memmem(msg, mlen, secret + i, 8) != NULL)
            return true;
    for (size_t i = 0; i < len; i++) {
        snprintf(hex[0] + 2 * i, 3, "%02x", secret[i]);
        snprintf(hex[1] + 2 * i, 3, "%02X", secret[i]);
    }
    u = vtc_b64url(secret, len);
    snprintf(b64[0], sizeof b64[0], "%s", u);
    free(u);
    snprintf(b64[1], sizeof b64[1], "%s", b64[0]);
    for (char *p = b64[1]; *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    bl = strlen(b64[0]);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i + 16 <= hl; i++)
            if (memmem(msg, mlen, hex[k] + i, 16) != NULL)
                return true;
        for (size_t i = 0; i + 12 <= bl; i++)
            if (memmem(msg, mlen, b64[k] + i, 12) != NULL)
                return true;
    }
    return false;
}

/* Whether |msg| holds any 16 characters of the token |tok| past its
 * (public, constant) header. */
static bool leaks_token(const char *msg, const char *tok)
{
    const char *p = strchr(tok, '.');
    size_t mlen = strlen(msg);

    for (p = p ? p + 1 : tok; strlen(p) >= 16; p++)
        if (memmem(msg, mlen, p, 16) != NULL)
            return true;
    return false;
}

/* SEC-21: no token, nonce, signature or another account's data in
 * Error.message. */
static void no_secrets_in_messages(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "secret"), *t = vcl_account(ctx, "secrettaken");
    vtc_client *c = vcl_client(ctx);
    vt_identity *mallory = vcl_identity(ctx);
    uint8_t nonce[32], sig[64];
    char tok[600];
    size_t len = strlen(d->token);
    Ventra__V1__Response *r;
    const char *m;

#define NO_LEAK(resp, want, what, ...)                                                   \
    do {                                                                                 \
        const uint8_t *s_[] = {__VA_ARGS__};                                             \
        r = vcl_keep(ctx, resp);                                                         \
        vcl_step(ctx, "%s", what);                                                       \
        vcl_check_code(ctx, vtc_error_code(r), want, what);                              \
        m = r->error->message ? r->error->message : "";                                  \
        VCL_CHECK(ctx, !leaks(m, s_[0], 32) && !leaks(m, s_[1], 64),                     \
                  "%s: Error.message '%s' holds the nonce or the signature", what, m);   \
        VCL_CHECK(ctx, !leaks_token(m, d->token) && !leaks_token(m, t->token),           \
                  "%s: Error.message '%s' holds a token", what, m);                      \
        VCL_CHECK(ctx, !leaks(m, vt_identity_public(t->id), 32),                         \
                  "%s: Error.message '%s' holds another account's key", what, m);        \
    } while (0)

    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vtc_sign_login(mallory, d->server_key, nonce, 32, d->username, 1, sig);
    NO_LEAK(vtc_rpc_login(c, d->username, 1, nonce, 32, sig, 64), VT_ERR_BAD_SIGNATURE,
            "Login with a forged signature", nonce, sig);
    NO_LEAK(vtc_rpc_login(c, d->username, 1, nonce, 32, sig, 64), VT_ERR_BAD_CHALLENGE,
            "Login with a used nonce", nonce, sig);
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vtc_sign_register(mallory, d->server_key, nonce, 32, t->username,
                      vt_identity_public(mallory), sig);
    NO_LEAK(vtc_rpc_register(c, t->username, vt_identity_public(mallory), 32, nonce, 32,
                             sig, 64),
            VT_ERR_ALREADY_EXISTS, "Register of a taken name", nonce, sig);
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    NO_LEAK(vtc_rpc_register(c, t->username, vt_identity_public(mallory), 32, nonce, 31,
                             sig, 64),
            VT_ERR_INVALID_ARGUMENT, "Register with a 31-byte nonce", nonce, sig);
    snprintf(tok, sizeof tok, "%s", d->token);
    tok[len - 3] = tok[len - 3] == 'A' ? 'B' : 'A';
    NO_LEAK(vtc_rpc_resume(c, tok), VT_ERR_BAD_TOKEN, "Resume with an altered token",
            nonce, sig);
    vcl_challenge(ctx, d->c, P(DELETE_ACCOUNT), nonce);
    vtc_sign_delete_account(mallory, d->server_key, nonce, 32, d->username, 1, sig);
    NO_LEAK(vtc_rpc_delete_account(d->c, nonce, 32, sig, 64), VT_ERR_BAD_SIGNATURE,
            "DeleteAccount with a forged signature", nonce, sig);
    NO_LEAK(vtc_rpc_delete_account(d->c, nonce, 32, sig, 64), VT_ERR_BAD_CHALLENGE,
            "DeleteAccount with a used nonce", nonce, sig);
    vtc_sign_link(mallory, d->server_key, d->username, 1, vt_identity_public(mallory),
                  sig);
    NO_LEAK(vtc_rpc_add_device(d->c, vt_identity_public(mallory), 32, "x", sig, 64),
            VT_ERR_BAD_SIGNATURE, "AddDevice with a forged signature", nonce, sig);
#undef NO_LEAK
}

/* WIRE-45: a request answered with an error changed nothing. */
static void failed_request_no_effect(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "noeff");
    vtc_client *c = vcl_client(ctx);
    vt_identity *mallory = vcl_identity(ctx), *nid = vcl_identity(ctx);
    uint8_t nonce[32], sig[64];
    char user[33];
    Ventra__V1__Response *r;
    Ventra__V1__Event *e;

    vtc_username(user, "noeffnew");
    vcl_step(ctx, "a Register with a forged signature creates no account");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vtc_sign_register(mallory, d->server_key, nonce, 32, user, vt_identity_public(nid),
                      sig);
    vcl_expect_code(
        ctx, vtc_rpc_register(c, user, vt_identity_public(nid), 32, nonce, 32, sig, 64),
        VT_ERR_BAD_SIGNATURE, "Register");
    vcl_expect_code(ctx, vtc_rpc_list_devices(d->c, user), VT_ERR_NOT_FOUND,
                    "ListDevices");
    vcl_step(ctx, "a failed Login neither authenticates nor replaces the device");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vtc_sign_login(mallory, d->server_key, nonce, 32, d->username, 1, sig);
    vcl_expect_code(ctx, vtc_rpc_login(c, d->username, 1, nonce, 32, sig, 64),
                    VT_ERR_BAD_SIGNATURE, "Login");
    vcl_expect_code(ctx, vtc_rpc_list_devices(c, ""), VT_ERR_UNAUTHENTICATED,
                    "ListDevices");
    vcl_expect_code(ctx, vtc_rpc_ping(d->c, 1), 0, "Ping on the device's connection");
    e = vtc_wait_event(d->c, VENTRA__V1__EVENT__BODY_SESSION_ENDED, 200);
    vtc_event_free(e);
    VCL_CHECK(ctx, e == NULL, "the device's connection was ended by a failed Login");
    vcl_step(ctx, "a failed Resume does not authenticate");
    vcl_expect_code(ctx, vtc_rpc_resume(c, "x.y.z"), VT_ERR_BAD_TOKEN, "Resume");
    vcl_expect_code(ctx, vtc_rpc_list_devices(c, ""), VT_ERR_UNAUTHENTICATED,
                    "ListDevices");
    vcl_step(ctx, "a refused AddDevice uses no device id");
    vtc_sign_link(mallory, d->server_key, d->username, 1, vt_identity_public(nid), sig);
    vcl_expect_code(ctx,
                    vtc_rpc_add_device(d->c, vt_identity_public(nid), 32, "x", sig, 64),
                    VT_ERR_BAD_SIGNATURE, "AddDevice with a forged signature");
    vcl_expect_code(ctx, vtc_rpc_remove_device(d->c, 2), VT_ERR_NOT_FOUND,
                    "RemoveDevice of device 2");
    vtc_sign_link(d->id, d->server_key, d->username, 1, vt_identity_public(nid), sig);
    r = vcl_keep(ctx,
                 vtc_rpc_add_device(d->c, vt_identity_public(nid), 32, "x", sig, 64));
    VCL_CODE(ctx, vtc_error_code(r), 0);
    VCL_CHECK(ctx, r->add_device->device_id == 2,
              "AddDevice after the refused ones gave device %u, want 2",
              r->add_device->device_id);
}

/* ---- Bad frames in a row (WIRE-27, SM-102) ------------------------------------------
 */

/* The |i|-th bad frame of a mixed run into |buf|, with its answer. */
static size_t bad_frame(uint8_t *buf, size_t cap, int i, uint32_t *id, int *code)
{
    switch (i % 4) {
    case 0:
        *id = 0;
        *code = VT_ERR_MALFORMED_FRAME;
        buf[0] = 0xff;
        buf[1] = 0xff;
        return 2;
    case 1:
        *id = 0;
        *code = VT_ERR_UNKNOWN_FRAME_KIND;
        return 0;
    case 2:
        *id = 50 + (uint32_t)i;
        *code = VT_ERR_UNKNOWN_RPC;
        return vtc_raw_request(buf, cap, *id, 99, NULL, 0);
    default:
        *id = 50 + (uint32_t)i;
        *code = VT_ERR_UNAUTHENTICATED;
        return vtc_raw_request(buf, cap, *id, VT_RPC_LIST_DEVICES, NULL, 0);
    }
}

static void consecutive_errors(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    uint8_t buf[64];
    uint32_t id;
    int code, close;

    for (int round = 0; round < 2; round++) {
        vcl_step(ctx, "round %d: MAX_CONSECUTIVE_ERRORS - 1 bad frames, then a Ping",
                 round);
        for (int i = 0; i < (int)VT_MAX_CONSECUTIVE_ERRORS - 1; i++) {
            size_t n = bad_frame(buf, sizeof buf, i + round, &id, &code);

            expect_raw_error(ctx, c, buf, n, id, code, "a bad frame");
        }
        vcl_expect_ping_ok(ctx, c, 0xabcdef);
    }
    vcl_step(ctx, "MAX_CONSECUTIVE_ERRORS bad frames in a row, each answered");
    c = vcl_client(ctx);
    for (int i = 0; i < (int)VT_MAX_CONSECUTIVE_ERRORS; i++) {
        size_t n = bad_frame(buf, sizeof buf, i, &id, &code);

        expect_raw_error(ctx, c, buf, n, id, code, "a bad frame");
    }
    vcl_step(ctx, "then the server may close, with 1008 only");
    close = vtc_wait_close(c, 500);
    VCL_CHECK(ctx, close == 0 || close == 1008,
              "closed with %d after MAX_CONSECUTIVE_ERRORS bad frames, want 1008", close);
    vcl_step(ctx, "a new connection is served");
    vcl_expect_ping_ok(ctx, vcl_client(ctx), 0xabcdef);
}

/* SM-102: after its close frame a server sends nothing: the bad frames
 * and Pings after the MAX_CONSECUTIVE_ERRORS-th are either all answered
 * (no close) or none after the close frame. */
static void no_frames_after_close(vcl_ctx *ctx)
{
    enum { PINGS = 4 };
    vtc_client *c = vcl_client(ctx);
    vtc_ws *ws = vtc_client_ws(c);
    vtc_ws_msg *m = vcl_msg(ctx);
    uint8_t buf[64];
    uint32_t id;
    int code, before = 0, pings = 0;
    int64_t deadline;
    bool closed = false;

    vcl_step(ctx, "MAX_CONSECUTIVE_ERRORS + 4 bad frames and 4 Pings without waiting");
    for (int i = 0; i < (int)VT_MAX_CONSECUTIVE_ERRORS + 4; i++)
        send_raw(ctx, c, buf, bad_frame(buf, sizeof buf, i, &id, &code));
    for (uint32_t i = 0; i < PINGS; i++)
        send_raw(ctx, c, buf, vcl_ping_frame(buf, sizeof buf, 900 + i, i));
    deadline = vtc_now_ms() + 5000;
    for (;;) {
        vtc_ws_msg_free(m);
        vtc_ws_recv(ws, vtc_left_ms(deadline), m);
        if (m->kind == VTC_WS_BINARY) {
            Ventra__V1__Frame *f = ventra__v1__frame__unpack(NULL, m->len, m->data);
            bool ping = f != NULL && f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE &&
                        f->response->body_case == VENTRA__V1__RESPONSE__BODY_PING;

            if (f != NULL)
                ventra__v1__frame__free_unpacked(f, NULL);
            VCL_CHECK(ctx, !closed, "a frame after the server's close frame");
            before++;
            pings += ping;
            if (pings == PINGS)
                break; /* never closed: everything answered */
            continue;
        }
        if (m->kind == VTC_WS_CLOSE) {
            VCL_CHECK(ctx, m->close_code == 1008, "close code %d, want 1008",
                      m->close_code);
            VCL_CHECK(ctx, before >= (int)VT_MAX_CONSECUTIVE_ERRORS,
                      "closed after %d answers, before MAX_CONSECUTIVE_ERRORS (WIRE-27)",
                      before);
            closed = true;
            deadline = vtc_now_ms() + 1000;
            continue;
        }
        VCL_CHECK(ctx, closed, "no close and not every Ping answered (message kind %d)",
                  (int)m->kind);
        break;
    }
    vcl_step(ctx, "a new connection is served");
    vcl_expect_ping_ok(ctx, vcl_client(ctx), 0xabcdef);
}

VCL_CASES(
    errors,
    {"errors/request-id-zero", "WIRE-33 WIRE-31", VCL_MUST, 0,
     "request id 0 is DUPLICATE_REQUEST_ID with id 0, and the request is not executed",
     request_id_zero},
    {"errors/duplicate-in-flight", "WIRE-33 WIRE-34", VCL_MUST, 0,
     "a request reusing an id in flight is refused (or executed once the first was "
     "answered); the first is unaffected",
     duplicate_in_flight},
    {"errors/one-response-per-request", "WIRE-34", VCL_MUST, 0,
     "24 requests sent without waiting each get exactly one response",
     one_response_per_request},
    {"errors/inflight-limit", "WIRE-35 WIRE-34 SEC-40", VCL_MUST, 0,
     "MAX_INFLIGHT_REQUESTS requests in flight are executed; beyond, RATE_LIMITED with "
     "retry_after_ms 0 or executed",
     inflight_limit},
    {"errors/check-order", "WIRE-26", VCL_MUST, 0,
     "the general checks apply in the order of spec/wire.md 2.3", check_order},
    {"errors/unknown-rpc", "WIRE-38", VCL_MUST, 0,
     "no body or an unknown body is UNKNOWN_RPC with the request id, before and after "
     "authentication",
     unknown_rpc},
    {"errors/unauthenticated-gate", "WIRE-50", VCL_MUST, 0,
     "every non-public RPC is UNAUTHENTICATED before authentication, and passes after it",
     unauthenticated_gate},
    {"errors/error-shape", "WIRE-43 WIRE-41", VCL_MUST, 0,
     "errors carry no body, no retry_after_ms, no stale entries, a short UTF-8 message",
     error_shape},
    {"errors/no-secrets-in-messages", "SEC-21", VCL_MUST, 0,
     "Error.message never holds the request's token, nonce, signature or another "
     "account's key",
     no_secrets_in_messages},
    {"errors/failed-request-no-effect", "WIRE-45", VCL_MUST, 0,
     "failed Register, Login, Resume and AddDevice change nothing",
     failed_request_no_effect},
    {"errors/consecutive-errors", "WIRE-27 SEC-40", VCL_MUST, 0,
     "bad frames are answered up to MAX_CONSECUTIVE_ERRORS in a row; a success resets "
     "the count; a close is 1008",
     consecutive_errors},
    {"errors/no-frames-after-close", "SM-102 WIRE-27", VCL_MUST, 0,
     "after closing for bad frames the server answers nothing more",
     no_frames_after_close});
