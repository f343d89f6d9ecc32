/* Tests of X3DH (lib/src/x3dh.c): both sides agree with and without a
 * one-time prekey and with a last-resort prekey, bad bundles and unknown
 * prekeys are refused, and a one-time prekey is reported consumed only after
 * the first message decrypts. spec/crypto.md section 5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "ventra/identity.h"
#include "ventra/prekeys.h"
#include "ventra/session.h"
#include "ventra/v1/e2e.pb-c.h"
#include "ventra/x3dh.h"

#define NOW 1700000000ull

/* The responder's key store, as a client would hold it. */
typedef struct store {
    vt_identity *id;
    vt_signed_prekey spk, lr;
    vt_prekey otk[2];
    bool otk_present[2];
    uint8_t used[8][32];
    size_t nused;
    int lookups;
} store;

static vt_err get_spk(void *ctx, uint32_t id, vt_prekey *out)
{
    store *s = ctx;
    s->lookups++;
    if (id != s->spk.key.id)
        return VT_ERR_NOT_FOUND;
    *out = s->spk.key;
    return VT_OK;
}

static vt_err get_otk(void *ctx, uint32_t id, vt_prekey *out)
{
    store *s = ctx;
    s->lookups++;
    for (int i = 0; i < 2; i++) {
        if (s->otk_present[i] && s->otk[i].id == id) {
            *out = s->otk[i];
            return VT_OK;
        }
    }
    return VT_ERR_NOT_FOUND;
}

static vt_err get_lr(void *ctx, uint32_t id, vt_prekey *out)
{
    store *s = ctx;
    s->lookups++;
    if (id != s->lr.key.id)
        return VT_ERR_NOT_FOUND;
    *out = s->lr.key;
    return VT_OK;
}

static bool base_used(void *ctx, const uint8_t bk[32])
{
    store *s = ctx;
    for (size_t i = 0; i < s->nused; i++)
        if (memcmp(s->used[i], bk, 32) == 0)
            return true;
    return false;
}

/* The caller's atomic commit (CRYPTO-74), reduced to the key store. */
static void apply_commit(store *s, const vt_x3dh_commit *c)
{
    for (int i = 0; i < 2; i++)
        if (c->consumed_one_time_id != 0 && s->otk[i].id == c->consumed_one_time_id)
            s->otk_present[i] = false;
    memcpy(s->used[s->nused++], c->base_key, 32);
}

static void store_new(store *s)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(vt_identity_generate(&s->id), VT_OK);
    assert_int_equal(vt_signed_prekey_generate(&s->spk, s->id, 5, false), VT_OK);
    assert_int_equal(vt_signed_prekey_generate(&s->lr, s->id, 9, true), VT_OK);
    assert_int_equal(vt_prekey_generate(&s->otk[0], 100), VT_OK);
    assert_int_equal(vt_prekey_generate(&s->otk[1], 101), VT_OK);
    s->otk_present[0] = s->otk_present[1] = true;
}

static void store_free(store *s)
{
    vt_identity_free(s->id);
    vt_wipe(s, sizeof *s);
}

static vt_x3dh_keys keys_of(store *s, bool with_replay_check)
{
    vt_x3dh_keys k = {s,       s->id,  get_spk,
                      get_otk, get_lr, with_replay_check ? base_used : NULL};
    return k;
}

enum opk_kind { OPK_NONE, OPK_ONE_TIME, OPK_LAST_RESORT };

static vt_bundle bundle_of(const store *s, enum opk_kind kind)
{
    vt_bundle b;
    memset(&b, 0, sizeof b);
    memcpy(b.identity_key, vt_identity_public(s->id), 32);
    b.signed_prekey_id = s->spk.key.id;
    memcpy(b.signed_prekey, s->spk.key.pub, 32);
    memcpy(b.signed_prekey_sig, s->spk.signature, 64);
    if (kind == OPK_ONE_TIME) {
        b.has_one_time = true;
        b.one_time_id = s->otk[0].id;
        memcpy(b.one_time, s->otk[0].pub, 32);
    } else if (kind == OPK_LAST_RESORT) {
        b.has_last_resort = true;
        b.last_resort_id = s->lr.key.id;
        memcpy(b.last_resort, s->lr.key.pub, 32);
        memcpy(b.last_resort_sig, s->lr.signature, 64);
    }
    return b;
}

/* A PrekeyMessage from |alice|'s session carrying |text|, encoded. */
typedef struct wire {
    uint8_t b[512];
    size_t len;
} wire;

