/* IPv4 in the stack: input validation and demultiplexing, forwarding,
 * output with fragmentation.
 *
 * Reading list:
 *   RFC 791   Internet Protocol (§3.1 the header, §3.2 fragmentation)
 *   RFC 1122 §3.2.1  what a host checks on receipt (version, checksum,
 *             addresses); §3.3.6 broadcasts; §3.3.4.2 the weak host model
 *   RFC 1812 §5.2   forwarding: §5.2.2 checks, §5.2.4.3 next hop, §5.2.6
 *             fragmentation, §5.3.1 TTL; §5.3.4 no forwarding of link-layer
 *             broadcasts; §5.3.7 martian addresses
 *   RFC 1624  incremental checksum update (the TTL decrement)
 *   RFC 1191  path MTU discovery ("fragmentation needed" carries the MTU)
 *   RFC 6864  the Identification field */
#ifndef TW_NET_IPV4_H
#define TW_NET_IPV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/time.h"
#include "wire/ipv4.h"

typedef struct tw_stack tw_stack;

/* A validated datagram (or fragment) as the upper layers see it. The bytes
 * are the input frame's (valid during tw_stack_on_frame) or a reassembly
 * buffer's (then ref names it, so UDP can keep them without a copy). */
typedef struct tw_net_dgram {
    const uint8_t *header; /* the IPv4 header, options included */
    const uint8_t *payload;
    uint16_t header_len;
    uint16_t payload_len;
    tw_ipv4_addr src;
    tw_ipv4_addr dst;
    uint8_t protocol;
    uint8_t ttl;
    uint16_t ident;
    uint16_t frag_offset; /* bytes */
    bool more_frags;
    bool dont_frag;
    bool broadcast;      /* to a limited or directed broadcast address */
    bool link_broadcast; /* arrived in an Ethernet broadcast frame */
    uint32_t iface;      /* arrived on */
    uint32_t ref;        /* TW_NET_REF_NONE, or the reassembly buffer */
} tw_net_dgram;

/* What to send: the transport message as up to two pieces (a header and a
 * body, so callers need not copy them together), its checksum already
 * written. */
typedef struct tw_ipv4_out {
    tw_ipv4_addr src; /* 0: the address of the outgoing interface */
    tw_ipv4_addr dst;
    uint8_t protocol;
    uint8_t ttl;
    bool dont_frag;
    uint32_t origin; /* TW_NET_ORIGIN_* or a UDP endpoint id */
    const uint8_t *head;
    size_t head_len;
    const uint8_t *body;
    size_t body_len;
} tw_ipv4_out;

/* An Ethernet payload of type IPv4 arrived on iface. Sets the rx outcome. */
void tw_ipv4_input(tw_stack *s, tw_ns now, uint32_t iface, const uint8_t *pkt, size_t len,
                   bool link_broadcast);

/* Hands a complete datagram for us to its transport. Sets the rx outcome. */
void tw_ipv4_deliver(tw_stack *s, tw_ns now, const tw_net_dgram *d);

/* A datagram this core reassembled, when the host's RSS (tw_stack_config
 * rss, core, ncores) steers its flow to another core: queues it for that
 * core as a hand-off (tw_frame_out.steer) and returns true, the rx outcome
 * set (delivered, or dropped as steer_no_buffer). False: the flow is ours
 * (or the host has one core), deliver it here. Its fragments came here by
 * their addresses alone (a NIC cannot see the ports of a non-first
 * fragment), so without this the connection or endpoint that owns the
 * flow on another core would never see it. NOTE: the hand-off carries a
 * 20-byte header, so IP options are not carried (nothing in twin sends
 * them; forwarded fragments lose them likewise). */
bool tw_ipv4_handoff(tw_stack *s, tw_ns now, const tw_net_dgram *d);

/* The interface and next hop for dst: 0, or -TW_EUNREACH when no route
 * leads there or its interface is down. The limited broadcast address
 * leaves by the first interface that is up. */
int tw_ipv4_route(tw_stack *s, tw_ipv4_addr dst, uint32_t *iface, tw_ipv4_addr *next_hop);

/* Routes, fragments (when the datagram exceeds the interface MTU and DF is
 * clear) and hands each frame to ARP. Returns 0 once every frame is sent
 * or parked for resolution, -TW_EUNREACH (no route), -TW_ETOOBIG (too big
 * for 65535 bytes, or for the MTU with DF set), -TW_ENOMEM (not enough
 * free frame buffers for all fragments: nothing is sent), or the error of
 * a counted drop. */
int tw_ipv4_send(tw_stack *s, tw_ns now, const tw_ipv4_out *o);

/* A datagram view of bytes the stack built or checked itself (a frame
 * parked for ARP, say): no validation beyond the lengths. Returns 0 or
 * -TW_EMALFORMED. */
int tw_ipv4_dgram_of(const uint8_t *pkt, size_t len, uint32_t iface, tw_net_dgram *out);

#endif
