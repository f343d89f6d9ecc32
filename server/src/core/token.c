/* ventrad session tokens: the compact EdDSA JWT of Resume, issued and
 * checked. Implements spec/auth.md "Session tokens" (AUTH-50, AUTH-51 steps
 * 1 to 5, AUTH-53). */
#include "token.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "vt_constants.h"

#define HEADER_B64_LEN 36u
#define SIG_B64_LEN 86u /* 64 bytes */
#define JTI_B64_LEN 22u /* 16 bytes */
#define ISS_PREFIX "ventra:"
#define ISS_LEN (7u + 64u)
/* Longest claims text of AUTH-50: 56 bytes of JSON punctuation and names,
 * a 64-digit key, a 32-byte username, 10 digits of dev, 19 of iat and exp
 * (both at most INT64_MAX, see issue) and 22 of jti: 222 bytes. */
#define CLAIMS_MAX 256u
/* Decoded size of the longest segment a VT_MAX_TOKEN_LEN token can hold. */
#define SEG_MAX (VT_MAX_TOKEN_LEN / 4u * 3u + 3u)

static const char B64URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* base64url without padding (RFC 4648 section 5); writes b64_len(n) chars,
 * no NUL. */
static void b64_encode(char *out, const uint8_t *in, size_t n)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            *out++ = B64URL[(acc >> bits) & 63];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0)
        *out++ = B64URL[(acc << (6 - bits)) & 63];
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Strict, canonical base64url without padding (AUTH-51 step 1): only the
 * alphabet, no '=', a non-empty input whose length is not 1 modulo 4, and
 * zero unused bits in the last character. */
static bool b64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *in,
                       size_t n)
{
    if (n == 0 || n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
        return false;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0)
            return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    if (acc != 0) /* the unused bits of the last character */
        return false;
    *out_len = o;
    return true;
}

/* AUTH-1: 3 to 32 bytes of [a-z0-9._-], the first a letter. */
static bool username_valid(const char *s, size_t n)
{
    if (n < VT_MIN_USERNAME_LEN || n > VT_MAX_USERNAME_LEN ||
        !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* "ventra:" followed by the lower-case hex of |pk|, no NUL. */
static void iss_of(char out[ISS_LEN], const uint8_t pk[32])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, ISS_PREFIX, 7);
    for (size_t i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[pk[i] >> 4];
        out[8 + 2 * i] = hex[pk[i] & 15];
    }
}

vt_err vtd_token_issue(char *out, size_t cap, size_t *out_len,
                       const uint8_t server_pk[32], const uint8_t server_sk[64],
                       const char *username, uint32_t device_id, uint64_t iat,
                       const uint8_t jti[16])
{
    char claims[CLAIMS_MAX], iss[ISS_LEN + 1], jti_b64[JTI_B64_LEN + 1];
    uint8_t sig[64];
    vt_err rc = VT_ERR_INVALID_ARGUMENT;

    if (out != NULL && cap > 0)
        out[0] = '\0';
    if (out == NULL || out_len == NULL || server_pk == NULL || server_sk == NULL ||
        username == NULL || jti == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    size_t ulen = 0;
    while (ulen <= VT_MAX_USERNAME_LEN && username[ulen] != '\0')
        ulen++;
    /* jansson reads integers as json_int_t (int64), so exp must fit one for
     * the token to verify at all. */
    if (!username_valid(username, ulen) || device_id == 0 ||
        iat > (uint64_t)INT64_MAX - VT_TOKEN_TTL_S)
        return VT_ERR_INVALID_ARGUMENT;
    /* libsodium's secret key is seed || pk: refuse to sign with a key that
     * the iss claim would not name. */
    if (!vt_equal(server_sk + 32, server_pk, 32))
        return VT_ERR_INVALID_ARGUMENT;

    iss_of(iss, server_pk);
    iss[ISS_LEN] = '\0';
    b64_encode(jti_b64, jti, 16);
    jti_b64[JTI_B64_LEN] = '\0';
    /* AUTH-50: these members, this order, no whitespace, plain decimals. */
    int n = snprintf(claims, sizeof claims,
                     "{\"iss\":\"%s\",\"sub\":\"%s\",\"dev\":%" PRIu32 ",\"iat\":%" PRIu64
                     ",\"exp\":%" PRIu64 ",\"jti\":\"%s\"}",
                     iss, username, device_id, iat, (uint64_t)(iat + VT_TOKEN_TTL_S),
                     jti_b64);
    if (n < 0 || (size_t)n >= sizeof claims)
        goto out; /* cannot happen: CLAIMS_MAX bounds the longest claims */

    size_t signed_len = HEADER_B64_LEN + 1 + b64_len((size_t)n);
    size_t total = signed_len + 1 + SIG_B64_LEN;
    if (total > VT_MAX_TOKEN_LEN)
        goto out; /* cannot happen either: at most 420 bytes */
    if (cap < total + 1) {
        rc = VT_ERR_BUFFER_TOO_SMALL;
        goto out;
    }
    memcpy(out, VTD_TOKEN_HEADER_B64, HEADER_B64_LEN);
    out[HEADER_B64_LEN] = '.';
    b64_encode(out + HEADER_B64_LEN + 1, (const uint8_t *)claims, (size_t)n);
    rc = vt_ed25519_sign(sig, (const uint8_t *)out, signed_len, server_sk);
    if (rc != VT_OK) {
        rc = VT_ERR_CRYPTO;
        out[0] = '\0';
        goto out;
    }
    out[signed_len] = '.';
    b64_encode(out + signed_len + 1, sig, sizeof sig);
    out[total] = '\0';
    *out_len = total;
out:
    /* Claims and signature together are the bearer credential. */
    vt_wipe(claims, sizeof claims);
    vt_wipe(sig, sizeof sig);
    return rc;
}

/* An integer member |key| of |root| in [lo, hi], or false. */
static bool get_int(json_t *root, const char *key, json_int_t lo, json_int_t hi,
                    json_int_t *v)
{
    json_t *j = json_object_get(root, key);
    if (!json_is_integer(j))
        return false;
    *v = json_integer_value(j);
    return *v >= lo && *v <= hi;
}

/* A string member |key| of |root|: its bytes and length, or false. */
static bool get_str(json_t *root, const char *key, const char **s, size_t *n)
{
    json_t *j = json_object_get(root, key);
    if (!json_is_string(j))
        return false;
    *s = json_string_value(j);
    *n = json_string_length(j);
    return true;
}

/* AUTH-51 step 4 on the decoded claims, which the signature already
 * vouches for. */
static bool claims_parse(const uint8_t *text, size_t len, const uint8_t server_pk[32],
                         vtd_token_claims *c)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
    bool ok = false;
    const char *s;
    size_t n, jti_len;
    json_int_t dev, iat, exp;
    char iss[ISS_LEN];

    /* Exactly six members, and each of the six names present: no others. */
    if (!json_is_object(root) || json_object_size(root) != 6)
        goto out;
    iss_of(iss, server_pk);
    if (!get_str(root, "iss", &s, &n) || n != ISS_LEN || memcmp(s, iss, ISS_LEN) != 0)
        goto out;
    if (!get_str(root, "sub", &s, &n) || !username_valid(s, n))
        goto out;
    memcpy(c->sub, s, n);
    c->sub[n] = '\0';
    if (!get_int(root, "dev", 1, (json_int_t)UINT32_MAX, &dev) ||
        !get_int(root, "iat", 0, INT64_MAX, &iat) ||
        !get_int(root, "exp", 0, INT64_MAX, &exp) || exp <= iat)
        goto out;
    if (!get_str(root, "jti", &s, &n) || n != JTI_B64_LEN ||
        !b64_decode(c->jti, sizeof c->jti, &jti_len, s, n) || jti_len != sizeof c->jti)
        goto out;
    c->dev = (uint32_t)dev;
    c->iat = (uint64_t)iat;
    c->exp = (uint64_t)exp;
    ok = true;
out:
    json_decref(root);
    return ok;
}

