/* The client store's tables: settings, identity and prekeys (spec/crypto.md
 * section 4), sessions and trusted devices (section 7, SEC-5), history, the
 * processed record and the outbox (spec/delivery.md 8.2), groups (DELIV-111). */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_int.h"

#define MAX_NAME 32  /* usernames: char[33] in the rows */
#define MAX_STATE 15 /* state and status names: char[16] */

/* Caller buffers are bound SQLITE_STATIC: SQLite reads them during the
 * step and vcs_release clears the bindings before the call returns, so no
 * unwiped copy of a secret is left in SQLite's heap by the binding. */
static int bind_bytes(sqlite3_stmt *st, int i, const void *p, size_t n)
{
    if (n == 0)
        return sqlite3_bind_zeroblob(st, i, 0);
    return sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC);
}

static int bind_text(sqlite3_stmt *st, int i, const char *p)
{
    return sqlite3_bind_text(st, i, p, -1, SQLITE_STATIC);
}

static int bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    return sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* An optional 16-byte group id: NULL when absent. */
static int bind_group(sqlite3_stmt *st, int i, bool has, const uint8_t id[16])
{
    return has ? bind_bytes(st, i, id, 16) : sqlite3_bind_null(st, i);
}

static vt_err bind_failed(vc_store *s)
{
    vt_err err = vcs_err(sqlite3_errcode(s->db));

    return err == VT_OK ? VT_ERR_INTERNAL : err;
}

static bool name_ok(const char *name, size_t max)
{
    return name != NULL && strlen(name) <= max;
}

/* Copies a column of exactly |n| bytes; false for any other size (a row
 * this build did not write). */
static bool col_fixed(sqlite3_stmt *st, int col, void *dst, size_t n)
{
    const void *p = sqlite3_column_blob(st, col);

    if (p == NULL || (size_t)sqlite3_column_bytes(st, col) != n)
        return false;
    memcpy(dst, p, n);
    return true;
}

static bool col_str(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *p = sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);

    if (p == NULL || n >= cap)
        return false;
    memcpy(dst, p, n);
    dst[n] = '\0';
    return true;
}

static uint64_t col_u64(sqlite3_stmt *st, int col)
{
    return (uint64_t)sqlite3_column_int64(st, col);
}

/* A blob column into a caller buffer: *len = its size, BUFFER_TOO_SMALL
 * when it exceeds |cap|. */
static vt_err col_copy(sqlite3_stmt *st, int col, void *buf, size_t cap, size_t *len)
{
    const void *p = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);

    if (p == NULL && n != 0)
        return VT_ERR_NO_MEMORY;
    *len = n;
    if (n > cap)
        return VT_ERR_BUFFER_TOO_SMALL;
    if (n != 0)
        memcpy(buf, p, n);
    return VT_OK;
}

/* A blob column into a new NUL-terminated buffer (the NUL is not counted). */
static vt_err col_dup(sqlite3_stmt *st, int col, uint8_t **out, size_t *len)
{
    const void *p = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    uint8_t *copy;

    if (p == NULL && n != 0)
        return VT_ERR_NO_MEMORY;
    copy = malloc(n + 1);
    if (copy == NULL)
        return VT_ERR_NO_MEMORY;
    if (n != 0)
        memcpy(copy, p, n);
    copy[n] = 0;
    *out = copy;
    *len = n;
    return VT_OK;
}

/* Steps a single-row lookup: VT_OK on a row, VT_ERR_NOT_FOUND on none. */
static vt_err step_row(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return VT_OK;
    if (rc == SQLITE_DONE)
        return VT_ERR_NOT_FOUND;
    return vcs_err(rc);
}

/* Runs a statement that changes one row by key: NOT_FOUND when none. */
static vt_err run_one(vc_store *s, enum vcs_stmt id, sqlite3_stmt *st)
{
    vt_err err = vcs_run(s, id, st);

    if (err == VT_OK && sqlite3_changes(s->db) == 0)
        err = VT_ERR_NOT_FOUND;
    return err;
}

/* ---- Settings and identity ---------------------------------------------- */

vt_err vc_store_set(vc_store *s, const char *name, const void *value, size_t len)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (name == NULL || (value == NULL && len != 0))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_SETTING_PUT, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, name) || bind_bytes(st, 2, value, len)) {
        err = bind_failed(s);
        vcs_release(s, VCS_SETTING_PUT, st);
        return err;
    }
    return vcs_run(s, VCS_SETTING_PUT, st);
}

vt_err vc_store_get(vc_store *s, const char *name, void *value, size_t cap, size_t *len)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (name == NULL || len == NULL || (value == NULL && cap != 0))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_SETTING_GET, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, name)) {
        err = bind_failed(s);
        goto out;
    }
    err = step_row(st);
    if (err != VT_OK)
        goto out;
    err = col_copy(st, 0, value, cap, len);
out:
    vcs_release(s, VCS_SETTING_GET, st);
    return err;
}

