/* The user-space network stack: one sans-io instance per core.
 *
 * A stack owns its interfaces (MAC, IPv4 address and prefix, MTU), a
 * neighbour cache (ARP), a routing table, IPv4 input, forwarding (when
 * configured as a router), fragmentation and reassembly, ICMP and UDP
 * endpoints. It speaks the four verbs of everything in twin:
 *
 *   tw_stack_on_frame     a frame arrived on an interface
 *   tw_stack_on_tick      deadlines are due (ARP retries and expiry,
 *                         reassembly timeouts)
 *   tw_stack_pop_frame    a frame to transmit; pop until false
 *   tw_stack_pop_event    an application event; pop until false
 *   tw_stack_next_deadline
 *
 * and the application calls tw_stack_udp_bind/send/close and tw_stack_ping.
 * Time is an argument of every call that can start or check a deadline;
 * the stack reads no clock, draws no randomness and allocates nothing
 * after tw_stack_create. Every limit is in tw_stack_config; reaching one is
 * a counted drop (tw_iface_counters.drops) or an error return, never
 * undefined. Every frame given to tw_stack_on_frame ends as exactly one of
 * delivered, forwarded, held (a fragment) or dropped with a reason (a
 * fragment completing a datagram that is handed to another core counts as
 * delivered: see tw_frame_out.steer).
 *
 * Ordering obligations: `now` never decreases from call to call. Frames and
 * events should be popped until empty after each input, as with every
 * twin state machine; what is not popped waits in bounded queues and what
 * does not fit is dropped and counted. */
#ifndef TW_NET_STACK_H
#define TW_NET_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/time.h"
#include "net/arp.h"
#include "net/drop.h"
#include "net/icmp.h"
#include "net/iface.h"
#include "net/reasm.h"
#include "net/route.h"
#include "net/tcp/tcp.h"
#include "net/udp.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"
#include "wire/rss.h"

typedef struct tw_stack tw_stack;

typedef struct tw_stack_config {
    uint32_t ifaces_max;
    uint16_t mtu_max; /* the largest interface MTU: sizes the frame buffers */
    bool forwarding;  /* a router: forward datagrams not addressed to us */
    uint8_t ttl;      /* of datagrams we originate */
    uint32_t frame_buffers;
    uint32_t tx_queue_len;    /* frames built and not yet popped */
    uint32_t event_queue_len; /* events other than UDP datagrams */
    uint32_t routes_max;
    tw_arp_config arp;
    tw_reasm_config reasm;
    tw_udp_config udp;
    tw_icmp_config icmp;
    /* Share-nothing steering: this stack serves one core (core of ncores)
     * of a host whose NIC hashes flows with rss. UDP binds that name their
     * peer pick a local port whose replies the NIC steers back here, and a
     * datagram reassembled here whose flow hashes to another core is handed
     * to it. NULL: any port, and no hand-offs. */
    const tw_rss *rss;
    uint16_t core;
    uint16_t ncores;
    bool tcp_enabled;  /* a TCP instance behind protocol 6 */
    tw_tcp_config tcp; /* its configuration (its mtu follows mtu_max) */
    uint16_t tcp_mss;  /* 0: mtu_max - 40; else the MSS we announce and send, at most that */
} tw_stack_config;

/* Values for a host: 4 interfaces, MTU 1500, 1024 frame buffers; ARP with
 * 256 entries, 1 s retries (RFC 1122 §2.3.2.1), 3 retries, 60 s entries;
 * 16 reassembly buffers of 65535 bytes, 30 s timeout; 64 UDP endpoints of
 * 64 datagrams; ICMP errors at 100/s with a burst of 10. */
void tw_stack_config_default(tw_stack_config *cfg);

/* Allocates everything the stack will ever use (init time). Asserts that
 * the configuration is coherent. */
tw_stack *tw_stack_create(const tw_stack_config *cfg, tw_ns now);
void tw_stack_destroy(tw_stack *s);

/* ---- configuration (init time or between runs) ----------------------- */

/* Adds an interface (down) and the connected route of its prefix. Returns
 * the interface id (0, 1, ...), -TW_EINVAL (see tw_iface_init, or an MTU
 * over mtu_max), -TW_EEXIST (the address or prefix is taken), -TW_EFULL. */
int tw_stack_iface_add(tw_stack *s, const tw_iface_config *cfg);
/* Brings an interface up and announces its address with a gratuitous ARP
 * (RFC 5227 §3). 0 or -TW_EINVAL. */
int tw_stack_iface_up(tw_stack *s, tw_ns now, uint32_t iface);
/* Takes an interface down: its learned neighbours are forgotten and
 * packets waiting on them dropped; frames arriving on it are dropped. */
