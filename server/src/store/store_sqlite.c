/* The SQLite backend of ventrad's store (store.h): one database file in WAL
 * mode with a flush on every commit, one transaction per batch, one
 * savepoint per operation, and every statement prepared once at open.
 * Implements spec/delivery.md DELIV-2, DELIV-3, DELIV-40, DELIV-50,
 * DELIV-51 and DELIV-70 to DELIV-72, and spec/auth.md AUTH-3, AUTH-52,
 * AUTH-86, AUTH-91 and AUTH-93. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store_int.h"

#define DB_FILE "ventra.db"

/* How long a write waits for another connection's lock (an operator's
 * sqlite3 shell, a backup) before it fails with VT_ERR_IO. */
#define BUSY_TIMEOUT_MS 5000

/* Every statement the store runs, prepared once in vtd_store_open. The
 * unary + in front of a time column keeps the planner on the primary key
 * when a time index would also match; without statistics it would scan
 * the whole queue for expiry, hence the INDEXED BY. */
#define STATEMENTS(X)                                                                    \
    X(S_BEGIN, "BEGIN IMMEDIATE")                                                        \
    X(S_COMMIT, "COMMIT")                                                                \
    X(S_ROLLBACK, "ROLLBACK")                                                            \
    X(S_SAVEPOINT, "SAVEPOINT op")                                                       \
    X(S_RELEASE, "RELEASE op")                                                           \
    X(S_ROLLBACK_TO, "ROLLBACK TO op")                                                   \
    X(S_ACCOUNT_FIND, "SELECT id FROM accounts WHERE username = ?1")                     \
    X(S_ACCOUNT_NAME, "SELECT username FROM accounts WHERE id = ?1")                     \
    X(S_ACCOUNT_INSERT, "INSERT INTO accounts (username, created_at, next_device_id)"    \
                        " VALUES (?1, ?2, 2) RETURNING id")                              \
    X(S_ACCOUNT_DELETE, "DELETE FROM accounts WHERE id = ?1")                            \
    X(S_DEVICE_INSERT,                                                                   \
      "INSERT INTO devices (account_id, device_id, identity_key, name, created_at,"      \
      " expires_at, active, next_seq, queue_len)"                                        \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, 0)")                                      \
    X(S_DEVICE_GET,                                                                      \
      "SELECT device_id, identity_key, name, created_at, expires_at, active"             \
      " FROM devices WHERE account_id = ?1 AND device_id = ?2")                          \
    X(S_DEVICES_LIST,                                                                    \
      "SELECT device_id, identity_key, name, created_at, expires_at, active"             \
      " FROM devices WHERE account_id = ?1"                                              \
      " AND (active = 1 OR (?2 AND expires_at > ?3)) ORDER BY device_id")                \
    X(S_NEXT_DEVICE, "SELECT next_device_id FROM accounts WHERE id = ?1")                \
    X(S_BUMP_DEVICE, "UPDATE accounts SET next_device_id = next_device_id + 1"           \
                     " WHERE id = ?1")                                                   \
    X(S_DEVICE_ACTIVATE, "UPDATE devices SET active = 1, expires_at = 0"                 \
                         " WHERE account_id = ?1 AND device_id = ?2")                    \
    X(S_DEVICE_REMOVE, "DELETE FROM devices WHERE account_id = ?1 AND device_id = ?2")   \
    X(S_DEVICES_EXPIRE, "DELETE FROM devices WHERE active = 0 AND expires_at <= ?1")     \
    X(S_TOKEN_ADD, "INSERT OR REPLACE INTO tokens (jti, account_id, device_id, exp)"     \
                   " VALUES (?1, ?2, ?3, ?4)")                                           \
    X(S_TOKEN_VALID, "SELECT 1 FROM tokens"                                              \
                     " WHERE jti = ?1 AND account_id = ?2 AND device_id = ?3")           \
    X(S_TOKENS_EXPIRE, "DELETE FROM tokens WHERE exp <= ?1")                             \
    X(S_SPK_SET, "INSERT INTO signed_prekeys"                                            \
                 " (account_id, device_id, last_resort, id, public_key, signature)"      \
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"                                      \
                 " ON CONFLICT (account_id, device_id, last_resort) DO UPDATE SET"       \
                 " id = excluded.id, public_key = excluded.public_key,"                  \
                 " signature = excluded.signature")                                      \
    X(S_SPK_GET, "SELECT id, public_key, signature FROM signed_prekeys"                  \
                 " WHERE account_id = ?1 AND device_id = ?2 AND last_resort = ?3")       \
    X(S_OTK_GET, "SELECT public_key FROM one_time_prekeys"                               \
                 " WHERE account_id = ?1 AND device_id = ?2 AND id = ?3")                \
    X(S_OTK_ADD,                                                                         \
      "INSERT INTO one_time_prekeys (account_id, device_id, id, public_key,"             \
      " upload_order) VALUES (?1, ?2, ?3, ?4, (SELECT coalesce(max(upload_order), 0)"    \
      " + 1 FROM one_time_prekeys WHERE account_id = ?1 AND device_id = ?2))"            \
      " ON CONFLICT (account_id, device_id, id) DO NOTHING")                             \
    X(S_OTK_COUNT, "SELECT count(*) FROM one_time_prekeys"                               \
                   " WHERE account_id = ?1 AND device_id = ?2")                          \
    X(S_OTK_TAKE,                                                                        \
      "DELETE FROM one_time_prekeys WHERE account_id = ?1 AND device_id = ?2"            \
      " AND id = (SELECT id FROM one_time_prekeys WHERE account_id = ?1"                 \
      " AND device_id = ?2 ORDER BY upload_order LIMIT 1) RETURNING id, public_key")     \
    X(S_QUEUE_DEPTH, "SELECT queue_len FROM devices"                                     \
                     " WHERE account_id = ?1 AND device_id = ?2")                        \
    X(S_QUEUE_BUMP,                                                                      \
      "UPDATE devices SET next_seq = next_seq + 1, queue_len = queue_len + 1"            \
      " WHERE account_id = ?1 AND device_id = ?2 RETURNING next_seq - 1")                \
    X(S_QUEUE_INSERT,                                                                    \
      "INSERT INTO queue (account_id, device_id, seq, sender, sender_device,"            \
      " message_id, type, content, server_time_ms, group_id, recipient)"                 \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")                          \
    X(S_QUEUE_LAST, "SELECT max(seq) FROM queue"                                         \
                    " WHERE account_id = ?1 AND device_id = ?2")                         \
    X(S_QUEUE_READ,                                                                      \
      "SELECT seq, sender, sender_device, message_id, type, content, server_time_ms,"    \
      " group_id, recipient FROM queue"                                                  \
      " WHERE account_id = ?1 AND device_id = ?2 AND seq > ?3"                           \
      " AND +server_time_ms >= ?4 ORDER BY seq LIMIT ?5")                                \
    X(S_QUEUE_DELETE, "DELETE FROM queue"                                                \
                      " WHERE account_id = ?1 AND device_id = ?2 AND seq = ?3")          \
    X(S_QUEUE_SHRINK, "UPDATE devices SET queue_len = queue_len - ?3"                    \
                      " WHERE account_id = ?1 AND device_id = ?2")                       \
    X(S_QUEUE_EXPIRE_COUNT,                                                              \
      "UPDATE devices SET queue_len = queue_len - x.n FROM"                              \
      " (SELECT account_id, device_id, count(*) AS n"                                    \
      "  FROM queue INDEXED BY queue_by_time"                                            \
      "  WHERE server_time_ms < ?1 GROUP BY account_id, device_id) AS x"                 \
      " WHERE devices.account_id = x.account_id AND devices.device_id = x.device_id")    \
    X(S_QUEUE_EXPIRE, "DELETE FROM queue WHERE server_time_ms < ?1")                     \
    X(S_QUEUE_TOTAL, "SELECT coalesce(sum(queue_len), 0) FROM devices")                  \
    X(S_DEDUP_GET, "SELECT recipient, group_id, ephemeral, accepted_ms FROM dedup"       \
                   " WHERE account_id = ?1 AND message_id = ?2 AND +accepted_ms >= ?3")  \
    X(S_DEDUP_PUT,                                                                       \
      "INSERT INTO dedup"                                                                \
      " (account_id, message_id, recipient, group_id, ephemeral, accepted_ms)"           \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (account_id, message_id)"            \
      " DO UPDATE SET recipient = excluded.recipient, group_id = excluded.group_id,"     \
      " ephemeral = excluded.ephemeral, accepted_ms = excluded.accepted_ms")             \
    X(S_DEDUP_EXPIRE, "DELETE FROM dedup WHERE accepted_ms < ?1")                        \
    X(S_GROUP_CREATE, "INSERT INTO groups (group_id, revision) VALUES (?1, ?2)"          \
                      " ON CONFLICT (group_id) DO NOTHING")                              \
    X(S_GROUP_REVISION, "SELECT revision FROM groups WHERE group_id = ?1")               \
    X(S_GROUP_MEMBERS,                                                                   \
      "SELECT m.account_id, a.username, m.admin FROM group_members AS m"                 \
      " JOIN accounts AS a ON a.id = m.account_id WHERE m.group_id = ?1"                 \
      " ORDER BY a.username COLLATE BINARY")                                             \
    X(S_MEMBER_STATE,                                                                    \
      "SELECT (SELECT count(*) FROM groups WHERE group_id = ?1),"                        \
      " (SELECT count(*) FROM accounts WHERE id = ?2),"                                  \
      " (SELECT count(*) FROM group_members WHERE group_id = ?1),"                       \
      " (SELECT count(*) FROM group_members WHERE group_id = ?1 AND account_id = ?2)")   \
    X(S_MEMBER_PUT,                                                                      \
      "INSERT INTO group_members (group_id, account_id, admin) VALUES (?1, ?2, ?3)"      \
      " ON CONFLICT (group_id, account_id) DO UPDATE SET admin = excluded.admin")        \
    X(S_MEMBER_REMOVE, "DELETE FROM group_members"                                       \
                       " WHERE group_id = ?1 AND account_id = ?2")                       \
    X(S_GROUP_SET_REVISION, "UPDATE groups SET revision = ?2 WHERE group_id = ?1")       \
    X(S_GROUP_DELETE, "DELETE FROM groups WHERE group_id = ?1")                          \
    X(S_GROUPS_OF, "SELECT group_id FROM group_members WHERE account_id = ?1"            \
                   " ORDER BY group_id")                                                 \
    X(S_GROUP_COUNT_OF, "SELECT count(*) FROM group_members WHERE account_id = ?1")

