/* SipHash-2-4 against the reference vectors, RFC 6528 initial sequence
 * numbers, RFC 7323 timestamp offsets, and per-core ephemeral ports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/siphash.h"
#include "test_tcp_util.h"
#include "wire/rss.h"

/* ---- SipHash -------------------------------------------------------------- */

static tw_siphash_key paper_key(void)
{
    uint8_t k[16];
    for (int i = 0; i < 16; i++) {
        k[i] = (uint8_t)i;
    }
    return tw_siphash_key_from_bytes(k);
}

static void test_tcp_siphash_paper_vector(void **state)
{
    /* Appendix A of the paper: key 00..0f, message 00..0e. */
    tw_siphash_key key = paper_key();
    uint8_t m[15];
    for (int i = 0; i < 15; i++) {
        m[i] = (uint8_t)i;
    }
    assert_int_equal(tw_siphash24(&key, m, 15), 0xa129ca6149be45e5ull);
}

static void test_tcp_siphash_reference_vectors(void **state)
{
    /* vectors.h of the reference implementation, lengths 0..4 and 8. */
    static const uint64_t want[] = {0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull,
                                    0x0d6c8009d9a94f5aull, 0x85676696d7fb7e2dull,
                                    0xcf2794e0277187b7ull};
    tw_siphash_key key = paper_key();
    uint8_t m[16];
    for (int i = 0; i < 16; i++) {
        m[i] = (uint8_t)i;
    }
    for (size_t len = 0; len < 5; len++) {
        assert_int_equal(tw_siphash24(&key, m, len), want[len]);
    }
    assert_int_equal(tw_siphash24(&key, m, 8), 0x93f5f5799a932462ull);
    assert_int_equal(tw_siphash24(&key, NULL, 0), want[0]);
}

static void test_tcp_siphash_key_matters(void **state)
{
    tw_siphash_key a = paper_key();
    tw_siphash_key b = a;
    b.k1 ^= 1;
    assert_true(tw_siphash24(&a, "tuple", 5) != tw_siphash24(&b, "tuple", 5));
}

/* ---- ISNs (RFC 6528) ------------------------------------------------------- */

static uint32_t syn_seq(tw_tcp *tcp, tw_ns now, uint16_t lport, uint16_t rport)
{
    tw_tcp_conn c = tw_tcp_connect_from(tcp, now, LOCAL, lport, REMOTE, rport);
    assert_true(c > 0);
    tw_tcp_out out;
    assert_true(tw_tcp_pop_segment(tcp, now, &out));
    uint32_t seq = tw_tcp_seq(out.seg);
    assert_int_equal(tw_tcp_abort(tcp, now, c), 0);
    return seq;
}

static void test_tcp_closed_isn_keyed_and_clocked(void **state)
{
    tw_tcp_config c;
    fixture_config(&c);
    tw_tcp *a = tw_tcp_create(&c, T0);
    tw_tcp *b = tw_tcp_create(&c, T0);
    c.seed = 43;
    tw_tcp *other = tw_tcp_create(&c, T0);
    uint32_t s0 = syn_seq(a, T0, 1000, 80);
    /* Same seed, tuple and time: same ISN (reproducible runs). */
    assert_int_equal(syn_seq(b, T0, 1000, 80), s0);
    /* RFC 6528 §3: M advances once per 4 us. */
    assert_int_equal(syn_seq(b, T0 + TW_MS(4), 1000, 80), s0 + 1000);
    /* F differs per 4-tuple and per key. */
    assert_true(syn_seq(a, T0, 1001, 80) != s0);
    assert_true(syn_seq(other, T0, 1000, 80) != s0);
    tw_tcp_destroy(a);
    tw_tcp_destroy(b);
    tw_tcp_destroy(other);
}

