/* tw_scenario_load, tw_scenario_set and tw_scenario_free: the document's
 * life (libyaml parse, overrides, the sections in order) and the model's
 * ownership (one arena, swapped whole on a successful set). */
#include "scenario/scenario.h"

#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/mem.h"
#include "scenario/internal.h"

static const char *const top_keys[] = {"name",   "seed",   "duration", "hosts", "switches", "links",
                                       "faults", "expect", "capture",  "live",  "swarm",    NULL};

/* ---- libyaml's own errors ------------------------------------------------- */

/* Reader errors (bad UTF-8, a NUL byte) carry only a byte offset; the
 * position is counted here the way libyaml counts, one column per
 * character. */
static yaml_mark_t mark_of_offset(const char *bytes, size_t len, size_t offset)
{
    yaml_mark_t m = {0, 0, 0};
    for (size_t i = 0; i < offset && i < len; i++) {
        unsigned char ch = (unsigned char)bytes[i];
        if (ch == '\n') {
            m.line++;
            m.column = 0;
        } else if ((ch & 0xc0) != 0x80) {
            m.column++;
        }
    }
    m.index = offset;
    return m;
}

static int yaml_failed(sc_ctx *c, const yaml_parser_t *p, const char *bytes, size_t len)
{
    yaml_mark_t m = p->problem_mark;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) {
        m = mark_of_offset(bytes, len, p->problem_offset);
    } else if (p->error == YAML_MEMORY_ERROR) {
        problem = "out of memory while parsing";
    }
    /* A comparison key written bare (>=: 5) starts a folded block scalar in
     * YAML; say so, since libyaml's words will not. */
    const char *hint = "";
    if (m.index + 1 < len && bytes[m.index] == '>' && bytes[m.index + 1] == '=') {
        hint = " (write \">=\" in quotes: a bare > starts a folded text block)";
    } else if (p->context_mark.index + 1 < len && bytes[p->context_mark.index] == '>' &&
               bytes[p->context_mark.index + 1] == '=') {
        hint = " (write \">=\" in quotes: a bare > starts a folded text block)";
    }
    if (p->context) {
        return sc_fail_mark(c, m, "%s (%s at %zu:%zu)%s", problem, p->context,
                            p->context_mark.line + 1, p->context_mark.column + 1, hint);
    }
    return sc_fail_mark(c, m, "%s%s", problem, hint);
}

/* ---- top level ------------------------------------------------------------ */

/* The file name without directories or extension: the default title. */
static void stem(const char *file, char *out, size_t len)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t n = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) {
        n = (size_t)(dot - base);
    }
    if (n == 0) {
        base = "scenario";
        n = strlen(base);
    }
    if (n >= len) {
        n = len - 1;
    }
    memcpy(out, base, n);
    out[n] = '\0';
}

static int load_top(sc_ctx *c, const yaml_node_t *root)
{
    tw_scenario *s = c->s;
    int rc;
    if ((rc = sc_check_map(c, root, "a scenario", top_keys)) < 0) {
        return rc;
    }
    const yaml_node_t *name = sc_get(c, root, "name");
    if (name) {
        const char *t;
        if ((rc = sc_text(c, name, "a scenario name", &t)) < 0) {
            return rc;
        }
        if (strlen(t) >= sizeof(s->name)) {
            return sc_fail(c, name, "scenario name is too long (at most %zu characters)",
                           sizeof(s->name) - 1);
        }
        snprintf(s->name, sizeof(s->name), "%s", t);
    } else {
        stem(c->file, s->name, sizeof(s->name));
    }
    s->seed = 1;
    const yaml_node_t *duration = sc_need(c, root, "duration");
    if (duration == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_u64(c, sc_get(c, root, "seed"), "seed", 0, UINT64_MAX, &s->seed)) < 0) {
        return rc;
    }
    return sc_duration(c, duration, "duration", 1, TW_SCENARIO_DURATION_MAX, &s->duration_ns);
}

static int load_sections(sc_ctx *c, const yaml_node_t *root)
{
    int rc;
    if ((rc = load_top(c, root)) < 0 || (rc = sc_load_hosts(c, root)) < 0 ||
        (rc = sc_load_switches(c, root)) < 0 || (rc = sc_load_links(c, root)) < 0 ||
        (rc = sc_load_apps(c)) < 0 || (rc = sc_load_faults(c, root)) < 0 ||
        (rc = sc_load_expect(c, root)) < 0 || (rc = sc_load_capture(c, root)) < 0 ||
        (rc = sc_load_live(c, root)) < 0 || (rc = sc_load_swarm(c, root)) < 0) {
        return rc;
    }
    return 0;
}

/* ---- the document --------------------------------------------------------- */

