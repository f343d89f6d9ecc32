/* The primitive wrappers of ventra/crypto.h against the RFCs' own test
 * vectors (RFC 7748, 8032, 5869, 4231), and their refusals: low-order
 * X25519 keys, forged AES-GCM input, impossible HKDF lengths
 * (spec/crypto.md section 2). Wycheproof's cases are in test_wycheproof.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/crypto.h"
#include "ventra/identity.h"

static void unhex(uint8_t *out, size_t len, const char *hex)
{
    assert_int_equal(strlen(hex), 2 * len);
    for (size_t i = 0; i < len; i++) {
        unsigned hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10);
        unsigned lo =
            (unsigned)(hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
}

static void assert_hex(const uint8_t *got, size_t len, const char *hex)
{
    uint8_t want[128];
    assert_true(len <= sizeof(want));
    unhex(want, len, hex);
    assert_memory_equal(got, want, len);
}

/* RFC 7748 section 6.1. */
static void test_x25519_rfc7748(void **state)
{
    (void)state;
    uint8_t a[32], b[32], pub[32], shared[32];
    unhex(a, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    unhex(b, 32, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    assert_int_equal(vt_x25519_public(pub, a), VT_OK);
    assert_hex(pub, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    assert_int_equal(vt_x25519_public(pub, b), VT_OK);
    assert_hex(pub, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    assert_int_equal(vt_x25519(shared, a, pub), VT_OK);
    assert_hex(shared, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}

/* A low-order peer key makes the result all zero: refused, output wiped. */
static void test_x25519_low_order(void **state)
{
    (void)state;
    uint8_t priv[32], zero[32] = {0}, one[32] = {1}, out[32];
    unhex(priv, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(vt_x25519(out, priv, zero), VT_ERR_CRYPTO);
    assert_memory_equal(out, zero, 32);
    assert_int_equal(vt_x25519(out, priv, one), VT_ERR_CRYPTO);
}

/* RFC 8032 section 7.1, tests 1 and 2. */
static void test_ed25519_rfc8032(void **state)
{
    (void)state;
    static const struct {
        const char *seed, *pub, *msg, *sig;
    } cases[] = {
        {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
         "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
        {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
         "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t seed[32], pub[32], sk[64], msg[1], sig[64];
        size_t mlen = strlen(cases[i].msg) / 2;
        unhex(seed, 32, cases[i].seed);
        unhex(msg, mlen, cases[i].msg);
        assert_int_equal(vt_ed25519_keypair_from_seed(pub, sk, seed), VT_OK);
        assert_hex(pub, 32, cases[i].pub);
        assert_int_equal(vt_ed25519_sign(sig, msg, mlen, sk), VT_OK);
        assert_hex(sig, 64, cases[i].sig);
        assert_int_equal(vt_ed25519_verify(sig, msg, mlen, pub), VT_OK);
        sig[0] ^= 1;
        assert_int_equal(vt_ed25519_verify(sig, msg, mlen, pub), VT_ERR_BAD_SIGNATURE);
        vt_wipe(sk, sizeof(sk));
    }
}

/* RFC 5869 appendix A, test cases 1 and 3. */
static void test_hkdf_rfc5869(void **state)
{
    (void)state;
    uint8_t ikm[22], salt[13], info[10], okm[42], prk[32];
    memset(ikm, 0x0b, sizeof(ikm));
    unhex(salt, 13, "000102030405060708090a0b0c");
    unhex(info, 10, "f0f1f2f3f4f5f6f7f8f9");
    assert_int_equal(vt_hkdf_sha256_extract(prk, salt, 13, ikm, 22), VT_OK);
    assert_hex(prk, 32, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    assert_int_equal(vt_hkdf_sha256(okm, 42, salt, 13, ikm, 22, info, 10), VT_OK);
    assert_hex(okm, 42,
               "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b8"
               "87185865");
    /* Case 3: no salt (32 zero bytes) and no info. */
    assert_int_equal(vt_hkdf_sha256(okm, 42, NULL, 0, ikm, 22, NULL, 0), VT_OK);
    assert_hex(okm, 42,
               "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4"
               "b61a96c8");
    /* 255 blocks is HKDF's limit. */
    static uint8_t big[VT_HKDF_SHA256_MAX_OUT + 1];
    assert_int_equal(vt_hkdf_sha256(big, VT_HKDF_SHA256_MAX_OUT, NULL, 0, ikm, 22, NULL, 0),
                     VT_OK);
    assert_int_equal(vt_hkdf_sha256(big, sizeof(big), NULL, 0, ikm, 22, NULL, 0),
                     VT_ERR_INVALID_ARGUMENT);
}

/* RFC 4231 test cases 1 and 2. */
static void test_hmac_rfc4231(void **state)
{
    (void)state;
    uint8_t key[20], out[32];
    memset(key, 0x0b, sizeof(key));
    assert_int_equal(vt_hmac_sha256(out, key, 20, (const uint8_t *)"Hi There", 8), VT_OK);
    assert_hex(out, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    static const char data[] = "what do ya want for nothing?";
    assert_int_equal(
        vt_hmac_sha256(out, (const uint8_t *)"Jefe", 4, (const uint8_t *)data, strlen(data)),
        VT_OK);
    assert_hex(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* Any change to ciphertext, tag or associated data is refused, and the
 * plaintext buffer holds nothing of the forgery. */
static void test_aes_gcm_forgeries(void **state)
{
    (void)state;
    uint8_t key[32], nonce[12], pt[64], ct[64 + 16], out[64];
    static const uint8_t ad[] = "associated";
    memset(key, 7, sizeof(key));
    memset(nonce, 9, sizeof(nonce));
    memset(pt, 0x5a, sizeof(pt));
    assert_int_equal(vt_aes256gcm_encrypt(ct, pt, sizeof(pt), ad, sizeof(ad), key, nonce),
                     VT_OK);
    assert_int_equal(vt_aes256gcm_decrypt(out, ct, sizeof(ct), ad, sizeof(ad), key, nonce),
                     VT_OK);
    assert_memory_equal(out, pt, sizeof(pt));

    static const uint8_t zero[64];
    for (size_t i = 0; i < sizeof(ct); i += 13) {
        ct[i] ^= 0x80;
        assert_int_equal(vt_aes256gcm_decrypt(out, ct, sizeof(ct), ad, sizeof(ad), key, nonce),
                         VT_ERR_DECRYPT);
        assert_memory_equal(out, zero, sizeof(out));
        ct[i] ^= 0x80;
    }
    assert_int_equal(vt_aes256gcm_decrypt(out, ct, sizeof(ct), ad, sizeof(ad) - 1, key, nonce),
                     VT_ERR_DECRYPT);
    assert_int_equal(vt_aes256gcm_decrypt(out, ct, 15, ad, sizeof(ad), key, nonce),
                     VT_ERR_INVALID_ARGUMENT);
}

/* One identity key, two curves: the X25519 keys derived from two identities
 * agree on their shared secret from both sides (spec/crypto.md section 3). */
static void test_identity_dh(void **state)
{
    (void)state;
    uint8_t seed_a[32], seed_b[32], ab[32], ba[32];
    memset(seed_a, 1, sizeof(seed_a));
    memset(seed_b, 2, sizeof(seed_b));
    vt_identity *a = NULL, *b = NULL;
    assert_int_equal(vt_identity_from_seed(&a, seed_a), VT_OK);
    assert_int_equal(vt_identity_from_seed(&b, seed_b), VT_OK);
    assert_int_equal(vt_identity_dh(a, ab, vt_identity_x25519_public(b)), VT_OK);
    assert_int_equal(vt_identity_dh(b, ba, vt_identity_x25519_public(a)), VT_OK);
    assert_memory_equal(ab, ba, 32);

    uint8_t x[32];
    assert_int_equal(vt_ed25519_pk_to_x25519(x, vt_identity_public(a)), VT_OK);
    assert_memory_equal(x, vt_identity_x25519_public(a), 32);
    static const uint8_t small_order[32] = {1}; /* the neutral element */
    assert_false(vt_ed25519_public_valid(small_order));
    assert_int_equal(vt_ed25519_pk_to_x25519(x, small_order), VT_ERR_CRYPTO);
    vt_identity_free(a);
    vt_identity_free(b);
    vt_identity_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_x25519_rfc7748),   cmocka_unit_test(test_x25519_low_order),
        cmocka_unit_test(test_ed25519_rfc8032),  cmocka_unit_test(test_hkdf_rfc5869),
        cmocka_unit_test(test_hmac_rfc4231),     cmocka_unit_test(test_aes_gcm_forgeries),
        cmocka_unit_test(test_identity_dh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
