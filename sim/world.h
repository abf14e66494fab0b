/* The simulated world: hosts with cores, NICs and stacks, links, learning
 * switches and a timeline of faults, on the simulator's one clock, one
 * event queue, one trace hash and one controller.
 *
 * Building. A world is created from a tw_world_config, then hosts,
 * switches, links, partitions, faults and taps are added, then
 * tw_world_start() builds everything: every allocation of a run happens in
 * create, the adders and start. The one exception is a host restart, which
 * re-creates the host's stacks and workers (see tw_mem_unseal in
 * base/mem.h). After start the world only runs: tw_world_run_until().
 *
 * Hosts. A host has N cores; each is a simulated core (tw_sim) running a
 * worker with its own user-space stack (core/net) carrying the same
 * interfaces and addresses: share-nothing per-core stacks, ARP learned per
 * core. Worker endpoint ids are global across hosts (plain workers first,
 * then each host's cores in order): tw_world_host_core() names the worker
 * that runs a host's core, and tw_controller_spawn(..., worker) places a
 * task there. A host with forwarding set in its stack configuration is a
 * router.
 *
 * NICs. One per interface, with one bounded receive ring per core. A frame
 * arriving at a NIC is steered by the RSS hash of its flow
 * (tw_stack_flow_hash) through the host's indirection table, spread over
 * its cores like Linux's default; other frames go to core 0, except ARP
 * replies, which every core's ring gets a copy of, so that whichever core
 * asked learns the answer (per-core stacks cannot share a neighbour cache;
 * F-Stack hands ARP to every queue for the same reason). Taking a frame
 * occupies the core for the frame cost of the profile, so a busy core
 * delays later frames. Frames a core's worker sends go through that core's
 * transmit ring and leave it when the core's work so far is done, onto the
 * link attached to the interface. Frame buffers come from one pool shared
 * by every ring of the world, so memory grows with traffic, not with the
 * number of rings.
 *
 * Links. Each direction is a tw_link (core/link) with its own rng stream
 * under the world seed (the world sets tw_link_config.stream). The world
 * wakes a direction at its next deadline, pops what is due and hands it to
 * the far end: a host's NIC or a switch port.
 *
 * Switches. Learning L2 switches: a bounded MAC table with ageing;
 * broadcast, multicast and unknown unicast flood every other port; known
 * unicast leaves by its port, or is filtered when that is the port it came
 * in on. A port's egress queue is the queue of the link leaving it;
 * port_queue_packets adds the switch's own, smaller, limit on it.
 *
 * Faults, on a timeline added before start and applied by events at their
 * times: partitions (one-way or both ways) between two sets of hosts, and
 * their heal; link down and up; clog until a time; host crash and restart;
 * core stall. A partition drops frames whose sending host (the last one to
 * transmit it: a router forwarding is the sender of the next hop) is on one
 * side and receiving host on the other, at the switch port towards the
 * receiver or at its NIC; it does not rewire anything. A crashed host loses
 * everything (tasks, stacks, frames waiting); frames and messages for it
 * are dropped (host_down). A restarted host comes back with fresh stacks of
 * the same configuration and no tasks; the controller is told of both in a
 * TW_MSG_WORLD message (tw_world_note), so that its program can respawn.
 *
 * Observation. Every drop anywhere (link, queue, NIC ring, partition, host
 * down, switch) is counted by reason (tw_sim_drop) and recorded in the
 * trace as a drop record, folded into the trace hash like every event and
 * every frame. Captures: sim/ does no I/O, so the world calls tap functions
 * for every frame a link direction accepts and every frame a NIC receives,
 * for the directions and interfaces the user enabled; a driver writes them
 * out (cli/pcap_tap.h). The same seed and the same building calls give the
 * same trace hash. */
#ifndef TW_SIM_WORLD_H
#define TW_SIM_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/time.h"
#include "link/link.h"
#include "net/stack.h"
#include "rt/worker.h"
#include "sim/sim.h"

#define TW_WORLD_NAME_MAX 32
#define TW_WORLD_IFACES_MAX 8
#define TW_WORLD_ROUTES_MAX 16
#define TW_WORLD_CORES_MAX 256  /* per host */
#define TW_WORLD_PORTS_MAX 4096 /* per switch */

/* The world's events on the simulator's queue. */
enum {
    TW_WORLD_EV_LINK = TW_SIM_EV_DRIVER, /* a link direction is due (place: the direction) */
    TW_WORLD_EV_TX,                      /* a frame leaves a core (place: the direction) */
    TW_WORLD_EV_FAULT,                   /* the next fault (work: its kind, place: its target) */
};

