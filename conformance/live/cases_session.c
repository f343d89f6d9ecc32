/* Live cases of the Session service's plumbing (spec/wire.md 1.2, 1.5, 5.1
 * to 5.3; spec/auth.md Challenges): GetServerInfo and its limits, Ping,
 * WebSocket keep-alive, GetChallenge and the life of a challenge, the
 * auth and idle timeouts, and plain ws only on loopback. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "case_util.h"
#include "live.h"
#include "ventra/crypto.h"
#include "ventra/err.h"
#include "vt_constants.h"

#define P(name) VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_##name

/* The timers of spec/wire.md and auth.md in seconds, as int. */
enum {
    CHALLENGE_TTL = (int)VT_CHALLENGE_TTL_S,
    AUTH_TIMEOUT = (int)VT_AUTH_TIMEOUT_S,
    IDLE_TIMEOUT = (int)VT_IDLE_TIMEOUT_S
};

/* Register of |user| with |id| on |c| signed over |nonce| (32 bytes). */
static int register_code(vtc_client *c, const vt_identity *id, const uint8_t key[32],
                         const uint8_t *nonce, const char *user)
{
    return vcl_register_code(c, id, key, nonce, user, user, vt_identity_public(id));
}

static void free_ifaddrs(void *p)
{
    freeifaddrs(p);
}

/* ---- GetServerInfo (WIRE-100, WIRE-62, AUTH-9) ------------------------------- */

static void server_info(vcl_ctx *ctx)
{
    vtc_client *a = vcl_client(ctx), *b = vcl_client(ctx);
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__GetServerInfoRequest body = VENTRA__V1__GET_SERVER_INFO_REQUEST__INIT;
    Ventra__V1__Response *r;
    Ventra__V1__Limits l;
    uint8_t key[32], again[32];
    char proto[64] = "";
    bool shape, has_limits;

    vcl_step(ctx, "GetServerInfo with request id 4242");
    req.id = 4242;
    req.body_case = VENTRA__V1__REQUEST__BODY_GET_SERVER_INFO;
    req.get_server_info = &body;
    r = vtc_call(a, &req);
    VCL_CHECK(ctx, r != NULL, "no response (close code %d)", vtc_client_close_code(a));
    vcl_keep(ctx, r);
    VCL_CHECK(ctx, r->id == 4242, "response id %u, want 4242", r->id);
    VCL_CODE(ctx, vtc_error_code(r), 0);
    shape = r->body_case == VENTRA__V1__RESPONSE__BODY_GET_SERVER_INFO &&
            r->get_server_info->server_key.len == VT_KEY_LEN;
    VCL_CHECK(ctx, shape, "no GetServerInfoResponse with a %d-byte server_key",
              VT_KEY_LEN);
    memcpy(key, r->get_server_info->server_key.data, 32);
    snprintf(proto, sizeof proto, "%s",
             r->get_server_info->protocol ? r->get_server_info->protocol : "");
    VCL_CHECK(ctx, strcmp(proto, VT_PROTOCOL_NAME) == 0,
              "protocol '%s', want " VT_PROTOCOL_NAME, proto);
    has_limits = r->get_server_info->limits != NULL;
    VCL_CHECK(ctx, has_limits, "no limits (WIRE-62)");
    l = *r->get_server_info->limits;

    vcl_step(ctx, "the limits (WIRE-62)");
    VCL_CHECK(ctx, l.max_frame_size == VT_MAX_FRAME_SIZE, "max_frame_size %u, want %u",
              l.max_frame_size, VT_MAX_FRAME_SIZE);
    VCL_CHECK(ctx, l.max_content_size == VT_MAX_CONTENT_SIZE,
              "max_content_size %u, want %u", l.max_content_size, VT_MAX_CONTENT_SIZE);
    VCL_CHECK(ctx, l.max_devices_per_account == VT_MAX_DEVICES_PER_ACCOUNT,
              "max_devices_per_account %u, want %u", l.max_devices_per_account,
              VT_MAX_DEVICES_PER_ACCOUNT);
    VCL_CHECK(ctx, l.max_prekeys_per_upload == VT_MAX_PREKEYS_PER_UPLOAD,
              "max_prekeys_per_upload %u, want %u", l.max_prekeys_per_upload,
              VT_MAX_PREKEYS_PER_UPLOAD);
    VCL_CHECK(ctx, l.max_group_members == VT_MAX_GROUP_MEMBERS,
              "max_group_members %u, want %u", l.max_group_members, VT_MAX_GROUP_MEMBERS);
    VCL_CHECK(ctx, l.push_window >= VT_PUSH_WINDOW, "push_window %u, want >= %u",
              l.push_window, VT_PUSH_WINDOW);
    VCL_CHECK(ctx, l.max_inflight_requests >= VT_MAX_INFLIGHT_REQUESTS,
              "max_inflight_requests %u, want >= %u", l.max_inflight_requests,
              VT_MAX_INFLIGHT_REQUESTS);
    VCL_CHECK(ctx, l.max_queue_depth >= VT_MAX_QUEUE_DEPTH,
              "max_queue_depth %u, want >= %u", l.max_queue_depth, VT_MAX_QUEUE_DEPTH);

    vcl_step(ctx, "the same key on another connection, and again on the first");
    vcl_server_key(ctx, b, again);
    VCL_CHECK(ctx, memcmp(key, again, 32) == 0, "another connection got another key");
    vcl_server_key(ctx, a, again);
    VCL_CHECK(ctx, memcmp(key, again, 32) == 0, "a second call got another key");
}

