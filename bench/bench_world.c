/* The simulated world at scale: 10, 100 and 1000 hosts, each with one UDP
 * task exchanging datagrams with three peers at a fixed rate for a fixed
 * simulated time.
 *
 * Topology: hosts in domains of up to 100 behind a leaf switch, one router
 * per domain between its leaf switch and a core switch (so a broadcast
 * floods one domain, not the world, as on a real network). Two peers of a
 * host are in its domain; the third is in the next domain when there is
 * one (its datagrams cross two routers and three switches).
 *
 * Hosts boot at staggered times in the first millisecond (RESTART faults
 * of hosts that start down; the controller's program spawns each host's
 * task when told it booted), so the only drops are announcements that
 * reach hosts not booted yet (host_down).
 *
 * Prints, per size: hosts, links, events, wall time, events/s, ns/event,
 * the bytes tw_mem_calloc holds once every host is up, and per host the
 * events and bytes, the share of datagrams delivered, and drops by reason.
 * Cost should follow events and memory hosts (per-host columns flat), not
 * hosts x links.
 *
 * Usage: bench_world [SIM_MS [HOSTS...]] */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "base/mem.h"
#include "rt/task.h"
#include "sim/world.h"

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the peer task: binds PORT, sends SIZE bytes to each peer every
 * interval, counts what it hears ------------------------------------------ */

#define PORT 9000
#define SIZE 64
#define PEERS 3
#define DOMAIN_MAX 100

typedef struct peer_args {
    tw_ipv4_addr peer[PEERS];
    uint32_t rounds;
    tw_ns start_ns;
    tw_ns interval_ns;
} peer_args;

typedef struct peer {
    peer_args a;
    int32_t ep;
    bool want_bind;
    bool arm;
    uint32_t pending;
    uint32_t round;
    tw_ns next_at;
    uint64_t sent;
    uint64_t received;
    uint64_t failed;
    uint8_t buf[SIZE];
} peer;

static void peer_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    peer *p = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        memcpy(&p->a, in->msg->data, sizeof(p->a));
        p->ep = -1;
        p->want_bind = true;
    } else if (in->kind == TW_TIN_NET) {
        const tw_task_net *n = in->net;
        if (n->kind == TW_TNET_BOUND && n->result >= 0) {
            p->ep = n->result;
            p->next_at = p->a.start_ns;
            p->arm = true;
        } else if (n->kind == TW_TNET_SEND_FAILED) {
            p->failed++;
        } else if (n->kind == TW_TNET_EVENT && n->event->kind == TW_NET_EV_UDP_DATAGRAM) {
            p->received++;
        }
    }
}

static void peer_tick(tw_task *t, tw_ns now)
{
    peer *p = tw_task_state(t);
    p->pending = PEERS;
    if (++p->round < p->a.rounds) {
        p->next_at += p->a.interval_ns;
        p->arm = true;
    }
}

static bool peer_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    peer *p = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    if (p->want_bind) {
        p->want_bind = false;
        out->kind = TW_TOUT_UDP_BIND;
        out->u.udp_bind.port = PORT;
        return true;
    }
    if (p->pending > 0) {
        p->pending--;
        p->sent++;
        out->kind = TW_TOUT_UDP_SEND;
        out->u.udp_send.endpoint = (uint32_t)p->ep;
        out->u.udp_send.dst = p->a.peer[p->pending];
        out->u.udp_send.port = PORT;
        out->u.udp_send.data = p->buf;
        out->u.udp_send.len = SIZE;
        return true;
    }
    if (p->arm) {
        p->arm = false;
        tw_task_out_timer(out, p->next_at);
        return true;
    }
    return false;
}

static const tw_task_ops peer_ops = {"peer", sizeof(peer), peer_input, peer_tick, peer_pop, NULL};
static const tw_task_ops *const types[] = {&peer_ops};
static const tw_task_registry registry = {types, 1};

