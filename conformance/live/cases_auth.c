/* Live cases of authentication (spec/auth.md Registration, Login, Session
 * tokens, Resume, One live connection per device, Rate limits; spec/wire.md
 * 5.4 to 5.6): usernames, signatures and identity keys, the check order of
 * Register and Login, the exact form of tokens and how they are checked,
 * expiry and revocation, replacement of a device's older connection, and
 * the authenticating response before any event. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "live.h"
#include "ventra/crypto.h"
#include "ventra/err.h"
#include "vt_constants.h"

#define P(name) VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_##name
#define REPLACED VENTRA__V1__SESSION_END_REASON__SESSION_END_REASON_REPLACED
#define HEADER_JSON "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}"
#define HEADER_B64 "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9"

/* ---- Helpers ----------------------------------------------------------------- */

/* A heap copy of |s| freed after the case. */
static char *dup(vcl_ctx *ctx, const char *s)
{
    char *p = strdup(s);

    VCL_CHECK(ctx, p != NULL, "out of memory");
    vcl_defer(ctx, free, p);
    return p;
}

/* Resume with |token| on a new connection; its code. */
static int resume_code(vcl_ctx *ctx, const char *token)
{
    return vtc_take_code(vtc_rpc_resume(vcl_client(ctx), token));
}

/* The server's clock in Unix seconds, from a Ping. */
static uint64_t server_now(vcl_ctx *ctx)
{
    Ventra__V1__Response *r = vtc_rpc_ping(vcl_client(ctx), 1);
    bool ok = r != NULL && r->body_case == VENTRA__V1__RESPONSE__BODY_PING;
    uint64_t t = ok ? r->ping->server_time_ms / 1000 : 0;

    vtc_response_free(r);
    VCL_CHECK(ctx, ok, "Ping failed");
    return t;
}

static int b64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '-' ? 62 : ch == '_' ? 63 : -1;
}

/* Canonical base64url without padding of |len| chars into |out| (|cap|
 * bytes, NUL-terminated); the decoded length, or -1 when not canonical. */
static long b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    size_t o = 0;
    int bits = 0;

    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(s[i]);

        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits & 0xff);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0)
        return -1;
    out[o] = 0;
    return (long)o;
}

/* A token's parts. */
typedef struct token_info {
    char claims[400];
    char jti[23];
    unsigned long long iat, exp;
} token_info;

static void hex_of(char out[65], const uint8_t key[32])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", key[i]);
}

/* AUTH-50: |tok| has exactly the form of a token issued for (|user|,
 * |dev|) by the server of |key|, with |expires_at| its exp (0: not
 * checked) and iat within 5 minutes of our clock; its parts into |ti|. */
static void check_token(vcl_ctx *ctx, const char *tok, const char *user, uint32_t dev,
                        const uint8_t key[32], uint64_t expires_at, token_info *ti)
{
    const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    char hex[65], want[256], digits[2][24];
    uint8_t sig[80];
    const char *p;
    uint64_t now = vtc_wall_ms() / 1000;
    long n;

    VCL_CHECK(ctx, strlen(tok) <= VT_MAX_TOKEN_LEN, "token of %zu bytes > MAX_TOKEN_LEN",
              strlen(tok));
    VCL_CHECK(ctx, d2 != NULL && strchr(d2 + 1, '.') == NULL,
              "token '%s' is not three segments", tok);
    VCL_CHECK(ctx,
              d1 - tok == (long)strlen(HEADER_B64) && strncmp(tok, HEADER_B64, 36) == 0,
              "token header segment '%.*s', want " HEADER_B64, (int)(d1 - tok), tok);
    n = b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), (uint8_t *)ti->claims,
                   sizeof ti->claims);
    VCL_CHECK(ctx, n > 0, "the claims segment is not canonical base64url");
    VCL_CHECK(ctx, strlen(ti->claims) == (size_t)n, "the claims hold a NUL byte");
    hex_of(hex, key);
    snprintf(want, sizeof want,
             "{\"iss\":\"ventra:%s\",\"sub\":\"%s\",\"dev\":%u,\"iat\":", hex, user, dev);
    VCL_CHECK(ctx, strncmp(ti->claims, want, strlen(want)) == 0,
              "claims '%s' do not start with '%s'", ti->claims, want);
    p = ti->claims + strlen(want);
    VCL_CHECK(ctx,
              sscanf(p, "%20[0-9],\"exp\":%20[0-9],\"jti\":\"%22[A-Za-z0-9_-]\"}",
                     digits[0], digits[1], ti->jti) == 3,
              "claims '%s' are not of the AUTH-50 form", ti->claims);
    ti->iat = strtoull(digits[0], NULL, 10);
    ti->exp = strtoull(digits[1], NULL, 10);
    snprintf(want, sizeof want, "%llu,\"exp\":%llu,\"jti\":\"%s\"}", ti->iat, ti->exp,
             ti->jti);
    VCL_CHECK(ctx, strcmp(p, want) == 0 && strlen(ti->jti) == 22,
              "claims '%s': numbers with leading zeros or a jti not of 22 characters",
              ti->claims);
    {
        uint8_t jti[24];

        VCL_CHECK(ctx, b64_decode(ti->jti, 22, jti, sizeof jti) == 16,
                  "jti '%s' is not canonical base64url of 16 bytes", ti->jti);
    }
    VCL_CHECK(ctx, ti->exp == ti->iat + VT_TOKEN_TTL_S, "exp %llu is not iat %llu + %d",
              ti->exp, ti->iat, (int)VT_TOKEN_TTL_S);
    VCL_CHECK(ctx, ti->iat + 300 >= now && ti->iat <= now + 300,
              "iat %llu is not the current time (ours %llu)", ti->iat,
              (unsigned long long)now);
    VCL_CHECK(ctx, expires_at == 0 || expires_at == ti->exp,
              "token_expires_at %llu, want the token's exp %llu",
              (unsigned long long)expires_at, ti->exp);
    n = b64_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
    VCL_CHECK(ctx, n == 64,
              "the signature segment is not canonical base64url of 64 bytes");
    VCL_CHECK(ctx,
              vt_ed25519_verify(sig, (const uint8_t *)tok, (size_t)(d2 - tok), key) ==
                  VT_OK,
              "the token's signature does not verify under the server key");
}

/* Parses a token the server issued (form checked elsewhere). */
static void token_parts(vcl_ctx *ctx, const char *tok, token_info *ti)
{
    const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    const char *j;

    VCL_CHECK(ctx, d2 != NULL, "token '%s' is not three segments", tok);
    VCL_CHECK(ctx,
              b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), (uint8_t *)ti->claims,
                         sizeof ti->claims) > 0,
              "the claims segment does not decode");
    j = strstr(ti->claims, "\"jti\":\"");
    VCL_CHECK(ctx, j != NULL && sscanf(j + 7, "%22[A-Za-z0-9_-]", ti->jti) == 1,
              "no jti in '%s'", ti->claims);
}

/* The server's key pair from --server-key-file, wiped after the case. */
typedef struct keypair {
    uint8_t pk[32], sk[64];
} keypair;

static void wipe_free(void *p)
{
    vt_wipe(p, sizeof(keypair));
    free(p);
}

static keypair *server_keypair(vcl_ctx *ctx)
{
    keypair *k = calloc(1, sizeof *k);

    VCL_CHECK(ctx, k != NULL, "out of memory");
    vcl_defer(ctx, wipe_free, k);
    vcl_server_keypair(ctx, k->pk, k->sk);
    return k;
}

/* A token signed with the server key over |header| and |claims|; freed
 * after the case. */
static char *make_token(vcl_ctx *ctx, const keypair *k, const char *header,
                        const char *claims)
{
    char *t = vtc_token_make(header, claims, k->sk);

    vcl_defer(ctx, free, t);
    return t;
}

/* Reads raw messages of |ws| until the connection ends: the frames until
 * the close must end with a SessionEndedEvent of |reason|, the close must
 * be |close_code|, and nothing may follow it (WIRE-601, SM-102). */
static void expect_ended_raw(vcl_ctx *ctx, vtc_ws *ws, int reason, int close_code)
{
    vtc_ws_msg *m = vcl_msg(ctx);
    int64_t deadline = vtc_now_ms() + 5000;
    int last = -1; /* the reason of the last frame if a SessionEndedEvent, else -1 */
    bool closed = false;

    for (;;) {
        vtc_ws_msg_free(m);
        vtc_ws_recv(ws, vtc_left_ms(deadline), m);
        if (m->kind == VTC_WS_BINARY) {
            Ventra__V1__Frame *f = ventra__v1__frame__unpack(NULL, m->len, m->data);
            bool ended = f != NULL && f->kind_case == VENTRA__V1__FRAME__KIND_EVENT &&
                         f->event->body_case == VENTRA__V1__EVENT__BODY_SESSION_ENDED;

            last = ended ? (int)f->event->session_ended->reason : -1;
            if (f != NULL)
                ventra__v1__frame__free_unpacked(f, NULL);
            VCL_CHECK(ctx, !closed, "a frame after the close frame (SM-102)");
            continue;
        }
        if (m->kind == VTC_WS_CLOSE) {
            VCL_CHECK(ctx, last == reason,
                      "the last frame before the close is %s, want a SessionEndedEvent "
                      "with reason %d",
                      last < 0 ? "no SessionEndedEvent" : "a SessionEndedEvent", reason);
            VCL_CHECK(ctx, m->close_code == close_code, "close code %d, want %d",
                      m->close_code, close_code);
            closed = true;
            deadline = vtc_now_ms() + 2000; /* until the end of the stream */
            continue;
        }
        if (m->kind == VTC_WS_PONG)
            continue;
        VCL_CHECK(ctx, closed, "the connection ended (message kind %d) without a close",
                  (int)m->kind);
        return; /* EOF or timeout after the close */
    }
}

/* ---- Register ------------------------------------------------------------------ */

