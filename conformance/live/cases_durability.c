/* Live cases of durability: sends and Acks the server answered survive a
 * kill -9 of the server (--crash-cmd), in order and exactly once, sends
 * are stored all or nothing, and seqs keep increasing across restarts
 * (spec/delivery.md DELIV-2, DELIV-3, DELIV-40, DELIV-42, DELIV-50,
 * DELIV-61). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "live.h"
#include "ventra/err.h"
#include "vt_constants.h"

/* ---- Helpers ----------------------------------------------------------- */

static const uint32_t device1[] = {1};
static const uint32_t both[] = {1, 2}, self2[] = {2};
static const vtc_send_opts bare = {.bare_content = true};

/* A send from a one-device account to a one-device account: the envelope
 * for device 1 with content |text| as it is; returns the server time. */
static uint64_t send_one(vtc_device *from, const vtc_device *to, const char *text,
                         const uint8_t mid[16], bool duplicate)
{
    return vtc_expect_sent(
        vtc_send_lists(from, to->username, device1, 1, NULL, 0, text, mid, &bare),
        duplicate);
}

/* The messages of |d| until its QueueDrainedEvent (whose count must equal
 * their number; at most |cap|); the events (freed after the case) go to
 * |out|. Returns their number. */
static size_t read_drain(vcl_ctx *ctx, vtc_device *d, Ventra__V1__Event **out, size_t cap)
{
    size_t n = 0;

    for (;;) {
        Ventra__V1__Event *e =
            vtc_wait_events(d->c,
                            VTC_EVENT(VENTRA__V1__EVENT__BODY_MESSAGE) |
                                VTC_EVENT(VENTRA__V1__EVENT__BODY_QUEUE_DRAINED),
                            5000);

        VCL_CHECK(ctx, e != NULL,
                  "%s/%u: no QueueDrainedEvent within 5 s (after %zu messages)",
                  d->username, d->device_id, n);
        vcl_hold_event(ctx, e);
        if (e->body_case == VENTRA__V1__EVENT__BODY_QUEUE_DRAINED) {
            VCL_CHECK(ctx, e->queue_drained->count == n,
                      "%s/%u: QueueDrainedEvent count %u after %zu messages", d->username,
                      d->device_id, e->queue_drained->count, n);
            return n;
        }
        VCL_CHECK(ctx, n < cap, "%s/%u: more than the %zu messages sent", d->username,
                  d->device_id, cap);
        out[n++] = e;
    }
}

/* The index of the message id of |m| among the |n| ids |mids|, or -1. */
static int find_mid(const Ventra__V1__MessageEvent *m, uint8_t (*mids)[16], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (m->message_id.len == 16 && memcmp(m->message_id.data, mids[i], 16) == 0)
            return (int)i;
    return -1;
}

/* ---- Cases ---------------------------------------------------------------------- */

/* DELIV-2, DELIV-41: every send answered before a kill -9 is delivered
 * after the restart, in order, once, with its fields; its idempotency
 * record survives too. */
static void acked_sends_survive(vcl_ctx *ctx)
{
    enum { N = 50 };
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t mid[N][16];
    uint64_t t[N], seqs[N], td;
    Ventra__V1__Event *ev[N];
    size_t n;

    vcl_step(ctx, "%d sends to bob, offline, one after the other", N);
    vtc_disconnect(bob);
    for (int i = 0; i < N; i++) {
        char text[32];

        vtc_random16(mid[i]);
        snprintf(text, sizeof text, "k%d", i);
        t[i] = send_one(alice, bob, text, mid[i], false);
    }
    vcl_step(ctx, "kill -9 right after the last SendResponse, restart");
    vcl_crash_restart(ctx);

    vcl_step(ctx, "bob logs in: all %d, in order, once", N);
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    n = read_drain(ctx, bob, ev, N);
    VCL_CHECK(ctx, n == N, "%zu of the %d answered sends survived the crash", n, N);
    for (size_t i = 0; i < n; i++) {
        char text[32];

        snprintf(text, sizeof text, "k%zu", i);
        vtc_check_message(ev[i]->message, alice, bob->username, mid[i], NULL, text, t[i]);
        seqs[i] = ev[i]->message->seq;
        VCL_CHECK(ctx, i == 0 || seqs[i] > seqs[i - 1], "seq %llu after %llu",
                  (unsigned long long)seqs[i], (unsigned long long)seqs[i - 1]);
    }

    vcl_step(ctx, "the idempotency record of the last send survived");
    VCL_CODE(ctx, vtc_login(alice, vcl_port(ctx)), 0);
    td = send_one(alice, bob, "k49", mid[N - 1], true);
    VCL_CHECK(ctx, td == t[N - 1], "the duplicate answered time %llu, want %llu",
              (unsigned long long)td, (unsigned long long)t[N - 1]);
    VCL_CHECK(ctx, vtc_ack(bob, seqs, N) == N, "the Ack of all %d deleted fewer", N);
}

