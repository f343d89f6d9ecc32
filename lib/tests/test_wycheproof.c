/* Our primitive wrappers (ventra/crypto.h) against Project Wycheproof's
 * vectors in ../shared/vectors/wycheproof/: every valid, acceptable and
 * invalid case of x25519, ed25519, AES-256-GCM (96-bit IV, 128-bit tag),
 * HKDF-SHA256 and HMAC-SHA256 (spec/crypto.md section 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ventra/crypto.h"

typedef struct counts {
    unsigned valid, acceptable, invalid;
} counts;

/* Decodes the hex string of |t|'s member |name| into a fresh buffer. */
static uint8_t *hex_member(json_t *t, const char *name, size_t *len)
{
    const char *hex = json_string_value(json_object_get(t, name));
    assert_non_null(hex);
    size_t n = strlen(hex);
    assert_int_equal(n % 2, 0);
    uint8_t *out = malloc(n / 2 + 1); /* +1: never malloc(0) */
    assert_non_null(out);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned byte;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
        out[i] = (uint8_t)byte;
    }
    *len = n / 2;
    return out;
}

static bool has_flag(json_t *t, const char *flag)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(t, "flags"), i, f)
    {
        if (strcmp(json_string_value(f), flag) == 0)
            return true;
    }
    return false;
}

/* The vectors live beside the repository (CI clones it with ../shared next
 * to it); without them the test says so and skips. */
static json_t *load(const char *file)
{
    const char *src = getenv("VT_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/../shared/vectors/wycheproof/%s", src ? src : ".",
             file);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        printf("wycheproof vectors not found at %s: skipped\n", path);
        return NULL;
    }
    fclose(f);
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);
    if (root == NULL)
        fail_msg("%s:%d: %s", path, error.line, error.text);
    return root;
}

static void count(counts *c, const char *result)
{
    if (strcmp(result, "valid") == 0)
        c->valid++;
    else if (strcmp(result, "acceptable") == 0)
        c->acceptable++;
    else
        c->invalid++;
}

#define FOR_EACH_TEST(root, group, test)                                                 \
    for (size_t gi_ = 0; gi_ < json_array_size(json_object_get(root, "testGroups"));     \
         gi_++)                                                                          \
        for (json_t *group = json_array_get(json_object_get(root, "testGroups"), gi_);   \
             group != NULL; group = NULL)                                                \
            for (size_t ti_ = 0; ti_ < json_array_size(json_object_get(group, "tests")); \
                 ti_++)                                                                  \
                for (json_t *test = json_array_get(json_object_get(group, "tests"), ti_);\
                     test != NULL; test = NULL)

static int tc_id(json_t *t)
{
    return (int)json_integer_value(json_object_get(t, "tcId"));
}

static const char *result_of(json_t *t)
{
    return json_string_value(json_object_get(t, "result"));
}

/* Valid and acceptable cases give the shared secret, except that an
 * all-zero result (low-order public keys) is refused with VT_ERR_CRYPTO,
 * as spec/crypto.md requires of every X25519 result. */
static void test_x25519(void **state)
{
    (void)state;
    json_t *root = load("x25519_test.json");
    if (root == NULL)
        skip();
    counts c = {0};
    FOR_EACH_TEST(root, group, test)
    {
        size_t npub, npriv, nshared;
        uint8_t *pub = hex_member(test, "public", &npub);
        uint8_t *priv = hex_member(test, "private", &npriv);
        uint8_t *shared = hex_member(test, "shared", &nshared);
        uint8_t out[32];
        const char *result = result_of(test);
        count(&c, result);
        assert_int_equal(npub, 32);
        assert_int_equal(npriv, 32);
        vt_err err = vt_x25519(out, priv, pub);
        if (has_flag(test, "ZeroSharedSecret")) {
            if (err != VT_ERR_CRYPTO)
                fail_msg("x25519 tcId %d: all-zero secret not refused", tc_id(test));
        } else if (strcmp(result, "invalid") == 0) {
            if (err == VT_OK && memcmp(out, shared, 32) == 0)
                fail_msg("x25519 tcId %d: invalid case accepted", tc_id(test));
        } else if (err != VT_OK || memcmp(out, shared, 32) != 0) {
            fail_msg("x25519 tcId %d: wrong shared secret", tc_id(test));
        }
        free(pub);
        free(priv);
        free(shared);
    }
    printf("x25519: %u valid, %u acceptable, %u invalid checked\n", c.valid, c.acceptable,
           c.invalid);
    assert_true(c.valid > 0);
    json_decref(root);
}

