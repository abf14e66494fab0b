#include "app/load.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"

static bool open_loop(const tw_load *l)
{
    return l->a.period_ns > 0;
}

static bool all_issued(const tw_load *l)
{
    return l->a.count && l->issued >= l->a.count;
}

static tw_load_conn *find(tw_load *l, int64_t conn)
{
    if (conn < 0) {
        return NULL;
    }
    for (uint32_t i = 0; i < l->a.connections; i++) {
        if (l->c[i].conn == conn) {
            return &l->c[i];
        }
    }
    return NULL;
}

static tw_ns after(tw_ns now, tw_ns d)
{
    return d ? tw_ns_add(now, d) : TW_NS_NEVER;
}

/* Forgets the connection (its queue of waiting requests stays: they go out
 * on the next one) and says when to connect again. */
static void go_down(tw_load_conn *c, tw_ns retry_at)
{
    c->conn = -1;
    c->phase = TW_LOAD_DOWN;
    c->in_send = false;
    c->blocked = false;
    c->want_close = false;
    c->want_nodelay = false;
    c->consume = 0;
    c->deadline = retry_at;
}

/* The connection is useless: abort it at the next pop. */
static void abort_conn(tw_load_conn *c, tw_ns retry_at)
{
    c->phase = TW_LOAD_ABORT;
    c->deadline = retry_at;
}

static void close_conn(tw_load_conn *c)
{
    c->phase = TW_LOAD_CLOSING;
    c->want_close = true;
    c->deadline = TW_NS_NEVER;
}

static bool any_outstanding(const tw_load *l)
{
    for (uint32_t i = 0; i < l->a.connections; i++) {
        if (l->c[i].phase == TW_LOAD_BUSY || l->c[i].qlen > 0) {
            return true;
        }
    }
    return false;
}

/* With a count: once every request has been issued and answered (or has
 * failed), the connections close and none reopens. */
static void check_finished(tw_load *l)
{
    if (l->finished || !all_issued(l) || any_outstanding(l)) {
        return;
    }
    l->finished = true;
    for (uint32_t i = 0; i < l->a.connections; i++) {
        if (l->c[i].phase == TW_LOAD_READY) {
            close_conn(&l->c[i]);
        }
    }
}

/* Open loop: a request came due; it waits on the least loaded connection,
 * preferring connections that are up. */
static void schedule(tw_load *l, tw_ns due)
{
    l->issued++;
    uint32_t n = l->a.connections;
    uint32_t best = n;
    uint32_t best_score = UINT32_MAX;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = (l->cursor + k) % n;
        const tw_load_conn *c = &l->c[i];
        if (c->qlen == TW_LOAD_QUEUE_MAX) {
            continue;
        }
        bool up = c->phase == TW_LOAD_READY || c->phase == TW_LOAD_BUSY;
        uint32_t score = c->qlen + (c->phase == TW_LOAD_BUSY) + (up ? 0 : TW_LOAD_QUEUE_MAX);
        if (score < best_score) {
            best_score = score;
            best = i;
        }
    }
    if (best == n) {
        l->overflows++; /* every queue is full: the server is far behind */
        return;
    }
    l->cursor = (best + 1) % n;
    tw_load_conn *c = &l->c[best];
    c->queue[(c->qhead + c->qlen) % TW_LOAD_QUEUE_MAX] = due;
    c->qlen++;
}

/* Open loop: issue every request due by now. Due times stay on the grid of
 * periods from the start even when a tick comes late. */
static void issue_due(tw_load *l, tw_ns now)
{
    for (uint32_t k = 0; l->next_send <= now && !all_issued(l); k++) {
        if (k < TW_LOAD_CATCHUP_MAX) {
            schedule(l, l->next_send);
        } else {
            l->issued++;
            l->overflows++;
        }
        l->next_send += l->a.period_ns;
    }
}

