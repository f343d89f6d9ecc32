/* libventra-client internals: the vt_client handle shared by the engine's
 * files (conn.c transport, keys.c prekeys, sessions.c pairwise sessions,
 * send.c outbox, recv.c incoming messages, client.c the public API).
 * Implements nothing itself; see each file for its part of spec/. */
#ifndef VT_CLIENT_INT_H
#define VT_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "ventra/client.h"
#include "ventra/identity.h"
#include "ventra/v1/e2e.pb.h"
#include "ventra/v1/frame.pb.h"
#include "vt_sm_client_conn.h"

/* For a must-check result whose failure changes nothing for the caller. */
#define VC_IGNORE(x)                                                                     \
    do {                                                                                 \
        vt_err ignored_ = (x);                                                           \
        (void)ignored_;                                                                  \
    } while (0)

struct lws_context;
struct lws;
struct vt_client;
struct vc_octx; /* send.c: one outgoing message's machine context */

/* One request in flight (WIRE-30: ids unique among those in flight). */
typedef void (*vc_rpc_cb)(struct vt_client *c, void *ud, const ventra_v1_Response *resp,
                          vt_err transport_err);

typedef struct vc_slot {
    bool used;
    uint32_t id;
    uint64_t sent_ms;
    vc_rpc_cb cb; /* async: called with the response (or NULL + error) */
    void *ud;
    bool sync; /* sync: the waiter takes |frame| */
    bool done;
    vt_err err; /* transport error when done without a frame */
    ventra_v1_Frame *frame;
} vc_slot;

/* A frame waiting for a writable socket (with LWS_PRE bytes in front). */
typedef struct vc_out {
    struct vc_out *next;
    size_t len;
    uint8_t *buf; /* LWS_PRE + len bytes */
} vc_out;

/* What the authenticating RPC answered, kept for store_token. */
typedef struct vc_auth_result {
    char token[513];
    uint64_t exp;
    uint32_t device_id;
    char username[33];
} vc_auth_result;

#define VC_ACK_MAX 256

struct vt_client {
    vt_client_callbacks cb;
    void *ud;
    vc_store *store;
    char url[256];
    char host[128];
    char path[128];
    int port;
    bool tls;
    char ca_file[512];
    char device_name[65];

    /* this device */
    vt_identity *id;
    char username[33];
    uint32_t device_id;
    uint8_t server_key[32];
    bool have_server_key;

    /* transport */
    struct lws_context *ctx;
    struct lws *wsi;     /* the current socket, NULL when none */
    struct lws *closing; /* a socket being closed (close_socket) */
    bool ws_open;
    uint16_t close_code;
    bool session_ended_seen;
    int end_reason;
    vc_out *out_head, *out_tail;
    uint8_t *rx;
    size_t rx_len, rx_cap;
    vc_slot slots[32];
    uint32_t next_id;
    bool keepalive; /* start_keepalive armed the timers (SM-5) */
    uint64_t last_rx_ms;
    uint64_t last_ping_ms;
    uint32_t max_inflight;

    /* client_conn machine */
    vt_client_conn_state st;
    unsigned backoff_n;
    uint64_t backoff_until_ms;
    bool server_info_ok; /* GetServerInfo answered on this socket */
    int auth_next;       /* which auth RPC follows GetServerInfo */
    int last_auth_rpc;
    vt_err auth_err;
    vt_err close_why;
    uint8_t nonce[32];
    size_t nonce_len;
    vc_auth_result auth;
    char register_name[33]; /* set by vt_client_register */
    bool stopping;

    /* engine */
    bool in_work;
    bool need_signed;     /* rotate or first upload of the signed prekeys */
    bool need_one_time;   /* PrekeysLowEvent / GetPrekeyCount */
    bool prekeys_checked; /* GetPrekeyCount asked on this connection */
    bool prekeys_ok;      /* an upload succeeded on this connection */
    bool drained;
    bool own_devices_listed;
    char listed[32][33]; /* accounts listed (ListDevices) on this connection */
    size_t n_listed;
    uint64_t acks[VC_ACK_MAX];
    size_t n_acks;
    bool dirty_outbox; /* the outbox may have work */
    uint64_t next_outbox_ms;
    struct vc_octx *sending; /* the message whose SendRequest or device fix
                              * runs now (SM-306), NULL when none */
};