static wire first_message(vt_ratchet *alice, const char *text)
{
    uint8_t rm[256];
    size_t rm_len;
    vt_x3dh_fields f;
    wire w;
    assert_int_equal(vt_ratchet_encrypt(alice, rm, sizeof rm, &rm_len,
                                        (const uint8_t *)text, strlen(text)),
                     VT_OK);
    assert_int_equal(vt_ratchet_x3dh_fields(alice, &f), VT_OK);
    assert_int_equal(vt_prekey_message_encode(w.b, sizeof w.b, &w.len, &f, rm, rm_len),
                     VT_OK);
    return w;
}

static void run_session(enum opk_kind kind)
{
    store bob;
    store_new(&bob);
    vt_identity *alice_id;
    assert_int_equal(vt_identity_generate(&alice_id), VT_OK);
    vt_bundle b = bundle_of(&bob, kind);
    vt_ratchet *alice = NULL;
    assert_int_equal(vt_x3dh_initiate(&alice, alice_id, &b, NULL), VT_OK);
    vt_x3dh_fields f;
    assert_int_equal(vt_ratchet_x3dh_fields(alice, &f), VT_OK);
    assert_memory_equal(f.identity_key, vt_identity_public(alice_id), 32);
    assert_int_equal(f.signed_prekey_id, 5);
    assert_int_equal(f.one_time_prekey_id, kind == OPK_ONE_TIME ? 100 : 0);
    assert_int_equal(f.last_resort_prekey_id, kind == OPK_LAST_RESORT ? 9 : 0);
    assert_memory_equal(vt_ratchet_remote_ik(alice), vt_identity_public(bob.id), 32);

    wire w = first_message(alice, "hello bob");
    vt_prekey_message pm;
    assert_int_equal(vt_prekey_message_decode(&pm, w.b, w.len), VT_OK);
    vt_x3dh_keys k = keys_of(&bob, true);
    vt_ratchet *bs = NULL;
    vt_x3dh_commit c;
    uint8_t pt[64];
    size_t pl;
    assert_int_equal(vt_x3dh_respond(&bs, &c, pt, sizeof pt, &pl, &pm, &k, NOW, NULL),
                     VT_OK);
    assert_int_equal(pl, 9);
    assert_memory_equal(pt, "hello bob", 9);
    assert_int_equal(c.consumed_one_time_id, kind == OPK_ONE_TIME ? 100 : 0);
    assert_int_equal(c.signed_prekey_id, 5);
    assert_memory_equal(c.base_key, f.base_key, 32);
    assert_memory_equal(c.identity_key, vt_identity_public(alice_id), 32);
    /* CRYPTO-55: the same AD on both sides, initiator first. */
    assert_memory_equal(vt_ratchet_ad(alice), vt_ratchet_ad(bs), 65);
    assert_int_equal(vt_ratchet_ad(bs)[0], 1);
    assert_memory_equal(vt_ratchet_ad(bs) + 1, vt_identity_public(alice_id), 32);
    assert_memory_equal(vt_ratchet_remote_ik(bs), vt_identity_public(alice_id), 32);

    /* The reply confirms Alice's session. */
    uint8_t rm[128];
    size_t rl;
    assert_int_equal(vt_ratchet_encrypt(bs, rm, sizeof rm, &rl, (const uint8_t *)"hi", 2),
                     VT_OK);
    assert_false(vt_ratchet_confirmed(alice));
    assert_int_equal(vt_ratchet_decrypt(alice, pt, sizeof pt, &pl, rm, rl, NOW, NULL),
                     VT_OK);
    assert_int_equal(pl, 2);
    assert_true(vt_ratchet_confirmed(alice));

    vt_ratchet_free(alice);
    vt_ratchet_free(bs);
    vt_identity_free(alice_id);
    store_free(&bob);
}

static void test_session_one_time(void **state)
{
    (void)state;
    run_session(OPK_ONE_TIME);
}

static void test_session_three_dh(void **state)
{
    (void)state;
    run_session(OPK_NONE);
}

static void test_session_last_resort(void **state)
{
    (void)state;
    run_session(OPK_LAST_RESORT);
}

/* A fixed source so that both sides' secrets can be compared directly. */
static vt_err fixed_rng(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    memset(out, 0x5a, len);
    return VT_OK;
}

