/* The protocol client of the black-box kit, shared by the server's tests
 * (server/tests/support) and the live conformance runner (live.h): RFC 6455
 * over plain TCP or TLS with a small blocking client that can also
 * misbehave on purpose, and the protocol (spec/wire.md, spec/auth.md,
 * spec/delivery.md) wrapped in helpers. Test code only: a failure calls the
 * failure handler, and every wait is bounded by a deadline. */
#ifndef VTC_H
#define VTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/identity.h"
#include "ventra/v1/frame.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The target and failures (additions) ------------------------------ */

/* Where every vtc_*(int port, ...) connects: |host| (a name or address;
 * NULL: 127.0.0.1), over TLS when |tls| (wss://, https://). The server's
 * certificate is verified against |ca_file| (a PEM file) or, when NULL,
 * the system store, and its name against |host|; |insecure| skips both.
 * Process-wide; the default is 127.0.0.1 in plain. Returns false (and
 * keeps the old target) when the TLS context cannot be set up. */
bool vtc_target_set(const char *host, bool tls, const char *ca_file, bool insecure);

/* The target's host, as given to vtc_target_set ("127.0.0.1" by default). */
const char *vtc_target_host(void);

/* The failure handler: called with the message of any failure inside the
 * kit (a connection that did not come up, a response that did not come,
 * an assertion of vtc_expect_*). It must not return (it longjmps or
 * exits); if it does, the kit aborts. NULL restores the default, which
 * prints the message and aborts. */
typedef void (*vtc_fail_fn)(const char *msg, void *ud);
void vtc_set_fail_handler(vtc_fail_fn fn, void *ud);

/* Fails the running test: formats the message and calls the handler. */
__attribute__((noreturn, format(printf, 1, 2))) void vtc_fail(const char *fmt, ...);

/* The tag in every vtc_username after this call (at most 8 characters of
 * [a-z0-9]; NULL or "": the process id, the default), so that names stay
 * unique across runs against one long-lived server. */
void vtc_set_run_tag(const char *tag);

/* ---- The frame log (additions) ----------------------------------------- */

/* One WebSocket message (or raw write) on a connection, as the frame hook
 * sees it. */
typedef struct vtc_frame_rec {
    unsigned conn;       /* the connection's number, 1, 2, ... per process */
    bool sent;           /* true: from us; false: from the server */
    int opcode;          /* 1 text, 2 binary, 8 close, 9 ping, 10 pong;
                          * 0 raw bytes (vtc_ws_send_raw); -1 the handshake;
                          * -2 a WebSocket protocol error of the server */
    const uint8_t *data; /* the payload (the close reason for 8) */
    size_t len;
    int status; /* 8: the close code, -1 for an end of stream; -1: the HTTP
                 * status (-1: no answer); 1 and 2 sent: the fragment count */
} vtc_frame_rec;

/* Called for every message sent and received on every connection; |rec|
 * and its data are valid during the call only. NULL: no hook. */
typedef void (*vtc_frame_fn)(const vtc_frame_rec *rec, void *ud);
void vtc_set_frame_hook(vtc_frame_fn fn, void *ud);

/* A one-line summary of |rec| into |out| (|cap| bytes, NUL-terminated):
 * for a binary message the decoded Frame (Request id and method name,
 * Response id and body or error name, Event kind), else the kind. */
void vtc_frame_summary(const vtc_frame_rec *rec, char *out, size_t cap);

/* ---- Plain HTTP (additions) -------------------------------------------- */

/* Sends the raw HTTP/1.1 |request| (it should say "Connection: close") to
 * the target host's |port| and reads the answer (at most 5 s). Returns the status
 * code, or -1 when no HTTP answer came. *headers (status line and header
 * lines) and *body (de-chunked) are malloc'd NUL-terminated strings when
 * not NULL; the caller frees them. */
int vtc_http_request(int port, const char *request, char **headers, char **body);

/* GET |path| with Connection: close; as vtc_http_request. */
int vtc_http_get(int port, const char *path, char **headers, char **body);

/* ---- WebSocket ------------------------------------------------------- */

