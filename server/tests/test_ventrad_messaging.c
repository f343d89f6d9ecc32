/* Black-box tests of ventrad's messaging: Send and Ack, the per-device
 * queues, push, flow control and the drain event, fan-out to every device,
 * idempotency and ephemeral sends (spec/delivery.md sections 2 to 7,
 * DELIV-1 to DELIV-82; spec/wire.md section 5.14). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "vt_constants.h"
#include "vtc_server.h"

/* ---- Helpers ----------------------------------------------------------- */

/* The events of a delivery: messages, the drain event, and the end of the
 * session that would cut a drain short. */
#define DELIVERIES                                                                       \
    (VTC_EVENT(VENTRA__V1__EVENT__BODY_MESSAGE) |                                        \
     VTC_EVENT(VENTRA__V1__EVENT__BODY_QUEUE_DRAINED) |                                  \
     VTC_EVENT(VENTRA__V1__EVENT__BODY_SESSION_ENDED))

/* A send between two accounts of one device each: envelope for device 1. */
static uint64_t send_one(vtc_device *from, const vtc_device *to, const char *text,
                         const uint8_t *mid)
{
    static const uint32_t one[] = {1};

    return vtc_expect_sent(
        vtc_send_lists(from, to->username, one, 1, NULL, 0, text, mid, NULL), false);
}

/* The next MessageEvent of |d| within |ms| (every other event dropped);
 * NULL on timeout. Tests whose point is not the drain event (DELIV-45) read
 * with this, so that they do not depend on it. */
static Ventra__V1__Event *next_message(vtc_device *d, int ms)
{
    return vtc_wait_event(d->c, VENTRA__V1__EVENT__BODY_MESSAGE, ms);
}

/* Asserts that the next delivery of |d| is a QueueDrainedEvent of |count|. */
static void expect_drained(vtc_device *d, uint32_t count, int ms)
{
    Ventra__V1__Event *e = vtc_wait_events(d->c, DELIVERIES, ms);

    if (e == NULL)
        fail_msg("%s/%u: no QueueDrainedEvent within %d ms", d->username, d->device_id,
                 ms);
    if (e->body_case != VENTRA__V1__EVENT__BODY_QUEUE_DRAINED)
        fail_msg("%s/%u: expected QueueDrainedEvent(%u), got event %d (seq %llu)",
                 d->username, d->device_id, count, (int)e->body_case,
                 e->body_case == VENTRA__V1__EVENT__BODY_MESSAGE
                     ? (unsigned long long)e->message->seq
                     : 0ULL);
    assert_int_equal(e->queue_drained->count, count);
    vtc_event_free(e);
}

/* Asserts that no MessageEvent arrives within |ms|. */
static void expect_quiet(vtc_device *d, int ms)
{
    Ventra__V1__Event *e = next_message(d, ms);

    if (e != NULL)
        fail_msg("%s/%u: unexpected MessageEvent (seq %llu)", d->username, d->device_id,
                 (unsigned long long)e->message->seq);
}

/* Asserts that the next MessageEvent of |d| (within 5 s) is the stored
 * message as vtc_check_message says (no group); returns its seq. */
static uint64_t expect_delivered(vtc_device *d, const vtc_device *from,
                                 const char *recipient, const uint8_t *mid,
                                 const char *content, uint64_t time_ms)
{
    Ventra__V1__Event *e = vtc_expect_message(d, 5000);
    uint64_t seq = e->message->seq;

    vtc_check_message(e->message, from, recipient, mid, NULL, content, time_ms);
    vtc_event_free(e);
    return seq;
}

/* A fresh message from |from| to |to| is the next |to| gets; acked. */
static void expect_relayed(vtc_device *from, vtc_device *to, const char *text)
{
    uint8_t mid[16];

    vtc_random16(mid);
    send_one(from, to, text, mid);
    vtc_expect_next_is(to, mid, true);
}

/* Reads |want| MessageEvents of |d| within |ms| into a malloc'd array
 * (owned by the caller), dropping every other event. */