/* AUTH-9 with the key file: the key served is the public half of it. */
static void server_key_matches_key_file(vcl_ctx *ctx)
{
    uint8_t pk[32], sk[64], key[32];

    vcl_server_keypair(ctx, pk, sk);
    vt_wipe(sk, sizeof sk);
    vcl_step(ctx, "GetServerInfo");
    vcl_server_key(ctx, vcl_client(ctx), key);
    VCL_CHECK(ctx, memcmp(pk, key, 32) == 0,
              "server_key is not the public key of --server-key-file");
}

/* WIRE-100: the key survives a crash and restart of the server. */
static void server_key_survives_restart(vcl_ctx *ctx)
{
    uint8_t before[32], after[32];

    vcl_step(ctx, "GetServerInfo");
    vcl_server_key(ctx, vcl_client(ctx), before);
    vcl_step(ctx, "kill -9 and restart the server");
    vcl_crash_restart(ctx);
    vcl_step(ctx, "GetServerInfo after the restart");
    vcl_server_key(ctx, vcl_client(ctx), after);
    VCL_CHECK(ctx, memcmp(before, after, 32) == 0,
              "the server key changed across a restart");
}

/* Whether the |len| bytes |b| hold any 8 bytes of |secret| (32 bytes) raw,
 * or 16 characters of it in hex or 12 in base64 (standard or url). */
static bool leaks(const void *b, size_t len, const uint8_t secret[32])
{
    char hex[2][65], b64[2][48], *u;

    for (size_t i = 0; i + 8 <= 32; i++)
        if (memmem(b, len, secret + i, 8) != NULL)
            return true;
    for (size_t i = 0; i < 32; i++) {
        snprintf(hex[0] + 2 * i, 3, "%02x", secret[i]);
        snprintf(hex[1] + 2 * i, 3, "%02X", secret[i]);
    }
    u = vtc_b64url(secret, 32);
    snprintf(b64[0], sizeof b64[0], "%s", u);
    free(u);
    snprintf(b64[1], sizeof b64[1], "%s", b64[0]);
    for (char *p = b64[1]; *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i + 16 <= 64; i++)
            if (memmem(b, len, hex[k] + i, 16) != NULL)
                return true;
        for (size_t i = 0; i + 12 <= strlen(b64[k]); i++)
            if (memmem(b, len, b64[k] + i, 12) != NULL)
                return true;
    }
    return false;
}

/* |r| packed again (unknown fields included) holds no part of |seed|. */
static void check_response(vcl_ctx *ctx, Ventra__V1__Response *r, const uint8_t seed[32],
                           const char *what)
{
    size_t n;
    uint8_t *buf;
    bool bad;

    VCL_CHECK(ctx, r != NULL, "%s: no response", what);
    vcl_keep(ctx, r);
    n = ventra__v1__response__get_packed_size(r);
    buf = malloc(n + 1);
    VCL_CHECK(ctx, buf != NULL, "out of memory");
    ventra__v1__response__pack(r, buf);
    bad = leaks(buf, n, seed);
    free(buf);
    VCL_CHECK(ctx, !bad, "%s: the response holds the server's private key", what);
}

/* SEC-22: the server's private key (its seed) appears in nothing it
 * sends: responses, tokens, error messages, HTTP endpoints. */
