/* ventra-bench relay: authenticated sender/recipient pairs driven open
 * loop at a constant offered rate, every message a Double Ratchet envelope
 * through the real protocol (Send, durable store, push, Ack; spec/delivery.md
 * sections 2 to 5), with end-to-end latency from a histogram, lost and
 * duplicated counts, the server's CPU, --find-max, and the bare relay
 * baseline (bench/baseline) driven by the same pacing in the same run
 * (DESIGN.md section 10). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "lg.h"
#include "ventra/crypto.h"
#include "vt_constants.h"

/* What happened to one message (bits). */
enum {
    M_SENT = 1, /* handed to the connection */
    M_OK = 2,   /* SendResponse without error (raw: written) */
    M_RECV = 4, /* delivered and decrypted */
    M_ERR = 8,  /* Send answered with an error */
};

/* A message sent later than this after its scheduled time was held back
 * by the in-flight limit: "backlog". */
#define LATE_NS 1000000u
/* find-max: the highest rate whose p99 stays under this, with no loss. */
#define FIND_MAX_P99_NS 25000000u
#define PEND_CAP (4 * VT_MAX_ACK_BATCH)
/* Acks go out in batches (DELIV-53): once half a push window is pending,
 * or when the oldest pending seq has waited ACK_DELAY_NS. Acking every
 * message alone would double the server's requests and commits. */
#define ACK_MIN (VT_PUSH_WINDOW / 2)
#define ACK_DELAY_NS 10000000u

typedef struct relay relay;

typedef struct pair {
    relay *r;
    uint32_t idx;
    char sname[33], rname[33];
    vt_identity *sid, *rid;
    lg_client *snd, *rcv;
    vt_ratchet *tx, *rx;
    /* the baseline's two raw connections and the partial record */
    lg_conn *raw_s, *raw_r;
    bool raw_s_ready, raw_r_ready;
    uint8_t *rec;
    size_t rec_len;
    uint64_t sent; /* messages sent so far = index of the next */
    uint64_t base; /* index of the current step's first message */
    uint8_t *st;   /* M_* per message index */
    size_t st_cap;
    uint64_t pend[PEND_CAP]; /* seqs to acknowledge */
    size_t npend;
    uint64_t pend_since; /* when the oldest of them arrived */
} pair;

/* Counters of one step. */
typedef struct step {
    double rate, duration;
    uint64_t scheduled, sent, ok, delivered, lost, dup, unsent, late, backlog_max;
    uint64_t send_err, decrypt_err, ack_err, bad, stale, closed;
    uint64_t t0, t_last_rx, t_end;
    double server_cpu_s, gen_cpu_s;
    lg_hist hist;
    bool passed;
} step;

struct relay {
    lg_loop *loop;
    bool raw;
    size_t np;
    pair *pairs;
    size_t size; /* plaintext bytes per message */
    uint8_t run[8];
    pid_t pid; /* the server measured, 0: unknown */
    step *cur; /* what callbacks count into: a step, or |idle| */
    step idle; /* between steps: counted, never reported */
    uint8_t *pt, *ct;
    size_t frame_bytes; /* wire size of one Send frame's payload */
};

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz);

    if (p == NULL) {
        fprintf(stderr, "ventra-bench: out of memory\n");
        abort();
    }
    return p;
}

static uint8_t *state_of(pair *p, uint64_t i)
{
    if (i >= p->st_cap) {
        size_t cap = p->st_cap ? p->st_cap : 4096;

        while (cap <= i)
            cap *= 2;
        p->st = realloc(p->st, cap);
        if (p->st == NULL)
            abort();
        memset(p->st + p->st_cap, 0, cap - p->st_cap);
        p->st_cap = cap;
    }
    return &p->st[i];
}

/* A message arrived (ventrad: decrypted; raw: a whole record). */
static void delivered(relay *r, pair *p, const uint8_t *pt, size_t len)
{
    step *s = r->cur;
    uint32_t stream;
    uint64_t idx, t_ns, now = bench_now_ns();
    uint8_t *st;

    if (!lg_pt_get(pt, len, &stream, &idx, &t_ns) || stream != p->idx || idx >= p->sent) {
        s->bad++;
        return;
    }
    st = state_of(p, idx);
    if (*st & M_RECV) {
        s->dup++;
        return;
    }
    *st |= M_RECV;
    if (idx < p->base) {
        s->stale++; /* a late one of an earlier step */
        return;
    }
    s->delivered++;
    s->t_last_rx = now;
    lg_hist_add(&s->hist, now > t_ns ? now - t_ns : 0);
}