void tw_load_start(tw_load *l, const tw_load_args *a, const tw_load_ops *ops, void *app, bool nagle,
                   tw_ns now)
{
    TW_ASSERT(a->connections >= 1);
    TW_ASSERT(a->connections <= TW_LOAD_CONNS_MAX);
    TW_ASSERT(a->server != 0);
    TW_ASSERT(a->port != 0);
    TW_ASSERT(ops->begin && ops->fill && ops->receive);
    l->a = *a;
    l->ops = ops;
    l->app = app;
    l->nagle = nagle;
    l->armed = TW_NS_NEVER;
    l->next_send = now;
    tw_hist_init(&l->latency);
    tw_hist_init(&l->latency_corrected);
    for (uint32_t i = 0; i < a->connections; i++) {
        go_down(&l->c[i], now);
    }
    if (open_loop(l)) {
        issue_due(l, now);
    }
}

/* The request in flight on c failed; the connection goes with it, and the
 * next one waits a little, so that a server that refuses or resets is not
 * hammered at the speed of the link. */
static void fail_request(tw_load *l, tw_load_conn *c, uint64_t *counter, tw_ns now)
{
    TW_ASSERT(c->phase == TW_LOAD_BUSY);
    ++*counter;
    abort_conn(c, now + TW_LOAD_RETRY_NS);
}

static void complete(tw_load *l, tw_load_conn *c, tw_ns now)
{
    TW_ASSERT(c->phase == TW_LOAD_BUSY);
    l->responses++;
    tw_hist_add(&l->latency, now - c->sent_at);
    tw_hist_add(&l->latency_corrected, now - c->sched_at);
    c->phase = TW_LOAD_READY;
    c->deadline = TW_NS_NEVER;
}

static void on_data(tw_load *l, tw_load_conn *c, tw_ns now, const tw_tcp_event *ev)
{
    if (c->phase == TW_LOAD_CLOSING || c->phase == TW_LOAD_ABORT) {
        c->consume += ev->len; /* a response we no longer wait for */
        return;
    }
    if (c->phase != TW_LOAD_BUSY) {
        l->malformed++; /* bytes nobody asked for */
        abort_conn(c, now + TW_LOAD_RETRY_NS);
        return;
    }
    uint32_t slot = (uint32_t)(c - l->c);
    size_t used = 0;
    tw_load_rx rx = l->ops->receive(l->app, slot, ev->data, ev->len, &used);
    TW_ASSERT(used <= ev->len);
    TW_ASSERT(rx != TW_LOAD_RX_MORE || used == ev->len);
    l->bytes_received += used;
    c->consume += used;
    if (rx == TW_LOAD_RX_BAD) {
        fail_request(l, c, &l->malformed, now);
        return;
    }
    if (rx == TW_LOAD_RX_MORE) {
        return;
    }
    complete(l, c, now);
    if (used < ev->len) {
        l->malformed++; /* more than the response: the stream is out of step */
        abort_conn(c, now + TW_LOAD_RETRY_NS);
    } else if (rx == TW_LOAD_RX_DONE_CLOSE || c->req_sent < c->req_len) {
        /* A response before the whole request went out leaves the rest of
         * the request unsendable: the connection cannot carry another. */
        close_conn(c);
    }
    check_finished(l);
}

/* A terminal event: the connection is gone (no abort needed). After a
 * clean close the next connection opens at once; after a failure it waits. */
static void on_end(tw_load *l, tw_load_conn *c, tw_ns now)
{
    tw_ns retry = now;
    if (c->phase == TW_LOAD_BUSY) {
        l->resets++;
        retry = now + TW_LOAD_RETRY_NS;
    } else if (c->phase == TW_LOAD_CONNECTING) {
        l->connect_errors++;
        retry = now + TW_LOAD_RETRY_NS;
    }
    go_down(c, retry);
    check_finished(l);
}

