/* The request/response load engine the TCP load clients share
 * (tw_app_http_client, tw_app_tcp_client): a fixed pool of connections to
 * one server, requests issued closed loop (each connection sends its next
 * request when the previous response completes) or open loop (one request
 * per period, queued on the least loaded connection), latency measured per
 * request, and the failure handling every such client needs: a response
 * timeout aborts the connection, a broken connection is replaced (at once
 * after a clean close, TW_LOAD_RETRY_NS later after a failure), a failed
 * connect is retried after TW_LOAD_RETRY_NS.
 *
 * The protocol lives in the client: three hooks say how long the next
 * request on a connection is, what its bytes are, and how the response
 * bytes parse. The engine owns the TCP side (connect, send with short sends
 * and WRITABLE, consume, close, abort, the task's one timer).
 *
 * Requests are never pipelined: a connection has at most one request out.
 * A failed request (timeout, reset, malformed response) is counted, not
 * retried. With a count, the engine is done when that many requests have
 * been issued and none is outstanding; it then closes its connections. */
#ifndef TW_APP_LOAD_H
#define TW_APP_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/hist.h"
#include "base/rng.h"
#include "base/time.h"
#include "rt/task.h"
#include "wire/ipv4.h"

#define TW_LOAD_CONNS_MAX 64
/* Open loop: requests waiting per connection; more are dropped (overflows). */
#define TW_LOAD_QUEUE_MAX 16
/* Bytes of request offered to TCP per send. */
#define TW_LOAD_CHUNK 16384
/* A failed connect, or a connection that failed a request, is replaced
 * this long after. */
#define TW_LOAD_RETRY_NS TW_MS(100)
/* Open loop: periods one tick may catch up on; the rest are overflows. */
#define TW_LOAD_CATCHUP_MAX 4096

/* The spawn arguments both clients open with. */
typedef struct tw_load_args {
    tw_ipv4_addr server;
    uint16_t port;
    uint16_t connections; /* 1..TW_LOAD_CONNS_MAX */
    tw_ns period_ns;      /* open loop when > 0: one request per period, all connections */
    uint64_t count;       /* requests to issue; 0: until the world stops */
    tw_ns timeout_ns;     /* a response (or connect) not done this long after the
                           * request (connect) started fails it: abort, reconnect;
                           * 0: no timeout */
} tw_load_args;

_Static_assert(sizeof(tw_load_args) == 32, "the shared head of the clients' spawn arguments");

typedef enum tw_load_rx {
    TW_LOAD_RX_MORE = 1,   /* all of it taken; the response goes on */
    TW_LOAD_RX_DONE,       /* the response ended after *used bytes */
    TW_LOAD_RX_DONE_CLOSE, /* ended, and the server closes: reconnect */
    TW_LOAD_RX_BAD,        /* malformed: abort the connection */
} tw_load_rx;

typedef struct tw_load_ops {
    /* Starts a request on connection `slot`: choose it (rng is the worker's)
     * and return its length in bytes (> 0). */
    uint64_t (*begin)(void *app, uint32_t slot, tw_rng *rng);
    /* Writes bytes [offset, offset + len) of slot's current request. */
    void (*fill)(void *app, uint32_t slot, uint64_t offset, uint8_t *buf, uint32_t len);
    /* Parses response bytes (a view valid during the call); *used is what
     * belongs to the current response. */
    tw_load_rx (*receive)(void *app, uint32_t slot, const uint8_t *data, size_t len, size_t *used);
} tw_load_ops;

typedef enum tw_load_phase {
    TW_LOAD_DOWN = 0,   /* no connection; connect at `deadline` */
    TW_LOAD_CONNECTING, /* deadline: connect timeout */
    TW_LOAD_READY,      /* established, no request out */
    TW_LOAD_BUSY,       /* a request out; deadline: response timeout */
    TW_LOAD_CLOSING,    /* our FIN is (to be) sent; wait for the end */
    TW_LOAD_ABORT,      /* abort at the next pop, then DOWN until `deadline` */
} tw_load_phase;

typedef struct tw_load_conn {
    int64_t conn; /* -1: none */
    uint8_t phase;
    bool in_send;    /* a send is out, its answer not back */
    bool blocked;    /* TCP took less than offered: wait for WRITABLE */
    bool want_close; /* CLOSING: the close is not yet output */
    bool want_nodelay;
    uint8_t qhead;
    uint8_t qlen;
    uint32_t offered;
    uint64_t consume; /* received bytes to free */
    uint64_t req_len;
    uint64_t req_sent;
    tw_ns sched_at; /* when the request was due (open loop) or started */
    tw_ns sent_at;
    tw_ns deadline;
    tw_ns queue[TW_LOAD_QUEUE_MAX]; /* open loop: due times of waiting requests */
} tw_load_conn;

typedef struct tw_load {
    tw_load_args a;
    const tw_load_ops *ops;
    void *app;
    tw_ns next_send; /* open loop: the next request's due time */
    tw_ns armed;     /* the deadline our timer is set to */
    uint32_t cursor; /* open loop: where the least-loaded search starts */
    bool nagle;      /* leave Nagle's algorithm on */
    bool finished;
    uint64_t issued; /* scheduled (open loop) or started (closed loop) */
    uint64_t requests, responses;
    uint64_t bytes_sent, bytes_received;
    uint64_t timeouts, resets, malformed, connect_errors, overflows, connects;
    tw_hist latency;           /* first request byte offered -> last response byte */
    tw_hist latency_corrected; /* due time -> last byte: open loop's queueing included */
    tw_load_conn c[TW_LOAD_CONNS_MAX];
    uint8_t buf[TW_LOAD_CHUNK]; /* the send in flight: stays ours until the next pop */
} tw_load;

/* From the client's TW_TIN_START; asserts the arguments' bounds. Nagle's
 * algorithm is turned off on every connection unless `nagle`: a request's
 * tail segment would otherwise wait for the server's delayed ACK. */
void tw_load_start(tw_load *l, const tw_load_args *a, const tw_load_ops *ops, void *app, bool nagle,
                   tw_ns now);
/* The client's TW_TIN_NET inputs. */
void tw_load_on_net(tw_load *l, tw_ns now, const tw_task_net *n);
void tw_load_on_tick(tw_load *l, tw_ns now);
bool tw_load_pop(tw_load *l, tw_rng *rng, tw_ns now, tw_task_output *out);
/* requests, responses, bytes_sent, bytes_received, errors (timeouts + resets
 * + malformed + connect_errors) and each of them, overflows, connects,
 * scheduled, done, latency, latency_corrected. */
void tw_load_report(const tw_load *l, tw_metric_sink *s);

#endif
