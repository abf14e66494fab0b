/* IPv4: every input check drops with its own reason (and Ethernet's
 * before it), broadcasts are taken, fragmentation on output has exact
 * sizes, offsets and flags, and a router forwards: TTL decrement with an
 * incremental checksum, time exceeded, no route, fragmentation needed
 * with the next-hop MTU, and fragmenting (fragments too) when DF is
 * clear. */
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

#define H1_ADDR TW_IPV4_ADDR(10, 0, 1, 2)
#define R1_ADDR TW_IPV4_ADDR(10, 0, 1, 1)
#define R2_ADDR TW_IPV4_ADDR(10, 0, 2, 1)
#define H2_ADDR TW_IPV4_ADDR(10, 0, 2, 2)

/* ---- captured frames ------------------------------------------------- */

#define CAP_MAX 128
typedef struct cap_frame {
    uint32_t host, iface;
    size_t len;
    uint8_t data[1600];
} cap_frame;
static cap_frame caps[CAP_MAX];
static uint32_t n_caps;

static void tap(void *ctx, tw_ns now, uint32_t host, uint32_t iface, const uint8_t *frame,
                size_t len)
{
    (void)ctx;
    (void)now;
    if (n_caps < CAP_MAX && len <= sizeof(caps[0].data)) {
        caps[n_caps] = (cap_frame){.host = host, .iface = iface, .len = len};
        memcpy(caps[n_caps].data, frame, len);
        n_caps++;
    }
}

/* Parses captured frame i as IPv4 (header checksum checked). */
static tw_ipv4_repr cap_ipv4(uint32_t i)
{
    tw_eth_repr e;
    assert_int_equal(tw_eth_parse(caps[i].data, caps[i].len, &e), 0);
    assert_int_equal(e.ethertype, TW_ETHERTYPE_IPV4);
    tw_ipv4_repr r;
    assert_int_equal(tw_ipv4_parse(e.payload, e.payload_len, &r), 0);
    return r;
}

/* ---- worlds ------------------------------------------------------------ */

/* One host, 10.0.0.1/24, with X (10.0.0.9) a static neighbour so that
 * answers go straight out; its announcement popped. */
static net_world *single(void)
{
    net_world *w = net_world_new(TW_SEC(1), 0);
    net_host_add(w, NULL);
    net_iface_add(w, 0, A_ADDR, 24, 0);
    tw_stack *s = w->hosts[0].s;
    assert_int_equal(tw_stack_arp_add(s, w->now, 0, X_ADDR, X_MAC), 0);
    tw_frame_out f;
    while (tw_stack_pop_frame(s, w->now, &f)) {
    }
    return w;
}

/* H1 (10.0.1.2) -- R (10.0.1.1 | 10.0.2.1, MTU r_mtu on the far side) --
 * H2 (10.0.2.2, MTU r_mtu), hosts routing by default through R. */
static net_world *routed(uint16_t r_mtu, uint8_t h1_ttl)
{
    tw_stack_config rc, hc;
    tw_stack_config_default(&rc);
    rc.forwarding = true;
    tw_stack_config_default(&hc);
    hc.ttl = h1_ttl;
    net_world *w = net_world_new(TW_SEC(1), TW_US(1));
    net_host_add(w, &hc);
    net_host_add(w, &rc);
    net_host_add(w, NULL);
    net_iface_add(w, 0, H1_ADDR, 24, 0);
    net_iface_add(w, 1, R1_ADDR, 24, 0);
    net_iface_add(w, 1, R2_ADDR, 24, r_mtu);
    net_iface_add(w, 2, H2_ADDR, 24, r_mtu);
    net_link_add(w, 0, 0, 1, 0);
    net_link_add(w, 1, 1, 2, 0);
    assert_int_equal(tw_stack_route_default(w->hosts[0].s, R1_ADDR), 0);
    assert_int_equal(tw_stack_route_default(w->hosts[2].s, R2_ADDR), 0);
    net_settle(w);
    n_caps = 0;
    w->tap = tap;
    return w;
}

/* ---- input validation --------------------------------------------------- */

static uint8_t frame[2048];

