/* ICMP: ping between two stacks (small and fragmented), the echo event,
 * port unreachable and its token-bucket rate limit, the errors RFC 1122
 * §3.2.2 forbids, errors about our datagrams becoming events, and every
 * ICMP input drop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/error.h"
#include "harness.h"
#include "net/internal.h"
#include "net_harness.h"

#define A_ADDR TW_IPV4_ADDR(10, 0, 0, 1)
#define B_ADDR TW_IPV4_ADDR(10, 0, 0, 2)
#define X_ADDR TW_IPV4_ADDR(10, 0, 0, 9)
#define X_MAC ((tw_mac){{0x02, 0xaa, 0, 0, 0, 0x09}})

static net_world *pair(void)
{
    net_world *w = net_world_new(TW_SEC(1), TW_US(1));
    net_host_add(w, NULL);
    net_host_add(w, NULL);
    net_iface_add(w, 0, A_ADDR, 24, 0);
    net_iface_add(w, 1, B_ADDR, 24, 0);
    net_link_add(w, 0, 0, 1, 0);
    net_settle(w);
    return w;
}

/* One stack (10.0.0.1, X a static neighbour), announcement popped. */
static net_world *single(const tw_stack_config *cfg)
{
    net_world *w = net_world_new(TW_SEC(1), 0);
    net_host_add(w, cfg);
    net_iface_add(w, 0, A_ADDR, 24, 0);
    tw_stack *s = w->hosts[0].s;
    assert_int_equal(tw_stack_arp_add(s, w->now, 0, X_ADDR, X_MAC), 0);
    tw_frame_out f;
    while (tw_stack_pop_frame(s, w->now, &f)) {
    }
    return w;
}

static uint32_t drain_frames(tw_stack *s, tw_ns now)
{
    uint32_t n = 0;
    tw_frame_out f;
    while (tw_stack_pop_frame(s, now, &f)) {
        n++;
    }
    return n;
}

/* An ICMP message from X to A in a frame; returns its length. */
static size_t build_icmp(uint8_t *frame, const uint8_t *msg, size_t len)
{
    tw_ipv4_repr r = {
        .src = X_ADDR,
        .dst = A_ADDR,
        .protocol = TW_IP_PROTO_ICMP,
        .ttl = 64,
        .payload_len = (uint16_t)len,
    };
    return net_build_ipv4(frame, net_mac(0, 0), X_MAC, &r, msg);
}

static void test_icmp_ping_between_stacks(void **state)
{
    (void)state;
    net_world *w = pair();
    uint8_t data[56];
    net_fill(data, sizeof(data), 1);
    assert_int_equal(tw_stack_ping(w->hosts[0].s, w->now, B_ADDR, 0x77, 1, data, sizeof(data)), 0);
    net_settle(w);
    const tw_net_event *ev = net_event(w, 0, TW_NET_EV_ECHO_REPLY, 0);
    assert_non_null(ev);
    assert_int_equal(ev->remote_addr, B_ADDR);
    assert_int_equal(ev->echo_id, 0x77);
    assert_int_equal(ev->echo_seq, 1);
    assert_int_equal(ev->payload_len, 56);
    /* A big one: the request and the reply both travel in fragments. */
    static uint8_t big[4000];
    net_fill(big, sizeof(big), 2);
    assert_int_equal(tw_stack_ping(w->hosts[0].s, w->now, B_ADDR, 0x77, 2, big, sizeof(big)), 0);
    net_settle(w);
    ev = net_event(w, 0, TW_NET_EV_ECHO_REPLY, 1);
    assert_non_null(ev);
    assert_int_equal(ev->echo_seq, 2);
    assert_int_equal(ev->payload_len, 4000);
    const tw_icmp_stats *b = &w->hosts[1].s->icmp.stats;
    assert_int_equal(b->echo_requests_in, 2);
    assert_int_equal(b->echo_replies_out, 2);
    assert_int_equal(w->hosts[0].s->icmp.stats.echo_replies_in, 2);
    assert_int_equal(w->hosts[1].s->reasm.stats.completed, 1);
    assert_int_equal(w->hosts[0].s->reasm.stats.completed, 1);
    /* Nothing to our own address, nowhere unroutable. */
    assert_int_equal(tw_stack_ping(w->hosts[0].s, w->now, A_ADDR, 1, 1, NULL, 0), -TW_ENOTSUP);
    assert_int_equal(tw_stack_ping(w->hosts[0].s, w->now, TW_IPV4_ADDR(8, 8, 8, 8), 1, 1, NULL, 0),
                     -TW_EUNREACH);
    assert_int_equal(tw_stack_ping(w->hosts[0].s, w->now, 0, 1, 1, NULL, 0), -TW_EINVAL);
    net_world_free(w);
}

