/* core/rt/worker with the kernel network service (kernel_net): the worker
 * turns tasks' UDP and TCP outputs into TW_OUT_NET_REQ requests and routes
 * TW_IN_NET_CPL completions to the owning task. A fake driver here plays
 * the kernel: it collects the requests one turn pops and answers with
 * completions. The tasks are the scenario apps themselves (UDP echo, TCP
 * echo, the bulk sender), so what is checked is what a live run relies on:
 * ids, ownership, ordering and bounded tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "app/tcp.h"
#include "app/udp.h"
#include "base/error.h"
#include "harness.h"
#include "rt/worker.h"

enum { TYPE_UDP_ECHO, TYPE_TCP_ECHO, TYPE_BULK_SEND, TYPE_COUNT };

static const tw_task_ops *const types[TYPE_COUNT] = {
    [TYPE_UDP_ECHO] = &tw_app_udp_echo,
    [TYPE_TCP_ECHO] = &tw_app_tcp_echo,
    [TYPE_BULK_SEND] = &tw_app_bulk_send,
};
static const tw_task_registry registry = {types, TYPE_COUNT};

#define REQS_MAX 16
#define DATA_MAX 256
#define PEER_ADDR 0x0a000002u /* 10.0.0.2 */
#define OUR_ADDR 0x0a000001u
#define PORT 7000

/* What one turn of the fake driver saw: the requests, with their data
 * copied (it is only valid until the next pop), and any other output. */
typedef struct turn {
    uint32_t n;
    tw_net_req req[REQS_MAX];
    uint8_t data[REQS_MAX][DATA_MAX];
    uint32_t msgs;
} turn;

typedef struct fixture {
    tw_worker w;
    tw_ns now;
    turn t;
} fixture;

static uint32_t state_max(void)
{
    uint32_t m = 0;
    for (uint32_t i = 0; i < TYPE_COUNT; i++) {
        m = types[i]->state_size > m ? types[i]->state_size : m;
    }
    return m;
}

static void init_worker(fixture *f, uint32_t conns_max)
{
    memset(f, 0, sizeof(*f));
    tw_worker_config cfg = {.id = 1,
                            .max_tasks = 4,
                            .task_state_max = state_max(),
                            .outq_max = 8,
                            .seed = 1,
                            .registry = &registry,
                            .kernel_net = true,
                            .net_endpoints_max = 2,
                            .tcp_conns_max = conns_max,
                            .tcp_listeners_max = 2};
    f->now = 1000;
    tw_worker_init(&f->w, &cfg, f->now);
}

static int setup(void **state)
{
    static fixture f;
    init_worker(&f, 4);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tw_worker_free(&f->w);
    return 0;
}

/* Pops every output, as a driver does after each input. */
static turn *drain(fixture *f)
{
    memset(&f->t, 0, sizeof(f->t));
    tw_output out;
    while (tw_worker_pop_output(&f->w, f->now, &out)) {
        if (out.kind != TW_OUT_NET_REQ) {
            assert_int_equal(out.kind, TW_OUT_MSG); /* never a frame: there is no stack */
            f->t.msgs++;
            continue;
        }
        assert_true(f->t.n < REQS_MAX);
        f->t.req[f->t.n] = out.req;
        if (out.req.data) {
            assert_true(out.req.len <= DATA_MAX);
            memcpy(f->t.data[f->t.n], out.req.data, out.req.len);
        }
        f->t.n++;
    }
    return &f->t;
}

static turn *complete(fixture *f, tw_net_cpl c)
{
    tw_input in = {.kind = TW_IN_NET_CPL, .cpl = &c};
    f->now += 1000;
    tw_worker_on_input(&f->w, f->now, &in);
    return drain(f);
}

static tw_addr spawn(fixture *f, uint32_t type, const void *args, uint32_t len)
{
    int64_t a = tw_worker_spawn(&f->w, f->now, type, 0, args, len);
    assert_true(a >= 0);
    return (tw_addr)a;
}

