#include "base/rng.h"

#include "base/assert.h"

uint64_t tw_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void tw_rng_init(tw_rng *rng, uint64_t seed, uint64_t stream)
{
    /* Mix the stream id through its own splitmix step first so that streams
     * s and s+1 of one seed are unrelated, not shifted copies. */
    uint64_t st = stream;
    uint64_t state = seed ^ tw_splitmix64(&st);
    for (int i = 0; i < 4; i++) {
        rng->s[i] = tw_splitmix64(&state);
    }
    /* xoshiro's only forbidden state is all zeros; splitmix64 cannot give
     * four zero outputs in a row, but say so. */
    TW_ASSERT((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) != 0);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tw_rng_next(tw_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tw_rng_below(tw_rng *rng, uint64_t bound)
{
    TW_ASSERT(bound > 0);
    unsigned __int128 m = (unsigned __int128)tw_rng_next(rng) * bound;
    uint64_t low = (uint64_t)m;
    if (low < bound) {
        uint64_t threshold = -bound % bound;
        while (low < threshold) {
            m = (unsigned __int128)tw_rng_next(rng) * bound;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

uint64_t tw_rng_range(tw_rng *rng, uint64_t lo, uint64_t hi)
{
    TW_ASSERT(lo <= hi);
    if (lo == 0 && hi == UINT64_MAX) {
        return tw_rng_next(rng);
    }
    return lo + tw_rng_below(rng, hi - lo + 1);
}

bool tw_rng_chance(tw_rng *rng, tw_ratio r)
{
    TW_ASSERT(tw_ratio_valid(r));
    if (r.num == 0) {
        return false;
    }
    if (r.num == r.den) {
        return true;
    }
    return tw_rng_below(rng, r.den) < r.num;
}
