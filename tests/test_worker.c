/* core/rt/worker tests. The worker is driven the way a driver drives it:
 * one input (or tick), then pop outputs until there are none. The tasks are
 * defined here: a `recorder` that logs every input and acts on commands
 * carried as message types (reply, exit, subscribe, arm its timer, try to
 * spoof its source), a `counter` that only counts how often it is polled,
 * and a `big` type whose state does not fit a slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/error.h"
#include "harness.h"
#include "rt/worker.h"

#define WORKER_ID 3u
#define SEED 0x77u
#define STATE_MAX 1024u
#define PEER tw_addr_make(1, 0, 9) /* a task on another worker */

enum { TYPE_RECORDER, TYPE_COUNTER, TYPE_BIG, TYPE_COUNT };

enum {
    MSG_NOTE = TW_MSG_APP + 1, /* recorded, nothing else */
    MSG_ECHO,                  /* reply MSG_ECHO_REPLY to the source, same data */
    MSG_ECHO_REPLY,
    MSG_EXIT,  /* exit with the int32 status in data */
    MSG_SUB,   /* subscribe to the uint32 channel in data */
    MSG_UNSUB, /* unsubscribe from it */
    MSG_ARM,   /* arm the timer at the tw_ns in data (TW_NS_NEVER cancels) */
    MSG_SPOOF, /* send MSG_NOTE to the source claiming to be PEER */
};

/* ---- task types --------------------------------------------------------- */

#define LOG_MAX 8
#define LOG_DATA 16

typedef struct rec_entry {
    tw_task_input_kind kind;
    uint32_t type;
    tw_ns now;
    tw_addr source;
    tw_addr target;
    uint32_t len;
    uint8_t data[LOG_DATA];
} rec_entry;

typedef struct recorder {
    tw_task_outq outq;
    uint32_t n;
    rec_entry log[LOG_MAX];
    uint32_t ticks;
    tw_ns tick_at;
} recorder;

typedef struct counter {
    uint32_t inputs;
    uint32_t pops;
} counter;

/* Tasks that have been shut down, in order: the state is gone by then. */
static uint32_t shutdowns;
static tw_addr shutdown_addr;

static void rec_push(recorder *r, const tw_task_output *o)
{
    bool ok = tw_task_outq_push(&r->outq, o);
    assert_true(ok);
}

static void rec_command(tw_task *t, recorder *r, const tw_msg *m)
{
    tw_task_output o;
    memset(&o, 0, sizeof(o));
    switch (m->type) {
    case MSG_ECHO:
        tw_task_out_send(&o, t->addr, TW_MSG_DIRECT, m->source, MSG_ECHO_REPLY, m->data, m->len);
        rec_push(r, &o);
        break;
    case MSG_EXIT:
        o.kind = TW_TOUT_EXIT;
        memcpy(&o.u.status, m->data, sizeof(o.u.status));
        rec_push(r, &o);
        break;
    case MSG_SUB:
    case MSG_UNSUB:
        o.kind = m->type == MSG_SUB ? TW_TOUT_SUBSCRIBE : TW_TOUT_UNSUBSCRIBE;
        memcpy(&o.u.channel, m->data, sizeof(o.u.channel));
        rec_push(r, &o);
        break;
    case MSG_ARM: {
        tw_ns at;
        memcpy(&at, m->data, sizeof(at));
        tw_task_out_timer(&o, at);
        rec_push(r, &o);
        break;
    }
    case MSG_SPOOF:
        tw_task_out_send(&o, PEER, TW_MSG_DIRECT, m->source, MSG_NOTE, NULL, 0);
        rec_push(r, &o);
        break;
    default:
        break;
    }
}

static void rec_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    recorder *r = tw_task_state(t);
    if (r->n < LOG_MAX) {
        rec_entry *e = &r->log[r->n];
        e->kind = in->kind;
        e->type = in->msg->type;
        e->now = now;
        e->source = in->msg->source;
        e->target = in->msg->target;
        e->len = in->msg->len;
        memcpy(e->data, in->msg->data, LOG_DATA);
    }
    r->n++;
    if (in->kind == TW_TIN_MSG) {
        rec_command(t, r, in->msg);
    }
}