#define STMT_ENUM(name, sql) name,
#define STMT_SQL(name, sql) sql,

enum stmt_id { STATEMENTS(STMT_ENUM) S_COUNT };

static const char *const stmt_sql[S_COUNT] = {STATEMENTS(STMT_SQL)};

struct vtd_store {
    sqlite3 *db;
    int version;
    bool in_batch; /* BEGIN IMMEDIATE ran, no COMMIT or ROLLBACK yet */
    bool in_op;    /* the savepoint of an operation is open */
    bool broken;   /* the batch failed: it can only be rolled back (flush) */
    bool reading;  /* inside vtd_store_queue_read's callbacks */
    size_t ops;    /* operations kept in the batch */
    sqlite3_stmt *stmt[S_COUNT];
};

/* Evaluates |expr|, a vt_err, and leaves through out: on failure. */
#define TRY(expr)                                                                        \
    do {                                                                                 \
        err = (expr);                                                                    \
        if (err != VT_OK)                                                                \
            goto out;                                                                    \
    } while (0)

/* ---- Statement helpers ------------------------------------------------ */

/* Readies |s| for its next use. sqlite3_reset only repeats the error the
 * last sqlite3_step already returned (and was handled), and
 * sqlite3_clear_bindings cannot fail. */
static void done(sqlite3_stmt *s)
{
    (void)sqlite3_reset(s);
    (void)sqlite3_clear_bindings(s);
}

static vt_err bind_rc(int rc)
{
    if (rc == SQLITE_OK)
        return VT_OK;
    return rc == SQLITE_TOOBIG ? VT_ERR_INVALID_ARGUMENT : VT_ERR_IO;
}

static vt_err bind_i64(sqlite3_stmt *s, int i, int64_t v)
{
    return bind_rc(sqlite3_bind_int64(s, i, v));
}

/* SQLite integers are signed 64-bit: a larger value cannot be stored or
 * compared correctly, so it is an out-of-range argument. */
static vt_err bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
    if (v > (uint64_t)INT64_MAX)
        return VT_ERR_INVALID_ARGUMENT;
    return bind_i64(s, i, (int64_t)v);
}

static vt_err bind_blob(sqlite3_stmt *s, int i, const void *p, size_t len)
{
    static const uint8_t empty[1];

    /* A NULL pointer would bind SQL NULL; an empty blob needs a pointer. */
    return bind_rc(sqlite3_bind_blob64(s, i, len ? p : empty, len, SQLITE_STATIC));
}

static vt_err bind_text(sqlite3_stmt *s, int i, const char *str)
{
    return bind_rc(
        sqlite3_bind_text64(s, i, str, strlen(str), SQLITE_STATIC, SQLITE_UTF8));
}

/* The (account, device) pair that is ?1 and ?2 of most statements. */
static vt_err bind_device(sqlite3_stmt *s, vtd_account_id acct, uint32_t device_id)
{
    vt_err err = bind_i64(s, 1, acct);
    if (err == VT_OK)
        err = bind_i64(s, 2, device_id);
    return err;
}

/* The group id that is ?1 of every statement on groups and members. */
static vt_err bind_group(sqlite3_stmt *s, const uint8_t group_id[VTD_GROUP_ID_LEN])
{
    return bind_blob(s, 1, group_id, VTD_GROUP_ID_LEN);
}

/* The (group, account) pair that is ?1 and ?2 of the membership statements. */
static vt_err bind_member(sqlite3_stmt *s, const uint8_t group_id[VTD_GROUP_ID_LEN],
                          vtd_account_id acct)
{
    vt_err err = bind_group(s, group_id);
    if (err == VT_OK)
        err = bind_i64(s, 2, acct);
    return err;
}

/* An optional 16-byte group id: SQL NULL when absent. */
static vt_err bind_group_id(sqlite3_stmt *s, int i, const uint8_t *id, size_t len)
{
    if (len == 0)
        return bind_rc(sqlite3_bind_null(s, i));
    return bind_blob(s, i, id, len);
}

/* Steps |s| once: *row tells whether it produced a row. */
static vt_err step_row(sqlite3_stmt *s, bool *row)
{
    int rc = sqlite3_step(s);

    *row = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? VT_OK : VT_ERR_IO;
}

/* Steps |s| to the one row it is to give; without that row the result is
 * |no_row|. */
static vt_err step_one(sqlite3_stmt *s, vt_err no_row)
{
    bool row = false;
    vt_err err = step_row(s, &row);

    if (err == VT_OK && !row)
        err = no_row;
    return err;
}

/* Runs a statement to its end; returns the SQLite result code, SQLITE_OK
 * when it completed. With extended result codes, a constraint shows as
 * e.g. SQLITE_CONSTRAINT_FOREIGNKEY. */
