/* Tests of the SQLite store (server/src/store/store_sqlite.c) against
 * store.h: batches and operations (DELIV-2, DELIV-3), seqs and queue
 * counters (DELIV-40, DELIV-50, DELIV-51, DELIV-61, DELIV-70 to DELIV-72),
 * device ids and token revocation (AUTH-3, AUTH-52, AUTH-93), prekeys
 * (WIRE-310), idempotency records and groups (spec/delivery.md 8.3). Each
 * test gets a fresh directory under /tmp; the file is inspected and edited
 * with plain sqlite3 where the store offers no way. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"

struct fixture {
    char dir[64];
    vtd_store *st;
};

/* ---- Helpers ------------------------------------------------------------ */

static void path_of(char *out, size_t cap, const char *dir, const char *file)
{
    int len = snprintf(out, cap, "%s/%s", dir, file);
    assert_true(len > 0 && (size_t)len < cap);
}

/* Removes a test directory with the files the store makes in it. */
static int remove_dir(const char *dir)
{
    static const char *const files[] = {"ventra.db", "ventra.db-wal", "ventra.db-shm"};
    char path[128];
    size_t i;

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        path_of(path, sizeof(path), dir, files[i]);
        (void)unlink(path); /* each may be absent */
    }
    return rmdir(dir);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    strcpy(fx->dir, "/tmp/vtd_store_test_XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    if (vtd_store_open(&fx->st, fx->dir) != VT_OK) {
        (void)remove_dir(fx->dir); /* the open failed already */
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    int rc;

    vtd_store_close(fx->st);
    rc = remove_dir(fx->dir);
    free(fx);
    return rc == 0 ? 0 : -1;
}

static void reopen(struct fixture *fx)
{
    vtd_store_close(fx->st);
    fx->st = NULL;
    assert_int_equal(vtd_store_open(&fx->st, fx->dir), VT_OK);
}

/* A plain sqlite3 connection to the store's file. */
static sqlite3 *raw_open(const char *dir)
{
    char path[128];
    sqlite3 *db = NULL;

    path_of(path, sizeof(path), dir, "ventra.db");
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    return db;
}