typedef enum {
    VTC_WS_BINARY,
    VTC_WS_TEXT,
    VTC_WS_CLOSE, /* the server's close frame (code, reason) */
    VTC_WS_PONG,
    VTC_WS_EOF,     /* the TCP connection ended without a close frame */
    VTC_WS_TIMEOUT, /* nothing arrived before the deadline */
    VTC_WS_ERROR    /* the server sent something RFC 6455 forbids */
} vtc_ws_kind;

typedef struct vtc_ws_msg {
    vtc_ws_kind kind;
    uint8_t *data; /* payload, malloc'd (owned by the message) */
    size_t len;
    int close_code; /* VTC_WS_CLOSE: the code, 1005 when absent */
} vtc_ws_msg;

void vtc_ws_msg_free(vtc_ws_msg *m);

typedef struct vtc_ws vtc_ws;

/* Options of the opening handshake. NULL fields are left out. */
typedef struct vtc_ws_opts {
    const char *path;       /* default "/v1/ws" */
    const char *protocols;  /* Sec-WebSocket-Protocol value; default
                             * "ventra.v1"; "" sends no such header */
    const char *extensions; /* Sec-WebSocket-Extensions value */
} vtc_ws_opts;

/* Connects to the target's |port| and performs the handshake. Returns NULL
 * when the TCP connection fails. Otherwise *status is the HTTP status of
 * the answer (101 on upgrade); a non-101 answer leaves a connection that
 * can only be freed. (*status is -1 when no HTTP answer came within 5 s or
 * a 101 carried a wrong Sec-WebSocket-Accept.) */
vtc_ws *vtc_ws_connect(int port, const vtc_ws_opts *opts, int *status);

/* Headers of the server's handshake answer: the value of |name|
 * (case-insensitive), or NULL when absent. Owned by |ws|. */
const char *vtc_ws_header(const vtc_ws *ws, const char *name);

/* Sends one message with opcode 2 (binary) or 1 (text), masked, in
 * |fragments| frames (1 = unfragmented). Returns false on a write error. */
bool vtc_ws_send(vtc_ws *ws, int opcode, const void *data, size_t len, int fragments);

/* Writes raw bytes to the TCP connection (for malformed WebSocket). */
bool vtc_ws_send_raw(vtc_ws *ws, const void *data, size_t len);

/* Sends a ping with |data| (at most 125 bytes), or a close frame. */
bool vtc_ws_ping(vtc_ws *ws, const void *data, size_t len);
bool vtc_ws_close(vtc_ws *ws, int code);

/* Waits at most |timeout_ms| for the next data message, close, pong or end
 * of connection; answers the server's pings by itself. */
void vtc_ws_recv(vtc_ws *ws, int timeout_ms, vtc_ws_msg *out);

/* Closes the socket and frees. Accepts NULL. */
void vtc_ws_free(vtc_ws *ws);

/* ---- Frames and RPCs -------------------------------------------------- */

/* A protocol client: one connection, request ids, and the events that
 * arrived while it waited for responses (kept in order). */
typedef struct vtc_client vtc_client;

/* Connects with the default handshake; fails the test on failure. */
vtc_client *vtc_client_new(int port);

/* (Addition.) Connects with |opts| (NULL: the default handshake); returns
 * NULL, without failing, when the connection or the upgrade failed
 * (*status as vtc_ws_connect reports it). */
vtc_client *vtc_client_connect(int port, const vtc_ws_opts *opts, int *status);
void vtc_client_free(vtc_client *c);
vtc_ws *vtc_client_ws(vtc_client *c);

/* Sends |req| (its id is set by the client unless |req->id| is already
 * non-zero) and waits at most 5 s for the Response with that id. Returns
 * the response (free with vtc_response_free), or NULL when the connection
 * closed or the deadline passed. Events that arrive meanwhile are queued. */
Ventra__V1__Response *vtc_call(vtc_client *c, Ventra__V1__Request *req);

/* (Addition.) A bytes field of the |len| bytes at |p| (empty when |p| is
 * NULL); it points at |p|. */
ProtobufCBinaryData vtc_bin(const uint8_t *p, size_t len);

