/* Tests of safety numbers and QR payloads (lib/src/safety.c) and of Content
 * padding (lib/src/padding.c). spec/crypto.md sections 8 and 9. The pinned
 * values were computed with Python's hashlib from the spec's formulas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/safety.h"
#include "ventra/session.h"
#include "vt_constants.h"

static const char *const NUMBER =
    "309956685010881989143608686589428970929278922065031198706478";
static const char *const QR_HEX = "00beb02b8f53c7ce2ed222451045272184c49e68c2b381e8613647"
                                  "5b76be1daf0ea60888a0b1dac40c464c1ec4"
                                  "f60f0a59e93d6de7686ca5ec13e1d680cb4efa20";
static const char *const FP_A_HEX = "beb02b8f53c7ce2ed222451045272184c49e68c2b381e8613647"
                                    "5b76be1daf0e8bd4eca15686fd0de9f6b07204"
                                    "97ffe56bd5ef19d48f257a149a356a4e56bc61";

static void unhex(uint8_t *out, const char *hex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void keys(uint8_t a[32], uint8_t b[32])
{
    for (int i = 0; i < 32; i++) {
        a[i] = (uint8_t)i;
        b[i] = (uint8_t)(32 + i);
    }
}

static void test_pinned_and_symmetric(void **state)
{
    (void)state;
    uint8_t a[32], b[32], fp[64], want_fp[64], qr1[65], qr2[65], want_qr[65];
    char n1[61], n2[61], grouped[72], disp[31];
    keys(a, b);
    assert_int_equal(vt_safety_fingerprint(fp, a, (const uint8_t *)"alice", 5), VT_OK);
    unhex(want_fp, FP_A_HEX, 64);
    assert_memory_equal(fp, want_fp, 64);
    vt_safety_displayable(disp, fp);
    assert_string_equal(disp, "309956685010881989143608686589");
    assert_int_equal(vt_safety_compute(n1, sizeof n1, false, qr1, a,
                                       (const uint8_t *)"alice", 5, b,
                                       (const uint8_t *)"bob", 3),
                     VT_OK);
    assert_int_equal(vt_safety_compute(n2, sizeof n2, false, qr2, b,
                                       (const uint8_t *)"bob", 3, a,
                                       (const uint8_t *)"alice", 5),
                     VT_OK);
    assert_string_equal(n1, NUMBER);
    assert_string_equal(n2, NUMBER);
    unhex(want_qr, QR_HEX, 65);
    assert_memory_equal(qr1, want_qr, 65);
    assert_memory_equal(qr2, want_qr, 65);
    assert_int_equal(vt_safety_compute(grouped, sizeof grouped, true, NULL, a,
                                       (const uint8_t *)"alice", 5, b,
                                       (const uint8_t *)"bob", 3),
                     VT_OK);
    assert_int_equal(strlen(grouped), 71);
    assert_memory_equal(grouped, "30995 66850 10881", 17);
    assert_int_equal(vt_safety_compute(n1, 60, false, NULL, a, (const uint8_t *)"alice",
                                       5, b, (const uint8_t *)"bob", 3),
                     VT_ERR_BUFFER_TOO_SMALL);
    /* The username and the key both matter. */
    assert_int_equal(vt_safety_compute(n2, sizeof n2, false, NULL, a,
                                       (const uint8_t *)"alicf", 5, b,
                                       (const uint8_t *)"bob", 3),
                     VT_OK);
    assert_string_not_equal(n2, NUMBER);
    /* Same device twice: equal halves, stable. */
    assert_int_equal(vt_safety_compute(n1, sizeof n1, false, qr1, a,
                                       (const uint8_t *)"alice", 5, a,
                                       (const uint8_t *)"alice", 5),
                     VT_OK);
    assert_memory_equal(n1, n1 + 30, 30);
}

