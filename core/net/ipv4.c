/* IMPLEMENTATION NOTES
 *
 * Input checks run in the order of RFC 1122 §3.2.1 and RFC 1812 §5.2.2
 * (lengths, version, checksum, then addresses), each failure its own drop
 * reason, rather than through tw_ipv4_parse, whose error codes are coarser
 * than the counters want.
 *
 * Output builds each frame in its own buffer: the Ethernet header is left
 * for ARP to fill, the IPv4 header is emitted, and the transport bytes are
 * copied from the caller's two pieces, so fragmentation is the same loop
 * as sending one frame. Buffers for every fragment are checked for up
 * front, so a datagram is either sent whole or not at all for want of
 * buffers (queues further on can still drop single frames, counted).
 *
 * Forwarding copies the datagram verbatim and patches the TTL and the
 * checksum in place (RFC 1624). NOTE: a forwarded datagram that must be
 * fragmented is re-emitted with a 20-byte header, so its IP options are
 * not carried (RFC 791 §3.1 would copy those with the copy flag into every
 * fragment); nothing in twin sends options. */
#include "net/ipv4.h"

#include <string.h>

#include "base/error.h"
#include "net/arp.h"
#include "net/icmp.h"
#include "net/internal.h"
#include "net/reasm.h"
#include "net/udp.h"
#include "wire/checksum.h"
#include "wire/icmp.h"

int tw_ipv4_dgram_of(const uint8_t *pkt, size_t len, uint32_t iface, tw_net_dgram *out)
{
    if (len < TW_IPV4_HEADER_LEN) {
        return -TW_EMALFORMED;
    }
    size_t header_len = tw_ipv4_header_len(pkt);
    size_t total_len = tw_ipv4_total_len(pkt);
    if (header_len < TW_IPV4_HEADER_LEN || total_len < header_len || total_len > len) {
        return -TW_EMALFORMED;
    }
    out->header = pkt;
    out->header_len = (uint16_t)header_len;
    out->payload = pkt + header_len;
    out->payload_len = (uint16_t)(total_len - header_len);
    out->src = tw_ipv4_src(pkt);
    out->dst = tw_ipv4_dst(pkt);
    out->protocol = tw_ipv4_protocol(pkt);
    out->ttl = tw_ipv4_ttl(pkt);
    out->ident = tw_ipv4_ident(pkt);
    out->frag_offset = (uint16_t)tw_ipv4_frag_offset(pkt);
    out->more_frags = tw_ipv4_more_frags(pkt);
    out->dont_frag = tw_ipv4_dont_frag(pkt);
    out->broadcast = false;
    out->link_broadcast = false;
    out->iface = iface;
    out->ref = TW_NET_REF_NONE;
    return 0;
}

/* RFC 1122 §3.2.1 and RFC 791 §3.1: the header checks, in order. Returns
 * TW_DROP_COUNT when the header is sound. */
static tw_drop_reason check_header(const uint8_t *pkt, size_t len)
{
    if (len < TW_IPV4_HEADER_LEN) {
        return TW_DROP_IPV4_TRUNCATED;
    }
    /* RFC 1122 §3.2.1.1: a datagram whose version is not 4 is discarded. */
    if (tw_ipv4_version(pkt) != 4) {
        return TW_DROP_IPV4_BAD_VERSION;
    }
    size_t header_len = tw_ipv4_header_len(pkt);
    if (header_len < TW_IPV4_HEADER_LEN) {
        return TW_DROP_IPV4_BAD_HEADER_LEN; /* RFC 791 §3.1: IHL >= 5 */
    }
    if (header_len > len) {
        return TW_DROP_IPV4_TRUNCATED;
    }
    /* RFC 1122 §3.2.1.2: a host MUST verify the header checksum. */
    if (!tw_csum_ok(tw_csum_add(0, pkt, header_len))) {
        return TW_DROP_IPV4_BAD_CHECKSUM;
    }
    size_t total_len = tw_ipv4_total_len(pkt);
    if (total_len < header_len) {
        return TW_DROP_IPV4_BAD_TOTAL_LEN;
    }
    if (total_len > len) {
        return TW_DROP_IPV4_TRUNCATED;
    }
    if (tw_bytes_load_be16(pkt + 6) & TW_IPV4_FLAG_RESERVED) {
        return TW_DROP_IPV4_BAD_FLAGS; /* RFC 791 §3.1: must be zero */
    }
    if (tw_ipv4_frag_offset(pkt) + (total_len - header_len) > TW_IPV4_TOTAL_LEN_MAX) {
        return TW_DROP_IPV4_BAD_FRAGMENT;
    }
    return TW_DROP_COUNT;
}