/* A valid UDP datagram from X to A port 7, as a frame; returns its length. */
static size_t good_udp(void)
{
    return net_build_udp(frame, net_mac(0, 0), X_MAC, X_ADDR, A_ADDR, 4000, 7,
                         (const uint8_t *)"hello", 5, 0x1234);
}

static uint8_t *ip(void)
{
    return frame + TW_ETH_HEADER_LEN;
}

/* Feeds the frame and checks that it was dropped for exactly `why`. */
static void expect_drop(tw_stack *s, size_t len, tw_drop_reason why)
{
    tw_iface_counters before = *tw_stack_iface_counters(s, 0);
    tw_stack_on_frame(s, 0, 0, frame, len);
    const tw_iface_counters *c = tw_stack_iface_counters(s, 0);
    if (c->drops[why] != before.drops[why] + 1) {
        fail_msg("expected a drop for %s", tw_drop_name(why));
    }
    assert_int_equal(tw_drop_total(c), tw_drop_total(&before) + 1);
    assert_int_equal(c->rx_dropped, before.rx_dropped + 1);
    assert_int_equal(c->rx_delivered, before.rx_delivered);
}

static void test_ipv4_input_drops_each_with_its_reason(void **state)
{
    (void)state;
    net_world *w = single();
    tw_stack *s = w->hosts[0].s;
    assert_true(tw_stack_udp_bind(s, 0, 7) >= 0);
    size_t len = good_udp();

    /* The template itself is delivered. */
    tw_stack_on_frame(s, 0, 0, frame, len);
    assert_int_equal(tw_stack_iface_counters(s, 0)->rx_delivered, 1);

    /* Ethernet. */
    expect_drop(s, 10, TW_DROP_ETH_TRUNCATED);
    expect_drop(s, TW_ETH_HEADER_LEN + 1501, TW_DROP_ETH_TOO_LONG);
    tw_mac_store(frame, (tw_mac){{0x02, 0, 0, 0, 0x77, 0x77}});
    expect_drop(s, len, TW_DROP_ETH_NOT_FOR_US);
    tw_mac_store(frame, (tw_mac){{0x01, 0x00, 0x5e, 0, 0, 1}});
    expect_drop(s, len, TW_DROP_ETH_MULTICAST);
    good_udp();
    tw_mac_store(frame + 6, (tw_mac){{0x03, 0, 0, 0, 0, 1}});
    expect_drop(s, len, TW_DROP_ETH_BAD_SRC);
    tw_mac_store(frame + 6, net_mac(0, 0));
    expect_drop(s, len, TW_DROP_ETH_BAD_SRC);
    good_udp();
    tw_bytes_store_be16(frame + 12, TW_ETHERTYPE_VLAN);
    expect_drop(s, len, TW_DROP_ETH_VLAN);
    tw_bytes_store_be16(frame + 12, TW_ETHERTYPE_IPV6);
    expect_drop(s, len, TW_DROP_ETH_UNSUPPORTED);
    tw_bytes_store_be16(frame + 12, 0x0100); /* an 802.3 length */
    expect_drop(s, len, TW_DROP_ETH_UNSUPPORTED);

    /* IPv4, in the order the checks run. */
    good_udp();
    expect_drop(s, TW_ETH_HEADER_LEN + 19, TW_DROP_IPV4_TRUNCATED);
    ip()[0] = 0x65;
    net_fix_ipv4_csum(frame);
    expect_drop(s, len, TW_DROP_IPV4_BAD_VERSION);
    good_udp();
    ip()[0] = 0x44;
    expect_drop(s, len, TW_DROP_IPV4_BAD_HEADER_LEN);
    good_udp();
    ip()[0] = 0x4f; /* 60 bytes of header in a 33-byte datagram */
    expect_drop(s, len, TW_DROP_IPV4_TRUNCATED);
    good_udp();
    ip()[10] ^= 0x01;
    expect_drop(s, len, TW_DROP_IPV4_BAD_CHECKSUM);
    good_udp();
    tw_bytes_store_be16(ip() + 2, 19);
    net_fix_ipv4_csum(frame);
    expect_drop(s, len, TW_DROP_IPV4_BAD_TOTAL_LEN);
    good_udp();
    tw_bytes_store_be16(ip() + 2, (uint16_t)(len - TW_ETH_HEADER_LEN + 1));
    net_fix_ipv4_csum(frame);
    expect_drop(s, len, TW_DROP_IPV4_TRUNCATED);
    good_udp();
    tw_bytes_store_be16(ip() + 6, TW_IPV4_FLAG_RESERVED);
    net_fix_ipv4_csum(frame);
    expect_drop(s, len, TW_DROP_IPV4_BAD_FLAGS);
    good_udp();
    tw_bytes_store_be16(ip() + 6, TW_IPV4_FRAG_OFFSET_MASK); /* 65528 + 13 bytes */
    net_fix_ipv4_csum(frame);
    expect_drop(s, len, TW_DROP_IPV4_BAD_FRAGMENT);

    static const tw_ipv4_addr bad_src[] = {TW_IPV4_ADDR_BROADCAST, TW_IPV4_ADDR(224, 0, 0, 5),
                                           TW_IPV4_ADDR(127, 0, 0, 1), A_ADDR,
                                           TW_IPV4_ADDR(10, 0, 0, 255)};
    for (size_t i = 0; i < TW_ARRAY_LEN(bad_src); i++) {
        good_udp();
        tw_ipv4_addr_store(ip() + 12, bad_src[i]);
        net_fix_ipv4_csum(frame);
        expect_drop(s, len, TW_DROP_IPV4_BAD_SRC);
    }
    good_udp();
    tw_ipv4_addr_store(ip() + 16, TW_IPV4_ADDR(224, 0, 0, 1));
    net_fix_ipv4_csum(frame);
    expect_drop(s, len, TW_DROP_IPV4_MULTICAST);
    good_udp();
    tw_ipv4_addr_store(ip() + 16, TW_IPV4_ADDR(127, 0, 0, 1));
    net_fix_ipv4_csum(frame);
    expect_drop(s, len, TW_DROP_IPV4_BAD_DST);
    good_udp();
    tw_ipv4_addr_store(ip() + 16, 0);
    net_fix_ipv4_csum(frame);
    expect_drop(s, len, TW_DROP_IPV4_BAD_DST);
    good_udp();
    tw_ipv4_addr_store(ip() + 16, TW_IPV4_ADDR(10, 0, 0, 50));
    net_fix_ipv4_csum(frame);
    expect_drop(s, len, TW_DROP_IPV4_NOT_FOR_US); /* a host does not forward */
    good_udp();
    tw_mac_store(frame, TW_MAC_BROADCAST);
    expect_drop(s, len, TW_DROP_IPV4_LINK_BCAST);
    good_udp();
    ip()[9] = 99;
    net_fix_ipv4_csum(frame);
    expect_drop(s, len, TW_DROP_IPV4_UNKNOWN_PROTOCOL);

    /* RFC 1122 §3.2.2.1: the unknown protocol was reported to X. */
    tw_frame_out f;
    assert_true(tw_stack_pop_frame(s, 0, &f));
    tw_eth_repr e;
    tw_ipv4_repr r;
    tw_icmp_repr icmp;
    assert_int_equal(tw_eth_parse(f.data, f.len, &e), 0);
    assert_int_equal(tw_ipv4_parse(e.payload, e.payload_len, &r), 0);
    assert_int_equal(tw_icmp_parse(r.payload, r.payload_len, &icmp), 0);
    assert_int_equal(icmp.type, TW_ICMP_DEST_UNREACH);
    assert_int_equal(icmp.code, TW_ICMP_UNREACH_PROTOCOL);
    assert_int_equal(r.dst, X_ADDR);
    assert_false(tw_stack_pop_frame(s, 0, &f));

    /* A down interface takes nothing. */
    good_udp();
    assert_int_equal(tw_stack_iface_down(s, 0, 0), 0);
    expect_drop(s, len, TW_DROP_IFACE_DOWN);
    assert_true(net_accounts_balance(w));
    net_world_free(w);
}