/* ---- the controller's program: a host boots, it gets its peer task ---- */

typedef struct plan {
    peer_args *args; /* per host id; rounds 0 for routers */
    uint32_t failed;
} plan;

static void on_world(tw_controller *c, tw_ns now, void *ctx, const tw_msg *m)
{
    plan *p = ctx;
    tw_world_note note;
    if (m->type != TW_MSG_WORLD) {
        return;
    }
    memcpy(&note, m->data, sizeof(note));
    if (note.kind == TW_WORLD_NOTE_RESTARTED && p->args[note.host].rounds > 0) {
        if (tw_controller_spawn(c, 0, 0, note.first_worker, &p->args[note.host],
                                sizeof(peer_args)) < 0) {
            p->failed++;
        }
    }
}

static const tw_controller_program program = {.on_message = on_world};

/* ---- the world ------------------------------------------------------------ */

static tw_ipv4_addr host_addr(uint32_t domain, uint32_t j)
{
    return TW_IPV4_ADDR(10, domain, 0, j + 1);
}

static tw_ipv4_addr router_core_addr(uint32_t domain)
{
    return TW_IPV4_ADDR(10, 255, 0, domain + 1);
}

/* Small everything: a host of this bench holds a handful of neighbours and
 * one endpoint, and nothing here fragments. */
static void small_host(tw_world_host_config *hc)
{
    tw_world_host_config_default(hc);
    hc->worker.registry = &registry;
    hc->worker.max_tasks = 2;
    hc->worker.task_state_max = sizeof(peer);
    hc->worker.max_channels = 1;
    hc->worker.outq_max = 16;
    hc->stack.ifaces_max = 2;
    hc->stack.frame_buffers = 32;
    hc->stack.tx_queue_len = 32;
    hc->stack.event_queue_len = 16;
    hc->stack.routes_max = 16;
    hc->stack.arp.entries_max = 16;
    hc->stack.arp.pending_total = 16;
    hc->stack.arp.pending_per_entry = 4;
    hc->stack.reasm.slots = 1;
    hc->stack.reasm.datagram_len_max = 1500;
    hc->stack.reasm.fragments_max = 2;
    hc->stack.udp.endpoints_max = 2;
    hc->stack.udp.queue_len = 16;
    hc->rx_ring = 32;
    hc->tx_ring = 32;
}

typedef struct result {
    uint32_t hosts;
    uint32_t links;
    uint64_t events;
    uint64_t wall_ns;
    uint64_t bytes;     /* after start: hosts booted later have no stacks yet */
    uint64_t bytes_run; /* after the run: every host up */
    uint64_t sent;
    uint64_t received;
    uint64_t drops;
    char why[128]; /* drops by reason */
    uint64_t hash;
} result;

