#include "rt/worker.h"

#include <string.h>

#include "base/assert.h"
#include "base/bitset.h"
#include "base/error.h"
#include "base/mem.h"

/* Randomness stream ids: workers draw from stream 0x1000 + id so that hosts,
 * links and workers never share a stream. */
#define WORKER_RNG_STREAM 0x1000u

/* A network service answer for a task, delivered once the task has no
 * outputs left (it may still be popping when the answer is made). */
typedef struct net_completion {
    tw_addr task;
    tw_task_net net;
} net_completion;

static uint32_t words_for(uint32_t bits) { return TW_BITSET_WORDS(bits); }

/* The endpoint, connection and listener tables: the stack path and the
 * kernel path keep the same ones, so ownership is checked in one place. */
static void tables_init(tw_worker *w, const tw_worker_config *cfg, bool with_tcp)
{
    TW_ASSERT(cfg->net_endpoints_max > 0);
    TW_ASSERT(cfg->net_endpoints_max <= 0x10000u);
    w->eps = tw_mem_calloc(cfg->net_endpoints_max, sizeof(tw_worker_ep));
    for (uint32_t i = 0; i < cfg->net_endpoints_max; i++) {
        w->eps[i].owner = TW_ADDR_NONE;
    }
    if (!with_tcp) {
        return;
    }
    TW_ASSERT(cfg->tcp_conns_max > 0);
    TW_ASSERT(cfg->tcp_listeners_max > 0);
    w->conns_max = cfg->tcp_conns_max;
    w->conns = tw_mem_calloc(w->conns_max, sizeof(tw_worker_conn));
    for (uint32_t i = 0; i < w->conns_max; i++) {
        w->conns[i].owner = TW_ADDR_NONE;
    }
    w->listeners_max = cfg->tcp_listeners_max;
    w->listeners = tw_mem_calloc(w->listeners_max, sizeof(tw_worker_listener));
    for (uint32_t i = 0; i < w->listeners_max; i++) {
        w->listeners[i].owner = TW_ADDR_NONE;
    }
}

void tw_worker_init(tw_worker *w, const tw_worker_config *cfg, tw_ns now)
{
    TW_ASSERT(cfg->id < TW_ENDPOINTS_MAX);
    TW_ASSERT(cfg->max_tasks > 0);
    TW_ASSERT(cfg->max_tasks <= TW_TASK_SLOTS_MAX);
    TW_ASSERT(cfg->registry != NULL);
    TW_ASSERT(cfg->outq_max > 0);
    memset(w, 0, sizeof(*w));
    w->cfg = *cfg;
    tw_rng_init(&w->rng, cfg->seed, WORKER_RNG_STREAM + cfg->id);
    tw_wheel_init(&w->wheel, now);

    uint32_t n = cfg->max_tasks;
    w->tasks = tw_mem_calloc(n, sizeof(tw_task));
    w->timers = tw_mem_calloc(n, sizeof(tw_timer));
    w->states = tw_mem_calloc(n, cfg->task_state_max ? cfg->task_state_max : 1);
    w->gens = tw_mem_calloc(n, sizeof(uint16_t));
    w->free_slots = tw_mem_calloc(n, sizeof(uint32_t));
    w->live = tw_mem_calloc(words_for(n), sizeof(uint64_t));
    w->dirty = tw_mem_calloc(words_for(n), sizeof(uint64_t));
    w->dirty_fifo = tw_mem_calloc(n, sizeof(uint32_t));
    /* Slots are handed out lowest first: push them in reverse. */
    for (uint32_t i = 0; i < n; i++) {
        w->free_slots[i] = n - 1 - i;
    }
    w->nfree = n;
    tw_ring_init(&w->own_out, cfg->outq_max, sizeof(tw_msg));
    TW_ASSERT(!(cfg->stack && cfg->kernel_net)); /* one network service per worker */
    if (cfg->stack) {
        w->tcp = tw_stack_tcp(cfg->stack);
    }
    if (cfg->stack || cfg->kernel_net) {
        tables_init(w, cfg, w->tcp != NULL || cfg->kernel_net);
    }
    if (cfg->kernel_net) {
        /* Room for every close a task's exit can ask for at once, plus the
         * ordinary traffic of one pop sequence. */
        tw_ring_init(&w->net_req,
                     cfg->net_endpoints_max + w->conns_max + w->listeners_max + cfg->outq_max,
                     sizeof(tw_net_req));
    }
    /* Answers are queued even without a stack: a task asking for the
     * network there is told -TW_ENOTSUP. */
    tw_ring_init(&w->net_done, cfg->outq_max, sizeof(net_completion));
    if (cfg->max_channels) {
        w->channels = tw_mem_calloc(cfg->max_channels, sizeof(tw_channel));
        for (uint32_t c = 0; c < cfg->max_channels; c++) {
            w->channels[c].bits = tw_mem_calloc(words_for(n), sizeof(uint64_t));
        }
    }
}

void tw_worker_free(tw_worker *w)
{
    for (uint32_t c = 0; c < w->cfg.max_channels; c++) {
        tw_mem_free(w->channels[c].bits);
    }
    tw_mem_free(w->channels);
    tw_mem_free(w->eps);
    tw_mem_free(w->conns);
    tw_mem_free(w->listeners);
    tw_ring_free(&w->net_done);
    if (w->cfg.kernel_net) {
        tw_ring_free(&w->net_req);
    }
    tw_ring_free(&w->own_out);
    tw_mem_free(w->dirty_fifo);
    tw_mem_free(w->dirty);
    tw_mem_free(w->live);
    tw_mem_free(w->free_slots);
    tw_mem_free(w->gens);
    tw_mem_free(w->states);
    tw_mem_free(w->timers);
    tw_mem_free(w->tasks);
    memset(w, 0, sizeof(*w));
}

tw_rng *tw_worker_rng(tw_worker *w) { return &w->rng; }

bool tw_worker_has_pending_outputs(const tw_worker *w)
{
    return w->dirty_count > 0 || !tw_ring_empty(&w->own_out) || !tw_ring_empty(&w->net_done) ||
           (w->cfg.kernel_net && !tw_ring_empty(&w->net_req));
}

