/* The routing table: connected routes (one per interface prefix), static
 * routes and a default route, looked up by longest prefix match.
 *
 * Reading list:
 *   RFC 1812 §5.2.4.3  next-hop selection: the longest matching prefix wins
 *   RFC 1122 §3.3.1    how a host picks the next hop: on-link destinations
 *                      directly, the rest through a gateway
 *
 * NOTE: the table is an array kept sorted by prefix length, longest first,
 * so the first match is the longest and a lookup is a linear scan. A host
 * or a simulated router has a handful of routes; a full Internet table
 * would want a trie. */
#ifndef TW_NET_ROUTE_H
#define TW_NET_ROUTE_H

#include <stdint.h>

#include "wire/ipv4.h"

typedef struct tw_route {
    tw_ipv4_addr dst;     /* the prefix, host bits zero */
    uint8_t prefix_len;   /* 0 (default route) ..32 */
    tw_ipv4_addr gateway; /* 0 for a connected route: the destination is on link */
    uint32_t iface;
} tw_route;

typedef struct tw_route_table {
    tw_route *routes;
    uint32_t count;
    uint32_t max;
    uint64_t lookups;
    uint64_t misses;
} tw_route_table;

void tw_route_table_init(tw_route_table *t, uint32_t max);
void tw_route_table_free(tw_route_table *t);

/* Adds a route; host bits of dst are cleared. -TW_EINVAL for a prefix
 * length over 32, -TW_EEXIST when the same prefix is already routed,
 * -TW_EFULL when the table is full. */
int tw_route_add(tw_route_table *t, const tw_route *r);
/* -TW_ENOENT when no route has exactly this prefix. */
int tw_route_del(tw_route_table *t, tw_ipv4_addr dst, uint8_t prefix_len);

/* The route with the longest prefix containing dst, or NULL. */
const tw_route *tw_route_lookup(tw_route_table *t, tw_ipv4_addr dst);

/* Where a datagram for dst goes next under route r: the gateway, or dst
 * itself when it is on link. */
static inline tw_ipv4_addr tw_route_next_hop(const tw_route *r, tw_ipv4_addr dst)
{
    return r->gateway ? r->gateway : dst;
}

#endif
