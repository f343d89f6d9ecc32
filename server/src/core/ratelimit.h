/* ventrad rate limits: token buckets, a bounded table of them keyed by
 * arbitrary bytes, and their configuration strings. Implements spec/wire.md
 * section 4.3 (WIRE-70, WIRE-71, WIRE-72) for spec/auth.md AUTH-100. */
#ifndef VTD_RATELIMIT_H
#define VTD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/crypto.h"
#include "ventra/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A bucket's parameters. A disabled bucket admits everything. An enabled
 * one holds up to |burst| tokens and gains |rate| tokens per second; one
 * with rate <= 0 never refills and one with burst < 1 refuses everything
 * (vtd_bucket_cfg_parse never yields either). */
typedef struct vtd_bucket_cfg {
    double rate;  /* tokens per second */
    double burst; /* capacity, in tokens */
    bool enabled;
} vtd_bucket_cfg;

/* One bucket, embeddable (in a connection, say). Zero-initialised it is
 * full: its first use fills it to |burst|. Times are milliseconds of a
 * monotonic clock; a time earlier than the last one seen refills nothing. */
typedef struct vtd_bucket {
    double tokens;
    uint64_t last_ms;
    bool init;
} vtd_bucket;

/* Refills |b| to |now_ms| under |cfg| and takes one token. Returns true
 * when a token was there (and is now consumed), or always when |cfg| is
 * disabled. Returns false otherwise, with |*retry_after_ms| (may be NULL)
 * set to the milliseconds until a token will be there, rounded up, and at
 * least 1 (WIRE-70; UINT32_MAX when it never will). A refused take
 * consumes nothing. |b| and |cfg| must not be NULL. */
bool vtd_bucket_take(vtd_bucket *b, const vtd_bucket_cfg *cfg, uint64_t now_ms,
                     uint32_t *retry_after_ms);

/* As vtd_bucket_take, but never consumes a token or changes |b|: true when
 * a take at |now_ms| would succeed. For "refuse if the failed-login bucket
 * is empty" before doing the work; the caller takes when the work fails. */
bool vtd_bucket_check(const vtd_bucket *b, const vtd_bucket_cfg *cfg, uint64_t now_ms,
                      uint32_t *retry_after_ms);

/* Parses a bucket configuration: "off" (disabled), or
 * "<rate>/<unit>:<burst>" with <rate> a positive decimal ("50", "0.5"),
 * <unit> one of s, m, h (per second, minute, hour) and <burst> a positive
 * integer; for example "50/s:200", "10/h:10", "1/s:10". No spaces, signs or
 * exponents; both numbers at most 1e9. On success writes |*out|, on failure
 * leaves it untouched. Errors: VT_ERR_INVALID_ARGUMENT (NULL),
 * VT_ERR_CONFIG (anything else). */
VT_MUST_CHECK vt_err vtd_bucket_cfg_parse(const char *s, vtd_bucket_cfg *out);

/* Longest key a limiter stores as is; a longer key is stored as its
 * 64-byte BLAKE2b hash (with its length kept, so it never equals a short
 * key). */
#define VTD_LIMITER_KEY_MAX 64u

/* A table of buckets keyed by byte strings (an account, an address, a
 * device), all under one configuration, holding at most |max_keys| of
 * them: its memory is allocated once, by vtd_limiter_new, and never grows.
 * A bucket that has refilled to full is the same as an absent one, so the
 * table forgets it (a few per call, the oldest-full first). When a new key
 * finds the table full, the entry that will be full soonest is evicted
 * (when it is full already, nothing is lost; otherwise its key gets a full
 * bucket early, the least generous choice available). Lookups hash with
 * SipHash under a random key, so chosen keys cannot make chains long. Not
 * thread-safe: the caller serialises calls on one limiter. */
typedef struct vtd_limiter vtd_limiter;

/* Creates a limiter of |*cfg| (copied) for up to |max_keys| keys (1 to
 * 2^31) into |*out|, which the caller frees with vtd_limiter_free; |*out|
 * is untouched on failure. Errors: VT_ERR_INVALID_ARGUMENT (NULL, max_keys
 * out of range), VT_ERR_NO_MEMORY, VT_ERR_CRYPTO (no random hash key). */
VT_MUST_CHECK vt_err vtd_limiter_new(vtd_limiter **out, const vtd_bucket_cfg *cfg,
                                     size_t max_keys);

/* Frees |l| and every bucket in it. NULL is a no-op. */
void vtd_limiter_free(vtd_limiter *l);

/* vtd_bucket_take on the bucket of |key| (|key_len| bytes; NULL allowed
 * when 0), created full when absent. Never allocates. A disabled
 * configuration returns true without touching the table. |l| must not be
 * NULL. */
bool vtd_limiter_take(vtd_limiter *l, const void *key, size_t key_len, uint64_t now_ms,
                      uint32_t *retry_after_ms);

/* vtd_bucket_check on the bucket of |key|: an absent key is a full bucket
 * and is not added. */
bool vtd_limiter_check(vtd_limiter *l, const void *key, size_t key_len, uint64_t now_ms,
                       uint32_t *retry_after_ms);

/* Replaces the configuration (copied). Buckets keep their tokens, capped
 * at the new burst, and refill at the new rate from their last update on.
 * Disabling empties the table. |l| and |cfg| must not be NULL. */
void vtd_limiter_set_cfg(vtd_limiter *l, const vtd_bucket_cfg *cfg);

/* The number of keys the table holds now, at most its max_keys. */
size_t vtd_limiter_size(const vtd_limiter *l);

#ifdef __cplusplus
}
#endif

#endif
