/* The simulator kernel: event order, core cost accounting, bounded inboxes,
 * bus latency, and the trace hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/error.h"
#include "base/rng.h"
#include "sim/evq.h"
#include "sim/sim.h"

/* ---- event queue ---- */

static void test_sim_evq_orders_by_time_then_sequence(void **state)
{
    tw_evq q;
    tw_evq_init(&q, 4096);
    tw_rng rng;
    tw_rng_init(&rng, 7, 0);
    for (uint32_t i = 0; i < 4000; i++) {
        /* Few distinct times, so ties are common. */
        assert_int_equal(tw_evq_push(&q, tw_rng_below(&rng, 50), 0, i, i), 0);
    }
    tw_event prev = {0}, ev;
    bool first = true;
    uint32_t n = 0;
    while (tw_evq_pop(&q, &ev)) {
        if (!first) {
            assert_true(ev.time >= prev.time);
            if (ev.time == prev.time) {
                /* Simultaneous events come out in the order they were pushed. */
                assert_true(ev.seq > prev.seq);
                assert_true(ev.arg > prev.arg);
            }
        }
        prev = ev;
        first = false;
        n++;
    }
    assert_int_equal(n, 4000);
    tw_evq_free(&q);
}

static void test_sim_evq_peek_then_earlier_push(void **state)
{
    tw_evq q;
    tw_evq_init(&q, 16);
    tw_evq_push(&q, 1000, 0, 0, 1);
    tw_evq_push(&q, 3000, 0, 0, 2);
    assert_int_equal(tw_evq_peek_time(&q), 1000);
    /* A peek does not move the queue's time: a driver may still schedule
     * something earlier than what it saw. */
    tw_evq_push(&q, 500, 0, 0, 3);
    assert_int_equal(tw_evq_peek_time(&q), 500);
    tw_event ev;
    uint32_t order[4];
    int n = 0;
    while (tw_evq_pop(&q, &ev)) {
        order[n++] = ev.arg;
        if (ev.arg == 3) {
            /* Scheduling at exactly the current time, between pops. */
            tw_evq_push(&q, 500, 0, 0, 4);
        }
    }
    assert_int_equal(n, 4);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 4);
    assert_int_equal(order[2], 1);
    assert_int_equal(order[3], 2);
    assert_int_equal(tw_evq_peek_time(&q), TW_NS_NEVER);
    tw_evq_free(&q);
}

/* A peek remembers the earliest time; an event pushed at the queue's own
 * time lowers it, and when that event is popped the memory must go with
 * it. It did not: the next refill took the stale time for the earliest,
 * re-filed nothing lower and fired "nb < b" (found by `twin fuzz`: two
 * UDP clients on a two-core host). */
static void test_sim_evq_peek_forgets_popped_event(void **state)
{
    tw_evq q;
    tw_evq_init(&q, 8);
    tw_event ev;
    tw_evq_push(&q, 1000, 0, 0, 1);
    tw_evq_push(&q, 3000, 0, 0, 2);
    assert_true(tw_evq_pop(&q, &ev));
    assert_int_equal(ev.arg, 1);
    assert_int_equal(tw_evq_peek_time(&q), 3000);
    tw_evq_push(&q, 1000, 0, 0, 3); /* at the queue's time: bucket 0 */
    assert_int_equal(tw_evq_peek_time(&q), 1000);
    assert_true(tw_evq_pop(&q, &ev));
    assert_int_equal(ev.arg, 3);
    assert_int_equal(tw_evq_peek_time(&q), 3000);
    assert_true(tw_evq_pop(&q, &ev));
    assert_int_equal(ev.arg, 2);
    assert_int_equal(ev.time, 3000);
    assert_false(tw_evq_pop(&q, &ev));
    tw_evq_free(&q);
}

