/* The Toeplitz hash against Microsoft's published verification vectors and
 * against a bit-at-a-time reference on random keys; the indirection table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/rng.h"
#include "wire/bytes.h"
#include "wire/rss.h"

#define SEED 0x7477696e727373ull /* "twinrss" */

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

/* "Verifying the RSS Hash Calculation" (Microsoft), IPv4 table: the hash
 * of the 2-tuple (IPv4 only) and the 4-tuple (IPv4 with TCP), default key.
 * The spec lists destination first; input order is source first. */
static const struct {
    uint32_t source, target;
    uint16_t source_port, target_port;
    uint32_t hash2, hash4;
} vectors[] = {
    {IP4(66, 9, 149, 187), IP4(161, 142, 100, 80), 2794, 1766, 0x323e8fc2, 0x51ccc178},
    {IP4(199, 92, 111, 2), IP4(65, 69, 140, 83), 14230, 4739, 0xd718262a, 0xc626b0ea},
    {IP4(24, 19, 198, 95), IP4(12, 22, 207, 184), 12898, 38024, 0xd2d0a5de, 0x5c2b394a},
    {IP4(38, 27, 205, 30), IP4(209, 142, 163, 6), 48228, 2217, 0x82989176, 0xafc7327f},
    {IP4(153, 39, 163, 191), IP4(202, 188, 127, 2), 44251, 1303, 0x5d1809c5, 0x10e828a2},
};

/* The definition, one input bit at a time: for each set bit, XOR in the 32
 * key bits that start at its position. */
static uint32_t toeplitz_reference(const uint8_t *key, size_t key_len, const uint8_t *in,
                                   size_t len)
{
    uint32_t result = 0;
    uint32_t window = tw_bytes_load_be32(key);
    size_t next_key_bit = 32;
    for (size_t i = 0; i < len; i++) {
        for (int b = 7; b >= 0; b--) {
            if (in[i] >> b & 1) {
                result ^= window;
            }
            uint32_t next = 0;
            if (next_key_bit < key_len * 8) {
                next = key[next_key_bit / 8] >> (7 - next_key_bit % 8) & 1;
            }
            window = window << 1 | next;
            next_key_bit++;
        }
    }
    return result;
}

static tw_rss rss; /* 12 KiB of tables: not on the stack */

static void test_rss_microsoft_vectors_ipv4(void **state)
{
    tw_rss_init(&rss, NULL, 0);
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        assert_int_equal(tw_rss_hash_ipv4(&rss, vectors[i].source, vectors[i].target),
                         vectors[i].hash2);
        assert_int_equal(tw_rss_hash_ipv4_ports(&rss, vectors[i].source, vectors[i].target,
                                                vectors[i].source_port, vectors[i].target_port),
                         vectors[i].hash4);
    }
}

static void test_rss_byte_input_matches_tuple(void **state)
{
    tw_rss_init(&rss, NULL, 0);
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        uint8_t in[12];
        tw_bytes_store_be32(in, vectors[i].source);
        tw_bytes_store_be32(in + 4, vectors[i].target);
        tw_bytes_store_be16(in + 8, vectors[i].source_port);
        tw_bytes_store_be16(in + 10, vectors[i].target_port);
        assert_int_equal(tw_rss_hash(&rss, in, 12), vectors[i].hash4);
        assert_int_equal(tw_rss_hash(&rss, in, 8), vectors[i].hash2);
        assert_int_equal(toeplitz_reference(tw_rss_default_key, 40, in, 12), vectors[i].hash4);
    }
}

