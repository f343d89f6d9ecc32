/* The process harness of the test kit: runs the real ventrad on a free
 * loopback port with a fresh data directory, finds its port in the
 * "msg=listening" log line, stops it with a signal, and reads the server
 * key from <data>/server.key (the ventrad contract; keys: spec/auth.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ventra/crypto.h"
#include "vtc_server.h"
#include "vtc_int.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static size_t file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

char *vtc_server_log(const vtc_server *srv)
{
    FILE *f = fopen(srv->log_path, "rb");
    char *buf;
    size_t n = 0, cap = 4096, r;

    buf = vtc_xmalloc(cap);
    if (f == NULL) {
        buf[0] = '\0';
        return buf;
    }
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 1024) {
            cap *= 2;
            buf = vtc_xrealloc(buf, cap);
        }
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The port of the "msg=listening addr=HOST:PORT" line after |from|, or 0. */
static int find_port(const vtc_server *srv, size_t from)
{
    char *log = vtc_server_log(srv);
    char *p = strlen(log) >= from ? log + from : log + strlen(log);
    int port = 0;

    while ((p = strstr(p, "msg=listening")) != NULL) {
        char *eol = strchr(p, '\n');
        char *addr = strstr(p, "addr=");

        if (eol == NULL)
            break; /* the line is not complete yet */
        if (addr != NULL && addr < eol) {
            char *colon = NULL, *q;

            for (q = addr + 5; q < eol && *q != ' ' && *q != '\t'; q++)
                if (*q == ':')
                    colon = q;
            if (colon != NULL)
                port = atoi(colon + 1);
            if (port > 0)
                break;
        }
        p = eol;
    }
    free(log);
    return port;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw);

/* Removes the temporary directory holding data_dir and the log. */
static void remove_tree(vtc_server *srv)
{
    char base[256];
    char *slash;

    if (srv->data_dir[0] == '\0')
        return;
    snprintf(base, sizeof base, "%s", srv->data_dir);
    slash = strrchr(base, '/');
    if (slash != NULL && strncmp(base, "/tmp/vtc-", 9) == 0) {
        *slash = '\0';
        if (getenv("VTC_KEEP") == NULL)
            nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        else
            fprintf(stderr, "vtc: kept %s\n", base);
    }
    srv->data_dir[0] = '\0';
}

/* A failed start: cmocka runs no group teardown after a failed group
 * setup, so the kit cleans up before it fails the test. */
__attribute__((noreturn)) static void launch_failed(vtc_server *srv, const char *why)
{
    vtc_server_cleanup(srv);
    vtc_fail("%s", why);
}