static void test_sim_evq_random_against_reference(void **state)
{
    /* A driver loop over a wide spread of times, with cancels (a wake an
     * earlier one replaced): every pop is the (time, seq) minimum of what
     * is queued, checked by brute force, and so is every peek. */
    enum { N = 2000 };
    static tw_event ref[N];
    uint32_t nref = 0;
    tw_evq q;
    tw_evq_init(&q, N);
    tw_rng rng;
    tw_rng_init(&rng, 11, 0);
    tw_ns now = 0;
    uint64_t seq = 0;
    for (int step = 0; step < 200000; step++) {
        if (nref < N && (nref == 0 || tw_rng_below(&rng, 2))) {
            tw_ns t = now + (tw_rng_below(&rng, 4) ? tw_rng_below(&rng, 1000)
                                                   : tw_rng_below(&rng, 1ull << 40));
            uint32_t node;
            assert_int_equal(tw_evq_push_node(&q, t, 0, 0, 0, &node), 0);
            ref[nref++] = (tw_event){.time = t, .seq = seq++, .arg = node};
            continue;
        }
        if (tw_rng_below(&rng, 8) == 0) {
            uint32_t k = (uint32_t)tw_rng_below(&rng, nref);
            tw_evq_cancel(&q, ref[k].arg);
            ref[k] = ref[--nref];
            continue;
        }
        uint32_t best = 0;
        for (uint32_t i = 1; i < nref; i++) {
            if (ref[i].time < ref[best].time ||
                (ref[i].time == ref[best].time && ref[i].seq < ref[best].seq)) {
                best = i;
            }
        }
        assert_int_equal(tw_evq_peek_time(&q), nref ? ref[best].time : TW_NS_NEVER);
        if (nref == 0) {
            continue;
        }
        tw_event ev;
        assert_true(tw_evq_pop(&q, &ev));
        assert_int_equal(ev.time, ref[best].time);
        assert_int_equal(ev.seq, ref[best].seq);
        now = ev.time;
        ref[best] = ref[--nref];
    }
    tw_evq_free(&q);
}

static void test_sim_evq_cancel_takes_events_out(void **state)
{
    tw_evq q;
    tw_evq_init(&q, 8);
    uint32_t a, b, c;
    tw_evq_push_node(&q, 100, 0, 0, 1, &a);
    tw_evq_push_node(&q, 100, 0, 0, 2, &b);
    tw_evq_push_node(&q, 5000, 0, 0, 3, &c);
    assert_int_equal(tw_evq_peek_time(&q), 100);
    tw_evq_cancel(&q, a);
    tw_evq_cancel(&q, b);
    /* The remembered earliest time went with them. */
    assert_int_equal(tw_evq_peek_time(&q), 5000);
    assert_int_equal(q.len, 1);
    /* Freed nodes are reused: a full queue after cancels still takes 7. */
    for (int i = 0; i < 7; i++) {
        assert_int_equal(tw_evq_push(&q, 6000 + (tw_ns)i, 0, 0, 10 + (uint32_t)i), 0);
    }
    assert_int_equal(tw_evq_push(&q, 1, 0, 0, 0), -TW_EFULL);
    tw_event ev;
    assert_true(tw_evq_pop(&q, &ev));
    assert_int_equal(ev.arg, 3);
    for (uint32_t i = 0; i < 7; i++) {
        assert_true(tw_evq_pop(&q, &ev));
        assert_int_equal(ev.arg, 10 + i);
    }
    /* A cancel in the middle of a bucket keeps the others in order. */
    uint32_t x, y, z;
    tw_evq_push_node(&q, 7000, 0, 0, 21, &x);
    tw_evq_push_node(&q, 7000, 0, 0, 22, &y);
    tw_evq_push_node(&q, 7000, 0, 0, 23, &z);
    tw_evq_cancel(&q, y);
    assert_true(tw_evq_pop(&q, &ev));
    assert_int_equal(ev.arg, 21);
    assert_true(tw_evq_pop(&q, &ev));
    assert_int_equal(ev.arg, 23);
    assert_false(tw_evq_pop(&q, &ev));
    tw_evq_free(&q);
}

