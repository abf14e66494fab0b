/* A bounded FIFO of fixed-size elements. The capacity is fixed at init and
 * a push into a full ring fails with -TW_EFULL and is counted: a limit on
 * everything, and hitting it is never undefined. Single-threaded; the live
 * drivers wrap their own cross-thread rings. */
#ifndef TW_BASE_RING_H
#define TW_BASE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tw_ring {
    uint8_t *slots;
    uint32_t elem_size;
    uint32_t capacity; /* a power of two */
    uint32_t head;     /* next to pop; free-running */
    uint32_t tail;     /* next to push; free-running */
    uint32_t high_water;
    uint64_t pushes;
    uint64_t overflows; /* pushes refused because the ring was full */
} tw_ring;

/* capacity is rounded up to a power of two; storage is allocated here (init
 * time only). */
void tw_ring_init(tw_ring *r, uint32_t capacity, uint32_t elem_size);
void tw_ring_free(tw_ring *r);

int tw_ring_push(tw_ring *r, const void *elem);
bool tw_ring_pop(tw_ring *r, void *elem_out);
/* The element that tw_ring_pop would return, or NULL when empty. */
void *tw_ring_peek(const tw_ring *r);
/* A slot to fill in place, committed by tw_ring_push_commit(); NULL (and an
 * overflow counted) when full. Saves a copy on hot paths. */
void *tw_ring_push_slot(tw_ring *r);
void tw_ring_push_commit(tw_ring *r);
void tw_ring_clear(tw_ring *r);

static inline uint32_t tw_ring_len(const tw_ring *r) { return r->tail - r->head; }
static inline bool tw_ring_empty(const tw_ring *r) { return r->tail == r->head; }
static inline bool tw_ring_full(const tw_ring *r) { return tw_ring_len(r) == r->capacity; }

#endif
