/* IMPLEMENTATION NOTES
 *
 * Placement. A timer with deadline d armed while the wheel's time is e lives
 * at level L = (highest bit of d ^ e) / 6, slot s = (d >> 6L) & 63. Because
 * d > e and they agree above group L, s is strictly greater than e's own
 * digit at level L ("the position"), and every level-L timer is later than
 * every level-(L-1) timer. Level 10 holds bits 60..63 only, so its slots
 * run 0..15.
 *
 * The invariant that makes this work: for the current time e, every timer
 * at (L, s) agrees with e above group L and s > position_L(e). It survives
 * any move of e to a time T with e <= T <= (every deadline in the wheel)
 * and T below the start of every occupied slot but the one being drained.
 * So the earliest timer is always in the lowest non-empty level, in its
 * lowest occupied slot: O(1) to find with count-trailing-zeros on a bitmap
 * of levels and one of slots, no masking by position needed (asserted).
 *
 * Draining. Each slot keeps slot_min, the smallest deadline armed into it
 * since it was last empty: a lower bound of its deadlines, exact unless that
 * timer was cancelled (a cancel only ever raises the true minimum, so a
 * stale value stays a lower bound). The earliest slot is drained once its
 * start is due, at T = min(now, slot_min): time moves to T, timers with
 * deadline T expire, and the others are placed again relative to T, which
 * puts them strictly lower (they agree with T down to and including digit
 * L). Draining at T rather than at the slot start is what lets a timer
 * alone in a high slot expire without passing through every level below,
 * and what makes next_deadline (slot_min of the earliest slot) exact in
 * the common case, so a driver seldom wakes for nothing.
 *
 * NOTE: unlike a wheel that dumps every "deadline <= now" timer of a high
 * slot into the expired list, this never does, because the timers of one
 * high slot are not sorted and the API promises non-decreasing order; they
 * reach the expired list one distinct deadline at a time.
 *
 * The expired list is kept sorted by deadline, ties in arrival order.
 * Entries from the wheel carry the current time, which is at least every
 * deadline already there, so they append in O(1); only a deadline armed in
 * the past walks back from the tail over the expired timers later than it.
 * Time does not advance while the expired list is non-empty, which is what
 * keeps those appends sorted. */
#include "base/timer.h"

#include <string.h>

#include "base/assert.h"

#define LEVEL_BITS 6u
#define EXPIRED_LEVEL TW_WHEEL_LEVELS

TW_STATIC_ASSERT(TW_WHEEL_SLOTS == 1u << LEVEL_BITS, "one slot per value of a six-bit digit");
TW_STATIC_ASSERT(TW_WHEEL_LEVELS *LEVEL_BITS >= 64, "the levels cover every bit of tw_ns");
TW_STATIC_ASSERT((TW_WHEEL_LEVELS - 1) * LEVEL_BITS < 64, "the top level holds some bits");

static inline void list_append(tw_timer_list *l, tw_timer *t)
{
    t->next = NULL;
    t->prev = l->tail;
    if (l->tail) {
        l->tail->next = t;
    } else {
        l->head = t;
    }
    l->tail = t;
}

static inline void list_unlink(tw_timer_list *l, tw_timer *t)
{
    if (t->prev) {
        t->prev->next = t->next;
    } else {
        TW_ASSERT(l->head == t);
        l->head = t->next;
    }
    if (t->next) {
        t->next->prev = t->prev;
    } else {
        TW_ASSERT(l->tail == t);
        l->tail = t->prev;
    }
    t->next = NULL;
    t->prev = NULL;
}

/* The first time at which slot s of level L is due, given that the wheel's
 * time agrees with it above that level. */
static tw_ns slot_start(tw_ns elapsed, uint32_t level, uint32_t slot)
{
    uint32_t shift = level * LEVEL_BITS;
    uint32_t above = shift + LEVEL_BITS;
    /* Level 10's digit reaches past bit 63: nothing lies above it. */
    tw_ns high = above >= 64 ? 0 : elapsed & ~((TW_NS(1) << above) - 1);
    return high + ((tw_ns)slot << shift);
}

/* The digit of `elapsed` at `level`: slots at or below it must be empty. */
static uint32_t position(tw_ns elapsed, uint32_t level)
{
    return (uint32_t)(elapsed >> (level * LEVEL_BITS)) & (TW_WHEEL_SLOTS - 1);
}