static void test_sim_evq_full_refuses_and_counts(void **state)
{
    tw_evq q;
    tw_evq_init(&q, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tw_evq_push(&q, 10 - (tw_ns)i, 0, 0, 0), 0);
    }
    assert_int_equal(tw_evq_push(&q, 1, 0, 0, 0), -TW_EFULL);
    assert_int_equal(q.overflows, 1);
    assert_int_equal(tw_evq_peek_time(&q), 8);
    tw_evq_free(&q);
}

/* ---- a tiny world: a sink task that records when each message was taken,
 * an echo task, and a controller program that fires a burst at the sink. */

enum { T_SINK, T_ECHO, T_TYPES };
enum { M_DATA = TW_MSG_APP, M_PING, M_PONG };

#define SINK_MAX 64

typedef struct sink {
    uint32_t n;
    tw_ns at[SINK_MAX];
    tw_ns period; /* when set, the sink ticks on this grid */
    bool arm;
    uint64_t ticks;
} sink;

static void sink_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    sink *s = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        memcpy(&s->period, in->msg->data, sizeof(s->period));
        s->arm = s->period != 0;
    } else if (s->n < SINK_MAX) {
        s->at[s->n++] = now;
    }
}
static void sink_tick(tw_task *t, tw_ns now)
{
    sink *s = tw_task_state(t);
    s->ticks++;
    s->arm = true;
}
static bool sink_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    sink *s = tw_task_state(t);
    if (!s->arm) {
        return false;
    }
    s->arm = false;
    tw_task_out_timer(out, (now / s->period + 1) * s->period);
    return true;
}
static void no_tick(tw_task *t, tw_ns now) {}

typedef struct echo {
    tw_task_outq q;
} echo;

static void echo_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    echo *e = tw_task_state(t);
    if (in->kind == TW_TIN_MSG && in->msg->type == M_PING) {
        tw_task_output o;
        tw_task_out_send(&o, t->addr, TW_MSG_DIRECT, in->msg->source, M_PONG, NULL, 0);
        tw_task_outq_push(&e->q, &o);
    }
}
static bool echo_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    return tw_task_outq_pop(&((echo *)tw_task_state(t))->q, out);
}

static const tw_task_ops sink_ops = {"sink", sizeof(sink), sink_input, sink_tick, sink_pop, NULL};
static const tw_task_ops echo_ops = {"echo", sizeof(echo), echo_input, no_tick, echo_pop, NULL};
static const tw_task_ops *const types[T_TYPES] = {&sink_ops, &echo_ops};
static const tw_task_registry registry = {types, T_TYPES};

typedef struct world {
    uint32_t burst;        /* messages to fire at the sink once it is up */
    uint32_t sink_worker;
    tw_addr sink;
    tw_ns acked_at;
    tw_ns pong_at;
    bool ping;             /* also spawn an echo on worker 1 and ping it */
    tw_ns sink_period;     /* the sink's timer grid; 0 for none */
} world;

static void w_start(tw_controller *c, tw_ns now, void *ctx)
{
    world *w = ctx;
    tw_controller_spawn(c, T_SINK, 0, w->sink_worker, &w->sink_period, sizeof(w->sink_period));
    if (w->ping) {
        tw_controller_spawn(c, T_ECHO, 0, 1, NULL, 0);
    }
}

static void w_spawned(tw_controller *c, tw_ns now, void *ctx, uint64_t req, const tw_spawn_ack *a)
{
    world *w = ctx;
    assert_int_equal(a->status, 0);
    if (a->type == T_SINK) {
        w->sink = a->addr;
        w->acked_at = now;
        for (uint32_t i = 0; i < w->burst; i++) {
            tw_controller_send(c, TW_MSG_DIRECT, a->addr, M_DATA, NULL, 0);
        }
    } else {
        w->acked_at = now;
        tw_controller_send(c, TW_MSG_DIRECT, a->addr, M_PING, NULL, 0);
    }
}

static void w_message(tw_controller *c, tw_ns now, void *ctx, const tw_msg *m)
{
    world *w = ctx;
    if (m->type == M_PONG) {
        w->pong_at = now;
    }
}

