/* The simulated world on top of the simulator (see world.h).
 *
 * IMPLEMENTATION NOTES
 *
 * - Ids. Global cores are the simulator's cores: plain workers first, then
 *   each host's cores in order; cores[] maps one back to (host, local
 *   core). A link has two directions, 2 * link + 0 (a->b) and + 1 (b->a);
 *   an end's `dir_out` is the direction leaving it.
 * - A frame on a link carries, as the link's tag, the id of the host that
 *   put it on the wire (a switch keeps the tag): that is the sender a
 *   partition looks at.
 * - Events. A link direction has at most one live wake, at wake_at; an
 *   enqueue that moves its deadline earlier schedules another and the old
 *   one goes stale (its time no longer matches). A frame a core sends
 *   waits in the core's transmit ring and leaves by a TX event at its
 *   departure time: departures of one core never go backwards, so the ring
 *   is FIFO in event order. TX events carry the host's incarnation, so
 *   those of a crashed incarnation go stale. Faults are sorted at start
 *   and chained: each FAULT event schedules the next.
 * - NIC buffers: one pool of fixed-size buffers (the largest frame of any
 *   link or stack) for every receive and transmit ring, so a thousand idle
 *   hosts cost rings of indices, not buffers. */
#include "sim/world.h"

#include <string.h>

#include "base/assert.h"
#include "base/bitset.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/mem.h"
#include "wire/arp.h"
#include "wire/ethernet.h"
#include "base/rng.h"
#include "wire/rss.h"

#define NONE UINT32_MAX
/* Link rng streams: apart from the workers' (0x1000 + id). */
#define MAC_WAYS 8u
/* Room for the largest tag a stack frame may carry above its MTU. */
#define FRAME_HEADROOM (TW_ETH_VLAN_HEADER_LEN)

typedef struct buf_meta {
    uint64_t stamp;
    uint32_t len;
    uint32_t iface;
} buf_meta;

typedef struct dir_state {
    tw_link link;
    tw_world_end to;
    bool tap;
    bool wake_pending;
    tw_ns wake_at;
    uint64_t seen[TW_LINK_DROP_COUNT]; /* link drops already recorded */
    uint64_t seen_total;
} dir_state;

typedef struct link_state {
    tw_world_end end[2];
} link_state;

typedef struct host_node {
    tw_world_host_config cfg;
    uint32_t id;
    uint32_t first_core;
    bool up;
    uint32_t incarnation;
    uint32_t tap_mask; /* interfaces whose NIC is tapped */
    uint32_t dir_out[TW_WORLD_IFACES_MAX];
    tw_stack **stacks; /* per core */
    tw_ring *rx;       /* [iface * cores + core]: buffer indices */
    uint16_t indir[TW_RSS_INDIR_LEN];
    /* This host's NIC hash: its own key (drawn from the world's seed, as
     * every real NIC draws its own, unless the world names one key for
     * all), with Linux's default table over the host's cores. TCP uses it
     * to pick local ports whose replies come back to the opening core. A
     * key shared by every host would tie the server's steering to the
     * client's choice of ports, and leave some server cores idle. */
    tw_rss *rss;
    tw_world_host_stats stats;
} host_node;

typedef struct mac_entry {
    tw_mac mac;
    uint16_t valid;
    uint32_t port;
    tw_ns seen;
} mac_entry;

typedef struct switch_node {
    tw_world_switch_config cfg;
    uint32_t id;
    uint32_t *dir_out; /* per port */
    mac_entry *table;
    uint32_t table_mask;
    tw_world_switch_stats stats;
} switch_node;

typedef struct core_map {
    uint32_t host; /* NONE for a plain worker */
    uint32_t local;
    tw_ring tx; /* host cores: buffer indices waiting to leave */
    /* Frames in this core's RX rings, all interfaces together: the
     * simulator asks whether one waits twice per frame, and most of the
     * time none does. */
    uint32_t rx_queued;
} core_map;

typedef struct partition {
    uint64_t *a; /* bitsets over hosts */
    uint64_t *b;
    bool one_way;
    bool active;
} partition;

struct tw_world {
    tw_world_config cfg;
    bool started;
    tw_sim sim;
    tw_sim_ext ext;
    tw_controller_program idle_program;

    host_node *hosts;
    uint32_t nhosts;
    switch_node *switches;
    uint32_t nswitches;
    link_state *links;
    dir_state *dirs;
    uint32_t nlinks;
    partition *parts;
    uint32_t nparts;
    uint32_t active_parts;
    tw_world_fault *faults;
    uint32_t nfaults;
    uint32_t next_fault;

    uint32_t plain_cores;
    uint32_t ncores; /* plain and host cores */
    core_map *cores;

    tw_rss rss;
    uint32_t frame_max;
    uint32_t nbufs;
    uint8_t *buf_data;
    buf_meta *buf_meta;
    uint32_t *buf_free;
    uint32_t buf_free_len;
};

/* ---- configuration --------------------------------------------------------- */

void tw_world_config_default(tw_world_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    tw_sim_config_default(&cfg->sim);
    cfg->sim.cores = 0;
    cfg->hosts_max = 64;
    cfg->switches_max = 16;
    cfg->links_max = 128;
    cfg->partitions_max = 16;
    cfg->faults_max = 256;
}

void tw_world_host_config_default(tw_world_host_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->cores = 1;
    tw_stack_config_default(&cfg->stack);
    cfg->worker.max_tasks = 64;
    cfg->worker.task_state_max = 1024;
    cfg->worker.max_channels = 4;
    cfg->worker.outq_max = 256;
    cfg->rx_ring = 256;
    cfg->tx_ring = 256;
}

int tw_world_host_config_iface(tw_world_host_config *cfg, tw_mac mac, tw_ipv4_addr addr,
                               uint8_t prefix_len, uint16_t mtu)
{
    if (cfg->ifaces >= TW_WORLD_IFACES_MAX) {
        return -TW_EFULL;
    }
    cfg->iface[cfg->ifaces++] =
        (tw_iface_config){.mac = mac, .addr = addr, .prefix_len = prefix_len, .mtu = mtu};
    return 0;
}

int tw_world_host_config_route(tw_world_host_config *cfg, tw_ipv4_addr dst, uint8_t prefix_len,
                               tw_ipv4_addr gateway)
{
    if (cfg->routes >= TW_WORLD_ROUTES_MAX) {
        return -TW_EFULL;
    }
    cfg->route[cfg->routes++] =
        (tw_world_route){.dst = dst, .prefix_len = prefix_len, .gateway = gateway};
    return 0;
}

void tw_world_switch_config_default(tw_world_switch_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ports = 8;
    cfg->mac_table_size = 1024;
    cfg->mac_ageing_ns = TW_SEC(300);
}

/* ---- building ------------------------------------------------------------- */

static void idle_start(tw_controller *c, tw_ns now, void *ctx) {}

