/* The scenario model: a scenario file loaded into plain C, every value in
 * base units (tw_ns, bits/s, bytes, tw_ratio, parts per million), every
 * reference resolved to an index, every default filled in. Drivers (the
 * simulator and the live world builder) read it and never see YAML; nothing
 * here assumes either of them.
 *
 * Indices: hosts, links, switches, apps, faults and expectations are arrays
 * in file order (faults sorted by time, stably). A reference is an index
 * into the array it names, TW_SCENARIO_NONE where there is none. The model
 * is immutable once loaded except through tw_scenario_set, which rebuilds
 * it; pointers into it stay valid until the next tw_scenario_set or
 * tw_scenario_free.
 *
 * docs/scenarios.md is the reference for the file format this is loaded
 * from; each field below names the key it comes from where that is not
 * obvious. */
#ifndef TW_SCENARIO_MODEL_H
#define TW_SCENARIO_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/ratio.h"
#include "base/time.h"
#include "link/link.h"
#include "wire/ipv4.h"

/* Limits: a file that exceeds one is refused with a message naming it. */
#define TW_SCENARIO_NAME_MAX 32 /* bytes with the NUL: names have at most 31 characters */
#define TW_SCENARIO_TITLE_MAX 64
#define TW_SCENARIO_METRIC_MAX 128
#define TW_SCENARIO_EXPECT_NAME_MAX 160
#define TW_SCENARIO_HOSTS_MAX 1024
#define TW_SCENARIO_CORES_MAX 256
#define TW_SCENARIO_IFACES_MAX 16  /* per host */
#define TW_SCENARIO_ROUTES_MAX 256 /* per host, the default route included */
#define TW_SCENARIO_APPS_MAX 64    /* per host */
#define TW_SCENARIO_LINKS_MAX 4096
#define TW_SCENARIO_SWITCHES_MAX 256
#define TW_SCENARIO_SWITCH_PORTS_MAX 1024
#define TW_SCENARIO_FAULTS_MAX 4096
#define TW_SCENARIO_EXPECTS_MAX 1024
#define TW_SCENARIO_PCAPS_MAX 1024
#define TW_SCENARIO_CPUS_MAX 4096 /* live cpu numbers are below this */
#define TW_SCENARIO_DURATION_MAX TW_SEC(7 * 24 * 3600)

#define TW_SCENARIO_NONE UINT32_MAX
#define TW_SCENARIO_CORE_ANY UINT32_MAX /* app placement: "core: any" */

/* ---- hosts ---------------------------------------------------------------- */

typedef enum tw_scenario_host_kind {
    TW_SCENARIO_HOST_TWIN = 0, /* runs twin's stack and apps (simulated or live) */
    TW_SCENARIO_HOST_KERNEL,   /* a real Linux network namespace: live only */
} tw_scenario_host_kind;

typedef struct tw_scenario_iface {
    char name[TW_SCENARIO_NAME_MAX];
    tw_ipv4_addr addr;
    uint8_t prefix_len;
    uint32_t mtu; /* bytes of IP datagram, 1500 unless given */
    /* Given in the file, or derived 02:74:77:hh:ll:ii from the host index
     * (hh:ll) and interface index (ii): stable under reordering of nothing
     * but the file itself. */
    uint8_t mac[6];
    bool mac_given;
    uint32_t link;     /* the link it is on, NONE when on none */
    uint32_t link_end; /* 0: the link's first endpoint (forward leaves it), 1: second */
} tw_scenario_iface;

typedef struct tw_scenario_route {
    tw_ipv4_addr dest; /* network address; 0.0.0.0/0 for the default route */
    uint8_t prefix_len;
    tw_ipv4_addr via;
    uint32_t iface; /* the host's interface whose connected prefix holds `via` */
} tw_scenario_route;

/* Overrides of the simulated cost of work on a twin host's cores (after
 * sim/sim.h's tw_cost): base_ns + bytes * ps_per_byte / 1000. */
typedef enum tw_scenario_cost_kind {
    TW_SCENARIO_COST_MSG = 0, /* a bus message taken as input */
    TW_SCENARIO_COST_TIMER,   /* a timer fired */
    TW_SCENARIO_COST_OUTPUT,  /* an output popped */
    TW_SCENARIO_COST_COUNT
} tw_scenario_cost_kind;

typedef struct tw_scenario_cost {
    bool set; /* false: the simulator's default profile applies */
    tw_ns base_ns;
    uint32_t ps_per_byte;
} tw_scenario_cost;

/* A twin host's TCP settings (`tcp:`), the knobs an administrator sets
 * per machine (sysctls, socket options every program gets). A value of 0
 * (or NAGLE_APP) means the key was not given: the driver's own choice
 * applies (buffers sized from the bandwidth-delay product, MSS from the
 * MTU, the stack's RFC defaults, each app's Nagle choice). */
