#include "app/tcp_client.h"

#include <string.h>

#include "app/tcp.h"
#include "base/assert.h"

typedef struct tc_slot {
    uint64_t seq;
    uint64_t stream; /* seeds the current request's bytes */
    uint64_t received;
    bool mismatch;
} tc_slot;

typedef struct tcp_client {
    tw_tcp_client_args a;
    uint64_t mismatches;
    tc_slot s[TW_LOAD_CONNS_MAX];
    tw_load load;
} tcp_client;

static uint64_t tc_begin(void *app, uint32_t slot, tw_rng *rng)
{
    tcp_client *k = app;
    tc_slot *s = &k->s[slot];
    s->seq++;
    s->stream = (uint64_t)slot << 48 | s->seq;
    s->received = 0;
    s->mismatch = false;
    return k->a.size;
}

static void tc_fill(void *app, uint32_t slot, uint64_t off, uint8_t *buf, uint32_t len)
{
    tcp_client *k = app;
    for (uint32_t i = 0; i < len; i++) {
        buf[i] = tw_app_bulk_byte(k->s[slot].stream, off + i);
    }
}

static tw_load_rx tc_receive(void *app, uint32_t slot, const uint8_t *d, size_t len, size_t *used)
{
    tcp_client *k = app;
    tc_slot *s = &k->s[slot];
    uint64_t left = k->a.size - s->received;
    size_t n = len < left ? len : (size_t)left;
    for (size_t i = 0; i < n && !s->mismatch; i++) {
        s->mismatch = d[i] != tw_app_bulk_byte(s->stream, s->received + i);
    }
    s->received += n;
    *used = n;
    if (s->received < k->a.size) {
        return TW_LOAD_RX_MORE;
    }
    if (s->mismatch) {
        k->mismatches++;
    }
    return TW_LOAD_RX_DONE;
}

static const tw_load_ops tc_ops = {
    .begin = tc_begin,
    .fill = tc_fill,
    .receive = tc_receive,
};

static void tc_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    tcp_client *k = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        memcpy(&k->a, in->msg->data, sizeof(k->a));
        TW_ASSERT(k->a.size >= 1);
        TW_ASSERT(k->a.size <= TW_TCP_CLIENT_SIZE_MAX);
        tw_load_start(&k->load, &k->a.load, &tc_ops, k, k->a.flags & TW_TCP_CLIENT_NAGLE, now);
        return;
    }
    if (in->kind == TW_TIN_NET) {
        tw_load_on_net(&k->load, now, in->net);
    }
}

static void tc_tick(tw_task *t, tw_ns now)
{
    tcp_client *k = tw_task_state(t);
    tw_load_on_tick(&k->load, now);
}

static bool tc_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    tcp_client *k = tw_task_state(t);
    return tw_load_pop(&k->load, tw_task_rng(t), now, out);
}

static void tc_report(const tw_task *t, tw_metric_sink *m)
{
    const tcp_client *k = ((tw_task *)t)->state;
    tw_load_report(&k->load, m);
    m->counter(m, "mismatches", k->mismatches);
}

const tw_task_ops tw_app_tcp_client = {
    .name = "tcp_client",
    .state_size = sizeof(tcp_client),
    .on_input = tc_on_input,
    .on_tick = tc_tick,
    .pop_output = tc_pop,
    .report = tc_report,
};
