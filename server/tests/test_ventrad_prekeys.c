/* Black-box tests of ventrad's prekey store: UploadPrekeys, GetPrekeyCount,
 * FetchBundles and PrekeysLowEvent against the real binary (spec/wire.md
 * sections 5.11 to 5.13 and 6, WIRE-300 to WIRE-320, WIRE-600; spec/crypto.md
 * section 4, CRYPTO-21 and CRYPTO-36). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "ventra/prekeys.h"
#include "vt_constants.h"
#include "vtc_server.h"

/* ---- Helpers ----------------------------------------------------------- */

/* One-time prekeys of a test upload: ids and random 32-byte public keys. */
typedef struct otk_set {
    size_t n;
    Ventra__V1__OneTimePrekey *msg;
    Ventra__V1__OneTimePrekey **ptr;
    uint8_t (*pub)[32];
} otk_set;

static void otk_init(otk_set *s, uint32_t first_id, size_t n)
{
    s->n = n;
    s->msg = calloc(n ? n : 1, sizeof *s->msg);
    s->ptr = calloc(n ? n : 1, sizeof *s->ptr);
    s->pub = calloc(n ? n : 1, sizeof *s->pub);
    assert_non_null(s->msg);
    assert_non_null(s->ptr);
    assert_non_null(s->pub);
    for (size_t i = 0; i < n; i++) {
        ventra__v1__one_time_prekey__init(&s->msg[i]);
        assert_int_equal(vt_random_bytes(s->pub[i], 32), VT_OK);
        s->msg[i].id = first_id + (uint32_t)i;
        s->msg[i].public_key.len = 32;
        s->msg[i].public_key.data = s->pub[i];
        s->ptr[i] = &s->msg[i];
    }
}

static void otk_free(otk_set *s)
{
    free(s->msg);
    free(s->ptr);
    free(s->pub);
    memset(s, 0, sizeof *s);
}

/* A signed (or last-resort) prekey message signed by |signer| over the
 * CRYPTO-21 transcript with the label that |sign_as_last_resort| picks. */
typedef struct spk_msg {
    Ventra__V1__SignedPrekey msg;
    vt_signed_prekey key;
} spk_msg;

static void spk_init(spk_msg *s, const vt_identity *signer, uint32_t id,
                     bool sign_as_last_resort)
{
    assert_int_equal(vt_signed_prekey_generate(&s->key, signer, id, sign_as_last_resort),
                     VT_OK);
    ventra__v1__signed_prekey__init(&s->msg);
    s->msg.id = id;
    s->msg.public_key.len = 32;
    s->msg.public_key.data = s->key.key.pub;
    s->msg.signature.len = 64;
    s->msg.signature.data = s->key.signature;
}

/* The keys most tests upload for |d|: signed prekey 1, last-resort prekey
 * 2, and |n| one-time prekeys from id 10. */
static void keys_init(spk_msg *spk, spk_msg *lr, otk_set *otk, const vtc_device *d,
                      size_t n)
{
    spk_init(spk, d->id, 1, false);
    spk_init(lr, d->id, 2, true);
    otk_init(otk, 10, n);
}

static Ventra__V1__Response *upload(vtc_device *d, Ventra__V1__SignedPrekey *spk,
                                    Ventra__V1__SignedPrekey *lr, const otk_set *otk)
{
    Ventra__V1__UploadPrekeysRequest up = VENTRA__V1__UPLOAD_PREKEYS_REQUEST__INIT;

    up.signed_prekey = spk;
    up.last_resort_prekey = lr;
    if (otk != NULL) {
        up.n_one_time_prekeys = otk->n;
        up.one_time_prekeys = otk->ptr;
    }
    return vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_UPLOAD_PREKEYS, &up);
}

/* Uploads and asserts success with |want| one-time prekeys stored. */
static void upload_ok(vtc_device *d, Ventra__V1__SignedPrekey *spk,
                      Ventra__V1__SignedPrekey *lr, const otk_set *otk, uint32_t want)
{
    Ventra__V1__Response *r = upload(d, spk, lr, otk);

    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_UPLOAD_PREKEYS);
    assert_int_equal(r->upload_prekeys->one_time_count, want);
    vtc_response_free(r);
}

