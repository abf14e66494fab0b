/* The metric naming scheme: the paths expectations compare, the names the
 * report uses, and their units. A path is
 *
 *   app.<app>.<leaf>                      per app type (table below)
 *   host.<host>.<leaf>                    balance, drops, drops.<reason>, tcp.*, icmp.*,
 *                                         handoffs, resteers (live), ...
 *   host.<host>.core.<n>.<leaf>           busy, events, inbox_drops
 *   host.<host>.iface.<iface>.<leaf>      rx_frames, tx_frames, rx_bytes, ...
 *   link.<link>.<forward|reverse>.<leaf>  the link model's counters
 *   switch.<switch>.<leaf>                forwarded, flooded, drops, learned
 *
 * The loader checks a path against the scenario (the app, host, link or
 * switch must exist, the leaf must belong to it) so a typo is an error at
 * load time rather than a metric that is never found; the drivers publish
 * exactly these names. docs/scenarios.md lists them with their meaning. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "link/link.h"
#include "net/drop.h"
#include "scenario/internal.h"
#include "scenario/scenario.h"

typedef struct leaf {
    const char *name;
    tw_scenario_unit unit;
    uint32_t types; /* app leaves: the app types that publish it */
} leaf;

#define T(x) (1u << TW_SCENARIO_APP_##x)
#define TCP_APPS                                                                                   \
    (T(TCP_ECHO) | T(TCP_CLIENT) | T(BULK_SEND) | T(BULK_SINK) | T(HTTP_SERVER) | T(HTTP_CLIENT))
#define LATENCY_APPS (T(UDP_CLIENT) | T(TCP_CLIENT) | T(HTTP_CLIENT))
#define ALL_APPS ((1u << TW_SCENARIO_APP_COUNT) - 1)

static const leaf app_leaves[] = {
    {"bytes", TW_SCENARIO_UNIT_BYTES, ALL_APPS},
    {"throughput", TW_SCENARIO_UNIT_BPS, ALL_APPS},
    {"requests", TW_SCENARIO_UNIT_COUNT,
     T(UDP_ECHO) | T(TCP_ECHO) | T(TCP_CLIENT) | T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"sent", TW_SCENARIO_UNIT_COUNT, T(UDP_CLIENT)},
    {"replies", TW_SCENARIO_UNIT_COUNT, T(UDP_CLIENT) | T(TCP_CLIENT)},
    {"responses", TW_SCENARIO_UNIT_COUNT, T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"responses_2xx", TW_SCENARIO_UNIT_COUNT, T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"responses_4xx", TW_SCENARIO_UNIT_COUNT, T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"responses_5xx", TW_SCENARIO_UNIT_COUNT, T(HTTP_SERVER) | T(HTTP_CLIENT)},
    {"errors", TW_SCENARIO_UNIT_COUNT, T(HTTP_CLIENT)},
    {"timeouts", TW_SCENARIO_UNIT_COUNT, T(UDP_CLIENT) | TCP_APPS},
    {"resets", TW_SCENARIO_UNIT_COUNT, TCP_APPS},
    {"retransmits", TW_SCENARIO_UNIT_COUNT, TCP_APPS},
    {"connections", TW_SCENARIO_UNIT_COUNT, TCP_APPS},
    {"intact", TW_SCENARIO_UNIT_COUNT, T(BULK_SEND)},
    {"completion", TW_SCENARIO_UNIT_NS, T(BULK_SEND)},
    {"streams", TW_SCENARIO_UNIT_COUNT, T(BULK_SINK)},
    {"corrupt", TW_SCENARIO_UNIT_COUNT, T(BULK_SINK)},
    {"mismatches", TW_SCENARIO_UNIT_COUNT, T(BULK_SINK)},
    {"latency.p50", TW_SCENARIO_UNIT_NS, LATENCY_APPS},
    {"latency.p90", TW_SCENARIO_UNIT_NS, LATENCY_APPS},
    {"latency.p99", TW_SCENARIO_UNIT_NS, LATENCY_APPS},
    {"latency.p999", TW_SCENARIO_UNIT_NS, LATENCY_APPS},
    {"latency.max", TW_SCENARIO_UNIT_NS, LATENCY_APPS},
};