vt_err vc_store_unset(vc_store *s, const char *name)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (name == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_SETTING_DEL, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, name)) {
        err = bind_failed(s);
        vcs_release(s, VCS_SETTING_DEL, st);
        return err;
    }
    return vcs_run(s, VCS_SETTING_DEL, st);
}

vt_err vc_store_put_identity(vc_store *s, const uint8_t seed[32])
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (seed == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_IDENTITY_PUT, &st);
    if (err != VT_OK)
        return err;
    if (bind_bytes(st, 1, seed, 32)) {
        err = bind_failed(s);
        vcs_release(s, VCS_IDENTITY_PUT, st);
        return err;
    }
    return vcs_run(s, VCS_IDENTITY_PUT, st);
}

vt_err vc_store_get_identity(vc_store *s, uint8_t seed[32])
{
    sqlite3_stmt *st = NULL;
    uint8_t tmp[32];
    vt_err err;

    if (seed == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_IDENTITY_GET, &st);
    if (err != VT_OK)
        return err;
    err = step_row(st);
    if (err != VT_OK)
        goto out;
    if (!col_fixed(st, 0, tmp, sizeof(tmp))) {
        err = VT_ERR_IO;
        goto out;
    }
    memcpy(seed, tmp, sizeof(tmp));
out:
    sodium_memzero(tmp, sizeof(tmp));
    vcs_release(s, VCS_IDENTITY_GET, st);
    return err;
}

vt_err vc_store_delete_identity(vc_store *s)
{
    sqlite3_stmt *st = NULL;
    vt_err err = vcs_acquire(s, VCS_IDENTITY_DEL, &st);

    if (err != VT_OK)
        return err;
    return vcs_run(s, VCS_IDENTITY_DEL, st);
}

/* ---- Prekeys and base keys ---------------------------------------------- */

static bool kind_ok(vc_prekey_kind kind)
{
    return kind == VC_PREKEY_ONE_TIME || kind == VC_PREKEY_SIGNED ||
           kind == VC_PREKEY_LAST_RESORT;
}

vt_err vc_store_put_prekey(vc_store *s, const vc_prekey_row *row)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (row == NULL || !kind_ok(row->kind))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_PREKEY_PUT, &st);
    if (err != VT_OK)
        return err;
    if (sqlite3_bind_int(st, 1, (int)row->kind) || bind_u64(st, 2, row->id) ||
        bind_bytes(st, 3, row->pub, 32) || bind_bytes(st, 4, row->priv, 32) ||
        bind_bytes(st, 5, row->signature, 64) || bind_u64(st, 6, row->created_at) ||
        bind_u64(st, 7, row->replaced_at)) {
        err = bind_failed(s);
        vcs_release(s, VCS_PREKEY_PUT, st);
        return err;
    }
    return vcs_run(s, VCS_PREKEY_PUT, st);
}

/* Runs a prekey SELECT and copies its row to |out| only when it is whole. */
static vt_err read_prekey(sqlite3_stmt *st, vc_prekey_row *out)
{
    vc_prekey_row tmp;
    vt_err err;

    memset(&tmp, 0, sizeof(tmp));
    err = step_row(st);
    if (err != VT_OK)
        goto out;
    tmp.kind = (vc_prekey_kind)sqlite3_column_int(st, 0);
    tmp.id = (uint32_t)sqlite3_column_int64(st, 1);
    tmp.created_at = col_u64(st, 5);
    tmp.replaced_at = col_u64(st, 6);
    if (!col_fixed(st, 2, tmp.pub, 32) || !col_fixed(st, 3, tmp.priv, 32) ||
        !col_fixed(st, 4, tmp.signature, 64)) {
        err = VT_ERR_IO;
        goto out;
    }
    *out = tmp;
out:
    sodium_memzero(&tmp, sizeof(tmp));
    return err;
}

vt_err vc_store_get_prekey(vc_store *s, vc_prekey_kind kind, uint32_t id,
                           vc_prekey_row *out)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (out == NULL || !kind_ok(kind))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_PREKEY_GET, &st);
    if (err != VT_OK)
        return err;
    if (sqlite3_bind_int(st, 1, (int)kind) || bind_u64(st, 2, id))
        err = bind_failed(s);
    else
        err = read_prekey(st, out);
    vcs_release(s, VCS_PREKEY_GET, st);
    return err;
}

vt_err vc_store_current_prekey(vc_store *s, vc_prekey_kind kind, vc_prekey_row *out)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (out == NULL || !kind_ok(kind))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_PREKEY_CURRENT, &st);
    if (err != VT_OK)
        return err;
    if (sqlite3_bind_int(st, 1, (int)kind))
        err = bind_failed(s);
    else
        err = read_prekey(st, out);
    vcs_release(s, VCS_PREKEY_CURRENT, st);
    return err;
}