/* ---- ventrad: the clients' callbacks ---------------------------------- */

static void on_snd_response(lg_client *c, void *ud, uint64_t tag,
                            const Ventra__V1__Response *resp)
{
    pair *p = ud;
    step *s = p->r->cur;
    uint8_t *st = state_of(p, tag);

    (void)c;
    if (resp->error != NULL || resp->body_case != VENTRA__V1__RESPONSE__BODY_SEND) {
        if (s->send_err++ == 0)
            fprintf(stderr, "ventra-bench: Send refused: %d %s\n",
                    resp->error ? (int)resp->error->code : -1,
                    resp->error && resp->error->message ? resp->error->message : "");
        *st |= M_ERR;
        return;
    }
    if (resp->send->duplicate)
        s->bad++; /* every message id is new: the server must not say so */
    *st |= M_OK;
    if (tag >= p->base)
        s->ok++;
}

static void on_rcv_response(lg_client *c, void *ud, uint64_t tag,
                            const Ventra__V1__Response *resp)
{
    pair *p = ud;

    (void)c;
    (void)tag;
    if (resp->error != NULL || resp->body_case != VENTRA__V1__RESPONSE__BODY_ACK)
        p->r->cur->ack_err++;
}

static void on_rcv_event(lg_client *c, void *ud, const Ventra__V1__Event *ev)
{
    pair *p = ud;
    relay *r = p->r;
    const Ventra__V1__MessageEvent *m;
    uint32_t stream, idx;
    size_t len = 0;

    (void)c;
    if (ev->body_case != VENTRA__V1__EVENT__BODY_MESSAGE)
        return;
    m = ev->message;
    if (m->ephemeral || m->seq == 0)
        return;
    if (p->npend == 0)
        p->pend_since = bench_now_ns();
    if (p->npend < PEND_CAP)
        p->pend[p->npend++] = m->seq;
    if (!lg_mid_get(m->message_id.data, m->message_id.len, r->run, &stream, &idx) ||
        stream != p->idx || idx >= p->sent) {
        r->cur->bad++;
        return;
    }
    if (*state_of(p, idx) & M_RECV) { /* DELIV-90: a duplicate is not decrypted */
        r->cur->dup++;
        return;
    }
    if (vt_ratchet_decrypt(p->rx, r->pt, r->size, &len, m->content.data, m->content.len,
                           (uint64_t)time(NULL), NULL) != VT_OK) {
        r->cur->decrypt_err++;
        return;
    }
    delivered(r, p, r->pt, len);
}

static void on_fail(lg_client *c, void *ud, const char *what, int code)
{
    pair *p = ud;

    (void)c;
    p->r->cur->closed++;
    fprintf(stderr, "ventra-bench: pair %u: %s failed (%d)\n", p->idx, what, code);
}

static const lg_client_cbs snd_cbs = {NULL, on_snd_response, NULL, on_fail};
static const lg_client_cbs rcv_cbs = {NULL, on_rcv_response, on_rcv_event, on_fail};

/* ---- the baseline's raw connections ------------------------------------ */

/* "VBR1", pair, role, message size (relay_baseline.c) */
static void raw_hello(lg_conn *c, pair *p, uint32_t role)
{
    uint8_t h[16] = {'V', 'B', 'R', '1'};
    uint32_t size = (uint32_t)p->r->size;

    for (int i = 0; i < 4; i++) {
        h[4 + i] = (uint8_t)(p->idx >> (8 * i));
        h[8 + i] = (uint8_t)(role >> (8 * i));
        h[12 + i] = (uint8_t)(size >> (8 * i));
    }
    lg_conn_send(c, h, sizeof h);
}

static void on_raw_s_open(lg_conn *c, void *ud)
{
    raw_hello(c, ud, 0);
}

static void on_raw_r_open(lg_conn *c, void *ud)
{
    raw_hello(c, ud, 1);
}