static void test_ipv4_input_broadcasts_reach_wildcard_endpoints(void **state)
{
    (void)state;
    net_world *w = single();
    tw_stack *s = w->hosts[0].s;
    int any = tw_stack_udp_bind(s, 0, 67);
    int exact = tw_stack_udp_bind(s, A_ADDR, 68);
    assert_true(any >= 0 && exact >= 0);
    static const tw_ipv4_addr dsts[] = {TW_IPV4_ADDR_BROADCAST, TW_IPV4_ADDR(10, 0, 0, 255)};
    for (size_t i = 0; i < TW_ARRAY_LEN(dsts); i++) {
        size_t len = net_build_udp(frame, TW_MAC_BROADCAST, X_MAC, X_ADDR, dsts[i], 68, 67,
                                   (const uint8_t *)"b", 1, 1);
        tw_stack_on_frame(s, 0, 0, frame, len);
        /* Not to an endpoint bound to one address (RFC 1122 §4.1.3.6)... */
        len = net_build_udp(frame, TW_MAC_BROADCAST, X_MAC, X_ADDR, dsts[i], 67, 68,
                            (const uint8_t *)"b", 1, 1);
        tw_stack_on_frame(s, 0, 0, frame, len);
    }
    net_record_events(w, 0);
    assert_int_equal(net_event_count(w, 0, TW_NET_EV_UDP_DATAGRAM), 2);
    assert_int_equal(net_event(w, 0, TW_NET_EV_UDP_DATAGRAM, 0)->endpoint, (uint32_t)any);
    const tw_iface_counters *c = tw_stack_iface_counters(s, 0);
    assert_int_equal(c->drops[TW_DROP_UDP_NO_ENDPOINT], 2);
    /* ...and with no port unreachable for a broadcast (RFC 1122 §3.2.2). */
    tw_frame_out f;
    assert_false(tw_stack_pop_frame(s, 0, &f));
    assert_int_equal(s->icmp.stats.errors_suppressed, 2);
    net_world_free(w);
}

