/* `twin fuzz`: swarm simulation. Each seed draws a fuzz spec (cli/fuzz_spec.h:
 * topology, hosts and cores, link impairments, a fault schedule, workloads,
 * TCP knobs), renders it as a scenario file whose expectations are the
 * invariants, and runs it with the ordinary scenario runner in a child
 * process, so an assertion, an abort or any signal there is itself a
 * violation ("assertion fired") and the child's output is kept.
 *
 * A violation is then shrunk: delta debugging (ddmin, Zeller and
 * Hildebrandt 2002) over the fault schedule, then greedy reductions of the
 * spec (fewer workloads, hosts, routers, cores; impairments and knobs back
 * to their defaults; smaller transfers, shorter faults), each kept only
 * if the *same* invariant still fails. The minimal file is written next to
 * the original and rerun with `twin run` before it is offered as the
 * reproduction. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/fuzz_spec.h"
#include "cli/scenario_run.h"

#define JOBS_MAX 64
#define YAML_MAX (64 * 1024)
#define SIG_MAX 256
#define FAILURES_MAX 64
/* A run past either limit is a hang, a violation too (an ACK storm once
 * took 65 million events where 300 thousand were due). A seed needs well
 * under a second of CPU; the wall limit is a backstop on a loaded machine. */
#define RUN_CPU_LIMIT_S 30
#define RUN_WALL_LIMIT_S 300

static void help(FILE *f)
{
    fputs("usage: twin fuzz [options]\n"
          "\n"
          "Swarm simulation: for each seed, draws a scenario (topology, cores, link\n"
          "impairments, faults, workloads, TCP knobs), runs it in the simulator and\n"
          "checks the invariants: no assertion fires; every bulk stream arrives intact\n"
          "(or, when a crash ends it, fails with an error and never corrupt); every\n"
          "client makes progress after the last fault heals; every host's pools (TCP\n"
          "connections, frame buffers, ARP and reassembly queues) are empty once the\n"
          "apps have stopped. A violation is shrunk to a minimal scenario file that\n"
          "`twin run` reproduces (docs/fuzz.md).\n"
          "\n"
          "options:\n"
          "  --seeds A..B       the seeds to run (default 1..100)\n"
          "  --jobs J           runs in J parallel processes (default 1)\n"
          "  --out DIR          where failing scenarios and their minimal forms go\n"
          "                     (default fuzz-out)\n"
          "  --max-hosts N      hosts per scenario, 2 to 9 (default 5)\n"
          "  --duration D       how long clients run (default 25s, at least 20s); faults\n"
          "                     heal within its first quarter\n"
          "  --expect MAPPING   one more invariant, an expectation as a YAML flow mapping\n"
          "                     (repeatable), e.g. '{metric: link.l0.forward.drops, \"<=\": 10}'\n"
          "  --keep-going       run every seed even after a violation\n"
          "  --no-shrink        report violations without shrinking them\n"
          "  --budget N         runs the shrinker may make per violation (default 300)\n"
          "  --emit             print each seed's scenario file instead of running it\n"
          "  -h, --help         this help\n"
          "\n"
          "exit status: 0 no violation, 1 a violation, 2 bad input or usage\n",
          f);
}

typedef struct fuzz_args {
    uint64_t seed_lo, seed_hi;
    uint64_t jobs;
    const char *out_dir;
    fz_limits lim;
    const char *expects[FZ_EXPECT_USER_MAX];
    uint32_t expect_count;
    bool keep_going;
    bool shrink;
    bool emit;
    uint64_t budget;
} fuzz_args;

static int check_u64(const char *opt, uint64_t v, uint64_t lo, uint64_t hi)
{
    if (v < lo || v > hi) {
        fprintf(stderr, "twin fuzz: %s must be %" PRIu64 "..%" PRIu64 ", got %" PRIu64 "\n", opt,
                lo, hi, v);
        return -1;
    }
    return 0;
}

