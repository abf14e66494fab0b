/* Ethernet II frames with an optional 802.1Q VLAN tag, and MAC addresses.
 *
 * Reading list:
 *   IEEE 802.3 §3.2.6 (Length/Type: values >= 0x0600 are EtherTypes)
 *   IEEE 802.1Q §9.6 (the tag: TPID 0x8100, then PCP, DEI and VLAN id)
 *
 * The conventions of every header in core/wire:
 *
 * - A *view* is the raw buffer. tw_<h>_view_check(buf, len) checks once that
 *   the lengths the header declares fit in len; after it returns 0 the
 *   inline accessors tw_<h>_<field>(buf) cannot read out of bounds.
 * - A *repr* is the parsed header as plain values. tw_<h>_parse(buf, len,
 *   ..., out) runs the view check and then rejects impossible states;
 *   tw_<h>_emit(repr, ..., buf) writes exactly tw_<h>_repr_len(repr) bytes.
 *   Emitting a repr that parse would reject is a programmer error (assert).
 * - Errors: -TW_ETRUNC when the header, or a length it declares, runs past
 *   the buffer; -TW_EMALFORMED when fields contradict the specification or
 *   each other; -TW_EBADCSUM when a checksum is wrong; -TW_ENOTSUP for
 *   valid messages of kinds this stack does not handle. On error the repr
 *   is unspecified.
 * - Reprs that parse a payload point into the parsed buffer (payload,
 *   payload_len) without copying.
 * - Fields are in host order; addresses too (tw_ipv4_addr is a uint32_t). */
#ifndef TW_WIRE_ETHERNET_H
#define TW_WIRE_ETHERNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wire/bytes.h"

#define TW_MAC_LEN 6
/* "xx:xx:xx:xx:xx:xx" and its terminating zero. */
#define TW_MAC_STRLEN 18

typedef struct tw_mac {
    uint8_t b[TW_MAC_LEN];
} tw_mac;

#define TW_MAC_BROADCAST ((tw_mac){{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})
#define TW_MAC_ZERO ((tw_mac){{0, 0, 0, 0, 0, 0}})

static inline tw_mac tw_mac_load(const uint8_t *p)
{
    tw_mac m;
    memcpy(m.b, p, TW_MAC_LEN);
    return m;
}

static inline void tw_mac_store(uint8_t *p, tw_mac m)
{
    memcpy(p, m.b, TW_MAC_LEN);
}

static inline bool tw_mac_equal(tw_mac a, tw_mac b)
{
    return memcmp(a.b, b.b, TW_MAC_LEN) == 0;
}

/* The group bit (the least significant bit of the first octet) is set for
 * multicast and broadcast addresses. */
static inline bool tw_mac_is_multicast(tw_mac m)
{
    return (m.b[0] & 0x01) != 0;
}

static inline bool tw_mac_is_broadcast(tw_mac m)
{
    return tw_mac_equal(m, TW_MAC_BROADCAST);
}

static inline bool tw_mac_is_zero(tw_mac m)
{
    return tw_mac_equal(m, TW_MAC_ZERO);
}

/* A locally administered unicast address from the low 40 bits of id, for
 * simulated hosts: 02:xx:xx:xx:xx:xx. */
tw_mac tw_mac_from_id(uint64_t id);

/* Writes "xx:xx:xx:xx:xx:xx" (lower case) and its terminating zero. */
void tw_mac_format(tw_mac m, char out[TW_MAC_STRLEN]);

/* Parses exactly six colon-separated pairs of hex digits, either case.
 * Returns 0 or -TW_EINVAL. */
int tw_mac_parse(const char *s, tw_mac *out);

enum {
    TW_ETHERTYPE_IPV4 = 0x0800,
    TW_ETHERTYPE_ARP = 0x0806,
    TW_ETHERTYPE_VLAN = 0x8100,
    TW_ETHERTYPE_IPV6 = 0x86dd,
    /* IEEE 802.3: smaller Length/Type values are lengths (802.3/LLC). */
    TW_ETHERTYPE_MIN = 0x0600,
};

#define TW_ETH_HEADER_LEN 14
#define TW_ETH_VLAN_TAG_LEN 4
#define TW_ETH_VLAN_HEADER_LEN (TW_ETH_HEADER_LEN + TW_ETH_VLAN_TAG_LEN)
/* IEEE 802.1Q: VLAN id 0xfff is reserved and never sent. */
#define TW_VLAN_ID_RESERVED 0xfff

/* The 16-bit tag control information: priority (PCP), drop eligible (DEI)
 * and VLAN id. */
static inline uint16_t tw_vlan_tci(uint8_t pcp, bool dei, uint16_t vid)
{
    return (uint16_t)((pcp & 7u) << 13 | (dei ? 1u : 0u) << 12 | (vid & 0xfffu));
}
static inline uint8_t tw_vlan_pcp(uint16_t tci)
{
    return (uint8_t)(tci >> 13);
}
static inline bool tw_vlan_dei(uint16_t tci)
{
    return (tci >> 12 & 1) != 0;
}
static inline uint16_t tw_vlan_id(uint16_t tci)
{
    return tci & 0xfff;
}

/* 0, or -TW_ETRUNC when the buffer cannot hold the header (and the VLAN tag
 * when the outer type says there is one). */
int tw_eth_view_check(const uint8_t *buf, size_t len);

static inline tw_mac tw_eth_dst(const uint8_t *buf)
{
    return tw_mac_load(buf);
}
static inline tw_mac tw_eth_src(const uint8_t *buf)
{
    return tw_mac_load(buf + 6);
}
static inline bool tw_eth_has_vlan(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 12) == TW_ETHERTYPE_VLAN;
}
/* Only meaningful when tw_eth_has_vlan(buf). */
static inline uint16_t tw_eth_vlan_tci(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 14);
}
/* The type of the payload: the inner type of a tagged frame. */
static inline uint16_t tw_eth_ethertype(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + (tw_eth_has_vlan(buf) ? 16 : 12));
}
static inline size_t tw_eth_header_len(const uint8_t *buf)
{
    return tw_eth_has_vlan(buf) ? TW_ETH_VLAN_HEADER_LEN : TW_ETH_HEADER_LEN;
}

typedef struct tw_eth_repr {
    tw_mac dst;
    tw_mac src;
    uint16_t ethertype; /* of the payload (inner type when tagged) */
    bool has_vlan;
    uint16_t vlan_tci;
    /* parse only: everything after the header, trailer padding included
     * (the IPv4 total length says where the datagram ends). */
    const uint8_t *payload;
    size_t payload_len;
} tw_eth_repr;

/* Rejects 802.3 length-field frames and stacked tags (-TW_ENOTSUP) and the
 * reserved VLAN id (-TW_EMALFORMED). */
int tw_eth_parse(const uint8_t *buf, size_t len, tw_eth_repr *out);

static inline size_t tw_eth_repr_len(const tw_eth_repr *r)
{
    return r->has_vlan ? TW_ETH_VLAN_HEADER_LEN : TW_ETH_HEADER_LEN;
}

/* Writes the header; the payload goes at buf + tw_eth_repr_len(r). */
void tw_eth_emit(const tw_eth_repr *r, uint8_t *buf);

#endif