static void rec_on_tick(tw_task *t, tw_ns now)
{
    recorder *r = tw_task_state(t);
    r->ticks++;
    r->tick_at = now;
}

static bool rec_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    recorder *r = tw_task_state(t);
    return tw_task_outq_pop(&r->outq, out);
}

static void rec_on_shutdown(tw_task *t, tw_ns now)
{
    shutdowns++;
    shutdown_addr = t->addr;
}

static void counter_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    counter *c = tw_task_state(t);
    c->inputs++;
}

static void counter_on_tick(tw_task *t, tw_ns now) {}

static bool counter_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    counter *c = tw_task_state(t);
    c->pops++;
    return false;
}

static const tw_task_ops recorder_ops = {
    .name = "recorder",
    .state_size = sizeof(recorder),
    .on_input = rec_on_input,
    .on_tick = rec_on_tick,
    .pop_output = rec_pop,
    .on_shutdown = rec_on_shutdown,
};

static const tw_task_ops counter_ops = {
    .name = "counter",
    .state_size = sizeof(counter),
    .on_input = counter_on_input,
    .on_tick = counter_on_tick,
    .pop_output = counter_pop,
};

static const tw_task_ops big_ops = {
    .name = "big",
    .state_size = STATE_MAX + 1,
    .on_input = counter_on_input,
    .on_tick = counter_on_tick,
    .pop_output = counter_pop,
};

static const tw_task_ops *const types[TYPE_COUNT] = {
    [TYPE_RECORDER] = &recorder_ops,
    [TYPE_COUNTER] = &counter_ops,
    [TYPE_BIG] = &big_ops,
};

static const tw_task_registry registry = {.types = types, .count = TYPE_COUNT};

TW_STATIC_ASSERT(sizeof(recorder) <= STATE_MAX, "a recorder fits a slot");

/* ---- the worker under test and its helpers ------------------------------ */

static const tw_worker_config config_template = {
    .id = WORKER_ID,
    .max_tasks = 4,
    .task_state_max = STATE_MAX,
    .max_channels = 2,
    .outq_max = 8,
    .seed = SEED,
    .registry = &registry,
};

static tw_worker worker;
static tw_ns now;
static harness_outs outs;

static void start_worker(const tw_worker_config *cfg)
{
    now = 0;
    shutdowns = 0;
    shutdown_addr = TW_ADDR_NONE;
    memset(&outs, 0, sizeof(outs));
    tw_worker_init(&worker, cfg, now);
}

static int setup_worker(void **state)
{
    start_worker(&config_template);
    return 0;
}

static int teardown_worker(void **state)
{
    tw_worker_free(&worker);
    return 0;
}

/* Pops every output into `outs` (replacing what was there). */
static void drain(void)
{
    memset(&outs, 0, sizeof(outs));
    tw_output o;
    while (tw_worker_pop_output(&worker, now, &o)) {
        assert_true(outs.n < HARNESS_OUTS_MAX);
        assert_int_equal(o.kind, TW_OUT_MSG);
        outs.items[outs.n++] = o;
    }
    assert_false(tw_worker_has_pending_outputs(&worker));
}

static void expect_no_outputs(void)
{
    drain();
    assert_int_equal(outs.n, 0);
}

/* Gives the worker one message and drains its outputs. */
static void input(const tw_msg *m)
{
    tw_input in = harness_input(m);
    tw_worker_on_input(&worker, now, &in);
    drain();
}

static void tick(tw_ns at)
{
    now = at;
    tw_worker_on_tick(&worker, now);
    drain();
}

/* A message from PEER to a task, with an optional payload. */
static void send_task(tw_addr target, uint32_t type, const void *data, uint32_t len)
{
    tw_msg m = harness_msg(TW_MSG_DIRECT, type, PEER, target, data, len);
    input(&m);
}

static void send_mode(tw_msg_mode mode, uint64_t target, uint32_t type)
{
    tw_msg m = harness_msg(mode, type, PEER, target, NULL, 0);
    input(&m);
}