static void test_icmp_ping_unresolved_gives_echo_error(void **state)
{
    (void)state;
    net_world *w = pair();
    w->links[0].up = false;
    assert_int_equal(tw_stack_ping(w->hosts[0].s, w->now, B_ADDR, 5, 6, "x", 1), 0);
    net_advance(w, TW_SEC(5));
    const tw_net_event *ev = net_event(w, 0, TW_NET_EV_ECHO_ERROR, 0);
    assert_non_null(ev);
    assert_int_equal(ev->error, -TW_EUNREACH);
    assert_int_equal(ev->echo_id, 5);
    assert_int_equal(ev->echo_seq, 6);
    assert_int_equal(ev->remote_addr, B_ADDR);
    net_world_free(w);
}

static void test_icmp_port_unreachable_reaches_sender(void **state)
{
    (void)state;
    net_world *w = pair();
    int ep = tw_stack_udp_bind(w->hosts[0].s, 0, 3333);
    assert_int_equal(tw_stack_udp_send(w->hosts[0].s, w->now, (uint32_t)ep, B_ADDR, 4444, "?", 1),
                     0);
    net_settle(w);
    assert_int_equal(net_counters(w, 1, 0)->drops[TW_DROP_UDP_NO_ENDPOINT], 1);
    const tw_net_event *ev = net_event(w, 0, TW_NET_EV_UDP_ERROR, 0);
    assert_non_null(ev);
    assert_int_equal(ev->endpoint, (uint32_t)ep);
    assert_int_equal(ev->error, -TW_ECONNREFUSED);
    assert_int_equal(ev->icmp_type, TW_ICMP_DEST_UNREACH);
    assert_int_equal(ev->icmp_code, TW_ICMP_UNREACH_PORT);
    assert_int_equal(ev->reporter, B_ADDR);
    assert_int_equal(ev->remote_port, 4444);
    assert_int_equal(ev->local_port, 3333);
    /* Once the endpoint is closed, the same news matches nothing. */
    assert_int_equal(tw_stack_udp_send(w->hosts[0].s, w->now, (uint32_t)ep, B_ADDR, 4444, "?", 1),
                     0);
    net_move_one(w, 0);
    assert_int_equal(tw_stack_udp_close(w->hosts[0].s, (uint32_t)ep), 0);
    net_settle(w);
    assert_int_equal(net_counters(w, 0, 0)->drops[TW_DROP_ICMP_UNMATCHED], 1);
    assert_int_equal(net_event_count(w, 0, TW_NET_EV_UDP_ERROR), 1);
    net_world_free(w);
}

static void test_icmp_token_bucket_integer(void **state)
{
    (void)state;
    tw_icmp_state st;
    tw_icmp_config cfg = {.error_burst = 3, .error_interval_ns = TW_MS(100)};
    tw_icmp_init(&st, &cfg, TW_SEC(10));
    tw_ns t = TW_SEC(10);
    for (int i = 0; i < 3; i++) {
        assert_true(tw_icmp_rate_allow(&st, t));
    }
    assert_false(tw_icmp_rate_allow(&st, t));
    assert_false(tw_icmp_rate_allow(&st, t + TW_MS(99)));
    assert_true(tw_icmp_rate_allow(&st, t + TW_MS(100)));
    assert_false(tw_icmp_rate_allow(&st, t + TW_MS(150)));
    assert_true(tw_icmp_rate_allow(&st, t + TW_MS(200)));
    /* A long quiet refills the burst, no more. */
    t += TW_SEC(3600);
    for (int i = 0; i < 3; i++) {
        assert_true(tw_icmp_rate_allow(&st, t));
    }
    assert_false(tw_icmp_rate_allow(&st, t));
    assert_int_equal(st.stats.errors_rate_limited, 4);
    /* Interval 0: no limit. */
    cfg.error_interval_ns = 0;
    tw_icmp_init(&st, &cfg, 0);
    for (int i = 0; i < 100; i++) {
        assert_true(tw_icmp_rate_allow(&st, 0));
    }
}