static Ventra__V1__Event **read_messages(vtc_device *d, size_t want, int ms)
{
    int64_t deadline = vtc_now_ms() + ms;
    Ventra__V1__Event **ev = calloc(want ? want : 1, sizeof *ev);

    assert_non_null(ev);
    for (size_t i = 0; i < want; i++) {
        ev[i] = next_message(d, vtc_left_ms(deadline));
        if (ev[i] == NULL)
            fail_msg("%s/%u: %zu of %zu MessageEvents within %d ms", d->username,
                     d->device_id, i, want, ms);
    }
    return ev;
}

/* Consumes the QueueDrainedEvent(0) of a fresh connection (DELIV-45). */
static void settle(vtc_device *d)
{
    expect_drained(d, 0, 5000);
}

/* The push_window |c|'s server advertises (WIRE-62). */
static uint32_t push_window(vtc_client *c)
{
    Ventra__V1__Response *r = vtc_rpc_server_info(c);
    uint32_t w;

    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_GET_SERVER_INFO);
    assert_non_null(r->get_server_info->limits);
    w = r->get_server_info->limits->push_window;
    vtc_response_free(r);
    return w;
}

/* Asserts that |st| names |user| with exactly |missing| and |extra|. */
static void check_stale(const Ventra__V1__StaleDevices *st, const char *user,
                        const uint32_t *missing, size_t nm, const uint32_t *extra,
                        size_t nx)
{
    assert_string_equal(st->username, user);
    assert_int_equal(st->n_missing, nm);
    for (size_t i = 0; i < nm; i++)
        assert_int_equal(st->missing[i], missing[i]);
    assert_int_equal(st->n_extra, nx);
    for (size_t i = 0; i < nx; i++)
        assert_int_equal(st->extra[i], extra[i]);
}

/* Asserts that |r| is STALE_DEVICES with one entry, as check_stale says;
 * frees |r|. */
static void expect_stale(Ventra__V1__Response *r, const char *user,
                         const uint32_t *missing, size_t nm, const uint32_t *extra,
                         size_t nx)
{
    assert_int_equal(vtc_error_code(r), VT_ERR_STALE_DEVICES);
    assert_int_equal(r->error->n_stale, 1);
    check_stale(r->error->stale[0], user, missing, nm, extra, nx);
    vtc_response_free(r);
}

/* ---- Send, push and Ack -------------------------------------------------- */

/* DELIV-1, DELIV-44: a send to an online device is pushed at once with
 * every field as the send says. DELIV-40: seqs increase. */
