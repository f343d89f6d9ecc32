/* libventra-client: the reference Ventra client as a library with no UI
 * code. One vt_client is one device of one account on one server, with its
 * encrypted local store (client/lib/store.h). It keeps the connection
 * (spec/state/client_conn.md), the device's prekeys, one session per remote
 * device (spec/crypto.md section 7), the outbox (spec/state/
 * outgoing_message.md) and the trust it places in identity keys.
 *
 * Threading and loops: a vt_client is used from one thread. Nothing runs
 * behind the caller's back: vt_client_service() does the network and timer
 * work and calls the callbacks, so a GUI calls it from its main loop (a
 * timer or idle source with a timeout of 0), and a command line calls vt_client_run() until what it waits for happened.
 *
 * Ownership: strings and structs passed to callbacks are owned by the
 * library and valid for the duration of the call only. Strings the caller
 * passes in are copied. */
#ifndef VENTRA_CLIENT_H
#define VENTRA_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_client vt_client;

/* The connection's state: the states of spec/state/client_conn.md. */
typedef enum vt_client_state {
    VT_CLIENT_DISCONNECTED,
    VT_CLIENT_CONNECTING,
    VT_CLIENT_AUTHENTICATING,
    VT_CLIENT_DRAINING,
    VT_CLIENT_LIVE,
    VT_CLIENT_BACKOFF,
    VT_CLIENT_CLOSED
} vt_client_state;

/* What happened to an outgoing message: the states of
 * spec/state/outgoing_message.md. */
typedef enum vt_client_msg_status {
    VT_MSG_QUEUED,
    VT_MSG_SENDING,
    VT_MSG_STALE_DEVICES,
    VT_MSG_HELD, /* an identity key of a destination changed: waits for
                  * vt_client_accept_identity (SM-303) */
    VT_MSG_SENT,
    VT_MSG_DELIVERED,
    VT_MSG_READ,
    VT_MSG_FAILED
} vt_client_msg_status;

/* A message shown to the user: received, or sent by this account (from this
 * device or another of its devices, which sees it as a sync copy). */
typedef struct vt_client_message {
    const char *conversation;   /* the other account; the group's id in hex for groups */
    const char *sender;         /* the account that wrote it */
    uint32_t sender_device;
    const uint8_t *message_id;  /* MESSAGE_ID_LEN bytes */
    const uint8_t *group_id;    /* GROUP_ID_LEN bytes, or NULL */
    const char *text;           /* UTF-8, NUL-terminated */
    uint64_t sent_at_ms;        /* the sender's clock (inside the encryption) */
    uint64_t server_time_ms;    /* when the server accepted it */
    bool outgoing;              /* written by this account */
} vt_client_message;

/* Everything the application hears about. Any member may be NULL. */
typedef struct vt_client_callbacks {
    /* A message was stored (before it is acknowledged to the server). */
    void (*message)(void *ud, const vt_client_message *m);
    /* An outgoing message changed status (|err|: why it FAILED, else VT_OK). */
    void (*status)(void *ud, const uint8_t *message_id, vt_client_msg_status st, vt_err err);
    /* A delivered (read = false) or read receipt from |from| for a message. */
    void (*receipt)(void *ud, const char *from, uint32_t from_device,
                    const uint8_t *message_id, bool read);
    /* |from| started or stopped typing (group_id NULL for a direct chat). */
    void (*typing)(void *ud, const char *from, const uint8_t *group_id, bool started);
    /* The identity key of (username, device_id) differs from the trusted
     * one: messages to |username| are held until vt_client_accept_identity. */
    void (*identity_changed)(void *ud, const char *username, uint32_t device_id);
    /* The connection changed state; |why| is the error that caused it
     * (VT_OK for none): CLOSED with VT_ERR_PERMISSION_DENIED after the
     * server ended the session for good, VT_ERR_BAD_SIGNATURE when the
     * device cannot log in, VT_ERR_CRYPTO when the server key changed. */
    void (*state)(void *ud, vt_client_state st, vt_err why);
    /* Something the user should read that no other callback tells (a
     * message that could not be decrypted, a group change, another
     * connection took over; an identity change or a held or failed message
     * only when |identity_changed| or |status| is NULL). */
    void (*notice)(void *ud, const char *text);
} vt_client_callbacks;

typedef struct vt_client_config {
    const char *server_url; /* ws://HOST:PORT (loopback only) or wss://HOST:PORT */
    const char *data_dir;   /* created 0700 when absent; holds the store */
    const void *passphrase; /* the store key (VENTRA_PASSPHRASE, a prompt, a key file) */
    size_t passphrase_len;
    const char *ca_file;    /* NULL: the system trust store (wss only) */
    const char *device_name;/* the name Register or a link code gives this device */
} vt_client_config;