int tw_stack_iface_down(tw_stack *s, tw_ns now, uint32_t iface);
/* Emits another gratuitous ARP for the interface's address. */
int tw_stack_arp_announce(tw_stack *s, tw_ns now, uint32_t iface);
/* A permanent neighbour entry. -TW_EINVAL, -TW_EFULL. */
int tw_stack_arp_add(tw_stack *s, tw_ns now, uint32_t iface, tw_ipv4_addr addr, tw_mac mac);

/* A static route to dst/prefix_len through gateway, which must be on the
 * link of one of our interfaces (its connected route decides which).
 * -TW_EINVAL, -TW_EUNREACH (gateway not on link), -TW_EEXIST, -TW_EFULL. */
int tw_stack_route_add(tw_stack *s, tw_ipv4_addr dst, uint8_t prefix_len, tw_ipv4_addr gateway);
/* The default route (0.0.0.0/0) through gateway. */
int tw_stack_route_default(tw_stack *s, tw_ipv4_addr gateway);
int tw_stack_route_del(tw_stack *s, tw_ipv4_addr dst, uint8_t prefix_len);

/* ---- the sans-io contract --------------------------------------------- */

/* A frame to transmit: data points into a stack-owned buffer that stays
 * valid until the next tw_stack_pop_frame.
 *
 * A hand-off (steer set) is not for the wire: a datagram this core
 * reassembled whose flow the host's RSS steers to another core (`core`).
 * Its fragments were steered here by their addresses alone, as a NIC must
 * (only the first fragment carries the ports), but the TCP connection or
 * UDP endpoint lives on the core its 4-tuple hashes to. The frame is the
 * datagram re-framed as received on iface (unfragmented when it fits the
 * interface MTU, else fragments of that MTU, which the target core
 * reassembles and keeps: the whole datagram hashes to it). The driver
 * feeds it to that core's stack as a frame received on iface. */
typedef struct tw_frame_out {
    uint32_t iface;
    uint32_t len;
    const uint8_t *data;
    bool steer;
    uint16_t core; /* steer: the core of this host to receive it */
} tw_frame_out;

typedef enum tw_net_event_kind {
    /* A datagram for endpoint: from remote_addr:remote_port to
     * local_addr:local_port; payload/payload_len. */
    TW_NET_EV_UDP_DATAGRAM = 1,
    /* A datagram the endpoint sent to remote_addr:remote_port could not be
     * delivered: error is -TW_ECONNREFUSED (port unreachable), -TW_EUNREACH
     * (network, host or protocol unreachable, or ARP resolution failed
     * here), -TW_ETOOBIG (fragmentation needed; mtu is the next hop's) or
     * -TW_ETIMEDOUT (time exceeded in transit or in reassembly).
     * icmp_type/icmp_code are the ICMP message's (destination unreachable,
     * host, for a local resolution failure); reporter is who said so. */
    TW_NET_EV_UDP_ERROR,
    /* An echo reply from remote_addr: echo_id, echo_seq, payload_len. */
    TW_NET_EV_ECHO_REPLY,
    /* An echo request we sent (echo_id, echo_seq, to remote_addr) met an
     * error; fields as TW_NET_EV_UDP_ERROR. */
    TW_NET_EV_ECHO_ERROR,
} tw_net_event_kind;

typedef struct tw_net_event {
    tw_net_event_kind kind;
    uint32_t endpoint; /* UDP events: the endpoint id */
    uint32_t iface;    /* the interface it arrived on */
    int32_t error;     /* error events: -TW_E* */
    tw_ipv4_addr local_addr;
    tw_ipv4_addr remote_addr;
    tw_ipv4_addr reporter; /* error events: the ICMP message's source */
    uint16_t local_port;
    uint16_t remote_port;
    uint16_t echo_id;
    uint16_t echo_seq;
    uint8_t icmp_type;
    uint8_t icmp_code;
    uint16_t mtu;
    /* Datagram events: the payload, valid until the next
     * tw_stack_pop_event. Echo replies: payload_len only. */
    const uint8_t *payload;
    size_t payload_len;
} tw_net_event;

void tw_stack_on_frame(tw_stack *s, tw_ns now, uint32_t iface, const uint8_t *frame, size_t len);
void tw_stack_on_tick(tw_stack *s, tw_ns now);
bool tw_stack_pop_frame(tw_stack *s, tw_ns now, tw_frame_out *out);
bool tw_stack_pop_event(tw_stack *s, tw_ns now, tw_net_event *ev);
/* The next time tw_stack_on_tick has work (a lower bound: a call at it may
 * find nothing due yet), or TW_NS_NEVER. */
tw_ns tw_stack_next_deadline(const tw_stack *s);

/* ---- applications ----------------------------------------------------- */