static void test_send_online_fields(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    uint8_t mid[16], mid2[16];
    uint64_t t, t2, before, seq;

    vtc_random16(mid);
    before = vtc_wall_ms();
    t = send_one(alice, bob, "hello", mid);
    /* The server's clock at acceptance: same machine, so close to ours. */
    assert_in_range(t, before - 10000, vtc_wall_ms() + 10000);

    seq = expect_delivered(bob, alice, bob->username, mid, "hello|r1", t);

    vtc_random16(mid2);
    t2 = send_one(alice, bob, "again", mid2);
    assert_true(expect_delivered(bob, alice, bob->username, mid2, "again|r1", t2) > seq);

    /* The sender's own single device gets no copy. */
    expect_quiet(alice, 300);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-50, DELIV-51: an Ack deletes the listed messages of the caller's
 * queue; a repeated Ack or unknown seq deletes nothing; a seq listed twice
 * counts once; a deleted message is never pushed again. */
static void test_ack_deletes_and_is_idempotent(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    uint8_t mid[3][16];
    uint64_t s[3];

    for (int i = 0; i < 3; i++) {
        vtc_random16(mid[i]);
        send_one(alice, bob, "m", mid[i]);
    }
    for (int i = 0; i < 3; i++) {
        s[i] = vtc_expect_next_is(bob, mid[i], false);
        if (i > 0)
            assert_true(s[i] > s[i - 1]);
    }

    assert_int_equal(vtc_ack(bob, &s[0], 1), 1);
    assert_int_equal(vtc_ack(bob, &s[0], 1), 0);
    {
        const uint64_t batch[] = {s[1], s[1], s[2], s[2] + 100000};

        assert_int_equal(vtc_ack(bob, batch, 4), 2);
        assert_int_equal(vtc_ack(bob, batch, 4), 0);
    }

    /* Nothing is pushed again on the next connection. */
    assert_int_equal(vtc_login(bob, srv->port), 0);
    expect_quiet(bob, 500);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-42: a message pushed and not acknowledged is pushed again on the
 * device's next connection, and only once per connection. */
static void test_unacked_pushed_again(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    uint8_t m1[16], m2[16], m3[16];
    uint64_t s1, s2;

    vtc_random16(m1);
    vtc_random16(m2);
    send_one(alice, bob, "one", m1);
    send_one(alice, bob, "two", m2);
    s1 = vtc_expect_next_is(bob, m1, true);
    s2 = vtc_expect_next_is(bob, m2, false);
    assert_true(s2 > s1);

    assert_int_equal(vtc_login(bob, srv->port), 0);
    assert_int_equal(expect_delivered(bob, alice, bob->username, m2, "two|r1", 0), s2);

    /* Not pushed a second time on this connection: the next is m3. */
    vtc_random16(m3);
    send_one(alice, bob, "three", m3);
    assert_true(vtc_expect_next_is(bob, m3, true) > s2);
    assert_int_equal(vtc_ack(bob, &s2, 1), 1);

    assert_int_equal(vtc_login(bob, srv->port), 0);
    expect_quiet(bob, 500);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-41, DELIV-45: messages queued while the device was offline arrive
 * in the order of acceptance, each once, then one QueueDrainedEvent with
 * their count. */
static void test_offline_queue_in_order(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    uint8_t mid[20][16], last[16];
    char text[20][16];
    Ventra__V1__Event **ev;
    size_t n;
    uint64_t top;

    vtc_disconnect(bob);
    for (int i = 0; i < 20; i++) {
        vtc_random16(mid[i]);
        snprintf(text[i], sizeof text[i], "msg %d", i);
        send_one(alice, bob, text[i], mid[i]);
    }

    assert_int_equal(vtc_login(bob, srv->port), 0);
    n = 20;
    ev = read_messages(bob, n, 10000);
    for (size_t i = 0; i < n; i++) {
        char want[32];

        snprintf(want, sizeof want, "%s|r1", text[i]);
        vtc_check_message(ev[i]->message, alice, bob->username, mid[i], NULL, want, 0);
        if (i > 0)
            assert_true(ev[i]->message->seq > ev[i - 1]->message->seq);
    }
    top = ev[n - 1]->message->seq;
    vtc_free_events(ev, n);
    /* DELIV-45: then exactly one QueueDrainedEvent, count 20 (had it come
     * before the messages, read_messages would have dropped it). */
    expect_drained(bob, 20, 5000);

    /* Exactly once: what comes next is a new message, not a repeat. */
    vtc_random16(last);
    send_one(alice, bob, "last", last);
    assert_true(vtc_expect_next_is(bob, last, false) > top);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-45: with an empty queue the QueueDrainedEvent (count 0) comes
 * before any MessageEvent. */
static void test_empty_queue_drained_first(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");

    assert_int_equal(vtc_login(bob, srv->port), 0);
    settle(bob);
    expect_relayed(alice, bob, "after");

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* ---- Fan-out (Sesame) ------------------------------------------------------ */

/* Section 3.2: a send carries one envelope per active device of the
 * recipient and of the sender's other devices; each gets its own. */
static void test_fanout_to_every_device(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice1 = vtc_new_account(srv, "alice");
    vtc_device *alice2 = vtc_link(alice1);
    vtc_device *bob1 = vtc_new_account(srv, "bob");
    vtc_device *bob2 = vtc_link(bob1);
    const uint32_t r12[] = {1, 2};
    /* Sends from |from| to both devices of |to|'s account and to the
     * sender's other device |self|; each of |got| gets its own envelope,
     * and the copy to the sender's own device names the recipient. */
    const struct {
        vtc_device *from, *to;
        uint32_t self;
        const char *text;
        vtc_device *got[3];
        const char *content[3];
    } sends[] = {
        {alice1, bob1, 2, "fan", {bob1, bob2, alice2}, {"fan|r1", "fan|r2", "fan|s2"}},
        /* The sending device itself got nothing: its next message is bob's. */
        {bob2,
         alice1,
         1,
         "back",
         {alice1, alice2, bob1},
         {"back|r1", "back|r2", "back|s1"}},
        /* From device 2: to_self names device 1. */
        {alice2, bob1, 1, "two", {alice1, bob1, bob2}, {"two|s1", "two|r1", "two|r2"}},
    };

    for (size_t i = 0; i < sizeof sends / sizeof sends[0]; i++) {
        uint8_t mid[16];
        uint64_t t;

        vtc_random16(mid);
        t = vtc_expect_sent(vtc_send_lists(sends[i].from, sends[i].to->username, r12, 2,
                                           &sends[i].self, 1, sends[i].text, mid, NULL),
                            false);
        for (size_t k = 0; k < 3; k++)
            expect_delivered(sends[i].got[k], sends[i].from, sends[i].to->username, mid,
                             sends[i].content[k], t);
    }

    vtc_device_free(bob2);
    vtc_device_free(bob1);
    vtc_device_free(alice2);
    vtc_device_free(alice1);
}

/* DELIV-30: a wrong device list is STALE_DEVICES with one entry per wrong
 * account (the recipient's first), missing and extra in increasing order,
 * and nothing stored or recorded (DELIV-23). */
static void test_stale_devices(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice1 = vtc_new_account(srv, "alice");
    vtc_device *alice2 = vtc_link(alice1);
    vtc_device *bob1 = vtc_new_account(srv, "bob");
    vtc_device *bob2 = vtc_link(bob1);
    const uint32_t r1[] = {1}, r12[] = {1, 2}, r129[] = {1, 2, 9}, r927[] = {9, 2, 7};
    const uint32_t s2[] = {2}, s3[] = {3}, two[] = {2}, nine[] = {9}, one[] = {1};
    const uint32_t seven_nine[] = {7, 9}, three[] = {3};
    const char *texts[] = {"x", "y"};
    uint8_t mid[2][16];
    Ventra__V1__Response *r;

    vtc_random16(mid[0]);
    vtc_random16(mid[1]);

    /* bob/2 missing. */
    expect_stale(vtc_send_lists(alice1, bob1->username, r1, 1, s2, 1, "x", mid[0], NULL),
                 bob1->username, two, 1, NULL, 0);
    /* An extra device 9 of bob. */
    expect_stale(
        vtc_send_lists(alice1, bob1->username, r129, 3, s2, 1, "x", mid[0], NULL),
        bob1->username, NULL, 0, nine, 1);
    /* The sender's own device 2 missing. */
    expect_stale(
        vtc_send_lists(alice1, bob1->username, r12, 2, NULL, 0, "x", mid[0], NULL),
        alice1->username, two, 1, NULL, 0);

    /* Both wrong: the recipient's entry first, ids sorted. */
    r = vtc_send_lists(alice1, bob1->username, r927, 3, s3, 1, "x", mid[0], NULL);
    assert_int_equal(vtc_error_code(r), VT_ERR_STALE_DEVICES);
    assert_int_equal(r->error->n_stale, 2);
    check_stale(r->error->stale[0], bob1->username, one, 1, seven_nine, 2);
    check_stale(r->error->stale[1], alice1->username, two, 1, three, 1);
    assert_int_equal(r->error->retry_after_ms, 0);
    vtc_response_free(r);

    /* Nothing was recorded: the corrected retry is not a duplicate, and
     * nothing was stored: it is the first message everyone gets, and a
     * fresh one the next. */
    for (int i = 0; i < 2; i++) {
        vtc_expect_sent(
            vtc_send_lists(alice1, bob1->username, r12, 2, s2, 1, texts[i], mid[i], NULL),
            false);
        vtc_expect_next_is(bob1, mid[i], true);
        vtc_expect_next_is(bob2, mid[i], true);
        vtc_expect_next_is(alice2, mid[i], true);
    }

    vtc_device_free(bob2);
    vtc_device_free(bob1);
    vtc_device_free(alice2);
    vtc_device_free(alice1);
}

/* ---- Idempotency ------------------------------------------------------------ */

/* DELIV-21, DELIV-22: a repeated message id is answered duplicate with the
 * first time and delivered once; with another recipient or ephemeral flag
 * it is CONFLICT; records are per sender account. */
static void test_duplicate_message_id(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    vtc_device *carol = vtc_new_account(srv, "carol");
    const uint32_t one[] = {1}, stale[] = {1, 5};
    const vtc_send_opts eph = {.ephemeral = true};
    /* The same send again; then contents and lists are not compared
     * (DELIV-22), not even a stale list: the duplicate check (8) comes
     * before the list check (12). */
    const struct {
        const uint32_t *r;
        size_t nr;
        const char *text;
    } again[] = {{one, 1, "first"}, {one, 1, "other"}, {stale, 2, "other"}};
    uint8_t x[16];
    uint64_t t1, seq;

    vtc_random16(x);
    t1 = send_one(alice, bob, "first", x);
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++)
        assert_int_equal(
            vtc_expect_sent(vtc_send_lists(alice, bob->username, again[i].r, again[i].nr,
                                           NULL, 0, again[i].text, x, NULL),
                            true),
            t1);

    /* Another recipient, or the ephemeral flag: CONFLICT. */
    vtc_expect_error(
        vtc_send_lists(alice, carol->username, one, 1, NULL, 0, "first", x, NULL),
        VT_ERR_CONFLICT);
    vtc_expect_error(
        vtc_send_lists(alice, bob->username, one, 1, NULL, 0, "first", x, &eph),
        VT_ERR_CONFLICT);

    /* Another sender account has its own records. */
    assert_true(vtc_expect_sent(vtc_send_lists(carol, bob->username, one, 1, NULL, 0,
                                               "carol", x, NULL),
                                false) > 0);

    /* bob got alice's message once, then carol's. */
    seq = expect_delivered(bob, alice, bob->username, x, "first|r1", t1);
    assert_int_equal(vtc_ack(bob, &seq, 1), 1);
    expect_delivered(bob, carol, bob->username, x, "carol|r1", 0);
    expect_relayed(alice, bob, "y");
    /* carol got nothing from the refused sends. */
    expect_relayed(alice, carol, "z");

    vtc_device_free(carol);
    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-10: the checks of section 3.1 in order, each refusal storing and
 * recording nothing (DELIV-23). */
static void test_send_check_order(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    const uint32_t one[] = {1}, zero[] = {0}, twice[] = {1, 1}, two[] = {2};
    uint8_t mid[32], x[16], z[16];
    const vtc_send_opts mid15 = {.message_id_len = 15}, mid0 = {.empty_message_id = true};
    const vtc_send_opts gid15 = {.group_id = mid, .group_id_len = 15};
    const vtc_send_opts unspec = {.unspecified_type = true}, badtype = {.bad_type = 7};
    const vtc_send_opts empty = {.empty_content = true};
    char ghost[33];
    /* Sends of "a" with |mid| from alice, each INVALID_ARGUMENT. */
    const struct {
        const char *recipient;
        const uint32_t *r;
        size_t nr;
        const uint32_t *s;
        size_t ns;
        const vtc_send_opts *o;
    } invalid[] = {
        /* 1: message_id length, before the unknown recipient (9). */
        {ghost, one, 1, NULL, 0, &mid15},
        {bob->username, one, 1, NULL, 0, &mid0},
        /* 2: a malformed recipient. */
        {"Bob", one, 1, NULL, 0, NULL},
        {"", one, 1, NULL, 0, NULL},
        /* 3: a group id of 15 bytes, before the unknown recipient. */
        {ghost, one, 1, NULL, 0, &gid15},
        /* 4: device id 0, type UNSPECIFIED or unknown, empty content; all
         * before the unknown recipient. */
        {ghost, zero, 1, NULL, 0, NULL},
        {ghost, one, 1, NULL, 0, &unspec},
        {bob->username, one, 1, NULL, 0, &unspec},
        {bob->username, one, 1, NULL, 0, &badtype},
        {ghost, one, 1, NULL, 0, &empty},
        {bob->username, one, 1, NULL, 0, &empty},
        /* 5: a device id twice. */
        {bob->username, twice, 2, NULL, 0, NULL},
        /* 6: an envelope for the calling device, before the unknown
         * recipient. */
        {ghost, one, 1, one, 1, NULL},
        {alice->username, one, 1, NULL, 0, NULL},
        /* 7: to_self with the caller's own account as recipient (before
         * the device-list check 12, though alice has no device 2). */
        {alice->username, NULL, 0, two, 1, NULL},
    };

    vtc_username(ghost, "ghost");
    assert_int_equal(vt_random_bytes(mid, sizeof mid), VT_OK);
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        Ventra__V1__Response *r =
            vtc_send_lists(alice, invalid[i].recipient, invalid[i].r, invalid[i].nr,
                           invalid[i].s, invalid[i].ns, "a", mid, invalid[i].o);

        if (vtc_error_code(r) != VT_ERR_INVALID_ARGUMENT)
            fail_msg("invalid send %zu: code %d", i, vtc_error_code(r));
        vtc_expect_error(r, VT_ERR_INVALID_ARGUMENT);
    }
    /* 9: the unknown recipient itself. */
    vtc_random16(z);
    vtc_expect_error(vtc_send_lists(alice, ghost, one, 1, NULL, 0, "a", z, NULL),
                     VT_ERR_NOT_FOUND);
    /* 8 before 9: an accepted id to an unknown recipient is CONFLICT. */
    vtc_random16(x);
    send_one(alice, bob, "x", x);
    vtc_expect_error(vtc_send_lists(alice, ghost, one, 1, NULL, 0, "x", x, NULL),
                     VT_ERR_CONFLICT);

    /* Nothing of the refused sends reached bob; the id refused with
     * NOT_FOUND was not recorded. */
    vtc_expect_next_is(bob, x, true);
    send_one(alice, bob, "z", z);
    vtc_expect_next_is(bob, z, true);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* spec/wire.md section 4.2: message ids and group ids are fixed-length
 * forms, not bounds: one byte too many is INVALID_ARGUMENT (checks 1 and 3
 * of delivery.md 3.1), not TOO_LARGE. */
static void test_send_overlong_ids(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    const uint32_t one[] = {1};
    uint8_t mid[32];
    const vtc_send_opts mid17 = {.message_id_len = 17};
    const vtc_send_opts gid17 = {.group_id = mid, .group_id_len = 17};

    assert_int_equal(vt_random_bytes(mid, sizeof mid), VT_OK);
    vtc_expect_error(
        vtc_send_lists(alice, bob->username, one, 1, NULL, 0, "a", mid, &mid17),
        VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(
        vtc_send_lists(alice, bob->username, one, 1, NULL, 0, "a", mid, &gid17),
        VT_ERR_INVALID_ARGUMENT);

    expect_relayed(alice, bob, "x");

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* ---- Ephemeral sends -------------------------------------------------------------- */

/* DELIV-80, DELIV-23: an ephemeral send is pushed with seq 0 to connected
 * devices only, never stored, never recorded. */
static void test_ephemeral(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob1 = vtc_new_account(srv, "bob");
    vtc_device *bob2 = vtc_link(bob1);
    const uint32_t r12[] = {1, 2}, r1[] = {1};
    const vtc_send_opts eph = {.ephemeral = true};
    uint8_t e_mid[16];
    uint64_t t;
    Ventra__V1__Event *e;

    vtc_disconnect(bob2);
    vtc_random16(e_mid);

    for (int round = 0; round < 2; round++) {
        /* Repeated with the same id: delivered again, never a duplicate. */
        t = vtc_expect_sent(
            vtc_send_lists(alice, bob1->username, r12, 2, NULL, 0, "typing", e_mid, &eph),
            false);
        e = vtc_expect_message(bob1, 5000);
        assert_int_equal(e->message->seq, 0);
        assert_true(e->message->ephemeral);
        assert_string_equal(e->message->sender, alice->username);
        assert_int_equal(e->message->sender_device, 1);
        assert_int_equal(e->message->message_id.len, 16);
        assert_memory_equal(e->message->message_id.data, e_mid, 16);
        assert_int_equal(e->message->type,
                         VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE);
        assert_int_equal(e->message->content.len, strlen("typing|r1"));
        assert_memory_equal(e->message->content.data, "typing|r1", strlen("typing|r1"));
        assert_int_equal(e->message->server_time_ms, t);
        assert_string_equal(e->message->recipient, bob1->username);
        vtc_event_free(e);
    }

    /* The device lists are checked as for any send. */
    vtc_expect_error(
        vtc_send_lists(alice, bob1->username, r1, 1, NULL, 0, "typing", e_mid, &eph),
        VT_ERR_STALE_DEVICES);

    /* Never recorded: the same id as a stored send is new, not CONFLICT. */
    vtc_expect_sent(
        vtc_send_lists(alice, bob1->username, r12, 2, NULL, 0, "stored", e_mid, NULL),
        false);
    expect_delivered(bob1, alice, bob1->username, e_mid, "stored|r1", 0);
    /* Now recorded as stored: the ephemeral flag differs. */
    vtc_expect_error(
        vtc_send_lists(alice, bob1->username, r12, 2, NULL, 0, "typing", e_mid, &eph),
        VT_ERR_CONFLICT);

    /* bob/2 was offline for the ephemeral sends: only the stored one. */
    assert_int_equal(vtc_login(bob2, srv->port), 0);
    expect_delivered(bob2, alice, bob1->username, e_mid, "stored|r2", 0);
    expect_quiet(bob2, 300);

    vtc_device_free(bob2);
    vtc_device_free(bob1);
    vtc_device_free(alice);
}

/* ---- Ack checks ------------------------------------------------------------------ */

/* Section 5: an empty list or a seq 0 is INVALID_ARGUMENT and deletes
 * nothing (WIRE-45); more than MAX_ACK_BATCH is TOO_LARGE. */
static void test_ack_invalid(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    uint64_t zero = 0, big[VT_MAX_ACK_BATCH + 1], pair[2], s;
    uint8_t mid[16];

    vtc_random16(mid);
    send_one(alice, bob, "m", mid);
    s = vtc_expect_next_is(bob, mid, false);

    vtc_expect_error(vtc_rpc_ack(bob->c, NULL, 0), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(vtc_rpc_ack(bob->c, &zero, 1), VT_ERR_INVALID_ARGUMENT);
    pair[0] = s;
    pair[1] = 0;
    vtc_expect_error(vtc_rpc_ack(bob->c, pair, 2), VT_ERR_INVALID_ARGUMENT);
    for (size_t i = 0; i < VT_MAX_ACK_BATCH + 1; i++)
        big[i] = s;
    vtc_expect_error(vtc_rpc_ack(bob->c, big, VT_MAX_ACK_BATCH + 1), VT_ERR_TOO_LARGE);
    /* MAX_ACK_BATCH entries are within the bound. */
    assert_int_equal(vtc_ack(bob, big, VT_MAX_ACK_BATCH), 1);
    assert_int_equal(vtc_ack(bob, &s, 1), 0);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* Section 5: an Ack names the caller's own queue only; bob's Ack of the
 * seqs alice got deletes none of alice's messages. */
static void test_ack_only_own_queue(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    uint8_t mid[16];
    uint64_t s, seqs[8];

    vtc_random16(mid);
    send_one(bob, alice, "to alice", mid);
    s = vtc_expect_next_is(alice, mid, false);

    for (size_t i = 0; i < 8; i++)
        seqs[i] = s + i;
    assert_int_equal(vtc_ack(bob, seqs, 8), 0);

    assert_int_equal(vtc_login(alice, srv->port), 0);
    assert_int_equal(expect_delivered(alice, bob, alice->username, mid, "to alice|r1", 0),
                     s);
    assert_int_equal(vtc_ack(alice, &s, 1), 1);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* ---- Flow control --------------------------------------------------------------------
 */

/* Reads the MessageEvents that |d| gets until none arrives for |quiet_ms|;
 * fails on a QueueDrainedEvent. Appends their seqs and ids. */
static size_t read_window(vtc_device *d, uint64_t *seqs, uint8_t (*mids)[16], size_t at,
                          size_t cap, int quiet_ms)
{
    size_t got = 0;
    Ventra__V1__Event *e;

    while ((e = vtc_wait_events(d->c, DELIVERIES, quiet_ms)) != NULL) {
        if (e->body_case != VENTRA__V1__EVENT__BODY_MESSAGE)
            fail_msg("event %d after %zu messages, before the drain set was pushed",
                     (int)e->body_case, at + got);
        assert_true(at + got < cap);
        seqs[at + got] = e->message->seq;
        assert_int_equal(e->message->message_id.len, 16);
        memcpy(mids[at + got], e->message->message_id.data, 16);
        got++;
        vtc_event_free(e);
    }
    return got;
}

/* DELIV-43: at most push_window (at least PUSH_WINDOW) stored messages are
 * pushed and unacknowledged; an Ack makes room and the server pushes more
 * without another request; DELIV-45: the drain event follows the last. */
static void test_push_window(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    uint32_t window = push_window(alice->c);
    size_t total, got;
    uint8_t(*sent)[16], (*recv)[16];
    uint64_t *seqs;
    Ventra__V1__Event **ev;
    size_t n;

    assert_true(window >= VT_PUSH_WINDOW);
    assert_true(window <=
                200); /* keeps one Ack batch and the test short; not a spec bound */
    total = window + 36;
    sent = calloc(total, 16);
    recv = calloc(total, 16);
    seqs = calloc(total, sizeof *seqs);
    assert_non_null(sent);
    assert_non_null(recv);
    assert_non_null(seqs);

    vtc_disconnect(bob);
    for (size_t i = 0; i < total; i++) {
        vtc_random16(sent[i]);
        send_one(alice, bob, "w", sent[i]);
    }

    assert_int_equal(vtc_login(bob, srv->port), 0);
    got = read_window(bob, seqs, recv, 0, total, 1500);
    assert_int_equal(got, window);

    /* Ack the first 10: exactly 10 more come, unasked. */
    assert_int_equal(vtc_ack(bob, seqs, 10), 10);
    got += read_window(bob, seqs, recv, got, total, 1500);
    assert_int_equal(got, window + 10);

    /* Ack everything pushed so far: the rest come, then the drain event. */
    assert_int_equal(vtc_ack(bob, seqs + 10, got - 10), (int)(got - 10));
    n = total - got;
    ev = read_messages(bob, n, 10000);
    for (size_t i = 0; i < n; i++) {
        seqs[got + i] = ev[i]->message->seq;
        memcpy(recv[got + i], ev[i]->message->message_id.data, 16);
    }
    vtc_free_events(ev, n);

    /* In order, each once. */
    for (size_t i = 0; i < total; i++) {
        assert_memory_equal(recv[i], sent[i], 16);
        if (i > 0)
            assert_true(seqs[i] > seqs[i - 1]);
    }
    /* DELIV-45: one QueueDrainedEvent after the last of the drain set. */
    expect_drained(bob, (uint32_t)total, 5000);
    assert_int_equal(vtc_ack(bob, seqs + window + 10, total - window - 10),
                     (int)(total - window - 10));
    expect_quiet(bob, 300);

    free(sent);
    free(recv);
    free(seqs);
    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-11: a note to self of an account with one device names no
 * destination; it is accepted and stores only its idempotency record. */
static void test_note_to_self_single_device(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    const uint32_t two[] = {2};
    uint8_t mid[16], other[16];
    uint64_t t;

    vtc_random16(mid);
    t = vtc_expect_sent(
        vtc_send_lists(alice, alice->username, NULL, 0, NULL, 0, "note", mid, NULL),
        false);
    assert_int_equal(vtc_expect_sent(vtc_send_lists(alice, alice->username, NULL, 0, NULL,
                                                    0, "note", mid, NULL),
                                     true),
                     t);

    /* A device 2 that does not exist is extra (DELIV-30). */
    vtc_random16(other);
    expect_stale(
        vtc_send_lists(alice, alice->username, two, 1, NULL, 0, "note", other, NULL),
        alice->username, NULL, 0, two, 1);

    expect_quiet(alice, 300);
    assert_int_equal(vtc_login(alice, srv->port), 0);
    expect_quiet(alice, 500);

    vtc_device_free(alice);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VTC_TEST(test_send_online_fields),
        VTC_TEST(test_ack_deletes_and_is_idempotent),
        VTC_TEST(test_unacked_pushed_again),
        VTC_TEST(test_offline_queue_in_order),
        VTC_TEST(test_empty_queue_drained_first),
        VTC_TEST(test_fanout_to_every_device),
        VTC_TEST(test_stale_devices),
        VTC_TEST(test_duplicate_message_id),
        VTC_TEST(test_send_check_order),
        VTC_TEST(test_send_overlong_ids),
        VTC_TEST(test_ephemeral),
        VTC_TEST(test_ack_invalid),
        VTC_TEST(test_ack_only_own_queue),
        VTC_TEST(test_push_window),
        VTC_TEST(test_note_to_self_single_device),
    };

    return VTC_RUN(tests, NULL, NULL);
}
