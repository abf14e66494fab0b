/* Scenario loading: the document, the top level, hosts, switches and links.
 *
 * IMPLEMENTATION NOTES
 *
 * - libyaml builds the node tree (yaml_parser_load); it allocates with
 *   malloc, which is acceptable here because loading is init time and the
 *   tree is freed before tw_scenario_load returns.
 * - Sections are read in a fixed order (top level, hosts, switches, links,
 *   apps, faults, expect, capture, live, swarm) so that each may refer to
 *   what came before it, and the first error found is the one reported.
 * - Every check that spans sections (an address used twice, an interface
 *   on two links, a switch with too many links) is made where the second
 *   use is read, so the message points at the second use and names the
 *   first. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/mem.h"
#include "scenario/internal.h"
#include "scenario/scenario.h"

/* ---- lookups -------------------------------------------------------------- */

uint32_t tw_scenario_find_host(const tw_scenario *s, const char *name)
{
    for (uint32_t i = 0; i < s->host_count; i++) {
        if (strcmp(s->hosts[i].name, name) == 0) {
            return i;
        }
    }
    return TW_SCENARIO_NONE;
}

uint32_t tw_scenario_find_link(const tw_scenario *s, const char *name)
{
    for (uint32_t i = 0; i < s->link_count; i++) {
        if (strcmp(s->links[i].name, name) == 0) {
            return i;
        }
    }
    return TW_SCENARIO_NONE;
}

uint32_t tw_scenario_find_switch(const tw_scenario *s, const char *name)
{
    for (uint32_t i = 0; i < s->switch_count; i++) {
        if (strcmp(s->switches[i].name, name) == 0) {
            return i;
        }
    }
    return TW_SCENARIO_NONE;
}

uint32_t tw_scenario_find_app(const tw_scenario *s, const char *name)
{
    for (uint32_t i = 0; i < s->app_count; i++) {
        if (strcmp(s->apps[i].name, name) == 0) {
            return i;
        }
    }
    return TW_SCENARIO_NONE;
}

/* A did-you-mean over the names in an array of structs that start with
 * their name (hosts, links, switches and apps all do). */
static const char *suggest_name(sc_ctx *c, const char *s, const void *base, size_t stride,
                                uint32_t count)
{
    const char **cands = sc_alloc(c->arena, count ? count : 1, sizeof(char *));
    for (uint32_t i = 0; i < count; i++) {
        cands[i] = (const char *)base + (size_t)i * stride;
    }
    return sc_suggest(s, cands, count);
}

static int no_such(sc_ctx *c, const yaml_node_t *n, const char *what, const char *name,
                   const char *hint)
{
    char q[64];
    sc_quote(name, q, sizeof(q));
    if (hint) {
        return sc_fail(c, n, "no %s '%s' (did you mean '%s'?)", what, q, hint);
    }
    return sc_fail(c, n, "no %s '%s'", what, q);
}

int sc_ref_host(sc_ctx *c, const yaml_node_t *n, const char *name, uint32_t *out)
{
    tw_scenario *s = c->s;
    *out = tw_scenario_find_host(s, name);
    if (*out != TW_SCENARIO_NONE) {
        return 0;
    }
    return no_such(c, n, "host", name,
                   suggest_name(c, name, s->hosts, sizeof(*s->hosts), s->host_count));
}

int sc_ref_link(sc_ctx *c, const yaml_node_t *n, const char *name, uint32_t *out)
{
    tw_scenario *s = c->s;
    *out = tw_scenario_find_link(s, name);
    if (*out != TW_SCENARIO_NONE) {
        return 0;
    }
    return no_such(c, n, "link", name,
                   suggest_name(c, name, s->links, sizeof(*s->links), s->link_count));
}

int sc_ref_app(sc_ctx *c, const yaml_node_t *n, const char *name, uint32_t *out)
{
    tw_scenario *s = c->s;
    *out = tw_scenario_find_app(s, name);
    if (*out != TW_SCENARIO_NONE) {
        return 0;
    }
    return no_such(c, n, "app", name,
                   suggest_name(c, name, s->apps, sizeof(*s->apps), s->app_count));
}

static uint32_t find_iface(const tw_scenario_host *h, const char *name)
{
    for (uint32_t i = 0; i < h->iface_count; i++) {
        if (strcmp(h->ifaces[i].name, name) == 0) {
            return i;
        }
    }
    return TW_SCENARIO_NONE;
}