/* RFC 1122 §3.2.1.3 and RFC 1812 §5.3.7: a source must name one host;
 * our own address arriving from the wire is a loop or a forgery. */
static bool src_acceptable(const tw_stack *s, tw_ipv4_addr src)
{
    if (tw_ipv4_addr_is_broadcast(src) || tw_ipv4_addr_is_multicast(src) ||
        tw_ipv4_addr_is_loopback(src)) {
        return false;
    }
    return !tw_net_is_local(s, src) && !tw_net_is_bcast(s, src);
}

static void forward(tw_stack *s, tw_ns now, const tw_net_dgram *d);

void tw_ipv4_input(tw_stack *s, tw_ns now, uint32_t iface, const uint8_t *pkt, size_t len,
                   bool link_broadcast)
{
    tw_drop_reason bad = check_header(pkt, len);
    if (bad != TW_DROP_COUNT) {
        tw_net_rx_drop(s, bad);
        return;
    }
    tw_net_dgram d;
    int err = tw_ipv4_dgram_of(pkt, len, iface, &d);
    TW_ASSERT(err == 0);
    d.link_broadcast = link_broadcast;
    if (!src_acceptable(s, d.src)) {
        tw_net_rx_drop(s, TW_DROP_IPV4_BAD_SRC);
        return;
    }
    bool local = tw_net_is_local(s, d.dst);
    d.broadcast = !local && tw_net_is_bcast(s, d.dst);
    bool for_us = local || d.broadcast;
    if (!for_us) {
        if (tw_ipv4_addr_is_multicast(d.dst)) {
            tw_net_rx_drop(s, TW_DROP_IPV4_MULTICAST);
            return;
        }
        if (tw_ipv4_addr_is_unspecified(d.dst) || tw_ipv4_addr_is_loopback(d.dst)) {
            tw_net_rx_drop(s, TW_DROP_IPV4_BAD_DST);
            return;
        }
    }
    /* RFC 1122 §3.3.6: a host SHOULD discard a unicast datagram that came
     * in a link-layer broadcast; RFC 1812 §5.3.4: a router MUST NOT forward
     * one. */
    if (link_broadcast && !d.broadcast) {
        tw_net_rx_drop(s, TW_DROP_IPV4_LINK_BCAST);
        return;
    }
    if (!for_us) {
        if (!s->cfg.forwarding) {
            tw_net_rx_drop(s, TW_DROP_IPV4_NOT_FOR_US);
            return;
        }
        forward(s, now, &d);
        return;
    }
    /* RFC 1122 §3.2.1.7: a host MUST NOT discard a datagram for itself
     * because its TTL is below 2, so the TTL is not checked here. */
    if (d.more_frags || d.frag_offset != 0) {
        tw_reasm_input(s, now, &d);
        return;
    }
    tw_ipv4_deliver(s, now, &d);
}

void tw_ipv4_deliver(tw_stack *s, tw_ns now, const tw_net_dgram *d)
{
    switch (d->protocol) {
    case TW_IP_PROTO_ICMP:
        tw_icmp_input(s, now, d);
        return;
    case TW_IP_PROTO_UDP:
        tw_udp_input(s, now, d);
        return;
    case TW_IP_PROTO_TCP:
        if (s->tcp) {
            /* TCP validates and counts its own drops (checksum, window,
             * no listener: RST); to the IP layer the datagram is
             * delivered. Broadcasts never reach TCP (RFC 1122 §4.2.3.10). */
            if (d->broadcast || d->link_broadcast) {
                tw_net_rx_drop(s, TW_DROP_IPV4_NOT_FOR_US);
                return;
            }
            tw_tcp_on_segment(s->tcp, now, d->src, d->dst, d->payload, d->payload_len);
            tw_net_rx_outcome(s, TW_RX_DELIVERED);
            return;
        }
        /* A stack without TCP reports it like any other protocol. */
        /* fall through */
    default:
        /* RFC 1122 §3.2.2.1: a host SHOULD report an unknown protocol. */
        tw_net_rx_drop(s, TW_DROP_IPV4_UNKNOWN_PROTOCOL);
        tw_icmp_send_error(s, now, d, TW_ICMP_DEST_UNREACH, TW_ICMP_UNREACH_PROTOCOL, 0);
        return;
    }
}