static void server_key_not_disclosed(vcl_ctx *ctx)
{
    static const char *const paths[] = {"/healthz", "/metrics", "/docs/", "/nope"};
    uint8_t pk[32], sk[64], *seed = malloc(32);
    vtc_client *c = vcl_client(ctx);
    vtc_device *d;

    VCL_CHECK(ctx, seed != NULL, "out of memory");
    vcl_defer(ctx, free, seed);
    vcl_server_keypair(ctx, pk, sk);
    memcpy(seed, sk, 32); /* libsodium's secret key is seed || pk */
    vt_wipe(sk, sizeof sk);
    vcl_step(ctx, "GetServerInfo");
    check_response(ctx, vtc_rpc_server_info(c), seed, "GetServerInfo");
    vcl_step(ctx, "Register, Login and Resume responses and their tokens");
    d = vcl_account(ctx, "seckey");
    VCL_CHECK(ctx, !leaks(d->token, strlen(d->token), seed),
              "the Register token holds the server's private key");
    vcl_check_code(ctx, vtc_login(d, vcl_port(ctx)), 0, "Login");
    VCL_CHECK(ctx, !leaks(d->token, strlen(d->token), seed),
              "the Login token holds the server's private key");
    check_response(ctx, vtc_rpc_resume(vcl_client(ctx), d->token), seed, "Resume");
    vcl_step(ctx, "error responses");
    check_response(ctx, vtc_rpc_resume(c, "a.b.c"), seed, "Resume with garbage");
    check_response(ctx, vtc_rpc_login(c, d->username, 1, pk, 32, pk, 32), seed,
                   "Login with bad lengths");
    check_response(ctx, vtc_rpc_get_challenge(c, 0), seed, "GetChallenge(0)");
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *headers = NULL, *body = NULL;
        bool bad;

        vcl_step(ctx, "GET %s", paths[i]);
        vtc_http_get(vcl_port(ctx), paths[i], &headers, &body);
        bad = (headers && leaks(headers, strlen(headers), seed)) ||
              (body && leaks(body, strlen(body), seed));
        free(headers);
        free(body);
        VCL_CHECK(ctx, !bad, "GET %s holds the server's private key", paths[i]);
    }
}

/* ---- Ping, WebSocket ping (WIRE-110, WIRE-11) -------------------------------- */

static void ping(vcl_ctx *ctx)
{
    static const uint64_t nonces[] = {0x0123456789abcdefull, 0, 1, UINT64_MAX};
    vtc_client *c = vcl_client(ctx);

    for (size_t i = 0; i < sizeof nonces / sizeof nonces[0]; i++) {
        Ventra__V1__Response *r;
        uint64_t before = vtc_wall_ms(), after, t = 0, got = 0;
        int code;
        bool body;

        vcl_step(ctx, "Ping(%llu)", (unsigned long long)nonces[i]);
        r = vtc_rpc_ping(c, nonces[i]);
        after = vtc_wall_ms();
        code = vtc_error_code(r);
        body = code == 0 && r->body_case == VENTRA__V1__RESPONSE__BODY_PING;
        if (body) {
            got = r->ping->nonce;
            t = r->ping->server_time_ms;
        }
        vtc_response_free(r);
        VCL_CODE(ctx, code, 0);
        VCL_CHECK(ctx, body, "no PingResponse");
        VCL_CHECK(ctx, got == nonces[i], "nonce %llu, want %llu unchanged",
                  (unsigned long long)got, (unsigned long long)nonces[i]);
        /* Its current time: against our clock, allowing 2 minutes of skew. */
        VCL_CHECK(ctx, t + 120000 >= before && t <= after + 120000,
                  "server_time_ms %llu is not the current time (ours %llu)",
                  (unsigned long long)t, (unsigned long long)after);
    }
}

static void ws_ping_answered(vcl_ctx *ctx)
{
    uint8_t big[125];
    struct {
        const char *what;
        const uint8_t *data;
        size_t len;
    } pings[] = {{"an empty ping", NULL, 0},
                 {"a ping of 6 bytes", (const uint8_t *)"ventra", 6},
                 {"a ping of 125 bytes", big, sizeof big}};
    vtc_ws_msg *m = vcl_msg(ctx);
    vtc_device *d;

    memset(big, 0xa5, sizeof big);
    for (int authed = 0; authed < 2; authed++) {
        vtc_ws *ws;

        if (authed) {
            d = vcl_account(ctx, "wsping");
            ws = vtc_client_ws(d->c);
        } else {
            ws = vtc_client_ws(vcl_client(ctx));
        }
        for (size_t i = 0; i < sizeof pings / sizeof pings[0]; i++) {
            int64_t deadline = vtc_now_ms() + 5000;

            vcl_step(ctx, "%s on an %sauthenticated connection", pings[i].what,
                     authed ? "" : "un");
            VCL_CHECK(ctx, vtc_ws_ping(ws, pings[i].data, pings[i].len), "write failed");
            /* Events (after authentication) may come first. */
            do {
                vtc_ws_msg_free(m);
                vtc_ws_recv(ws, vtc_left_ms(deadline), m);
            } while (m->kind == VTC_WS_BINARY);
            VCL_CHECK(ctx, m->kind == VTC_WS_PONG, "no pong (message kind %d)",
                      (int)m->kind);
            VCL_CHECK(ctx,
                      m->len == pings[i].len &&
                          (m->len == 0 || memcmp(m->data, pings[i].data, m->len) == 0),
                      "the pong (%zu bytes) does not echo the ping's %zu bytes", m->len,
                      pings[i].len);
        }
    }
}

