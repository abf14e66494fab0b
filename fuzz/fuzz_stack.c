/* Fuzz target: the stack's input path, structure-aware.
 *
 * One tw_stack with TCP (10.0.0.1/24) talks to two scripted peers: 10.0.0.2,
 * whose MAC is a static neighbour entry, and 10.0.0.3, which must be
 * resolved by ARP. The input is a configuration byte, then a sequence of
 * steps, each an opcode byte and its operands (see the enum below):
 * advance time, inject a TCP segment built from input fields with a valid
 * checksum (most of the time), inject an ARP message or a raw frame, or an
 * application call (listen, connect, send, consume, close, abort, ...).
 *
 * TCP segments are built relative to what the harness has seen: each flow
 * (peer, peer port, our port) remembers our ISS and the highest sequence
 * number and acknowledgment we sent, so a sequence or acknowledgment field
 * can be "our ISS + 1 + n" or "what we last acknowledged + n", which is how
 * short inputs reach ESTABLISHED, retransmission, recovery, zero windows,
 * FIN states and TIME-WAIT instead of dying in the acceptability test.
 * Payload bytes are a function of their sequence number, so what the
 * stack delivers can be checked byte for byte.
 *
 * After every step the harness pops every frame and event, then checks:
 *   - tw_tcp_check: the TCP instance's invariants (sequence space order,
 *     buffer bounds, timers against the wheel, queues, counters);
 *   - every frame the stack sends parses (Ethernet, IPv4, and TCP, UDP or
 *     ICMP with valid checksums);
 *   - every payload byte it sends is the application's byte at that stream
 *     offset (retransmissions and segments built in the send ring too), and
 *     no acknowledgment covers more than the peer sent (while the peer's
 *     sequence numbers are ones the harness can follow);
 *   - delivered data equals what the peer sent at those sequence numbers
 *     (while no raw frame has been injected, since those carry arbitrary
 *     bytes);
 *   - the interfaces' receive accounting adds up;
 *   - nothing allocates after setup (the allocator is sealed).
 * Any TW_ASSERT inside core/ is a crash too. */
#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "fuzz.h"
#include "net/stack.h"
#include "net/tcp/tcp.h"
#include "wire/arp.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

#define OUR_ADDR TW_IPV4_ADDR(10, 0, 0, 1)
#define PEERS 2
#define FLOWS_MAX 16
#define CONNS_MAX 8
#define STEPS_MAX 512
/* Time moves forward at most this far per step, so that a run stays inside
 * a few simulated hours whatever the input. */
#define ADVANCE_MAX TW_SEC(600)
#define T0 TW_SEC(1)
#define FRAME_MAX 2048

static const tw_ipv4_addr peer_addr[PEERS] = {TW_IPV4_ADDR(10, 0, 0, 2),
                                              TW_IPV4_ADDR(10, 0, 0, 3)};
static const uint16_t peer_ports[4] = {40000, 40001, 80, 443};
static const uint16_t our_ports[4] = {80, 81, 443, 8080};
static const uint16_t our_udp_ports[2] = {53, 5000};

static tw_mac our_mac(void) { return tw_mac_from_id(1); }
static tw_mac peer_mac(unsigned p) { return tw_mac_from_id(2 + p); }

enum {
    OP_ADVANCE,
    OP_TO_DEADLINE,
    OP_SEGMENT,
    OP_RAW,
    OP_REWRITE,
    OP_ARP,
    OP_LISTEN,
    OP_UNLISTEN,
    OP_CONNECT,
    OP_SEND,
    OP_CONSUME,
    OP_CLOSE,
    OP_ABORT,
    OP_OPTION,
    OP_PING,
    OP_IFACE,
    OP_UDP,
    OP_ICMP,
    OP_COUNT
};

/* What the peer side knows of one 4-tuple. */
typedef struct flow {
    unsigned peer;
    uint16_t rport; /* the peer's */
    uint16_t lport; /* ours */
    uint32_t peer_iss;
    uint32_t peer_nxt; /* one past the highest sequence number the peer sent */
    uint32_t peer_ts;
    bool seen;         /* we have sent on this flow */
    bool iss_known;    /* our_iss is from our SYN, not a guess */
    /* The peer's sequence numbers stayed within 64 KiB of its stream (no
     * raw 32-bit values), so "the highest it sent" is well defined. */
    bool tame;
    uint32_t our_iss;
    uint32_t our_nxt;  /* one past the highest sequence number we sent */
    uint32_t our_ack;  /* the last acknowledgment we sent */
    uint32_t our_ts;   /* our last TSval */
} flow;

typedef struct conn {
    tw_tcp_conn h;
    uint64_t sent; /* bytes the application handed to tw_tcp_send */
    bool check_data;   /* read_seq is known */
    uint32_t read_seq; /* the sequence number of the next byte to read */
} conn;

