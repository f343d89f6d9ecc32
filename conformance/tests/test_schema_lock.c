/* The v1 schema lock (conformance/vectors/schema/v1.json, SPEC-2/SPEC-4)
 * checked by conformance/src/vectors_schema.c against this build's
 * protobuf-c descriptors: the committed lock passes, and a lock entry that
 * the schema no longer matches (a field renamed, renumbered, retyped, made
 * repeated, moved out of its oneof; an enum value renamed; a message gone)
 * fails exactly that case, saying what changed. */
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

#define LOCK_DIR "conformance/vectors/schema"

typedef struct tally {
    int passed, failed;
    char failed_id[128];
    char detail[2048];
} tally;

static void on_case(const vt_conform_case *c, void *ud)
{
    tally *t = ud;
    if (c->result == VT_CONFORM_PASS) {
        t->passed++;
        return;
    }
    t->failed++;
    snprintf(t->failed_id, sizeof t->failed_id, "%s", c->id != NULL ? c->id : "(file)");
    snprintf(t->detail, sizeof t->detail, "%s", c->detail != NULL ? c->detail : "");
}

static void test_committed_lock_passes(void **state)
{
    (void)state;
    tally t = {0};
    assert_int_equal(vt_conform_schema_run(LOCK_DIR, on_case, &t), 0);
    assert_int_equal(t.failed, 0);
    assert_true(t.passed >= 70);
}

/* The lock test whose "name" is |name|. */
static json_t *find_entry(json_t *root, const char *name)
{
    size_t gi, ti;
    json_t *g, *t;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g)
    {
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
                return t;
        }
    }
    fail_msg("no lock entry %s", name);
    return NULL;
}

/* The entry of |t|'s fields (or values) whose "name" is |member|. */
static json_t *find_member(json_t *t, const char *list, const char *member)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(t, list), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), member) == 0)
            return e;
    }
    fail_msg("no member %s", member);
    return NULL;
}

typedef void (*mutate_fn)(json_t *root);

/* Writes the lock changed by |mutate| into a scratch folder, runs it and
 * requires exactly one failed case, |want_id|, whose detail holds |want|. */
static void expect_one_failure(mutate_fn mutate, const char *want_id, const char *want)
{
    char dir[] = "/tmp/vt-schema-lock-XXXXXX";
    assert_non_null(mkdtemp(dir));
    json_error_t err;
    json_t *root = json_load_file(LOCK_DIR "/v1.json", 0, &err);
    assert_non_null(root);
    mutate(root);
    char path[128];
    snprintf(path, sizeof path, "%s/v1.json", dir);
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(1)), 0);
    json_decref(root);

    tally t = {0};
    assert_int_equal(vt_conform_schema_run(dir, on_case, &t), 1);
    unlink(path);
    rmdir(dir);
    assert_int_equal(t.failed, 1);
    assert_string_equal(t.failed_id, want_id);
    if (strstr(t.detail, want) == NULL)
        fail_msg("detail \"%s\" lacks \"%s\"", t.detail, want);
}

static void rename_field(json_t *root)
{
    json_t *f = find_member(find_entry(root, "ventra.v1.Request"), "fields", "send");
    json_object_set_new(f, "name", json_string("send_message"));
}

static void renumber_field(json_t *root)
{
    json_t *f = find_member(find_entry(root, "ventra.v1.Error"), "fields", "code");
    json_object_set_new(f, "number", json_integer(99));
}

static void retype_field(json_t *root)
{
    json_t *f = find_member(find_entry(root, "ventra.v1.PingRequest"), "fields", "nonce");
    json_object_set_new(f, "type", json_string("uint32"));
}

static void make_repeated(json_t *root)
{
    json_t *f = find_member(find_entry(root, "ventra.v1.Error"), "fields", "message");
    json_object_set_new(f, "label", json_string("repeated"));
}

static void move_out_of_oneof(json_t *root)
{
    json_t *f = find_member(find_entry(root, "ventra.v1.Frame"), "fields", "event");
    json_object_del(f, "oneof");
}

static void rename_enum_value(json_t *root)
{
    json_t *v =
        find_member(find_entry(root, "ventra.v1.ErrorCode"), "values", "ERROR_CONFLICT");
    json_object_set_new(v, "name", json_string("ERROR_CLASH"));
}

static void remove_message(json_t *root)
{
    json_object_set_new(find_entry(root, "ventra.v1.LinkCode"), "name",
                        json_string("ventra.v1.LinkCodeV0"));
}

static void test_renamed_field(void **state)
{
    (void)state;
    expect_one_failure(rename_field, "schema/message/ventra-v1-request", "is named send");
}

static void test_renumbered_field(void **state)
{
    (void)state;
    expect_one_failure(renumber_field, "schema/message/ventra-v1-error",
                       "code = 99 is gone");
}

static void test_retyped_field(void **state)
{
    (void)state;
    expect_one_failure(retype_field, "schema/message/ventra-v1-pingrequest",
                       "nonce is uint64, was uint32");
}

static void test_repeated_field(void **state)
{
    (void)state;
    expect_one_failure(make_repeated, "schema/message/ventra-v1-error",
                       "message is singular, was repeated");
}

static void test_oneof_member(void **state)
{
    (void)state;
    expect_one_failure(move_out_of_oneof, "schema/message/ventra-v1-frame",
                       "event is in a oneof");
}

static void test_renamed_enum_value(void **state)
{
    (void)state;
    expect_one_failure(rename_enum_value, "schema/enum/ventra-v1-errorcode",
                       "is named ERROR_CONFLICT, was ERROR_CLASH");
}

static void test_message_gone(void **state)
{
    (void)state;
    expect_one_failure(remove_message, "schema/message/ventra-v1-linkcode",
                       "LinkCodeV0 is gone");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_committed_lock_passes),
        cmocka_unit_test(test_renamed_field),
        cmocka_unit_test(test_renumbered_field),
        cmocka_unit_test(test_retyped_field),
        cmocka_unit_test(test_repeated_field),
        cmocka_unit_test(test_oneof_member),
        cmocka_unit_test(test_renamed_enum_value),
        cmocka_unit_test(test_message_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
