/* `twin run FILE --live`: see live_run.h. The runner builds the live world
 * from the scenario (backends/live), starts the kernel hosts' programs
 * (nginx; their other apps are twin's tasks, spawned by the shared runner
 * as a twin host's are), then hands the schedule, the metrics, the judging
 * and the report to cli/scenario_common, exactly as the simulator's runner
 * does; what the live world cannot measure is said (lv_unmeasured). */
#define _GNU_SOURCE
#include "cli/live_run.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/http.h"
#include "backends/live/live.h"
#include "base/assert.h"
#include "base/error.h"
#include "cli/cli.h"
#include "cli/scenario_common.h"
#include "scenario/scenario.h"

#define PROGRAM_READY_NS TW_SEC(5) /* a kernel host's server must listen by then */

/* ---- the live world behind the shared runner --------------------------------- */

static tw_ns lv_now(void *w) { return tw_live_now(w); }
static void lv_run_until(void *w, tw_ns until) { tw_live_run_until(w, until); }
static uint32_t lv_host_core(void *w, uint32_t host, uint32_t core)
{
    return tw_live_host_core(w, host, core);
}
static tw_worker *lv_worker(void *w, uint32_t worker) { return tw_live_worker(w, worker); }
static tw_stack *lv_stack(void *w, uint32_t host, uint32_t core)
{
    return tw_live_stack(w, host, core);
}
static bool lv_core_stat(void *w, uint32_t host, uint32_t core, const char *leaf, uint64_t *out)
{
    return tw_live_core_stat(w, host, core, leaf, out);
}
static const tw_link *lv_link(void *w, uint32_t link, uint32_t dir)
{
    return tw_live_link(w, link, dir);
}
static int64_t lv_spawn(void *w, uint32_t worker, uint32_t type, const void *args, uint32_t len)
{
    return tw_live_spawn(w, worker, type, args, len);
}
static void lv_kill(void *w, tw_addr task) { tw_live_kill(w, task); }
static uint32_t lv_crashes(void *w, uint32_t host) { return tw_live_crashes(w, host); }
static uint64_t lv_events(void *w) { return tw_live_turns(w); }

static void lv_extra_metrics(void *w, tw_scen_metric_fn fn, void *ctx)
{
    char path[64];
    const char *name;
    for (uint32_t k = 0;; k++) {
        uint64_t n = tw_live_drops(w, &name, k);
        if (name == NULL) {
            break;
        }
        if (n) {
            snprintf(path, sizeof path, "world.drops.%s", name);
            fn(ctx, path, n);
        }
    }
}

static void lv_lock(void *w, bool on) { tw_live_lock(w, on); }

static bool is_program(const tw_scenario *sc, uint32_t a);

/* The thing a metric path names (its second segment) through find, and
 * the rest after it. */
static uint32_t named(const tw_scenario *sc, const char *path, size_t skip,
                      uint32_t (*find)(const tw_scenario *, const char *), const char **rest)
{
    char name[TW_SCENARIO_NAME_MAX + 1];
    const char *dot = strchr(path + skip, '.');
    size_t n = dot ? (size_t)(dot - path - skip) : 0;
    if (n == 0 || n > TW_SCENARIO_NAME_MAX) {
        return TW_SCENARIO_NONE;
    }
    memcpy(name, path + skip, n);
    name[n] = '\0';
    *rest = dot + 1;
    return find(sc, name);
}

/* The metrics of docs/scenarios.md ("Metrics availability") the live
 * world cannot measure: an expectation on one fails saying why, rather
 * than reading 0. */
