/* IMPLEMENTATION NOTES
 *
 * Placement. A timer with deadline d armed while the wheel's time is e lives
 * at level L = (highest bit of d ^ e) / 8, slot s = (d >> 8L) & 255. Because
 * d > e and they agree above group L, s is strictly greater than e's own
 * digit at level L ("the position"), and every level-L timer is later than
 * every level-(L-1) timer. Level 7 holds bits 56..63.
 *
 * The invariant that makes this work: for the current time e, every timer
 * at (L, s) agrees with e above group L and s > position_L(e). It survives
 * any move of e to a time T with e <= T <= (every deadline in the wheel)
 * and T below the start of every occupied slot but the one being drained.
 * So the earliest slot is the lowest occupied one in (level, slot) order,
 * which is the order of the flat index g = L * 256 + s: one bitmap over all
 * slots (32 words) and a summary word of its non-empty words find it with
 * two count-trailing-zeros, no masking by position needed (asserted).
 * Each slot keeps its list and slot_min (tw_wheel_slot.min) side by side.
 *
 * Lazy re-arm. A timer's slot only promises that its deadline is not
 * earlier than the slot's start (and not earlier than slot_min). Pushing a
 * deadline later keeps that promise, so a timer above level 0 re-armed
 * later just stores the new deadline: no list surgery, no neighbours
 * touched. When its slot is drained it is placed by its true deadline like
 * any other, possibly at a higher level than the one it came from. Level 0
 * is left out so that a level-0 slot_min stays exact.
 *
 * Draining. Each slot keeps slot_min, the smallest deadline armed into it
 * since it was last empty: a lower bound of its deadlines, exact unless that
 * timer was cancelled or pushed later since (either only raises the true
 * minimum). The earliest slot is drained once its start is due, at
 * T = min(now, slot_min): time moves to T and every timer of the slot is
 * either placed again relative to T (which puts one whose deadline is still
 * inside the slot strictly lower, as it agrees with T down to and including
 * digit L) or, when the slot holds at most TW_WHEEL_NEAR_MAX timers, those
 * inside the slot go to the near list in deadline order and fire from there
 * without another move. Draining at T rather than at the slot start is what
 * lets a timer alone in a high slot expire without passing through every
 * level below, and what makes next_deadline exact in the common case, so a
 * driver seldom wakes for nothing.
 *
 * The near list is sorted by deadline, ties in arrival order, and holds
 * every timer with a deadline <= near_last: expired ones (near_last >=
 * elapsed always) and, after a small slot was drained, that slot's timers
 * (near_last = the slot's last nanosecond). Every wheel slot starts after
 * near_last: a placement relative to e lands after e's own slot at every
 * level, and e stays inside the drained slot until the near list is empty
 * and the wheel moves on. So the near head, when there is one, is the
 * earliest timer, exactly. A deadline armed at or below near_last is put
 * in order, walking back from the tail; a walk longer than NEAR_WALK for a
 * future deadline gives the near list's future timers back to the wheel
 * instead (near_last drops to elapsed), so a burst of arms into a small
 * slot's range stays O(1) amortised. Only past deadlines walk without
 * bound, as before. The wheel drains a slot only when the near list is
 * empty, and then appends the timers with deadline T in O(1).
 *
 * Read-ahead. Draining a big slot walks a list of timers scattered in
 * memory, each step waiting for the previous one's cache miss. After a slot
 * is drained by cascading, the earliest slot of its level, the next big
 * drain, is read ahead in the background: each poll that finds nothing due
 * prefetches one more timer from each end of its list, following links
 * that the previous poll's prefetches have brought in by then. It changes
 * nothing but the cache; the cursors are dropped when their slot is drained
 * or a timer under them is disarmed. */
#include "base/timer.h"

#include <string.h>

#include "base/assert.h"

