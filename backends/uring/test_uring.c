/* backends/uring: the driver's bus between worker threads, and its TCP
 * client side. A pinger task on worker 0 and a ponger on worker 1 play
 * ping-pong through the bounded inboxes, each message waking the other
 * thread with IORING_OP_MSG_RING; a task sending to its own worker needs no
 * wake-up but must not be left waiting either. The bulk sender (core/app)
 * connects over the kernel's TCP to a plain socket the test reads, which
 * checks every byte and the clean close. Skips where the kernel lacks what
 * the driver needs, with tw_uring_probe's reason. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/tcp.h"
#include "backends/uring/uring.h"
#include "base/error.h"
#include "rt/worker.h"

#define ROUNDS 2000
enum { MSG_PING = TW_MSG_APP + 1, MSG_PONG };
enum { TYPE_PINGER, TYPE_PONGER, TYPE_COUNT };

/* The test's window on the tasks: tasks are pure, so only this count
 * crosses threads, for the test to know when to stop. */
static _Atomic uint32_t rounds_done;

typedef struct peer_args {
    tw_addr peer; /* where pings go */
} peer_args;

typedef struct pp {
    tw_addr peer;
    bool want_send;
    uint32_t rounds;
    uint32_t bad;
    tw_msg in;
} pp;

static void pp_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    pp *p = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        peer_args a;
        memcpy(&a, in->msg->data, sizeof(a));
        p->peer = a.peer;
        p->want_send = t->type == TYPE_PINGER;
        return;
    }
    if (in->kind != TW_TIN_MSG) {
        return;
    }
    p->in = *in->msg;
    if (t->type == TYPE_PINGER) {
        p->bad += p->in.type != MSG_PONG || p->in.tag != p->rounds;
        p->rounds++;
        atomic_store(&rounds_done, p->rounds);
        p->want_send = p->rounds < ROUNDS;
    } else {
        p->bad += p->in.type != MSG_PING;
        p->peer = p->in.source;
        p->want_send = true;
    }
}

static bool pp_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    pp *p = tw_task_state(t);
    if (!p->want_send) {
        return false;
    }
    p->want_send = false;
    bool pinger = t->type == TYPE_PINGER;
    tw_task_out_send(out, t->addr, TW_MSG_DIRECT, p->peer, pinger ? MSG_PING : MSG_PONG, NULL, 0);
    out->u.msg.tag = pinger ? p->rounds : p->in.tag;
    return true;
}

static void pp_tick(tw_task *t, tw_ns now) {}

static void pp_report(const tw_task *t, tw_metric_sink *s)
{
    const pp *p = ((tw_task *)t)->state;
    s->counter(s, "rounds", p->rounds);
    s->counter(s, "bad", p->bad);
}

static const tw_task_ops pinger = {"pinger", sizeof(pp), pp_input, pp_tick,
                                   pp_pop,   NULL,       pp_report};
static const tw_task_ops ponger = {"ponger", sizeof(pp), pp_input, pp_tick,
                                   pp_pop,   NULL,       pp_report};
static const tw_task_ops *const types[TYPE_COUNT] = {&pinger, &ponger};
static const tw_task_registry registry = {types, TYPE_COUNT};

typedef struct sum_sink {
    tw_metric_sink sink;
    uint64_t rounds;
    uint64_t bad;
} sum_sink;

static void sum_counter(tw_metric_sink *s, const char *name, uint64_t v)
{
    sum_sink *m = s->ctx;
    if (!strcmp(name, "rounds")) {
        m->rounds += v;
    } else if (!strcmp(name, "bad")) {
        m->bad += v;
    }
}

static void skip_without_uring(void)
{
    char why[256];
    if (tw_uring_probe(why, sizeof(why)) < 0) {
        fprintf(stderr, "skip: %s\n", why);
        skip();
    }
}

/* One unpinned worker running the registry's first type with args. */
static tw_uring *start_one(const tw_task_registry *reg, const void *args, uint32_t len)
{
    skip_without_uring();
    tw_uring_config cfg = {.workers = 1, .registry = reg};
    tw_uring_config_defaults(&cfg);
    cfg.cpus[0] = -1;
    cfg.tcp_conns_max = 4;
    tw_uring *u;
    char err[256];
    assert_int_equal(tw_uring_create(&u, &cfg, err, sizeof(err)), 0);
    assert_int_equal(tw_uring_spawn(u, 0, 0, args, len), 0);
    if (tw_uring_start(u, err, sizeof(err)) < 0) {
        fprintf(stderr, "skip: %s\n", err);
        tw_uring_destroy(u);
        skip();
    }
    return u;
}