static void register_ok(vcl_ctx *ctx)
{
    Ventra__V1__RegisterRequest body = VENTRA__V1__REGISTER_REQUEST__INIT;
    vtc_client *c = vcl_client(ctx);
    vt_identity *id = vcl_identity(ctx);
    const uint8_t *ik = vt_identity_public(id);
    const char *name = "phone \xc3\xa9";
    uint8_t key[32], nonce[32], sig[64];
    Ventra__V1__Response *r;
    Ventra__V1__DeviceInfo *di;
    char user[33];
    token_info ti;
    uint64_t now = vtc_wall_ms() / 1000;

    vtc_username(user, "regok");
    vcl_server_key(ctx, c, key);
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vtc_sign_register(id, key, nonce, 32, user, ik, sig);
    body.username = user;
    body.identity_key = vtc_bin(ik, 32);
    body.device_name = (char *)name;
    body.nonce = vtc_bin(nonce, 32);
    body.signature = vtc_bin(sig, 64);
    vcl_step(ctx, "Register");
    r = vcl_keep(ctx,
                 vtc_call_body(c, VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT, &body));
    VCL_CODE(ctx, vtc_error_code(r), 0);
    VCL_CHECK(ctx, r->body_case == VENTRA__V1__RESPONSE__BODY_REGISTER_ACCOUNT,
              "no RegisterResponse");
    VCL_CHECK(ctx, r->register_account->device_id == 1, "device_id %u, want 1",
              r->register_account->device_id);
    vcl_step(ctx, "the token (AUTH-50)");
    check_token(ctx, r->register_account->token, user, 1, key,
                r->register_account->token_expires_at, &ti);

    vcl_step(ctx, "ListDevices on the connection: authenticated as (user, 1)");
    r = vcl_keep(ctx, vtc_rpc_list_devices(c, ""));
    VCL_CODE(ctx, vtc_error_code(r), 0);
    VCL_CHECK(ctx,
              r->body_case == VENTRA__V1__RESPONSE__BODY_LIST_DEVICES &&
                  r->list_devices->n_devices == 1,
              "want exactly one device listed");
    di = r->list_devices->devices[0];
    VCL_CHECK(ctx, di->device_id == 1, "device id %u, want 1", di->device_id);
    VCL_CHECK(ctx,
              di->identity_key.len == 32 && memcmp(di->identity_key.data, ik, 32) == 0,
              "the identity key listed is not the one registered");
    VCL_CHECK(ctx, di->name != NULL && strcmp(di->name, name) == 0,
              "device name '%s', want '%s'", di->name ? di->name : "", name);
    VCL_CHECK(ctx, di->created_at + 300 >= now && di->created_at <= now + 300,
              "created_at %llu is not the time of Register (%llu)",
              (unsigned long long)di->created_at, (unsigned long long)now);
}

/* AUTH-50 for Login and Resume tokens; SEC-23 for their ids; AUTH-9: they
 * verify under the key GetServerInfo returns. */
static void token_form(vcl_ctx *ctx)
{
    enum { N = 8 };
    vtc_device *d = vcl_account(ctx, "tokform");
    char jti[N][23];
    token_info ti;

    vcl_step(ctx, "the Register token");
    check_token(ctx, d->token, d->username, 1, d->server_key, 0, &ti);
    snprintf(jti[0], sizeof jti[0], "%s", ti.jti);
    for (int i = 1; i < N; i++) {
        uint8_t nonce[32], sig[64];
        Ventra__V1__Response *r;
        vtc_client *c = vcl_client(ctx);
        const char *tok;
        uint64_t exp;

        if (i % 2) {
            vcl_step(ctx, "Login %d", i);
            vcl_challenge(ctx, c, P(LOGIN), nonce);
            vtc_sign_login(d->id, d->server_key, nonce, 32, d->username, 1, sig);
            r = vcl_keep(ctx, vtc_rpc_login(c, d->username, 1, nonce, 32, sig, 64));
            VCL_CODE(ctx, vtc_error_code(r), 0);
            VCL_CHECK(ctx, r->body_case == VENTRA__V1__RESPONSE__BODY_LOGIN,
                      "no LoginResponse");
            tok = r->login->token;
            exp = r->login->token_expires_at;
        } else {
            vcl_step(ctx, "Resume %d", i);
            r = vcl_keep(ctx, vtc_rpc_resume(c, d->token));
            VCL_CODE(ctx, vtc_error_code(r), 0);
            VCL_CHECK(ctx, r->body_case == VENTRA__V1__RESPONSE__BODY_RESUME,
                      "no ResumeResponse");
            tok = r->resume->token;
            exp = r->resume->token_expires_at;
        }
        check_token(ctx, tok, d->username, 1, d->server_key, exp, &ti);
        snprintf(jti[i], sizeof jti[i], "%s", ti.jti);
        for (int j = 0; j < i; j++)
            VCL_CHECK(ctx, strcmp(jti[i], jti[j]) != 0,
                      "tokens %d and %d have the same jti %s (SEC-23)", j, i, jti[i]);
    }
}

static void username_form(vcl_ctx *ctx)
{
    static const char *const bad[] = {"Alice", "ab",   "1abc", "_abc",
                                      "-ab",   ".ab",  "a b",  "ab\xc3\xa9",
                                      "",      "ab/c", "ab+c", "aBc"};
    vtc_client *c = vcl_client(ctx);
    vt_identity *id = vcl_identity(ctx);
    const uint8_t *ik = vt_identity_public(id);
    vtc_device *d = vcl_account(ctx, "uform");
    uint8_t key[32], nonce[32];
    char name33[34], good[33], tag[33];

    vcl_server_key(ctx, c, key);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vcl_step(ctx, "Register('%s'), signed over that name", bad[i]);
        vcl_challenge(ctx, c, P(REGISTER), nonce);
        vcl_check_code(ctx, vcl_register_code(c, id, key, nonce, bad[i], bad[i], ik),
                       VT_ERR_INVALID_ARGUMENT, "Register");
        vcl_step(ctx, "Login('%s')", bad[i]);
        vcl_challenge(ctx, c, P(LOGIN), nonce);
        vcl_check_code(ctx, vcl_login_code(c, id, key, nonce, bad[i], 1),
                       VT_ERR_INVALID_ARGUMENT, "Login");
        if (bad[i][0] == '\0')
            continue; /* ListDevices("") is the caller's own account */
        vcl_step(ctx, "ListDevices('%s')", bad[i]);
        vcl_expect_code(ctx, vtc_rpc_list_devices(d->c, bad[i]), VT_ERR_INVALID_ARGUMENT,
                        "ListDevices");
    }
    vcl_step(ctx, "a name of MAX_USERNAME_LEN + 1 bytes");
    memset(name33, 'a', 33);
    name33[33] = '\0';
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vcl_check_code(ctx, vcl_register_code(c, id, key, nonce, name33, name33, ik),
                   VT_ERR_TOO_LARGE, "Register");
    vcl_expect_code(ctx, vtc_rpc_list_devices(d->c, name33), VT_ERR_TOO_LARGE,
                    "ListDevices");

    vcl_step(ctx, "a name of MAX_USERNAME_LEN bytes with . _ - and digits registers");
    vtc_username(tag, "a.b_c-9");
    memset(good, 'z', VT_MAX_USERNAME_LEN);
    memcpy(good, tag, strlen(tag));
    good[VT_MAX_USERNAME_LEN] = '\0';
    VCL_CHECK(ctx, strlen(good) == VT_MAX_USERNAME_LEN, "test name of %zu bytes",
              strlen(good));
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vcl_check_code(ctx, vcl_register_code(c, id, key, nonce, good, good, ik), 0,
                   "Register");
    vcl_expect_code(ctx, vtc_rpc_list_devices(d->c, good), 0, "ListDevices of it");

    vcl_step(ctx, "a name of MIN_USERNAME_LEN bytes passes the form check");
    {
        uint8_t rnd[2];
        char three[4];
        int code;

        VCL_CHECK(ctx, vt_random_bytes(rnd, 2) == VT_OK, "vt_random_bytes failed");
        snprintf(three, sizeof three, "q%c%c", 'a' + rnd[0] % 26, '0' + rnd[1] % 10);
        c = vcl_client(ctx);
        vcl_challenge(ctx, c, P(REGISTER), nonce);
        code = vcl_register_code(c, id, key, nonce, three, three, ik);
        /* Taken by an earlier run of a long-lived server is fine too. */
        VCL_CHECK(ctx, code == 0 || code == VT_ERR_ALREADY_EXISTS,
                  "Register('%s'): got %s, want OK or ALREADY_EXISTS", three,
                  vcl_code_name(code));
    }
}

/* AUTH-2: no case folding or normalisation. */
static void username_byte_exact(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "exact"), *e = vcl_account(ctx, "exact2");
    vtc_client *c = vcl_client(ctx);
    char upper[33], longer[34];
    uint8_t key[32], nonce[32];

    snprintf(upper, sizeof upper, "%s", d->username);
    upper[0] = (char)(upper[0] - 'a' + 'A');
    snprintf(longer, sizeof longer, "%s.", d->username);
    vcl_server_key(ctx, c, key);
    vcl_step(ctx, "ListDevices('%s') of '%s'", upper, d->username);
    vcl_expect_code(ctx, vtc_rpc_list_devices(e->c, upper), VT_ERR_INVALID_ARGUMENT,
                    "ListDevices of the capitalised name");
    vcl_step(ctx, "Login('%s') signed by the device of '%s'", upper, d->username);
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vcl_check_code(ctx, vcl_login_code(c, d->id, key, nonce, upper, 1),
                   VT_ERR_INVALID_ARGUMENT, "Login with the capitalised name");
    vcl_step(ctx, "ListDevices('%s'): another name", longer);
    vcl_expect_code(ctx, vtc_rpc_list_devices(e->c, longer), VT_ERR_NOT_FOUND,
                    "ListDevices of the name with a '.' appended");
    vcl_step(ctx, "ListDevices('%s') itself", d->username);
    vcl_expect_code(ctx, vtc_rpc_list_devices(e->c, d->username), 0, "ListDevices");
}