static void raw_exec(const char *dir, const char *sql)
{
    sqlite3 *db = raw_open(dir);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The one integer |sql| answers. */
static int64_t raw_int(const char *dir, const char *sql)
{
    sqlite3 *db = raw_open(dir);
    sqlite3_stmt *s = NULL;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    assert_int_equal(sqlite3_finalize(s), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return v;
}

static void begin(vtd_store *st)
{
    assert_int_equal(vtd_store_op_begin(st), VT_OK);
}

static void end(vtd_store *st, bool keep)
{
    assert_int_equal(vtd_store_op_end(st, keep), VT_OK);
}

/* Ends the operation, keeping it, and flushes the batch. */
static void commit(vtd_store *st)
{
    end(st, true);
    assert_int_equal(vtd_store_flush(st), VT_OK);
}

static const uint8_t *key_of(uint8_t fill)
{
    static uint8_t keys[256][VTD_KEY_LEN];
    memset(keys[fill], fill, VTD_KEY_LEN);
    return keys[fill];
}

static vtd_account_id make_account(vtd_store *st, const char *name)
{
    vtd_account_id id = 0;

    begin(st);
    assert_int_equal(
        vtd_store_account_create(st, name, key_of((uint8_t)name[0]), "phone", 1000, &id),
        VT_OK);
    commit(st);
    return id;
}

/* Adds a pending device and activates it. */
static uint32_t add_device(vtd_store *st, vtd_account_id acct, uint8_t key)
{
    uint32_t id = 0;

    begin(st);
    assert_int_equal(
        vtd_store_device_add_pending(st, acct, key_of(key), "laptop", 2000, 2600, &id),
        VT_OK);
    assert_int_equal(vtd_store_device_activate(st, acct, id), VT_OK);
    commit(st);
    return id;
}

static vtd_message message(uint64_t time_ms, const char *content)
{
    vtd_message m;

    memset(&m, 0, sizeof(m));
    m.sender = "bob";
    m.sender_device = 1;
    memset(m.message_id, (int)(time_ms & 0xff), sizeof(m.message_id));
    m.type = 1;
    m.content = (const uint8_t *)content;
    m.content_len = strlen(content);
    m.server_time_ms = time_ms;
    m.recipient = "alice";
    return m;
}

/* Pushes one message in its own operation and batch; returns its seq. */
static uint64_t push(vtd_store *st, vtd_account_id acct, uint32_t dev, uint64_t time_ms)
{
    vtd_message m = message(time_ms, "hello");
    uint64_t seq = 0;

    begin(st);
    assert_int_equal(vtd_store_queue_push(st, acct, dev, &m, &seq), VT_OK);
    commit(st);
    return seq;
}

static uint64_t depth_of(vtd_store *st, vtd_account_id acct, uint32_t dev)
{
    uint64_t depth = UINT64_MAX;
    assert_int_equal(vtd_store_queue_depth(st, acct, dev, &depth), VT_OK);
    return depth;
}

static uint64_t total_of(vtd_store *st)
{
    uint64_t total = UINT64_MAX;
    assert_int_equal(vtd_store_queue_total(st, &total), VT_OK);
    return total;
}

/* What a vtd_store_queue_read callback saw. */
struct seen {
    size_t calls;
    size_t stop_after; /* return false at this call; 0: never */
    uint64_t seqs[64];
    vtd_message first;
    char sender[VTD_USERNAME_MAX + 1];
    char recipient[VTD_USERNAME_MAX + 1];
    uint8_t content[64];
};

static bool collect(void *ud, const vtd_message *m)
{
    struct seen *s = ud;

    assert_true(s->calls < 64);
    /* Pointers are valid during the callback only: copy. */
    if (s->calls == 0) {
        s->first = *m;
        assert_true(strlen(m->sender) <= VTD_USERNAME_MAX);
        strcpy(s->sender, m->sender);
        strcpy(s->recipient, m->recipient);
        assert_true(m->content_len <= sizeof(s->content));
        assert_non_null(m->content);
        memcpy(s->content, m->content, m->content_len);
        s->first.sender = s->first.recipient = NULL;
        s->first.content = NULL;
    }
    s->seqs[s->calls++] = m->seq;
    return s->stop_after == 0 || s->calls < s->stop_after;
}

static size_t read_queue(vtd_store *st, vtd_account_id acct, uint32_t dev, uint64_t after,
                         uint64_t min_time, size_t max, struct seen *s)
{
    size_t n = SIZE_MAX;

    assert_int_equal(
        vtd_store_queue_read(st, acct, dev, after, min_time, max, collect, s, &n), VT_OK);
    assert_int_equal(n, s->calls);
    return n;
}

static uint32_t otk_count(vtd_store *st, vtd_account_id acct, uint32_t dev)
{
    uint32_t count = UINT32_MAX;
    assert_int_equal(vtd_store_one_time_prekey_count(st, acct, dev, &count), VT_OK);
    return count;
}

static bool token_ok(vtd_store *st, const uint8_t *jti, vtd_account_id acct, uint32_t dev)
{
    bool valid = true;
    assert_int_equal(vtd_store_token_valid(st, jti, acct, dev, &valid), VT_OK);
    return valid;
}

static bool issued(vtd_store *st, vtd_account_id acct, uint32_t dev)
{
    bool is = false;
    assert_int_equal(vtd_store_device_issued(st, acct, dev, &is), VT_OK);
    return is;
}

static void group_id_of(uint8_t out[VTD_GROUP_ID_LEN], uint8_t first, uint8_t rest)
{
    memset(out, rest, VTD_GROUP_ID_LEN);
    out[0] = first;
}

/* ---- Life cycle ----------------------------------------------------------- */

static void test_open_creates_schema(void **state)
{
    struct fixture *fx = *state;
    vtd_store *sentinel = (vtd_store *)&fx;
    vtd_store *out = sentinel;
    char path[128];
    FILE *f;

    assert_int_equal(vtd_store_schema_version(fx->st), 2);
    assert_int_equal(raw_int(fx->dir, "PRAGMA user_version"), 2);
    /* WAL is a property of the file and outlives the connection. */
    {
        sqlite3 *db = raw_open(fx->dir);
        sqlite3_stmt *s = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
        assert_int_equal(sqlite3_finalize(s), SQLITE_OK);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
    }
    reopen(fx);
    assert_int_equal(vtd_store_schema_version(fx->st), 2);

    /* No such directory: VT_ERR_IO, *out untouched. */
    assert_int_equal(vtd_store_open(&out, "/nonexistent/vtd_store_test"), VT_ERR_IO);
    assert_ptr_equal(out, sentinel);
    assert_int_equal(vtd_store_open(NULL, fx->dir), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_store_open(&out, NULL), VT_ERR_INVALID_ARGUMENT);
    assert_ptr_equal(out, sentinel);

    /* A file that is not a database. */
    vtd_store_close(fx->st);
    fx->st = NULL;
    path_of(path, sizeof(path), fx->dir, "ventra.db");
    assert_int_equal(unlink(path), 0);
    path_of(path, sizeof(path), fx->dir, "ventra.db-wal");
    (void)unlink(path);
    path_of(path, sizeof(path), fx->dir, "ventra.db-shm");
    (void)unlink(path);
    path_of(path, sizeof(path), fx->dir, "ventra.db");
    f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(fputc(0x5a, f), 0x5a);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(vtd_store_open(&out, fx->dir), VT_ERR_IO);
    assert_ptr_equal(out, sentinel);
    assert_int_equal(unlink(path), 0);
    /* The fixture's teardown needs a store; a fresh one. */
    assert_int_equal(vtd_store_open(&fx->st, fx->dir), VT_OK);

    vtd_store_close(NULL);
    assert_int_equal(vtd_store_schema_version(NULL), 0);
    assert_int_equal(vtd_store_batch_ops(NULL), 0);
}

static void test_open_refuses_newer_schema(void **state)
{
    struct fixture *fx = *state;
    vtd_store *sentinel = (vtd_store *)&fx;
    vtd_store *out = sentinel;
    vtd_account_id id = make_account(fx->st, "alice"), found = 0;

    vtd_store_close(fx->st);
    fx->st = NULL;
    raw_exec(fx->dir, "PRAGMA user_version = 3");
    assert_int_equal(vtd_store_open(&out, fx->dir), VT_ERR_CONFIG);
    assert_ptr_equal(out, sentinel);
    /* Nothing was changed: still version 3, and still openable at 2. */
    assert_int_equal(raw_int(fx->dir, "PRAGMA user_version"), 3);
    raw_exec(fx->dir, "PRAGMA user_version = 2");
    assert_int_equal(vtd_store_open(&fx->st, fx->dir), VT_OK);
    assert_int_equal(vtd_store_account_find(fx->st, "alice", &found), VT_OK);
    assert_int_equal(found, id);
}

/* ---- Operations and batches --------------------------------------------- */

static void test_writes_need_an_operation(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice"), id = 0;
    uint8_t jti[VTD_JTI_LEN] = {1};
    uint8_t gid[VTD_GROUP_ID_LEN] = {7};
    vtd_signed_prekey spk = {.id = 1};
    vtd_one_time_prekey otk = {.id = 1};
    vtd_message m = message(5, "x");
    vtd_dedup rec = {.recipient = "bob"};
    uint64_t seq = 0, seqs[1] = {1}, n64 = 0;
    uint32_t dev = 0, deleted = 0;
    size_t n = 0;
    bool flag = false;

    assert_int_equal(vtd_store_account_create(st, "bob", key_of(2), "", 1, &id),
                     VT_ERR_STATE);
    assert_int_equal(vtd_store_account_delete(st, a), VT_ERR_STATE);
    assert_int_equal(vtd_store_device_add_pending(st, a, key_of(3), "", 1, 2, &dev),
                     VT_ERR_STATE);
    assert_int_equal(vtd_store_device_activate(st, a, 1), VT_ERR_STATE);
    assert_int_equal(vtd_store_device_remove(st, a, 1), VT_ERR_STATE);
    assert_int_equal(vtd_store_devices_expire(st, 10, &n), VT_ERR_STATE);
    assert_int_equal(vtd_store_token_add(st, jti, a, 1, 10), VT_ERR_STATE);
    assert_int_equal(vtd_store_tokens_expire(st, 10), VT_ERR_STATE);
    assert_int_equal(vtd_store_signed_prekey_set(st, a, 1, false, &spk), VT_ERR_STATE);
    assert_int_equal(vtd_store_one_time_prekey_add(st, a, 1, &otk, &flag), VT_ERR_STATE);
    assert_int_equal(vtd_store_one_time_prekey_take(st, a, 1, &otk, &flag), VT_ERR_STATE);
    assert_int_equal(vtd_store_queue_push(st, a, 1, &m, &seq), VT_ERR_STATE);
    assert_int_equal(vtd_store_queue_delete(st, a, 1, seqs, 1, &deleted), VT_ERR_STATE);
    assert_int_equal(vtd_store_queue_expire(st, 10, &n64), VT_ERR_STATE);
    assert_int_equal(vtd_store_dedup_put(st, a, jti, &rec), VT_ERR_STATE);
    assert_int_equal(vtd_store_dedup_expire(st, 10), VT_ERR_STATE);
    assert_int_equal(vtd_store_group_create(st, gid, 1), VT_ERR_STATE);
    assert_int_equal(vtd_store_group_put_member(st, gid, a, true), VT_ERR_STATE);
    assert_int_equal(vtd_store_group_remove_member(st, gid, a), VT_ERR_STATE);
    assert_int_equal(vtd_store_group_set_revision(st, gid, 2), VT_ERR_STATE);
    assert_int_equal(vtd_store_group_delete(st, gid), VT_ERR_STATE);

    /* Nothing of it happened. */
    assert_int_equal(vtd_store_account_find(st, "bob", &id), VT_ERR_NOT_FOUND);
    assert_true(issued(st, a, 1));
    assert_false(issued(st, a, 2));
    assert_int_equal(depth_of(st, a, 1), 0);
    assert_int_equal(vtd_store_batch_ops(st), 0);

    /* The state machine of operations. */
    assert_int_equal(vtd_store_op_end(st, true), VT_ERR_STATE);
    assert_int_equal(vtd_store_op_end(st, false), VT_ERR_STATE);
    assert_int_equal(vtd_store_flush(st), VT_OK); /* nothing open */
    begin(st);
    assert_int_equal(vtd_store_op_begin(st), VT_ERR_STATE);
    assert_int_equal(vtd_store_flush(st), VT_ERR_STATE);
    assert_int_equal(vtd_store_batch_ops(st), 0);
    end(st, true);
    assert_int_equal(vtd_store_batch_ops(st), 1);
    assert_int_equal(vtd_store_op_end(st, true), VT_ERR_STATE);
    assert_int_equal(vtd_store_flush(st), VT_OK);
    assert_int_equal(vtd_store_batch_ops(st), 0);
    assert_int_equal(vtd_store_op_begin(NULL), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_store_op_end(NULL, true), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_store_flush(NULL), VT_ERR_INVALID_ARGUMENT);
}

static void test_rolled_back_operation_undoes_only_itself(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice"), id = 0, carol = 0;
    vtd_message m = message(5, "x");
    uint64_t seq = 0;

    begin(st);
    assert_int_equal(vtd_store_queue_push(st, a, 1, &m, &seq), VT_OK);
    assert_int_equal(seq, 1);
    end(st, true);

    begin(st);
    assert_int_equal(vtd_store_account_create(st, "bob", key_of(2), "", 1, &id), VT_OK);
    assert_int_equal(vtd_store_queue_push(st, a, 1, &m, &seq), VT_OK);
    assert_int_equal(seq, 2);
    /* Reads see the operation's own writes. */
    assert_int_equal(depth_of(st, a, 1), 2);
    end(st, false);

    begin(st);
    assert_int_equal(vtd_store_account_create(st, "carol", key_of(3), "", 1, &carol),
                     VT_OK);
    end(st, true);
    assert_int_equal(vtd_store_batch_ops(st), 2);

    /* Before the flush the batch is visible to the store itself. */
    assert_int_equal(vtd_store_account_find(st, "bob", &id), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_account_find(st, "carol", &id), VT_OK);
    assert_int_equal(depth_of(st, a, 1), 1);
    assert_int_equal(vtd_store_flush(st), VT_OK);

    reopen(fx);
    st = fx->st;
    assert_int_equal(vtd_store_account_find(st, "bob", &id), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_account_find(st, "carol", &id), VT_OK);
    assert_int_equal(id, carol);
    assert_int_equal(depth_of(st, a, 1), 1);
    assert_int_equal(total_of(st), 1);
    assert_int_equal(raw_int(fx->dir, "SELECT count(*) FROM queue"), 1);
    /* The rolled-back seq 2 was never durable; the next one follows 1. */
    assert_int_equal(push(st, a, 1, 6), 2);
}

static void test_unflushed_batch_leaves_nothing(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice"), id = 0;
    vtd_message m = message(5, "x");
    uint64_t seq = 0;

    begin(st);
    assert_int_equal(vtd_store_account_create(st, "bob", key_of(2), "", 1, &id), VT_OK);
    assert_int_equal(vtd_store_queue_push(st, a, 1, &m, &seq), VT_OK);
    end(st, true);
    assert_int_equal(vtd_store_batch_ops(st), 1);
    assert_int_equal(vtd_store_account_find(st, "bob", &id), VT_OK);

    reopen(fx); /* closes without flush */
    st = fx->st;
    assert_int_equal(vtd_store_account_find(st, "bob", &id), VT_ERR_NOT_FOUND);
    assert_int_equal(depth_of(st, a, 1), 0);
    assert_int_equal(vtd_store_account_find(st, "alice", &id), VT_OK);
    assert_int_equal(id, a);

    /* Closing inside an open operation rolls back as well. */
    begin(st);
    assert_int_equal(vtd_store_account_create(st, "carol", key_of(3), "", 1, &id), VT_OK);
    reopen(fx);
    assert_int_equal(vtd_store_account_find(fx->st, "carol", &id), VT_ERR_NOT_FOUND);
}

static void test_batch_holds_the_write_lock(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id id = 0;
    sqlite3 *db = raw_open(fx->dir);

    /* BEGIN IMMEDIATE: from op_begin on, no one else can write. */
    begin(st);
    assert_int_equal(vtd_store_account_create(st, "alice", key_of(1), "", 1, &id), VT_OK);
    end(st, true);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_BUSY);
    /* Others see nothing of an unflushed batch. */
    assert_int_equal(raw_int(fx->dir, "SELECT count(*) FROM accounts"), 0);
    assert_int_equal(vtd_store_flush(st), VT_OK);
    assert_int_equal(raw_int(fx->dir, "SELECT count(*) FROM accounts"), 1);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);

    /* A batch whose only operation was undone holds nothing: it ends. */
    begin(st);
    assert_int_equal(vtd_store_account_create(st, "bob", key_of(2), "", 1, &id), VT_OK);
    end(st, false);
    assert_int_equal(vtd_store_batch_ops(st), 0);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(vtd_store_flush(st), VT_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(vtd_store_account_find(st, "bob", &id), VT_ERR_NOT_FOUND);
}

static void test_flushed_batch_survives_reopen(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = 0, b = 0, id = 0;
    vtd_message m = message(5, "x");
    uint64_t seq = 0;
    uint8_t gid[VTD_GROUP_ID_LEN] = {9};
    vtd_group g;

    /* Several operations in one batch, one flush. */
    begin(st);
    assert_int_equal(vtd_store_account_create(st, "alice", key_of(1), "a", 1, &a), VT_OK);
    end(st, true);
    begin(st);
    assert_int_equal(vtd_store_account_create(st, "bob", key_of(2), "b", 1, &b), VT_OK);
    assert_int_equal(vtd_store_queue_push(st, a, 1, &m, &seq), VT_OK);
    assert_int_equal(vtd_store_group_create(st, gid, 1), VT_OK);
    assert_int_equal(vtd_store_group_put_member(st, gid, b, true), VT_OK);
    end(st, true);
    assert_int_equal(vtd_store_batch_ops(st), 2);
    assert_int_equal(vtd_store_flush(st), VT_OK);
    assert_int_equal(vtd_store_batch_ops(st), 0);

    reopen(fx);
    st = fx->st;
    assert_int_equal(vtd_store_account_find(st, "alice", &id), VT_OK);
    assert_int_equal(id, a);
    assert_int_equal(vtd_store_account_find(st, "bob", &id), VT_OK);
    assert_int_equal(id, b);
    assert_int_equal(depth_of(st, a, 1), 1);
    assert_int_equal(vtd_store_group_get(st, gid, &g), VT_OK);
    assert_int_equal(g.member_count, 1);
    assert_int_equal(g.members[0].acct, b);
}

/* ---- Accounts and devices ------------------------------------------------- */

static void test_accounts(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    char name[VTD_USERNAME_MAX + 1];
    char longest[VTD_USERNAME_MAX + 2];
    char dev_name[VTD_DEVICE_NAME_MAX + 2];
    vtd_account_id a = 0, id = -1;
    vtd_device d;

    begin(st);
    assert_int_equal(vtd_store_account_create(st, "alice", key_of(1), "phone", 1234, &a),
                     VT_OK);
    id = 77;
    assert_int_equal(vtd_store_account_create(st, "alice", key_of(2), "", 1, &id),
                     VT_ERR_ALREADY_EXISTS);
    assert_int_equal(id, 77);
    /* The failed create did not spoil the operation. */
    commit(st);

    assert_int_equal(vtd_store_account_find(st, "alice", &id), VT_OK);
    assert_int_equal(id, a);
    assert_int_equal(vtd_store_account_find(st, "alicE", &id), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_account_find(st, "alic", &id), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_account_name(st, a, name), VT_OK);
    assert_string_equal(name, "alice");
    assert_int_equal(vtd_store_account_name(st, a + 1000, name), VT_ERR_NOT_FOUND);

    /* Device 1, active, as created. */
    assert_int_equal(vtd_store_device_get(st, a, 1, &d), VT_OK);
    assert_int_equal(d.device_id, 1);
    assert_memory_equal(d.identity_key, key_of(1), VTD_KEY_LEN);
    assert_string_equal(d.name, "phone");
    assert_int_equal(d.created_at, 1234);
    assert_int_equal(d.expires_at, 0);
    assert_true(d.active);
    assert_true(issued(st, a, 1));
    assert_false(issued(st, a, 2));

    /* The longest username and device name; one byte more is refused. */
    memset(longest, 'z', sizeof(longest));
    longest[VTD_USERNAME_MAX] = '\0';
    memset(dev_name, 'n', sizeof(dev_name));
    dev_name[VTD_DEVICE_NAME_MAX] = '\0';
    begin(st);
    assert_int_equal(vtd_store_account_create(st, longest, key_of(3), dev_name, 1, &id),
                     VT_OK);
    longest[VTD_USERNAME_MAX] = 'z';
    longest[VTD_USERNAME_MAX + 1] = '\0';
    assert_int_equal(vtd_store_account_create(st, longest, key_of(3), "", 1, &id),
                     VT_ERR_INVALID_ARGUMENT);
    dev_name[VTD_DEVICE_NAME_MAX] = 'n';
    dev_name[VTD_DEVICE_NAME_MAX + 1] = '\0';
    assert_int_equal(vtd_store_account_create(st, "carol", key_of(3), dev_name, 1, &id),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_store_account_create(st, "carol", NULL, "", 1, &id),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        vtd_store_account_create(st, "carol", key_of(3), "", UINT64_MAX, &id),
        VT_ERR_INVALID_ARGUMENT);
    commit(st);
    longest[VTD_USERNAME_MAX] = '\0';
    assert_int_equal(vtd_store_account_find(st, longest, &id), VT_OK);
    assert_int_equal(vtd_store_account_name(st, id, name), VT_OK);
    assert_string_equal(name, longest);
    assert_int_equal(vtd_store_device_get(st, id, 1, &d), VT_OK);
    assert_int_equal(strlen(d.name), VTD_DEVICE_NAME_MAX);
    assert_int_equal(vtd_store_account_find(st, "carol", &id), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_account_find(st, NULL, &id), VT_ERR_INVALID_ARGUMENT);
}

static void test_recreated_account_is_another(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    const uint8_t jti[VTD_JTI_LEN] = {0xa1, 0xa2, 0xa3};
    vtd_account_id a1 = make_account(st, "alice"), a2 = 0, a3 = 0;

    begin(st);
    assert_int_equal(vtd_store_token_add(st, jti, a1, 1, 5000), VT_OK);
    commit(st);
    assert_true(token_ok(st, jti, a1, 1));

    begin(st);
    assert_int_equal(vtd_store_account_delete(st, a1), VT_OK);
    commit(st);
    assert_false(token_ok(st, jti, a1, 1));

    /* alice was the newest account: without AUTOINCREMENT her id would
     * come back. AUTH-52: the old token names the new account's device 1
     * and must still fail. */
    a2 = make_account(st, "alice");
    assert_int_not_equal(a2, a1);
    assert_false(token_ok(st, jti, a2, 1));
    assert_false(token_ok(st, jti, a1, 1));
    assert_true(issued(st, a2, 1));
    assert_false(issued(st, a2, 2));
    assert_false(issued(st, a1, 1));

    /* Not even across a restart. */
    begin(st);
    assert_int_equal(vtd_store_account_delete(st, a2), VT_OK);
    commit(st);
    reopen(fx);
    a3 = make_account(fx->st, "alice");
    assert_int_not_equal(a3, a1);
    assert_int_not_equal(a3, a2);
    assert_false(token_ok(fx->st, jti, a3, 1));
}

static void test_account_delete_removes_everything(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice"), b = make_account(st, "bob"), id;
    uint32_t a2 = add_device(st, a, 0x22);
    const uint8_t jti[VTD_JTI_LEN] = {0x31}, jti2[VTD_JTI_LEN] = {0x32};
    const uint8_t mid[VTD_MESSAGE_ID_LEN] = {0x41};
    uint8_t gid[VTD_GROUP_ID_LEN];
    vtd_signed_prekey spk = {.id = 3}, got;
    vtd_one_time_prekey otk = {.id = 4};
    vtd_dedup rec = {.recipient = "bob", .accepted_ms = 100}, drec;
    vtd_message m = message(50, "from alice");
    vtd_device d;
    vtd_group g;
    struct seen seen = {0};
    uint64_t seq = 0;
    size_t n = 99;
    bool flag = true;

    group_id_of(gid, 1, 0);
    m.sender = "alice";
    m.recipient = "bob";
    begin(st);
    assert_int_equal(vtd_store_token_add(st, jti, a, 1, 9000), VT_OK);
    assert_int_equal(vtd_store_token_add(st, jti2, a, a2, 9000), VT_OK);
    assert_int_equal(vtd_store_signed_prekey_set(st, a, a2, false, &spk), VT_OK);
    assert_int_equal(vtd_store_signed_prekey_set(st, a, a2, true, &spk), VT_OK);
    assert_int_equal(vtd_store_one_time_prekey_add(st, a, 1, &otk, &flag), VT_OK);
    assert_true(flag);
    assert_int_equal(vtd_store_queue_push(st, a, 1, &m, &seq), VT_OK);
    assert_int_equal(vtd_store_queue_push(st, a, a2, &m, &seq), VT_OK);
    assert_int_equal(vtd_store_queue_push(st, b, 1, &m, &seq), VT_OK); /* alice -> bob */
    assert_int_equal(vtd_store_dedup_put(st, a, mid, &rec), VT_OK);
    assert_int_equal(vtd_store_dedup_put(st, b, mid, &rec), VT_OK);
    assert_int_equal(vtd_store_group_create(st, gid, 1), VT_OK);
    assert_int_equal(vtd_store_group_put_member(st, gid, a, true), VT_OK);
    assert_int_equal(vtd_store_group_put_member(st, gid, b, false), VT_OK);
    commit(st);
    assert_int_equal(total_of(st), 3);

    begin(st);
    assert_int_equal(vtd_store_account_delete(st, a), VT_OK);
    assert_int_equal(vtd_store_account_delete(st, a), VT_OK); /* absent: fine */
    assert_int_equal(vtd_store_account_delete(st, 424242), VT_OK);
    commit(st);

    assert_int_equal(vtd_store_account_find(st, "alice", &id), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_device_get(st, a, 1, &d), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_device_get(st, a, a2, &d), VT_ERR_NOT_FOUND);
    assert_false(token_ok(st, jti, a, 1));
    assert_false(token_ok(st, jti2, a, a2));
    assert_int_equal(vtd_store_signed_prekey_get(st, a, a2, false, &got, &flag), VT_OK);
    assert_false(flag);
    assert_int_equal(otk_count(st, a, 1), 0);
    assert_int_equal(depth_of(st, a, 1), 0);
    assert_int_equal(depth_of(st, a, a2), 0);
    assert_int_equal(vtd_store_dedup_get(st, a, mid, 0, &drec, &flag), VT_OK);
    assert_false(flag);
    assert_int_equal(vtd_store_groups_of(st, a, NULL, 0, &n), VT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(vtd_store_group_get(st, gid, &g), VT_OK);
    assert_int_equal(g.member_count, 1);
    assert_int_equal(g.members[0].acct, b);
    assert_false(g.members[0].admin); /* DELIV-104 is the caller's */

    /* Nothing of alice's is left in any table. */
    assert_int_equal(raw_int(fx->dir, "SELECT (SELECT count(*) FROM devices) +"
                                      " (SELECT count(*) FROM tokens) +"
                                      " (SELECT count(*) FROM signed_prekeys) +"
                                      " (SELECT count(*) FROM one_time_prekeys) +"
                                      " (SELECT count(*) FROM queue) +"
                                      " (SELECT count(*) FROM dedup) +"
                                      " (SELECT count(*) FROM group_members)"),
                     1 + 0 + 0 + 0 + 1 + 1 + 1);

    /* DELIV-71: what alice sent bob stays, and bob's record too. */
    assert_int_equal(total_of(st), 1);
    assert_int_equal(read_queue(st, b, 1, 0, 0, 10, &seen), 1);
    assert_string_equal(seen.sender, "alice");
    assert_int_equal(vtd_store_dedup_get(st, b, mid, 0, &drec, &flag), VT_OK);
    assert_true(flag);
}

static void test_pending_devices(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice");
    vtd_device list[4], d;
    uint32_t id2 = 0, id3 = 0, id = 0;
    size_t n = 0;

    begin(st);
    assert_int_equal(
        vtd_store_device_add_pending(st, a, key_of(2), "tablet", 100, 200, &id2), VT_OK);
    assert_int_equal(vtd_store_device_add_pending(st, a, key_of(3), "", 110, 300, &id3),
                     VT_OK);
    id = 55;
    assert_int_equal(vtd_store_device_add_pending(st, a + 99, key_of(4), "", 1, 2, &id),
                     VT_ERR_NOT_FOUND);
    assert_int_equal(id, 55);
    commit(st);
    assert_int_equal(id2, 2);
    assert_int_equal(id3, 3);

    assert_int_equal(vtd_store_device_get(st, a, 2, &d), VT_OK);
    assert_false(d.active);
    assert_int_equal(d.expires_at, 200);
    assert_int_equal(d.created_at, 100);
    assert_string_equal(d.name, "tablet");
    assert_memory_equal(d.identity_key, key_of(2), VTD_KEY_LEN);

    /* Active ones only. */
    assert_int_equal(vtd_store_devices_list(st, a, false, 150, list, 4, &n), VT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].device_id, 1);
    /* With pending ones not lapsed, in increasing id. */
    assert_int_equal(vtd_store_devices_list(st, a, true, 150, list, 4, &n), VT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].device_id, 1);
    assert_int_equal(list[1].device_id, 2);
    assert_int_equal(list[2].device_id, 3);
    assert_false(list[1].active);
    assert_int_equal(list[2].expires_at, 300);
    /* expires_at <= now has lapsed. */
    assert_int_equal(vtd_store_devices_list(st, a, true, 200, list, 4, &n), VT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[1].device_id, 3);
    assert_int_equal(vtd_store_devices_list(st, a, true, 300, list, 4, &n), VT_OK);
    assert_int_equal(n, 1);
    /* A lapsed device not yet expired is still there to get. */
    assert_int_equal(vtd_store_device_get(st, a, 2, &d), VT_OK);

    /* Too small: the number needed, the first ones filled. */
    memset(list, 0, sizeof(list));
    assert_int_equal(vtd_store_devices_list(st, a, true, 150, list, 2, &n),
                     VT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].device_id, 1);
    assert_int_equal(list[1].device_id, 2);
    assert_int_equal(vtd_store_devices_list(st, a, true, 150, NULL, 0, &n),
                     VT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 3);
    assert_int_equal(vtd_store_devices_list(st, a, false, 150, list, 1, &n), VT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(vtd_store_devices_list(st, a + 99, true, 0, NULL, 0, &n), VT_OK);
    assert_int_equal(n, 0);

    /* Activation: listed without with_pending, expires_at cleared. */
    begin(st);
    assert_int_equal(vtd_store_device_activate(st, a, 3), VT_OK);
    assert_int_equal(vtd_store_device_activate(st, a, 3), VT_OK);
    assert_int_equal(vtd_store_device_activate(st, a, 1), VT_OK);
    assert_int_equal(vtd_store_device_activate(st, a, 9), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_device_activate(st, a + 99, 1), VT_ERR_NOT_FOUND);
    commit(st);
    assert_int_equal(vtd_store_devices_list(st, a, false, 1000, list, 4, &n), VT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].device_id, 1);
    assert_int_equal(list[1].device_id, 3);
    assert_true(list[1].active);
    assert_int_equal(list[1].expires_at, 0);
    assert_int_equal(vtd_store_device_get(st, a, 9, &d), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_device_get(st, a + 99, 1, &d), VT_ERR_NOT_FOUND);
}

