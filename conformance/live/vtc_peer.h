/* An end-to-end peer for the client tier of the conformance suite: a device
 * that holds its own prekeys, makes and answers X3DH sessions, ratchets,
 * pads and sends Content exactly as spec/crypto.md sections 4 to 8 and
 * spec/delivery.md (Send, MessageEvent, Ack) say, built only from libventra's
 * primitives, and that can misbehave on purpose. Test code: setup errors fail
 * the running test through vtc_fail; protocol outcomes are returned. */
#ifndef VTC_PEER_H
#define VTC_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/err.h"
#include "ventra/ratchet.h"
#include "ventra/v1/e2e.pb-c.h"
#include "vtc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One-time prekeys a peer uploads at registration (and keeps). */
#define VTC_PEER_ONE_TIME_PREKEYS 20u

typedef struct vtc_peer vtc_peer;

/* Registers a fresh account named after |prefix| (vtc_username) on the
 * target's |port|, then generates and uploads a signed prekey, a last-resort
 * prekey and VTC_PEER_ONE_TIME_PREKEYS one-time prekeys whose private halves
 * it keeps, so that others can start sessions with it. Free with
 * vtc_peer_free. */
vtc_peer *vtc_peer_register(int port, const char *prefix);

/* A second device of |owner|'s account (vtc_link), with prekeys of its own.
 * Independent of |owner| afterwards (each is freed on its own). */
vtc_peer *vtc_peer_link(vtc_peer *owner);

/* Wipes every key, session and prekey, and frees. NULL is allowed. */
void vtc_peer_free(vtc_peer *p);

/* Accessors. The device (its connection, token, identity) stays owned by
 * |p| and is replaced by vtc_peer_rotate_identity. */
const char *vtc_peer_username(const vtc_peer *p);
uint32_t vtc_peer_device_id(const vtc_peer *p);
const uint8_t *vtc_peer_identity_key(const vtc_peer *p); /* 32-byte Ed25519 key */
vtc_device *vtc_peer_device(vtc_peer *p);

/* Whether vtc_peer_recv acknowledges stored messages (default true). A
 * message is acked whether or not it decrypted (CRYPTO-77, DELIV-92), never
 * when ephemeral (DELIV-82). */
void vtc_peer_set_auto_ack(vtc_peer *p, bool on);

/* Forgets every session and recorded identity key of |username|'s devices,
 * as a user who accepts a changed identity key does (CRYPTO-128): the next
 * send fetches bundles again and the next PrekeyMessage is taken. */
void vtc_peer_forget(vtc_peer *p, const char *username);

/* Whether the peer has a current session with (|username|, |device_id|),
 * and whether it is confirmed (CRYPTO-61; a responder session counts as
 * confirmed). */
bool vtc_peer_has_session(const vtc_peer *p, const char *username, uint32_t device_id,
                          bool *confirmed);

/* ---- Receiving -------------------------------------------------------- */

/* One received MessageEvent and what the peer made of it. */
typedef struct vtc_peer_msg {
    uint64_t seq; /* 0 for an ephemeral message */
    char sender[33];
    uint32_t sender_device;
    char recipient[33];
    uint8_t message_id[16];
    size_t message_id_len; /* as received (16 from a conforming server) */
    int type;              /* the envelope type (Ventra__V1__EnvelopeType) */
    bool ephemeral;
    uint8_t group_id[16];
    size_t group_id_len; /* 0: no group */
    uint64_t server_time_ms;
    vt_err error;     /* VT_OK, or why it did not decrypt or decode */
    bool duplicate;   /* (sender, message_id) seen before: not decrypted (DELIV-90) */
    bool new_session; /* a PrekeyMessage made a new session (CRYPTO-65) */
    bool acked;       /* the peer acknowledged it */
    uint8_t *content; /* the decrypted Content bytes as received, padding
                       * included (CRYPTO-130); NULL when it did not decrypt */
    size_t content_len;
    Ventra__V1__Content *body; /* decoded from the unpadded bytes; NULL on error */
} vtc_peer_msg;

/* Waits at most |timeout_ms| for the next MessageEvent (other events are
 * dropped), decrypts it (ENVELOPE_TYPE_PREKEY: CRYPTO-65, making or matching
 * a session; ENVELOPE_TYPE_MESSAGE: the current session, CRYPTO-121; any
 * other type: VT_ERR_INVALID_ARGUMENT, CRYPTO-129), decodes the Content and
 * acks it (vtc_peer_set_auto_ack). A failure to decrypt or decode is
 * reported in out->error and changes no session (CRYPTO-77). Returns false
 * (with |out| zeroed) when nothing came in time. |out| is filled afresh;
 * release it with vtc_peer_msg_clear. */
bool vtc_peer_recv(vtc_peer *p, int timeout_ms, vtc_peer_msg *out);

/* Wipes the plaintext of |m|, frees what it holds and zeroes it. */
void vtc_peer_msg_clear(vtc_peer_msg *m);

/* The text of a DataMessage body, or NULL when |m| holds no DataMessage. */
const char *vtc_peer_msg_text(const vtc_peer_msg *m);

/* ---- Sending ---------------------------------------------------------- */

