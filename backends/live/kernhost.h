/* A kernel host's apps as twin's own tasks over the kernel's sockets.
 *
 * A host of `kind: kernel` runs the Linux TCP/IP stack in its namespace.
 * App kinds with no natural Debian program there (bulk_send, bulk_sink,
 * tcp_echo, tcp/udp/http clients, udp_echo, and http_server where the
 * scenario asks for it) run as the same tasks a twin host runs, on workers
 * configured with the kernel network service (rt/io.h), driven by the
 * io_uring driver of `twin serve` (backends/uring): one worker and thread
 * per core of the host, each thread moved into the host's namespace
 * (setns is per thread) before its ring and sockets exist. The workers are
 * endpoints of the live world's bus (ids id_base..id_base+cores-1): the
 * controller spawns and kills their tasks and reads their metrics exactly
 * as a twin host's.
 *
 * A crash stops the workers (their tasks die and the kernel closes their
 * sockets, as when a process dies; the host's Linux stack stays up) and a
 * restart starts fresh ones, whose apps the controller respawns.
 *
 * Built without liburing, create answers -TW_ENOTSUP ("not in this
 * build"). Thread safety: post from any thread; everything else from the
 * thread that drives the live world. */
#ifndef TW_BACKENDS_LIVE_KERNHOST_H
#define TW_BACKENDS_LIVE_KERNHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt/task.h"
#include "rt/worker.h"

#define TW_KERNHOST_CORES_MAX 64

typedef struct tw_kernhost tw_kernhost;

typedef struct tw_kernhost_config {
    const char *netns; /* the namespace every worker thread enters */
    uint32_t cores;    /* workers: 1..TW_KERNHOST_CORES_MAX */
    uint32_t id_base;  /* core k is bus endpoint id_base + k */
    int cpus[TW_KERNHOST_CORES_MAX]; /* pinning per core; -1: not pinned */
    const tw_task_registry *registry;
    uint32_t max_tasks;      /* per worker */
    uint32_t tcp_conns_max;  /* per worker */
    uint32_t udp_size_max;   /* the largest UDP payload its apps exchange */
    uint64_t seed;
    /* Every bus message a worker sends (on the worker's thread). */
    void (*route)(void *ctx, const tw_msg *m);
    void *ctx;
} tw_kernhost_config;

/* Checks the configuration and that this kernel has what the io_uring
 * driver needs; 0, or -TW_ENOTSUP (the machine: exit 77) or -TW_EINVAL
 * with the reason in why. Starts nothing. */
int tw_kernhost_create(tw_kernhost **out, const tw_kernhost_config *cfg, char *why,
                       size_t why_len);
/* Starts the workers (again, after a stop: fresh workers, no tasks). 0, or
 * -TW_ENOTSUP with the reason. */
int tw_kernhost_start(tw_kernhost *k, char *why, size_t why_len);
/* The crash: workers, tasks and sockets gone. Messages to it are refused
 * until the next start. */
void tw_kernhost_stop(tw_kernhost *k);
bool tw_kernhost_up(const tw_kernhost *k);
/* Gives bus message m to core's worker; false when the host is down or the
 * worker's queue is full (the caller counts the drop). Any thread. */
bool tw_kernhost_post(tw_kernhost *k, uint32_t core, const tw_msg *m);
/* Holds (on) or releases the workers between turns. */
void tw_kernhost_hold(tw_kernhost *k, bool on);
/* Core's worker, or NULL while the host is down. Read it under hold. */
tw_worker *tw_kernhost_worker(tw_kernhost *k, uint32_t core);
/* Stops it and frees everything; NULL is fine. */
void tw_kernhost_destroy(tw_kernhost *k);

#endif
