/* libventra safety numbers: device fingerprints, the 60-digit safety number
 * and the QR payload of two devices. Implements spec/crypto.md section 9
 * (CRYPTO-140 to CRYPTO-144). */
#ifndef VENTRA_SAFETY_H
#define VENTRA_SAFETY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventra/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VT_FINGERPRINT_FULL_LEN 64u /* FP() output, CRYPTO-140 */
#define VT_SAFETY_DIGITS 60u        /* CRYPTO-142 */
#define VT_SAFETY_QR_LEN 65u        /* CRYPTO-143 */

/* FP(IK, username) of CRYPTO-140: FINGERPRINT_ITERATIONS rounds of
 * SHA-512. |username| is |username_len| UTF-8 bytes (NULL allowed when 0).
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL, username longer than 65535 bytes),
 * VT_ERR_CRYPTO. */
__attribute__((warn_unused_result)) vt_err
vt_safety_fingerprint(uint8_t fp[VT_FINGERPRINT_FULL_LEN], const uint8_t ik[32],
                      const uint8_t *username, size_t username_len);

/* The 30 decimal digits of CRYPTO-141 from a fingerprint, NUL-terminated. */
void vt_safety_displayable(char out[31], const uint8_t fp[VT_FINGERPRINT_FULL_LEN]);

/* The safety number (CRYPTO-142, 60 digits and a NUL; |grouped| false) or
 * the same digits in twelve groups of five separated by one space (|grouped|
 * true: 71 characters and a NUL), and the QR payload (CRYPTO-143) of the
 * devices (ik_a, user_a) and (ik_b, user_b); the result does not depend on
 * which device is "a". Either output may be NULL. |number_cap| is the size
 * of |number|. Errors: as vt_safety_fingerprint, VT_ERR_BUFFER_TOO_SMALL. */
__attribute__((warn_unused_result)) vt_err
vt_safety_compute(char *number, size_t number_cap, bool grouped,
                  uint8_t qr[VT_SAFETY_QR_LEN], const uint8_t ik_a[32],
                  const uint8_t *user_a, size_t user_a_len, const uint8_t ik_b[32],
                  const uint8_t *user_b, size_t user_b_len);

/* CRYPTO-144: true only when |scanned| is exactly the 65-byte payload
 * computed for the two devices (constant-time comparison). False on any
 * error. */
bool vt_safety_qr_matches(const uint8_t *scanned, size_t scanned_len,
                          const uint8_t ik_a[32], const uint8_t *user_a,
                          size_t user_a_len, const uint8_t ik_b[32],
                          const uint8_t *user_b, size_t user_b_len);

#ifdef __cplusplus
}
#endif

#endif
