#include "sim/sim.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/mem.h"
#include "link/link.h"

const tw_cost_profile tw_cost_profile_default = {
    .msg = {.base_ns = 120, .ps_per_byte = 250},
    .timer = {.base_ns = 60, .ps_per_byte = 0},
    .output = {.base_ns = 40, .ps_per_byte = 100},
    .frame = {.base_ns = 250, .ps_per_byte = 150},
};

_Static_assert(TW_SIM_DROP_LINK_POOL - TW_SIM_DROP_LINK_QUEUE_BYTES ==
                   TW_LINK_DROP_POOL - TW_LINK_DROP_QUEUE_BYTES,
               "link drop reasons mirror tw_link_drop");
_Static_assert(TW_SIM_DROP_LINK_QUEUE_BYTES + TW_LINK_DROP_COUNT == TW_SIM_DROP_NO_LINK,
               "every link drop reason has its sim reason");

static const char *const drop_names[] = {
#define TW_SIM_DROP_NAME(id, name, what) name,
    TW_SIM_DROPS(TW_SIM_DROP_NAME)
#undef TW_SIM_DROP_NAME
};
static const char *const drop_whats[] = {
#define TW_SIM_DROP_WHAT(id, name, what) what,
    TW_SIM_DROPS(TW_SIM_DROP_WHAT)
#undef TW_SIM_DROP_WHAT
};

const char *tw_sim_drop_name(tw_sim_drop reason)
{
    return (unsigned)reason < TW_SIM_DROP_COUNT ? drop_names[reason] : "?";
}

const char *tw_sim_drop_what(tw_sim_drop reason)
{
    return (unsigned)reason < TW_SIM_DROP_COUNT ? drop_whats[reason] : "?";
}

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

static void schedule_wake(tw_sim *s, uint32_t ci, tw_ns at);

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
    s->ext = cfg->ext;
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
        if (cfg->ext) {
            tw_ring_init(&c->stamps, cfg->inbox_capacity, sizeof(uint64_t));
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        tw_worker_config wc = cfg->worker;
        wc.id = i;
        wc.seed = cfg->seed;
        if (cfg->ext && cfg->ext->worker_config) {
            cfg->ext->worker_config(cfg->ext->ctx, i, &wc);
        }
        tw_worker_init(&s->workers[i], &wc, 0);
    }
    tw_controller_config cc = cfg->controller;
    cc.workers = n;
    tw_controller_init(&s->controller, &cc);
    /* The controller's start is its first deadline. */
    schedule_wake(s, n, tw_controller_next_deadline(&s->controller));
}

