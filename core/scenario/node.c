/* The loader's toolkit: its arena, its error messages and the readers that
 * turn one YAML node into one typed value or one precise complaint. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/mem.h"
#include "base/units.h"
#include "scenario/internal.h"

/* ---- arena ---------------------------------------------------------------- */

struct sc_chunk {
    sc_chunk *next;
    size_t used;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

#define SC_CHUNK_BYTES (64u * 1024u)

void *sc_alloc(sc_arena *a, size_t n, size_t size)
{
    /* Every count is bounded by a TW_SCENARIO_*_MAX, far below overflow. */
    TW_ASSERT(size == 0 || n <= SIZE_MAX / 2 / size);
    size_t bytes = (n * size + 15u) & ~(size_t)15u;
    if (bytes == 0) {
        bytes = 16;
    }
    sc_chunk *ch = a->head;
    if (ch == NULL || ch->cap - ch->used < bytes) {
        size_t cap = bytes > SC_CHUNK_BYTES ? bytes : SC_CHUNK_BYTES;
        ch = tw_mem_calloc(1, sizeof(sc_chunk) + cap);
        ch->cap = cap;
        ch->next = a->head;
        a->head = ch;
    }
    void *p = ch->data + ch->used;
    ch->used += bytes;
    return p; /* calloc'd and never reused: already zero */
}

char *sc_strdup(sc_arena *a, const char *s)
{
    size_t n = strlen(s);
    char *p = sc_alloc(a, n + 1, 1);
    memcpy(p, s, n);
    return p;
}

void sc_arena_free(sc_arena *a)
{
    sc_chunk *ch = a->head;
    while (ch) {
        sc_chunk *next = ch->next;
        tw_mem_free(ch);
        ch = next;
    }
    a->head = NULL;
}

/* ---- errors --------------------------------------------------------------- */

yaml_node_t *sc_node(const sc_ctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

void sc_format(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

void sc_quote(const char *s, char *buf, size_t len)
{
    TW_ASSERT(len >= 8);
    size_t n = 0;
    size_t limit = len - 1;
    bool cut = strlen(s) > limit;
    if (cut) {
        limit -= 3;
    }
    for (; s[n] && n < limit; n++) {
        unsigned char ch = (unsigned char)s[n];
        buf[n] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    if (cut) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
}

static void where_mark(const sc_ctx *c, yaml_mark_t m, char *buf, size_t len)
{
    if (m.index == SC_OVERRIDE_MARK) {
        TW_ASSERT(m.line < c->override_count);
        char k[64], v[64];
        sc_quote(c->overrides[m.line].key, k, sizeof(k));
        sc_quote(c->overrides[m.line].value, v, sizeof(v));
        snprintf(buf, len, "--set %s=%s", k, v);
    } else {
        snprintf(buf, len, "%s:%zu:%zu", c->file, m.line + 1, m.column + 1);
    }
}

void sc_where(const sc_ctx *c, const yaml_node_t *n, char *buf, size_t len)
{
    yaml_mark_t m = n->start_mark;
    if (m.index == SC_OVERRIDE_MARK) {
        where_mark(c, m, buf, len);
    } else {
        snprintf(buf, len, "%zu:%zu", m.line + 1, m.column + 1);
    }
}

int sc_vfail_mark(sc_ctx *c, yaml_mark_t m, const char *fmt, va_list ap)
{
    if (c->failed) {
        return -TW_EINVAL;
    }
    c->failed = true;
    if (c->err_len == 0) {
        return -TW_EINVAL;
    }
    char where[200];
    where_mark(c, m, where, sizeof(where));
    int n = snprintf(c->err, c->err_len, "%s: ", where);
    if (n >= 0 && (size_t)n < c->err_len) {
        vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
    }
    return -TW_EINVAL;
}

int sc_fail_mark(sc_ctx *c, yaml_mark_t m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sc_vfail_mark(c, m, fmt, ap);
    va_end(ap);
    return rc;
}

int sc_fail(sc_ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sc_vfail_mark(c, n->start_mark, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- suggestions ---------------------------------------------------------- */

#define SC_SUGGEST_LEN 48

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent
 * transpositions), enough to catch the typos people make in keys. */
static unsigned osa_distance(const char *a, size_t la, const char *b, size_t lb)
{
    unsigned d[SC_SUGGEST_LEN + 1][SC_SUGGEST_LEN + 1];
    for (size_t i = 0; i <= la; i++) {
        d[i][0] = (unsigned)i;
    }
    for (size_t j = 0; j <= lb; j++) {
        d[0][j] = (unsigned)j;
    }
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) {
                v = d[i][j - 1] + 1;
            }
            if (d[i - 1][j - 1] + cost < v) {
                v = d[i - 1][j - 1] + cost;
            }
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v) {
                v = d[i - 2][j - 2] + 1;
            }
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

const char *sc_suggest(const char *s, const char *const *candidates, size_t n)
{
    size_t ls = strlen(s);
    if (ls > SC_SUGGEST_LEN) {
        return NULL;
    }
    const char *best = NULL;
    unsigned best_d = 3;
    for (size_t i = 0; i < n; i++) {
        size_t lc = strlen(candidates[i]);
        if (lc > SC_SUGGEST_LEN || lc + 2 < ls || ls + 2 < lc) {
            continue;
        }
        unsigned dist = osa_distance(s, ls, candidates[i], lc);
        /* A one-letter key is "close" to every other short key; only
         * suggest when the typo leaves most of the word. */
        if (dist < best_d && dist < lc && dist > 0) {
            best = candidates[i];
            best_d = dist;
        }
    }
    return best;
}

/* ---- mappings ------------------------------------------------------------- */

/* What a node is, for "expected X, got Y": a scalar by its text. */
static const char *node_kind_buf(const yaml_node_t *n, char *buf, size_t len)
{
    switch (n->type) {
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SCALAR_NODE: {
        char q[64];
        const char *t = (const char *)n->data.scalar.value;
        if (strlen(t) != n->data.scalar.length) {
            return "a value holding a NUL byte";
        }
        sc_quote(t, q, sizeof(q));
        snprintf(buf, len, "'%s'", q);
        return buf;
    }
    default:
        return "a value";
    }
}

#define node_kind(n) node_kind_buf((n), (char[80]){0}, 80)

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return false;
    }
    const char *t = (const char *)n->data.scalar.value;
    return t[0] == '\0' || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 ||
           strcmp(t, "Null") == 0 || strcmp(t, "NULL") == 0;
}

static size_t key_count(const char *const *keys)
{
    size_t n = 0;
    while (keys[n]) {
        n++;
    }
    return n;
}

static int unknown_key(sc_ctx *c, const yaml_node_t *k, const char *text, const char *const *keys)
{
    char q[64];
    sc_quote(text, q, sizeof(q));
    size_t n = key_count(keys);
    const char *hint = sc_suggest(text, keys, n);
    if (hint) {
        return sc_fail(c, k, "unknown key '%s' (did you mean '%s'?)", q, hint);
    }
    char list[512];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && used < sizeof(list); i++) {
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", keys[i]);
        if (w < 0) {
            break;
        }
        used += (size_t)w;
    }
    return sc_fail(c, k, "unknown key '%s' (expected one of: %s)", q, list);
}

int sc_check_map(sc_ctx *c, const yaml_node_t *n, const char *what, const char *const *keys)
{
    if (n->type != YAML_MAPPING_NODE) {
        if (is_null(n)) {
            return sc_fail(c, n, "expected %s (a mapping of keys), got nothing", what);
        }
        return sc_fail(c, n, "expected %s (a mapping of keys), got %s", what, node_kind(n));
    }
    const yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
    size_t count = (size_t)(n->data.mapping.pairs.top - pairs);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *k = sc_node(c, pairs[i].key);
        if (k->type != YAML_SCALAR_NODE || is_null(k)) {
            return sc_fail(c, k, "expected a key name, got %s",
                           k->type == YAML_SCALAR_NODE ? "nothing" : node_kind(k));
        }
        const char *text = (const char *)k->data.scalar.value;
        bool known = false;
        for (size_t j = 0; keys[j]; j++) {
            if (strcmp(text, keys[j]) == 0 && strlen(text) == k->data.scalar.length) {
                known = true;
                break;
            }
        }
        if (!known) {
            return unknown_key(c, k, text, keys);
        }
        /* Known keys are few, so a duplicate shows up within them: the
         * scan stays short whatever the input. */
        for (size_t j = 0; j < i; j++) {
            const yaml_node_t *prev = sc_node(c, pairs[j].key);
            if (strcmp((const char *)prev->data.scalar.value, text) == 0) {
                char at[200];
                sc_where(c, prev, at, sizeof(at));
                return sc_fail(c, k, "duplicate key '%s' (first at %s)", text, at);
            }
        }
    }
    return 0;
}