static void run(uint32_t hosts, tw_ns sim_ns, result *r)
{
    uint32_t per = hosts < DOMAIN_MAX ? hosts : DOMAIN_MAX;
    TW_ASSERT(hosts % per == 0);
    uint32_t domains = hosts / per;
    uint64_t bytes_before = tw_mem_bytes_live();

    plan pl = {.args = calloc(hosts + domains, sizeof(peer_args))};
    TW_ASSERT(pl.args != NULL);
    tw_world_config cfg;
    tw_world_config_default(&cfg);
    cfg.sim.seed = 1;
    cfg.sim.controller.registry = &registry;
    cfg.sim.controller.program = &program;
    cfg.sim.controller.program_ctx = &pl;
    cfg.sim.controller.outq_max = 64;
    cfg.sim.inbox_capacity = 64;
    cfg.sim.inflight_max = 4 * hosts + 256;
    cfg.sim.event_capacity = 1024; /* the world makes room for what it needs */
    cfg.faults_max = hosts;
    cfg.hosts_max = hosts + domains;
    cfg.switches_max = domains + 1;
    cfg.links_max = hosts + 2 * domains;
    cfg.nic_buffers = 8 * (hosts + domains) + 256;
    tw_world *w = tw_world_create(&cfg);

    tw_link_config lc = tw_link_config_default();
    lc.bandwidth_bps = 10000000000ull; /* 10 Gbps */
    lc.delay_ns = TW_US(5);
    lc.pool_frames = 32;
    lc.queue_packets_limit = 24;
    lc.queue_bytes_limit = 24 * 1514;

    int rc;
    int core_sw = -1;
    if (domains > 1) {
        tw_world_switch_config sc;
        tw_world_switch_config_default(&sc);
        sc.ports = domains;
        sc.mac_table_size = 4 * domains;
        core_sw = tw_world_switch_add(w, &sc);
    }
    for (uint32_t d = 0; d < domains; d++) {
        tw_world_switch_config sc;
        tw_world_switch_config_default(&sc);
        sc.ports = per + 1;
        sc.mac_table_size = 2 * (per + 1);
        int leaf = tw_world_switch_add(w, &sc);
        for (uint32_t j = 0; j < per; j++) {
            tw_world_host_config hc;
            small_host(&hc);
            hc.start_down = true;
            snprintf(hc.name, sizeof(hc.name), "h%u.%u", d, j);
            tw_world_host_config_iface(&hc, tw_mac_from_id(((uint64_t)d << 16) | (j + 1)),
                                       host_addr(d, j), 24, 1500);
            hc.gateway = host_addr(d, 253);
            int h = tw_world_host_add(w, &hc);
            TW_ASSERT(h >= 0);
            int l = tw_world_link_add(w, tw_world_host_end((uint32_t)h, 0),
                                      tw_world_switch_end((uint32_t)leaf, j), &lc, &lc);
            TW_ASSERT(l >= 0);
            /* Boots spread over the first millisecond (a domain whose hosts
             * all announce at once is a broadcast storm), then traffic from
             * a millisecond after boot, when ARP is done. */
            tw_ns boot = ((uint64_t)(d * per + j) * 7919u) % TW_MS(1);
            tw_world_fault f = {.kind = TW_WORLD_FAULT_RESTART, .at = boot, .target = (uint32_t)h};
            rc = tw_world_fault_add(w, &f);
            TW_ASSERT(rc == 0);
            uint32_t far = domains > 1 ? (d + 1) % domains : d;
            pl.args[h] = (peer_args){
                .peer = {host_addr(d, (j + 1) % per), host_addr(d, (j + 2) % per),
                         host_addr(far, domains > 1 ? j : (j + 3) % per)},
                .rounds = (uint32_t)(sim_ns / TW_MS(1)),
                .start_ns = boot + TW_MS(1),
                .interval_ns = TW_MS(1),
            };
        }
        if (domains > 1) {
            tw_world_host_config rt;
            small_host(&rt);
            rt.stack.forwarding = true;
            rt.stack.arp.entries_max = 2 * DOMAIN_MAX;
            rt.stack.arp.pending_total = 64;
            rt.stack.frame_buffers = 256;
            rt.stack.tx_queue_len = 256;
            rt.rx_ring = 256;
            rt.tx_ring = 256;
            snprintf(rt.name, sizeof(rt.name), "r%u", d);
            tw_world_host_config_iface(&rt, tw_mac_from_id(((uint64_t)d << 16) | 0xfffe),
                                       host_addr(d, 253), 24, 1500);
            tw_world_host_config_iface(&rt, tw_mac_from_id(((uint64_t)d << 16) | 0xffff),
                                       router_core_addr(d), 24, 1500);
            for (uint32_t e = 0; e < domains; e++) {
                if (e != d) {
                    tw_world_host_config_route(&rt, TW_IPV4_ADDR(10, e, 0, 0), 24,
                                               router_core_addr(e));
                }
            }
            int h = tw_world_host_add(w, &rt);
            TW_ASSERT(h >= 0);
            tw_world_link_add(w, tw_world_host_end((uint32_t)h, 0),
                              tw_world_switch_end((uint32_t)leaf, per), &lc, &lc);
            tw_world_link_add(w, tw_world_host_end((uint32_t)h, 1),
                              tw_world_switch_end((uint32_t)core_sw, d), &lc, &lc);
        }
    }
    rc = tw_world_start(w);
    TW_ASSERT(rc == 0);
    r->bytes = tw_mem_bytes_live() - bytes_before;
    uint32_t stride = domains > 1 ? per + 1 : per;

    /* Sealed: the run allocates nothing but the boots (restarts), which
     * unseal around their stacks. */
    tw_mem_seal();
    uint64_t t0 = wall_ns();
    tw_world_run_until(w, TW_MS(2) + sim_ns + TW_MS(1));
    r->wall_ns = wall_ns() - t0;
    tw_mem_unseal();
    r->bytes_run = tw_mem_bytes_live() - bytes_before;
    TW_ASSERT(pl.failed == 0);

    r->hosts = hosts;
    r->links = cfg.links_max;
    r->events = tw_world_sim(w)->events;
    r->hash = tw_world_trace_hash(w);
    r->sent = r->received = r->drops = 0;
    r->why[0] = 0;
    for (uint32_t d = 0; d < domains; d++) {
        for (uint32_t j = 0; j < per; j++) {
            uint32_t worker = tw_world_host_core(w, d * stride + j, 0);
            tw_task *t = tw_worker_task(tw_world_worker(w, worker), tw_addr_make(worker, 0, 0));
            TW_ASSERT(t != NULL);
            const peer *p = tw_task_state(t);
            r->sent += p->sent;
            r->received += p->received;
        }
    }
    for (uint32_t k = 0; k < TW_SIM_DROP_COUNT; k++) {
        r->drops += tw_world_drops(w, (tw_sim_drop)k);
        uint64_t n = tw_world_drops(w, (tw_sim_drop)k);
        if (n > 0) {
            size_t used = strlen(r->why);
            snprintf(r->why + used, sizeof(r->why) - used, "%s%s=%" PRIu64, used ? "," : "",
                     tw_sim_drop_name((tw_sim_drop)k), n);
        }
    }
    tw_world_destroy(w);
    free(pl.args);
}