static void test_qr_match(void **state)
{
    (void)state;
    uint8_t a[32], b[32], qr[65];
    keys(a, b);
    unhex(qr, QR_HEX, 65);
    assert_true(vt_safety_qr_matches(qr, 65, b, (const uint8_t *)"bob", 3, a,
                                     (const uint8_t *)"alice", 5));
    assert_false(vt_safety_qr_matches(qr, 64, a, (const uint8_t *)"alice", 5, b,
                                      (const uint8_t *)"bob", 3));
    qr[64] ^= 1;
    assert_false(vt_safety_qr_matches(qr, 65, a, (const uint8_t *)"alice", 5, b,
                                      (const uint8_t *)"bob", 3));
    qr[64] ^= 1;
    qr[0] = 1;
    assert_false(vt_safety_qr_matches(qr, 65, a, (const uint8_t *)"alice", 5, b,
                                      (const uint8_t *)"bob", 3));
}

static void test_padding(void **state)
{
    (void)state;
    /* p for every B up to three blocks: the result is a multiple of 160,
     * p >= 1 unless B is a positive multiple, p <= 159 except B % 160 == 30
     * (p = 287), and no smaller p works (CRYPTO-130). */
    for (size_t b = 0; b < 480; b++) {
        size_t p = vt_content_padding_len(b);
        if (b > 0 && b % VT_PADDING_BLOCK == 0) {
            assert_int_equal(p, 0);
            continue;
        }
        size_t vl = p < 128 ? 1 : 2;
        assert_int_equal((b + 1 + vl + p) % VT_PADDING_BLOCK, 0);
        if (b % VT_PADDING_BLOCK == 30)
            assert_int_equal(p, 287);
        else
            assert_true(p >= 1 && p <= 159);
    }
    /* B = 0: 1 + 2 + 157 = 160 (158 would need a two-byte length: 161). */
    assert_int_equal(vt_content_padding_len(0), 157);
    /* A DataMessage {text: "hi"}: 0a 04 0a 02 68 69 -> 160 bytes. */
    const uint8_t content[] = {0x0a, 0x04, 0x0a, 0x02, 0x68, 0x69};
    uint8_t out[640], back[640];
    size_t len, blen;
    assert_int_equal(vt_content_pad(out, sizeof out, &len, content, sizeof content),
                     VT_OK);
    assert_int_equal(len, 160);
    assert_memory_equal(out, content, sizeof content);
    assert_int_equal(out[6], 0x7a);
    /* p = 151: 6 + 1 + 2 + 151 = 160 (152 would need two length bytes). */
    assert_int_equal(out[7], 0x80 | (151 & 0x7f));
    assert_int_equal(out[8], 151 >> 7);
    for (size_t i = 9; i < len; i++)
        assert_int_equal(out[i], 0);
    assert_int_equal(vt_content_unpad(back, sizeof back, &blen, out, len), VT_OK);
    assert_int_equal(blen, sizeof content);
    assert_memory_equal(back, content, blen);
    /* Padding again replaces the old field 15; odd padding is ignored. */
    uint8_t again[640];
    size_t alen;
    assert_int_equal(vt_content_pad(again, sizeof again, &alen, out, len), VT_OK);
    assert_int_equal(alen, len);
    assert_memory_equal(again, out, len);
    const uint8_t odd[] = {0x7a, 0x02, 0xff, 0x01, 0x0a, 0x00};
    assert_int_equal(vt_content_unpad(back, sizeof back, &blen, odd, sizeof odd), VT_OK);
    assert_int_equal(blen, 2);
    assert_int_equal(back[0], 0x0a);
    /* Malformed input and small buffers. */
    const uint8_t bad[] = {0x0a, 0x05, 0x01};
    assert_int_equal(vt_content_pad(out, sizeof out, &len, bad, sizeof bad),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vt_content_unpad(out, sizeof out, &len, bad, sizeof bad),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vt_content_pad(out, 100, &len, content, sizeof content),
                     VT_ERR_BUFFER_TOO_SMALL);
    /* An empty Content gets p = 157 (B = 0 is not a positive multiple). */
    assert_int_equal(vt_content_pad(out, sizeof out, &len, NULL, 0), VT_OK);
    assert_int_equal(len, 160);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinned_and_symmetric),
        cmocka_unit_test(test_qr_match),
        cmocka_unit_test(test_padding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
