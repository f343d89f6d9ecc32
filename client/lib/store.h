/* The client's local store: everything a device keeps between runs, in one
 * SQLCipher database (encrypted at rest; the file does not open as plain
 * SQLite). Holds the device's keys, its sessions, contacts and the keys it
 * trusts, history, the outbox and the processed-message record of
 * spec/delivery.md (DELIV-90). Not thread-safe: one thread uses a store.
 *
 * Secrets (identity seed, prekey private keys, serialized sessions, token)
 * cross this interface in caller buffers; the store wipes its own copies
 * (sqlite3 result buffers are copied out and the copies wiped on free). */
#ifndef VT_CLIENT_STORE_H
#define VT_CLIENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/err.h"

typedef struct vc_store vc_store;

/* Opens (creating when absent) the store at |path| with |key| (|key_len|
 * bytes: a passphrase, run through SQLCipher's KDF). Runs the migrations
 * up to the current schema version. Errors: VT_ERR_BAD_PASSPHRASE (the
 * file exists and |key| does not open it, or it is not a store),
 * VT_ERR_CONFIG (a schema newer than this build knows), VT_ERR_IO,
 * VT_ERR_NO_MEMORY. *out is untouched on failure. */
__attribute__((warn_unused_result)) vt_err vc_store_open(vc_store **out, const char *path,
                                                         const void *key, size_t key_len);
void vc_store_close(vc_store *s); /* accepts NULL */

/* The schema version the file holds (after open: the current one). */
int vc_store_schema_version(const vc_store *s);

/* Transactions. Every function below is atomic on its own; begin/commit
 * group several into one (CRYPTO-74: session + prekey deletion + base key +
 * identity record; DELIV-91: message stored before its ack). Nesting is
 * allowed (savepoints). rollback undoes since the matching begin. */
__attribute__((warn_unused_result)) vt_err vc_store_begin(vc_store *s);
__attribute__((warn_unused_result)) vt_err vc_store_commit(vc_store *s);
void vc_store_rollback(vc_store *s);

/* ---- This device -------------------------------------------------------
 * Settings are small named values: "server_url", "server_key" (32 bytes,
 * pinned on first connect, AUTH-11), "username", "device_id" (decimal),
 * "token", "token_exp" (decimal seconds), "next_prekey_id",
 * "signed_prekey_at"... Values are bytes. get returns VT_ERR_NOT_FOUND when
 * unset; *len receives the length (VT_ERR_BUFFER_TOO_SMALL when > cap, *len
 * then is the size needed). */
__attribute__((warn_unused_result)) vt_err vc_store_set(vc_store *s, const char *name,
                                                        const void *value, size_t len);
__attribute__((warn_unused_result)) vt_err
vc_store_get(vc_store *s, const char *name, void *value, size_t cap, size_t *len);
__attribute__((warn_unused_result)) vt_err vc_store_unset(vc_store *s, const char *name);

/* The identity key seed (32 bytes). get: VT_ERR_NOT_FOUND when none. */
__attribute__((warn_unused_result)) vt_err vc_store_put_identity(vc_store *s,
                                                                 const uint8_t seed[32]);
__attribute__((warn_unused_result)) vt_err vc_store_get_identity(vc_store *s,
                                                                 uint8_t seed[32]);
/* Added: forgets the seed (SM-3, AUTH-87); VT_OK when there was none, so
 * that put_identity works again afterwards. */
__attribute__((warn_unused_result)) vt_err vc_store_delete_identity(vc_store *s);

/* ---- Own prekeys (spec/crypto.md section 4) ------------------------------
 * kind: VC_PREKEY_ONE_TIME, _SIGNED or _LAST_RESORT. A signed or
 * last-resort key keeps its signature; |replaced_at| (0 while current) is
 * when an upload replaced it, for the grace period of CRYPTO-23/CRYPTO-30. */
typedef enum {
    VC_PREKEY_ONE_TIME = 0,
    VC_PREKEY_SIGNED = 1,
    VC_PREKEY_LAST_RESORT = 2
} vc_prekey_kind;

typedef struct vc_prekey_row {
    vc_prekey_kind kind;
    uint32_t id;
    uint8_t pub[32];
    uint8_t priv[32]; /* secret: wipe after use */
    uint8_t signature[64];
    uint64_t created_at;
    uint64_t replaced_at;
} vc_prekey_row;

__attribute__((warn_unused_result)) vt_err vc_store_put_prekey(vc_store *s,
                                                               const vc_prekey_row *row);
/* VT_ERR_NOT_FOUND when no key of |kind| has |id|. */
__attribute__((warn_unused_result)) vt_err
vc_store_get_prekey(vc_store *s, vc_prekey_kind kind, uint32_t id, vc_prekey_row *out);
/* The current (replaced_at = 0) signed or last-resort key. */
__attribute__((warn_unused_result)) vt_err
vc_store_current_prekey(vc_store *s, vc_prekey_kind kind, vc_prekey_row *out);
/* Marks every other current key of |kind| replaced at |now|. */
__attribute__((warn_unused_result)) vt_err
vc_store_mark_prekeys_replaced(vc_store *s, vc_prekey_kind kind, uint32_t keep_id,
                               uint64_t now);
