/* Private to the SQLite store: what store_sqlite.c needs from
 * store_migrations.c, the versioned schema that keeps the state of
 * spec/auth.md and spec/delivery.md (DELIV-2, DELIV-40). */
#ifndef VTD_STORE_INT_H
#define VTD_STORE_INT_H

#include <sqlite3.h>

#include "store.h"

/* The newest schema version this program knows (the number of migration
 * steps; version 1 is the initial schema). */
int vtd_store_schema_newest(void);

/* Brings |db| to the newest schema version, applying each missing step in
 * its own transaction, and sets *version to the version reached. The
 * caller has set PRAGMA foreign_keys already. Errors: VT_ERR_CONFIG (the
 * database is at a version newer than vtd_store_schema_newest()),
 * VT_ERR_IO. */
VT_MUST_CHECK vt_err vtd_store_migrate(sqlite3 *db, int *version);

/* Runs |sql|, which must give exactly one row, and hands out a copy of
 * that row's first column in *value; the caller frees it with
 * sqlite3_value_free. *value is untouched on failure. Errors: VT_ERR_IO. */
VT_MUST_CHECK vt_err vtd_store_query_value(sqlite3 *db, const char *sql,
                                           sqlite3_value **value);

/* The schema version recorded in |db| (PRAGMA user_version) into *version.
 * Errors: VT_ERR_IO. */
VT_MUST_CHECK vt_err vtd_store_user_version(sqlite3 *db, int *version);

#endif