const tw_worker_status *tw_worker_status_get(const tw_worker *w) { return &w->status; }

void tw_worker_driver_stats(tw_worker *w, uint64_t busy_ns, uint32_t queue_depth,
                            uint32_t queue_high, uint64_t queue_drops)
{
    w->status.busy_ns = busy_ns;
    w->status.queue_depth = queue_depth;
    w->status.queue_high = queue_high;
    w->status.queue_drops = queue_drops;
}

tw_task *tw_worker_task(tw_worker *w, tw_addr addr)
{
    if (tw_addr_endpoint(addr) != w->cfg.id) {
        return NULL;
    }
    uint32_t slot = tw_addr_slot(addr);
    if (slot >= w->cfg.max_tasks || !tw_bit_test(w->live, slot)) {
        return NULL;
    }
    tw_task *t = &w->tasks[slot];
    return t->addr == addr ? t : NULL;
}

/* The dirty set is a bitset (membership) plus a FIFO of slots (order), so
 * finding the next task to poll is O(1) however many tasks are idle. A slot
 * is in the FIFO at most once: it leaves only when its outputs run dry, and a
 * task exits only while it is the head (EXIT output) or while nothing is
 * dirty (KILL between inputs). */
static void mark_dirty(tw_worker *w, uint32_t slot)
{
    if (!tw_bit_test(w->dirty, slot)) {
        TW_ASSERT(w->dirty_count < w->cfg.max_tasks);
        tw_bit_set(w->dirty, slot);
        w->dirty_fifo[(w->dirty_head + w->dirty_count) % w->cfg.max_tasks] = slot;
        w->dirty_count++;
    }
}

static void clear_dirty(tw_worker *w, uint32_t slot)
{
    if (tw_bit_test(w->dirty, slot)) {
        TW_ASSERT(w->dirty_count > 0);
        TW_ASSERT(w->dirty_fifo[w->dirty_head] == slot);
        tw_bit_clear(w->dirty, slot);
        w->dirty_head = (w->dirty_head + 1) % w->cfg.max_tasks;
        w->dirty_count--;
    }
}

/* Gives one input to a task. The task must have no outputs left: that is the
 * contract every task relies on to keep its state machine simple. */
static void deliver_input(tw_worker *w, tw_task *t, tw_ns now, const tw_task_input *in)
{
    uint32_t slot = tw_addr_slot(t->addr);
    TW_ASSERT(t->live);
    TW_ASSERT(!tw_bit_test(w->dirty, slot));
    t->inputs++;
    t->ops->on_input(t, now, in);
    mark_dirty(w, slot);
}

static void deliver(tw_worker *w, tw_task *t, tw_ns now, tw_task_input_kind kind,
                    const tw_msg *msg)
{
    tw_task_input in = {.kind = kind, .msg = msg};
    deliver_input(w, t, now, &in);
}

static void queue_own(tw_worker *w, uint32_t type, tw_addr target, uint64_t tag,
                      const void *data, uint32_t len)
{
    tw_msg m;
    memset(&m, 0, sizeof(m));
    m.mode = TW_MSG_DIRECT;
    m.type = type;
    m.source = tw_addr_make(w->cfg.id, 0, TW_SLOT_ENDPOINT);
    m.target = target;
    m.tag = tag;
    m.len = len;
    TW_ASSERT(len <= TW_MSG_DATA_MAX);
    memcpy(m.data, data, len);
    if (tw_ring_push(&w->own_out, &m) < 0) {
        /* The controller asked for more than the worker may hold; the
         * refusal is counted and shows in the next report. */
        w->status.drops++;
    }
}

int64_t tw_worker_spawn(tw_worker *w, tw_ns now, uint32_t type, uint32_t group, const void *args,
                        uint32_t args_len)
{
    TW_ASSERT(!tw_worker_has_pending_outputs(w));
    if (type >= w->cfg.registry->count || args_len > TW_SPAWN_ARGS_MAX) {
        return -TW_EINVAL;
    }
    const tw_task_ops *ops = w->cfg.registry->types[type];
    TW_ASSERT(ops != NULL);
    if (ops->state_size > w->cfg.task_state_max) {
        return -TW_ETOOBIG;
    }
    if (w->nfree == 0) {
        return -TW_ENOMEM;
    }
    uint32_t slot = w->free_slots[--w->nfree];
    TW_ASSERT(!tw_bit_test(w->live, slot));
    tw_task *t = &w->tasks[slot];
    memset(t, 0, sizeof(*t));
    t->ops = ops;
    t->worker = w;
    t->state = w->states + (size_t)slot * w->cfg.task_state_max;
    memset(t->state, 0, w->cfg.task_state_max);
    t->addr = tw_addr_make(w->cfg.id, w->gens[slot], slot);
    t->group = group;
    t->type = type;
    t->live = 1;
    t->timer = &w->timers[slot];
    memset(t->timer, 0, sizeof(*t->timer));
    t->timer->owner = slot;
    tw_bit_set(w->live, slot);
    w->status.tasks++;

    tw_msg start;
    memset(&start, 0, sizeof(start));
    start.type = TW_MSG_SPAWN;
    start.source = TW_ADDR_CONTROLLER;
    start.target = t->addr;
    start.len = args_len;
    if (args_len) {
        memcpy(start.data, args, args_len);
    }
    deliver(w, t, now, TW_TIN_START, &start);
    return t->addr;
}

static tw_channel *find_channel(tw_worker *w, uint32_t id)
{
    for (uint32_t c = 0; c < w->cfg.max_channels; c++) {
        if (w->channels[c].members && w->channels[c].id == id) {
            return &w->channels[c];
        }
    }
    return NULL;
}

static void subscribe(tw_worker *w, uint32_t slot, uint32_t id)
{
    tw_channel *ch = find_channel(w, id);
    if (ch == NULL) {
        for (uint32_t c = 0; c < w->cfg.max_channels && ch == NULL; c++) {
            if (w->channels[c].members == 0) {
                ch = &w->channels[c];
                ch->id = id;
            }
        }
    }
    if (ch == NULL) {
        w->status.drops++; /* the channel table is full: refused, counted */
        return;
    }
    if (!tw_bit_test(ch->bits, slot)) {
        tw_bit_set(ch->bits, slot);
        ch->members++;
    }
}

