/* Prekeys (lib/src/prekeys.c): signatures over the right transcript, the
 * ordered bundle check of spec/crypto.md 5.1, and the ring that rotates
 * signed prekeys and keeps replaced ones through their grace period
 * (CRYPTO-20 to CRYPTO-30, CRYPTO-45 to CRYPTO-50). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/prekeys.h"
#include "vt_constants.h"

static vt_identity *identity(uint8_t fill)
{
    uint8_t seed[32];
    memset(seed, fill, sizeof(seed));
    vt_identity *id = NULL;
    assert_int_equal(vt_identity_from_seed(&id, seed), VT_OK);
    return id;
}

/* A bundle of |id| with a signed prekey and, per |one_time|, a one-time or
 * a last-resort prekey. */
static void make_bundle(vt_bundle *b, const vt_identity *id, bool one_time)
{
    vt_signed_prekey spk, lr;
    vt_prekey otk;
    memset(b, 0, sizeof(*b));
    memcpy(b->identity_key, vt_identity_public(id), 32);
    assert_int_equal(vt_signed_prekey_generate(&spk, id, 7, false), VT_OK);
    b->signed_prekey_id = 7;
    memcpy(b->signed_prekey, spk.key.pub, 32);
    memcpy(b->signed_prekey_sig, spk.signature, 64);
    if (one_time) {
        assert_int_equal(vt_prekey_generate(&otk, 9), VT_OK);
        b->has_one_time = true;
        b->one_time_id = 9;
        memcpy(b->one_time, otk.pub, 32);
        vt_wipe(&otk, sizeof(otk));
    } else {
        assert_int_equal(vt_signed_prekey_generate(&lr, id, 8, true), VT_OK);
        b->has_last_resort = true;
        b->last_resort_id = 8;
        memcpy(b->last_resort, lr.key.pub, 32);
        memcpy(b->last_resort_sig, lr.signature, 64);
        vt_wipe(&lr, sizeof(lr));
    }
    vt_wipe(&spk, sizeof(spk));
}

static void test_signatures_bind_label_and_id(void **state)
{
    (void)state;
    vt_identity *id = identity(1);
    vt_signed_prekey spk;
    assert_int_equal(vt_signed_prekey_generate(&spk, id, 5, false), VT_OK);
    const uint8_t *ik = vt_identity_public(id);
    assert_int_equal(vt_prekey_signature_verify(ik, false, 5, spk.key.pub, spk.signature),
                     VT_OK);
    /* A signed prekey's signature does not pass as a last-resort one, nor
     * for another id or key. */
    assert_int_equal(vt_prekey_signature_verify(ik, true, 5, spk.key.pub, spk.signature),
                     VT_ERR_BAD_SIGNATURE);
    assert_int_equal(vt_prekey_signature_verify(ik, false, 6, spk.key.pub, spk.signature),
                     VT_ERR_BAD_SIGNATURE);
    spk.key.pub[0] ^= 1;
    assert_int_equal(vt_prekey_signature_verify(ik, false, 5, spk.key.pub, spk.signature),
                     VT_ERR_BAD_SIGNATURE);
    assert_int_equal(vt_prekey_generate(&spk.key, 0), VT_ERR_INVALID_ARGUMENT);
    vt_wipe(&spk, sizeof(spk));
    vt_identity_free(id);
}

