/* ARP: resolution between two stacks, entry expiry, retries then failure
 * (an error event for our own datagram, ICMP host unreachable for a
 * forwarded one), the pending-queue and cache limits, answering and
 * learning from requests (RFC 826), gratuitous ARP (RFC 5227 §3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/error.h"
#include "harness.h"
#include "net/internal.h"
#include "net_harness.h"
#include "wire/arp.h"

#define A_ADDR TW_IPV4_ADDR(10, 0, 0, 1)
#define B_ADDR TW_IPV4_ADDR(10, 0, 0, 2)
#define C_ADDR TW_IPV4_ADDR(10, 0, 0, 3)
#define X_ADDR TW_IPV4_ADDR(10, 0, 0, 9)
#define X_MAC ((tw_mac){{0x02, 0xaa, 0, 0, 0, 0x09}})

/* Two hosts on one link, 10.0.0.1 (host 0) and 10.0.0.2 (host 1), their
 * announcements exchanged. */
static net_world *pair(const tw_stack_config *cfg)
{
    net_world *w = net_world_new(TW_SEC(1), TW_US(1));
    net_host_add(w, cfg);
    net_host_add(w, cfg);
    net_iface_add(w, 0, A_ADDR, 24, 0);
    net_iface_add(w, 1, B_ADDR, 24, 0);
    net_link_add(w, 0, 0, 1, 0);
    net_settle(w);
    return w;
}

static const tw_arp_stats *arp_stats(const net_world *w, uint32_t h)
{
    return &w->hosts[h].s->arp.stats;
}

static tw_arp_entry *entry(const net_world *w, uint32_t h, tw_ipv4_addr addr)
{
    return tw_arp_cache_find(&w->hosts[h].s->arp, 0, addr);
}

static size_t build_arp(uint8_t *frame, tw_mac eth_dst, uint16_t op, tw_mac sha, tw_ipv4_addr spa,
                        tw_mac tha, tw_ipv4_addr tpa)
{
    tw_eth_repr e = {.dst = eth_dst, .src = sha, .ethertype = TW_ETHERTYPE_ARP};
    tw_eth_emit(&e, frame);
    tw_arp_repr r = {.op = op, .sha = sha, .spa = spa, .tha = tha, .tpa = tpa};
    tw_arp_emit(&r, frame + TW_ETH_HEADER_LEN);
    return TW_ETH_HEADER_LEN + TW_ARP_LEN;
}

/* Pops one frame and parses it as ARP. */
static bool pop_arp(tw_stack *s, tw_ns now, tw_eth_repr *eth, tw_arp_repr *arp)
{
    tw_frame_out f;
    if (!tw_stack_pop_frame(s, now, &f)) {
        return false;
    }
    assert_int_equal(tw_eth_parse(f.data, f.len, eth), 0);
    assert_int_equal(eth->ethertype, TW_ETHERTYPE_ARP);
    assert_int_equal(tw_arp_parse(eth->payload, eth->payload_len, arp), 0);
    return true;
}

/* One stack, one interface (10.0.0.1/24), its announcement popped. */
static tw_stack *single(net_world **wp)
{
    net_world *w = net_world_new(TW_SEC(1), 0);
    net_host_add(w, NULL);
    net_iface_add(w, 0, A_ADDR, 24, 0);
    tw_frame_out f;
    assert_true(tw_stack_pop_frame(w->hosts[0].s, w->now, &f));
    assert_false(tw_stack_pop_frame(w->hosts[0].s, w->now, &f));
    *wp = w;
    return w->hosts[0].s;
}

