/* Tests of the Double Ratchet (lib/src/ratchet.c, ratchet_serial.c):
 * ordering, skipped keys and their limits, commit-after-verify on every kind
 * of bad message, and the serialization. spec/crypto.md section 6. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "ventra/ratchet.h"
#include "vt_constants.h"

#define T0 1700000000ull

typedef struct pair {
    vt_ratchet *a, *b;
} pair;

/* A deterministic source for tests: a counter hashed into bytes. */
static vt_err counter_rng(void *ctx, uint8_t *out, size_t len)
{
    uint64_t *ctr = ctx;
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)((*ctr * 131u + i * 7u + 1u) ^ (*ctr >> 3));
    (*ctr)++;
    return VT_OK;
}

static void make_ad(uint8_t ad[VT_RATCHET_AD_LEN], uint8_t tag)
{
    ad[0] = 1;
    memset(ad + 1, 0x11, 32);
    memset(ad + 33, tag, 32);
}

static void pair_new_ad(pair *p, uint8_t ad_tag_a, uint8_t ad_tag_b)
{
    uint8_t sk[32], spk_pub[32], spk_priv[32], ad[VT_RATCHET_AD_LEN];
    vt_x3dh_fields f;
    memset(&f, 0, sizeof f);
    memset(sk, 0x42, sizeof sk);
    assert_int_equal(vt_x25519_keypair(spk_pub, spk_priv), VT_OK);
    memset(f.base_key, 0x55, 32);
    memset(f.identity_key, 0x11, 32);
    f.signed_prekey_id = 7;
    make_ad(ad, ad_tag_a);
    assert_int_equal(vt_ratchet_init_alice(&p->a, sk, spk_pub, ad, &f, NULL), VT_OK);
    make_ad(ad, ad_tag_b);
    assert_int_equal(vt_ratchet_init_bob(&p->b, sk, spk_pub, spk_priv, ad, f.base_key),
                     VT_OK);
}

static void pair_new(pair *p)
{
    pair_new_ad(p, 0x22, 0x22);
}

static void pair_free(pair *p)
{
    vt_ratchet_free(p->a);
    vt_ratchet_free(p->b);
}

typedef struct msg {
    uint8_t b[128];
    size_t len;
} msg;

static msg enc(vt_ratchet *r, const char *text)
{
    msg m;
    assert_int_equal(vt_ratchet_encrypt(r, m.b, sizeof m.b, &m.len, (const uint8_t *)text,
                                        strlen(text)),
                     VT_OK);
    assert_int_equal(m.len, strlen(text) + VT_RATCHET_OVERHEAD);
    return m;
}

static void dec_ok(vt_ratchet *r, const msg *m, const char *text, uint64_t now)
{
    uint8_t pt[128];
    size_t len = 99;
    assert_int_equal(vt_ratchet_decrypt(r, pt, sizeof pt, &len, m->b, m->len, now, NULL),
                     VT_OK);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(pt, text, len);
}

/* The serialized state, for byte-for-byte comparisons. */
typedef struct snap {
    uint8_t *b;
    size_t len;
} snap;

static snap take(const vt_ratchet *r)
{
    snap s;
    size_t cap = vt_ratchet_serialized_len(r);
    s.b = malloc(cap);
    assert_non_null(s.b);
    assert_int_equal(vt_ratchet_serialize(r, s.b, cap, &s.len), VT_OK);
    assert_int_equal(s.len, cap);
    return s;
}

static void same(const snap *s, const vt_ratchet *r)
{
    snap t = take(r);
    assert_int_equal(s->len, t.len);
    assert_memory_equal(s->b, t.b, s->len);
    free(t.b);
}

/* Decryption of |m| fails with |want| and leaves |r| byte for byte as it was
 * (CRYPTO-97), with no plaintext left in the output. */
static void dec_fails(vt_ratchet *r, const uint8_t *m, size_t len, uint64_t now,
                      vt_err want)
{
    snap s = take(r);
    uint8_t pt[4096];
    size_t pt_len = 77;
    memset(pt, 0xee, sizeof pt);
    assert_int_equal(vt_ratchet_decrypt(r, pt, sizeof pt, &pt_len, m, len, now, NULL),
                     want);
    assert_int_equal(pt_len, 0);
    same(&s, r);
    free(s.b);
}

