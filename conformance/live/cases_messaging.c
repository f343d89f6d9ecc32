/* Live cases of messaging: Send and Ack, the per-device queues, push, flow
 * control and the drain event, fan-out to every device, idempotency,
 * ephemeral sends and content kept as sent (spec/delivery.md sections 2
 * to 7; spec/wire.md sections 2.2 and 5.14; spec/security.md SEC-20). */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "live.h"
#include "ventra/err.h"
#include "vt_constants.h"

/* ---- Helpers ----------------------------------------------------------- */

/* The events of a delivery: messages, the drain event, and the end of the
 * session that would cut a drain short. */
#define DELIVERIES                                                                       \
    (VTC_EVENT(VENTRA__V1__EVENT__BODY_MESSAGE) |                                        \
     VTC_EVENT(VENTRA__V1__EVENT__BODY_QUEUE_DRAINED) |                                  \
     VTC_EVENT(VENTRA__V1__EVENT__BODY_SESSION_ENDED))

static const uint32_t device1[] = {1};

/* A send between two accounts of one device each: the envelope for device
 * 1. Returns the server time. */
static uint64_t send_one(vtc_device *from, const vtc_device *to, const char *text,
                         const uint8_t *mid)
{
    return vtc_expect_sent(
        vtc_send_lists(from, to->username, device1, 1, NULL, 0, text, mid, NULL), false);
}

/* |n| sends from |from| to |to| with the lists |r| and |s|, contents
 * "m<i>|r<dev>", fresh ids into |mids| and the server times into |times|
 * (unless NULL), with at most |depth| requests in flight (1: each waits
 * for the previous response, so the order of acceptance is the order
 * given, DELIV-41). */
static void send_many(vcl_ctx *ctx, vtc_device *from, const char *to, const uint32_t *r,
                      size_t nr, const uint32_t *s, size_t ns, size_t n,
                      uint8_t (*mids)[16], uint64_t *times, size_t depth)
{
    vtc_send_buf *b = vcl_alloc(ctx, sizeof *b);
    uint32_t ids[VT_MAX_INFLIGHT_REQUESTS] = {0};
    size_t sent = 0, done = 0;

    if (depth > VT_MAX_INFLIGHT_REQUESTS)
        depth = VT_MAX_INFLIGHT_REQUESTS;
    while (done < n) {
        Ventra__V1__Response *resp;
        bool ok, dup = false;
        uint64_t t = 0;
        int code;

        while (sent < n && sent - done < depth) {
            char text[24];

            vtc_random16(mids[sent]);
            snprintf(text, sizeof text, "m%zu", sent);
            vtc_send_build(b, to, r, nr, s, ns, text, mids[sent], NULL);
            ids[sent % depth] = vtc_send_request(from->c, &b->req);
            sent++;
        }
        resp = vtc_wait_response(from->c, ids[done % depth], 10000);
        code = vtc_error_code(resp);
        ok = resp != NULL && resp->body_case == VENTRA__V1__RESPONSE__BODY_SEND;
        if (ok) {
            dup = resp->send->duplicate;
            t = resp->send->server_time_ms;
        }
        vtc_response_free(resp);
        VCL_CHECK(ctx, ok && !dup && t > 0,
                  "send %zu of %zu: got %s%s, want a SendResponse with duplicate false "
                  "and a server time",
                  done + 1, n, vcl_code_name(code), dup ? " (duplicate true)" : "");
        if (times != NULL)
            times[done] = t;
        done++;
    }
}

/* The next MessageEvent of |d| within |ms| (every other event dropped);
 * NULL on timeout. */
static Ventra__V1__Event *next_message(vtc_device *d, int ms)
{
    return vtc_wait_event(d->c, VENTRA__V1__EVENT__BODY_MESSAGE, ms);
}

/* Asserts that the next delivery of |d| is a QueueDrainedEvent of |count|. */
static void expect_drained(vcl_ctx *ctx, vtc_device *d, uint32_t count, int ms)
{
    Ventra__V1__Event *e = vtc_wait_events(d->c, DELIVERIES, ms);
    int kind = e != NULL ? (int)e->body_case : 0;
    unsigned long long seq =
        kind == VENTRA__V1__EVENT__BODY_MESSAGE ? e->message->seq : 0;
    uint32_t got =
        kind == VENTRA__V1__EVENT__BODY_QUEUE_DRAINED ? e->queue_drained->count : 0;

    vtc_event_free(e);
    VCL_CHECK(ctx, kind != 0, "%s/%u: no QueueDrainedEvent(count %u) within %d ms",
              d->username, d->device_id, count, ms);
    VCL_CHECK(ctx, kind == VENTRA__V1__EVENT__BODY_QUEUE_DRAINED,
              "%s/%u: want QueueDrainedEvent(count %u) next, got event %d (message seq "
              "%llu)",
              d->username, d->device_id, count, kind, seq);
    VCL_CHECK(ctx, got == count, "%s/%u: QueueDrainedEvent count %u, want %u",
              d->username, d->device_id, got, count);
}

/* Asserts that no MessageEvent arrives for |d| within |ms|. */
static void expect_quiet(vcl_ctx *ctx, vtc_device *d, int ms, const char *why)
{
    Ventra__V1__Event *e = next_message(d, ms);
    unsigned long long seq = e != NULL ? e->message->seq : 0;

    vtc_event_free(e);
    VCL_CHECK(ctx, e == NULL, "%s/%u got a MessageEvent (seq %llu), want none: %s",
              d->username, d->device_id, seq, why);
}

/* Asserts that the next MessageEvent of |d| (within 5 s) is the stored
 * message as vtc_check_message says (no group); returns its seq. */
static uint64_t expect_delivered(vcl_ctx *ctx, vtc_device *d, const vtc_device *from,
                                 const char *recipient, const uint8_t *mid,
                                 const char *content, uint64_t time_ms)
{
    Ventra__V1__Event *e = vcl_hold_event(ctx, vtc_expect_message(d, 5000));

    vtc_check_message(e->message, from, recipient, mid, NULL, content, time_ms);
    return e->message->seq;
}

/* A fresh message from |from| to |to| is the next |to| gets; acked. */
static void expect_relayed(vtc_device *from, vtc_device *to, const char *text)
{
    uint8_t mid[16];

    vtc_random16(mid);
    send_one(from, to, text, mid);
    vtc_expect_next_is(to, mid, true);
}

/* Reads |want| MessageEvents of |d| within |ms| into an array freed after
 * the case (the events too), dropping every other event. */
static Ventra__V1__Event **read_messages(vcl_ctx *ctx, vtc_device *d, size_t want, int ms)
{
    int64_t deadline = vtc_now_ms() + ms;
    Ventra__V1__Event **ev = vcl_alloc(ctx, want * sizeof *ev);

    for (size_t i = 0; i < want; i++) {
        ev[i] = vcl_hold_event(ctx, next_message(d, vtc_left_ms(deadline)));
        VCL_CHECK(ctx, ev[i] != NULL, "%s/%u: %zu of %zu MessageEvents within %d ms",
                  d->username, d->device_id, i, want, ms);
    }
    return ev;
}

/* The push_window the server advertises (WIRE-62). */
static uint32_t push_window(vcl_ctx *ctx, vtc_client *c)
{
    Ventra__V1__Response *r = vtc_rpc_server_info(c);
    uint32_t w = 0;

    if (r != NULL && r->body_case == VENTRA__V1__RESPONSE__BODY_GET_SERVER_INFO &&
        r->get_server_info->limits != NULL)
        w = r->get_server_info->limits->push_window;
    vtc_response_free(r);
    VCL_CHECK(ctx, w >= VT_PUSH_WINDOW, "advertised push_window %u, want at least %u", w,
              VT_PUSH_WINDOW);
    if (w > 200) /* keeps one Ack batch and the case short; not a spec bound */
        vcl_skip(ctx, "push_window %u is too large for this case", w);
    return w;
}

/* Formats |n| ids in |out| ("1, 2"). */
static const char *id_list(char *out, size_t cap, const uint32_t *v, size_t n)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%u", i ? ", " : "", v[i]);
    return out;
}

