#include "base/pool.h"

#include <string.h>

#include "base/assert.h"
#include "base/mem.h"

void tw_pool_init(tw_pool *p, uint32_t capacity, uint32_t obj_size)
{
    TW_ASSERT(capacity > 0);
    TW_ASSERT(capacity < TW_POOL_TAKEN);
    TW_ASSERT(obj_size > 0);
    memset(p, 0, sizeof(*p));
    /* Keep objects 16-byte aligned whatever their size. */
    p->obj_size = (obj_size + 15u) & ~15u;
    p->capacity = capacity;
    p->objects = tw_mem_calloc(capacity, p->obj_size);
    p->next_free = tw_mem_calloc(capacity, sizeof(uint32_t));
    for (uint32_t i = 0; i < capacity; i++) {
        p->next_free[i] = i + 1 < capacity ? i + 1 : TW_POOL_NONE;
    }
    p->free_head = 0;
}

void tw_pool_free(tw_pool *p)
{
    tw_mem_free(p->objects);
    tw_mem_free(p->next_free);
    memset(p, 0, sizeof(*p));
}

void *tw_pool_at(const tw_pool *p, uint32_t index)
{
    TW_ASSERT(index < p->capacity);
    return p->objects + (size_t)index * p->obj_size;
}

uint32_t tw_pool_index(const tw_pool *p, const void *obj)
{
    const uint8_t *o = obj;
    TW_ASSERT(o >= p->objects);
    size_t off = (size_t)(o - p->objects);
    TW_ASSERT(off % p->obj_size == 0);
    TW_ASSERT(off / p->obj_size < p->capacity);
    return (uint32_t)(off / p->obj_size);
}

void *tw_pool_take(tw_pool *p)
{
    if (p->free_head == TW_POOL_NONE) {
        p->exhausted++;
        return NULL;
    }
    uint32_t i = p->free_head;
    p->free_head = p->next_free[i];
    p->next_free[i] = TW_POOL_TAKEN;
    p->in_use++;
    if (p->in_use > p->high_water) {
        p->high_water = p->in_use;
    }
    void *obj = tw_pool_at(p, i);
    memset(obj, 0, p->obj_size);
    return obj;
}

void tw_pool_put(tw_pool *p, void *obj)
{
    uint32_t i = tw_pool_index(p, obj);
    TW_ASSERT(p->in_use > 0);
    /* A double put would corrupt the free list: the slot must be taken. */
    TW_ASSERT(p->next_free[i] == TW_POOL_TAKEN);
    p->next_free[i] = p->free_head;
    p->free_head = i;
    p->in_use--;
}