/* DELIV-50: an Ack answered before a kill -9 stays done after it. */
static void ack_survives(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t mid[10][16];
    uint64_t seqs[10];
    Ventra__V1__Event *ev[10];
    size_t n;
    int del;

    vcl_step(ctx, "ten messages pushed to bob, the first five acked");
    for (int i = 0; i < 10; i++) {
        vtc_random16(mid[i]);
        send_one(alice, bob, "a", mid[i], false);
    }
    for (int i = 0; i < 10; i++)
        seqs[i] = vtc_expect_next_is(bob, mid[i], false);
    del = vtc_ack(bob, seqs, 5);
    VCL_CHECK(ctx, del == 5, "the Ack deleted %d, want 5", del);
    vcl_step(ctx, "kill -9 right after the AckResponse, restart");
    vcl_crash_restart(ctx);

    vcl_step(ctx, "bob logs in: only the five not acked, same seqs");
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    n = read_drain(ctx, bob, ev, 10);
    VCL_CHECK(ctx, n == 5, "%zu messages pushed after the crash, want the 5 not acked",
              n);
    for (size_t i = 0; i < n; i++) {
        VCL_CHECK(ctx, find_mid(ev[i]->message, mid, 10) == (int)(5 + i),
                  "message %zu after the crash is not the %zu-th sent (an acked one "
                  "came back?)",
                  i, 5 + i);
        VCL_CHECK(ctx, ev[i]->message->seq == seqs[5 + i], "seq %llu, want %llu",
                  (unsigned long long)ev[i]->message->seq,
                  (unsigned long long)seqs[5 + i]);
    }
}

/* DELIV-40: a seq is never reused for a device, not after its messages
 * were acknowledged (so its queue is empty) and not across kill -9
 * restarts. */
static void seq_increases(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint64_t top = 0;

    for (int phase = 0; phase < 3; phase++) {
        vcl_step(ctx, "phase %d: three messages, each acked", phase + 1);
        for (int i = 0; i < 3; i++) {
            uint8_t mid[16];
            uint64_t s;

            vtc_random16(mid);
            send_one(alice, bob, "s", mid, false);
            s = vtc_expect_next_is(bob, mid, false);
            VCL_CHECK(ctx, s > top, "phase %d: seq %llu after seq %llu", phase + 1,
                      (unsigned long long)s, (unsigned long long)top);
            top = s;
            VCL_CHECK(ctx, vtc_ack(bob, &s, 1) == 1, "the Ack deleted nothing");
        }
        if (phase == 2)
            break;
        vcl_step(ctx, "kill -9 with bob's queue empty, restart");
        vcl_crash_restart(ctx);
        VCL_CODE(ctx, vtc_login(alice, vcl_port(ctx)), 0);
        VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    }
}

/* |n| sends from |from| to |to|'s devices 1 and 2 and to the sender's
 * device 2, content |text|, written back to back without waiting for an
 * answer: fresh message ids into |mids|, the request ids into |ids| (unless
 * NULL). */
