/* Expectations: each entry becomes one or more tw_scenario_expect, a metric
 * path (metric.c's scheme), bounds in the metric's base unit, and a name.
 * The shorthand forms (latency, throughput, resets, timeouts, balance,
 * delivered) are spelt-out metric comparisons, so the evaluator has one
 * thing to evaluate. Evaluation happens in the drivers; this only builds
 * and checks. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "scenario/internal.h"
#include "scenario/scenario.h"

static const char *const op_names[] = {">=", "<=", "==", "between"};

const char *tw_scenario_op_name(tw_scenario_op op)
{
    return (unsigned)op < TW_ARRAY_LEN(op_names) ? op_names[op] : "?";
}

typedef enum form {
    F_METRIC,
    F_LATENCY,
    F_THROUGHPUT,
    F_RESETS,
    F_TIMEOUTS,
    F_BALANCE,
    F_DELIVERED,
    F_EVENTUALLY,
    F_COUNT
} form;

static const char *const form_names[F_COUNT] = {
    "metric", "latency", "throughput", "resets", "timeouts", "balance", "delivered", "eventually",
};

#define OPS ">=", "<=", "==", "between"
static const char *const form_keys[F_COUNT][8] = {
    [F_METRIC] = {"name", "metric", OPS, NULL},
    [F_LATENCY] = {"name", "latency", "percentile", OPS, NULL},
    [F_THROUGHPUT] = {"name", "throughput", OPS, NULL},
    [F_RESETS] = {"name", "resets", OPS, NULL},
    [F_TIMEOUTS] = {"name", "timeouts", OPS, NULL},
    [F_BALANCE] = {"name", "balance", OPS, NULL},
    [F_DELIVERED] = {"name", "delivered", NULL},
    [F_EVENTUALLY] = {"name", "eventually", NULL},
};
static const char *const any_keys[] = {"name",       "metric",     "latency",  "percentile",
                                       "throughput", "resets",     "timeouts", "balance",
                                       "delivered",  "eventually", OPS,        NULL};
static const char *const eventually_keys[] = {"within", "after", "metric", "delta", OPS, NULL};
static const char *const percentile_names[] = {"p50", "p90", "p99", "p999", "max"};

static int find_form(sc_ctx *c, const yaml_node_t *n, form *out)
{
    const yaml_node_t *found = NULL;
    for (const yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = sc_node(c, p->key);
        for (uint32_t i = 0; i < F_COUNT; i++) {
            if (strcmp((const char *)k->data.scalar.value, form_names[i]) != 0) {
                continue;
            }
            if (found) {
                return sc_fail(c, k, "an expectation checks one thing, got '%s' and '%s'",
                               (const char *)found->data.scalar.value, form_names[i]);
            }
            found = k;
            *out = (form)i;
        }
    }
    if (found == NULL) {
        return sc_fail(c, n,
                       "an expectation needs one of metric, latency, throughput, resets, "
                       "timeouts, balance, delivered, eventually");
    }
    return 0;
}

static int bound(sc_ctx *c, const yaml_node_t *n, tw_scenario_unit u, uint64_t *out)
{
    switch (u) {
    case TW_SCENARIO_UNIT_NS:
        return sc_duration(c, n, "bound", 0, TW_NS_NEVER - 1, out);
    case TW_SCENARIO_UNIT_BPS:
        return sc_rate(c, n, "bound", 0, UINT64_MAX, out);
    case TW_SCENARIO_UNIT_BYTES:
        return sc_size(c, n, "bound", 0, UINT64_MAX, out);
    case TW_SCENARIO_UNIT_PPM:
        return sc_ppm(c, n, "bound", out);
    default:
        return sc_u64(c, n, "bound", 0, UINT64_MAX, out);
    }
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* The comparison in map n for e (whose unit is set); *text gets a readable
 * form of it for the generated name. `optional` allows none (resets and
 * timeouts then mean "== 0"). */
