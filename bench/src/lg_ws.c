/* The load generator's event loop: epoll over many non-blocking sockets,
 * each an RFC 6455 client (opening handshake with a checked
 * Sec-WebSocket-Accept and subprotocol, masked binary frames, reassembly,
 * ping answers, close) or a raw TCP stream. Output is buffered per
 * connection and written once per loop pass, so a burst of frames costs one
 * write. Transport of spec/wire.md section 1 (WIRE-1 to WIRE-4, WIRE-11). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bench.h"
#include "lg.h"
#include "ventra/crypto.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Far above MAX_FRAME_SIZE: a server's oversized message is still read. */
#define MAX_MESSAGE (4u << 20)
#define MAX_HANDSHAKE 16384
#define SCRATCH (256u << 10)
#define EVENTS 512

typedef enum conn_state {
    ST_CONNECTING, /* connect() in progress */
    ST_HANDSHAKE,  /* upgrade request written, waiting for 101 */
    ST_OPEN,
    ST_DEAD, /* closed; freed at the end of the loop pass */
} conn_state;

struct lg_conn {
    lg_loop *loop;
    int fd;
    lg_conn_kind kind;
    conn_state state;
    lg_conn_cbs cbs;
    void *ud;
    char key[32]; /* Sec-WebSocket-Key */
    uint8_t *in;  /* bytes read and not yet parsed (a partial frame) */
    size_t in_len, in_cap;
    uint8_t *out; /* bytes queued and not yet written */
    size_t out_off, out_len, out_cap;
    uint8_t *frag; /* reassembly of a fragmented message */
    size_t frag_len;
    bool in_frag;
    bool want_out; /* EPOLLOUT registered */
    bool dirty;    /* on the loop's dirty list */
    bool close_sent;
    size_t msg_hdr; /* lg_conn_msg_begin: where the payload starts */
    size_t msg_len;
    uint8_t msg_mask[4];
    uint64_t last_rx_ns, last_tx_ns;
    lg_conn *next, *prev; /* all live connections */
    lg_conn *dirty_next;  /* connections with output to write */
    lg_conn *dead_next;   /* ended this pass */
};

struct lg_loop {
    int ep;
    lg_conn *conns;
    size_t nconns;
    lg_conn *dirty;
    lg_conn *dead;
    uint8_t *scratch;
    bool write_each;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL) {
        fprintf(stderr, "ventra-bench: out of memory\n");
        abort();
    }
    return q;
}

lg_loop *lg_loop_new(void)
{
    lg_loop *l = xrealloc(NULL, sizeof *l);

    memset(l, 0, sizeof *l);
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        perror("ventra-bench: epoll_create1");
        abort();
    }
    l->scratch = xrealloc(NULL, SCRATCH);
    return l;
}

static void conn_free(lg_conn *c)
{
    free(c->in);
    free(c->out);
    free(c->frag);
    free(c);
}

static void reap(lg_loop *l)
{
    while (l->dead != NULL) {
        lg_conn *c = l->dead;

        l->dead = c->dead_next;
        conn_free(c);
    }
}

void lg_loop_free(lg_loop *l)
{
    if (l == NULL)
        return;
    while (l->conns != NULL)
        lg_conn_close(l->conns, 1001);
    reap(l);
    close(l->ep);
    free(l->scratch);
    free(l);
}

size_t lg_loop_conns(const lg_loop *l)
{
    return l->nconns;
}

/* Unlinks |c|, closes its socket and queues it for freeing. */
static void conn_end(lg_conn *c)
{
    lg_loop *l = c->loop;

    if (c->state == ST_DEAD)
        return;
    c->state = ST_DEAD;
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->nconns--;
    if (c->dirty) {
        for (lg_conn **p = &l->dirty; *p; p = &(*p)->dirty_next)
            if (*p == c) {
                *p = c->dirty_next;
                break;
            }
        c->dirty = false;
    }
    c->dead_next = l->dead;
    l->dead = c;
}

