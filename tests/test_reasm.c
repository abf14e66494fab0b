/* Reassembly: fragments in order, out of order and duplicated make the
 * datagram; overlaps discard it (RFC 5722 strictness); an incomplete one
 * times out, frees its buffer and reports time exceeded only when fragment
 * zero came (RFC 1122 §3.3.2); every limit is a counted drop; our own
 * fragments reassemble across two stacks, the largest datagram included;
 * on a multi-core host a datagram reassembled on a core that does not own
 * its flow is handed to the core that does, intact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/error.h"
#include "harness.h"
#include "net/internal.h"
#include "net_harness.h"
#include "wire/checksum.h"
#include "wire/rss.h"

#define A_ADDR TW_IPV4_ADDR(10, 0, 0, 1)
#define B_ADDR TW_IPV4_ADDR(10, 0, 0, 2)
#define X_ADDR TW_IPV4_ADDR(10, 0, 0, 9)
#define X_MAC ((tw_mac){{0x02, 0xaa, 0, 0, 0, 0x09}})

#define DATA_LEN 3000
static uint8_t data[DATA_LEN];
/* The UDP datagram to slice, with room for fragments past its end. */
static uint8_t dgram[TW_UDP_HEADER_LEN + DATA_LEN + 64];

static net_world *w;
static tw_stack *s;
static int ep;

static int setup(const tw_stack_config *cfg)
{
    w = net_world_new(TW_SEC(1), 0);
    net_host_add(w, cfg);
    net_iface_add(w, 0, A_ADDR, 24, 0);
    s = w->hosts[0].s;
    assert_int_equal(tw_stack_arp_add(s, w->now, 0, X_ADDR, X_MAC), 0);
    tw_frame_out f;
    while (tw_stack_pop_frame(s, w->now, &f)) {
    }
    ep = tw_stack_udp_bind(s, 0, 7);
    assert_true(ep >= 0);
    net_fill(data, sizeof(data), 5);
    tw_udp_repr u = {.src_port = 4000, .dst_port = 7, .payload = data, .payload_len = DATA_LEN};
    tw_udp_emit(&u, X_ADDR, A_ADDR, dgram);
    return 0;
}

static int setup_default(void **state)
{
    (void)state;
    return setup(NULL);
}

static int teardown(void **state)
{
    (void)state;
    net_world_free(w);
    return 0;
}

/* Feeds bytes [off, off+len) of the datagram as a fragment to st at now. */
static void feed_to(tw_stack *st, tw_ns now, uint16_t off, uint16_t len, bool more,
                    uint16_t ident)
{
    uint8_t frame[1600];
    tw_ipv4_repr r = {
        .src = X_ADDR,
        .dst = A_ADDR,
        .protocol = TW_IP_PROTO_UDP,
        .ttl = 64,
        .ident = ident,
        .frag_offset = off,
        .more_frags = more,
        .payload_len = len,
    };
    size_t n = net_build_ipv4(frame, net_mac(0, 0), X_MAC, &r, dgram + off);
    tw_stack_on_frame(st, now, 0, frame, n);
}

static void feed(uint16_t off, uint16_t len, bool more, uint16_t ident)
{
    feed_to(s, w->now, off, len, more, ident);
}

static const tw_iface_counters *ctr(void)
{
    return tw_stack_iface_counters(s, 0);
}

/* The three fragments of the 3008-byte datagram over a 1500 MTU. */
#define F0 0, 1480, true
#define F1 1480, 1480, true
#define F2 2960, 48, false

static void expect_datagram(uint32_t count)
{
    net_record_events(w, 0);
    assert_int_equal(net_event_count(w, 0, TW_NET_EV_UDP_DATAGRAM), count);
    for (uint32_t i = 0; i < count; i++) {
        const tw_net_event *ev = net_event(w, 0, TW_NET_EV_UDP_DATAGRAM, i);
        assert_int_equal(ev->payload_len, DATA_LEN);
        assert_memory_equal(ev->payload, data, DATA_LEN);
        assert_int_equal(ev->remote_port, 4000);
    }
    /* Read, so the buffer went back (the final, empty pop released it). */
    assert_int_equal(tw_reasm_in_use(&s->reasm), 0);
}