static void test_arp_resolve_then_send(void **state)
{
    (void)state;
    net_world *w = pair(NULL);
    tw_stack *a = w->hosts[0].s, *b = w->hosts[1].s;
    int ea = tw_stack_udp_bind(a, 0, 5000);
    int eb = tw_stack_udp_bind(b, 0, 7000);
    assert_true(ea >= 0 && eb >= 0);
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ea, B_ADDR, 7000, "hello", 5), 0);
    /* Parked behind a request until the answer comes. */
    assert_int_equal(a->arp.pending_total, 1);
    assert_int_equal(entry(w, 0, B_ADDR)->state, TW_ARP_INCOMPLETE);
    net_settle(w);
    const tw_net_event *ev = net_event(w, 1, TW_NET_EV_UDP_DATAGRAM, 0);
    assert_non_null(ev);
    assert_int_equal(ev->payload_len, 5);
    assert_memory_equal(ev->payload, "hello", 5);
    assert_int_equal(ev->remote_addr, A_ADDR);
    assert_int_equal(ev->remote_port, 5000);
    assert_int_equal(arp_stats(w, 0)->requests_sent, 1);
    assert_int_equal(arp_stats(w, 0)->resolved, 1);
    assert_int_equal(arp_stats(w, 0)->pending_sent, 1);
    assert_int_equal(a->arp.pending_total, 0);
    assert_int_equal(entry(w, 0, B_ADDR)->state, TW_ARP_REACHABLE);
    assert_true(tw_mac_equal(entry(w, 0, B_ADDR)->mac, net_mac(1, 0)));
    /* RFC 826: B, the target, learned A from the request, so its answer
     * needs no request of its own. */
    assert_int_equal(arp_stats(w, 1)->learned, 1);
    assert_int_equal(arp_stats(w, 1)->replies_sent, 1);
    assert_int_equal(tw_stack_udp_send(b, w->now, (uint32_t)eb, A_ADDR, 5000, "back", 4), 0);
    net_settle(w);
    assert_int_equal(arp_stats(w, 1)->requests_sent, 0);
    assert_non_null(net_event(w, 0, TW_NET_EV_UDP_DATAGRAM, 0));
    assert_true(net_accounts_balance(w));
    net_world_free(w);
}

static void test_arp_entry_expires(void **state)
{
    (void)state;
    net_world *w = pair(NULL);
    tw_stack *a = w->hosts[0].s;
    int ea = tw_stack_udp_bind(a, 0, 5000);
    assert_true(tw_stack_udp_bind(w->hosts[1].s, 0, 7000) >= 0);
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ea, B_ADDR, 7000, "x", 1), 0);
    net_settle(w);
    assert_non_null(entry(w, 0, B_ADDR));
    net_advance(w, TW_SEC(59));
    assert_non_null(entry(w, 0, B_ADDR));
    net_advance(w, TW_SEC(2));
    /* RFC 1122 §2.3.2.1: gone after the 60 s lifetime... */
    assert_null(entry(w, 0, B_ADDR));
    assert_int_equal(arp_stats(w, 0)->expired, 1);
    assert_int_equal(tw_stack_next_deadline(a), TW_NS_NEVER);
    /* ...so the next datagram asks again. */
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ea, B_ADDR, 7000, "y", 1), 0);
    net_settle(w);
    assert_int_equal(arp_stats(w, 0)->requests_sent, 2);
    assert_int_equal(net_event_count(w, 1, TW_NET_EV_UDP_DATAGRAM), 2);
    net_world_free(w);
}