static void write_sends(vcl_ctx *ctx, vtc_device *from, const vtc_device *to,
                        const char *text, uint8_t (*mids)[16], uint32_t *ids, int n)
{
    vtc_send_buf *b = vcl_alloc(ctx, sizeof *b);

    for (int i = 0; i < n; i++) {
        uint32_t id;

        vtc_random16(mids[i]);
        vtc_send_build(b, to->username, both, 2, self2, 1, text, mids[i], NULL);
        id = vtc_send_request(from->c, &b->req);
        if (ids != NULL)
            ids[i] = id;
    }
}

/* DELIV-2: sends pipelined to three destination devices (two of the
 * recipient, one of the sender), the server killed the moment the last
 * SendResponse arrived: every answered send is delivered to every
 * destination after the restart. */
static void durable_before_ack(vcl_ctx *ctx)
{
    enum { N = VT_MAX_INFLIGHT_REQUESTS };
    vtc_device *alice1 = vcl_account(ctx, "alice");
    vtc_device *alice2 = vcl_link(ctx, alice1);
    vtc_device *bob1 = vcl_account(ctx, "bob");
    vtc_device *bob2 = vcl_link(ctx, bob1);
    vtc_device *dev[3] = {bob1, bob2, alice2};
    uint8_t mids[N][16];
    uint32_t ids[N];
    Ventra__V1__Event *ev[N];

    vcl_step(ctx, "%d sends written back to back", N);
    vtc_disconnect(bob2);
    write_sends(ctx, alice1, bob1, "d", mids, ids, N);
    for (int i = 0; i < N; i++) {
        Ventra__V1__Response *r = vtc_wait_response(alice1->c, ids[i], 10000);
        int code = vtc_error_code(r);
        bool ok = r != NULL && r->body_case == VENTRA__V1__RESPONSE__BODY_SEND &&
                  !r->send->duplicate;

        vtc_response_free(r);
        VCL_CHECK(ctx, ok, "send %d answered %s, want a SendResponse", i,
                  vcl_code_name(code));
    }
    vcl_step(ctx, "kill -9 at once, restart");
    vcl_crash_restart(ctx);

    for (int k = 0; k < 3; k++) {
        bool seen[N] = {false};
        size_t n;

        vcl_step(ctx, "%s/%u gets all %d", dev[k]->username, dev[k]->device_id, N);
        VCL_CODE(ctx, vtc_login(dev[k], vcl_port(ctx)), 0);
        n = read_drain(ctx, dev[k], ev, N);
        for (size_t i = 0; i < n; i++) {
            int j = find_mid(ev[i]->message, mids, N);

            VCL_CHECK(ctx, j >= 0 && !seen[j], "a message never sent, or one twice");
            seen[j] = true;
        }
        VCL_CHECK(ctx, n == N,
                  "%zu of the %d answered sends reached %s/%u after the crash: an answer "
                  "came before the send was durable",
                  n, N, dev[k]->username, dev[k]->device_id);
    }
}

/* DELIV-3: sends in flight when the server is killed are stored all or
 * nothing: after the restart each is at every destination device and has
 * its idempotency record (a retry is a duplicate), or is nowhere (a retry
 * is new, then delivered to all). */
