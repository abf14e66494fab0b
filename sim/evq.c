#include "sim/evq.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/mem.h"

void tw_evq_init(tw_evq *q, uint32_t capacity)
{
    TW_ASSERT(capacity > 0);
    memset(q, 0, sizeof(*q));
    q->heap = tw_mem_calloc(capacity, sizeof(tw_event));
    q->capacity = capacity;
}

void tw_evq_free(tw_evq *q)
{
    tw_mem_free(q->heap);
    q->heap = NULL;
}

static inline bool before(const tw_event *a, const tw_event *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

int tw_evq_push(tw_evq *q, tw_ns time, uint16_t kind, uint16_t target, uint32_t arg)
{
    if (q->len == q->capacity) {
        q->overflows++;
        return -TW_EFULL;
    }
    tw_event ev = {.time = time, .seq = q->next_seq++, .arg = arg, .target = target, .kind = kind};
    uint32_t i = q->len++;
    while (i > 0) {
        uint32_t parent = (i - 1) >> 2;
        if (!before(&ev, &q->heap[parent])) {
            break;
        }
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = ev;
    return 0;
}

bool tw_evq_pop(tw_evq *q, tw_event *out)
{
    if (q->len == 0) {
        return false;
    }
    *out = q->heap[0];
    tw_event last = q->heap[--q->len];
    uint32_t n = q->len;
    uint32_t i = 0;
    for (;;) {
        uint32_t first = (i << 2) + 1;
        if (first >= n) {
            break;
        }
        uint32_t best = first;
        uint32_t end = first + 4 < n ? first + 4 : n;
        for (uint32_t c = first + 1; c < end; c++) {
            if (before(&q->heap[c], &q->heap[best])) {
                best = c;
            }
        }
        if (!before(&q->heap[best], &last)) {
            break;
        }
        q->heap[i] = q->heap[best];
        i = best;
    }
    if (n > 0) {
        q->heap[i] = last;
    }
    return true;
}