/* The peer or the network ended it: tell the owner once. */
static void conn_fail(lg_conn *c, int code)
{
    if (c->state == ST_DEAD)
        return;
    conn_end(c);
    if (c->cbs.on_close)
        c->cbs.on_close(c, c->ud, code);
}

static void set_events(lg_conn *c, bool want_out)
{
    struct epoll_event ev;

    if (c->want_out == want_out)
        return;
    c->want_out = want_out;
    ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    epoll_ctl(c->loop->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static bool conn_write(lg_conn *c);

static void mark_dirty(lg_conn *c)
{
    if (c->dirty || c->state == ST_DEAD)
        return;
    /* write now; a broken connection is found (and reported) by the
     * flush, never from inside a send call */
    if (c->loop->write_each && c->state == ST_OPEN && !c->want_out && conn_write(c))
        return;
    c->dirty = true;
    c->dirty_next = c->loop->dirty;
    c->loop->dirty = c;
}

void lg_loop_write_each(lg_loop *l, bool on)
{
    l->write_each = on;
}

static void out_reserve(lg_conn *c, size_t n)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        if (c->out_off > 0) { /* compact before growing */
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 4096;

            while (cap < c->out_len + n)
                cap *= 2;
            c->out = xrealloc(c->out, cap);
            c->out_cap = cap;
        }
    }
}

/* Writes what the socket takes. Returns false when the connection broke. */
static bool conn_write(lg_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_events(c, true);
                return true;
            }
            return false;
        }
        c->out_off += (size_t)n;
        c->last_tx_ns = bench_now_ns();
    }
    c->out_off = c->out_len = 0;
    if (c->out_cap > (1u << 20)) { /* do not keep a burst's buffer */
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    set_events(c, false);
    return true;
}

void lg_loop_flush(lg_loop *l)
{
    while (l->dirty != NULL) {
        lg_conn *c = l->dirty;

        l->dirty = c->dirty_next;
        c->dirty = false;
        if (c->state == ST_DEAD || c->state == ST_CONNECTING)
            continue; /* written once connected */
        if (!conn_write(c))
            conn_fail(c, LG_CLOSE_EOF);
    }
}

static void mask_bytes(uint8_t *p, size_t len, const uint8_t mask[4])
{
    uint64_t m8;
    uint32_t m4;
    size_t i = 0;

    memcpy(&m4, mask, 4);
    m8 = (uint64_t)m4 << 32 | m4;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;

        memcpy(&v, p + i, 8);
        v ^= m8;
        memcpy(p + i, &v, 8);
    }
    for (; i < len; i++)
        p[i] ^= mask[i & 3];
}

/* A frame header from the client (FIN set, masked, RFC 6455 5.2) at the
 * end of the output buffer; returns its length. */