/* Asserts that |st| names |user| with exactly |missing| and |extra|. */
static void check_stale(vcl_ctx *ctx, const Ventra__V1__StaleDevices *st,
                        const char *user, const uint32_t *missing, size_t nm,
                        const uint32_t *extra, size_t nx)
{
    char a[64], b[64], c[64], d[64];
    bool same =
        strcmp(st->username, user) == 0 && st->n_missing == nm && st->n_extra == nx;

    for (size_t i = 0; same && i < nm; i++)
        same = st->missing[i] == missing[i];
    for (size_t i = 0; same && i < nx; i++)
        same = st->extra[i] == extra[i];
    VCL_CHECK(ctx, same,
              "StaleDevices{%s, missing [%s], extra [%s]}, want {%s, [%s], [%s]}",
              st->username, id_list(a, sizeof a, st->missing, st->n_missing),
              id_list(b, sizeof b, st->extra, st->n_extra), user,
              id_list(c, sizeof c, missing, nm), id_list(d, sizeof d, extra, nx));
}

/* Asserts that |r| is STALE_DEVICES with |n| entries; |r| is freed after
 * the case. */
static Ventra__V1__Response *expect_stale_n(vcl_ctx *ctx, Ventra__V1__Response *r,
                                            size_t n)
{
    int code = vtc_error_code(vcl_keep(ctx, r));

    VCL_CODE(ctx, code, VT_ERR_STALE_DEVICES);
    VCL_CHECK(ctx, r->error->n_stale == n, "STALE_DEVICES with %zu entries, want %zu",
              r->error->n_stale, n);
    VCL_CHECK(ctx, r->error->retry_after_ms == 0,
              "STALE_DEVICES carries retry_after_ms %u, want 0 (WIRE-43)",
              r->error->retry_after_ms);
    return r;
}

static void expect_stale(vcl_ctx *ctx, Ventra__V1__Response *r, const char *user,
                         const uint32_t *missing, size_t nm, const uint32_t *extra,
                         size_t nx)
{
    r = expect_stale_n(ctx, r, 1);
    check_stale(ctx, r->error->stale[0], user, missing, nm, extra, nx);
}

/* ---- Send, push and Ack -------------------------------------------------- */

/* DELIV-1, DELIV-44: a send to an online device is pushed at once with
 * every field as the send says; DELIV-40: seqs increase. */
static void send_online_pushed(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t mid[16], mid2[16];
    uint64_t t, t2, before, seq, seq2;

    vcl_step(ctx, "alice sends to bob, online");
    vtc_random16(mid);
    before = vtc_wall_ms();
    t = send_one(alice, bob, "hello", mid);
    /* The server's clock at acceptance; a generous margin for clock skew. */
    VCL_CHECK(ctx, t + 60000 >= before && t <= vtc_wall_ms() + 60000,
              "server_time_ms %llu is more than a minute from the client's clock %llu",
              (unsigned long long)t, (unsigned long long)before);

    vcl_step(ctx, "bob gets it pushed without asking, every field as sent");
    seq = expect_delivered(ctx, bob, alice, bob->username, mid, "hello|r1", t);

    vcl_step(ctx, "a second message gets a greater seq");
    vtc_random16(mid2);
    t2 = send_one(alice, bob, "again", mid2);
    seq2 = expect_delivered(ctx, bob, alice, bob->username, mid2, "again|r1", t2);
    VCL_CHECK(ctx, seq2 > seq, "seq %llu after seq %llu, want it greater",
              (unsigned long long)seq2, (unsigned long long)seq);

    vcl_step(ctx, "the sender's only device gets no copy");
    expect_quiet(ctx, alice, 300, "the sender's own device is no destination");
}

/* DELIV-50, DELIV-51: an Ack deletes the listed messages of the caller's
 * queue; a repeated Ack or unknown seq deletes nothing; a seq listed twice
 * counts once; a deleted message is never pushed again. */
static void ack_deletes_idempotent(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t mid[3][16];
    uint64_t s[3];
    int n;

    vcl_step(ctx, "three messages pushed to bob");
    for (int i = 0; i < 3; i++) {
        vtc_random16(mid[i]);
        send_one(alice, bob, "m", mid[i]);
    }
    for (int i = 0; i < 3; i++)
        s[i] = vtc_expect_next_is(bob, mid[i], false);

    vcl_step(ctx, "Ack of the first, twice");
    n = vtc_ack(bob, &s[0], 1);
    VCL_CHECK(ctx, n == 1, "Ack deleted %d, want 1", n);
    n = vtc_ack(bob, &s[0], 1);
    VCL_CHECK(ctx, n == 0, "the repeated Ack deleted %d, want 0", n);

    vcl_step(ctx, "Ack of [s2, s2, s3, unknown], twice");
    {
        const uint64_t batch[] = {s[1], s[1], s[2], s[2] + 100000};

        n = vtc_ack(bob, batch, 4);
        VCL_CHECK(ctx, n == 2, "Ack deleted %d, want 2 (a seq listed twice counts once)",
                  n);
        n = vtc_ack(bob, batch, 4);
        VCL_CHECK(ctx, n == 0, "the repeated Ack deleted %d, want 0", n);
    }

    vcl_step(ctx, "nothing is pushed again on the next connection");
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    expect_quiet(ctx, bob, 500, "every message was acknowledged");
}

/* DELIV-42: a message pushed and not acknowledged is pushed again on the
 * device's next connection, and only once per connection. */
static void unacked_pushed_again(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t m1[16], m2[16], m3[16];
    uint64_t s1, s2, s, s3;

    vcl_step(ctx, "two messages pushed, the first acked");
    vtc_random16(m1);
    vtc_random16(m2);
    send_one(alice, bob, "one", m1);
    send_one(alice, bob, "two", m2);
    s1 = vtc_expect_next_is(bob, m1, true);
    s2 = vtc_expect_next_is(bob, m2, false);
    VCL_CHECK(ctx, s2 > s1, "seq %llu after %llu", (unsigned long long)s2,
              (unsigned long long)s1);

    vcl_step(ctx, "bob reconnects: the unacked one is pushed again, same seq");
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    s = expect_delivered(ctx, bob, alice, bob->username, m2, "two|r1", 0);
    VCL_CHECK(ctx, s == s2, "pushed again with seq %llu, want %llu",
              (unsigned long long)s, (unsigned long long)s2);

    vcl_step(ctx, "not pushed a second time on this connection: the next is new");
    vtc_random16(m3);
    send_one(alice, bob, "three", m3);
    s3 = vtc_expect_next_is(bob, m3, true);
    VCL_CHECK(ctx, s3 > s2, "seq %llu after %llu", (unsigned long long)s3,
              (unsigned long long)s2);
    VCL_CHECK(ctx, vtc_ack(bob, &s2, 1) == 1, "the Ack of seq %llu deleted nothing",
              (unsigned long long)s2);

    vcl_step(ctx, "after the Acks a new connection gets nothing");
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    expect_quiet(ctx, bob, 500, "every message was acknowledged");
}

/* DELIV-41, DELIV-45, SM-101: messages queued while the device was offline
 * arrive in the order of acceptance, each once, then one
 * QueueDrainedEvent with their count. */
static void offline_queue_in_order(vcl_ctx *ctx)
{
    enum { N = 20 };
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t mids[N][16], last[16];
    Ventra__V1__Event **ev;
    uint64_t top, s;

    vcl_step(ctx, "%d sends to bob, offline, one after the other", N);
    vtc_disconnect(bob);
    send_many(ctx, alice, bob->username, device1, 1, NULL, 0, N, mids, NULL, 1);

    vcl_step(ctx, "bob logs in: the %d in order, then QueueDrainedEvent(%d)", N, N);
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    ev = read_messages(ctx, bob, N, 10000);
    for (size_t i = 0; i < N; i++) {
        char want[32];

        snprintf(want, sizeof want, "m%zu|r1", i);
        vtc_check_message(ev[i]->message, alice, bob->username, mids[i], NULL, want, 0);
        VCL_CHECK(ctx, i == 0 || ev[i]->message->seq > ev[i - 1]->message->seq,
                  "message %zu has seq %llu after %llu", i,
                  (unsigned long long)ev[i]->message->seq,
                  (unsigned long long)ev[i - 1]->message->seq);
    }
    top = ev[N - 1]->message->seq;
    /* Had it come before the messages, read_messages would have dropped it. */
    expect_drained(ctx, bob, N, 5000);

    vcl_step(ctx, "exactly once: what comes next is a new message");
    vtc_random16(last);
    send_one(alice, bob, "last", last);
    s = vtc_expect_next_is(bob, last, false);
    VCL_CHECK(ctx, s > top, "seq %llu after %llu", (unsigned long long)s,
              (unsigned long long)top);
}

