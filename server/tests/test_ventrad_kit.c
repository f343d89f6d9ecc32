/* Self-test of the black-box kit's process harness against the real
 * ventrad: restart on the same data directory keeps the server key and the
 * accounts, SIGTERM ends authenticated sessions with SHUTDOWN and 1001 and
 * exits 0 (spec/wire.md WIRE-14, WIRE-100; the ventrad contract). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "vtc_server.h"

static void test_log_and_key(void **state)
{
    vtc_server *srv = *state;
    char *log = vtc_server_log(srv);
    uint8_t pk[32], sk[64], key[32];
    vtc_client *c = vtc_client_new(srv->port);

    assert_non_null(strstr(log, "msg=listening"));
    free(log);
    vtc_server_keypair(srv, pk, sk);
    assert_true(vtc_server_info(c, key));
    assert_memory_equal(pk, key, 32);
    vt_wipe(sk, sizeof sk);
    vtc_client_free(c);
}

static void test_restart_keeps_state(void **state)
{
    vtc_server *srv = *state;
    char user[33];
    vtc_device *d;
    uint8_t before[32], after[32];
    vtc_client *c;

    vtc_username(user, "persist");
    d = vtc_register(srv->port, user);
    memcpy(before, d->server_key, 32);
    vtc_disconnect(d);
    vtc_server_restart(srv);
    assert_true(srv->port > 0);
    c = vtc_client_new(srv->port);
    assert_true(vtc_server_info(c, after));
    assert_memory_equal(before, after, 32);
    vtc_client_free(c);
    /* The token and the device survive the restart. */
    assert_int_equal(vtc_resume(d, srv->port), 0);
    assert_int_equal(vtc_login(d, srv->port), 0);
    vtc_device_free(d);
}

static void test_sigterm(void **state)
{
    vtc_server *srv = *state;
    char user[33];
    vtc_device *d;
    vtc_client *anon;
    int status;

    vtc_username(user, "shutdown");
    d = vtc_register(srv->port, user);
    anon = vtc_client_new(srv->port);
    assert_true(vtc_server_info(anon, d->server_key));
    status = vtc_server_stop(srv, SIGTERM);
    assert_true(status != -1);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* WIRE-14: SessionEndedEvent(SHUTDOWN) on the authenticated
     * connection, then 1001 on both. */
    vtc_expect_session_ended(
        d->c, VENTRA__V1__SESSION_END_REASON__SESSION_END_REASON_SHUTDOWN, 1001, 2000);
    assert_int_equal(vtc_wait_close(anon, 2000), 1001);
    vtc_client_free(anon);
    vtc_device_free(d);
    vtc_server_restart(srv);
    assert_true(srv->pid > 0);
}

/* The account helpers the other black-box tests build on: prekeys,
 * sends with fan-out to every device (spec/delivery.md 3.2), acks. */
static void test_messaging_helpers(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice"), *bob = vtc_new_account(srv, "bob");
    vtc_device *alice2 = vtc_link(alice);
    const char *alice_name = alice->username, *bob_name = bob->username;
    Ventra__V1__Response *r;
    Ventra__V1__MessageEvent *m;
    uint8_t mid[16];
    uint64_t seq;

    assert_int_equal(vtc_upload_prekeys(bob, 1, 5), 5);
    assert_int_equal(vtc_upload_prekeys(bob, 6, 3), 8);

    vtc_random16(mid);
    vtc_expect_sent(vtc_send_text(alice, bob_name, "hello bob", mid), false);

    m = vtc_next_message(bob, 5000);
    assert_non_null(m);
    assert_string_equal(m->sender, alice_name);
    assert_int_equal(m->sender_device, 1);
    assert_int_equal(m->content.len, 9);
    assert_memory_equal(m->content.data, "hello bob", 9);
    assert_int_equal(m->message_id.len, 16);
    assert_memory_equal(m->message_id.data, mid, 16);
    seq = m->seq;
    vtc_message_free(m);
    assert_int_equal(vtc_ack(bob, &seq, 1), 1);

    /* alice's other device got its copy (to_self). */
    m = vtc_next_message(alice2, 5000);
    assert_non_null(m);
    assert_string_equal(m->recipient, bob_name);
    assert_memory_equal(m->content.data, "hello bob", 9);
    seq = m->seq;
    vtc_message_free(m);
    assert_int_equal(vtc_ack(alice2, &seq, 1), 1);

    /* A note to self from alice2 reaches alice's device 1. */
    r = vtc_send_text(alice2, alice_name, "note", NULL);
    assert_int_equal(vtc_error_code(r), 0);
    vtc_response_free(r);
    m = vtc_next_message(alice, 5000);
    assert_non_null(m);
    assert_int_equal(m->sender_device, alice2->device_id);
    vtc_message_free(m);

    vtc_device_free(alice2);
    vtc_device_free(alice);
    vtc_device_free(bob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_and_key),
        cmocka_unit_test(test_restart_keeps_state),
        cmocka_unit_test(test_messaging_helpers),
        cmocka_unit_test(test_sigterm),
    };

    return VTC_RUN(tests, vtc_setup, vtc_teardown);
}