typedef enum tw_scenario_nagle {
    TW_SCENARIO_NAGLE_APP = 0, /* each app decides (request-response apps turn it off) */
    TW_SCENARIO_NAGLE_ON,      /* RFC 896 on every connection */
    TW_SCENARIO_NAGLE_OFF,     /* TCP_NODELAY on every connection */
} tw_scenario_nagle;

#define TW_SCENARIO_TCP_MSS_MIN 88       /* RFC 9293 §3.7.1: a 128-byte IP MTU minus 40 */
#define TW_SCENARIO_TCP_BUFFER_MIN 1024
#define TW_SCENARIO_TCP_BUFFER_MAX (1u << 30) /* RFC 7323 §2.3 */
#define TW_SCENARIO_TCP_DELACK_MAX TW_MS(500) /* RFC 5681 §4.2: under 500 ms */

typedef struct tw_scenario_tcp {
    uint32_t mss_bytes;            /* `mss`: payload per segment we send; <= MTU - 40 */
    uint32_t send_buffer_bytes;    /* `send_buffer` */
    uint32_t receive_buffer_bytes; /* `receive_buffer` */
    tw_scenario_nagle nagle;       /* `nagle: true|false` */
    bool delayed_ack_set;          /* `delayed_ack`: a duration, or off (delayed_ack_ns 0) */
    tw_ns delayed_ack_ns;
    tw_ns rto_min_ns; /* `rto_min`, RFC 6298 §2.4 */
    tw_ns msl_ns;     /* `msl`: TIME-WAIT lasts twice this */
    bool keepalive;   /* `keepalive: {idle, interval, probes}`, RFC 1122 §4.2.3.6 */
    tw_ns keepalive_idle_ns;
    tw_ns keepalive_interval_ns;
    uint32_t keepalive_probes;
} tw_scenario_tcp;

/* ---- apps ----------------------------------------------------------------- */

typedef enum tw_scenario_app_type {
    TW_SCENARIO_APP_UDP_ECHO = 0,
    TW_SCENARIO_APP_UDP_CLIENT,
    TW_SCENARIO_APP_TCP_ECHO,
    TW_SCENARIO_APP_TCP_CLIENT,
    TW_SCENARIO_APP_BULK_SEND,
    TW_SCENARIO_APP_BULK_SINK,
    TW_SCENARIO_APP_HTTP_SERVER,
    TW_SCENARIO_APP_HTTP_CLIENT,
    TW_SCENARIO_APP_COUNT
} tw_scenario_app_type;

typedef enum tw_scenario_dist {
    TW_SCENARIO_DIST_FIXED = 0,   /* always `min` (== max) */
    TW_SCENARIO_DIST_UNIFORM,     /* uniform in [min, max] */
    TW_SCENARIO_DIST_EXPONENTIAL, /* mean `mean`, clamped to [min, max] */
} tw_scenario_dist;

typedef struct tw_scenario_size_dist {
    tw_scenario_dist dist;
    uint64_t min_bytes;
    uint64_t max_bytes;
    uint64_t mean_bytes; /* exponential only */
} tw_scenario_size_dist;

/* One struct for every type; which fields mean something depends on the
 * type (docs/scenarios.md has the table). Fields a type does not use are 0. */
typedef struct tw_scenario_app {
    char name[TW_SCENARIO_NAME_MAX]; /* unique across the scenario */
    tw_scenario_app_type type;
    uint32_t host;
    uint32_t core;  /* < the host's cores, or TW_SCENARIO_CORE_ANY */
    tw_ns start_ns; /* when it starts: servers listen, clients begin sending */
    uint16_t port;  /* servers: where they listen; clients: the server's port */

    /* Clients (udp_client, tcp_client, bulk_send, http_client): the peer,
     * resolved to one interface of one host. */
    uint32_t peer_host;
    uint32_t peer_iface;
    tw_ipv4_addr peer_addr;

    /* Request-driven clients: open loop at rate_per_s, or closed loop
     * keeping `concurrency` requests outstanding. */
    bool closed_loop;
    uint64_t rate_per_s;
    uint32_t concurrency;
    uint32_t connections; /* tcp_client, http_client */
    uint32_t size_bytes;  /* udp_client datagram payload, tcp_client request */
    uint64_t count;       /* requests to make; 0: until stop */
    tw_ns stop_ns;        /* start + `duration`, or the scenario's end */

    /* bulk_send: one stream of `bytes` over TCP, pattern-checked by the
     * sink when verify. */
    uint64_t bytes;
    bool verify;

    /* http_server: a site generated from the seed. */
    uint32_t pages;
    tw_scenario_size_dist page_size;
} tw_scenario_app;