int sc_ref_iface(sc_ctx *c, const yaml_node_t *n, const char *text, uint32_t *host, uint32_t *iface)
{
    char hname[TW_SCENARIO_NAME_MAX];
    const char *dot = strchr(text, '.');
    size_t hlen = dot ? (size_t)(dot - text) : strlen(text);
    if (hlen >= sizeof(hname)) {
        char q[64];
        sc_quote(text, q, sizeof(q));
        return sc_fail(c, n, "no host '%s'", q);
    }
    memcpy(hname, text, hlen);
    hname[hlen] = '\0';
    int rc = sc_ref_host(c, n, hname, host);
    if (rc < 0) {
        return rc;
    }
    const tw_scenario_host *h = &c->s->hosts[*host];
    if (dot == NULL) {
        if (h->iface_count != 1) {
            return sc_fail(c, n, "host '%s' has %u interfaces: name one, such as '%s.%s'", h->name,
                           h->iface_count, h->name, h->ifaces[0].name);
        }
        *iface = 0;
        return 0;
    }
    *iface = find_iface(h, dot + 1);
    if (*iface != TW_SCENARIO_NONE) {
        return 0;
    }
    char q[64];
    sc_quote(dot + 1, q, sizeof(q));
    const char *hint = suggest_name(c, dot + 1, h->ifaces, sizeof(*h->ifaces), h->iface_count);
    if (hint) {
        return sc_fail(c, n, "host '%s' has no interface '%s' (did you mean '%s'?)", h->name, q,
                       hint);
    }
    return sc_fail(c, n, "host '%s' has no interface '%s'", h->name, q);
}

/* ---- hosts ---------------------------------------------------------------- */

static const char *const host_keys[] = {"name",       "kind",    "cores",   "router",
                                        "interfaces", "address", "gateway", "routes",
                                        "cost",       "tcp",     "apps",    NULL};
static const char *const iface_keys[] = {"name", "address", "mtu", "mac", NULL};
static const char *const route_keys[] = {"to", "via", NULL};
static const char *const cost_keys[] = {"msg", "timer", "output", NULL};
static const char *const cost_entry_keys[] = {"base", "per_byte", NULL};
static const char *const host_kind_names[] = {"twin", "kernel"};

/* Names of hosts and switches share one namespace: a link endpoint may
 * name either. */
static int check_node_name(sc_ctx *c, const yaml_node_t *n, const char *name, uint32_t hosts,
                           uint32_t switches)
{
    for (uint32_t i = 0; i < hosts; i++) {
        if (strcmp(c->s->hosts[i].name, name) == 0) {
            return sc_fail(c, n, "duplicate name '%s' (already a host)", name);
        }
    }
    for (uint32_t i = 0; i < switches; i++) {
        if (strcmp(c->s->switches[i].name, name) == 0) {
            return sc_fail(c, n, "duplicate name '%s' (already a switch)", name);
        }
    }
    return 0;
}

static int check_address(sc_ctx *c, const yaml_node_t *n, uint32_t host, uint32_t iface,
                         tw_ipv4_addr a, uint8_t len)
{
    char text[16];
    sc_fmt_addr(a, text, sizeof(text));
    if (len == 0) {
        return sc_fail(c, n, "prefix length of %s must be 1 to 32, got 0", text);
    }
    if (tw_ipv4_addr_is_multicast(a) || tw_ipv4_addr_is_loopback(a) ||
        tw_ipv4_addr_is_unspecified(a) || tw_ipv4_addr_is_broadcast(a)) {
        return sc_fail(c, n, "%s cannot be an interface address", text);
    }
    /* /31 and /32 have no network or broadcast address (RFC 3021). */
    if (len <= 30) {
        tw_ipv4_addr host_bits = a & ~tw_ipv4_prefix_mask(len);
        if (host_bits == 0 || host_bits == ~tw_ipv4_prefix_mask(len)) {
            return sc_fail(c, n, "%s is the %s address of its /%u", text,
                           host_bits == 0 ? "network" : "broadcast", len);
        }
    }
    /* Earlier hosts, then this host's earlier interfaces. */
    for (uint32_t h = 0; h <= host; h++) {
        const tw_scenario_host *o = &c->s->hosts[h];
        uint32_t count = h == host ? iface : o->iface_count;
        for (uint32_t i = 0; i < count; i++) {
            if (o->ifaces[i].addr == a) {
                return sc_fail(c, n, "address %s is already used by %s.%s", text, o->name,
                               o->ifaces[i].name);
            }
        }
    }
    return 0;
}

static int load_iface(sc_ctx *c, const yaml_node_t *n, uint32_t host, uint32_t index)
{
    tw_scenario_host *h = &c->s->hosts[host];
    tw_scenario_iface *f = &h->ifaces[index];
    int rc = sc_check_map(c, n, "an interface", iface_keys);
    const yaml_node_t *name = rc ? NULL : sc_need(c, n, "name");
    const yaml_node_t *addr = name ? sc_need(c, n, "address") : NULL;
    if (addr == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_name(c, name, f->name)) < 0) {
        return rc;
    }
    if (find_iface(h, f->name) < index) {
        return sc_fail(c, name, "duplicate interface name '%s' on host '%s'", f->name, h->name);
    }
    if ((rc = sc_prefix(c, addr, &f->addr, &f->prefix_len)) < 0 ||
        (rc = check_address(c, addr, host, index, f->addr, f->prefix_len)) < 0) {
        return rc;
    }
    f->mtu = 1500;
    if ((rc = sc_u32(c, sc_get(c, n, "mtu"), "mtu", 68, 65535, &f->mtu)) < 0) {
        return rc;
    }
    const yaml_node_t *mac = sc_get(c, n, "mac");
    if (mac) {
        if ((rc = sc_mac(c, mac, f->mac)) < 0) {
            return rc;
        }
        f->mac_given = true;
    }
    return 0;
}

