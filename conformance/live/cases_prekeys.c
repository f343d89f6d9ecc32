/* Live cases of the server's prekey store (spec/wire.md sections 5.11 to
 * 5.13 and 6: UploadPrekeys, FetchBundles, GetPrekeyCount,
 * PrekeysLowEvent; spec/crypto.md section 4.4, CRYPTO-36). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "live.h"
#include "ventra/crypto.h"
#include "ventra/err.h"
#include "ventra/prekeys.h"
#include "vt_constants.h"

#define EV(name) VENTRA__V1__EVENT__BODY_##name

/* ---- Helpers ------------------------------------------------------------ */

/* Asserts that |r| succeeded with body |body|; freed after the case. */
static Ventra__V1__Response *ok_body(vcl_ctx *ctx, Ventra__V1__Response *r, int body,
                                     const char *what)
{
    vcl_unimplemented_if_unknown(ctx, vtc_error_code(vcl_keep(ctx, r)), what);
    return vcl_expect_body(ctx, r, body, what);
}

/* Asserts that |r| is answered with the error |want|; frees |r|. */
static void expect_code(vcl_ctx *ctx, Ventra__V1__Response *r, int want, const char *what)
{
    int got = vtc_take_code(r);

    vcl_unimplemented_if_unknown(ctx, got, what);
    vcl_check_code(ctx, got, want, what);
}

/* One-time prekeys of an upload: ids and random 32-byte public keys, freed
 * after the case. */
typedef struct otk_set {
    size_t n;
    Ventra__V1__OneTimePrekey msg[VT_MAX_PREKEYS_PER_UPLOAD + 1];
    Ventra__V1__OneTimePrekey *ptr[VT_MAX_PREKEYS_PER_UPLOAD + 1];
    uint8_t pub[VT_MAX_PREKEYS_PER_UPLOAD + 1][32];
} otk_set;

/* |n| one-time prekeys with the ids |first_id|, |first_id| + 1, ... */
static otk_set *otk_new(vcl_ctx *ctx, uint32_t first_id, size_t n)
{
    otk_set *s = calloc(1, sizeof *s);

    VCL_CHECK(ctx, s != NULL, "out of memory");
    vcl_defer(ctx, free, s);
    VCL_CHECK(ctx, n <= VT_MAX_PREKEYS_PER_UPLOAD + 1, "test setup: too many prekeys");
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        ventra__v1__one_time_prekey__init(&s->msg[i]);
        VCL_CHECK(ctx, vt_random_bytes(s->pub[i], 32) == VT_OK, "vt_random_bytes failed");
        s->msg[i].id = first_id + (uint32_t)i;
        s->msg[i].public_key = vtc_bin(s->pub[i], 32);
        s->ptr[i] = &s->msg[i];
    }
    return s;
}

/* A signed (or last-resort) prekey signed by |signer| over the CRYPTO-21
 * transcript with the label that |as_last_resort| picks. */
typedef struct spk_msg {
    Ventra__V1__SignedPrekey msg;
    vt_signed_prekey key;
} spk_msg;

static void spk_init(vcl_ctx *ctx, spk_msg *s, const vt_identity *signer, uint32_t id,
                     bool as_last_resort)
{
    VCL_CHECK(ctx,
              vt_signed_prekey_generate(&s->key, signer, id, as_last_resort) == VT_OK,
              "vt_signed_prekey_generate failed");
    ventra__v1__signed_prekey__init(&s->msg);
    s->msg.id = id;
    s->msg.public_key = vtc_bin(s->key.key.pub, 32);
    s->msg.signature = vtc_bin(s->key.signature, 64);
}

static Ventra__V1__Response *upload(vtc_device *d, Ventra__V1__SignedPrekey *spk,
                                    Ventra__V1__SignedPrekey *lr, const otk_set *otk)
{
    Ventra__V1__UploadPrekeysRequest up = VENTRA__V1__UPLOAD_PREKEYS_REQUEST__INIT;

    up.signed_prekey = spk;
    up.last_resort_prekey = lr;
    if (otk != NULL) {
        up.n_one_time_prekeys = otk->n;
        up.one_time_prekeys = (Ventra__V1__OneTimePrekey **)otk->ptr;
    }
    return vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_UPLOAD_PREKEYS, &up);
}

/* Uploads and asserts success with |want| one-time prekeys stored. */
static void upload_ok(vcl_ctx *ctx, vtc_device *d, Ventra__V1__SignedPrekey *spk,
                      Ventra__V1__SignedPrekey *lr, const otk_set *otk, uint32_t want)
{
    Ventra__V1__Response *r =
        ok_body(ctx, upload(d, spk, lr, otk), VENTRA__V1__RESPONSE__BODY_UPLOAD_PREKEYS,
                "UploadPrekeys");

    VCL_CHECK(ctx, r->upload_prekeys->one_time_count == want,
              "UploadPrekeys answered one_time_count %u, want %u",
              r->upload_prekeys->one_time_count, want);
}

/* vtc_upload_prekeys (signed prekey 1, last resort 2, |n| one-time from
 * |first_id|), asserting the count |want|. */
static void stock(vcl_ctx *ctx, vtc_device *d, uint32_t first_id, size_t n, uint32_t want)
{
    uint32_t got = vtc_upload_prekeys(d, first_id, n);

    VCL_CHECK(ctx, got == want, "UploadPrekeys answered one_time_count %u, want %u", got,
              want);
}

