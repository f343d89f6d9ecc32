/* ventrad rate limits: token buckets, a bounded keyed table of them and
 * their configuration strings. Implements spec/wire.md section 4.3
 * (WIRE-70 retry_after_ms, WIRE-71, WIRE-72) for spec/auth.md AUTH-100. */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define NONE UINT32_MAX
#define PURGE_PER_CALL 4 /* full buckets forgotten per take, at most */
#define RETRY_NEVER UINT32_MAX

static bool can_refill(const vtd_bucket_cfg *cfg)
{
    return cfg->rate > 0; /* false for NaN too */
}

static bool can_hold_one(const vtd_bucket_cfg *cfg)
{
    return cfg->burst >= 1; /* false for NaN too */
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ceil(x) for x >= 0 as an integer, saturating at |max|; no libm. */
static uint64_t ceil_sat(double x, uint64_t max)
{
    if (!(x > 0))
        return 0;
    if (x >= (double)max)
        return max;
    uint64_t i = (uint64_t)x;
    return (double)i < x ? i + 1 : i;
}

/* The tokens of |b| at |now_ms|: full before first use; then its stored
 * tokens plus the refill since last_ms, capped at the burst. This one
 * expression decides every take, so the retry time below is computed
 * with it too. */
static double level_at(const vtd_bucket *b, const vtd_bucket_cfg *cfg, uint64_t now_ms)
{
    if (!b->init)
        return cfg->burst;
    double t = b->tokens;
    if (now_ms > b->last_ms && can_refill(cfg))
        t += (double)(now_ms - b->last_ms) * cfg->rate / 1000.0;
    return t < cfg->burst ? t : cfg->burst;
}

/* WIRE-70: the smallest whole number of milliseconds (at least 1) after
 * which level_at reaches one token, given that it is below one now. */
static uint32_t retry_after(const vtd_bucket *b, const vtd_bucket_cfg *cfg,
                            uint64_t now_ms)
{
    if (!can_refill(cfg) || !can_hold_one(cfg) || !b->init)
        return RETRY_NEVER;
    double need = 1.0 - level_at(b, cfg, now_ms);
    uint64_t r = ceil_sat(need * 1000.0 / cfg->rate, RETRY_NEVER);
    if (b->last_ms > now_ms) /* a clock that went back refills from last_ms */
        r = add_sat(r, b->last_ms - now_ms);
    if (r < 1)
        r = 1;
    /* Rounding can leave the estimate a hair off either way: step to the
     * least r at which the very computation a later take makes says yes. */
    for (int i = 0;
         i < 64 && r < RETRY_NEVER && level_at(b, cfg, add_sat(now_ms, r)) < 1.0; i++)
        r++;
    for (int i = 0; i < 64 && r > 1 && level_at(b, cfg, add_sat(now_ms, r - 1)) >= 1.0;
         i++)
        r--;
    return r > RETRY_NEVER ? RETRY_NEVER : (uint32_t)r;
}

bool vtd_bucket_take(vtd_bucket *b, const vtd_bucket_cfg *cfg, uint64_t now_ms,
                     uint32_t *retry_after_ms)
{
    if (!cfg->enabled)
        return true;
    double t = level_at(b, cfg, now_ms);
    if (!b->init || now_ms > b->last_ms)
        b->last_ms = now_ms;
    b->tokens = t;
    b->init = true;
    if (t >= 1.0) {
        b->tokens = t - 1.0;
        return true;
    }
    if (retry_after_ms != NULL)
        *retry_after_ms = retry_after(b, cfg, now_ms);
    return false;
}

bool vtd_bucket_check(const vtd_bucket *b, const vtd_bucket_cfg *cfg, uint64_t now_ms,
                      uint32_t *retry_after_ms)
{
    if (!cfg->enabled || level_at(b, cfg, now_ms) >= 1.0)
        return true;
    if (retry_after_ms != NULL)
        *retry_after_ms = retry_after(b, cfg, now_ms);
    return false;
}

/* ---- configuration strings ---- */

/* Digits, and with |frac| an optional '.' and 1 to 9 more digits; at most
 * 1e9. Advances |*p|. */
static bool parse_number(const char **p, bool frac, double *out)
{
    const char *s = *p;
    double v = 0, scale = 1;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (++digits > 10)
            return false;
    }
    if (digits == 0)
        return false;
    if (frac && *s == '.') {
        s++;
        int fd = 0;
        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (*s++ - '0');
            scale *= 10;
            if (++fd > 9)
                return false;
        }
        if (fd == 0)
            return false;
    }
    v /= scale; /* one rounding of two exact values */
    if (v > 1e9)
        return false;
    *p = s;
    *out = v;
    return true;
}

