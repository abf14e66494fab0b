/* Apps: each type's keys come from one schema table (which keys it takes,
 * which it needs), so the checks, the did-you-mean suggestions and
 * docs/scenarios.md's table stay one thing. Apps are read after every host
 * so that a client may name any host as its server. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "scenario/internal.h"
#include "scenario/scenario.h"

static const char *const app_type_names[TW_SCENARIO_APP_COUNT] = {
    "udp_echo",  "udp_client", "tcp_echo",    "tcp_client",
    "bulk_send", "bulk_sink",  "http_server", "http_client",
};

const char *tw_scenario_app_type_name(tw_scenario_app_type t)
{
    return (unsigned)t < TW_SCENARIO_APP_COUNT ? app_type_names[t] : "unknown";
}

#define T(x) (1u << TW_SCENARIO_APP_##x)
#define SERVERS (T(UDP_ECHO) | T(TCP_ECHO) | T(BULK_SINK) | T(HTTP_SERVER))
#define REQUESTERS (T(UDP_CLIENT) | T(TCP_CLIENT) | T(HTTP_CLIENT))
#define ALL_TYPES ((1u << TW_SCENARIO_APP_COUNT) - 1)

typedef enum app_key_id {
    K_NAME,
    K_TYPE,
    K_CORE,
    K_START,
    K_PORT,
    K_SERVER,
    K_TO,
    K_RATE,
    K_CONCURRENCY,
    K_CONNECTIONS,
    K_LOOP,
    K_SIZE,
    K_COUNT,
    K_DURATION,
    K_BYTES,
    K_VERIFY,
    K_SITE,
    K_PAGES,
    K_PAGE_SIZE,
    K_COUNT_KEYS
} app_key_id;

typedef struct app_key {
    const char *key;
    uint32_t required; /* types that need it */
    uint32_t optional; /* types that may give it */
} app_key;

/* The schema: docs/scenarios.md's app table is this table. */
static const app_key app_keys[K_COUNT_KEYS] = {
    [K_NAME] = {"name", 0, ALL_TYPES},
    [K_TYPE] = {"type", ALL_TYPES, 0},
    [K_CORE] = {"core", 0, ALL_TYPES},
    [K_START] = {"start", 0, ALL_TYPES},
    [K_PORT] = {"port",
                T(UDP_ECHO) | T(TCP_ECHO) | T(BULK_SINK) | T(UDP_CLIENT) | T(TCP_CLIENT) |
                    T(BULK_SEND),
                T(HTTP_SERVER) | T(HTTP_CLIENT)},
    [K_SERVER] = {"server", REQUESTERS, 0},
    [K_TO] = {"to", T(BULK_SEND), 0},
    [K_RATE] = {"rate", 0, REQUESTERS},
    [K_CONCURRENCY] = {"concurrency", 0, T(UDP_CLIENT) | T(TCP_CLIENT)},
    [K_CONNECTIONS] = {"connections", 0, T(TCP_CLIENT) | T(HTTP_CLIENT)},
    [K_LOOP] = {"loop", 0, T(HTTP_CLIENT)},
    [K_SIZE] = {"size", 0, T(UDP_CLIENT) | T(TCP_CLIENT)},
    [K_COUNT] = {"count", 0, REQUESTERS},
    [K_DURATION] = {"duration", 0, REQUESTERS},
    [K_BYTES] = {"bytes", T(BULK_SEND), 0},
    [K_VERIFY] = {"verify", 0, T(BULK_SEND)},
    [K_SITE] = {"site", 0, T(HTTP_SERVER)},
    [K_PAGES] = {"pages", 0, T(HTTP_SERVER)},
    [K_PAGE_SIZE] = {"page_size", 0, T(HTTP_SERVER)},
};

static const char *const page_size_keys[] = {"dist", "min", "max", "mean", NULL};
static const char *const dist_names[] = {"fixed", "uniform", "exponential"};
static const char *const loop_names[] = {"closed", "open"};
static const char *const site_names[] = {"generated"};

