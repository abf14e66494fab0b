/* `twin demo`: the built-in demo of the seed runtime on simulated cores;
 * prints a summary, checks it, and can prove its own determinism by running
 * twice and naming the first diverging event. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "app/demo.h"
#include "base/mem.h"
#include "base/units.h"
#include "cli/cli.h"
#include "cli/json.h"
#include "sim/sim.h"

typedef struct run_opts {
    uint64_t seed;
    uint64_t cores;
    uint64_t pingers;
    tw_ns period;
    tw_ns duration;
    const char *trace_path;
    const char *report_path;
    FILE *report; /* opened before the run, so a bad path fails fast */
    bool check_determinism;
    bool quiet;
    uint64_t perturb_at; /* testing the checker: disturb run 2 after this event */
} run_opts;

typedef struct run_ctx {
    tw_sim *sim;
    FILE *trace;
    uint64_t *hashes; /* per-event running hash, when recording */
    uint64_t nhashes;
    uint64_t cap;
    uint64_t perturb_at;
    uint64_t capture_at; /* record this event's details */
    tw_sim_record captured;
    bool have_capture;
} run_ctx;

typedef struct run_result {
    uint64_t trace_hash;
    uint64_t events;
    tw_ns sim_ns;
    uint64_t wall_ns;
    tw_demo_totals totals;
    uint32_t spawn_errors;
    uint32_t peers_sent;
    uint64_t status_reports;
    uint64_t reports;
    uint64_t msgs_sent;
    uint64_t msgs_lost;
    uint64_t inbox_drops;
    uint64_t worker_drops;
    bool speedup_sent;
} run_result;

static const char *const kind_names[] = {"?", "arrive", "wake"};
static const char *const work_names[] = {"none", "input", "tick", "drop"};

static void hook(void *vctx, const tw_sim_record *rec)
{
    run_ctx *ctx = vctx;
    if (ctx->trace) {
        fprintf(ctx->trace, "%" PRIu64 " %" PRIu64 " %s core=%u %s type=%u out=%u cost=%u %016" PRIx64 "\n",
                rec->index, rec->time, kind_names[rec->kind], rec->core, work_names[rec->work],
                rec->msg_type, rec->outputs, rec->cost_ns, rec->hash);
    }
    if (ctx->hashes) {
        if (ctx->nhashes == ctx->cap) {
            ctx->cap = ctx->cap ? ctx->cap * 2 : 1u << 20;
            ctx->hashes = realloc(ctx->hashes, ctx->cap * sizeof(uint64_t));
            if (!ctx->hashes) {
                fprintf(stderr, "twin: out of memory recording the trace\n");
                exit(TW_EXIT_USAGE);
            }
        }
        ctx->hashes[ctx->nhashes++] = rec->hash;
    }
    if (rec->index == ctx->capture_at) {
        ctx->captured = *rec;
        ctx->have_capture = true;
    }
    if (rec->index == ctx->perturb_at) {
        /* One extra draw from worker 0's stream shifts every later jitter. */
        tw_rng_next(tw_worker_rng(tw_sim_worker(ctx->sim, 0)));
    }
}

