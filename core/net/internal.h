/* The stack's insides, shared by its components (arp, ipv4, reasm, icmp,
 * udp, stack) and by nothing else: applications and drivers use stack.h.
 *
 * Accounting of received frames. tw_stack_on_frame sets rx.outcome to
 * PENDING, and every path a frame can take ends by setting exactly one
 * outcome through the helpers below (asserted), so a frame cannot leave
 * the stack uncounted. Drops of packets the stack itself sends go through
 * tw_net_drop, which counts the reason but is no rx outcome. */
#ifndef TW_NET_INTERNAL_H
#define TW_NET_INTERNAL_H

#include "base/assert.h"
#include "base/ring.h"
#include "base/timer.h"
#include "net/fbuf.h"
#include "net/ipv4.h"
#include "net/stack.h"

/* Who a frame buffer's packet came from, so that a failure to send it can
 * be reported: a UDP endpoint id, or one of these. */
#define TW_NET_ORIGIN_STACK 0xffffffffu   /* replies, errors, ARP: tell no one */
#define TW_NET_ORIGIN_FORWARD 0xfffffffeu /* forwarded: ICMP to its source */
#define TW_NET_ORIGIN_ECHO 0xfffffffdu    /* our echo request: an event */
#define TW_NET_ORIGIN_TCP 0xfffffffcu     /* a TCP segment: TCP recovers on its own */
#define TW_NET_ORIGIN_STEER 0xfffffffbu   /* a hand-off to another core (steer_core) */

/* What holds the bytes of a datagram the application has not read yet: a
 * frame buffer index, or a reassembly slot with this bit set. */
#define TW_NET_REF_NONE 0xffffffffu
#define TW_NET_REF_REASM 0x80000000u

/* Timer owners (tw_timer.owner); the token is the entry or slot index. */
enum {
    TW_NET_TIMER_ARP = 1,
    TW_NET_TIMER_REASM = 2,
};

typedef enum tw_rx_outcome {
    TW_RX_PENDING = 0,
    TW_RX_DELIVERED,
    TW_RX_FORWARDED,
    TW_RX_HELD,
    TW_RX_DROPPED,
    TW_RX_IDLE, /* no frame is being received */
} tw_rx_outcome;

struct tw_stack {
    tw_stack_config cfg;
    tw_iface *ifaces;
    uint32_t iface_count;
    tw_fbuf_pool fbufs;
    tw_ring tx;     /* uint32_t frame buffer indices */
    tw_ring events; /* tw_net_event */
    tw_wheel wheel;
    tw_route_table routes;
    tw_arp_cache arp;
    tw_reasm reasm;
    tw_udp_table udp;
    tw_icmp_state icmp;
    tw_tcp *tcp;          /* NULL without TCP */
    uint64_t tcp_out_lost; /* segments IPv4 refused (TCP retransmits them) */
    uint16_t next_ident;
    uint32_t udp_pick; /* where tw_stack_udp_bind_for looks next */
    uint32_t hold_frame; /* the buffer of the frame popped last */
    uint32_t hold_ref;   /* what holds the payload of the event popped last */
    /* The core each frame buffer queued as a hand-off is for (indexed by
     * buffer; meaningful while its origin is TW_NET_ORIGIN_STEER). */
    uint16_t *steer_core;
    struct {
        uint32_t iface;
        tw_rx_outcome outcome;
        tw_mac src; /* the Ethernet source of the frame being received */
    } rx;
    uint64_t frames_in;
    uint64_t frames_out;
    uint64_t events_out;
    uint64_t datagrams_out;
    uint64_t fragments_out;
    uint64_t forwarded;
    uint64_t handoffs; /* reassembled datagrams handed to their flow's core */
};

/* Frame buffer layout: the Ethernet header, then the IP datagram. */
#define TW_NET_L3_OFFSET TW_ETH_HEADER_LEN

static inline tw_iface *tw_net_iface(tw_stack *s, uint32_t iface)
{
    TW_ASSERT(iface < s->iface_count);
    return &s->ifaces[iface];
}

/* Counts a drop of reason r on iface; no rx outcome. */
static inline void tw_net_drop(tw_stack *s, uint32_t iface, tw_drop_reason r)
{
    TW_ASSERT((unsigned)r < TW_DROP_COUNT);
    tw_net_iface(s, iface)->c.drops[r]++;
}

static inline void tw_net_rx_outcome(tw_stack *s, tw_rx_outcome o)
{
    TW_ASSERT(o != TW_RX_PENDING);
    TW_ASSERT(s->rx.outcome == TW_RX_PENDING); /* one outcome per frame */
    s->rx.outcome = o;
}

/* The frame being received is dropped for reason r. */
static inline void tw_net_rx_drop(tw_stack *s, tw_drop_reason r)
{
    tw_net_drop(s, s->rx.iface, r);
    tw_net_rx_outcome(s, TW_RX_DROPPED);
}

/* True while tw_stack_on_frame is running and the frame has no outcome. */
static inline bool tw_net_rx_pending(const tw_stack *s)
{
    return s->rx.outcome == TW_RX_PENDING;
}

/* Queues frame buffer buf (complete, meta len and iface set) for the
 * driver. Returns 0, or -TW_EFULL after counting tx_queue_full and freeing
 * the buffer. */
int tw_net_tx(tw_stack *s, uint32_t buf);

/* Queues an application event. Returns 0, or -TW_EFULL after counting
 * event_queue_full on ev->iface. */
int tw_net_event_push(tw_stack *s, const tw_net_event *ev);

/* Frees what a ref names (a frame buffer or a reassembly slot). */
void tw_net_ref_release(tw_stack *s, uint32_t ref);

/* Tells the sender of datagram `sent` (ours: its header and at least 8
 * transport bytes, as sent or as quoted back by ICMP) that it could not be
 * delivered: an error event for the UDP endpoint (origin is its id) or for
 * our echo request (TW_NET_ORIGIN_ECHO). Returns 0, -TW_ENOENT when there is
 * no one to tell (another origin, a closed endpoint, a quote that does not
 * fit), or -TW_EFULL when the event queue was full (counted). */
int tw_net_report_error(tw_stack *s, uint32_t origin, const tw_net_dgram *sent, int error,
                        uint8_t icmp_type, uint8_t icmp_code, uint16_t mtu, tw_ipv4_addr reporter,
                        uint32_t iface);

/* True when addr is the address of one of our interfaces. */
bool tw_net_is_local(const tw_stack *s, tw_ipv4_addr addr);
/* True when addr is the limited broadcast address or the directed
 * broadcast address of one of our interfaces. */
bool tw_net_is_bcast(const tw_stack *s, tw_ipv4_addr addr);

/* The NIC's RSS hash of an IPv4 datagram (tw_stack_flow_hash without the
 * Ethernet header), and the core of this host it steers to. */
uint32_t tw_net_flow_hash_ipv4(const tw_rss *rss, const uint8_t *ip, size_t len);
uint16_t tw_net_core_of(const tw_stack *s, uint32_t hash);

/* The next Identification value (RFC 6864 §4.1: unique per source,
 * destination and protocol for the datagram's lifetime; one counter for
 * all of them satisfies that). */
static inline uint16_t tw_net_next_ident(tw_stack *s)
{
    return s->next_ident++;
}

#endif
