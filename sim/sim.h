/* The simulator kernel: a virtual clock, an event queue, and simulated cores
 * that each run one sans-io node (a worker, or the controller).
 *
 * A core is busy for a cost per unit of work (per input kind: base ns plus
 * ns per byte, and a cost per output), so a loaded core delays its later
 * inputs, which wait in a bounded inbox (overflow counted): simulated
 * throughput and latency depend on core count the way live runs do. Bus
 * messages travel between cores with a latency, carried by the event that
 * delivers them; a message is put in the target's inbox when it arrives.
 *
 * Every event folds into a running 64-bit trace hash. Pure: nothing here
 * reads a clock or a random source; the seed is configuration. */
#ifndef TW_SIM_SIM_H
#define TW_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "base/pool.h"
#include "base/time.h"
#include "rt/bus.h"
#include "rt/controller.h"
#include "rt/io.h"
#include "rt/worker.h"
#include "sim/evq.h"

/* The cost of one unit of work: base_ns + bytes * ps_per_byte / 1000. */
typedef struct tw_cost {
    uint32_t base_ns;
    uint32_t ps_per_byte;
} tw_cost;

typedef struct tw_cost_profile {
    tw_cost msg;    /* a bus message taken as input */
    tw_cost timer;  /* per timer fired */
    tw_cost output; /* per output popped */
} tw_cost_profile;

/* A default profile, close to what `twin calibrate` measures on a current
 * x86 core for the runtime alone. */
extern const tw_cost_profile tw_cost_profile_default;

typedef struct tw_sim_config {
    uint64_t seed;
    uint32_t cores; /* workers; the controller gets a core of its own */
    tw_cost_profile cost;
    tw_ns bus_latency_local_ns; /* a message to the sender's own core */
    tw_ns bus_latency_ns;       /* a message to another core */
    uint32_t inbox_capacity;    /* messages waiting at a core */
    uint32_t inflight_max;      /* messages travelling at once */
    uint32_t event_capacity;
    tw_worker_config worker;    /* id and seed are filled per core */
    tw_controller_config controller;
} tw_sim_config;

/* Every config field has a sensible default; callers override what they
 * need. */
void tw_sim_config_default(tw_sim_config *cfg);

typedef enum tw_sim_event_kind {
    TW_SIM_EV_ARRIVE = 1, /* a message reaches a core's inbox */
    TW_SIM_EV_WAKE,       /* a core finishes work or a deadline comes */
} tw_sim_event_kind;

/* What a traced event did, for --trace and divergence reports. */
typedef struct tw_sim_record {
    uint64_t index; /* events processed before this one */
    tw_ns time;
    uint32_t kind;  /* tw_sim_event_kind */
    uint32_t core;
    uint32_t work;  /* 0 none, 1 message input, 2 tick, 3 inbox drop */
    uint32_t msg_type;
    uint32_t outputs;
    uint32_t cost_ns;
    uint64_t hash; /* the running trace hash after this event */
} tw_sim_record;

typedef void (*tw_sim_hook)(void *ctx, const tw_sim_record *rec);

typedef struct tw_sim_core {
    uint32_t endpoint;
    bool is_controller;
    tw_mailbox inbox;
    tw_ns busy_until;
    tw_ns wake_at;
    uint32_t wake_gen;
    bool wake_pending;
    uint64_t busy_ns;
    uint64_t inputs;
    uint64_t ticks;
} tw_sim_core;

typedef struct tw_sim {
    tw_sim_config cfg;
    tw_ns now;
    tw_evq q;
    tw_pool flight; /* tw_msg travelling between cores */
    tw_sim_core *cores; /* cores[0..n-1] workers, cores[n] the controller */
    tw_worker *workers;
    tw_controller controller;
    uint64_t events;     /* events processed (stale wakes excluded) */
    uint64_t stale;      /* superseded wakes skipped */
    uint64_t trace_hash;
    uint64_t msgs_sent;  /* endpoint deliveries scheduled */
    uint64_t msgs_lost;  /* refused: in-flight pool or event queue full */
    uint64_t inbox_drops;
    tw_sim_hook hook;
    void *hook_ctx;
} tw_sim;

void tw_sim_init(tw_sim *s, const tw_sim_config *cfg);
void tw_sim_free(tw_sim *s);
void tw_sim_set_hook(tw_sim *s, tw_sim_hook hook, void *ctx);

/* Processes the next event if it is due at or before `until`; false when
 * there is none. */
bool tw_sim_step(tw_sim *s, tw_ns until);
/* Runs every event up to and including `until`, then sets the clock there. */
void tw_sim_run_until(tw_sim *s, tw_ns until);

static inline tw_worker *tw_sim_worker(tw_sim *s, uint32_t i) { return &s->workers[i]; }
static inline tw_controller *tw_sim_controller(tw_sim *s) { return &s->controller; }
static inline const tw_sim_core *tw_sim_core_at(const tw_sim *s, uint32_t i) { return &s->cores[i]; }

#endif