static int load_op(sc_ctx *c, const yaml_node_t *n, tw_scenario_expect *e, bool optional,
                   char *text, size_t len)
{
    const yaml_node_t *found = NULL;
    int rc;
    for (uint32_t i = 0; i < TW_ARRAY_LEN(op_names); i++) {
        const yaml_node_t *v = sc_get(c, n, op_names[i]);
        if (v == NULL) {
            continue;
        }
        if (found) {
            return sc_fail(c, sc_get_key(c, n, op_names[i]),
                           "an expectation has one comparison, got '%s' and '%s'", op_names[e->op],
                           op_names[i]);
        }
        found = v;
        e->op = (tw_scenario_op)i;
    }
    if (found == NULL) {
        if (optional) {
            e->op = TW_SCENARIO_OP_EQ;
            e->lo = e->hi = 0;
            sc_format(text, len, "== 0");
            return 0;
        }
        return sc_fail(c, n, "missing a comparison: one of '>=', '<=', '==', 'between'");
    }
    if (e->op == TW_SCENARIO_OP_BETWEEN) {
        if ((rc = sc_check_seq(c, found, "between", 2)) < 0) {
            return rc;
        }
        if (sc_seq_len(found) != 2) {
            return sc_fail(c, found, "'between' takes two bounds, [low, high]");
        }
        const yaml_node_t *lo = sc_node(c, sc_seq_item(found, 0));
        const yaml_node_t *hi = sc_node(c, sc_seq_item(found, 1));
        if ((rc = bound(c, lo, e->unit, &e->lo)) < 0 || (rc = bound(c, hi, e->unit, &e->hi)) < 0) {
            return rc;
        }
        if (e->lo > e->hi) {
            return sc_fail(c, found, "'between' takes the low bound first");
        }
        sc_format(text, len, "between %s and %s", scalar(lo), scalar(hi));
        return 0;
    }
    uint64_t v = 0;
    if ((rc = bound(c, found, e->unit, &v)) < 0) {
        return rc;
    }
    e->lo = e->op == TW_SCENARIO_OP_LE ? 0 : v;
    e->hi = e->op == TW_SCENARIO_OP_GE ? UINT64_MAX : v;
    sc_format(text, len, "%s %s", op_names[e->op], scalar(found));
    return 0;
}

static int set_metric(sc_ctx *c, const yaml_node_t *n, tw_scenario_expect *e, const char *path)
{
    int rc = sc_metric_check(c, n, path, &e->unit);
    if (rc == 0) {
        sc_format(e->metric, sizeof(e->metric), "%s", path);
    }
    return rc;
}

/* app.<name>.<leaf> for the shorthands that name an app. */
static int app_metric(sc_ctx *c, const yaml_node_t *n, tw_scenario_expect *e, const char *leaf)
{
    const char *t;
    uint32_t app;
    int rc;
    if ((rc = sc_text(c, n, "an app name", &t)) < 0 || (rc = sc_ref_app(c, n, t, &app)) < 0) {
        return rc;
    }
    char path[TW_SCENARIO_METRIC_MAX];
    sc_format(path, sizeof(path), "app.%s.%s", c->s->apps[app].name, leaf);
    return set_metric(c, n, e, path);
}

static int load_eventually(sc_ctx *c, const yaml_node_t *n, tw_scenario_expect *e, char *name,
                           size_t len)
{
    const tw_scenario *s = c->s;
    const char *t;
    char cmp[96], within_text[32], after_text[32];
    int rc;
    if ((rc = sc_check_map(c, n, "an eventually condition", eventually_keys)) < 0) {
        return rc;
    }
    const yaml_node_t *within = sc_need(c, n, "within");
    const yaml_node_t *metric = within ? sc_need(c, n, "metric") : NULL;
    if (metric == NULL) {
        return -TW_EINVAL;
    }
    e->when = TW_SCENARIO_WHEN_EVENTUALLY;
    if ((rc = sc_duration(c, within, "within", 1, TW_SCENARIO_DURATION_MAX, &e->within_ns)) < 0 ||
        (rc = sc_text(c, metric, "a metric path", &t)) < 0 ||
        (rc = set_metric(c, metric, e, t)) < 0 ||
        (rc = sc_bool(c, sc_get(c, n, "delta"), "delta", &e->delta)) < 0 ||
        (rc = load_op(c, n, e, false, cmp, sizeof(cmp))) < 0) {
        return rc;
    }
    const yaml_node_t *after = sc_get(c, n, "after");
    sc_format(after_text, sizeof(after_text), "start");
    if (after && after->type == YAML_SCALAR_NODE && strcmp(scalar(after), "last_heal") == 0) {
        if (!c->has_heal) {
            return sc_fail(c, after, "'after: last_heal' but no fault heals");
        }
        e->after_ns = c->last_heal_ns;
        sc_format(after_text, sizeof(after_text), "last_heal");
    } else if (after && after->type == YAML_SCALAR_NODE && strcmp(scalar(after), "start") == 0) {
        e->after_ns = 0;
    } else if (after) {
        if ((rc = sc_duration(c, after, "after", 0, TW_SCENARIO_DURATION_MAX, &e->after_ns)) < 0) {
            return rc;
        }
        sc_format(after_text, sizeof(after_text), "%s", scalar(after));
    }
    if (e->after_ns + e->within_ns > s->duration_ns) {
        char end[32], dur[32];
        sc_fmt_duration(e->after_ns + e->within_ns, end, sizeof(end));
        sc_fmt_duration(s->duration_ns, dur, sizeof(dur));
        return sc_fail(c, within, "the window ends at %s, after the scenario ends (duration %s)",
                       end, dur);
    }
    sc_format(within_text, sizeof(within_text), "%s", scalar(within));
    sc_format(name, len, "eventually within %s after %s: %s%s %s", within_text, after_text,
              e->delta ? "increase of " : "", e->metric, cmp);
    return 0;
}

