/* Small UDP tasks and world templates shared by the world tests and the
 * capture program: a sender that sends numbered datagrams on a timer grid,
 * a sink that counts what arrives (duplicates, reordering, times), and a
 * builder for hosts on one /24.
 *
 * Header-only, every helper static (inline where a file may not use it).
 * Assertions here are TW_ASSERT, so the capture program can use it
 * without cmocka. */
#ifndef TW_TESTS_WORLD_HARNESS_H
#define TW_TESTS_WORLD_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "rt/task.h"
#include "sim/world.h"

enum { WT_SINK, WT_SENDER, WT_TYPES };

#define WT_SINK_PORT 9000
#define WT_SEQ_MAX (1u << 17) /* datagrams a sink tells apart */
#define WT_TIMES_MAX 16       /* arrival and send times kept */
#define WT_PAYLOAD_MAX 1472

/* ---- sink: binds a port and counts datagrams -------------------------- */

typedef struct wt_sink {
    uint16_t port;
    bool want_bind;
    int32_t ep;
    uint64_t received;
    uint64_t bytes;
    uint64_t duplicates;
    uint64_t reordered; /* arrived after a higher sequence number */
    uint64_t out_of_range;
    uint64_t bad; /* payloads that are not what the sender wrote */
    uint32_t max_seq;
    bool any;
    tw_ns at[WT_TIMES_MAX]; /* arrival times of the first datagrams */
    uint32_t seq_at[WT_TIMES_MAX];
    uint64_t seen[WT_SEQ_MAX / 64];
} wt_sink;

typedef struct wt_sink_args {
    uint16_t port;
} wt_sink_args;

static inline void wt_sink_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    wt_sink *s = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        wt_sink_args a = {.port = WT_SINK_PORT};
        if (in->msg->len >= sizeof(a)) {
            memcpy(&a, in->msg->data, sizeof(a));
        }
        s->port = a.port;
        s->ep = -1;
        s->want_bind = true;
        return;
    }
    if (in->kind != TW_TIN_NET) {
        return;
    }
    const tw_task_net *n = in->net;
    if (n->kind == TW_TNET_BOUND) {
        s->ep = n->result;
        return;
    }
    if (n->kind != TW_TNET_EVENT || n->event->kind != TW_NET_EV_UDP_DATAGRAM) {
        return;
    }
    const tw_net_event *ev = n->event;
    uint32_t seq = UINT32_MAX;
    if (ev->payload_len >= 4) {
        memcpy(&seq, ev->payload, 4);
    }
    if (s->received < WT_TIMES_MAX) {
        s->at[s->received] = now;
        s->seq_at[s->received] = seq;
    }
    s->received++;
    s->bytes += ev->payload_len;
    for (size_t i = 4; i < ev->payload_len; i++) {
        if (ev->payload[i] != (uint8_t)(seq + i)) {
            s->bad++;
            break;
        }
    }
    if (seq >= WT_SEQ_MAX) {
        s->out_of_range++;
        return;
    }
    if (s->seen[seq / 64] & (1ull << (seq % 64))) {
        s->duplicates++;
        return;
    }
    s->seen[seq / 64] |= 1ull << (seq % 64);
    if (s->any && seq < s->max_seq) {
        s->reordered++;
    }
    if (!s->any || seq > s->max_seq) {
        s->max_seq = seq;
    }
    s->any = true;
}

static inline bool wt_sink_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    wt_sink *s = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    if (s->want_bind) {
        s->want_bind = false;
        out->kind = TW_TOUT_UDP_BIND;
        out->u.udp_bind.port = s->port;
        return true;
    }
    return false;
}

/* ---- sender: `count` datagrams of `size` bytes, `burst` at a time on a
 * grid of `interval_ns` from `start_ns` --------------------------------- */

typedef struct wt_sender_args {
    tw_ipv4_addr dst;
    uint16_t port;
    uint16_t size;
    uint32_t count;
    uint32_t burst; /* datagrams per tick; 0 means 1 */
    tw_ns start_ns;
    tw_ns interval_ns;
} wt_sender_args;

typedef struct wt_sender {
    wt_sender_args a;
    int32_t ep;
    bool want_bind;
    bool arm;
    tw_ns next_at;
    uint32_t pending; /* sends to make in this tick */
    uint32_t seq;
    uint64_t failed;
    int32_t last_failure;
    uint64_t errors; /* ICMP errors reported back */
    int32_t last_error;
    tw_ns sent_at[WT_TIMES_MAX];
    uint8_t buf[WT_PAYLOAD_MAX];
} wt_sender;

_Static_assert(sizeof(wt_sender_args) <= TW_SPAWN_ARGS_MAX, "sender arguments fit a spawn");