static int load_ifaces(sc_ctx *c, const yaml_node_t *hn, uint32_t host)
{
    tw_scenario_host *h = &c->s->hosts[host];
    const yaml_node_t *list = sc_get(c, hn, "interfaces");
    const yaml_node_t *addr = sc_get(c, hn, "address");
    int rc;
    if (list && addr) {
        return sc_fail(c, sc_get_key(c, hn, "address"),
                       "give either 'address' or 'interfaces', not both");
    }
    if (addr) {
        /* The shorthand for the common single-interface host. */
        h->iface_count = 1;
        h->ifaces = sc_alloc(c->arena, 1, sizeof(*h->ifaces));
        snprintf(h->ifaces[0].name, sizeof(h->ifaces[0].name), "eth0");
        h->ifaces[0].mtu = 1500;
        h->ifaces[0].link = TW_SCENARIO_NONE;
        if ((rc = sc_prefix(c, addr, &h->ifaces[0].addr, &h->ifaces[0].prefix_len)) < 0) {
            return rc;
        }
        return check_address(c, addr, host, 0, h->ifaces[0].addr, h->ifaces[0].prefix_len);
    }
    if (list == NULL) {
        return sc_fail(c, hn, "missing required key 'interfaces' (or 'address' for one interface)");
    }
    if ((rc = sc_check_seq(c, list, "interfaces", TW_SCENARIO_IFACES_MAX)) < 0) {
        return rc;
    }
    if (sc_seq_len(list) == 0) {
        return sc_fail(c, list, "host '%s' needs at least one interface", h->name);
    }
    h->iface_count = sc_seq_len(list);
    h->ifaces = sc_alloc(c->arena, h->iface_count, sizeof(*h->ifaces));
    for (uint32_t i = 0; i < h->iface_count; i++) {
        h->ifaces[i].link = TW_SCENARIO_NONE;
    }
    for (uint32_t i = 0; i < h->iface_count; i++) {
        if ((rc = load_iface(c, sc_node(c, sc_seq_item(list, i)), host, i)) < 0) {
            return rc;
        }
    }
    return 0;
}

/* The interface whose connected prefix holds `via`, or an error. */
static int route_iface(sc_ctx *c, const yaml_node_t *n, const tw_scenario_host *h, tw_ipv4_addr via,
                       uint32_t *out)
{
    char text[16];
    sc_fmt_addr(via, text, sizeof(text));
    for (uint32_t i = 0; i < h->iface_count; i++) {
        if (h->ifaces[i].addr == via) {
            return sc_fail(c, n, "gateway %s is an address of host '%s' itself", text, h->name);
        }
    }
    for (uint32_t i = 0; i < h->iface_count; i++) {
        const tw_scenario_iface *f = &h->ifaces[i];
        if (tw_ipv4_addr_in_subnet(via, f->addr, f->prefix_len)) {
            *out = i;
            return 0;
        }
    }
    char net[16];
    tw_ipv4_addr first = h->ifaces[0].addr & tw_ipv4_prefix_mask(h->ifaces[0].prefix_len);
    sc_fmt_addr(first, net, sizeof(net));
    return sc_fail(c, n,
                   "gateway %s is on none of the connected prefixes of host '%s' (such as %s/%u)",
                   text, h->name, net, h->ifaces[0].prefix_len);
}

static int add_route(sc_ctx *c, const yaml_node_t *at, tw_scenario_host *h, tw_ipv4_addr dest,
                     uint8_t len, const yaml_node_t *via_node)
{
    tw_scenario_route *r = &h->routes[h->route_count];
    int rc;
    for (uint32_t i = 0; i < h->route_count; i++) {
        if (h->routes[i].dest == dest && h->routes[i].prefix_len == len) {
            char text[16];
            sc_fmt_addr(dest, text, sizeof(text));
            return sc_fail(c, at, "duplicate route to %s/%u on host '%s'", text, len, h->name);
        }
    }
    r->dest = dest;
    r->prefix_len = len;
    if ((rc = sc_addr(c, via_node, &r->via)) < 0 ||
        (rc = route_iface(c, via_node, h, r->via, &r->iface)) < 0) {
        return rc;
    }
    h->route_count++;
    return 0;
}

static int load_routes(sc_ctx *c, const yaml_node_t *hn, tw_scenario_host *h)
{
    const yaml_node_t *list = sc_get(c, hn, "routes");
    const yaml_node_t *gw = sc_get(c, hn, "gateway");
    uint32_t n = 0;
    int rc;
    if (list) {
        if ((rc = sc_check_seq(c, list, "routes", TW_SCENARIO_ROUTES_MAX - 1)) < 0) {
            return rc;
        }
        n = sc_seq_len(list);
    }
    h->routes = sc_alloc(c->arena, n + 1, sizeof(*h->routes));
    for (uint32_t i = 0; i < n; i++) {
        const yaml_node_t *rn = sc_node(c, sc_seq_item(list, i));
        if ((rc = sc_check_map(c, rn, "a route", route_keys)) < 0) {
            return rc;
        }
        const yaml_node_t *to = sc_need(c, rn, "to");
        const yaml_node_t *via = to ? sc_need(c, rn, "via") : NULL;
        if (via == NULL) {
            return -TW_EINVAL;
        }
        tw_ipv4_addr dest;
        uint8_t len;
        if ((rc = sc_prefix(c, to, &dest, &len)) < 0) {
            return rc;
        }
        if (dest & ~tw_ipv4_prefix_mask(len)) {
            char text[16], net[16];
            sc_fmt_addr(dest, text, sizeof(text));
            sc_fmt_addr(dest & tw_ipv4_prefix_mask(len), net, sizeof(net));
            return sc_fail(c, to, "%s/%u is not a network address (did you mean %s/%u?)", text, len,
                           net, len);
        }
        if ((rc = add_route(c, to, h, dest, len, via)) < 0) {
            return rc;
        }
    }
    if (gw) {
        return add_route(c, sc_get_key(c, hn, "gateway"), h, 0, 0, gw);
    }
    return 0;
}