/* ---- GetChallenge (AUTH-30 to AUTH-34, WIRE-120) ----------------------------- */

static void challenge_form(vcl_ctx *ctx)
{
    static const int purposes[] = {P(LOGIN), P(REGISTER)};
    vtc_device *d = vcl_account(ctx, "chform");
    vtc_client *c = vcl_client(ctx);

    for (int i = 0; i < 3; i++) {
        int purpose = i < 2 ? purposes[i] : P(DELETE_ACCOUNT);
        vtc_client *on = i < 2 ? c : d->c;
        Ventra__V1__Response *r;
        int code;
        bool ok;

        vcl_step(ctx, "GetChallenge(%d)%s", purpose,
                 i < 2 ? "" : " on an authenticated connection");
        r = vtc_rpc_get_challenge(on, purpose);
        code = vtc_error_code(r);
        ok = code == 0 && r->body_case == VENTRA__V1__RESPONSE__BODY_GET_CHALLENGE &&
             r->get_challenge->nonce.len == VT_CHALLENGE_NONCE_LEN &&
             r->get_challenge->expires_in_s == CHALLENGE_TTL;
        vtc_response_free(r);
        VCL_CODE(ctx, code, 0);
        VCL_CHECK(ctx, ok, "want a nonce of %d bytes and expires_in_s %d",
                  VT_CHALLENGE_NONCE_LEN, CHALLENGE_TTL);
    }
}

/* SEC-23: 64 nonces of two connections, pairwise distinct, none all zero,
 * and their bits balanced (for 16384 random bits, 45 to 55 % ones is off
 * by more than 12 standard deviations). */
static void challenge_nonces_random(vcl_ctx *ctx)
{
    enum { N = 64 };
    static uint8_t nonces[N][32];
    static const uint8_t zero[32];
    vtc_client *c[2] = {vcl_client(ctx), vcl_client(ctx)};
    size_t ones = 0;

    vcl_step(ctx, "64 GetChallenge on two connections");
    for (int i = 0; i < N; i++)
        vcl_challenge(ctx, c[i & 1], (i & 2) ? P(LOGIN) : P(REGISTER), nonces[i]);
    for (int i = 0; i < N; i++) {
        VCL_CHECK(ctx, memcmp(nonces[i], zero, 32) != 0, "nonce %d is all zero", i);
        for (int j = 0; j < i; j++)
            VCL_CHECK(ctx, memcmp(nonces[i], nonces[j], 32) != 0,
                      "nonces %d and %d are equal", j, i);
        for (int k = 0; k < 32; k++)
            ones += (size_t)__builtin_popcount(nonces[i][k]);
    }
    VCL_CHECK(ctx, ones * 100 >= 45u * N * 256 && ones * 100 <= 55u * N * 256,
              "%zu of %d nonce bits are 1: not random", ones, N * 256);
}

static void challenge_purpose_checked(vcl_ctx *ctx)
{
    static const int bad[] = {P(UNSPECIFIED), 4, 99, 0x7fffffff};
    vtc_client *c = vcl_client(ctx);
    vtc_device *d = vcl_account(ctx, "chpurp");

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vcl_step(ctx, "GetChallenge(%d) before authentication", bad[i]);
        vcl_expect_code(ctx, vtc_rpc_get_challenge(c, bad[i]), VT_ERR_INVALID_ARGUMENT,
                        "GetChallenge");
        vcl_step(ctx, "GetChallenge(%d) after authentication", bad[i]);
        vcl_expect_code(ctx, vtc_rpc_get_challenge(d->c, bad[i]), VT_ERR_INVALID_ARGUMENT,
                        "GetChallenge");
    }
}

/* The checks 2 and 3 of GetChallenge (spec/wire.md 5.3). */
static void challenge_auth_state(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    vtc_device *d = vcl_account(ctx, "chstate");
    uint8_t nonce[32];

    vcl_step(ctx, "DELETE_ACCOUNT before authentication");
    vcl_expect_code(ctx, vtc_rpc_get_challenge(c, P(DELETE_ACCOUNT)),
                    VT_ERR_UNAUTHENTICATED, "GetChallenge(DELETE_ACCOUNT)");
    vcl_step(ctx, "LOGIN after authentication");
    vcl_expect_code(ctx, vtc_rpc_get_challenge(d->c, P(LOGIN)), VT_ERR_PERMISSION_DENIED,
                    "GetChallenge(LOGIN)");
    vcl_step(ctx, "REGISTER after authentication");
    vcl_expect_code(ctx, vtc_rpc_get_challenge(d->c, P(REGISTER)),
                    VT_ERR_PERMISSION_DENIED, "GetChallenge(REGISTER)");
    vcl_step(ctx, "DELETE_ACCOUNT after authentication");
    vcl_challenge(ctx, d->c, P(DELETE_ACCOUNT), nonce);
    vcl_step(ctx, "LOGIN before authentication still works");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
}