static inline void wt_sender_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    wt_sender *s = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        memcpy(&s->a, in->msg->data, sizeof(s->a));
        if (s->a.burst == 0) {
            s->a.burst = 1;
        }
        TW_ASSERT(s->a.size >= 4 && s->a.size <= WT_PAYLOAD_MAX);
        s->ep = -1;
        s->want_bind = true;
        return;
    }
    if (in->kind != TW_TIN_NET) {
        return;
    }
    const tw_task_net *n = in->net;
    if (n->kind == TW_TNET_BOUND) {
        s->ep = n->result;
        if (n->result >= 0 && s->a.count > 0) {
            s->next_at = s->a.start_ns > now ? s->a.start_ns : now;
            s->arm = true;
        }
    } else if (n->kind == TW_TNET_SEND_FAILED) {
        s->failed++;
        s->last_failure = n->result;
    } else if (n->event->kind == TW_NET_EV_UDP_ERROR) {
        s->errors++;
        s->last_error = n->event->error;
    }
}

static inline void wt_sender_tick(tw_task *t, tw_ns now)
{
    wt_sender *s = tw_task_state(t);
    uint32_t left = s->a.count - s->seq;
    s->pending = left < s->a.burst ? left : s->a.burst;
    if (s->seq + s->pending < s->a.count) {
        s->next_at += s->a.interval_ns;
        s->arm = true;
    }
}

static inline bool wt_sender_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    wt_sender *s = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    if (s->want_bind) {
        s->want_bind = false;
        out->kind = TW_TOUT_UDP_BIND;
        return true;
    }
    if (s->pending > 0) {
        s->pending--;
        if (s->seq < WT_TIMES_MAX) {
            s->sent_at[s->seq] = now;
        }
        memcpy(s->buf, &s->seq, 4);
        for (uint32_t i = 4; i < s->a.size; i++) {
            s->buf[i] = (uint8_t)(s->seq + i);
        }
        s->seq++;
        out->kind = TW_TOUT_UDP_SEND;
        out->u.udp_send.endpoint = (uint32_t)s->ep;
        out->u.udp_send.dst = s->a.dst;
        out->u.udp_send.port = s->a.port;
        out->u.udp_send.data = s->buf;
        out->u.udp_send.len = s->a.size;
        return true;
    }
    if (s->arm) {
        s->arm = false;
        tw_task_out_timer(out, s->next_at);
        return true;
    }
    return false;
}

static void wt_no_tick(tw_task *t, tw_ns now) {}

static const tw_task_ops wt_sink_ops = {"sink",     sizeof(wt_sink), wt_sink_input,
                                        wt_no_tick, wt_sink_pop,     NULL};
static const tw_task_ops wt_sender_ops = {"sender",       sizeof(wt_sender), wt_sender_input,
                                          wt_sender_tick, wt_sender_pop,     NULL};
static const tw_task_ops *const wt_types[WT_TYPES] = {&wt_sink_ops, &wt_sender_ops};
static const tw_task_registry wt_registry = {wt_types, WT_TYPES};

#define WT_STATE_MAX (sizeof(wt_sink) > sizeof(wt_sender) ? sizeof(wt_sink) : sizeof(wt_sender))

/* ---- templates ------------------------------------------------------------ */

/* 10.0.0.(i+1)/24 */
static inline tw_ipv4_addr wt_addr(uint32_t i)
{
    return TW_IPV4_ADDR(10, 0, 0, i + 1);
}

static inline void wt_world_config(tw_world_config *cfg, uint64_t seed)
{
    tw_world_config_default(cfg);
    cfg->sim.seed = seed;
    /* Round numbers, so every expected time can be written down. */
    cfg->sim.cost.msg = (tw_cost){.base_ns = 100, .ps_per_byte = 0};
    cfg->sim.cost.timer = (tw_cost){.base_ns = 100, .ps_per_byte = 0};
    cfg->sim.cost.output = (tw_cost){.base_ns = 50, .ps_per_byte = 0};
    cfg->sim.cost.frame = (tw_cost){.base_ns = 200, .ps_per_byte = 0};
    cfg->sim.controller.registry = &wt_registry;
}

/* A host with one interface 10.0.0.(i+1)/24, MAC from i+1. */
static inline int wt_host_add(tw_world *w, uint32_t i, uint32_t cores)
{
    tw_world_host_config hc;
    tw_world_host_config_default(&hc);
    hc.cores = cores;
    hc.worker.registry = &wt_registry;
    hc.worker.max_tasks = 8;
    hc.worker.task_state_max = WT_STATE_MAX;
    hc.stack.frame_buffers = 256;
    hc.stack.reasm.slots = 2;
    int rc = tw_world_host_config_iface(&hc, tw_mac_from_id(i + 1), wt_addr(i), 24, 1500);
    TW_ASSERT(rc == 0);
    return tw_world_host_add(w, &hc);
}

/* The task in slot `slot` of a worker, spawned there first (generation 0). */
static inline void *wt_task_state(tw_world *w, uint32_t worker, uint32_t slot)
{
    tw_task *t = tw_worker_task(tw_world_worker(w, worker), tw_addr_make(worker, 0, slot));
    return t ? tw_task_state(t) : NULL;
}

#endif
