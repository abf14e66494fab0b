/* Why a packet was dropped. Every packet the stack discards is counted
 * under exactly one of these reasons, on the interface it arrived on (or,
 * for packets the stack was sending, the interface it would have left by):
 * nothing is dropped silently.
 *
 * The list is an X-macro so the enum, the names and the descriptions
 * cannot drift apart. Names are stable identifiers for reports. */
#ifndef TW_NET_DROP_H
#define TW_NET_DROP_H

#include <stdint.h>

#define TW_DROP_REASONS(X)                                                                         \
    X(IFACE_DOWN, "iface_down", "arrived on or routed to an interface that is down")               \
    X(ETH_TRUNCATED, "eth_truncated", "frame shorter than an Ethernet header")                     \
    X(ETH_TOO_LONG, "eth_too_long", "frame longer than the interface MTU allows")                  \
    X(ETH_NOT_FOR_US, "eth_not_for_us", "unicast frame for another MAC address")                   \
    X(ETH_MULTICAST, "eth_multicast", "multicast frame (no group is joined)")                      \
    X(ETH_BAD_SRC, "eth_bad_src", "multicast or own source MAC address")                           \
    X(ETH_VLAN, "eth_vlan", "802.1Q tagged frame on an untagged interface")                        \
    X(ETH_UNSUPPORTED, "eth_unsupported", "EtherType or 802.3 length frame not spoken")            \
    X(ARP_TRUNCATED, "arp_truncated", "ARP packet shorter than its declared lengths")              \
    X(ARP_UNSUPPORTED, "arp_unsupported", "ARP for other hardware, protocol or operation")         \
    X(ARP_MALFORMED, "arp_malformed", "ARP packet with impossible fields")                         \
    X(ARP_BAD_SENDER, "arp_bad_sender", "ARP sender address unusable or our own")                  \
    X(ARP_NOT_FOR_US, "arp_not_for_us", "ARP for another target, about no known neighbour")        \
    X(ARP_CACHE_FULL, "arp_cache_full", "no free neighbour entry to resolve the next hop")         \
    X(ARP_PENDING_FULL, "arp_pending_full", "too many packets waiting for address resolution")     \
    X(ARP_FAILED, "arp_failed", "next hop did not answer ARP requests")                            \
    X(IPV4_TRUNCATED, "ipv4_truncated", "datagram shorter than its header or total length")        \
    X(IPV4_BAD_VERSION, "ipv4_bad_version", "IP version is not 4")                                 \
    X(IPV4_BAD_HEADER_LEN, "ipv4_bad_header_len", "IHL below 5")                                   \
    X(IPV4_BAD_CHECKSUM, "ipv4_bad_checksum", "header checksum wrong")                             \
    X(IPV4_BAD_TOTAL_LEN, "ipv4_bad_total_len", "total length shorter than the header")            \
    X(IPV4_BAD_FLAGS, "ipv4_bad_flags", "reserved flag set")                                       \
    X(IPV4_BAD_FRAGMENT, "ipv4_bad_fragment", "fragment empty, misaligned or past 65535 bytes")    \
    X(IPV4_BAD_SRC, "ipv4_bad_src", "source broadcast, multicast, loopback or ours")               \
    X(IPV4_BAD_DST, "ipv4_bad_dst", "destination unspecified or loopback")                         \
    X(IPV4_LINK_BCAST, "ipv4_link_bcast", "unicast datagram in a link-layer broadcast")            \
    X(IPV4_MULTICAST, "ipv4_multicast", "multicast datagram (no group is joined)")                 \
    X(IPV4_NOT_FOR_US, "ipv4_not_for_us", "datagram for another host and forwarding is off")       \
    X(IPV4_TTL_EXCEEDED, "ipv4_ttl_exceeded", "TTL ran out while forwarding")                      \
    X(IPV4_NO_ROUTE, "ipv4_no_route", "no route to the destination")                               \
    X(IPV4_FRAG_NEEDED, "ipv4_frag_needed", "too big for the next hop and DF set")                 \
    X(IPV4_UNKNOWN_PROTOCOL, "ipv4_unknown_protocol", "no handler for the transport protocol")     \
    X(REASM_NO_SLOT, "reasm_no_slot", "every reassembly buffer is busy")                           \
    X(REASM_TOO_BIG, "reasm_too_big", "reassembled datagram would exceed the limit")               \
    X(REASM_TOO_MANY_FRAGS, "reasm_too_many_frags", "datagram split into too many fragments")      \
    X(REASM_OVERLAP, "reasm_overlap", "fragments overlap or disagree on the end")                  \
    X(REASM_DUPLICATE, "reasm_duplicate", "exact duplicate of a fragment already held")            \
    X(REASM_TIMEOUT, "reasm_timeout", "datagram not complete in time")                             \
    X(STEER_NO_BUFFER, "steer_no_buffer", "no frame buffer to hand a datagram to its core")        \
    X(ICMP_TRUNCATED, "icmp_truncated", "ICMP message shorter than its header")                    \
    X(ICMP_BAD_CHECKSUM, "icmp_bad_checksum", "ICMP checksum wrong")                               \
    X(ICMP_MALFORMED, "icmp_malformed", "ICMP code or quoted datagram impossible")                 \
    X(ICMP_UNSUPPORTED, "icmp_unsupported", "ICMP type not handled")                               \
    X(ICMP_BROADCAST_ECHO, "icmp_broadcast_echo", "echo request to a broadcast address")           \
    X(ICMP_UNMATCHED, "icmp_unmatched", "ICMP message about nothing we sent")                      \
    X(UDP_TRUNCATED, "udp_truncated", "UDP datagram shorter than its length field")                \
    X(UDP_BAD_LENGTH, "udp_bad_length", "UDP length below the header length")                      \
    X(UDP_BAD_CHECKSUM, "udp_bad_checksum", "UDP checksum wrong")                                  \
    X(UDP_BAD_PORT, "udp_bad_port", "UDP destination port 0")                                      \
    X(UDP_NO_ENDPOINT, "udp_no_endpoint", "no endpoint bound to the destination port")             \
    X(UDP_QUEUE_FULL, "udp_queue_full", "endpoint receive queue full")                             \
    X(NO_BUFFER, "no_buffer", "frame buffer pool exhausted")                                       \
    X(TX_QUEUE_FULL, "tx_queue_full", "transmit queue full")                                       \
    X(EVENT_QUEUE_FULL, "event_queue_full", "application event queue full")

