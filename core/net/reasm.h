/* IPv4 reassembly: a fixed set of buffers, each rebuilding one datagram
 * from its fragments.
 *
 * Reading list:
 *   RFC 791 §3.2   fragmentation and reassembly; fragments are identified
 *                  by (source, destination, protocol, identification)
 *   RFC 815        IP datagram reassembly algorithms (hole accounting)
 *   RFC 1122 §3.3.2  a reassembly timeout; ICMP time exceeded (code 1) only
 *                  when fragment zero has arrived
 *   RFC 5722       handling of overlapping IPv6 fragments
 *
 * NOTE: RFC 5722 is written for IPv6, where overlapping fragments MUST
 * discard the whole datagram. We apply the same strictness to IPv4
 * (overlaps have no legitimate use, and permissive reassembly is how
 * teardrop-style attacks and IDS evasion work), except that an exact
 * duplicate of a fragment already held (same offset and length) is
 * tolerated: links duplicate frames, and dropping the datagram for that
 * would turn a harmless duplicate into a loss. The duplicate itself is
 * counted (reasm_duplicate) and its bytes ignored.
 *
 * A buffer holds the datagram's header (from fragment zero, options
 * included) just before its data, so a complete datagram is contiguous and
 * can be quoted in ICMP errors or handed to UDP without a copy. When UDP
 * queues a reassembled datagram the buffer stays HELD until the
 * application has read it. */
#ifndef TW_NET_REASM_H
#define TW_NET_REASM_H

#include <stdbool.h>
#include <stdint.h>

#include "base/time.h"
#include "base/timer.h"
#include "wire/ipv4.h"

typedef struct tw_stack tw_stack;
typedef struct tw_net_dgram tw_net_dgram;

typedef struct tw_reasm_config {
    uint32_t slots;            /* datagrams reassembled at once */
    uint32_t datagram_len_max; /* payload bytes of one reassembled datagram */
    uint32_t fragments_max;    /* fragments of one datagram */
    tw_ns timeout_ns;
    bool icmp_time_exceeded; /* send ICMP time exceeded, code 1, on timeout */
} tw_reasm_config;

typedef enum tw_reasm_state {
    TW_REASM_FREE = 0,
    TW_REASM_ACTIVE, /* collecting fragments */
    TW_REASM_HELD,   /* complete, queued to an application */
} tw_reasm_state;

typedef struct tw_reasm_range {
    uint32_t start; /* payload byte offsets, [start, end) */
    uint32_t end;
} tw_reasm_range;

typedef struct tw_reasm_slot {
    tw_timer timer;
    tw_ipv4_addr src;
    tw_ipv4_addr dst;
    uint16_t ident;
    uint8_t protocol;
    uint8_t state; /* tw_reasm_state */
    uint16_t iface;
    uint8_t header_len; /* of fragment zero, once it has arrived */
    bool have_last;
    uint32_t total_len; /* payload bytes, known once have_last */
    uint32_t received;  /* payload bytes held */
    uint32_t range_count;
    tw_reasm_range *ranges; /* sorted by start, disjoint */
    uint8_t *buf;           /* header area, then the payload */
} tw_reasm_slot;

typedef struct tw_reasm_stats {
    uint64_t fragments;
    uint64_t started;
    uint64_t completed;
    uint64_t timeouts;
    uint64_t overlaps;
    uint64_t duplicates;
    uint64_t refused; /* datagrams given up for a limit (slots, size, count) */
} tw_reasm_stats;

typedef struct tw_reasm {
    tw_reasm_config cfg;
    tw_reasm_slot *slots;
    tw_reasm_range *ranges;
    uint8_t *mem;
    uint32_t active;
    tw_reasm_stats stats;
} tw_reasm;

/* Where a slot's payload starts in its buffer: room for the longest header
 * in front of it. */
#define TW_REASM_DATA_OFFSET TW_IPV4_HEADER_LEN_MAX

void tw_reasm_init(tw_reasm *r, const tw_reasm_config *cfg);
void tw_reasm_free(tw_reasm *r);

/* A fragment for us arrived (validated IPv4 header, MF set or offset
 * non-zero). Either holds it, drops it with a reason, or, when it
 * completes its datagram, delivers the datagram. Sets the rx outcome. */
void tw_reasm_input(tw_stack *s, tw_ns now, const tw_net_dgram *frag);

/* The slot's timer fired: the datagram is incomplete and is dropped. */
void tw_reasm_on_timer(tw_stack *s, tw_ns now, uint32_t slot);

/* UDP keeps the complete datagram in slot (which is ACTIVE, being
 * delivered) until the application reads it. */
void tw_reasm_hold(tw_reasm *r, uint32_t slot);

/* The application has read the HELD datagram in slot: the buffer is free. */
void tw_reasm_release(tw_reasm *r, uint32_t slot);

/* Slots not FREE (for tests: an incomplete datagram must not leak one). */
static inline uint32_t tw_reasm_in_use(const tw_reasm *r)
{
    return r->active;
}

#endif
