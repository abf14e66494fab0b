/* `twin run [FILE]`: runs a scenario file in the simulator (the quickstart
 * when no file is given), once, for a range of seeds in parallel processes,
 * or twice to check its determinism. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/live_run.h"
#include "cli/scenario_run.h"

#define DEFAULT_SCENARIO "scenarios/quickstart.yaml"
#define SETS_MAX 64
#define JOBS_MAX 64

static void help(FILE *f)
{
    fputs("usage: twin run [FILE] [options]\n"
          "\n"
          "Runs a scenario file (docs/scenarios.md) in the deterministic simulator:\n"
          "builds its hosts, links, switches and apps, applies its faults, and\n"
          "checks its expectations. Without FILE, runs " DEFAULT_SCENARIO ".\n"
          "\n"
          "options:\n"
          "  --seed N               override the file's seed\n"
          "  --seeds A..B           run every seed from A to B (a sweep)\n"
          "  --jobs J               sweep in J parallel processes (default 1)\n"
          "  --set KEY=VALUE        override a value of the file (repeatable), e.g.\n"
          "                         --set duration=2s --set links.l1.loss=2%\n"
          "  --report FILE          write the JSON report (docs/report.md)\n"
          "  --pcap DIR             write the captures the file asks for into DIR\n"
          "  --trace FILE           write one line per event with its running hash\n"
          "  --series FILE          write the metric samples as JSON lines\n"
          "  --check-determinism    run twice and compare the trace hashes\n"
          "  --swarm                draw the file's swarm knobs (loss, delay, faults...)\n"
          "                         from the seed; with --seeds, a swarm sweep\n"
          "  --quiet                print only failures and the trace hash\n"
          "  --live                 run in the live world: network namespaces, veth pairs,\n"
          "                         twin hosts on threads over real devices (docs/live.md)\n"
          "  --backend B            live frame device: xdp (default), tap, poll, uring\n"
          "  -h, --help             this help\n"
          "\n"
          "exit status: 0 every expectation held, 1 one failed, 2 bad input or usage,\n"
          "77 the live world cannot be built here (the reason is printed)\n",
          f);
}

typedef struct run_args {
    tw_scen_opts o;
    const char *sets[SETS_MAX];
    bool sweep;
    uint64_t seed_lo, seed_hi;
    uint64_t jobs;
} run_args;

static int parse(int argc, char **argv, run_args *r)
{
    enum { O_SEED = 256, O_SEEDS, O_JOBS, O_SET, O_REPORT, O_PCAP, O_TRACE, O_SERIES, O_CHECK,
           O_QUIET, O_SWARM, O_LIVE, O_BACKEND };
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, O_SEED},
        {"seeds", required_argument, NULL, O_SEEDS},
        {"jobs", required_argument, NULL, O_JOBS},
        {"set", required_argument, NULL, O_SET},
        {"report", required_argument, NULL, O_REPORT},
        {"pcap", required_argument, NULL, O_PCAP},
        {"trace", required_argument, NULL, O_TRACE},
        {"series", required_argument, NULL, O_SERIES},
        {"check-determinism", no_argument, NULL, O_CHECK},
        {"quiet", no_argument, NULL, O_QUIET},
        {"swarm", no_argument, NULL, O_SWARM},
        {"live", no_argument, NULL, O_LIVE},
        {"backend", required_argument, NULL, O_BACKEND},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(r, 0, sizeof(*r));
    r->jobs = 1;
    r->o.sets = r->sets;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        int rc = 0;
        switch (ch) {
        case O_SEED:
            rc = tw_cli_parse_u64("--seed", optarg, &r->o.seed);
            r->o.seed_given = true;
            break;
        case O_SEEDS:
            rc = tw_cli_parse_range("run", "--seeds", optarg, &r->seed_lo, &r->seed_hi);
            r->sweep = true;
            break;
        case O_JOBS:
            rc = tw_cli_parse_u64("--jobs", optarg, &r->jobs);
            if (rc == 0 && (r->jobs < 1 || r->jobs > JOBS_MAX)) {
                fprintf(stderr, "twin run: --jobs must be 1..%d, got %" PRIu64 "\n", JOBS_MAX,
                        r->jobs);
                rc = -1;
            }
            break;
        case O_SET:
            if (r->o.set_count == SETS_MAX) {
                fprintf(stderr, "twin run: --set: at most %d overrides\n", SETS_MAX);
                return -1;
            }
            r->sets[r->o.set_count++] = optarg;
            break;
        case O_REPORT: r->o.report_path = optarg; break;
        case O_PCAP: r->o.pcap_dir = optarg; break;
        case O_TRACE: r->o.trace_path = optarg; break;
        case O_SERIES: r->o.series_path = optarg; break;
        case O_CHECK: r->o.check_determinism = true; break;
        case O_QUIET: r->o.quiet = true; break;
        case O_SWARM: r->o.swarm = true; break;
        case O_LIVE: r->o.live = true; break;
        case O_BACKEND: r->o.backend = optarg; break;
        case 'h': help(stdout); return 1;
        case ':':
            fprintf(stderr, "twin run: option '%s' needs a value\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "twin run: unknown option '%s' (see twin run --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if (rc < 0) {
            return -1;
        }
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "twin run: one scenario file at a time, got '%s' and '%s'\n",
                argv[optind], argv[optind + 1]);
        return -1;
    }
    r->o.file = optind < argc ? argv[optind] : DEFAULT_SCENARIO;
    if (r->sweep && r->o.seed_given) {
        fprintf(stderr, "twin run: --seed and --seeds together: choose one\n");
        return -1;
    }
    if (r->sweep && (r->o.report_path || r->o.trace_path || r->o.pcap_dir || r->o.series_path)) {
        fprintf(stderr, "twin run: --seeds writes no per-run files; rerun a seed with --seed "
                        "for its report, trace or captures\n");
        return -1;
    }
    return 0;
}

/* One seed of a sweep, in a child process: its verdict goes back through
 * the pipe as a fixed-size record. */
