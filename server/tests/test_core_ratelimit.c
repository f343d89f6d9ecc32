/* Tests of ventrad rate limits (server/src/core/ratelimit.c): token
 * buckets, retry_after_ms (WIRE-70), the WIRE-71 guarantee of the
 * recommended buckets (WIRE-72), the bounded keyed table and config
 * strings. spec/wire.md section 4.3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

static vtd_bucket_cfg cfg_of(const char *s)
{
    vtd_bucket_cfg c;
    assert_int_equal(vtd_bucket_cfg_parse(s, &c), VT_OK);
    return c;
}

static void test_burst_then_refusal(void **state)
{
    (void)state;
    vtd_bucket_cfg cfg = cfg_of("1/s:10");
    vtd_bucket b = {0};
    uint32_t retry = 0;
    for (int i = 0; i < 10; i++)
        assert_true(vtd_bucket_take(&b, &cfg, 5000, &retry));
    assert_int_equal(retry, 0); /* untouched on success */
    assert_false(vtd_bucket_take(&b, &cfg, 5000, &retry));
    assert_int_equal(retry, 1000);
    /* A refusal consumes nothing: the same answer again. */
    retry = 0;
    assert_false(vtd_bucket_take(&b, &cfg, 5000, &retry));
    assert_int_equal(retry, 1000);
    assert_false(vtd_bucket_take(&b, &cfg, 5000, NULL)); /* NULL retry is fine */
}

static void test_retry_after_exact(void **state)
{
    (void)state;
    vtd_bucket_cfg cfg = cfg_of("1/s:10");
    vtd_bucket b = {0};
    uint32_t retry = 0;
    for (int i = 0; i < 10; i++)
        assert_true(vtd_bucket_take(&b, &cfg, 0, &retry));
    assert_false(vtd_bucket_take(&b, &cfg, 250, &retry));
    assert_int_equal(retry, 750);
    assert_false(vtd_bucket_take(&b, &cfg, 999, &retry));
    assert_int_equal(retry, 1);
    assert_true(vtd_bucket_take(&b, &cfg, 1000, &retry));
    assert_false(vtd_bucket_take(&b, &cfg, 1000, &retry));
    assert_int_equal(retry, 1000);

    /* 10 per hour: 360000 ms per token. */
    cfg = cfg_of("10/h:10");
    b = (vtd_bucket){0};
    for (int i = 0; i < 10; i++)
        assert_true(vtd_bucket_take(&b, &cfg, 0, &retry));
    assert_false(vtd_bucket_take(&b, &cfg, 0, &retry));
    assert_int_equal(retry, 360000);
    assert_false(vtd_bucket_take(&b, &cfg, 359999, &retry));
    assert_int_equal(retry, 1);
    assert_true(vtd_bucket_take(&b, &cfg, 360000, &retry));

    /* 3 per second: 333.33 ms rounds up to 334. */
    cfg = cfg_of("3/s:1");
    b = (vtd_bucket){0};
    assert_true(vtd_bucket_take(&b, &cfg, 0, &retry));
    assert_false(vtd_bucket_take(&b, &cfg, 0, &retry));
    assert_int_equal(retry, 334);
    assert_false(vtd_bucket_take(&b, &cfg, 333, &retry));
    assert_int_equal(retry, 1);
    assert_true(vtd_bucket_take(&b, &cfg, 334, &retry));

    /* 50 per second: 20 ms. */
    cfg = cfg_of("50/s:200");
    b = (vtd_bucket){0};
    for (int i = 0; i < 200; i++)
        assert_true(vtd_bucket_take(&b, &cfg, 0, &retry));
    assert_false(vtd_bucket_take(&b, &cfg, 0, &retry));
    assert_int_equal(retry, 20);
    assert_false(vtd_bucket_take(&b, &cfg, 7, &retry));
    assert_int_equal(retry, 13);
}

/* For awkward rates: retry is the least whole number of ms after which a
 * take succeeds (WIRE-70 "no less than"; and not more than needed). */
