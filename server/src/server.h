/* ventrad internals shared by its modules: the server, its connections,
 * in-flight calls and the outgoing queue with its group-commit gate.
 * The network adapter (net.c) feeds bytes and timer ticks into the
 * connection layer (conn.c), which classifies frames, runs the generated
 * server_conn machine (spec/state/server_conn.md) and the check order of
 * spec/wire.md 2.3, and dispatches to the handlers (rpc_*.c). */
#ifndef VTD_SERVER_H
#define VTD_SERVER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "ratelimit.h"
#include "store.h"
#include "vt_constants.h"
#include "vt_rpc_server.h"
#include "vt_sm_server_conn.h"

struct lws;
struct lws_context;
struct lws_vhost;

/* One encoded frame (or a close or ping marker) waiting for the socket.
 * |batch| is the store batch whose flush must succeed before it may leave
 * (0: it may leave now): nothing that depends on a write is told before
 * the write is durable (DELIV-2, DELIV-50, WIRE-310). */
typedef struct vtd_out {
    struct vtd_out *next;
    uint64_t batch;
    int close_code;   /* a close marker when non-zero */
    bool ping;        /* a WebSocket ping marker */
    bool is_response; /* answers request |resp_id| */
    uint32_t resp_id;
    vtd_frame_kind kind;
    size_t len;
    unsigned char buf[]; /* LWS_PRE bytes of headroom, then the frame */
} vtd_out;

#define VTD_INFLIGHT_CAP (VT_MAX_INFLIGHT_REQUESTS + 1)
/* A reader this slow is cut off: room for a full push window of the
 * largest messages (64 x 16 KiB) and the responses, bounded per connection
 * whatever a client that never reads sends. */
#define VTD_OUT_MAX_BYTES (2u * 1024u * 1024u)
#define VTD_PURPOSES 4
#define VTD_PENDING_EVENTS 8 /* ChallengePurpose values */

typedef struct vtd_server vtd_server;

struct vt_srv_conn {
    vtd_server *srv;
    struct lws *wsi;
    vt_server_conn_state state;
    vt_srv_conn *prev, *next; /* every connection */
    vt_srv_conn *hub_next;    /* the device hub's chain */
    vt_srv_conn *dirty_next;  /* connections with output to release */
    bool dirty;
    char peer[INET6_ADDRSTRLEN];
    uint64_t opened_ms, last_rx_ms, last_tx_ms, close_sent_ms;

    /* the message being reassembled (WIRE-4: fragments are one message) */
    uint8_t *rx;
    size_t rx_len, rx_cap;
    bool rx_text, rx_overflow;

    vtd_out *out_head, *out_tail;
    size_t out_bytes;
    bool close_queued;
    int close_code; /* the close we sent, 0 when the peer closed first */

    uint32_t inflight[VTD_INFLIGHT_CAP]; /* ids answered but not yet written */
    unsigned inflight_n;
    unsigned bad_in_a_row; /* WIRE-27 */
    vtd_bucket rl_requests, rl_auth;

    struct {
        uint8_t nonce[VT_CHALLENGE_NONCE_LEN];
        uint64_t issued_s;
        bool live;
    } challenge[VTD_PURPOSES];

    /* the device this connection speaks for, once authenticated */
    bool authed;
    vtd_account_id acct;
    uint32_t device_id;
    char username[VTD_USERNAME_MAX + 1];
    /* set by a successful Register/Login/Resume just before AUTH_OK */
    vtd_account_id bind_acct;
    uint32_t bind_device;
    char bind_username[VTD_USERNAME_MAX + 1];

    /* push state (DELIV-42 to DELIV-45) */
    uint64_t push_cursor; /* highest seq pushed or passed on this connection */
    uint64_t window[VT_PUSH_WINDOW];
    unsigned window_n;
    uint64_t drain_until;
    uint32_t drain_count;
    bool drained;

