#include "sim/sim.h"

#include <string.h>

#include "base/assert.h"
#include "base/hash.h"
#include "base/mem.h"

const tw_cost_profile tw_cost_profile_default = {
    .msg = {.base_ns = 120, .ps_per_byte = 250},
    .timer = {.base_ns = 60, .ps_per_byte = 0},
    .output = {.base_ns = 40, .ps_per_byte = 100},
};

enum { WORK_NONE = 0, WORK_INPUT = 1, WORK_TICK = 2, WORK_DROP = 3 };

void tw_sim_config_default(tw_sim_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 1;
    cfg->cores = 4;
    cfg->cost = tw_cost_profile_default;
    cfg->bus_latency_local_ns = 50;
    cfg->bus_latency_ns = 400;
    cfg->inbox_capacity = 4096;
    cfg->inflight_max = 1u << 16;
    cfg->event_capacity = 1u << 18;
    cfg->worker.max_tasks = 1024;
    cfg->worker.task_state_max = 1024;
    cfg->worker.max_channels = 16;
    cfg->worker.outq_max = 256;
    cfg->controller.outq_max = 4096;
}

static uint32_t core_index(const tw_sim *s, uint32_t endpoint)
{
    if (endpoint == TW_ENDPOINT_CONTROLLER) {
        return s->cfg.cores;
    }
    TW_ASSERT(endpoint < s->cfg.cores);
    return endpoint;
}

void tw_sim_init(tw_sim *s, const tw_sim_config *cfg)
{
    TW_ASSERT(cfg->cores > 0);
    TW_ASSERT(cfg->cores < TW_ENDPOINTS_MAX);
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    s->trace_hash = tw_hash_fold(TW_TRACE_HASH_INIT, cfg->seed);
    tw_evq_init(&s->q, cfg->event_capacity);
    tw_pool_init(&s->flight, cfg->inflight_max, sizeof(tw_msg));
    uint32_t n = cfg->cores;
    s->cores = tw_mem_calloc(n + 1, sizeof(tw_sim_core));
    s->workers = tw_mem_calloc(n, sizeof(tw_worker));
    for (uint32_t i = 0; i <= n; i++) {
        tw_sim_core *c = &s->cores[i];
        c->endpoint = i < n ? i : TW_ENDPOINT_CONTROLLER;
        c->is_controller = i == n;
        c->wake_at = TW_NS_NEVER;
        tw_mailbox_init(&c->inbox, cfg->inbox_capacity);
    }
    for (uint32_t i = 0; i < n; i++) {
        tw_worker_config wc = cfg->worker;
        wc.id = i;
        wc.seed = cfg->seed;
        tw_worker_init(&s->workers[i], &wc, 0);
    }
    tw_controller_config cc = cfg->controller;
    cc.workers = n;
    tw_controller_init(&s->controller, &cc);
    /* The controller's start is its first deadline. */
    s->cores[n].wake_pending = true;
    s->cores[n].wake_at = tw_controller_next_deadline(&s->controller);
    if (s->cores[n].wake_at != TW_NS_NEVER) {
        tw_evq_push(&s->q, s->cores[n].wake_at, TW_SIM_EV_WAKE, n, ++s->cores[n].wake_gen);
    } else {
        s->cores[n].wake_pending = false;
    }
}

void tw_sim_free(tw_sim *s)
{
    for (uint32_t i = 0; i < s->cfg.cores; i++) {
        tw_worker_free(&s->workers[i]);
    }
    tw_controller_free(&s->controller);
    for (uint32_t i = 0; i <= s->cfg.cores; i++) {
        tw_mailbox_free(&s->cores[i].inbox);
    }
    tw_mem_free(s->workers);
    tw_mem_free(s->cores);
    tw_pool_free(&s->flight);
    tw_evq_free(&s->q);
}

void tw_sim_set_hook(tw_sim *s, tw_sim_hook hook, void *ctx)
{
    s->hook = hook;
    s->hook_ctx = ctx;
}

