/* `twin serve`: the scenario apps' servers (UDP echo, TCP echo, HTTP) live,
 * over the kernel's sockets through the io_uring driver, one pinned worker
 * thread per core, until a duration passes or SIGINT/SIGTERM; then each
 * core's counters and its tasks' metrics. A way to run the live driver now
 * and to measure it against a peer (bench/live_udp_echo.sh). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/http.h"
#include "app/tcp.h"
#include "app/udp.h"
#include "base/error.h"
#include "base/mem.h"
#include "base/units.h"
#include "cli/cli.h"
#include "rt/io.h"
#ifdef TW_HAVE_URING
#include "backends/uring/uring.h"
#endif

enum { APP_UDP_ECHO, APP_TCP_ECHO, APP_HTTP, APP_COUNT };

static const char *const app_names[APP_COUNT] = {"udp_echo", "tcp_echo", "http"};
static const tw_task_ops *const app_ops[APP_COUNT] = {
    &tw_app_udp_echo, &tw_app_tcp_echo, &tw_app_http_server};

typedef struct serve_opts {
    const char *backend;
    int app;
    uint64_t port;
    uint64_t cores;
    tw_ns duration; /* 0: until a signal */
    bool quiet;
    bool sockperf;
} serve_opts;

static void help(FILE *f)
{
    fputs("usage: twin serve --backend uring --app APP --port P [options]\n"
          "\n"
          "Serves one of the scenario apps live over the kernel's sockets: one\n"
          "worker thread per core, pinned, each with its own io_uring and its own\n"
          "socket on the port (SO_REUSEPORT spreads flows over the cores). Stops\n"
          "after --duration or at SIGINT/SIGTERM and prints each core's counters.\n"
          "\n"
          "options:\n"
          "  --backend B     the live driver: uring (the only one so far)\n"
          "  --app APP       udp_echo, tcp_echo or http (the generated site)\n"
          "  --port P        the port to serve, 1..65535\n"
          "  --cores N       worker threads, pinned to the first N CPUs this process\n"
          "                  may run on (taskset chooses them); default 1\n"
          "  --duration D    stop after D, e.g. 10s (default: at SIGINT/SIGTERM)\n"
          "  --sockperf      udp_echo answers as sockperf's server does (only pong\n"
          "                  requests, client flag cleared), so sockperf can measure it\n"
          "  --quiet         print only the totals line\n"
          "  -h, --help      this help\n"
          "\n"
          "exit status: 0 served, 1 the app could not bind or listen, 2 bad usage,\n"
          "77 the backend cannot run here (the reason is printed)\n",
          f);
}

static int parse(int argc, char **argv, serve_opts *o)
{
    enum { OPT_BACKEND = 256, OPT_APP, OPT_PORT, OPT_CORES, OPT_DURATION, OPT_QUIET, OPT_SOCKPERF };
    static const struct option longopts[] = {
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"app", required_argument, NULL, OPT_APP},
        {"port", required_argument, NULL, OPT_PORT},
        {"cores", required_argument, NULL, OPT_CORES},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"sockperf", no_argument, NULL, OPT_SOCKPERF},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (serve_opts){.backend = "uring", .app = -1, .cores = 1};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case OPT_BACKEND: o->backend = optarg; break;
        case OPT_APP:
            for (int a = 0; a < APP_COUNT; a++) {
                o->app = strcmp(optarg, app_names[a]) == 0 ? a : o->app;
            }
            if (o->app < 0) {
                fprintf(stderr, "twin serve: --app: expected udp_echo, tcp_echo or http, got '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case OPT_PORT: rc = tw_cli_parse_u64("--port", optarg, &o->port); break;
        case OPT_CORES: rc = tw_cli_parse_u64("--cores", optarg, &o->cores); break;
        case OPT_DURATION: rc = tw_cli_parse_duration("--duration", optarg, &o->duration); break;
        case OPT_QUIET: o->quiet = true; break;
        case OPT_SOCKPERF: o->sockperf = true; break;
        case 'h': help(stdout); return 1;
        case ':':
            fprintf(stderr, "twin serve: option '%s' needs a value\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "twin serve: unknown option '%s' (see twin serve --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if (rc < 0) {
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "twin serve: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (strcmp(o->backend, "uring") != 0) {
        fprintf(stderr, "twin serve: --backend: only 'uring' serves over kernel sockets, got '%s'\n",
                o->backend);
        return -1;
    }
    if (o->app < 0) {
        fprintf(stderr, "twin serve: --app is required (udp_echo, tcp_echo or http)\n");
        return -1;
    }
    if (o->sockperf && o->app != APP_UDP_ECHO) {
        fprintf(stderr, "twin serve: --sockperf is for --app udp_echo\n");
        return -1;
    }
    if (o->port == 0 || o->port > 65535) {
        fprintf(stderr, "twin serve: --port must be 1..65535, got %" PRIu64 "\n", o->port);
        return -1;
    }
    return 0;
}

#ifdef TW_HAVE_URING

/* The first n CPUs of our affinity mask: `taskset -c 2,3 twin serve
 * --cores 2` runs the workers on CPUs 2 and 3. */
static int pick_cpus(uint64_t n, int *cpus)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) < 0) {
        return -1;
    }
    uint64_t got = 0;
    for (int c = 0; c < CPU_SETSIZE && got < n; c++) {
        if (CPU_ISSET(c, &set)) {
            cpus[got++] = c;
        }
    }
    return got == n ? 0 : -1;
}