static void unsubscribe_slot(tw_channel *ch, uint32_t slot)
{
    if (ch->members && tw_bit_test(ch->bits, slot)) {
        tw_bit_clear(ch->bits, slot);
        ch->members--;
    }
}

/* Queues a request for the kernel network service; the ring is sized for
 * the most one pop sequence can ask, so a refusal is a broken bound. */
static void queue_req(tw_worker *w, const tw_net_req *r)
{
    TW_ASSERT(w->cfg.kernel_net);
    int rc = tw_ring_push(&w->net_req, r);
    TW_ASSERT(rc == 0);
}

static void queue_req_id(tw_worker *w, tw_net_op op, int64_t id)
{
    tw_net_req r = {.op = op, .id = id};
    queue_req(w, &r);
}

/* Closes an endpoint, a connection or a listener in whichever network
 * service the worker has, and frees its table entry. */
static void release_endpoint(tw_worker *w, tw_worker_ep *e)
{
    if (w->cfg.kernel_net) {
        queue_req_id(w, TW_NET_UDP_CLOSE, e->id);
    } else {
        tw_stack_udp_close(w->cfg.stack, e->id);
    }
    e->owner = TW_ADDR_NONE;
}

static void release_conn(tw_worker *w, tw_ns now, tw_worker_conn *c)
{
    if (w->cfg.kernel_net) {
        queue_req_id(w, TW_NET_TCP_ABORT, c->conn);
    } else {
        tw_tcp_abort(w->tcp, now, c->conn);
    }
    c->owner = TW_ADDR_NONE;
}

static void release_listener(tw_worker *w, tw_worker_listener *l)
{
    if (w->cfg.kernel_net) {
        queue_req_id(w, TW_NET_TCP_UNLISTEN, l - w->listeners);
    } else {
        tw_tcp_unlisten(w->tcp, l->addr, l->port);
    }
    l->owner = TW_ADDR_NONE;
}

static void free_task(tw_worker *w, tw_task *t, tw_ns now, int32_t status)
{
    uint32_t slot = tw_addr_slot(t->addr);
    TW_ASSERT(t->live);
    if (t->ops->on_shutdown) {
        t->ops->on_shutdown(t, now);
    }
    tw_wheel_cancel(&w->wheel, t->timer);
    /* A task's endpoints die with it: nobody else could read them. */
    for (uint32_t e = 0; w->eps && e < w->cfg.net_endpoints_max; e++) {
        if (w->eps[e].owner == t->addr) {
            release_endpoint(w, &w->eps[e]);
        }
    }
    for (uint32_t i = 0; w->conns && i < w->conns_max; i++) {
        if (w->conns[i].owner == t->addr) {
            release_conn(w, now, &w->conns[i]);
        }
    }
    for (uint32_t i = 0; w->listeners && i < w->listeners_max; i++) {
        if (w->listeners[i].owner == t->addr) {
            release_listener(w, &w->listeners[i]);
        }
    }
    for (uint32_t c = 0; c < w->cfg.max_channels; c++) {
        unsubscribe_slot(&w->channels[c], slot);
    }
    clear_dirty(w, slot);
    tw_bit_clear(w->live, slot);
    t->live = 0;
    w->gens[slot]++;
    w->free_slots[w->nfree++] = slot;
    TW_ASSERT(w->status.tasks > 0);
    w->status.tasks--;
    struct {
        tw_addr addr;
        int32_t status;
    } note = {t->addr, status};
    queue_own(w, TW_MSG_EXITED, TW_ADDR_CONTROLLER, 0, &note, sizeof(note));
}

static void on_spawn(tw_worker *w, tw_ns now, const tw_msg *m)
{
    tw_spawn_req req;
    memcpy(&req, m->data, sizeof(req));
    tw_spawn_ack ack = {.type = req.type, .group = req.group, .addr = TW_ADDR_NONE};
    int64_t rc = tw_worker_spawn(w, now, req.type, req.group, req.args, req.args_len);
    if (rc < 0) {
        ack.status = (int32_t)rc;
    } else {
        ack.addr = (tw_addr)rc;
    }
    queue_own(w, TW_MSG_SPAWNED, m->source, m->tag, &ack, sizeof(ack));
}

static void deliver_app(tw_worker *w, tw_ns now, const tw_msg *m)
{
    uint32_t delivered = 0;
    if (m->mode == TW_MSG_DIRECT) {
        tw_task *t = tw_worker_task(w, m->target);
        if (t) {
            deliver(w, t, now, TW_TIN_MSG, m);
            delivered++;
        }
    } else if (m->mode == TW_MSG_GROUP) {
        for (uint32_t s = tw_bit_next(w->live, w->cfg.max_tasks, 0); s != UINT32_MAX;
             s = tw_bit_next(w->live, w->cfg.max_tasks, s + 1)) {
            if (w->tasks[s].group == m->target) {
                deliver(w, &w->tasks[s], now, TW_TIN_MSG, m);
                delivered++;
            }
        }
    } else {
        TW_ASSERT(m->mode == TW_MSG_PUBLISH);
        tw_channel *ch = find_channel(w, m->target);
        if (ch == NULL) {
            return; /* no local subscriber: a publication reaches whoever listens */
        }
        for (uint32_t s = tw_bit_next(ch->bits, w->cfg.max_tasks, 0); s != UINT32_MAX;
             s = tw_bit_next(ch->bits, w->cfg.max_tasks, s + 1)) {
            deliver(w, &w->tasks[s], now, TW_TIN_MSG, m);
            delivered++;
        }
        return;
    }
    if (m->mode == TW_MSG_DIRECT && delivered == 0) {
        w->status.drops++; /* the task exited, or the address was never valid */
    }
}

static void on_net_cpl(tw_worker *w, tw_ns now, const tw_net_cpl *c);

