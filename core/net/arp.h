/* The neighbour cache: ARP resolution of next hops on Ethernet.
 *
 * Reading list:
 *   RFC 826   An Ethernet Address Resolution Protocol ("Packet Reception":
 *             the merge rule, learning from requests that target us)
 *   RFC 1122 §2.3.2.1  cache entries time out; requests to one address are
 *             sent at most once a second; §2.3.2.2 packets waiting for
 *             resolution are queued, a small number per destination
 *   RFC 5227 §3  ARP announcements (gratuitous ARP) when an address comes up
 *
 * An entry is INCOMPLETE while requests go out (every retry_interval_ns, at
 * most 1 + retries of them), REACHABLE for entry_ttl_ns after the answer,
 * or STATIC (configured, never expires). Packets for an INCOMPLETE entry
 * wait in its bounded pending list; when the last retry goes unanswered the
 * entry is freed and each waiting packet is dropped (arp_failed) with news
 * to its sender: ICMP host unreachable for a forwarded datagram, an error
 * event for one of ours.
 *
 * NOTE: no STALE/PROBE states (RFC 4861-style reachability confirmation):
 * a REACHABLE entry simply expires and the next packet resolves again. */
#ifndef TW_NET_ARP_H
#define TW_NET_ARP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/time.h"
#include "base/timer.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"

typedef struct tw_stack tw_stack;

typedef struct tw_arp_config {
    uint32_t entries_max;
    uint32_t pending_per_entry; /* packets waiting on one next hop */
    uint32_t pending_total;     /* packets waiting on all next hops */
    uint32_t retries;           /* requests after the first before giving up */
    tw_ns retry_interval_ns;
    tw_ns entry_ttl_ns;
} tw_arp_config;

typedef enum tw_arp_state {
    TW_ARP_FREE = 0,
    TW_ARP_INCOMPLETE,
    TW_ARP_REACHABLE,
    TW_ARP_STATIC,
} tw_arp_state;

typedef struct tw_arp_entry {
    tw_timer timer;
    tw_ipv4_addr addr;
    tw_mac mac;
    uint8_t state;    /* tw_arp_state */
    uint8_t requests; /* sent while INCOMPLETE */
    uint16_t iface;
    uint32_t hash_next;
    uint32_t pending_head; /* frame buffers, linked through tw_fbuf_meta.next */
    uint32_t pending_tail;
    uint32_t pending_len;
} tw_arp_entry;

typedef struct tw_arp_stats {
    uint64_t requests_sent;
    uint64_t replies_sent;
    uint64_t announcements_sent;
    uint64_t requests_received;
    uint64_t replies_received;
    uint64_t learned;  /* entries created from a request or reply */
    uint64_t updated;  /* entries refreshed (RFC 826 merge) */
    uint64_t resolved; /* INCOMPLETE entries answered */
    uint64_t expired;
    uint64_t failed;        /* entries given up on */
    uint64_t learn_refused; /* senders not learned: the cache was full */
    uint64_t pending_queued;
    uint64_t pending_sent;
} tw_arp_stats;

typedef struct tw_arp_cache {
    tw_arp_config cfg;
    tw_arp_entry *entries;
    uint32_t *buckets; /* by hash of (iface, addr); chains through hash_next */
    uint32_t bucket_mask;
    uint32_t *free_stack;
    uint32_t free_len;
    uint32_t pending_total;
    tw_arp_stats stats;
} tw_arp_cache;

void tw_arp_cache_init(tw_arp_cache *c, const tw_arp_config *cfg);
void tw_arp_cache_free(tw_arp_cache *c);
/* The entry for addr on iface in any state but FREE, or NULL. */
tw_arp_entry *tw_arp_cache_find(const tw_arp_cache *c, uint32_t iface, tw_ipv4_addr addr);
static inline uint32_t tw_arp_cache_used(const tw_arp_cache *c)
{
    return c->cfg.entries_max - c->free_len;
}

/* An ARP packet (the Ethernet payload) arrived on iface. Sets the frame's
 * rx outcome. */
void tw_arp_input(tw_stack *s, tw_ns now, uint32_t iface, const uint8_t *pkt, size_t len);

/* Sends frame buffer buf (an IPv4 datagram at offset 14, meta len and
 * origin set) to next_hop on iface: fills in the Ethernet header and
 * queues it for transmission when the neighbour is known, else parks it
 * and starts resolution. Always takes ownership of buf. Returns 0 (sent or
 * parked) or the negative error of a counted drop. */
int tw_arp_output(tw_stack *s, tw_ns now, uint32_t iface, tw_ipv4_addr next_hop, uint32_t buf);

/* The entry's timer fired: retry, give up, or expire. */
void tw_arp_on_timer(tw_stack *s, tw_ns now, uint32_t entry);

/* Broadcasts an ARP announcement for the interface's address (RFC 5227
 * §3: a request with sender and target both our address). */
int tw_arp_announce(tw_stack *s, tw_ns now, uint32_t iface);

/* A permanent entry (replaces any learned one and flushes its pending
 * packets to the wire). -TW_EFULL when the cache is full. */
int tw_arp_add_static(tw_stack *s, tw_ns now, uint32_t iface, tw_ipv4_addr addr, tw_mac mac);

/* Forgets every learned entry of iface, dropping what waits on them
 * (interface down); static entries stay. */
void tw_arp_flush_iface(tw_stack *s, tw_ns now, uint32_t iface);

#endif