static int load_cost(sc_ctx *c, const yaml_node_t *hn, tw_scenario_host *h)
{
    const yaml_node_t *n = sc_get(c, hn, "cost");
    int rc;
    if (n == NULL) {
        return 0;
    }
    if (h->kind == TW_SCENARIO_HOST_KERNEL) {
        return sc_fail(c, sc_get_key(c, hn, "cost"),
                       "'cost' applies to twin hosts only (host '%s' is a kernel host)", h->name);
    }
    if ((rc = sc_check_map(c, n, "a cost profile", cost_keys)) < 0) {
        return rc;
    }
    for (uint32_t k = 0; k < TW_SCENARIO_COST_COUNT; k++) {
        const yaml_node_t *e = sc_get(c, n, cost_keys[k]);
        if (e == NULL) {
            continue;
        }
        if ((rc = sc_check_map(c, e, "a cost", cost_entry_keys)) < 0) {
            return rc;
        }
        tw_scenario_cost *cost = &h->cost[k];
        uint64_t ps = 0;
        if ((rc = sc_duration(c, sc_get(c, e, "base"), "base", 0, TW_SEC(1), &cost->base_ns)) < 0 ||
            (rc = sc_duration_ps(c, sc_get(c, e, "per_byte"), "per_byte", 1000000000ull, &ps)) <
                0) {
            return rc;
        }
        cost->ps_per_byte = (uint32_t)ps;
        cost->set = true;
    }
    return 0;
}

static int load_host(sc_ctx *c, const yaml_node_t *hn, uint32_t index)
{
    tw_scenario_host *h = &c->s->hosts[index];
    int rc = sc_check_map(c, hn, "a host", host_keys);
    const yaml_node_t *name = rc ? NULL : sc_need(c, hn, "name");
    if (name == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_name(c, name, h->name)) < 0 ||
        (rc = check_node_name(c, name, h->name, index, 0)) < 0) {
        return rc;
    }
    uint32_t kind = TW_SCENARIO_HOST_TWIN;
    h->cores = 1;
    if ((rc = sc_enum(c, sc_get(c, hn, "kind"), "host kind", host_kind_names, 2, &kind)) < 0 ||
        (rc = sc_u32(c, sc_get(c, hn, "cores"), "cores", 1, TW_SCENARIO_CORES_MAX, &h->cores)) <
            0 ||
        (rc = sc_bool(c, sc_get(c, hn, "router"), "router", &h->router)) < 0) {
        return rc;
    }
    h->kind = (tw_scenario_host_kind)kind;
    if ((rc = load_ifaces(c, hn, index)) < 0 || (rc = load_routes(c, hn, h)) < 0 ||
        (rc = load_cost(c, hn, h)) < 0 || (rc = sc_load_host_tcp(c, hn, h)) < 0) {
        return rc;
    }
    const yaml_node_t *apps = sc_get(c, hn, "apps");
    c->host_apps[index] = apps ? (int)(apps - c->doc->nodes.start) + 1 : 0;
    return 0;
}

/* Derived MACs are 02:74:77 (locally administered, "tw"), then the host
 * index in two bytes and the interface index; a given MAC must not clash
 * with any of them. */
static int assign_macs(sc_ctx *c, const yaml_node_t *hosts)
{
    tw_scenario *s = c->s;
    for (uint32_t h = 0; h < s->host_count; h++) {
        for (uint32_t i = 0; i < s->hosts[h].iface_count; i++) {
            tw_scenario_iface *f = &s->hosts[h].ifaces[i];
            if (!f->mac_given) {
                const uint8_t mac[6] = {0x02,       0x74,      0x77, (uint8_t)(h >> 8),
                                        (uint8_t)h, (uint8_t)i};
                memcpy(f->mac, mac, 6);
            }
        }
    }
    for (uint32_t h = 0; h < s->host_count; h++) {
        for (uint32_t i = 0; i < s->hosts[h].iface_count; i++) {
            const tw_scenario_iface *f = &s->hosts[h].ifaces[i];
            if (!f->mac_given) {
                continue;
            }
            for (uint32_t h2 = 0; h2 < s->host_count; h2++) {
                for (uint32_t i2 = 0; i2 < s->hosts[h2].iface_count; i2++) {
                    const tw_scenario_iface *g = &s->hosts[h2].ifaces[i2];
                    if ((h2 != h || i2 != i) && memcmp(f->mac, g->mac, 6) == 0) {
                        const yaml_node_t *hn = sc_node(c, sc_seq_item(hosts, h));
                        return sc_fail(c, hn, "%s.%s has the same MAC address as %s.%s",
                                       s->hosts[h].name, f->name, s->hosts[h2].name, g->name);
                    }
                }
            }
        }
    }
    return 0;
}