/* GetPrekeyCount of |d|; asserts its three fields. */
static void expect_count(vtc_device *d, uint32_t count, bool has_spk, bool has_lr)
{
    Ventra__V1__GetPrekeyCountRequest gc = VENTRA__V1__GET_PREKEY_COUNT_REQUEST__INIT;
    Ventra__V1__Response *r =
        vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_GET_PREKEY_COUNT, &gc);
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_GET_PREKEY_COUNT);
    assert_int_equal(r->get_prekey_count->one_time_count, count);
    assert_int_equal(!!r->get_prekey_count->has_signed_prekey, has_spk);
    assert_int_equal(!!r->get_prekey_count->has_last_resort_prekey, has_lr);
    vtc_response_free(r);
}

static void fetch_build(Ventra__V1__Request *req, Ventra__V1__FetchBundlesRequest *fb,
                        const char *username, const uint32_t *ids, size_t n)
{
    ventra__v1__fetch_bundles_request__init(fb);
    ventra__v1__request__init(req);
    fb->username = (char *)username;
    fb->n_device_ids = n;
    fb->device_ids = (uint32_t *)ids;
    req->body_case = VENTRA__V1__REQUEST__BODY_FETCH_BUNDLES;
    req->fetch_bundles = fb;
}

static Ventra__V1__Response *fetch(vtc_device *d, const char *username,
                                   const uint32_t *ids, size_t n)
{
    Ventra__V1__FetchBundlesRequest fb;
    Ventra__V1__Request req;

    fetch_build(&req, &fb, username, ids, n);
    return vtc_call(d->c, &req);
}

/* Asserts that |k| has |id| and a key and signature that verify under
 * |ik| with the label of a last-resort (|last_resort|) or signed prekey
 * (CRYPTO-21). */
static void check_signed(const Ventra__V1__SignedPrekey *k, const uint8_t *ik,
                         bool last_resort, uint32_t id)
{
    assert_int_equal(k->id, id);
    assert_int_equal(k->public_key.len, 32);
    assert_int_equal(k->signature.len, 64);
    assert_int_equal(vt_prekey_signature_verify(ik, last_resort, k->id,
                                                k->public_key.data, k->signature.data),
                     VT_OK);
}

/* Checks one bundle of |owner| as WIRE-310 says: its device id, identity
 * key, a signed prekey with id |spk_id| that verifies under the identity
 * key (CRYPTO-21), and exactly one of a one-time prekey and the
 * last-resort prekey (id |lr_id|, also verified). Returns the one-time
 * prekey's id, or 0 when the bundle carried the last-resort prekey. */
static uint32_t check_bundle(const Ventra__V1__PrekeyBundle *b, const vtc_device *owner,
                             uint32_t spk_id, uint32_t lr_id)
{
    const uint8_t *ik = vt_identity_public(owner->id);

    assert_non_null(b);
    assert_int_equal(b->device_id, owner->device_id);
    assert_int_equal(b->identity_key.len, 32);
    assert_memory_equal(b->identity_key.data, ik, 32);
    assert_non_null(b->signed_prekey);
    check_signed(b->signed_prekey, ik, false, spk_id);
    /* Never both, never neither. */
    assert_true((b->one_time_prekey != NULL) != (b->last_resort_prekey != NULL));
    if (b->one_time_prekey != NULL) {
        assert_int_not_equal(b->one_time_prekey->id, 0);
        assert_int_equal(b->one_time_prekey->public_key.len, 32);
        return b->one_time_prekey->id;
    }
    check_signed(b->last_resort_prekey, ik, true, lr_id);
    return 0;
}

/* FetchBundles(|username|, the |nids| |ids|) by |from|: asserts |n|
 * bundles, the i-th of |owner[i]| (signed prekey 1, last resort 2) with
 * the one-time prekey |otk[i]| (0: the last-resort prekey). */
static void expect_bundles(vtc_device *from, const char *username, const uint32_t *ids,
                           size_t nids, vtc_device *const *owner, const uint32_t *otk,
                           size_t n)
{
    Ventra__V1__Response *r = fetch(from, username, ids, nids);

    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES);
    assert_int_equal(r->fetch_bundles->n_bundles, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(check_bundle(r->fetch_bundles->bundles[i], owner[i], 1, 2),
                         otk[i]);
    vtc_response_free(r);
}

/* Fetches |owner|'s bundle (device_ids = [owner's id]) from |from| and
 * returns the one-time prekey id it carried (0 for the last-resort). */
static uint32_t fetch_one(vtc_device *from, const vtc_device *owner)
{
    Ventra__V1__Response *r = fetch(from, owner->username, &owner->device_id, 1);
    uint32_t id;

    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES);
    assert_int_equal(r->fetch_bundles->n_bundles, 1);
    id = check_bundle(r->fetch_bundles->bundles[0], owner, 1, 2);
    vtc_response_free(r);
    return id;
}