static void test_arp_retry_then_udp_error(void **state)
{
    (void)state;
    net_world *w = pair(NULL);
    tw_stack *a = w->hosts[0].s;
    w->links[0].up = false;
    int ea = tw_stack_udp_bind(a, 0, 5000);
    tw_ns t0 = w->now;
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ea, B_ADDR, 7000, "lost", 4), 0);
    /* A fragmented datagram waits too, and is reported once. */
    static uint8_t big[3000];
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ea, B_ADDR, 7001, big, sizeof(big)), 0);
    assert_int_equal(a->arp.pending_total, 1 + 3);
    assert_int_equal(tw_stack_next_deadline(a), t0 + TW_SEC(1));
    net_advance(w, TW_SEC(3) + TW_MS(500));
    /* The first request and three retries, one second apart. */
    assert_int_equal(arp_stats(w, 0)->requests_sent, 4);
    assert_int_equal(net_event_count(w, 0, TW_NET_EV_UDP_ERROR), 0);
    net_advance(w, TW_SEC(1));
    assert_int_equal(arp_stats(w, 0)->failed, 1);
    assert_int_equal(net_event_count(w, 0, TW_NET_EV_UDP_ERROR), 2);
    const tw_net_event *ev = net_event(w, 0, TW_NET_EV_UDP_ERROR, 0);
    assert_int_equal(ev->endpoint, (uint32_t)ea);
    assert_int_equal(ev->error, -TW_EUNREACH);
    assert_int_equal(ev->icmp_type, TW_ICMP_DEST_UNREACH);
    assert_int_equal(ev->icmp_code, TW_ICMP_UNREACH_HOST);
    assert_int_equal(ev->remote_addr, B_ADDR);
    assert_int_equal(ev->remote_port, 7000);
    assert_int_equal(ev->local_port, 5000);
    assert_int_equal(net_event(w, 0, TW_NET_EV_UDP_ERROR, 1)->remote_port, 7001);
    /* Every parked frame is a counted drop, and nothing leaks. */
    assert_int_equal(net_counters(w, 0, 0)->drops[TW_DROP_ARP_FAILED], 4);
    assert_null(entry(w, 0, B_ADDR));
    assert_int_equal(a->arp.pending_total, 0);
    tw_stack_stats st;
    tw_stack_stats_get(a, &st);
    assert_true(st.frame_buffers_in_use <= 1); /* the frame popped last */
    net_world_free(w);
}

/* H1 -- R -- H2 with the R--H2 link down: R cannot resolve H2 and tells
 * H1 with ICMP host unreachable (RFC 1812 §5.2.7.1). */
static void test_arp_retry_forwarded_then_icmp_host_unreachable(void **state)
{
    (void)state;
    tw_stack_config rc;
    tw_stack_config_default(&rc);
    rc.forwarding = true;
    net_world *w = net_world_new(TW_SEC(1), TW_US(1));
    uint32_t h1 = net_host_add(w, NULL), r = net_host_add(w, &rc), h2 = net_host_add(w, NULL);
    net_iface_add(w, h1, TW_IPV4_ADDR(10, 0, 1, 2), 24, 0);
    net_iface_add(w, r, TW_IPV4_ADDR(10, 0, 1, 1), 24, 0);
    net_iface_add(w, r, TW_IPV4_ADDR(10, 0, 2, 1), 24, 0);
    net_iface_add(w, h2, TW_IPV4_ADDR(10, 0, 2, 2), 24, 0);
    net_link_add(w, h1, 0, r, 0);
    uint32_t l2 = net_link_add(w, r, 1, h2, 0);
    assert_int_equal(tw_stack_route_default(w->hosts[h1].s, TW_IPV4_ADDR(10, 0, 1, 1)), 0);
    net_settle(w);
    w->links[l2].up = false;
    int ep = tw_stack_udp_bind(w->hosts[h1].s, 0, 4000);
    assert_int_equal(tw_stack_udp_send(w->hosts[h1].s, w->now, (uint32_t)ep,
                                       TW_IPV4_ADDR(10, 0, 2, 2), 9, "?", 1),
                     0);
    net_advance(w, TW_SEC(5));
    assert_int_equal(net_counters(w, r, 0)->rx_forwarded, 1);
    assert_int_equal(net_counters(w, r, 1)->drops[TW_DROP_ARP_FAILED], 1);
    const tw_net_event *ev = net_event(w, h1, TW_NET_EV_UDP_ERROR, 0);
    assert_non_null(ev);
    assert_int_equal(ev->error, -TW_EUNREACH);
    assert_int_equal(ev->icmp_code, TW_ICMP_UNREACH_HOST);
    assert_int_equal(ev->reporter, TW_IPV4_ADDR(10, 0, 1, 1));
    assert_int_equal(ev->remote_addr, TW_IPV4_ADDR(10, 0, 2, 2));
    assert_int_equal(ev->remote_port, 9);
    assert_int_equal(w->hosts[r].s->icmp.stats.errors_out, 1);
    assert_true(net_accounts_balance(w));
    net_world_free(w);
}