static void send_all_or_nothing(vcl_ctx *ctx)
{
    enum { N = VT_MAX_INFLIGHT_REQUESTS };
    vtc_device *alice1 = vcl_account(ctx, "alice");
    vtc_device *alice2 = vcl_link(ctx, alice1);
    vtc_device *bob1 = vcl_account(ctx, "bob");
    vtc_device *bob2 = vcl_link(ctx, bob1);
    vtc_device *dev[3] = {bob1, bob2, alice2};
    uint8_t mids[N][16];
    bool seen[3][N];
    Ventra__V1__Event *ev[N];
    size_t stored = 0;

    memset(seen, 0, sizeof seen);
    vcl_step(ctx, "%d sends written back to back, kill -9 without waiting", N);
    vtc_disconnect(bob2);
    vtc_disconnect(alice2);
    write_sends(ctx, alice1, bob1, "n", mids, NULL, N);
    vcl_crash_restart(ctx);

    for (int k = 0; k < 3; k++) {
        size_t n;

        vcl_step(ctx, "what reached %s/%u", dev[k]->username, dev[k]->device_id);
        VCL_CODE(ctx, vtc_login(dev[k], vcl_port(ctx)), 0);
        n = read_drain(ctx, dev[k], ev, N);
        for (size_t i = 0; i < n; i++) {
            int j = find_mid(ev[i]->message, mids, N);
            uint64_t s = ev[i]->message->seq;

            VCL_CHECK(ctx, j >= 0 && !seen[k][j], "a message never sent, or one twice");
            seen[k][j] = true;
            VCL_CHECK(ctx, vtc_ack(dev[k], &s, 1) == 1, "the Ack deleted nothing");
        }
    }
    VCL_CODE(ctx, vtc_login(alice1, vcl_port(ctx)), 0);
    for (int j = 0; j < N; j++) {
        bool all = seen[0][j] && seen[1][j] && seen[2][j];
        bool none = !seen[0][j] && !seen[1][j] && !seen[2][j];

        VCL_CHECK(
            ctx, all || none,
            "send %d is stored for bob/1 %d, bob/2 %d, alice/2 %d: want all or none", j,
            seen[0][j], seen[1][j], seen[2][j]);
        vcl_step(ctx, "retry of send %d (%s): duplicate %s", j,
                 all ? "stored" : "not stored", all ? "true" : "false");
        vtc_expect_sent(
            vtc_send_lists(alice1, bob1->username, both, 2, self2, 1, "n", mids[j], NULL),
            all);
        if (all)
            stored++;
        else
            for (int k = 0; k < 3; k++)
                vtc_expect_next_is(dev[k], mids[j], true);
    }
    (void)stored;
}

/* DELIV-42, DELIV-61 (in part: QUEUE_RETENTION_S is 30 days): a message
 * pushed and not acknowledged before a kill -9 is pushed again after it. */
static void unacked_redelivered(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint8_t mid[16];
    uint64_t t, s, s2;

    vcl_step(ctx, "a message pushed to bob, not acked");
    vtc_random16(mid);
    t = send_one(alice, bob, "u", mid, false);
    s = vtc_expect_next_is(bob, mid, false);
    vcl_step(ctx, "kill -9, restart");
    vcl_crash_restart(ctx);
    vcl_step(ctx, "bob logs in: pushed again, same seq and fields");
    VCL_CODE(ctx, vtc_login(bob, vcl_port(ctx)), 0);
    {
        Ventra__V1__Event *e = vtc_expect_message(bob, 5000);

        vcl_hold_event(ctx, e);
        vtc_check_message(e->message, alice, bob->username, mid, NULL, "u", t);
        s2 = e->message->seq;
    }
    VCL_CHECK(ctx, s2 == s, "seq %llu after the crash, want %llu", (unsigned long long)s2,
              (unsigned long long)s);
    VCL_CHECK(ctx, vtc_ack(bob, &s, 1) == 1, "the Ack deleted nothing");
}

VCL_CASES(
    durability,
    {"durability/acked-sends-survive-kill9", "DELIV-2 DELIV-41", VCL_MUST,
     VCL_NEEDS_CRASH,
     "50 answered sends survive kill -9: delivered in order, once; the record too",
     acked_sends_survive},
    {"durability/ack-survives-kill9", "DELIV-50", VCL_MUST, VCL_NEEDS_CRASH,
     "messages acked before kill -9 are not pushed after it", ack_survives},
    {"durability/seq-increases-across-restart", "DELIV-40", VCL_MUST, VCL_NEEDS_CRASH,
     "seqs keep increasing across two kill -9 restarts with an empty queue",
     seq_increases},
    {"durability/durable-before-ack", "DELIV-2", VCL_MUST, VCL_NEEDS_CRASH,
     "32 pipelined sends killed right after their answers reach all three devices",
     durable_before_ack},
    {"durability/send-all-or-nothing", "DELIV-3", VCL_MUST, VCL_NEEDS_CRASH,
     "sends in flight at kill -9 are at every destination with their record, or nowhere",
     send_all_or_nothing},
    {"durability/unacked-redelivered-after-crash", "DELIV-42 DELIV-61", VCL_MUST,
     VCL_NEEDS_CRASH, "a pushed, unacknowledged message is pushed again after kill -9",
     unacked_redelivered});