#define UDP_PAYLOAD_MAX 65507u /* 65535 - 20 (IPv4) - 8 (UDP) */

/* The server type a client talks to; COUNT for servers. */
static tw_scenario_app_type server_of(tw_scenario_app_type t)
{
    switch (t) {
    case TW_SCENARIO_APP_UDP_CLIENT:
        return TW_SCENARIO_APP_UDP_ECHO;
    case TW_SCENARIO_APP_TCP_CLIENT:
        return TW_SCENARIO_APP_TCP_ECHO;
    case TW_SCENARIO_APP_BULK_SEND:
        return TW_SCENARIO_APP_BULK_SINK;
    case TW_SCENARIO_APP_HTTP_CLIENT:
        return TW_SCENARIO_APP_HTTP_SERVER;
    default:
        return TW_SCENARIO_APP_COUNT;
    }
}

static bool is_udp(tw_scenario_app_type t)
{
    return t == TW_SCENARIO_APP_UDP_ECHO || t == TW_SCENARIO_APP_UDP_CLIENT;
}

/* A scalar's text, or NULL for anything else (for keys read before the
 * mapping is checked). */
static const char *scalar_text(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int load_type(sc_ctx *c, const yaml_node_t *n, tw_scenario_app_type *out)
{
    static const char *const common[] = {"name", "type", "core", "start", NULL};
    if (n->type != YAML_MAPPING_NODE) {
        return sc_check_map(c, n, "an app", common);
    }
    /* The type decides which keys are valid, so it is read first. */
    const yaml_node_t *type = NULL;
    for (const yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
         p++) {
        const char *k = scalar_text(sc_node(c, p->key));
        if (k && strcmp(k, "type") == 0) {
            type = sc_node(c, p->value);
            break;
        }
    }
    if (type == NULL) {
        return sc_fail(c, n, "missing required key 'type'");
    }
    uint32_t t = 0;
    int rc = sc_enum(c, type, "app type", app_type_names, TW_SCENARIO_APP_COUNT, &t);
    *out = (tw_scenario_app_type)t;
    return rc;
}

static int check_app_keys(sc_ctx *c, const yaml_node_t *n, tw_scenario_app_type t)
{
    const char *keys[K_COUNT_KEYS + 1];
    uint32_t k = 0;
    uint32_t bit = 1u << t;
    for (uint32_t i = 0; i < K_COUNT_KEYS; i++) {
        if ((app_keys[i].required | app_keys[i].optional) & bit) {
            keys[k++] = app_keys[i].key;
        }
    }
    keys[k] = NULL;
    char what[48];
    snprintf(what, sizeof(what), "a %s app", app_type_names[t]);
    int rc = sc_check_map(c, n, what, keys);
    if (rc < 0) {
        return rc;
    }
    for (uint32_t i = 0; i < K_COUNT_KEYS; i++) {
        if ((app_keys[i].required & bit) && sc_need(c, n, app_keys[i].key) == NULL) {
            return -TW_EINVAL;
        }
    }
    return 0;
}

static int load_core(sc_ctx *c, const yaml_node_t *n, tw_scenario_app *a)
{
    const tw_scenario_host *h = &c->s->hosts[a->host];
    a->core = TW_SCENARIO_CORE_ANY;
    if (n == NULL ||
        (n->type == YAML_SCALAR_NODE && strcmp((const char *)n->data.scalar.value, "any") == 0)) {
        return 0;
    }
    uint64_t core = 0;
    int rc = sc_u64(c, n, "core", 0, UINT32_MAX - 1, &core);
    if (rc < 0) {
        return rc;
    }
    if (core >= h->cores) {
        return sc_fail(c, n, "host '%s' has no core %llu (its cores are 0 to %u)", h->name,
                       (unsigned long long)core, h->cores - 1);
    }
    a->core = (uint32_t)core;
    return 0;
}

/* "1000/s": requests (or datagrams) per second. */
static int load_rate(sc_ctx *c, const yaml_node_t *n, uint64_t *out)
{
    static const char expected[] = "a rate per second such as 1000/s";
    const char *t;
    int rc = sc_text(c, n, expected, &t);
    if (rc < 0) {
        return rc;
    }
    uint64_t v = 0;
    const char *p = t;
    while (*p >= '0' && *p <= '9' && v <= 1000000000ull) {
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (p == t || strcmp(p, "/s") != 0 || v == 0 || v > 1000000000ull) {
        char q[64];
        sc_quote(t, q, sizeof(q));
        if (p != t && strcmp(p, "/s") == 0) {
            return sc_fail(c, n, "'rate' must be between 1/s and 1000000000/s, got '%s'", q);
        }
        return sc_fail(c, n, "expected %s, got '%s'", expected, q);
    }
    *out = v;
    return 0;
}

static int load_peer(sc_ctx *c, const yaml_node_t *n, tw_scenario_app *a)
{
    tw_scenario *s = c->s;
    const char *t;
    int rc = sc_text(c, n, "a host, 'host.iface' or an IPv4 address", &t);
    if (rc < 0) {
        return rc;
    }
    tw_ipv4_addr addr;
    if (t[0] >= '0' && t[0] <= '9' && tw_ipv4_addr_parse(t, &addr) == 0) {
        a->peer_host = TW_SCENARIO_NONE;
        for (uint32_t h = 0; h < s->host_count && a->peer_host == TW_SCENARIO_NONE; h++) {
            for (uint32_t i = 0; i < s->hosts[h].iface_count; i++) {
                if (s->hosts[h].ifaces[i].addr == addr) {
                    a->peer_host = h;
                    a->peer_iface = i;
                    break;
                }
            }
        }
        if (a->peer_host == TW_SCENARIO_NONE) {
            return sc_fail(c, n, "no interface has address %s", t);
        }
    } else if ((rc = sc_ref_iface(c, n, t, &a->peer_host, &a->peer_iface)) < 0) {
        return rc;
    }
    const tw_scenario_host *ph = &s->hosts[a->peer_host];
    const tw_scenario_iface *pf = &ph->ifaces[a->peer_iface];
    a->peer_addr = pf->addr;
    if (a->peer_host == a->host) {
        return sc_fail(c, n, "app '%s' sends to its own host '%s' (twin hosts have no loopback)",
                       a->name, ph->name);
    }
    if (pf->link == TW_SCENARIO_NONE) {
        return sc_fail(c, n, "interface '%s.%s' is on no link, but app '%s' sends to it", ph->name,
                       pf->name, a->name);
    }
    return 0;
}

static int load_page_size(sc_ctx *c, const yaml_node_t *n, tw_scenario_size_dist *d)
{
    int rc;
    d->dist = TW_SCENARIO_DIST_FIXED;
    d->min_bytes = d->max_bytes = 16 * 1024;
    if (n == NULL) {
        return 0;
    }
    if (n->type != YAML_MAPPING_NODE) {
        rc = sc_size(c, n, "page_size", 1, 1ull << 30, &d->min_bytes);
        d->max_bytes = d->min_bytes;
        return rc;
    }
    uint32_t dist = 0;
    if ((rc = sc_check_map(c, n, "a size distribution", page_size_keys)) < 0) {
        return rc;
    }
    const yaml_node_t *dn = sc_need(c, n, "dist");
    if (dn == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_enum(c, dn, "distribution", dist_names, 3, &dist)) < 0) {
        return rc;
    }
    d->dist = (tw_scenario_dist)dist;
    d->min_bytes = 1;
    const char *need = dist == TW_SCENARIO_DIST_EXPONENTIAL ? "mean" : "min";
    if (sc_need(c, n, need) == NULL || sc_need(c, n, "max") == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_size(c, sc_get(c, n, "min"), "min", 1, 1ull << 30, &d->min_bytes)) < 0 ||
        (rc = sc_size(c, sc_get(c, n, "max"), "max", 1, 1ull << 30, &d->max_bytes)) < 0 ||
        (rc = sc_size(c, sc_get(c, n, "mean"), "mean", 1, 1ull << 30, &d->mean_bytes)) < 0) {
        return rc;
    }
    if (d->min_bytes > d->max_bytes) {
        return sc_fail(c, sc_get(c, n, "max"), "'max' must not be below 'min'");
    }
    if (dist == TW_SCENARIO_DIST_EXPONENTIAL &&
        (d->mean_bytes < d->min_bytes || d->mean_bytes > d->max_bytes)) {
        return sc_fail(c, sc_get(c, n, "mean"), "'mean' must lie between 'min' and 'max'");
    }
    if (dist == TW_SCENARIO_DIST_FIXED && d->min_bytes != d->max_bytes) {
        return sc_fail(c, sc_get(c, n, "max"), "a fixed size has 'min' equal to 'max'");
    }
    return 0;
}

