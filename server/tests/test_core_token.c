/* Tests of ventrad session tokens (server/src/core/token.c): spec/auth.md
 * "Session tokens" (AUTH-50, AUTH-51, AUTH-53) and its worked example. The
 * crafted tokens are built here with a base64url encoder of the test's own
 * and signed with the server key, so each claim check is what fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "token.h"
#include "ventra/crypto.h"
#include "vt_constants.h"

/* spec/auth.md, worked example. */
static const char *const EXAMPLE_CLAIMS =
    "{\"iss\":\"ventra:"
    "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8\","
    "\"sub\":\"alice\",\"dev\":1,\"iat\":1700000000,\"exp\":1700003600,"
    "\"jti\":\"gIGCg4SFhoeIiYqLjI2Ojw\"}";
static const char *const EXAMPLE_TOKEN =
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9"
    ".eyJpc3MiOiJ2ZW50cmE6MDNhMTA3YmZmM2NlMTBiZTFkNzBkZDE4ZTc0YmMwOTk2N2U0ZDYzMDliYTUwZDV"
    "m"
    "MWRkYzg2NjQxMjU1MzFiOCIsInN1YiI6ImFsaWNlIiwiZGV2IjoxLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6"
    "MT"
    "cwMDAwMzYwMCwianRpIjoiZ0lHQ2c0U0Zob2VJaVlxTGpJMk9qdyJ9"
    ".LOmPaLyEygmOoJsh_4QjJBKHRegdVmnGOyOOF0epiouDtH1jCceuPFjxpYIN-s_L8AKC0hC-"
    "lhWC6KUpG7TnBQ";
static const char *const ISS =
    "ventra:03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
static const char *const HEADER = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}";

static uint8_t pk[32], sk[64], other_pk[32], other_sk[64];
static const uint8_t JTI[16] = {0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
                                0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f};

static int setup(void **state)
{
    (void)state;
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    if (vt_ed25519_keypair_from_seed(pk, sk, seed) != VT_OK)
        return -1;
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(0x20 + i);
    if (vt_ed25519_keypair_from_seed(other_pk, other_sk, seed) != VT_OK)
        return -1;
    return 0;
}

/* The test's own base64url (RFC 4648 section 5, no padding), appended at
 * |out|; returns the characters written. */