tw_world *tw_world_create(const tw_world_config *cfg)
{
    TW_ASSERT(cfg->hosts_max > 0 || cfg->sim.cores > 0);
    tw_world *w = tw_mem_calloc(1, sizeof(*w));
    w->cfg = *cfg;
    w->hosts = tw_mem_calloc(cfg->hosts_max, sizeof(host_node));
    w->switches = tw_mem_calloc(cfg->switches_max, sizeof(switch_node));
    w->links = tw_mem_calloc(cfg->links_max, sizeof(link_state));
    w->dirs = tw_mem_calloc((size_t)cfg->links_max * 2, sizeof(dir_state));
    w->parts = tw_mem_calloc(cfg->partitions_max, sizeof(partition));
    w->faults = tw_mem_calloc(cfg->faults_max, sizeof(tw_world_fault));
    w->idle_program.on_start = idle_start;
    return w;
}

static bool valid_end(const tw_world *w, tw_world_end e)
{
    if (e.kind == TW_WORLD_HOST) {
        return e.node < w->nhosts && e.port < w->hosts[e.node].cfg.ifaces;
    }
    if (e.kind == TW_WORLD_SWITCH) {
        return e.node < w->nswitches && e.port < w->switches[e.node].cfg.ports;
    }
    return false;
}

static uint32_t *end_dir_out(tw_world *w, tw_world_end e)
{
    return e.kind == TW_WORLD_HOST ? &w->hosts[e.node].dir_out[e.port]
                                   : &w->switches[e.node].dir_out[e.port];
}

int tw_world_host_add(tw_world *w, const tw_world_host_config *cfg)
{
    if (w->started) {
        return -TW_ESTATE;
    }
    if (w->nhosts == w->cfg.hosts_max) {
        return -TW_EFULL;
    }
    if (cfg->cores == 0 || cfg->cores > TW_WORLD_CORES_MAX || cfg->ifaces > TW_WORLD_IFACES_MAX ||
        cfg->ifaces > cfg->stack.ifaces_max || cfg->routes > TW_WORLD_ROUTES_MAX ||
        cfg->worker.registry == NULL || cfg->rx_ring == 0 || cfg->tx_ring == 0) {
        return -TW_EINVAL;
    }
    host_node *h = &w->hosts[w->nhosts];
    h->cfg = *cfg;
    h->cfg.name[TW_WORLD_NAME_MAX - 1] = 0;
    h->id = w->nhosts;
    h->up = true;
    for (uint32_t i = 0; i < TW_WORLD_IFACES_MAX; i++) {
        h->dir_out[i] = NONE;
    }
    return (int)w->nhosts++;
}

int tw_world_switch_add(tw_world *w, const tw_world_switch_config *cfg)
{
    if (w->started) {
        return -TW_ESTATE;
    }
    if (w->nswitches == w->cfg.switches_max) {
        return -TW_EFULL;
    }
    if (cfg->ports == 0 || cfg->ports > TW_WORLD_PORTS_MAX || cfg->mac_table_size == 0 ||
        cfg->mac_table_size > (1u << 24) || cfg->mac_ageing_ns == 0) {
        return -TW_EINVAL;
    }
    switch_node *s = &w->switches[w->nswitches];
    s->cfg = *cfg;
    s->cfg.name[TW_WORLD_NAME_MAX - 1] = 0;
    s->id = w->nswitches;
    s->dir_out = tw_mem_calloc(cfg->ports, sizeof(uint32_t));
    for (uint32_t p = 0; p < cfg->ports; p++) {
        s->dir_out[p] = NONE;
    }
    uint32_t n = MAC_WAYS;
    while (n < cfg->mac_table_size) {
        n <<= 1;
    }
    s->table = tw_mem_calloc(n, sizeof(mac_entry));
    s->table_mask = n - 1;
    return (int)w->nswitches++;
}

int tw_world_link_add(tw_world *w, tw_world_end a, tw_world_end b, const tw_link_config *ab,
                      const tw_link_config *ba)
{
    if (w->started) {
        return -TW_ESTATE;
    }
    if (w->nlinks == w->cfg.links_max) {
        return -TW_EFULL;
    }
    const char *what;
    if (!valid_end(w, a) || !valid_end(w, b) || tw_link_config_check(ab, &what) < 0 ||
        tw_link_config_check(ba, &what) < 0) {
        return -TW_EINVAL;
    }
    if (a.kind == b.kind && a.node == b.node && a.port == b.port) {
        return -TW_EINVAL;
    }
    if (*end_dir_out(w, a) != NONE || *end_dir_out(w, b) != NONE) {
        return -TW_EEXIST;
    }
    uint32_t id = w->nlinks++;
    w->links[id].end[0] = a;
    w->links[id].end[1] = b;
    const tw_link_config *cfgs[2] = {ab, ba};
    for (uint32_t d = 0; d < 2; d++) {
        dir_state *ds = &w->dirs[2 * id + d];
        tw_link_config lc = *cfgs[d];
        /* One stream per direction: no two links ever share draws. */
        lc.stream = tw_world_link_stream((uint32_t)id, (uint32_t)d);
        int rc = tw_link_init(&ds->link, &lc, w->cfg.sim.seed);
        TW_ASSERT(rc == 0); /* checked above */
        ds->to = d == 0 ? b : a;
        ds->wake_at = TW_NS_NEVER;
    }
    *end_dir_out(w, a) = 2 * id;
    *end_dir_out(w, b) = 2 * id + 1;
    return (int)id;
}

int tw_world_partition_add(tw_world *w, const uint32_t *side_a, uint32_t count_a,
                           const uint32_t *side_b, uint32_t count_b, bool one_way)
{
    if (w->started) {
        return -TW_ESTATE;
    }
    if (w->nparts == w->cfg.partitions_max) {
        return -TW_EFULL;
    }
    for (uint32_t i = 0; i < count_a; i++) {
        if (side_a[i] >= w->cfg.hosts_max) {
            return -TW_EINVAL;
        }
    }
    for (uint32_t i = 0; i < count_b; i++) {
        if (side_b[i] >= w->cfg.hosts_max) {
            return -TW_EINVAL;
        }
    }
    partition *p = &w->parts[w->nparts];
    p->a = tw_mem_calloc(TW_BITSET_WORDS(w->cfg.hosts_max), sizeof(uint64_t));
    p->b = tw_mem_calloc(TW_BITSET_WORDS(w->cfg.hosts_max), sizeof(uint64_t));
    for (uint32_t i = 0; i < count_a; i++) {
        tw_bit_set(p->a, side_a[i]);
    }
    for (uint32_t i = 0; i < count_b; i++) {
        tw_bit_set(p->b, side_b[i]);
    }
    p->one_way = one_way;
    return (int)w->nparts++;
}

static bool fault_target_valid(const tw_world *w, const tw_world_fault *f)
{
    switch (f->kind) {
    case TW_WORLD_FAULT_PARTITION:
    case TW_WORLD_FAULT_HEAL:
        return f->target < w->nparts;
    case TW_WORLD_FAULT_LINK_DOWN:
    case TW_WORLD_FAULT_LINK_UP:
    case TW_WORLD_FAULT_CLOG:
        return f->target < w->nlinks && f->dirs <= TW_WORLD_DIR_BOTH;
    case TW_WORLD_FAULT_CRASH:
    case TW_WORLD_FAULT_RESTART:
        return f->target < w->nhosts;
    case TW_WORLD_FAULT_STALL:
        return f->target < w->nhosts && f->core < w->hosts[f->target].cfg.cores;
    default:
        return false;
    }
}