vt_err vc_store_mark_prekeys_replaced(vc_store *s, vc_prekey_kind kind, uint32_t keep_id,
                                      uint64_t now)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!kind_ok(kind) || now == 0)
        return VT_ERR_INVALID_ARGUMENT; /* replaced_at 0 means current */
    err = vcs_acquire(s, VCS_PREKEY_MARK, &st);
    if (err != VT_OK)
        return err;
    if (sqlite3_bind_int(st, 1, (int)kind) || bind_u64(st, 2, keep_id) ||
        bind_u64(st, 3, now)) {
        err = bind_failed(s);
        vcs_release(s, VCS_PREKEY_MARK, st);
        return err;
    }
    return vcs_run(s, VCS_PREKEY_MARK, st);
}

vt_err vc_store_delete_prekey(vc_store *s, vc_prekey_kind kind, uint32_t id)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!kind_ok(kind))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_PREKEY_DEL, &st);
    if (err != VT_OK)
        return err;
    if (sqlite3_bind_int(st, 1, (int)kind) || bind_u64(st, 2, id)) {
        err = bind_failed(s);
        vcs_release(s, VCS_PREKEY_DEL, st);
        return err;
    }
    return run_one(s, VCS_PREKEY_DEL, st);
}

vt_err vc_store_expire_prekeys(vc_store *s, vc_prekey_kind kind, uint64_t now,
                               uint64_t grace_s, size_t *deleted)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!kind_ok(kind))
        return VT_ERR_INVALID_ARGUMENT;
    if (deleted != NULL)
        *deleted = 0;
    if (grace_s > now)
        return VT_OK; /* no replaced_at + grace_s can be <= now */
    err = vcs_acquire(s, VCS_PREKEY_EXPIRE, &st);
    if (err != VT_OK)
        return err;
    if (sqlite3_bind_int(st, 1, (int)kind) || bind_u64(st, 2, now - grace_s)) {
        err = bind_failed(s);
        vcs_release(s, VCS_PREKEY_EXPIRE, st);
        return err;
    }
    err = vcs_run(s, VCS_PREKEY_EXPIRE, st);
    /* sqlite3_changes does not count the trigger's base-key deletions. */
    if (err == VT_OK && deleted != NULL)
        *deleted = (size_t)sqlite3_changes(s->db);
    return err;
}

vt_err vc_store_count_one_time(vc_store *s, size_t *count)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (count == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_PREKEY_COUNT, &st);
    if (err != VT_OK)
        return err;
    err = step_row(st);
    if (err == VT_OK)
        *count = (size_t)sqlite3_column_int64(st, 0);
    vcs_release(s, VCS_PREKEY_COUNT, st);
    return err;
}

vt_err vc_store_add_base_key(vc_store *s, const uint8_t base_key[32],
                             uint32_t signed_prekey_id, uint64_t now)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (base_key == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_BASEKEY_ADD, &st);
    if (err != VT_OK)
        return err;
    if (bind_bytes(st, 1, base_key, 32) || bind_u64(st, 2, signed_prekey_id) ||
        bind_u64(st, 3, now)) {
        err = bind_failed(s);
        vcs_release(s, VCS_BASEKEY_ADD, st);
        return err;
    }
    return vcs_run(s, VCS_BASEKEY_ADD, st);
}

/* Fails closed: a database error reads as "seen", so a PrekeyMessage is
 * refused rather than replayed (CRYPTO-76). */
bool vc_store_has_base_key(vc_store *s, const uint8_t base_key[32])
{
    sqlite3_stmt *st = NULL;
    bool seen = true;

    if (base_key == NULL || vcs_acquire(s, VCS_BASEKEY_HAS, &st) != VT_OK)
        return true;
    if (bind_bytes(st, 1, base_key, 32) == SQLITE_OK)
        seen = step_row(st) != VT_ERR_NOT_FOUND;
    vcs_release(s, VCS_BASEKEY_HAS, st);
    return seen;
}

/* ---- Sessions ------------------------------------------------------------ */

static bool slot_ok(vc_session_slot slot)
{
    return slot == VC_SESSION_CURRENT || slot == VC_SESSION_LOSING;
}

vt_err vc_store_put_session(vc_store *s, const char *username, uint32_t device_id,
                            vc_session_slot slot, const uint8_t *state, size_t len,
                            uint64_t now)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!name_ok(username, MAX_NAME) || !slot_ok(slot) || state == NULL || len == 0)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_SESSION_PUT, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, username) || bind_u64(st, 2, device_id) ||
        sqlite3_bind_int(st, 3, (int)slot) || bind_bytes(st, 4, state, len) ||
        bind_u64(st, 5, now)) {
        err = bind_failed(s);
        vcs_release(s, VCS_SESSION_PUT, st);
        return err;
    }
    return vcs_run(s, VCS_SESSION_PUT, st);
}

vt_err vc_store_get_session(vc_store *s, const char *username, uint32_t device_id,
                            vc_session_slot slot, uint8_t *state, size_t cap, size_t *len)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!name_ok(username, MAX_NAME) || !slot_ok(slot) || len == NULL ||
        (state == NULL && cap != 0))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_SESSION_GET, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, username) || bind_u64(st, 2, device_id) ||
        sqlite3_bind_int(st, 3, (int)slot)) {
        err = bind_failed(s);
        goto out;
    }
    err = step_row(st);
    if (err == VT_OK)
        err = col_copy(st, 0, state, cap, len);
