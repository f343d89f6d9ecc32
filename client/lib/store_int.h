/* Internals of the client store shared by store.c (opening, keys, schema,
 * transactions, the statement cache) and store_rows.c (the tables). The
 * store keeps the state of spec/crypto.md sections 4 and 7 and spec/delivery.md 8.2. */
#ifndef VC_STORE_INT_H
#define VC_STORE_INT_H

/* sqlite3_key() is declared only with the codec. */
#ifndef SQLITE_HAS_CODEC
#define SQLITE_HAS_CODEC 1
#endif
#include <sqlcipher/sqlite3.h>

#include "store.h"

/* Every statement the store runs, prepared once per store on first use.
 * SQLCipher 3.4.1 is SQLite 3.15.2: no UPSERT, no RETURNING. */
#define VCS_PREKEY_COLS "kind, id, pub, priv, signature, created_at, replaced_at"
#define VCS_DEVICE_COLS                                                                  \
    "username, device_id, identity_key, pending_key, trust, active, first_seen"
#define VCS_HISTORY_COLS                                                                 \
    "id, peer, group_id, sender, sender_device, message_id, outgoing, status, "          \
    "sent_at_ms, server_ms, text"
#define VCS_OUTBOX_COLS                                                                  \
    "message_id, recipient, group_id, ephemeral, state, first_attempt_ms, "              \
    "next_attempt_ms, attempts, stale_retried, content"