static void test_rss_tables_match_reference_on_random_keys(void **state)
{
    tw_rng rng;
    tw_rng_init(&rng, SEED, 0);
    for (int trial = 0; trial < 50; trial++) {
        uint8_t key[TW_RSS_KEY_LEN_MAX];
        size_t key_len = (size_t)tw_rng_range(&rng, TW_RSS_INPUT_MAX + 4, TW_RSS_KEY_LEN_MAX);
        for (size_t i = 0; i < key_len; i++) {
            key[i] = (uint8_t)tw_rng_next(&rng);
        }
        tw_rss_init(&rss, key, key_len);
        for (int k = 0; k < 100; k++) {
            uint8_t in[TW_RSS_INPUT_MAX];
            size_t len = (size_t)tw_rng_below(&rng, TW_RSS_INPUT_MAX + 1);
            for (size_t i = 0; i < len; i++) {
                in[i] = (uint8_t)tw_rng_next(&rng);
            }
            uint32_t want = toeplitz_reference(key, key_len, in, len);
            if (tw_rss_hash(&rss, in, len) != want) {
                print_message("trial %d: reproduce with seed=%llu\n", trial,
                              (unsigned long long)SEED);
            }
            assert_int_equal(tw_rss_hash(&rss, in, len), want);
        }
    }
}

static void test_rss_repeating_key_is_symmetric(void **state)
{
    /* A key repeating one 16-bit pattern hashes both directions of a flow
     * alike (Woo and Park, "Scalable TCP Session Monitoring with Symmetric
     * Receive-side Scaling"), which is the claim rss.h makes. */
    uint8_t key[TW_RSS_KEY_LEN_MAX];
    for (size_t i = 0; i < sizeof key; i += 2) {
        key[i] = 0x6d;
        key[i + 1] = 0x5a;
    }
    tw_rss_init(&rss, key, sizeof key);
    tw_rng rng;
    tw_rng_init(&rng, SEED, 1);
    for (int i = 0; i < 1000; i++) {
        uint32_t a = (uint32_t)tw_rng_next(&rng);
        uint32_t b = (uint32_t)tw_rng_next(&rng);
        uint16_t p = (uint16_t)tw_rng_next(&rng);
        uint16_t q = (uint16_t)tw_rng_next(&rng);
        assert_int_equal(tw_rss_hash_ipv4_ports(&rss, a, b, p, q),
                         tw_rss_hash_ipv4_ports(&rss, b, a, q, p));
        assert_int_equal(tw_rss_hash_ipv4(&rss, a, b), tw_rss_hash_ipv4(&rss, b, a));
    }
    /* The default key is not symmetric: the reverse of a vector differs. */
    tw_rss_init(&rss, NULL, 0);
    assert_int_not_equal(tw_rss_hash_ipv4_ports(&rss, vectors[0].target, vectors[0].source,
                                                vectors[0].target_port, vectors[0].source_port),
                         vectors[0].hash4);
}

static void test_rss_indir_spread_round_robin(void **state)
{
    tw_rss_init(&rss, NULL, 0);
    /* A fresh table sends everything to queue 0. */
    assert_int_equal(tw_rss_queue(&rss, 0xffffffffu), 0);
    tw_rss_indir_spread(&rss, 3);
    for (uint32_t h = 0; h < 1024; h++) {
        assert_int_equal(tw_rss_queue(&rss, h * 0x9e3779b9u), (h * 0x9e3779b9u & 127) % 3);
    }
}

static void test_rss_queue_uses_low_seven_bits(void **state)
{
    tw_rss_init(&rss, NULL, 0);
    tw_rss_indir_set(&rss, 0x78, 5);
    /* 0x51ccc178 & 127 == 0x78: the first 4-tuple vector lands on queue 5. */
    assert_int_equal(tw_rss_queue(&rss, 0x51ccc178), 5);
    assert_int_equal(tw_rss_queue(&rss, 0x51ccc1f8), 5);
    assert_int_equal(tw_rss_queue(&rss, 0x51ccc177), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rss_microsoft_vectors_ipv4),
        cmocka_unit_test(test_rss_byte_input_matches_tuple),
        cmocka_unit_test(test_rss_tables_match_reference_on_random_keys),
        cmocka_unit_test(test_rss_repeating_key_is_symmetric),
        cmocka_unit_test(test_rss_indir_spread_round_robin),
        cmocka_unit_test(test_rss_queue_uses_low_seven_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
