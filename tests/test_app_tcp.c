/* The TCP echo server and the bulk sender and sink, through workers whose
 * stacks run TCP, wired back to back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "app/tcp.h"
#include "base/error.h"
#include "base/rng.h"
#include "pair_harness.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"

enum { T_ECHO, T_SEND, T_SINK };
static const tw_task_ops *const types[] = {&tw_app_tcp_echo, &tw_app_bulk_send,
                                           &tw_app_bulk_sink};
static const tw_task_registry registry = {types, 3};

#define COUNTERS_MAX 16
typedef struct counters {
    const char *name[COUNTERS_MAX];
    uint64_t value[COUNTERS_MAX];
    int n;
} counters;

static void c_counter(tw_metric_sink *s, const char *name, uint64_t v)
{
    counters *c = s->ctx;
    assert_true(c->n < COUNTERS_MAX);
    c->name[c->n] = name;
    c->value[c->n++] = v;
}
static void c_hist(tw_metric_sink *s, const char *name, const tw_hist *h) {}

static uint64_t metric(pair *p, int side, tw_addr a, const char *name)
{
    counters c = {0};
    tw_metric_sink sink = {c_counter, c_hist, &c};
    tw_task *t = tw_worker_task(&p->worker[side], a);
    assert_non_null(t);
    t->ops->report(t, &sink);
    for (int i = 0; i < c.n; i++) {
        if (!strcmp(c.name[i], name)) {
            return c.value[i];
        }
    }
    fail_msg("no metric %s", name);
    return 0;
}

static tw_addr spawn(pair *p, int side, uint32_t type, const void *args, uint32_t len)
{
    int64_t rc = tw_worker_spawn(&p->worker[side], p->now, type, 0, args, len);
    assert_true(rc >= 0);
    pair_drain(p, side);
    return (tw_addr)rc;
}

static pair P;

/* The word-at-a-time fill and check agree with the per-byte definition at
 * every alignment, header included, and count each wrong byte once. */
static void test_app_tcp_bulk_fill_and_check_match_bytes(void **state)
{
    (void)state;
    uint64_t s = 0x0123456789abcdefull;
    uint8_t buf[160];
    for (uint64_t off = 0; off < 20; off++) {
        for (uint64_t n = 0; n <= 150; n++) {
            tw_app_bulk_fill(s, off, buf, n);
            for (uint64_t i = 0; i < n; i++) {
                assert_int_equal(buf[i], tw_app_bulk_stream_byte(s, off + i));
            }
            assert_int_equal(tw_app_bulk_mismatches(s, off, buf, n), 0);
            if (n >= 3) {
                buf[0] ^= 1;
                buf[n - 1] ^= 0x80;
                buf[n / 2] ^= (n / 2 == 0 || n / 2 == n - 1) ? 0 : 0x10;
                uint64_t want = (n / 2 == 0 || n / 2 == n - 1) ? 2 : 3;
                assert_int_equal(tw_app_bulk_mismatches(s, off, buf, n), want);
            }
        }
    }
}

/* Every vector kernel this CPU supports gives the bytes and the counts of
 * the scalar one: random offsets and lengths, so the heads and tails are
 * unaligned and some runs start on the header word, and random
 * corruptions, some several in one word, some in the same 64-byte step. */