/* ---- client.c ---- */
uint64_t vc_now_ms(void);
uint64_t vc_now_s(void);
void vc_notice(vt_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
vt_err vc_set_u64(vt_client *c, const char *name, uint64_t v);
uint64_t vc_get_u64(vt_client *c, const char *name, uint64_t dflt);
/* Runs the loop until the connection is authenticated (DRAINING/LIVE). */
vt_err vc_ensure_authed(vt_client *c, uint64_t deadline_ms);
int vc_left(uint64_t deadline_ms);
/* SM-3, AUTH-87: forgets token, device id, identity key and sessions. */
void vc_forget_device(vt_client *c);

#include "conn_int.h"

/* ---- keys.c ---- */
void vc_keys_after_auth(vt_client *c);
vt_err vc_keys_work(vt_client *c, uint64_t deadline_ms);
void vc_keys_on_drained(vt_client *c);

/* ---- sessions.c ---- */
typedef struct vc_envelope {
    uint32_t device_id;
    int type; /* ventra_v1_EnvelopeType */
    uint8_t *content;
    size_t len;
} vc_envelope;

/* Makes sure a trusted device list and a session exists for every active
 * destination device of |username| (ListDevices once, FetchBundles for the
 * devices without session). VT_ERR_PERMISSION_DENIED: a device's key
 * changed (held, SM-303). */
vt_err vc_sessions_prepare(vt_client *c, const char *username, const uint32_t *only,
                           size_t n_only, uint64_t deadline_ms);
/* Refreshes the device list of |username| (ListDevices), recording keys. */
vt_err vc_devices_refresh(vt_client *c, const char *username, uint64_t deadline_ms);
/* Active destination devices of |username| (without this device). */
size_t vc_active_devices(vt_client *c, const char *username, uint32_t *ids, size_t cap,
                         bool *changed);
/* Encrypts |pt| for (username, device) with its current session, storing
 * the advanced state first (CRYPTO-93; the caller holds a transaction). */
vt_err vc_session_encrypt(vt_client *c, const char *username, uint32_t device,
                          const uint8_t *pt, size_t len, vc_envelope *out);
/* Decrypts an envelope. On VT_OK the session change is written inside the
 * caller's open transaction and |pt| holds the padded Content. */
vt_err vc_session_decrypt(vt_client *c, const char *sender, uint32_t device, int type,
                          const uint8_t *ct, size_t ct_len, uint8_t *pt, size_t cap,
                          size_t *pt_len);
vt_err vc_session_accept(vt_client *c, const char *username);
/* The device is gone (extra, removed): RESET its sessions, mark it inactive. */
void vc_drop_device(vt_client *c, const char *username, uint32_t device);
/* The next send to |username| lists its devices again (its account went). */
void vc_devices_unlist(vt_client *c, const char *username);

/* ---- send.c ---- */
vt_err vc_outbox_queue(vt_client *c, const char *to, const uint8_t *group_id,
                       const uint8_t *content, size_t len, uint8_t mid_out[16]);
vt_err vc_outbox_work(vt_client *c, uint64_t deadline_ms);
void vc_outbox_receipt(vt_client *c, const uint8_t mid[16], bool read);
void vc_outbox_release_held(vt_client *c, const char *username);
/* A device of |username| went UNTRUSTED: IDENTITY_CHANGED on every queued
 * message with it as a destination (session.md notify_identity_changed). */
void vc_outbox_identity_changed(vt_client *c, const char *username);
/* USER_RETRY of a FAILED direct message (vt_client_retry): |content| is its
 * rebuilt Content. VT_ERR_STATE when the machine refuses it. */
vt_err vc_outbox_retry(vt_client *c, const vc_history_row *h, const uint8_t *content,
                       size_t len);
vt_err vc_send_ephemeral(vt_client *c, const char *to, const uint8_t *content, size_t len,
                         uint64_t deadline_ms);
vt_err vc_encode_content(const ventra_v1_Content *ct, uint8_t **out, size_t *len);

/* Every guard and action of each machine's ops is set (tests). */
bool vc_conn_ops_complete(void);
bool vc_session_ops_complete(void);
bool vc_outbox_ops_complete(void);

/* ---- recv.c ---- */
void vc_on_message_event(vt_client *c, const ventra_v1_MessageEvent *e);
void vc_on_group_changed(vt_client *c, const ventra_v1_GroupChangedEvent *e);

#endif
