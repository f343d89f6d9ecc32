/* The client tier's kit (client_kit.h): a vt_client per data directory with
 * its callbacks recorded, the waits, an intercepting WebSocket proxy and a
 * TLS listener with a self-signed certificate (spec/wire.md WIRE-6). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client_kit.h"
#include "ventra/crypto.h"

static const char passphrase[] = "ventra conformance passphrase";

/* ---- Arrays and temporary folders ------------------------------------------ */

/* Grows |*v| (elements of |size| bytes, |*n| used) by one zeroed element. */
static void *grow(vcl_ctx *ctx, void *vp, size_t *n, size_t size)
{
    void **v = vp;
    uint8_t *nv = realloc(*v, (*n + 1) * size);

    if (nv == NULL)
        vcl_failf(ctx, "out of memory");
    memset(nv + *n * size, 0, size);
    *v = nv;
    return nv + (*n)++ * size;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(void *p)
{
    nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(p);
}

/* A fresh temporary folder, removed (with what it holds) after the case. */
static char *temp_dir(vcl_ctx *ctx)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = NULL;

    if (asprintf(&dir, "%s/ventra-ctier.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
        vcl_failf(ctx, "out of memory");
    if (mkdtemp(dir) == NULL) {
        free(dir);
        vcl_failf(ctx, "mkdtemp: %s", strerror(errno));
    }
    vcl_defer(ctx, rm_tree, dir);
    return dir;
}

/* ---- The callbacks ----------------------------------------------------------- */

static const char *const state_names[] = {"DISCONNECTED", "CONNECTING", "AUTHENTICATING",
                                          "DRAINING",     "LIVE",       "BACKOFF",
                                          "CLOSED"};
static const char *const status_names[] = {
    "QUEUED", "SENDING", "STALE_DEVICES", "HELD", "SENT", "DELIVERED", "READ", "FAILED"};

static void hex8(char out[17], const uint8_t *b)
{
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void cb_message(void *ud, const vt_client_message *m)
{
    vck_client *k = ud;
    vck_msg *r = grow(k->ctx, &k->msgs, &k->nmsg, sizeof *r);
    char h[17];

    snprintf(r->conversation, sizeof r->conversation, "%s", m->conversation);
    snprintf(r->sender, sizeof r->sender, "%s", m->sender);
    r->sender_device = m->sender_device;
    memcpy(r->message_id, m->message_id, 16);
    if (m->group_id != NULL) {
        r->has_group = true;
        memcpy(r->group_id, m->group_id, 16);
    }
    r->text = strdup(m->text ? m->text : "");
    r->outgoing = m->outgoing;
    r->at_ms = vtc_now_ms();
    hex8(h, m->message_id);
    vcl_log(k->ctx, "client %s: message %s.. from %s/%u in %s%s: %.60s", k->label, h,
            m->sender, m->sender_device, m->conversation,
            m->outgoing ? " (outgoing)" : "", r->text ? r->text : "");
}

static void cb_status(void *ud, const uint8_t *mid, vt_client_msg_status st, vt_err err)
{
    vck_client *k = ud;
    vck_status *r = grow(k->ctx, &k->sts, &k->nst, sizeof *r);
    char h[17];

    memcpy(r->message_id, mid, 16);
    r->st = st;
    r->err = err;
    hex8(h, mid);
    vcl_log(k->ctx, "client %s: status %s.. %s%s%s", k->label, h,
            (unsigned)st < 8 ? status_names[st] : "?", err ? " " : "",
            err ? vt_strerror(err) : "");
}

static void cb_receipt(void *ud, const char *from, uint32_t dev, const uint8_t *mid,
                       bool read)
{
    vck_client *k = ud;
    vck_receipt *r = grow(k->ctx, &k->rcpts, &k->nrcpt, sizeof *r);

    snprintf(r->from, sizeof r->from, "%s", from);
    memcpy(r->message_id, mid, 16);
    r->read = read;
    vcl_log(k->ctx, "client %s: %s receipt from %s/%u", k->label,
            read ? "read" : "delivered", from, dev);
}

static void cb_typing(void *ud, const char *from, const uint8_t *gid, bool started)
{
    vck_client *k = ud;

    (void)gid;
    k->ntyping++;
    k->typing_last = started;
    vcl_log(k->ctx, "client %s: typing %s from %s", k->label,
            started ? "started" : "stopped", from);
}

static void cb_identity(void *ud, const char *username, uint32_t dev)
{
    vck_client *k = ud;
    vck_ident *r = grow(k->ctx, &k->idents, &k->nident, sizeof *r);

    snprintf(r->username, sizeof r->username, "%s", username);
    r->device_id = dev;
    vcl_log(k->ctx, "client %s: identity of %s/%u changed", k->label, username, dev);
}

static void cb_state(void *ud, vt_client_state st, vt_err why)
{
    vck_client *k = ud;

    k->state = st;
    k->state_why = why;
    k->nstates++;
    k->was_live |= st == VT_CLIENT_LIVE;
    k->was_closed |= st == VT_CLIENT_CLOSED;
    vcl_log(k->ctx, "client %s: state %s%s%s", k->label,
            (unsigned)st < 7 ? state_names[st] : "?", why ? " " : "",
            why ? vt_strerror(why) : "");
}

static void cb_notice(void *ud, const char *text)
{
    vck_client *k = ud;
    char **r = grow(k->ctx, &k->notices, &k->nnotice, sizeof *r);

    *r = strdup(text);
    vcl_log(k->ctx, "client %s: notice: %.200s", k->label, text);
}

static const vt_client_callbacks callbacks = {
    .message = cb_message,
    .status = cb_status,
    .receipt = cb_receipt,
    .typing = cb_typing,
    .identity_changed = cb_identity,
    .state = cb_state,
    .notice = cb_notice,
};

/* ---- Clients -------------------------------------------------------------------- */

static unsigned nclients; /* per case, for the labels */

static void free_client(void *p)
{
    vck_client *k = p;

    vt_client_close(k->c);
    for (size_t i = 0; i < k->nmsg; i++)
        free(k->msgs[i].text);
    for (size_t i = 0; i < k->nnotice; i++)
        free(k->notices[i]);
    free(k->msgs);
    free(k->sts);
    free(k->rcpts);
    free(k->idents);
    free(k->notices);
    free(k);
    if (nclients > 0)
        nclients--;
}

/* Opens a vt_client on |k|'s data directory and server with |cb| and |ud|:
 * the case's own client and those of child processes alike. */
static vt_err open_with(const vck_client *k, vt_client **out,
                        const vt_client_callbacks *cb, void *ud)
{
    vt_client_config cfg = {
        .server_url = k->url,
        .data_dir = k->dir,
        .passphrase = passphrase,
        .passphrase_len = sizeof passphrase - 1,
        .ca_file = k->ca[0] ? k->ca : NULL,
        .device_name = "conformance device",
    };

    return vt_client_open(out, &cfg, cb, ud);
}

static vt_err open_client(vck_client *k)
{
    return open_with(k, &k->c, &callbacks, k);
}

vck_client *vck_open(vcl_ctx *ctx, const char *url)
{
    return vck_open_ca(ctx, url, vcl_ca_file(ctx));
}

vck_client *vck_open_ca(vcl_ctx *ctx, const char *url, const char *ca_file)
{
    vck_client *k = calloc(1, sizeof *k);
    char *dir;
    vt_err err;

    if (k == NULL)
        vcl_failf(ctx, "out of memory");
    k->ctx = ctx;
    snprintf(k->label, sizeof k->label, "%c", 'A' + (int)(nclients++ % 26));
    vcl_defer(ctx, free_client, k);
    dir = temp_dir(ctx);
    snprintf(k->dir, sizeof k->dir, "%s/data", dir);
    snprintf(k->url, sizeof k->url, "%s", url != NULL ? url : vcl_url(ctx));
    snprintf(k->ca, sizeof k->ca, "%s", ca_file != NULL ? ca_file : "");
    if ((err = open_client(k)) != VT_OK)
        vcl_failf(ctx, "vt_client_open(%s): %s", k->url, vt_strerror(err));
    return k;
}

vt_err vck_try_open(vcl_ctx *ctx, const char *url)
{
    vck_client k = {.ctx = ctx};
    char *dir = temp_dir(ctx);
    vt_err err;

    if (vcl_ca_file(ctx) != NULL)
        snprintf(k.ca, sizeof k.ca, "%s", vcl_ca_file(ctx));
    snprintf(k.label, sizeof k.label, "?");
    snprintf(k.dir, sizeof k.dir, "%s/data", dir);
    snprintf(k.url, sizeof k.url, "%s", url);
    err = open_client(&k);
    if (err == VT_OK)
        vt_client_close(k.c);
    return err;
}

vck_client *vck_account(vcl_ctx *ctx, const char *prefix, const char *url)
{
    vck_client *k = vck_open(ctx, url);
    vt_err err;

    vtc_username(k->name, prefix);
    vcl_step(ctx, "client %s registers %s", k->label, k->name);
    if ((err = vt_client_register(k->c, k->name, VCK_WAIT_MS)) != VT_OK)
        vcl_failf(ctx, "vt_client_register(%s): %s", k->name, vt_strerror(err));
    return k;
}

vck_client *vck_link(vcl_ctx *ctx, vck_client *owner, char *code_out, char *reply_out)
{
    vck_client *k = vck_open(ctx, owner->url);
    char code[128], reply[128];
    vt_err err;

    vcl_step(ctx, "client %s links to %s's account", k->label, owner->name);
    if ((err = vt_client_link_begin(k->c, code, sizeof code)) != VT_OK)
        vcl_failf(ctx, "vt_client_link_begin: %s", vt_strerror(err));
    if ((err = vt_client_link_approve(owner->c, code, reply, sizeof reply,
                                      VCK_WAIT_MS)) != VT_OK)
        vcl_failf(ctx, "vt_client_link_approve: %s", vt_strerror(err));
    if ((err = vt_client_link_finish(k->c, reply, VCK_WAIT_MS)) != VT_OK)
        vcl_failf(ctx, "vt_client_link_finish(%s): %s", reply, vt_strerror(err));
    snprintf(k->name, sizeof k->name, "%s", owner->name);
    if (code_out != NULL)
        snprintf(code_out, 128, "%s", code);
    if (reply_out != NULL)
        snprintf(reply_out, 128, "%s", reply);
    return k;
}

void vck_shut(vck_client *k)
{
    vt_client_close(k->c);
    k->c = NULL;
}

void vck_reopen(vck_client *k)
{
    vt_err err;

    vck_shut(k);
    if ((err = open_client(k)) != VT_OK)
        vcl_failf(k->ctx, "vt_client_open again (%s): %s", k->dir, vt_strerror(err));
    if ((err = vt_client_start(k->c)) != VT_OK)
        vcl_failf(k->ctx, "vt_client_start: %s", vt_strerror(err));
}

/* ---- A client in a process of its own ------------------------------------ */

typedef struct child {
    pid_t pid;
} child;

static child *children[8];

static void reap(void *p)
{
    child *ch = p;

    for (size_t i = 0; i < 8; i++)
        if (children[i] == ch)
            children[i] = NULL;
    if (ch->pid > 0) {
        kill(ch->pid, SIGKILL);
        waitpid(ch->pid, NULL, 0);
        ch->pid = 0;
    }
    free(ch);
}

/* A slot for a child process of |k|'s case, reaped after the case; |k|'s
 * own client is shut first, since the child opens the same store. */
static child *child_new(vck_client *k)
{
    child *ch = calloc(1, sizeof *ch);
    size_t slot = 0;

    if (ch == NULL)
        vcl_failf(k->ctx, "out of memory");
    vcl_defer(k->ctx, reap, ch);
    while (slot < 8 && children[slot] != NULL)
        slot++;
    if (slot == 8)
        vcl_failf(k->ctx, "too many client processes");
    children[slot] = ch;
    vck_shut(k);
    fflush(NULL);
    return ch;
}

static pid_t child_fork(vck_client *k)
{
    pid_t pid = fork();

    if (pid < 0)
        vcl_failf(k->ctx, "fork: %s", strerror(errno));
    return pid;
}

/* The child's loop: only the library, never the case's machinery; it runs
 * until it is killed (or a minute passed). */
static _Noreturn void child_serve(vt_client *c)
{
    int64_t deadline = vtc_now_ms() + 60000;

    while (vtc_left_ms(deadline) > 0)
        if (vt_client_service(c, 50) != VT_OK)
            poll(NULL, 0, 10);
    _exit(4);
}

int vck_fork_send(vck_client *k, const char *to, const char *text)
{
    static const vt_client_callbacks none;
    child *ch = child_new(k);
    pid_t pid = child_fork(k);

    if (pid == 0) {
        vt_client *c = NULL;

        if (open_with(k, &c, &none, NULL) != VT_OK || vt_client_start(c) != VT_OK ||
            vt_client_send_text(c, to, text, NULL) != VT_OK)
            _exit(3);
        child_serve(c);
    }
    ch->pid = pid;
    vcl_log(k->ctx, "client %s: runs in process %d", k->label, (int)pid);
    return (int)pid;
}

void vck_kill(vcl_ctx *ctx, int pid)
{
    for (size_t i = 0; i < 8; i++)
        if (children[i] != NULL && children[i]->pid == pid) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            children[i]->pid = 0;
            children[i] = NULL;
            vcl_log(ctx, "process %d killed (SIGKILL)", pid);
            return;
        }
    vcl_failf(ctx, "vck_kill: %d is no client process of this case", pid);
}

typedef struct waiter {
    vck_client *k;
    vck_cond cond;
    const void *ud;
} waiter;

static bool waiter_done(void *ud)
{
    waiter *w = ud;

    return w->cond != NULL && w->cond(w->k, w->ud);
}

bool vck_wait(vck_client *k, vck_cond cond, const void *ud, int timeout_ms)
{
    waiter w = {k, cond, ud};
    int64_t deadline = vtc_now_ms() + timeout_ms;

    if (k->c == NULL)
        vcl_failf(k->ctx, "client %s is shut", k->label);
    /* vt_client_run ends early when the client is CLOSED; then only the
     * condition counts. */
    while (vtc_left_ms(deadline) > 0) {
        vt_err err = vt_client_run(k->c, vtc_left_ms(deadline), waiter_done, &w);

        if (err == VT_OK || vt_client_get_state(k->c) == VT_CLIENT_CLOSED)
            break;
        if (err == VT_ERR_UNAVAILABLE)
            break;
        /* vt_client_service failed: keep servicing until the deadline */
        poll(NULL, 0, 10);
    }
    return cond != NULL && cond(k, ud);
}

void vck_expect(vck_client *k, vck_cond cond, const void *ud, int timeout_ms,
                const char *what)
{
    if (!vck_wait(k, cond, ud, timeout_ms))
        vcl_failf(k->ctx, "client %s: %s: not within %d ms", k->label, what, timeout_ms);
}

void vck_pump(vck_client *k, int ms)
{
    int64_t deadline = vtc_now_ms() + ms;

    while (k->c != NULL && vtc_left_ms(deadline) > 0) {
        vt_err err = vt_client_service(
            k->c, vtc_left_ms(deadline) > 50 ? 50 : vtc_left_ms(deadline));
        if (err != VT_OK)
            poll(NULL, 0, 10);
    }
}

bool vck_is_live(vck_client *k, const void *unused)
{
    (void)unused;
    return k->c != NULL && vt_client_get_state(k->c) == VT_CLIENT_LIVE;
}

size_t vck_count_text(const vck_client *k, const char *text)
{
    size_t n = 0;

    for (size_t i = 0; i < k->nmsg; i++)
        n += k->msgs[i].text != NULL && strcmp(k->msgs[i].text, text) == 0;
    return n;
}

bool vck_has_text(vck_client *k, const void *text)
{
    return vck_count_text(k, text) > 0;
}

bool vck_has_notice(vck_client *k, const void *unused)
{
    (void)unused;
    return k->nnotice > 0;
}

bool vck_has_ident(vck_client *k, const void *username)
{
    for (size_t i = 0; i < k->nident; i++)
        if (strcmp(k->idents[i].username, username) == 0)
            return true;
    return false;
}

int vck_last_status(const vck_client *k, const uint8_t mid[16])
{
    int st = -1;

    for (size_t i = 0; i < k->nst; i++)
        if (memcmp(k->sts[i].message_id, mid, 16) == 0)
            st = (int)k->sts[i].st;
    return st;
}

bool vck_saw_status(const vck_client *k, const uint8_t mid[16], vt_client_msg_status st)
{
    for (size_t i = 0; i < k->nst; i++)
        if (memcmp(k->sts[i].message_id, mid, 16) == 0 && k->sts[i].st == st)
            return true;
    return false;
}

static bool sent_cond(vck_client *k, const void *mid)
{
    return vck_saw_status(k, mid, VT_MSG_SENT) ||
           vck_saw_status(k, mid, VT_MSG_DELIVERED) ||
           vck_saw_status(k, mid, VT_MSG_FAILED);
}

void vck_send(vck_client *k, const char *to, const char *text, uint8_t mid[16])
{
    vt_err err = vt_client_send_text(k->c, to, text, mid);

    if (err != VT_OK)
        vcl_failf(k->ctx, "vt_client_send_text(%s): %s", to, vt_strerror(err));
    vck_expect(k, sent_cond, mid, VCK_WAIT_MS, "the message reported SENT");
    if (vck_saw_status(k, mid, VT_MSG_FAILED))
        vcl_failf(k->ctx, "client %s: the message to %s FAILED", k->label, to);
}

typedef struct hist_find {
    const char *text;
    bool found;
} hist_find;

static bool hist_cb(void *ud, const vt_client_message *m, vt_client_msg_status st)
{
    hist_find *h = ud;

    (void)st;
    if (m->text != NULL && strcmp(m->text, h->text) == 0)
        h->found = true;
    return !h->found;
}

bool vck_history_has(vck_client *k, const char *text)
{
    hist_find h = {text, false};
    vt_err err = vt_client_history(k->c, NULL, hist_cb, &h);

    if (err != VT_OK)
        vcl_failf(k->ctx, "vt_client_history: %s", vt_strerror(err));
    return h.found;
}

void vck_text(char out[64], const char *prefix)
{
    uint8_t r[16];
    char h[17];

    vtc_random16(r); /* the first 8 of 16 random bytes */
    hex8(h, r);
    snprintf(out, 64, "%s-%s", prefix, h);
}

/* ---- Frames ------------------------------------------------------------------------ */

Ventra__V1__Frame *vck_decode(const uint8_t *data, size_t len)
{
    return ventra__v1__frame__unpack(NULL, len, data);
}

int vck_request_case(const uint8_t *data, size_t len)
{
    Ventra__V1__Frame *f = vck_decode(data, len);
    int body = 0;

    if (f != NULL && f->kind_case == VENTRA__V1__FRAME__KIND_REQUEST &&
        f->request != NULL)
        body = (int)f->request->body_case;
    if (f != NULL)
        ventra__v1__frame__free_unpacked(f, NULL);
    return body;
}

bool vck_contains(const uint8_t *hay, size_t len, const void *needle, size_t nlen)
{
    return nlen > 0 && len >= nlen && memmem(hay, len, needle, nlen) != NULL;
}

/* ---- The proxy ------------------------------------------------------------------------
 */

enum { MAX_PAIRS = 8, MAX_MSG = 1 << 20 };

/* One direction of a connection: bytes read and not yet forwarded. */
typedef struct stream {
    uint8_t *buf;
    size_t len, cap;
    bool handshake_done; /* the HTTP part has been passed on */
} stream;

typedef struct pair {
    int cfd, sfd; /* the client's socket and ours to the server; -1 when closed */
    unsigned conn;
    stream up, down; /* up: client to server; down: server to client */
} pair;

struct vck_proxy {
    vcl_ctx *ctx;
    int lfd, wake[2];
    char url[64];
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    bool stop, cut;
    vck_hook hook;
    void *hook_ud;
    pair pairs[MAX_PAIRS];
    unsigned nconn;
    vck_rec *recs;
    size_t nrec, reccap;
    uint8_t *inject; /* frames waiting to go to the newest client */
    size_t ninject;
};

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (fd >= 0 && n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the reader sees the end */
        p += w;
        n -= (size_t)w;
    }
}

/* A WebSocket frame header for |len| bytes with first byte |b0| (FIN, RSV,
 * opcode), masked with |mask| when not NULL; returns its length. */
static size_t ws_header(uint8_t *h, uint8_t b0, size_t len, const uint8_t *mask)
{
    size_t n = 2;

    h[0] = b0;
    if (len < 126) {
        h[1] = (uint8_t)len;
    } else if (len < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        n = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        n = 10;
    }
    if (mask != NULL) {
        h[1] |= 0x80;
        memcpy(h + n, mask, 4);
        n += 4;
    }
    return n;
}

static void send_frame(int fd, uint8_t b0, const uint8_t *data, size_t len, bool masked)
{
    uint8_t h[14], mask[4] = {0};
    uint8_t *copy = NULL;

    if (masked) {
        if (vt_random_bytes(mask, sizeof mask) != VT_OK)
            memset(mask, 0x5a, sizeof mask); /* any key is valid (RFC 6455 5.3) */
        copy = malloc(len ? len : 1);
        if (copy == NULL)
            return;
        for (size_t i = 0; i < len; i++)
            copy[i] = data[i] ^ mask[i & 3];
        data = copy;
    }
    write_all(fd, h, ws_header(h, b0, len, masked ? mask : NULL));
    write_all(fd, data, len);
    free(copy);
}

static void record(vck_proxy *p, unsigned conn, vck_dir dir, bool dropped,
                   const uint8_t *data, size_t len)
{
    vck_rec *r;

    if (p->nrec == p->reccap) {
        size_t cap = p->reccap ? p->reccap * 2 : 64;
        vck_rec *nr = realloc(p->recs, cap * sizeof *nr);

        if (nr == NULL)
            return;
        p->recs = nr;
        p->reccap = cap;
    }
    r = &p->recs[p->nrec];
    r->data = malloc(len ? len : 1);
    if (r->data == NULL)
        return;
    memcpy(r->data, data, len);
    r->len = len;
    r->conn = conn;
    r->dir = dir;
    r->dropped = dropped;
    r->at_ms = vtc_now_ms();
    p->nrec++;
}

static void close_pair(pair *pr)
{
    if (pr->cfd >= 0)
        close(pr->cfd);
    if (pr->sfd >= 0)
        close(pr->sfd);
    pr->cfd = pr->sfd = -1;
    free(pr->up.buf);
    free(pr->down.buf);
    memset(&pr->up, 0, sizeof pr->up);
    memset(&pr->down, 0, sizeof pr->down);
}

/* Forwards what |s| holds from one side to |out|: the HTTP handshake as is,
 * then frame by frame; complete unfragmented data messages go through the
 * hook. Called with the lock held. Returns false when the stream is broken. */
static bool pump_stream(vck_proxy *p, pair *pr, stream *s, vck_dir dir, int out)
{
    if (!s->handshake_done) {
        uint8_t *end = memmem(s->buf, s->len, "\r\n\r\n", 4);
        size_t n;

        if (end == NULL)
            return s->len < 16384;
        n = (size_t)(end + 4 - s->buf);
        write_all(out, s->buf, n);
        memmove(s->buf, s->buf + n, s->len - n);
        s->len -= n;
        s->handshake_done = true;
    }
    for (;;) {
        size_t hl = 2, plen;
        bool fin, masked;
        int op;
        uint8_t *payload;

        if (s->len < 2)
            return true;
        fin = (s->buf[0] & 0x80) != 0;
        op = s->buf[0] & 0x0f;
        masked = (s->buf[1] & 0x80) != 0;
        plen = s->buf[1] & 0x7f;
        if (plen == 126) {
            if (s->len < 4)
                return true;
            plen = (size_t)s->buf[2] << 8 | s->buf[3];
            hl = 4;
        } else if (plen == 127) {
            if (s->len < 10)
                return true;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | s->buf[2 + i];
            hl = 10;
        }
        if (plen > MAX_MSG)
            return false;
        if (masked)
            hl += 4;
        if (s->len < hl + plen)
            return true;
        payload = s->buf + hl;
        if (masked)
            for (size_t i = 0; i < plen; i++)
                payload[i] ^= s->buf[hl - 4 + (i & 3)];
        if (fin && (op == 1 || op == 2)) {
            uint8_t *repl = NULL;
            size_t rlen = 0;
            vck_verdict v = VCK_PASS;

            if (p->hook != NULL)
                v = p->hook(p->hook_ud, pr->conn, dir, payload, plen, &repl, &rlen);
            if (v == VCK_ANSWER && repl != NULL && dir == VCK_TO_SERVER) {
                record(p, pr->conn, dir, true, payload, plen);
                record(p, pr->conn, VCK_TO_CLIENT, false, repl, rlen);
                send_frame(pr->cfd, 0x82, repl, rlen, false);
            } else if (v == VCK_REPLACE && repl != NULL) {
                record(p, pr->conn, dir, false, repl, rlen);
                send_frame(out, (uint8_t)(0x80 | op), repl, rlen, dir == VCK_TO_SERVER);
            } else if (v == VCK_DROP) {
                record(p, pr->conn, dir, true, payload, plen);
            } else {
                record(p, pr->conn, dir, false, payload, plen);
                send_frame(out, s->buf[0], payload, plen, dir == VCK_TO_SERVER);
            }
            free(repl);
        } else {
            /* control frames and fragments go through unchanged */
            send_frame(out, s->buf[0], payload, plen, dir == VCK_TO_SERVER);
        }
        memmove(s->buf, s->buf + hl + plen, s->len - hl - plen);
        s->len -= hl + plen;
    }
}

static bool read_into(int fd, stream *s)
{
    uint8_t tmp[16384];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);

    if (n <= 0)
        return false;
    if (s->len + (size_t)n > s->cap) {
        size_t cap = (s->len + (size_t)n) * 2;
        uint8_t *nb = realloc(s->buf, cap);

        if (nb == NULL)
            return false;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, tmp, (size_t)n);
    s->len += (size_t)n;
    return true;
}

