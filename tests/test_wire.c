/* core/wire headers: parse and emit of Ethernet, ARP, IPv4, ICMP, UDP and
 * TCP against frames Linux sent, round trips into 0xa5-filled buffers (an
 * unwritten byte shows as a5), every truncation of every frame, and the
 * impossible lengths and option encodings each parser must refuse.
 *
 * The captured frames came from Linux 6.18 through a TAP device (which does
 * no checksum offload, so every checksum is the kernel's own):
 * tests/tools/capture_wire_frames.py reproduces them. Host 10.7.0.1 at
 * 02:00:00:00:00:01 talks to 10.7.0.2 at 02:00:00:00:00:02. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/error.h"
#include "base/rng.h"
#include "wire/arp.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

#define SEED 0x7477696e77697265ull /* "twinwire" */

static const tw_ipv4_addr HOST_A = TW_IPV4_ADDR(10, 7, 0, 1);
static const tw_ipv4_addr HOST_B = TW_IPV4_ADDR(10, 7, 0, 2);

/* Who-has 10.7.0.2, tell 10.7.0.1: 42 bytes, no trailer (TAP). */
static const char ARP_REQUEST[] = "ffffffffffff 020000000001 0806"
                                  "0001 0800 06 04 0001 020000000001 0a070001"
                                  "000000000000 0a070002";

/* ping -s 56: echo request id 0x9dce seq 1 with iputils' payload. */
static const char PING[] = "020000000002 020000000001 0800"
                           "4500 0054 98c8 4000 4001 8dd0 0a070001 0a070002"
                           "0800 0525 9dce 0001"
                           "00f1536500000000 40e2010000000000"
                           "101112131415161718191a1b1c1d1e1f 202122232425262728292a2b2c2d2e2f"
                           "3031323334353637";

/* "hello twin\n" from 10.7.0.1:40000 to 10.7.0.2:7. */
static const char UDP[] = "020000000002 020000000001 0800"
                          "4500 0027 6ab8 4000 4011 bbfd 0a070001 0a070002"
                          "9c40 0007 0013 2398 68656c6c6f207477696e0a";

/* connect() from 10.7.0.1:40001 to 10.7.0.2:80: MSS 1460, SACK-permitted,
 * timestamps, NOP, window scale 7. */
static const char SYN[] = "020000000002 020000000001 0800"
                          "4500 003c caaa 4000 4006 5c01 0a070001 0a070002"
                          "9c41 0050 32b44cc7 00000000 a002 ffff 88da 0000"
                          "020405b4 0402080a 27e86720 00000000 01030307";

/* ---- helpers ---------------------------------------------------------- */

static size_t from_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *c = hex; *c; c++) {
        int v;
        if (*c >= '0' && *c <= '9') {
            v = *c - '0';
        } else if (*c >= 'a' && *c <= 'f') {
            v = *c - 'a' + 10;
        } else {
            continue;
        }
        if (hi < 0) {
            hi = v;
        } else {
            assert_true(n < cap);
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    assert_int_equal(hi, -1);
    return n;
}

typedef struct frame {
    uint8_t b[2048];
    size_t len;
} frame;

static frame load(const char *hex)
{
    frame f;
    f.len = from_hex(hex, f.b, sizeof f.b);
    return f;
}

/* An output buffer full of 0xa5, so a byte emit forgot shows. */
static uint8_t *fresh(uint8_t *buf, size_t len)
{
    memset(buf, 0xa5, len);
    return buf;
}

typedef int (*parse_fn)(const uint8_t *buf, size_t len);

/* Runs parse on every proper prefix of buf, each copied into a heap block
 * of exactly that size so a read past the end is a real out-of-bounds read
 * (caught by the sanitizer builds), and expects each to fail. */
static void expect_prefixes_rejected(parse_fn parse, const uint8_t *buf, size_t len, int first_err)
{
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n > 0 ? n : 1);
        assert_non_null(copy);
        memcpy(copy, buf, n);
        int err = parse(copy, n);
        free(copy);
        if (err >= 0) {
            print_message("prefix of %zu bytes (of %zu) accepted\n", n, len);
        }
        assert_true(err < 0);
        if (first_err != 0 && n == 0) {
            assert_int_equal(err, first_err);
        }
    }
}

static void fix_ipv4_checksum(uint8_t *ip)
{
    tw_bytes_store_be16(ip + 10, 0);
    tw_bytes_store_be16(ip + 10, tw_csum(ip, tw_ipv4_header_len(ip)));
}

static void fix_icmp_checksum(uint8_t *icmp, size_t len)
{
    tw_bytes_store_be16(icmp + 2, 0);
    tw_bytes_store_be16(icmp + 2, tw_csum(icmp, len));
}

static void fix_tcp_checksum(uint8_t *seg, size_t len, tw_ipv4_addr src, tw_ipv4_addr dst)
{
    tw_bytes_store_be16(seg + 16, 0);
    uint32_t sum = tw_csum_pseudo_ipv4(src, dst, TW_IP_PROTO_TCP, (uint16_t)len);
    tw_bytes_store_be16(seg + 16, tw_csum_finish(tw_csum_add(sum, seg, len)));
}

static void fix_udp_checksum(uint8_t *dgram, size_t len, tw_ipv4_addr src, tw_ipv4_addr dst)
{
    tw_bytes_store_be16(dgram + 6, 0);
    uint32_t sum = tw_csum_pseudo_ipv4(src, dst, TW_IP_PROTO_UDP, (uint16_t)len);
    uint16_t check = tw_csum_finish(tw_csum_add(sum, dgram, len));
    tw_bytes_store_be16(dgram + 6, check == 0 ? 0xffff : check);
}

static void assert_tcp_options_equal(const tw_tcp_options *a, const tw_tcp_options *b)
{
    assert_int_equal(a->has_mss, b->has_mss);
    assert_int_equal(a->has_wscale, b->has_wscale);
    assert_int_equal(a->sack_permitted, b->sack_permitted);
    assert_int_equal(a->has_timestamp, b->has_timestamp);
    assert_int_equal(a->sack_count, b->sack_count);
    if (a->has_mss) {
        assert_int_equal(a->mss, b->mss);
    }
    if (a->has_wscale) {
        assert_int_equal(a->wscale, b->wscale);
    }
    if (a->has_timestamp) {
        assert_int_equal(a->ts_val, b->ts_val);
        assert_int_equal(a->ts_ecr, b->ts_ecr);
    }
    for (unsigned i = 0; i < a->sack_count; i++) {
        assert_int_equal(a->sack[i].left, b->sack[i].left);
        assert_int_equal(a->sack[i].right, b->sack[i].right);
    }
}

static void assert_tcp_repr_equal(const tw_tcp_repr *a, const tw_tcp_repr *b)
{
    assert_int_equal(a->src_port, b->src_port);
    assert_int_equal(a->dst_port, b->dst_port);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->ack, b->ack);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->window, b->window);
    assert_int_equal(a->urgent, b->urgent);
    assert_tcp_options_equal(&a->opts, &b->opts);
    assert_int_equal(a->payload_len, b->payload_len);
    if (a->payload_len > 0) {
        assert_memory_equal(a->payload, b->payload, a->payload_len);
    }
}

static void assert_ipv4_repr_equal(const tw_ipv4_repr *a, const tw_ipv4_repr *b)
{
    assert_int_equal(a->src, b->src);
    assert_int_equal(a->dst, b->dst);
    assert_int_equal(a->protocol, b->protocol);
    assert_int_equal(a->ttl, b->ttl);
    assert_int_equal(a->dscp, b->dscp);
    assert_int_equal(a->ecn, b->ecn);
    assert_int_equal(a->ident, b->ident);
    assert_int_equal(a->dont_frag, b->dont_frag);
    assert_int_equal(a->more_frags, b->more_frags);
    assert_int_equal(a->frag_offset, b->frag_offset);
    assert_int_equal(a->payload_len, b->payload_len);
}

/* Parse wrappers with the (buf, len) shape of expect_prefixes_rejected. */
static int parse_eth(const uint8_t *b, size_t n)
{
    tw_eth_repr r;
    return tw_eth_parse(b, n, &r);
}
static int parse_arp(const uint8_t *b, size_t n)
{
    tw_arp_repr r;
    return tw_arp_parse(b, n, &r);
}
static int parse_ipv4(const uint8_t *b, size_t n)
{
    tw_ipv4_repr r;
    return tw_ipv4_parse(b, n, &r);
}
static int parse_icmp(const uint8_t *b, size_t n)
{
    tw_icmp_repr r;
    return tw_icmp_parse(b, n, &r);
}
static int parse_udp(const uint8_t *b, size_t n)
{
    tw_udp_repr r;
    return tw_udp_parse(b, n, HOST_A, HOST_B, &r);
}
static int parse_tcp(const uint8_t *b, size_t n)
{
    tw_tcp_repr r;
    return tw_tcp_parse(b, n, HOST_A, HOST_B, &r);
}

