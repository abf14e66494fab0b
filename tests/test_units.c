/* Quantities as people write them, parsed exactly: every case here is a
 * value a scenario file could hold, and the expected result is the integer
 * the simulator will use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/error.h"
#include "base/units.h"
#include "harness.h"

typedef int (*u64_parser)(const char *, uint64_t *);

static void expect_u64(u64_parser parse, const char *s, uint64_t want)
{
    uint64_t got = 12345;
    int rc = parse(s, &got);
    if (rc != 0 || got != want) {
        fail_msg("\"%s\": rc %d, got %llu, want %llu", s, rc, (unsigned long long)got,
                 (unsigned long long)want);
    }
}

static void expect_u64_error(u64_parser parse, const char *s, int want_rc)
{
    uint64_t got = 12345;
    int rc = parse(s, &got);
    if (rc != want_rc) {
        fail_msg("\"%s\": rc %d (%s), want %d (%s)", s, rc, tw_error_name(rc), want_rc,
                 tw_error_name(want_rc));
    }
    assert_int_equal(got, 12345); /* an error leaves the output alone */
}

static void expect_ratio(const char *s, uint32_t num, uint32_t den)
{
    tw_ratio r = TW_RATIO(7, 9);
    int rc = tw_parse_ratio(s, &r);
    if (rc != 0 || r.num != num || r.den != den) {
        fail_msg("\"%s\": rc %d, got %u/%u, want %u/%u", s, rc, r.num, r.den, num, den);
    }
}

static void expect_ratio_error(const char *s, int want_rc)
{
    tw_ratio r = TW_RATIO(7, 9);
    int rc = tw_parse_ratio(s, &r);
    if (rc != want_rc) {
        fail_msg("\"%s\": rc %d (%s), want %d", s, rc, tw_error_name(rc), want_rc);
    }
    assert_int_equal(r.num, 7);
    assert_int_equal(r.den, 9);
}

static void test_units_rate_si_units(void **state)
{
    expect_u64(tw_parse_rate, "1.5Gbps", 1500000000ull);
    expect_u64(tw_parse_rate, "10Gbps", 10000000000ull);
    expect_u64(tw_parse_rate, "100Mbps", 100000000ull);
    expect_u64(tw_parse_rate, "800kbps", 800000ull);
    expect_u64(tw_parse_rate, "9600bps", 9600ull);
    expect_u64(tw_parse_rate, "2Tbps", 2000000000000ull);
    expect_u64(tw_parse_rate, "0.001kbps", 1);
    expect_u64(tw_parse_rate, "1.000000000000000000000Gbps", 1000000000ull);
}

static void test_units_rate_rejects_inexact_and_malformed(void **state)
{
    expect_u64_error(tw_parse_rate, "0.5bps", -TW_EINVAL); /* no half bits */
    expect_u64_error(tw_parse_rate, "1.0000000001kbps", -TW_EINVAL);
    expect_u64_error(tw_parse_rate, "100", -TW_EINVAL);     /* a unit is required */
    expect_u64_error(tw_parse_rate, "100mbps", -TW_EINVAL); /* case matters */
    expect_u64_error(tw_parse_rate, "100 Mbps", -TW_EINVAL);
    expect_u64_error(tw_parse_rate, "Mbps", -TW_EINVAL);
    expect_u64_error(tw_parse_rate, "-1Mbps", -TW_EINVAL);
    expect_u64_error(tw_parse_rate, "", -TW_EINVAL);
    expect_u64_error(tw_parse_rate, "18446744073709551616bps", -TW_ERANGE);
    expect_u64_error(tw_parse_rate, "18446744073709552Tbps", -TW_ERANGE);
    /* A dropped 19th fraction digit would have changed the value. */
    expect_u64_error(tw_parse_rate, "0.0000000000000000001Tbps", -TW_EINVAL);
}

