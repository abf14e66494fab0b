/* A small streaming JSON writer for reports: objects, arrays, strings with
 * escaping, integers, booleans. Keys and values are written in call order,
 * with commas and two-space indentation handled here. */
#ifndef TW_CLI_JSON_H
#define TW_CLI_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define TW_JSON_DEPTH_MAX 32

typedef struct tw_json {
    FILE *f;
    int depth;
    bool first[TW_JSON_DEPTH_MAX];
    bool after_key;
} tw_json;

void tw_json_init(tw_json *j, FILE *f);
void tw_json_begin_object(tw_json *j);
void tw_json_end_object(tw_json *j);
void tw_json_begin_array(tw_json *j);
void tw_json_end_array(tw_json *j);
void tw_json_key(tw_json *j, const char *key);
void tw_json_string(tw_json *j, const char *s);
void tw_json_u64(tw_json *j, uint64_t v);
void tw_json_i64(tw_json *j, int64_t v);
void tw_json_bool(tw_json *j, bool v);
void tw_json_null(tw_json *j);
/* A 64-bit value as a 16-digit hex string (JSON numbers lose precision
 * past 2^53 in most readers). */
void tw_json_hex64(tw_json *j, uint64_t v);

/* The run report of docs/report.md, in one place: the keys before the
 * expectations (the array is left open for the caller's entries) ... */
void tw_json_report_head(tw_json *j, const char *scenario, uint64_t seed, const char *mode,
                         bool passed);
/* ... and after them: the caller has closed the array and written
 * "metrics"; these close the object. trace_hash NULL: the run has none (a
 * live run, not deterministic), written as null. */
void tw_json_report_tail(tw_json *j, const uint64_t *trace_hash, uint64_t sim_time_ns,
                         uint64_t wall_time_ns, uint64_t events);

#endif