/* Parses a whole captured IPv4 frame down to its transport bytes. */
static const uint8_t *l4_of(const frame *f, tw_ipv4_repr *ip)
{
    tw_eth_repr eth;
    assert_int_equal(tw_eth_parse(f->b, f->len, &eth), 0);
    assert_int_equal(eth.ethertype, TW_ETHERTYPE_IPV4);
    assert_int_equal(tw_ipv4_parse(eth.payload, eth.payload_len, ip), 0);
    return ip->payload;
}

/* ---- Ethernet --------------------------------------------------------- */

static void test_wire_eth_parse_captured_arp_frame(void **state)
{
    frame f = load(ARP_REQUEST);
    tw_eth_repr r;
    assert_int_equal(tw_eth_parse(f.b, f.len, &r), 0);
    assert_true(tw_mac_is_broadcast(r.dst));
    assert_true(tw_mac_equal(r.src, tw_mac_from_id(1)));
    assert_int_equal(r.ethertype, TW_ETHERTYPE_ARP);
    assert_false(r.has_vlan);
    assert_ptr_equal(r.payload, f.b + 14);
    assert_int_equal(r.payload_len, 28);
}

static void test_wire_eth_round_trip_bytes(void **state)
{
    frame f = load(PING);
    tw_eth_repr r;
    assert_int_equal(tw_eth_parse(f.b, f.len, &r), 0);
    uint8_t out[32];
    fresh(out, sizeof out);
    assert_int_equal(tw_eth_repr_len(&r), 14);
    tw_eth_emit(&r, out);
    assert_memory_equal(out, f.b, 14);
    assert_int_equal(out[14], 0xa5);
}

static void test_wire_eth_vlan_tag_round_trip(void **state)
{
    /* 802.1Q tag: PCP 5, DEI 0, VLAN 100 (tci 0xa064), carrying IPv4. */
    uint8_t tagged[18];
    size_t n = from_hex("020000000002 020000000001 8100 a064 0800", tagged, sizeof tagged);
    tw_eth_repr r;
    assert_int_equal(tw_eth_parse(tagged, n, &r), 0);
    assert_true(r.has_vlan);
    assert_int_equal(r.vlan_tci, 0xa064);
    assert_int_equal(tw_vlan_pcp(r.vlan_tci), 5);
    assert_false(tw_vlan_dei(r.vlan_tci));
    assert_int_equal(tw_vlan_id(r.vlan_tci), 100);
    assert_int_equal(r.ethertype, TW_ETHERTYPE_IPV4);
    assert_int_equal(r.payload_len, 0);
    assert_int_equal(tw_vlan_tci(5, false, 100), 0xa064);

    uint8_t out[20];
    fresh(out, sizeof out);
    assert_int_equal(tw_eth_repr_len(&r), 18);
    tw_eth_emit(&r, out);
    assert_memory_equal(out, tagged, 18);
    assert_int_equal(out[18], 0xa5);
}

static void test_wire_eth_truncated_prefixes(void **state)
{
    frame f = load(ARP_REQUEST);
    expect_prefixes_rejected(parse_eth, f.b, 14, -TW_ETRUNC);
    uint8_t tagged[18];
    from_hex("020000000002 020000000001 8100 a064 0800", tagged, sizeof tagged);
    expect_prefixes_rejected(parse_eth, tagged, sizeof tagged, -TW_ETRUNC);
    assert_int_equal(tw_eth_view_check(tagged, 16), -TW_ETRUNC);
}

static void test_wire_eth_rejects_length_field_qinq_and_reserved_vlan(void **state)
{
    uint8_t b[18];
    tw_eth_repr r;
    /* An IEEE 802.3 frame: 0x0026 is a length, not a type. */
    from_hex("ffffffffffff 020000000001 0026", b, sizeof b);
    assert_int_equal(tw_eth_parse(b, 14, &r), -TW_ENOTSUP);
    from_hex("ffffffffffff 020000000001 8100 0064 8100", b, sizeof b);
    assert_int_equal(tw_eth_parse(b, 18, &r), -TW_ENOTSUP);
    from_hex("ffffffffffff 020000000001 8100 0fff 0800", b, sizeof b);
    assert_int_equal(tw_eth_parse(b, 18, &r), -TW_EMALFORMED);
}

static void test_wire_mac_format_and_parse(void **state)
{
    char s[TW_MAC_STRLEN];
    tw_mac m = {{0x02, 0x00, 0x5e, 0xab, 0xcd, 0xef}};
    tw_mac_format(m, s);
    assert_string_equal(s, "02:00:5e:ab:cd:ef");
    tw_mac back;
    assert_int_equal(tw_mac_parse("02:00:5E:AB:cd:ef", &back), 0);
    assert_true(tw_mac_equal(m, back));
    static const char *const bad[] = {
        "",
        "02:00:5e:ab:cd",
        "02:00:5e:ab:cd:ef:",
        "02-00-5e-ab-cd-ef",
        "2:00:5e:ab:cd:ef",
        "02:00:5e:ab:cd:eg",
        "02:00:5e:ab:cd:ef0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tw_mac_parse(bad[i], &back), -TW_EINVAL);
    }
    assert_true(tw_mac_is_multicast(TW_MAC_BROADCAST));
    assert_false(tw_mac_is_multicast(tw_mac_from_id(7)));
    assert_true(tw_mac_is_zero(TW_MAC_ZERO));
}

/* ---- ARP -------------------------------------------------------------- */

static void test_wire_arp_parse_captured_request(void **state)
{
    frame f = load(ARP_REQUEST);
    tw_arp_repr r;
    assert_int_equal(tw_arp_parse(f.b + 14, f.len - 14, &r), 0);
    assert_int_equal(r.op, TW_ARP_OP_REQUEST);
    assert_true(tw_mac_equal(r.sha, tw_mac_from_id(1)));
    assert_int_equal(r.spa, HOST_A);
    assert_true(tw_mac_is_zero(r.tha));
    assert_int_equal(r.tpa, HOST_B);
}

static void test_wire_arp_round_trip_bytes(void **state)
{
    frame f = load(ARP_REQUEST);
    tw_arp_repr r;
    assert_int_equal(tw_arp_parse(f.b + 14, f.len - 14, &r), 0);
    uint8_t out[30];
    fresh(out, sizeof out);
    assert_int_equal(tw_arp_repr_len(&r), 28);
    tw_arp_emit(&r, out);
    assert_memory_equal(out, f.b + 14, 28);
    assert_int_equal(out[28], 0xa5);
}

static void test_wire_arp_reply_bytes(void **state)
{
    /* RFC 826: the reply swaps the roles and fills in the asked-for
     * hardware address. */
    tw_arp_repr reply = {
        .op = TW_ARP_OP_REPLY,
        .sha = tw_mac_from_id(2),
        .spa = HOST_B,
        .tha = tw_mac_from_id(1),
        .tpa = HOST_A,
    };
    uint8_t want[28];
    from_hex("0001 0800 06 04 0002 020000000002 0a070002 020000000001 0a070001", want, sizeof want);
    uint8_t out[30];
    fresh(out, sizeof out);
    tw_arp_emit(&reply, out);
    assert_memory_equal(out, want, 28);
    assert_int_equal(out[28], 0xa5);
}

static void test_wire_arp_truncated_prefixes(void **state)
{
    frame f = load(ARP_REQUEST);
    expect_prefixes_rejected(parse_arp, f.b + 14, 28, -TW_ETRUNC);
}

static void test_wire_arp_rejects_other_forms(void **state)
{
    frame f = load(ARP_REQUEST);
    uint8_t *a = f.b + 14;
    tw_arp_repr r;
    a[1] = 6; /* hardware type IEEE 802 */
    assert_int_equal(tw_arp_parse(a, 28, &r), -TW_ENOTSUP);
    a[1] = 1;
    a[7] = 3; /* RARP request */
    assert_int_equal(tw_arp_parse(a, 28, &r), -TW_ENOTSUP);
    a[7] = 1;
    a[4] = 8; /* hardware length that Ethernet does not have */
    assert_int_equal(tw_arp_parse(a, 28, &r), -TW_ETRUNC);
    assert_int_equal(tw_arp_parse(a, 28 + 4, &r), -TW_EMALFORMED);
    a[4] = 6;
    a[8] = 0x01; /* multicast sender hardware address */
    assert_int_equal(tw_arp_parse(a, 28, &r), -TW_EMALFORMED);
}

/* ---- IPv4 ------------------------------------------------------------- */

