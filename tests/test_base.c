/* core/base tests: the deterministic rng, integer ratios, rings, pools, the
 * trace hash, duration units, the error table and the init-time allocator.
 * Statistical checks use a fixed seed and bounds of about six standard
 * deviations, so they are deterministic and would only fail on a real
 * change of distribution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "base/mem.h"
#include "base/pool.h"
#include "base/ratio.h"
#include "base/ring.h"
#include "base/rng.h"
#include "base/units.h"
#include "harness.h"

#define SEED 0x5eedu
#define DRAWS 100000u

static bool rng_equal(const tw_rng *a, const tw_rng *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

/* ---- rng ---------------------------------------------------------------- */

static void test_base_rng_same_seed_same_stream_repeats(void **state)
{
    tw_rng a, b;
    tw_rng_init(&a, SEED, 3);
    tw_rng_init(&b, SEED, 3);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(tw_rng_next(&a), tw_rng_next(&b));
    }
}

static void test_base_rng_other_stream_or_seed_differs(void **state)
{
    tw_rng base, stream, seed;
    tw_rng_init(&base, SEED, 0);
    tw_rng_init(&stream, SEED, 1);
    tw_rng_init(&seed, SEED + 1, 0);
    int same_stream = 0, same_seed = 0;
    for (int i = 0; i < 64; i++) {
        uint64_t x = tw_rng_next(&base);
        same_stream += x == tw_rng_next(&stream);
        same_seed += x == tw_rng_next(&seed);
    }
    assert_int_equal(same_stream, 0);
    assert_int_equal(same_seed, 0);
}

static void test_base_rng_splitmix64_known_answer(void **state)
{
    /* The reference splitmix64 from state 0 (Vigna's splitmix64.c). */
    uint64_t s = 0;
    assert_int_equal(tw_splitmix64(&s), 0xe220a8397b1dcdafull);
    assert_int_equal(s, 0x9e3779b97f4a7c15ull);
    assert_int_equal(tw_splitmix64(&s), 0x6e789e6aa1b965f4ull);
}

static void test_base_rng_below_bounded_and_uniform(void **state)
{
    enum { BUCKETS = 10 };
    uint32_t count[BUCKETS] = {0};
    tw_rng rng;
    tw_rng_init(&rng, SEED, 7);
    for (uint32_t i = 0; i < DRAWS; i++) {
        uint64_t x = tw_rng_below(&rng, BUCKETS);
        assert_true(x < BUCKETS);
        count[x]++;
    }
    /* Expected 10000 each, sd about 95. */
    for (int b = 0; b < BUCKETS; b++) {
        assert_in_range(count[b], 10000 - 600, 10000 + 600);
    }
    assert_int_equal(tw_rng_below(&rng, 1), 0);
}

static void test_base_rng_range_includes_both_ends(void **state)
{
    uint32_t seen[3] = {0};
    tw_rng rng;
    tw_rng_init(&rng, SEED, 8);
    for (int i = 0; i < 3000; i++) {
        uint64_t x = tw_rng_range(&rng, 5, 7);
        assert_in_range(x, 5, 7);
        seen[x - 5]++;
    }
    assert_true(seen[0] > 0);
    assert_true(seen[1] > 0);
    assert_true(seen[2] > 0);
    assert_int_equal(tw_rng_range(&rng, 42, 42), 42);
    /* The full range cannot be expressed as hi - lo + 1; it must still work. */
    tw_rng twin = rng;
    assert_int_equal(tw_rng_range(&rng, 0, UINT64_MAX), tw_rng_next(&twin));
}

static void test_base_rng_chance_zero_and_one_draw_nothing(void **state)
{
    tw_rng rng, before;
    tw_rng_init(&rng, SEED, 9);
    before = rng;
    for (int i = 0; i < 100; i++) {
        assert_false(tw_rng_chance(&rng, TW_RATIO_ZERO));
        assert_false(tw_rng_chance(&rng, TW_RATIO(0, 7)));
        assert_true(tw_rng_chance(&rng, TW_RATIO_ONE));
        assert_true(tw_rng_chance(&rng, TW_RATIO(7, 7)));
    }
    /* A knob set to 0 or 1 must leave every later draw where it was. */
    assert_true(rng_equal(&rng, &before));
}