typedef struct harness {
    tw_stack *s;
    tw_tcp *tcp;
    tw_ns now;
    uint16_t mtu;
    flow flows[FLOWS_MAX];
    unsigned nflows;
    conn conns[CONNS_MAX];
    unsigned nconns;
    bool raw_seen; /* raw bytes were injected: delivered data is theirs */
    bool evicted;  /* the flow table overflowed: flow records are partial */
    uint16_t ip_ident;
    int32_t udp_ep[2]; /* endpoints bound to our_udp_ports, or -1 */
    /* The start of the last datagram we sent, for ICMP errors to quote. */
    uint8_t last_ip[128];
    size_t last_ip_len;
    uint8_t frame[FRAME_MAX];
} harness;

static harness H;

/* The byte the peer sends at sequence number seq. */
static uint8_t pattern(uint32_t seq)
{
    return (uint8_t)(seq ^ seq >> 8 ^ seq >> 16 ^ seq >> 24 ^ 0x5a);
}

/* The byte the application sends at stream offset k (period 256), so any
 * segment the stack sends can be checked against where it says it is. */
static uint8_t app_byte(uint32_t k)
{
    return (uint8_t)(k * 31 + 7);
}

#define SEND_MAX 16384
static uint8_t send_data[SEND_MAX + 256];

/* ---- flows and connections ----------------------------------------------- */

static flow *flow_find(unsigned peer, uint16_t rport, uint16_t lport)
{
    for (unsigned i = 0; i < H.nflows; i++) {
        flow *f = &H.flows[i];
        if (f->peer == peer && f->rport == rport && f->lport == lport) {
            return f;
        }
    }
    return NULL;
}

static flow *flow_get(unsigned peer, uint16_t rport, uint16_t lport)
{
    flow *f = flow_find(peer, rport, lport);
    if (f != NULL) {
        return f;
    }
    /* A full table forgets one flow: bounded, and still deterministic. */
    unsigned i = H.nflows < FLOWS_MAX ? H.nflows++ : (peer + rport + lport) % FLOWS_MAX;
    f = &H.flows[i];
    /* Near the wrap for the first flow: sequence arithmetic mod 2^32. The
     * flows' ISSs lie 16 MiB apart, and relative choices (including "what
     * we acknowledged", which starts at the ISS) stay near them, so every
     * tame sequence number is within 2^31 of every other and "the highest
     * the peer sent" is well defined. */
    uint32_t iss = 0xffffff00u - 0x01000000u * i;
    *f = (flow){.peer = peer, .rport = rport, .lport = lport, .peer_iss = iss,
                .peer_nxt = iss, .our_ack = iss, .peer_ts = 1000 + 77 * i, .tame = true};
    if (H.nflows == FLOWS_MAX) {
        H.evicted = true; /* a record was forgotten: the stack knows more */
    }
    return f;
}

/* Where the readable bytes start, once the peer's SYN is known: RCV.NXT
 * less what is queued, less the peer's FIN when it has arrived. Called
 * before the application consumes anything. */
static void conn_learn_start(conn *c)
{
    tw_tcp_conn_info info;
    if (c->check_data || tw_tcp_conn_get_info(H.tcp, c->h, &info) < 0 ||
        info.state < TW_TCP_ESTABLISHED) {
        return;
    }
    bool fin_in = info.state == TW_TCP_CLOSE_WAIT || info.state == TW_TCP_CLOSING ||
                  info.state == TW_TCP_LAST_ACK || info.state == TW_TCP_TIME_WAIT;
    c->read_seq = info.rcv_nxt - info.rcv_queued - (fin_in ? 1u : 0u);
    c->check_data = true;
}

static void conn_add(tw_tcp_conn h)
{
    for (unsigned i = 0; i < H.nconns; i++) {
        if (H.conns[i].h == h) {
            conn_learn_start(&H.conns[i]);
            return;
        }
    }
    FUZZ_CHECK(H.nconns < CONNS_MAX, "more live handles than TCBs");
    conn *c = &H.conns[H.nconns++];
    *c = (conn){.h = h};
    conn_learn_start(c);
}

static void conn_remove(tw_tcp_conn h)
{
    for (unsigned i = 0; i < H.nconns; i++) {
        if (H.conns[i].h == h) {
            H.conns[i] = H.conns[--H.nconns];
            return;
        }
    }
}

static conn *conn_pick(uint8_t b)
{
    return H.nconns == 0 ? NULL : &H.conns[b % H.nconns];
}

/* ---- draining outputs and checking ----------------------------------------- */

