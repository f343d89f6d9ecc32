/* relay_baseline: the bare relay ventra-bench measures ventrad against
 * (DESIGN.md section 10): one thread, epoll, TCP, no framing, no store,
 * one write per message. A connection names its pair, its role and the
 * message size in a 16-byte hello ("VBR1", then pair id, role and size as
 * little-endian u32s); once both ends of a pair are there each gets one
 * byte 'R'. From then on the byte stream from one end is cut into
 * messages of that fixed size (no header, no framing) and each is written
 * to the other end with one write. Logs "msg=listening addr=HOST:PORT" on
 * stderr like ventrad, and exits 0 on SIGTERM or SIGINT. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define HELLO_LEN 16
#define MAX_MSG 65536
#define READ_CHUNK 65536
/* Stop reading from a sender while its peer has this much unwritten. */
#define OUT_HIGH (4u << 20)
#define MAX_PAIRS (1u << 20)
#define EVENTS 256

typedef struct conn {
    int fd;
    uint8_t hello[HELLO_LEN];
    size_t hello_len;
    uint32_t pair, role, size;
    bool paired;
    uint8_t *msg; /* the partial message read so far */
    size_t msg_len;
    bool reading; /* EPOLLIN registered */
    bool writing; /* EPOLLOUT registered */
    bool dead;    /* closed; freed after the event pass */
    struct conn *peer;
    struct conn *live_prev, *live_next; /* every open connection */
    struct conn *dead_next;
    uint8_t *out; /* bytes for this connection the socket did not take */
    size_t out_off, out_len, out_cap;
} conn;

static volatile sig_atomic_t stop;
static conn *(*pairs)[2];
static conn *live, *dead;
static int ep = -1;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void set_events(conn *c, bool reading, bool writing)
{
    struct epoll_event ev;

    if (c->reading == reading && c->writing == writing)
        return;
    c->reading = reading;
    c->writing = writing;
    ev.events = (reading ? EPOLLIN | EPOLLRDHUP : 0) | (writing ? EPOLLOUT : 0);
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Closes |c| now; the memory waits for the end of the event pass, whose
 * later events may still name it. */
static void conn_close(conn *c)
{
    if (c->dead)
        return;
    if (c->peer != NULL) {
        c->peer->peer = NULL;
        set_events(c->peer, true, c->peer->writing);
    }
    if (c->paired && pairs[c->pair][c->role] == c)
        pairs[c->pair][c->role] = NULL;
    if (c->live_prev)
        c->live_prev->live_next = c->live_next;
    else
        live = c->live_next;
    if (c->live_next)
        c->live_next->live_prev = c->live_prev;
    close(c->fd);
    c->dead = true;
    c->dead_next = dead;
    dead = c;
}

static void reap(void)
{
    while (dead != NULL) {
        conn *c = dead;

        dead = c->dead_next;
        free(c->out);
        free(c->msg);
        free(c);
    }
}

/* Queues |n| bytes for |c| after what is pending; false when out of
 * memory. */
static bool out_append(conn *c, const uint8_t *p, size_t n)
{
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : READ_CHUNK;
        uint8_t *nb;

        while (cap < c->out_len + n)
            cap *= 2;
        nb = realloc(c->out, cap);
        if (nb == NULL)
            return false;
        c->out = nb;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return true;
}

/* Writes |n| bytes to |c|: one write when nothing is pending, the rest
 * kept for EPOLLOUT. Returns false when |c| broke. */
static bool deliver(conn *c, const uint8_t *p, size_t n)
{
    ssize_t w = 0;

    if (c->out_len == c->out_off) {
        w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return false;
            w = 0;
        }
    }
    if ((size_t)w < n) {
        if (!out_append(c, p + w, n - (size_t)w))
            return false;
        set_events(c, c->reading, true);
    }
    return true;
}

static bool flush_out(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            if (errno == EINTR)
                continue;
            return false;
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    set_events(c, c->reading, false);
    /* the sender that waited for us may read again */
    if (c->peer != NULL && !c->peer->reading)
        set_events(c->peer, true, c->peer->writing);
    return true;
}

