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

#include "base/error.h"
#include "base/rng.h"
#include "cli/cli.h"
#include "cli/pcap_tap.h"
#include "cli/scenario_common.h"
#include "scenario/model.h"
#include "sim/world.h"

typedef struct scen_ctx {
    tw_scen_ctx s; /* first: the shared runner's view of this run */
    const tw_scen_opts *o;
    tw_world *w;
    tw_pcap_tap *pcap;
    FILE *trace;
} scen_ctx;

#define fail tw_scen_fail

/* ---- the simulated world behind the shared runner ------------------------- */

static tw_ns sim_now(void *w) { return tw_world_now(w); }
static void sim_run_until(void *w, tw_ns until) { tw_world_run_until(w, until); }
static uint32_t sim_host_core(void *w, uint32_t host, uint32_t core)
{
    return tw_world_host_core(w, host, core);
}
static tw_worker *sim_worker(void *w, uint32_t worker) { return tw_world_worker(w, worker); }
static tw_stack *sim_stack(void *w, uint32_t host, uint32_t core)
{
    return tw_world_stack(w, host, core);
}

static bool sim_core_stat(void *w, uint32_t host, uint32_t core, const char *leaf, uint64_t *out)
{
    const tw_sim_core *k = tw_sim_core_at(tw_world_sim(w), tw_world_host_core(w, host, core));
    *out = !strcmp(leaf, "busy") ? k->busy_ns : !strcmp(leaf, "events") ? k->inputs : k->inbox.drops;
    return !strcmp(leaf, "busy") || !strcmp(leaf, "events") || !strcmp(leaf, "inbox_drops");
}

static const tw_link *sim_link(void *w, uint32_t link, uint32_t dir)
{
    return tw_world_link(w, link, dir);
}
static const tw_world_switch_stats *sim_switch_stats(void *w, uint32_t sw)
{
    return tw_world_switch_stats_get(w, sw);
}
static uint32_t sim_crashes(void *w, uint32_t host) { return tw_world_host_stats_get(w, host)->crashes; }

/* Every drop the world made, by reason, where there were any. */
static void sim_extra_metrics(void *w, tw_scen_metric_fn fn, void *ctx)
{
    char path[64];
    for (int r = 0; r < TW_SIM_DROP_COUNT; r++) {
        uint64_t n = tw_world_drops(w, (tw_sim_drop)r);
        if (n) {
            snprintf(path, sizeof path, "world.drops.%s", tw_sim_drop_name((tw_sim_drop)r));
            fn(ctx, path, n);
        }
    }
}

static int64_t sim_spawn(void *w, uint32_t worker, uint32_t type, const void *args, uint32_t len)
{
    return tw_world_spawn(w, worker, type, 0, args, len);
}
static void sim_kill(void *w, tw_addr task) { tw_world_kill(w, task); }
static uint64_t sim_trace_hash(void *w) { return tw_world_trace_hash(w); }
static uint64_t sim_events(void *w) { return tw_world_sim(w)->events; }

static const tw_scen_world_ops sim_ops = {
    .mode = "sim",
    .now = sim_now,
    .run_until = sim_run_until,
    .host_core = sim_host_core,
    .worker = sim_worker,
    .stack = sim_stack,
    .core_stat = sim_core_stat,
    .link = sim_link,
    .switch_stats = sim_switch_stats,
    .crashes = sim_crashes,
    .extra_metrics = sim_extra_metrics,
    .spawn = sim_spawn,
    .kill = sim_kill,
    .trace_hash = sim_trace_hash,
    .events = sim_events,
};

/* ---- building the world ----------------------------------------------------- */

static int add_host(scen_ctx *c, uint32_t i)
{
    static tw_world_host_config hc;
    int rc = tw_scen_host_config(&c->s, i, &hc);
    if (rc) {
        return rc;
    }
    rc = tw_world_host_add(c->w, &hc);
    return rc < 0 ? fail(c->o->file, "a host the simulator cannot build", rc) : 0;
}


static tw_world_end end_of(const tw_scenario_end *e)
{
    return e->kind == TW_SCENARIO_END_IFACE ? tw_world_host_end(e->host, e->iface)
                                            : tw_world_switch_end(e->sw, e->port);
}

static int add_faults(scen_ctx *c)
{
    for (uint32_t i = 0; i < c->s.sc->fault_count; i++) {
        const tw_scenario_fault *f = &c->s.sc->faults[i];
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
    const tw_scenario_swarm *sw = &c->s.sc->swarm;
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
                   c->s.sc->links[l].name, k ? "reverse" : "forward", d[k].loss.num, d[k].loss.den,
                   d[k].duplicate.num, d[k].duplicate.den, d[k].reorder.num, d[k].reorder.den,
                   d[k].corrupt.num, d[k].corrupt.den, d[k].delay_ns, d[k].jitter_ns,
                   d[k].bandwidth_bps);
        }
    }
}

