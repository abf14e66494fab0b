/* `twin run FILE`, the parts both worlds share: the scenario model's
 * hosts become stack and worker configurations, apps become tasks on host
 * cores, metrics are read from the tasks, stacks and links under the names
 * of docs/scenarios.md, and the expectations are judged against them. The
 * world itself (simulated or live) is behind tw_scen_world_ops. */
#define _POSIX_C_SOURCE 200809L
#include "cli/scenario_common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "app/http.h"
#include "app/tcp.h"
#include "app/tcp_client.h"
#include "app/udp.h"
#include "base/assert.h"
#include "base/error.h"
#include "base/hist.h"
#include "base/units.h"
#include "cli/cli.h"
#include "cli/json.h"
#include "cli/scenario_host.h"
#include "net/drop.h"
#include "scenario/scenario.h"

/* ---- the task types of scenario apps ------------------------------------ */

static const tw_task_ops *const app_types[TW_SCENARIO_APP_COUNT] = {
    [TW_SCENARIO_APP_UDP_ECHO] = &tw_app_udp_echo,
    [TW_SCENARIO_APP_UDP_CLIENT] = &tw_app_udp_client,
    [TW_SCENARIO_APP_TCP_ECHO] = &tw_app_tcp_echo,
    [TW_SCENARIO_APP_TCP_CLIENT] = &tw_app_tcp_client,
    [TW_SCENARIO_APP_BULK_SEND] = &tw_app_bulk_send,
    [TW_SCENARIO_APP_BULK_SINK] = &tw_app_bulk_sink,
    [TW_SCENARIO_APP_HTTP_SERVER] = &tw_app_http_server,
    [TW_SCENARIO_APP_HTTP_CLIENT] = &tw_app_http_client,
};
const tw_task_registry tw_scen_app_registry = {app_types, TW_SCENARIO_APP_COUNT};

#define STATE_MAX 131072 /* the largest app state (the TCP echo with 128 connections) fits */
#define UDP_TIMEOUT TW_SEC(1)
#define TCP_TIMEOUT TW_SEC(10)

/* ---- the controller program: addresses of spawned apps, restarts -------- */

static void prog_spawned(tw_controller *ctl, tw_ns now, void *ctx, uint64_t req,
                         const tw_spawn_ack *ack)
{
    tw_scen_ctx *c = ctx;
    for (uint32_t a = 0; a < c->sc->app_count; a++) {
        for (uint32_t k = 0; k < c->apps[a].instances; k++) {
            if (c->apps[a].req[k] == req) {
                c->apps[a].addr[k] = ack->status < 0 ? TW_ADDR_NONE : ack->addr;
                return;
            }
        }
    }
}

/* A host that restarts comes back without its tasks, as a rebooted machine
 * does; its apps are started again, as a service manager would. */
static void prog_message(tw_controller *ctl, tw_ns now, void *ctx, const tw_msg *m)
{
    tw_scen_ctx *c = ctx;
    if (m->type != TW_MSG_WORLD) {
        return;
    }
    tw_world_note note;
    memcpy(&note, m->data, sizeof(note));
    if (note.kind != TW_WORLD_NOTE_RESTARTED) {
        return;
    }
    const tw_scenario_host *h = &c->sc->hosts[note.host];
    for (uint32_t a = h->first_app; a < h->first_app + h->app_count; a++) {
        if (c->apps[a].spawned && !c->apps[a].stopped) {
            tw_scen_spawn_app(c, a);
            c->respawns++;
        }
    }
}

const tw_controller_program tw_scen_program = {
    .on_spawned = prog_spawned,
    .on_message = prog_message,
};

/* ---- building the world ----------------------------------------------------- */

int tw_scen_fail(const char *file, const char *what, int rc)
{
    fprintf(stderr, "%s: %s (%s)\n", file, what, tw_strerror(rc));
    return TW_EXIT_USAGE;
}

/* The TCP connections one core of host h may hold: its share of those
 * clients elsewhere open to it (RSS may give a core twice its share), and
 * the connections of its own clients, whose instances (up to
 * TW_LOAD_CONNS_MAX connections each) may all sit on one core. */
static uint64_t tcp_conns_per_core(const tw_scenario *sc, uint32_t h)
{
    uint64_t inbound = 0, own = 0;
    uint32_t cores = sc->hosts[h].cores;
    for (uint32_t a = 0; a < sc->app_count; a++) {
        const tw_scenario_app *ap = &sc->apps[a];
        uint64_t k = ap->type == TW_SCENARIO_APP_BULK_SEND ? 1
                     : ap->type == TW_SCENARIO_APP_TCP_CLIENT ||
                             ap->type == TW_SCENARIO_APP_HTTP_CLIENT
                         ? (ap->connections ? ap->connections : 1)
                         : 0;
        if (k && ap->peer_host == h) {
            inbound += k;
        }
        if (k && ap->host == h) {
            uint64_t instances = (k + TW_LOAD_CONNS_MAX - 1) / TW_LOAD_CONNS_MAX;
            uint64_t per_core = (instances + cores - 1) / cores;
            uint64_t most = per_core * TW_LOAD_CONNS_MAX;
            own += k < most ? k : most;
        }
    }
    return 2 * inbound / cores + own + 8;
}

/* Send and receive buffers a quarter above the bandwidth-delay product of
 * the fastest of the host's links over the longest round trip in the world
 * (the four slowest hops there and back), as an administrator sizes
 * tcp_rmem for a long fat network: RFC 7323's window scaling is pointless
 * without them, and a window far above the path's BDP only fills queues. */
static uint32_t tcp_buffer_for(const tw_scenario *sc, uint32_t h)
{
    tw_ns worst[4] = {0};
    uint64_t bw = 0;
    for (uint32_t l = 0; l < sc->link_count; l++) {
        const tw_scenario_link *lk = &sc->links[l];
        tw_ns one = 0;
        for (int d = 0; d < 2; d++) {
            tw_ns t = lk->dir[d].delay_ns + lk->dir[d].jitter_ns;
            one = t > one ? t : one;
            for (int e = 0; e < 2; e++) {
                if (lk->end[e].kind == TW_SCENARIO_END_IFACE && lk->end[e].host == h &&
                    lk->dir[d].bandwidth_bps > bw) {
                    bw = lk->dir[d].bandwidth_bps;
                }
            }
        }
        for (int k = 0; k < 4; k++) {
            if (one > worst[k]) {
                tw_ns t = worst[k];
                worst[k] = one;
                one = t;
            }
        }
    }
    tw_ns rtt = 2 * (worst[0] + worst[1] + worst[2] + worst[3]);
    uint64_t bdp = bw ? (uint64_t)((unsigned __int128)bw * rtt / 8 / TW_SEC(1)) : 0;
    uint64_t want = bdp + bdp / 4;
    return (uint32_t)(want < 65536 ? 65536 : want > (32u << 20) ? (32u << 20) : want);
}

