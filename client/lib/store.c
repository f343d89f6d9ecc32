/* The client store's SQLCipher database: opening and keying, the schema and
 * its migrations, transactions (savepoints) and the statement cache. Keeps the
 * device state of spec/crypto.md sections 4 and 7 and spec/delivery.md 8.2. */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, O_NOFOLLOW */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "store_int.h"

#define VCS_SQL(name, sql) sql,
static const char *const stmt_sql[VCS_N_STMT] = {VCS_STATEMENTS(VCS_SQL)};
#undef VCS_SQL

/* The schema, one step per version: migrations[i] takes user_version i to
 * i + 1. Append only; a released step is never edited. */
static const char *const migrations[] = {
    /* v1 */
    "CREATE TABLE settings(name TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE identity(id INTEGER PRIMARY KEY CHECK(id = 1), seed BLOB NOT NULL);"
    "CREATE TABLE prekeys(kind INTEGER NOT NULL, id INTEGER NOT NULL,"
    " pub BLOB NOT NULL, priv BLOB NOT NULL, signature BLOB NOT NULL,"
    " created_at INTEGER NOT NULL, replaced_at INTEGER NOT NULL,"
    " PRIMARY KEY(kind, id));"
    "CREATE TABLE base_keys(base_key BLOB PRIMARY KEY,"
    " signed_prekey_id INTEGER NOT NULL, added_at INTEGER NOT NULL);"
    /* CRYPTO-24/CRYPTO-76: a base-key record lives as long as its signed
     * prekey's private key. */
    "CREATE TRIGGER signed_prekey_gone AFTER DELETE ON prekeys WHEN old.kind = 1"
    " BEGIN DELETE FROM base_keys WHERE signed_prekey_id = old.id; END;"
    "CREATE TABLE sessions(username TEXT NOT NULL, device_id INTEGER NOT NULL,"
    " slot INTEGER NOT NULL CHECK(slot IN (0, 1)), state BLOB NOT NULL,"
    " updated_at INTEGER NOT NULL, PRIMARY KEY(username, device_id, slot));"
    "CREATE TABLE devices(username TEXT NOT NULL, device_id INTEGER NOT NULL,"
    " identity_key BLOB NOT NULL, pending_key BLOB NOT NULL, trust INTEGER NOT NULL,"
    " active INTEGER NOT NULL, first_seen INTEGER NOT NULL,"
    " PRIMARY KEY(username, device_id));"
    "CREATE TABLE history(id INTEGER PRIMARY KEY AUTOINCREMENT, peer TEXT NOT NULL,"
    " group_id BLOB, sender TEXT NOT NULL, sender_device INTEGER NOT NULL,"
    " message_id BLOB NOT NULL, outgoing INTEGER NOT NULL, status TEXT NOT NULL,"
    " sent_at_ms INTEGER NOT NULL, server_ms INTEGER NOT NULL, text BLOB NOT NULL,"
    " UNIQUE(sender, message_id));"
    "CREATE INDEX history_peer ON history(peer, id);"
    "CREATE INDEX history_group ON history(group_id, id);"
    "CREATE TABLE processed(sender TEXT NOT NULL, message_id BLOB NOT NULL,"
    " at INTEGER NOT NULL, PRIMARY KEY(sender, message_id));"
    "CREATE INDEX processed_at ON processed(at);"
    "CREATE TABLE outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " message_id BLOB NOT NULL UNIQUE, recipient TEXT NOT NULL, group_id BLOB,"
    " ephemeral INTEGER NOT NULL, state TEXT NOT NULL,"
    " first_attempt_ms INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, stale_retried INTEGER NOT NULL,"
    " content BLOB NOT NULL);"
    "CREATE TABLE groups(group_id BLOB PRIMARY KEY, name TEXT NOT NULL);"
    "CREATE TABLE group_members(group_id BLOB NOT NULL, role INTEGER NOT NULL,"
    " pos INTEGER NOT NULL, username TEXT NOT NULL,"
    " PRIMARY KEY(group_id, role, username));",
};
#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