int sc_load_hosts(sc_ctx *c, const yaml_node_t *root)
{
    const yaml_node_t *list = sc_need(c, root, "hosts");
    int rc;
    if (list == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_check_seq(c, list, "hosts", TW_SCENARIO_HOSTS_MAX)) < 0) {
        return rc;
    }
    if (sc_seq_len(list) == 0) {
        return sc_fail(c, list, "a scenario needs at least one host");
    }
    tw_scenario *s = c->s;
    uint32_t n = sc_seq_len(list);
    s->hosts = sc_alloc(c->arena, n, sizeof(*s->hosts));
    c->host_apps = sc_alloc(c->arena, n, sizeof(int));
    for (uint32_t i = 0; i < n; i++) {
        s->host_count = i; /* lookups see only the hosts read so far */
        if ((rc = load_host(c, sc_node(c, sc_seq_item(list, i)), i)) < 0) {
            return rc;
        }
    }
    s->host_count = n;
    return assign_macs(c, list);
}

/* ---- switches ------------------------------------------------------------- */

static const char *const switch_keys[] = {"name", "ports", "queue", "mac_table", NULL};
static const char *const switch_queue_keys[] = {"packets", "bytes", NULL};

static int load_switch(sc_ctx *c, const yaml_node_t *n, uint32_t index)
{
    tw_scenario_switch *sw = &c->s->switches[index];
    int rc = sc_check_map(c, n, "a switch", switch_keys);
    const yaml_node_t *name = rc ? NULL : sc_need(c, n, "name");
    if (name == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_name(c, name, sw->name)) < 0 ||
        (rc = check_node_name(c, name, sw->name, c->s->host_count, index)) < 0) {
        return rc;
    }
    sw->ports_auto = true;
    const yaml_node_t *ports = sc_get(c, n, "ports");
    if (ports && !(ports->type == YAML_SCALAR_NODE &&
                   strcmp((const char *)ports->data.scalar.value, "auto") == 0)) {
        sw->ports_auto = false;
        if ((rc = sc_u32(c, ports, "ports", 1, TW_SCENARIO_SWITCH_PORTS_MAX, &sw->ports)) < 0) {
            return rc;
        }
    }
    sw->queue_packets_limit = 1000;
    sw->queue_bytes_limit = 1000u * 1514u;
    sw->mac_table_size = 1024;
    const yaml_node_t *q = sc_get(c, n, "queue");
    if (q) {
        uint64_t bytes = sw->queue_bytes_limit;
        if ((rc = sc_check_map(c, q, "a switch queue", switch_queue_keys)) < 0 ||
            (rc = sc_u32(c, sc_get(c, q, "packets"), "packets", 1, TW_LINK_FRAMES_MAX,
                         &sw->queue_packets_limit)) < 0 ||
            (rc = sc_size(c, sc_get(c, q, "bytes"), "bytes", 1514, UINT32_MAX, &bytes)) < 0) {
            return rc;
        }
        sw->queue_bytes_limit = (uint32_t)bytes;
    }
    return sc_u32(c, sc_get(c, n, "mac_table"), "mac_table", 1, 1u << 20, &sw->mac_table_size);
}

int sc_load_switches(sc_ctx *c, const yaml_node_t *root)
{
    const yaml_node_t *list = sc_get(c, root, "switches");
    int rc;
    if (list == NULL) {
        return 0;
    }
    if ((rc = sc_check_seq(c, list, "switches", TW_SCENARIO_SWITCHES_MAX)) < 0) {
        return rc;
    }
    tw_scenario *s = c->s;
    uint32_t n = sc_seq_len(list);
    s->switches = sc_alloc(c->arena, n ? n : 1, sizeof(*s->switches));
    for (uint32_t i = 0; i < n; i++) {
        s->switch_count = i;
        if ((rc = load_switch(c, sc_node(c, sc_seq_item(list, i)), i)) < 0) {
            return rc;
        }
    }
    s->switch_count = n;
    return 0;
}

/* ---- links ---------------------------------------------------------------- */

#define LINK_PROP_KEYS                                                                             \
    "bandwidth", "delay", "jitter", "queue", "loss", "duplicate", "reorder", "corrupt", "mtu"

static const char *const link_keys[] = {"name",    "endpoints", LINK_PROP_KEYS,
                                        "forward", "reverse",   NULL};
static const char *const link_dir_keys[] = {LINK_PROP_KEYS, NULL};
static const char *const jitter_keys[] = {"max", "reorders", NULL};
static const char *const queue_keys[] = {"packets", "bytes", "aqm", "target", "interval", NULL};
static const char *const loss_keys[] = {"gilbert", NULL};
static const char *const gilbert_keys[] = {"good_to_bad", "bad_to_good", "loss_good", "loss_bad",
                                           NULL};