static void test_app_tcp_bulk_vector_matches_scalar(void **state)
{
    (void)state;
    static uint8_t fast[4096 + 64], slow[4096 + 64];
    int kernels_run = 0;
    for (tw_bulk_kernel k = TW_BULK_KERNEL_AVX2; k < TW_BULK_KERNEL_COUNT; k++) {
        if (!tw_app_bulk_kernel_supported(k)) {
            printf("bulk kernel %d: not supported by this CPU, not tested\n", (int)k);
            continue;
        }
        kernels_run++;
        tw_rng rng;
        tw_rng_init(&rng, 5, (uint64_t)k);
        for (int round = 0; round < 2000; round++) {
            uint64_t s = tw_rng_next(&rng);
            uint64_t off = round % 4 == 0 ? tw_rng_below(&rng, 24) : tw_rng_next(&rng) >> 4;
            uint64_t n = tw_rng_below(&rng, 4096);
            uint64_t head = tw_rng_below(&rng, 64); /* the buffer's own alignment */
            memset(fast, 0xa5, sizeof(fast));
            memset(slow, 0x5a, sizeof(slow));
            tw_app_bulk_fill_with(k, s, off, fast + head, n);
            tw_app_bulk_fill_with(TW_BULK_KERNEL_SCALAR, s, off, slow + head, n);
            assert_memory_equal(fast + head, slow + head, n);
            assert_int_equal(fast[head + n], 0xa5); /* nothing written past the end */
            if (head > 0) {
                assert_int_equal(fast[head - 1], 0xa5);
            }
            for (uint64_t i = 0; i < n; i += 1 + i / 8) {
                assert_int_equal(slow[head + i], tw_app_bulk_stream_byte(s, off + i));
            }
            uint64_t flips = n == 0 ? 0 : tw_rng_below(&rng, 6);
            for (uint64_t f = 0; f < flips; f++) {
                fast[head + tw_rng_below(&rng, n)] ^= (uint8_t)(1 + tw_rng_below(&rng, 255));
            }
            uint64_t want = 0;
            for (uint64_t i = 0; i < n; i++) {
                want += fast[head + i] != slow[head + i];
            }
            assert_int_equal(tw_app_bulk_mismatches_with(k, s, off, fast + head, n), want);
            assert_int_equal(
                tw_app_bulk_mismatches_with(TW_BULK_KERNEL_SCALAR, s, off, fast + head, n), want);
            assert_int_equal(tw_app_bulk_mismatches(s, off, fast + head, n), want);
        }
    }
    printf("bulk kernels: %d vector kernel(s) checked against the scalar one\n", kernels_run);
}

static void test_app_tcp_bulk_delivered_intact(void **state)
{
    pair_init_tcp(&P, &registry, 131072, true);
    tw_bulk_sink_args ka = {.port = 5001};
    tw_addr sink = spawn(&P, 1, T_SINK, &ka, sizeof(ka));
    pair_settle(&P);
    tw_bulk_send_args sa = {.server = PAIR_B, .port = 5001, .bytes = 1000000, .stream = 42};
    tw_addr sender = spawn(&P, 0, T_SEND, &sa, sizeof(sa));
    pair_run_until(&P, TW_SEC(30));
    assert_int_equal(metric(&P, 0, sender, "bytes_sent"), 1000000);
    assert_int_equal(metric(&P, 0, sender, "done"), 1);
    assert_int_equal(metric(&P, 1, sink, "bytes"), 1000000);
    assert_int_equal(metric(&P, 1, sink, "mismatches"), 0);
    assert_int_equal(metric(&P, 1, sink, "streams_intact"), 1);
    assert_int_equal(metric(&P, 1, sink, "streams_bad"), 0);
    pair_free(&P);
}

/* Drops every 20th TCP segment carrying data from A to B, and flips a
 * payload byte of the 7th (its checksum no longer matches). */
static bool lossy(void *ctx, int to, const uint8_t *frame, size_t len)
{
    uint64_t *n = ctx;
    tw_eth_repr eth;
    tw_ipv4_repr ip;
    if (to != 1 || tw_eth_parse(frame, len, &eth) < 0 || eth.ethertype != TW_ETHERTYPE_IPV4 ||
        tw_ipv4_parse(eth.payload, eth.payload_len, &ip) < 0 || ip.protocol != TW_IP_PROTO_TCP ||
        ip.payload_len <= 40) {
        return true;
    }
    ++*n;
    if (*n == 7) {
        ((uint8_t *)frame)[len - 1] ^= 0x40;
    }
    return *n % 20 != 0;
}

