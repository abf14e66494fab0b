/* What one frame costs through core/link, against copying it.
 *
 * The model: a driver offers a 1500-byte frame every 1300 ns to a 10 Gbps
 * link (1200 ns to serialise, so the queue stays short) and pops whatever
 * is due before each enqueue, the way the live shaper will. One frame is
 * one tw_link_enqueue plus its share of tw_link_pop calls; the link copies
 * the frame in, as it must (the caller's buffer is not its to keep).
 *
 * Runs: the link with every impairment on (jitter, CoDel, 1% Bernoulli
 * loss plus Gilbert-Elliott bursts, 1% duplication, 1% reordering, 1%
 * corruption); the same link with none; and the floor, a plain memcpy of
 * the frame into one of 64 buffers. Each figure is the best of five runs by
 * CLOCK_MONOTONIC. The outputs of every link run fold into a hash that must
 * repeat across runs, or the bench fails.
 *
 * Usage: bench_link [seed [frames]] */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/hash.h"
#include "base/mem.h"
#include "link/link.h"

#define FRAME_LEN 1500u
#define GAP_NS 1300u
#define REPS 5
#define COPY_BUFFERS 64u

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static tw_link_config plain_config(void)
{
    tw_link_config c = tw_link_config_default();
    c.bandwidth_bps = 10000000000ull;
    c.delay_ns = TW_US(10);
    c.pool_frames = 4096;
    return c;
}

static tw_link_config impaired_config(void)
{
    tw_link_config c = plain_config();
    c.jitter_ns = TW_US(2);
    c.aqm = TW_LINK_AQM_CODEL;
    c.loss = TW_RATIO(1, 100);
    c.gilbert = (tw_link_gilbert){.good_to_bad = TW_RATIO(1, 1000),
                                  .bad_to_good = TW_RATIO(1, 4),
                                  .loss_good = TW_RATIO_ZERO,
                                  .loss_bad = TW_RATIO(1, 2)};
    c.duplicate = TW_RATIO(1, 100);
    c.reorder = TW_RATIO(1, 100);
    c.reorder_delay_ns = TW_US(5);
    c.corrupt = TW_RATIO(1, 100);
    return c;
}

typedef struct result {
    double secs;
    uint64_t hash;
    tw_link_stats stats;
} result;

static uint64_t drain(tw_link *l, tw_ns now, uint64_t h)
{
    tw_link_frame f;
    while (tw_link_pop(l, now, &f)) {
        /* Touch the frame the way a consumer would, cheaply. */
        h = tw_hash_fold(h, f.due ^ f.tag ^ f.data[f.len - 1]);
    }
    return h;
}

static result run_link(const tw_link_config *cfg, uint64_t seed, uint64_t frames,
                       const uint8_t *frame)
{
    tw_link *l = tw_mem_calloc(1, sizeof(*l));
    if (tw_link_init(l, cfg, seed) != 0) {
        fprintf(stderr, "bad link config\n");
        exit(2);
    }
    tw_mem_seal();
    uint64_t h = TW_TRACE_HASH_INIT;
    tw_ns now = 0;
    double t0 = seconds();
    for (uint64_t i = 0; i < frames; i++) {
        now += GAP_NS;
        h = drain(l, now, h);
        (void)tw_link_enqueue(l, now, frame, FRAME_LEN, i);
    }
    h = drain(l, TW_NS_NEVER - 1, h);
    double secs = seconds() - t0;
    tw_mem_unseal();
    result r = {.secs = secs, .hash = h, .stats = l->stats};
    tw_link_free(l);
    tw_mem_free(l);
    return r;
}

static result run_memcpy(uint64_t frames, const uint8_t *frame, uint8_t (*bufs)[FRAME_LEN])
{
    uint64_t h = 0;
    double t0 = seconds();
    for (uint64_t i = 0; i < frames; i++) {
        uint8_t *dst = bufs[i % COPY_BUFFERS];
        memcpy(dst, frame, FRAME_LEN);
        /* Keep the copy observable so it is not optimised away. */
        __asm__ volatile("" : : "r"(dst) : "memory");
        h += dst[i % FRAME_LEN];
    }
    return (result){.secs = seconds() - t0, .hash = h};
}

static double ns_per(const result *r, uint64_t frames)
{
    return r->secs * 1e9 / (double)frames;
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 42;
    uint64_t frames = argc > 2 ? strtoull(argv[2], NULL, 0) : 2000000;
    uint8_t *frame = tw_mem_calloc(1, FRAME_LEN);
    for (uint32_t j = 0; j < FRAME_LEN; j++) {
        frame[j] = (uint8_t)(j * 7u + 3u);
    }
    uint8_t(*bufs)[FRAME_LEN] = tw_mem_calloc(COPY_BUFFERS, FRAME_LEN);
    tw_link_config impaired = impaired_config();
    tw_link_config plain = plain_config();

    result best_imp = {0}, best_plain = {0}, best_copy = {0};
    int failed = 0;
    for (int rep = 0; rep < REPS; rep++) {
        result imp = run_link(&impaired, seed, frames, frame);
        result pl = run_link(&plain, seed, frames, frame);
        result cp = run_memcpy(frames, frame, bufs);
        if (rep > 0 && (imp.hash != best_imp.hash || pl.hash != best_plain.hash)) {
            fprintf(stderr,
                    "MISMATCH at rep %d: output hash changed (reproduce with seed=%" PRIu64 ")\n",
                    rep, seed);
            failed = 1;
        }
        if (rep == 0 || imp.secs < best_imp.secs) {
            best_imp = imp;
        }
        if (rep == 0 || pl.secs < best_plain.secs) {
            best_plain = pl;
        }
        if (rep == 0 || cp.secs < best_copy.secs) {
            best_copy = cp;
        }
    }
    const tw_link_stats *st = &best_imp.stats;
    uint64_t dropped = 0;
    for (int r = 0; r < TW_LINK_DROP_COUNT; r++) {
        dropped += st->drops[r];
    }
    printf("bench_link seed=%" PRIu64 ": %" PRIu64 " frames of %u B, one every %u ns into 10 Gbps;"
           " best of %d\n",
           seed, frames, FRAME_LEN, GAP_NS, REPS);
    printf("impaired: out=%" PRIu64 " dropped=%" PRIu64 " (loss %" PRIu64 ", codel %" PRIu64
           ") duplicated=%" PRIu64 " reordered=%" PRIu64 " corrupted=%" PRIu64 " hash=%016" PRIx64
           "\n",
           st->frames_out, dropped, st->drops[TW_LINK_DROP_LOSS], st->drops[TW_LINK_DROP_CODEL],
           st->duplicated, st->reordered, st->corrupted, best_imp.hash);
    double imp_ns = ns_per(&best_imp, frames);
    double plain_ns = ns_per(&best_plain, frames);
    double copy_ns = ns_per(&best_copy, frames);
    printf("%-28s %10s %10s\n", "run", "ns/frame", "vs memcpy");
    printf("%-28s %10.1f %9.2fx\n", "link, all impairments", imp_ns, imp_ns / copy_ns);
    printf("%-28s %10.1f %9.2fx\n", "link, no impairments", plain_ns, plain_ns / copy_ns);
    printf("%-28s %10.1f %9.2fx\n", "memcpy of the frame", copy_ns, 1.0);
    tw_mem_free(bufs);
    tw_mem_free(frame);
    return failed;
}
