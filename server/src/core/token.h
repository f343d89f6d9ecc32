/* ventrad session tokens: issue and check the EdDSA-signed JWTs of Resume.
 * Implements spec/auth.md "Session tokens" (AUTH-50, AUTH-51 steps 1 to 5,
 * AUTH-53); revocation (step 6, AUTH-52) is the caller's, via the store. */
#ifndef VTD_TOKEN_H
#define VTD_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "ventra/crypto.h"
#include "ventra/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* b64(header) of AUTH-50: the first segment of every token. */
#define VTD_TOKEN_HEADER_B64 "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9"

/* The claims of a token that passed vtd_token_verify. */
typedef struct vtd_token_claims {
    char sub[33];    /* the username, NUL-terminated (AUTH-1: 3 to 32 bytes) */
    uint32_t dev;    /* device id, 1 to 4294967295 */
    uint64_t iat;    /* issued at, Unix seconds */
    uint64_t exp;    /* expires at, Unix seconds; always greater than iat */
    uint8_t jti[16]; /* the token id */
} vtd_token_claims;

/* Writes the token of AUTH-50 for device |device_id| of account |username|
 * (NUL-terminated, a valid username of AUTH-1), issued at |iat| (Unix
 * seconds) with exp = iat + VT_TOKEN_TTL_S and token id |jti| (16 bytes the
 * caller drew from vt_random_bytes), signed by the server key: |server_pk|
 * (32 bytes) and |server_sk| (64 bytes, seed || pk, as
 * vt_ed25519_keypair_from_seed writes it). The key is only read; it is not
 * copied. On success |out| (|cap| bytes) holds the token and a NUL, and
 * |*out_len| its length without the NUL (at most VT_MAX_TOKEN_LEN).
 * Errors: VT_ERR_INVALID_ARGUMENT (a NULL pointer, an invalid username,
 * device_id 0, iat + VT_TOKEN_TTL_S above INT64_MAX, |server_sk| whose public
 * half is not |server_pk|), VT_ERR_BUFFER_TOO_SMALL (|cap| too small for the
 * token and its NUL), VT_ERR_CRYPTO (signing failed). On any error |out| is
 * left as the empty string when |cap| > 0 and |*out_len| is not written. */
VT_MUST_CHECK vt_err vtd_token_issue(char *out, size_t cap, size_t *out_len,
                                     const uint8_t server_pk[32],
                                     const uint8_t server_sk[64], const char *username,
                                     uint32_t device_id, uint64_t iat,
                                     const uint8_t jti[16]);

/* Checks |token| (|len| bytes, need not be NUL-terminated) as AUTH-51 steps
 * 1 to 5 say, in that order: three non-empty segments of canonical base64url
 * without padding; the first byte for byte VTD_TOKEN_HEADER_B64; the third a
 * 64-byte signature that verifies (strictly) under |server_pk| over the
 * first two segments and their dot, checked before any JSON is parsed; the
 * second a JSON object of exactly the six members of AUTH-50, each once and
 * well-typed, with iss naming |server_pk|; and exp > |now| (Unix seconds,
 * no skew allowance, AUTH-53). The caller still checks revocation (AUTH-52).
 * On success |*out| holds the claims; on failure it is not written.
 * Errors: VT_ERR_INVALID_ARGUMENT (NULL token, server_pk or out),
 * VT_ERR_BAD_TOKEN (every other failure, including a token longer than
 * VT_MAX_TOKEN_LEN, which the wire bounds refuse earlier with
 * ERROR_TOO_LARGE). */
VT_MUST_CHECK vt_err vtd_token_verify(const char *token, size_t len,
                                      const uint8_t server_pk[32], uint64_t now,
                                      vtd_token_claims *out);

#ifdef __cplusplus
}
#endif

#endif