static void on_raw_s_data(lg_conn *c, void *ud, const uint8_t *data, size_t len)
{
    pair *p = ud;

    (void)c;
    if (len > 0 && data[0] == 'R')
        p->raw_s_ready = true;
}

/* Records of |size| bytes, back to back: the relay keeps no framing. */
static void on_raw_r_data(lg_conn *c, void *ud, const uint8_t *data, size_t len)
{
    pair *p = ud;
    relay *r = p->r;

    (void)c;
    if (!p->raw_r_ready && len > 0) {
        p->raw_r_ready = data[0] == 'R';
        data++;
        len--;
    }
    while (len > 0) {
        size_t take = r->size - p->rec_len;

        if (take > len)
            take = len;
        memcpy(p->rec + p->rec_len, data, take);
        p->rec_len += take;
        data += take;
        len -= take;
        if (p->rec_len == r->size) {
            delivered(r, p, p->rec, r->size);
            p->rec_len = 0;
        }
    }
}

static void on_raw_close(lg_conn *c, void *ud, int code)
{
    pair *p = ud;

    if (c == p->raw_s)
        p->raw_s = NULL;
    else
        p->raw_r = NULL;
    p->r->cur->closed++;
    fprintf(stderr, "ventra-bench: baseline pair %u: connection ended (%d)\n", p->idx,
            code);
}

static const lg_conn_cbs raw_s_cbs = {on_raw_s_open, on_raw_s_data, on_raw_close};
static const lg_conn_cbs raw_r_cbs = {on_raw_r_open, on_raw_r_data, on_raw_close};

/* ---- sending ------------------------------------------------------------ */

/* Sends message p->sent, scheduled at |sched_ns|. False when the
 * in-flight limit holds it back. */
static bool send_one(relay *r, pair *p, uint64_t sched_ns)
{
    uint64_t idx = p->sent;
    uint8_t mid[16];
    size_t clen = 0;

    if (r->raw) {
        if (p->raw_s == NULL)
            return false;
        lg_pt_put(r->pt, r->size, p->idx, idx, sched_ns);
        lg_conn_send(p->raw_s, r->pt, r->size);
        *state_of(p, idx) |= M_SENT | M_OK;
        r->cur->ok++;
    } else {
        if (!lg_client_ready(p->snd) ||
            lg_client_inflight(p->snd) >= lg_client_max_inflight(p->snd))
            return false;
        /* the send time travels inside the ciphertext */
        lg_pt_put(r->pt, r->size, p->idx, idx, sched_ns);
        if (vt_ratchet_encrypt(p->tx, r->ct, r->size + VT_RATCHET_OVERHEAD, &clen, r->pt,
                               r->size) != VT_OK) {
            fprintf(stderr, "ventra-bench: ratchet encrypt failed\n");
            abort();
        }
        lg_mid_put(mid, r->run, p->idx, (uint32_t)idx);
        if (!lg_client_send(p->snd, p->rname, mid, 1,
                            VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE, r->ct, clen,
                            idx))
            abort(); /* checked above */
        *state_of(p, idx) |= M_SENT;
    }
    p->sent++;
    r->cur->sent++;
    return true;
}

/* Acknowledges what the recipients received (at most MAX_ACK_BATCH per
 * Ack), so the push windows keep moving (DELIV-53); |all| acks whatever
 * is pending. Returns the time the next delayed batch is due (0: none). */
static uint64_t flush_acks(relay *r, bool all)
{
    uint64_t now = bench_now_ns(), next = 0;

    if (r->raw)
        return 0;
    for (size_t i = 0; i < r->np; i++) {
        pair *p = &r->pairs[i];

        while (p->npend > 0 &&
               (all || p->npend >= ACK_MIN || now - p->pend_since >= ACK_DELAY_NS)) {
            size_t n = p->npend < VT_MAX_ACK_BATCH ? p->npend : VT_MAX_ACK_BATCH;

            if (!lg_client_ack(p->rcv, p->pend, n, 0))
                break;
            memmove(p->pend, p->pend + n, (p->npend - n) * sizeof p->pend[0]);
            p->npend -= n;
            p->pend_since = now;
        }
        if (p->npend > 0 && (next == 0 || p->pend_since + ACK_DELAY_NS < next))
            next = p->pend_since + ACK_DELAY_NS;
    }
    return next;
}

