/* Timer wheel against a binary min-heap, on the load a network stack puts on
 * its timers.
 *
 * The model ("hold" with churn): a fixed number of timers is pending, one
 * per connection. Each step the driver sleeps until the next expiry and pops
 * everything due; each fired timer becomes a new connection's timer with a
 * fresh timeout (uniform 10 us .. 1 s, one in sixteen uniform 1 .. 10 min)
 * armed at now + timeout, and two random other connections restart theirs
 * (now + their own timeout, so later than before), the way every ACK pushes
 * back a TCP retransmission timer: most timers are re-armed, few fire. One
 * operation is one fire, arm or re-arm; both structures do the same
 * operations, so Mops/s compare directly.
 *
 * Random draws come from a seeded tw_rng in blocks generated with the clock
 * stopped, so the figures measure the timer structures, not the generator.
 *
 * Honesty: the heap is indexed (position per timer) and stores keys inline.
 * It runs twice: re-arming in place (one sift up or down, the strongest
 * baseline) and as cancel + insert (the textbook way). Timers due at the
 * same instant are handled in timer-id order in every run, so the sequence
 * of operations and random draws is identical; each run's fired deadlines
 * fold into an order-independent checksum that must match, or the bench
 * fails. Each figure is the best of three interleaved runs, timed with
 * CLOCK_MONOTONIC; the ratio by thread CPU time is printed too, because on a
 * shared machine wall time also counts the time other processes ran.
 *
 * Usage: bench_timer [seed [pending]] (one size only when pending is given) */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/assert.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/timer.h"

#define HEAP_NONE UINT32_MAX

typedef struct heap_entry {
    tw_ns deadline;
    uint32_t id;
} heap_entry;

typedef struct heap {
    heap_entry *a;
    uint32_t *pos; /* index in a[] per timer id, HEAP_NONE when not armed */
    uint32_t n;
} heap;

static void heap_init(heap *h, uint32_t capacity)
{
    h->a = tw_mem_calloc(capacity, sizeof(heap_entry));
    h->pos = tw_mem_calloc(capacity, sizeof(uint32_t));
    for (uint32_t i = 0; i < capacity; i++) {
        h->pos[i] = HEAP_NONE;
    }
    h->n = 0;
}

static void heap_free(heap *h)
{
    tw_mem_free(h->a);
    tw_mem_free(h->pos);
}

/* Moves the entry e up from hole i: the hole technique, one store per level. */
static void heap_sift_up(heap *h, uint32_t i, heap_entry e)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->a[parent].deadline <= e.deadline) {
            break;
        }
        h->a[i] = h->a[parent];
        h->pos[h->a[i].id] = i;
        i = parent;
    }
    h->a[i] = e;
    h->pos[e.id] = i;
}

static void heap_sift_down(heap *h, uint32_t i, heap_entry e)
{
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= h->n) {
            break;
        }
        if (child + 1 < h->n && h->a[child + 1].deadline < h->a[child].deadline) {
            child++;
        }
        if (e.deadline <= h->a[child].deadline) {
            break;
        }
        h->a[i] = h->a[child];
        h->pos[h->a[i].id] = i;
        i = child;
    }
    h->a[i] = e;
    h->pos[e.id] = i;
}

/* Arms or re-arms id: a re-arm changes the key in place. */
static void heap_arm(heap *h, uint32_t id, tw_ns deadline)
{
    heap_entry e = {.deadline = deadline, .id = id};
    uint32_t i = h->pos[id];
    if (i == HEAP_NONE) {
        heap_sift_up(h, h->n++, e);
    } else if (deadline < h->a[i].deadline) {
        heap_sift_up(h, i, e);
    } else {
        heap_sift_down(h, i, e);
    }
}

/* Removes armed id: the last entry fills its hole and sifts either way. */
static void heap_remove(heap *h, uint32_t id)
{
    uint32_t i = h->pos[id];
    h->pos[id] = HEAP_NONE;
    heap_entry last = h->a[--h->n];
    if (i == h->n) {
        return;
    }
    if (i > 0 && last.deadline < h->a[(i - 1) / 2].deadline) {
        heap_sift_up(h, i, last);
    } else {
        heap_sift_down(h, i, last);
    }
}

