/* A worker: one per core. It owns its tasks (fixed slots sized at init),
 * their timers on one hierarchical wheel, and its local bus tables (group
 * membership and channel subscriptions). Share-nothing: nothing here is
 * touched by another worker; everything between workers is a tw_msg.
 *
 * The sans-io contract:
 *   tw_worker_on_input      a message reached this worker
 *   tw_worker_on_tick       deadlines are due
 *   tw_worker_pop_output    call until false before the next input or tick
 *   tw_worker_next_deadline when to call on_tick next (TW_NS_NEVER: idle)
 * Only tasks that were given an input or a tick are polled for outputs (a
 * dirty bitset), so the cost of a turn grows with activity, not with the
 * number of tasks.
 *
 * A worker may own one network service: a user-space stack instance
 * (core/net) that tasks reach through UDP outputs and TW_TIN_NET inputs.
 * Frames for it come in as TW_IN_FRAME and leave as TW_OUT_FRAME.
 *
 * Or it may use the kernel's sockets (kernel_net, no stack): the same task
 * outputs leave as TW_OUT_NET_REQ requests and the sockets' answers come in
 * as TW_IN_NET_CPL completions (rt/io.h). The endpoint, connection and
 * listener tables, their bounds and the ownership checks are the same in
 * both; only who performs the operation differs. */
#ifndef TW_RT_WORKER_H
#define TW_RT_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/rng.h"
#include "base/ring.h"
#include "base/time.h"
#include "rt/io.h"
#include "rt/task.h"
#include "base/timer.h"

typedef struct tw_worker_config {
    uint32_t id;             /* endpoint id, 0..TW_ENDPOINTS_MAX-1 */
    uint32_t max_tasks;      /* task slots */
    uint32_t task_state_max; /* bytes of state per slot */
    uint32_t max_channels;   /* distinct channels subscribed at once */
    uint32_t outq_max;       /* the worker's own pending outputs (acks, reports) */
    uint64_t seed;
    const tw_task_registry *registry;
    tw_stack *stack;            /* the network service, or NULL */
    uint32_t net_endpoints_max; /* UDP endpoints tracked (the stack's endpoints_max) */
    uint32_t tcp_conns_max;     /* the stack's TCP conns_max, when it has TCP */
    uint32_t tcp_listeners_max; /* the stack's TCP listeners_max */
    bool kernel_net;            /* no stack: network outputs become TW_OUT_NET_REQ */
} tw_worker_config;

/* Endpoint ids from the stack carry a generation above the low 16 bits (the
 * slot); the worker keeps the whole id to refuse stale ones. */
typedef struct tw_worker_ep {
    uint32_t id;
    tw_addr owner;
    uint64_t cookie; /* kernel_net: the bind's, for its answer */
} tw_worker_ep;

typedef struct tw_worker_conn {
    int64_t conn;
    tw_addr owner;
} tw_worker_conn;

typedef struct tw_worker_listener {
    tw_ipv4_addr addr;
    uint16_t port;
    tw_addr owner; /* TW_ADDR_NONE: free */
    uint64_t cookie; /* kernel_net: the listen's, for its answer */
} tw_worker_listener;

typedef struct tw_channel {
    uint32_t id;
    uint32_t members;
    uint64_t *bits; /* task slots subscribed */
} tw_channel;

struct tw_worker {
    tw_worker_config cfg;
    tw_rng rng;
    tw_wheel wheel;
    tw_task *tasks;
    tw_timer *timers;
    uint8_t *states;
    uint16_t *gens;
    uint32_t *free_slots;
    uint32_t nfree;
    uint64_t *live;  /* bitset: slots with a task */
    uint64_t *dirty; /* bitset: slots whose outputs are not yet all popped */
    uint32_t *dirty_fifo; /* the same slots, in the order they became dirty */
    uint32_t dirty_head;
    uint32_t dirty_count;
    tw_ring own_out; /* tw_msg: spawn acks, status reports, exit notices */
    tw_channel *channels;
    tw_worker_ep *eps;  /* per UDP endpoint slot: its id and the task that bound it */
    tw_tcp *tcp;        /* the stack's TCP, or NULL */
    tw_worker_conn *conns;         /* per TCP connection slot */
    uint32_t conns_max;
    tw_worker_listener *listeners;
    uint32_t listeners_max;
    tw_ring net_done;   /* net_completion: answers waiting for their task */
    tw_ring net_req;    /* kernel_net: tw_net_req waiting to be popped, in order */
    tw_worker_status status;
    bool pending_tick_outputs;
};

void tw_worker_init(tw_worker *w, const tw_worker_config *cfg, tw_ns now);
void tw_worker_free(tw_worker *w);

void tw_worker_on_input(tw_worker *w, tw_ns now, const tw_input *in);
void tw_worker_on_tick(tw_worker *w, tw_ns now);
bool tw_worker_pop_output(tw_worker *w, tw_ns now, tw_output *out);
tw_ns tw_worker_next_deadline(const tw_worker *w);

/* Spawns a task directly (what a TW_MSG_SPAWN does), for drivers and tests
 * that build a world without a controller. Returns its address or a negative
 * error (-TW_ENOMEM when no slot is free, -TW_EINVAL for an unknown type). */
int64_t tw_worker_spawn(tw_worker *w, tw_ns now, uint32_t type, uint32_t group, const void *args,
                        uint32_t args_len);

tw_rng *tw_worker_rng(tw_worker *w);
/* The status with the driver's fields as last set. */
const tw_worker_status *tw_worker_status_get(const tw_worker *w);
/* The fields only a driver can measure. */
void tw_worker_driver_stats(tw_worker *w, uint64_t busy_ns, uint32_t queue_depth,
                            uint32_t queue_high, uint64_t queue_drops);
/* The task at addr, or NULL if it has exited (stale generation) or never was. */
tw_task *tw_worker_task(tw_worker *w, tw_addr addr);
bool tw_worker_has_pending_outputs(const tw_worker *w);

#endif
