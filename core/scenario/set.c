/* `--set key=value`: an override is applied to the YAML document before the
 * model is built, so an overridden value passes through exactly the checks
 * a written one does. The path walks mappings by key and lists by the
 * `name` of their entries (or an index); a missing key is added, a missing
 * mapping on the way is created. Nodes it makes carry SC_OVERRIDE_MARK, so
 * a complaint about them names the --set instead of a place in the file. */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "scenario/internal.h"

#define SEGMENTS_MAX 16

static int add_scalar(sc_ctx *c, yaml_mark_t m, const char *text)
{
    int id = yaml_document_add_scalar(c->doc, NULL, (const yaml_char_t *)text, (int)strlen(text),
                                      YAML_PLAIN_SCALAR_STYLE);
    if (id == 0) {
        sc_fail_mark(c, m, "not valid UTF-8");
        return 0;
    }
    yaml_node_t *n = sc_node(c, id);
    n->start_mark = n->end_mark = m;
    return id;
}

static int add_mapping(sc_ctx *c, yaml_mark_t m)
{
    int id = yaml_document_add_mapping(c->doc, NULL, YAML_BLOCK_MAPPING_STYLE);
    if (id == 0) {
        sc_fail_mark(c, m, "out of memory");
        return 0;
    }
    yaml_node_t *n = sc_node(c, id);
    n->start_mark = n->end_mark = m;
    return id;
}

static const char *item_name(const sc_ctx *c, const yaml_node_t *item)
{
    if (item->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    const yaml_node_t *name = sc_get(c, item, "name");
    return name && name->type == YAML_SCALAR_NODE ? (const char *)name->data.scalar.value : NULL;
}

/* The entry of list `seq` (under key `parent`) that seg names: by name,
 * by the default name of an unnamed entry ("link<i>" for a link, the
 * host's name for a host's only app, as the loader names them), or by
 * index. `owner` is the name of the entry the list belongs to, if any. */
static int find_item(sc_ctx *c, yaml_mark_t m, int seq, const char *parent, const char *owner,
                     const char *seg)
{
    const yaml_node_t *n = sc_node(c, seq);
    uint32_t len = sc_seq_len(n);
    for (uint32_t i = 0; i < len; i++) {
        const yaml_node_t *item = sc_node(c, sc_seq_item(n, i));
        const char *name = item_name(c, item);
        char autoname[24];
        snprintf(autoname, sizeof(autoname), "link%u", i);
        bool default_app =
            !name && len == 1 && strcmp(parent, "apps") == 0 && owner && strcmp(seg, owner) == 0;
        if ((name && strcmp(name, seg) == 0) || default_app ||
            (!name && strcmp(parent, "links") == 0 && strcmp(seg, autoname) == 0)) {
            return sc_seq_item(n, i);
        }
    }
    uint64_t index = 0;
    const char *p = seg;
    for (; *p >= '0' && *p <= '9' && index <= len; p++) {
        index = index * 10 + (uint64_t)(*p - '0');
    }
    if (p != seg && *p == '\0' && index < len) {
        return sc_seq_item(n, (uint32_t)index);
    }
    const char *names[64];
    uint32_t count = 0;
    for (uint32_t i = 0; i < len && count < 64; i++) {
        const char *name = item_name(c, sc_node(c, sc_seq_item(n, i)));
        if (name) {
            names[count++] = name;
        }
    }
    const char *hint = sc_suggest(seg, names, count);
    char q[64];
    sc_quote(seg, q, sizeof(q));
    if (hint) {
        sc_fail_mark(c, m, "no entry '%s' in '%s' (did you mean '%s'?)", q, parent, hint);
    } else {
        sc_fail_mark(c, m, "no entry '%s' in '%s' (entries are chosen by name or index)", q,
                     parent);
    }
    return 0;
}

/* The pair of mapping `map` whose key is seg, or -1. */
static long find_pair(const sc_ctx *c, int map, const char *seg)
{
    const yaml_node_t *n = sc_node(c, map);
    long count = n->data.mapping.pairs.top - n->data.mapping.pairs.start;
    for (long i = 0; i < count; i++) {
        const yaml_node_t *k = sc_node(c, n->data.mapping.pairs.start[i].key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, seg) == 0) {
            return i;
        }
    }
    return -1;
}

int sc_apply_override(sc_ctx *c, uint32_t index)
{
    const sc_override *o = &c->overrides[index];
    yaml_mark_t m = {.index = SC_OVERRIDE_MARK, .line = index, .column = 0};
    char path[256];
    char *seg[SEGMENTS_MAX];
    uint32_t nseg = 0;
    if (strlen(o->key) >= sizeof(path)) {
        return sc_fail_mark(c, m, "key path is too long");
    }
    memcpy(path, o->key, strlen(o->key) + 1);
    for (char *p = path;;) {
        char *dot = strchr(p, '.');
        if (dot) {
            *dot = '\0';
        }
        if (*p == '\0' || nseg == SEGMENTS_MAX) {
            return sc_fail_mark(c, m, "expected a key path such as links.l1.loss");
        }
        seg[nseg++] = p;
        if (!dot) {
            break;
        }
        p = dot + 1;
    }
    int node = 1; /* the root: the document's first node */
    const char *parent = "the scenario";
    const char *owner = NULL; /* the name of the last list entry passed */
    for (uint32_t i = 0; i < nseg; i++) {
        bool last = i + 1 == nseg;
        const yaml_node_t *n = sc_node(c, node);
        if (n->type == YAML_SEQUENCE_NODE) {
            if (last) {
                return sc_fail_mark(c, m, "'%s' names a whole entry of '%s', not a value", seg[i],
                                    parent);
            }
            if ((node = find_item(c, m, node, parent, owner, seg[i])) == 0) {
                return -TW_EINVAL;
            }
            owner = seg[i];
        } else if (n->type == YAML_MAPPING_NODE) {
            long pair = find_pair(c, node, seg[i]);
            if (last) {
                int value = add_scalar(c, m, o->value);
                if (value == 0) {
                    return -TW_EINVAL;
                }
                if (pair >= 0) {
                    sc_node(c, node)->data.mapping.pairs.start[pair].value = value;
                    return 0;
                }
                int key = add_scalar(c, m, seg[i]);
                if (key == 0 || !yaml_document_append_mapping_pair(c->doc, node, key, value)) {
                    return sc_fail_mark(c, m, "could not add '%s'", seg[i]);
                }
                return 0;
            }
            if (pair >= 0) {
                node = sc_node(c, node)->data.mapping.pairs.start[pair].value;
            } else {
                /* A mapping on the way that the file leaves out:
                 * links.l1.forward.loss on a link without `forward`. */
                int key = add_scalar(c, m, seg[i]);
                int map = key ? add_mapping(c, m) : 0;
                if (map == 0 || !yaml_document_append_mapping_pair(c->doc, node, key, map)) {
                    return sc_fail_mark(c, m, "could not add '%s'", seg[i]);
                }
                node = map;
            }
        } else {
            return sc_fail_mark(c, m, "'%s' is a value, so '%s' cannot be set inside it", parent,
                                seg[i]);
        }
        parent = seg[i];
    }
    return 0;
}
