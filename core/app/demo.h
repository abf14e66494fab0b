/* The seed runtime's demo, as sans-io tasks and a controller program: what
 * `twin run` shows until scenario files arrive, and the workload of the
 * determinism and dispatch tests.
 *
 * Pingers (group 1), spread least-loaded over the workers, each ping the next
 * pinger in a ring (so most pings cross cores) on a jittered period and time
 * the pongs. Every 64 pings a pinger publishes its counters on the stats
 * channel; one collector per worker subscribes to it and forwards sums to the
 * controller. Halfway through, the controller tells the whole pinger group to
 * double its rate; throughout, it polls every worker's status. */
#ifndef TW_APP_DEMO_H
#define TW_APP_DEMO_H

#include <stdint.h>

#include "base/time.h"
#include "rt/controller.h"
#include "rt/task.h"

enum {
    TW_DEMO_TASK_PINGER = 0,
    TW_DEMO_TASK_COLLECTOR = 1,
    TW_DEMO_TASK_TYPES
};

enum {
    TW_DEMO_GROUP_PINGERS = 1,
    TW_DEMO_GROUP_COLLECTORS = 2,
    TW_DEMO_CHANNEL_STATS = 7,
};

extern const tw_task_registry tw_demo_registry;
extern const tw_controller_program tw_demo_program;

typedef struct tw_demo_config {
    uint32_t workers;
    uint32_t pingers;
    tw_ns period_ns;   /* between pings of one pinger, before the speed-up */
    tw_ns speedup_at;  /* when the controller halves the period */
} tw_demo_config;

#define TW_DEMO_PINGERS_MAX 8192

typedef struct tw_demo {
    tw_demo_config cfg;
    /* filled as the run goes */
    uint64_t spawn_req_first;
    uint32_t acked;
    uint32_t spawn_errors;
    uint32_t peers_sent;
    bool speedup_sent;
    uint64_t reports;      /* collector reports at the controller */
    uint64_t pings;        /* as last reported by the collectors, summed */
    uint64_t pongs;
    uint64_t rtt_sum_ns;
    uint64_t status_reports;
    tw_addr pinger_addr[TW_DEMO_PINGERS_MAX];
} tw_demo;

void tw_demo_init(tw_demo *d, const tw_demo_config *cfg);

/* Totals read from the tasks themselves at the end of a run (the collectors'
 * view lags by up to 64 pings per pinger). */
typedef struct tw_demo_totals {
    uint64_t pings;
    uint64_t pongs;
    uint64_t rtt_sum_ns;
    uint64_t rtt_max_ns;
    uint64_t stats_seen; /* publications received by collectors */
} tw_demo_totals;

void tw_demo_task_totals(tw_task *t, tw_demo_totals *acc);

#endif