/* A TCP segment we sent: parse it (it must parse) and teach the flow. */
static void learn_segment(const tw_ipv4_repr *ip)
{
    tw_tcp_repr r;
    int err = tw_tcp_parse(ip->payload, ip->payload_len, ip->src, ip->dst, &r);
    FUZZ_CHECK(err == 0, "the stack sent a TCP segment that does not parse: %d", err);
    FUZZ_CHECK(ip->src == OUR_ADDR, "sent from %08x", ip->src);
    unsigned peer = ip->dst == peer_addr[0] ? 0 : 1;
    FUZZ_CHECK(ip->dst == peer_addr[peer], "sent to %08x", ip->dst);
    flow *f = flow_get(peer, r.dst_port, r.src_port);
    bool model = !H.raw_seen && !H.evicted && f->tame;
    /* RFC 9293 §3.4: an acknowledgment covers only what the peer sent.
     * peer_nxt is the end of the highest segment it sent on this 4-tuple,
     * FIN included. */
    if (model && (r.flags & TW_TCP_ACK)) {
        FUZZ_CHECK((int32_t)(r.ack - f->peer_nxt) <= 0,
                   "we acknowledge %u, the peer sent only up to %u (%s)", r.ack, f->peer_nxt,
                   (r.flags & TW_TCP_RST) ? "RST" : "segment");
    }
    if (r.flags & TW_TCP_RST) {
        return; /* a reset for no connection carries no state of ours */
    }
    if (r.flags & TW_TCP_SYN) {
        f->our_iss = r.seq;
        f->our_nxt = r.seq;
        f->seen = true;
        f->iss_known = true;
    }
    /* Every payload byte is the application's byte at that stream offset:
     * retransmissions, probes and segments built in place in the send ring
     * included. */
    if (f->iss_known && !H.evicted) {
        uint32_t first = r.seq + ((r.flags & TW_TCP_SYN) ? 1u : 0u) - f->our_iss - 1;
        for (size_t i = 0; i < r.payload_len; i++) {
            FUZZ_CHECK(r.payload[i] == app_byte(first + (uint32_t)i),
                       "sent byte %zu of a segment at seq %u is %02x, the application wrote %02x",
                       i, r.seq, r.payload[i], app_byte(first + (uint32_t)i));
        }
    }
    uint32_t end = r.seq + tw_tcp_seg_len(&r);
    if (!f->seen || (int32_t)(end - f->our_nxt) > 0) {
        f->our_nxt = end;
    }
    if (!f->seen) {
        f->our_iss = r.seq - 1;
        f->seen = true;
    }
    if (r.flags & TW_TCP_ACK) {
        f->our_ack = r.ack;
    }
    if (r.opts.has_timestamp) {
        f->our_ts = r.opts.ts_val;
    }
}

static void check_frame(const tw_frame_out *fo)
{
    FUZZ_CHECK(fo->iface == 0, "sent on interface %u", fo->iface);
    FUZZ_CHECK(fo->len <= TW_ETH_HEADER_LEN + (uint32_t)H.mtu, "frame of %u bytes", fo->len);
    tw_eth_repr eth;
    int err = tw_eth_parse(fo->data, fo->len, &eth);
    FUZZ_CHECK(err == 0, "sent frame does not parse: %d", err);
    FUZZ_CHECK(tw_mac_equal(eth.src, our_mac()), "sent from another MAC");
    if (eth.ethertype == TW_ETHERTYPE_ARP) {
        tw_arp_repr arp;
        FUZZ_CHECK(tw_arp_parse(eth.payload, eth.payload_len, &arp) == 0, "sent ARP");
        return;
    }
    FUZZ_CHECK(eth.ethertype == TW_ETHERTYPE_IPV4, "sent ethertype %04x", eth.ethertype);
    tw_ipv4_repr ip;
    err = tw_ipv4_parse(eth.payload, eth.payload_len, &ip);
    FUZZ_CHECK(err == 0, "sent IPv4 does not parse: %d", err);
    H.last_ip_len = eth.payload_len < sizeof H.last_ip ? eth.payload_len : sizeof H.last_ip;
    memcpy(H.last_ip, eth.payload, H.last_ip_len);
    if (ip.more_frags || ip.frag_offset != 0) {
        return;
    }
    if (ip.protocol == TW_IP_PROTO_TCP) {
        learn_segment(&ip);
    } else if (ip.protocol == TW_IP_PROTO_ICMP) {
        tw_icmp_repr icmp;
        err = tw_icmp_parse(ip.payload, ip.payload_len, &icmp);
        FUZZ_CHECK(err == 0, "sent ICMP does not parse: %d", err);
    } else if (ip.protocol == TW_IP_PROTO_UDP) {
        tw_udp_repr udp;
        err = tw_udp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, &udp);
        FUZZ_CHECK(err == 0, "sent UDP does not parse: %d", err);
    }
}

/* The readable slice of c equals what the peer sent there. */
static void check_readable(conn *c)
{
    const uint8_t *data;
    size_t len;
    if (tw_tcp_recv_slice(H.tcp, c->h, &data, &len) < 0 || !c->check_data || H.raw_seen) {
        return;
    }
    for (size_t i = 0; i < len; i++) {
        FUZZ_CHECK(data[i] == pattern(c->read_seq + (uint32_t)i),
                   "delivered byte %zu (seq %u) is %02x, the peer sent %02x", i,
                   c->read_seq + (uint32_t)i, data[i], pattern(c->read_seq + (uint32_t)i));
    }
}