static int run(sqlite3_stmt *s)
{
    int rc;

    do
        rc = sqlite3_step(s);
    while (rc == SQLITE_ROW);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Ends a write with RETURNING whose one row has been read: steps it to its
 * end, so that the write is complete and sqlite3_changes final (the row's
 * columns are gone after this). */
static vt_err finish(sqlite3_stmt *s)
{
    return sqlite3_step(s) == SQLITE_DONE ? VT_OK : VT_ERR_IO;
}

/* A write that broke a foreign key names a parent row (account, device or
 * group) that does not exist: |missing|. Any other failure is VT_ERR_IO. */
static vt_err write_err(int rc, vt_err missing)
{
    if (rc == SQLITE_OK)
        return VT_OK;
    return rc == SQLITE_CONSTRAINT_FOREIGNKEY ? missing : VT_ERR_IO;
}

/* Runs write |s|, its parameters bound, to its end; errors as write_err
 * says. *changes, unless NULL, is the number of rows the statement itself
 * changed (rows that ON DELETE CASCADE removes are not counted). */
static vt_err run_write(vtd_store *st, sqlite3_stmt *s, vt_err missing, int64_t *changes)
{
    vt_err err = write_err(run(s), missing);

    if (err == VT_OK && changes != NULL)
        *changes = sqlite3_changes64(st->db);
    return err;
}

static uint64_t col_u64(sqlite3_stmt *s, int i)
{
    int64_t v = sqlite3_column_int64(s, i);
    return v < 0 ? 0 : (uint64_t)v;
}

/* Reads the first column of the one row |s| gives into *v, then readies
 * |s| for its next use. |bound| is what binding its parameters returned:
 * on failure |s| is not stepped. Without a row *v is left alone and the
 * result is |no_row|. */
static vt_err query_u64(sqlite3_stmt *s, vt_err bound, vt_err no_row, uint64_t *v)
{
    vt_err err = bound;

    if (err == VT_OK)
        err = step_one(s, no_row);
    if (err == VT_OK)
        *v = col_u64(s, 0);
    done(s);
    return err;
}

/* Copies blob column |i| into |dst|, which it must fill exactly. */
static vt_err col_fixed(sqlite3_stmt *s, int i, void *dst, size_t len)
{
    const void *p = sqlite3_column_blob(s, i);

    if (p == NULL || (size_t)sqlite3_column_bytes(s, i) != len)
        return VT_ERR_IO;
    memcpy(dst, p, len);
    return VT_OK;
}

/* Copies text column |i| into |dst| (|max| bytes and a NUL). */
static vt_err col_text(sqlite3_stmt *s, int i, char *dst, size_t max)
{
    const unsigned char *p = sqlite3_column_text(s, i);
    size_t len;

    if (p == NULL)
        return VT_ERR_IO;
    len = (size_t)sqlite3_column_bytes(s, i);
    if (len > max)
        return VT_ERR_IO;
    memcpy(dst, p, len);
    dst[len] = '\0';
    return VT_OK;
}

/* An optional group id column (NULL or 16 bytes). */
static vt_err col_group_id(sqlite3_stmt *s, int i, uint8_t dst[VTD_GROUP_ID_LEN],
                           size_t *len)
{
    *len = 0;
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return VT_OK;
    *len = VTD_GROUP_ID_LEN;
    return col_fixed(s, i, dst, VTD_GROUP_ID_LEN);
}

/* Reads the current row of |s| into element |i| of the array |out|. */
typedef vt_err row_reader(sqlite3_stmt *s, void *out, size_t i);

/* Steps |s| to its end for a caller's array of |cap| elements: the first
 * |cap| rows are read into |out| with |read_row|, the rest only counted,
 * and *n is the number of rows. Errors: VT_ERR_BUFFER_TOO_SMALL (more than
 * |cap| rows; *n is the number needed), VT_ERR_IO, those of |read_row|. */
static vt_err read_list(sqlite3_stmt *s, row_reader *read_row, void *out, size_t cap,
                        size_t *n)
{
    size_t count = 0;
    bool row = false;
    vt_err err;

    for (;;) {
        TRY(step_row(s, &row));
        if (!row)
            break;
        /* Past |cap| the rows are only counted, for *n. */
        if (count < cap)
            TRY(read_row(s, out, count));
        count++;
    }
    *n = count;
    err = count > cap ? VT_ERR_BUFFER_TOO_SMALL : VT_OK;
out:
    return err;
}

/* A NUL-terminated string of at most |max| bytes (reads no further). */
static bool str_ok(const char *s, size_t max)
{
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; i <= max; i++) {
        if (s[i] == '\0')
            return true;
    }
    return false;
}

/* ---- Life cycle --------------------------------------------------------- */

/* Runs a pragma whose answer is one value and checks that answer: SQLite
 * ignores an unknown or impossible setting silently. */
static vt_err pragma(sqlite3 *db, const char *sql, const char *want)
{
    sqlite3_value *v = NULL;
    const unsigned char *got;
    vt_err err = vtd_store_query_value(db, sql, &v);

    if (err == VT_OK) {
        got = sqlite3_value_text(v);
        if (got == NULL || strcmp((const char *)got, want) != 0)
            err = VT_ERR_IO;
    }
    sqlite3_value_free(v);
    return err;
}

/* Sets a pragma whose setting answers nothing, then reads it back with
 * |get|: it must be |want|. */
static vt_err set_pragma(sqlite3 *db, const char *set, const char *get, const char *want)
{
    if (sqlite3_exec(db, set, NULL, NULL, NULL) != SQLITE_OK)
        return VT_ERR_IO;
    return pragma(db, get, want);
}