static int parse(int argc, char **argv, fuzz_args *a)
{
    enum { O_SEEDS = 256, O_JOBS, O_OUT, O_HOSTS, O_DURATION, O_EXPECT, O_KEEP, O_NOSHRINK,
           O_BUDGET, O_EMIT };
    static const struct option longopts[] = {
        {"seeds", required_argument, NULL, O_SEEDS},
        {"jobs", required_argument, NULL, O_JOBS},
        {"out", required_argument, NULL, O_OUT},
        {"max-hosts", required_argument, NULL, O_HOSTS},
        {"duration", required_argument, NULL, O_DURATION},
        {"expect", required_argument, NULL, O_EXPECT},
        {"keep-going", no_argument, NULL, O_KEEP},
        {"no-shrink", no_argument, NULL, O_NOSHRINK},
        {"budget", required_argument, NULL, O_BUDGET},
        {"emit", no_argument, NULL, O_EMIT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    a->seed_lo = 1;
    a->seed_hi = 100;
    a->jobs = 1;
    a->out_dir = "fuzz-out";
    a->lim.max_hosts = 5;
    a->lim.traffic_ns = TW_SEC(25);
    a->shrink = true;
    a->budget = 300;
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        int rc = 0;
        switch (ch) {
        case O_SEEDS: rc = tw_cli_parse_range("fuzz", "--seeds", optarg, &a->seed_lo, &a->seed_hi); break;
        case O_JOBS:
            rc = tw_cli_parse_u64("--jobs", optarg, &a->jobs);
            rc = rc ? rc : check_u64("--jobs", a->jobs, 1, JOBS_MAX);
            break;
        case O_OUT: a->out_dir = optarg; break;
        case O_HOSTS:
            rc = tw_cli_parse_u64("--max-hosts", optarg, &v);
            rc = rc ? rc : check_u64("--max-hosts", v, 2, FZ_HOSTS_MAX);
            a->lim.max_hosts = (uint32_t)v;
            break;
        case O_DURATION:
            rc = tw_cli_parse_duration("--duration", optarg, &a->lim.traffic_ns);
            /* The recovery window (three quarters of it) must outlast a
             * request's 10 s timeout, a retry and a reconnect. */
            if (rc == 0 && (a->lim.traffic_ns < TW_SEC(20) || a->lim.traffic_ns > TW_SEC(3600) ||
                            a->lim.traffic_ns % TW_MS(1))) {
                fprintf(stderr, "twin fuzz: --duration must be whole milliseconds from 20s to "
                                "1h, got '%s'\n", optarg);
                rc = -1;
            }
            break;
        case O_EXPECT:
            if (a->expect_count == FZ_EXPECT_USER_MAX) {
                fprintf(stderr, "twin fuzz: --expect: at most %d\n", FZ_EXPECT_USER_MAX);
                return -1;
            }
            if (strchr(optarg, '\n')) {
                fprintf(stderr, "twin fuzz: --expect: one line, a flow mapping such as "
                                "'{metric: link.l0.forward.drops, \"<=\": 10}'\n");
                return -1;
            }
            a->expects[a->expect_count++] = optarg;
            break;
        case O_KEEP: a->keep_going = true; break;
        case O_NOSHRINK: a->shrink = false; break;
        case O_BUDGET: rc = tw_cli_parse_u64("--budget", optarg, &a->budget); break;
        case O_EMIT: a->emit = true; break;
        case 'h': help(stdout); return 1;
        case ':':
            fprintf(stderr, "twin fuzz: option '%s' needs a value\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "twin fuzz: unknown option '%s' (see twin fuzz --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if (rc < 0) {
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "twin fuzz: unexpected argument '%s' (see twin fuzz --help)\n",
                argv[optind]);
        return -1;
    }
    return 0;
}

/* ---- one run in a child ------------------------------------------------------ */

typedef enum verdict_kind { V_PASS = 0, V_FAIL, V_CRASH, V_BAD } verdict_kind;

typedef struct verdict {
    verdict_kind kind;
    char sig[SIG_MAX]; /* which invariant: the same one must fail while shrinking */
} verdict;

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "twin fuzz: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    bool ok = fputs(text, f) >= 0;
    ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

/* Starts `twin run FILE --quiet` in a child with its output in log; by
 * calling the runner directly, or (verify) by executing this binary, as a
 * user reproducing it would. */
static pid_t start_run(const char *yaml, const char *log, bool exec_twin)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid != 0) {
        return pid;
    }
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) {
        _exit(TW_EXIT_USAGE);
    }
    close(fd);
    struct rlimit cpu = {RUN_CPU_LIMIT_S, RUN_CPU_LIMIT_S + 5};
    setrlimit(RLIMIT_CPU, &cpu);
    alarm(RUN_WALL_LIMIT_S);
    if (exec_twin) {
        execl("/proc/self/exe", "twin", "run", yaml, "--quiet", (char *)NULL);
        _exit(TW_EXIT_USAGE);
    }
    tw_scen_opts o = {.file = yaml, .quiet = true};
    tw_scen_result r;
    int rc = tw_scen_run(&o, &r);
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
}

/* The first line of the log that starts with `prefix` (after blanks), its
 * rest copied to out up to `stop`. */
static bool log_line(const char *log, const char *prefix, const char *stop, char *out, size_t len)
{
    FILE *f = fopen(log, "r");
    char line[1024];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        const char *p = line + strspn(line, " ");
        if (strncmp(p, prefix, strlen(prefix)) != 0) {
            continue;
        }
        p += strlen(prefix);
        const char *end = stop ? strstr(p, stop) : NULL;
        size_t n = end ? (size_t)(end - p) : strcspn(p, "\n");
        snprintf(out, len, "%.*s", (int)n, p);
        found = true;
    }
    if (f) {
        fclose(f);
    }
    return found;
}