vt_err vtd_bucket_cfg_parse(const char *s, vtd_bucket_cfg *out)
{
    if (s == NULL || out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (strcmp(s, "off") == 0) {
        *out = (vtd_bucket_cfg){.rate = 0, .burst = 0, .enabled = false};
        return VT_OK;
    }
    double rate, burst, per;
    const char *p = s;
    if (!parse_number(&p, true, &rate) || *p++ != '/')
        return VT_ERR_CONFIG;
    switch (*p++) {
    case 's':
        per = 1;
        break;
    case 'm':
        per = 60;
        break;
    case 'h':
        per = 3600;
        break;
    default:
        return VT_ERR_CONFIG;
    }
    if (*p++ != ':' || !parse_number(&p, false, &burst) || *p != '\0' || !(rate > 0) ||
        !(burst >= 1))
        return VT_ERR_CONFIG;
    *out = (vtd_bucket_cfg){.rate = rate / per, .burst = burst, .enabled = true};
    return VT_OK;
}

/* ---- the keyed table ----
 * A fixed pool of |cap| entries, chained from 2^k heads (k the smallest
 * with 2^k >= cap) by SipHash of the key, and a binary min-heap of the
 * live entries ordered by full_at, the time at which each bucket will have
 * refilled to its burst. The heap's top is both what purging forgets (when
 * full_at has passed) and what a full table evicts (the bucket that will
 * be full soonest). A take only moves its entry's full_at later, so every
 * operation is O(log cap). */

typedef struct entry {
    uint8_t key[VTD_LIMITER_KEY_MAX];
    size_t key_len; /* the caller's length; above KEY_MAX, key is its hash */
    uint64_t hash;
    uint64_t full_at;
    vtd_bucket b;
    uint32_t next; /* chain, or free list */
    uint32_t heap_pos;
} entry;

struct vtd_limiter {
    vtd_bucket_cfg cfg;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    uint32_t cap, count, mask;
    uint32_t free_head;
    uint32_t *heads;
    uint32_t *heap;
    entry *e;
};

/* The bytes a key is stored and compared as. */
typedef struct norm_key {
    const uint8_t *p;
    size_t stored; /* bytes at p */
    size_t len;    /* the caller's length */
    uint8_t digest[VTD_LIMITER_KEY_MAX];
} norm_key;

static void normalise(norm_key *k, const void *key, size_t key_len)
{
    static const uint8_t empty[1];
    k->len = key_len;
    if (key_len <= VTD_LIMITER_KEY_MAX) {
        k->p = key_len > 0 ? key : empty;
        k->stored = key_len;
    } else {
        crypto_generichash(k->digest, sizeof k->digest, key, key_len, NULL, 0);
        k->p = k->digest;
        k->stored = sizeof k->digest;
    }
}

static uint64_t key_hash(const vtd_limiter *l, const norm_key *k)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v = 0;
    crypto_shorthash(h, k->p, k->stored, l->hash_key);
    for (size_t i = 0; i < sizeof h; i++)
        v = v << 8 | h[i];
    return v ^ k->len; /* long keys of different lengths hash apart too */
}

static uint64_t full_at(const vtd_bucket *b, const vtd_bucket_cfg *cfg)
{
    if (!b->init || b->tokens >= cfg->burst)
        return b->last_ms;
    if (!can_refill(cfg))
        return UINT64_MAX;
    double ms = (cfg->burst - b->tokens) * 1000.0 / cfg->rate;
    return add_sat(b->last_ms, ceil_sat(ms, UINT64_MAX));
}

static bool heap_less(const vtd_limiter *l, uint32_t i, uint32_t j)
{
    return l->e[l->heap[i]].full_at < l->e[l->heap[j]].full_at;
}

static void heap_swap(vtd_limiter *l, uint32_t i, uint32_t j)
{
    uint32_t t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->e[l->heap[i]].heap_pos = i;
    l->e[l->heap[j]].heap_pos = j;
}

static void sift_down(vtd_limiter *l, uint32_t pos)
{
    for (;;) {
        uint32_t c = 2 * pos + 1, m = pos;
        if (c < l->count && heap_less(l, c, m))
            m = c;
        if (c + 1 < l->count && heap_less(l, c + 1, m))
            m = c + 1;
        if (m == pos)
            return;
        heap_swap(l, pos, m);
        pos = m;
    }
}

/* Restores the heap after the full_at at |pos| moved either way. */
static void heap_fix(vtd_limiter *l, uint32_t pos)
{
    if (pos > 0 && heap_less(l, pos, (pos - 1) / 2)) {
        do {
            heap_swap(l, pos, (pos - 1) / 2);
            pos = (pos - 1) / 2;
        } while (pos > 0 && heap_less(l, pos, (pos - 1) / 2));
        return;
    }
    sift_down(l, pos);
}

static uint32_t lookup(const vtd_limiter *l, const norm_key *k, uint64_t h)
{
    for (uint32_t i = l->heads[h & l->mask]; i != NONE; i = l->e[i].next) {
        const entry *e = &l->e[i];
        if (e->hash == h && e->key_len == k->len && memcmp(e->key, k->p, k->stored) == 0)
            return i;
    }
    return NONE;
}

static void remove_entry(vtd_limiter *l, uint32_t idx)
{
    entry *e = &l->e[idx];
    uint32_t *link = &l->heads[e->hash & l->mask];
    while (*link != idx)
        link = &l->e[*link].next;
    *link = e->next;

    uint32_t pos = e->heap_pos, last = l->count - 1;
    if (pos != last)
        heap_swap(l, pos, last);
    l->count--;
    if (pos < l->count)
        heap_fix(l, pos);

    e->next = l->free_head;
    l->free_head = idx;
}

