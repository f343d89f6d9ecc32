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
#include <time.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "vt_constants.h"
#include "vtc.h"

/* ---- Helpers ----------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
    int64_t left = deadline - now_ms();

    return left > 0 ? (int)left : 0;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
    vtc_server *srv = calloc(1, sizeof *srv);

    if (srv == NULL)
        return -1;
    vtc_server_start(srv, NULL);
    *state = srv;
    return 0;
}

static int teardown(void **state)
{
    vtc_server *srv = *state;

    vtc_server_cleanup(srv);
    free(srv);
    return 0;
}

static vtc_device *new_account(const vtc_server *srv, const char *prefix)
{
    char name[33];

    vtc_username(name, prefix);
    return vtc_register(srv->port, name);
}

static void new_mid(uint8_t mid[16])
{
    assert_int_equal(vt_random_bytes(mid, 16), VT_OK);
}

/* Asserts that |r| is an error with |code| and frees it. */
static void expect_error(Ventra__V1__Response *r, int code)
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

static void expect_body(const Ventra__V1__Response *r, int body)
{
    assert_non_null(r);
    if (r->error != NULL)
        fail_msg("expected a body %d, got error %d (%s)", body, (int)r->error->code,
                 r->error->message ? r->error->message : "");
    assert_int_equal(r->body_case, body);
}

/* Asserts a successful SendResponse with |duplicate|; returns its
 * server_time_ms and frees |r|. */
static uint64_t expect_sent(Ventra__V1__Response *r, bool duplicate)
{
    uint64_t t;

    expect_body(r, VENTRA__V1__RESPONSE__BODY_SEND);
    assert_int_equal(!!r->send->duplicate, duplicate);
    t = r->send->server_time_ms;
    assert_true(t > 0);
    vtc_response_free(r);
    return t;
}

/* Options of a Send beyond its lists; zero means the well-formed default. */
typedef struct send_opts {
    size_t message_id_len; /* 0: MESSAGE_ID_LEN */
    bool ephemeral;
    bool unspecified_type; /* the last envelope has ENVELOPE_TYPE_UNSPECIFIED */
    int bad_type;          /* non-zero: the last envelope has this type value */
    bool empty_content;    /* the last envelope's content is empty */
    bool prekey_type;      /* every envelope is ENVELOPE_TYPE_PREKEY */
} send_opts;

/* A SendRequest built in place, with one envelope per listed device whose
 * content is "<text>|r<id>" (to_recipient) or "<text>|s<id>" (to_self), so
 * that each device can tell it got its own envelope (DELIV-1). */
typedef struct send_buf {
    Ventra__V1__Request req;
    Ventra__V1__SendRequest send;
    Ventra__V1__OutgoingEnvelope env[16];
    Ventra__V1__OutgoingEnvelope *rp[8], *sp[8];
    char content[16][96];
    uint8_t mid[32];
} send_buf;

static void send_build(send_buf *b, const char *recipient, const uint32_t *r, size_t nr,
                       const uint32_t *s, size_t ns, const char *text, const uint8_t *mid,
                       const send_opts *o)
{
    static const send_opts none;
    size_t ne = 0;

    if (o == NULL)
        o = &none;
    assert_true(nr <= 8 && ns <= 8);
    memset(b, 0, sizeof *b);
    ventra__v1__request__init(&b->req);
    ventra__v1__send_request__init(&b->send);
    memcpy(b->mid, mid, 16);
    b->send.message_id.data = b->mid;
    b->send.message_id.len = o->message_id_len ? o->message_id_len : 16;
    b->send.recipient = (char *)recipient;
    b->send.ephemeral = o->ephemeral;
    for (size_t i = 0; i < nr + ns; i++) {
        Ventra__V1__OutgoingEnvelope *e = &b->env[ne];
        bool self = i >= nr;
        uint32_t dev = self ? s[i - nr] : r[i];

        ventra__v1__outgoing_envelope__init(e);
        e->device_id = dev;
        e->type = o->prekey_type ? VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY
                                 : VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE;
        snprintf(b->content[ne], sizeof b->content[ne], "%s|%c%u", text, self ? 's' : 'r',
                 dev);
        e->content.data = (uint8_t *)b->content[ne];
        e->content.len = strlen(b->content[ne]);
        if (i + 1 == nr + ns) {
            if (o->unspecified_type)
                e->type = VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_UNSPECIFIED;
            if (o->bad_type)
                e->type = (Ventra__V1__EnvelopeType)o->bad_type;
            if (o->empty_content)
                e->content.len = 0;
        }
        if (self)
            b->sp[b->send.n_to_self++] = e;
        else
            b->rp[b->send.n_to_recipient++] = e;
        ne++;
    }
    b->send.to_recipient = b->rp;
    b->send.to_self = b->sp;
    b->req.body_case = VENTRA__V1__REQUEST__BODY_SEND;
    b->req.send = &b->send;
}

