/* Tasks: the unit of application logic, sans-io.
 *
 * A task is a vtable and a block of state in a worker's task slot. It is
 * given inputs (a start with its spawn arguments, a bus message, a control
 * message from the controller) and timer expiries, and it answers with
 * outputs that the worker pops until there are none: send a message, arm
 * or cancel its timer, subscribe to a channel, exit. The worker asserts
 * that a task's outputs were all popped before it is given the next input
 * (the seed runtime's Waiting -> OnInput -> PopOutput* -> Waiting cycle).
 *
 * A task never sees a clock or a random source of its own: `now` comes in
 * every call and randomness from tw_task_rng(), its worker's stream. */
#ifndef TW_RT_TASK_H
#define TW_RT_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "base/hist.h"
#include "base/rng.h"
#include "base/time.h"
#include "net/stack.h"
#include "rt/bus.h"

typedef struct tw_task tw_task;
typedef struct tw_worker tw_worker;

typedef enum tw_task_input_kind {
    TW_TIN_START = 1, /* spawned: msg->data holds the spawn arguments */
    TW_TIN_MSG,       /* a bus message for this task */
    TW_TIN_NET,       /* the network service answered or has an event */
} tw_task_input_kind;

/* What the network service tells a task. */
typedef enum tw_task_net_kind {
    TW_TNET_BOUND = 1,   /* a UDP bind finished: result is the endpoint or -TW_E* */
    TW_TNET_SEND_FAILED, /* a UDP send was refused at once: result is -TW_E* */
    TW_TNET_EVENT,       /* a stack event for one of the task's endpoints */
    TW_TNET_LISTENING,   /* a TCP listen finished: result 0 or -TW_E* */
    TW_TNET_CONNECTING,  /* a TCP connect started: conn, or result -TW_E* */
    TW_TNET_SENT,        /* a TCP send: result is the bytes accepted or -TW_E* */
    TW_TNET_TCP,         /* a TCP event for one of the task's connections */
} tw_task_net_kind;

typedef struct tw_task_net {
    tw_task_net_kind kind;
    int32_t result;
    uint64_t cookie;           /* the request's */
    int64_t conn;              /* TCP: the connection */
    const tw_net_event *event; /* TW_TNET_EVENT; valid during the call only */
    const tw_tcp_event *tcp;   /* TW_TNET_TCP; its data valid during the call only */
} tw_task_net;

typedef struct tw_task_input {
    tw_task_input_kind kind;
    const tw_msg *msg;       /* TW_TIN_START, TW_TIN_MSG */
    const tw_task_net *net;  /* TW_TIN_NET */
} tw_task_input;

typedef enum tw_task_output_kind {
    TW_TOUT_SEND = 1,    /* msg: route it (mode, target, type, data) */
    TW_TOUT_TIMER,       /* arm the task's timer at deadline; TW_NS_NEVER cancels */
    TW_TOUT_SUBSCRIBE,   /* channel */
    TW_TOUT_UNSUBSCRIBE, /* channel */
    TW_TOUT_EXIT,        /* status; the task is freed after on_shutdown */
    TW_TOUT_UDP_BIND,    /* udp_bind: the answer comes back as TW_TNET_BOUND */
    TW_TOUT_UDP_SEND,    /* udp_send: data stays the task's until its next pop */
    TW_TOUT_UDP_CLOSE,   /* udp_close */
    TW_TOUT_TCP_LISTEN,  /* tcp_listen: answered by TW_TNET_LISTENING */
    TW_TOUT_TCP_CONNECT, /* tcp_connect: answered by TW_TNET_CONNECTING */
    TW_TOUT_TCP_SEND,    /* tcp: answered by TW_TNET_SENT; data stays the task's until its next pop */
    TW_TOUT_TCP_CONSUME, /* tcp: frees n received bytes */
    TW_TOUT_TCP_CLOSE,   /* tcp: graceful close of our direction */
    TW_TOUT_TCP_ABORT,   /* tcp: reset and forget the connection */
    TW_TOUT_TCP_NODELAY, /* tcp: len != 0 turns Nagle's algorithm off, 0 on */
} tw_task_output_kind;