static void test_secrets_agree(void **state)
{
    (void)state;
    store bob;
    store_new(&bob);
    vt_identity *alice_id;
    assert_int_equal(vt_identity_generate(&alice_id), VT_OK);
    vt_rng rng = {fixed_rng, NULL};
    for (int with_opk = 0; with_opk < 2; with_opk++) {
        uint8_t sk_a[32], ad_a[65], ek[32], sk_b[32], ad_b[65];
        assert_int_equal(vt_x3dh_initiator_secret(
                             sk_a, ad_a, ek, alice_id, vt_identity_public(bob.id),
                             bob.spk.key.pub, with_opk ? bob.otk[0].pub : NULL, &rng),
                         VT_OK);
        assert_int_equal(
            vt_x3dh_responder_secret(sk_b, ad_b, bob.id, vt_identity_public(alice_id), ek,
                                     &bob.spk.key, with_opk ? &bob.otk[0] : NULL),
            VT_OK);
        assert_memory_equal(sk_a, sk_b, 32);
        assert_memory_equal(ad_a, ad_b, 65);
        /* DH4 changes the secret (CRYPTO-53). */
        uint8_t sk_c[32], ad_c[65];
        assert_int_equal(
            vt_x3dh_responder_secret(sk_c, ad_c, bob.id, vt_identity_public(alice_id), ek,
                                     &bob.spk.key, with_opk ? NULL : &bob.otk[0]),
            VT_OK);
        assert_memory_not_equal(sk_a, sk_c, 32);
    }
    vt_identity_free(alice_id);
    store_free(&bob);
}

static void test_bad_bundles(void **state)
{
    (void)state;
    store bob;
    store_new(&bob);
    vt_identity *alice_id;
    assert_int_equal(vt_identity_generate(&alice_id), VT_OK);
    vt_ratchet *sentinel = (vt_ratchet *)&bob, *out = sentinel;
    vt_bundle b = bundle_of(&bob, OPK_ONE_TIME);
    b.signed_prekey_sig[10] ^= 1;
    assert_int_equal(vt_x3dh_initiate(&out, alice_id, &b, NULL), VT_ERR_BAD_SIGNATURE);
    assert_ptr_equal(out, sentinel);
    b = bundle_of(&bob, OPK_LAST_RESORT);
    b.last_resort_sig[0] ^= 1;
    assert_int_equal(vt_x3dh_initiate(&out, alice_id, &b, NULL), VT_ERR_BAD_SIGNATURE);
    /* A signed prekey signature presented as the last-resort one: the labels
     * differ (CRYPTO-21). */
    b = bundle_of(&bob, OPK_LAST_RESORT);
    memcpy(b.last_resort, bob.spk.key.pub, 32);
    b.last_resort_id = bob.spk.key.id;
    memcpy(b.last_resort_sig, bob.spk.signature, 64);
    assert_int_equal(vt_x3dh_initiate(&out, alice_id, &b, NULL), VT_ERR_BAD_SIGNATURE);
    /* An identity key that is not valid (CRYPTO-46). */
    b = bundle_of(&bob, OPK_NONE);
    memset(b.identity_key, 0, 32);
    b.identity_key[0] = 1; /* the neutral element: small order */
    assert_int_equal(vt_x3dh_initiate(&out, alice_id, &b, NULL), VT_ERR_CRYPTO);
    assert_ptr_equal(out, sentinel);
    /* A low-order signed prekey makes a DH all zero (CRYPTO-2). */
    uint8_t sk[32], ad[65], ek[32];
    uint8_t low[32] = {0};
    assert_int_equal(vt_x3dh_initiator_secret(sk, ad, ek, alice_id,
                                              vt_identity_public(bob.id), low, NULL,
                                              NULL),
                     VT_ERR_CRYPTO);
    vt_identity_free(alice_id);
    store_free(&bob);
}