static size_t put_header(lg_conn *c, int opcode, size_t len, uint8_t mask[4])
{
    uint8_t *h = c->out + c->out_len;
    uint64_t r = lg_rand64();
    size_t n = 0;

    h[n++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        h[n++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        h[n++] = 0x80 | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(mask, &r, 4);
    memcpy(h + n, mask, 4);
    return n + 4;
}

static void queue_frame(lg_conn *c, int opcode, const void *data, size_t len)
{
    uint8_t mask[4];
    size_t h;

    out_reserve(c, len + 14);
    h = put_header(c, opcode, len, mask);
    if (len > 0)
        memcpy(c->out + c->out_len + h, data, len);
    mask_bytes(c->out + c->out_len + h, len, mask);
    c->out_len += h + len;
    mark_dirty(c);
}

uint8_t *lg_conn_msg_begin(lg_conn *c, size_t len)
{
    out_reserve(c, len + 14);
    c->msg_hdr = c->kind == LG_CONN_WS ? put_header(c, 2, len, c->msg_mask) : 0;
    c->msg_len = len;
    return c->out + c->out_len + c->msg_hdr;
}

void lg_conn_msg_end(lg_conn *c)
{
    if (c->kind == LG_CONN_WS)
        mask_bytes(c->out + c->out_len + c->msg_hdr, c->msg_len, c->msg_mask);
    c->out_len += c->msg_hdr + c->msg_len;
    c->msg_hdr = c->msg_len = 0;
    mark_dirty(c);
}

void lg_conn_send(lg_conn *c, const void *data, size_t len)
{
    if (c->state == ST_DEAD)
        return;
    if (c->kind == LG_CONN_WS) {
        queue_frame(c, 2, data, len);
        return;
    }
    out_reserve(c, len);
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    mark_dirty(c);
}

void lg_conn_ping(lg_conn *c)
{
    if (c->kind == LG_CONN_WS && c->state == ST_OPEN)
        queue_frame(c, 9, "lg", 2);
}

void lg_conn_close(lg_conn *c, int code)
{
    if (c->state == ST_DEAD)
        return;
    if (c->kind == LG_CONN_WS && c->state == ST_OPEN && !c->close_sent) {
        uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};

        queue_frame(c, 8, p, 2);
        c->close_sent = true;
        (void)conn_write(c); /* best effort: the socket closes next */
    }
    conn_end(c);
}

bool lg_conn_is_open(const lg_conn *c)
{
    return c != NULL && c->state == ST_OPEN;
}

uint64_t lg_conn_last_rx_ns(const lg_conn *c)
{
    return c->last_rx_ns;
}

size_t lg_loop_keepalive(lg_loop *l, uint64_t now_ns, uint64_t idle_ns)
{
    size_t n = 0;

    for (lg_conn *c = l->conns; c; c = c->next)
        if (c->kind == LG_CONN_WS && c->state == ST_OPEN &&
            now_ns - c->last_tx_ns >= idle_ns) {
            lg_conn_ping(c);
            c->last_tx_ns = now_ns; /* not again before the write */
            n++;
        }
    return n;
}

/* ---- connecting and the opening handshake ------------------------------ */

lg_conn *lg_conn_open(lg_loop *l, const lg_target *t, lg_conn_kind kind,
                      const char *src_ip, const lg_conn_cbs *cbs, void *ud)
{
    struct sockaddr_in sa;
    struct epoll_event ev;
    lg_conn *c;
    int fd, one = 1;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)t->port);
    if (inet_pton(AF_INET, t->host, &sa.sin_addr) != 1)
        return NULL;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src_ip != NULL) {
        struct sockaddr_in src;

        /* The port is chosen at connect() for the whole 4-tuple, so one
         * source address is not limited to one ephemeral range. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        memset(&src, 0, sizeof src);
        src.sin_family = AF_INET;
        if (inet_pton(AF_INET, src_ip, &src.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
            close(fd);
            return NULL;
        }
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    c = xrealloc(NULL, sizeof *c);
    memset(c, 0, sizeof *c);
    c->loop = l;
    c->fd = fd;
    c->kind = kind;
    c->state = ST_CONNECTING;
    c->cbs = *cbs;
    c->ud = ud;
    c->want_out = true;
    c->last_tx_ns = bench_now_ns();
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.ptr = c;
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        free(c);
        return NULL;
    }
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->nconns++;
    if (kind == LG_CONN_WS) {
        uint8_t nonce[16];
        char req[512];
        int n;

        if (vt_random_bytes(nonce, sizeof nonce) != VT_OK) {
            fprintf(stderr, "ventra-bench: no random bytes\n");
            abort();
        }
        EVP_EncodeBlock((unsigned char *)c->key, nonce, sizeof nonce);
        n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
                     t->path, t->host, t->port, c->key, VT_PROTOCOL_NAME);
        out_reserve(c, (size_t)n);
        memcpy(c->out, req, (size_t)n);
        c->out_len = (size_t)n;
    }
    return c;
}

/* The value of header |name| in the NUL-terminated block |head|, copied
 * into |out|; false when absent. */
static bool header_value(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = strstr(head, "\r\n");

    while (p != NULL) {
        const char *e;

        p += 2;
        e = strstr(p, "\r\n");
        if (e == NULL || e == p)
            return false;
        if ((size_t)(e - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            size_t len;

            while (*v == ' ' || *v == '\t')
                v++;
            len = (size_t)(e - v);
            while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
            if (len >= cap)
                len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return true;
        }
        p = e;
    }
    return false;
}

/* Checks the 101 answer in c->in; on success drops it from the buffer.
 * Returns 1 when done, 0 when more is needed, -1 on refusal. */
static int handshake_answer(lg_conn *c)
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    char kg[96], want[64], got[128], head[MAX_HANDSHAKE + 1];
    unsigned dlen = 0;
    uint8_t *end = c->in_len >= 4 ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
    size_t hl;
    int status = 0;

    if (end == NULL)
        return c->in_len > MAX_HANDSHAKE ? -1 : 0;
    hl = (size_t)(end - c->in) + 4;
    if (hl > MAX_HANDSHAKE)
        return -1;
    memcpy(head, c->in, hl);
    head[hl] = '\0';
    memmove(c->in, c->in + hl, c->in_len - hl);
    c->in_len -= hl;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1 || status != 101)
        return -1;
    snprintf(kg, sizeof kg, "%s%s", c->key, WS_GUID);
    if (!EVP_Digest(kg, strlen(kg), digest, &dlen, EVP_sha1(), NULL))
        return -1;
    EVP_EncodeBlock((unsigned char *)want, digest, (int)dlen);
    if (!header_value(head, "Sec-WebSocket-Accept", got, sizeof got) ||
        strcmp(got, want) != 0)
        return -1;
    /* WIRE-2: the server must select exactly our subprotocol */
    if (!header_value(head, "Sec-WebSocket-Protocol", got, sizeof got) ||
        strcmp(got, VT_PROTOCOL_NAME) != 0)
        return -1;
    return 1;
}