static void on_tcp_event(const tw_tcp_event *ev)
{
    switch (ev->kind) {
    case TW_TCP_EV_ACCEPTED:
    case TW_TCP_EV_CONNECTED:
        conn_add(ev->conn);
        break;
    case TW_TCP_EV_DATA:
        FUZZ_CHECK(ev->len > 0 && ev->data != NULL, "an empty DATA event");
        for (unsigned i = 0; i < H.nconns; i++) {
            if (H.conns[i].h == ev->conn) {
                check_readable(&H.conns[i]);
            }
        }
        break;
    case TW_TCP_EV_CLOSED:
    case TW_TCP_EV_RESET:
    case TW_TCP_EV_TIMED_OUT:
        conn_remove(ev->conn);
        FUZZ_CHECK(tw_tcp_conn_get_info(H.tcp, ev->conn, &(tw_tcp_conn_info){0}) < 0,
                   "a handle outlives its terminal event");
        break;
    default:
        FUZZ_CHECK(ev->kind < TW_TCP_EV_COUNT, "event kind %d", (int)ev->kind);
        break;
    }
}

static void check_counters(void)
{
    const tw_iface_counters *c = tw_stack_iface_counters(H.s, 0);
    FUZZ_CHECK(c->rx_frames == c->rx_delivered + c->rx_forwarded + c->rx_held + c->rx_dropped,
               "frames in %llu != delivered + forwarded + held + dropped",
               (unsigned long long)c->rx_frames);
    FUZZ_CHECK(tw_drop_total(c) >= c->rx_dropped, "drops by reason below frames dropped");
    char why[256];
    int err = tw_tcp_check(H.tcp, why, sizeof why);
    FUZZ_CHECK(err == 0, "TCP invariant: %s", why);
}

static void drain(void)
{
    /* Bounded: every pop removes one item from a bounded queue, and a
     * fixed point is reached once nothing new is produced. */
    for (int round = 0; round < 64; round++) {
        bool any = false;
        tw_frame_out fo;
        while (tw_stack_pop_frame(H.s, H.now, &fo)) {
            check_frame(&fo);
            any = true;
        }
        tw_net_event nev;
        while (tw_stack_pop_event(H.s, H.now, &nev)) {
            FUZZ_CHECK(nev.kind >= TW_NET_EV_UDP_DATAGRAM && nev.kind <= TW_NET_EV_ECHO_ERROR,
                       "stack event kind %d", (int)nev.kind);
            FUZZ_CHECK(nev.payload_len <= TW_UDP_PAYLOAD_LEN_MAX, "event payload %zu",
                       nev.payload_len);
            any = true;
        }
        tw_tcp_event ev;
        while (tw_tcp_pop_event(H.tcp, H.now, &ev)) {
            on_tcp_event(&ev);
            any = true;
        }
        if (!any) {
            break;
        }
    }
    check_counters();
}

/* ---- building what the peer sends ------------------------------------------ */

/* Wraps an IPv4 payload in IPv4 and Ethernet from peer to us and injects
 * it, whole or as two fragments in either order. */
static void inject_ip(unsigned peer, uint8_t protocol, const uint8_t *payload, size_t len,
                      uint8_t frag)
{
    static uint8_t buf[TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN + FRAME_MAX];
    FUZZ_CHECK(len <= FRAME_MAX, "harness: a datagram of %zu bytes", len);
    tw_ipv4_repr ip = {.src = peer_addr[peer], .dst = OUR_ADDR, .protocol = protocol,
                       .ttl = 64, .ident = ++H.ip_ident};
    tw_eth_repr eth = {.dst = our_mac(), .src = peer_mac(peer), .ethertype = TW_ETHERTYPE_IPV4};
    size_t cut = (size_t)(frag >> 1) * 8;
    if (!(frag & 1) || cut == 0 || cut >= len) {
        ip.payload_len = (uint16_t)len;
        tw_eth_emit(&eth, buf);
        tw_ipv4_emit(&ip, buf + TW_ETH_HEADER_LEN);
        memcpy(buf + TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN, payload, len);
        tw_stack_on_frame(H.s, H.now, 0, buf, TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN + len);
        return;
    }
    /* RFC 791 §3.2: fragments at 8-byte boundaries, MF on all but the last. */
    for (int k = 0; k < 2; k++) {
        bool first = (k == 0) != ((frag & 0x80) != 0);
        ip.frag_offset = first ? 0 : (uint16_t)cut;
        ip.more_frags = first;
        ip.payload_len = (uint16_t)(first ? cut : len - cut);
        tw_eth_emit(&eth, buf);
        tw_ipv4_emit(&ip, buf + TW_ETH_HEADER_LEN);
        memcpy(buf + TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN, payload + ip.frag_offset,
               ip.payload_len);
        tw_stack_on_frame(H.s, H.now, 0, buf,
                          TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN + ip.payload_len);
    }
}

static flow *pick_flow(uint8_t sel)
{
    if ((sel & 0x80) && H.nflows > 0) {
        return &H.flows[(sel & 0x7f) % H.nflows];
    }
    return flow_get(sel & 1, peer_ports[(sel >> 1) & 3], our_ports[(sel >> 3) & 3]);
}

/* seq and ack: bits 0-1 and 2-3 of mode choose what they are relative to. */
static uint32_t pick_seq(fuzz_in *in, flow *f, unsigned how)
{
    switch (how & 3) {
    case 0:
        return f->peer_iss + fin_u16(in);
    case 1:
        return f->peer_nxt + (uint32_t)(int32_t)(int16_t)fin_u16(in);
    case 2:
        f->tame = false;
        return fin_u32(in);
    default:
        return f->our_ack + (uint32_t)(int32_t)(int8_t)fin_u8(in);
    }
}

