/* ventra-bench drain: N messages queued for an offline device (the sender
 * pipelines its Sends within the in-flight limit), then the device logs in
 * and the time from Login sent to its QueueDrainedEvent, with all N pushed,
 * decrypted and acknowledged, is measured (spec/delivery.md DELIV-43 to
 * DELIV-45, DELIV-50 to DELIV-53). */
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

/* Acks go out in batches (DELIV-53): once half a push window is pending,
 * or when the oldest pending seq has waited ACK_DELAY_NS. */
#define ACK_MIN (VT_PUSH_WINDOW / 2)
#define ACK_DELAY_NS 10000000u

typedef struct drain {
    lg_loop *loop;
    size_t n, size;
    uint8_t run[8];
    vt_ratchet *tx, *rx;
    uint8_t *pt, *ct;
    uint8_t *seen;
    /* the sender */
    uint64_t queued, send_ok, send_err;
    /* the device */
    uint64_t received, dup, bad, decrypt_err, acked, ack_err;
    uint64_t pend[VT_MAX_ACK_BATCH];
    size_t npend;
    uint64_t pend_since;
    bool drained;
    uint32_t drained_count;
    uint64_t t_first, t_drained, t_done;
    bool failed;
} drain;

static void on_send_response(lg_client *c, void *ud, uint64_t tag,
                             const Ventra__V1__Response *r)
{
    drain *d = ud;

    (void)c;
    (void)tag;
    if (r->error != NULL || r->body_case != VENTRA__V1__RESPONSE__BODY_SEND) {
        if (d->send_err++ == 0)
            fprintf(stderr, "ventra-bench: Send refused: %d\n",
                    r->error ? (int)r->error->code : -1);
        return;
    }
    d->send_ok++;
}

static void on_ack_response(lg_client *c, void *ud, uint64_t tag,
                            const Ventra__V1__Response *r)
{
    drain *d = ud;

    (void)c;
    if (r->error != NULL || r->body_case != VENTRA__V1__RESPONSE__BODY_ACK) {
        d->ack_err++;
        return;
    }
    d->acked += tag; /* the tag is the batch size */
    if (d->drained && d->acked >= d->n && d->t_done == 0)
        d->t_done = bench_now_ns();
}

static void on_event(lg_client *c, void *ud, const Ventra__V1__Event *ev)
{
    drain *d = ud;
    const Ventra__V1__MessageEvent *m;
    uint32_t stream, idx;
    uint64_t index, t_ns;
    size_t len = 0;

    (void)c;
    if (ev->body_case == VENTRA__V1__EVENT__BODY_QUEUE_DRAINED) {
        d->drained = true;
        d->drained_count = ev->queue_drained->count;
        d->t_drained = bench_now_ns();
        if (d->acked >= d->n && d->t_done == 0)
            d->t_done = d->t_drained;
        return;
    }
    if (ev->body_case != VENTRA__V1__EVENT__BODY_MESSAGE)
        return;
    m = ev->message;
    if (m->ephemeral || m->seq == 0)
        return;
    if (d->npend == 0)
        d->pend_since = bench_now_ns();
    if (d->npend < VT_MAX_ACK_BATCH)
        d->pend[d->npend++] = m->seq;
    if (d->t_first == 0)
        d->t_first = bench_now_ns();
    if (!lg_mid_get(m->message_id.data, m->message_id.len, d->run, &stream, &idx) ||
        idx >= d->n) {
        d->bad++;
        return;
    }
    if (d->seen[idx]) { /* DELIV-90 */
        d->dup++;
        return;
    }
    if (vt_ratchet_decrypt(d->rx, d->pt, d->size, &len, m->content.data, m->content.len,
                           (uint64_t)time(NULL), NULL) != VT_OK ||
        !lg_pt_get(d->pt, len, &stream, &index, &t_ns) || index != idx) {
        d->decrypt_err++;
        return;
    }
    d->seen[idx] = 1;
    d->received++;
}

static void on_fail(lg_client *c, void *ud, const char *what, int code)
{
    drain *d = ud;

    (void)c;
    d->failed = true;
    fprintf(stderr, "ventra-bench: %s failed (%d)\n", what, code);
}

static const lg_client_cbs sender_cbs = {NULL, on_send_response, NULL, on_fail};
static const lg_client_cbs device_cbs = {NULL, on_ack_response, on_event, on_fail};