typedef struct tw_scenario_host {
    char name[TW_SCENARIO_NAME_MAX];
    tw_scenario_host_kind kind;
    uint32_t cores;
    bool router; /* forwards IPv4 between its interfaces */
    tw_scenario_iface *ifaces;
    uint32_t iface_count;
    tw_scenario_route *routes; /* file order; the default route (gateway) last */
    uint32_t route_count;
    tw_scenario_cost cost[TW_SCENARIO_COST_COUNT];
    tw_scenario_tcp tcp;
    /* live.cpus: the CPU each core's driver thread is pinned to, in core
     * order; NULL when not given (the live driver chooses). */
    uint32_t *live_cpus;
    uint32_t first_app; /* this host's apps are apps[first_app, first_app + app_count) */
    uint32_t app_count;
} tw_scenario_host;

/* ---- links and switches --------------------------------------------------- */

typedef enum tw_scenario_end_kind {
    TW_SCENARIO_END_IFACE = 0, /* a host's interface */
    TW_SCENARIO_END_SWITCH,    /* a switch port */
} tw_scenario_end_kind;

typedef struct tw_scenario_end {
    tw_scenario_end_kind kind;
    uint32_t host;  /* IFACE */
    uint32_t iface; /* IFACE */
    uint32_t sw;    /* SWITCH */
    uint32_t port;  /* SWITCH: ports are numbered in file order of links */
} tw_scenario_end;

typedef enum tw_scenario_loss_model {
    TW_SCENARIO_LOSS_BERNOULLI = 0,
    TW_SCENARIO_LOSS_GILBERT,
} tw_scenario_loss_model;

typedef struct tw_scenario_link {
    char name[TW_SCENARIO_NAME_MAX]; /* given, or "link<index>" */
    tw_scenario_end end[2];          /* `endpoints: [a, b]` */
    /* forward carries frames from end[0] to end[1], reverse the other way.
     * Filled from tw_link_config_default(), then the link's shared keys,
     * then `forward:`/`reverse:`; accepted by tw_link_config_check. The
     * driver sets header_bytes, pool_frames and stream; the loader leaves
     * them at their defaults. */
    tw_link_config dir[2];
    tw_scenario_loss_model loss_model[2];
} tw_scenario_link;

#define TW_SCENARIO_FORWARD 0
#define TW_SCENARIO_REVERSE 1

typedef struct tw_scenario_switch {
    char name[TW_SCENARIO_NAME_MAX];
    uint32_t ports; /* as given, or, for `ports: auto`, the links attached */
    uint32_t ports_used;
    bool ports_auto;
    uint32_t queue_packets_limit; /* per output port */
    uint32_t queue_bytes_limit;
    uint32_t mac_table_size;
} tw_scenario_switch;

/* ---- faults --------------------------------------------------------------- */

typedef enum tw_scenario_fault_kind {
    TW_SCENARIO_FAULT_PARTITION = 0,
    TW_SCENARIO_FAULT_LINK_DOWN,
    TW_SCENARIO_FAULT_LINK_UP,
    TW_SCENARIO_FAULT_CLOG,
    TW_SCENARIO_FAULT_CRASH,
    TW_SCENARIO_FAULT_STALL,
    TW_SCENARIO_FAULT_COUNT
} tw_scenario_fault_kind;

typedef struct tw_scenario_fault {
    tw_scenario_fault_kind kind;
    tw_ns at_ns;
    /* When it ends: partition heal, clog end, crash restart, stall end;
     * TW_NS_NEVER when it does not (and always for link_down/link_up). */
    tw_ns until_ns;
    uint32_t link; /* link_down, link_up, clog */
    uint32_t host; /* crash, stall */
    uint32_t core; /* stall */
    /* partition: traffic between side a and side b is dropped (only a->b
     * when oneway); hosts on neither side are untouched. */
    uint32_t *side_a;
    uint32_t side_a_count;
    uint32_t *side_b;
    uint32_t side_b_count;
    bool oneway;
    uint32_t line; /* where it is written, for reports */
} tw_scenario_fault;

/* ---- expectations --------------------------------------------------------- */

/* The unit of a metric, which fixes how its bounds are written and stored. */
typedef enum tw_scenario_unit {
    TW_SCENARIO_UNIT_COUNT = 0, /* a bare integer */
    TW_SCENARIO_UNIT_NS,        /* a duration */
    TW_SCENARIO_UNIT_BPS,       /* a rate */
    TW_SCENARIO_UNIT_BYTES,     /* a size */
    TW_SCENARIO_UNIT_PPM,       /* a percentage, in parts per million */
} tw_scenario_unit;

