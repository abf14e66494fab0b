#include "base/hist.h"

#include <string.h>

#include "base/assert.h"

void tw_hist_init(tw_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

/* Values below SUB map to themselves (exact); above, the bucket is the
 * highest bit's position (shifted so the ranges join) and the SUB_BITS bits
 * below it. */
static uint32_t bucket_of(uint64_t v)
{
    if (v < TW_HIST_SUB) {
        return (uint32_t)v;
    }
    uint32_t msb = 63u - (uint32_t)__builtin_clzll(v);
    uint32_t shift = msb - TW_HIST_SUB_BITS;
    uint32_t sub = (uint32_t)(v >> shift) & (TW_HIST_SUB - 1);
    return (shift + 1) * TW_HIST_SUB + sub;
}

/* The largest value that lands in bucket b. */
static uint64_t bucket_high(uint32_t b)
{
    if (b < TW_HIST_SUB) {
        return b;
    }
    uint32_t shift = b / TW_HIST_SUB - 1;
    uint64_t sub = b % TW_HIST_SUB;
    uint64_t low = (TW_HIST_SUB + sub) << shift;
    return low + ((1ull << shift) - 1);
}

void tw_hist_add(tw_hist *h, uint64_t value)
{
    uint32_t b = bucket_of(value);
    TW_ASSERT(b < TW_HIST_BUCKETS);
    h->buckets[b]++;
    h->count++;
    h->sum = h->sum + value < h->sum ? UINT64_MAX : h->sum + value;
    if (value < h->min) {
        h->min = value;
    }
    if (value > h->max) {
        h->max = value;
    }
}

void tw_hist_merge(tw_hist *dst, const tw_hist *src)
{
    for (uint32_t b = 0; b < TW_HIST_BUCKETS; b++) {
        dst->buckets[b] += src->buckets[b];
    }
    dst->count += src->count;
    dst->sum = dst->sum + src->sum < dst->sum ? UINT64_MAX : dst->sum + src->sum;
    if (src->min < dst->min) {
        dst->min = src->min;
    }
    if (src->max > dst->max) {
        dst->max = src->max;
    }
}

uint64_t tw_hist_percentile(const tw_hist *h, uint32_t per_mille)
{
    TW_ASSERT(per_mille <= 1000);
    if (h->count == 0) {
        return 0;
    }
    uint64_t rank = (h->count * per_mille + 999) / 1000;
    if (rank == 0) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (uint32_t b = 0; b < TW_HIST_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen >= rank) {
            uint64_t v = bucket_high(b);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

uint64_t tw_hist_mean(const tw_hist *h) { return h->count ? h->sum / h->count : 0; }