typedef struct tw_task_output {
    tw_task_output_kind kind;
    union {
        tw_msg msg;
        tw_ns deadline;
        uint32_t channel;
        int32_t status;
        struct {
            tw_ipv4_addr addr; /* 0: any of the host's */
            uint16_t port;     /* 0: ephemeral */
            uint16_t remote_port;
            tw_ipv4_addr remote; /* with port 0: the peer, so replies reach this core */
            uint64_t cookie;
        } udp_bind;
        struct {
            uint32_t endpoint;
            tw_ipv4_addr dst;
            uint16_t port;
            uint32_t len;
            const void *data;
            uint64_t cookie;
        } udp_send;
        struct {
            uint32_t endpoint;
        } udp_close;
        struct {
            tw_ipv4_addr addr; /* listen: 0 any of ours; connect: the remote */
            uint16_t port;
            uint32_t backlog;  /* listen */
            uint64_t cookie;
        } tcp_open;
        struct {
            int64_t conn;
            const void *data; /* send */
            uint64_t len;     /* send: bytes; consume: bytes freed */
            uint64_t cookie;
        } tcp;
    } u;
} tw_task_output;

/* Where a task reports its metrics (counters and latency histograms) when a
 * driver asks: at the end of a run, or for a time series. Names are short
 * and stable ("sent", "latency"); the driver prefixes the task's identity. */
typedef struct tw_metric_sink tw_metric_sink;
struct tw_metric_sink {
    void (*counter)(tw_metric_sink *s, const char *name, uint64_t value);
    void (*hist)(tw_metric_sink *s, const char *name, const tw_hist *h);
    void *ctx;
};

typedef struct tw_task_ops {
    const char *name;
    uint32_t state_size; /* bytes of state; at most the worker's slot size */
    void (*on_input)(tw_task *t, tw_ns now, const tw_task_input *in);
    void (*on_tick)(tw_task *t, tw_ns now); /* its timer fired */
    bool (*pop_output)(tw_task *t, tw_ns now, tw_task_output *out);
    void (*on_shutdown)(tw_task *t, tw_ns now);
    void (*report)(const tw_task *t, tw_metric_sink *sink); /* optional */
} tw_task_ops;

/* Task types are registered by index in a table the driver hands to every
 * worker and the controller, so a spawn names a type by number. */
typedef struct tw_task_registry {
    const tw_task_ops *const *types;
    uint32_t count;
} tw_task_registry;

struct tw_task {
    const tw_task_ops *ops;
    tw_worker *worker;
    void *state;
    tw_addr addr;
    uint32_t group;
    uint32_t type;
    uint8_t live;
    uint8_t pad_[3];
    uint64_t inputs;
    struct tw_timer *timer; /* the task's one timer, owned by the worker */
};

static inline void *tw_task_state(tw_task *t) { return t->state; }
static inline tw_addr tw_task_addr(const tw_task *t) { return t->addr; }
tw_rng *tw_task_rng(tw_task *t);

/* Helpers that fill an output, for tasks' pop_output. */
void tw_task_out_send(tw_task_output *out, tw_addr source, tw_msg_mode mode, uint64_t target,
                      uint32_t type, const void *data, uint32_t len);
void tw_task_out_timer(tw_task_output *out, tw_ns deadline);

/* A small bounded queue of pending outputs that simple tasks embed in their
 * state: push as inputs are handled, pop from pop_output. */
#define TW_TASK_OUTQ_MAX 4
typedef struct tw_task_outq {
    tw_task_output items[TW_TASK_OUTQ_MAX];
    uint8_t head;
    uint8_t len;
    uint32_t overflows;
} tw_task_outq;

/* Returns false (and counts) when the queue is full. */
bool tw_task_outq_push(tw_task_outq *q, const tw_task_output *out);
bool tw_task_outq_pop(tw_task_outq *q, tw_task_output *out);

#endif