/* The bulk_send apps a `delivered` entry names, into idx (NULL to count). */
static int delivered_apps(sc_ctx *c, const yaml_node_t *n, uint32_t *idx, uint32_t *count)
{
    const tw_scenario *s = c->s;
    uint32_t k = 0;
    int rc;
    if (n->type == YAML_SCALAR_NODE && strcmp(scalar(n), "all") == 0) {
        for (uint32_t i = 0; i < s->app_count; i++) {
            if (s->apps[i].type == TW_SCENARIO_APP_BULK_SEND) {
                if (idx) {
                    idx[k] = i;
                }
                k++;
            }
        }
        if (k == 0) {
            return sc_fail(c, n, "'delivered: all' but the scenario has no bulk_send app");
        }
        *count = k;
        return 0;
    }
    if ((rc = sc_check_seq(c, n, "delivered", TW_SCENARIO_EXPECTS_MAX)) < 0) {
        return rc;
    }
    if (sc_seq_len(n) == 0) {
        return sc_fail(c, n, "'delivered' names no app (write 'all' or a list of bulk_send apps)");
    }
    for (uint32_t i = 0; i < sc_seq_len(n); i++) {
        const yaml_node_t *an = sc_node(c, sc_seq_item(n, i));
        const char *t;
        uint32_t app;
        if ((rc = sc_text(c, an, "an app name", &t)) < 0 || (rc = sc_ref_app(c, an, t, &app)) < 0) {
            return rc;
        }
        const tw_scenario_app *a = &s->apps[app];
        if (a->type != TW_SCENARIO_APP_BULK_SEND) {
            return sc_fail(c, an, "app '%s' is a %s, not a bulk_send", a->name,
                           tw_scenario_app_type_name(a->type));
        }
        if (!a->verify) {
            return sc_fail(c, an, "app '%s' has 'verify: false', so delivery cannot be checked",
                           a->name);
        }
        if (idx) {
            idx[k] = app;
        }
        k++;
    }
    *count = k;
    return 0;
}

static int load_form(sc_ctx *c, const yaml_node_t *n, form f, tw_scenario_expect *e, char *name,
                     size_t len)
{
    const yaml_node_t *v = sc_get(c, n, form_names[f]);
    const char *t;
    char cmp[96];
    uint32_t pct = 0;
    int rc;
    switch (f) {
    case F_METRIC:
        rc = sc_text(c, v, "a metric path such as app.client.replies", &t);
        rc = rc < 0 ? rc : set_metric(c, v, e, t);
        break;
    case F_LATENCY: {
        const yaml_node_t *p = sc_need(c, n, "percentile");
        if (p == NULL) {
            return -TW_EINVAL;
        }
        if ((rc = sc_enum(c, p, "percentile", percentile_names, 5, &pct)) < 0) {
            return rc;
        }
        char leaf[32];
        sc_format(leaf, sizeof(leaf), "latency.%s", percentile_names[pct]);
        rc = app_metric(c, v, e, leaf);
        break;
    }
    case F_THROUGHPUT:
        rc = app_metric(c, v, e, "throughput");
        break;
    case F_RESETS:
        rc = app_metric(c, v, e, "resets");
        break;
    case F_TIMEOUTS:
        rc = app_metric(c, v, e, "timeouts");
        break;
    case F_BALANCE: {
        uint32_t h;
        rc = sc_text(c, v, "a host name", &t);
        rc = rc < 0 ? rc : sc_ref_host(c, v, t, &h);
        if (rc == 0) {
            sc_format(e->metric, sizeof(e->metric), "host.%s.balance", c->s->hosts[h].name);
            e->unit = TW_SCENARIO_UNIT_PPM;
        }
        break;
    }
    case F_EVENTUALLY:
        return load_eventually(c, v, e, name, len);
    default:
        return sc_fail(c, n, "unknown expectation");
    }
    if (rc < 0) {
        return rc;
    }
    bool counts = f == F_RESETS || f == F_TIMEOUTS;
    if ((rc = load_op(c, n, e, counts, cmp, sizeof(cmp))) < 0) {
        return rc;
    }
    sc_format(name, len, "%s %s", e->metric, cmp);
    return 0;
}