/* Everything sent has been answered and delivered, every ack answered. */
static bool settled(relay *r)
{
    step *s = r->cur;

    for (size_t i = 0; i < r->np; i++) {
        pair *p = &r->pairs[i];

        if (!r->raw && (p->npend > 0 || lg_client_inflight(p->snd) > 0 ||
                        lg_client_inflight(p->rcv) > 0))
            return false;
    }
    return s->delivered >= s->ok;
}

static bool all_sent(relay *r, uint64_t total)
{
    uint64_t sent = 0;

    for (size_t i = 0; i < r->np; i++)
        sent += r->pairs[i].sent - r->pairs[i].base;
    return sent >= total;
}

static double server_cpu(pid_t pid)
{
    double v = 0;

    if (pid <= 0 || !lg_proc_cpu_s(pid, &v))
        return 0;
    return v;
}

/* One open-loop step: |rate| msg/s in total for |duration| seconds,
 * message k (k = 0, 1, ...) scheduled at t0 + k / rate and owned by pair
 * k mod P; then up to |drain_s| seconds for the backlog and the last
 * deliveries. */
static void run_step(relay *r, step *s, double rate, double duration, double drain_s)
{
    uint64_t total = (uint64_t)(rate * duration + 0.5), n_due = 0;
    uint64_t P = r->np;
    double period = 1e9 / rate, cpu0, gen0;
    uint64_t deadline;

    memset(s, 0, sizeof *s);
    s->rate = rate;
    s->duration = duration;
    s->scheduled = total;
    r->cur = s;
    for (size_t i = 0; i < r->np; i++)
        r->pairs[i].base = r->pairs[i].sent;
    cpu0 = server_cpu(r->pid);
    gen0 = lg_self_cpu_s();
    s->t0 = bench_now_ns() + 2000000u;
    deadline = s->t0 + (uint64_t)((duration + drain_s) * 1e9);
    for (;;) {
        uint64_t now = bench_now_ns(), backlog = 0, timeout = 5000000u, ack_due;

        if (now >= s->t0) {
            n_due = (uint64_t)((double)(now - s->t0) / period) + 1;
            if (n_due > total)
                n_due = total;
        }
        for (uint64_t i = 0; i < P; i++) {
            pair *p = &r->pairs[i];
            uint64_t due = n_due > i ? (n_due - 1 - i) / P + 1 : 0;
            uint64_t done = p->sent - p->base;

            while (done < due) {
                uint64_t sched = s->t0 + (uint64_t)((double)(done * P + i) * period);

                if (!send_one(r, p, sched))
                    break;
                if (now > sched + LATE_NS)
                    s->late++;
                done++;
            }
            backlog += due - done;
        }
        if (backlog > s->backlog_max)
            s->backlog_max = backlog;
        /* once everything is due, nothing is gained by waiting to batch */
        ack_due = flush_acks(r, n_due >= total);
        if (n_due >= total && all_sent(r, total) && settled(r))
            break;
        if (now >= deadline)
            break;
        if (n_due < total) {
            uint64_t next = s->t0 + (uint64_t)((double)n_due * period);

            timeout = next > now ? next - now : 0;
        }
        if (ack_due != 0 && (ack_due > now ? ack_due - now : 0) < timeout)
            timeout = ack_due > now ? ack_due - now : 0;
        lg_loop_run(r->loop, timeout);
    }
    s->t_end = bench_now_ns();
    s->server_cpu_s = server_cpu(r->pid) - cpu0;
    s->gen_cpu_s = lg_self_cpu_s() - gen0;
    s->unsent = total - s->sent;
    for (size_t i = 0; i < r->np; i++) {
        pair *p = &r->pairs[i];

        for (uint64_t k = p->base; k < p->sent; k++)
            if ((*state_of(p, k) & (M_OK | M_RECV)) == M_OK)
                s->lost++;
    }
    s->passed = s->lost == 0 && s->dup == 0 && s->unsent == 0 && s->send_err == 0 &&
                s->decrypt_err == 0 && s->bad == 0 && s->closed == 0 &&
                lg_hist_quantile(&s->hist, 0.99) <= FIND_MAX_P99_NS;
    r->cur = &r->idle;
}

