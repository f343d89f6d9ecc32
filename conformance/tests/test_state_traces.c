/* The state-machine traces (conformance/vectors/state/, format in
 * FORMAT.md there) replayed on the generated tables of spec/state/ by the
 * conformance runner (conformance/src/vectors_state.c). Every committed
 * trace must pass; a trace changed in one step, or naming a state, event,
 * guard or action the table lacks, must fail exactly that case, saying which
 * step and what the table did. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "vectors.h"

#define VECTOR_DIR "conformance/vectors/state"

typedef struct tally {
    int files;
    int passed;
    int failed;
    long long failed_tc; /* tcId of the last failed case */
    char failed_file[128];
    char detail[2048]; /* detail of the last failed case */
    char last_file[128];
} tally;

static void on_case(const vt_conform_case *c, void *ud)
{
    tally *t = ud;
    if (strcmp(c->file, t->last_file) != 0) {
        snprintf(t->last_file, sizeof t->last_file, "%s", c->file);
        t->files++;
    }
    if (c->result == VT_CONFORM_PASS) {
        t->passed++;
        return;
    }
    t->failed++;
    t->failed_tc = c->tc_id;
    snprintf(t->failed_file, sizeof t->failed_file, "%s", c->file);
    snprintf(t->detail, sizeof t->detail, "%s", c->detail != NULL ? c->detail : "");
    fprintf(stderr, "FAIL %s#%lld: %s\n", c->file, c->tc_id, t->detail);
}

static void test_committed_traces_pass(void **state)
{
    (void)state;
    tally t = {0};
    int failed = vt_conform_state_run(VECTOR_DIR, on_case, &t);
    assert_int_equal(failed, 0);
    assert_int_equal(t.failed, 0);
    assert_int_equal(t.files, 4); /* one file per machine of spec/state/ */
    assert_true(t.passed >= 40);
}

/* ---- a scratch folder holding one changed copy of session.json ---------- */

static char scratch[64];

static json_t *load_session(void)
{
    json_error_t err;
    json_t *root = json_load_file(VECTOR_DIR "/session.json", 0, &err);
    assert_non_null(root);
    return root;
}

/* Test |tc_id| (1-based tcId) of the file's only group. */
static json_t *test_of(json_t *root, size_t tc_id)
{
    json_t *tests =
        json_object_get(json_array_get(json_object_get(root, "testGroups"), 0), "tests");
    json_t *t = json_array_get(tests, tc_id - 1);
    assert_non_null(t);
    assert_int_equal(json_integer_value(json_object_get(t, "tcId")), (json_int_t)tc_id);
    return t;
}

static json_t *step_of(json_t *root, size_t tc_id, size_t step)
{
    json_t *s = json_array_get(json_object_get(test_of(root, tc_id), "steps"), step - 1);
    assert_non_null(s);
    return s;
}

/* Writes |root| as the scratch folder's session.json (taking the reference),
 * runs the folder and returns the tally. */
static tally run_changed(json_t *root)
{
    char path[128];
    tally t = {0};
    snprintf(path, sizeof path, "%s/session.json", scratch);
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(2)), 0);
    json_decref(root);
    int failed = vt_conform_state_run(scratch, on_case, &t);
    assert_int_equal(failed, t.failed);
    unlink(path);
    return t;
}

static int make_scratch(void **state)
{
    (void)state;
    snprintf(scratch, sizeof scratch, "/tmp/vt-state-traces-XXXXXX");
    return mkdtemp(scratch) != NULL ? 0 : -1;
}

static int remove_scratch(void **state)
{
    (void)state;
    return rmdir(scratch);
}

/* Exactly one case fails, tcId |tc_id|, and its detail holds |want|. */
static void assert_one_failure(const tally *t, long long tc_id, const char *want)
{
    assert_int_equal(t->failed, 1);
    assert_int_equal(t->failed_tc, tc_id);
    assert_string_equal(t->failed_file, "state/session.json");
    if (strstr(t->detail, want) == NULL)
        fail_msg("detail \"%s\" lacks \"%s\"", t->detail, want);
}

static void test_wrong_action_order_fails_that_case(void **state)
{
    (void)state;
    json_t *root = load_session();
    /* identity-change-holds, step 1: the two actions swapped */
    json_t *actions =
        json_object_get(json_object_get(step_of(root, 5, 1), "expect"), "actions");
    json_t *a0 = json_incref(json_array_get(actions, 0));
    json_array_remove(actions, 0);
    json_array_append_new(actions, a0);
    json_int_t total = json_integer_value(json_object_get(root, "numberOfTests"));
    tally t = run_changed(root);
    assert_one_failure(&t, 5,
                       "step 1 (IDENTITY_CHANGED in ESTABLISHED): expected actions "
                       "[notify_identity_changed, record_pending_identity], the table");
    assert_non_null(
        strstr(t.detail, "runs [record_pending_identity, notify_identity_changed]"));
    assert_int_equal(t.passed, total - 1); /* every other trace still passes */
}