yaml_node_t *sc_get_key(const sc_ctx *c, const yaml_node_t *map, const char *key)
{
    TW_ASSERT(map->type == YAML_MAPPING_NODE);
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = sc_node(c, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0) {
            return k;
        }
    }
    return NULL;
}

yaml_node_t *sc_get(const sc_ctx *c, const yaml_node_t *map, const char *key)
{
    TW_ASSERT(map->type == YAML_MAPPING_NODE);
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = sc_node(c, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0) {
            return sc_node(c, p->value);
        }
    }
    return NULL;
}

yaml_node_t *sc_need(sc_ctx *c, const yaml_node_t *map, const char *key)
{
    yaml_node_t *v = sc_get(c, map, key);
    if (v == NULL) {
        sc_fail(c, map, "missing required key '%s'", key);
    }
    return v;
}

int sc_check_seq(sc_ctx *c, const yaml_node_t *n, const char *key, uint32_t max)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        if (is_null(n)) {
            return sc_fail(c, n, "expected a list for '%s', got nothing", key);
        }
        return sc_fail(c, n, "expected a list for '%s', got %s", key, node_kind(n));
    }
    if (sc_seq_len(n) > max) {
        return sc_fail(c, n, "too many entries in '%s' (at most %u)", key, max);
    }
    return 0;
}

