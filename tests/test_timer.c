/* Timer wheel tests. The property every test leans on: a driver that sleeps
 * until tw_wheel_next_deadline and then pops everything due sees each timer
 * at exactly its deadline, in deadline order, once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/assert.h"
#include "base/rng.h"
#include "base/timer.h"

#define SEED 0x7431u
#define MAX_TIMERS 12000u

static tw_wheel wheel;
static tw_timer timers[MAX_TIMERS];

static void setup_wheel(tw_ns now)
{
    tw_wheel_init(&wheel, now);
    memset(timers, 0, sizeof(timers));
    for (uint32_t i = 0; i < MAX_TIMERS; i++) {
        timers[i].owner = i;
    }
}

/* Whether slot `slot` of level `level` holds a timer. */
static bool slot_occupied(uint32_t level, uint32_t slot)
{
    uint32_t g = level * TW_WHEEL_SLOTS + slot;
    return (wheel.occupied[g / 64] >> (g % 64)) & 1;
}

/* Whether level `level` holds a timer. */
static bool level_occupied(uint32_t level)
{
    const uint32_t words = TW_WHEEL_SLOTS / 64;
    for (uint32_t i = level * words; i < (level + 1) * words; i++) {
        if (wheel.occupied[i]) {
            return true;
        }
    }
    return false;
}

/* What a driver saw while running the wheel to empty. */
typedef struct drive_log {
    uint32_t fired;
    uint32_t wakeups;
    uint32_t fire_count[MAX_TIMERS];
} drive_log;

static drive_log dlog;

/* Wakes at every next_deadline until the wheel is empty or the next wake
 * would pass `until`; asserts that every timer comes out at exactly its
 * deadline and in non-decreasing order. */
static void drive_until(tw_ns until)
{
    tw_ns last = 0;
    while (tw_wheel_count(&wheel) > 0) {
        tw_ns now = tw_wheel_next_deadline(&wheel);
        assert_true(now >= wheel.elapsed);
        if (now > until) {
            break;
        }
        dlog.wakeups++;
        tw_timer *t;
        while ((t = tw_wheel_pop_expired(&wheel, now)) != NULL) {
            assert_false(tw_timer_armed(t));
            assert_int_equal(t->deadline, now); /* never early, never late */
            assert_true(t->deadline >= last);
            last = t->deadline;
            dlog.fire_count[t->owner]++;
            dlog.fired++;
        }
        assert_int_equal(wheel.elapsed, now);
    }
}

static void drive_all(void)
{
    memset(&dlog, 0, sizeof(dlog));
    drive_until(TW_NS_NEVER);
    assert_int_equal(tw_wheel_count(&wheel), 0);
    assert_int_equal(tw_wheel_next_deadline(&wheel), TW_NS_NEVER);
}

/* A delay spread over many orders of magnitude, so every level is used. */
static tw_ns random_delay(tw_rng *rng)
{
    uint32_t bits = (uint32_t)tw_rng_below(rng, 48) + 1;
    return tw_rng_below(rng, TW_NS(1) << bits);
}

static void test_timer_idle_pop(void **state)
{
    setup_wheel(1000);
    assert_int_equal(tw_wheel_next_deadline(&wheel), TW_NS_NEVER);
    assert_null(tw_wheel_pop_expired(&wheel, 5000));
    assert_int_equal(wheel.elapsed, 5000);
    assert_int_equal(tw_wheel_count(&wheel), 0);
}

static void test_timer_armed_fire_in_order(void **state)
{
    tw_rng rng;
    tw_rng_init(&rng, SEED, 1);
    const tw_ns start = 123456789;
    setup_wheel(start);
    const uint32_t n = 10000;
    for (uint32_t i = 0; i < n; i++) {
        /* Some ties on purpose: they must all fire at the shared deadline. */
        tw_ns d = (i % 10 == 0) ? start + 4096 : start + 1 + random_delay(&rng);
        tw_wheel_arm(&wheel, &timers[i], d);
    }
    assert_int_equal(tw_wheel_count(&wheel), n);
    drive_all();
    assert_int_equal(dlog.fired, n);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(dlog.fire_count[i], 1);
    }
}

