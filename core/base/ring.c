#include "base/ring.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/mem.h"

static uint32_t round_up_pow2(uint32_t x)
{
    uint32_t p = 1;
    while (p < x) {
        TW_ASSERT(p < (1u << 31));
        p <<= 1;
    }
    return p;
}

void tw_ring_init(tw_ring *r, uint32_t capacity, uint32_t elem_size)
{
    TW_ASSERT(capacity > 0);
    TW_ASSERT(elem_size > 0);
    memset(r, 0, sizeof(*r));
    r->capacity = round_up_pow2(capacity);
    r->elem_size = elem_size;
    r->slots = tw_mem_calloc(r->capacity, elem_size);
}

void tw_ring_free(tw_ring *r)
{
    tw_mem_free(r->slots);
    r->slots = NULL;
}

static inline uint8_t *slot_at(const tw_ring *r, uint32_t pos)
{
    return r->slots + (size_t)(pos & (r->capacity - 1)) * r->elem_size;
}

void *tw_ring_push_slot(tw_ring *r)
{
    if (tw_ring_full(r)) {
        r->overflows++;
        return NULL;
    }
    return slot_at(r, r->tail);
}

void tw_ring_push_commit(tw_ring *r)
{
    TW_ASSERT(!tw_ring_full(r));
    r->tail++;
    r->pushes++;
    uint32_t len = tw_ring_len(r);
    if (len > r->high_water) {
        r->high_water = len;
    }
}

int tw_ring_push(tw_ring *r, const void *elem)
{
    void *slot = tw_ring_push_slot(r);
    if (slot == NULL) {
        return -TW_EFULL;
    }
    memcpy(slot, elem, r->elem_size);
    tw_ring_push_commit(r);
    return 0;
}

void *tw_ring_peek(const tw_ring *r)
{
    return tw_ring_empty(r) ? NULL : slot_at(r, r->head);
}

bool tw_ring_pop(tw_ring *r, void *elem_out)
{
    if (tw_ring_empty(r)) {
        return false;
    }
    if (elem_out) {
        memcpy(elem_out, slot_at(r, r->head), r->elem_size);
    }
    r->head++;
    return true;
}

void tw_ring_clear(tw_ring *r) { r->head = r->tail; }