static void test_base_rng_chance_quarter_rate_and_one_draw(void **state)
{
    tw_rng rng, shadow;
    tw_rng_init(&rng, SEED, 10);
    shadow = rng;
    uint32_t hits = 0;
    for (uint32_t i = 0; i < DRAWS; i++) {
        hits += tw_rng_chance(&rng, TW_RATIO(1, 4));
        tw_rng_next(&shadow);
    }
    /* Exactly one draw per call, and 25000 expected with sd about 137. */
    assert_true(rng_equal(&rng, &shadow));
    assert_in_range(hits, 25000 - 800, 25000 + 800);
}

static void test_base_ratio_scale_max_no_overflow(void **state)
{
    assert_int_equal(tw_ratio_scale(TW_RATIO_ONE, UINT64_MAX), UINT64_MAX);
    assert_int_equal(tw_ratio_scale(TW_RATIO_ZERO, UINT64_MAX), 0);
    assert_int_equal(tw_ratio_scale(TW_RATIO(1, 2), UINT64_MAX), UINT64_MAX / 2);
    /* (2^64 - 1) * 3 / 4 rounded down is 3 * 2^62 - 1. */
    assert_int_equal(tw_ratio_scale(TW_RATIO(3, 4), UINT64_MAX), 3ull * (1ull << 62) - 1);
    assert_int_equal(tw_ratio_scale(TW_RATIO(UINT32_MAX, UINT32_MAX), UINT64_MAX), UINT64_MAX);
    assert_true(tw_ratio_valid(TW_RATIO(3, 4)));
    assert_false(tw_ratio_valid(TW_RATIO(5, 4)));
    assert_false(tw_ratio_valid(TW_RATIO(0, 0)));
}

/* ---- ring --------------------------------------------------------------- */

static void ring_push_u32(tw_ring *r, uint32_t v)
{
    assert_int_equal(tw_ring_push(r, &v), 0);
}

static uint32_t ring_pop_u32(tw_ring *r)
{
    uint32_t v = 0;
    assert_true(tw_ring_pop(r, &v));
    return v;
}

static void test_base_ring_init_capacity_rounded_to_pow2(void **state)
{
    tw_ring r;
    tw_ring_init(&r, 5, sizeof(uint32_t));
    assert_int_equal(r.capacity, 8);
    tw_ring_free(&r);
    tw_ring_init(&r, 8, sizeof(uint32_t));
    assert_int_equal(r.capacity, 8);
    tw_ring_free(&r);
    tw_ring_init(&r, 1, sizeof(uint32_t));
    assert_int_equal(r.capacity, 1);
    tw_ring_free(&r);
}

static void test_base_ring_push_pop_fifo_and_wraps(void **state)
{
    tw_ring r;
    tw_ring_init(&r, 4, sizeof(uint32_t));
    uint32_t next_in = 0, next_out = 0;
    /* Three at a time through four slots: head and tail wrap many times. */
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 3; i++) {
            ring_push_u32(&r, next_in++);
        }
        assert_int_equal(*(uint32_t *)tw_ring_peek(&r), next_out);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(ring_pop_u32(&r), next_out++);
        }
    }
    assert_true(tw_ring_empty(&r));
    assert_null(tw_ring_peek(&r));
    uint32_t v;
    assert_false(tw_ring_pop(&r, &v));
    assert_int_equal(r.pushes, 150);
    tw_ring_free(&r);
}

static void test_base_ring_full_push_refused_and_counted(void **state)
{
    tw_ring r;
    tw_ring_init(&r, 4, sizeof(uint32_t));
    for (uint32_t i = 0; i < 4; i++) {
        ring_push_u32(&r, i);
    }
    assert_true(tw_ring_full(&r));
    uint32_t v = 99;
    assert_int_equal(tw_ring_push(&r, &v), -TW_EFULL);
    assert_int_equal(tw_ring_push(&r, &v), -TW_EFULL);
    assert_int_equal(r.overflows, 2);
    assert_int_equal(r.pushes, 4);
    /* The refused pushes left the contents alone. */
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(ring_pop_u32(&r), i);
    }
    tw_ring_free(&r);
}

static void test_base_ring_high_water_keeps_peak(void **state)
{
    tw_ring r;
    tw_ring_init(&r, 8, sizeof(uint32_t));
    for (uint32_t i = 0; i < 5; i++) {
        ring_push_u32(&r, i);
    }
    for (int i = 0; i < 5; i++) {
        ring_pop_u32(&r);
    }
    ring_push_u32(&r, 1);
    assert_int_equal(r.high_water, 5);
    assert_int_equal(tw_ring_len(&r), 1);
    tw_ring_clear(&r);
    assert_true(tw_ring_empty(&r));
    assert_int_equal(r.high_water, 5);
    tw_ring_free(&r);
}