/* DELIV-45, SM-101: with an empty queue the QueueDrainedEvent (count 0)
 * comes before any MessageEvent, and only one comes per connection. */
static void empty_queue_drained_first(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t mid[16];
    Ventra__V1__Event *e;

    vcl_step(ctx, "bob logs in with an empty queue");
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    expect_drained(ctx, bob, 0, 5000);

    vcl_step(ctx, "a message after it, and no second QueueDrainedEvent");
    vtc_random16(mid);
    send_one(alice, bob, "after", mid);
    vtc_expect_next_is(bob, mid, true);
    e = vtc_wait_event(bob->c, VENTRA__V1__EVENT__BODY_QUEUE_DRAINED, 300);
    vtc_event_free(e);
    VCL_CHECK(ctx, e == NULL, "a second QueueDrainedEvent on one connection");
}

/* ---- Fan-out (Sesame) ------------------------------------------------------ */

/* DELIV-1 (section 3.2): a send carries one envelope per active device of
 * the recipient and of the sender's other devices; each gets its own, all
 * with the same server time. */
static void fanout_every_device(vcl_ctx *ctx)
{
    vtc_device *alice1 = vcl_account(ctx, "alice");
    vtc_device *alice2 = vcl_link(ctx, alice1);
    vtc_device *bob1 = vcl_account(ctx, "bob");
    vtc_device *bob2 = vcl_link(ctx, bob1);
    const uint32_t r12[] = {1, 2};
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

        vcl_step(ctx, "send '%s' from %s/%u", sends[i].text, sends[i].from->username,
                 sends[i].from->device_id);
        vtc_random16(mid);
        t = vtc_expect_sent(vtc_send_lists(sends[i].from, sends[i].to->username, r12, 2,
                                           &sends[i].self, 1, sends[i].text, mid, NULL),
                            false);
        for (size_t k = 0; k < 3; k++) {
            vcl_step(ctx, "'%s' reaches %s/%u as '%s' with the send's time",
                     sends[i].text, sends[i].got[k]->username, sends[i].got[k]->device_id,
                     sends[i].content[k]);
            expect_delivered(ctx, sends[i].got[k], sends[i].from, sends[i].to->username,
                             mid, sends[i].content[k], t);
        }
    }
}

/* DELIV-30: a wrong device list is STALE_DEVICES with one entry per wrong
 * account (the recipient's first), missing and extra in increasing order,
 * and nothing stored or recorded (DELIV-23). */
static void stale_devices(vcl_ctx *ctx)
{
    vtc_device *alice1 = vcl_account(ctx, "alice");
    vtc_device *alice2 = vcl_link(ctx, alice1);
    vtc_device *bob1 = vcl_account(ctx, "bob");
    vtc_device *bob2 = vcl_link(ctx, bob1);
    const uint32_t r1[] = {1}, r12[] = {1, 2}, r129[] = {1, 2, 9}, r927[] = {9, 2, 7};
    const uint32_t s2[] = {2}, s3[] = {3}, two[] = {2}, nine[] = {9}, one[] = {1};
    const uint32_t seven_nine[] = {7, 9}, three[] = {3};
    const char *texts[] = {"x", "y"};
    uint8_t mid[2][16];
    Ventra__V1__Response *r;

    vtc_random16(mid[0]);
    vtc_random16(mid[1]);

    vcl_step(ctx, "bob's device 2 missing");
    expect_stale(ctx,
                 vtc_send_lists(alice1, bob1->username, r1, 1, s2, 1, "x", mid[0], NULL),
                 bob1->username, two, 1, NULL, 0);
    vcl_step(ctx, "an extra device 9 of bob");
    expect_stale(
        ctx, vtc_send_lists(alice1, bob1->username, r129, 3, s2, 1, "x", mid[0], NULL),
        bob1->username, NULL, 0, nine, 1);
    vcl_step(ctx, "the sender's own device 2 missing");
    expect_stale(
        ctx, vtc_send_lists(alice1, bob1->username, r12, 2, NULL, 0, "x", mid[0], NULL),
        alice1->username, two, 1, NULL, 0);

    vcl_step(ctx, "both lists wrong: the recipient's entry first, ids sorted");
    r = expect_stale_n(
        ctx, vtc_send_lists(alice1, bob1->username, r927, 3, s3, 1, "x", mid[0], NULL),
        2);
    check_stale(ctx, r->error->stale[0], bob1->username, one, 1, seven_nine, 2);
    check_stale(ctx, r->error->stale[1], alice1->username, two, 1, three, 1);

    /* Nothing was recorded: the corrected retry is not a duplicate; and
     * nothing was stored: it is the first message everyone gets. */
    for (int i = 0; i < 2; i++) {
        vcl_step(ctx, "the corrected send '%s' is new and the first everyone gets",
                 texts[i]);
        vtc_expect_sent(
            vtc_send_lists(alice1, bob1->username, r12, 2, s2, 1, texts[i], mid[i], NULL),
            false);
        vtc_expect_next_is(bob1, mid[i], true);
        vtc_expect_next_is(bob2, mid[i], true);
        vtc_expect_next_is(alice2, mid[i], true);
    }
}

/* ---- Idempotency ------------------------------------------------------------ */

/* DELIV-21, DELIV-22: a repeated message id is answered duplicate with the
 * first time and delivered once; with another recipient or ephemeral flag
 * it is CONFLICT; records are per sender account. */
static void duplicate_message_id(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_device *carol = vcl_account(ctx, "carol");
    const uint32_t stale[] = {1, 5};
    const vtc_send_opts eph = {.ephemeral = true};
    /* The same send again; then contents and lists are not compared
     * (DELIV-22), not even a stale list: the duplicate check (8) comes
     * before the list check (12). */
    const struct {
        const uint32_t *r;
        size_t nr;
        const char *text;
    } again[] = {{device1, 1, "first"}, {device1, 1, "other"}, {stale, 2, "other"}};
    uint8_t x[16];
    uint64_t t1, t, seq;

    vcl_step(ctx, "alice sends x to bob");
    vtc_random16(x);
    t1 = send_one(alice, bob, "first", x);
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++) {
        vcl_step(ctx, "x again (%s, %zu envelopes): duplicate true, the first time",
                 again[i].text, again[i].nr);
        t = vtc_expect_sent(vtc_send_lists(alice, bob->username, again[i].r, again[i].nr,
                                           NULL, 0, again[i].text, x, NULL),
                            true);
        VCL_CHECK(ctx, t == t1, "server_time_ms %llu, want the first acceptance's %llu",
                  (unsigned long long)t, (unsigned long long)t1);
    }

    vcl_step(ctx, "x to another recipient: CONFLICT");
    vtc_expect_error(
        vtc_send_lists(alice, carol->username, device1, 1, NULL, 0, "first", x, NULL),
        VT_ERR_CONFLICT);
    vcl_step(ctx, "x as ephemeral: CONFLICT");
    vtc_expect_error(
        vtc_send_lists(alice, bob->username, device1, 1, NULL, 0, "first", x, &eph),
        VT_ERR_CONFLICT);

    vcl_step(ctx, "carol's x is hers: a new send");
    vtc_expect_sent(
        vtc_send_lists(carol, bob->username, device1, 1, NULL, 0, "carol", x, NULL),
        false);

    vcl_step(ctx, "bob got alice's x once, then carol's");
    seq = expect_delivered(ctx, bob, alice, bob->username, x, "first|r1", t1);
    VCL_CHECK(ctx, vtc_ack(bob, &seq, 1) == 1, "the Ack deleted nothing");
    expect_delivered(ctx, bob, carol, bob->username, x, "carol|r1", 0);
    expect_relayed(alice, bob, "y");
    vcl_step(ctx, "carol got nothing from the refused sends");
    expect_relayed(alice, carol, "z");
}

/* DELIV-10, WIRE-81: the checks of section 3.1 in order, each refusal
 * storing and recording nothing (DELIV-23, WIRE-45). */