void tw_worker_on_input(tw_worker *w, tw_ns now, const tw_input *in)
{
    /* The driver must pop every output before the next input. */
    TW_ASSERT(!tw_worker_has_pending_outputs(w));
    w->status.inputs++;
    if (in->kind == TW_IN_NET_CPL) {
        TW_ASSERT(in->cpl != NULL);
        on_net_cpl(w, now, in->cpl);
        return;
    }
    if (in->kind == TW_IN_FRAME) {
        TW_ASSERT(w->cfg.stack != NULL);
        tw_stack_on_frame(w->cfg.stack, now, in->iface, in->frame, in->frame_len);
        return;
    }
    TW_ASSERT(in->kind == TW_IN_MSG);
    TW_ASSERT(in->msg != NULL);
    const tw_msg *m = in->msg;
    switch (m->type) {
    case TW_MSG_SPAWN:
        on_spawn(w, now, m);
        break;
    case TW_MSG_KILL: {
        tw_task *t = tw_worker_task(w, m->target);
        if (t) {
            free_task(w, t, now, -TW_ECLOSED);
        } else {
            w->status.drops++;
        }
        break;
    }
    case TW_MSG_STATUS_REQ: {
        w->status.timers_armed = tw_wheel_count(&w->wheel);
        queue_own(w, TW_MSG_STATUS, m->source, m->tag, &w->status, sizeof(w->status));
        break;
    }
    default:
        if (m->type >= TW_MSG_APP) {
            deliver_app(w, now, m);
        } else {
            w->status.drops++; /* a system message a worker does not take */
        }
        break;
    }
}

void tw_worker_on_tick(tw_worker *w, tw_ns now)
{
    TW_ASSERT(!tw_worker_has_pending_outputs(w));
    tw_timer *tm;
    while ((tm = tw_wheel_pop_expired(&w->wheel, now)) != NULL) {
        uint32_t slot = tm->owner;
        TW_ASSERT(slot < w->cfg.max_tasks);
        tw_task *t = &w->tasks[slot];
        TW_ASSERT(t->live);
        TW_ASSERT(t->timer == tm);
        /* One timer per task: a task cannot be due twice in one tick. */
        TW_ASSERT(!tw_bit_test(w->dirty, slot));
        w->status.timers_fired++;
        t->ops->on_tick(t, now);
        mark_dirty(w, slot);
    }
    if (w->cfg.stack) {
        tw_stack_on_tick(w->cfg.stack, now);
    }
}

static void complete_conn(tw_worker *w, tw_task *t, tw_task_net_kind kind, int32_t result,
                          uint64_t cookie, int64_t conn)
{
    net_completion c = {.task = t->addr,
                        .net = {.kind = kind, .result = result, .cookie = cookie, .conn = conn}};
    if (tw_ring_push(&w->net_done, &c) < 0) {
        w->status.drops++; /* more answers outstanding than outq_max: counted */
    }
}

static void complete(tw_worker *w, tw_task *t, tw_task_net_kind kind, int32_t result,
                     uint64_t cookie)
{
    net_completion c = {.task = t->addr, .net = {.kind = kind, .result = result, .cookie = cookie}};
    if (tw_ring_push(&w->net_done, &c) < 0) {
        w->status.drops++; /* more answers outstanding than outq_max: counted */
    }
}

static tw_worker_ep *endpoint(tw_worker *w, uint32_t id)
{
    uint32_t slot = id & 0xffffu;
    if (slot >= w->cfg.net_endpoints_max || w->eps[slot].id != id ||
        w->eps[slot].owner == TW_ADDR_NONE) {
        return NULL;
    }
    return &w->eps[slot];
}

/* Whether endpoint id belongs to task t: a task may only use its own. */
static bool owns(tw_worker *w, const tw_task *t, uint32_t id)
{
    tw_worker_ep *e = endpoint(w, id);
    return e != NULL && e->owner == t->addr;
}

static void apply_net_kernel(tw_worker *w, tw_task *t, const tw_task_output *to);

static void apply_net(tw_worker *w, tw_task *t, tw_ns now, const tw_task_output *to)
{
    tw_stack *st = w->cfg.stack;
    if (st == NULL && !w->cfg.kernel_net) {
        complete(w, t, to->kind == TW_TOUT_UDP_BIND ? TW_TNET_BOUND : TW_TNET_SEND_FAILED,
                 -TW_ENOTSUP, to->kind == TW_TOUT_UDP_BIND ? to->u.udp_bind.cookie : 0);
        return;
    }
    if (to->kind == TW_TOUT_UDP_CLOSE) {
        if (owns(w, t, to->u.udp_close.endpoint)) {
            release_endpoint(w, endpoint(w, to->u.udp_close.endpoint));
        }
        return;
    }
    if (w->cfg.kernel_net) {
        apply_net_kernel(w, t, to);
        return;
    }
    switch (to->kind) {
    case TW_TOUT_UDP_BIND: {
        int rc = to->u.udp_bind.port == 0 && to->u.udp_bind.remote
                     ? tw_stack_udp_bind_for(st, to->u.udp_bind.addr, to->u.udp_bind.remote,
                                             to->u.udp_bind.remote_port)
                     : tw_stack_udp_bind(st, to->u.udp_bind.addr, to->u.udp_bind.port);
        if (rc >= 0) {
            uint32_t slot = (uint32_t)rc & 0xffffu;
            TW_ASSERT(slot < w->cfg.net_endpoints_max);
            w->eps[slot] = (tw_worker_ep){.id = (uint32_t)rc, .owner = t->addr};
        }
        complete(w, t, TW_TNET_BOUND, rc, to->u.udp_bind.cookie);
        break;
    }
    case TW_TOUT_UDP_SEND: {
        int rc = owns(w, t, to->u.udp_send.endpoint)
                     ? tw_stack_udp_send(st, now, to->u.udp_send.endpoint, to->u.udp_send.dst,
                                         to->u.udp_send.port, to->u.udp_send.data,
                                         to->u.udp_send.len)
                     : -TW_EINVAL;
        if (rc < 0) {
            complete(w, t, TW_TNET_SEND_FAILED, rc, to->u.udp_send.cookie);
        }
        break;
    }
    default:
        TW_UNREACHABLE();
    }
}

/* ---- TCP ------------------------------------------------------------------ */

static tw_worker_conn *conn_slot(tw_worker *w, int64_t conn)
{
    uint32_t i = (uint32_t)conn;
    if (conn < 0 || i >= w->conns_max) {
        return NULL;
    }
    return &w->conns[i];
}