/* The textbook re-arm: cancel, then insert at the bottom. */
static void heap_arm_cancel_insert(heap *h, uint32_t id, tw_ns deadline)
{
    if (h->pos[id] != HEAP_NONE) {
        heap_remove(h, id);
    }
    heap_sift_up(h, h->n++, (heap_entry){.deadline = deadline, .id = id});
}

static uint32_t heap_pop(heap *h)
{
    uint32_t id = h->a[0].id;
    h->pos[id] = HEAP_NONE;
    heap_entry last = h->a[--h->n];
    if (h->n > 0) {
        heap_sift_down(h, 0, last);
    }
    return id;
}

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wall (monotonic) and thread CPU time, with pauses taken out. */
typedef struct stopwatch {
    double wall;
    double cpu;
} stopwatch;

static stopwatch stopwatch_now(void)
{
    return (stopwatch){.wall = seconds(CLOCK_MONOTONIC), .cpu = seconds(CLOCK_THREAD_CPUTIME_ID)};
}

static stopwatch stopwatch_since(stopwatch t0)
{
    stopwatch t1 = stopwatch_now();
    return (stopwatch){.wall = t1.wall - t0.wall, .cpu = t1.cpu - t0.cpu};
}

static tw_ns draw_delay(tw_rng *rng)
{
    if (tw_rng_below(rng, 16) == 0) {
        return tw_rng_range(rng, TW_SEC(60), TW_SEC(600));
    }
    return tw_rng_range(rng, TW_US(10), TW_SEC(1));
}

/* Draws for a block of fires, made ahead with the clock stopped: the new
 * connection's timeout and the two connections that restart theirs. */
#define BLOCK_FIRES 4096u

typedef struct draws {
    tw_rng rng;
    uint32_t pending;
    uint32_t next; /* the next fire's index in the block */
    tw_ns delay[BLOCK_FIRES];
    uint32_t pick[2 * BLOCK_FIRES];
    stopwatch paused;
} draws;

static void draws_refill(draws *d)
{
    stopwatch t0 = stopwatch_now();
    for (uint32_t i = 0; i < BLOCK_FIRES; i++) {
        d->delay[i] = draw_delay(&d->rng);
        d->pick[2 * i] = (uint32_t)tw_rng_below(&d->rng, d->pending);
        d->pick[2 * i + 1] = (uint32_t)tw_rng_below(&d->rng, d->pending);
    }
    d->next = 0;
    stopwatch dt = stopwatch_since(t0);
    d->paused.wall += dt.wall;
    d->paused.cpu += dt.cpu;
}

static void draws_init(draws *d, uint64_t seed, uint32_t pending)
{
    tw_rng_init(&d->rng, seed, pending);
    d->pending = pending;
    d->paused = (stopwatch){0};
    d->next = BLOCK_FIRES;
}

/* A deadline's contribution to the checksum: mixed, then summed, so the
 * total does not depend on the order of equal deadlines. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

typedef struct result {
    uint64_t ops;
    uint64_t fired;
    uint64_t checksum;
    uint64_t wakeups;
    uint64_t cascades;
    tw_ns end;
    stopwatch time;
} result;

/* Timers due at one instant are handled in id order, so the two runs draw
 * the same random numbers for the same timers whatever their tie order. */
static void sort_ids(uint32_t *ids, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        uint32_t v = ids[i];
        uint32_t j = i;
        while (j > 0 && ids[j - 1] > v) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = v;
    }
}

/* The driver's reaction to a batch of fires at now, shared by both runs
 * through the two macros' arm and armed operations. */