static uint32_t pick_ack(fuzz_in *in, const flow *f, unsigned how)
{
    switch (how & 3) {
    case 0:
        return f->our_iss + 1 + fin_u16(in);
    case 1:
        return f->our_nxt + (uint32_t)(int32_t)(int16_t)fin_u16(in);
    case 2:
        return fin_u32(in);
    default:
        return f->our_nxt;
    }
}

static void pick_options(fuzz_in *in, const flow *f, uint32_t ack, uint8_t mask,
                         tw_tcp_options *o)
{
    memset(o, 0, sizeof *o);
    if (mask & 1) {
        o->has_mss = true;
        o->mss = fin_u16(in);
    }
    if (mask & 2) {
        o->has_wscale = true;
        o->wscale = (uint8_t)(fin_u8(in) % (TW_TCP_WSCALE_MAX + 2));
        if (o->wscale > TW_TCP_WSCALE_MAX) {
            o->wscale = TW_TCP_WSCALE_MAX; /* emit's limit; parse clamps the same way */
        }
    }
    o->sack_permitted = (mask & 4) != 0;
    if (mask & 8) {
        o->has_timestamp = true;
        o->ts_val = f->peer_ts + fin_u8(in);
        o->ts_ecr = (mask & 0x40) ? fin_u32(in) : f->our_ts;
    }
    if (mask & 0x10) {
        unsigned n = 1 + fin_u8(in) % 3;
        for (unsigned i = 0; i < n; i++) {
            uint32_t left = ack + fin_u16(in);
            o->sack[i] = (tw_tcp_sack_block){.left = left, .right = left + 1 + fin_u16(in)};
        }
        o->sack_count = (uint8_t)n;
        while (o->sack_count > 0 &&
               tw_tcp_options_encoded_len(o) > TW_TCP_OPTIONS_LEN_MAX) {
            o->sack_count--;
        }
    }
}

static void step_segment(fuzz_in *in)
{
    static uint8_t seg[FRAME_MAX];
    flow *f = pick_flow(fin_u8(in));
    uint8_t flags = fin_u8(in);
    uint8_t mode = fin_u8(in);
    uint32_t seq = pick_seq(in, f, mode);
    uint32_t ack = pick_ack(in, f, mode >> 2);
    uint16_t window = fin_u16(in);
    uint8_t mask = fin_u8(in);
    uint8_t frag = (mode & 0x10) ? fin_u8(in) : 0;
    if (flags & TW_TCP_SYN) {
        flags &= (uint8_t)~(TW_TCP_RST | TW_TCP_FIN); /* emit refuses them; RAW sends them */
    }
    tw_tcp_repr r = {.src_port = f->rport, .dst_port = f->lport, .seq = seq, .ack = ack,
                     .flags = flags, .window = window};
    pick_options(in, f, ack, mask, &r.opts);
    if (flags & TW_TCP_URG) {
        r.urgent = fin_u16(in);
    }
    size_t room = (size_t)H.mtu - TW_IPV4_HEADER_LEN - tw_tcp_repr_header_len(&r);
    size_t len = (mode & 0x20) ? fin_u16(in) % (room + 1) : fin_u8(in) % 64;
    if (len > room) {
        len = room;
    }
    /* The payload sits where emit builds it, so nothing is copied. */
    uint8_t *payload = seg + tw_tcp_repr_header_len(&r);
    uint32_t first = seq + ((flags & TW_TCP_SYN) ? 1u : 0u);
    for (size_t i = 0; i < len; i++) {
        payload[i] = pattern(first + (uint32_t)i);
    }
    r.payload = payload;
    r.payload_len = len;
    tw_tcp_emit(&r, peer_addr[f->peer], OUR_ADDR, seg);
    size_t seg_len = tw_tcp_repr_len(&r);
    if (mask & 0x20) {
        seg[16] ^= (uint8_t)(1u << (fin_u8(in) & 7)); /* a corrupted checksum */
    }
    uint32_t end = seq + tw_tcp_seg_len(&r);
    if ((int32_t)(end - f->peer_nxt) > 0) {
        f->peer_nxt = end;
    }
    if (r.opts.has_timestamp) {
        f->peer_ts = r.opts.ts_val;
    }
    inject_ip(f->peer, TW_IP_PROTO_TCP, seg, seg_len, frag);
}

/* Raw bytes as a frame; with OP_REWRITE, addressed to us from peer 0 with
 * every checksum made right first, so captured frames from other hosts
 * (the seeds) reach the transport layer. */