/* Reads entry n into out[0..*made), at most room entries. */
static int load_entry(sc_ctx *c, const yaml_node_t *n, tw_scenario_expect *out, uint32_t room,
                      uint32_t *made)
{
    form f = F_METRIC;
    int rc;
    if ((rc = sc_check_map(c, n, "an expectation", any_keys)) < 0 ||
        (rc = find_form(c, n, &f)) < 0 ||
        (rc = sc_check_map(c, n, "an expectation", form_keys[f])) < 0) {
        return rc;
    }
    const yaml_node_t *given = sc_get(c, n, "name");
    const char *given_text = NULL;
    if (given && (rc = sc_text(c, given, "a name", &given_text)) < 0) {
        return rc;
    }
    if (f == F_DELIVERED) {
        const yaml_node_t *v = sc_get(c, n, "delivered");
        uint32_t count = 0;
        if ((rc = delivered_apps(c, v, NULL, &count)) < 0) {
            return rc;
        }
        if (count > room) {
            return sc_fail(c, n, "too many expectations (at most %u)", TW_SCENARIO_EXPECTS_MAX);
        }
        uint32_t idx[TW_SCENARIO_EXPECTS_MAX];
        delivered_apps(c, v, idx, &count);
        for (uint32_t i = 0; i < count; i++) {
            tw_scenario_expect *e = &out[i];
            const tw_scenario_app *a = &c->s->apps[idx[i]];
            sc_format(e->metric, sizeof(e->metric), "app.%s.intact", a->name);
            e->unit = TW_SCENARIO_UNIT_COUNT;
            e->op = TW_SCENARIO_OP_EQ;
            e->lo = e->hi = 1;
            e->line = (uint32_t)n->start_mark.line + 1;
            e->column = (uint32_t)n->start_mark.column + 1;
            if (given_text && count == 1) {
                sc_format(e->name, sizeof(e->name), "%s", given_text);
            } else if (given_text) {
                sc_format(e->name, sizeof(e->name), "%s: %s", given_text, a->name);
            } else {
                sc_format(e->name, sizeof(e->name), "bulk '%s' delivered intact", a->name);
            }
        }
        *made = count;
        return 0;
    }
    if (room == 0) {
        return sc_fail(c, n, "too many expectations (at most %u)", TW_SCENARIO_EXPECTS_MAX);
    }
    tw_scenario_expect *e = &out[0];
    e->line = (uint32_t)n->start_mark.line + 1;
    e->column = (uint32_t)n->start_mark.column + 1;
    if ((rc = load_form(c, n, f, e, e->name, sizeof(e->name))) < 0) {
        return rc;
    }
    if (given_text) {
        sc_format(e->name, sizeof(e->name), "%s", given_text);
    }
    *made = 1;
    return 0;
}

int sc_load_expect(sc_ctx *c, const yaml_node_t *root)
{
    const yaml_node_t *list = sc_get(c, root, "expect");
    tw_scenario *s = c->s;
    int rc;
    if (list == NULL) {
        return 0;
    }
    if ((rc = sc_check_seq(c, list, "expect", TW_SCENARIO_EXPECTS_MAX)) < 0) {
        return rc;
    }
    s->expects = sc_alloc(c->arena, TW_SCENARIO_EXPECTS_MAX, sizeof(*s->expects));
    uint32_t used = 0;
    for (uint32_t i = 0; i < sc_seq_len(list); i++) {
        uint32_t made = 0;
        if ((rc = load_entry(c, sc_node(c, sc_seq_item(list, i)), s->expects + used,
                             TW_SCENARIO_EXPECTS_MAX - used, &made)) < 0) {
            return rc;
        }
        used += made;
    }
    s->expect_count = used;
    return 0;
}
