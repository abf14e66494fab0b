/* Faults: a timeline of partitions, link state changes, clogs, crashes and
 * core stalls. Each entry has `at` and exactly one kind key; the keys that
 * may accompany it depend on the kind, so an entry is checked against the
 * keys of the kind it names. Times are absolute (from the start of the
 * run) and must fall inside the scenario's duration. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "scenario/internal.h"
#include "scenario/scenario.h"

static const char *const kind_names[TW_SCENARIO_FAULT_COUNT] = {
    "partition", "link_down", "link_up", "clog", "crash", "stall",
};

const char *tw_scenario_fault_kind_name(tw_scenario_fault_kind k)
{
    return (unsigned)k < TW_SCENARIO_FAULT_COUNT ? kind_names[k] : "unknown";
}

/* The keys valid beside `at` for each kind. */
static const char *const fault_keys[TW_SCENARIO_FAULT_COUNT][5] = {
    [TW_SCENARIO_FAULT_PARTITION] = {"at", "partition", "heal", "for", NULL},
    [TW_SCENARIO_FAULT_LINK_DOWN] = {"at", "link_down", NULL},
    [TW_SCENARIO_FAULT_LINK_UP] = {"at", "link_up", NULL},
    [TW_SCENARIO_FAULT_CLOG] = {"at", "clog", "for", NULL},
    [TW_SCENARIO_FAULT_CRASH] = {"at", "crash", "restart", "for", NULL},
    [TW_SCENARIO_FAULT_STALL] = {"at", "stall", "for", NULL},
};
static const char *const partition_keys[] = {"a", "b", "oneway", NULL};
static const char *const stall_keys[] = {"host", "core", NULL};
static const char *const any_fault_keys[] = {"at",   "partition", "link_down", "link_up",
                                             "clog", "crash",     "stall",     "heal",
                                             "for",  "restart",   NULL};

static int find_kind(sc_ctx *c, const yaml_node_t *n, tw_scenario_fault_kind *out)
{
    const yaml_node_t *found = NULL;
    for (const yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = sc_node(c, p->key);
        for (uint32_t i = 0; i < TW_SCENARIO_FAULT_COUNT; i++) {
            if (strcmp((const char *)k->data.scalar.value, kind_names[i]) != 0) {
                continue;
            }
            if (found) {
                return sc_fail(c, k, "a fault has one kind, got '%s' and '%s'",
                               (const char *)found->data.scalar.value, kind_names[i]);
            }
            found = k;
            *out = (tw_scenario_fault_kind)i;
        }
    }
    if (found == NULL) {
        return sc_fail(c, n,
                       "a fault needs one of partition, link_down, link_up, clog, crash, stall");
    }
    return 0;
}

/* One side of a partition: a host or a list of hosts, none twice. */
static int load_side(sc_ctx *c, const yaml_node_t *n, const char *key, uint32_t **out,
                     uint32_t *count)
{
    const tw_scenario *s = c->s;
    const char *t;
    int rc;
    if (n->type == YAML_SCALAR_NODE) {
        *count = 1;
        *out = sc_alloc(c->arena, 1, sizeof(uint32_t));
        return sc_text(c, n, "a host name", &t) < 0 ? -TW_EINVAL : sc_ref_host(c, n, t, *out);
    }
    if ((rc = sc_check_seq(c, n, key, TW_SCENARIO_HOSTS_MAX)) < 0) {
        return rc;
    }
    if (sc_seq_len(n) == 0) {
        return sc_fail(c, n, "partition side '%s' names no host", key);
    }
    *count = sc_seq_len(n);
    *out = sc_alloc(c->arena, *count, sizeof(uint32_t));
    for (uint32_t i = 0; i < *count; i++) {
        const yaml_node_t *hn = sc_node(c, sc_seq_item(n, i));
        if ((rc = sc_text(c, hn, "a host name", &t)) < 0 ||
            (rc = sc_ref_host(c, hn, t, &(*out)[i])) < 0) {
            return rc;
        }
        for (uint32_t j = 0; j < i; j++) {
            if ((*out)[j] == (*out)[i]) {
                return sc_fail(c, hn, "host '%s' is listed twice", s->hosts[(*out)[i]].name);
            }
        }
    }
    return 0;
}

