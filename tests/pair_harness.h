/* Two workers, each with a user-space stack (10.0.0.1 and 10.0.0.2 on one
 * /24), wired back to back by a FIFO of frame copies: each worker's
 * outputs are popped until empty before its next input, and time moves to
 * the next deadline when the wire is quiet. A test may drop frames in
 * flight with a filter. Header-only: tests include it once. */
#ifndef TW_TESTS_PAIR_HARNESS_H
#define TW_TESTS_PAIR_HARNESS_H

#include <string.h>

#include "net/stack.h"
#include "rt/worker.h"

#define PAIR_A TW_IPV4_ADDR(10, 0, 0, 1)
#define PAIR_B TW_IPV4_ADDR(10, 0, 0, 2)
#define PAIR_WIRE_MAX 512

typedef struct pair_frame {
    int to;
    size_t len;
    uint8_t data[2048];
} pair_frame;

/* Returns false to drop the frame (to: the receiving side). */
typedef bool (*pair_filter)(void *ctx, int to, const uint8_t *frame, size_t len);

typedef struct pair {
    tw_stack *stack[2];
    tw_worker worker[2];
    pair_frame wire[PAIR_WIRE_MAX];
    uint32_t head, len;
    uint64_t frames, dropped;
    tw_ns now;
    pair_filter filter;
    void *filter_ctx;
} pair;

static inline void pair_init_tcp(pair *p, const tw_task_registry *reg, uint32_t state_max,
                                 bool tcp)
{
    memset(p, 0, sizeof(*p));
    for (int i = 0; i < 2; i++) {
        tw_stack_config sc;
        tw_stack_config_default(&sc);
        sc.tcp_enabled = tcp;
        tw_tcp_config_default(&sc.tcp);
        sc.tcp.seed = 11 + (uint64_t)i;
        p->stack[i] = tw_stack_create(&sc, 0);
        tw_iface_config ic = {.mac = tw_mac_from_id((uint32_t)i + 1),
                              .addr = i == 0 ? PAIR_A : PAIR_B, .prefix_len = 24};
        assert_int_equal(tw_stack_iface_add(p->stack[i], &ic), 0);
        tw_worker_config wc = {.id = (uint32_t)i, .max_tasks = 8, .task_state_max = state_max,
                               .max_channels = 2, .outq_max = 64, .seed = 3, .registry = reg,
                               .stack = p->stack[i], .net_endpoints_max = sc.udp.endpoints_max,
                               .tcp_conns_max = sc.tcp.conns_max,
                               .tcp_listeners_max = sc.tcp.listeners_max};
        tw_worker_init(&p->worker[i], &wc, 0);
        assert_int_equal(tw_stack_iface_up(p->stack[i], 0, 0), 0);
    }
}

static inline void pair_init(pair *p, const tw_task_registry *reg, uint32_t state_max)
{
    pair_init_tcp(p, reg, state_max, false);
}

static inline void pair_free(pair *p)
{
    for (int i = 0; i < 2; i++) {
        tw_worker_free(&p->worker[i]);
        tw_stack_destroy(p->stack[i]);
    }
}

static inline void pair_drain(pair *p, int i)
{
    tw_output out;
    while (tw_worker_pop_output(&p->worker[i], p->now, &out)) {
        if (out.kind != TW_OUT_FRAME) {
            continue;
        }
        if (p->filter && !p->filter(p->filter_ctx, 1 - i, out.frame, out.frame_len)) {
            p->dropped++;
            continue;
        }
        assert_true(p->len < PAIR_WIRE_MAX);
        pair_frame *f = &p->wire[(p->head + p->len++) % PAIR_WIRE_MAX];
        assert_true(out.frame_len <= sizeof(f->data));
        f->to = 1 - i;
        f->len = out.frame_len;
        memcpy(f->data, out.frame, out.frame_len);
    }
}

/* Moves frames until the wire is quiet at the current time. */
static inline void pair_settle(pair *p)
{
    pair_drain(p, 0);
    pair_drain(p, 1);
    for (uint32_t steps = 0; p->len > 0; steps++) {
        assert_true(steps < 1000000);
        pair_frame *f = &p->wire[p->head];
        p->head = (p->head + 1) % PAIR_WIRE_MAX;
        p->len--;
        tw_input in = {.kind = TW_IN_FRAME, .iface = 0, .frame = f->data, .frame_len = f->len};
        tw_worker_on_input(&p->worker[f->to], p->now, &in);
        p->frames++;
        pair_drain(p, f->to);
    }
}

/* Runs until `until`: settle, then jump to the earliest deadline, tick. */
static inline void pair_run_until(pair *p, tw_ns until)
{
    for (;;) {
        pair_settle(p);
        tw_ns d = tw_ns_min(tw_worker_next_deadline(&p->worker[0]),
                            tw_worker_next_deadline(&p->worker[1]));
        if (d > until) {
            p->now = until;
            return;
        }
        if (d > p->now) {
            p->now = d;
        }
        for (int i = 0; i < 2; i++) {
            if (tw_worker_next_deadline(&p->worker[i]) <= p->now) {
                tw_worker_on_tick(&p->worker[i], p->now);
                pair_drain(p, i);
            }
        }
    }
}

#endif