/* (Addition.) vtc_call of a Request whose body is |body|, a message of the
 * type that the oneof member of |body_case| (a Ventra__V1__Request__BodyCase
 * value) holds; the caller keeps |body|. */
Ventra__V1__Response *vtc_call_body(vtc_client *c, int body_case, void *body);

/* Sends |req| without waiting; returns the request id used. */
uint32_t vtc_send_request(vtc_client *c, Ventra__V1__Request *req);

/* Waits for the Response with id |id| (queueing events meanwhile). */
Ventra__V1__Response *vtc_wait_response(vtc_client *c, uint32_t id, int timeout_ms);

/* Sends the raw bytes as one binary message and waits for the next
 * Response (of whatever id). */
Ventra__V1__Response *vtc_call_raw(vtc_client *c, const void *data, size_t len);

void vtc_response_free(Ventra__V1__Response *r);

/* The error code of |r| (VT_OK = 0 when it has a body; -1 for NULL). */
int vtc_error_code(const Ventra__V1__Response *r);

/* The next event (queued or arriving within |timeout_ms|), or NULL. Free
 * with vtc_event_free. */
Ventra__V1__Event *vtc_next_event(vtc_client *c, int timeout_ms);
void vtc_event_free(Ventra__V1__Event *e);

/* Waits at most |timeout_ms| for the connection to end; returns the close
 * code (1005 for none, -1 for EOF without close, 0 on timeout). Frames
 * arriving meanwhile are dropped (events are queued). */
int vtc_wait_close(vtc_client *c, int timeout_ms);

/* (Addition.) The close code the client has seen so far: 0 while the
 * connection is open, else as vtc_wait_close reports it. */
int vtc_client_close_code(const vtc_client *c);

/* (Addition.) Writes the protobuf varint of |v| into |out| (at most 10
 * bytes); returns its length. */
size_t vtc_pb_varint(uint8_t *out, uint64_t v);

/* (Addition.) Encodes by hand, for inputs protobuf-c would not produce, a
 * Frame whose Request has |id| (0: the field is left out) and, unless
 * |method| is 0, a body in field |method| holding the |body_len| bytes of
 * |body| (an encoded message, possibly empty). Writes into |out| (|cap|
 * bytes; fails the test when too small) and returns the length. */
size_t vtc_raw_request(uint8_t *out, size_t cap, uint32_t id, uint32_t method,
                       const uint8_t *body, size_t body_len);

/* (Additions.) GetServerInfo on |c|: copies the 32-byte server key and
 * returns true, or false on any error. */
bool vtc_server_info(vtc_client *c, uint8_t server_key[32]);

/* GetChallenge(|purpose|) on |c| (a Ventra__V1__ChallengePurpose value, or
 * any number): copies the 32-byte nonce and returns true, or false on any
 * error. */
bool vtc_challenge(vtc_client *c, int purpose, uint8_t nonce[32]);

/* ---- Accounts and devices --------------------------------------------- */

/* One device of an account, as a test drives it. */
typedef struct vtc_device {
    char username[33];
    uint32_t device_id;
    vt_identity *id; /* its identity key (owned) */
    uint8_t server_key[32];
    char token[513];
    vtc_client *c; /* its connection, NULL when offline */
    int port;
} vtc_device;

/* Registers |username| (fresh identity) on a new connection: GetServerInfo,
 * GetChallenge(REGISTER), Register. Aborts the test on any error. (The
 * device is named "test device"; vtc_link names its device "linked
 * device".) */
vtc_device *vtc_register(int port, const char *username);

/* A new device of |owner|'s account: fresh identity, AddDevice signed by
 * |owner| over the link transcript, then Login on a new connection. */
vtc_device *vtc_link(vtc_device *owner);

/* Connects and logs in again (GetChallenge(LOGIN), Login) on a new
 * connection; returns the error code (0 on success). The old connection,
 * if any, is freed first. (The code of a failed GetChallenge is returned
 * as well; -1 when no response came. On success d->token is the new
 * token; vtc_resume likewise keeps the fresh one.) */
int vtc_login(vtc_device *d, int port);

/* Connects and resumes with d->token; returns the error code. */
int vtc_resume(vtc_device *d, int port);

