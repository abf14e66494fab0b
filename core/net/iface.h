/* Interfaces: one Ethernet port with its MAC address, one IPv4 address and
 * prefix, an MTU, an up/down state and its counters. A host has one; a
 * router has several.
 *
 * Reading list:
 *   RFC 791 §3.2  every host must accept 576-byte datagrams and every link
 *                 carry 68 bytes unfragmented (the smallest MTU here)
 *   RFC 919, RFC 922  limited and directed broadcast addresses
 *   RFC 3021  /31 point-to-point subnets have no broadcast address */
#ifndef TW_NET_IFACE_H
#define TW_NET_IFACE_H

#include <stdbool.h>
#include <stdint.h>

#include "net/drop.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"

/* RFC 791 §3.2: "Every internet module must be able to forward a datagram
 * of 68 octets without further fragmentation." */
#define TW_IFACE_MTU_MIN 68
#define TW_IFACE_MTU_DEFAULT 1500

typedef struct tw_iface_config {
    tw_mac mac;
    tw_ipv4_addr addr;
    uint8_t prefix_len; /* 1..32 */
    uint16_t mtu;       /* IP bytes per frame; 0 means TW_IFACE_MTU_DEFAULT */
} tw_iface_config;

typedef struct tw_iface {
    tw_mac mac;
    bool up;
    uint8_t prefix_len;
    tw_ipv4_addr addr;
    uint16_t mtu;
    tw_iface_counters c;
} tw_iface;

/* Checks the configuration: a unicast MAC, a usable unicast address (not
 * 0, broadcast, multicast, loopback, nor the subnet's own or broadcast
 * address), a prefix of 1..32, an MTU of at least 68. Returns 0 or -TW_EINVAL. The interface
 * starts down. */
int tw_iface_init(tw_iface *ifc, const tw_iface_config *cfg);

static inline bool tw_iface_owns(const tw_iface *ifc, tw_ipv4_addr a)
{
    return a == ifc->addr;
}

static inline bool tw_iface_on_link(const tw_iface *ifc, tw_ipv4_addr a)
{
    return tw_ipv4_addr_in_subnet(a, ifc->addr, ifc->prefix_len);
}

/* The directed broadcast address of the interface's subnet (RFC 922): all
 * host bits set. /31 and /32 subnets have none (RFC 3021), and then this is
 * the limited broadcast address, which is a broadcast anyway. */
static inline tw_ipv4_addr tw_iface_bcast(const tw_iface *ifc)
{
    if (ifc->prefix_len >= 31) {
        return TW_IPV4_ADDR_BROADCAST;
    }
    return ifc->addr | ~tw_ipv4_prefix_mask(ifc->prefix_len);
}

#endif
