/* core/rt/controller tests: placement, command refusals, the periodic status
 * grid, the program callbacks, and an end-to-end run in which a controller
 * and two workers talk over a tw_bus driven by a small single-threaded loop
 * with a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "harness.h"
#include "rt/controller.h"
#include "rt/worker.h"

#define WORKERS 4u
#define START TW_MS(1)
#define PERIOD TW_MS(10)

enum { TYPE_ECHO, TYPE_COUNT };

enum {
    MSG_HELLO = TW_MSG_APP + 1, /* controller -> task */
    MSG_HELLO_REPLY,            /* task -> controller: the hello's data, then a draw */
    MSG_NOTE,
};

/* ---- a task for the end-to-end run -------------------------------------- */

typedef struct echo {
    tw_task_outq outq;
    uint32_t hellos;
} echo;

static void echo_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    echo *e = tw_task_state(t);
    if (in->kind != TW_TIN_MSG || in->msg->type != MSG_HELLO) {
        return;
    }
    e->hellos++;
    /* The reply carries a draw from the worker's stream, so the trace shows
     * whether randomness is reproducible too. */
    uint64_t body[2];
    memcpy(&body[0], in->msg->data, sizeof(body[0]));
    body[1] = tw_rng_next(tw_task_rng(t));
    tw_task_output o;
    tw_task_out_send(&o, t->addr, TW_MSG_DIRECT, in->msg->source, MSG_HELLO_REPLY, body,
                     sizeof(body));
    bool ok = tw_task_outq_push(&e->outq, &o);
    assert_true(ok);
}

static void echo_on_tick(tw_task *t, tw_ns now) {}

static bool echo_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    echo *e = tw_task_state(t);
    return tw_task_outq_pop(&e->outq, out);
}

static const tw_task_ops echo_ops = {
    .name = "echo",
    .state_size = sizeof(echo),
    .on_input = echo_on_input,
    .on_tick = echo_on_tick,
    .pop_output = echo_pop,
};

static const tw_task_ops *const types[TYPE_COUNT] = {[TYPE_ECHO] = &echo_ops};
static const tw_task_registry registry = {.types = types, .count = TYPE_COUNT};

/* ---- a program that records its callbacks -------------------------------- */

#define ACKS_MAX 16

typedef struct prog {
    /* knobs */
    uint32_t spawn_on_start; /* tasks to spawn least-loaded from on_start */
    tw_ns deadline_on_start; /* a deadline to set from on_start, or 0 */
    /* what it saw */
    uint32_t starts;
    tw_ns start_at;
    uint32_t acks;
    uint64_t ack_req[ACKS_MAX];
    tw_spawn_ack ack[ACKS_MAX];
    uint64_t first_req;
    uint32_t statuses;
    uint32_t status_worker;
    tw_worker_status status[WORKERS];
    uint32_t reports[WORKERS];
    uint32_t messages;
    tw_msg last_msg;
    uint32_t replies;
    tw_addr replied[ACKS_MAX];
    uint32_t deadlines;
    tw_ns deadline_at;
} prog;

static prog pg;

static void prog_start(tw_controller *c, tw_ns now, void *ctx)
{
    prog *p = ctx;
    p->starts++;
    p->start_at = now;
    for (uint32_t i = 0; i < p->spawn_on_start; i++) {
        int64_t id = tw_controller_spawn(c, TYPE_ECHO, 1, TW_PLACE_LEAST_LOADED, NULL, 0);
        assert_true(id > 0);
        if (i == 0) {
            p->first_req = (uint64_t)id;
        }
    }
    if (p->deadline_on_start) {
        tw_controller_set_deadline(c, p->deadline_on_start);
    }
}