static void send_system(uint32_t type, uint64_t target, uint64_t tag, const void *data,
                        uint32_t len)
{
    tw_msg m = harness_msg(TW_MSG_DIRECT, type, TW_ADDR_CONTROLLER, target, data, len);
    m.tag = tag;
    input(&m);
}

static tw_addr spawn(uint32_t type, uint32_t group, const void *args, uint32_t len)
{
    int64_t rc = tw_worker_spawn(&worker, now, type, group, args, len);
    assert_true(rc >= 0);
    expect_no_outputs();
    return (tw_addr)rc;
}

static tw_addr spawn_recorder(uint32_t group)
{
    return spawn(TYPE_RECORDER, group, NULL, 0);
}

static recorder *rec(tw_addr a)
{
    tw_task *t = tw_worker_task(&worker, a);
    assert_non_null(t);
    return tw_task_state(t);
}

/* The recorder's last input was a message of this type. */
static void expect_last_input(tw_addr a, uint32_t type)
{
    recorder *r = rec(a);
    assert_true(r->n > 0);
    assert_int_equal(r->log[r->n - 1].kind, TW_TIN_MSG);
    assert_int_equal(r->log[r->n - 1].type, type);
}

static void arm(tw_addr a, tw_ns at)
{
    send_task(a, MSG_ARM, &at, sizeof(at));
}

static void subscribe(tw_addr a, uint32_t channel)
{
    send_task(a, MSG_SUB, &channel, sizeof(channel));
}

/* Sends SPAWN as the controller would and returns the ack. */
static tw_spawn_ack spawn_via_msg(uint32_t type, uint32_t group, uint64_t tag)
{
    tw_spawn_req req = {.type = type, .group = group, .args_len = 3, .args = {'a', 'b', 'c'}};
    send_system(TW_MSG_SPAWN, harness_worker_addr(WORKER_ID), tag, &req, sizeof(req));
    assert_int_equal(outs.n, 1);
    const tw_msg *m = &outs.items[0].msg;
    assert_int_equal(m->type, TW_MSG_SPAWNED);
    assert_int_equal(m->target, TW_ADDR_CONTROLLER);
    assert_int_equal(m->tag, tag);
    assert_int_equal(tw_addr_endpoint(m->source), WORKER_ID);
    tw_spawn_ack ack;
    memcpy(&ack, m->data, sizeof(ack));
    assert_int_equal(ack.type, type);
    assert_int_equal(ack.group, group);
    return ack;
}

static tw_worker_status request_status(uint64_t tag)
{
    send_system(TW_MSG_STATUS_REQ, harness_worker_addr(WORKER_ID), tag, NULL, 0);
    const tw_msg *m = harness_find(&outs, TW_MSG_STATUS);
    assert_non_null(m);
    assert_int_equal(outs.n, 1);
    assert_int_equal(m->target, TW_ADDR_CONTROLLER);
    assert_int_equal(m->tag, tag);
    assert_int_equal(tw_addr_endpoint(m->source), WORKER_ID);
    tw_worker_status st;
    memcpy(&st, m->data, sizeof(st));
    return st;
}

/* ---- spawning ----------------------------------------------------------- */

static void test_worker_spawn_start_carries_args(void **state)
{
    now = TW_US(5);
    tw_addr a = spawn(TYPE_RECORDER, 0, "hello", 5);
    recorder *r = rec(a);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->log[0].kind, TW_TIN_START);
    assert_int_equal(r->log[0].len, 5);
    assert_memory_equal(r->log[0].data, "hello", 5);
    assert_int_equal(r->log[0].now, TW_US(5));
    assert_int_equal(r->log[0].target, a);
    assert_int_equal(worker.status.tasks, 1);
}

static void test_worker_spawn_addr_encodes_endpoint_slot_gen(void **state)
{
    tw_addr a = spawn_recorder(0);
    tw_addr b = spawn_recorder(0);
    assert_int_equal(tw_addr_endpoint(a), WORKER_ID);
    assert_int_equal(tw_addr_slot(a), 0);
    assert_int_equal(tw_addr_gen(a), 0);
    assert_int_equal(tw_addr_endpoint(b), WORKER_ID);
    assert_int_equal(tw_addr_slot(b), 1);
    assert_ptr_equal(tw_worker_task(&worker, a)->addr, a);
    /* The same slot on another worker is not this task. */
    assert_null(tw_worker_task(&worker, tw_addr_make(WORKER_ID + 1, 0, 0)));
}