/* Parses exactly one document into doc; anything after it is an error. */
static int parse(sc_ctx *c, const char *bytes, size_t len, yaml_document_t *doc)
{
    yaml_parser_t parser;
    int rc = 0;
    if (!yaml_parser_initialize(&parser)) {
        return sc_fail_mark(c, (yaml_mark_t){0, 0, 0}, "out of memory while parsing");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)bytes, len);
    if (!yaml_parser_load(&parser, doc)) {
        rc = yaml_failed(c, &parser, bytes, len);
        yaml_parser_delete(&parser);
        return rc;
    }
    if (yaml_document_get_root_node(doc) == NULL) {
        rc = sc_fail_mark(c, (yaml_mark_t){0, 0, 0},
                          "the file holds no scenario (expected a mapping with duration and "
                          "hosts)");
    } else {
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            rc = yaml_failed(c, &parser, bytes, len);
        } else {
            const yaml_node_t *extra = yaml_document_get_root_node(&next);
            if (extra) {
                rc = sc_fail_mark(c, next.start_mark,
                                  "a scenario file holds one YAML document, found a second");
            }
            yaml_document_delete(&next);
        }
    }
    if (rc < 0) {
        yaml_document_delete(doc);
    }
    yaml_parser_delete(&parser);
    return rc;
}

static void free_parts(tw_scenario *s)
{
    if (s == NULL) {
        return;
    }
    if (s->store) {
        sc_arena arena = s->store->arena;
        tw_mem_free(s->store);
        sc_arena_free(&arena);
    }
    tw_mem_free(s);
}

void tw_scenario_free(tw_scenario *s)
{
    free_parts(s);
}

static int load(const char *file, const char *bytes, size_t len, const sc_override *overrides,
                uint32_t override_count, tw_scenario **out, char *err, size_t err_len)
{
    TW_ASSERT(file != NULL);
    TW_ASSERT(out != NULL);
    TW_ASSERT(bytes != NULL || len == 0);
    *out = NULL;
    if (err_len > 0) {
        err[0] = '\0';
    }
    sc_ctx c = {
        .file = file,
        .err = err,
        .err_len = err_len,
        .overrides = overrides,
        .override_count = override_count,
    };
    yaml_document_t doc;
    int rc = parse(&c, bytes ? bytes : "", len, &doc);
    if (rc < 0) {
        return rc;
    }
    c.doc = &doc;
    tw_scenario *s = tw_mem_calloc(1, sizeof(*s));
    s->store = tw_mem_calloc(1, sizeof(*s->store));
    c.s = s;
    c.arena = &s->store->arena;
    for (uint32_t i = 0; i < override_count && rc == 0; i++) {
        rc = sc_apply_override(&c, i);
    }
    if (rc == 0) {
        rc = load_sections(&c, yaml_document_get_root_node(&doc));
    }
    yaml_document_delete(&doc);
    if (rc < 0) {
        TW_ASSERT(c.failed);
        free_parts(s);
        return rc;
    }
    /* What tw_scenario_set needs to reload with one more override. */
    struct tw_scenario_store *st = s->store;
    st->file = sc_strdup(c.arena, file);
    st->source = sc_alloc(c.arena, len + 1, 1);
    if (len) {
        memcpy(st->source, bytes, len);
    }
    st->source_len = len;
    st->overrides = sc_alloc(c.arena, override_count ? override_count : 1, sizeof(sc_override));
    for (uint32_t i = 0; i < override_count; i++) {
        st->overrides[i].key = sc_strdup(c.arena, overrides[i].key);
        st->overrides[i].value = sc_strdup(c.arena, overrides[i].value);
    }
    st->override_count = override_count;
    c.host_apps = NULL; /* arena memory, released with the model */
    *out = s;
    return 0;
}

int tw_scenario_load(const char *name, const char *bytes, size_t len, tw_scenario **out, char *err,
                     size_t err_len)
{
    return load(name, bytes, len, NULL, 0, out, err, err_len);
}

int tw_scenario_set(tw_scenario *s, const char *key_path, const char *value, char *err,
                    size_t err_len)
{
    TW_ASSERT(s != NULL);
    TW_ASSERT(s->store != NULL);
    TW_ASSERT(key_path != NULL);
    TW_ASSERT(value != NULL);
    const struct tw_scenario_store *st = s->store;
    if (st->override_count >= SC_OVERRIDES_MAX) {
        if (err_len > 0) {
            snprintf(err, err_len, "--set %s=%s: too many overrides (at most %u)", key_path, value,
                     SC_OVERRIDES_MAX);
        }
        return -TW_EINVAL;
    }
    sc_override ovr[SC_OVERRIDES_MAX];
    memcpy(ovr, st->overrides, st->override_count * sizeof(sc_override));
    ovr[st->override_count] = (sc_override){.key = (char *)key_path, .value = (char *)value};
    tw_scenario *fresh = NULL;
    int rc = load(st->file, st->source, st->source_len, ovr, st->override_count + 1, &fresh, err,
                  err_len);
    if (rc < 0) {
        return rc;
    }
    /* Swap contents so the caller's pointer now holds the new model, then
     * free the old one through the other. */
    tw_scenario old = *s;
    *s = *fresh;
    *fresh = old;
    tw_scenario_free(fresh);
    return 0;
}