static void test_reasm_in_order(void **state)
{
    (void)state;
    feed(F0, 1);
    feed(F1, 1);
    assert_int_equal(ctr()->rx_held, 2);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 1);
    feed(F2, 1);
    assert_int_equal(ctr()->rx_delivered, 1);
    /* Queued to the endpoint, the reassembly buffer is kept, not copied. */
    assert_int_equal(tw_reasm_in_use(&s->reasm), 1);
    expect_datagram(1);
    assert_int_equal(s->reasm.stats.completed, 1);
    assert_int_equal(tw_stack_next_deadline(s), TW_NS_NEVER); /* the timer went with it */
}

static void test_reasm_out_of_order(void **state)
{
    (void)state;
    feed(F2, 2);
    feed(F0, 2);
    feed(F1, 2);
    expect_datagram(1);
    /* Two datagrams interleaved, told apart by identification. */
    feed(F1, 3);
    feed(F2, 4);
    feed(F0, 4);
    feed(F2, 3);
    feed(F1, 4);
    feed(F0, 3);
    expect_datagram(3);
    assert_true(net_accounts_balance(w));
}

static void test_reasm_exact_duplicate_tolerated(void **state)
{
    (void)state;
    feed(F0, 5);
    feed(F0, 5);
    feed(F1, 5);
    feed(F1, 5);
    feed(F2, 5);
    expect_datagram(1);
    assert_int_equal(ctr()->drops[TW_DROP_REASM_DUPLICATE], 2);
    assert_int_equal(s->reasm.stats.duplicates, 2);
    /* A duplicate of a completed datagram's fragment starts a new one,
     * which never completes and times out. */
    feed(F2, 5);
    net_advance(w, TW_SEC(31));
    assert_int_equal(ctr()->drops[TW_DROP_REASM_TIMEOUT], 1);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 0);
}

static void test_reasm_overlap_discards_datagram(void **state)
{
    (void)state;
    feed(F0, 6);
    feed(8, 1480, true, 6); /* overlaps F0 by 1472 bytes */
    assert_int_equal(ctr()->drops[TW_DROP_REASM_OVERLAP], 1);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 0);
    /* The rest cannot bring it back: it starts over and stays incomplete. */
    feed(F1, 6);
    feed(F2, 6);
    net_record_events(w, 0);
    assert_int_equal(net_event_count(w, 0, TW_NET_EV_UDP_DATAGRAM), 0);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 1);
    /* A last fragment ending before bytes already held contradicts them. */
    feed(8, 1472, false, 6);
    assert_int_equal(ctr()->drops[TW_DROP_REASM_OVERLAP], 2);
    /* Two different ends. */
    feed(F2, 7);
    feed(2960, 40, false, 7);
    assert_int_equal(ctr()->drops[TW_DROP_REASM_OVERLAP], 3);
    /* A middle fragment past the known end. */
    feed(F2, 8);
    feed(2960 + 48, 8, true, 8);
    assert_int_equal(ctr()->drops[TW_DROP_REASM_OVERLAP], 4);
    assert_int_equal(s->reasm.stats.overlaps, 4);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 0);
    assert_true(net_accounts_balance(w));
}

static void test_reasm_timeout_frees_and_reports(void **state)
{
    (void)state;
    tw_ns t0 = w->now;
    feed(F0, 9);
    feed(F2, 9);
    assert_int_equal(tw_stack_next_deadline(s), t0 + TW_SEC(30));
    net_advance(w, TW_SEC(29));
    assert_int_equal(tw_reasm_in_use(&s->reasm), 1);
    /* Drive the stack by hand to see its frames. */
    w->now = t0 + TW_SEC(30);
    tw_stack_on_tick(s, w->now);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 0);
    assert_int_equal(ctr()->drops[TW_DROP_REASM_TIMEOUT], 1);
    assert_int_equal(s->reasm.stats.timeouts, 1);
    /* Fragment zero had come: time exceeded, code 1, quoting its header. */
    tw_frame_out f;
    assert_true(tw_stack_pop_frame(s, w->now, &f));
    tw_eth_repr e;
    tw_ipv4_repr r, q;
    tw_icmp_repr icmp;
    assert_int_equal(tw_eth_parse(f.data, f.len, &e), 0);
    assert_int_equal(tw_ipv4_parse(e.payload, e.payload_len, &r), 0);
    assert_int_equal(r.dst, X_ADDR);
    assert_int_equal(tw_icmp_parse(r.payload, r.payload_len, &icmp), 0);
    assert_int_equal(icmp.type, TW_ICMP_TIME_EXCEEDED);
    assert_int_equal(icmp.code, TW_ICMP_EXCEEDED_REASSEMBLY);
    assert_int_equal(tw_icmp_quote_parse(&icmp, &q), 0);
    assert_int_equal(q.ident, 9);
    assert_int_equal(q.src, X_ADDR);
    assert_true(q.more_frags);
    assert_int_equal(tw_bytes_load_be16(q.payload), 4000); /* the UDP ports */
    assert_false(tw_stack_pop_frame(s, w->now, &f));

    /* Without fragment zero there is nothing to quote: no error. */
    feed(F1, 10);
    w->now += TW_SEC(30);
    tw_stack_on_tick(s, w->now);
    assert_int_equal(ctr()->drops[TW_DROP_REASM_TIMEOUT], 2);
    assert_false(tw_stack_pop_frame(s, w->now, &f));
    assert_int_equal(tw_reasm_in_use(&s->reasm), 0);
}