static const char *const reorder_keys[] = {"ratio", "delay", NULL};
static const char *const aqm_names[] = {"droptail", "codel"};

static int load_bandwidth(sc_ctx *c, const yaml_node_t *n, tw_link_config *cfg)
{
    if (n && n->type == YAML_SCALAR_NODE &&
        strcmp((const char *)n->data.scalar.value, "unlimited") == 0) {
        cfg->bandwidth_bps = 0;
        return 0;
    }
    return sc_rate(c, n, "bandwidth", TW_LINK_BANDWIDTH_MIN, TW_LINK_BANDWIDTH_MAX,
                   &cfg->bandwidth_bps);
}

static int load_jitter(sc_ctx *c, const yaml_node_t *n, tw_link_config *cfg)
{
    int rc;
    if (n == NULL || n->type != YAML_MAPPING_NODE) {
        return sc_duration(c, n, "jitter", 0, TW_LINK_DELAY_MAX, &cfg->jitter_ns);
    }
    if ((rc = sc_check_map(c, n, "a jitter", jitter_keys)) < 0) {
        return rc;
    }
    const yaml_node_t *max = sc_need(c, n, "max");
    if (max == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_duration(c, max, "max", 0, TW_LINK_DELAY_MAX, &cfg->jitter_ns)) < 0) {
        return rc;
    }
    return sc_bool(c, sc_get(c, n, "reorders"), "reorders", &cfg->jitter_reorders);
}

static int load_queue(sc_ctx *c, const yaml_node_t *n, tw_link_config *cfg)
{
    int rc;
    uint64_t bytes = cfg->queue_bytes_limit;
    uint32_t aqm = cfg->aqm;
    if (n == NULL) {
        return 0;
    }
    if ((rc = sc_check_map(c, n, "a queue", queue_keys)) < 0 ||
        (rc = sc_u32(c, sc_get(c, n, "packets"), "packets", 1, TW_LINK_FRAMES_MAX,
                     &cfg->queue_packets_limit)) < 0 ||
        (rc = sc_size(c, sc_get(c, n, "bytes"), "bytes", 1, UINT32_MAX, &bytes)) < 0 ||
        (rc = sc_enum(c, sc_get(c, n, "aqm"), "queue discipline", aqm_names, 2, &aqm)) < 0 ||
        (rc = sc_duration(c, sc_get(c, n, "target"), "target", 1, TW_LINK_CODEL_INTERVAL_MAX,
                          &cfg->codel_target_ns)) < 0 ||
        (rc = sc_duration(c, sc_get(c, n, "interval"), "interval", 1, TW_LINK_CODEL_INTERVAL_MAX,
                          &cfg->codel_interval_ns)) < 0) {
        return rc;
    }
    cfg->queue_bytes_limit = (uint32_t)bytes;
    cfg->aqm = (tw_link_aqm)aqm;
    return 0;
}

static int load_loss(sc_ctx *c, const yaml_node_t *n, tw_link_config *cfg,
                     tw_scenario_loss_model *model)
{
    int rc;
    if (n == NULL) {
        return 0;
    }
    const tw_link_config def = tw_link_config_default();
    if (n->type != YAML_MAPPING_NODE) {
        /* Choosing Bernoulli turns Gilbert-Elliott off, so a direction can
         * override the shared model entirely. */
        cfg->gilbert = def.gilbert;
        *model = TW_SCENARIO_LOSS_BERNOULLI;
        return sc_ratio(c, n, "loss", &cfg->loss);
    }
    if ((rc = sc_check_map(c, n, "a loss model", loss_keys)) < 0) {
        return rc;
    }
    const yaml_node_t *g = sc_need(c, n, "gilbert");
    if (g == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_check_map(c, g, "a Gilbert-Elliott model", gilbert_keys)) < 0) {
        return rc;
    }
    const yaml_node_t *gb = sc_need(c, g, "good_to_bad");
    const yaml_node_t *bg = gb ? sc_need(c, g, "bad_to_good") : NULL;
    if (bg == NULL) {
        return -TW_EINVAL;
    }
    cfg->loss = TW_RATIO_ZERO;
    cfg->gilbert = def.gilbert;
    *model = TW_SCENARIO_LOSS_GILBERT;
    if ((rc = sc_ratio(c, gb, "good_to_bad", &cfg->gilbert.good_to_bad)) < 0 ||
        (rc = sc_ratio(c, bg, "bad_to_good", &cfg->gilbert.bad_to_good)) < 0 ||
        (rc = sc_ratio(c, sc_get(c, g, "loss_good"), "loss_good", &cfg->gilbert.loss_good)) < 0 ||
        (rc = sc_ratio(c, sc_get(c, g, "loss_bad"), "loss_bad", &cfg->gilbert.loss_bad)) < 0) {
        return rc;
    }
    if (cfg->gilbert.bad_to_good.num == 0) {
        return sc_fail(c, bg, "'bad_to_good' must be above 0%% (the bad state would never end)");
    }
    return 0;
}