/* Strict verification: every valid signature verifies, every invalid one
 * (malleable S, small-order keys, wrong lengths, ...) is refused. */
static void test_ed25519(void **state)
{
    (void)state;
    json_t *root = load("ed25519_test.json");
    if (root == NULL)
        skip();
    counts c = {0};
    FOR_EACH_TEST(root, group, test)
    {
        size_t npk, nmsg, nsig;
        uint8_t *pk = hex_member(json_object_get(group, "publicKey"), "pk", &npk);
        uint8_t *msg = hex_member(test, "msg", &nmsg);
        uint8_t *sig = hex_member(test, "sig", &nsig);
        const char *result = result_of(test);
        count(&c, result);
        bool ok = npk == 32 && nsig == 64 && vt_ed25519_verify(sig, msg, nmsg, pk) == VT_OK;
        if (ok != (strcmp(result, "valid") == 0))
            fail_msg("ed25519 tcId %d: expected %s", tc_id(test), result);
        free(pk);
        free(msg);
        free(sig);
    }
    printf("ed25519: %u valid, %u acceptable, %u invalid checked\n", c.valid,
           c.acceptable, c.invalid);
    assert_true(c.valid > 0 && c.invalid > 0);
    json_decref(root);
}

static void test_aes_gcm(void **state)
{
    (void)state;
    json_t *root = load("aes_gcm_test.json");
    if (root == NULL)
        skip();
    counts c = {0};
    FOR_EACH_TEST(root, group, test)
    {
        /* Ventra uses AES-256-GCM with 96-bit nonces and full tags only. */
        if (json_integer_value(json_object_get(group, "keySize")) != 256 ||
            json_integer_value(json_object_get(group, "ivSize")) != 96 ||
            json_integer_value(json_object_get(group, "tagSize")) != 128)
            continue;
        size_t nkey, niv, naad, nmsg, nct, ntag;
        uint8_t *key = hex_member(test, "key", &nkey);
        uint8_t *iv = hex_member(test, "iv", &niv);
        uint8_t *aad = hex_member(test, "aad", &naad);
        uint8_t *msg = hex_member(test, "msg", &nmsg);
        uint8_t *ct = hex_member(test, "ct", &nct);
        uint8_t *tag = hex_member(test, "tag", &ntag);
        const char *result = result_of(test);
        bool valid = strcmp(result, "invalid") != 0;
        count(&c, result);
        assert_int_equal(nct, nmsg);
        assert_int_equal(ntag, 16);

        uint8_t *sealed = malloc(nct + 16);
        uint8_t *opened = malloc(nct + 16); /* also holds a re-sealed ct || tag */
        assert_non_null(sealed);
        assert_non_null(opened);
        memcpy(sealed, ct, nct);
        memcpy(sealed + nct, tag, 16);
        vt_err err = vt_aes256gcm_decrypt(opened, sealed, nct + 16, aad, naad, key, iv);
        if (valid && (err != VT_OK || memcmp(opened, msg, nmsg) != 0))
            fail_msg("aes-gcm tcId %d: valid case not opened", tc_id(test));
        if (!valid && err != VT_ERR_DECRYPT)
            fail_msg("aes-gcm tcId %d: invalid case not refused", tc_id(test));
        if (valid) {
            /* Sealing the plaintext gives exactly ct || tag. */
            assert_int_equal(vt_aes256gcm_encrypt(opened, msg, nmsg, aad, naad, key, iv),
                             VT_OK);
            if (memcmp(opened, ct, nct) != 0 || memcmp(opened + nct, tag, 16) != 0)
                fail_msg("aes-gcm tcId %d: wrong ciphertext", tc_id(test));
        }
        free(sealed);
        free(opened);
        free(key);
        free(iv);
        free(aad);
        free(msg);
        free(ct);
        free(tag);
    }
    printf("aes-gcm (256-bit key, 96-bit iv): %u valid, %u acceptable, %u invalid checked\n",
           c.valid, c.acceptable, c.invalid);
    assert_true(c.valid > 0 && c.invalid > 0);
    json_decref(root);
}