static void send_check_order(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    const uint32_t one[] = {1}, zero[] = {0}, twice[] = {1, 1}, two[] = {2};
    uint8_t mid[32], x[16], z[16];
    const vtc_send_opts mid15 = {.message_id_len = 15}, mid0 = {.empty_message_id = true};
    const vtc_send_opts gid15 = {.group_id = mid, .group_id_len = 15};
    const vtc_send_opts unspec = {.unspecified_type = true}, badtype = {.bad_type = 7};
    const vtc_send_opts empty = {.empty_content = true};
    char ghost[33];
    const struct {
        const char *what;
        const char *recipient;
        const uint32_t *r;
        size_t nr;
        const uint32_t *s;
        size_t ns;
        const vtc_send_opts *o;
    } invalid[] = {
        {"1: a 15-byte message id, to an unknown recipient", ghost, one, 1, NULL, 0,
         &mid15},
        {"1: an empty message id", bob->username, one, 1, NULL, 0, &mid0},
        {"2: the recipient 'Bob'", "Bob", one, 1, NULL, 0, NULL},
        {"2: an empty recipient", "", one, 1, NULL, 0, NULL},
        {"3: a 15-byte group id, to an unknown recipient", ghost, one, 1, NULL, 0,
         &gid15},
        {"4: device id 0, to an unknown recipient", ghost, zero, 1, NULL, 0, NULL},
        {"4: type UNSPECIFIED, to an unknown recipient", ghost, one, 1, NULL, 0, &unspec},
        {"4: type UNSPECIFIED", bob->username, one, 1, NULL, 0, &unspec},
        {"4: type 7", bob->username, one, 1, NULL, 0, &badtype},
        {"4: empty content, to an unknown recipient", ghost, one, 1, NULL, 0, &empty},
        {"4: empty content", bob->username, one, 1, NULL, 0, &empty},
        {"5: device 1 twice", bob->username, twice, 2, NULL, 0, NULL},
        {"6: to_self names the calling device, to an unknown recipient", ghost, one, 1,
         one, 1, NULL},
        {"6: to the own account, naming the calling device", alice->username, one, 1,
         NULL, 0, NULL},
        {"7: to_self with the own account as recipient (before check 12)",
         alice->username, NULL, 0, two, 1, NULL},
    };

    vtc_username(ghost, "ghost");
    vtc_random16(mid);
    vtc_random16(mid + 16);
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        vcl_step(ctx, "check %s: INVALID_ARGUMENT", invalid[i].what);
        vtc_expect_error(vtc_send_lists(alice, invalid[i].recipient, invalid[i].r,
                                        invalid[i].nr, invalid[i].s, invalid[i].ns, "a",
                                        mid, invalid[i].o),
                         VT_ERR_INVALID_ARGUMENT);
    }
    vcl_step(ctx, "check 9: an unknown recipient is NOT_FOUND");
    vtc_random16(z);
    vtc_expect_error(vtc_send_lists(alice, ghost, one, 1, NULL, 0, "a", z, NULL),
                     VT_ERR_NOT_FOUND);
    vcl_step(ctx, "check 8 before 9: an accepted id to an unknown recipient is CONFLICT");
    vtc_random16(x);
    send_one(alice, bob, "x", x);
    vtc_expect_error(vtc_send_lists(alice, ghost, one, 1, NULL, 0, "x", x, NULL),
                     VT_ERR_CONFLICT);

    vcl_step(ctx, "nothing refused reached bob; the id refused with NOT_FOUND is new");
    vtc_expect_next_is(bob, x, true);
    send_one(alice, bob, "z", z);
    vtc_expect_next_is(bob, z, true);
}

/* DELIV-10 (spec/wire.md section 4.2): message ids and group ids are
 * fixed-length forms, not bounds: one byte too many is INVALID_ARGUMENT,
 * not TOO_LARGE. */
static void send_overlong_ids(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t mid[32];
    const vtc_send_opts mid17 = {.message_id_len = 17};
    const vtc_send_opts gid17 = {.group_id = mid, .group_id_len = 17};

    vtc_random16(mid);
    vtc_random16(mid + 16);
    vcl_step(ctx, "a 17-byte message id");
    vtc_expect_error(
        vtc_send_lists(alice, bob->username, device1, 1, NULL, 0, "a", mid, &mid17),
        VT_ERR_INVALID_ARGUMENT);
    vcl_step(ctx, "a 17-byte group id");
    vtc_expect_error(
        vtc_send_lists(alice, bob->username, device1, 1, NULL, 0, "a", mid, &gid17),
        VT_ERR_INVALID_ARGUMENT);
    vcl_step(ctx, "a well-formed send still relays, nothing else first");
    expect_relayed(alice, bob, "x");
}

/* DELIV-11: a note to self of an account with one device names no
 * destination; it is accepted and stores only its idempotency record. */
static void note_to_self_single_device(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    const uint32_t two[] = {2};
    uint8_t mid[16], other[16];
    uint64_t t, t2;

    vcl_step(ctx, "a send to the own account with no envelope at all");
    vtc_random16(mid);
    t = vtc_expect_sent(
        vtc_send_lists(alice, alice->username, NULL, 0, NULL, 0, "note", mid, NULL),
        false);
    vcl_step(ctx, "again: its idempotency record answers duplicate");
    t2 = vtc_expect_sent(
        vtc_send_lists(alice, alice->username, NULL, 0, NULL, 0, "note", mid, NULL),
        true);
    VCL_CHECK(ctx, t2 == t, "duplicate answered time %llu, want %llu",
              (unsigned long long)t2, (unsigned long long)t);

    vcl_step(ctx, "a device 2 that does not exist is extra");
    vtc_random16(other);
    expect_stale(
        ctx, vtc_send_lists(alice, alice->username, two, 1, NULL, 0, "note", other, NULL),
        alice->username, NULL, 0, two, 1);

    vcl_step(ctx, "nothing was queued for anyone");
    expect_quiet(ctx, alice, 300, "the note had no destination device");
    VCL_CODE(ctx, vtc_login(alice, vcl_port(ctx)), 0);
    expect_quiet(ctx, alice, 500, "the note had no destination device");
}

/* WIRE-34: 32 sends pipelined on one connection are answered with exactly
 * one Response each (read frame by frame, a Ping after them marking the
 * end), and bob gets each once. */
static void pipelined_sends_answered_once(vcl_ctx *ctx)
{
    enum { N = VT_MAX_INFLIGHT_REQUESTS };
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_ws *ws = vtc_client_ws(alice->c);
    vtc_send_buf *b = vcl_alloc(ctx, sizeof *b);
    vtc_ws_msg m = {0};
    uint8_t mids[N][16];
    unsigned answers[N] = {0};
    bool seen[N] = {false};
    size_t got = 0;
    int64_t deadline;
    Ventra__V1__Event **ev;

    vcl_step(ctx, "%d Sends written back to back, then a Ping (id %d)", N - 1, N);
    for (uint32_t i = 0; i < N; i++) {
        Ventra__V1__Frame f = VENTRA__V1__FRAME__INIT;
        Ventra__V1__Request ping = VENTRA__V1__REQUEST__INIT;
        Ventra__V1__PingRequest pr = VENTRA__V1__PING_REQUEST__INIT;
        uint8_t buf[1024];
        size_t len;

        f.kind_case = VENTRA__V1__FRAME__KIND_REQUEST;
        if (i + 1 < N) {
            char text[16];

            vtc_random16(mids[i]);
            snprintf(text, sizeof text, "p%u", i);
            vtc_send_build(b, bob->username, device1, 1, NULL, 0, text, mids[i], NULL);
            b->req.id = 1000 + i;
            f.request = &b->req;
        } else {
            pr.nonce = 42;
            ping.id = 1000 + i;
            ping.body_case = VENTRA__V1__REQUEST__BODY_PING;
            ping.ping = &pr;
            f.request = &ping;
        }
        len = ventra__v1__frame__get_packed_size(&f);
        VCL_CHECK(ctx, len <= sizeof buf, "frame too large");
        ventra__v1__frame__pack(&f, buf);
        VCL_CHECK(ctx, vtc_ws_send(ws, 2, buf, len, 1), "write failed");
    }

    /* Responses may come in any order; read until all are in, then a
     * little longer for any second answer. */
    vcl_step(ctx, "every request answered exactly once");
    deadline = vtc_now_ms() + 10000;
    while (vtc_left_ms(deadline) > 0) {
        Ventra__V1__Frame *f;
        uint32_t id = 0;
        int body = 0, code = 0, kind, cc;

        vtc_ws_recv(ws, got < N ? vtc_left_ms(deadline) : 300, &m);
        if (m.kind == VTC_WS_TIMEOUT) {
            vtc_ws_msg_free(&m);
            break;
        }
        kind = (int)m.kind;
        cc = m.close_code;
        f = m.kind == VTC_WS_BINARY ? ventra__v1__frame__unpack(NULL, m.len, m.data)
                                    : NULL;
        vtc_ws_msg_free(&m);
        VCL_CHECK(ctx, f != NULL,
                  "after %zu responses: WebSocket message kind %d, or a frame that does "
                  "not decode (close code %d)",
                  got, kind, cc);
        if (f->kind_case == VENTRA__V1__FRAME__KIND_RESPONSE) {
            id = f->response->id;
            body = (int)f->response->body_case;
            code = vtc_error_code(f->response);
        }
        ventra__v1__frame__free_unpacked(f, NULL);
        if (id == 0)
            continue; /* an event */
        VCL_CHECK(ctx, id >= 1000 && id < 1000 + N, "a Response with id %u, never sent",
                  id);
        answers[id - 1000]++;
        got++;
        VCL_CHECK(ctx, answers[id - 1000] == 1, "request %u answered twice", id);
        VCL_CHECK(ctx,
                  id - 1000 + 1 == N ? body == VENTRA__V1__RESPONSE__BODY_PING
                                     : body == VENTRA__V1__RESPONSE__BODY_SEND,
                  "request %u answered %s (body %d), want its own response type", id,
                  vcl_code_name(code), body);
    }
    for (uint32_t i = 0; i < N; i++)
        VCL_CHECK(ctx, answers[i] == 1, "request %u answered %u times, want once",
                  1000 + i, answers[i]);

    vcl_step(ctx, "bob gets each of the %d messages once", N - 1);
    ev = read_messages(ctx, bob, N - 1, 10000);
    for (size_t i = 0; i < N - 1; i++) {
        size_t k = N;

        for (size_t j = 0; j < N - 1; j++)
            if (ev[i]->message->message_id.len == 16 &&
                memcmp(ev[i]->message->message_id.data, mids[j], 16) == 0)
                k = j;
        VCL_CHECK(ctx, k < N, "bob got a message that was never sent");
        VCL_CHECK(ctx, !seen[k], "message %zu delivered twice", k);
        seen[k] = true;
    }
    expect_quiet(ctx, bob, 300, "each message was delivered once");
}

