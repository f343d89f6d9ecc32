/* Compiles and links the C that vt-reqgen and vt-constgen write for the good
 * fixture (spec/README.md, "Requirement IDs" and "Constants"): escaping, the
 * registry API and the constant types are checked by the compiler and here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vt_constants.h"
#include "vt_requirements.h"

static void registry_order_and_levels(void **state)
{
    static const char *const ids[] = {"FIX-1",    "FIX-2",    "ALPHA-2", "ALPHA-3",
                                      "ALPHA-6",  "ALPHA-7",  "ALPHA-8", "ALPHA-9",
                                      "ALPHA-10", "ALPHA-11", "SM-1",    "SM-2"};
    static const vt_req_level levels[] = {VT_REQ_MUST, VT_REQ_MAY,    VT_REQ_SHOULD,
                                          VT_REQ_MUST, VT_REQ_MAY,    VT_REQ_SHOULD,
                                          VT_REQ_MUST, VT_REQ_MUST,   VT_REQ_MUST,
                                          VT_REQ_MUST, VT_REQ_SHOULD, VT_REQ_MUST};
    (void)state;
    assert_int_equal(vt_requirement_count, 12);
    for (size_t i = 0; i < vt_requirement_count; i++) {
        assert_string_equal(vt_requirements[i].id, ids[i]);
        assert_int_equal(vt_requirements[i].level, levels[i]);
    }
    /* The end marker. */
    assert_null(vt_requirements[vt_requirement_count].id);
    assert_null(vt_requirements[vt_requirement_count].text);
}

static void registry_find_and_text(void **state)
{
    const vt_requirement *r;
    (void)state;
    r = vt_requirement_find("ALPHA-8");
    assert_non_null(r);
    assert_ptr_equal(r, &vt_requirements[6]);
    /* Quotes, a backslash and a would-be trigraph survive the C escaping. */
    assert_string_equal(r->text,
                        "Text with \"quotes\", a back\\slash, ?\?= and a | pipe MUST "
                        "survive escaping.");
    assert_string_equal(r->file, "tests/fixtures/good/alpha.md");
    assert_int_equal(r->line, 35);
    r = vt_requirement_find("ALPHA-10");
    assert_non_null(r);
    assert_string_equal(r->text,
                        "A list item requirement whose text continues on this line, "
                        "and the server MUST NOT stop here.");
    assert_null(vt_requirement_find("ALPHA-4")); /* in a code block */
    assert_null(vt_requirement_find("FIX-99"));  /* in an ignored region */
    assert_null(vt_requirement_find("ALPHA-1"));
    assert_null(vt_requirement_find("alpha-8"));
    assert_null(vt_requirement_find(""));
    assert_null(vt_requirement_find(NULL));
}

static void constants_values_and_types(void **state)
{
    (void)state;
    assert_true(_Generic(VT_FIX_SIZE, unsigned int : 1, default : 0));
    assert_true(_Generic(VT_FIX_BIG, unsigned long long : 1, default : 0));
    assert_true(_Generic(VT_BETA_TIMEOUT_S, unsigned long long : 1, default : 0));
    assert_int_equal(VT_FIX_SIZE, 262144);
    assert_true(VT_FIX_U32_MAX == UINT32_MAX);
    assert_true(VT_FIX_BIG == 9007199254740993ull);
    assert_true(VT_BETA_TIMEOUT_S == 604800ull);
    assert_string_equal(VT_FIX_LABEL, "fix.v1/label");
    assert_int_equal(VT_FIX_LABEL_LEN, strlen(VT_FIX_LABEL));
    assert_string_equal(VT_FIX_TRICKY, "say \"hi\" ?\?= \\ ok");
    assert_int_equal(VT_FIX_TRICKY_LEN, strlen(VT_FIX_TRICKY));
    /* Usable in the preprocessor, as limits often are. */
#if VT_FIX_SIZE != 262144
#error VT_FIX_SIZE
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry_order_and_levels),
        cmocka_unit_test(registry_find_and_text),
        cmocka_unit_test(constants_values_and_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
