/* The kit of the client tier, `ventra-conform client --url URL`: drives a
 * client implementation through the C API of ventra/client.h (ours is
 * libventra-client; another one provides the same API as a shim) against
 * the real server at --url, records what it reports through its callbacks,
 * and puts an intercepting proxy between it and the server where a case
 * needs to see the client's frames or a server that misbehaves (spec/wire.md,
 * auth.md, delivery.md, crypto.md, security.md: the client's side). */
#ifndef VCK_CLIENT_KIT_H
#define VCK_CLIENT_KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "live.h"
#include "ventra/client.h"
#include "ventra/v1/frame.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ends each cases_<area>.c of the client tier: as VCL_CASES, but the table
 * is `vcl_ccases_<area>` so that the tier's area names may repeat the live
 * tier's (cases.c lists it). */
#define VCK_CASES(area, ...)                                                             \
    extern const vcl_case vcl_ccases_##area[];                                           \
    extern const size_t vcl_ccases_##area##_count;                                       \
    const vcl_case vcl_ccases_##area[] = {__VA_ARGS__};                                  \
    const size_t vcl_ccases_##area##_count = sizeof vcl_ccases_##area / sizeof(vcl_case)

/* The usual waits, in milliseconds. */
enum { VCK_WAIT_MS = 8000, VCK_QUIET_MS = 1500 };

/* ---- A client under test --------------------------------------------------- */

/* One thing the client reported through vt_client_callbacks. */
typedef struct vck_msg {
    char conversation[65], sender[33];
    uint32_t sender_device;
    uint8_t message_id[16];
    bool has_group;
    uint8_t group_id[16];
    char *text;
    bool outgoing;
    int64_t at_ms; /* vtc_now_ms() when reported */
} vck_msg;

typedef struct vck_status {
    uint8_t message_id[16];
    vt_client_msg_status st;
    vt_err err;
} vck_status;

typedef struct vck_receipt {
    char from[33];
    uint8_t message_id[16];
    bool read;
} vck_receipt;

typedef struct vck_ident {
    char username[33];
    uint32_t device_id;
} vck_ident;

/* A vt_client on a data directory of its own (a fresh temporary one,
 * removed after the case), with a passphrase, and what it reported. */
typedef struct vck_client {
    vcl_ctx *ctx;
    vt_client *c; /* NULL while shut (vck_shut) */
    char dir[256], url[320], name[33], ca[300];
    char label[16]; /* "A", "B", ... in the case's log */
    vck_msg *msgs;
    size_t nmsg;
    vck_status *sts;
    size_t nst;
    vck_receipt *rcpts;
    size_t nrcpt;
    vck_ident *idents;
    size_t nident;
    char **notices;
    size_t nnotice;
    size_t ntyping;   /* typing callbacks */
    bool typing_last; /* the last one's |started| */
    vt_client_state state;
    vt_err state_why;
    size_t nstates;
    bool was_live, was_closed;
} vck_client;

/* Opens a client on a fresh data directory for |url| (NULL: the --url of
 * the run; the --ca file goes with it). Fails the case when vt_client_open
 * fails. Closed and removed after the case. */
vck_client *vck_open(vcl_ctx *ctx, const char *url);

/* vck_open with the CA file |ca_file| (NULL: the system store). */
vck_client *vck_open_ca(vcl_ctx *ctx, const char *url, const char *ca_file);

/* vt_client_open's result for |url| on a fresh data directory; the client,
 * if one opened, is closed at once. */
vt_err vck_try_open(vcl_ctx *ctx, const char *url);

/* vck_open, then vt_client_register of a fresh name starting with
 * |prefix|; fails the case unless it returns VT_OK. */
vck_client *vck_account(vcl_ctx *ctx, const char *prefix, const char *url);

/* A second device of |owner|'s account linked through the client API
 * (link_begin on the new one, link_approve on |owner|, link_finish); the
 * code and reply go to |code| and |reply| when not NULL (128 bytes each). */
vck_client *vck_link(vcl_ctx *ctx, vck_client *owner, char *code, char *reply);