static void test_wire_ipv4_parse_captured_ping(void **state)
{
    frame f = load(PING);
    tw_ipv4_repr r;
    assert_int_equal(tw_ipv4_parse(f.b + 14, f.len - 14, &r), 0);
    assert_int_equal(r.src, HOST_A);
    assert_int_equal(r.dst, HOST_B);
    assert_int_equal(r.protocol, TW_IP_PROTO_ICMP);
    assert_int_equal(r.ttl, 64);
    assert_int_equal(r.ident, 0x98c8);
    assert_true(r.dont_frag);
    assert_false(r.more_frags);
    assert_int_equal(r.frag_offset, 0);
    assert_int_equal(r.dscp, 0);
    assert_int_equal(r.ecn, 0);
    assert_int_equal(r.payload_len, 64);
    assert_ptr_equal(r.payload, f.b + 34);
    assert_int_equal(r.options_len, 0);
}

static void test_wire_ipv4_round_trip_bytes(void **state)
{
    const char *const frames[] = {PING, UDP, SYN};
    for (size_t i = 0; i < 3; i++) {
        frame f = load(frames[i]);
        tw_ipv4_repr r;
        assert_int_equal(tw_ipv4_parse(f.b + 14, f.len - 14, &r), 0);
        uint8_t out[24];
        fresh(out, sizeof out);
        assert_int_equal(tw_ipv4_repr_len(&r), 20);
        tw_ipv4_emit(&r, out);
        assert_memory_equal(out, f.b + 14, 20);
        assert_int_equal(out[20], 0xa5);
    }
}

static void test_wire_ipv4_trailer_padding_ignored(void **state)
{
    /* Ethernet pads short frames to 60 bytes; the total length says where
     * the datagram ends. */
    frame f = load(UDP);
    memset(f.b + f.len, 0, 60 - f.len);
    tw_eth_repr eth;
    assert_int_equal(tw_eth_parse(f.b, 60, &eth), 0);
    assert_int_equal(eth.payload_len, 46);
    tw_ipv4_repr ip;
    assert_int_equal(tw_ipv4_parse(eth.payload, eth.payload_len, &ip), 0);
    assert_int_equal(ip.payload_len, 19);
}

static void test_wire_ipv4_truncated_prefixes(void **state)
{
    frame f = load(UDP);
    expect_prefixes_rejected(parse_ipv4, f.b + 14, f.len - 14, -TW_ETRUNC);
}

static void test_wire_ipv4_rejects_impossible_lengths(void **state)
{
    frame f = load(UDP);
    uint8_t *ip = f.b + 14;
    size_t len = f.len - 14;
    tw_ipv4_repr r;
    ip[0] = 0x44; /* IHL 4 */
    assert_int_equal(tw_ipv4_parse(ip, len, &r), -TW_EMALFORMED);
    ip[0] = 0x40; /* IHL 0 */
    assert_int_equal(tw_ipv4_parse(ip, len, &r), -TW_EMALFORMED);
    ip[0] = 0x4f; /* IHL 15: 60 bytes, more than the 39 there are */
    assert_int_equal(tw_ipv4_parse(ip, len, &r), -TW_ETRUNC);
    ip[0] = 0x45;
    tw_bytes_store_be16(ip + 2, 19); /* total length < IHL * 4 */
    assert_int_equal(tw_ipv4_parse(ip, len, &r), -TW_EMALFORMED);
    tw_bytes_store_be16(ip + 2, 40); /* total length > buffer */
    assert_int_equal(tw_ipv4_parse(ip, len, &r), -TW_ETRUNC);
    ip[0] = 0x46; /* IHL 6 with total length 20 */
    tw_bytes_store_be16(ip + 2, 20);
    assert_int_equal(tw_ipv4_parse(ip, len, &r), -TW_EMALFORMED);
}

static void test_wire_ipv4_bad_checksum_reported_distinctly(void **state)
{
    frame f = load(PING);
    uint8_t *ip = f.b + 14;
    tw_ipv4_repr r;
    ip[8] = 63; /* TTL changed without updating the checksum */
    assert_int_equal(tw_ipv4_parse(ip, f.len - 14, &r), -TW_EBADCSUM);
    /* RFC 1624: the incremental update repairs it. */
    uint16_t check = tw_ipv4_checksum(ip);
    tw_bytes_store_be16(ip + 10, tw_csum_update16(check, 64 << 8 | 1, 63 << 8 | 1));
    assert_int_equal(tw_ipv4_parse(ip, f.len - 14, &r), 0);
    assert_int_equal(r.ttl, 63);
    /* The header checksum does not cover the payload. */
    ip[40] ^= 0xff;
    assert_int_equal(tw_ipv4_parse(ip, f.len - 14, &r), 0);
}

static void test_wire_ipv4_rejects_version_and_reserved_flag(void **state)
{
    frame f = load(SYN);
    uint8_t *ip = f.b + 14;
    tw_ipv4_repr r;
    ip[0] = 0x65; /* version 6 */
    fix_ipv4_checksum(ip);
    assert_int_equal(tw_ipv4_parse(ip, f.len - 14, &r), -TW_EMALFORMED);
    ip[0] = 0x45;
    ip[6] |= 0x80; /* RFC 791: the reserved flag must be zero */
    fix_ipv4_checksum(ip);
    assert_int_equal(tw_ipv4_parse(ip, f.len - 14, &r), -TW_EMALFORMED);
}

static void test_wire_ipv4_options_skipped_by_length(void **state)
{
    /* IHL 6: a Router Alert option (RFC 2113: 94 04 0000) before the UDP
     * datagram. */
    frame u = load(UDP);
    uint8_t ip[64];
    memcpy(ip, u.b + 14, 20);
    from_hex("94040000", ip + 20, 4);
    memcpy(ip + 24, u.b + 34, 19);
    ip[0] = 0x46;
    tw_bytes_store_be16(ip + 2, 24 + 19);
    fix_ipv4_checksum(ip);
    tw_ipv4_repr r;
    assert_int_equal(tw_ipv4_parse(ip, 24 + 19, &r), 0);
    assert_int_equal(r.options_len, 4);
    assert_ptr_equal(r.payload, ip + 24);
    assert_int_equal(r.payload_len, 19);
    tw_udp_repr udp;
    assert_int_equal(tw_udp_parse(r.payload, r.payload_len, r.src, r.dst, &udp), 0);
    assert_int_equal(udp.dst_port, 7);
}

static void test_wire_ipv4_fragment_fields_round_trip(void **state)
{
    tw_ipv4_repr r = {
        .src = HOST_A,
        .dst = HOST_B,
        .protocol = TW_IP_PROTO_UDP,
        .ttl = 64,
        .dscp = 46, /* EF */
        .ecn = 2,   /* ECT(0) */
        .ident = 0x1234,
        .more_frags = true,
        .frag_offset = 1480,
        .payload_len = 1480,
    };
    /* 45 ba 05dc 1234 20b9 40 11 ...: EF and ECT(0), MF, offset 185 units of 8. */
    uint8_t want[20];
    from_hex("45ba 05dc 1234 20b9 4011 0000 0a070001 0a070002", want, sizeof want);
    tw_bytes_store_be16(want + 10, tw_csum(want, 20));
    uint8_t out[1500 + 4];
    fresh(out, sizeof out);
    tw_ipv4_emit(&r, out);
    assert_memory_equal(out, want, 20);
    assert_int_equal(out[20], 0xa5);
    tw_ipv4_repr back;
    assert_int_equal(tw_ipv4_parse(out, 1500, &back), 0);
    assert_ipv4_repr_equal(&r, &back);

    /* A fragment that would end past 65535 bytes. */
    tw_bytes_store_be16(out + 6, TW_IPV4_FLAG_MF | 8191);
    fix_ipv4_checksum(out);
    assert_int_equal(tw_ipv4_parse(out, 1500, &back), -TW_EMALFORMED);
}

static void test_wire_ipv4_addr_format_and_parse(void **state)
{
    char s[TW_IPV4_ADDR_STRLEN];
    assert_int_equal(tw_ipv4_addr_format(HOST_A, s), 8);
    assert_string_equal(s, "10.7.0.1");
    assert_int_equal(tw_ipv4_addr_format(TW_IPV4_ADDR_BROADCAST, s), 15);
    assert_string_equal(s, "255.255.255.255");
    tw_ipv4_addr_format(TW_IPV4_ADDR(192, 0, 2, 100), s);
    assert_string_equal(s, "192.0.2.100");
    tw_ipv4_addr_format(0, s);
    assert_string_equal(s, "0.0.0.0");

    tw_ipv4_addr a;
    assert_int_equal(tw_ipv4_addr_parse("10.7.0.1", &a), 0);
    assert_int_equal(a, HOST_A);
    assert_int_equal(tw_ipv4_addr_parse("255.255.255.255", &a), 0);
    assert_int_equal(a, TW_IPV4_ADDR_BROADCAST);
    assert_int_equal(tw_ipv4_addr_parse("0.0.0.0", &a), 0);
    assert_int_equal(a, 0);
    static const char *const bad[] = {
        "",         "1.2.3",    "1.2.3.4.5", "256.1.1.1",  "01.2.3.4", "1..2.3",  " 1.2.3.4",
        "1.2.3.4 ", "1.2.3.-4", "1.2.3.+4",  "1000.1.1.1", "1.2.3.",   "a.b.c.d",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tw_ipv4_addr_parse(bad[i], &a), -TW_EINVAL);
    }
    /* Every address survives format then parse. */
    tw_rng rng;
    tw_rng_init(&rng, SEED, 0);
    for (int i = 0; i < 1000; i++) {
        tw_ipv4_addr x = (tw_ipv4_addr)tw_rng_next(&rng);
        tw_ipv4_addr_format(x, s);
        assert_int_equal(tw_ipv4_addr_parse(s, &a), 0);
        assert_int_equal(a, x);
    }
}

