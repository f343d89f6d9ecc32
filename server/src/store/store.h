/* ventrad's store: everything the server keeps across restarts (accounts,
 * devices, tokens, prekeys, queues, idempotency records, groups), behind
 * one small interface so that other backends can follow the embedded one
 * (SQLite, store_sqlite.c). Implements the durability rules of
 * spec/delivery.md (DELIV-2, DELIV-3, DELIV-40, DELIV-50) and the
 * exactly-once hand-out of one-time prekeys (WIRE-310).
 *
 * Batching (group commit, DESIGN.md section 7). Every change runs inside an
 * *operation* (vtd_store_op_begin / vtd_store_op_end): one RPC's writes,
 * applied all or nothing. Operations accumulate in one open transaction,
 * the *batch*, which vtd_store_flush() commits with one flush to stable
 * storage. Reads see the batch's uncommitted writes; a caller must not tell
 * anyone about a change (reply, push) before the flush that made it durable
 * has returned VT_OK.
 *
 * Single-threaded: one vtd_store is used by one thread. Times are passed in
 * by the caller (Unix seconds, or milliseconds where the name says _ms);
 * the store never reads a clock. Usernames are NUL-terminated, at most
 * VTD_USERNAME_MAX bytes, already checked by the caller. Every function
 * returns VT_OK or the error named in its comment; VT_ERR_IO means the
 * database failed (the operation then has to be abandoned with
 * vtd_store_op_end(st, false)), VT_ERR_INVALID_ARGUMENT a NULL or
 * out-of-range argument. */
#ifndef VTD_STORE_H
#define VTD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/crypto.h"
#include "ventra/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VTD_USERNAME_MAX 32
#define VTD_DEVICE_NAME_MAX 64
#define VTD_KEY_LEN 32
#define VTD_SIG_LEN 64
#define VTD_JTI_LEN 16
#define VTD_MESSAGE_ID_LEN 16
#define VTD_GROUP_ID_LEN 16
#define VTD_GROUP_MEMBERS_MAX 64

typedef struct vtd_store vtd_store;

/* An account's internal id: never reused, so an account registered again
 * under a deleted one's username has a different id (AUTH-52, AUTH-93). */
typedef int64_t vtd_account_id;

/* ---- Life cycle ------------------------------------------------------ */

/* Opens (creating it if needed) the store in directory |dir| (the file
 * |dir|/ventra.db), applies the schema migrations it lacks, in order, each
 * in its own transaction, and sets up durable commits (WAL, a flush on
 * every commit). On VT_OK the caller owns *out; on error *out is
 * untouched. Errors: VT_ERR_IO (cannot open or migrate), VT_ERR_CONFIG (the
 * database's schema version is newer than this program knows). */
VT_MUST_CHECK vt_err vtd_store_open(vtd_store **out, const char *dir);

/* Rolls back an unflushed batch and closes. Accepts NULL. */
void vtd_store_close(vtd_store *st);

/* The schema version the database is at (after open: the newest). */
int vtd_store_schema_version(const vtd_store *st);

/* ---- Operations and batches ------------------------------------------ */

/* Starts an operation: opens the batch if none is open, then marks the
 * point to which vtd_store_op_end(st, false) rolls back. Operations do not
 * nest. Errors: VT_ERR_IO, VT_ERR_STATE (an operation is already open). */
VT_MUST_CHECK vt_err vtd_store_op_begin(vtd_store *st);

/* Ends the open operation: keeps its writes in the batch when |keep|, else
 * undoes all of them (the rest of the batch is unaffected). Errors:
 * VT_ERR_IO (then the batch is unusable: the caller must flush, which fails
 * and rolls everything back), VT_ERR_STATE (no operation open). */
VT_MUST_CHECK vt_err vtd_store_op_end(vtd_store *st, bool keep);

/* Number of operations kept in the open batch (0: no batch open). */
size_t vtd_store_batch_ops(const vtd_store *st);