static size_t b64(char *out, const void *data, size_t n)
{
    static const char A[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const uint8_t *p = data;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = A[v >> 18 & 63];
        out[o++] = A[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = A[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = A[v & 63];
    }
    out[o] = '\0';
    return o;
}

/* b64(header) . b64(claims) . b64(sig over the first two by |key|). */
static void craft(char *out, const char *header, const char *claims, const uint8_t *key)
{
    size_t n = b64(out, header, strlen(header));
    out[n++] = '.';
    n += b64(out + n, claims, strlen(claims));
    uint8_t sig[64];
    assert_int_equal(vt_ed25519_sign(sig, (const uint8_t *)out, n, key), VT_OK);
    out[n++] = '.';
    b64(out + n, sig, sizeof sig);
}

static vt_err verify_at(const char *token, uint64_t now)
{
    vtd_token_claims c;
    return vtd_token_verify(token, strlen(token), pk, now, &c);
}

/* Claims signed by the server key: the failure, if any, is the claims'. */
static vt_err verify_claims(const char *claims)
{
    char tok[2048];
    craft(tok, HEADER, claims, sk);
    return verify_at(tok, 1700000000);
}

static void test_worked_example(void **state)
{
    (void)state;
    char tok[VT_MAX_TOKEN_LEN + 1];
    size_t len = 0;
    assert_int_equal(
        vtd_token_issue(tok, sizeof tok, &len, pk, sk, "alice", 1, 1700000000, JTI),
        VT_OK);
    assert_int_equal(len, 348);
    assert_int_equal(strlen(tok), 348);
    assert_string_equal(tok, EXAMPLE_TOKEN);

    /* The test's own encoder and libsodium agree with the spec, too. */
    char crafted[512];
    craft(crafted, HEADER, EXAMPLE_CLAIMS, sk);
    assert_string_equal(crafted, EXAMPLE_TOKEN);

    vtd_token_claims c;
    memset(&c, 0xaa, sizeof c);
    assert_int_equal(vtd_token_verify(tok, len, pk, 1700000000, &c), VT_OK);
    assert_string_equal(c.sub, "alice");
    assert_int_equal(c.dev, 1);
    assert_int_equal(c.iat, 1700000000);
    assert_int_equal(c.exp, 1700003600);
    assert_memory_equal(c.jti, JTI, 16);
}

static void test_expiry_no_skew(void **state)
{
    (void)state;
    assert_int_equal(verify_at(EXAMPLE_TOKEN, 0), VT_OK); /* iat is not checked */
    assert_int_equal(verify_at(EXAMPLE_TOKEN, 1700000000), VT_OK);
    assert_int_equal(verify_at(EXAMPLE_TOKEN, 1700003599), VT_OK);
    assert_int_equal(verify_at(EXAMPLE_TOKEN, 1700003600), VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_at(EXAMPLE_TOKEN, 1700003601), VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_at(EXAMPLE_TOKEN, UINT64_MAX), VT_ERR_BAD_TOKEN);
}

static void test_verify_leaves_out_on_failure(void **state)
{
    (void)state;
    vtd_token_claims c, before;
    memset(&c, 0x5a, sizeof c);
    before = c;
    assert_int_equal(
        vtd_token_verify(EXAMPLE_TOKEN, strlen(EXAMPLE_TOKEN), pk, 1700003600, &c),
        VT_ERR_BAD_TOKEN);
    assert_memory_equal(&c, &before, sizeof c);
}

static void test_null_arguments(void **state)
{
    (void)state;
    vtd_token_claims c;
    char tok[512];
    size_t len;
    size_t n = strlen(EXAMPLE_TOKEN);
    assert_int_equal(vtd_token_verify(NULL, n, pk, 0, &c), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_token_verify(EXAMPLE_TOKEN, n, NULL, 0, &c),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_token_verify(EXAMPLE_TOKEN, n, pk, 0, NULL),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_token_issue(NULL, 512, &len, pk, sk, "alice", 1, 1, JTI),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_token_issue(tok, sizeof tok, NULL, pk, sk, "alice", 1, 1, JTI),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_token_issue(tok, sizeof tok, &len, NULL, sk, "alice", 1, 1, JTI),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_token_issue(tok, sizeof tok, &len, pk, NULL, "alice", 1, 1, JTI),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_token_issue(tok, sizeof tok, &len, pk, sk, NULL, 1, 1, JTI),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_token_issue(tok, sizeof tok, &len, pk, sk, "alice", 1, 1, NULL),
                     VT_ERR_INVALID_ARGUMENT);
}

static void test_issue_arguments(void **state)
{
    (void)state;
    char tok[512];
    size_t len = 7;
    const char *bad_users[] = {"Alice",
                               "al",
                               "1alice",
                               "al ice",
                               "alice!",
                               "",
                               "abcdefghijklmnopqrstuvwxyz0123456"}; /* 33 bytes */
    for (size_t i = 0; i < sizeof bad_users / sizeof bad_users[0]; i++) {
        strcpy(tok, "junk");
        assert_int_equal(vtd_token_issue(tok, sizeof tok, &len, pk, sk, bad_users[i], 1,
                                         1700000000, JTI),
                         VT_ERR_INVALID_ARGUMENT);
        assert_string_equal(tok, "");
    }
    assert_int_equal(
        vtd_token_issue(tok, sizeof tok, &len, pk, sk, "alice", 0, 1700000000, JTI),
        VT_ERR_INVALID_ARGUMENT);
    /* The secret key's public half must be the key iss names. */
    assert_int_equal(
        vtd_token_issue(tok, sizeof tok, &len, other_pk, sk, "alice", 1, 1700000000, JTI),
        VT_ERR_INVALID_ARGUMENT);
    /* exp must fit jansson's int64. */
    assert_int_equal(vtd_token_issue(tok, sizeof tok, &len, pk, sk, "alice", 1,
                                     (uint64_t)INT64_MAX - VT_TOKEN_TTL_S + 1, JTI),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(len, 7);

    /* 348 characters need 349 bytes. */
    assert_int_equal(vtd_token_issue(tok, 348, &len, pk, sk, "alice", 1, 1700000000, JTI),
                     VT_ERR_BUFFER_TOO_SMALL);
    assert_string_equal(tok, "");
    assert_int_equal(len, 7);
    assert_int_equal(vtd_token_issue(tok, 349, &len, pk, sk, "alice", 1, 1700000000, JTI),
                     VT_OK);
    assert_int_equal(len, 348);
    assert_string_equal(tok, EXAMPLE_TOKEN);

    /* Every username character class and the bounds of AUTH-1 are fine. */
    assert_int_equal(vtd_token_issue(tok, sizeof tok, &len, pk, sk, "a.b_c-9", 2, 5, JTI),
                     VT_OK);
    assert_int_equal(verify_at(tok, 5), VT_OK);
    assert_int_equal(vtd_token_issue(tok, sizeof tok, &len, pk, sk, "abc", 2, 5, JTI),
                     VT_OK);
}

static void test_longest_token(void **state)
{
    (void)state;
    char tok[VT_MAX_TOKEN_LEN + 1];
    size_t len;
    const char *user = "abcdefghijklmnopqrstuvwxyz012345"; /* 32 bytes */
    assert_int_equal(strlen(user), VT_MAX_USERNAME_LEN);
    /* The largest 11-digit iat: exp then has 12 digits. */
    assert_int_equal(vtd_token_issue(tok, sizeof tok, &len, pk, sk, user, 4294967295u,
                                     99999999999ull, JTI),
                     VT_OK);
    assert_int_equal(len, 400);
    assert_true(len <= VT_MAX_TOKEN_LEN);
    vtd_token_claims c;
    assert_int_equal(vtd_token_verify(tok, len, pk, 99999999999ull, &c), VT_OK);
    assert_string_equal(c.sub, user);
    assert_int_equal(c.dev, 4294967295u);
    assert_int_equal(c.exp, 99999999999ull + VT_TOKEN_TTL_S);

    /* Even the largest iat issue accepts stays within VT_MAX_TOKEN_LEN. */
    uint64_t iat = (uint64_t)INT64_MAX - VT_TOKEN_TTL_S;
    assert_int_equal(
        vtd_token_issue(tok, sizeof tok, &len, pk, sk, user, 4294967295u, iat, JTI),
        VT_OK);
    assert_true(len <= VT_MAX_TOKEN_LEN);
    assert_int_equal(vtd_token_verify(tok, len, pk, iat, &c), VT_OK);
    assert_int_equal(c.exp, (uint64_t)INT64_MAX);
}

static void test_bad_header(void **state)
{
    (void)state;
    char tok[2048];
    /* alg none, signed anyway (so only the header check can refuse it). */
    craft(tok, "{\"alg\":\"none\",\"typ\":\"JWT\"}", EXAMPLE_CLAIMS, sk);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    /* alg none the usual way: an empty signature segment. */
    size_t n = b64(tok, "{\"alg\":\"none\",\"typ\":\"JWT\"}", 26);
    tok[n++] = '.';
    n += b64(tok + n, EXAMPLE_CLAIMS, strlen(EXAMPLE_CLAIMS));
    strcpy(tok + n, ".");
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    /* The same header with the members swapped, or with whitespace. */
    craft(tok, "{\"typ\":\"JWT\",\"alg\":\"EdDSA\"}", EXAMPLE_CLAIMS, sk);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    craft(tok, "{\"alg\": \"EdDSA\",\"typ\":\"JWT\"}", EXAMPLE_CLAIMS, sk);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    craft(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", EXAMPLE_CLAIMS, sk);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    /* Control: the right header through the same helper verifies. */
    craft(tok, HEADER, EXAMPLE_CLAIMS, sk);
    assert_int_equal(verify_at(tok, 1700000000), VT_OK);
}

static void test_bad_signature(void **state)
{
    (void)state;
    char tok[2048];
    const char *sig = strrchr(EXAMPLE_TOKEN, '.') + 1;
    const char *claims_seg = strchr(EXAMPLE_TOKEN, '.') + 1;

    /* Tampered claims: dev 2 with the original signature. */
    char claims[512];
    strcpy(claims, EXAMPLE_CLAIMS);
    *strstr(claims, "\"dev\":1") = '\0';
    char tampered[1100];
    snprintf(tampered, sizeof tampered, "%s\"dev\":2%s", claims,
             strstr(EXAMPLE_CLAIMS, "\"dev\":1") + 7);
    size_t n = b64(tok, HEADER, strlen(HEADER));
    tok[n++] = '.';
    n += b64(tok + n, tampered, strlen(tampered));
    snprintf(tok + n, sizeof tok - n, ".%s", sig);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);

    /* Tampered claims segment: one character changed. */
    strcpy(tok, EXAMPLE_TOKEN);
    tok[claims_seg - EXAMPLE_TOKEN + 10] ^= 1; /* 'J' -> 'K' */
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);

    /* Tampered signature: its first and a middle character. */
    strcpy(tok, EXAMPLE_TOKEN);
    tok[sig - EXAMPLE_TOKEN] = 'M';
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    strcpy(tok, EXAMPLE_TOKEN);
    tok[sig - EXAMPLE_TOKEN + 40] ^= 1;
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);

    /* Signed by another key, or checked against another key. */
    craft(tok, HEADER, EXAMPLE_CLAIMS, other_sk);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    vtd_token_claims c;
    assert_int_equal(
        vtd_token_verify(EXAMPLE_TOKEN, strlen(EXAMPLE_TOKEN), other_pk, 1700000000, &c),
        VT_ERR_BAD_TOKEN);

    /* Signatures of 63 and 65 bytes (canonical base64url). */
    uint8_t raw[65] = {0};
    size_t prefix = (size_t)(sig - EXAMPLE_TOKEN);
    memcpy(tok, EXAMPLE_TOKEN, prefix);
    b64(tok + prefix, raw, 63);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    b64(tok + prefix, raw, 65);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    /* The last character 'Q' (01 and four unused bits) as 'A' (00): still
     * canonical and 64 bytes, but another signature. */
    strcpy(tok, EXAMPLE_TOKEN);
    tok[strlen(tok) - 1] = 'A';
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
}

/* Replaces the first |from| in EXAMPLE_CLAIMS by |to| into |out|. */
static const char *claims_with(char *out, size_t cap, const char *from, const char *to)
{
    const char *p = strstr(EXAMPLE_CLAIMS, from);
    assert_non_null(p);
    snprintf(out, cap, "%.*s%s%s", (int)(p - EXAMPLE_CLAIMS), EXAMPLE_CLAIMS, to,
             p + strlen(from));
    return out;
}

/* seg1 . seg2 . b64(sig over "seg1.seg2" by the server key): segments
 * passed as text, so that a non-canonical one still carries a valid
 * signature and only the strict decoding can refuse it. */
static void craft_segs(char *out, const char *seg1, const char *seg2)
{
    size_t n = (size_t)sprintf(out, "%s.%s", seg1, seg2);
    uint8_t sig[64];
    assert_int_equal(vt_ed25519_sign(sig, (const uint8_t *)out, n, sk), VT_OK);
    out[n++] = '.';
    b64(out + n, sig, sizeof sig);
}

static void test_bad_segments(void **state)
{
    (void)state;
    char tok[2048];
    const char *d1 = strchr(EXAMPLE_TOKEN, '.');
    const char *d2 = strrchr(EXAMPLE_TOKEN, '.');
    size_t n1 = (size_t)(d1 - EXAMPLE_TOKEN), n12 = (size_t)(d2 - EXAMPLE_TOKEN);
    const char *hdr = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9";

    /* Two segments, four segments, one segment. */
    snprintf(tok, sizeof tok, "%.*s", (int)n12, EXAMPLE_TOKEN);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    snprintf(tok, sizeof tok, "%s.AAAA", EXAMPLE_TOKEN);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    snprintf(tok, sizeof tok, "%s.", EXAMPLE_TOKEN);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    snprintf(tok, sizeof tok, "%.*s", (int)n1, EXAMPLE_TOKEN);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_at("", 1700000000), VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_at("..", 1700000000), VT_ERR_BAD_TOKEN);

    /* Each segment empty in turn. */
    snprintf(tok, sizeof tok, "%s", d1);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    craft_segs(tok, hdr, "");
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    snprintf(tok, sizeof tok, "%.*s", (int)(n12 + 1), EXAMPLE_TOKEN);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);

    /* Claims whose base64url has unused bits: "alice1" makes them 169
     * bytes, 226 characters, the last carrying 4 unused bits. */
    char claims[512], seg[512], bad[1100];
    claims_with(claims, sizeof claims, "alice", "alice1");
    size_t m = b64(seg, claims, strlen(claims));
    assert_int_equal(m, 226);
    craft_segs(tok, hdr, seg); /* control */
    assert_int_equal(verify_at(tok, 1700000000), VT_OK);

    /* '=' padding: on the claims (226 pads to 228) and on the signature
     * (86 pads to 88); a lenient decoder would get the same bytes. */
    snprintf(bad, sizeof bad, "%s==", seg);
    craft_segs(tok, hdr, bad);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    snprintf(tok, sizeof tok, "%s==", EXAMPLE_TOKEN);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    snprintf(tok, sizeof tok, "%s=", EXAMPLE_TOKEN);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    snprintf(tok, sizeof tok, "%.*s=%s", (int)n1, EXAMPLE_TOKEN, d1);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);

    /* Characters outside the base64url alphabet: '+' and '/' of standard
     * base64 in place of '-' and '_' in the signature (same bits), a space
     * and a newline inside signed claims, a NUL inside the length. */
    strcpy(tok, EXAMPLE_TOKEN);
    char *dash = strchr(tok + n12, '-');
    assert_non_null(dash);
    *dash = '+';
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    strcpy(tok, EXAMPLE_TOKEN);
    *strchr(tok + n12, '_') = '/';
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    snprintf(bad, sizeof bad, "%.100s %s", seg, seg + 100);
    craft_segs(tok, hdr, bad);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    snprintf(bad, sizeof bad, "%.100s\n%s", seg, seg + 100);
    craft_segs(tok, hdr, bad);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    strcpy(tok, EXAMPLE_TOKEN);
    tok[n1 + 5] = '\0';
    vtd_token_claims out;
    assert_int_equal(vtd_token_verify(tok, strlen(EXAMPLE_TOKEN), pk, 1700000000, &out),
                     VT_ERR_BAD_TOKEN);
    /* A length shorter than the string: the signature is cut. */
    assert_int_equal(
        vtd_token_verify(EXAMPLE_TOKEN, strlen(EXAMPLE_TOKEN) - 1, pk, 1700000000, &out),
        VT_ERR_BAD_TOKEN);

    /* Non-canonical last characters. The signature's 'Q' (010000) has four
     * unused bits; 'R' sets one and decodes leniently to the same 64 bytes. */
    strcpy(tok, EXAMPLE_TOKEN);
    assert_int_equal(tok[strlen(tok) - 1], 'Q');
    tok[strlen(tok) - 1] = 'R';
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    /* The claims' last character with its lowest unused bit set. */
    strcpy(bad, seg);
    char *last = bad + m - 1;
    const char *A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t v = (size_t)(strchr(A, *last) - A);
    assert_int_equal(v & 15, 0);
    *last = A[v | 1];
    craft_segs(tok, hdr, bad);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    *last = A[v | 8];
    craft_segs(tok, hdr, bad);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);

    /* A length of 1 modulo 4: claims of 225 characters (a lenient decoder
     * drops the last one), the signature, the header. */
    snprintf(bad, sizeof bad, "%.*sA", (int)(n12 - n1 - 1), d1 + 1);
    assert_int_equal(strlen(bad), 225);
    craft_segs(tok, hdr, bad);
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    snprintf(tok, sizeof tok, "%sAAA", EXAMPLE_TOKEN); /* 86 + 3 = 89 */
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
    snprintf(tok, sizeof tok, "%.*sA%s", (int)n1, EXAMPLE_TOKEN, d1); /* 37 */
    assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
}