/* What the controller's KILL does; returns what the worker then asks. */
static turn *kill_task(fixture *f, tw_addr task)
{
    tw_msg kill = harness_msg(TW_MSG_DIRECT, TW_MSG_KILL, TW_ADDR_CONTROLLER, task, NULL, 0);
    tw_input in = {.kind = TW_IN_MSG, .msg = &kill};
    tw_worker_on_input(&f->w, f->now, &in);
    return drain(f);
}

/* Spawns a UDP echo and answers its bind; returns the endpoint id. */
static int64_t bound_udp_echo(fixture *f)
{
    tw_udp_echo_args a = {.port = PORT};
    spawn(f, TYPE_UDP_ECHO, &a, sizeof(a));
    turn *t = drain(f);
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].op, TW_NET_UDP_BIND);
    assert_int_equal(t->req[0].port, PORT);
    int64_t id = t->req[0].id;
    t = complete(f, (tw_net_cpl){.kind = TW_NET_CPL_UDP_BOUND, .id = id});
    assert_int_equal(t->n, 0);
    return id;
}

static tw_net_cpl datagram(int64_t id, const char *text)
{
    return (tw_net_cpl){.kind = TW_NET_CPL_UDP_DATAGRAM,
                        .id = id,
                        .addr = PEER_ADDR,
                        .port = 40000,
                        .local = OUR_ADDR,
                        .lport = PORT,
                        .data = (const uint8_t *)text,
                        .len = strlen(text)};
}

static void test_worker_kernelnet_udp_echo_answers_the_source(void **state)
{
    fixture *f = *state;
    int64_t id = bound_udp_echo(f);
    turn *t = complete(f, datagram(id, "ping 1"));
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].op, TW_NET_UDP_SEND);
    assert_int_equal(t->req[0].id, id);
    assert_int_equal(t->req[0].addr, PEER_ADDR);
    assert_int_equal(t->req[0].port, 40000);
    assert_int_equal(t->req[0].len, 6);
    assert_memory_equal(t->data[0], "ping 1", 6);
    assert_int_equal(tw_worker_status_get(&f->w)->drops, 0);
}

/* sockperf's header: sequence (8), flags (2), length (4), network order. */
static tw_net_cpl sockperf_msg(int64_t id, uint8_t *buf, uint8_t flags)
{
    memset(buf, 0, 20);
    buf[7] = 42;
    buf[9] = flags;
    buf[13] = 20;
    tw_net_cpl c = datagram(id, "");
    c.data = buf;
    c.len = 20;
    return c;
}

static void test_worker_kernelnet_udp_echo_sockperf_answers_pong_requests(void **state)
{
    fixture *f = *state;
    tw_udp_echo_args a = {.port = PORT, .flags = TW_UDP_ECHO_SOCKPERF};
    spawn(f, TYPE_UDP_ECHO, &a, sizeof(a));
    int64_t id = drain(f)->req[0].id;
    complete(f, (tw_net_cpl){.kind = TW_NET_CPL_UDP_BOUND, .id = id});
    uint8_t buf[20];
    /* A client's ping asking for a pong: answered, the client flag cleared. */
    turn *t = complete(f, sockperf_msg(id, buf, 0x03));
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].len, 20);
    assert_int_equal(t->data[0][9], 0x02);
    assert_int_equal(t->data[0][7], 42);
    assert_memory_equal(t->data[0] + 10, buf + 10, 10);
    /* Throughput traffic asks for nothing and gets nothing; nor does a
     * datagram too short to be sockperf's. */
    assert_int_equal(complete(f, sockperf_msg(id, buf, 0x01))->n, 0);
    assert_int_equal(complete(f, datagram(id, "short"))->n, 0);
}

