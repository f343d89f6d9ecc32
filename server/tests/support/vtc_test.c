/* cmocka fixtures of the test kit: a server per test or per group, fresh
 * accounts, and the failure handler that turns a failure inside the
 * protocol kit (vtc.h) into a failed cmocka test. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "vtc_server.h"

/* fail_msg longjmps back to cmocka's runner, so the group teardown still
 * stops the server. */
static void fail_test(const char *msg, void *ud)
{
    (void)ud;
    fail_msg("vtc: %s", msg);
}

bool vtc_test_init(void)
{
    vtc_set_fail_handler(fail_test, NULL);
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
