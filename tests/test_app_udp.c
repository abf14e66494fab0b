/* The UDP echo server and load client, over two stacks back to back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "app/udp.h"
#include "base/error.h"
#include "pair_harness.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"

static const tw_task_ops *const types[] = {&tw_app_udp_echo, &tw_app_udp_client};
static const tw_task_registry registry = {types, 2};

typedef struct metrics {
    uint64_t sent, received, lost, stale, errors;
    tw_hist latency;
} metrics;

static void m_counter(tw_metric_sink *s, const char *name, uint64_t v)
{
    metrics *m = s->ctx;
    if (!strcmp(name, "sent")) m->sent = v;
    if (!strcmp(name, "received")) m->received = v;
    if (!strcmp(name, "lost")) m->lost = v;
    if (!strcmp(name, "stale")) m->stale = v;
    if (!strcmp(name, "errors")) m->errors = v;
}

static void m_hist(tw_metric_sink *s, const char *name, const tw_hist *h)
{
    metrics *m = s->ctx;
    m->latency = *h;
}

static metrics report(pair *p, int side, tw_addr a)
{
    static metrics m;
    memset(&m, 0, sizeof(m));
    tw_metric_sink sink = {m_counter, m_hist, &m};
    tw_task *t = tw_worker_task(&p->worker[side], a);
    assert_non_null(t);
    t->ops->report(t, &sink);
    return m;
}

static tw_addr spawn(pair *p, int side, uint32_t type, const void *args, uint32_t len)
{
    int64_t rc = tw_worker_spawn(&p->worker[side], p->now, type, 0, args, len);
    assert_true(rc >= 0);
    pair_drain(p, side);
    return (tw_addr)rc;
}

static pair P;

static void start(tw_udp_client_args *ca, tw_addr *echo, tw_addr *client)
{
    pair_init(&P, &registry, 16384);
    tw_udp_echo_args ea = {.port = 7};
    *echo = spawn(&P, 1, 0, &ea, sizeof(ea));
    pair_settle(&P);
    *client = spawn(&P, 0, 1, ca, sizeof(*ca));
}

static void test_app_udp_closed_loop_gets_every_answer(void **state)
{
    tw_udp_client_args ca = {.server = PAIR_B, .port = 7, .size = 100, .concurrency = 4,
                             .count = 100, .timeout_ns = TW_MS(100)};
    tw_addr e, c;
    start(&ca, &e, &c);
    pair_run_until(&P, TW_SEC(1));
    metrics m = report(&P, 0, c);
    assert_int_equal(m.sent, 100);
    assert_int_equal(m.received, 100);
    assert_int_equal(m.lost, 0);
    assert_int_equal(m.latency.count, 100);
    /* A wire without delay: every answer comes back at the instant it left. */
    assert_int_equal(tw_hist_percentile(&m.latency, 999), 0);
    metrics em = report(&P, 1, e);
    assert_int_equal(em.received, 100);
    assert_int_equal(em.sent, 100);
    pair_free(&P);
}

/* Drops every 10th UDP datagram from the client to the server. */
static bool drop_tenth(void *ctx, int to, const uint8_t *frame, size_t len)
{
    uint64_t *n = ctx;
    tw_eth_repr eth;
    tw_ipv4_repr ip;
    if (to != 1 || tw_eth_parse(frame, len, &eth) < 0 || eth.ethertype != TW_ETHERTYPE_IPV4 ||
        tw_ipv4_parse(eth.payload, eth.payload_len, &ip) < 0 || ip.protocol != TW_IP_PROTO_UDP) {
        return true;
    }
    return ++*n % 10 != 0;
}

static void test_app_udp_closed_loop_replaces_lost_requests(void **state)
{
    tw_udp_client_args ca = {.server = PAIR_B, .port = 7, .size = 64, .concurrency = 2,
                             .count = 50, .timeout_ns = TW_MS(20)};
    tw_addr e, c;
    start(&ca, &e, &c);
    uint64_t n = 0;
    P.filter = drop_tenth;
    P.filter_ctx = &n;
    pair_run_until(&P, TW_SEC(2));
    metrics m = report(&P, 0, c);
    assert_int_equal(m.sent, 50);
    assert_true(m.lost >= 4);
    /* Every request either came back or timed out; nothing is unaccounted. */
    assert_int_equal(m.received + m.lost, 50);
    assert_int_equal(m.stale, 0);
    pair_free(&P);
}

static void test_app_udp_open_loop_keeps_its_period(void **state)
{
    tw_udp_client_args ca = {.server = PAIR_B, .port = 7, .size = 32, .period_ns = TW_MS(1),
                             .count = 10, .timeout_ns = TW_MS(100)};
    tw_addr e, c;
    start(&ca, &e, &c);
    pair_run_until(&P, TW_MS(5) + TW_US(1));
    metrics m = report(&P, 0, c);
    /* One at bind time (t=0), then at 1, 2, 3, 4 and 5 ms. */
    assert_int_equal(m.sent, 6);
    pair_run_until(&P, TW_SEC(1));
    m = report(&P, 0, c);
    assert_int_equal(m.sent, 10);
    assert_int_equal(m.received, 10);
    pair_free(&P);
}

static void test_app_udp_unanswered_port_counts_errors(void **state)
{
    tw_udp_client_args ca = {.server = PAIR_B, .port = 9, .size = 32, .concurrency = 1,
                             .count = 3, .timeout_ns = TW_MS(10)};
    tw_addr e, c;
    start(&ca, &e, &c);
    pair_run_until(&P, TW_SEC(1));
    metrics m = report(&P, 0, c);
    assert_int_equal(m.received, 0);
    assert_int_equal(m.lost, 3);
    /* Port unreachable comes back as an error event for each request
     * (the ICMP rate limit allows this many). */
    assert_int_equal(m.errors, 3);
    pair_free(&P);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_app_udp_closed_loop_gets_every_answer),
        cmocka_unit_test(test_app_udp_closed_loop_replaces_lost_requests),
        cmocka_unit_test(test_app_udp_open_loop_keeps_its_period),
        cmocka_unit_test(test_app_udp_unanswered_port_counts_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
