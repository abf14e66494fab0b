/* Fuzz target: every wire parser, from a raw frame down through each
 * header to the TCP options, and the round trip parse -> emit -> parse.
 *
 * Input: one mode byte, then a frame (Ethernet II, maybe 802.1Q tagged).
 * Mode bit 0 recomputes the IPv4 header checksum and bit 1 the ICMP, UDP
 * or TCP checksum before parsing, so mutated frames reach the layers
 * beneath a checksum instead of stopping at it; with both clear the frame
 * is parsed as it came (the checksum checks themselves get fuzzed).
 *
 * Properties checked, beyond "no crash, no sanitizer report":
 *   - every header that parses emits and parses back to the same repr
 *     (for headers without hidden state, to the same bytes);
 *   - an ICMP error's quote parses as the datagram it quotes;
 *   - the option decoder, run on the raw input, round-trips through the
 *     encoder whenever the options fit a header;
 *   - tw_csum agrees with a plain RFC 1071 loop, block sums combine at any
 *     offset, and an RFC 1624 update leaves a message that verifies;
 *   - the MAC and IPv4 address text parsers round-trip through their
 *     formatters;
 *   - the RSS flow hash of any frame is computed without reading past it. */
#include <string.h>

#include "fuzz.h"
#include "net/stack.h"
#include "wire/arp.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/rss.h"
#include "wire/tcp.h"
#include "wire/udp.h"

/* Room for the largest frame the wire layer can describe. */
#define FRAME_MAX (TW_ETH_VLAN_HEADER_LEN + TW_IPV4_TOTAL_LEN_MAX)

static uint8_t frame[FRAME_MAX];
static uint8_t again[FRAME_MAX];

/* ---- round trips, header by header -------------------------------------- */

static void tcp_options_equal(const tw_tcp_options *a, const tw_tcp_options *b)
{
    FUZZ_CHECK(a->has_mss == b->has_mss && (!a->has_mss || a->mss == b->mss), "mss");
    FUZZ_CHECK(a->has_wscale == b->has_wscale && (!a->has_wscale || a->wscale == b->wscale),
               "wscale %u/%u", a->wscale, b->wscale);
    FUZZ_CHECK(a->sack_permitted == b->sack_permitted, "sack permitted");
    FUZZ_CHECK(a->has_timestamp == b->has_timestamp, "timestamps");
    FUZZ_CHECK(!a->has_timestamp || (a->ts_val == b->ts_val && a->ts_ecr == b->ts_ecr), "ts");
    FUZZ_CHECK(a->sack_count == b->sack_count, "sack count %u/%u", a->sack_count, b->sack_count);
    for (unsigned i = 0; i < a->sack_count; i++) {
        FUZZ_CHECK(a->sack[i].left == b->sack[i].left && a->sack[i].right == b->sack[i].right,
                   "sack block %u", i);
    }
}

static void tcp_round_trip(const uint8_t *seg, size_t len, tw_ipv4_addr src, tw_ipv4_addr dst)
{
    tw_tcp_repr r;
    if (tw_tcp_parse(seg, len, src, dst, &r) != 0) {
        return;
    }
    FUZZ_CHECK(r.payload >= seg && r.payload + r.payload_len == seg + len, "payload bounds");
    /* Parse accepts option sets (a SACK of 4 blocks beside window scale and
     * SACK-permitted) whose NOP-aligned encoding exceeds 40 bytes; emit
     * rightly refuses those, and the stack never echoes a peer's options. */
    if (tw_tcp_repr_header_len(&r) > TW_TCP_HEADER_LEN_MAX) {
        return;
    }
    tw_tcp_emit(&r, src, dst, again);
    size_t n = tw_tcp_repr_len(&r);
    tw_tcp_repr back;
    int err = tw_tcp_parse(again, n, src, dst, &back);
    FUZZ_CHECK(err == 0, "re-parse of an emitted segment: %d", err);
    FUZZ_CHECK(back.src_port == r.src_port && back.dst_port == r.dst_port, "ports");
    FUZZ_CHECK(back.seq == r.seq && back.ack == r.ack, "seq/ack");
    FUZZ_CHECK(back.flags == r.flags && back.window == r.window && back.urgent == r.urgent,
               "flags/window/urgent");
    tcp_options_equal(&r.opts, &back.opts);
    FUZZ_CHECK(back.payload_len == r.payload_len, "payload length");
    FUZZ_CHECK(memcmp(back.payload, r.payload, r.payload_len) == 0, "payload bytes");
}

