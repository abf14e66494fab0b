/* `twin fuzz`'s scenarios: a fuzz spec is a plain struct drawn from a seed
 * (topology, hosts and cores, link impairments, a fault schedule,
 * workloads, each host's TCP knobs), rendered to the text of a scenario
 * file whose expectations are the swarm's invariants. Because every draw
 * goes through the ordinary loader, every failure is by construction a
 * file `twin run` accepts.
 *
 * Names are stable under shrinking: the server host is `server`, clients
 * `c1`, `c2`, ..., routers `r1`, ...; link `l0` exists in every draw (the
 * first client's link, or the server's on a switch); workload k's apps are
 * named after k (`bulk3` sends to `sink3`, `udp4` asks `uecho4`). A
 * reduction removes things but never renames the rest, so an invariant
 * keeps its name while the spec shrinks around it. */
#ifndef TW_CLI_FUZZ_SPEC_H
#define TW_CLI_FUZZ_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/time.h"

#define FZ_CLIENTS_MAX 6
#define FZ_ROUTERS_MAX 2
#define FZ_HOSTS_MAX (1 + FZ_CLIENTS_MAX + FZ_ROUTERS_MAX)
#define FZ_LINKS_MAX (FZ_CLIENTS_MAX + 1)
#define FZ_WORKS_MAX 6
#define FZ_FAULTS_MAX 8
#define FZ_EXPECT_USER_MAX 8
#define FZ_ROUTER_ID0 16 /* host ids: 0 server, 1.. clients, 16.. routers */

typedef enum fz_topo {
    FZ_TOPO_DIRECT = 0, /* c1 -- server */
    FZ_TOPO_SWITCH,     /* server and clients on one switch */
    FZ_TOPO_CHAIN,      /* c1 -- r1 [-- r2] -- server */
} fz_topo;

/* A link's impairments, the same both ways; 0 everywhere is a clean wire. */
typedef struct fz_link {
    uint64_t bandwidth_bps; /* 0: unlimited */
    tw_ns delay_ns;
    tw_ns jitter_ns;
    uint32_t loss_ppm; /* parts per million */
    uint32_t dup_ppm;
    uint32_t reorder_ppm;
    tw_ns reorder_delay_ns;
    uint32_t corrupt_ppm;
    uint32_t mtu;           /* 0: 1500 */
    uint32_t queue_packets; /* 0: the default */
    bool codel;
} fz_link;

/* The host's `tcp:`; 0 (nagle 0, delack_ms -1) leaves a knob to the
 * driver. msl and keep-alive are always set: they bound how long a
 * connection may outlive its app, which the leak invariant relies on. */
typedef struct fz_tcp {
    uint32_t mss;
    uint32_t snd_buf;
    uint32_t rcv_buf;
    uint8_t nagle; /* 0: the app's choice, 1: on, 2: off */
    int32_t delack_ms; /* -1: default, 0: off */
    uint32_t rto_min_ms;
    uint32_t msl_ms;
} fz_tcp;

typedef struct fz_host {
    uint32_t id;
    uint32_t cores;
    fz_tcp tcp;
} fz_host;

typedef enum fz_kind { FZ_BULK = 0, FZ_UDP, FZ_TCP, FZ_HTTP, FZ_KIND_COUNT } fz_kind;

/* A client on host `client` and its server on the server host (a bulk
 * stream may run the other way). */
typedef struct fz_work {
    uint32_t id;
    fz_kind kind;
    uint32_t client; /* host id */
    bool reverse;    /* bulk: the server host sends */
    uint64_t bytes;  /* bulk */
    uint32_t rate;   /* requests per second */
    uint32_t conns;
    uint32_t size;   /* udp, tcp: request bytes; http: page bytes */
} fz_work;

typedef enum fz_fault_kind {
    FZ_PARTITION = 0,
    FZ_FLAP, /* link_down, then link_up */
    FZ_CLOG,
    FZ_CRASH, /* and restart */
    FZ_STALL,
    FZ_FAULT_KIND_COUNT
} fz_fault_kind;

typedef struct fz_fault {
    fz_fault_kind kind;
    tw_ns at_ns;
    tw_ns len_ns;
    uint32_t a, b;  /* partition: host ids; crash, stall: a; flap, clog: a is a link index */
    uint32_t core;  /* stall */
    bool oneway;
} fz_fault;

typedef struct fz_spec {
    uint64_t seed;
    fz_topo topo;
    uint32_t host_count; /* server first, then clients, then routers in chain order */
    fz_host hosts[FZ_HOSTS_MAX];
    uint32_t link_count; /* link i is named l<i>; see fz_spec_render for who it joins */
    fz_link links[FZ_LINKS_MAX];
    uint32_t work_count;
    fz_work works[FZ_WORKS_MAX];
    uint32_t fault_count;
    fz_fault faults[FZ_FAULTS_MAX];
    tw_ns traffic_ns; /* clients run from 100ms to 100ms + traffic_ns */
    tw_ns drain_ns;   /* then the run goes on this long for connections to close */
} fz_spec;

typedef struct fz_limits {
    uint32_t max_hosts; /* 2 .. FZ_HOSTS_MAX */
    tw_ns traffic_ns;   /* how long clients run; faults heal within its first fifth */
} fz_limits;

/* Draws seed's spec: the same seed and limits give the same spec. */
void fz_spec_draw(fz_spec *s, uint64_t seed, const fz_limits *lim);

/* Renders the scenario file: its hosts, links, apps and faults, and the
 * invariants as expectations, then the user's extra ones (each a YAML
 * flow mapping such as {metric: link.l0.forward.drops, "<=": 10}). The
 * length written (always NUL-terminated), or the length it needed when
 * that is >= len. */
size_t fz_spec_render(const fz_spec *s, const char *const *user_expects, uint32_t user_count,
                      char *buf, size_t len);

/* Prints the derived parameters on one line each (what a failing seed's
 * report shows). */
void fz_spec_describe(const fz_spec *s, char *buf, size_t len);

/* One reduction of the spec: reducer r (0 .. FZ_REDUCERS - 1) applied at
 * position k. False when it does not apply there (nothing to remove, a
 * knob already at its default, k past the end): the shrinker moves on. */
#define FZ_REDUCERS 8
bool fz_spec_reduce(fz_spec *s, uint32_t r, uint32_t k);
const char *fz_reducer_name(uint32_t r);

/* Keeps only the faults whose bit is set in `keep` (ddmin's subsets). */
void fz_spec_keep_faults(fz_spec *s, uint32_t keep);

/* A host's name ("server", "c2", "r1") into buf. */
const char *fz_host_name(uint32_t id, char *buf, size_t len);

#endif