/* The lowest level holding a timer, or TW_WHEEL_LEVELS when the wheel proper
 * (not counting the expired list) is empty. */
static uint32_t lowest_level(const tw_wheel *w)
{
    return w->levels ? (uint32_t)__builtin_ctz(w->levels) : TW_WHEEL_LEVELS;
}

static void expire_append(tw_wheel *w, tw_timer *t)
{
    t->level = EXPIRED_LEVEL;
    t->slot = 0;
    list_append(&w->expired, t);
}

/* A deadline already in the past: insert it after every expired timer with a
 * deadline <= its own, so the list stays sorted and ties stay FIFO. */
static void expire_insert_sorted(tw_wheel *w, tw_timer *t)
{
    tw_timer *after = w->expired.tail;
    while (after && after->deadline > t->deadline) {
        after = after->prev;
    }
    t->level = EXPIRED_LEVEL;
    t->slot = 0;
    if (!after) {
        t->prev = NULL;
        t->next = w->expired.head;
        if (w->expired.head) {
            w->expired.head->prev = t;
        } else {
            w->expired.tail = t;
        }
        w->expired.head = t;
        return;
    }
    t->prev = after;
    t->next = after->next;
    if (after->next) {
        after->next->prev = t;
    } else {
        w->expired.tail = t;
    }
    after->next = t;
}

/* Places t, whose deadline is later than the wheel's time, in its slot. */
static inline void place(tw_wheel *w, tw_timer *t)
{
    TW_ASSERT(t->deadline > w->elapsed);
    uint32_t bit = 63u - (uint32_t)__builtin_clzll(t->deadline ^ w->elapsed);
    uint32_t level = bit / LEVEL_BITS;
    uint32_t slot = (uint32_t)(t->deadline >> (level * LEVEL_BITS)) & (TW_WHEEL_SLOTS - 1);
    TW_ASSERT(slot > position(w->elapsed, level));
    t->level = (uint8_t)level;
    t->slot = (uint8_t)slot;
    list_append(&w->slots[level][slot], t);
    w->occupied[level] |= 1ull << slot;
    w->levels |= 1u << level;
    if (t->deadline < w->slot_min[level][slot]) {
        w->slot_min[level][slot] = t->deadline;
    }
}

/* Marks slot (level, slot) empty; its list must already be. */
static void slot_emptied(tw_wheel *w, uint32_t level, uint32_t slot)
{
    w->occupied[level] &= ~(1ull << slot);
    if (!w->occupied[level]) {
        w->levels &= ~(1u << level);
    }
    w->slot_min[level][slot] = TW_NS_NEVER;
}

void tw_wheel_init(tw_wheel *w, tw_ns now)
{
    memset(w, 0, sizeof(*w));
    w->elapsed = now;
    for (uint32_t level = 0; level < TW_WHEEL_LEVELS; level++) {
        for (uint32_t slot = 0; slot < TW_WHEEL_SLOTS; slot++) {
            w->slot_min[level][slot] = TW_NS_NEVER;
        }
    }
}

/* Takes an armed timer out of whichever list holds it. */
static inline void disarm(tw_wheel *w, tw_timer *t)
{
    TW_ASSERT(t->armed);
    TW_ASSERT(w->count > 0);
    TW_ASSERT(t->level <= EXPIRED_LEVEL);
    if (t->level == EXPIRED_LEVEL) {
        list_unlink(&w->expired, t);
    } else {
        tw_timer_list *l = &w->slots[t->level][t->slot];
        TW_ASSERT(w->occupied[t->level] & (1ull << t->slot));
        list_unlink(l, t);
        if (!l->head) {
            slot_emptied(w, t->level, t->slot);
        }
    }
    t->armed = 0;
    w->count--;
}

void tw_wheel_cancel(tw_wheel *w, tw_timer *t)
{
    if (t->armed) {
        disarm(w, t);
    }
}

/* True when an armed timer moved to `deadline` would land in the slot it
 * already occupies: the same digits from its level up. Then it can stay in
 * place, which spares touching its list neighbours (two cache misses when
 * timers are many). */
