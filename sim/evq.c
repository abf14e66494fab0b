#include "sim/evq.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/mem.h"

#define NIL UINT32_MAX
#define FREE 0xffu

void tw_evq_init(tw_evq *q, uint32_t capacity)
{
    TW_ASSERT(capacity > 0);
    TW_ASSERT(capacity < NIL);
    memset(q, 0, sizeof(*q));
    q->ev = tw_mem_calloc(capacity, sizeof(tw_event));
    q->next = tw_mem_calloc(capacity, sizeof(uint32_t));
    q->prev = tw_mem_calloc(capacity, sizeof(uint32_t));
    q->bucket_of = tw_mem_calloc(capacity, 1);
    q->capacity = capacity;
    for (uint32_t i = 0; i < capacity; i++) {
        q->next[i] = i + 1 < capacity ? i + 1 : NIL;
        q->bucket_of[i] = FREE;
    }
    q->free = 0;
    for (uint32_t b = 0; b < TW_EVQ_BUCKETS; b++) {
        q->bucket[b].head = q->bucket[b].tail = NIL;
        q->bucket_min[b] = TW_NS_NEVER;
    }
}

void tw_evq_free(tw_evq *q)
{
    tw_mem_free(q->ev);
    tw_mem_free(q->next);
    tw_mem_free(q->prev);
    tw_mem_free(q->bucket_of);
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
    q->prev[node] = l->tail;
    q->bucket_of[node] = (uint8_t)b;
    if (l->tail == NIL) {
        l->head = node;
        q->occupied[b >> 6] |= 1ull << (b & 63);
    } else {
        q->next[l->tail] = node;
    }
    l->tail = node;
    if (q->ev[node].time < q->bucket_min[b]) {
        q->bucket_min[b] = q->ev[node].time;
    }
}

static tw_ns earliest_of_list(const tw_evq *q, uint32_t head)
{
    tw_ns min = TW_NS_NEVER;
    for (uint32_t n = head; n != NIL; n = q->next[n]) {
        if (q->ev[n].time < min) {
            min = q->ev[n].time;
        }
    }
    return min;
}

/* Unlinks node from its bucket's list. */
static inline void unlink_node(tw_evq *q, uint32_t node)
{
    uint32_t b = q->bucket_of[node];
    TW_ASSERT(b != FREE);
    tw_evq_list *l = &q->bucket[b];
    uint32_t p = q->prev[node], n = q->next[node];
    if (p == NIL) {
        l->head = n;
    } else {
        q->next[p] = n;
    }
    if (n == NIL) {
        l->tail = p;
    } else {
        q->prev[n] = p;
    }
    if (l->head == NIL) {
        q->occupied[b >> 6] &= ~(1ull << (b & 63));
        q->bucket_min[b] = TW_NS_NEVER;
    } else if (q->ev[node].time == q->bucket_min[b] && b > 0) {
        /* Only a cancel takes from a bucket above 0, and rarely. */
        q->bucket_min[b] = earliest_of_list(q, l->head);
    }
    q->bucket_of[node] = FREE;
}

static inline void release(tw_evq *q, uint32_t node)
{
    q->next[node] = q->free;
    q->free = node;
    q->len--;
}

void tw_evq_cancel(tw_evq *q, uint32_t node)
{
    TW_ASSERT(node < q->capacity);
    unlink_node(q, node);
    release(q, node);
}

int tw_evq_push(tw_evq *q, tw_ns time, uint16_t kind, uint16_t target, uint32_t arg)
{
    uint32_t node;
    return tw_evq_push_node(q, time, kind, target, arg, &node);
}

int tw_evq_push_node(tw_evq *q, tw_ns time, uint16_t kind, uint16_t target, uint32_t arg,
                     uint32_t *out)
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
    *out = node;
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
    tw_ns min = q->bucket_min[b];
    TW_ASSERT(min != TW_NS_NEVER);
    tw_evq_list l = q->bucket[b];
    q->bucket[b].head = q->bucket[b].tail = NIL;
    q->occupied[b >> 6] &= ~(1ull << (b & 63));
    q->bucket_min[b] = TW_NS_NEVER;
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
    uint32_t node = q->bucket[0].head;
    *out = q->ev[node];
    unlink_node(q, node);
    release(q, node);
    return true;
}

/* Every event of a lower bucket is earlier than every event of a higher
 * one, so the earliest of all is the earliest of the lowest bucket. */
tw_ns tw_evq_peek_time(const tw_evq *q)
{
    if (q->bucket[0].head != NIL) {
        return q->last;
    }
    if (q->len == 0) {
        return TW_NS_NEVER;
    }
    return q->bucket_min[lowest_bucket(q)];
}
