/* Black-box test of ventrad's graceful shutdown: on SIGTERM it loses no
 * accepted send and ends sessions as the spec says (spec/delivery.md
 * DELIV-2; spec/wire.md WIRE-14 and section 1.4). What survives a kill -9
 * is checked by the live cases durability/ (conformance/live). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "vt_constants.h"
#include "vtc_server.h"

/* ---- Helpers ----------------------------------------------------------- */

/* Sends from a one-device account to a one-device account: the envelope
 * for device 1 with content |text| as it is. */
static const uint32_t device1[] = {1};
static const vtc_send_opts bare = {.bare_content = true};

static void send_build(vtc_send_buf *b, const char *recipient, const char *text,
                       const uint8_t mid[16])
{
    vtc_send_build(b, recipient, device1, 1, NULL, 0, text, mid, &bare);
}

/* Reads the MessageEvents |d| gets until its QueueDrainedEvent (whose
 * count must equal their number) or until none arrives for |quiet_ms|;
 * the events go to *out (malloc'd, owned by the caller), their number to
 * *n. The drain event itself is not what these tests are about. */
static void read_delivered(vtc_device *d, Ventra__V1__Event ***out, size_t *n,
                           int quiet_ms)
{
    size_t cap = 16;

    *out = malloc(cap * sizeof **out);
    assert_non_null(*out);
    *n = 0;
    for (;;) {
        Ventra__V1__Event *e =
            vtc_wait_events(d->c,
                            VTC_EVENT(VENTRA__V1__EVENT__BODY_MESSAGE) |
                                VTC_EVENT(VENTRA__V1__EVENT__BODY_QUEUE_DRAINED),
                            quiet_ms);

        if (e == NULL)
            return;
        if (e->body_case == VENTRA__V1__EVENT__BODY_QUEUE_DRAINED) {
            assert_int_equal(e->queue_drained->count, *n);
            vtc_event_free(e);
            return;
        }
        if (*n == cap) {
            cap *= 2;
            *out = realloc(*out, cap * sizeof **out);
            assert_non_null(*out);
        }
        (*out)[(*n)++] = e;
    }
}

/* ---- Tests ---------------------------------------------------------------------- */

typedef struct stopper {
    vtc_server *srv;
    int sig;
    int status;
} stopper;

static void *stop_thread(void *arg)
{
    stopper *s = arg;

    s->status = vtc_server_stop(s->srv, s->sig);
    return NULL;
}

/* WIRE-14 and section 1.4: on SIGTERM the server answers what is in flight
 * (or refuses it with UNAVAILABLE), sends SessionEndedEvent(SHUTDOWN) then
 * close 1001 on authenticated connections, close 1001 on the others, and
 * exits 0; DELIV-2: no send it acknowledged is lost, none it refused is
 * delivered (WIRE-45). */
static void test_graceful_shutdown(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    vtc_device *carol = vtc_new_account(srv, "carol");
    vtc_client *anon = vtc_client_new(srv->port);
    enum { N = 30 };
    vtc_send_buf *b = calloc(N, sizeof *b);
    uint32_t ids[N];
    int outcome[N]; /* 1 accepted, 2 refused, 0 unknown (no response) */
    bool delivered[N] = {false};
    size_t accepted = 0, refused = 0, lost = 0;
    stopper st = {.srv = srv, .sig = SIGTERM, .status = -1};
    pthread_t th;
    Ventra__V1__Event **ev;
    size_t n;

    assert_non_null(b);
    vtc_disconnect(bob);
    for (int i = 0; i < N; i++) {
        uint8_t mid[16];
        char text[32];

        vtc_random16(mid);
        snprintf(text, sizeof text, "g%d", i);
        send_build(&b[i], bob->username, text, mid);
        ids[i] = vtc_send_request(alice->c, &b[i].req);
    }
    /* SIGTERM at once, from another thread, so that this one keeps reading
     * the responses and close frames while the server shuts down. */
    assert_int_equal(pthread_create(&th, NULL, stop_thread, &st), 0);

    for (int i = 0; i < N; i++) {
        Ventra__V1__Response *r = vtc_wait_response(alice->c, ids[i], 10000);

        if (r == NULL) {
            outcome[i] = 0;
            lost++;
        } else if (r->error != NULL) {
            if ((int)r->error->code != VT_ERR_UNAVAILABLE)
                fail_msg("send %d refused with %d during shutdown", i,
                         (int)r->error->code);
            outcome[i] = 2;
            refused++;
        } else {
            vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_SEND);
            assert_false(r->send->duplicate);
            outcome[i] = 1;
            accepted++;
        }
        vtc_response_free(r);
    }
    print_message("shutdown: %zu sends accepted, %zu refused, %zu unanswered\n", accepted,
                  refused, lost);

    /* Authenticated connections: SessionEndedEvent(SHUTDOWN) as the last
     * frame, then 1001. */
    vtc_expect_session_ended(alice->c,
                             VENTRA__V1__SESSION_END_REASON__SESSION_END_REASON_SHUTDOWN,
                             1001, 10000);
    vtc_expect_session_ended(carol->c,
                             VENTRA__V1__SESSION_END_REASON__SESSION_END_REASON_SHUTDOWN,
                             1001, 10000);

    /* An unauthenticated connection: 1001 and never an event (WIRE-37). */
    assert_int_equal(vtc_wait_close(anon, 10000), 1001);
    assert_null(vtc_next_event(anon, 0));

    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(st.status != -1);
    if (!WIFEXITED(st.status))
        fail_msg("ventrad did not exit normally on SIGTERM (status %d)", st.status);
    assert_int_equal(WEXITSTATUS(st.status), 0);

    vtc_server_restart(srv);
    assert_int_equal(vtc_login(bob, srv->port), 0);
    read_delivered(bob, &ev, &n, 3000);
    for (size_t i = 0; i < n; i++) {
        int k = -1;

        for (int j = 0; j < N; j++)
            if (memcmp(ev[i]->message->message_id.data, b[j].mid, 16) == 0)
                k = j;
        if (k < 0)
            fail_msg("bob got a message that was never sent");
        if (delivered[k])
            fail_msg("send %d delivered twice", k);
        delivered[k] = true;
        if (outcome[k] == 2)
            fail_msg("send %d was refused with UNAVAILABLE but delivered", k);
        assert_memory_equal(ev[i]->message->content.data, b[k].content[0],
                            strlen(b[k].content[0]));
        if (i > 0)
            assert_true(ev[i]->message->seq > ev[i - 1]->message->seq);
    }
    vtc_free_events(ev, n);
    print_message("shutdown: %zu of the %d sends delivered after the restart\n", n, N);
    for (int i = 0; i < N; i++)
        if (outcome[i] == 1 && !delivered[i])
            fail_msg("send %d was accepted before the shutdown but is lost", i);

    vtc_client_free(anon);
    free(b);
    vtc_device_free(carol);
    vtc_device_free(bob);
    vtc_device_free(alice);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VTC_TEST(test_graceful_shutdown),
    };

    return VTC_RUN(tests, NULL, NULL);
}