static verdict judge(int status, const char *log)
{
    verdict v = {V_PASS, ""};
    char what[SIG_MAX - 32];
    if (WIFEXITED(status) && WEXITSTATUS(status) == TW_EXIT_OK) {
        return v;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == TW_EXIT_FAILED) {
        v.kind = V_FAIL;
        if (!log_line(log, "✗ ", ": observed", what, sizeof what)) {
            snprintf(what, sizeof what, "(no expectation named)");
        }
        snprintf(v.sig, sizeof v.sig, "invariant failed: %s", what);
        return v;
    }
    if (WIFSIGNALED(status)) {
        v.kind = V_CRASH;
        if (log_line(log, "twin: assertion failed: ", NULL, what, sizeof what)) {
            snprintf(v.sig, sizeof v.sig, "assertion fired: %s", what);
        } else if (WTERMSIG(status) == SIGXCPU) {
            snprintf(v.sig, sizeof v.sig, "hang: the run took more than %ds of CPU",
                     RUN_CPU_LIMIT_S);
        } else if (WTERMSIG(status) == SIGALRM) {
            snprintf(v.sig, sizeof v.sig, "hang: the run took more than %ds of wall time",
                     RUN_WALL_LIMIT_S);
        } else {
            snprintf(v.sig, sizeof v.sig, "killed by signal %d (%s)", WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
        }
        return v;
    }
    v.kind = V_BAD;
    if (!log_line(log, "", NULL, what, sizeof what)) {
        snprintf(what, sizeof what, "exit status %d", WEXITSTATUS(status));
    }
    snprintf(v.sig, sizeof v.sig, "could not run: %s", what);
    return v;
}

static verdict run_now(const char *yaml, const char *log, bool exec_twin)
{
    pid_t pid = start_run(yaml, log, exec_twin);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0) {
        verdict v = {V_BAD, "could not run: fork failed"};
        return v;
    }
    return judge(st, log);
}

/* ---- paths and rendering ------------------------------------------------------ */

static void path_of(const fuzz_args *a, char *buf, size_t len, uint64_t seed, const char *what)
{
    snprintf(buf, len, "%s/seed-%" PRIu64 "%s", a->out_dir, seed, what);
}

static int render_to(const fuzz_args *a, const fz_spec *s, const char *path)
{
    static char text[YAML_MAX];
    size_t n = fz_spec_render(s, a->expects, a->expect_count, text, sizeof text);
    if (n >= sizeof text) {
        fprintf(stderr, "twin fuzz: seed %" PRIu64 ": the scenario outgrew %d bytes\n", s->seed,
                YAML_MAX);
        return -1;
    }
    return write_text(path, text);
}

/* ---- shrinking --------------------------------------------------------------- */

typedef struct shrinker {
    const fuzz_args *a;
    const char *sig;
    uint64_t runs;
    char yaml[512], log[512];
} shrinker;

/* Whether the candidate fails the same way (one run of the budget). */
static bool still_fails(shrinker *k, const fz_spec *cand)
{
    if (k->runs >= k->a->budget || render_to(k->a, cand, k->yaml) < 0) {
        return false;
    }
    k->runs++;
    verdict v = run_now(k->yaml, k->log, false);
    return v.kind != V_PASS && strcmp(v.sig, k->sig) == 0;
}

/* ddmin over the faults: try each of n chunks alone, then each complement,
 * refining n until single faults; what is left fails and loses any one
 * fault's worth of chunk only by passing. */