static const tw_controller_program program = {
    .on_start = w_start, .on_spawned = w_spawned, .on_message = w_message};

static void setup_sim(tw_sim *s, world *w, uint32_t cores, uint64_t seed)
{
    tw_sim_config cfg;
    tw_sim_config_default(&cfg);
    cfg.seed = seed;
    cfg.cores = cores;
    /* Round numbers so every expected time can be written down. */
    cfg.cost.msg = (tw_cost){.base_ns = 100, .ps_per_byte = 0};
    cfg.cost.timer = (tw_cost){.base_ns = 10, .ps_per_byte = 0};
    cfg.cost.output = (tw_cost){.base_ns = 0, .ps_per_byte = 0};
    cfg.bus_latency_local_ns = 5;
    cfg.bus_latency_ns = 1000;
    cfg.inbox_capacity = 4;
    cfg.worker.registry = &registry;
    cfg.worker.max_tasks = 8;
    cfg.controller.registry = &registry;
    cfg.controller.program = &program;
    cfg.controller.program_ctx = w;
    cfg.controller.start_ns = 0;
    tw_sim_init(s, &cfg);
}

static sink *sink_state(tw_sim *s, const world *w)
{
    tw_task *t = tw_worker_task(tw_sim_worker(s, w->sink_worker), w->sink);
    assert_non_null(t);
    return tw_task_state(t);
}

static void test_sim_core_busy_delays_later_inputs(void **state)
{
    static tw_sim s;
    world w = {.burst = 4, .sink_worker = 0};
    setup_sim(&s, &w, 2, 1);
    tw_sim_run_until(&s, TW_MS(1));
    sink *k = sink_state(&s, &w);
    assert_int_equal(k->n, 4);
    /* The controller sends the burst when the ack arrives (taking 100 ns);
     * all four leave at once and arrive together 1000 ns later; the core
     * takes them one per 100 ns of cost. */
    tw_ns arrive = w.acked_at + 100 + 1000;
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(k->at[i], arrive + 100 * i);
    }
    const tw_sim_core *c = tw_sim_core_at(&s, 0);
    /* spawn + four messages, 100 ns each */
    assert_int_equal(c->busy_ns, 500);
    assert_int_equal(c->inputs, 5);
    tw_sim_free(&s);
}

static void test_sim_inbox_overflow_is_counted(void **state)
{
    static tw_sim s;
    world w = {.burst = 10, .sink_worker = 0};
    setup_sim(&s, &w, 1, 1);
    tw_sim_run_until(&s, TW_MS(1));
    sink *k = sink_state(&s, &w);
    /* The first arrival is taken at once; four wait in the inbox; the
     * remaining five find it full. */
    assert_int_equal(k->n, 5);
    assert_int_equal(s.inbox_drops, 5);
    assert_int_equal(tw_sim_core_at(&s, 0)->inbox.drops, 5);
    assert_int_equal(tw_sim_core_at(&s, 0)->inbox.ring.high_water, 4);
    tw_sim_free(&s);
}

static void test_sim_bus_latency_sets_round_trip(void **state)
{
    static tw_sim s;
    world w = {.burst = 0, .sink_worker = 0, .ping = true};
    setup_sim(&s, &w, 2, 1);
    tw_sim_run_until(&s, TW_MS(1));
    assert_true(w.pong_at != 0);
    /* controller takes the ack (100) -> 1000 -> echo takes the ping (100)
     * -> 1000 -> the pong is taken at arrival. */
    assert_int_equal(w.pong_at, w.acked_at + 100 + 1000 + 100 + 1000);
    tw_sim_free(&s);
}

