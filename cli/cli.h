/* The `twin` command's shared helpers. The CLI is a driver: it may read
 * clocks, allocate and print; core/ and sim/ may not. */
#ifndef TW_CLI_H
#define TW_CLI_H

#include <stdint.h>
#include <stdio.h>

enum {
    TW_EXIT_OK = 0,
    TW_EXIT_FAILED = 1, /* an expectation or check failed */
    TW_EXIT_USAGE = 2,  /* bad input or usage */
    TW_EXIT_SKIP = 77,  /* the live world cannot be built here */
};

uint64_t tw_cli_wall_ns(void);
/* Parses an unsigned integer option; prints the error and returns -1. */
int tw_cli_parse_u64(const char *opt, const char *s, uint64_t *out);
int tw_cli_parse_duration(const char *opt, const char *s, uint64_t *out);
/* "A..B" with A <= B, for `twin CMD OPT`; prints the error and returns -1. */
int tw_cli_parse_range(const char *cmd, const char *opt, const char *s, uint64_t *lo,
                       uint64_t *hi);

int tw_cmd_run(int argc, char **argv);
int tw_cmd_demo(int argc, char **argv);
int tw_cmd_replay(int argc, char **argv);
int tw_cmd_serve(int argc, char **argv);
int tw_cmd_fuzz(int argc, char **argv);

#endif