static void test_wire_ipv4_addr_classes(void **state)
{
    assert_true(tw_ipv4_addr_in_subnet(HOST_B, TW_IPV4_ADDR(10, 7, 0, 0), 24));
    assert_false(tw_ipv4_addr_in_subnet(TW_IPV4_ADDR(10, 7, 1, 2), TW_IPV4_ADDR(10, 7, 0, 0), 24));
    assert_true(tw_ipv4_addr_in_subnet(TW_IPV4_ADDR(1, 2, 3, 4), 0, 0));
    assert_int_equal(tw_ipv4_prefix_mask(32), 0xffffffffu);
    assert_int_equal(tw_ipv4_prefix_mask(24), 0xffffff00u);
    assert_true(tw_ipv4_addr_is_multicast(TW_IPV4_ADDR(224, 0, 0, 251)));
    assert_false(tw_ipv4_addr_is_multicast(TW_IPV4_ADDR(240, 0, 0, 1)));
    assert_true(tw_ipv4_addr_is_loopback(TW_IPV4_ADDR(127, 0, 0, 1)));
    assert_true(tw_ipv4_addr_is_broadcast(TW_IPV4_ADDR_BROADCAST));
    assert_true(tw_ipv4_addr_is_unspecified(TW_IPV4_ADDR_ANY));
}

/* ---- ICMP ------------------------------------------------------------- */

static void test_wire_icmp_parse_captured_echo_request(void **state)
{
    frame f = load(PING);
    tw_ipv4_repr ip;
    const uint8_t *icmp = l4_of(&f, &ip);
    tw_icmp_repr r;
    assert_int_equal(tw_icmp_parse(icmp, ip.payload_len, &r), 0);
    assert_int_equal(r.type, TW_ICMP_ECHO_REQUEST);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.echo_id, 0x9dce);
    assert_int_equal(r.echo_seq, 1);
    assert_int_equal(r.data_len, 56);
    assert_ptr_equal(r.data, icmp + 8);
    assert_int_equal(r.data[16], 0x10); /* iputils' pattern after the timeval */
}

static void test_wire_icmp_echo_round_trip_bytes(void **state)
{
    frame f = load(PING);
    tw_ipv4_repr ip;
    const uint8_t *icmp = l4_of(&f, &ip);
    tw_icmp_repr r;
    assert_int_equal(tw_icmp_parse(icmp, ip.payload_len, &r), 0);
    uint8_t out[80];
    fresh(out, sizeof out);
    assert_int_equal(tw_icmp_repr_len(&r), 64);
    tw_icmp_emit(&r, out);
    assert_memory_equal(out, icmp, 64);
    assert_int_equal(out[64], 0xa5);
}

static void test_wire_icmp_echo_reply_in_place(void **state)
{
    /* RFC 792: the reply returns the data unchanged. Emitting into the
     * request's own buffer must not copy the data onto itself wrongly. */
    frame f = load(PING);
    uint8_t *icmp = f.b + 34;
    tw_icmp_repr r;
    assert_int_equal(tw_icmp_parse(icmp, 64, &r), 0);
    uint16_t request_check = tw_icmp_checksum(icmp);
    r.type = TW_ICMP_ECHO_REPLY;
    tw_icmp_emit(&r, icmp);
    tw_icmp_repr back;
    assert_int_equal(tw_icmp_parse(icmp, 64, &back), 0);
    assert_int_equal(back.type, TW_ICMP_ECHO_REPLY);
    assert_int_equal(back.echo_id, 0x9dce);
    assert_int_equal(back.data[55], 0x37);
    /* Only the type changed: 0x0800 -> 0x0000 in the first word. */
    assert_int_equal(tw_icmp_checksum(icmp), tw_csum_update16(request_check, 0x0800, 0x0000));
}

static void test_wire_icmp_port_unreachable_quotes_datagram(void **state)
{
    frame f = load(UDP);
    const uint8_t *datagram = f.b + 14;
    size_t datagram_len = f.len - 14;
    tw_icmp_repr r = {
        .type = TW_ICMP_DEST_UNREACH,
        .code = TW_ICMP_UNREACH_PORT,
        .data = datagram,
        .data_len = tw_icmp_quote_len(datagram_len),
    };
    assert_int_equal(r.data_len, 39);
    uint8_t want[8 + 39];
    from_hex("0303 0000 00000000", want, 8);
    memcpy(want + 8, datagram, 39);
    tw_bytes_store_be16(want + 2, tw_csum(want, sizeof want));

    uint8_t out[64];
    fresh(out, sizeof out);
    tw_icmp_emit(&r, out);
    assert_memory_equal(out, want, sizeof want);
    assert_int_equal(out[sizeof want], 0xa5);

    tw_icmp_repr back;
    assert_int_equal(tw_icmp_parse(out, sizeof want, &back), 0);
    assert_int_equal(back.type, TW_ICMP_DEST_UNREACH);
    assert_int_equal(back.code, TW_ICMP_UNREACH_PORT);
    tw_ipv4_repr quoted;
    assert_int_equal(tw_icmp_quote_parse(&back, &quoted), 0);
    assert_int_equal(quoted.src, HOST_A);
    assert_int_equal(quoted.dst, HOST_B);
    assert_int_equal(quoted.protocol, TW_IP_PROTO_UDP);
    assert_int_equal(quoted.payload_len, 19);
    assert_int_equal(tw_udp_src_port(quoted.payload), 40000);
    assert_int_equal(tw_udp_dst_port(quoted.payload), 7);
}

static void test_wire_icmp_frag_needed_carries_mtu(void **state)
{
    /* RFC 1191 §4: the next-hop MTU in the low half of the unused word.
     * The quote is the SYN's IP header and first 8 TCP bytes. */
    frame f = load(SYN);
    tw_icmp_repr r = {
        .type = TW_ICMP_DEST_UNREACH,
        .code = TW_ICMP_UNREACH_FRAG_NEEDED,
        .next_hop_mtu = 1400,
        .data = f.b + 14,
        .data_len = TW_ICMP_QUOTE_MIN,
    };
    uint8_t out[64];
    fresh(out, sizeof out);
    tw_icmp_emit(&r, out);
    uint8_t want[8];
    from_hex("0304 0000 0000 0578", want, sizeof want);
    tw_bytes_store_be16(want + 2, tw_icmp_checksum(out));
    assert_memory_equal(out, want, 8);
    assert_int_equal(out[8 + 28], 0xa5);
    tw_icmp_repr back;
    assert_int_equal(tw_icmp_parse(out, 8 + 28, &back), 0);
    assert_int_equal(back.next_hop_mtu, 1400);
    tw_ipv4_repr quoted;
    assert_int_equal(tw_icmp_quote_parse(&back, &quoted), 0);
    assert_int_equal(quoted.protocol, TW_IP_PROTO_TCP);
    assert_int_equal(quoted.payload_len, 8);
    /* RFC 5927 §4.1: the quoted sequence number to check against SND.UNA. */
    assert_int_equal(tw_tcp_seq(quoted.payload), 0x32b44cc7);
}

static void test_wire_icmp_time_exceeded_round_trip(void **state)
{
    frame f = load(PING);
    tw_icmp_repr r = {
        .type = TW_ICMP_TIME_EXCEEDED,
        .code = TW_ICMP_EXCEEDED_TTL,
        .data = f.b + 14,
        .data_len = 84,
    };
    uint8_t out[100];
    fresh(out, sizeof out);
    tw_icmp_emit(&r, out);
    assert_int_equal(out[92], 0xa5);
    tw_icmp_repr back;
    assert_int_equal(tw_icmp_parse(out, 92, &back), 0);
    assert_int_equal(back.type, TW_ICMP_TIME_EXCEEDED);
    assert_int_equal(back.code, TW_ICMP_EXCEEDED_TTL);
    assert_int_equal(back.next_hop_mtu, 0);
    assert_int_equal(back.data_len, 84);
    assert_memory_equal(back.data, f.b + 14, 84);
    tw_icmp_repr echo = {.type = TW_ICMP_ECHO_REQUEST};
    tw_ipv4_repr quoted;
    assert_int_equal(tw_icmp_quote_parse(&echo, &quoted), -TW_EINVAL);
}

