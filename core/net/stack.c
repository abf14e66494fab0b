/* The stack: configuration, the Ethernet demultiplexer, the timers, the
 * output queues and the accounting that ties the components together. */
#include "net/stack.h"

#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "net/internal.h"
#include "wire/icmp.h"
#include "wire/udp.h"

void tw_stack_config_default(tw_stack_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ifaces_max = 4;
    cfg->mtu_max = TW_IFACE_MTU_DEFAULT;
    cfg->forwarding = false;
    cfg->ttl = TW_IPV4_DEFAULT_TTL;
    cfg->frame_buffers = 1024;
    cfg->tx_queue_len = 512;
    cfg->event_queue_len = 256;
    cfg->routes_max = 64;
    cfg->arp = (tw_arp_config){
        .entries_max = 256,
        .pending_per_entry = 64, /* a 64 KiB datagram is 45 fragments at 1500 */
        .pending_total = 256,
        .retries = 3,
        .retry_interval_ns = TW_SEC(1), /* RFC 1122 §2.3.2.1: at most 1/s */
        .entry_ttl_ns = TW_SEC(60),
    };
    cfg->reasm = (tw_reasm_config){
        .slots = 16,
        .datagram_len_max = TW_IPV4_TOTAL_LEN_MAX,
        .fragments_max = 64,
        .timeout_ns = TW_SEC(30), /* Linux's ipfrag_time; RFC 791 suggests 15 s minimum */
        .icmp_time_exceeded = true,
    };
    cfg->udp = (tw_udp_config){
        .endpoints_max = 64,
        .queue_len = 64,
        .ephemeral_first = 49152,
        .ephemeral_last = 65535,
    };
    cfg->icmp = (tw_icmp_config){
        .error_burst = 10,
        .error_interval_ns = TW_MS(10),
    };
}

tw_stack *tw_stack_create(const tw_stack_config *cfg, tw_ns now)
{
    TW_ASSERT(cfg->ifaces_max > 0);
    TW_ASSERT(cfg->ifaces_max <= UINT16_MAX);
    TW_ASSERT(cfg->mtu_max >= TW_IFACE_MTU_MIN);
    TW_ASSERT(cfg->ttl > 0);
    TW_ASSERT(cfg->frame_buffers > 0);
    TW_ASSERT(cfg->frame_buffers < TW_NET_REF_REASM); /* refs tell the two apart */
    TW_ASSERT(cfg->tx_queue_len > 0);
    TW_ASSERT(cfg->event_queue_len > 0);
    TW_ASSERT(cfg->routes_max >= cfg->ifaces_max); /* room for connected routes */
    tw_stack *s = tw_mem_calloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->ifaces = tw_mem_calloc(cfg->ifaces_max, sizeof(tw_iface));
    tw_fbuf_pool_init(&s->fbufs, cfg->frame_buffers, TW_ETH_HEADER_LEN + (uint32_t)cfg->mtu_max);
    tw_ring_init(&s->tx, cfg->tx_queue_len, sizeof(uint32_t));
    tw_ring_init(&s->events, cfg->event_queue_len, sizeof(tw_net_event));
    tw_wheel_init(&s->wheel, now);
    tw_route_table_init(&s->routes, cfg->routes_max);
    tw_arp_cache_init(&s->arp, &cfg->arp);
    tw_reasm_init(&s->reasm, &cfg->reasm);
    tw_udp_table_init(&s->udp, &cfg->udp);
    tw_icmp_init(&s->icmp, &cfg->icmp, now);
    if (cfg->tcp_enabled) {
        tw_tcp_config tc = cfg->tcp;
        tc.mtu = cfg->mtu_max;
        /* A host's administrator may announce a smaller MSS than its MTU
         * allows (RFC 9293 §3.7.1), as a route's advmss does. */
        if (cfg->tcp_mss != 0 && cfg->tcp_mss + 40u < tc.mtu) {
            tc.mtu = (uint16_t)(cfg->tcp_mss + 40u);
        }
        s->tcp = tw_tcp_create(&tc, now);
    }
    s->steer_core = tw_mem_calloc(cfg->frame_buffers, sizeof(uint16_t));
    s->hold_frame = TW_FBUF_NONE;
    s->hold_ref = TW_NET_REF_NONE;
    s->rx.outcome = TW_RX_IDLE;
    return s;
}

