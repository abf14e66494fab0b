/* Shared by the loader's files; not part of the API.
 *
 * The loader walks libyaml's document tree (yaml_parser_load) guided by
 * tables of the keys valid at each spot, so its depth is bounded by the
 * format, not by the input: a cyclic alias or a deeply nested value can
 * only reach it where a scalar or a known mapping is expected, and is
 * refused there. Every allocation goes to one arena owned by the model, so
 * a failed load frees everything at once and never returns half a model. */
#ifndef TW_SCENARIO_INTERNAL_H
#define TW_SCENARIO_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "scenario/model.h"

/* ---- arena ---------------------------------------------------------------- */

typedef struct sc_chunk sc_chunk;

typedef struct sc_arena {
    sc_chunk *head;
} sc_arena;

/* Zeroed memory for n objects of size bytes, aligned for any object. */
void *sc_alloc(sc_arena *a, size_t n, size_t size);
char *sc_strdup(sc_arena *a, const char *s);
void sc_arena_free(sc_arena *a);

/* ---- overrides and the store ---------------------------------------------- */

typedef struct sc_override {
    char *key;
    char *value;
} sc_override;

#define SC_OVERRIDES_MAX 256

struct tw_scenario_store {
    sc_arena arena;
    char *file;
    char *source; /* the file's bytes, kept so tw_scenario_set can reload */
    size_t source_len;
    sc_override *overrides;
    uint32_t override_count;
};

/* Nodes an override created carry this in mark.index and the override's
 * number in mark.line, so messages about them name the --set, not a place
 * in the file. */
#define SC_OVERRIDE_MARK SIZE_MAX

/* ---- the loading context -------------------------------------------------- */

typedef struct sc_ctx {
    const char *file;
    yaml_document_t *doc;
    char *err;
    size_t err_len;
    bool failed;
    const sc_override *overrides;
    uint32_t override_count;
    sc_arena *arena;
    tw_scenario *s;
    /* Per host, its `apps` node (0 when none), read after every host is
     * known so that apps can name any host as their peer. */
    int *host_apps;
    bool has_heal;
    tw_ns last_heal_ns;
} sc_ctx;

/* Records the first error at the node's position (later ones are dropped:
 * the first is the one to fix) and returns -TW_EINVAL. */