static void prog_spawned(tw_controller *c, tw_ns now, void *ctx, uint64_t req,
                         const tw_spawn_ack *ack)
{
    prog *p = ctx;
    assert_true(p->acks < ACKS_MAX);
    p->ack_req[p->acks] = req;
    p->ack[p->acks] = *ack;
    p->acks++;
    if (p->spawn_on_start == 0 || p->acks < p->spawn_on_start) {
        return;
    }
    /* Everyone is up: greet each task with its spawn request id. */
    for (uint32_t i = 0; i < p->acks; i++) {
        assert_int_equal(p->ack[i].status, 0);
        uint64_t body = p->ack_req[i];
        int64_t id =
            tw_controller_send(c, TW_MSG_DIRECT, p->ack[i].addr, MSG_HELLO, &body, sizeof(body));
        assert_true(id > 0);
    }
}

static void prog_status(tw_controller *c, tw_ns now, void *ctx, uint32_t worker,
                        const tw_worker_status *st)
{
    prog *p = ctx;
    assert_true(worker < WORKERS);
    p->statuses++;
    p->status_worker = worker;
    p->status[worker] = *st;
    p->reports[worker]++;
}

static void prog_message(tw_controller *c, tw_ns now, void *ctx, const tw_msg *m)
{
    prog *p = ctx;
    p->messages++;
    p->last_msg = *m;
    if (m->type == MSG_HELLO_REPLY) {
        assert_true(p->replies < ACKS_MAX);
        p->replied[p->replies++] = m->source;
    }
}

static void prog_deadline(tw_controller *c, tw_ns now, void *ctx)
{
    prog *p = ctx;
    p->deadlines++;
    p->deadline_at = now;
}

static const tw_controller_program program = {
    .on_start = prog_start,
    .on_spawned = prog_spawned,
    .on_status = prog_status,
    .on_message = prog_message,
    .on_deadline = prog_deadline,
};

/* ---- the controller under test and its helpers --------------------------- */

static const tw_controller_config config_template = {
    .workers = WORKERS,
    .outq_max = 32,
    .start_ns = START,
    .status_period_ns = PERIOD,
    .registry = &registry,
    .program = &program,
    .program_ctx = &pg,
};

static tw_controller ctl;
static harness_outs outs;

static void start_controller(const tw_controller_config *cfg)
{
    memset(&pg, 0, sizeof(pg));
    memset(&outs, 0, sizeof(outs));
    tw_controller_init(&ctl, cfg);
}

static int setup_controller(void **state)
{
    start_controller(&config_template);
    return 0;
}

static int teardown_controller(void **state)
{
    tw_controller_free(&ctl);
    return 0;
}

static void drain(tw_ns now)
{
    memset(&outs, 0, sizeof(outs));
    tw_output o;
    while (tw_controller_pop_output(&ctl, now, &o)) {
        assert_true(outs.n < HARNESS_OUTS_MAX);
        assert_int_equal(o.kind, TW_OUT_MSG);
        assert_int_equal(o.msg.source, TW_ADDR_CONTROLLER);
        outs.items[outs.n++] = o;
    }
}

static void tick(tw_ns now)
{
    tw_controller_on_tick(&ctl, now);
    drain(now);
}

static void input(tw_ns now, const tw_msg *m)
{
    tw_input in = harness_input(m);
    tw_controller_on_input(&ctl, now, &in);
    drain(now);
}

/* A spawn ack from worker `w` for request `req`. */
static void ack_from(uint32_t w, uint64_t req, int32_t status, tw_addr addr)
{
    tw_spawn_ack ack = {.status = status, .addr = addr, .type = TYPE_ECHO, .group = 1};
    tw_msg m = harness_msg(TW_MSG_DIRECT, TW_MSG_SPAWNED, harness_worker_addr(w),
                           TW_ADDR_CONTROLLER, &ack, sizeof(ack));
    m.tag = req;
    input(START, &m);
}

static void status_from(uint32_t w, tw_ns now, const tw_worker_status *st)
{
    tw_msg m = harness_msg(TW_MSG_DIRECT, TW_MSG_STATUS, harness_worker_addr(w), TW_ADDR_CONTROLLER,
                           st, sizeof(*st));
    input(now, &m);
}