/* ---- reading ----------------------------------------------------------- */

/* Parses the complete frames at |p| (|len| bytes) and returns how many
 * bytes were consumed; the rest is a partial frame. Stops when the
 * connection ends (state DEAD). */
static size_t parse_frames(lg_conn *c, const uint8_t *p, size_t len)
{
    size_t off = 0;

    while (c->state == ST_OPEN && len - off >= 2) {
        const uint8_t *b = p + off;
        size_t avail = len - off, h = 2;
        uint64_t plen = b[1] & 0x7f;
        int opcode = b[0] & 0x0f;
        bool fin = (b[0] & 0x80) != 0;

        if ((b[0] & 0x70) != 0 || (b[1] & 0x80) != 0) { /* RSV; masked from server */
            conn_fail(c, LG_CLOSE_ERROR);
            break;
        }
        if (plen == 126)
            h = 4;
        else if (plen == 127)
            h = 10;
        if (avail < h)
            break;
        if (plen == 126) {
            plen = (uint64_t)b[2] << 8 | b[3];
        } else if (plen == 127) {
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | b[2 + i];
        }
        if (plen > MAX_MESSAGE || (opcode >= 8 && (plen > 125 || !fin))) {
            conn_fail(c, LG_CLOSE_ERROR);
            break;
        }
        if (avail - h < plen)
            break;
        off += h + (size_t)plen;
        const uint8_t *pl = b + h;
        size_t n = (size_t)plen;

        switch (opcode) {
        case 0x0: /* continuation */
        case 0x2: /* binary */
            if ((opcode == 0) != c->in_frag) {
                conn_fail(c, LG_CLOSE_ERROR);
                break;
            }
            if (fin && !c->in_frag) { /* the common case: no copy */
                if (c->cbs.on_data)
                    c->cbs.on_data(c, c->ud, pl, n);
                break;
            }
            c->frag = xrealloc(c->frag, c->frag_len + n);
            if (n > 0)
                memcpy(c->frag + c->frag_len, pl, n);
            c->frag_len += n;
            c->in_frag = !fin;
            if (fin) {
                if (c->cbs.on_data)
                    c->cbs.on_data(c, c->ud, c->frag, c->frag_len);
                free(c->frag);
                c->frag = NULL;
                c->frag_len = 0;
            }
            break;
        case 0x8: { /* close: answer it, then end (RFC 6455 5.5.1) */
            int code = n >= 2 ? (pl[0] << 8 | pl[1]) : 1005;

            if (!c->close_sent) {
                queue_frame(c, 8, pl, n >= 2 ? 2 : 0);
                c->close_sent = true;
                (void)conn_write(c);
            }
            conn_fail(c, code);
            break;
        }
        case 0x9: /* ping: pong with the same payload */
            if (!c->close_sent)
                queue_frame(c, 10, pl, n);
            break;
        case 0xa: /* pong */
            break;
        default: /* text (WIRE-4: binary only) or a reserved opcode */
            conn_fail(c, LG_CLOSE_ERROR);
            break;
        }
    }
    return off;
}