/* AUTH-32: a new challenge of a purpose replaces the one before. */
static void challenge_replaced(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    vt_identity *id = vcl_identity(ctx);
    uint8_t key[32], n1[32], n2[32];
    char user[33];
    vtc_device *d = vcl_account(ctx, "chrepl");

    vtc_username(user, "chrepl");
    vcl_server_key(ctx, c, key);
    vcl_step(ctx, "two REGISTER challenges, Register with the first");
    vcl_challenge(ctx, c, P(REGISTER), n1);
    vcl_challenge(ctx, c, P(REGISTER), n2);
    vcl_check_code(ctx, register_code(c, id, key, n1, user), VT_ERR_BAD_CHALLENGE,
                   "Register with the replaced nonce");
    vcl_step(ctx, "two LOGIN challenges, Login with the first");
    vcl_challenge(ctx, c, P(LOGIN), n1);
    vcl_challenge(ctx, c, P(LOGIN), n2);
    vcl_check_code(ctx, vcl_login_code(c, d->id, key, n1, d->username, 1),
                   VT_ERR_BAD_CHALLENGE, "Login with the replaced nonce");
    vcl_step(ctx, "a LOGIN challenge does not replace the REGISTER one");
    vcl_challenge(ctx, c, P(REGISTER), n1);
    vcl_challenge(ctx, c, P(LOGIN), n2);
    vcl_check_code(ctx, register_code(c, id, key, n1, user), 0,
                   "Register with the REGISTER nonce");
}

/* AUTH-33: whatever the outcome, a request past its argument checks
 * consumes the challenge. */
static void challenge_single_use(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    vt_identity *id = vcl_identity(ctx), *mallory = vcl_identity(ctx);
    vtc_device *d = vcl_account(ctx, "chonce"), *taken = vcl_account(ctx, "chtaken");
    uint8_t key[32], nonce[32], rnd[32];
    char user[33];

    vtc_username(user, "chonce");
    vcl_server_key(ctx, c, key);
    VCL_CHECK(ctx, vt_random_bytes(rnd, 32) == VT_OK, "vt_random_bytes failed");

    vcl_step(ctx, "Register with a wrong nonce, then with the right one");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vcl_check_code(ctx, register_code(c, id, key, rnd, user), VT_ERR_BAD_CHALLENGE,
                   "Register with a nonce never issued");
    vcl_check_code(ctx, register_code(c, id, key, nonce, user), VT_ERR_BAD_CHALLENGE,
                   "Register with the nonce after a failed use");

    vcl_step(ctx, "Register of a taken name, then of a free one with that nonce");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vcl_check_code(ctx, register_code(c, id, key, nonce, taken->username),
                   VT_ERR_ALREADY_EXISTS, "Register of a taken name");
    vcl_check_code(ctx, register_code(c, id, key, nonce, user), VT_ERR_BAD_CHALLENGE,
                   "Register with the nonce after ALREADY_EXISTS");

    vcl_step(ctx, "Login with a wrong signature, then the right one, one nonce");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vcl_check_code(ctx, vcl_login_code(c, mallory, key, nonce, d->username, 1),
                   VT_ERR_BAD_SIGNATURE, "Login signed by another key");
    vcl_check_code(ctx, vcl_login_code(c, d->id, key, nonce, d->username, 1),
                   VT_ERR_BAD_CHALLENGE, "Login with the nonce after a failed use");

    vcl_step(ctx, "a successful Login's nonce, used again on a new connection's Login");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vcl_check_code(ctx, vcl_login_code(c, d->id, key, nonce, d->username, 1), 0, "Login");
    c = vcl_client(ctx);
    vcl_challenge(ctx, c, P(LOGIN), rnd);
    vcl_check_code(ctx, vcl_login_code(c, d->id, key, nonce, d->username, 1),
                   VT_ERR_BAD_CHALLENGE, "the used nonce on another connection");
    vcl_check_code(ctx, register_code(vcl_client(ctx), id, key, nonce, user),
                   VT_ERR_BAD_CHALLENGE, "the used nonce in a Register elsewhere");
}