/* ---- fragmentation on output ------------------------------------------- */

static void test_ipv4_output_fragments_exactly(void **state)
{
    (void)state;
    net_world *w = single();
    tw_stack *s = w->hosts[0].s;
    int ep = tw_stack_udp_bind(s, 0, 5000);
    static uint8_t data[3000];
    net_fill(data, sizeof(data), 3);
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, X_ADDR, 9, data, sizeof(data)), 0);
    /* 3008 bytes of UDP over a 1500 MTU: 1480 + 1480 + 48, offsets in
     * 8-byte units, MF on all but the last (RFC 791 §3.2). */
    static const struct {
        uint16_t offset, len;
        bool more;
    } want[] = {{0, 1480, true}, {1480, 1480, true}, {2960, 48, false}};
    uint16_t ident = 0;
    uint8_t joined[3008];
    for (size_t i = 0; i < TW_ARRAY_LEN(want); i++) {
        tw_frame_out f;
        assert_true(tw_stack_pop_frame(s, 0, &f));
        assert_int_equal(f.len, TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN + want[i].len);
        tw_eth_repr e;
        tw_ipv4_repr r;
        assert_int_equal(tw_eth_parse(f.data, f.len, &e), 0);
        assert_true(tw_mac_equal(e.dst, X_MAC));
        assert_int_equal(tw_ipv4_parse(e.payload, e.payload_len, &r), 0);
        assert_int_equal(r.frag_offset, want[i].offset);
        assert_int_equal(r.payload_len, want[i].len);
        assert_int_equal(r.more_frags, want[i].more);
        assert_false(r.dont_frag);
        assert_int_equal(r.protocol, TW_IP_PROTO_UDP);
        if (i == 0) {
            ident = r.ident;
        }
        assert_int_equal(r.ident, ident);
        memcpy(joined + r.frag_offset, r.payload, r.payload_len);
    }
    tw_frame_out f;
    assert_false(tw_stack_pop_frame(s, 0, &f));
    /* Glued back together, the fragments are the datagram, checksum and all. */
    tw_udp_repr u;
    assert_int_equal(tw_udp_parse(joined, sizeof(joined), A_ADDR, X_ADDR, &u), 0);
    assert_int_equal(u.payload_len, sizeof(data));
    assert_memory_equal(u.payload, data, sizeof(data));
    tw_stack_stats st;
    tw_stack_stats_get(s, &st);
    assert_int_equal(st.fragments_out, 3);

    /* Exactly the MTU is one frame; one byte more is two. */
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, X_ADDR, 9, data, 1472), 0);
    assert_true(tw_stack_pop_frame(s, 0, &f));
    assert_int_equal(f.len, 1514);
    assert_false(tw_stack_pop_frame(s, 0, &f));
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, X_ADDR, 9, data, 1473), 0);
    assert_true(tw_stack_pop_frame(s, 0, &f));
    assert_int_equal(f.len, 1514);
    assert_true(tw_stack_pop_frame(s, 0, &f));
    assert_int_equal(f.len, TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN + 1);
    assert_false(tw_stack_pop_frame(s, 0, &f));
    net_world_free(w);
}