static void test_retry_after_is_tight(void **state)
{
    (void)state;
    const char *cfgs[] = {"7/s:3",   "0.3/s:2",       "60/h:100", "13/m:5",   "1000/s:1",
                          "2.5/s:4", "999999999/s:1", "1/h:1",    "0.001/s:1"};
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        vtd_bucket_cfg cfg = cfg_of(cfgs[c]);
        vtd_bucket b = {0};
        uint64_t now = 1000000;
        for (int round = 0; round < 20; round++) {
            while (vtd_bucket_take(&b, &cfg, now, NULL))
                ;
            uint32_t retry = 0;
            assert_false(vtd_bucket_check(&b, &cfg, now, &retry));
            assert_true(retry >= 1);
            vtd_bucket probe = b;
            if (retry > 1)
                assert_false(vtd_bucket_take(&probe, &cfg, now + retry - 1, NULL));
            probe = b;
            assert_true(vtd_bucket_take(&probe, &cfg, now + retry, NULL));
            now += retry / 2 + 1; /* land at varying fractions */
        }
    }
}

static void test_refill(void **state)
{
    (void)state;
    vtd_bucket_cfg cfg = cfg_of("1/s:10");
    vtd_bucket b = {0};
    for (int i = 0; i < 10; i++)
        assert_true(vtd_bucket_take(&b, &cfg, 0, NULL));
    /* Five seconds give five tokens, not six. */
    for (int i = 0; i < 5; i++)
        assert_true(vtd_bucket_take(&b, &cfg, 5000, NULL));
    assert_false(vtd_bucket_take(&b, &cfg, 5000, NULL));
    /* Refill is capped at the burst however long the wait. */
    for (int i = 0; i < 10; i++)
        assert_true(vtd_bucket_take(&b, &cfg, 5000 + 3600000, NULL));
    assert_false(vtd_bucket_take(&b, &cfg, 5000 + 3600000, NULL));
    /* Fractions accumulate: 0.5 s twice is one token. */
    assert_false(vtd_bucket_take(&b, &cfg, 5000 + 3600000 + 500, NULL));
    assert_true(vtd_bucket_take(&b, &cfg, 5000 + 3601000, NULL));
    /* A clock that goes back refills nothing and keeps its mark. */
    assert_false(vtd_bucket_take(&b, &cfg, 0, NULL));
    uint32_t retry = 0;
    assert_false(vtd_bucket_check(&b, &cfg, 5000 + 3601000 - 100, &retry));
    assert_int_equal(retry, 1100);
    assert_true(vtd_bucket_take(&b, &cfg, 5000 + 3602000, NULL));
}

static void test_disabled(void **state)
{
    (void)state;
    vtd_bucket_cfg cfg = cfg_of("off");
    assert_false(cfg.enabled);
    vtd_bucket b = {0};
    uint32_t retry = 77;
    for (int i = 0; i < 100000; i++)
        assert_true(vtd_bucket_take(&b, &cfg, 0, &retry));
    assert_true(vtd_bucket_check(&b, &cfg, 0, &retry));
    assert_int_equal(retry, 77);

    /* A hand-made disabled cfg with nonsense numbers is still "admit". */
    vtd_bucket_cfg odd = {.rate = -1, .burst = 0, .enabled = false};
    assert_true(vtd_bucket_take(&b, &odd, 0, &retry));

    /* Degenerate enabled configs refuse, and say "never". */
    vtd_bucket_cfg never = {.rate = 0, .burst = 2, .enabled = true};
    b = (vtd_bucket){0};
    assert_true(vtd_bucket_take(&b, &never, 0, &retry));
    assert_true(vtd_bucket_take(&b, &never, 0, &retry));
    assert_false(vtd_bucket_take(&b, &never, 1000000, &retry));
    assert_int_equal(retry, UINT32_MAX);
    vtd_bucket_cfg empty = {.rate = 10, .burst = 0.5, .enabled = true};
    b = (vtd_bucket){0};
    assert_false(vtd_bucket_take(&b, &empty, 0, &retry));
    assert_int_equal(retry, UINT32_MAX);
}

