/* libventra crypto primitives: thin, checked wrappers over libsodium (X25519,
 * Ed25519, HMAC-SHA256) and OpenSSL EVP (AES-256-GCM), plus HKDF-SHA256 built
 * on HMAC. Implements spec/crypto.md section 2 (CRYPTO-1 to CRYPTO-11), 3. */
#include "ventra/crypto.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

/* sodium_init returns 0 the first time, 1 when already done, -1 on failure;
 * it is safe to call repeatedly and from several threads. */
vt_err vt_crypto_init(void)
{
    return sodium_init() < 0 ? VT_ERR_CRYPTO : VT_OK;
}

void vt_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        sodium_memzero(p, n);
}

bool vt_equal(const void *a, const void *b, size_t n)
{
    if (n == 0)
        return true;
    if (a == NULL || b == NULL)
        return false;
    return sodium_memcmp(a, b, n) == 0;
}

vt_err vt_random_bytes(uint8_t *buf, size_t len)
{
    if (len == 0)
        return VT_OK;
    if (buf == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (vt_crypto_init() != VT_OK)
        return VT_ERR_CRYPTO;
    randombytes_buf(buf, len); /* spec/crypto.md CRYPTO-10 */
    return VT_OK;
}

/* ---- X25519 ---- */

vt_err vt_x25519_public(uint8_t pub[32], const uint8_t priv[32])
{
    if (pub == NULL || priv == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (vt_crypto_init() != VT_OK || crypto_scalarmult_base(pub, priv) != 0) {
        sodium_memzero(pub, 32);
        return VT_ERR_CRYPTO;
    }
    return VT_OK;
}

vt_err vt_x25519_keypair(uint8_t pub[32], uint8_t priv[32])
{
    vt_err err;

    if (pub == NULL || priv == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* spec/crypto.md CRYPTO-3: private key drawn, public key X25519(priv, 9). */
    err = vt_random_bytes(priv, 32);
    if (err == VT_OK)
        err = vt_x25519_public(pub, priv);
    if (err != VT_OK) {
        sodium_memzero(priv, 32);
        sodium_memzero(pub, 32);
    }
    return err;
}

vt_err vt_x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t peer_pub[32])
{
    if (out == NULL || priv == NULL || peer_pub == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (vt_crypto_init() != VT_OK)
        goto fail;
    /* spec/crypto.md CRYPTO-1, CRYPTO-2: libsodium 1.0.18 refuses the
     * small-order inputs and an all-zero result with -1; the explicit zero
     * test keeps CRYPTO-2 true whatever the library version does. */
    if (crypto_scalarmult(out, priv, peer_pub) != 0)
        goto fail;
    if (sodium_is_zero(out, 32))
        goto fail;
    return VT_OK;
fail:
    sodium_memzero(out, 32);
    return VT_ERR_CRYPTO;
}

/* ---- Ed25519 ---- */

vt_err vt_ed25519_keypair_from_seed(uint8_t pub[32], uint8_t sk[64], const uint8_t seed[32])
{
    if (pub == NULL || sk == NULL || seed == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (vt_crypto_init() != VT_OK || crypto_sign_seed_keypair(pub, sk, seed) != 0) {
        sodium_memzero(pub, 32);
        sodium_memzero(sk, 64);
        return VT_ERR_CRYPTO;
    }
    return VT_OK;
}

vt_err vt_ed25519_sign(uint8_t sig[64], const uint8_t *msg, size_t len, const uint8_t sk[64])
{
    static const uint8_t empty[1] = {0};

    if (sig == NULL || sk == NULL || (msg == NULL && len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    if (msg == NULL)
        msg = empty;
    /* spec/crypto.md CRYPTO-4: pure Ed25519, no pre-hash, no context. */
    if (vt_crypto_init() != VT_OK ||
        crypto_sign_detached(sig, NULL, msg, (unsigned long long)len, sk) != 0) {
        sodium_memzero(sig, 64);
        return VT_ERR_CRYPTO;
    }
    return VT_OK;
}

vt_err vt_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, size_t len,
                         const uint8_t pub[32])
{
    static const uint8_t empty[1] = {0};

    if (sig == NULL || pub == NULL || (msg == NULL && len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    if (msg == NULL)
        msg = empty;
    if (vt_crypto_init() != VT_OK)
        return VT_ERR_CRYPTO;
    /* spec/crypto.md CRYPTO-5, spec/auth.md AUTH-14: libsodium 1.0.18's
     * verifier (built without ED25519_COMPAT) is exactly the strict check:
     * canonical S, canonical A not of small order, R not of small order,
     * cofactorless equation compared on encodings. */
    if (crypto_sign_verify_detached(sig, msg, (unsigned long long)len, pub) != 0)
        return VT_ERR_BAD_SIGNATURE;
    return VT_OK;
}

bool vt_ed25519_public_valid(const uint8_t pub[32])
{
    if (pub == NULL || vt_crypto_init() != VT_OK)
        return false;
    /* spec/crypto.md CRYPTO-13 */
    return crypto_core_ed25519_is_valid_point(pub) == 1;
}

vt_err vt_ed25519_pk_to_x25519(uint8_t x_pub[32], const uint8_t ed_pub[32])
{
    if (x_pub == NULL || ed_pub == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* spec/crypto.md CRYPTO-13, CRYPTO-14: the map is applied only to a valid
     * identity key, so its result does not depend on the library. */
    if (!vt_ed25519_public_valid(ed_pub) ||
        crypto_sign_ed25519_pk_to_curve25519(x_pub, ed_pub) != 0) {
        sodium_memzero(x_pub, 32);
        return VT_ERR_CRYPTO;
    }
    return VT_OK;
}

vt_err vt_ed25519_sk_to_x25519(uint8_t x_priv[32], const uint8_t ed_sk[64])
{
    if (x_priv == NULL || ed_sk == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    /* spec/crypto.md CRYPTO-15: SHA512(seed)[0..32], clamped. */
    if (vt_crypto_init() != VT_OK || crypto_sign_ed25519_sk_to_curve25519(x_priv, ed_sk) != 0) {
        sodium_memzero(x_priv, 32);
        return VT_ERR_CRYPTO;
    }
    return VT_OK;
}

/* ---- HMAC-SHA256 and HKDF-SHA256 ---- */

vt_err vt_hmac_sha256(uint8_t out[32], const uint8_t *key, size_t key_len, const uint8_t *msg,
                      size_t msg_len)
{
    crypto_auth_hmacsha256_state st;
    vt_err err = VT_ERR_CRYPTO;

    if (out == NULL || (key == NULL && key_len > 0) || (msg == NULL && msg_len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    if (vt_crypto_init() != VT_OK)
        goto out;
    /* spec/crypto.md CRYPTO-7. libsodium's init hashes keys longer than the
     * 64-byte block, as RFC 2104 requires; a NULL key of length 0 is the empty
     * key. */
    if (crypto_auth_hmacsha256_init(&st, key, key_len) != 0)
        goto out;
    if (msg_len > 0 && crypto_auth_hmacsha256_update(&st, msg, (unsigned long long)msg_len) != 0)
        goto out;
    if (crypto_auth_hmacsha256_final(&st, out) != 0)
        goto out;
    err = VT_OK;
out:
    sodium_memzero(&st, sizeof st);
    if (err != VT_OK)
        sodium_memzero(out, 32);
    return err;
}

vt_err vt_hkdf_sha256_extract(uint8_t prk[32], const uint8_t *salt, size_t salt_len,
                              const uint8_t *ikm, size_t ikm_len)
{
    static const uint8_t zero_salt[32] = {0};

    if (prk == NULL || (salt == NULL && salt_len > 0) || (ikm == NULL && ikm_len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    /* RFC 5869 2.2: an absent salt is HashLen zero bytes (for HMAC the same
     * key as the empty one, since keys are zero-padded to the block). */
    if (salt == NULL) {
        salt = zero_salt;
        salt_len = sizeof zero_salt;
    }
    return vt_hmac_sha256(prk, salt, salt_len, ikm, ikm_len);
}

vt_err vt_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t prk[32],
                             const uint8_t *info, size_t info_len)
{
    crypto_auth_hmacsha256_state st;
    uint8_t t[32];
    size_t done = 0;
    uint8_t counter = 0;
    vt_err err = VT_ERR_CRYPTO;

    if (out == NULL || prk == NULL || (info == NULL && info_len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    /* RFC 5869 2.3: L <= 255 * HashLen. */
    if (out_len == 0 || out_len > VT_HKDF_SHA256_MAX_OUT)
        return VT_ERR_INVALID_ARGUMENT;
    if (vt_crypto_init() != VT_OK)
        goto out;
    /* T(i) = HMAC(PRK, T(i-1) || info || i), T(0) empty. */
    while (done < out_len) {
        size_t n;

        counter++;
        if (crypto_auth_hmacsha256_init(&st, prk, 32) != 0)
            goto out;
        if (counter > 1 && crypto_auth_hmacsha256_update(&st, t, sizeof t) != 0)
            goto out;
        if (info_len > 0 &&
            crypto_auth_hmacsha256_update(&st, info, (unsigned long long)info_len) != 0)
            goto out;
        if (crypto_auth_hmacsha256_update(&st, &counter, 1) != 0)
            goto out;
        if (crypto_auth_hmacsha256_final(&st, t) != 0)
            goto out;
        n = out_len - done < sizeof t ? out_len - done : sizeof t;
        memcpy(out + done, t, n);
        done += n;
    }
    err = VT_OK;
out:
    sodium_memzero(&st, sizeof st);
    sodium_memzero(t, sizeof t);
    if (err != VT_OK)
        sodium_memzero(out, out_len);
    return err;
}

vt_err vt_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                      const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
    uint8_t prk[32];
    vt_err err;

    /* spec/crypto.md CRYPTO-6. Arguments are checked before any work so an
     * invalid length fails the same way in both halves. */
    if (out == NULL || (salt == NULL && salt_len > 0) || (ikm == NULL && ikm_len > 0) ||
        (info == NULL && info_len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    if (out_len == 0 || out_len > VT_HKDF_SHA256_MAX_OUT)
        return VT_ERR_INVALID_ARGUMENT;
    err = vt_hkdf_sha256_extract(prk, salt, salt_len, ikm, ikm_len);
    if (err != VT_OK)
        goto out;
    err = vt_hkdf_sha256_expand(out, out_len, prk, info, info_len);
out:
    sodium_memzero(prk, sizeof prk);
    if (err != VT_OK)
        sodium_memzero(out, out_len);
    return err;
}

/* ---- AES-256-GCM (OpenSSL EVP) ---- */

/* spec/crypto.md CRYPTO-8: AES-256-GCM, 96-bit nonce, 128-bit tag appended. */
vt_err vt_aes256gcm_encrypt(uint8_t *ct, const uint8_t *pt, size_t len, const uint8_t *ad,
                            size_t ad_len, const uint8_t key[32], const uint8_t nonce[12])
{
    EVP_CIPHER_CTX *ctx = NULL;
    int outl = 0;
    vt_err err = VT_ERR_CRYPTO;

    if (ct == NULL || key == NULL || nonce == NULL || (pt == NULL && len > 0) ||
        (ad == NULL && ad_len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    /* EVP takes int lengths; the tag is appended after len bytes. */
    if (len > (size_t)INT_MAX - VT_AEAD_TAG_LEN || ad_len > (size_t)INT_MAX)
        return VT_ERR_INVALID_ARGUMENT;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        err = VT_ERR_NO_MEMORY;
        goto out;
    }
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, VT_AEAD_NONCE_LEN, NULL) != 1)
        goto out;
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
        goto out;
    if (ad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &outl, ad, (int)ad_len) != 1)
        goto out;
    if (len > 0) {
        if (EVP_EncryptUpdate(ctx, ct, &outl, pt, (int)len) != 1 || (size_t)outl != len)
            goto out;
    }
    /* GCM is a stream mode: Final writes no further ciphertext. */
    if (EVP_EncryptFinal_ex(ctx, ct + len, &outl) != 1 || outl != 0)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, VT_AEAD_TAG_LEN, ct + len) != 1)
        goto out;
    err = VT_OK;
out:
    EVP_CIPHER_CTX_free(ctx); /* frees and cleanses the key schedule; NULL ok */
    if (err != VT_OK)
        sodium_memzero(ct, len + VT_AEAD_TAG_LEN);
    return err;
}

vt_err vt_aes256gcm_decrypt(uint8_t *pt, const uint8_t *ct, size_t ct_len, const uint8_t *ad,
                            size_t ad_len, const uint8_t key[32], const uint8_t nonce[12])
{
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t tag[VT_AEAD_TAG_LEN];
    size_t len;
    int outl = 0;
    vt_err err = VT_ERR_CRYPTO;

    if (pt == NULL || ct == NULL || key == NULL || nonce == NULL || (ad == NULL && ad_len > 0))
        return VT_ERR_INVALID_ARGUMENT;
    if (ct_len < VT_AEAD_TAG_LEN || ct_len > (size_t)INT_MAX || ad_len > (size_t)INT_MAX)
        return VT_ERR_INVALID_ARGUMENT;
    len = ct_len - VT_AEAD_TAG_LEN;
    /* Copy the tag first: with pt == ct the plaintext must not be able to
     * overwrite it (it cannot today, but the copy costs nothing). */
    memcpy(tag, ct + len, sizeof tag);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        err = VT_ERR_NO_MEMORY;
        goto out;
    }
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, VT_AEAD_NONCE_LEN, NULL) != 1)
        goto out;
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
        goto out;
    if (ad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &outl, ad, (int)ad_len) != 1)
        goto out;
    if (len > 0) {
        if (EVP_DecryptUpdate(ctx, pt, &outl, ct, (int)len) != 1 || (size_t)outl != len)
            goto out;
    }
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, VT_AEAD_TAG_LEN, tag) != 1)
        goto out;
    /* OpenSSL compares the tag in constant time here; a mismatch is the only
     * way Final fails once everything above succeeded. */
    if (EVP_DecryptFinal_ex(ctx, pt + len, &outl) != 1) {
        err = VT_ERR_DECRYPT;
        goto out;
    }
    err = VT_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    sodium_memzero(tag, sizeof tag);
    /* Never hand out unauthenticated plaintext (spec/crypto.md CRYPTO-11). */
    if (err != VT_OK)
        sodium_memzero(pt, len);
    return err;
}
