/* Tests of lib framing (ventra/frame.h): both codecs round-trip, and refuse
 * the same malformed, oversize and kind-less inputs with the same error
 * (spec/wire.md, Framing and Limits; WIRE-20, WIRE-24). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ventra/frame.h"
#include "ventra/v1/e2e.pb-c.h"
#include "ventra/v1/e2e.pb.h"
#include "vt_constants.h"

/* Frame{request{id: 7, ping{nonce: 300}}} */
static const uint8_t ping_frame[] = {0x0a, 0x07, 0x08, 0x07, 0x5a, 0x03, 0x08, 0xac, 0x02};

static ventra_v1_Frame *new_nanopb_frame(void)
{
    ventra_v1_Frame *f = calloc(1, sizeof *f); /* ~17 KB: never on the stack */
    assert_non_null(f);
    return f;
}

/* Decodes |buf| with both codecs, checks they agree and returns the error. */
static vt_err decode_both(const uint8_t *buf, size_t len, size_t max)
{
    Ventra__V1__Frame *sentinel = (Ventra__V1__Frame *)(uintptr_t)0x1;
    Ventra__V1__Frame *pf = sentinel;
    ventra_v1_Frame *nf = new_nanopb_frame();
    vt_err e1 = vt_frame_decode_pbc(buf, len, max, &pf);
    vt_err e2 = vt_frame_decode_nanopb(buf, len, max, nf);
    assert_int_equal(e1, e2);
    if (e1 == VT_OK) {
        assert_ptr_not_equal(pf, sentinel);
        vt_frame_free_pbc(pf);
    } else {
        assert_ptr_equal(pf, sentinel); /* untouched on failure */
        assert_int_equal(nf->which_kind, 0);
    }
    free(nf);
    return e1;
}

static void test_pbc_round_trip(void **state)
{
    (void)state;
    Ventra__V1__Frame *f = NULL;
    assert_int_equal(vt_frame_decode_pbc(ping_frame, sizeof ping_frame, VT_MAX_FRAME_SIZE, &f),
                     VT_OK);
    assert_int_equal(f->kind_case, VENTRA__V1__FRAME__KIND_REQUEST);
    assert_int_equal(f->request->id, 7);
    assert_int_equal(f->request->body_case, VENTRA__V1__REQUEST__BODY_PING);
    assert_int_equal(f->request->ping->nonce, 300);
    assert_int_equal(vt_frame_size_pbc(f), sizeof ping_frame);

    uint8_t out[64];
    size_t n = 0;
    assert_int_equal(vt_frame_encode_pbc(f, out, sizeof out, &n), VT_OK);
    assert_int_equal(n, sizeof ping_frame);
    assert_memory_equal(out, ping_frame, n);

    /* One byte short: refused, nothing written, size reported. */
    memset(out, 0xee, sizeof out);
    assert_int_equal(vt_frame_encode_pbc(f, out, sizeof ping_frame - 1, &n),
                     VT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, sizeof ping_frame);
    assert_int_equal(out[0], 0xee);
    vt_frame_free_pbc(f);
    vt_frame_free_pbc(NULL);
}

static void test_nanopb_round_trip(void **state)
{
    (void)state;
    ventra_v1_Frame *f = new_nanopb_frame();
    assert_int_equal(vt_frame_decode_nanopb(ping_frame, sizeof ping_frame, VT_MAX_FRAME_SIZE, f),
                     VT_OK);
    assert_int_equal(f->which_kind, ventra_v1_Frame_request_tag);
    assert_int_equal(f->kind.request.id, 7);
    assert_int_equal(f->kind.request.which_body, ventra_v1_Request_ping_tag);
    assert_int_equal(f->kind.request.body.ping.nonce, 300);

    size_t n = 0;
    assert_int_equal(vt_frame_size_nanopb(f, &n), VT_OK);
    assert_int_equal(n, sizeof ping_frame);
    uint8_t out[64];
    assert_int_equal(vt_frame_encode_nanopb(f, out, sizeof out, &n), VT_OK);
    assert_int_equal(n, sizeof ping_frame);
    assert_memory_equal(out, ping_frame, n);
    assert_int_equal(vt_frame_encode_nanopb(f, out, 3, &n), VT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, sizeof ping_frame);

    /* A count over its array cannot be encoded. */
    f->which_kind = ventra_v1_Frame_response_tag;
    memset(&f->kind.response, 0, sizeof f->kind.response);
    f->kind.response.has_error = true;
    f->kind.response.error.stale_count = 3;
    assert_int_equal(vt_frame_encode_nanopb(f, out, sizeof out, &n), VT_ERR_INVALID_ARGUMENT);
    free(f);
}