static void test_reasm_limits_counted(void **state)
{
    (void)state;
    net_world_free(w);
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.reasm.slots = 1;
    cfg.reasm.fragments_max = 2;
    cfg.reasm.datagram_len_max = 2000;
    setup(&cfg);
    feed(F0, 1);
    feed(F0, 2); /* another datagram: the only slot is busy, the older gives way */
    assert_int_equal(ctr()->drops[TW_DROP_REASM_NO_SLOT], 1);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 1);
    feed(1480, 16, true, 2);
    feed(1496, 8, true, 2); /* a third fragment */
    assert_int_equal(ctr()->drops[TW_DROP_REASM_TOO_MANY_FRAGS], 1);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 0);
    feed(F1, 3); /* ends at 2960 > 2000 */
    assert_int_equal(ctr()->drops[TW_DROP_REASM_TOO_BIG], 1);
    feed(8, 8, true, 4);
    feed(1992, 16, false, 4); /* a known datagram growing past the limit */
    assert_int_equal(ctr()->drops[TW_DROP_REASM_TOO_BIG], 2);
    /* RFC 791 §3.2: a fragment that is not the last carries a multiple of
     * 8 bytes, and an empty one is nonsense. */
    feed(0, 12, true, 5);
    feed(0, 0, true, 5);
    assert_int_equal(ctr()->drops[TW_DROP_IPV4_BAD_FRAGMENT], 2);
    assert_int_equal(s->reasm.stats.refused, 4);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 0);
    assert_true(net_accounts_balance(w));
}

/* With every slot busy the oldest incomplete datagram gives way: one
 * that lost a fragment must not hold its slot for the whole timeout while
 * complete datagrams behind it are refused (found by `twin fuzz`: HTTP
 * over a narrow, lossy hop starved for 30 s at a time). */
static void test_reasm_full_evicts_oldest(void **state)
{
    (void)state;
    net_world_free(w);
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    cfg.reasm.slots = 2;
    setup(&cfg);
    feed(F0, 1); /* lost its other fragments */
    w->now += TW_MS(1);
    feed(F0, 2);
    w->now += TW_MS(1);
    feed(F0, 3); /* evicts 1, the oldest */
    assert_int_equal(ctr()->drops[TW_DROP_REASM_NO_SLOT], 1);
    assert_int_equal(s->reasm.stats.refused, 1);
    feed(F1, 3);
    feed(F2, 3);
    net_record_events(w, 0);
    assert_int_equal(net_event_count(w, 0, TW_NET_EV_UDP_DATAGRAM), 1);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 1); /* 2, still incomplete */
    /* 2 kept its slot and completes too. */
    feed(F1, 2);
    feed(F2, 2);
    expect_datagram(2);
    assert_int_equal(s->reasm.stats.completed, 2);
    assert_true(net_accounts_balance(w));
}

static void test_reasm_ping_of_death_refused(void **state)
{
    (void)state;
    /* A last fragment reaching byte 65535 of payload, then fragment zero:
     * with its 20-byte header the datagram would pass 65535 bytes. */
    static uint8_t junk[1480];
    memcpy(dgram, junk, 8);
    uint8_t frame[1600];
    tw_ipv4_repr r = {
        .src = X_ADDR,
        .dst = A_ADDR,
        .protocol = TW_IP_PROTO_UDP,
        .ttl = 64,
        .ident = 66,
        .frag_offset = 65528,
        .more_frags = false,
        .payload_len = 7,
    };
    size_t n = net_build_ipv4(frame, net_mac(0, 0), X_MAC, &r, junk);
    tw_stack_on_frame(s, w->now, 0, frame, n);
    assert_int_equal(ctr()->rx_held, 1);
    feed(0, 1480, true, 66);
    assert_int_equal(ctr()->drops[TW_DROP_REASM_TOO_BIG], 1);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 0);
}

