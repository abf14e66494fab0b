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
 * reads a clock or a random source; the seed is configuration.
 *
 * A driver built on the simulator (the world of sim/world.h: hosts, NICs,
 * links, switches, faults) plugs in through tw_sim_ext: it gives each core
 * its worker configuration (a stack, a registry), keeps frames waiting for
 * a core in its own NIC rings, takes the frames a core transmits, and
 * handles events of its own kinds on the one clock and event queue. Frames
 * and messages waiting at a core are taken oldest first by an arrival
 * stamp. Without an extension this is the plain simulator of the runtime. */
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
    tw_cost output; /* per output popped (a message or a frame sent) */
    tw_cost frame;  /* a frame taken as input by the core's stack */
} tw_cost_profile;

/* A default profile, close to what `twin calibrate` measures on a current
 * x86 core for the runtime alone. */
extern const tw_cost_profile tw_cost_profile_default;

typedef struct tw_sim_ext tw_sim_ext;

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
    const tw_sim_ext *ext; /* NULL: no driver on top */
} tw_sim_config;

/* Every config field has a sensible default; callers override what they
 * need. */
void tw_sim_config_default(tw_sim_config *cfg);

typedef enum tw_sim_event_kind {
    TW_SIM_EV_ARRIVE = 1, /* a message reaches a core's inbox */
    TW_SIM_EV_WAKE,       /* a core finishes work or a deadline comes */
    /* Not an event: the record of a drop inside the event being processed
     * (drop, place and len say which, where and how long). */
    TW_SIM_EV_DROP,
    /* Kinds from here up are the driver's, handled by tw_sim_ext.on_event. */
    TW_SIM_EV_DRIVER = 8,
} tw_sim_event_kind;

/* What a core did in a WAKE or ARRIVE event. */
typedef enum tw_sim_work {
    TW_SIM_WORK_NONE = 0,
    TW_SIM_WORK_INPUT, /* took a message */
    TW_SIM_WORK_TICK,  /* deadlines were due */
    TW_SIM_WORK_DROP,  /* a message found the inbox full */
    TW_SIM_WORK_FRAME, /* took a frame (len, place: the interface) */
    TW_SIM_WORK_FLUSH, /* only popped outputs the driver had caused */
} tw_sim_work;

/* Why the simulated world dropped something. The link reasons mirror
 * tw_link_drop in order. `place` in a drop record: the core for inbox,
 * host_down, nic_rx_ring and nic_buffers (for frames, the core the NIC
 * steered to); the link direction for link_*, partition and no_link
 * (no_link: the sending core); the switch port (switch << 16 | port) for
 * switch_*; the core for nic_tx_ring. */
#define TW_SIM_DROPS(X)                                                                            \
    X(INBOX, "inbox", "a core's message inbox was full")                                          \
    X(LINK_QUEUE_BYTES, "link_queue_bytes", "the link's transmit queue byte limit")              \
    X(LINK_QUEUE_PACKETS, "link_queue_packets", "the link's transmit queue packet limit")        \
    X(LINK_CODEL, "link_codel", "CoDel dropped it at the link's queue")                           \
    X(LINK_LOSS, "link_loss", "lost on the wire")                                                 \
    X(LINK_MTU, "link_mtu", "longer than the link's MTU")                                         \
    X(LINK_DOWN, "link_down", "the link is or went down")                                         \
    X(LINK_POOL, "link_pool", "the link had no frame buffer left")                                \
    X(NO_LINK, "no_link", "sent on an interface with no link attached")                          \
    X(NIC_RX_RING, "nic_rx_ring", "the NIC's receive ring for the core was full")                \
    X(NIC_TX_RING, "nic_tx_ring", "the NIC's transmit ring of the core was full")                \
    X(NIC_BUFFERS, "nic_buffers", "every NIC frame buffer of the world was in use")              \
    X(PARTITION, "partition", "between the two sides of a partition")                            \
    X(HOST_DOWN, "host_down", "for, or waiting at, a crashed host")                               \
    X(SWITCH_QUEUE, "switch_queue", "a switch port's own queue limit")                            \
    X(SWITCH_FILTER, "switch_filter", "unicast for the port it came in on")