static void test_wire_icmp_truncated_prefixes(void **state)
{
    frame f = load(PING);
    expect_prefixes_rejected(parse_icmp, f.b + 34, 64, -TW_ETRUNC);
}

static void test_wire_icmp_rejects_bad_messages(void **state)
{
    frame f = load(PING);
    uint8_t *icmp = f.b + 34;
    tw_icmp_repr r;
    icmp[20] ^= 1;
    assert_int_equal(tw_icmp_parse(icmp, 64, &r), -TW_EBADCSUM);
    icmp[20] ^= 1;
    icmp[1] = 1; /* echo with a code */
    fix_icmp_checksum(icmp, 64);
    assert_int_equal(tw_icmp_parse(icmp, 64, &r), -TW_EMALFORMED);
    icmp[0] = 13; /* timestamp request */
    icmp[1] = 0;
    fix_icmp_checksum(icmp, 64);
    assert_int_equal(tw_icmp_parse(icmp, 64, &r), -TW_ENOTSUP);

    /* Errors whose quote is too short, not IPv4, or of an unknown code. */
    frame u = load(UDP);
    uint8_t msg[8 + 39];
    from_hex("0303 0000 00000000", msg, 8);
    memcpy(msg + 8, u.b + 14, 39);
    fix_icmp_checksum(msg, 8 + 27);
    assert_int_equal(tw_icmp_parse(msg, 8 + 27, &r), -TW_EMALFORMED);
    fix_icmp_checksum(msg, 8 + 28);
    assert_int_equal(tw_icmp_parse(msg, 8 + 28, &r), 0);
    msg[8] = 0x65;
    fix_icmp_checksum(msg, 8 + 28);
    assert_int_equal(tw_icmp_parse(msg, 8 + 28, &r), -TW_EMALFORMED);
    msg[8] = 0x46; /* IHL 6: then 28 bytes hold only 4 bytes past it */
    fix_icmp_checksum(msg, 8 + 28);
    assert_int_equal(tw_icmp_parse(msg, 8 + 28, &r), -TW_EMALFORMED);
    msg[8] = 0x45;
    msg[1] = 16;
    fix_icmp_checksum(msg, 8 + 28);
    assert_int_equal(tw_icmp_parse(msg, 8 + 28, &r), -TW_EMALFORMED);
    msg[0] = TW_ICMP_TIME_EXCEEDED;
    msg[1] = 2;
    fix_icmp_checksum(msg, 8 + 28);
    assert_int_equal(tw_icmp_parse(msg, 8 + 28, &r), -TW_EMALFORMED);
}

/* ---- UDP -------------------------------------------------------------- */

static void test_wire_udp_parse_captured_datagram(void **state)
{
    frame f = load(UDP);
    tw_ipv4_repr ip;
    const uint8_t *udp = l4_of(&f, &ip);
    tw_udp_repr r;
    assert_int_equal(tw_udp_parse(udp, ip.payload_len, ip.src, ip.dst, &r), 0);
    assert_int_equal(r.src_port, 40000);
    assert_int_equal(r.dst_port, 7);
    assert_int_equal(r.payload_len, 11);
    assert_memory_equal(r.payload, "hello twin\n", 11);
}

static void test_wire_udp_round_trip_bytes(void **state)
{
    frame f = load(UDP);
    tw_ipv4_repr ip;
    const uint8_t *udp = l4_of(&f, &ip);
    tw_udp_repr r;
    assert_int_equal(tw_udp_parse(udp, ip.payload_len, ip.src, ip.dst, &r), 0);
    uint8_t out[24];
    fresh(out, sizeof out);
    assert_int_equal(tw_udp_repr_len(&r), 19);
    tw_udp_emit(&r, ip.src, ip.dst, out);
    assert_memory_equal(out, udp, 19);
    assert_int_equal(out[19], 0xa5);
}

static void test_wire_udp_zero_checksum_means_none(void **state)
{
    frame f = load(UDP);
    uint8_t *udp = f.b + 34;
    tw_udp_repr r;
    tw_bytes_store_be16(udp + 6, 0);
    udp[8] = 'j'; /* unprotected: accepted as sent */
    assert_int_equal(tw_udp_parse(udp, 19, HOST_A, HOST_B, &r), 0);
    assert_int_equal(r.payload[0], 'j');
    /* The pseudo-header is covered: the same bytes to another host fail. */
    fix_udp_checksum(udp, 19, HOST_A, HOST_B);
    assert_int_equal(tw_udp_parse(udp, 19, HOST_A, TW_IPV4_ADDR(10, 7, 0, 3), &r), -TW_EBADCSUM);
}

static void test_wire_udp_emit_never_writes_zero_checksum(void **state)
{
    /* Choose a 2-byte payload that makes the computed checksum 0: the sum
     * of everything else plus the payload word must be 0xffff. */
    uint8_t payload[2] = {0, 0};
    tw_udp_repr r = {.src_port = 5000, .dst_port = 6000, .payload = payload, .payload_len = 2};
    uint8_t out[16];
    tw_udp_emit(&r, HOST_A, HOST_B, out);
    tw_bytes_store_be16(out + 6, 0);
    uint32_t sum = tw_csum_pseudo_ipv4(HOST_A, HOST_B, TW_IP_PROTO_UDP, 10);
    uint16_t rest = tw_csum_fold(tw_csum_add(sum, out, 10));
    tw_bytes_store_be16(payload, (uint16_t)(0xffff - rest));
    fresh(out, sizeof out);
    tw_udp_emit(&r, HOST_A, HOST_B, out);
    assert_int_equal(tw_udp_checksum(out), 0xffff);
    tw_udp_repr back;
    assert_int_equal(tw_udp_parse(out, 10, HOST_A, HOST_B, &back), 0);
    assert_int_equal(out[10], 0xa5);
}

static void test_wire_udp_payload_in_place_not_copied(void **state)
{
    uint8_t out[64];
    fresh(out, sizeof out);
    memcpy(out + 8, "in place", 8);
    tw_udp_repr r = {.src_port = 1, .dst_port = 2, .payload = out + 8, .payload_len = 8};
    tw_udp_emit(&r, HOST_A, HOST_B, out);
    tw_udp_repr back;
    assert_int_equal(tw_udp_parse(out, 16, HOST_A, HOST_B, &back), 0);
    assert_memory_equal(back.payload, "in place", 8);
    /* A payload overlapping the header area is moved, not smeared. */
    memcpy(out + 4, "overlaps", 8);
    r.payload = out + 4;
    tw_udp_emit(&r, HOST_A, HOST_B, out);
    assert_int_equal(tw_udp_parse(out, 16, HOST_A, HOST_B, &back), 0);
    assert_memory_equal(back.payload, "overlaps", 8);
}

static void test_wire_udp_truncated_and_impossible_lengths(void **state)
{
    frame f = load(UDP);
    uint8_t *udp = f.b + 34;
    expect_prefixes_rejected(parse_udp, udp, 19, -TW_ETRUNC);
    tw_udp_repr r;
    tw_bytes_store_be16(udp + 4, 7); /* shorter than the header */
    assert_int_equal(tw_udp_parse(udp, 19, HOST_A, HOST_B, &r), -TW_EMALFORMED);
    tw_bytes_store_be16(udp + 4, 20); /* longer than the IP payload */
    assert_int_equal(tw_udp_parse(udp, 19, HOST_A, HOST_B, &r), -TW_ETRUNC);
    tw_bytes_store_be16(udp + 4, 19);
    udp[9] ^= 4;
    assert_int_equal(tw_udp_parse(udp, 19, HOST_A, HOST_B, &r), -TW_EBADCSUM);
    tw_bytes_store_be16(udp + 2, 0); /* destination port 0 */
    fix_udp_checksum(udp, 19, HOST_A, HOST_B);
    assert_int_equal(tw_udp_parse(udp, 19, HOST_A, HOST_B, &r), -TW_EMALFORMED);
}

static void test_wire_udp_shorter_length_trims_payload(void **state)
{
    /* Bytes past the UDP length (but inside the IP payload) are not data. */
    frame f = load(UDP);
    uint8_t *udp = f.b + 34;
    tw_bytes_store_be16(udp + 4, 13);
    fix_udp_checksum(udp, 13, HOST_A, HOST_B);
    tw_udp_repr r;
    assert_int_equal(tw_udp_parse(udp, 19, HOST_A, HOST_B, &r), 0);
    assert_int_equal(r.payload_len, 5);
}

/* ---- TCP -------------------------------------------------------------- */