static void test_worker_spawn_msg_acks_requester(void **state)
{
    tw_spawn_ack ack = spawn_via_msg(TYPE_RECORDER, 4, 77);
    assert_int_equal(ack.status, 0);
    assert_int_equal(tw_addr_endpoint(ack.addr), WORKER_ID);
    recorder *r = rec(ack.addr);
    assert_int_equal(r->log[0].kind, TW_TIN_START);
    assert_memory_equal(r->log[0].data, "abc", 3);
    assert_int_equal(tw_worker_task(&worker, ack.addr)->group, 4);
}

static void test_worker_spawn_msg_slots_exhausted_enomem(void **state)
{
    for (uint32_t i = 0; i < config_template.max_tasks; i++) {
        assert_int_equal(spawn_via_msg(TYPE_COUNTER, 0, i + 1).status, 0);
    }
    tw_spawn_ack ack = spawn_via_msg(TYPE_COUNTER, 0, 99);
    assert_int_equal(ack.status, -TW_ENOMEM);
    assert_int_equal(ack.addr, TW_ADDR_NONE);
    assert_int_equal(worker.status.tasks, config_template.max_tasks);
}

static void test_worker_spawn_msg_unknown_type_einval(void **state)
{
    tw_spawn_ack ack = spawn_via_msg(TYPE_COUNT, 0, 5);
    assert_int_equal(ack.status, -TW_EINVAL);
    assert_int_equal(ack.addr, TW_ADDR_NONE);
    assert_int_equal(worker.status.tasks, 0);
}

static void test_worker_spawn_msg_state_too_big_etoobig(void **state)
{
    tw_spawn_ack ack = spawn_via_msg(TYPE_BIG, 0, 6);
    assert_int_equal(ack.status, -TW_ETOOBIG);
    assert_int_equal(ack.addr, TW_ADDR_NONE);
    assert_int_equal(worker.status.tasks, 0);
    /* The refusal used no slot: every slot is still free. */
    for (uint32_t i = 0; i < config_template.max_tasks; i++) {
        spawn_recorder(0);
    }
}

/* ---- delivery ----------------------------------------------------------- */

static void test_worker_direct_msg_reaches_only_target(void **state)
{
    tw_addr a = spawn_recorder(0);
    tw_addr b = spawn_recorder(0);
    now = TW_US(7);
    send_task(b, MSG_NOTE, "xyz", 3);
    expect_last_input(b, MSG_NOTE);
    recorder *rb = rec(b);
    assert_int_equal(rb->log[1].source, PEER);
    assert_int_equal(rb->log[1].now, TW_US(7));
    assert_memory_equal(rb->log[1].data, "xyz", 3);
    assert_int_equal(rec(a)->n, 1); /* only its start */
    assert_int_equal(worker.status.drops, 0);
}

static void test_worker_direct_echo_reply_routed_to_sender(void **state)
{
    tw_addr a = spawn_recorder(0);
    send_task(a, MSG_ECHO, "ping", 4);
    assert_int_equal(outs.n, 1);
    const tw_msg *m = &outs.items[0].msg;
    assert_int_equal(m->type, MSG_ECHO_REPLY);
    assert_int_equal(m->mode, TW_MSG_DIRECT);
    assert_int_equal(m->source, a);
    assert_int_equal(m->target, PEER);
    assert_int_equal(m->len, 4);
    assert_memory_equal(m->data, "ping", 4);
}

static void test_worker_exited_stale_addr_dropped(void **state)
{
    tw_addr old = spawn_recorder(0);
    int32_t status = 17;
    send_task(old, MSG_EXIT, &status, sizeof(status));
    assert_int_equal(harness_count(&outs, TW_MSG_EXITED), 1);
    assert_null(tw_worker_task(&worker, old));
    tw_addr fresh = spawn_recorder(0);
    assert_int_equal(tw_addr_slot(fresh), tw_addr_slot(old));
    assert_int_not_equal(tw_addr_gen(fresh), tw_addr_gen(old));
    /* A message for the old task must not reach the slot's new tenant. */
    send_task(old, MSG_NOTE, NULL, 0);
    assert_int_equal(outs.n, 0);
    assert_int_equal(rec(fresh)->n, 1);
    assert_int_equal(worker.status.drops, 1);
}