static void test_app_tcp_bulk_survives_loss_and_corruption(void **state)
{
    pair_init_tcp(&P, &registry, 131072, true);
    uint64_t n = 0;
    P.filter = lossy;
    P.filter_ctx = &n;
    tw_bulk_sink_args ka = {.port = 5001};
    tw_addr sink = spawn(&P, 1, T_SINK, &ka, sizeof(ka));
    pair_settle(&P);
    tw_bulk_send_args sa = {.server = PAIR_B, .port = 5001, .bytes = 300000, .stream = 7};
    tw_addr sender = spawn(&P, 0, T_SEND, &sa, sizeof(sa));
    pair_run_until(&P, TW_SEC(120));
    assert_true(n > 100);
    assert_int_equal(metric(&P, 0, sender, "done"), 1);
    assert_int_equal(metric(&P, 1, sink, "bytes"), 300000);
    assert_int_equal(metric(&P, 1, sink, "mismatches"), 0);
    assert_int_equal(metric(&P, 1, sink, "streams_intact"), 1);
    assert_true(tw_tcp_get_stats(tw_stack_tcp(P.stack[0]))->retransmits > 0);
    pair_free(&P);
}

static void test_app_tcp_refused_connect_reports_error(void **state)
{
    pair_init_tcp(&P, &registry, 131072, true);
    tw_bulk_send_args sa = {.server = PAIR_B, .port = 6000, .bytes = 1000, .stream = 1};
    tw_addr sender = spawn(&P, 0, T_SEND, &sa, sizeof(sa));
    pair_run_until(&P, TW_SEC(5));
    assert_int_equal(metric(&P, 0, sender, "done"), 0);
    assert_int_equal(metric(&P, 0, sender, "error"), TW_ECONNREFUSED);
    pair_free(&P);
}

static void test_app_tcp_without_tcp_is_not_supported(void **state)
{
    pair_init_tcp(&P, &registry, 131072, false);
    tw_bulk_send_args sa = {.server = PAIR_B, .port = 5001, .bytes = 1000, .stream = 1};
    tw_addr sender = spawn(&P, 0, T_SEND, &sa, sizeof(sa));
    pair_run_until(&P, TW_SEC(1));
    assert_int_equal(metric(&P, 0, sender, "error"), TW_ENOTSUP);
    pair_free(&P);
}

static void test_app_tcp_echo_returns_every_byte(void **state)
{
    pair_init_tcp(&P, &registry, 131072, true);
    tw_tcp_echo_args ea = {.port = 7};
    tw_addr echo = spawn(&P, 1, T_ECHO, &ea, sizeof(ea));
    pair_settle(&P);
    tw_bulk_send_args sa = {.server = PAIR_B, .port = 7, .bytes = 200000, .stream = 3};
    tw_addr sender = spawn(&P, 0, T_SEND, &sa, sizeof(sa));
    pair_run_until(&P, TW_SEC(30));
    assert_int_equal(metric(&P, 0, sender, "bytes_sent"), 200000);
    assert_int_equal(metric(&P, 0, sender, "bytes_received"), 200000);
    assert_int_equal(metric(&P, 0, sender, "echo_mismatches"), 0);
    assert_int_equal(metric(&P, 0, sender, "done"), 1);
    assert_int_equal(metric(&P, 1, echo, "bytes"), 200000);
    assert_int_equal(metric(&P, 1, echo, "closed"), 1);
    pair_free(&P);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_app_tcp_bulk_fill_and_check_match_bytes),
        cmocka_unit_test(test_app_tcp_bulk_vector_matches_scalar),
        cmocka_unit_test(test_app_tcp_bulk_delivered_intact),
        cmocka_unit_test(test_app_tcp_bulk_survives_loss_and_corruption),
        cmocka_unit_test(test_app_tcp_echo_returns_every_byte),
        cmocka_unit_test(test_app_tcp_refused_connect_reports_error),
        cmocka_unit_test(test_app_tcp_without_tcp_is_not_supported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
