/* UDP endpoints: bind, send, close, and a bounded receive queue per
 * endpoint whose datagrams surface as events.
 *
 * Reading list:
 *   RFC 768   User Datagram Protocol
 *   RFC 1122 §4.1.3.1  ports; §4.1.3.4 checksums; §4.1.3.6 a datagram to a
 *             broadcast address goes to endpoints bound to the wildcard
 *   RFC 6335 §6  the dynamic (ephemeral) port range 49152..65535
 *
 * An endpoint is bound to (address, port), address 0 meaning any of ours.
 * Two endpoints may not share a port unless both name different specific
 * addresses. A received datagram goes to the endpoint bound to its exact
 * destination address if there is one, else to the wildcard endpoint.
 * Endpoint ids carry a generation, so an id kept after close never names
 * the endpoint that reuses the slot. */
#ifndef TW_NET_UDP_H
#define TW_NET_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/time.h"
#include "wire/ipv4.h"

typedef struct tw_stack tw_stack;
typedef struct tw_net_dgram tw_net_dgram;
typedef struct tw_net_event tw_net_event;

typedef struct tw_udp_config {
    uint32_t endpoints_max;   /* <= 65535 */
    uint32_t queue_len;       /* datagrams queued per endpoint */
    uint16_t ephemeral_first; /* port 0 binds pick from [first, last] */
    uint16_t ephemeral_last;
} tw_udp_config;

/* A received datagram waiting to be read. */
typedef struct tw_udp_rx {
    const uint8_t *payload;
    uint32_t len;
    uint32_t ref; /* what holds the bytes (see tw_net_ref_release) */
    tw_ipv4_addr src;
    tw_ipv4_addr dst;
    uint16_t src_port;
    uint16_t iface;
} tw_udp_rx;

typedef struct tw_udp_endpoint {
    tw_ipv4_addr addr;
    uint16_t port;
    uint16_t gen;
    uint8_t open;
    uint8_t ready; /* on the ready list */
    uint32_t hash_next;
    uint32_t ready_next;
    tw_udp_rx *queue; /* ring of queue_len */
    uint32_t q_head;
    uint32_t q_len;
    uint64_t rx_datagrams;
    uint64_t rx_overflows;
    uint64_t tx_datagrams;
    uint64_t errors;
} tw_udp_endpoint;

typedef struct tw_udp_stats {
    uint64_t datagrams_in;
    uint64_t datagrams_out;
    uint64_t no_endpoint;
    uint64_t queue_overflows;
    uint64_t errors_in; /* ICMP errors and resolution failures reported */
} tw_udp_stats;

typedef struct tw_udp_table {
    tw_udp_config cfg;
    tw_udp_endpoint *eps;
    tw_udp_rx *rx_mem;
    uint32_t *buckets; /* by port; chains through hash_next */
    uint32_t bucket_mask;
    uint32_t *free_stack;
    uint32_t free_len;
    uint32_t ready_head; /* endpoints with datagrams, oldest first */
    uint32_t ready_tail;
    uint16_t next_ephemeral;
    tw_udp_stats stats;
} tw_udp_table;

#define TW_UDP_EP_NONE UINT32_MAX

void tw_udp_table_init(tw_udp_table *t, const tw_udp_config *cfg);
void tw_udp_table_free(tw_udp_table *t);

/* The slot index of a live endpoint id, or TW_UDP_EP_NONE. */
uint32_t tw_udp_slot_of(const tw_udp_table *t, uint32_t id);
/* The id of a live endpoint slot. */
uint32_t tw_udp_id_of(const tw_udp_table *t, uint32_t slot);
/* The endpoint that would receive a datagram to (addr, port), or
 * TW_UDP_EP_NONE. broadcast: only wildcard endpoints qualify. */
uint32_t tw_udp_match(const tw_udp_table *t, tw_ipv4_addr addr, uint16_t port, bool broadcast);

/* A UDP datagram for us (possibly reassembled). Sets the rx outcome. */
void tw_udp_input(tw_stack *s, tw_ns now, const tw_net_dgram *d);

/* Fills ev with the oldest datagram of the endpoint at the head of the
 * ready list (endpoints take turns) and says true, or says false when no
 * datagram waits. The bytes stay valid until the caller releases *ref. */
bool tw_udp_pop_datagram(tw_stack *s, tw_net_event *ev, uint32_t *ref);

#endif