static int load_reorder(sc_ctx *c, const yaml_node_t *n, tw_link_config *cfg)
{
    int rc;
    if (n == NULL || n->type != YAML_MAPPING_NODE) {
        return sc_ratio(c, n, "reorder", &cfg->reorder);
    }
    if ((rc = sc_check_map(c, n, "a reorder", reorder_keys)) < 0) {
        return rc;
    }
    const yaml_node_t *ratio = sc_need(c, n, "ratio");
    const yaml_node_t *delay = ratio ? sc_need(c, n, "delay") : NULL;
    if (delay == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_ratio(c, ratio, "ratio", &cfg->reorder)) < 0) {
        return rc;
    }
    return sc_duration(c, delay, "delay", 1, TW_LINK_DELAY_MAX, &cfg->reorder_delay_ns);
}

/* The keys one direction may set, applied over what cfg holds already. */
static int load_link_props(sc_ctx *c, const yaml_node_t *n, tw_link_config *cfg,
                           tw_scenario_loss_model *model)
{
    int rc;
    if ((rc = load_bandwidth(c, sc_get(c, n, "bandwidth"), cfg)) < 0 ||
        (rc = sc_duration(c, sc_get(c, n, "delay"), "delay", 0, TW_LINK_DELAY_MAX,
                          &cfg->delay_ns)) < 0 ||
        (rc = load_jitter(c, sc_get(c, n, "jitter"), cfg)) < 0 ||
        (rc = load_queue(c, sc_get(c, n, "queue"), cfg)) < 0 ||
        (rc = load_loss(c, sc_get(c, n, "loss"), cfg, model)) < 0 ||
        (rc = sc_ratio(c, sc_get(c, n, "duplicate"), "duplicate", &cfg->duplicate)) < 0 ||
        (rc = load_reorder(c, sc_get(c, n, "reorder"), cfg)) < 0 ||
        (rc = sc_ratio(c, sc_get(c, n, "corrupt"), "corrupt", &cfg->corrupt)) < 0 ||
        (rc = sc_u32(c, sc_get(c, n, "mtu"), "mtu", 68, TW_LINK_MTU_MAX, &cfg->mtu)) < 0) {
        return rc;
    }
    return 0;
}

/* Where a direction's property was set: its own `forward:`/`reverse:`
 * entry, else the link's shared one, else the link itself. */
static const yaml_node_t *prop_node(sc_ctx *c, const yaml_node_t *n, int dir, const char *key)
{
    const yaml_node_t *dn = sc_get(c, n, dir == TW_SCENARIO_FORWARD ? "forward" : "reverse");
    const yaml_node_t *v = dn ? sc_get(c, dn, key) : NULL;
    if (v == NULL) {
        v = sc_get(c, n, key);
    }
    return v ? v : n;
}

static int check_link_dir(sc_ctx *c, const yaml_node_t *n, const tw_scenario_link *l, int dir)
{
    const tw_link_config *cfg = &l->dir[dir];
    const char *dname = dir == TW_SCENARIO_FORWARD ? "forward" : "reverse";
    if (cfg->reorder.num > 0 && cfg->reorder_delay_ns == 0) {
        return sc_fail(c, prop_node(c, n, dir, "reorder"),
                       "link '%s' %s: reorder needs a 'delay' (how long reordered frames are "
                       "held back): write reorder: {ratio: ..., delay: ...}",
                       l->name, dname);
    }
    if (cfg->queue_bytes_limit < cfg->mtu + cfg->header_bytes) {
        return sc_fail(c, prop_node(c, n, dir, "queue"),
                       "link '%s' %s: queue bytes (%u) must hold one full frame (%u bytes: mtu "
                       "%u plus a %u-byte header)",
                       l->name, dname, cfg->queue_bytes_limit, cfg->mtu + cfg->header_bytes,
                       cfg->mtu, cfg->header_bytes);
    }
    const char *what = NULL;
    if (tw_link_config_check(cfg, &what) < 0) {
        return sc_fail(c, n, "link '%s' %s: invalid %s", l->name, dname, what);
    }
    return 0;
}