__attribute__((warn_unused_result)) vt_err
vc_store_delete_prekey(vc_store *s, vc_prekey_kind kind, uint32_t id);
/* Deletes replaced keys of |kind| with replaced_at + |grace_s| <= |now|;
 * *deleted (may be NULL) receives how many. */
__attribute__((warn_unused_result)) vt_err
vc_store_expire_prekeys(vc_store *s, vc_prekey_kind kind, uint64_t now, uint64_t grace_s,
                        size_t *deleted);
/* Number of stored one-time prekeys. */
__attribute__((warn_unused_result)) vt_err vc_store_count_one_time(vc_store *s,
                                                                   size_t *count);

/* Base keys of PrekeyMessages already committed (CRYPTO-76). */
__attribute__((warn_unused_result)) vt_err
vc_store_add_base_key(vc_store *s, const uint8_t base_key[32], uint32_t signed_prekey_id,
                      uint64_t now);
bool vc_store_has_base_key(vc_store *s, const uint8_t base_key[32]);

/* ---- Sessions (spec/crypto.md section 7, CRYPTO-120 to CRYPTO-128) -------
 * At most one current and one losing session per (username, device_id).
 * |state| is vt_ratchet_serialize's output (secret). */
typedef enum { VC_SESSION_CURRENT = 0, VC_SESSION_LOSING = 1 } vc_session_slot;

__attribute__((warn_unused_result)) vt_err
vc_store_put_session(vc_store *s, const char *username, uint32_t device_id,
                     vc_session_slot slot, const uint8_t *state, size_t len,
                     uint64_t now);
/* Copies the session into |state| (capacity |cap|); VT_ERR_NOT_FOUND when
 * none, VT_ERR_BUFFER_TOO_SMALL with *len = size needed. */
__attribute__((warn_unused_result)) vt_err
vc_store_get_session(vc_store *s, const char *username, uint32_t device_id,
                     vc_session_slot slot, uint8_t *state, size_t cap, size_t *len);
__attribute__((warn_unused_result)) vt_err vc_store_delete_session(vc_store *s,
                                                                   const char *username,
                                                                   uint32_t device_id,
                                                                   vc_session_slot slot);
/* Added: whether the session of |slot| exists, without copying it. A
 * database error reads as true: it never leads to replacing a session. */
bool vc_store_has_session(vc_store *s, const char *username, uint32_t device_id,
                          vc_session_slot slot);
/* Deletes both slots of every device of |username| (device_id 0) or of one
 * device. */
__attribute__((warn_unused_result)) vt_err
vc_store_delete_sessions(vc_store *s, const char *username, uint32_t device_id);

/* ---- Contacts and the keys this device trusts (TOFU, SEC-5, CRYPTO-128) -- */
typedef enum {
    VC_TRUST_TOFU = 0,     /* recorded on first use */
    VC_TRUST_VERIFIED = 1, /* the user compared safety numbers */
    VC_TRUST_CHANGED = 2   /* a different key was seen: pending_key holds it,
                            * nothing is sent to or accepted from the device
                            * until the user accepts it (SM-200) */
} vc_trust;

typedef struct vc_device_row {
    char username[33];
    uint32_t device_id;
    uint8_t identity_key[32]; /* the trusted key */
    uint8_t pending_key[32];  /* VC_TRUST_CHANGED: the new key seen */
    vc_trust trust;
    bool active; /* false once the server stopped listing it */
    uint64_t first_seen;
} vc_device_row;

/* Inserts or replaces the row of (username, device_id). */
__attribute__((warn_unused_result)) vt_err vc_store_put_device(vc_store *s,
                                                               const vc_device_row *row);
/* VT_ERR_NOT_FOUND when the device was never seen. */
__attribute__((warn_unused_result)) vt_err vc_store_get_device(vc_store *s,
                                                               const char *username,
                                                               uint32_t device_id,
                                                               vc_device_row *out);
/* The known devices of |username| in increasing id: fills at most |cap|
 * rows, *count = how many exist. Rows of accounts that were deleted stay
 * (AUTH-94). */
__attribute__((warn_unused_result)) vt_err
vc_store_list_devices(vc_store *s, const char *username, vc_device_row *rows, size_t cap,
                      size_t *count);
/* Every username with at least one device row, sorted; a callback per
 * name (stop by returning false). */
__attribute__((warn_unused_result)) vt_err
vc_store_each_contact(vc_store *s, bool (*fn)(void *ud, const char *username), void *ud);

/* ---- History -------------------------------------------------------------
 * One row per message shown to the user, incoming or outgoing, with its
 * status (an outgoing message's outgoing_message state name, "received",
 * "read"). (sender, message_id) is unique. */