#define LEVEL_BITS ((uint32_t)TW_WHEEL_LEVEL_BITS)
#define SLOTS TW_WHEEL_SLOTS
#define NEAR_LEVEL TW_WHEEL_LEVELS
/* Steps a future deadline may walk the near list before it is flushed. */
#define NEAR_WALK 32u

TW_STATIC_ASSERT(TW_WHEEL_SLOTS == 1u << LEVEL_BITS, "one slot per value of a digit");
TW_STATIC_ASSERT(TW_WHEEL_LEVELS *LEVEL_BITS >= 64, "the levels cover every bit of tw_ns");
TW_STATIC_ASSERT((TW_WHEEL_LEVELS - 1) * LEVEL_BITS < 64, "the top level holds some bits");
TW_STATIC_ASSERT(TW_WHEEL_SLOTS >= 64, "whole occupancy words per level");
TW_STATIC_ASSERT(TW_WHEEL_WORDS <= 64, "the summary word covers every occupancy word");
TW_STATIC_ASSERT(TW_WHEEL_SLOTS <= 1u << 16, "a slot fits in tw_timer.slot");

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

/* The first time of slot g (flat index), given that the wheel's time agrees
 * with it above its level. Two shifts by less than 64 each, so the top
 * level, with nothing above it, needs no special case. */
static inline tw_ns slot_start(tw_ns elapsed, uint32_t g)
{
    uint32_t shift = g / SLOTS * LEVEL_BITS;
    tw_ns above = elapsed >> shift >> LEVEL_BITS << LEVEL_BITS;
    return (above | (g % SLOTS)) << shift;
}

/* The last nanosecond of the slot at `level` that starts at `start`. */
static inline tw_ns slot_last(tw_ns start, uint32_t level)
{
    return start + ((TW_NS(1) << (level * LEVEL_BITS)) - 1);
}

/* The digit of `elapsed` at `level`: slots at or below it must be empty. */
static inline uint32_t position(tw_ns elapsed, uint32_t level)
{
    return (uint32_t)(elapsed >> (level * LEVEL_BITS)) & (SLOTS - 1);
}

/* The earliest occupied slot as a flat index; the wheel must not be empty. */
static inline uint32_t lowest_slot(const tw_wheel *w)
{
    uint32_t word = (uint32_t)__builtin_ctzll(w->summary);
    return word * 64 + (uint32_t)__builtin_ctzll(w->occupied[word]);
}

/* Places t, whose deadline is after near_last (and so after the wheel's
 * time), in its slot. */
static inline void place(tw_wheel *w, tw_timer *t)
{
    tw_ns d = t->deadline;
    TW_ASSERT(d > w->near_last);
    uint32_t bit = (uint32_t)__builtin_clzll(d ^ w->elapsed) ^ 63u;
    uint32_t level = bit / LEVEL_BITS;
    /* d > e, and at bit `bit` d has a 1 where e has a 0: d's digit at this
     * level is above e's, the position (the invariant of the notes). */
    uint32_t slot = (uint32_t)(d >> (level * LEVEL_BITS)) & (SLOTS - 1);
    uint32_t g = level * SLOTS + slot;
    t->level = (uint8_t)level;
    t->slot = (uint16_t)slot;
    tw_wheel_slot *s = &w->slots[g];
    list_append(&s->list, t);
    s->min = tw_ns_min(s->min, d);
    w->occupied[g / 64] |= 1ull << (g % 64);
    w->summary |= 1ull << (g / 64);
}

/* Marks slot g empty; its list must already be. */
static inline void slot_emptied(tw_wheel *w, uint32_t g)
{
    w->occupied[g / 64] &= ~(1ull << (g % 64));
    if (!w->occupied[g / 64]) {
        w->summary &= ~(1ull << (g / 64));
    }
    w->slots[g].min = TW_NS_NEVER;
}