/* Lets whatever an earlier step left in flight arrive, uncounted. */
static void quiesce(relay *r, double seconds)
{
    double end = bench_now() + seconds;

    while (bench_now() < end) {
        bool busy = false;

        flush_acks(r, true);
        for (size_t i = 0; i < r->np && !r->raw; i++)
            if (r->pairs[i].npend > 0 || lg_client_inflight(r->pairs[i].snd) > 0 ||
                lg_client_inflight(r->pairs[i].rcv) > 0)
                busy = true;
        if (!busy && lg_loop_run(r->loop, 50000000u) == 0)
            break;
        lg_loop_run(r->loop, 5000000u);
    }
    r->cur = &r->idle;
}

/* ---- setup ---------------------------------------------------------------- */

static bool setup_ventrad(relay *r, const lg_target *t)
{
    size_t n = 2 * r->np, ready;
    lg_client_opts *opts = xcalloc(n, sizeof *opts);
    lg_client **cl = xcalloc(n, sizeof *cl);
    const lg_client_cbs **cbs = xcalloc(n, sizeof *cbs);
    void **uds = xcalloc(n, sizeof *uds);
    uint32_t tag;
    bool ok = false;

    memcpy(&tag, r->run, sizeof tag);
    for (size_t i = 0; i < r->np; i++) {
        pair *p = &r->pairs[i];

        lg_username(p->sname, "rs", tag, i);
        lg_username(p->rname, "rr", tag, i);
        if (vt_identity_generate(&p->sid) != VT_OK ||
            vt_identity_generate(&p->rid) != VT_OK)
            goto out;
        opts[2 * i] = (lg_client_opts){.target = t, .username = p->sname, .id = p->sid};
        opts[2 * i + 1] =
            (lg_client_opts){.target = t, .username = p->rname, .id = p->rid};
        cbs[2 * i] = &snd_cbs;
        cbs[2 * i + 1] = &rcv_cbs;
        uds[2 * i] = uds[2 * i + 1] = p;
    }
    /* at most 256 in setup at once: the listen queue stays short */
    lg_clients_setup(r->loop, cl, opts, n, 256, 60, cbs, uds);
    for (size_t i = 0; i < r->np; i++) {
        r->pairs[i].snd = cl[2 * i];
        r->pairs[i].rcv = cl[2 * i + 1];
    }
    ready = 0;
    for (size_t i = 0; i < r->np; i++)
        ready += lg_client_ready(r->pairs[i].snd) + lg_client_ready(r->pairs[i].rcv);
    if (ready != n) {
        fprintf(stderr, "ventra-bench: %zu of %zu accounts registered\n", ready, n);
        goto out;
    }
    for (size_t i = 0; i < r->np; i++)
        if (!lg_session_pair(r->pairs[i].sid, r->pairs[i].rid, &r->pairs[i].tx,
                             &r->pairs[i].rx)) {
            fprintf(stderr, "ventra-bench: X3DH session setup failed\n");
            goto out;
        }
    ok = true;
out:
    free(opts);
    free(cl);
    free(cbs);
    free(uds);
    return ok;
}

static bool setup_raw(relay *r, const lg_target *t)
{
    for (size_t i = 0; i < r->np; i++) {
        pair *p = &r->pairs[i];

        p->rec = xcalloc(1, r->size);
        p->raw_s = lg_conn_open(r->loop, t, LG_CONN_RAW, NULL, &raw_s_cbs, p);
        p->raw_r = lg_conn_open(r->loop, t, LG_CONN_RAW, NULL, &raw_r_cbs, p);
        if (p->raw_s == NULL || p->raw_r == NULL)
            return false;
    }
    for (double end = bench_now() + 10; bench_now() < end;) {
        size_t ready = 0;

        for (size_t i = 0; i < r->np; i++)
            ready += r->pairs[i].raw_s_ready && r->pairs[i].raw_r_ready;
        if (ready == r->np)
            return true;
        lg_loop_run(r->loop, 5000000u);
    }
    fprintf(stderr, "ventra-bench: the baseline relay did not pair the connections\n");
    return false;
}

