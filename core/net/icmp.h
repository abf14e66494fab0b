/* ICMPv4: echo (answering pings and sending our own), the errors the stack
 * sends (port and host unreachable, time exceeded, fragmentation needed),
 * and the errors it receives, turned into events for whoever sent the
 * datagram they quote.
 *
 * Reading list:
 *   RFC 792   Internet Control Message Protocol
 *   RFC 1122 §3.2.2    when a host MUST NOT send an error (about an error,
 *             a broadcast, a non-initial fragment, a non-unicast source);
 *             §3.2.2.6 echo; §3.2.2.1 unreachable codes to report upward
 *   RFC 1812 §4.3.2.8  rate limiting ICMP errors; §4.3.2.4 the source
 *             address of an error a router sends
 *   RFC 1191 §4  the next-hop MTU in "fragmentation needed"
 *
 * Errors are rate limited by a token bucket in integer nanoseconds: each
 * error costs error_interval_ns of credit, credit accrues with time up to
 * error_burst errors' worth. */
#ifndef TW_NET_ICMP_H
#define TW_NET_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/time.h"
#include "wire/ipv4.h"

typedef struct tw_stack tw_stack;
typedef struct tw_net_dgram tw_net_dgram;

typedef struct tw_icmp_config {
    uint32_t error_burst;    /* errors sent back to back at most */
    tw_ns error_interval_ns; /* one error per this, sustained; 0: no limit */
} tw_icmp_config;

typedef struct tw_icmp_stats {
    uint64_t echo_requests_in;
    uint64_t echo_replies_out;
    uint64_t echo_requests_out;
    uint64_t echo_replies_in;
    uint64_t errors_in;
    uint64_t errors_out;
    uint64_t errors_rate_limited;
    uint64_t errors_suppressed; /* RFC 1122 §3.2.2 forbids an error about it */
} tw_icmp_stats;

typedef struct tw_icmp_state {
    tw_icmp_config cfg;
    tw_ns credit_ns;
    tw_ns last_ns;
    tw_icmp_stats stats;
} tw_icmp_state;

/* The bucket starts full. */
void tw_icmp_init(tw_icmp_state *st, const tw_icmp_config *cfg, tw_ns now);

/* Takes one error's credit and says true, or says false (and counts it)
 * when the bucket is empty. */
bool tw_icmp_rate_allow(tw_icmp_state *st, tw_ns now);

/* An ICMP message for us. Sets the rx outcome. */
void tw_icmp_input(tw_stack *s, tw_ns now, const tw_net_dgram *d);

/* Sends an error of type and code about datagram d (its header and, up
 * to RFC 1812's 576-byte limit, its data), unless RFC 1122 §3.2.2 forbids
 * one or the rate limit refuses. mtu is the next-hop MTU of "fragmentation
 * needed", 0 otherwise. Never changes the rx outcome. */
void tw_icmp_send_error(tw_stack *s, tw_ns now, const tw_net_dgram *d, uint8_t type, uint8_t code,
                        uint16_t mtu);

/* Sends an echo request. 0 or a negative error as tw_stack_ping. */
int tw_icmp_send_echo(tw_stack *s, tw_ns now, tw_ipv4_addr dst, uint16_t id, uint16_t seq,
                      const void *data, size_t len);

#endif