static void test_prekey_message_form(void **state)
{
    (void)state;
    store bob;
    store_new(&bob);
    vt_identity *alice_id;
    assert_int_equal(vt_identity_generate(&alice_id), VT_OK);
    vt_bundle b = bundle_of(&bob, OPK_ONE_TIME);
    vt_ratchet *alice;
    assert_int_equal(vt_x3dh_initiate(&alice, alice_id, &b, NULL), VT_OK);
    wire w = first_message(alice, "x");
    vt_prekey_message good, pm;
    assert_int_equal(vt_prekey_message_decode(&good, w.b, w.len), VT_OK);
    assert_int_equal(vt_prekey_message_check(&good), VT_OK);
    pm = good;
    pm.identity_key_len = 31;
    assert_int_equal(vt_prekey_message_check(&pm), VT_ERR_INVALID_ARGUMENT);
    pm = good;
    pm.base_key_len = 33;
    assert_int_equal(vt_prekey_message_check(&pm), VT_ERR_INVALID_ARGUMENT);
    pm = good;
    pm.signed_prekey_id = 0;
    assert_int_equal(vt_prekey_message_check(&pm), VT_ERR_INVALID_ARGUMENT);
    pm = good;
    pm.last_resort_prekey_id = 9;
    assert_int_equal(vt_prekey_message_check(&pm), VT_ERR_INVALID_ARGUMENT);
    pm = good;
    pm.message_len = 56;
    assert_int_equal(vt_prekey_message_check(&pm), VT_ERR_INVALID_ARGUMENT);
    uint8_t bad_ik[32] = {1};
    pm = good;
    pm.identity_key = bad_ik;
    assert_int_equal(vt_prekey_message_check(&pm), VT_ERR_CRYPTO);
    /* Does not decode: a truncated field, a wrong wire type. */
    assert_int_equal(vt_prekey_message_decode(&pm, w.b, w.len - 1),
                     VT_ERR_INVALID_ARGUMENT);
    const uint8_t wrong_type[] = {0x18, 0x01, 0x0d, 0, 0, 0, 0};
    assert_int_equal(vt_prekey_message_decode(&pm, wrong_type, sizeof wrong_type),
                     VT_ERR_INVALID_ARGUMENT);

    /* Our encoding and protobuf-c's agree both ways. */
    Ventra__V1__PrekeyMessage *m = ventra__v1__prekey_message__unpack(NULL, w.len, w.b);
    assert_non_null(m);
    assert_int_equal(m->identity_key.len, 32);
    assert_memory_equal(m->identity_key.data, good.identity_key, 32);
    assert_memory_equal(m->base_key.data, good.base_key, 32);
    assert_int_equal(m->signed_prekey_id, 5);
    assert_int_equal(m->one_time_prekey_id, 100);
    assert_int_equal(m->last_resort_prekey_id, 0);
    assert_int_equal(m->message.len, good.message_len);
    uint8_t packed[512];
    size_t plen = ventra__v1__prekey_message__pack(m, packed);
    assert_int_equal(plen, w.len);
    assert_memory_equal(packed, w.b, w.len);
    ventra__v1__prekey_message__free_unpacked(m, NULL);

    vt_ratchet_free(alice);
    vt_identity_free(alice_id);
    store_free(&bob);
}

static void test_commit_after_verify(void **state)
{
    (void)state;
    store bob;
    store_new(&bob);
    vt_identity *alice_id;
    assert_int_equal(vt_identity_generate(&alice_id), VT_OK);
    vt_bundle b = bundle_of(&bob, OPK_ONE_TIME);
    vt_ratchet *alice;
    assert_int_equal(vt_x3dh_initiate(&alice, alice_id, &b, NULL), VT_OK);
    wire w = first_message(alice, "secret");
    vt_prekey_message pm;
    assert_int_equal(vt_prekey_message_decode(&pm, w.b, w.len), VT_OK);
    vt_x3dh_keys k = keys_of(&bob, true);
    vt_ratchet *sentinel = (vt_ratchet *)&bob, *out = sentinel;
    vt_x3dh_commit c, untouched;
    memset(&c, 0xcc, sizeof c);
    untouched = c;
    uint8_t pt[64];
    size_t pl;

    /* Unknown ids: NOT_FOUND, nothing reported (CRYPTO-70, CRYPTO-72). */
    vt_prekey_message bad = pm;
    bad.signed_prekey_id = 77;
    assert_int_equal(vt_x3dh_respond(&out, &c, pt, sizeof pt, &pl, &bad, &k, NOW, NULL),
                     VT_ERR_NOT_FOUND);
    bad = pm;
    bad.one_time_prekey_id = 555;
    assert_int_equal(vt_x3dh_respond(&out, &c, pt, sizeof pt, &pl, &bad, &k, NOW, NULL),
                     VT_ERR_NOT_FOUND);
    bad = pm;
    bad.one_time_prekey_id = 0;
    bad.last_resort_prekey_id = 4;
    assert_int_equal(vt_x3dh_respond(&out, &c, pt, sizeof pt, &pl, &bad, &k, NOW, NULL),
                     VT_ERR_NOT_FOUND);
    /* The right keys, a wrong DH4 key: the first message does not decrypt. */
    bad = pm;
    bad.one_time_prekey_id = 101;
    assert_int_equal(vt_x3dh_respond(&out, &c, pt, sizeof pt, &pl, &bad, &k, NOW, NULL),
                     VT_ERR_DECRYPT);
    /* A tampered first message (CRYPTO-71). */
    uint8_t t[512];
    memcpy(t, pm.message, pm.message_len);
    t[pm.message_len - 1] ^= 0x40;
    bad = pm;
    bad.message = t;
    assert_int_equal(vt_x3dh_respond(&out, &c, pt, sizeof pt, &pl, &bad, &k, NOW, NULL),
                     VT_ERR_DECRYPT);
    assert_int_equal(pl, 0);
    assert_ptr_equal(out, sentinel);
    assert_memory_equal(&c, &untouched, sizeof c);
    assert_true(bob.otk_present[0] && bob.otk_present[1]);

    /* The genuine message: now, and only now, the key is consumed. */
    assert_int_equal(vt_x3dh_respond(&out, &c, pt, sizeof pt, &pl, &pm, &k, NOW, NULL),
                     VT_OK);
    assert_int_equal(c.consumed_one_time_id, 100);
    assert_memory_equal(pt, "secret", 6);
    apply_commit(&bob, &c);
    assert_false(bob.otk_present[0]);
    vt_ratchet_free(out);
    out = sentinel;
    /* A replay: the base key is recorded (step 6, CRYPTO-76)... */
    assert_int_equal(vt_x3dh_respond(&out, &c, pt, sizeof pt, &pl, &pm, &k, NOW, NULL),
                     VT_ERR_DECRYPT);
    /* ...and without that record the one-time key is gone (CRYPTO-70). */
    vt_x3dh_keys k2 = keys_of(&bob, false);
    assert_int_equal(vt_x3dh_respond(&out, &c, pt, sizeof pt, &pl, &pm, &k2, NOW, NULL),
                     VT_ERR_NOT_FOUND);
    assert_ptr_equal(out, sentinel);

    vt_ratchet_free(alice);
    vt_identity_free(alice_id);
    store_free(&bob);
}

