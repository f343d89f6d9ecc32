/* Black-box tests of ventrad's Session service: GetServerInfo, Ping,
 * GetChallenge, Register, Login, Resume, the authentication gate and the
 * replacement of a device's older connection (spec/wire.md 5.1 to 5.6,
 * WIRE-50, WIRE-140; spec/auth.md AUTH-1 to AUTH-65). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "vtc_server.h"

#define E(name) VENTRA__V1__ERROR_CODE__ERROR_##name
#define P(name) VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_##name
#define HEADER_B64 "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9"

static uint64_t unix_now(void)
{
    return (uint64_t)time(NULL);
}

/* A fresh nonce of |purpose| on |c|, asserted. */
static void challenge(vtc_client *c, int purpose, uint8_t nonce[32])
{
    assert_true(vtc_challenge(c, purpose, nonce));
}

static void server_key(vtc_client *c, uint8_t key[32])
{
    assert_true(vtc_server_info(c, key));
}

/* Register |user| with identity |id| on |c| (fresh REGISTER challenge,
 * correct signature); returns the response. */
static Ventra__V1__Response *register_on(vtc_client *c, const char *user, vt_identity *id)
{
    uint8_t key[32], nonce[32], sig[64];

    server_key(c, key);
    challenge(c, P(REGISTER), nonce);
    vtc_sign_register(id, key, nonce, 32, user, vt_identity_public(id), sig);
    return vtc_rpc_register(c, user, vt_identity_public(id), 32, nonce, 32, sig, 64);
}

/* A Register of |name| with the identity key |ik| and the 32 bytes of
 * |nonce| on |c|, signed by |signer| over the transcript of (|key|,
 * |nonce|, |signed_name|, |ik|); its error code. */
static int register_code(vtc_client *c, const vt_identity *signer, const uint8_t *key,
                         const uint8_t *nonce, const char *signed_name, const char *name,
                         const uint8_t *ik)
{
    uint8_t sig[64];

    vtc_sign_register(signer, key, nonce, 32, signed_name, ik, sig);
    return vtc_take_code(vtc_rpc_register(c, name, ik, 32, nonce, 32, sig, 64));
}

/* A Login of (|user|, |dev|) with the 32 bytes of |nonce| on |c|, signed
 * by |signer| over the transcript of exactly these values and |key|; its
 * error code. */
static int login_code(vtc_client *c, const vt_identity *signer, const uint8_t *key,
                      const uint8_t *nonce, const char *user, uint32_t dev)
{
    uint8_t sig[64];

    vtc_sign_login(signer, key, nonce, 32, user, dev, sig);
    return vtc_take_code(vtc_rpc_login(c, user, dev, nonce, 32, sig, 64));
}

