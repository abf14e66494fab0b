/* bench_checksum: the Internet checksum of core/wire against naive 16-bit
 * loops, side by side, and the RSS Toeplitz hash.
 *
 * Usage: bench_checksum [iterations-scale]   (default 1; 10 runs ten times
 * longer). Prints ns/op at 64, 1500 and 9000 bytes for the baselines and
 * tw_csum, and tw_csum's speed-up over each; then ns per RSS hash.
 *
 * The baselines:
 *   naive    one big-endian 16-bit word at a time, built from two bytes:
 *            the obvious portable loop.
 *   rfc1071  RFC 1071 §4.1's C sample: native 16-bit loads into a 32-bit
 *            sum, one byte swap at the end (§2(B) byte-order independence).
 *            Cheaper per word than `naive`, so the harder scalar baseline.
 *   rfc1071v the same loop with the compiler free to auto-vectorise it.
 *
 * Fairness. tw_csum is scalar code (64-bit words, add-with-carry chains),
 * which no compiler vectorises, so the scalar comparison keeps the
 * compiler from vectorising `naive` and `rfc1071` too: clang -O2 does turn
 * the rfc1071 loop into SSE2, gcc -O2 does not (its very-cheap cost model
 * refuses loops of unknown trip count). `rfc1071v` reports what a
 * vectorised naive loop reaches, so nothing is hidden. All are built with
 * the same compiler and flags as core/ (the project's buildtype, -O2 by
 * default), kept out of line, and every call passes an opaque barrier on
 * the buffer, so no call is hoisted out of the timing loop or folded to a
 * constant. The buffer starts at an odd address. Every result is checked
 * against the others before timing. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/rng.h"
#include "wire/checksum.h"
#include "wire/rss.h"

/* Makes the compiler believe p's memory is read and written here. */
#define OPAQUE(p) __asm__ volatile("" : : "r"(p) : "memory")

/* Scalar code only: a function attribute for gcc, a loop pragma for clang. */
#if defined(__clang__)
#define SCALAR_FN
#define SCALAR_LOOP _Pragma("clang loop vectorize(disable) interleave(disable)")
#elif defined(__GNUC__)
#define SCALAR_FN __attribute__((optimize("no-tree-vectorize", "no-tree-slp-vectorize")))
#define SCALAR_LOOP
#else
#define SCALAR_FN
#define SCALAR_LOOP
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BIG_ENDIAN 1
#else
#define HOST_BIG_ENDIAN 0
#endif

__attribute__((noinline)) SCALAR_FN static uint16_t naive_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    size_t i = 0;
    SCALAR_LOOP
    for (; i + 1 < len; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (uint32_t)p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

/* The end of RFC 1071 §4.1: the odd byte, the fold, and (little-endian
 * host) the swap back to network order. */
static uint16_t rfc1071_finish(uint32_t sum, const uint8_t *p, size_t len)
{
    if (len > 0) {
        sum += HOST_BIG_ENDIAN ? (uint32_t)p[0] << 8 : p[0];
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if (!HOST_BIG_ENDIAN) {
        sum = (sum << 8 | sum >> 8) & 0xffff;
    }
    return (uint16_t)~sum;
}

__attribute__((noinline)) SCALAR_FN static uint16_t rfc1071_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    SCALAR_LOOP
    for (; len > 1; p += 2, len -= 2) {
        uint16_t w;
        memcpy(&w, p, sizeof w);
        sum += w;
    }
    return rfc1071_finish(sum, p, len);
}

__attribute__((noinline)) static uint16_t rfc1071v_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (; len > 1; p += 2, len -= 2) {
        uint16_t w;
        memcpy(&w, p, sizeof w);
        sum += w;
    }
    return rfc1071_finish(sum, p, len);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef uint16_t (*csum_fn)(const uint8_t *, size_t);

static uint16_t wide_csum(const uint8_t *p, size_t len)
{
    return tw_csum(p, len);
}

/* Best of several rounds, ns per call. The minimum is the least disturbed
 * measurement of a pure function on warm caches. */
static double time_csum(csum_fn fn, const uint8_t *buf, size_t len, long iters)
{
    double best = 1e30;
    uint32_t sink = 0;
    for (int round = 0; round < 7; round++) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            OPAQUE(buf);
            sink += fn(buf, len);
        }
        double ns = (double)(now_ns() - t0) / (double)iters;
        if (ns < best) {
            best = ns;
        }
    }
    OPAQUE(&sink);
    return best;
}