/* Links t into the near list after `after` (at the head when NULL). */
static inline void near_link(tw_wheel *w, tw_timer *after, tw_timer *t)
{
    t->level = NEAR_LEVEL;
    t->slot = 0;
    t->prev = after;
    t->next = after ? after->next : w->expired.head;
    if (t->next) {
        t->next->prev = t;
    } else {
        w->expired.tail = t;
    }
    if (after) {
        after->next = t;
    } else {
        w->expired.head = t;
    }
}

/* Puts t in order into the near list: after every timer with a deadline <=
 * its own, walking back from the tail. */
static inline void near_insert(tw_wheel *w, tw_timer *t)
{
    tw_timer *after = w->expired.tail;
    while (after && after->deadline > t->deadline) {
        after = after->prev;
    }
    near_link(w, after, t);
}

/* The same, unless that takes more than NEAR_WALK steps: then false, and
 * nothing changed. */
static bool near_insert_short(tw_wheel *w, tw_timer *t)
{
    tw_timer *after = w->expired.tail;
    for (uint32_t steps = 0; after && after->deadline > t->deadline; steps++) {
        if (steps == NEAR_WALK) {
            return false;
        }
        after = after->prev;
    }
    near_link(w, after, t);
    return true;
}

/* Gives the near list's timers that are not yet due back to the wheel and
 * lowers near_last to the wheel's time. */
static void near_flush(tw_wheel *w)
{
    w->near_last = w->elapsed;
    tw_timer *first = w->expired.tail;
    if (!first || first->deadline <= w->elapsed) {
        return;
    }
    while (first->prev && first->prev->deadline > w->elapsed) {
        first = first->prev;
    }
    while (first) {
        tw_timer *next = first->next;
        list_unlink(&w->expired, first);
        place(w, first);
        first = next;
    }
}

void tw_wheel_init(tw_wheel *w, tw_ns now)
{
    memset(w, 0, sizeof(*w));
    w->elapsed = now;
    w->near_last = now;
    w->ahead_g = UINT32_MAX;
    for (uint32_t g = 0; g < TW_WHEEL_LEVELS * SLOTS; g++) {
        w->slots[g].min = TW_NS_NEVER;
    }
}

