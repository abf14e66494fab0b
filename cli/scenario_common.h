/* What `twin run` does the same in both worlds: loading the file, the
 * twin hosts' stack and worker configuration, the apps' task types and
 * spawn arguments, the schedule of app starts, stops and metric samples,
 * the metric names of docs/scenarios.md, judging the expectations, the
 * summary and the JSON report of docs/report.md.
 *
 * A runner (the simulator's cli/scenario_run.c, the live one cli/live_run.c)
 * supplies a world behind tw_scen_world_ops: where a host's core runs, its
 * worker and stack, its links, how to spawn and kill a task and how to let
 * time pass. Everything else is here, once, so that the same file is judged
 * by the same code whichever world ran it. */
#ifndef TW_CLI_SCENARIO_COMMON_H
#define TW_CLI_SCENARIO_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/time.h"
#include "cli/scenario_run.h"
#include "link/link.h"
#include "net/stack.h"
#include "rt/controller.h"
#include "rt/worker.h"
#include "scenario/model.h"
#include "sim/world.h"

/* The apps' task types, indexed by tw_scenario_app_type. */
extern const tw_task_registry tw_scen_app_registry;

typedef void (*tw_scen_metric_fn)(void *ctx, const char *name, uint64_t value);

/* The world a runner drives. Callbacks a world has no answer for may be
 * NULL (a live world has no switch statistics when its switch is a Linux
 * bridge): the metrics they would give are not published. */
typedef struct tw_scen_world_ops {
    const char *mode; /* "sim" or "live": the report's mode */
    tw_ns (*now)(void *w);
    /* Lets the world run until `until` (simulated or wall time). */
    void (*run_until)(void *w, tw_ns until);
    uint32_t (*host_core)(void *w, uint32_t host, uint32_t core); /* the worker id */
    tw_worker *(*worker)(void *w, uint32_t worker);
    tw_stack *(*stack)(void *w, uint32_t host, uint32_t core); /* NULL: down or not ours */
    /* busy (ns), events, inbox_drops of a host's core. */
    bool (*core_stat)(void *w, uint32_t host, uint32_t core, const char *leaf, uint64_t *out);
    const tw_link *(*link)(void *w, uint32_t link, uint32_t dir); /* NULL: not modelled */
    const tw_world_switch_stats *(*switch_stats)(void *w, uint32_t sw);
    uint32_t (*crashes)(void *w, uint32_t host);
    /* Metrics only this world has (world.drops.REASON). */
    void (*extra_metrics)(void *w, tw_scen_metric_fn fn, void *ctx);
    int64_t (*spawn)(void *w, uint32_t worker, uint32_t type, const void *args, uint32_t len);
    void (*kill)(void *w, tw_addr task);
    uint64_t (*trace_hash)(void *w); /* NULL: none (a live run), reported as null */
    /* Why this world does not measure metric `path` (a sim-only metric in
     * a live run), or NULL where it does. Such a metric is not published,
     * and an expectation on it fails saying why. NULL: all are measured. */
    const char *(*unmeasured)(void *w, const tw_scenario *sc, const char *path);
    uint64_t (*events)(void *w);
} tw_scen_world_ops;

/* A server with `core: any` runs one instance on every core of its host,
 * each listening on its own core's stack: the NIC steers each flow to one
 * core, and a share-nothing stack answers it there (what SO_REUSEPORT
 * gives a kernel server). A client runs one instance. */
#define TW_SCEN_INSTANCES_MAX TW_WORLD_CORES_MAX

typedef struct tw_scen_app_rt {
    uint32_t instances;
    uint32_t worker[TW_SCEN_INSTANCES_MAX];
    uint64_t req[TW_SCEN_INSTANCES_MAX]; /* the spawn requests */
    tw_addr addr[TW_SCEN_INSTANCES_MAX]; /* TW_ADDR_NONE until the controller's ack */
    bool spawned;
    bool stopped;
    bool external; /* run by a real program (a kernel host's): no task */
    struct tw_scen_app_counters *frozen; /* its metrics when it stopped */
} tw_scen_app_rt;

typedef struct tw_scen_eventually {
    bool base_taken;
    uint64_t base;
    bool held;
    uint64_t observed; /* the best value seen in the window (for the report) */
    bool seen;
} tw_scen_eventually;

typedef struct tw_scen_verdict {
    bool passed;
    bool found;
    uint64_t observed;
    const char *unmeasured; /* why the world does not measure the metric, or NULL */
} tw_scen_verdict;

typedef struct tw_scen_ctx {
    const tw_scen_opts *o;
    tw_scenario *sc;
    const tw_scen_world_ops *ops;
    void *w;
    tw_scen_app_rt *apps;
    tw_scen_eventually *ev;
    tw_scen_verdict *vs;
    FILE *series;
    uint64_t respawns;
    /* Called before the apps spawn or stop and metrics are sampled, and
     * released after: a live world stops its workers' turns meanwhile. */
    void (*lock)(void *w, bool on);
} tw_scen_ctx;

/* Loads the file and applies --set and --seed; 0 or an exit status. */
int tw_scen_load(const tw_scen_opts *o, tw_scenario **out);
/* Allocates the per-app and per-expectation state; tw_scen_ctx_free frees
 * it (and the scenario). */
void tw_scen_ctx_init(tw_scen_ctx *c, const tw_scen_opts *o, tw_scenario *sc);
void tw_scen_ctx_free(tw_scen_ctx *c);

/* Prints "FILE: what (error)" and returns TW_EXIT_USAGE. */
int tw_scen_fail(const char *file, const char *what, int rc);

/* The configuration of twin host h's cores: interfaces, routes, stack
 * (TCP sized from the scenario's apps and links), worker. 0 or an exit
 * status (a kernel host in the simulator, too many interfaces). */
int tw_scen_host_config(const tw_scen_ctx *c, uint32_t h, tw_world_host_config *hc);

/* The controller program: records the apps' addresses, restarts the apps
 * of a host that came back. program_ctx is the tw_scen_ctx. */
extern const tw_controller_program tw_scen_program;

/* Fills the spawn arguments of instance k of n of app a; returns their
 * length. A load client with more connections than one task holds runs as
 * several instances that split its connections, rate and count. */
uint32_t tw_scen_app_args(const tw_scen_ctx *c, uint32_t a, uint32_t k, uint32_t n, uint8_t *buf);
/* Spawns app a's instances through ops->spawn. */
void tw_scen_spawn_app(tw_scen_ctx *c, uint32_t a);

/* Runs the scenario's schedule: app starts and stops, metric samples,
 * through ops->run_until, to the scenario's end. */
void tw_scen_run_schedule(tw_scen_ctx *c);

/* The value of a metric path, or false when no such metric is published. */
bool tw_scen_metric_get(tw_scen_ctx *c, const char *path, uint64_t *out);
void tw_scen_each_metric(tw_scen_ctx *c, tw_scen_metric_fn fn, void *ctx);

/* Judges every expectation into c->vs; fills r's passed, failed and
 * expectations. */
bool tw_scen_judge_all(tw_scen_ctx *c, tw_scen_result *r);
void tw_scen_print_summary(tw_scen_ctx *c, bool passed, uint32_t failed, uint64_t wall_ns);
void tw_scen_write_report(tw_scen_ctx *c, FILE *f, bool passed, uint64_t wall_ns);

#endif