/* GetPrekeyCount of |d|; asserts its three fields. */
static void expect_count(vcl_ctx *ctx, vtc_device *d, uint32_t count, bool has_spk,
                         bool has_lr)
{
    Ventra__V1__GetPrekeyCountRequest gc = VENTRA__V1__GET_PREKEY_COUNT_REQUEST__INIT;
    Ventra__V1__Response *r =
        ok_body(ctx, vtc_call_body(d->c, VENTRA__V1__REQUEST__BODY_GET_PREKEY_COUNT, &gc),
                VENTRA__V1__RESPONSE__BODY_GET_PREKEY_COUNT, "GetPrekeyCount");
    const Ventra__V1__GetPrekeyCountResponse *g = r->get_prekey_count;

    VCL_CHECK(ctx,
              g->one_time_count == count && !!g->has_signed_prekey == has_spk &&
                  !!g->has_last_resort_prekey == has_lr,
              "GetPrekeyCount: %u one-time, signed %d, last-resort %d; want %u, %d, %d",
              g->one_time_count, (int)g->has_signed_prekey,
              (int)g->has_last_resort_prekey, count, (int)has_spk, (int)has_lr);
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

/* Asserts that |k| has |id| and a key and a signature that verifies under
 * |ik| with the label of a last-resort (|last_resort|) or signed prekey. */
static void check_signed(vcl_ctx *ctx, const Ventra__V1__SignedPrekey *k,
                         const uint8_t *ik, bool last_resort, uint32_t id)
{
    const char *what = last_resort ? "last-resort prekey" : "signed prekey";

    VCL_CHECK(ctx, k->id == id, "the bundle's %s has id %u, want %u", what, k->id, id);
    VCL_CHECK(ctx, k->public_key.len == 32 && k->signature.len == 64,
              "the bundle's %s has a key of %zu and a signature of %zu bytes", what,
              k->public_key.len, k->signature.len);
    VCL_CHECK(ctx,
              vt_prekey_signature_verify(ik, last_resort, k->id, k->public_key.data,
                                         k->signature.data) == VT_OK,
              "the bundle's %s does not verify under the identity key (CRYPTO-21)", what);
}

/* Checks one bundle of |owner| as WIRE-310 says: its device id, identity
 * key, a verifying signed prekey |spk_id| and exactly one of a one-time
 * prekey and the last-resort prekey |lr_id|. Returns the one-time
 * prekey's id, or 0 when it carried the last-resort prekey. */
static uint32_t check_bundle(vcl_ctx *ctx, const Ventra__V1__PrekeyBundle *b,
                             const vtc_device *owner, uint32_t spk_id, uint32_t lr_id)
{
    const uint8_t *ik = vt_identity_public(owner->id);

    VCL_CHECK(ctx, b->device_id == owner->device_id, "a bundle of device %u, want %u",
              b->device_id, owner->device_id);
    VCL_CHECK(ctx, b->identity_key.len == 32 && memcmp(b->identity_key.data, ik, 32) == 0,
              "the bundle of device %u does not carry its identity key", b->device_id);
    VCL_CHECK(ctx, b->signed_prekey != NULL,
              "the bundle of device %u has no signed prekey", b->device_id);
    check_signed(ctx, b->signed_prekey, ik, false, spk_id);
    VCL_CHECK(ctx, (b->one_time_prekey != NULL) != (b->last_resort_prekey != NULL),
              "the bundle of device %u carries %s", b->device_id,
              b->one_time_prekey ? "both a one-time and the last-resort prekey"
                                 : "neither a one-time nor the last-resort prekey");
    if (b->one_time_prekey != NULL) {
        VCL_CHECK(ctx,
                  b->one_time_prekey->id != 0 && b->one_time_prekey->public_key.len == 32,
                  "a one-time prekey with id %u and a key of %zu bytes",
                  b->one_time_prekey->id, b->one_time_prekey->public_key.len);
        return b->one_time_prekey->id;
    }
    check_signed(ctx, b->last_resort_prekey, ik, true, lr_id);
    return 0;
}

/* FetchBundles(|username|, the |nids| |ids|) by |from|: asserts |n|
 * bundles, the i-th of |owner[i]| (signed prekey 1, last resort 2) with the
 * one-time prekey |otk[i]| (0: the last-resort prekey). */
static void expect_bundles(vcl_ctx *ctx, vtc_device *from, const char *username,
                           const uint32_t *ids, size_t nids, vtc_device *const *owner,
                           const uint32_t *otk, size_t n)
{
    Ventra__V1__Response *r =
        ok_body(ctx, fetch(from, username, ids, nids),
                VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES, "FetchBundles");

    VCL_CHECK(ctx, r->fetch_bundles->n_bundles == n,
              "FetchBundles: %zu bundles, want %zu", r->fetch_bundles->n_bundles, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t got = check_bundle(ctx, r->fetch_bundles->bundles[i], owner[i], 1, 2);

        VCL_CHECK(ctx, got == otk[i],
                  "bundle %zu: one-time prekey %u, want %u (0: last resort)", i, got,
                  otk[i]);
    }
}

/* Fetches |owner|'s bundle (device_ids = [its id]) by |from|; returns the
 * one-time prekey id it carried (0 for the last-resort). */
static uint32_t fetch_one(vcl_ctx *ctx, vtc_device *from, const vtc_device *owner)
{
    Ventra__V1__Response *r =
        ok_body(ctx, fetch(from, owner->username, &owner->device_id, 1),
                VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES, "FetchBundles");

    VCL_CHECK(ctx, r->fetch_bundles->n_bundles == 1, "FetchBundles: %zu bundles, want 1",
              r->fetch_bundles->n_bundles);
    return check_bundle(ctx, r->fetch_bundles->bundles[0], owner, 1, 2);
}

/* The next PrekeysLowEvent on |d| (within 5 s): asserts its count. */
static void expect_low(vcl_ctx *ctx, vtc_device *d, uint32_t count, const char *when)
{
    Ventra__V1__Event *e = vtc_wait_event(d->c, EV(PREKEYS_LOW), 5000);
    uint32_t got;

    VCL_CHECK(ctx, e != NULL, "no PrekeysLowEvent %s (stock %u)", when, count);
    got = e->prekeys_low->one_time_count;
    vtc_event_free(e);
    VCL_CHECK(ctx, got == count,
              "the first PrekeysLowEvent %s says %u, want %u (an earlier event was sent "
              "when none was due, or the count is wrong)",
              when, got, count);
}

/* ---- UploadPrekeys and GetPrekeyCount ------------------------------------ */

static void upload_and_count(vcl_ctx *ctx)
{
    vtc_device *bob = vcl_account(ctx, "bob");
    spk_msg spk, lr;
    otk_set *a = otk_new(ctx, 10, 5), *b = otk_new(ctx, 15, 3), *mix = otk_new(ctx, 0, 5);

    vcl_step(ctx, "GetPrekeyCount of a fresh device");
    expect_count(ctx, bob, 0, false, false);

    vcl_step(ctx, "an upload of a signed, a last-resort and 5 one-time prekeys");
    spk_init(ctx, &spk, bob->id, 1, false);
    spk_init(ctx, &lr, bob->id, 2, true);
    upload_ok(ctx, bob, &spk.msg, &lr.msg, a, 5);
    expect_count(ctx, bob, 5, true, true);

    vcl_step(ctx, "the same upload again");
    upload_ok(ctx, bob, &spk.msg, &lr.msg, a, 5);
    expect_count(ctx, bob, 5, true, true);

    vcl_step(ctx, "an upload of ids 13, 14 (stored, same keys) and 15 to 17 (new)");
    mix->ptr[0] = &a->msg[3];
    mix->ptr[1] = &a->msg[4];
    mix->ptr[2] = &b->msg[0];
    mix->ptr[3] = &b->msg[1];
    mix->ptr[4] = &b->msg[2];
    upload_ok(ctx, bob, NULL, NULL, mix, 8);

    vcl_step(ctx, "an upload with no part");
    upload_ok(ctx, bob, NULL, NULL, NULL, 8);
    expect_count(ctx, bob, 8, true, true);
}

static void signed_prekey_replaced(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    spk_msg spk, lr, spk3, lr4;
    otk_set *a = otk_new(ctx, 10, 1);
    Ventra__V1__Response *r;
    const Ventra__V1__PrekeyBundle *bd;

    spk_init(ctx, &spk, bob->id, 1, false);
    spk_init(ctx, &lr, bob->id, 2, true);
    spk_init(ctx, &spk3, bob->id, 3, false);
    spk_init(ctx, &lr4, bob->id, 4, true);
    upload_ok(ctx, bob, &spk.msg, &lr.msg, a, 1);

    vcl_step(ctx, "an upload of signed prekey 3 alone");
    upload_ok(ctx, bob, &spk3.msg, NULL, NULL, 1);
    r = ok_body(ctx, fetch(alice, bob->username, NULL, 0),
                VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES, "FetchBundles");
    VCL_CHECK(ctx, r->fetch_bundles->n_bundles == 1, "%zu bundles, want 1",
              r->fetch_bundles->n_bundles);
    bd = r->fetch_bundles->bundles[0];
    VCL_CHECK(ctx, check_bundle(ctx, bd, bob, 3, 2) == 10, "not one-time prekey 10");
    VCL_CHECK(ctx, memcmp(bd->signed_prekey->public_key.data, spk3.key.key.pub, 32) == 0,
              "the signed prekey is not the one uploaded last");

    vcl_step(ctx, "an upload of last-resort prekey 4 alone");
    upload_ok(ctx, bob, NULL, &lr4.msg, NULL, 0);
    r = ok_body(ctx, fetch(alice, bob->username, NULL, 0),
                VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES, "FetchBundles");
    VCL_CHECK(ctx, r->fetch_bundles->n_bundles == 1, "%zu bundles, want 1",
              r->fetch_bundles->n_bundles);
    bd = r->fetch_bundles->bundles[0];
    VCL_CHECK(ctx, check_bundle(ctx, bd, bob, 3, 4) == 0, "not the last-resort prekey");
    VCL_CHECK(ctx,
              memcmp(bd->last_resort_prekey->public_key.data, lr4.key.key.pub, 32) == 0,
              "the last-resort prekey is not the one uploaded last");
    expect_count(ctx, bob, 0, true, true);
}

static void hand_out_order(vcl_ctx *ctx)
{
    static const uint32_t first[] = {30, 20, 25}, second[] = {5, 40};
    static const uint32_t want[] = {30, 20, 25, 5, 40};
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    otk_set *a = otk_new(ctx, 1, 3), *b = otk_new(ctx, 1, 2);

    vcl_step(ctx, "uploads of one-time prekeys 30, 20, 25, then 5, 40");
    for (size_t i = 0; i < 3; i++)
        a->msg[i].id = first[i];
    for (size_t i = 0; i < 2; i++)
        b->msg[i].id = second[i];
    stock(ctx, bob, 100, 0, 0);
    upload_ok(ctx, bob, NULL, NULL, a, 3);
    upload_ok(ctx, bob, NULL, NULL, b, 5);
    for (size_t i = 0; i < 5; i++) {
        uint32_t got;

        vcl_step(ctx, "FetchBundles #%zu", i + 1);
        got = fetch_one(ctx, alice, bob);
        VCL_CHECK(ctx, got == want[i],
                  "handed out one-time prekey %u, want %u (the one uploaded earliest)",
                  got, want[i]);
    }
}

static void upload_id_conflict(vcl_ctx *ctx)
{
    vtc_device *bob = vcl_account(ctx, "bob");
    otk_set *a = otk_new(ctx, 10, 5), *b = otk_new(ctx, 30, 2),
            *dup = otk_new(ctx, 40, 3);

    upload_ok(ctx, bob, NULL, NULL, a, 5);
    vcl_step(ctx, "id 12 again with another key, next to a new id 30");
    b->msg[1].id = 12;
    expect_code(ctx, upload(bob, NULL, NULL, b), VT_ERR_INVALID_ARGUMENT,
                "a stored id with another key");
    expect_count(ctx, bob, 5, false, false);

    vcl_step(ctx, "ids 40, 41, 40 in one upload");
    dup->msg[2].id = 40;
    expect_code(ctx, upload(bob, NULL, NULL, dup), VT_ERR_INVALID_ARGUMENT,
                "an id twice in one upload");
    vcl_step(ctx, "id 40 twice with the same key in one upload");
    dup->ptr[2] = &dup->msg[0];
    expect_code(ctx, upload(bob, NULL, NULL, dup), VT_ERR_INVALID_ARGUMENT,
                "the same prekey twice in one upload");
    expect_count(ctx, bob, 5, false, false);
}

static void upload_bad_signature(vcl_ctx *ctx)
{
    vtc_device *bob = vcl_account(ctx, "bob");
    vt_identity *other = vcl_identity(ctx);
    spk_msg spk, lr, wrong_spk, wrong_lr, spk_as_lr, lr_as_spk;
    otk_set *a;
    const struct {
        const char *what;
        Ventra__V1__SignedPrekey *spk, *lr;
        bool otk;
    } bad[] = {
        {"a signed prekey signed by another identity", &wrong_spk.msg, &lr.msg, true},
        {"only a signed prekey signed by another identity", &wrong_spk.msg, NULL, false},
        {"a last-resort prekey signed by another identity", &spk.msg, &wrong_lr.msg,
         true},
        {"only a last-resort prekey signed by another identity", NULL, &wrong_lr.msg,
         false},
        {"a last-resort prekey signed with LABEL_PREKEY", &spk.msg, &spk_as_lr.msg, true},
        {"a signed prekey signed with LABEL_LAST_RESORT", &lr_as_spk.msg, &lr.msg, true},
    };

    a = otk_new(ctx, 10, 5);
    spk_init(ctx, &spk, bob->id, 1, false);
    spk_init(ctx, &lr, bob->id, 2, true);
    spk_init(ctx, &wrong_spk, other, 1, false);
    spk_init(ctx, &wrong_lr, other, 2, true);
    spk_init(ctx, &spk_as_lr, bob->id, 2, false);
    spk_init(ctx, &lr_as_spk, bob->id, 1, true);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vcl_step(ctx, "an upload with %s", bad[i].what);
        expect_code(ctx, upload(bob, bad[i].spk, bad[i].lr, bad[i].otk ? a : NULL),
                    VT_ERR_BAD_SIGNATURE, bad[i].what);
    }
    vcl_step(ctx, "a signature over id 1 sent as id 7");
    spk.msg.id = 7;
    expect_code(ctx, upload(bob, &spk.msg, NULL, NULL), VT_ERR_BAD_SIGNATURE,
                "a signature over another id");
    spk.msg.id = 1;
    expect_count(ctx, bob, 0, false, false);

    vcl_step(ctx, "an invalid one-time prekey next to a bad signature (check 2 first)");
    a->msg[4].id = 0;
    expect_code(ctx, upload(bob, &wrong_spk.msg, NULL, a), VT_ERR_INVALID_ARGUMENT,
                "id 0 and a bad signature");
    a->msg[4].id = 14;

    vcl_step(ctx, "the correct upload");
    upload_ok(ctx, bob, &spk.msg, &lr.msg, a, 5);
    expect_count(ctx, bob, 5, true, true);
}

