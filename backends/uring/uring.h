/* The io_uring driver: live workers on pinned threads over the kernel's
 * sockets.
 *
 * One thread per core, pinned with pthread_setaffinity_np, each running one
 * tw_worker configured with the kernel network service (rt/io.h): the
 * worker's TW_OUT_NET_REQ requests become io_uring operations on kernel
 * sockets and their completions come back as TW_IN_NET_CPL inputs. Each
 * thread owns one ring and submits once per loop turn (the submit is also
 * the wait: io_uring_submit_and_wait_timeout with the worker's next
 * deadline). Receives are multishot (recvmsg for UDP, recv for TCP) from
 * provided buffer rings, accepts are multishot; a UDP datagram's buffer goes
 * back to the ring as soon as its task has been given it, a TCP buffer once
 * its bytes are consumed. Bus messages between workers go through bounded
 * single-producer rings, one per ordered pair of workers, with an
 * IORING_OP_MSG_RING to the target's ring as the wake-up, at most one per
 * target per turn.
 *
 * Usage: tw_uring_probe (exit 77 with its reason when it fails),
 * tw_uring_create, tw_uring_spawn for each task, tw_uring_start, then
 * tw_uring_stop from any thread, tw_uring_stats / tw_uring_report, and
 * tw_uring_destroy. Everything is allocated in create; the loop allocates
 * nothing. */
#ifndef TW_BACKENDS_URING_H
#define TW_BACKENDS_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt/task.h"
#include "rt/worker.h"

#define TW_URING_WORKERS_MAX 64
#define TW_URING_SPAWNS_MAX 8 /* tasks spawned per worker at start */

typedef struct tw_uring_config {
    uint32_t workers;               /* threads, 1..TW_URING_WORKERS_MAX */
    int cpus[TW_URING_WORKERS_MAX]; /* the CPU each is pinned to; -1: not pinned */
    const tw_task_registry *registry;
    uint32_t max_tasks;         /* per worker */
    uint32_t task_state_max;    /* bytes */
    uint32_t udp_endpoints_max; /* per worker */
    uint32_t tcp_conns_max;     /* per worker */
    uint32_t tcp_listeners_max; /* per worker */
    uint32_t ring_entries;      /* SQ entries; the CQ is 4x */
    uint32_t udp_bufs;          /* provided buffers for UDP receive (power of 2) */
    uint32_t udp_buf_size;      /* bytes each: header, source address and payload */
    uint32_t udp_send_slots;    /* datagrams in flight per worker */
    uint32_t tcp_bufs;          /* provided buffers for TCP receive (power of 2) */
    uint32_t tcp_buf_size;
    uint32_t tcp_send_buf; /* bytes queued per connection */
    uint32_t bus_queue;    /* messages per ordered pair of workers */
    uint64_t seed;
    /* Embedding the driver in a larger world (the live world's kernel
     * hosts); all zero for `twin serve`. With `route` set, worker w is bus
     * endpoint id_base + w, every message a worker sends goes to route
     * (called on the worker's thread), messages come in through
     * tw_uring_post, and tw_uring_hold can stop the workers between
     * turns. thread_init runs on each worker's thread before its ring and
     * sockets exist (entering a network namespace: setns is per thread);
     * non-zero fails the start with the reason it wrote. */
    uint32_t id_base;
    void (*route)(void *ctx, const tw_msg *m);
    int (*thread_init)(void *ctx, uint32_t w, char *err, size_t err_len);
    void *ctx;
    uint32_t post_max; /* messages waiting per worker from tw_uring_post; 0: bus_queue */
} tw_uring_config;

/* Defaults for every field but workers, cpus and registry. */
void tw_uring_config_defaults(tw_uring_config *cfg);