static void launch(vtc_server *srv)
{
    const char *build = getenv("VT_BUILD_DIR");
    char bin[1024];
    char *argv[48];
    size_t argc = 0, i, from;
    bool limits_set = false;
    int64_t deadline;
    pid_t pid, parent = getpid();

    snprintf(bin, sizeof bin, "%s/bin/ventrad", build && build[0] ? build : "build");
    if (access(bin, X_OK) != 0)
        vtc_fail("no ventrad at %s (is VT_BUILD_DIR set?)", bin);

    argv[argc++] = bin;
    argv[argc++] = "--listen";
    argv[argc++] = "127.0.0.1:0";
    argv[argc++] = "--data";
    argv[argc++] = srv->data_dir;
    for (i = 0; srv->extra_args[i] != NULL; i++)
        if (strcmp(srv->extra_args[i], "--limits") == 0 ||
            strcmp(srv->extra_args[i], "--limit") == 0)
            limits_set = true;
    if (!limits_set) {
        argv[argc++] = "--limits";
        argv[argc++] = "off";
    }
    for (i = 0; srv->extra_args[i] != NULL; i++)
        argv[argc++] = srv->extra_args[i];
    argv[argc] = NULL;

    from = file_size(srv->log_path);
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        vtc_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(srv->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

        /* The server must not outlive a test binary that crashed. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        if (fd < 0)
            _exit(125);
        dup2(fd, 2);
        dup2(fd, 1);
        close(fd);
        execv(bin, argv);
        _exit(127);
    }
    srv->pid = pid;
    srv->port = 0;
    deadline = vtc_now_ms() + 10000;
    while (vtc_left_ms(deadline) > 0) {
        int status;

        srv->port = find_port(srv, from);
        if (srv->port > 0)
            return;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            char *log = vtc_server_log(srv);

            srv->pid = 0;
            fprintf(stderr, "vtc: ventrad exited early (status %d); log:\n%s\n", status,
                    log);
            free(log);
            launch_failed(srv, "ventrad did not start");
        }
        sleep_ms(10);
    }
    {
        char *log = vtc_server_log(srv);

        fprintf(stderr, "vtc: no msg=listening within 10 s; log:\n%s\n", log);
        free(log);
    }
    launch_failed(srv, "ventrad did not report its port");
}

void vtc_server_start(vtc_server *srv, const char *const *extra)
{
    char base[] = "/tmp/vtc-XXXXXX";
    size_t n = 0;

    memset(srv, 0, sizeof *srv);
    if (mkdtemp(base) == NULL)
        vtc_fail("mkdtemp: %s", strerror(errno));
    snprintf(srv->data_dir, sizeof srv->data_dir, "%s/data", base);
    snprintf(srv->log_path, sizeof srv->log_path, "%s/ventrad.log", base);
    if (mkdir(srv->data_dir, 0700) != 0)
        vtc_fail("mkdir %s: %s", srv->data_dir, strerror(errno));
    if (extra != NULL)
        for (; extra[n] != NULL; n++) {
            if (n + 1 >= sizeof srv->extra_args / sizeof srv->extra_args[0])
                vtc_fail("too many extra arguments");
            srv->extra_args[n] = vtc_xstrdup(extra[n]);
        }
    srv->extra_args[n] = NULL;
    launch(srv);
}

void vtc_server_restart(vtc_server *srv)
{
    if (srv->pid > 0)
        vtc_server_stop(srv, SIGTERM);
    launch(srv);
}

int vtc_server_stop(vtc_server *srv, int sig)
{
    int64_t deadline = vtc_now_ms() + 10000;
    int status = -1;

    if (srv->pid <= 0)
        return -1;
    kill(srv->pid, sig);
    while (vtc_left_ms(deadline) > 0) {
        pid_t r = waitpid(srv->pid, &status, WNOHANG);

        if (r == srv->pid) {
            srv->pid = 0;
            return status;
        }
        if (r < 0 && errno != EINTR) {
            srv->pid = 0;
            return -1;
        }
        sleep_ms(5);
    }
    kill(srv->pid, SIGKILL);
    waitpid(srv->pid, &status, 0);
    srv->pid = 0;
    return -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void vtc_server_cleanup(vtc_server *srv)
{
    size_t i;

    if (srv == NULL)
        return;
    if (srv->pid > 0)
        vtc_server_stop(srv, SIGKILL);
    remove_tree(srv);
    for (i = 0; srv->extra_args[i] != NULL; i++) {
        free(srv->extra_args[i]);
        srv->extra_args[i] = NULL;
    }
}

void vtc_server_keypair(const vtc_server *srv, uint8_t pk[32], uint8_t sk[64])
{
    char path[300];

    snprintf(path, sizeof path, "%s/server.key", srv->data_dir);
    vtc_keypair_from_file(path, pk, sk);
}

char *vtc_token_mint(const vtc_server *srv, const char *username, uint32_t device_id,
                     uint64_t iat, uint64_t exp)
{
    uint8_t pk[32], sk[64];
    char *tok;

    vtc_server_keypair(srv, pk, sk);
    tok = vtc_token_mint_key(pk, sk, username, device_id, iat, exp);
    vt_wipe(sk, sizeof sk);
    return tok;
}
