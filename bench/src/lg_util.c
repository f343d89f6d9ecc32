/* Helpers of ventra-bench's network modes: URLs, the latency histogram
 * (log-linear buckets as in HdrHistogram), the server under test (started
 * here or given by --url), CPU and memory from /proc, run-unique
 * usernames (spec/auth.md AUTH-1) and a fast PRNG for WebSocket masks. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "lg.h"
#include "ventra/crypto.h"

/* ---- targets ----------------------------------------------------------- */

bool lg_target_parse(lg_target *t, const char *url)
{
    const char *p = url, *colon, *slash;
    char *end;
    long port;
    size_t hl;

    memset(t, 0, sizeof *t);
    if (strncmp(p, "ws://", 5) == 0)
        p += 5;
    else if (strstr(p, "://") != NULL)
        return false; /* wss is not measured here: loopback, no TLS */
    colon = strchr(p, ':');
    if (colon == NULL)
        return false;
    hl = (size_t)(colon - p);
    if (hl == 0 || hl >= sizeof t->host)
        return false;
    memcpy(t->host, p, hl);
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || port <= 0 || port > 65535)
        return false;
    t->port = (int)port;
    slash = *end == '/' ? end : NULL;
    if (slash == NULL && *end != '\0')
        return false;
    snprintf(t->path, sizeof t->path, "%s", slash ? slash : VT_WS_PATH);
    for (const char *h = t->host; *h; h++)
        if (!((*h >= '0' && *h <= '9') || *h == '.'))
            return false;
    return true;
}

/* ---- histogram --------------------------------------------------------- */

static size_t bucket_of(uint64_t v)
{
    int e;

    if (v < LG_HIST_SUB)
        return (size_t)v;
    e = 63 - __builtin_clzll(v); /* 7..63 */
    return LG_HIST_SUB + (size_t)(e - 7) * LG_HIST_SUB +
           (size_t)((v >> (e - 7)) - LG_HIST_SUB);
}

/* The highest value that falls into bucket |i|. */
static uint64_t bucket_top(size_t i)
{
    size_t e, m;

    if (i < LG_HIST_SUB)
        return i;
    e = (i - LG_HIST_SUB) / LG_HIST_SUB + 7;
    m = (i - LG_HIST_SUB) % LG_HIST_SUB + LG_HIST_SUB;
    return ((uint64_t)(m + 1) << (e - 7)) - 1;
}

void lg_hist_reset(lg_hist *h)
{
    memset(h, 0, sizeof *h);
}

void lg_hist_add(lg_hist *h, uint64_t v)
{
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
    h->sum += (double)v;
    h->n[bucket_of(v)]++;
}

uint64_t lg_hist_quantile(const lg_hist *h, double q)
{
    uint64_t want, seen = 0;

    if (h->count == 0)
        return 0;
    want = (uint64_t)(q * (double)h->count + 0.999999);
    if (want < 1)
        want = 1;
    if (want > h->count)
        want = h->count;
    for (size_t i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= want) {
            uint64_t top = bucket_top(i);

            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}

double lg_hist_mean(const lg_hist *h)
{
    return h->count ? h->sum / (double)h->count : 0;
}

/* ---- processes and /proc ----------------------------------------------- */

bool lg_proc_cpu_s(pid_t pid, double *out)
{
    char path[64], buf[2048];
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;
    char *p;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces: fields restart after its ')' */
    p = strrchr(buf, ')');
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
               &st) != 2)
        return false;
    *out = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return true;
}

bool lg_proc_rss_kib(pid_t pid, uint64_t *out)
{
    char path[64], line[256];
    bool ok = false;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long kib;

        if (sscanf(line, "VmRSS: %llu kB", &kib) == 1) {
            *out = kib;
            ok = true;
            break;
        }
    }
    fclose(f);
    return ok;
}

double lg_self_cpu_s(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* $VENTRA_BIN (a directory, or a file in the directory) or the directory
 * of this program, then |name|. */
static bool find_program(char *out, size_t cap, const char *name)
{
    const char *env = getenv("VENTRA_BIN");
    char dir[PATH_MAX];
    struct stat st;

    if (env != NULL && env[0] != '\0') {
        snprintf(dir, sizeof dir, "%s", env);
        if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
            char *slash = strrchr(dir, '/');

            if (slash == NULL)
                snprintf(dir, sizeof dir, ".");
            else
                *slash = '\0';
        }
    } else {
        ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
        char *slash;

        if (n <= 0)
            return false;
        dir[n] = '\0';
        slash = strrchr(dir, '/');
        if (slash == NULL)
            return false;
        *slash = '\0';
    }
    if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
        return false;
    return access(out, X_OK) == 0;
}