#define VCS_STATEMENTS(X)                                                                \
    X(SETTING_PUT, "INSERT OR REPLACE INTO settings(name, value) VALUES(?1, ?2)")        \
    X(SETTING_GET, "SELECT value FROM settings WHERE name = ?1")                         \
    X(SETTING_DEL, "DELETE FROM settings WHERE name = ?1")                               \
    X(IDENTITY_PUT, "INSERT INTO identity(id, seed) VALUES(1, ?1)")                      \
    X(IDENTITY_GET, "SELECT seed FROM identity WHERE id = 1")                            \
    X(IDENTITY_DEL, "DELETE FROM identity WHERE id = 1")                                 \
    X(PREKEY_PUT, "INSERT INTO prekeys(" VCS_PREKEY_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, " \
                  "?6, ?7)")                                                             \
    X(PREKEY_GET, "SELECT " VCS_PREKEY_COLS " FROM prekeys WHERE kind = ?1 AND id = ?2") \
    X(PREKEY_CURRENT, "SELECT " VCS_PREKEY_COLS " FROM prekeys WHERE kind = ?1 AND "     \
                      "replaced_at = 0 ORDER BY created_at DESC, id DESC LIMIT 1")       \
    X(PREKEY_MARK, "UPDATE prekeys SET replaced_at = ?3 WHERE kind = ?1 AND id <> ?2 "   \
                   "AND replaced_at = 0")                                                \
    X(PREKEY_DEL, "DELETE FROM prekeys WHERE kind = ?1 AND id = ?2")                     \
    X(PREKEY_EXPIRE, "DELETE FROM prekeys WHERE kind = ?1 AND replaced_at <> 0 AND "     \
                     "replaced_at <= ?2")                                                \
    X(PREKEY_COUNT, "SELECT count(*) FROM prekeys WHERE kind = 0")                       \
    X(BASEKEY_ADD,                                                                       \
      "INSERT INTO base_keys(base_key, signed_prekey_id, added_at) VALUES(?1, ?2, ?3)")  \
    X(BASEKEY_HAS, "SELECT 1 FROM base_keys WHERE base_key = ?1")                        \
    X(SESSION_PUT, "INSERT OR REPLACE INTO sessions(username, device_id, slot, state, "  \
                   "updated_at) VALUES(?1, ?2, ?3, ?4, ?5)")                             \
    X(SESSION_GET, "SELECT state FROM sessions WHERE username = ?1 AND device_id = ?2 "  \
                   "AND slot = ?3")                                                      \
    X(SESSION_HAS, "SELECT 1 FROM sessions WHERE username = ?1 AND device_id = ?2 AND "  \
                   "slot = ?3")                                                          \
    X(SESSION_DEL, "DELETE FROM sessions WHERE username = ?1 AND device_id = ?2 AND "    \
                   "slot = ?3")                                                          \
    X(SESSIONS_DEL_USER, "DELETE FROM sessions WHERE username = ?1")                     \
    X(SESSIONS_DEL_DEVICE,                                                               \
      "DELETE FROM sessions WHERE username = ?1 AND device_id = ?2")                     \
    X(DEVICE_PUT, "INSERT OR REPLACE INTO devices(" VCS_DEVICE_COLS                      \
                  ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)")                                \
    X(DEVICE_GET,                                                                        \
      "SELECT " VCS_DEVICE_COLS " FROM devices WHERE username = ?1 AND device_id = ?2")  \
    X(DEVICE_LIST,                                                                       \
      "SELECT " VCS_DEVICE_COLS " FROM devices WHERE username = ?1 ORDER BY device_id")  \
    X(CONTACTS, "SELECT DISTINCT username FROM devices ORDER BY username")               \
    X(HISTORY_ADD, "INSERT INTO history(peer, group_id, sender, sender_device, "         \
                   "message_id, outgoing, status, sent_at_ms, server_ms, text) "         \
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                    \
    X(HISTORY_STATUS,                                                                    \
      "UPDATE history SET status = ?3 WHERE sender = ?1 AND message_id = ?2")            \
    X(HISTORY_GET, "SELECT " VCS_HISTORY_COLS " FROM history WHERE sender = ?1 AND "     \
                   "message_id = ?2")                                                    \
    X(HISTORY_ALL, "SELECT " VCS_HISTORY_COLS " FROM history WHERE id > ?1 "             \
                   "ORDER BY id LIMIT ?2")                                               \
    X(HISTORY_PEER, "SELECT " VCS_HISTORY_COLS " FROM history WHERE peer = ?3 AND "      \
                    "group_id IS NULL AND id > ?1 ORDER BY id LIMIT ?2")                 \
    X(HISTORY_GROUP, "SELECT " VCS_HISTORY_COLS " FROM history WHERE group_id = ?3 "     \
                     "AND id > ?1 ORDER BY id LIMIT ?2")                                 \
    X(PROCESSED_ADD, "INSERT INTO processed(sender, message_id, at) VALUES(?1, ?2, ?3)") \
    X(PROCESSED_HAS, "SELECT 1 FROM processed WHERE sender = ?1 AND message_id = ?2")    \
    X(PROCESSED_EXPIRE, "DELETE FROM processed WHERE at < ?1")                           \
    X(OUTBOX_ADD, "INSERT INTO outbox(" VCS_OUTBOX_COLS                                  \
                  ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                   \
    X(OUTBOX_UPDATE, "UPDATE outbox SET recipient = ?2, group_id = ?3, ephemeral = ?4, " \
                     "state = ?5, first_attempt_ms = ?6, next_attempt_ms = ?7, "         \
                     "attempts = ?8, stale_retried = ?9 WHERE message_id = ?1")          \
    X(OUTBOX_DEL, "DELETE FROM outbox WHERE message_id = ?1")                            \
    X(OUTBOX_GET, "SELECT " VCS_OUTBOX_COLS " FROM outbox WHERE message_id = ?1")        \
    X(OUTBOX_EACH, "SELECT " VCS_OUTBOX_COLS " FROM outbox ORDER BY seq")                \
    X(GROUP_PUT, "INSERT OR REPLACE INTO groups(group_id, name) VALUES(?1, ?2)")         \
    X(GROUP_GET, "SELECT name FROM groups WHERE group_id = ?1")                          \
    X(GROUP_DEL, "DELETE FROM groups WHERE group_id = ?1")                               \
    X(GROUP_MEMBER_ADD, "INSERT OR IGNORE INTO group_members(group_id, role, pos, "      \
                        "username) VALUES(?1, ?2, ?3, ?4)")                              \
    X(GROUP_MEMBERS, "SELECT username FROM group_members WHERE group_id = ?1 AND role "  \
                     "= ?2 ORDER BY pos")                                                \
    X(GROUP_MEMBERS_CLEAR, "DELETE FROM group_members WHERE group_id = ?1")

#define VCS_ENUM(name, sql) VCS_##name,
enum vcs_stmt { VCS_STATEMENTS(VCS_ENUM) VCS_N_STMT };
#undef VCS_ENUM

struct vc_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[VCS_N_STMT]; /* NULL until first use */
    int depth;                      /* open begin()s (savepoints) */
    int version;                    /* user_version after migrations */
};

/* The vt_err for an sqlite3 result code (extended codes are on). */
vt_err vcs_err(int rc);

/* The statement |id|, ready to bind: the cached one, or a fresh one when
 * the cached one is still running (a callback of an each function calling
 * back into the store). Give it back with vcs_release. */
__attribute__((warn_unused_result)) vt_err vcs_acquire(vc_store *s, enum vcs_stmt id,
                                                       sqlite3_stmt **out);
/* Resets |st| and clears its bindings (the caller's buffers, bound
 * SQLITE_STATIC, are not referenced afterwards); finalizes a fresh one.
 * Accepts NULL. */
void vcs_release(vc_store *s, enum vcs_stmt id, sqlite3_stmt *st);

/* Runs |st| to completion (a statement returning no rows) and releases
 * it. The vt_err of the step. */
__attribute__((warn_unused_result)) vt_err vcs_run(vc_store *s, enum vcs_stmt id,
                                                   sqlite3_stmt *st);

#endif
