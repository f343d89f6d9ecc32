/* libventra crypto primitives: X25519, Ed25519 (strict), the Ed25519 to
 * X25519 map, HMAC-SHA256, HKDF-SHA256, AES-256-GCM and the random source.
 * Implements spec/crypto.md section 2 (CRYPTO-1 to CRYPTO-11) and 3. */
#ifndef VENTRA_CRYPTO_H
#define VENTRA_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/err.h"
#include "vt_constants.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every function of libventra's crypto that returns a vt_err is marked so
 * that the compiler refuses to let a caller ignore a failed check. */
#ifndef VT_MUST_CHECK
#define VT_MUST_CHECK __attribute__((warn_unused_result))
#endif

/* An Ed25519 secret key in libsodium's form: seed (32) || public key (32). */
#define VT_ED25519_SECRET_LEN 64
/* Largest output of HKDF-SHA256 (RFC 5869: 255 * HashLen). */
#define VT_HKDF_SHA256_MAX_OUT (255u * 32u)

/* Initializes libsodium (sodium_init). Idempotent and safe to call from
 * several threads (sodium_init is). Every function below that needs
 * libsodium calls it itself, so calling it first is optional; a caller may
 * still call it at start-up to learn early that the library is unusable.
 * Returns VT_OK, or VT_ERR_CRYPTO when libsodium cannot be initialized. */
VT_MUST_CHECK vt_err vt_crypto_init(void);

/* Overwrites |n| bytes at |p| with zeros in a way the compiler does not
 * remove (sodium_memzero). |p| may be NULL when |n| is 0. */
void vt_wipe(void *p, size_t n);

/* True when the |n| bytes at |a| and |b| are equal, in time that depends
 * only on |n| (sodium_memcmp). Use it for tags, keys and MACs. */
bool vt_equal(const void *a, const void *b, size_t n);

/* Fills |buf| with |len| bytes from the operating system's CSPRNG
 * (randombytes_buf, CRYPTO-10). |buf| may be NULL only when |len| is 0.
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL buf with len > 0), VT_ERR_CRYPTO
 * (libsodium could not be initialized). */
VT_MUST_CHECK vt_err vt_random_bytes(uint8_t *buf, size_t len);

/* ---- X25519 (RFC 7748; CRYPTO-1, CRYPTO-2, CRYPTO-3) ---- */

/* Computes the public key X25519(priv, 9) into |pub|. |priv| may be clamped
 * or not. Errors: VT_ERR_INVALID_ARGUMENT (NULL), VT_ERR_CRYPTO (libsodium
 * failure; |pub| is zeroed then). */
VT_MUST_CHECK vt_err vt_x25519_public(uint8_t pub[32], const uint8_t priv[32]);

/* GENERATE_DH(): draws a 32-byte private key into |priv| (stored as drawn,
 * unclamped) and writes its public key into |pub|. The caller owns |priv| and
 * must wipe it. Errors: VT_ERR_INVALID_ARGUMENT (NULL), VT_ERR_CRYPTO; on
 * error both outputs are zeroed. */
VT_MUST_CHECK vt_err vt_x25519_keypair(uint8_t pub[32], uint8_t priv[32]);

/* out = X25519(priv, peer_pub). Returns VT_ERR_CRYPTO when the result is 32
 * zero bytes (a low-order peer key, CRYPTO-2) and leaves |out| zeroed then.
 * |out| is a secret: the caller wipes it. Errors: VT_ERR_INVALID_ARGUMENT
 * (NULL), VT_ERR_CRYPTO. */
VT_MUST_CHECK vt_err vt_x25519(uint8_t out[32], const uint8_t priv[32],
                               const uint8_t peer_pub[32]);

/* ---- Ed25519 (RFC 8032; CRYPTO-4, CRYPTO-5) ---- */

/* Derives the key pair of |seed| (crypto_sign_seed_keypair): public key into
 * |pub|, secret key (seed || pub) into |sk|, which the caller must wipe.
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL), VT_ERR_CRYPTO; outputs zeroed on
 * error. */
VT_MUST_CHECK vt_err vt_ed25519_keypair_from_seed(uint8_t pub[32], uint8_t sk[64],
                                                  const uint8_t seed[32]);

/* Writes the pure-Ed25519 signature of |msg| (|len| bytes; NULL allowed when
 * len is 0) by |sk| into |sig|. Errors: VT_ERR_INVALID_ARGUMENT (NULL),
 * VT_ERR_CRYPTO (sig zeroed). */
VT_MUST_CHECK vt_err vt_ed25519_sign(uint8_t sig[64], const uint8_t *msg, size_t len,
                                     const uint8_t sk[64]);

/* Strict verification of |sig| over |msg| under |pub| (CRYPTO-5, AUTH-14:
 * canonical S, canonical A not of small order, R not of small order,
 * cofactorless equation; libsodium 1.0.18 crypto_sign_verify_detached).
 * Returns VT_OK when valid, VT_ERR_BAD_SIGNATURE when not (for any reason,
 * including an unacceptable key), VT_ERR_INVALID_ARGUMENT (NULL),
 * VT_ERR_CRYPTO (libsodium unusable). */
VT_MUST_CHECK vt_err vt_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, size_t len,
                                       const uint8_t pub[32]);