static void ddmin_faults(shrinker *k, fz_spec *best)
{
    uint32_t n = 2;
    while (best->fault_count >= 2) {
        uint32_t count = best->fault_count, all = (1u << count) - 1;
        bool reduced = false;
        for (uint32_t i = 0; i < n && !reduced; i++) {
            uint32_t chunk = 0;
            for (uint32_t f = count * i / n; f < count * (i + 1) / n; f++) {
                chunk |= 1u << f;
            }
            uint32_t tries[2] = {chunk, all & ~chunk};
            for (int t = 0; t < 2 && !reduced; t++) {
                if (tries[t] == 0 || tries[t] == all) {
                    continue;
                }
                fz_spec cand = *best;
                fz_spec_keep_faults(&cand, tries[t]);
                if (still_fails(k, &cand)) {
                    *best = cand;
                    n = t == 0 ? 2 : (n > 2 ? n - 1 : 2);
                    reduced = true;
                }
            }
        }
        if (!reduced) {
            if (n >= count) {
                break;
            }
            n = 2 * n < count ? 2 * n : count;
        }
    }
    /* A single fault may itself be unnecessary. */
    if (best->fault_count == 1) {
        fz_spec cand = *best;
        fz_spec_keep_faults(&cand, 0);
        if (still_fails(k, &cand)) {
            *best = cand;
        }
    }
}

/* Greedy passes of every reduction until one whole pass changes nothing
 * (or the budget is spent). */
static void greedy(shrinker *k, fz_spec *best)
{
    bool changed = true;
    while (changed && k->runs < k->a->budget) {
        changed = false;
        for (uint32_t r = 0; r < FZ_REDUCERS; r++) {
            for (uint32_t i = 0; i < 256 && k->runs < k->a->budget;) {
                fz_spec cand = *best;
                if (!fz_spec_reduce(&cand, r, i)) {
                    i++;
                    continue;
                }
                if (still_fails(k, &cand)) {
                    *best = cand;
                    changed = true;
                } else {
                    i++;
                }
            }
        }
    }
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    while (f && (ch = fgetc(f)) != EOF) {
        n += ch == '\n';
    }
    if (f) {
        fclose(f);
    }
    return n;
}

static void shrink(const fuzz_args *a, uint64_t seed, const verdict *orig)
{
    shrinker k = {.a = a, .sig = orig->sig};
    path_of(a, k.yaml, sizeof k.yaml, seed, "-shrink.yaml");
    path_of(a, k.log, sizeof k.log, seed, "-shrink.log");
    fz_spec best;
    fz_spec_draw(&best, seed, &a->lim);
    ddmin_faults(&k, &best);
    greedy(&k, &best);
    unlink(k.yaml);
    unlink(k.log);
    char min[512], log[512], orig_path[512], desc[512];
    path_of(a, min, sizeof min, seed, "-min.yaml");
    path_of(a, log, sizeof log, seed, "-min.log");
    path_of(a, orig_path, sizeof orig_path, seed, ".yaml");
    if (render_to(a, &best, min) < 0) {
        return;
    }
    verdict v = run_now(min, log, true);
    fz_spec_describe(&best, desc, sizeof desc);
    printf("    shrunk in %" PRIu64 " runs%s: %d lines (from %d), %s\n", k.runs,
           k.runs >= a->budget ? " (budget spent)" : "", count_lines(min), count_lines(orig_path),
           desc);
    if (v.kind != V_PASS && strcmp(v.sig, orig->sig) == 0) {
        printf("    reproduce with: twin run %s\n", min);
    } else {
        printf("    the minimal file did not reproduce through twin run (%s); "
               "reproduce with: twin run %s\n",
               v.kind == V_PASS ? "it passed" : v.sig, orig_path);
    }
}

/* ---- the sweep ----------------------------------------------------------------- */

typedef struct slot {
    pid_t pid;
    uint64_t seed;
} slot;

typedef struct failure {
    uint64_t seed;
    verdict v;
} failure;

static int emit(const fuzz_args *a)
{
    static char text[YAML_MAX];
    for (uint64_t s = a->seed_lo; s <= a->seed_hi; s++) {
        fz_spec spec;
        fz_spec_draw(&spec, s, &a->lim);
        size_t n = fz_spec_render(&spec, a->expects, a->expect_count, text, sizeof text);
        if (n >= sizeof text) {
            return TW_EXIT_USAGE;
        }
        fputs(text, stdout);
        if (s < a->seed_hi) {
            fputs("---\n", stdout);
        }
    }
    return TW_EXIT_OK;
}

/* The seed's file is written and its run started in a free slot. */
static int start_seed(const fuzz_args *a, slot *sl, uint64_t seed)
{
    char yaml[512], log[512];
    fz_spec spec;
    fz_spec_draw(&spec, seed, &a->lim);
    path_of(a, yaml, sizeof yaml, seed, ".yaml");
    path_of(a, log, sizeof log, seed, ".log");
    if (render_to(a, &spec, yaml) < 0) {
        return -1;
    }
    sl->seed = seed;
    sl->pid = start_run(yaml, log, false);
    return sl->pid < 0 ? -1 : 0;
}