static vt_err configure(sqlite3 *db)
{
    vt_err err;

    /* DELIV-2: in WAL mode only synchronous=FULL syncs the log on every
     * commit; NORMAL would lose the last commits on a power loss. */
    err = pragma(db, "PRAGMA journal_mode = WAL", "wal");
    if (err == VT_OK)
        err = set_pragma(db, "PRAGMA synchronous = FULL", "PRAGMA synchronous", "2");
    /* Each operation's savepoint keeps the pages it changes in a
     * sub-journal, never needed after a crash; kept in memory rather than
     * in a temporary file, a push costs about a third as much. */
    if (err == VT_OK)
        err = set_pragma(db, "PRAGMA temp_store = MEMORY", "PRAGMA temp_store", "2");
    /* A build without foreign keys would accept the pragma and ignore it,
     * and with it every ON DELETE CASCADE. */
    if (err == VT_OK)
        err = set_pragma(db, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys", "1");
    return err;
}

static void destroy(vtd_store *st)
{
    size_t i;

    for (i = 0; i < S_COUNT; i++)
        (void)sqlite3_finalize(st->stmt[i]); /* repeats the last step's error */
    /* With every statement finalized sqlite3_close cannot be busy; it rolls
     * back a transaction still open. */
    (void)sqlite3_close(st->db);
    free(st);
}

vt_err vtd_store_open(vtd_store **out, const char *dir)
{
    vtd_store *st = NULL;
    char *path = NULL;
    size_t len;
    int version = 0;
    int i;
    vt_err err;

    if (out == NULL || dir == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* The header's errors are VT_ERR_IO and VT_ERR_CONFIG: an allocation
     * failure here is a failure to open. */
    st = calloc(1, sizeof(*st));
    len = strlen(dir) + sizeof("/" DB_FILE);
    path = malloc(len);
    if (st == NULL || path == NULL) {
        err = VT_ERR_IO;
        goto out;
    }
    if (snprintf(path, len, "%s/%s", dir, DB_FILE) < 0) {
        err = VT_ERR_IO;
        goto out;
    }
    /* One thread uses a store, so SQLite's own mutexes are not needed. */
    if (sqlite3_open_v2(path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        err = VT_ERR_IO;
        goto out;
    }
    if (sqlite3_extended_result_codes(st->db, 1) != SQLITE_OK ||
        sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
        err = VT_ERR_IO;
        goto out;
    }
    /* Refuse a newer schema before changing anything in the file. */
    TRY(vtd_store_user_version(st->db, &version));
    if (version > vtd_store_schema_newest()) {
        err = VT_ERR_CONFIG;
        goto out;
    }
    TRY(configure(st->db));
    TRY(vtd_store_migrate(st->db, &st->version));
    for (i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &st->stmt[i], NULL) != SQLITE_OK) {
            err = VT_ERR_IO;
            goto out;
        }
    }
    *out = st;
    st = NULL;
    err = VT_OK;
out:
    if (st != NULL)
        destroy(st);
    free(path);
    return err;
}

/* Runs one of the transaction-control statements. */
static int control(vtd_store *st, enum stmt_id id)
{
    int rc = run(st->stmt[id]);

    (void)sqlite3_reset(st->stmt[id]); /* repeats run's error */
    return rc;
}

/* Ends the batch with ROLLBACK, whatever state it is in. */
static vt_err rollback_batch(vtd_store *st)
{
    /* SQLite may have rolled the transaction back already (SQLITE_FULL,
     * SQLITE_IOERR, SQLITE_NOMEM do); then there is nothing left to undo. */
    if (!sqlite3_get_autocommit(st->db) && control(st, S_ROLLBACK) != SQLITE_OK &&
        !sqlite3_get_autocommit(st->db)) {
        st->broken = true;
        return VT_ERR_IO;
    }
    st->in_batch = false;
    st->broken = false;
    st->ops = 0;
    return VT_OK;
}

void vtd_store_close(vtd_store *st)
{
    if (st == NULL)
        return;
    if (st->in_batch)
        (void)rollback_batch(st); /* failing that, sqlite3_close rolls back */
    destroy(st);
}

int vtd_store_schema_version(const vtd_store *st)
{
    return st == NULL ? 0 : st->version;
}

/* ---- Operations and batches ----------------------------------------------- */

/* A failure that leaves the batch in doubt. With nothing kept in it yet,
 * nobody waits on its flush: it is rolled back at once. Otherwise it stays
 * broken until vtd_store_flush rolls it back and tells the callers. */
static vt_err fail_batch(vtd_store *st)
{
    st->broken = true;
    if (st->ops == 0)
        (void)rollback_batch(st); /* on failure it stays broken */
    return VT_ERR_IO;
}

/* The check at the top of every write: inside an operation of a batch
 * that is still whole. */
static vt_err writable(vtd_store *st)
{
    if (!st->in_op)
        return VT_ERR_STATE;
    /* A transaction SQLite rolled back on its own would leave the writes to
     * come in autocommit mode, each durable alone: refuse them (DELIV-3). */
    if (st->broken || sqlite3_get_autocommit(st->db)) {
        st->broken = true;
        return VT_ERR_IO;
    }
    return VT_OK;
}

vt_err vtd_store_op_begin(vtd_store *st)
{
    if (st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (st->in_op)
        return VT_ERR_STATE;
    if (st->broken)
        return VT_ERR_IO;
    if (st->in_batch && sqlite3_get_autocommit(st->db))
        return fail_batch(st);
    if (!st->in_batch) {
        /* IMMEDIATE takes the write lock now, so no statement of the batch
         * can fail later for want of it. */
        if (control(st, S_BEGIN) != SQLITE_OK) {
            if (!sqlite3_get_autocommit(st->db))
                (void)rollback_batch(st);
            return VT_ERR_IO;
        }
        st->in_batch = true;
        st->ops = 0;
    }
    if (control(st, S_SAVEPOINT) != SQLITE_OK)
        return fail_batch(st);
    st->in_op = true;
    return VT_OK;
}

vt_err vtd_store_op_end(vtd_store *st, bool keep)
{
    if (st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (!st->in_op)
        return VT_ERR_STATE;
    st->in_op = false;
    if (st->broken || sqlite3_get_autocommit(st->db))
        return fail_batch(st);
    if (keep) {
        if (control(st, S_RELEASE) != SQLITE_OK)
            return fail_batch(st);
        st->ops++;
        return VT_OK;
    }
    /* ROLLBACK TO undoes the operation but leaves its savepoint open. */
    if (control(st, S_ROLLBACK_TO) != SQLITE_OK || control(st, S_RELEASE) != SQLITE_OK)
        return fail_batch(st);
    /* A batch with nothing kept would only hold the write lock. */
    if (st->ops == 0 && rollback_batch(st) != VT_OK)
        return VT_ERR_IO;
    return VT_OK;
}

size_t vtd_store_batch_ops(const vtd_store *st)
{
    return st == NULL ? 0 : st->ops;
}

vt_err vtd_store_flush(vtd_store *st)
{
    if (st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (st->in_op)
        return VT_ERR_STATE;
    if (!st->in_batch)
        return VT_OK;
    /* synchronous=FULL: COMMIT returns once the WAL is synced (DELIV-2). */
    if (!st->broken && !sqlite3_get_autocommit(st->db) &&
        control(st, S_COMMIT) == SQLITE_OK) {
        st->in_batch = false;
        st->ops = 0;
        return VT_OK;
    }
    /* A failed COMMIT may leave the transaction open (SQLITE_BUSY): end it,
     * so that none of the batch happened (DELIV-3). */
    (void)rollback_batch(st); /* on failure the next flush tries again */
    return VT_ERR_IO;
}

/* ---- One-statement reads and writes --------------------------------------- */

/* Runs write |s| of the open operation, then readies |s| for its next use.
 * |bound| is what binding its parameters returned. writable() is asked
 * first, so that its refusal wins over a bad argument as in the writes
 * that check it at their top; |s| runs only if both succeeded. *changes as
 * in run_write. */
static vt_err exec_write(vtd_store *st, sqlite3_stmt *s, vt_err bound, int64_t *changes)
{
    vt_err err = writable(st);

    if (err == VT_OK)
        err = bound;
    if (err == VT_OK)
        err = run_write(st, s, VT_ERR_IO, changes);
    done(s);
    return err;
}

/* Runs write |id| of the open operation on the account |acct| (?1). */
static vt_err write_account(vtd_store *st, enum stmt_id id, vtd_account_id acct,
                            int64_t *changes)
{
    sqlite3_stmt *s = st->stmt[id];
    vt_err bound = bind_i64(s, 1, acct);

    return exec_write(st, s, bound, changes);
}

/* Runs write |id| of the open operation on device |device_id| of |acct|. */
static vt_err write_device(vtd_store *st, enum stmt_id id, vtd_account_id acct,
                           uint32_t device_id, int64_t *changes)
{
    sqlite3_stmt *s = st->stmt[id];
    vt_err bound = bind_device(s, acct, device_id);

    return exec_write(st, s, bound, changes);
}

/* Runs expiry |id| of the open operation, whose ?1 is the cut-off time. */
static vt_err write_cutoff(vtd_store *st, enum stmt_id id, uint64_t cutoff,
                           int64_t *changes)
{
    sqlite3_stmt *s = st->stmt[id];
    vt_err bound = bind_u64(s, 1, cutoff);

    return exec_write(st, s, bound, changes);
}

/* Runs write |id| of the open operation that gives group |group_id| (?1)
 * the revision |revision| (?2). */
static vt_err write_revision(vtd_store *st, enum stmt_id id,
                             const uint8_t group_id[VTD_GROUP_ID_LEN], uint64_t revision,
                             int64_t *changes)
{
    sqlite3_stmt *s = st->stmt[id];
    vt_err bound = bind_group(s, group_id);

    if (bound == VT_OK)
        bound = bind_u64(s, 2, revision);
    return exec_write(st, s, bound, changes);
}

/* The one value statement |id| reads for device |device_id| of |acct|
 * into *v; without a row, *v is left alone and the result is |no_row|. */
static vt_err device_u64(vtd_store *st, enum stmt_id id, vtd_account_id acct,
                         uint32_t device_id, vt_err no_row, uint64_t *v)
{
    sqlite3_stmt *s = st->stmt[id];
    vt_err bound = bind_device(s, acct, device_id);

    return query_u64(s, bound, no_row, v);
}

/* The one value statement |id| reads for the account |acct| (?1), as
 * device_u64 does. */
static vt_err account_u64(vtd_store *st, enum stmt_id id, vtd_account_id acct,
                          vt_err no_row, uint64_t *v)
{
    sqlite3_stmt *s = st->stmt[id];
    vt_err bound = bind_i64(s, 1, acct);

    return query_u64(s, bound, no_row, v);
}

/* ---- Accounts and devices ------------------------------------------------- */

vt_err vtd_store_account_find(vtd_store *st, const char *username, vtd_account_id *out)
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || !str_ok(username, VTD_USERNAME_MAX) || out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    s = st->stmt[S_ACCOUNT_FIND];
    TRY(bind_text(s, 1, username));
    TRY(step_one(s, VT_ERR_NOT_FOUND));
    *out = sqlite3_column_int64(s, 0);
out:
    done(s);
    return err;
}

vt_err vtd_store_account_name(vtd_store *st, vtd_account_id acct,
                              char out[VTD_USERNAME_MAX + 1])
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    s = st->stmt[S_ACCOUNT_NAME];
    TRY(bind_i64(s, 1, acct));
    TRY(step_one(s, VT_ERR_NOT_FOUND));
    err = col_text(s, 0, out, VTD_USERNAME_MAX);
out:
    done(s);
    return err;
}

/* Inserts a device row with an empty queue that starts at seq 1. */
static vt_err device_insert(vtd_store *st, vtd_account_id acct, uint32_t device_id,
                            const uint8_t key[VTD_KEY_LEN], const char *name,
                            uint64_t created_at, uint64_t expires_at, bool active)
{
    sqlite3_stmt *s = st->stmt[S_DEVICE_INSERT];
    vt_err err;

    TRY(bind_device(s, acct, device_id));
    TRY(bind_blob(s, 3, key, VTD_KEY_LEN));
    TRY(bind_text(s, 4, name));
    TRY(bind_u64(s, 5, created_at));
    TRY(bind_u64(s, 6, expires_at));
    TRY(bind_i64(s, 7, active));
    err = run_write(st, s, VT_ERR_NOT_FOUND, NULL);
out:
    done(s);
    return err;
}

vt_err vtd_store_account_create(vtd_store *st, const char *username,
                                const uint8_t identity_key[VTD_KEY_LEN],
                                const char *device_name, uint64_t now,
                                vtd_account_id *out)
{
    sqlite3_stmt *s;
    vtd_account_id id = 0;
    int rc;
    vt_err err;

    if (st == NULL || !str_ok(username, VTD_USERNAME_MAX) || identity_key == NULL ||
        !str_ok(device_name, VTD_DEVICE_NAME_MAX) || out == NULL ||
        now > (uint64_t)INT64_MAX)
        return VT_ERR_INVALID_ARGUMENT;
    err = writable(st);
    if (err != VT_OK)
        return err;
    s = st->stmt[S_ACCOUNT_INSERT];
    TRY(bind_text(s, 1, username));
    TRY(bind_u64(s, 2, now));
    rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        err = VT_ERR_ALREADY_EXISTS;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        err = VT_ERR_IO;
        goto out;
    }
    id = sqlite3_column_int64(s, 0);
    TRY(finish(s));
    done(s);
    /* AUTH-3: the account's first device is device 1, and next_device_id
     * (2) was set with the account. */
    if (device_insert(st, id, 1, identity_key, device_name, now, 0, true) != VT_OK) {
        err = VT_ERR_IO;
        goto out;
    }
    *out = id;
out:
    done(s); /* a second reset is harmless */
    return err;
}

vt_err vtd_store_account_delete(vtd_store *st, vtd_account_id acct)
{
    if (st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* AUTH-91, DELIV-72: devices, and through them queues, prekeys and
     * tokens, then dedup records and memberships go by ON DELETE CASCADE.
     * Queue counters live in the device rows and go with them. */
    return write_account(st, S_ACCOUNT_DELETE, acct, NULL);
}

static vt_err read_device(sqlite3_stmt *s, vtd_device *out)
{
    vt_err err;

    memset(out, 0, sizeof(*out));
    out->device_id = (uint32_t)sqlite3_column_int64(s, 0);
    err = col_fixed(s, 1, out->identity_key, VTD_KEY_LEN);
    if (err == VT_OK)
        err = col_text(s, 2, out->name, VTD_DEVICE_NAME_MAX);
    out->created_at = col_u64(s, 3);
    out->expires_at = col_u64(s, 4);
    out->active = sqlite3_column_int(s, 5) != 0;
    return err;
}

/* A row_reader for read_list: |out| is a vtd_device array. */
static vt_err device_row(sqlite3_stmt *s, void *out, size_t i)
{
    vtd_device *devices = out;

    return read_device(s, &devices[i]);
}

vt_err vtd_store_device_get(vtd_store *st, vtd_account_id acct, uint32_t device_id,
                            vtd_device *out)
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    s = st->stmt[S_DEVICE_GET];
    TRY(bind_device(s, acct, device_id));
    TRY(step_one(s, VT_ERR_NOT_FOUND));
    err = read_device(s, out);
out:
    done(s);
    return err;
}

vt_err vtd_store_devices_list(vtd_store *st, vtd_account_id acct, bool with_pending,
                              uint64_t now, vtd_device *out, size_t cap, size_t *n)
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || (out == NULL && cap > 0) || n == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    s = st->stmt[S_DEVICES_LIST];
    TRY(bind_i64(s, 1, acct));
    TRY(bind_i64(s, 2, with_pending));
    TRY(bind_u64(s, 3, now));
    err = read_list(s, device_row, out, cap, n);
out:
    done(s);
    return err;
}