static const char *lv_unmeasured(void *w, const tw_scenario *sc, const char *path)
{
    static char why[256];
    const char *rest;
    uint32_t i;
    if (!strncmp(path, "switch.", 7)) {
        return "a switch is a Linux bridge in live mode, which keeps no forwarded, flooded, "
               "learned or drop counters (sim-only: docs/scenarios.md, Metrics availability)";
    }
    if (!strncmp(path, "host.", 5) &&
        (i = named(sc, path, 5, tw_scenario_find_host, &rest)) != TW_SCENARIO_NONE &&
        sc->hosts[i].kind == TW_SCENARIO_HOST_KERNEL && strcmp(rest, "crashes") != 0) {
        snprintf(why, sizeof why, "host '%s' is a kernel host: its TCP/IP stack is Linux's, "
                 "whose counters twin does not read", sc->hosts[i].name);
        return why;
    }
    if (!strncmp(path, "app.", 4) &&
        (i = named(sc, path, 4, tw_scenario_find_app, &rest)) != TW_SCENARIO_NONE &&
        sc->hosts[sc->apps[i].host].kind == TW_SCENARIO_HOST_KERNEL) {
        if (is_program(sc, i)) {
            snprintf(why, sizeof why, "app '%s' is nginx, a real program on a kernel host: twin "
                     "does not see its counters (`live: {programs: false}` runs it as twin's "
                     "task)", sc->apps[i].name);
            return why;
        }
        if (!strcmp(rest, "retransmits")) {
            snprintf(why, sizeof why, "app '%s' runs over Linux's TCP, whose retransmissions "
                     "twin does not read", sc->apps[i].name);
            return why;
        }
    }
    if (w != NULL && !strncmp(path, "link.", 5) &&
        (i = named(sc, path, 5, tw_scenario_find_link, &rest)) != TW_SCENARIO_NONE &&
        tw_live_link(w, i, 0) == NULL) {
        snprintf(why, sizeof why, "link '%s' has neither a twin host at an end nor impairments, "
                 "so no link model runs on it live", sc->links[i].name);
        return why;
    }
    return NULL;
}

static const tw_scen_world_ops live_ops = {
    .mode = "live",
    .now = lv_now,
    .run_until = lv_run_until,
    .host_core = lv_host_core,
    .worker = lv_worker,
    .stack = lv_stack,
    .core_stat = lv_core_stat,
    .link = lv_link,
    .crashes = lv_crashes,
    .extra_metrics = lv_extra_metrics,
    .spawn = lv_spawn,
    .kill = lv_kill,
    /* No trace_hash: a live run is not deterministic and has no trace;
     * the report says null and the summary "none". */
    .unmeasured = lv_unmeasured,
    .events = lv_events,
};

/* ---- kernel hosts' programs ------------------------------------------------------ */

typedef struct program_dir {
    char path[64];
} program_dir;

/* Writes a twin http_server's generated site as files /0 .. /pages-1, so
 * that nginx serves byte for byte what twin's client checks. */
static int write_site(const char *dir, const tw_http_server_args *args)
{
    tw_http_site site = args->site;
    tw_app_http_site_resolve(&site);
    char path[256];
    static uint8_t buf[1 << 16];
    for (uint32_t p = 0; p < site.pages; p++) {
        snprintf(path, sizeof path, "%s/%u", dir, p);
        FILE *f = fopen(path, "wb");
        if (f == NULL) {
            return -errno;
        }
        uint64_t size = tw_app_http_page_size(&site, p);
        for (uint64_t off = 0; off < size;) {
            uint64_t n = size - off < sizeof buf ? size - off : sizeof buf;
            for (uint64_t i = 0; i < n; i++) {
                buf[i] = tw_app_http_body_byte(p, off + i);
            }
            fwrite(buf, 1, n, f);
            off += n;
        }
        if (fclose(f) != 0) {
            return -EIO;
        }
    }
    return 0;
}