static void test_worker_exit_output_notifies_controller(void **state)
{
    tw_addr a = spawn_recorder(0);
    int32_t status = -5;
    send_task(a, MSG_EXIT, &status, sizeof(status));
    const tw_msg *m = harness_find(&outs, TW_MSG_EXITED);
    assert_non_null(m);
    assert_int_equal(m->target, TW_ADDR_CONTROLLER);
    struct {
        tw_addr addr;
        int32_t status;
    } note;
    memcpy(&note, m->data, sizeof(note));
    assert_int_equal(note.addr, a);
    assert_int_equal(note.status, -5);
    assert_int_equal(shutdowns, 1);
    assert_int_equal(worker.status.tasks, 0);
}

static void test_worker_group_msg_members_only(void **state)
{
    tw_addr a = spawn_recorder(5);
    tw_addr b = spawn_recorder(6);
    tw_addr c = spawn_recorder(5);
    send_mode(TW_MSG_GROUP, 5, MSG_NOTE);
    expect_last_input(a, MSG_NOTE);
    expect_last_input(c, MSG_NOTE);
    assert_int_equal(rec(b)->n, 1);
    /* A group with no member here is not a drop: other workers may have it. */
    send_mode(TW_MSG_GROUP, 8, MSG_NOTE);
    assert_int_equal(worker.status.drops, 0);
    assert_int_equal(rec(a)->n, 2);
}

static void test_worker_group_msg_each_member_replies(void **state)
{
    tw_addr a = spawn_recorder(5);
    tw_addr b = spawn_recorder(5);
    send_mode(TW_MSG_GROUP, 5, MSG_ECHO);
    assert_int_equal(harness_count(&outs, MSG_ECHO_REPLY), 2);
    assert_int_equal(outs.items[0].msg.source, a);
    assert_int_equal(outs.items[1].msg.source, b);
}

static void test_worker_publish_subscribers_only(void **state)
{
    tw_addr a = spawn_recorder(0);
    tw_addr b = spawn_recorder(0);
    tw_addr c = spawn_recorder(0);
    subscribe(a, 9);
    subscribe(c, 9);
    send_mode(TW_MSG_PUBLISH, 9, MSG_NOTE);
    expect_last_input(a, MSG_NOTE);
    expect_last_input(c, MSG_NOTE);
    assert_int_equal(rec(b)->n, 1);
    /* Nobody here listens to channel 10: not delivered, not a drop. */
    send_mode(TW_MSG_PUBLISH, 10, MSG_ECHO);
    assert_int_equal(outs.n, 0);
    assert_int_equal(rec(a)->n, 3);
    assert_int_equal(worker.status.drops, 0);
}

static void test_worker_unsubscribed_publish_not_delivered(void **state)
{
    tw_addr a = spawn_recorder(0);
    tw_addr b = spawn_recorder(0);
    uint32_t channel = 9;
    subscribe(a, channel);
    subscribe(b, channel);
    send_task(a, MSG_UNSUB, &channel, sizeof(channel));
    uint32_t a_inputs = rec(a)->n;
    send_mode(TW_MSG_PUBLISH, channel, MSG_NOTE);
    assert_int_equal(rec(a)->n, a_inputs);
    expect_last_input(b, MSG_NOTE);
}

static void test_worker_exited_subscriber_slot_not_inherited(void **state)
{
    tw_addr a = spawn_recorder(0);
    subscribe(a, 9);
    int32_t status = 0;
    send_task(a, MSG_EXIT, &status, sizeof(status));
    tw_addr fresh = spawn_recorder(0);
    assert_int_equal(tw_addr_slot(fresh), tw_addr_slot(a));
    send_mode(TW_MSG_PUBLISH, 9, MSG_NOTE);
    assert_int_equal(rec(fresh)->n, 1);
}

