#include "sim/evq.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/mem.h"

#define NIL UINT32_MAX

void tw_evq_init(tw_evq *q, uint32_t capacity)
{
    TW_ASSERT(capacity > 0);
    TW_ASSERT(capacity < NIL);
    memset(q, 0, sizeof(*q));
    q->ev = tw_mem_calloc(capacity, sizeof(tw_event));
    q->next = tw_mem_calloc(capacity, sizeof(uint32_t));
    q->capacity = capacity;
    for (uint32_t i = 0; i < capacity; i++) {
        q->next[i] = i + 1 < capacity ? i + 1 : NIL;
    }
    q->free = 0;
    for (uint32_t b = 0; b < TW_EVQ_BUCKETS; b++) {
        q->bucket[b].head = q->bucket[b].tail = NIL;
    }
}

void tw_evq_free(tw_evq *q)
{
    tw_mem_free(q->ev);
    tw_mem_free(q->next);
    q->ev = NULL;
    q->next = NULL;
}

static inline uint32_t bucket_of(tw_ns last, tw_ns time)
{
    return time == last ? 0 : 64u - (uint32_t)__builtin_clzll(time ^ last);
}

static inline void append(tw_evq *q, uint32_t b, uint32_t node)
{
    tw_evq_list *l = &q->bucket[b];
    q->next[node] = NIL;
    if (l->tail == NIL) {
        l->head = node;
        q->occupied[b >> 6] |= 1ull << (b & 63);
    } else {
        q->next[l->tail] = node;
    }
    l->tail = node;
}

int tw_evq_push(tw_evq *q, tw_ns time, uint16_t kind, uint16_t target, uint32_t arg)
{
    TW_ASSERT(time >= q->last);
    if (q->free == NIL) {
        q->overflows++;
        return -TW_EFULL;
    }
    uint32_t node = q->free;
    q->free = q->next[node];
    q->ev[node] = (tw_event){.time = time, .seq = q->next_seq++, .arg = arg, .target = target,
                             .kind = kind};
    append(q, bucket_of(q->last, time), node);
    q->len++;
    if (q->peek_valid && time < q->peeked) {
        q->peeked = time;
    }
    return 0;
}

/* Makes bucket 0 non-empty when any event is queued: the lowest non-empty
 * bucket is re-filed around its earliest time, in list order, so events of
 * equal time keep their order. */
static uint32_t lowest_bucket(const tw_evq *q)
{
    uint32_t b = q->occupied[0] ? (uint32_t)__builtin_ctzll(q->occupied[0])
                                : 64u + (uint32_t)__builtin_ctzll(q->occupied[1]);
    TW_ASSERT(b < TW_EVQ_BUCKETS);
    return b;
}

/* Every event of a lower bucket is earlier than every event of a higher
 * one, so the earliest of all is the earliest of the lowest bucket. */
static tw_ns earliest_of(const tw_evq *q, uint32_t b)
{
    tw_ns min = TW_NS_NEVER;
    for (uint32_t n = q->bucket[b].head; n != NIL; n = q->next[n]) {
        if (q->ev[n].time < min) {
            min = q->ev[n].time;
        }
    }
    return min;
}

static bool settle(tw_evq *q)
{
    if (q->bucket[0].head != NIL) {
        return true;
    }
    if (q->len == 0) {
        return false;
    }
    uint32_t b = lowest_bucket(q);
    TW_ASSERT(b > 0);
    tw_ns min = q->peek_valid ? q->peeked : earliest_of(q, b);
    q->peek_valid = false;
    tw_evq_list l = q->bucket[b];
    q->bucket[b].head = q->bucket[b].tail = NIL;
    q->occupied[b >> 6] &= ~(1ull << (b & 63));
    q->last = min;
    for (uint32_t n = l.head; n != NIL;) {
        uint32_t nx = q->next[n];
        uint32_t nb = bucket_of(min, q->ev[n].time);
        /* Everything in bucket b lies below the next power of two: it can
         * only move down. */
        TW_ASSERT(nb < b);
        append(q, nb, n);
        n = nx;
    }
    return true;
}

bool tw_evq_pop(tw_evq *q, tw_event *out)
{
    if (!settle(q)) {
        return false;
    }
    tw_evq_list *l = &q->bucket[0];
    uint32_t node = l->head;
    *out = q->ev[node];
    l->head = q->next[node];
    if (l->head == NIL) {
        l->tail = NIL;
        q->occupied[0] &= ~1ull;
    }
    q->next[node] = q->free;
    q->free = node;
    q->len--;
    return true;
}

tw_ns tw_evq_peek_time(tw_evq *q)
{
    if (q->bucket[0].head != NIL) {
        return q->last;
    }
    if (q->len == 0) {
        return TW_NS_NEVER;
    }
    if (!q->peek_valid) {
        q->peeked = earliest_of(q, lowest_bucket(q));
        q->peek_valid = true;
    }
    return q->peeked;
}
