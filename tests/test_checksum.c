/* The Internet checksum against RFC 1071's worked example, a naive 16-bit
 * reference on random data, and RFC 1624 incremental updates against full
 * recomputation. Random cases print "reproduce with seed=N" on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/rng.h"
#include "wire/bytes.h"
#include "wire/checksum.h"

#define SEED 0x7477696e63736dull /* "twincsm" */

/* RFC 1071 §4.1, one 16-bit big-endian word at a time: the obviously
 * correct version. Returns the folded sum, not complemented. */
static uint16_t naive_sum(const uint8_t *p, size_t len)
{
    uint64_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint64_t)p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (uint64_t)p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)sum;
}

static void fill_random(tw_rng *rng, uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)tw_rng_next(rng);
    }
}

static void test_checksum_rfc1071_worked_example(void **state)
{
    /* RFC 1071 §3: the one's-complement sum of 0001 f203 f4f5 f6f7 is ddf2,
     * whatever the grouping or byte order. */
    static const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    assert_int_equal(tw_csum_fold(tw_csum_add(0, data, sizeof data)), 0xddf2);
    assert_int_equal(tw_csum(data, sizeof data), 0x220d);
}

static void test_checksum_odd_length_pads_last_byte(void **state)
{
    /* RFC 1071 §4: an odd byte count is padded with a zero byte on the
     * right, so the last byte is the high half of a word. */
    static const uint8_t data[] = {0x01, 0x02, 0x03};
    assert_int_equal(tw_csum_fold(tw_csum_add(0, data, sizeof data)), 0x0402);
    assert_int_equal(tw_csum(data, sizeof data), 0xfbfd);
    static const uint8_t one[] = {0xab};
    assert_int_equal(tw_csum(one, 1), (uint16_t)~0xab00);
}

static void test_checksum_empty_and_zero_data(void **state)
{
    static const uint8_t zeros[64];
    assert_int_equal(tw_csum(zeros, 0), 0xffff);
    assert_int_equal(tw_csum(zeros, sizeof zeros), 0xffff);
    assert_int_equal(tw_csum_add(0x1234, zeros, 0), 0x1234);
}

static void test_checksum_all_ones_is_negative_zero(void **state)
{
    /* 0xffff words sum to 0xffff (-0) at every length, never to +0: the
     * representation must match the 16-bit loop exactly. */
    uint8_t ones[257];
    memset(ones, 0xff, sizeof ones);
    for (size_t len = 1; len <= sizeof ones; len++) {
        assert_int_equal(tw_csum_fold(tw_csum_add(0, ones, len)), naive_sum(ones, len));
    }
}

static void test_checksum_random_matches_naive(void **state)
{
    static uint8_t buf[2000 + 16];
    tw_rng rng;
    tw_rng_init(&rng, SEED, 0);
    for (int trial = 0; trial < 4000; trial++) {
        size_t len = (size_t)tw_rng_below(&rng, 2001);
        size_t align = (size_t)tw_rng_below(&rng, 16);
        uint8_t *p = buf + align;
        /* Some trials are mostly 0xff, so carries dominate. */
        if (trial % 8 == 0) {
            memset(p, 0xff, len);
            if (len > 0) {
                p[tw_rng_below(&rng, len)] = (uint8_t)tw_rng_next(&rng);
            }
        } else {
            fill_random(&rng, p, len);
        }
        uint16_t want = naive_sum(p, len);
        uint16_t got = tw_csum_fold(tw_csum_add(0, p, len));
        if (got != want) {
            print_message("trial %d len %zu align %zu: reproduce with seed=%llu\n", trial, len,
                          align, (unsigned long long)SEED);
        }
        assert_int_equal(got, want);
        assert_int_equal(tw_csum(p, len), (uint16_t)~want);
    }
}

/* The fused copy and sum: the same sum as tw_csum_add and the same bytes as
 * memcpy, for every length class (vector steps, a tail, nothing), any
 * alignment of either side, a starting sum, mostly-0xff data that carries
 * in every lane, and a run long enough to span more than one 1 MiB chunk
 * of 32-bit lanes. */
static void test_checksum_copy_matches_add_and_memcpy(void **state)
{
    static uint8_t src[(3u << 20) + 64], dst[(3u << 20) + 64];
    tw_rng rng;
    tw_rng_init(&rng, SEED, 3);
    for (int trial = 0; trial < 3000; trial++) {
        size_t len = trial == 0 ? (3u << 20) : (size_t)tw_rng_below(&rng, 4200);
        size_t sa = (size_t)tw_rng_below(&rng, 32), da = (size_t)tw_rng_below(&rng, 32);
        if (trial % 5 == 0) {
            memset(src + sa, 0xff, len);
        } else {
            fill_random(&rng, src + sa, len);
        }
        memset(dst, 0xa5, len + da + 32);
        uint32_t start = (uint32_t)tw_rng_below(&rng, 0x10000);
        uint32_t want = tw_csum_add(start, src + sa, len);
        uint32_t got = tw_csum_copy(start, dst + da, src + sa, len);
        if (got != want || memcmp(dst + da, src + sa, len) != 0) {
            print_message("trial %d len %zu: reproduce with seed=%llu\n", trial, len,
                          (unsigned long long)SEED);
        }
        assert_int_equal(got, want);
        assert_memory_equal(dst + da, src + sa, len);
        assert_int_equal(dst[da + len], 0xa5); /* nothing past the end */
    }
}