int tw_world_fault_add(tw_world *w, const tw_world_fault *fault)
{
    if (w->started) {
        return -TW_ESTATE;
    }
    if (!fault_target_valid(w, fault) || fault->at == TW_NS_NEVER) {
        return -TW_EINVAL;
    }
    if (w->nfaults == w->cfg.faults_max) {
        return -TW_EFULL;
    }
    tw_world_fault *f = &w->faults[w->nfaults++];
    *f = *fault;
    if (f->dirs == 0) {
        f->dirs = TW_WORLD_DIR_BOTH;
    }
    return 0;
}

int tw_world_tap_link(tw_world *w, uint32_t link, uint32_t dirs)
{
    if (w->started) {
        return -TW_ESTATE;
    }
    if (link >= w->nlinks || dirs == 0 || dirs > TW_WORLD_DIR_BOTH) {
        return -TW_EINVAL;
    }
    for (uint32_t d = 0; d < 2; d++) {
        if (dirs & (1u << d)) {
            w->dirs[2 * link + d].tap = true;
        }
    }
    return 0;
}

int tw_world_tap_nic(tw_world *w, uint32_t host, uint32_t iface)
{
    if (w->started) {
        return -TW_ESTATE;
    }
    if (host >= w->nhosts || iface >= w->hosts[host].cfg.ifaces) {
        return -TW_EINVAL;
    }
    w->hosts[host].tap_mask |= 1u << iface;
    return 0;
}

/* ---- NIC buffers -------------------------------------------------------- */

static uint32_t buf_take(tw_world *w)
{
    return w->buf_free_len ? w->buf_free[--w->buf_free_len] : NONE;
}

static void buf_put(tw_world *w, uint32_t b)
{
    TW_ASSERT(b < w->nbufs);
    TW_ASSERT(w->buf_free_len < w->nbufs);
    w->buf_free[w->buf_free_len++] = b;
}

static uint8_t *buf_data(const tw_world *w, uint32_t b)
{
    return w->buf_data + (size_t)b * w->frame_max;
}

/* ---- stacks and workers of a host ------------------------------------- */

tw_stack *tw_world_host_stack_build(const tw_world_host_config *cfg, const tw_rss *rss,
                                    uint64_t seed, uint32_t host, uint32_t incarnation,
                                    uint32_t core, tw_ns now)
{
    tw_stack_config sc = cfg->stack;
    sc.rss = cfg->cores > 1 ? rss : NULL;
    sc.core = (uint16_t)core;
    sc.ncores = (uint16_t)cfg->cores;
    if (sc.tcp_enabled) {
        /* Each core's TCP draws its own ISNs and ports: keyed by the
         * world's seed, the host, the core and the host's incarnation. */
        sc.tcp.seed = tw_hash_fold(tw_hash_fold(tw_hash_fold(seed, host), core), incarnation);
        sc.tcp.rss = cfg->cores > 1 ? rss : NULL;
        sc.tcp.core = (uint16_t)core;
        sc.tcp.ncores = (uint16_t)cfg->cores;
    }
    tw_stack *st = tw_stack_create(&sc, now);
    for (uint32_t i = 0; i < cfg->ifaces; i++) {
        int rc = tw_stack_iface_add(st, &cfg->iface[i]);
        TW_ASSERT(rc == (int)i); /* tw_world_start checked the configuration */
    }
    for (uint32_t r = 0; r < cfg->routes; r++) {
        const tw_world_route *rt = &cfg->route[r];
        int rc = tw_stack_route_add(st, rt->dst, rt->prefix_len, rt->gateway);
        TW_ASSERT(rc == 0);
    }
    if (cfg->gateway) {
        int rc = tw_stack_route_default(st, cfg->gateway);
        TW_ASSERT(rc == 0);
    }
    for (uint32_t i = 0; i < cfg->ifaces; i++) {
        int rc = tw_stack_iface_up(st, now, i);
        TW_ASSERT(rc == 0);
    }
    return st;
}

static tw_stack *stack_build(const tw_world *w, const host_node *h, uint32_t core, tw_ns now)
{
    return tw_world_host_stack_build(&h->cfg, h->rss, w->cfg.sim.seed, h->id, h->incarnation,
                                     core, now);
}

void tw_world_host_rss(tw_rss *rss, uint64_t seed, uint32_t host, uint32_t cores)
{
    uint8_t key[40];
    uint64_t st = tw_hash_fold(seed, 0x7273735f6b657900ull + host);
    for (size_t k = 0; k < sizeof key; k++) {
        key[k] = (uint8_t)tw_splitmix64(&st);
    }
    tw_rss_init(rss, key, sizeof key);
    tw_rss_indir_spread(rss, (uint16_t)cores);
}

void tw_world_host_worker_config(const tw_world_host_config *cfg, tw_stack *stack, uint64_t seed,
                                 uint32_t incarnation, tw_worker_config *wc)
{
    uint32_t id = wc->id;
    *wc = cfg->worker;
    wc->id = id;
    /* A restarted host draws afresh, and still the same for the same seed. */
    wc->seed = incarnation ? tw_hash_fold(seed, incarnation) : seed;
    wc->stack = stack;
    wc->net_endpoints_max = cfg->stack.udp.endpoints_max;
    wc->tcp_conns_max = cfg->stack.tcp_enabled ? cfg->stack.tcp.conns_max : 0;
    wc->tcp_listeners_max = cfg->stack.tcp_enabled ? cfg->stack.tcp.listeners_max : 0;
}

/* Whether the host's configuration builds a stack: every interface and
 * route is accepted. Checked on a scratch stack at start so that a bad
 * scenario is an error there, never an assertion in a restart. */
static int host_check(const host_node *h)
{
    tw_stack *st = tw_stack_create(&h->cfg.stack, 0);
    int rc = 0;
    for (uint32_t i = 0; i < h->cfg.ifaces && rc >= 0; i++) {
        rc = tw_stack_iface_add(st, &h->cfg.iface[i]);
    }
    for (uint32_t r = 0; r < h->cfg.routes && rc >= 0; r++) {
        const tw_world_route *rt = &h->cfg.route[r];
        rc = tw_stack_route_add(st, rt->dst, rt->prefix_len, rt->gateway);
    }
    if (rc >= 0 && h->cfg.gateway) {
        rc = tw_stack_route_default(st, h->cfg.gateway);
    }
    tw_stack_destroy(st);
    return rc < 0 ? -TW_EINVAL : 0;
}

static void host_worker_config(const tw_world *w, uint32_t core, tw_worker_config *wc)
{
    const core_map *cm = &w->cores[core];
    TW_ASSERT(cm->host != NONE);
    const host_node *h = &w->hosts[cm->host];
    tw_world_host_worker_config(&h->cfg, h->stacks[cm->local], w->cfg.sim.seed, h->incarnation, wc);
}