static void expect_status_requests(void)
{
    assert_int_equal(outs.n, WORKERS);
    for (uint32_t i = 0; i < WORKERS; i++) {
        assert_int_equal(outs.items[i].msg.type, TW_MSG_STATUS_REQ);
        assert_int_equal(outs.items[i].msg.mode, TW_MSG_DIRECT);
        assert_int_equal(tw_addr_endpoint(outs.items[i].msg.target), i);
    }
}

static uint32_t assigned(uint32_t w)
{
    return tw_controller_view(&ctl, w)->assigned;
}

/* ---- placement and commands --------------------------------------------- */

static void test_controller_spawn_least_loaded_even_spread(void **state)
{
    uint32_t per_worker[WORKERS] = {0};
    for (int64_t i = 1; i <= 8; i++) {
        uint8_t arg = (uint8_t)i;
        assert_int_equal(tw_controller_spawn(&ctl, TYPE_ECHO, 3, TW_PLACE_LEAST_LOADED, &arg, 1),
                         i);
    }
    drain(0);
    assert_int_equal(outs.n, 8);
    for (uint32_t i = 0; i < outs.n; i++) {
        const tw_msg *m = &outs.items[i].msg;
        assert_int_equal(m->type, TW_MSG_SPAWN);
        assert_int_equal(m->tag, i + 1);
        uint32_t ep = tw_addr_endpoint(m->target);
        assert_true(ep < WORKERS);
        per_worker[ep]++;
        tw_spawn_req req;
        memcpy(&req, m->data, sizeof(req));
        assert_int_equal(req.type, TYPE_ECHO);
        assert_int_equal(req.group, 3);
        assert_int_equal(req.args_len, 1);
        assert_int_equal(req.args[0], i + 1);
    }
    for (uint32_t w = 0; w < WORKERS; w++) {
        assert_int_equal(per_worker[w], 2);
        assert_int_equal(assigned(w), 2);
    }
}

static void test_controller_spawn_explicit_worker(void **state)
{
    assert_true(tw_controller_spawn(&ctl, TYPE_ECHO, 0, 2, NULL, 0) > 0);
    assert_true(tw_controller_spawn(&ctl, TYPE_ECHO, 0, 2, NULL, 0) > 0);
    drain(0);
    assert_int_equal(outs.n, 2);
    assert_int_equal(tw_addr_endpoint(outs.items[0].msg.target), 2);
    assert_int_equal(tw_addr_endpoint(outs.items[1].msg.target), 2);
    assert_int_equal(assigned(2), 2);
    assert_int_equal(assigned(0), 0);
    /* Least-loaded now avoids worker 2. */
    assert_int_equal(tw_controller_least_loaded(&ctl), 0);
}

static void test_controller_spawn_invalid_worker_type_einval(void **state)
{
    assert_int_equal(tw_controller_spawn(&ctl, TYPE_ECHO, 0, WORKERS, NULL, 0), -TW_EINVAL);
    assert_int_equal(tw_controller_spawn(&ctl, TYPE_COUNT, 0, 0, NULL, 0), -TW_EINVAL);
    uint8_t args[TW_SPAWN_ARGS_MAX + 1] = {0};
    assert_int_equal(tw_controller_spawn(&ctl, TYPE_ECHO, 0, 0, args, sizeof(args)), -TW_EINVAL);
    drain(0);
    assert_int_equal(outs.n, 0);
    for (uint32_t w = 0; w < WORKERS; w++) {
        assert_int_equal(assigned(w), 0);
    }
    /* A refused request does not use up an id. */
    assert_int_equal(tw_controller_spawn(&ctl, TYPE_ECHO, 0, 0, NULL, 0), 1);
}

static void test_controller_outq_full_refused_counted(void **state)
{
    tw_controller_free(&ctl);
    tw_controller_config cfg = config_template;
    cfg.outq_max = 2;
    start_controller(&cfg);
    assert_int_equal(tw_controller_spawn(&ctl, TYPE_ECHO, 0, 0, NULL, 0), 1);
    assert_int_equal(tw_controller_spawn(&ctl, TYPE_ECHO, 0, 1, NULL, 0), 2);
    assert_int_equal(tw_controller_spawn(&ctl, TYPE_ECHO, 0, 2, NULL, 0), -TW_EFULL);
    assert_int_equal(tw_controller_send(&ctl, TW_MSG_GROUP, 1, MSG_NOTE, NULL, 0), -TW_EFULL);
    assert_int_equal(ctl.refused, 2);
    /* The refused spawn was not counted against worker 2. */
    assert_int_equal(assigned(2), 0);
    drain(0);
    assert_int_equal(outs.n, 2);
    assert_int_equal(tw_controller_spawn(&ctl, TYPE_ECHO, 0, 2, NULL, 0), 3);
}