/* AUTH-31: bound to its connection and its purpose. */
static void challenge_bound(vcl_ctx *ctx)
{
    vtc_client *a = vcl_client(ctx), *b = vcl_client(ctx);
    vt_identity *id = vcl_identity(ctx);
    vtc_device *d = vcl_account(ctx, "chbound");
    uint8_t key[32], na[32], nb[32];
    char user[33];

    vtc_username(user, "chbound");
    vcl_server_key(ctx, a, key);
    vcl_step(ctx, "A's REGISTER nonce in a Register on B (which holds its own)");
    vcl_challenge(ctx, a, P(REGISTER), na);
    vcl_challenge(ctx, b, P(REGISTER), nb);
    vcl_check_code(ctx, register_code(b, id, key, na, user), VT_ERR_BAD_CHALLENGE,
                   "Register on B with A's nonce");
    vcl_step(ctx, "A's LOGIN nonce in a Login on B");
    vcl_challenge(ctx, a, P(LOGIN), na);
    vcl_challenge(ctx, b, P(LOGIN), nb);
    vcl_check_code(ctx, vcl_login_code(b, d->id, key, na, d->username, 1),
                   VT_ERR_BAD_CHALLENGE, "Login on B with A's nonce");
    vcl_step(ctx, "a REGISTER nonce in a Login");
    vcl_challenge(ctx, a, P(REGISTER), na);
    vcl_check_code(ctx, vcl_login_code(a, d->id, key, na, d->username, 1),
                   VT_ERR_BAD_CHALLENGE, "Login with a REGISTER nonce");
    vcl_step(ctx, "a LOGIN nonce in a Register");
    vcl_challenge(ctx, a, P(LOGIN), na);
    vcl_check_code(ctx, register_code(a, id, key, na, user), VT_ERR_BAD_CHALLENGE,
                   "Register with a LOGIN nonce");
    vcl_step(ctx, "a DELETE_ACCOUNT nonce of A's device used by another device");
    {
        vtc_device *e = vcl_account(ctx, "chbound2");
        uint8_t sig[64];

        vcl_challenge(ctx, d->c, P(DELETE_ACCOUNT), na);
        vtc_sign_delete_account(e->id, key, na, 32, e->username, 1, sig);
        vcl_expect_code(ctx, vtc_rpc_delete_account(e->c, na, 32, sig, 64),
                        VT_ERR_BAD_CHALLENGE,
                        "DeleteAccount with another connection's nonce");
    }
    vcl_step(ctx, "each connection's own nonce works");
    vcl_challenge(ctx, b, P(REGISTER), nb);
    vcl_check_code(ctx, register_code(b, id, key, nb, user), 0, "Register on B");
}

/* AUTH-34: no challenge, or a nonce never issued. */
static void challenge_unknown(vcl_ctx *ctx)
{
    vt_identity *id = vcl_identity(ctx);
    vtc_device *d = vcl_account(ctx, "chunk");
    uint8_t key[32], rnd[32], nonce[32], sig[64];
    char user[33];
    vtc_client *c = vcl_client(ctx);

    vtc_username(user, "chunk");
    vcl_server_key(ctx, c, key);
    VCL_CHECK(ctx, vt_random_bytes(rnd, 32) == VT_OK, "vt_random_bytes failed");
    vcl_step(ctx, "Register and Login with no challenge on the connection");
    vcl_check_code(ctx, register_code(c, id, key, rnd, user), VT_ERR_BAD_CHALLENGE,
                   "Register without a challenge");
    vcl_check_code(ctx, vcl_login_code(c, d->id, key, rnd, d->username, 1),
                   VT_ERR_BAD_CHALLENGE, "Login without a challenge");
    vcl_step(ctx, "DeleteAccount with no challenge");
    vtc_sign_delete_account(d->id, key, rnd, 32, d->username, 1, sig);
    vcl_expect_code(ctx, vtc_rpc_delete_account(d->c, rnd, 32, sig, 64),
                    VT_ERR_BAD_CHALLENGE, "DeleteAccount without a challenge");
    vcl_step(ctx, "nonces differing in one bit from the one issued");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    nonce[31] ^= 1;
    vcl_check_code(ctx, register_code(c, id, key, nonce, user), VT_ERR_BAD_CHALLENGE,
                   "Register with the last bit flipped");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    nonce[0] ^= 0x80;
    vcl_check_code(ctx, vcl_login_code(c, d->id, key, nonce, d->username, 1),
                   VT_ERR_BAD_CHALLENGE, "Login with the first bit flipped");
}

/* AUTH-34: a DELETE_ACCOUNT challenge (the one purpose that can outlive
 * AUTH_TIMEOUT_S) is refused CHALLENGE_TTL_S after it was issued. */