void tw_stack_destroy(tw_stack *s)
{
    if (s->tcp) {
        tw_tcp_destroy(s->tcp);
    }
    tw_udp_table_free(&s->udp);
    tw_reasm_free(&s->reasm);
    tw_arp_cache_free(&s->arp);
    tw_route_table_free(&s->routes);
    tw_ring_free(&s->events);
    tw_ring_free(&s->tx);
    tw_fbuf_pool_free(&s->fbufs);
    tw_mem_free(s->steer_core);
    tw_mem_free(s->ifaces);
    tw_mem_free(s);
}

/* ---- interfaces and routes -------------------------------------------- */

int tw_stack_iface_add(tw_stack *s, const tw_iface_config *cfg)
{
    if (s->iface_count == s->cfg.ifaces_max) {
        return -TW_EFULL;
    }
    tw_iface ifc;
    int err = tw_iface_init(&ifc, cfg);
    if (err < 0) {
        return err;
    }
    if (ifc.mtu > s->cfg.mtu_max) {
        return -TW_EINVAL;
    }
    if (tw_net_is_local(s, ifc.addr)) {
        return -TW_EEXIST;
    }
    uint32_t id = s->iface_count;
    /* RFC 1122 §3.3.1.1: destinations in the interface's subnet are on
     * link; that is the connected route. */
    tw_route r = {.dst = ifc.addr, .prefix_len = ifc.prefix_len, .gateway = 0, .iface = id};
    err = tw_route_add(&s->routes, &r);
    if (err < 0) {
        return err;
    }
    s->ifaces[id] = ifc;
    s->iface_count++;
    return (int)id;
}

int tw_stack_iface_up(tw_stack *s, tw_ns now, uint32_t iface)
{
    if (iface >= s->iface_count) {
        return -TW_EINVAL;
    }
    s->ifaces[iface].up = true;
    tw_arp_announce(s, now, iface);
    return 0;
}

int tw_stack_iface_down(tw_stack *s, tw_ns now, uint32_t iface)
{
    if (iface >= s->iface_count) {
        return -TW_EINVAL;
    }
    s->ifaces[iface].up = false;
    tw_arp_flush_iface(s, now, iface);
    return 0;
}

int tw_stack_arp_announce(tw_stack *s, tw_ns now, uint32_t iface)
{
    if (iface >= s->iface_count) {
        return -TW_EINVAL;
    }
    return tw_arp_announce(s, now, iface);
}

int tw_stack_arp_add(tw_stack *s, tw_ns now, uint32_t iface, tw_ipv4_addr addr, tw_mac mac)
{
    if (iface >= s->iface_count || tw_mac_is_multicast(mac) || tw_mac_is_zero(mac) ||
        tw_ipv4_addr_is_unspecified(addr)) {
        return -TW_EINVAL;
    }
    return tw_arp_add_static(s, now, iface, addr, mac);
}

int tw_stack_route_add(tw_stack *s, tw_ipv4_addr dst, uint8_t prefix_len, tw_ipv4_addr gateway)
{
    if (prefix_len > 32 || tw_ipv4_addr_is_unspecified(gateway)) {
        return -TW_EINVAL;
    }
    /* RFC 1122 §3.3.1.1: a gateway must be directly reachable. */
    for (uint32_t i = 0; i < s->iface_count; i++) {
        const tw_iface *ifc = &s->ifaces[i];
        if (tw_iface_on_link(ifc, gateway) && gateway != ifc->addr &&
            gateway != tw_iface_bcast(ifc)) {
            tw_route r = {.dst = dst, .prefix_len = prefix_len, .gateway = gateway, .iface = i};
            return tw_route_add(&s->routes, &r);
        }
    }
    return -TW_EUNREACH;
}