static void test_controller_failed_ack_decrements_assigned(void **state)
{
    int64_t ok = tw_controller_spawn(&ctl, TYPE_ECHO, 0, 1, NULL, 0);
    int64_t bad = tw_controller_spawn(&ctl, TYPE_ECHO, 0, 1, NULL, 0);
    drain(0);
    assert_int_equal(assigned(1), 2);
    ack_from(1, (uint64_t)ok, 0, tw_addr_make(1, 0, 0));
    ack_from(1, (uint64_t)bad, -TW_ENOMEM, TW_ADDR_NONE);
    assert_int_equal(assigned(1), 1);
    assert_int_equal(ctl.spawned, 1);
    assert_int_equal(ctl.failed, 1);
    assert_int_equal(pg.acks, 2);
    assert_int_equal(pg.ack_req[1], (uint64_t)bad);
    assert_int_equal(pg.ack[1].status, -TW_ENOMEM);
    assert_int_equal(pg.ack_req[0], (uint64_t)ok);
    assert_int_equal(pg.ack[0].addr, tw_addr_make(1, 0, 0));
}

static void test_controller_exited_decrements_assigned(void **state)
{
    tw_controller_spawn(&ctl, TYPE_ECHO, 0, 3, NULL, 0);
    drain(0);
    struct {
        tw_addr addr;
        int32_t status;
    } note = {tw_addr_make(3, 0, 0), 0};
    tw_msg m = harness_msg(TW_MSG_DIRECT, TW_MSG_EXITED, harness_worker_addr(3), TW_ADDR_CONTROLLER,
                           &note, sizeof(note));
    input(START, &m);
    assert_int_equal(assigned(3), 0);
    assert_int_equal(ctl.exited, 1);
    /* A second notice (a task it did not place) cannot go below zero. */
    input(START, &m);
    assert_int_equal(assigned(3), 0);
    assert_int_equal(pg.messages, 0);
}

static void test_controller_least_loaded_ties_by_busy_then_id(void **state)
{
    tw_worker_status busy = {.busy_ns = 500}, idle = {.busy_ns = 100};
    status_from(0, START, &busy);
    status_from(1, START, &busy);
    status_from(2, START, &idle);
    status_from(3, START, &idle);
    /* Equal assignments: the least busy, then the lowest id. */
    assert_int_equal(tw_controller_least_loaded(&ctl), 2);
    tw_controller_spawn(&ctl, TYPE_ECHO, 0, 2, NULL, 0);
    assert_int_equal(tw_controller_least_loaded(&ctl), 3);
    tw_controller_spawn(&ctl, TYPE_ECHO, 0, 3, NULL, 0);
    assert_int_equal(tw_controller_least_loaded(&ctl), 0);
}

