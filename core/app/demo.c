#include "app/demo.h"

#include <string.h>

#include "base/assert.h"
#include "base/rng.h"

enum {
    MSG_PEER = TW_MSG_APP + 1, /* controller -> pinger: your peer's address */
    MSG_PING,
    MSG_PONG,
    MSG_RATE,   /* controller -> pinger group: new period */
    MSG_STATS,  /* pinger -> stats channel */
    MSG_REPORT, /* collector -> controller */
};

#define STATS_EVERY 64
#define REPORT_EVERY 16

typedef struct pinger_args {
    uint32_t index;
    uint32_t pad_;
    uint64_t period_ns;
} pinger_args;

typedef struct stats_body {
    uint64_t pings;
    uint64_t pongs;
    uint64_t rtt_sum_ns;
} stats_body;

typedef struct pinger {
    tw_task_outq outq;
    tw_addr peer;
    uint32_t index;
    tw_ns period_ns;
    uint64_t pings;
    uint64_t pongs;
    uint64_t rtt_sum_ns;
    uint64_t rtt_max_ns;
} pinger;

typedef struct collector {
    tw_task_outq outq;
    uint64_t seen;
    stats_body sum; /* running totals: latest counters of each publication */
} collector;

static void push(tw_task_outq *q, const tw_task_output *o)
{
    /* A demo task emits at most three outputs per input; its queue holds
     * more, so a refusal here is a bug. */
    bool ok = tw_task_outq_push(q, o);
    TW_ASSERT(ok);
}

static void arm(tw_task_outq *q, tw_ns at)
{
    tw_task_output o;
    tw_task_out_timer(&o, at);
    push(q, &o);
}

static tw_ns jitter(tw_task *t, tw_ns period) { return tw_rng_below(tw_task_rng(t), period / 8 + 1); }

static void pinger_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    pinger *p = tw_task_state(t);
    tw_task_output o;
    if (in->kind == TW_TIN_START) {
        pinger_args a;
        memcpy(&a, in->msg->data, sizeof(a));
        TW_ASSERT(a.period_ns > 0);
        p->index = a.index;
        p->period_ns = a.period_ns;
        p->peer = TW_ADDR_NONE;
        return;
    }
    const tw_msg *m = in->msg;
    switch (m->type) {
    case MSG_PEER:
        memcpy(&p->peer, m->data, sizeof(p->peer));
        /* Start at a random phase so the pingers do not beat in lockstep. */
        arm(&p->outq, now + tw_rng_below(tw_task_rng(t), p->period_ns));
        break;
    case MSG_PING:
        tw_task_out_send(&o, t->addr, TW_MSG_DIRECT, m->source, MSG_PONG, m->data, m->len);
        push(&p->outq, &o);
        break;
    case MSG_PONG: {
        tw_ns sent;
        memcpy(&sent, m->data, sizeof(sent));
        TW_ASSERT(sent <= now);
        p->pongs++;
        p->rtt_sum_ns += now - sent;
        if (now - sent > p->rtt_max_ns) {
            p->rtt_max_ns = now - sent;
        }
        break;
    }
    case MSG_RATE:
        memcpy(&p->period_ns, m->data, sizeof(p->period_ns));
        TW_ASSERT(p->period_ns > 0);
        break;
    default:
        break;
    }
}

static void pinger_on_tick(tw_task *t, tw_ns now)
{
    pinger *p = tw_task_state(t);
    tw_task_output o;
    TW_ASSERT(p->peer != TW_ADDR_NONE);
    tw_task_out_send(&o, t->addr, TW_MSG_DIRECT, p->peer, MSG_PING, &now, sizeof(now));
    push(&p->outq, &o);
    p->pings++;
    if (p->pings % STATS_EVERY == 0) {
        stats_body b = {p->pings, p->pongs, p->rtt_sum_ns};
        tw_task_out_send(&o, t->addr, TW_MSG_PUBLISH, TW_DEMO_CHANNEL_STATS, MSG_STATS, &b,
                         sizeof(b));
        push(&p->outq, &o);
    }
    arm(&p->outq, now + p->period_ns + jitter(t, p->period_ns));
}

static bool pinger_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    pinger *p = tw_task_state(t);
    return tw_task_outq_pop(&p->outq, out);
}

static void collector_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    collector *c = tw_task_state(t);
    tw_task_output o;
    if (in->kind == TW_TIN_START) {
        o.kind = TW_TOUT_SUBSCRIBE;
        o.u.channel = TW_DEMO_CHANNEL_STATS;
        push(&c->outq, &o);
        return;
    }
    if (in->msg->type != MSG_STATS) {
        return;
    }
    /* Each publication carries a pinger's counters since its start; the
     * collector forwards increments, so sums stay exact across collectors. */
    stats_body b;
    memcpy(&b, in->msg->data, sizeof(b));
    c->seen++;
    c->sum.pings += STATS_EVERY;
    if (c->seen % REPORT_EVERY == 0) {
        stats_body r = {c->sum.pings, c->seen, 0};
        tw_task_out_send(&o, t->addr, TW_MSG_DIRECT, TW_ADDR_CONTROLLER, MSG_REPORT, &r,
                         sizeof(r));
        push(&c->outq, &o);
        memset(&c->sum, 0, sizeof(c->sum));
    }
}