typedef enum tw_scenario_op {
    TW_SCENARIO_OP_GE = 0,
    TW_SCENARIO_OP_LE,
    TW_SCENARIO_OP_EQ,
    TW_SCENARIO_OP_BETWEEN,
} tw_scenario_op;

typedef enum tw_scenario_when {
    TW_SCENARIO_WHEN_END = 0,    /* the value at the end of the run */
    TW_SCENARIO_WHEN_EVENTUALLY, /* at some sample in [after, after + within] */
} tw_scenario_when;

/* Holds when lo <= observed <= hi (op is kept for reports: GE has
 * hi = UINT64_MAX, LE has lo = 0, EQ has lo == hi). */
typedef struct tw_scenario_expect {
    char name[TW_SCENARIO_EXPECT_NAME_MAX]; /* given, or generated from the condition */
    char metric[TW_SCENARIO_METRIC_MAX];    /* docs/scenarios.md, "Metrics" */
    tw_scenario_unit unit;
    tw_scenario_op op;
    uint64_t lo;
    uint64_t hi;
    tw_scenario_when when;
    tw_ns after_ns;  /* eventually: the window opens (last_heal resolved) */
    tw_ns within_ns; /* eventually: the window's length */
    /* eventually: compare the metric's increase since after_ns rather than
     * its value. */
    bool delta;
    uint32_t line;
    uint32_t column;
} tw_scenario_expect;

/* ---- capture, live, swarm ------------------------------------------------- */

typedef struct tw_scenario_pcap {
    bool is_link; /* a whole link (both directions) or one host interface */
    uint32_t link;
    uint32_t host;
    uint32_t iface;
} tw_scenario_pcap;

typedef struct tw_scenario_capture {
    bool pcap_all; /* every link */
    tw_scenario_pcap *pcaps;
    uint32_t pcap_count;
    bool trace;                /* the per-event trace */
    tw_ns metrics_interval_ns; /* sampling; 0: only at the end */
} tw_scenario_capture;

typedef enum tw_scenario_backend {
    TW_SCENARIO_BACKEND_DEFAULT = 0, /* the live driver's choice (or --backend) */
    TW_SCENARIO_BACKEND_XDP,
    TW_SCENARIO_BACKEND_URING,
    TW_SCENARIO_BACKEND_TAP,
    TW_SCENARIO_BACKEND_POLL,
} tw_scenario_backend;

typedef struct tw_scenario_live {
    tw_scenario_backend backend;
    bool pin; /* pin driver threads (to live_cpus where given) */
    /* live.programs: false: kernel hosts run every app as twin's tasks over
     * their sockets, http_server included (by default it is nginx). */
    bool programs_off;
} tw_scenario_live;

/* A knob the swarm mode draws per run, uniformly in [lo, hi]. */
typedef struct tw_scenario_swarm_ratio {
    bool set;
    tw_ratio lo;
    tw_ratio hi;
} tw_scenario_swarm_ratio;

typedef struct tw_scenario_swarm_u64 {
    bool set;
    uint64_t lo;
    uint64_t hi;
} tw_scenario_swarm_u64;

typedef struct tw_scenario_swarm {
    tw_scenario_swarm_ratio loss;
    tw_scenario_swarm_ratio duplicate;
    tw_scenario_swarm_ratio reorder;
    tw_scenario_swarm_ratio corrupt;
    tw_scenario_swarm_u64 delay_ns;
    tw_scenario_swarm_u64 jitter_ns;
    tw_scenario_swarm_u64 bandwidth_bps;
    tw_scenario_swarm_u64 partitions; /* random partitions per run */
    tw_scenario_swarm_u64 crashes;    /* random crash/restart pairs per run */
    tw_scenario_swarm_u64 stalls;     /* random core stalls per run */
    uint32_t *links;                  /* the links the link knobs apply to */
    uint32_t link_count;              /* 0: every link */
} tw_scenario_swarm;

/* ---- the scenario --------------------------------------------------------- */

struct tw_scenario_store; /* the loader's: memory and the source, for set */

typedef struct tw_scenario {
    char name[TW_SCENARIO_TITLE_MAX];
    uint64_t seed;
    tw_ns duration_ns;
    tw_scenario_host *hosts;
    uint32_t host_count;
    tw_scenario_app *apps; /* grouped by host, in host order */
    uint32_t app_count;
    tw_scenario_link *links;
    uint32_t link_count;
    tw_scenario_switch *switches;
    uint32_t switch_count;
    tw_scenario_fault *faults; /* sorted by at_ns, ties in file order */
    uint32_t fault_count;
    tw_scenario_expect *expects;
    uint32_t expect_count;
    tw_scenario_capture capture;
    tw_scenario_live live;
    tw_scenario_swarm swarm;
    bool has_swarm;
    struct tw_scenario_store *store;
} tw_scenario;

#endif