/* Open or closed loop for the request-driven clients. */
static int load_loop(sc_ctx *c, const yaml_node_t *n, tw_scenario_app *a)
{
    const yaml_node_t *rate = sc_get(c, n, "rate");
    const yaml_node_t *conc = sc_get(c, n, "concurrency");
    int rc;
    if (a->type == TW_SCENARIO_APP_HTTP_CLIENT) {
        uint32_t loop = 0;
        if ((rc = sc_enum(c, sc_get(c, n, "loop"), "loop", loop_names, 2, &loop)) < 0) {
            return rc;
        }
        a->closed_loop = loop == 0;
        if (a->closed_loop && rate) {
            return sc_fail(c, sc_get_key(c, n, "rate"), "'rate' needs 'loop: open'");
        }
        if (!a->closed_loop && rate == NULL) {
            return sc_fail(c, n, "missing required key 'rate' (for 'loop: open')");
        }
        /* Closed loop: one request outstanding per connection. */
        a->concurrency = a->connections;
    } else {
        if (rate && conc) {
            return sc_fail(c, sc_get_key(c, n, "concurrency"),
                           "give either 'rate' (open loop) or 'concurrency' (closed loop), not "
                           "both");
        }
        if (!rate && !conc) {
            return sc_fail(c, n,
                           "missing required key 'rate' (open loop) or 'concurrency' (closed "
                           "loop)");
        }
        a->closed_loop = conc != NULL;
        if ((rc = sc_u32(c, conc, "concurrency", 1, 1000000, &a->concurrency)) < 0) {
            return rc;
        }
    }
    return rate ? load_rate(c, rate, &a->rate_per_s) : 0;
}

