#include "net/fbuf.h"

#include <string.h>

#include "base/assert.h"
#include "base/mem.h"

void tw_fbuf_pool_init(tw_fbuf_pool *p, uint32_t count, uint32_t size)
{
    TW_ASSERT(count > 0);
    TW_ASSERT(count < TW_FBUF_NONE);
    TW_ASSERT(size > 0);
    memset(p, 0, sizeof(*p));
    /* Keep every buffer 64-byte aligned: a frame starts a cache line. */
    p->size = (size + 63u) & ~63u;
    p->count = count;
    p->mem = tw_mem_calloc(count, p->size);
    p->meta = tw_mem_calloc(count, sizeof(tw_fbuf_meta));
    p->free_stack = tw_mem_calloc(count, sizeof(uint32_t));
    /* Lowest index on top, so the first takes are 0, 1, 2...: easier to
     * read in a debugger, and deterministic either way. */
    for (uint32_t i = 0; i < count; i++) {
        p->free_stack[i] = count - 1 - i;
    }
    p->free_len = count;
}

void tw_fbuf_pool_free(tw_fbuf_pool *p)
{
    tw_mem_free(p->mem);
    tw_mem_free(p->meta);
    tw_mem_free(p->free_stack);
    memset(p, 0, sizeof(*p));
}

uint32_t tw_fbuf_take(tw_fbuf_pool *p)
{
    if (p->free_len == 0) {
        p->exhausted++;
        return TW_FBUF_NONE;
    }
    uint32_t i = p->free_stack[--p->free_len];
    tw_fbuf_meta *m = &p->meta[i];
    TW_ASSERT(!m->taken);
    memset(m, 0, sizeof(*m));
    m->next = TW_FBUF_NONE;
    m->taken = 1;
    uint32_t in_use = p->count - p->free_len;
    if (in_use > p->high_water) {
        p->high_water = in_use;
    }
    return i;
}

void tw_fbuf_put(tw_fbuf_pool *p, uint32_t index)
{
    TW_ASSERT(index < p->count);
    TW_ASSERT(p->meta[index].taken);
    TW_ASSERT(p->free_len < p->count);
    p->meta[index].taken = 0;
    p->free_stack[p->free_len++] = index;
}