static void test_arp_pending_overflow_counted(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.arp.pending_per_entry = 2;
    cfg.arp.pending_total = 3;
    net_world *w = pair(&cfg);
    tw_stack *a = w->hosts[0].s;
    w->links[0].up = false;
    int ep = tw_stack_udp_bind(a, 0, 5000);
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ep, B_ADDR, 1, "1", 1), 0);
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ep, B_ADDR, 1, "2", 1), 0);
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ep, B_ADDR, 1, "3", 1), -TW_EFULL);
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ep, B_ADDR, 1, "4", 1), -TW_EFULL);
    assert_int_equal(net_counters(w, 0, 0)->drops[TW_DROP_ARP_PENDING_FULL], 2);
    /* The total limit binds across next hops. */
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ep, C_ADDR, 1, "5", 1), 0);
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ep, C_ADDR, 1, "6", 1), -TW_EFULL);
    assert_int_equal(net_counters(w, 0, 0)->drops[TW_DROP_ARP_PENDING_FULL], 3);
    assert_int_equal(a->arp.pending_total, 3);
    assert_int_equal(a->arp.stats.pending_queued, 3);
    net_world_free(w);
}

static void test_arp_cache_full_counted(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.arp.entries_max = 1;
    net_world *w = pair(&cfg);
    tw_stack *a = w->hosts[0].s;
    w->links[0].up = false;
    int ep = tw_stack_udp_bind(a, 0, 5000);
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ep, B_ADDR, 1, "1", 1), 0);
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ep, C_ADDR, 1, "2", 1), -TW_EFULL);
    assert_int_equal(net_counters(w, 0, 0)->drops[TW_DROP_ARP_CACHE_FULL], 1);
    net_world_free(w);
}

static void test_arp_request_answered_and_sender_learned(void **state)
{
    (void)state;
    net_world *w;
    tw_stack *s = single(&w);
    uint8_t frame[64];
    size_t len =
        build_arp(frame, TW_MAC_BROADCAST, TW_ARP_OP_REQUEST, X_MAC, X_ADDR, TW_MAC_ZERO, A_ADDR);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    tw_eth_repr eth;
    tw_arp_repr arp;
    assert_true(pop_arp(s, w->now, &eth, &arp));
    assert_true(tw_mac_equal(eth.dst, X_MAC));
    assert_true(tw_mac_equal(eth.src, net_mac(0, 0)));
    assert_int_equal(arp.op, TW_ARP_OP_REPLY);
    assert_true(tw_mac_equal(arp.sha, net_mac(0, 0)));
    assert_int_equal(arp.spa, A_ADDR);
    assert_true(tw_mac_equal(arp.tha, X_MAC));
    assert_int_equal(arp.tpa, X_ADDR);
    tw_arp_entry *e = tw_arp_cache_find(&s->arp, 0, X_ADDR);
    assert_non_null(e);
    assert_int_equal(e->state, TW_ARP_REACHABLE);
    assert_true(tw_mac_equal(e->mac, X_MAC));
    assert_int_equal(tw_stack_iface_counters(s, 0)->rx_delivered, 1);

    /* RFC 826 merge: a gratuitous ARP from a known neighbour (target not
     * us) updates its entry. */
    tw_mac moved = {{0x02, 0xbb, 0, 0, 0, 0x09}};
    len = build_arp(frame, TW_MAC_BROADCAST, TW_ARP_OP_REQUEST, moved, X_ADDR, TW_MAC_ZERO, X_ADDR);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_true(tw_mac_equal(e->mac, moved));
    assert_int_equal(s->arp.stats.updated, 1);
    assert_int_equal(tw_stack_iface_counters(s, 0)->rx_delivered, 2);
    assert_false(pop_arp(s, w->now, &eth, &arp)); /* no answer to that */
    net_world_free(w);
}

