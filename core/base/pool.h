/* A fixed-size pool of equal-sized objects, sized at init. Taking from an
 * empty pool returns NULL and is counted; objects are addressed by index so
 * that references survive as 32-bit handles. */
#ifndef TW_BASE_POOL_H
#define TW_BASE_POOL_H

#include <stddef.h>
#include <stdint.h>

#define TW_POOL_NONE UINT32_MAX
/* next_free of an object that is taken: not a link, and not the list end. */
#define TW_POOL_TAKEN (UINT32_MAX - 1)

typedef struct tw_pool {
    uint8_t *objects;
    uint32_t *next_free; /* free list links, by index */
    uint32_t free_head;
    uint32_t obj_size;
    uint32_t capacity;
    uint32_t in_use;
    uint32_t high_water;
    uint64_t exhausted; /* takes refused because the pool was empty */
} tw_pool;

void tw_pool_init(tw_pool *p, uint32_t capacity, uint32_t obj_size);
void tw_pool_free(tw_pool *p);

/* A zeroed object, or NULL when the pool is exhausted. */
void *tw_pool_take(tw_pool *p);
void tw_pool_put(tw_pool *p, void *obj);

uint32_t tw_pool_index(const tw_pool *p, const void *obj);
void *tw_pool_at(const tw_pool *p, uint32_t index);

#endif