vt_err vcs_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return VT_OK;
    case SQLITE_NOMEM:
        return VT_ERR_NO_MEMORY;
    case SQLITE_TOOBIG:
        return VT_ERR_TOO_LARGE;
    case SQLITE_NOTADB:
        return VT_ERR_BAD_PASSPHRASE;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
            return VT_ERR_ALREADY_EXISTS;
        return VT_ERR_INVALID_ARGUMENT;
    default:
        return VT_ERR_IO;
    }
}

vt_err vcs_acquire(vc_store *s, enum vcs_stmt id, sqlite3_stmt **out)
{
    sqlite3_stmt *st = s->stmt[id];
    int rc;

    if (st != NULL && !sqlite3_stmt_busy(st)) {
        *out = st;
        return VT_OK;
    }
    rc = sqlite3_prepare_v2(s->db, stmt_sql[id], -1, &st, NULL);
    if (rc != SQLITE_OK)
        return vcs_err(rc);
    if (s->stmt[id] == NULL)
        s->stmt[id] = st;
    *out = st;
    return VT_OK;
}

void vcs_release(vc_store *s, enum vcs_stmt id, sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (st != s->stmt[id])
        sqlite3_finalize(st);
}

vt_err vcs_run(vc_store *s, enum vcs_stmt id, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    vt_err err = rc == SQLITE_DONE ? VT_OK : vcs_err(rc);

    if (err == VT_OK && rc != SQLITE_DONE)
        err = VT_ERR_INTERNAL; /* a row from a statement meant to return none */
    vcs_release(s, id, st);
    return err;
}

static vt_err exec(sqlite3 *db, const char *sql)
{
    return vcs_err(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

/* One integer from a single-row query (a PRAGMA or a count). */
static vt_err query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    vt_err err;
    int rc;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        err = vcs_err(rc);
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        err = rc == SQLITE_DONE ? VT_ERR_IO : vcs_err(rc);
        goto out;
    }
    *out = sqlite3_column_int64(st, 0);
    err = VT_OK;
out:
    sqlite3_finalize(st);
    return err;
}

/* SQLCipher accepts any key at open and fails at the first page read: read
 * the schema now, before anything could write (the file stays as it was). */
static vt_err check_key(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    vt_err err;
    int rc;

    rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    switch (rc & 0xff) {
    case SQLITE_ROW:
        err = VT_OK;
        break;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        /* Another key, a plain SQLite file or no database at all. */
        err = VT_ERR_BAD_PASSPHRASE;
        break;
    default:
        err = vcs_err(rc);
        if (err == VT_OK)
            err = VT_ERR_IO;
        break;
    }
    sqlite3_finalize(st);
    return err;
}

static vt_err configure(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    const char *mode;
    vt_err err;
    int rc;

    /* Wipes SQLCipher's allocations on free; SQLCipher 3.4.1 does not know
     * the pragma (unknown pragmas are no-ops), 4.x does. */
    err = exec(db, "PRAGMA cipher_memory_security = ON");
    if (err != VT_OK)
        goto out;
    /* Deleted sessions and keys are zeroed, not left in free pages. */
    err = exec(db, "PRAGMA secure_delete = ON");
    if (err != VT_OK)
        goto out;
    /* Sorts and temporary tables never reach an unencrypted temp file. */
    err = exec(db, "PRAGMA temp_store = MEMORY");
    if (err != VT_OK)
        goto out;
    /* DELIV-91: a commit is on disk before the message is acknowledged. */
    err = exec(db, "PRAGMA synchronous = FULL");
    if (err != VT_OK)
        goto out;
    /* A rollback journal, not WAL: one connection needs no concurrent
     * readers, and WAL would keep old page images (of deleted sessions and
     * prekeys) in the -wal file until a checkpoint; with DELETE nothing
     * remains beside the database once a transaction ends. */
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = DELETE", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        err = vcs_err(rc);
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        err = vcs_err(rc);
        if (err == VT_OK)
            err = VT_ERR_IO;
        goto out;
    }
    mode = (const char *)sqlite3_column_text(st, 0);
    if (mode == NULL || strcmp(mode, "delete") != 0) {
        err = VT_ERR_IO;
        goto out;
    }
    err = VT_OK;