/* base64url (no padding) decode into a malloc'd NUL-terminated buffer. */
static char *b64url_decode(const char *s, size_t len, size_t *out_len)
{
    char *out = malloc(len * 3 / 4 + 4);
    uint32_t acc = 0;
    size_t i, o = 0;
    int bits = 0;

    assert_non_null(out);
    for (i = 0; i < len; i++) {
        int v = 0;
        char ch = s[i];

        if (ch >= 'A' && ch <= 'Z')
            v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z')
            v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9')
            v = ch - '0' + 52;
        else if (ch == '-')
            v = 62;
        else if (ch == '_')
            v = 63;
        else
            fail_msg("not base64url: '%c'", ch);
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* AUTH-50: the exact form of a token the server issued for (|user|,
 * |dev|), signed by the key of the server.key file. */
static void check_token(const vtc_server *srv, const char *token, const char *user,
                        uint32_t dev)
{
    uint8_t pk[32], sk[64];
    const char *d1, *d2;
    char *claims, *sig, prefix[256], hex[65];
    size_t clen, slen, i;
    unsigned long long iat = 0, exp = 0;
    const char *p;

    assert_true(strlen(token) <= VT_MAX_TOKEN_LEN);
    d1 = strchr(token, '.');
    assert_non_null(d1);
    d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    assert_int_equal((int)(d1 - token), (int)strlen(HEADER_B64));
    assert_memory_equal(token, HEADER_B64, strlen(HEADER_B64));

    vtc_server_keypair(srv, pk, sk);
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", pk[i]);
    claims = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &clen);
    snprintf(prefix, sizeof prefix,
             "{\"iss\":\"ventra:%s\",\"sub\":\"%s\",\"dev\":%u,\"iat\":", hex, user, dev);
    if (strncmp(claims, prefix, strlen(prefix)) != 0)
        fail_msg("claims '%s' do not start with '%s'", claims, prefix);
    p = claims + strlen(prefix);
    assert_int_equal(sscanf(p, "%llu,\"exp\":%llu,", &iat, &exp), 2);
    assert_true(exp == iat + VT_TOKEN_TTL_S);
    assert_true(iat + 120 >= unix_now() && iat <= unix_now() + 120);
    p = strstr(p, ",\"jti\":\"");
    assert_non_null(p);
    p += 8;
    assert_int_equal(
        (int)strspn(p,
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        22);
    assert_string_equal(p + 22, "\"}");

    sig = b64url_decode(d2 + 1, strlen(d2 + 1), &slen);
    assert_int_equal(slen, 64);
    assert_int_equal(vt_ed25519_verify((const uint8_t *)sig, (const uint8_t *)token,
                                       (size_t)(d2 - token), pk),
                     VT_OK);
    vt_wipe(sk, sizeof sk);
    free(claims);
    free(sig);
}

/* ---- GetServerInfo, Ping ---------------------------------------------- */

static void test_server_info(void **state)
{
    vtc_server *srv = *state;
    vtc_client *a = vtc_client_new(srv->port), *b = vtc_client_new(srv->port);
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__GetServerInfoRequest body = VENTRA__V1__GET_SERVER_INFO_REQUEST__INIT;
    Ventra__V1__Response *ra, *rb;
    Ventra__V1__Limits *l;
    uint8_t pk[32], sk[64];

    req.id = 4242;
    req.body_case = VENTRA__V1__REQUEST__BODY_GET_SERVER_INFO;
    req.get_server_info = &body;
    ra = vtc_call(a, &req);
    assert_non_null(ra);
    assert_int_equal(ra->id, 4242);
    assert_null(ra->error);
    assert_int_equal(ra->body_case, VENTRA__V1__RESPONSE__BODY_GET_SERVER_INFO);
    assert_int_equal(ra->get_server_info->server_key.len, VT_KEY_LEN);
    assert_string_equal(ra->get_server_info->protocol, VT_PROTOCOL_NAME);

    /* WIRE-62: exact for the sizes clients build decoders from, at least
     * the constants for the others. */
    l = ra->get_server_info->limits;
    assert_non_null(l);
    assert_int_equal(l->max_frame_size, VT_MAX_FRAME_SIZE);
    assert_int_equal(l->max_content_size, VT_MAX_CONTENT_SIZE);
    assert_int_equal(l->max_devices_per_account, VT_MAX_DEVICES_PER_ACCOUNT);
    assert_int_equal(l->max_prekeys_per_upload, VT_MAX_PREKEYS_PER_UPLOAD);
    assert_int_equal(l->max_group_members, VT_MAX_GROUP_MEMBERS);
    assert_true(l->push_window >= VT_PUSH_WINDOW);
    assert_true(l->max_inflight_requests >= VT_MAX_INFLIGHT_REQUESTS);
    assert_true(l->max_queue_depth >= VT_MAX_QUEUE_DEPTH);

    /* WIRE-100: the same key on every connection, and it is the key of
     * the server.key file (the ventrad contract). */
    rb = vtc_rpc_server_info(b);
    assert_non_null(rb);
    assert_int_equal(rb->body_case, VENTRA__V1__RESPONSE__BODY_GET_SERVER_INFO);
    assert_int_equal(rb->get_server_info->server_key.len, VT_KEY_LEN);
    assert_memory_equal(ra->get_server_info->server_key.data,
                        rb->get_server_info->server_key.data, VT_KEY_LEN);
    vtc_server_keypair(srv, pk, sk);
    assert_memory_equal(ra->get_server_info->server_key.data, pk, VT_KEY_LEN);
    vt_wipe(sk, sizeof sk);

    vtc_response_free(ra);
    vtc_response_free(rb);
    vtc_client_free(a);
    vtc_client_free(b);
}

static void test_ping(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);
    Ventra__V1__Response *r;
    uint64_t now_ms;

    r = vtc_rpc_ping(c, 0x0123456789abcdefull);
    now_ms = vtc_wall_ms();
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_PING);
    assert_true(r->ping->nonce == 0x0123456789abcdefull);
    /* WIRE-110: the server's current time (same machine: within 60 s). */
    assert_true(r->ping->server_time_ms + 60000 > now_ms);
    assert_true(r->ping->server_time_ms < now_ms + 60000);
    vtc_response_free(r);

    r = vtc_rpc_ping(c, 0);
    assert_non_null(r);
    assert_int_equal(r->body_case, VENTRA__V1__RESPONSE__BODY_PING);
    assert_true(r->ping->nonce == 0);
    vtc_response_free(r);
    vtc_client_free(c);
}

/* ---- GetChallenge ----------------------------------------------------- */

