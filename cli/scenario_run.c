/* `twin run FILE` in the simulator: the scenario model becomes a world,
 * apps become tasks on host cores, metrics are read from the tasks, stacks,
 * links and switches under the names of docs/scenarios.md, and the
 * expectations are judged against them. The CLI is a driver: it reads the
 * file, reads the wall clock, and writes reports and captures; the world it
 * drives stays pure. */
#define _POSIX_C_SOURCE 200809L
#include "cli/scenario_run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "app/http.h"
#include "app/tcp.h"
#include "app/tcp_client.h"
#include "app/udp.h"
#include "base/assert.h"
#include "base/error.h"
#include "base/hist.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/units.h"
#include "cli/cli.h"
#include "cli/json.h"
#include "cli/pcap_tap.h"
#include "cli/scenario_host.h"
#include "net/drop.h"
#include "scenario/model.h"
#include "scenario/scenario.h"
#include "sim/world.h"

/* ---- the task types of scenario apps ------------------------------------ */

static const tw_task_ops *const app_types[TW_SCENARIO_APP_COUNT] = {
    [TW_SCENARIO_APP_UDP_ECHO] = &tw_app_udp_echo,
    [TW_SCENARIO_APP_UDP_CLIENT] = &tw_app_udp_client,
    [TW_SCENARIO_APP_TCP_ECHO] = &tw_app_tcp_echo,
    [TW_SCENARIO_APP_TCP_CLIENT] = &tw_app_tcp_client,
    [TW_SCENARIO_APP_BULK_SEND] = &tw_app_bulk_send,
    [TW_SCENARIO_APP_BULK_SINK] = &tw_app_bulk_sink,
    [TW_SCENARIO_APP_HTTP_SERVER] = &tw_app_http_server,
    [TW_SCENARIO_APP_HTTP_CLIENT] = &tw_app_http_client,
};
static const tw_task_registry app_registry = {app_types, TW_SCENARIO_APP_COUNT};

#define STATE_MAX 131072 /* the largest app state (the TCP echo with 128 connections) fits */
#define UDP_TIMEOUT TW_SEC(1)
#define TCP_TIMEOUT TW_SEC(10)

/* A server with `core: any` runs one instance on every core of its host,
 * each listening on its own core's stack: the NIC steers each flow to one
 * core, and a share-nothing stack answers it there (what SO_REUSEPORT
 * gives a kernel server). A client runs one instance. */
#define INSTANCES_MAX TW_WORLD_CORES_MAX

typedef struct app_rt {
    uint32_t instances;
    uint32_t worker[INSTANCES_MAX];
    uint64_t req[INSTANCES_MAX];  /* the spawn requests */
    tw_addr addr[INSTANCES_MAX];  /* TW_ADDR_NONE until the controller's ack */
    bool spawned;
    bool stopped;
    struct app_counters *frozen; /* its metrics when it stopped */
} app_rt;

typedef struct eventually {
    bool base_taken;
    uint64_t base;
    bool held;
    uint64_t observed; /* the best value seen in the window (for the report) */
    bool seen;
} eventually;

typedef struct scen_ctx {
    const tw_scen_opts *o;
    tw_scenario *sc;
    tw_world *w;
    app_rt *apps;
    eventually *ev;
    tw_pcap_tap *pcap;
    FILE *trace;
    FILE *series;
    uint64_t respawns;
} scen_ctx;

/* ---- the controller program: addresses of spawned apps, restarts -------- */

static void spawn_app(scen_ctx *c, uint32_t a);

static void prog_spawned(tw_controller *ctl, tw_ns now, void *ctx, uint64_t req,
                         const tw_spawn_ack *ack)
{
    scen_ctx *c = ctx;
    for (uint32_t a = 0; a < c->sc->app_count; a++) {
        for (uint32_t k = 0; k < c->apps[a].instances; k++) {
            if (c->apps[a].req[k] == req) {
                c->apps[a].addr[k] = ack->status < 0 ? TW_ADDR_NONE : ack->addr;
                return;
            }
        }
    }
}

/* A host that restarts comes back without its tasks, as a rebooted machine
 * does; its apps are started again, as a service manager would. */
static void prog_message(tw_controller *ctl, tw_ns now, void *ctx, const tw_msg *m)
{
    scen_ctx *c = ctx;
    if (m->type != TW_MSG_WORLD) {
        return;
    }
    tw_world_note note;
    memcpy(&note, m->data, sizeof(note));
    if (note.kind != TW_WORLD_NOTE_RESTARTED) {
        return;
    }
    const tw_scenario_host *h = &c->sc->hosts[note.host];
    for (uint32_t a = h->first_app; a < h->first_app + h->app_count; a++) {
        if (c->apps[a].spawned && !c->apps[a].stopped) {
            spawn_app(c, a);
            c->respawns++;
        }
    }
}

static const tw_controller_program program = {
    .on_spawned = prog_spawned,
    .on_message = prog_message,
};

/* ---- building the world ----------------------------------------------------- */

static int fail(const char *file, const char *what, int rc)
{
    fprintf(stderr, "%s: %s (%s)\n", file, what, tw_strerror(rc));
    return TW_EXIT_USAGE;
}

/* The TCP connections one core of host h may hold: its share of those
 * clients elsewhere open to it (RSS may give a core twice its share), and
 * the connections of its own clients, whose instances (up to
 * TW_LOAD_CONNS_MAX connections each) may all sit on one core. */
static uint64_t tcp_conns_per_core(const tw_scenario *sc, uint32_t h)
{
    uint64_t inbound = 0, own = 0;
    uint32_t cores = sc->hosts[h].cores;
    for (uint32_t a = 0; a < sc->app_count; a++) {
        const tw_scenario_app *ap = &sc->apps[a];
        uint64_t k = ap->type == TW_SCENARIO_APP_BULK_SEND ? 1
                     : ap->type == TW_SCENARIO_APP_TCP_CLIENT ||
                             ap->type == TW_SCENARIO_APP_HTTP_CLIENT
                         ? (ap->connections ? ap->connections : 1)
                         : 0;
        if (k && ap->peer_host == h) {
            inbound += k;
        }
        if (k && ap->host == h) {
            uint64_t instances = (k + TW_LOAD_CONNS_MAX - 1) / TW_LOAD_CONNS_MAX;
            uint64_t per_core = (instances + cores - 1) / cores;
            uint64_t most = per_core * TW_LOAD_CONNS_MAX;
            own += k < most ? k : most;
        }
    }
    return 2 * inbound / cores + own + 8;
}

/* Send and receive buffers a quarter above the bandwidth-delay product of
 * the fastest of the host's links over the longest round trip in the world
 * (the four slowest hops there and back), as an administrator sizes
 * tcp_rmem for a long fat network: RFC 7323's window scaling is pointless
 * without them, and a window far above the path's BDP only fills queues. */
static uint32_t tcp_buffer_for(const tw_scenario *sc, uint32_t h)
{
    tw_ns worst[4] = {0};
    uint64_t bw = 0;
    for (uint32_t l = 0; l < sc->link_count; l++) {
        const tw_scenario_link *lk = &sc->links[l];
        tw_ns one = 0;
        for (int d = 0; d < 2; d++) {
            tw_ns t = lk->dir[d].delay_ns + lk->dir[d].jitter_ns;
            one = t > one ? t : one;
            for (int e = 0; e < 2; e++) {
                if (lk->end[e].kind == TW_SCENARIO_END_IFACE && lk->end[e].host == h &&
                    lk->dir[d].bandwidth_bps > bw) {
                    bw = lk->dir[d].bandwidth_bps;
                }
            }
        }
        for (int k = 0; k < 4; k++) {
            if (one > worst[k]) {
                tw_ns t = worst[k];
                worst[k] = one;
                one = t;
            }
        }
    }
    tw_ns rtt = 2 * (worst[0] + worst[1] + worst[2] + worst[3]);
    uint64_t bdp = bw ? (uint64_t)((unsigned __int128)bw * rtt / 8 / TW_SEC(1)) : 0;
    uint64_t want = bdp + bdp / 4;
    return (uint32_t)(want < 65536 ? 65536 : want > (32u << 20) ? (32u << 20) : want);
}