int sc_fail(sc_ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sc_fail_mark(sc_ctx *c, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sc_vfail_mark(sc_ctx *c, yaml_mark_t m, const char *fmt, va_list ap);

/* "file:line:col" (or "--set k=v") for a node, for messages that point
 * elsewhere ("first at 3:5"). */
void sc_where(const sc_ctx *c, const yaml_node_t *n, char *buf, size_t len);

yaml_node_t *sc_node(const sc_ctx *c, int id);

/* The closest of the candidates to s within Damerau-Levenshtein distance
 * 2, or NULL. */
const char *sc_suggest(const char *s, const char *const *candidates, size_t n);

/* snprintf for names and messages that may be cut short on purpose (a
 * name built from parts is truncated to its field). */
void sc_format(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Copies a value into a message: truncated, control bytes as '?'. */
void sc_quote(const char *s, char *buf, size_t len);

/* ---- mappings ------------------------------------------------------------- */

/* Checks that n is a mapping whose keys are plain strings from `keys`
 * (NULL-terminated), each at most once. `what` names the mapping for the
 * type error ("a link"). */
int sc_check_map(sc_ctx *c, const yaml_node_t *n, const char *what, const char *const *keys);

/* The value under key in a checked mapping, or NULL. */
yaml_node_t *sc_get(const sc_ctx *c, const yaml_node_t *map, const char *key);
/* Like sc_get, but a missing key is an error at the mapping. */
yaml_node_t *sc_need(sc_ctx *c, const yaml_node_t *map, const char *key);
/* The key node itself, for positions. */
yaml_node_t *sc_get_key(const sc_ctx *c, const yaml_node_t *map, const char *key);

/* A list of at most max items (over: error). */
int sc_check_seq(sc_ctx *c, const yaml_node_t *n, const char *key, uint32_t max);
static inline uint32_t sc_seq_len(const yaml_node_t *n)
{
    return (uint32_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}
static inline int sc_seq_item(const yaml_node_t *n, uint32_t i)
{
    return n->data.sequence.items.start[i];
}

/* ---- scalars -------------------------------------------------------------- */

/* The text of a scalar node; an error (naming `expected`) for a list, a
 * mapping, an empty value or one holding a NUL byte. */
int sc_text(sc_ctx *c, const yaml_node_t *n, const char *expected, const char **out);

/* Each reads a scalar node; `key` names the value in range errors. A NULL
 * node (an optional key left out) leaves *out alone and returns 0. */
int sc_u64(sc_ctx *c, const yaml_node_t *n, const char *key, uint64_t min, uint64_t max,
           uint64_t *out);
int sc_u32(sc_ctx *c, const yaml_node_t *n, const char *key, uint32_t min, uint32_t max,
           uint32_t *out);
int sc_duration(sc_ctx *c, const yaml_node_t *n, const char *key, tw_ns min, tw_ns max, tw_ns *out);
int sc_duration_ps(sc_ctx *c, const yaml_node_t *n, const char *key, uint64_t max, uint64_t *out);
int sc_rate(sc_ctx *c, const yaml_node_t *n, const char *key, uint64_t min, uint64_t max,
            uint64_t *out);
int sc_size(sc_ctx *c, const yaml_node_t *n, const char *key, uint64_t min, uint64_t max,
            uint64_t *out);
int sc_ratio(sc_ctx *c, const yaml_node_t *n, const char *key, tw_ratio *out);
int sc_ppm(sc_ctx *c, const yaml_node_t *n, const char *key, uint64_t *out);
int sc_bool(sc_ctx *c, const yaml_node_t *n, const char *key, bool *out);
/* A name: a letter, then letters, digits, '_' or '-'. */
int sc_name(sc_ctx *c, const yaml_node_t *n, char out[TW_SCENARIO_NAME_MAX]);
/* One of names[0..count), by index; `what` names the kind ("backend"). */
int sc_enum(sc_ctx *c, const yaml_node_t *n, const char *what, const char *const *names,
            uint32_t count, uint32_t *out);
int sc_addr(sc_ctx *c, const yaml_node_t *n, tw_ipv4_addr *out);
int sc_prefix(sc_ctx *c, const yaml_node_t *n, tw_ipv4_addr *addr, uint8_t *len);
int sc_mac(sc_ctx *c, const yaml_node_t *n, uint8_t mac[6]);

/* Messages name values the way a file writes them. */
void sc_fmt_addr(tw_ipv4_addr a, char *buf, size_t len);
void sc_fmt_duration(tw_ns ns, char *buf, size_t len);

/* ---- sections (load.c, apps.c, faults.c, expect.c, extras.c) -------------- */

int sc_load_hosts(sc_ctx *c, const yaml_node_t *root);
/* A host's `tcp:` mapping (tcp.c), after its interfaces. */
int sc_load_host_tcp(sc_ctx *c, const yaml_node_t *hn, tw_scenario_host *h);
int sc_load_switches(sc_ctx *c, const yaml_node_t *root);
int sc_load_links(sc_ctx *c, const yaml_node_t *root);
int sc_load_apps(sc_ctx *c);
int sc_load_faults(sc_ctx *c, const yaml_node_t *root);
int sc_load_expect(sc_ctx *c, const yaml_node_t *root);
int sc_load_capture(sc_ctx *c, const yaml_node_t *root);
int sc_load_live(sc_ctx *c, const yaml_node_t *root);
int sc_load_swarm(sc_ctx *c, const yaml_node_t *root);

/* Name lookups with a did-you-mean, as errors at n: `what` is "host". */
int sc_ref_host(sc_ctx *c, const yaml_node_t *n, const char *name, uint32_t *out);
int sc_ref_link(sc_ctx *c, const yaml_node_t *n, const char *name, uint32_t *out);
int sc_ref_app(sc_ctx *c, const yaml_node_t *n, const char *name, uint32_t *out);
/* "host.iface", or "host" when it has exactly one interface. */
int sc_ref_iface(sc_ctx *c, const yaml_node_t *n, const char *text, uint32_t *host,
                 uint32_t *iface);

/* The metric naming scheme (metric.c): checks a path against the
 * scenario's hosts, links, switches and apps, and gives its unit. */
int sc_metric_check(sc_ctx *c, const yaml_node_t *n, const char *path, tw_scenario_unit *unit);

/* Applies one override to the document (set.c). */
int sc_apply_override(sc_ctx *c, uint32_t index);

#endif
