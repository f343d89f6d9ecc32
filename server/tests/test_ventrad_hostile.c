/* Black-box tests of ventrad against hostile and malformed input: frames
 * that do not decode, wrong kinds, bad request ids, field bounds, the count of
 * consecutive bad frames, the auth timeout, and /metrics (spec/wire.md sections 1 and 2,
 * WIRE-8 to WIRE-38, WIRE-60). The handshake, text, fragmented and oversized messages and
 * /healthz are live cases (conformance/live/cases_transport.c), which
 * make test runs against ventrad. */
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

/* The server keeps serving: a fresh client registers and pings. */
static void assert_serving(const vtc_server *srv)
{
    vtc_device *d = vtc_new_account(srv, "alive");

    assert_int_equal(vtc_take_code(vtc_rpc_ping(d->c, 77)), 0);
    vtc_device_free(d);
}

/* Sends |len| raw bytes as one binary message; expects a Response with
 * |id| and error |code| and nothing else in it. */
static void expect_error(vtc_client *c, const void *data, size_t len, uint32_t id,
                         int code)
{
    Ventra__V1__Response *r = vtc_call_raw(c, data, len);

    if (r == NULL)
        fail_msg("no response (close code %d)", vtc_client_close_code(c));
    if (vtc_error_code(r) != code || r->id != id)
        fail_msg("got id %u code %d, want id %u code %d", r->id, vtc_error_code(r), id,
                 code);
    assert_int_equal(r->body_case, VENTRA__V1__RESPONSE__BODY__NOT_SET);
    assert_true(r->error->retry_after_ms == 0);
    vtc_response_free(r);
}

static void expect_ping_ok(vtc_client *c)
{
    Ventra__V1__Response *r = vtc_rpc_ping(c, 0xabcdef);

    if (r == NULL)
        fail_msg("Ping: no response (close code %d)", vtc_client_close_code(c));
    assert_int_equal(vtc_error_code(r), 0);
    assert_int_equal(r->body_case, VENTRA__V1__RESPONSE__BODY_PING);
    assert_true(r->ping->nonce == 0xabcdef);
    vtc_response_free(r);
}

/* expect_error, then a Ping on the same connection: it stays open
 * (WIRE-23). */
static void expect_refused(vtc_client *c, const void *data, size_t len, uint32_t id,
                           int code)
{
    expect_error(c, data, len, id, code);
    expect_ping_ok(c);
}

/* A Request of |method| (0: no body) with |id| as vtc_raw_request encodes
 * it, refused as expect_refused says. */
static void expect_raw_refused(vtc_client *c, uint32_t id, uint32_t method,
                               const uint8_t *body, size_t body_len, int code)
{
    uint8_t buf[64];
    size_t n = vtc_raw_request(buf, sizeof buf, id, method, body, body_len);

    expect_refused(c, buf, n, id, code);
}

/* An encoded Frame{request{id, ping{nonce}}}. */
static size_t ping_frame(uint8_t *out, size_t cap, uint32_t id, uint64_t nonce)
{
    uint8_t body[16];
    size_t n = 0;

    body[n++] = 0x08;
    n += vtc_pb_varint(body + n, nonce);
    return vtc_raw_request(out, cap, id, 11, body, n);
}

/* ---- Undecodable frames, kinds, ids, bodies ---------------------------- */

static void test_garbage(void **state)
{
    vtc_server *srv = *state;
    static const uint8_t junk[][8] = {
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, /* runaway varint */
        {0x0a, 0x7f, 0x08, 0x01},                         /* length past the end */
        {0x0b, 0x00},                                     /* group wire type */
        {0x00, 0x01},                                     /* tag 0 */
        {0x08, 0x01},                                     /* request as a varint */
    };
    static const size_t junk_len[] = {8, 4, 2, 2, 2};
    vtc_client *c = vtc_client_new(srv->port);
    size_t i;

    for (i = 0; i < sizeof junk_len / sizeof junk_len[0]; i++)
        expect_refused(c, junk[i], junk_len[i], 0, E(MALFORMED_FRAME));
    vtc_client_free(c);
    assert_serving(srv);
}

static void test_truncated(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);
    uint8_t buf[64];
    size_t n = ping_frame(buf, sizeof buf, 9, 0x112233445566ull), cut;

    for (cut = 1; cut < n; cut++)
        expect_refused(c, buf, n - cut, 0, E(MALFORMED_FRAME));
    vtc_client_free(c);
    assert_serving(srv);
}

static void test_unknown_kind(void **state)
{
    vtc_server *srv = *state;
    static const uint8_t resp[] = {0x12, 0x02, 0x08, 0x05}; /* response{id 5} */
    static const uint8_t evt[] = {0x1a, 0x00};              /* event{} */
    static const uint8_t unknown_only[] = {0x20, 0x01};     /* field 4 only */
    vtc_client *c = vtc_client_new(srv->port);

    expect_refused(c, "", 0, 0, E(UNKNOWN_FRAME_KIND));
    expect_refused(c, resp, sizeof resp, 0, E(UNKNOWN_FRAME_KIND));
    expect_refused(c, evt, sizeof evt, 0, E(UNKNOWN_FRAME_KIND));
    expect_refused(c, unknown_only, sizeof unknown_only, 0, E(UNKNOWN_FRAME_KIND));
    vtc_client_free(c);
    assert_serving(srv);
}