static void test_worker_kernelnet_udp_bind_failure_frees_the_endpoint(void **state)
{
    fixture *f = *state;
    tw_udp_echo_args a = {.port = PORT};
    spawn(f, TYPE_UDP_ECHO, &a, sizeof(a));
    turn *t = drain(f);
    int64_t id = t->req[0].id;
    t = complete(f, (tw_net_cpl){.kind = TW_NET_CPL_UDP_BOUND, .id = id, .result = -TW_EADDRINUSE});
    assert_int_equal(t->n, 0);
    /* The id is dead: a datagram for it (a confused driver) reaches no one
     * and is counted, and the echo sends nothing. */
    t = complete(f, datagram(id, "late"));
    assert_int_equal(t->n, 0);
    assert_int_equal(tw_worker_status_get(&f->w)->drops, 1);
}

static void test_worker_kernelnet_udp_exit_closes_and_late_answers_are_dropped(void **state)
{
    fixture *f = *state;
    int64_t id = bound_udp_echo(f);
    tw_addr echo = tw_worker_task(&f->w, tw_addr_make(1, 0, 0))->addr;
    turn *t = kill_task(f, echo);
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].op, TW_NET_UDP_CLOSE);
    assert_int_equal(t->req[0].id, id);
    assert_int_equal(t->msgs, 1); /* the exit notice */
    t = complete(f, datagram(id, "after exit"));
    assert_int_equal(t->n, 0);
    assert_int_equal(tw_worker_status_get(&f->w)->drops, 1);
    /* The slot is reused with a new generation: the old id stays dead. */
    int64_t again = bound_udp_echo(f);
    assert_int_not_equal(again, id);
    assert_int_equal(again & 0xffff, id & 0xffff);
    t = complete(f, datagram(id, "stale"));
    assert_int_equal(t->n, 0);
    assert_int_equal(tw_worker_status_get(&f->w)->drops, 2);
}

static void test_worker_kernelnet_udp_endpoints_are_bounded(void **state)
{
    fixture *f = *state;
    bound_udp_echo(f);
    bound_udp_echo(f);
    /* A third bind finds the table (two endpoints) full: the task is told
     * at once, nothing leaves for the kernel, and a kill frees a slot. */
    tw_udp_echo_args a = {.port = PORT};
    tw_addr third = spawn(f, TYPE_UDP_ECHO, &a, sizeof(a));
    turn *t = drain(f);
    assert_int_equal(t->n, 0);
    t = kill_task(f, tw_addr_make(1, 0, 0));
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].op, TW_NET_UDP_CLOSE);
    assert_non_null(tw_worker_task(&f->w, third));
    assert_true(bound_udp_echo(f) >= 0);
}

/* Spawns a TCP echo, answers its listen; returns the listener id. */
static int64_t listening_tcp_echo(fixture *f)
{
    tw_tcp_echo_args a = {.port = PORT};
    spawn(f, TYPE_TCP_ECHO, &a, sizeof(a));
    turn *t = drain(f);
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].op, TW_NET_TCP_LISTEN);
    assert_int_equal(t->req[0].port, PORT);
    assert_true(t->req[0].backlog > 0);
    int64_t l = t->req[0].id;
    t = complete(f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_LISTENING, .id = l});
    assert_int_equal(t->n, 0);
    return l;
}

static int64_t accept_one(fixture *f, int64_t listener, uint64_t handle)
{
    turn *t = complete(
        f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_ACCEPTED, .id = listener, .handle = handle});
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].op, TW_NET_TCP_ACCEPT);
    assert_int_equal(t->req[0].handle, handle);
    return t->req[0].id;
}