static void test_worker_channel_table_full_drop_counted(void **state)
{
    tw_addr a = spawn_recorder(0);
    subscribe(a, 1);
    subscribe(a, 2);
    assert_int_equal(worker.status.drops, 0);
    subscribe(a, 3); /* two channels configured: the third is refused */
    assert_int_equal(worker.status.drops, 1);
    uint32_t n = rec(a)->n;
    send_mode(TW_MSG_PUBLISH, 3, MSG_NOTE);
    assert_int_equal(rec(a)->n, n);
    /* The channels it holds still work. */
    send_mode(TW_MSG_PUBLISH, 2, MSG_NOTE);
    expect_last_input(a, MSG_NOTE);
}

/* ---- timers ------------------------------------------------------------- */

static void test_worker_timer_armed_fires_once(void **state)
{
    tw_addr a = spawn_recorder(0);
    arm(a, 50);
    assert_int_equal(tw_worker_next_deadline(&worker), 50);
    tick(49);
    assert_int_equal(rec(a)->ticks, 0);
    tick(50);
    assert_int_equal(rec(a)->ticks, 1);
    assert_int_equal(rec(a)->tick_at, 50);
    assert_int_equal(tw_worker_next_deadline(&worker), TW_NS_NEVER);
    tick(TW_MS(1));
    assert_int_equal(rec(a)->ticks, 1);
    assert_int_equal(worker.status.timers_fired, 1);
}

static void test_worker_timer_far_fires_at_exact_deadline(void **state)
{
    /* A driver that sleeps until next_deadline sees the tick at exactly the
     * deadline, never before (next_deadline may be a lower bound). */
    tw_addr a = spawn_recorder(0);
    const tw_ns deadline = TW_MS(3) + 17;
    arm(a, deadline);
    for (int wakes = 0; rec(a)->ticks == 0; wakes++) {
        assert_true(wakes < 64);
        tw_ns d = tw_worker_next_deadline(&worker);
        assert_true(d <= deadline);
        tick(d);
    }
    assert_int_equal(rec(a)->ticks, 1);
    assert_int_equal(rec(a)->tick_at, deadline);
    assert_int_equal(now, deadline);
}

static void test_worker_timer_never_cancels(void **state)
{
    tw_addr a = spawn_recorder(0);
    arm(a, 100);
    arm(a, TW_NS_NEVER);
    assert_int_equal(tw_worker_next_deadline(&worker), TW_NS_NEVER);
    tick(200);
    assert_int_equal(rec(a)->ticks, 0);
    assert_int_equal(worker.status.timers_fired, 0);
}

static void test_worker_timer_rearm_moves_deadline(void **state)
{
    tw_addr a = spawn_recorder(0);
    arm(a, 40);
    arm(a, 60);
    assert_int_equal(tw_worker_next_deadline(&worker), 60);
    tick(40);
    assert_int_equal(rec(a)->ticks, 0);
    tick(60);
    assert_int_equal(rec(a)->ticks, 1);
}

/* ---- the sans-io contract ----------------------------------------------- */

static void test_worker_pending_outputs_input_asserts(void **state)
{
    tw_addr a = spawn_recorder(0);
    tw_msg echo = harness_msg(TW_MSG_DIRECT, MSG_ECHO, PEER, a, NULL, 0);
    tw_input in = harness_input(&echo);
    tw_worker_on_input(&worker, now, &in);
    assert_true(tw_worker_has_pending_outputs(&worker));
    /* The driver forgot to pop: the next input and a tick are refused. */
    expect_assert_failure(tw_worker_on_input(&worker, now, &in));
    expect_assert_failure(tw_worker_on_tick(&worker, now));
    drain();
    assert_int_equal(outs.n, 1);
    assert_int_equal(rec(a)->n, 2); /* the refused input never reached it */
}