static void test_wire_tcp_parse_captured_syn(void **state)
{
    frame f = load(SYN);
    tw_ipv4_repr ip;
    const uint8_t *seg = l4_of(&f, &ip);
    tw_tcp_repr r;
    assert_int_equal(tw_tcp_parse(seg, ip.payload_len, ip.src, ip.dst, &r), 0);
    assert_int_equal(r.src_port, 40001);
    assert_int_equal(r.dst_port, 80);
    assert_int_equal(r.seq, 0x32b44cc7);
    assert_int_equal(r.ack, 0);
    assert_int_equal(r.flags, TW_TCP_SYN);
    assert_int_equal(r.window, 65535);
    assert_int_equal(r.urgent, 0);
    assert_true(r.opts.has_mss);
    assert_int_equal(r.opts.mss, 1460);
    assert_true(r.opts.sack_permitted);
    assert_true(r.opts.has_timestamp);
    assert_int_equal(r.opts.ts_val, 0x27e86720);
    assert_int_equal(r.opts.ts_ecr, 0);
    assert_true(r.opts.has_wscale);
    assert_int_equal(r.opts.wscale, 7);
    assert_int_equal(r.opts.sack_count, 0);
    assert_int_equal(r.payload_len, 0);
    assert_int_equal(tw_tcp_seg_len(&r), 1);
    char flags[TW_TCP_FLAGS_STRLEN];
    tw_tcp_flags_format(r.flags, flags);
    assert_string_equal(flags, "S");
}

static void test_wire_tcp_syn_round_trip_bytes(void **state)
{
    /* Emit reproduces Linux's option layout byte for byte. */
    frame f = load(SYN);
    tw_ipv4_repr ip;
    const uint8_t *seg = l4_of(&f, &ip);
    tw_tcp_repr r;
    assert_int_equal(tw_tcp_parse(seg, ip.payload_len, ip.src, ip.dst, &r), 0);
    uint8_t out[64];
    fresh(out, sizeof out);
    assert_int_equal(tw_tcp_repr_header_len(&r), 40);
    assert_int_equal(tw_tcp_repr_len(&r), 40);
    tw_tcp_emit(&r, ip.src, ip.dst, out);
    assert_memory_equal(out, seg, 40);
    assert_int_equal(out[40], 0xa5);
}

/* Emits a whole frame, layer by layer, from the reprs parsed out of it. */
static size_t emit_frame(const frame *f, uint8_t *out)
{
    tw_eth_repr eth;
    assert_int_equal(tw_eth_parse(f->b, f->len, &eth), 0);
    tw_ipv4_repr ip;
    assert_int_equal(tw_ipv4_parse(eth.payload, eth.payload_len, &ip), 0);
    uint8_t *l3 = out + tw_eth_repr_len(&eth);
    uint8_t *l4 = l3 + tw_ipv4_repr_len(&ip);
    size_t l4_len = 0;
    if (ip.protocol == TW_IP_PROTO_ICMP) {
        tw_icmp_repr r;
        assert_int_equal(tw_icmp_parse(ip.payload, ip.payload_len, &r), 0);
        tw_icmp_emit(&r, l4);
        l4_len = tw_icmp_repr_len(&r);
    } else if (ip.protocol == TW_IP_PROTO_UDP) {
        tw_udp_repr r;
        assert_int_equal(tw_udp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, &r), 0);
        tw_udp_emit(&r, ip.src, ip.dst, l4);
        l4_len = tw_udp_repr_len(&r);
    } else {
        assert_int_equal(ip.protocol, TW_IP_PROTO_TCP);
        tw_tcp_repr r;
        assert_int_equal(tw_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, &r), 0);
        tw_tcp_emit(&r, ip.src, ip.dst, l4);
        l4_len = tw_tcp_repr_len(&r);
    }
    ip.payload_len = (uint16_t)l4_len;
    tw_ipv4_emit(&ip, l3);
    tw_eth_emit(&eth, out);
    return (size_t)(l4 - out) + l4_len;
}

static void test_wire_every_captured_frame_round_trips(void **state)
{
    const char *const frames[] = {PING, UDP, SYN};
    for (size_t i = 0; i < 3; i++) {
        frame f = load(frames[i]);
        uint8_t out[128];
        fresh(out, sizeof out);
        size_t n = emit_frame(&f, out);
        assert_int_equal(n, f.len);
        assert_memory_equal(out, f.b, f.len);
        assert_int_equal(out[n], 0xa5);
    }
}

static void test_wire_tcp_data_segment_with_sack_round_trip(void **state)
{
    /* Timestamps and 3 SACK blocks: exactly 40 option bytes (RFC 2018 §3). */
    static const uint8_t data[] = "GET / HTTP/1.1\r\n\r\n";
    tw_tcp_repr r = {
        .src_port = 80,
        .dst_port = 40001,
        .seq = 0xfffffff0, /* about to wrap */
        .ack = 0x32b44cc8,
        .flags = TW_TCP_ACK | TW_TCP_PSH,
        .window = 502,
        .opts =
            {
                .has_timestamp = true,
                .ts_val = 1000,
                .ts_ecr = 0x27e86720,
                .sack_count = 3,
                .sack = {{100, 200}, {300, 400}, {0xfffffff0, 0x10}},
            },
        .payload = data,
        .payload_len = sizeof data - 1,
    };
    assert_int_equal(tw_tcp_repr_header_len(&r), 60);
    uint8_t out[128];
    fresh(out, sizeof out);
    tw_tcp_emit(&r, HOST_B, HOST_A, out);
    uint8_t want_opts[40];
    from_hex("0101080a 000003e8 27e86720"
             "0101051a 00000064 000000c8 0000012c 00000190 fffffff0 00000010",
             want_opts, sizeof want_opts);
    assert_memory_equal(out + 20, want_opts, 40);
    assert_int_equal(out[12], 0xf0); /* data offset 15 */
    assert_int_equal(out[60 + r.payload_len], 0xa5);
    tw_tcp_repr back;
    assert_int_equal(tw_tcp_parse(out, 60 + r.payload_len, HOST_B, HOST_A, &back), 0);
    assert_tcp_repr_equal(&r, &back);
    char flags[TW_TCP_FLAGS_STRLEN];
    tw_tcp_flags_format(back.flags, flags);
    assert_string_equal(flags, "P.");
}

static void test_wire_tcp_four_sack_blocks_without_timestamps(void **state)
{
    tw_tcp_repr r = {
        .src_port = 1,
        .dst_port = 2,
        .flags = TW_TCP_ACK,
        .opts = {.sack_count = 4, .sack = {{1, 2}, {3, 4}, {5, 6}, {7, 8}}},
    };
    assert_int_equal(tw_tcp_repr_header_len(&r), 56);
    uint8_t out[64];
    fresh(out, sizeof out);
    tw_tcp_emit(&r, HOST_A, HOST_B, out);
    assert_int_equal(out[56], 0xa5);
    tw_tcp_repr back;
    assert_int_equal(tw_tcp_parse(out, 56, HOST_A, HOST_B, &back), 0);
    assert_tcp_repr_equal(&r, &back);
}

static void test_wire_tcp_options_padded_to_four_in_every_combination(void **state)
{
    for (unsigned mask = 0; mask < 32; mask++) {
        tw_tcp_repr r = {.src_port = 7, .dst_port = 9, .seq = mask, .flags = TW_TCP_SYN};
        r.opts.has_mss = mask & 1;
        r.opts.mss = 1460;
        r.opts.has_wscale = (mask >> 1) & 1;
        r.opts.wscale = 14;
        r.opts.sack_permitted = (mask >> 2) & 1;
        r.opts.has_timestamp = (mask >> 3) & 1;
        r.opts.ts_val = 0xdeadbeef;
        r.opts.ts_ecr = 0;
        if (mask & 16) {
            /* SACK blocks fill whatever room is left. */
            size_t room = 40 - tw_tcp_options_encoded_len(&r.opts);
            r.opts.sack_count = (uint8_t)(room >= 12 ? (room - 4) / 8 : 0);
            for (unsigned i = 0; i < r.opts.sack_count; i++) {
                r.opts.sack[i] = (tw_tcp_sack_block){i * 1000, i * 1000 + 500};
            }
        }
        size_t header_len = tw_tcp_repr_header_len(&r);
        assert_int_equal(header_len % 4, 0);
        assert_true(header_len <= 60);
        uint8_t out[64];
        fresh(out, sizeof out);
        tw_tcp_emit(&r, HOST_A, HOST_B, out);
        assert_int_equal(tw_tcp_header_len(out), header_len);
        if (header_len < sizeof out) {
            assert_int_equal(out[header_len], 0xa5);
        }
        tw_tcp_repr back;
        assert_int_equal(tw_tcp_parse(out, header_len, HOST_A, HOST_B, &back), 0);
        assert_tcp_repr_equal(&r, &back);
    }
}

/* Builds a SYN segment with the given option bytes (a multiple of 4) and a
 * correct checksum; returns its length. */