static void upload_invalid_arguments(vcl_ctx *ctx)
{
    vtc_device *bob = vcl_account(ctx, "bob");
    spk_msg spk, lr;
    otk_set *a = otk_new(ctx, 10, 3);
    uint8_t big[65];
    struct {
        const char *what;
        ProtobufCBinaryData *field; /* the field given |len| bytes, or */
        size_t len;
        uint32_t *id; /* the id set to 0 */
        bool with_spk, with_lr;
    } bad[] = {
        {"one-time prekey id 0", NULL, 0, &a->msg[1].id, false, false},
        {"a one-time key of 31 bytes", &a->msg[2].public_key, 31, NULL, false, false},
        {"a one-time key of 33 bytes", &a->msg[2].public_key, 33, NULL, false, false},
        {"a one-time key of no bytes", &a->msg[2].public_key, 0, NULL, false, false},
        {"signed prekey id 0", NULL, 0, &spk.msg.id, true, false},
        {"a signed prekey of 31 bytes", &spk.msg.public_key, 31, NULL, true, false},
        {"a signed prekey signature of 63 bytes", &spk.msg.signature, 63, NULL, true,
         false},
        {"a signed prekey signature of 65 bytes", &spk.msg.signature, 65, NULL, true,
         true},
        {"last-resort prekey id 0", NULL, 0, &lr.msg.id, false, true},
        {"a last-resort prekey without signature", &lr.msg.signature, 0, NULL, false,
         true},
        {"a last-resort prekey of 16 bytes", &lr.msg.public_key, 16, NULL, true, true},
        {"a last-resort prekey of 33 bytes", &lr.msg.public_key, 33, NULL, true, true},
    };

    memset(big, 9, sizeof big);
    spk_init(ctx, &spk, bob->id, 1, false);
    spk_init(ctx, &lr, bob->id, 2, true);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ProtobufCBinaryData saved = {0, NULL};
        uint32_t saved_id = 0;

        vcl_step(ctx, "an upload with %s", bad[i].what);
        if (bad[i].field != NULL) {
            saved = *bad[i].field;
            *bad[i].field = bad[i].len > saved.len ? vtc_bin(big, bad[i].len)
                                                   : vtc_bin(saved.data, bad[i].len);
        } else {
            saved_id = *bad[i].id;
            *bad[i].id = 0;
        }
        expect_code(ctx,
                    upload(bob, bad[i].with_spk ? &spk.msg : NULL,
                           bad[i].with_lr ? &lr.msg : NULL, a),
                    VT_ERR_INVALID_ARGUMENT, bad[i].what);
        if (bad[i].field != NULL)
            *bad[i].field = saved;
        else
            *bad[i].id = saved_id;
    }
    vcl_step(ctx, "nothing was stored; the correct upload");
    expect_count(ctx, bob, 0, false, false);
    upload_ok(ctx, bob, &spk.msg, &lr.msg, a, 3);
    expect_count(ctx, bob, 3, true, true);
}