static void test_worker_dirty_switcher_polls_only_touched(void **state)
{
    enum { TASKS = 500, TARGET = 321 };
    tw_worker_free(&worker);
    tw_worker_config cfg = config_template;
    cfg.max_tasks = 512;
    cfg.task_state_max = sizeof(counter);
    start_worker(&cfg);
    tw_addr addrs[TASKS];
    for (uint32_t i = 0; i < TASKS; i++) {
        addrs[i] = spawn(TYPE_COUNTER, 0, NULL, 0);
    }
    for (uint32_t i = 0; i < TASKS; i++) {
        counter *c = tw_task_state(tw_worker_task(&worker, addrs[i]));
        assert_int_equal(c->pops, 1); /* polled once after its start */
        c->pops = 0;
    }
    send_task(addrs[TARGET], MSG_NOTE, NULL, 0);
    for (uint32_t i = 0; i < TASKS; i++) {
        counter *c = tw_task_state(tw_worker_task(&worker, addrs[i]));
        assert_int_equal(c->pops, i == TARGET ? 1 : 0);
        assert_int_equal(c->inputs, i == TARGET ? 2 : 1);
    }
}

static void test_worker_task_send_source_not_spoofable(void **state)
{
    tw_addr a = spawn_recorder(0);
    send_task(a, MSG_SPOOF, NULL, 0);
    assert_int_equal(outs.n, 1);
    assert_int_equal(outs.items[0].msg.type, MSG_NOTE);
    assert_int_equal(outs.items[0].msg.source, a);
    assert_int_not_equal(outs.items[0].msg.source, PEER);
}

/* ---- the controller's commands ------------------------------------------ */

static void test_worker_status_req_reports_counts(void **state)
{
    tw_addr a = spawn_recorder(0);
    tw_addr b = spawn_recorder(0);
    arm(a, TW_MS(1));                /* input 1, no output */
    send_task(b, MSG_ECHO, NULL, 0); /* input 2, one output */
    tw_worker_status st = request_status(5);
    assert_int_equal(st.tasks, 2);
    assert_int_equal(st.inputs, 3); /* the request itself counts */
    assert_int_equal(st.outputs, 1);
    assert_int_equal(st.timers_armed, 1);
    assert_int_equal(st.timers_fired, 0);
    assert_int_equal(st.drops, 0);
    /* The report itself is an output: the next one says so. */
    st = request_status(6);
    assert_int_equal(st.outputs, 2);
    assert_int_equal(st.inputs, 4);
}

static void test_worker_status_req_carries_driver_stats(void **state)
{
    tw_worker_driver_stats(&worker, 12345, 3, 9, 4);
    tw_worker_status st = request_status(1);
    assert_int_equal(st.busy_ns, 12345);
    assert_int_equal(st.queue_depth, 3);
    assert_int_equal(st.queue_high, 9);
    assert_int_equal(st.queue_drops, 4);
    assert_int_equal(tw_worker_status_get(&worker)->busy_ns, 12345);
}

static void test_worker_kill_shutdown_and_exited_notice(void **state)
{
    tw_addr a = spawn_recorder(0);
    arm(a, TW_MS(1));
    send_system(TW_MSG_KILL, a, 3, NULL, 0);
    assert_int_equal(shutdowns, 1);
    assert_int_equal(shutdown_addr, a);
    assert_int_equal(outs.n, 1);
    const tw_msg *m = &outs.items[0].msg;
    assert_int_equal(m->type, TW_MSG_EXITED);
    assert_int_equal(m->target, TW_ADDR_CONTROLLER);
    struct {
        tw_addr addr;
        int32_t status;
    } note;
    memcpy(&note, m->data, sizeof(note));
    assert_int_equal(note.addr, a);
    assert_int_equal(note.status, -TW_ECLOSED);
    assert_null(tw_worker_task(&worker, a));
    assert_int_equal(worker.status.tasks, 0);
    /* Its timer went with it. */
    assert_int_equal(tw_worker_next_deadline(&worker), TW_NS_NEVER);
}

static void test_worker_killed_slot_reused_new_generation(void **state)
{
    tw_addr a = spawn_recorder(0);
    send_system(TW_MSG_KILL, a, 3, NULL, 0);
    tw_addr b = spawn_recorder(0);
    assert_int_equal(tw_addr_slot(b), tw_addr_slot(a));
    assert_int_equal(tw_addr_gen(b), (tw_addr_gen(a) + 1) & 0xff);
    assert_int_not_equal(b, a);
    /* A second kill of the old address reaches nobody and is counted. */
    send_system(TW_MSG_KILL, a, 4, NULL, 0);
    assert_int_equal(outs.n, 0);
    assert_int_equal(shutdowns, 1);
    assert_non_null(tw_worker_task(&worker, b));
    assert_int_equal(worker.status.drops, 1);
}