static void test_wrong_next_state_fails(void **state)
{
    (void)state;
    json_t *root = load_session();
    /* prekey-until-confirmed, step 4: RECEIVE_MESSAGE claimed to stay INITIATED */
    json_object_set_new(json_object_get(step_of(root, 2, 4), "expect"), "state",
                        json_string("INITIATED"));
    tally t = run_changed(root);
    assert_one_failure(&t, 2,
                       "step 4 (RECEIVE_MESSAGE in INITIATED): expected state INITIATED, "
                       "the table");
    assert_non_null(strstr(t.detail, "goes to ESTABLISHED"));
}

static void test_expected_rejection_that_fires_fails(void **state)
{
    (void)state;
    json_t *root = load_session();
    /* first-send-via-bundle, step 3: a SEND in INITIATED claimed rejected */
    json_object_set_new(step_of(root, 1, 3), "expect", json_pack("{s:b}", "rejected", 1));
    tally t = run_changed(root);
    assert_one_failure(&t, 1,
                       "step 3 (SEND in INITIATED): expected rejected, the table (line");
    assert_non_null(
        strstr(t.detail, "runs [encrypt_prekey_message] and goes to INITIATED"));
}

static void test_event_with_no_row_fails(void **state)
{
    (void)state;
    json_t *root = load_session();
    /* first-send-via-bundle, step 1 (SEND in NONE, rejected) claimed to fire */
    json_object_set_new(
        step_of(root, 1, 1), "expect",
        json_pack("{s:[s], s:s}", "actions", "encrypt_message", "state", "NONE"));
    tally t = run_changed(root);
    assert_one_failure(&t, 1,
                       "step 1 (SEND in NONE): expected state NONE, the table has "
                       "no applicable row");
}

static void test_guard_value_decides(void **state)
{
    (void)state;
    json_t *root = load_session();
    /* simultaneous-peer-wins, step 3: the peer's key is said to be higher */
    json_object_set_new(json_object_get(step_of(root, 11, 3), "guards"),
                        "peer_wins_tiebreak", json_false());
    tally t = run_changed(root);
    assert_one_failure(&t, 11, "step 3 (RECEIVE_PREKEY_MESSAGE in INITIATED)");
    assert_non_null(strstr(t.detail, "runs [keep_losing_session, deliver_plaintext]"));
}

/* A name the table lacks is a failure of that case naming it. */
static void check_unknown(size_t tc_id, size_t step, const char *key, json_t *value,
                          const char *want)
{
    json_t *root = load_session();
    json_t *s = step_of(root, tc_id, step);
    if (strcmp(key, "start") == 0)
        json_object_set_new(test_of(root, tc_id), "start", value);
    else if (strcmp(key, "guards") == 0)
        json_object_set_new(s, "guards", value);
    else if (strcmp(key, "actions") == 0)
        json_object_set_new(json_object_get(s, "expect"), "actions", value);
    else
        json_object_set_new(s, key, value);
    tally t = run_changed(root);
    assert_one_failure(&t, (long long)tc_id, want);
}

static void test_unknown_names_fail(void **state)
{
    (void)state;
    check_unknown(3, 1, "start", json_string("IDLE"),
                  "machine session has no start state IDLE");
    check_unknown(3, 2, "event", json_string("SEND_TEXT"),
                  "step 2: machine session has no event SEND_TEXT");
    check_unknown(3, 2, "guards", json_pack("{s:b}", "is_confirmed", 1),
                  "step 2: machine session has no guard is_confirmed");
    check_unknown(3, 2, "actions", json_pack("[s]", "encrypt_bare"),
                  "machine session has no action encrypt_bare");
}

static void test_wrong_number_of_tests_is_a_file_case(void **state)
{
    (void)state;
    json_t *root = load_session();
    json_object_set_new(root, "numberOfTests", json_integer(99));
    tally t = run_changed(root);
    assert_int_equal(t.failed, 1);
    assert_int_equal(t.failed_tc, 0);
    assert_non_null(strstr(t.detail, "numberOfTests says 99"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_committed_traces_pass),
        cmocka_unit_test(test_wrong_action_order_fails_that_case),
        cmocka_unit_test(test_wrong_next_state_fails),
        cmocka_unit_test(test_expected_rejection_that_fires_fails),
        cmocka_unit_test(test_event_with_no_row_fails),
        cmocka_unit_test(test_guard_value_decides),
        cmocka_unit_test(test_unknown_names_fail),
        cmocka_unit_test(test_wrong_number_of_tests_is_a_file_case),
    };
    return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