int tw_scen_host_config(const tw_scen_ctx *c, uint32_t i, tw_world_host_config *out)
{
    const tw_scenario_host *sh = &c->sc->hosts[i];
    if (sh->kind == TW_SCENARIO_HOST_KERNEL) {
        fprintf(stderr, "%s: host '%s' is kind: kernel, a real Linux host: it runs only live "
                        "(twin run --live), or simulated as a twin host with --set "
                        "hosts.%s.kind=twin\n", c->o->file, sh->name, sh->name);
        return TW_EXIT_USAGE;
    }
    if (sh->iface_count > TW_WORLD_IFACES_MAX || sh->cores > TW_WORLD_CORES_MAX) {
        fprintf(stderr, "%s: host '%s': the simulator takes at most %u interfaces and %u cores\n",
                c->o->file, sh->name, TW_WORLD_IFACES_MAX, TW_WORLD_CORES_MAX);
        return TW_EXIT_USAGE;
    }
    static tw_world_host_config hc;
    tw_world_host_config_default(&hc);
    snprintf(hc.name, sizeof hc.name, "%s", sh->name);
    hc.cores = sh->cores;
    uint32_t mtu_max = 0;
    for (uint32_t f = 0; f < sh->iface_count; f++) {
        const tw_scenario_iface *si = &sh->ifaces[f];
        tw_mac mac;
        memcpy(mac.b, si->mac, sizeof(mac.b));
        int rc = tw_world_host_config_iface(&hc, mac, si->addr, si->prefix_len, (uint16_t)si->mtu);
        if (rc < 0) {
            return tw_scen_fail(c->o->file, "an interface the simulator cannot build", rc);
        }
        mtu_max = si->mtu > mtu_max ? si->mtu : mtu_max;
    }
    for (uint32_t r = 0; r < sh->route_count; r++) {
        const tw_scenario_route *rt = &sh->routes[r];
        if (rt->prefix_len == 0) {
            hc.gateway = rt->via;
        } else if (tw_world_host_config_route(&hc, rt->dest, rt->prefix_len, rt->via) < 0) {
            fprintf(stderr, "%s: host '%s': more than %u routes\n", c->o->file, sh->name,
                    TW_WORLD_ROUTES_MAX);
            return TW_EXIT_USAGE;
        }
    }
    hc.stack.forwarding = sh->router;
    hc.stack.mtu_max = (uint16_t)(mtu_max ? mtu_max : 1500);
    /* A burst of connections opened at once waits for one ARP answer. */
    hc.stack.arp.pending_per_entry = 1024;
    hc.stack.arp.pending_total = 4096;
    hc.stack.tcp_enabled = true;
    tw_tcp_config_default(&hc.stack.tcp);
    /* Each core's TCP holds its share of the host's connections (RSS may
     * load one core twice its share), and room for TIME-WAIT. */
    uint64_t share = tcp_conns_per_core(c->sc, i);
    hc.stack.tcp.bufs_max = (uint32_t)share;
    hc.stack.tcp.syn_backlog = (uint32_t)share; /* a burst of SYNs all at once */
    hc.stack.tcp.conns_max = (uint32_t)(2 * share + 64);
    hc.stack.tcp.snd_buf_bytes = hc.stack.tcp.rcv_buf_bytes = tcp_buffer_for(c->sc, i);
    tw_scen_tcp_apply(sh, &hc.stack);
    hc.worker.registry = &tw_scen_app_registry;
    hc.worker.max_tasks = sh->app_count + 4;
    hc.worker.task_state_max = STATE_MAX;
    hc.worker.outq_max = 256;
    /* Rings deep enough for a congestion window's burst (bounded: the
     * buffers they hold are shared and counted). */
    hc.rx_ring = 16384;
    hc.tx_ring = 16384;
    *out = hc;
    return 0;
}

/* ---- apps ------------------------------------------------------------------- */

static uint64_t period_of(uint64_t rate_per_s)
{
    return rate_per_s ? TW_SEC(1) / rate_per_s : 0;
}

/* Share k of n of a total. */
static uint64_t share(uint64_t total, uint32_t k, uint32_t n)
{
    return total / n + (k < total % n);
}

/* Fills the spawn arguments of instance k of n of app a; returns their
 * length. A load client with more connections than one task holds runs
 * as several instances that split its connections, rate and count. */