static bool owns_conn(tw_worker *w, const tw_task *t, int64_t conn)
{
    tw_worker_conn *c = conn_slot(w, conn);
    return c && c->conn == conn && c->owner == t->addr;
}

static void take_conn(tw_worker *w, int64_t conn, tw_addr owner)
{
    tw_worker_conn *c = conn_slot(w, conn);
    TW_ASSERT(c != NULL); /* tcp_conns_max must match the stack's */
    c->conn = conn;
    c->owner = owner;
}

static tw_worker_listener *free_listener(tw_worker *w)
{
    for (uint32_t i = 0; i < w->listeners_max; i++) {
        if (w->listeners[i].owner == TW_ADDR_NONE) {
            return &w->listeners[i];
        }
    }
    return NULL;
}

static int tcp_listen(tw_worker *w, const tw_task *t, const tw_task_output *to)
{
    tw_worker_listener *free_l = free_listener(w);
    if (free_l == NULL) {
        return -TW_EFULL;
    }
    int rc = tw_tcp_listen(w->tcp, to->u.tcp_open.addr, to->u.tcp_open.port,
                           to->u.tcp_open.backlog ? to->u.tcp_open.backlog : 1024);
    if (rc == 0) {
        *free_l = (tw_worker_listener){to->u.tcp_open.addr, to->u.tcp_open.port, t->addr, 0};
    }
    return rc;
}

/* Applies a TCP output; the answers that tasks wait for are completions. */
static void apply_tcp(tw_worker *w, tw_task *t, tw_ns now, const tw_task_output *to)
{
    int64_t conn = to->u.tcp.conn;
    switch (to->kind) {
    case TW_TOUT_TCP_LISTEN:
        complete(w, t, TW_TNET_LISTENING, tcp_listen(w, t, to), to->u.tcp_open.cookie);
        return;
    case TW_TOUT_TCP_CONNECT: {
        tw_ipv4_addr local = tw_stack_source_for(w->cfg.stack, to->u.tcp_open.addr);
        int64_t rc = local ? tw_tcp_connect(w->tcp, now, local, to->u.tcp_open.addr,
                                            to->u.tcp_open.port)
                           : -TW_EUNREACH;
        if (rc >= 0) {
            take_conn(w, rc, t->addr);
        }
        complete_conn(w, t, TW_TNET_CONNECTING, rc < 0 ? (int32_t)rc : 0,
                      to->u.tcp_open.cookie, rc);
        return;
    }
    case TW_TOUT_TCP_SEND: {
        int64_t rc = owns_conn(w, t, conn)
                         ? tw_tcp_send(w->tcp, now, conn, to->u.tcp.data, to->u.tcp.len)
                         : -TW_EINVAL;
        complete_conn(w, t, TW_TNET_SENT, (int32_t)rc, to->u.tcp.cookie, conn);
        return;
    }
    case TW_TOUT_TCP_CONSUME:
        if (owns_conn(w, t, conn)) {
            tw_tcp_consume(w->tcp, now, conn, to->u.tcp.len);
        }
        return;
    case TW_TOUT_TCP_CLOSE:
        if (owns_conn(w, t, conn)) {
            tw_tcp_close(w->tcp, now, conn);
        }
        return;
    case TW_TOUT_TCP_ABORT:
        if (owns_conn(w, t, conn)) {
            release_conn(w, now, conn_slot(w, conn));
        }
        return;
    case TW_TOUT_TCP_NODELAY:
        if (owns_conn(w, t, conn)) {
            tw_tcp_set_nodelay(w->tcp, conn, to->u.tcp.len != 0);
        }
        return;
    default:
        TW_UNREACHABLE();
    }
}

/* The task a TCP event belongs to: the connection's owner, or for a new
 * connection the owner of the listener it came in on (it becomes the
 * connection's owner). */
static tw_task *tcp_event_owner(tw_worker *w, const tw_tcp_event *ev)
{
    tw_worker_conn *c = conn_slot(w, ev->conn);
    if (ev->kind == TW_TCP_EV_ACCEPTED && c) {
        tw_tcp_conn_info info;
        if (tw_tcp_conn_get_info(w->tcp, ev->conn, &info) < 0) {
            return NULL;
        }
        for (uint32_t i = 0; i < w->listeners_max; i++) {
            tw_worker_listener *l = &w->listeners[i];
            if (l->owner != TW_ADDR_NONE && l->port == info.lport &&
                (l->addr == 0 || l->addr == info.local)) {
                take_conn(w, ev->conn, l->owner);
                return tw_worker_task(w, l->owner);
            }
        }
        return NULL;
    }
    if (c == NULL || c->conn != ev->conn || c->owner == TW_ADDR_NONE) {
        return NULL;
    }
    return tw_worker_task(w, c->owner);
}

static bool deliver_tcp(tw_worker *w, tw_ns now)
{
    tw_tcp_event ev;
    if (w->tcp == NULL || !tw_tcp_pop_event(w->tcp, now, &ev)) {
        return false;
    }
    tw_task *t = tcp_event_owner(w, &ev);
    bool terminal = ev.kind == TW_TCP_EV_CLOSED || ev.kind == TW_TCP_EV_RESET ||
                    ev.kind == TW_TCP_EV_TIMED_OUT;
    if (terminal && conn_slot(w, ev.conn)) {
        conn_slot(w, ev.conn)->owner = TW_ADDR_NONE;
    }
    if (t == NULL) {
        /* Nobody owns it (its task exited): an orphan connection is
         * aborted rather than left to hold a TCB forever. */
        w->status.drops++;
        if (!terminal) {
            tw_tcp_abort(w->tcp, now, ev.conn);
        }
        return true;
    }
    tw_task_net net = {.kind = TW_TNET_TCP, .conn = ev.conn, .tcp = &ev};
    tw_task_input in = {.kind = TW_TIN_NET, .net = &net};
    deliver_input(w, t, now, &in);
    return true;
}

/* Hands the next network answer or stack event to its task; false when
 * there is none. Events for endpoints nobody owns any more are counted. */