static relay *relay_new(size_t np, size_t size, bool raw, pid_t pid, bool coalesce)
{
    relay *r = xcalloc(1, sizeof *r);

    r->loop = lg_loop_new();
    /* one write per message, as many separate clients would (and as the
     * baseline relay does), unless --coalesce */
    lg_loop_write_each(r->loop, !coalesce);
    r->raw = raw;
    r->np = np;
    r->size = size;
    r->pid = pid;
    r->pairs = xcalloc(np, sizeof *r->pairs);
    r->cur = &r->idle;
    r->pt = xcalloc(1, size);
    r->ct = xcalloc(1, size + VT_RATCHET_OVERHEAD);
    if (vt_random_bytes(r->run, sizeof r->run) != VT_OK)
        abort();
    for (size_t i = 0; i < np; i++) {
        r->pairs[i].r = r;
        r->pairs[i].idx = (uint32_t)i;
    }
    return r;
}

static void relay_free(relay *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->np; i++) {
        pair *p = &r->pairs[i];

        lg_client_free(p->snd);
        lg_client_free(p->rcv);
        if (p->raw_s)
            lg_conn_close(p->raw_s, 1000);
        if (p->raw_r)
            lg_conn_close(p->raw_r, 1000);
        vt_ratchet_free(p->tx);
        vt_ratchet_free(p->rx);
        vt_identity_free(p->sid);
        vt_identity_free(p->rid);
        free(p->st);
        free(p->rec);
    }
    lg_loop_run(r->loop, 0);
    lg_loop_free(r->loop);
    vt_wipe(r->pt, r->size);
    free(r->pt);
    free(r->ct);
    free(r->pairs);
    free(r);
}

/* The wire size of one Send frame as this run makes them. */
static size_t send_frame_bytes(size_t size)
{
    Ventra__V1__Frame f = VENTRA__V1__FRAME__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__SendRequest body = VENTRA__V1__SEND_REQUEST__INIT;
    Ventra__V1__OutgoingEnvelope env = VENTRA__V1__OUTGOING_ENVELOPE__INIT;
    Ventra__V1__OutgoingEnvelope *envs[1] = {&env};
    static uint8_t zero[16];

    env.device_id = 1;
    env.type = VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE;
    env.content.len = size + VT_RATCHET_OVERHEAD;
    body.message_id.data = zero;
    body.message_id.len = 16;
    body.recipient = "rr000000.0";
    body.n_to_recipient = 1;
    body.to_recipient = envs;
    req.id = 1000;
    req.body_case = VENTRA__V1__REQUEST__BODY_SEND;
    req.send = &body;
    f.kind_case = VENTRA__V1__FRAME__KIND_REQUEST;
    f.request = &req;
    return ventra__v1__frame__get_packed_size(&f);
}

/* ---- the search and the report ------------------------------------------ */

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double delivered_rate(const step *s)
{
    double span = s->t_last_rx > s->t0 ? (double)(s->t_last_rx - s->t0) / 1e9 : 0;

    /* over a step at or below capacity this is the offered rate; above
     * it, what the system carried */
    if (span < s->duration)
        span = s->duration;
    return span > 0 ? (double)s->delivered / span : 0;
}

static void progress(const char *who, const step *s)
{
    fprintf(stderr,
            "ventra-bench: %s rate=%.0f delivered=%.0f/s p99=%.2fms lost=%llu dup=%llu "
            "unsent=%llu %s\n",
            who, s->rate, delivered_rate(s), ms(lg_hist_quantile(&s->hist, 0.99)),
            (unsigned long long)s->lost, (unsigned long long)s->dup,
            (unsigned long long)s->unsent, s->passed ? "pass" : "fail");
}

/* Doubling from |start| while steps pass, then bisection to 5 %. |best|
 * receives the step at the highest passing rate (rate 0: none passed). */
static void find_max(relay *r, const char *who, double start, double step_s, step *best)
{
    static step s;
    double lo = 0, hi = 0, rate = start;

    memset(best, 0, sizeof *best);
    for (int i = 0; i < 16; i++) {
        run_step(r, &s, rate, step_s, 3);
        progress(who, &s);
        quiesce(r, 10);
        if (!s.passed) {
            hi = rate;
            break;
        }
        lo = rate;
        *best = s;
        rate *= 2;
    }
    for (int i = 0; hi > 0 && i < 8 && hi - lo > 0.05 * hi; i++) {
        rate = (lo + hi) / 2;
        run_step(r, &s, rate, step_s, 3);
        progress(who, &s);
        quiesce(r, 10);
        if (s.passed) {
            lo = rate;
            *best = s;
        } else {
            hi = rate;
        }
    }
}