typedef struct print_sink {
    tw_metric_sink sink;
    const char *app;
    uint32_t core;
    bool quiet;
    uint64_t bind_errors;
} print_sink;

static void print_counter(tw_metric_sink *s, const char *name, uint64_t value)
{
    print_sink *p = s->ctx;
    if (!strcmp(name, "bind_error") || !strcmp(name, "listen_error")) {
        if (value) {
            fprintf(stderr, "twin serve: core %u: the %s could not %s: %s\n", p->core, p->app,
                    name[0] == 'b' ? "bind" : "listen", tw_strerror((int)value));
            p->bind_errors++;
        }
        return;
    }
    if (!p->quiet) {
        printf("  core %u %s.%s %" PRIu64 "\n", p->core, p->app, name, value);
    }
}

static void print_hist(tw_metric_sink *s, const char *name, const tw_hist *h) {}

static void print_stats(uint32_t core, int cpu, const tw_uring_stats *s)
{
    printf("core %u (cpu %d): udp rx %" PRIu64 " tx %" PRIu64 " (%" PRIu64 " refused, %" PRIu64
           " failed, %" PRIu64 " truncated); tcp accepted %" PRIu64 " rx %" PRIu64 " B tx %" PRIu64
           " B closed %" PRIu64 " resets %" PRIu64 "; turns %" PRIu64 " submits %" PRIu64
           " (sq full %" PRIu64 ", busy polls %" PRIu64 ") cqes %" PRIu64 " requests %" PRIu64 " no-buffers %" PRIu64
           " rearms %" PRIu64 " bus %" PRIu64 "/%" PRIu64 " wakeups %" PRIu64 "\n",
           core, cpu, s->udp_rx, s->udp_tx, s->udp_tx_refused, s->udp_tx_errors, s->udp_truncated,
           s->tcp_accepted, s->tcp_rx_bytes, s->tcp_tx_bytes, s->tcp_closed, s->tcp_resets,
           s->turns, s->submits, s->sq_full, s->busy_polls, s->cqes, s->requests, s->no_buffers, s->rearms,
           s->bus_sent, s->bus_received, s->wakeups);
}

static void spawn_args(const serve_opts *o, uint8_t *args, uint32_t *len)
{
    if (o->app == APP_UDP_ECHO) {
        tw_udp_echo_args a = {.port = (uint16_t)o->port,
                              .flags = o->sockperf ? TW_UDP_ECHO_SOCKPERF : 0};
        memcpy(args, &a, sizeof(a));
        *len = sizeof(a);
    } else if (o->app == APP_TCP_ECHO) {
        tw_tcp_echo_args a = {.port = (uint16_t)o->port};
        memcpy(args, &a, sizeof(a));
        *len = sizeof(a);
    } else {
        tw_http_server_args a = {.port = (uint16_t)o->port};
        memcpy(args, &a, sizeof(a));
        *len = sizeof(a);
    }
}

/* Waits for the duration or a signal; the signals are blocked in every
 * thread (the mask is inherited) so only this wait sees them. */
static void wait_for_end(const sigset_t *sigs, tw_ns duration)
{
    uint64_t end = tw_cli_wall_ns() + duration;
    for (;;) {
        uint64_t now = tw_cli_wall_ns();
        if (duration && now >= end) {
            return;
        }
        /* At most a second per wait: an interrupted wait (EINTR) just
         * loops, and the deadline is checked against the clock. */
        uint64_t left = duration ? end - now : 1000000000ull;
        left = left < 1000000000ull ? left : 1000000000ull;
        struct timespec ts = {.tv_sec = (time_t)(left / 1000000000ull),
                              .tv_nsec = (long)(left % 1000000000ull)};
        if (sigtimedwait(sigs, NULL, &ts) > 0) {
            return;
        }
    }
}

