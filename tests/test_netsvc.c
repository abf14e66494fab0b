/* The worker's network service: tasks bind, send and receive UDP through a
 * user-space stack, two workers wired back to back by their frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/error.h"
#include "net/stack.h"
#include "rt/worker.h"

#include "pair_harness.h"

enum { T_ECHO, T_CLIENT, T_TYPES };

#define ECHO_PORT 7
#define CLIENT_SENDS 20

typedef struct echo {
    int32_t ep;
    bool bound;
    bool reply;
    tw_ipv4_addr to;
    uint16_t port;
    uint32_t len;
    uint8_t buf[256];
    uint64_t echoed;
    uint8_t pending; /* outputs to make: 1 bind */
} echo;

static void echo_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    echo *e = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        e->ep = -1;
        e->pending = 1;
        return;
    }
    if (in->kind != TW_TIN_NET) {
        return;
    }
    const tw_task_net *n = in->net;
    if (n->kind == TW_TNET_BOUND) {
        e->ep = n->result;
        e->bound = n->result >= 0;
    } else if (n->kind == TW_TNET_EVENT && n->event->kind == TW_NET_EV_UDP_DATAGRAM) {
        /* Inputs are views: keep a copy to send back from pop_output. */
        assert_true(n->event->payload_len <= sizeof(e->buf));
        memcpy(e->buf, n->event->payload, n->event->payload_len);
        e->len = (uint32_t)n->event->payload_len;
        e->to = n->event->remote_addr;
        e->port = n->event->remote_port;
        e->reply = true;
    }
}

static bool echo_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    echo *e = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    if (e->pending) {
        e->pending = 0;
        out->kind = TW_TOUT_UDP_BIND;
        out->u.udp_bind.port = ECHO_PORT;
        out->u.udp_bind.cookie = 77;
        return true;
    }
    if (e->reply) {
        e->reply = false;
        e->echoed++;
        out->kind = TW_TOUT_UDP_SEND;
        out->u.udp_send.endpoint = (uint32_t)e->ep;
        out->u.udp_send.dst = e->to;
        out->u.udp_send.port = e->port;
        out->u.udp_send.data = e->buf;
        out->u.udp_send.len = e->len;
        return true;
    }
    return false;
}

/* The client binds an ephemeral port, then sends CLIENT_SENDS datagrams of
 * growing size (1..) to `server:port` one per reply, checking each echo. */
typedef struct client {
    int32_t ep;
    tw_ipv4_addr server;
    uint16_t port;
    uint32_t sent;
    uint32_t replies;
    uint32_t bad;
    int32_t last_error;
    int32_t send_failed;
    uint64_t bind_cookie;
    bool want_bind;
    bool want_send;
    bool use_foreign_ep;
    uint8_t buf[256];
} client;

typedef struct client_args {
    tw_ipv4_addr server;
    uint16_t port;
    bool use_foreign_ep;
} client_args;

static void fill(uint8_t *b, uint32_t n, uint32_t seq)
{
    for (uint32_t i = 0; i < n; i++) {
        b[i] = (uint8_t)(seq * 31 + i);
    }
}

static void client_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    client *c = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        client_args a;
        memcpy(&a, in->msg->data, sizeof(a));
        c->server = a.server;
        c->port = a.port;
        c->use_foreign_ep = a.use_foreign_ep;
        c->ep = -1;
        c->want_bind = true;
        return;
    }
    if (in->kind != TW_TIN_NET) {
        return;
    }
    const tw_task_net *n = in->net;
    if (n->kind == TW_TNET_BOUND) {
        c->bind_cookie = n->cookie;
        c->ep = n->result;
        c->want_send = n->result >= 0;
    } else if (n->kind == TW_TNET_SEND_FAILED) {
        c->send_failed = n->result;
    } else if (n->event->kind == TW_NET_EV_UDP_ERROR) {
        c->last_error = n->event->error;
    } else if (n->event->kind == TW_NET_EV_UDP_DATAGRAM) {
        uint8_t want[256];
        fill(want, c->sent, c->sent);
        if (n->event->payload_len != c->sent || memcmp(want, n->event->payload, c->sent) != 0) {
            c->bad++;
        }
        c->replies++;
        c->want_send = c->sent < CLIENT_SENDS;
    }
}

static bool client_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    client *c = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    if (c->want_bind) {
        c->want_bind = false;
        out->kind = TW_TOUT_UDP_BIND;
        out->u.udp_bind.cookie = 5;
        return true;
    }
    if (c->want_send) {
        c->want_send = false;
        c->sent++;
        fill(c->buf, c->sent, c->sent);
        out->kind = TW_TOUT_UDP_SEND;
        /* A task may only send on its own endpoints. */
        out->u.udp_send.endpoint = c->use_foreign_ep ? (uint32_t)c->ep + 1 : (uint32_t)c->ep;
        out->u.udp_send.dst = c->server;
        out->u.udp_send.port = c->port;
        out->u.udp_send.data = c->buf;
        out->u.udp_send.len = c->sent;
        return true;
    }
    return false;
}

static void no_tick(tw_task *t, tw_ns now) {}

static const tw_task_ops echo_ops = {"echo", sizeof(echo), echo_input, no_tick, echo_pop, NULL};
static const tw_task_ops client_ops = {"client", sizeof(client), client_input, no_tick,
                                       client_pop, NULL};
static const tw_task_ops *const types[T_TYPES] = {&echo_ops, &client_ops};
static const tw_task_registry registry = {types, T_TYPES};

#define A_ADDR PAIR_A
#define B_ADDR PAIR_B

/* Two workers with stacks wired back to back (tests/pair_harness.h). */
static pair P;