static int load_partition(sc_ctx *c, const yaml_node_t *n, tw_scenario_fault *f)
{
    int rc;
    if ((rc = sc_check_map(c, n, "a partition", partition_keys)) < 0) {
        return rc;
    }
    const yaml_node_t *a = sc_need(c, n, "a");
    const yaml_node_t *b = a ? sc_need(c, n, "b") : NULL;
    if (b == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = load_side(c, a, "a", &f->side_a, &f->side_a_count)) < 0 ||
        (rc = load_side(c, b, "b", &f->side_b, &f->side_b_count)) < 0 ||
        (rc = sc_bool(c, sc_get(c, n, "oneway"), "oneway", &f->oneway)) < 0) {
        return rc;
    }
    for (uint32_t i = 0; i < f->side_b_count; i++) {
        for (uint32_t j = 0; j < f->side_a_count; j++) {
            if (f->side_b[i] == f->side_a[j]) {
                const yaml_node_t *at =
                    b->type == YAML_SEQUENCE_NODE ? sc_node(c, sc_seq_item(b, i)) : b;
                return sc_fail(c, at, "host '%s' is on both sides of the partition",
                               c->s->hosts[f->side_b[i]].name);
            }
        }
    }
    return 0;
}

static int load_target(sc_ctx *c, const yaml_node_t *n, tw_scenario_fault *f)
{
    const tw_scenario *s = c->s;
    const char *t;
    int rc;
    switch (f->kind) {
    case TW_SCENARIO_FAULT_PARTITION:
        return load_partition(c, n, f);
    case TW_SCENARIO_FAULT_LINK_DOWN:
    case TW_SCENARIO_FAULT_LINK_UP:
    case TW_SCENARIO_FAULT_CLOG:
        return sc_text(c, n, "a link name", &t) < 0 ? -TW_EINVAL : sc_ref_link(c, n, t, &f->link);
    case TW_SCENARIO_FAULT_CRASH:
        return sc_text(c, n, "a host name", &t) < 0 ? -TW_EINVAL : sc_ref_host(c, n, t, &f->host);
    case TW_SCENARIO_FAULT_STALL: {
        if ((rc = sc_check_map(c, n, "a stall", stall_keys)) < 0) {
            return rc;
        }
        const yaml_node_t *h = sc_need(c, n, "host");
        const yaml_node_t *core = h ? sc_need(c, n, "core") : NULL;
        if (core == NULL) {
            return -TW_EINVAL;
        }
        if ((rc = sc_text(c, h, "a host name", &t)) < 0 ||
            (rc = sc_ref_host(c, h, t, &f->host)) < 0 ||
            (rc = sc_u32(c, core, "core", 0, TW_SCENARIO_CORES_MAX, &f->core)) < 0) {
            return rc;
        }
        if (f->core >= s->hosts[f->host].cores) {
            return sc_fail(c, core, "host '%s' has no core %u (its cores are 0 to %u)",
                           s->hosts[f->host].name, f->core, s->hosts[f->host].cores - 1);
        }
        return 0;
    }
    default:
        return sc_fail(c, n, "unknown fault kind");
    }
}