static int add_links_and_taps(scen_ctx *c)
{
    tw_rng swarm_rng;
    tw_rng_init(&swarm_rng, c->s.sc->seed, 0x737761726dull); /* "swarm" */
    for (uint32_t i = 0; i < c->s.sc->link_count; i++) {
        const tw_scenario_link *l = &c->s.sc->links[i];
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
    const tw_scenario_capture *cap = &c->s.sc->capture;
    for (uint32_t i = 0; i < c->s.sc->link_count; i++) {
        bool want = cap->pcap_all;
        for (uint32_t p = 0; p < cap->pcap_count && !want; p++) {
            const tw_scenario_pcap *pc = &cap->pcaps[p];
            want = pc->is_link ? pc->link == i
                               : c->s.sc->hosts[pc->host].ifaces[pc->iface].link == i;
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
    const tw_scenario *sc = c->s.sc;
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
    wc.sim.controller.registry = &tw_scen_app_registry;
    wc.sim.controller.program = &tw_scen_program;
    wc.sim.controller.program_ctx = &c->s;
    wc.sim.controller.outq_max = 4 * c->s.sc->app_count + 64;
    wc.hosts_max = c->s.sc->host_count;
    wc.switches_max = c->s.sc->switch_count;
    wc.links_max = c->s.sc->link_count;
    /* Room for the file's faults and, in swarm mode, the drawn ones. */
    uint64_t drawn = c->o->swarm ? c->s.sc->swarm.partitions.hi + c->s.sc->swarm.crashes.hi +
                                       c->s.sc->swarm.stalls.hi
                                 : 0;
    wc.partitions_max = (uint32_t)(c->s.sc->fault_count + drawn + 1);
    wc.faults_max = (uint32_t)(2 * (c->s.sc->fault_count + drawn) + 1);
    /* NIC buffers hold frames between a core and a link: a TCP burst of a
     * whole congestion window waits there for its turn on the wire. */
    uint64_t cores = 0;
    for (uint32_t h = 0; h < c->s.sc->host_count; h++) {
        cores += c->s.sc->hosts[h].cores;
    }
    uint64_t bufs = 1024 * cores + 16384;
    wc.nic_buffers = (uint32_t)(bufs > (1u << 20) ? (1u << 20) : bufs);
    if (c->pcap) {
        tw_pcap_tap_hooks(c->pcap, &wc.taps);
    }
    c->w = tw_world_create(&wc);
    for (uint32_t i = 0; i < c->s.sc->host_count; i++) {
        int rc = add_host(c, i);
        if (rc) {
            return rc;
        }
    }
    for (uint32_t i = 0; i < c->s.sc->switch_count; i++) {
        const tw_scenario_switch *ss = &c->s.sc->switches[i];
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

static void trace_hook(void *ctx, const tw_sim_record *rec)
{
    FILE *f = ctx;
    fprintf(f, "%" PRIu64 " %" PRIu64 " k=%u core=%u w=%u t=%u out=%u cost=%u %016" PRIx64 "\n",
            rec->index, rec->time, rec->kind, rec->core, rec->work, rec->msg_type, rec->outputs,
            rec->cost_ns, rec->hash);
}

int tw_scen_run(const tw_scen_opts *o, tw_scen_result *r)
{
    memset(r, 0, sizeof(*r));
    tw_scenario *sc = NULL;
    int rc = tw_scen_load(o, &sc);
    if (rc) {
        return rc;
    }
    scen_ctx c = {.o = o};
    tw_scen_ctx_init(&c.s, o, sc);
    c.s.ops = &sim_ops;
    FILE *report = NULL;
    if (o->report_path && !(report = fopen(o->report_path, "w"))) {
        fprintf(stderr, "twin run: --report: cannot open '%s' for writing\n", o->report_path);
        rc = TW_EXIT_USAGE;
        goto out;
    }
    if (o->series_path && !(c.s.series = fopen(o->series_path, "w"))) {
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
    c.s.w = c.w;
    if (rc) {
        goto out;
    }
    if (c.trace) {
        fprintf(c.trace, "# index time_ns kind core work type outputs cost_ns running_hash\n");
        tw_sim_set_hook(tw_world_sim(c.w), trace_hook, c.trace);
    }
    uint64_t t0 = tw_cli_wall_ns();
    tw_scen_run_schedule(&c.s);
    uint64_t wall = tw_cli_wall_ns() - t0;
    bool passed = tw_scen_judge_all(&c.s, r);
    r->trace_hash = tw_world_trace_hash(c.w);
    r->events = tw_world_sim(c.w)->events;
    tw_scen_print_summary(&c.s, passed, r->failed, wall);
    if (report) {
        tw_scen_write_report(&c.s, report, passed, wall);
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
    if (c.s.series) {
        fclose(c.s.series);
    }
    if (c.trace) {
        fclose(c.trace);
    }
    if (c.w) {
        tw_world_destroy(c.w);
    }
    tw_scen_ctx_free(&c.s);
    return rc;
}
