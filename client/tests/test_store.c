/* Tests of the client store (client/lib/store.h): every table round trips,
 * keys and encryption at rest, migrations, transactions and the error cases
 * the engine relies on (spec/crypto.md sections 4 and 7, spec/delivery.md 8.2). */
#define _GNU_SOURCE /* memmem, mkdtemp */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define SQLITE_HAS_CODEC 1
#include <sqlcipher/sqlite3.h>

#include "store.h"

#define KEY "correct horse battery staple"
#define KEY_LEN (sizeof(KEY) - 1)
#define SECRET_TEXT "zebra-marmalade-4711 is the distinctive plaintext"
#define SECRET_CONTENT "outbox-content-quokka-9931"

typedef struct fixture {
    char dir[64];
    char path[128];
    vc_store *s;
} fixture;

static const char *const sidecars[] = {"", "-journal", "-wal", "-shm"};

static void remove_store_files(const fixture *f)
{
    char p[160];

    for (size_t i = 0; i < sizeof(sidecars) / sizeof(sidecars[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, sidecars[i]);
        unlink(p);
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/vc_store_XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
    if (vc_store_open(&f->s, f->path, KEY, KEY_LEN) != VT_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    vc_store_close(f->s);
    remove_store_files(f);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void reopen(fixture *f)
{
    vc_store_close(f->s);
    f->s = NULL;
    assert_int_equal(vc_store_open(&f->s, f->path, KEY, KEY_LEN), VT_OK);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    *len = 0;
    if (fp == NULL)
        return NULL;
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void fill(uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v + i);
}

/* ---- Settings and identity ------------------------------------------------ */

static void test_settings(void **state)
{
    fixture *f = *state;
    uint8_t key[32], buf[64];
    size_t len = 0;

    fill(key, sizeof(key), 7);
    assert_int_equal(vc_store_get(f->s, "server_key", buf, sizeof(buf), &len),
                     VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_set(f->s, "server_key", key, sizeof(key)), VT_OK);
    assert_int_equal(vc_store_set(f->s, "username", "alice", 5), VT_OK);
    assert_int_equal(vc_store_set(f->s, "empty", NULL, 0), VT_OK);

    reopen(f); /* committed and durable, not just cached */
    assert_int_equal(vc_store_get(f->s, "server_key", buf, sizeof(buf), &len), VT_OK);
    assert_int_equal(len, 32);
    assert_memory_equal(buf, key, 32);
    assert_int_equal(vc_store_get(f->s, "empty", buf, sizeof(buf), &len), VT_OK);
    assert_int_equal(len, 0);

    /* Too small: the size needed comes back; a NULL buffer asks for it. */
    len = 0;
    assert_int_equal(vc_store_get(f->s, "server_key", buf, 31, &len),
                     VT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 32);
    assert_int_equal(vc_store_get(f->s, "username", NULL, 0, &len),
                     VT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 5);

    /* set replaces. */
    assert_int_equal(vc_store_set(f->s, "username", "bob", 3), VT_OK);
    assert_int_equal(vc_store_get(f->s, "username", buf, sizeof(buf), &len), VT_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "bob", 3);

    assert_int_equal(vc_store_unset(f->s, "username"), VT_OK);
    assert_int_equal(vc_store_get(f->s, "username", buf, sizeof(buf), &len),
                     VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_set(f->s, NULL, "x", 1), VT_ERR_INVALID_ARGUMENT);
}

static void test_identity(void **state)
{
    fixture *f = *state;
    uint8_t seed[32], other[32], got[32];

    fill(seed, sizeof(seed), 1);
    fill(other, sizeof(other), 2);
    assert_int_equal(vc_store_get_identity(f->s, got), VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_put_identity(f->s, seed), VT_OK);
    /* An identity is never overwritten by accident. */
    assert_int_equal(vc_store_put_identity(f->s, other), VT_ERR_ALREADY_EXISTS);
    reopen(f);
    assert_int_equal(vc_store_get_identity(f->s, got), VT_OK);
    assert_memory_equal(got, seed, 32);
}

/* ---- Prekeys and base keys ------------------------------------------------- */

static vc_prekey_row prekey(vc_prekey_kind kind, uint32_t id, uint64_t created)
{
    vc_prekey_row r;

    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.id = id;
    fill(r.pub, 32, (uint8_t)id);
    fill(r.priv, 32, (uint8_t)(id + 100));
    fill(r.signature, 64, (uint8_t)(id + 50));
    r.created_at = created;
    return r;
}

static void test_prekeys(void **state)
{
    fixture *f = *state;
    vc_prekey_row a = prekey(VC_PREKEY_ONE_TIME, 1, 10), got;
    size_t n = 99;

    assert_int_equal(vc_store_count_one_time(f->s, &n), VT_OK);
    assert_int_equal(n, 0);
    for (uint32_t id = 1; id <= 3; id++) {
        vc_prekey_row r = prekey(VC_PREKEY_ONE_TIME, id, 10);

        assert_int_equal(vc_store_put_prekey(f->s, &r), VT_OK);
    }
    /* The id is unique per kind, not across kinds. */
    assert_int_equal(vc_store_put_prekey(f->s, &a), VT_ERR_ALREADY_EXISTS);
    a.kind = VC_PREKEY_LAST_RESORT;
    assert_int_equal(vc_store_put_prekey(f->s, &a), VT_OK);
    assert_int_equal(vc_store_count_one_time(f->s, &n), VT_OK);
    assert_int_equal(n, 3);

    reopen(f);
    assert_int_equal(vc_store_get_prekey(f->s, VC_PREKEY_ONE_TIME, 2, &got), VT_OK);
    a = prekey(VC_PREKEY_ONE_TIME, 2, 10);
    assert_memory_equal(&got, &a, sizeof(a));
    assert_int_equal(vc_store_get_prekey(f->s, VC_PREKEY_SIGNED, 2, &got),
                     VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_delete_prekey(f->s, VC_PREKEY_ONE_TIME, 2), VT_OK);
    assert_int_equal(vc_store_delete_prekey(f->s, VC_PREKEY_ONE_TIME, 2),
                     VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_get_prekey(f->s, VC_PREKEY_ONE_TIME, 2, &got),
                     VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_count_one_time(f->s, &n), VT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(vc_store_current_prekey(f->s, VC_PREKEY_SIGNED, &got),
                     VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_current_prekey(f->s, VC_PREKEY_LAST_RESORT, &got), VT_OK);
    assert_int_equal(got.id, 1);
    assert_int_equal(vc_store_get_prekey(f->s, (vc_prekey_kind)7, 1, &got),
                     VT_ERR_INVALID_ARGUMENT);
}

/* CRYPTO-23/24: a replaced signed prekey lives out its grace period, then
 * goes, and its base-key records (CRYPTO-76) with it. */
static void test_prekey_expiry(void **state)
{
    fixture *f = *state;
    vc_prekey_row old = prekey(VC_PREKEY_SIGNED, 1, 100),
                  cur = prekey(VC_PREKEY_SIGNED, 2, 200);
    vc_prekey_row got;
    uint8_t bk_old[32], bk_cur[32];
    const uint64_t grace = 1000, at = 5000;
    size_t deleted = 99;

    fill(bk_old, 32, 0x10);
    fill(bk_cur, 32, 0x20);
    assert_int_equal(vc_store_put_prekey(f->s, &old), VT_OK);
    assert_int_equal(vc_store_add_base_key(f->s, bk_old, 1, 150), VT_OK);
    assert_int_equal(vc_store_current_prekey(f->s, VC_PREKEY_SIGNED, &got), VT_OK);
    assert_int_equal(got.id, 1);

    assert_int_equal(vc_store_put_prekey(f->s, &cur), VT_OK);
    assert_int_equal(vc_store_add_base_key(f->s, bk_cur, 2, 250), VT_OK);
    assert_int_equal(vc_store_mark_prekeys_replaced(f->s, VC_PREKEY_SIGNED, 2, at),
                     VT_OK);
    assert_int_equal(vc_store_current_prekey(f->s, VC_PREKEY_SIGNED, &got), VT_OK);
    assert_int_equal(got.id, 2);
    assert_int_equal(vc_store_get_prekey(f->s, VC_PREKEY_SIGNED, 1, &got), VT_OK);
    assert_int_equal(got.replaced_at, at);

    /* One second before the grace period ends: kept. */
    assert_int_equal(
        vc_store_expire_prekeys(f->s, VC_PREKEY_SIGNED, at + grace - 1, grace, &deleted),
        VT_OK);
    assert_int_equal(deleted, 0);
    assert_true(vc_store_has_base_key(f->s, bk_old));
    /* Another kind is not touched. */
    assert_int_equal(
        vc_store_expire_prekeys(f->s, VC_PREKEY_LAST_RESORT, at + grace, grace, &deleted),
        VT_OK);
    assert_int_equal(deleted, 0);
    /* replaced_at + grace == now: gone. */
    assert_int_equal(
        vc_store_expire_prekeys(f->s, VC_PREKEY_SIGNED, at + grace, grace, &deleted),
        VT_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(vc_store_get_prekey(f->s, VC_PREKEY_SIGNED, 1, &got),
                     VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_get_prekey(f->s, VC_PREKEY_SIGNED, 2, &got), VT_OK);
    assert_false(vc_store_has_base_key(f->s, bk_old));
    assert_true(vc_store_has_base_key(f->s, bk_cur));
    /* now < grace: nothing, and no underflow. */
    assert_int_equal(vc_store_expire_prekeys(f->s, VC_PREKEY_SIGNED, 5, grace, NULL),
                     VT_OK);
    assert_int_equal(vc_store_mark_prekeys_replaced(f->s, VC_PREKEY_SIGNED, 2, 0),
                     VT_ERR_INVALID_ARGUMENT);
}

static void test_base_keys(void **state)
{
    fixture *f = *state;
    uint8_t bk[32], other[32];

    fill(bk, 32, 3);
    fill(other, 32, 4);
    assert_false(vc_store_has_base_key(f->s, bk));
    assert_int_equal(vc_store_add_base_key(f->s, bk, 9, 100), VT_OK);
    assert_int_equal(vc_store_add_base_key(f->s, bk, 9, 101), VT_ERR_ALREADY_EXISTS);
    reopen(f);
    assert_true(vc_store_has_base_key(f->s, bk));
    assert_false(vc_store_has_base_key(f->s, other));
}

/* ---- Sessions and devices ----------------------------------------------------- */

static void test_sessions(void **state)
{
    fixture *f = *state;
    uint8_t a[300], b[40], buf[512];
    size_t len = 0;

    fill(a, sizeof(a), 1);
    fill(b, sizeof(b), 2);
    assert_int_equal(
        vc_store_get_session(f->s, "bob", 1, VC_SESSION_CURRENT, buf, sizeof(buf), &len),
        VT_ERR_NOT_FOUND);
    assert_int_equal(
        vc_store_put_session(f->s, "bob", 1, VC_SESSION_CURRENT, a, sizeof(a), 1), VT_OK);
    assert_int_equal(
        vc_store_put_session(f->s, "bob", 1, VC_SESSION_LOSING, b, sizeof(b), 1), VT_OK);
    assert_int_equal(
        vc_store_put_session(f->s, "bob", 2, VC_SESSION_CURRENT, b, sizeof(b), 1), VT_OK);
    assert_int_equal(
        vc_store_put_session(f->s, "carol", 1, VC_SESSION_CURRENT, b, sizeof(b), 1),
        VT_OK);

    reopen(f);
    assert_int_equal(
        vc_store_get_session(f->s, "bob", 1, VC_SESSION_CURRENT, buf, sizeof(buf), &len),
        VT_OK);
    assert_int_equal(len, sizeof(a));
    assert_memory_equal(buf, a, sizeof(a));
    len = 0;
    assert_int_equal(
        vc_store_get_session(f->s, "bob", 1, VC_SESSION_CURRENT, buf, 299, &len),
        VT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, sizeof(a));

    /* put replaces the slot. */
    assert_int_equal(
        vc_store_put_session(f->s, "bob", 1, VC_SESSION_CURRENT, b, sizeof(b), 2), VT_OK);
    assert_int_equal(
        vc_store_get_session(f->s, "bob", 1, VC_SESSION_CURRENT, buf, sizeof(buf), &len),
        VT_OK);
    assert_int_equal(len, sizeof(b));
    assert_memory_equal(buf, b, sizeof(b));

    assert_int_equal(vc_store_delete_session(f->s, "bob", 1, VC_SESSION_LOSING), VT_OK);
    assert_int_equal(vc_store_delete_session(f->s, "bob", 1, VC_SESSION_LOSING),
                     VT_ERR_NOT_FOUND);
    assert_int_equal(
        vc_store_get_session(f->s, "bob", 1, VC_SESSION_CURRENT, buf, sizeof(buf), &len),
        VT_OK);

    /* One device, then every device of an account; others stay. */
    assert_int_equal(vc_store_delete_sessions(f->s, "bob", 2), VT_OK);
    assert_int_equal(
        vc_store_get_session(f->s, "bob", 2, VC_SESSION_CURRENT, buf, sizeof(buf), &len),
        VT_ERR_NOT_FOUND);
    assert_int_equal(
        vc_store_get_session(f->s, "bob", 1, VC_SESSION_CURRENT, buf, sizeof(buf), &len),
        VT_OK);
    assert_int_equal(vc_store_delete_sessions(f->s, "bob", 0), VT_OK);
    assert_int_equal(
        vc_store_get_session(f->s, "bob", 1, VC_SESSION_CURRENT, buf, sizeof(buf), &len),
        VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_get_session(f->s, "carol", 1, VC_SESSION_CURRENT, buf,
                                          sizeof(buf), &len),
                     VT_OK);
    assert_int_equal(
        vc_store_put_session(f->s, "bob", 1, (vc_session_slot)2, b, sizeof(b), 1),
        VT_ERR_INVALID_ARGUMENT);
}

static vc_device_row device(const char *user, uint32_t id, vc_trust trust)
{
    vc_device_row r;

    memset(&r, 0, sizeof(r));
    strcpy(r.username, user);
    r.device_id = id;
    fill(r.identity_key, 32, (uint8_t)id);
    fill(r.pending_key, 32, (uint8_t)(id + 9));
    r.trust = trust;
    r.active = true;
    r.first_seen = 1000 + id;
    return r;
}

typedef struct names {
    char got[4][33];
    size_t n, stop_after;
} names;

static bool collect_name(void *ud, const char *username)
{
    names *c = ud;

    strcpy(c->got[c->n++], username);
    return c->n < c->stop_after;
}

static void test_devices(void **state)
{
    fixture *f = *state;
    vc_device_row rows[2], got;
    names c = {.stop_after = 4};
    size_t n = 0;

    assert_int_equal(vc_store_get_device(f->s, "bob", 1, &got), VT_ERR_NOT_FOUND);
    {
        vc_device_row d3 = device("bob", 3, VC_TRUST_TOFU);
        vc_device_row d1 = device("bob", 1, VC_TRUST_VERIFIED);
        vc_device_row d2 = device("bob", 2, VC_TRUST_CHANGED);
        vc_device_row al = device("alice", 5, VC_TRUST_TOFU);

        assert_int_equal(vc_store_put_device(f->s, &d3), VT_OK);
        assert_int_equal(vc_store_put_device(f->s, &d1), VT_OK);
        assert_int_equal(vc_store_put_device(f->s, &d2), VT_OK);
        assert_int_equal(vc_store_put_device(f->s, &al), VT_OK);
        reopen(f);
        assert_int_equal(vc_store_get_device(f->s, "bob", 2, &got), VT_OK);
        assert_memory_equal(&got, &d2, sizeof(got));

        /* Listing fills |cap| rows in id order and counts them all. */
        assert_int_equal(vc_store_list_devices(f->s, "bob", rows, 2, &n), VT_OK);
        assert_int_equal(n, 3);
        assert_memory_equal(&rows[0], &d1, sizeof(d1));
        assert_memory_equal(&rows[1], &d2, sizeof(d2));
        assert_int_equal(vc_store_list_devices(f->s, "nobody", rows, 2, &n), VT_OK);
        assert_int_equal(n, 0);

        /* put replaces: the user accepted the new key. */
        d2.trust = VC_TRUST_TOFU;
        d2.active = false;
        memcpy(d2.identity_key, d2.pending_key, 32);
        assert_int_equal(vc_store_put_device(f->s, &d2), VT_OK);
        assert_int_equal(vc_store_get_device(f->s, "bob", 2, &got), VT_OK);
        assert_memory_equal(&got, &d2, sizeof(got));
    }

    assert_int_equal(vc_store_each_contact(f->s, collect_name, &c), VT_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.got[0], "alice");
    assert_string_equal(c.got[1], "bob");
    memset(&c, 0, sizeof(c));
    c.stop_after = 1;
    assert_int_equal(vc_store_each_contact(f->s, collect_name, &c), VT_OK);
    assert_int_equal(c.n, 1);
}

/* ---- History, processed, outbox ---------------------------------------------- */

static vc_history_row history(const char *peer, const char *sender, uint8_t mid,
                              const char *text)
{
    vc_history_row r;

    memset(&r, 0, sizeof(r));
    strcpy(r.peer, peer);
    strcpy(r.sender, sender);
    r.sender_device = 1;
    memset(r.message_id, mid, 16);
    strcpy(r.status, "received");
    r.sent_at_ms = 1000u + mid;
    r.server_ms = 2000u + mid;
    r.text = (char *)text;
    r.text_len = strlen(text);
    return r;
}

typedef struct hist {
    int64_t rowids[8];
    char texts[8][64];
    char status[8][16];
    bool grouped[8];
    size_t n;
} hist;

static bool collect_history(void *ud, const vc_history_row *row)
{
    hist *h = ud;

    h->rowids[h->n] = row->rowid;
    assert_true(row->text_len < sizeof(h->texts[0]));
    memcpy(h->texts[h->n], row->text, row->text_len + 1); /* NUL-terminated */
    strcpy(h->status[h->n], row->status);
    h->grouped[h->n] = row->has_group;
    h->n++;
    return true;
}

static void test_history(void **state)
{
    fixture *f = *state;
    vc_history_row r1 = history("bob", "bob", 1, "hello");
    vc_history_row r2 = history("bob", "alice", 2, "hi bob");
    vc_history_row r3 = history("carol", "carol", 3, "hey");
    vc_history_row r4 = history("", "dave", 4, "group hello");
    uint8_t gid[16], mid[16];
    hist h;

    memset(gid, 0xab, sizeof(gid));
    r2.outgoing = true;
    strcpy(r2.status, "sent");
    r4.has_group = true;
    memcpy(r4.group_id, gid, 16);
    assert_int_equal(vc_store_add_history(f->s, &r1), VT_OK);
    assert_int_equal(vc_store_add_history(f->s, &r2), VT_OK);
    assert_int_equal(vc_store_add_history(f->s, &r3), VT_OK);
    assert_int_equal(vc_store_add_history(f->s, &r4), VT_OK);
    /* (sender, message_id) is unique; the same id from another sender is not. */
    assert_int_equal(vc_store_add_history(f->s, &r1), VT_ERR_ALREADY_EXISTS);
    r1.sender[0] = 'B';
    assert_int_equal(vc_store_add_history(f->s, &r1), VT_OK);
    reopen(f);

    memset(&h, 0, sizeof(h));
    assert_int_equal(vc_store_each_history(f->s, "", NULL, 0, 100, collect_history, &h),
                     VT_OK);
    assert_int_equal(h.n, 5);
    for (size_t i = 1; i < h.n; i++)
        assert_true(h.rowids[i] > h.rowids[i - 1]);
    assert_string_equal(h.texts[0], "hello");
    assert_string_equal(h.texts[3], "group hello");
    assert_true(h.grouped[3]);

    memset(&h, 0, sizeof(h));
    assert_int_equal(
        vc_store_each_history(f->s, "bob", NULL, 0, 100, collect_history, &h), VT_OK);
    assert_int_equal(h.n, 3);
    assert_string_equal(h.texts[1], "hi bob");
    assert_string_equal(h.status[1], "sent");
    {
        int64_t first = h.rowids[0];

        /* Paging: after the first row, at most one. */
        memset(&h, 0, sizeof(h));
        assert_int_equal(
            vc_store_each_history(f->s, "bob", NULL, first, 1, collect_history, &h),
            VT_OK);
        assert_int_equal(h.n, 1);
        assert_string_equal(h.texts[0], "hi bob");
    }
    memset(&h, 0, sizeof(h));
    assert_int_equal(vc_store_each_history(f->s, NULL, gid, 0, 100, collect_history, &h),
                     VT_OK);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.texts[0], "group hello");

    memset(mid, 2, sizeof(mid));
    assert_int_equal(vc_store_set_history_status(f->s, "alice", mid, "delivered"), VT_OK);
    assert_int_equal(vc_store_set_history_status(f->s, "bob", mid, "read"),
                     VT_ERR_NOT_FOUND);
    memset(&h, 0, sizeof(h));
    assert_int_equal(
        vc_store_each_history(f->s, "bob", NULL, 0, 100, collect_history, &h), VT_OK);
    assert_string_equal(h.status[1], "delivered");
}

static void test_processed(void **state)
{
    fixture *f = *state;
    uint8_t m1[16], m2[16];

    memset(m1, 1, 16);
    memset(m2, 2, 16);
    assert_false(vc_store_was_processed(f->s, "bob", m1));
    assert_int_equal(vc_store_mark_processed(f->s, "bob", m1, 100), VT_OK);
    assert_int_equal(vc_store_mark_processed(f->s, "bob", m1, 101),
                     VT_ERR_ALREADY_EXISTS);
    assert_int_equal(vc_store_mark_processed(f->s, "bob", m2, 200), VT_OK);
    reopen(f);
    assert_true(vc_store_was_processed(f->s, "bob", m1));
    assert_false(vc_store_was_processed(f->s, "carol", m1));

    /* Pairs older than now - keep go: 100 < 250 - 150 is false, so both stay. */
    assert_int_equal(vc_store_expire_processed(f->s, 250, 150), VT_OK);
    assert_true(vc_store_was_processed(f->s, "bob", m1));
    assert_int_equal(vc_store_expire_processed(f->s, 251, 150), VT_OK);
    assert_false(vc_store_was_processed(f->s, "bob", m1));
    assert_true(vc_store_was_processed(f->s, "bob", m2));
    assert_int_equal(vc_store_expire_processed(f->s, 10, 150), VT_OK); /* keep > now */
    assert_true(vc_store_was_processed(f->s, "bob", m2));
}

static vc_outbox_row outbox(uint8_t mid, const char *to, const char *content)
{
    vc_outbox_row r;

    memset(&r, 0, sizeof(r));
    memset(r.message_id, mid, 16);
    strcpy(r.recipient, to);
    strcpy(r.state, "queued");
    r.next_attempt_ms = 500u + mid;
    r.content = (uint8_t *)content;
    r.content_len = strlen(content);
    return r;
}

typedef struct ob {
    uint8_t first[8];
    size_t n;
    vc_store *s;
    bool nest;
} ob;

static bool collect_outbox(void *ud, const vc_outbox_row *row)
{
    ob *o = ud;

    o->first[o->n++] = row->message_id[0];
    /* A callback may call back into the store, even the same iteration. */
    if (o->nest) {
        vc_outbox_row got;
        ob inner = {.s = o->s};

        assert_int_equal(vc_store_outbox_get(o->s, row->message_id, &got), VT_OK);
        assert_int_equal(got.content_len, row->content_len);
        vc_outbox_row_clear(&got);
        assert_int_equal(vc_store_outbox_each(o->s, collect_outbox, &inner), VT_OK);
        assert_int_equal(inner.n, 3);
    }
    return true;
}

static void test_outbox(void **state)
{
    fixture *f = *state;
    vc_outbox_row r3 = outbox(3, "bob", "third"), r1 = outbox(1, "carol", "first");
    vc_outbox_row r2 = outbox(2, "", "second"), got;
    ob o = {.s = f->s};

    r2.has_group = true;
    memset(r2.group_id, 0xcd, 16);
    r2.ephemeral = true;
    /* Insertion order, not id order. */
    assert_int_equal(vc_store_outbox_add(f->s, &r3), VT_OK);
    assert_int_equal(vc_store_outbox_add(f->s, &r1), VT_OK);
    assert_int_equal(vc_store_outbox_add(f->s, &r2), VT_OK);
    assert_int_equal(vc_store_outbox_add(f->s, &r1), VT_ERR_ALREADY_EXISTS);
    reopen(f);
    o.s = f->s;
    assert_int_equal(vc_store_outbox_each(f->s, collect_outbox, &o), VT_OK);
    assert_int_equal(o.n, 3);
    assert_int_equal(o.first[0], 3);
    assert_int_equal(o.first[1], 1);
    assert_int_equal(o.first[2], 2);
    memset(&o, 0, sizeof(o));
    o.s = f->s;
    o.nest = true;
    assert_int_equal(vc_store_outbox_each(f->s, collect_outbox, &o), VT_OK);
    assert_int_equal(o.n, 3);

    assert_int_equal(vc_store_outbox_get(f->s, r2.message_id, &got), VT_OK);
    assert_true(got.has_group);
    assert_true(got.ephemeral);
    assert_memory_equal(got.group_id, r2.group_id, 16);
    assert_int_equal(got.content_len, 6);
    assert_memory_equal(got.content, "second", 6);
    vc_outbox_row_clear(&got);

    /* update changes everything but id and content. */
    strcpy(r1.state, "sending");
    r1.attempts = 4;
    r1.first_attempt_ms = 77;
    r1.stale_retried = true;
    r1.content = (uint8_t *)"ignored";
    r1.content_len = 7;
    assert_int_equal(vc_store_outbox_update(f->s, &r1), VT_OK);
    assert_int_equal(vc_store_outbox_get(f->s, r1.message_id, &got), VT_OK);
    assert_string_equal(got.state, "sending");
    assert_int_equal(got.attempts, 4);
    assert_int_equal(got.first_attempt_ms, 77);
    assert_true(got.stale_retried);
    assert_int_equal(got.content_len, 5);
    assert_memory_equal(got.content, "first", 5);
    vc_outbox_row_clear(&got);

    assert_int_equal(vc_store_outbox_remove(f->s, r1.message_id), VT_OK);
    assert_int_equal(vc_store_outbox_remove(f->s, r1.message_id), VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_outbox_get(f->s, r1.message_id, &got), VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_outbox_update(f->s, &r1), VT_ERR_NOT_FOUND);
}

static void test_groups(void **state)
{
    fixture *f = *state;
    const char *members[] = {"carol", "alice", "bob"};
    const char *admins[] = {"alice"};
    const char *members2[] = {"alice", "dave"};
    uint8_t gid[16], other[16];
    char *name = NULL, **got = NULL;
    size_t n = 0;

    memset(gid, 0x11, 16);
    memset(other, 0x22, 16);
    assert_int_equal(vc_store_get_group(f->s, gid, &name, &got, &n), VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_put_group(f->s, gid, "friends", members, 3, admins, 1),
                     VT_OK);
    reopen(f);
    assert_int_equal(vc_store_get_group(f->s, gid, &name, &got, &n), VT_OK);
    assert_string_equal(name, "friends");
    assert_int_equal(n, 3);
    assert_string_equal(got[0], "carol"); /* the order given */
    assert_string_equal(got[2], "bob");
    free(name);
    vc_store_free_names(got, n);
    assert_int_equal(vc_store_get_group_admins(f->s, gid, &got, &n), VT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(got[0], "alice");
    vc_store_free_names(got, n);

    /* put replaces the whole GroupInfo. */
    assert_int_equal(vc_store_put_group(f->s, gid, "renamed", members2, 2, NULL, 0),
                     VT_OK);
    assert_int_equal(vc_store_get_group(f->s, gid, &name, &got, &n), VT_OK);
    assert_string_equal(name, "renamed");
    assert_int_equal(n, 2);
    assert_string_equal(got[1], "dave");
    free(name);
    vc_store_free_names(got, n);
    assert_int_equal(vc_store_get_group_admins(f->s, gid, &got, &n), VT_OK);
    assert_int_equal(n, 0);
    vc_store_free_names(got, n);

    assert_int_equal(vc_store_get_group_admins(f->s, other, &got, &n), VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_delete_group(f->s, gid), VT_OK);
    assert_int_equal(vc_store_delete_group(f->s, gid), VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_get_group(f->s, gid, &name, &got, &n), VT_ERR_NOT_FOUND);
}

/* ---- Transactions ------------------------------------------------------------ */

static bool has_setting(vc_store *s, const char *name)
{
    size_t len;

    return vc_store_get(s, name, NULL, 0, &len) != VT_ERR_NOT_FOUND;
}

static void test_transactions(void **state)
{
    fixture *f = *state;
    uint8_t seed[32];

    fill(seed, 32, 9);
    assert_int_equal(vc_store_commit(f->s), VT_ERR_STATE);
    vc_store_rollback(f->s); /* without begin: nothing */

    assert_int_equal(vc_store_begin(f->s), VT_OK);
    assert_int_equal(vc_store_set(f->s, "a", "1", 1), VT_OK);
    assert_int_equal(vc_store_put_identity(f->s, seed), VT_OK);
    vc_store_rollback(f->s);
    assert_false(has_setting(f->s, "a"));
    assert_int_equal(vc_store_get_identity(f->s, seed), VT_ERR_NOT_FOUND);

    /* Nested: the inner rollback undoes only its own part. */
    assert_int_equal(vc_store_begin(f->s), VT_OK);
    assert_int_equal(vc_store_set(f->s, "outer", "1", 1), VT_OK);
    assert_int_equal(vc_store_begin(f->s), VT_OK);
    assert_int_equal(vc_store_set(f->s, "inner", "1", 1), VT_OK);
    vc_store_rollback(f->s);
    assert_int_equal(vc_store_begin(f->s), VT_OK);
    assert_int_equal(vc_store_set(f->s, "inner2", "1", 1), VT_OK);
    assert_int_equal(vc_store_commit(f->s), VT_OK);
    /* A failing call inside a transaction leaves the transaction usable. */
    {
        uint8_t bk[32];

        fill(bk, 32, 1);
        assert_int_equal(vc_store_add_base_key(f->s, bk, 1, 1), VT_OK);
        assert_int_equal(vc_store_add_base_key(f->s, bk, 1, 1), VT_ERR_ALREADY_EXISTS);
    }
    assert_int_equal(vc_store_commit(f->s), VT_OK);
    reopen(f);
    assert_true(has_setting(f->s, "outer"));
    assert_false(has_setting(f->s, "inner"));
    assert_true(has_setting(f->s, "inner2"));

    /* An inner commit is undone by the outer rollback. */
    assert_int_equal(vc_store_begin(f->s), VT_OK);
    assert_int_equal(vc_store_begin(f->s), VT_OK);
    assert_int_equal(vc_store_set(f->s, "b", "1", 1), VT_OK);
    assert_int_equal(vc_store_commit(f->s), VT_OK);
    vc_store_rollback(f->s);
    assert_false(has_setting(f->s, "b"));

    /* Closing with a transaction open keeps none of it. */
    assert_int_equal(vc_store_begin(f->s), VT_OK);
    assert_int_equal(vc_store_set(f->s, "c", "1", 1), VT_OK);
    reopen(f);
    assert_false(has_setting(f->s, "c"));
}

/* ---- Keys, encryption at rest, the file ----------------------------------------- */

static void assert_sidecars_absent(const fixture *f)
{
    char p[160];

    for (size_t i = 1; i < sizeof(sidecars) / sizeof(sidecars[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, sidecars[i]);
        assert_int_not_equal(access(p, F_OK), 0);
    }
}

static void test_wrong_passphrase(void **state)
{
    fixture *f = *state;
    uint8_t *before, *after;
    size_t n_before, n_after;
    vc_store *s = (vc_store *)0x1; /* untouched on failure */

    assert_int_equal(vc_store_set(f->s, "username", "alice", 5), VT_OK);
    vc_store_close(f->s);
    f->s = NULL;
    before = read_all(f->path, &n_before);
    assert_non_null(before);
    assert_true(n_before > 0);

    assert_int_equal(vc_store_open(&s, f->path, "wrong", 5), VT_ERR_BAD_PASSPHRASE);
    assert_ptr_equal(s, (vc_store *)0x1);
    /* A prefix of the key, and the key plus one byte, are wrong too. */
    assert_int_equal(vc_store_open(&s, f->path, KEY, KEY_LEN - 1), VT_ERR_BAD_PASSPHRASE);
    assert_int_equal(vc_store_open(&s, f->path, KEY "!", KEY_LEN + 1),
                     VT_ERR_BAD_PASSPHRASE);
    /* An empty key would mean no encryption at all. */
    assert_int_equal(vc_store_open(&s, f->path, "", 0), VT_ERR_INVALID_ARGUMENT);
    after = read_all(f->path, &n_after);
    assert_non_null(after);
    assert_int_equal(n_after, n_before);
    assert_memory_equal(after, before, n_before);
    assert_sidecars_absent(f);
    free(before);
    free(after);

    assert_int_equal(vc_store_open(&f->s, f->path, KEY, KEY_LEN), VT_OK);
}

static void test_not_a_store(void **state)
{
    fixture *f = *state;
    char p[160];
    sqlite3 *db = NULL;
    vc_store *s = NULL;
    FILE *fp;

    /* A plain SQLite database. */
    snprintf(p, sizeof(p), "%s/plain.db", f->dir);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(vc_store_open(&s, p, KEY, KEY_LEN), VT_ERR_BAD_PASSPHRASE);
    assert_null(s);
    unlink(p);

    /* Garbage. */
    snprintf(p, sizeof(p), "%s/garbage.db", f->dir);
    fp = fopen(p, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 8192; i++)
        fputc((i * 131 + 7) & 0xff, fp);
    fclose(fp);
    assert_int_equal(vc_store_open(&s, p, KEY, KEY_LEN), VT_ERR_BAD_PASSPHRASE);
    assert_null(s);
    unlink(p);

    /* A directory that does not exist. */
    snprintf(p, sizeof(p), "%s/no/such/dir.db", f->dir);
    assert_int_equal(vc_store_open(&s, p, KEY, KEY_LEN), VT_ERR_IO);
    assert_null(s);
}

static void test_file_mode(void **state)
{
    fixture *f = *state;
    struct stat st;

    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_encrypted_at_rest(void **state)
{
    fixture *f = *state;
    vc_history_row h = history("bob", "bob", 1, SECRET_TEXT);
    vc_outbox_row o = outbox(1, "bob", SECRET_CONTENT);
    sqlite3 *db = NULL;
    char p[160];
    int rc;

    assert_int_equal(vc_store_add_history(f->s, &h), VT_OK);
    assert_int_equal(vc_store_outbox_add(f->s, &o), VT_OK);
    assert_int_equal(vc_store_set(f->s, "username", "bob", 3), VT_OK);
    /* A removed row leaves no plaintext behind either. */
    assert_int_equal(vc_store_outbox_remove(f->s, o.message_id), VT_OK);
    vc_store_close(f->s);
    f->s = NULL;

    for (size_t i = 0; i < sizeof(sidecars) / sizeof(sidecars[0]); i++) {
        uint8_t *buf;
        size_t len;

        snprintf(p, sizeof(p), "%s%s", f->path, sidecars[i]);
        buf = read_all(p, &len);
        if (i == 0)
            assert_non_null(buf);
        if (buf == NULL)
            continue;
        assert_null(memmem(buf, len, "zebra-marmalade", 15));
        assert_null(memmem(buf, len, SECRET_CONTENT, strlen(SECRET_CONTENT)));
        assert_null(memmem(buf, len, "SQLite format 3", 15));
        assert_null(memmem(buf, len, "CREATE TABLE", 12));
        free(buf);
    }

    /* Without the key the file is no database. */
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    assert_int_equal(rc, SQLITE_NOTADB);
    sqlite3_close(db);

    assert_int_equal(vc_store_open(&f->s, f->path, KEY, KEY_LEN), VT_OK);
}

/* ---- Migrations ---------------------------------------------------------------- */

/* A keyed database made by hand at |version|. */
static void make_db(const char *path, int version, const char *extra_sql)
{
    sqlite3 *db = NULL;
    char sql[64];

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_key(db, KEY, (int)KEY_LEN), SQLITE_OK);
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    if (extra_sql != NULL)
        assert_int_equal(sqlite3_exec(db, extra_sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_migrations(void **state)
{
    fixture *f = *state;
    vc_store *s = NULL;
    uint8_t seed[32];
    char p[160];

    assert_int_equal(vc_store_schema_version(f->s), 1);

    /* Version 0 (keyed, nothing in it but an unrelated table): migrated. */
    snprintf(p, sizeof(p), "%s/v0.db", f->dir);
    make_db(p, 0, "CREATE TABLE unrelated(x)");
    assert_int_equal(vc_store_open(&s, p, KEY, KEY_LEN), VT_OK);
    assert_int_equal(vc_store_schema_version(s), 1);
    fill(seed, 32, 5);
    assert_int_equal(vc_store_put_identity(s, seed), VT_OK);
    vc_store_close(s);
    s = NULL;
    assert_int_equal(vc_store_open(&s, p, KEY, KEY_LEN), VT_OK);
    assert_int_equal(vc_store_schema_version(s), 1);
    assert_int_equal(vc_store_get_identity(s, seed), VT_OK);
    vc_store_close(s);
    s = NULL;
    unlink(p);

    /* A newer schema than this build knows: refused, untouched. */
    snprintf(p, sizeof(p), "%s/v99.db", f->dir);
    make_db(p, 99, NULL);
    assert_int_equal(vc_store_open(&s, p, KEY, KEY_LEN), VT_ERR_CONFIG);
    assert_null(s);
    unlink(p);
}

/* SM-3 / AUTH-87: the seed can be forgotten, and a new one put after. */
static void test_delete_identity(void **state)
{
    fixture *f = *state;
    uint8_t seed[32], other[32], got[32];

    fill(seed, sizeof(seed), 1);
    fill(other, sizeof(other), 2);
    assert_int_equal(vc_store_delete_identity(f->s), VT_OK); /* none: no error */
    assert_int_equal(vc_store_put_identity(f->s, seed), VT_OK);
    assert_int_equal(vc_store_delete_identity(f->s), VT_OK);
    reopen(f);
    assert_int_equal(vc_store_get_identity(f->s, got), VT_ERR_NOT_FOUND);
    assert_int_equal(vc_store_put_identity(f->s, other), VT_OK);
    assert_int_equal(vc_store_get_identity(f->s, got), VT_OK);
    assert_memory_equal(got, other, 32);
    /* inside a transaction that rolls back, the seed stays */
    assert_int_equal(vc_store_begin(f->s), VT_OK);
    assert_int_equal(vc_store_delete_identity(f->s), VT_OK);
    vc_store_rollback(f->s);
    assert_int_equal(vc_store_get_identity(f->s, got), VT_OK);
}

static void test_has_session(void **state)
{
    fixture *f = *state;
    uint8_t a[40];

    fill(a, sizeof(a), 1);
    assert_false(vc_store_has_session(f->s, "bob", 1, VC_SESSION_CURRENT));
    assert_int_equal(
        vc_store_put_session(f->s, "bob", 1, VC_SESSION_LOSING, a, sizeof(a), 1), VT_OK);
    /* the slots are apart, and so are devices and accounts */
    assert_false(vc_store_has_session(f->s, "bob", 1, VC_SESSION_CURRENT));
    assert_true(vc_store_has_session(f->s, "bob", 1, VC_SESSION_LOSING));
    assert_int_equal(
        vc_store_put_session(f->s, "bob", 1, VC_SESSION_CURRENT, a, sizeof(a), 1), VT_OK);
    assert_true(vc_store_has_session(f->s, "bob", 1, VC_SESSION_CURRENT));
    assert_false(vc_store_has_session(f->s, "bob", 2, VC_SESSION_CURRENT));
    assert_false(vc_store_has_session(f->s, "bobby", 1, VC_SESSION_CURRENT));
    assert_int_equal(vc_store_delete_sessions(f->s, "bob", 1), VT_OK);
    assert_false(vc_store_has_session(f->s, "bob", 1, VC_SESSION_CURRENT));
    assert_false(vc_store_has_session(f->s, "bob", 1, VC_SESSION_LOSING));
    /* bad arguments fail closed (read as present) */
    assert_true(vc_store_has_session(f->s, NULL, 1, VC_SESSION_CURRENT));
    assert_true(vc_store_has_session(f->s, "bob", 1, (vc_session_slot)7));
}

static void test_get_history(void **state)
{
    fixture *f = *state;
    vc_history_row r1 = history("bob", "bob", 1, "hello");
    vc_history_row r2 = history("bob", "alice", 1, "same id, other sender");
    vc_history_row got;
    uint8_t mid[16];

    r2.outgoing = true;
    strcpy(r2.status, "SENT");
    assert_int_equal(vc_store_add_history(f->s, &r1), VT_OK);
    assert_int_equal(vc_store_add_history(f->s, &r2), VT_OK);
    memset(mid, 1, sizeof(mid));
    memset(&got, 0x5a, sizeof(got));
    assert_int_equal(vc_store_get_history(f->s, "alice", mid, &got), VT_OK);
    assert_string_equal(got.sender, "alice");
    assert_string_equal(got.peer, "bob");
    assert_string_equal(got.status, "SENT");
    assert_true(got.outgoing);
    assert_false(got.has_group);
    assert_int_equal(got.sent_at_ms, 1001);
    assert_int_equal(got.text_len, strlen("same id, other sender"));
    assert_memory_equal(got.text, "same id, other sender", got.text_len);
    vc_history_row_clear(&got);
    assert_int_equal(vc_store_get_history(f->s, "bob", mid, &got), VT_OK);
    assert_false(got.outgoing);
    assert_memory_equal(got.text, "hello", 5);
    vc_history_row_clear(&got);
    /* a status change shows, and unknown keys are NOT_FOUND with *out untouched */
    assert_int_equal(vc_store_set_history_status(f->s, "alice", mid, "READ"), VT_OK);
    assert_int_equal(vc_store_get_history(f->s, "alice", mid, &got), VT_OK);
    assert_string_equal(got.status, "READ");
    vc_history_row_clear(&got);
    memset(&got, 0x5a, sizeof(got));
    assert_int_equal(vc_store_get_history(f->s, "carol", mid, &got), VT_ERR_NOT_FOUND);
    mid[15] = 2;
    assert_int_equal(vc_store_get_history(f->s, "alice", mid, &got), VT_ERR_NOT_FOUND);
    assert_int_equal(got.rowid, (int64_t)0x5a5a5a5a5a5a5a5a);
    assert_int_equal(vc_store_get_history(f->s, NULL, mid, &got),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vc_store_get_history(f->s, "alice", NULL, &got),
                     VT_ERR_INVALID_ARGUMENT);
}

/* CRYPTO-24/76: deleting one signed prekey takes its base keys along. */
static void test_base_keys_follow_prekey(void **state)
{
    fixture *f = *state;
    vc_prekey_row spk = prekey(VC_PREKEY_SIGNED, 3, 10);
    vc_prekey_row otk = prekey(VC_PREKEY_ONE_TIME, 3, 10);
    uint8_t bk[32], bk2[32];

    fill(bk, sizeof(bk), 7);
    fill(bk2, sizeof(bk2), 8);
    assert_int_equal(vc_store_put_prekey(f->s, &spk), VT_OK);
    assert_int_equal(vc_store_put_prekey(f->s, &otk), VT_OK);
    assert_int_equal(vc_store_add_base_key(f->s, bk, 3, 20), VT_OK);
    assert_int_equal(vc_store_add_base_key(f->s, bk2, 4, 20), VT_OK);
    /* a one-time key with the same id is another kind: nothing goes */
    assert_int_equal(vc_store_delete_prekey(f->s, VC_PREKEY_ONE_TIME, 3), VT_OK);
    assert_true(vc_store_has_base_key(f->s, bk));
    assert_int_equal(vc_store_delete_prekey(f->s, VC_PREKEY_SIGNED, 3), VT_OK);
    assert_false(vc_store_has_base_key(f->s, bk));
    assert_true(vc_store_has_base_key(f->s, bk2));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_settings),
        T(test_identity),
        T(test_prekeys),
        T(test_prekey_expiry),
        T(test_base_keys),
        T(test_sessions),
        T(test_devices),
        T(test_history),
        T(test_processed),
        T(test_outbox),
        T(test_groups),
        T(test_transactions),
        T(test_wrong_passphrase),
        T(test_not_a_store),
        T(test_file_mode),
        T(test_encrypted_at_rest),
        T(test_migrations),
        T(test_delete_identity),
        T(test_has_session),
        T(test_get_history),
        T(test_base_keys_follow_prekey),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