/* Drops every event that arrives on |c| within |ms|; returns how many of
 * them were PrekeysLowEvents. */
static int drain_events(vtc_client *c, int ms)
{
    int low = 0;
    Ventra__V1__Event *e;

    while ((e = vtc_wait_event(c, VENTRA__V1__EVENT__BODY_PREKEYS_LOW, ms)) != NULL) {
        low++;
        vtc_event_free(e);
    }
    return low;
}

/* ---- UploadPrekeys and GetPrekeyCount ------------------------------------ */

/* WIRE-300, WIRE-320: the count after each upload, a retried upload adds
 * nothing, an empty upload reports the stock, a new signed prekey replaces
 * the old one (seen through FetchBundles), CRYPTO-36 hand-out order. */
static void test_upload_count_and_retry(void **state)
{
    vtc_server *srv = *state;
    vtc_device *bob = vtc_new_account(srv, "bob");
    vtc_device *alice = vtc_new_account(srv, "alice");
    spk_msg spk, lr, spk2;
    otk_set a, b;
    Ventra__V1__Response *r;

    expect_count(bob, 0, false, false);

    keys_init(&spk, &lr, &a, bob, 5);
    upload_ok(bob, &spk.msg, &lr.msg, &a, 5);
    expect_count(bob, 5, true, true);

    /* The same upload again: every key is already stored, nothing added. */
    upload_ok(bob, &spk.msg, &lr.msg, &a, 5);
    expect_count(bob, 5, true, true);

    /* Overlap: ids 13 and 14 with their stored keys are skipped, 15..17
     * are new. */
    otk_init(&b, 15, 3);
    {
        otk_set mix;

        otk_init(&mix, 0, 5);
        mix.ptr[0] = &a.msg[3];
        mix.ptr[1] = &a.msg[4];
        mix.ptr[2] = &b.msg[0];
        mix.ptr[3] = &b.msg[1];
        mix.ptr[4] = &b.msg[2];
        upload_ok(bob, NULL, NULL, &mix, 8);
        otk_free(&mix);
    }

    /* An upload with no part changes nothing and reports the stock. */
    upload_ok(bob, NULL, NULL, NULL, 8);
    expect_count(bob, 8, true, true);

    /* A new signed prekey (id 3) replaces id 1. */
    spk_init(&spk2, bob->id, 3, false);
    upload_ok(bob, &spk2.msg, NULL, NULL, 8);
    r = fetch(alice, bob->username, NULL, 0);
    vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES);
    assert_int_equal(r->fetch_bundles->n_bundles, 1);
    assert_int_equal(check_bundle(r->fetch_bundles->bundles[0], bob, 3, 2), 10);
    assert_memory_equal(r->fetch_bundles->bundles[0]->signed_prekey->public_key.data,
                        spk2.key.key.pub, 32);
    /* CRYPTO-36: the earliest uploaded one-time prekey goes first. */
    assert_memory_equal(r->fetch_bundles->bundles[0]->one_time_prekey->public_key.data,
                        a.pub[0], 32);
    vtc_response_free(r);
    expect_count(bob, 7, true, true);

    otk_free(&a);
    otk_free(&b);
    vtc_device_free(alice);
    vtc_device_free(bob);
}

/* WIRE-300 check 2 and 3: an id stored with another key, or twice in one
 * request, is INVALID_ARGUMENT, and the request stores nothing. */
static void test_upload_same_id_different_key(void **state)
{
    vtc_server *srv = *state;
    vtc_device *bob = vtc_new_account(srv, "bob");
    otk_set a, b, dup;

    otk_init(&a, 10, 5);
    upload_ok(bob, NULL, NULL, &a, 5);

    /* id 12 again with a fresh key, next to a new id 30. */
    otk_init(&b, 30, 2);
    b.msg[1].id = 12;
    vtc_expect_error(upload(bob, NULL, NULL, &b), VT_ERR_INVALID_ARGUMENT);
    expect_count(bob, 5, false, false);

    /* Ids 40, 41, 40 in one request. */
    otk_init(&dup, 40, 3);
    dup.msg[2].id = 40;
    vtc_expect_error(upload(bob, NULL, NULL, &dup), VT_ERR_INVALID_ARGUMENT);
    /* Also with the same key twice: the id is still not unique. */
    dup.ptr[2] = &dup.msg[0];
    vtc_expect_error(upload(bob, NULL, NULL, &dup), VT_ERR_INVALID_ARGUMENT);
    expect_count(bob, 5, false, false);

    otk_free(&a);
    otk_free(&b);
    otk_free(&dup);
    vtc_device_free(bob);
}