typedef enum tw_sim_drop {
#define TW_SIM_DROP_ENUM(id, name, what) TW_SIM_DROP_##id,
    TW_SIM_DROPS(TW_SIM_DROP_ENUM)
#undef TW_SIM_DROP_ENUM
        TW_SIM_DROP_COUNT
} tw_sim_drop;

const char *tw_sim_drop_name(tw_sim_drop reason);
const char *tw_sim_drop_what(tw_sim_drop reason);

/* What a traced event did, for --trace and divergence reports. A drop
 * inside an event is a record of its own (kind TW_SIM_EV_DROP, the index
 * of the event it happened in) before the event's record. */
typedef struct tw_sim_record {
    uint64_t index; /* events processed before this one */
    tw_ns time;
    uint32_t kind;  /* tw_sim_event_kind */
    uint32_t core;  /* WAKE, ARRIVE: the core; driver events: their target */
    uint32_t work;  /* tw_sim_work; driver events: theirs */
    uint32_t msg_type;
    uint32_t outputs;
    uint32_t cost_ns;
    uint32_t drop;  /* TW_SIM_EV_DROP: tw_sim_drop */
    uint32_t place; /* see TW_SIM_DROPS; frame work: the interface; driver events: theirs */
    uint32_t len;   /* bytes of the frame taken or dropped */
    uint64_t hash; /* the running trace hash after this record */
} tw_sim_record;

typedef void (*tw_sim_hook)(void *ctx, const tw_sim_record *rec);

/* A frame waiting for a core in the driver's NIC. */
typedef struct tw_sim_frame {
    uint64_t stamp; /* from tw_sim_stamp() when it arrived */
    uint32_t iface;
    uint32_t len;
    const uint8_t *data; /* valid until frame_taken */
} tw_sim_frame;

typedef struct tw_sim tw_sim;

/* A driver on top of the simulator. Every function is called from inside
 * tw_sim_init or tw_sim_step, with ctx. */
struct tw_sim_ext {
    void *ctx;
    /* Fills in core's worker configuration (id and seed already set). */
    void (*worker_config)(void *ctx, uint32_t core, tw_worker_config *wc);
    /* The oldest frame waiting for core; false when none waits. */
    bool (*frame_peek)(void *ctx, uint32_t core, tw_sim_frame *f);
    /* The frame frame_peek returned was given to the worker: release it. */
    void (*frame_taken)(void *ctx, uint32_t core, uint32_t iface);
    /* The core's worker sent a frame that leaves the core at `depart`
     * (now plus the cost of the work so far); the view is valid during the
     * call only. */
    void (*frame_out)(void *ctx, uint32_t core, tw_ns depart, uint32_t iface,
                      const uint8_t *frame, size_t len);
    /* The core's worker handed a frame to core `to` of the same host
     * (TW_OUT_STEER; `to` counts from the host's first core), to be
     * received there on iface from `depart`; the view is valid during the
     * call only. */
    void (*frame_steer)(void *ctx, uint32_t core, tw_ns depart, uint32_t to, uint32_t iface,
                        const uint8_t *frame, size_t len);
    /* A driver event is due. Fill in what rec should say and return true,
     * or return false for a superseded event (not counted nor hashed). */
    bool (*on_event)(void *ctx, const tw_event *ev, tw_sim_record *rec);
};

typedef struct tw_sim_core {
    uint32_t endpoint;
    bool is_controller;
    bool down;  /* its host crashed: the node is gone, inputs are dropped */
    bool flush; /* the driver changed the node outside an input: pop its outputs */
    tw_mailbox inbox;
    tw_ring stamps; /* with an extension: arrival stamps of the inbox's messages */
    tw_ns busy_until;
    tw_ns wake_at;
    uint32_t wake_gen;
    uint32_t wake_node; /* the queued wake, while wake_pending */   /* of the one wake event that counts */
    uint32_t gen_next;   /* the last generation handed out */
    bool wake_pending;
    /* The node's next deadline, while deadline_known: worked out after the
     * node last ran and kept until it runs again or is flushed, since only
     * that changes it; asking is three timer wheels' worth of calls, twice
     * per frame. */
    bool deadline_known;
    tw_ns deadline;
    uint64_t busy_ns;
    uint64_t inputs;
    uint64_t ticks;
    uint64_t frames;     /* frames taken */
    uint64_t stalled_ns; /* time made busy by stalls */
} tw_sim_core;