static int add_host(scen_ctx *c, uint32_t i)
{
    const tw_scenario_host *sh = &c->sc->hosts[i];
    if (sh->kind == TW_SCENARIO_HOST_KERNEL) {
        fprintf(stderr, "%s: host '%s' is kind: kernel, a real Linux host: it runs only live "
                        "(twin run --live)\n", c->o->file, sh->name);
        return TW_EXIT_USAGE;
    }
    if (sh->iface_count > TW_WORLD_IFACES_MAX || sh->cores > TW_WORLD_CORES_MAX) {
        fprintf(stderr, "%s: host '%s': the simulator takes at most %u interfaces and %u cores\n",
                c->o->file, sh->name, TW_WORLD_IFACES_MAX, TW_WORLD_CORES_MAX);
        return TW_EXIT_USAGE;
    }
    static tw_world_host_config hc;
    tw_world_host_config_default(&hc);
    snprintf(hc.name, sizeof hc.name, "%s", sh->name);
    hc.cores = sh->cores;
    uint32_t mtu_max = 0;
    for (uint32_t f = 0; f < sh->iface_count; f++) {
        const tw_scenario_iface *si = &sh->ifaces[f];
        tw_mac mac;
        memcpy(mac.b, si->mac, sizeof(mac.b));
        int rc = tw_world_host_config_iface(&hc, mac, si->addr, si->prefix_len, (uint16_t)si->mtu);
        if (rc < 0) {
            return fail(c->o->file, "an interface the simulator cannot build", rc);
        }
        mtu_max = si->mtu > mtu_max ? si->mtu : mtu_max;
    }
    for (uint32_t r = 0; r < sh->route_count; r++) {
        const tw_scenario_route *rt = &sh->routes[r];
        if (rt->prefix_len == 0) {
            hc.gateway = rt->via;
        } else if (tw_world_host_config_route(&hc, rt->dest, rt->prefix_len, rt->via) < 0) {
            fprintf(stderr, "%s: host '%s': more than %u routes\n", c->o->file, sh->name,
                    TW_WORLD_ROUTES_MAX);
            return TW_EXIT_USAGE;
        }
    }
    hc.stack.forwarding = sh->router;
    hc.stack.mtu_max = (uint16_t)(mtu_max ? mtu_max : 1500);
    /* A burst of connections opened at once waits for one ARP answer. */
    hc.stack.arp.pending_per_entry = 1024;
    hc.stack.arp.pending_total = 4096;
    hc.stack.tcp_enabled = true;
    tw_tcp_config_default(&hc.stack.tcp);
    /* Each core's TCP holds its share of the host's connections (RSS may
     * load one core twice its share), and room for TIME-WAIT. */
    uint64_t share = tcp_conns_per_core(c->sc, i);
    hc.stack.tcp.bufs_max = (uint32_t)share;
    hc.stack.tcp.syn_backlog = (uint32_t)share; /* a burst of SYNs all at once */
    hc.stack.tcp.conns_max = (uint32_t)(2 * share + 64);
    hc.stack.tcp.snd_buf_bytes = hc.stack.tcp.rcv_buf_bytes = tcp_buffer_for(c->sc, i);
    tw_scen_tcp_apply(sh, &hc.stack);
    hc.worker.registry = &app_registry;
    hc.worker.max_tasks = sh->app_count + 4;
    hc.worker.task_state_max = STATE_MAX;
    hc.worker.outq_max = 256;
    /* Rings deep enough for a congestion window's burst (bounded: the
     * buffers they hold are shared and counted). */
    hc.rx_ring = 16384;
    hc.tx_ring = 16384;
    int rc = tw_world_host_add(c->w, &hc);
    return rc < 0 ? fail(c->o->file, "a host the simulator cannot build", rc) : 0;
}

static tw_world_end end_of(const tw_scenario_end *e)
{
    return e->kind == TW_SCENARIO_END_IFACE ? tw_world_host_end(e->host, e->iface)
                                            : tw_world_switch_end(e->sw, e->port);
}

static int add_faults(scen_ctx *c)
{
    for (uint32_t i = 0; i < c->sc->fault_count; i++) {
        const tw_scenario_fault *f = &c->sc->faults[i];
        tw_world_fault wf = {.at = f->at_ns};
        tw_world_fault end = {.at = f->until_ns};
        bool has_end = false;
        int rc = 0;
        switch (f->kind) {
        case TW_SCENARIO_FAULT_PARTITION:
            rc = tw_world_partition_add(c->w, f->side_a, f->side_a_count, f->side_b,
                                        f->side_b_count, f->oneway);
            wf.kind = TW_WORLD_FAULT_PARTITION;
            wf.target = (uint32_t)rc;
            end.kind = TW_WORLD_FAULT_HEAL;
            end.target = (uint32_t)rc;
            has_end = f->until_ns != TW_NS_NEVER;
            break;
        case TW_SCENARIO_FAULT_LINK_DOWN:
        case TW_SCENARIO_FAULT_LINK_UP:
            wf.kind = f->kind == TW_SCENARIO_FAULT_LINK_DOWN ? TW_WORLD_FAULT_LINK_DOWN
                                                             : TW_WORLD_FAULT_LINK_UP;
            wf.target = f->link;
            wf.dirs = TW_WORLD_DIR_BOTH;
            break;
        case TW_SCENARIO_FAULT_CLOG:
            wf.kind = TW_WORLD_FAULT_CLOG;
            wf.target = f->link;
            wf.dirs = TW_WORLD_DIR_BOTH;
            wf.duration = f->until_ns - f->at_ns;
            break;
        case TW_SCENARIO_FAULT_CRASH:
            wf.kind = TW_WORLD_FAULT_CRASH;
            wf.target = f->host;
            end.kind = TW_WORLD_FAULT_RESTART;
            end.target = f->host;
            has_end = f->until_ns != TW_NS_NEVER;
            break;
        case TW_SCENARIO_FAULT_STALL:
            wf.kind = TW_WORLD_FAULT_STALL;
            wf.target = f->host;
            wf.core = f->core;
            wf.duration = f->until_ns - f->at_ns;
            break;
        default:
            return fail(c->o->file, "a fault the simulator does not know", -TW_EINVAL);
        }
        if (rc >= 0) {
            rc = tw_world_fault_add(c->w, &wf);
        }
        if (rc >= 0 && has_end) {
            rc = tw_world_fault_add(c->w, &end);
        }
        if (rc < 0) {
            return fail(c->o->file, "a fault the simulator cannot schedule", rc);
        }
    }
    return 0;
}

/* ---- swarm: fault knobs drawn per seed from the file's ranges ------------ */

static tw_ratio draw_ratio(tw_rng *rng, tw_scenario_swarm_ratio r)
{
    uint64_t lo = tw_ratio_scale(r.lo, 1000000), hi = tw_ratio_scale(r.hi, 1000000);
    return TW_RATIO((uint32_t)tw_rng_range(rng, lo, hi < lo ? lo : hi), 1000000);
}

static uint64_t draw_u64(tw_rng *rng, tw_scenario_swarm_u64 r)
{
    return tw_rng_range(rng, r.lo, r.hi < r.lo ? r.lo : r.hi);
}

static bool swarm_link(const tw_scenario_swarm *sw, uint32_t l)
{
    if (sw->link_count == 0) {
        return true;
    }
    for (uint32_t i = 0; i < sw->link_count; i++) {
        if (sw->links[i] == l) {
            return true;
        }
    }
    return false;
}

/* Draws this seed's knobs (a stream of its own, so the draws never shift
 * the world's) into the link configurations, and prints every one: a
 * failing seed's parameters are in its output. */
static void swarm_draw(scen_ctx *c, tw_link_config d[2], uint32_t l, tw_rng *rng)
{
    const tw_scenario_swarm *sw = &c->sc->swarm;
    if (!swarm_link(sw, l)) {
        return;
    }
    for (int k = 0; k < 2; k++) {
        if (sw->loss.set) {
            d[k].loss = draw_ratio(rng, sw->loss);
        }
        if (sw->duplicate.set) {
            d[k].duplicate = draw_ratio(rng, sw->duplicate);
        }
        if (sw->reorder.set) {
            d[k].reorder = draw_ratio(rng, sw->reorder);
            if (d[k].reorder_delay_ns == 0) {
                d[k].reorder_delay_ns = TW_MS(1);
            }
        }
        if (sw->corrupt.set) {
            d[k].corrupt = draw_ratio(rng, sw->corrupt);
        }
        if (sw->delay_ns.set) {
            d[k].delay_ns = draw_u64(rng, sw->delay_ns);
        }
        if (sw->jitter_ns.set) {
            d[k].jitter_ns = draw_u64(rng, sw->jitter_ns);
        }
        if (sw->bandwidth_bps.set) {
            d[k].bandwidth_bps = draw_u64(rng, sw->bandwidth_bps);
        }
        if (!c->o->quiet) {
            printf("  swarm link %s %s: loss %u/%u dup %u/%u reorder %u/%u corrupt %u/%u "
                   "delay %" PRIu64 "ns jitter %" PRIu64 "ns bandwidth %" PRIu64 "bps\n",
                   c->sc->links[l].name, k ? "reverse" : "forward", d[k].loss.num, d[k].loss.den,
                   d[k].duplicate.num, d[k].duplicate.den, d[k].reorder.num, d[k].reorder.den,
                   d[k].corrupt.num, d[k].corrupt.den, d[k].delay_ns, d[k].jitter_ns,
                   d[k].bandwidth_bps);
        }
    }
}