/* AUTH-15: keys, nonces and signatures of the wrong length, shorter or
 * longer, are INVALID_ARGUMENT (never TOO_LARGE). */
static void fixed_lengths(vcl_ctx *ctx)
{
    static const struct {
        bool login;
        size_t ik, nonce, sig;
    } cases[] = {
        {false, 0, 32, 64}, {false, 31, 32, 64}, {false, 33, 32, 64},
        {false, 32, 0, 64}, {false, 32, 31, 64}, {false, 32, 33, 64},
        {false, 32, 32, 0}, {false, 32, 32, 63}, {false, 32, 32, 65},
        {true, 0, 0, 64},   {true, 0, 31, 64},   {true, 0, 33, 64},
        {true, 0, 32, 0},   {true, 0, 32, 63},   {true, 0, 32, 65},
    };
    vtc_client *c = vcl_client(ctx);
    vt_identity *id = vcl_identity(ctx);
    uint8_t key[32], nonce[40], sig[72], ik[40];
    char user[33];

    vtc_username(user, "fixed");
    vcl_server_key(ctx, c, key);
    memset(ik, 0, sizeof ik);
    memcpy(ik, vt_identity_public(id), 32);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int code;

        vcl_step(ctx, "%s with identity_key %zu, nonce %zu, signature %zu bytes",
                 cases[i].login ? "Login" : "Register", cases[i].ik, cases[i].nonce,
                 cases[i].sig);
        memset(nonce, 0, sizeof nonce);
        memset(sig, 0, sizeof sig);
        vcl_challenge(ctx, c, cases[i].login ? P(LOGIN) : P(REGISTER), nonce);
        if (cases[i].login) {
            vtc_sign_login(id, key, nonce, 32, user, 1, sig);
            code = vtc_take_code(vtc_rpc_login(c, user, 1, cases[i].nonce ? nonce : NULL,
                                               cases[i].nonce, cases[i].sig ? sig : NULL,
                                               cases[i].sig));
        } else {
            vtc_sign_register(id, key, nonce, 32, user, ik, sig);
            code = vtc_take_code(
                vtc_rpc_register(c, user, cases[i].ik ? ik : NULL, cases[i].ik,
                                 cases[i].nonce ? nonce : NULL, cases[i].nonce,
                                 cases[i].sig ? sig : NULL, cases[i].sig));
        }
        vcl_check_code(ctx, code, VT_ERR_INVALID_ARGUMENT, "the wrong length");
    }
}

/* AUTH-20: several faults at once get the error of the first check. */
static void register_check_order(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx), *other = vcl_client(ctx), *fresh = vcl_client(ctx);
    vt_identity *id = vcl_identity(ctx), *mallory = vcl_identity(ctx);
    const uint8_t *ik = vt_identity_public(id);
    vtc_device *taken = vcl_account(ctx, "ordtaken");
    uint8_t key[32], nonce[32], theirs[32], rnd[32];
    char user[33];
    /* Registers on |conn| (after a challenge of |purpose| unless 0) signed
     * by |signer| over (|k|, the nonce sent, |signed_name|), in this order. */
    const struct {
        const char *what;
        vtc_client *conn;
        int purpose;
        const vt_identity *signer;
        const uint8_t *k, *nonce;
        const char *signed_name, *name;
        int want;
    } cases[] = {
        {"a bad name, a wrong nonce and a forged signature", c, P(REGISTER), mallory, key,
         rnd, "Bad", "Bad", VT_ERR_INVALID_ARGUMENT},
        {"no challenge on the connection", fresh, 0, id, key, rnd, user, user,
         VT_ERR_BAD_CHALLENGE},
        {"a LOGIN challenge only", fresh, P(LOGIN), id, key, nonce, user, user,
         VT_ERR_BAD_CHALLENGE},
        {"another connection's nonce", c, P(REGISTER), id, key, theirs, user, user,
         VT_ERR_BAD_CHALLENGE},
        {"a wrong nonce, a forged signature and a taken name", c, P(REGISTER), mallory,
         key, rnd, taken->username, taken->username, VT_ERR_BAD_CHALLENGE},
        {"a forged signature and a taken name", c, P(REGISTER), mallory, key, nonce,
         taken->username, taken->username, VT_ERR_BAD_SIGNATURE},
        {"a taken name", c, P(REGISTER), id, key, nonce, taken->username, taken->username,
         VT_ERR_ALREADY_EXISTS},
    };

    vtc_username(user, "order");
    vcl_server_key(ctx, c, key);
    VCL_CHECK(ctx, vt_random_bytes(rnd, sizeof rnd) == VT_OK, "vt_random_bytes failed");
    vcl_challenge(ctx, other, P(REGISTER), theirs);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vcl_step(ctx, "Register with %s", cases[i].what);
        if (cases[i].purpose != 0)
            vcl_challenge(ctx, cases[i].conn, cases[i].purpose, nonce);
        vcl_check_code(ctx,
                       vcl_register_code(cases[i].conn, cases[i].signer, cases[i].k,
                                         cases[i].nonce, cases[i].signed_name,
                                         cases[i].name, ik),
                       cases[i].want, "Register");
    }
    vcl_step(ctx, "none of it authenticated the connection; a correct Register works");
    vcl_expect_code(ctx, vtc_rpc_list_devices(c, ""), VT_ERR_UNAUTHENTICATED,
                    "ListDevices");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vcl_check_code(ctx, vcl_register_code(c, id, key, nonce, user, user, ik), 0,
                   "Register");
}

/* AUTH-21: the signature is checked under identity_key over the register
 * transcript of exactly the request's values. */
static void register_signature_verified(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    vt_identity *id = vcl_identity(ctx), *mallory = vcl_identity(ctx);
    const uint8_t *ik = vt_identity_public(id);
    vtc_device *d = vcl_account(ctx, "rsigwatch");
    uint8_t key[32], other_key[32], nonce[32], sig[64];
    char user[33], other[33];

    vtc_username(user, "rsig");
    vtc_username(other, "rsigother");
    vcl_server_key(ctx, c, key);
    VCL_CHECK(ctx, vt_random_bytes(other_key, 32) == VT_OK, "vt_random_bytes failed");

    vcl_step(ctx, "signed by another key");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vcl_check_code(ctx, vcl_register_code(c, mallory, key, nonce, user, user, ik),
                   VT_ERR_BAD_SIGNATURE, "Register");
    vcl_step(ctx, "signed over another username");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vcl_check_code(ctx, vcl_register_code(c, id, key, nonce, other, user, ik),
                   VT_ERR_BAD_SIGNATURE, "Register");
    vcl_step(ctx, "signed over another server key");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vcl_check_code(ctx, vcl_register_code(c, id, other_key, nonce, user, user, ik),
                   VT_ERR_BAD_SIGNATURE, "Register");
    vcl_step(ctx, "a login transcript's signature");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vtc_sign_login(id, key, nonce, 32, user, 1, sig);
    vcl_expect_code(ctx, vtc_rpc_register(c, user, ik, 32, nonce, 32, sig, 64),
                    VT_ERR_BAD_SIGNATURE, "Register");
    vcl_step(ctx, "a correct signature with one bit flipped");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vtc_sign_register(id, key, nonce, 32, user, ik, sig);
    sig[10] ^= 0x04;
    vcl_expect_code(ctx, vtc_rpc_register(c, user, ik, 32, nonce, 32, sig, 64),
                    VT_ERR_BAD_SIGNATURE, "Register");
    vcl_step(ctx, "no account was created");
    vcl_expect_code(ctx, vtc_rpc_list_devices(d->c, user), VT_ERR_NOT_FOUND,
                    "ListDevices");
    vcl_step(ctx, "the correct signature registers");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vcl_check_code(ctx, vcl_register_code(c, id, key, nonce, user, user, ik), 0,
                   "Register");
}

/* AUTH-7: identity keys that are no valid Ed25519 point of the prime-order
 * subgroup are refused (BAD_SIGNATURE) and never stored, even with the
 * signature (R = identity point, S = 0) that a lax verifier accepts under a
 * small-order key. */
static void register_invalid_identity_key(vcl_ctx *ctx)
{
    static const struct {
        const char *what;
        uint8_t first, last, fill;
    } keys[] = {
        {"the neutral point (order 1)", 0x01, 0x00, 0x00},
        {"the point of order 2", 0xec, 0x7f, 0xff},
        {"the point y = 0 (order 4)", 0x00, 0x00, 0x00},
        {"y = p, a non-canonical encoding", 0xed, 0x7f, 0xff},
        {"y = 2^255 - 1, non-canonical", 0xff, 0x7f, 0xff},
    };
    vtc_client *c = vcl_client(ctx);
    vtc_device *d = vcl_account(ctx, "badikwatch");
    uint8_t key[32], nonce[32], ik[32], sig[64];
    char user[33];

    vtc_username(user, "badik");
    vcl_server_key(ctx, c, key);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        memset(ik, keys[i].fill, 32);
        ik[0] = keys[i].first;
        ik[31] = keys[i].last;
        for (int s = 0; s < 2; s++) {
            vcl_step(ctx, "Register with %s and a %s signature", keys[i].what,
                     s ? "random" : "(identity, 0)");
            if (s == 0) {
                memset(sig, 0, 64);
                sig[0] = 0x01; /* R = the neutral point, S = 0 */
            } else {
                VCL_CHECK(ctx, vt_random_bytes(sig, 64) == VT_OK, "vt_random_bytes");
            }
            vcl_challenge(ctx, c, P(REGISTER), nonce);
            vcl_expect_code(ctx, vtc_rpc_register(c, user, ik, 32, nonce, 32, sig, 64),
                            VT_ERR_BAD_SIGNATURE, "Register");
        }
    }
    vcl_step(ctx, "no account was created");
    vcl_expect_code(ctx, vtc_rpc_list_devices(d->c, user), VT_ERR_NOT_FOUND,
                    "ListDevices");
}