/* ---- Ephemeral sends -------------------------------------------------------------- */

/* Asserts that |e| is an ephemeral MessageEvent of |from| to |recipient|
 * with |mid|, |content| and |t| (DELIV-80). */
static void check_ephemeral(vcl_ctx *ctx, const Ventra__V1__Event *e,
                            const vtc_device *from, const char *recipient,
                            const uint8_t *mid, const char *content, uint64_t t)
{
    const Ventra__V1__MessageEvent *m = e->message;

    VCL_CHECK(ctx, m->seq == 0 && m->ephemeral,
              "an ephemeral message came with seq %llu and ephemeral %d, want seq 0 and "
              "ephemeral true",
              (unsigned long long)m->seq, (int)m->ephemeral);
    VCL_CHECK(ctx,
              strcmp(m->sender, from->username) == 0 &&
                  m->sender_device == from->device_id &&
                  strcmp(m->recipient, recipient) == 0,
              "ephemeral message from %s/%u to %s, want %s/%u to %s", m->sender,
              m->sender_device, m->recipient, from->username, from->device_id, recipient);
    VCL_CHECK(ctx, m->message_id.len == 16 && memcmp(m->message_id.data, mid, 16) == 0,
              "ephemeral message with another message id");
    VCL_CHECK(ctx,
              m->type == VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE &&
                  m->content.len == strlen(content) &&
                  memcmp(m->content.data, content, m->content.len) == 0,
              "ephemeral message of type %d and %zu bytes, want MESSAGE '%s'",
              (int)m->type, m->content.len, content);
    VCL_CHECK(ctx, t == 0 || m->server_time_ms == t,
              "ephemeral server_time_ms %llu, want the SendResponse's %llu",
              (unsigned long long)m->server_time_ms, (unsigned long long)t);
}

/* DELIV-80, DELIV-23: an ephemeral send is pushed with seq 0 to connected
 * devices only, never stored, never recorded. */
static void ephemeral_send(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob1 = vcl_account(ctx, "bob");
    vtc_device *bob2 = vcl_link(ctx, bob1);
    const uint32_t r12[] = {1, 2};
    const vtc_send_opts eph = {.ephemeral = true};
    uint8_t e_mid[16];
    uint64_t t;

    vtc_disconnect(bob2);
    vtc_random16(e_mid);

    for (int round = 0; round < 2; round++) {
        vcl_step(ctx, "ephemeral send %d to bob (device 2 offline)", round + 1);
        t = vtc_expect_sent(
            vtc_send_lists(alice, bob1->username, r12, 2, NULL, 0, "typing", e_mid, &eph),
            false);
        check_ephemeral(ctx, vcl_hold_event(ctx, vtc_expect_message(bob1, 5000)), alice,
                        bob1->username, e_mid, "typing|r1", t);
    }

    vcl_step(ctx, "the device lists are checked as for any send");
    {
        Ventra__V1__Response *r = vtc_send_lists(alice, bob1->username, device1, 1, NULL,
                                                 0, "typing", e_mid, &eph);
        int code = vtc_error_code(r);

        vtc_response_free(r);
        VCL_CODE(ctx, code, VT_ERR_STALE_DEVICES);
    }

    vcl_step(ctx, "never recorded: the same id as a stored send is new");
    vtc_expect_sent(
        vtc_send_lists(alice, bob1->username, r12, 2, NULL, 0, "stored", e_mid, NULL),
        false);
    expect_delivered(ctx, bob1, alice, bob1->username, e_mid, "stored|r1", 0);
    vcl_step(ctx, "now recorded as stored: the ephemeral flag differs, CONFLICT");
    vtc_expect_error(
        vtc_send_lists(alice, bob1->username, r12, 2, NULL, 0, "typing", e_mid, &eph),
        VT_ERR_CONFLICT);

    vcl_step(ctx, "bob/2 was offline for the ephemeral sends: only the stored one");
    VCL_CODE(ctx, vtc_login(bob2, vcl_port(ctx)), 0);
    expect_delivered(ctx, bob2, alice, bob1->username, e_mid, "stored|r2", 0);
    expect_quiet(ctx, bob2, 300, "ephemeral sends are dropped for offline devices");
}

/* DELIV-81: with the push window full of unacknowledged stored messages,
 * an ephemeral send is still pushed, and it takes no room: one Ack then
 * lets exactly one more stored message in. */
static void ephemeral_outside_window(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint32_t window = push_window(ctx, alice->c);
    size_t total = window + 5;
    uint8_t(*mids)[16] = vcl_alloc(ctx, total * 16);
    uint64_t *seqs = vcl_alloc(ctx, total * sizeof *seqs);
    const vtc_send_opts eph = {.ephemeral = true};
    uint8_t e_mid[16];
    Ventra__V1__Event *e;

    vcl_step(ctx, "%zu stored sends to bob, offline", total);
    vtc_disconnect(bob);
    send_many(ctx, alice, bob->username, device1, 1, NULL, 0, total, mids, NULL, 1);

    vcl_step(ctx, "bob logs in and gets the window (%u), acks none", window);
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    for (size_t i = 0; i < window; i++) {
        e = next_message(bob, 10000);
        VCL_CHECK(ctx, e != NULL, "%zu of the window's %u messages", i, window);
        seqs[i] = e->message->seq;
        vtc_event_free(e);
    }

    vcl_step(ctx, "an ephemeral send is pushed into the full window");
    vtc_random16(e_mid);
    vtc_expect_sent(
        vtc_send_lists(alice, bob->username, device1, 1, NULL, 0, "typing", e_mid, &eph),
        false);
    e = vcl_hold_event(ctx, vtc_expect_message(bob, 5000));
    VCL_CHECK(ctx, e->message->seq == 0,
              "the next message has seq %llu: more than push_window %u stored messages "
              "were pushed unacknowledged (DELIV-43), or the ephemeral one took a seq",
              (unsigned long long)e->message->seq, window);
    check_ephemeral(ctx, e, alice, bob->username, e_mid, "typing|r1", 0);

    vcl_step(ctx, "one Ack: one more stored message (the ephemeral one took no room)");
    VCL_CHECK(ctx, vtc_ack(bob, seqs, 1) == 1, "the Ack deleted nothing");
    e = next_message(bob, 5000);
    {
        unsigned long long s = e != NULL ? e->message->seq : 0;
        bool eph_again = e != NULL && e->message->ephemeral;

        vtc_event_free(e);
        VCL_CHECK(ctx, e != NULL,
                  "no stored message pushed after the Ack freed a place: the window "
                  "counts the ephemeral message");
        VCL_CHECK(ctx, !eph_again && s > seqs[window - 1],
                  "after the Ack got seq %llu (ephemeral %d), want the next stored one",
                  s, (int)eph_again);
    }
}