/* A validly signed token grown with JSON whitespace verifies up to
 * VT_MAX_TOKEN_LEN bytes and not one byte beyond. */
static void test_too_long(void **state)
{
    (void)state;
    char claims[1024], tok[2048];
    bool saw_ok = false, saw_long = false;
    for (size_t k = 0; k < 200; k++) {
        snprintf(claims, sizeof claims, "%s%*s", EXAMPLE_CLAIMS, (int)k, "");
        craft(tok, HEADER, claims, sk);
        if (strlen(tok) <= VT_MAX_TOKEN_LEN) {
            assert_int_equal(verify_at(tok, 1700000000), VT_OK);
            saw_ok = true;
        } else {
            assert_int_equal(verify_at(tok, 1700000000), VT_ERR_BAD_TOKEN);
            saw_long = true;
        }
    }
    assert_true(saw_ok && saw_long);
}

static void test_claims_members(void **state)
{
    (void)state;
    char c[1024];
    /* Control: the example's claims through the crafting path verify. */
    assert_int_equal(verify_claims(EXAMPLE_CLAIMS), VT_OK);

    /* Missing members, each in turn. */
    assert_int_equal(verify_claims(claims_with(c, sizeof c, "\"sub\":\"alice\",", "")),
                     VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_claims(claims_with(c, sizeof c, "\"dev\":1,", "")),
                     VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_claims(claims_with(c, sizeof c, "\"iat\":1700000000,", "")),
                     VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_claims(claims_with(
                         c, sizeof c, ",\"jti\":\"gIGCg4SFhoeIiYqLjI2Ojw\"", "")),
                     VT_ERR_BAD_TOKEN);
    char iss_member[128];
    snprintf(iss_member, sizeof iss_member, "\"iss\":\"%s\",", ISS);
    assert_int_equal(verify_claims(claims_with(c, sizeof c, iss_member, "")),
                     VT_ERR_BAD_TOKEN);
    /* A missing member replaced by another: still six members. */
    assert_int_equal(verify_claims(claims_with(c, sizeof c, "\"dev\":1,", "\"nbf\":1,")),
                     VT_ERR_BAD_TOKEN);
    /* Duplicate members: the same value twice, or a second dev. */
    assert_int_equal(
        verify_claims(claims_with(c, sizeof c, "\"dev\":1,", "\"dev\":1,\"dev\":1,")),
        VT_ERR_BAD_TOKEN);
    assert_int_equal(
        verify_claims(claims_with(c, sizeof c, "\"dev\":1,", "\"dev\":2,\"dev\":1,")),
        VT_ERR_BAD_TOKEN);
    /* An extra member. */
    assert_int_equal(
        verify_claims(claims_with(c, sizeof c, "\"dev\":1,", "\"dev\":1,\"x\":0,")),
        VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_claims(claims_with(c, sizeof c, "\"dev\":1,",
                                               "\"dev\":1,\"aud\":\"ventra\",")),
                     VT_ERR_BAD_TOKEN);
    /* Not an object, not JSON, trailing bytes, an empty object. */
    assert_int_equal(verify_claims("[1,2,3,4,5,6]"), VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_claims("{}"), VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_claims("\"alice\""), VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_claims("{\"iss\":"), VT_ERR_BAD_TOKEN);
    snprintf(c, sizeof c, "%s ", EXAMPLE_CLAIMS);
    assert_int_equal(verify_claims(c), VT_OK); /* trailing whitespace is JSON */
    snprintf(c, sizeof c, "%sx", EXAMPLE_CLAIMS);
    assert_int_equal(verify_claims(c), VT_ERR_BAD_TOKEN);
    snprintf(c, sizeof c, "%s{}", EXAMPLE_CLAIMS);
    assert_int_equal(verify_claims(c), VT_ERR_BAD_TOKEN);
}