/* Commits the open batch durably (returns only once the commit is on
 * stable storage). Nothing open: VT_OK at once. On VT_ERR_IO the whole
 * batch is rolled back and none of its operations happened. Errors:
 * VT_ERR_IO, VT_ERR_STATE (an operation is still open). */
VT_MUST_CHECK vt_err vtd_store_flush(vtd_store *st);

/* ---- Accounts and devices (spec/auth.md) ----------------------------- */

/* A device as stored. A pending device (active false) has expires_at set;
 * whether it has lapsed is the caller's decision (expires_at <= now). */
typedef struct vtd_device {
    uint32_t device_id;
    uint8_t identity_key[VTD_KEY_LEN];
    char name[VTD_DEVICE_NAME_MAX + 1];
    uint64_t created_at;
    uint64_t expires_at; /* pending devices only, else 0 */
    bool active;
} vtd_device;

/* The id of the account named |username|. Errors: VT_ERR_NOT_FOUND. */
VT_MUST_CHECK vt_err vtd_store_account_find(vtd_store *st, const char *username,
                                            vtd_account_id *out);

/* The username of account |acct| into |out| (VTD_USERNAME_MAX + 1 bytes).
 * Errors: VT_ERR_NOT_FOUND. */
VT_MUST_CHECK vt_err vtd_store_account_name(vtd_store *st, vtd_account_id acct,
                                            char out[VTD_USERNAME_MAX + 1]);

/* Creates account |username| with active device 1 (|identity_key|,
 * |device_name| possibly empty, created_at |now|) and returns its id.
 * Errors: VT_ERR_ALREADY_EXISTS (the username is taken). */
VT_MUST_CHECK vt_err vtd_store_account_create(vtd_store *st, const char *username,
                                              const uint8_t identity_key[VTD_KEY_LEN],
                                              const char *device_name, uint64_t now,
                                              vtd_account_id *out);

/* Deletes account |acct| and everything of it: devices, prekeys, queues,
 * tokens, idempotency records and group memberships (the group rules of
 * DELIV-104 are the caller's: it leaves each group first). Messages the
 * account sent that sit in other accounts' queues stay (DELIV-71).
 * Deleting an absent account succeeds. */
VT_MUST_CHECK vt_err vtd_store_account_delete(vtd_store *st, vtd_account_id acct);

/* Device |device_id| of |acct|, active or pending. Errors: VT_ERR_NOT_FOUND
 * (never issued, removed, or the account does not exist). */
VT_MUST_CHECK vt_err vtd_store_device_get(vtd_store *st, vtd_account_id acct,
                                          uint32_t device_id, vtd_device *out);

/* The devices of |acct| in increasing device id into |out| (|cap| entries),
 * their number in *n: the active ones, and with |with_pending| also the
 * pending ones whose expires_at is after |now|. Errors:
 * VT_ERR_BUFFER_TOO_SMALL (more than |cap|; *n is the number needed). */
VT_MUST_CHECK vt_err vtd_store_devices_list(vtd_store *st, vtd_account_id acct,
                                            bool with_pending, uint64_t now,
                                            vtd_device *out, size_t cap, size_t *n);

/* Whether |device_id| was ever issued in |acct| (AUTH-3: ids start at 1
 * and increase; an issued id stays issued after removal). */
VT_MUST_CHECK vt_err vtd_store_device_issued(vtd_store *st, vtd_account_id acct,
                                             uint32_t device_id, bool *issued);

/* Creates a pending device with the account's next device id, the given
 * key and name, created_at |now| and |expires_at|, and returns its id.
 * Errors: VT_ERR_LIMIT_EXCEEDED (device ids of the account exhausted),
 * VT_ERR_NOT_FOUND (no such account). */
VT_MUST_CHECK vt_err vtd_store_device_add_pending(vtd_store *st, vtd_account_id acct,
                                                  const uint8_t identity_key[VTD_KEY_LEN],
                                                  const char *name, uint64_t now,
                                                  uint64_t expires_at, uint32_t *device_id);