static void upload_limits(vcl_ctx *ctx)
{
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_device *carol = vcl_account(ctx, "carol");
    const size_t batches = VT_MAX_ONE_TIME_PREKEYS_STORED / VT_MAX_PREKEYS_PER_UPLOAD;
    otk_set *last = NULL, *one = otk_new(ctx, 5000, 1);
    otk_set *big = otk_new(ctx, 1, VT_MAX_PREKEYS_PER_UPLOAD + 1);

    vcl_step(ctx, "uploads up to MAX_ONE_TIME_PREKEYS_STORED");
    for (size_t i = 0; i < batches; i++) {
        last = otk_new(ctx, 1 + (uint32_t)(i * VT_MAX_PREKEYS_PER_UPLOAD),
                       VT_MAX_PREKEYS_PER_UPLOAD);
        upload_ok(ctx, bob, NULL, NULL, last,
                  (uint32_t)((i + 1) * VT_MAX_PREKEYS_PER_UPLOAD));
    }
    expect_count(ctx, bob, VT_MAX_ONE_TIME_PREKEYS_STORED, false, false);

    vcl_step(ctx, "one one-time prekey more");
    expect_code(ctx, upload(bob, NULL, NULL, one), VT_ERR_LIMIT_EXCEEDED,
                "the 1001st one-time prekey");
    expect_count(ctx, bob, VT_MAX_ONE_TIME_PREKEYS_STORED, false, false);
    vcl_step(ctx, "the last batch again at the limit");
    upload_ok(ctx, bob, NULL, NULL, last, VT_MAX_ONE_TIME_PREKEYS_STORED);

    vcl_step(ctx, "MAX_PREKEYS_PER_UPLOAD + 1 one-time prekeys in one upload");
    expect_code(ctx, upload(carol, NULL, NULL, big), VT_ERR_TOO_LARGE,
                "101 one-time prekeys in one upload");
    big->msg[50].id = 0; /* the bound (step 11) comes before the form (step 12) */
    expect_code(ctx, upload(carol, NULL, NULL, big), VT_ERR_TOO_LARGE,
                "101 one-time prekeys, one with id 0");
    expect_count(ctx, carol, 0, false, false);
}