static void test_challenge(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);
    Ventra__V1__Response *r1, *r2;
    char user[33];
    vt_identity *id = vtc_new_identity();
    int purpose;

    for (purpose = P(LOGIN); purpose <= P(REGISTER); purpose++) {
        r1 = vtc_rpc_get_challenge(c, purpose);
        r2 = vtc_rpc_get_challenge(c, purpose);
        assert_non_null(r1);
        assert_non_null(r2);
        assert_null(r1->error);
        assert_int_equal(r1->body_case, VENTRA__V1__RESPONSE__BODY_GET_CHALLENGE);
        assert_int_equal(r2->body_case, VENTRA__V1__RESPONSE__BODY_GET_CHALLENGE);
        assert_int_equal(r1->get_challenge->nonce.len, VT_CHALLENGE_NONCE_LEN);
        assert_int_equal(r1->get_challenge->expires_in_s, VT_CHALLENGE_TTL_S);
        assert_int_equal(r2->get_challenge->nonce.len, VT_CHALLENGE_NONCE_LEN);
        /* Fresh random bytes each time (AUTH-30). */
        assert_memory_not_equal(r1->get_challenge->nonce.data,
                                r2->get_challenge->nonce.data, VT_CHALLENGE_NONCE_LEN);
        vtc_response_free(r1);
        vtc_response_free(r2);
    }

    /* Check 1: UNSPECIFIED and unknown values. */
    assert_int_equal(vtc_take_code(vtc_rpc_get_challenge(c, P(UNSPECIFIED))),
                     E(INVALID_ARGUMENT));
    assert_int_equal(vtc_take_code(vtc_rpc_get_challenge(c, 99)), E(INVALID_ARGUMENT));
    assert_int_equal(vtc_take_code(vtc_rpc_get_challenge(c, 4)), E(INVALID_ARGUMENT));
    /* Check 3: DELETE_ACCOUNT needs an authenticated connection. */
    assert_int_equal(vtc_take_code(vtc_rpc_get_challenge(c, P(DELETE_ACCOUNT))),
                     E(UNAUTHENTICATED));

    vtc_username(user, "chal");
    assert_int_equal(vtc_take_code(register_on(c, user, id)), 0);

    /* Check 2: no LOGIN or REGISTER challenge once authenticated; an
     * unknown purpose is still check 1. */
    assert_int_equal(vtc_take_code(vtc_rpc_get_challenge(c, P(LOGIN))),
                     E(PERMISSION_DENIED));
    assert_int_equal(vtc_take_code(vtc_rpc_get_challenge(c, P(REGISTER))),
                     E(PERMISSION_DENIED));
    assert_int_equal(vtc_take_code(vtc_rpc_get_challenge(c, 99)), E(INVALID_ARGUMENT));
    r1 = vtc_rpc_get_challenge(c, P(DELETE_ACCOUNT));
    vtc_expect_body(r1, VENTRA__V1__RESPONSE__BODY_GET_CHALLENGE);
    assert_int_equal(r1->get_challenge->nonce.len, VT_CHALLENGE_NONCE_LEN);
    assert_int_equal(r1->get_challenge->expires_in_s, VT_CHALLENGE_TTL_S);
    vtc_response_free(r1);

    vt_identity_free(id);
    vtc_client_free(c);
}

/* ---- Register --------------------------------------------------------- */

static void test_register_ok(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);
    vt_identity *id = vtc_new_identity();
    Ventra__V1__Response *r;
    char user[33];
    uint64_t now = unix_now();

    vtc_username(user, "reg");
    r = register_on(c, user, id);
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_REGISTER_ACCOUNT);
    assert_int_equal(r->register_account->device_id, 1);
    assert_true(strlen(r->register_account->token) > 0);
    check_token(srv, r->register_account->token, user, 1);
    assert_true(r->register_account->token_expires_at + 120 >= now + VT_TOKEN_TTL_S);
    assert_true(r->register_account->token_expires_at <= now + VT_TOKEN_TTL_S + 120);
    vtc_response_free(r);

    /* The connection is authenticated as (user, 1). */
    r = vtc_rpc_list_devices(c, "");
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_LIST_DEVICES);
    assert_int_equal(r->list_devices->n_devices, 1);
    assert_int_equal(r->list_devices->devices[0]->device_id, 1);
    assert_int_equal(r->list_devices->devices[0]->identity_key.len, 32);
    assert_memory_equal(r->list_devices->devices[0]->identity_key.data,
                        vt_identity_public(id), 32);
    vtc_response_free(r);

    /* AUTH-61: Register again on it is PERMISSION_DENIED (check 1), even
     * with a garbage request. */
    assert_int_equal(
        vtc_take_code(vtc_rpc_register(c, "Bad!", NULL, 0, NULL, 0, NULL, 0)),
        E(PERMISSION_DENIED));
    vt_identity_free(id);
    vtc_client_free(c);
}

