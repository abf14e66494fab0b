#include "rt/controller.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/mem.h"

void tw_controller_init(tw_controller *c, const tw_controller_config *cfg)
{
    TW_ASSERT(cfg->workers > 0);
    TW_ASSERT(cfg->workers <= TW_ENDPOINTS_MAX);
    TW_ASSERT(cfg->outq_max > 0);
    TW_ASSERT(cfg->program != NULL);
    memset(c, 0, sizeof(*c));
    c->cfg = *cfg;
    tw_ring_init(&c->outq, cfg->outq_max, sizeof(tw_msg));
    c->views = tw_mem_calloc(cfg->workers, sizeof(tw_worker_view));
    for (uint32_t i = 0; i < cfg->workers; i++) {
        c->views[i].reported_at = TW_NS_NEVER;
    }
    c->next_req = 1;
    c->next_status_at = cfg->status_period_ns ? cfg->start_ns : TW_NS_NEVER;
    c->program_deadline = TW_NS_NEVER;
}

void tw_controller_free(tw_controller *c)
{
    tw_ring_free(&c->outq);
    tw_mem_free(c->views);
    c->views = NULL;
}

const tw_worker_view *tw_controller_view(const tw_controller *c, uint32_t worker)
{
    TW_ASSERT(worker < c->cfg.workers);
    return &c->views[worker];
}

uint32_t tw_controller_least_loaded(const tw_controller *c)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < c->cfg.workers; i++) {
        const tw_worker_view *a = &c->views[i], *b = &c->views[best];
        if (a->assigned < b->assigned ||
            (a->assigned == b->assigned && a->status.busy_ns < b->status.busy_ns)) {
            best = i;
        }
    }
    return best;
}

static int64_t queue(tw_controller *c, tw_msg *m)
{
    m->source = TW_ADDR_CONTROLLER;
    m->tag = c->next_req;
    if (tw_ring_push(&c->outq, m) < 0) {
        c->refused++;
        return -TW_EFULL;
    }
    return (int64_t)c->next_req++;
}

int64_t tw_controller_spawn(tw_controller *c, uint32_t type, uint32_t group, uint32_t worker,
                            const void *args, uint32_t args_len)
{
    if (type >= c->cfg.registry->count || args_len > TW_SPAWN_ARGS_MAX) {
        return -TW_EINVAL;
    }
    if (worker == TW_PLACE_LEAST_LOADED) {
        worker = tw_controller_least_loaded(c);
    }
    if (worker >= c->cfg.workers) {
        return -TW_EINVAL;
    }
    tw_msg m;
    memset(&m, 0, sizeof(m));
    tw_spawn_req req = {.type = type, .group = group, .args_len = args_len};
    if (args_len) {
        memcpy(req.args, args, args_len);
    }
    m.mode = TW_MSG_DIRECT;
    m.type = TW_MSG_SPAWN;
    m.target = tw_addr_make(worker, 0, TW_SLOT_ENDPOINT);
    m.len = sizeof(req);
    memcpy(m.data, &req, sizeof(req));
    int64_t id = queue(c, &m);
    if (id > 0) {
        c->views[worker].assigned++;
    }
    return id;
}

int64_t tw_controller_kill(tw_controller *c, tw_addr task)
{
    if (tw_addr_endpoint(task) >= c->cfg.workers) {
        return -TW_EINVAL;
    }
    tw_msg m;
    memset(&m, 0, sizeof(m));
    m.mode = TW_MSG_DIRECT;
    m.type = TW_MSG_KILL;
    m.target = task;
    return queue(c, &m);
}

int64_t tw_controller_send(tw_controller *c, tw_msg_mode mode, uint64_t target, uint32_t type,
                           const void *data, uint32_t len)
{
    if (len > TW_MSG_DATA_MAX || type < TW_MSG_APP || mode > TW_MSG_PUBLISH) {
        return -TW_EINVAL;
    }
    if (mode == TW_MSG_DIRECT && tw_addr_endpoint(target) >= c->cfg.workers) {
        return -TW_EINVAL;
    }
    tw_msg m;
    memset(&m, 0, sizeof(m));
    m.mode = (uint8_t)mode;
    m.type = type;
    m.target = target;
    m.len = len;
    if (len) {
        memcpy(m.data, data, len);
    }
    return queue(c, &m);
}

