/* Hostile input for the framing layer (lib/src/frame_*.c): every valid wire
 * vector of type Frame, mutated thousands of ways (bit flips, truncations,
 * inserted and deleted bytes, rewritten length and tag bytes), must get the
 * same verdict from the protobuf-c path (server) and the nanopb path
 * (client), never crash or leak, and when accepted decode to the same
 * values through both (spec/wire.md WIRE-20 to WIRE-24, WIRE-60, WIRE-61). */
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

#include "ventra/frame.h"
#include "vt_constants.h"

#define MUTATIONS_PER_VECTOR 2000
#define MAX_BYTES 4096 /* larger vectors (at-limit cases) are skipped */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

/* xorshift64*: a reproducible schedule, not for keys. */
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t unhex(uint8_t *out, size_t cap, const char *hex)
{
    size_t n = strlen(hex) / 2;
    if (n > cap)
        return SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t)b;
    }
    return n;
}

/* One random edit of |buf| (|*len| bytes, room for MAX_BYTES). */
static void mutate(uint8_t *buf, size_t *len)
{
    size_t n = *len;
    size_t at = n ? (size_t)(rng() % n) : 0;
    switch (rng() % 6) {
    case 0: /* flip one bit */
        if (n)
            buf[at] ^= (uint8_t)(1u << (rng() % 8));
        break;
    case 1: /* truncate */
        *len = at;
        break;
    case 2: /* insert a byte */
        if (n < MAX_BYTES) {
            memmove(buf + at + 1, buf + at, n - at);
            buf[at] = (uint8_t)rng();
            *len = n + 1;
        }
        break;
    case 3: /* delete a byte */
        if (n) {
            memmove(buf + at, buf + at + 1, n - at - 1);
            *len = n - 1;
        }
        break;
    case 4: /* a small integer where a length or tag may sit */
        if (n)
            buf[at] = (uint8_t)(rng() % 0x90);
        break;
    default: /* a continuation bit, as in overlong varints */
        if (n)
            buf[at] |= 0x80;
        break;
    }
}

/* True when a decoded frame carries a SendRequest, whose envelopes nanopb
 * streams through callbacks and so does not re-encode by itself. */
static bool has_send(const ventra_v1_Frame *f)
{
    return f->which_kind == ventra_v1_Frame_request_tag &&
           f->kind.request.which_body == ventra_v1_Request_send_tag;
}

static void check_one(const uint8_t *buf, size_t len, ventra_v1_Frame *nf, uint8_t *a,
                      uint8_t *b, unsigned *accepted)
{
    Ventra__V1__Frame *pf = NULL;
    vt_err ep = vt_frame_decode_pbc(buf, len, VT_MAX_FRAME_SIZE, &pf);
    vt_err en = vt_frame_decode_nanopb(buf, len, VT_MAX_FRAME_SIZE, nf);
    if (ep != en) {
        char hex[2 * 64 + 1] = "";
        for (size_t i = 0; i < len && i < 64; i++)
            sprintf(hex + 2 * i, "%02x", buf[i]);
        fail_msg("codecs disagree: protobuf-c %s, nanopb %s on %zu bytes %s...",
                 vt_strerror(ep), vt_strerror(en), len, hex);
    }
    if (ep == VT_OK) {
        (*accepted)++;
        size_t la = 0, lb = 0;
        assert_int_equal(vt_frame_encode_pbc(pf, a, MAX_BYTES * 2, &la), VT_OK);
        /* protobuf-c keeps unknown fields and nanopb drops them, so compare
         * values through nanopb: re-read protobuf-c's re-encoding with nanopb
         * and it must encode to what nanopb made of the original. */
        if (!has_send(nf)) {
            assert_int_equal(vt_frame_encode_nanopb(nf, b, MAX_BYTES * 2, &lb), VT_OK);
            assert_int_equal(vt_frame_decode_nanopb(a, la, VT_MAX_FRAME_SIZE, nf), VT_OK);
            assert_int_equal(vt_frame_encode_nanopb(nf, a, MAX_BYTES * 2, &la), VT_OK);
            assert_int_equal(la, lb);
            assert_memory_equal(a, b, la);
        }
    }
    vt_frame_free_pbc(pf);
}

static void run_file(const char *path, unsigned *vectors, unsigned *cases,
                     unsigned *accepted)
{
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);
    if (root == NULL)
        fail_msg("%s:%d: %s", path, error.line, error.text);
    ventra_v1_Frame *nf = malloc(sizeof(*nf)); /* ~17 KiB: not on the stack */
    uint8_t *buf = malloc(MAX_BYTES + 1), *a = malloc(2 * MAX_BYTES), *b = malloc(2 * MAX_BYTES);
    assert_true(nf && buf && a && b);

    size_t gi, ti;
    json_t *group, *test;
    json_array_foreach(json_object_get(root, "testGroups"), gi, group)
    {
        const char *type = json_string_value(json_object_get(group, "messageType"));
        if (type == NULL || strcmp(type, "ventra.v1.Frame") != 0)
            continue;
        json_array_foreach(json_object_get(group, "tests"), ti, test)
        {
            const char *hex = json_string_value(json_object_get(test, "encoded"));
            uint8_t orig[MAX_BYTES];
            size_t n = unhex(orig, sizeof(orig), hex);
            if (n == SIZE_MAX)
                continue;
            (*vectors)++;
            for (int m = 0; m < MUTATIONS_PER_VECTOR; m++) {
                size_t len = n;
                memcpy(buf, orig, n);
                /* One to three edits on top of each other. */
                for (int k = 0, edits = 1 + (int)(rng() % 3); k < edits; k++)
                    mutate(buf, &len);
                check_one(buf, len, nf, a, b, accepted);
                (*cases)++;
            }
        }
    }
    free(nf);
    free(buf);
    free(a);
    free(b);
    json_decref(root);
}

static void test_mutated_frames(void **state)
{
    (void)state;
    static const char *const files[] = {
        "conformance/vectors/wire/requests.json",
        "conformance/vectors/wire/responses.json",
        "conformance/vectors/wire/events.json",
        "conformance/vectors/wire/invalid.json",
    };
    unsigned vectors = 0, cases = 0, accepted = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        run_file(files[i], &vectors, &cases, &accepted);
    printf("frame mutations: %u vectors, %u mutated frames, %u accepted by both codecs, "
           "%u refused by both with the same error\n",
           vectors, cases, accepted, cases - accepted);
    assert_true(vectors > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutated_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