static void test_base_ring_push_slot_commit_in_place(void **state)
{
    tw_ring r;
    tw_ring_init(&r, 2, sizeof(uint32_t));
    uint32_t *slot = tw_ring_push_slot(&r);
    assert_non_null(slot);
    *slot = 7;
    /* Not visible until committed. */
    assert_true(tw_ring_empty(&r));
    tw_ring_push_commit(&r);
    slot = tw_ring_push_slot(&r);
    *slot = 8;
    tw_ring_push_commit(&r);
    assert_null(tw_ring_push_slot(&r));
    assert_int_equal(r.overflows, 1);
    assert_int_equal(ring_pop_u32(&r), 7);
    assert_int_equal(ring_pop_u32(&r), 8);
    tw_ring_free(&r);
}

/* ---- pool --------------------------------------------------------------- */

typedef struct obj {
    uint64_t a;
    uint32_t b;
} obj;

static void test_base_pool_exhausted_take_null_and_counted(void **state)
{
    tw_pool p;
    obj *taken[4];
    tw_pool_init(&p, 4, sizeof(obj));
    for (int i = 0; i < 4; i++) {
        taken[i] = tw_pool_take(&p);
        assert_non_null(taken[i]);
        for (int j = 0; j < i; j++) {
            assert_ptr_not_equal(taken[i], taken[j]);
        }
    }
    assert_null(tw_pool_take(&p));
    assert_null(tw_pool_take(&p));
    assert_int_equal(p.exhausted, 2);
    assert_int_equal(p.in_use, 4);
    assert_int_equal(p.high_water, 4);
    tw_pool_free(&p);
}

static void test_base_pool_put_take_reuses_zeroed(void **state)
{
    tw_pool p;
    tw_pool_init(&p, 2, sizeof(obj));
    obj *a = tw_pool_take(&p);
    obj *b = tw_pool_take(&p);
    a->a = 0xdead;
    a->b = 7;
    tw_pool_put(&p, a);
    assert_int_equal(p.in_use, 1);
    obj *c = tw_pool_take(&p);
    assert_ptr_equal(c, a);
    assert_int_equal(c->a, 0);
    assert_int_equal(c->b, 0);
    assert_int_equal(p.exhausted, 0);
    tw_pool_put(&p, b);
    tw_pool_put(&p, c);
    assert_int_equal(p.in_use, 0);
    assert_int_equal(p.high_water, 2);
    tw_pool_free(&p);
}

static void test_base_pool_index_round_trip(void **state)
{
    tw_pool p;
    tw_pool_init(&p, 8, 24); /* rounded to 32 inside; indexes must not care */
    for (uint32_t i = 0; i < 8; i++) {
        void *o = tw_pool_take(&p);
        assert_ptr_equal(tw_pool_at(&p, tw_pool_index(&p, o)), o);
        assert_int_equal((uintptr_t)o % 16, 0);
    }
    for (uint32_t i = 0; i < 8; i++) {
        assert_int_equal(tw_pool_index(&p, tw_pool_at(&p, i)), i);
    }
    tw_pool_free(&p);
}

static void test_base_pool_taken_double_put_asserts(void **state)
{
    tw_pool p;
    tw_pool_init(&p, 4, sizeof(obj));
    obj *a = tw_pool_take(&p);
    tw_pool_take(&p);
    tw_pool_put(&p, a);
    expect_assert_failure(tw_pool_put(&p, a));
    assert_int_equal(p.in_use, 1);
    tw_pool_free(&p);
}

static void test_base_pool_full_double_put_of_free_tail_asserts(void **state)
{
    tw_pool p;
    tw_pool_init(&p, 3, sizeof(obj));
    obj *a = tw_pool_take(&p);
    obj *b = tw_pool_take(&p);
    tw_pool_take(&p); /* keeps in_use above zero after the puts */
    tw_pool_put(&p, a);
    tw_pool_put(&p, b);
    expect_assert_failure(tw_pool_put(&p, a));
    /* Had the double put been taken, the free list would now be a cycle. */
    void *x = tw_pool_take(&p);
    void *y = tw_pool_take(&p);
    assert_ptr_not_equal(x, y);
    tw_pool_free(&p);
}

