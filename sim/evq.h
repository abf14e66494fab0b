/* The simulator's event queue: a bounded 4-ary min-heap ordered by
 * (time, insertion sequence). The sequence makes the order of simultaneous
 * events a function of the order they were scheduled in, never of heap
 * layout, so a run is bit-for-bit reproducible. A 4-ary heap halves the
 * depth of a binary one and keeps siblings in one cache line. */
#ifndef TW_SIM_EVQ_H
#define TW_SIM_EVQ_H

#include <stdbool.h>
#include <stdint.h>

#include "base/time.h"

/* 24 bytes, so more of the heap's hot top stays in cache. */
typedef struct tw_event {
    tw_ns time;
    uint64_t seq;
    uint32_t arg;
    uint16_t target;
    uint16_t kind;
} tw_event;

typedef struct tw_evq {
    tw_event *heap;
    uint32_t len;
    uint32_t capacity;
    uint64_t next_seq;
    uint64_t overflows;
} tw_evq;

void tw_evq_init(tw_evq *q, uint32_t capacity);
void tw_evq_free(tw_evq *q);
/* 0, or -TW_EFULL (counted) when the queue holds `capacity` events. */
int tw_evq_push(tw_evq *q, tw_ns time, uint16_t kind, uint16_t target, uint32_t arg);
bool tw_evq_pop(tw_evq *q, tw_event *out);
/* TW_NS_NEVER when empty. */
static inline tw_ns tw_evq_peek_time(const tw_evq *q)
{
    return q->len ? q->heap[0].time : TW_NS_NEVER;
}

#endif
