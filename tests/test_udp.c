/* UDP endpoints: bind rules and errors, ephemeral ports, ids that die
 * with close, the per-endpoint queue and its overflow, turn-taking
 * between endpoints, payload lifetime, and the input drops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "base/error.h"
#include "harness.h"
#include "net/internal.h"
#include "net_harness.h"

#define A_ADDR TW_IPV4_ADDR(10, 0, 0, 1)
#define A2_ADDR TW_IPV4_ADDR(10, 0, 9, 1)
#define B_ADDR TW_IPV4_ADDR(10, 0, 0, 2)
#define X_ADDR TW_IPV4_ADDR(10, 0, 0, 9)
#define X_MAC ((tw_mac){{0x02, 0xaa, 0, 0, 0, 0x09}})

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

static uint8_t frame[2048];

/* A datagram from X:sport to A:dport into the stack. */
static void inject(tw_stack *s, uint16_t sport, uint16_t dport, const char *text)
{
    size_t len = net_build_udp(frame, net_mac(0, 0), X_MAC, X_ADDR, A_ADDR, sport, dport,
                               (const uint8_t *)text, strlen(text), 1);
    tw_stack_on_frame(s, 0, 0, frame, len);
}

static void test_udp_bind_rules(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.udp.endpoints_max = 6;
    net_world *w = single(&cfg);
    tw_stack *s = w->hosts[0].s;
    tw_iface_config ic = {.mac = net_mac(0, 1), .addr = A2_ADDR, .prefix_len = 24};
    assert_int_equal(tw_stack_iface_add(s, &ic), 1);

    int any = tw_stack_udp_bind(s, 0, 53);
    assert_true(any >= 0);
    assert_int_equal(tw_stack_udp_bind(s, 0, 53), -TW_EADDRINUSE);
    assert_int_equal(tw_stack_udp_bind(s, A_ADDR, 53), -TW_EADDRINUSE);
    int a = tw_stack_udp_bind(s, A_ADDR, 54);
    assert_true(a >= 0);
    assert_int_equal(tw_stack_udp_bind(s, 0, 54), -TW_EADDRINUSE);
    assert_int_equal(tw_stack_udp_bind(s, A_ADDR, 54), -TW_EADDRINUSE);
    /* Different addresses of ours may share a port. */
    assert_true(tw_stack_udp_bind(s, A2_ADDR, 54) >= 0);
    assert_int_equal(tw_stack_udp_bind(s, X_ADDR, 55), -TW_EINVAL); /* not ours */
    /* Port 0: the dynamic range, in turn (RFC 6335 §6). */
    int e1 = tw_stack_udp_bind(s, 0, 0);
    int e2 = tw_stack_udp_bind(s, 0, 0);
    assert_int_equal(tw_stack_udp_port(s, (uint32_t)e1), 49152);
    assert_int_equal(tw_stack_udp_port(s, (uint32_t)e2), 49153);
    assert_true(tw_stack_udp_bind(s, 0, 56) >= 0);
    assert_int_equal(tw_stack_udp_bind(s, 0, 57), -TW_EFULL);
    /* Ids die with close; the slot's next id differs. */
    assert_int_equal(tw_stack_udp_close(s, (uint32_t)e1), 0);
    assert_int_equal(tw_stack_udp_close(s, (uint32_t)e1), -TW_EINVAL);
    assert_int_equal(tw_stack_udp_port(s, (uint32_t)e1), 0);
    assert_null(tw_stack_udp_endpoint(s, (uint32_t)e1));
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)e1, X_ADDR, 9, "x", 1), -TW_EINVAL);
    int e3 = tw_stack_udp_bind(s, 0, 57);
    assert_true(e3 >= 0);
    assert_int_not_equal(e3, e1);
    assert_int_equal((uint32_t)e3 & 0xffff, (uint32_t)e1 & 0xffff);
    net_world_free(w);
}