static void test_reasm_close_releases_held_datagram(void **state)
{
    (void)state;
    feed(F0, 12);
    feed(F1, 12);
    feed(F2, 12);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 1);
    assert_int_equal(tw_stack_udp_close(s, (uint32_t)ep), 0);
    assert_int_equal(tw_reasm_in_use(&s->reasm), 0);
}

/* Two stacks: what one fragments, the other reassembles, up to the
 * largest UDP datagram (65507 bytes, 45 fragments). */
static void test_reasm_our_own_fragments(void **state)
{
    (void)state;
    net_world *p = net_world_new(TW_SEC(1), TW_US(1));
    net_host_add(p, NULL);
    net_host_add(p, NULL);
    net_iface_add(p, 0, A_ADDR, 24, 0);
    net_iface_add(p, 1, B_ADDR, 24, 0);
    net_link_add(p, 0, 0, 1, 0);
    net_settle(p);
    int ea = tw_stack_udp_bind(p->hosts[0].s, 0, 1000);
    int eb = tw_stack_udp_bind(p->hosts[1].s, 0, 2000);
    assert_true(ea >= 0 && eb >= 0);
    static uint8_t big[TW_UDP_PAYLOAD_LEN_MAX];
    net_fill(big, sizeof(big), 9);
    static const size_t sizes[] = {1473, 3000, 9000, TW_UDP_PAYLOAD_LEN_MAX};
    for (size_t i = 0; i < TW_ARRAY_LEN(sizes); i++) {
        assert_int_equal(
            tw_stack_udp_send(p->hosts[0].s, p->now, (uint32_t)ea, B_ADDR, 2000, big, sizes[i]), 0);
        net_settle(p);
        const tw_net_event *ev = net_event(p, 1, TW_NET_EV_UDP_DATAGRAM, (uint32_t)i);
        assert_non_null(ev);
        assert_int_equal(ev->payload_len, sizes[i]);
        assert_memory_equal(ev->payload, big, sizes[i]);
    }
    tw_stack_stats st;
    tw_stack_stats_get(p->hosts[1].s, &st);
    assert_int_equal(st.reasm->completed, 4);
    assert_int_equal(st.reasm_in_use, 0);
    assert_int_equal(tw_drop_total(net_counters(p, 1, 0)), 1); /* A's announcement only */
    net_world_free(p);
}

/* ---- hand-off to the flow's core (`twin fuzz` seed 46) ------------------ */

/* The cores of one host: a stack each, the same interface, and the RSS the
 * NIC steers by. */
#define CORES_MAX 2
static tw_rss host_rss;
static tw_stack *core_stack[CORES_MAX];

static void host_cores(uint16_t ncores, uint32_t frame_buffers)
{
    tw_rss_init(&host_rss, NULL, 0);
    tw_rss_indir_spread(&host_rss, ncores);
    for (uint16_t c = 0; c < ncores; c++) {
        tw_stack_config cfg;
        tw_stack_config_default(&cfg);
        cfg.rss = &host_rss;
        cfg.core = c;
        cfg.ncores = ncores;
        if (frame_buffers) {
            cfg.frame_buffers = frame_buffers;
        }
        core_stack[c] = tw_stack_create(&cfg, TW_SEC(1));
        tw_iface_config ic = {.mac = net_mac(0, 0), .addr = A_ADDR, .prefix_len = 24};
        assert_int_equal(tw_stack_iface_add(core_stack[c], &ic), 0);
        assert_int_equal(tw_stack_iface_up(core_stack[c], TW_SEC(1), 0), 0);
        tw_frame_out f;
        while (tw_stack_pop_frame(core_stack[c], TW_SEC(1), &f)) {
        }
    }
}

static uint16_t core_of(uint32_t hash, uint16_t ncores)
{
    return (uint16_t)(tw_rss_queue(&host_rss, hash) % ncores);
}

/* The core the NIC steers X's fragments to (by the addresses alone). */
static uint16_t fragment_core(uint16_t ncores)
{
    return core_of(tw_rss_hash_ipv4(&host_rss, X_ADDR, A_ADDR), ncores);
}