/* ---- scalars -------------------------------------------------------------- */

int sc_text(sc_ctx *c, const yaml_node_t *n, const char *expected, const char **out)
{
    if (n->type != YAML_SCALAR_NODE) {
        return sc_fail(c, n, "expected %s, got %s", expected, node_kind(n));
    }
    if (is_null(n)) {
        return sc_fail(c, n, "expected %s, got nothing", expected);
    }
    const char *t = (const char *)n->data.scalar.value;
    if (strlen(t) != n->data.scalar.length) {
        return sc_fail(c, n, "expected %s, got a value holding a NUL byte", expected);
    }
    *out = t;
    return 0;
}

static int bad_value(sc_ctx *c, const yaml_node_t *n, const char *expected, const char *t)
{
    char q[64];
    sc_quote(t, q, sizeof(q));
    return sc_fail(c, n, "expected %s, got '%s'", expected, q);
}

static int out_of_range(sc_ctx *c, const yaml_node_t *n, const char *key, const char *t,
                        const char *lo, const char *hi)
{
    char q[64];
    sc_quote(t, q, sizeof(q));
    return sc_fail(c, n, "'%s' must be between %s and %s, got '%s'", key, lo, hi, q);
}

static int parse_u64(const char *t, uint64_t *out)
{
    uint64_t v = 0;
    if (*t == '\0') {
        return -TW_EINVAL;
    }
    for (const char *p = t; *p; p++) {
        if (*p < '0' || *p > '9') {
            return -TW_EINVAL;
        }
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -TW_ERANGE;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

typedef int (*u64_parser)(const char *, uint64_t *);
typedef void (*u64_formatter)(uint64_t, char *, size_t);
static int read_unit(sc_ctx *c, const yaml_node_t *n, const char *key, const char *expected,
                     u64_parser parse, u64_formatter fmt, uint64_t min, uint64_t max, uint64_t *out);

static void fmt_count(uint64_t v, char *buf, size_t len)
{
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

int sc_u64(sc_ctx *c, const yaml_node_t *n, const char *key, uint64_t min, uint64_t max,
           uint64_t *out)
{
    return read_unit(c, n, key, "a whole number such as 42", parse_u64, fmt_count, min, max, out);
}

int sc_u32(sc_ctx *c, const yaml_node_t *n, const char *key, uint32_t min, uint32_t max,
           uint32_t *out)
{
    uint64_t v = 0;
    int rc = sc_u64(c, n, key, min, max, &v);
    if (rc == 0 && n) {
        *out = (uint32_t)v;
    }
    return rc;
}

void sc_fmt_duration(tw_ns ns, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        tw_ns ns;
    } units[] = {{"h", TW_SEC(3600)}, {"m", TW_SEC(60)}, {"s", TW_SEC(1)},
                 {"ms", TW_MS(1)},    {"us", TW_US(1)},  {"ns", 1}};
    for (size_t i = 0; i < TW_ARRAY_LEN(units); i++) {
        if (ns % units[i].ns == 0 && (ns != 0 || units[i].ns == 1000000000ull)) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(ns / units[i].ns), units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%lluns", (unsigned long long)ns);
}

static void fmt_rate(uint64_t bps, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        uint64_t scale;
    } units[] = {{"Tbps", 1000000000000ull},
                 {"Gbps", 1000000000ull},
                 {"Mbps", 1000000ull},
                 {"kbps", 1000ull},
                 {"bps", 1}};
    for (size_t i = 0; i < TW_ARRAY_LEN(units); i++) {
        if (bps >= units[i].scale && bps % units[i].scale == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(bps / units[i].scale), units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%llubps", (unsigned long long)bps);
}

static void fmt_size(uint64_t b, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        uint64_t scale;
    } units[] = {{"TiB", 1ull << 40},
                 {"GiB", 1ull << 30},
                 {"MiB", 1ull << 20},
                 {"KiB", 1ull << 10},
                 {"B", 1}};
    for (size_t i = 0; i < TW_ARRAY_LEN(units); i++) {
        if (b >= units[i].scale && b % units[i].scale == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(b / units[i].scale), units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%lluB", (unsigned long long)b);
}

static int read_unit(sc_ctx *c, const yaml_node_t *n, const char *key, const char *expected,
                     u64_parser parse, u64_formatter fmt, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *t;
    uint64_t v;
    if (n == NULL) {
        return 0;
    }
    int rc = sc_text(c, n, expected, &t);
    if (rc < 0) {
        return rc;
    }
    char lo[32], hi[32];
    fmt(min, lo, sizeof(lo));
    fmt(max, hi, sizeof(hi));
    rc = parse(t, &v);
    if (rc == -TW_ERANGE) {
        return out_of_range(c, n, key, t, lo, hi);
    }
    if (rc < 0) {
        return bad_value(c, n, expected, t);
    }
    if (v < min || v > max) {
        return out_of_range(c, n, key, t, lo, hi);
    }
    *out = v;
    return 0;
}

static int parse_duration_u64(const char *t, uint64_t *out)
{
    return tw_parse_duration(t, out);
}

int sc_duration(sc_ctx *c, const yaml_node_t *n, const char *key, tw_ns min, tw_ns max, tw_ns *out)
{
    return read_unit(c, n, key, "a duration such as 250us", parse_duration_u64, sc_fmt_duration,
                     min, max, out);
}

static void fmt_ps(uint64_t ps, char *buf, size_t len)
{
    snprintf(buf, len, "%llups", (unsigned long long)ps);
}

int sc_duration_ps(sc_ctx *c, const yaml_node_t *n, const char *key, uint64_t max, uint64_t *out)
{
    return read_unit(c, n, key, "a duration such as 50ps", tw_parse_duration_ps, fmt_ps, 0, max,
                     out);
}

int sc_rate(sc_ctx *c, const yaml_node_t *n, const char *key, uint64_t min, uint64_t max,
            uint64_t *out)
{
    return read_unit(c, n, key, "a rate such as 100Mbps", tw_parse_rate, fmt_rate, min, max, out);
}

int sc_size(sc_ctx *c, const yaml_node_t *n, const char *key, uint64_t min, uint64_t max,
            uint64_t *out)
{
    return read_unit(c, n, key, "a size such as 64KiB", tw_parse_size, fmt_size, min, max, out);
}

static void fmt_ppm(uint64_t ppm, char *buf, size_t len)
{
    if (ppm % 10000 == 0) {
        snprintf(buf, len, "%llu%%", (unsigned long long)(ppm / 10000));
    } else {
        snprintf(buf, len, "%llu.%04llu%%", (unsigned long long)(ppm / 10000),
                 (unsigned long long)(ppm % 10000));
    }
}

int sc_ppm(sc_ctx *c, const yaml_node_t *n, const char *key, uint64_t *out)
{
    return read_unit(c, n, key, "a percentage such as 150%", tw_parse_ppm, fmt_ppm, 0, UINT64_MAX,
                     out);
}

int sc_ratio(sc_ctx *c, const yaml_node_t *n, const char *key, tw_ratio *out)
{
    static const char expected[] = "a probability such as 1.5% or 1/1000";
    const char *t;
    if (n == NULL) {
        return 0;
    }
    int rc = sc_text(c, n, expected, &t);
    if (rc < 0) {
        return rc;
    }
    tw_ratio r;
    rc = tw_parse_ratio(t, &r);
    if (rc == -TW_ERANGE) {
        char q[64];
        sc_quote(t, q, sizeof(q));
        return sc_fail(c, n,
                       "'%s' must be between 0%% and 100%% (with a denominator below 2^32), "
                       "got '%s'",
                       key, q);
    }
    if (rc < 0) {
        return bad_value(c, n, expected, t);
    }
    *out = r;
    return 0;
}

int sc_bool(sc_ctx *c, const yaml_node_t *n, const char *key, bool *out)
{
    const char *t;
    if (n == NULL) {
        return 0;
    }
    int rc = sc_text(c, n, "true or false", &t);
    if (rc < 0) {
        return rc;
    }
    /* YAML 1.1's yes/no/on/off are refused: they surprise (the Norway
     * problem) and a scenario gains nothing from them. */
    if (strcmp(t, "true") == 0) {
        *out = true;
    } else if (strcmp(t, "false") == 0) {
        *out = false;
    } else {
        return bad_value(c, n, "true or false", t);
    }
    return 0;
}

int sc_name(sc_ctx *c, const yaml_node_t *n, char out[TW_SCENARIO_NAME_MAX])
{
    static const char expected[] =
        "a name (a letter, then letters, digits, '_' or '-'; at most 31 characters)";
    const char *t;
    int rc = sc_text(c, n, expected, &t);
    if (rc < 0) {
        return rc;
    }
    size_t len = strlen(t);
    bool ok = len > 0 && len < TW_SCENARIO_NAME_MAX &&
              ((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z'));
    for (size_t i = 0; ok && i < len; i++) {
        char ch = t[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '_' || ch == '-';
    }
    if (!ok) {
        return bad_value(c, n, expected, t);
    }
    memcpy(out, t, len + 1);
    return 0;
}

int sc_enum(sc_ctx *c, const yaml_node_t *n, const char *what, const char *const *names,
            uint32_t count, uint32_t *out)
{
    char expected[256];
    size_t used = (size_t)snprintf(expected, sizeof(expected), "one of");
    for (uint32_t i = 0; i < count && used < sizeof(expected); i++) {
        int w =
            snprintf(expected + used, sizeof(expected) - used, "%s%s", i ? ", " : " ", names[i]);
        if (w < 0) {
            break;
        }
        used += (size_t)w;
    }
    const char *t;
    if (n == NULL) {
        return 0;
    }
    int rc = sc_text(c, n, expected, &t);
    if (rc < 0) {
        return rc;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (strcmp(t, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    char q[64];
    sc_quote(t, q, sizeof(q));
    const char *hint = sc_suggest(t, names, count);
    if (hint) {
        return sc_fail(c, n, "unknown %s '%s' (did you mean '%s'?)", what, q, hint);
    }
    return sc_fail(c, n, "unknown %s '%s' (expected %s)", what, q, expected);
}

int sc_addr(sc_ctx *c, const yaml_node_t *n, tw_ipv4_addr *out)
{
    static const char expected[] = "an IPv4 address such as 10.0.0.1";
    const char *t;
    int rc = sc_text(c, n, expected, &t);
    if (rc < 0) {
        return rc;
    }
    if (tw_ipv4_addr_parse(t, out) < 0) {
        return bad_value(c, n, expected, t);
    }
    return 0;
}

int sc_prefix(sc_ctx *c, const yaml_node_t *n, tw_ipv4_addr *addr, uint8_t *len)
{
    static const char expected[] = "an IPv4 address with a prefix length such as 10.0.0.1/24";
    const char *t;
    int rc = sc_text(c, n, expected, &t);
    if (rc < 0) {
        return rc;
    }
    const char *slash = strchr(t, '/');
    char a[16];
    size_t alen = slash ? (size_t)(slash - t) : 0;
    uint64_t plen = 0;
    if (slash == NULL || alen >= sizeof(a) || parse_u64(slash + 1, &plen) < 0 || plen > 32 ||
        strlen(slash + 1) > 2) {
        return bad_value(c, n, expected, t);
    }
    memcpy(a, t, alen);
    a[alen] = '\0';
    if (tw_ipv4_addr_parse(a, addr) < 0) {
        return bad_value(c, n, expected, t);
    }
    *len = (uint8_t)plen;
    return 0;
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

int sc_mac(sc_ctx *c, const yaml_node_t *n, uint8_t mac[6])
{
    static const char expected[] = "a MAC address such as 02:00:00:00:00:01";
    const char *t;
    int rc = sc_text(c, n, expected, &t);
    if (rc < 0) {
        return rc;
    }
    if (strlen(t) != 17) {
        return bad_value(c, n, expected, t);
    }
    for (int i = 0; i < 6; i++) {
        int hi = hex_digit(t[3 * i]);
        int lo = hex_digit(t[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && t[3 * i + 2] != ':')) {
            return bad_value(c, n, expected, t);
        }
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    if (mac[0] & 1) {
        return sc_fail(c, n, "MAC address '%s' is a multicast address (low bit of the first byte)",
                       t);
    }
    return 0;
}

void sc_fmt_addr(tw_ipv4_addr a, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u.%u.%u", (unsigned)(a >> 24), (unsigned)(a >> 16 & 0xff),
             (unsigned)(a >> 8 & 0xff), (unsigned)(a & 0xff));
}