static void test_register_errors(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port), *other = vtc_client_new(srv->port);
    vtc_client *fresh = vtc_client_new(srv->port);
    vt_identity *id = vtc_new_identity(), *mallory = vtc_new_identity();
    const uint8_t *ik = vt_identity_public(id);
    uint8_t key[32], nonce[32], theirs[32], sig[64], rnd[32];
    Ventra__V1__Response *r;
    char user[33], taken[33];
    /* Checks 2 to 4, each INVALID_ARGUMENT: usernames (AUTH-1) with a
     * correct signature over the bad name and a valid challenge, so that
     * only the name is wrong; then the lengths of key, nonce and
     * signature. |fresh|: a new challenge first. */
    const struct {
        const char *name;
        const uint8_t *ik;
        size_t ik_len;
        const uint8_t *nonce;
        size_t nonce_len, sig_len;
        bool fresh;
    } bad_args[] = {
        {"Alice", ik, 32, nonce, 32, 64, true},
        {"ab", ik, 32, nonce, 32, 64, true},
        {"1abc", ik, 32, nonce, 32, 64, true},
        {"_abc", ik, 32, nonce, 32, 64, true},
        {"a b", ik, 32, nonce, 32, 64, true},
        {"ab\xc3\xa9", ik, 32, nonce, 32, 64, true},
        {"-ab", ik, 32, nonce, 32, 64, true},
        {"", ik, 32, nonce, 32, 64, true},
        {user, ik, 31, nonce, 32, 64, true},
        {user, NULL, 0, nonce, 32, 64, false},
        {user, ik, 32, nonce, 31, 64, true},
        {user, ik, 32, NULL, 0, 64, false},
        {user, ik, 32, nonce, 32, 63, true},
    };
    /* Then Registers on |conn| (after a challenge of |purpose| into
     * |nonce| unless 0) signed by |signer| over (|key|, the nonce sent,
     * |signed_name|), in this order. */
    const struct {
        vtc_client *conn;
        int purpose;
        const vt_identity *signer;
        const uint8_t *key, *nonce;
        const char *signed_name, *name;
        int want;
    } cases[] = {
        /* Order: a bad name wins over a wrong nonce and a forged signature. */
        {c, 0, mallory, key, rnd, "Bad", "Bad", E(INVALID_ARGUMENT)},
        /* Check 5: the challenge. No challenge of this purpose, a nonce the
         * server never issued, one of another purpose, one of another
         * connection. */
        {fresh, 0, id, key, rnd, user, user, E(BAD_CHALLENGE)},
        {fresh, P(LOGIN), id, key, nonce, user, user, E(BAD_CHALLENGE)},
        {c, P(REGISTER), id, key, rnd, user, user, E(BAD_CHALLENGE)},
        {c, P(REGISTER), id, key, theirs, user, user, E(BAD_CHALLENGE)},
        /* Order: a wrong nonce wins over a forged signature and a taken name. */
        {c, P(REGISTER), mallory, key, rnd, taken, taken, E(BAD_CHALLENGE)},
        /* Check 6: forged signatures. By another key, and the challenge was
         * consumed by the failed attempt (AUTH-33); over another name; over
         * the transcript of another server key. */
        {c, P(REGISTER), mallory, key, nonce, user, user, E(BAD_SIGNATURE)},
        {c, 0, id, key, nonce, user, user, E(BAD_CHALLENGE)},
        {c, P(REGISTER), id, key, nonce, taken, user, E(BAD_SIGNATURE)},
        {c, P(REGISTER), id, rnd, nonce, user, user, E(BAD_SIGNATURE)},
        /* Order: a forged signature wins over a taken name. */
        {c, P(REGISTER), mallory, key, nonce, taken, taken, E(BAD_SIGNATURE)},
        /* Check 7: the name is taken; the challenge is consumed here too. */
        {c, P(REGISTER), id, key, nonce, taken, taken, E(ALREADY_EXISTS)},
        {c, 0, id, key, nonce, user, user, E(BAD_CHALLENGE)},
    };
    size_t i;

    server_key(c, key);
    vtc_username(user, "regerr");
    vtc_username(taken, "taken");
    vtc_device_free(vtc_register(srv->port, taken));
    assert_int_equal(vt_random_bytes(rnd, sizeof rnd), VT_OK);

    for (i = 0; i < sizeof bad_args / sizeof bad_args[0]; i++) {
        int rc;

        if (bad_args[i].fresh)
            challenge(c, P(REGISTER), nonce);
        vtc_sign_register(id, key, nonce, 32, bad_args[i].name, ik, sig);
        rc = vtc_take_code(vtc_rpc_register(
            c, bad_args[i].name, bad_args[i].ik, bad_args[i].ik_len, bad_args[i].nonce,
            bad_args[i].nonce_len, sig, bad_args[i].sig_len));
        if (rc != E(INVALID_ARGUMENT))
            fail_msg("Register(\"%s\") of lengths %zu, %zu, %zu: code %d, want "
                     "INVALID_ARGUMENT",
                     bad_args[i].name, bad_args[i].ik_len, bad_args[i].nonce_len,
                     bad_args[i].sig_len, rc);
    }
    challenge(other, P(REGISTER), theirs);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc;

        if (cases[i].purpose != 0)
            challenge(cases[i].conn, cases[i].purpose, nonce);
        rc = register_code(cases[i].conn, cases[i].signer, cases[i].key, cases[i].nonce,
                           cases[i].signed_name, cases[i].name, ik);
        if (rc != cases[i].want)
            fail_msg("Register case %zu: code %d, want %d", i, rc, cases[i].want);
    }

    /* None of it created |user| or authenticated |c|: it registers now. */
    assert_int_equal(vtc_take_code(vtc_rpc_list_devices(c, "")), E(UNAUTHENTICATED));
    r = register_on(c, user, id);
    assert_int_equal(vtc_error_code(r), 0);
    assert_int_equal(r->register_account->device_id, 1);
    vtc_response_free(r);

    vt_identity_free(id);
    vt_identity_free(mallory);
    vtc_client_free(c);
    vtc_client_free(other);
    vtc_client_free(fresh);
}

/* AUTH-32: a new challenge of a purpose invalidates the one before. */
static void test_register_replaced_challenge(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);
    vt_identity *id = vtc_new_identity();
    uint8_t key[32], n1[32], n2[32];
    char user[33];

    vtc_username(user, "repl");
    server_key(c, key);
    challenge(c, P(REGISTER), n1);
    challenge(c, P(REGISTER), n2);
    assert_int_equal(register_code(c, id, key, n1, user, user, vt_identity_public(id)),
                     E(BAD_CHALLENGE));
    vt_identity_free(id);
    vtc_client_free(c);
}

/* AUTH-33: a request that passes the argument checks consumes the
 * connection's challenge whatever the outcome, a wrong nonce included. */