/* ---- Ack checks ------------------------------------------------------------------ */

/* WIRE-81, WIRE-45 (delivery.md section 5): an empty list or a seq 0 is
 * INVALID_ARGUMENT and deletes nothing; more than MAX_ACK_BATCH is
 * TOO_LARGE; MAX_ACK_BATCH entries are within the bound. */
static void ack_invalid(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint64_t zero = 0, pair[2], s;
    uint64_t *big = vcl_alloc(ctx, (VT_MAX_ACK_BATCH + 1) * sizeof *big);
    uint8_t mid[16];
    int n;

    vtc_random16(mid);
    send_one(alice, bob, "m", mid);
    s = vtc_expect_next_is(bob, mid, false);

    vcl_step(ctx, "Ack of no seqs");
    vtc_expect_error(vtc_rpc_ack(bob->c, NULL, 0), VT_ERR_INVALID_ARGUMENT);
    vcl_step(ctx, "Ack of seq 0");
    vtc_expect_error(vtc_rpc_ack(bob->c, &zero, 1), VT_ERR_INVALID_ARGUMENT);
    vcl_step(ctx, "Ack of [s, 0]");
    pair[0] = s;
    pair[1] = 0;
    vtc_expect_error(vtc_rpc_ack(bob->c, pair, 2), VT_ERR_INVALID_ARGUMENT);
    vcl_step(ctx, "Ack of MAX_ACK_BATCH + 1 seqs");
    for (size_t i = 0; i < VT_MAX_ACK_BATCH + 1; i++)
        big[i] = s;
    vtc_expect_error(vtc_rpc_ack(bob->c, big, VT_MAX_ACK_BATCH + 1), VT_ERR_TOO_LARGE);
    vcl_step(ctx, "the refused Acks deleted nothing; MAX_ACK_BATCH seqs are accepted");
    n = vtc_ack(bob, big, VT_MAX_ACK_BATCH);
    VCL_CHECK(ctx, n == 1, "Ack of MAX_ACK_BATCH copies of seq %llu deleted %d, want 1",
              (unsigned long long)s, n);
    n = vtc_ack(bob, &s, 1);
    VCL_CHECK(ctx, n == 0, "Ack again deleted %d, want 0", n);
}

/* DELIV-51 (delivery.md section 5): an Ack names the caller's own queue
 * only; bob's Ack of the seqs alice got deletes none of alice's messages. */
static void ack_only_own_queue(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t mid[16];
    uint64_t s, s2, seqs[8];
    int n;

    vtc_random16(mid);
    send_one(bob, alice, "to alice", mid);
    s = vtc_expect_next_is(alice, mid, false);

    vcl_step(ctx, "bob acks alice's seq and the 7 after it");
    for (size_t i = 0; i < 8; i++)
        seqs[i] = s + i;
    n = vtc_ack(bob, seqs, 8);
    VCL_CHECK(ctx, n == 0, "bob's Ack deleted %d, want 0 (bob's queue is empty)", n);

    vcl_step(ctx, "alice's message is still queued: pushed again on reconnect");
    VCL_CODE(ctx, vtc_login(alice, vcl_port(ctx)), 0);
    s2 = expect_delivered(ctx, alice, bob, alice->username, mid, "to alice|r1", 0);
    VCL_CHECK(ctx, s2 == s, "pushed again with seq %llu, want %llu",
              (unsigned long long)s2, (unsigned long long)s);
    VCL_CHECK(ctx, vtc_ack(alice, &s, 1) == 1, "alice's own Ack deleted nothing");
}

/* WIRE-80: Send and Ack are answered in the body member of their method. */
static void send_ack_bodies(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t mid[16];
    Ventra__V1__Response *r;
    int body, code;
    uint64_t s;

    vcl_step(ctx, "Send");
    vtc_random16(mid);
    r = vtc_send_lists(alice, bob->username, device1, 1, NULL, 0, "b", mid, NULL);
    body = r != NULL ? (int)r->body_case : 0;
    code = vtc_error_code(r);
    vtc_response_free(r);
    if (code == VT_ERR_UNKNOWN_RPC)
        vcl_unimplemented(ctx, "Send answered ERROR_UNKNOWN_RPC");
    VCL_CHECK(ctx, body == VENTRA__V1__RESPONSE__BODY_SEND,
              "Send answered %s, body %d, want body send (%d)", vcl_code_name(code), body,
              VENTRA__V1__RESPONSE__BODY_SEND);

    vcl_step(ctx, "Ack");
    s = vtc_expect_next_is(bob, mid, false);
    r = vtc_rpc_ack(bob->c, &s, 1);
    body = r != NULL ? (int)r->body_case : 0;
    code = vtc_error_code(r);
    vtc_response_free(r);
    if (code == VT_ERR_UNKNOWN_RPC)
        vcl_unimplemented(ctx, "Ack answered ERROR_UNKNOWN_RPC");
    VCL_CHECK(ctx, body == VENTRA__V1__RESPONSE__BODY_ACK,
              "Ack answered %s, body %d, want body ack (%d)", vcl_code_name(code), body,
              VENTRA__V1__RESPONSE__BODY_ACK);
}

/* ---- Flow control --------------------------------------------------------------------
 */

/* Reads the MessageEvents that |d| gets until none arrives for |quiet_ms|;
 * fails on a QueueDrainedEvent. Appends their seqs and ids at |at|. */
static size_t read_window(vcl_ctx *ctx, vtc_device *d, uint64_t *seqs,
                          uint8_t (*mids)[16], size_t at, size_t cap, int quiet_ms)
{
    size_t got = 0;
    Ventra__V1__Event *e;

    while ((e = vtc_wait_events(d->c, DELIVERIES, quiet_ms)) != NULL) {
        int kind = (int)e->body_case;
        bool ok = kind == VENTRA__V1__EVENT__BODY_MESSAGE && at + got < cap &&
                  e->message->message_id.len == 16;

        if (ok) {
            seqs[at + got] = e->message->seq;
            memcpy(mids[at + got], e->message->message_id.data, 16);
        }
        vtc_event_free(e);
        VCL_CHECK(ctx, ok,
                  "event %d after %zu messages, want only MessageEvents (with 16-byte "
                  "ids) until the window is full",
                  kind, at + got);
        got++;
    }
    return got;
}

/* DELIV-43, DELIV-52: at most push_window (at least PUSH_WINDOW) stored
 * messages are pushed and unacknowledged; an Ack makes room and the server
 * pushes more without another request; DELIV-45: the drain event follows
 * the last. */
static void push_window_respected(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint32_t window = push_window(ctx, alice->c);
    size_t total = window + 36, got, n;
    uint8_t(*sent)[16] = vcl_alloc(ctx, total * 16);
    uint8_t(*recv)[16] = vcl_alloc(ctx, total * 16);
    uint64_t *seqs = vcl_alloc(ctx, total * sizeof *seqs);
    Ventra__V1__Event **ev;
    int del;

    vcl_step(ctx, "%zu sends to bob, offline", total);
    vtc_disconnect(bob);
    send_many(ctx, alice, bob->username, device1, 1, NULL, 0, total, sent, NULL, 1);

    vcl_step(ctx, "bob logs in: exactly push_window (%u) messages come", window);
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    got = read_window(ctx, bob, seqs, recv, 0, total, 1000);
    VCL_CHECK(ctx, got == window, "%zu messages pushed unacknowledged, want %u", got,
              window);

    vcl_step(ctx, "Ack of the first 10: exactly 10 more come, unasked");
    del = vtc_ack(bob, seqs, 10);
    VCL_CHECK(ctx, del == 10, "the Ack deleted %d, want 10", del);
    n = read_window(ctx, bob, seqs, recv, got, total, 1000);
    VCL_CHECK(ctx, n == 10, "%zu more messages after acking 10, want 10", n);
    got += n;

    vcl_step(ctx, "Ack of everything pushed: the rest come, then the drain event");
    del = vtc_ack(bob, seqs + 10, got - 10);
    VCL_CHECK(ctx, del == (int)(got - 10), "the Ack deleted %d, want %zu", del, got - 10);
    n = total - got;
    ev = read_messages(ctx, bob, n, 10000);
    for (size_t i = 0; i < n; i++) {
        seqs[got + i] = ev[i]->message->seq;
        memcpy(recv[got + i], ev[i]->message->message_id.data, 16);
    }
    vcl_step(ctx, "in the order sent, each once, seqs increasing");
    for (size_t i = 0; i < total; i++) {
        VCL_CHECK(ctx, memcmp(recv[i], sent[i], 16) == 0,
                  "message %zu pushed is not the %zu-th sent", i, i);
        VCL_CHECK(ctx, i == 0 || seqs[i] > seqs[i - 1], "seq %llu after %llu",
                  (unsigned long long)seqs[i], (unsigned long long)seqs[i - 1]);
    }
    expect_drained(ctx, bob, (uint32_t)total, 5000);
    del = vtc_ack(bob, seqs + window + 10, total - window - 10);
    VCL_CHECK(ctx, del == (int)(total - window - 10), "the last Ack deleted %d, want %zu",
              del, total - window - 10);
    expect_quiet(ctx, bob, 300, "everything was acknowledged");
}