/* Forgets up to |n| buckets that have refilled to full by |now_ms|. */
static void purge(vtd_limiter *l, uint64_t now_ms, int n)
{
    while (n-- > 0 && l->count > 0 && l->e[l->heap[0]].full_at <= now_ms)
        remove_entry(l, l->heap[0]);
}

static void reset(vtd_limiter *l)
{
    for (uint32_t i = 0; i <= l->mask; i++)
        l->heads[i] = NONE;
    for (uint32_t i = 0; i < l->cap; i++)
        l->e[i].next = i + 1 < l->cap ? i + 1 : NONE;
    l->free_head = 0;
    l->count = 0;
}

vt_err vtd_limiter_new(vtd_limiter **out, const vtd_bucket_cfg *cfg, size_t max_keys)
{
    if (out == NULL || cfg == NULL || max_keys == 0 || max_keys > (size_t)1 << 31)
        return VT_ERR_INVALID_ARGUMENT;
    if (vt_crypto_init() != VT_OK)
        return VT_ERR_CRYPTO;
    vt_err rc = VT_ERR_NO_MEMORY;
    uint32_t nheads = 1;
    while (nheads < max_keys)
        nheads <<= 1;
    vtd_limiter *l = calloc(1, sizeof *l);
    if (l == NULL)
        return VT_ERR_NO_MEMORY;
    l->cfg = *cfg;
    l->cap = (uint32_t)max_keys;
    l->mask = nheads - 1;
    l->heads = calloc(nheads, sizeof *l->heads);
    l->heap = calloc(max_keys, sizeof *l->heap);
    l->e = calloc(max_keys, sizeof *l->e);
    if (l->heads == NULL || l->heap == NULL || l->e == NULL)
        goto out;
    if (vt_random_bytes(l->hash_key, sizeof l->hash_key) != VT_OK) {
        rc = VT_ERR_CRYPTO;
        goto out;
    }
    reset(l);
    *out = l;
    l = NULL;
    rc = VT_OK;
out:
    vtd_limiter_free(l);
    return rc;
}

void vtd_limiter_free(vtd_limiter *l)
{
    if (l == NULL)
        return;
    free(l->heads);
    free(l->heap);
    free(l->e);
    free(l);
}

bool vtd_limiter_take(vtd_limiter *l, const void *key, size_t key_len, uint64_t now_ms,
                      uint32_t *retry_after_ms)
{
    if (!l->cfg.enabled)
        return true;
    norm_key k;
    normalise(&k, key, key_len);
    uint64_t h = key_hash(l, &k);
    purge(l, now_ms, PURGE_PER_CALL);

    uint32_t idx = lookup(l, &k, h);
    if (idx != NONE) {
        bool ok = vtd_bucket_take(&l->e[idx].b, &l->cfg, now_ms, retry_after_ms);
        l->e[idx].full_at = full_at(&l->e[idx].b, &l->cfg);
        heap_fix(l, l->e[idx].heap_pos);
        return ok;
    }

    /* An absent key is a full bucket: only a take that succeeds leaves
     * something worth remembering. */
    vtd_bucket b = {0};
    if (!vtd_bucket_take(&b, &l->cfg, now_ms, retry_after_ms))
        return false;
    if (l->count == l->cap)
        remove_entry(l, l->heap[0]);
    idx = l->free_head;
    entry *e = &l->e[idx];
    l->free_head = e->next;
    memcpy(e->key, k.p, k.stored);
    e->key_len = k.len;
    e->hash = h;
    e->b = b;
    e->full_at = full_at(&b, &l->cfg);
    e->next = l->heads[h & l->mask];
    l->heads[h & l->mask] = idx;
    e->heap_pos = l->count;
    l->heap[l->count++] = idx;
    heap_fix(l, e->heap_pos);
    return true;
}

bool vtd_limiter_check(vtd_limiter *l, const void *key, size_t key_len, uint64_t now_ms,
                       uint32_t *retry_after_ms)
{
    static const vtd_bucket absent = {0};
    if (!l->cfg.enabled)
        return true;
    norm_key k;
    normalise(&k, key, key_len);
    uint32_t idx = lookup(l, &k, key_hash(l, &k));
    return vtd_bucket_check(idx != NONE ? &l->e[idx].b : &absent, &l->cfg, now_ms,
                            retry_after_ms);
}

void vtd_limiter_set_cfg(vtd_limiter *l, const vtd_bucket_cfg *cfg)
{
    l->cfg = *cfg;
    if (!cfg->enabled) {
        reset(l);
        return;
    }
    for (uint32_t i = 0; i < l->count; i++) {
        entry *e = &l->e[l->heap[i]];
        if (e->b.tokens > cfg->burst)
            e->b.tokens = cfg->burst;
        e->full_at = full_at(&e->b, cfg);
    }
    for (uint32_t i = l->count / 2; i-- > 0;)
        sift_down(l, i);
}

size_t vtd_limiter_size(const vtd_limiter *l)
{
    return l->count;
}