static void test_controller_kill_and_send_commands(void **state)
{
    tw_addr task = tw_addr_make(1, 4, 2);
    int64_t kill = tw_controller_kill(&ctl, task);
    int64_t send = tw_controller_send(&ctl, TW_MSG_DIRECT, task, MSG_NOTE, "x", 1);
    int64_t group = tw_controller_send(&ctl, TW_MSG_GROUP, 7, MSG_NOTE, NULL, 0);
    assert_true(kill > 0);
    assert_int_equal(send, kill + 1);
    assert_int_equal(group, kill + 2);
    assert_int_equal(tw_controller_kill(&ctl, tw_addr_make(WORKERS, 0, 0)), -TW_EINVAL);
    assert_int_equal(
        tw_controller_send(&ctl, TW_MSG_DIRECT, tw_addr_make(WORKERS, 0, 0), MSG_NOTE, NULL, 0),
        -TW_EINVAL);
    /* Tasks may only be sent application messages. */
    assert_int_equal(tw_controller_send(&ctl, TW_MSG_DIRECT, task, TW_MSG_KILL, NULL, 0),
                     -TW_EINVAL);
    drain(0);
    assert_int_equal(outs.n, 3);
    assert_int_equal(outs.items[0].msg.type, TW_MSG_KILL);
    assert_int_equal(outs.items[0].msg.target, task);
    assert_int_equal(outs.items[1].msg.type, MSG_NOTE);
    assert_int_equal(outs.items[1].msg.target, task);
    assert_int_equal(outs.items[1].msg.tag, (uint64_t)send);
    assert_memory_equal(outs.items[1].msg.data, "x", 1);
    assert_int_equal(outs.items[2].msg.mode, TW_MSG_GROUP);
    assert_int_equal(outs.items[2].msg.target, 7);
}

static void test_controller_pending_outputs_input_asserts(void **state)
{
    tw_controller_spawn(&ctl, TYPE_ECHO, 0, 0, NULL, 0);
    tw_msg m = harness_direct(MSG_NOTE, tw_addr_make(0, 0, 0), TW_ADDR_CONTROLLER);
    tw_input in = harness_input(&m);
    expect_assert_failure(tw_controller_on_input(&ctl, START, &in));
    expect_assert_failure(tw_controller_on_tick(&ctl, START));
    assert_int_equal(ctl.inputs, 0);
}

static void test_controller_init_max_workers_accepted(void **state)
{
    tw_controller_free(&ctl);
    tw_controller_config cfg = config_template;
    cfg.workers = TW_ENDPOINTS_MAX;
    start_controller(&cfg);
    assert_true(tw_controller_spawn(&ctl, TYPE_ECHO, 0, TW_ENDPOINTS_MAX - 1, NULL, 0) > 0);
}

/* ---- periodic status ----------------------------------------------------- */

static void test_controller_status_first_request_at_start(void **state)
{
    assert_int_equal(tw_controller_next_deadline(&ctl), START);
    tick(START - 1);
    assert_int_equal(outs.n, 0);
    tick(START);
    expect_status_requests();
    assert_int_equal(tw_controller_next_deadline(&ctl), START + PERIOD);
    tick(START + PERIOD - 1);
    assert_int_equal(outs.n, 0);
    tick(START + PERIOD);
    expect_status_requests();
    assert_int_equal(tw_controller_next_deadline(&ctl), START + 2 * PERIOD);
}

static void test_controller_status_late_tick_keeps_grid(void **state)
{
    tick(START);
    /* Woken 3.3 periods late: one round of requests, and the next stays on
     * the grid from the start rather than drifting to now + period. */
    tw_ns late = START + 3 * PERIOD + PERIOD / 3;
    tick(late);
    expect_status_requests();
    assert_int_equal(tw_controller_next_deadline(&ctl), START + 4 * PERIOD);
}

static void test_controller_status_period_zero_only_on_request(void **state)
{
    tw_controller_free(&ctl);
    tw_controller_config cfg = config_template;
    cfg.status_period_ns = 0;
    start_controller(&cfg);
    tick(START);
    assert_int_equal(outs.n, 0);
    assert_int_equal(tw_controller_next_deadline(&ctl), TW_NS_NEVER);
    assert_true(tw_controller_request_status(&ctl) > 0);
    drain(START);
    expect_status_requests();
}

static void test_controller_status_report_updates_view(void **state)
{
    const tw_worker_view *v = tw_controller_view(&ctl, 2);
    assert_int_equal(v->reported_at, TW_NS_NEVER);
    tw_worker_status st = {.tasks = 5, .inputs = 40, .busy_ns = 777, .drops = 2};
    status_from(2, START + 5, &st);
    assert_int_equal(v->reports, 1);
    assert_int_equal(v->reported_at, START + 5);
    assert_int_equal(v->status.tasks, 5);
    assert_int_equal(v->status.busy_ns, 777);
    assert_int_equal(pg.statuses, 1);
    assert_int_equal(pg.status_worker, 2);
    assert_int_equal(pg.status[2].inputs, 40);
    assert_int_equal(pg.status[2].drops, 2);
    assert_int_equal(tw_controller_view(&ctl, 1)->reports, 0);
}