static void run_demo(const run_opts *o, run_ctx *ctx, run_result *r)
{
    static tw_demo demo; /* large: the pinger address book */
    tw_demo_config dc = {
        .workers = (uint32_t)o->cores,
        .pingers = (uint32_t)o->pingers,
        .period_ns = o->period,
        .speedup_at = o->duration / 2,
    };
    tw_demo_init(&demo, &dc);

    tw_sim_config cfg;
    tw_sim_config_default(&cfg);
    cfg.seed = o->seed;
    cfg.cores = (uint32_t)o->cores;
    cfg.worker.registry = &tw_demo_registry;
    cfg.worker.max_tasks = (uint32_t)(o->pingers / o->cores + 2);
    cfg.controller.registry = &tw_demo_registry;
    cfg.controller.program = &tw_demo_program;
    cfg.controller.program_ctx = &demo;
    cfg.controller.status_period_ns = TW_MS(10);
    cfg.controller.outq_max = (uint32_t)(2 * o->pingers + 2 * o->cores + 16);

    static tw_sim sim;
    tw_sim_init(&sim, &cfg);
    ctx->sim = &sim;
    tw_sim_set_hook(&sim, hook, ctx);

    /* From here on the run allocates nothing: sealing makes that a checked
     * invariant rather than a hope. */
    tw_mem_seal();
    uint64_t t0 = tw_cli_wall_ns();
    tw_sim_run_until(&sim, o->duration);
    r->wall_ns = tw_cli_wall_ns() - t0;
    tw_mem_unseal();

    r->trace_hash = sim.trace_hash;
    r->events = sim.events;
    r->sim_ns = sim.now;
    memset(&r->totals, 0, sizeof(r->totals));
    r->worker_drops = 0;
    for (uint32_t w = 0; w < cfg.cores; w++) {
        tw_worker *wk = tw_sim_worker(&sim, w);
        for (uint32_t s = 0; s < wk->cfg.max_tasks; s++) {
            if (wk->tasks[s].live) {
                tw_demo_task_totals(&wk->tasks[s], &r->totals);
            }
        }
        r->worker_drops += wk->status.drops;
    }
    r->spawn_errors = demo.spawn_errors;
    r->peers_sent = demo.peers_sent;
    r->status_reports = demo.status_reports;
    r->reports = demo.reports;
    r->speedup_sent = demo.speedup_sent;
    r->msgs_sent = sim.msgs_sent;
    r->msgs_lost = sim.msgs_lost;
    r->inbox_drops = sim.inbox_drops;

    if (!o->quiet && !ctx->hashes) {
        char b1[32], b2[32];
        printf("twin demo: built-in demo of the seed runtime (no scenario file)\n");
        printf("  seed %" PRIu64 ", %u cores + controller, %" PRIu64 " pingers + %u collectors, period %s\n",
               o->seed, cfg.cores, o->pingers, cfg.cores, tw_format_duration(o->period, b1, sizeof b1));
        printf("  %-9s %s (the speed-up order at %s)\n", "simulated",
               tw_format_duration(r->sim_ns, b1, sizeof b1),
               tw_format_duration(o->duration / 2, b2, sizeof b2));
        double wall_s = (double)r->wall_ns / 1e9;
        printf("  %-9s %.3fs (%.1fx real time)\n", "wall", wall_s,
               wall_s > 0 ? ((double)r->sim_ns / 1e9) / wall_s : 0.0);
        printf("  %-9s %" PRIu64 " (%.2fM events/s)\n", "events", r->events,
               wall_s > 0 ? (double)r->events / wall_s / 1e6 : 0.0);
        printf("  %-9s %" PRIu64 " delivered, %" PRIu64 " lost in flight, %" PRIu64 " refused by full inboxes\n",
               "messages", r->msgs_sent, r->msgs_lost, r->inbox_drops);
        printf("  %-9s %" PRIu64 " pings, %" PRIu64 " pongs, mean rtt %s, max %s\n", "pings",
               r->totals.pings, r->totals.pongs,
               tw_format_duration(r->totals.pongs ? r->totals.rtt_sum_ns / r->totals.pongs : 0, b1, sizeof b1),
               tw_format_duration(r->totals.rtt_max_ns, b2, sizeof b2));
        printf("  per core:\n");
        for (uint32_t w = 0; w <= cfg.cores; w++) {
            const tw_sim_core *c = tw_sim_core_at(&sim, w);
            uint32_t tasks = w < cfg.cores ? tw_sim_worker(&sim, w)->status.tasks : 0;
            char name[16];
            if (w < cfg.cores) {
                snprintf(name, sizeof name, "core %u", w);
            } else {
                snprintf(name, sizeof name, "controller");
            }
            printf("    %-10s busy %5.1f%%  inputs %8" PRIu64 "  ticks %8" PRIu64 "  tasks %4u  inbox high %u\n",
                   name, r->sim_ns ? 100.0 * (double)c->busy_ns / (double)r->sim_ns : 0.0, c->inputs,
                   c->ticks, tasks, c->inbox.ring.high_water);
        }
    }
    tw_sim_free(&sim);
}

typedef struct check {
    const char *name;
    bool ok;
    uint64_t observed;
    const char *expected;
} check;

static void write_report(const run_opts *o, const run_result *r, const check *checks, size_t n,
                         bool passed);