static int connect_target(const char *host, int port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *a;
    char ps[16];
    int fd = -1;

    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return -1;
    for (a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static void *proxy_main(void *arg)
{
    vck_proxy *p = arg;
    const char *host = vtc_target_host();
    int port = vcl_port(p->ctx);

    for (;;) {
        struct pollfd fds[2 + 2 * MAX_PAIRS];
        int who[2 + 2 * MAX_PAIRS];
        nfds_t n = 0;

        pthread_mutex_lock(&p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        if (p->cut) {
            for (int i = 0; i < MAX_PAIRS; i++)
                close_pair(&p->pairs[i]);
            p->cut = false;
        }
        if (p->ninject > 0) {
            pair *newest = NULL;

            for (int i = 0; i < MAX_PAIRS; i++)
                if (p->pairs[i].cfd >= 0 &&
                    (newest == NULL || p->pairs[i].conn > newest->conn))
                    newest = &p->pairs[i];
            if (newest != NULL)
                write_all(newest->cfd, p->inject, p->ninject);
            free(p->inject);
            p->inject = NULL;
            p->ninject = 0;
        }
        fds[n] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        who[n++] = -1;
        fds[n] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        who[n++] = -2;
        for (int i = 0; i < MAX_PAIRS; i++) {
            if (p->pairs[i].cfd < 0)
                continue;
            fds[n] = (struct pollfd){.fd = p->pairs[i].cfd, .events = POLLIN};
            who[n++] = 2 * i;
            fds[n] = (struct pollfd){.fd = p->pairs[i].sfd, .events = POLLIN};
            who[n++] = 2 * i + 1;
        }
        pthread_mutex_unlock(&p->mu);
        if (poll(fds, n, 200) <= 0)
            continue;
        pthread_mutex_lock(&p->mu);
        for (nfds_t i = 0; i < n; i++) {
            if (fds[i].revents == 0)
                continue;
            if (who[i] == -2) {
                char b[64];

                if (read(p->wake[0], b, sizeof b) < 0) {
                    /* nothing to do: the pipe only wakes us */
                }
            } else if (who[i] == -1) {
                int cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
                int slot = -1;

                for (int j = 0; j < MAX_PAIRS && cfd >= 0; j++)
                    if (p->pairs[j].cfd < 0) {
                        slot = j;
                        break;
                    }
                if (slot < 0) {
                    if (cfd >= 0)
                        close(cfd);
                    continue;
                }
                p->pairs[slot].sfd = connect_target(host, port);
                if (p->pairs[slot].sfd < 0) {
                    close(cfd);
                    continue;
                }
                p->pairs[slot].cfd = cfd;
                p->pairs[slot].conn = ++p->nconn;
            } else {
                pair *pr = &p->pairs[who[i] / 2];
                bool up = who[i] % 2 == 0;
                stream *s = up ? &pr->up : &pr->down;

                if (pr->cfd < 0 || fds[i].fd != (up ? pr->cfd : pr->sfd))
                    continue; /* closed meanwhile */
                if (!read_into(fds[i].fd, s) ||
                    !pump_stream(p, pr, s, up ? VCK_TO_SERVER : VCK_TO_CLIENT,
                                 up ? pr->sfd : pr->cfd))
                    close_pair(pr);
            }
        }
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

static void wake(vck_proxy *p)
{
    if (write(p->wake[1], "x", 1) < 0) {
        /* the thread wakes within 200 ms anyway */
    }
}

static void proxy_stop(void *arg)
{
    vck_proxy *p = arg;

    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_mutex_unlock(&p->mu);
        wake(p);
        pthread_join(p->thread, NULL);
    }
    for (int i = 0; i < MAX_PAIRS; i++)
        close_pair(&p->pairs[i]);
    if (p->lfd >= 0)
        close(p->lfd);
    if (p->wake[0] >= 0) {
        close(p->wake[0]);
        close(p->wake[1]);
    }
    vck_recs_free(p->recs, p->nrec);
    free(p->inject);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* A listening socket on 127.0.0.1, any port; its port to *port. */
static int listen_loopback(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

vck_proxy *vck_proxy_start(vcl_ctx *ctx)
{
    vck_proxy *p;
    int port = 0;

    if (vtc_target_is_tls())
        vcl_skip(ctx, "the proxy needs a ws:// target");
    p = calloc(1, sizeof *p);
    if (p == NULL)
        vcl_failf(ctx, "out of memory");
    p->ctx = ctx;
    p->lfd = p->wake[0] = p->wake[1] = -1;
    for (int i = 0; i < MAX_PAIRS; i++)
        p->pairs[i].cfd = p->pairs[i].sfd = -1;
    pthread_mutex_init(&p->mu, NULL);
    vcl_defer(ctx, proxy_stop, p);
    if ((p->lfd = listen_loopback(&port)) < 0 || pipe2(p->wake, O_CLOEXEC) != 0)
        vcl_failf(ctx, "proxy: cannot listen: %s", strerror(errno));
    snprintf(p->url, sizeof p->url, "ws://127.0.0.1:%d", port);
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0)
        vcl_failf(ctx, "proxy: no thread");
    p->started = true;
    return p;
}

const char *vck_proxy_url(const vck_proxy *p)
{
    return p->url;
}

void vck_proxy_set_hook(vck_proxy *p, vck_hook hook, void *ud)
{
    pthread_mutex_lock(&p->mu);
    p->hook = hook;
    p->hook_ud = ud;
    pthread_mutex_unlock(&p->mu);
}

void vck_proxy_lock(vck_proxy *p)
{
    pthread_mutex_lock(&p->mu);
}

void vck_proxy_unlock(vck_proxy *p)
{
    pthread_mutex_unlock(&p->mu);
}

bool vck_proxy_inject(vck_proxy *p, const uint8_t *data, size_t len)
{
    uint8_t h[14];
    size_t hl = ws_header(h, 0x82, len, NULL);
    bool any = false;
    uint8_t *nb;

    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < MAX_PAIRS; i++)
        any |= p->pairs[i].cfd >= 0;
    nb = any ? realloc(p->inject, p->ninject + hl + len) : NULL;
    if (nb != NULL) {
        memcpy(nb + p->ninject, h, hl);
        memcpy(nb + p->ninject + hl, data, len);
        p->inject = nb;
        p->ninject += hl + len;
    }
    pthread_mutex_unlock(&p->mu);
    wake(p);
    return nb != NULL;
}

bool vck_proxy_inject_locked(vck_proxy *p, const uint8_t *data, size_t len)
{
    uint8_t h[14];
    size_t hl = ws_header(h, 0x82, len, NULL);
    uint8_t *nb = realloc(p->inject, p->ninject + hl + len);

    if (nb == NULL)
        return false;
    memcpy(nb + p->ninject, h, hl);
    memcpy(nb + p->ninject + hl, data, len);
    p->inject = nb;
    p->ninject += hl + len;
    return true;
}

void vck_proxy_cut(vck_proxy *p)
{
    pthread_mutex_lock(&p->mu);
    p->cut = true;
    pthread_mutex_unlock(&p->mu);
    wake(p);
    /* done when the thread has been round its loop once */
    for (int i = 0; i < 100; i++) {
        bool pending;

        pthread_mutex_lock(&p->mu);
        pending = p->cut;
        pthread_mutex_unlock(&p->mu);
        if (!pending)
            break;
        poll(NULL, 0, 10);
    }
}

vck_rec *vck_proxy_records(vck_proxy *p, size_t *n)
{
    vck_rec *out;

    pthread_mutex_lock(&p->mu);
    out = calloc(p->nrec + 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; out != NULL && i < p->nrec; i++) {
        out[i] = p->recs[i];
        out[i].data = malloc(p->recs[i].len ? p->recs[i].len : 1);
        if (out[i].data == NULL)
            break;
        memcpy(out[i].data, p->recs[i].data, p->recs[i].len);
        *n = i + 1;
    }
    pthread_mutex_unlock(&p->mu);
    if (out == NULL)
        vcl_failf(p->ctx, "out of memory");
    return out;
}

void vck_recs_free(vck_rec *r, size_t n)
{
    for (size_t i = 0; r != NULL && i < n; i++)
        free(r[i].data);
    free(r);
}

/* ---- The TLS listener ------------------------------------------------------------ */

struct vck_tls {
    vcl_ctx *ctx;
    int lfd, port;
    char cert_file[300];
    SSL_CTX *ssl;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    bool stop, http;
    size_t handshakes;
};

static void *tls_main(void *arg)
{
    vck_tls *t = arg;

    for (;;) {
        struct pollfd pf = {.fd = t->lfd, .events = POLLIN};
        bool stop;
        int fd;
        SSL *s;

        pthread_mutex_lock(&t->mu);
        stop = t->stop;
        pthread_mutex_unlock(&t->mu);
        if (stop)
            break;
        if (poll(&pf, 1, 100) <= 0)
            continue;
        if ((fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
            continue;
        {
            struct timeval tv = {.tv_sec = 3};

            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        }
        s = SSL_new(t->ssl);
        if (s != NULL && SSL_set_fd(s, fd) == 1 && SSL_accept(s) == 1) {
            char buf[8] = {0};
            int n;

            pthread_mutex_lock(&t->mu);
            t->handshakes++;
            pthread_mutex_unlock(&t->mu);
            n = SSL_read(s, buf, 4);
            if (n == 4 && memcmp(buf, "GET ", 4) == 0) {
                pthread_mutex_lock(&t->mu);
                t->http = true;
                pthread_mutex_unlock(&t->mu);
            }
        }
        ERR_clear_error();
        SSL_free(s);
        close(fd);
    }
    return NULL;
}

static void tls_stop(void *arg)
{
    vck_tls *t = arg;

    if (t->started) {
        pthread_mutex_lock(&t->mu);
        t->stop = true;
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
    }
    if (t->lfd >= 0)
        close(t->lfd);
    SSL_CTX_free(t->ssl);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* A self-signed certificate for 127.0.0.1 (CN and IP SAN) into |ssl|, its
 * PEM into |path|. */
static bool make_cert(SSL_CTX *ssl, const char *path)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    X509V3_CTX v3;
    X509_EXTENSION *ext = NULL;
    FILE *f = NULL;
    bool ok = false;

    if (key == NULL || x == NULL)
        goto out;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
    if (ext == NULL || !X509_add_ext(x, ext, -1) || !X509_sign(x, key, EVP_sha256()))
        goto out;
    if (SSL_CTX_use_certificate(ssl, x) != 1 || SSL_CTX_use_PrivateKey(ssl, key) != 1)
        goto out;
    if ((f = fopen(path, "w")) == NULL || PEM_write_X509(f, x) != 1)
        goto out;
    ok = true;
out:
    if (f != NULL && fclose(f) != 0)
        ok = false;
    X509_EXTENSION_free(ext);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
}

vck_tls *vck_tls_start(vcl_ctx *ctx)
{
    vck_tls *t = calloc(1, sizeof *t);
    char *dir;

    if (t == NULL)
        vcl_failf(ctx, "out of memory");
    t->ctx = ctx;
    t->lfd = -1;
    pthread_mutex_init(&t->mu, NULL);
    vcl_defer(ctx, tls_stop, t);
    dir = temp_dir(ctx);
    snprintf(t->cert_file, sizeof t->cert_file, "%s/cert.pem", dir);
    if ((t->ssl = SSL_CTX_new(TLS_server_method())) == NULL ||
        !make_cert(t->ssl, t->cert_file))
        vcl_failf(ctx, "TLS listener: cannot make a certificate");
    if ((t->lfd = listen_loopback(&t->port)) < 0)
        vcl_failf(ctx, "TLS listener: cannot listen: %s", strerror(errno));
    if (pthread_create(&t->thread, NULL, tls_main, t) != 0)
        vcl_failf(ctx, "TLS listener: no thread");
    t->started = true;
    return t;
}

int vck_tls_port(const vck_tls *t)
{
    return t->port;
}

const char *vck_tls_cert_file(const vck_tls *t)
{
    return t->cert_file;
}

void vck_tls_seen(vck_tls *t, size_t *handshakes, bool *http)
{
    pthread_mutex_lock(&t->mu);
    *handshakes = t->handshakes;
    *http = t->http;
    pthread_mutex_unlock(&t->mu);
}

uint8_t *vck_pack(const Ventra__V1__Frame *f, size_t *len)
{
    size_t n = ventra__v1__frame__get_packed_size(f);
    uint8_t *out = malloc(n ? n : 1);

    if (out != NULL)
        *len = ventra__v1__frame__pack(f, out);
    return out;
}

uint8_t *vck_error_response(uint32_t id, int code, size_t *len)
{
    Ventra__V1__Frame f = VENTRA__V1__FRAME__INIT;
    Ventra__V1__Response r = VENTRA__V1__RESPONSE__INIT;
    Ventra__V1__Error e = VENTRA__V1__ERROR__INIT;

    e.code = (Ventra__V1__ErrorCode)code;
    r.id = id;
    r.error = &e;
    f.kind_case = VENTRA__V1__FRAME__KIND_RESPONSE;
    f.response = &r;
    return vck_pack(&f, len);
}

/* ---- Added: a receiving client process and its data directory (CRYPTO-74) ----- */

typedef struct recv_child {
    int fd;
    bool die;
} recv_child;

/* The child's message callback: the text to the pipe, then maybe death. */
static void child_shown(void *ud, const vt_client_message *m)
{
    recv_child *rc = ud;
    size_t len = m->text ? strlen(m->text) : 0;

    if (len && write(rc->fd, m->text, len) < 0)
        _exit(5);
    if (write(rc->fd, "\n", 1) < 0)
        _exit(5);
    if (rc->die)
        raise(SIGKILL);
}

static void close_fd(void *p)
{
    close((int)(intptr_t)p);
}

int vck_fork_recv(vck_client *k, bool die_in_callback, int *shown_fd)
{
    child *ch = child_new(k);
    int fds[2];
    pid_t pid;

    if (pipe(fds) != 0)
        vcl_failf(k->ctx, "pipe: %s", strerror(errno));
    vcl_defer(k->ctx, close_fd, (void *)(intptr_t)fds[0]);
    pid = child_fork(k);
    if (pid == 0) {
        recv_child rc = {fds[1], die_in_callback};
        vt_client_callbacks cb = {.message = child_shown};
        vt_client *c = NULL;

        close(fds[0]);
        if (open_with(k, &c, &cb, &rc) != VT_OK || vt_client_start(c) != VT_OK)
            _exit(3);
        child_serve(c);
    }
    close(fds[1]);
    if (fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK) != 0)
        vcl_failf(k->ctx, "fcntl: %s", strerror(errno));
    *shown_fd = fds[0];
    ch->pid = pid;
    vcl_log(k->ctx, "client %s: receives in process %d", k->label, (int)pid);
    return (int)pid;
}

uint64_t vck_dir_stamp(const vck_client *k)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over what changes */
    DIR *d = opendir(k->dir);
    struct dirent *e;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char path[600];
        struct stat st;
        uint64_t v[3] = {0, 0, 0};

        for (const char *c = e->d_name; *c; c++)
            h = (h ^ (uint8_t)*c) * 1099511628211ull;
        snprintf(path, sizeof path, "%s/%s", k->dir, e->d_name);
        if (stat(path, &st) == 0) {
            v[0] = (uint64_t)st.st_size;
            v[1] = (uint64_t)st.st_mtim.tv_sec;
            v[2] = (uint64_t)st.st_mtim.tv_nsec;
        }
        for (size_t i = 0; i < 3; i++)
            h = (h ^ v[i]) * 1099511628211ull;
    }
    closedir(d);
    return h;
}