static void test_timer_armed_cancel(void **state)
{
    tw_rng rng;
    tw_rng_init(&rng, SEED, 2);
    setup_wheel(0);
    const uint32_t n = 2000;
    for (uint32_t i = 0; i < n; i++) {
        tw_wheel_arm(&wheel, &timers[i], 1 + random_delay(&rng));
    }
    for (uint32_t i = 0; i < n; i += 3) {
        tw_wheel_cancel(&wheel, &timers[i]);
        assert_false(tw_timer_armed(&timers[i]));
    }
    assert_int_equal(tw_wheel_count(&wheel), n - (n + 2) / 3);
    drive_all();
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(dlog.fire_count[i], i % 3 == 0 ? 0 : 1);
    }
}

static void test_timer_unarmed_cancel(void **state)
{
    setup_wheel(0);
    tw_wheel_arm(&wheel, &timers[1], 50);
    tw_wheel_cancel(&wheel, &timers[0]);
    assert_int_equal(tw_wheel_count(&wheel), 1);
    tw_wheel_cancel(&wheel, &timers[1]);
    tw_wheel_cancel(&wheel, &timers[1]); /* twice is still a no-op */
    assert_int_equal(tw_wheel_count(&wheel), 0);
    assert_int_equal(tw_wheel_next_deadline(&wheel), TW_NS_NEVER);
    assert_int_equal(wheel.occupied[0], 0);
}

static void test_timer_last_in_slot_cancel(void **state)
{
    setup_wheel(0);
    tw_wheel_arm(&wheel, &timers[0], 10);
    tw_wheel_arm(&wheel, &timers[1], 10);
    tw_wheel_arm(&wheel, &timers[2], 20);
    tw_wheel_arm(&wheel, &timers[3], 70000); /* level 2 */
    assert_int_equal(timers[3].level, 2);
    assert_int_equal(tw_wheel_next_deadline(&wheel), 10);
    tw_wheel_cancel(&wheel, &timers[0]);
    assert_int_equal(tw_wheel_next_deadline(&wheel), 10);
    tw_wheel_cancel(&wheel, &timers[1]);
    assert_int_equal(wheel.occupied[0], 1ull << 20);
    assert_int_equal(tw_wheel_next_deadline(&wheel), 20);
    tw_wheel_cancel(&wheel, &timers[2]);
    assert_false(level_occupied(0));
    /* Only a higher-level timer is left: its slot's minimum. */
    assert_int_equal(tw_wheel_next_deadline(&wheel), 70000);
    tw_wheel_cancel(&wheel, &timers[3]);
    assert_false(level_occupied(2));
    assert_int_equal(wheel.summary, 0);
    assert_int_equal(tw_wheel_next_deadline(&wheel), TW_NS_NEVER);
}

static void test_timer_slot_min_cancel(void **state)
{
    setup_wheel(0);
    tw_wheel_arm(&wheel, &timers[0], 70000); /* both in level 2, slot 1 */
    tw_wheel_arm(&wheel, &timers[1], 80000);
    assert_true(slot_occupied(2, 1));
    assert_int_equal(tw_wheel_next_deadline(&wheel), 70000);
    tw_wheel_cancel(&wheel, &timers[0]);
    /* The slot's minimum is now stale: still a lower bound, not exact. */
    assert_int_equal(tw_wheel_next_deadline(&wheel), 70000);
    assert_null(tw_wheel_pop_expired(&wheel, 70000));
    /* Waking at it drained the slot, and the answer is exact again. */
    assert_int_equal(tw_wheel_next_deadline(&wheel), 80000);
    assert_null(tw_wheel_pop_expired(&wheel, 79999));
    assert_ptr_equal(tw_wheel_pop_expired(&wheel, 80000), &timers[1]);
}

