/* A scenario host's stack as both drivers build and read it: the
 * host's `tcp:` settings applied to each core's stack configuration and to
 * its apps' Nagle choice, and the occupancy of its pools. */
#ifndef TW_CLI_SCENARIO_HOST_H
#define TW_CLI_SCENARIO_HOST_H

#include <stdbool.h>

#include "net/stack.h"
#include "scenario/model.h"

/* Overrides what the host's `tcp:` gives, after the driver has filled in
 * its own choices (buffers from the bandwidth-delay product, RFC
 * defaults): keys left out keep those. */
void tw_scen_tcp_apply(const tw_scenario_host *h, tw_stack_config *stack);

/* Whether the host's apps leave Nagle's algorithm on: `nagle: true`. With
 * `nagle: false` the stack starts every connection with it off; left
 * out, each app decides (request-response apps turn it off). */
bool tw_scen_tcp_nagle(const tw_scenario_host *h);

/* What one core's stack holds in a pool now (a host's metric sums its
 * cores; a core that is down holds nothing): `leaf` is tcp.conns
 * (connections in any state, TIME-WAIT included), frame_buffers,
 * arp_pending (frames waiting for an address) or reasm_pending (datagrams
 * being reassembled). */
uint64_t tw_scen_pool_in_use(tw_stack *st, const char *leaf);

#endif
