#include "app/udp.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/hist.h"
#include "wire/bytes.h"

/* ---- echo ---------------------------------------------------------------- */

#define ECHO_BACKLOG 8

typedef struct echo_reply {
    tw_ipv4_addr to;
    uint16_t port;
    uint16_t len;
    uint8_t data[TW_UDP_PAYLOAD_MAX];
} echo_reply;

/* sockperf's message header (its src/message.h): flags at byte 8..9. */
#define SOCKPERF_HEADER 14
#define SOCKPERF_FLAGS_LOW 9
#define SOCKPERF_CLIENT 0x01
#define SOCKPERF_PONG 0x02

typedef struct echo {
    uint16_t port;
    uint16_t flags;
    bool want_bind;
    int32_t ep;
    int32_t bind_error;
    uint8_t head;
    uint8_t len;
    echo_reply backlog[ECHO_BACKLOG]; /* answers not yet handed over */
    echo_reply sending;               /* the one being sent (its bytes stay ours) */
    uint64_t received;
    uint64_t sent;
    uint64_t bytes;
    uint64_t overflows; /* datagrams dropped because the backlog was full */
    uint64_t errors;
    uint64_t unanswered; /* sockperf: datagrams that asked for no answer */
} echo;

static void echo_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    echo *e = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        tw_udp_echo_args a;
        memcpy(&a, in->msg->data, sizeof(a));
        e->port = a.port;
        e->flags = a.flags;
        e->want_bind = true;
        e->ep = -1;
        return;
    }
    if (in->kind != TW_TIN_NET) {
        return;
    }
    const tw_task_net *n = in->net;
    if (n->kind == TW_TNET_BOUND) {
        e->ep = n->result;
        e->bind_error = n->result < 0 ? n->result : 0;
        return;
    }
    if (n->kind != TW_TNET_EVENT || n->event->kind != TW_NET_EV_UDP_DATAGRAM) {
        e->errors++;
        return;
    }
    e->received++;
    e->bytes += n->event->payload_len;
    bool sockperf = e->flags & TW_UDP_ECHO_SOCKPERF;
    if (sockperf && (n->event->payload_len < SOCKPERF_HEADER ||
                     !(n->event->payload[SOCKPERF_FLAGS_LOW] & SOCKPERF_PONG))) {
        e->unanswered++;
        return;
    }
    if (e->len == ECHO_BACKLOG || n->event->payload_len > TW_UDP_PAYLOAD_MAX) {
        e->overflows++;
        return;
    }
    echo_reply *r = &e->backlog[(e->head + e->len++) % ECHO_BACKLOG];
    r->to = n->event->remote_addr;
    r->port = n->event->remote_port;
    r->len = (uint16_t)n->event->payload_len;
    memcpy(r->data, n->event->payload, r->len);
    if (sockperf) {
        r->data[SOCKPERF_FLAGS_LOW] &= (uint8_t)~SOCKPERF_CLIENT; /* the server's answer */
    }
}

static bool echo_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    echo *e = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    if (e->want_bind) {
        e->want_bind = false;
        out->kind = TW_TOUT_UDP_BIND;
        out->u.udp_bind.port = e->port;
        return true;
    }
    if (e->len == 0 || e->ep < 0) {
        return false;
    }
    e->sending = e->backlog[e->head];
    e->head = (uint8_t)((e->head + 1) % ECHO_BACKLOG);
    e->len--;
    e->sent++;
    out->kind = TW_TOUT_UDP_SEND;
    out->u.udp_send.endpoint = (uint32_t)e->ep;
    out->u.udp_send.dst = e->sending.to;
    out->u.udp_send.port = e->sending.port;
    out->u.udp_send.data = e->sending.data;
    out->u.udp_send.len = e->sending.len;
    return true;
}

static void echo_tick(tw_task *t, tw_ns now) {}

static void echo_report(const tw_task *t, tw_metric_sink *s)
{
    const echo *e = ((tw_task *)t)->state;
    s->counter(s, "received", e->received);
    s->counter(s, "sent", e->sent);
    s->counter(s, "bytes", e->bytes);
    s->counter(s, "overflows", e->overflows);
    s->counter(s, "errors", e->errors);
    if (e->flags & TW_UDP_ECHO_SOCKPERF) {
        s->counter(s, "unanswered", e->unanswered);
    }
    s->counter(s, "bind_error", (uint64_t)(-(int64_t)e->bind_error));
}

const tw_task_ops tw_app_udp_echo = {
    .name = "udp_echo",
    .state_size = sizeof(echo),
    .on_input = echo_on_input,
    .on_tick = echo_tick,
    .pop_output = echo_pop,
    .report = echo_report,
};

/* ---- client -------------------------------------------------------------- */

typedef struct slot {
    uint64_t seq; /* 0: free */
    tw_ns sent_at;
} slot;

typedef struct client {
    tw_udp_client_args a;
    int32_t ep;
    int32_t bind_error;
    bool want_bind;
    uint32_t to_send;    /* requests ready to go out now */
    tw_ns next_send;     /* open loop: the next period's start */
    tw_ns armed;         /* the deadline our timer is set to */
    uint64_t next_seq;
    slot window[TW_UDP_CLIENT_WINDOW_MAX];
    uint8_t buf[TW_UDP_PAYLOAD_MAX];
    uint64_t sent;
    uint64_t received;
    uint64_t lost;
    uint64_t stale; /* answers to requests already counted lost */
    uint64_t errors;
    uint64_t bytes_sent;
    uint64_t bytes_received;
    tw_hist latency;
} client;

static bool done_sending(const client *c) { return c->a.count && c->next_seq > c->a.count; }