static void on_tcp(tw_load *l, tw_ns now, const tw_tcp_event *ev)
{
    tw_load_conn *c = find(l, ev->conn);
    if (c == NULL) {
        return; /* a connection we aborted */
    }
    switch (ev->kind) {
    case TW_TCP_EV_CONNECTED:
        TW_ASSERT(c->phase == TW_LOAD_CONNECTING);
        l->connects++;
        c->phase = TW_LOAD_READY;
        c->deadline = TW_NS_NEVER;
        c->want_nodelay = !l->nagle;
        if (l->finished) {
            close_conn(c);
        }
        return;
    case TW_TCP_EV_DATA:
        on_data(l, c, now, ev);
        return;
    case TW_TCP_EV_WRITABLE:
        c->blocked = false;
        return;
    case TW_TCP_EV_PEER_CLOSED:
        /* The server ended the connection: under a request that request
         * failed; idle, it was a keep-alive timeout. Either way, close and
         * reconnect when the close completes. */
        if (c->phase == TW_LOAD_BUSY) {
            l->resets++;
        }
        if (c->phase == TW_LOAD_BUSY || c->phase == TW_LOAD_READY) {
            close_conn(c);
        }
        check_finished(l);
        return;
    case TW_TCP_EV_CLOSED:
    case TW_TCP_EV_RESET:
    case TW_TCP_EV_TIMED_OUT:
        on_end(l, c, now);
        return;
    default:
        return;
    }
}

void tw_load_on_net(tw_load *l, tw_ns now, const tw_task_net *n)
{
    switch (n->kind) {
    case TW_TNET_CONNECTING: {
        TW_ASSERT(n->cookie < l->a.connections);
        tw_load_conn *c = &l->c[n->cookie];
        TW_ASSERT(c->phase == TW_LOAD_CONNECTING);
        if (n->result < 0) {
            l->connect_errors++;
            go_down(c, now + TW_LOAD_RETRY_NS);
        } else {
            c->conn = n->conn;
        }
        return;
    }
    case TW_TNET_SENT: {
        tw_load_conn *c = find(l, n->conn);
        if (c == NULL || !c->in_send) {
            return;
        }
        c->in_send = false;
        if (n->result < 0) {
            if (c->phase == TW_LOAD_BUSY) {
                fail_request(l, c, &l->resets, now);
            }
            return;
        }
        TW_ASSERT((uint32_t)n->result <= c->offered);
        c->req_sent += (uint64_t)n->result;
        l->bytes_sent += (uint64_t)n->result;
        c->blocked = (uint32_t)n->result < c->offered;
        return;
    }
    case TW_TNET_TCP:
        on_tcp(l, now, n->tcp);
        return;
    default:
        return;
    }
}

void tw_load_on_tick(tw_load *l, tw_ns now)
{
    l->armed = TW_NS_NEVER;
    for (uint32_t i = 0; i < l->a.connections; i++) {
        tw_load_conn *c = &l->c[i];
        if (c->deadline > now) {
            continue;
        }
        if (c->phase == TW_LOAD_BUSY) {
            fail_request(l, c, &l->timeouts, now);
        } else if (c->phase == TW_LOAD_CONNECTING) {
            l->connect_errors++;
            abort_conn(c, now + TW_LOAD_RETRY_NS);
        }
    }
    if (open_loop(l)) {
        issue_due(l, now);
    }
    check_finished(l);
}

static bool has_work(const tw_load *l, const tw_load_conn *c)
{
    return open_loop(l) ? c->qlen > 0 : !all_issued(l);
}

static void begin(tw_load *l, tw_load_conn *c, tw_rng *rng, tw_ns now)
{
    TW_ASSERT(c->phase == TW_LOAD_READY);
    if (open_loop(l)) {
        TW_ASSERT(c->qlen > 0);
        c->sched_at = c->queue[c->qhead];
        c->qhead = (uint8_t)((c->qhead + 1) % TW_LOAD_QUEUE_MAX);
        c->qlen--;
    } else {
        l->issued++;
        c->sched_at = now;
    }
    c->req_len = l->ops->begin(l->app, (uint32_t)(c - l->c), rng);
    TW_ASSERT(c->req_len > 0);
    c->req_sent = 0;
    c->sent_at = now;
    c->deadline = after(now, l->a.timeout_ns);
    c->phase = TW_LOAD_BUSY;
    l->requests++;
}