static void report_failure(const fuzz_args *a, const failure *f)
{
    char desc[512], yaml[512], log[512];
    fz_spec spec;
    fz_spec_draw(&spec, f->seed, &a->lim);
    fz_spec_describe(&spec, desc, sizeof desc);
    path_of(a, yaml, sizeof yaml, f->seed, ".yaml");
    path_of(a, log, sizeof log, f->seed, ".log");
    printf("  ✗ %s\n    %s\n    scenario %s, output %s\n", f->v.sig, desc, yaml, log);
}

int tw_cmd_fuzz(int argc, char **argv)
{
    fuzz_args a;
    int prc = parse(argc, argv, &a);
    if (prc != 0) {
        return prc > 0 ? TW_EXIT_OK : TW_EXIT_USAGE;
    }
    if (a.emit) {
        return emit(&a);
    }
    if (mkdir(a.out_dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "twin fuzz: --out: cannot create '%s': %s\n", a.out_dir, strerror(errno));
        return TW_EXIT_USAGE;
    }
    uint64_t total = a.seed_hi - a.seed_lo + 1;
    uint64_t jobs = a.jobs < total ? a.jobs : total;
    slot slots[JOBS_MAX] = {{0}};
    static failure fails[FAILURES_MAX];
    uint32_t nfail = 0;
    uint64_t next = a.seed_lo, done = 0, failed = 0;
    bool stop = false, bad = false, tty = isatty(STDERR_FILENO);
    uint64_t t0 = tw_cli_wall_ns();
    uint64_t running = 0;
    printf("twin fuzz: seeds %" PRIu64 "..%" PRIu64 ", %" PRIu64 " jobs, up to %u hosts, "
           "clients run %" PRIu64 "ms, files in %s\n",
           a.seed_lo, a.seed_hi, jobs, a.lim.max_hosts, a.lim.traffic_ns / TW_MS(1), a.out_dir);
    for (;;) {
        for (uint64_t j = 0; j < jobs && !stop && next <= a.seed_hi; j++) {
            if (slots[j].pid == 0) {
                if (start_seed(&a, &slots[j], next++) < 0) {
                    stop = bad = true;
                    break;
                }
                running++;
            }
        }
        if (running == 0) {
            break;
        }
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            fprintf(stderr, "twin fuzz: waitpid: %s\n", strerror(errno));
            return TW_EXIT_USAGE;
        }
        for (uint64_t j = 0; j < jobs; j++) {
            if (slots[j].pid != pid) {
                continue;
            }
            char yaml[512], log[512];
            path_of(&a, yaml, sizeof yaml, slots[j].seed, ".yaml");
            path_of(&a, log, sizeof log, slots[j].seed, ".log");
            verdict v = judge(st, log);
            done++;
            running--;
            if (v.kind == V_PASS) {
                unlink(yaml);
                unlink(log);
            } else {
                failed++;
                if (nfail < FAILURES_MAX) {
                    fails[nfail++] = (failure){slots[j].seed, v};
                }
                stop |= !a.keep_going;
            }
            slots[j].pid = 0;
        }
        if (tty) {
            double s = (double)(tw_cli_wall_ns() - t0) / 1e9;
            fprintf(stderr, "\r  %" PRIu64 "/%" PRIu64 " seeds, %.1f seeds/s, %" PRIu64
                            " violations",
                    done, total, s > 0 ? (double)done / s : 0.0, failed);
        }
    }
    if (tty) {
        fputc('\n', stderr);
    }
    double wall = (double)(tw_cli_wall_ns() - t0) / 1e9;
    printf("twin fuzz: %" PRIu64 " seeds in %.1fs (%.2f seeds/s), %" PRIu64 " violations\n",
           done, wall, wall > 0 ? (double)done / wall : 0.0, failed);
    for (uint32_t i = 0; i < nfail; i++) {
        report_failure(&a, &fails[i]);
        /* A hang costs the wall limit per attempt: it is reported as drawn. */
        bool hang = !strncmp(fails[i].v.sig, "hang", 4);
        if (a.shrink && fails[i].v.kind != V_BAD && !hang) {
            shrink(&a, fails[i].seed, &fails[i].v);
        }
    }
    if (bad) {
        return TW_EXIT_USAGE;
    }
    for (uint32_t i = 0; i < nfail; i++) {
        if (fails[i].v.kind == V_BAD) {
            return TW_EXIT_USAGE;
        }
    }
    return failed ? TW_EXIT_FAILED : TW_EXIT_OK;
}
