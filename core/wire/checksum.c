/* IMPLEMENTATION NOTES
 *
 * The sum is taken 8 bytes at a time in native byte order and swapped once
 * at the end. RFC 1071 §2 makes this legal: one's-complement addition is
 * commutative and associative (so words may be added in any grouping, and
 * 64-bit words are just four 16-bit words added at once with their carries
 * deferred), and byte-order independent (§2(B): summing byte-swapped words
 * gives the byte-swapped sum).
 *
 * Each accumulator is a 64-bit one's-complement sum: a carry out of bit 63
 * is added back at bit 0, which is exact because 2^64 = (2^16)^4 is
 * congruent to 1 modulo 2^16 - 1. That is one add and one add-with-carry
 * per 8 bytes; four independent accumulators keep four such chains in
 * flight per 32-byte step. The 64-bit total folds to 16 bits the same way.
 * End-around addition never turns a non-zero total into zero, so the
 * result has exactly the representation a 16-bit-at-a-time loop gives (0
 * only for all-zero data, otherwise 1..0xffff). */
#include "wire/checksum.h"

#include <string.h>

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* One's-complement addition of 64-bit words: the carry out of the top bit
 * is added back in at the bottom (end-around carry), which compilers turn
 * into an add and an add-with-carry. */
static inline uint64_t add64(uint64_t s, uint64_t w)
{
    s += w;
    return s + (s < w);
}

/* The last 0..7 bytes, which start at an even offset, so their 16-bit words
 * keep their byte pairing; where in a 64-bit word they are added does not
 * matter, since 2^16 == 1 (mod 2^16 - 1). An odd last byte is the first
 * byte of a zero-padded word (RFC 1071 §4): the low byte of a native word
 * on a little-endian host, the high byte on a big-endian one. */
static inline uint64_t sum_tail(const uint8_t *p, size_t len)
{
    uint64_t tail = 0;
    if (len & 4) {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        tail += v;
        p += 4;
    }
    if (len & 2) {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        tail += v;
        p += 2;
    }
    if (len & 1) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        tail += (uint64_t)p[0] << 8;
#else
        tail += p[0];
#endif
    }
    return tail;
}

/* The one's-complement sum of data as native-order 16-bit words, folded to
 * 64 bits. Never zero unless data is all zeros. */
__attribute__((always_inline)) static inline uint64_t sum_native(const uint8_t *p, size_t len)
{
    uint64_t a0 = 0;
    uint64_t a1 = 0;
    uint64_t a2 = 0;
    uint64_t a3 = 0;
    while (len >= 32) {
        a0 = add64(a0, load64(p));
        a1 = add64(a1, load64(p + 8));
        a2 = add64(a2, load64(p + 16));
        a3 = add64(a3, load64(p + 24));
        p += 32;
        len -= 32;
    }
    /* Under 32 bytes left: at most three words and a tail, each behind one
     * test of a length bit, so a multiple of 32 pays for three tests. */
    if (len & 16) {
        a0 = add64(a0, load64(p));
        a1 = add64(a1, load64(p + 8));
        p += 16;
    }
    if (len & 8) {
        a2 = add64(a2, load64(p));
        p += 8;
    }
    uint64_t tail = 0;
    if (len & 7) {
        tail = sum_tail(p, len & 7);
    }
    return add64(add64(a0, a1), add64(add64(a2, a3), tail));
}

/* Folds a 64-bit one's-complement sum to 16 bits. Adding a word to its
 * own rotation by half its width leaves, in the upper half, the sum of the
 * two halves with the carry out of the lower half already added back: an
 * end-around-carry addition in three instructions (the kernel's
 * csum_fold trick), applied at 32 and then 16 bits. */
static inline uint16_t fold64(uint64_t s)
{
    uint64_t r32 = s + (s >> 32 | s << 32);
    uint32_t s32 = (uint32_t)(r32 >> 32);
    uint32_t r16 = s32 + (s32 >> 16 | s32 << 16);
    return (uint16_t)(r16 >> 16);
}

/* The native-order 64-bit sum turned into the network-order one. Reversing
 * all eight bytes swaps the bytes inside every 16-bit word (RFC 1071
 * §2(B)) and also reverses the order of the words, which a sum does not
 * notice: one instruction instead of a swap after the fold. */