static tw_ns cost_of(tw_cost c, uint32_t bytes)
{
    return (tw_ns)c.base_ns + ((tw_ns)bytes * c.ps_per_byte) / 1000u;
}

/* The node behind a core: the four verbs, for a worker or the controller. */
static tw_ns node_deadline(tw_sim *s, uint32_t ci)
{
    return s->cores[ci].is_controller ? tw_controller_next_deadline(&s->controller)
                                      : tw_worker_next_deadline(&s->workers[ci]);
}

static bool node_pop(tw_sim *s, uint32_t ci, tw_ns now, tw_output *out)
{
    return s->cores[ci].is_controller ? tw_controller_pop_output(&s->controller, now, out)
                                      : tw_worker_pop_output(&s->workers[ci], now, out);
}

static void schedule_wake(tw_sim *s, uint32_t ci, tw_ns at)
{
    tw_sim_core *c = &s->cores[ci];
    if (at == TW_NS_NEVER || (c->wake_pending && c->wake_at <= at)) {
        return;
    }
    /* A later pending wake becomes stale: its generation no longer matches. */
    c->wake_pending = true;
    c->wake_at = at;
    c->wake_gen++;
    int rc = tw_evq_push(&s->q, at, TW_SIM_EV_WAKE, ci, c->wake_gen);
    TW_ASSERT(rc == 0); /* event capacity is sized above the worst case */
}

/* Sends one output from core ci, departing at `depart`. */
static void route(tw_sim *s, uint32_t ci, tw_ns depart, const tw_msg *m)
{
    uint32_t first;
    uint32_t n = tw_bus_fanout(m, s->cfg.cores, &first);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t target = core_index(s, first + i);
        tw_msg *slot = tw_pool_take(&s->flight);
        if (slot == NULL) {
            s->msgs_lost++;
            continue;
        }
        *slot = *m;
        tw_ns lat = target == ci ? s->cfg.bus_latency_local_ns : s->cfg.bus_latency_ns;
        if (tw_evq_push(&s->q, depart + lat, TW_SIM_EV_ARRIVE, target,
                        tw_pool_index(&s->flight, slot)) < 0) {
            tw_pool_put(&s->flight, slot);
            s->msgs_lost++;
            continue;
        }
        s->msgs_sent++;
    }
}

/* One unit of work on an idle core at time t: a due tick first (timers are
 * older than anything that could arrive now), else the oldest message:
 * `arrived` when the caller found the inbox empty and the core idle (it is
 * taken straight from the event, saving two copies), else the inbox head.
 * Fills rec with what was done. */
static void run_core(tw_sim *s, uint32_t ci, tw_ns t, const tw_msg *arrived, tw_sim_record *rec)
{
    tw_sim_core *c = &s->cores[ci];
    if (c->busy_until > t) {
        schedule_wake(s, ci, c->busy_until);
        return;
    }
    tw_ns cost = 0;
    tw_ns deadline = node_deadline(s, ci);
    /* The caller hands a message over only when no tick is due. */
    TW_ASSERT(arrived == NULL || deadline > t);
    if (deadline <= t) {
        rec->work = WORK_TICK;
        c->ticks++;
        if (c->is_controller) {
            tw_controller_on_tick(&s->controller, t);
            cost = cost_of(s->cfg.cost.timer, 0);
        } else {
            tw_worker *w = &s->workers[ci];
            uint64_t before = w->status.timers_fired;
            tw_worker_on_tick(w, t);
            /* A wake at a wheel's lower bound fires nothing and costs
             * nothing: it only cascaded timers. */
            cost = (w->status.timers_fired - before) * cost_of(s->cfg.cost.timer, 0);
        }
    } else {
        tw_input in = {.kind = TW_IN_MSG, .msg = arrived};
        TW_ASSERT(arrived == NULL || tw_mailbox_len(&c->inbox) == 0);
        if (arrived == NULL) {
            in.msg = tw_ring_peek(&c->inbox.ring);
            if (in.msg == NULL) {
                schedule_wake(s, ci, deadline);
                return;
            }
        }
        rec->work = WORK_INPUT;
        rec->msg_type = in.msg->type;
        c->inputs++;
        cost = cost_of(s->cfg.cost.msg, in.msg->len);
        if (c->is_controller) {
            tw_controller_on_input(&s->controller, t, &in);
        } else {
            tw_worker *w = &s->workers[ci];
            tw_worker_driver_stats(w, c->busy_ns, tw_mailbox_len(&c->inbox),
                                   c->inbox.ring.high_water, c->inbox.drops);
            tw_worker_on_input(w, t, &in);
        }
        if (arrived == NULL) {
            tw_mailbox_pop(&c->inbox, NULL);
        }
    }
    tw_output out;
    while (node_pop(s, ci, t, &out)) {
        TW_ASSERT(out.kind == TW_OUT_MSG);
        cost += cost_of(s->cfg.cost.output, out.msg.len);
        rec->outputs++;
        route(s, ci, t + cost, &out.msg);
    }
    rec->cost_ns = (uint32_t)(cost > UINT32_MAX ? UINT32_MAX : cost);
    c->busy_ns += cost;
    c->busy_until = t + cost;
    tw_ns next = tw_mailbox_len(&c->inbox) ? c->busy_until
                                           : tw_ns_max(node_deadline(s, ci), c->busy_until);
    schedule_wake(s, ci, next);
}