static size_t syn_with_options(uint8_t *seg, const char *options_hex)
{
    frame f = load(SYN);
    memcpy(seg, f.b + 34, 20);
    size_t n = from_hex(options_hex, seg + 20, 40);
    assert_int_equal(n % 4, 0);
    seg[12] = (uint8_t)((20 + n) / 4 << 4);
    fix_tcp_checksum(seg, 20 + n, HOST_A, HOST_B);
    return 20 + n;
}

static void test_wire_tcp_unknown_options_skipped(void **state)
{
    /* MPTCP (30) and an experimental kind (254), then MSS: the unknown ones
     * are skipped by their lengths. */
    uint8_t seg[64];
    size_t len = syn_with_options(seg, "1e04 0000 fe06 f989 0000 0204 05b4 0101");
    tw_tcp_repr r;
    assert_int_equal(tw_tcp_parse(seg, len, HOST_A, HOST_B, &r), 0);
    assert_true(r.opts.has_mss);
    assert_int_equal(r.opts.mss, 1460);
    assert_false(r.opts.has_timestamp);
}

static void test_wire_tcp_options_end_at_eol(void **state)
{
    /* After EOL the rest is padding, even if it looks like a bad option. */
    uint8_t seg[64];
    size_t len = syn_with_options(seg, "0204 05b4 0100 0300");
    tw_tcp_repr r;
    assert_int_equal(tw_tcp_parse(seg, len, HOST_A, HOST_B, &r), 0);
    assert_true(r.opts.has_mss);
    assert_false(r.opts.has_wscale);
}

static void test_wire_tcp_wscale_clamped_to_14(void **state)
{
    /* RFC 7323 §2.3: a shift of 15 or more is used as 14. */
    uint8_t seg[64];
    size_t len = syn_with_options(seg, "0103 030f");
    tw_tcp_repr r;
    assert_int_equal(tw_tcp_parse(seg, len, HOST_A, HOST_B, &r), 0);
    assert_true(r.opts.has_wscale);
    assert_int_equal(r.opts.wscale, 14);
}

static void test_wire_tcp_rejects_bad_option_lengths(void **state)
{
    static const char *const bad[] = {
        "0200 0000",                     /* MSS, length 0 */
        "0201 0000",                     /* MSS, length 1 */
        "fe00 0000",                     /* unknown kind, length 0 */
        "0101 01fe",                     /* a kind with no room for its length */
        "0101 fe04",                     /* length runs past the header */
        "0203 05b4",                     /* MSS, length 3 */
        "0204 05b4 0304 0700 0000 0000", /* MSS ok, window scale length 4 */
        "0104 0300",                     /* SACK-permitted, length 3 */
        "0101 0808 0000 0000 0000 0000", /* timestamps, length 8 */
        "0101 0502 0000 0000",           /* SACK with no block */
        "0101 0509 0000 0000 0000 0000", /* SACK, length not 2 + 8n */
        "0204 05b4 0101 050a 0000 0000", /* SACK block past the header */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t seg[64];
        size_t len = syn_with_options(seg, bad[i]);
        tw_tcp_repr r;
        int err = tw_tcp_parse(seg, len, HOST_A, HOST_B, &r);
        if (err != -TW_EMALFORMED) {
            print_message("options %s: %s\n", bad[i], tw_error_name(err));
        }
        assert_int_equal(err, -TW_EMALFORMED);
    }
    /* The decoder leaves its cursor at the offending option. */
    uint8_t opts[8];
    from_hex("0101 0203 0000 0000", opts, sizeof opts);
    const uint8_t *cursor = opts;
    tw_tcp_options o;
    assert_int_equal(tw_tcp_options_decode(&cursor, opts + 8, &o), -TW_EMALFORMED);
    assert_ptr_equal(cursor, opts + 2);
}

static void test_wire_tcp_truncated_prefixes(void **state)
{
    frame f = load(SYN);
    expect_prefixes_rejected(parse_tcp, f.b + 34, 40, -TW_ETRUNC);
}

static void test_wire_tcp_rejects_bad_data_offset(void **state)
{
    frame f = load(SYN);
    uint8_t *seg = f.b + 34;
    tw_tcp_repr r;
    seg[12] = 0x40; /* 16 bytes: shorter than the fixed header */
    assert_int_equal(tw_tcp_parse(seg, 40, HOST_A, HOST_B, &r), -TW_EMALFORMED);
    seg[12] = 0x00;
    assert_int_equal(tw_tcp_parse(seg, 40, HOST_A, HOST_B, &r), -TW_EMALFORMED);
    seg[12] = 0xf0; /* 60 bytes in a 40-byte segment */
    assert_int_equal(tw_tcp_parse(seg, 40, HOST_A, HOST_B, &r), -TW_ETRUNC);
}

static void test_wire_tcp_rejects_bad_checksum(void **state)
{
    frame f = load(SYN);
    uint8_t *seg = f.b + 34;
    tw_tcp_repr r;
    seg[7] ^= 0x01; /* a sequence number bit */
    assert_int_equal(tw_tcp_parse(seg, 40, HOST_A, HOST_B, &r), -TW_EBADCSUM);
    seg[7] ^= 0x01;
    /* The pseudo-header binds the segment to its addresses. */
    assert_int_equal(tw_tcp_parse(seg, 40, HOST_B, HOST_A, &r), 0);
    assert_int_equal(tw_tcp_parse(seg, 40, HOST_A, TW_IPV4_ADDR(10, 7, 0, 3), &r), -TW_EBADCSUM);
}

static void test_wire_tcp_rejects_impossible_flags_and_ports(void **state)
{
    frame f = load(SYN);
    uint8_t *seg = f.b + 34;
    tw_tcp_repr r;
    static const uint8_t flags[] = {TW_TCP_SYN | TW_TCP_FIN, TW_TCP_SYN | TW_TCP_RST,
                                    TW_TCP_SYN | TW_TCP_RST | TW_TCP_ACK};
    for (size_t i = 0; i < sizeof flags; i++) {
        seg[13] = flags[i];
        fix_tcp_checksum(seg, 40, HOST_A, HOST_B);
        assert_int_equal(tw_tcp_parse(seg, 40, HOST_A, HOST_B, &r), -TW_EMALFORMED);
    }
    seg[13] = TW_TCP_FIN | TW_TCP_RST | TW_TCP_ACK; /* odd, but the state machine's call */
    fix_tcp_checksum(seg, 40, HOST_A, HOST_B);
    assert_int_equal(tw_tcp_parse(seg, 40, HOST_A, HOST_B, &r), 0);
    seg[13] = TW_TCP_SYN;
    tw_bytes_store_be16(seg + 2, 0);
    fix_tcp_checksum(seg, 40, HOST_A, HOST_B);
    assert_int_equal(tw_tcp_parse(seg, 40, HOST_A, HOST_B, &r), -TW_EMALFORMED);
}

static void test_wire_tcp_payload_in_place_not_copied(void **state)
{
    tw_tcp_repr r = {
        .src_port = 80,
        .dst_port = 40001,
        .seq = 1,
        .ack = 2,
        .flags = TW_TCP_ACK | TW_TCP_FIN,
        .window = 1000,
        .opts = {.has_timestamp = true, .ts_val = 5, .ts_ecr = 6},
    };
    uint8_t out[128];
    fresh(out, sizeof out);
    size_t header_len = tw_tcp_repr_header_len(&r);
    assert_int_equal(header_len, 32);
    memcpy(out + header_len, "built in place", 14);
    r.payload = out + header_len;
    r.payload_len = 14;
    tw_tcp_emit(&r, HOST_B, HOST_A, out);
    tw_tcp_repr back;
    assert_int_equal(tw_tcp_parse(out, header_len + 14, HOST_B, HOST_A, &back), 0);
    assert_memory_equal(back.payload, "built in place", 14);
    assert_int_equal(tw_tcp_seg_len(&back), 15); /* FIN takes a sequence number */
    assert_int_equal(out[header_len + 14], 0xa5);
}

static void test_wire_tcp_flags_format(void **state)
{
    char s[TW_TCP_FLAGS_STRLEN];
    tw_tcp_flags_format(TW_TCP_SYN | TW_TCP_ACK, s);
    assert_string_equal(s, "S.");
    tw_tcp_flags_format(TW_TCP_FIN | TW_TCP_PSH | TW_TCP_ACK, s);
    assert_string_equal(s, "FP.");
    tw_tcp_flags_format(0xff, s);
    assert_string_equal(s, "FSRP.UEW");
    tw_tcp_flags_format(0, s);
    assert_string_equal(s, "none");
}

/* ---- all parsers ------------------------------------------------------ */

/* Recomputes the checksum of the layer parser `which` reads, if it has one
 * and the bytes are long enough to hold it. */
