#include "net/route.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/mem.h"

void tw_route_table_init(tw_route_table *t, uint32_t max)
{
    TW_ASSERT(max > 0);
    memset(t, 0, sizeof(*t));
    t->routes = tw_mem_calloc(max, sizeof(tw_route));
    t->max = max;
}

void tw_route_table_free(tw_route_table *t)
{
    tw_mem_free(t->routes);
    memset(t, 0, sizeof(*t));
}

int tw_route_add(tw_route_table *t, const tw_route *r)
{
    if (r->prefix_len > 32) {
        return -TW_EINVAL;
    }
    tw_ipv4_addr dst = r->dst & tw_ipv4_prefix_mask(r->prefix_len);
    uint32_t at = t->count;
    for (uint32_t i = 0; i < t->count; i++) {
        const tw_route *e = &t->routes[i];
        if (e->prefix_len == r->prefix_len && e->dst == dst) {
            return -TW_EEXIST;
        }
        /* Insert before the first shorter prefix: longest first. */
        if (at == t->count && e->prefix_len < r->prefix_len) {
            at = i;
        }
    }
    if (t->count == t->max) {
        return -TW_EFULL;
    }
    memmove(&t->routes[at + 1], &t->routes[at], (t->count - at) * sizeof(tw_route));
    t->routes[at] = *r;
    t->routes[at].dst = dst;
    t->count++;
    return 0;
}

int tw_route_del(tw_route_table *t, tw_ipv4_addr dst, uint8_t prefix_len)
{
    if (prefix_len > 32) {
        return -TW_EINVAL;
    }
    dst &= tw_ipv4_prefix_mask(prefix_len);
    for (uint32_t i = 0; i < t->count; i++) {
        if (t->routes[i].prefix_len == prefix_len && t->routes[i].dst == dst) {
            memmove(&t->routes[i], &t->routes[i + 1], (t->count - i - 1) * sizeof(tw_route));
            t->count--;
            return 0;
        }
    }
    return -TW_ENOENT;
}

const tw_route *tw_route_lookup(tw_route_table *t, tw_ipv4_addr dst)
{
    t->lookups++;
    /* RFC 1812 §5.2.4.3: the longest match wins; the table is sorted so
     * that the first match is the longest. */
    for (uint32_t i = 0; i < t->count; i++) {
        const tw_route *r = &t->routes[i];
        if (tw_ipv4_addr_in_subnet(dst, r->dst, r->prefix_len)) {
            return r;
        }
    }
    t->misses++;
    return NULL;
}