/* The one output connection c wants now, if any. */
static bool conn_pop(tw_load *l, tw_load_conn *c, tw_rng *rng, tw_ns now, tw_task_output *out)
{
    uint32_t slot = (uint32_t)(c - l->c);
    if (c->phase == TW_LOAD_ABORT) {
        tw_ns retry = c->deadline;
        if (c->conn >= 0) {
            out->kind = TW_TOUT_TCP_ABORT;
            out->u.tcp.conn = c->conn;
        }
        go_down(c, retry);
        if (out->kind) {
            return true;
        }
    }
    if (c->phase == TW_LOAD_DOWN) {
        if (l->finished || c->deadline > now) {
            return false;
        }
        c->phase = TW_LOAD_CONNECTING;
        c->deadline = after(now, l->a.timeout_ns);
        out->kind = TW_TOUT_TCP_CONNECT;
        out->u.tcp_open.addr = l->a.server;
        out->u.tcp_open.port = l->a.port;
        out->u.tcp_open.cookie = slot;
        return true;
    }
    if (c->conn < 0) {
        return false;
    }
    if (c->want_nodelay) {
        c->want_nodelay = false;
        out->kind = TW_TOUT_TCP_NODELAY;
        out->u.tcp.conn = c->conn;
        out->u.tcp.len = 1;
        return true;
    }
    if (c->consume) {
        out->kind = TW_TOUT_TCP_CONSUME;
        out->u.tcp.conn = c->conn;
        out->u.tcp.len = c->consume;
        c->consume = 0;
        return true;
    }
    if (c->want_close) {
        c->want_close = false;
        out->kind = TW_TOUT_TCP_CLOSE;
        out->u.tcp.conn = c->conn;
        return true;
    }
    if (c->phase == TW_LOAD_READY && has_work(l, c)) {
        begin(l, c, rng, now);
    }
    if (c->phase != TW_LOAD_BUSY || c->in_send || c->blocked || c->req_sent == c->req_len) {
        return false;
    }
    uint64_t left = c->req_len - c->req_sent;
    uint32_t n = left < TW_LOAD_CHUNK ? (uint32_t)left : TW_LOAD_CHUNK;
    l->ops->fill(l->app, slot, c->req_sent, l->buf, n);
    c->offered = n;
    c->in_send = true;
    out->kind = TW_TOUT_TCP_SEND;
    out->u.tcp.conn = c->conn;
    out->u.tcp.data = l->buf;
    out->u.tcp.len = n;
    return true;
}

static tw_ns next_deadline(const tw_load *l)
{
    tw_ns d = TW_NS_NEVER;
    for (uint32_t i = 0; i < l->a.connections; i++) {
        const tw_load_conn *c = &l->c[i];
        bool timed = c->phase == TW_LOAD_BUSY || c->phase == TW_LOAD_CONNECTING ||
                     (c->phase == TW_LOAD_DOWN && !l->finished);
        if (timed) {
            d = tw_ns_min(d, c->deadline);
        }
    }
    if (open_loop(l) && !all_issued(l)) {
        d = tw_ns_min(d, l->next_send);
    }
    return d;
}

bool tw_load_pop(tw_load *l, tw_rng *rng, tw_ns now, tw_task_output *out)
{
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < l->a.connections; i++) {
        if (conn_pop(l, &l->c[i], rng, now, out)) {
            return true;
        }
    }
    tw_ns d = next_deadline(l);
    if (d != l->armed) {
        l->armed = d;
        tw_task_out_timer(out, d);
        return true;
    }
    return false;
}

void tw_load_report(const tw_load *l, tw_metric_sink *s)
{
    uint64_t errors = l->timeouts + l->resets + l->malformed + l->connect_errors;
    s->counter(s, "scheduled", l->issued);
    s->counter(s, "requests", l->requests);
    s->counter(s, "responses", l->responses);
    s->counter(s, "bytes_sent", l->bytes_sent);
    s->counter(s, "bytes_received", l->bytes_received);
    s->counter(s, "errors", errors);
    s->counter(s, "timeouts", l->timeouts);
    s->counter(s, "resets", l->resets);
    s->counter(s, "malformed", l->malformed);
    s->counter(s, "connect_errors", l->connect_errors);
    s->counter(s, "overflows", l->overflows);
    s->counter(s, "connects", l->connects);
    s->counter(s, "done", l->finished);
    s->hist(s, "latency", &l->latency);
    s->hist(s, "latency_corrected", &l->latency_corrected);
}