/* Drops the device's connection (closes the socket, no close frame). */
void vtc_disconnect(vtc_device *d);

void vtc_device_free(vtc_device *d);

/* Uploads a signed prekey (id 1), a last-resort prekey (id 2) and |n|
 * one-time prekeys with ids first_id.. (public keys random valid X25519);
 * returns the response's one_time_count, aborting on an error. */
uint32_t vtc_upload_prekeys(vtc_device *d, uint32_t first_id, size_t n);

/* A unique username for this test run with |prefix| (e.g. "alice"). */
void vtc_username(char out[33], const char *prefix);

/* Sends a message from |from| to every active device of |to_user| and
 * |from|'s other active devices (one envelope each, type MESSAGE, content
 * |text|), with |message_id| (16 bytes, random when NULL). Returns the
 * response. The device lists are read with ListDevices first. */
Ventra__V1__Response *vtc_send_text(vtc_device *from, const char *to_user,
                                    const char *text, const uint8_t *message_id);

/* Waits for the next MessageEvent on |d|'s connection (skipping other
 * events, which are dropped); NULL on timeout. */
Ventra__V1__MessageEvent *vtc_next_message(vtc_device *d, int timeout_ms);
void vtc_message_free(Ventra__V1__MessageEvent *m);

/* Acks |count| seqs; returns the response's deleted count (-1 on error). */
int vtc_ack(vtc_device *d, const uint64_t *seqs, size_t count);

/* ---- Single RPCs (additions) ------------------------------------------
 *
 * Each sends one request with exactly the fields given (byte fields with
 * their given lengths, so wrong lengths can be sent; a NULL pointer sends
 * an empty field) and returns vtc_call's result. */

Ventra__V1__Response *vtc_rpc_server_info(vtc_client *c);
Ventra__V1__Response *vtc_rpc_ping(vtc_client *c, uint64_t nonce);
Ventra__V1__Response *vtc_rpc_get_challenge(vtc_client *c, int purpose);
Ventra__V1__Response *vtc_rpc_register(vtc_client *c, const char *username,
                                       const uint8_t *ik, size_t ik_len,
                                       const uint8_t *nonce, size_t nonce_len,
                                       const uint8_t *sig, size_t sig_len);
Ventra__V1__Response *vtc_rpc_login(vtc_client *c, const char *username,
                                    uint32_t device_id, const uint8_t *nonce,
                                    size_t nonce_len, const uint8_t *sig, size_t sig_len);
Ventra__V1__Response *vtc_rpc_resume(vtc_client *c, const char *token);
Ventra__V1__Response *vtc_rpc_add_device(vtc_client *c, const uint8_t *ik, size_t ik_len,
                                         const char *name, const uint8_t *sig,
                                         size_t sig_len);
Ventra__V1__Response *vtc_rpc_remove_device(vtc_client *c, uint32_t device_id);
Ventra__V1__Response *vtc_rpc_list_devices(vtc_client *c, const char *username);
Ventra__V1__Response *vtc_rpc_delete_account(vtc_client *c, const uint8_t *nonce,
                                             size_t nonce_len, const uint8_t *sig,
                                             size_t sig_len);
Ventra__V1__Response *vtc_rpc_ack(vtc_client *c, const uint64_t *seqs, size_t count);

/* Signatures by |id| over the transcripts of AUTH-12 built from the given
 * values (fail the test on error). */
void vtc_sign_register(const vt_identity *id, const uint8_t server_key[32],
                       const uint8_t *nonce, size_t nonce_len, const char *username,
                       const uint8_t identity_key[32], uint8_t sig[64]);
void vtc_sign_login(const vt_identity *id, const uint8_t server_key[32],
                    const uint8_t *nonce, size_t nonce_len, const char *username,
                    uint32_t device_id, uint8_t sig[64]);
void vtc_sign_link(const vt_identity *id, const uint8_t server_key[32],
                   const char *username, uint32_t approving_device_id,
                   const uint8_t new_identity_key[32], uint8_t sig[64]);
void vtc_sign_delete_account(const vt_identity *id, const uint8_t server_key[32],
                             const uint8_t *nonce, size_t nonce_len, const char *username,
                             uint32_t device_id, uint8_t sig[64]);