/* Closes the vt_client (vt_client_close) and keeps its data directory and
 * records; vck_reopen opens it again on the same directory and starts it. */
void vck_shut(vck_client *k);
void vck_reopen(vck_client *k);

/* A client process that can be killed (CRYPTO-93): shuts |k| (vck_shut),
 * then forks a child that opens a vt_client on |k|'s data directory (no
 * callbacks), starts it, queues |text| to |to| and services it until it
 * is killed (at most 60 s). Returns the child's pid; vck_kill sends it
 * SIGKILL and reaps it (also done after the case). vck_reopen opens |k|
 * again afterwards. */
int vck_fork_send(vck_client *k, const char *to, const char *text);
void vck_kill(vcl_ctx *ctx, int pid);

/* Runs the client until |cond|(|k|, |ud|) holds or |timeout_ms| passed;
 * returns whether it holds. vck_expect fails the case with |what| when not. */
typedef bool (*vck_cond)(vck_client *k, const void *ud);
bool vck_wait(vck_client *k, vck_cond cond, const void *ud, int timeout_ms);
void vck_expect(vck_client *k, vck_cond cond, const void *ud, int timeout_ms,
                const char *what);

/* Runs the client for |ms| milliseconds, whatever happens. */
void vck_pump(vck_client *k, int ms);

/* Conditions. */
bool vck_is_live(vck_client *k, const void *unused);
bool vck_has_text(vck_client *k, const void *text);     /* a message with this text */
bool vck_has_notice(vck_client *k, const void *unused); /* any notice */
bool vck_has_ident(vck_client *k, const void *username);

/* The number of messages reported with text |text|. */
size_t vck_count_text(const vck_client *k, const char *text);

/* The last status reported for |mid|, or -1 when none. */
int vck_last_status(const vck_client *k, const uint8_t mid[16]);

/* Whether |mid| reached status |st| (at some point). */
bool vck_saw_status(const vck_client *k, const uint8_t mid[16], vt_client_msg_status st);

/* Queues a text (vt_client_send_text), fails the case unless VT_OK, and
 * waits until the client reports it SENT; the id goes to |mid|. */
void vck_send(vck_client *k, const char *to, const char *text, uint8_t mid[16]);

/* Whether vt_client_history holds a message with |text| (any conversation). */
bool vck_history_has(vck_client *k, const char *text);

/* A random text unique to the case, "<prefix>-<16 hex digits>" into |out|. */
void vck_text(char out[64], const char *prefix);

/* ---- The intercepting proxy ---------------------------------------------------
 *
 * A loopback listener (ws://127.0.0.1:PORT) that passes every connection
 * through to the target server byte for byte (the opening handshake
 * included, so the client's own Sec-WebSocket-Key is answered by the real
 * server), parses the WebSocket frames of both directions, records every
 * data message, and lets a hook drop or replace a message or the proxy
 * inject one towards the client. It runs in a thread of its own; hooks run
 * there with the proxy's lock held. Needs a ws:// target (SKIPs otherwise).
 * Fragmented messages are passed through unchanged and not recorded. */

typedef struct vck_proxy vck_proxy;

typedef enum { VCK_TO_SERVER, VCK_TO_CLIENT } vck_dir;

typedef enum { VCK_PASS, VCK_DROP, VCK_REPLACE, VCK_ANSWER } vck_verdict;

/* Decides on one data message (|data|, |len|, the payload) on connection
 * |conn| (1, 2, ... per proxy); for VCK_REPLACE sets *out to a malloc'd
 * payload of *out_len bytes that goes on instead (the proxy frees it); for
 * VCK_ANSWER (towards the server only) the message is dropped and *out goes
 * back to the client instead, as if the server had answered. */
typedef vck_verdict (*vck_hook)(void *ud, unsigned conn, vck_dir dir, const uint8_t *data,
                                size_t len, uint8_t **out, size_t *out_len);