static void test_udp_ephemeral_range_exhausted(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.udp.ephemeral_first = 60000;
    cfg.udp.ephemeral_last = 60001;
    net_world *w = single(&cfg);
    tw_stack *s = w->hosts[0].s;
    assert_true(tw_stack_udp_bind(s, 0, 60001) >= 0);
    int e = tw_stack_udp_bind(s, 0, 0);
    assert_int_equal(tw_stack_udp_port(s, (uint32_t)e), 60000); /* skips the taken one */
    assert_int_equal(tw_stack_udp_bind(s, 0, 0), -TW_EFULL);
    net_world_free(w);
}

static void test_udp_exact_binding_preferred(void **state)
{
    (void)state;
    net_world *w = single(NULL);
    tw_stack *s = w->hosts[0].s;
    int any = tw_stack_udp_bind(s, 0, 0);
    int exact = tw_stack_udp_bind(s, A_ADDR, 80);
    assert_true(any >= 0 && exact >= 0);
    int any80 = tw_stack_udp_bind(s, 0, 80);
    assert_int_equal(any80, -TW_EADDRINUSE);
    inject(s, 1234, 80, "exact");
    net_record_events(w, 0);
    const tw_net_event *ev = net_event(w, 0, TW_NET_EV_UDP_DATAGRAM, 0);
    assert_non_null(ev);
    assert_int_equal(ev->endpoint, (uint32_t)exact);
    assert_int_equal(ev->local_addr, A_ADDR);
    assert_int_equal(ev->local_port, 80);
    assert_int_equal(ev->remote_addr, X_ADDR);
    assert_int_equal(ev->remote_port, 1234);
    assert_int_equal(tw_stack_udp_endpoint(s, (uint32_t)exact)->rx_datagrams, 1);
    net_world_free(w);
}

static void test_udp_queue_overflow_counted(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.udp.queue_len = 4;
    net_world *w = single(&cfg);
    tw_stack *s = w->hosts[0].s;
    int ep = tw_stack_udp_bind(s, 0, 7);
    static const char *msgs[] = {"m0", "m1", "m2", "m3", "m4", "m5"};
    for (size_t i = 0; i < TW_ARRAY_LEN(msgs); i++) {
        inject(s, 1000, 7, msgs[i]);
    }
    const tw_iface_counters *c = tw_stack_iface_counters(s, 0);
    assert_int_equal(c->drops[TW_DROP_UDP_QUEUE_FULL], 2);
    assert_int_equal(c->rx_delivered, 4);
    assert_int_equal(tw_stack_udp_endpoint(s, (uint32_t)ep)->rx_overflows, 2);
    assert_int_equal(s->udp.stats.queue_overflows, 2);
    net_record_events(w, 0);
    assert_int_equal(net_event_count(w, 0, TW_NET_EV_UDP_DATAGRAM), 4);
    for (uint32_t i = 0; i < 4; i++) {
        const tw_net_event *ev = net_event(w, 0, TW_NET_EV_UDP_DATAGRAM, i);
        assert_int_equal(ev->payload_len, 2);
        assert_memory_equal(ev->payload, msgs[i], 2); /* oldest first, the newest lost */
    }
    /* Read, the queue takes more again. */
    inject(s, 1000, 7, "m6");
    assert_int_equal(c->rx_delivered, 5);
    tw_stack_stats st;
    tw_stack_stats_get(s, &st);
    assert_int_equal(st.frame_buffers_in_use, 1); /* m6 alone: nothing leaked */
    net_world_free(w);
}

static void test_udp_endpoints_take_turns(void **state)
{
    (void)state;
    net_world *w = single(NULL);
    tw_stack *s = w->hosts[0].s;
    int e1 = tw_stack_udp_bind(s, 0, 1);
    int e2 = tw_stack_udp_bind(s, 0, 2);
    inject(s, 9, 1, "a");
    inject(s, 9, 1, "b");
    inject(s, 9, 1, "c");
    inject(s, 9, 2, "x");
    inject(s, 9, 2, "y");
    net_record_events(w, 0);
    static const char order[] = "axbyc";
    for (uint32_t i = 0; i < 5; i++) {
        const tw_net_event *ev = net_event(w, 0, TW_NET_EV_UDP_DATAGRAM, i);
        assert_int_equal(ev->payload[0], order[i]);
        assert_int_equal(ev->endpoint, (uint32_t)(order[i] >= 'x' ? e2 : e1));
    }
    net_world_free(w);
}