/* GetChallenge(DELETE_ACCOUNT) and DeleteAccount signed by |d| on d->c;
 * returns the error code (0 on success, -1 when no response). The
 * connection is then ended by the server (ACCOUNT_DELETED, 4001). */
int vtc_delete_account(vtc_device *d);

/* ---- Tokens (additions; spec/auth.md AUTH-50) ------------------------- */

/* base64url without padding of |len| bytes, malloc'd. */
char *vtc_b64url(const void *data, size_t len);

/* b64(|header_json|) "." b64(|claims_json|) "." b64(signature), the
 * signature by |sk| (libsodium form, seed || pk) over the first two
 * segments; with |sk| NULL the third segment is empty. Malloc'd. */
char *vtc_token_make(const char *header_json, const char *claims_json,
                     const uint8_t sk[64]);

/* A token of exactly the AUTH-50 form for (|username|, |device_id|) with
 * the given iat and exp and a random jti, signed with |sk| (libsodium
 * form) and naming |pk| as the issuer. Malloc'd. */
char *vtc_token_mint_key(const uint8_t pk[32], const uint8_t sk[64], const char *username,
                         uint32_t device_id, uint64_t iat, uint64_t exp);

/* Reads a server key file (64 hex digits of the 32-byte Ed25519 seed, as
 * ventrad writes <data>/server.key) into the key pair; fails the test
 * when it cannot be read or parsed. */
void vtc_keypair_from_file(const char *path, uint8_t pk[32], uint8_t sk[64]);

/* ---- Clocks (additions) ------------------------------------------------ */

/* Milliseconds of CLOCK_MONOTONIC, and those left until |deadline| on it
 * (never negative). */
int64_t vtc_now_ms(void);
int vtc_left_ms(int64_t deadline);

/* Milliseconds of CLOCK_REALTIME (the Unix epoch, as server times are). */
uint64_t vtc_wall_ms(void);

/* ---- Assertions (additions) ------------------------------------------
 *
 * Each failed assertion fails the running test through the failure
 * handler (vtc_set_fail_handler). */

/* A fresh identity key pair (free with vt_identity_free). */
vt_identity *vtc_new_identity(void);

/* 16 random bytes: a message id, an unknown group id. */
void vtc_random16(uint8_t out[16]);

/* The error code of |r| (as vtc_error_code); frees |r|. */
int vtc_take_code(Ventra__V1__Response *r);

/* Asserts that |r| is an error with |code|, no body, no retry-after and,
 * unless |code| is VT_ERR_STALE_DEVICES, no stale entries (WIRE-43);
 * frees |r|. */
void vtc_expect_error(Ventra__V1__Response *r, int code);

/* Asserts that |r| succeeded with body case |body|; |r| is not freed. */
void vtc_expect_body(const Ventra__V1__Response *r, int body);

/* Returns 0 when |rc| is |want|; else prints "|what|: code ..., want ..."
 * and returns 1, for tests that try every case before they fail. */
int vtc_tally(int rc, int want, const char *what);

/* Asserts that a SessionEndedEvent with |reason| comes to |c| within
 * |timeout_ms| (other events before it are dropped), that no frame
 * follows it (WIRE-601) and that the connection then closes with
 * |close_code| (WIRE-9: 4001; a shutdown, WIRE-14: 1001). */
void vtc_expect_session_ended(vtc_client *c, int reason, int close_code, int timeout_ms);

/* ---- Sends and deliveries (additions; spec/delivery.md) ---------------- */

/* Options of a Send beyond its lists; all zero is a well-formed send. */
typedef struct vtc_send_opts {
    size_t message_id_len; /* 0: 16 (MESSAGE_ID_LEN) */
    bool empty_message_id; /* a message id of no bytes at all */
    bool ephemeral;
    bool unspecified_type;   /* the last envelope has ENVELOPE_TYPE_UNSPECIFIED */
    int bad_type;            /* non-zero: the last envelope has this type value */
    bool empty_content;      /* the last envelope's content is empty */
    bool bare_content;       /* each envelope's content is the text alone */
    const uint8_t *group_id; /* with group_id_len bytes; NULL: no group */
    size_t group_id_len;
} vtc_send_opts;