static void wait_rounds(void)
{
    for (int i = 0; i < 1000 && atomic_load(&rounds_done) < ROUNDS; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void run_pingpong(uint32_t workers, uint32_t pong_worker)
{
    skip_without_uring();
    atomic_store(&rounds_done, 0);
    tw_uring_config cfg = {.workers = workers, .registry = &registry};
    tw_uring_config_defaults(&cfg);
    cfg.tcp_conns_max = 4; /* no sockets here: keep the tables small */
    cfg.udp_bufs = 16;
    cfg.tcp_bufs = 16;
    for (uint32_t w = 0; w < workers; w++) {
        cfg.cpus[w] = -1;
    }
    tw_uring *u;
    char err[256];
    assert_int_equal(tw_uring_create(&u, &cfg, err, sizeof(err)), 0);
    /* The first task on a worker takes slot 0, generation 0. */
    peer_args to_ponger = {tw_addr_make(pong_worker, 0, pong_worker == 0 ? 1 : 0)};
    peer_args none = {TW_ADDR_NONE};
    assert_int_equal(tw_uring_spawn(u, 0, TYPE_PINGER, &to_ponger, sizeof(to_ponger)), 0);
    assert_int_equal(tw_uring_spawn(u, pong_worker, TYPE_PONGER, &none, sizeof(none)), 0);
    if (tw_uring_start(u, err, sizeof(err)) < 0) {
        fprintf(stderr, "skip: %s\n", err);
        tw_uring_destroy(u);
        skip();
    }
    wait_rounds();
    tw_uring_stop(u);
    sum_sink m = {.sink = {sum_counter, NULL, NULL}};
    m.sink.ctx = &m;
    tw_uring_stats s0, s1;
    tw_uring_stats_get(u, 0, &s0);
    tw_uring_stats_get(u, pong_worker, &s1);
    for (uint32_t w = 0; w < workers; w++) {
        tw_uring_report(u, w, &m.sink);
    }
    assert_int_equal(m.bad, 0);
    /* Only the pinger counts rounds: every ping answered, in order. */
    assert_int_equal(m.rounds, ROUNDS);
    if (pong_worker != 0) {
        assert_int_equal(s0.bus_sent, ROUNDS);
        assert_int_equal(s1.bus_received, ROUNDS);
        /* Each message crossed threads with a wake-up, at most one per turn. */
        assert_true(s0.wakeups >= 1 && s0.wakeups <= ROUNDS);
        assert_true(s1.wakeups >= 1);
    } else {
        assert_int_equal(s0.bus_sent, 2 * ROUNDS);
        assert_int_equal(s0.wakeups, 0); /* our own inbox needs none */
    }
    tw_uring_destroy(u);
}

static void test_uring_bus_pingpong_across_threads(void **state)
{
    run_pingpong(2, 1);
}

/* ---- timers ----------------------------------------------------------------- */

#define TICKS 40
#define TICK_NS 2000000ull /* 2 ms */

static _Atomic uint32_t ticks_done;

typedef struct ticker {
    tw_ns next;
    tw_ns first;
    uint32_t ticks;
    uint32_t early; /* ticks before their deadline: must never happen */
    bool want_arm;
} ticker;

static void tick_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    ticker *k = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        k->first = now;
        k->next = now + TICK_NS;
        k->want_arm = true;
    }
}

static void tick_tick(tw_task *t, tw_ns now)
{
    ticker *k = tw_task_state(t);
    k->early += now < k->next;
    k->ticks++;
    atomic_store(&ticks_done, k->ticks);
    k->next += TICK_NS;
    k->want_arm = k->ticks < TICKS;
}

static bool tick_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    ticker *k = tw_task_state(t);
    if (!k->want_arm) {
        return false;
    }
    k->want_arm = false;
    tw_task_out_timer(out, k->next);
    return true;
}

static void tick_report(const tw_task *t, tw_metric_sink *s)
{
    const ticker *k = ((tw_task *)t)->state;
    s->counter(s, "rounds", k->ticks);
    s->counter(s, "bad", k->early);
}

static const tw_task_ops ticker_ops = {"ticker", sizeof(ticker), tick_input, tick_tick,
                                       tick_pop, NULL,           tick_report};

/* The worker's timer wheel drives the wait's timeout: every tick comes, none
 * early, and the thread sleeps between them (a handful of turns per tick,
 * not a spin). */