static void test_timer_armed_rearm(void **state)
{
    setup_wheel(0);
    tw_wheel_arm(&wheel, &timers[0], 100);
    tw_wheel_arm(&wheel, &timers[0], 50); /* earlier */
    assert_int_equal(tw_wheel_count(&wheel), 1);
    assert_int_equal(tw_wheel_next_deadline(&wheel), 50);
    assert_ptr_equal(tw_wheel_pop_expired(&wheel, 50), &timers[0]);
    assert_null(tw_wheel_pop_expired(&wheel, 50));

    tw_wheel_arm(&wheel, &timers[1], 100);
    tw_wheel_arm(&wheel, &timers[1], 1000000); /* later: 100 must pass quietly */
    assert_int_equal(tw_wheel_count(&wheel), 1);
    assert_null(tw_wheel_pop_expired(&wheel, 100));
    assert_null(tw_wheel_pop_expired(&wheel, 999999));
    assert_ptr_equal(tw_wheel_pop_expired(&wheel, 1000000), &timers[1]);

    /* Re-arming a timer that sits in the expired list moves it back out. */
    tw_wheel_arm(&wheel, &timers[2], 10);
    tw_wheel_arm(&wheel, &timers[2], 2000000);
    assert_int_equal(tw_wheel_next_deadline(&wheel) <= 2000000, 1);
    memset(&dlog, 0, sizeof(dlog));
    drive_until(TW_NS_NEVER);
    assert_int_equal(dlog.fire_count[2], 1);
}

static void test_timer_armed_rearm_same_slot(void **state)
{
    setup_wheel(0);
    /* 65536..131071 is slot 1 of level 2: re-arms inside it stay in place. */
    tw_wheel_arm(&wheel, &timers[0], 70000);
    tw_wheel_arm(&wheel, &timers[1], 70500);
    tw_wheel_arm(&wheel, &timers[0], 71000); /* later, still slot 1 */
    assert_int_equal(timers[0].level, 2);
    assert_int_equal(tw_wheel_next_deadline(&wheel), 70000); /* stale bound */
    tw_wheel_arm(&wheel, &timers[2], 90000);
    tw_wheel_arm(&wheel, &timers[2], 66000); /* earlier: the bound follows */
    assert_int_equal(tw_wheel_next_deadline(&wheel), 66000);
    /* Later and past the slot: it stays too, for now (a lazy re-arm). */
    tw_wheel_arm(&wheel, &timers[1], 140000);
    assert_int_equal(timers[1].level, 2);
    assert_int_equal(timers[1].slot, 1);
    assert_int_equal(timers[1].deadline, 140000);
    assert_int_equal(tw_wheel_count(&wheel), 3);
    static const uint32_t order[] = {2, 0, 1};
    for (uint32_t i = 0; i < TW_ARRAY_LEN(order); i++) {
        tw_timer *t = NULL;
        while (t == NULL) {
            t = tw_wheel_pop_expired(&wheel, tw_wheel_next_deadline(&wheel));
        }
        assert_ptr_equal(t, &timers[order[i]]);
        assert_int_equal(wheel.elapsed, t->deadline);
    }
    assert_int_equal(tw_wheel_count(&wheel), 0);
}

static void test_timer_idle_arm_past(void **state)
{
    setup_wheel(1000);
    tw_wheel_arm(&wheel, &timers[0], 500);
    tw_wheel_arm(&wheel, &timers[1], 2000);
    tw_wheel_arm(&wheel, &timers[2], 1000); /* exactly now */
    tw_wheel_arm(&wheel, &timers[3], 300);
    tw_wheel_arm(&wheel, &timers[4], 500); /* a tie: after timers[0] */
    assert_int_equal(tw_wheel_next_deadline(&wheel), 300);
    static const uint32_t order[] = {3, 0, 4, 2};
    for (uint32_t i = 0; i < TW_ARRAY_LEN(order); i++) {
        tw_timer *t = tw_wheel_pop_expired(&wheel, 1000);
        assert_ptr_equal(t, &timers[order[i]]);
    }
    assert_null(tw_wheel_pop_expired(&wheel, 1000));
    assert_int_equal(tw_wheel_next_deadline(&wheel), 2000);
    /* Cancel out of the expired list, too. */
    tw_wheel_arm(&wheel, &timers[5], 0);
    assert_int_equal(tw_wheel_next_deadline(&wheel), 0);
    tw_wheel_cancel(&wheel, &timers[5]);
    assert_int_equal(tw_wheel_next_deadline(&wheel), 2000);
    assert_int_equal(tw_wheel_count(&wheel), 1);
    drive_all();
    assert_int_equal(dlog.fire_count[1], 1);
}

