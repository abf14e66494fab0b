/* Hashing for traces and tables.
 *
 * The trace hash is a running 64-bit digest that every simulator event folds
 * into: two runs with the same seed must end with the same value, and the
 * per-event stream lets two runs be compared to the first divergence. It is
 * defined over 64-bit words (not bytes in memory), so it is independent of
 * struct padding, endianness of the host aside. */
#ifndef TW_BASE_HASH_H
#define TW_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define TW_TRACE_HASH_INIT 0x74776e2d74726163ull /* "twn-trac" */

/* A strong 64-bit finaliser (the murmur3/splitmix mix). */
static inline uint64_t tw_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static inline uint64_t tw_rotl64(uint64_t x, unsigned r)
{
    return x << r | x >> ((64 - r) & 63);
}

/* Folds one word into a running hash. Order matters: (a, b) != (b, a). */
static inline uint64_t tw_hash_fold(uint64_t h, uint64_t word)
{
    return tw_mix64(h ^ (word + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2)));
}

/* Folds bytes, eight at a time, then the length. */
uint64_t tw_hash_bytes(uint64_t h, const void *data, size_t len);

#endif