    /* the frame or event the machine is handling (its actions read it) */
    const Ventra__V1__Request *cur_req;
    vt_srv_call *cur_call;
    vt_err cur_err;
    uint32_t cur_err_id;
    uint32_t cur_retry_ms;
    int end_reason; /* Ventra__V1__SessionEndReason for SESSION_ENDED */
    bool drain_boundary;
    bool stepping; /* inside vtd_conn_fire: new events wait (SM-100) */
    unsigned pending_n;
    vt_server_conn_event pending[VTD_PENDING_EVENTS];
};

struct vt_srv_call {
    vt_srv_conn *conn;
    uint32_t id;
    uint32_t method;
    uint64_t start_ns;
    bool replied;
};

#define VTD_HUB_BUCKETS 16384

struct vtd_server {
    vtd_config cfg;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    int port;
    vtd_store *store;
    vtd_metrics *metrics;
    vtd_limiter *limiters[VTD_LIMIT_COUNT]; /* keyed ones; NULL for per-conn */
    uint8_t server_pk[VT_KEY_LEN];
    uint8_t *server_sk; /* 64 bytes, sodium_malloc'd */
    vt_srv_conn *conns;
    size_t conn_count;
    vt_srv_conn *dirty;
    vt_srv_conn *hub[VTD_HUB_BUCKETS];
    uint64_t batch_seq;       /* the batch now collecting writes */
    uint64_t committed_batch; /* the last batch flushed */
    bool store_failed;
    bool shutting_down; /* WIRE-14: new requests get ERROR_UNAVAILABLE */
    bool closing_all;   /* ...and then every connection is closed */
    uint64_t shutdown_deadline_ms;
    uint64_t last_housekeeping_s;
};

/* ---- clocks ---- */
uint64_t vtd_now_ms(void);
uint64_t vtd_now_s(void);
uint64_t vtd_mono_ns(void);

/* ---- conn.c: the connection layer ---- */
vt_srv_conn *vtd_conn_new(vtd_server *srv, struct lws *wsi, const char *peer);
/* A whole WebSocket message arrived (|text|: opcode 1). */
void vtd_conn_on_message(vt_srv_conn *c, const uint8_t *data, size_t len, bool text);
/* The message under reassembly outgrew MAX_FRAME_SIZE (WIRE-21). */
void vtd_conn_on_oversize(vt_srv_conn *c);
void vtd_conn_on_pong(vt_srv_conn *c);
/* The socket can take a frame: writes the next released one. Returns -1
 * when the connection must close now (a close marker was reached). */
int vtd_conn_on_writable(vt_srv_conn *c);
/* The TCP connection is gone: unbinds and frees |c|. */
void vtd_conn_on_closed(vt_srv_conn *c);
/* Once a second: timeouts and keep-alive (WIRE-11 to WIRE-13). */
void vtd_conn_tick(vt_srv_conn *c, uint64_t now_ms);
/* Fires a machine event that does not come from a frame. */
void vtd_conn_fire(vt_srv_conn *c, vt_server_conn_event ev);
/* Ends |c|'s session with |reason| (SessionEndedEvent, close 4001). */
void vtd_conn_end_session(vt_srv_conn *c, int reason);
/* Pushes queued messages while the window has room (DELIV-43 to 45). */
void vtd_conn_pump(vt_srv_conn *c);
/* Sends an event frame whose body is set in |ev|. */
void vtd_conn_emit_event(vt_srv_conn *c, Ventra__V1__Event *ev);

/* Commits the open store batch and releases what waited for it; on a
 * failed commit closes every connection that had output waiting (1011). */
void vtd_server_flush(vtd_server *srv);

/* ---- the device hub: which connection speaks for which device ---- */
vt_srv_conn *vtd_hub_get(vtd_server *srv, vtd_account_id acct, uint32_t device_id);
void vtd_hub_put(vtd_server *srv, vt_srv_conn *c);
void vtd_hub_remove(vtd_server *srv, vt_srv_conn *c);