int64_t tw_controller_request_status(tw_controller *c)
{
    /* One request per worker, direct: a broadcast would need every worker to
     * tell a status request apart from an application group message. */
    int64_t first = 0;
    for (uint32_t i = 0; i < c->cfg.workers; i++) {
        tw_msg m;
        memset(&m, 0, sizeof(m));
        m.mode = TW_MSG_DIRECT;
        m.type = TW_MSG_STATUS_REQ;
        m.target = tw_addr_make(i, 0, TW_SLOT_ENDPOINT);
        int64_t id = queue(c, &m);
        if (id < 0) {
            return id;
        }
        if (first == 0) {
            first = id;
        }
    }
    return first;
}

void tw_controller_set_deadline(tw_controller *c, tw_ns at) { c->program_deadline = at; }

static void on_msg(tw_controller *c, tw_ns now, const tw_msg *m)
{
    const tw_controller_program *p = c->cfg.program;
    uint32_t ep = tw_addr_endpoint(m->source);
    switch (m->type) {
    case TW_MSG_SPAWNED: {
        tw_spawn_ack ack;
        memcpy(&ack, m->data, sizeof(ack));
        if (ack.status < 0) {
            c->failed++;
            if (ep < c->cfg.workers && c->views[ep].assigned > 0) {
                c->views[ep].assigned--;
            }
        } else {
            c->spawned++;
        }
        if (p->on_spawned) {
            p->on_spawned(c, now, c->cfg.program_ctx, m->tag, &ack);
        }
        break;
    }
    case TW_MSG_STATUS: {
        TW_ASSERT(ep < c->cfg.workers);
        tw_worker_view *v = &c->views[ep];
        memcpy(&v->status, m->data, sizeof(v->status));
        v->reported_at = now;
        v->reports++;
        if (p->on_status) {
            p->on_status(c, now, c->cfg.program_ctx, ep, &v->status);
        }
        break;
    }
    case TW_MSG_EXITED:
        c->exited++;
        if (ep < c->cfg.workers && c->views[ep].assigned > 0) {
            c->views[ep].assigned--;
        }
        break;
    default:
        c->messages++;
        if (p->on_message) {
            p->on_message(c, now, c->cfg.program_ctx, m);
        }
        break;
    }
}

void tw_controller_on_input(tw_controller *c, tw_ns now, const tw_input *in)
{
    TW_ASSERT(in->kind == TW_IN_MSG);
    TW_ASSERT(tw_ring_empty(&c->outq));
    c->inputs++;
    on_msg(c, now, in->msg);
}

void tw_controller_on_tick(tw_controller *c, tw_ns now)
{
    TW_ASSERT(tw_ring_empty(&c->outq));
    const tw_controller_program *p = c->cfg.program;
    if (!c->started && now >= c->cfg.start_ns) {
        c->started = true;
        if (p->on_start) {
            p->on_start(c, now, c->cfg.program_ctx);
        }
    }
    if (c->next_status_at <= now) {
        tw_controller_request_status(c);
        /* Periods are kept on the grid from the start, not from late wakes. */
        while (c->next_status_at <= now) {
            c->next_status_at += c->cfg.status_period_ns;
        }
    }
    if (c->program_deadline <= now) {
        c->program_deadline = TW_NS_NEVER;
        if (p->on_deadline) {
            p->on_deadline(c, now, c->cfg.program_ctx);
        }
    }
}

bool tw_controller_pop_output(tw_controller *c, tw_ns now, tw_output *out)
{
    if (tw_ring_empty(&c->outq)) {
        return false;
    }
    memset(out, 0, sizeof(*out));
    out->kind = TW_OUT_MSG;
    tw_ring_pop(&c->outq, &out->msg);
    return true;
}

tw_ns tw_controller_next_deadline(const tw_controller *c)
{
    tw_ns d = c->started ? TW_NS_NEVER : c->cfg.start_ns;
    d = tw_ns_min(d, c->next_status_at);
    return tw_ns_min(d, c->program_deadline);
}