/* ---- program callbacks --------------------------------------------------- */

static void test_controller_program_start_once(void **state)
{
    tick(0);
    assert_int_equal(pg.starts, 0);
    tick(START);
    assert_int_equal(pg.starts, 1);
    assert_int_equal(pg.start_at, START);
    tick(START + PERIOD);
    tick(START + 2 * PERIOD);
    assert_int_equal(pg.starts, 1);
}

static void test_controller_program_start_commands_before_status(void **state)
{
    pg.spawn_on_start = 2;
    tick(START);
    /* The program's spawns go out first, then this period's requests, so a
     * worker's first report already counts the tasks just placed. */
    assert_int_equal(outs.n, 2 + WORKERS);
    assert_int_equal(outs.items[0].msg.type, TW_MSG_SPAWN);
    assert_int_equal(outs.items[1].msg.type, TW_MSG_SPAWN);
    assert_int_equal(outs.items[0].msg.tag, pg.first_req);
    assert_int_equal(harness_count(&outs, TW_MSG_STATUS_REQ), WORKERS);
}

static void test_controller_program_message_app(void **state)
{
    tw_addr task = tw_addr_make(2, 1, 6);
    tw_msg m = harness_msg(TW_MSG_DIRECT, MSG_NOTE, task, TW_ADDR_CONTROLLER, "hey", 3);
    m.tag = 31;
    input(START, &m);
    assert_int_equal(pg.messages, 1);
    assert_int_equal(ctl.messages, 1);
    assert_int_equal(pg.last_msg.source, task);
    assert_int_equal(pg.last_msg.tag, 31);
    assert_memory_equal(pg.last_msg.data, "hey", 3);
    assert_int_equal(pg.statuses, 0);
    assert_int_equal(pg.acks, 0);
}

static void test_controller_program_deadline_fires_once(void **state)
{
    pg.deadline_on_start = START + 300;
    tick(START);
    assert_int_equal(tw_controller_next_deadline(&ctl), START + 300);
    tick(START + 299);
    assert_int_equal(pg.deadlines, 0);
    tick(START + 300);
    assert_int_equal(pg.deadlines, 1);
    assert_int_equal(pg.deadline_at, START + 300);
    assert_int_equal(tw_controller_next_deadline(&ctl), START + PERIOD);
    tick(START + PERIOD);
    assert_int_equal(pg.deadlines, 1);
}

static void test_controller_program_deadline_cleared_by_never(void **state)
{
    tick(START);
    tw_controller_set_deadline(&ctl, START + 5);
    tw_controller_set_deadline(&ctl, TW_NS_NEVER);
    assert_int_equal(tw_controller_next_deadline(&ctl), START + PERIOD);
    tick(START + PERIOD);
    assert_int_equal(pg.deadlines, 0);
}

/* ---- end to end: a controller and two workers over a bus ----------------- */

#define E2E_WORKERS 2u
#define E2E_TASKS 4u

typedef struct world {
    tw_bus bus;
    tw_worker workers[E2E_WORKERS];
    tw_controller ctl;
    tw_ns now;
    uint64_t trace;
    uint64_t routed;
} world;

static world wd;

static void world_route(const tw_output *o)
{
    const tw_msg *m = &o->msg;
    wd.trace = tw_hash_fold(wd.trace, wd.now);
    wd.trace = tw_hash_fold(wd.trace, ((uint64_t)m->type << 32) | m->source);
    wd.trace = tw_hash_fold(wd.trace, ((uint64_t)m->target << 32) | m->len);
    wd.trace = tw_hash_bytes(wd.trace, m->data, m->len);
    wd.routed++;
    assert_true(tw_bus_send(&wd.bus, m) > 0);
}