static bool deliver_net(tw_worker *w, tw_ns now)
{
    net_completion c;
    /* Asked once more after the last output of every turn: the emptiness
     * tests are inline, the pops are calls. */
    if (!tw_ring_empty(&w->net_done) && tw_ring_pop(&w->net_done, &c)) {
        tw_task *t = tw_worker_task(w, c.task);
        if (t == NULL) {
            w->status.drops++;
            return true;
        }
        tw_task_input in = {.kind = TW_TIN_NET, .net = &c.net};
        deliver_input(w, t, now, &in);
        return true;
    }
    tw_net_event ev;
    if (w->cfg.stack == NULL || !tw_stack_pop_event(w->cfg.stack, now, &ev)) {
        return deliver_tcp(w, now);
    }
    tw_worker_ep *e = endpoint(w, ev.endpoint);
    tw_task *t = e ? tw_worker_task(w, e->owner) : NULL;
    bool for_endpoint = ev.kind == TW_NET_EV_UDP_DATAGRAM || ev.kind == TW_NET_EV_UDP_ERROR;
    if (!for_endpoint || t == NULL) {
        w->status.drops++; /* echo events and orphans have no task to go to */
        return true;
    }
    tw_task_net net = {.kind = TW_TNET_EVENT, .event = &ev};
    tw_task_input in = {.kind = TW_TIN_NET, .net = &net};
    deliver_input(w, t, now, &in);
    return true;
}

/* ---- the kernel network service ---------------------------------------------
 *
 * The worker allocates ids from its own tables (the stack does it on the
 * other path) so that ownership is recorded before the request leaves: a
 * task that exits while a bind or connect is in flight has its close queued
 * behind it, and the late answer finds no owner and is counted. */

static int64_t alloc_endpoint(tw_worker *w, tw_addr owner, uint64_t cookie)
{
    for (uint32_t i = 0; i < w->cfg.net_endpoints_max; i++) {
        tw_worker_ep *e = &w->eps[i];
        if (e->owner == TW_ADDR_NONE) {
            uint32_t gen = ((e->id >> 16) + 1) & 0xffffu;
            *e = (tw_worker_ep){.id = gen << 16 | i, .owner = owner, .cookie = cookie};
            return e->id;
        }
    }
    return -TW_EFULL;
}

static int64_t alloc_conn(tw_worker *w, tw_addr owner)
{
    for (uint32_t i = 0; i < w->conns_max; i++) {
        tw_worker_conn *c = &w->conns[i];
        if (c->owner == TW_ADDR_NONE) {
            uint64_t gen = (((uint64_t)c->conn >> 32) + 1) & 0x7fffffffu;
            take_conn(w, (int64_t)(gen << 32 | i), owner);
            return c->conn;
        }
    }
    return -TW_ENOMEM;
}

static void apply_net_kernel(tw_worker *w, tw_task *t, const tw_task_output *to)
{
    switch (to->kind) {
    case TW_TOUT_UDP_BIND: {
        int64_t id = alloc_endpoint(w, t->addr, to->u.udp_bind.cookie);
        if (id < 0) {
            complete(w, t, TW_TNET_BOUND, (int32_t)id, to->u.udp_bind.cookie);
            return;
        }
        tw_net_req r = {.op = TW_NET_UDP_BIND,
                        .id = id,
                        .addr = to->u.udp_bind.addr,
                        .port = to->u.udp_bind.port,
                        .remote = to->u.udp_bind.remote,
                        .rport = to->u.udp_bind.remote_port};
        queue_req(w, &r);
        return;
    }
    case TW_TOUT_UDP_SEND: {
        if (!owns(w, t, to->u.udp_send.endpoint)) {
            complete(w, t, TW_TNET_SEND_FAILED, -TW_EINVAL, to->u.udp_send.cookie);
            return;
        }
        tw_net_req r = {.op = TW_NET_UDP_SEND,
                        .id = to->u.udp_send.endpoint,
                        .addr = to->u.udp_send.dst,
                        .port = to->u.udp_send.port,
                        .data = to->u.udp_send.data,
                        .len = to->u.udp_send.len,
                        .cookie = to->u.udp_send.cookie};
        queue_req(w, &r);
        return;
    }
    default:
        TW_UNREACHABLE();
    }
}

static void tcp_listen_kernel(tw_worker *w, tw_task *t, const tw_task_output *to)
{
    tw_worker_listener *l = free_listener(w);
    if (l == NULL) {
        complete(w, t, TW_TNET_LISTENING, -TW_EFULL, to->u.tcp_open.cookie);
        return;
    }
    *l = (tw_worker_listener){to->u.tcp_open.addr, to->u.tcp_open.port, t->addr,
                              to->u.tcp_open.cookie};
    tw_net_req r = {.op = TW_NET_TCP_LISTEN,
                    .id = l - w->listeners,
                    .addr = to->u.tcp_open.addr,
                    .port = to->u.tcp_open.port,
                    .backlog = to->u.tcp_open.backlog ? to->u.tcp_open.backlog : 1024};
    queue_req(w, &r);
}

static void apply_tcp_kernel(tw_worker *w, tw_task *t, const tw_task_output *to)
{
    int64_t conn = to->u.tcp.conn;
    tw_net_req r = {.id = conn, .len = to->u.tcp.len};
    switch (to->kind) {
    case TW_TOUT_TCP_LISTEN:
        tcp_listen_kernel(w, t, to);
        return;
    case TW_TOUT_TCP_CONNECT: {
        int64_t id = alloc_conn(w, t->addr);
        if (id >= 0) {
            r = (tw_net_req){.op = TW_NET_TCP_CONNECT,
                             .id = id,
                             .addr = to->u.tcp_open.addr,
                             .port = to->u.tcp_open.port};
            queue_req(w, &r);
        }
        complete_conn(w, t, TW_TNET_CONNECTING, id < 0 ? (int32_t)id : 0, to->u.tcp_open.cookie,
                      id);
        return;
    }
    case TW_TOUT_TCP_SEND:
        if (!owns_conn(w, t, conn)) {
            complete_conn(w, t, TW_TNET_SENT, -TW_EINVAL, to->u.tcp.cookie, conn);
            return;
        }
        r.op = TW_NET_TCP_SEND;
        r.data = to->u.tcp.data;
        r.cookie = to->u.tcp.cookie;
        break;
    case TW_TOUT_TCP_CONSUME:
        r.op = TW_NET_TCP_CONSUME;
        break;
    case TW_TOUT_TCP_CLOSE:
        r.op = TW_NET_TCP_CLOSE;
        break;
    case TW_TOUT_TCP_ABORT:
        if (owns_conn(w, t, conn)) {
            release_conn(w, 0, conn_slot(w, conn));
        }
        return;
    case TW_TOUT_TCP_NODELAY:
        r.op = TW_NET_TCP_NODELAY;
        break;
    default:
        TW_UNREACHABLE();
    }
    if (owns_conn(w, t, conn)) {
        queue_req(w, &r);
    }
}

