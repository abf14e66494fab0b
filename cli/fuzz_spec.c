/* Fuzz specs: drawn from a seed, rendered as a scenario file, reduced one
 * step at a time by the shrinker (cmd_fuzz.c). Everything here is a pure
 * function of its arguments, so a seed draws the same file byte for byte
 * on every machine. */
#include "cli/fuzz_spec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/rng.h"

#define FZ_STREAM 0x66757a7aull /* "fuzz": the rng stream of the spec's draws */
#define CLIENT_START TW_MS(100)
#define DRAIN TW_SEC(120) /* past the reassembly timeout (30 s) after a slow bulk ends */
/* How long a neighbour entry lives (core/net/stack.c's entry_ttl_ns): a
 * corrupted ARP answer (links flip bits past any frame check, as netem
 * does) poisons an entry that long, like a fault that heals only then. */
#define ARP_TTL TW_SEC(60)
/* Long enough that an idle receiver outlasts any fault (a twelfth of the
 * traffic) and the sender's backoff after it; short against the drain. */
#define KEEPALIVE "{idle: 10s, interval: 2s, probes: 3}"

/* ---- names and topology ------------------------------------------------- */

const char *fz_host_name(uint32_t id, char *buf, size_t len)
{
    if (id == 0) {
        snprintf(buf, len, "server");
    } else if (id >= FZ_ROUTER_ID0) {
        snprintf(buf, len, "r%u", id - FZ_ROUTER_ID0);
    } else {
        snprintf(buf, len, "c%u", id);
    }
    return buf;
}

static uint32_t routers(const fz_spec *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->host_count; i++) {
        n += s->hosts[i].id >= FZ_ROUTER_ID0;
    }
    return n;
}

static uint32_t clients(const fz_spec *s)
{
    return s->host_count - 1 - routers(s);
}