static void test_icmp_port_unreachable_rate_limited(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.icmp.error_burst = 3;
    cfg.icmp.error_interval_ns = TW_MS(100);
    net_world *w = single(&cfg);
    tw_stack *s = w->hosts[0].s;
    uint8_t frame[128];
    size_t len = net_build_udp(frame, net_mac(0, 0), X_MAC, X_ADDR, A_ADDR, 1, 9, NULL, 0, 1);
    for (int i = 0; i < 10; i++) {
        tw_stack_on_frame(s, w->now, 0, frame, len);
    }
    /* A burst of three, then silence: the drops are counted either way. */
    assert_int_equal(drain_frames(s, w->now), 3);
    assert_int_equal(tw_stack_iface_counters(s, 0)->drops[TW_DROP_UDP_NO_ENDPOINT], 10);
    assert_int_equal(s->icmp.stats.errors_rate_limited, 7);
    w->now += TW_MS(100);
    for (int i = 0; i < 5; i++) {
        tw_stack_on_frame(s, w->now, 0, frame, len);
    }
    assert_int_equal(drain_frames(s, w->now), 1);
    assert_int_equal(s->icmp.stats.errors_out, 4);
    net_world_free(w);
}

static void test_icmp_errors_rfc1122_forbids(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.forwarding = true;
    net_world *w = single(&cfg);
    tw_stack *s = w->hosts[0].s;
    uint8_t frame[256];
    /* An ICMP error from X to an unroutable address: a router would send
     * network unreachable, but never about an error. */
    uint8_t quote[28] = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17};
    tw_icmp_repr err = {.type = TW_ICMP_DEST_UNREACH,
                        .code = TW_ICMP_UNREACH_PORT,
                        .data = quote,
                        .data_len = sizeof(quote)};
    uint8_t msg[64];
    tw_icmp_emit(&err, msg);
    tw_ipv4_repr r = {.src = X_ADDR,
                      .dst = TW_IPV4_ADDR(192, 0, 2, 1),
                      .protocol = TW_IP_PROTO_ICMP,
                      .ttl = 64,
                      .payload_len = (uint16_t)tw_icmp_repr_len(&err)};
    size_t len = net_build_ipv4(frame, net_mac(0, 0), X_MAC, &r, msg);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_int_equal(tw_stack_iface_counters(s, 0)->drops[TW_DROP_IPV4_NO_ROUTE], 1);
    assert_int_equal(drain_frames(s, w->now), 0);
    assert_int_equal(s->icmp.stats.errors_suppressed, 1);
    /* Nor about a fragment other than the first. */
    uint8_t udp[16] = {0};
    r = (tw_ipv4_repr){.src = X_ADDR,
                       .dst = TW_IPV4_ADDR(192, 0, 2, 1),
                       .protocol = TW_IP_PROTO_UDP,
                       .ttl = 64,
                       .frag_offset = 8,
                       .payload_len = sizeof(udp)};
    len = net_build_ipv4(frame, net_mac(0, 0), X_MAC, &r, udp);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_int_equal(drain_frames(s, w->now), 0);
    assert_int_equal(s->icmp.stats.errors_suppressed, 2);
    /* But about the first fragment, yes. */
    r.frag_offset = 0;
    r.more_frags = true;
    len = net_build_ipv4(frame, net_mac(0, 0), X_MAC, &r, udp);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_int_equal(drain_frames(s, w->now), 1);
    assert_int_equal(s->icmp.stats.errors_out, 1);
    net_world_free(w);
}