static void step_raw(fuzz_in *in, bool rewrite)
{
    size_t want = fin_u16(in) % (FRAME_MAX + 1);
    size_t len;
    const uint8_t *p = fin_bytes(in, want, &len);
    memcpy(H.frame, p, len);
    H.raw_seen = true;
    if (rewrite && len >= TW_ETH_HEADER_LEN) {
        tw_mac_store(H.frame, our_mac());
        tw_mac_store(H.frame + 6, peer_mac(0));
        uint8_t *ip = H.frame + TW_ETH_HEADER_LEN;
        size_t iplen = len - TW_ETH_HEADER_LEN;
        if (tw_bytes_load_be16(H.frame + 12) == TW_ETHERTYPE_IPV4 &&
            tw_ipv4_view_check(ip, iplen) == 0) {
            size_t hl = tw_ipv4_header_len(ip);
            tw_ipv4_addr_store(ip + 12, peer_addr[0]);
            tw_ipv4_addr_store(ip + 16, OUR_ADDR);
            tw_bytes_store_be16(ip + 10, 0);
            tw_bytes_store_be16(ip + 10, tw_csum(ip, hl));
            size_t l4len = tw_ipv4_total_len(ip) - hl;
            uint8_t *l4 = ip + hl;
            bool whole = !(tw_bytes_load_be16(ip + 6) & (TW_IPV4_FLAG_MF | 0x1fff));
            if (whole && tw_ipv4_protocol(ip) == TW_IP_PROTO_TCP && l4len >= 20) {
                tw_bytes_store_be16(l4 + 16, 0);
                uint32_t ps = tw_csum_pseudo_ipv4(peer_addr[0], OUR_ADDR, TW_IP_PROTO_TCP,
                                                  (uint16_t)l4len);
                tw_bytes_store_be16(l4 + 16, tw_csum_finish(tw_csum_add(ps, l4, l4len)));
            }
        }
    }
    tw_stack_on_frame(H.s, H.now, 0, H.frame, len);
}

static void step_arp(fuzz_in *in)
{
    uint8_t b = fin_u8(in);
    unsigned peer = b & 1;
    tw_arp_repr arp = {.op = (b & 2) ? TW_ARP_OP_REPLY : TW_ARP_OP_REQUEST,
                       .sha = (b & 4) ? tw_mac_from_id(fin_u16(in) + 100u) : peer_mac(peer),
                       .spa = (b & 8) ? fin_u32(in) : peer_addr[peer],
                       .tha = (b & 2) ? our_mac() : TW_MAC_ZERO,
                       .tpa = (b & 16) ? peer_addr[peer] : OUR_ADDR};
    tw_eth_repr eth = {.dst = (b & 32) ? TW_MAC_BROADCAST : our_mac(), .src = arp.sha,
                       .ethertype = TW_ETHERTYPE_ARP};
    uint8_t buf[TW_ETH_HEADER_LEN + TW_ARP_LEN];
    tw_eth_emit(&eth, buf);
    tw_arp_emit(&arp, buf + TW_ETH_HEADER_LEN);
    tw_stack_on_frame(H.s, H.now, 0, buf, sizeof buf);
}

/* UDP: our endpoint sends, or a peer's datagram arrives (to a bound port,
 * or to any port: port unreachable), maybe fragmented. */
static void step_udp(fuzz_in *in)
{
    static uint8_t buf[FRAME_MAX];
    uint8_t a = fin_u8(in);
    unsigned slot = (a >> 1) & 1;
    unsigned peer = (a >> 2) & 1;
    uint16_t rport = peer_ports[(a >> 3) & 3];
    size_t len = fin_u16(in) % (2u * H.mtu);
    if (a & 1) {
        if (H.udp_ep[slot] < 0) {
            H.udp_ep[slot] = tw_stack_udp_bind(H.s, 0, our_udp_ports[slot]);
        }
        if (H.udp_ep[slot] >= 0) {
            (void)tw_stack_udp_send(H.s, H.now, (uint32_t)H.udp_ep[slot], peer_addr[peer], rport,
                                    send_data, len);
        }
        return;
    }
    if (len > FRAME_MAX - TW_UDP_HEADER_LEN) {
        len = FRAME_MAX - TW_UDP_HEADER_LEN;
    }
    uint16_t lport = (a & 0x40) ? (uint16_t)(1 + fin_u16(in) % 65535) : our_udp_ports[slot];
    tw_udp_repr u = {.src_port = rport, .dst_port = lport, .payload = send_data,
                     .payload_len = len};
    tw_udp_emit(&u, peer_addr[peer], OUR_ADDR, buf);
    inject_ip(peer, TW_IP_PROTO_UDP, buf, tw_udp_repr_len(&u), (a & 0x80) ? fin_u8(in) : 0);
}

/* ICMP to us: an echo request, or an error quoting the last datagram we
 * sent (destination unreachable with any code, fragmentation needed with
 * a next-hop MTU, time exceeded). */