#define REACT(arm, armed)                                                                          \
    do {                                                                                           \
        if (batch > 1) {                                                                           \
            sort_ids(ids, batch);                                                                  \
        }                                                                                          \
        r.fired += batch;                                                                          \
        r.checksum += mix(now) * batch;                                                            \
        for (uint32_t k = 0; k < batch; k++) {                                                     \
            if (dr->next == BLOCK_FIRES) {                                                         \
                draws_refill(dr);                                                                  \
            }                                                                                      \
            const uint32_t *pick = &dr->pick[2 * dr->next];                                        \
            uint32_t id = ids[k];                                                                  \
            timeout[id] = dr->delay[dr->next];                                                     \
            dr->next++;                                                                            \
            arm(id, now + timeout[id]);                                                            \
            for (int o = 0; o < 2; o++) {                                                          \
                if (armed(pick[o])) {                                                              \
                    arm(pick[o], now + timeout[pick[o]]);                                          \
                    r.ops++;                                                                       \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        r.ops += 2 * (uint64_t)batch;                                                              \
    } while (0)

static result run_wheel(uint32_t pending, uint64_t fires, draws *dr, uint32_t *ids, tw_ns *timeout)
{
    result r = {0};
    tw_rng *rng = &dr->rng;
    tw_wheel *w = tw_mem_calloc(1, sizeof(tw_wheel));
    tw_timer *timers = tw_mem_calloc(pending, sizeof(tw_timer));
    tw_wheel_init(w, 0);
    for (uint32_t i = 0; i < pending; i++) {
        timers[i].owner = i;
        timeout[i] = draw_delay(rng);
        tw_wheel_arm(w, &timers[i], timeout[i]);
    }
#define WHEEL_ARM(id, d) tw_wheel_arm(w, &timers[(id)], (d))
#define WHEEL_ARMED(id) tw_timer_armed(&timers[(id)])
    tw_mem_seal();
    stopwatch t0 = stopwatch_now();
    tw_ns now = 0;
    while (r.fired < fires) {
        now = tw_wheel_next_deadline(w);
        r.wakeups++;
        uint32_t batch = 0;
        tw_timer *t;
        while ((t = tw_wheel_pop_expired(w, now)) != NULL) {
            ids[batch++] = t->owner;
        }
        REACT(WHEEL_ARM, WHEEL_ARMED);
    }
    r.time = stopwatch_since(t0);
    r.time.wall -= dr->paused.wall;
    r.time.cpu -= dr->paused.cpu;
    tw_mem_unseal();
    r.end = now;
    r.cascades = w->cascades;
    TW_ASSERT(tw_wheel_count(w) == pending);
    tw_mem_free(timers);
    tw_mem_free(w);
    return r;
}

static result run_heap(uint32_t pending, uint64_t fires, draws *dr, uint32_t *ids, tw_ns *timeout,
                       bool cancel_insert)
{
    result r = {0};
    tw_rng *rng = &dr->rng;
    heap h;
    heap_init(&h, pending);
    for (uint32_t i = 0; i < pending; i++) {
        timeout[i] = draw_delay(rng);
        heap_arm(&h, i, timeout[i]);
    }
#define HEAP_ARM(id, d)                                                                            \
    (cancel_insert ? heap_arm_cancel_insert(&h, (id), (d)) : heap_arm(&h, (id), (d)))
#define HEAP_ARMED(id) (h.pos[(id)] != HEAP_NONE)
    tw_mem_seal();
    stopwatch t0 = stopwatch_now();
    tw_ns now = 0;
    while (r.fired < fires) {
        now = h.a[0].deadline;
        r.wakeups++;
        uint32_t batch = 0;
        while (h.n > 0 && h.a[0].deadline <= now) {
            ids[batch++] = heap_pop(&h);
        }
        REACT(HEAP_ARM, HEAP_ARMED);
    }
    r.time = stopwatch_since(t0);
    r.time.wall -= dr->paused.wall;
    r.time.cpu -= dr->paused.cpu;
    tw_mem_unseal();
    r.end = now;
    TW_ASSERT(h.n == pending);
    heap_free(&h);
    return r;
}

enum { WHEEL, HEAP, HEAP_CI, RUNS };

static result run(int which, uint32_t pending, uint64_t fires, uint64_t seed, draws *dr,
                  uint32_t *ids, tw_ns *timeout)
{
    draws_init(dr, seed, pending);
    if (which == WHEEL) {
        return run_wheel(pending, fires, dr, ids, timeout);
    }
    return run_heap(pending, fires, dr, ids, timeout, which == HEAP_CI);
}

static double mops(const result *r, double secs)
{
    return (double)r->ops / secs / 1e6;
}

/* Runs the three `reps` times, interleaved, and keeps each one's best time
 * by each clock: on a shared machine the best run is the least disturbed. */
static int bench_size(uint32_t pending, uint64_t fires, uint64_t seed, int reps)
{
    uint32_t *ids = tw_mem_calloc(pending, sizeof(uint32_t));
    tw_ns *timeout = tw_mem_calloc(pending, sizeof(tw_ns));
    draws *dr = tw_mem_calloc(1, sizeof(draws));
    result first[RUNS];
    stopwatch best[RUNS];
    int failed = 0;
    for (int rep = 0; rep < reps && !failed; rep++) {
        for (int which = 0; which < RUNS; which++) {
            result r = run(which, pending, fires, seed, dr, ids, timeout);
            if (rep == 0) {
                first[which] = r;
                best[which] = r.time;
            }
            best[which].wall = r.time.wall < best[which].wall ? r.time.wall : best[which].wall;
            best[which].cpu = r.time.cpu < best[which].cpu ? r.time.cpu : best[which].cpu;
            const result *w = &first[WHEEL];
            if (r.ops != w->ops || r.fired != w->fired || r.checksum != w->checksum ||
                r.end != w->end) {
                fprintf(stderr,
                        "MISMATCH at pending=%u run=%d: ops=%" PRIu64 " sum=%016" PRIx64
                        ", wheel ops=%" PRIu64 " sum=%016" PRIx64 " (reproduce with seed=%" PRIu64
                        ")\n",
                        pending, which, r.ops, r.checksum, w->ops, w->checksum, seed);
                failed = 1;
            }
        }
    }
    tw_mem_free(dr);
    tw_mem_free(timeout);
    tw_mem_free(ids);
    if (failed) {
        return 1;
    }
    const result *w = &first[WHEEL];
    double wheel_mops = mops(w, best[WHEEL].wall);
    double heap_mops = mops(w, best[HEAP].wall);
    double heap_ci_mops = mops(w, best[HEAP_CI].wall);
    printf("%9u %12.1f %12.1f %6.2fx %16.1f %6.2fx %9.2fx %9.2fx %8.2f  %016" PRIx64 "\n", pending,
           wheel_mops, heap_mops, wheel_mops / heap_mops, heap_ci_mops, wheel_mops / heap_ci_mops,
           best[HEAP].cpu / best[WHEEL].cpu, best[HEAP_CI].cpu / best[WHEEL].cpu,
           (double)w->cascades / (double)w->fired, w->checksum);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 42;
    uint32_t only = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 0;
    static const uint32_t sizes[] = {1000, 100000, 1000000};
    const uint64_t fires = 1000000;
    const int reps = 3;
    printf("bench_timer seed=%" PRIu64 ": %" PRIu64 " fires per size (x4 ops), best of %d;"
           " timeouts 10us..1s, 1/16 in 1..10min; 2 restarts of other timers per fire\n",
           seed, fires, reps);
    printf("ratio: wheel over heap by wall time; cpu: the same by thread CPU time;"
           " c+i: heap re-arm as cancel + insert\n");
    printf("%9s %12s %12s %7s %16s %7s %10s %10s %8s  %s\n", "pending", "wheel Mops/s",
           "heap Mops/s", "ratio", "heap c+i Mops/s", "ratio", "cpu", "cpu c+i", "casc/f",
           "checksum (all runs)");
    int failed = 0;
    for (uint32_t s = 0; s < TW_ARRAY_LEN(sizes); s++) {
        if (only && s > 0) {
            break;
        }
        failed |= bench_size(only ? only : sizes[s], fires, seed, reps);
    }
    return failed;
}