static void test_check_does_not_consume(void **state)
{
    (void)state;
    vtd_bucket_cfg cfg = cfg_of("10/h:2");
    vtd_bucket b = {0};
    uint32_t retry = 0;
    /* A fresh (zero) bucket is full. */
    for (int i = 0; i < 100; i++)
        assert_true(vtd_bucket_check(&b, &cfg, 0, &retry));
    assert_false(b.init);
    assert_true(vtd_bucket_take(&b, &cfg, 0, NULL));
    for (int i = 0; i < 100; i++)
        assert_true(vtd_bucket_check(&b, &cfg, 0, NULL));
    assert_true(vtd_bucket_take(&b, &cfg, 0, NULL));
    vtd_bucket before = b;
    assert_false(vtd_bucket_check(&b, &cfg, 1000, &retry));
    assert_int_equal(retry, 360000 - 1000);
    assert_memory_equal(&b, &before, sizeof b);
    /* check and take agree on the retry time. */
    uint32_t retry2 = 0;
    assert_false(vtd_bucket_take(&b, &cfg, 1000, &retry2));
    assert_int_equal(retry2, retry);
}

/* WIRE-71 for the recommended requests bucket (WIRE-72, 50/s burst 200):
 * no refusal for 100 requests in one second followed by 20 per second, nor
 * for bursts of 100 every 5 seconds (100 in any one second, 20/s over any
 * 10 seconds). */
static void test_wire71_requests_bucket(void **state)
{
    (void)state;
    vtd_bucket_cfg cfg = cfg_of("50/s:200");
    vtd_bucket b = {0};
    uint64_t t = 1000;
    for (int i = 0; i < 100; i++)
        assert_true(vtd_bucket_take(&b, &cfg, t + (uint64_t)i * 10, NULL));
    t += 1000;
    for (int i = 0; i < 20 * 600; i++)
        assert_true(vtd_bucket_take(&b, &cfg, t + (uint64_t)i * 50, NULL));

    b = (vtd_bucket){0};
    for (uint64_t start = 0; start < 600000; start += 5000)
        for (int i = 0; i < 100; i++)
            assert_true(vtd_bucket_take(&b, &cfg, start, NULL));

    /* All 100 at one instant, then 20/s in bursts of 20 at each second. */
    b = (vtd_bucket){0};
    for (int i = 0; i < 100; i++)
        assert_true(vtd_bucket_take(&b, &cfg, 0, NULL));
    for (uint64_t s = 1; s < 600; s++)
        for (int i = 0; i < 20; i++)
            assert_true(vtd_bucket_take(&b, &cfg, s * 1000, NULL));

    /* The limit is real: 201 at once is one too many. */
    b = (vtd_bucket){0};
    for (int i = 0; i < 200; i++)
        assert_true(vtd_bucket_take(&b, &cfg, 0, NULL));
    assert_false(vtd_bucket_take(&b, &cfg, 0, NULL));

    /* The sends bucket (50/s burst 500) takes 10 s of 20/s at once. */
    vtd_bucket_cfg sends = cfg_of("50/s:500");
    b = (vtd_bucket){0};
    for (int i = 0; i < 200; i++)
        assert_true(vtd_bucket_take(&b, &sends, 0, NULL));
}