static void step_icmp(fuzz_in *in)
{
    static uint8_t buf[FRAME_MAX];
    uint8_t a = fin_u8(in);
    unsigned peer = a & 1;
    tw_icmp_repr r = {0};
    if ((a & 6) == 0 || H.last_ip_len < TW_ICMP_QUOTE_MIN) {
        r.type = TW_ICMP_ECHO_REQUEST;
        r.echo_id = fin_u16(in);
        r.echo_seq = fin_u16(in);
        r.data = send_data;
        r.data_len = fin_u8(in);
    } else {
        r.type = (a & 4) ? TW_ICMP_DEST_UNREACH : TW_ICMP_TIME_EXCEEDED;
        r.code = (uint8_t)((a >> 3) % ((a & 4) ? TW_ICMP_UNREACH_CODE_MAX + 1 : 2));
        if (r.type == TW_ICMP_DEST_UNREACH && r.code == TW_ICMP_UNREACH_FRAG_NEEDED) {
            r.next_hop_mtu = fin_u16(in);
        }
        size_t keep = TW_ICMP_QUOTE_MIN + fin_u8(in) % (H.last_ip_len - TW_ICMP_QUOTE_MIN + 1);
        r.data = H.last_ip;
        r.data_len = keep;
    }
    tw_icmp_emit(&r, buf);
    inject_ip(peer, TW_IP_PROTO_ICMP, buf, tw_icmp_repr_len(&r), 0);
}

/* ---- time and the application ------------------------------------------------ */

static void advance_to(tw_ns t)
{
    if (t > H.now) {
        H.now = t;
    }
    tw_stack_on_tick(H.s, H.now);
}

static void step_app(fuzz_in *in, unsigned op)
{
    uint8_t a = fin_u8(in);
    conn *c = conn_pick(a >> 2);
    switch (op) {
    case OP_LISTEN:
        (void)tw_tcp_listen(H.tcp, (a & 2) ? OUR_ADDR : TW_IPV4_ADDR_ANY, our_ports[a & 3],
                            1 + (a >> 4));
        break;
    case OP_UNLISTEN:
        (void)tw_tcp_unlisten(H.tcp, (a & 2) ? OUR_ADDR : TW_IPV4_ADDR_ANY, our_ports[a & 3]);
        break;
    case OP_CONNECT: {
        tw_tcp_conn h = tw_tcp_connect(H.tcp, H.now, OUR_ADDR, peer_addr[a & 1],
                                       peer_ports[(a >> 1) & 3]);
        if (h >= 0) {
            conn_add(h);
        }
        break;
    }
    case OP_SEND:
        if (c != NULL) {
            size_t n = (size_t)fin_u16(in) % SEND_MAX;
            int64_t sent = tw_tcp_send(H.tcp, H.now, c->h, send_data + c->sent % 256, n);
            FUZZ_CHECK(sent < 0 || (size_t)sent <= n, "sent %lld of %zu", (long long)sent, n);
            if (sent > 0) {
                c->sent += (uint64_t)sent;
            }
        }
        break;
    case OP_CONSUME:
        if (c != NULL) {
            const uint8_t *data;
            size_t len;
            if (tw_tcp_recv_slice(H.tcp, c->h, &data, &len) == 0 && len > 0) {
                check_readable(c);
                size_t n = (a & 1) ? len : 1 + fin_u16(in) % len;
                FUZZ_CHECK(tw_tcp_consume(H.tcp, H.now, c->h, n) == 0, "consume %zu", n);
                c->read_seq += (uint32_t)n;
            }
        }
        break;
    case OP_CLOSE:
        if (c != NULL) {
            (void)tw_tcp_close(H.tcp, H.now, c->h);
        }
        break;
    case OP_ABORT:
        if (c != NULL) {
            tw_tcp_conn h = c->h;
            (void)tw_tcp_abort(H.tcp, H.now, h);
            conn_remove(h);
            FUZZ_CHECK(tw_tcp_conn_get_info(H.tcp, h, &(tw_tcp_conn_info){0}) < 0,
                       "a handle outlives abort");
        }
        break;
    case OP_OPTION:
        if (c != NULL) {
            if (a & 1) {
                (void)tw_tcp_set_nodelay(H.tcp, c->h, (a & 2) != 0);
            } else {
                (void)tw_tcp_set_keepalive(H.tcp, H.now, c->h, (a & 2) != 0, TW_SEC(1 + (a & 1)),
                                           TW_MS(500), 2);
            }
        }
        break;
    default:
        break;
    }
}

static void step(fuzz_in *in)
{
    unsigned op = fin_u8(in) % OP_COUNT;
    switch (op) {
    case OP_ADVANCE: {
        uint16_t v = fin_u16(in);
        unsigned shift = fin_u8(in) % 36;
        tw_ns dt = (tw_ns)v << shift;
        advance_to(H.now + (dt < ADVANCE_MAX ? dt : ADVANCE_MAX));
        break;
    }
    case OP_TO_DEADLINE: {
        tw_ns d = tw_stack_next_deadline(H.s);
        if (d != TW_NS_NEVER && d > H.now + ADVANCE_MAX) {
            d = H.now + ADVANCE_MAX;
        }
        advance_to(d == TW_NS_NEVER ? H.now : d);
        break;
    }
    case OP_SEGMENT:
        step_segment(in);
        break;
    case OP_RAW:
    case OP_REWRITE:
        step_raw(in, op == OP_REWRITE);
        break;
    case OP_ARP:
        step_arp(in);
        break;
    case OP_PING: {
        uint8_t b = fin_u8(in);
        (void)tw_stack_ping(H.s, H.now, peer_addr[b & 1], 7, b, send_data, b);
        break;
    }
    case OP_UDP:
        step_udp(in);
        break;
    case OP_ICMP:
        step_icmp(in);
        break;
    case OP_IFACE:
        if (fin_u8(in) & 1) {
            (void)tw_stack_iface_up(H.s, H.now, 0);
        } else {
            (void)tw_stack_iface_down(H.s, H.now, 0);
        }
        break;
    default:
        step_app(in, op);
        break;
    }
    drain();
}