static void test_register_wrong_nonce_consumes(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);
    vt_identity *id = vtc_new_identity();
    const uint8_t *ik = vt_identity_public(id);
    uint8_t key[32], nonce[32], rnd[32];
    char user[33];

    vtc_username(user, "cons");
    server_key(c, key);
    assert_int_equal(vt_random_bytes(rnd, 32), VT_OK);
    challenge(c, P(REGISTER), nonce);
    assert_int_equal(register_code(c, id, key, rnd, user, user, ik), E(BAD_CHALLENGE));
    assert_int_equal(register_code(c, id, key, nonce, user, user, ik), E(BAD_CHALLENGE));
    vt_identity_free(id);
    vtc_client_free(c);
}

/* The server of test_registration_closed. */
static int setup_closed(void **state)
{
    static const char *const args[] = {"--registration", "closed", NULL};

    return vtc_setup_with(state, args);
}

/* AUTH-102: with registration closed, Register is PERMISSION_DENIED. */
static void test_registration_closed(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);
    vt_identity *id = vtc_new_identity();
    char user[33];
    uint8_t key[32];

    server_key(c, key);
    vtc_username(user, "closed");
    assert_int_equal(vtc_take_code(register_on(c, user, id)), E(PERMISSION_DENIED));
    /* Still unauthenticated, and the server still serves. */
    assert_int_equal(vtc_take_code(vtc_rpc_list_devices(c, "")), E(UNAUTHENTICATED));
    assert_int_equal(vtc_take_code(vtc_rpc_ping(c, 1)), 0);
    vtc_client_free(c);
    vt_identity_free(id);
}

/* spec/wire.md 4.2: keys, signatures and nonces have fixed lengths that
 * are forms, not bounds: longer is INVALID_ARGUMENT like shorter (AUTH-15),
 * never TOO_LARGE. */
static void test_fixed_lengths_longer(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);
    vt_identity *id = vtc_new_identity();
    uint8_t key[32], nonce[40], sig[72], ik[40];
    char user[33];
    struct {
        const char *what;
        size_t ik, nonce, sig;
    } cases[] = {
        {"Register identity_key of 33 bytes", 33, 32, 64},
        {"Register nonce of 33 bytes", 32, 33, 64},
        {"Register signature of 65 bytes", 32, 32, 65},
        {"Login nonce of 33 bytes", 0, 33, 64},
        {"Login signature of 65 bytes", 0, 32, 65},
    };
    size_t i;
    int failed = 0;

    vtc_username(user, "fixed");
    server_key(c, key);
    memset(ik, 0, sizeof ik);
    memcpy(ik, vt_identity_public(id), 32);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc;

        memset(nonce, 0, sizeof nonce);
        memset(sig, 0, sizeof sig);
        if (cases[i].ik != 0) {
            challenge(c, P(REGISTER), nonce);
            vtc_sign_register(id, key, nonce, 32, user, ik, sig);
            rc = vtc_take_code(vtc_rpc_register(c, user, ik, cases[i].ik, nonce,
                                                cases[i].nonce, sig, cases[i].sig));
        } else {
            challenge(c, P(LOGIN), nonce);
            vtc_sign_login(id, key, nonce, 32, user, 1, sig);
            rc = vtc_take_code(
                vtc_rpc_login(c, user, 1, nonce, cases[i].nonce, sig, cases[i].sig));
        }
        failed += vtc_tally(rc, E(INVALID_ARGUMENT), cases[i].what);
    }
    vt_identity_free(id);
    vtc_client_free(c);
    assert_int_equal(failed, 0);
}

/* ---- Login ------------------------------------------------------------ */

static void test_login_ok(void **state)
{
    vtc_server *srv = *state;
    char user[33];
    vtc_device *d;
    char first[513];
    Ventra__V1__Response *r;
    uint8_t nonce[32], sig[64];

    vtc_username(user, "login");
    d = vtc_register(srv->port, user);
    snprintf(first, sizeof first, "%s", d->token);
    vtc_disconnect(d);

    /* By hand, to look at the response. */
    d->c = vtc_client_new(srv->port);
    challenge(d->c, P(LOGIN), nonce);
    vtc_sign_login(d->id, d->server_key, nonce, 32, user, 1, sig);
    r = vtc_rpc_login(d->c, user, 1, nonce, 32, sig, 64);
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_LOGIN);
    check_token(srv, r->login->token, user, 1);
    assert_string_not_equal(r->login->token, first);
    assert_true(r->login->token_expires_at + 120 >= unix_now() + VT_TOKEN_TTL_S);
    assert_true(r->login->token_expires_at <= unix_now() + VT_TOKEN_TTL_S + 120);
    vtc_response_free(r);
    r = vtc_rpc_list_devices(d->c, "");
    assert_int_equal(vtc_error_code(r), 0);
    assert_int_equal(r->list_devices->n_devices, 1);
    vtc_response_free(r);
    /* AUTH-61: Login again on the same connection. */
    assert_int_equal(vtc_take_code(vtc_rpc_login(d->c, user, 1, nonce, 32, sig, 64)),
                     E(PERMISSION_DENIED));

    assert_int_equal(vtc_login(d, srv->port), 0);
    assert_int_equal(vtc_take_code(vtc_rpc_ping(d->c, 5)), 0);
    vtc_device_free(d);
}