int tw_stack_route_default(tw_stack *s, tw_ipv4_addr gateway)
{
    return tw_stack_route_add(s, TW_IPV4_ADDR_ANY, 0, gateway);
}

int tw_stack_route_del(tw_stack *s, tw_ipv4_addr dst, uint8_t prefix_len)
{
    return tw_route_del(&s->routes, dst, prefix_len);
}

bool tw_net_is_local(const tw_stack *s, tw_ipv4_addr addr)
{
    for (uint32_t i = 0; i < s->iface_count; i++) {
        if (s->ifaces[i].addr == addr) {
            return true;
        }
    }
    return false;
}

bool tw_net_is_bcast(const tw_stack *s, tw_ipv4_addr addr)
{
    if (tw_ipv4_addr_is_broadcast(addr)) {
        return true;
    }
    for (uint32_t i = 0; i < s->iface_count; i++) {
        if (addr == tw_iface_bcast(&s->ifaces[i])) {
            return true;
        }
    }
    return false;
}

/* ---- queues ------------------------------------------------------------- */

int tw_net_tx(tw_stack *s, uint32_t buf)
{
    tw_fbuf_meta *m = tw_fbuf_meta_of(&s->fbufs, buf);
    TW_ASSERT(m->len >= TW_ETH_HEADER_LEN);
    TW_ASSERT(m->len <= s->fbufs.size);
    if (tw_ring_len(&s->tx) >= s->cfg.tx_queue_len) {
        tw_net_drop(s, m->iface, TW_DROP_TX_QUEUE_FULL);
        tw_fbuf_put(&s->fbufs, buf);
        return -TW_EFULL;
    }
    int err = tw_ring_push(&s->tx, &buf);
    TW_ASSERT(err == 0);
    return 0;
}

int tw_net_event_push(tw_stack *s, const tw_net_event *ev)
{
    if (tw_ring_len(&s->events) >= s->cfg.event_queue_len) {
        tw_net_drop(s, ev->iface, TW_DROP_EVENT_QUEUE_FULL);
        return -TW_EFULL;
    }
    int err = tw_ring_push(&s->events, ev);
    TW_ASSERT(err == 0);
    return 0;
}

void tw_net_ref_release(tw_stack *s, uint32_t ref)
{
    if (ref == TW_NET_REF_NONE) {
        return;
    }
    if (ref & TW_NET_REF_REASM) {
        tw_reasm_release(&s->reasm, ref & ~TW_NET_REF_REASM);
    } else {
        tw_fbuf_put(&s->fbufs, ref);
    }
}

int tw_net_report_error(tw_stack *s, uint32_t origin, const tw_net_dgram *sent, int error,
                        uint8_t icmp_type, uint8_t icmp_code, uint16_t mtu, tw_ipv4_addr reporter,
                        uint32_t iface)
{
    tw_net_event ev = {
        .iface = iface,
        .error = error,
        .local_addr = sent->src,
        .remote_addr = sent->dst,
        .reporter = reporter,
        .icmp_type = icmp_type,
        .icmp_code = icmp_code,
        .mtu = mtu,
        .endpoint = TW_UDP_EP_NONE,
    };
    if (sent->payload_len < 8) {
        return -TW_ENOENT;
    }
    if (origin == TW_NET_ORIGIN_ECHO) {
        if (sent->protocol != TW_IP_PROTO_ICMP) {
            return -TW_ENOENT;
        }
        ev.kind = TW_NET_EV_ECHO_ERROR;
        ev.echo_id = tw_icmp_echo_id(sent->payload);
        ev.echo_seq = tw_icmp_echo_seq(sent->payload);
        return tw_net_event_push(s, &ev);
    }
    uint32_t slot = tw_udp_slot_of(&s->udp, origin);
    if (slot == TW_UDP_EP_NONE || sent->protocol != TW_IP_PROTO_UDP) {
        return -TW_ENOENT;
    }
    ev.kind = TW_NET_EV_UDP_ERROR;
    ev.endpoint = origin;
    ev.local_port = tw_udp_src_port(sent->payload);
    ev.remote_port = tw_udp_dst_port(sent->payload);
    s->udp.eps[slot].errors++;
    s->udp.stats.errors_in++;
    return tw_net_event_push(s, &ev);
}