static void test_ipv4_output_small_mtu_and_limits(void **state)
{
    (void)state;
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.frame_buffers = 8;
    net_world *w = net_world_new(0, 0);
    net_host_add(w, &cfg);
    net_iface_add(w, 0, A_ADDR, 24, 576);
    tw_stack *s = w->hosts[0].s;
    assert_int_equal(tw_stack_arp_add(s, 0, 0, X_ADDR, X_MAC), 0);
    tw_frame_out f;
    while (tw_stack_pop_frame(s, 0, &f)) {
    }
    int ep = tw_stack_udp_bind(s, 0, 5000);
    static uint8_t data[TW_UDP_PAYLOAD_LEN_MAX + 1];
    /* 1000 + 8 bytes in 556-byte frames: 552 (a multiple of 8) + 456. */
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, X_ADDR, 9, data, 1000), 0);
    assert_true(tw_stack_pop_frame(s, 0, &f));
    assert_int_equal(f.len, TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN + 552);
    assert_true(tw_stack_pop_frame(s, 0, &f));
    assert_int_equal(f.len, TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN + 456);
    assert_int_equal(tw_ipv4_frag_offset(f.data + TW_ETH_HEADER_LEN), 552);
    assert_false(tw_stack_pop_frame(s, 0, &f));
    /* Eight buffers cannot carry nine fragments: nothing is sent. */
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, X_ADDR, 9, data, 552 * 9 - 8),
                     -TW_ENOMEM);
    assert_false(tw_stack_pop_frame(s, 0, &f));
    assert_int_equal(tw_stack_iface_counters(s, 0)->drops[TW_DROP_NO_BUFFER], 1);
    /* The API's own limits. */
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, X_ADDR, 9, data, sizeof(data)),
                     -TW_ETOOBIG);
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, TW_IPV4_ADDR(192, 0, 2, 1), 9, data, 1),
                     -TW_EUNREACH);
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, A_ADDR, 9, data, 1), -TW_ENOTSUP);
    assert_int_equal(tw_stack_udp_send(s, 0, (uint32_t)ep, X_ADDR, 0, data, 1), -TW_EINVAL);
    net_world_free(w);
}

/* ---- forwarding ------------------------------------------------------- */