/* DELIV-52: an Ack may name queued messages not yet pushed: they are
 * deleted and never pushed (the seqs after the window are named by a range
 * above the last pushed seq, as seqs increase, DELIV-40). */
static void ack_before_push(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint32_t window = push_window(ctx, alice->c);
    size_t total = window + 20, rest;
    uint8_t(*mids)[16] = vcl_alloc(ctx, total * 16);
    uint64_t *seqs = vcl_alloc(ctx, window * sizeof *seqs);
    uint64_t range[VT_MAX_ACK_BATCH], top;
    int del, del2;
    size_t after = 0;

    vcl_step(ctx, "%zu sends to bob, offline; bob gets the window (%u)", total, window);
    vtc_disconnect(bob);
    send_many(ctx, alice, bob->username, device1, 1, NULL, 0, total, mids, NULL, 1);
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    for (size_t i = 0; i < window; i++) {
        Ventra__V1__Event *e = next_message(bob, 10000);

        VCL_CHECK(ctx, e != NULL, "%zu of the window's %u messages", i, window);
        seqs[i] = e->message->seq;
        vtc_event_free(e);
    }
    top = seqs[window - 1];

    vcl_step(ctx, "Ack of the %d seqs after the last pushed one (%llu)", VT_MAX_ACK_BATCH,
             (unsigned long long)top);
    for (size_t i = 0; i < VT_MAX_ACK_BATCH; i++)
        range[i] = top + 1 + i;
    del = vtc_ack(bob, range, VT_MAX_ACK_BATCH);
    VCL_CHECK(ctx, del >= 0 && del <= 20, "the Ack deleted %d, want 0 to 20", del);
    if (del == 0)
        vcl_skip(ctx, "no unpushed message has a seq within %d of the last pushed one",
                 VT_MAX_ACK_BATCH);
    rest = 20 - (size_t)del;

    vcl_step(ctx,
             "Ack of the window: only the %zu not deleted come, then the drain event",
             rest);
    del2 = vtc_ack(bob, seqs, window);
    VCL_CHECK(ctx, del2 == (int)window, "the Ack of the window deleted %d, want %u", del2,
              window);
    for (;;) {
        Ventra__V1__Event *e = vtc_wait_events(bob->c, DELIVERIES, 5000);
        int kind = e != NULL ? (int)e->body_case : 0;
        uint64_t s = kind == VENTRA__V1__EVENT__BODY_MESSAGE ? e->message->seq : 0;
        uint32_t count =
            kind == VENTRA__V1__EVENT__BODY_QUEUE_DRAINED ? e->queue_drained->count : 0;

        vtc_event_free(e);
        VCL_CHECK(ctx, kind != 0, "no QueueDrainedEvent within 5 s");
        if (kind == VENTRA__V1__EVENT__BODY_QUEUE_DRAINED) {
            VCL_CHECK(ctx, after == rest,
                      "%zu messages pushed after the Ack, want the %zu not deleted",
                      after, rest);
            VCL_CHECK(ctx, count == window + rest,
                      "QueueDrainedEvent count %u, want %zu (the drain-set messages "
                      "pushed)",
                      count, window + rest);
            break;
        }
        VCL_CHECK(ctx, kind == VENTRA__V1__EVENT__BODY_MESSAGE, "event %d", kind);
        VCL_CHECK(ctx, s > top + VT_MAX_ACK_BATCH,
                  "seq %llu was acknowledged (deleted) before it was pushed, and still "
                  "pushed",
                  (unsigned long long)s);
        after++;
    }
}

/* ---- Content kept as sent ---------------------------------------------------------- */

/* SEC-20: the content of an envelope (MAX_CONTENT_SIZE random bytes, every
 * byte value among them) arrives byte-identical at each device, and after
 * the Ack it is gone: a reconnect does not push it again. */
static void content_byte_identical(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob1 = vcl_account(ctx, "bob");
    vtc_device *bob2 = vcl_link(ctx, bob1);
    size_t len = VT_MAX_CONTENT_SIZE;
    uint8_t *c1 = vcl_alloc(ctx, len), *c2 = vcl_alloc(ctx, len), mid[16];
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__SendRequest send = VENTRA__V1__SEND_REQUEST__INIT;
    Ventra__V1__OutgoingEnvelope env[2], *ep[2] = {&env[0], &env[1]};
    vtc_device *dev[2] = {bob1, bob2};
    const uint8_t *want[2] = {c1, c2};

    for (size_t i = 0; i < len; i += 16) {
        vtc_random16(c1 + i);
        vtc_random16(c2 + i);
    }
    for (size_t i = 0; i < 256; i++) {
        c1[i] = (uint8_t)i;
        c2[len - 1 - i] = (uint8_t)i;
    }
    for (int i = 0; i < 2; i++) {
        ventra__v1__outgoing_envelope__init(&env[i]);
        env[i].device_id = (uint32_t)i + 1;
        env[i].type = i == 0 ? VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_PREKEY
                             : VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE;
        env[i].content = vtc_bin(want[i], len);
    }
    vtc_random16(mid);
    send.message_id = vtc_bin(mid, 16);
    send.recipient = bob1->username;
    send.n_to_recipient = 2;
    send.to_recipient = ep;
    req.body_case = VENTRA__V1__REQUEST__BODY_SEND;
    req.send = &send;

    vcl_step(ctx, "a send of two %zu-byte random contents, bob/2 offline", len);
    vtc_disconnect(bob2);
    vtc_expect_sent(vtc_call(alice->c, &req), false);

    for (int i = 0; i < 2; i++) {
        Ventra__V1__Event *e;
        size_t diff = len;
        uint64_t s;

        vcl_step(ctx, "bob/%d gets its content byte for byte", i + 1);
        if (i == 1)
            VCL_CODE(ctx, vtc_login(bob2, vcl_port(ctx)), 0);
        e = vcl_hold_event(ctx, vtc_expect_message(dev[i], 5000));
        VCL_CHECK(ctx, e->message->content.len == len, "content of %zu bytes, want %zu",
                  e->message->content.len, len);
        for (size_t k = 0; k < len && diff == len; k++)
            if (e->message->content.data[k] != want[i][k])
                diff = k;
        VCL_CHECK(ctx, diff == len, "content differs from the sent one at byte %zu",
                  diff);
        VCL_CHECK(ctx, (int)e->message->type == (int)env[i].type, "type %d, want %d",
                  (int)e->message->type, (int)env[i].type);
        s = e->message->seq;
        VCL_CHECK(ctx, vtc_ack(dev[i], &s, 1) == 1, "the Ack deleted nothing");
    }

    vcl_step(ctx, "after the Acks, reconnects push nothing");
    for (int i = 0; i < 2; i++) {
        VCL_CODE(ctx, vtc_login(dev[i], vcl_port(ctx)), 0);
        expect_drained(ctx, dev[i], 0, 5000);
        expect_quiet(ctx, dev[i], 200, "the acknowledged message must be deleted");
    }
}

/* DELIV-41: when a send is answered before the next is sent, every device
 * that gets both gets them in that order; here three destination devices
 * of two accounts, some online and some reconnecting. */
