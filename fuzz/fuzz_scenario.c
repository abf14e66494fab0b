/* Fuzz target: the scenario loader, from YAML bytes.
 *
 * Properties: the loader never crashes, never leaks (LeakSanitizer under
 * libFuzzer), and either returns a model (0, non-NULL) or an error
 * (-TW_EINVAL, NULL) whose message names the place: "fuzz.yaml:LINE:COL:
 * what" with LINE and COLUMN at least 1. A loaded model also takes a few
 * `--set` overrides (valid ones rebuild it, invalid ones leave it as it
 * was and say "--set ..."), and the unit parsers (durations, rates, sizes,
 * ratios) read the input's first line without crashing. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/units.h"
#include "fuzz.h"
#include "scenario/scenario.h"

#define NAME "fuzz.yaml"
/* Larger inputs only slow the fuzzer down; the loader's limits are
 * smaller than this anyway. */
#define INPUT_MAX (64 * 1024)

/* "fuzz.yaml:LINE:COL: message", LINE, COL >= 1, something after. */
static void check_located(const char *err, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(err, "--set ", 6) == 0) {
        FUZZ_CHECK(strlen(err) > 6, "empty --set message");
        return;
    }
    FUZZ_CHECK(strncmp(err, prefix, pl) == 0 && err[pl] == ':', "message without location: %s",
               err);
    char *end;
    long line = strtol(err + pl + 1, &end, 10);
    FUZZ_CHECK(line >= 1 && *end == ':', "bad line in: %s", err);
    long col = strtol(end + 1, &end, 10);
    FUZZ_CHECK(col >= 1 && *end == ':', "bad column in: %s", err);
    FUZZ_CHECK(end[1] == ' ' && end[2] != '\0', "no message in: %s", err);
}

static void overrides(tw_scenario *s)
{
    /* Each override is checked as a file would be; the model stays valid
     * whatever the outcome. */
    static const char *const sets[][2] = {
        {"seed", "7"},
        {"duration", "1s"},
        {"duration", "-1s"},
        {"seed", "x"},
        {"hosts.0.cores", "3"},
        {"links.0.loss", "200%"},
        {"nosuch.key", "1"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        memset(err, 0, sizeof err);
        int rc = tw_scenario_set(s, sets[i][0], sets[i][1], err, sizeof err);
        FUZZ_CHECK(rc == 0 || rc == -TW_EINVAL, "set returned %d", rc);
        if (rc != 0) {
            FUZZ_CHECK(err[0] != '\0', "set failed without a message");
            FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "message not terminated");
        }
    }
}

static void units(const uint8_t *data, size_t size)
{
    char s[80];
    size_t n = 0;
    while (n < size && n < sizeof s - 1 && data[n] != '\n') {
        s[n] = (char)data[n];
        n++;
    }
    s[n] = '\0';
    tw_ns ns;
    uint64_t v;
    tw_ratio r;
    if (tw_parse_duration(s, &ns) == 0) {
        char buf[64];
        (void)tw_format_duration(ns, buf, sizeof buf);
        FUZZ_CHECK(memchr(buf, '\0', sizeof buf) != NULL, "formatted duration not terminated");
    }
    (void)tw_parse_duration_ps(s, &v);
    (void)tw_parse_rate(s, &v);
    (void)tw_parse_size(s, &v);
    (void)tw_parse_ratio(s, &r);
    (void)tw_parse_ppm(s, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_MAX) {
        return 0;
    }
    units(data, size);
    tw_scenario *s = NULL;
    char err[512];
    memset(err, 0x5a, sizeof err);
    int rc = tw_scenario_load(NAME, (const char *)data, size, &s, err, sizeof err);
    if (rc == 0) {
        FUZZ_CHECK(s != NULL, "success without a model");
        overrides(s);
        tw_scenario_free(s);
        return 0;
    }
    FUZZ_CHECK(rc == -TW_EINVAL, "load returned %d", rc);
    FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "message not terminated");
    check_located(err, NAME);
    return 0;
}