typedef struct tw_world tw_world;

/* ---- configuration ------------------------------------------------------ */

/* Called for every frame a link direction accepts (dir 0 is a->b, 1 b->a),
 * at the time it was put on the link; and for every frame a NIC receives,
 * at the time it arrived (after a link's corruption, before steering). The
 * frame is valid during the call only. */
typedef struct tw_world_taps {
    void *ctx;
    void (*link)(void *ctx, tw_ns time, uint32_t link, uint32_t dir, const uint8_t *frame,
                 size_t len);
    void (*nic)(void *ctx, tw_ns time, uint32_t host, uint32_t iface, const uint8_t *frame,
                size_t len);
} tw_world_taps;

typedef struct tw_world_config {
    /* The simulator: seed, cost profile, bus latencies, the controller.
     * sim.cores counts plain workers outside any host (worker ids
     * 0..sim.cores-1); 0 is allowed when there are hosts. A program-less
     * controller gets one that does nothing. */
    tw_sim_config sim;
    uint32_t hosts_max;
    uint32_t switches_max;
    uint32_t links_max;
    uint32_t partitions_max;
    uint32_t faults_max;
    /* NIC frame buffers shared by every receive and transmit ring; 0: 256
     * and 32 per host core. */
    uint32_t nic_buffers;
    /* The RSS key of every NIC (NULL: the Microsoft key). */
    const uint8_t *rss_key;
    uint32_t rss_key_len;
    tw_world_taps taps;
} tw_world_config;

/* Room for 64 hosts, 16 switches, 128 links, 16 partitions and 256
 * faults; no plain workers; the simulator's defaults otherwise. */
void tw_world_config_default(tw_world_config *cfg);

typedef struct tw_world_route {
    tw_ipv4_addr dst;
    uint8_t prefix_len;
    tw_ipv4_addr gateway;
} tw_world_route;

typedef struct tw_world_host_config {
    char name[TW_WORLD_NAME_MAX];
    uint32_t cores;
    uint32_t ifaces;
    tw_iface_config iface[TW_WORLD_IFACES_MAX];
    uint32_t routes;
    tw_world_route route[TW_WORLD_ROUTES_MAX];
    tw_ipv4_addr gateway;  /* the default route; 0 for none */
    tw_stack_config stack; /* one per core; forwarding makes a router */
    /* Registry, task slots and state size, channels, output queue; the
     * world sets id, seed, stack and net_endpoints_max. */
    tw_worker_config worker;
    uint32_t rx_ring; /* frames waiting per (interface, core) */
    uint32_t tx_ring; /* frames waiting to leave per core */
    /* Powered off at start: a RESTART fault boots it (and the controller
     * is told, as after a crash). Staggered boots spare a large L2 domain
     * the storm of every host announcing itself at once. */
    bool start_down;
} tw_world_host_config;

/* One core, no interfaces, the stack's defaults, 64 task slots of 1 KiB,
 * rings of 256 frames. */
void tw_world_host_config_default(tw_world_host_config *cfg);
/* Adds an interface (and with it a NIC); -TW_EFULL past TW_WORLD_IFACES_MAX. */
int tw_world_host_config_iface(tw_world_host_config *cfg, tw_mac mac, tw_ipv4_addr addr,
                               uint8_t prefix_len, uint16_t mtu);
int tw_world_host_config_route(tw_world_host_config *cfg, tw_ipv4_addr dst, uint8_t prefix_len,
                               tw_ipv4_addr gateway);

typedef struct tw_world_switch_config {
    char name[TW_WORLD_NAME_MAX];
    uint32_t ports;
    /* MAC table entries (rounded up to a power of two), 8-way associative:
     * a source that finds its 8 slots taken by live entries is not learned
     * (counted), and its frames flood. */
    uint32_t mac_table_size;
    tw_ns mac_ageing_ns;         /* IEEE 802.1D's default is 300 s */
    uint32_t port_queue_packets; /* 0: no limit but the link's queue */
} tw_world_switch_config;

/* 8 ports, 1024 MAC entries aged after 300 s, no port limit. */
void tw_world_switch_config_default(tw_world_switch_config *cfg);

/* One end of a link: a host's interface or a switch's port. */
typedef enum tw_world_node { TW_WORLD_HOST = 1, TW_WORLD_SWITCH = 2 } tw_world_node;

typedef struct tw_world_end {
    uint32_t kind; /* tw_world_node */
    uint32_t node; /* host or switch id */
    uint32_t port; /* the host's interface or the switch's port */
} tw_world_end;