static int start_nginx(tw_live *lw, tw_scen_ctx *c, uint32_t a, const char *dir, pid_t *out)
{
    const tw_scenario_app *ap = &c->sc->apps[a];
    uint8_t raw[TW_SPAWN_ARGS_MAX];
    tw_scen_app_args(c, a, 0, 1, raw);
    tw_http_server_args args;
    memcpy(&args, raw, sizeof args);
    char site[160], conf[160];
    snprintf(site, sizeof site, "%s/site-%s", dir, ap->name);
    mkdir(site, 0755);
    int rc = write_site(site, &args);
    if (rc < 0) {
        fprintf(stderr, "twin run: cannot write the site of '%s': %s\n", ap->name, strerror(-rc));
        return TW_EXIT_SKIP;
    }
    snprintf(conf, sizeof conf, "%s/nginx-%s.conf", dir, ap->name);
    FILE *f = fopen(conf, "w");
    if (f == NULL) {
        return TW_EXIT_SKIP;
    }
    /* One worker per core of the kernel host; keep-alive without limits
     * (twin's clients hold their connections for the whole run). */
    fprintf(f,
            "worker_processes %u;\n"
            "daemon off;\n"
            "pid %s/nginx-%s.pid;\n"
            "error_log %s/nginx-%s.err warn;\n"
            "events { worker_connections 4096; }\n"
            "http {\n"
            "  access_log off;\n"
            "  default_type text/plain;\n"
            "  keepalive_requests 100000000;\n"
            "  keepalive_timeout 3600s;\n"
            "  sendfile on;\n"
            "  tcp_nodelay on;\n"
            "  client_body_temp_path %s/tmp; proxy_temp_path %s/tmp; fastcgi_temp_path %s/tmp;\n"
            "  uwsgi_temp_path %s/tmp; scgi_temp_path %s/tmp;\n"
            "  server { listen %u reuseport; root %s; location / { } }\n"
            "}\n",
            c->sc->hosts[ap->host].cores, dir, ap->name, dir, ap->name, dir, dir, dir, dir, dir,
            ap->port, site);
    fclose(f);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    mkdir(tmp, 0700);
    char log[160];
    snprintf(log, sizeof log, "%s/nginx-%s.log", dir, ap->name);
    char *argv[] = {"nginx", "-c", conf, "-p", (char *)dir, NULL};
    pid_t pid = tw_live_exec(lw, ap->host, argv, log);
    if (pid < 0) {
        fprintf(stderr, "twin run: nginx for '%s': %s\n", ap->name, strerror((int)-pid));
        return TW_EXIT_SKIP;
    }
    *out = pid;
    return 0;
}

/* Whether something in pid's namespace listens on port (TCP LISTEN or a
 * bound UDP socket), from /proc/PID/net. */
static bool listening(pid_t pid, bool tcp, uint16_t port)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/net/%s", (int)pid, tcp ? "tcp" : "udp");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned lport, st;
        if (sscanf(line, " %*u: %*x:%x %*x:%*x %x", &lport, &st) == 2) {
            found = lport == port && (!tcp || st == 0x0a);
        }
    }
    fclose(f);
    return found;
}

/* Starts the kernel hosts' apps that are real programs (program[a]) and
 * waits until they listen. 0 or an exit status. */
static int start_programs(tw_live *lw, tw_scen_ctx *c, const bool *program, const char *dir)
{
    const tw_scenario *sc = c->sc;
    for (uint32_t a = 0; a < sc->app_count; a++) {
        const tw_scenario_app *ap = &sc->apps[a];
        if (!program[a]) {
            continue;
        }
        TW_ASSERT(ap->type == TW_SCENARIO_APP_HTTP_SERVER);
        pid_t pid = -1;
        int rc = start_nginx(lw, c, a, dir, &pid);
        if (rc) {
            return rc;
        }
        c->apps[a].external = true;
        c->apps[a].spawned = true;
        /* /proc/PID/net shows the sockets of the program's namespace. */
        tw_ns waited = 0;
        while (waited < PROGRAM_READY_NS) {
            if (pid > 0 && listening(pid, true, ap->port)) {
                break;
            }
            usleep(20000);
            waited += TW_MS(20);
        }
        if (waited >= PROGRAM_READY_NS) {
            fprintf(stderr, "twin run: app '%s' on kernel host '%s' did not listen on port %u "
                            "within 5 s (logs in %s)\n", ap->name, sc->hosts[ap->host].name,
                    ap->port, dir);
            return TW_EXIT_SKIP;
        }
    }
    return 0;
}

/* Which kernel hosts' apps are real programs: http_server is nginx, the
 * real peer users expect, unless the file says `live: {programs: false}`.
 * Every other app of a kernel host, of every kind, runs as twin's own task
 * over the host's kernel sockets (backends/live/kernhost.h), its metrics
 * read as a twin host's. */
