/* The latency histogram: bounded relative error, exact small values,
 * percentiles by rank, merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/hist.h"
#include "base/rng.h"

static tw_hist H;

static void test_hist_small_values_exact(void **state)
{
    tw_hist_init(&H);
    for (uint64_t v = 0; v < TW_HIST_SUB; v++) {
        tw_hist_add(&H, v);
    }
    assert_int_equal(H.count, TW_HIST_SUB);
    assert_int_equal(tw_hist_percentile(&H, 500), TW_HIST_SUB / 2 - 1);
    assert_int_equal(tw_hist_percentile(&H, 1000), TW_HIST_SUB - 1);
    assert_int_equal(H.min, 0);
}

static void test_hist_relative_error_bounded(void **state)
{
    tw_rng rng;
    tw_rng_init(&rng, 5, 0);
    for (int i = 0; i < 100000; i++) {
        /* values across the whole range, one at a time */
        uint64_t v = tw_rng_next(&rng) >> tw_rng_below(&rng, 64);
        tw_hist_init(&H);
        tw_hist_add(&H, v);
        tw_hist_add(&H, UINT64_MAX); /* so the median is v's bucket, unclamped */
        uint64_t got = tw_hist_percentile(&H, 500);
        /* The answer is the top of v's bucket: never below v, and within
         * 1/2^SUB_BITS of it. */
        assert_true(got >= v);
        assert_true(got - v <= v / TW_HIST_SUB);
    }
}

static void test_hist_percentiles_by_rank(void **state)
{
    tw_hist_init(&H);
    for (uint64_t v = 1; v <= 1000; v++) {
        tw_hist_add(&H, v * 1000); /* 1 us .. 1 ms */
    }
    uint64_t p50 = tw_hist_percentile(&H, 500);
    uint64_t p99 = tw_hist_percentile(&H, 990);
    assert_true(p50 >= 500000 && p50 <= 500000 + 500000 / TW_HIST_SUB);
    assert_true(p99 >= 990000 && p99 <= 990000 + 990000 / TW_HIST_SUB);
    assert_int_equal(tw_hist_percentile(&H, 1000), 1000000);
    assert_int_equal(tw_hist_mean(&H), 500500);
    assert_int_equal(H.max, 1000000);
    assert_int_equal(H.min, 1000);
}

static void test_hist_merge_equals_adding_everything(void **state)
{
    static tw_hist a, b, all;
    tw_hist_init(&a);
    tw_hist_init(&b);
    tw_hist_init(&all);
    for (uint64_t v = 1; v < 5000; v += 7) {
        tw_hist_add(v % 2 ? &a : &b, v * 13);
        tw_hist_add(&all, v * 13);
    }
    tw_hist_merge(&a, &b);
    assert_memory_equal(&a, &all, sizeof(a));
}

static void test_hist_empty_is_zero(void **state)
{
    tw_hist_init(&H);
    assert_int_equal(tw_hist_percentile(&H, 990), 0);
    assert_int_equal(tw_hist_mean(&H), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_small_values_exact),
        cmocka_unit_test(test_hist_relative_error_bounded),
        cmocka_unit_test(test_hist_percentiles_by_rank),
        cmocka_unit_test(test_hist_merge_equals_adding_everything),
        cmocka_unit_test(test_hist_empty_is_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