static void test_hkdf(void **state)
{
    (void)state;
    json_t *root = load("hkdf_sha256_test.json");
    if (root == NULL)
        skip();
    counts c = {0};
    FOR_EACH_TEST(root, group, test)
    {
        size_t nikm, nsalt, ninfo, nokm;
        uint8_t *ikm = hex_member(test, "ikm", &nikm);
        uint8_t *salt = hex_member(test, "salt", &nsalt);
        uint8_t *info = hex_member(test, "info", &ninfo);
        uint8_t *okm = hex_member(test, "okm", &nokm);
        size_t size = (size_t)json_integer_value(json_object_get(test, "size"));
        const char *result = result_of(test);
        count(&c, result);
        uint8_t *out = malloc(size + 1);
        assert_non_null(out);
        /* An empty salt is HKDF's default salt, which vt_hkdf_sha256 takes as
         * NULL/0 (RFC 5869 section 2.2). */
        vt_err err = vt_hkdf_sha256(out, size, nsalt ? salt : NULL, nsalt, ikm, nikm, info,
                                    ninfo);
        if (strcmp(result, "invalid") == 0) {
            if (err == VT_OK)
                fail_msg("hkdf tcId %d: invalid size %zu accepted", tc_id(test), size);
        } else if (err != VT_OK || nokm != size || memcmp(out, okm, size) != 0) {
            fail_msg("hkdf tcId %d: wrong output", tc_id(test));
        }
        free(out);
        free(ikm);
        free(salt);
        free(info);
        free(okm);
    }
    printf("hkdf-sha256: %u valid, %u acceptable, %u invalid checked\n", c.valid,
           c.acceptable, c.invalid);
    assert_true(c.valid > 0 && c.invalid > 0);
    json_decref(root);
}

static void test_hmac(void **state)
{
    (void)state;
    json_t *root = load("hmac_sha256_test.json");
    if (root == NULL)
        skip();
    counts c = {0};
    FOR_EACH_TEST(root, group, test)
    {
        size_t nkey, nmsg, ntag;
        uint8_t *key = hex_member(test, "key", &nkey);
        uint8_t *msg = hex_member(test, "msg", &nmsg);
        uint8_t *tag = hex_member(test, "tag", &ntag);
        const char *result = result_of(test);
        count(&c, result);
        /* Truncated-tag groups compare the leading tagSize bits. */
        size_t tag_len = (size_t)json_integer_value(json_object_get(group, "tagSize")) / 8;
        uint8_t out[32];
        assert_int_equal(vt_hmac_sha256(out, key, nkey, msg, nmsg), VT_OK);
        bool match = ntag == tag_len && tag_len <= 32 && vt_equal(out, tag, tag_len);
        if (match != (strcmp(result, "valid") == 0))
            fail_msg("hmac tcId %d: expected %s", tc_id(test), result);
        free(key);
        free(msg);
        free(tag);
    }
    printf("hmac-sha256: %u valid, %u acceptable, %u invalid checked\n", c.valid,
           c.acceptable, c.invalid);
    assert_true(c.valid > 0 && c.invalid > 0);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_x25519), cmocka_unit_test(test_ed25519),
        cmocka_unit_test(test_aes_gcm), cmocka_unit_test(test_hkdf),
        cmocka_unit_test(test_hmac),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