static void test_bundle_checks_in_order(void **state)
{
    (void)state;
    vt_identity *id = identity(2);
    vt_bundle b;

    make_bundle(&b, id, true);
    assert_int_equal(vt_bundle_verify(&b), VT_OK);
    make_bundle(&b, id, false);
    assert_int_equal(vt_bundle_verify(&b), VT_OK);

    /* CRYPTO-45: form first, even with a bad signature present. */
    b.has_one_time = true;
    b.one_time_id = 3;
    b.signed_prekey_sig[0] ^= 1;
    assert_int_equal(vt_bundle_verify(&b), VT_ERR_INVALID_ARGUMENT);
    make_bundle(&b, id, true);
    b.one_time_id = 0;
    assert_int_equal(vt_bundle_verify(&b), VT_ERR_INVALID_ARGUMENT);

    /* CRYPTO-46: a small-order identity key before any signature. */
    make_bundle(&b, id, true);
    memset(b.identity_key, 0, 32);
    b.identity_key[0] = 1;
    assert_int_equal(vt_bundle_verify(&b), VT_ERR_CRYPTO);

    /* CRYPTO-47, CRYPTO-48. */
    make_bundle(&b, id, true);
    b.signed_prekey_sig[10] ^= 4;
    assert_int_equal(vt_bundle_verify(&b), VT_ERR_BAD_SIGNATURE);
    make_bundle(&b, id, false);
    b.last_resort_sig[10] ^= 4;
    assert_int_equal(vt_bundle_verify(&b), VT_ERR_BAD_SIGNATURE);
    /* Labels are not interchangeable: a signed prekey's signature presented
     * as the last-resort one. */
    make_bundle(&b, id, false);
    memcpy(b.last_resort, b.signed_prekey, 32);
    memcpy(b.last_resort_sig, b.signed_prekey_sig, 64);
    b.last_resort_id = b.signed_prekey_id;
    assert_int_equal(vt_bundle_verify(&b), VT_ERR_BAD_SIGNATURE);
    vt_identity_free(id);
}

static void test_ring_rotation_and_grace(void **state)
{
    (void)state;
    vt_identity *id = identity(3);
    vt_prekey_ring ring;
    const uint64_t t0 = 1700000000, week = VT_SIGNED_PREKEY_ROTATION_S,
                   grace = VT_SIGNED_PREKEY_GRACE_S;

    vt_prekey_ring_init(&ring, false);
    assert_true(vt_prekey_ring_rotation_due(&ring, t0));
    assert_int_equal(vt_prekey_ring_rotate(&ring, id, 1, t0), VT_OK);
    assert_false(vt_prekey_ring_rotation_due(&ring, t0 + week - 1));
    assert_true(vt_prekey_ring_rotation_due(&ring, t0 + week));

    /* Ids are never shared between keys the ring holds (CRYPTO-20). */
    assert_int_equal(vt_prekey_ring_rotate(&ring, id, 1, t0 + week), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vt_prekey_ring_rotate(&ring, id, 2, t0 + week), VT_OK);
    assert_non_null(vt_prekey_ring_find(&ring, 1));
    assert_non_null(vt_prekey_ring_find(&ring, 2));
    assert_null(vt_prekey_ring_find(&ring, 3));

    /* Nothing goes before the upload succeeded and the grace has passed. */
    const uint64_t up = t0 + week + 60;
    assert_int_equal(vt_prekey_ring_expire(&ring, up + 10 * grace, up + 10 * grace), 0);
    vt_prekey_ring_mark_uploaded(&ring, up);
    assert_int_equal(vt_prekey_ring_expire(&ring, up + grace - 1, up + grace - 1), 0);
    /* Past the grace period but the queue not drained since: kept. */
    assert_int_equal(vt_prekey_ring_expire(&ring, up + grace, up + grace - 1), 0);
    assert_int_equal(vt_prekey_ring_expire(&ring, up + grace, up + grace), 1);
    assert_null(vt_prekey_ring_find(&ring, 1));
    assert_non_null(vt_prekey_ring_find(&ring, 2));

    /* A full ring refuses rather than drop a key inside its grace period. */
    for (uint32_t k = 0; k < VT_PREKEY_RING_MAX; k++)
        assert_int_equal(vt_prekey_ring_rotate(&ring, id, 10 + k, up + k), VT_OK);
    assert_int_equal(vt_prekey_ring_rotate(&ring, id, 20, up + 9), VT_ERR_LIMIT_EXCEEDED);
    assert_non_null(vt_prekey_ring_find(&ring, 2));

    vt_prekey_ring_clear(&ring);
    assert_false(ring.has_current);
    vt_identity_free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signatures_bind_label_and_id),
        cmocka_unit_test(test_bundle_checks_in_order),
        cmocka_unit_test(test_ring_rotation_and_grace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