/* Makes a pending device active (its first Login). Activating an active
 * device succeeds. Errors: VT_ERR_NOT_FOUND. */
VT_MUST_CHECK vt_err vtd_store_device_activate(vtd_store *st, vtd_account_id acct,
                                               uint32_t device_id);

/* Removes a device with its queue, prekeys and tokens (AUTH-86, DELIV-70).
 * Removing an absent device succeeds. */
VT_MUST_CHECK vt_err vtd_store_device_remove(vtd_store *st, vtd_account_id acct,
                                             uint32_t device_id);

/* Removes every pending device whose expires_at is at or before |now|, with
 * anything it holds; *removed (may be NULL) is their number. */
VT_MUST_CHECK vt_err vtd_store_devices_expire(vtd_store *st, uint64_t now, size_t *removed);

/* ---- Session tokens (AUTH-50 to AUTH-52) ----------------------------- */

/* Records an issued token by its jti, for the device and until |exp|. */
VT_MUST_CHECK vt_err vtd_store_token_add(vtd_store *st, const uint8_t jti[VTD_JTI_LEN],
                                         vtd_account_id acct, uint32_t device_id,
                                         uint64_t exp);

/* *valid is true when a token with |jti| was recorded for exactly this
 * account and device and not deleted since (revocation, AUTH-52). */
VT_MUST_CHECK vt_err vtd_store_token_valid(vtd_store *st, const uint8_t jti[VTD_JTI_LEN],
                                           vtd_account_id acct, uint32_t device_id,
                                           bool *valid);

/* Deletes the records of tokens whose exp is at or before |now|. */
VT_MUST_CHECK vt_err vtd_store_tokens_expire(vtd_store *st, uint64_t now);

/* ---- Prekeys (spec/crypto.md, spec/wire.md 5.11 to 5.13) ------------- */

typedef struct vtd_signed_prekey {
    uint32_t id;
    uint8_t public_key[VTD_KEY_LEN];
    uint8_t signature[VTD_SIG_LEN];
} vtd_signed_prekey;

typedef struct vtd_one_time_prekey {
    uint32_t id;
    uint8_t public_key[VTD_KEY_LEN];
} vtd_one_time_prekey;

/* Replaces the device's signed prekey (|last_resort| false) or last-resort
 * prekey (true) with |key|. */
VT_MUST_CHECK vt_err vtd_store_signed_prekey_set(vtd_store *st, vtd_account_id acct,
                                                 uint32_t device_id, bool last_resort,
                                                 const vtd_signed_prekey *key);

/* The device's signed or last-resort prekey; *present false when none is
 * stored (then |out| is zeroed). */
VT_MUST_CHECK vt_err vtd_store_signed_prekey_get(vtd_store *st, vtd_account_id acct,
                                                 uint32_t device_id, bool last_resort,
                                                 vtd_signed_prekey *out, bool *present);

/* The public key of the device's one-time prekey |id|, *present false when
 * none has that id. */
VT_MUST_CHECK vt_err vtd_store_one_time_prekey_get(vtd_store *st, vtd_account_id acct,
                                                   uint32_t device_id, uint32_t id,
                                                   uint8_t public_key[VTD_KEY_LEN],
                                                   bool *present);

/* Stores a one-time prekey; *added false (nothing changes) when one with
 * the same id is already stored, whatever its key. */
VT_MUST_CHECK vt_err vtd_store_one_time_prekey_add(vtd_store *st, vtd_account_id acct,
                                                   uint32_t device_id,
                                                   const vtd_one_time_prekey *key, bool *added);

/* The number of one-time prekeys stored for the device. */
VT_MUST_CHECK vt_err vtd_store_one_time_prekey_count(vtd_store *st, vtd_account_id acct,
                                                     uint32_t device_id, uint32_t *count);

