/* Deterministic randomness: xoshiro256** seeded through splitmix64 from the
 * scenario seed and a stream id (one stream per host, core, link...), so
 * adding a consumer of randomness never shifts another stream's draws.
 * The rng is always an argument; core/ never calls rand(). */
#ifndef TW_BASE_RNG_H
#define TW_BASE_RNG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/ratio.h"

typedef struct tw_rng {
    uint64_t s[4];
} tw_rng;

/* One step of splitmix64: advances *state and returns the next output. */
uint64_t tw_splitmix64(uint64_t *state);

void tw_rng_init(tw_rng *rng, uint64_t seed, uint64_t stream);
uint64_t tw_rng_next(tw_rng *rng);
/* Uniform in [0, bound), bound > 0, without modulo bias (Lemire's method). */
uint64_t tw_rng_below(tw_rng *rng, uint64_t bound);
/* Uniform in [lo, hi], lo <= hi. */
uint64_t tw_rng_range(tw_rng *rng, uint64_t lo, uint64_t hi);
/* True with probability r. Draws exactly one number unless r is 0 or 1,
 * which draw none: a knob set to 0 leaves the stream untouched. */
bool tw_rng_chance(tw_rng *rng, tw_ratio r);

#endif