/* The task that owns endpoint id / connection id, or NULL (counted). */
static tw_task *endpoint_owner(tw_worker *w, int64_t id)
{
    tw_worker_ep *e = id >= 0 && id <= UINT32_MAX ? endpoint(w, (uint32_t)id) : NULL;
    tw_task *t = e ? tw_worker_task(w, e->owner) : NULL;
    if (t == NULL) {
        w->status.drops++;
    }
    return t;
}

static tw_task *conn_owner(tw_worker *w, int64_t id)
{
    tw_worker_conn *c = conn_slot(w, id);
    tw_task *t = c && c->conn == id && c->owner != TW_ADDR_NONE ? tw_worker_task(w, c->owner)
                                                                : NULL;
    if (t == NULL) {
        w->status.drops++;
    }
    return t;
}

static void deliver_net_now(tw_worker *w, tw_task *t, tw_ns now, const tw_task_net *net)
{
    tw_task_input in = {.kind = TW_TIN_NET, .net = net};
    deliver_input(w, t, now, &in);
}

static void on_udp_cpl(tw_worker *w, tw_ns now, const tw_net_cpl *c)
{
    tw_task *t = endpoint_owner(w, c->id);
    if (t == NULL) {
        return; /* its task exited: the close is already queued */
    }
    tw_worker_ep *e = endpoint(w, (uint32_t)c->id);
    tw_task_net net = {.result = c->result, .cookie = c->cookie};
    if (c->kind == TW_NET_CPL_UDP_BOUND) {
        net.kind = TW_TNET_BOUND;
        net.cookie = e->cookie;
        if (c->result < 0) {
            e->owner = TW_ADDR_NONE; /* the driver holds no socket for it */
        } else {
            net.result = (int32_t)c->id;
        }
        deliver_net_now(w, t, now, &net);
        return;
    }
    if (c->kind == TW_NET_CPL_UDP_SEND_FAILED) {
        net.kind = TW_TNET_SEND_FAILED;
        deliver_net_now(w, t, now, &net);
        return;
    }
    TW_ASSERT(c->kind == TW_NET_CPL_UDP_DATAGRAM);
    tw_net_event ev = {.kind = TW_NET_EV_UDP_DATAGRAM,
                       .endpoint = (uint32_t)c->id,
                       .local_addr = c->local,
                       .local_port = c->lport,
                       .remote_addr = c->addr,
                       .remote_port = c->port,
                       .payload = c->data,
                       .payload_len = c->len};
    net.kind = TW_TNET_EVENT;
    net.event = &ev;
    deliver_net_now(w, t, now, &net);
}

static void on_listener_cpl(tw_worker *w, tw_ns now, const tw_net_cpl *c)
{
    tw_worker_listener *l =
        c->id >= 0 && c->id < (int64_t)w->listeners_max ? &w->listeners[c->id] : NULL;
    tw_task *t = l && l->owner != TW_ADDR_NONE ? tw_worker_task(w, l->owner) : NULL;
    if (c->kind == TW_NET_CPL_TCP_LISTENING) {
        if (t == NULL) {
            w->status.drops++;
            return;
        }
        if (c->result < 0) {
            l->owner = TW_ADDR_NONE;
        }
        tw_task_net net = {.kind = TW_TNET_LISTENING, .result = c->result, .cookie = l->cookie};
        deliver_net_now(w, t, now, &net);
        return;
    }
    TW_ASSERT(c->kind == TW_NET_CPL_TCP_ACCEPTED);
    int64_t conn = t ? alloc_conn(w, t->addr) : -TW_ENOMEM;
    /* The driver holds the socket until told whose it is; a refusal (no
     * listener left, or the connection table is full) closes it. */
    tw_net_req r = {.op = TW_NET_TCP_ACCEPT, .id = conn < 0 ? -1 : conn, .handle = c->handle};
    queue_req(w, &r);
    if (conn < 0) {
        w->status.drops++;
        return;
    }
    tw_tcp_event ev = {.kind = TW_TCP_EV_ACCEPTED, .conn = conn};
    tw_task_net net = {.kind = TW_TNET_TCP, .conn = conn, .tcp = &ev};
    deliver_net_now(w, t, now, &net);
}

static void on_conn_cpl(tw_worker *w, tw_ns now, const tw_net_cpl *c)
{
    tw_task *t = conn_owner(w, c->id);
    if (t == NULL) {
        return; /* aborted or its task exited: the abort is already queued */
    }
    tw_tcp_event ev = {.conn = c->id, .data = c->data, .len = c->len, .error = c->result};
    tw_task_net net = {.kind = TW_TNET_TCP, .conn = c->id, .tcp = &ev};
    bool terminal = false;
    switch (c->kind) {
    case TW_NET_CPL_TCP_CONNECTED:
        terminal = c->result < 0;
        ev.kind = terminal ? TW_TCP_EV_RESET : TW_TCP_EV_CONNECTED;
        break;
    case TW_NET_CPL_TCP_DATA:
        ev.kind = TW_TCP_EV_DATA;
        break;
    case TW_NET_CPL_TCP_SENT:
        net = (tw_task_net){
            .kind = TW_TNET_SENT, .result = c->result, .cookie = c->cookie, .conn = c->id};
        break;
    case TW_NET_CPL_TCP_WRITABLE:
        ev.kind = TW_TCP_EV_WRITABLE;
        break;
    case TW_NET_CPL_TCP_PEER_CLOSED:
        ev.kind = TW_TCP_EV_PEER_CLOSED;
        break;
    case TW_NET_CPL_TCP_CLOSED:
        ev.kind = TW_TCP_EV_CLOSED;
        terminal = true;
        break;
    case TW_NET_CPL_TCP_RESET:
        ev.kind = c->result == -TW_ETIMEDOUT ? TW_TCP_EV_TIMED_OUT : TW_TCP_EV_RESET;
        terminal = true;
        break;
    default:
        TW_UNREACHABLE();
    }
    if (terminal) {
        conn_slot(w, c->id)->owner = TW_ADDR_NONE; /* the driver has let the socket go */
    }
    deliver_net_now(w, t, now, &net);
}