vt_err vtd_store_device_issued(vtd_store *st, vtd_account_id acct, uint32_t device_id,
                               bool *issued)
{
    uint64_t next = 0;
    vt_err err;

    if (st == NULL || issued == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    *issued = false;
    /* Without the account |next| stays 0: nothing was issued. */
    err = account_u64(st, S_NEXT_DEVICE, acct, VT_OK, &next);
    /* AUTH-3: ids 1 to next - 1 were handed out, in order. */
    if (err == VT_OK)
        *issued = device_id >= 1 && device_id < next;
    return err;
}

vt_err vtd_store_device_add_pending(vtd_store *st, vtd_account_id acct,
                                    const uint8_t identity_key[VTD_KEY_LEN],
                                    const char *name, uint64_t now, uint64_t expires_at,
                                    uint32_t *device_id)
{
    uint64_t next = 0;
    int64_t changes = 0;
    vt_err err;

    if (st == NULL || identity_key == NULL || !str_ok(name, VTD_DEVICE_NAME_MAX) ||
        device_id == NULL || now > (uint64_t)INT64_MAX ||
        expires_at > (uint64_t)INT64_MAX)
        return VT_ERR_INVALID_ARGUMENT;
    err = writable(st);
    if (err != VT_OK)
        return err;
    err = account_u64(st, S_NEXT_DEVICE, acct, VT_ERR_NOT_FOUND, &next);
    if (err != VT_OK)
        return err;
    /* AUTH-3: ids are never reused, so the last one ends the account's. */
    if (next > UINT32_MAX)
        return VT_ERR_LIMIT_EXCEEDED;
    if (next < 1)
        return VT_ERR_IO;
    err = device_insert(st, acct, (uint32_t)next, identity_key, name, now, expires_at,
                        false);
    if (err != VT_OK)
        return VT_ERR_IO;
    err = write_account(st, S_BUMP_DEVICE, acct, &changes);
    if (err != VT_OK || changes != 1)
        return VT_ERR_IO;
    *device_id = (uint32_t)next;
    return VT_OK;
}

vt_err vtd_store_device_activate(vtd_store *st, vtd_account_id acct, uint32_t device_id)
{
    int64_t changes = 0;
    vt_err err;

    if (st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = write_device(st, S_DEVICE_ACTIVATE, acct, device_id, &changes);
    /* An active device matches too (its row is rewritten unchanged). */
    if (err == VT_OK && changes != 1)
        err = VT_ERR_NOT_FOUND;
    return err;
}

vt_err vtd_store_device_remove(vtd_store *st, vtd_account_id acct, uint32_t device_id)
{
    if (st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* AUTH-86, DELIV-70: queue, prekeys and tokens by ON DELETE CASCADE. */
    return write_device(st, S_DEVICE_REMOVE, acct, device_id, NULL);
}

vt_err vtd_store_devices_expire(vtd_store *st, uint64_t now, size_t *removed)
{
    int64_t changes = 0;
    vt_err err;

    if (st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (removed != NULL)
        *removed = 0;
    /* AUTH-73, DELIV-70: a lapsed pending device goes like a removed one.
     * Direct deletes only: cascaded rows are not counted. */
    err = write_cutoff(st, S_DEVICES_EXPIRE, now, &changes);
    if (err == VT_OK && removed != NULL)
        *removed = (size_t)changes;
    return err;
}

/* ---- Session tokens --------------------------------------------------- */

vt_err vtd_store_token_add(vtd_store *st, const uint8_t jti[VTD_JTI_LEN],
                           vtd_account_id acct, uint32_t device_id, uint64_t exp)
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || jti == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = writable(st);
    if (err != VT_OK)
        return err;
    s = st->stmt[S_TOKEN_ADD];
    TRY(bind_blob(s, 1, jti, VTD_JTI_LEN));
    TRY(bind_i64(s, 2, acct));
    TRY(bind_i64(s, 3, device_id));
    TRY(bind_u64(s, 4, exp));
    /* The device must exist: a token of a device that is not is out of
     * range (store.h names no VT_ERR_NOT_FOUND here). */
    err = run_write(st, s, VT_ERR_INVALID_ARGUMENT, NULL);
out:
    done(s);
    return err;
}

vt_err vtd_store_token_valid(vtd_store *st, const uint8_t jti[VTD_JTI_LEN],
                             vtd_account_id acct, uint32_t device_id, bool *valid)
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || jti == NULL || valid == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    *valid = false;
    s = st->stmt[S_TOKEN_VALID];
    TRY(bind_blob(s, 1, jti, VTD_JTI_LEN));
    TRY(bind_i64(s, 2, acct));
    TRY(bind_i64(s, 3, device_id));
    /* AUTH-52: a record exists only while device and account do. */
    err = step_row(s, valid);
out:
    done(s);
    return err;
}

vt_err vtd_store_tokens_expire(vtd_store *st, uint64_t now)
{
    if (st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    return write_cutoff(st, S_TOKENS_EXPIRE, now, NULL);
}

/* ---- Prekeys ------------------------------------------------------------ */

vt_err vtd_store_signed_prekey_set(vtd_store *st, vtd_account_id acct, uint32_t device_id,
                                   bool last_resort, const vtd_signed_prekey *key)
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || key == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = writable(st);
    if (err != VT_OK)
        return err;
    s = st->stmt[S_SPK_SET];
    TRY(bind_device(s, acct, device_id));
    TRY(bind_i64(s, 3, last_resort));
    TRY(bind_i64(s, 4, key->id));
    TRY(bind_blob(s, 5, key->public_key, VTD_KEY_LEN));
    TRY(bind_blob(s, 6, key->signature, VTD_SIG_LEN));
    /* No such device: out of range, as in vtd_store_token_add. */
    err = run_write(st, s, VT_ERR_INVALID_ARGUMENT, NULL);
out:
    done(s);
    return err;
}

vt_err vtd_store_signed_prekey_get(vtd_store *st, vtd_account_id acct, uint32_t device_id,
                                   bool last_resort, vtd_signed_prekey *out,
                                   bool *present)
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || out == NULL || present == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    *present = false;
    s = st->stmt[S_SPK_GET];
    TRY(bind_device(s, acct, device_id));
    TRY(bind_i64(s, 3, last_resort));
    TRY(step_row(s, present));
    if (!*present)
        goto out;
    out->id = (uint32_t)sqlite3_column_int64(s, 0);
    err = col_fixed(s, 1, out->public_key, VTD_KEY_LEN);
    if (err == VT_OK)
        err = col_fixed(s, 2, out->signature, VTD_SIG_LEN);
    if (err != VT_OK) {
        memset(out, 0, sizeof(*out));
        *present = false;
    }
out:
    done(s);
    return err;
}

vt_err vtd_store_one_time_prekey_get(vtd_store *st, vtd_account_id acct,
                                     uint32_t device_id, uint32_t id,
                                     uint8_t public_key[VTD_KEY_LEN], bool *present)
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || public_key == NULL || present == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    memset(public_key, 0, VTD_KEY_LEN);
    *present = false;
    s = st->stmt[S_OTK_GET];
    TRY(bind_device(s, acct, device_id));
    TRY(bind_i64(s, 3, id));
    TRY(step_row(s, present));
    if (*present)
        err = col_fixed(s, 0, public_key, VTD_KEY_LEN);
    if (err != VT_OK)
        *present = false;
out:
    done(s);
    return err;
}