/* ---- FetchBundles ----------------------------------------------------------- */

static void fetch_bundles_shape(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob1 = vcl_account(ctx, "bob");
    vtc_device *bob2 = vcl_link(ctx, bob1);
    const uint32_t ids21[] = {2, 1}, id2[] = {2};
    vtc_device *both[] = {bob1, bob2}, *other[] = {bob2};

    stock(ctx, bob1, 100, 5, 5);
    stock(ctx, bob2, 200, 5, 5);
    vcl_step(ctx, "FetchBundles of every device of another account");
    expect_bundles(ctx, alice, bob1->username, NULL, 0, both,
                   (const uint32_t[]){100, 200}, 2);
    vcl_step(ctx, "FetchBundles of devices [2, 1]");
    expect_bundles(ctx, alice, bob1->username, ids21, 2, both,
                   (const uint32_t[]){101, 201}, 2);
    vcl_step(ctx, "FetchBundles of device [2]");
    expect_bundles(ctx, alice, bob1->username, id2, 1, other, (const uint32_t[]){202}, 1);
    vcl_step(ctx, "FetchBundles of the caller's own account");
    expect_bundles(ctx, bob1, bob1->username, NULL, 0, other, (const uint32_t[]){203}, 1);
    vcl_step(ctx, "FetchBundles of the own account with no other device");
    expect_bundles(ctx, alice, alice->username, NULL, 0, NULL, NULL, 0);
    expect_count(ctx, bob1, 3, true, true);
    expect_count(ctx, bob2, 1, true, true);
}

