/* The crypto vectors (conformance/vectors/crypto, the *.json files, written by the
 * independent Python oracle; format in FORMAT.md there) run through
 * libventra by the conformance runner (conformance/src/vectors_crypto.c):
 * spec/crypto.md, spec/auth.md. Every case must pass; every disagreement is
 * listed before the test fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vectors.h"
#include "ventra/crypto.h"

#define VECTOR_DIR "conformance/vectors/crypto"

typedef struct tally {
    int files;    /* distinct vector files */
    int checked;  /* test cases run */
    int failures; /* failed cases, file-level problems included */
    char last_file[256];
} tally;

static void on_case(const vt_conform_case *c, void *ud)
{
    tally *t = ud;
    if (strcmp(c->file, t->last_file) != 0) {
        snprintf(t->last_file, sizeof t->last_file, "%s", c->file);
        t->files++;
    }
    if (c->id != NULL)
        t->checked++;
    if (c->result != VT_CONFORM_PASS) {
        fprintf(stderr, "MISMATCH %s: %s\n", c->id != NULL ? c->id : c->file, c->detail);
        t->failures++;
    }
}

static void test_crypto_vectors(void **state)
{
    (void)state;
    tally t = {0};
    assert_int_equal(vt_crypto_init(), VT_OK);
    int failed = vt_conform_crypto_run(VECTOR_DIR, on_case, &t);
    fprintf(stderr, "crypto vectors: %d files, %d tests, %d mismatches\n", t.files,
            t.checked, t.failures);
    assert_int_equal(failed, t.failures);
    assert_true(t.files > 0);
    assert_true(t.checked > 0);
    assert_int_equal(t.failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypto_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