static void collector_on_tick(tw_task *t, tw_ns now) {}

static bool collector_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    collector *c = tw_task_state(t);
    return tw_task_outq_pop(&c->outq, out);
}

static const tw_task_ops pinger_ops = {
    .name = "pinger",
    .state_size = sizeof(pinger),
    .on_input = pinger_on_input,
    .on_tick = pinger_on_tick,
    .pop_output = pinger_pop,
};

static const tw_task_ops collector_ops = {
    .name = "collector",
    .state_size = sizeof(collector),
    .on_input = collector_on_input,
    .on_tick = collector_on_tick,
    .pop_output = collector_pop,
};

static const tw_task_ops *const demo_types[TW_DEMO_TASK_TYPES] = {
    [TW_DEMO_TASK_PINGER] = &pinger_ops,
    [TW_DEMO_TASK_COLLECTOR] = &collector_ops,
};

const tw_task_registry tw_demo_registry = {.types = demo_types, .count = TW_DEMO_TASK_TYPES};

void tw_demo_init(tw_demo *d, const tw_demo_config *cfg)
{
    TW_ASSERT(cfg->pingers >= 2);
    TW_ASSERT(cfg->pingers <= TW_DEMO_PINGERS_MAX);
    TW_ASSERT(cfg->period_ns > 0);
    memset(d, 0, sizeof(*d));
    d->cfg = *cfg;
    for (uint32_t i = 0; i < TW_DEMO_PINGERS_MAX; i++) {
        d->pinger_addr[i] = TW_ADDR_NONE;
    }
}

static void demo_start(tw_controller *c, tw_ns now, void *ctx)
{
    tw_demo *d = ctx;
    for (uint32_t w = 0; w < d->cfg.workers; w++) {
        int64_t rc = tw_controller_spawn(c, TW_DEMO_TASK_COLLECTOR, TW_DEMO_GROUP_COLLECTORS, w,
                                         NULL, 0);
        TW_ASSERT(rc > 0);
    }
    for (uint32_t i = 0; i < d->cfg.pingers; i++) {
        pinger_args a = {.index = i, .period_ns = d->cfg.period_ns};
        int64_t rc = tw_controller_spawn(c, TW_DEMO_TASK_PINGER, TW_DEMO_GROUP_PINGERS,
                                         TW_PLACE_LEAST_LOADED, &a, sizeof(a));
        TW_ASSERT(rc > 0);
        if (i == 0) {
            d->spawn_req_first = (uint64_t)rc;
        }
    }
    tw_controller_set_deadline(c, d->cfg.speedup_at);
}

static void demo_spawned(tw_controller *c, tw_ns now, void *ctx, uint64_t req,
                         const tw_spawn_ack *ack)
{
    tw_demo *d = ctx;
    if (ack->status < 0) {
        d->spawn_errors++;
        return;
    }
    if (ack->type != TW_DEMO_TASK_PINGER) {
        return;
    }
    uint64_t i = req - d->spawn_req_first;
    TW_ASSERT(i < d->cfg.pingers);
    d->pinger_addr[i] = ack->addr;
    if (++d->acked < d->cfg.pingers) {
        return;
    }
    /* Everyone is up: wire the ring. */
    for (uint32_t k = 0; k < d->cfg.pingers; k++) {
        tw_addr peer = d->pinger_addr[(k + 1) % d->cfg.pingers];
        if (tw_controller_send(c, TW_MSG_DIRECT, d->pinger_addr[k], MSG_PEER, &peer,
                               sizeof(peer)) > 0) {
            d->peers_sent++;
        }
    }
}

static void demo_status(tw_controller *c, tw_ns now, void *ctx, uint32_t worker,
                        const tw_worker_status *st)
{
    tw_demo *d = ctx;
    d->status_reports++;
}

static void demo_message(tw_controller *c, tw_ns now, void *ctx, const tw_msg *m)
{
    tw_demo *d = ctx;
    if (m->type == MSG_REPORT) {
        stats_body r;
        memcpy(&r, m->data, sizeof(r));
        d->reports++;
        d->pings += r.pings;
    }
}

static void demo_deadline(tw_controller *c, tw_ns now, void *ctx)
{
    tw_demo *d = ctx;
    tw_ns faster = d->cfg.period_ns / 2 ? d->cfg.period_ns / 2 : 1;
    if (tw_controller_send(c, TW_MSG_GROUP, TW_DEMO_GROUP_PINGERS, MSG_RATE, &faster,
                           sizeof(faster)) > 0) {
        d->speedup_sent = true;
    }
}

const tw_controller_program tw_demo_program = {
    .on_start = demo_start,
    .on_spawned = demo_spawned,
    .on_status = demo_status,
    .on_message = demo_message,
    .on_deadline = demo_deadline,
};

void tw_demo_task_totals(tw_task *t, tw_demo_totals *acc)
{
    if (t->ops == &pinger_ops) {
        const pinger *p = tw_task_state(t);
        acc->pings += p->pings;
        acc->pongs += p->pongs;
        acc->rtt_sum_ns += p->rtt_sum_ns;
        if (p->rtt_max_ns > acc->rtt_max_ns) {
            acc->rtt_max_ns = p->rtt_max_ns;
        }
    } else if (t->ops == &collector_ops) {
        const collector *c = tw_task_state(t);
        acc->stats_seen += c->seen;
    }
}