static inline uint64_t native_to_be(uint64_t s)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return s;
#else
    return __builtin_bswap64(s);
#endif
}

uint32_t tw_csum_add(uint32_t sum, const void *data, size_t len)
{
    uint16_t be = fold64(native_to_be(sum_native(data, len)));
    return fold64((uint64_t)sum + be);
}

/* Copy and sum in one pass. The x86-64 baseline (SSE2) gains nothing over
 * memcpy and then sum_native: a scalar loop that stores every word it adds
 * is bound by its stores, and 16-byte vectors spend as much on unpacking
 * as they save. With AVX2 each 32-byte load feeds both the store and two
 * adds (the low and the high 16-bit word of each 32-bit lane), and the pass
 * runs at close to memcpy's speed; so that path is taken where the CPU has
 * it (asked once per call, a load of a flag the runtime set at start).
 *
 * Each 32-bit lane gains at most 0xffff per 64 bytes, so a chunk of
 * CSUM_COPY_CHUNK bytes cannot overflow one; the lanes then add into a
 * plain 64-bit total. A plain sum of native 16-bit words is congruent to
 * their one's-complement sum modulo 2^16 - 1 and is zero only for all-zero
 * data, so it folds to exactly what sum_native gives. */
#if defined(__x86_64__) && defined(__GNUC__)
#define CSUM_COPY_VECTOR 1
#define CSUM_COPY_CHUNK (1u << 20)

typedef uint32_t csum_v8 __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static uint64_t copy_sum_avx2(uint8_t *dst, const uint8_t *src,
                                                             size_t len)
{
    const csum_v8 low = {0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff};
    uint64_t total = 0;
    while (len >= 64) {
        size_t n = len < CSUM_COPY_CHUNK ? len & ~(size_t)63 : CSUM_COPY_CHUNK;
        csum_v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (size_t i = 0; i < n; i += 64) {
            csum_v8 x, y;
            memcpy(&x, src + i, sizeof x);
            memcpy(&y, src + i + 32, sizeof y);
            memcpy(dst + i, &x, sizeof x);
            memcpy(dst + i + 32, &y, sizeof y);
            a0 += x & low;
            a1 += x >> 16;
            a2 += y & low;
            a3 += y >> 16;
        }
        for (int k = 0; k < 8; k++) {
            total += (uint64_t)a0[k] + a1[k] + a2[k] + a3[k];
        }
        src += n;
        dst += n;
        len -= n;
    }
    memcpy(dst, src, len);
    return add64(total, sum_native(src, len));
}
#endif

uint32_t tw_csum_copy(uint32_t sum, void *dst, const void *src, size_t len)
{
    uint64_t native;
#ifdef CSUM_COPY_VECTOR
    if (__builtin_cpu_supports("avx2")) {
        native = copy_sum_avx2(dst, src, len);
    } else
#endif
    {
        memcpy(dst, src, len);
        native = sum_native(src, len);
    }
    uint16_t be = fold64(native_to_be(native));
    return fold64((uint64_t)sum + be);
}

uint16_t tw_csum(const void *data, size_t len)
{
    return (uint16_t)~fold64(native_to_be(sum_native(data, len)));
}

uint16_t tw_csum_update16(uint16_t check, uint16_t old_value, uint16_t new_value)
{
    /* RFC 1624 eqn. 3, not RFC 1141's HC + m + ~m': the older form can give
     * 0xffff (-0) where recomputing from scratch gives 0x0000 (RFC 1624 §3),
     * and a receiver compares against the recomputed value. */
    uint32_t s = (uint32_t)(uint16_t)~check + (uint16_t)~old_value + new_value;
    return (uint16_t)~fold64(s);
}

uint16_t tw_csum_update32(uint16_t check, uint32_t old_value, uint32_t new_value)
{
    uint32_t s = (uint32_t)(uint16_t)~check;
    s += (uint16_t) ~(old_value >> 16);
    s += (uint16_t)~old_value;
    s += new_value >> 16;
    s += new_value & 0xffffu;
    return (uint16_t)~fold64(s);
}