static void report_step(bench_report *rep, const char *prefix, const step *s,
                        bool ventrad)
{
    char name[96];

#define ADD(n, v, u)                                                                     \
    do {                                                                                 \
        snprintf(name, sizeof name, "%s%s", prefix, n);                                  \
        bench_report_add(rep, name, v, u);                                               \
    } while (0)
    ADD("offered_msg_s", s->rate, "msg/s");
    ADD("sent", (double)s->sent, "msg");
    ADD("delivered", (double)s->delivered, "msg");
    ADD("delivered_msg_s", delivered_rate(s), "msg/s");
    ADD("latency_p50_ms", ms(lg_hist_quantile(&s->hist, 0.50)), "ms");
    ADD("latency_p99_ms", ms(lg_hist_quantile(&s->hist, 0.99)), "ms");
    ADD("latency_p999_ms", ms(lg_hist_quantile(&s->hist, 0.999)), "ms");
    ADD("latency_max_ms", ms(s->hist.max), "ms");
    ADD("lost", (double)s->lost, "msg");
    ADD("duplicated", (double)s->dup, "msg");
    ADD("unsent", (double)s->unsent, "msg");
    ADD("backlog_max", (double)s->backlog_max, "msg");
    ADD("late_sends", (double)s->late, "msg");
    if (ventrad) {
        ADD("send_errors", (double)s->send_err, "msg");
        ADD("decrypt_errors", (double)s->decrypt_err, "msg");
    }
    if (s->server_cpu_s > 0 || ventrad) {
        ADD("server_cpu_s", s->server_cpu_s, "s");
        ADD("server_cpu_us_per_msg",
            s->delivered ? s->server_cpu_s * 1e6 / (double)s->delivered : 0, "us");
    }
    ADD("generator_cpu_s", s->gen_cpu_s, "s");
#undef ADD
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ventra-bench relay [--url ws://HOST:PORT] [--pairs P] [--rate R]\n"
        "         [--duration S] [--size B] [--find-max] [--step S] [--drain S]\n"
        "         [--server-pid PID] [--baseline HOST:PORT|auto] [--baseline-pid PID]\n"
        "         [--coalesce] [--json]\n"
        "Without --url a ventrad is started here (--limits off, temporary data).\n");
}