static int serve(const serve_opts *o)
{
    char why[256];
    if (tw_uring_probe(why, sizeof(why)) < 0) {
        fprintf(stderr, "twin serve: the uring backend cannot run here: %s\n", why);
        return TW_EXIT_SKIP;
    }
    tw_uring_config cfg = {.workers = (uint32_t)o->cores};
    tw_uring_config_defaults(&cfg);
    if (o->cores == 0 || o->cores > TW_URING_WORKERS_MAX || pick_cpus(o->cores, cfg.cpus) < 0) {
        fprintf(stderr, "twin serve: --cores must be 1..%d and at most the CPUs this process may "
                        "use, got %" PRIu64 "\n",
                TW_URING_WORKERS_MAX, o->cores);
        return TW_EXIT_USAGE;
    }
    const tw_task_ops *types[1] = {app_ops[o->app]};
    tw_task_registry reg = {types, 1};
    cfg.registry = &reg;
    tw_uring *u;
    char err[256];
    if (tw_uring_create(&u, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "twin serve: %s\n", err);
        return TW_EXIT_USAGE;
    }
    uint8_t args[TW_SPAWN_ARGS_MAX];
    uint32_t len;
    spawn_args(o, args, &len);
    for (uint32_t w = 0; w < cfg.workers; w++) {
        tw_uring_spawn(u, w, 0, args, len);
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    tw_mem_seal(); /* the loop allocates nothing from core/ */
    if (tw_uring_start(u, err, sizeof(err)) < 0) {
        tw_mem_unseal();
        fprintf(stderr, "twin serve: the uring backend cannot run here: %s\n", err);
        tw_uring_destroy(u);
        return TW_EXIT_SKIP;
    }
    printf("twin serve: %s on port %" PRIu64 ", %u workers over io_uring (cpus",
           app_names[o->app], o->port, cfg.workers);
    for (uint32_t w = 0; w < cfg.workers; w++) {
        printf(" %d", cfg.cpus[w]);
    }
    printf("); ready\n");
    fflush(stdout);
    uint64_t t0 = tw_cli_wall_ns();
    wait_for_end(&sigs, o->duration);
    tw_uring_stop(u);
    tw_mem_unseal();
    double secs = (double)(tw_cli_wall_ns() - t0) / 1e9;
    tw_uring_stats total = {0};
    uint64_t bind_errors = 0;
    for (uint32_t w = 0; w < cfg.workers; w++) {
        tw_uring_stats s;
        tw_uring_stats_get(u, w, &s);
        if (!o->quiet) {
            print_stats(w, cfg.cpus[w], &s);
        }
        print_sink ps = {.sink = {print_counter, print_hist, NULL}, .app = app_names[o->app],
                         .core = w, .quiet = o->quiet};
        ps.sink.ctx = &ps;
        tw_uring_report(u, w, &ps.sink);
        bind_errors += ps.bind_errors;
        total.udp_rx += s.udp_rx;
        total.udp_tx += s.udp_tx;
        total.tcp_accepted += s.tcp_accepted;
        total.tcp_rx_bytes += s.tcp_rx_bytes;
        total.tcp_tx_bytes += s.tcp_tx_bytes;
    }
    printf("total: %.2f s, udp rx %" PRIu64 " tx %" PRIu64 " (%.0f msg/s), tcp accepted %" PRIu64
           " rx %" PRIu64 " B tx %" PRIu64 " B\n",
           secs, total.udp_rx, total.udp_tx, secs > 0 ? (double)total.udp_rx / secs : 0.0,
           total.tcp_accepted, total.tcp_rx_bytes, total.tcp_tx_bytes);
    tw_uring_destroy(u);
    return bind_errors ? TW_EXIT_FAILED : TW_EXIT_OK;
}

#else

static int serve(const serve_opts *o)
{
    fprintf(stderr, "twin serve: the uring backend cannot run here: twin was built without "
                    "liburing\n");
    return TW_EXIT_SKIP;
}

#endif

int tw_cmd_serve(int argc, char **argv)
{
    serve_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0) {
        return rc > 0 ? TW_EXIT_OK : TW_EXIT_USAGE;
    }
    return serve(&o);
}