/* WIRE-300 check 4: signatures must verify under the device's identity
 * key over the transcript with the right label and id; a refused upload
 * stores none of its parts (WIRE-45). */
static void test_upload_bad_signature(void **state)
{
    vtc_server *srv = *state;
    vtc_device *bob = vtc_new_account(srv, "bob");
    vt_identity *other = NULL;
    spk_msg spk, lr, wrong_spk, wrong_lr, spk_as_lr, lr_as_spk;
    otk_set a;

    assert_int_equal(vt_identity_generate(&other), VT_OK);
    keys_init(&spk, &lr, &a, bob, 5);
    spk_init(&wrong_spk, other, 1, false);
    spk_init(&wrong_lr, other, 2, true);
    spk_init(&spk_as_lr, bob->id, 2, false); /* LABEL_PREKEY on a last-resort */
    spk_init(&lr_as_spk, bob->id, 1, true);  /* LABEL_LAST_RESORT on a signed */

    vtc_expect_error(upload(bob, &wrong_spk.msg, &lr.msg, &a), VT_ERR_BAD_SIGNATURE);
    vtc_expect_error(upload(bob, &wrong_spk.msg, NULL, NULL), VT_ERR_BAD_SIGNATURE);
    vtc_expect_error(upload(bob, &spk.msg, &wrong_lr.msg, &a), VT_ERR_BAD_SIGNATURE);
    vtc_expect_error(upload(bob, NULL, &wrong_lr.msg, NULL), VT_ERR_BAD_SIGNATURE);
    vtc_expect_error(upload(bob, &spk.msg, &spk_as_lr.msg, &a), VT_ERR_BAD_SIGNATURE);
    vtc_expect_error(upload(bob, &lr_as_spk.msg, &lr.msg, &a), VT_ERR_BAD_SIGNATURE);

    /* The signature covers the id: a good signature over id 1 sent as id 7. */
    spk.msg.id = 7;
    vtc_expect_error(upload(bob, &spk.msg, NULL, NULL), VT_ERR_BAD_SIGNATURE);
    spk.msg.id = 1;

    /* Nothing of the refused uploads was stored. */
    expect_count(bob, 0, false, false);

    /* Check order: an invalid one-time prekey (check 2) comes before the
     * bad signature (check 4). */
    a.msg[4].id = 0;
    vtc_expect_error(upload(bob, &wrong_spk.msg, NULL, &a), VT_ERR_INVALID_ARGUMENT);
    a.msg[4].id = 14;

    upload_ok(bob, &spk.msg, &lr.msg, &a, 5);
    expect_count(bob, 5, true, true);

    otk_free(&a);
    vt_identity_free(other);
    vtc_device_free(bob);
}

/* WIRE-300 checks 1 and 2: ids 0 and keys or signatures of the wrong
 * length are INVALID_ARGUMENT. */
static void test_upload_invalid_arguments(void **state)
{
    vtc_server *srv = *state;
    vtc_device *bob = vtc_new_account(srv, "bob");
    spk_msg spk, lr;
    otk_set a;

    keys_init(&spk, &lr, &a, bob, 3);

    /* One-time prekey id 0. */
    a.msg[1].id = 0;
    vtc_expect_error(upload(bob, NULL, NULL, &a), VT_ERR_INVALID_ARGUMENT);
    a.msg[1].id = 11;
    /* One-time public keys of 31 and 0 bytes (33: see
     * test_upload_overlong_fields). */
    a.msg[2].public_key.len = 31;
    vtc_expect_error(upload(bob, NULL, NULL, &a), VT_ERR_INVALID_ARGUMENT);
    a.msg[2].public_key.len = 0;
    a.msg[2].public_key.data = NULL;
    vtc_expect_error(upload(bob, NULL, NULL, &a), VT_ERR_INVALID_ARGUMENT);
    a.msg[2].public_key.len = 32;
    a.msg[2].public_key.data = a.pub[2];

    /* Signed prekey: id 0, key of 31 bytes, signature of 63 bytes. */
    spk.msg.id = 0;
    vtc_expect_error(upload(bob, &spk.msg, NULL, NULL), VT_ERR_INVALID_ARGUMENT);
    spk.msg.id = 1;
    spk.msg.public_key.len = 31;
    vtc_expect_error(upload(bob, &spk.msg, NULL, NULL), VT_ERR_INVALID_ARGUMENT);
    spk.msg.public_key.len = 32;
    spk.msg.signature.len = 63;
    vtc_expect_error(upload(bob, &spk.msg, NULL, NULL), VT_ERR_INVALID_ARGUMENT);
    spk.msg.signature.len = 64;

    /* Last-resort prekey: id 0, no signature, a key of 16 bytes next to
     * a good signed prekey and one-time prekeys. */
    lr.msg.id = 0;
    vtc_expect_error(upload(bob, NULL, &lr.msg, NULL), VT_ERR_INVALID_ARGUMENT);
    lr.msg.id = 2;
    lr.msg.signature.len = 0;
    vtc_expect_error(upload(bob, NULL, &lr.msg, NULL), VT_ERR_INVALID_ARGUMENT);
    lr.msg.signature.len = 64;
    lr.msg.public_key.len = 16;
    vtc_expect_error(upload(bob, &spk.msg, &lr.msg, &a), VT_ERR_INVALID_ARGUMENT);
    lr.msg.public_key.len = 32;

    expect_count(bob, 0, false, false);
    upload_ok(bob, &spk.msg, &lr.msg, &a, 3);
    expect_count(bob, 3, true, true);

    otk_free(&a);
    vtc_device_free(bob);
}