static void test_claims_iss(void **state)
{
    (void)state;
    char c[1024], to[128];
    char iss_member[128];
    snprintf(iss_member, sizeof iss_member, "\"iss\":\"%s\"", ISS);
    /* Another server's key. */
    assert_int_equal(
        verify_claims(claims_with(
            c, sizeof c,
            "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
            "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7")),
        VT_ERR_BAD_TOKEN);
    /* Upper-case hex. */
    assert_int_equal(
        verify_claims(claims_with(
            c, sizeof c,
            "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
            "03A107BFF3CE10BE1D70DD18E74BC09967E4D6309BA50D5F1DDC8664125531B8")),
        VT_ERR_BAD_TOKEN);
    /* Without the prefix, another prefix, truncated, extended. */
    snprintf(to, sizeof to, "\"iss\":\"%s\"", ISS + 7);
    assert_int_equal(verify_claims(claims_with(c, sizeof c, iss_member, to)),
                     VT_ERR_BAD_TOKEN);
    snprintf(to, sizeof to, "\"iss\":\"Ventra:%s\"", ISS + 7);
    assert_int_equal(verify_claims(claims_with(c, sizeof c, iss_member, to)),
                     VT_ERR_BAD_TOKEN);
    snprintf(to, sizeof to, "\"iss\":\"%.70s\"", ISS);
    assert_int_equal(verify_claims(claims_with(c, sizeof c, iss_member, to)),
                     VT_ERR_BAD_TOKEN);
    snprintf(to, sizeof to, "\"iss\":\"%s0\"", ISS);
    assert_int_equal(verify_claims(claims_with(c, sizeof c, iss_member, to)),
                     VT_ERR_BAD_TOKEN);
    /* An escaped NUL after the right value. */
    snprintf(to, sizeof to, "\"iss\":\"%s\\u0000\"", ISS);
    assert_int_equal(verify_claims(claims_with(c, sizeof c, iss_member, to)),
                     VT_ERR_BAD_TOKEN);
    /* Not a string. */
    assert_int_equal(verify_claims(claims_with(c, sizeof c, iss_member, "\"iss\":7")),
                     VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_claims(claims_with(c, sizeof c, iss_member, "\"iss\":null")),
                     VT_ERR_BAD_TOKEN);
}