out:
    vcs_release(s, VCS_SESSION_GET, st);
    return err;
}

bool vc_store_has_session(vc_store *s, const char *username, uint32_t device_id,
                          vc_session_slot slot)
{
    sqlite3_stmt *st = NULL;
    bool has = true;

    if (!name_ok(username, MAX_NAME) || !slot_ok(slot) ||
        vcs_acquire(s, VCS_SESSION_HAS, &st) != VT_OK)
        return true;
    if (bind_text(st, 1, username) == SQLITE_OK &&
        bind_u64(st, 2, device_id) == SQLITE_OK &&
        sqlite3_bind_int(st, 3, (int)slot) == SQLITE_OK)
        has = step_row(st) != VT_ERR_NOT_FOUND;
    vcs_release(s, VCS_SESSION_HAS, st);
    return has;
}

vt_err vc_store_delete_session(vc_store *s, const char *username, uint32_t device_id,
                               vc_session_slot slot)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!name_ok(username, MAX_NAME) || !slot_ok(slot))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_SESSION_DEL, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, username) || bind_u64(st, 2, device_id) ||
        sqlite3_bind_int(st, 3, (int)slot)) {
        err = bind_failed(s);
        vcs_release(s, VCS_SESSION_DEL, st);
        return err;
    }
    return run_one(s, VCS_SESSION_DEL, st);
}

vt_err vc_store_delete_sessions(vc_store *s, const char *username, uint32_t device_id)
{
    enum vcs_stmt id = device_id == 0 ? VCS_SESSIONS_DEL_USER : VCS_SESSIONS_DEL_DEVICE;
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!name_ok(username, MAX_NAME))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, id, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, username) || (device_id != 0 && bind_u64(st, 2, device_id))) {
        err = bind_failed(s);
        vcs_release(s, id, st);
        return err;
    }
    return vcs_run(s, id, st);
}

/* ---- Devices -------------------------------------------------------------- */

vt_err vc_store_put_device(vc_store *s, const vc_device_row *row)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (row == NULL || memchr(row->username, '\0', sizeof(row->username)) == NULL ||
        (row->trust != VC_TRUST_TOFU && row->trust != VC_TRUST_VERIFIED &&
         row->trust != VC_TRUST_CHANGED))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_DEVICE_PUT, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, row->username) || bind_u64(st, 2, row->device_id) ||
        bind_bytes(st, 3, row->identity_key, 32) ||
        bind_bytes(st, 4, row->pending_key, 32) ||
        sqlite3_bind_int(st, 5, (int)row->trust) ||
        sqlite3_bind_int(st, 6, row->active) || bind_u64(st, 7, row->first_seen)) {
        err = bind_failed(s);
        vcs_release(s, VCS_DEVICE_PUT, st);
        return err;
    }
    return vcs_run(s, VCS_DEVICE_PUT, st);
}

static bool read_device(sqlite3_stmt *st, vc_device_row *out)
{
    vc_device_row tmp;

    memset(&tmp, 0, sizeof(tmp));
    if (!col_str(st, 0, tmp.username, sizeof(tmp.username)) ||
        !col_fixed(st, 2, tmp.identity_key, 32) || !col_fixed(st, 3, tmp.pending_key, 32))
        return false;
    tmp.device_id = (uint32_t)sqlite3_column_int64(st, 1);
    tmp.trust = (vc_trust)sqlite3_column_int(st, 4);
    tmp.active = sqlite3_column_int(st, 5) != 0;
    tmp.first_seen = col_u64(st, 6);
    *out = tmp;
    return true;
}

vt_err vc_store_get_device(vc_store *s, const char *username, uint32_t device_id,
                           vc_device_row *out)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!name_ok(username, MAX_NAME) || out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_DEVICE_GET, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, username) || bind_u64(st, 2, device_id)) {
        err = bind_failed(s);
        goto out;
    }
    err = step_row(st);
    if (err == VT_OK && !read_device(st, out))
        err = VT_ERR_IO;
out:
    vcs_release(s, VCS_DEVICE_GET, st);
    return err;
}

vt_err vc_store_list_devices(vc_store *s, const char *username, vc_device_row *rows,
                             size_t cap, size_t *count)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    vt_err err;
    int rc;

    if (!name_ok(username, MAX_NAME) || count == NULL || (rows == NULL && cap != 0))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_DEVICE_LIST, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, username)) {
        err = bind_failed(s);
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n < cap && !read_device(st, &rows[n])) {
            err = VT_ERR_IO;
            goto out;
        }
        n++;
    }
    err = vcs_err(rc);
    if (err == VT_OK)
        *count = n;
out:
    vcs_release(s, VCS_DEVICE_LIST, st);
    return err;
}