/* The echo-server pattern: answer with the event's own payload. The bytes
 * must survive the send (they live until the next pop_event). */
static void test_udp_payload_valid_across_send(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.frame_buffers = 3;
    net_world *w = single(&cfg);
    tw_stack *s = w->hosts[0].s;
    int ep = tw_stack_udp_bind(s, 0, 7);
    inject(s, 4000, 7, "ping-pong");
    tw_net_event ev;
    assert_true(tw_stack_pop_event(s, 0, &ev));
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, ev.remote_addr, ev.remote_port,
                                       ev.payload, ev.payload_len),
                     0);
    assert_memory_equal(ev.payload, "ping-pong", 9);
    tw_frame_out f;
    assert_true(tw_stack_pop_frame(s, 0, &f));
    tw_eth_repr e;
    tw_ipv4_repr r;
    tw_udp_repr u;
    assert_int_equal(tw_eth_parse(f.data, f.len, &e), 0);
    assert_int_equal(tw_ipv4_parse(e.payload, e.payload_len, &r), 0);
    assert_int_equal(tw_udp_parse(r.payload, r.payload_len, r.src, r.dst, &u), 0);
    assert_int_equal(u.dst_port, 4000);
    assert_memory_equal(u.payload, "ping-pong", 9);
    assert_false(tw_stack_pop_event(s, 0, &ev));
    net_world_free(w);
}

static void test_udp_input_drops(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.frame_buffers = 2;
    net_world *w = single(&cfg);
    tw_stack *s = w->hosts[0].s;
    const tw_iface_counters *c = tw_stack_iface_counters(s, 0);
    assert_true(tw_stack_udp_bind(s, 0, 7) >= 0);
    uint8_t *ip = frame + TW_ETH_HEADER_LEN;
    uint8_t *udp = ip + TW_IPV4_HEADER_LEN;
    size_t len = net_build_udp(frame, net_mac(0, 0), X_MAC, X_ADDR, A_ADDR, 9, 7,
                               (const uint8_t *)"abcd", 4, 1);
    udp[8] ^= 0xff;
    tw_stack_on_frame(s, 0, 0, frame, len);
    assert_int_equal(c->drops[TW_DROP_UDP_BAD_CHECKSUM], 1);
    /* RFC 768: a zero checksum means none was computed; accepted. */
    tw_bytes_store_be16(udp + 6, 0);
    tw_stack_on_frame(s, 0, 0, frame, len);
    assert_int_equal(c->rx_delivered, 1);
    tw_bytes_store_be16(udp + 4, 7); /* a length below the header's */
    tw_stack_on_frame(s, 0, 0, frame, len);
    assert_int_equal(c->drops[TW_DROP_UDP_BAD_LENGTH], 1);
    tw_bytes_store_be16(udp + 4, 13); /* longer than the IP payload */
    tw_stack_on_frame(s, 0, 0, frame, len);
    assert_int_equal(c->drops[TW_DROP_UDP_TRUNCATED], 1);
    tw_bytes_store_be16(udp + 4, 12);
    tw_bytes_store_be16(udp + 2, 0);
    tw_stack_on_frame(s, 0, 0, frame, len);
    assert_int_equal(c->drops[TW_DROP_UDP_BAD_PORT], 1);
    /* The pool holds two buffers: one is the datagram queued above, one
     * the next; a third datagram finds none. */
    tw_bytes_store_be16(udp + 2, 7);
    tw_stack_on_frame(s, 0, 0, frame, len);
    tw_stack_on_frame(s, 0, 0, frame, len);
    assert_int_equal(c->rx_delivered, 2);
    assert_int_equal(c->drops[TW_DROP_NO_BUFFER], 1);
    assert_int_equal(c->rx_dropped, 5);
    assert_true(net_accounts_balance(w));
    net_world_free(w);
}