static int add_links_and_taps(scen_ctx *c)
{
    tw_rng swarm_rng;
    tw_rng_init(&swarm_rng, c->sc->seed, 0x737761726dull); /* "swarm" */
    for (uint32_t i = 0; i < c->sc->link_count; i++) {
        const tw_scenario_link *l = &c->sc->links[i];
        tw_link_config d[2] = {l->dir[0], l->dir[1]};
        if (c->o->swarm) {
            swarm_draw(c, d, i, &swarm_rng);
        }
        for (int k = 0; k < 2; k++) {
            d[k].header_bytes = 14; /* Ethernet */
            /* Frame buffers for a full queue plus a pipe full of the
             * smallest frames in flight (propagation, jitter, reordering). */
            tw_ns flight = d[k].delay_ns + d[k].jitter_ns + d[k].reorder_delay_ns;
            uint64_t in_flight = d[k].bandwidth_bps
                                     ? (uint64_t)((unsigned __int128)d[k].bandwidth_bps * flight /
                                                  (8 * 64) / TW_SEC(1))
                                     : 4096;
            uint64_t pool = (uint64_t)d[k].queue_packets_limit + 2 * in_flight + 256;
            d[k].pool_frames = (uint32_t)(pool > TW_LINK_FRAMES_MAX ? TW_LINK_FRAMES_MAX : pool);
        }
        int rc = tw_world_link_add(c->w, end_of(&l->end[0]), end_of(&l->end[1]), &d[0], &d[1]);
        if (rc < 0) {
            return fail(c->o->file, "a link the simulator cannot build", rc);
        }
    }
    if (c->pcap == NULL) {
        return 0;
    }
    const tw_scenario_capture *cap = &c->sc->capture;
    for (uint32_t i = 0; i < c->sc->link_count; i++) {
        bool want = cap->pcap_all;
        for (uint32_t p = 0; p < cap->pcap_count && !want; p++) {
            const tw_scenario_pcap *pc = &cap->pcaps[p];
            want = pc->is_link ? pc->link == i
                               : c->sc->hosts[pc->host].ifaces[pc->iface].link == i;
        }
        if (want && tw_pcap_tap_link(c->pcap, c->w, i, TW_WORLD_DIR_BOTH) < 0) {
            fprintf(stderr, "twin run: --pcap: %s\n", tw_pcap_tap_error(c->pcap));
            return TW_EXIT_USAGE;
        }
    }
    return 0;
}

/* Random partitions, crashes and stalls, as many as the file's ranges
 * allow, each inside the run and healed before its last fifth so that
 * liveness can show. */
static int swarm_faults(scen_ctx *c)
{
    const tw_scenario *sc = c->sc;
    const tw_scenario_swarm *sw = &sc->swarm;
    tw_rng rng;
    tw_rng_init(&rng, sc->seed, 0x737761726d66ull); /* "swarmf" */
    tw_ns span = sc->duration_ns * 4 / 5;
    uint64_t n = sw->partitions.set ? draw_u64(&rng, sw->partitions) : 0;
    for (uint64_t i = 0; i < n && sc->host_count >= 2; i++) {
        uint32_t a = (uint32_t)tw_rng_below(&rng, sc->host_count);
        uint32_t b = (uint32_t)((a + 1 + tw_rng_below(&rng, sc->host_count - 1)) % sc->host_count);
        tw_ns at = tw_rng_below(&rng, span / 2 + 1), len = tw_rng_below(&rng, span / 2 + 1);
        int id = tw_world_partition_add(c->w, &a, 1, &b, 1, tw_rng_below(&rng, 2));
        tw_world_fault f = {.kind = TW_WORLD_FAULT_PARTITION, .at = at, .target = (uint32_t)id};
        tw_world_fault h = {.kind = TW_WORLD_FAULT_HEAL, .at = at + len, .target = (uint32_t)id};
        if (id < 0 || tw_world_fault_add(c->w, &f) < 0 || tw_world_fault_add(c->w, &h) < 0) {
            return fail(c->o->file, "swarm: no room for another partition", -TW_EFULL);
        }
        if (!c->o->quiet) {
            printf("  swarm partition %s | %s from %" PRIu64 "ns for %" PRIu64 "ns\n",
                   sc->hosts[a].name, sc->hosts[b].name, at, len);
        }
    }
    n = sw->crashes.set ? draw_u64(&rng, sw->crashes) : 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)tw_rng_below(&rng, sc->host_count);
        tw_ns at = tw_rng_below(&rng, span / 2 + 1), len = tw_rng_below(&rng, span / 2 + 1);
        tw_world_fault f = {.kind = TW_WORLD_FAULT_CRASH, .at = at, .target = h};
        tw_world_fault r = {.kind = TW_WORLD_FAULT_RESTART, .at = at + len, .target = h};
        if (tw_world_fault_add(c->w, &f) < 0 || tw_world_fault_add(c->w, &r) < 0) {
            return fail(c->o->file, "swarm: no room for another crash", -TW_EFULL);
        }
        if (!c->o->quiet) {
            printf("  swarm crash %s at %" PRIu64 "ns, restart after %" PRIu64 "ns\n",
                   sc->hosts[h].name, at, len);
        }
    }
    n = sw->stalls.set ? draw_u64(&rng, sw->stalls) : 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)tw_rng_below(&rng, sc->host_count);
        tw_world_fault f = {.kind = TW_WORLD_FAULT_STALL, .at = tw_rng_below(&rng, span + 1),
                            .target = h,
                            .core = (uint32_t)tw_rng_below(&rng, sc->hosts[h].cores),
                            .duration = tw_rng_below(&rng, TW_MS(100)) + 1};
        if (tw_world_fault_add(c->w, &f) < 0) {
            return fail(c->o->file, "swarm: no room for another stall", -TW_EFULL);
        }
    }
    return 0;
}

static int build(scen_ctx *c, uint64_t seed)
{
    tw_world_config wc;
    tw_world_config_default(&wc);
    wc.sim.seed = seed;
    wc.sim.cores = 0;
    /* Room for a congestion window's worth of frames on every path. */
    wc.sim.event_capacity = 1u << 20;
    wc.sim.controller.registry = &app_registry;
    wc.sim.controller.program = &program;
    wc.sim.controller.program_ctx = c;
    wc.sim.controller.outq_max = 4 * c->sc->app_count + 64;
    wc.hosts_max = c->sc->host_count;
    wc.switches_max = c->sc->switch_count;
    wc.links_max = c->sc->link_count;
    /* Room for the file's faults and, in swarm mode, the drawn ones. */
    uint64_t drawn = c->o->swarm ? c->sc->swarm.partitions.hi + c->sc->swarm.crashes.hi +
                                       c->sc->swarm.stalls.hi
                                 : 0;
    wc.partitions_max = (uint32_t)(c->sc->fault_count + drawn + 1);
    wc.faults_max = (uint32_t)(2 * (c->sc->fault_count + drawn) + 1);
    /* NIC buffers hold frames between a core and a link: a TCP burst of a
     * whole congestion window waits there for its turn on the wire. */
    uint64_t cores = 0;
    for (uint32_t h = 0; h < c->sc->host_count; h++) {
        cores += c->sc->hosts[h].cores;
    }
    uint64_t bufs = 1024 * cores + 16384;
    wc.nic_buffers = (uint32_t)(bufs > (1u << 20) ? (1u << 20) : bufs);
    if (c->pcap) {
        tw_pcap_tap_hooks(c->pcap, &wc.taps);
    }
    c->w = tw_world_create(&wc);
    for (uint32_t i = 0; i < c->sc->host_count; i++) {
        int rc = add_host(c, i);
        if (rc) {
            return rc;
        }
    }
    for (uint32_t i = 0; i < c->sc->switch_count; i++) {
        const tw_scenario_switch *ss = &c->sc->switches[i];
        tw_world_switch_config sw;
        tw_world_switch_config_default(&sw);
        snprintf(sw.name, sizeof sw.name, "%s", ss->name);
        sw.ports = ss->ports;
        if (ss->mac_table_size) {
            sw.mac_table_size = ss->mac_table_size;
        }
        sw.port_queue_packets = ss->queue_packets_limit;
        int rc = tw_world_switch_add(c->w, &sw);
        if (rc < 0) {
            return fail(c->o->file, "a switch the simulator cannot build", rc);
        }
    }
    int rc = add_links_and_taps(c);
    if (rc == 0) {
        rc = add_faults(c);
    }
    if (rc == 0 && c->o->swarm) {
        rc = swarm_faults(c);
    }
    if (rc == 0 && (rc = tw_world_start(c->w)) < 0) {
        return fail(c->o->file, "the world could not start", rc);
    }
    return rc;
}

/* ---- apps ------------------------------------------------------------------- */

static uint64_t period_of(uint64_t rate_per_s)
{
    return rate_per_s ? TW_SEC(1) / rate_per_s : 0;
}

/* Share k of n of a total. */
static uint64_t share(uint64_t total, uint32_t k, uint32_t n)
{
    return total / n + (k < total % n);
}

/* Fills the spawn arguments of instance k of n of app a; returns their
 * length. A load client with more connections than one task holds runs
 * as several instances that split its connections, rate and count. */
