/* ventra-bench conns: N authenticated idle connections, spread over
 * several child processes (one process may hold at most 20,000 open files
 * here, DESIGN.md section 10) and source addresses 127.0.0.1, 127.0.0.2,
 * ..., held with WebSocket keep-alives (spec/wire.md WIRE-11, WIRE-12);
 * prints the server's resident memory per connection. The accounts are
 * registered first and their connections closed, so the memory measured
 * "before" already holds the store's cache; then every device logs in
 * again (spec/auth.md Login) and stays connected. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "lg.h"
#include "ventra/crypto.h"

#define PER_PROC_MAX 5000
#define SETUP_WINDOW 128

/* What a child reports on its pipe (one write each, atomic). */
enum { R_REGISTERED = 1, R_READY, R_DONE };

typedef struct record {
    uint32_t kind;
    uint32_t ok;          /* registered / authenticated / still open */
    uint32_t failed;      /* setup failures / closed during the hold */
    uint32_t conn_failed; /* could not connect or upgrade */
    double seconds;       /* duration of the phase */
    uint64_t pings;       /* keep-alive pings sent (R_DONE) */
} record;

typedef struct child_ctx {
    uint32_t conn_failed, failed, closed;
    bool registering, holding;
} child_ctx;

/* Registration closes each connection at once, so the server never holds
 * more than the setup window of them before the measured phase. */
static void child_on_ready(lg_client *c, void *ud)
{
    child_ctx *x = ud;

    if (x->registering)
        lg_client_close(c);
}

static void child_on_fail(lg_client *c, void *ud, const char *what, int code)
{
    child_ctx *x = ud;

    (void)c;
    (void)code;
    if (x->holding)
        x->closed++;
    else if (strcmp(what, "connect") == 0)
        x->conn_failed++;
    else
        x->failed++;
}

static const lg_client_cbs child_cbs = {child_on_ready, NULL, NULL, child_on_fail};

static void put(int fd, const record *r)
{
    ssize_t n;

    do
        n = write(fd, r, sizeof *r);
    while (n < 0 && errno == EINTR);
}

/* One byte from the parent; -1 on end of file, 0 when none yet. */
static int poll_ctl(int fd)
{
    char b;
    ssize_t n = read(fd, &b, 1);

    if (n == 1)
        return b;
    if (n == 0)
        return -1;
    return 0;
}

/* Waits (running the loop) for a byte from the parent. */
static int wait_ctl(lg_loop *l, int fd)
{
    for (;;) {
        int b = poll_ctl(fd);

        if (b != 0)
            return b;
        lg_loop_run(l, 50000000u);
    }
}