static const leaf host_leaves[] = {
    {"balance", TW_SCENARIO_UNIT_PPM, 0},        {"drops", TW_SCENARIO_UNIT_COUNT, 0},
    {"tcp.resets", TW_SCENARIO_UNIT_COUNT, 0},   {"tcp.retransmits", TW_SCENARIO_UNIT_COUNT, 0},
    {"tcp.timeouts", TW_SCENARIO_UNIT_COUNT, 0}, {"tcp.connections", TW_SCENARIO_UNIT_COUNT, 0},
    {"crashes", TW_SCENARIO_UNIT_COUNT, 0},
    {"handoffs", TW_SCENARIO_UNIT_COUNT, 0},
    /* Live only: frames a receive queue's core handed to their flow's core. */
    {"resteers", TW_SCENARIO_UNIT_COUNT, 0},
    /* ICMP echo: what a ping from a kernel host shows (docs/live.md). */
    {"icmp.echo_requests_in", TW_SCENARIO_UNIT_COUNT, 0},
    {"icmp.echo_replies_out", TW_SCENARIO_UNIT_COUNT, 0},
    {"icmp.echo_requests_out", TW_SCENARIO_UNIT_COUNT, 0},
    {"icmp.echo_replies_in", TW_SCENARIO_UNIT_COUNT, 0},
    /* Pools in use now: back to 0 once the apps stopped and their
     * connections closed (what `twin fuzz` checks for leaks). */
    {"tcp.conns", TW_SCENARIO_UNIT_COUNT, 0},    {"frame_buffers", TW_SCENARIO_UNIT_COUNT, 0},
    {"arp_pending", TW_SCENARIO_UNIT_COUNT, 0},  {"reasm_pending", TW_SCENARIO_UNIT_COUNT, 0},
};

static const leaf core_leaves[] = {
    {"busy", TW_SCENARIO_UNIT_NS, 0},
    {"events", TW_SCENARIO_UNIT_COUNT, 0},
    {"inbox_drops", TW_SCENARIO_UNIT_COUNT, 0},
};

static const leaf iface_leaves[] = {
    {"rx_frames", TW_SCENARIO_UNIT_COUNT, 0}, {"tx_frames", TW_SCENARIO_UNIT_COUNT, 0},
    {"rx_bytes", TW_SCENARIO_UNIT_BYTES, 0},  {"tx_bytes", TW_SCENARIO_UNIT_BYTES, 0},
    {"drops", TW_SCENARIO_UNIT_COUNT, 0},
};

static const leaf link_leaves[] = {
    {"frames_in", TW_SCENARIO_UNIT_COUNT, 0},
    {"frames_out", TW_SCENARIO_UNIT_COUNT, 0},
    {"bytes_in", TW_SCENARIO_UNIT_BYTES, 0},
    {"bytes_out", TW_SCENARIO_UNIT_BYTES, 0},
    {"drops", TW_SCENARIO_UNIT_COUNT, 0},
    {"duplicated", TW_SCENARIO_UNIT_COUNT, 0},
    {"reordered", TW_SCENARIO_UNIT_COUNT, 0},
    {"corrupted", TW_SCENARIO_UNIT_COUNT, 0},
    {"queue_packets_high", TW_SCENARIO_UNIT_COUNT, 0},
    {"queue_bytes_high", TW_SCENARIO_UNIT_BYTES, 0},
};

static const leaf switch_leaves[] = {
    {"forwarded", TW_SCENARIO_UNIT_COUNT, 0},
    {"flooded", TW_SCENARIO_UNIT_COUNT, 0},
    {"drops", TW_SCENARIO_UNIT_COUNT, 0},
    {"learned", TW_SCENARIO_UNIT_COUNT, 0},
};

static const char *const unit_names[] = {"count", "ns", "bps", "bytes", "ppm"};

const char *tw_scenario_unit_name(tw_scenario_unit u)
{
    return (unsigned)u < TW_ARRAY_LEN(unit_names) ? unit_names[u] : "unknown";
}

/* Up to this many candidates are offered to the suggester. */
#define CANDS_MAX 96

typedef struct cands {
    const char *name[CANDS_MAX];
    tw_scenario_unit unit[CANDS_MAX];
    uint32_t n;
} cands;