static void test_device_ids_never_reused(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice"), b = make_account(st, "bob");
    uint32_t id = add_device(st, a, 2);
    vtd_device d;

    assert_int_equal(id, 2);
    assert_false(issued(st, a, 0));
    assert_true(issued(st, a, 1));
    assert_true(issued(st, a, 2));
    assert_false(issued(st, a, 3));
    assert_false(issued(st, a + 99, 1));
    assert_false(issued(st, b, 2)); /* per account */

    begin(st);
    assert_int_equal(vtd_store_device_remove(st, a, 2), VT_OK);
    assert_int_equal(vtd_store_device_remove(st, a, 2), VT_OK);  /* absent */
    assert_int_equal(vtd_store_device_remove(st, a, 77), VT_OK); /* never issued */
    assert_int_equal(vtd_store_device_remove(st, a + 99, 1), VT_OK);
    commit(st);
    assert_int_equal(vtd_store_device_get(st, a, 2, &d), VT_ERR_NOT_FOUND);
    assert_true(issued(st, a, 2));
    assert_int_equal(add_device(st, a, 3), 3);
    reopen(fx);
    assert_int_equal(add_device(fx->st, a, 4), 4);
    assert_int_equal(add_device(fx->st, b, 5), 2);
}

static void test_device_ids_exhausted(void **state)
{
    struct fixture *fx = *state;
    vtd_account_id a = make_account(fx->st, "alice");
    uint32_t id = 0;
    char sql[96];

    vtd_store_close(fx->st);
    fx->st = NULL;
    assert_true(
        snprintf(sql, sizeof(sql),
                 "UPDATE accounts SET next_device_id = 4294967294 WHERE id = %lld",
                 (long long)a) < (int)sizeof(sql));
    raw_exec(fx->dir, sql);
    assert_int_equal(vtd_store_open(&fx->st, fx->dir), VT_OK);
    assert_int_equal(add_device(fx->st, a, 2), UINT32_MAX - 1);
    assert_int_equal(add_device(fx->st, a, 3), UINT32_MAX);
    assert_true(issued(fx->st, a, UINT32_MAX));

    begin(fx->st);
    id = 7;
    assert_int_equal(vtd_store_device_add_pending(fx->st, a, key_of(4), "", 1, 2, &id),
                     VT_ERR_LIMIT_EXCEEDED);
    assert_int_equal(id, 7);
    /* Removing devices frees no id (AUTH-3). */
    assert_int_equal(vtd_store_device_remove(fx->st, a, UINT32_MAX), VT_OK);
    assert_int_equal(vtd_store_device_add_pending(fx->st, a, key_of(4), "", 1, 2, &id),
                     VT_ERR_LIMIT_EXCEEDED);
    commit(fx->st);
}