static int child_main(int k, size_t n, const lg_target *t, double ping_s, int up,
                      int down)
{
    lg_loop *l = lg_loop_new();
    vt_identity **ids = calloc(n, sizeof *ids);
    char(*names)[33] = calloc(n, sizeof *names);
    lg_client_opts *opts = calloc(n, sizeof *opts);
    lg_client **cl = calloc(n, sizeof *cl);
    void **uds = calloc(n, sizeof *uds);
    const lg_client_cbs **cbs = calloc(n, sizeof *cbs);
    child_ctx ctx;
    char src[32];
    uint8_t run[4], server_key[32];
    uint32_t tag;
    record rec;
    double t0;
    size_t ready = 0;
    bool have_key = false;

    if (ids == NULL || names == NULL || opts == NULL || cl == NULL || uds == NULL ||
        cbs == NULL)
        return 1;
    memset(&ctx, 0, sizeof ctx);
    fcntl(down, F_SETFL, O_NONBLOCK);
    lg_raise_nofile();
    snprintf(src, sizeof src, "127.0.0.%d", k + 1);
    if (vt_random_bytes(run, sizeof run) != VT_OK)
        return 1;
    memcpy(&tag, run, sizeof tag);
    for (size_t i = 0; i < n; i++) {
        if (vt_identity_generate(&ids[i]) != VT_OK)
            return 1;
        lg_username(names[i], "c", tag, (uint64_t)k * 1000000u + i);
        opts[i] = (lg_client_opts){
            .target = t, .src_ip = src, .username = names[i], .id = ids[i]};
        uds[i] = &ctx;
        cbs[i] = &child_cbs;
    }

    /* phase 1: register every account, then go offline */
    ctx.registering = true;
    t0 = bench_now();
    lg_clients_setup(l, cl, opts, n, SETUP_WINDOW, 600, cbs, uds);
    memset(&rec, 0, sizeof rec);
    rec.kind = R_REGISTERED;
    rec.seconds = bench_now() - t0;
    for (size_t i = 0; i < n; i++) {
        if (lg_client_ready(cl[i])) {
            rec.ok++;
            opts[i].login = true;
            opts[i].device_id = lg_client_device_id(cl[i]);
            if (!have_key) {
                memcpy(server_key, lg_client_server_key(cl[i]), 32);
                have_key = true;
            }
        }
        lg_client_free(cl[i]);
        cl[i] = NULL;
    }
    lg_loop_run(l, 0);
    rec.failed = ctx.failed;
    rec.conn_failed = ctx.conn_failed;
    put(up, &rec);
    if (wait_ctl(l, down) != 'g')
        return 1;

    /* phase 2: log every registered device in and hold */
    memset(&ctx, 0, sizeof ctx);
    size_t m = 0;

    for (size_t i = 0; i < n; i++)
        if (opts[i].login) {
            opts[m] = opts[i];
            opts[m].server_key = server_key; /* no GetServerInfo this time */
            m++;
        }
    t0 = bench_now();
    ready = lg_clients_setup(l, cl, opts, m, SETUP_WINDOW, 600, cbs, uds);
    memset(&rec, 0, sizeof rec);
    rec.kind = R_READY;
    rec.ok = (uint32_t)ready;
    rec.failed = ctx.failed;
    rec.conn_failed = ctx.conn_failed;
    rec.seconds = bench_now() - t0;
    put(up, &rec);
    ctx.holding = true;

    uint64_t pings = 0, next = bench_now_ns();

    for (;;) {
        int b = poll_ctl(down);
        uint64_t now = bench_now_ns();

        if (b != 0)
            break;
        if (now >= next) {
            pings += lg_loop_keepalive(l, now, (uint64_t)(ping_s * 1e9));
            next = now + 1000000000u;
        }
        lg_loop_run(l, 100000000u);
    }
    memset(&rec, 0, sizeof rec);
    rec.kind = R_DONE;
    for (size_t i = 0; i < m; i++)
        rec.ok += lg_client_ready(cl[i]);
    rec.failed = ctx.closed;
    rec.pings = pings;
    put(up, &rec);
    for (size_t i = 0; i < m; i++)
        lg_client_free(cl[i]);
    for (size_t i = 0; i < n; i++)
        vt_identity_free(ids[i]);
    lg_loop_free(l);
    free(ids);
    free(names);
    free(opts);
    free(cl);
    free(uds);
    free(cbs);
    return 0;
}

typedef struct kid {
    pid_t pid;
    int up, down;
    record last;
    bool got;
} kid;

/* Reads one record of |kind| from every child, at most |timeout_s|. */
static bool gather(kid *kids, int nk, uint32_t kind, double timeout_s)
{
    double end = bench_now() + timeout_s;

    for (int i = 0; i < nk; i++)
        kids[i].got = false;
    for (int left = nk; left > 0;) {
        if (bench_now() > end)
            return false;
        for (int i = 0; i < nk; i++) {
            record r;
            ssize_t n;

            if (kids[i].got)
                continue;
            n = read(kids[i].up, &r, sizeof r);
            if (n == (ssize_t)sizeof r && r.kind == kind) {
                kids[i].last = r;
                kids[i].got = true;
                left--;
            } else if (n == 0) {
                return false; /* the child died */
            }
        }
        usleep(20000);
    }
    return true;
}

