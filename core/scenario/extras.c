/* The sections that configure observation and execution rather than the
 * world: capture (pcap, trace, metric sampling), live (backend and mapping
 * hints) and swarm (ranges for randomised fault knobs). */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "scenario/internal.h"
#include "scenario/scenario.h"

/* ---- capture -------------------------------------------------------------- */

static const char *const capture_keys[] = {"pcap", "trace", "metrics", NULL};

static int load_pcap_entry(sc_ctx *c, const yaml_node_t *n, tw_scenario_pcap *p)
{
    const tw_scenario *s = c->s;
    const char *t;
    int rc = sc_text(c, n, "a link name or 'host.iface'", &t);
    if (rc < 0) {
        return rc;
    }
    if (strchr(t, '.') == NULL) {
        p->is_link = true;
        return sc_ref_link(c, n, t, &p->link);
    }
    if ((rc = sc_ref_iface(c, n, t, &p->host, &p->iface)) < 0) {
        return rc;
    }
    p->link = s->hosts[p->host].ifaces[p->iface].link;
    if (p->link == TW_SCENARIO_NONE) {
        return sc_fail(c, n, "interface '%s' is on no link: nothing to capture", t);
    }
    return 0;
}

int sc_load_capture(sc_ctx *c, const yaml_node_t *root)
{
    const yaml_node_t *n = sc_get(c, root, "capture");
    tw_scenario_capture *cap = &c->s->capture;
    int rc;
    if (n == NULL) {
        return 0;
    }
    if ((rc = sc_check_map(c, n, "a capture section", capture_keys)) < 0 ||
        (rc = sc_bool(c, sc_get(c, n, "trace"), "trace", &cap->trace)) < 0 ||
        (rc = sc_duration(c, sc_get(c, n, "metrics"), "metrics", 1, TW_SCENARIO_DURATION_MAX,
                          &cap->metrics_interval_ns)) < 0) {
        return rc;
    }
    const yaml_node_t *pcap = sc_get(c, n, "pcap");
    if (pcap == NULL) {
        return 0;
    }
    if (pcap->type == YAML_SCALAR_NODE &&
        strcmp((const char *)pcap->data.scalar.value, "all") == 0) {
        cap->pcap_all = true;
        return 0;
    }
    if (pcap->type == YAML_SCALAR_NODE &&
        strcmp((const char *)pcap->data.scalar.value, "none") == 0) {
        return 0;
    }
    if ((rc = sc_check_seq(c, pcap, "pcap", TW_SCENARIO_PCAPS_MAX)) < 0) {
        return rc;
    }
    cap->pcap_count = sc_seq_len(pcap);
    cap->pcaps = sc_alloc(c->arena, cap->pcap_count ? cap->pcap_count : 1, sizeof(*cap->pcaps));
    for (uint32_t i = 0; i < cap->pcap_count; i++) {
        if ((rc = load_pcap_entry(c, sc_node(c, sc_seq_item(pcap, i)), &cap->pcaps[i])) < 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- live ----------------------------------------------------------------- */

static const char *const live_keys[] = {"backend", "pin", "cpus", "programs", NULL};
static const char *const backend_names[] = {"default", "xdp", "uring", "tap", "poll"};

const char *tw_scenario_backend_name(tw_scenario_backend b)
{
    return (unsigned)b < TW_ARRAY_LEN(backend_names) ? backend_names[b] : "unknown";
}

static int load_cpus(sc_ctx *c, const yaml_node_t *n)
{
    tw_scenario *s = c->s;
    int rc;
    if (n->type != YAML_MAPPING_NODE) {
        return sc_fail(c, n, "expected a mapping of host names to CPU lists, got %s",
                       n->type == YAML_SEQUENCE_NODE ? "a list" : "a value");
    }
    for (const yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = sc_node(c, p->key);
        const yaml_node_t *v = sc_node(c, p->value);
        const char *t;
        uint32_t h;
        if ((rc = sc_text(c, k, "a host name", &t)) < 0 || (rc = sc_ref_host(c, k, t, &h)) < 0) {
            return rc;
        }
        tw_scenario_host *host = &s->hosts[h];
        if (host->live_cpus) {
            return sc_fail(c, k, "duplicate key '%s'", host->name);
        }
        if ((rc = sc_check_seq(c, v, "cpus", TW_SCENARIO_CORES_MAX)) < 0) {
            return rc;
        }
        if (sc_seq_len(v) != host->cores) {
            return sc_fail(c, v, "host '%s' has %u core%s but %u CPU%s listed", host->name,
                           host->cores, host->cores == 1 ? "" : "s", sc_seq_len(v),
                           sc_seq_len(v) == 1 ? " is" : "s are");
        }
        uint32_t *cpus = sc_alloc(c->arena, host->cores, sizeof(uint32_t));
        for (uint32_t i = 0; i < host->cores; i++) {
            const yaml_node_t *cn = sc_node(c, sc_seq_item(v, i));
            if ((rc = sc_u32(c, cn, "cpu", 0, TW_SCENARIO_CPUS_MAX - 1, &cpus[i])) < 0) {
                return rc;
            }
            for (uint32_t j = 0; j < i; j++) {
                if (cpus[j] == cpus[i]) {
                    return sc_fail(c, cn, "CPU %u is listed twice for host '%s'", cpus[i],
                                   host->name);
                }
            }
        }
        host->live_cpus = cpus;
    }
    return 0;
}

int sc_load_live(sc_ctx *c, const yaml_node_t *root)
{
    const yaml_node_t *n = sc_get(c, root, "live");
    tw_scenario_live *live = &c->s->live;
    uint32_t backend = 0;
    int rc;
    if (n == NULL) {
        return 0;
    }
    if ((rc = sc_check_map(c, n, "a live section", live_keys)) < 0 ||
        (rc = sc_enum(c, sc_get(c, n, "backend"), "backend", backend_names, 5, &backend)) < 0 ||
        (rc = sc_bool(c, sc_get(c, n, "pin"), "pin", &live->pin)) < 0) {
        return rc;
    }
    bool programs = true;
    if ((rc = sc_bool(c, sc_get(c, n, "programs"), "programs", &programs)) < 0) {
        return rc;
    }
    live->programs_off = !programs;
    live->backend = (tw_scenario_backend)backend;
    const yaml_node_t *cpus = sc_get(c, n, "cpus");
    if (cpus) {
        live->pin = true; /* listing CPUs is asking to be pinned to them */
        return load_cpus(c, cpus);
    }
    return 0;
}

/* ---- swarm ---------------------------------------------------------------- */

static const char *const swarm_keys[] = {"links",      "loss",    "duplicate", "reorder",
                                         "corrupt",    "delay",   "jitter",    "bandwidth",
                                         "partitions", "crashes", "stalls",    NULL};

/* A [low, high] pair: the two nodes, or an error. */
static int range(sc_ctx *c, const yaml_node_t *n, const char *key, const yaml_node_t **lo,
                 const yaml_node_t **hi)
{
    int rc = sc_check_seq(c, n, key, 2);
    if (rc < 0) {
        return rc;
    }
    if (sc_seq_len(n) != 2) {
        return sc_fail(c, n, "'%s' takes a range, [low, high]", key);
    }
    *lo = sc_node(c, sc_seq_item(n, 0));
    *hi = sc_node(c, sc_seq_item(n, 1));
    return 0;
}

static int ratio_range(sc_ctx *c, const yaml_node_t *map, const char *key,
                       tw_scenario_swarm_ratio *out)
{
    const yaml_node_t *n = sc_get(c, map, key);
    const yaml_node_t *lo, *hi;
    int rc;
    if (n == NULL) {
        return 0;
    }
    if ((rc = range(c, n, key, &lo, &hi)) < 0 || (rc = sc_ratio(c, lo, key, &out->lo)) < 0 ||
        (rc = sc_ratio(c, hi, key, &out->hi)) < 0) {
        return rc;
    }
    /* lo > hi compared exactly: lo.num * hi.den > hi.num * lo.den. */
    if ((uint64_t)out->lo.num * out->hi.den > (uint64_t)out->hi.num * out->lo.den) {
        return sc_fail(c, n, "'%s' takes the low bound first", key);
    }
    out->set = true;
    return 0;
}

typedef int (*u64_reader)(sc_ctx *, const yaml_node_t *, const char *, uint64_t, uint64_t,
                          uint64_t *);

static int u64_range(sc_ctx *c, const yaml_node_t *map, const char *key, u64_reader parse_one,
                     uint64_t min, uint64_t max, tw_scenario_swarm_u64 *out)
{
    const yaml_node_t *n = sc_get(c, map, key);
    const yaml_node_t *lo, *hi;
    int rc;
    if (n == NULL) {
        return 0;
    }
    if ((rc = range(c, n, key, &lo, &hi)) < 0 ||
        (rc = parse_one(c, lo, key, min, max, &out->lo)) < 0 ||
        (rc = parse_one(c, hi, key, min, max, &out->hi)) < 0) {
        return rc;
    }
    if (out->lo > out->hi) {
        return sc_fail(c, n, "'%s' takes the low bound first", key);
    }
    out->set = true;
    return 0;
}

static int read_duration(sc_ctx *c, const yaml_node_t *n, const char *key, uint64_t min,
                         uint64_t max, uint64_t *out)
{
    return sc_duration(c, n, key, min, max, out);
}

int sc_load_swarm(sc_ctx *c, const yaml_node_t *root)
{
    const yaml_node_t *n = sc_get(c, root, "swarm");
    tw_scenario *s = c->s;
    tw_scenario_swarm *w = &s->swarm;
    int rc;
    if (n == NULL) {
        return 0;
    }
    s->has_swarm = true;
    if ((rc = sc_check_map(c, n, "a swarm section", swarm_keys)) < 0 ||
        (rc = ratio_range(c, n, "loss", &w->loss)) < 0 ||
        (rc = ratio_range(c, n, "duplicate", &w->duplicate)) < 0 ||
        (rc = ratio_range(c, n, "reorder", &w->reorder)) < 0 ||
        (rc = ratio_range(c, n, "corrupt", &w->corrupt)) < 0 ||
        (rc = u64_range(c, n, "delay", read_duration, 0, TW_LINK_DELAY_MAX, &w->delay_ns)) < 0 ||
        (rc = u64_range(c, n, "jitter", read_duration, 0, TW_LINK_DELAY_MAX, &w->jitter_ns)) < 0 ||
        (rc = u64_range(c, n, "bandwidth", sc_rate, TW_LINK_BANDWIDTH_MIN, TW_LINK_BANDWIDTH_MAX,
                        &w->bandwidth_bps)) < 0 ||
        (rc = u64_range(c, n, "partitions", sc_u64, 0, 1000, &w->partitions)) < 0 ||
        (rc = u64_range(c, n, "crashes", sc_u64, 0, 1000, &w->crashes)) < 0 ||
        (rc = u64_range(c, n, "stalls", sc_u64, 0, 1000, &w->stalls)) < 0) {
        return rc;
    }
    const yaml_node_t *links = sc_get(c, n, "links");
    if (links == NULL) {
        return 0;
    }
    if ((rc = sc_check_seq(c, links, "links", TW_SCENARIO_LINKS_MAX)) < 0) {
        return rc;
    }
    w->link_count = sc_seq_len(links);
    w->links = sc_alloc(c->arena, w->link_count ? w->link_count : 1, sizeof(uint32_t));
    for (uint32_t i = 0; i < w->link_count; i++) {
        const yaml_node_t *ln = sc_node(c, sc_seq_item(links, i));
        const char *t;
        if ((rc = sc_text(c, ln, "a link name", &t)) < 0 ||
            (rc = sc_ref_link(c, ln, t, &w->links[i])) < 0) {
            return rc;
        }
    }
    return 0;
}
