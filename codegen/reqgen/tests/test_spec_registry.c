/* The committed requirement registry (generated/spec/, linked through
 * vt_spec; spec/README.md "Requirement IDs"): IDs are unique, well formed
 * and findable, so the conformance coverage report can rely on them. Also
 * pins a few constants of vt_constants.h to the values the lead fixed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vt_constants.h"
#include "vt_requirements.h"

static void ids_are_unique(void **state)
{
    (void)state;
    assert_true(vt_requirement_count > 0);
    for (size_t i = 0; i < vt_requirement_count; i++) {
        assert_non_null(vt_requirements[i].id);
        for (size_t k = i + 1; k < vt_requirement_count; k++) {
            if (strcmp(vt_requirements[i].id, vt_requirements[k].id) == 0)
                fail_msg("%s appears twice (%s:%u and %s:%u)", vt_requirements[i].id,
                         vt_requirements[i].file, vt_requirements[i].line,
                         vt_requirements[k].file, vt_requirements[k].line);
        }
    }
}

static void entries_are_well_formed(void **state)
{
    (void)state;
    for (size_t i = 0; i < vt_requirement_count; i++) {
        const vt_requirement *r = &vt_requirements[i];
        const char *dash = strchr(r->id, '-');
        assert_non_null(dash);
        assert_true(dash > r->id && dash[1] >= '1' && dash[1] <= '9');
        assert_true(r->level == VT_REQ_MUST || r->level == VT_REQ_SHOULD ||
                    r->level == VT_REQ_MAY);
        assert_true(strncmp(r->file, "spec/", 5) == 0);
        assert_true(r->line > 0);
        assert_true(strlen(r->text) > 0);
        assert_ptr_equal(vt_requirement_find(r->id), r);
    }
    assert_null(vt_requirements[vt_requirement_count].id);
    assert_null(vt_requirement_find("NOSUCH-1"));
    assert_null(vt_requirement_find(NULL));
}

/* A few of the values in /work/notes/decisions.md, through the generated
 * header: names, values, types and the _LEN companions of strings. */
static void constants_are_pinned(void **state)
{
    (void)state;
    assert_true(_Generic(VT_MAX_FRAME_SIZE, unsigned int : 1, default : 0));
    assert_true(_Generic(VT_DEDUP_WINDOW_S, unsigned long long : 1, default : 0));
    assert_int_equal(VT_MAX_FRAME_SIZE, 262144);
    assert_int_equal(VT_MAX_CONTENT_SIZE, 16384);
    assert_int_equal(VT_MAX_DEVICES_PER_ACCOUNT, 6);
    assert_int_equal(VT_PUSH_WINDOW, 64);
    assert_int_equal(VT_MAX_CONSECUTIVE_ERRORS, 16);
    assert_int_equal(VT_RATCHET_HEADER_LEN, 41);
    assert_int_equal(VT_MAX_SKIP, 1000);
    assert_int_equal(VT_FINGERPRINT_ITERATIONS, 5200);
    assert_true(VT_DEDUP_WINDOW_S == 604800ull);
    assert_true(VT_QUEUE_RETENTION_S == 2592000ull);
    assert_string_equal(VT_PROTOCOL_NAME, "ventra.v1");
    assert_int_equal(VT_PROTOCOL_NAME_LEN, 9);
    assert_string_equal(VT_WS_PATH, "/v1/ws");
    assert_string_equal(VT_LABEL_REGISTER, "ventra.v1/register");
    assert_int_equal(VT_LABEL_REGISTER_LEN, strlen("ventra.v1/register"));
    assert_string_equal(VT_LABEL_X3DH, "ventra.v1/x3dh");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ids_are_unique),
        cmocka_unit_test(entries_are_well_formed),
        cmocka_unit_test(constants_are_pinned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