static void test_in_order_and_dh_steps(void **state)
{
    (void)state;
    pair p;
    pair_new(&p);
    assert_false(vt_ratchet_confirmed(p.a));
    assert_true(vt_ratchet_confirmed(p.b));
    assert_int_equal(vt_ratchet_get_role(p.a), VT_RATCHET_INITIATOR);
    /* The responder has no sending chain before its first decryption. */
    uint8_t out[64];
    size_t out_len = 5;
    assert_int_equal(
        vt_ratchet_encrypt(p.b, out, sizeof out, &out_len, (const uint8_t *)"x", 1),
        VT_ERR_STATE);
    assert_int_equal(out_len, 0);
    for (int round = 0; round < 4; round++) {
        msg m1 = enc(p.a, "hello"), m2 = enc(p.a, "again");
        /* CRYPTO-86: version byte and N in the header. */
        assert_int_equal(m1.b[0], 1);
        assert_int_equal(m2.b[40], 1);
        dec_ok(p.b, &m1, "hello", T0);
        dec_ok(p.b, &m2, "again", T0);
        msg r1 = enc(p.b, "reply");
        dec_ok(p.a, &r1, "reply", T0);
        assert_true(vt_ratchet_confirmed(p.a));
    }
    assert_int_equal(vt_ratchet_skipped_count(p.a), 0);
    assert_int_equal(vt_ratchet_skipped_count(p.b), 0);
    /* Empty plaintext is a valid 57-byte message. */
    msg e;
    assert_int_equal(vt_ratchet_encrypt(p.a, e.b, sizeof e.b, &e.len, NULL, 0), VT_OK);
    assert_int_equal(e.len, 57);
    size_t pl = 9;
    assert_int_equal(vt_ratchet_decrypt(p.b, NULL, 0, &pl, e.b, e.len, T0, NULL), VT_OK);
    assert_int_equal(pl, 0);
    pair_free(&p);
}

static void test_out_of_order_and_lost(void **state)
{
    (void)state;
    pair p;
    pair_new(&p);
    msg m[6];
    char txt[6][8];
    for (int i = 0; i < 6; i++) {
        snprintf(txt[i], sizeof txt[i], "m%d", i);
        m[i] = enc(p.a, txt[i]);
    }
    dec_ok(p.b, &m[3], "m3", T0);
    assert_int_equal(vt_ratchet_skipped_count(p.b), 3);
    dec_ok(p.b, &m[1], "m1", T0);
    dec_ok(p.b, &m[4], "m4", T0);
    dec_ok(p.b, &m[0], "m0", T0);
    assert_int_equal(vt_ratchet_skipped_count(p.b), 1); /* m2 outstanding */
    /* m5 is lost; the next chain still works and the old one's rest is kept
     * as skipped keys via PN (CRYPTO-90 step 3). */
    msg r = enc(p.b, "r0");
    dec_ok(p.a, &r, "r0", T0);
    msg n0 = enc(p.a, "n0");
    dec_ok(p.b, &n0, "n0", T0);
    assert_int_equal(vt_ratchet_skipped_count(p.b), 2); /* m2 and m5 */
    dec_ok(p.b, &m[5], "m5", T0);
    dec_ok(p.b, &m[2], "m2", T0);
    assert_int_equal(vt_ratchet_skipped_count(p.b), 0);
    /* Each message decrypts once (CRYPTO-99). */
    dec_fails(p.b, m[2].b, m[2].len, T0, VT_ERR_DECRYPT);
    dec_fails(p.b, n0.b, n0.len, T0, VT_ERR_DECRYPT);
    pair_free(&p);
}