void tw_sim_free(tw_sim *s)
{
    for (uint32_t i = 0; i < s->cfg.cores; i++) {
        if (!s->cores[i].down) { /* a crashed host's workers are freed already */
            tw_worker_free(&s->workers[i]);
        }
    }
    tw_controller_free(&s->controller);
    for (uint32_t i = 0; i <= s->cfg.cores; i++) {
        tw_mailbox_free(&s->cores[i].inbox);
        tw_ring_free(&s->cores[i].stamps);
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

/* The node behind a core: the four verbs, for a worker or the controller.
 * The deadline is asked once after each run and remembered (see
 * tw_sim_core.deadline). */
static tw_ns node_deadline(tw_sim *s, uint32_t ci)
{
    tw_sim_core *c = &s->cores[ci];
    if (!c->deadline_known) {
        c->deadline = c->is_controller ? tw_controller_next_deadline(&s->controller)
                                       : tw_worker_next_deadline(&s->workers[ci]);
        c->deadline_known = true;
    }
    return c->deadline;
}

static void node_changed(tw_sim_core *c)
{
    c->deadline_known = false;
}

static bool node_pop(tw_sim *s, uint32_t ci, tw_ns now, tw_output *out)
{
    return s->cores[ci].is_controller ? tw_controller_pop_output(&s->controller, now, out)
                                      : tw_worker_pop_output(&s->workers[ci], now, out);
}

static void schedule_wake(tw_sim *s, uint32_t ci, tw_ns at)
{
    tw_sim_core *c = &s->cores[ci];
    if (at == TW_NS_NEVER || c->down || (c->wake_pending && c->wake_at <= at)) {
        return;
    }
    if (c->wake_pending) {
        /* An earlier wake replaces the later one, which leaves the queue:
         * at ten gigabits a core would otherwise strand a wake for every
         * frame that comes before its next timer. */
        tw_evq_cancel(&s->q, c->wake_node);
    }
    c->wake_pending = true;
    c->wake_at = at;
    c->wake_gen = ++c->gen_next;
    int rc = tw_evq_push_node(&s->q, at, TW_SIM_EV_WAKE, (uint16_t)ci, c->wake_gen, &c->wake_node);
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

static bool frame_waiting(tw_sim *s, uint32_t ci, tw_sim_frame *f)
{
    return s->ext && s->ext->frame_peek && !s->cores[ci].is_controller &&
           s->ext->frame_peek(s->ext->ctx, ci, f);
}

static void inbox_pop(tw_sim *s, tw_sim_core *c)
{
    tw_mailbox_pop(&c->inbox, NULL);
    if (s->ext) {
        tw_ring_pop(&c->stamps, NULL);
    }
}

static tw_ns take_msg(tw_sim *s, uint32_t ci, tw_ns t, const tw_msg *m, tw_sim_record *rec)
{
    tw_sim_core *c = &s->cores[ci];
    tw_input in = {.kind = TW_IN_MSG, .msg = m};
    rec->work = TW_SIM_WORK_INPUT;
    rec->msg_type = m->type;
    c->inputs++;
    if (c->is_controller) {
        tw_controller_on_input(&s->controller, t, &in);
    } else {
        tw_worker *w = &s->workers[ci];
        tw_worker_driver_stats(w, c->busy_ns, tw_mailbox_len(&c->inbox),
                               c->inbox.ring.high_water, c->inbox.drops);
        tw_worker_on_input(w, t, &in);
    }
    return cost_of(s->cfg.cost.msg, m->len);
}

/* `queued`: the frame came from the driver's ring (frame_peek), whose
 * buffer is released after; else the driver handed it over directly. */
static tw_ns take_frame(tw_sim *s, uint32_t ci, tw_ns t, const tw_sim_frame *f, bool queued,
                        tw_sim_record *rec)
{
    tw_sim_core *c = &s->cores[ci];
    tw_worker *w = &s->workers[ci];
    rec->work = TW_SIM_WORK_FRAME;
    rec->place = f->iface;
    rec->len = f->len;
    c->frames++;
    tw_worker_driver_stats(w, c->busy_ns, tw_mailbox_len(&c->inbox), c->inbox.ring.high_water,
                           c->inbox.drops);
    tw_input in = {.kind = TW_IN_FRAME, .iface = f->iface, .frame = f->data, .frame_len = f->len};
    tw_worker_on_input(w, t, &in);
    /* The stack copied what it keeps: the NIC buffer can go. */
    if (queued) {
        s->ext->frame_taken(s->ext->ctx, ci, f->iface);
    }
    return cost_of(s->cfg.cost.frame, f->len);
}

static tw_ns run_tick(tw_sim *s, uint32_t ci, tw_ns t, tw_sim_record *rec)
{
    tw_sim_core *c = &s->cores[ci];
    rec->work = TW_SIM_WORK_TICK;
    c->ticks++;
    if (c->is_controller) {
        tw_controller_on_tick(&s->controller, t);
        return cost_of(s->cfg.cost.timer, 0);
    }
    tw_worker *w = &s->workers[ci];
    uint64_t before = w->status.timers_fired;
    tw_worker_on_tick(w, t);
    /* A wake at a wheel's lower bound fires nothing and costs nothing: it
     * only cascaded timers. */
    return (w->status.timers_fired - before) * cost_of(s->cfg.cost.timer, 0);
}

/* One unit of work on an idle core at time t, its node next due at
 * `deadline`: a due tick first (timers are
 * older than anything that could arrive now), else the oldest input:
 * `arrived` when the caller found nothing waiting and the core idle (it is
 * taken straight from the event, saving two copies), else the older of the
 * inbox head and the driver's oldest frame. Before all that, when the
 * driver asked, only the outputs. Fills rec with what was done. */
static void run_idle_core(tw_sim *s, uint32_t ci, tw_ns t, tw_ns deadline, const tw_msg *arrived,
                          const tw_sim_frame *direct, tw_sim_record *rec)
{
    tw_sim_core *c = &s->cores[ci];
    TW_ASSERT(!c->down);
    TW_ASSERT(c->busy_until <= t);
    node_changed(c); /* whatever it does below */
    tw_ns cost = 0;
    /* The caller hands a message or frame over only when no tick is due. */
    TW_ASSERT((arrived == NULL && direct == NULL) || deadline > t);
    TW_ASSERT(arrived == NULL || direct == NULL);
    tw_sim_frame f;
    if (c->flush) {
        /* What the driver caused is older than any tick or input, and the
         * node must be drained before it takes either. */
        TW_ASSERT(arrived == NULL && direct == NULL);
        rec->work = TW_SIM_WORK_FLUSH;
    } else if (deadline <= t) {
        cost = run_tick(s, ci, t, rec);
    } else if (arrived != NULL) {
        TW_ASSERT(tw_mailbox_len(&c->inbox) == 0);
        cost = take_msg(s, ci, t, arrived, rec);
    } else if (direct != NULL) {
        TW_ASSERT(tw_mailbox_len(&c->inbox) == 0);
        cost = take_frame(s, ci, t, direct, false, rec);
    } else {
        const tw_msg *head = tw_ring_peek(&c->inbox.ring);
        bool frame = frame_waiting(s, ci, &f);
        if (frame && head != NULL) {
            frame = f.stamp < *(const uint64_t *)tw_ring_peek(&c->stamps);
        }
        if (frame) {
            cost = take_frame(s, ci, t, &f, true, rec);
        } else if (head != NULL) {
            cost = take_msg(s, ci, t, head, rec);
            inbox_pop(s, c);
        } else {
            schedule_wake(s, ci, deadline);
            return;
        }
    }
    c->flush = false;
    tw_output out;
    while (node_pop(s, ci, t, &out)) {
        rec->outputs++;
        if (out.kind == TW_OUT_FRAME) {
            TW_ASSERT(s->ext != NULL && s->ext->frame_out != NULL);
            cost += cost_of(s->cfg.cost.output, (uint32_t)out.frame_len);
            s->ext->frame_out(s->ext->ctx, ci, t + cost, out.iface, out.frame, out.frame_len);
            continue;
        }
        if (out.kind == TW_OUT_STEER) {
            TW_ASSERT(s->ext != NULL && s->ext->frame_steer != NULL);
            cost += cost_of(s->cfg.cost.output, (uint32_t)out.frame_len);
            s->ext->frame_steer(s->ext->ctx, ci, t + cost, out.core, out.iface, out.frame,
                                out.frame_len);
            continue;
        }
        TW_ASSERT(out.kind == TW_OUT_MSG);
        cost += cost_of(s->cfg.cost.output, out.msg.len);
        route(s, ci, t + cost, &out.msg);
    }
    rec->cost_ns = (uint32_t)(cost > UINT32_MAX ? UINT32_MAX : cost);
    c->busy_ns += cost;
    c->busy_until = t + cost;
    bool waiting = tw_mailbox_len(&c->inbox) > 0 || frame_waiting(s, ci, &f);
    tw_ns next = waiting ? c->busy_until : tw_ns_max(node_deadline(s, ci), c->busy_until);
    schedule_wake(s, ci, next);
}

/* run_idle_core once the core is free, with the node's deadline; a busy
 * core is woken when it is done instead. Callers that have just asked for
 * the deadline (tw_sim_frame_direct, on_arrive) call run_idle_core with it:
 * the node cannot have changed in between, and asking is three timer wheels'
 * worth of calls. */
static void run_core(tw_sim *s, uint32_t ci, tw_ns t, tw_sim_record *rec)
{
    tw_sim_core *c = &s->cores[ci];
    TW_ASSERT(!c->down);
    if (c->busy_until > t) {
        schedule_wake(s, ci, c->busy_until);
        return;
    }
    run_idle_core(s, ci, t, node_deadline(s, ci), NULL, NULL, rec);
}

static void fold(tw_sim *s, tw_sim_record *rec)
{
    /* The record's words are mixed into one before it meets the running
     * hash: each mix depends only on its word, so they run side by side,
     * and the chain through h is one fold per event instead of up to five
     * (that serial chain of multiplies was ~6% of a bulk run's wall time).
     * Each word is mixed (a bijection) and rotated by a distinct amount,
     * so a change to any field still changes the folded word. */
    uint64_t m = tw_mix64(((uint64_t)rec->kind << 56) | ((uint64_t)rec->work << 48) |
                          ((uint64_t)rec->core << 32) | rec->msg_type) ^
                 tw_rotl64(tw_mix64(((uint64_t)rec->outputs << 32) | rec->cost_ns), 21);
    /* Only what the runtime alone never produces adds words. */
    if (rec->kind >= TW_SIM_EV_DROP || rec->work >= TW_SIM_WORK_FRAME) {
        m ^= tw_rotl64(tw_mix64(((uint64_t)rec->drop << 32) | rec->place), 42) ^
             tw_rotl64(tw_mix64(rec->len ^ 0x9e3779b97f4a7c15ull), 11);
    }
    uint64_t h = tw_hash_fold(s->trace_hash, rec->time ^ m);
    s->trace_hash = h;
    rec->hash = h;
}

static void emit(tw_sim *s, tw_sim_record *rec)
{
    fold(s, rec);
    if (s->hook) {
        s->hook(s->hook_ctx, rec);
    }
}

/* A message reached core ci at its time. */
static void on_arrive(tw_sim *s, const tw_event *ev, tw_sim_record *rec)
{
    uint32_t ci = ev->target;
    tw_sim_core *c = &s->cores[ci];
    tw_msg *m = tw_pool_at(&s->flight, ev->arg);
    rec->msg_type = m->type;
    tw_sim_frame f;
    tw_ns deadline = TW_NS_NEVER;
    if (c->down) {
        tw_sim_note_drop(s, TW_SIM_DROP_HOST_DOWN, ci, 0);
    } else if (c->busy_until <= ev->time && tw_mailbox_len(&c->inbox) == 0 && !c->flush &&
               (deadline = node_deadline(s, ci)) > ev->time && !frame_waiting(s, ci, &f)) {
        /* Idle with nothing waiting: the same as queueing it and taking
         * the head, without the copies. */
        run_idle_core(s, ci, ev->time, deadline, m, NULL, rec);
    } else if (tw_mailbox_push(&c->inbox, m) < 0) {
        rec->work = TW_SIM_WORK_DROP;
        s->inbox_drops++;
        s->drops[TW_SIM_DROP_INBOX]++;
    } else {
        if (s->ext) {
            uint64_t stamp = tw_sim_stamp(s);
            int rc = tw_ring_push(&c->stamps, &stamp);
            TW_ASSERT(rc == 0); /* as large as the inbox */
        }
        run_core(s, ci, ev->time, rec);
    }
    tw_pool_put(&s->flight, m);
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
        tw_sim_record rec = {.index = s->events, .time = ev.time, .kind = ev.kind,
                             .core = ev.target};
        if (ev.kind == TW_SIM_EV_WAKE) {
            tw_sim_core *c = &s->cores[ev.target];
            /* Superseded wakes are cancelled, never left queued. */
            TW_ASSERT(c->wake_pending);
            TW_ASSERT(ev.arg == c->wake_gen);
            c->wake_pending = false;
            c->wake_at = TW_NS_NEVER;
            run_core(s, ev.target, ev.time, &rec);
        } else if (ev.kind == TW_SIM_EV_ARRIVE) {
            on_arrive(s, &ev, &rec);
        } else {
            TW_ASSERT(ev.kind >= TW_SIM_EV_DRIVER);
            TW_ASSERT(s->ext != NULL && s->ext->on_event != NULL);
            if (!s->ext->on_event(s->ext->ctx, &ev, &rec)) {
                s->stale++;
                continue;
            }
        }
        /* Set late: the event may have recorded a core's work of its own
         * first (tw_sim_frame_direct), which counts as an event. */
        rec.index = s->events;
        s->events++;
        emit(s, &rec);
        return true;
    }
}

/* ---- for drivers ------------------------------------------------------- */

int tw_sim_schedule(tw_sim *s, tw_ns at, uint16_t kind, uint16_t target, uint32_t arg)
{
    TW_ASSERT(kind >= TW_SIM_EV_DRIVER);
    TW_ASSERT(at >= s->now);
    return tw_evq_push(&s->q, at, kind, target, arg);
}

void tw_sim_wake(tw_sim *s, uint32_t core, tw_ns at)
{
    TW_ASSERT(core < s->cfg.cores);
    schedule_wake(s, core, tw_ns_max(tw_ns_max(at, s->now), s->cores[core].busy_until));
}

bool tw_sim_frame_direct(tw_sim *s, uint32_t core, uint32_t iface, const uint8_t *frame,
                         uint32_t len)
{
    TW_ASSERT(core < s->cfg.cores);
    tw_sim_core *c = &s->cores[core];
    tw_sim_frame f;
    tw_ns deadline;
    if (c->down || c->busy_until > s->now || c->flush || tw_mailbox_len(&c->inbox) > 0 ||
        (deadline = node_deadline(s, core)) <= s->now || frame_waiting(s, core, &f)) {
        return false;
    }
    /* The record of the wake this saves, at the same instant. */
    tw_sim_record rec = {
        .index = s->events, .time = s->now, .kind = TW_SIM_EV_WAKE, .core = core};
    tw_sim_frame direct = {.iface = iface, .len = len, .data = frame};
    run_idle_core(s, core, s->now, deadline, NULL, &direct, &rec);
    s->events++;
    emit(s, &rec);
    return true;
}

void tw_sim_note_drop(tw_sim *s, tw_sim_drop reason, uint32_t place, uint32_t len)
{
    TW_ASSERT((unsigned)reason < TW_SIM_DROP_COUNT);
    s->drops[reason]++;
    tw_sim_record rec = {.index = s->events, .time = s->now, .kind = TW_SIM_EV_DROP,
                         .drop = reason, .place = place, .len = len};
    emit(s, &rec);
}

void tw_sim_fold(tw_sim *s, uint64_t word) { s->trace_hash = tw_hash_fold(s->trace_hash, word); }

int tw_sim_inject(tw_sim *s, uint32_t core, tw_ns at, const tw_msg *m)
{
    TW_ASSERT(core <= s->cfg.cores);
    TW_ASSERT(at >= s->now);
    tw_msg *slot = tw_pool_take(&s->flight);
    if (slot == NULL) {
        s->msgs_lost++;
        return -TW_EFULL;
    }
    *slot = *m;
    if (tw_evq_push(&s->q, at, TW_SIM_EV_ARRIVE, core, tw_pool_index(&s->flight, slot)) < 0) {
        tw_pool_put(&s->flight, slot);
        s->msgs_lost++;
        return -TW_EFULL;
    }
    return 0;
}

void tw_sim_core_flush(tw_sim *s, uint32_t core)
{
    TW_ASSERT(core <= s->cfg.cores); /* the controller too */
    tw_sim_core *c = &s->cores[core];
    node_changed(c);
    if (c->down) {
        return;
    }
    c->flush = true;
    schedule_wake(s, core, tw_ns_max(s->now, c->busy_until));
}

void tw_sim_core_down(tw_sim *s, uint32_t core)
{
    TW_ASSERT(core < s->cfg.cores);
    tw_sim_core *c = &s->cores[core];
    TW_ASSERT(!c->down);
    while (tw_mailbox_len(&c->inbox) > 0) {
        tw_sim_note_drop(s, TW_SIM_DROP_HOST_DOWN, core, 0);
        inbox_pop(s, c);
    }
    c->down = true;
    c->flush = false;
    node_changed(c);
    if (c->wake_pending) {
        tw_evq_cancel(&s->q, c->wake_node);
    }
    c->wake_pending = false;
    c->wake_at = TW_NS_NEVER;
    c->busy_until = s->now;
}

void tw_sim_core_up(tw_sim *s, uint32_t core)
{
    TW_ASSERT(core < s->cfg.cores);
    tw_sim_core *c = &s->cores[core];
    TW_ASSERT(c->down);
    c->down = false;
    c->busy_until = s->now;
    /* A fresh node may have something to say at once (an announcement). */
    tw_sim_core_flush(s, core);
}

void tw_sim_core_stall(tw_sim *s, uint32_t core, tw_ns until)
{
    TW_ASSERT(core < s->cfg.cores);
    tw_sim_core *c = &s->cores[core];
    if (c->down || until <= s->now) {
        return;
    }
    tw_ns from = tw_ns_max(s->now, c->busy_until);
    if (until > from) {
        c->stalled_ns += until - from;
        c->busy_until = until;
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
