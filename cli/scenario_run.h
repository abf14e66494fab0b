/* `twin run FILE`: a scenario file in the simulated world. Loads it (errors
 * as file:line:column, exit 2), builds the world, spawns the apps at their
 * start times, samples metrics, evaluates the expectations, prints the
 * summary and writes the report, the pcaps and the trace. */
#ifndef TW_CLI_SCENARIO_RUN_H
#define TW_CLI_SCENARIO_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct tw_scen_opts {
    const char *file;
    bool seed_given;
    uint64_t seed;
    const char *report_path;
    const char *pcap_dir;
    const char *trace_path;
    const char *series_path; /* metric samples as JSON lines */
    const char **sets;       /* --set key=value */
    uint32_t set_count;
    bool quiet;
    bool check_determinism;
    bool swarm; /* draw the file's swarm knobs from the seed */
    bool live;           /* run in the live world (cli/live_run.h) */
    const char *backend; /* live: xdp, tap, poll, uring; NULL: the file's or xdp */
} tw_scen_opts;

typedef struct tw_scen_result {
    bool passed;
    uint64_t trace_hash;
    uint64_t events;
    uint32_t failed;
    uint32_t expectations;
} tw_scen_result;

/* Runs once; returns the exit status (0 passed, 1 an expectation failed,
 * 2 bad input). */
int tw_scen_run(const tw_scen_opts *o, tw_scen_result *r);

#endif