static void challenge_expires(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "chexp");
    uint8_t nonce[32], sig[64];
    int code;

    vcl_step(ctx, "GetChallenge(DELETE_ACCOUNT), then CHALLENGE_TTL_S + 2 s");
    vcl_challenge(ctx, d->c, P(DELETE_ACCOUNT), nonce);
    code = vtc_wait_close(d->c, (CHALLENGE_TTL + 2) * 1000);
    VCL_CHECK(ctx, code == 0, "the connection closed (%d) while waiting", code);
    vcl_step(ctx, "DeleteAccount with the expired nonce");
    vtc_sign_delete_account(d->id, d->server_key, nonce, 32, d->username, d->device_id,
                            sig);
    vcl_expect_code(ctx, vtc_rpc_delete_account(d->c, nonce, 32, sig, 64),
                    VT_ERR_BAD_CHALLENGE, "DeleteAccount with an expired nonce");
    vcl_step(ctx, "DeleteAccount with a fresh nonce");
    vcl_check_code(ctx, vtc_delete_account(d), 0, "DeleteAccount");
}

/* ---- Timeouts (WIRE-12, WIRE-13) -------------------------------------------- */

static void auth_timeout_1008(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    int64_t t0 = vtc_now_ms(), dt;
    vtc_device *d = vcl_account(ctx, "authto");
    int code;

    vcl_step(ctx, "a Ping (public RPCs do not authenticate), then wait");
    vcl_expect_code(ctx, vtc_rpc_ping(c, 1), 0, "Ping");
    code = vtc_wait_close(c, (AUTH_TIMEOUT + 10) * 1000);
    dt = vtc_now_ms() - t0;
    VCL_CHECK(ctx, code == 1008, "close code %d after %lld ms, want 1008 after %d s",
              code, (long long)dt, AUTH_TIMEOUT);
    VCL_CHECK(ctx, dt >= (AUTH_TIMEOUT - 1) * 1000,
              "closed after %lld ms, before AUTH_TIMEOUT_S", (long long)dt);
    vcl_step(ctx, "the authenticated connection of the same age stays");
    vcl_expect_code(ctx, vtc_rpc_ping(d->c, 2), 0,
                    "Ping on the authenticated connection");
}

static void idle_timeout_1000(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "idle");
    vtc_ws *ws = vtc_client_ws(d->c);
    vtc_ws_msg *m = vcl_msg(ctx);
    int64_t t0 = vtc_now_ms(), deadline = t0 + (IDLE_TIMEOUT + 20) * 1000, dt;

    vcl_step(ctx, "silence (no pong either) after Register");
    do {
        vtc_ws_msg_free(m);
        vtc_ws_recv_quiet(ws, vtc_left_ms(deadline), m);
    } while (m->kind == VTC_WS_BINARY); /* events of the authentication */
    dt = vtc_now_ms() - t0;
    VCL_CHECK(ctx, m->kind == VTC_WS_CLOSE,
              "no close within IDLE_TIMEOUT_S + 20 s (message kind %d after %lld ms)",
              (int)m->kind, (long long)dt);
    VCL_CHECK(ctx, m->close_code == 1000, "close code %d, want 1000", m->close_code);
    VCL_CHECK(ctx, dt >= (IDLE_TIMEOUT - 1) * 1000,
              "closed for idleness after %lld ms, before IDLE_TIMEOUT_S", (long long)dt);
}

/* ---- Plain ws only on loopback (WIRE-5) ---------------------------------------- */

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

static void plain_ws_loopback_only(vcl_ctx *ctx)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    struct ifaddrs *ifs = NULL;
    char host[256], addr[INET6_ADDRSTRLEN];
    bool all_loopback = true;

    if (vtc_target_is_tls())
        vcl_skip(ctx, "the target is wss: nothing plain to probe on its address");
    snprintf(host, sizeof host, "%s", vcl_host(ctx));
    vcl_step(ctx, "the addresses of %s", host);
    VCL_CHECK(ctx, getaddrinfo(host, NULL, &hints, &res) == 0, "cannot resolve %s", host);
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next)
        all_loopback = all_loopback && is_loopback(a->ai_addr);
    freeaddrinfo(res);
    VCL_CHECK(ctx, all_loopback,
              "the server serves plain ws on %s, which is not a loopback address", host);

    /* A server bound to every address would also serve plain ws on this
     * host's other addresses: try each IPv4 one at the same port. */
    VCL_CHECK(ctx, getifaddrs(&ifs) == 0, "getifaddrs failed");
    vcl_defer(ctx, free_ifaddrs, ifs);
    for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
        vtc_ws *ws;
        int status = 0;

        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
            is_loopback(i->ifa_addr))
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, addr,
                  sizeof addr);
        vcl_step(ctx, "plain ws on %s:%d", addr, vcl_port(ctx));
        VCL_CHECK(ctx, vtc_target_set(addr, false, NULL, false), "vtc_target_set failed");
        ws = vtc_ws_connect(vcl_port(ctx), NULL, &status);
        vtc_ws_free(ws);
        VCL_CHECK(ctx, vtc_target_set(host, false, NULL, false), "vtc_target_set failed");
        VCL_CHECK(ctx, ws == NULL || status != 101,
                  "the server upgraded a plain ws connection on %s, not a loopback "
                  "address",
                  addr);
    }
    vcl_step(ctx, "the target still serves");
    vcl_expect_code(ctx, vtc_rpc_ping(vcl_client(ctx), 3), 0, "Ping");
}