static void test_parse(void **state)
{
    (void)state;
    vtd_bucket_cfg c;
    assert_int_equal(vtd_bucket_cfg_parse("50/s:200", &c), VT_OK);
    assert_true(c.enabled);
    assert_true(c.rate == 50.0 && c.burst == 200.0);
    assert_int_equal(vtd_bucket_cfg_parse("10/h:10", &c), VT_OK);
    assert_true(c.rate == 10.0 / 3600 && c.burst == 10.0);
    assert_int_equal(vtd_bucket_cfg_parse("1/s:10", &c), VT_OK);
    assert_true(c.rate == 1.0 && c.burst == 10.0);
    assert_int_equal(vtd_bucket_cfg_parse("30/m:5", &c), VT_OK);
    assert_true(c.rate == 0.5 && c.burst == 5.0);
    assert_int_equal(vtd_bucket_cfg_parse("0.5/s:1", &c), VT_OK);
    assert_true(c.rate == 0.5 && c.burst == 1.0);
    assert_int_equal(vtd_bucket_cfg_parse("1000000000/s:1000000000", &c), VT_OK);
    assert_int_equal(vtd_bucket_cfg_parse("off", &c), VT_OK);
    assert_false(c.enabled);

    const char *bad[] = {"",
                         "on",
                         "OFF",
                         "off ",
                         " off",
                         "50",
                         "50/s",
                         "50/s:",
                         "50/x:1",
                         "50/S:1",
                         "/s:1",
                         "50/s:0",
                         "0/s:10",
                         "0.0/s:1",
                         "-1/s:1",
                         "+1/s:1",
                         "1e3/s:1",
                         "50/s:200x",
                         "50/s:2.5",
                         "50 /s:1",
                         "50/s: 1",
                         "50/sec:1",
                         ".5/s:1",
                         "5./s:1",
                         "inf/s:1",
                         "nan/s:1",
                         "0x10/s:1",
                         "50/s:-1",
                         "50:200",
                         "50/s:200:1",
                         "1000000001/s:1",
                         "1/s:1000000001",
                         "1.0000000001/s:1",
                         "99999999999/s:1",
                         "50/s/200"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vtd_bucket_cfg keep = {.rate = 42, .burst = 43, .enabled = true};
        assert_int_equal(vtd_bucket_cfg_parse(bad[i], &keep), VT_ERR_CONFIG);
        assert_true(keep.rate == 42 && keep.burst == 43 && keep.enabled);
    }
    assert_int_equal(vtd_bucket_cfg_parse(NULL, &c), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_bucket_cfg_parse("off", NULL), VT_ERR_INVALID_ARGUMENT);
}

static void test_limiter_new_free(void **state)
{
    (void)state;
    vtd_bucket_cfg cfg = cfg_of("1/s:1");
    vtd_limiter *l = (vtd_limiter *)0x1;
    assert_int_equal(vtd_limiter_new(&l, &cfg, 0), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_limiter_new(&l, NULL, 10), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_limiter_new(NULL, &cfg, 10), VT_ERR_INVALID_ARGUMENT);
    assert_int_equal(vtd_limiter_new(&l, &cfg, ((size_t)1 << 31) + 1),
                     VT_ERR_INVALID_ARGUMENT);
    assert_ptr_equal(l, (vtd_limiter *)0x1);
    vtd_limiter_free(NULL);
    assert_int_equal(vtd_limiter_new(&l, &cfg, 1), VT_OK);
    assert_int_equal(vtd_limiter_size(l), 0);
    vtd_limiter_free(l);
}