static void test_dh_step_with_old_chain_late(void **state)
{
    (void)state;
    pair p;
    pair_new(&p);
    msg a0 = enc(p.a, "a0"), a1 = enc(p.a, "a1");
    dec_ok(p.b, &a0, "a0", T0);
    msg b0 = enc(p.b, "b0");
    dec_ok(p.a, &b0, "b0", T0);
    msg a2 = enc(p.a, "a2"); /* new chain, PN = 2 */
    assert_int_equal(a2.b[36], 2);
    dec_ok(p.b, &a2, "a2", T0);
    assert_int_equal(vt_ratchet_skipped_count(p.b), 1);
    dec_ok(p.b, &a1, "a1", T0);
    msg b1 = enc(p.b, "b1");
    dec_ok(p.a, &b1, "b1", T0);
    pair_free(&p);
}

static msg *enc_many(vt_ratchet *r, size_t n)
{
    msg *m = calloc(n, sizeof *m);
    assert_non_null(m);
    for (size_t i = 0; i < n; i++)
        m[i] = enc(r, "x");
    return m;
}

static void test_max_skip(void **state)
{
    (void)state;
    pair p;
    pair_new(&p);
    msg *m = enc_many(p.a, VT_MAX_SKIP + 3);
    vt_ratchet *b2;
    assert_int_equal(vt_ratchet_clone(&b2, p.b), VT_OK);
    /* A new chain: N = MAX_SKIP + 1 refused, N = MAX_SKIP allowed. */
    dec_fails(p.b, m[VT_MAX_SKIP + 1].b, m[VT_MAX_SKIP + 1].len, T0,
              VT_ERR_LIMIT_EXCEEDED);
    dec_ok(p.b, &m[VT_MAX_SKIP], "x", T0);
    assert_int_equal(vt_ratchet_skipped_count(p.b), VT_MAX_SKIP);
    /* The current chain: Nr = 1, so N = MAX_SKIP + 1 skips exactly
     * MAX_SKIP and N = MAX_SKIP + 2 one more. */
    dec_ok(b2, &m[0], "x", T0);
    dec_fails(b2, m[VT_MAX_SKIP + 2].b, m[VT_MAX_SKIP + 2].len, T0,
              VT_ERR_LIMIT_EXCEEDED);
    dec_ok(b2, &m[VT_MAX_SKIP + 1], "x", T0);
    assert_int_equal(vt_ratchet_skipped_count(b2), VT_MAX_SKIP);
    vt_ratchet_free(b2);
    free(m);

    /* Closing a chain: PN - Nr > MAX_SKIP is refused. */
    pair q;
    pair_new(&q);
    msg first = enc(q.a, "f");
    dec_ok(q.b, &first, "f", T0);         /* Nr = 1 */
    free(enc_many(q.a, VT_MAX_SKIP + 1)); /* Ns = MAX_SKIP + 2, never delivered */
    msg rb = enc(q.b, "r");
    dec_ok(q.a, &rb, "r", T0);
    msg next = enc(q.a, "n"); /* PN = MAX_SKIP + 2: PN - Nr = MAX_SKIP + 1 */
    dec_fails(q.b, next.b, next.len, T0, VT_ERR_LIMIT_EXCEEDED);
    pair_free(&q);
    pair_free(&p);
}

static void test_max_skipped_keys_eviction(void **state)
{
    (void)state;
    pair p;
    pair_new(&p);
    /* Chain A1: skip MAX_SKIP keys. */
    msg *a1 = enc_many(p.a, VT_MAX_SKIP + 1);
    dec_ok(p.b, &a1[VT_MAX_SKIP], "x", T0);
    msg r = enc(p.b, "r");
    dec_ok(p.a, &r, "r", T0);
    /* Chain A2: skip MAX_SKIP more: exactly MAX_SKIPPED_KEYS stored. */
    msg *a2 = enc_many(p.a, VT_MAX_SKIP + 1);
    dec_ok(p.b, &a2[VT_MAX_SKIP], "x", T0 + 1);
    assert_int_equal(vt_ratchet_skipped_count(p.b), VT_MAX_SKIPPED_KEYS);
    r = enc(p.b, "r");
    dec_ok(p.a, &r, "r", T0);
    /* Chain A3: 10 more evict the 10 oldest (CRYPTO-103). */
    msg *a3 = enc_many(p.a, 11);
    dec_ok(p.b, &a3[10], "x", T0 + 2);
    assert_int_equal(vt_ratchet_skipped_count(p.b), VT_MAX_SKIPPED_KEYS);
    for (int i = 0; i < 10; i++)
        dec_fails(p.b, a1[i].b, a1[i].len, T0 + 3, VT_ERR_DECRYPT);
    dec_ok(p.b, &a1[10], "x", T0 + 3);
    dec_ok(p.b, &a2[0], "x", T0 + 3);
    dec_ok(p.b, &a3[0], "x", T0 + 3);
    assert_int_equal(vt_ratchet_skipped_count(p.b), VT_MAX_SKIPPED_KEYS - 3);
    free(a1);
    free(a2);
    free(a3);
    pair_free(&p);
}