VCL_CASES(
    session,
    {"session/server-info", "WIRE-100 WIRE-62", VCL_MUST, 0,
     "GetServerInfo: the request id, a 32-byte key the same on every connection, "
     "ventra.v1 and the limits",
     server_info},
    {"session/server-key-matches-key-file", "AUTH-9", VCL_MUST, VCL_NEEDS_SERVER_KEY,
     "GetServerInfo returns the public half of the server key",
     server_key_matches_key_file},
    {"session/server-key-survives-restart", "WIRE-100", VCL_MUST, VCL_NEEDS_CRASH,
     "the server key is the same after a kill -9 and restart",
     server_key_survives_restart},
    {"session/server-key-not-disclosed", "SEC-22", VCL_MUST, VCL_NEEDS_SERVER_KEY,
     "no response, token, error or HTTP page holds the server's private key",
     server_key_not_disclosed},
    {"session/ping", "WIRE-110", VCL_MUST, 0,
     "Ping echoes the nonce (0 and 2^64-1 included) with the current time", ping},
    {"session/ws-ping-answered", "WIRE-11", VCL_MUST, 0,
     "WebSocket pings of 0, 6 and 125 bytes are answered with an echoing pong, before "
     "and after authentication",
     ws_ping_answered},
    {"session/challenge-form", "AUTH-30 WIRE-120", VCL_MUST, 0,
     "GetChallenge gives 32 bytes and expires_in_s CHALLENGE_TTL_S for each purpose",
     challenge_form},
    {"session/challenge-nonces-random", "SEC-23 AUTH-30", VCL_MUST, 0,
     "64 challenge nonces are pairwise distinct, never zero, with balanced bits",
     challenge_nonces_random},
    {"session/challenge-purpose-checked", "AUTH-30 SPEC-3", VCL_MUST, 0,
     "GetChallenge of UNSPECIFIED or an unknown purpose is INVALID_ARGUMENT",
     challenge_purpose_checked},
    {"session/challenge-auth-state", "WIRE-81", VCL_MUST, 0,
     "LOGIN and REGISTER only before, DELETE_ACCOUNT only after authentication",
     challenge_auth_state},
    {"session/challenge-replaced", "AUTH-32 WIRE-120 SEC-40", VCL_MUST, 0,
     "a new challenge of a purpose invalidates the connection's previous one",
     challenge_replaced},
    {"session/challenge-single-use", "AUTH-33 WIRE-45", VCL_MUST, 0,
     "a Register or Login past its argument checks consumes the nonce whatever the "
     "outcome",
     challenge_single_use},
    {"session/challenge-bound", "AUTH-31", VCL_MUST, 0,
     "a nonce works only on its own connection and for its own purpose", challenge_bound},
    {"session/challenge-unknown", "AUTH-34", VCL_MUST, 0,
     "no challenge, or a nonce differing from the one issued, is BAD_CHALLENGE",
     challenge_unknown},
    {"session/challenge-expires", "AUTH-34", VCL_MUST, VCL_SLOW,
     "a DELETE_ACCOUNT nonce is refused CHALLENGE_TTL_S after it was issued (waits 62 s)",
     challenge_expires},
    {"session/auth-timeout-1008", "WIRE-13 WIRE-9", VCL_MUST, VCL_SLOW,
     "a connection that does not authenticate is closed 1008 after AUTH_TIMEOUT_S "
     "(waits 30 s)",
     auth_timeout_1008},
    {"session/idle-timeout-1000", "WIRE-12 WIRE-9", VCL_MUST, VCL_SLOW,
     "a silent authenticated connection is closed 1000 after IDLE_TIMEOUT_S, not before "
     "(waits 90 s)",
     idle_timeout_1000},
    {"session/plain-ws-loopback-only", "WIRE-5", VCL_MUST, 0,
     "plain ws is served on loopback addresses only", plain_ws_loopback_only});