static void bench_csum(long scale)
{
    static uint8_t buf[9000 + 8];
    tw_rng rng;
    tw_rng_init(&rng, 42, 0);
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)tw_rng_next(&rng);
    }
    static const size_t sizes[] = {64, 1500, 9000};
    printf("%-8s %5s %9s %9s %9s %9s %9s %9s %9s\n", "checksum", "bytes", "naive", "rfc1071",
           "rfc1071v", "tw", "tw/naive", "tw/rfc", "tw/rfcv");
    printf("%-8s %5s %9s %9s %9s %9s %9s %9s %9s\n", "", "", "ns/op", "ns/op", "ns/op", "ns/op",
           "speed-up", "speed-up", "speed-up");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t len = sizes[k];
        const uint8_t *p = buf + 1;
        uint16_t want = tw_csum(p, len);
        if (naive_csum(p, len) != want || rfc1071_csum(p, len) != want ||
            rfc1071v_csum(p, len) != want) {
            fprintf(stderr, "mismatch at %zu bytes\n", len);
            exit(1);
        }
        long iters = scale * (long)(40000000 / (len + 32));
        double naive = time_csum(naive_csum, p, len, iters);
        double rfc = time_csum(rfc1071_csum, p, len, iters);
        double rfcv = time_csum(rfc1071v_csum, p, len, iters);
        double wide = time_csum(wide_csum, p, len, iters);
        printf("%-8s %5zu %9.2f %9.2f %9.2f %9.2f %8.1fx %8.1fx %8.1fx\n", "", len, naive, rfc,
               rfcv, wide, naive / wide, rfc / wide, rfcv / wide);
    }
}

static void bench_rss(long scale)
{
    static tw_rss rss;
    tw_rss_init(&rss, NULL, 0);
    tw_rng rng;
    tw_rng_init(&rng, 42, 1);
    enum { N = 1024 };
    static uint32_t addr[N][2];
    static uint16_t port[N][2];
    for (int i = 0; i < N; i++) {
        uint64_t r = tw_rng_next(&rng);
        addr[i][0] = (uint32_t)r;
        addr[i][1] = (uint32_t)(r >> 32);
        r = tw_rng_next(&rng);
        port[i][0] = (uint16_t)r;
        port[i][1] = (uint16_t)(r >> 16);
    }
    long iters = scale * 20000000L;
    double best4 = 1e30;
    double best2 = 1e30;
    uint32_t sink = 0;
    for (int round = 0; round < 5; round++) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            int j = (int)(i & (N - 1));
            sink += tw_rss_hash_ipv4_ports(&rss, addr[j][0], addr[j][1], port[j][0], port[j][1]);
        }
        double ns = (double)(now_ns() - t0) / (double)iters;
        best4 = ns < best4 ? ns : best4;
        t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            int j = (int)(i & (N - 1));
            sink += tw_rss_hash_ipv4(&rss, addr[j][0], addr[j][1]);
        }
        ns = (double)(now_ns() - t0) / (double)iters;
        best2 = ns < best2 ? ns : best2;
    }
    OPAQUE(&sink);
    printf("%-10s %-22s %8.2f ns/hash\n", "rss", "ipv4 4-tuple (12 B)", best4);
    printf("%-10s %-22s %8.2f ns/hash\n", "", "ipv4 2-tuple (8 B)", best2);
}

int main(int argc, char **argv)
{
    long scale = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    if (scale < 1) {
        scale = 1;
    }
    bench_csum(scale);
    bench_rss(scale);
    return 0;
}