static void test_arp_request_for_other_not_learned(void **state)
{
    (void)state;
    net_world *w;
    tw_stack *s = single(&w);
    uint8_t frame[64];
    size_t len = build_arp(frame, TW_MAC_BROADCAST, TW_ARP_OP_REQUEST, X_MAC, X_ADDR, TW_MAC_ZERO,
                           TW_IPV4_ADDR(10, 0, 0, 77));
    tw_stack_on_frame(s, w->now, 0, frame, len);
    tw_eth_repr eth;
    tw_arp_repr arp;
    assert_false(pop_arp(s, w->now, &eth, &arp));
    assert_null(tw_arp_cache_find(&s->arp, 0, X_ADDR));
    assert_int_equal(tw_stack_iface_counters(s, 0)->drops[TW_DROP_ARP_NOT_FOR_US], 1);
    /* A sender claiming our own address is a conflict, not a neighbour. */
    len = build_arp(frame, TW_MAC_BROADCAST, TW_ARP_OP_REQUEST, X_MAC, A_ADDR, TW_MAC_ZERO, A_ADDR);
    tw_stack_on_frame(s, w->now, 0, frame, len);
    assert_int_equal(tw_stack_iface_counters(s, 0)->drops[TW_DROP_ARP_BAD_SENDER], 1);
    /* Truncated. */
    tw_stack_on_frame(s, w->now, 0, frame, TW_ETH_HEADER_LEN + 20);
    assert_int_equal(tw_stack_iface_counters(s, 0)->drops[TW_DROP_ARP_TRUNCATED], 1);
    assert_int_equal(tw_stack_iface_counters(s, 0)->rx_dropped, 3);
    net_world_free(w);
}

static void test_arp_gratuitous_on_up(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    tw_stack *s = tw_stack_create(&cfg, 0);
    tw_iface_config ic = {.mac = X_MAC, .addr = A_ADDR, .prefix_len = 24};
    assert_int_equal(tw_stack_iface_add(s, &ic), 0);
    tw_eth_repr eth;
    tw_arp_repr arp;
    assert_false(pop_arp(s, 0, &eth, &arp)); /* down: silent */
    assert_int_equal(tw_stack_iface_up(s, 0, 0), 0);
    /* RFC 5227 §3: sender and target both our address, broadcast. */
    for (int round = 0; round < 2; round++) {
        assert_true(pop_arp(s, 0, &eth, &arp));
        assert_true(tw_mac_is_broadcast(eth.dst));
        assert_int_equal(arp.op, TW_ARP_OP_REQUEST);
        assert_int_equal(arp.spa, A_ADDR);
        assert_int_equal(arp.tpa, A_ADDR);
        assert_true(tw_mac_equal(arp.sha, X_MAC));
        assert_true(tw_mac_is_zero(arp.tha));
        assert_false(pop_arp(s, 0, &eth, &arp));
        if (round == 0) {
            assert_int_equal(tw_stack_arp_announce(s, 0, 0), 0);
        }
    }
    assert_int_equal(s->arp.stats.announcements_sent, 2);
    tw_stack_destroy(s);
}

static void test_arp_static_entry_needs_no_request(void **state)
{
    (void)state;
    net_world *w = pair(NULL);
    tw_stack *a = w->hosts[0].s;
    assert_int_equal(tw_stack_arp_add(a, w->now, 0, B_ADDR, net_mac(1, 0)), 0);
    int ep = tw_stack_udp_bind(a, 0, 5000);
    assert_true(tw_stack_udp_bind(w->hosts[1].s, 0, 7) >= 0);
    assert_int_equal(tw_stack_udp_send(a, w->now, (uint32_t)ep, B_ADDR, 7, "s", 1), 0);
    net_advance(w, TW_SEC(120));
    assert_int_equal(arp_stats(w, 0)->requests_sent, 0);
    assert_int_equal(entry(w, 0, B_ADDR)->state, TW_ARP_STATIC);
    assert_int_equal(net_event_count(w, 1, TW_NET_EV_UDP_DATAGRAM), 1);
    net_world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arp_resolve_then_send),
        cmocka_unit_test(test_arp_entry_expires),
        cmocka_unit_test(test_arp_retry_then_udp_error),
        cmocka_unit_test(test_arp_retry_forwarded_then_icmp_host_unreachable),
        cmocka_unit_test(test_arp_pending_overflow_counted),
        cmocka_unit_test(test_arp_cache_full_counted),
        cmocka_unit_test(test_arp_request_answered_and_sender_learned),
        cmocka_unit_test(test_arp_request_for_other_not_learned),
        cmocka_unit_test(test_arp_gratuitous_on_up),
        cmocka_unit_test(test_arp_static_entry_needs_no_request),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