/* AUTH-22: a taken name is ALREADY_EXISTS and changes nothing; of two
 * concurrent registrations of one name exactly one succeeds. */
static void register_taken(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "taken");
    vtc_client *c[2] = {vcl_client(ctx), vcl_client(ctx)};
    vt_identity *id[2] = {vcl_identity(ctx), vcl_identity(ctx)};
    Ventra__V1__RegisterRequest body[2];
    Ventra__V1__Request req[2];
    uint8_t key[32], nonce[2][32], sig[2][64];
    uint32_t rid[2];
    int code[2];
    char user[33];
    Ventra__V1__Response *r;

    vcl_server_key(ctx, c[0], key);
    vcl_step(ctx, "Register of a taken name with another key");
    vcl_challenge(ctx, c[0], P(REGISTER), nonce[0]);
    vcl_check_code(ctx,
                   vcl_register_code(c[0], id[0], key, nonce[0], d->username, d->username,
                                     vt_identity_public(id[0])),
                   VT_ERR_ALREADY_EXISTS, "Register");
    vcl_step(ctx, "the account keeps its key");
    r = vcl_keep(ctx, vtc_rpc_list_devices(d->c, ""));
    VCL_CODE(ctx, vtc_error_code(r), 0);
    VCL_CHECK(ctx,
              r->list_devices->n_devices == 1 &&
                  r->list_devices->devices[0]->identity_key.len == 32 &&
                  memcmp(r->list_devices->devices[0]->identity_key.data,
                         vt_identity_public(d->id), 32) == 0,
              "the account's device changed");

    vcl_step(ctx, "two Registers of one fresh name, sent before either is answered");
    vtc_username(user, "race");
    for (int i = 0; i < 2; i++) {
        Ventra__V1__RegisterRequest b = VENTRA__V1__REGISTER_REQUEST__INIT;
        Ventra__V1__Request q = VENTRA__V1__REQUEST__INIT;

        vcl_challenge(ctx, c[i], P(REGISTER), nonce[i]);
        vtc_sign_register(id[i], key, nonce[i], 32, user, vt_identity_public(id[i]),
                          sig[i]);
        body[i] = b;
        body[i].username = user;
        body[i].identity_key = vtc_bin(vt_identity_public(id[i]), 32);
        body[i].nonce = vtc_bin(nonce[i], 32);
        body[i].signature = vtc_bin(sig[i], 64);
        req[i] = q;
        req[i].body_case = VENTRA__V1__REQUEST__BODY_REGISTER_ACCOUNT;
        req[i].register_account = &body[i];
    }
    for (int i = 0; i < 2; i++)
        rid[i] = vtc_send_request(c[i], &req[i]);
    for (int i = 0; i < 2; i++)
        code[i] = vtc_take_code(vtc_wait_response(c[i], rid[i], 5000));
    VCL_CHECK(ctx,
              (code[0] == 0 && code[1] == VT_ERR_ALREADY_EXISTS) ||
                  (code[1] == 0 && code[0] == VT_ERR_ALREADY_EXISTS),
              "answers %s and %s, want one OK and one ALREADY_EXISTS",
              vcl_code_name(code[0]), vcl_code_name(code[1]));
}

/* ---- Login ----------------------------------------------------------------------- */

static void login_ok(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "loginok");
    vtc_client *c = vcl_client(ctx);
    uint8_t nonce[32], sig[64];
    char first[513];
    Ventra__V1__Response *r;
    token_info ti;

    snprintf(first, sizeof first, "%s", d->token);
    vcl_step(ctx, "Login on a new connection");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vtc_sign_login(d->id, d->server_key, nonce, 32, d->username, 1, sig);
    r = vcl_keep(ctx, vtc_rpc_login(c, d->username, 1, nonce, 32, sig, 64));
    VCL_CODE(ctx, vtc_error_code(r), 0);
    VCL_CHECK(ctx, r->body_case == VENTRA__V1__RESPONSE__BODY_LOGIN, "no LoginResponse");
    check_token(ctx, r->login->token, d->username, 1, d->server_key,
                r->login->token_expires_at, &ti);
    VCL_CHECK(ctx, strcmp(r->login->token, first) != 0, "Login returned the old token");
    vcl_step(ctx, "the connection is authenticated");
    vcl_expect_code(ctx, vtc_rpc_list_devices(c, ""), 0, "ListDevices");

    vcl_step(ctx, "a pending device becomes active on its first Login");
    {
        vt_identity *nid = vcl_identity(ctx);
        uint32_t dev;

        vtc_sign_link(d->id, d->server_key, d->username, 1, vt_identity_public(nid), sig);
        r = vcl_keep(
            ctx, vtc_rpc_add_device(c, vt_identity_public(nid), 32, "second", sig, 64));
        VCL_CODE(ctx, vtc_error_code(r), 0);
        dev = r->add_device->device_id;
        r = vcl_keep(ctx, vtc_rpc_list_devices(c, ""));
        VCL_CHECK(ctx, vtc_error_code(r) == 0 && r->list_devices->n_devices == 1,
                  "the pending device is listed before its Login");
        /* Log in with the identity the link approved. */
        {
            vtc_client *nc = vcl_client(ctx);

            vcl_challenge(ctx, nc, P(LOGIN), nonce);
            vcl_check_code(
                ctx, vcl_login_code(nc, nid, d->server_key, nonce, d->username, dev), 0,
                "Login of the pending device");
        }
        r = vcl_keep(ctx, vtc_rpc_list_devices(c, ""));
        VCL_CHECK(ctx,
                  vtc_error_code(r) == 0 && r->list_devices->n_devices == 2 &&
                      r->list_devices->devices[1]->device_id == dev,
                  "the device is not listed as active after its Login");
    }
}

/* AUTH-40: the checks of Login in order. */
static void login_check_order(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "lorder");
    vtc_client *c = vcl_client(ctx);
    vt_identity *mallory = vcl_identity(ctx);
    const uint8_t *key = d->server_key;
    uint8_t nonce[32], sig[64], rnd[32];
    char ghost[33];

    vtc_username(ghost, "ghost");
    VCL_CHECK(ctx, vt_random_bytes(rnd, 32) == VT_OK, "vt_random_bytes failed");
    vcl_step(ctx, "form: a bad name and device 0, each signed as sent");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vcl_check_code(ctx, vcl_login_code(c, d->id, key, nonce, "Bad", 1),
                   VT_ERR_INVALID_ARGUMENT, "Login('Bad')");
    vcl_check_code(ctx, vcl_login_code(c, d->id, key, nonce, d->username, 0),
                   VT_ERR_INVALID_ARGUMENT, "Login of device 0");
    vcl_step(ctx, "form before the challenge: device 0 with a wrong nonce");
    vcl_check_code(ctx, vcl_login_code(c, d->id, key, rnd, d->username, 0),
                   VT_ERR_INVALID_ARGUMENT, "Login of device 0, wrong nonce");
    vcl_step(ctx, "lengths before the challenge");
    vtc_sign_login(d->id, key, rnd, 32, d->username, 1, sig);
    vcl_expect_code(ctx, vtc_rpc_login(c, d->username, 1, rnd, 31, sig, 64),
                    VT_ERR_INVALID_ARGUMENT, "Login with a 31-byte nonce");
    vcl_step(ctx, "the argument failures did not consume the nonce");
    vcl_check_code(ctx, vcl_login_code(c, d->id, key, nonce, d->username, 1), 0, "Login");

    c = vcl_client(ctx);
    vcl_step(ctx, "the challenge before the account: unknown account, wrong nonce");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vcl_check_code(ctx, vcl_login_code(c, mallory, key, rnd, ghost, 1),
                   VT_ERR_BAD_CHALLENGE, "Login");
    vcl_step(ctx, "the challenge before the signature: a REGISTER nonce, forged");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vcl_check_code(ctx, vcl_login_code(c, mallory, key, nonce, d->username, 1),
                   VT_ERR_BAD_CHALLENGE, "Login");
    vcl_step(ctx, "then the signature");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vcl_check_code(ctx, vcl_login_code(c, mallory, key, nonce, d->username, 1),
                   VT_ERR_BAD_SIGNATURE, "Login");
    vcl_step(ctx, "a signature over another server key");
    VCL_CHECK(ctx, vt_random_bytes(rnd, 32) == VT_OK, "vt_random_bytes failed");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vcl_check_code(ctx, vcl_login_code(c, d->id, rnd, nonce, d->username, 1),
                   VT_ERR_BAD_SIGNATURE, "Login");
    vcl_step(ctx, "not authenticated after all that");
    vcl_expect_code(ctx, vtc_rpc_list_devices(c, ""), VT_ERR_UNAUTHENTICATED,
                    "ListDevices");
}

/* AUTH-41: one answer, one message, for every reason a Login's identity
 * does not hold. */