static void fix_checksum(size_t which, uint8_t *b, size_t len)
{
    switch (which) {
    case 2:
        if (len >= 20 && tw_ipv4_header_len(b) >= 20 && tw_ipv4_header_len(b) <= len) {
            fix_ipv4_checksum(b);
        }
        break;
    case 3:
        if (len >= 8) {
            fix_icmp_checksum(b, len);
        }
        break;
    case 4:
        if (len >= 8 && tw_udp_length(b) <= len) {
            fix_udp_checksum(b, tw_udp_length(b), HOST_A, HOST_B);
        }
        break;
    case 5:
        if (len >= 20) {
            fix_tcp_checksum(b, len, HOST_A, HOST_B);
        }
        break;
    default:
        break;
    }
}

/* Random bytes, and captured frames with random bytes flipped, through every
 * parser in exact-size heap blocks: each returns 0 or one of the wire
 * errors, never reads out of bounds, and what parses re-emits to something
 * that parses to the same repr. */
static void test_wire_parsers_survive_random_input(void **state)
{
    static const parse_fn parsers[] = {parse_eth,  parse_arp, parse_ipv4,
                                       parse_icmp, parse_udp, parse_tcp};
    const char *const frames[] = {ARP_REQUEST, PING, UDP, SYN};
    int accepted[6] = {0};
    tw_rng rng;
    tw_rng_init(&rng, SEED, 1);
    for (int trial = 0; trial < 20000; trial++) {
        size_t len;
        uint8_t src[128];
        size_t which = (size_t)tw_rng_below(&rng, 6);
        if (trial % 2 == 0) {
            len = (size_t)tw_rng_below(&rng, 100);
            for (size_t i = 0; i < len; i++) {
                src[i] = (uint8_t)tw_rng_next(&rng);
            }
        } else {
            frame f = load(frames[tw_rng_below(&rng, 4)]);
            /* Start at the layer the parser reads. */
            size_t skip = which == 0 ? 0 : which == 1 || which == 2 ? 14 : 34;
            if (skip >= f.len) {
                skip = 14;
            }
            len = f.len - skip;
            memcpy(src, f.b + skip, len);
            int flips = (int)tw_rng_range(&rng, 1, 3);
            for (int k = 0; k < flips; k++) {
                src[tw_rng_below(&rng, len)] ^= (uint8_t)(1u << tw_rng_below(&rng, 8));
            }
            /* Half the time repair the checksum, so the flips reach the
             * checks behind it (lengths, flags, options). */
            if (trial % 4 == 1) {
                fix_checksum(which, src, len);
            }
        }
        uint8_t *copy = malloc(len > 0 ? len : 1);
        assert_non_null(copy);
        memcpy(copy, src, len);
        int err = parsers[which](copy, len);
        if (!(err == 0 || err == -TW_ETRUNC || err == -TW_EMALFORMED || err == -TW_EBADCSUM ||
              err == -TW_ENOTSUP)) {
            print_message("trial %d: %s; reproduce with seed=%llu\n", trial, tw_error_name(err),
                          (unsigned long long)SEED);
            fail();
        }
        if (err == 0 && which == 5) {
            tw_tcp_repr a, b;
            assert_int_equal(tw_tcp_parse(copy, len, HOST_A, HOST_B, &a), 0);
            uint8_t out[128];
            if (tw_tcp_repr_len(&a) <= sizeof out) {
                tw_tcp_emit(&a, HOST_A, HOST_B, out);
                assert_int_equal(tw_tcp_parse(out, tw_tcp_repr_len(&a), HOST_A, HOST_B, &b), 0);
                assert_tcp_repr_equal(&a, &b);
            }
        }
        accepted[which] += err == 0;
        if (err == 0 && which == 4) {
            tw_udp_repr a, b;
            assert_int_equal(tw_udp_parse(copy, len, HOST_A, HOST_B, &a), 0);
            uint8_t out[128];
            tw_udp_emit(&a, HOST_A, HOST_B, out);
            assert_int_equal(tw_udp_parse(out, tw_udp_repr_len(&a), HOST_A, HOST_B, &b), 0);
            assert_int_equal(a.src_port, b.src_port);
            assert_int_equal(a.dst_port, b.dst_port);
            assert_int_equal(a.payload_len, b.payload_len);
            assert_memory_equal(a.payload, b.payload, a.payload_len);
        }
        if (err == 0 && which == 2) {
            tw_ipv4_repr a, b;
            assert_int_equal(tw_ipv4_parse(copy, len, &a), 0);
            uint8_t out[128] = {0};
            tw_ipv4_emit(&a, out);
            if ((size_t)20 + a.payload_len <= sizeof out) {
                assert_int_equal(tw_ipv4_parse(out, 20 + a.payload_len, &b), 0);
                assert_ipv4_repr_equal(&a, &b);
            }
        }
        free(copy);
    }
    /* The property checks above ran on real successes for every parser. */
    for (size_t i = 0; i < 6; i++) {
        assert_true(accepted[i] > 50);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_eth_parse_captured_arp_frame),
        cmocka_unit_test(test_wire_eth_round_trip_bytes),
        cmocka_unit_test(test_wire_eth_vlan_tag_round_trip),
        cmocka_unit_test(test_wire_eth_truncated_prefixes),
        cmocka_unit_test(test_wire_eth_rejects_length_field_qinq_and_reserved_vlan),
        cmocka_unit_test(test_wire_mac_format_and_parse),
        cmocka_unit_test(test_wire_arp_parse_captured_request),
        cmocka_unit_test(test_wire_arp_round_trip_bytes),
        cmocka_unit_test(test_wire_arp_reply_bytes),
        cmocka_unit_test(test_wire_arp_truncated_prefixes),
        cmocka_unit_test(test_wire_arp_rejects_other_forms),
        cmocka_unit_test(test_wire_ipv4_parse_captured_ping),
        cmocka_unit_test(test_wire_ipv4_round_trip_bytes),
        cmocka_unit_test(test_wire_ipv4_trailer_padding_ignored),
        cmocka_unit_test(test_wire_ipv4_truncated_prefixes),
        cmocka_unit_test(test_wire_ipv4_rejects_impossible_lengths),
        cmocka_unit_test(test_wire_ipv4_bad_checksum_reported_distinctly),
        cmocka_unit_test(test_wire_ipv4_rejects_version_and_reserved_flag),
        cmocka_unit_test(test_wire_ipv4_options_skipped_by_length),
        cmocka_unit_test(test_wire_ipv4_fragment_fields_round_trip),
        cmocka_unit_test(test_wire_ipv4_addr_format_and_parse),
        cmocka_unit_test(test_wire_ipv4_addr_classes),
        cmocka_unit_test(test_wire_icmp_parse_captured_echo_request),
        cmocka_unit_test(test_wire_icmp_echo_round_trip_bytes),
        cmocka_unit_test(test_wire_icmp_echo_reply_in_place),
        cmocka_unit_test(test_wire_icmp_port_unreachable_quotes_datagram),
        cmocka_unit_test(test_wire_icmp_frag_needed_carries_mtu),
        cmocka_unit_test(test_wire_icmp_time_exceeded_round_trip),
        cmocka_unit_test(test_wire_icmp_truncated_prefixes),
        cmocka_unit_test(test_wire_icmp_rejects_bad_messages),
        cmocka_unit_test(test_wire_udp_parse_captured_datagram),
        cmocka_unit_test(test_wire_udp_round_trip_bytes),
        cmocka_unit_test(test_wire_udp_zero_checksum_means_none),
        cmocka_unit_test(test_wire_udp_emit_never_writes_zero_checksum),
        cmocka_unit_test(test_wire_udp_payload_in_place_not_copied),
        cmocka_unit_test(test_wire_udp_truncated_and_impossible_lengths),
        cmocka_unit_test(test_wire_udp_shorter_length_trims_payload),
        cmocka_unit_test(test_wire_tcp_parse_captured_syn),
        cmocka_unit_test(test_wire_tcp_syn_round_trip_bytes),
        cmocka_unit_test(test_wire_every_captured_frame_round_trips),
        cmocka_unit_test(test_wire_tcp_data_segment_with_sack_round_trip),
        cmocka_unit_test(test_wire_tcp_four_sack_blocks_without_timestamps),
        cmocka_unit_test(test_wire_tcp_options_padded_to_four_in_every_combination),
        cmocka_unit_test(test_wire_tcp_unknown_options_skipped),
        cmocka_unit_test(test_wire_tcp_options_end_at_eol),
        cmocka_unit_test(test_wire_tcp_wscale_clamped_to_14),
        cmocka_unit_test(test_wire_tcp_rejects_bad_option_lengths),
        cmocka_unit_test(test_wire_tcp_truncated_prefixes),
        cmocka_unit_test(test_wire_tcp_rejects_bad_data_offset),
        cmocka_unit_test(test_wire_tcp_rejects_bad_checksum),
        cmocka_unit_test(test_wire_tcp_rejects_impossible_flags_and_ports),
        cmocka_unit_test(test_wire_tcp_payload_in_place_not_copied),
        cmocka_unit_test(test_wire_tcp_flags_format),
        cmocka_unit_test(test_wire_parsers_survive_random_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