int tw_ipv4_route(tw_stack *s, tw_ipv4_addr dst, uint32_t *iface, tw_ipv4_addr *next_hop)
{
    if (tw_ipv4_addr_is_broadcast(dst)) {
        for (uint32_t i = 0; i < s->iface_count; i++) {
            if (s->ifaces[i].up) {
                *iface = i;
                *next_hop = dst;
                return 0;
            }
        }
        return -TW_EUNREACH;
    }
    const tw_route *r = tw_route_lookup(&s->routes, dst);
    if (r == NULL || !tw_net_iface(s, r->iface)->up) {
        return -TW_EUNREACH;
    }
    *iface = r->iface;
    *next_hop = tw_route_next_hop(r, dst);
    return 0;
}

/* The largest payload of a fragment that is not the last: what fits the
 * MTU after a 20-byte header, down to a multiple of 8 (RFC 791 §3.2). */
static uint32_t frag_payload_max(uint16_t mtu)
{
    return (uint32_t)(mtu - TW_IPV4_HEADER_LEN) & ~7u;
}

static uint32_t frames_needed(uint16_t mtu, size_t len)
{
    if (TW_IPV4_HEADER_LEN + len <= mtu) {
        return 1;
    }
    uint32_t per = frag_payload_max(mtu);
    return (uint32_t)((len + per - 1) / per);
}

/* Copies len bytes starting at offset off of head ++ body to dst. */
static void copy_pieces(uint8_t *dst, size_t off, size_t len, const uint8_t *head, size_t head_len,
                        const uint8_t *body)
{
    if (off < head_len) {
        size_t n = head_len - off < len ? head_len - off : len;
        memcpy(dst, head + off, n);
        dst += n;
        len -= n;
        off = head_len;
    }
    if (len > 0) {
        memcpy(dst, body + (off - head_len), len);
    }
}

typedef struct frag_job {
    uint32_t iface;
    tw_ipv4_addr next_hop;
    tw_ipv4_repr tmpl;    /* all but the fragment fields and payload_len */
    uint32_t base_offset; /* of the first byte, when refragmenting a fragment */
    bool last_more;       /* MF of the last piece (set when refragmenting) */
    uint32_t origin;
    const uint8_t *head;
    size_t head_len;
    const uint8_t *body;
    size_t body_len;
    bool handoff;    /* to core, not to the wire (see tw_ipv4_handoff) */
    bool link_bcast; /* handoff: it came in an Ethernet broadcast */
    uint16_t core;
} frag_job;

/* Frames a hand-off as the frame it stands for was received: to us (or
 * the broadcast address it came to), from its sender. */
static int handoff_frame(tw_stack *s, const frag_job *job, uint32_t buf)
{
    uint8_t *frame = tw_fbuf_data(&s->fbufs, buf);
    tw_mac_store(frame, job->link_bcast ? TW_MAC_BROADCAST : tw_net_iface(s, job->iface)->mac);
    tw_mac_store(frame + 6, s->rx.src);
    tw_bytes_store_be16(frame + 12, TW_ETHERTYPE_IPV4);
    s->steer_core[buf] = job->core;
    return tw_net_tx(s, buf);
}

/* Emits job's payload as one datagram, or as fragments of the interface
 * MTU (RFC 791 §3.2: offsets in 8-byte units, MF on all but the last). */
static int emit_fragments(tw_stack *s, tw_ns now, const frag_job *job)
{
    tw_iface *ifc = tw_net_iface(s, job->iface);
    size_t total = job->head_len + job->body_len;
    bool fragmented =
        job->base_offset != 0 || job->last_more || TW_IPV4_HEADER_LEN + total > ifc->mtu;
    TW_ASSERT(frames_needed(ifc->mtu, total) <= tw_fbuf_available(&s->fbufs));
    size_t off = 0;
    do {
        size_t chunk = total - off;
        bool more = job->last_more;
        if (TW_IPV4_HEADER_LEN + chunk > ifc->mtu) {
            chunk = frag_payload_max(ifc->mtu);
            more = true;
        }
        uint32_t buf = tw_fbuf_take(&s->fbufs);
        TW_ASSERT(buf != TW_FBUF_NONE); /* checked for above */
        uint8_t *pkt = tw_fbuf_data(&s->fbufs, buf) + TW_NET_L3_OFFSET;
        tw_ipv4_repr r = job->tmpl;
        r.frag_offset = (uint16_t)(job->base_offset + off);
        r.more_frags = more;
        r.payload_len = (uint16_t)chunk;
        tw_ipv4_emit(&r, pkt);
        copy_pieces(pkt + TW_IPV4_HEADER_LEN, off, chunk, job->head, job->head_len, job->body);
        tw_fbuf_meta *m = tw_fbuf_meta_of(&s->fbufs, buf);
        m->len = (uint32_t)(TW_NET_L3_OFFSET + TW_IPV4_HEADER_LEN + chunk);
        m->iface = (uint16_t)job->iface;
        m->origin = job->origin;
        if (fragmented && !job->handoff) {
            s->fragments_out++;
        }
        int err = job->handoff ? handoff_frame(s, job, buf)
                               : tw_arp_output(s, now, job->iface, job->next_hop, buf);
        if (err < 0) {
            return err; /* the rest could not be reassembled anyway */
        }
        off += chunk;
    } while (off < total);
    return 0;
}