static void test_max_frame_size(void **state)
{
    (void)state;
    assert_int_equal(decode_both(ping_frame, sizeof ping_frame, sizeof ping_frame), VT_OK);
    assert_int_equal(decode_both(ping_frame, sizeof ping_frame, sizeof ping_frame - 1),
                     VT_ERR_TOO_LARGE);
    /* Over the size limit is refused before the bytes are looked at. */
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(decode_both(junk, sizeof junk, 2), VT_ERR_TOO_LARGE);
}

static void test_every_truncation(void **state)
{
    (void)state;
    assert_int_equal(decode_both(ping_frame, 0, VT_MAX_FRAME_SIZE), VT_ERR_UNKNOWN_FRAME_KIND);
    for (size_t n = 1; n < sizeof ping_frame; n++) {
        assert_int_equal(decode_both(ping_frame, n, VT_MAX_FRAME_SIZE), VT_ERR_MALFORMED_FRAME);
    }
}

static void test_no_kind(void **state)
{
    (void)state;
    static const uint8_t unknown_varint[] = {0x20, 0x01};        /* field 4 = 1 */
    static const uint8_t unknown_fixed64[] = {0x79, 1, 2, 3, 4, 5, 6, 7, 8}; /* field 15 */
    static const uint8_t unknown_fixed32[] = {0x7d, 1, 2, 3, 4};
    assert_int_equal(decode_both(NULL, 0, VT_MAX_FRAME_SIZE), VT_ERR_UNKNOWN_FRAME_KIND);
    assert_int_equal(decode_both(unknown_varint, sizeof unknown_varint, VT_MAX_FRAME_SIZE),
                     VT_ERR_UNKNOWN_FRAME_KIND);
    assert_int_equal(decode_both(unknown_fixed64, sizeof unknown_fixed64, VT_MAX_FRAME_SIZE),
                     VT_ERR_UNKNOWN_FRAME_KIND);
    assert_int_equal(decode_both(unknown_fixed32, sizeof unknown_fixed32, VT_MAX_FRAME_SIZE),
                     VT_ERR_UNKNOWN_FRAME_KIND);
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        uint8_t b[16];
        size_t n;
    } cases[] = {
        {{0x0a, 0x0c, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 14},
        {{0x0a, 0x02, 0x08, 0xff}, 4},                         /* varint cut short */
        {{0x0a, 0x06, 0x08, 0x80, 0x80, 0x80, 0x80, 0x10}, 8}, /* id = 2^32 */
        {{0x08, 0x01}, 2},                                     /* request as varint */
        {{0x0a, 0x05, 0x0d, 1, 0, 0, 0}, 7},                   /* id as fixed32 */
        {{0x0a, 0x02, 0x23, 0x24}, 4},                         /* group */
        {{0x0a, 0x02, 0x00, 0x00}, 4},                         /* field 0 */
        {{0x0a, 0x05, 0x08, 0x01}, 4},                         /* length past end */
        {{0x0a, 0x01, 0x8a}, 3},                               /* tag cut short */
        /* session_ended.reason = -1 (sign-extended): enums are 0..2^31-1 */
        {{0x1a, 0x0d, 0x72, 0x0b, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0x01},
         15},
        {{0x1a, 0x05, 0x72, 0x03, 0x08, 0x01, 0x2f}, 7}, /* wire type 7 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(decode_both(cases[i].b, cases[i].n, VT_MAX_FRAME_SIZE),
                         VT_ERR_MALFORMED_FRAME);
    }
}

/* Frame{event{message{sender: s}}} with |s| given as raw bytes. */
static vt_err sender(const char *s, size_t n)
{
    uint8_t b[64];
    assert_true(n < 40);
    b[0] = 0x1a;
    b[1] = (uint8_t)(n + 4);
    b[2] = 0x52;
    b[3] = (uint8_t)(n + 2);
    b[4] = 0x12;
    b[5] = (uint8_t)n;
    memcpy(b + 6, s, n);
    return decode_both(b, n + 6, VT_MAX_FRAME_SIZE);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_int_equal(sender("bob", 3), VT_OK);
    assert_int_equal(sender("\xc3\xa9", 2), VT_OK);                  /* U+00E9 */
    assert_int_equal(sender("\xe2\x82\xac", 3), VT_OK);              /* U+20AC */
    assert_int_equal(sender("\xf4\x8f\xbf\xbf", 4), VT_OK);          /* U+10FFFF */
    assert_int_equal(sender("\xc3\x28", 2), VT_ERR_MALFORMED_FRAME); /* bad continuation */
    assert_int_equal(sender("\xc0\xaf", 2), VT_ERR_MALFORMED_FRAME); /* overlong */
    assert_int_equal(sender("\xe0\x80\xaf", 3), VT_ERR_MALFORMED_FRAME);
    assert_int_equal(sender("\xed\xa0\x80", 3), VT_ERR_MALFORMED_FRAME);     /* surrogate */
    assert_int_equal(sender("\xf4\x90\x80\x80", 4), VT_ERR_MALFORMED_FRAME); /* > U+10FFFF */
    assert_int_equal(sender("\xe2\x82", 2), VT_ERR_MALFORMED_FRAME);         /* cut short */
    assert_int_equal(sender("\x80", 1), VT_ERR_MALFORMED_FRAME);
    assert_int_equal(sender("\xff", 1), VT_ERR_MALFORMED_FRAME);
    assert_int_equal(sender("a\0b", 3), VT_ERR_MALFORMED_FRAME); /* U+0000 */
    /* 32 bytes is the bound, 33 is over it. */
    assert_int_equal(sender("abcdefghijklmnopqrstuvwxyzabcdef", 32), VT_OK);
    assert_int_equal(sender("abcdefghijklmnopqrstuvwxyzabcdefg", 33), VT_ERR_TOO_LARGE);
    /* Malformed wins over too large: 33 bytes ending in a bad byte. */
    assert_int_equal(sender("abcdefghijklmnopqrstuvwxyzabcdef\xff", 33), VT_ERR_MALFORMED_FRAME);
}

/* Frame{request{id: 1, send{to_recipient x |n|}}}: nanopb keeps these
 * envelopes as callback fields, yet both codecs enforce the count. */
static vt_err send_with_envelopes(size_t n)
{
    uint8_t b[64];
    size_t send_len = n * 4; /* each: 1a 02 08 0k */
    size_t req_len = 2 + 2 + 1 + send_len;
    b[0] = 0x0a;
    b[1] = (uint8_t)req_len;
    b[2] = 0x08;
    b[3] = 0x01;
    b[4] = 0xc2; /* field 40, wire type 2 */
    b[5] = 0x02;
    b[6] = (uint8_t)send_len;
    for (size_t i = 0; i < n; i++) {
        b[7 + 4 * i] = 0x1a;
        b[8 + 4 * i] = 0x02;
        b[9 + 4 * i] = 0x08;
        b[10 + 4 * i] = (uint8_t)(i + 1);
    }
    return decode_both(b, 7 + send_len, VT_MAX_FRAME_SIZE);
}

static void test_callback_field_bounds(void **state)
{
    (void)state;
    assert_int_equal(send_with_envelopes(6), VT_OK);
    assert_int_equal(send_with_envelopes(7), VT_ERR_TOO_LARGE);
}

static void test_pbc_encode_refuses_over_bound(void **state)
{
    (void)state;
    Ventra__V1__Frame f = VENTRA__V1__FRAME__INIT;
    Ventra__V1__Request req = VENTRA__V1__REQUEST__INIT;
    Ventra__V1__ListDevicesRequest ld = VENTRA__V1__LIST_DEVICES_REQUEST__INIT;
    char name[34];
    memset(name, 'a', 33);
    name[33] = '\0';
    ld.username = name;
    req.id = 1;
    req.body_case = VENTRA__V1__REQUEST__BODY_LIST_DEVICES;
    req.list_devices = &ld;
    f.kind_case = VENTRA__V1__FRAME__KIND_REQUEST;
    f.request = &req;
    uint8_t out[128];
    size_t n = 0;
    assert_int_equal(vt_frame_encode_pbc(&f, out, sizeof out, &n), VT_ERR_TOO_LARGE);
    name[32] = '\0';
    assert_int_equal(vt_frame_encode_pbc(&f, out, sizeof out, &n), VT_OK);
    assert_int_equal(decode_both(out, n, VT_MAX_FRAME_SIZE), VT_OK);
}

static void test_generic_payload(void **state)
{
    (void)state;
    /* Content{typing{action: STARTED, at_ms: 5}, padding: 00 00} */
    static const uint8_t content[] = {0x1a, 0x04, 0x08, 0x01, 0x10, 0x05, 0x7a, 0x02, 0x00, 0x00};
    ProtobufCMessage *pm = NULL;
    assert_int_equal(vt_msg_decode_pbc(&ventra__v1__content__descriptor, content,
                                       sizeof content, 1024, &pm),
                     VT_OK);
    Ventra__V1__Content *c = (Ventra__V1__Content *)pm;
    assert_int_equal(c->body_case, VENTRA__V1__CONTENT__BODY_TYPING);
    assert_int_equal(c->typing->at_ms, 5);
    uint8_t out[32];
    size_t n = 0;
    assert_int_equal(vt_msg_encode_pbc(pm, out, sizeof out, &n), VT_OK);
    assert_int_equal(n, sizeof content);
    assert_memory_equal(out, content, n);
    vt_msg_free_pbc(pm);
    vt_msg_free_pbc(NULL);

    ventra_v1_Content *nc = calloc(1, sizeof *nc);
    assert_non_null(nc);
    assert_int_equal(vt_msg_decode_nanopb(&ventra__v1__content__descriptor,
                                          ventra_v1_Content_fields, content, sizeof content,
                                          1024, nc),
                     VT_OK);
    assert_int_equal(nc->which_body, ventra_v1_Content_typing_tag);
    assert_int_equal(nc->body.typing.action, ventra_v1_TypingAction_TYPING_ACTION_STARTED);
    assert_int_equal(vt_msg_encode_nanopb(ventra_v1_Content_fields, nc, out, sizeof out, &n),
                     VT_OK);
    assert_int_equal(n, sizeof content);
    assert_memory_equal(out, content, n);

    /* No kind check for payloads: the empty message is a valid Content. */
    pm = NULL;
    assert_int_equal(vt_msg_decode_pbc(&ventra__v1__content__descriptor, NULL, 0, 1024, &pm),
                     VT_OK);
    vt_msg_free_pbc(pm);
    assert_int_equal(vt_msg_decode_nanopb(&ventra__v1__content__descriptor,
                                          ventra_v1_Content_fields, NULL, 0, 1024, nc),
                     VT_OK);
    /* Size limit applies to payloads too. */
    assert_int_equal(vt_msg_decode_nanopb(&ventra__v1__content__descriptor,
                                          ventra_v1_Content_fields, content, sizeof content,
                                          sizeof content - 1, nc),
                     VT_ERR_TOO_LARGE);
    free(nc);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    Ventra__V1__Frame *pf = NULL;
    ventra_v1_Frame *nf = new_nanopb_frame();
    size_t n = 0;
    uint8_t out[8];
    assert_int_equal(vt_frame_decode_pbc(ping_frame, sizeof ping_frame, 1024, NULL),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vt_frame_decode_pbc(NULL, 3, 1024, &pf), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vt_frame_decode_nanopb(ping_frame, sizeof ping_frame, 1024, NULL),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vt_frame_decode_nanopb(NULL, 3, 1024, nf), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vt_frame_encode_pbc(NULL, out, sizeof out, &n), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vt_frame_encode_nanopb(NULL, out, sizeof out, &n), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vt_frame_encode_nanopb(nf, out, sizeof out, NULL), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vt_msg_decode_pbc(NULL, ping_frame, 1, 1024, (ProtobufCMessage **)&pf),
                     VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vt_frame_size_pbc(NULL), 0);
    assert_null(pf);
    free(nf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pbc_round_trip),
        cmocka_unit_test(test_nanopb_round_trip),
        cmocka_unit_test(test_max_frame_size),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_no_kind),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_callback_field_bounds),
        cmocka_unit_test(test_pbc_encode_refuses_over_bound),
        cmocka_unit_test(test_generic_payload),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