static bool uses(tw_scenario_app_type t, app_key_id k)
{
    return ((app_keys[k].required | app_keys[k].optional) >> t) & 1u;
}

static int load_fields(sc_ctx *c, const yaml_node_t *n, tw_scenario_app *a)
{
    tw_scenario *s = c->s;
    uint32_t site = 0;
    int rc;
    uint32_t port =
        a->type == TW_SCENARIO_APP_HTTP_SERVER || a->type == TW_SCENARIO_APP_HTTP_CLIENT ? 80 : 0;
    uint64_t size = 64;
    uint64_t size_max = is_udp(a->type) ? UDP_PAYLOAD_MAX : 16u << 20;
    tw_ns duration = 0;
    a->connections = 1;
    a->verify = true;
    a->pages = 100;
    a->stop_ns = s->duration_ns;
    if ((rc = load_core(c, sc_get(c, n, "core"), a)) < 0 ||
        (rc = sc_duration(c, sc_get(c, n, "start"), "start", 0, TW_SCENARIO_DURATION_MAX,
                          &a->start_ns)) < 0 ||
        (rc = sc_u32(c, sc_get(c, n, "port"), "port", 1, 65535, &port)) < 0 ||
        (rc = sc_u32(c, sc_get(c, n, "connections"), "connections", 1, 65535, &a->connections)) <
            0 ||
        (rc = sc_size(c, sc_get(c, n, "size"), "size", 1, size_max, &size)) < 0 ||
        (rc = sc_u64(c, sc_get(c, n, "count"), "count", 1, 1ull << 40, &a->count)) < 0 ||
        (rc = sc_duration(c, sc_get(c, n, "duration"), "duration", 1, TW_SCENARIO_DURATION_MAX,
                          &duration)) < 0 ||
        (rc = sc_size(c, sc_get(c, n, "bytes"), "bytes", 1, 1ull << 40, &a->bytes)) < 0 ||
        (rc = sc_bool(c, sc_get(c, n, "verify"), "verify", &a->verify)) < 0 ||
        (rc = sc_enum(c, sc_get(c, n, "site"), "site", site_names, 1, &site)) < 0 ||
        (rc = sc_u32(c, sc_get(c, n, "pages"), "pages", 1, 1000000, &a->pages)) < 0 ||
        (rc = load_page_size(c, sc_get(c, n, "page_size"), &a->page_size)) < 0) {
        return rc;
    }
    a->port = (uint16_t)port;
    a->size_bytes = (uint32_t)size;
    /* Fields a type does not take stay 0, so a driver never reads a
     * default that means nothing for it. */
    if (!uses(a->type, K_SIZE)) {
        a->size_bytes = 0;
    }
    if (!uses(a->type, K_CONNECTIONS) && a->type != TW_SCENARIO_APP_BULK_SEND) {
        a->connections = 0; /* bulk_send is one connection */
    }
    if (!uses(a->type, K_VERIFY)) {
        a->verify = false;
    }
    if (!uses(a->type, K_PAGES)) {
        a->pages = 0;
        a->page_size = (tw_scenario_size_dist){0};
    }
    if (a->start_ns >= s->duration_ns) {
        char at[32], end[32];
        sc_fmt_duration(a->start_ns, at, sizeof(at));
        sc_fmt_duration(s->duration_ns, end, sizeof(end));
        return sc_fail(c, sc_get(c, n, "start"),
                       "app '%s' starts at %s, after the scenario ends (duration %s)", a->name, at,
                       end);
    }
    /* An app stops at start + duration or at the end, whichever is first. */
    if (duration && duration < s->duration_ns - a->start_ns) {
        a->stop_ns = a->start_ns + duration;
    }
    if ((REQUESTERS & (1u << a->type)) && (rc = load_loop(c, n, a)) < 0) {
        return rc;
    }
    const yaml_node_t *peer = sc_get(c, n, a->type == TW_SCENARIO_APP_BULK_SEND ? "to" : "server");
    return peer ? load_peer(c, peer, a) : 0;
}

