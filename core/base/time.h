/* Time in twin: unsigned 64-bit nanoseconds.
 *
 * Virtual in the simulator, CLOCK_MONOTONIC in live mode; in both cases the
 * driver reads (or advances) the clock once per loop turn and passes `now`
 * into core/ as an argument. Nothing in core/ or sim/ reads a clock. */
#ifndef TW_BASE_TIME_H
#define TW_BASE_TIME_H

#include <stdint.h>

typedef uint64_t tw_ns;

/* A deadline that never comes: the idle answer of every *_next_deadline. */
#define TW_NS_NEVER UINT64_MAX

#define TW_NS(x) ((tw_ns)(x))
#define TW_US(x) ((tw_ns)(x) * 1000u)
#define TW_MS(x) ((tw_ns)(x) * 1000000u)
#define TW_SEC(x) ((tw_ns)(x) * 1000000000u)

static inline tw_ns tw_ns_min(tw_ns a, tw_ns b) { return a < b ? a : b; }
static inline tw_ns tw_ns_max(tw_ns a, tw_ns b) { return a > b ? a : b; }

/* a + b, saturating at TW_NS_NEVER so that "never + x" stays never. */
static inline tw_ns tw_ns_add(tw_ns a, tw_ns b)
{
    return (a > TW_NS_NEVER - b) ? TW_NS_NEVER : a + b;
}

#endif