static uint32_t app_args(const scen_ctx *c, uint32_t a, uint32_t k, uint32_t n, uint8_t *buf)
{
    const tw_scenario_app *ap = &c->sc->apps[a];
    bool nagle = tw_scen_tcp_nagle(&c->sc->hosts[ap->host]);
    memset(buf, 0, TW_SPAWN_ARGS_MAX);
    uint64_t conns = share(ap->connections ? ap->connections : 1, k, n);
    uint64_t rate = share(ap->rate_per_s, k, n);
    tw_load_args load = {.server = ap->peer_addr, .port = ap->port,
                         .connections = (uint16_t)conns,
                         .period_ns = ap->closed_loop ? 0 : period_of(rate),
                         .count = ap->count ? share(ap->count, k, n) : 0,
                         .timeout_ns = TCP_TIMEOUT};
    switch (ap->type) {
    case TW_SCENARIO_APP_UDP_ECHO: {
        tw_udp_echo_args x = {.port = ap->port};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_UDP_CLIENT: {
        uint32_t conc = ap->concurrency ? ap->concurrency : 1;
        tw_udp_client_args x = {
            .server = ap->peer_addr, .port = ap->port,
            .size = (uint16_t)(ap->size_bytes < 16 ? 16
                               : ap->size_bytes > TW_UDP_PAYLOAD_MAX ? TW_UDP_PAYLOAD_MAX
                                                                     : ap->size_bytes),
            .concurrency = conc > TW_UDP_CLIENT_WINDOW_MAX ? TW_UDP_CLIENT_WINDOW_MAX : conc,
            .period_ns = ap->closed_loop ? 0 : period_of(ap->rate_per_s),
            .count = ap->count, .timeout_ns = UDP_TIMEOUT};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_TCP_ECHO: {
        tw_tcp_echo_args x = {.port = ap->port};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_TCP_CLIENT: {
        tw_tcp_client_args x = {.load = load, .size = ap->size_bytes ? ap->size_bytes : 64,
                                .flags = nagle ? TW_TCP_CLIENT_NAGLE : 0};
        if (!ap->closed_loop && ap->rate_per_s == 0) {
            x.load.period_ns = 0;
        }
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_BULK_SEND: {
        tw_bulk_send_args x = {.server = ap->peer_addr, .port = ap->port, .bytes = ap->bytes,
                               .stream = c->sc->seed * 1000003u + a};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_BULK_SINK: {
        tw_bulk_sink_args x = {.port = ap->port};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_HTTP_SERVER: {
        /* NOTE: the generated site's sizes are log-normal around a median;
         * a file's fixed/uniform/exponential page_size sets its bounds and
         * median rather than its exact shape. */
        const tw_scenario_size_dist *d = &ap->page_size;
        tw_http_server_args x = {.port = ap->port, .flags = nagle ? TW_HTTP_SERVER_NAGLE : 0};
        x.site.seed = c->sc->seed;
        x.site.pages = ap->pages;
        uint64_t lo = d->min_bytes ? d->min_bytes : 1;
        uint64_t hi = d->max_bytes ? d->max_bytes : lo;
        uint64_t med = d->dist == TW_SCENARIO_DIST_EXPONENTIAL ? d->mean_bytes * 693 / 1000
                                                               : (lo + hi) / 2;
        x.site.size_min = (uint32_t)lo;
        x.site.size_max = (uint32_t)hi;
        x.site.size_median = (uint32_t)(med < lo ? lo : med > hi ? hi : med);
        x.site.spread = d->dist == TW_SCENARIO_DIST_FIXED ? 1 : 4;
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_HTTP_CLIENT: {
        const tw_scenario_app *srv = NULL;
        for (uint32_t i = 0; i < c->sc->app_count; i++) {
            const tw_scenario_app *s = &c->sc->apps[i];
            if (s->type == TW_SCENARIO_APP_HTTP_SERVER && s->host == ap->peer_host &&
                s->port == ap->port) {
                srv = s;
            }
        }
        tw_http_client_args x = {.load = load, .pages = srv ? srv->pages : 0,
                                 .flags = nagle ? TW_HTTP_CLIENT_NAGLE : 0};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    default:
        return 0;
    }
}

static bool is_server(tw_scenario_app_type t)
{
    return t == TW_SCENARIO_APP_UDP_ECHO || t == TW_SCENARIO_APP_TCP_ECHO ||
           t == TW_SCENARIO_APP_BULK_SINK || t == TW_SCENARIO_APP_HTTP_SERVER;
}

static void spawn_app(scen_ctx *c, uint32_t a)
{
    const tw_scenario_app *ap = &c->sc->apps[a];
    const tw_scenario_host *h = &c->sc->hosts[ap->host];
    app_rt *rt = &c->apps[a];
    uint8_t args[TW_SPAWN_ARGS_MAX];
    bool every_core = ap->core == TW_SCENARIO_CORE_ANY && is_server(ap->type);
    bool load = ap->type == TW_SCENARIO_APP_TCP_CLIENT || ap->type == TW_SCENARIO_APP_HTTP_CLIENT;
    uint32_t split = load ? (ap->connections + TW_LOAD_CONNS_MAX - 1) / TW_LOAD_CONNS_MAX : 1;
    rt->instances = every_core ? h->cores : split ? split : 1;
    if (rt->instances > INSTANCES_MAX) {
        rt->instances = INSTANCES_MAX;
    }
    for (uint32_t k = 0; k < rt->instances; k++) {
        uint32_t len = app_args(c, a, k, rt->instances, args);
        /* A client with "core: any" goes where the host's apps spread in
         * file order (its instances on the cores after). */
        uint32_t core = every_core                          ? k
                        : ap->core != TW_SCENARIO_CORE_ANY ? ap->core
                                                            : (a - h->first_app + k) % h->cores;
        rt->worker[k] = tw_world_host_core(c->w, ap->host, core);
        rt->addr[k] = TW_ADDR_NONE;
        int64_t rc = tw_world_spawn(c->w, rt->worker[k], ap->type, 0, args, len);
        rt->req[k] = rc > 0 ? (uint64_t)rc : 0;
    }
    rt->spawned = true;
}

/* ---- metrics -------------------------------------------------------------------- */

/* An app's counters, as its task reports them. */
typedef struct app_counters {
    const char *name[48];
    uint64_t value[48];
    uint32_t n;
    tw_hist latency;
    bool has_latency;
} app_counters;

/* Instances of one app report the same names: their counters add up and
 * their histograms merge. */
static void ac_counter(tw_metric_sink *s, const char *name, uint64_t v)
{
    app_counters *ac = s->ctx;
    for (uint32_t i = 0; i < ac->n; i++) {
        if (strcmp(ac->name[i], name) == 0) {
            ac->value[i] += v;
            return;
        }
    }
    if (ac->n < 48) {
        ac->name[ac->n] = name;
        ac->value[ac->n++] = v;
    }
}

static void ac_hist(tw_metric_sink *s, const char *name, const tw_hist *h)
{
    app_counters *ac = s->ctx;
    if (strcmp(name, "latency") == 0) {
        if (!ac->has_latency) {
            tw_hist_init(&ac->latency);
        }
        tw_hist_merge(&ac->latency, h);
        ac->has_latency = true;
    }
}

static uint64_t ac_get(const app_counters *ac, const char *name)
{
    for (uint32_t i = 0; i < ac->n; i++) {
        if (strcmp(ac->name[i], name) == 0) {
            return ac->value[i];
        }
    }
    return 0;
}

static tw_task *app_task(scen_ctx *c, uint32_t a, uint32_t k)
{
    if (c->apps[a].addr[k] == TW_ADDR_NONE) {
        return NULL;
    }
    return tw_worker_task(tw_world_worker(c->w, c->apps[a].worker[k]), c->apps[a].addr[k]);
}

static void app_collect(scen_ctx *c, uint32_t a, app_counters *ac)
{
    if (c->apps[a].frozen) {
        *ac = *c->apps[a].frozen;
        return;
    }
    memset(ac, 0, offsetof(app_counters, latency));
    ac->has_latency = false;
    for (uint32_t k = 0; k < c->apps[a].instances; k++) {
        tw_task *t = app_task(c, a, k);
        if (t && t->ops->report) {
            tw_metric_sink sink = {ac_counter, ac_hist, ac};
            t->ops->report(t, &sink);
        }
    }
}

/* An app whose `duration` ends before the scenario's: its metrics are
 * kept as they stand and its tasks stopped (their connections close). */
static void stop_app(scen_ctx *c, uint32_t a)
{
    app_rt *rt = &c->apps[a];
    app_counters *ac = malloc(sizeof(*ac));
    app_collect(c, a, ac);
    for (uint32_t k = 0; k < rt->instances; k++) {
        if (rt->addr[k] != TW_ADDR_NONE) {
            tw_world_kill(c->w, rt->addr[k]);
        }
    }
    rt->frozen = ac;
    rt->stopped = true;
}

static uint32_t find_sink(const scen_ctx *c, const tw_scenario_app *sender)
{
    for (uint32_t k = 0; k < c->sc->app_count; k++) {
        const tw_scenario_app *s = &c->sc->apps[k];
        if (s->type == TW_SCENARIO_APP_BULK_SINK && s->host == sender->peer_host &&
            s->port == sender->port) {
            return k;
        }
    }
    return TW_SCENARIO_NONE;
}

static uint64_t host_tcp(scen_ctx *c, uint32_t host, const char *what);

/* The metric `leaf` of app a, in the names of docs/scenarios.md. */
static bool app_metric(scen_ctx *c, uint32_t a, const char *leaf, uint64_t *out)
{
    static app_counters ac;
    const tw_scenario_app *ap = &c->sc->apps[a];
    app_collect(c, a, &ac);
    tw_scenario_app_type ty = ap->type;
    bool client = ty == TW_SCENARIO_APP_TCP_CLIENT || ty == TW_SCENARIO_APP_HTTP_CLIENT;
    uint64_t bytes = ty == TW_SCENARIO_APP_UDP_ECHO      ? ac_get(&ac, "bytes")
                     : ty == TW_SCENARIO_APP_UDP_CLIENT  ? ac_get(&ac, "bytes_sent")
                     : ty == TW_SCENARIO_APP_TCP_ECHO    ? ac_get(&ac, "bytes")
                     : ty == TW_SCENARIO_APP_BULK_SEND   ? ac_get(&ac, "bytes_sent")
                     : ty == TW_SCENARIO_APP_BULK_SINK   ? ac_get(&ac, "bytes")
                     : ty == TW_SCENARIO_APP_HTTP_SERVER ? ac_get(&ac, "bytes")
                                                         : ac_get(&ac, "bytes_sent");
    if (!strcmp(leaf, "bytes")) {
        *out = bytes;
    } else if (!strcmp(leaf, "throughput")) {
        /* Over the app's active time: a bulk stream's ends when it is
         * acknowledged and closed, everyone else's at the end of the run. */
        tw_ns now = tw_world_now(c->w);
        tw_ns active = now > ap->start_ns ? now - ap->start_ns : 0;
        if (ty == TW_SCENARIO_APP_BULK_SEND && ac_get(&ac, "duration_ns")) {
            active = ac_get(&ac, "duration_ns");
        }
        *out = active ? (uint64_t)((unsigned __int128)bytes * 8 * TW_SEC(1) / active) : 0;
    } else if (!strcmp(leaf, "requests")) {
        *out = ty == TW_SCENARIO_APP_UDP_ECHO ? ac_get(&ac, "received") : ac_get(&ac, "requests");
    } else if (!strcmp(leaf, "sent")) {
        *out = ac_get(&ac, "sent");
    } else if (!strcmp(leaf, "replies")) {
        *out = ty == TW_SCENARIO_APP_UDP_CLIENT ? ac_get(&ac, "received") : ac_get(&ac, "responses");
    } else if (!strcmp(leaf, "responses")) {
        *out = ty == TW_SCENARIO_APP_HTTP_SERVER
                   ? ac_get(&ac, "responses_2xx") + ac_get(&ac, "responses_4xx") +
                         ac_get(&ac, "responses_5xx")
                   : ac_get(&ac, "responses");
    } else if (!strcmp(leaf, "errors")) {
        *out = ac_get(&ac, "errors");
    } else if (!strcmp(leaf, "timeouts")) {
        *out = ty == TW_SCENARIO_APP_UDP_CLIENT ? ac_get(&ac, "lost")
               : ty == TW_SCENARIO_APP_BULK_SEND ? ac_get(&ac, "error") == TW_ETIMEDOUT
                                                 : ac_get(&ac, "timeouts");
    } else if (!strcmp(leaf, "resets")) {
        *out = ty == TW_SCENARIO_APP_BULK_SEND ? ac_get(&ac, "error") == TW_ECONNRESET
                                               : ac_get(&ac, "resets");
    } else if (!strcmp(leaf, "retransmits")) {
        /* NOTE: retransmissions are counted per core's TCP, not per app:
         * the app's host's total stands in for it. */
        *out = host_tcp(c, ap->host, "retransmits");
    } else if (!strcmp(leaf, "connections")) {
        *out = client                            ? ac_get(&ac, "connects")
               : ty == TW_SCENARIO_APP_BULK_SEND ? ac_get(&ac, "connect_ns") > 0
                                                 : ac_get(&ac, "accepted");
    } else if (!strcmp(leaf, "intact")) {
        uint32_t k = find_sink(c, ap);
        static app_counters sk;
        if (k == TW_SCENARIO_NONE || ac_get(&ac, "done") != 1) {
            *out = 0;
            return true;
        }
        app_collect(c, k, &sk);
        *out = ac_get(&sk, "mismatches") == 0 && ac_get(&sk, "streams_bad") == 0 &&
               ac_get(&sk, "streams_intact") >= 1;
    } else if (!strcmp(leaf, "completion")) {
        uint64_t d = ac_get(&ac, "duration_ns");
        *out = d ? ap->start_ns + d : 0;
    } else if (!strcmp(leaf, "streams")) {
        *out = ac_get(&ac, "streams_intact");
    } else if (!strcmp(leaf, "mismatches")) {
        *out = ac_get(&ac, "mismatches");
    } else if (!strcmp(leaf, "corrupt")) {
        *out = ac_get(&ac, "streams_bad");
    } else if (!strncmp(leaf, "latency.", 8)) {
        static const struct {
            const char *p;
            uint32_t per_mille;
        } ps[] = {{"p50", 500}, {"p90", 900}, {"p99", 990}, {"p999", 999}, {"max", 1000}};
        for (size_t i = 0; i < TW_ARRAY_LEN(ps); i++) {
            if (!strcmp(leaf + 8, ps[i].p)) {
                *out = ac.has_latency ? tw_hist_percentile(&ac.latency, ps[i].per_mille) : 0;
                return true;
            }
        }
        return false;
    } else {
        return false;
    }
    return true;
}

static uint64_t host_tcp(scen_ctx *c, uint32_t host, const char *what)
{
    uint64_t sum = 0;
    for (uint32_t k = 0; k < c->sc->hosts[host].cores; k++) {
        tw_stack *st = tw_world_stack(c->w, host, k);
        tw_tcp *tcp = st ? tw_stack_tcp(st) : NULL;
        if (tcp == NULL) {
            continue;
        }
        const tw_tcp_stats *s = tw_tcp_get_stats(tcp);
        sum += !strcmp(what, "resets")        ? s->resets_received
               : !strcmp(what, "retransmits") ? s->retransmits
               : !strcmp(what, "timeouts")    ? s->timed_out
                                              : s->established;
    }
    return sum;
}

static uint64_t core_busy(scen_ctx *c, uint32_t host, uint32_t core)
{
    return tw_sim_core_at(tw_world_sim(c->w), tw_world_host_core(c->w, host, core))->busy_ns;
}

/* Sums an interface counter (or its drops) over the host's cores. */
static uint64_t iface_sum(scen_ctx *c, uint32_t host, uint32_t iface, const char *leaf)
{
    uint64_t sum = 0;
    for (uint32_t k = 0; k < c->sc->hosts[host].cores; k++) {
        tw_stack *st = tw_world_stack(c->w, host, k);
        if (st == NULL) {
            continue;
        }
        const tw_iface_counters *ic = tw_stack_iface_counters(st, iface);
        if (leaf == NULL) {
            sum += tw_drop_total(ic);
        } else if (!strncmp(leaf, "drops.", 6)) {
            for (int r = 0; r < TW_DROP_COUNT; r++) {
                if (!strcmp(leaf + 6, tw_drop_name((tw_drop_reason)r))) {
                    sum += ic->drops[r];
                }
            }
        } else {
            sum += !strcmp(leaf, "rx_frames") ? ic->rx_frames
                   : !strcmp(leaf, "tx_frames") ? ic->tx_frames
                   : !strcmp(leaf, "rx_bytes")  ? ic->rx_bytes
                   : !strcmp(leaf, "tx_bytes")  ? ic->tx_bytes
                                                : tw_drop_total(ic);
        }
    }
    return sum;
}

static bool host_metric(scen_ctx *c, uint32_t h, const char *leaf, uint64_t *out)
{
    const tw_scenario_host *sh = &c->sc->hosts[h];
    if (!strcmp(leaf, "balance")) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (uint32_t k = 0; k < sh->cores; k++) {
            uint64_t b = core_busy(c, h, k);
            lo = b < lo ? b : lo;
            hi = b > hi ? b : hi;
        }
        *out = hi == 0 ? 1000000 : lo == 0 ? UINT64_MAX : (uint64_t)((unsigned __int128)hi * 1000000 / lo);
        return true;
    }
    if (!strcmp(leaf, "drops") || !strncmp(leaf, "drops.", 6)) {
        uint64_t sum = 0;
        for (uint32_t f = 0; f < sh->iface_count; f++) {
            sum += iface_sum(c, h, f, leaf[5] ? leaf : NULL);
        }
        *out = sum;
        return true;
    }
    if (!strcmp(leaf, "frame_buffers") || !strcmp(leaf, "arp_pending") ||
        !strcmp(leaf, "reasm_pending") || !strcmp(leaf, "tcp.conns")) {
        *out = tw_scen_pools_in_use(c->w, h, sh->cores, leaf);
        return true;
    }
    if (!strncmp(leaf, "tcp.", 4)) {
        *out = host_tcp(c, h, leaf + 4);
        return true;
    }
    if (!strcmp(leaf, "crashes")) {
        *out = tw_world_host_stats_get(c->w, h)->crashes;
        return true;
    }
    if (!strncmp(leaf, "core.", 5)) {
        char *end;
        unsigned long k = strtoul(leaf + 5, &end, 10);
        if (*end != '.' || k >= sh->cores) {
            return false;
        }
        const tw_sim_core *core =
            tw_sim_core_at(tw_world_sim(c->w), tw_world_host_core(c->w, h, (uint32_t)k));
        const char *l = end + 1;
        *out = !strcmp(l, "busy") ? core->busy_ns
               : !strcmp(l, "events") ? core->inputs
                                      : core->inbox.drops;
        return !strcmp(l, "busy") || !strcmp(l, "events") || !strcmp(l, "inbox_drops");
    }
    if (!strncmp(leaf, "iface.", 6)) {
        for (uint32_t f = 0; f < sh->iface_count; f++) {
            size_t n = strlen(sh->ifaces[f].name);
            if (!strncmp(leaf + 6, sh->ifaces[f].name, n) && leaf[6 + n] == '.') {
                *out = iface_sum(c, h, f, leaf + 7 + n);
                return true;
            }
        }
    }
    return false;
}

static bool link_metric(scen_ctx *c, uint32_t l, uint32_t dir, const char *leaf, uint64_t *out)
{
    const tw_link_stats *s = tw_link_get_stats(tw_world_link(c->w, l, dir));
    if (!strncmp(leaf, "drops.", 6)) {
        for (int r = 0; r < TW_LINK_DROP_COUNT; r++) {
            if (!strcmp(leaf + 6, tw_link_drop_name((tw_link_drop)r))) {
                *out = s->drops[r];
                return true;
            }
        }
        return false;
    }
    uint64_t drops = 0;
    for (int r = 0; r < TW_LINK_DROP_COUNT; r++) {
        drops += s->drops[r];
    }
    static const char *const names[] = {"frames_in", "frames_out", "bytes_in", "bytes_out",
                                        "drops", "duplicated", "reordered", "corrupted",
                                        "queue_packets_high", "queue_bytes_high"};
    uint64_t values[] = {s->frames_in, s->frames_out, s->bytes_in, s->bytes_out, drops,
                         s->duplicated, s->reordered, s->corrupted, s->queue_packets_high,
                         s->queue_bytes_high};
    for (size_t i = 0; i < TW_ARRAY_LEN(names); i++) {
        if (!strcmp(leaf, names[i])) {
            *out = values[i];
            return true;
        }
    }
    return false;
}

static bool switch_metric(scen_ctx *c, uint32_t s, const char *leaf, uint64_t *out)
{
    const tw_world_switch_stats *st = tw_world_switch_stats_get(c->w, s);
    *out = !strcmp(leaf, "forwarded") ? st->forwarded
           : !strcmp(leaf, "flooded") ? st->flooded
           : !strcmp(leaf, "learned") ? st->learned
                                      : st->queue_drops + st->partition_drops + st->table_full;
    return !strcmp(leaf, "forwarded") || !strcmp(leaf, "flooded") || !strcmp(leaf, "learned") ||
           !strcmp(leaf, "drops");
}

/* Splits "NAME.rest" against the names of a kind of thing. */
static uint32_t find_named(const char *path, const char **rest,
                           uint32_t (*find)(const tw_scenario *, const char *),
                           const tw_scenario *sc)
{
    char name[TW_SCENARIO_NAME_MAX + 1];
    const char *dot = strchr(path, '.');
    if (dot == NULL || (size_t)(dot - path) > TW_SCENARIO_NAME_MAX) {
        return TW_SCENARIO_NONE;
    }
    memcpy(name, path, (size_t)(dot - path));
    name[dot - path] = '\0';
    *rest = dot + 1;
    return find(sc, name);
}

/* The value of a metric path, or false when no such metric is published. */
static bool metric_get(scen_ctx *c, const char *path, uint64_t *out)
{
    const char *rest;
    uint32_t i;
    if (!strncmp(path, "app.", 4)) {
        i = find_named(path + 4, &rest, tw_scenario_find_app, c->sc);
        return i != TW_SCENARIO_NONE && app_metric(c, i, rest, out);
    }
    if (!strncmp(path, "host.", 5)) {
        i = find_named(path + 5, &rest, tw_scenario_find_host, c->sc);
        return i != TW_SCENARIO_NONE && host_metric(c, i, rest, out);
    }
    if (!strncmp(path, "link.", 5)) {
        i = find_named(path + 5, &rest, tw_scenario_find_link, c->sc);
        if (i == TW_SCENARIO_NONE) {
            return false;
        }
        if (!strncmp(rest, "forward.", 8)) {
            return link_metric(c, i, 0, rest + 8, out);
        }
        if (!strncmp(rest, "reverse.", 8)) {
            return link_metric(c, i, 1, rest + 8, out);
        }
        return false;
    }
    if (!strncmp(path, "switch.", 7)) {
        i = find_named(path + 7, &rest, tw_scenario_find_switch, c->sc);
        return i != TW_SCENARIO_NONE && switch_metric(c, i, rest, out);
    }
    return false;
}

/* The metrics every report carries: each app's, each host's, each link's
 * and each switch's headline counters. */
#define T(x) (1u << TW_SCENARIO_APP_##x)
#define TCP_APPS                                                                                   \
    (T(TCP_ECHO) | T(TCP_CLIENT) | T(BULK_SEND) | T(BULK_SINK) | T(HTTP_SERVER) | T(HTTP_CLIENT))
#define LATENCY_APPS (T(UDP_CLIENT) | T(TCP_CLIENT) | T(HTTP_CLIENT))
static const struct {
    const char *leaf;
    uint32_t types;
} app_leaves[] = {
    {"bytes", ~0u},
    {"throughput", ~0u},
    {"requests", T(UDP_ECHO) | T(TCP_CLIENT) | T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"sent", T(UDP_CLIENT)},
    {"replies", T(UDP_CLIENT) | T(TCP_CLIENT)},
    {"responses", T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"errors", T(HTTP_CLIENT)},
    {"timeouts", T(UDP_CLIENT) | TCP_APPS},
    {"resets", TCP_APPS},
    {"connections", TCP_APPS},
    {"intact", T(BULK_SEND)},
    {"completion", T(BULK_SEND)},
    {"streams", T(BULK_SINK)},
    {"corrupt", T(BULK_SINK)},
    {"mismatches", T(BULK_SINK)},
    {"latency.p50", LATENCY_APPS},
    {"latency.p99", LATENCY_APPS},
    {"latency.max", LATENCY_APPS},
};

typedef void (*metric_fn)(void *ctx, const char *name, uint64_t value);

static void each_metric(scen_ctx *c, metric_fn fn, void *ctx)
{
    char path[256];
    uint64_t v;
    for (uint32_t a = 0; a < c->sc->app_count; a++) {
        const tw_scenario_app *ap = &c->sc->apps[a];
        for (size_t k = 0; k < TW_ARRAY_LEN(app_leaves); k++) {
            if (!(app_leaves[k].types & (1u << ap->type))) {
                continue;
            }
            snprintf(path, sizeof path, "app.%s.%s", ap->name, app_leaves[k].leaf);
            if (metric_get(c, path, &v)) {
                fn(ctx, path, v);
            }
        }
    }
    static const char *const host_leaves[] = {"balance", "drops", "tcp.connections",
                                              "tcp.retransmits", "tcp.resets", "crashes"};
    for (uint32_t h = 0; h < c->sc->host_count; h++) {
        for (size_t k = 0; k < TW_ARRAY_LEN(host_leaves); k++) {
            snprintf(path, sizeof path, "host.%s.%s", c->sc->hosts[h].name, host_leaves[k]);
            if (metric_get(c, path, &v)) {
                fn(ctx, path, v);
            }
        }
        for (uint32_t k = 0; k < c->sc->hosts[h].cores; k++) {
            snprintf(path, sizeof path, "host.%s.core.%u.busy", c->sc->hosts[h].name, k);
            if (metric_get(c, path, &v)) {
                fn(ctx, path, v);
            }
        }
    }
    static const char *const link_leaves[] = {"frames_in", "frames_out", "bytes_out", "drops"};
    for (uint32_t l = 0; l < c->sc->link_count; l++) {
        for (int d = 0; d < 2; d++) {
            for (size_t k = 0; k < TW_ARRAY_LEN(link_leaves); k++) {
                snprintf(path, sizeof path, "link.%s.%s.%s", c->sc->links[l].name,
                         d ? "reverse" : "forward", link_leaves[k]);
                if (metric_get(c, path, &v)) {
                    fn(ctx, path, v);
                }
            }
        }
    }
    /* Every drop the world made, by reason, where there were any. */
    for (int r = 0; r < TW_SIM_DROP_COUNT; r++) {
        uint64_t n = tw_world_drops(c->w, (tw_sim_drop)r);
        if (n) {
            snprintf(path, sizeof path, "world.drops.%s", tw_sim_drop_name((tw_sim_drop)r));
            fn(ctx, path, n);
        }
    }
    static const char *const sw_leaves[] = {"forwarded", "flooded", "drops", "learned"};
    for (uint32_t s = 0; s < c->sc->switch_count; s++) {
        for (size_t k = 0; k < TW_ARRAY_LEN(sw_leaves); k++) {
            snprintf(path, sizeof path, "switch.%s.%s", c->sc->switches[s].name, sw_leaves[k]);
            if (metric_get(c, path, &v)) {
                fn(ctx, path, v);
            }
        }
    }
}

/* ---- expectations ------------------------------------------------------------ */

typedef struct verdict {
    bool passed;
    bool found;
    uint64_t observed;
} verdict;

static bool holds(const tw_scenario_expect *e, uint64_t v) { return e->lo <= v && v <= e->hi; }

/* At a sample time: the `eventually` windows that are open look at the
 * metric (or its increase since the window opened). */
static void sample_eventually(scen_ctx *c, tw_ns now)
{
    for (uint32_t i = 0; i < c->sc->expect_count; i++) {
        const tw_scenario_expect *e = &c->sc->expects[i];
        eventually *ev = &c->ev[i];
        if (e->when != TW_SCENARIO_WHEN_EVENTUALLY || now < e->after_ns || ev->held) {
            continue;
        }
        uint64_t v;
        if (!metric_get(c, e->metric, &v)) {
            continue;
        }
        if (!ev->base_taken) {
            ev->base_taken = true;
            ev->base = v;
        }
        if (now > e->after_ns + e->within_ns) {
            continue;
        }
        uint64_t x = e->delta ? v - ev->base : v;
        ev->observed = x;
        ev->seen = true;
        if (holds(e, x)) {
            ev->held = true;
        }
    }
}

static verdict judge(scen_ctx *c, uint32_t i)
{
    const tw_scenario_expect *e = &c->sc->expects[i];
    verdict v = {0};
    if (e->when == TW_SCENARIO_WHEN_EVENTUALLY) {
        v.found = c->ev[i].seen;
        v.observed = c->ev[i].observed;
        v.passed = c->ev[i].held;
        return v;
    }
    v.found = metric_get(c, e->metric, &v.observed);
    v.passed = v.found && holds(e, v.observed);
    return v;
}

static void format_value(tw_scenario_unit u, uint64_t v, char *buf, size_t len)
{
    switch (u) {
    case TW_SCENARIO_UNIT_NS:
        tw_format_duration(v, buf, (unsigned)len);
        break;
    case TW_SCENARIO_UNIT_BPS:
        snprintf(buf, len, "%.3fMbps", (double)v / 1e6);
        break;
    case TW_SCENARIO_UNIT_BYTES:
        snprintf(buf, len, "%" PRIu64 "B", v);
        break;
    case TW_SCENARIO_UNIT_PPM:
        if (v == UINT64_MAX) {
            snprintf(buf, len, "inf%%");
        } else {
            snprintf(buf, len, "%" PRIu64 ".%02" PRIu64 "%%", v / 10000, v / 100 % 100);
        }
        break;
    default:
        snprintf(buf, len, "%" PRIu64, v);
    }
}

static void format_expected(const tw_scenario_expect *e, char *buf, size_t len)
{
    char lo[48], hi[48];
    format_value(e->unit, e->lo, lo, sizeof lo);
    format_value(e->unit, e->hi, hi, sizeof hi);
    switch (e->op) {
    case TW_SCENARIO_OP_GE: snprintf(buf, len, ">= %s", lo); break;
    case TW_SCENARIO_OP_LE: snprintf(buf, len, "<= %s", hi); break;
    case TW_SCENARIO_OP_EQ: snprintf(buf, len, "== %s", lo); break;
    default: snprintf(buf, len, "in [%s, %s]", lo, hi); break;
    }
}

/* ---- the run ------------------------------------------------------------------ */

static void series_write(void *ctx, const char *name, uint64_t v)
{
    scen_ctx *c = ctx;
    fprintf(c->series, ",\"%s\":%" PRIu64, name, v);
}

static void sample(scen_ctx *c, tw_ns now)
{
    sample_eventually(c, now);
    if (c->series) {
        fprintf(c->series, "{\"t_ns\":%" PRIu64, now);
        each_metric(c, series_write, c);
        /* What only a time series shows: each host's congestion windows
         * and each link direction's queue, now. */
        for (uint32_t h = 0; h < c->sc->host_count; h++) {
            uint64_t cwnd = 0;
            for (uint32_t k = 0; k < c->sc->hosts[h].cores; k++) {
                tw_stack *st = tw_world_stack(c->w, h, k);
                if (st && tw_stack_tcp(st)) {
                    cwnd += tw_tcp_cwnd_sum(tw_stack_tcp(st));
                }
            }
            fprintf(c->series, ",\"host.%s.tcp.cwnd\":%" PRIu64, c->sc->hosts[h].name, cwnd);
        }
        for (uint32_t l = 0; l < c->sc->link_count; l++) {
            for (uint32_t d = 0; d < 2; d++) {
                const tw_link_stats *st = tw_link_get_stats(tw_world_link(c->w, l, d));
                fprintf(c->series, ",\"link.%s.%s.queue_packets\":%u", c->sc->links[l].name,
                        d ? "reverse" : "forward", st->queue_packets);
            }
        }
        fputs("}\n", c->series);
    }
}

static const tw_scenario *sort_sc;

static int by_start(const void *pa, const void *pb)
{
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    tw_ns ta = sort_sc->apps[a].start_ns, tb = sort_sc->apps[b].start_ns;
    return ta < tb ? -1 : ta > tb ? 1 : (a < b ? -1 : a > b);
}

static void trace_hook(void *ctx, const tw_sim_record *rec)
{
    FILE *f = ctx;
    fprintf(f, "%" PRIu64 " %" PRIu64 " k=%u core=%u w=%u t=%u out=%u cost=%u %016" PRIx64 "\n",
            rec->index, rec->time, rec->kind, rec->core, rec->work, rec->msg_type, rec->outputs,
            rec->cost_ns, rec->hash);
}

static void run_world(scen_ctx *c)
{
    const tw_scenario *sc = c->sc;
    uint32_t *order = calloc(sc->app_count ? sc->app_count : 1, sizeof(uint32_t));
    for (uint32_t a = 0; a < sc->app_count; a++) {
        order[a] = a;
    }
    sort_sc = sc;
    qsort(order, sc->app_count, sizeof(uint32_t), by_start);
    tw_ns interval = sc->capture.metrics_interval_ns;
    /* Eventually-expectations need samples even when none were asked for. */
    for (uint32_t i = 0; i < sc->expect_count && interval == 0; i++) {
        if (sc->expects[i].when == TW_SCENARIO_WHEN_EVENTUALLY) {
            interval = TW_MS(10);
        }
    }
    tw_ns next_sample = interval ? 0 : TW_NS_NEVER;
    uint32_t next_app = 0;
    for (;;) {
        tw_ns t = sc->duration_ns;
        if (next_app < sc->app_count && sc->apps[order[next_app]].start_ns < t) {
            t = sc->apps[order[next_app]].start_ns;
        }
        for (uint32_t a = 0; a < sc->app_count; a++) {
            if (c->apps[a].spawned && !c->apps[a].stopped && sc->apps[a].stop_ns < t) {
                t = sc->apps[a].stop_ns;
            }
        }
        t = tw_ns_min(t, next_sample);
        tw_world_run_until(c->w, t);
        for (uint32_t a = 0; a < sc->app_count; a++) {
            if (c->apps[a].spawned && !c->apps[a].stopped && sc->apps[a].stop_ns <= t &&
                sc->apps[a].stop_ns < sc->duration_ns) {
                stop_app(c, a);
            }
        }
        while (next_app < sc->app_count && sc->apps[order[next_app]].start_ns <= t) {
            spawn_app(c, order[next_app++]);
        }
        if (t == next_sample) {
            sample(c, t);
            next_sample += interval;
        }
        if (t >= sc->duration_ns) {
            break;
        }
    }
    if (interval) {
        sample(c, sc->duration_ns);
    }
    free(order);
}

static void report_metric(void *ctx, const char *name, uint64_t v)
{
    tw_json *j = ctx;
    tw_json_key(j, name);
    tw_json_u64(j, v);
}

static void write_report(scen_ctx *c, FILE *f, uint64_t seed, const verdict *vs, bool passed,
                         uint64_t wall_ns)
{
    tw_json j;
    tw_json_init(&j, f);
    tw_json_report_head(&j, c->o->file, seed, "sim", passed);
    for (uint32_t i = 0; i < c->sc->expect_count; i++) {
        const tw_scenario_expect *e = &c->sc->expects[i];
        char exp[128];
        format_expected(e, exp, sizeof exp);
        tw_json_begin_object(&j);
        tw_json_key(&j, "name");
        tw_json_string(&j, e->name);
        tw_json_key(&j, "passed");
        tw_json_bool(&j, vs[i].passed);
        tw_json_key(&j, "observed");
        if (vs[i].found) {
            tw_json_u64(&j, vs[i].observed);
        } else {
            tw_json_null(&j);
        }
        tw_json_key(&j, "expected");
        tw_json_string(&j, exp);
        tw_json_key(&j, "metric");
        tw_json_string(&j, e->metric);
        tw_json_key(&j, "unit");
        tw_json_string(&j, tw_scenario_unit_name(e->unit));
        tw_json_end_object(&j);
    }
    tw_json_end_array(&j);
    tw_json_key(&j, "metrics");
    tw_json_begin_object(&j);
    each_metric(c, report_metric, &j);
    tw_json_end_object(&j);
    tw_json_report_tail(&j, tw_world_trace_hash(c->w), tw_world_now(c->w), wall_ns,
                        tw_world_sim(c->w)->events);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Loads the file and applies --set; 0 or an exit status. */
static int load(const tw_scen_opts *o, tw_scenario **out)
{
    size_t len = 0;
    char *bytes = read_file(o->file, &len);
    if (bytes == NULL) {
        fprintf(stderr, "twin run: cannot read '%s': %s\n", o->file, strerror(errno));
        return TW_EXIT_USAGE;
    }
    char err[1024];
    int rc = tw_scenario_load(o->file, bytes, len, out, err, sizeof err);
    free(bytes);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err);
        return TW_EXIT_USAGE;
    }
    for (uint32_t i = 0; i < o->set_count; i++) {
        char key[256];
        const char *eq = strchr(o->sets[i], '=');
        if (eq == NULL || eq == o->sets[i] || (size_t)(eq - o->sets[i]) >= sizeof key) {
            fprintf(stderr, "twin run: --set: expected key=value, got '%s'\n", o->sets[i]);
            tw_scenario_free(*out);
            return TW_EXIT_USAGE;
        }
        memcpy(key, o->sets[i], (size_t)(eq - o->sets[i]));
        key[eq - o->sets[i]] = '\0';
        if (tw_scenario_set(*out, key, eq + 1, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            tw_scenario_free(*out);
            return TW_EXIT_USAGE;
        }
    }
    if (o->seed_given) {
        char seed[32];
        snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
        if (tw_scenario_set(*out, "seed", seed, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            tw_scenario_free(*out);
            return TW_EXIT_USAGE;
        }
    }
    return 0;
}

static void print_summary(scen_ctx *c, const verdict *vs, bool passed, uint32_t failed,
                          uint64_t wall_ns)
{
    const tw_scenario *sc = c->sc;
    char b1[32], b2[32];
    tw_sim *sim = tw_world_sim(c->w);
    if (!c->o->quiet) {
        uint32_t cores = 0;
        for (uint32_t h = 0; h < sc->host_count; h++) {
            cores += sc->hosts[h].cores;
        }
        printf("twin run %s: %s\n", c->o->file, sc->name);
        printf("  seed %" PRIu64 ", %u hosts (%u cores), %u links, %u switches, %u apps, %u faults\n",
               sc->seed, sc->host_count, cores, sc->link_count, sc->switch_count, sc->app_count,
               sc->fault_count);
        double wall_s = (double)wall_ns / 1e9;
        printf("  %-9s %s\n", "simulated", tw_format_duration(tw_world_now(c->w), b1, sizeof b1));
        printf("  %-9s %.3fs (%.1fx real time)\n", "wall", wall_s,
               wall_s > 0 ? (double)tw_world_now(c->w) / 1e9 / wall_s : 0.0);
        printf("  %-9s %" PRIu64 " (%.2fM events/s)\n", "events", sim->events,
               wall_s > 0 ? (double)sim->events / wall_s / 1e6 : 0.0);
        for (uint32_t a = 0; a < sc->app_count; a++) {
            const tw_scenario_app *ap = &sc->apps[a];
            uint64_t bytes = 0, tput = 0, p99 = 0;
            char path[160];
            snprintf(path, sizeof path, "app.%s.bytes", ap->name);
            metric_get(c, path, &bytes);
            snprintf(path, sizeof path, "app.%s.throughput", ap->name);
            metric_get(c, path, &tput);
            printf("  app %-12s %-11s on %-8s %12" PRIu64 " B  %9.3f Mbps", ap->name,
                   tw_scenario_app_type_name(ap->type), sc->hosts[ap->host].name, bytes,
                   (double)tput / 1e6);
            snprintf(path, sizeof path, "app.%s.latency.p99", ap->name);
            if (ap->type == TW_SCENARIO_APP_UDP_CLIENT || ap->type == TW_SCENARIO_APP_TCP_CLIENT ||
                ap->type == TW_SCENARIO_APP_HTTP_CLIENT) {
                metric_get(c, path, &p99);
                printf("  p99 %s", tw_format_duration(p99, b2, sizeof b2));
            }
            printf("\n");
        }
    }
    for (uint32_t i = 0; i < sc->expect_count; i++) {
        if (c->o->quiet && vs[i].passed) {
            continue;
        }
        const tw_scenario_expect *e = &sc->expects[i];
        char obs[48], exp[128];
        if (vs[i].found) {
            format_value(e->unit, vs[i].observed, obs, sizeof obs);
        } else {
            snprintf(obs, sizeof obs, "nothing");
        }
        format_expected(e, exp, sizeof exp);
        printf("  %s %s: observed %s, expected %s\n", vs[i].passed ? "✓" : "✗", e->name, obs, exp);
    }
    if (!c->o->quiet) {
        printf("  %s: %u of %u expectations held\n", passed ? "passed" : "FAILED",
               sc->expect_count - failed, sc->expect_count);
    }
    printf("  trace hash %016" PRIx64 "\n", tw_world_trace_hash(c->w));
}

int tw_scen_run(const tw_scen_opts *o, tw_scen_result *r)
{
    memset(r, 0, sizeof(*r));
    tw_scenario *sc = NULL;
    int rc = load(o, &sc);
    if (rc) {
        return rc;
    }
    scen_ctx c = {.o = o, .sc = sc};
    c.apps = calloc(sc->app_count ? sc->app_count : 1, sizeof(app_rt));
    c.ev = calloc(sc->expect_count ? sc->expect_count : 1, sizeof(eventually));
    verdict *vs = calloc(sc->expect_count ? sc->expect_count : 1, sizeof(verdict));
    FILE *report = NULL;
    if (o->report_path && !(report = fopen(o->report_path, "w"))) {
        fprintf(stderr, "twin run: --report: cannot open '%s' for writing\n", o->report_path);
        rc = TW_EXIT_USAGE;
        goto out;
    }
    if (o->series_path && !(c.series = fopen(o->series_path, "w"))) {
        fprintf(stderr, "twin run: --series: cannot open '%s' for writing\n", o->series_path);
        rc = TW_EXIT_USAGE;
        goto out;
    }
    if (o->trace_path && !(c.trace = fopen(o->trace_path, "w"))) {
        fprintf(stderr, "twin run: --trace: cannot open '%s' for writing\n", o->trace_path);
        rc = TW_EXIT_USAGE;
        goto out;
    }
    if (o->pcap_dir && (sc->capture.pcap_all || sc->capture.pcap_count) &&
        !(c.pcap = tw_pcap_tap_create(o->pcap_dir))) {
        fprintf(stderr, "twin run: --pcap: cannot use '%s': %s\n", o->pcap_dir, strerror(errno));
        rc = TW_EXIT_USAGE;
        goto out;
    }
    rc = build(&c, sc->seed);
    if (rc) {
        goto out;
    }
    if (c.trace) {
        fprintf(c.trace, "# index time_ns kind core work type outputs cost_ns running_hash\n");
        tw_sim_set_hook(tw_world_sim(c.w), trace_hook, c.trace);
    }
    uint64_t t0 = tw_cli_wall_ns();
    run_world(&c);
    uint64_t wall = tw_cli_wall_ns() - t0;
    bool passed = true;
    for (uint32_t i = 0; i < sc->expect_count; i++) {
        vs[i] = judge(&c, i);
        passed &= vs[i].passed;
        r->failed += !vs[i].passed;
    }
    r->passed = passed;
    r->expectations = sc->expect_count;
    r->trace_hash = tw_world_trace_hash(c.w);
    r->events = tw_world_sim(c.w)->events;
    print_summary(&c, vs, passed, r->failed, wall);
    if (report) {
        write_report(&c, report, sc->seed, vs, passed, wall);
    }
    rc = passed ? TW_EXIT_OK : TW_EXIT_FAILED;
out:
    if (c.pcap && tw_pcap_tap_close(c.pcap) < 0 && rc == TW_EXIT_OK) {
        fprintf(stderr, "twin run: --pcap: writing the captures failed\n");
        rc = TW_EXIT_USAGE;
    }
    if (report && fclose(report) != 0 && rc != TW_EXIT_USAGE) {
        fprintf(stderr, "twin run: --report: writing '%s' failed\n", o->report_path);
        rc = TW_EXIT_USAGE;
    }
    if (c.series) {
        fclose(c.series);
    }
    if (c.trace) {
        fclose(c.trace);
    }
    if (c.w) {
        tw_world_destroy(c.w);
    }
    free(vs);
    free(c.ev);
    for (uint32_t a = 0; a < sc->app_count; a++) {
        free(c.apps[a].frozen);
    }
    free(c.apps);
    tw_scenario_free(sc);
    return rc;
}