static void add(cands *cs, const char *name, tw_scenario_unit unit)
{
    if (cs->n < CANDS_MAX) {
        cs->name[cs->n] = name;
        cs->unit[cs->n] = unit;
        cs->n++;
    }
}

static void add_leaves(cands *cs, const leaf *l, size_t n, uint32_t types)
{
    for (size_t i = 0; i < n; i++) {
        if (types == 0 || (l[i].types & types)) {
            add(cs, l[i].name, l[i].unit);
        }
    }
}

/* rest against the candidates, "drops.<reason>" forms included through
 * the drop tables: the unit, or an error suggesting the nearest. */
static int match(sc_ctx *c, const yaml_node_t *n, const char *rest, const cands *cs,
                 const char *owner, tw_scenario_unit *unit)
{
    for (uint32_t i = 0; i < cs->n; i++) {
        if (strcmp(rest, cs->name[i]) == 0) {
            *unit = cs->unit[i];
            return 0;
        }
    }
    char q[64];
    sc_quote(rest, q, sizeof(q));
    const char *hint = sc_suggest(rest, cs->name, cs->n);
    if (hint) {
        return sc_fail(c, n, "%s has no metric '%s' (did you mean '%s'?)", owner, q, hint);
    }
    return sc_fail(c, n, "%s has no metric '%s' (see docs/scenarios.md, \"Metrics\")", owner, q);
}

/* "drops.<reason>" with the reason from a table of names. */
static bool drop_leaf(const char *rest, const char *(*name)(int), int count)
{
    if (strncmp(rest, "drops.", 6) != 0) {
        return false;
    }
    for (int i = 0; i < count; i++) {
        if (strcmp(rest + 6, name(i)) == 0) {
            return true;
        }
    }
    return false;
}

static const char *stack_drop_name(int i)
{
    return tw_drop_name((tw_drop_reason)i);
}
static const char *link_drop_name(int i)
{
    return tw_link_drop_name((tw_link_drop)i);
}

/* Splits "name.rest" at the first dot into name (bounded) and rest. */
static bool split(const char *s, char *head, size_t len, const char **rest)
{
    const char *dot = strchr(s, '.');
    if (dot == NULL || (size_t)(dot - s) >= len || dot == s) {
        return false;
    }
    memcpy(head, s, (size_t)(dot - s));
    head[dot - s] = '\0';
    *rest = dot + 1;
    return true;
}

static int host_metric(sc_ctx *c, const yaml_node_t *n, uint32_t h, const char *rest,
                       tw_scenario_unit *unit)
{
    const tw_scenario_host *host = &c->s->hosts[h];
    char owner[64];
    char head[TW_SCENARIO_NAME_MAX];
    const char *leafname;
    cands cs = {.n = 0};
    sc_format(owner, sizeof(owner), "host '%s'", host->name);
    if (drop_leaf(rest, stack_drop_name, TW_DROP_COUNT)) {
        *unit = TW_SCENARIO_UNIT_COUNT;
        return 0;
    }
    if (strncmp(rest, "core.", 5) == 0 && split(rest + 5, head, sizeof(head), &leafname)) {
        uint64_t core = 0;
        const char *p = head;
        for (; *p >= '0' && *p <= '9' && core < TW_SCENARIO_CORES_MAX; p++) {
            core = core * 10 + (uint64_t)(*p - '0');
        }
        if (*p != '\0' || core >= host->cores) {
            char q[32];
            sc_quote(head, q, sizeof(q));
            return sc_fail(c, n, "host '%s' has no core '%s' (its cores are 0 to %u)", host->name,
                           q, host->cores - 1);
        }
        add_leaves(&cs, core_leaves, TW_ARRAY_LEN(core_leaves), 0);
        sc_format(owner, sizeof(owner), "core %llu of host '%s'", (unsigned long long)core,
                  host->name);
        return match(c, n, leafname, &cs, owner, unit);
    }
    if (strncmp(rest, "iface.", 6) == 0 && split(rest + 6, head, sizeof(head), &leafname)) {
        uint32_t hi, fi;
        char ref[2 * TW_SCENARIO_NAME_MAX];
        sc_format(ref, sizeof(ref), "%s.%s", host->name, head);
        int rc = sc_ref_iface(c, n, ref, &hi, &fi);
        if (rc < 0) {
            return rc;
        }
        add_leaves(&cs, iface_leaves, TW_ARRAY_LEN(iface_leaves), 0);
        sc_format(owner, sizeof(owner), "interface '%s.%s'", host->name, head);
        return match(c, n, leafname, &cs, owner, unit);
    }
    add_leaves(&cs, host_leaves, TW_ARRAY_LEN(host_leaves), 0);
    return match(c, n, rest, &cs, owner, unit);
}