static void test_units_size_binary_and_si(void **state)
{
    expect_u64(tw_parse_size, "64KiB", 65536);
    expect_u64(tw_parse_size, "1MiB", 1048576);
    expect_u64(tw_parse_size, "1.5KiB", 1536);
    expect_u64(tw_parse_size, "1500B", 1500);
    expect_u64(tw_parse_size, "10MB", 10000000);
    expect_u64(tw_parse_size, "10kB", 10000);
    expect_u64(tw_parse_size, "10KB", 10000);
    expect_u64(tw_parse_size, "2GiB", 2147483648ull);
    expect_u64(tw_parse_size, "16777215TiB", 16777215ull << 40);
    expect_u64_error(tw_parse_size, "16777216TiB", -TW_ERANGE);
    expect_u64_error(tw_parse_size, "0.1KiB", -TW_EINVAL); /* 102.4 bytes */
    expect_u64_error(tw_parse_size, "1.5B", -TW_EINVAL);
    expect_u64_error(tw_parse_size, "64", -TW_EINVAL);
    expect_u64_error(tw_parse_size, "64kib", -TW_EINVAL);
    expect_u64_error(tw_parse_size, "64KiBs", -TW_EINVAL);
}

static void test_units_ratio_percent_and_fraction(void **state)
{
    expect_ratio("1.5%", 3, 200); /* 15/1000 reduced */
    expect_ratio("1.50%", 3, 200);
    expect_ratio("50%", 1, 2);
    expect_ratio("100%", 1, 1);
    expect_ratio("0%", 0, 1);
    expect_ratio("0", 0, 1);
    expect_ratio("0.001%", 1, 100000);
    expect_ratio("1/1000", 1, 1000);
    expect_ratio("2/1000", 1, 500);
    expect_ratio("0/7", 0, 1);
    expect_ratio("4294967295/4294967295", 1, 1);
    expect_ratio("0.0000001%", 1, 1000000000);
    expect_ratio("12.5%", 1, 8);
}

static void test_units_ratio_rejects_floats_and_overflow(void **state)
{
    expect_ratio_error("0.015", -TW_EINVAL); /* bare decimals are ambiguous */
    expect_ratio_error("1", -TW_EINVAL);
    expect_ratio_error("1.5", -TW_EINVAL);
    expect_ratio_error("%", -TW_EINVAL);
    expect_ratio_error("1.5 %", -TW_EINVAL);
    expect_ratio_error("1/0", -TW_EINVAL);
    expect_ratio_error("/5", -TW_EINVAL);
    expect_ratio_error("1/", -TW_EINVAL);
    expect_ratio_error("1/2/3", -TW_EINVAL);
    expect_ratio_error("-1%", -TW_EINVAL);
    expect_ratio_error("100.1%", -TW_ERANGE);
    expect_ratio_error("3/2", -TW_ERANGE);
    /* 1e-10 cannot be written with a 32-bit denominator. */
    expect_ratio_error("0.00000001%", -TW_ERANGE);
    expect_ratio_error("1/4294967296", -TW_ERANGE);
    expect_ratio_error("99999999999999999999/1", -TW_ERANGE);
}

static void test_units_ppm_unbounded_percent(void **state)
{
    expect_u64(tw_parse_ppm, "150%", 1500000);
    expect_u64(tw_parse_ppm, "1.5%", 15000);
    expect_u64(tw_parse_ppm, "0.0001%", 1);
    expect_u64(tw_parse_ppm, "0%", 0);
    expect_u64_error(tw_parse_ppm, "0.00001%", -TW_EINVAL);
    expect_u64_error(tw_parse_ppm, "1.5", -TW_EINVAL);
    expect_u64_error(tw_parse_ppm, "18446744073709551615%", -TW_ERANGE);
}

static void test_units_duration_ps_fine_costs(void **state)
{
    expect_u64(tw_parse_duration_ps, "50ps", 50);
    expect_u64(tw_parse_duration_ps, "0.05ns", 50);
    expect_u64(tw_parse_duration_ps, "2ns", 2000);
    expect_u64(tw_parse_duration_ps, "1us", 1000000);
    expect_u64_error(tw_parse_duration_ps, "5", -TW_EINVAL);
    expect_u64_error(tw_parse_duration_ps, "5m", -TW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units_rate_si_units),
        cmocka_unit_test(test_units_rate_rejects_inexact_and_malformed),
        cmocka_unit_test(test_units_size_binary_and_si),
        cmocka_unit_test(test_units_ratio_percent_and_fraction),
        cmocka_unit_test(test_units_ratio_rejects_floats_and_overflow),
        cmocka_unit_test(test_units_ppm_unbounded_percent),
        cmocka_unit_test(test_units_duration_ps_fine_costs),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