/* Every deadline at start + a boundary offset, driven to empty. */
static void check_boundaries(tw_ns start, const tw_ns *offsets, uint32_t n)
{
    setup_wheel(start);
    for (uint32_t i = 0; i < n; i++) {
        tw_wheel_arm(&wheel, &timers[i], start + offsets[i]);
    }
    drive_all();
    assert_int_equal(dlog.fired, n);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(dlog.fire_count[i], 1);
    }
}

static void test_timer_boundary_wrap(void **state)
{
    static const tw_ns offsets[] = {
        1,
        63,
        64,
        65,
        255,
        256,
        257,
        4095,
        4096,
        4097,
        65535,
        65536,
        65537,
        (TW_NS(1) << 36) - 1,
        TW_NS(1) << 36,
        (TW_NS(1) << 36) + 1,
        (TW_NS(1) << 56) - 1,
        TW_NS(1) << 56,
        (TW_NS(1) << 60) - 1,
        TW_NS(1) << 60,
        (TW_NS(1) << 62) + 7,
    };
    const uint32_t n = TW_ARRAY_LEN(offsets);
    check_boundaries(0, offsets, n);
    check_boundaries(63, offsets, n);
    check_boundaries(255, offsets, n);
    check_boundaries(4095, offsets, n);
    check_boundaries(65535, offsets, n);
    check_boundaries(TW_NS(1) << 63, offsets, n);
    check_boundaries((TW_NS(1) << 63) - 1, offsets, n);
    check_boundaries((TW_NS(1) << 63) - 64, offsets, n);

    /* The top of the range: level 7 holds bits 56..63. */
    static const tw_ns top[] = {
        UINT64_MAX - 1, UINT64_MAX, (TW_NS(15) << 60), (TW_NS(15) << 60) - 1, TW_NS(1) << 63,
    };
    setup_wheel(0);
    for (uint32_t i = 0; i < TW_ARRAY_LEN(top); i++) {
        tw_wheel_arm(&wheel, &timers[i], top[i]);
    }
    const uint32_t top_level = TW_WHEEL_LEVELS - 1;
    for (uint32_t slot = 0; slot < TW_WHEEL_SLOTS; slot++) {
        bool expect = slot == 255 || slot == 240 || slot == 239 || slot == 128;
        assert_int_equal(slot_occupied(top_level, slot), expect);
    }
    drive_all();
    assert_int_equal(dlog.fired, TW_ARRAY_LEN(top));

    setup_wheel(UINT64_MAX - 70);
    tw_wheel_arm(&wheel, &timers[0], UINT64_MAX - 1);
    tw_wheel_arm(&wheel, &timers[1], UINT64_MAX);
    tw_wheel_arm(&wheel, &timers[2], UINT64_MAX - 64);
    drive_all();
    assert_int_equal(dlog.fired, 3);
}

static void test_timer_far_future_fire(void **state)
{
    tw_rng rng;
    tw_rng_init(&rng, SEED, 3);
    const tw_ns start = TW_SEC(3600) * 24 * 17 + 12345;
    const tw_ns hour = start + TW_SEC(3600);
    const tw_ns year = start + TW_SEC(3600) * 24 * 365;
    setup_wheel(start);
    tw_wheel_arm(&wheel, &timers[0], hour);
    tw_wheel_arm(&wheel, &timers[1], year);
    const uint32_t near = 5000;
    for (uint32_t i = 2; i < near + 2; i++) {
        tw_wheel_arm(&wheel, &timers[i], start + 1 + tw_rng_below(&rng, TW_MS(10)));
    }
    memset(&dlog, 0, sizeof(dlog));
    drive_until(start + TW_MS(10));
    assert_int_equal(dlog.fired, near);
    assert_int_equal(tw_wheel_count(&wheel), 2);
    assert_true(tw_wheel_next_deadline(&wheel) <= hour);

    /* Each wake-up at a lower bound cascades one level down, so the far
     * timers cost a handful of wake-ups, not one per slot of time. */
    uint32_t before = dlog.wakeups;
    drive_until(hour);
    assert_int_equal(dlog.fire_count[0], 1);
    assert_true(dlog.wakeups - before <= 2 * TW_WHEEL_LEVELS);
    before = dlog.wakeups;
    drive_until(TW_NS_NEVER);
    assert_int_equal(dlog.fire_count[1], 1);
    assert_true(dlog.wakeups - before <= 2 * TW_WHEEL_LEVELS);
    assert_int_equal(wheel.elapsed, year);
}