/* Binds a UDP endpoint to addr (0: any of ours) and port (0: an ephemeral
 * port). Returns the endpoint id (>= 0), -TW_EADDRINUSE, -TW_EFULL (no free
 * endpoint or ephemeral port), -TW_EINVAL (addr is not ours). */
int tw_stack_udp_bind(tw_stack *s, tw_ipv4_addr addr, uint16_t port);
/* Sends len bytes to dst:port; datagrams over the MTU are fragmented, and
 * those to an unresolved next hop wait for ARP (a later failure comes
 * back as TW_NET_EV_UDP_ERROR). Returns 0, -TW_EINVAL (bad endpoint,
 * address or port), -TW_ETOOBIG (over 65507 bytes), -TW_EUNREACH (no
 * route), -TW_ENOMEM (not enough frame buffers), -TW_EFULL (a queue is
 * full; counted as a drop), -TW_ENOTSUP (to one of our own addresses: there
 * is no loopback). */
int tw_stack_udp_send(tw_stack *s, tw_ns now, uint32_t ep, tw_ipv4_addr dst, uint16_t port,
                      const void *data, size_t len);
/* Binds to addr (0: the address toward remote) and an ephemeral port
 * whose replies from remote:rport this core's NIC queue receives (see
 * tw_stack_config.rss): a share-nothing client's "connected" socket.
 * Errors as tw_stack_udp_bind; -TW_EFULL when no port lands here. */
int tw_stack_udp_bind_for(tw_stack *s, tw_ipv4_addr addr, tw_ipv4_addr remote, uint16_t rport);
/* Closes the endpoint; datagrams still queued for it are discarded. */
int tw_stack_udp_close(tw_stack *s, uint32_t ep);
/* The port an endpoint is bound to (after a port 0 bind), or 0. */
uint16_t tw_stack_udp_port(const tw_stack *s, uint32_t ep);

/* The stack's TCP instance (NULL when tcp_enabled is off): applications call
 * the tw_tcp_* verbs on it directly; the segments it makes leave through
 * this stack's IPv4 at the next tw_stack_pop_frame, and its events are
 * popped with tw_tcp_pop_event. */
tw_tcp *tw_stack_tcp(tw_stack *s);

/* The address of the interface a datagram to dst would leave by, or 0
 * when no route leads there: the local address of a connection. */
tw_ipv4_addr tw_stack_source_for(tw_stack *s, tw_ipv4_addr dst);

/* Sends an ICMP echo request with len bytes of data; the answer comes back
 * as TW_NET_EV_ECHO_REPLY (or _ERROR). Errors as tw_stack_udp_send. */
int tw_stack_ping(tw_stack *s, tw_ns now, tw_ipv4_addr dst, uint16_t id, uint16_t seq,
                  const void *data, size_t len);

/* ---- observation ------------------------------------------------------ */

typedef struct tw_stack_stats {
    uint64_t frames_in;
    uint64_t frames_out;
    uint64_t events_out;
    uint64_t datagrams_out; /* IP datagrams we originated */
    uint64_t fragments_out; /* frames that carried a fragment we made */
    uint64_t forwarded;
    uint64_t handoffs; /* reassembled datagrams handed to another core */
    const tw_arp_stats *arp;
    const tw_reasm_stats *reasm;
    const tw_icmp_stats *icmp;
    const tw_udp_stats *udp;
    uint32_t frame_buffers_in_use;
    uint32_t frame_buffers_high;
    uint64_t frame_buffers_exhausted;
    uint32_t tx_queue_len;
    uint32_t event_queue_len;
    uint32_t arp_entries;
    uint32_t arp_pending;
    uint32_t reasm_in_use;
} tw_stack_stats;

uint32_t tw_stack_iface_count(const tw_stack *s);
const tw_iface *tw_stack_iface(const tw_stack *s, uint32_t iface);
const tw_iface_counters *tw_stack_iface_counters(const tw_stack *s, uint32_t iface);
void tw_stack_stats_get(const tw_stack *s, tw_stack_stats *out);
/* The endpoint's receive counters, or NULL for a dead id. */
const tw_udp_endpoint *tw_stack_udp_endpoint(const tw_stack *s, uint32_t ep);

/* ---- flow steering ----------------------------------------------------- */

/* The RSS hash a NIC computes for this frame, to pick the core (and so
 * the stack) that handles its flow: the Toeplitz hash of the IPv4 4-tuple
 * for unfragmented TCP and UDP, of the address pair for other IPv4 (all
 * fragments included, so a datagram's fragments stay together), and 0 for
 * frames that are not IPv4 or are too short to say. */
uint32_t tw_stack_flow_hash(const tw_rss *rss, const uint8_t *frame, size_t len);

#endif