static inline tw_world_end tw_world_host_end(uint32_t host, uint32_t iface)
{
    return (tw_world_end){.kind = TW_WORLD_HOST, .node = host, .port = iface};
}
static inline tw_world_end tw_world_switch_end(uint32_t sw, uint32_t port)
{
    return (tw_world_end){.kind = TW_WORLD_SWITCH, .node = sw, .port = port};
}

/* Directions of a link, for faults and taps. */
#define TW_WORLD_DIR_AB 0x1u
#define TW_WORLD_DIR_BA 0x2u
#define TW_WORLD_DIR_BOTH 0x3u

typedef enum tw_world_fault_kind {
    TW_WORLD_FAULT_PARTITION = 1, /* target: partition id */
    TW_WORLD_FAULT_HEAL,          /* target: partition id */
    TW_WORLD_FAULT_LINK_DOWN,     /* target: link; dirs */
    TW_WORLD_FAULT_LINK_UP,       /* target: link; dirs */
    TW_WORLD_FAULT_CLOG,          /* target: link; dirs; held until at + duration */
    TW_WORLD_FAULT_CRASH,         /* target: host */
    TW_WORLD_FAULT_RESTART,       /* target: host */
    TW_WORLD_FAULT_STALL,         /* target: host; core; busy until at + duration */
} tw_world_fault_kind;

typedef struct tw_world_fault {
    uint32_t kind; /* tw_world_fault_kind */
    tw_ns at;
    uint32_t target;
    uint32_t dirs; /* TW_WORLD_DIR_*; 0 means both */
    uint32_t core;
    tw_ns duration;
} tw_world_fault;

/* What the controller is told in a TW_MSG_WORLD message's data. */
typedef enum tw_world_note_kind {
    TW_WORLD_NOTE_CRASHED = 1,
    TW_WORLD_NOTE_RESTARTED,
} tw_world_note_kind;

typedef struct tw_world_note {
    uint32_t kind; /* tw_world_note_kind */
    uint32_t host;
    uint32_t first_worker; /* the host's cores are workers first_worker.. */
    uint32_t cores;
} tw_world_note;

/* The TW_MSG_WORLD message to the controller that carries a note: both
 * drivers (the simulated world and the live one) tell it the same way. */
void tw_world_note_msg(tw_msg *m, tw_world_note_kind kind, uint32_t host, uint32_t first_worker,
                       uint32_t cores);

/* ---- a host's cores, as the world configures them ------------------------ */

/* These are the world's own configuration steps, public so that the live
 * driver (backends/live) builds a twin host's cores exactly as the
 * simulator does: the same RSS key and table, the same stacks, the same
 * worker seeds. */

/* The RSS key a world with this seed gives host `host` (without an
 * explicit rss_key), its table spread over `cores`. Init time only. */
void tw_world_host_rss(tw_rss *rss, uint64_t seed, uint32_t host, uint32_t cores);
/* The rng stream of a link direction (0: a->b) under the world's seed:
 * one per direction, so no two links ever share draws. */
static inline uint64_t tw_world_link_stream(uint32_t link, uint32_t dir)
{
    return 0x100000000ull + 2 * (uint64_t)link + dir;
}
/* One core's stack: interfaces, routes, the default route, interfaces up
 * (each announcing its address). rss is the host's (used when cores > 1). */
tw_stack *tw_world_host_stack_build(const tw_world_host_config *cfg, const tw_rss *rss,
                                    uint64_t seed, uint32_t host, uint32_t incarnation,
                                    uint32_t core, tw_ns now);
/* The worker of a host's core: cfg->worker with wc->id kept, the seed of
 * the incarnation, the stack and its limits. */
void tw_world_host_worker_config(const tw_world_host_config *cfg, tw_stack *stack, uint64_t seed,
                                 uint32_t incarnation, tw_worker_config *wc);

/* ---- building ------------------------------------------------------------ */

tw_world *tw_world_create(const tw_world_config *cfg);
void tw_world_destroy(tw_world *w);

/* Each returns the new id (0, 1, ...) or a negative error: -TW_EFULL past
 * its *_max, -TW_EINVAL for a bad configuration, -TW_ESTATE after start. */
int tw_world_host_add(tw_world *w, const tw_world_host_config *cfg);
int tw_world_switch_add(tw_world *w, const tw_world_switch_config *cfg);
/* A link between two free ends, with a configuration per direction (a->b,
 * b->a); the world sets each direction's rng stream. -TW_EEXIST when an end
 * is taken already, -TW_EINVAL for an unknown end or a configuration
 * tw_link_config_check refuses. */
int tw_world_link_add(tw_world *w, tw_world_end a, tw_world_end b, const tw_link_config *ab,
                      const tw_link_config *ba);