static void test_login_errors(void **state)
{
    vtc_server *srv = *state;
    char user[33], ghost[33];
    vtc_device *d;
    vtc_client *c = vtc_client_new(srv->port);
    vt_identity *mallory = vtc_new_identity();
    uint8_t nonce[32], sig[64], rnd[32];
    const uint8_t *key;
    Ventra__V1__Response *r;
    char msg[3][300];
    int i;

    vtc_username(user, "lerr");
    vtc_username(ghost, "ghost");
    d = vtc_register(srv->port, user);
    key = d->server_key;
    assert_int_equal(vt_random_bytes(rnd, 32), VT_OK);

    /* Check 2: form (each signed as sent, so that only the form is wrong). */
    challenge(c, P(LOGIN), nonce);
    assert_int_equal(login_code(c, d->id, key, nonce, "Bad", 1), E(INVALID_ARGUMENT));
    assert_int_equal(login_code(c, d->id, key, nonce, "ab", 1), E(INVALID_ARGUMENT));
    assert_int_equal(login_code(c, d->id, key, nonce, user, 0), E(INVALID_ARGUMENT));
    /* Check 3: lengths. */
    challenge(c, P(LOGIN), nonce);
    vtc_sign_login(d->id, key, nonce, 32, user, 1, sig);
    assert_int_equal(vtc_take_code(vtc_rpc_login(c, user, 1, nonce, 31, sig, 64)),
                     E(INVALID_ARGUMENT));
    assert_int_equal(vtc_take_code(vtc_rpc_login(c, user, 1, nonce, 32, sig, 63)),
                     E(INVALID_ARGUMENT));
    assert_int_equal(vtc_take_code(vtc_rpc_login(c, user, 1, nonce, 32, NULL, 0)),
                     E(INVALID_ARGUMENT));
    /* Check 4: the challenge: never issued, of another purpose. */
    assert_int_equal(login_code(c, d->id, key, rnd, user, 1), E(BAD_CHALLENGE));
    challenge(c, P(REGISTER), nonce);
    assert_int_equal(login_code(c, d->id, key, nonce, user, 1), E(BAD_CHALLENGE));
    /* Order: a wrong nonce wins over an unknown account. */
    assert_int_equal(login_code(c, d->id, key, rnd, ghost, 1), E(BAD_CHALLENGE));

    /* AUTH-40/41: unknown account, never-issued device, wrong signature:
     * the same BAD_SIGNATURE with the same message. */
    for (i = 0; i < 3; i++) {
        const char *u = i == 0 ? ghost : user;
        uint32_t dev = i == 1 ? 7 : 1;

        challenge(c, P(LOGIN), nonce);
        vtc_sign_login(i == 2 ? mallory : d->id, key, nonce, 32, u, dev, sig);
        r = vtc_rpc_login(c, u, dev, nonce, 32, sig, 64);
        assert_non_null(r);
        if (vtc_error_code(r) != E(BAD_SIGNATURE))
            fail_msg("Login case %d: code %d, want BAD_SIGNATURE", i, vtc_error_code(r));
        snprintf(msg[i], sizeof msg[i], "%s", r->error->message ? r->error->message : "");
        vtc_response_free(r);
    }
    assert_string_equal(msg[0], msg[1]);
    assert_string_equal(msg[1], msg[2]);

    /* A signature over the right values by the right key but for another
     * server key. */
    challenge(c, P(LOGIN), nonce);
    assert_int_equal(login_code(c, d->id, rnd, nonce, user, 1), E(BAD_SIGNATURE));

    /* After all that, |c| is not authenticated and the device logs in. */
    assert_int_equal(vtc_take_code(vtc_rpc_list_devices(c, "")), E(UNAUTHENTICATED));
    challenge(c, P(LOGIN), nonce);
    assert_int_equal(login_code(c, d->id, key, nonce, user, 1), 0);

    vt_identity_free(mallory);
    vtc_client_free(c);
    vtc_device_free(d);
}

/* A login request replayed: on the same connection after a failed use of
 * its nonce, and on another connection after a successful one. */
static void test_login_replay(void **state)
{
    vtc_server *srv = *state;
    char user[33];
    vtc_device *d;
    vtc_client *a = vtc_client_new(srv->port), *b = vtc_client_new(srv->port);
    vt_identity *mallory = vtc_new_identity();
    uint8_t nonce[32], sig[64], n2[32];

    vtc_username(user, "replay");
    d = vtc_register(srv->port, user);

    challenge(a, P(LOGIN), nonce);
    assert_int_equal(login_code(a, mallory, d->server_key, nonce, user, 1),
                     E(BAD_SIGNATURE));
    assert_int_equal(login_code(a, d->id, d->server_key, nonce, user, 1),
                     E(BAD_CHALLENGE));

    challenge(a, P(LOGIN), nonce);
    vtc_sign_login(d->id, d->server_key, nonce, 32, user, 1, sig);
    assert_int_equal(vtc_take_code(vtc_rpc_login(a, user, 1, nonce, 32, sig, 64)), 0);
    /* The same request on b, which holds a challenge of its own. */
    challenge(b, P(LOGIN), n2);
    assert_int_equal(vtc_take_code(vtc_rpc_login(b, user, 1, nonce, 32, sig, 64)),
                     E(BAD_CHALLENGE));

    vt_identity_free(mallory);
    vtc_client_free(a);
    vtc_client_free(b);
    vtc_device_free(d);
}

