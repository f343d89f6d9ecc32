/* libventra identity keys: a device's Ed25519 key pair from its seed and the
 * X25519 pair derived from it, kept in guarded, locked memory.
 * Implements spec/crypto.md section 3 (CRYPTO-12 to CRYPTO-15). */
#include "ventra/identity.h"

#include <string.h>

#include <sodium.h>

#include "ventra/crypto.h"

/* The whole handle lives in sodium_malloc'd memory (guard pages, mlock'd,
 * wiped by sodium_free), so the secret fields never sit in ordinary heap.
 * It is not mprotect'ed between uses: the handle is shared read-only between
 * threads, and toggling protection is not thread-safe. */
struct vt_identity {
    uint8_t seed[32];     /* secret: CRYPTO-12 */
    uint8_t ed_sk[64];    /* secret: seed || ed_pub (libsodium's form) */
    uint8_t x_priv[32];   /* secret: CRYPTO-15 */
    uint8_t ed_pub[32];   /* IK */
    uint8_t x_pub[32];    /* IKx.public, CRYPTO-14 */
};

vt_err vt_identity_from_seed(vt_identity **out, const uint8_t seed[32])
{
    vt_identity *id = NULL;
    uint8_t check[32];
    vt_err err;

    if (out == NULL || seed == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vt_crypto_init();
    if (err != VT_OK)
        return err;
    id = sodium_malloc(sizeof *id);
    if (id == NULL)
        return VT_ERR_NO_MEMORY;
    memcpy(id->seed, seed, 32);
    err = vt_ed25519_keypair_from_seed(id->ed_pub, id->ed_sk, seed);
    if (err != VT_OK)
        goto out;
    err = vt_ed25519_sk_to_x25519(id->x_priv, id->ed_sk);
    if (err != VT_OK)
        goto out;
    err = vt_ed25519_pk_to_x25519(id->x_pub, id->ed_pub);
    if (err != VT_OK)
        goto out;
    /* The note under CRYPTO-15: X25519(a, 9) equals the mapped public key.
     * It holds for every seed; checking it costs one scalar multiplication
     * and catches a broken library before a session is built on it. */
    err = vt_x25519_public(check, id->x_priv);
    if (err != VT_OK)
        goto out;
    if (crypto_verify_32(check, id->x_pub) != 0) {
        err = VT_ERR_CRYPTO;
        goto out;
    }
    *out = id;
    id = NULL;
out:
    sodium_memzero(check, sizeof check);
    vt_identity_free(id);
    return err;
}

vt_err vt_identity_generate(vt_identity **out)
{
    uint8_t seed[32];
    vt_err err;

    if (out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    err = vt_random_bytes(seed, sizeof seed); /* CRYPTO-10, CRYPTO-12 */
    if (err == VT_OK)
        err = vt_identity_from_seed(out, seed);
    sodium_memzero(seed, sizeof seed);
    return err;
}

void vt_identity_free(vt_identity *id)
{
    if (id == NULL)
        return;
    sodium_memzero(id, sizeof *id);
    sodium_free(id);
}

const uint8_t *vt_identity_public(const vt_identity *id)
{
    return id == NULL ? NULL : id->ed_pub;
}

const uint8_t *vt_identity_x25519_public(const vt_identity *id)
{
    return id == NULL ? NULL : id->x_pub;
}

vt_err vt_identity_sign(const vt_identity *id, uint8_t sig[64], const uint8_t *msg, size_t len)
{
    if (id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    return vt_ed25519_sign(sig, msg, len, id->ed_sk);
}

vt_err vt_identity_dh(const vt_identity *id, uint8_t out[32], const uint8_t peer_x25519_pub[32])
{
    if (id == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    return vt_x25519(out, id->x_priv, peer_x25519_pub);
}

vt_err vt_identity_seed(const vt_identity *id, uint8_t seed[32])
{
    if (id == NULL || seed == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    memcpy(seed, id->seed, 32);
    return VT_OK;
}