/* Takes (returns and deletes) the device's one-time prekey with the lowest
 * id; *taken false when it has none. */
VT_MUST_CHECK vt_err vtd_store_one_time_prekey_take(vtd_store *st, vtd_account_id acct,
                                                    uint32_t device_id,
                                                    vtd_one_time_prekey *out, bool *taken);

/* ---- Queues (spec/delivery.md sections 2, 4, 5, 6) ------------------- */

/* One queued MessageEvent. Pointers are borrowed: in vtd_store_queue_push
 * from the caller, in a vtd_store_queue_read callback from the store (valid
 * during the callback only). */
typedef struct vtd_message {
    uint64_t seq;
    const char *sender;
    uint32_t sender_device;
    uint8_t message_id[VTD_MESSAGE_ID_LEN];
    uint32_t type;
    const uint8_t *content;
    size_t content_len;
    uint64_t server_time_ms;
    uint8_t group_id[VTD_GROUP_ID_LEN];
    size_t group_id_len; /* 0 or VTD_GROUP_ID_LEN */
    const char *recipient;
} vtd_message;

/* The number of messages queued for the device. */
VT_MUST_CHECK vt_err vtd_store_queue_depth(vtd_store *st, vtd_account_id acct,
                                           uint32_t device_id, uint64_t *depth);

/* Queues |msg| (its seq is ignored) for the device under the device's next
 * seq, greater than every seq it ever had (DELIV-40), returned in *seq.
 * Errors: VT_ERR_NOT_FOUND (no such device). */
VT_MUST_CHECK vt_err vtd_store_queue_push(vtd_store *st, vtd_account_id acct,
                                          uint32_t device_id, const vtd_message *msg,
                                          uint64_t *seq);

/* The highest seq queued for the device now, 0 when its queue is empty. */
VT_MUST_CHECK vt_err vtd_store_queue_last_seq(vtd_store *st, vtd_account_id acct,
                                              uint32_t device_id, uint64_t *seq);

/* Calls |fn| for each message queued for the device with seq > |after|
 * and server_time_ms >= |min_time_ms|, in increasing seq, at most |max|
 * of them; stops early when |fn| returns false. *n (may be NULL) is the
 * number of calls. */
typedef bool (*vtd_message_fn)(void *ud, const vtd_message *msg);
VT_MUST_CHECK vt_err vtd_store_queue_read(vtd_store *st, vtd_account_id acct,
                                          uint32_t device_id, uint64_t after,
                                          uint64_t min_time_ms, size_t max,
                                          vtd_message_fn fn, void *ud, size_t *n);

/* Deletes the device's messages whose seq is among |seqs| (|count|
 * entries; repeats and seqs with no message are ignored, DELIV-51) and
 * returns in *deleted how many were deleted. */
VT_MUST_CHECK vt_err vtd_store_queue_delete(vtd_store *st, vtd_account_id acct,
                                            uint32_t device_id, const uint64_t *seqs,
                                            size_t count, uint32_t *deleted);

/* Deletes every queued message accepted before |before_ms| (DELIV-61);
 * *deleted (may be NULL) is their number. */
VT_MUST_CHECK vt_err vtd_store_queue_expire(vtd_store *st, uint64_t before_ms,
                                            uint64_t *deleted);

/* The number of messages queued for all devices together (a gauge). */
VT_MUST_CHECK vt_err vtd_store_queue_total(vtd_store *st, uint64_t *total);

/* ---- Idempotency records (DELIV-21 to DELIV-24) ---------------------- */

typedef struct vtd_dedup {
    char recipient[VTD_USERNAME_MAX + 1];
    uint8_t group_id[VTD_GROUP_ID_LEN];
    size_t group_id_len; /* 0 or VTD_GROUP_ID_LEN */
    bool ephemeral;
    uint64_t accepted_ms;
} vtd_dedup;

/* The record of (|acct|, |message_id|) accepted at or after |min_ms|;
 * *found false when there is none. */