static void test_device_remove_takes_its_data(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice");
    uint32_t d2 = add_device(st, a, 2);
    const uint8_t jti1[VTD_JTI_LEN] = {1}, jti2[VTD_JTI_LEN] = {2};
    vtd_signed_prekey spk = {.id = 8}, got;
    vtd_one_time_prekey otk = {.id = 1};
    struct seen seen = {0};
    uint8_t pub[VTD_KEY_LEN];
    bool flag = false;
    size_t i;

    for (i = 0; i < 3; i++)
        (void)push(st, a, d2, 100 + i);
    (void)push(st, a, 1, 100);
    begin(st);
    assert_int_equal(vtd_store_token_add(st, jti1, a, 1, 500), VT_OK);
    assert_int_equal(vtd_store_token_add(st, jti2, a, d2, 500), VT_OK);
    assert_int_equal(vtd_store_signed_prekey_set(st, a, d2, false, &spk), VT_OK);
    assert_int_equal(vtd_store_signed_prekey_set(st, a, d2, true, &spk), VT_OK);
    assert_int_equal(vtd_store_one_time_prekey_add(st, a, d2, &otk, &flag), VT_OK);
    assert_int_equal(vtd_store_one_time_prekey_add(st, a, 1, &otk, &flag), VT_OK);
    commit(st);
    assert_int_equal(depth_of(st, a, d2), 3);
    assert_int_equal(total_of(st), 4);

    begin(st);
    assert_int_equal(vtd_store_device_remove(st, a, d2), VT_OK);
    commit(st);

    /* AUTH-86, DELIV-70 */
    assert_int_equal(depth_of(st, a, d2), 0);
    assert_int_equal(total_of(st), 1);
    assert_int_equal(read_queue(st, a, d2, 0, 0, 10, &seen), 0);
    assert_false(token_ok(st, jti2, a, d2));
    assert_int_equal(vtd_store_signed_prekey_get(st, a, d2, false, &got, &flag), VT_OK);
    assert_false(flag);
    assert_int_equal(vtd_store_signed_prekey_get(st, a, d2, true, &got, &flag), VT_OK);
    assert_false(flag);
    assert_int_equal(vtd_store_one_time_prekey_get(st, a, d2, 1, pub, &flag), VT_OK);
    assert_false(flag);
    assert_int_equal(otk_count(st, a, d2), 0);
    assert_int_equal(raw_int(fx->dir, "SELECT count(*) FROM queue WHERE device_id = 2"),
                     0);
    /* Device 1 keeps everything. */
    assert_int_equal(depth_of(st, a, 1), 1);
    assert_true(token_ok(st, jti1, a, 1));
    assert_int_equal(otk_count(st, a, 1), 1);
}