/* ---- trace hash --------------------------------------------------------- */

static void test_base_hash_fold_order_sensitive(void **state)
{
    uint64_t h = TW_TRACE_HASH_INIT;
    uint64_t ab = tw_hash_fold(tw_hash_fold(h, 1), 2);
    uint64_t ba = tw_hash_fold(tw_hash_fold(h, 2), 1);
    assert_int_not_equal(ab, ba);
    assert_int_equal(ab, tw_hash_fold(tw_hash_fold(h, 1), 2));
    /* A zero word still changes the digest: an event with value 0 counts. */
    assert_int_not_equal(tw_hash_fold(h, 0), h);
}

static void test_base_hash_bytes_length_and_trailing_zeros(void **state)
{
    static const uint8_t zeros[16] = {0};
    uint64_t h = TW_TRACE_HASH_INIT;
    assert_int_not_equal(tw_hash_bytes(h, "abc", 3), tw_hash_bytes(h, "abc\0", 4));
    assert_int_not_equal(tw_hash_bytes(h, zeros, 8), tw_hash_bytes(h, zeros, 9));
    assert_int_not_equal(tw_hash_bytes(h, zeros, 0), tw_hash_bytes(h, zeros, 1));
    assert_int_not_equal(tw_hash_bytes(h, zeros, 15), tw_hash_bytes(h, zeros, 16));
    assert_int_equal(tw_hash_bytes(h, "twin", 4), tw_hash_bytes(h, "twin", 4));
    assert_int_not_equal(tw_hash_bytes(h, "twin", 4), tw_hash_bytes(h, "twim", 4));
}

/* ---- units -------------------------------------------------------------- */

static void expect_duration(const char *s, tw_ns want)
{
    tw_ns got = 12345;
    int rc = tw_parse_duration(s, &got);
    if (rc != 0 || got != want) {
        fail_msg("\"%s\": rc %d, got %llu, want %llu", s, rc, (unsigned long long)got,
                 (unsigned long long)want);
    }
}

static void expect_duration_error(const char *s, int want_rc)
{
    tw_ns got = 12345;
    int rc = tw_parse_duration(s, &got);
    if (rc != want_rc) {
        fail_msg("\"%s\": rc %d (%s), want %d (%s)", s, rc, tw_error_name(rc), want_rc,
                 tw_error_name(want_rc));
    }
    assert_int_equal(got, 12345); /* an error leaves the output alone */
}

static void test_base_units_duration_parses_units(void **state)
{
    expect_duration("250us", TW_US(250));
    expect_duration("1.5s", TW_MS(1500));
    expect_duration("10ms", TW_MS(10));
    expect_duration("0.000001s", TW_US(1));
    expect_duration("2m", TW_SEC(120));
    expect_duration("2min", TW_SEC(120));
    expect_duration("1h", TW_SEC(3600));
    expect_duration("7ns", 7);
    expect_duration("0s", 0);
    expect_duration(".5ms", TW_US(500));
    /* Fractions below a nanosecond round down. */
    expect_duration("1.9ns", 1);
    expect_duration("18446744073ms", TW_MS(18446744073ull));
}

static void test_base_units_duration_rejects_malformed(void **state)
{
    expect_duration_error("", -TW_EINVAL);
    expect_duration_error("5", -TW_EINVAL);
    expect_duration_error("1.5x", -TW_EINVAL);
    expect_duration_error("-1s", -TW_EINVAL);
    expect_duration_error("s", -TW_EINVAL);
    expect_duration_error(".", -TW_EINVAL);
    expect_duration_error("1 s", -TW_EINVAL);
    expect_duration_error("1sx", -TW_EINVAL);
}

static void test_base_units_duration_overflow_erange(void **state)
{
    /* Too many digits for 64 bits at all. */
    expect_duration_error("99999999999999999999999s", -TW_ERANGE);
    /* Fits as a number, not once scaled to nanoseconds. */
    expect_duration_error("18446744074s", -TW_ERANGE);
    expect_duration_error("5124096h", -TW_ERANGE);
}

static void test_base_units_duration_max_fits(void **state)
{
    expect_duration("18446744073709551614ns", UINT64_MAX - 1);
}