/* WIRE-140 / AUTH-65: a second Login of a device ends the first
 * connection with REPLACED and 4001; a Resume does the same. */
static void test_login_replaces(void **state)
{
    vtc_server *srv = *state;
    char user[33];
    vtc_device *d;

    vtc_username(user, "replace");
    d = vtc_register(srv->port, user);
    for (int resume = 0; resume < 2; resume++) {
        vtc_client *old = d->c;

        d->c = NULL;
        assert_int_equal(resume ? vtc_resume(d, srv->port) : vtc_login(d, srv->port), 0);
        vtc_expect_session_ended(
            old, VENTRA__V1__SESSION_END_REASON__SESSION_END_REASON_REPLACED, 4001, 5000);
        vtc_client_free(old);
        /* The new connection is authenticated. */
        assert_int_equal(vtc_take_code(resume ? vtc_rpc_list_devices(d->c, "")
                                              : vtc_rpc_ping(d->c, 1)),
                         0);
    }
    vtc_device_free(d);
}

/* ---- Resume ----------------------------------------------------------- */

static void test_resume_ok(void **state)
{
    vtc_server *srv = *state;
    char user[33], first[513];
    vtc_device *d;
    Ventra__V1__Response *r;

    vtc_username(user, "resume");
    d = vtc_register(srv->port, user);
    snprintf(first, sizeof first, "%s", d->token);
    vtc_disconnect(d);

    d->c = vtc_client_new(srv->port);
    r = vtc_rpc_resume(d->c, first);
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_RESUME);
    assert_string_equal(r->resume->username, user);
    assert_int_equal(r->resume->device_id, 1);
    check_token(srv, r->resume->token, user, 1);
    assert_string_not_equal(r->resume->token, first);
    assert_true(r->resume->token_expires_at + 120 >= unix_now() + VT_TOKEN_TTL_S);
    snprintf(d->token, sizeof d->token, "%s", r->resume->token);
    vtc_response_free(r);
    assert_int_equal(vtc_take_code(vtc_rpc_list_devices(d->c, "")), 0);
    /* AUTH-61 */
    assert_int_equal(vtc_take_code(vtc_rpc_resume(d->c, first)), E(PERMISSION_DENIED));

    /* The fresh token resumes, and the first stays valid (AUTH-60). */
    assert_int_equal(vtc_resume(d, srv->port), 0);
    snprintf(d->token, sizeof d->token, "%s", first);
    assert_int_equal(vtc_resume(d, srv->port), 0);
    vtc_device_free(d);
}

static int resume_code(const vtc_server *srv, const char *token)
{
    vtc_client *c = vtc_client_new(srv->port);
    int rc = vtc_take_code(vtc_rpc_resume(c, token));

    vtc_client_free(c);
    return rc;
}