static void test_worker_system_msg_not_taken_counted(void **state)
{
    tw_addr self = harness_worker_addr(WORKER_ID);
    send_system(TW_MSG_SPAWNED, self, 0, NULL, 0);
    send_system(TW_MSG_STATUS, self, 0, NULL, 0);
    send_system(TW_MSG_EXITED, self, 0, NULL, 0);
    send_system(TW_MSG_APP - 1, self, 0, NULL, 0);
    assert_int_equal(outs.n, 0);
    assert_int_equal(worker.status.drops, 4);
    assert_int_equal(worker.status.inputs, 4);
}

static void test_worker_rng_stream_per_worker_id(void **state)
{
    tw_worker other, same;
    tw_worker_config cfg = config_template;
    cfg.id = WORKER_ID + 1;
    tw_worker_init(&other, &cfg, 0);
    tw_worker_init(&same, &config_template, 0);
    uint64_t x = tw_rng_next(tw_worker_rng(&worker));
    assert_int_equal(tw_rng_next(tw_worker_rng(&same)), x);
    assert_int_not_equal(tw_rng_next(tw_worker_rng(&other)), x);
    /* A task draws from its worker's stream. */
    tw_addr a = spawn_recorder(0);
    assert_ptr_equal(tw_task_rng(tw_worker_task(&worker, a)), tw_worker_rng(&worker));
    tw_worker_free(&other);
    tw_worker_free(&same);
}

int main(void)
{
#define WORKER_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_worker, teardown_worker)
    const struct CMUnitTest tests[] = {
        WORKER_TEST(test_worker_spawn_start_carries_args),
        WORKER_TEST(test_worker_spawn_addr_encodes_endpoint_slot_gen),
        WORKER_TEST(test_worker_spawn_msg_acks_requester),
        WORKER_TEST(test_worker_spawn_msg_slots_exhausted_enomem),
        WORKER_TEST(test_worker_spawn_msg_unknown_type_einval),
        WORKER_TEST(test_worker_spawn_msg_state_too_big_etoobig),
        WORKER_TEST(test_worker_direct_msg_reaches_only_target),
        WORKER_TEST(test_worker_direct_echo_reply_routed_to_sender),
        WORKER_TEST(test_worker_exited_stale_addr_dropped),
        WORKER_TEST(test_worker_exit_output_notifies_controller),
        WORKER_TEST(test_worker_group_msg_members_only),
        WORKER_TEST(test_worker_group_msg_each_member_replies),
        WORKER_TEST(test_worker_publish_subscribers_only),
        WORKER_TEST(test_worker_unsubscribed_publish_not_delivered),
        WORKER_TEST(test_worker_exited_subscriber_slot_not_inherited),
        WORKER_TEST(test_worker_channel_table_full_drop_counted),
        WORKER_TEST(test_worker_timer_armed_fires_once),
        WORKER_TEST(test_worker_timer_far_fires_at_exact_deadline),
        WORKER_TEST(test_worker_timer_never_cancels),
        WORKER_TEST(test_worker_timer_rearm_moves_deadline),
        WORKER_TEST(test_worker_pending_outputs_input_asserts),
        WORKER_TEST(test_worker_dirty_switcher_polls_only_touched),
        WORKER_TEST(test_worker_task_send_source_not_spoofable),
        WORKER_TEST(test_worker_status_req_reports_counts),
        WORKER_TEST(test_worker_status_req_carries_driver_stats),
        WORKER_TEST(test_worker_kill_shutdown_and_exited_notice),
        WORKER_TEST(test_worker_killed_slot_reused_new_generation),
        WORKER_TEST(test_worker_system_msg_not_taken_counted),
        WORKER_TEST(test_worker_rng_stream_per_worker_id),
    };
#undef WORKER_TEST
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