static void test_unknown_rpc(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);

    /* No body. */
    expect_raw_refused(c, 7, 0, NULL, 0, E(UNKNOWN_RPC));
    /* Body fields the server does not know: 99, 16, 1000. */
    expect_raw_refused(c, 8, 99, NULL, 0, E(UNKNOWN_RPC));
    expect_raw_refused(c, 9, 16, NULL, 0, E(UNKNOWN_RPC));
    expect_raw_refused(c, 10, 1000, (const uint8_t *)"\x08\x01", 2, E(UNKNOWN_RPC));
    /* Order: unknown RPC (step 8) before the gate (step 9) on an
     * unauthenticated connection; both above are. */
    vtc_client_free(c);
    assert_serving(srv);
}

static void test_request_id_zero(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);
    uint8_t buf[64];
    size_t n;

    n = ping_frame(buf, sizeof buf, 0, 5);
    expect_refused(c, buf, n, 0, E(DUPLICATE_REQUEST_ID));
    /* Step 5 comes before step 8: id 0 and no body. */
    expect_raw_refused(c, 0, 0, NULL, 0, E(DUPLICATE_REQUEST_ID));
    /* An explicit id field of 0 on the wire. */
    {
        static const uint8_t zero[] = {0x0a, 0x04, 0x08, 0x00, 0x5a, 0x00};

        expect_refused(c, zero, sizeof zero, 0, E(DUPLICATE_REQUEST_ID));
    }
    vtc_client_free(c);
    assert_serving(srv);
}

/* WIRE-22: unknown fields are skipped, a repeated singular field or oneof
 * member replaces the earlier one. */
static void test_unknown_fields(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);
    /* Frame{request{id 21, field 9 varint, ping{nonce 1, field 7 bytes},
     * ping{nonce 2}}, field 15 bytes} */
    static const uint8_t f[] = {0x0a, 0x0f, 0x08, 0x15, 0x48, 0x01, 0x5a,
                                0x05, 0x08, 0x01, 0x3a, 0x01, 0x78, 0x5a,
                                0x02, 0x08, 0x02, 0x7a, 0x01, 0x00};
    Ventra__V1__Response *r;

    r = vtc_call_raw(c, f, sizeof f);
    assert_non_null(r);
    assert_int_equal(r->id, 21);
    assert_int_equal(vtc_error_code(r), 0);
    assert_int_equal(r->body_case, VENTRA__V1__RESPONSE__BODY_PING);
    assert_true(r->ping->nonce == 2);
    vtc_response_free(r);
    vtc_client_free(c);
}

/* Step 11: a field over its bound is TOO_LARGE; the gate (step 9) and an
 * unknown RPC (step 8) come first. */
static void test_field_bounds(void **state)
{
    vtc_server *srv = *state;
    vtc_client *c = vtc_client_new(srv->port);
    char name33[34], tok513[514];
    uint8_t nonce[32], rnd[64] = {0};

    memset(name33, 'a', 33);
    name33[33] = '\0';
    memset(tok513, 'A', 513);
    tok513[513] = '\0';
    assert_true(vtc_challenge(c, P(REGISTER), nonce));
    assert_int_equal(
        vtc_take_code(vtc_rpc_register(c, name33, rnd, 32, nonce, 32, rnd, 64)),
        E(TOO_LARGE));
    expect_ping_ok(c);
    assert_int_equal(vtc_take_code(vtc_rpc_login(c, name33, 1, nonce, 32, rnd, 64)),
                     E(TOO_LARGE));
    expect_ping_ok(c);
    assert_int_equal(vtc_take_code(vtc_rpc_resume(c, tok513)), E(TOO_LARGE));
    expect_ping_ok(c);
    /* A 32-byte name is within bounds and well-formed: the request gets
     * as far as the challenge (a nonce never issued). */
    name33[32] = '\0';
    {
        vt_identity *id = NULL;

        assert_int_equal(vt_identity_generate(&id), VT_OK);
        assert_int_equal(vtc_take_code(vtc_rpc_register(c, name33, vt_identity_public(id),
                                                        32, rnd, 32, rnd, 64)),
                         E(BAD_CHALLENGE));
        vt_identity_free(id);
    }
    expect_ping_ok(c);
    name33[32] = 'a';
    /* The gate first: ListDevices with a 33-byte name before auth. */
    assert_int_equal(vtc_take_code(vtc_rpc_list_devices(c, name33)), E(UNAUTHENTICATED));
    expect_ping_ok(c);
    vtc_client_free(c);

    /* Authenticated: the bound applies to ListDevices too. */
    {
        char user[33];
        vtc_device *d;

        vtc_username(user, "bounds");
        d = vtc_register(srv->port, user);
        assert_int_equal(vtc_take_code(vtc_rpc_list_devices(d->c, name33)), E(TOO_LARGE));
        expect_ping_ok(d->c);
        vtc_device_free(d);
    }
    assert_serving(srv);
}