/* A port whose datagrams from X:4000 the NIC steers, whole, to core. */
static uint16_t port_on(uint16_t core, uint16_t ncores)
{
    for (uint16_t p = 1000; p < 2000; p++) {
        if (core_of(tw_rss_hash_ipv4_ports(&host_rss, X_ADDR, A_ADDR, 4000, p), ncores) == core) {
            return p;
        }
    }
    fail_msg("no port lands on core %u", core);
    return 0;
}

/* Fragments of a UDP datagram X:4000 -> A:port of len data bytes, pieces
 * of `piece` bytes (a multiple of 8), fed to stack st. */
static void feed_udp_fragments(tw_stack *st, uint16_t port, size_t len, uint16_t piece)
{
    tw_udp_repr u = {.src_port = 4000, .dst_port = port, .payload = data, .payload_len = len};
    tw_udp_emit(&u, X_ADDR, A_ADDR, dgram);
    size_t total = TW_UDP_HEADER_LEN + len;
    for (size_t off = 0; off < total; off += piece) {
        size_t n = total - off < piece ? total - off : piece;
        feed_to(st, TW_SEC(1), (uint16_t)off, (uint16_t)n, off + n < total, 31);
    }
}

/* Moves every hand-off `from` emits into the core it names, as a driver
 * does; returns how many there were (all for `to`). */
static uint32_t move_handoffs(tw_stack *from, uint16_t to)
{
    uint32_t n = 0;
    tw_frame_out f;
    while (tw_stack_pop_frame(from, TW_SEC(1), &f)) {
        assert_true(f.steer);
        assert_int_equal(f.core, to);
        assert_int_equal(f.iface, 0);
        /* A frame as received: to our MAC, from the sender's, a sound
         * IPv4 header. */
        assert_true(tw_mac_equal(tw_eth_dst(f.data), net_mac(0, 0)));
        assert_true(tw_mac_equal(tw_eth_src(f.data), X_MAC));
        assert_true(tw_csum_ok(tw_csum_add(0, f.data + TW_ETH_HEADER_LEN, TW_IPV4_HEADER_LEN)));
        tw_stack_on_frame(core_stack[to], TW_SEC(1), f.iface, f.data, f.len);
        n++;
    }
    return n;
}

static void expect_udp(tw_stack *st, uint16_t port, size_t len)
{
    tw_net_event ev;
    assert_true(tw_stack_pop_event(st, TW_SEC(1), &ev));
    assert_int_equal(ev.kind, TW_NET_EV_UDP_DATAGRAM);
    assert_int_equal(ev.local_port, port);
    assert_int_equal(ev.remote_port, 4000);
    assert_int_equal(ev.payload_len, len);
    assert_memory_equal(ev.payload, data, len);
    assert_false(tw_stack_pop_event(st, TW_SEC(1), &ev));
}

static void free_cores(uint16_t ncores)
{
    for (uint16_t c = 0; c < ncores; c++) {
        tw_stack_stats st;
        tw_stack_stats_get(core_stack[c], &st);
        assert_int_equal(st.reasm_in_use, 0);
        assert_int_equal(st.frame_buffers_in_use, 0);
        const tw_iface_counters *k = tw_stack_iface_counters(core_stack[c], 0);
        assert_int_equal(k->rx_frames,
                         k->rx_delivered + k->rx_forwarded + k->rx_held + k->rx_dropped);
        tw_stack_destroy(core_stack[c]);
    }
}

/* Fragments of a datagram whose flow core 1 owns, arriving at core 0 (or
 * whichever core the addresses pick): that core reassembles it and hands
 * it over; the owner delivers it, intact, and hands nothing back. */