static void order_across_devices(vcl_ctx *ctx)
{
    enum { N = 12 };
    vtc_device *alice1 = vcl_account(ctx, "alice");
    vtc_device *alice2 = vcl_link(ctx, alice1);
    vtc_device *bob1 = vcl_account(ctx, "bob");
    vtc_device *bob2 = vcl_link(ctx, bob1);
    const uint32_t r12[] = {1, 2}, s2[] = {2};
    vtc_device *dev[3] = {bob1, bob2, alice2};
    uint8_t mids[N][16];

    vcl_step(ctx, "bob/2 offline; %d sends one after the other", N);
    vtc_disconnect(bob2);
    send_many(ctx, alice1, bob1->username, r12, 2, s2, 1, N, mids, NULL, 1);
    VCL_CODE(ctx, vtc_login(bob2, vcl_port(ctx)), 0);
    for (int k = 0; k < 3; k++) {
        vcl_step(ctx, "%s/%u gets the %d in the order sent", dev[k]->username,
                 dev[k]->device_id, N);
        for (int i = 0; i < N; i++)
            vtc_expect_next_is(dev[k], mids[i], true);
    }
}

/* DELIV-61 (in part: QUEUE_RETENTION_S is 30 days): an unacknowledged
 * message is still queued two minutes after its acceptance. */
static void unacked_kept_minutes(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t mid[16];
    uint64_t t;

    vcl_step(ctx, "a message to bob, offline; both disconnect");
    vtc_random16(mid);
    vtc_disconnect(bob);
    t = send_one(alice, bob, "kept", mid);
    vtc_disconnect(alice);
    /* The wait itself is what this case checks: nothing to wait for. */
    vcl_step(ctx, "two minutes pass");
    poll(NULL, 0, 120000);
    vcl_step(ctx, "bob logs in and still gets it");
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    expect_delivered(ctx, bob, alice, bob->username, mid, "kept|r1", t);
}

/* ---- DELIV-60 ------------------------------------------------------------ */

/* The code of a Send of one envelope to |to|'s device 1 (ephemeral or not). */
static int send_code(vtc_device *from, const vtc_device *to, bool ephemeral)
{
    vtc_send_opts o = {.ephemeral = ephemeral};
    uint8_t mid[16];

    vtc_random16(mid);
    return vtc_take_code(
        vtc_send_lists(from, to->username, device1, 1, NULL, 0, "full?", mid, &o));
}

/* A queue of MAX_QUEUE_DEPTH messages refuses the next non-ephemeral send
 * with QUEUE_FULL (ephemeral sends are not stored and still go), and one
 * ack makes room for exactly one more. Fills the queue with 32 sends in
 * flight: about 100,000 requests. */
static void queue_full(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "filler");
    vtc_device *bob = vcl_account(ctx, "sink");
    uint8_t(*mids)[16] = vcl_alloc(ctx, (size_t)VT_MAX_QUEUE_DEPTH * sizeof *mids);
    Ventra__V1__Event *e;
    uint64_t seq;

    vtc_disconnect(bob);
    vcl_step(ctx, "fill bob's queue with MAX_QUEUE_DEPTH = %u messages",
             (unsigned)VT_MAX_QUEUE_DEPTH);
    send_many(ctx, alice, bob->username, device1, 1, NULL, 0, VT_MAX_QUEUE_DEPTH, mids,
              NULL, VT_MAX_INFLIGHT_REQUESTS);
    vcl_step(ctx, "one more send");
    VCL_CODE(ctx, send_code(alice, bob, false), VT_ERR_QUEUE_FULL);
    vcl_step(ctx, "an ephemeral send is not stored, so it is accepted");
    VCL_CODE(ctx, send_code(alice, bob, true), 0);
    vcl_step(ctx, "bob acks one message");
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    e = vcl_hold_event(ctx, next_message(bob, 10000));
    VCL_CHECK(ctx, e != NULL, "no MessageEvent came to bob");
    seq = e->message->seq;
    VCL_CHECK(ctx, vtc_ack(bob, &seq, 1) == 1, "the Ack deleted no message");
    vcl_step(ctx, "room for exactly one more");
    VCL_CODE(ctx, send_code(alice, bob, false), 0);
    VCL_CODE(ctx, send_code(alice, bob, false), VT_ERR_QUEUE_FULL);
}

VCL_CASES(
    messaging,
    {"messaging/queue-full", "DELIV-60", VCL_MUST, 0,
     "a full queue refuses sends with QUEUE_FULL, ephemeral ones excepted, until an ack "
     "makes room",
     queue_full},
    {"messaging/send-online-pushed", "DELIV-1 DELIV-10 DELIV-40 DELIV-44", VCL_MUST, 0,
     "a send to an online device is pushed at once, every field as sent",
     send_online_pushed},
    {"messaging/ack-deletes-idempotent", "DELIV-50 DELIV-51", VCL_MUST, 0,
     "Ack deletes the listed messages once; repeats, duplicates and unknown seqs count 0",
     ack_deletes_idempotent},
    {"messaging/unacked-pushed-again", "DELIV-42", VCL_MUST, 0,
     "an unacknowledged message is pushed again on the next connection, once",
     unacked_pushed_again},
    {"messaging/offline-queue-in-order", "DELIV-41 DELIV-45 SM-101", VCL_MUST, 0,
     "an offline queue drains in the order of acceptance, then QueueDrainedEvent(count)",
     offline_queue_in_order},
    {"messaging/empty-queue-drained-first", "DELIV-45 SM-101", VCL_MUST, 0,
     "with an empty queue QueueDrainedEvent(0) comes first, and only one",
     empty_queue_drained_first},
    {"messaging/fanout-every-device", "DELIV-1", VCL_MUST, 0,
     "each device of both accounts gets its own envelope with the send's time",
     fanout_every_device},
    {"messaging/order-across-devices", "DELIV-41", VCL_MUST, 0,
     "sends answered one after the other reach every destination device in that order",
     order_across_devices},
    {"messaging/stale-devices", "DELIV-30 DELIV-23 WIRE-43", VCL_MUST, 0,
     "wrong device lists: STALE_DEVICES with sorted missing and extra, nothing stored",
     stale_devices},
    {"messaging/duplicate-message-id", "DELIV-21 DELIV-22", VCL_MUST, 0,
     "a repeated id is a duplicate with the first time; another recipient CONFLICT",
     duplicate_message_id},
    {"messaging/send-check-order", "DELIV-10 DELIV-23 WIRE-81 WIRE-45", VCL_MUST, 0,
     "the checks of the Send table in order, each refusal storing and recording nothing",
     send_check_order},
    {"messaging/send-overlong-ids", "DELIV-10", VCL_MUST, 0,
     "17-byte message and group ids are INVALID_ARGUMENT", send_overlong_ids},
    {"messaging/note-to-self-single-device", "DELIV-11", VCL_MUST, 0,
     "a send with no destination device is accepted and stores only its record",
     note_to_self_single_device},
    {"messaging/pipelined-sends-answered-once", "WIRE-34", VCL_MUST, 0,
     "31 Sends and a Ping pipelined: each answered exactly once, each delivered once",
     pipelined_sends_answered_once},
    {"messaging/send-ack-bodies", "WIRE-80", VCL_MUST, 0,
     "Send and Ack are answered in the body of their method", send_ack_bodies},
    {"messaging/ephemeral", "DELIV-80 DELIV-23", VCL_MUST, 0,
     "ephemeral sends: seq 0 to online devices only, never stored nor recorded",
     ephemeral_send},
    {"messaging/ephemeral-outside-window", "DELIV-81", VCL_MUST, 0,
     "an ephemeral message is pushed into a full window and takes no room in it",
     ephemeral_outside_window},
    {"messaging/ack-invalid", "WIRE-81 WIRE-45", VCL_MUST, 0,
     "Ack of nothing or of seq 0 is INVALID_ARGUMENT, of 257 TOO_LARGE; nothing deleted",
     ack_invalid},
    {"messaging/ack-only-own-queue", "DELIV-51", VCL_MUST, 0,
     "an Ack of another device's seqs deletes nothing of its queue", ack_only_own_queue},
    {"messaging/push-window", "DELIV-43 DELIV-45 DELIV-52", VCL_MUST, 0,
     "at most push_window unacknowledged; an Ack frees room and more come unasked",
     push_window_respected},
    {"messaging/ack-before-push", "DELIV-52", VCL_MUST, 0,
     "queued messages acknowledged before they are pushed are never pushed",
     ack_before_push},
    {"messaging/content-byte-identical", "SEC-20", VCL_MUST, 0,
     "16 KiB of random content arrives byte-identical and is gone after the Ack",
     content_byte_identical},
    {"messaging/unacked-kept-minutes", "DELIV-61", VCL_MUST, VCL_SLOW,
     "an unacknowledged message is still queued two minutes later (of 30 days)",
     unacked_kept_minutes});