static void test_icmp_input_drops(void **state)
{
    (void)state;
    net_world *w = single(NULL);
    tw_stack *s = w->hosts[0].s;
    const tw_iface_counters *c = tw_stack_iface_counters(s, 0);
    uint8_t frame[256], msg[64];
    tw_icmp_repr echo = {.type = TW_ICMP_ECHO_REQUEST, .echo_id = 1, .echo_seq = 1};
    tw_icmp_emit(&echo, msg);
    size_t len = build_icmp(frame, msg, 4);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_int_equal(c->drops[TW_DROP_ICMP_TRUNCATED], 1);
    msg[7] ^= 1;
    len = build_icmp(frame, msg, 8);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_int_equal(c->drops[TW_DROP_ICMP_BAD_CHECKSUM], 1);
    /* Timestamp (13): valid ICMP this stack does not answer. */
    msg[0] = 13;
    msg[7] ^= 1;
    tw_bytes_store_be16(msg + 2, 0);
    tw_bytes_store_be16(msg + 2, tw_csum(msg, 8));
    len = build_icmp(frame, msg, 8);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_int_equal(c->drops[TW_DROP_ICMP_UNSUPPORTED], 1);
    /* An echo request with code 1. */
    msg[0] = TW_ICMP_ECHO_REQUEST;
    msg[1] = 1;
    tw_bytes_store_be16(msg + 2, 0);
    tw_bytes_store_be16(msg + 2, tw_csum(msg, 8));
    len = build_icmp(frame, msg, 8);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_int_equal(c->drops[TW_DROP_ICMP_MALFORMED], 1);
    /* An error quoting a datagram that was not ours. */
    uint8_t quote[28] = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 77, 10, 0, 0, 9};
    tw_icmp_repr err = {.type = TW_ICMP_DEST_UNREACH,
                        .code = TW_ICMP_UNREACH_PORT,
                        .data = quote,
                        .data_len = sizeof(quote)};
    tw_icmp_emit(&err, msg);
    len = build_icmp(frame, msg, tw_icmp_repr_len(&err));
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_int_equal(c->drops[TW_DROP_ICMP_UNMATCHED], 1);
    /* An echo request to a broadcast address (RFC 1122 §3.2.2.6). */
    echo.data = NULL;
    tw_icmp_emit(&echo, msg);
    tw_ipv4_repr r = {.src = X_ADDR,
                      .dst = TW_IPV4_ADDR(10, 0, 0, 255),
                      .protocol = TW_IP_PROTO_ICMP,
                      .ttl = 64,
                      .payload_len = 8};
    len = net_build_ipv4(frame, TW_MAC_BROADCAST, X_MAC, &r, msg);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_int_equal(c->drops[TW_DROP_ICMP_BROADCAST_ECHO], 1);
    assert_int_equal(c->rx_dropped, 6);
    assert_int_equal(drain_frames(s, w->now), 0);
    /* The same request to us is answered. */
    len = build_icmp(frame, msg, 8);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_int_equal(drain_frames(s, w->now), 1);
    assert_int_equal(c->rx_delivered, 1);
    net_world_free(w);
}

static void test_icmp_event_queue_full_counted(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.event_queue_len = 2;
    net_world *w = single(&cfg);
    tw_stack *s = w->hosts[0].s;
    uint8_t frame[128], msg[8];
    tw_icmp_repr reply = {.type = TW_ICMP_ECHO_REPLY, .echo_id = 1};
    for (uint16_t i = 0; i < 3; i++) {
        reply.echo_seq = i;
        tw_icmp_emit(&reply, msg);
        size_t len = build_icmp(frame, msg, 8);
        tw_stack_on_frame(s, w->now, 0, frame, len);
    }
    const tw_iface_counters *c = tw_stack_iface_counters(s, 0);
    assert_int_equal(c->rx_delivered, 2);
    assert_int_equal(c->rx_dropped, 1);
    assert_int_equal(c->drops[TW_DROP_EVENT_QUEUE_FULL], 1);
    net_record_events(w, 0);
    assert_int_equal(net_event_count(w, 0, TW_NET_EV_ECHO_REPLY), 2);
    assert_int_equal(net_event(w, 0, TW_NET_EV_ECHO_REPLY, 1)->echo_seq, 1);
    net_world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_icmp_ping_between_stacks),
        cmocka_unit_test(test_icmp_ping_unresolved_gives_echo_error),
        cmocka_unit_test(test_icmp_port_unreachable_reaches_sender),
        cmocka_unit_test(test_icmp_token_bucket_integer),
        cmocka_unit_test(test_icmp_port_unreachable_rate_limited),
        cmocka_unit_test(test_icmp_errors_rfc1122_forbids),
        cmocka_unit_test(test_icmp_input_drops),
        cmocka_unit_test(test_icmp_event_queue_full_counted),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