static void test_devices_expire(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice");
    const uint8_t jti[VTD_JTI_LEN] = {9};
    vtd_message m = message(10, "early");
    vtd_device d;
    uint32_t id = 0;
    uint64_t seq = 0;
    size_t removed = 99;

    begin(st);
    assert_int_equal(vtd_store_device_add_pending(st, a, key_of(2), "", 100, 200, &id),
                     VT_OK);
    assert_int_equal(vtd_store_device_add_pending(st, a, key_of(3), "", 100, 300, &id),
                     VT_OK);
    assert_int_equal(vtd_store_device_add_pending(st, a, key_of(4), "", 100, 250, &id),
                     VT_OK);
    assert_int_equal(vtd_store_device_activate(st, a, 4), VT_OK);
    /* Whatever a pending device holds goes with it. */
    assert_int_equal(vtd_store_queue_push(st, a, 2, &m, &seq), VT_OK);
    assert_int_equal(vtd_store_token_add(st, jti, a, 2, 900), VT_OK);
    commit(st);
    assert_int_equal(total_of(st), 1);

    begin(st);
    assert_int_equal(vtd_store_devices_expire(st, 199, &removed), VT_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(vtd_store_devices_expire(st, 200, &removed), VT_OK);
    assert_int_equal(removed, 1);
    commit(st);
    assert_int_equal(vtd_store_device_get(st, a, 2, &d), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_device_get(st, a, 3, &d), VT_OK);
    assert_true(issued(st, a, 2));
    assert_false(token_ok(st, jti, a, 2));
    assert_int_equal(total_of(st), 0);

    /* Active devices never lapse, whatever their old expires_at. */
    begin(st);
    assert_int_equal(vtd_store_devices_expire(st, 10000, NULL), VT_OK);
    commit(st);
    assert_int_equal(vtd_store_device_get(st, a, 3, &d), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_device_get(st, a, 4, &d), VT_OK);
    assert_int_equal(vtd_store_device_get(st, a, 1, &d), VT_OK);
    begin(st);
    assert_int_equal(vtd_store_devices_expire(st, 10000, &removed), VT_OK);
    assert_int_equal(removed, 0);
    commit(st);
}

/* ---- Session tokens --------------------------------------------------- */

static void test_tokens(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice"), b = make_account(st, "bob");
    uint32_t a2 = add_device(st, a, 2);
    const uint8_t t1[VTD_JTI_LEN] = {1}, t2[VTD_JTI_LEN] = {2}, t3[VTD_JTI_LEN] = {3};
    bool valid = true;

    begin(st);
    assert_int_equal(vtd_store_token_add(st, t1, a, 1, 100), VT_OK);
    assert_int_equal(vtd_store_token_add(st, t2, a, a2, 200), VT_OK);
    /* Only an existing device can hold a token. */
    assert_int_equal(vtd_store_token_add(st, t3, a, 9, 200), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_store_token_add(st, t3, a, 1, UINT64_MAX),
                     VT_ERR_INVALID_ARGUMENT);
    commit(st);

    assert_true(token_ok(st, t1, a, 1));
    assert_true(token_ok(st, t2, a, a2));
    /* Exactly this account and device. */
    assert_false(token_ok(st, t1, a, a2));
    assert_false(token_ok(st, t1, b, 1));
    assert_false(token_ok(st, t3, a, 1));
    assert_int_equal(vtd_store_token_valid(st, NULL, a, 1, &valid),
                     VT_ERR_INVALID_ARGUMENT);

    begin(st);
    assert_int_equal(vtd_store_tokens_expire(st, 99), VT_OK);
    end(st, true);
    assert_true(token_ok(st, t1, a, 1));
    begin(st);
    assert_int_equal(vtd_store_tokens_expire(st, 100), VT_OK); /* exp <= now */
    commit(st);
    assert_false(token_ok(st, t1, a, 1));
    assert_true(token_ok(st, t2, a, a2));
    reopen(fx);
    assert_false(token_ok(fx->st, t1, a, 1));
    assert_true(token_ok(fx->st, t2, a, a2));
}

/* ---- Prekeys ------------------------------------------------------------ */

static void test_signed_prekeys(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice");
    vtd_signed_prekey spk, lr, got, zero;
    bool present = true;

    memset(&zero, 0, sizeof(zero));
    memset(&got, 0xaa, sizeof(got));
    assert_int_equal(vtd_store_signed_prekey_get(st, a, 1, false, &got, &present), VT_OK);
    assert_false(present);
    assert_memory_equal(&got, &zero, sizeof(got));

    spk.id = 7;
    memset(spk.public_key, 0x17, sizeof(spk.public_key));
    memset(spk.signature, 0x27, sizeof(spk.signature));
    lr.id = 0xfffffff0u;
    memset(lr.public_key, 0x18, sizeof(lr.public_key));
    memset(lr.signature, 0x28, sizeof(lr.signature));
    begin(st);
    assert_int_equal(vtd_store_signed_prekey_set(st, a, 1, false, &spk), VT_OK);
    assert_int_equal(vtd_store_signed_prekey_set(st, a, 1, true, &lr), VT_OK);
    assert_int_equal(vtd_store_signed_prekey_set(st, a, 5, false, &spk),
                     VT_ERR_INVALID_ARGUMENT);
    commit(st);

    assert_int_equal(vtd_store_signed_prekey_get(st, a, 1, false, &got, &present), VT_OK);
    assert_true(present);
    assert_memory_equal(&got, &spk, sizeof(got));
    assert_int_equal(vtd_store_signed_prekey_get(st, a, 1, true, &got, &present), VT_OK);
    assert_true(present);
    assert_int_equal(got.id, 0xfffffff0u);
    assert_memory_equal(&got, &lr, sizeof(got));

    /* Replacing one leaves the other. */
    spk.id = 9;
    memset(spk.public_key, 0x19, sizeof(spk.public_key));
    begin(st);
    assert_int_equal(vtd_store_signed_prekey_set(st, a, 1, false, &spk), VT_OK);
    commit(st);
    reopen(fx);
    st = fx->st;
    assert_int_equal(vtd_store_signed_prekey_get(st, a, 1, false, &got, &present), VT_OK);
    assert_true(present);
    assert_int_equal(got.id, 9);
    assert_memory_equal(&got, &spk, sizeof(got));
    assert_int_equal(vtd_store_signed_prekey_get(st, a, 1, true, &got, &present), VT_OK);
    assert_memory_equal(&got, &lr, sizeof(got));
    assert_int_equal(raw_int(fx->dir, "SELECT count(*) FROM signed_prekeys"), 2);
}

static void test_one_time_prekeys(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice");
    static const uint32_t ids[] = {5, 3, UINT32_MAX, 9, 0x80000000u};
    vtd_one_time_prekey k, got;
    uint8_t pub[VTD_KEY_LEN], zero[VTD_KEY_LEN] = {0};
    bool added = false, taken = false, present = false;
    size_t i;

    begin(st);
    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        k.id = ids[i];
        memset(k.public_key, (int)(i + 1), sizeof(k.public_key));
        assert_int_equal(vtd_store_one_time_prekey_add(st, a, 1, &k, &added), VT_OK);
        assert_true(added);
    }
    /* The same id again, another key: nothing changes. */
    k.id = 3;
    memset(k.public_key, 0xee, sizeof(k.public_key));
    assert_int_equal(vtd_store_one_time_prekey_add(st, a, 1, &k, &added), VT_OK);
    assert_false(added);
    assert_int_equal(vtd_store_one_time_prekey_add(st, a, 7, &k, &added),
                     VT_ERR_INVALID_ARGUMENT);
    assert_false(added);
    commit(st);
    assert_int_equal(otk_count(st, a, 1), 5);
    assert_int_equal(otk_count(st, a, 2), 0);
    assert_int_equal(vtd_store_one_time_prekey_get(st, a, 1, 3, pub, &present), VT_OK);
    assert_true(present);
    assert_memory_equal(pub, key_of(2), VTD_KEY_LEN);
    memset(pub, 0xaa, sizeof(pub));
    assert_int_equal(vtd_store_one_time_prekey_get(st, a, 1, 4, pub, &present), VT_OK);
    assert_false(present);
    assert_memory_equal(pub, zero, VTD_KEY_LEN);

    /* A take that is undone hands the key out again. */
    begin(st);
    assert_int_equal(vtd_store_one_time_prekey_take(st, a, 1, &got, &taken), VT_OK);
    assert_true(taken);
    assert_int_equal(got.id, 5);
    assert_int_equal(otk_count(st, a, 1), 4);
    end(st, false);
    assert_int_equal(otk_count(st, a, 1), 5);

    /* WIRE-310: each once; CRYPTO-36: in upload order, not by id. */
    {
        static const uint32_t order[] = {5, 3, UINT32_MAX, 9, 0x80000000u};
        static const uint8_t fill[] = {1, 2, 3, 4, 5};
        for (i = 0; i < 5; i++) {
            begin(st);
            assert_int_equal(vtd_store_one_time_prekey_take(st, a, 1, &got, &taken),
                             VT_OK);
            commit(st);
            assert_true(taken);
            assert_int_equal(got.id, order[i]);
            assert_memory_equal(got.public_key, key_of(fill[i]), VTD_KEY_LEN);
            assert_int_equal(otk_count(st, a, 1), 4 - i);
            assert_int_equal(
                vtd_store_one_time_prekey_get(st, a, 1, order[i], pub, &present), VT_OK);
            assert_false(present);
            if (i == 1) {
                reopen(fx); /* the takes so far are durable */
                st = fx->st;
            }
        }
    }
    memset(&got, 0xaa, sizeof(got));
    begin(st);
    assert_int_equal(vtd_store_one_time_prekey_take(st, a, 1, &got, &taken), VT_OK);
    commit(st);
    assert_false(taken);
    assert_int_equal(got.id, 0);
    assert_memory_equal(got.public_key, zero, VTD_KEY_LEN);
    /* A taken id may be uploaded again. */
    begin(st);
    k.id = 3;
    assert_int_equal(vtd_store_one_time_prekey_add(st, a, 1, &k, &added), VT_OK);
    assert_true(added);
    commit(st);
    assert_int_equal(otk_count(st, a, 1), 1);
}