static void tell(kid *kids, int nk, char b)
{
    for (int i = 0; i < nk; i++)
        if (write(kids[i].down, &b, 1) != 1)
            fprintf(stderr, "ventra-bench: child %d is gone\n", i);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ventra-bench conns [--url ws://HOST:PORT] -n N [--procs K]\n"
               "         [--hold S] [--ping S] [--server-pid PID] [--json]\n");
}

int bench_conns(int argc, char **argv)
{
    static const struct option longopts[] = {{"url", required_argument, NULL, 'u'},
                                             {"procs", required_argument, NULL, 'k'},
                                             {"hold", required_argument, NULL, 'H'},
                                             {"ping", required_argument, NULL, 'i'},
                                             {"server-pid", required_argument, NULL, 'P'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *url = NULL;
    long n = 1000, procs = 0, spid = 0;
    double hold = 10, ping_s = 5;
    bool json = false;
    uint64_t rss0 = 0, rss_before = 0, rss_with = 0, rss_max = 0;
    uint32_t regd = 0, reg_failed = 0, authed = 0, conn_failed = 0;
    uint32_t open_end = 0, closed = 0;
    uint64_t pings = 0;
    double reg_s = 0, login_s = 0, cpu0 = 0, cpu1 = 0, cpu2 = 0, hold_wall = 0;
    kid *kids = NULL;
    int nk = 0, opt, rc = 1;
    bench_report *rep;
    lg_server srv;

    optind = 0;
    while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'n':
            n = atol(optarg);
            break;
        case 'k':
            procs = atol(optarg);
            break;
        case 'H':
            hold = atof(optarg);
            break;
        case 'i':
            ping_s = atof(optarg);
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
    if (optind < argc || n < 1 || procs < 0 || procs > 250 || hold < 0 || ping_s <= 0) {
        usage(stderr);
        return 2;
    }
    if (procs == 0)
        procs = (n + PER_PROC_MAX - 1) / PER_PROC_MAX;
    if (procs > n)
        procs = n;
    if (!lg_server_open(&srv, url, (pid_t)spid))
        return 1;
    fflush(NULL);
    kids = calloc((size_t)procs, sizeof *kids);
    if (kids == NULL)
        goto out;
    if (srv.pid > 0)
        lg_proc_rss_kib(srv.pid, &rss0);
    for (nk = 0; nk < procs; nk++) {
        size_t share = (size_t)(n / procs + (nk < n % procs ? 1 : 0));
        int up[2], down[2];
        pid_t pid;

        if (pipe(up) != 0 || pipe(down) != 0)
            goto out;
        pid = fork();
        if (pid < 0)
            goto out;
        if (pid == 0) {
            close(up[0]);
            close(down[1]);
            _exit(child_main(nk, share, &srv.target, ping_s, up[1], down[0]));
        }
        close(up[1]);
        close(down[0]);
        fcntl(up[0], F_SETFL, O_NONBLOCK);
        kids[nk] = (kid){.pid = pid, .up = up[0], .down = down[1]};
    }

    if (!gather(kids, nk, R_REGISTERED, 900)) {
        fprintf(stderr, "ventra-bench: registration did not finish\n");
        goto out;
    }
    for (int i = 0; i < nk; i++) {
        regd += kids[i].last.ok;
        reg_failed += kids[i].last.failed + kids[i].last.conn_failed;
        if (kids[i].last.seconds > reg_s)
            reg_s = kids[i].last.seconds;
    }
    usleep(1000000); /* the server lets go of the closed connections */
    if (srv.pid > 0) {
        lg_proc_rss_kib(srv.pid, &rss_before);
        lg_proc_cpu_s(srv.pid, &cpu0);
    }
    tell(kids, nk, 'g');
    if (!gather(kids, nk, R_READY, 900)) {
        fprintf(stderr, "ventra-bench: logins did not finish\n");
        goto out;
    }
    for (int i = 0; i < nk; i++) {
        authed += kids[i].last.ok;
        conn_failed += kids[i].last.conn_failed;
        if (kids[i].last.seconds > login_s)
            login_s = kids[i].last.seconds;
    }
    if (srv.pid > 0)
        lg_proc_cpu_s(srv.pid, &cpu1);
    /* hold: sample the server's memory every second */
    hold_wall = bench_now();
    for (double end = bench_now() + (hold > 1 ? hold : 1); bench_now() < end;) {
        uint64_t v = 0;

        usleep(1000000);
        if (srv.pid > 0 && lg_proc_rss_kib(srv.pid, &v)) {
            rss_with = v;
            if (v > rss_max)
                rss_max = v;
        }
    }
    hold_wall = bench_now() - hold_wall;
    if (srv.pid > 0)
        lg_proc_cpu_s(srv.pid, &cpu2);
    tell(kids, nk, 's');
    if (!gather(kids, nk, R_DONE, 60))
        fprintf(stderr, "ventra-bench: a child did not report the end of the hold\n");
    for (int i = 0; i < nk; i++) {
        open_end += kids[i].last.ok;
        closed += kids[i].last.failed;
        pings += kids[i].last.pings;
    }

    rep = bench_report_new("conns", json);
    bench_report_add(rep, "requested", (double)n, "conns");
    bench_report_add(rep, "procs", (double)nk, "procs");
    bench_report_add(rep, "registered", regd, "accounts");
    bench_report_add(rep, "register_failed", reg_failed, "accounts");
    bench_report_add(rep, "register_s", reg_s, "s");
    /* the measured phase: every registered device connects and logs in */
    bench_report_add(rep, "connected", (double)regd - conn_failed, "conns");
    bench_report_add(rep, "authenticated", authed, "conns");
    bench_report_add(rep, "failed", (double)n - authed, "conns");
    bench_report_add(rep, "login_s", login_s, "s");
    bench_report_add(rep, "login_rate_conns_s", login_s > 0 ? authed / login_s : 0,
                     "conns/s");
    bench_report_add(rep, "hold_s", hold, "s");
    bench_report_add(rep, "keepalive_pings", (double)pings, "pings");
    bench_report_add(rep, "closed_during_hold", closed, "conns");
    bench_report_add(rep, "open_at_end", open_end, "conns");
    if (srv.pid > 0) {
        double per =
            authed ? ((double)rss_with - (double)rss_before) * 1024.0 / authed : 0;

        bench_report_add(rep, "server_rss_initial_kib", (double)rss0, "KiB");
        bench_report_add(rep, "server_rss_before_kib", (double)rss_before, "KiB");
        bench_report_add(rep, "server_rss_with_kib", (double)rss_with, "KiB");
        bench_report_add(rep, "server_rss_max_kib", (double)rss_max, "KiB");
        bench_report_add(rep, "server_rss_per_conn_b", per, "B");
        /* issue 7's budget: 4 KiB of server memory per connection */
        bench_report_add(rep, "per_conn_budget_b", 4096, "B");
        bench_report_add(rep, "per_conn_to_budget_ratio", per / 4096.0, "x");
        bench_report_add(rep, "server_login_cpu_ms_per_conn",
                         authed ? (cpu1 - cpu0) * 1e3 / authed : 0, "ms");
        /* an idle server's cost of holding them: keep-alives, timers */
        bench_report_add(rep, "server_hold_cpu_pct",
                         hold_wall > 0 ? (cpu2 - cpu1) * 100 / hold_wall : 0, "%");
    }
    rc = authed == (uint32_t)n && closed == 0 ? 0 : 1;
    for (int i = 0; i < nk; i++)
        waitpid(kids[i].pid, NULL, 0);
    nk = 0;
    rc = lg_finish(&srv, rep, rc);
out:
    for (int i = 0; i < nk; i++) {
        kill(kids[i].pid, SIGTERM);
        waitpid(kids[i].pid, NULL, 0);
    }
    if (srv.child > 0)
        lg_server_close(&srv);
    free(kids);
    return rc;
}
