/* The process helper of the engine tests: runs $VT_BUILD_DIR/bin/ventrad
 * on 127.0.0.1:0 with a fresh data directory, finds its port in the
 * "msg=listening addr=HOST:PORT" log line and stops it with SIGTERM. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support_server.h"

static int port_in_log(const char *path)
{
    char buf[65536];
    FILE *f = fopen(path, "rb");
    size_t n;
    char *p;

    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strstr(buf, "msg=listening");
    if (p == NULL || strchr(p, '\n') == NULL)
        return 0;
    p = strstr(p, "addr=");
    if (p == NULL)
        return 0;
    p = strchr(p, ':');
    return p ? atoi(p + 1) : 0;
}

bool ts_server_start(ts_server *s)
{
    const char *build = getenv("VT_BUILD_DIR");
    char bin[512], data[300], log[300];
    pid_t parent = getpid();
    struct timespec ts = {0, 10 * 1000 * 1000};

    memset(s, 0, sizeof s[0]);
    snprintf(s->dir, sizeof s->dir, "/tmp/vtce-XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return false;
    snprintf(bin, sizeof bin, "%s/bin/ventrad", build && build[0] ? build : "build");
    snprintf(data, sizeof data, "%s/server", s->dir);
    snprintf(log, sizeof log, "%s/server.log", s->dir);
    fflush(NULL);
    s->pid = fork();
    if (s->pid < 0)
        return false;
    if (s->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        if (getppid() != parent || fd < 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        execl(bin, bin, "--listen", "127.0.0.1:0", "--data", data, "--limits", "off",
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1000 && s->port == 0; i++) {
        int st;
        s->port = port_in_log(log);
        if (s->port)
            break;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return false;
        }
        nanosleep(&ts, NULL); /* waiting for a child process, not for the client */
    }
    snprintf(s->url, sizeof s->url, "ws://127.0.0.1:%d", s->port);
    return s->port > 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void ts_server_stop(ts_server *s)
{
    if (s->pid > 0) {
        int st;
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
    }
    if (strncmp(s->dir, "/tmp/vtce-", 10) == 0 && getenv("VTCE_KEEP") == NULL)
        nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    s->dir[0] = '\0';
}

void ts_client_dir(const ts_server *s, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", s->dir, name);
}