int bench_relay(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"pairs", required_argument, NULL, 'p'},
        {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},
        {"size", required_argument, NULL, 's'},
        {"find-max", no_argument, NULL, 'f'},
        {"step", required_argument, NULL, 'S'},
        {"drain", required_argument, NULL, 'D'},
        {"server-pid", required_argument, NULL, 'P'},
        {"baseline", required_argument, NULL, 'b'},
        {"baseline-pid", required_argument, NULL, 'B'},
        {"coalesce", no_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char *const baseline_args[] = {"--listen", "127.0.0.1:0", NULL};
    const char *url = NULL, *baseline = NULL;
    double rate = 5000, duration = 5, step_s = 2, drain_s = 10;
    long pairs = 8, size = 256, spid = 0, bpid = 0;
    bool json = false, fmax = false, coalesce = false;
    lg_server srv, base;
    relay *vr = NULL, *br = NULL;
    static step vs, bs;
    bench_report *rep = NULL;
    char note[256];
    int opt, rc = 2;

    memset(&srv, 0, sizeof srv);
    memset(&base, 0, sizeof base);
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'p':
            pairs = atol(optarg);
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 's':
            size = atol(optarg);
            break;
        case 'f':
            fmax = true;
            break;
        case 'S':
            step_s = atof(optarg);
            break;
        case 'D':
            drain_s = atof(optarg);
            break;
        case 'P':
            spid = atol(optarg);
            break;
        case 'b':
            baseline = optarg;
            break;
        case 'B':
            bpid = atol(optarg);
            break;
        case 'c':
            coalesce = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || pairs < 1 || pairs > 4000 || rate <= 0 || duration <= 0 ||
        step_s <= 0 || drain_s < 0 || size < LG_PT_MIN ||
        size > (long)(VT_MAX_CONTENT_SIZE - VT_RATCHET_OVERHEAD)) {
        usage(stderr);
        fprintf(stderr, "size: %d to %u bytes\n", LG_PT_MIN,
                VT_MAX_CONTENT_SIZE - VT_RATCHET_OVERHEAD);
        return 2;
    }
    lg_raise_nofile();
    if (!lg_server_open(&srv, url, (pid_t)spid))
        return 1;
    if (baseline != NULL) {
        bool ok;

        if (strcmp(baseline, "auto") == 0) {
            ok = lg_server_spawn(&base, "relay_baseline", baseline_args);
        } else {
            ok = lg_target_parse(&base.target, baseline);
            base.pid = (pid_t)bpid;
            if (!ok)
                fprintf(stderr, "ventra-bench: bad --baseline %s\n", baseline);
        }
        if (!ok)
            goto out;
    }

    rc = 1;
    vr = relay_new((size_t)pairs, (size_t)size, false, srv.pid, coalesce);
    vr->frame_bytes = send_frame_bytes((size_t)size);
    if (!setup_ventrad(vr, &srv.target))
        goto out;
    if (baseline != NULL) {
        br = relay_new((size_t)pairs, (size_t)size, true, base.pid, coalesce);
        if (!setup_raw(br, &base.target))
            goto out;
    }

    if (fmax) {
        find_max(vr, "ventrad", rate, step_s, &vs);
        if (br != NULL)
            find_max(br, "baseline", rate, step_s, &bs);
    } else {
        run_step(vr, &vs, rate, duration, drain_s);
        progress("ventrad", &vs);
        if (br != NULL) {
            run_step(br, &bs, rate, duration, drain_s);
            progress("baseline", &bs);
        }
    }

    rep = bench_report_new("relay", json);
    snprintf(note, sizeof note, "ws://%s:%d%s", srv.target.host, srv.target.port,
             srv.target.path);
    bench_report_note(rep, "server", url ? note : "ventrad started here (--limits off)");
    bench_report_note(rep, "latency_from",
                      "scheduled send time (no coordinated omission)");
    bench_report_add(rep, "pairs", (double)pairs, "pairs");
    bench_report_add(rep, "size_b", (double)size, "B");
    bench_report_add(rep, "frame_b", (double)vr->frame_bytes, "B");
    bench_report_note(rep, "writes",
                      coalesce ? "coalesced per loop pass" : "one per message");
    if (fmax) {
        bench_report_add(rep, "max_rate_msg_s", vs.rate, "msg/s");
        bench_report_add(rep, "step_s", step_s, "s");
    } else {
        bench_report_add(rep, "duration_s", duration, "s");
    }
    report_step(rep, "", &vs, true);
    if (br != NULL) {
        report_step(rep, "baseline_", &bs, false);
        if (fmax) {
            bench_report_add(rep, "baseline_max_rate_msg_s", bs.rate, "msg/s");
            bench_report_add(rep, "max_rate_ratio", ratio(vs.rate, bs.rate), "x");
        }
        bench_report_add(rep, "delivered_ratio",
                         ratio(delivered_rate(&vs), delivered_rate(&bs)), "x");
        bench_report_add(rep, "p99_ratio",
                         ratio((double)lg_hist_quantile(&vs.hist, 0.99),
                               (double)lg_hist_quantile(&bs.hist, 0.99)),
                         "x");
        if (bs.server_cpu_s > 0 && vs.delivered > 0 && bs.delivered > 0)
            bench_report_add(rep, "cpu_per_msg_ratio",
                             ratio(vs.server_cpu_s / (double)vs.delivered,
                                   bs.server_cpu_s / (double)bs.delivered),
                             "x");
    }
    /* find-max reports the best passing step; otherwise the run must
     * have lost and duplicated nothing */
    rc = (fmax ? vs.rate > 0
               : vs.lost == 0 && vs.dup == 0 && vs.send_err == 0 && vs.decrypt_err == 0 &&
                     vs.bad == 0)
             ? 0
             : 1;
out:
    relay_free(vr);
    relay_free(br);
    if (lg_server_close(&base) != 0)
        rc = 1;
    return lg_finish(&srv, rep, rc);
}
