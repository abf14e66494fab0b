/* Scenario files: YAML in, a tw_scenario (core/scenario/model.h) out.
 *
 * Pure: the caller reads the file and hands over its bytes and its name;
 * the name is used only in messages. Loading allocates (it is init time)
 * and everything it allocates is released by tw_scenario_free.
 *
 * Errors: a file that is not a valid scenario yields no model, -TW_EINVAL,
 * and one message in err, "name:line:column: message", line and column
 * 1-based, naming the first problem found (sections are checked in the
 * order docs/scenarios.md lists them). Drivers exit 2 on it. err is always
 * NUL-terminated when err_len > 0, and truncated to fit. */
#ifndef TW_SCENARIO_SCENARIO_H
#define TW_SCENARIO_SCENARIO_H

#include <stddef.h>

#include "scenario/model.h"

/* 0 and *out, or -TW_EINVAL and a message (nothing to free). */
int tw_scenario_load(const char *name, const char *bytes, size_t len, tw_scenario **out, char *err,
                     size_t err_len);

/* Frees a loaded scenario; NULL is allowed. */
void tw_scenario_free(tw_scenario *s);

/* One `--set key=value` override: key_path names a scalar in the file
 * ("seed", "duration", "links.l1.loss", "hosts.server.cores",
 * "hosts.client.apps.client.rate", "faults.0.at"; list items are chosen by
 * their name, or by index), value replaces it or adds it. The scenario is
 * then checked exactly as a file would be; on success it is rebuilt in
 * place (earlier overrides kept, pointers into it invalidated), on failure
 * it is left untouched and err reads "--set key=value: message" (or names
 * the place in the file the override broke). */
int tw_scenario_set(tw_scenario *s, const char *key_path, const char *value, char *err,
                    size_t err_len);

/* Index of the host, link, switch or app with this name, or
 * TW_SCENARIO_NONE. */
uint32_t tw_scenario_find_host(const tw_scenario *s, const char *name);
uint32_t tw_scenario_find_link(const tw_scenario *s, const char *name);
uint32_t tw_scenario_find_switch(const tw_scenario *s, const char *name);
uint32_t tw_scenario_find_app(const tw_scenario *s, const char *name);

/* Stable names, as written in files and reports ("udp_echo", "partition",
 * "ns", ">="). */
const char *tw_scenario_app_type_name(tw_scenario_app_type t);
const char *tw_scenario_fault_kind_name(tw_scenario_fault_kind k);
const char *tw_scenario_unit_name(tw_scenario_unit u);
const char *tw_scenario_op_name(tw_scenario_op op);
const char *tw_scenario_backend_name(tw_scenario_backend b);

#endif