static void test_skipped_key_expiry(void **state)
{
    (void)state;
    pair p;
    pair_new(&p);
    msg m0 = enc(p.a, "m0"), m1 = enc(p.a, "m1"), m2 = enc(p.a, "m2");
    dec_ok(p.b, &m2, "m2", T0); /* m0, m1 skipped at T0 */
    vt_ratchet *b2;
    assert_int_equal(vt_ratchet_clone(&b2, p.b), VT_OK);
    /* One second before the end of the TTL the key still works. */
    dec_ok(p.b, &m0, "m0", T0 + VT_SKIPPED_KEY_TTL_S - 1);
    /* At stored_at + TTL it is unusable (CRYPTO-102). */
    dec_fails(b2, m0.b, m0.len, T0 + VT_SKIPPED_KEY_TTL_S, VT_ERR_DECRYPT);
    assert_int_equal(vt_ratchet_skipped_count(b2), 2);
    /* A commit at that time removes every expired entry. */
    msg m3 = enc(p.a, "m3");
    dec_ok(b2, &m3, "m3", T0 + VT_SKIPPED_KEY_TTL_S);
    assert_int_equal(vt_ratchet_skipped_count(b2), 0);
    dec_fails(b2, m1.b, m1.len, T0 + VT_SKIPPED_KEY_TTL_S, VT_ERR_DECRYPT);
    vt_ratchet_free(b2);
    pair_free(&p);
}

static void test_tampering_leaves_state(void **state)
{
    (void)state;
    pair p;
    pair_new(&p);
    msg m0 = enc(p.a, "first"), m1 = enc(p.a, "second message");
    uint8_t t[256];
    /* Every single bit flip of a message is refused with the state intact:
     * version byte (INVALID_ARGUMENT), ratchet key, PN, N, ciphertext, tag. */
    for (size_t i = 0; i < m1.len * 8; i += 3) {
        memcpy(t, m1.b, m1.len);
        t[i / 8] ^= (uint8_t)(1u << (i % 8));
        vt_err want = VT_ERR_DECRYPT;
        if (i / 8 == 0)
            want = VT_ERR_INVALID_ARGUMENT;
        uint8_t pt[256];
        size_t pl;
        snap s = take(p.b);
        vt_err rc = vt_ratchet_decrypt(p.b, pt, sizeof pt, &pl, t, m1.len, T0, NULL);
        if (i / 8 >= 1 && i / 8 < 33) /* another ratchet key: DECRYPT or CRYPTO */
            assert_true(rc == VT_ERR_DECRYPT || rc == VT_ERR_CRYPTO);
        else if (i / 8 >= 37 && i / 8 < 41 && rc == VT_ERR_LIMIT_EXCEEDED)
            ; /* N beyond MAX_SKIP */
        else
            assert_int_equal(rc, want);
        same(&s, p.b);
        free(s.b);
    }
    /* Truncated: below 57 bytes INVALID_ARGUMENT, else a bad tag. */
    dec_fails(p.b, m1.b, 56, T0, VT_ERR_INVALID_ARGUMENT);
    dec_fails(p.b, m1.b, m1.len - 1, T0, VT_ERR_DECRYPT);
    dec_fails(p.b, m1.b, 57, T0, VT_ERR_DECRYPT);
    /* N = 0xffffffff (CRYPTO-96). */
    memcpy(t, m1.b, m1.len);
    memset(t + 37, 0xff, 4);
    dec_fails(p.b, t, m1.len, T0, VT_ERR_INVALID_ARGUMENT);
    /* A low-order ratchet key (CRYPTO-2). */
    memcpy(t, m1.b, m1.len);
    memset(t + 1, 0, 32);
    dec_fails(p.b, t, m1.len, T0, VT_ERR_CRYPTO);
    /* Wrong AD: a responder whose AD differs in one byte. */
    pair q;
    pair_new_ad(&q, 0x22, 0x23);
    msg qm = enc(q.a, "ad");
    dec_fails(q.b, qm.b, qm.len, T0, VT_ERR_DECRYPT);
    pair_free(&q);
    /* The genuine messages still decrypt, once. */
    dec_ok(p.b, &m1, "second message", T0);
    dec_ok(p.b, &m0, "first", T0);
    dec_fails(p.b, m0.b, m0.len, T0, VT_ERR_DECRYPT);
    dec_fails(p.b, m1.b, m1.len, T0, VT_ERR_DECRYPT);
    /* Too small an output buffer. */
    msg m2 = enc(p.a, "third");
    uint8_t small[2];
    size_t pl = 1;
    snap s = take(p.b);
    assert_int_equal(
        vt_ratchet_decrypt(p.b, small, sizeof small, &pl, m2.b, m2.len, T0, NULL),
        VT_ERR_BUFFER_TOO_SMALL);
    same(&s, p.b);
    free(s.b);
    pair_free(&p);
}