static int load_app(sc_ctx *c, const yaml_node_t *n, uint32_t host, uint32_t index, bool only)
{
    tw_scenario *s = c->s;
    tw_scenario_app *a = &s->apps[index];
    const tw_scenario_host *h = &s->hosts[host];
    int rc;
    a->host = host;
    a->peer_host = TW_SCENARIO_NONE;
    a->peer_iface = TW_SCENARIO_NONE;
    if ((rc = load_type(c, n, &a->type)) < 0 || (rc = check_app_keys(c, n, a->type)) < 0) {
        return rc;
    }
    const yaml_node_t *name = sc_get(c, n, "name");
    if (name) {
        if ((rc = sc_name(c, name, a->name)) < 0) {
            return rc;
        }
    } else if (only) {
        /* A host with one app lends it its name: `app.client.replies`. */
        memcpy(a->name, h->name, sizeof(a->name));
    } else {
        return sc_fail(c, n, "missing required key 'name' (host '%s' has several apps)", h->name);
    }
    if (tw_scenario_find_app(s, a->name) < index) {
        return sc_fail(c, name ? name : n, "duplicate app name '%s'", a->name);
    }
    bool linked = false;
    for (uint32_t i = 0; i < h->iface_count; i++) {
        linked |= h->ifaces[i].link != TW_SCENARIO_NONE;
    }
    if (!linked) {
        return sc_fail(c, n, "app '%s' runs on host '%s', which is on no link", a->name, h->name);
    }
    return load_fields(c, n, a);
}