vt_err vc_store_each_contact(vc_store *s, bool (*fn)(void *ud, const char *username),
                             void *ud)
{
    sqlite3_stmt *st = NULL;
    vt_err err;
    int rc;

    if (fn == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_CONTACTS, &st);
    if (err != VT_OK)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        if (name == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }
        if (!fn(ud, name)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    err = vcs_err(rc);
    vcs_release(s, VCS_CONTACTS, st);
    return err;
}

/* ---- History -------------------------------------------------------------- */

void vc_history_row_clear(vc_history_row *row)
{
    if (row == NULL)
        return;
    if (row->text != NULL) {
        sodium_memzero(row->text, row->text_len);
        free(row->text);
    }
    sodium_memzero(row, sizeof(*row));
}

vt_err vc_store_add_history(vc_store *s, const vc_history_row *row)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (row == NULL || memchr(row->peer, '\0', sizeof(row->peer)) == NULL ||
        memchr(row->sender, '\0', sizeof(row->sender)) == NULL ||
        memchr(row->status, '\0', sizeof(row->status)) == NULL ||
        (row->text == NULL && row->text_len != 0))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_HISTORY_ADD, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, row->peer) || bind_group(st, 2, row->has_group, row->group_id) ||
        bind_text(st, 3, row->sender) || bind_u64(st, 4, row->sender_device) ||
        bind_bytes(st, 5, row->message_id, 16) ||
        sqlite3_bind_int(st, 6, row->outgoing) || bind_text(st, 7, row->status) ||
        bind_u64(st, 8, row->sent_at_ms) || bind_u64(st, 9, row->server_ms) ||
        bind_bytes(st, 10, row->text, row->text_len)) {
        err = bind_failed(s);
        vcs_release(s, VCS_HISTORY_ADD, st);
        return err;
    }
    return vcs_run(s, VCS_HISTORY_ADD, st);
}

vt_err vc_store_set_history_status(vc_store *s, const char *sender, const uint8_t mid[16],
                                   const char *status)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!name_ok(sender, MAX_NAME) || mid == NULL || !name_ok(status, MAX_STATE))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_HISTORY_STATUS, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, sender) || bind_bytes(st, 2, mid, 16) ||
        bind_text(st, 3, status)) {
        err = bind_failed(s);
        vcs_release(s, VCS_HISTORY_STATUS, st);
        return err;
    }
    return run_one(s, VCS_HISTORY_STATUS, st);
}

static vt_err read_history(sqlite3_stmt *st, vc_history_row *out)
{
    uint8_t *text = NULL;
    vt_err err;

    memset(out, 0, sizeof(*out));
    out->rowid = sqlite3_column_int64(st, 0);
    out->has_group = sqlite3_column_type(st, 2) != SQLITE_NULL;
    if (!col_str(st, 1, out->peer, sizeof(out->peer)) ||
        (out->has_group && !col_fixed(st, 2, out->group_id, 16)) ||
        !col_str(st, 3, out->sender, sizeof(out->sender)) ||
        !col_fixed(st, 5, out->message_id, 16) ||
        !col_str(st, 7, out->status, sizeof(out->status)))
        return VT_ERR_IO;
    out->sender_device = (uint32_t)sqlite3_column_int64(st, 4);
    out->outgoing = sqlite3_column_int(st, 6) != 0;
    out->sent_at_ms = col_u64(st, 8);
    out->server_ms = col_u64(st, 9);
    err = col_dup(st, 10, &text, &out->text_len);
    out->text = (char *)text;
    return err;
}

vt_err vc_store_get_history(vc_store *s, const char *sender, const uint8_t mid[16],
                            vc_history_row *out)
{
    sqlite3_stmt *st = NULL;
    vc_history_row row;
    vt_err err;

    memset(&row, 0, sizeof(row));
    if (!name_ok(sender, MAX_NAME) || mid == NULL || out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_HISTORY_GET, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, sender) || bind_bytes(st, 2, mid, 16)) {
        err = bind_failed(s);
        goto out;
    }
    err = step_row(st);
    if (err == VT_OK)
        err = read_history(st, &row);
    if (err == VT_OK) {
        *out = row;
        memset(&row, 0, sizeof(row)); /* the text now belongs to *out */
    }
out:
    vc_history_row_clear(&row);
    vcs_release(s, VCS_HISTORY_GET, st);
    return err;
}

vt_err vc_store_each_history(vc_store *s, const char *peer, const uint8_t *group_id,
                             int64_t after, size_t limit,
                             bool (*fn)(void *ud, const vc_history_row *row), void *ud)
{
    enum vcs_stmt id;
    sqlite3_stmt *st = NULL;
    vc_history_row row;
    vt_err err;
    int rc;

    memset(&row, 0, sizeof(row));
    if (fn == NULL || (peer != NULL && !name_ok(peer, MAX_NAME)))
        return VT_ERR_INVALID_ARGUMENT;
    if (group_id != NULL)
        id = VCS_HISTORY_GROUP;
    else if (peer != NULL && peer[0] != '\0')
        id = VCS_HISTORY_PEER;
    else
        id = VCS_HISTORY_ALL;
    err = vcs_acquire(s, id, &st);
    if (err != VT_OK)
        return err;
    /* A negative LIMIT is no limit. */
    if (sqlite3_bind_int64(st, 1, after) ||
        sqlite3_bind_int64(st, 2, limit > INT64_MAX ? -1 : (sqlite3_int64)limit) ||
        (id == VCS_HISTORY_GROUP && bind_bytes(st, 3, group_id, 16)) ||
        (id == VCS_HISTORY_PEER && bind_text(st, 3, peer))) {
        err = bind_failed(s);
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool more;

        err = read_history(st, &row);
        if (err != VT_OK)
            goto out;
        more = fn(ud, &row);
        vc_history_row_clear(&row);
        if (!more) {
            rc = SQLITE_DONE;
            break;
        }
    }
    err = vcs_err(rc);
out:
    vc_history_row_clear(&row);
    vcs_release(s, id, st);
    return err;
}

