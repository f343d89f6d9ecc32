/* Black-box tests of ventrad that depend on its own flags: the auth timeout
 * shortened with --auth-timeout-s (WIRE-13) and /metrics (WIRE-8). The
 * protocol-level hostile input (undecodable frames, wrong kinds, bad request
 * ids, unknown fields, field bounds, consecutive bad frames, WebSocket
 * protocol errors) is checked by the live conformance cases
 * (conformance/live/cases_hostile.c, cases_errors.c, cases_transport.c),
 * which make test runs against ventrad. */
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

#include "vtc_server.h"

#define E(name) VENTRA__V1__ERROR_CODE__ERROR_##name

/* The server keeps serving: a fresh client registers and pings. */
static void assert_serving(const vtc_server *srv)
{
    vtc_device *d = vtc_new_account(srv, "alive");

    assert_int_equal(vtc_take_code(vtc_rpc_ping(d->c, 77)), 0);
    vtc_device_free(d);
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

/* ---- /metrics ----------------------------------------------------------
 * ventrad's exposition format (Prometheus text 0.0.4). That it names no
 * account or address (WIRE-8) is the live case transport/metrics-aggregate;
 * /healthz and 404 (WIRE-7) are transport/healthz-and-404. */

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
    free(headers);
    free(body);

    vtc_device_free(d);
    assert_serving(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth_timeout, setup_auth_timeout,
                                        vtc_teardown),
        cmocka_unit_test(test_metrics),
    };

    return VTC_RUN(tests, vtc_setup, vtc_teardown);
}