static void test_claims_sub(void **state)
{
    (void)state;
    char c[1024];
    const char *bad[] = {"\"sub\":\"Alice\"",
                         "\"sub\":\"al\"",
                         "\"sub\":\"1alice\"",
                         "\"sub\":\"al ice\"",
                         "\"sub\":\"\"",
                         "\"sub\":\"alice\\u0000\"",
                         "\"sub\":\"abcdefghijklmnopqrstuvwxyz0123456\"", /* 33 */
                         "\"sub\":\"_alice\"",
                         "\"sub\":\"alic\\u00e9\"",
                         "\"sub\":5",
                         "\"sub\":[\"alice\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(
            verify_claims(claims_with(c, sizeof c, "\"sub\":\"alice\"", bad[i])),
            VT_ERR_BAD_TOKEN);
    /* The bounds themselves are valid. */
    assert_int_equal(
        verify_claims(claims_with(c, sizeof c, "\"sub\":\"alice\"",
                                  "\"sub\":\"abcdefghijklmnopqrstuvwxyz012345\"")),
        VT_OK);
    assert_int_equal(
        verify_claims(claims_with(c, sizeof c, "\"sub\":\"alice\"", "\"sub\":\"a-.\"")),
        VT_OK);
    /* An escape that decodes to a valid name is still that name. */
    assert_int_equal(verify_claims(claims_with(c, sizeof c, "\"sub\":\"alice\"",
                                               "\"sub\":\"\\u0061lice\"")),
                     VT_OK);
}