/* ---- Processed messages --------------------------------------------------- */

vt_err vc_store_mark_processed(vc_store *s, const char *sender, const uint8_t mid[16],
                               uint64_t now)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!name_ok(sender, MAX_NAME) || mid == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_PROCESSED_ADD, &st);
    if (err != VT_OK)
        return err;
    if (bind_text(st, 1, sender) || bind_bytes(st, 2, mid, 16) || bind_u64(st, 3, now)) {
        err = bind_failed(s);
        vcs_release(s, VCS_PROCESSED_ADD, st);
        return err;
    }
    return vcs_run(s, VCS_PROCESSED_ADD, st);
}

/* A database error reads as "not processed": the message is decrypted, and
 * a true duplicate then fails there (its message key is gone, DELIV-90). */
bool vc_store_was_processed(vc_store *s, const char *sender, const uint8_t mid[16])
{
    sqlite3_stmt *st = NULL;
    bool seen = false;

    if (!name_ok(sender, MAX_NAME) || mid == NULL ||
        vcs_acquire(s, VCS_PROCESSED_HAS, &st) != VT_OK)
        return false;
    if (bind_text(st, 1, sender) == SQLITE_OK && bind_bytes(st, 2, mid, 16) == SQLITE_OK)
        seen = step_row(st) == VT_OK;
    vcs_release(s, VCS_PROCESSED_HAS, st);
    return seen;
}

vt_err vc_store_expire_processed(vc_store *s, uint64_t now, uint64_t keep_s)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (keep_s >= now)
        return VT_OK; /* nothing is older than now - keep_s */
    err = vcs_acquire(s, VCS_PROCESSED_EXPIRE, &st);
    if (err != VT_OK)
        return err;
    if (bind_u64(st, 1, now - keep_s)) {
        err = bind_failed(s);
        vcs_release(s, VCS_PROCESSED_EXPIRE, st);
        return err;
    }
    return vcs_run(s, VCS_PROCESSED_EXPIRE, st);
}

/* ---- Outbox ---------------------------------------------------------------- */

void vc_outbox_row_clear(vc_outbox_row *row)
{
    if (row == NULL)
        return;
    if (row->content != NULL) {
        sodium_memzero(row->content, row->content_len);
        free(row->content);
    }
    sodium_memzero(row, sizeof(*row));
}

static bool outbox_row_ok(const vc_outbox_row *row)
{
    return row != NULL && memchr(row->recipient, '\0', sizeof(row->recipient)) != NULL &&
           memchr(row->state, '\0', sizeof(row->state)) != NULL;
}

/* Binds columns 2 to 9 (everything but id and content). */
static int bind_outbox_fields(sqlite3_stmt *st, const vc_outbox_row *row)
{
    int rc = bind_text(st, 2, row->recipient);

    if (rc == SQLITE_OK)
        rc = bind_group(st, 3, row->has_group, row->group_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 4, row->ephemeral);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 5, row->state);
    if (rc == SQLITE_OK)
        rc = bind_u64(st, 6, row->first_attempt_ms);
    if (rc == SQLITE_OK)
        rc = bind_u64(st, 7, row->next_attempt_ms);
    if (rc == SQLITE_OK)
        rc = bind_u64(st, 8, row->attempts);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 9, row->stale_retried);
    return rc;
}

vt_err vc_store_outbox_add(vc_store *s, const vc_outbox_row *row)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!outbox_row_ok(row) || (row->content == NULL && row->content_len != 0))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_OUTBOX_ADD, &st);
    if (err != VT_OK)
        return err;
    if (bind_bytes(st, 1, row->message_id, 16) || bind_outbox_fields(st, row) ||
        bind_bytes(st, 10, row->content, row->content_len)) {
        err = bind_failed(s);
        vcs_release(s, VCS_OUTBOX_ADD, st);
        return err;
    }
    return vcs_run(s, VCS_OUTBOX_ADD, st);
}

vt_err vc_store_outbox_update(vc_store *s, const vc_outbox_row *row)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (!outbox_row_ok(row))
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_OUTBOX_UPDATE, &st);
    if (err != VT_OK)
        return err;
    if (bind_bytes(st, 1, row->message_id, 16) || bind_outbox_fields(st, row)) {
        err = bind_failed(s);
        vcs_release(s, VCS_OUTBOX_UPDATE, st);
        return err;
    }
    return run_one(s, VCS_OUTBOX_UPDATE, st);
}

