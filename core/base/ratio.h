/* Probabilities as integer ratios, never floats, so that a run is
 * bit-identical across compilers and optimisation levels (TigerBeetle's
 * rule). A ratio is num/den with den > 0 and num <= den. */
#ifndef TW_BASE_RATIO_H
#define TW_BASE_RATIO_H

#include <stdbool.h>
#include <stdint.h>

typedef struct tw_ratio {
    uint32_t num;
    uint32_t den;
} tw_ratio;

#define TW_RATIO(n, d) ((tw_ratio){.num = (n), .den = (d)})
#define TW_RATIO_ZERO TW_RATIO(0, 1)
#define TW_RATIO_ONE TW_RATIO(1, 1)

static inline bool tw_ratio_valid(tw_ratio r) { return r.den > 0 && r.num <= r.den; }
static inline bool tw_ratio_is_zero(tw_ratio r) { return r.num == 0; }

/* x * r, rounded down, without overflow for any 64-bit x. */
static inline uint64_t tw_ratio_scale(tw_ratio r, uint64_t x)
{
    return (uint64_t)(((unsigned __int128)x * r.num) / r.den);
}

#endif