int main(int argc, char **argv)
{
    tw_ns sim_ns = TW_MS(argc > 1 ? strtoull(argv[1], NULL, 10) : 100);
    uint32_t sizes[16] = {10, 100, 1000};
    uint32_t n = 3;
    if (argc > 2) {
        n = 0;
        for (int i = 2; i < argc && n < 16; i++) {
            sizes[n++] = (uint32_t)strtoul(argv[i], NULL, 10);
        }
    }
    printf("world: %" PRIu64 " ms simulated, 3 peers per host, 1 datagram per peer per ms\n",
           sim_ns / TW_MS(1));
    printf("%6s %6s %10s %9s %11s %9s %9s %8s %9s %10s  %s\n", "hosts", "links", "events",
           "wall_ms", "events/s", "ns/event", "mem_MiB", "ev/host", "B/host", "delivered", "drops");
    for (uint32_t i = 0; i < n; i++) {
        result r;
        run(sizes[i], sim_ns, &r);
        double wall_s = (double)r.wall_ns / 1e9;
        printf("%6u %6u %10" PRIu64 " %9.1f %11.0f %9.1f %9.1f %8.0f %9.0f %9.3f%%  %s\n", r.hosts,
               r.links, r.events, r.wall_ns / 1e6, r.events / wall_s, (double)r.wall_ns / r.events,
               r.bytes_run / (1024.0 * 1024.0), (double)r.events / r.hosts,
               (double)r.bytes_run / r.hosts,
               r.sent ? 100.0 * (double)r.received / (double)r.sent : 0.0,
               r.why[0] ? r.why : "none");
    }
    return 0;
}