/* CRYPTO-124: an unconfirmed initiator session of the lower identity key
 * is kept; in every other case the new session replaces the current one. */
static void test_simultaneous_initiation(void **state)
{
    (void)state;
    store bob;
    store_new(&bob);
    vt_identity *alice_id;
    assert_int_equal(vt_identity_generate(&alice_id), VT_OK);
    vt_bundle b = bundle_of(&bob, OPK_ONE_TIME);
    vt_ratchet *alice;
    assert_int_equal(vt_x3dh_initiate(&alice, alice_id, &b, NULL), VT_OK);
    uint8_t lo[32], hi[32];
    memset(lo, 0x10, sizeof lo);
    memset(hi, 0x10, sizeof hi);
    hi[31] = 0x11;
    assert_true(vt_session_new_replaces(NULL, lo, hi));
    assert_false(vt_session_new_replaces(alice, lo, hi));
    assert_true(vt_session_new_replaces(alice, hi, lo));
    assert_true(vt_session_new_replaces(alice, lo, lo));
    /* Once confirmed (a reply decrypted), any new session replaces it. */
    wire w = first_message(alice, "x");
    vt_prekey_message pm;
    assert_int_equal(vt_prekey_message_decode(&pm, w.b, w.len), VT_OK);
    vt_x3dh_keys k = keys_of(&bob, true);
    vt_ratchet *bs;
    vt_x3dh_commit c;
    uint8_t pt[16], rm[128];
    size_t pl, rl;
    assert_int_equal(vt_x3dh_respond(&bs, &c, pt, sizeof pt, &pl, &pm, &k, NOW, NULL),
                     VT_OK);
    assert_true(vt_session_new_replaces(bs, lo, hi)); /* a responder session */
    assert_int_equal(vt_ratchet_encrypt(bs, rm, sizeof rm, &rl, (const uint8_t *)"y", 1),
                     VT_OK);
    assert_int_equal(vt_ratchet_decrypt(alice, pt, sizeof pt, &pl, rm, rl, NOW, NULL),
                     VT_OK);
    assert_true(vt_session_new_replaces(alice, lo, hi));
    vt_ratchet_free(bs);
    vt_ratchet_free(alice);
    vt_identity_free(alice_id);
    store_free(&bob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_one_time),
        cmocka_unit_test(test_session_three_dh),
        cmocka_unit_test(test_session_last_resort),
        cmocka_unit_test(test_secrets_agree),
        cmocka_unit_test(test_bad_bundles),
        cmocka_unit_test(test_prekey_message_form),
        cmocka_unit_test(test_commit_after_verify),
        cmocka_unit_test(test_simultaneous_initiation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