/* Routes a completion to its task at once: an input comes only when every
 * output has been popped, so no task is in the middle of popping. */
static void on_net_cpl(tw_worker *w, tw_ns now, const tw_net_cpl *c)
{
    TW_ASSERT(w->cfg.kernel_net);
    switch (c->kind) {
    case TW_NET_CPL_UDP_BOUND:
    case TW_NET_CPL_UDP_DATAGRAM:
    case TW_NET_CPL_UDP_SEND_FAILED:
        on_udp_cpl(w, now, c);
        return;
    case TW_NET_CPL_TCP_LISTENING:
    case TW_NET_CPL_TCP_ACCEPTED:
        on_listener_cpl(w, now, c);
        return;
    default:
        on_conn_cpl(w, now, c);
        return;
    }
}

/* Applies one task output that stays inside the worker; returns true when it
 * must leave the worker as `out`. */
static bool apply(tw_worker *w, tw_task *t, tw_ns now, tw_task_output *to, tw_output *out)
{
    uint32_t slot = tw_addr_slot(t->addr);
    switch (to->kind) {
    case TW_TOUT_SEND:
        TW_ASSERT(to->u.msg.type >= TW_MSG_APP);
        TW_ASSERT(to->u.msg.len <= TW_MSG_DATA_MAX);
        out->kind = TW_OUT_MSG;
        out->msg = to->u.msg;
        out->msg.source = t->addr; /* a task cannot speak for another */
        return true;
    case TW_TOUT_TIMER:
        if (to->u.deadline == TW_NS_NEVER) {
            tw_wheel_cancel(&w->wheel, t->timer);
        } else {
            tw_wheel_arm(&w->wheel, t->timer, to->u.deadline);
        }
        return false;
    case TW_TOUT_SUBSCRIBE:
        subscribe(w, slot, to->u.channel);
        return false;
    case TW_TOUT_UNSUBSCRIBE: {
        tw_channel *ch = find_channel(w, to->u.channel);
        if (ch) {
            unsubscribe_slot(ch, slot);
        }
        return false;
    }
    case TW_TOUT_EXIT:
        free_task(w, t, now, to->u.status);
        return false;
    case TW_TOUT_UDP_BIND:
    case TW_TOUT_UDP_SEND:
    case TW_TOUT_UDP_CLOSE:
        apply_net(w, t, now, to);
        return false;
    case TW_TOUT_TCP_LISTEN:
    case TW_TOUT_TCP_CONNECT:
    case TW_TOUT_TCP_SEND:
    case TW_TOUT_TCP_CONSUME:
    case TW_TOUT_TCP_CLOSE:
    case TW_TOUT_TCP_ABORT:
    case TW_TOUT_TCP_NODELAY:
        if (w->cfg.kernel_net) {
            apply_tcp_kernel(w, t, to);
            return false;
        }
        if (w->tcp == NULL) {
            bool answered = to->kind == TW_TOUT_TCP_LISTEN || to->kind == TW_TOUT_TCP_CONNECT ||
                            to->kind == TW_TOUT_TCP_SEND;
            if (answered) {
                complete(w, t,
                         to->kind == TW_TOUT_TCP_LISTEN    ? TW_TNET_LISTENING
                         : to->kind == TW_TOUT_TCP_CONNECT ? TW_TNET_CONNECTING
                                                           : TW_TNET_SENT,
                         -TW_ENOTSUP, 0);
            }
            return false;
        }
        apply_tcp(w, t, now, to);
        return false;
    }
    TW_UNREACHABLE();
}

bool tw_worker_pop_output(tw_worker *w, tw_ns now, tw_output *out)
{
    for (;;) {
        if (!tw_ring_empty(&w->own_out)) {
            memset(out, 0, sizeof(*out));
            out->kind = TW_OUT_MSG;
            tw_ring_pop(&w->own_out, &out->msg);
            w->status.outputs++;
            return true;
        }
        /* Requests leave in the order they were made, before the next task
         * output is applied: a close queued by an exit precedes a bind that
         * reuses the slot, and a send's data is still the task's. */
        if (w->cfg.kernel_net && tw_ring_pop(&w->net_req, &out->req)) {
            out->kind = TW_OUT_NET_REQ;
            w->status.outputs++;
            return true;
        }
        if (w->dirty_count == 0) {
            if (deliver_net(w, now)) {
                continue;
            }
            tw_frame_out f;
            if (w->cfg.stack == NULL || !tw_stack_pop_frame(w->cfg.stack, now, &f)) {
                return false;
            }
            out->kind = f.steer ? TW_OUT_STEER : TW_OUT_FRAME;
            out->core = f.core;
            out->iface = f.iface;
            out->frame = f.data;
            out->frame_len = f.len;
            w->status.outputs++;
            return true;
        }
        uint32_t slot = w->dirty_fifo[w->dirty_head];
        TW_ASSERT(tw_bit_test(w->dirty, slot));
        tw_task *t = &w->tasks[slot];
        tw_task_output to;
        if (!t->ops->pop_output(t, now, &to)) {
            clear_dirty(w, slot);
            continue;
        }
        if (apply(w, t, now, &to, out)) {
            w->status.outputs++;
            return true;
        }
    }
}

tw_ns tw_worker_next_deadline(const tw_worker *w)
{
    tw_ns d = tw_wheel_count(&w->wheel) ? tw_wheel_next_deadline(&w->wheel) : TW_NS_NEVER;
    return w->cfg.stack ? tw_ns_min(d, tw_stack_next_deadline(w->cfg.stack)) : d;
}