/* The stress reference: each timer's deadline when armed, brute-force min. */
#define STRESS_TIMERS 512u
#define STRESS_OPS 100000u

typedef struct reference {
    tw_ns deadline[STRESS_TIMERS];
    uint8_t armed[STRESS_TIMERS];
    uint32_t count;
} reference;

static tw_ns reference_min(const reference *r)
{
    tw_ns min = TW_NS_NEVER;
    for (uint32_t i = 0; i < STRESS_TIMERS; i++) {
        if (r->armed[i] && r->deadline[i] < min) {
            min = r->deadline[i];
        }
    }
    return min;
}

static void stress_check_next(const reference *r)
{
    assert_int_equal(tw_wheel_count(&wheel), r->count);
    tw_ns truth = reference_min(r);
    tw_ns next = tw_wheel_next_deadline(&wheel);
    if (r->count == 0) {
        assert_int_equal(next, TW_NS_NEVER);
        return;
    }
    assert_true(next <= truth);
    bool exact = wheel.expired.head != NULL || level_occupied(0);
    if (exact) {
        assert_int_equal(next, truth);
    } else {
        assert_true(next >= wheel.elapsed);
    }
}

/* Pops everything due at now and checks it against the reference. Returns
 * a hash of the pop order, ties included. */
static uint64_t stress_pop(reference *r, tw_ns now)
{
    uint64_t hash = 0;
    tw_ns last = 0;
    tw_timer *t;
    while ((t = tw_wheel_pop_expired(&wheel, now)) != NULL) {
        uint32_t i = t->owner;
        assert_true(r->armed[i]);
        assert_int_equal(r->deadline[i], t->deadline);
        assert_true(t->deadline <= now);
        assert_true(t->deadline >= last);
        last = t->deadline;
        r->armed[i] = 0;
        r->count--;
        hash = (hash ^ i) * 0x100000001b3ull;
    }
    /* Nothing due may be left behind. */
    assert_true(reference_min(r) > now);
    return hash;
}

/* `push` in 100: the share of operations that push an armed timer's
 * deadline later, as every ACK does to a retransmission timer, by anything
 * from a nanosecond to days (so across slots and levels). */
static uint64_t stress_run(uint64_t seed, uint32_t push)
{
    static reference ref;
    memset(&ref, 0, sizeof(ref));
    tw_rng rng;
    tw_rng_init(&rng, seed, 4);
    tw_ns now = TW_NS(1) << 40;
    setup_wheel(now);
    uint64_t hash = 0;
    for (uint32_t op = 0; op < STRESS_OPS; op++) {
        uint32_t i = (uint32_t)tw_rng_below(&rng, STRESS_TIMERS);
        uint64_t kind = tw_rng_below(&rng, 100);
        if (kind < push) {
            if (ref.armed[i]) {
                tw_ns d = ref.deadline[i] + random_delay(&rng);
                ref.deadline[i] = d;
                tw_wheel_arm(&wheel, &timers[i], d);
            }
        } else if (kind < push + (100 - push) * 45 / 100) {
            /* Arm or re-arm; one in twenty lands in the past, and a third
             * of re-arms push the deadline back a little, as an ACK does
             * (often within the same slot). */
            tw_ns d = tw_rng_below(&rng, 20) == 0 ? now - tw_rng_below(&rng, 5000)
                                                  : now + random_delay(&rng);
            if (ref.armed[i] && ref.deadline[i] > now && tw_rng_below(&rng, 3) == 0) {
                d = ref.deadline[i] + tw_rng_below(&rng, 4096);
            }
            ref.count += ref.armed[i] ? 0 : 1;
            ref.armed[i] = 1;
            ref.deadline[i] = d;
            tw_wheel_arm(&wheel, &timers[i], d);
        } else if (kind < push + (100 - push) * 65 / 100) {
            ref.count -= ref.armed[i] ? 1 : 0;
            ref.armed[i] = 0;
            tw_wheel_cancel(&wheel, &timers[i]);
        } else if (kind < push + (100 - push) * 90 / 100) {
            /* A driver that wakes exactly when told to. */
            tw_ns next = tw_wheel_next_deadline(&wheel);
            if (next != TW_NS_NEVER) {
                now = tw_ns_max(now, next);
                hash ^= stress_pop(&ref, now);
            }
        } else {
            /* A late driver: jumps past many deadlines at once. */
            now += random_delay(&rng) >> (tw_rng_below(&rng, 24));
            hash ^= stress_pop(&ref, now);
        }
        assert_false(tw_timer_armed(&timers[i]) != (ref.armed[i] != 0));
        stress_check_next(&ref);
    }
    return hash ^ wheel.cascades;
}

