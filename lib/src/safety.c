/* Safety numbers: Signal-style numeric fingerprints (version 0) over our
 * Ed25519 identity keys, the sorted pair and the QR payload. Implements
 * spec/crypto.md section 9 (CRYPTO-140 to CRYPTO-144). */
#include "ventra/safety.h"

#include <string.h>

#include <sodium.h>

#include "ventra/crypto.h"
#include "vt_constants.h"

vt_err vt_safety_fingerprint(uint8_t fp[VT_FINGERPRINT_FULL_LEN], const uint8_t ik[32],
                             const uint8_t *username, size_t username_len)
{
    if (fp == NULL || ik == NULL || (username == NULL && username_len > 0) ||
        username_len > 0xffff)
        return VT_ERR_INVALID_ARGUMENT;
    if (vt_crypto_init() != VT_OK)
        return VT_ERR_CRYPTO;
    static const uint8_t version[2] = {0, 0}; /* u16be(0) */
    crypto_hash_sha512_state st;
    uint8_t h[crypto_hash_sha512_BYTES];
    vt_err rc = VT_ERR_CRYPTO;
    /* h = u16be(0) || IK || username; then h = SHA512(h || IK) repeatedly. */
    if (crypto_hash_sha512_init(&st) != 0 ||
        crypto_hash_sha512_update(&st, version, 2) != 0 ||
        crypto_hash_sha512_update(&st, ik, 32) != 0 ||
        (username_len > 0 &&
         crypto_hash_sha512_update(&st, username, username_len) != 0) ||
        crypto_hash_sha512_update(&st, ik, 32) != 0 ||
        crypto_hash_sha512_final(&st, h) != 0)
        goto out;
    for (uint32_t i = 1; i < VT_FINGERPRINT_ITERATIONS; i++) {
        if (crypto_hash_sha512_init(&st) != 0 ||
            crypto_hash_sha512_update(&st, h, sizeof h) != 0 ||
            crypto_hash_sha512_update(&st, ik, 32) != 0 ||
            crypto_hash_sha512_final(&st, h) != 0)
            goto out;
    }
    memcpy(fp, h, sizeof h);
    rc = VT_OK;
out:
    vt_wipe(&st, sizeof st);
    vt_wipe(h, sizeof h);
    return rc;
}

void vt_safety_displayable(char out[31], const uint8_t fp[VT_FINGERPRINT_FULL_LEN])
{
    /* CRYPTO-141: six 5-byte big-endian chunks, each mod 100000. */
    for (int i = 0; i < 6; i++) {
        uint64_t v = 0;
        for (int j = 0; j < 5; j++)
            v = v << 8 | fp[5 * i + j];
        v %= 100000;
        for (int d = 4; d >= 0; d--) {
            out[5 * i + d] = (char)('0' + v % 10);
            v /= 10;
        }
    }
    out[30] = '\0';
}

vt_err vt_safety_compute(char *number, size_t number_cap, bool grouped,
                         uint8_t qr[VT_SAFETY_QR_LEN], const uint8_t ik_a[32],
                         const uint8_t *user_a, size_t user_a_len, const uint8_t ik_b[32],
                         const uint8_t *user_b, size_t user_b_len)
{
    uint8_t fa[VT_FINGERPRINT_FULL_LEN], fb[VT_FINGERPRINT_FULL_LEN];
    char da[31], db[31];
    size_t need = grouped ? VT_SAFETY_DIGITS + 11 + 1 : VT_SAFETY_DIGITS + 1;
    if (number != NULL && number_cap < need)
        return VT_ERR_BUFFER_TOO_SMALL;
    vt_err rc = vt_safety_fingerprint(fa, ik_a, user_a, user_a_len);
    if (rc == VT_OK)
        rc = vt_safety_fingerprint(fb, ik_b, user_b, user_b_len);
    if (rc != VT_OK)
        return rc;
    vt_safety_displayable(da, fa);
    vt_safety_displayable(db, fb);
    /* CRYPTO-142: the lower digit string first; on a tie, the lower first
     * FINGERPRINT_LEN bytes. */
    int cmp = strcmp(da, db);
    if (cmp == 0)
        cmp = memcmp(fa, fb, VT_FINGERPRINT_LEN);
    const uint8_t *f1 = cmp <= 0 ? fa : fb, *f2 = cmp <= 0 ? fb : fa;
    const char *d1 = cmp <= 0 ? da : db, *d2 = cmp <= 0 ? db : da;
    if (number != NULL) {
        char digits[VT_SAFETY_DIGITS + 1];
        memcpy(digits, d1, 30);
        memcpy(digits + 30, d2, 30);
        digits[VT_SAFETY_DIGITS] = '\0';
        if (!grouped) {
            memcpy(number, digits, sizeof digits);
        } else {
            size_t w = 0;
            for (size_t g = 0; g < 12; g++) {
                if (g > 0)
                    number[w++] = ' ';
                memcpy(number + w, digits + 5 * g, 5);
                w += 5;
            }
            number[w] = '\0';
        }
    }
    if (qr != NULL) { /* CRYPTO-143 */
        qr[0] = 0;
        memcpy(qr + 1, f1, VT_FINGERPRINT_LEN);
        memcpy(qr + 1 + VT_FINGERPRINT_LEN, f2, VT_FINGERPRINT_LEN);
    }
    return VT_OK;
}

bool vt_safety_qr_matches(const uint8_t *scanned, size_t scanned_len,
                          const uint8_t ik_a[32], const uint8_t *user_a,
                          size_t user_a_len, const uint8_t ik_b[32],
                          const uint8_t *user_b, size_t user_b_len)
{
    uint8_t qr[VT_SAFETY_QR_LEN];
    if (scanned == NULL || scanned_len != VT_SAFETY_QR_LEN)
        return false;
    if (vt_safety_compute(NULL, 0, false, qr, ik_a, user_a, user_a_len, ik_b, user_b,
                          user_b_len) != VT_OK)
        return false;
    return vt_equal(qr, scanned, VT_SAFETY_QR_LEN);
}