static void login_failures_alike(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "alike");
    vtc_device *gone = vcl_link(ctx, d);
    vt_identity *mallory = vcl_identity(ctx);
    char ghost[33], first[300] = "";
    vtc_client *c = vcl_client(ctx);
    struct {
        const char *what;
        const char *user;
        uint32_t dev;
        const vt_identity *signer;
    } cases[] = {
        {"an unknown account", ghost, 1, d->id},
        {"a device id never issued", d->username, 9, d->id},
        {"a removed device", d->username, gone->device_id, gone->id},
        {"a wrong signature", d->username, 1, mallory},
    };

    vtc_username(ghost, "nobody");
    vcl_step(ctx, "RemoveDevice of the linked device");
    vcl_expect_code(ctx, vtc_rpc_remove_device(d->c, gone->device_id), 0, "RemoveDevice");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t nonce[32], sig[64];
        Ventra__V1__Response *r;
        const char *msg;

        vcl_step(ctx, "Login of %s", cases[i].what);
        vcl_challenge(ctx, c, P(LOGIN), nonce);
        vtc_sign_login(cases[i].signer, d->server_key, nonce, 32, cases[i].user,
                       cases[i].dev, sig);
        r = vcl_keep(ctx,
                     vtc_rpc_login(c, cases[i].user, cases[i].dev, nonce, 32, sig, 64));
        VCL_CODE(ctx, vtc_error_code(r), VT_ERR_BAD_SIGNATURE);
        msg = r->error->message ? r->error->message : "";
        if (i == 0)
            snprintf(first, sizeof first, "%s", msg);
        VCL_CHECK(ctx, strcmp(first, msg) == 0,
                  "Error.message '%s' differs from '%s' (%s)", msg, first, cases[0].what);
    }
}

/* AUTH-61: a second authentication on a connection is PERMISSION_DENIED
 * and leaves it bound to its device. */
static void already_authenticated(vcl_ctx *ctx)
{
    vtc_device *a = vcl_account(ctx, "twiceA"), *b = vcl_account(ctx, "twiceB");
    uint8_t nonce[32] = {0}, sig[64] = {0};
    Ventra__V1__Response *r;
    Ventra__V1__Event *e;

    vcl_step(ctx, "Register, Login and Resume (with B's valid token) on A's connection");
    vcl_expect_code(ctx, vtc_rpc_register(a->c, "Bad!", NULL, 0, NULL, 0, NULL, 0),
                    VT_ERR_PERMISSION_DENIED, "Register, malformed");
    vcl_expect_code(ctx,
                    vtc_rpc_register(a->c, b->username, vt_identity_public(b->id), 32,
                                     nonce, 32, sig, 64),
                    VT_ERR_PERMISSION_DENIED, "Register");
    vcl_expect_code(ctx, vtc_rpc_login(a->c, b->username, 1, nonce, 32, sig, 64),
                    VT_ERR_PERMISSION_DENIED, "Login");
    vcl_expect_code(ctx, vtc_rpc_resume(a->c, b->token), VT_ERR_PERMISSION_DENIED,
                    "Resume");
    vcl_expect_code(ctx, vtc_rpc_resume(a->c, a->token), VT_ERR_PERMISSION_DENIED,
                    "Resume with its own token");
    vcl_step(ctx, "A's connection is still A's device");
    r = vcl_keep(ctx, vtc_rpc_list_devices(a->c, ""));
    VCL_CODE(ctx, vtc_error_code(r), 0);
    VCL_CHECK(ctx,
              r->list_devices->n_devices == 1 &&
                  r->list_devices->devices[0]->identity_key.len == 32 &&
                  memcmp(r->list_devices->devices[0]->identity_key.data,
                         vt_identity_public(a->id), 32) == 0,
              "the connection is no longer bound to A's device");
    vcl_step(ctx, "B's own connection was not replaced");
    vcl_expect_code(ctx, vtc_rpc_ping(b->c, 9), 0, "Ping on B's connection");
    e = vtc_wait_event(b->c, VENTRA__V1__EVENT__BODY_SESSION_ENDED, 200);
    vtc_event_free(e);
    VCL_CHECK(ctx, e == NULL, "B's connection got a SessionEndedEvent");
}

/* ---- Resume and tokens
 * ----------------------------------------------------------------- */

static void resume_ok(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "resok");
    char *first = dup(ctx, d->token), *fresh;
    vtc_client *c = vcl_client(ctx);
    Ventra__V1__Response *r;
    token_info ti;

    vcl_step(ctx, "Resume with the Register token");
    r = vcl_keep(ctx, vtc_rpc_resume(c, first));
    VCL_CODE(ctx, vtc_error_code(r), 0);
    VCL_CHECK(ctx, r->body_case == VENTRA__V1__RESPONSE__BODY_RESUME,
              "no ResumeResponse");
    VCL_CHECK(ctx, r->resume->username && strcmp(r->resume->username, d->username) == 0,
              "username '%s', want '%s'", r->resume->username ? r->resume->username : "",
              d->username);
    VCL_CHECK(ctx, r->resume->device_id == 1, "device_id %u, want 1",
              r->resume->device_id);
    check_token(ctx, r->resume->token, d->username, 1, d->server_key,
                r->resume->token_expires_at, &ti);
    VCL_CHECK(ctx, strcmp(r->resume->token, first) != 0,
              "Resume returned the same token");
    fresh = dup(ctx, r->resume->token);
    vcl_step(ctx, "the connection is authenticated");
    vcl_expect_code(ctx, vtc_rpc_list_devices(c, ""), 0, "ListDevices");
    vcl_step(ctx, "the fresh token resumes, and the presented one still does");
    vcl_check_code(ctx, resume_code(ctx, fresh), 0, "Resume with the fresh token");
    vcl_check_code(ctx, resume_code(ctx, first), 0, "Resume with the first token");
}

/* AUTH-51 without the server key: malformed, forged and altered tokens. */
static void resume_bad_tokens(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "badtok");
    const char *tok = dup(ctx, d->token);
    const char *d2 = strrchr(tok, '.');
    token_info ti;
    uint8_t seed[32], fpk[32], fsk[64];
    char buf[700], *t;
    size_t len = strlen(tok);
    struct {
        const char *what;
        const char *token;
    } simple[] = {
        {"the empty token", ""},
        {"garbage", "garbage"},
        {"a.b.c", "a.b.c"},
        {"two dots", ".."},
        {"the header, {} and a short signature", HEADER_B64 ".e30.AAAA"},
    };

    token_parts(ctx, tok, &ti);
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        vcl_step(ctx, "Resume with %s", simple[i].what);
        vcl_check_code(ctx, resume_code(ctx, simple[i].token), VT_ERR_BAD_TOKEN,
                       "Resume");
    }
    vcl_step(ctx, "the real claims signed by another key");
    VCL_CHECK(ctx,
              vt_random_bytes(seed, 32) == VT_OK &&
                  vt_ed25519_keypair_from_seed(fpk, fsk, seed) == VT_OK,
              "key generation failed");
    t = vtc_token_make(HEADER_JSON, ti.claims, fsk);
    vt_wipe(fsk, sizeof fsk);
    vcl_defer(ctx, free, t);
    vcl_check_code(ctx, resume_code(ctx, t), VT_ERR_BAD_TOKEN, "Resume");
    vcl_step(ctx, "alg none, without a signature");
    t = vtc_token_make("{\"alg\":\"none\",\"typ\":\"JWT\"}", ti.claims, NULL);
    vcl_defer(ctx, free, t);
    vcl_check_code(ctx, resume_code(ctx, t), VT_ERR_BAD_TOKEN, "Resume");
    vcl_step(ctx, "alg none with the real signature");
    t = vtc_token_make("{\"alg\":\"none\",\"typ\":\"JWT\"}", ti.claims, NULL);
    vcl_defer(ctx, free, t);
    snprintf(buf, sizeof buf, "%s%s", t, d2 + 1);
    vcl_check_code(ctx, resume_code(ctx, buf), VT_ERR_BAD_TOKEN, "Resume");
    vcl_step(ctx, "other claims under the real header and signature");
    {
        char claims[400], *c1;
        const char *dev = strstr(ti.claims, "\"dev\":1,");

        VCL_CHECK(ctx, dev != NULL, "no dev 1 in '%s'", ti.claims);
        snprintf(claims, sizeof claims, "%.*s\"dev\":2,%s", (int)(dev - ti.claims),
                 ti.claims, dev + 8);
        c1 = vtc_b64url(claims, strlen(claims));
        snprintf(buf, sizeof buf, "%s.%s%s", HEADER_B64, c1, d2);
        free(c1);
        vcl_check_code(ctx, resume_code(ctx, buf), VT_ERR_BAD_TOKEN, "Resume");
    }
    vcl_step(ctx, "one signature character changed");
    snprintf(buf, sizeof buf, "%s", tok);
    buf[len - 5] = buf[len - 5] == 'A' ? 'B' : 'A';
    vcl_check_code(ctx, resume_code(ctx, buf), VT_ERR_BAD_TOKEN, "Resume");
    vcl_step(ctx, "the signature's last character with its unused bits set");
    {
        /* 64 bytes are 86 characters: the last one carries 4 bits and 2
         * unused ones, which must be zero (AUTH-51 step 1). */
        int v;

        snprintf(buf, sizeof buf, "%s", tok);
        v = b64_value(buf[len - 1]);
        VCL_CHECK(ctx, v >= 0 && (v & 3) == 0, "the server's own token is not canonical");
        buf[len - 1] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[v | 1];
        vcl_check_code(ctx, resume_code(ctx, buf), VT_ERR_BAD_TOKEN, "Resume");
    }
    vcl_step(ctx, "'=' padding appended");
    snprintf(buf, sizeof buf, "%s==", tok);
    vcl_check_code(ctx, resume_code(ctx, buf), VT_ERR_BAD_TOKEN, "Resume");
    vcl_step(ctx, "a fourth segment");
    snprintf(buf, sizeof buf, "%s.AAAA", tok);
    vcl_check_code(ctx, resume_code(ctx, buf), VT_ERR_BAD_TOKEN, "Resume");
    vcl_step(ctx, "the signature segment dropped");
    snprintf(buf, sizeof buf, "%.*s", (int)(d2 - tok), tok);
    vcl_check_code(ctx, resume_code(ctx, buf), VT_ERR_BAD_TOKEN, "Resume");
    vcl_step(ctx, "the signature segment empty");
    snprintf(buf, sizeof buf, "%.*s.", (int)(d2 - tok), tok);
    vcl_check_code(ctx, resume_code(ctx, buf), VT_ERR_BAD_TOKEN, "Resume");
    vcl_step(ctx, "a token of MAX_TOKEN_LEN + 1 bytes is TOO_LARGE");
    memset(buf, 'A', VT_MAX_TOKEN_LEN + 1);
    buf[VT_MAX_TOKEN_LEN + 1] = '\0';
    vcl_check_code(ctx, resume_code(ctx, buf), VT_ERR_TOO_LARGE, "Resume");
    vcl_step(ctx, "the real token still resumes");
    vcl_check_code(ctx, resume_code(ctx, tok), 0, "Resume");
}