/* The hello is complete: file the connection under its pair. */
static bool on_hello(conn *c)
{
    uint32_t pair, role, size;
    conn *other;

    if (memcmp(c->hello, "VBR1", 4) != 0)
        return false;
    memcpy(&pair, c->hello + 4, 4);
    memcpy(&role, c->hello + 8, 4);
    memcpy(&size, c->hello + 12, 4);
    pair = le32toh(pair);
    role = le32toh(role);
    size = le32toh(size);
    if (pair >= MAX_PAIRS || role > 1 || pairs[pair][role] != NULL || size == 0 ||
        size > MAX_MSG)
        return false;
    c->msg = malloc(size);
    if (c->msg == NULL)
        return false;
    c->pair = pair;
    c->role = role;
    c->size = size;
    c->paired = true;
    pairs[pair][role] = c;
    other = pairs[pair][1 - role];
    if (other != NULL) {
        c->peer = other;
        other->peer = c;
        if (!deliver(c, (const uint8_t *)"R", 1) ||
            !deliver(other, (const uint8_t *)"R", 1))
            return false;
    }
    return true;
}

/* Returns false when |c| is to be closed. */
static bool on_readable(conn *c, uint8_t *buf)
{
    ssize_t n = recv(c->fd, buf, READ_CHUNK, 0);
    size_t off = 0;

    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0)
        return false;
    while (c->hello_len < HELLO_LEN && off < (size_t)n) {
        c->hello[c->hello_len++] = buf[off++];
        if (c->hello_len == HELLO_LEN && !on_hello(c))
            return false;
    }
    /* whole messages, one write each; nobody to forward to: dropped */
    while (off < (size_t)n) {
        size_t take = c->size - c->msg_len;
        const uint8_t *m = buf + off;

        if (take > (size_t)n - off)
            take = (size_t)n - off;
        if (c->msg_len > 0 || take < c->size) { /* a message cut by the read */
            memcpy(c->msg + c->msg_len, m, take);
            c->msg_len += take;
            m = c->msg;
        }
        off += take;
        if (c->msg_len > 0 && c->msg_len < c->size)
            break;
        c->msg_len = 0;
        if (c->peer != NULL && !deliver(c->peer, m, c->size))
            conn_close(c->peer);
    }
    if (c->peer != NULL && c->peer->out_len - c->peer->out_off > OUT_HIGH)
        set_events(c, false, c->writing); /* back-pressure */
    return true;
}

static int listen_on(const char *spec, char *addr, size_t cap)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    char host[64] = "127.0.0.1";
    int port = 0, fd, one = 1;
    const char *colon = strrchr(spec, ':');

    if (colon != NULL) {
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
        port = atoi(colon + 1);
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "relay_baseline: bad address %s\n", spec);
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("relay_baseline: listen");
        close(fd);
        return -1;
    }
    snprintf(addr, cap, "%s:%d", host, ntohs(sa.sin_port));
    return fd;
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct epoll_event ev;
        int one = 1;
        conn *c;

        if (fd < 0)
            return;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->reading = true;
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->live_next = live;
        if (live)
            live->live_prev = c;
        live = c;
    }
}

int main(int argc, char **argv)
{
    const char *listen_spec = "127.0.0.1:0";
    struct epoll_event evs[EVENTS], lev;
    struct sigaction sa;
    static uint8_t buf[READ_CHUNK];
    char addr[96];
    int lfd = -1, rc = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen_spec = argv[++i];
        } else {
            fprintf(stderr, "usage: relay_baseline [--listen HOST:PORT]\n");
            return strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ? 0 : 2;
        }
    }
    pairs = calloc(MAX_PAIRS, sizeof *pairs);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (pairs == NULL || ep < 0)
        goto out;
    lfd = listen_on(listen_spec, addr, sizeof addr);
    if (lfd < 0)
        goto out;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    lev.events = EPOLLIN;
    lev.data.ptr = NULL;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0)
        goto out;
    fprintf(stderr, "level=info msg=listening addr=%s\n", addr);
    fflush(stderr);

    while (!stop) {
        int n = epoll_wait(ep, evs, EVENTS, 500);

        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            bool ok = true;

            if (c == NULL) {
                accept_all(lfd);
                continue;
            }
            if (c->dead)
                continue;
            if (e & (EPOLLERR | EPOLLHUP))
                ok = false;
            if (ok && (e & EPOLLOUT))
                ok = flush_out(c);
            if (ok && (e & (EPOLLIN | EPOLLRDHUP)) && c->reading)
                ok = on_readable(c, buf);
            if (!ok)
                conn_close(c);
        }
        reap();
    }
    rc = 0;
out:
    while (live != NULL)
        conn_close(live);
    reap();
    if (lfd >= 0)
        close(lfd);
    if (ep >= 0)
        close(ep);
    free(pairs);
    return rc;
}