static void test_worker_kernelnet_tcp_echo_round_trip(void **state)
{
    fixture *f = *state;
    int64_t l = listening_tcp_echo(f);
    int64_t conn = accept_one(f, l, 42);
    assert_true(conn >= 0);
    const char *hello = "hello, kernel";
    turn *t = complete(f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_DATA,
                                       .id = conn,
                                       .data = (const uint8_t *)hello,
                                       .len = strlen(hello)});
    /* The echo frees what it took, then sends it back. */
    assert_int_equal(t->n, 2);
    assert_int_equal(t->req[0].op, TW_NET_TCP_CONSUME);
    assert_int_equal(t->req[0].id, conn);
    assert_int_equal(t->req[0].len, strlen(hello));
    assert_int_equal(t->req[1].op, TW_NET_TCP_SEND);
    assert_int_equal(t->req[1].id, conn);
    assert_int_equal(t->req[1].len, strlen(hello));
    assert_memory_equal(t->data[1], hello, strlen(hello));
    t = complete(
        f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_SENT, .id = conn, .result = (int32_t)strlen(hello)});
    assert_int_equal(t->n, 0);
    t = complete(f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_PEER_CLOSED, .id = conn});
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].op, TW_NET_TCP_CLOSE);
    assert_int_equal(t->req[0].id, conn);
    t = complete(f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_CLOSED, .id = conn});
    assert_int_equal(t->n, 0);
    /* Closed is terminal: the id is dead and a stray completion is counted. */
    t = complete(
        f, (tw_net_cpl){
               .kind = TW_NET_CPL_TCP_DATA, .id = conn, .data = (const uint8_t *)"x", .len = 1});
    assert_int_equal(t->n, 0);
    assert_int_equal(tw_worker_status_get(&f->w)->drops, 1);
}

static void test_worker_kernelnet_udp_send_failed_reaches_the_task(void **state)
{
    fixture *f = *state;
    int64_t id = bound_udp_echo(f);
    /* The kernel refused a send: the echo is told (it counts an error) and
     * asks nothing more; the endpoint stays usable. */
    turn *t = complete(
        f, (tw_net_cpl){.kind = TW_NET_CPL_UDP_SEND_FAILED, .id = id, .result = -TW_EUNREACH});
    assert_int_equal(t->n, 0);
    assert_int_equal(tw_worker_status_get(&f->w)->drops, 0);
    t = complete(f, datagram(id, "still here"));
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].op, TW_NET_UDP_SEND);
}

static void test_worker_kernelnet_tcp_listen_failure_frees_the_listener(void **state)
{
    fixture *f = *state;
    tw_tcp_echo_args a = {.port = PORT};
    spawn(f, TYPE_TCP_ECHO, &a, sizeof(a));
    int64_t l = drain(f)->req[0].id;
    turn *t = complete(
        f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_LISTENING, .id = l, .result = -TW_EADDRINUSE});
    assert_int_equal(t->n, 0);
    /* No listener any more: a connection the kernel still hands over is
     * refused and counted. */
    assert_int_equal(accept_one(f, l, 21), -1);
    assert_int_equal(tw_worker_status_get(&f->w)->drops, 1);
}

static void test_worker_kernelnet_tcp_short_send_waits_for_writable(void **state)
{
    fixture *f = *state;
    int64_t conn = accept_one(f, listening_tcp_echo(f), 5);
    turn *t = complete(f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_DATA,
                                       .id = conn,
                                       .data = (const uint8_t *)"abcdef",
                                       .len = 6});
    assert_int_equal(t->n, 2);
    /* The kernel took two bytes: the echo keeps the rest until WRITABLE. */
    t = complete(f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_SENT, .id = conn, .result = 2});
    assert_int_equal(t->n, 0);
    t = complete(f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_WRITABLE, .id = conn});
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].op, TW_NET_TCP_SEND);
    assert_int_equal(t->req[0].len, 4);
    assert_memory_equal(t->data[0], "cdef", 4);
}

static void test_worker_kernelnet_tcp_accept_refused_when_table_full(void **state)
{
    fixture *f = *state;
    tw_worker_free(&f->w);
    init_worker(f, 1);
    int64_t l = listening_tcp_echo(f);
    int64_t first = accept_one(f, l, 10);
    assert_true(first >= 0);
    int64_t second = accept_one(f, l, 11);
    assert_int_equal(second, -1); /* the driver closes socket 11 */
    assert_int_equal(tw_worker_status_get(&f->w)->drops, 1);
    /* Once the first is reset, its slot takes the next connection. */
    turn *t = complete(
        f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_RESET, .id = first, .result = -TW_ECONNRESET});
    assert_int_equal(t->n, 0);
    int64_t third = accept_one(f, l, 12);
    assert_true(third >= 0);
    assert_int_not_equal(third, first);
}