/* The claims of AUTH-50 with the given members, as text; |iss| NULL: the
 * server's. */
static void claims_of(char *out, size_t cap, const keypair *k, const char *sub,
                      const char *dev, unsigned long long iat, unsigned long long exp,
                      const char *jti)
{
    char hex[65];

    hex_of(hex, k->pk);
    snprintf(out, cap,
             "{\"iss\":\"ventra:%s\",\"sub\":\"%s\",\"dev\":%s,\"iat\":%llu,\"exp\":%llu,"
             "\"jti\":\"%s\"}",
             hex, sub, dev, iat, exp, jti);
}

/* AUTH-51 steps 2 and 4 with tokens signed by the server key that carry
 * the id (jti) of a token the server issued, so that a server keeping
 * records of its token ids (AUTH-52) would accept the control token; each
 * refusal is then about the one member changed. */
static void token_claims_checked(vcl_ctx *ctx)
{
    keypair *k = server_keypair(ctx);
    vtc_device *d = vcl_account(ctx, "claims");
    uint64_t now = server_now(ctx);
    unsigned long long iat = now - 10, exp = now + 600;
    char claims[600], hex[65], other_hex[65], upper[65];
    const char *u = d->username;
    token_info ti;
    uint8_t other[32];
    int code;

    token_parts(ctx, d->token, &ti);
    hex_of(hex, k->pk);
    VCL_CHECK(ctx, vt_random_bytes(other, 32) == VT_OK, "vt_random_bytes failed");
    hex_of(other_hex, other);
    for (int i = 0; i < 64; i++)
        upper[i] = (char)(hex[i] >= 'a' ? hex[i] - 'a' + 'A' : hex[i]);
    upper[64] = '\0';

    vcl_step(ctx, "control: the issued token's claims with other iat and exp");
    claims_of(claims, sizeof claims, k, u, "1", iat, exp, ti.jti);
    code = resume_code(ctx, make_token(ctx, k, HEADER_JSON, claims));
    if (code == VT_ERR_BAD_TOKEN)
        vcl_skip(ctx, "the server refuses a token it did not issue byte for byte, even "
                      "with an issued jti: the claims checks cannot be told apart");
    vcl_check_code(ctx, code, 0, "Resume with the re-signed claims");
    vcl_step(ctx, "control: the members in another order");
    snprintf(claims, sizeof claims,
             "{\"jti\":\"%s\",\"exp\":%llu,\"iat\":%llu,\"dev\":1,\"sub\":\"%s\",\"iss\":"
             "\"ventra:%s\"}",
             ti.jti, exp, iat, u, hex);
    vcl_check_code(ctx, resume_code(ctx, make_token(ctx, k, HEADER_JSON, claims)), 0,
                   "Resume with reordered members");

    {
        /* Templates: USER, JTI (JTI21: its first 21 characters), HEX (of
         * |hexv|), IAT and EXP stand for the values. */
        static const struct {
            const char *what, *tmpl;
            int hexv; /* 0: the server key, 1: another key, 2: upper case */
        } bad[] = {
            {"iss of another key",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USER\",\"dev\":1,\"iat\":IAT,\"exp\":EXP,"
             "\"jti\":\"JTI\"}",
             1},
            {"iss in upper-case hex",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USER\",\"dev\":1,\"iat\":IAT,\"exp\":EXP,"
             "\"jti\":\"JTI\"}",
             2},
            {"iss without 'ventra:'",
             "{\"iss\":\"HEX\",\"sub\":\"USER\",\"dev\":1,\"iat\":IAT,\"exp\":EXP,"
             "\"jti\":\"JTI\"}",
             0},
            {"dev 0",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USER\",\"dev\":0,\"iat\":IAT,\"exp\":EXP,"
             "\"jti\":\"JTI\"}",
             0},
            {"dev 4294967297",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USER\",\"dev\":4294967297,\"iat\":IAT,"
             "\"exp\":EXP,\"jti\":\"JTI\"}",
             0},
            {"dev as a string",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USER\",\"dev\":\"1\",\"iat\":IAT,"
             "\"exp\":EXP,\"jti\":\"JTI\"}",
             0},
            {"no jti",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USER\",\"dev\":1,\"iat\":IAT,\"exp\":"
             "EXP}",
             0},
            {"a seventh member",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USER\",\"dev\":1,\"iat\":IAT,\"exp\":EXP,"
             "\"jti\":\"JTI\",\"adm\":true}",
             0},
            {"dev twice",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USER\",\"dev\":1,\"dev\":1,\"iat\":IAT,"
             "\"exp\":EXP,\"jti\":\"JTI\"}",
             0},
            {"exp equal to iat",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USER\",\"dev\":1,\"iat\":EXP,\"exp\":EXP,"
             "\"jti\":\"JTI\"}",
             0},
            {"a jti of 21 characters",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USER\",\"dev\":1,\"iat\":IAT,\"exp\":EXP,"
             "\"jti\":\"JTI21\"}",
             0},
            {"a sub that is no valid username",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"XUSER\",\"dev\":1,\"iat\":IAT,\"exp\":"
             "EXP,"
             "\"jti\":\"JTI\"}",
             0},
            {"a dev never issued in the account",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USER\",\"dev\":9,\"iat\":IAT,\"exp\":EXP,"
             "\"jti\":\"JTI\"}",
             0},
            {"a sub naming no account",
             "{\"iss\":\"ventra:HEX\",\"sub\":\"USERzz\",\"dev\":1,\"iat\":IAT,\"exp\":"
             "EXP,"
             "\"jti\":\"JTI\"}",
             0},
            {"a JSON array", "[\"USER\",\"JTI\",\"HEX\",IAT,EXP]", 0},
        };

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            const char *hv = bad[i].hexv == 1   ? other_hex
                             : bad[i].hexv == 2 ? upper
                                                : hex;
            const char *p = bad[i].tmpl;
            size_t o = 0;

            vcl_step(ctx, "claims with %s", bad[i].what);
            while (*p != '\0' && o + 80 < sizeof claims) {
                if (strncmp(p, "USER", 4) == 0) {
                    o += (size_t)snprintf(claims + o, sizeof claims - o, "%s", u);
                    p += 4;
                } else if (strncmp(p, "JTI21", 5) == 0) {
                    o += (size_t)snprintf(claims + o, sizeof claims - o, "%.21s", ti.jti);
                    p += 5;
                } else if (strncmp(p, "JTI", 3) == 0) {
                    o += (size_t)snprintf(claims + o, sizeof claims - o, "%s", ti.jti);
                    p += 3;
                } else if (strncmp(p, "HEX", 3) == 0) {
                    o += (size_t)snprintf(claims + o, sizeof claims - o, "%s", hv);
                    p += 3;
                } else if (strncmp(p, "IAT", 3) == 0 || strncmp(p, "EXP", 3) == 0) {
                    o += (size_t)snprintf(claims + o, sizeof claims - o, "%llu",
                                          p[0] == 'I' ? iat : exp);
                    p += 3;
                } else {
                    claims[o++] = *p++;
                }
            }
            claims[o] = '\0';
            vcl_check_code(ctx, resume_code(ctx, make_token(ctx, k, HEADER_JSON, claims)),
                           VT_ERR_BAD_TOKEN, "Resume");
        }
    }
    vcl_step(ctx, "another header signed by the server key (step 2)");
    claims_of(claims, sizeof claims, k, u, "1", iat, exp, ti.jti);
    vcl_check_code(
        ctx,
        resume_code(ctx,
                    make_token(ctx, k, "{\"alg\": \"EdDSA\",\"typ\":\"JWT\"}", claims)),
        VT_ERR_BAD_TOKEN, "Resume with a space in the header");
    vcl_check_code(
        ctx,
        resume_code(ctx,
                    make_token(ctx, k, "{\"alg\":\"none\",\"typ\":\"JWT\"}", claims)),
        VT_ERR_BAD_TOKEN, "Resume with alg none, signed");
}

/* AUTH-51 step 5 and AUTH-53: expiry by the server's clock, no skew. */
static void token_expired(vcl_ctx *ctx)
{
    keypair *k = server_keypair(ctx);
    vtc_device *d = vcl_account(ctx, "expired");
    unsigned long long now;
    char claims[400];
    token_info ti;
    int code;

    token_parts(ctx, d->token, &ti);
    now = server_now(ctx);
    vcl_step(ctx, "control: the issued token's claims, exp = server time + 600");
    claims_of(claims, sizeof claims, k, d->username, "1", now - 3000, now + 600, ti.jti);
    code = resume_code(ctx, make_token(ctx, k, HEADER_JSON, claims));
    if (code == VT_ERR_BAD_TOKEN)
        vcl_skip(ctx, "the server refuses a token it did not issue byte for byte, even "
                      "with an issued jti: expiry cannot be told apart (a real token "
                      "expires after TOKEN_TTL_S = 3600 s)");
    vcl_check_code(ctx, code, 0, "Resume with exp in the future");
    vcl_step(ctx, "control: iat in the future is not compared with the clock");
    claims_of(claims, sizeof claims, k, d->username, "1", now + 1000, now + 2000, ti.jti);
    vcl_check_code(ctx, resume_code(ctx, make_token(ctx, k, HEADER_JSON, claims)), 0,
                   "Resume with iat in the future");
    vcl_step(ctx, "exp an hour ago");
    claims_of(claims, sizeof claims, k, d->username, "1", now - 7200, now - 3600, ti.jti);
    vcl_check_code(ctx, resume_code(ctx, make_token(ctx, k, HEADER_JSON, claims)),
                   VT_ERR_BAD_TOKEN, "Resume with exp an hour ago");
    vcl_step(ctx, "exp one second ago");
    claims_of(claims, sizeof claims, k, d->username, "1", now - 3601, now - 1, ti.jti);
    vcl_check_code(ctx, resume_code(ctx, make_token(ctx, k, HEADER_JSON, claims)),
                   VT_ERR_BAD_TOKEN, "Resume with exp one second ago");
    vcl_step(ctx, "exp equal to the server's current second (no skew, AUTH-53)");
    now = server_now(ctx);
    claims_of(claims, sizeof claims, k, d->username, "1", now - 3600, now, ti.jti);
    vcl_check_code(ctx, resume_code(ctx, make_token(ctx, k, HEADER_JSON, claims)),
                   VT_ERR_BAD_TOKEN, "Resume with exp = now");
}