static int print_checks(const run_opts *o, const run_result *r)
{
    check checks[] = {
        {"every task spawned", r->spawn_errors == 0, r->spawn_errors, "0 spawn errors"},
        {"ring wired", r->peers_sent == o->pingers, r->peers_sent, "one peer per pinger"},
        {"pongs came back", r->totals.pongs > 0 && r->totals.pongs + 2 * o->pingers >= r->totals.pings,
         r->totals.pongs, "> 0, all but the last in flight"},
        {"status reports", r->status_reports > 0, r->status_reports, "> 0"},
        {"speed-up ordered", r->speedup_sent, r->speedup_sent, "sent"},
        {"no message lost", r->msgs_lost == 0 && r->inbox_drops == 0 && r->worker_drops == 0,
         r->msgs_lost + r->inbox_drops + r->worker_drops, "0"},
    };
    bool all = true;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        all &= checks[i].ok;
        if (!o->quiet || !checks[i].ok) {
            printf("  %s %-18s observed %" PRIu64 ", expected %s\n", checks[i].ok ? "✓" : "✗",
                   checks[i].name, checks[i].observed, checks[i].expected);
        }
    }
    printf("  trace hash %016" PRIx64 "\n", r->trace_hash);
    if (o->report) {
        write_report(o, r, checks, sizeof(checks) / sizeof(checks[0]), all);
    }
    return all ? TW_EXIT_OK : TW_EXIT_FAILED;
}

/* The report of docs: the same top-level keys a scenario run writes. */
static void write_report(const run_opts *o, const run_result *r, const check *checks, size_t n,
                         bool passed)
{
    FILE *f = o->report;
    tw_json j;
    tw_json_init(&j, f);
    tw_json_report_head(&j, "builtin:demo", o->seed, "sim", passed);
    for (size_t i = 0; i < n; i++) {
        tw_json_begin_object(&j);
        tw_json_key(&j, "name");
        tw_json_string(&j, checks[i].name);
        tw_json_key(&j, "passed");
        tw_json_bool(&j, checks[i].ok);
        tw_json_key(&j, "observed");
        tw_json_u64(&j, checks[i].observed);
        tw_json_key(&j, "expected");
        tw_json_string(&j, checks[i].expected);
        tw_json_end_object(&j);
    }
    tw_json_end_array(&j);
    tw_json_key(&j, "metrics");
    tw_json_begin_object(&j);
    tw_json_key(&j, "pings");
    tw_json_u64(&j, r->totals.pings);
    tw_json_key(&j, "pongs");
    tw_json_u64(&j, r->totals.pongs);
    tw_json_key(&j, "rtt_mean_ns");
    tw_json_u64(&j, r->totals.pongs ? r->totals.rtt_sum_ns / r->totals.pongs : 0);
    tw_json_key(&j, "rtt_max_ns");
    tw_json_u64(&j, r->totals.rtt_max_ns);
    tw_json_key(&j, "messages");
    tw_json_u64(&j, r->msgs_sent);
    tw_json_key(&j, "status_reports");
    tw_json_u64(&j, r->status_reports);
    tw_json_end_object(&j);
    tw_json_report_tail(&j, &r->trace_hash, r->sim_ns, r->wall_ns, r->events);
}

static void help(FILE *f)
{
    fputs("usage: twin demo [options]\n"
          "\n"
          "Runs the built-in demo of the seed runtime under the simulator: pinger\n"
          "tasks on simulated cores ping each other over the bus, collectors\n"
          "subscribe to their stats, and a controller spawns them, polls worker\n"
          "status and orders a speed-up halfway. Prints a summary and checks it.\n"
          "\n"
          "options:\n"
          "  --seed N               seed of every random stream (default 1)\n"
          "  --cores N              simulated worker cores, 1..254 (default 4)\n"
          "  --tasks N              pinger tasks, 2..8192 (default 64)\n"
          "  --period D             ping period per task, e.g. 200us (default 200us)\n"
          "  --duration D           simulated time, e.g. 1s (default 1s)\n"
          "  --trace FILE           write one line per event with its running hash\n"
          "  --report FILE          write the run's JSON report (docs/report.md)\n"
          "  --check-determinism    run twice; on a mismatch name the first diverging event\n"
          "  --quiet                print only the trace hash and failures\n"
          "  -h, --help             this help\n"
          "\n"
          "exit status: 0 every check held, 1 a check failed, 2 bad usage\n",
          f);
}