static bool is_program(const tw_scenario *sc, uint32_t a)
{
    const tw_scenario_app *ap = &sc->apps[a];
    return sc->hosts[ap->host].kind == TW_SCENARIO_HOST_KERNEL &&
           ap->type == TW_SCENARIO_APP_HTTP_SERVER && !sc->live.programs_off;
}

static bool *map_programs(const tw_scenario *sc)
{
    bool *program = calloc(sc->app_count ? sc->app_count : 1, sizeof(bool));
    for (uint32_t a = 0; a < sc->app_count; a++) {
        program[a] = is_program(sc, a);
    }
    return program;
}

/* Says before the run which expectations read what live mode does not
 * measure: they will fail, and the user need not wait to learn it (links
 * are known once the world is built). */
static void warn_unmeasured(const tw_scen_ctx *c)
{
    for (uint32_t i = 0; i < c->sc->expect_count; i++) {
        const tw_scenario_expect *e = &c->sc->expects[i];
        const char *why = lv_unmeasured(NULL, c->sc, e->metric);
        if (why) {
            fprintf(stderr, "%s:%u: expectation '%s' will fail: %s is not measured in live "
                            "mode: %s\n", c->o->file, e->line, e->name, e->metric, why);
        }
    }
}

/* "not in this build": the uring backend where twin was built without
 * liburing. */
static tw_dev_kind not_built(const char *how, tw_dev_kind kind, int *bad)
{
    *bad = TW_EXIT_SKIP;
    fprintf(stderr,
            "twin run: %s: the io_uring backend is not in this build (twin was built "
            "without liburing: backends/uring)\n",
            how);
    return kind;
}

static tw_dev_kind backend_of(const tw_scen_opts *o, const tw_scenario *sc, int *bad)
{
    *bad = 0;
    if (o->backend) {
        int k = tw_dev_kind_named(o->backend);
        if (k < 0) {
            *bad = TW_EXIT_USAGE;
            fprintf(stderr, "twin run: --backend: expected xdp, tap, poll or uring, got '%s'\n",
                    o->backend);
            return TW_DEV_POLL;
        }
        if (tw_dev_ops_of((tw_dev_kind)k) == NULL) {
            return not_built("--backend uring", (tw_dev_kind)k, bad);
        }
        return (tw_dev_kind)k;
    }
    switch (sc->live.backend) {
    case TW_SCENARIO_BACKEND_TAP: return TW_DEV_TAP;
    case TW_SCENARIO_BACKEND_POLL: return TW_DEV_POLL;
    case TW_SCENARIO_BACKEND_URING:
        if (tw_dev_ops_of(TW_DEV_URING) == NULL) {
            return not_built("live.backend uring", TW_DEV_URING, bad);
        }
        return TW_DEV_URING;
    default: return TW_DEV_XDP;
    }
}

static void on_signal(int sig) { tw_live_interrupt(); }

/* The live world of the scenario, its twin hosts configured as the
 * simulator's. 0 or an exit status (77: this machine cannot). */
static int build(tw_scen_ctx *c, tw_dev_kind backend, const bool *program, tw_live **out)
{
    const tw_scenario *sc = c->sc;
    tw_world_host_config *hcs = calloc(sc->host_count, sizeof(tw_world_host_config));
    for (uint32_t h = 0; h < sc->host_count; h++) {
        int rc = sc->hosts[h].kind == TW_SCENARIO_HOST_TWIN ? tw_scen_host_config(c, h, &hcs[h]) : 0;
        if (rc) {
            free(hcs);
            return rc;
        }
    }
    tw_live_config lc = {.sc = sc, .hosts = hcs, .backend = backend, .pin = sc->live.pin,
                         .registry = &tw_scen_app_registry, .program = &tw_scen_program,
                         .program_ctx = c, .outq_max = 4 * sc->app_count + 64,
                         .app_program = program};
    char why[512] = "";
    int rc = tw_live_create(out, &lc, why, sizeof why);
    free(hcs);
    c->w = *out;
    if (rc < 0) {
        fprintf(stderr, "twin run: %s: live world: %s\n", c->o->file, why);
        return rc == -TW_ENOTSUP ? TW_EXIT_SKIP : TW_EXIT_USAGE;
    }
    return 0;
}