static void test_timer_random_stress(void **state)
{
    uint64_t a = stress_run(SEED, 0);
    /* Same calls, same pop order, ties included. */
    uint64_t b = stress_run(SEED, 0);
    assert_int_equal(a, b);
    assert_true(wheel.cascades > 0);
}

static void test_timer_lazy_rearm_stress(void **state)
{
    uint64_t a = stress_run(SEED + 1, 60);
    uint64_t b = stress_run(SEED + 1, 60);
    assert_int_equal(a, b);
    assert_true(wheel.cascades > 0);
}

/* A retransmission timer pushed back by every ACK, among other timers, with
 * a driver that wakes at next_deadline or at the next ACK, whichever comes
 * first: the pushed timer never fires while ACKs keep coming, fires once,
 * exactly at its final deadline, when they stop, and next_deadline is never
 * past the earliest deadline. */
static void test_timer_lazy_rearm_fires_once_at_final_deadline(void **state)
{
    tw_rng rng;
    tw_rng_init(&rng, SEED, 5);
    const tw_ns start = TW_SEC(5) + 777;
    setup_wheel(start);
    memset(&dlog, 0, sizeof(dlog));
    const uint32_t rto = 0;
    const tw_ns rto_delay = TW_MS(200);
    tw_ns deadline[64];
    const uint32_t others = 63;
    for (uint32_t i = 1; i <= others; i++) {
        deadline[i] = start + 1 + random_delay(&rng) % TW_SEC(2);
        tw_wheel_arm(&wheel, &timers[i], deadline[i]);
    }
    tw_ns now = start;
    deadline[rto] = now + rto_delay;
    tw_wheel_arm(&wheel, &timers[rto], deadline[rto]);
    const uint32_t acks = 5000;
    tw_ns next_ack = now + 1 + tw_rng_below(&rng, TW_MS(1));
    uint32_t pushed = 0;
    for (;;) {
        /* The truth: the earliest armed deadline. */
        tw_ns truth = TW_NS_NEVER;
        for (uint32_t i = 0; i <= others; i++) {
            if (tw_timer_armed(&timers[i])) {
                truth = tw_ns_min(truth, deadline[i]);
            }
        }
        tw_ns next = tw_wheel_next_deadline(&wheel);
        assert_true(next <= truth);
        if (truth == TW_NS_NEVER) {
            assert_int_equal(next, TW_NS_NEVER);
            break;
        }
        now = pushed < acks ? tw_ns_min(next, next_ack) : next;
        tw_timer *t;
        while ((t = tw_wheel_pop_expired(&wheel, now)) != NULL) {
            assert_int_equal(t->deadline, now); /* never early, never late */
            assert_int_equal(deadline[t->owner], now);
            dlog.fire_count[t->owner]++;
        }
        if (pushed < acks && now == next_ack) {
            assert_true(tw_timer_armed(&timers[rto]));
            deadline[rto] = now + rto_delay;
            tw_wheel_arm(&wheel, &timers[rto], deadline[rto]);
            pushed++;
            /* Mostly quick ACKs; now and then a pause of most of an RTO. */
            next_ack = now + 1 +
                       (tw_rng_below(&rng, 50) ? tw_rng_below(&rng, TW_MS(1))
                                               : tw_rng_below(&rng, rto_delay - TW_MS(1)));
        }
    }
    assert_int_equal(pushed, acks);
    assert_int_equal(dlog.fire_count[rto], 1);
    assert_int_equal(now, deadline[rto]);
    for (uint32_t i = 1; i <= others; i++) {
        assert_int_equal(dlog.fire_count[i], 1);
    }
    assert_int_equal(tw_wheel_count(&wheel), 0);
}