/* Opens the store in cfg->data_dir and prepares the client; does not
 * connect. A data directory already bound to another server URL refuses
 * (VT_ERR_CONFIG). Errors: VT_ERR_BAD_PASSPHRASE, VT_ERR_CONFIG (bad URL,
 * plain ws to a non-loopback host, WIRE-6), VT_ERR_IO, VT_ERR_NO_MEMORY.
 * *out is untouched on failure. */
__attribute__((warn_unused_result)) vt_err vt_client_open(vt_client **out,
                                                          const vt_client_config *cfg,
                                                          const vt_client_callbacks *cb,
                                                          void *ud);
/* Closes the connection (close frame 1000), wipes secrets, closes the store. */
void vt_client_close(vt_client *c);

/* ---- The loop ------------------------------------------------------------ */

/* Starts connecting (the machine's START); the client reconnects with
 * backoff on its own until vt_client_stop or a final failure. */
__attribute__((warn_unused_result)) vt_err vt_client_start(vt_client *c);
void vt_client_stop(vt_client *c);
vt_client_state vt_client_get_state(const vt_client *c);

/* Does the pending network and timer work, waiting at most |timeout_ms|
 * for something to happen; calls the callbacks. */
__attribute__((warn_unused_result)) vt_err vt_client_service(vt_client *c, int timeout_ms);

/* Runs vt_client_service until |done|(|ud|) returns true (checked after
 * every pass), the client is CLOSED, or |timeout_ms| passed
 * (VT_ERR_UNAVAILABLE). */
__attribute__((warn_unused_result)) vt_err vt_client_run(vt_client *c, int timeout_ms,
                                                         bool (*done)(void *ud), void *ud);

/* True when the outbox is empty and nothing is in flight. */
bool vt_client_idle(const vt_client *c);

/* ---- The account ---------------------------------------------------------
 * These run the loop themselves until the operation is answered or
 * |timeout_ms| passed. */

/* A new account: fresh identity key, Register, then the prekeys upload.
 * Errors: VT_ERR_STATE (this store already holds a device),
 * VT_ERR_ALREADY_EXISTS, VT_ERR_INVALID_ARGUMENT (bad name, AUTH-1),
 * VT_ERR_PERMISSION_DENIED (registration closed), transport errors. */
__attribute__((warn_unused_result)) vt_err vt_client_register(vt_client *c, const char *username,
                                                              int timeout_ms);

/* Linking a new device (spec/auth.md, AUTH-70/71). On the new device:
 * link_begin makes the identity key and writes the link code text into
 * |code|; after the existing device approved, link_finish takes the link
 * reply ("alice/2"), logs in and uploads prekeys. On the existing device:
 * link_approve reads a code, calls AddDevice and writes the reply. */
__attribute__((warn_unused_result)) vt_err vt_client_link_begin(vt_client *c, char *code,
                                                                size_t cap);
__attribute__((warn_unused_result)) vt_err vt_client_link_finish(vt_client *c, const char *reply,
                                                                 int timeout_ms);
__attribute__((warn_unused_result)) vt_err vt_client_link_approve(vt_client *c, const char *code,
                                                                  char *reply, size_t cap,
                                                                  int timeout_ms);

/* This device: its username (NULL before registration) and device id. */
const char *vt_client_username(const vt_client *c);
uint32_t vt_client_device_id(const vt_client *c);

typedef struct vt_client_device {
    uint32_t device_id;
    char name[65];
    uint64_t created_at;
    bool is_this_device;
} vt_client_device;

/* The account's active devices (ListDevices): fills at most |cap|, *n = count. */
__attribute__((warn_unused_result)) vt_err vt_client_devices(vt_client *c, vt_client_device *out,
                                                             size_t cap, size_t *n,
                                                             int timeout_ms);
__attribute__((warn_unused_result)) vt_err vt_client_remove_device(vt_client *c,
                                                                   uint32_t device_id,
                                                                   int timeout_ms);
/* Replaces the signed and last-resort prekeys now (a rotation the user or
 * a schedule asks for, ahead of SIGNED_PREKEY_ROTATION_S): makes new ones
 * with fresh ids, uploads them and, once the upload succeeded, keeps the
 * replaced private keys for SIGNED_PREKEY_GRACE_S so that PrekeyMessages
 * made from an older bundle still decrypt (spec/crypto.md CRYPTO-22, -23,
 * -28, -30). Runs the loop until the upload is answered or |timeout_ms|
 * passed; when it fails, the rotation stays pending and the client uploads
 * on its next pass. Errors: VT_ERR_INVALID_ARGUMENT (NULL), VT_ERR_STATE
 * (no device yet, or called from a callback), VT_ERR_LIMIT_EXCEEDED (ids
 * exhausted), the UploadPrekeys error, transport errors. */
__attribute__((warn_unused_result)) vt_err vt_client_rotate_prekeys(vt_client *c,
                                                                    int timeout_ms);