struct tw_sim {
    tw_sim_config cfg;
    tw_ns now;
    tw_evq q;
    tw_pool flight; /* tw_msg travelling between cores */
    tw_sim_core *cores; /* cores[0..n-1] workers, cores[n] the controller */
    tw_worker *workers;
    tw_controller controller;
    uint64_t events;     /* events processed (stale wakes excluded; a frame a core
                          * took at once, tw_sim_frame_direct, counts as the wake it saved) */
    uint64_t stale;      /* superseded wakes skipped */
    uint64_t trace_hash;
    uint64_t msgs_sent;  /* endpoint deliveries scheduled */
    uint64_t msgs_lost;  /* refused: in-flight pool or event queue full */
    uint64_t inbox_drops;
    uint64_t arrivals; /* stamps handed out */
    uint64_t drops[TW_SIM_DROP_COUNT];
    const tw_sim_ext *ext;
    tw_sim_hook hook;
    void *hook_ctx;
};

void tw_sim_init(tw_sim *s, const tw_sim_config *cfg);
void tw_sim_free(tw_sim *s);
void tw_sim_set_hook(tw_sim *s, tw_sim_hook hook, void *ctx);

/* Processes the next event if it is due at or before `until`; false when
 * there is none. */
bool tw_sim_step(tw_sim *s, tw_ns until);
/* Runs every event up to and including `until`, then sets the clock there. */
void tw_sim_run_until(tw_sim *s, tw_ns until);

/* ---- for drivers on top (tw_sim_ext) ------------------------------------ */

/* Schedules a driver event (kind >= TW_SIM_EV_DRIVER) at `at` >= now.
 * 0, or -TW_EFULL when the event queue is full (counted there). */
int tw_sim_schedule(tw_sim *s, tw_ns at, uint16_t kind, uint16_t target, uint32_t arg);
/* A stamp for something arriving now, ordering it against the messages
 * and frames already waiting at a core. */
static inline uint64_t tw_sim_stamp(tw_sim *s) { return ++s->arrivals; }
/* A frame reaches core now. When the core is idle with nothing waiting
 * and no deadline due, it takes the frame at once from `frame` (valid for
 * the call) and this returns true: what queueing it in the driver's ring
 * and a wake at this instant would do, without the copy into the ring and
 * the event (its work is recorded and hashed all the same). False: the
 * driver queues the frame as usual. */
bool tw_sim_frame_direct(tw_sim *s, uint32_t core, uint32_t iface, const uint8_t *frame,
                         uint32_t len);
/* Input is waiting for core: make sure it wakes at `at` or earlier. */
void tw_sim_wake(tw_sim *s, uint32_t core, tw_ns at);
/* Counts a drop and records it (a TW_SIM_EV_DROP record, hashed). */
void tw_sim_note_drop(tw_sim *s, tw_sim_drop reason, uint32_t place, uint32_t len);
/* Folds a word the driver's event depends on into the trace hash. */
void tw_sim_fold(tw_sim *s, uint64_t word);
/* Puts a message on its way to core, arriving at `at` (not counted as a
 * bus send). 0, or -TW_EFULL when the in-flight pool or the event queue is
 * full (counted in msgs_lost). */
int tw_sim_inject(tw_sim *s, uint32_t core, tw_ns at, const tw_msg *m);
/* The node behind core changed outside an input (a task spawned, a stack
 * brought up): pop its outputs when the core is next free. A driver that
 * changes a node any other way than through the simulator must call this,
 * or the simulator keeps the deadline it knew. */
void tw_sim_core_flush(tw_sim *s, uint32_t core);
/* Its host crashed: everything waiting at the core is dropped (host_down)
 * and the core runs nothing until tw_sim_core_up. The driver frees the
 * worker after this and initialises it again before tw_sim_core_up. */
void tw_sim_core_down(tw_sim *s, uint32_t core);
void tw_sim_core_up(tw_sim *s, uint32_t core);
/* The core is busy (stalled) until `until`: inputs wait for it. */
void tw_sim_core_stall(tw_sim *s, uint32_t core, tw_ns until);

static inline tw_worker *tw_sim_worker(tw_sim *s, uint32_t i) { return &s->workers[i]; }
static inline tw_controller *tw_sim_controller(tw_sim *s) { return &s->controller; }
static inline const tw_sim_core *tw_sim_core_at(const tw_sim *s, uint32_t i) { return &s->cores[i]; }

#endif