typedef struct vc_history_row {
    int64_t rowid;
    char peer[33]; /* the conversation: the other account, or "" with group */
    uint8_t group_id[16];
    bool has_group;
    char sender[33];
    uint32_t sender_device;
    uint8_t message_id[16];
    bool outgoing;
    char status[16];
    uint64_t sent_at_ms; /* the sender's claim, from inside Content */
    uint64_t server_ms;  /* the server's time (MessageEvent/SendResponse) */
    char *text;          /* malloc'd by get/each; freed by vc_history_row_clear */
    size_t text_len;
} vc_history_row;

void vc_history_row_clear(vc_history_row *row);
/* VT_ERR_ALREADY_EXISTS when (sender, message_id) is stored already. */
__attribute__((warn_unused_result)) vt_err
vc_store_add_history(vc_store *s, const vc_history_row *row);
__attribute__((warn_unused_result)) vt_err
vc_store_set_history_status(vc_store *s, const char *sender, const uint8_t mid[16],
                            const char *status);
/* Added: the row of (sender, message_id), one indexed lookup; its text is
 * malloc'd (vc_history_row_clear). VT_ERR_NOT_FOUND when none; *out is
 * untouched on failure. */
__attribute__((warn_unused_result)) vt_err vc_store_get_history(vc_store *s,
                                                                const char *sender,
                                                                const uint8_t mid[16],
                                                                vc_history_row *out);
/* Rows with rowid > |after| in rowid order, of one peer ("" and NULL
 * group: all), at most |limit|; the callback gets each row (owned by the
 * store for the call only). */
__attribute__((warn_unused_result)) vt_err
vc_store_each_history(vc_store *s, const char *peer, const uint8_t *group_id,
                      int64_t after, size_t limit,
                      bool (*fn)(void *ud, const vc_history_row *row), void *ud);

/* ---- Processed messages (DELIV-90, dedup before decrypt) ----------------- */
__attribute__((warn_unused_result)) vt_err vc_store_mark_processed(vc_store *s,
                                                                   const char *sender,
                                                                   const uint8_t mid[16],
                                                                   uint64_t now);
bool vc_store_was_processed(vc_store *s, const char *sender, const uint8_t mid[16]);
/* Forgets pairs older than |now| - |keep_s|. */
__attribute__((warn_unused_result)) vt_err
vc_store_expire_processed(vc_store *s, uint64_t now, uint64_t keep_s);

/* ---- Outbox (survives restarts; retried with the same message id) --------
 * |content| is the encoded, unpadded Content (plaintext: the database is
 * encrypted, and the row is deleted once the message is sent).
 * |state| is the outgoing_message machine's state name. */
typedef struct vc_outbox_row {
    uint8_t message_id[16];
    char recipient[33];
    uint8_t group_id[16];
    bool has_group;
    bool ephemeral;
    char state[16];
    uint64_t first_attempt_ms; /* 0 until the first send (DELIV-24 window) */
    uint64_t next_attempt_ms;
    uint32_t attempts;
    bool stale_retried; /* the one stale-device retry was used (DELIV-31) */
    uint8_t *content;   /* malloc'd by get/each; freed by vc_outbox_row_clear */
    size_t content_len;
} vc_outbox_row;

void vc_outbox_row_clear(vc_outbox_row *row);
/* VT_ERR_ALREADY_EXISTS for a message id already in the outbox. */
__attribute__((warn_unused_result)) vt_err vc_store_outbox_add(vc_store *s,
                                                               const vc_outbox_row *row);
/* Updates everything but id and content. */
__attribute__((warn_unused_result)) vt_err
vc_store_outbox_update(vc_store *s, const vc_outbox_row *row);
__attribute__((warn_unused_result)) vt_err vc_store_outbox_remove(vc_store *s,
                                                                  const uint8_t mid[16]);
__attribute__((warn_unused_result)) vt_err
vc_store_outbox_get(vc_store *s, const uint8_t mid[16], vc_outbox_row *out);
/* In insertion order. */
__attribute__((warn_unused_result)) vt_err
vc_store_outbox_each(vc_store *s, bool (*fn)(void *ud, const vc_outbox_row *row),
                     void *ud);

/* ---- Groups (the latest GroupInfo the device knows, DELIV-111) ---------- */
__attribute__((warn_unused_result)) vt_err
vc_store_put_group(vc_store *s, const uint8_t group_id[16], const char *name,
                   const char *const *members, size_t n_members,
                   const char *const *admins, size_t n_admins);
/* Members (malloc'd array of malloc'd strings, *n; free with
 * vc_store_free_names); VT_ERR_NOT_FOUND for an unknown group. */
__attribute__((warn_unused_result)) vt_err
vc_store_get_group(vc_store *s, const uint8_t group_id[16], char **name, char ***members,
                   size_t *n_members);
/* Added by the store: the admins put_group stored (as get_group's members,
 * in the order given); VT_ERR_NOT_FOUND for an unknown group. */
__attribute__((warn_unused_result)) vt_err
vc_store_get_group_admins(vc_store *s, const uint8_t group_id[16], char ***admins,
                          size_t *n_admins);
__attribute__((warn_unused_result)) vt_err
vc_store_delete_group(vc_store *s, const uint8_t group_id[16]);
void vc_store_free_names(char **names, size_t n);

#endif