static int parse(int argc, char **argv, run_opts *o)
{
    enum { OPT_SEED = 256, OPT_CORES, OPT_TASKS, OPT_PERIOD, OPT_DURATION, OPT_TRACE,
           OPT_CHECK, OPT_QUIET, OPT_PERTURB, OPT_REPORT };
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, OPT_SEED},
        {"cores", required_argument, NULL, OPT_CORES},
        {"tasks", required_argument, NULL, OPT_TASKS},
        {"period", required_argument, NULL, OPT_PERIOD},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"trace", required_argument, NULL, OPT_TRACE},
        {"report", required_argument, NULL, OPT_REPORT},
        {"check-determinism", no_argument, NULL, OPT_CHECK},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"debug-perturb-at", required_argument, NULL, OPT_PERTURB},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (run_opts){.seed = 1, .cores = 4, .pingers = 64, .period = TW_US(200),
                    .duration = TW_SEC(1), .perturb_at = UINT64_MAX};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case OPT_SEED: rc = tw_cli_parse_u64("--seed", optarg, &o->seed); break;
        case OPT_CORES: rc = tw_cli_parse_u64("--cores", optarg, &o->cores); break;
        case OPT_TASKS: rc = tw_cli_parse_u64("--tasks", optarg, &o->pingers); break;
        case OPT_PERIOD: rc = tw_cli_parse_duration("--period", optarg, &o->period); break;
        case OPT_DURATION: rc = tw_cli_parse_duration("--duration", optarg, &o->duration); break;
        case OPT_TRACE: o->trace_path = optarg; break;
        case OPT_REPORT: o->report_path = optarg; break;
        case OPT_CHECK: o->check_determinism = true; break;
        case OPT_QUIET: o->quiet = true; break;
        case OPT_PERTURB: rc = tw_cli_parse_u64("--debug-perturb-at", optarg, &o->perturb_at); break;
        case 'h': help(stdout); return 1;
        case ':':
            fprintf(stderr, "twin demo: option '%s' needs a value\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "twin demo: unknown option '%s' (see twin demo --help)\n", argv[optind - 1]);
            return -1;
        }
        if (rc < 0) {
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "twin demo: takes no file: '%s' (run a scenario with twin run FILE)\n",
                argv[optind]);
        return -1;
    }
    if (o->cores < 1 || o->cores > 254) {
        fprintf(stderr, "twin demo: --cores must be 1..254, got %" PRIu64 "\n", o->cores);
        return -1;
    }
    if (o->pingers < 2 || o->pingers > TW_DEMO_PINGERS_MAX) {
        fprintf(stderr, "twin demo: --tasks must be 2..%u, got %" PRIu64 "\n", TW_DEMO_PINGERS_MAX, o->pingers);
        return -1;
    }
    char b1[32];
    if (o->duration == 0 || o->duration > TW_SEC(3600)) {
        fprintf(stderr, "twin demo: --duration must be in (0, 1h], got %s\n",
                tw_format_duration(o->duration, b1, sizeof b1));
        return -1;
    }
    if (o->period < 1000 || o->period > o->duration) {
        fprintf(stderr, "twin demo: --period must be at least 1us and at most --duration, got %s\n",
                tw_format_duration(o->period, b1, sizeof b1));
        return -1;
    }
    if (o->perturb_at != UINT64_MAX && !o->check_determinism) {
        fprintf(stderr, "twin demo: --debug-perturb-at only makes sense with --check-determinism\n");
        return -1;
    }
    return 0;
}

/* Runs twice with per-event hashes recorded; returns the index of the first
 * event whose running hash differs, or UINT64_MAX when the runs agree. */
static uint64_t first_divergence(const run_ctx *a, const run_ctx *b)
{
    uint64_t n = a->nhashes < b->nhashes ? a->nhashes : b->nhashes;
    for (uint64_t i = 0; i < n; i++) {
        if (a->hashes[i] != b->hashes[i]) {
            return i;
        }
    }
    return a->nhashes == b->nhashes ? UINT64_MAX : n;
}

