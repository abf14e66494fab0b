/* The controller: spawns tasks onto workers, sends commands to workers and
 * tasks, and collects the workers' status reports. It speaks the same
 * sans-io contract as a worker and runs on its own (simulated or real)
 * core; every exchange with a worker is a bus message.
 *
 * What to spawn and when is decided by a program (a scenario, the demo)
 * that the controller calls back from inside its own entry points; the
 * program answers by calling tw_controller_spawn/send/request_status, which
 * queue outputs. */
#ifndef TW_RT_CONTROLLER_H
#define TW_RT_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/ring.h"
#include "base/time.h"
#include "rt/io.h"
#include "rt/task.h"

#define TW_PLACE_LEAST_LOADED UINT32_MAX

typedef struct tw_controller tw_controller;

typedef struct tw_controller_program {
    void (*on_start)(tw_controller *c, tw_ns now, void *ctx);
    void (*on_spawned)(tw_controller *c, tw_ns now, void *ctx, uint64_t req,
                       const tw_spawn_ack *ack);
    void (*on_status)(tw_controller *c, tw_ns now, void *ctx, uint32_t worker,
                      const tw_worker_status *st);
    void (*on_message)(tw_controller *c, tw_ns now, void *ctx, const tw_msg *m);
    void (*on_deadline)(tw_controller *c, tw_ns now, void *ctx);
} tw_controller_program;

typedef struct tw_controller_config {
    uint32_t workers;
    uint32_t outq_max;        /* commands queued before pop_output takes them */
    tw_ns start_ns;           /* when the program starts */
    tw_ns status_period_ns;   /* 0: status only when the program asks */
    const tw_task_registry *registry;
    const tw_controller_program *program;
    void *program_ctx;
} tw_controller_config;

typedef struct tw_worker_view {
    tw_worker_status status; /* the last report */
    tw_ns reported_at;       /* TW_NS_NEVER before the first */
    uint32_t assigned;       /* tasks the controller placed there, minus exits */
    uint64_t reports;
} tw_worker_view;

struct tw_controller {
    tw_controller_config cfg;
    tw_ring outq; /* tw_msg */
    tw_worker_view *views;
    uint64_t next_req;
    tw_ns next_status_at;
    tw_ns program_deadline;
    bool started;
    uint64_t refused;  /* commands refused because outq was full */
    uint64_t spawned;  /* acks with a task */
    uint64_t failed;   /* acks with an error */
    uint64_t exited;
    uint64_t messages; /* task messages addressed to the controller */
    uint64_t inputs;
};

void tw_controller_init(tw_controller *c, const tw_controller_config *cfg);
void tw_controller_free(tw_controller *c);

void tw_controller_on_input(tw_controller *c, tw_ns now, const tw_input *in);
void tw_controller_on_tick(tw_controller *c, tw_ns now);
bool tw_controller_pop_output(tw_controller *c, tw_ns now, tw_output *out);
tw_ns tw_controller_next_deadline(const tw_controller *c);

/* Commands. Each returns a request id (>= 1) or -TW_EFULL (counted) when
 * the command queue is full, -TW_EINVAL for a bad argument. */
int64_t tw_controller_spawn(tw_controller *c, uint32_t type, uint32_t group, uint32_t worker,
                            const void *args, uint32_t args_len);
int64_t tw_controller_kill(tw_controller *c, tw_addr task);
int64_t tw_controller_send(tw_controller *c, tw_msg_mode mode, uint64_t target, uint32_t type,
                           const void *data, uint32_t len);
int64_t tw_controller_request_status(tw_controller *c);
/* The program's own deadline (TW_NS_NEVER clears it). */
void tw_controller_set_deadline(tw_controller *c, tw_ns at);

/* Where TW_PLACE_LEAST_LOADED would put a task now: fewest tasks assigned,
 * then least busy time in the last report, then the lowest id. */
uint32_t tw_controller_least_loaded(const tw_controller *c);
const tw_worker_view *tw_controller_view(const tw_controller *c, uint32_t worker);

#endif