static void ext_worker_config(void *ctx, uint32_t core, tw_worker_config *wc)
{
    tw_world *w = ctx;
    if (w->cores[core].host != NONE) {
        host_worker_config(w, core, wc);
    }
}

/* ---- frames through links ------------------------------------------------ */

static void link_schedule(tw_world *w, uint32_t d)
{
    dir_state *ds = &w->dirs[d];
    tw_ns at = tw_link_next_deadline(&ds->link);
    if (at == TW_NS_NEVER || (ds->wake_pending && ds->wake_at <= at)) {
        return;
    }
    at = tw_ns_max(at, w->sim.now);
    ds->wake_pending = true;
    ds->wake_at = at;
    int rc = tw_sim_schedule(&w->sim, at, TW_WORLD_EV_LINK, 0, d);
    TW_ASSERT(rc == 0); /* the event queue is sized for every direction */
}

/* Records the drops the link counted since last looked at. */
static void link_note_drops(tw_world *w, uint32_t d)
{
    dir_state *ds = &w->dirs[d];
    const tw_link_stats *st = tw_link_get_stats(&ds->link);
    if (st->dropped == ds->seen_total) {
        return; /* called twice per frame; drops are rare */
    }
    ds->seen_total = st->dropped;
    for (uint32_t r = 0; r < TW_LINK_DROP_COUNT; r++) {
        while (ds->seen[r] < st->drops[r]) {
            ds->seen[r]++;
            tw_sim_note_drop(&w->sim, (tw_sim_drop)(TW_SIM_DROP_LINK_QUEUE_BYTES + r), d, 0);
        }
    }
}

static void link_send(tw_world *w, uint32_t d, uint32_t sender, const uint8_t *frame, size_t len)
{
    dir_state *ds = &w->dirs[d];
    if (tw_link_enqueue(&ds->link, w->sim.now, frame, len, sender) == 0 && ds->tap &&
        w->cfg.taps.link) {
        w->cfg.taps.link(w->cfg.taps.ctx, w->sim.now, d / 2, d % 2, frame, len);
    }
    link_note_drops(w, d);
    link_schedule(w, d);
}

static bool cut(const tw_world *w, uint32_t sender, uint32_t receiver)
{
    if (w->active_parts == 0) {
        return false;
    }
    for (uint32_t i = 0; i < w->nparts; i++) {
        const partition *p = &w->parts[i];
        if (!p->active) {
            continue;
        }
        if (tw_bit_test(p->a, sender) && tw_bit_test(p->b, receiver)) {
            return true;
        }
        if (!p->one_way && tw_bit_test(p->b, sender) && tw_bit_test(p->a, receiver)) {
            return true;
        }
    }
    return false;
}

/* ---- NIC receive ---------------------------------------------------------- */

/* Copies the frame into a NIC buffer on core `local`'s RX ring for iface:
 * false when the ring or the buffers are full (counted). */
static bool rx_enqueue(tw_world *w, host_node *h, uint32_t iface, uint32_t local,
                       const uint8_t *frame, size_t len)
{
    uint32_t core = h->first_core + local;
    tw_ring *r = &h->rx[iface * h->cfg.cores + local];
    if (tw_ring_full(r)) {
        r->overflows++;
        h->stats.drops++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_NIC_RX_RING, core, (uint32_t)len);
        return false;
    }
    uint32_t b = buf_take(w);
    if (b == NONE) {
        h->stats.drops++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_NIC_BUFFERS, core, (uint32_t)len);
        return false;
    }
    memcpy(buf_data(w, b), frame, len);
    w->buf_meta[b] =
        (buf_meta){.stamp = tw_sim_stamp(&w->sim), .len = (uint32_t)len, .iface = iface};
    int rc = tw_ring_push(r, &b);
    TW_ASSERT(rc == 0);
    w->cores[core].rx_queued++;
    h->stats.rx_copies++;
    return true;
}

static void rx_push(tw_world *w, host_node *h, uint32_t iface, uint32_t local, const uint8_t *frame,
                    size_t len)
{
    uint32_t core = h->first_core + local;
    if (tw_ring_empty(&h->rx[iface * h->cfg.cores + local]) &&
        tw_sim_frame_direct(&w->sim, core, iface, frame, (uint32_t)len)) {
        h->stats.rx_copies++; /* delivered to the core, from the link's buffer */
        return;
    }
    if (rx_enqueue(w, h, iface, local, frame, len)) {
        tw_sim_wake(&w->sim, core, w->sim.now);
    }
}

static bool is_arp_reply(const uint8_t *frame, size_t len)
{
    if (len < TW_ETH_HEADER_LEN + 8 || tw_eth_has_vlan(frame) ||
        tw_eth_ethertype(frame) != TW_ETHERTYPE_ARP) {
        return false;
    }
    /* The operation field of the ARP header (RFC 826), after htype, ptype,
     * hlen and plen. */
    const uint8_t *arp = frame + TW_ETH_HEADER_LEN;
    return ((uint32_t)arp[6] << 8 | arp[7]) == TW_ARP_OP_REPLY;
}

static void nic_rx(tw_world *w, uint32_t d, uint32_t hid, uint32_t iface, uint32_t sender,
                   const uint8_t *frame, size_t len)
{
    host_node *h = &w->hosts[hid];
    h->stats.rx_frames++;
    if (!h->up) {
        h->stats.drops++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_HOST_DOWN, h->first_core, (uint32_t)len);
        return;
    }
    if (cut(w, sender, hid)) {
        h->stats.drops++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_PARTITION, d, (uint32_t)len);
        return;
    }
    if ((h->tap_mask & (1u << iface)) && w->cfg.taps.nic) {
        w->cfg.taps.nic(w->cfg.taps.ctx, w->sim.now, hid, iface, frame, len);
    }
    if (is_arp_reply(frame, len)) {
        for (uint32_t c = 0; c < h->cfg.cores; c++) {
            rx_push(w, h, iface, c, frame, len);
        }
        return;
    }
    if (h->cfg.cores == 1) {
        rx_push(w, h, iface, 0, frame, len); /* nothing to steer: skip the hash */
        return;
    }
    /* Frames that are not IPv4 hash to 0, which the table maps to core 0. */
    uint32_t hash = tw_stack_flow_hash(h->rss, frame, len);
    rx_push(w, h, iface, h->indir[hash & (TW_RSS_INDIR_LEN - 1)], frame, len);
}

/* ---- switches ----------------------------------------------------------- */

static uint32_t mac_slot(const switch_node *s, tw_mac m)
{
    uint64_t v = 0;
    memcpy(&v, m.b, TW_MAC_LEN);
    return (uint32_t)tw_mix64(v) & s->table_mask;
}

static bool mac_live(const switch_node *s, const mac_entry *e, tw_ns now)
{
    return e->valid && now - e->seen < s->cfg.mac_ageing_ns;
}

static uint32_t mac_lookup(const switch_node *s, tw_mac m, tw_ns now)
{
    uint32_t first = mac_slot(s, m);
    for (uint32_t i = 0; i < MAC_WAYS; i++) {
        const mac_entry *e = &s->table[(first + i) & s->table_mask];
        if (mac_live(s, e, now) && tw_mac_equal(e->mac, m)) {
            return e->port;
        }
    }
    return NONE;
}