/* ---- Queues ------------------------------------------------------------- */

static void test_seqs_never_reused(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice");
    uint32_t d2 = add_device(st, a, 2);
    uint64_t seqs[3], last = 99;
    uint32_t deleted = 0;
    size_t i;

    for (i = 0; i < 3; i++)
        seqs[i] = push(st, a, 1, 100);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 2);
    assert_int_equal(seqs[2], 3);
    assert_int_equal(push(st, a, d2, 100), 1); /* per device */
    assert_int_equal(vtd_store_queue_last_seq(st, a, 1, &last), VT_OK);
    assert_int_equal(last, 3);

    begin(st);
    assert_int_equal(vtd_store_queue_delete(st, a, 1, seqs, 3, &deleted), VT_OK);
    commit(st);
    assert_int_equal(deleted, 3);
    assert_int_equal(depth_of(st, a, 1), 0);
    assert_int_equal(vtd_store_queue_last_seq(st, a, 1, &last), VT_OK);
    assert_int_equal(last, 0);
    /* DELIV-40: after the queue emptied, and after a restart. */
    assert_int_equal(push(st, a, 1, 100), 4);
    assert_int_equal(vtd_store_queue_last_seq(st, a, 1, &last), VT_OK);
    assert_int_equal(last, 4);
    begin(st);
    seqs[0] = 4;
    assert_int_equal(vtd_store_queue_delete(st, a, 1, seqs, 1, &deleted), VT_OK);
    commit(st);
    reopen(fx);
    assert_int_equal(push(fx->st, a, 1, 100), 5);
    assert_int_equal(push(fx->st, a, d2, 100), 2);
    assert_int_equal(vtd_store_queue_last_seq(fx->st, a, 9, &last), VT_OK);
    assert_int_equal(last, 0);
}