/* Takes an armed timer out of whichever list holds it. */
static inline void disarm(tw_wheel *w, tw_timer *t)
{
    if (t == w->ahead_head || t == w->ahead_tail) {
        w->ahead_head = NULL;
    }
    TW_ASSERT(t->armed);
    TW_ASSERT(w->count > 0);
    TW_ASSERT(t->level <= NEAR_LEVEL);
    if (t->level == NEAR_LEVEL) {
        list_unlink(&w->expired, t);
    } else {
        uint32_t g = t->level * SLOTS + t->slot;
        tw_timer_list *l = &w->slots[g].list;
        TW_ASSERT(w->occupied[g / 64] & (1ull << (g % 64)));
        list_unlink(l, t);
        if (!l->head) {
            slot_emptied(w, g);
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

/* True when an armed timer in the wheel (not the near list) may take
 * `deadline` where it is: inside its slot's range. Then it can stay in
 * place, which spares touching its list neighbours. */
static bool stays_in_slot(const tw_wheel *w, const tw_timer *t, tw_ns deadline)
{
    if (t->level == NEAR_LEVEL) {
        return false;
    }
    tw_ns start = slot_start(w->elapsed, t->level * SLOTS + t->slot);
    return deadline >= start && deadline <= slot_last(start, t->level);
}

/* Arms t, not armed, whose deadline is at or before near_last. */
__attribute__((noinline)) static void arm_near(tw_wheel *w, tw_timer *t)
{
    if (t->deadline <= w->elapsed) {
        near_insert(w, t);
    } else if (!near_insert_short(w, t)) {
        near_flush(w);
        place(w, t);
    }
}

/* Arms t, not armed. */
static inline void arm_fresh(tw_wheel *w, tw_timer *t, tw_ns deadline)
{
    TW_ASSERT(w->count < UINT32_MAX);
    t->deadline = deadline;
    t->armed = 1;
    w->count++;
    if (__builtin_expect(deadline > w->near_last, 1)) {
        place(w, t);
    } else {
        arm_near(w, t);
    }
}

/* Re-arms t, armed, other than lazily. */
__attribute__((noinline)) static void rearm(tw_wheel *w, tw_timer *t, tw_ns deadline)
{
    if (stays_in_slot(w, t, deadline)) {
        t->deadline = deadline;
        tw_ns *min = &w->slots[t->level * SLOTS + t->slot].min;
        *min = tw_ns_min(*min, deadline);
        return;
    }
    disarm(w, t);
    arm_fresh(w, t, deadline);
}

void tw_wheel_arm(tw_wheel *w, tw_timer *t, tw_ns deadline)
{
    if (t->armed) {
        /* Above level 0 and outside the near list, and later: lazy (see
         * the notes). */
        if ((uint32_t)t->level - 1u < TW_WHEEL_LEVELS - 1u && deadline >= t->deadline) {
            t->deadline = deadline;
            return;
        }
        rearm(w, t, deadline);
        return;
    }
    arm_fresh(w, t, deadline);
}

tw_ns tw_wheel_next_deadline(const tw_wheel *w)
{
    if (w->expired.head) {
        return w->expired.head->deadline;
    }
    if (!w->summary) {
        return TW_NS_NEVER;
    }
    uint32_t g = lowest_slot(w);
    tw_ns min = w->slots[g].min;
    TW_ASSERT(min > w->near_last);
    return min;
}

/* Takes the near list's head, which is due, moving the wheel's time to its
 * deadline unless that is in the past. */
static inline tw_timer *near_pop(tw_wheel *w, tw_timer *t)
{
    w->elapsed = tw_ns_max(w->elapsed, t->deadline);
    w->expired.head = t->next;
    if (t->next) {
        t->next->prev = NULL;
    } else {
        w->expired.tail = NULL;
    }
    t->next = NULL;
    t->armed = 0;
    TW_ASSERT(w->count > 0);
    w->count--;
    return t;
}

/* Starts the read-ahead on the earliest slot of `level`, the next to be
 * drained by cascading after one at that level was. */
static void ahead_start(tw_wheel *w, uint32_t level)
{
    uint32_t words = SLOTS / 64;
    uint64_t m = w->summary & (((1ull << words) - 1) << (level * words));
    if (!m) {
        w->ahead_head = NULL;
        return;
    }
    uint32_t word = (uint32_t)__builtin_ctzll(m);
    uint32_t g = word * 64 + (uint32_t)__builtin_ctzll(w->occupied[word]);
    tw_timer_list *l = &w->slots[g].list;
    w->ahead_g = g;
    w->ahead_head = l->head;
    w->ahead_tail = l->tail;
    __builtin_prefetch(l->head);
    __builtin_prefetch(l->tail);
}

/* Moves one timer of a slot being drained (in cascade mode) at the wheel's
 * time. The near list holds only timers with that deadline. */
static inline void drain_one(tw_wheel *w, tw_timer *t)
{
    TW_ASSERT(t->deadline >= w->elapsed);
    if (t->deadline == w->elapsed) {
        t->level = NEAR_LEVEL;
        t->slot = 0;
        list_append(&w->expired, t);
        return;
    }
    place(w, t);
    w->cascades++;
}

/* Empties the earliest slot g, which starts at `start`, at time `at` (T in
 * the notes), into the near list or lower levels. */
static void drain_slot(tw_wheel *w, uint32_t g, tw_ns start, tw_ns at)
{
    uint32_t level = g / SLOTS;
    tw_timer_list *l = &w->slots[g].list;
    tw_timer *head = l->head;
    tw_timer *tail = l->tail;
    TW_ASSERT(head != NULL);
    TW_ASSERT(w->expired.head == NULL);
    l->head = NULL;
    l->tail = NULL;
    slot_emptied(w, g);
    w->elapsed = at;
    if (g == w->ahead_g) {
        w->ahead_head = NULL;
        w->ahead_g = UINT32_MAX;
    }

    /* Optimistically sort the slot's timers into the near list; past
     * NEAR_MAX of them, give up and cascade the rest (and those). */
    w->near_last = slot_last(start, level);
    uint32_t n = 0;
    for (tw_timer *next; head; head = next) {
        next = head->next;
        TW_ASSERT(head->deadline >= at);
        if (head->deadline > w->near_last) {
            place(w, head); /* pushed past its slot since it was placed */
        } else if (n++ < TW_WHEEL_NEAR_MAX) {
            near_insert(w, head);
        } else {
            break;
        }
        w->cascades += head->deadline != at;
    }
    if (!head) {
        return;
    }
    near_flush(w);
    TW_ASSERT(w->near_last == at);
    /* The walk is a chain of dependent loads over timers scattered in
     * memory. Walking from both ends at once runs two chains, so two cache
     * misses are in flight instead of one; the order stays a function of
     * the list alone, so it is still deterministic. */
    while (head) {
        if (head == tail) {
            drain_one(w, head);
            break;
        }
        tw_timer *head_next = head->next;
        tw_timer *tail_prev = tail->prev;
        __builtin_prefetch(head_next);
        __builtin_prefetch(tail_prev);
        drain_one(w, head);
        drain_one(w, tail);
        if (head_next == tail) {
            break;
        }
        head = head_next;
        tail = tail_prev;
    }
    ahead_start(w, level);
}

/* One step of the read-ahead: prefetches the next timer from each end of
 * the slot being read ahead. The timers prefetched last time have arrived
 * by now, so following their links does not stall. */
static inline void ahead_step(tw_wheel *w)
{
    tw_timer *a = w->ahead_head;
    if (!a) {
        return;
    }
    tw_timer *b = w->ahead_tail;
    if (a == b || a->next == b) {
        w->ahead_head = NULL;
        return;
    }
    a = a->next;
    b = b->prev;
    __builtin_prefetch(a);
    __builtin_prefetch(b);
    w->ahead_head = a;
    w->ahead_tail = b;
}

/* Moves the wheel's time to now, when nothing is due by then. */
static inline void advance(tw_wheel *w, tw_ns now)
{
    w->elapsed = now;
    w->near_last = tw_ns_max(w->near_last, now);
}

__attribute__((noinline)) static tw_timer *pop_slow(tw_wheel *w, tw_ns now)
{
    for (;;) {
        tw_timer *t = w->expired.head;
        if (t) {
            if (t->deadline <= now) {
                return near_pop(w, t);
            }
            /* Every slot starts after near_last >= this deadline > now. */
            advance(w, now);
            ahead_step(w);
            return NULL;
        }
        if (!w->summary) {
            advance(w, now);
            return NULL;
        }
        uint32_t g = lowest_slot(w);
        /* The invariant of the notes above: nothing at or behind the
         * position, so the lowest set bit is the earliest slot. */
        TW_ASSERT(g % SLOTS > position(w->elapsed, g / SLOTS));
        tw_ns start = slot_start(w->elapsed, g);
        if (start > now) {
            /* The next drain starts with this slot's timers: fetch the
             * first while the caller does other work. */
            __builtin_prefetch(w->slots[g].list.head);
            advance(w, now);
            ahead_step(w);
            return NULL;
        }
        tw_ns min = w->slots[g].min;
        TW_ASSERT(min >= start);
        drain_slot(w, g, start, tw_ns_min(now, min));
    }
}

tw_timer *tw_wheel_pop_expired(tw_wheel *w, tw_ns now)
{
    TW_ASSERT(now >= w->elapsed);
    tw_timer *t = w->expired.head;
    if (t) {
        if (t->deadline <= now) {
            return near_pop(w, t);
        }
        /* Every slot starts after near_last >= this deadline > now. */
        advance(w, now);
        ahead_step(w);
        return NULL;
    }
    return pop_slow(w, now);
}
