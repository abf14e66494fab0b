/* The simulator's event queue, ordered by (time, insertion sequence): the
 * sequence makes the order of simultaneous events a function of the order
 * they were scheduled in, so a run is bit-for-bit reproducible.
 *
 * A radix heap (Ahuja, Mehlhorn, Orlin and Tarjan, 1990), which fits a
 * discrete-event simulator exactly: nothing is ever scheduled before the
 * last event taken (time is monotone), so an event can live in the bucket
 * of the highest bit in which its time differs from that last time. Bucket
 * 0 holds events at exactly the last time. Taking an event from an empty
 * bucket 0 re-files the lowest non-empty bucket around its earliest time;
 * each event moves at most 64 times over its life and in practice two or
 * three, so push and pop are O(1) amortised with no comparisons of
 * sequence numbers at all: buckets are FIFO lists, and events of equal
 * time always share a bucket, so they come out in the order they went in.
 *
 * Bounded: a push beyond `capacity` events fails with -TW_EFULL, counted. */
#ifndef TW_SIM_EVQ_H
#define TW_SIM_EVQ_H

#include <stdbool.h>
#include <stdint.h>

#include "base/time.h"

typedef struct tw_event {
    tw_ns time;
    uint64_t seq;
    uint32_t arg;
    uint16_t target;
    uint16_t kind;
} tw_event;

#define TW_EVQ_BUCKETS 65

typedef struct tw_evq_list {
    uint32_t head;
    uint32_t tail;
} tw_evq_list;

typedef struct tw_evq {
    tw_event *ev;     /* node storage */
    uint32_t *next;   /* FIFO links, by node */
    uint32_t *prev;   /* back links, so an event can be taken out (cancel) */
    uint8_t *bucket_of; /* the bucket a node is in; NONE when free */
    uint32_t free;    /* free node list */
    uint32_t len;
    uint32_t capacity;
    tw_ns last;       /* the time of the last event taken (monotone) */
    uint64_t next_seq;
    uint64_t overflows;
    uint64_t occupied[2]; /* bit b: bucket b non-empty */
    tw_evq_list bucket[TW_EVQ_BUCKETS];
    /* The earliest time in each bucket above 0 (TW_NS_NEVER when empty),
     * kept on every append: peeking and re-filing need it, and scanning a
     * bucket for it was a third of the queue's cost (a bulk run keeps ~27
     * events queued). */
    tw_ns bucket_min[TW_EVQ_BUCKETS];
} tw_evq;

void tw_evq_init(tw_evq *q, uint32_t capacity);
void tw_evq_free(tw_evq *q);
/* 0, or -TW_EFULL (counted) when the queue holds `capacity` events. `time`
 * must not be before the last event taken. */
int tw_evq_push(tw_evq *q, tw_ns time, uint16_t kind, uint16_t target, uint32_t arg);
/* The same, saying which node holds the event (for tw_evq_cancel). */
int tw_evq_push_node(tw_evq *q, tw_ns time, uint16_t kind, uint16_t target, uint32_t arg,
                     uint32_t *node);
/* Takes a queued event out, O(1): a wake that an earlier one replaced
 * leaves nothing behind. The node must hold a queued event. */
void tw_evq_cancel(tw_evq *q, uint32_t node);
bool tw_evq_pop(tw_evq *q, tw_event *out);
/* The time of the next event, TW_NS_NEVER when empty. It never moves the
 * queue's time, so events may still be pushed at any time >= the last one
 * taken. */
tw_ns tw_evq_peek_time(const tw_evq *q);

#endif