typedef struct sweep_rec {
    uint64_t seed;
    int32_t rc;
    uint32_t failed;
    uint64_t hash;
} sweep_rec;

static void print_command(const run_args *r, uint64_t seed)
{
    fprintf(stdout, "    twin run %s --seed %" PRIu64 "%s", r->o.file, seed,
            r->o.swarm ? " --swarm" : "");
    for (uint32_t i = 0; i < r->o.set_count; i++) {
        fprintf(stdout, " --set '%s'", r->sets[i]);
    }
    fputc('\n', stdout);
}

static int sweep(run_args *r)
{
    uint64_t total = r->seed_hi - r->seed_lo + 1;
    uint64_t jobs = r->jobs < total ? r->jobs : total;
    int fds[JOBS_MAX][2];
    pid_t pids[JOBS_MAX];
    fflush(stdout);
    fflush(stderr);
    for (uint64_t j = 0; j < jobs; j++) {
        if (pipe(fds[j]) < 0 || (pids[j] = fork()) < 0) {
            fprintf(stderr, "twin run: --jobs: cannot start a process: %s\n", strerror(errno));
            return TW_EXIT_USAGE;
        }
        if (pids[j] == 0) {
            close(fds[j][0]);
            /* Children print nothing: the parent reports. */
            if (!freopen("/dev/null", "w", stdout)) {
                _exit(TW_EXIT_USAGE);
            }
            run_args mine = *r;
            mine.o.sets = mine.sets;
            mine.o.quiet = true;
            mine.o.seed_given = true;
            for (uint64_t s = r->seed_lo + j; s <= r->seed_hi; s += jobs) {
                mine.o.seed = s;
                tw_scen_result res;
                sweep_rec rec = {.seed = s};
                rec.rc = tw_scen_run(&mine.o, &res);
                rec.failed = res.failed;
                rec.hash = res.trace_hash;
                if (write(fds[j][1], &rec, sizeof rec) != (ssize_t)sizeof rec) {
                    _exit(TW_EXIT_USAGE);
                }
            }
            _exit(0);
        }
        close(fds[j][1]);
    }
    sweep_rec *recs = calloc(total, sizeof(sweep_rec));
    uint64_t done = 0, failed = 0, bad = 0;
    bool tty = isatty(STDERR_FILENO);
    for (uint64_t j = 0; j < jobs; j++) {
        sweep_rec rec;
        while (read(fds[j][0], &rec, sizeof rec) == (ssize_t)sizeof rec) {
            recs[rec.seed - r->seed_lo] = rec;
            done++;
            failed += rec.rc == TW_EXIT_FAILED;
            bad += rec.rc != TW_EXIT_OK && rec.rc != TW_EXIT_FAILED;
            if (tty) {
                fprintf(stderr, "\r  [%-40.*s] %" PRIu64 "/%" PRIu64 " seeds, %" PRIu64 " failed",
                        (int)(40 * done / total), "########################################",
                        done, total, failed + bad);
            }
        }
        close(fds[j][0]);
    }
    if (tty) {
        fputc('\n', stderr);
    }
    int status_all = 0;
    for (uint64_t j = 0; j < jobs; j++) {
        int st;
        waitpid(pids[j], &st, 0);
        status_all |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    printf("twin run %s --seeds %" PRIu64 "..%" PRIu64 ": %" PRIu64 " passed, %" PRIu64
           " failed\n",
           r->o.file, r->seed_lo, r->seed_hi, done - failed - bad, failed + bad);
    for (uint64_t i = 0; i < total && !r->o.quiet; i++) {
        if (recs[i].rc == TW_EXIT_OK) {
            printf("  seed %" PRIu64 ": passed (trace hash %016" PRIx64 ")\n", r->seed_lo + i,
                   recs[i].hash);
        }
    }
    for (uint64_t i = 0; i < total; i++) {
        if (recs[i].rc != TW_EXIT_OK) {
            printf("  seed %" PRIu64 ": %s (trace hash %016" PRIx64 "); reproduce with:\n",
                   r->seed_lo + i,
                   recs[i].seed == 0 && recs[i].rc == 0 ? "did not run"
                   : recs[i].rc == TW_EXIT_FAILED       ? "expectations failed"
                                                        : "could not run",
                   recs[i].hash);
            print_command(r, r->seed_lo + i);
        }
    }
    free(recs);
    if (done != total || status_all) {
        fprintf(stderr, "twin run: a sweep process died before finishing its seeds\n");
        return TW_EXIT_USAGE;
    }
    if (bad) {
        return TW_EXIT_USAGE;
    }
    return failed ? TW_EXIT_FAILED : TW_EXIT_OK;
}

static int check_determinism(run_args *r)
{
    tw_scen_result a, b;
    run_args q = *r;
    q.o.sets = q.sets;
    q.o.quiet = true;
    int rc1 = tw_scen_run(&r->o, &a);
    if (rc1 == TW_EXIT_USAGE) {
        return rc1;
    }
    q.o.report_path = q.o.trace_path = q.o.pcap_dir = q.o.series_path = NULL;
    int rc2 = tw_scen_run(&q.o, &b);
    if (rc2 == TW_EXIT_USAGE) {
        return rc2;
    }
    if (a.trace_hash == b.trace_hash && a.events == b.events && rc1 == rc2) {
        printf("  ✓ deterministic: two runs, %" PRIu64 " events each, trace hash %016" PRIx64 "\n",
               a.events, a.trace_hash);
        return rc1;
    }
    printf("  ✗ not deterministic: run 1 %" PRIu64 " events %016" PRIx64 ", run 2 %" PRIu64
           " events %016" PRIx64 "\n"
           "    compare the two runs' --trace files to find the first diverging event\n",
           a.events, a.trace_hash, b.events, b.trace_hash);
    return TW_EXIT_FAILED;
}

int tw_cmd_run(int argc, char **argv)
{
    run_args r;
    int prc = parse(argc, argv, &r);
    if (prc != 0) {
        return prc > 0 ? TW_EXIT_OK : TW_EXIT_USAGE;
    }
    if (r.sweep) {
        return sweep(&r);
    }
    if (r.o.check_determinism) {
        return check_determinism(&r);
    }
    tw_scen_result res;
    if (r.o.backend && !r.o.live) {
        fprintf(stderr, "twin run: --backend goes with --live\n");
        return TW_EXIT_USAGE;
    }
    if (r.o.live) {
        if (r.sweep || r.o.check_determinism || r.o.swarm || r.o.pcap_dir || r.o.trace_path) {
            fprintf(stderr, "twin run: --live runs once: without --seeds, --check-determinism, "
                            "--swarm, --pcap or --trace (those are the simulator's)\n");
            return TW_EXIT_USAGE;
        }
        return tw_live_scen_run(&r.o, &res);
    }
    return tw_scen_run(&r.o, &res);
}

/* ---- twin replay R.json ---------------------------------------------------- */

/* The string or number value of a top-level key in a report we wrote
 * (keys are unique and strings have no escapes in what we compare). */
static bool json_field(const char *json, const char *key, char *out, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    if (p == NULL) {
        return false;
    }
    p += strlen(pat);
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (p[n] && p[n] != '"') {
            n++;
        }
    } else {
        while (p[n] >= '0' && p[n] <= '9') {
            n++;
        }
    }
    if (n == 0 || n >= len) {
        return false;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

int tw_cmd_replay(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs("usage: twin replay REPORT.json [--set KEY=VALUE]...\n"
              "\n"
              "Reruns the run a report describes (its scenario file and seed, plus the\n"
              "--set overrides it ran with, given again) and checks that it ends with\n"
              "the same trace hash: 0 when it does, 1 when it does not, 2 bad input.\n",
              argc < 2 ? stderr : stdout);
        return argc < 2 ? TW_EXIT_USAGE : TW_EXIT_OK;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        fprintf(stderr, "twin replay: cannot read '%s': %s\n", argv[1], strerror(errno));
        return TW_EXIT_USAGE;
    }
    static char json[1 << 20];
    size_t n = fread(json, 1, sizeof json - 1, f);
    fclose(f);
    json[n] = '\0';
    char file[512], seed[32], hash[32], mode[16];
    /* The mode first: a live report's trace_hash is null (it has none). */
    if (json_field(json, "mode", mode, sizeof mode) && strcmp(mode, "sim") != 0) {
        fprintf(stderr, "twin replay: only simulated scenario runs replay, not a %s run (it has "
                        "no trace hash)\n", mode);
        return TW_EXIT_USAGE;
    }
    if (!json_field(json, "scenario", file, sizeof file) || !json_field(json, "seed", seed, sizeof seed) ||
        !json_field(json, "trace_hash", hash, sizeof hash) || !json_field(json, "mode", mode, sizeof mode)) {
        fprintf(stderr, "twin replay: '%s' is not a twin report (scenario, seed, trace_hash)\n",
                argv[1]);
        return TW_EXIT_USAGE;
    }
    if (strcmp(mode, "sim") != 0 || !strncmp(file, "builtin:", 8)) {
        fprintf(stderr, "twin replay: only simulated scenario runs replay, not '%s' (%s)\n", file,
                mode);
        return TW_EXIT_USAGE;
    }
    run_args r;
    memset(&r, 0, sizeof r);
    r.o.sets = r.sets;
    r.o.file = file;
    r.o.quiet = true;
    r.o.seed_given = true;
    if (tw_cli_parse_u64("seed", seed, &r.o.seed) < 0) {
        return TW_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc && r.o.set_count < SETS_MAX) {
            r.sets[r.o.set_count++] = argv[++i];
        } else {
            fprintf(stderr, "twin replay: unexpected '%s' (only --set KEY=VALUE)\n", argv[i]);
            return TW_EXIT_USAGE;
        }
    }
    tw_scen_result res;
    int rc = tw_scen_run(&r.o, &res);
    if (rc == TW_EXIT_USAGE) {
        return rc;
    }
    char got[32];
    snprintf(got, sizeof got, "%016" PRIx64, res.trace_hash);
    if (strcmp(got, hash) != 0) {
        printf("  ✗ replay diverged: the report says %s, this run %s\n", hash, got);
        return TW_EXIT_FAILED;
    }
    printf("  ✓ replayed %s seed %s: same trace hash %s\n", file, seed, got);
    return TW_EXIT_OK;
}