typedef enum tw_drop_reason {
#define TW_DROP_ENUM(id, name, what) TW_DROP_##id,
    TW_DROP_REASONS(TW_DROP_ENUM)
#undef TW_DROP_ENUM
        TW_DROP_COUNT
} tw_drop_reason;

/* The stable name ("ipv4_bad_checksum") and a one-line description. */
const char *tw_drop_name(tw_drop_reason r);
const char *tw_drop_what(tw_drop_reason r);

/* Per-interface counters. Every frame handed to tw_stack_on_frame ends in
 * exactly one of the four rx outcomes, so
 *   rx_frames == rx_delivered + rx_forwarded + rx_held + rx_dropped
 * holds at all times; rx_dropped frames are each also counted under one
 * reason in drops[], which further counts the drops of packets the stack
 * was sending (ARP failures, full queues) and of whole datagrams
 * (reassembly timeouts). */
typedef struct tw_iface_counters {
    uint64_t rx_frames;
    uint64_t rx_bytes;
    uint64_t rx_delivered; /* consumed here: ARP, ICMP, a queued UDP datagram */
    uint64_t rx_forwarded; /* routed on towards another host (queued to send) */
    uint64_t rx_held;      /* a fragment kept for reassembly */
    uint64_t rx_dropped;
    uint64_t tx_frames;
    uint64_t tx_bytes;
    uint64_t drops[TW_DROP_COUNT];
} tw_iface_counters;

/* The sum of drops[] over every reason. */
uint64_t tw_drop_total(const tw_iface_counters *c);

#endif
