/* ventra-bench's load generator: one epoll loop driving many non-blocking
 * connections, each an RFC 6455 client (masked binary frames, ping answers,
 * keep-alive pings; spec/wire.md section 1) or a raw TCP stream (the bare
 * relay baseline); a protocol client on top (register, login, send, ack;
 * spec/wire.md, auth.md, delivery.md); and the helpers the network modes
 * share: latency histograms, the server process, /proc readings.
 * Bench code: it aborts on out of memory and never links the test kit. */
#ifndef VENTRA_BENCH_LG_H
#define VENTRA_BENCH_LG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ventra/identity.h"
#include "ventra/ratchet.h"
#include "ventra/v1/frame.pb-c.h"

/* ---- targets ---------------------------------------------------------- */

/* Where to connect: a numeric IPv4 address (loopback in this bench), a
 * port and, for WebSocket, the request path. */
typedef struct lg_target {
    char host[64];
    int port;
    char path[128];
} lg_target;

/* Parses "ws://HOST:PORT[/PATH]" or "HOST:PORT" into |t| (path defaults to
 * WS_PATH). Returns false when it is neither or HOST is not numeric IPv4. */
bool lg_target_parse(lg_target *t, const char *url);

/* ---- the loop and its connections (lg_ws.c) --------------------------- */

typedef struct lg_loop lg_loop;
typedef struct lg_conn lg_conn;

typedef enum lg_conn_kind {
    LG_CONN_WS,  /* RFC 6455 client, subprotocol PROTOCOL_NAME */
    LG_CONN_RAW, /* plain TCP bytes, no framing */
} lg_conn_kind;

/* Close codes reported for ends without a close frame. */
#define LG_CLOSE_EOF (-1)   /* the peer closed TCP without a close frame */
#define LG_CLOSE_ERROR (-2) /* connect, handshake or RFC 6455 failure */

typedef struct lg_conn_cbs {
    /* Upgraded (WS) or connected (raw): sending is possible now. */
    void (*on_open)(lg_conn *c, void *ud);
    /* One complete binary message (WS) or the bytes that arrived (raw);
     * |data| is valid during the call only. */
    void (*on_data)(lg_conn *c, void *ud, const uint8_t *data, size_t len);
    /* The peer or the network ended the connection: the peer's close code
     * (1005 when its close frame had none) or LG_CLOSE_*. Called at most
     * once, never after lg_conn_close; |c| is freed after the loop pass. */
    void (*on_close)(lg_conn *c, void *ud, int code);
} lg_conn_cbs;

/* A new loop (aborts when epoll is unavailable). */
lg_loop *lg_loop_new(void);

/* Closes every connection (no callbacks) and frees the loop. NULL ok. */
void lg_loop_free(lg_loop *l);

/* Waits at most |timeout_ns| for socket events, handles them (callbacks
 * run here), then writes all buffered output. Returns the number of
 * events handled. */
int lg_loop_run(lg_loop *l, uint64_t timeout_ns);

/* Writes all buffered output now (what the socket takes; the rest goes
 * out when it is writable again). */
void lg_loop_flush(lg_loop *l);

/* With |on|, every message is written at once with its own send()
 * (what is refused waits for EPOLLOUT), as separate clients would; off
 * (the default), a loop pass's messages to one connection share one
 * write. */
void lg_loop_write_each(lg_loop *l, bool on);

/* Open or opening connections of |l|. */
size_t lg_loop_conns(const lg_loop *l);

/* Sends a WebSocket ping on every open WS connection that has written
 * nothing for |idle_ns| (WIRE-11 keep-alive). Returns how many. */
size_t lg_loop_keepalive(lg_loop *l, uint64_t now_ns, uint64_t idle_ns);

/* Starts a non-blocking connection to |t|, bound first to |src_ip| when
 * not NULL (any 127.0.0.0/8 address works on loopback). Callbacks get |ud|.
 * Returns NULL when no socket could be made; a failure later is reported
 * through on_close. */
lg_conn *lg_conn_open(lg_loop *l, const lg_target *t, lg_conn_kind kind,
                      const char *src_ip, const lg_conn_cbs *cbs, void *ud);

/* Queues one binary message (WS: one masked frame) or raw bytes. The
 * bytes go out at the end of the loop pass (or lg_loop_flush). */
void lg_conn_send(lg_conn *c, const void *data, size_t len);

/* Zero-copy form of lg_conn_send: returns where to write the |len|
 * payload bytes, valid until lg_conn_msg_end, which masks and queues
 * them. No other call on |c| in between. */
uint8_t *lg_conn_msg_begin(lg_conn *c, size_t len);
void lg_conn_msg_end(lg_conn *c);

/* Queues a WebSocket ping (no-op for raw connections). */
void lg_conn_ping(lg_conn *c);