static void test_encrypt_limits(void **state)
{
    (void)state;
    pair p;
    pair_new(&p);
    uint8_t out[64];
    size_t len;
    snap s = take(p.a);
    assert_int_equal(vt_ratchet_encrypt(p.a, out, 57, &len, (const uint8_t *)"x", 1),
                     VT_ERR_BUFFER_TOO_SMALL);
    same(&s, p.a);
    free(s.b);
    /* Ns = 0xffffffff (CRYPTO-92). */
    vt_ratchet_state st;
    assert_int_equal(vt_ratchet_export_state(p.a, &st), VT_OK);
    st.ns = UINT32_MAX - 1;
    vt_ratchet *r;
    assert_int_equal(vt_ratchet_import_state(&r, &st), VT_OK);
    vt_ratchet_state_clear(&st);
    assert_int_equal(
        vt_ratchet_encrypt(r, out, sizeof out, &len, (const uint8_t *)"x", 1), VT_OK);
    s = take(r);
    assert_int_equal(
        vt_ratchet_encrypt(r, out, sizeof out, &len, (const uint8_t *)"x", 1),
        VT_ERR_LIMIT_EXCEEDED);
    same(&s, r);
    free(s.b);
    vt_ratchet_free(r);
    pair_free(&p);
}

static void test_serialization(void **state)
{
    (void)state;
    pair p;
    pair_new(&p);
    msg m0 = enc(p.a, "a"), m1 = enc(p.a, "b"), m2 = enc(p.a, "c");
    dec_ok(p.b, &m2, "c", T0);
    snap s = take(p.b);
    assert_int_equal(s.b[0], VT_RATCHET_SERIAL_VERSION);
    vt_ratchet *r = NULL;
    assert_int_equal(vt_ratchet_deserialize(&r, s.b, s.len), VT_OK);
    same(&s, r);
    /* The restored session works: skipped keys and chains came along. */
    dec_ok(r, &m0, "a", T0);
    dec_ok(r, &m1, "b", T0);
    msg back = enc(r, "reply");
    dec_ok(p.a, &back, "reply", T0);
    vt_ratchet_free(r);

    /* Every truncation, a trailing byte, an unknown version, bad flags, a bad
     * role: all VT_ERR_INVALID_ARGUMENT, output untouched. */
    vt_ratchet *sentinel = (vt_ratchet *)&s;
    for (size_t n = 0; n < s.len; n++) {
        r = sentinel;
        assert_int_equal(vt_ratchet_deserialize(&r, s.b, n), VT_ERR_INVALID_ARGUMENT);
        assert_ptr_equal(r, sentinel);
    }
    uint8_t *t = malloc(s.len + 1);
    assert_non_null(t);
    memcpy(t, s.b, s.len);
    t[s.len] = 0;
    assert_int_equal(vt_ratchet_deserialize(&r, t, s.len + 1), VT_ERR_INVALID_ARGUMENT);
    const size_t bad_at[] = {0, 0, 1, 2};
    const uint8_t bad_val[] = {0, 2, 2, 0x10};
    for (size_t i = 0; i < 4; i++) {
        memcpy(t, s.b, s.len);
        t[bad_at[i]] = bad_val[i];
        r = sentinel;
        assert_int_equal(vt_ratchet_deserialize(&r, t, s.len), VT_ERR_INVALID_ARGUMENT);
        assert_ptr_equal(r, sentinel);
    }
    size_t small_len = 9;
    assert_int_equal(vt_ratchet_serialize(p.b, t, s.len - 1, &small_len),
                     VT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(small_len, 0);
    vt_wipe(t, s.len + 1);
    free(t);
    free(s.b);
    pair_free(&p);
}

static void test_injected_rng_is_reproducible(void **state)
{
    (void)state;
    uint8_t sk[32], spk_pub[32], spk_priv[32], ad[VT_RATCHET_AD_LEN];
    vt_x3dh_fields f;
    memset(&f, 0, sizeof f);
    memset(sk, 9, sizeof sk);
    memset(spk_priv, 3, sizeof spk_priv);
    assert_int_equal(vt_x25519_public(spk_pub, spk_priv), VT_OK);
    make_ad(ad, 0x44);
    snap runs[2];
    for (int run = 0; run < 2; run++) {
        uint64_t ctr = 0;
        vt_rng rng = {counter_rng, &ctr};
        vt_ratchet *a, *b;
        assert_int_equal(vt_ratchet_init_alice(&a, sk, spk_pub, ad, &f, &rng), VT_OK);
        assert_int_equal(vt_ratchet_init_bob(&b, sk, spk_pub, spk_priv, ad, f.base_key),
                         VT_OK);
        msg m = enc(a, "det");
        uint8_t pt[16];
        size_t pl;
        assert_int_equal(vt_ratchet_decrypt(b, pt, sizeof pt, &pl, m.b, m.len, T0, &rng),
                         VT_OK);
        assert_int_equal(ctr, 2); /* Alice's first key pair, Bob's step */
        msg r = enc(b, "back");
        runs[run] = take(b);
        if (run == 1)
            assert_memory_equal(runs[0].b, runs[1].b, runs[0].len);
        (void)r;
        vt_ratchet_free(a);
        vt_ratchet_free(b);
    }
    free(runs[0].b);
    free(runs[1].b);
}

static vt_err failing_rng(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    (void)out;
    (void)len;
    return VT_ERR_NO_MEMORY;
}

static void test_rng_failure_leaves_state(void **state)
{
    (void)state;
    pair p;
    pair_new(&p);
    msg m = enc(p.a, "x");
    vt_rng bad = {failing_rng, NULL};
    snap s = take(p.b);
    uint8_t pt[8];
    size_t pl;
    assert_int_equal(vt_ratchet_decrypt(p.b, pt, sizeof pt, &pl, m.b, m.len, T0, &bad),
                     VT_ERR_NO_MEMORY);
    same(&s, p.b);
    free(s.b);
    dec_ok(p.b, &m, "x", T0);
    pair_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_and_dh_steps),
        cmocka_unit_test(test_out_of_order_and_lost),
        cmocka_unit_test(test_dh_step_with_old_chain_late),
        cmocka_unit_test(test_max_skip),
        cmocka_unit_test(test_max_skipped_keys_eviction),
        cmocka_unit_test(test_skipped_key_expiry),
        cmocka_unit_test(test_tampering_leaves_state),
        cmocka_unit_test(test_encrypt_limits),
        cmocka_unit_test(test_serialization),
        cmocka_unit_test(test_injected_rng_is_reproducible),
        cmocka_unit_test(test_rng_failure_leaves_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