/* ---- replies (rpc_common.c) ---- */
/* Answers |call| with |code| and |message| (short, static, no secrets). */
void vtd_reply_error(vt_srv_call *call, vt_err code, const char *message);
void vtd_reply_rate_limited(vt_srv_call *call, uint32_t retry_after_ms);
/* Answers ERROR_INTERNAL, logging |what| and the store error. */
void vtd_reply_internal(vt_srv_call *call, const char *what, vt_err err);

/* Takes a token from the keyed limiter |l| for |key|; false with the
 * retry-after filled when refused. Disabled limits always pass. */
bool vtd_limit_take(vtd_server *srv, vtd_limit l, const void *key, size_t key_len,
                    uint32_t *retry_ms);
bool vtd_limit_check(vtd_server *srv, vtd_limit l, const void *key, size_t key_len,
                     uint32_t *retry_ms);

/* Spec checks shared by the handlers. */
bool vtd_username_ok(const char *s); /* AUTH-1 (length upper bound included) */
bool vtd_bytes_len(const ProtobufCBinaryData *b, size_t n);
/* Starts a store operation; on failure answers the call and returns false. */
bool vtd_op_begin(vt_srv_call *call);
/* Ends it, keeping when |keep|; on failure of a kept op answers INTERNAL
 * unless the call was answered already, and returns false. */
bool vtd_op_end(vt_srv_call *call, bool keep);
/* Issues and records a session token for the connection's bind_* device;
 * fills |token| (VT_MAX_TOKEN_LEN + 1 bytes) and its exp. */
vt_err vtd_issue_token(vt_srv_conn *c, char *token, uint64_t *exp);
/* Ends the live connection of every device of |acct| (when |device_id| is
 * 0) or of that one device, with |reason|. Called after the reply, so
 * the caller's own connection sends the reply first (AUTH-86, AUTH-92). */
void vtd_end_device_sessions(vtd_server *srv, vtd_account_id acct, uint32_t device_id,
                             int reason);
/* AUTH-31 to AUTH-34: whether |nonce| is the connection's live, unexpired
 * challenge of |purpose|; consumes it whatever the answer. */
bool vtd_challenge_take(vt_srv_conn *c, int purpose, const ProtobufCBinaryData *nonce);
/* Whether |sig| verifies under the calling device's identity key over
 * |transcript|: 1 yes, 0 no, -1 when the call was answered INTERNAL. */
int vtd_caller_signed(vt_srv_call *call, const uint8_t *transcript, size_t len,
                      const ProtobufCBinaryData *sig);
/* The active devices of |acct| in increasing id (AUTH-4); |out| holds
 * VT_MAX_DEVICES_PER_ACCOUNT + 1 entries. */
vt_err vtd_active_devices(vtd_store *st, vtd_account_id acct, vtd_device *out, size_t *n);
/* The account |username| and its active devices; answers NOT_FOUND or
 * INTERNAL and returns false when it cannot. */
bool vtd_account_devices(vt_srv_call *call, const char *username, vtd_account_id *acct,
                         vtd_device *out, size_t *n);

/* Pushes a PrekeysLowEvent to the device's connection (WIRE-311, WIRE-600). */
void vtd_notify_prekeys_low(vtd_server *srv, vtd_account_id acct, uint32_t device_id,
                            uint32_t count);

/* ---- groups (rpc_groups.c), used by DeleteAccount ---- */
/* Removes |acct| from every group it belongs to as LeaveGroup would
 * (DELIV-72, DELIV-104), inside an open store operation; the ids of the
 * groups changed go to |changed| (VT_MAX_GROUPS_PER_ACCOUNT entries) and
 * their number to *n, for vtd_groups_notify once the operation is kept. */
vt_err vtd_groups_leave_all(vtd_server *srv, vtd_account_id acct,
                            uint8_t (*changed)[VTD_GROUP_ID_LEN], size_t *n);
/* DELIV-107: tells the members of each group (as it is now) of a change
 * made by |changed_by|. */
void vtd_groups_notify(vtd_server *srv, const uint8_t (*ids)[VTD_GROUP_ID_LEN], size_t n,
                       const char *changed_by);

#endif