uint32_t tw_scen_app_args(const tw_scen_ctx *c, uint32_t a, uint32_t k, uint32_t n, uint8_t *buf)
{
    const tw_scenario_app *ap = &c->sc->apps[a];
    bool nagle = tw_scen_tcp_nagle(&c->sc->hosts[ap->host]);
    memset(buf, 0, TW_SPAWN_ARGS_MAX);
    uint64_t conns = share(ap->connections ? ap->connections : 1, k, n);
    uint64_t rate = share(ap->rate_per_s, k, n);
    tw_load_args load = {.server = ap->peer_addr, .port = ap->port,
                         .connections = (uint16_t)conns,
                         .period_ns = ap->closed_loop ? 0 : period_of(rate),
                         .count = ap->count ? share(ap->count, k, n) : 0,
                         .timeout_ns = TCP_TIMEOUT};
    switch (ap->type) {
    case TW_SCENARIO_APP_UDP_ECHO: {
        tw_udp_echo_args x = {.port = ap->port};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_UDP_CLIENT: {
        uint32_t conc = ap->concurrency ? ap->concurrency : 1;
        tw_udp_client_args x = {
            .server = ap->peer_addr, .port = ap->port,
            .size = (uint16_t)(ap->size_bytes < 16 ? 16
                               : ap->size_bytes > TW_UDP_PAYLOAD_MAX ? TW_UDP_PAYLOAD_MAX
                                                                     : ap->size_bytes),
            .concurrency = conc > TW_UDP_CLIENT_WINDOW_MAX ? TW_UDP_CLIENT_WINDOW_MAX : conc,
            .period_ns = ap->closed_loop ? 0 : period_of(ap->rate_per_s),
            .count = ap->count, .timeout_ns = UDP_TIMEOUT};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_TCP_ECHO: {
        tw_tcp_echo_args x = {.port = ap->port};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_TCP_CLIENT: {
        tw_tcp_client_args x = {.load = load, .size = ap->size_bytes ? ap->size_bytes : 64,
                                .flags = nagle ? TW_TCP_CLIENT_NAGLE : 0};
        if (!ap->closed_loop && ap->rate_per_s == 0) {
            x.load.period_ns = 0;
        }
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_BULK_SEND: {
        tw_bulk_send_args x = {.server = ap->peer_addr, .port = ap->port, .bytes = ap->bytes,
                               .stream = c->sc->seed * 1000003u + a};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_BULK_SINK: {
        tw_bulk_sink_args x = {.port = ap->port};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_HTTP_SERVER: {
        /* NOTE: the generated site's sizes are log-normal around a median;
         * a file's fixed/uniform/exponential page_size sets its bounds and
         * median rather than its exact shape. */
        const tw_scenario_size_dist *d = &ap->page_size;
        tw_http_server_args x = {.port = ap->port, .flags = nagle ? TW_HTTP_SERVER_NAGLE : 0};
        x.site.seed = c->sc->seed;
        x.site.pages = ap->pages;
        uint64_t lo = d->min_bytes ? d->min_bytes : 1;
        uint64_t hi = d->max_bytes ? d->max_bytes : lo;
        uint64_t med = d->dist == TW_SCENARIO_DIST_EXPONENTIAL ? d->mean_bytes * 693 / 1000
                                                               : (lo + hi) / 2;
        x.site.size_min = (uint32_t)lo;
        x.site.size_max = (uint32_t)hi;
        x.site.size_median = (uint32_t)(med < lo ? lo : med > hi ? hi : med);
        x.site.spread = d->dist == TW_SCENARIO_DIST_FIXED ? 1 : 4;
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    case TW_SCENARIO_APP_HTTP_CLIENT: {
        const tw_scenario_app *srv = NULL;
        for (uint32_t i = 0; i < c->sc->app_count; i++) {
            const tw_scenario_app *s = &c->sc->apps[i];
            if (s->type == TW_SCENARIO_APP_HTTP_SERVER && s->host == ap->peer_host &&
                s->port == ap->port) {
                srv = s;
            }
        }
        tw_http_client_args x = {.load = load, .pages = srv ? srv->pages : 0,
                                 .flags = nagle ? TW_HTTP_CLIENT_NAGLE : 0};
        memcpy(buf, &x, sizeof x);
        return sizeof x;
    }
    default:
        return 0;
    }
}

static bool is_server(tw_scenario_app_type t)
{
    return t == TW_SCENARIO_APP_UDP_ECHO || t == TW_SCENARIO_APP_TCP_ECHO ||
           t == TW_SCENARIO_APP_BULK_SINK || t == TW_SCENARIO_APP_HTTP_SERVER;
}

void tw_scen_spawn_app(tw_scen_ctx *c, uint32_t a)
{
    const tw_scenario_app *ap = &c->sc->apps[a];
    const tw_scenario_host *h = &c->sc->hosts[ap->host];
    tw_scen_app_rt *rt = &c->apps[a];
    uint8_t args[TW_SPAWN_ARGS_MAX];
    bool every_core = ap->core == TW_SCENARIO_CORE_ANY && is_server(ap->type);
    bool load = ap->type == TW_SCENARIO_APP_TCP_CLIENT || ap->type == TW_SCENARIO_APP_HTTP_CLIENT;
    uint32_t split = load ? (ap->connections + TW_LOAD_CONNS_MAX - 1) / TW_LOAD_CONNS_MAX : 1;
    rt->instances = every_core ? h->cores : split ? split : 1;
    if (rt->instances > TW_SCEN_INSTANCES_MAX) {
        rt->instances = TW_SCEN_INSTANCES_MAX;
    }
    for (uint32_t k = 0; k < rt->instances; k++) {
        uint32_t len = tw_scen_app_args(c, a, k, rt->instances, args);
        /* A client with "core: any" goes where the host's apps spread in
         * file order (its instances on the cores after). */
        uint32_t core = every_core                          ? k
                        : ap->core != TW_SCENARIO_CORE_ANY ? ap->core
                                                            : (a - h->first_app + k) % h->cores;
        rt->worker[k] = c->ops->host_core(c->w, ap->host, core);
        rt->addr[k] = TW_ADDR_NONE;
        int64_t rc = c->ops->spawn(c->w, rt->worker[k], ap->type, args, len);
        rt->req[k] = rc > 0 ? (uint64_t)rc : 0;
    }
    rt->spawned = true;
}

/* ---- metrics -------------------------------------------------------------------- */

/* An app's counters, as its task reports them. */
typedef struct tw_scen_app_counters {
    const char *name[48];
    uint64_t value[48];
    uint32_t n;
    tw_hist latency;
    bool has_latency;
} app_counters;

/* Instances of one app report the same names: their counters add up and
 * their histograms merge. */
static void ac_counter(tw_metric_sink *s, const char *name, uint64_t v)
{
    app_counters *ac = s->ctx;
    for (uint32_t i = 0; i < ac->n; i++) {
        if (strcmp(ac->name[i], name) == 0) {
            ac->value[i] += v;
            return;
        }
    }
    if (ac->n < 48) {
        ac->name[ac->n] = name;
        ac->value[ac->n++] = v;
    }
}

static void ac_hist(tw_metric_sink *s, const char *name, const tw_hist *h)
{
    app_counters *ac = s->ctx;
    if (strcmp(name, "latency") == 0) {
        if (!ac->has_latency) {
            tw_hist_init(&ac->latency);
        }
        tw_hist_merge(&ac->latency, h);
        ac->has_latency = true;
    }
}

static uint64_t ac_get(const app_counters *ac, const char *name)
{
    for (uint32_t i = 0; i < ac->n; i++) {
        if (strcmp(ac->name[i], name) == 0) {
            return ac->value[i];
        }
    }
    return 0;
}

static tw_task *app_task(tw_scen_ctx *c, uint32_t a, uint32_t k)
{
    if (c->apps[a].addr[k] == TW_ADDR_NONE) {
        return NULL;
    }
    tw_worker *w = c->ops->worker(c->w, c->apps[a].worker[k]);
    return w ? tw_worker_task(w, c->apps[a].addr[k]) : NULL;
}

static void app_collect(tw_scen_ctx *c, uint32_t a, app_counters *ac)
{
    if (c->apps[a].frozen) {
        *ac = *c->apps[a].frozen;
        return;
    }
    memset(ac, 0, offsetof(app_counters, latency));
    ac->has_latency = false;
    for (uint32_t k = 0; k < c->apps[a].instances; k++) {
        tw_task *t = app_task(c, a, k);
        if (t && t->ops->report) {
            tw_metric_sink sink = {ac_counter, ac_hist, ac};
            t->ops->report(t, &sink);
        }
    }
}

/* An app whose `duration` ends before the scenario's: its metrics are
 * kept as they stand and its tasks stopped (their connections close). */
static void stop_app(tw_scen_ctx *c, uint32_t a)
{
    tw_scen_app_rt *rt = &c->apps[a];
    app_counters *ac = malloc(sizeof(*ac));
    app_collect(c, a, ac);
    for (uint32_t k = 0; k < rt->instances; k++) {
        if (rt->addr[k] != TW_ADDR_NONE) {
            c->ops->kill(c->w, rt->addr[k]);
        }
    }
    rt->frozen = ac;
    rt->stopped = true;
}

static uint32_t find_sink(const tw_scen_ctx *c, const tw_scenario_app *sender)
{
    for (uint32_t k = 0; k < c->sc->app_count; k++) {
        const tw_scenario_app *s = &c->sc->apps[k];
        if (s->type == TW_SCENARIO_APP_BULK_SINK && s->host == sender->peer_host &&
            s->port == sender->port) {
            return k;
        }
    }
    return TW_SCENARIO_NONE;
}

static uint64_t host_tcp(tw_scen_ctx *c, uint32_t host, const char *what);

/* The metric `leaf` of app a, in the names of docs/scenarios.md. */
static bool app_metric(tw_scen_ctx *c, uint32_t a, const char *leaf, uint64_t *out)
{
    static app_counters ac;
    const tw_scenario_app *ap = &c->sc->apps[a];
    app_collect(c, a, &ac);
    tw_scenario_app_type ty = ap->type;
    bool client = ty == TW_SCENARIO_APP_TCP_CLIENT || ty == TW_SCENARIO_APP_HTTP_CLIENT;
    uint64_t bytes = ty == TW_SCENARIO_APP_UDP_ECHO      ? ac_get(&ac, "bytes")
                     : ty == TW_SCENARIO_APP_UDP_CLIENT  ? ac_get(&ac, "bytes_sent")
                     : ty == TW_SCENARIO_APP_TCP_ECHO    ? ac_get(&ac, "bytes")
                     : ty == TW_SCENARIO_APP_BULK_SEND   ? ac_get(&ac, "bytes_sent")
                     : ty == TW_SCENARIO_APP_BULK_SINK   ? ac_get(&ac, "bytes")
                     : ty == TW_SCENARIO_APP_HTTP_SERVER ? ac_get(&ac, "bytes")
                                                         : ac_get(&ac, "bytes_sent");
    if (!strcmp(leaf, "bytes")) {
        *out = bytes;
    } else if (!strcmp(leaf, "throughput")) {
        /* Over the app's active time: a bulk stream's ends when it is
         * acknowledged and closed, everyone else's at the end of the run. */
        tw_ns now = c->ops->now(c->w);
        tw_ns active = now > ap->start_ns ? now - ap->start_ns : 0;
        if (ty == TW_SCENARIO_APP_BULK_SEND && ac_get(&ac, "duration_ns")) {
            active = ac_get(&ac, "duration_ns");
        }
        *out = active ? (uint64_t)((unsigned __int128)bytes * 8 * TW_SEC(1) / active) : 0;
    } else if (!strcmp(leaf, "requests")) {
        *out = ty == TW_SCENARIO_APP_UDP_ECHO ? ac_get(&ac, "received") : ac_get(&ac, "requests");
    } else if (!strcmp(leaf, "sent")) {
        *out = ac_get(&ac, "sent");
    } else if (!strcmp(leaf, "replies")) {
        *out = ty == TW_SCENARIO_APP_UDP_CLIENT ? ac_get(&ac, "received") : ac_get(&ac, "responses");
    } else if (!strcmp(leaf, "responses")) {
        *out = ty == TW_SCENARIO_APP_HTTP_SERVER
                   ? ac_get(&ac, "responses_2xx") + ac_get(&ac, "responses_4xx") +
                         ac_get(&ac, "responses_5xx")
                   : ac_get(&ac, "responses");
    } else if (!strcmp(leaf, "responses_2xx") || !strcmp(leaf, "responses_4xx") ||
               !strcmp(leaf, "responses_5xx")) {
        *out = ac_get(&ac, leaf); /* both HTTP apps count by status class */
    } else if (!strcmp(leaf, "errors")) {
        *out = ac_get(&ac, "errors");
    } else if (!strcmp(leaf, "timeouts")) {
        *out = ty == TW_SCENARIO_APP_UDP_CLIENT ? ac_get(&ac, "lost")
               : ty == TW_SCENARIO_APP_BULK_SEND ? ac_get(&ac, "error") == TW_ETIMEDOUT
                                                 : ac_get(&ac, "timeouts");
    } else if (!strcmp(leaf, "resets")) {
        *out = ty == TW_SCENARIO_APP_BULK_SEND ? ac_get(&ac, "error") == TW_ECONNRESET
                                               : ac_get(&ac, "resets");
    } else if (!strcmp(leaf, "retransmits")) {
        /* NOTE: retransmissions are counted per core's TCP, not per app:
         * the app's host's total stands in for it. */
        *out = host_tcp(c, ap->host, "retransmits");
    } else if (!strcmp(leaf, "connections")) {
        *out = client                            ? ac_get(&ac, "connects")
               : ty == TW_SCENARIO_APP_BULK_SEND ? ac_get(&ac, "connect_ns") > 0
                                                 : ac_get(&ac, "accepted");
    } else if (!strcmp(leaf, "intact")) {
        uint32_t k = find_sink(c, ap);
        static app_counters sk;
        if (k == TW_SCENARIO_NONE || ac_get(&ac, "done") != 1) {
            *out = 0;
            return true;
        }
        app_collect(c, k, &sk);
        *out = ac_get(&sk, "mismatches") == 0 && ac_get(&sk, "streams_bad") == 0 &&
               ac_get(&sk, "streams_intact") >= 1;
    } else if (!strcmp(leaf, "completion")) {
        uint64_t d = ac_get(&ac, "duration_ns");
        *out = d ? ap->start_ns + d : 0;
    } else if (!strcmp(leaf, "streams")) {
        *out = ac_get(&ac, "streams_intact");
    } else if (!strcmp(leaf, "mismatches")) {
        *out = ac_get(&ac, "mismatches");
    } else if (!strcmp(leaf, "corrupt")) {
        *out = ac_get(&ac, "streams_bad");
    } else if (!strncmp(leaf, "latency.", 8)) {
        static const struct {
            const char *p;
            uint32_t per_mille;
        } ps[] = {{"p50", 500}, {"p90", 900}, {"p99", 990}, {"p999", 999}, {"max", 1000}};
        for (size_t i = 0; i < TW_ARRAY_LEN(ps); i++) {
            if (!strcmp(leaf + 8, ps[i].p)) {
                *out = ac.has_latency ? tw_hist_percentile(&ac.latency, ps[i].per_mille) : 0;
                return true;
            }
        }
        return false;
    } else {
        return false;
    }
    return true;
}

static uint64_t host_tcp(tw_scen_ctx *c, uint32_t host, const char *what)
{
    uint64_t sum = 0;
    for (uint32_t k = 0; k < c->sc->hosts[host].cores; k++) {
        tw_stack *st = c->ops->stack(c->w, host, k);
        tw_tcp *tcp = st ? tw_stack_tcp(st) : NULL;
        if (tcp == NULL) {
            continue;
        }
        const tw_tcp_stats *s = tw_tcp_get_stats(tcp);
        sum += !strcmp(what, "resets")        ? s->resets_received
               : !strcmp(what, "retransmits") ? s->retransmits
               : !strcmp(what, "timeouts")    ? s->timed_out
                                              : s->established;
    }
    return sum;
}

static uint64_t core_busy(tw_scen_ctx *c, uint32_t host, uint32_t core)
{
    uint64_t v = 0;
    c->ops->core_stat(c->w, host, core, "busy", &v);
    return v;
}

/* Sums an interface counter (or its drops) over the host's cores. */
static uint64_t iface_sum(tw_scen_ctx *c, uint32_t host, uint32_t iface, const char *leaf)
{
    uint64_t sum = 0;
    for (uint32_t k = 0; k < c->sc->hosts[host].cores; k++) {
        tw_stack *st = c->ops->stack(c->w, host, k);
        if (st == NULL) {
            continue;
        }
        const tw_iface_counters *ic = tw_stack_iface_counters(st, iface);
        if (leaf == NULL) {
            sum += tw_drop_total(ic);
        } else if (!strncmp(leaf, "drops.", 6)) {
            for (int r = 0; r < TW_DROP_COUNT; r++) {
                if (!strcmp(leaf + 6, tw_drop_name((tw_drop_reason)r))) {
                    sum += ic->drops[r];
                }
            }
        } else {
            sum += !strcmp(leaf, "rx_frames") ? ic->rx_frames
                   : !strcmp(leaf, "tx_frames") ? ic->tx_frames
                   : !strcmp(leaf, "rx_bytes")  ? ic->rx_bytes
                   : !strcmp(leaf, "tx_bytes")  ? ic->tx_bytes
                                                : tw_drop_total(ic);
        }
    }
    return sum;
}

/* ICMP echo counters summed over the host's cores: what answers a ping. */
static bool host_icmp(tw_scen_ctx *c, uint32_t host, const char *what, uint64_t *out)
{
    static const char *const names[] = {"echo_requests_in", "echo_replies_out",
                                        "echo_requests_out", "echo_replies_in"};
    size_t which = TW_ARRAY_LEN(names);
    for (size_t i = 0; i < TW_ARRAY_LEN(names); i++) {
        if (!strcmp(what, names[i])) {
            which = i;
        }
    }
    if (which == TW_ARRAY_LEN(names)) {
        return false;
    }
    *out = 0;
    for (uint32_t k = 0; k < c->sc->hosts[host].cores; k++) {
        tw_stack *st = c->ops->stack(c->w, host, k);
        if (st == NULL) {
            continue;
        }
        tw_stack_stats ss;
        tw_stack_stats_get(st, &ss);
        const uint64_t v[] = {ss.icmp->echo_requests_in, ss.icmp->echo_replies_out,
                              ss.icmp->echo_requests_out, ss.icmp->echo_replies_in};
        *out += v[which];
    }
    return true;
}

static bool host_metric(tw_scen_ctx *c, uint32_t h, const char *leaf, uint64_t *out)
{
    const tw_scenario_host *sh = &c->sc->hosts[h];
    if (!strcmp(leaf, "balance")) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (uint32_t k = 0; k < sh->cores; k++) {
            uint64_t b = core_busy(c, h, k);
            lo = b < lo ? b : lo;
            hi = b > hi ? b : hi;
        }
        *out = hi == 0 ? 1000000 : lo == 0 ? UINT64_MAX : (uint64_t)((unsigned __int128)hi * 1000000 / lo);
        return true;
    }
    if (!strcmp(leaf, "drops") || !strncmp(leaf, "drops.", 6)) {
        uint64_t sum = 0;
        for (uint32_t f = 0; f < sh->iface_count; f++) {
            sum += iface_sum(c, h, f, leaf[5] ? leaf : NULL);
        }
        *out = sum;
        return true;
    }
    if (!strcmp(leaf, "frame_buffers") || !strcmp(leaf, "arp_pending") ||
        !strcmp(leaf, "reasm_pending") || !strcmp(leaf, "tcp.conns")) {
        *out = 0;
        for (uint32_t k = 0; k < sh->cores; k++) {
            tw_stack *st = c->ops->stack(c->w, h, k);
            *out += st ? tw_scen_pool_in_use(st, leaf) : 0;
        }
        return true;
    }
    if (!strncmp(leaf, "tcp.", 4)) {
        *out = host_tcp(c, h, leaf + 4);
        return true;
    }
    if (!strncmp(leaf, "icmp.", 5)) {
        return host_icmp(c, h, leaf + 5, out);
    }
    if (!strcmp(leaf, "handoffs")) {
        /* Reassembled datagrams a core handed to the core owning their flow. */
        *out = 0;
        for (uint32_t k = 0; k < sh->cores; k++) {
            tw_stack *st = c->ops->stack(c->w, h, k);
            if (st != NULL) {
                tw_stack_stats s;
                tw_stack_stats_get(st, &s);
                *out += s.handoffs;
            }
        }
        return true;
    }
    if (!strcmp(leaf, "resteers")) {
        /* Live only: frames a core read from its receive queue that belong
         * to another core's flow (the simulated NIC queues by our hash). */
        bool found = false;
        *out = 0;
        for (uint32_t k = 0; k < sh->cores; k++) {
            uint64_t v;
            if (c->ops->core_stat(c->w, h, k, "resteers", &v)) {
                found = true;
                *out += v;
            }
        }
        return found;
    }
    if (!strcmp(leaf, "crashes")) {
        *out = c->ops->crashes ? c->ops->crashes(c->w, h) : 0;
        return true;
    }
    if (!strncmp(leaf, "core.", 5)) {
        char *end;
        unsigned long k = strtoul(leaf + 5, &end, 10);
        if (*end != '.' || k >= sh->cores) {
            return false;
        }
        return c->ops->core_stat(c->w, h, (uint32_t)k, end + 1, out);
    }
    if (!strncmp(leaf, "iface.", 6)) {
        for (uint32_t f = 0; f < sh->iface_count; f++) {
            size_t n = strlen(sh->ifaces[f].name);
            if (!strncmp(leaf + 6, sh->ifaces[f].name, n) && leaf[6 + n] == '.') {
                *out = iface_sum(c, h, f, leaf + 7 + n);
                return true;
            }
        }
    }
    return false;
}

static bool link_metric(tw_scen_ctx *c, uint32_t l, uint32_t dir, const char *leaf, uint64_t *out)
{
    const tw_link *lk = c->ops->link(c->w, l, dir);
    if (lk == NULL) {
        return false;
    }
    const tw_link_stats *s = tw_link_get_stats(lk);
    if (!strncmp(leaf, "drops.", 6)) {
        for (int r = 0; r < TW_LINK_DROP_COUNT; r++) {
            if (!strcmp(leaf + 6, tw_link_drop_name((tw_link_drop)r))) {
                *out = s->drops[r];
                return true;
            }
        }
        return false;
    }
    uint64_t drops = 0;
    for (int r = 0; r < TW_LINK_DROP_COUNT; r++) {
        drops += s->drops[r];
    }
    static const char *const names[] = {"frames_in", "frames_out", "bytes_in", "bytes_out",
                                        "drops", "duplicated", "reordered", "corrupted",
                                        "queue_packets_high", "queue_bytes_high"};
    uint64_t values[] = {s->frames_in, s->frames_out, s->bytes_in, s->bytes_out, drops,
                         s->duplicated, s->reordered, s->corrupted, s->queue_packets_high,
                         s->queue_bytes_high};
    for (size_t i = 0; i < TW_ARRAY_LEN(names); i++) {
        if (!strcmp(leaf, names[i])) {
            *out = values[i];
            return true;
        }
    }
    return false;
}

static bool switch_metric(tw_scen_ctx *c, uint32_t s, const char *leaf, uint64_t *out)
{
    if (c->ops->switch_stats == NULL) {
        return false;
    }
    const tw_world_switch_stats *st = c->ops->switch_stats(c->w, s);
    *out = !strcmp(leaf, "forwarded") ? st->forwarded
           : !strcmp(leaf, "flooded") ? st->flooded
           : !strcmp(leaf, "learned") ? st->learned
                                      : st->queue_drops + st->partition_drops + st->table_full;
    return !strcmp(leaf, "forwarded") || !strcmp(leaf, "flooded") || !strcmp(leaf, "learned") ||
           !strcmp(leaf, "drops");
}

/* Splits "NAME.rest" against the names of a kind of thing. */
static uint32_t find_named(const char *path, const char **rest,
                           uint32_t (*find)(const tw_scenario *, const char *),
                           const tw_scenario *sc)
{
    char name[TW_SCENARIO_NAME_MAX + 1];
    const char *dot = strchr(path, '.');
    if (dot == NULL || (size_t)(dot - path) > TW_SCENARIO_NAME_MAX) {
        return TW_SCENARIO_NONE;
    }
    memcpy(name, path, (size_t)(dot - path));
    name[dot - path] = '\0';
    *rest = dot + 1;
    return find(sc, name);
}

/* The value of a metric path, or false when no such metric is published. */
bool tw_scen_metric_get(tw_scen_ctx *c, const char *path, uint64_t *out)
{
    const char *rest;
    uint32_t i;
    if (c->ops->unmeasured && c->ops->unmeasured(c->w, c->sc, path)) {
        return false;
    }
    if (!strncmp(path, "app.", 4)) {
        i = find_named(path + 4, &rest, tw_scenario_find_app, c->sc);
        return i != TW_SCENARIO_NONE && app_metric(c, i, rest, out);
    }
    if (!strncmp(path, "host.", 5)) {
        i = find_named(path + 5, &rest, tw_scenario_find_host, c->sc);
        return i != TW_SCENARIO_NONE && host_metric(c, i, rest, out);
    }
    if (!strncmp(path, "link.", 5)) {
        i = find_named(path + 5, &rest, tw_scenario_find_link, c->sc);
        if (i == TW_SCENARIO_NONE) {
            return false;
        }
        if (!strncmp(rest, "forward.", 8)) {
            return link_metric(c, i, 0, rest + 8, out);
        }
        if (!strncmp(rest, "reverse.", 8)) {
            return link_metric(c, i, 1, rest + 8, out);
        }
        return false;
    }
    if (!strncmp(path, "switch.", 7)) {
        i = find_named(path + 7, &rest, tw_scenario_find_switch, c->sc);
        return i != TW_SCENARIO_NONE && switch_metric(c, i, rest, out);
    }
    return false;
}

/* The metrics every report carries: each app's, each host's, each link's
 * and each switch's headline counters. */
#define T(x) (1u << TW_SCENARIO_APP_##x)
#define TCP_APPS                                                                                   \
    (T(TCP_ECHO) | T(TCP_CLIENT) | T(BULK_SEND) | T(BULK_SINK) | T(HTTP_SERVER) | T(HTTP_CLIENT))
#define LATENCY_APPS (T(UDP_CLIENT) | T(TCP_CLIENT) | T(HTTP_CLIENT))
static const struct {
    const char *leaf;
    uint32_t types;
} app_leaves[] = {
    {"bytes", ~0u},
    {"throughput", ~0u},
    {"requests", T(UDP_ECHO) | T(TCP_CLIENT) | T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"sent", T(UDP_CLIENT)},
    {"replies", T(UDP_CLIENT) | T(TCP_CLIENT)},
    {"responses", T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"responses_2xx", T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"responses_4xx", T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"responses_5xx", T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"errors", T(HTTP_CLIENT)},
    {"timeouts", T(UDP_CLIENT) | TCP_APPS},
    {"resets", TCP_APPS},
    {"connections", TCP_APPS},
    {"intact", T(BULK_SEND)},
    {"completion", T(BULK_SEND)},
    {"streams", T(BULK_SINK)},
    {"corrupt", T(BULK_SINK)},
    {"mismatches", T(BULK_SINK)},
    {"latency.p50", LATENCY_APPS},
    {"latency.p99", LATENCY_APPS},
    {"latency.max", LATENCY_APPS},
};

void tw_scen_each_metric(tw_scen_ctx *c, tw_scen_metric_fn fn, void *ctx)
{
    char path[256];
    uint64_t v;
    for (uint32_t a = 0; a < c->sc->app_count; a++) {
        const tw_scenario_app *ap = &c->sc->apps[a];
        for (size_t k = 0; k < TW_ARRAY_LEN(app_leaves); k++) {
            if (!(app_leaves[k].types & (1u << ap->type))) {
                continue;
            }
            snprintf(path, sizeof path, "app.%s.%s", ap->name, app_leaves[k].leaf);
            if (tw_scen_metric_get(c, path, &v)) {
                fn(ctx, path, v);
            }
        }
    }
    static const char *const host_leaves[] = {"balance", "drops", "tcp.connections",
                                              "tcp.retransmits", "tcp.resets", "crashes",
                                              "handoffs", "resteers"};
    for (uint32_t h = 0; h < c->sc->host_count; h++) {
        for (size_t k = 0; k < TW_ARRAY_LEN(host_leaves); k++) {
            snprintf(path, sizeof path, "host.%s.%s", c->sc->hosts[h].name, host_leaves[k]);
            if (tw_scen_metric_get(c, path, &v)) {
                fn(ctx, path, v);
            }
        }
        for (uint32_t k = 0; k < c->sc->hosts[h].cores; k++) {
            for (int e = 0; e < 2; e++) {
                snprintf(path, sizeof path, "host.%s.core.%u.%s", c->sc->hosts[h].name, k,
                         e ? "events" : "busy");
                if (tw_scen_metric_get(c, path, &v)) {
                    fn(ctx, path, v);
                }
            }
        }
    }
    static const char *const link_leaves[] = {"frames_in", "frames_out", "bytes_out", "drops"};
    for (uint32_t l = 0; l < c->sc->link_count; l++) {
        for (int d = 0; d < 2; d++) {
            for (size_t k = 0; k < TW_ARRAY_LEN(link_leaves); k++) {
                snprintf(path, sizeof path, "link.%s.%s.%s", c->sc->links[l].name,
                         d ? "reverse" : "forward", link_leaves[k]);
                if (tw_scen_metric_get(c, path, &v)) {
                    fn(ctx, path, v);
                }
            }
        }
    }
    if (c->ops->extra_metrics) {
        c->ops->extra_metrics(c->w, fn, ctx);
    }
    static const char *const sw_leaves[] = {"forwarded", "flooded", "drops", "learned"};
    for (uint32_t s = 0; s < c->sc->switch_count; s++) {
        for (size_t k = 0; k < TW_ARRAY_LEN(sw_leaves); k++) {
            snprintf(path, sizeof path, "switch.%s.%s", c->sc->switches[s].name, sw_leaves[k]);
            if (tw_scen_metric_get(c, path, &v)) {
                fn(ctx, path, v);
            }
        }
    }
}

/* ---- expectations ------------------------------------------------------------ */

static bool holds(const tw_scenario_expect *e, uint64_t v) { return e->lo <= v && v <= e->hi; }

/* At a sample time: the `eventually` windows that are open look at the
 * metric (or its increase since the window opened). */
static void sample_eventually(tw_scen_ctx *c, tw_ns now)
{
    for (uint32_t i = 0; i < c->sc->expect_count; i++) {
        const tw_scenario_expect *e = &c->sc->expects[i];
        tw_scen_eventually *ev = &c->ev[i];
        if (e->when != TW_SCENARIO_WHEN_EVENTUALLY || now < e->after_ns || ev->held) {
            continue;
        }
        uint64_t v;
        if (!tw_scen_metric_get(c, e->metric, &v)) {
            continue;
        }
        if (!ev->base_taken) {
            ev->base_taken = true;
            ev->base = v;
        }
        if (now > e->after_ns + e->within_ns) {
            continue;
        }
        uint64_t x = e->delta ? v - ev->base : v;
        ev->observed = x;
        ev->seen = true;
        if (holds(e, x)) {
            ev->held = true;
        }
    }
}

static tw_scen_verdict judge(tw_scen_ctx *c, uint32_t i)
{
    const tw_scenario_expect *e = &c->sc->expects[i];
    tw_scen_verdict v = {0};
    v.unmeasured = c->ops->unmeasured ? c->ops->unmeasured(c->w, c->sc, e->metric) : NULL;
    if (e->when == TW_SCENARIO_WHEN_EVENTUALLY) {
        v.found = c->ev[i].seen;
        v.observed = c->ev[i].observed;
        v.passed = c->ev[i].held;
        return v;
    }
    v.found = tw_scen_metric_get(c, e->metric, &v.observed);
    v.passed = v.found && holds(e, v.observed);
    return v;
}

static void format_value(tw_scenario_unit u, uint64_t v, char *buf, size_t len)
{
    switch (u) {
    case TW_SCENARIO_UNIT_NS:
        tw_format_duration(v, buf, (unsigned)len);
        break;
    case TW_SCENARIO_UNIT_BPS:
        snprintf(buf, len, "%.3fMbps", (double)v / 1e6);
        break;
    case TW_SCENARIO_UNIT_BYTES:
        snprintf(buf, len, "%" PRIu64 "B", v);
        break;
    case TW_SCENARIO_UNIT_PPM:
        if (v == UINT64_MAX) {
            snprintf(buf, len, "inf%%");
        } else {
            snprintf(buf, len, "%" PRIu64 ".%02" PRIu64 "%%", v / 10000, v / 100 % 100);
        }
        break;
    default:
        snprintf(buf, len, "%" PRIu64, v);
    }
}

static void format_expected(const tw_scenario_expect *e, char *buf, size_t len)
{
    char lo[48], hi[48];
    format_value(e->unit, e->lo, lo, sizeof lo);
    format_value(e->unit, e->hi, hi, sizeof hi);
    switch (e->op) {
    case TW_SCENARIO_OP_GE: snprintf(buf, len, ">= %s", lo); break;
    case TW_SCENARIO_OP_LE: snprintf(buf, len, "<= %s", hi); break;
    case TW_SCENARIO_OP_EQ: snprintf(buf, len, "== %s", lo); break;
    default: snprintf(buf, len, "in [%s, %s]", lo, hi); break;
    }
}

/* ---- the run ------------------------------------------------------------------ */

static void series_write(void *ctx, const char *name, uint64_t v)
{
    tw_scen_ctx *c = ctx;
    fprintf(c->series, ",\"%s\":%" PRIu64, name, v);
}

static void sample(tw_scen_ctx *c, tw_ns now)
{
    sample_eventually(c, now);
    if (c->series) {
        fprintf(c->series, "{\"t_ns\":%" PRIu64, now);
        tw_scen_each_metric(c, series_write, c);
        /* What only a time series shows: each host's congestion windows
         * and each link direction's queue, now. */
        for (uint32_t h = 0; h < c->sc->host_count; h++) {
            uint64_t cwnd = 0;
            for (uint32_t k = 0; k < c->sc->hosts[h].cores; k++) {
                tw_stack *st = c->ops->stack(c->w, h, k);
                if (st && tw_stack_tcp(st)) {
                    cwnd += tw_tcp_cwnd_sum(tw_stack_tcp(st));
                }
            }
            fprintf(c->series, ",\"host.%s.tcp.cwnd\":%" PRIu64, c->sc->hosts[h].name, cwnd);
        }
        for (uint32_t l = 0; l < c->sc->link_count; l++) {
            for (uint32_t d = 0; d < 2; d++) {
                const tw_link *lk = c->ops->link(c->w, l, d);
                if (lk == NULL) {
                    continue;
                }
                const tw_link_stats *st = tw_link_get_stats(lk);
                fprintf(c->series, ",\"link.%s.%s.queue_packets\":%u", c->sc->links[l].name,
                        d ? "reverse" : "forward", st->queue_packets);
            }
        }
        fputs("}\n", c->series);
    }
}

static const tw_scenario *sort_sc;

static int by_start(const void *pa, const void *pb)
{
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    tw_ns ta = sort_sc->apps[a].start_ns, tb = sort_sc->apps[b].start_ns;
    return ta < tb ? -1 : ta > tb ? 1 : (a < b ? -1 : a > b);
}

void tw_scen_run_schedule(tw_scen_ctx *c)
{
    const tw_scenario *sc = c->sc;
    uint32_t *order = calloc(sc->app_count ? sc->app_count : 1, sizeof(uint32_t));
    for (uint32_t a = 0; a < sc->app_count; a++) {
        order[a] = a;
    }
    sort_sc = sc;
    qsort(order, sc->app_count, sizeof(uint32_t), by_start);
    tw_ns interval = sc->capture.metrics_interval_ns;
    /* Eventually-expectations need samples even when none were asked for. */
    for (uint32_t i = 0; i < sc->expect_count && interval == 0; i++) {
        if (sc->expects[i].when == TW_SCENARIO_WHEN_EVENTUALLY) {
            interval = TW_MS(10);
        }
    }
    tw_ns next_sample = interval ? 0 : TW_NS_NEVER;
    uint32_t next_app = 0;
    for (;;) {
        tw_ns t = sc->duration_ns;
        if (next_app < sc->app_count && sc->apps[order[next_app]].start_ns < t) {
            t = sc->apps[order[next_app]].start_ns;
        }
        for (uint32_t a = 0; a < sc->app_count; a++) {
            if (c->apps[a].spawned && !c->apps[a].stopped && sc->apps[a].stop_ns < t) {
                t = sc->apps[a].stop_ns;
            }
        }
        t = tw_ns_min(t, next_sample);
        c->ops->run_until(c->w, t);
        if (c->lock) {
            c->lock(c->w, true);
        }
        for (uint32_t a = 0; a < sc->app_count; a++) {
            if (c->apps[a].spawned && !c->apps[a].stopped && sc->apps[a].stop_ns <= t &&
                sc->apps[a].stop_ns < sc->duration_ns) {
                stop_app(c, a);
            }
        }
        while (next_app < sc->app_count && sc->apps[order[next_app]].start_ns <= t) {
            tw_scen_spawn_app(c, order[next_app++]);
        }
        if (t == next_sample) {
            sample(c, t);
            next_sample += interval;
        }
        if (c->lock) {
            c->lock(c->w, false);
        }
        if (t >= sc->duration_ns) {
            break;
        }
    }
    if (interval) {
        if (c->lock) {
            c->lock(c->w, true);
        }
        sample(c, sc->duration_ns);
        if (c->lock) {
            c->lock(c->w, false);
        }
    }
    free(order);
}

static void report_metric(void *ctx, const char *name, uint64_t v)
{
    tw_json *j = ctx;
    tw_json_key(j, name);
    tw_json_u64(j, v);
}

void tw_scen_write_report(tw_scen_ctx *c, FILE *f, bool passed, uint64_t wall_ns)
{
    const tw_scen_verdict *vs = c->vs;
    tw_json j;
    tw_json_init(&j, f);
    tw_json_report_head(&j, c->o->file, c->sc->seed, c->ops->mode, passed);
    for (uint32_t i = 0; i < c->sc->expect_count; i++) {
        const tw_scenario_expect *e = &c->sc->expects[i];
        char exp[128];
        format_expected(e, exp, sizeof exp);
        tw_json_begin_object(&j);
        tw_json_key(&j, "name");
        tw_json_string(&j, e->name);
        tw_json_key(&j, "passed");
        tw_json_bool(&j, vs[i].passed);
        tw_json_key(&j, "observed");
        if (vs[i].found) {
            tw_json_u64(&j, vs[i].observed);
        } else {
            tw_json_null(&j);
        }
        tw_json_key(&j, "expected");
        tw_json_string(&j, exp);
        tw_json_key(&j, "metric");
        tw_json_string(&j, e->metric);
        tw_json_key(&j, "unit");
        tw_json_string(&j, tw_scenario_unit_name(e->unit));
        if (vs[i].unmeasured) {
            tw_json_key(&j, "unmeasured");
            tw_json_string(&j, vs[i].unmeasured);
        }
        tw_json_end_object(&j);
    }
    tw_json_end_array(&j);
    tw_json_key(&j, "metrics");
    tw_json_begin_object(&j);
    tw_scen_each_metric(c, report_metric, &j);
    tw_json_end_object(&j);
    uint64_t hash = c->ops->trace_hash ? c->ops->trace_hash(c->w) : 0;
    tw_json_report_tail(&j, c->ops->trace_hash ? &hash : NULL, c->ops->now(c->w), wall_ns,
                        c->ops->events(c->w));
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Loads the file and applies --set; 0 or an exit status. */
int tw_scen_load(const tw_scen_opts *o, tw_scenario **out)
{
    size_t len = 0;
    char *bytes = read_file(o->file, &len);
    if (bytes == NULL) {
        fprintf(stderr, "twin run: cannot read '%s': %s\n", o->file, strerror(errno));
        return TW_EXIT_USAGE;
    }
    char err[1024];
    int rc = tw_scenario_load(o->file, bytes, len, out, err, sizeof err);
    free(bytes);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err);
        return TW_EXIT_USAGE;
    }
    for (uint32_t i = 0; i < o->set_count; i++) {
        char key[256];
        const char *eq = strchr(o->sets[i], '=');
        if (eq == NULL || eq == o->sets[i] || (size_t)(eq - o->sets[i]) >= sizeof key) {
            fprintf(stderr, "twin run: --set: expected key=value, got '%s'\n", o->sets[i]);
            tw_scenario_free(*out);
            return TW_EXIT_USAGE;
        }
        memcpy(key, o->sets[i], (size_t)(eq - o->sets[i]));
        key[eq - o->sets[i]] = '\0';
        if (tw_scenario_set(*out, key, eq + 1, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            tw_scenario_free(*out);
            return TW_EXIT_USAGE;
        }
    }
    if (o->seed_given) {
        char seed[32];
        snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
        if (tw_scenario_set(*out, "seed", seed, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            tw_scenario_free(*out);
            return TW_EXIT_USAGE;
        }
    }
    return 0;
}

void tw_scen_print_summary(tw_scen_ctx *c, bool passed, uint32_t failed, uint64_t wall_ns)
{
    const tw_scenario *sc = c->sc;
    const tw_scen_verdict *vs = c->vs;
    char b1[32], b2[32];
    tw_ns now = c->ops->now(c->w);
    uint64_t events = c->ops->events(c->w);
    bool live = strcmp(c->ops->mode, "sim") != 0;
    if (!c->o->quiet) {
        uint32_t cores = 0;
        for (uint32_t h = 0; h < sc->host_count; h++) {
            cores += sc->hosts[h].cores;
        }
        printf("twin run %s: %s\n", c->o->file, sc->name);
        printf("  seed %" PRIu64 ", %u hosts (%u cores), %u links, %u switches, %u apps, %u faults\n",
               sc->seed, sc->host_count, cores, sc->link_count, sc->switch_count, sc->app_count,
               sc->fault_count);
        double wall_s = (double)wall_ns / 1e9;
        printf("  %-9s %s\n", live ? c->ops->mode : "simulated",
               tw_format_duration(now, b1, sizeof b1));
        printf("  %-9s %.3fs (%.1fx real time)\n", "wall", wall_s,
               wall_s > 0 ? (double)now / 1e9 / wall_s : 0.0);
        printf("  %-9s %" PRIu64 " (%.2fM events/s)\n", live ? "turns" : "events", events,
               wall_s > 0 ? (double)events / wall_s / 1e6 : 0.0);
        for (uint32_t a = 0; a < sc->app_count; a++) {
            const tw_scenario_app *ap = &sc->apps[a];
            uint64_t bytes = 0, tput = 0, p99 = 0;
            char path[160];
            snprintf(path, sizeof path, "app.%s.bytes", ap->name);
            tw_scen_metric_get(c, path, &bytes);
            snprintf(path, sizeof path, "app.%s.throughput", ap->name);
            tw_scen_metric_get(c, path, &tput);
            printf("  app %-12s %-11s on %-8s %12" PRIu64 " B  %9.3f Mbps", ap->name,
                   tw_scenario_app_type_name(ap->type), sc->hosts[ap->host].name, bytes,
                   (double)tput / 1e6);
            snprintf(path, sizeof path, "app.%s.latency.p99", ap->name);
            if (ap->type == TW_SCENARIO_APP_UDP_CLIENT || ap->type == TW_SCENARIO_APP_TCP_CLIENT ||
                ap->type == TW_SCENARIO_APP_HTTP_CLIENT) {
                tw_scen_metric_get(c, path, &p99);
                printf("  p99 %s", tw_format_duration(p99, b2, sizeof b2));
            }
            printf("\n");
        }
    }
    for (uint32_t i = 0; i < sc->expect_count; i++) {
        if (c->o->quiet && vs[i].passed) {
            continue;
        }
        const tw_scenario_expect *e = &sc->expects[i];
        char obs[48], exp[128];
        if (vs[i].found) {
            format_value(e->unit, vs[i].observed, obs, sizeof obs);
        } else {
            snprintf(obs, sizeof obs, "nothing");
        }
        format_expected(e, exp, sizeof exp);
        if (vs[i].unmeasured) {
            printf("  ✗ %s: not measured in %s mode: %s\n", e->name, c->ops->mode,
                   vs[i].unmeasured);
            continue;
        }
        printf("  %s %s: observed %s, expected %s\n", vs[i].passed ? "✓" : "✗", e->name, obs, exp);
    }
    if (!c->o->quiet) {
        printf("  %s: %u of %u expectations held\n", passed ? "passed" : "FAILED",
               sc->expect_count - failed, sc->expect_count);
    }
    if (c->ops->trace_hash) {
        printf("  trace hash %016" PRIx64 "\n", c->ops->trace_hash(c->w));
    } else {
        printf("  trace hash none (a %s run has no trace: it is not deterministic)\n",
               c->ops->mode);
    }
}

bool tw_scen_judge_all(tw_scen_ctx *c, tw_scen_result *r)
{
    bool passed = true;
    for (uint32_t i = 0; i < c->sc->expect_count; i++) {
        c->vs[i] = judge(c, i);
        passed &= c->vs[i].passed;
        r->failed += !c->vs[i].passed;
    }
    r->passed = passed;
    r->expectations = c->sc->expect_count;
    return passed;
}

void tw_scen_ctx_init(tw_scen_ctx *c, const tw_scen_opts *o, tw_scenario *sc)
{
    memset(c, 0, sizeof(*c));
    c->o = o;
    c->sc = sc;
    c->apps = calloc(sc->app_count ? sc->app_count : 1, sizeof(tw_scen_app_rt));
    c->ev = calloc(sc->expect_count ? sc->expect_count : 1, sizeof(tw_scen_eventually));
    c->vs = calloc(sc->expect_count ? sc->expect_count : 1, sizeof(tw_scen_verdict));
}

void tw_scen_ctx_free(tw_scen_ctx *c)
{
    for (uint32_t a = 0; a < c->sc->app_count; a++) {
        free(c->apps[a].frozen);
    }
    free(c->apps);
    free(c->ev);
    free(c->vs);
    tw_scenario_free(c->sc);
    c->sc = NULL;
}