static void fetch_bundles_errors(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob1 = vcl_account(ctx, "bob");
    vtc_device *bob2 = vcl_link(ctx, bob1);
    const uint32_t id1[] = {1}, ids12[] = {1, 2}, id0[] = {0}, id22[] = {2, 2},
                   id3[] = {3}, id13[] = {1, 3};
    char ghost[33];
    const struct {
        const char *what;
        vtc_device *from;
        const char *user;
        const uint32_t *ids;
        size_t n;
        int code;
    } bad[] = {
        {"the calling device named", bob1, bob1->username, id1, 1,
         VT_ERR_INVALID_ARGUMENT},
        {"the calling device named with another", bob1, bob1->username, ids12, 2,
         VT_ERR_INVALID_ARGUMENT},
        {"device 0", alice, bob1->username, id0, 1, VT_ERR_INVALID_ARGUMENT},
        {"device 2 twice", alice, bob1->username, id22, 2, VT_ERR_INVALID_ARGUMENT},
        {"the malformed name 'Bob'", alice, "Bob", NULL, 0, VT_ERR_INVALID_ARGUMENT},
        {"the too short name 'b'", alice, "b", NULL, 0, VT_ERR_INVALID_ARGUMENT},
        {"the empty name", alice, "", NULL, 0, VT_ERR_INVALID_ARGUMENT},
        {"an unknown account", alice, ghost, NULL, 0, VT_ERR_NOT_FOUND},
        {"an unknown account and device 0 (check 2 first)", alice, ghost, id0, 1,
         VT_ERR_INVALID_ARGUMENT},
        {"device 3, never issued", alice, bob1->username, id3, 1, VT_ERR_NOT_FOUND},
        {"devices 1 and 3", alice, bob1->username, id13, 2, VT_ERR_NOT_FOUND},
    };

    vtc_username(ghost, "ghost");
    stock(ctx, bob1, 100, 3, 3);
    stock(ctx, bob2, 200, 1, 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vcl_step(ctx, "FetchBundles of %s", bad[i].what);
        expect_code(ctx, fetch(bad[i].from, bad[i].user, bad[i].ids, bad[i].n),
                    bad[i].code, bad[i].what);
    }
    vcl_step(ctx, "no prekey was consumed");
    expect_count(ctx, bob1, 3, true, true);
    expect_count(ctx, bob2, 1, true, true);
}

static void fetch_last_resort(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    static const uint32_t want[] = {100, 101, 0, 0};

    stock(ctx, bob, 100, 2, 2);
    for (size_t i = 0; i < 4; i++) {
        uint32_t got;

        vcl_step(ctx, "FetchBundles #%zu of a stock of 2", i + 1);
        got = fetch_one(ctx, alice, bob);
        VCL_CHECK(ctx, got == want[i], "one-time prekey %u, want %u (0: the last resort)",
                  got, want[i]);
    }
    expect_count(ctx, bob, 0, true, true);
    vcl_step(ctx, "a new upload takes over again");
    stock(ctx, bob, 300, 1, 1);
    VCL_CHECK(ctx, fetch_one(ctx, alice, bob) == 300,
              "not the newly uploaded prekey 300");
    VCL_CHECK(ctx, fetch_one(ctx, alice, bob) == 0, "not the last-resort prekey");
}

static void fetch_no_prekeys(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *carol = vcl_account(ctx, "carol");
    vtc_device *bob1 = vcl_account(ctx, "bob");
    vtc_device *bob2 = vcl_link(ctx, bob1);
    vtc_device *dave = vcl_account(ctx, "dave");
    vtc_device *erin = vcl_account(ctx, "erin");
    const uint32_t id1[] = {1}, id2[] = {2};
    otk_set *a = otk_new(ctx, 10, 4);
    spk_msg spk;

    (void)bob2;
    vcl_step(ctx, "an account that never uploaded");
    expect_code(ctx, fetch(alice, carol->username, NULL, 0), VT_ERR_NO_PREKEYS,
                "FetchBundles of a device without prekeys");

    vcl_step(ctx, "bob/1 has prekeys, bob/2 none");
    stock(ctx, bob1, 100, 3, 3);
    expect_code(ctx, fetch(alice, bob1->username, NULL, 0), VT_ERR_NO_PREKEYS,
                "FetchBundles of both devices");
    expect_code(ctx, fetch(alice, bob1->username, id2, 1), VT_ERR_NO_PREKEYS,
                "FetchBundles of device 2");
    expect_count(ctx, bob1, 3, true, true);
    expect_bundles(ctx, alice, bob1->username, id1, 1, &bob1, (const uint32_t[]){100}, 1);

    vcl_step(ctx, "one-time prekeys and no signed prekey");
    upload_ok(ctx, dave, NULL, NULL, a, 4);
    expect_code(ctx, fetch(alice, dave->username, NULL, 0), VT_ERR_NO_PREKEYS,
                "FetchBundles of a device without a signed prekey");
    expect_count(ctx, dave, 4, false, false);

    vcl_step(ctx, "a signed prekey only");
    spk_init(ctx, &spk, erin->id, 1, false);
    upload_ok(ctx, erin, &spk.msg, NULL, NULL, 0);
    expect_code(ctx, fetch(alice, erin->username, NULL, 0), VT_ERR_NO_PREKEYS,
                "FetchBundles of a device with neither one-time nor last-resort prekey");
    expect_count(ctx, erin, 0, true, false);
}

#define FETCHERS 8
#define PIPELINE 6
#define STOCK 50
#define FIRST_ID 1000