static void udp_round_trip(const uint8_t *dgram, size_t len, tw_ipv4_addr src, tw_ipv4_addr dst)
{
    tw_udp_repr r;
    if (tw_udp_parse(dgram, len, src, dst, &r) != 0) {
        return;
    }
    FUZZ_CHECK(r.payload + r.payload_len <= dgram + len, "payload bounds");
    tw_udp_emit(&r, src, dst, again);
    tw_udp_repr back;
    int err = tw_udp_parse(again, tw_udp_repr_len(&r), src, dst, &back);
    FUZZ_CHECK(err == 0, "re-parse of an emitted datagram: %d", err);
    FUZZ_CHECK(back.src_port == r.src_port && back.dst_port == r.dst_port, "ports");
    FUZZ_CHECK(back.payload_len == r.payload_len, "payload length");
    FUZZ_CHECK(memcmp(back.payload, r.payload, r.payload_len) == 0, "payload bytes");
}

static void icmp_round_trip(const uint8_t *msg, size_t len)
{
    tw_icmp_repr r;
    if (tw_icmp_parse(msg, len, &r) != 0) {
        return;
    }
    FUZZ_CHECK(r.data + r.data_len == msg + len, "data bounds");
    tw_icmp_emit(&r, again);
    tw_icmp_repr back;
    int err = tw_icmp_parse(again, tw_icmp_repr_len(&r), &back);
    FUZZ_CHECK(err == 0, "re-parse of an emitted message: %d", err);
    FUZZ_CHECK(back.type == r.type && back.code == r.code, "type/code");
    FUZZ_CHECK(back.echo_id == r.echo_id && back.echo_seq == r.echo_seq, "echo id/seq");
    FUZZ_CHECK(back.next_hop_mtu == r.next_hop_mtu, "next-hop MTU");
    FUZZ_CHECK(back.data_len == r.data_len && memcmp(back.data, r.data, r.data_len) == 0, "data");
    tw_ipv4_repr quoted;
    err = tw_icmp_quote_parse(&r, &quoted);
    bool error_type = r.type == TW_ICMP_DEST_UNREACH || r.type == TW_ICMP_TIME_EXCEEDED;
    FUZZ_CHECK((err == 0) == error_type, "quote parse %d for type %u", err, r.type);
    if (err == 0) {
        FUZZ_CHECK(quoted.payload_len >= 8, "a quote carries 8 transport bytes");
        FUZZ_CHECK(quoted.payload >= r.data && quoted.payload + quoted.payload_len <=
                   r.data + r.data_len, "quote bounds");
    }
}

static void ipv4_round_trip(const uint8_t *pkt, size_t len)
{
    tw_ipv4_repr r;
    if (tw_ipv4_parse(pkt, len, &r) != 0) {
        return;
    }
    FUZZ_CHECK(r.payload + r.payload_len <= pkt + len, "payload bounds");
    tw_ipv4_emit(&r, again);
    memcpy(again + TW_IPV4_HEADER_LEN, r.payload, r.payload_len);
    tw_ipv4_repr back;
    int err = tw_ipv4_parse(again, TW_IPV4_HEADER_LEN + r.payload_len, &back);
    FUZZ_CHECK(err == 0, "re-parse of an emitted header: %d", err);
    FUZZ_CHECK(back.src == r.src && back.dst == r.dst && back.protocol == r.protocol, "addrs");
    FUZZ_CHECK(back.ttl == r.ttl && back.dscp == r.dscp && back.ecn == r.ecn, "ttl/tos");
    FUZZ_CHECK(back.ident == r.ident && back.dont_frag == r.dont_frag &&
               back.more_frags == r.more_frags && back.frag_offset == r.frag_offset, "frag");
    FUZZ_CHECK(back.payload_len == r.payload_len && back.options_len == 0, "lengths");

    if (r.more_frags || r.frag_offset != 0) {
        return; /* a fragment: the transport header may not be here */
    }
    switch (r.protocol) {
    case TW_IP_PROTO_TCP:
        tcp_round_trip(r.payload, r.payload_len, r.src, r.dst);
        break;
    case TW_IP_PROTO_UDP:
        udp_round_trip(r.payload, r.payload_len, r.src, r.dst);
        break;
    case TW_IP_PROTO_ICMP:
        icmp_round_trip(r.payload, r.payload_len);
        break;
    default:
        break;
    }
}