/* ---- setup ------------------------------------------------------------------ */

static void setup(uint8_t cfg_byte)
{
    static const uint32_t bufs[4] = {2048, 4096, 16384, 65535};
    tw_stack_config sc;
    tw_stack_config_default(&sc);
    H.mtu = (cfg_byte & 0x40) ? 576 : 1500;
    sc.mtu_max = H.mtu;
    sc.ifaces_max = 1;
    sc.routes_max = 4;
    sc.frame_buffers = 128;
    sc.tx_queue_len = 64;
    sc.event_queue_len = 32;
    sc.arp.entries_max = 8;
    sc.arp.pending_total = 16;
    sc.arp.pending_per_entry = 8;
    sc.reasm.slots = 2;
    sc.reasm.datagram_len_max = FRAME_MAX;
    sc.reasm.fragments_max = 8;
    sc.udp.endpoints_max = 2;
    sc.udp.queue_len = 4;
    sc.tcp_enabled = true;
    tw_tcp_config_default(&sc.tcp);
    sc.tcp.seed = 1;
    sc.tcp.conns_max = CONNS_MAX;
    sc.tcp.listeners_max = 4;
    sc.tcp.syn_backlog = 4;
    sc.tcp.ctl_queue_max = 4;
    sc.tcp.timestamps = (cfg_byte & 1) != 0;
    sc.tcp.window_scaling = (cfg_byte & 2) != 0;
    sc.tcp.snd_buf_bytes = bufs[(cfg_byte >> 2) & 3];
    sc.tcp.rcv_buf_bytes = bufs[(cfg_byte >> 4) & 3];
    sc.tcp.keepalive = (cfg_byte & 0x80) != 0;
    sc.tcp.keepalive_idle_ns = TW_SEC(5);
    sc.tcp.keepalive_intvl_ns = TW_SEC(1);
    sc.tcp.keepalive_probes = 2;
    sc.tcp.syn_retries = 3;
    sc.tcp.synack_retries = 2;
    sc.tcp.rto_retries = 4;
    sc.tcp.msl_ns = TW_SEC(2);
    sc.tcp.ephemeral_lo = 40000;
    sc.tcp.ephemeral_hi = 40007;
    memset(&H, 0, sizeof H);
    H.now = T0;
    H.mtu = sc.mtu_max;
    H.udp_ep[0] = H.udp_ep[1] = -1;
    H.s = tw_stack_create(&sc, H.now);
    H.tcp = tw_stack_tcp(H.s);
    tw_iface_config ic = {.mac = our_mac(), .addr = OUR_ADDR, .prefix_len = 24, .mtu = H.mtu};
    FUZZ_CHECK(tw_stack_iface_add(H.s, &ic) == 0, "iface");
    FUZZ_CHECK(tw_stack_arp_add(H.s, H.now, 0, peer_addr[0], peer_mac(0)) == 0, "arp");
    FUZZ_CHECK(tw_stack_iface_up(H.s, H.now, 0) == 0, "up");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    if (send_data[1] == 0) {
        for (size_t i = 0; i < sizeof send_data; i++) {
            send_data[i] = app_byte((uint32_t)i);
        }
    }
    fuzz_in in = {.p = data + 1, .n = size - 1};
    setup(data[0]);
    drain();
    tw_mem_seal();
    for (int i = 0; i < STEPS_MAX && in.n > 0; i++) {
        step(&in);
    }
    /* Let every timer run out: retransmissions give up, TIME-WAIT ends. */
    for (int i = 0; i < 64 && tw_stack_next_deadline(H.s) != TW_NS_NEVER; i++) {
        advance_to(tw_stack_next_deadline(H.s));
        drain();
    }
    tw_mem_unseal();
    if (getenv("FUZZ_STACK_TRACE") != NULL) {
        /* What the input reached, for judging seeds (docs/fuzzing.md). */
        const tw_tcp_stats *st = tw_tcp_get_stats(H.tcp);
        fprintf(stderr, "fuzz_stack: established %llu, bytes in %llu out %llu, segs in %llu "
                "out %llu, drops %llu, retransmits %llu\n",
                (unsigned long long)st->established, (unsigned long long)st->bytes_in,
                (unsigned long long)st->bytes_out, (unsigned long long)st->segs_in,
                (unsigned long long)st->segs_out, (unsigned long long)st->drops_total,
                (unsigned long long)st->retransmits);
        for (unsigned d = 0; d < TW_TCP_DROP_COUNT; d++) {
            if (st->drops[d] != 0) {
                fprintf(stderr, "  drop %s: %llu\n", tw_tcp_drop_name((tw_tcp_drop)d),
                        (unsigned long long)st->drops[d]);
            }
        }
    }
    tw_stack_destroy(H.s);
    return 0;
}
