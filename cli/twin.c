#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "base/units.h"
#include "cli/cli.h"

uint64_t tw_cli_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int tw_cli_parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    /* Decimal digits only: strtoull alone would take blanks, signs and
     * octal, and wrap "-1" to 2^64-1. */
    if (*s < '0' || *s > '9') {
        fprintf(stderr, "twin: %s: expected a non-negative decimal integer, got '%s'\n", opt, s);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) {
        fprintf(stderr, "twin: %s: expected a non-negative decimal integer, got '%s'%s\n", opt, s,
                errno == ERANGE ? " (too large)" : "");
        return -1;
    }
    *out = v;
    return 0;
}

int tw_cli_parse_range(const char *cmd, const char *opt, const char *s, uint64_t *lo,
                       uint64_t *hi)
{
    const char *dots = strstr(s, "..");
    char a[32];
    size_t n = dots ? (size_t)(dots - s) : 0;
    if (dots == NULL || n == 0 || n >= sizeof a) {
        fprintf(stderr, "twin %s: %s: expected A..B, got '%s'\n", cmd, opt, s);
        return -1;
    }
    memcpy(a, s, n);
    a[n] = '\0';
    if (tw_cli_parse_u64(opt, a, lo) < 0 || tw_cli_parse_u64(opt, dots + 2, hi) < 0) {
        return -1;
    }
    if (*lo > *hi) {
        fprintf(stderr, "twin %s: %s: %" PRIu64 "..%" PRIu64 " is empty\n", cmd, opt, *lo, *hi);
        return -1;
    }
    return 0;
}

int tw_cli_parse_duration(const char *opt, const char *s, uint64_t *out)
{
    tw_ns v;
    int rc = tw_parse_duration(s, &v);
    if (rc < 0) {
        size_t n = strlen(s);
        bool bare = n > 0 && strspn(s, "0123456789.") == n;
        fprintf(stderr, "twin: %s: expected a duration such as 250us, 10ms or 1.5s, got '%s' (%s)\n",
                opt, s, bare ? "missing unit" : tw_strerror(rc));
        return -1;
    }
    *out = v;
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: twin <command> [options]\n"
          "\n"
          "twin runs sans-io network stacks and tasks under a deterministic,\n"
          "seeded simulator, or live in network namespaces over AF_XDP, TAP,\n"
          "AF_PACKET or io_uring, from scenario files (docs/scenarios.md).\n"
          "\n"
          "commands:\n"
          "  run      run a scenario file, simulated or --live (default: the quickstart)\n"
          "  replay   rerun the run a JSON report describes and compare its trace hash\n"
          "  fuzz     swarm simulation: random scenarios checked against invariants, shrunk\n"
          "  demo     run the built-in demo of the seed runtime\n"
          "  serve    serve an app live over kernel sockets (io_uring)\n"
          "  help     show help for a command: twin help run\n"
          "\n"
          "exit status: 0 ok, 1 a check failed, 2 bad usage or input\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TW_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        usage(stdout);
        return TW_EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        puts("twin 0.1.0");
        return TW_EXIT_OK;
    }
    if (!strcmp(cmd, "help")) {
        if (argc > 2 && !strcmp(argv[2], "run")) {
            char *args[] = {"run", "--help", NULL};
            return tw_cmd_run(2, args);
        }
        if (argc > 2 && !strcmp(argv[2], "fuzz")) {
            char *args[] = {"fuzz", "--help", NULL};
            return tw_cmd_fuzz(2, args);
        }
        if (argc > 2 && !strcmp(argv[2], "demo")) {
            char *args[] = {"demo", "--help", NULL};
            return tw_cmd_demo(2, args);
        }
        if (argc > 2 && !strcmp(argv[2], "serve")) {
            char *args[] = {"serve", "--help", NULL};
            return tw_cmd_serve(2, args);
        }
        if (argc > 2) {
            fprintf(stderr, "twin: no help for unknown command '%s'\n", argv[2]);
            return TW_EXIT_USAGE;
        }
        usage(stdout);
        return TW_EXIT_OK;
    }
    if (!strcmp(cmd, "run")) {
        return tw_cmd_run(argc - 1, argv + 1);
    }
    if (!strcmp(cmd, "demo")) {
        return tw_cmd_demo(argc - 1, argv + 1);
    }
    if (!strcmp(cmd, "fuzz")) {
        return tw_cmd_fuzz(argc - 1, argv + 1);
    }
    if (!strcmp(cmd, "replay")) {
        return tw_cmd_replay(argc - 1, argv + 1);
    }
    if (!strcmp(cmd, "serve")) {
        return tw_cmd_serve(argc - 1, argv + 1);
    }
    fprintf(stderr, "twin: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return TW_EXIT_USAGE;
}