static void fetch_exactly_once_concurrent(vcl_ctx *ctx)
{
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_device *f[FETCHERS];
    bool seen[STOCK] = {false};
    size_t handed = 0, last_resort = 0;
    bool gone = false;

    for (size_t k = 0; k < FETCHERS; k++)
        f[k] = vcl_account(ctx, "fetch");
    stock(ctx, bob, FIRST_ID, STOCK, STOCK);

    for (int round = 0; round < 10 && !gone; round++) {
        uint32_t ids[FETCHERS][PIPELINE];

        vcl_step(ctx, "round %d: %d clients with %d fetches in flight each", round + 1,
                 FETCHERS, PIPELINE);
        /* Every request of the round goes out before any response is read. */
        for (size_t j = 0; j < PIPELINE; j++)
            for (size_t k = 0; k < FETCHERS; k++) {
                Ventra__V1__FetchBundlesRequest fb;
                Ventra__V1__Request req;

                fetch_build(&req, &fb, bob->username, NULL, 0);
                ids[k][j] = vtc_send_request(f[k]->c, &req);
            }
        for (size_t k = 0; k < FETCHERS; k++)
            for (size_t j = 0; j < PIPELINE; j++) {
                Ventra__V1__Response *r =
                    ok_body(ctx, vtc_wait_response(f[k]->c, ids[k][j], 10000),
                            VENTRA__V1__RESPONSE__BODY_FETCH_BUNDLES, "FetchBundles");
                uint32_t id;

                VCL_CHECK(ctx, r->fetch_bundles->n_bundles == 1, "%zu bundles, want 1",
                          r->fetch_bundles->n_bundles);
                id = check_bundle(ctx, r->fetch_bundles->bundles[0], bob, 1, 2);
                if (id == 0) {
                    last_resort++;
                    gone = true;
                    continue;
                }
                VCL_CHECK(ctx, id >= FIRST_ID && id < FIRST_ID + STOCK,
                          "one-time prekey %u was never uploaded", id);
                VCL_CHECK(ctx, !seen[id - FIRST_ID],
                          "one-time prekey %u handed out twice", id);
                seen[id - FIRST_ID] = true;
                handed++;
            }
    }
    VCL_CHECK(ctx, gone && last_resort > 0,
              "the last-resort prekey was never handed out");
    VCL_CHECK(ctx, handed == STOCK, "%zu one-time prekeys handed out, want all %d",
              handed, STOCK);
    expect_count(ctx, bob, 0, true, true);
}

static void fetch_durable(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    uint32_t got;
    int rc;

    stock(ctx, bob, 100, 3, 3);
    vcl_step(ctx, "FetchBundles, then the server is killed");
    got = fetch_one(ctx, alice, bob);
    VCL_CHECK(ctx, got == 100, "one-time prekey %u, want 100", got);
    vcl_crash_restart(ctx);
    vcl_step(ctx, "FetchBundles after the restart");
    rc = vtc_login(alice, vcl_port(ctx));
    VCL_CHECK(ctx, rc == 0, "Login after the restart: got %s", vcl_code_name(rc));
    rc = vtc_login(bob, vcl_port(ctx));
    VCL_CHECK(ctx, rc == 0, "Login after the restart: got %s", vcl_code_name(rc));
    got = fetch_one(ctx, alice, bob);
    VCL_CHECK(
        ctx, got == 101,
        "one-time prekey %u after the restart, want 101 (100 was handed out before)",
        got);
    expect_count(ctx, bob, 1, true, true);
}

/* ---- Devices that hold no prekeys -------------------------------------------- */

static void pending_device_no_bundle(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    vt_identity *id = vcl_identity(ctx);
    const uint32_t id2[] = {2};
    uint8_t sig[64];

    stock(ctx, bob, 100, 2, 2);
    vcl_step(ctx, "AddDevice of device 2, pending");
    vtc_sign_link(bob->id, bob->server_key, bob->username, 1, vt_identity_public(id),
                  sig);
    ok_body(ctx, vtc_rpc_add_device(bob->c, vt_identity_public(id), 32, "", sig, 64),
            VENTRA__V1__RESPONSE__BODY_ADD_DEVICE, "AddDevice");
    vcl_step(ctx, "FetchBundles of the pending device");
    expect_code(ctx, fetch(alice, bob->username, id2, 1), VT_ERR_NOT_FOUND,
                "FetchBundles naming a pending device");
    vcl_step(ctx, "FetchBundles of every device");
    expect_bundles(ctx, alice, bob->username, NULL, 0, &bob, (const uint32_t[]){100}, 1);
}

static void removed_device_no_bundle(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    vtc_device *bob2 = vcl_link(ctx, bob);
    const uint32_t id2[] = {2};

    stock(ctx, bob, 100, 2, 2);
    stock(ctx, bob2, 200, 2, 2);
    vcl_step(ctx, "RemoveDevice(2)");
    expect_code(ctx, vtc_rpc_remove_device(bob->c, 2), 0, "RemoveDevice(2)");
    vcl_step(ctx, "FetchBundles of the removed device");
    expect_code(ctx, fetch(alice, bob->username, id2, 1), VT_ERR_NOT_FOUND,
                "FetchBundles naming a removed device");
    vcl_step(ctx, "FetchBundles of every device");
    expect_bundles(ctx, alice, bob->username, NULL, 0, &bob, (const uint32_t[]){100}, 1);
}

/* ---- PrekeysLowEvent -------------------------------------------------------------- */

static void low_event_on_auth(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    const uint32_t low = VT_PREKEY_LOW_WATERMARK - 1;
    int rc;

    vcl_step(ctx, "Register: no prekeys yet");
    expect_low(ctx, bob, 0, "after Register");

    vcl_step(ctx, "Login with PREKEY_LOW_WATERMARK - 1 stored");
    stock(ctx, bob, 1, low, low);
    rc = vtc_login(bob, vcl_port(ctx));
    VCL_CHECK(ctx, rc == 0, "Login: got %s", vcl_code_name(rc));
    expect_low(ctx, bob, low, "after Login");

    vcl_step(ctx, "Resume with PREKEY_LOW_WATERMARK - 1 stored");
    rc = vtc_resume(bob, vcl_port(ctx));
    VCL_CHECK(ctx, rc == 0, "Resume: got %s", vcl_code_name(rc));
    expect_low(ctx, bob, low, "after Resume");

    vcl_step(ctx, "Login with PREKEY_LOW_WATERMARK stored, then a FetchBundles");
    stock(ctx, bob, 100, 1, VT_PREKEY_LOW_WATERMARK);
    rc = vtc_login(bob, vcl_port(ctx));
    VCL_CHECK(ctx, rc == 0, "Login: got %s", vcl_code_name(rc));
    /* No event at this Login: the first one is the fetch's (WIRE-311). */
    VCL_CHECK(ctx, fetch_one(ctx, alice, bob) == 1, "not one-time prekey 1");
    expect_low(ctx, bob, low,
               "after a Login with the watermark stored and a FetchBundles");
}

