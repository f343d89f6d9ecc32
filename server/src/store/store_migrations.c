/* The SQLite store's schema and its migrations: an ordered list of steps,
 * step i taking PRAGMA user_version from i to i + 1, each in its own
 * transaction. Holds the state of spec/auth.md and spec/delivery.md. */
#include "store_int.h"

#include <stdio.h>

/* Version 1, the initial schema. Every table is STRICT so that a value of
 * the wrong type is an error rather than a silent conversion.
 *
 * accounts.id is AUTOINCREMENT so that an id is never reused (AUTH-52,
 * AUTH-93); next_device_id is the next id AddDevice hands out (AUTH-3).
 * devices.next_seq is the next seq of the device's queue and queue_len its
 * depth, both kept in the row so that seqs are never reused (DELIV-40) and
 * the depth check of DELIV-60 costs one row read. Everything a device or
 * an account holds hangs off it with ON DELETE CASCADE (AUTH-86, AUTH-91,
 * DELIV-70, DELIV-72); queue.sender is a plain name, so messages an
 * account sent survive its deletion (DELIV-71). */
static const char schema_v1[] =
    "CREATE TABLE accounts ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " username TEXT NOT NULL UNIQUE,"
    " created_at INTEGER NOT NULL,"
    " next_device_id INTEGER NOT NULL"
    ") STRICT;"

    "CREATE TABLE devices ("
    " account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    " device_id INTEGER NOT NULL,"
    " identity_key BLOB NOT NULL CHECK (length(identity_key) = 32),"
    " name TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " active INTEGER NOT NULL CHECK (active IN (0, 1)),"
    " next_seq INTEGER NOT NULL,"
    " queue_len INTEGER NOT NULL CHECK (queue_len >= 0),"
    " PRIMARY KEY (account_id, device_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX devices_pending ON devices(expires_at) WHERE active = 0;"

    "CREATE TABLE tokens ("
    " jti BLOB PRIMARY KEY CHECK (length(jti) = 16),"
    " account_id INTEGER NOT NULL,"
    " device_id INTEGER NOT NULL,"
    " exp INTEGER NOT NULL,"
    " FOREIGN KEY (account_id, device_id)"
    "  REFERENCES devices(account_id, device_id) ON DELETE CASCADE"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX tokens_by_device ON tokens(account_id, device_id);"
    "CREATE INDEX tokens_by_exp ON tokens(exp);"

    "CREATE TABLE signed_prekeys ("
    " account_id INTEGER NOT NULL,"
    " device_id INTEGER NOT NULL,"
    " last_resort INTEGER NOT NULL CHECK (last_resort IN (0, 1)),"
    " id INTEGER NOT NULL,"
    " public_key BLOB NOT NULL CHECK (length(public_key) = 32),"
    " signature BLOB NOT NULL CHECK (length(signature) = 64),"
    " PRIMARY KEY (account_id, device_id, last_resort),"
    " FOREIGN KEY (account_id, device_id)"
    "  REFERENCES devices(account_id, device_id) ON DELETE CASCADE"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE one_time_prekeys ("
    " account_id INTEGER NOT NULL,"
    " device_id INTEGER NOT NULL,"
    " id INTEGER NOT NULL,"
    " public_key BLOB NOT NULL CHECK (length(public_key) = 32),"
    " PRIMARY KEY (account_id, device_id, id),"
    " FOREIGN KEY (account_id, device_id)"
    "  REFERENCES devices(account_id, device_id) ON DELETE CASCADE"
    ") STRICT, WITHOUT ROWID;"

    /* A rowid table: rows carry up to MAX_CONTENT_SIZE bytes of content,
     * too large for WITHOUT ROWID; the primary key's index makes read by
     * seq and delete index seeks. */
    "CREATE TABLE queue ("
    " account_id INTEGER NOT NULL,"
    " device_id INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " sender TEXT NOT NULL,"
    " sender_device INTEGER NOT NULL,"
    " message_id BLOB NOT NULL CHECK (length(message_id) = 16),"
    " type INTEGER NOT NULL,"
    " content BLOB NOT NULL,"
    " server_time_ms INTEGER NOT NULL,"
    " group_id BLOB CHECK (group_id IS NULL OR length(group_id) = 16),"
    " recipient TEXT NOT NULL,"
    " PRIMARY KEY (account_id, device_id, seq),"
    " FOREIGN KEY (account_id, device_id)"
    "  REFERENCES devices(account_id, device_id) ON DELETE CASCADE"
    ") STRICT;"
    "CREATE INDEX queue_by_time ON queue(server_time_ms);"

    "CREATE TABLE dedup ("
    " account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    " message_id BLOB NOT NULL CHECK (length(message_id) = 16),"
    " recipient TEXT NOT NULL,"
    " group_id BLOB CHECK (group_id IS NULL OR length(group_id) = 16),"
    " ephemeral INTEGER NOT NULL CHECK (ephemeral IN (0, 1)),"
    " accepted_ms INTEGER NOT NULL,"
    " PRIMARY KEY (account_id, message_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX dedup_by_time ON dedup(accepted_ms);"

    "CREATE TABLE groups ("
    " group_id BLOB PRIMARY KEY CHECK (length(group_id) = 16),"
    " revision INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE group_members ("
    " group_id BLOB NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,"
    " account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    " admin INTEGER NOT NULL CHECK (admin IN (0, 1)),"
    " PRIMARY KEY (group_id, account_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX group_members_by_account ON group_members(account_id, group_id);";

/* Version 2: one-time prekeys remember the order they were uploaded in, so
 * that FetchBundles hands out the earliest (CRYPTO-36) rather than the
 * lowest id. Keys stored before keep their id as their order, the best
 * that version 1 knew. */
static const char schema_v2[] =
    "ALTER TABLE one_time_prekeys ADD COLUMN upload_order INTEGER NOT NULL DEFAULT 0;"
    "UPDATE one_time_prekeys SET upload_order = id;"
    "CREATE INDEX one_time_prekeys_by_upload"
    " ON one_time_prekeys(account_id, device_id, upload_order);";

/* migrations[i] takes the database from version i to i + 1. Append only:
 * a released step is never edited, a change is a new step. A step that
 * has to rebuild a table with foreign keys must say so here, since PRAGMA
 * foreign_keys cannot change inside its transaction. */
static const char *const migrations[] = {
    schema_v1,
    schema_v2,
};

#define MIGRATIONS_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

int vtd_store_schema_newest(void)
{
    return MIGRATIONS_COUNT;
}

vt_err vtd_store_query_value(sqlite3 *db, const char *sql, sqlite3_value **value)
{
    sqlite3_stmt *s = NULL;
    sqlite3_value *v = NULL;
    vt_err err = VT_ERR_IO;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    /* A copy: the column's value ends with the step that follows. */
    v = sqlite3_value_dup(sqlite3_column_value(s, 0));
    if (v == NULL || sqlite3_step(s) != SQLITE_DONE)
        goto out;
    *value = v;
    v = NULL;
    err = VT_OK;
out:
    sqlite3_value_free(v);
    /* Errors were reported by prepare or step; finalize only repeats them. */
    (void)sqlite3_finalize(s);
    return err;
}

vt_err vtd_store_user_version(sqlite3 *db, int *version)
{
    sqlite3_value *v = NULL;
    vt_err err = vtd_store_query_value(db, "PRAGMA user_version", &v);

    if (err == VT_OK)
        *version = sqlite3_value_int(v);
    sqlite3_value_free(v);
    return err;
}

/* Runs one step from inside its transaction: the schema change and the new
 * user_version commit together or not at all. */
static vt_err apply(sqlite3 *db, int step)
{
    char pragma[48];
    int len;

    if (sqlite3_exec(db, migrations[step], NULL, NULL, NULL) != SQLITE_OK)
        return VT_ERR_IO;
    len = snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", step + 1);
    if (len < 0 || (size_t)len >= sizeof(pragma))
        return VT_ERR_IO;
    if (sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK)
        return VT_ERR_IO;
    return VT_OK;
}

vt_err vtd_store_migrate(sqlite3 *db, int *version)
{
    vt_err err;
    int v = 0;

    for (;;) {
        /* The version is read again under the write lock, so two processes
         * opening one fresh database cannot both apply a step. */
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            return VT_ERR_IO;
        err = vtd_store_user_version(db, &v);
        if (err == VT_OK && v > MIGRATIONS_COUNT)
            err = VT_ERR_CONFIG;
        if (err != VT_OK || v == MIGRATIONS_COUNT)
            break;
        if (v < 0) {
            err = VT_ERR_IO;
            break;
        }
        err = apply(db, v);
        if (err != VT_OK)
            break;
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            err = VT_ERR_IO;
            break;
        }
    }
    /* Ends the transaction the loop broke out of (nothing to keep in it)
     * or the one a failed COMMIT left open; a transaction still open after
     * that would block every later write. */
    if (!sqlite3_get_autocommit(db) &&
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK &&
        !sqlite3_get_autocommit(db) && err == VT_OK)
        err = VT_ERR_IO;
    if (err == VT_OK)
        *version = v;
    return err;
}