static void expect_format(tw_ns ns, const char *want)
{
    char buf[32];
    assert_string_equal(tw_format_duration(ns, buf, sizeof(buf)), want);
}

static void test_base_units_format_duration_samples(void **state)
{
    expect_format(0, "0ns");
    expect_format(999, "999ns");
    expect_format(TW_US(250), "250.000us");
    expect_format(TW_US(1500), "1.500ms");
    expect_format(TW_MS(1500), "1.500s");
    expect_format(TW_SEC(3600), "3600.000s");
    expect_format(TW_NS_NEVER, "never");
    /* A short buffer is truncated, not overrun. */
    char small[4];
    assert_string_equal(tw_format_duration(TW_MS(1500), small, sizeof(small)), "1.5");
}

/* ---- errors ------------------------------------------------------------- */

static void test_base_error_table_names_and_messages(void **state)
{
    assert_string_equal(tw_strerror(-TW_EFULL), "queue or table is full");
    assert_string_equal(tw_strerror(TW_EFULL), "queue or table is full");
    assert_string_equal(tw_error_name(-TW_EFULL), "EFULL");
    assert_string_equal(tw_error_name(-TW_ERANGE), "ERANGE");
    assert_string_equal(tw_strerror(0), "ok");
    assert_string_equal(tw_error_name(0), "OK");
    assert_string_equal(tw_strerror(-9999), "unknown error");
    assert_string_equal(tw_error_name(TW_ERROR_COUNT), "EUNKNOWN");
    /* Every code has its own name. */
    for (int a = 1; a < TW_ERROR_COUNT; a++) {
        for (int b = a + 1; b < TW_ERROR_COUNT; b++) {
            assert_string_not_equal(tw_error_name(a), tw_error_name(b));
        }
    }
}

/* ---- mem ---------------------------------------------------------------- */

static void test_base_mem_sealed_calloc_asserts(void **state)
{
    uint64_t before = tw_mem_allocations();
    tw_mem_seal();
    expect_assert_failure((void)tw_mem_calloc(1, 8));
    tw_mem_unseal();
    assert_int_equal(tw_mem_allocations(), before);
    void *p = tw_mem_calloc(2, 8);
    assert_non_null(p);
    assert_int_equal(((uint64_t *)p)[1], 0);
    assert_int_equal(tw_mem_allocations(), before + 1);
    tw_mem_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_rng_same_seed_same_stream_repeats),
        cmocka_unit_test(test_base_rng_other_stream_or_seed_differs),
        cmocka_unit_test(test_base_rng_splitmix64_known_answer),
        cmocka_unit_test(test_base_rng_below_bounded_and_uniform),
        cmocka_unit_test(test_base_rng_range_includes_both_ends),
        cmocka_unit_test(test_base_rng_chance_zero_and_one_draw_nothing),
        cmocka_unit_test(test_base_rng_chance_quarter_rate_and_one_draw),
        cmocka_unit_test(test_base_ratio_scale_max_no_overflow),
        cmocka_unit_test(test_base_ring_init_capacity_rounded_to_pow2),
        cmocka_unit_test(test_base_ring_push_pop_fifo_and_wraps),
        cmocka_unit_test(test_base_ring_full_push_refused_and_counted),
        cmocka_unit_test(test_base_ring_high_water_keeps_peak),
        cmocka_unit_test(test_base_ring_push_slot_commit_in_place),
        cmocka_unit_test(test_base_pool_exhausted_take_null_and_counted),
        cmocka_unit_test(test_base_pool_put_take_reuses_zeroed),
        cmocka_unit_test(test_base_pool_index_round_trip),
        cmocka_unit_test(test_base_pool_taken_double_put_asserts),
        cmocka_unit_test(test_base_pool_full_double_put_of_free_tail_asserts),
        cmocka_unit_test(test_base_hash_fold_order_sensitive),
        cmocka_unit_test(test_base_hash_bytes_length_and_trailing_zeros),
        cmocka_unit_test(test_base_units_duration_parses_units),
        cmocka_unit_test(test_base_units_duration_rejects_malformed),
        cmocka_unit_test(test_base_units_duration_overflow_erange),
        cmocka_unit_test(test_base_units_duration_max_fits),
        cmocka_unit_test(test_base_units_format_duration_samples),
        cmocka_unit_test(test_base_error_table_names_and_messages),
        cmocka_unit_test(test_base_mem_sealed_calloc_asserts),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