static void test_checksum_blocks_combine_at_any_offset(void **state)
{
    static uint8_t buf[1500];
    tw_rng rng;
    tw_rng_init(&rng, SEED, 1);
    for (int trial = 0; trial < 1000; trial++) {
        size_t len = (size_t)tw_rng_below(&rng, sizeof buf + 1);
        fill_random(&rng, buf, len);
        size_t cut = (size_t)tw_rng_below(&rng, len + 1);
        uint32_t sum = tw_csum_add(0, buf, cut);
        sum = tw_csum_block_add(sum, tw_csum_add(0, buf + cut, len - cut), cut);
        assert_int_equal(tw_csum_fold(sum), naive_sum(buf, len));
        /* At an even cut, plain chaining is enough. */
        size_t even = cut & ~(size_t)1;
        uint32_t chained = tw_csum_add(tw_csum_add(0, buf, even), buf + even, len - even);
        assert_int_equal(tw_csum_fold(chained), naive_sum(buf, len));
    }
}

static void test_checksum_ok_accepts_only_right_checksum(void **state)
{
    uint8_t msg[21];
    tw_rng rng;
    tw_rng_init(&rng, SEED, 2);
    fill_random(&rng, msg, sizeof msg);
    tw_bytes_store_be16(msg + 10, 0);
    tw_bytes_store_be16(msg + 10, tw_csum(msg, sizeof msg));
    assert_true(tw_csum_ok(tw_csum_add(0, msg, sizeof msg)));
    msg[3] ^= 0x10;
    assert_false(tw_csum_ok(tw_csum_add(0, msg, sizeof msg)));
}

static void test_checksum_pseudo_ipv4_matches_bytes(void **state)
{
    /* RFC 768: source, destination, zero, protocol, UDP length. */
    static const uint8_t pseudo[] = {10, 7, 0, 1, 10, 7, 0, 2, 0, 17, 0x05, 0xdc};
    uint32_t s = tw_csum_pseudo_ipv4(0x0a070001, 0x0a070002, 17, 1500);
    assert_int_equal(tw_csum_fold(s), tw_csum_fold(tw_csum_add(0, pseudo, sizeof pseudo)));
}

static void test_checksum_rfc1624_example(void **state)
{
    /* RFC 1624 §3: the rest of the header sums to 0xcd7a and a field goes
     * from 0x5555 to 0x3285. Recomputing gives 0x0000; the RFC 1141 form
     * would give 0xffff. */
    assert_int_equal(tw_csum_update16(0xdd2f, 0x5555, 0x3285), 0x0000);
}

static void test_checksum_update_matches_recompute(void **state)
{
    static uint8_t buf[1500];
    tw_rng rng;
    tw_rng_init(&rng, SEED, 3);
    for (int trial = 0; trial < 2000; trial++) {
        size_t len = 8 + 2 * (size_t)tw_rng_below(&rng, (sizeof buf - 8) / 2 + 1);
        fill_random(&rng, buf, len);
        uint16_t check = tw_csum(buf, len);
        size_t at = 2 * (size_t)tw_rng_below(&rng, (len - 4) / 2 + 1);
        if (trial % 2 == 0) {
            uint16_t old_value = tw_bytes_load_be16(buf + at);
            uint16_t new_value = (uint16_t)tw_rng_next(&rng);
            tw_bytes_store_be16(buf + at, new_value);
            check = tw_csum_update16(check, old_value, new_value);
        } else {
            uint32_t old_value = tw_bytes_load_be32(buf + at);
            uint32_t new_value = (uint32_t)tw_rng_next(&rng);
            tw_bytes_store_be32(buf + at, new_value);
            check = tw_csum_update32(check, old_value, new_value);
        }
        if (check != tw_csum(buf, len)) {
            print_message("trial %d: reproduce with seed=%llu\n", trial, (unsigned long long)SEED);
        }
        assert_int_equal(check, tw_csum(buf, len));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_rfc1071_worked_example),
        cmocka_unit_test(test_checksum_odd_length_pads_last_byte),
        cmocka_unit_test(test_checksum_empty_and_zero_data),
        cmocka_unit_test(test_checksum_all_ones_is_negative_zero),
        cmocka_unit_test(test_checksum_random_matches_naive),
        cmocka_unit_test(test_checksum_copy_matches_add_and_memcpy),
        cmocka_unit_test(test_checksum_blocks_combine_at_any_offset),
        cmocka_unit_test(test_checksum_ok_accepts_only_right_checksum),
        cmocka_unit_test(test_checksum_pseudo_ipv4_matches_bytes),
        cmocka_unit_test(test_checksum_rfc1624_example),
        cmocka_unit_test(test_checksum_update_matches_recompute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