static void test_limiter_keys(void **state)
{
    (void)state;
    vtd_bucket_cfg cfg = cfg_of("10/h:3");
    vtd_limiter *l;
    assert_int_equal(vtd_limiter_new(&l, &cfg, 16), VT_OK);
    uint32_t retry = 0;
    for (int i = 0; i < 3; i++)
        assert_true(vtd_limiter_take(l, "alice", 5, 0, &retry));
    assert_false(vtd_limiter_take(l, "alice", 5, 0, &retry));
    assert_int_equal(retry, 360000);
    /* Other keys are independent, prefixes included. */
    assert_true(vtd_limiter_take(l, "alic", 4, 0, NULL));
    assert_true(vtd_limiter_take(l, "alice\0", 6, 0, NULL));
    assert_true(vtd_limiter_take(l, NULL, 0, 0, NULL));
    assert_true(vtd_limiter_take(l, "", 0, 0, NULL)); /* the same empty key */
    assert_int_equal(vtd_limiter_size(l), 4);
    /* check: an empty bucket says no and when; an absent key is not added. */
    assert_false(vtd_limiter_check(l, "alice", 5, 1000, &retry));
    assert_int_equal(retry, 359000);
    assert_true(vtd_limiter_check(l, "bob", 3, 0, NULL));
    assert_int_equal(vtd_limiter_size(l), 4);
    assert_true(vtd_limiter_take(l, "alice", 5, 360000, NULL));
    assert_false(vtd_limiter_take(l, "alice", 5, 360000, NULL));

    /* Keys longer than VTD_LIMITER_KEY_MAX: equal ones share a bucket,
     * ones that differ only past byte 64, or in length, do not. */
    uint8_t k1[100], k2[100];
    memset(k1, 'k', sizeof k1);
    memcpy(k2, k1, sizeof k2);
    k2[99] = 'x';
    for (int i = 0; i < 3; i++)
        assert_true(vtd_limiter_take(l, k1, sizeof k1, 0, NULL));
    assert_false(vtd_limiter_take(l, k1, sizeof k1, 0, NULL));
    assert_true(vtd_limiter_take(l, k2, sizeof k2, 0, NULL));
    assert_true(vtd_limiter_take(l, k1, 99, 0, NULL));
    assert_true(vtd_limiter_take(l, k1, 64, 0, NULL));
    assert_true(vtd_limiter_take(l, k1, 65, 0, NULL));
    vtd_limiter_free(l);
}

/* 100k distinct keys into a table of 1000: never more than 1000 entries,
 * every first take of a key succeeds (absent is full), and a key under
 * attack from a slow bucket still gets limited while it is being used. */
static void test_limiter_bounded(void **state)
{
    (void)state;
    vtd_bucket_cfg cfg = cfg_of("10/h:10");
    vtd_limiter *l;
    assert_int_equal(vtd_limiter_new(&l, &cfg, 1000), VT_OK);
    char key[32];
    for (uint32_t i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof key, "attacker-%u", i);
        assert_true(vtd_limiter_take(l, key, (size_t)n, i, NULL));
        assert_true(vtd_limiter_size(l) <= 1000);
    }
    assert_int_equal(vtd_limiter_size(l), 1000);
    /* The newest keys are the ones kept: each has 9 tokens left. */
    for (int i = 0; i < 9; i++)
        assert_true(vtd_limiter_take(l, "attacker-99999", 14, 100000, NULL));
    assert_false(vtd_limiter_take(l, "attacker-99999", 14, 100000, NULL));
    assert_true(vtd_limiter_size(l) <= 1000);

    /* The same flood with the same key taken in between: it is the
     * most recently emptied, so never the first to go. */
    vtd_limiter_set_cfg(l, &(vtd_bucket_cfg){0}); /* disable: empties */
    assert_int_equal(vtd_limiter_size(l), 0);
    vtd_limiter_set_cfg(l, &cfg);
    uint64_t t = 200000;
    for (int i = 0; i < 10; i++)
        assert_true(vtd_limiter_take(l, "victim", 6, t, NULL));
    for (uint32_t i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof key, "flood-%u", i);
        assert_true(vtd_limiter_take(l, key, (size_t)n, t, NULL));
        assert_true(vtd_limiter_size(l) <= 1000);
        if (i % 500 == 0)
            assert_false(vtd_limiter_take(l, "victim", 6, t, NULL));
    }
    vtd_limiter_free(l);
}

/* A full table with nothing full evicts the bucket that will be full
 * soonest; buckets that refilled are forgotten, a few per take. */