static void test_claims_numbers(void **state)
{
    (void)state;
    char c[1024];
    const char *bad_dev[] = {
        "\"dev\":0",    "\"dev\":4294967296", "\"dev\":-1",
        "\"dev\":1.0",  "\"dev\":1e0",        "\"dev\":\"1\"",
        "\"dev\":true", "\"dev\":null",       "\"dev\":99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_dev / sizeof bad_dev[0]; i++)
        assert_int_equal(verify_claims(claims_with(c, sizeof c, "\"dev\":1", bad_dev[i])),
                         VT_ERR_BAD_TOKEN);
    assert_int_equal(
        verify_claims(claims_with(c, sizeof c, "\"dev\":1", "\"dev\":4294967295")),
        VT_OK);

    const char *bad_iat[] = {"\"iat\":1700000000.5",
                             "\"iat\":1.7e9",
                             "\"iat\":\"1700000000\"",
                             "\"iat\":-1700000000",
                             "\"iat\":null",
                             "\"iat\":1700003600", /* exp == iat */
                             "\"iat\":1700003601", /* exp < iat */
                             "\"iat\":18446744073709551615"};
    for (size_t i = 0; i < sizeof bad_iat / sizeof bad_iat[0]; i++)
        assert_int_equal(
            verify_claims(claims_with(c, sizeof c, "\"iat\":1700000000", bad_iat[i])),
            VT_ERR_BAD_TOKEN);
    assert_int_equal(verify_claims(claims_with(c, sizeof c, "\"iat\":1700000000",
                                               "\"iat\":1700003599")),
                     VT_OK);

    const char *bad_exp[] = {"\"exp\":1700003600.0", "\"exp\":\"1700003600\"",
                             "\"exp\":1700000000",   "\"exp\":1699999999",
                             "\"exp\":-1",           "\"exp\":false"};
    for (size_t i = 0; i < sizeof bad_exp / sizeof bad_exp[0]; i++)
        assert_int_equal(
            verify_claims(claims_with(c, sizeof c, "\"exp\":1700003600", bad_exp[i])),
            VT_ERR_BAD_TOKEN);
}

static void test_claims_jti(void **state)
{
    (void)state;
    char c[1024];
    const char *from = "\"jti\":\"gIGCg4SFhoeIiYqLjI2Ojw\"";
    const char *bad[] = {
        "\"jti\":\"gIGCg4SFhoeIiYqLjI2Oj\"",    /* 21 chars */
        "\"jti\":\"gIGCg4SFhoeIiYqLjI2Ojwx\"",  /* 23 chars */
        "\"jti\":\"gIGCg4SFhoeIiYqLjI2Ojx\"",   /* unused bits set */
        "\"jti\":\"gIGCg4SFhoeIiYqLjI2O+w\"",   /* standard alphabet */
        "\"jti\":\"gIGCg4SFhoeIiYqLjI2Ojw==\"", /* padded */
        "\"jti\":\"\"",
        "\"jti\":16",
        "\"jti\":null",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(verify_claims(claims_with(c, sizeof c, from, bad[i])),
                         VT_ERR_BAD_TOKEN);
    vtd_token_claims out;
    char tok[2048];
    craft(tok, HEADER,
          claims_with(c, sizeof c, from, "\"jti\":\"AAAAAAAAAAAAAAAAAAAA_w\""), sk);
    assert_int_equal(vtd_token_verify(tok, strlen(tok), pk, 1700000000, &out), VT_OK);
    static const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff};
    assert_memory_equal(out.jti, want, 16);
}

static void test_issue_round_trip(void **state)
{
    (void)state;
    char tok[VT_MAX_TOKEN_LEN + 1];
    size_t len;
    uint8_t jti[16];
    assert_int_equal(vt_random_bytes(jti, sizeof jti), VT_OK);
    assert_int_equal(vtd_token_issue(tok, sizeof tok, &len, pk, sk, "bob", 6, 1, jti),
                     VT_OK);
    vtd_token_claims c;
    assert_int_equal(vtd_token_verify(tok, len, pk, 3600, &c), VT_OK);
    assert_string_equal(c.sub, "bob");
    assert_int_equal(c.dev, 6);
    assert_int_equal(c.iat, 1);
    assert_int_equal(c.exp, 1 + VT_TOKEN_TTL_S);
    assert_memory_equal(c.jti, jti, 16);
    assert_int_equal(vtd_token_verify(tok, len, pk, 3601, &c), VT_ERR_BAD_TOKEN);
    assert_int_equal(vtd_token_verify(tok, len, other_pk, 3600, &c), VT_ERR_BAD_TOKEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_example),
        cmocka_unit_test(test_expiry_no_skew),
        cmocka_unit_test(test_verify_leaves_out_on_failure),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_issue_arguments),
        cmocka_unit_test(test_longest_token),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_bad_segments),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_claims_members),
        cmocka_unit_test(test_claims_iss),
        cmocka_unit_test(test_claims_sub),
        cmocka_unit_test(test_claims_numbers),
        cmocka_unit_test(test_claims_jti),
        cmocka_unit_test(test_issue_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