/* Ends the connection from our side: WS sends a close frame with |code|
 * first (best effort), then the socket is closed. No on_close follows. */
void lg_conn_close(lg_conn *c, int code);

/* True once on_open has run and until the connection ends. */
bool lg_conn_is_open(const lg_conn *c);

/* Monotonic time of the last byte read (0: none yet). */
uint64_t lg_conn_last_rx_ns(const lg_conn *c);

/* ---- the protocol client (lg_proto.c) --------------------------------- */

typedef struct lg_client lg_client;

typedef struct lg_client_cbs {
    /* Register or Login succeeded: requests may be sent. */
    void (*on_ready)(lg_client *c, void *ud);
    /* The Response to a request made with lg_client_send/ack, with the
     * |tag| given then. Valid during the call only. */
    void (*on_response)(lg_client *c, void *ud, uint64_t tag,
                        const Ventra__V1__Response *r);
    /* A server event (after on_ready). Valid during the call only. */
    void (*on_event)(lg_client *c, void *ud, const Ventra__V1__Event *ev);
    /* Setup failed (|what| names the step, |code| the wire error or close
     * code) or the connection ended. Called once; the client stays
     * allocated (not ready) until lg_client_free. */
    void (*on_fail)(lg_client *c, void *ud, const char *what, int code);
} lg_client_cbs;

typedef struct lg_client_opts {
    const lg_target *target;
    const char *src_ip;        /* source address to bind; NULL: any */
    const char *username;      /* copied */
    const vt_identity *id;     /* borrowed: must outlive the setup */
    bool login;                /* Login as |device_id| instead of Register */
    uint32_t device_id;        /* for Login */
    const uint8_t *server_key; /* 32 bytes when known: no GetServerInfo */
    const char *device_name;   /* for Register; NULL: "ventra-bench" */
} lg_client_opts;

/* Connects and authenticates: GetServerInfo (unless the key is known),
 * GetChallenge, then Register (AUTH-21 transcript) or Login (AUTH-30),
 * signed by |o->id|. Returns the client (aborts on out of memory); the
 * outcome comes through the callbacks. */
lg_client *lg_client_start(lg_loop *l, const lg_client_opts *o, const lg_client_cbs *cbs,
                           void *ud);

/* Closes the connection (close frame 1000) and frees. Not from inside
 * the client's own callbacks. NULL ok. */
void lg_client_free(lg_client *c);

/* Ends the connection now (close frame 1000) but keeps the client and
 * what it learned (device id, server key); a ready client stays "ready"
 * without a connection and sends nothing more. Safe inside callbacks. */
void lg_client_close(lg_client *c);

bool lg_client_ready(const lg_client *c);
bool lg_client_failed(const lg_client *c);
unsigned lg_client_inflight(const lg_client *c);
/* The smaller of MAX_INFLIGHT_REQUESTS and what the server advertised. */
unsigned lg_client_max_inflight(const lg_client *c);
uint32_t lg_client_device_id(const lg_client *c);
const uint8_t *lg_client_server_key(const lg_client *c); /* 32 bytes */
/* Monotonic time at which the Register or Login request was queued. */
uint64_t lg_client_auth_sent_ns(const lg_client *c);
lg_conn *lg_client_conn(lg_client *c);

/* Send (one stored envelope of |type| for |device_id| of |recipient|,
 * spec/delivery.md section 3) and Ack (|n| <= MAX_ACK_BATCH seqs).
 * Return false, sending nothing, when the client is not ready or already
 * has lg_client_max_inflight requests in flight (WIRE-35). */
bool lg_client_send(lg_client *c, const char *recipient, const uint8_t message_id[16],
                    uint32_t device_id, int type, const uint8_t *content, size_t len,
                    uint64_t tag);
bool lg_client_ack(lg_client *c, const uint64_t *seqs, size_t n, uint64_t tag);

/* Starts the clients of opts[0..n) with at most |window| of them in setup
 * at once and runs |l| until every one is ready or failed, or |timeout_s|
 * has passed. Client i gets the callbacks cbs[i] and the argument uds[i]
 * (|uds| may be NULL). out[i] receives each client (never NULL). Returns
 * how many are ready. */
size_t lg_clients_setup(lg_loop *l, lg_client **out, const lg_client_opts *opts, size_t n,
                        size_t window, double timeout_s, const lg_client_cbs *const *cbs,
                        void *const *uds);

/* ---- end-to-end payloads (lg_proto.c) ---------------------------------- */

/* Sets up a Double Ratchet session pair locally, as two devices would over
 * the server: a fresh signed prekey (id 1) and one-time prekey (id 2) of
 * |recipient| make a bundle; |sender| runs vt_x3dh_initiate on it and
 * encrypts a first message, which |recipient| takes through
 * vt_x3dh_respond. *tx (the sender's) and *rx (the recipient's) are the
 * caller's to free with vt_ratchet_free. False on any error. */
