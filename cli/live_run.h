/* `twin run FILE --live [--backend xdp|tap|poll|uring]`: the scenario in
 * the live world (backends/live): namespaces and veths, twin hosts on
 * driver threads over real frame devices, kernel hosts running real
 * programs for their apps. The same expectations, summary and report
 * (mode "live") as the simulator's run, through cli/scenario_common.
 *
 * Exit status: 0 every expectation held, 1 one failed (or interrupted),
 * 2 bad input (an app a kernel host has no program for), 77 the live world
 * cannot be built here (the reason is printed). */
#ifndef TW_CLI_LIVE_RUN_H
#define TW_CLI_LIVE_RUN_H

#include "cli/scenario_run.h"

int tw_live_scen_run(const tw_scen_opts *o, tw_scen_result *r);

#endif