vt_err vc_store_outbox_remove(vc_store *s, const uint8_t mid[16])
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (mid == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_OUTBOX_DEL, &st);
    if (err != VT_OK)
        return err;
    if (bind_bytes(st, 1, mid, 16)) {
        err = bind_failed(s);
        vcs_release(s, VCS_OUTBOX_DEL, st);
        return err;
    }
    return run_one(s, VCS_OUTBOX_DEL, st);
}

static vt_err read_outbox(sqlite3_stmt *st, vc_outbox_row *out)
{
    memset(out, 0, sizeof(*out));
    out->has_group = sqlite3_column_type(st, 2) != SQLITE_NULL;
    if (!col_fixed(st, 0, out->message_id, 16) ||
        !col_str(st, 1, out->recipient, sizeof(out->recipient)) ||
        (out->has_group && !col_fixed(st, 2, out->group_id, 16)) ||
        !col_str(st, 4, out->state, sizeof(out->state)))
        return VT_ERR_IO;
    out->ephemeral = sqlite3_column_int(st, 3) != 0;
    out->first_attempt_ms = col_u64(st, 5);
    out->next_attempt_ms = col_u64(st, 6);
    out->attempts = (uint32_t)sqlite3_column_int64(st, 7);
    out->stale_retried = sqlite3_column_int(st, 8) != 0;
    return col_dup(st, 9, &out->content, &out->content_len);
}

vt_err vc_store_outbox_get(vc_store *s, const uint8_t mid[16], vc_outbox_row *out)
{
    sqlite3_stmt *st = NULL;
    vc_outbox_row tmp;
    vt_err err;

    memset(&tmp, 0, sizeof(tmp));
    if (mid == NULL || out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_OUTBOX_GET, &st);
    if (err != VT_OK)
        return err;
    if (bind_bytes(st, 1, mid, 16)) {
        err = bind_failed(s);
        goto out;
    }
    err = step_row(st);
    if (err == VT_OK)
        err = read_outbox(st, &tmp);
    if (err == VT_OK) {
        *out = tmp;
        memset(&tmp, 0, sizeof(tmp)); /* ownership of content moved to |out| */
    }
out:
    vc_outbox_row_clear(&tmp);
    vcs_release(s, VCS_OUTBOX_GET, st);
    return err;
}

vt_err vc_store_outbox_each(vc_store *s, bool (*fn)(void *ud, const vc_outbox_row *row),
                            void *ud)
{
    sqlite3_stmt *st = NULL;
    vc_outbox_row row;
    vt_err err;
    int rc;

    memset(&row, 0, sizeof(row));
    if (fn == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vcs_acquire(s, VCS_OUTBOX_EACH, &st);
    if (err != VT_OK)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool more;

        err = read_outbox(st, &row);
        if (err != VT_OK)
            goto out;
        more = fn(ud, &row);
        vc_outbox_row_clear(&row);
        if (!more) {
            rc = SQLITE_DONE;
            break;
        }
    }
    err = vcs_err(rc);
out:
    vc_outbox_row_clear(&row);
    vcs_release(s, VCS_OUTBOX_EACH, st);
    return err;
}

/* ---- Groups ----------------------------------------------------------------- */

enum { ROLE_MEMBER = 0, ROLE_ADMIN = 1 };

static vt_err add_names(vc_store *s, const uint8_t group_id[16], int role,
                        const char *const *names, size_t n)
{
    sqlite3_stmt *st = NULL;
    vt_err err = VT_OK;

    for (size_t i = 0; i < n && err == VT_OK; i++) {
        if (!name_ok(names[i], MAX_NAME))
            return VT_ERR_INVALID_ARGUMENT;
        err = vcs_acquire(s, VCS_GROUP_MEMBER_ADD, &st);
        if (err != VT_OK)
            return err;
        /* INSERT OR IGNORE: a name listed twice is kept once. */
        if (bind_bytes(st, 1, group_id, 16) || sqlite3_bind_int(st, 2, role) ||
            bind_u64(st, 3, i) || bind_text(st, 4, names[i])) {
            err = bind_failed(s);
            vcs_release(s, VCS_GROUP_MEMBER_ADD, st);
            return err;
        }
        err = vcs_run(s, VCS_GROUP_MEMBER_ADD, st);
    }
    return err;
}

/* Runs one statement keyed by a group id alone. */
static vt_err run_group(vc_store *s, enum vcs_stmt id, const uint8_t group_id[16])
{
    sqlite3_stmt *st = NULL;
    vt_err err = vcs_acquire(s, id, &st);

    if (err != VT_OK)
        return err;
    if (bind_bytes(st, 1, group_id, 16)) {
        err = bind_failed(s);
        vcs_release(s, id, st);
        return err;
    }
    return vcs_run(s, id, st);
}