static void arp_round_trip(const uint8_t *pkt, size_t len)
{
    tw_arp_repr r;
    if (tw_arp_parse(pkt, len, &r) != 0) {
        return;
    }
    tw_arp_emit(&r, again);
    /* Parse accepts only the Ethernet/IPv4 form, which emit writes: the
     * bytes come back exactly. */
    FUZZ_CHECK(memcmp(again, pkt, TW_ARP_LEN) == 0, "ARP bytes differ after emit");
}

static void eth_round_trip(const uint8_t *buf, size_t len)
{
    tw_eth_repr r;
    if (tw_eth_parse(buf, len, &r) != 0) {
        return;
    }
    size_t hl = tw_eth_repr_len(&r);
    FUZZ_CHECK(r.payload == buf + hl && r.payload_len == len - hl, "payload bounds");
    tw_eth_emit(&r, again);
    FUZZ_CHECK(memcmp(again, buf, hl) == 0, "Ethernet header bytes differ after emit");
    switch (r.ethertype) {
    case TW_ETHERTYPE_IPV4:
        ipv4_round_trip(r.payload, r.payload_len);
        break;
    case TW_ETHERTYPE_ARP:
        arp_round_trip(r.payload, r.payload_len);
        break;
    default:
        break;
    }
}

/* ---- checksum repair (the mode byte) -------------------------------------- */

static void fix_checksums(uint8_t *buf, size_t len, bool ip, bool l4)
{
    if (tw_eth_view_check(buf, len) != 0 || tw_eth_ethertype(buf) != TW_ETHERTYPE_IPV4) {
        return;
    }
    size_t off = tw_eth_header_len(buf);
    uint8_t *pkt = buf + off;
    size_t plen = len - off;
    if (tw_ipv4_view_check(pkt, plen) != 0) {
        return;
    }
    size_t hl = tw_ipv4_header_len(pkt);
    if (ip) {
        tw_bytes_store_be16(pkt + 10, 0);
        tw_bytes_store_be16(pkt + 10, tw_csum(pkt, hl));
    }
    if (!l4 || (tw_bytes_load_be16(pkt + 6) & (TW_IPV4_FLAG_MF | TW_IPV4_FRAG_OFFSET_MASK))) {
        return;
    }
    uint8_t *l4p = pkt + hl;
    size_t l4len = tw_ipv4_total_len(pkt) - hl;
    uint32_t pseudo = tw_csum_pseudo_ipv4(tw_ipv4_src(pkt), tw_ipv4_dst(pkt),
                                          tw_ipv4_protocol(pkt), (uint16_t)l4len);
    switch (tw_ipv4_protocol(pkt)) {
    case TW_IP_PROTO_TCP:
        if (l4len >= TW_TCP_HEADER_LEN) {
            tw_bytes_store_be16(l4p + 16, 0);
            tw_bytes_store_be16(l4p + 16, tw_csum_finish(tw_csum_add(pseudo, l4p, l4len)));
        }
        break;
    case TW_IP_PROTO_UDP:
        if (l4len >= TW_UDP_HEADER_LEN && tw_udp_length(l4p) >= TW_UDP_HEADER_LEN &&
            tw_udp_length(l4p) <= l4len) {
            size_t ulen = tw_udp_length(l4p);
            pseudo = tw_csum_pseudo_ipv4(tw_ipv4_src(pkt), tw_ipv4_dst(pkt), TW_IP_PROTO_UDP,
                                         (uint16_t)ulen);
            tw_bytes_store_be16(l4p + 6, 0);
            uint16_t c = tw_csum_finish(tw_csum_add(pseudo, l4p, ulen));
            tw_bytes_store_be16(l4p + 6, c == 0 ? 0xffff : c);
        }
        break;
    case TW_IP_PROTO_ICMP:
        if (l4len >= TW_ICMP_HEADER_LEN) {
            tw_bytes_store_be16(l4p + 2, 0);
            tw_bytes_store_be16(l4p + 2, tw_csum(l4p, l4len));
        }
        break;
    default:
        break;
    }
}

/* ---- the parsers that take raw bytes directly ------------------------------- */

static void options_round_trip(const uint8_t *p, size_t len)
{
    if (len > TW_TCP_OPTIONS_LEN_MAX) {
        len = TW_TCP_OPTIONS_LEN_MAX;
    }
    const uint8_t *cursor = p;
    tw_tcp_options o;
    int err = tw_tcp_options_decode(&cursor, p + len, &o);
    FUZZ_CHECK(cursor >= p && cursor <= p + len, "cursor left the list");
    if (err != 0) {
        return;
    }
    FUZZ_CHECK(cursor == p + len, "a decoded list ends at its end");
    FUZZ_CHECK(o.sack_count <= TW_TCP_SACK_BLOCKS_MAX && o.wscale <= TW_TCP_WSCALE_MAX, "limits");
    size_t n = tw_tcp_options_encoded_len(&o);
    if (n > TW_TCP_OPTIONS_LEN_MAX) {
        return;
    }
    uint8_t enc[64];
    FUZZ_CHECK(tw_tcp_options_encode(&o, enc) == n, "encoded length");
    const uint8_t *c2 = enc;
    tw_tcp_options back;
    FUZZ_CHECK(tw_tcp_options_decode(&c2, enc + n, &back) == 0, "re-decode");
    tcp_options_equal(&o, &back);
}