static void test_ipv4_forward_decrements_ttl(void **state)
{
    (void)state;
    net_world *w = routed(1500, 64);
    int e1 = tw_stack_udp_bind(w->hosts[0].s, 0, 1111);
    int e2 = tw_stack_udp_bind(w->hosts[2].s, 0, 2222);
    assert_int_equal(tw_stack_udp_send(w->hosts[0].s, w->now, (uint32_t)e1, H2_ADDR, 2222, "fw", 2),
                     0);
    net_settle(w);
    const tw_net_event *ev = net_event(w, 2, TW_NET_EV_UDP_DATAGRAM, 0);
    assert_non_null(ev);
    assert_int_equal(ev->remote_addr, H1_ADDR);
    assert_int_equal(ev->endpoint, (uint32_t)e2);
    /* The UDP datagram as H1 sent it and as R passed it on: TTL one less,
     * the header checksum patched (tw_ipv4_parse checks it). */
    int sent = -1, fwd = -1;
    for (uint32_t i = 0; i < n_caps; i++) {
        if (tw_bytes_load_be16(caps[i].data + 12) != TW_ETHERTYPE_IPV4) {
            continue;
        }
        if (caps[i].host == 0) {
            sent = (int)i;
        } else if (caps[i].host == 1) {
            fwd = (int)i;
        }
    }
    assert_true(sent >= 0 && fwd >= 0);
    tw_ipv4_repr a = cap_ipv4((uint32_t)sent), b = cap_ipv4((uint32_t)fwd);
    assert_int_equal(a.ttl, 64);
    assert_int_equal(b.ttl, 63);
    assert_int_equal(a.ident, b.ident);
    assert_memory_equal(a.payload, b.payload, a.payload_len);
    assert_true(tw_mac_equal(tw_eth_src(caps[fwd].data), net_mac(1, 1)));
    assert_true(tw_mac_equal(tw_eth_dst(caps[fwd].data), net_mac(2, 0)));
    assert_int_equal(net_counters(w, 1, 0)->rx_forwarded, 1);
    assert_true(net_accounts_balance(w));
    net_world_free(w);
}

static void test_ipv4_forward_ttl_exceeded(void **state)
{
    (void)state;
    net_world *w = routed(1500, 1);
    int e1 = tw_stack_udp_bind(w->hosts[0].s, 0, 1111);
    assert_int_equal(tw_stack_udp_send(w->hosts[0].s, w->now, (uint32_t)e1, H2_ADDR, 2222, "t", 1),
                     0);
    net_settle(w);
    assert_int_equal(net_counters(w, 1, 0)->drops[TW_DROP_IPV4_TTL_EXCEEDED], 1);
    const tw_net_event *ev = net_event(w, 0, TW_NET_EV_UDP_ERROR, 0);
    assert_non_null(ev);
    assert_int_equal(ev->error, -TW_ETIMEDOUT);
    assert_int_equal(ev->icmp_type, TW_ICMP_TIME_EXCEEDED);
    assert_int_equal(ev->icmp_code, TW_ICMP_EXCEEDED_TTL);
    assert_int_equal(ev->reporter, R1_ADDR);
    assert_int_equal(ev->remote_addr, H2_ADDR);
    assert_int_equal(ev->remote_port, 2222);
    assert_int_equal(net_event_count(w, 2, TW_NET_EV_UDP_DATAGRAM), 0);
    net_world_free(w);
}

static void test_ipv4_forward_no_route(void **state)
{
    (void)state;
    net_world *w = routed(1500, 64);
    int e1 = tw_stack_udp_bind(w->hosts[0].s, 0, 1111);
    assert_int_equal(tw_stack_udp_send(w->hosts[0].s, w->now, (uint32_t)e1,
                                       TW_IPV4_ADDR(192, 0, 2, 1), 53, "q", 1),
                     0);
    net_settle(w);
    assert_int_equal(net_counters(w, 1, 0)->drops[TW_DROP_IPV4_NO_ROUTE], 1);
    const tw_net_event *ev = net_event(w, 0, TW_NET_EV_UDP_ERROR, 0);
    assert_non_null(ev);
    assert_int_equal(ev->error, -TW_EUNREACH);
    assert_int_equal(ev->icmp_code, TW_ICMP_UNREACH_NET);
    net_world_free(w);
}

static void test_ipv4_forward_df_too_big_gets_frag_needed(void **state)
{
    (void)state;
    net_world *w = routed(1000, 64);
    tw_stack *h1 = w->hosts[0].s, *r = w->hosts[1].s;
    int e1 = tw_stack_udp_bind(h1, 0, 1111);
    static uint8_t data[1172];
    /* 20 + 8 + 1172 = 1200 bytes with DF, from H1, handed to R. */
    size_t len = net_build_udp(frame, net_mac(1, 0), net_mac(0, 0), H1_ADDR, H2_ADDR, 1111, 2222,
                               data, sizeof(data), 77);
    tw_bytes_store_be16(ip() + 6, TW_IPV4_FLAG_DF);
    net_fix_ipv4_csum(frame);
    tw_stack_on_frame(r, w->now, 0, frame, len);
    net_settle(w);
    assert_int_equal(net_counters(w, 1, 0)->drops[TW_DROP_IPV4_FRAG_NEEDED], 1);
    /* RFC 1191 §4: the next hop's MTU comes back with the error. */
    const tw_net_event *ev = net_event(w, 0, TW_NET_EV_UDP_ERROR, 0);
    assert_non_null(ev);
    assert_int_equal(ev->endpoint, (uint32_t)e1);
    assert_int_equal(ev->error, -TW_ETOOBIG);
    assert_int_equal(ev->icmp_code, TW_ICMP_UNREACH_FRAG_NEEDED);
    assert_int_equal(ev->mtu, 1000);
    assert_int_equal(net_event_count(w, 2, TW_NET_EV_UDP_DATAGRAM), 0);
    net_world_free(w);
}