static void in_append(lg_conn *c, const uint8_t *p, size_t n)
{
    if (c->in_len + n > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 4096;

        while (cap < c->in_len + n)
            cap *= 2;
        c->in = xrealloc(c->in, cap);
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
}

/* Hands |n| new bytes at |p| to the connection's parser. */
static void conn_input(lg_conn *c, const uint8_t *p, size_t n)
{
    if (c->kind == LG_CONN_RAW) {
        if (c->cbs.on_data)
            c->cbs.on_data(c, c->ud, p, n);
        return;
    }
    if (c->state == ST_HANDSHAKE || c->in_len > 0) {
        in_append(c, p, n);
        if (c->state == ST_HANDSHAKE) {
            int r = handshake_answer(c);

            if (r < 0) {
                conn_fail(c, LG_CLOSE_ERROR);
                return;
            }
            if (r == 0)
                return;
            c->state = ST_OPEN;
            if (c->cbs.on_open)
                c->cbs.on_open(c, c->ud);
        }
        /* parse from the connection's own buffer; callbacks may queue
         * output but never touch c->in */
        size_t used = parse_frames(c, c->in, c->in_len);

        if (c->state == ST_DEAD)
            return;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    } else {
        size_t used = parse_frames(c, p, n);

        if (c->state != ST_DEAD && used < n)
            in_append(c, p + used, n - used);
    }
    if (c->in_len == 0 && c->in_cap > 65536) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

static void on_readable(lg_conn *c)
{
    lg_loop *l = c->loop;

    for (int rounds = 0; rounds < 8 && c->state != ST_DEAD; rounds++) {
        ssize_t n = recv(c->fd, l->scratch, SCRATCH, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_fail(c, LG_CLOSE_EOF);
            return;
        }
        if (n == 0) {
            conn_fail(c, LG_CLOSE_EOF);
            return;
        }
        c->last_rx_ns = bench_now_ns();
        conn_input(c, l->scratch, (size_t)n);
        if ((size_t)n < SCRATCH)
            return;
    }
}

static void on_connected(lg_conn *c)
{
    int err = 0;
    socklen_t el = sizeof err;

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        conn_fail(c, LG_CLOSE_ERROR);
        return;
    }
    if (c->kind == LG_CONN_WS) {
        c->state = ST_HANDSHAKE;
    } else {
        c->state = ST_OPEN;
        if (c->cbs.on_open)
            c->cbs.on_open(c, c->ud);
    }
    if (c->state != ST_DEAD && !conn_write(c))
        conn_fail(c, LG_CLOSE_EOF);
}

int lg_loop_run(lg_loop *l, uint64_t timeout_ns)
{
    struct epoll_event evs[EVENTS];
    struct timespec ts;
    int n;

    lg_loop_flush(l);
    ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
    ts.tv_nsec = (long)(timeout_ns % 1000000000u);
    n = epoll_pwait2(l->ep, evs, EVENTS, &ts, NULL);
    if (n < 0)
        n = 0; /* EINTR */
    for (int i = 0; i < n; i++) {
        lg_conn *c = evs[i].data.ptr;
        uint32_t e = evs[i].events;

        if (c->state == ST_DEAD)
            continue;
        if (c->state == ST_CONNECTING) {
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                on_connected(c);
            continue;
        }
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            on_readable(c);
        if (c->state != ST_DEAD && (e & EPOLLOUT) && !conn_write(c))
            conn_fail(c, LG_CLOSE_EOF);
    }
    lg_loop_flush(l);
    reap(l);
    return n;
}