static void test_queue_push_and_read_fields(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice");
    static const uint8_t content[] = {0, 1, 2, 0xff, 0, 0x80};
    vtd_message m, bad;
    struct seen seen = {0};
    uint64_t seq = 0;

    memset(&m, 0, sizeof(m));
    m.sender = "bob";
    m.sender_device = 4000000000u;
    memset(m.message_id, 0x5c, sizeof(m.message_id));
    m.type = 2;
    m.content = content;
    m.content_len = sizeof(content);
    m.server_time_ms = 1700000000123ull;
    group_id_of(m.group_id, 0xfe, 0x11);
    m.group_id_len = VTD_GROUP_ID_LEN;
    m.recipient = "alice";
    m.seq = 777; /* ignored */
    begin(st);
    assert_int_equal(vtd_store_queue_push(st, a, 1, &m, &seq), VT_OK);
    assert_int_equal(seq, 1);
    commit(st);
    reopen(fx);
    st = fx->st;

    assert_int_equal(read_queue(st, a, 1, 0, 0, 10, &seen), 1);
    assert_int_equal(seen.first.seq, 1);
    assert_string_equal(seen.sender, "bob");
    assert_int_equal(seen.first.sender_device, 4000000000u);
    assert_memory_equal(seen.first.message_id, m.message_id, VTD_MESSAGE_ID_LEN);
    assert_int_equal(seen.first.type, 2);
    assert_int_equal(seen.first.content_len, sizeof(content));
    assert_memory_equal(seen.content, content, sizeof(content));
    assert_int_equal(seen.first.server_time_ms, 1700000000123ull);
    assert_int_equal(seen.first.group_id_len, VTD_GROUP_ID_LEN);
    assert_memory_equal(seen.first.group_id, m.group_id, VTD_GROUP_ID_LEN);
    assert_string_equal(seen.recipient, "alice");

    /* No group, empty content. */
    m.group_id_len = 0;
    m.content = NULL;
    m.content_len = 0;
    begin(st);
    assert_int_equal(vtd_store_queue_push(st, a, 1, &m, &seq), VT_OK);
    assert_int_equal(seq, 2);
    /* Refused pushes take no seq and change nothing. */
    seq = 0;
    assert_int_equal(vtd_store_queue_push(st, a, 2, &m, &seq), VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_queue_push(st, a + 9, 1, &m, &seq), VT_ERR_NOT_FOUND);
    bad = m;
    bad.group_id_len = 5;
    assert_int_equal(vtd_store_queue_push(st, a, 1, &bad, &seq), VT_ERR_INVALID_ARGUMENT);
    bad = m;
    bad.content_len = 3; /* with NULL content */
    assert_int_equal(vtd_store_queue_push(st, a, 1, &bad, &seq), VT_ERR_INVALID_ARGUMENT);
    bad = m;
    bad.sender = NULL;
    assert_int_equal(vtd_store_queue_push(st, a, 1, &bad, &seq), VT_ERR_INVALID_ARGUMENT);
    bad = m;
    bad.server_time_ms = UINT64_MAX;
    assert_int_equal(vtd_store_queue_push(st, a, 1, &bad, &seq), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_store_queue_push(st, a, 1, NULL, &seq), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(seq, 0);
    commit(st);
    assert_int_equal(depth_of(st, a, 1), 2);
    assert_int_equal(total_of(st), 2);

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(read_queue(st, a, 1, 1, 0, 10, &seen), 1);
    assert_int_equal(seen.first.seq, 2);
    assert_int_equal(seen.first.group_id_len, 0);
    assert_int_equal(seen.first.content_len, 0);
    assert_int_equal(push(st, a, 1, 5), 3);
}

static bool nested_read(void *ud, const vtd_message *m)
{
    vtd_store *st = ud;
    struct seen inner = {0};
    size_t n = 5;

    (void)m;
    assert_int_equal(vtd_store_queue_read(st, 1, 1, 0, 0, 10, collect, &inner, &n),
                     VT_ERR_STATE);
    assert_int_equal(n, 0);
    return true;
}

static void test_queue_read_filters(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice");
    struct seen seen;
    size_t i, n = 0;

    for (i = 1; i <= 10; i++)
        assert_int_equal(push(st, a, 1, 1000 + 10 * i), i); /* seq i at 1000 + 10i */

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(read_queue(st, a, 1, 0, 0, 100, &seen), 10);
    for (i = 0; i < 10; i++)
        assert_int_equal(seen.seqs[i], i + 1);

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(read_queue(st, a, 1, 3, 0, 100, &seen), 7);
    assert_int_equal(seen.seqs[0], 4);
    assert_int_equal(seen.seqs[6], 10);

    /* server_time_ms >= min_time_ms */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(read_queue(st, a, 1, 0, 1060, 100, &seen), 5);
    assert_int_equal(seen.seqs[0], 6);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(read_queue(st, a, 1, 7, 1060, 100, &seen), 3);
    assert_int_equal(seen.seqs[0], 8);

    /* At most max; the first ones. */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(read_queue(st, a, 1, 2, 0, 3, &seen), 3);
    assert_int_equal(seen.seqs[0], 3);
    assert_int_equal(seen.seqs[2], 5);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(read_queue(st, a, 1, 0, 0, 0, &seen), 0);

    /* The callback stops it. */
    memset(&seen, 0, sizeof(seen));
    seen.stop_after = 2;
    assert_int_equal(read_queue(st, a, 1, 0, 0, 100, &seen), 2);
    assert_int_equal(seen.seqs[1], 2);

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(read_queue(st, a, 1, 10, 0, 100, &seen), 0);
    assert_int_equal(read_queue(st, a, 1, 0, 2000, 100, &seen), 0);
    assert_int_equal(read_queue(st, a, 2, 0, 0, 100, &seen), 0);

    /* Inside an operation, a read sees the operation's pushes. */
    begin(st);
    {
        vtd_message m = message(5000, "late");
        uint64_t seq = 0;
        assert_int_equal(vtd_store_queue_push(st, a, 1, &m, &seq), VT_OK);
    }
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(read_queue(st, a, 1, 10, 0, 100, &seen), 1);
    assert_int_equal(seen.seqs[0], 11);
    assert_memory_equal(seen.content, "late", 4);
    end(st, false);

    assert_int_equal(vtd_store_queue_read(st, a, 1, 0, 0, 1, NULL, NULL, &n),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_store_queue_read(st, a, 1, 0, 0, 100, nested_read, st, &n),
                     VT_OK);
    assert_int_equal(n, 10);
    assert_int_equal(vtd_store_queue_read(st, a, 1, 0, 0, 1, nested_read, st, NULL),
                     VT_OK);
}

static void test_queue_delete_counts(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice");
    uint32_t d2 = add_device(st, a, 2);
    const uint64_t first[] = {2, 2, 4, 99, 0, UINT64_MAX, (uint64_t)INT64_MAX + 1};
    const uint64_t again[] = {4, 2};
    const uint64_t other[] = {1, 3};
    struct seen seen = {0};
    uint32_t deleted = 77;
    size_t i;

    for (i = 0; i < 5; i++)
        (void)push(st, a, 1, 100);
    for (i = 0; i < 3; i++)
        (void)push(st, a, d2, 100);
    assert_int_equal(depth_of(st, a, 1), 5);
    assert_int_equal(total_of(st), 8);

    /* DELIV-51: repeats counted once, unknown seqs ignored. */
    begin(st);
    assert_int_equal(vtd_store_queue_delete(st, a, 1, first,
                                            sizeof(first) / sizeof(first[0]), &deleted),
                     VT_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(depth_of(st, a, 1), 3);
    assert_int_equal(vtd_store_queue_delete(st, a, 1, again, 2, &deleted), VT_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(vtd_store_queue_delete(st, a, 1, NULL, 0, &deleted), VT_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(vtd_store_queue_delete(st, a, 1, NULL, 1, &deleted),
                     VT_ERR_INVALID_ARGUMENT);
    /* Another device's seqs name only its own messages. */
    assert_int_equal(vtd_store_queue_delete(st, a, d2, other, 2, &deleted), VT_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(vtd_store_queue_delete(st, a, 9, other, 2, &deleted), VT_OK);
    assert_int_equal(deleted, 0);
    commit(st);

    assert_int_equal(depth_of(st, a, 1), 3);
    assert_int_equal(depth_of(st, a, d2), 1);
    assert_int_equal(total_of(st), 4);
    assert_int_equal(read_queue(st, a, 1, 0, 0, 10, &seen), 3);
    assert_int_equal(seen.seqs[0], 1);
    assert_int_equal(seen.seqs[1], 3);
    assert_int_equal(seen.seqs[2], 5);

    /* An undone delete restores messages and counter together. */
    begin(st);
    assert_int_equal(vtd_store_queue_delete(st, a, 1, other, 2, &deleted), VT_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(depth_of(st, a, 1), 1);
    end(st, false);
    assert_int_equal(depth_of(st, a, 1), 3);
    reopen(fx);
    assert_int_equal(depth_of(fx->st, a, 1), 3);
    assert_int_equal(depth_of(fx->st, a, d2), 1);
    assert_int_equal(raw_int(fx->dir, "SELECT count(*) FROM queue"), 4);
    assert_int_equal(raw_int(fx->dir, "SELECT sum(queue_len) FROM devices"), 4);
}

static void test_queue_expire(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice"), b = make_account(st, "bob");
    uint32_t a2 = add_device(st, a, 2);
    struct seen seen = {0};
    uint64_t deleted = 99;

    (void)push(st, a, 1, 100);
    (void)push(st, a, 1, 200);
    (void)push(st, a, 1, 300);
    (void)push(st, a, a2, 150);
    (void)push(st, a, a2, 250);
    (void)push(st, b, 1, 199);
    assert_int_equal(total_of(st), 6);

    /* DELIV-61: accepted before before_ms. */
    begin(st);
    assert_int_equal(vtd_store_queue_expire(st, 200, &deleted), VT_OK);
    assert_int_equal(deleted, 3);
    commit(st);
    assert_int_equal(depth_of(st, a, 1), 2);
    assert_int_equal(depth_of(st, a, a2), 1);
    assert_int_equal(depth_of(st, b, 1), 0);
    assert_int_equal(total_of(st), 3);
    assert_int_equal(read_queue(st, a, 1, 0, 0, 10, &seen), 2);
    assert_int_equal(seen.seqs[0], 2);

    begin(st);
    assert_int_equal(vtd_store_queue_expire(st, 200, &deleted), VT_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(vtd_store_queue_expire(st, 1000, NULL), VT_OK);
    commit(st);
    assert_int_equal(depth_of(st, a, 1), 0);
    assert_int_equal(depth_of(st, a, a2), 0);
    assert_int_equal(total_of(st), 0);
    assert_int_equal(raw_int(fx->dir, "SELECT count(*) FROM queue"), 0);
    /* Expiry frees no seq either. */
    assert_int_equal(push(st, a, 1, 2000), 4);
}

/* ---- Idempotency records ---------------------------------------------- */

static void test_dedup(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice"), b = make_account(st, "bob");
    const uint8_t m1[VTD_MESSAGE_ID_LEN] = {1}, m2[VTD_MESSAGE_ID_LEN] = {2};
    vtd_dedup rec, got, zero;
    bool found = true;

    memset(&zero, 0, sizeof(zero));
    memset(&rec, 0, sizeof(rec));
    strcpy(rec.recipient, "bob");
    group_id_of(rec.group_id, 0x33, 0x44);
    rec.group_id_len = VTD_GROUP_ID_LEN;
    rec.ephemeral = true;
    rec.accepted_ms = 1000;
    begin(st);
    assert_int_equal(vtd_store_dedup_put(st, a, m1, &rec), VT_OK);
    assert_int_equal(vtd_store_dedup_put(st, a + 99, m1, &rec), VT_ERR_INVALID_ARGUMENT);
    rec.group_id_len = 3;
    assert_int_equal(vtd_store_dedup_put(st, a, m2, &rec), VT_ERR_INVALID_ARGUMENT);
    rec.group_id_len = VTD_GROUP_ID_LEN;
    commit(st);

    /* accepted at or after min_ms */
    assert_int_equal(vtd_store_dedup_get(st, a, m1, 1000, &got, &found), VT_OK);
    assert_true(found);
    assert_string_equal(got.recipient, "bob");
    assert_int_equal(got.group_id_len, VTD_GROUP_ID_LEN);
    assert_memory_equal(got.group_id, rec.group_id, VTD_GROUP_ID_LEN);
    assert_true(got.ephemeral);
    assert_int_equal(got.accepted_ms, 1000);
    memset(&got, 0xaa, sizeof(got));
    assert_int_equal(vtd_store_dedup_get(st, a, m1, 1001, &got, &found), VT_OK);
    assert_false(found);
    assert_memory_equal(&got, &zero, sizeof(got));
    assert_int_equal(vtd_store_dedup_get(st, a, m2, 0, &got, &found), VT_OK);
    assert_false(found);
    assert_int_equal(vtd_store_dedup_get(st, b, m1, 0, &got, &found),
                     VT_OK); /* per account */
    assert_false(found);

    /* A newer record replaces the old one. */
    memset(&rec, 0, sizeof(rec));
    strcpy(rec.recipient, "carol");
    rec.accepted_ms = 2000;
    begin(st);
    assert_int_equal(vtd_store_dedup_put(st, a, m1, &rec), VT_OK);
    assert_int_equal(vtd_store_dedup_put(st, b, m1, &rec), VT_OK);
    commit(st);
    assert_int_equal(vtd_store_dedup_get(st, a, m1, 1500, &got, &found), VT_OK);
    assert_true(found);
    assert_string_equal(got.recipient, "carol");
    assert_int_equal(got.group_id_len, 0);
    assert_false(got.ephemeral);
    assert_int_equal(got.accepted_ms, 2000);

    begin(st);
    assert_int_equal(vtd_store_dedup_expire(st, 2000), VT_OK); /* before: kept */
    commit(st);
    assert_int_equal(vtd_store_dedup_get(st, a, m1, 0, &got, &found), VT_OK);
    assert_true(found);
    begin(st);
    assert_int_equal(vtd_store_dedup_expire(st, 2001), VT_OK);
    commit(st);
    reopen(fx);
    assert_int_equal(vtd_store_dedup_get(fx->st, a, m1, 0, &got, &found), VT_OK);
    assert_false(found);
    assert_int_equal(vtd_store_dedup_get(fx->st, b, m1, 0, &got, &found), VT_OK);
    assert_false(found);
}

/* ---- Groups --------------------------------------------------------------- */

static void test_group_members_sorted_bytewise(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    /* Created out of order, so that neither account id nor insertion order
     * gives the bytewise order: '-' < '.' < '9' < '_' < 'a'. */
    static const char *const names[] = {"zed", "a_b", "a-b", "ab", "a9", "a.b"};
    static const char *const sorted[] = {"a-b", "a.b", "a9", "a_b", "ab", "zed"};
    vtd_account_id ids[6];
    uint8_t gid[VTD_GROUP_ID_LEN], other[VTD_GROUP_ID_LEN];
    vtd_group g;
    size_t i, j;

    group_id_of(gid, 0x10, 0x20);
    group_id_of(other, 0x11, 0x20);
    for (i = 0; i < 6; i++)
        ids[i] = make_account(st, names[i]);
    begin(st);
    assert_int_equal(vtd_store_group_create(st, gid, 1), VT_OK);
    assert_int_equal(vtd_store_group_create(st, gid, 3), VT_ERR_ALREADY_EXISTS);
    commit(st);
    assert_int_equal(vtd_store_group_get(st, gid, &g), VT_OK);
    assert_memory_equal(g.group_id, gid, VTD_GROUP_ID_LEN);
    assert_int_equal(g.revision, 1);
    assert_int_equal(g.member_count, 0);

    begin(st);
    for (i = 0; i < 6; i++)
        assert_int_equal(vtd_store_group_put_member(st, gid, ids[i], i == 0), VT_OK);
    assert_int_equal(vtd_store_group_put_member(st, gid, ids[5] + 100, false),
                     VT_ERR_NOT_FOUND);
    assert_int_equal(vtd_store_group_put_member(st, other, ids[0], false),
                     VT_ERR_NOT_FOUND);
    /* An existing member: only the flag changes. */
    assert_int_equal(vtd_store_group_put_member(st, gid, ids[3], true), VT_OK);
    assert_int_equal(vtd_store_group_put_member(st, gid, ids[0], false), VT_OK);
    assert_int_equal(vtd_store_group_set_revision(st, gid, 7), VT_OK);
    assert_int_equal(vtd_store_group_set_revision(st, other, 7), VT_ERR_NOT_FOUND);
    commit(st);

    assert_int_equal(vtd_store_group_get(st, gid, &g), VT_OK);
    assert_int_equal(g.revision, 7);
    assert_int_equal(g.member_count, 6);
    for (i = 0; i < 6; i++) {
        assert_string_equal(g.members[i].username, sorted[i]);
        for (j = 0; j < 6 && strcmp(names[j], sorted[i]) != 0; j++)
            ;
        assert_int_equal(g.members[i].acct, ids[j]);
        assert_int_equal(g.members[i].admin, strcmp(sorted[i], "ab") == 0);
    }

    begin(st);
    assert_int_equal(vtd_store_group_remove_member(st, gid, ids[2]), VT_OK); /* "a-b" */
    assert_int_equal(vtd_store_group_remove_member(st, gid, ids[2]), VT_OK);
    assert_int_equal(vtd_store_group_remove_member(st, other, ids[1]), VT_OK);
    commit(st);
    reopen(fx);
    st = fx->st;
    assert_int_equal(vtd_store_group_get(st, gid, &g), VT_OK);
    assert_int_equal(g.member_count, 5);
    assert_string_equal(g.members[0].username, "a.b");
    assert_string_equal(g.members[4].username, "zed");

    begin(st);
    assert_int_equal(vtd_store_group_delete(st, gid), VT_OK);
    assert_int_equal(vtd_store_group_delete(st, gid), VT_OK);
    commit(st);
    assert_int_equal(vtd_store_group_get(st, gid, &g), VT_ERR_NOT_FOUND);
    assert_int_equal(raw_int(fx->dir, "SELECT count(*) FROM group_members"), 0);
}

static void test_groups_of_sorted(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    vtd_account_id a = make_account(st, "alice"), b = make_account(st, "bob");
    /* Inserted out of order; 0x80 and 0xff sort after 0x7f bytewise (as
     * unsigned bytes, unlike a signed char comparison). */
    static const uint8_t firsts[] = {0x80, 0x01, 0xff, 0x7f, 0x01};
    static const uint8_t rests[] = {0x00, 0x02, 0x00, 0x00, 0x01};
    uint8_t expect[5][VTD_GROUP_ID_LEN];
    uint8_t out[5][VTD_GROUP_ID_LEN];
    uint32_t count = 99;
    size_t i, n = 0;

    group_id_of(expect[0], 0x01, 0x01);
    group_id_of(expect[1], 0x01, 0x02);
    group_id_of(expect[2], 0x7f, 0x00);
    group_id_of(expect[3], 0x80, 0x00);
    group_id_of(expect[4], 0xff, 0x00);
    begin(st);
    for (i = 0; i < 5; i++) {
        uint8_t gid[VTD_GROUP_ID_LEN];
        group_id_of(gid, firsts[i], rests[i]);
        assert_int_equal(vtd_store_group_create(st, gid, 1), VT_OK);
        assert_int_equal(vtd_store_group_put_member(st, gid, a, false), VT_OK);
        if (i == 2)
            assert_int_equal(vtd_store_group_put_member(st, gid, b, false), VT_OK);
    }
    commit(st);

    assert_int_equal(vtd_store_groups_of(st, a, out, 5, &n), VT_OK);
    assert_int_equal(n, 5);
    for (i = 0; i < 5; i++)
        assert_memory_equal(out[i], expect[i], VTD_GROUP_ID_LEN);
    assert_int_equal(vtd_store_group_count_of(st, a, &count), VT_OK);
    assert_int_equal(count, 5);

    memset(out, 0, sizeof(out));
    assert_int_equal(vtd_store_groups_of(st, a, out, 2, &n), VT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 5);
    assert_memory_equal(out[0], expect[0], VTD_GROUP_ID_LEN);
    assert_memory_equal(out[1], expect[1], VTD_GROUP_ID_LEN);
    assert_int_equal(vtd_store_groups_of(st, a, NULL, 0, &n), VT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 5);

    assert_int_equal(vtd_store_groups_of(st, b, out, 5, &n), VT_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(out[0], expect[4], VTD_GROUP_ID_LEN);
    assert_int_equal(vtd_store_group_count_of(st, b, &count), VT_OK);
    assert_int_equal(count, 1);
    assert_int_equal(vtd_store_groups_of(st, b + 9, NULL, 0, &n), VT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(vtd_store_group_count_of(st, b + 9, &count), VT_OK);
    assert_int_equal(count, 0);

    /* A deleted group leaves its members' lists. */
    begin(st);
    assert_int_equal(vtd_store_group_delete(st, expect[4]), VT_OK);
    commit(st);
    assert_int_equal(vtd_store_groups_of(st, b, out, 5, &n), VT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(vtd_store_group_count_of(st, a, &count), VT_OK);
    assert_int_equal(count, 4);
}

static void test_group_member_limit(void **state)
{
    struct fixture *fx = *state;
    vtd_store *st = fx->st;
    uint8_t gid[VTD_GROUP_ID_LEN] = {0x42};
    vtd_account_id ids[VTD_GROUP_MEMBERS_MAX + 1];
    char name[16];
    vtd_group g;
    size_t i;

    begin(st);
    assert_int_equal(vtd_store_group_create(st, gid, 1), VT_OK);
    for (i = 0; i <= VTD_GROUP_MEMBERS_MAX; i++) {
        assert_true(snprintf(name, sizeof(name), "u%03zu", i) < (int)sizeof(name));
        assert_int_equal(vtd_store_account_create(st, name, key_of(1), "", 1, &ids[i]),
                         VT_OK);
    }
    for (i = 0; i < VTD_GROUP_MEMBERS_MAX; i++)
        assert_int_equal(vtd_store_group_put_member(st, gid, ids[i], false), VT_OK);
    assert_int_equal(
        vtd_store_group_put_member(st, gid, ids[VTD_GROUP_MEMBERS_MAX], false),
        VT_ERR_LIMIT_EXCEEDED);
    /* A member's flag can still change in a full group. */
    assert_int_equal(vtd_store_group_put_member(st, gid, ids[10], true), VT_OK);
    commit(st);
    assert_int_equal(vtd_store_group_get(st, gid, &g), VT_OK);
    assert_int_equal(g.member_count, VTD_GROUP_MEMBERS_MAX);
    assert_string_equal(g.members[0].username, "u000");
    assert_string_equal(g.members[VTD_GROUP_MEMBERS_MAX - 1].username, "u063");
    assert_true(g.members[10].admin);
    assert_false(g.members[11].admin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_open_creates_schema),
        T(test_open_refuses_newer_schema),
        T(test_writes_need_an_operation),
        T(test_rolled_back_operation_undoes_only_itself),
        T(test_unflushed_batch_leaves_nothing),
        T(test_batch_holds_the_write_lock),
        T(test_flushed_batch_survives_reopen),
        T(test_accounts),
        T(test_recreated_account_is_another),
        T(test_account_delete_removes_everything),
        T(test_pending_devices),
        T(test_device_ids_never_reused),
        T(test_device_ids_exhausted),
        T(test_device_remove_takes_its_data),
        T(test_devices_expire),
        T(test_tokens),
        T(test_signed_prekeys),
        T(test_one_time_prekeys),
        T(test_seqs_never_reused),
        T(test_queue_push_and_read_fields),
        T(test_queue_read_filters),
        T(test_queue_delete_counts),
        T(test_queue_expire),
        T(test_dedup),
        T(test_group_members_sorted_bytewise),
        T(test_groups_of_sorted),
        T(test_group_member_limit),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