/* A small slot drained into the near list: its timers fire from there, in
 * order and exactly; arms into its range go there in order, and a burst of
 * them that would walk far gives the near list back to the wheel. */
static void test_timer_near_list(void **state)
{
    setup_wheel(0);
    /* Level 2, slot 1 (65536..131071): three timers, few enough. */
    tw_wheel_arm(&wheel, &timers[0], 90000);
    tw_wheel_arm(&wheel, &timers[1], 70000);
    tw_wheel_arm(&wheel, &timers[2], 80000);
    tw_wheel_arm(&wheel, &timers[3], 200000); /* level 2, slot 3 */
    assert_int_equal(tw_wheel_next_deadline(&wheel), 70000);
    assert_ptr_equal(tw_wheel_pop_expired(&wheel, 70000), &timers[1]);
    assert_null(tw_wheel_pop_expired(&wheel, 70000));
    /* The rest of the slot is in the near list: next_deadline is exact. */
    assert_int_equal(timers[2].level, TW_WHEEL_LEVELS);
    assert_int_equal(timers[0].level, TW_WHEEL_LEVELS);
    assert_int_equal(tw_wheel_next_deadline(&wheel), 80000);
    /* Arms inside the drained slot's range join the near list in order;
     * one past it goes to the wheel. */
    tw_wheel_arm(&wheel, &timers[4], 85000);
    tw_wheel_arm(&wheel, &timers[5], 75000);
    tw_wheel_arm(&wheel, &timers[6], 131072);
    assert_int_equal(timers[4].level, TW_WHEEL_LEVELS);
    assert_int_equal(timers[6].level, 2);
    assert_int_equal(timers[6].slot, 2);
    assert_int_equal(tw_wheel_next_deadline(&wheel), 75000);
    /* Re-arms inside the near list move it in order, either way. */
    tw_wheel_arm(&wheel, &timers[5], 86000);
    tw_wheel_arm(&wheel, &timers[0], 72000);
    tw_wheel_cancel(&wheel, &timers[2]);
    assert_int_equal(tw_wheel_next_deadline(&wheel), 72000);
    /* A burst of arms in falling order walks ever further: past a bound the
     * near list goes back to the wheel, and all still fire in order. */
    for (uint32_t i = 0; i < 100; i++) {
        tw_wheel_arm(&wheel, &timers[10 + i], 130000 - 500 * i);
    }
    assert_int_equal(tw_wheel_count(&wheel), 105);
    memset(&dlog, 0, sizeof(dlog));
    drive_until(TW_NS_NEVER);
    assert_int_equal(dlog.fired, 105);
    assert_int_equal(dlog.fire_count[2], 0);
    assert_int_equal(dlog.fire_count[3], 1);
    assert_int_equal(dlog.fire_count[6], 1);
    for (uint32_t i = 0; i < 100; i++) {
        assert_int_equal(dlog.fire_count[10 + i], 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_idle_pop),
        cmocka_unit_test(test_timer_armed_fire_in_order),
        cmocka_unit_test(test_timer_armed_cancel),
        cmocka_unit_test(test_timer_unarmed_cancel),
        cmocka_unit_test(test_timer_last_in_slot_cancel),
        cmocka_unit_test(test_timer_slot_min_cancel),
        cmocka_unit_test(test_timer_armed_rearm),
        cmocka_unit_test(test_timer_armed_rearm_same_slot),
        cmocka_unit_test(test_timer_idle_arm_past),
        cmocka_unit_test(test_timer_boundary_wrap),
        cmocka_unit_test(test_timer_far_future_fire),
        cmocka_unit_test(test_timer_random_stress),
        cmocka_unit_test(test_timer_lazy_rearm_stress),
        cmocka_unit_test(test_timer_lazy_rearm_fires_once_at_final_deadline),
        cmocka_unit_test(test_timer_near_list),
    };
    printf("timer tests: seed=%u\n", SEED);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