static void test_sim_arrival_at_a_due_tick_is_not_lost(void **state)
{
    static tw_sim s;
    /* The controller's start tick (10 ns) puts the burst's arrival at 3210 ns,
     * on the sink's 107 ns timer grid: the core must tick first and still
     * take every message after. */
    world w = {.burst = 4, .sink_worker = 0, .sink_period = 107};
    setup_sim(&s, &w, 1, 1);
    tw_sim_run_until(&s, TW_US(10));
    sink *k = sink_state(&s, &w);
    assert_int_equal(k->n, 4);
    assert_int_equal(s.inbox_drops, 0);
    assert_true(k->ticks >= 80);
    assert_int_equal((w.acked_at + 1100) % 107, 0);
    assert_int_equal(k->at[0], w.acked_at + 100 + 1000 + 10);
    tw_sim_free(&s);
}

static uint64_t run_hash(uint64_t seed, uint32_t cores, uint64_t *events)
{
    static tw_sim s;
    world w = {.burst = 3, .sink_worker = cores - 1, .ping = cores > 1};
    setup_sim(&s, &w, cores, seed);
    tw_sim_run_until(&s, TW_MS(1));
    uint64_t h = s.trace_hash;
    *events = s.events;
    tw_sim_free(&s);
    return h;
}

static void test_sim_trace_hash_same_seed_same_hash(void **state)
{
    uint64_t e1, e2, e3;
    uint64_t a = run_hash(42, 3, &e1);
    uint64_t b = run_hash(42, 3, &e2);
    assert_true(e1 > 5);
    assert_int_equal(e1, e2);
    assert_int_equal(a, b);
    /* The seed enters the hash, and so does the shape of the world. */
    assert_int_not_equal(run_hash(43, 3, &e3), a);
    assert_int_not_equal(run_hash(42, 2, &e3), a);
}

static void record_hook(void *ctx, const tw_sim_record *rec)
{
    tw_sim_record *last = ctx;
    /* Records come in index order with non-decreasing time. */
    assert_int_equal(rec->index, last->index + (last->hash ? 1 : 0));
    assert_true(rec->time >= last->time);
    *last = *rec;
}

static void test_sim_hook_sees_every_event_in_order(void **state)
{
    static tw_sim s;
    world w = {.burst = 3, .sink_worker = 0, .ping = true};
    setup_sim(&s, &w, 2, 9);
    tw_sim_record last = {0};
    tw_sim_set_hook(&s, record_hook, &last);
    tw_sim_run_until(&s, TW_MS(1));
    assert_int_equal(last.index + 1, s.events);
    assert_int_equal(last.hash, s.trace_hash);
    tw_sim_free(&s);
}

static void test_sim_run_until_stops_at_the_bound(void **state)
{
    static tw_sim s;
    world w = {.burst = 4, .sink_worker = 0};
    setup_sim(&s, &w, 1, 1);
    /* Stop before the burst is fully taken; the rest stays queued. */
    tw_sim_run_until(&s, 100 + 1000 + 100 + 50);
    assert_int_equal(s.now, 1250);
    assert_true(tw_evq_peek_time(&s.q) > 1250);
    tw_sim_run_until(&s, TW_MS(1));
    assert_int_equal(sink_state(&s, &w)->n, 4);
    tw_sim_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_evq_orders_by_time_then_sequence),
        cmocka_unit_test(test_sim_evq_full_refuses_and_counts),
        cmocka_unit_test(test_sim_evq_peek_then_earlier_push),
        cmocka_unit_test(test_sim_evq_peek_forgets_popped_event),
        cmocka_unit_test(test_sim_evq_cancel_takes_events_out),
        cmocka_unit_test(test_sim_evq_random_against_reference),
        cmocka_unit_test(test_sim_core_busy_delays_later_inputs),
        cmocka_unit_test(test_sim_inbox_overflow_is_counted),
        cmocka_unit_test(test_sim_bus_latency_sets_round_trip),
        cmocka_unit_test(test_sim_arrival_at_a_due_tick_is_not_lost),
        cmocka_unit_test(test_sim_trace_hash_same_seed_same_hash),
        cmocka_unit_test(test_sim_hook_sees_every_event_in_order),
        cmocka_unit_test(test_sim_run_until_stops_at_the_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