static void test_uring_timers_fire_on_time_without_spinning(void **state)
{
    static const tw_task_ops *const tick_types[1] = {&ticker_ops};
    static const tw_task_registry tick_registry = {tick_types, 1};
    atomic_store(&ticks_done, 0);
    tw_uring *u = start_one(&tick_registry, NULL, 0);
    for (int i = 0; i < 500 && atomic_load(&ticks_done) < TICKS; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    tw_uring_stop(u);
    sum_sink m = {.sink = {sum_counter, NULL, NULL}};
    m.sink.ctx = &m;
    tw_uring_report(u, 0, &m.sink);
    tw_uring_stats st;
    tw_uring_stats_get(u, 0, &st);
    assert_int_equal(m.rounds, TICKS);
    assert_int_equal(m.bad, 0);
    /* The wheel's granularity may wake the loop a little before a deadline;
     * a spinning loop would take thousands of turns per tick. */
    assert_true(st.turns < 20 * TICKS);
    tw_uring_destroy(u);
}

/* ---- TCP connect, send, close over the kernel ---------------------------- */

#define BULK_BYTES (1u << 20) /* well over the driver's send buffer: WRITABLE */
#define BULK_STREAM 0x5eed

typedef struct sink {
    int listen_fd;
    uint64_t got;
    uint64_t mismatches;
    bool eof;
} sink;

/* A plain kernel socket on the other end: reads until the sender's FIN,
 * checking each byte against the stream, then closes its side. */
static void *sink_main(void *arg)
{
    sink *k = arg;
    int fd = accept(k->listen_fd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            k->eof = n == 0;
            break;
        }
        k->mismatches += tw_app_bulk_mismatches(BULK_STREAM, k->got, buf, (uint64_t)n);
        k->got += (uint64_t)n;
    }
    close(fd);
    return NULL;
}

typedef struct bulk_sink_metrics {
    tw_metric_sink sink;
    uint64_t sent, done, error;
} bulk_sink_metrics;

static void bulk_counter(tw_metric_sink *s, const char *name, uint64_t v)
{
    bulk_sink_metrics *m = s->ctx;
    if (!strcmp(name, "bytes_sent")) {
        m->sent = v;
    } else if (!strcmp(name, "done")) {
        m->done = v;
    } else if (!strcmp(name, "error")) {
        m->error = v;
    }
}

static void test_uring_tcp_bulk_send_to_a_kernel_socket(void **state)
{
    skip_without_uring();
    sink k = {.listen_fd = socket(AF_INET, SOCK_STREAM, 0)};
    assert_true(k.listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(k.listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(k.listen_fd, 4), 0);
    assert_int_equal(getsockname(k.listen_fd, (struct sockaddr *)&a, &alen), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sink_main, &k), 0);

    static const tw_task_ops *const bulk_types[1] = {&tw_app_bulk_send};
    static const tw_task_registry bulk_registry = {bulk_types, 1};
    tw_bulk_send_args args = {.server = 0x7f000001u,
                              .port = ntohs(a.sin_port),
                              .bytes = BULK_BYTES,
                              .stream = BULK_STREAM};
    tw_uring *u = start_one(&bulk_registry, &args, sizeof(args));
    pthread_join(th, NULL); /* the sender's FIN ends the sink */
    /* Our close, then the sender's CLOSED: give the loop a moment. */
    bulk_sink_metrics m = {.sink = {bulk_counter, NULL, NULL}};
    m.sink.ctx = &m;
    tw_uring_stats st = {0};
    for (int i = 0; i < 200 && st.tcp_closed == 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        tw_uring_stats_get(u, 0, &st); /* a racy read, only to know when to stop */
    }
    tw_uring_stop(u);
    tw_uring_stats_get(u, 0, &st);
    tw_uring_report(u, 0, &m.sink);
    assert_true(k.eof);
    assert_int_equal(k.got, BULK_BYTES);
    assert_int_equal(k.mismatches, 0);
    assert_int_equal(m.sent, BULK_BYTES);
    assert_int_equal(m.error, 0);
    assert_int_equal(m.done, 1); /* CLOSED reached the task */
    assert_int_equal(st.tcp_connected, 1);
    assert_int_equal(st.tcp_tx_bytes, BULK_BYTES);
    assert_int_equal(st.tcp_closed, 1);
    close(k.listen_fd);
    tw_uring_destroy(u);
}

static void test_uring_bus_pingpong_on_one_worker(void **state)
{
    run_pingpong(1, 0);
}

/* ---- embedded: the live world's kernel hosts ------------------------------ */

/* What the embedding world's router saw, from the workers' threads. */
static pthread_mutex_t routed_mu = PTHREAD_MUTEX_INITIALIZER;
static tw_msg routed[16];
static uint32_t nrouted;
static _Atomic uint32_t inits;