/* Pops everything endpoint ep has to say and routes it. */
static void world_flush(uint32_t ep)
{
    tw_output o;
    if (ep == TW_ENDPOINT_CONTROLLER) {
        while (tw_controller_pop_output(&wd.ctl, wd.now, &o)) {
            world_route(&o);
        }
        return;
    }
    while (tw_worker_pop_output(&wd.workers[ep], wd.now, &o)) {
        world_route(&o);
    }
}

static void world_input(uint32_t ep, const tw_msg *m)
{
    tw_input in = harness_input(m);
    if (ep == TW_ENDPOINT_CONTROLLER) {
        tw_controller_on_input(&wd.ctl, wd.now, &in);
    } else {
        tw_worker_on_input(&wd.workers[ep], wd.now, &in);
    }
    world_flush(ep);
}

/* Delivers every queued message, including those sent while delivering;
 * returns whether anything moved. */
static bool world_deliver(void)
{
    bool moved = false;
    for (bool again = true; again;) {
        again = false;
        for (uint32_t i = 0; i <= E2E_WORKERS; i++) {
            uint32_t ep = i < E2E_WORKERS ? i : TW_ENDPOINT_CONTROLLER;
            tw_msg m;
            while (tw_bus_recv(&wd.bus, ep, &m)) {
                world_input(ep, &m);
                again = moved = true;
            }
        }
    }
    return moved;
}

static tw_ns world_next_deadline(void)
{
    tw_ns d = tw_controller_next_deadline(&wd.ctl);
    for (uint32_t w = 0; w < E2E_WORKERS; w++) {
        d = tw_ns_min(d, tw_worker_next_deadline(&wd.workers[w]));
    }
    return d;
}

static void world_tick_due(void)
{
    if (tw_controller_next_deadline(&wd.ctl) <= wd.now) {
        tw_controller_on_tick(&wd.ctl, wd.now);
        world_flush(TW_ENDPOINT_CONTROLLER);
    }
    for (uint32_t w = 0; w < E2E_WORKERS; w++) {
        if (tw_worker_next_deadline(&wd.workers[w]) <= wd.now) {
            tw_worker_on_tick(&wd.workers[w], wd.now);
            world_flush(w);
        }
    }
}

/* Runs the world until nothing is due at or before `until`. Message delivery
 * takes no time; the clock jumps from deadline to deadline. */
static void world_run(tw_ns until)
{
    for (int turns = 0;; turns++) {
        assert_true(turns < 10000);
        if (world_deliver()) {
            continue;
        }
        tw_ns next = world_next_deadline();
        if (next > until) {
            return;
        }
        wd.now = tw_ns_max(wd.now, next);
        world_tick_due();
    }
}

static void world_start(void)
{
    memset(&wd, 0, sizeof(wd));
    memset(&pg, 0, sizeof(pg));
    pg.spawn_on_start = E2E_TASKS;
    wd.trace = TW_TRACE_HASH_INIT;
    tw_bus_init(&wd.bus, E2E_WORKERS, 64);
    for (uint32_t w = 0; w < E2E_WORKERS; w++) {
        tw_worker_config wc = {
            .id = w,
            .max_tasks = 8,
            .task_state_max = sizeof(echo),
            .max_channels = 1,
            .outq_max = 8,
            .seed = 0xe2e,
            .registry = &registry,
        };
        tw_worker_init(&wd.workers[w], &wc, 0);
    }
    tw_controller_config cc = config_template;
    cc.workers = E2E_WORKERS;
    tw_controller_init(&wd.ctl, &cc);
}

static void world_stop(void)
{
    tw_controller_free(&wd.ctl);
    for (uint32_t w = 0; w < E2E_WORKERS; w++) {
        tw_worker_free(&wd.workers[w]);
    }
    tw_bus_free(&wd.bus);
}