/* ---- the sans-io contract ----------------------------------------------- */

/* IEEE 802.3 and RFC 894: which frames are ours, and to whom inside. */
static void eth_input(tw_stack *s, tw_ns now, uint32_t iface, const uint8_t *frame, size_t len)
{
    const tw_iface *ifc = &s->ifaces[iface];
    if (!ifc->up) {
        tw_net_rx_drop(s, TW_DROP_IFACE_DOWN);
        return;
    }
    if (len < TW_ETH_HEADER_LEN) {
        tw_net_rx_drop(s, TW_DROP_ETH_TRUNCATED);
        return;
    }
    if (len > TW_ETH_HEADER_LEN + (size_t)ifc->mtu) {
        tw_net_rx_drop(s, TW_DROP_ETH_TOO_LONG);
        return;
    }
    tw_mac dst = tw_eth_dst(frame);
    bool bcast = tw_mac_is_broadcast(dst);
    if (!bcast && tw_mac_is_multicast(dst)) {
        tw_net_rx_drop(s, TW_DROP_ETH_MULTICAST);
        return;
    }
    if (!bcast && !tw_mac_equal(dst, ifc->mac)) {
        tw_net_rx_drop(s, TW_DROP_ETH_NOT_FOR_US);
        return;
    }
    tw_mac src = tw_eth_src(frame);
    if (tw_mac_is_multicast(src) || tw_mac_equal(src, ifc->mac)) {
        tw_net_rx_drop(s, TW_DROP_ETH_BAD_SRC);
        return;
    }
    s->rx.src = src; /* a hand-off re-frames a reassembled datagram from it */
    uint16_t type = tw_bytes_load_be16(frame + 12);
    const uint8_t *payload = frame + TW_ETH_HEADER_LEN;
    size_t payload_len = len - TW_ETH_HEADER_LEN;
    switch (type) {
    case TW_ETHERTYPE_IPV4:
        tw_ipv4_input(s, now, iface, payload, payload_len, bcast);
        return;
    case TW_ETHERTYPE_ARP:
        tw_arp_input(s, now, iface, payload, payload_len);
        return;
    case TW_ETHERTYPE_VLAN:
        tw_net_rx_drop(s, TW_DROP_ETH_VLAN);
        return;
    default:
        tw_net_rx_drop(s, TW_DROP_ETH_UNSUPPORTED);
        return;
    }
}

void tw_stack_on_frame(tw_stack *s, tw_ns now, uint32_t iface, const uint8_t *frame, size_t len)
{
    TW_ASSERT(iface < s->iface_count);
    TW_ASSERT(frame != NULL || len == 0);
    TW_ASSERT(s->rx.outcome == TW_RX_IDLE); /* not re-entered */
    tw_iface_counters *c = &s->ifaces[iface].c;
    s->frames_in++;
    c->rx_frames++;
    c->rx_bytes += len;
    s->rx.iface = iface;
    s->rx.outcome = TW_RX_PENDING;
    eth_input(s, now, iface, frame, len);
    switch (s->rx.outcome) {
    case TW_RX_DELIVERED:
        c->rx_delivered++;
        break;
    case TW_RX_FORWARDED:
        c->rx_forwarded++;
        break;
    case TW_RX_HELD:
        c->rx_held++;
        break;
    case TW_RX_DROPPED:
        c->rx_dropped++;
        break;
    default:
        TW_UNREACHABLE(); /* a path that forgot to account for the frame */
    }
    s->rx.outcome = TW_RX_IDLE;
}