/* Runs the loop until |done| says so, |d| failed, or |seconds| pass. */
static bool run_until(drain *d, bool (*done)(const drain *, const lg_client *),
                      const lg_client *c, double seconds)
{
    double end = bench_now() + seconds;

    while (!done(d, c)) {
        if (d->failed || bench_now() > end)
            return false;
        lg_loop_run(d->loop, 5000000u);
    }
    return true;
}

static bool is_ready(const drain *d, const lg_client *c)
{
    (void)d;
    return lg_client_ready(c) || lg_client_failed(c);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ventra-bench drain [--url ws://HOST:PORT] [-n N] [--size B]\n"
               "         [--server-pid PID] [--json]\n");
}

int bench_drain(int argc, char **argv)
{
    static const struct option longopts[] = {{"url", required_argument, NULL, 'u'},
                                             {"size", required_argument, NULL, 's'},
                                             {"server-pid", required_argument, NULL, 'P'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *url = NULL;
    long n = 10000, size = 256, spid = 0;
    bool json = false;
    vt_identity *sid = NULL, *rid = NULL;
    lg_client *snd = NULL, *dev = NULL;
    char sname[33], rname[33];
    uint8_t server_key[32];
    uint32_t tag, dev_id;
    double cpu0 = 0, cpu1 = 0, gen0, gen1, fill_s;
    uint64_t t_fill, t_login;
    bench_report *rep = NULL;
    lg_server srv;
    drain d;
    int opt, rc = 1;

    memset(&d, 0, sizeof d);
    optind = 0;
    while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'n':
            n = atol(optarg);
            break;
        case 's':
            size = atol(optarg);
            break;
        case 'P':
            spid = atol(optarg);
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
    if (optind < argc || n < 1 || n > (long)VT_MAX_QUEUE_DEPTH || size < LG_PT_MIN ||
        size > (long)(VT_MAX_CONTENT_SIZE - VT_RATCHET_OVERHEAD)) {
        usage(stderr);
        return 2;
    }
    if (!lg_server_open(&srv, url, (pid_t)spid))
        return 1;
    d.loop = lg_loop_new();
    d.n = (size_t)n;
    d.size = (size_t)size;
    d.pt = calloc(1, d.size);
    d.ct = calloc(1, d.size + VT_RATCHET_OVERHEAD);
    d.seen = calloc(1, d.n);
    if (d.pt == NULL || d.ct == NULL || d.seen == NULL ||
        vt_random_bytes(d.run, sizeof d.run) != VT_OK ||
        vt_identity_generate(&sid) != VT_OK || vt_identity_generate(&rid) != VT_OK)
        goto out;
    memcpy(&tag, d.run, sizeof tag);
    lg_username(sname, "ds", tag, 0);
    lg_username(rname, "dr", tag, 0);

    /* both accounts; the device goes offline at once */
    snd = lg_client_start(
        d.loop, &(lg_client_opts){.target = &srv.target, .username = sname, .id = sid},
        &sender_cbs, &d);
    dev = lg_client_start(
        d.loop, &(lg_client_opts){.target = &srv.target, .username = rname, .id = rid},
        &device_cbs, &d);
    if (!run_until(&d, is_ready, snd, 30) || !run_until(&d, is_ready, dev, 30) ||
        !lg_client_ready(snd) || !lg_client_ready(dev)) {
        fprintf(stderr, "ventra-bench: registration failed\n");
        goto out;
    }
    if (!lg_session_pair(sid, rid, &d.tx, &d.rx))
        goto out;
    dev_id = lg_client_device_id(dev);
    memcpy(server_key, lg_client_server_key(dev), 32);
    lg_client_free(dev);
    dev = NULL;
    for (double end = bench_now() + 0.3; bench_now() < end;)
        lg_loop_run(d.loop, 10000000u); /* the server sees the device leave */

    /* fill the queue: Sends pipelined up to the in-flight limit */
    t_fill = bench_now_ns();
    while (d.send_ok + d.send_err < d.n && !d.failed) {
        while (d.queued < d.n && lg_client_inflight(snd) < lg_client_max_inflight(snd)) {
            uint8_t mid[16];
            size_t clen = 0;

            lg_pt_put(d.pt, d.size, 0, d.queued, bench_now_ns());
            if (vt_ratchet_encrypt(d.tx, d.ct, d.size + VT_RATCHET_OVERHEAD, &clen, d.pt,
                                   d.size) != VT_OK)
                goto out;
            lg_mid_put(mid, d.run, 0, (uint32_t)d.queued);
            if (!lg_client_send(snd, rname, mid, dev_id,
                                VENTRA__V1__ENVELOPE_TYPE__ENVELOPE_TYPE_MESSAGE, d.ct,
                                clen, d.queued))
                break;
            d.queued++;
        }
        lg_loop_run(d.loop, 5000000u);
    }
    fill_s = (double)(bench_now_ns() - t_fill) / 1e9;
    if (d.send_ok != d.n) {
        fprintf(stderr, "ventra-bench: %llu of %zu sends accepted\n",
                (unsigned long long)d.send_ok, d.n);
        goto out;
    }

    /* the device logs in; acks go out every loop pass (up to
     * MAX_ACK_BATCH), so the push window keeps moving */
    if (srv.pid > 0)
        lg_proc_cpu_s(srv.pid, &cpu0);
    gen0 = lg_self_cpu_s();
    dev = lg_client_start(d.loop,
                          &(lg_client_opts){.target = &srv.target,
                                            .username = rname,
                                            .id = rid,
                                            .login = true,
                                            .device_id = dev_id,
                                            .server_key = server_key},
                          &device_cbs, &d);
    for (double end = bench_now() + 60; d.t_done == 0;) {
        uint64_t now = bench_now_ns(), timeout = 5000000u;

        if (d.failed || bench_now() > end) {
            fprintf(stderr, "ventra-bench: drain incomplete: %llu of %zu received\n",
                    (unsigned long long)d.received, d.n);
            goto out;
        }
        if (d.npend > 0 &&
            (d.npend >= ACK_MIN || d.drained || now - d.pend_since >= ACK_DELAY_NS) &&
            lg_client_ack(dev, d.pend, d.npend, d.npend))
            d.npend = 0;
        if (d.npend > 0)
            timeout =
                d.pend_since + ACK_DELAY_NS > now ? d.pend_since + ACK_DELAY_NS - now : 0;
        lg_loop_run(d.loop, timeout);
    }
    if (srv.pid > 0)
        lg_proc_cpu_s(srv.pid, &cpu1);
    gen1 = lg_self_cpu_s();
    t_login = lg_client_auth_sent_ns(dev);

    rep = bench_report_new("drain", json);
    bench_report_add(rep, "messages", (double)d.n, "msg");
    bench_report_add(rep, "size_b", (double)d.size, "B");
    bench_report_add(rep, "queue_fill_s", fill_s, "s");
    bench_report_add(rep, "queue_fill_msg_s", (double)d.n / fill_s, "msg/s");
    bench_report_add(rep, "first_message_ms", (double)(d.t_first - t_login) / 1e6, "ms");
    bench_report_add(rep, "queue_drained_event_s", (double)(d.t_drained - t_login) / 1e9,
                     "s");
    bench_report_add(rep, "drain_s", (double)(d.t_done - t_login) / 1e9, "s");
    bench_report_add(rep, "drain_msg_s",
                     (double)d.n / ((double)(d.t_done - t_login) / 1e9), "msg/s");
    /* the same messages went in through Send: draining should be faster */
    bench_report_add(rep, "drain_to_fill_speed_ratio",
                     ((double)d.n / ((double)(d.t_done - t_login) / 1e9)) /
                         ((double)d.n / fill_s),
                     "x");
    bench_report_add(rep, "received", (double)d.received, "msg");
    bench_report_add(rep, "drained_count", d.drained_count, "msg");
    bench_report_add(rep, "duplicated", (double)d.dup, "msg");
    bench_report_add(rep, "decrypt_errors", (double)d.decrypt_err, "msg");
    if (srv.pid > 0)
        bench_report_add(rep, "server_cpu_s", cpu1 - cpu0, "s");
    /* the device's share: decrypting, decoding, acking */
    bench_report_add(rep, "client_cpu_s", gen1 - gen0, "s");
    rc = d.received == d.n && d.drained_count == d.n && d.dup == 0 && d.bad == 0 &&
                 d.decrypt_err == 0 && d.ack_err == 0
             ? 0
             : 1;
out:
    lg_client_free(snd);
    lg_client_free(dev);
    if (d.loop != NULL) {
        lg_loop_run(d.loop, 0);
        lg_loop_free(d.loop);
    }
    vt_ratchet_free(d.tx);
    vt_ratchet_free(d.rx);
    vt_identity_free(sid);
    vt_identity_free(rid);
    if (d.pt != NULL)
        vt_wipe(d.pt, d.size);
    free(d.pt);
    free(d.ct);
    free(d.seen);
    return lg_finish(&srv, rep, rc);
}