/* When the fault ends: `for` (a duration), or the kind's absolute key. */
static int load_end(sc_ctx *c, const yaml_node_t *n, tw_scenario_fault *f)
{
    const tw_scenario *s = c->s;
    const char *abs_key = f->kind == TW_SCENARIO_FAULT_PARTITION ? "heal"
                          : f->kind == TW_SCENARIO_FAULT_CRASH   ? "restart"
                                                                 : NULL;
    const yaml_node_t *abs = abs_key ? sc_get(c, n, abs_key) : NULL;
    const yaml_node_t *dur = sc_get(c, n, "for");
    int rc;
    f->until_ns = TW_NS_NEVER;
    if (abs && dur) {
        return sc_fail(c, sc_get_key(c, n, "for"), "give either '%s' or 'for', not both", abs_key);
    }
    if (dur == NULL && (f->kind == TW_SCENARIO_FAULT_CLOG || f->kind == TW_SCENARIO_FAULT_STALL)) {
        return sc_fail(c, n, "missing required key 'for'");
    }
    const yaml_node_t *at = abs ? abs : dur;
    if (at == NULL) {
        return 0;
    }
    char end[32], when[32], start[32];
    if (dur) {
        tw_ns d = 0;
        if ((rc = sc_duration(c, dur, "for", 1, TW_SCENARIO_DURATION_MAX, &d)) < 0) {
            return rc;
        }
        f->until_ns = f->at_ns + d;
    } else {
        if ((rc = sc_duration(c, abs, abs_key, 0, TW_SCENARIO_DURATION_MAX, &f->until_ns)) < 0) {
            return rc;
        }
        if (f->until_ns <= f->at_ns) {
            sc_fmt_duration(f->until_ns, when, sizeof(when));
            sc_fmt_duration(f->at_ns, start, sizeof(start));
            return sc_fail(c, abs, "'%s' (%s) must come after 'at' (%s)", abs_key, when, start);
        }
    }
    if (f->until_ns > s->duration_ns) {
        sc_fmt_duration(f->until_ns, when, sizeof(when));
        sc_fmt_duration(s->duration_ns, end, sizeof(end));
        return sc_fail(c, at, "the fault ends at %s, after the scenario ends (duration %s)", when,
                       end);
    }
    return 0;
}

static int load_fault(sc_ctx *c, const yaml_node_t *n, tw_scenario_fault *f)
{
    const tw_scenario *s = c->s;
    int rc;
    /* Any fault key is accepted at first, so a misspelt kind gets a
     * suggestion; then the kind narrows the keys. */
    if ((rc = sc_check_map(c, n, "a fault", any_fault_keys)) < 0 ||
        (rc = find_kind(c, n, &f->kind)) < 0 ||
        (rc = sc_check_map(c, n, "a fault", fault_keys[f->kind])) < 0) {
        return rc;
    }
    f->line = (uint32_t)n->start_mark.line + 1;
    f->link = f->host = f->core = TW_SCENARIO_NONE;
    const yaml_node_t *at = sc_need(c, n, "at");
    if (at == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_duration(c, at, "at", 0, TW_SCENARIO_DURATION_MAX, &f->at_ns)) < 0) {
        return rc;
    }
    if (f->at_ns >= s->duration_ns) {
        char when[32], end[32];
        sc_fmt_duration(f->at_ns, when, sizeof(when));
        sc_fmt_duration(s->duration_ns, end, sizeof(end));
        return sc_fail(c, at, "fault at %s is after the scenario ends (duration %s)", when, end);
    }
    if ((rc = load_target(c, sc_get(c, n, kind_names[f->kind]), f)) < 0 ||
        (rc = load_end(c, n, f)) < 0) {
        return rc;
    }
    /* last_heal, for expectations: the latest moment a fault stops. */
    tw_ns healed = f->kind == TW_SCENARIO_FAULT_LINK_UP ? f->at_ns : f->until_ns;
    if (healed != TW_NS_NEVER && (!c->has_heal || healed > c->last_heal_ns)) {
        c->has_heal = true;
        c->last_heal_ns = healed;
    }
    return 0;
}

int sc_load_faults(sc_ctx *c, const yaml_node_t *root)
{
    const yaml_node_t *list = sc_get(c, root, "faults");
    tw_scenario *s = c->s;
    int rc;
    if (list == NULL) {
        return 0;
    }
    if ((rc = sc_check_seq(c, list, "faults", TW_SCENARIO_FAULTS_MAX)) < 0) {
        return rc;
    }
    uint32_t n = sc_seq_len(list);
    s->faults = sc_alloc(c->arena, n ? n : 1, sizeof(*s->faults));
    for (uint32_t i = 0; i < n; i++) {
        if ((rc = load_fault(c, sc_node(c, sc_seq_item(list, i)), &s->faults[i])) < 0) {
            return rc;
        }
        /* Insertion keeps equal times in file order: a stable sort. */
        tw_scenario_fault f = s->faults[i];
        uint32_t j = i;
        while (j > 0 && s->faults[j - 1].at_ns > f.at_ns) {
            s->faults[j] = s->faults[j - 1];
            j--;
        }
        s->faults[j] = f;
    }
    s->fault_count = n;
    return 0;
}