out:
    sqlite3_finalize(st);
    return err;
}

static vt_err migrate(vc_store *s)
{
    int64_t version = 0;
    char sql[48];
    vt_err err;

    err = query_int(s->db, "PRAGMA user_version", &version);
    if (err != VT_OK)
        return err;
    if (version < 0 || version > N_MIGRATIONS)
        return VT_ERR_CONFIG; /* written by a newer build */
    for (; version < N_MIGRATIONS; version++) {
        err = vc_store_begin(s);
        if (err != VT_OK)
            return err;
        err = exec(s->db, migrations[version]);
        if (err == VT_OK) {
            snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", (int)version + 1);
            err = exec(s->db, sql);
        }
        if (err != VT_OK) {
            vc_store_rollback(s);
            return err;
        }
        err = vc_store_commit(s);
        if (err != VT_OK)
            return err;
    }
    s->version = (int)version;
    return VT_OK;
}

/* Creates the file 0600 when absent (SQLite would create it 0644 less the
 * umask; its journals copy the database file's mode). */
static vt_err create_private(const char *path, bool *created)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    *created = false;
    if (fd < 0)
        return errno == EEXIST ? VT_OK : VT_ERR_IO;
    *created = true;
    if (close(fd) != 0)
        return VT_ERR_IO;
    return VT_OK;
}

vt_err vc_store_open(vc_store **out, const char *path, const void *key, size_t key_len)
{
    vc_store *s = NULL;
    bool created = false;
    vt_err err;
    int rc;

    /* A zero-length key makes SQLCipher skip encryption altogether. */
    if (out == NULL || path == NULL || key == NULL || key_len == 0 ||
        key_len > INT32_MAX) {
        err = VT_ERR_INVALID_ARGUMENT;
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        err = VT_ERR_NO_MEMORY;
        goto out;
    }
    err = create_private(path, &created);
    if (err != VT_OK)
        goto out;
    rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK) {
        err = rc == SQLITE_NOMEM ? VT_ERR_NO_MEMORY : VT_ERR_IO;
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    rc = sqlite3_key(s->db, key, (int)key_len);
    if (rc != SQLITE_OK) {
        err = vcs_err(rc);
        goto out;
    }
    err = check_key(s->db);
    if (err != VT_OK)
        goto out;
    err = configure(s->db);
    if (err != VT_OK)
        goto out;
    err = migrate(s);
    if (err != VT_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    if (s != NULL) {
        vc_store_close(s);
        if (created)
            unlink(path);
    }
    return err;
}

void vc_store_close(vc_store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < VCS_N_STMT; i++)
        sqlite3_finalize(s->stmt[i]);
    /* An open transaction is rolled back by the close. */
    sqlite3_close_v2(s->db);
    sodium_memzero(s, sizeof(*s));
    free(s);
}

int vc_store_schema_version(const vc_store *s)
{
    return s->version;
}

/* Every level is a savepoint of the same name: RELEASE and ROLLBACK TO act
 * on the innermost one, and the outermost SAVEPOINT is the transaction. */
vt_err vc_store_begin(vc_store *s)
{
    vt_err err = exec(s->db, "SAVEPOINT vc");

    if (err == VT_OK)
        s->depth++;
    return err;
}

vt_err vc_store_commit(vc_store *s)
{
    vt_err err;

    if (s->depth == 0)
        return VT_ERR_STATE;
    err = exec(s->db, "RELEASE vc");
    if (err != VT_OK) {
        /* Nothing since the matching begin is kept; the level is closed. */
        vc_store_rollback(s);
        return err;
    }
    s->depth--;
    return VT_OK;
}

void vc_store_rollback(vc_store *s)
{
    if (s->depth == 0)
        return;
    s->depth--;
    /* SQLite may have rolled back the whole transaction already (an I/O
     * error, a full disk): then there is no savepoint left to undo. */
    if (sqlite3_get_autocommit(s->db)) {
        s->depth = 0;
        return;
    }
    (void)exec(s->db, "ROLLBACK TO vc");
    (void)exec(s->db, "RELEASE vc");
}