bool lg_session_pair(const vt_identity *sender, const vt_identity *recipient,
                     vt_ratchet **tx, vt_ratchet **rx);

/* The bench plaintext: a magic, the stream (pair) id, the message index
 * and the send time (bench_now_ns), zero padding up to |len| >= LG_PT_MIN
 * bytes. lg_pt_get checks the magic. */
#define LG_PT_MIN 24
void lg_pt_put(uint8_t *pt, size_t len, uint32_t stream, uint64_t index, uint64_t t_ns);
bool lg_pt_get(const uint8_t *pt, size_t len, uint32_t *stream, uint64_t *index,
               uint64_t *t_ns);

/* Message ids (MESSAGE_ID_LEN bytes): 8 random bytes of the run, then the
 * stream and the index, so a receiver spots a duplicate before it decrypts
 * (DELIV-90). lg_mid_get is false for another run's id. */
void lg_mid_put(uint8_t mid[16], const uint8_t run[8], uint32_t stream, uint32_t index);
bool lg_mid_get(const uint8_t *mid, size_t len, const uint8_t run[8], uint32_t *stream,
                uint32_t *index);

/* ---- helpers (lg_util.c) ---------------------------------------------- */

/* A latency histogram with log-linear buckets (HdrHistogram's layout: 128
 * linear sub-buckets per power of two, so any value is known within
 * 1/128), of nanoseconds. Plain data: zero it to reset. */
#define LG_HIST_SUB 128
#define LG_HIST_BUCKETS (LG_HIST_SUB + 57 * LG_HIST_SUB)

typedef struct lg_hist {
    uint64_t count, min, max;
    double sum;
    uint32_t n[LG_HIST_BUCKETS];
} lg_hist;

void lg_hist_reset(lg_hist *h);
void lg_hist_add(lg_hist *h, uint64_t v);
/* The value below which a fraction |q| of the samples lie (the highest
 * value of that sample's bucket, at most max); 0 when empty. */
uint64_t lg_hist_quantile(const lg_hist *h, double q);
double lg_hist_mean(const lg_hist *h);

/* The server under test: the one at --url, or a ventrad started here on a
 * free loopback port with --limits off and a temporary data directory. */
typedef struct lg_server {
    lg_target target;
    pid_t pid;     /* for /proc readings; 0 when unknown */
    pid_t child;   /* the process started here, 0 when none */
    char dir[256]; /* its temporary directory ("" when none) */
    char log[320]; /* its stderr */
} lg_server;

/* With |url| NULL starts ventrad ($VENTRA_BIN, or ventrad beside this
 * program); otherwise parses |url|. |pid| (0: none) names the server's
 * process for CPU and memory figures. Prints why and returns false on
 * failure. */
bool lg_server_open(lg_server *s, const char *url, pid_t pid);

/* Starts |name| (a program beside ventra-bench, or in $VENTRA_BIN) with
 * |args| (NULL-terminated, without argv[0]; "@DIR" is replaced by the
 * temporary directory) and waits at most 10 s for its "msg=listening
 * addr=HOST:PORT" log line. */
bool lg_server_spawn(lg_server *s, const char *name, const char *const *args);

/* Stops a server started here with SIGTERM (SIGKILL after 15 s) and
 * removes its directory. Returns its exit status (0 when it exited
 * cleanly, or when nothing was started here), or -1. */
int lg_server_close(lg_server *s);

struct bench_report;
/* The end of a mode that may have started its server: stops it (when
 * started here), adds its exit status to |rep|, ends |rep| (either may be
 * NULL) and returns |rc|, or 1 when the server did not exit cleanly. */
int lg_finish(lg_server *s, struct bench_report *rep, int rc);

/* CPU seconds (utime + stime of /proc/PID/stat) and resident memory
 * (VmRSS of /proc/PID/status, KiB). False when unreadable. */
bool lg_proc_cpu_s(pid_t pid, double *out);
bool lg_proc_rss_kib(pid_t pid, uint64_t *out);
/* This process's CPU seconds (getrusage), children excluded. */
double lg_self_cpu_s(void);

/* A username unique to this run: |prefix| (a letter first), |tag| hex
 * digits of the run id and the number |n| (AUTH-1 form). */
void lg_username(char out[33], const char *prefix, uint32_t tag, uint64_t n);

/* A fast non-cryptographic generator for WebSocket masks and padding
 * (seeded from the system's CSPRNG on first use). */
uint64_t lg_rand64(void);

/* Raises the open-file limit to its hard limit; returns the new soft
 * limit. */
uint64_t lg_raise_nofile(void);

#endif