vt_err vc_store_put_group(vc_store *s, const uint8_t group_id[16], const char *name,
                          const char *const *members, size_t n_members,
                          const char *const *admins, size_t n_admins)
{
    sqlite3_stmt *st = NULL;
    vt_err err;

    if (group_id == NULL || name == NULL || (members == NULL && n_members != 0) ||
        (admins == NULL && n_admins != 0))
        return VT_ERR_INVALID_ARGUMENT;
    err = vc_store_begin(s);
    if (err != VT_OK)
        return err;
    err = run_group(s, VCS_GROUP_MEMBERS_CLEAR, group_id);
    if (err != VT_OK)
        goto out;
    err = vcs_acquire(s, VCS_GROUP_PUT, &st);
    if (err != VT_OK)
        goto out;
    if (bind_bytes(st, 1, group_id, 16) || bind_text(st, 2, name)) {
        err = bind_failed(s);
        vcs_release(s, VCS_GROUP_PUT, st);
        goto out;
    }
    err = vcs_run(s, VCS_GROUP_PUT, st);
    if (err != VT_OK)
        goto out;
    err = add_names(s, group_id, ROLE_MEMBER, members, n_members);
    if (err != VT_OK)
        goto out;
    err = add_names(s, group_id, ROLE_ADMIN, admins, n_admins);
out:
    if (err != VT_OK) {
        vc_store_rollback(s);
        return err;
    }
    return vc_store_commit(s);
}

void vc_store_free_names(char **names, size_t n)
{
    if (names == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static vt_err read_names(vc_store *s, const uint8_t group_id[16], int role, char ***out,
                         size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    vt_err err;
    int rc;

    err = vcs_acquire(s, VCS_GROUP_MEMBERS, &st);
    if (err != VT_OK)
        return err;
    if (bind_bytes(st, 1, group_id, 16) || sqlite3_bind_int(st, 2, role)) {
        err = bind_failed(s);
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        if (n == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            char **grown = realloc(names, ncap * sizeof(*names));

            if (grown == NULL) {
                err = VT_ERR_NO_MEMORY;
                goto out;
            }
            names = grown;
            cap = ncap;
        }
        names[n] = name != NULL ? strdup(name) : NULL;
        if (names[n] == NULL) {
            err = VT_ERR_NO_MEMORY;
            goto out;
        }
        n++;
    }
    err = vcs_err(rc);
    if (err != VT_OK)
        goto out;
    *out = names;
    *n_out = n;
    names = NULL;
out:
    vc_store_free_names(names, n);
    vcs_release(s, VCS_GROUP_MEMBERS, st);
    return err;
}

static vt_err group_exists(vc_store *s, const uint8_t group_id[16], char **name)
{
    sqlite3_stmt *st = NULL;
    vt_err err = vcs_acquire(s, VCS_GROUP_GET, &st);

    if (err != VT_OK)
        return err;
    if (bind_bytes(st, 1, group_id, 16)) {
        err = bind_failed(s);
        goto out;
    }
    err = step_row(st);
    if (err != VT_OK || name == NULL)
        goto out;
    {
        const char *text = (const char *)sqlite3_column_text(st, 0);

        *name = text != NULL ? strdup(text) : NULL;
        if (*name == NULL)
            err = VT_ERR_NO_MEMORY;
    }
out:
    vcs_release(s, VCS_GROUP_GET, st);
    return err;
}

vt_err vc_store_get_group(vc_store *s, const uint8_t group_id[16], char **name,
                          char ***members, size_t *n_members)
{
    char *tmp_name = NULL;
    vt_err err;

    if (group_id == NULL || (members != NULL && n_members == NULL))
        return VT_ERR_INVALID_ARGUMENT;
    err = group_exists(s, group_id, name != NULL ? &tmp_name : NULL);
    if (err == VT_OK && members != NULL)
        err = read_names(s, group_id, ROLE_MEMBER, members, n_members);
    if (err != VT_OK) {
        free(tmp_name);
        return err;
    }
    if (name != NULL)
        *name = tmp_name;
    return VT_OK;
}

vt_err vc_store_get_group_admins(vc_store *s, const uint8_t group_id[16], char ***admins,
                                 size_t *n_admins)
{
    vt_err err;

    if (group_id == NULL || admins == NULL || n_admins == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = group_exists(s, group_id, NULL);
    if (err != VT_OK)
        return err;
    return read_names(s, group_id, ROLE_ADMIN, admins, n_admins);
}

vt_err vc_store_delete_group(vc_store *s, const uint8_t group_id[16])
{
    vt_err err;

    if (group_id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vc_store_begin(s);
    if (err != VT_OK)
        return err;
    err = run_group(s, VCS_GROUP_MEMBERS_CLEAR, group_id);
    if (err == VT_OK)
        err = run_group(s, VCS_GROUP_DEL, group_id);
    if (err == VT_OK && sqlite3_changes(s->db) == 0)
        err = VT_ERR_NOT_FOUND;
    if (err != VT_OK) {
        vc_store_rollback(s);
        return err;
    }
    return vc_store_commit(s);
}
