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

/* (time, seq) as one 128-bit key: a single comparison the compiler can do
 * without branches. */
static inline unsigned __int128 key(const tw_event *e)
{
    return ((unsigned __int128)e->time << 64) | e->seq;
}

static inline bool before(const tw_event *a, const tw_event *b) { return key(a) < key(b); }

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

/* Bottom-up deletion: walk the hole at the root down to a leaf along the
 * smallest children (no comparison with the displaced last element on the
 * way), then sift that element up from the leaf. In an event queue the last
 * element almost always belongs near the bottom, so this does about half the
 * comparisons of the textbook sift-down. */
bool tw_evq_pop(tw_evq *q, tw_event *out)
{
    if (q->len == 0) {
        return false;
    }
    *out = q->heap[0];
    uint32_t n = --q->len;
    if (n == 0) {
        return true;
    }
    tw_event last = q->heap[n];
    tw_event *h = q->heap;
    uint32_t i = 0;
    for (;;) {
        uint32_t first = (i << 2) + 1;
        if (first >= n) {
            break;
        }
        uint32_t best = first;
        unsigned __int128 bk = key(&h[first]);
        uint32_t end = first + 4 < n ? first + 4 : n;
        for (uint32_t c = first + 1; c < end; c++) {
            unsigned __int128 ck = key(&h[c]);
            if (ck < bk) {
                bk = ck;
                best = c;
            }
        }
        h[i] = h[best];
        i = best;
    }
    unsigned __int128 lk = key(&last);
    while (i > 0) {
        uint32_t parent = (i - 1) >> 2;
        if (!(lk < key(&h[parent]))) {
            break;
        }
        h[i] = h[parent];
        i = parent;
    }
    h[i] = last;
    return true;
}
