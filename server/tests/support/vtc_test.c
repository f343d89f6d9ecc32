/* cmocka fixtures and assertions of the test kit: a server per test or
 * per group, fresh accounts and identities, the shape of error answers
 * (spec/wire.md section 3, WIRE-41, WIRE-43) and the end of a session
 * (WIRE-9, WIRE-14, WIRE-601). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "vtc.h"

bool vtc_test_init(void)
{
    if (vt_crypto_init() != VT_OK)
        return false;
    if (getenv("VTC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("VTC_TEST_FILTER"));
    return true;
}

int vtc_setup_with(void **state, const char *const *extra)
{
    vtc_server *srv = calloc(1, sizeof *srv);

    if (srv == NULL)
        return -1;
    vtc_server_start(srv, extra);
    *state = srv;
    return 0;
}

int vtc_setup(void **state)
{
    return vtc_setup_with(state, NULL);
}

int vtc_teardown(void **state)
{
    vtc_server *srv = *state;

    vtc_server_cleanup(srv);
    free(srv);
    return 0;
}

vtc_device *vtc_new_account(const vtc_server *srv, const char *prefix)
{
    char name[33];

    vtc_username(name, prefix);
    return vtc_register(srv->port, name);
}

vt_identity *vtc_new_identity(void)
{
    vt_identity *id = NULL;

    assert_int_equal(vt_identity_generate(&id), VT_OK);
    return id;
}

void vtc_random16(uint8_t out[16])
{
    assert_int_equal(vt_random_bytes(out, 16), VT_OK);
}

int vtc_take_code(Ventra__V1__Response *r)
{
    int rc = vtc_error_code(r);

    vtc_response_free(r);
    return rc;
}

void vtc_expect_error(Ventra__V1__Response *r, int code)
{
    assert_non_null(r);
    if (r->error == NULL)
        fail_msg("expected error %d, got a body %d", code, (int)r->body_case);
    assert_int_equal(r->body_case, VENTRA__V1__RESPONSE__BODY__NOT_SET);
    assert_int_equal(r->error->code, code);
    assert_int_equal(r->error->retry_after_ms, 0);
    if (code != VT_ERR_STALE_DEVICES)
        assert_int_equal(r->error->n_stale, 0); /* WIRE-43 */
    vtc_response_free(r);
}

void vtc_expect_body(const Ventra__V1__Response *r, int body)
{
    assert_non_null(r);
    if (r->error != NULL)
        fail_msg("expected a body %d, got error %d (%s)", body, (int)r->error->code,
                 r->error->message ? r->error->message : "");
    assert_int_equal(r->body_case, body);
}

int vtc_tally(int rc, int want, const char *what)
{
    if (rc == want)
        return 0;
    print_error("%s: code %d, want %d\n", what, rc, want);
    return 1;
}

void vtc_expect_session_ended(vtc_client *c, int reason, int close_code, int timeout_ms)
{
    Ventra__V1__Event *e =
        vtc_wait_event(c, VENTRA__V1__EVENT__BODY_SESSION_ENDED, timeout_ms);

    if (e == NULL)
        fail_msg("no SessionEndedEvent (close code %d)", vtc_client_close_code(c));
    assert_int_equal(e->session_ended->reason, reason);
    vtc_event_free(e);
    /* WIRE-601: the event is the last frame before the close. */
    e = vtc_next_event(c, timeout_ms);
    if (e != NULL)
        fail_msg("an event (body %d) after the SessionEndedEvent", (int)e->body_case);
    assert_int_equal(vtc_wait_close(c, timeout_ms), close_code);
}