/* One recorded data message, as it was forwarded (after the hook). */
typedef struct vck_rec {
    unsigned conn;
    vck_dir dir;
    bool dropped;
    int64_t at_ms;
    uint8_t *data;
    size_t len;
} vck_rec;

/* Starts a proxy to the target; stopped after the case. */
vck_proxy *vck_proxy_start(vcl_ctx *ctx);

/* ws://127.0.0.1:PORT of the proxy (owned by it). */
const char *vck_proxy_url(const vck_proxy *p);

/* Sets the hook (NULL: pass everything). */
void vck_proxy_set_hook(vck_proxy *p, vck_hook hook, void *ud);

/* The proxy's lock, for state a hook shares with the case. */
void vck_proxy_lock(vck_proxy *p);
void vck_proxy_unlock(vck_proxy *p);

/* Sends the binary message |data| to the client on the newest connection;
 * false when there is none. */
bool vck_proxy_inject(vck_proxy *p, const uint8_t *data, size_t len);

/* As vck_proxy_inject, from inside a hook (the proxy's lock is held);
 * the messages go out, in the order given, right after the hook returns. */
bool vck_proxy_inject_locked(vck_proxy *p, const uint8_t *data, size_t len);

/* Ends every connection (both sockets closed, no close frame). */
void vck_proxy_cut(vck_proxy *p);

/* A copy of the records so far (free with vck_recs_free). */
vck_rec *vck_proxy_records(vck_proxy *p, size_t *n);
void vck_recs_free(vck_rec *r, size_t n);

/* Decodes a recorded payload as a Frame (NULL when it does not decode);
 * free with ventra__v1__frame__free_unpacked(f, NULL). */
Ventra__V1__Frame *vck_decode(const uint8_t *data, size_t len);

/* A packed Frame (malloc'd, *len bytes), and one holding a Response with
 * |id| and an Error of |code| and no body. NULL when out of memory. */
uint8_t *vck_pack(const Ventra__V1__Frame *f, size_t *len);
uint8_t *vck_error_response(uint32_t id, int code, size_t *len);

/* The request body case of a payload to the server (0 when none). */
int vck_request_case(const uint8_t *data, size_t len);

/* Whether the |nlen| bytes |needle| occur in the |len| bytes |hay|. */
bool vck_contains(const uint8_t *hay, size_t len, const void *needle, size_t nlen);

/* ---- A TLS listener with a self-signed certificate ------------------------------ */

typedef struct vck_tls vck_tls;

/* Listens on 127.0.0.1 with a fresh self-signed certificate for
 * 127.0.0.1 (its PEM written to a file of the case) and accepts
 * connections in a thread: each does the TLS handshake and records what the
 * client sent afterwards (nothing is answered). Stopped after the case. */
vck_tls *vck_tls_start(vcl_ctx *ctx);
int vck_tls_port(const vck_tls *t);
const char *vck_tls_cert_file(const vck_tls *t);

/* How many connections completed the TLS handshake, and whether any sent
 * an HTTP request (bytes starting "GET ") after it. */
void vck_tls_seen(vck_tls *t, size_t *handshakes, bool *http);

/* ---- Added: a receiving client process and its data directory (CRYPTO-74) ----- */

/* A client process that receives, for crash sweeps: shuts |k| (vck_shut),
 * then forks a child that opens a vt_client on |k|'s data directory with a
 * message callback only, starts it and services it until it is killed (at
 * most 60 s). The text of each message the child shows goes, with a
 * newline, into a pipe whose read end (non-blocking, closed after the
 * case) goes to *shown_fd; with |die_in_callback| the child SIGKILLs
 * itself in the callback right after writing it. Returns the child's pid
 * (vck_kill; reaped after the case in any event). */
int vck_fork_recv(vck_client *k, bool die_in_callback, int *shown_fd);

/* A value that changes whenever a file directly in |k|'s data directory is
 * created, removed, written or resized (names, sizes and modification
 * times), so that a case can kill a client process at its Nth write. */
uint64_t vck_dir_stamp(const vck_client *k);

#ifdef __cplusplus
}
#endif

#endif