/* A server port is taken once per host and protocol. */
static int check_ports(sc_ctx *c, const yaml_node_t *n, uint32_t index)
{
    const tw_scenario *s = c->s;
    const tw_scenario_app *a = &s->apps[index];
    if (!(SERVERS & (1u << a->type))) {
        return 0;
    }
    for (uint32_t i = s->hosts[a->host].first_app; i < index; i++) {
        const tw_scenario_app *b = &s->apps[i];
        if ((SERVERS & (1u << b->type)) && b->port == a->port &&
            is_udp(a->type) == is_udp(b->type)) {
            const yaml_node_t *port = sc_get(c, n, "port");
            return sc_fail(
                c, port ? port : n, "%s port %u on host '%s' is already used by app '%s'",
                is_udp(a->type) ? "UDP" : "TCP", a->port, s->hosts[a->host].name, b->name);
        }
    }
    return 0;
}

/* A client of a twin host needs a server of the matching type on its port;
 * kernel hosts run real programs the loader cannot see. */
static int check_server(sc_ctx *c, const yaml_node_t *n, uint32_t index)
{
    const tw_scenario *s = c->s;
    const tw_scenario_app *a = &s->apps[index];
    tw_scenario_app_type want = server_of(a->type);
    if (want == TW_SCENARIO_APP_COUNT || a->peer_host == TW_SCENARIO_NONE) {
        return 0;
    }
    const tw_scenario_host *ph = &s->hosts[a->peer_host];
    if (ph->kind == TW_SCENARIO_HOST_KERNEL) {
        return 0;
    }
    for (uint32_t i = ph->first_app; i < ph->first_app + ph->app_count; i++) {
        if (s->apps[i].type == want && s->apps[i].port == a->port) {
            return 0;
        }
    }
    const yaml_node_t *peer = sc_get(c, n, a->type == TW_SCENARIO_APP_BULK_SEND ? "to" : "server");
    return sc_fail(c, peer, "no %s app listens on port %u of host '%s' (app '%s' sends there)",
                   app_type_names[want], a->port, ph->name, a->name);
}

int sc_load_apps(sc_ctx *c)
{
    tw_scenario *s = c->s;
    uint32_t total = 0;
    int rc;
    for (uint32_t h = 0; h < s->host_count; h++) {
        if (c->host_apps[h] == 0) {
            continue;
        }
        const yaml_node_t *list = sc_node(c, c->host_apps[h]);
        if ((rc = sc_check_seq(c, list, "apps", TW_SCENARIO_APPS_MAX)) < 0) {
            return rc;
        }
        total += sc_seq_len(list);
    }
    s->apps = sc_alloc(c->arena, total ? total : 1, sizeof(*s->apps));
    int *nodes = sc_alloc(c->arena, total ? total : 1, sizeof(int));
    uint32_t next = 0;
    for (uint32_t h = 0; h < s->host_count; h++) {
        s->hosts[h].first_app = next;
        if (c->host_apps[h] == 0) {
            continue;
        }
        const yaml_node_t *list = sc_node(c, c->host_apps[h]);
        uint32_t n = sc_seq_len(list);
        for (uint32_t i = 0; i < n; i++, next++) {
            s->app_count = next; /* name lookups see the apps read so far */
            nodes[next] = sc_seq_item(list, i);
            const yaml_node_t *an = sc_node(c, nodes[next]);
            if ((rc = load_app(c, an, h, next, n == 1)) < 0 ||
                (rc = check_ports(c, an, next)) < 0) {
                return rc;
            }
        }
        s->hosts[h].app_count = n;
    }
    TW_ASSERT(next == total);
    s->app_count = total;
    for (uint32_t i = 0; i < total; i++) {
        if ((rc = check_server(c, sc_node(c, nodes[i]), i)) < 0) {
            return rc;
        }
    }
    return 0;
}
