/* The live world: a scenario built from network namespaces and veth pairs,
 * its twin hosts run by pinned driver threads over real frame devices.
 *
 * Building (tw_live_create): leftovers of killed runs are removed; each
 * host and switch gets a namespace named tw<run>-<name> (run: the pid in
 * base 36), each link a veth pair created directly in its two namespaces
 * with the scenario's interface names, MACs and MTUs (offloads off: the
 * peers see real checksums and no GSO super-frames). Kernel hosts get their
 * addresses and routes; switches a Linux bridge. A twin host's veth end
 * carries no address: the host's stacks own it, through the backend's
 * device (poll: AF_PACKET on the veth; xdp: an AF_XDP socket on each of
 * its queues, one queue per core of the link's largest twin host; tap: a
 * TAP device bridged to it).
 *
 * Running: one thread per twin host core runs the same tw_worker with its
 * own tw_stack as sim/world.c configures it (tw_world_host_stack_build), in
 * the sans-io loop: read CLOCK_MONOTONIC once per turn, feed bus messages
 * and frames, tick when due, pop outputs until empty, then block in poll()
 * on the devices and an eventfd until the next deadline. Each core reads
 * its own receive queues (core 0 all of them where the interface has one)
 * and steers each frame by the same Toeplitz hash, key and indirection
 * table as the simulated NIC (ARP replies to every core), so a flow lands
 * on the same core in both worlds. Every link direction a
 * twin host sends on runs the core/link model (seeded like the simulator)
 * before the device; a direction from a kernel host or a switch to a twin
 * host runs it on ingress. The controller runs on the caller's thread in
 * tw_live_run_until; bus messages cross threads through bounded mailboxes
 * with an eventfd wake-up.
 *
 * Kernel hosts' apps that are not real programs run as twin's tasks over
 * the host's kernel sockets: one io_uring worker per core of the host,
 * its thread in the host's namespace (kernhost.h), a bus endpoint like
 * any twin core.
 *
 * Faults: partitions (filtered at the twin hosts' ports by the scenario's
 * MACs); link down/up and clog (on the link's models, wherever they run);
 * crash and restart of a twin host (its stacks and workers dropped, then
 * built again for the next incarnation, the controller told, as the
 * simulator does) or of a kernel host without programs (its task workers
 * stopped, their sockets closed, then started afresh); stall (the core's
 * thread takes no turn until its end; twin hosts only).
 *
 * Errors: tw_live_create returns -TW_ENOTSUP with `why` naming what this
 * machine or this scenario lacks for a live run (the runner exits 77), or
 * -TW_EINVAL for what the live world does not do (exit 2). */
#ifndef TW_BACKENDS_LIVE_H
#define TW_BACKENDS_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backends/common/dev.h"
#include "base/time.h"
#include "link/link.h"
#include "net/stack.h"
#include "rt/controller.h"
#include "rt/worker.h"
#include "scenario/model.h"
#include "sim/world.h"

typedef struct tw_live tw_live;

typedef struct tw_live_config {
    const tw_scenario *sc;
    /* Per scenario host; read for twin hosts only (cli/scenario_common's
     * tw_scen_host_config, the simulator's own). */
    const tw_world_host_config *hosts;
    tw_dev_kind backend;
    bool pin; /* pin each core's thread (to live.cpus where given, else core k to CPU k) */
    const tw_task_registry *registry;
    const tw_controller_program *program;
    void *program_ctx;
    uint32_t outq_max;
    /* Per scenario app: true where a kernel host's app is a real program
     * the runner starts (nginx), not a task; NULL: none is. A kernel
     * host's other apps run as twin's tasks over its kernel sockets
     * (kernhost.h), on workers numbered after the twin hosts' cores. */
    const bool *app_program;
} tw_live_config;

int tw_live_create(tw_live **out, const tw_live_config *cfg, char *why, size_t why_len);
/* Starts the clock (time 0) and the driver threads. */
int tw_live_start(tw_live *l);
/* Stops the threads, ends the programs started with tw_live_exec, removes
 * every namespace; safe on a half-built world. */
void tw_live_destroy(tw_live *l);

/* Runs the controller and the fault timeline on this thread until `until`
 * (ns since start) or tw_live_interrupt. */
void tw_live_run_until(tw_live *l, tw_ns until);
/* Async-signal-safe: makes tw_live_run_until return at once. */
void tw_live_interrupt(void);
bool tw_live_interrupted(void);

tw_ns tw_live_now(const tw_live *l);
uint32_t tw_live_host_core(const tw_live *l, uint32_t host, uint32_t core);
tw_worker *tw_live_worker(tw_live *l, uint32_t worker);
tw_stack *tw_live_stack(tw_live *l, uint32_t host, uint32_t core);
/* busy (ns), events (inputs), inbox_drops. */
bool tw_live_core_stat(tw_live *l, uint32_t host, uint32_t core, const char *leaf, uint64_t *out);
/* The model of a link direction, or NULL where no twin host runs it. */
const tw_link *tw_live_link(tw_live *l, uint32_t link, uint32_t dir);
int64_t tw_live_spawn(tw_live *l, uint32_t worker, uint32_t type, const void *args, uint32_t len);
void tw_live_kill(tw_live *l, tw_addr task);
/* Holds (on) or releases every driver thread between turns, so that the
 * caller may read workers, stacks and links. */
void tw_live_lock(tw_live *l, bool on);
uint64_t tw_live_turns(const tw_live *l);
/* Frames the devices refused or the steering rings dropped. */
uint64_t tw_live_drops(const tw_live *l, const char **name, uint32_t which);

/* Crash faults host h has had. */
uint32_t tw_live_crashes(const tw_live *l, uint32_t host);
/* The namespace of host h. */
const char *tw_live_netns(const tw_live *l, uint32_t host);
/* Runs argv in host h's namespace, output appended to log (NULL: discarded);
 * the process is killed at tw_live_destroy. Returns its pid or -errno. */
pid_t tw_live_exec(tw_live *l, uint32_t host, char *const argv[], const char *log);

/* Removes namespaces left by twin runs whose process is gone; returns how
 * many. */
int tw_live_cleanup_stale(void);

#endif