static void test_limiter_eviction_order(void **state)
{
    (void)state;
    vtd_bucket_cfg cfg = cfg_of("1/s:10");
    vtd_limiter *l;
    assert_int_equal(vtd_limiter_new(&l, &cfg, 3), VT_OK);
    for (int i = 0; i < 10; i++)
        assert_true(vtd_limiter_take(l, "B", 1, 100, NULL)); /* full at 10100 */
    for (int i = 0; i < 10; i++)
        assert_true(vtd_limiter_take(l, "A", 1, 0, NULL)); /* full at 10000 */
    for (int i = 0; i < 10; i++)
        assert_true(vtd_limiter_take(l, "C", 1, 200, NULL)); /* full at 10200 */
    assert_int_equal(vtd_limiter_size(l), 3);
    assert_false(vtd_limiter_check(l, "A", 1, 300, NULL));
    assert_true(vtd_limiter_take(l, "D", 1, 300, NULL));
    assert_int_equal(vtd_limiter_size(l), 3);
    assert_true(vtd_limiter_check(l, "A", 1, 300, NULL)); /* evicted: full again */
    assert_false(vtd_limiter_check(l, "B", 1, 300, NULL));
    assert_false(vtd_limiter_check(l, "C", 1, 300, NULL));
    vtd_limiter_free(l);

    /* Forgetting: ten buckets full by t = 2000; a take then drops four. */
    cfg = cfg_of("1/s:2");
    assert_int_equal(vtd_limiter_new(&l, &cfg, 100), VT_OK);
    for (int i = 0; i < 10; i++)
        assert_true(vtd_limiter_take(l, &i, sizeof i, 0, NULL)); /* full at 1000 */
    assert_int_equal(vtd_limiter_size(l), 10);
    assert_true(vtd_limiter_take(l, "x", 1, 999, NULL));
    assert_int_equal(vtd_limiter_size(l), 11); /* nothing full yet */
    assert_true(vtd_limiter_take(l, "y", 1, 2000, NULL));
    assert_int_equal(vtd_limiter_size(l), 11 - 4 + 1);
    for (int i = 0; i < 10; i++)
        assert_true(vtd_limiter_take(l, "y", 1, 5000 + (uint64_t)i * 1000, NULL));
    assert_int_equal(vtd_limiter_size(l), 1); /* only y, which keeps being used */
    vtd_limiter_free(l);
}

static void test_limiter_set_cfg(void **state)
{
    (void)state;
    vtd_bucket_cfg cfg = cfg_of("1/s:10");
    vtd_limiter *l;
    assert_int_equal(vtd_limiter_new(&l, &cfg, 8), VT_OK);
    for (int i = 0; i < 5; i++)
        assert_true(vtd_limiter_take(l, "k", 1, 0, NULL));
    /* A smaller burst caps the 5 tokens left at 2. */
    vtd_bucket_cfg small = cfg_of("1/s:2");
    vtd_limiter_set_cfg(l, &small);
    assert_true(vtd_limiter_take(l, "k", 1, 0, NULL));
    assert_true(vtd_limiter_take(l, "k", 1, 0, NULL));
    uint32_t retry = 0;
    assert_false(vtd_limiter_take(l, "k", 1, 0, &retry));
    assert_int_equal(retry, 1000);
    /* A faster rate applies at once. */
    vtd_bucket_cfg fast = cfg_of("10/s:2");
    vtd_limiter_set_cfg(l, &fast);
    assert_false(vtd_limiter_take(l, "k", 1, 0, &retry));
    assert_int_equal(retry, 100);
    /* Disabled: everything passes, nothing is kept. */
    vtd_bucket_cfg off = cfg_of("off");
    vtd_limiter_set_cfg(l, &off);
    assert_int_equal(vtd_limiter_size(l), 0);
    for (int i = 0; i < 1000; i++)
        assert_true(vtd_limiter_take(l, "k", 1, 0, NULL));
    assert_true(vtd_limiter_check(l, "k", 1, 0, NULL));
    assert_int_equal(vtd_limiter_size(l), 0);
    vtd_limiter_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refusal),
        cmocka_unit_test(test_retry_after_exact),
        cmocka_unit_test(test_retry_after_is_tight),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_check_does_not_consume),
        cmocka_unit_test(test_wire71_requests_bucket),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_limiter_new_free),
        cmocka_unit_test(test_limiter_keys),
        cmocka_unit_test(test_limiter_bounded),
        cmocka_unit_test(test_limiter_eviction_order),
        cmocka_unit_test(test_limiter_set_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