int tw_ipv4_send(tw_stack *s, tw_ns now, const tw_ipv4_out *o)
{
    size_t len = o->head_len + o->body_len;
    if (TW_IPV4_HEADER_LEN + len > TW_IPV4_TOTAL_LEN_MAX) {
        return -TW_ETOOBIG;
    }
    uint32_t iface;
    tw_ipv4_addr next_hop;
    int err = tw_ipv4_route(s, o->dst, &iface, &next_hop);
    if (err < 0) {
        return err;
    }
    tw_iface *ifc = tw_net_iface(s, iface);
    if (o->dont_frag && TW_IPV4_HEADER_LEN + len > ifc->mtu) {
        return -TW_ETOOBIG;
    }
    if (frames_needed(ifc->mtu, len) > tw_fbuf_available(&s->fbufs)) {
        tw_net_drop(s, iface, TW_DROP_NO_BUFFER);
        return -TW_ENOMEM;
    }
    frag_job job = {
        .iface = iface,
        .next_hop = next_hop,
        .tmpl =
            {
                .src = o->src ? o->src : ifc->addr,
                .dst = o->dst,
                .protocol = o->protocol,
                .ttl = o->ttl,
                .ident = tw_net_next_ident(s),
                .dont_frag = o->dont_frag,
            },
        .origin = o->origin,
        .head = o->head,
        .head_len = o->head_len,
        .body = o->body,
        .body_len = o->body_len,
    };
    s->datagrams_out++;
    return emit_fragments(s, now, &job);
}

bool tw_ipv4_handoff(tw_stack *s, tw_ns now, const tw_net_dgram *d)
{
    if (s->cfg.rss == NULL || s->cfg.ncores <= 1) {
        return false;
    }
    size_t total = (size_t)d->header_len + d->payload_len;
    uint16_t core = tw_net_core_of(s, tw_net_flow_hash_ipv4(s->cfg.rss, d->header, total));
    if (core == s->cfg.core) {
        return false; /* the common case: the flow is ours */
    }
    const tw_iface *ifc = tw_net_iface(s, d->iface);
    if (frames_needed(ifc->mtu, d->payload_len) > tw_fbuf_available(&s->fbufs)) {
        tw_net_rx_drop(s, TW_DROP_STEER_NO_BUFFER);
        return true;
    }
    frag_job job = {
        .iface = d->iface,
        .tmpl =
            {
                .src = d->src,
                .dst = d->dst,
                .protocol = d->protocol,
                .ttl = d->ttl, /* not forwarded: still inside the host */
                .dscp = tw_ipv4_dscp(d->header),
                .ecn = tw_ipv4_ecn(d->header),
                .ident = d->ident,
                .dont_frag = d->dont_frag && TW_IPV4_HEADER_LEN + d->payload_len <= ifc->mtu,
            },
        .origin = TW_NET_ORIGIN_STEER,
        .body = d->payload,
        .body_len = d->payload_len,
        .handoff = true,
        .link_bcast = d->link_broadcast,
        .core = core,
    };
    /* Delivered to this host; the target core counts the frames again as
     * it receives them. */
    tw_net_rx_outcome(s, TW_RX_DELIVERED);
    s->handoffs++;
    emit_fragments(s, now, &job);
    return true;
}

/* RFC 1812 §5.3.1: decrement the TTL by one and patch the checksum for the
 * changed 16-bit word (TTL, protocol) per RFC 1624 eqn. 3. */
static void decrement_ttl(uint8_t *pkt)
{
    uint16_t old_word = tw_bytes_load_be16(pkt + 8);
    pkt[8]--;
    uint16_t new_word = tw_bytes_load_be16(pkt + 8);
    uint16_t check = tw_bytes_load_be16(pkt + 10);
    tw_bytes_store_be16(pkt + 10, tw_csum_update16(check, old_word, new_word));
}