/* AUTH-52: tokens of a removed device are refused. */
static void token_revoked_device_removed(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "revdev");
    vtc_device *gone = vcl_link(ctx, d);
    char *login_tok = dup(ctx, gone->token), *resumed;

    vcl_step(ctx, "the linked device resumes once (a second token)");
    vcl_check_code(ctx, vtc_resume(gone, vcl_port(ctx)), 0, "Resume");
    resumed = dup(ctx, gone->token);
    vtc_disconnect(gone);
    vcl_step(ctx, "RemoveDevice of it");
    vcl_expect_code(ctx, vtc_rpc_remove_device(d->c, gone->device_id), 0, "RemoveDevice");
    vcl_step(ctx, "both of its tokens are refused");
    vcl_check_code(ctx, resume_code(ctx, login_tok), VT_ERR_BAD_TOKEN,
                   "Resume with the removed device's Login token");
    vcl_check_code(ctx, resume_code(ctx, resumed), VT_ERR_BAD_TOKEN,
                   "Resume with the removed device's Resume token");
    vcl_step(ctx, "the other device's token still works");
    vcl_check_code(ctx, resume_code(ctx, d->token), 0, "Resume of device 1");
}

/* AUTH-52: a deleted account's token is refused, also once the name is
 * registered again (its sub and dev then name an existing device). */
static void token_revoked_account_deleted(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "revacct"), *again;
    char *old = dup(ctx, d->token);

    vcl_step(ctx, "DeleteAccount");
    vcl_check_code(ctx, vtc_delete_account(d), 0, "DeleteAccount");
    vcl_step(ctx, "the deleted account's token");
    vcl_check_code(ctx, resume_code(ctx, old), VT_ERR_BAD_TOKEN, "Resume");
    vcl_step(ctx, "the name registered again");
    again = vtc_register(vcl_port(ctx), d->username);
    vcl_hold_device(ctx, again);
    VCL_CHECK(ctx, again->device_id == 1, "the new account's device id %u, want 1",
              again->device_id);
    vcl_check_code(ctx, resume_code(ctx, old), VT_ERR_BAD_TOKEN,
                   "Resume with the old account's token");
    vcl_check_code(ctx, resume_code(ctx, again->token), 0,
                   "Resume with the new account's token");
}

/* ---- One live connection per device (AUTH-65) ----------------------------------- */

static void login_replaces(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "repl");
    vtc_client *old = d->c;
    vtc_client *c = vcl_client(ctx);
    uint8_t nonce[32];

    vcl_hold_client(ctx, old);
    d->c = NULL;
    vcl_step(ctx, "Login of the device on a second connection");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    vcl_check_code(ctx, vcl_login_code(c, d->id, d->server_key, nonce, d->username, 1), 0,
                   "Login");
    vcl_step(ctx, "the first connection: SessionEndedEvent(REPLACED), the last frame, "
                  "then 4001");
    expect_ended_raw(ctx, vtc_client_ws(old), REPLACED, 4001);
    vcl_step(ctx, "the new connection is authenticated");
    vcl_expect_code(ctx, vtc_rpc_list_devices(c, ""), 0, "ListDevices");
}

static void resume_replaces(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "rrepl");
    vtc_client *old = d->c;
    vtc_client *c = vcl_client(ctx);

    vcl_hold_client(ctx, old);
    d->c = NULL;
    vcl_step(ctx, "Resume of the device on a second connection");
    vcl_expect_code(ctx, vtc_rpc_resume(c, d->token), 0, "Resume");
    vcl_step(ctx, "the first connection: SessionEndedEvent(REPLACED), the last frame, "
                  "then 4001");
    expect_ended_raw(ctx, vtc_client_ws(old), REPLACED, 4001);
    vcl_step(ctx, "the new connection is authenticated");
    vcl_expect_code(ctx, vtc_rpc_list_devices(c, ""), 0, "ListDevices");
}

/* ---- The authenticating response comes first (WIRE-37, AUTH-43) ------------------ */

/* Sends |req| on |c| and reads raw frames: the first must be its
 * successful Response, and events may only follow; at least one event
 * (the queued message) must come within 5 s. */
static void expect_response_first(vcl_ctx *ctx, vtc_client *c, Ventra__V1__Request *req)
{
    vtc_ws *ws = vtc_client_ws(c);
    vtc_ws_msg *m = vcl_msg(ctx);
    uint32_t id = vtc_send_request(c, req);
    int64_t deadline = vtc_now_ms() + 5000;
    bool answered = false, message = false;

    while (!message) {
        Ventra__V1__Frame *f;
        int kind, body;
        uint32_t rid;
        int code;

        vtc_ws_msg_free(m);
        vtc_ws_recv(ws, vtc_left_ms(deadline), m);
        VCL_CHECK(ctx, m->kind == VTC_WS_BINARY || m->kind == VTC_WS_PONG,
                  "no %s (message kind %d)", answered ? "MessageEvent" : "response",
                  (int)m->kind);
        if (m->kind == VTC_WS_PONG)
            continue;
        f = ventra__v1__frame__unpack(NULL, m->len, m->data);
        VCL_CHECK(ctx, f != NULL, "the server sent no Frame");
        kind = (int)f->kind_case;
        body = kind == VENTRA__V1__FRAME__KIND_EVENT ? (int)f->event->body_case : 0;
        rid = kind == VENTRA__V1__FRAME__KIND_RESPONSE ? f->response->id : 0;
        code = kind == VENTRA__V1__FRAME__KIND_RESPONSE ? vtc_error_code(f->response) : 0;
        ventra__v1__frame__free_unpacked(f, NULL);
        if (kind == VENTRA__V1__FRAME__KIND_EVENT) {
            VCL_CHECK(ctx, answered,
                      "an Event (body %d) before the authenticating Response", body);
            message = message || body == VENTRA__V1__EVENT__BODY_MESSAGE;
            continue;
        }
        VCL_CHECK(ctx, kind == VENTRA__V1__FRAME__KIND_RESPONSE && rid == id,
                  "a Frame of kind %d (id %u) before the Response %u", kind, rid, id);
        VCL_CODE(ctx, code, 0);
        answered = true;
    }
}

static void response_before_events(vcl_ctx *ctx)
{
    vtc_device *a = vcl_account(ctx, "firstA"), *b = vcl_account(ctx, "firstB");
    Ventra__V1__LoginRequest login = VENTRA__V1__LOGIN_REQUEST__INIT;
    Ventra__V1__ResumeRequest resume = VENTRA__V1__RESUME_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    uint8_t nonce[32], sig[64];
    vtc_client *c;

    vtc_disconnect(a);
    vcl_step(ctx, "B sends to A while A is offline");
    vtc_expect_sent(vtc_send_text(b, a->username, "queued", NULL), false);

    vcl_step(ctx, "an unauthenticated connection gets no event");
    c = vcl_client(ctx);
    vcl_expect_code(ctx, vtc_rpc_ping(c, 1), 0, "Ping");
    vcl_challenge(ctx, c, P(LOGIN), nonce);
    {
        Ventra__V1__Event *e = vtc_next_event(c, 300);

        vtc_event_free(e);
        VCL_CHECK(ctx, e == NULL, "an Event on an unauthenticated connection");
    }

    vcl_step(ctx, "Login of A: its Response before the queued MessageEvent");
    vtc_sign_login(a->id, a->server_key, nonce, 32, a->username, 1, sig);
    login.username = a->username;
    login.device_id = 1;
    login.nonce = vtc_bin(nonce, 32);
    login.signature = vtc_bin(sig, 64);
    req.body_case = VENTRA__V1__REQUEST__BODY_LOGIN;
    req.login = &login;
    expect_response_first(ctx, c, &req);

    vcl_step(ctx, "Resume of A on another connection: the same order");
    c = vcl_client(ctx);
    resume.token = a->token;
    req = (Ventra__V1__Request)VENTRA__V1__REQUEST__INIT;
    req.body_case = VENTRA__V1__REQUEST__BODY_RESUME;
    req.resume = &resume;
    expect_response_first(ctx, c, &req);
}

/* ---- Rate limits (AUTH-100, AUTH-101) -------------------------------------------- */

/* Failed Logins against |d| from fresh connections until one is
 * RATE_LIMITED (at most |max| attempts); true when one was. */
static bool flood_failed_logins(vcl_ctx *ctx, vtc_device *d, int max)
{
    vt_identity *mallory = vcl_identity(ctx);
    vtc_client *c = NULL;

    for (int i = 0; i < max; i++) {
        uint8_t nonce[32];
        Ventra__V1__Response *r;
        int code;

        if (i % 4 == 0)
            c = vcl_client(ctx);
        r = vtc_rpc_get_challenge(c, P(LOGIN));
        code = vtc_error_code(r);
        if (code == 0)
            memcpy(nonce, r->get_challenge->nonce.data, 32);
        vtc_response_free(r);
        if (code == VT_ERR_RATE_LIMITED) {
            c = vcl_client(ctx); /* that connection's own bucket */
            continue;
        }
        VCL_CODE(ctx, code, 0);
        code = vcl_login_code(c, mallory, d->server_key, nonce, d->username, 1);
        if (code == VT_ERR_RATE_LIMITED)
            return true;
        VCL_CODE(ctx, code, VT_ERR_BAD_SIGNATURE);
    }
    return false;
}