static int attach(sc_ctx *c, const yaml_node_t *n, uint32_t link, uint32_t end)
{
    tw_scenario *s = c->s;
    tw_scenario_link *l = &s->links[link];
    tw_scenario_end *e = &l->end[end];
    const char *t;
    int rc = sc_text(c, n, "an endpoint such as 'client.eth0' or a switch name", &t);
    if (rc < 0) {
        return rc;
    }
    uint32_t sw = strchr(t, '.') ? TW_SCENARIO_NONE : tw_scenario_find_switch(s, t);
    if (sw != TW_SCENARIO_NONE) {
        tw_scenario_switch *x = &s->switches[sw];
        if (!x->ports_auto && x->ports_used == x->ports) {
            return sc_fail(c, n, "switch '%s' has %u ports, all in use", x->name, x->ports);
        }
        if (x->ports_used == TW_SCENARIO_SWITCH_PORTS_MAX) {
            return sc_fail(c, n, "switch '%s' has too many links (at most %u)", x->name,
                           TW_SCENARIO_SWITCH_PORTS_MAX);
        }
        e->kind = TW_SCENARIO_END_SWITCH;
        e->sw = sw;
        e->port = x->ports_used++;
        if (end == 1 && l->end[0].kind == TW_SCENARIO_END_SWITCH && l->end[0].sw == sw) {
            return sc_fail(c, n, "link '%s' joins switch '%s' to itself", l->name, x->name);
        }
        return 0;
    }
    if (strchr(t, '.') == NULL && tw_scenario_find_host(s, t) == TW_SCENARIO_NONE) {
        char q[64];
        sc_quote(t, q, sizeof(q));
        const char **cands =
            sc_alloc(c->arena, s->host_count + s->switch_count + 1, sizeof(char *));
        for (uint32_t i = 0; i < s->host_count; i++) {
            cands[i] = s->hosts[i].name;
        }
        for (uint32_t i = 0; i < s->switch_count; i++) {
            cands[s->host_count + i] = s->switches[i].name;
        }
        const char *hint = sc_suggest(t, cands, s->host_count + s->switch_count);
        if (hint) {
            return sc_fail(c, n, "no host or switch '%s' (did you mean '%s'?)", q, hint);
        }
        return sc_fail(c, n, "no host or switch '%s'", q);
    }
    uint32_t host, iface;
    if ((rc = sc_ref_iface(c, n, t, &host, &iface)) < 0) {
        return rc;
    }
    tw_scenario_iface *f = &s->hosts[host].ifaces[iface];
    if (f->link == link) {
        return sc_fail(c, n, "link '%s' joins '%s.%s' to itself", l->name, s->hosts[host].name,
                       f->name);
    }
    if (f->link != TW_SCENARIO_NONE) {
        return sc_fail(c, n, "interface '%s.%s' is already on link '%s'", s->hosts[host].name,
                       f->name, s->links[f->link].name);
    }
    e->kind = TW_SCENARIO_END_IFACE;
    e->host = host;
    e->iface = iface;
    f->link = link;
    f->link_end = end;
    return 0;
}

static int load_link(sc_ctx *c, const yaml_node_t *n, uint32_t index)
{
    tw_scenario *s = c->s;
    tw_scenario_link *l = &s->links[index];
    int rc = sc_check_map(c, n, "a link", link_keys);
    const yaml_node_t *ends = rc ? NULL : sc_need(c, n, "endpoints");
    if (ends == NULL) {
        return -TW_EINVAL;
    }
    const yaml_node_t *name = sc_get(c, n, "name");
    if (name) {
        if ((rc = sc_name(c, name, l->name)) < 0) {
            return rc;
        }
    } else {
        snprintf(l->name, sizeof(l->name), "link%u", index);
    }
    if (tw_scenario_find_link(s, l->name) < index) {
        return sc_fail(c, name ? name : n, "duplicate link name '%s'", l->name);
    }
    if ((rc = sc_check_seq(c, ends, "endpoints", 2)) < 0) {
        return rc;
    }
    if (sc_seq_len(ends) != 2) {
        return sc_fail(c, ends, "a link has exactly two endpoints, got %u", sc_seq_len(ends));
    }
    for (uint32_t e = 0; e < 2; e++) {
        if ((rc = attach(c, sc_node(c, sc_seq_item(ends, e)), index, e)) < 0) {
            return rc;
        }
    }
    l->dir[0] = tw_link_config_default();
    if ((rc = load_link_props(c, n, &l->dir[0], &l->loss_model[0])) < 0) {
        return rc;
    }
    l->dir[1] = l->dir[0];
    l->loss_model[1] = l->loss_model[0];
    static const char *const dir_keys[2] = {"forward", "reverse"};
    for (int d = 0; d < 2; d++) {
        const yaml_node_t *dn = sc_get(c, n, dir_keys[d]);
        if (dn == NULL) {
            continue;
        }
        if ((rc = sc_check_map(c, dn, "a direction's properties", link_dir_keys)) < 0 ||
            (rc = load_link_props(c, dn, &l->dir[d], &l->loss_model[d])) < 0) {
            return rc;
        }
    }
    for (int d = 0; d < 2; d++) {
        if ((rc = check_link_dir(c, n, l, d)) < 0) {
            return rc;
        }
    }
    return 0;
}

int sc_load_links(sc_ctx *c, const yaml_node_t *root)
{
    const yaml_node_t *list = sc_get(c, root, "links");
    tw_scenario *s = c->s;
    int rc;
    if (list) {
        if ((rc = sc_check_seq(c, list, "links", TW_SCENARIO_LINKS_MAX)) < 0) {
            return rc;
        }
        uint32_t n = sc_seq_len(list);
        s->links = sc_alloc(c->arena, n ? n : 1, sizeof(*s->links));
        for (uint32_t i = 0; i < n; i++) {
            s->link_count = i;
            if ((rc = load_link(c, sc_node(c, sc_seq_item(list, i)), i)) < 0) {
                return rc;
            }
        }
        s->link_count = n;
    }
    /* `ports: auto` is as many ports as links reach the switch. */
    for (uint32_t i = 0; i < s->switch_count; i++) {
        if (s->switches[i].ports_auto) {
            s->switches[i].ports = s->switches[i].ports_used;
        }
    }
    return 0;
}