static void test_worker_kernelnet_tcp_exit_aborts_and_unlistens(void **state)
{
    fixture *f = *state;
    int64_t l = listening_tcp_echo(f);
    int64_t conn = accept_one(f, l, 9);
    turn *t = kill_task(f, tw_addr_make(1, 0, 0));
    assert_int_equal(t->n, 2);
    assert_int_equal(t->req[0].op, TW_NET_TCP_ABORT);
    assert_int_equal(t->req[0].id, conn);
    assert_int_equal(t->req[1].op, TW_NET_TCP_UNLISTEN);
    assert_int_equal(t->req[1].id, l);
    /* A connection the kernel accepted before the unlisten was performed
     * has no one to go to: it is refused. */
    int64_t late = accept_one(f, l, 13);
    assert_int_equal(late, -1);
}

static void test_worker_kernelnet_tcp_connect_refused_is_terminal(void **state)
{
    fixture *f = *state;
    tw_bulk_send_args a = {.server = PEER_ADDR, .port = PORT, .bytes = 100, .stream = 1};
    spawn(f, TYPE_BULK_SEND, &a, sizeof(a));
    turn *t = drain(f);
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].op, TW_NET_TCP_CONNECT);
    assert_int_equal(t->req[0].addr, PEER_ADDR);
    assert_int_equal(t->req[0].port, PORT);
    int64_t conn = t->req[0].id;
    t = complete(
        f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_CONNECTED, .id = conn, .result = -TW_ECONNREFUSED});
    /* The sender gives up; the worker forgot the connection. */
    t = complete(f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_WRITABLE, .id = conn});
    assert_int_equal(t->n, 0);
    assert_int_equal(tw_worker_status_get(&f->w)->drops, 1);
}

static void test_worker_kernelnet_tcp_connect_then_send(void **state)
{
    fixture *f = *state;
    tw_bulk_send_args a = {.server = PEER_ADDR, .port = PORT, .bytes = 64, .stream = 7};
    spawn(f, TYPE_BULK_SEND, &a, sizeof(a));
    int64_t conn = drain(f)->req[0].id;
    turn *t = complete(f, (tw_net_cpl){.kind = TW_NET_CPL_TCP_CONNECTED, .id = conn});
    assert_int_equal(t->n, 1);
    assert_int_equal(t->req[0].op, TW_NET_TCP_SEND);
    assert_int_equal(t->req[0].id, conn);
    assert_int_equal(t->req[0].len, 64);
    uint8_t want[64];
    tw_app_bulk_fill(7, 0, want, sizeof(want));
    assert_memory_equal(t->data[0], want, sizeof(want));
}

static void test_worker_kernelnet_no_stack_means_no_frames(void **state)
{
    fixture *f = *state;
    tw_input in = {.kind = TW_IN_FRAME, .frame = (const uint8_t *)"x", .frame_len = 1};
    expect_assert_failure(tw_worker_on_input(&f->w, f->now, &in));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_udp_echo_answers_the_source, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_worker_kernelnet_udp_echo_sockperf_answers_pong_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_udp_bind_failure_frees_the_endpoint,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_worker_kernelnet_udp_exit_closes_and_late_answers_are_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_udp_endpoints_are_bounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_tcp_echo_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_udp_send_failed_reaches_the_task,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_tcp_listen_failure_frees_the_listener,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_tcp_short_send_waits_for_writable,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_tcp_accept_refused_when_table_full,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_tcp_exit_aborts_and_unlistens, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_tcp_connect_refused_is_terminal,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_tcp_connect_then_send, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_worker_kernelnet_no_stack_means_no_frames, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