static void test_tcp_closed_ts_offset_per_tuple(void **state)
{
    tw_tcp_config c;
    fixture_config(&c);
    c.timestamps = true;
    tw_tcp *tcp = tw_tcp_create(&c, T0);
    uint32_t v[2];
    for (int i = 0; i < 2; i++) {
        tw_tcp_conn conn = tw_tcp_connect_from(tcp, T0, LOCAL, (uint16_t)(1000 + i), REMOTE, 80);
        tw_tcp_out out;
        assert_true(tw_tcp_pop_segment(tcp, T0, &out));
        tw_tcp_repr r;
        assert_int_equal(tw_tcp_parse(out.seg, out.len, LOCAL, REMOTE, &r), 0);
        assert_true(r.opts.has_timestamp);
        assert_int_equal(r.opts.ts_ecr, 0);
        v[i] = r.opts.ts_val;
        tw_tcp_abort(tcp, T0, conn);
    }
    /* RFC 7323 §5.4: the offset hides the clock and differs per tuple. */
    assert_true(v[0] != v[1]);
    assert_true(v[0] != (uint32_t)(T0 / TW_MS(1)));
    tw_tcp_destroy(tcp);
}

/* ---- ports ----------------------------------------------------------------- */

static void test_tcp_closed_pick_port_lands_on_core(void **state)
{
    static tw_rss rss;
    tw_rss_init(&rss, NULL, 0);
    tw_rss_indir_spread(&rss, 4);
    tw_tcp_config c;
    fixture_config(&c);
    c.conns_max = 64;
    c.rss = &rss;
    c.core = 2;
    c.ncores = 4;
    tw_tcp *tcp = tw_tcp_create(&c, T0);
    uint16_t seen[40];
    for (int i = 0; i < 40; i++) {
        tw_tcp_conn conn = tw_tcp_connect(tcp, T0, LOCAL, REMOTE, 443);
        assert_true(conn > 0);
        tw_tcp_conn_info info;
        assert_int_equal(tw_tcp_conn_get_info(tcp, conn, &info), 0);
        assert_true(info.lport >= c.ephemeral_lo);
        assert_true(info.lport <= c.ephemeral_hi);
        /* What comes back (remote -> local) is steered to core 2. */
        uint32_t h = tw_rss_hash_ipv4_ports(&rss, REMOTE, LOCAL, 443, info.lport);
        assert_int_equal(tw_rss_queue(&rss, h), 2);
        for (int k = 0; k < i; k++) {
            assert_int_not_equal(seen[k], info.lport);
        }
        seen[i] = info.lport;
    }
    tw_tcp_destroy(tcp);
}

static void test_tcp_closed_pick_port_exhausted(void **state)
{
    tw_tcp_config c;
    fixture_config(&c);
    c.ephemeral_lo = 5000;
    c.ephemeral_hi = 5002;
    tw_tcp *tcp = tw_tcp_create(&c, T0);
    for (int i = 0; i < 3; i++) {
        assert_true(tw_tcp_connect(tcp, T0, LOCAL, REMOTE, 443) > 0);
    }
    assert_int_equal(tw_tcp_connect(tcp, T0, LOCAL, REMOTE, 443), -TW_EADDRINUSE);
    assert_int_equal(tw_tcp_get_stats(tcp)->ports_exhausted, 1);
    /* Another destination has the whole range again. */
    assert_true(tw_tcp_connect(tcp, T0, LOCAL, REMOTE, 444) > 0);
    tw_tcp_destroy(tcp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_siphash_paper_vector),
        cmocka_unit_test(test_tcp_siphash_reference_vectors),
        cmocka_unit_test(test_tcp_siphash_key_matters),
        cmocka_unit_test(test_tcp_closed_isn_keyed_and_clocked),
        cmocka_unit_test(test_tcp_closed_ts_offset_per_tuple),
        cmocka_unit_test(test_tcp_closed_pick_port_lands_on_core),
        cmocka_unit_test(test_tcp_closed_pick_port_exhausted),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