static Ventra__V1__Response *send_msg(vtc_device *from, const char *recipient,
                                      const uint32_t *r, size_t nr, const uint32_t *s,
                                      size_t ns, const char *text, const uint8_t *mid,
                                      const send_opts *o)
{
    send_buf *b = malloc(sizeof *b);
    Ventra__V1__Response *resp;

    assert_non_null(b);
    send_build(b, recipient, r, nr, s, ns, text, mid, o);
    resp = vtc_call(from->c, &b->req);
    free(b);
    return resp;
}

/* A send between two accounts of one device each: envelope for device 1. */
static uint64_t send_one(vtc_device *from, const vtc_device *to, const char *text,
                         const uint8_t *mid)
{
    static const uint32_t one[] = {1};

    return expect_sent(send_msg(from, to->username, one, 1, NULL, 0, text, mid, NULL),
                       false);
}

/* The next MessageEvent, QueueDrainedEvent or SessionEndedEvent of |d|
 * within |ms| (other events dropped); NULL on timeout. */
static Ventra__V1__Event *next_delivery(vtc_device *d, int ms)
{
    int64_t deadline = now_ms() + ms;

    for (;;) {
        Ventra__V1__Event *e = vtc_next_event(d->c, left_ms(deadline));

        if (e == NULL)
            return NULL;
        if (e->body_case == VENTRA__V1__EVENT__BODY_MESSAGE ||
            e->body_case == VENTRA__V1__EVENT__BODY_QUEUE_DRAINED ||
            e->body_case == VENTRA__V1__EVENT__BODY_SESSION_ENDED)
            return e;
        vtc_event_free(e);
    }
}

/* The next MessageEvent of |d| within |ms| (every other event dropped);
 * NULL on timeout. Tests whose point is not the drain event (DELIV-45) read
 * with this, so that they do not depend on it. */
static Ventra__V1__Event *next_message(vtc_device *d, int ms)
{
    int64_t deadline = now_ms() + ms;

    for (;;) {
        Ventra__V1__Event *e = vtc_next_event(d->c, left_ms(deadline));

        if (e == NULL || e->body_case == VENTRA__V1__EVENT__BODY_MESSAGE)
            return e;
        vtc_event_free(e);
    }
}

/* Asserts that a MessageEvent comes to |d| within |ms|; returns the event
 * (free with vtc_event_free). */
static Ventra__V1__Event *expect_message(vtc_device *d, int ms)
{
    Ventra__V1__Event *e = next_message(d, ms);

    if (e == NULL)
        fail_msg("%s/%u: no MessageEvent within %d ms", d->username, d->device_id, ms);
    return e;
}