/* Options of a send; all zero is a well-behaved stored send. */
typedef struct vtc_peer_send_opts {
    const uint8_t *message_id; /* 16 bytes; NULL: random (DELIV-20) */
    const uint8_t *group_id;   /* 16 bytes; NULL: none (no to_self then) */
    bool ephemeral;
    bool unpadded; /* misbehave: encrypt the Content without padding */
    bool bare;     /* misbehave: a bare ENVELOPE_TYPE_MESSAGE even while the
                    * session is unconfirmed (no PrekeyMessage, CRYPTO-121) */
} vtc_peer_send_opts;

/* Encrypts the Content |c| (its padding field is ignored and set per
 * CRYPTO-130 unless o->unpadded) for every active device of |to_user| and
 * the peer's own other active devices (none for a group send or a note to
 * self; spec/delivery.md 3.2), fetching bundles and running X3DH for devices
 * without a session (CRYPTO-45 to CRYPTO-56), as a PrekeyMessage while the
 * session is unconfirmed (CRYPTO-61) and a bare MESSAGE after (CRYPTO-62),
 * and Sends it. The message id goes to |mid_out| (may be NULL).
 * Returns VT_OK, the Send's or FetchBundles' error code, or
 * VT_ERR_PERMISSION_DENIED when a bundle's identity key differs from the
 * recorded one (CRYPTO-49; vtc_peer_forget accepts it). */
vt_err vtc_peer_send(vtc_peer *p, const char *to_user, const Ventra__V1__Content *c,
                     const vtc_peer_send_opts *o, uint8_t mid_out[16]);

/* A DataMessage with |text| (sent_at_ms now). */
vt_err vtc_peer_send_text(vtc_peer *p, const char *to_user, const char *text,
                          uint8_t mid_out[16]);

/* A ReceiptMessage (READ when |read|, else DELIVERED) naming the |n| 16-byte
 * message ids |mids| (at most 64, DELIV-87). */
vt_err vtc_peer_send_receipt(vtc_peer *p, const char *to_user, const uint8_t (*mids)[16],
                             size_t n, bool read);

/* A TypingMessage (STARTED or STOPPED) in an ephemeral send (DELIV-85). */
vt_err vtc_peer_send_typing(vtc_peer *p, const char *to_user, bool started);

/* Makes sessions now (FetchBundles, X3DH as initiator, CRYPTO-45 to
 * CRYPTO-56) with every active device of |to_user| the peer has none
 * with, and sends nothing: the next vtc_peer_send to them is a
 * PrekeyMessage made from the bundles fetched now. Each call hands out
 * one of their prekeys (vtc_peer_forget first to fetch again). Returns
 * VT_OK, the ListDevices or FetchBundles error code, or the error of the
 * bundle check. */
vt_err vtc_peer_start_sessions(vtc_peer *p, const char *to_user);

/* The X3DH fields (the prekey ids of the bundle it was made from) of the
 * current session with (|username|, |device_id|); false when there is none
 * or it is a responder session. */
bool vtc_peer_session_x3dh(const vtc_peer *p, const char *username, uint32_t device_id,
                           vt_x3dh_fields *out);

/* ---- The secrets it shares with its contacts (SEC-1) --------------------- */

/* One secret value: 32 bytes, or 12 for a nonce. */
typedef struct vtc_peer_secret {
    uint8_t bytes[32];
    size_t len;
} vtc_peer_secret;

/* Every secret the peer's sessions have held or derived so far, so that a
 * case can look for them where they must not be: the X3DH SK of responder
 * sessions (their first root key), every root key, every chain key, the
 * message key of each chain step and skipped key, and the AES key and
 * nonce of each (CRYPTO-80 to CRYPTO-82). Not the SK of sessions the peer
 * initiated (X3DH wipes it), nor private keys of the peer's own (they are
 * not shared). Owned by |p|; valid until the next call on it. */
size_t vtc_peer_secrets(const vtc_peer *p, const vtc_peer_secret **out);

/* ---- Misbehaving on purpose ------------------------------------------- */

/* Deletes the account (DeleteAccount) and registers the same username again
 * with a NEW identity key and new prekeys (AUTH-93), so that a contact sees
 * a changed identity key (SEC-5). Every session is dropped. Devices linked
 * to the old account are gone on the server; their peers are only good for
 * vtc_peer_free. */
void vtc_peer_rotate_identity(vtc_peer *p);

/* Sends the |len| bytes |content| as envelope content of type |type| (a
 * Ventra__V1__EnvelopeType value; a conforming server refuses any other
 * than PREKEY and MESSAGE, spec/delivery.md 3.1 check 4) to every device
 * the fan-out of vtc_peer_send names, with no encryption at all (CRYPTO-77:
 * undecryptable content). The message id goes to |mid_out| (may be NULL).
 * Returns VT_OK or the Send's error code. */
vt_err vtc_peer_send_raw(vtc_peer *p, const char *to_user, int type,
                         const uint8_t *content, size_t len, uint8_t mid_out[16]);

/* ---- Added: several sessions with one device (CRYPTO-124, CRYPTO-125) ---- */

/* Makes |s| the current session with (|username|, |device_id|) and returns
 * the one it was (NULL when none), so that a case can keep sessions aside
 * and send in a chosen one: take the current one out with |s| NULL, put it
 * back later. Takes ownership of |s|; the caller owns the result (free it
 * with vt_ratchet_free). The losing session and the recorded identity key
 * stay as they are. */
vt_ratchet *vtc_peer_session_swap(vtc_peer *p, const char *username, uint32_t device_id,
                                  vt_ratchet *s);

#ifdef __cplusplus
}
#endif

#endif