static void resume_not_username_limited(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "victim");

    vcl_step(ctx, "failed Logins against the victim until they are rate limited");
    if (!flood_failed_logins(ctx, d, 40))
        vcl_skip(ctx, "40 failed Logins of one account were never RATE_LIMITED: no "
                      "username limit to check Resume against");
    vcl_step(ctx, "the victim's device resumes with its token");
    vcl_check_code(ctx, resume_code(ctx, d->token), 0, "Resume");
}

/* AUTH-100: a request over an authentication limit is RATE_LIMITED with a
 * retry_after_ms, and its challenge is not consumed. */
static void auth_rate_limited(vcl_ctx *ctx)
{
    vtc_device *d = vcl_account(ctx, "limited");
    vtc_client *c = vcl_client(ctx);
    uint8_t nonce[32] = {0}, sig[64];
    Ventra__V1__Response *r = NULL;
    uint32_t retry = 0;
    bool have = false;
    int code = 0, i;

    vcl_step(ctx, "GetChallenge(LOGIN) on one connection until rate limited");
    for (i = 0; i < 100; i++) {
        r = vtc_rpc_get_challenge(c, P(LOGIN));
        code = vtc_error_code(r);
        if (code == 0) {
            memcpy(nonce, r->get_challenge->nonce.data, 32);
            have = true;
        } else if (code == VT_ERR_RATE_LIMITED) {
            retry = r->error->retry_after_ms;
        }
        vtc_response_free(r);
        if (code != 0)
            break;
    }
    if (code == 0)
        vcl_skip(ctx, "100 GetChallenge on one connection were never RATE_LIMITED");
    VCL_CODE(ctx, code, VT_ERR_RATE_LIMITED);
    VCL_CHECK(ctx, retry > 0, "RATE_LIMITED with retry_after_ms 0");
    VCL_CHECK(ctx, have, "the first GetChallenge was already refused");
    vcl_step(ctx, "Login with the last nonce while limited");
    vtc_sign_login(d->id, d->server_key, nonce, 32, d->username, 1, sig);
    r = vcl_keep(ctx, vtc_rpc_login(c, d->username, 1, nonce, 32, sig, 64));
    code = vtc_error_code(r);
    if (code == VT_ERR_RATE_LIMITED) {
        retry = r->error->retry_after_ms;
        VCL_CHECK(ctx, retry > 0, "RATE_LIMITED with retry_after_ms 0");
        vcl_step(ctx, "after retry_after_ms (%u), the same Login: the nonce was kept",
                 retry);
        VCL_CHECK(ctx, retry <= 60000, "retry_after_ms %u: too long to wait", retry);
        VCL_CHECK(ctx, vtc_wait_close(c, (int)retry + 50) == 0,
                  "the connection closed while waiting");
        vcl_expect_code(ctx, vtc_rpc_login(c, d->username, 1, nonce, 32, sig, 64), 0,
                        "Login after the wait");
    } else {
        /* The limit let this one through: it must then just work. */
        VCL_CODE(ctx, code, 0);
    }
}

/* ---- AUTH-102 ------------------------------------------------------------ */

/* A server with registration closed answers every Register, even a
 * well-formed and correctly signed one, PERMISSION_DENIED; the connection
 * stays unauthenticated and is still served. */
static void registration_closed(vcl_ctx *ctx)
{
    vtc_client *c = vcl_client(ctx);
    vt_identity *id = vcl_identity(ctx);
    uint8_t key[32], nonce[32];
    char user[33];

    vtc_username(user, "closed");
    vcl_server_key(ctx, c, key);
    vcl_step(ctx, "a correct Register");
    vcl_challenge(ctx, c, P(REGISTER), nonce);
    vcl_check_code(
        ctx, vcl_register_code(c, id, key, nonce, user, user, vt_identity_public(id)),
        VT_ERR_PERMISSION_DENIED, "Register");
    vcl_step(ctx, "the connection is still unauthenticated and served");
    vcl_expect_code(ctx, vtc_rpc_list_devices(c, ""), VT_ERR_UNAUTHENTICATED,
                    "ListDevices");
    vcl_expect_code(ctx, vtc_rpc_ping(c, 1), 0, "Ping");
}

VCL_CASES(
    auth,
    {"auth/register-ok", "WIRE-130 AUTH-22 AUTH-50", VCL_MUST, 0,
     "Register creates device 1 with its key and name, authenticates, and returns a "
     "token of the AUTH-50 form",
     register_ok},
    {"auth/token-form", "AUTH-50 AUTH-9 SEC-23", VCL_MUST, 0,
     "Login and Resume tokens have the exact AUTH-50 form, verify under the server key "
     "and have distinct ids",
     token_form},
    {"auth/username-form", "AUTH-1", VCL_MUST, 0,
     "malformed usernames are INVALID_ARGUMENT in Register, Login and ListDevices; 33 "
     "bytes TOO_LARGE; 3 and 32 bytes pass",
     username_form},
    {"auth/username-byte-exact", "AUTH-2", VCL_MUST, 0,
     "usernames are neither case-folded nor normalised", username_byte_exact},
    {"auth/fixed-lengths", "AUTH-15", VCL_MUST, 0,
     "keys, nonces and signatures shorter or longer than their length are "
     "INVALID_ARGUMENT",
     fixed_lengths},
    {"auth/register-check-order", "AUTH-20", VCL_MUST, 0,
     "Register answers the first failing check: form, challenge, signature, name "
     "taken",
     register_check_order},
    {"auth/register-signature-verified", "AUTH-21", VCL_MUST, 0,
     "Register's signature is verified over the exact register transcript",
     register_signature_verified},
    {"auth/register-invalid-identity-key", "AUTH-7 AUTH-15", VCL_MUST, 0,
     "small-order and non-canonical identity keys are BAD_SIGNATURE and never stored",
     register_invalid_identity_key},
    {"auth/register-taken", "AUTH-22", VCL_MUST, 0,
     "a taken name is ALREADY_EXISTS; of two concurrent Registers exactly one succeeds",
     register_taken},
    {"auth/login-ok", "WIRE-140 AUTH-42", VCL_MUST, 0,
     "Login authenticates, returns a fresh AUTH-50 token, and activates a pending device",
     login_ok},
    {"auth/login-check-order", "AUTH-40", VCL_MUST, 0,
     "Login answers the first failing check: form, lengths, challenge, signature",
     login_check_order},
    {"auth/login-failures-alike", "AUTH-41", VCL_MUST, 0,
     "unknown account, unknown or removed device and wrong signature: one error, one "
     "message",
     login_failures_alike},
    {"auth/already-authenticated", "AUTH-61", VCL_MUST, 0,
     "Register, Login and Resume on an authenticated connection are PERMISSION_DENIED "
     "and change nothing",
     already_authenticated},
    {"auth/resume-ok", "WIRE-150 AUTH-60", VCL_MUST, 0,
     "Resume authenticates as the token's device with a fresh token; the old one stays "
     "valid",
     resume_ok},
    {"auth/resume-bad-tokens", "AUTH-51", VCL_MUST, 0,
     "garbage, alg none, forged, altered and non-canonical tokens are BAD_TOKEN; too "
     "long is TOO_LARGE",
     resume_bad_tokens},
    {"auth/token-claims-checked", "AUTH-51", VCL_MUST, VCL_NEEDS_SERVER_KEY,
     "tokens signed by the server key with a wrong iss, sub, dev, exp, jti or member set "
     "are BAD_TOKEN",
     token_claims_checked},
    {"auth/token-expired", "AUTH-51 AUTH-53", VCL_MUST, VCL_NEEDS_SERVER_KEY,
     "a token is refused from the second its exp is not after the server's clock",
     token_expired},
    {"auth/token-revoked-device-removed", "AUTH-52", VCL_MUST, 0,
     "the tokens of a removed device are BAD_TOKEN", token_revoked_device_removed},
    {"auth/token-revoked-account-deleted", "AUTH-52", VCL_MUST, 0,
     "a deleted account's token is BAD_TOKEN, also after the name is registered again",
     token_revoked_account_deleted},
    {"auth/login-replaces", "WIRE-140 AUTH-65 AUTH-42 WIRE-601 WIRE-9 SM-102", VCL_MUST,
     0,
     "a Login ends the device's older connection: SessionEndedEvent(REPLACED) last, "
     "4001",
     login_replaces},
    {"auth/resume-replaces", "WIRE-150 AUTH-65 AUTH-60 WIRE-601", VCL_MUST, 0,
     "a Resume ends the device's older connection the same way", resume_replaces},
    {"auth/response-before-events", "WIRE-37 AUTH-43", VCL_MUST, 0,
     "no event before authentication; the Login or Resume response precedes the first "
     "event",
     response_before_events},
    {"auth/resume-not-username-limited", "AUTH-101", VCL_MUST, VCL_NEEDS_LIMITS,
     "after failed Logins of an account are rate limited, its device still resumes",
     resume_not_username_limited},
    {"auth/rate-limited-keeps-challenge", "AUTH-100", VCL_SHOULD, VCL_NEEDS_LIMITS,
     "authentication RPCs over a limit are RATE_LIMITED with retry_after_ms, the "
     "challenge kept",
     auth_rate_limited},
    {"auth/registration-closed", "AUTH-102", VCL_MUST, VCL_NEEDS_CLOSED_REGISTRATION,
     "with registration closed every Register is PERMISSION_DENIED; the server still "
     "serves",
     registration_closed});