static void mac_learn(switch_node *s, tw_mac m, uint32_t port, tw_ns now)
{
    uint32_t first = mac_slot(s, m);
    mac_entry *free_slot = NULL;
    for (uint32_t i = 0; i < MAC_WAYS; i++) {
        mac_entry *e = &s->table[(first + i) & s->table_mask];
        if (mac_live(s, e, now) && tw_mac_equal(e->mac, m)) {
            if (e->port != port) {
                s->stats.moved++;
                e->port = port;
            }
            e->seen = now;
            return;
        }
        if (free_slot == NULL && !mac_live(s, e, now)) {
            free_slot = e;
        }
    }
    if (free_slot == NULL) {
        s->stats.table_full++;
        return;
    }
    *free_slot = (mac_entry){.mac = m, .valid = 1, .port = port, .seen = now};
    s->stats.learned++;
}

static void switch_egress(tw_world *w, switch_node *s, uint32_t port, uint32_t sender,
                          const uint8_t *frame, size_t len)
{
    uint32_t d = s->dir_out[port];
    TW_ASSERT(d != NONE);
    dir_state *ds = &w->dirs[d];
    if (ds->to.kind == TW_WORLD_HOST && cut(w, sender, ds->to.node)) {
        s->stats.partition_drops++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_PARTITION, d, (uint32_t)len);
        return;
    }
    if (s->cfg.port_queue_packets &&
        tw_link_get_stats(&ds->link)->queue_packets >= s->cfg.port_queue_packets) {
        s->stats.queue_drops++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_SWITCH_QUEUE, s->id << 16 | port, (uint32_t)len);
        return;
    }
    s->stats.copies++;
    link_send(w, d, sender, frame, len);
}

static void switch_rx(tw_world *w, uint32_t sid, uint32_t in_port, uint32_t sender,
                      const uint8_t *frame, size_t len)
{
    switch_node *s = &w->switches[sid];
    tw_ns now = w->sim.now;
    s->stats.frames_in++;
    if (len < TW_ETH_HEADER_LEN) {
        /* A runt: a switch cannot even read its addresses. */
        s->stats.filtered++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_SWITCH_FILTER, sid << 16 | in_port, (uint32_t)len);
        return;
    }
    tw_mac src = tw_eth_src(frame);
    tw_mac dst = tw_eth_dst(frame);
    if (!tw_mac_is_multicast(src)) {
        mac_learn(s, src, in_port, now);
    }
    uint32_t out = tw_mac_is_multicast(dst) ? NONE : mac_lookup(s, dst, now);
    if (out == in_port) {
        s->stats.filtered++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_SWITCH_FILTER, sid << 16 | in_port, (uint32_t)len);
        return;
    }
    if (out != NONE && s->dir_out[out] != NONE) {
        s->stats.forwarded++;
        switch_egress(w, s, out, sender, frame, len);
        return;
    }
    s->stats.flooded++;
    for (uint32_t p = 0; p < s->cfg.ports; p++) {
        if (p != in_port && s->dir_out[p] != NONE) {
            switch_egress(w, s, p, sender, frame, len);
        }
    }
}

/* ---- events ------------------------------------------------------------- */

static bool on_link(tw_world *w, const tw_event *ev, tw_sim_record *rec)
{
    uint32_t d = ev->arg;
    TW_ASSERT(d < 2 * w->nlinks);
    dir_state *ds = &w->dirs[d];
    if (!ds->wake_pending || ds->wake_at != ev->time) {
        return false;
    }
    ds->wake_pending = false;
    ds->wake_at = TW_NS_NEVER;
    rec->place = d;
    tw_link_frame f;
    while (tw_link_pop(&ds->link, w->sim.now, &f)) {
        rec->outputs++;
        rec->len += f.len;
        tw_sim_fold(&w->sim, (uint64_t)f.len << 32 | (uint64_t)f.flags << 24 | (f.tag & 0xffffff));
        if (ds->to.kind == TW_WORLD_HOST) {
            nic_rx(w, d, ds->to.node, ds->to.port, (uint32_t)f.tag, f.data, f.len);
        } else {
            switch_rx(w, ds->to.node, ds->to.port, (uint32_t)f.tag, f.data, f.len);
        }
    }
    link_note_drops(w, d);
    link_schedule(w, d);
    return true;
}

static bool on_tx(tw_world *w, const tw_event *ev, tw_sim_record *rec)
{
    uint32_t core = ev->arg;
    TW_ASSERT(core < w->ncores);
    core_map *cm = &w->cores[core];
    host_node *h = &w->hosts[cm->host];
    if (!h->up || (h->incarnation & 0xffffu) != ev->target) {
        return false; /* the ring went with a crash */
    }
    uint32_t b;
    bool popped = tw_ring_pop(&cm->tx, &b);
    TW_ASSERT(popped);
    const buf_meta *m = &w->buf_meta[b];
    uint32_t d = h->dir_out[m->iface];
    TW_ASSERT(d != NONE); /* frame_out dropped those */
    rec->place = d;
    rec->len = m->len;
    h->stats.tx_frames++;
    link_send(w, d, h->id, buf_data(w, b), m->len);
    buf_put(w, b);
    return true;
}

void tw_world_note_msg(tw_msg *m, tw_world_note_kind kind, uint32_t host, uint32_t first_worker,
                       uint32_t cores)
{
    tw_world_note note = {.kind = kind, .host = host, .first_worker = first_worker, .cores = cores};
    memset(m, 0, sizeof(*m));
    m->mode = TW_MSG_DIRECT;
    m->type = TW_MSG_WORLD;
    m->source = TW_ADDR_CONTROLLER;
    m->target = TW_ADDR_CONTROLLER;
    m->len = sizeof(note);
    memcpy(m->data, &note, sizeof(note));
}

static void note_controller(tw_world *w, const host_node *h, tw_world_note_kind kind)
{
    tw_msg m;
    tw_world_note_msg(&m, kind, h->id, h->first_core, h->cfg.cores);
    /* Refused only when the in-flight pool is full, which is counted. */
    (void)tw_sim_inject(&w->sim, w->ncores, w->sim.now, &m);
}

static void drain_ring(tw_world *w, host_node *h, tw_ring *r, uint32_t core)
{
    uint32_t b;
    while (tw_ring_pop(r, &b)) {
        h->stats.drops++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_HOST_DOWN, core, w->buf_meta[b].len);
        buf_put(w, b);
    }
}

/* Everything of the host goes: what waits at its cores and NICs (dropped,
 * host_down), its workers with their tasks, its stacks. */
static void host_stop(tw_world *w, host_node *h)
{
    TW_ASSERT(h->up);
    h->up = false;
    h->incarnation++;
    for (uint32_t c = 0; c < h->cfg.cores; c++) {
        uint32_t core = h->first_core + c;
        tw_sim_core_down(&w->sim, core);
        for (uint32_t i = 0; i < h->cfg.ifaces; i++) {
            drain_ring(w, h, &h->rx[i * h->cfg.cores + c], core);
        }
        w->cores[core].rx_queued = 0;
        drain_ring(w, h, &w->cores[core].tx, core);
        tw_worker_free(tw_sim_worker(&w->sim, core));
        tw_stack_destroy(h->stacks[c]);
        h->stacks[c] = NULL;
    }
}