/* Asserts that the next delivery of |d| is a QueueDrainedEvent of |count|. */
static void expect_drained(vtc_device *d, uint32_t count, int ms)
{
    Ventra__V1__Event *e = next_delivery(d, ms);

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

/* DELIV-1: the fields of a stored message as delivered. |time_ms| 0 skips
 * the time check. */
static void check_message(const Ventra__V1__MessageEvent *m, const vtc_device *from,
                          const char *recipient, const uint8_t *mid, const char *content,
                          uint64_t time_ms)
{
    assert_true(m->seq >= 1);
    assert_string_equal(m->sender, from->username);
    assert_int_equal(m->sender_device, from->device_id);
    assert_int_equal(m->message_id.len, 16);
    assert_memory_equal(m->message_id.data, mid, 16);
    assert_int_equal(m->type, VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE);
    assert_int_equal(m->content.len, strlen(content));
    assert_memory_equal(m->content.data, content, strlen(content));
    if (time_ms != 0)
        assert_int_equal(m->server_time_ms, time_ms);
    assert_int_equal(m->group_id.len, 0);
    assert_string_equal(m->recipient, recipient);
    assert_false(m->ephemeral);
}

/* Expects the next delivery of |d| to be the message |mid|; acks it unless
 * |ack| is false; returns its seq. */
static uint64_t expect_next_is(vtc_device *d, const uint8_t *mid, bool ack)
{
    Ventra__V1__Event *e = expect_message(d, 5000);
    uint64_t seq = e->message->seq;

    assert_int_equal(e->message->message_id.len, 16);
    assert_memory_equal(e->message->message_id.data, mid, 16);
    vtc_event_free(e);
    if (ack)
        assert_int_equal(vtc_ack(d, &seq, 1), 1);
    return seq;
}

static Ventra__V1__Response *ack_raw(vtc_device *d, const uint64_t *seqs, size_t n)
{
    Ventra__V1__AckRequest a = VENTRA__V1__ACK_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;

    a.n_seqs = n;
    a.seqs = (uint64_t *)seqs;
    req.body_case = VENTRA__V1__REQUEST__BODY_ACK;
    req.ack = &a;
    return vtc_call(d->c, &req);
}

/* Reads |want| MessageEvents of |d| within |ms| into a malloc'd array
 * (owned by the caller), dropping every other event. */
static Ventra__V1__Event **read_messages(vtc_device *d, size_t want, int ms)
{
    int64_t deadline = now_ms() + ms;
    Ventra__V1__Event **ev = calloc(want ? want : 1, sizeof *ev);

    assert_non_null(ev);
    for (size_t i = 0; i < want; i++) {
        ev[i] = next_message(d, left_ms(deadline));
        if (ev[i] == NULL)
            fail_msg("%s/%u: %zu of %zu MessageEvents within %d ms", d->username,
                     d->device_id, i, want, ms);
    }
    return ev;
}

static void free_events(Ventra__V1__Event **ev, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vtc_event_free(ev[i]);
    free(ev);
}

/* Consumes the QueueDrainedEvent(0) of a fresh connection (DELIV-45). */
static void settle(vtc_device *d)
{
    expect_drained(d, 0, 5000);
}

/* The push_window |c|'s server advertises (WIRE-62). */
static uint32_t push_window(vtc_client *c)
{
    Ventra__V1__GetServerInfoRequest gi = VENTRA__V1__GET_SERVER_INFO_REQUEST__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__Response *r;
    uint32_t w;

    req.body_case = VENTRA__V1__REQUEST__BODY_GET_SERVER_INFO;
    req.get_server_info = &gi;
    r = vtc_call(c, &req);
    expect_body(r, VENTRA__V1__RESPONSE__BODY_GET_SERVER_INFO);
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

/* ---- Send, push and Ack -------------------------------------------------- */

/* DELIV-1, DELIV-44: a send to an online device is pushed at once with
 * every field as the send says. DELIV-40: seqs increase. */
static void test_send_online_fields(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    uint8_t mid[16], mid2[16];
    uint64_t t, t2, before, seq;
    Ventra__V1__Event *e;

    new_mid(mid);
    before = wall_ms();
    t = send_one(alice, bob, "hello", mid);
    /* The server's clock at acceptance: same machine, so close to ours. */
    assert_in_range(t, before - 10000, wall_ms() + 10000);

    e = expect_message(bob, 5000);
    check_message(e->message, alice, bob->username, mid, "hello|r1", t);
    seq = e->message->seq;
    vtc_event_free(e);

    new_mid(mid2);
    t2 = send_one(alice, bob, "again", mid2);
    e = expect_message(bob, 5000);
    check_message(e->message, alice, bob->username, mid2, "again|r1", t2);
    assert_true(e->message->seq > seq);
    vtc_event_free(e);

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
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    uint8_t mid[3][16];
    uint64_t s[3];

    for (int i = 0; i < 3; i++) {
        new_mid(mid[i]);
        send_one(alice, bob, "m", mid[i]);
    }
    for (int i = 0; i < 3; i++) {
        s[i] = expect_next_is(bob, mid[i], false);
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
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    uint8_t m1[16], m2[16], m3[16];
    uint64_t s1, s2;
    Ventra__V1__Event **ev;
    size_t n;

    new_mid(m1);
    new_mid(m2);
    send_one(alice, bob, "one", m1);
    send_one(alice, bob, "two", m2);
    s1 = expect_next_is(bob, m1, true);
    s2 = expect_next_is(bob, m2, false);
    assert_true(s2 > s1);

    assert_int_equal(vtc_login(bob, srv->port), 0);
    n = 1;
    ev = read_messages(bob, n, 5000);
    check_message(ev[0]->message, alice, bob->username, m2, "two|r1", 0);
    assert_int_equal(ev[0]->message->seq, s2);
    free_events(ev, n);

    /* Not pushed a second time on this connection: the next is m3. */
    new_mid(m3);
    send_one(alice, bob, "three", m3);
    assert_true(expect_next_is(bob, m3, true) > s2);
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
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    uint8_t mid[20][16], last[16];
    char text[20][16];
    Ventra__V1__Event **ev;
    size_t n;
    uint64_t top;

    vtc_disconnect(bob);
    for (int i = 0; i < 20; i++) {
        new_mid(mid[i]);
        snprintf(text[i], sizeof text[i], "msg %d", i);
        send_one(alice, bob, text[i], mid[i]);
    }

    assert_int_equal(vtc_login(bob, srv->port), 0);
    n = 20;
    ev = read_messages(bob, n, 10000);
    for (size_t i = 0; i < n; i++) {
        char want[32];

        snprintf(want, sizeof want, "%s|r1", text[i]);
        check_message(ev[i]->message, alice, bob->username, mid[i], want, 0);
        if (i > 0)
            assert_true(ev[i]->message->seq > ev[i - 1]->message->seq);
    }
    top = ev[n - 1]->message->seq;
    free_events(ev, n);
    /* DELIV-45: then exactly one QueueDrainedEvent, count 20 (had it come
     * before the messages, read_messages would have dropped it). */
    expect_drained(bob, 20, 5000);

    /* Exactly once: what comes next is a new message, not a repeat. */
    new_mid(last);
    send_one(alice, bob, "last", last);
    assert_true(expect_next_is(bob, last, false) > top);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-45: with an empty queue the QueueDrainedEvent (count 0) comes
 * before any MessageEvent. */
static void test_empty_queue_drained_first(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    uint8_t mid[16];

    assert_int_equal(vtc_login(bob, srv->port), 0);
    settle(bob);
    new_mid(mid);
    send_one(alice, bob, "after", mid);
    expect_next_is(bob, mid, true);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* ---- Fan-out (Sesame) ------------------------------------------------------ */

/* Section 3.2: a send carries one envelope per active device of the
 * recipient and of the sender's other devices; each gets its own. */
static void test_fanout_to_every_device(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice1 = new_account(srv, "alice");
    vtc_device *alice2 = vtc_link(alice1);
    vtc_device *bob1 = new_account(srv, "bob");
    vtc_device *bob2 = vtc_link(bob1);
    const uint32_t r12[] = {1, 2}, s2[] = {2}, s1[] = {1};
    uint8_t mid[16], back[16], from2[16];
    uint64_t t;
    Ventra__V1__Event *e;

    new_mid(mid);
    t = expect_sent(send_msg(alice1, bob1->username, r12, 2, s2, 1, "fan", mid, NULL),
                    false);
    e = expect_message(bob1, 5000);
    check_message(e->message, alice1, bob1->username, mid, "fan|r1", t);
    vtc_event_free(e);
    e = expect_message(bob2, 5000);
    check_message(e->message, alice1, bob1->username, mid, "fan|r2", t);
    vtc_event_free(e);
    /* The copy to the sender's own device names the recipient. */
    e = expect_message(alice2, 5000);
    check_message(e->message, alice1, bob1->username, mid, "fan|s2", t);
    vtc_event_free(e);

    /* The sending device itself got nothing: its next message is bob's. */
    new_mid(back);
    t = expect_sent(send_msg(bob2, alice1->username, r12, 2, s1, 1, "back", back, NULL),
                    false);
    e = expect_message(alice1, 5000);
    check_message(e->message, bob2, alice1->username, back, "back|r1", t);
    vtc_event_free(e);
    e = expect_message(alice2, 5000);
    check_message(e->message, bob2, alice1->username, back, "back|r2", t);
    vtc_event_free(e);
    e = expect_message(bob1, 5000);
    check_message(e->message, bob2, alice1->username, back, "back|s1", t);
    vtc_event_free(e);

    /* From device 2: to_self names device 1. */
    new_mid(from2);
    t = expect_sent(send_msg(alice2, bob1->username, r12, 2, s1, 1, "two", from2, NULL),
                    false);
    e = expect_message(alice1, 5000);
    check_message(e->message, alice2, bob1->username, from2, "two|s1", t);
    vtc_event_free(e);
    expect_next_is(bob1, from2, false);
    expect_next_is(bob2, from2, false);

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
    vtc_device *alice1 = new_account(srv, "alice");
    vtc_device *alice2 = vtc_link(alice1);
    vtc_device *bob1 = new_account(srv, "bob");
    vtc_device *bob2 = vtc_link(bob1);
    const uint32_t r1[] = {1}, r12[] = {1, 2}, r129[] = {1, 2, 9}, r927[] = {9, 2, 7};
    const uint32_t s2[] = {2}, s3[] = {3}, two[] = {2}, nine[] = {9}, one[] = {1};
    const uint32_t seven_nine[] = {7, 9}, three[] = {3};
    uint8_t mid[16], next[16];
    Ventra__V1__Response *r;

    new_mid(mid);

    /* bob/2 missing. */
    r = send_msg(alice1, bob1->username, r1, 1, s2, 1, "x", mid, NULL);
    assert_int_equal(vtc_error_code(r), VT_ERR_STALE_DEVICES);
    assert_int_equal(r->error->n_stale, 1);
    check_stale(r->error->stale[0], bob1->username, two, 1, NULL, 0);
    vtc_response_free(r);

    /* An extra device 9 of bob. */
    r = send_msg(alice1, bob1->username, r129, 3, s2, 1, "x", mid, NULL);
    assert_int_equal(vtc_error_code(r), VT_ERR_STALE_DEVICES);
    assert_int_equal(r->error->n_stale, 1);
    check_stale(r->error->stale[0], bob1->username, NULL, 0, nine, 1);
    vtc_response_free(r);

    /* The sender's own device 2 missing. */
    r = send_msg(alice1, bob1->username, r12, 2, NULL, 0, "x", mid, NULL);
    assert_int_equal(vtc_error_code(r), VT_ERR_STALE_DEVICES);
    assert_int_equal(r->error->n_stale, 1);
    check_stale(r->error->stale[0], alice1->username, two, 1, NULL, 0);
    vtc_response_free(r);

    /* Both wrong: the recipient's entry first, ids sorted. */
    r = send_msg(alice1, bob1->username, r927, 3, s3, 1, "x", mid, NULL);
    assert_int_equal(vtc_error_code(r), VT_ERR_STALE_DEVICES);
    assert_int_equal(r->error->n_stale, 2);
    check_stale(r->error->stale[0], bob1->username, one, 1, seven_nine, 2);
    check_stale(r->error->stale[1], alice1->username, two, 1, three, 1);
    assert_int_equal(r->error->retry_after_ms, 0);
    vtc_response_free(r);

    /* Nothing was recorded: the corrected retry is not a duplicate, and
     * nothing was stored: it is the first message everyone gets. */
    expect_sent(send_msg(alice1, bob1->username, r12, 2, s2, 1, "x", mid, NULL), false);
    expect_next_is(bob1, mid, true);
    expect_next_is(bob2, mid, true);
    expect_next_is(alice2, mid, true);
    new_mid(next);
    expect_sent(send_msg(alice1, bob1->username, r12, 2, s2, 1, "y", next, NULL), false);
    expect_next_is(bob1, next, true);
    expect_next_is(bob2, next, true);
    expect_next_is(alice2, next, true);

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
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    vtc_device *carol = new_account(srv, "carol");
    const uint32_t one[] = {1}, stale[] = {1, 5};
    const send_opts eph = {.ephemeral = true};
    uint8_t x[16], y[16], z[16];
    uint64_t t1;

    new_mid(x);
    t1 = send_one(alice, bob, "first", x);
    assert_int_equal(
        expect_sent(send_msg(alice, bob->username, one, 1, NULL, 0, "first", x, NULL),
                    true),
        t1);
    /* Contents and lists are not compared (DELIV-22), not even a stale list:
     * the duplicate check (8) comes before the list check (12). */
    assert_int_equal(
        expect_sent(send_msg(alice, bob->username, one, 1, NULL, 0, "other", x, NULL),
                    true),
        t1);
    assert_int_equal(
        expect_sent(send_msg(alice, bob->username, stale, 2, NULL, 0, "other", x, NULL),
                    true),
        t1);

    /* Another recipient, or the ephemeral flag: CONFLICT. */
    expect_error(send_msg(alice, carol->username, one, 1, NULL, 0, "first", x, NULL),
                 VT_ERR_CONFLICT);
    expect_error(send_msg(alice, bob->username, one, 1, NULL, 0, "first", x, &eph),
                 VT_ERR_CONFLICT);

    /* Another sender account has its own records. */
    assert_true(
        expect_sent(send_msg(carol, bob->username, one, 1, NULL, 0, "carol", x, NULL),
                    false) > 0);

    /* bob got alice's message once, then carol's. */
    {
        Ventra__V1__Event *e = expect_message(bob, 5000);

        check_message(e->message, alice, bob->username, x, "first|r1", t1);
        assert_int_equal(vtc_ack(bob, &e->message->seq, 1), 1);
        vtc_event_free(e);
        e = expect_message(bob, 5000);
        check_message(e->message, carol, bob->username, x, "carol|r1", 0);
        vtc_event_free(e);
    }
    new_mid(y);
    send_one(alice, bob, "y", y);
    expect_next_is(bob, y, true);
    /* carol got nothing from the refused sends. */
    new_mid(z);
    send_one(alice, carol, "z", z);
    expect_next_is(carol, z, true);

    vtc_device_free(carol);
    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* DELIV-10: the checks of section 3.1 in order, each refusal storing and
 * recording nothing (DELIV-23). */
static void test_send_check_order(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    const uint32_t one[] = {1}, zero[] = {0}, twice[] = {1, 1}, two[] = {2};
    const send_opts mid15 = {.message_id_len = 15};
    const send_opts unspec = {.unspecified_type = true}, badtype = {.bad_type = 7};
    const send_opts empty = {.empty_content = true};
    uint8_t mid[32], x[16], z[16];
    char ghost[33];
    Ventra__V1__Response *r;

    vtc_username(ghost, "ghost");
    assert_int_equal(vt_random_bytes(mid, sizeof mid), VT_OK);

    /* 1: message_id length, before the unknown recipient (9). */
    expect_error(send_msg(alice, ghost, one, 1, NULL, 0, "a", mid, &mid15),
                 VT_ERR_INVALID_ARGUMENT);
    {
        const send_opts mid0 = {.message_id_len = 0};
        send_buf *b = malloc(sizeof *b);

        assert_non_null(b);
        send_build(b, bob->username, one, 1, NULL, 0, "a", mid, &mid0);
        b->send.message_id.len = 0;
        expect_error(vtc_call(alice->c, &b->req), VT_ERR_INVALID_ARGUMENT);
        free(b);
    }
    /* 2: a malformed recipient. */
    expect_error(send_msg(alice, "Bob", one, 1, NULL, 0, "a", mid, NULL),
                 VT_ERR_INVALID_ARGUMENT);
    expect_error(send_msg(alice, "", one, 1, NULL, 0, "a", mid, NULL),
                 VT_ERR_INVALID_ARGUMENT);
    /* 3: a group id of 15 bytes, before the unknown recipient. */
    {
        send_buf *b = malloc(sizeof *b);

        assert_non_null(b);
        send_build(b, ghost, one, 1, NULL, 0, "a", mid, NULL);
        b->send.group_id.data = mid;
        b->send.group_id.len = 15;
        expect_error(vtc_call(alice->c, &b->req), VT_ERR_INVALID_ARGUMENT);
        free(b);
    }
    /* 4: device id 0, type UNSPECIFIED or unknown, empty content; all
     * before the unknown recipient. */
    expect_error(send_msg(alice, ghost, zero, 1, NULL, 0, "a", mid, NULL),
                 VT_ERR_INVALID_ARGUMENT);
    expect_error(send_msg(alice, ghost, one, 1, NULL, 0, "a", mid, &unspec),
                 VT_ERR_INVALID_ARGUMENT);
    expect_error(send_msg(alice, bob->username, one, 1, NULL, 0, "a", mid, &unspec),
                 VT_ERR_INVALID_ARGUMENT);
    expect_error(send_msg(alice, bob->username, one, 1, NULL, 0, "a", mid, &badtype),
                 VT_ERR_INVALID_ARGUMENT);
    expect_error(send_msg(alice, ghost, one, 1, NULL, 0, "a", mid, &empty),
                 VT_ERR_INVALID_ARGUMENT);
    expect_error(send_msg(alice, bob->username, one, 1, NULL, 0, "a", mid, &empty),
                 VT_ERR_INVALID_ARGUMENT);
    /* 5: a device id twice. */
    expect_error(send_msg(alice, bob->username, twice, 2, NULL, 0, "a", mid, NULL),
                 VT_ERR_INVALID_ARGUMENT);
    /* 6: an envelope for the calling device, before the unknown recipient. */
    expect_error(send_msg(alice, ghost, one, 1, one, 1, "a", mid, NULL),
                 VT_ERR_INVALID_ARGUMENT);
    expect_error(send_msg(alice, alice->username, one, 1, NULL, 0, "a", mid, NULL),
                 VT_ERR_INVALID_ARGUMENT);
    /* 7: to_self with the caller's own account as recipient (before the
     * device-list check 12, though alice has no device 2). */
    expect_error(send_msg(alice, alice->username, NULL, 0, two, 1, "a", mid, NULL),
                 VT_ERR_INVALID_ARGUMENT);
    /* 9: the unknown recipient itself. */
    new_mid(z);
    expect_error(send_msg(alice, ghost, one, 1, NULL, 0, "a", z, NULL), VT_ERR_NOT_FOUND);
    /* 8 before 9: an accepted id to an unknown recipient is CONFLICT. */
    new_mid(x);
    send_one(alice, bob, "x", x);
    expect_error(send_msg(alice, ghost, one, 1, NULL, 0, "x", x, NULL), VT_ERR_CONFLICT);

    /* Nothing of the refused sends reached bob; the id refused with
     * NOT_FOUND was not recorded. */
    expect_next_is(bob, x, true);
    r = send_msg(alice, bob->username, one, 1, NULL, 0, "z", z, NULL);
    expect_sent(r, false);
    expect_next_is(bob, z, true);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* spec/wire.md section 4.2: message ids and group ids are fixed-length
 * forms, not bounds: one byte too many is INVALID_ARGUMENT (checks 1 and 3
 * of delivery.md 3.1), not TOO_LARGE. */
static void test_send_overlong_ids(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    const uint32_t one[] = {1};
    const send_opts mid17 = {.message_id_len = 17};
    uint8_t mid[32], x[16];
    send_buf *b = malloc(sizeof *b);

    assert_non_null(b);
    assert_int_equal(vt_random_bytes(mid, sizeof mid), VT_OK);
    expect_error(send_msg(alice, bob->username, one, 1, NULL, 0, "a", mid, &mid17),
                 VT_ERR_INVALID_ARGUMENT);
    send_build(b, bob->username, one, 1, NULL, 0, "a", mid, NULL);
    b->send.group_id.data = mid;
    b->send.group_id.len = 17;
    expect_error(vtc_call(alice->c, &b->req), VT_ERR_INVALID_ARGUMENT);
    free(b);

    new_mid(x);
    send_one(alice, bob, "x", x);
    expect_next_is(bob, x, true);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* ---- Ephemeral sends -------------------------------------------------------------- */

/* DELIV-80, DELIV-23: an ephemeral send is pushed with seq 0 to connected
 * devices only, never stored, never recorded. */
static void test_ephemeral(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob1 = new_account(srv, "bob");
    vtc_device *bob2 = vtc_link(bob1);
    const uint32_t r12[] = {1, 2}, r1[] = {1};
    const send_opts eph = {.ephemeral = true};
    uint8_t e_mid[16];
    uint64_t t;
    Ventra__V1__Event *e, **ev;
    size_t n;

    vtc_disconnect(bob2);
    new_mid(e_mid);

    for (int round = 0; round < 2; round++) {
        /* Repeated with the same id: delivered again, never a duplicate. */
        t = expect_sent(
            send_msg(alice, bob1->username, r12, 2, NULL, 0, "typing", e_mid, &eph),
            false);
        e = expect_message(bob1, 5000);
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
    expect_error(send_msg(alice, bob1->username, r1, 1, NULL, 0, "typing", e_mid, &eph),
                 VT_ERR_STALE_DEVICES);

    /* Never recorded: the same id as a stored send is new, not CONFLICT. */
    expect_sent(send_msg(alice, bob1->username, r12, 2, NULL, 0, "stored", e_mid, NULL),
                false);
    e = expect_message(bob1, 5000);
    check_message(e->message, alice, bob1->username, e_mid, "stored|r1", 0);
    vtc_event_free(e);
    /* Now recorded as stored: the ephemeral flag differs. */
    expect_error(send_msg(alice, bob1->username, r12, 2, NULL, 0, "typing", e_mid, &eph),
                 VT_ERR_CONFLICT);

    /* bob/2 was offline for the ephemeral sends: only the stored one. */
    assert_int_equal(vtc_login(bob2, srv->port), 0);
    n = 1;
    ev = read_messages(bob2, n, 5000);
    check_message(ev[0]->message, alice, bob1->username, e_mid, "stored|r2", 0);
    free_events(ev, n);
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
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    uint64_t zero = 0, big[VT_MAX_ACK_BATCH + 1], pair[2], s;
    uint8_t mid[16];

    new_mid(mid);
    send_one(alice, bob, "m", mid);
    s = expect_next_is(bob, mid, false);

    expect_error(ack_raw(bob, NULL, 0), VT_ERR_INVALID_ARGUMENT);
    expect_error(ack_raw(bob, &zero, 1), VT_ERR_INVALID_ARGUMENT);
    pair[0] = s;
    pair[1] = 0;
    expect_error(ack_raw(bob, pair, 2), VT_ERR_INVALID_ARGUMENT);
    for (size_t i = 0; i < VT_MAX_ACK_BATCH + 1; i++)
        big[i] = s;
    expect_error(ack_raw(bob, big, VT_MAX_ACK_BATCH + 1), VT_ERR_TOO_LARGE);
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
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
    uint8_t mid[16];
    uint64_t s, seqs[8];
    Ventra__V1__Event **ev;
    size_t n;

    new_mid(mid);
    send_one(bob, alice, "to alice", mid);
    s = expect_next_is(alice, mid, false);

    for (size_t i = 0; i < 8; i++)
        seqs[i] = s + i;
    assert_int_equal(vtc_ack(bob, seqs, 8), 0);

    assert_int_equal(vtc_login(alice, srv->port), 0);
    n = 1;
    ev = read_messages(alice, n, 5000);
    check_message(ev[0]->message, bob, alice->username, mid, "to alice|r1", 0);
    assert_int_equal(ev[0]->message->seq, s);
    free_events(ev, n);
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

    while ((e = next_delivery(d, quiet_ms)) != NULL) {
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
    vtc_device *alice = new_account(srv, "alice");
    vtc_device *bob = new_account(srv, "bob");
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
        new_mid(sent[i]);
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
    free_events(ev, n);

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
    vtc_device *alice = new_account(srv, "alice");
    const uint32_t two[] = {2};
    uint8_t mid[16], other[16];
    uint64_t t;
    Ventra__V1__Response *r;

    new_mid(mid);
    t = expect_sent(send_msg(alice, alice->username, NULL, 0, NULL, 0, "note", mid, NULL),
                    false);
    assert_int_equal(
        expect_sent(send_msg(alice, alice->username, NULL, 0, NULL, 0, "note", mid, NULL),
                    true),
        t);

    /* A device 2 that does not exist is extra (DELIV-30). */
    new_mid(other);
    r = send_msg(alice, alice->username, two, 1, NULL, 0, "note", other, NULL);
    assert_int_equal(vtc_error_code(r), VT_ERR_STALE_DEVICES);
    assert_int_equal(r->error->n_stale, 1);
    check_stale(r->error->stale[0], alice->username, NULL, 0, two, 1);
    vtc_response_free(r);

    expect_quiet(alice, 300);
    assert_int_equal(vtc_login(alice, srv->port), 0);
    expect_quiet(alice, 500);

    vtc_device_free(alice);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_online_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_deletes_and_is_idempotent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unacked_pushed_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline_queue_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_queue_drained_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fanout_to_every_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_message_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_check_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_overlong_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_only_own_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_note_to_self_single_device, setup, teardown),
    };

    if (vt_crypto_init() != VT_OK)
        return 1;
    /* VTC_TEST_FILTER=test_name runs one test (a cmocka pattern). */
    if (getenv("VTC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("VTC_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
