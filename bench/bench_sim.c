/* Simulator dispatch throughput against a bare event loop, in one process.
 *
 * twin: tokens circulate through no-op forwarding tasks on simulated cores;
 * every hop is one simulator event carrying a bus message through the core
 * model, the worker, the task and back out (cost profile zero, so the cores
 * never queue and the count of events is exactly the count of hops).
 * bare: a binary min-heap of (time, seq) events; each pop pushes one event a
 * fixed latency later, the least a discrete-event loop can do.
 * Both keep the same number of events pending. Prints events/s and the
 * ratio twin/bare (the goal is >= 0.5). */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "sim/sim.h"

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- bare heap loop ---- */

typedef struct bev {
    uint64_t time;
    uint64_t seq;
    uint64_t payload;
} bev;

static int bless(const bev *a, const bev *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void bpush(bev *h, uint32_t *n, bev e)
{
    uint32_t i = (*n)++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!bless(&e, &h[p])) {
            break;
        }
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static bev bpop(bev *h, uint32_t *n)
{
    bev top = h[0];
    bev last = h[--(*n)];
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1;
        if (l >= *n) {
            break;
        }
        uint32_t c = (l + 1 < *n && bless(&h[l + 1], &h[l])) ? l + 1 : l;
        if (!bless(&h[c], &last)) {
            break;
        }
        h[i] = h[c];
        i = c;
    }
    if (*n) {
        h[i] = last;
    }
    return top;
}

static double bare_loop(uint32_t pending, uint64_t events, uint64_t *check)
{
    bev *h = malloc(sizeof(bev) * pending);
    uint32_t n = 0;
    uint64_t seq = 0, sum = 0;
    for (uint32_t i = 0; i < pending; i++) {
        bpush(h, &n, (bev){.time = i, .seq = seq++, .payload = i});
    }
    uint64_t t0 = wall_ns();
    for (uint64_t k = 0; k < events; k++) {
        bev e = bpop(h, &n);
        sum += e.payload;
        bpush(h, &n, (bev){.time = e.time + 400, .seq = seq++, .payload = e.payload + 1});
    }
    uint64_t dt = wall_ns() - t0;
    *check = sum;
    free(h);
    return (double)events / ((double)dt / 1e9);
}

/* ---- twin: forwarding tasks ---- */

enum { M_TOKEN = TW_MSG_APP };

typedef struct fwd {
    tw_addr next;
    uint8_t has_out;
    tw_task_output out;
} fwd;

static void fwd_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    fwd *f = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        memcpy(&f->next, in->msg->data, sizeof(f->next));
        return;
    }
    if (in->msg->type == M_TOKEN || in->msg->type == M_TOKEN + 1) {
        tw_task_out_send(&f->out, t->addr, TW_MSG_DIRECT, f->next, M_TOKEN, NULL, 0);
        f->has_out = 1;
    }
}
static void fwd_tick(tw_task *t, tw_ns now) {}
static bool fwd_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    fwd *f = tw_task_state(t);
    if (!f->has_out) {
        return false;
    }
    *out = f->out;
    f->has_out = 0;
    return true;
}

static const tw_task_ops fwd_ops = {"fwd", sizeof(fwd), fwd_input, fwd_tick, fwd_pop, NULL};
static const tw_task_ops *const fwd_types[] = {&fwd_ops};
static const tw_task_registry fwd_registry = {fwd_types, 1};

typedef struct ring_prog {
    uint32_t tasks;
    uint32_t cores;
    uint32_t acked;
    uint64_t first_req;
    tw_addr *addrs;
} ring_prog;

/* Task i forwards to task i+1 (on the next core); the controller then
 * injects one token into each of the first `tasks` tasks. Addresses are
 * known in advance: task i is slot i / cores on core i % cores, generation 0. */
static tw_addr addr_of(const ring_prog *p, uint32_t i)
{
    i %= p->tasks;
    return tw_addr_make(i % p->cores, 0, i / p->cores);
}

static void ring_start(tw_controller *c, tw_ns now, void *ctx)
{
    ring_prog *p = ctx;
    for (uint32_t i = 0; i < p->tasks; i++) {
        tw_addr next = addr_of(p, i + 1);
        tw_controller_spawn(c, 0, 0, i % p->cores, &next, sizeof(next));
    }
}

static void ring_spawned(tw_controller *c, tw_ns now, void *ctx, uint64_t req, const tw_spawn_ack *a)
{
    ring_prog *p = ctx;
    if (++p->acked == p->tasks) {
        for (uint32_t i = 0; i < p->tasks; i++) {
            tw_controller_send(c, TW_MSG_DIRECT, addr_of(p, i), M_TOKEN + 1, NULL, 0);
        }
    }
}

static const tw_controller_program ring_program = {.on_start = ring_start, .on_spawned = ring_spawned};

static double twin_loop(uint32_t tokens, uint32_t cores, uint64_t events, uint64_t *hash)
{
    static tw_sim s;
    ring_prog p = {.tasks = tokens, .cores = cores};
    tw_sim_config cfg;
    tw_sim_config_default(&cfg);
    cfg.cores = cores;
    memset(&cfg.cost, 0, sizeof(cfg.cost));
    cfg.bus_latency_ns = 400;
    cfg.bus_latency_local_ns = 400;
    cfg.inbox_capacity = tokens + 16;
    cfg.inflight_max = tokens * 2 + 64;
    cfg.event_capacity = tokens * 4 + 64;
    cfg.worker.registry = &fwd_registry;
    cfg.worker.max_tasks = tokens / cores + 1;
    cfg.worker.task_state_max = sizeof(fwd);
    cfg.controller.registry = &fwd_registry;
    cfg.controller.program = &ring_program;
    cfg.controller.program_ctx = &p;
    cfg.controller.outq_max = tokens + 16;
    tw_sim_init(&s, &cfg);
    /* Warm up: spawn and inject. */
    tw_sim_run_until(&s, TW_MS(1));
    uint64_t start = s.events;
    tw_mem_seal();
    uint64_t t0 = wall_ns();
    while (s.events - start < events && tw_sim_step(&s, TW_NS_NEVER)) {
    }
    uint64_t dt = wall_ns() - t0;
    tw_mem_unseal();
    uint64_t done = s.events - start;
    *hash = s.trace_hash;
    if (s.inbox_drops || s.msgs_lost) {
        fprintf(stderr, "bench_sim: lost messages; the comparison would be unfair\n");
        exit(1);
    }
    tw_sim_free(&s);
    return (double)done / ((double)dt / 1e9);
}

int main(int argc, char **argv)
{
    uint64_t events = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000;
    static const uint32_t pendings[] = {1024, 65536};
    printf("simulator dispatch vs bare binary-heap loop, %" PRIu64 " events each\n", events);
    printf("%10s %6s %14s %14s %8s\n", "pending", "cores", "twin ev/s", "bare ev/s", "ratio");
    for (size_t i = 0; i < sizeof(pendings) / sizeof(pendings[0]); i++) {
        uint64_t check, hash;
        double bare = bare_loop(pendings[i], events, &check);
        double twin = twin_loop(pendings[i], 4, events, &hash);
        printf("%10u %6u %14.0f %14.0f %7.2fx\n", pendings[i], 4u, twin, bare, twin / bare);
    }
    return 0;
}