static void host_crash(tw_world *w, host_node *h)
{
    if (!h->up) {
        return;
    }
    host_stop(w, h);
    h->stats.crashes++;
    note_controller(w, h, TW_WORLD_NOTE_CRASHED);
}

static void host_restart(tw_world *w, host_node *h)
{
    if (h->up) {
        return;
    }
    /* The one allocation inside a run (see base/mem.h): a host comes back
     * with everything fresh, as a rebooted machine would. */
    bool sealed = tw_mem_sealed();
    tw_mem_unseal();
    for (uint32_t c = 0; c < h->cfg.cores; c++) {
        uint32_t core = h->first_core + c;
        h->stacks[c] = stack_build(w, h, c, w->sim.now);
        tw_worker_config wc = {.id = core};
        host_worker_config(w, core, &wc);
        tw_worker_init(tw_sim_worker(&w->sim, core), &wc, w->sim.now);
    }
    if (sealed) {
        tw_mem_seal();
    }
    h->up = true;
    h->stats.restarts++;
    for (uint32_t c = 0; c < h->cfg.cores; c++) {
        tw_sim_core_up(&w->sim, h->first_core + c);
    }
    note_controller(w, h, TW_WORLD_NOTE_RESTARTED);
}

static void schedule_next_fault(tw_world *w)
{
    if (w->next_fault < w->nfaults) {
        tw_ns at = tw_ns_max(w->faults[w->next_fault].at, w->sim.now);
        int rc = tw_sim_schedule(&w->sim, at, TW_WORLD_EV_FAULT, 0, w->next_fault);
        TW_ASSERT(rc == 0);
    }
}

static void fault_links(tw_world *w, const tw_world_fault *f)
{
    for (uint32_t dir = 0; dir < 2; dir++) {
        if (!(f->dirs & (1u << dir))) {
            continue;
        }
        uint32_t d = 2 * f->target + dir;
        tw_link *l = &w->dirs[d].link;
        if (f->kind == TW_WORLD_FAULT_CLOG) {
            tw_link_clog(l, w->sim.now, tw_ns_add(w->sim.now, f->duration));
        } else {
            tw_link_set_up(l, w->sim.now, f->kind == TW_WORLD_FAULT_LINK_UP);
        }
        link_note_drops(w, d);
        link_schedule(w, d);
    }
}

static bool on_fault(tw_world *w, const tw_event *ev, tw_sim_record *rec)
{
    TW_ASSERT(ev->arg == w->next_fault);
    const tw_world_fault *f = &w->faults[w->next_fault++];
    rec->work = f->kind;
    rec->place = f->target;
    switch (f->kind) {
    case TW_WORLD_FAULT_PARTITION:
    case TW_WORLD_FAULT_HEAL: {
        partition *p = &w->parts[f->target];
        bool on = f->kind == TW_WORLD_FAULT_PARTITION;
        if (p->active != on) {
            p->active = on;
            w->active_parts += on ? 1 : (uint32_t)-1;
        }
        break;
    }
    case TW_WORLD_FAULT_LINK_DOWN:
    case TW_WORLD_FAULT_LINK_UP:
    case TW_WORLD_FAULT_CLOG:
        fault_links(w, f);
        break;
    case TW_WORLD_FAULT_CRASH:
        host_crash(w, &w->hosts[f->target]);
        break;
    case TW_WORLD_FAULT_RESTART:
        host_restart(w, &w->hosts[f->target]);
        break;
    case TW_WORLD_FAULT_STALL: {
        const host_node *h = &w->hosts[f->target];
        tw_sim_core_stall(&w->sim, h->first_core + f->core, tw_ns_add(w->sim.now, f->duration));
        break;
    }
    default:
        TW_UNREACHABLE();
    }
    schedule_next_fault(w);
    return true;
}

static bool ext_on_event(void *ctx, const tw_event *ev, tw_sim_record *rec)
{
    tw_world *w = ctx;
    switch (ev->kind) {
    case TW_WORLD_EV_LINK:
        return on_link(w, ev, rec);
    case TW_WORLD_EV_TX:
        return on_tx(w, ev, rec);
    case TW_WORLD_EV_FAULT:
        return on_fault(w, ev, rec);
    default:
        TW_UNREACHABLE();
    }
}

/* ---- cores: frames in and out ------------------------------------------- */

static bool ext_frame_peek(void *ctx, uint32_t core, tw_sim_frame *f)
{
    tw_world *w = ctx;
    const core_map *cm = &w->cores[core];
    if (cm->rx_queued == 0) {
        return false; /* a plain worker's is always 0 */
    }
    TW_ASSERT(cm->host != NONE);
    const host_node *h = &w->hosts[cm->host];
    uint32_t best = NONE;
    for (uint32_t i = 0; i < h->cfg.ifaces; i++) {
        const uint32_t *b = tw_ring_peek(&h->rx[i * h->cfg.cores + cm->local]);
        if (b != NULL && (best == NONE || w->buf_meta[*b].stamp < w->buf_meta[best].stamp)) {
            best = *b;
        }
    }
    if (best == NONE) {
        return false;
    }
    const buf_meta *m = &w->buf_meta[best];
    *f = (tw_sim_frame){
        .stamp = m->stamp, .iface = m->iface, .len = m->len, .data = buf_data(w, best)};
    return true;
}

static void ext_frame_taken(void *ctx, uint32_t core, uint32_t iface)
{
    tw_world *w = ctx;
    core_map *cm = &w->cores[core];
    host_node *h = &w->hosts[cm->host];
    uint32_t b;
    bool popped = tw_ring_pop(&h->rx[iface * h->cfg.cores + cm->local], &b);
    TW_ASSERT(popped);
    TW_ASSERT(cm->rx_queued > 0);
    cm->rx_queued--;
    buf_put(w, b);
}

static void ext_frame_out(void *ctx, uint32_t core, tw_ns depart, uint32_t iface,
                          const uint8_t *frame, size_t len)
{
    tw_world *w = ctx;
    core_map *cm = &w->cores[core];
    TW_ASSERT(cm->host != NONE);
    host_node *h = &w->hosts[cm->host];
    TW_ASSERT(iface < h->cfg.ifaces);
    TW_ASSERT(len <= w->frame_max);
    if (h->dir_out[iface] == NONE) {
        h->stats.drops++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_NO_LINK, core, (uint32_t)len);
        return;
    }
    if (tw_ring_full(&cm->tx)) {
        cm->tx.overflows++;
        h->stats.drops++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_NIC_TX_RING, core, (uint32_t)len);
        return;
    }
    uint32_t b = buf_take(w);
    if (b == NONE) {
        h->stats.drops++;
        tw_sim_note_drop(&w->sim, TW_SIM_DROP_NIC_BUFFERS, core, (uint32_t)len);
        return;
    }
    memcpy(buf_data(w, b), frame, len);
    w->buf_meta[b] = (buf_meta){.len = (uint32_t)len, .iface = iface};
    int rc = tw_ring_push(&cm->tx, &b);
    TW_ASSERT(rc == 0);
    rc = tw_sim_schedule(&w->sim, depart, TW_WORLD_EV_TX, (uint16_t)h->incarnation, core);
    TW_ASSERT(rc == 0); /* the event queue has room for every transmit ring */
}