static bool stays_in_slot(const tw_wheel *w, const tw_timer *t, tw_ns deadline)
{
    if (t->level == EXPIRED_LEVEL || deadline <= w->elapsed) {
        return false;
    }
    uint32_t shift = t->level * LEVEL_BITS;
    return (deadline >> shift) == (t->deadline >> shift);
}

void tw_wheel_arm(tw_wheel *w, tw_timer *t, tw_ns deadline)
{
    if (t->armed) {
        if (stays_in_slot(w, t, deadline)) {
            t->deadline = deadline;
            tw_ns *min = &w->slot_min[t->level][t->slot];
            *min = tw_ns_min(*min, deadline);
            return;
        }
        disarm(w, t);
    }
    TW_ASSERT(w->count < UINT32_MAX);
    t->deadline = deadline;
    t->armed = 1;
    w->count++;
    if (deadline > w->elapsed) {
        place(w, t);
    } else if (!w->expired.tail || w->expired.tail->deadline <= deadline) {
        expire_append(w, t);
    } else {
        expire_insert_sorted(w, t);
    }
}

tw_ns tw_wheel_next_deadline(const tw_wheel *w)
{
    if (w->expired.head) {
        return w->expired.head->deadline;
    }
    uint32_t level = lowest_level(w);
    if (level == TW_WHEEL_LEVELS) {
        return TW_NS_NEVER;
    }
    uint32_t slot = (uint32_t)__builtin_ctzll(w->occupied[level]);
    tw_ns min = w->slot_min[level][slot];
    TW_ASSERT(min >= slot_start(w->elapsed, level, slot));
    return min;
}

/* Moves one timer of a slot being drained at the wheel's time. */
static inline void drain_one(tw_wheel *w, tw_timer *t, uint32_t level)
{
    TW_ASSERT(t->deadline >= w->elapsed);
    if (t->deadline == w->elapsed) {
        expire_append(w, t);
        return;
    }
    place(w, t);
    TW_ASSERT(t->level < level);
    w->cascades++;
}

/* Empties the earliest slot, which is due, at time `at` (T in the notes):
 * timers with deadline `at` expire, the others move to lower levels. */
static void drain_slot(tw_wheel *w, uint32_t level, uint32_t slot, tw_ns at)
{
    tw_timer_list *l = &w->slots[level][slot];
    tw_timer *head = l->head;
    tw_timer *tail = l->tail;
    l->head = NULL;
    l->tail = NULL;
    slot_emptied(w, level, slot);
    w->elapsed = at;
    /* The walk is a chain of dependent loads over timers scattered in
     * memory. Walking from both ends at once runs two chains, so two cache
     * misses are in flight instead of one; the order stays a function of
     * the list alone, so it is still deterministic. */
    while (head) {
        if (head == tail) {
            drain_one(w, head, level);
            break;
        }
        tw_timer *head_next = head->next;
        tw_timer *tail_prev = tail->prev;
        __builtin_prefetch(head_next);
        __builtin_prefetch(tail_prev);
        drain_one(w, head, level);
        drain_one(w, tail, level);
        if (head_next == tail) {
            break;
        }
        head = head_next;
        tail = tail_prev;
    }
}

tw_timer *tw_wheel_pop_expired(tw_wheel *w, tw_ns now)
{
    TW_ASSERT(now >= w->elapsed);
    for (;;) {
        tw_timer *t = w->expired.head;
        if (t) {
            list_unlink(&w->expired, t);
            t->armed = 0;
            TW_ASSERT(w->count > 0);
            w->count--;
            return t;
        }
        uint32_t level = lowest_level(w);
        if (level == TW_WHEEL_LEVELS) {
            w->elapsed = now;
            return NULL;
        }
        uint64_t bits = w->occupied[level];
        uint32_t slot = (uint32_t)__builtin_ctzll(bits);
        /* The invariant of the notes above: nothing at or behind the
         * position, so the lowest set bit is the earliest slot. */
        TW_ASSERT(slot > position(w->elapsed, level));
        tw_ns start = slot_start(w->elapsed, level, slot);
        if (start > now) {
            w->elapsed = now;
            return NULL;
        }
        tw_ns min = w->slot_min[level][slot];
        TW_ASSERT(min >= start);
        drain_slot(w, level, slot, tw_ns_min(now, min));
    }
}