static void run_at(pair *p, tw_ns now)
{
    p->now = now;
    pair_settle(p);
}

static void spawn_client(pair *p, tw_ns now, tw_ipv4_addr server, uint16_t port, bool foreign,
                         tw_addr *out)
{
    client_args a = {.server = server, .port = port, .use_foreign_ep = foreign};
    int64_t rc = tw_worker_spawn(&p->worker[0], now, T_CLIENT, 0, &a, sizeof(a));
    assert_true(rc >= 0);
    *out = (tw_addr)rc;
}

static void test_netsvc_udp_echo_through_tasks(void **state)
{
    pair_init(&P, &registry, 1024);
    assert_true(tw_worker_spawn(&P.worker[1], 0, T_ECHO, 0, NULL, 0) >= 0);
    run_at(&P, 0);
    tw_addr ca;
    spawn_client(&P, TW_MS(1), B_ADDR, ECHO_PORT, false, &ca);
    run_at(&P, TW_MS(1));
    client *c = tw_task_state(tw_worker_task(&P.worker[0], ca));
    assert_true(c->ep >= 0);
    assert_int_equal(c->bind_cookie, 5);
    assert_int_equal(c->replies, CLIENT_SENDS);
    assert_int_equal(c->bad, 0);
    assert_int_equal(c->last_error, 0);
    /* ARP once each way, then every datagram and its echo. */
    assert_true(P.frames >= 2 * CLIENT_SENDS);
    assert_int_equal(tw_worker_status_get(&P.worker[0])->drops, 0);
    pair_free(&P);
}

static void test_netsvc_closed_port_reports_refused(void **state)
{
    pair_init(&P, &registry, 1024);
    tw_addr ca;
    spawn_client(&P, 0, B_ADDR, 9999, false, &ca);
    run_at(&P, 0);
    client *c = tw_task_state(tw_worker_task(&P.worker[0], ca));
    assert_int_equal(c->replies, 0);
    /* ICMP port unreachable comes back to the sending task as an event. */
    assert_int_equal(c->last_error, -TW_ECONNREFUSED);
    pair_free(&P);
}

static void test_netsvc_task_cannot_use_foreign_endpoint(void **state)
{
    pair_init(&P, &registry, 1024);
    assert_true(tw_worker_spawn(&P.worker[1], 0, T_ECHO, 0, NULL, 0) >= 0);
    run_at(&P, 0);
    uint64_t announced = P.frames; /* the gratuitous ARPs */
    tw_addr ca;
    spawn_client(&P, 0, B_ADDR, ECHO_PORT, true, &ca);
    run_at(&P, 0);
    client *c = tw_task_state(tw_worker_task(&P.worker[0], ca));
    assert_int_equal(c->send_failed, -TW_EINVAL);
    assert_int_equal(c->replies, 0);
    assert_int_equal(P.frames, announced);
    pair_free(&P);
}

static void test_netsvc_exit_closes_endpoints(void **state)
{
    pair_init(&P, &registry, 1024);
    int64_t e1 = tw_worker_spawn(&P.worker[1], 0, T_ECHO, 0, NULL, 0);
    run_at(&P, 0);
    /* A second echo cannot take the port while the first holds it. */
    int64_t e2 = tw_worker_spawn(&P.worker[1], 0, T_ECHO, 0, NULL, 0);
    tw_output out;
    while (tw_worker_pop_output(&P.worker[1], 0, &out)) {
    }
    echo *s2 = tw_task_state(tw_worker_task(&P.worker[1], (tw_addr)e2));
    assert_false(s2->bound);
    assert_int_equal(s2->ep, -TW_EADDRINUSE);
    (void)e1;
    /* Killing the first frees its endpoint; a third echo binds port 7. */
    tw_msg kill = {.mode = TW_MSG_DIRECT, .type = TW_MSG_KILL, .source = TW_ADDR_CONTROLLER,
                   .target = (tw_addr)e1};
    tw_input in = {.kind = TW_IN_MSG, .msg = &kill};
    tw_worker_on_input(&P.worker[1], 0, &in);
    while (tw_worker_pop_output(&P.worker[1], 0, &out)) {
    }
    int64_t e3 = tw_worker_spawn(&P.worker[1], 0, T_ECHO, 0, NULL, 0);
    while (tw_worker_pop_output(&P.worker[1], 0, &out)) {
    }
    echo *s3 = tw_task_state(tw_worker_task(&P.worker[1], (tw_addr)e3));
    assert_true(s3->bound);
    pair_free(&P);
}

static void test_netsvc_without_stack_bind_is_not_supported(void **state)
{
    static tw_worker w;
    tw_worker_config wc = {.id = 0, .max_tasks = 8, .task_state_max = 1024, .max_channels = 2,
                           .outq_max = 16, .seed = 3, .registry = &registry};
    tw_worker_init(&w, &wc, 0);
    int64_t e = tw_worker_spawn(&w, 0, T_CLIENT, 0, &(client_args){.server = A_ADDR, .port = 1},
                                sizeof(client_args));
    tw_output out;
    while (tw_worker_pop_output(&w, 0, &out)) {
    }
    client *c = tw_task_state(tw_worker_task(&w, (tw_addr)e));
    assert_int_equal(c->ep, -TW_ENOTSUP);
    assert_int_equal(c->sent, 0);
    tw_worker_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_netsvc_udp_echo_through_tasks),
        cmocka_unit_test(test_netsvc_closed_port_reports_refused),
        cmocka_unit_test(test_netsvc_task_cannot_use_foreign_endpoint),
        cmocka_unit_test(test_netsvc_exit_closes_endpoints),
        cmocka_unit_test(test_netsvc_without_stack_bind_is_not_supported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