vt_err vtd_token_verify(const char *token, size_t len, const uint8_t server_pk[32],
                        uint64_t now, vtd_token_claims *out)
{
    uint8_t hdr[SEG_MAX], claims[SEG_MAX], sig[SEG_MAX];
    size_t hdr_len, claims_len, sig_len;
    vtd_token_claims c;

    if (token == NULL || server_pk == NULL || out == NULL)
        return VT_ERR_INVALID_ARGUMENT;
    if (len > VT_MAX_TOKEN_LEN)
        return VT_ERR_BAD_TOKEN;

    /* Step 1: three segments, each canonical base64url. A third '.' lands
     * in the last segment and fails its decoding, as does any other byte
     * outside the alphabet. */
    const char *d1 = memchr(token, '.', len);
    if (d1 == NULL)
        return VT_ERR_BAD_TOKEN;
    const char *seg2 = d1 + 1;
    const char *d2 = memchr(seg2, '.', len - (size_t)(seg2 - token));
    if (d2 == NULL)
        return VT_ERR_BAD_TOKEN;
    const char *seg3 = d2 + 1;
    size_t seg1_n = (size_t)(d1 - token), seg2_n = (size_t)(d2 - seg2),
           seg3_n = len - (size_t)(seg3 - token);
    if (!b64_decode(hdr, sizeof hdr, &hdr_len, token, seg1_n) ||
        !b64_decode(claims, sizeof claims, &claims_len, seg2, seg2_n) ||
        !b64_decode(sig, sizeof sig, &sig_len, seg3, seg3_n))
        return VT_ERR_BAD_TOKEN;

    /* Step 2: the header, byte for byte (no alg other than EdDSA). */
    if (seg1_n != HEADER_B64_LEN ||
        memcmp(token, VTD_TOKEN_HEADER_B64, HEADER_B64_LEN) != 0)
        return VT_ERR_BAD_TOKEN;

    /* Step 3: the signature, before any JSON is parsed. */
    if (sig_len != 64 || vt_ed25519_verify(sig, (const uint8_t *)token,
                                           (size_t)(d2 - token), server_pk) != VT_OK)
        return VT_ERR_BAD_TOKEN;

    /* Step 4: the claims. */
    if (!claims_parse(claims, claims_len, server_pk, &c))
        return VT_ERR_BAD_TOKEN;

    /* Step 5: not expired; no skew allowance (AUTH-53). */
    if (!(c.exp > now))
        return VT_ERR_BAD_TOKEN;

    *out = c;
    return VT_OK;
}