static void test_reasm_handoff_to_flow_core(void **state)
{
    (void)state;
    net_fill(data, sizeof(data), 6);
    host_cores(2, 0);
    uint16_t fc = fragment_core(2), oc = (uint16_t)(1 - fc);
    uint16_t port = port_on(oc, 2);
    assert_true(tw_stack_udp_bind(core_stack[oc], 0, port) >= 0);
    /* 3000 bytes: more than the MTU, so the hand-off is fragments again
     * (the owner reassembles them; they hash to it whole). */
    feed_udp_fragments(core_stack[fc], port, DATA_LEN, 1480);
    const tw_iface_counters *k = tw_stack_iface_counters(core_stack[fc], 0);
    assert_int_equal(k->rx_held, 2);
    assert_int_equal(k->rx_delivered, 1);
    assert_int_equal(tw_drop_total(k), 0); /* no udp_no_endpoint: the bug */
    tw_net_event ev;
    assert_false(tw_stack_pop_event(core_stack[fc], TW_SEC(1), &ev));
    assert_int_equal(move_handoffs(core_stack[fc], oc), 3);
    expect_udp(core_stack[oc], port, DATA_LEN);
    tw_frame_out f;
    assert_false(tw_stack_pop_frame(core_stack[oc], TW_SEC(1), &f)); /* not steered again */
    tw_stack_stats st;
    tw_stack_stats_get(core_stack[fc], &st);
    assert_int_equal(st.handoffs, 1);
    /* Not for the wire: the announcement is all it sent. */
    assert_int_equal(tw_stack_iface_counters(core_stack[fc], 0)->tx_frames, 1);
    /* Fragmented upstream on a narrower hop, it fits this link whole: one
     * unfragmented frame, delivered at once. */
    feed_udp_fragments(core_stack[fc], port, 1000, 512);
    f = (tw_frame_out){0};
    assert_true(tw_stack_pop_frame(core_stack[fc], TW_SEC(1), &f));
    assert_true(f.steer);
    assert_int_equal(f.len, TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN + TW_UDP_HEADER_LEN + 1000);
    const uint8_t *ip = f.data + TW_ETH_HEADER_LEN;
    assert_false(tw_ipv4_more_frags(ip));
    assert_int_equal(tw_ipv4_frag_offset(ip), 0);
    tw_stack_on_frame(core_stack[oc], TW_SEC(1), f.iface, f.data, f.len);
    assert_false(tw_stack_pop_frame(core_stack[fc], TW_SEC(1), &f));
    expect_udp(core_stack[oc], port, 1000);
    /* Only the first hand-off was fragments again. */
    assert_int_equal(tw_stack_iface_counters(core_stack[oc], 0)->rx_held, 2);
    free_cores(2);
}

/* The flow's own core, or a host of one core, delivers in place. */
static void test_reasm_no_handoff_for_own_flow(void **state)
{
    (void)state;
    net_fill(data, sizeof(data), 7);
    for (uint16_t ncores = 1; ncores <= 2; ncores++) {
        host_cores(ncores, 0);
        uint16_t fc = fragment_core(ncores);
        uint16_t port = port_on(fc, ncores);
        assert_true(tw_stack_udp_bind(core_stack[fc], 0, port) >= 0);
        feed_udp_fragments(core_stack[fc], port, DATA_LEN, 1480);
        tw_frame_out f;
        assert_false(tw_stack_pop_frame(core_stack[fc], TW_SEC(1), &f));
        expect_udp(core_stack[fc], port, DATA_LEN);
        tw_stack_stats st;
        tw_stack_stats_get(core_stack[fc], &st);
        assert_int_equal(st.handoffs, 0);
        free_cores(ncores);
    }
}

/* A hand-off that finds too few frame buffers is a counted drop. */
static void test_reasm_handoff_without_buffers_counted(void **state)
{
    (void)state;
    net_fill(data, sizeof(data), 8);
    host_cores(2, 2); /* the 3000-byte datagram needs 3 */
    uint16_t fc = fragment_core(2), oc = (uint16_t)(1 - fc);
    uint16_t port = port_on(oc, 2);
    feed_udp_fragments(core_stack[fc], port, DATA_LEN, 1480);
    const tw_iface_counters *k = tw_stack_iface_counters(core_stack[fc], 0);
    assert_int_equal(k->drops[TW_DROP_STEER_NO_BUFFER], 1);
    assert_int_equal(k->rx_dropped, 1);
    tw_frame_out f;
    assert_false(tw_stack_pop_frame(core_stack[fc], TW_SEC(1), &f));
    assert_string_equal(tw_drop_name(TW_DROP_STEER_NO_BUFFER), "steer_no_buffer");
    free_cores(2);
}

int main(void)
{
    harness_install_panic();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reasm_in_order, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_reasm_out_of_order, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_reasm_exact_duplicate_tolerated, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reasm_overlap_discards_datagram, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reasm_timeout_frees_and_reports, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reasm_limits_counted, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_reasm_full_evicts_oldest, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_reasm_ping_of_death_refused, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_reasm_close_releases_held_datagram, setup_default,
                                        teardown),
        cmocka_unit_test(test_reasm_our_own_fragments),
        cmocka_unit_test(test_reasm_handoff_to_flow_core),
        cmocka_unit_test(test_reasm_no_handoff_for_own_flow),
        cmocka_unit_test(test_reasm_handoff_without_buffers_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