void tw_stack_on_tick(tw_stack *s, tw_ns now)
{
    if (s->tcp) {
        tw_tcp_on_tick(s->tcp, now);
    }
    tw_timer *t;
    while ((t = tw_wheel_pop_expired(&s->wheel, now)) != NULL) {
        switch (t->owner) {
        case TW_NET_TIMER_ARP:
            tw_arp_on_timer(s, now, (uint32_t)t->token);
            break;
        case TW_NET_TIMER_REASM:
            tw_reasm_on_timer(s, now, (uint32_t)t->token);
            break;
        default:
            TW_UNREACHABLE();
        }
    }
}

tw_tcp *tw_stack_tcp(tw_stack *s) { return s->tcp; }

int tw_stack_udp_bind_for(tw_stack *s, tw_ipv4_addr addr, tw_ipv4_addr remote, uint16_t rport)
{
    if (s->cfg.rss == NULL || s->cfg.ncores <= 1) {
        return tw_stack_udp_bind(s, addr, 0);
    }
    tw_ipv4_addr local = addr ? addr : tw_stack_source_for(s, remote);
    uint32_t lo = s->cfg.udp.ephemeral_first, hi = s->cfg.udp.ephemeral_last;
    for (uint32_t i = 0; i <= hi - lo; i++) {
        uint16_t port = (uint16_t)(lo + (s->udp_pick + i) % (hi - lo + 1));
        /* The NIC hashes the reply: remote -> local. */
        uint32_t h = tw_rss_hash_ipv4_ports(s->cfg.rss, remote, local, rport, port);
        if (tw_net_core_of(s, h) != s->cfg.core) {
            continue;
        }
        int rc = tw_stack_udp_bind(s, addr, port);
        if (rc != -TW_EADDRINUSE) {
            s->udp_pick = (s->udp_pick + i + 1) % (hi - lo + 1);
            return rc;
        }
    }
    return -TW_EFULL;
}

tw_ipv4_addr tw_stack_source_for(tw_stack *s, tw_ipv4_addr dst)
{
    uint32_t iface;
    tw_ipv4_addr next_hop;
    if (tw_ipv4_route(s, dst, &iface, &next_hop) < 0) {
        return 0;
    }
    return tw_net_iface(s, iface)->addr;
}

/* Frames kept back from TCP for ARP, ICMP and a fragmented segment. */
#define TCP_FRAME_RESERVE 8

/* Moves the segments TCP has made (after an input, a tick or an
 * application call) into IPv4, while frame buffers and the transmit queue
 * have room: what TCP has not handed over stays in TCP (backpressure, as a
 * qdisc gives a kernel's TCP), and the next tw_stack_pop_frame takes more.
 * A segment IPv4 still refuses is lost like one dropped on the wire. */
static void tcp_flush(tw_stack *s, tw_ns now)
{
    tw_tcp_out seg;
    while (tw_fbuf_available(&s->fbufs) > TCP_FRAME_RESERVE &&
           tw_ring_len(&s->tx) + TCP_FRAME_RESERVE < s->tx.capacity &&
           tw_tcp_pop_segment(s->tcp, now, &seg)) {
        tw_ipv4_out o = {
            .src = seg.src,
            .dst = seg.dst,
            .protocol = TW_IP_PROTO_TCP,
            .ttl = s->cfg.ttl,
            /* NOTE: no path MTU discovery yet (RFC 1191 needs TCP to act on
             * ICMP fragmentation-needed), so segments sized to the first
             * hop's MTU may be fragmented by routers on a narrower path
             * rather than black-holed. */
            .dont_frag = false,
            .origin = TW_NET_ORIGIN_TCP,
            .head = seg.seg,
            .head_len = seg.len,
        };
        if (tw_ipv4_send(s, now, &o) < 0) {
            s->tcp_out_lost++;
        }
    }
}

