#include "cli/json.h"

#include <inttypes.h>

void tw_json_init(tw_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->first[0] = true;
    j->after_key = false;
}

static void indent(tw_json *j)
{
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++) {
        fputs("  ", j->f);
    }
}

/* Before any value or key: a comma unless first at this depth, and a new
 * line, except right after a key where the value follows on the line. */
static void before_value(tw_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth > 0) {
        if (!j->first[j->depth]) {
            fputc(',', j->f);
        }
        indent(j);
    }
    j->first[j->depth] = false;
}

static void open_(tw_json *j, char c)
{
    before_value(j);
    fputc(c, j->f);
    if (j->depth + 1 < TW_JSON_DEPTH_MAX) {
        j->depth++;
    }
    j->first[j->depth] = true;
}

static void close_(tw_json *j, char c)
{
    bool empty = j->first[j->depth];
    if (j->depth > 0) {
        j->depth--;
    }
    if (!empty) {
        indent(j);
    }
    fputc(c, j->f);
    if (j->depth == 0) {
        fputc('\n', j->f);
    }
}

void tw_json_begin_object(tw_json *j) { open_(j, '{'); }
void tw_json_end_object(tw_json *j) { close_(j, '}'); }
void tw_json_begin_array(tw_json *j) { open_(j, '['); }
void tw_json_end_array(tw_json *j) { close_(j, ']'); }

static void write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) {
                fprintf(f, "\\u%04x", *p);
            } else {
                fputc(*p, f);
            }
        }
    }
    fputc('"', f);
}

void tw_json_key(tw_json *j, const char *key)
{
    before_value(j);
    write_string(j->f, key);
    fputs(": ", j->f);
    j->after_key = true;
}

void tw_json_string(tw_json *j, const char *s)
{
    before_value(j);
    write_string(j->f, s);
}

void tw_json_u64(tw_json *j, uint64_t v)
{
    before_value(j);
    fprintf(j->f, "%" PRIu64, v);
}

void tw_json_i64(tw_json *j, int64_t v)
{
    before_value(j);
    fprintf(j->f, "%" PRId64, v);
}

void tw_json_bool(tw_json *j, bool v)
{
    before_value(j);
    fputs(v ? "true" : "false", j->f);
}

void tw_json_null(tw_json *j)
{
    before_value(j);
    fputs("null", j->f);
}

void tw_json_report_head(tw_json *j, const char *scenario, uint64_t seed, const char *mode,
                         bool passed)
{
    tw_json_begin_object(j);
    tw_json_key(j, "scenario");
    tw_json_string(j, scenario);
    tw_json_key(j, "seed");
    tw_json_u64(j, seed);
    tw_json_key(j, "mode");
    tw_json_string(j, mode);
    tw_json_key(j, "passed");
    tw_json_bool(j, passed);
    tw_json_key(j, "expectations");
    tw_json_begin_array(j);
}

void tw_json_report_tail(tw_json *j, const uint64_t *trace_hash, uint64_t sim_time_ns,
                         uint64_t wall_time_ns, uint64_t events)
{
    tw_json_key(j, "trace_hash");
    if (trace_hash) {
        tw_json_hex64(j, *trace_hash);
    } else {
        tw_json_null(j);
    }
    tw_json_key(j, "sim_time_ns");
    tw_json_u64(j, sim_time_ns);
    tw_json_key(j, "wall_time_ns");
    tw_json_u64(j, wall_time_ns);
    tw_json_key(j, "events");
    tw_json_u64(j, events);
    tw_json_end_object(j);
}

void tw_json_hex64(tw_json *j, uint64_t v)
{
    before_value(j);
    fprintf(j->f, "\"%016" PRIx64 "\"", v);
}
