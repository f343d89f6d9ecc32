/* Black-box tests of ventrad's Session service that depend on its own
 * configuration: Register with registration closed (--registration closed,
 * spec/auth.md AUTH-102). The protocol-level behaviour of GetServerInfo,
 * Ping, GetChallenge, Register, Login, Resume, tokens, the authentication
 * gate and replacement is checked by the live conformance cases
 * (conformance/live/cases_session.c, cases_auth.c, cases_errors.c), which
 * make test runs against ventrad. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vtc_server.h"

#define E(name) VENTRA__V1__ERROR_CODE__ERROR_##name
#define P(name) VENTRA__V1__CHALLENGE_PURPOSE__CHALLENGE_PURPOSE_##name

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registration_closed, setup_closed,
                                        vtc_teardown),
    };

    return VTC_RUN(tests, NULL, NULL);
}