static void test_controller_e2e_spawn_reply_status(void **state)
{
    world_start();
    world_run(START + 2 * PERIOD + PERIOD / 2);

    /* Every spawn was placed, acknowledged with a live address, greeted, and
     * answered by exactly the task that was spawned. */
    assert_int_equal(wd.ctl.spawned, E2E_TASKS);
    assert_int_equal(wd.ctl.failed, 0);
    assert_int_equal(pg.acks, E2E_TASKS);
    assert_int_equal(pg.replies, E2E_TASKS);
    uint32_t seen = 0;
    for (uint32_t i = 0; i < E2E_TASKS; i++) {
        tw_addr a = pg.ack[i].addr;
        /* Acks arrive in delivery order; the request id says which spawn it
         * was, and least-loaded placement alternates between the workers. */
        uint64_t nth = pg.ack_req[i] - pg.first_req;
        assert_true(nth < E2E_TASKS);
        seen |= 1u << nth;
        assert_int_equal(tw_addr_endpoint(a), nth % E2E_WORKERS);
        tw_task *t = tw_worker_task(&wd.workers[tw_addr_endpoint(a)], a);
        assert_non_null(t);
        assert_int_equal(((echo *)tw_task_state(t))->hellos, 1);
        bool replied = false;
        for (uint32_t r = 0; r < pg.replies; r++) {
            replied |= pg.replied[r] == a;
        }
        assert_true(replied);
    }
    assert_int_equal(seen, (1u << E2E_TASKS) - 1);
    /* Reports at START, START + PERIOD and START + 2 * PERIOD, each counting
     * the two tasks on that worker. */
    for (uint32_t w = 0; w < E2E_WORKERS; w++) {
        const tw_worker_view *v = tw_controller_view(&wd.ctl, w);
        assert_int_equal(pg.reports[w], 3);
        assert_int_equal(v->reports, 3);
        assert_int_equal(v->reported_at, START + 2 * PERIOD);
        assert_int_equal(v->status.tasks, 2);
        assert_int_equal(v->status.drops, 0);
        assert_int_equal(v->assigned, 2);
    }
    assert_int_equal(wd.bus.refused, 0);
    assert_int_equal(wd.bus.delivered, wd.routed);
    assert_int_equal(tw_controller_next_deadline(&wd.ctl), START + 3 * PERIOD);
    world_stop();
}

static void test_controller_e2e_same_seed_same_trace(void **state)
{
    const tw_ns until = START + 5 * PERIOD;
    world_start();
    world_run(until);
    uint64_t first = wd.trace, routed = wd.routed;
    world_stop();
    world_start();
    world_run(until);
    assert_int_equal(wd.routed, routed);
    assert_int_equal(wd.trace, first);
    world_stop();
}

int main(void)
{
#define CTL_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_controller, teardown_controller)
    const struct CMUnitTest tests[] = {
        CTL_TEST(test_controller_spawn_least_loaded_even_spread),
        CTL_TEST(test_controller_spawn_explicit_worker),
        CTL_TEST(test_controller_spawn_invalid_worker_type_einval),
        CTL_TEST(test_controller_outq_full_refused_counted),
        CTL_TEST(test_controller_failed_ack_decrements_assigned),
        CTL_TEST(test_controller_exited_decrements_assigned),
        CTL_TEST(test_controller_least_loaded_ties_by_busy_then_id),
        CTL_TEST(test_controller_kill_and_send_commands),
        CTL_TEST(test_controller_pending_outputs_input_asserts),
        CTL_TEST(test_controller_init_max_workers_accepted),
        CTL_TEST(test_controller_status_first_request_at_start),
        CTL_TEST(test_controller_status_late_tick_keeps_grid),
        CTL_TEST(test_controller_status_period_zero_only_on_request),
        CTL_TEST(test_controller_status_report_updates_view),
        CTL_TEST(test_controller_program_start_once),
        CTL_TEST(test_controller_program_start_commands_before_status),
        CTL_TEST(test_controller_program_message_app),
        CTL_TEST(test_controller_program_deadline_fires_once),
        CTL_TEST(test_controller_program_deadline_cleared_by_never),
        cmocka_unit_test(test_controller_e2e_spawn_reply_status),
        cmocka_unit_test(test_controller_e2e_same_seed_same_trace),
    };
#undef CTL_TEST
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