vt_err vtd_store_one_time_prekey_add(vtd_store *st, vtd_account_id acct,
                                     uint32_t device_id, const vtd_one_time_prekey *key,
                                     bool *added)
{
    sqlite3_stmt *s;
    int64_t changes = 0;
    vt_err err;

    if (st == NULL || key == NULL || added == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    *added = false;
    err = writable(st);
    if (err != VT_OK)
        return err;
    s = st->stmt[S_OTK_ADD];
    TRY(bind_device(s, acct, device_id));
    TRY(bind_i64(s, 3, key->id));
    TRY(bind_blob(s, 4, key->public_key, VTD_KEY_LEN));
    /* No such device: out of range, as in vtd_store_token_add. */
    TRY(run_write(st, s, VT_ERR_INVALID_ARGUMENT, &changes));
    /* ON CONFLICT DO NOTHING: an id already stored changes no row. */
    *added = changes == 1;
out:
    done(s);
    return err;
}

vt_err vtd_store_one_time_prekey_count(vtd_store *st, vtd_account_id acct,
                                       uint32_t device_id, uint32_t *count)
{
    uint64_t n = 0;
    vt_err err;

    if (st == NULL || count == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* count(*) always gives its one row. */
    err = device_u64(st, S_OTK_COUNT, acct, device_id, VT_ERR_IO, &n);
    *count = (uint32_t)n;
    return err;
}

vt_err vtd_store_one_time_prekey_take(vtd_store *st, vtd_account_id acct,
                                      uint32_t device_id, vtd_one_time_prekey *out,
                                      bool *taken)
{
    sqlite3_stmt *s;
    bool row = false;
    vt_err err;

    if (st == NULL || out == NULL || taken == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    *taken = false;
    err = writable(st);
    if (err != VT_OK)
        return err;
    /* WIRE-310: one statement finds and deletes the key, so it is handed
     * out once, the earliest uploaded first (CRYPTO-36); the caller's flush makes the
     * deletion durable before the key leaves the server. */
    s = st->stmt[S_OTK_TAKE];
    TRY(bind_device(s, acct, device_id));
    TRY(step_row(s, &row));
    if (!row)
        goto out;
    out->id = (uint32_t)sqlite3_column_int64(s, 0);
    err = col_fixed(s, 1, out->public_key, VTD_KEY_LEN);
    if (err == VT_OK)
        err = finish(s);
    if (err != VT_OK)
        memset(out, 0, sizeof(*out));
    *taken = err == VT_OK;
out:
    done(s);
    return err;
}

/* ---- Queues ------------------------------------------------------------- */

vt_err vtd_store_queue_depth(vtd_store *st, vtd_account_id acct, uint32_t device_id,
                             uint64_t *depth)
{
    if (st == NULL || depth == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    *depth = 0;
    /* No such device: nothing is queued for it. */
    return device_u64(st, S_QUEUE_DEPTH, acct, device_id, VT_OK, depth);
}

static bool message_ok(const vtd_message *msg)
{
    return str_ok(msg->sender, VTD_USERNAME_MAX) &&
           str_ok(msg->recipient, VTD_USERNAME_MAX) &&
           (msg->content != NULL || msg->content_len == 0) &&
           (msg->group_id_len == 0 || msg->group_id_len == VTD_GROUP_ID_LEN) &&
           msg->server_time_ms <= (uint64_t)INT64_MAX;
}

vt_err vtd_store_queue_push(vtd_store *st, vtd_account_id acct, uint32_t device_id,
                            const vtd_message *msg, uint64_t *seq)
{
    sqlite3_stmt *s;
    int64_t assigned = 0;
    vt_err err;

    if (st == NULL || msg == NULL || seq == NULL || !message_ok(msg))
        return VT_ERR_INVALID_ARGUMENT;
    err = writable(st);
    if (err != VT_OK)
        return err;
    /* DELIV-40: the seq comes from the device row, which only grows, and
     * the depth counter moves in the same statement. */
    s = st->stmt[S_QUEUE_BUMP];
    TRY(bind_device(s, acct, device_id));
    TRY(step_one(s, VT_ERR_NOT_FOUND));
    assigned = sqlite3_column_int64(s, 0);
    TRY(finish(s));
    done(s);

    s = st->stmt[S_QUEUE_INSERT];
    TRY(bind_device(s, acct, device_id));
    TRY(bind_i64(s, 3, assigned));
    TRY(bind_text(s, 4, msg->sender));
    TRY(bind_i64(s, 5, msg->sender_device));
    TRY(bind_blob(s, 6, msg->message_id, VTD_MESSAGE_ID_LEN));
    TRY(bind_i64(s, 7, msg->type));
    TRY(bind_blob(s, 8, msg->content, msg->content_len));
    TRY(bind_u64(s, 9, msg->server_time_ms));
    TRY(bind_group_id(s, 10, msg->group_id, msg->group_id_len));
    TRY(bind_text(s, 11, msg->recipient));
    /* On failure the seq was taken already: the operation has to be
     * abandoned. */
    TRY(run_write(st, s, VT_ERR_IO, NULL));
    *seq = (uint64_t)assigned;
out:
    done(s);
    return err;
}

vt_err vtd_store_queue_last_seq(vtd_store *st, vtd_account_id acct, uint32_t device_id,
                                uint64_t *seq)
{
    if (st == NULL || seq == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    *seq = 0;
    /* max() over no rows is NULL, which reads as 0. */
    return device_u64(st, S_QUEUE_LAST, acct, device_id, VT_OK, seq);
}

static vt_err read_message(sqlite3_stmt *s, vtd_message *m)
{
    static const uint8_t empty[1];
    vt_err err;

    memset(m, 0, sizeof(*m));
    m->seq = col_u64(s, 0);
    m->sender = (const char *)sqlite3_column_text(s, 1);
    m->sender_device = (uint32_t)sqlite3_column_int64(s, 2);
    err = col_fixed(s, 3, m->message_id, VTD_MESSAGE_ID_LEN);
    if (err != VT_OK)
        return err;
    m->type = (uint32_t)sqlite3_column_int64(s, 4);
    /* sqlite3_column_blob before sqlite3_column_bytes, as SQLite asks; an
     * empty blob reads as NULL, handed out as an empty array instead. */
    m->content = sqlite3_column_blob(s, 5);
    m->content_len = (size_t)sqlite3_column_bytes(s, 5);
    if (m->content == NULL) {
        if (m->content_len != 0)
            return VT_ERR_IO;
        m->content = empty;
    }
    m->server_time_ms = col_u64(s, 6);
    err = col_group_id(s, 7, m->group_id, &m->group_id_len);
    if (err != VT_OK)
        return err;
    m->recipient = (const char *)sqlite3_column_text(s, 8);
    if (m->sender == NULL || m->recipient == NULL)
        return VT_ERR_IO;
    return VT_OK;
}

vt_err vtd_store_queue_read(vtd_store *st, vtd_account_id acct, uint32_t device_id,
                            uint64_t after, uint64_t min_time_ms, size_t max,
                            vtd_message_fn fn, void *ud, size_t *n)
{
    sqlite3_stmt *s;
    vtd_message msg;
    size_t calls = 0;
    bool row = false;
    vt_err err;

    if (n != NULL)
        *n = 0;
    if (st == NULL || fn == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* The statement is mid-iteration during the callbacks; a nested read
     * would reset it under us. */
    if (st->reading)
        return VT_ERR_STATE;
    s = st->stmt[S_QUEUE_READ];
    st->reading = true;
    TRY(bind_device(s, acct, device_id));
    TRY(bind_u64(s, 3, after));
    TRY(bind_u64(s, 4, min_time_ms));
    TRY(bind_i64(s, 5, max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max));
    for (;;) {
        TRY(step_row(s, &row));
        if (!row)
            break;
        TRY(read_message(s, &msg));
        calls++;
        if (!fn(ud, &msg))
            break;
    }
out:
    done(s);
    st->reading = false;
    if (n != NULL)
        *n = calls;
    return err;
}

vt_err vtd_store_queue_delete(vtd_store *st, vtd_account_id acct, uint32_t device_id,
                              const uint64_t *seqs, size_t count, uint32_t *deleted)
{
    sqlite3_stmt *s;
    uint64_t total = 0;
    int64_t changes = 0;
    size_t i;
    vt_err err;

    if (st == NULL || (seqs == NULL && count > 0) || deleted == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    *deleted = 0;
    err = writable(st);
    if (err != VT_OK)
        return err;
    s = st->stmt[S_QUEUE_DELETE];
    TRY(bind_device(s, acct, device_id));
    for (i = 0; i < count; i++) {
        /* DELIV-51: a seq no message can have is ignored, and a repeated
         * one finds its message gone the second time. */
        if (seqs[i] == 0 || seqs[i] > (uint64_t)INT64_MAX)
            continue;
        TRY(bind_i64(s, 3, (int64_t)seqs[i]));
        TRY(run_write(st, s, VT_ERR_IO, &changes));
        total += (uint64_t)changes;
        /* Keeps the device bound for the next seq. */
        if (sqlite3_reset(s) != SQLITE_OK) {
            err = VT_ERR_IO;
            goto out;
        }
    }
    done(s);
    if (total == 0)
        return VT_OK;
    s = st->stmt[S_QUEUE_SHRINK];
    TRY(bind_device(s, acct, device_id));
    TRY(bind_i64(s, 3, (int64_t)total));
    TRY(run_write(st, s, VT_ERR_IO, NULL));
    *deleted = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
out:
    done(s);
    return err;
}

vt_err vtd_store_queue_expire(vtd_store *st, uint64_t before_ms, uint64_t *deleted)
{
    int64_t changes = 0;
    vt_err err;

    if (st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (deleted != NULL)
        *deleted = 0;
    /* DELIV-61. The counters first, from the rows about to go, then the
     * rows: both in this operation, so they agree. */
    err = write_cutoff(st, S_QUEUE_EXPIRE_COUNT, before_ms, NULL);
    if (err == VT_OK)
        err = write_cutoff(st, S_QUEUE_EXPIRE, before_ms, &changes);
    if (err == VT_OK && deleted != NULL)
        *deleted = (uint64_t)changes;
    return err;
}

vt_err vtd_store_queue_total(vtd_store *st, uint64_t *total)
{
    if (st == NULL || total == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    *total = 0;
    /* No parameters to bind; sum() always gives its one row. */
    return query_u64(st->stmt[S_QUEUE_TOTAL], VT_OK, VT_ERR_IO, total);
}

/* ---- Idempotency records ---------------------------------------------- */

vt_err vtd_store_dedup_get(vtd_store *st, vtd_account_id acct,
                           const uint8_t message_id[VTD_MESSAGE_ID_LEN], uint64_t min_ms,
                           vtd_dedup *out, bool *found)
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || message_id == NULL || out == NULL || found == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    *found = false;
    s = st->stmt[S_DEDUP_GET];
    TRY(bind_i64(s, 1, acct));
    TRY(bind_blob(s, 2, message_id, VTD_MESSAGE_ID_LEN));
    TRY(bind_u64(s, 3, min_ms));
    TRY(step_row(s, found));
    if (!*found)
        goto out;
    err = col_text(s, 0, out->recipient, VTD_USERNAME_MAX);
    if (err == VT_OK)
        err = col_group_id(s, 1, out->group_id, &out->group_id_len);
    out->ephemeral = sqlite3_column_int(s, 2) != 0;
    out->accepted_ms = col_u64(s, 3);
    if (err != VT_OK) {
        memset(out, 0, sizeof(*out));
        *found = false;
    }
out:
    done(s);
    return err;
}

vt_err vtd_store_dedup_put(vtd_store *st, vtd_account_id acct,
                           const uint8_t message_id[VTD_MESSAGE_ID_LEN],
                           const vtd_dedup *rec)
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || message_id == NULL || rec == NULL ||
        !str_ok(rec->recipient, VTD_USERNAME_MAX) ||
        (rec->group_id_len != 0 && rec->group_id_len != VTD_GROUP_ID_LEN))
        return VT_ERR_INVALID_ARGUMENT;
    err = writable(st);
    if (err != VT_OK)
        return err;
    s = st->stmt[S_DEDUP_PUT];
    TRY(bind_i64(s, 1, acct));
    TRY(bind_blob(s, 2, message_id, VTD_MESSAGE_ID_LEN));
    TRY(bind_text(s, 3, rec->recipient));
    TRY(bind_group_id(s, 4, rec->group_id, rec->group_id_len));
    TRY(bind_i64(s, 5, rec->ephemeral));
    TRY(bind_u64(s, 6, rec->accepted_ms));
    /* No such account: out of range (store.h names no VT_ERR_NOT_FOUND). */
    err = run_write(st, s, VT_ERR_INVALID_ARGUMENT, NULL);
out:
    done(s);
    return err;
}

vt_err vtd_store_dedup_expire(vtd_store *st, uint64_t before_ms)
{
    if (st == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* DELIV-24 */
    return write_cutoff(st, S_DEDUP_EXPIRE, before_ms, NULL);
}

/* ---- Groups --------------------------------------------------------------- */

vt_err vtd_store_group_create(vtd_store *st, const uint8_t group_id[VTD_GROUP_ID_LEN],
                              uint64_t revision)
{
    int64_t changes = 0;
    vt_err err;

    if (st == NULL || group_id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = write_revision(st, S_GROUP_CREATE, group_id, revision, &changes);
    /* ON CONFLICT DO NOTHING: an id already taken adds no row. */
    if (err == VT_OK && changes == 0)
        err = VT_ERR_ALREADY_EXISTS;
    return err;
}

static vt_err read_members(vtd_store *st, const uint8_t group_id[VTD_GROUP_ID_LEN],
                           vtd_group *out)
{
    sqlite3_stmt *s = st->stmt[S_GROUP_MEMBERS];
    vtd_group_member *m;
    bool row = false;
    vt_err err;

    TRY(bind_group(s, group_id));
    for (;;) {
        TRY(step_row(s, &row));
        if (!row)
            break;
        /* vtd_store_group_put_member keeps groups within the array. */
        if (out->member_count == VTD_GROUP_MEMBERS_MAX) {
            err = VT_ERR_IO;
            goto out;
        }
        m = &out->members[out->member_count];
        m->acct = sqlite3_column_int64(s, 0);
        TRY(col_text(s, 1, m->username, VTD_USERNAME_MAX));
        m->admin = sqlite3_column_int(s, 2) != 0;
        out->member_count++;
    }
out:
    done(s);
    return err;
}

vt_err vtd_store_group_get(vtd_store *st, const uint8_t group_id[VTD_GROUP_ID_LEN],
                           vtd_group *out)
{
    sqlite3_stmt *s;
    vt_err bound, err;

    if (st == NULL || group_id == NULL || out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    s = st->stmt[S_GROUP_REVISION];
    bound = bind_group(s, group_id);
    err = query_u64(s, bound, VT_ERR_NOT_FOUND, &out->revision);
    if (err == VT_OK) {
        memcpy(out->group_id, group_id, VTD_GROUP_ID_LEN);
        /* Sorted by username, bytewise (GroupInfo, spec/delivery.md 8.3). */
        err = read_members(st, group_id, out);
    }
    if (err != VT_OK)
        memset(out, 0, sizeof(*out));
    return err;
}

vt_err vtd_store_group_put_member(vtd_store *st, const uint8_t group_id[VTD_GROUP_ID_LEN],
                                  vtd_account_id acct, bool admin)
{
    sqlite3_stmt *s;
    bool group, account, member;
    int64_t members;
    vt_err err;

    if (st == NULL || group_id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = writable(st);
    if (err != VT_OK)
        return err;
    s = st->stmt[S_MEMBER_STATE];
    TRY(bind_member(s, group_id, acct));
    TRY(step_one(s, VT_ERR_IO));
    group = sqlite3_column_int64(s, 0) != 0;
    account = sqlite3_column_int64(s, 1) != 0;
    members = sqlite3_column_int64(s, 2);
    member = sqlite3_column_int64(s, 3) != 0;
    done(s);
    if (!group || !account) {
        err = VT_ERR_NOT_FOUND;
        goto out;
    }
    /* A vtd_group holds VTD_GROUP_MEMBERS_MAX members (MAX_GROUP_MEMBERS,
     * checked by the caller first, DELIV-101). */
    if (!member && members >= VTD_GROUP_MEMBERS_MAX) {
        err = VT_ERR_LIMIT_EXCEEDED;
        goto out;
    }
    s = st->stmt[S_MEMBER_PUT];
    TRY(bind_member(s, group_id, acct));
    TRY(bind_i64(s, 3, admin));
    err = run_write(st, s, VT_ERR_NOT_FOUND, NULL);
out:
    done(s);
    return err;
}

vt_err vtd_store_group_remove_member(vtd_store *st,
                                     const uint8_t group_id[VTD_GROUP_ID_LEN],
                                     vtd_account_id acct)
{
    sqlite3_stmt *s;
    vt_err bound;

    if (st == NULL || group_id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    s = st->stmt[S_MEMBER_REMOVE];
    bound = bind_member(s, group_id, acct);
    return exec_write(st, s, bound, NULL);
}

vt_err vtd_store_group_set_revision(vtd_store *st,
                                    const uint8_t group_id[VTD_GROUP_ID_LEN],
                                    uint64_t revision)
{
    int64_t changes = 0;
    vt_err err;

    if (st == NULL || group_id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = write_revision(st, S_GROUP_SET_REVISION, group_id, revision, &changes);
    if (err == VT_OK && changes != 1)
        err = VT_ERR_NOT_FOUND;
    return err;
}

vt_err vtd_store_group_delete(vtd_store *st, const uint8_t group_id[VTD_GROUP_ID_LEN])
{
    sqlite3_stmt *s;
    vt_err bound;

    if (st == NULL || group_id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* Memberships by ON DELETE CASCADE. */
    s = st->stmt[S_GROUP_DELETE];
    bound = bind_group(s, group_id);
    return exec_write(st, s, bound, NULL);
}

/* A row_reader for read_list: |out| is an array of group ids. */
static vt_err group_id_row(sqlite3_stmt *s, void *out, size_t i)
{
    uint8_t(*ids)[VTD_GROUP_ID_LEN] = out;

    return col_fixed(s, 0, ids[i], VTD_GROUP_ID_LEN);
}

vt_err vtd_store_groups_of(vtd_store *st, vtd_account_id acct,
                           uint8_t (*out)[VTD_GROUP_ID_LEN], size_t cap, size_t *n)
{
    sqlite3_stmt *s;
    vt_err err;

    if (st == NULL || (out == NULL && cap > 0) || n == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* DELIV-105: a BLOB index sorts with memcmp, so bytewise. */
    s = st->stmt[S_GROUPS_OF];
    TRY(bind_i64(s, 1, acct));
    err = read_list(s, group_id_row, out, cap, n);
out:
    done(s);
    return err;
}

vt_err vtd_store_group_count_of(vtd_store *st, vtd_account_id acct, uint32_t *count)
{
    uint64_t n = 0;
    vt_err err;

    if (st == NULL || count == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* count(*) always gives its one row. */
    err = account_u64(st, S_GROUP_COUNT_OF, acct, VT_ERR_IO, &n);
    *count = (uint32_t)n;
    return err;
}