/* Two sets of hosts; a one-way partition cuts frames from side a to side b
 * only. Returns the partition id, for faults. */
int tw_world_partition_add(tw_world *w, const uint32_t *side_a, uint32_t count_a,
                           const uint32_t *side_b, uint32_t count_b, bool one_way);
/* 0 or -TW_EINVAL (an unknown target), -TW_EFULL, -TW_ESTATE. Faults at
 * the same time apply in the order they were added. */
int tw_world_fault_add(tw_world *w, const tw_world_fault *fault);
/* Turns on the tap for a link's directions or a host interface's NIC.
 * 0, -TW_EINVAL or -TW_ESTATE. */
int tw_world_tap_link(tw_world *w, uint32_t link, uint32_t dirs);
int tw_world_tap_nic(tw_world *w, uint32_t host, uint32_t iface);

/* Builds the simulator, the stacks (interfaces up: each core announces its
 * addresses), NICs and links. 0 or -TW_EINVAL (no core at all, too many). */
int tw_world_start(tw_world *w);

/* ---- running ------------------------------------------------------------- */

void tw_world_run_until(tw_world *w, tw_ns until);

/* The global worker id of a host's core. */
uint32_t tw_world_host_core(const tw_world *w, uint32_t host, uint32_t core);
/* Asks the controller to spawn a task on a worker, as a program would
 * (tw_controller_spawn); the controller sends it when next free. Returns
 * the request id or a negative error. */
int64_t tw_world_spawn(tw_world *w, uint32_t worker, uint32_t type, uint32_t group,
                       const void *args, uint32_t args_len);
/* Asks the controller to stop a task (tw_controller_kill); its worker frees
 * it, closing its endpoints and connections, when the command arrives. */
int64_t tw_world_kill(tw_world *w, tw_addr task);
/* Sends an ICMP echo request from a host's core's stack (the reply shows in
 * its ICMP statistics). 0 or the stack's error; -TW_ESTATE when the host is
 * down. */
int tw_world_ping(tw_world *w, uint32_t host, uint32_t core, tw_ipv4_addr dst, uint16_t id,
                  uint16_t seq, size_t len);

/* ---- observation ----------------------------------------------------------- */

typedef struct tw_world_host_stats {
    uint64_t rx_frames; /* frames that reached the NIC (before its drops) */
    uint64_t rx_copies; /* frames delivered to cores (ARP replies count per core) */
    uint64_t tx_frames; /* frames handed to links (accepted or not) */
    uint64_t handoffs;  /* frames a core handed to another (TW_OUT_STEER), placed or not */
    uint64_t drops;     /* everything the host's NICs dropped, or dropped for it being down */
    uint32_t crashes;
    uint32_t restarts;
} tw_world_host_stats;

typedef struct tw_world_switch_stats {
    uint64_t frames_in;
    uint64_t forwarded; /* known unicast, out of one port */
    uint64_t flooded;   /* broadcast, multicast or unknown unicast */
    uint64_t copies;    /* frames offered to egress links */
    uint64_t filtered;  /* unicast for the ingress port */
    uint64_t queue_drops;
    uint64_t partition_drops;
    uint64_t learned;    /* new table entries */
    uint64_t moved;      /* a known MAC seen on another port */
    uint64_t table_full; /* sources not learned */
    uint32_t entries;    /* live entries (not aged) when last counted */
} tw_world_switch_stats;

tw_sim *tw_world_sim(tw_world *w);
tw_ns tw_world_now(const tw_world *w);
uint64_t tw_world_trace_hash(const tw_world *w);
/* Drops of a reason anywhere in the world. */
uint64_t tw_world_drops(const tw_world *w, tw_sim_drop reason);
uint32_t tw_world_hosts(const tw_world *w);
uint32_t tw_world_workers(const tw_world *w);
tw_worker *tw_world_worker(tw_world *w, uint32_t worker);
/* A host core's stack; NULL while the host is down. */
tw_stack *tw_world_stack(tw_world *w, uint32_t host, uint32_t core);
bool tw_world_host_up(const tw_world *w, uint32_t host);
const tw_world_host_stats *tw_world_host_stats_get(const tw_world *w, uint32_t host);
const tw_world_switch_stats *tw_world_switch_stats_get(tw_world *w, uint32_t sw);
/* One direction of a link (0: a->b, 1: b->a). */
const tw_link *tw_world_link(const tw_world *w, uint32_t link, uint32_t dir);
/* The receive ring of a host's interface for one of its cores. */
const tw_ring *tw_world_rx_ring(const tw_world *w, uint32_t host, uint32_t iface, uint32_t core);

#endif
