/* The wire vectors (conformance/vectors/wire/ JSON files) against both codecs and
 * against protoc, run by the conformance runner (conformance/src/vectors_wire.c):
 * spec/wire.md, Framing and Limits (WIRE-20, WIRE-24). Valid vectors must
 * decode to the same values in protobuf-c and nanopb, re-encode to the same
 * bytes with both and print as their "text" with protoc --decode; invalid
 * ones must be refused by both with exactly their "error". Also the nanopb
 * envelope collector those checks use, at and beyond its bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <pb_encode.h>

#include "vectors.h"
#include "vectors_int.h"
#include "ventra/frame.h"
#include "ventra/v1/e2e.pb.h"
#include "vt_constants.h"

#define VECTOR_DIR "conformance/vectors/wire"

/* Per file: cases passed by result; a failure is printed and counted. */
typedef struct tally {
    char file[256];
    size_t valid;
    size_t invalid;
    size_t failures;
    size_t files;
} tally;

static void flush_file(tally *t)
{
    if (t->file[0] != '\0')
        printf("%s: %zu valid, %zu invalid passed\n", t->file, t->valid, t->invalid);
}

static void on_case(const vt_conform_case *c, void *ud)
{
    tally *t = ud;
    if (strcmp(c->file, t->file) != 0) {
        flush_file(t);
        snprintf(t->file, sizeof t->file, "%s", c->file);
        t->valid = t->invalid = 0;
        t->files++;
    }
    if (c->result != VT_CONFORM_PASS) {
        fprintf(stderr, "FAIL %s#%lld %s: %s\n", c->file, c->tc_id,
                c->id != NULL ? c->id : "(file)", c->detail);
        t->failures++;
    } else if (c->expected != NULL && strcmp(c->expected, "valid") == 0) {
        t->valid++;
    } else {
        t->invalid++;
    }
}

static void test_wire_vectors(void **state)
{
    (void)state;
    tally t = {0};
    int failed = vt_conform_wire_run(VECTOR_DIR, on_case, &t);
    flush_file(&t);
    assert_true(t.files > 0);
    assert_int_equal(failed, t.failures);
    assert_int_equal(t.failures, 0);
}

/* Encodes with nanopb a Send frame holding |nr| to_recipient and |nself|
 * to_self envelopes, written by np_encode_env(); returns a new buffer. */
static uint8_t *np_send_frame(pb_size_t nr, pb_size_t nself, size_t *len)
{
    ventra_v1_Frame *f = calloc(1, sizeof *f);
    ventra_v1_OutgoingEnvelope *src = calloc((size_t)nr + nself + 1, sizeof *src);
    assert_non_null(f);
    assert_non_null(src);
    for (pb_size_t i = 0; i < nr + nself; i++) {
        src[i].device_id = 1u + i;
        src[i].type = ventra_v1_EnvelopeType_ENVELOPE_TYPE_MESSAGE;
        src[i].content.size = 2;
        src[i].content.bytes[0] = (uint8_t)(0xc0 + i);
        src[i].content.bytes[1] = (uint8_t)i;
    }
    np_send srcs = {{src, nr, nr}, {src + nr, nself, nself}};
    f->which_kind = ventra_v1_Frame_request_tag;
    f->kind.request.id = 7;
    f->kind.request.which_body = ventra_v1_Request_send_tag;
    ventra_v1_SendRequest *s = &f->kind.request.body.send;
    s->message_id.size = 16;
    memset(s->message_id.bytes, 0x5a, 16);
    strcpy(s->recipient, "bob");
    vt_conform_np_set_encode(s, &srcs);
    size_t need = 0;
    assert_int_equal(vt_frame_size_nanopb(f, &need), VT_OK);
    uint8_t *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(vt_frame_encode_nanopb(f, buf, need, len), VT_OK);
    assert_int_equal(*len, need);
    free(src);
    free(f);
    return buf;
}

/* The envelope collector used for the Send vectors: it reads every
 * envelope at the bounds, writes them back byte for byte, and refuses one
 * envelope more than max_count in either list. */
static void test_nanopb_send_collector(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = np_send_frame(NP_TO_RECIPIENT_MAX, NP_TO_SELF_MAX, &len);
    ventra_v1_Frame *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(vt_frame_decode_nanopb(buf, len, VT_MAX_FRAME_SIZE, f), VT_OK);
    np_send ns;
    const char *why = NULL;
    assert_true(vt_conform_np_collect_send(buf, len, f, &ns, &why));
    assert_int_equal(ns.to_recipient.count, NP_TO_RECIPIENT_MAX);
    assert_int_equal(ns.to_self.count, NP_TO_SELF_MAX);
    assert_int_equal(vt_conform_np_to_recipient[0].device_id, 1);
    assert_int_equal(vt_conform_np_to_self[NP_TO_SELF_MAX - 1].device_id,
                     NP_TO_RECIPIENT_MAX + NP_TO_SELF_MAX);
    assert_int_equal(vt_conform_np_to_self[0].content.size, 2);
    assert_int_equal(vt_conform_np_to_self[0].content.bytes[0],
                     0xc0 + NP_TO_RECIPIENT_MAX);
    uint8_t *out = malloc(len);
    assert_non_null(out);
    size_t out_len = 0;
    assert_int_equal(vt_frame_encode_nanopb(f, out, len, &out_len), VT_OK);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, buf, len);
    free(out);
    free(buf);

    /* One over, in each list: the frame decode refuses it by the bounds
     * check, and so does the collector on its own. */
    static const pb_size_t over[2][2] = {{NP_TO_RECIPIENT_MAX + 1, 0},
                                         {0, NP_TO_SELF_MAX + 1}};
    for (size_t i = 0; i < 2; i++) {
        buf = np_send_frame(over[i][0], over[i][1], &len);
        assert_int_equal(vt_frame_decode_nanopb(buf, len, VT_MAX_FRAME_SIZE, f),
                         VT_ERR_TOO_LARGE);
        memset(f, 0, sizeof *f);
        f->which_kind = ventra_v1_Frame_request_tag;
        f->kind.request.which_body = ventra_v1_Request_send_tag;
        why = NULL;
        assert_false(vt_conform_np_collect_send(buf, len, f, &ns, &why));
        assert_non_null(why);
        assert_non_null(strstr(why, "envelope array overflow"));
        free(buf);
    }
    free(f);
}

/* The files the suite promises exist (a missing one must fail, not skip). */
static void test_expected_files_present(void **state)
{
    (void)state;
    static const char *const want[] = {"requests", "responses", "events", "e2e",
                                       "invalid"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.json", VECTOR_DIR, want[i]);
        json_error_t jerr;
        json_t *root = json_load_file(path, 0, &jerr);
        if (root == NULL) {
            fail_msg("%s: %s", path, jerr.text);
        }
        assert_true(json_integer_value(json_object_get(root, "numberOfTests")) > 0);
        json_decref(root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expected_files_present),
        cmocka_unit_test(test_nanopb_send_collector),
        cmocka_unit_test(test_wire_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