/* A SendRequest built in place: one envelope (type MESSAGE) per listed
 * device whose content is "<text>|r<id>" (to_recipient) or "<text>|s<id>"
 * (to_self), so that each device can tell it got its own (DELIV-1). */
typedef struct vtc_send_buf {
    Ventra__V1__Request req;
    Ventra__V1__SendRequest send;
    Ventra__V1__OutgoingEnvelope env[16];
    Ventra__V1__OutgoingEnvelope *rp[8], *sp[8];
    char content[16][96];
    uint8_t mid[32]; /* the 16 bytes of the message id, then zeros */
} vtc_send_buf;

/* Builds into |b| a Send to |recipient| with envelopes for the |nr|
 * devices |r| and the |ns| devices |s| (at most 8 each), message id |mid|
 * and options |o| (NULL: none). |recipient|, |text| and o->group_id must
 * outlive |b|. */
void vtc_send_build(vtc_send_buf *b, const char *recipient, const uint32_t *r, size_t nr,
                    const uint32_t *s, size_t ns, const char *text, const uint8_t *mid,
                    const vtc_send_opts *o);

/* vtc_send_build and vtc_call on |from|'s connection. */
Ventra__V1__Response *vtc_send_lists(vtc_device *from, const char *recipient,
                                     const uint32_t *r, size_t nr, const uint32_t *s,
                                     size_t ns, const char *text, const uint8_t *mid,
                                     const vtc_send_opts *o);

/* Asserts a SendResponse with |duplicate| and a non-zero server time;
 * frees |r| and returns the time. */
uint64_t vtc_expect_sent(Ventra__V1__Response *r, bool duplicate);

/* The bit of an Event body case (a Ventra__V1__Event__BodyCase value) in
 * the mask of vtc_wait_events. */
#define VTC_EVENT(kind) (1u << (kind))

/* The next event on |c| whose VTC_EVENT bit is in |kinds|, waiting at
 * most |timeout_ms|; events of other kinds are dropped. NULL when none
 * came. Free with vtc_event_free. */
Ventra__V1__Event *vtc_wait_events(vtc_client *c, uint32_t kinds, int timeout_ms);

/* vtc_wait_events for the one body case |kind|. */
Ventra__V1__Event *vtc_wait_event(vtc_client *c, int kind, int timeout_ms);

/* Asserts that a MessageEvent comes to |d| within |timeout_ms| (other
 * events are dropped); returns the event (free with vtc_event_free). */
Ventra__V1__Event *vtc_expect_message(vtc_device *d, int timeout_ms);

/* DELIV-1: asserts the fields of the stored message |m|: seq, sender and
 * its device, id |mid|, type MESSAGE, |content|, |time_ms| (0: not
 * checked), the 16-byte |group_id| (NULL: none), |recipient|, and that it
 * is not ephemeral. */
void vtc_check_message(const Ventra__V1__MessageEvent *m, const vtc_device *from,
                       const char *recipient, const uint8_t *mid, const uint8_t *group_id,
                       const char *content, uint64_t time_ms);

/* Asserts that the next MessageEvent of |d| (within 5 s) is the message
 * |mid|; acks it (one deleted) when |ack|; returns its seq. */
uint64_t vtc_expect_next_is(vtc_device *d, const uint8_t *mid, bool ack);

/* Frees the |n| events of |ev| and the array. */
void vtc_free_events(Ventra__V1__Event **ev, size_t n);

/* ---- Quiet reads and the target's transport (additions) --------------- */

/* As vtc_ws_recv, but the server's pings are consumed without a pong (and
 * its close frame is not answered), so that the client stays silent, e.g.
 * to let a server's idle timeout run (spec/wire.md WIRE-12). */
void vtc_ws_recv_quiet(vtc_ws *ws, int timeout_ms, vtc_ws_msg *out);

/* Whether the target set by vtc_target_set is TLS. */
bool vtc_target_is_tls(void);

#ifdef __cplusplus
}
#endif

#endif