static void test_resume_bad_tokens(void **state)
{
    vtc_server *srv = *state;
    char user[33], claims[512], hex[65], *tok, *p;
    uint8_t pk[32], sk[64], fake_pk[32], fake_sk[64], seed[32];
    vtc_device *d;
    uint64_t now = unix_now();
    size_t i;
    int rc;

    vtc_username(user, "badtok");
    d = vtc_register(srv->port, user);
    vtc_server_keypair(srv, pk, sk);
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", pk[i]);
    assert_int_equal(vt_random_bytes(seed, 32), VT_OK);
    assert_int_equal(vt_ed25519_keypair_from_seed(fake_pk, fake_sk, seed), VT_OK);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"ventra:%s\",\"sub\":\"%s\",\"dev\":1,\"iat\":%llu,\"exp\":%llu,"
             "\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
             hex, user, (unsigned long long)now, (unsigned long long)(now + 3600));

    /* The control: a token minted exactly as AUTH-50 says, so the failures
     * below are about the one thing changed. A server that keeps a record
     * of the jti it issued (AUTH-52 recommends it) may refuse it as never
     * issued; that is allowed, and the negative cases still hold. */
    tok = vtc_token_mint(srv, user, 1, now, now + VT_TOKEN_TTL_S);
    rc = resume_code(srv, tok);
    assert_true(rc == 0 || rc == E(BAD_TOKEN));
    if (rc != 0)
        print_message("note: ventrad refuses minted tokens (jti records); the forged and "
                      "expired cases below cannot tell why they fail\n");
    free(tok);
    tok = vtc_token_make("{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", claims, sk);
    assert_int_equal(resume_code(srv, tok), rc);
    free(tok);

    /* Forged: the same claims signed by another key. */
    tok = vtc_token_make("{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", claims, fake_sk);
    assert_int_equal(resume_code(srv, tok), E(BAD_TOKEN));
    free(tok);
    /* Expired long ago, and at exp = now - 1 (AUTH-53: no skew). */
    tok = vtc_token_mint(srv, user, 1, now - 7200, now - 3600);
    assert_int_equal(resume_code(srv, tok), E(BAD_TOKEN));
    free(tok);
    tok = vtc_token_mint(srv, user, 1, now - 3601, now - 1);
    assert_int_equal(resume_code(srv, tok), E(BAD_TOKEN));
    free(tok);
    /* alg none, without and with a signature. */
    tok = vtc_token_make("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL);
    assert_int_equal(resume_code(srv, tok), E(BAD_TOKEN));
    free(tok);
    tok = vtc_token_make("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, sk);
    assert_int_equal(resume_code(srv, tok), E(BAD_TOKEN));
    free(tok);
    /* Another header spelling of EdDSA (whitespace). */
    tok = vtc_token_make("{\"alg\": \"EdDSA\",\"typ\":\"JWT\"}", claims, sk);
    assert_int_equal(resume_code(srv, tok), E(BAD_TOKEN));
    free(tok);
    /* A device that does not exist, an account that does not exist. */
    tok = vtc_token_mint(srv, user, 9, now, now + 3600);
    assert_int_equal(resume_code(srv, tok), E(BAD_TOKEN));
    free(tok);
    tok = vtc_token_mint(srv, "nobody-here", 1, now, now + 3600);
    assert_int_equal(resume_code(srv, tok), E(BAD_TOKEN));
    free(tok);
    /* A real token with one signature character changed, with padding
     * appended, with a segment dropped. */
    tok = strdup(d->token);
    p = tok + strlen(tok) - 5;
    *p = *p == 'A' ? 'B' : 'A';
    assert_int_equal(resume_code(srv, tok), E(BAD_TOKEN));
    free(tok);
    {
        char padded[600];

        snprintf(padded, sizeof padded, "%s=", d->token);
        assert_int_equal(resume_code(srv, padded), E(BAD_TOKEN));
        snprintf(padded, sizeof padded, "%s", d->token);
        *strrchr(padded, '.') = '\0';
        assert_int_equal(resume_code(srv, padded), E(BAD_TOKEN));
    }
    /* Garbage. */
    assert_int_equal(resume_code(srv, ""), E(BAD_TOKEN));
    assert_int_equal(resume_code(srv, "garbage"), E(BAD_TOKEN));
    assert_int_equal(resume_code(srv, "a.b.c"), E(BAD_TOKEN));
    assert_int_equal(resume_code(srv, ".."), E(BAD_TOKEN));
    assert_int_equal(resume_code(srv, HEADER_B64 ".e30.AAAA"), E(BAD_TOKEN));
    /* Over MAX_TOKEN_LEN: TOO_LARGE, before the token is looked at. */
    {
        char big[VT_MAX_TOKEN_LEN + 2];

        memset(big, 'A', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        assert_int_equal(resume_code(srv, big), E(TOO_LARGE));
    }

    /* The device still resumes with its real token. */
    assert_int_equal(vtc_resume(d, srv->port), 0);
    vt_wipe(sk, sizeof sk);
    vt_wipe(fake_sk, sizeof fake_sk);
    vtc_device_free(d);
}

/* ---- The authentication gate (WIRE-50) -------------------------------- */

static void test_unauthenticated(void **state)
{
    vtc_server *srv = *state;
    static const uint32_t private_rpcs[] = {20, 21, 22, 23, 30, 31, 32, 40,
                                            41, 50, 51, 52, 53, 54, 55};
    vtc_client *c = vtc_client_new(srv->port);
    uint8_t buf[64];
    size_t i, n;

    for (i = 0; i < sizeof private_rpcs / sizeof private_rpcs[0]; i++) {
        Ventra__V1__Response *r;
        uint32_t id = 100 + (uint32_t)i;

        n = vtc_raw_request(buf, sizeof buf, id, private_rpcs[i], NULL, 0);
        r = vtc_call_raw(c, buf, n);
        assert_non_null(r);
        assert_int_equal(r->id, id);
        if (vtc_error_code(r) != E(UNAUTHENTICATED))
            fail_msg("RPC %u before auth: code %d, want UNAUTHENTICATED", private_rpcs[i],
                     vtc_error_code(r));
        assert_int_equal(r->body_case, VENTRA__V1__RESPONSE__BODY__NOT_SET);
        vtc_response_free(r);
        /* A success in between keeps the count of bad frames low
         * (WIRE-27). */
        assert_int_equal(vtc_take_code(vtc_rpc_ping(c, i)), 0);
    }
    /* Public RPCs pass the gate. */
    assert_int_equal(vtc_take_code(vtc_rpc_server_info(c)), 0);
    assert_int_equal(vtc_take_code(vtc_rpc_get_challenge(c, P(LOGIN))), 0);
    vtc_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_info),
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_challenge),
        cmocka_unit_test(test_register_ok),
        cmocka_unit_test(test_register_errors),
        cmocka_unit_test(test_register_replaced_challenge),
        cmocka_unit_test(test_register_wrong_nonce_consumes),
        cmocka_unit_test_setup_teardown(test_registration_closed, setup_closed,
                                        vtc_teardown),
        cmocka_unit_test(test_fixed_lengths_longer),
        cmocka_unit_test(test_login_ok),
        cmocka_unit_test(test_login_errors),
        cmocka_unit_test(test_login_replay),
        cmocka_unit_test(test_login_replaces),
        cmocka_unit_test(test_resume_ok),
        cmocka_unit_test(test_resume_bad_tokens),
        cmocka_unit_test(test_unauthenticated),
    };

    return VTC_RUN(tests, vtc_setup, vtc_teardown);
}
