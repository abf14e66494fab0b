/* A scenario host's `tcp:` mapping (docs/scenarios.md, "hosts") into the
 * tw_tcp_config of each of its cores' stacks, and its pools' occupancy. */
#include "cli/scenario_host.h"

#include <string.h>

#include "net/tcp/tcp.h"

void tw_scen_tcp_apply(const tw_scenario_host *h, tw_stack_config *stack)
{
    const tw_scenario_tcp *t = &h->tcp;
    tw_tcp_config *cfg = &stack->tcp;
    if (t->mss_bytes) {
        stack->tcp_mss = (uint16_t)t->mss_bytes;
    }
    if (t->send_buffer_bytes) {
        cfg->snd_buf_bytes = t->send_buffer_bytes;
    }
    if (t->receive_buffer_bytes) {
        cfg->rcv_buf_bytes = t->receive_buffer_bytes;
    }
    cfg->nodelay = t->nagle == TW_SCENARIO_NAGLE_OFF;
    if (t->delayed_ack_set) {
        /* Off: every segment is acknowledged at the next tick, as
         * TCP_QUICKACK does. */
        cfg->delack_ns = t->delayed_ack_ns;
        cfg->delack_segs = t->delayed_ack_ns ? cfg->delack_segs : 1;
    }
    if (t->rto_min_ns) {
        cfg->rto_min_ns = t->rto_min_ns;
        /* RFC 6298 §2.1's initial RTO is never below the minimum. */
        if (cfg->rto_initial_ns < cfg->rto_min_ns) {
            cfg->rto_initial_ns = cfg->rto_min_ns;
        }
        if (cfg->rto_max_ns < cfg->rto_min_ns) {
            cfg->rto_max_ns = cfg->rto_min_ns;
        }
    }
    if (t->msl_ns) {
        cfg->msl_ns = t->msl_ns;
    }
    if (t->keepalive) {
        cfg->keepalive = true;
        cfg->keepalive_idle_ns = t->keepalive_idle_ns;
        cfg->keepalive_intvl_ns = t->keepalive_interval_ns;
        cfg->keepalive_probes = (uint8_t)t->keepalive_probes;
    }
}

bool tw_scen_tcp_nagle(const tw_scenario_host *h)
{
    return h->tcp.nagle == TW_SCENARIO_NAGLE_ON;
}

uint64_t tw_scen_pool_in_use(tw_stack *st, const char *leaf)
{
    if (!strcmp(leaf, "tcp.conns")) {
        const tw_tcp *tcp = tw_stack_tcp(st);
        return tcp ? tw_tcp_conn_count(tcp) : 0;
    }
    tw_stack_stats s;
    tw_stack_stats_get(st, &s);
    return !strcmp(leaf, "frame_buffers") ? s.frame_buffers_in_use
           : !strcmp(leaf, "arp_pending") ? s.arp_pending
                                          : s.reasm_in_use;
}