bool tw_stack_pop_frame(tw_stack *s, tw_ns now, tw_frame_out *out)
{
    if (s->hold_frame != TW_FBUF_NONE) {
        tw_fbuf_put(&s->fbufs, s->hold_frame);
        s->hold_frame = TW_FBUF_NONE;
    }
    if (s->tcp) {
        tcp_flush(s, now);
    }
    uint32_t buf;
    /* The last call of every turn finds nothing: the test is inline. */
    if (tw_ring_empty(&s->tx) || !tw_ring_pop(&s->tx, &buf)) {
        return false;
    }
    const tw_fbuf_meta *m = tw_fbuf_meta_of(&s->fbufs, buf);
    out->iface = m->iface;
    out->len = m->len;
    out->data = tw_fbuf_data(&s->fbufs, buf);
    out->steer = m->origin == TW_NET_ORIGIN_STEER;
    out->core = out->steer ? s->steer_core[buf] : 0;
    s->hold_frame = buf;
    if (out->steer) {
        return true; /* not for the wire: counted as handoffs */
    }
    tw_iface_counters *c = &tw_net_iface(s, m->iface)->c;
    c->tx_frames++;
    c->tx_bytes += m->len;
    s->frames_out++;
    return true;
}

bool tw_stack_pop_event(tw_stack *s, tw_ns now, tw_net_event *ev)
{
    (void)now;
    tw_net_ref_release(s, s->hold_ref);
    s->hold_ref = TW_NET_REF_NONE;
    if (!tw_ring_empty(&s->events) && tw_ring_pop(&s->events, ev)) {
        s->events_out++;
        return true;
    }
    uint32_t ref;
    if (tw_udp_pop_datagram(s, ev, &ref)) {
        s->hold_ref = ref;
        s->events_out++;
        return true;
    }
    return false;
}

tw_ns tw_stack_next_deadline(const tw_stack *s)
{
    tw_ns d = tw_wheel_next_deadline(&s->wheel);
    return s->tcp ? tw_ns_min(d, tw_tcp_next_deadline(s->tcp)) : d;
}

int tw_stack_ping(tw_stack *s, tw_ns now, tw_ipv4_addr dst, uint16_t id, uint16_t seq,
                  const void *data, size_t len)
{
    return tw_icmp_send_echo(s, now, dst, id, seq, data, len);
}

/* ---- observation and steering ------------------------------------------ */

uint32_t tw_stack_iface_count(const tw_stack *s)
{
    return s->iface_count;
}

const tw_iface *tw_stack_iface(const tw_stack *s, uint32_t iface)
{
    TW_ASSERT(iface < s->iface_count);
    return &s->ifaces[iface];
}

const tw_iface_counters *tw_stack_iface_counters(const tw_stack *s, uint32_t iface)
{
    return &tw_stack_iface(s, iface)->c;
}

void tw_stack_stats_get(const tw_stack *s, tw_stack_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->frames_in = s->frames_in;
    out->frames_out = s->frames_out;
    out->events_out = s->events_out;
    out->datagrams_out = s->datagrams_out;
    out->fragments_out = s->fragments_out;
    out->forwarded = s->forwarded;
    out->handoffs = s->handoffs;
    out->arp = &s->arp.stats;
    out->reasm = &s->reasm.stats;
    out->icmp = &s->icmp.stats;
    out->udp = &s->udp.stats;
    out->frame_buffers_in_use = tw_fbuf_in_use(&s->fbufs);
    out->frame_buffers_high = s->fbufs.high_water;
    out->frame_buffers_exhausted = s->fbufs.exhausted;
    out->tx_queue_len = tw_ring_len(&s->tx);
    out->event_queue_len = tw_ring_len(&s->events);
    out->arp_entries = tw_arp_cache_used(&s->arp);
    out->arp_pending = s->arp.pending_total;
    out->reasm_in_use = tw_reasm_in_use(&s->reasm);
}