static void test_udp_between_two_stacks(void **state)
{
    (void)state;
    net_world *w = net_world_new(TW_SEC(1), TW_US(1));
    net_host_add(w, NULL);
    net_host_add(w, NULL);
    net_iface_add(w, 0, A_ADDR, 24, 0);
    net_iface_add(w, 1, B_ADDR, 24, 0);
    net_link_add(w, 0, 0, 1, 0);
    net_settle(w);
    int ea = tw_stack_udp_bind(w->hosts[0].s, 0, 0);
    int eb = tw_stack_udp_bind(w->hosts[1].s, B_ADDR, 7);
    for (uint32_t i = 0; i < 100; i++) {
        char msg[16];
        size_t n = (size_t)snprintf(msg, sizeof(msg), "msg %u", i);
        assert_int_equal(tw_stack_udp_send(w->hosts[0].s, w->now, (uint32_t)ea, B_ADDR, 7, msg, n),
                         0);
        net_settle(w);
        const tw_net_event *ev = net_event(w, 1, TW_NET_EV_UDP_DATAGRAM, i);
        assert_non_null(ev);
        assert_int_equal(ev->payload_len, n);
        assert_memory_equal(ev->payload, msg, n);
        assert_int_equal(ev->endpoint, (uint32_t)eb);
        assert_int_equal(ev->remote_port, 49152);
    }
    assert_int_equal(tw_stack_udp_endpoint(w->hosts[0].s, (uint32_t)ea)->tx_datagrams, 100);
    assert_int_equal(w->hosts[1].s->udp.stats.datagrams_in, 100);
    assert_true(net_accounts_balance(w));
    net_world_free(w);
}

static void test_udp_send_broadcast(void **state)
{
    (void)state;
    net_world *w = single(NULL);
    tw_stack *s = w->hosts[0].s;
    int ep = tw_stack_udp_bind(s, 0, 68);
    /* RFC 1122 §3.3.6: limited and directed broadcasts go to the
     * link-layer broadcast address, with no ARP. */
    static const tw_ipv4_addr dsts[] = {TW_IPV4_ADDR_BROADCAST, TW_IPV4_ADDR(10, 0, 0, 255)};
    for (size_t i = 0; i < TW_ARRAY_LEN(dsts); i++) {
        assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, dsts[i], 67, "dhcp?", 5), 0);
        tw_frame_out f;
        assert_true(tw_stack_pop_frame(s, 0, &f));
        assert_true(tw_mac_is_broadcast(tw_eth_dst(f.data)));
        const uint8_t *ip = f.data + TW_ETH_HEADER_LEN;
        assert_int_equal(tw_ipv4_dst(ip), dsts[i]);
        assert_int_equal(tw_ipv4_src(ip), A_ADDR);
        assert_false(tw_stack_pop_frame(s, 0, &f));
    }
    assert_int_equal(s->arp.stats.requests_sent, 0);
    /* With every interface down there is nowhere to broadcast. */
    assert_int_equal(tw_stack_iface_down(s, 0, 0), 0);
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, TW_IPV4_ADDR_BROADCAST, 67, "x", 1),
                     -TW_EUNREACH);
    net_world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_bind_rules),
        cmocka_unit_test(test_udp_ephemeral_range_exhausted),
        cmocka_unit_test(test_udp_exact_binding_preferred),
        cmocka_unit_test(test_udp_queue_overflow_counted),
        cmocka_unit_test(test_udp_endpoints_take_turns),
        cmocka_unit_test(test_udp_payload_valid_across_send),
        cmocka_unit_test(test_udp_input_drops),
        cmocka_unit_test(test_udp_between_two_stacks),
        cmocka_unit_test(test_udp_send_broadcast),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