/* DeleteAccount; on success the store forgets the credentials (SM-3). */
__attribute__((warn_unused_result)) vt_err vt_client_delete_account(vt_client *c, int timeout_ms);

/* ---- Messages ------------------------------------------------------------
 * Sending only queues: the message is stored in the outbox (it survives a
 * crash) and goes out, with the same message id on every retry, when the
 * connection is LIVE. |message_id| (may be NULL) receives its id. */
__attribute__((warn_unused_result)) vt_err vt_client_send_text(vt_client *c, const char *to,
                                                               const char *text,
                                                               uint8_t message_id[16]);
__attribute__((warn_unused_result)) vt_err vt_client_send_group_text(vt_client *c,
                                                                     const uint8_t group_id[16],
                                                                     const char *text,
                                                                     uint8_t message_id[16]);
/* Sends a FAILED direct message again (USER_RETRY, spec/state/
 * outgoing_message.md): it goes back to the outbox as QUEUED, with its
 * message id, and the status callback reports each step as for a new one.
 * Allowed within DEDUP_WINDOW_S (7 days) of the message's creation, so the
 * server's idempotency record still covers it (DELIV-24); later, send the
 * text again as a new message. Errors: VT_ERR_NOT_FOUND (no message of
 * this account has that id), VT_ERR_STATE (not FAILED, too old, or no
 * device), VT_ERR_INVALID_ARGUMENT (a group message: send it again),
 * VT_ERR_IO. */
__attribute__((warn_unused_result)) vt_err vt_client_retry(vt_client *c,
                                                           const uint8_t message_id[16]);
/* An ephemeral typing indicator (DELIV-85); never queued. */
__attribute__((warn_unused_result)) vt_err vt_client_send_typing(vt_client *c, const char *to,
                                                                 bool started);
/* Sends a read receipt for a received message. */
__attribute__((warn_unused_result)) vt_err vt_client_mark_read(vt_client *c, const char *from,
                                                               const uint8_t message_id[16]);

/* The stored history of one conversation (a username, or a group id in
 * hex; NULL: all), oldest first, from the local store only. */
__attribute__((warn_unused_result)) vt_err
vt_client_history(vt_client *c, const char *conversation,
                  bool (*fn)(void *ud, const vt_client_message *m, vt_client_msg_status st),
                  void *ud);

/* ---- Trust (spec/crypto.md section 9, SEC-5) ----------------------------- */

typedef struct vt_client_contact {
    char username[33];
    size_t devices;
    bool verified; /* every device's key verified by safety number */
    bool changed;  /* some device's key changed and was not accepted */
} vt_client_contact;

__attribute__((warn_unused_result)) vt_err
vt_client_contacts(vt_client *c, bool (*fn)(void *ud, const vt_client_contact *ct), void *ud);
/* The safety number with |username| (CRYPTO-140..143): 60 digits in 12
 * groups of 5, NUL-terminated, into |out| (at least 72 bytes). Fetches the
 * contact's devices when none is known. */
__attribute__((warn_unused_result)) vt_err vt_client_safety_number(vt_client *c,
                                                                   const char *username,
                                                                   char *out, size_t cap,
                                                                   int timeout_ms);
/* Marks the contact's current keys verified. */
__attribute__((warn_unused_result)) vt_err vt_client_verify(vt_client *c, const char *username);
/* Accepts the changed identity keys of |username| (CRYPTO-128): records
 * them, deletes the old sessions and lets held messages go. */
__attribute__((warn_unused_result)) vt_err vt_client_accept_identity(vt_client *c,
                                                                     const char *username);

/* ---- Groups (spec/delivery.md section 9) ---------------------------------- */

__attribute__((warn_unused_result)) vt_err vt_client_group_create(vt_client *c, const char *name,
                                                                  const char *const *members,
                                                                  size_t n,
                                                                  uint8_t group_id[16],
                                                                  int timeout_ms);
__attribute__((warn_unused_result)) vt_err vt_client_group_add(vt_client *c,
                                                               const uint8_t group_id[16],
                                                               const char *const *members,
                                                               size_t n, int timeout_ms);
__attribute__((warn_unused_result)) vt_err vt_client_group_remove(vt_client *c,
                                                                  const uint8_t group_id[16],
                                                                  const char *const *members,
                                                                  size_t n, int timeout_ms);
__attribute__((warn_unused_result)) vt_err vt_client_group_leave(vt_client *c,
                                                                 const uint8_t group_id[16],
                                                                 int timeout_ms);

typedef struct vt_client_group {
    uint8_t group_id[16];
    char name[129];
    size_t members;
    bool admin; /* this account is an admin */
} vt_client_group;

__attribute__((warn_unused_result)) vt_err
vt_client_groups(vt_client *c, bool (*fn)(void *ud, const vt_client_group *g), void *ud,
                 int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