/* Starts the clock and the threads, runs the schedule, then judges with
 * every thread held between turns. */
static int run_and_judge(tw_scen_ctx *c, tw_live *lw, FILE *report, tw_scen_result *r)
{
    if (tw_live_start(lw) < 0) {
        fprintf(stderr, "twin run: cannot start the driver threads (or a kernel host's task "
                        "workers)\n");
        return TW_EXIT_SKIP;
    }
    uint64_t t0 = tw_cli_wall_ns();
    tw_scen_run_schedule(c);
    uint64_t wall = tw_cli_wall_ns() - t0;
    tw_live_lock(lw, true);
    bool passed = tw_scen_judge_all(c, r);
    if (tw_live_interrupted()) {
        fprintf(stderr, "twin run: interrupted: the live world is being removed\n");
        passed = r->passed = false;
    }
    r->events = tw_live_turns(lw);
    tw_scen_print_summary(c, passed, r->failed, wall);
    if (report) {
        tw_scen_write_report(c, report, passed, wall);
    }
    tw_live_lock(lw, false);
    return passed ? TW_EXIT_OK : TW_EXIT_FAILED;
}

int tw_live_scen_run(const tw_scen_opts *o, tw_scen_result *r)
{
    memset(r, 0, sizeof(*r));
    tw_scenario *sc = NULL;
    int rc = tw_scen_load(o, &sc);
    if (rc) {
        return rc;
    }
    tw_scen_ctx c;
    tw_scen_ctx_init(&c, o, sc);
    c.ops = &live_ops;
    c.lock = lv_lock;
    tw_live *lw = NULL;
    FILE *report = NULL;
    char dir[64] = "";
    int bad;
    bool *program = map_programs(sc);
    warn_unmeasured(&c);
    tw_dev_kind backend = backend_of(o, sc, &bad);
    if (bad) {
        rc = bad;
        goto out;
    }
    if (o->report_path && !(report = fopen(o->report_path, "w"))) {
        fprintf(stderr, "twin run: --report: cannot open '%s' for writing\n", o->report_path);
        rc = TW_EXIT_USAGE;
        goto out;
    }
    if (o->series_path && !(c.series = fopen(o->series_path, "w"))) {
        fprintf(stderr, "twin run: --series: cannot open '%s' for writing\n", o->series_path);
        rc = TW_EXIT_USAGE;
        goto out;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if ((rc = build(&c, backend, program, &lw))) {
        goto out;
    }
    snprintf(dir, sizeof dir, "/tmp/twin-live-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "twin run: cannot make a directory for the kernel hosts' programs: %s\n",
                strerror(errno));
        dir[0] = '\0';
        rc = TW_EXIT_SKIP;
        goto out;
    }
    /* mkdtemp makes it 0700: nginx's workers (not root) must read the
     * sites inside, or every page is a 403. */
    chmod(dir, 0755);
    if ((rc = start_programs(lw, &c, program, dir)) == 0) {
        rc = run_and_judge(&c, lw, report, r);
    }
out:
    tw_live_destroy(lw);
    if (dir[0] && getenv("TWIN_LIVE_KEEP") == NULL) {
        char *argv[] = {"rm", "-rf", dir, NULL};
        pid_t pid = fork();
        if (pid == 0) {
            execvp("rm", argv);
            _exit(127);
        }
        if (pid > 0) {
            int st;
            waitpid(pid, &st, 0);
        }
    }
    if (report && fclose(report) != 0 && rc != TW_EXIT_USAGE) {
        fprintf(stderr, "twin run: --report: writing '%s' failed\n", o->report_path);
        rc = TW_EXIT_USAGE;
    }
    if (c.series) {
        fclose(c.series);
    }
    tw_scen_ctx_free(&c);
    free(program);
    return rc;
}
