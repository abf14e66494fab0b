/* bench_checksum: the Internet checksum of core/wire against a naive 16-bit
 * loop, side by side, and the RSS Toeplitz hash.
 *
 * Usage: bench_checksum [iterations-scale]   (default 1; 10 runs ten times
 * longer). Prints ns/op for both checksums and the ratio, at 64, 1500 and
 * 9000 bytes, then ns per RSS hash.
 *
 * Fairness. The naive loop is the textbook one (RFC 1071 §4.1's C sample,
 * with the big-endian word built from two bytes). It lives in this file and
 * is built with the same flags as core/ (the project's buildtype). It is
 * kept out of line, and every call goes through an opaque input/output
 * barrier, so the compiler can neither hoist it out of the timing loop nor
 * fold it to a constant; it may optimise the loop body as it likes, as it
 * may core/'s. Each result is checked against the other before timing. */
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

__attribute__((noinline)) static uint16_t naive_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    size_t i = 0;
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
    printf("%-10s %8s %12s %12s %8s\n", "checksum", "bytes", "naive ns/op", "tw ns/op", "ratio");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t len = sizes[k];
        /* Start one byte in, so neither side is flattered by alignment. */
        const uint8_t *p = buf + 1;
        if (naive_csum(p, len) != tw_csum(p, len)) {
            fprintf(stderr, "mismatch at %zu bytes\n", len);
            exit(1);
        }
        long iters = scale * (long)(40000000 / (len + 32));
        double naive = time_csum(naive_csum, p, len, iters);
        double wide = time_csum(wide_csum, p, len, iters);
        printf("%-10s %8zu %12.2f %12.2f %7.1fx\n", "", len, naive, wide, naive / wide);
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
    volatile uint32_t sink = 0;
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
    (void)sink;
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