/* Reads the log at |path| for "msg=listening" and its "addr=HOST:PORT". */
static bool listening_addr(const char *path, lg_target *t)
{
    char line[1024];
    bool ok = false;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return false;
    while (!ok && fgets(line, sizeof line, f) != NULL) {
        char *a = strstr(line, "addr=");
        char addr[128];

        if (strstr(line, "msg=listening") == NULL || a == NULL)
            continue;
        if (sscanf(a + 5, "%127[^ \n]", addr) == 1)
            ok = lg_target_parse(t, addr);
    }
    fclose(f);
    return ok;
}

bool lg_server_spawn(lg_server *s, const char *name, const char *const *args)
{
    char exe[PATH_MAX];
    const char *argv[64];
    size_t n = 0;
    pid_t pid;

    memset(s, 0, sizeof *s);
    if (!find_program(exe, sizeof exe, name)) {
        fprintf(stderr, "ventra-bench: cannot find %s (set VENTRA_BIN)\n", name);
        return false;
    }
    snprintf(s->dir, sizeof s->dir, "/tmp/ventra-bench.XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        perror("ventra-bench: mkdtemp");
        s->dir[0] = '\0';
        return false;
    }
    snprintf(s->log, sizeof s->log, "%s/%s.log", s->dir, name);
    argv[n++] = exe;
    for (size_t i = 0; args[i] != NULL && n < 62; i++)
        argv[n++] = strcmp(args[i], "@DIR") == 0 ? s->dir : args[i];
    argv[n] = NULL;
    pid = fork();
    if (pid < 0) {
        perror("ventra-bench: fork");
        return false;
    }
    if (pid == 0) {
        FILE *f = freopen(s->log, "w", stderr);

        /* never outlive an interrupted bench */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (f == NULL)
            _exit(127);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    s->child = s->pid = pid;
    for (int i = 0; i < 1000; i++) { /* 10 s */
        int status;

        if (listening_addr(s->log, &s->target)) {
            if (strcmp(name, "ventrad") == 0)
                snprintf(s->target.path, sizeof s->target.path, "%s", VT_WS_PATH);
            return true;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "ventra-bench: %s exited at start (see %s)\n", name, s->log);
            s->child = s->pid = 0;
            return false;
        }
        usleep(10000);
    }
    fprintf(stderr, "ventra-bench: %s did not report listening (see %s)\n", name, s->log);
    return false;
}

bool lg_server_open(lg_server *s, const char *url, pid_t pid)
{
    static const char *const args[] = {"--listen", "127.0.0.1:0", "--data", "@DIR",
                                       "--limits", "off",         NULL};

    if (url == NULL) {
        if (!lg_server_spawn(s, "ventrad", args)) {
            lg_server_close(s);
            return false;
        }
        return true;
    }
    memset(s, 0, sizeof *s);
    if (!lg_target_parse(&s->target, url)) {
        fprintf(stderr, "ventra-bench: bad --url %s (want ws://HOST:PORT[/PATH])\n", url);
        return false;
    }
    s->pid = pid;
    return true;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int lg_server_close(lg_server *s)
{
    int rc = 0;

    if (s->child > 0) {
        int status = 0;
        bool gone = false;

        kill(s->child, SIGTERM);
        for (int i = 0; i < 1500 && !gone; i++) { /* 15 s */
            if (waitpid(s->child, &status, WNOHANG) == s->child)
                gone = true;
            else
                usleep(10000);
        }
        if (!gone) {
            kill(s->child, SIGKILL);
            waitpid(s->child, &status, 0);
            rc = -1;
        } else {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        if (rc != 0)
            fprintf(stderr, "ventra-bench: server exit status %d (log %s)\n", rc, s->log);
        s->child = 0;
    }
    if (s->dir[0] != '\0' && (rc == 0 || getenv("VENTRA_BENCH_KEEP") == NULL)) {
        nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        s->dir[0] = '\0';
    }
    return rc;
}

/* ---- small things ------------------------------------------------------ */

void lg_username(char out[33], const char *prefix, uint32_t tag, uint64_t n)
{
    snprintf(out, 33, "%s%06x.%llu", prefix, tag & 0xffffffu, (unsigned long long)n);
}

uint64_t lg_rand64(void)
{
    static uint64_t s;

    if (s == 0) {
        uint8_t seed[8];

        if (vt_random_bytes(seed, sizeof seed) != VT_OK)
            abort();
        memcpy(&s, seed, sizeof s);
        s |= 1;
    }
    /* xorshift64* */
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
}

uint64_t lg_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

int lg_finish(lg_server *s, struct bench_report *rep, int rc)
{
    if (s->child > 0) {
        int st = lg_server_close(s);
        if (rep != NULL)
            bench_report_add(rep, "server_exit_status", st, "code");
        if (st != 0)
            rc = 1;
    }
    if (rep != NULL)
        bench_report_end(rep);
    return rc;
}