/* True when |pub| is a valid identity key (CRYPTO-13): canonical, on the
 * curve, not of small order, in the prime-order subgroup
 * (crypto_core_ed25519_is_valid_point). False for NULL. */
bool vt_ed25519_public_valid(const uint8_t pub[32]);

/* The birational map of CRYPTO-14: X25519 public key of an Ed25519 public
 * key. Errors: VT_ERR_INVALID_ARGUMENT (NULL), VT_ERR_CRYPTO when |ed_pub|
 * is not a valid identity key (CRYPTO-13) or the map fails; |x_pub| zeroed
 * on error. */
VT_MUST_CHECK vt_err vt_ed25519_pk_to_x25519(uint8_t x_pub[32], const uint8_t ed_pub[32]);

/* The X25519 private key of CRYPTO-15 from an Ed25519 secret key (seed ||
 * pub). |x_priv| is a secret: the caller wipes it. Errors:
 * VT_ERR_INVALID_ARGUMENT (NULL), VT_ERR_CRYPTO (|x_priv| zeroed). */
VT_MUST_CHECK vt_err vt_ed25519_sk_to_x25519(uint8_t x_priv[32], const uint8_t ed_sk[64]);

/* ---- HMAC-SHA256 and HKDF-SHA256 (CRYPTO-6, CRYPTO-7) ---- */

/* out = HMAC-SHA256(key, msg) (RFC 2104). Keys of any length (longer than
 * 64 bytes are hashed first, as RFC 2104 says). |key| / |msg| may be NULL
 * when their length is 0. Errors: VT_ERR_INVALID_ARGUMENT (NULL with a
 * non-zero length, NULL out), VT_ERR_CRYPTO (out zeroed). */
VT_MUST_CHECK vt_err vt_hmac_sha256(uint8_t out[32], const uint8_t *key, size_t key_len,
                                    const uint8_t *msg, size_t msg_len);

/* HKDF-SHA256 (RFC 5869): writes |out_len| bytes of
 * Expand(Extract(salt, ikm), info, out_len) into |out|. A NULL salt with
 * salt_len 0 means 32 zero bytes (RFC 5869 2.2; identical to an empty salt).
 * |out| is a secret. Errors: VT_ERR_INVALID_ARGUMENT (out_len 0 or above
 * VT_HKDF_SHA256_MAX_OUT, NULL pointer with a non-zero length, NULL out),
 * VT_ERR_CRYPTO (out zeroed). */
VT_MUST_CHECK vt_err vt_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *salt,
                                    size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                                    const uint8_t *info, size_t info_len);

/* HKDF-Extract: prk = HMAC-SHA256(salt, ikm), salt NULL/0 = 32 zero bytes.
 * Errors as vt_hkdf_sha256 (prk zeroed on error). */
VT_MUST_CHECK vt_err vt_hkdf_sha256_extract(uint8_t prk[32], const uint8_t *salt,
                                            size_t salt_len, const uint8_t *ikm,
                                            size_t ikm_len);

/* HKDF-Expand of |prk| (32 bytes) with |info| into |out_len| bytes of |out|.
 * Errors: VT_ERR_INVALID_ARGUMENT (out_len 0 or above
 * VT_HKDF_SHA256_MAX_OUT, NULL pointer with a non-zero length),
 * VT_ERR_CRYPTO (out zeroed). */
VT_MUST_CHECK vt_err vt_hkdf_sha256_expand(uint8_t *out, size_t out_len, const uint8_t prk[32],
                                           const uint8_t *info, size_t info_len);

/* ---- AES-256-GCM (CRYPTO-8), OpenSSL EVP ---- */

/* Encrypts |len| bytes of |pt| with |key| and the 12-byte |nonce|,
 * authenticating |ad| (|ad_len| bytes), and writes ciphertext || tag
 * (len + VT_AEAD_TAG_LEN bytes) into |ct|. |pt| and |ct| may be the same
 * buffer (in place) but must not otherwise overlap. |pt| / |ad| may be NULL
 * when their length is 0. Errors: VT_ERR_INVALID_ARGUMENT (NULL, or a length
 * too large for OpenSSL's int), VT_ERR_NO_MEMORY, VT_ERR_CRYPTO (OpenSSL
 * failure; |ct| zeroed). */
VT_MUST_CHECK vt_err vt_aes256gcm_encrypt(uint8_t *ct, const uint8_t *pt, size_t len,
                                          const uint8_t *ad, size_t ad_len,
                                          const uint8_t key[32], const uint8_t nonce[12]);

/* Decrypts |ct| (ct_len bytes: ciphertext || 16-byte tag) into |pt|
 * (ct_len - 16 bytes), checking the tag over the ciphertext and |ad|.
 * |pt| and |ct| may be the same buffer. Errors: VT_ERR_INVALID_ARGUMENT
 * (ct_len < 16, NULL, length too large), VT_ERR_DECRYPT (tag does not verify;
 * |pt| zeroed), VT_ERR_NO_MEMORY, VT_ERR_CRYPTO (OpenSSL failure; |pt|
 * zeroed). */
VT_MUST_CHECK vt_err vt_aes256gcm_decrypt(uint8_t *pt, const uint8_t *ct, size_t ct_len,
                                          const uint8_t *ad, size_t ad_len,
                                          const uint8_t key[32], const uint8_t nonce[12]);

#ifdef __cplusplus
}
#endif

#endif