static int link_metric(sc_ctx *c, const yaml_node_t *n, uint32_t l, const char *rest,
                       tw_scenario_unit *unit)
{
    char dir[16];
    const char *leafname;
    char owner[64];
    const char *name = c->s->links[l].name;
    if (!split(rest, dir, sizeof(dir), &leafname) ||
        (strcmp(dir, "forward") != 0 && strcmp(dir, "reverse") != 0)) {
        return sc_fail(c, n,
                       "link metrics name a direction: 'link.%s.forward.<metric>' or "
                       "'link.%s.reverse.<metric>'",
                       name, name);
    }
    if (drop_leaf(leafname, link_drop_name, TW_LINK_DROP_COUNT)) {
        *unit = TW_SCENARIO_UNIT_COUNT;
        return 0;
    }
    cands cs = {.n = 0};
    add_leaves(&cs, link_leaves, TW_ARRAY_LEN(link_leaves), 0);
    sc_format(owner, sizeof(owner), "link '%s'", name);
    return match(c, n, leafname, &cs, owner, unit);
}

int sc_metric_check(sc_ctx *c, const yaml_node_t *n, const char *path, tw_scenario_unit *unit)
{
    const tw_scenario *s = c->s;
    char kind[16];
    char name[TW_SCENARIO_NAME_MAX];
    const char *rest, *leafname;
    char q[64];
    sc_quote(path, q, sizeof(q));
    if (strlen(path) >= TW_SCENARIO_METRIC_MAX) {
        return sc_fail(c, n, "metric path '%s' is too long (at most %u characters)", q,
                       TW_SCENARIO_METRIC_MAX - 1);
    }
    if (!split(path, kind, sizeof(kind), &rest) ||
        (strcmp(kind, "app") != 0 && strcmp(kind, "host") != 0 && strcmp(kind, "link") != 0 &&
         strcmp(kind, "switch") != 0)) {
        return sc_fail(c, n,
                       "expected a metric such as app.client.replies (starting with app., host., "
                       "link. or switch.), got '%s'",
                       q);
    }
    if (!split(rest, name, sizeof(name), &leafname)) {
        return sc_fail(c, n, "metric '%s' names no %s and metric (%s.<name>.<metric>)", q, kind,
                       kind);
    }
    uint32_t idx;
    int rc;
    cands cs = {.n = 0};
    char owner[80];
    if (strcmp(kind, "app") == 0) {
        if ((rc = sc_ref_app(c, n, name, &idx)) < 0) {
            return rc;
        }
        const tw_scenario_app *a = &s->apps[idx];
        add_leaves(&cs, app_leaves, TW_ARRAY_LEN(app_leaves), 1u << a->type);
        sc_format(owner, sizeof(owner), "%s app '%s'", tw_scenario_app_type_name(a->type), a->name);
        return match(c, n, leafname, &cs, owner, unit);
    }
    if (strcmp(kind, "host") == 0) {
        if ((rc = sc_ref_host(c, n, name, &idx)) < 0) {
            return rc;
        }
        return host_metric(c, n, idx, leafname, unit);
    }
    if (strcmp(kind, "link") == 0) {
        if ((rc = sc_ref_link(c, n, name, &idx)) < 0) {
            return rc;
        }
        return link_metric(c, n, idx, leafname, unit);
    }
    idx = tw_scenario_find_switch(s, name);
    if (idx == TW_SCENARIO_NONE) {
        sc_quote(name, q, sizeof(q));
        return sc_fail(c, n, "no switch '%s'", q);
    }
    add_leaves(&cs, switch_leaves, TW_ARRAY_LEN(switch_leaves), 0);
    sc_format(owner, sizeof(owner), "switch '%s'", s->switches[idx].name);
    return match(c, n, leafname, &cs, owner, unit);
}