/* An ICMP error (RFC 792: destination unreachable, time exceeded) quotes
 * the IP header and first 8 bytes of a datagram we sent. It belongs to
 * that datagram's flow, so it hashes as the flow's inbound packets do
 * (the quote's addresses and ports swapped): a "fragmentation needed"
 * must reach the core whose TCP connection lowers its path MTU (RFC 1191),
 * not the core the router's and our addresses happen to hash to. Returns
 * false when the message quotes no TCP or UDP datagram. */
static bool icmp_error_flow(const tw_rss *rss, const uint8_t *icmp, size_t len, uint32_t *hash)
{
    if (len < TW_ICMP_HEADER_LEN + TW_ICMP_QUOTE_MIN ||
        (icmp[0] != TW_ICMP_DEST_UNREACH && icmp[0] != TW_ICMP_TIME_EXCEEDED)) {
        return false;
    }
    const uint8_t *q = icmp + TW_ICMP_HEADER_LEN;
    size_t qlen = len - TW_ICMP_HEADER_LEN;
    size_t ihl = (size_t)(q[0] & 0x0f) * 4;
    uint8_t proto = q[9];
    if ((q[0] >> 4) != 4 || ihl < TW_IPV4_HEADER_LEN || qlen < ihl + 4 ||
        (proto != TW_IP_PROTO_TCP && proto != TW_IP_PROTO_UDP)) {
        return false;
    }
    *hash = tw_rss_hash_ipv4_ports(rss, tw_bytes_load_be32(q + 16), tw_bytes_load_be32(q + 12),
                                   tw_bytes_load_be16(q + ihl + 2), tw_bytes_load_be16(q + ihl));
    return true;
}

uint32_t tw_stack_flow_hash(const tw_rss *rss, const uint8_t *frame, size_t len)
{
    if (tw_eth_view_check(frame, len) < 0 || tw_eth_ethertype(frame) != TW_ETHERTYPE_IPV4) {
        return 0;
    }
    size_t l2 = tw_eth_header_len(frame);
    return tw_net_flow_hash_ipv4(rss, frame + l2, len - l2);
}

uint16_t tw_net_core_of(const tw_stack *s, uint32_t hash)
{
    TW_ASSERT(s->cfg.rss != NULL && s->cfg.ncores > 0);
    return (uint16_t)(tw_rss_queue(s->cfg.rss, hash) % s->cfg.ncores);
}

uint32_t tw_net_flow_hash_ipv4(const tw_rss *rss, const uint8_t *ip, size_t len)
{
    if (tw_ipv4_view_check(ip, len) < 0) {
        return 0;
    }
    tw_ipv4_addr src = tw_ipv4_src(ip);
    tw_ipv4_addr dst = tw_ipv4_dst(ip);
    uint8_t proto = tw_ipv4_protocol(ip);
    /* Fragments hash on addresses alone: only the first carries the ports,
     * and all of a datagram's fragments must reach the same core to be
     * reassembled. */
    bool fragment = tw_ipv4_more_frags(ip) || tw_ipv4_frag_offset(ip) != 0;
    if ((proto == TW_IP_PROTO_TCP || proto == TW_IP_PROTO_UDP) && !fragment &&
        tw_ipv4_payload_len(ip) >= 4) {
        const uint8_t *l4 = tw_ipv4_payload(ip);
        return tw_rss_hash_ipv4_ports(rss, src, dst, tw_bytes_load_be16(l4),
                                      tw_bytes_load_be16(l4 + 2));
    }
    uint32_t hash;
    if (proto == TW_IP_PROTO_ICMP && !fragment &&
        icmp_error_flow(rss, tw_ipv4_payload(ip), tw_ipv4_payload_len(ip), &hash)) {
        return hash;
    }
    return tw_rss_hash_ipv4(rss, src, dst);
}