/* A core hands a frame to another core of its host (a datagram it
 * reassembled for a flow the other core owns): it enters that core's RX
 * ring on iface as a received frame, not steered again, and wakes it at
 * `depart`; the target core pays for it as for any frame it takes. */
static void ext_frame_steer(void *ctx, uint32_t core, tw_ns depart, uint32_t to, uint32_t iface,
                            const uint8_t *frame, size_t len)
{
    tw_world *w = ctx;
    const core_map *cm = &w->cores[core];
    TW_ASSERT(cm->host != NONE);
    host_node *h = &w->hosts[cm->host];
    TW_ASSERT(to < h->cfg.cores && to != cm->local); /* the stack knows its host */
    TW_ASSERT(iface < h->cfg.ifaces);
    TW_ASSERT(len <= w->frame_max);
    h->stats.handoffs++;
    tw_sim_fold(&w->sim, (uint64_t)len << 32 | (uint64_t)to << 16 | iface);
    if (rx_enqueue(w, h, iface, to, frame, len)) {
        tw_sim_wake(&w->sim, h->first_core + to, depart);
    }
}

/* ---- start -------------------------------------------------------------- */

/* Sorts faults by time, keeping the order of addition among equals (an
 * insertion sort: stable, and a timeline is short). */
static void sort_faults(tw_world *w)
{
    for (uint32_t i = 1; i < w->nfaults; i++) {
        tw_world_fault f = w->faults[i];
        uint32_t j = i;
        while (j > 0 && w->faults[j - 1].at > f.at) {
            w->faults[j] = w->faults[j - 1];
            j--;
        }
        w->faults[j] = f;
    }
}

static uint32_t frame_max_of(const tw_world *w)
{
    uint32_t m = TW_ETH_VLAN_HEADER_LEN + TW_IFACE_MTU_DEFAULT;
    for (uint32_t d = 0; d < 2 * w->nlinks; d++) {
        uint32_t l = w->dirs[d].link.frame_max;
        m = l > m ? l : m;
    }
    for (uint32_t i = 0; i < w->nhosts; i++) {
        uint32_t s = (uint32_t)w->hosts[i].cfg.stack.mtu_max + FRAME_HEADROOM;
        m = s > m ? s : m;
    }
    return m;
}

int tw_world_start(tw_world *w)
{
    if (w->started) {
        return -TW_ESTATE;
    }
    uint64_t total = w->cfg.sim.cores;
    uint64_t host_cores = 0, tx_slots = 0;
    for (uint32_t i = 0; i < w->nhosts; i++) {
        host_cores += w->hosts[i].cfg.cores;
        tx_slots += (uint64_t)w->hosts[i].cfg.cores * w->hosts[i].cfg.tx_ring;
        if (host_check(&w->hosts[i]) < 0) {
            return -TW_EINVAL;
        }
    }
    total += host_cores;
    if (total == 0 || total >= TW_ENDPOINTS_MAX) {
        return -TW_EINVAL;
    }
    w->started = true;
    w->plain_cores = w->cfg.sim.cores;
    w->ncores = (uint32_t)total;
    w->cores = tw_mem_calloc(w->ncores, sizeof(core_map));
    for (uint32_t c = 0; c < w->plain_cores; c++) {
        w->cores[c].host = NONE;
    }

    tw_rss_init(&w->rss, w->cfg.rss_key, w->cfg.rss_key_len);
    w->frame_max = frame_max_of(w);
    w->nbufs = w->cfg.nic_buffers ? w->cfg.nic_buffers : (uint32_t)(256 + 32 * host_cores);
    w->buf_data = tw_mem_calloc(w->nbufs, w->frame_max);
    w->buf_meta = tw_mem_calloc(w->nbufs, sizeof(buf_meta));
    w->buf_free = tw_mem_calloc(w->nbufs, sizeof(uint32_t));
    for (uint32_t b = 0; b < w->nbufs; b++) {
        w->buf_free[b] = w->nbufs - 1 - b;
    }
    w->buf_free_len = w->nbufs;

    uint32_t next = w->plain_cores;
    for (uint32_t i = 0; i < w->nhosts; i++) {
        host_node *h = &w->hosts[i];
        uint32_t n = h->cfg.cores;
        h->first_core = next;
        h->stacks = tw_mem_calloc(n, sizeof(tw_stack *));
        h->rx = tw_mem_calloc((size_t)(h->cfg.ifaces ? h->cfg.ifaces : 1) * n, sizeof(tw_ring));
        for (uint32_t r = 0; r < h->cfg.ifaces * n; r++) {
            tw_ring_init(&h->rx[r], h->cfg.rx_ring, sizeof(uint32_t));
        }
        /* Linux's default table: entry i -> queue i % cores. */
        for (uint32_t e = 0; e < TW_RSS_INDIR_LEN; e++) {
            h->indir[e] = (uint16_t)(e % n);
        }
        h->rss = tw_mem_calloc(1, sizeof(tw_rss));
        if (w->cfg.rss_key) {
            *h->rss = w->rss;
            tw_rss_indir_spread(h->rss, (uint16_t)n);
        } else {
            tw_world_host_rss(h->rss, w->cfg.sim.seed, i, n);
        }
        for (uint32_t c = 0; c < n; c++) {
            core_map *cm = &w->cores[next + c];
            cm->host = i;
            cm->local = c;
            tw_ring_init(&cm->tx, h->cfg.tx_ring, sizeof(uint32_t));
            h->stacks[c] = stack_build(w, h, c, 0);
        }
        next += n;
    }

    tw_sim_config sc = w->cfg.sim;
    sc.cores = w->ncores;
    /* At least room for what can be pending at once: a message per
     * in-flight slot, a transmit event per frame a ring can hold, a few
     * wakes per core and per link direction (some stale), and the fault
     * chain. */
    uint64_t need =
        (uint64_t)sc.inflight_max + tx_slots + 4ull * (w->ncores + 1) + 8ull * w->nlinks + 1;
    TW_ASSERT(need < UINT32_MAX);
    sc.event_capacity = tw_ns_max(sc.event_capacity, need) > UINT32_MAX
                            ? UINT32_MAX
                            : (uint32_t)tw_ns_max(sc.event_capacity, need);
    if (sc.controller.program == NULL) {
        sc.controller.program = &w->idle_program;
    }
    w->ext = (tw_sim_ext){
        .ctx = w,
        .worker_config = ext_worker_config,
        .frame_peek = ext_frame_peek,
        .frame_taken = ext_frame_taken,
        .frame_out = ext_frame_out,
        .frame_steer = ext_frame_steer,
        .on_event = ext_on_event,
    };
    sc.ext = &w->ext;
    tw_sim_init(&w->sim, &sc);
    for (uint32_t i = 0; i < w->nhosts; i++) {
        if (w->hosts[i].cfg.start_down) {
            host_stop(w, &w->hosts[i]); /* powered off until a RESTART boots it */
        }
    }
    /* Every stack announced its addresses when its interfaces came up. */
    for (uint32_t c = w->plain_cores; c < w->ncores; c++) {
        tw_sim_core_flush(&w->sim, c);
    }
    sort_faults(w);
    schedule_next_fault(w);
    return 0;
}