static int host_index(const fz_spec *s, uint32_t id)
{
    for (uint32_t i = 0; i < s->host_count; i++) {
        if (s->hosts[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

/* A link's name: on a switch each host's own link is named after the
 * host's id (l0 the server's), elsewhere links are numbered along the path
 * from c1. */
static uint32_t link_id(const fz_spec *s, uint32_t i)
{
    return s->topo == FZ_TOPO_SWITCH ? s->hosts[i].id : i;
}

static int link_index(const fz_spec *s, uint32_t id)
{
    for (uint32_t i = 0; i < s->link_count; i++) {
        if (link_id(s, i) == id) {
            return (int)i;
        }
    }
    return -1;
}

/* ---- drawing ------------------------------------------------------------ */

static uint64_t pick(tw_rng *r, uint64_t lo, uint64_t hi)
{
    return tw_rng_range(r, lo, hi);
}

/* True with probability 1/n. */
static bool one_in(tw_rng *r, uint64_t n)
{
    return tw_rng_below(r, n) == 0;
}

static void draw_link(tw_rng *r, fz_link *l)
{
    memset(l, 0, sizeof(*l));
    l->bandwidth_bps = one_in(r, 4) ? 0 : pick(r, 1, 1000) * 1000000ull;
    l->delay_ns = one_in(r, 4) ? 0 : TW_US(pick(r, 1, 20000));
    l->jitter_ns = one_in(r, 3) ? TW_US(pick(r, 1, 2000)) : 0;
    l->loss_ppm = one_in(r, 2) ? (uint32_t)pick(r, 1, 30000) : 0;
    l->dup_ppm = one_in(r, 4) ? (uint32_t)pick(r, 1, 10000) : 0;
    if (one_in(r, 4)) {
        l->reorder_ppm = (uint32_t)pick(r, 1, 20000);
        l->reorder_delay_ns = TW_US(pick(r, 100, 5000));
    }
    l->corrupt_ppm = one_in(r, 4) ? (uint32_t)pick(r, 1, 5000) : 0;
    l->queue_packets = one_in(r, 4) ? (uint32_t)pick(r, 8, 256) : 0;
    l->codel = one_in(r, 4);
}

static void draw_tcp(tw_rng *r, fz_tcp *t)
{
    memset(t, 0, sizeof(*t));
    t->delack_ms = -1;
    t->msl_ms = (uint32_t)pick(r, 100, 1000);
    if (one_in(r, 2)) {
        t->mss = (uint32_t)pick(r, 200, 1460);
    }
    if (one_in(r, 2)) {
        t->snd_buf = (uint32_t)pick(r, 4, 512) * 1024;
    }
    if (one_in(r, 2)) {
        t->rcv_buf = (uint32_t)pick(r, 4, 512) * 1024;
    }
    t->nagle = (uint8_t)tw_rng_below(r, 3);
    if (one_in(r, 2)) {
        t->delack_ms = one_in(r, 3) ? 0 : (int32_t)pick(r, 1, 200);
    }
    if (one_in(r, 2)) {
        t->rto_min_ms = (uint32_t)pick(r, 10, 1000);
    }
}

static void draw_work(tw_rng *r, const fz_spec *s, uint32_t id, fz_work *w)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->kind = (fz_kind)tw_rng_below(r, FZ_KIND_COUNT);
    w->client = s->hosts[1 + tw_rng_below(r, clients(s))].id;
    switch (w->kind) {
    case FZ_BULK:
        w->bytes = pick(r, 1, 256) * 1024 + tw_rng_below(r, 1024);
        w->reverse = one_in(r, 4);
        break;
    case FZ_UDP:
        w->rate = (uint32_t)pick(r, 5, 100);
        w->size = (uint32_t)pick(r, 16, 1400);
        break;
    case FZ_TCP:
        w->rate = (uint32_t)pick(r, 5, 50);
        w->conns = (uint32_t)pick(r, 1, 4);
        w->size = (uint32_t)pick(r, 1, 4096);
        break;
    default:
        w->rate = (uint32_t)pick(r, 2, 20);
        w->conns = (uint32_t)pick(r, 1, 3);
        w->size = (uint32_t)pick(r, 512, 32768);
        break;
    }
}

/* Faults start in the first sixth of the traffic and last at most a
 * twelfth of it: everything heals with most of the traffic still to run,
 * which is the window recovery is judged in. */
static void draw_fault(tw_rng *r, const fz_spec *s, fz_fault *f)
{
    memset(f, 0, sizeof(*f));
    f->kind = (fz_fault_kind)tw_rng_below(r, FZ_FAULT_KIND_COUNT);
    f->at_ns = TW_MS(200) + TW_MS(tw_rng_below(r, s->traffic_ns / 6 / TW_MS(1) + 1));
    f->len_ns = TW_MS(pick(r, 10, s->traffic_ns / 12 / TW_MS(1) + 10));
    const fz_host *h = &s->hosts[tw_rng_below(r, s->host_count)];
    switch (f->kind) {
    case FZ_PARTITION: {
        f->a = s->hosts[1 + tw_rng_below(r, clients(s))].id;
        uint32_t b = (uint32_t)tw_rng_below(r, s->host_count);
        f->b = s->hosts[b].id == f->a ? 0 : s->hosts[b].id;
        f->oneway = one_in(r, 2);
        break;
    }
    case FZ_FLAP:
    case FZ_CLOG:
        f->a = link_id(s, (uint32_t)tw_rng_below(r, s->link_count));
        break;
    case FZ_STALL:
        f->core = (uint32_t)tw_rng_below(r, h->cores);
        f->a = h->id;
        break;
    default:
        f->a = h->id;
        break;
    }
}

void fz_spec_draw(fz_spec *s, uint64_t seed, const fz_limits *lim)
{
    TW_ASSERT(lim->max_hosts >= 2);
    TW_ASSERT(lim->traffic_ns >= TW_SEC(1));
    tw_rng r;
    tw_rng_init(&r, seed, FZ_STREAM);
    memset(s, 0, sizeof(*s));
    s->seed = seed;
    s->traffic_ns = lim->traffic_ns;
    s->drain_ns = DRAIN;
    uint32_t max_hosts = lim->max_hosts < FZ_HOSTS_MAX ? lim->max_hosts : FZ_HOSTS_MAX;
    s->topo = max_hosts < 3 ? FZ_TOPO_DIRECT : (fz_topo)tw_rng_below(&r, 3);
    uint32_t nclients = 1, nrouters = 0;
    if (s->topo == FZ_TOPO_SWITCH) {
        uint32_t most = max_hosts - 1 < FZ_CLIENTS_MAX ? max_hosts - 1 : FZ_CLIENTS_MAX;
        nclients = (uint32_t)pick(&r, 1, most);
    } else if (s->topo == FZ_TOPO_CHAIN) {
        nrouters = (uint32_t)pick(&r, 1, max_hosts - 2 < FZ_ROUTERS_MAX ? max_hosts - 2
                                                                         : FZ_ROUTERS_MAX);
    }
    s->host_count = 1 + nclients + nrouters;
    for (uint32_t i = 0; i < s->host_count; i++) {
        fz_host *h = &s->hosts[i];
        h->id = i == 0 ? 0 : i <= nclients ? i : FZ_ROUTER_ID0 + (i - nclients);
        h->cores = one_in(&r, 2) ? 1 : (uint32_t)pick(&r, 2, 4);
        draw_tcp(&r, &h->tcp);
    }
    s->link_count = s->topo == FZ_TOPO_SWITCH ? s->host_count : 1 + nrouters;
    for (uint32_t i = 0; i < s->link_count; i++) {
        draw_link(&r, &s->links[i]);
    }
    /* Between two routers the path may narrow, so routers fragment, also
     * towards multi-core ends: the core that reassembles a datagram hands
     * it to the core of its flow (tw_ipv4_handoff; docs/fuzz.md, "Found"). */
    if (nrouters == 2 && one_in(&r, 2)) {
        s->links[1].mtu = (uint32_t)pick(&r, 576, 1499);
    }
    s->work_count = (uint32_t)pick(&r, 1, 4);
    for (uint32_t i = 0; i < s->work_count; i++) {
        draw_work(&r, s, i + 1, &s->works[i]);
    }
    s->fault_count = one_in(&r, 4) ? 0 : (uint32_t)pick(&r, 1, 4);
    for (uint32_t i = 0; i < s->fault_count; i++) {
        draw_fault(&r, s, &s->faults[i]);
    }
    /* In time order, as the file reads best. */
    for (uint32_t i = 1; i < s->fault_count; i++) {
        for (uint32_t j = i; j > 0 && s->faults[j].at_ns < s->faults[j - 1].at_ns; j--) {
            fz_fault t = s->faults[j];
            s->faults[j] = s->faults[j - 1];
            s->faults[j - 1] = t;
        }
    }
}

/* ---- rendering ------------------------------------------------------------ */

typedef struct out {
    char *buf;
    size_t len;
    size_t n; /* what it needs; may pass len */
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->n < o->len ? o->len - o->n : 0;
    int k = vsnprintf(room ? o->buf + o->n : NULL, room, fmt, ap);
    va_end(ap);
    o->n += k > 0 ? (size_t)k : 0;
}

/* A duration as the file writes it, exactly. */
static const char *dur(tw_ns ns, char *buf, size_t len)
{
    if (ns % TW_MS(1) == 0) {
        snprintf(buf, len, "%" PRIu64 "ms", ns / TW_MS(1));
    } else if (ns % TW_US(1) == 0) {
        snprintf(buf, len, "%" PRIu64 "us", ns / TW_US(1));
    } else {
        snprintf(buf, len, "%" PRIu64 "ns", ns);
    }
    return buf;
}

static const char *pct(uint32_t ppm, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%04u%%", ppm / 10000, ppm % 10000);
    return buf;
}

static tw_ns last_heal(const fz_spec *s)
{
    tw_ns t = 0;
    for (uint32_t i = 0; i < s->fault_count; i++) {
        tw_ns end = s->faults[i].at_ns + s->faults[i].len_ns;
        t = end > t ? end : t;
    }
    return t;
}

static void render_tcp(out *o, const fz_tcp *t)
{
    put(o, "    tcp: {msl: %ums, keepalive: " KEEPALIVE, t->msl_ms);
    if (t->mss) {
        put(o, ", mss: %uB", t->mss);
    }
    if (t->snd_buf) {
        put(o, ", send_buffer: %uB", t->snd_buf);
    }
    if (t->rcv_buf) {
        put(o, ", receive_buffer: %uB", t->rcv_buf);
    }
    if (t->nagle) {
        put(o, ", nagle: %s", t->nagle == 1 ? "true" : "false");
    }
    if (t->delack_ms == 0) {
        put(o, ", delayed_ack: off");
    } else if (t->delack_ms > 0) {
        put(o, ", delayed_ack: %dms", t->delack_ms);
    }
    if (t->rto_min_ms) {
        put(o, ", rto_min: %ums", t->rto_min_ms);
    }
    put(o, "}\n");
}

/* The host's place on the chain: 0 for c1, j for router j, routers + 1
 * for the server. */
static uint32_t chain_pos(const fz_spec *s, uint32_t id)
{
    return id == 0 ? routers(s) + 1 : id >= FZ_ROUTER_ID0 ? id - FZ_ROUTER_ID0 : 0;
}

static void render_addresses(out *o, const fz_spec *s, const fz_host *h)
{
    if (s->topo != FZ_TOPO_CHAIN) {
        put(o, "    address: 10.0.0.%u/24\n", h->id + 1);
        return;
    }
    uint32_t p = chain_pos(s, h->id), k = routers(s);
    if (h->id == 0) {
        put(o, "    address: 10.0.%u.2/24\n    gateway: 10.0.%u.1\n", p, p);
        return;
    }
    if (p == 0) {
        put(o, "    address: 10.0.1.1/24\n    gateway: 10.0.1.2\n");
        return;
    }
    /* Router j: eth0 on the subnet to its left (j), eth1 on the one to its
     * right (j + 1); the narrowed hop's MTU on the interfaces that face it. */
    uint32_t mtu_left = s->links[p - 1].mtu ? s->links[p - 1].mtu : 1500;
    uint32_t mtu_right = s->links[p].mtu ? s->links[p].mtu : 1500;
    put(o, "    router: true\n    interfaces:\n");
    put(o, "      - {name: eth0, address: 10.0.%u.2/24, mtu: %u}\n", p, mtu_left);
    put(o, "      - {name: eth1, address: 10.0.%u.1/24, mtu: %u}\n", p + 1, mtu_right);
    if (p > 1) {
        put(o, "    routes:\n");
        for (uint32_t m = 1; m < p; m++) {
            put(o, "      - {to: 10.0.%u.0/24, via: 10.0.%u.1}\n", m, p);
        }
    }
    if (p < k) {
        put(o, "    gateway: 10.0.%u.2\n", p + 1);
    }
}

/* The apps of host `id`: each workload puts its server side on the server
 * (the sink on the client for a reversed bulk) and its client side on the
 * client. */
static void render_apps(out *o, const fz_spec *s, uint32_t id, tw_ns stop)
{
    char d[32], name[32];
    bool any = false;
    for (uint32_t i = 0; i < s->work_count; i++) {
        const fz_work *w = &s->works[i];
        uint32_t srv = w->kind == FZ_BULK && w->reverse ? w->client : 0;
        uint32_t cli = w->kind == FZ_BULK && w->reverse ? 0 : w->client;
        if (id != srv && id != cli) {
            continue;
        }
        if (!any) {
            put(o, "    apps:\n");
            any = true;
        }
        const char *to = fz_host_name(srv, name, sizeof name);
        dur(stop - CLIENT_START, d, sizeof d);
        switch (w->kind) {
        case FZ_BULK:
            if (id == srv) {
                put(o, "      - {name: sink%u, type: bulk_sink, port: %u}\n", w->id, 5000 + w->id);
            } else {
                put(o,
                    "      - {name: bulk%u, type: bulk_send, to: %s, port: %u, bytes: %" PRIu64
                    "B, verify: true, start: 100ms}\n",
                    w->id, to, 5000 + w->id, w->bytes);
            }
            break;
        case FZ_UDP:
            if (id == srv) {
                put(o, "      - {name: uecho%u, type: udp_echo, port: %u}\n", w->id, 7000 + w->id);
            } else {
                put(o,
                    "      - {name: udp%u, type: udp_client, server: %s, port: %u, rate: %u/s, "
                    "size: %uB, start: 100ms, duration: %s}\n",
                    w->id, to, 7000 + w->id, w->rate, w->size, d);
            }
            break;
        case FZ_TCP:
            if (id == srv) {
                put(o, "      - {name: techo%u, type: tcp_echo, port: %u}\n", w->id, 9000 + w->id);
            } else {
                put(o,
                    "      - {name: tcp%u, type: tcp_client, server: %s, port: %u, rate: %u/s, "
                    "connections: %u, size: %uB, start: 100ms, duration: %s}\n",
                    w->id, to, 9000 + w->id, w->rate, w->conns, w->size, d);
            }
            break;
        default:
            if (id == srv) {
                put(o,
                    "      - {name: web%u, type: http_server, port: %u, pages: 20, page_size: "
                    "%uB}\n",
                    w->id, 8000 + w->id, w->size);
            } else {
                put(o,
                    "      - {name: http%u, type: http_client, server: %s, port: %u, loop: open, "
                    "rate: %u/s, connections: %u, start: 100ms, duration: %s}\n",
                    w->id, to, 8000 + w->id, w->rate, w->conns, d);
            }
            break;
        }
    }
}

static void render_link(out *o, const fz_spec *s, uint32_t i)
{
    const fz_link *l = &s->links[i];
    char a[32], b[32], t[32];
    if (s->topo == FZ_TOPO_SWITCH) {
        fz_host_name(s->hosts[i].id, a, sizeof a);
        snprintf(b, sizeof b, "sw");
    } else if (s->topo == FZ_TOPO_DIRECT) {
        snprintf(a, sizeof a, "c1");
        snprintf(b, sizeof b, "server");
    } else {
        uint32_t k = routers(s);
        if (i == 0) {
            snprintf(a, sizeof a, "c1");
        } else {
            snprintf(a, sizeof a, "r%u.eth1", i);
        }
        if (i == k) {
            snprintf(b, sizeof b, "server");
        } else {
            snprintf(b, sizeof b, "r%u.eth0", i + 1);
        }
    }
    put(o, "  - name: l%u\n    endpoints: [%s, %s]\n", link_id(s, i), a, b);
    if (l->bandwidth_bps) {
        put(o, "    bandwidth: %" PRIu64 "Mbps\n", l->bandwidth_bps / 1000000);
    }
    if (l->delay_ns) {
        put(o, "    delay: %s\n", dur(l->delay_ns, t, sizeof t));
    }
    if (l->jitter_ns) {
        put(o, "    jitter: %s\n", dur(l->jitter_ns, t, sizeof t));
    }
    if (l->loss_ppm) {
        put(o, "    loss: %s\n", pct(l->loss_ppm, t, sizeof t));
    }
    if (l->dup_ppm) {
        put(o, "    duplicate: %s\n", pct(l->dup_ppm, t, sizeof t));
    }
    if (l->reorder_ppm) {
        char d[32];
        put(o, "    reorder: {ratio: %s, delay: %s}\n", pct(l->reorder_ppm, t, sizeof t),
            dur(l->reorder_delay_ns, d, sizeof d));
    }
    if (l->corrupt_ppm) {
        put(o, "    corrupt: %s\n", pct(l->corrupt_ppm, t, sizeof t));
    }
    if (l->queue_packets || l->codel) {
        put(o, "    queue: {");
        if (l->queue_packets) {
            put(o, "packets: %u%s", l->queue_packets, l->codel ? ", " : "");
        }
        if (l->codel) {
            put(o, "aqm: codel");
        }
        put(o, "}\n");
    }
    if (l->mtu) {
        put(o, "    mtu: %u\n", l->mtu);
    }
}

static void render_fault(out *o, const fz_spec *s, const fz_fault *f)
{
    char at[32], len[32], a[32], b[32];
    dur(f->at_ns, at, sizeof at);
    dur(f->len_ns, len, sizeof len);
    switch (f->kind) {
    case FZ_PARTITION:
        put(o, "  - {at: %s, partition: {a: [%s], b: [%s], oneway: %s}, for: %s}\n", at,
            fz_host_name(f->a, a, sizeof a), fz_host_name(f->b, b, sizeof b),
            f->oneway ? "true" : "false", len);
        break;
    case FZ_FLAP:
        put(o, "  - {at: %s, link_down: l%u}\n", at, f->a);
        put(o, "  - {at: %s, link_up: l%u}\n", dur(f->at_ns + f->len_ns, b, sizeof b), f->a);
        break;
    case FZ_CLOG:
        put(o, "  - {at: %s, clog: l%u, for: %s}\n", at, f->a, len);
        break;
    case FZ_CRASH:
        put(o, "  - {at: %s, crash: %s, for: %s}\n", at, fz_host_name(f->a, a, sizeof a), len);
        break;
    default:
        put(o, "  - {at: %s, stall: {host: %s, core: %u}, for: %s}\n", at,
            fz_host_name(f->a, a, sizeof a), f->core, len);
        break;
    }
}

static bool corrupting(const fz_spec *s)
{
    for (uint32_t i = 0; i < s->link_count; i++) {
        if (s->links[i].corrupt_ppm) {
            return true;
        }
    }
    return false;
}

static bool crashed(const fz_spec *s, uint32_t id)
{
    for (uint32_t i = 0; i < s->fault_count; i++) {
        if (s->faults[i].kind == FZ_CRASH && s->faults[i].a == id) {
            return true;
        }
    }
    return false;
}

/* The invariants. A bulk stream whose ends never crash must arrive whole
 * and intact (faults heal long before any retry limit runs out); a
 * crash, or a neighbour entry a corrupted ARP answer poisoned (a minute's
 * one-way blackout, past the SYN-ACK retries), may end it, but it ends,
 * and only with an error: no sink ever reads a wrong byte. Every client makes progress within the rest of its run
 * after the last fault heals. Once apps have stopped and the drain has
 * passed, every host's pools are back to empty. */
static void render_expect(out *o, const fz_spec *s, tw_ns stop)
{
    char t[32], w[32], name[32];
    tw_ns after = s->fault_count ? last_heal(s) : TW_SEC(1);
    put(o, "expect:\n");
    for (uint32_t i = 0; i < s->work_count; i++) {
        const fz_work *wk = &s->works[i];
        if (wk->kind == FZ_BULK) {
            uint32_t id = wk->id;
            if (!crashed(s, 0) && !crashed(s, wk->client) && !corrupting(s)) {
                put(o, "  - {name: bulk%u delivered intact, delivered: [bulk%u]}\n", id, id);
            } else {
                put(o, "  - {name: bulk%u ends delivered or with an error, metric: "
                       "app.bulk%u.completion, \">=\": 1ns}\n", id, id);
            }
            put(o, "  - {name: sink%u sees no wrong byte, metric: app.sink%u.mismatches, "
                   "\"==\": 0}\n", id, id);
            continue;
        }
        const char *app = wk->kind == FZ_UDP ? "udp" : wk->kind == FZ_TCP ? "tcp" : "http";
        const char *metric = wk->kind == FZ_HTTP ? "responses" : "replies";
        put(o,
            "  - {name: %s%u recovers, eventually: {within: %s, after: %s, metric: "
            "app.%s%u.%s, delta: true, \">=\": 1}}\n",
            app, wk->id, dur(stop - after, w, sizeof w),
            s->fault_count ? "last_heal" : dur(after, t, sizeof t), app, wk->id, metric);
    }
    static const char *const pools[] = {"tcp.conns", "frame_buffers", "arp_pending",
                                        "reasm_pending"};
    for (uint32_t h = 0; h < s->host_count; h++) {
        fz_host_name(s->hosts[h].id, name, sizeof name);
        for (size_t p = 0; p < sizeof pools / sizeof pools[0]; p++) {
            put(o, "  - {name: %s leaves no %s, metric: host.%s.%s, \"==\": 0}\n", name, pools[p],
                name, pools[p]);
        }
    }
}

/* When clients stop: after the traffic, and past any ARP entry a
 * corrupted frame may have poisoned. */
static tw_ns clients_stop(const fz_spec *s)
{
    return CLIENT_START + s->traffic_ns + (corrupting(s) ? ARP_TTL : 0);
}

size_t fz_spec_render(const fz_spec *s, const char *const *user_expects, uint32_t user_count,
                      char *buf, size_t len)
{
    out o = {buf, len, 0};
    char t[32], name[32];
    tw_ns stop = clients_stop(s);
    put(&o, "# twin fuzz seed %" PRIu64 ": reproduce with twin run THIS_FILE\n", s->seed);
    /* A poisoned neighbour entry also delays the RST that tells a host its
     * peer's connection is gone: the drain outlasts it too. */
    tw_ns drain = s->drain_ns + (corrupting(s) ? ARP_TTL : 0);
    put(&o, "name: fuzz-%" PRIu64 "\nseed: %" PRIu64 "\nduration: %s\n\nhosts:\n", s->seed,
        s->seed, dur(stop + drain, t, sizeof t));
    for (uint32_t i = 0; i < s->host_count; i++) {
        const fz_host *h = &s->hosts[i];
        put(&o, "  - name: %s\n    cores: %u\n", fz_host_name(h->id, name, sizeof name), h->cores);
        render_addresses(&o, s, h);
        render_tcp(&o, &h->tcp);
        render_apps(&o, s, h->id, stop);
    }
    if (s->topo == FZ_TOPO_SWITCH) {
        put(&o, "\nswitches:\n  - {name: sw}\n");
    }
    put(&o, "\nlinks:\n");
    for (uint32_t i = 0; i < s->link_count; i++) {
        render_link(&o, s, i);
    }
    if (s->fault_count) {
        put(&o, "\nfaults:\n");
        for (uint32_t i = 0; i < s->fault_count; i++) {
            render_fault(&o, s, &s->faults[i]);
        }
    }
    put(&o, "\n");
    render_expect(&o, s, stop);
    for (uint32_t i = 0; i < user_count; i++) {
        put(&o, "  - %s\n", user_expects[i]);
    }
    put(&o, "\ncapture: {metrics: 100ms}\n");
    if (len) {
        buf[o.n < len ? o.n : len - 1] = '\0';
    }
    return o.n;
}

void fz_spec_describe(const fz_spec *s, char *buf, size_t len)
{
    static const char *const topo[] = {"direct", "switch", "chain"};
    static const char *const kind[] = {"bulk", "udp", "tcp", "http"};
    static const char *const fk[] = {"partition", "link flap", "clog", "crash", "stall"};
    out o = {buf, len, 0};
    put(&o, "seed %" PRIu64 ": %s topology, %u hosts, %u links, %u workloads (", s->seed,
        topo[s->topo], s->host_count, s->link_count, s->work_count);
    for (uint32_t i = 0; i < s->work_count; i++) {
        put(&o, "%s%s", i ? " " : "", kind[s->works[i].kind]);
    }
    put(&o, "), %u faults (", s->fault_count);
    for (uint32_t i = 0; i < s->fault_count; i++) {
        put(&o, "%s%s", i ? " " : "", fk[s->faults[i].kind]);
    }
    put(&o, ")");
}

/* ---- reductions ------------------------------------------------------------ */

static void drop_fault(fz_spec *s, uint32_t i)
{
    memmove(&s->faults[i], &s->faults[i + 1], (s->fault_count - i - 1) * sizeof(s->faults[0]));
    s->fault_count--;
}

/* Faults that name a host or link no longer there, or a core past the
 * host's count, go. */
static void prune_faults(fz_spec *s)
{
    for (uint32_t i = 0; i < s->fault_count;) {
        const fz_fault *f = &s->faults[i];
        int h = host_index(s, f->a);
        bool ok = f->kind == FZ_FLAP || f->kind == FZ_CLOG ? link_index(s, f->a) >= 0
                  : f->kind == FZ_PARTITION ? h >= 0 && host_index(s, f->b) >= 0
                  : f->kind == FZ_STALL     ? h >= 0 && f->core < s->hosts[h].cores
                                            : h >= 0;
        if (ok) {
            i++;
        } else {
            drop_fault(s, i);
        }
    }
}

static bool remove_work(fz_spec *s, uint32_t k)
{
    if (k >= s->work_count || s->work_count == 1) {
        return false;
    }
    memmove(&s->works[k], &s->works[k + 1], (s->work_count - k - 1) * sizeof(s->works[0]));
    s->work_count--;
    return true;
}

/* A client host on the switch goes with its link and its workloads. */
static bool remove_client(fz_spec *s, uint32_t k)
{
    if (s->topo != FZ_TOPO_SWITCH || clients(s) < 2 || k >= clients(s)) {
        return false;
    }
    uint32_t i = 1 + k, id = s->hosts[i].id;
    uint32_t left = 0;
    for (uint32_t w = 0; w < s->work_count; w++) {
        left += s->works[w].client != id;
    }
    if (left == 0) {
        return false;
    }
    for (uint32_t w = 0; w < s->work_count;) {
        if (s->works[w].client == id) {
            memmove(&s->works[w], &s->works[w + 1], (s->work_count - w - 1) * sizeof(s->works[0]));
            s->work_count--;
        } else {
            w++;
        }
    }
    memmove(&s->hosts[i], &s->hosts[i + 1], (s->host_count - i - 1) * sizeof(s->hosts[0]));
    memmove(&s->links[i], &s->links[i + 1], (s->link_count - i - 1) * sizeof(s->links[0]));
    s->host_count--;
    s->link_count--;
    prune_faults(s);
    return true;
}

/* The last router goes with the link behind it; with none left the
 * chain is a direct link (l0 keeps its impairments). */
static bool remove_router(fz_spec *s)
{
    uint32_t k = routers(s);
    if (s->topo != FZ_TOPO_CHAIN || k == 0) {
        return false;
    }
    s->host_count--;
    s->link_count--;
    if (k == 1) {
        s->topo = FZ_TOPO_DIRECT;
    }
    /* The narrowed hop only exists between two routers. */
    for (uint32_t i = 0; i < s->link_count; i++) {
        if (i == 0 || i == s->link_count - 1) {
            s->links[i].mtu = 0;
        }
    }
    prune_faults(s);
    return true;
}

static bool one_core(fz_spec *s, uint32_t k)
{
    if (k >= s->host_count || s->hosts[k].cores == 1) {
        return false;
    }
    s->hosts[k].cores = 1;
    prune_faults(s);
    return true;
}

#define LINK_KNOBS 10
static bool clear_link_knob(fz_spec *s, uint32_t k)
{
    if (k >= s->link_count * LINK_KNOBS) {
        return false;
    }
    fz_link *l = &s->links[k / LINK_KNOBS];
    fz_link before = *l;
    switch (k % LINK_KNOBS) {
    case 0: l->loss_ppm = 0; break;
    case 1: l->dup_ppm = 0; break;
    case 2: l->reorder_ppm = 0; l->reorder_delay_ns = 0; break;
    case 3: l->corrupt_ppm = 0; break;
    case 4: l->jitter_ns = 0; break;
    case 5: l->delay_ns = 0; break;
    case 6: l->bandwidth_bps = 0; break;
    case 7: l->queue_packets = 0; break;
    case 8: l->codel = false; break;
    default: l->mtu = 0; break;
    }
    return memcmp(&before, l, sizeof before) != 0;
}

#define TCP_KNOBS 6
static bool clear_tcp_knob(fz_spec *s, uint32_t k)
{
    if (k >= s->host_count * TCP_KNOBS) {
        return false;
    }
    fz_tcp *t = &s->hosts[k / TCP_KNOBS].tcp;
    fz_tcp before = *t;
    switch (k % TCP_KNOBS) {
    case 0: t->mss = 0; break;
    case 1: t->snd_buf = 0; break;
    case 2: t->rcv_buf = 0; break;
    case 3: t->nagle = 0; break;
    case 4: t->delack_ms = -1; break;
    default: t->rto_min_ms = 0; break;
    }
    return memcmp(&before, t, sizeof before) != 0;
}

/* Smaller transfers, fewer requests and connections. */
static bool smaller_work(fz_spec *s, uint32_t k)
{
    if (k >= s->work_count * 3) {
        return false;
    }
    fz_work *w = &s->works[k / 3];
    switch (k % 3) {
    case 0:
        if (w->kind != FZ_BULK || w->bytes < 2048) {
            return false;
        }
        w->bytes /= 2;
        return true;
    case 1:
        if (w->rate < 2) {
            return false;
        }
        w->rate /= 2;
        return true;
    default:
        if (w->conns < 2) {
            return false;
        }
        w->conns = 1;
        return true;
    }
}

static bool shorter_fault(fz_spec *s, uint32_t k)
{
    if (k >= s->fault_count || s->faults[k].len_ns < TW_MS(20)) {
        return false;
    }
    s->faults[k].len_ns = s->faults[k].len_ns / 2 / TW_MS(1) * TW_MS(1);
    return true;
}

static const char *const reducer_names[FZ_REDUCERS] = {
    "remove a workload",   "remove a client host", "remove a router",
    "one core",            "clear a link impairment", "clear a TCP knob",
    "a smaller workload",  "a shorter fault",
};

const char *fz_reducer_name(uint32_t r)
{
    return r < FZ_REDUCERS ? reducer_names[r] : "?";
}

bool fz_spec_reduce(fz_spec *s, uint32_t r, uint32_t k)
{
    switch (r) {
    case 0: return remove_work(s, k);
    case 1: return remove_client(s, k);
    case 2: return k == 0 && remove_router(s);
    case 3: return one_core(s, k);
    case 4: return clear_link_knob(s, k);
    case 5: return clear_tcp_knob(s, k);
    case 6: return smaller_work(s, k);
    case 7: return shorter_fault(s, k);
    default: return false;
    }
}

void fz_spec_keep_faults(fz_spec *s, uint32_t keep)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->fault_count; i++) {
        if (keep & (1u << i)) {
            s->faults[n++] = s->faults[i];
        }
    }
    s->fault_count = n;
}