static void record_route(void *ctx, const tw_msg *m)
{
    pthread_mutex_lock(&routed_mu);
    if (nrouted < 16) {
        routed[nrouted++] = *m;
    }
    pthread_mutex_unlock(&routed_mu);
}

static int count_init(void *ctx, uint32_t w, char *err, size_t err_len)
{
    atomic_fetch_add(&inits, 1);
    return 0;
}

static tw_msg spawn_msg(uint32_t endpoint, uint64_t tag)
{
    tw_msg m;
    memset(&m, 0, sizeof(m));
    tw_spawn_req req = {.type = 0};
    m.mode = TW_MSG_DIRECT;
    m.type = TW_MSG_SPAWN;
    m.source = TW_ADDR_CONTROLLER;
    m.target = tw_addr_make(endpoint, 0, TW_SLOT_ENDPOINT);
    m.tag = tag;
    m.len = sizeof(req);
    memcpy(m.data, &req, sizeof(req));
    return m;
}

/* Embedded, worker w is endpoint id_base + w: a spawn posted from outside
 * reaches it (waking it), its answer goes to the world's router with the
 * task's address on that endpoint, the task is readable under hold and
 * runs once released; a full posted queue refuses rather than waits. */
static void test_uring_embedded_post_spawns_and_routes_the_answer(void **state)
{
    skip_without_uring();
    static const tw_task_ops *const tick_types[1] = {&ticker_ops};
    static const tw_task_registry tick_registry = {tick_types, 1};
    tw_uring_config cfg = {.workers = 2, .registry = &tick_registry};
    tw_uring_config_defaults(&cfg);
    cfg.cpus[0] = cfg.cpus[1] = -1;
    cfg.tcp_conns_max = 4;
    cfg.id_base = 5;
    cfg.route = record_route;
    cfg.thread_init = count_init;
    cfg.post_max = 2;
    nrouted = 0;
    atomic_store(&inits, 0);
    atomic_store(&ticks_done, 0);
    tw_uring *u;
    char err[256];
    assert_int_equal(tw_uring_create(&u, &cfg, err, sizeof(err)), 0);
    if (tw_uring_start(u, err, sizeof(err)) < 0) {
        fprintf(stderr, "skip: %s\n", err);
        tw_uring_destroy(u);
        skip();
    }
    assert_int_equal(atomic_load(&inits), 2);
    tw_msg m = spawn_msg(6, 77);
    assert_int_equal(tw_uring_post(u, 1, &m), 0);
    uint32_t n = 0;
    for (int i = 0; i < 500 && n == 0; i++) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&routed_mu);
        n = nrouted;
        pthread_mutex_unlock(&routed_mu);
    }
    assert_int_equal(n, 1);
    assert_int_equal(routed[0].type, TW_MSG_SPAWNED);
    assert_int_equal(routed[0].tag, 77);
    assert_true(routed[0].target == TW_ADDR_CONTROLLER);
    tw_spawn_ack ack;
    memcpy(&ack, routed[0].data, sizeof(ack));
    assert_int_equal(ack.status, 0);
    assert_int_equal(tw_addr_endpoint(ack.addr), 6);
    /* Held, the workers take no turn: posts queue up to the bound. */
    tw_uring_hold(u, true);
    assert_non_null(tw_worker_task(tw_uring_worker(u, 1), ack.addr));
    assert_null(tw_worker_task(tw_uring_worker(u, 0), ack.addr));
    tw_msg extra = spawn_msg(5, 78);
    assert_int_equal(tw_uring_post(u, 0, &extra), 0);
    assert_int_equal(tw_uring_post(u, 0, &extra), 0);
    assert_int_equal(tw_uring_post(u, 0, &extra), -1);
    tw_uring_hold(u, false);
    for (int i = 0; i < 500 && atomic_load(&ticks_done) < TICKS; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    tw_uring_stop(u);
    assert_true(atomic_load(&ticks_done) >= TICKS);
    pthread_mutex_lock(&routed_mu);
    assert_int_equal(nrouted, 3); /* the two queued spawns were answered */
    pthread_mutex_unlock(&routed_mu);
    tw_uring_stats st;
    tw_uring_stats_get(u, 0, &st);
    assert_int_equal(st.bus_sent, 2);
    assert_int_equal(st.bus_received, 2);
    tw_uring_destroy(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uring_bus_pingpong_across_threads),
        cmocka_unit_test(test_uring_bus_pingpong_on_one_worker),
        cmocka_unit_test(test_uring_tcp_bulk_send_to_a_kernel_socket),
        cmocka_unit_test(test_uring_timers_fire_on_time_without_spinning),
        cmocka_unit_test(test_uring_embedded_post_spawns_and_routes_the_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