static void fold(tw_sim *s, tw_sim_record *rec)
{
    uint64_t h = s->trace_hash;
    h = tw_hash_fold(h, rec->time);
    h = tw_hash_fold(h, ((uint64_t)rec->kind << 56) | ((uint64_t)rec->work << 48) |
                            ((uint64_t)rec->core << 32) | rec->msg_type);
    h = tw_hash_fold(h, ((uint64_t)rec->outputs << 32) | rec->cost_ns);
    s->trace_hash = h;
    rec->hash = h;
}

bool tw_sim_step(tw_sim *s, tw_ns until)
{
    for (;;) {
        if (tw_evq_peek_time(&s->q) > until) {
            return false;
        }
        tw_event ev;
        tw_evq_pop(&s->q, &ev);
        TW_ASSERT(ev.time >= s->now);
        s->now = ev.time;
        tw_sim_core *c = &s->cores[ev.target];
        tw_sim_record rec = {.index = s->events, .time = ev.time, .kind = ev.kind,
                             .core = ev.target};
        if (ev.kind == TW_SIM_EV_WAKE) {
            if (!c->wake_pending || ev.arg != c->wake_gen) {
                s->stale++;
                continue; /* superseded by an earlier wake */
            }
            c->wake_pending = false;
            c->wake_at = TW_NS_NEVER;
            run_core(s, ev.target, ev.time, NULL, &rec);
        } else {
            TW_ASSERT(ev.kind == TW_SIM_EV_ARRIVE);
            tw_msg *m = tw_pool_at(&s->flight, ev.arg);
            rec.msg_type = m->type;
            if (c->busy_until <= ev.time && tw_mailbox_len(&c->inbox) == 0 &&
                node_deadline(s, ev.target) > ev.time) {
                /* Idle with nothing queued: the same as queueing it and
                 * taking the head, without the copies. */
                run_core(s, ev.target, ev.time, m, &rec);
            } else if (tw_mailbox_push(&c->inbox, m) < 0) {
                rec.work = WORK_DROP;
                s->inbox_drops++;
            } else {
                run_core(s, ev.target, ev.time, NULL, &rec);
            }
            tw_pool_put(&s->flight, m);
        }
        s->events++;
        fold(s, &rec);
        if (s->hook) {
            s->hook(s->hook_ctx, &rec);
        }
        return true;
    }
}

void tw_sim_run_until(tw_sim *s, tw_ns until)
{
    while (tw_sim_step(s, until)) {
    }
    if (until != TW_NS_NEVER && until > s->now) {
        s->now = until;
    }
}