static void describe(const char *label, const run_ctx *c)
{
    if (!c->have_capture) {
        printf("    %s: (no event: the run ended before it)\n", label);
        return;
    }
    const tw_sim_record *r = &c->captured;
    printf("    %s: t=%" PRIu64 "ns %s core %u %s type %u outputs %u cost %uns hash %016" PRIx64 "\n",
           label, r->time, kind_names[r->kind], r->core, work_names[r->work], r->msg_type,
           r->outputs, r->cost_ns, r->hash);
}

static int check_determinism(run_opts *o, FILE *trace)
{
    /* --trace records the first run. */
    run_ctx a = {.trace = trace, .perturb_at = UINT64_MAX, .capture_at = UINT64_MAX};
    run_ctx b = {.hashes = NULL, .perturb_at = o->perturb_at, .capture_at = UINT64_MAX};
    run_result ra, rb;
    /* Recording switches the hashes array on. */
    a.hashes = malloc(sizeof(uint64_t));
    b.hashes = malloc(sizeof(uint64_t));
    a.cap = b.cap = 1;
    run_demo(o, &a, &ra);
    run_demo(o, &b, &rb);
    uint64_t at = first_divergence(&a, &b);
    if (!o->quiet) {
        printf("twin demo --check-determinism: seed %" PRIu64 ", %" PRIu64 " and %" PRIu64 " events\n",
               o->seed, ra.events, rb.events);
        printf("  run 1 trace hash %016" PRIx64 "\n  run 2 trace hash %016" PRIx64 "\n",
               ra.trace_hash, rb.trace_hash);
    }
    int rc = TW_EXIT_OK;
    if (at == UINT64_MAX && ra.trace_hash == rb.trace_hash) {
        printf("  ✓ identical: every one of %" PRIu64 " events has the same running hash\n",
               ra.events);
    } else {
        printf("  ✗ diverged at event %" PRIu64 "\n", at);
        /* Replay both to the diverging event to say what each did there. */
        run_ctx ca = {.perturb_at = UINT64_MAX, .capture_at = at};
        run_ctx cb = {.perturb_at = o->perturb_at, .capture_at = at};
        run_result tmp;
        bool q = o->quiet;
        o->quiet = true;
        ca.hashes = malloc(sizeof(uint64_t));
        cb.hashes = malloc(sizeof(uint64_t));
        ca.cap = cb.cap = 1;
        run_demo(o, &ca, &tmp);
        run_demo(o, &cb, &tmp);
        o->quiet = q;
        describe("run 1", &ca);
        describe("run 2", &cb);
        free(ca.hashes);
        free(cb.hashes);
        rc = TW_EXIT_FAILED;
    }
    free(a.hashes);
    free(b.hashes);
    return rc;
}

int tw_cmd_demo(int argc, char **argv)
{
    run_opts o;
    int prc = parse(argc, argv, &o);
    if (prc != 0) {
        return prc > 0 ? TW_EXIT_OK : TW_EXIT_USAGE;
    }
    FILE *trace = NULL;
    if (o.trace_path) {
        trace = fopen(o.trace_path, "w");
        if (!trace) {
            fprintf(stderr, "twin demo: --trace: cannot open '%s' for writing\n", o.trace_path);
            return TW_EXIT_USAGE;
        }
        fprintf(trace, "# index time_ns kind core work type outputs cost_ns running_hash\n");
    }
    if (o.report_path) {
        o.report = fopen(o.report_path, "w");
        if (!o.report) {
            fprintf(stderr, "twin demo: --report: cannot open '%s' for writing\n", o.report_path);
            if (trace) {
                fclose(trace);
            }
            return TW_EXIT_USAGE;
        }
    }
    int rc;
    if (o.check_determinism) {
        rc = check_determinism(&o, trace);
    } else {
        run_ctx ctx = {.trace = trace, .perturb_at = UINT64_MAX, .capture_at = UINT64_MAX};
        run_result r;
        run_demo(&o, &ctx, &r);
        rc = print_checks(&o, &r);
    }
    if (o.report && fclose(o.report) != 0) {
        fprintf(stderr, "twin demo: --report: writing '%s' failed\n", o.report_path);
        rc = TW_EXIT_USAGE;
    }
    if (trace && fclose(trace) != 0) {
        fprintf(stderr, "twin demo: --trace: writing '%s' failed\n", o.trace_path);
        rc = TW_EXIT_USAGE;
    }
    return rc;
}