void tw_world_destroy(tw_world *w)
{
    if (w->started) {
        tw_sim_free(&w->sim);
    }
    for (uint32_t i = 0; i < w->nhosts; i++) {
        host_node *h = &w->hosts[i];
        for (uint32_t c = 0; h->stacks && c < h->cfg.cores; c++) {
            if (h->stacks[c]) {
                tw_stack_destroy(h->stacks[c]);
            }
        }
        for (uint32_t r = 0; h->rx && r < h->cfg.ifaces * h->cfg.cores; r++) {
            tw_ring_free(&h->rx[r]);
        }
        tw_mem_free(h->rx);
        tw_mem_free(h->stacks);
        tw_mem_free(h->rss);
    }
    for (uint32_t c = 0; w->cores && c < w->ncores; c++) {
        tw_ring_free(&w->cores[c].tx);
    }
    for (uint32_t s = 0; s < w->nswitches; s++) {
        tw_mem_free(w->switches[s].dir_out);
        tw_mem_free(w->switches[s].table);
    }
    for (uint32_t d = 0; d < 2 * w->nlinks; d++) {
        tw_link_free(&w->dirs[d].link);
    }
    for (uint32_t p = 0; p < w->nparts; p++) {
        tw_mem_free(w->parts[p].a);
        tw_mem_free(w->parts[p].b);
    }
    tw_mem_free(w->buf_data);
    tw_mem_free(w->buf_meta);
    tw_mem_free(w->buf_free);
    tw_mem_free(w->cores);
    tw_mem_free(w->faults);
    tw_mem_free(w->parts);
    tw_mem_free(w->dirs);
    tw_mem_free(w->links);
    tw_mem_free(w->switches);
    tw_mem_free(w->hosts);
    tw_mem_free(w);
}

/* ---- running and observation ------------------------------------------ */

void tw_world_run_until(tw_world *w, tw_ns until)
{
    TW_ASSERT(w->started);
    tw_sim_run_until(&w->sim, until);
}

uint32_t tw_world_host_core(const tw_world *w, uint32_t host_id, uint32_t core)
{
    TW_ASSERT(w->started);
    TW_ASSERT(host_id < w->nhosts);
    TW_ASSERT(core < w->hosts[host_id].cfg.cores);
    return w->hosts[host_id].first_core + core;
}

int64_t tw_world_spawn(tw_world *w, uint32_t worker, uint32_t type, uint32_t group,
                       const void *args, uint32_t args_len)
{
    TW_ASSERT(w->started);
    int64_t rc = tw_controller_spawn(&w->sim.controller, type, group, worker, args, args_len);
    if (rc > 0) {
        tw_sim_core_flush(&w->sim, w->ncores);
    }
    return rc;
}

int64_t tw_world_kill(tw_world *w, tw_addr task)
{
    TW_ASSERT(w->started);
    int64_t rc = tw_controller_kill(&w->sim.controller, task);
    if (rc > 0) {
        tw_sim_core_flush(&w->sim, w->ncores);
    }
    return rc;
}

int tw_world_ping(tw_world *w, uint32_t host_id, uint32_t core, tw_ipv4_addr dst, uint16_t id,
                  uint16_t seq, size_t len)
{
    TW_ASSERT(w->started);
    TW_ASSERT(host_id < w->nhosts);
    host_node *h = &w->hosts[host_id];
    TW_ASSERT(core < h->cfg.cores);
    if (!h->up) {
        return -TW_ESTATE;
    }
    uint8_t data[1024];
    if (len > sizeof(data)) {
        return -TW_ETOOBIG;
    }
    for (size_t i = 0; i < len; i++) {
        data[i] = (uint8_t)i;
    }
    int rc = tw_stack_ping(h->stacks[core], w->sim.now, dst, id, seq, data, len);
    tw_sim_core_flush(&w->sim, h->first_core + core);
    return rc;
}

tw_sim *tw_world_sim(tw_world *w)
{
    return &w->sim;
}
tw_ns tw_world_now(const tw_world *w)
{
    return w->sim.now;
}
uint64_t tw_world_trace_hash(const tw_world *w)
{
    return w->sim.trace_hash;
}
uint32_t tw_world_hosts(const tw_world *w)
{
    return w->nhosts;
}
uint32_t tw_world_workers(const tw_world *w)
{
    return w->ncores;
}

uint64_t tw_world_drops(const tw_world *w, tw_sim_drop reason)
{
    TW_ASSERT((unsigned)reason < TW_SIM_DROP_COUNT);
    return w->sim.drops[reason];
}

tw_worker *tw_world_worker(tw_world *w, uint32_t worker)
{
    TW_ASSERT(worker < w->ncores);
    return tw_sim_worker(&w->sim, worker);
}

tw_stack *tw_world_stack(tw_world *w, uint32_t host_id, uint32_t core)
{
    TW_ASSERT(host_id < w->nhosts);
    TW_ASSERT(core < w->hosts[host_id].cfg.cores);
    return w->hosts[host_id].stacks ? w->hosts[host_id].stacks[core] : NULL;
}

bool tw_world_host_up(const tw_world *w, uint32_t host_id)
{
    TW_ASSERT(host_id < w->nhosts);
    return w->hosts[host_id].up;
}

const tw_world_host_stats *tw_world_host_stats_get(const tw_world *w, uint32_t host_id)
{
    TW_ASSERT(host_id < w->nhosts);
    return &w->hosts[host_id].stats;
}

const tw_world_switch_stats *tw_world_switch_stats_get(tw_world *w, uint32_t sid)
{
    TW_ASSERT(sid < w->nswitches);
    switch_node *s = &w->switches[sid];
    uint32_t live = 0;
    for (uint32_t i = 0; i <= s->table_mask; i++) {
        live += mac_live(s, &s->table[i], w->sim.now);
    }
    s->stats.entries = live;
    return &s->stats;
}

const tw_link *tw_world_link(const tw_world *w, uint32_t link, uint32_t dir)
{
    TW_ASSERT(link < w->nlinks);
    TW_ASSERT(dir < 2);
    return &w->dirs[2 * link + dir].link;
}

const tw_ring *tw_world_rx_ring(const tw_world *w, uint32_t host_id, uint32_t iface, uint32_t core)
{
    TW_ASSERT(host_id < w->nhosts);
    const host_node *h = &w->hosts[host_id];
    TW_ASSERT(iface < h->cfg.ifaces);
    TW_ASSERT(core < h->cfg.cores);
    return &h->rx[iface * h->cfg.cores + core];
}