VT_MUST_CHECK vt_err vtd_store_dedup_get(vtd_store *st, vtd_account_id acct,
                                         const uint8_t message_id[VTD_MESSAGE_ID_LEN],
                                         uint64_t min_ms, vtd_dedup *out, bool *found);

/* Records an accepted send (replacing an older record of the same id). */
VT_MUST_CHECK vt_err vtd_store_dedup_put(vtd_store *st, vtd_account_id acct,
                                         const uint8_t message_id[VTD_MESSAGE_ID_LEN],
                                         const vtd_dedup *rec);

/* Deletes records accepted before |before_ms|. */
VT_MUST_CHECK vt_err vtd_store_dedup_expire(vtd_store *st, uint64_t before_ms);

/* ---- Groups (spec/delivery.md section 8.3) --------------------------- */

typedef struct vtd_group_member {
    vtd_account_id acct;
    char username[VTD_USERNAME_MAX + 1];
    bool admin;
} vtd_group_member;

/* A group with its members sorted bytewise by username. */
typedef struct vtd_group {
    uint8_t group_id[VTD_GROUP_ID_LEN];
    uint64_t revision;
    size_t member_count;
    vtd_group_member members[VTD_GROUP_MEMBERS_MAX];
} vtd_group;

/* Creates a group with |revision| and no members. Errors:
 * VT_ERR_ALREADY_EXISTS (the id is taken). */
VT_MUST_CHECK vt_err vtd_store_group_create(vtd_store *st,
                                            const uint8_t group_id[VTD_GROUP_ID_LEN],
                                            uint64_t revision);

/* The group |group_id|. Errors: VT_ERR_NOT_FOUND. */
VT_MUST_CHECK vt_err vtd_store_group_get(vtd_store *st,
                                         const uint8_t group_id[VTD_GROUP_ID_LEN],
                                         vtd_group *out);

/* Adds |acct| as a member (admin or not), or updates its admin flag when it
 * is one. Errors: VT_ERR_NOT_FOUND (no such group or account),
 * VT_ERR_LIMIT_EXCEEDED (|acct| is not a member and the group has
 * VTD_GROUP_MEMBERS_MAX members already: a vtd_group holds no more). */
VT_MUST_CHECK vt_err vtd_store_group_put_member(vtd_store *st,
                                                const uint8_t group_id[VTD_GROUP_ID_LEN],
                                                vtd_account_id acct, bool admin);

/* Removes |acct| from the group; absent members are ignored. */
VT_MUST_CHECK vt_err vtd_store_group_remove_member(vtd_store *st,
                                                   const uint8_t group_id[VTD_GROUP_ID_LEN],
                                                   vtd_account_id acct);

/* Sets the group's revision. Errors: VT_ERR_NOT_FOUND. */
VT_MUST_CHECK vt_err vtd_store_group_set_revision(vtd_store *st,
                                                  const uint8_t group_id[VTD_GROUP_ID_LEN],
                                                  uint64_t revision);

/* Deletes the group and its memberships; an absent group succeeds. */
VT_MUST_CHECK vt_err vtd_store_group_delete(vtd_store *st,
                                            const uint8_t group_id[VTD_GROUP_ID_LEN]);

/* The ids of the groups |acct| belongs to, sorted bytewise, into |out|
 * (|cap| entries), their number in *n. Errors: VT_ERR_BUFFER_TOO_SMALL
 * (*n is the number needed). */
VT_MUST_CHECK vt_err vtd_store_groups_of(vtd_store *st, vtd_account_id acct,
                                         uint8_t (*out)[VTD_GROUP_ID_LEN], size_t cap,
                                         size_t *n);

/* The number of groups |acct| belongs to. */
VT_MUST_CHECK vt_err vtd_store_group_count_of(vtd_store *st, vtd_account_id acct,
                                              uint32_t *count);

#ifdef __cplusplus
}
#endif

#endif
