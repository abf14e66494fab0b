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
 * at (L, s) agrees with e above group L and s > position_L(e). Time only
 * ever moves to the start of the earliest occupied slot (which is then
 * emptied) or to a `now` below that start, and neither move can carry e
 * past a slot that is still occupied. So the earliest timer is always in the
 * lowest non-empty level, in its lowest occupied slot: O(levels) to find
 * with count-trailing-zeros, no masking by position needed (asserted).
 *
 * Expiry. All timers of a level-0 slot share one deadline (the slot start),
 * so they move to the expired list together. A higher-level slot is
 * cascaded: time is set to its start and each timer re-inserted relative to
 * it, which puts it strictly lower. NOTE: unlike a wheel that dumps every
 * "deadline <= now" timer of a high slot into the expired list, this never
 * does, because the timers of one high slot are not sorted and the API
 * promises non-decreasing order; they reach the expired list through level 0
 * instead, at a cost of at most one cascade per level per timer.
 *
 * The expired list is kept sorted by deadline, ties in arrival order.
 * Entries from the wheel carry the current time, which is at least every
 * deadline already there, so they append in O(1); only a deadline armed in
 * the past walks back from the tail over the expired timers later than it.
 * Time does not advance while the expired list is non-empty, which is what
 * keeps those appends sorted. */
#include "rt/timer.h"

#include <string.h>

#include "base/assert.h"

#define LEVEL_BITS 6u
#define EXPIRED_LEVEL TW_WHEEL_LEVELS

TW_STATIC_ASSERT(TW_WHEEL_SLOTS == 1u << LEVEL_BITS, "one slot per value of a six-bit digit");
TW_STATIC_ASSERT(TW_WHEEL_LEVELS * LEVEL_BITS >= 64, "the levels cover every bit of tw_ns");
TW_STATIC_ASSERT((TW_WHEEL_LEVELS - 1) * LEVEL_BITS < 64, "the top level holds some bits");

static void list_append(tw_timer_list *l, tw_timer *t)
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

static void list_unlink(tw_timer_list *l, tw_timer *t)
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
    for (uint32_t level = 0; level < TW_WHEEL_LEVELS; level++) {
        if (w->occupied[level]) {
            return level;
        }
    }
    return TW_WHEEL_LEVELS;
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
static void place(tw_wheel *w, tw_timer *t)
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
}

void tw_wheel_init(tw_wheel *w, tw_ns now)
{
    memset(w, 0, sizeof(*w));
    w->elapsed = now;
}

void tw_wheel_arm(tw_wheel *w, tw_timer *t, tw_ns deadline)
{
    if (t->armed) {
        tw_wheel_cancel(w, t);
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

void tw_wheel_cancel(tw_wheel *w, tw_timer *t)
{
    if (!t->armed) {
        return;
    }
    TW_ASSERT(w->count > 0);
    TW_ASSERT(t->level <= EXPIRED_LEVEL);
    if (t->level == EXPIRED_LEVEL) {
        list_unlink(&w->expired, t);
    } else {
        tw_timer_list *l = &w->slots[t->level][t->slot];
        TW_ASSERT(w->occupied[t->level] & (1ull << t->slot));
        list_unlink(l, t);
        if (!l->head) {
            w->occupied[t->level] &= ~(1ull << t->slot);
        }
    }
    t->armed = 0;
    w->count--;
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
    return slot_start(w->elapsed, level, slot);
}

/* Empties the earliest slot, whose start is `start` and which is due: time
 * moves to its start, level-0 timers expire, higher ones move down. */
static void drain_slot(tw_wheel *w, uint32_t level, uint32_t slot, tw_ns start)
{
    tw_timer_list *l = &w->slots[level][slot];
    tw_timer *t = l->head;
    l->head = NULL;
    l->tail = NULL;
    w->occupied[level] &= ~(1ull << slot);
    w->elapsed = start;
    while (t) {
        tw_timer *next = t->next;
        TW_ASSERT(t->deadline >= start);
        if (t->deadline == start) {
            expire_append(w, t);
        } else {
            TW_ASSERT(level > 0);
            place(w, t);
            TW_ASSERT(t->level < level);
            w->cascades++;
        }
        t = next;
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
        drain_slot(w, level, slot, start);
    }
}