/* Per worker, read after tw_uring_stop. */
typedef struct tw_uring_stats {
    uint64_t turns;      /* loop turns */
    uint64_t submits;    /* io_uring_enter calls that submitted or waited */
    uint64_t sq_full;    /* extra submits because the SQ filled within a turn */
    uint64_t busy_polls; /* waits that polled instead of sleeping, after a busy turn */
    uint64_t cqes;
    uint64_t requests; /* TW_OUT_NET_REQ performed */
    uint64_t udp_rx;   /* datagrams received */
    uint64_t udp_rx_bytes;
    uint64_t udp_tx; /* datagrams sent (completed) */
    uint64_t udp_tx_bytes;
    uint64_t udp_truncated;  /* received datagrams larger than a buffer */
    uint64_t udp_tx_refused; /* no send slot, or too big: answered SEND_FAILED */
    uint64_t udp_tx_errors;  /* sends the kernel failed */
    uint64_t tcp_accepted;
    uint64_t tcp_connected;
    uint64_t tcp_rx_bytes;
    uint64_t tcp_tx_bytes;
    uint64_t tcp_closed;
    uint64_t tcp_resets;
    uint64_t no_buffers; /* multishot receives that ran out of provided buffers */
    uint64_t rearms;     /* multishot operations armed again after they ended */
    uint64_t bus_sent;
    uint64_t bus_received;
    uint64_t bus_refused;  /* a full inbox, or an endpoint that is not a worker */
    uint64_t wakeups;      /* MSG_RING wake-ups sent */
    uint64_t cpl_overflow; /* local completions refused by a full queue (a bound hit) */
} tw_uring_stats;

typedef struct tw_uring tw_uring;

/* Whether this kernel has what the driver needs: io_uring (not disabled
 * by sysctl or seccomp), IORING_OP_MSG_RING, multishot recvmsg/accept and
 * provided buffer rings. 0, or -1 with the missing feature written to why. */
int tw_uring_probe(char *why, size_t why_len);

/* Allocates everything; 0 or -1 with the reason in err. */
int tw_uring_create(tw_uring **out, const tw_uring_config *cfg, char *err, size_t err_len);
/* Queues a task for worker w, spawned when its thread starts. 0, or -1 when
 * w is out of range or TW_URING_SPAWNS_MAX are queued. */
int tw_uring_spawn(tw_uring *u, uint32_t w, uint32_t type, const void *args, uint32_t len);
/* Starts the threads; each sets up its ring and spawns its tasks before
 * this returns. 0, or -1 with the reason (the threads are stopped). */
int tw_uring_start(tw_uring *u, char *err, size_t err_len);
/* Asks every worker to stop (a MSG_RING wakes it) and joins them. Safe to
 * call from any thread but a worker's, once. */
void tw_uring_stop(tw_uring *u);
void tw_uring_stats_get(const tw_uring *u, uint32_t w, tw_uring_stats *out);
/* Worker w's tasks' metrics (tw_task_ops.report), after tw_uring_stop. */
void tw_uring_report(tw_uring *u, uint32_t w, tw_metric_sink *sink);
/* The worker's own status (drops and counts), after tw_uring_stop. */
const struct tw_worker_status *tw_uring_worker_status(const tw_uring *u, uint32_t w);
void tw_uring_destroy(tw_uring *u);

/* Embedded use (config.route set). */

/* Gives bus message m to worker w, from any thread but w's own, after
 * tw_uring_start and before tw_uring_stop; wakes it with a MSG_RING from
 * the stopper's ring. 0, or -1 when w's queue is full (the caller counts
 * the drop: a full queue is an explicit error, never a wait). */
int tw_uring_post(tw_uring *u, uint32_t w, const tw_msg *m);
/* Holds (on) or releases every worker between turns, so that the caller
 * may read their workers and tasks. */
void tw_uring_hold(tw_uring *u, bool on);
/* Worker w's runtime worker: read it under tw_uring_hold or after stop. */
tw_worker *tw_uring_worker(tw_uring *u, uint32_t w);

#endif