/* spec/wire.md section 4.2: keys and signatures are fixed-length forms,
 * not bounds: one byte too many is INVALID_ARGUMENT (checks 1 and 2), not
 * TOO_LARGE, and stores nothing. */
static void test_upload_overlong_fields(void **state)
{
    vtc_server *srv = *state;
    vtc_device *bob = vtc_new_account(srv, "bob");
    spk_msg spk, lr;
    otk_set a;
    uint8_t big[65];

    memset(big, 9, sizeof big);
    keys_init(&spk, &lr, &a, bob, 3);

    a.msg[2].public_key.len = 33;
    a.msg[2].public_key.data = big;
    vtc_expect_error(upload(bob, NULL, NULL, &a), VT_ERR_INVALID_ARGUMENT);
    a.msg[2].public_key.len = 32;
    a.msg[2].public_key.data = a.pub[2];

    lr.msg.public_key.len = 33;
    lr.msg.public_key.data = big;
    vtc_expect_error(upload(bob, &spk.msg, &lr.msg, &a), VT_ERR_INVALID_ARGUMENT);
    lr.msg.public_key.len = 32;
    lr.msg.public_key.data = lr.key.key.pub;

    spk.msg.signature.len = 65;
    spk.msg.signature.data = big;
    vtc_expect_error(upload(bob, &spk.msg, &lr.msg, &a), VT_ERR_INVALID_ARGUMENT);

    expect_count(bob, 0, false, false);
    otk_free(&a);
    vtc_device_free(bob);
}

/* WIRE-300 check 5 and the field bound of section 4.2: 1000 stored is the
 * most, one more is LIMIT_EXCEEDED; 101 in one upload is TOO_LARGE (bounds
 * come before the RPC's own checks, WIRE-26). */
static void test_upload_limits(void **state)
{
    vtc_server *srv = *state;
    vtc_device *bob = vtc_new_account(srv, "bob");
    vtc_device *carol = vtc_new_account(srv, "carol");
    const size_t batches = VT_MAX_ONE_TIME_PREKEYS_STORED / VT_MAX_PREKEYS_PER_UPLOAD;
    otk_set *sets = calloc(batches, sizeof *sets);
    otk_set one, big;

    assert_non_null(sets);
    for (size_t i = 0; i < batches; i++) {
        otk_init(&sets[i], 1 + (uint32_t)(i * VT_MAX_PREKEYS_PER_UPLOAD),
                 VT_MAX_PREKEYS_PER_UPLOAD);
        upload_ok(bob, NULL, NULL, &sets[i],
                  (uint32_t)((i + 1) * VT_MAX_PREKEYS_PER_UPLOAD));
    }
    expect_count(bob, VT_MAX_ONE_TIME_PREKEYS_STORED, false, false);

    /* The 1001st. */
    otk_init(&one, 5000, 1);
    vtc_expect_error(upload(bob, NULL, NULL, &one), VT_ERR_LIMIT_EXCEEDED);
    expect_count(bob, VT_MAX_ONE_TIME_PREKEYS_STORED, false, false);

    /* A retried batch adds nothing, so the stock after it is still 1000. */
    upload_ok(bob, NULL, NULL, &sets[batches - 1], VT_MAX_ONE_TIME_PREKEYS_STORED);

    /* 101 in one upload, on a device with an empty stock. */
    otk_init(&big, 1, VT_MAX_PREKEYS_PER_UPLOAD + 1);
    vtc_expect_error(upload(carol, NULL, NULL, &big), VT_ERR_TOO_LARGE);
    /* TOO_LARGE even when an entry is also invalid (step 11 before 12). */
    big.msg[50].id = 0;
    vtc_expect_error(upload(carol, NULL, NULL, &big), VT_ERR_TOO_LARGE);
    expect_count(carol, 0, false, false);

    for (size_t i = 0; i < batches; i++)
        otk_free(&sets[i]);
    free(sets);
    otk_free(&one);
    otk_free(&big);
    vtc_device_free(carol);
    vtc_device_free(bob);
}