/* ---- Consecutive errors (WIRE-27) -------------------------------------- */

static void test_consecutive_errors(void **state)
{
    vtc_server *srv = *state;
    static const uint8_t junk[] = {0xff, 0xff};
    vtc_client *c = vtc_client_new(srv->port);
    int i, rc;

    /* MAX_CONSECUTIVE_ERRORS - 1 bad frames, a success, again: never
     * closed, since the success resets the count. */
    for (i = 0; i < (int)VT_MAX_CONSECUTIVE_ERRORS - 1; i++)
        expect_error(c, junk, sizeof junk, 0, E(MALFORMED_FRAME));
    expect_ping_ok(c);
    for (i = 0; i < (int)VT_MAX_CONSECUTIVE_ERRORS - 1; i++)
        expect_error(c, "", 0, 0, E(UNKNOWN_FRAME_KIND));
    expect_ping_ok(c);
    vtc_client_free(c);

    /* MAX_CONSECUTIVE_ERRORS of every kind of bad frame in a row: each is
     * answered; then the server may close, with 1008 only. */
    c = vtc_client_new(srv->port);
    for (i = 0; i < (int)VT_MAX_CONSECUTIVE_ERRORS; i++) {
        uint8_t buf[64];
        size_t n;

        switch (i % 4) {
        case 0:
            expect_error(c, junk, sizeof junk, 0, E(MALFORMED_FRAME));
            break;
        case 1:
            expect_error(c, "", 0, 0, E(UNKNOWN_FRAME_KIND));
            break;
        case 2:
            n = vtc_raw_request(buf, sizeof buf, 50 + (uint32_t)i, 99, NULL, 0);
            expect_error(c, buf, n, 50 + (uint32_t)i, E(UNKNOWN_RPC));
            break;
        default:
            n = vtc_raw_request(buf, sizeof buf, 50 + (uint32_t)i, 22, NULL, 0);
            expect_error(c, buf, n, 50 + (uint32_t)i, E(UNAUTHENTICATED));
            break;
        }
    }
    rc = vtc_wait_close(c, 1000);
    if (rc != 0 && rc != 1008)
        fail_msg("closed with %d after MAX_CONSECUTIVE_ERRORS bad frames", rc);
    vtc_client_free(c);
    assert_serving(srv);
}

/* ---- Auth timeout (WIRE-13) -------------------------------------------- */

/* The server of test_auth_timeout. */
static int setup_auth_timeout(void **state)
{
    static const char *const args[] = {"--auth-timeout-s", "1", NULL};

    return vtc_setup_with(state, args);
}

static void test_auth_timeout(void **state)
{
    vtc_server *srv = *state;
    int64_t t0 = vtc_now_ms(), dt;
    vtc_client *c = vtc_client_new(srv->port), *busy = vtc_client_new(srv->port);
    vtc_device *d = vtc_new_account(srv, "timely");
    int rc;

    /* Public RPCs do not authenticate: |busy| pings and is closed too. */
    assert_int_equal(vtc_take_code(vtc_rpc_ping(busy, 1)), 0);
    rc = vtc_wait_close(c, 4000);
    dt = vtc_now_ms() - t0;
    assert_int_equal(rc, 1008);
    assert_true(dt >= 500);
    assert_int_equal(vtc_wait_close(busy, 4000), 1008);

    /* The authenticated connection stays. */
    assert_int_equal(vtc_take_code(vtc_rpc_ping(d->c, 2)), 0);
    vtc_device_free(d);
    vtc_client_free(c);
    vtc_client_free(busy);
}

/* ---- HTTP (WIRE-8) ------------------------------------------------------
 * /healthz and 404 (WIRE-7) are the live case transport/healthz-and-404. */

static void test_metrics(void **state)
{
    vtc_server *srv = *state;
    char *headers = NULL, *body = NULL, user[33];
    vtc_device *d;
    int status;

    vtc_username(user, "metricsuser");
    d = vtc_register(srv->port, user);
    assert_int_equal(vtc_login(d, srv->port), 0);

    status = vtc_http_get(srv->port, "/metrics", &headers, &body);
    assert_int_equal(status, 200);
    assert_non_null(body);
    assert_non_null(strstr(body, "# TYPE "));
    assert_non_null(strcasestr(headers, "\ncontent-type: text/plain; version=0.0.4"));
    if (strstr(body, user) != NULL)
        fail_msg("/metrics names the user %s", user);
    assert_null(strstr(body, "127.0.0.1"));
    free(headers);
    free(body);

    vtc_device_free(d);
    assert_serving(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_unknown_kind),
        cmocka_unit_test(test_unknown_rpc),
        cmocka_unit_test(test_request_id_zero),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_field_bounds),
        cmocka_unit_test(test_consecutive_errors),
        cmocka_unit_test_setup_teardown(test_auth_timeout, setup_auth_timeout,
                                        vtc_teardown),
        cmocka_unit_test(test_metrics),
    };

    return VTC_RUN(tests, vtc_setup, vtc_teardown);
}