static void forward_fragmented(tw_stack *s, tw_ns now, const tw_net_dgram *d, uint32_t iface,
                               tw_ipv4_addr next_hop)
{
    tw_iface *ifc = tw_net_iface(s, iface);
    if (frames_needed(ifc->mtu, d->payload_len) > tw_fbuf_available(&s->fbufs)) {
        tw_net_rx_drop(s, TW_DROP_NO_BUFFER);
        return;
    }
    /* RFC 791 §3.2: refragmenting a fragment keeps its identification and
     * adds to its offset; only the piece that ends it keeps its MF. */
    frag_job job = {
        .iface = iface,
        .next_hop = next_hop,
        .tmpl =
            {
                .src = d->src,
                .dst = d->dst,
                .protocol = d->protocol,
                .ttl = (uint8_t)(d->ttl - 1),
                .dscp = tw_ipv4_dscp(d->header),
                .ecn = tw_ipv4_ecn(d->header),
                .ident = d->ident,
            },
        .base_offset = d->frag_offset,
        .last_more = d->more_frags,
        .origin = TW_NET_ORIGIN_FORWARD,
        .body = d->payload,
        .body_len = d->payload_len,
    };
    tw_net_rx_outcome(s, TW_RX_FORWARDED);
    s->forwarded++;
    emit_fragments(s, now, &job);
}

/* RFC 1812 §5.2: checks, next hop, TTL, then the frame or fragments out. A
 * datagram handed to the output interface counts as forwarded; what goes
 * wrong after that (ARP, a full queue) is counted there. */
static void forward(tw_stack *s, tw_ns now, const tw_net_dgram *d)
{
    /* RFC 1812 §5.3.7: a router SHOULD NOT forward a datagram from 0.0.0.0. */
    if (tw_ipv4_addr_is_unspecified(d->src)) {
        tw_net_rx_drop(s, TW_DROP_IPV4_BAD_SRC);
        return;
    }
    /* RFC 1812 §5.3.1: a datagram whose TTL would reach 0 is discarded with
     * time exceeded, code 0. */
    if (d->ttl <= 1) {
        tw_net_rx_drop(s, TW_DROP_IPV4_TTL_EXCEEDED);
        tw_icmp_send_error(s, now, d, TW_ICMP_TIME_EXCEEDED, TW_ICMP_EXCEEDED_TTL, 0);
        return;
    }
    uint32_t iface;
    tw_ipv4_addr next_hop;
    if (tw_ipv4_route(s, d->dst, &iface, &next_hop) < 0) {
        /* RFC 1812 §5.2.7.1: network unreachable when no route exists. */
        tw_net_rx_drop(s, TW_DROP_IPV4_NO_ROUTE);
        tw_icmp_send_error(s, now, d, TW_ICMP_DEST_UNREACH, TW_ICMP_UNREACH_NET, 0);
        return;
    }
    tw_iface *out = tw_net_iface(s, iface);
    size_t total = (size_t)d->header_len + d->payload_len;
    if (total > out->mtu) {
        if (d->dont_frag) {
            /* RFC 1191 §4, RFC 1812 §5.2.7.1: fragmentation needed, with
             * the next hop's MTU so the sender can shrink. */
            tw_net_rx_drop(s, TW_DROP_IPV4_FRAG_NEEDED);
            tw_icmp_send_error(s, now, d, TW_ICMP_DEST_UNREACH, TW_ICMP_UNREACH_FRAG_NEEDED,
                               out->mtu);
            return;
        }
        forward_fragmented(s, now, d, iface, next_hop);
        return;
    }
    uint32_t buf = tw_fbuf_take(&s->fbufs);
    if (buf == TW_FBUF_NONE) {
        tw_net_rx_drop(s, TW_DROP_NO_BUFFER);
        return;
    }
    uint8_t *pkt = tw_fbuf_data(&s->fbufs, buf) + TW_NET_L3_OFFSET;
    memcpy(pkt, d->header, total);
    decrement_ttl(pkt);
    tw_fbuf_meta *m = tw_fbuf_meta_of(&s->fbufs, buf);
    m->len = (uint32_t)(TW_NET_L3_OFFSET + total);
    m->iface = (uint16_t)iface;
    m->origin = TW_NET_ORIGIN_FORWARD;
    tw_net_rx_outcome(s, TW_RX_FORWARDED);
    s->forwarded++;
    tw_arp_output(s, now, iface, next_hop, buf);
}
