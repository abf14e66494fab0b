/* ARP for IPv4 over Ethernet.
 *
 * Reading list:
 *   RFC 826   An Ethernet Address Resolution Protocol
 *   RFC 5227  IPv4 Address Conflict Detection (probes: sender address 0)
 *   RFC 5494  IANA allocations (hardware type 1, operations)
 *
 * Conventions as in wire/ethernet.h. Only the Ethernet/IPv4 form is parsed
 * (hardware type 1, protocol 0x0800, lengths 6 and 4); other forms are
 * valid ARP that this stack does not speak (-TW_ENOTSUP). */
#ifndef TW_WIRE_ARP_H
#define TW_WIRE_ARP_H

#include <stddef.h>
#include <stdint.h>

#include "wire/bytes.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"

/* The Ethernet/IPv4 packet: 8 fixed bytes and two (MAC, IPv4) pairs. */
#define TW_ARP_LEN 28
#define TW_ARP_FIXED_LEN 8
#define TW_ARP_HTYPE_ETHERNET 1

enum {
    TW_ARP_OP_REQUEST = 1,
    TW_ARP_OP_REPLY = 2,
};

/* 0, or -TW_ETRUNC when the buffer is shorter than the Ethernet/IPv4 form
 * or than the addresses the length fields declare. The address accessors
 * read the Ethernet/IPv4 offsets; they are in bounds after the check but
 * only meaningful once parse has accepted the packet. */
int tw_arp_view_check(const uint8_t *buf, size_t len);

static inline uint16_t tw_arp_htype(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf);
}
static inline uint16_t tw_arp_ptype(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 2);
}
static inline uint8_t tw_arp_hlen(const uint8_t *buf)
{
    return buf[4];
}
static inline uint8_t tw_arp_plen(const uint8_t *buf)
{
    return buf[5];
}
static inline uint16_t tw_arp_op(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 6);
}
static inline tw_mac tw_arp_sha(const uint8_t *buf)
{
    return tw_mac_load(buf + 8);
}
static inline tw_ipv4_addr tw_arp_spa(const uint8_t *buf)
{
    return tw_ipv4_addr_load(buf + 14);
}
static inline tw_mac tw_arp_tha(const uint8_t *buf)
{
    return tw_mac_load(buf + 18);
}
static inline tw_ipv4_addr tw_arp_tpa(const uint8_t *buf)
{
    return tw_ipv4_addr_load(buf + 24);
}

typedef struct tw_arp_repr {
    uint16_t op;
    tw_mac sha; /* sender hardware address */
    tw_ipv4_addr spa;
    tw_mac tha; /* target hardware address (zero in a request) */
    tw_ipv4_addr tpa;
} tw_arp_repr;

/* -TW_ENOTSUP for other hardware or protocol types and for operations
 * other than request and reply (RARP, InARP); -TW_EMALFORMED for a
 * multicast sender hardware address, which no interface can own. */
int tw_arp_parse(const uint8_t *buf, size_t len, tw_arp_repr *out);

static inline size_t tw_arp_repr_len(const tw_arp_repr *r)
{
    (void)r;
    return TW_ARP_LEN;
}

void tw_arp_emit(const tw_arp_repr *r, uint8_t *buf);

#endif