static void client_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    client *c = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        memcpy(&c->a, in->msg->data, sizeof(c->a));
        TW_ASSERT(c->a.size >= 16 && c->a.size <= TW_UDP_PAYLOAD_MAX);
        TW_ASSERT(c->a.period_ns > 0 ||
                  (c->a.concurrency >= 1 && c->a.concurrency <= TW_UDP_CLIENT_WINDOW_MAX));
        TW_ASSERT(c->a.timeout_ns > 0);
        c->ep = -1;
        c->want_bind = true;
        c->next_seq = 1;
        c->armed = TW_NS_NEVER;
        tw_hist_init(&c->latency);
        return;
    }
    if (in->kind != TW_TIN_NET) {
        return;
    }
    const tw_task_net *n = in->net;
    if (n->kind == TW_TNET_BOUND) {
        c->ep = n->result;
        c->bind_error = n->result < 0 ? n->result : 0;
        if (c->ep >= 0) {
            c->to_send = c->a.period_ns ? 1 : c->a.concurrency;
            c->next_send = now + c->a.period_ns;
        }
        return;
    }
    if (n->kind == TW_TNET_SEND_FAILED || n->event->kind != TW_NET_EV_UDP_DATAGRAM) {
        c->errors++;
        return;
    }
    const tw_net_event *ev = n->event;
    if (ev->payload_len < 16) {
        c->errors++;
        return;
    }
    uint64_t seq = tw_bytes_load_be64(ev->payload + 8);
    slot *s = &c->window[seq % TW_UDP_CLIENT_WINDOW_MAX];
    if (s->seq != seq) {
        c->stale++;
        return;
    }
    c->received++;
    c->bytes_received += ev->payload_len;
    tw_hist_add(&c->latency, now - s->sent_at);
    s->seq = 0;
    if (!c->a.period_ns && !done_sending(c)) {
        c->to_send++;
    }
}

/* Requests past their timeout are lost; closed loop sends a replacement. */
static void client_tick(tw_task *t, tw_ns now)
{
    client *c = tw_task_state(t);
    c->armed = TW_NS_NEVER;
    for (uint32_t i = 0; i < TW_UDP_CLIENT_WINDOW_MAX; i++) {
        slot *s = &c->window[i];
        if (s->seq && now - s->sent_at >= c->a.timeout_ns) {
            s->seq = 0;
            c->lost++;
            if (!c->a.period_ns && !done_sending(c)) {
                c->to_send++;
            }
        }
    }
    if (c->a.period_ns && c->ep >= 0 && now >= c->next_send && !done_sending(c)) {
        c->to_send++;
        /* Periods stay on their grid even when a tick comes late. */
        while (c->next_send <= now) {
            c->next_send += c->a.period_ns;
        }
    }
}

static tw_ns next_deadline(const client *c)
{
    tw_ns d = TW_NS_NEVER;
    for (uint32_t i = 0; i < TW_UDP_CLIENT_WINDOW_MAX; i++) {
        if (c->window[i].seq) {
            d = tw_ns_min(d, c->window[i].sent_at + c->a.timeout_ns);
        }
    }
    if (c->a.period_ns && c->ep >= 0 && !done_sending(c)) {
        d = tw_ns_min(d, c->next_send);
    }
    return d;
}

static bool client_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    client *c = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    if (c->want_bind) {
        c->want_bind = false;
        out->kind = TW_TOUT_UDP_BIND;
        /* Name the server so the replies come back to this core. */
        out->u.udp_bind.remote = c->a.server;
        out->u.udp_bind.remote_port = c->a.port;
        return true;
    }
    while (c->to_send && c->ep >= 0 && !done_sending(c)) {
        c->to_send--;
        uint64_t seq = c->next_seq++;
        slot *s = &c->window[seq % TW_UDP_CLIENT_WINDOW_MAX];
        if (s->seq) {
            /* Open loop wrapped onto a request still out: it counts lost. */
            c->lost++;
        }
        s->seq = seq;
        s->sent_at = now;
        memset(c->buf, 0, c->a.size);
        tw_bytes_store_be64(c->buf, now);
        tw_bytes_store_be64(c->buf + 8, seq);
        c->sent++;
        c->bytes_sent += c->a.size;
        out->kind = TW_TOUT_UDP_SEND;
        out->u.udp_send.endpoint = (uint32_t)c->ep;
        out->u.udp_send.dst = c->a.server;
        out->u.udp_send.port = c->a.port;
        out->u.udp_send.data = c->buf;
        out->u.udp_send.len = c->a.size;
        return true;
    }
    c->to_send = 0;
    tw_ns d = next_deadline(c);
    if (d != c->armed) {
        c->armed = d;
        tw_task_out_timer(out, d);
        return true;
    }
    return false;
}

static void client_report(const tw_task *t, tw_metric_sink *s)
{
    const client *c = ((tw_task *)t)->state;
    s->counter(s, "sent", c->sent);
    s->counter(s, "received", c->received);
    s->counter(s, "lost", c->lost);
    s->counter(s, "stale", c->stale);
    s->counter(s, "errors", c->errors);
    s->counter(s, "bytes_sent", c->bytes_sent);
    s->counter(s, "bytes_received", c->bytes_received);
    s->counter(s, "bind_error", (uint64_t)(-(int64_t)c->bind_error));
    s->hist(s, "latency", &c->latency);
}

const tw_task_ops tw_app_udp_client = {
    .name = "udp_client",
    .state_size = sizeof(client),
    .on_input = client_on_input,
    .on_tick = client_tick,
    .pop_output = client_pop,
    .report = client_report,
};