static void low_event_on_fetch(vcl_ctx *ctx)
{
    vtc_device *alice = vcl_account(ctx, "alice");
    vtc_device *bob = vcl_account(ctx, "bob");
    int rc;

    stock(ctx, bob, 1, VT_PREKEY_LOW_WATERMARK + 1, VT_PREKEY_LOW_WATERMARK + 1);
    rc = vtc_login(bob, vcl_port(ctx));
    VCL_CHECK(ctx, rc == 0, "Login: got %s", vcl_code_name(rc));
    vcl_step(ctx, "a FetchBundles leaving PREKEY_LOW_WATERMARK");
    VCL_CHECK(ctx, fetch_one(ctx, alice, bob) == 1, "not one-time prekey 1");
    vcl_step(ctx, "a FetchBundles leaving PREKEY_LOW_WATERMARK - 1");
    VCL_CHECK(ctx, fetch_one(ctx, alice, bob) == 2, "not one-time prekey 2");
    expect_low(ctx, bob, VT_PREKEY_LOW_WATERMARK - 1, "after the two fetches");
}

VCL_CASES(
    prekeys,
    {"prekeys/upload-and-count", "WIRE-300 WIRE-320", VCL_MUST, 0,
     "uploads add the one-time prekeys not yet stored and answer the stock; "
     "GetPrekeyCount",
     upload_and_count},
    {"prekeys/signed-prekey-replaced", "WIRE-300 WIRE-310", VCL_MUST, 0,
     "an upload replaces the signed or the last-resort prekey it carries, not the other",
     signed_prekey_replaced},
    {"prekeys/hand-out-order", "CRYPTO-36", VCL_MUST, 0,
     "the one-time prekey uploaded earliest is handed out first, whatever its id",
     hand_out_order},
    {"prekeys/upload-id-conflict", "WIRE-81 WIRE-45", VCL_MUST, 0,
     "a stored id with another key, or an id twice in one upload, is INVALID_ARGUMENT",
     upload_id_conflict},
    {"prekeys/upload-bad-signature", "WIRE-81 WIRE-45 CRYPTO-21", VCL_MUST, 0,
     "signatures by another key, with the other label or over another id are "
     "BAD_SIGNATURE",
     upload_bad_signature},
    {"prekeys/upload-invalid-arguments", "WIRE-81 WIRE-45", VCL_MUST, 0,
     "ids 0 and keys or signatures of the wrong length are INVALID_ARGUMENT and store "
     "nothing",
     upload_invalid_arguments},
    {"prekeys/upload-limits", "WIRE-81 WIRE-60", VCL_MUST, 0,
     "MAX_ONE_TIME_PREKEYS_STORED stored, one more LIMIT_EXCEEDED; 101 in one upload "
     "TOO_LARGE",
     upload_limits},
    {"prekeys/fetch-bundles-shape", "WIRE-310", VCL_MUST, 0,
     "one bundle per requested device in increasing id, the caller's own device left out",
     fetch_bundles_shape},
    {"prekeys/fetch-bundles-errors", "WIRE-81 WIRE-310", VCL_MUST, 0,
     "FetchBundles checks in order; a refused fetch consumes nothing",
     fetch_bundles_errors},
    {"prekeys/fetch-last-resort", "WIRE-310", VCL_MUST, 0,
     "once the one-time prekeys are gone, the last-resort prekey, again and again",
     fetch_last_resort},
    {"prekeys/fetch-no-prekeys", "WIRE-81 WIRE-310", VCL_MUST, 0,
     "a device without a signed prekey or without any other fails the fetch NO_PREKEYS",
     fetch_no_prekeys},
    {"prekeys/fetch-exactly-once-concurrent", "WIRE-310", VCL_MUST, 0,
     "8 clients x 6 pipelined fetches: each one-time prekey handed out once",
     fetch_exactly_once_concurrent},
    {"prekeys/fetch-durable", "WIRE-310", VCL_MUST, VCL_NEEDS_CRASH,
     "a one-time prekey handed out is not handed out again after a crash", fetch_durable},
    {"prekeys/pending-device-no-bundle", "AUTH-74 AUTH-4", VCL_MUST, 0,
     "FetchBundles does not serve a pending device", pending_device_no_bundle},
    {"prekeys/removed-device-no-bundle", "AUTH-86 WIRE-210 AUTH-4", VCL_MUST, 0,
     "FetchBundles does not serve a removed device's prekeys", removed_device_no_bundle},
    {"prekeys/low-event-on-auth", "WIRE-600", VCL_MUST, 0,
     "a PrekeysLowEvent after Register, Login and Resume below the watermark, none at it",
     low_event_on_auth},
    {"prekeys/low-event-on-fetch", "WIRE-311", VCL_MUST, 0,
     "a FetchBundles taking the stock below the watermark pushes a PrekeysLowEvent",
     low_event_on_fetch});
