/* A latency histogram with bounded relative error and fixed memory, after
 * HdrHistogram: values are bucketed by their highest set bit and the next
 * TW_HIST_SUB_BITS bits, so every bucket is at most 1/2^SUB_BITS (3.1%)
 * wide relative to its values, from 1 ns to 2^64 ns. Integer only, so
 * percentiles are the same on every machine. */
#ifndef TW_BASE_HIST_H
#define TW_BASE_HIST_H

#include <stdint.h>

#define TW_HIST_SUB_BITS 5
#define TW_HIST_SUB (1u << TW_HIST_SUB_BITS)
#define TW_HIST_BUCKETS ((64 - TW_HIST_SUB_BITS + 1) * TW_HIST_SUB)

typedef struct tw_hist {
    uint64_t count;
    uint64_t sum; /* saturating */
    uint64_t min;
    uint64_t max;
    uint32_t buckets[TW_HIST_BUCKETS];
} tw_hist;

void tw_hist_init(tw_hist *h);
void tw_hist_add(tw_hist *h, uint64_t value);
/* Adds every sample of src to dst. */
void tw_hist_merge(tw_hist *dst, const tw_hist *src);
/* The value at per-mille p (500 = median, 990 = p99, 999 = p99.9): the
 * highest value of the bucket holding the sample of rank ceil(p/1000 *
 * count), clamped to the maximum seen; 0 when empty. */
uint64_t tw_hist_percentile(const tw_hist *h, uint32_t per_mille);
uint64_t tw_hist_mean(const tw_hist *h);

#endif