/* RFC 1071 as written: 16-bit big-endian words, an odd byte padded. */
static uint16_t csum_reference(const uint8_t *p, size_t len)
{
    uint64_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (uint32_t)p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

static void checksums(const uint8_t *p, size_t len)
{
    FUZZ_CHECK(tw_csum(p, len) == csum_reference(p, len), "tw_csum differs from RFC 1071");
    if (len < 4) {
        return;
    }
    /* Split at an input-chosen point, odd included (RFC 1071 §2(B)). */
    size_t split = p[0] % len;
    uint32_t whole = tw_csum_add(0, p, len);
    uint32_t parts = tw_csum_block_add(tw_csum_add(0, p, split), tw_csum_add(0, p + split,
                                                                             len - split), split);
    FUZZ_CHECK(tw_csum_fold(whole) == tw_csum_fold(parts) ||
               (tw_csum_fold(whole) == 0 && tw_csum_fold(parts) == 0xffff) ||
               (tw_csum_fold(whole) == 0xffff && tw_csum_fold(parts) == 0),
               "block sums at offset %zu", split);
    /* RFC 1624: change one 16-bit word at an even offset and update the
     * checksum; the message must still verify. The checksum goes in the
     * first word. */
    if (len < 8 || len > 4096) {
        return;
    }
    uint8_t msg[4096];
    memcpy(msg, p, len);
    tw_bytes_store_be16(msg, 0);
    uint16_t check = tw_csum(msg, len);
    tw_bytes_store_be16(msg, check);
    size_t at = 2 + 2 * (p[1] % ((len - 2) / 2));
    uint16_t old = tw_bytes_load_be16(msg + at);
    uint16_t neu = tw_bytes_load_be16(p + 2);
    tw_bytes_store_be16(msg + at, neu);
    uint16_t updated = tw_csum_update16(check, old, neu);
    tw_bytes_store_be16(msg, 0);
    uint16_t recomputed = tw_csum(msg, len);
    /* RFC 1624 §3: eqn. 3 equals recomputation, except that data summing
     * to +0 (all zero words, which no real header is) comes out 0x0000
     * instead of 0xffff. */
    bool all_zero = tw_csum_add(0, msg, len) == 0;
    FUZZ_CHECK(updated == recomputed || (all_zero && updated == 0),
               "RFC 1624 update %04x, recomputed %04x", updated, recomputed);
}

static void text_parsers(const uint8_t *p, size_t len)
{
    char s[64];
    if (len >= sizeof s) {
        len = sizeof s - 1;
    }
    memcpy(s, p, len);
    s[len] = '\0';
    tw_mac mac;
    if (tw_mac_parse(s, &mac) == 0) {
        char out[TW_MAC_STRLEN];
        tw_mac_format(mac, out);
        tw_mac back;
        FUZZ_CHECK(tw_mac_parse(out, &back) == 0 && tw_mac_equal(mac, back), "MAC round trip");
    }
    tw_ipv4_addr a;
    if (tw_ipv4_addr_parse(s, &a) == 0) {
        char out[TW_IPV4_ADDR_STRLEN];
        tw_ipv4_addr_format(a, out);
        FUZZ_CHECK(strcmp(out, s) == 0, "an accepted address formats back to itself: %s", s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > FRAME_MAX) {
        return 0;
    }
    uint8_t mode = data[0];
    size_t len = size - 1;
    memcpy(frame, data + 1, len);
    fix_checksums(frame, len, mode & 1, mode & 2);
    eth_round_trip(frame, len);

    static tw_rss rss;
    static bool rss_ready;
    if (!rss_ready) {
        tw_rss_init(&rss, NULL, 0);
        tw_rss_indir_spread(&rss, 16);
        rss_ready = true;
    }
    (void)tw_stack_flow_hash(&rss, frame, len);

    options_round_trip(data + 1, len);
    checksums(data + 1, len);
    text_parsers(data + 1, len);
    return 0;
}