/* ---- FetchBundles --------------------------------------------------------- */

/* WIRE-310: one bundle per requested device in increasing device id, the
 * caller's own device left out; the check order of section 5.12. */
static void test_fetch_bundles_shape(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob1 = vtc_new_account(srv, "bob");
    vtc_device *bob2 = vtc_link(bob1);
    const uint32_t ids12[] = {1, 2}, ids21[] = {2, 1}, id2[] = {2}, id1[] = {1};
    const uint32_t id0[] = {0}, id22[] = {2, 2}, id3[] = {3}, id13[] = {1, 3};
    vtc_device *both[] = {bob1, bob2}, *other[] = {bob2};
    char ghost[33];

    assert_int_equal(bob1->device_id, 1);
    assert_int_equal(bob2->device_id, 2);
    assert_int_equal(vtc_upload_prekeys(bob1, 100, 5), 5);
    assert_int_equal(vtc_upload_prekeys(bob2, 200, 5), 5);

    /* Every active device, in increasing id. */
    expect_bundles(alice, bob1->username, NULL, 0, both, (const uint32_t[]){100, 200}, 2);
    /* Named devices, answered in increasing id whatever the request's order. */
    expect_bundles(alice, bob1->username, ids21, 2, both, (const uint32_t[]){101, 201},
                   2);
    expect_bundles(alice, bob1->username, id2, 1, other, (const uint32_t[]){202}, 1);
    /* The caller's own account: its other devices only. */
    expect_bundles(bob1, bob1->username, NULL, 0, other, (const uint32_t[]){203}, 1);
    /* An account with one device asking for its own: nothing to hand out. */
    expect_bundles(alice, alice->username, NULL, 0, NULL, NULL, 0);

    /* Check 2: the calling device named, 0, a repeated id. */
    vtc_expect_error(fetch(bob1, bob1->username, id1, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(fetch(bob1, bob1->username, ids12, 2), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(fetch(alice, bob1->username, id0, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(fetch(alice, bob1->username, id22, 2), VT_ERR_INVALID_ARGUMENT);
    /* Check 1: a malformed username; also before check 3 with a bad list. */
    vtc_expect_error(fetch(alice, "Bob", NULL, 0), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(fetch(alice, "b", NULL, 0), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(fetch(alice, "", NULL, 0), VT_ERR_INVALID_ARGUMENT);
    /* Check 3: an unknown account, a device that does not exist. */
    vtc_username(ghost, "ghost");
    vtc_expect_error(fetch(alice, ghost, NULL, 0), VT_ERR_NOT_FOUND);
    vtc_expect_error(fetch(alice, ghost, id0, 1), VT_ERR_INVALID_ARGUMENT);
    vtc_expect_error(fetch(alice, bob1->username, id3, 1), VT_ERR_NOT_FOUND);
    vtc_expect_error(fetch(alice, bob1->username, id13, 2), VT_ERR_NOT_FOUND);

    /* None of the refused fetches consumed a prekey (WIRE-310). */
    expect_count(bob1, 3, true, true);
    expect_count(bob2, 1, true, true);

    vtc_device_free(bob2);
    vtc_device_free(bob1);
    vtc_device_free(alice);
}

/* WIRE-310: once the one-time prekeys are gone the last-resort prekey is
 * handed out in their place, and again, as it is never deleted. */
static void test_fetch_last_resort(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");

    assert_int_equal(vtc_upload_prekeys(bob, 100, 2), 2);
    assert_int_equal(fetch_one(alice, bob), 100);
    assert_int_equal(fetch_one(alice, bob), 101);
    expect_count(bob, 0, true, true);
    assert_int_equal(fetch_one(alice, bob), 0);
    assert_int_equal(fetch_one(alice, bob), 0);
    expect_count(bob, 0, true, true);

    /* A new upload takes over again. */
    assert_int_equal(vtc_upload_prekeys(bob, 300, 1), 1);
    assert_int_equal(fetch_one(alice, bob), 300);
    assert_int_equal(fetch_one(alice, bob), 0);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

/* WIRE-310 check 4: a device without a signed prekey, or without both a
 * one-time and a last-resort prekey, fails the whole fetch with
 * NO_PREKEYS, and no other device's prekey is consumed. */
static void test_fetch_no_prekeys(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *carol = vtc_new_account(srv, "carol");
    vtc_device *bob1 = vtc_new_account(srv, "bob");
    vtc_device *bob2 = vtc_link(bob1);
    vtc_device *dave = vtc_new_account(srv, "dave");
    vtc_device *erin = vtc_new_account(srv, "erin");
    const uint32_t id1[] = {1}, id2[] = {2};
    spk_msg spk;
    otk_set a;

    /* carol never uploaded anything. */
    vtc_expect_error(fetch(alice, carol->username, NULL, 0), VT_ERR_NO_PREKEYS);

    /* bob/1 has prekeys, bob/2 none: the fetch of both fails as a whole. */
    assert_int_equal(vtc_upload_prekeys(bob1, 100, 3), 3);
    vtc_expect_error(fetch(alice, bob1->username, NULL, 0), VT_ERR_NO_PREKEYS);
    vtc_expect_error(fetch(alice, bob1->username, id2, 1), VT_ERR_NO_PREKEYS);
    expect_count(bob1, 3, true, true);
    expect_bundles(alice, bob1->username, id1, 1, &bob1, (const uint32_t[]){100}, 1);
    expect_count(bob1, 2, true, true);

    /* dave has one-time prekeys but no signed prekey: none consumed. */
    otk_init(&a, 10, 4);
    upload_ok(dave, NULL, NULL, &a, 4);
    vtc_expect_error(fetch(alice, dave->username, NULL, 0), VT_ERR_NO_PREKEYS);
    expect_count(dave, 4, false, false);

    /* erin has a signed prekey only: no one-time, no last-resort. */
    spk_init(&spk, erin->id, 1, false);
    upload_ok(erin, &spk.msg, NULL, NULL, 0);
    vtc_expect_error(fetch(alice, erin->username, NULL, 0), VT_ERR_NO_PREKEYS);
    expect_count(erin, 0, true, false);

    otk_free(&a);
    vtc_device_free(erin);
    vtc_device_free(dave);
    vtc_device_free(bob2);
    vtc_device_free(bob1);
    vtc_device_free(carol);
    vtc_device_free(alice);
}

/* WIRE-310: a one-time prekey is handed out at most once, also when many
 * connections fetch at the same moment. 8 clients each keep 6 fetches in
 * flight until the stock of 50 is gone. */
#define FETCHERS 8
#define PIPELINE 6
#define STOCK 50
#define FIRST_ID 1000

static void test_fetch_exactly_once_concurrent(void **state)
{
    vtc_server *srv = *state;
    vtc_device *bob = vtc_new_account(srv, "bob");
    vtc_device *f[FETCHERS];
    bool seen[STOCK] = {false};
    size_t handed = 0, last_resort = 0;
    bool gone = false;

    for (size_t k = 0; k < FETCHERS; k++)
        f[k] = vtc_new_account(srv, "fetch");
    assert_int_equal(vtc_upload_prekeys(bob, FIRST_ID, STOCK), STOCK);

    for (int round = 0; round < 10 && !gone; round++) {
        uint32_t ids[FETCHERS][PIPELINE];

        /* All requests of the round go out before any response is read. */
        for (size_t j = 0; j < PIPELINE; j++)
            for (size_t k = 0; k < FETCHERS; k++) {
                Ventra__V1__FetchBundlesRequest fb;
                Ventra__V1__Request req;

                fetch_build(&req, &fb, bob->username, NULL, 0);
                ids[k][j] = vtc_send_request(f[k]->c, &req);
            }
        for (size_t k = 0; k < FETCHERS; k++)
            for (size_t j = 0; j < PIPELINE; j++) {
                Ventra__V1__Response *r = vtc_wait_response(f[k]->c, ids[k][j], 10000);
                uint32_t id;

                vtc_expect_body(r, VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES);
                assert_int_equal(r->fetch_bundles->n_bundles, 1);
                id = check_bundle(r->fetch_bundles->bundles[0], bob, 1, 2);
                vtc_response_free(r);
                if (id == 0) {
                    last_resort++;
                    gone = true;
                    continue;
                }
                assert_in_range(id, FIRST_ID, FIRST_ID + STOCK - 1);
                if (seen[id - FIRST_ID])
                    fail_msg("one-time prekey %u handed out twice", id);
                seen[id - FIRST_ID] = true;
                handed++;
            }
    }
    assert_true(gone);
    assert_int_equal(handed, STOCK);
    assert_true(last_resort > 0);
    expect_count(bob, 0, true, true);

    for (size_t k = 0; k < FETCHERS; k++)
        vtc_device_free(f[k]);
    vtc_device_free(bob);
}

/* ---- PrekeysLowEvent ---------------------------------------------------------- */

/* WIRE-600: after authentication, a PrekeysLowEvent with the stock when it
 * is below PREKEY_LOW_WATERMARK (20); none at 20. */
static void test_prekeys_low_on_login(void **state)
{
    vtc_server *srv = *state;
    vtc_device *bob = vtc_new_account(srv, "bob");
    Ventra__V1__Event *e;

    /* Registered, never uploaded: 0. */
    e = vtc_wait_event(bob->c, VENTRA__V1__EVENT__BODY_PREKEYS_LOW, 3000);
    assert_non_null(e);
    assert_int_equal(e->prekeys_low->one_time_count, 0);
    vtc_event_free(e);

    assert_int_equal(vtc_upload_prekeys(bob, 1, VT_PREKEY_LOW_WATERMARK - 1),
                     VT_PREKEY_LOW_WATERMARK - 1);
    assert_int_equal(vtc_login(bob, srv->port), 0);
    e = vtc_wait_event(bob->c, VENTRA__V1__EVENT__BODY_PREKEYS_LOW, 3000);
    assert_non_null(e);
    assert_int_equal(e->prekeys_low->one_time_count, VT_PREKEY_LOW_WATERMARK - 1);
    vtc_event_free(e);
    /* Once per authentication. */
    assert_int_equal(drain_events(bob->c, 500), 0);

    assert_int_equal(vtc_upload_prekeys(bob, 100, 1), VT_PREKEY_LOW_WATERMARK);
    assert_int_equal(vtc_login(bob, srv->port), 0);
    assert_int_equal(drain_events(bob->c, 1000), 0);

    vtc_device_free(bob);
}

/* WIRE-311: a FetchBundles that takes the stock below 20 pushes a
 * PrekeysLowEvent to the device's connection; one that leaves 20 does not. */
static void test_prekeys_low_on_fetch(void **state)
{
    vtc_server *srv = *state;
    vtc_device *alice = vtc_new_account(srv, "alice");
    vtc_device *bob = vtc_new_account(srv, "bob");
    Ventra__V1__Event *e;

    assert_int_equal(vtc_upload_prekeys(bob, 1, VT_PREKEY_LOW_WATERMARK + 1),
                     VT_PREKEY_LOW_WATERMARK + 1);
    /* A fresh connection with 21 stored: no event at login. */
    assert_int_equal(vtc_login(bob, srv->port), 0);
    assert_int_equal(drain_events(bob->c, 500), 0);

    assert_int_equal(fetch_one(alice, bob), 1); /* 20 left */
    assert_int_equal(drain_events(bob->c, 700), 0);

    assert_int_equal(fetch_one(alice, bob), 2); /* 19 left */
    e = vtc_wait_event(bob->c, VENTRA__V1__EVENT__BODY_PREKEYS_LOW, 3000);
    assert_non_null(e);
    assert_int_equal(e->prekeys_low->one_time_count, VT_PREKEY_LOW_WATERMARK - 1);
    vtc_event_free(e);

    vtc_device_free(bob);
    vtc_device_free(alice);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VTC_TEST(test_upload_count_and_retry),
        VTC_TEST(test_upload_same_id_different_key),
        VTC_TEST(test_upload_bad_signature),
        VTC_TEST(test_upload_invalid_arguments),
        VTC_TEST(test_upload_overlong_fields),
        VTC_TEST(test_upload_limits),
        VTC_TEST(test_fetch_bundles_shape),
        VTC_TEST(test_fetch_last_resort),
        VTC_TEST(test_fetch_no_prekeys),
        VTC_TEST(test_fetch_exactly_once_concurrent),
        VTC_TEST(test_prekeys_low_on_login),
        VTC_TEST(test_prekeys_low_on_fetch),
    };

    return VTC_RUN(tests, NULL, NULL);
}