static void test_ipv4_forward_fragments_when_df_clear(void **state)
{
    (void)state;
    net_world *w = routed(1000, 64);
    int e1 = tw_stack_udp_bind(w->hosts[0].s, 0, 1111);
    assert_true(tw_stack_udp_bind(w->hosts[2].s, 0, 2222) >= 0);
    static uint8_t data[3000];
    net_fill(data, sizeof(data), 11);
    /* 1172 bytes: one frame from H1, two from R (976 + 204). Then 3000:
     * H1's three fragments become five, the fragments refragmented. */
    assert_int_equal(
        tw_stack_udp_send(w->hosts[0].s, w->now, (uint32_t)e1, H2_ADDR, 2222, data, 1172), 0);
    net_settle(w);
    assert_int_equal(
        tw_stack_udp_send(w->hosts[0].s, w->now, (uint32_t)e1, H2_ADDR, 2222, data, 3000), 0);
    net_settle(w);
    assert_int_equal(net_event_count(w, 2, TW_NET_EV_UDP_DATAGRAM), 2);
    const tw_net_event *ev = net_event(w, 2, TW_NET_EV_UDP_DATAGRAM, 0);
    assert_int_equal(ev->payload_len, 1172);
    assert_memory_equal(ev->payload, data, 1172);
    ev = net_event(w, 2, TW_NET_EV_UDP_DATAGRAM, 1);
    assert_int_equal(ev->payload_len, 3000);
    assert_memory_equal(ev->payload, data, 3000);
    /* What crossed R--H2: offsets and flags of every fragment. */
    static const struct {
        uint16_t offset, len;
        bool more;
    } want[] = {{0, 976, true},    {976, 204, false}, {0, 976, true},   {976, 504, true},
                {1480, 976, true}, {2456, 504, true}, {2960, 48, false}};
    uint32_t k = 0;
    for (uint32_t i = 0; i < n_caps; i++) {
        if (caps[i].host != 1 || tw_bytes_load_be16(caps[i].data + 12) != TW_ETHERTYPE_IPV4) {
            continue;
        }
        assert_true(k < TW_ARRAY_LEN(want));
        tw_ipv4_repr r = cap_ipv4(i);
        assert_int_equal(r.frag_offset, want[k].offset);
        assert_int_equal(r.payload_len, want[k].len);
        assert_int_equal(r.more_frags, want[k].more);
        assert_int_equal(r.ttl, 63);
        k++;
    }
    assert_int_equal(k, TW_ARRAY_LEN(want));
    assert_int_equal(net_counters(w, 1, 0)->rx_forwarded, 4);
    assert_true(net_accounts_balance(w));
    net_world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_input_drops_each_with_its_reason),
        cmocka_unit_test(test_ipv4_input_broadcasts_reach_wildcard_endpoints),
        cmocka_unit_test(test_ipv4_output_fragments_exactly),
        cmocka_unit_test(test_ipv4_output_small_mtu_and_limits),
        cmocka_unit_test(test_ipv4_forward_decrements_ttl),
        cmocka_unit_test(test_ipv4_forward_ttl_exceeded),
        cmocka_unit_test(test_ipv4_forward_no_route),
        cmocka_unit_test(test_ipv4_forward_df_too_big_gets_frag_needed),
        cmocka_unit_test(test_ipv4_forward_fragments_when_df_clear),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
