/* A hierarchical timer wheel with exact nanosecond deadlines.
 *
 * Eight levels of 256 slots, eight bits of the deadline each, cover the
 * whole 64-bit nanosecond range with 1 ns resolution at level 0, so no
 * deadline is ever rounded: a timer fires at exactly its deadline, never
 * later (the TCP tests check RTO timelines to the nanosecond). A timer lives
 * at the level of the highest eight-bit group in which its deadline differs
 * from the wheel's current time; when time reaches a higher-level slot its
 * timers cascade to lower levels, or, when the slot holds only a few, they
 * are sorted into the near list, from which they fire without moving again.
 * Insert and cancel are O(1) (intrusive doubly linked lists, an occupancy
 * bitmap over all slots with a summary word); finding the next expiry is
 * two count-trailing-zeros.
 *
 * Re-arming to a later deadline is O(1) and touches only the timer: a timer
 * above level 0 keeps its slot and is put in its right place when that slot
 * is drained (the TCP retransmission timer is pushed back on every ACK and
 * seldom fires).
 *
 * next_deadline is exact when the near list is not empty or the earliest
 * timer sits at level 0, and a lower bound otherwise: the smallest deadline
 * armed into the earliest slot since it was last empty, which is exact
 * unless that timer has since been cancelled or re-armed later. A driver
 * that wakes at a lower bound may find nothing due, the wheel cascades, and
 * the next answer is tighter. Pure: time only ever arrives as an argument.
 *
 * Ordering obligations: deadlines passed to tw_wheel_arm may be in the past
 * (they expire at the next poll); `now` passed to tw_wheel_pop_expired must
 * never decrease. */
#ifndef TW_BASE_TIMER_H
#define TW_BASE_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/time.h"

#define TW_WHEEL_LEVEL_BITS 8
#define TW_WHEEL_SLOTS (1u << TW_WHEEL_LEVEL_BITS) /* per level */
#define TW_WHEEL_LEVELS ((64 + TW_WHEEL_LEVEL_BITS - 1) / TW_WHEEL_LEVEL_BITS)
/* Occupancy words: bit (level * TW_WHEEL_SLOTS + slot) of the array. */
#define TW_WHEEL_WORDS (TW_WHEEL_LEVELS * TW_WHEEL_SLOTS / 64)
/* A drained slot with at most this many timers is sorted into the near list
 * instead of cascading. */
#define TW_WHEEL_NEAR_MAX 16

typedef struct tw_timer tw_timer;
struct tw_timer {
    tw_timer *next;
    tw_timer *prev;
    tw_ns deadline;
    uint8_t armed;
    uint8_t level; /* TW_WHEEL_LEVELS means the near (and expired) list */
    uint16_t slot;
    uint32_t owner; /* free for the user: the worker stores a task slot here */
    uint64_t token; /* free for the user */
};

typedef struct tw_timer_list {
    tw_timer *head;
    tw_timer *tail;
} tw_timer_list;

typedef struct tw_wheel_slot {
    tw_timer_list list;
    /* A lower bound of the slot's deadlines (TW_NS_NEVER when empty): the
     * wheel drains the slot at this time rather than at its start, and it
     * is what next_deadline answers. */
    tw_ns min;
} tw_wheel_slot;

typedef struct tw_wheel {
    tw_ns elapsed; /* the wheel's current time: the last `now` polled */
    /* The near list holds, sorted by deadline (ties in arrival order), every
     * armed timer with a deadline <= near_last, and every wheel slot starts
     * after near_last. near_last >= elapsed, so expired timers are here. */
    tw_ns near_last;
    tw_timer_list expired; /* the near list */
    uint32_t count;
    uint64_t summary; /* bit i set when occupied[i] != 0 */
    uint64_t occupied[TW_WHEEL_WORDS];
    uint64_t cascades; /* timers moved out of a drained slot without firing */
    /* Read-ahead of the next slot to be drained by cascading (see the
     * implementation notes): two cursors walking in from its ends, NULL
     * when idle, and its flat index. */
    tw_timer *ahead_head;
    tw_timer *ahead_tail;
    uint32_t ahead_g;
    /* By flat index level * TW_WHEEL_SLOTS + slot. */
    tw_wheel_slot slots[TW_WHEEL_LEVELS * TW_WHEEL_SLOTS];
} tw_wheel;

void tw_wheel_init(tw_wheel *w, tw_ns now);

/* Arms t to fire at deadline; re-arming an armed timer moves it (to a later
 * deadline, lazily: see above). O(1), except that a deadline at or below
 * near_last is put in order in the near list, walking past those with a
 * later deadline. */
void tw_wheel_arm(tw_wheel *w, tw_timer *t, tw_ns deadline);
/* Disarms t; a no-op when it is not armed. */
void tw_wheel_cancel(tw_wheel *w, tw_timer *t);

/* The earliest deadline (exact) or a lower bound of it (see above);
 * TW_NS_NEVER when no timer is armed. Never below the wheel's time unless a
 * past deadline is pending, in which case that deadline is returned. */
tw_ns tw_wheel_next_deadline(const tw_wheel *w);

/* One timer whose deadline is <= now, disarmed, or NULL when none is due.
 * Timers come out in non-decreasing deadline order; ties in an order that
 * depends only on the sequence of calls (deterministic). Advances the
 * wheel's time towards now, reaching it when the answer is NULL. */
tw_timer *tw_wheel_pop_expired(tw_wheel *w, tw_ns now);

static inline bool tw_timer_armed(const tw_timer *t) { return t->armed != 0; }
static inline uint32_t tw_wheel_count(const tw_wheel *w) { return w->count; }

#endif
