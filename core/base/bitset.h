/* Fixed-size bitsets over uint64_t words: the dirty-task switcher and the
 * timer wheel's slot occupancy use them to find work in O(words). */
#ifndef TW_BASE_BITSET_H
#define TW_BASE_BITSET_H

#include <stdbool.h>
#include <stdint.h>

#define TW_BITSET_WORDS(nbits) (((nbits) + 63u) / 64u)

static inline void tw_bit_set(uint64_t *w, uint32_t i) { w[i >> 6] |= 1ull << (i & 63); }
static inline void tw_bit_clear(uint64_t *w, uint32_t i) { w[i >> 6] &= ~(1ull << (i & 63)); }
static inline bool tw_bit_test(const uint64_t *w, uint32_t i)
{
    return (w[i >> 6] >> (i & 63)) & 1u;
}

/* The lowest set bit at or after `from`, or UINT32_MAX if none below nbits. */
static inline uint32_t tw_bit_next(const uint64_t *w, uint32_t nbits, uint32_t from)
{
    if (from >= nbits) {
        return UINT32_MAX;
    }
    uint32_t wi = from >> 6;
    uint64_t word = w[wi] & (~0ull << (from & 63));
    uint32_t nwords = TW_BITSET_WORDS(nbits);
    for (;;) {
        if (word) {
            uint32_t bit = (wi << 6) + (uint32_t)__builtin_ctzll(word);
            return bit < nbits ? bit : UINT32_MAX;
        }
        if (++wi >= nwords) {
            return UINT32_MAX;
        }
        word = w[wi];
    }
}

#endif
