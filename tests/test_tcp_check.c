/* The TCP instance checker (tw_tcp_check, core/net/tcp/check.c): it holds
 * through a connection's life, and each invariant it guards, broken on
 * purpose in a live instance, is caught and named; restored, the instance
 * checks clean again (the checker only reads).
 *
 * The fuzz target fuzz/fuzz_stack.c calls it after every step; these tests
 * are what make its silence there mean something. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/tcp/tcb.h"
#include "test_tcp_util.h"

static char why[256];

static int setup(void **state)
{
    (void)state;
    harness_install_panic();
    tw_tcp_config c;
    fixture_config(&c);
    fixture_start(&c);
    return 0;
}

static void expect_clean(void)
{
    int err = tw_tcp_check(F.tcp, why, sizeof why);
    if (err != 0) {
        fail_msg("tw_tcp_check: %s", why);
    }
    assert_string_equal(why, "");
}

/* The check fails and its message contains `words`. */
static void expect_caught(const char *words)
{
    assert_int_equal(tw_tcp_check(F.tcp, why, sizeof why), -TW_EINVAL);
    if (strstr(why, words) == NULL) {
        fail_msg("expected a message about '%s', got '%s'", words, why);
    }
}

/* Sets lvalue to bad, expects the check to fail naming `words`, puts the
 * value back and expects the instance clean again: the checker only reads. */
#define EXPECT_BROKEN(lvalue, bad, words)                                                          \
    do {                                                                                           \
        __typeof__(lvalue) saved_ = (lvalue);                                                      \
        (lvalue) = (bad);                                                                          \
        expect_caught(words);                                                                      \
        (lvalue) = saved_;                                                                         \
        expect_clean();                                                                            \
    } while (0)

static tcb *conn_tcb(tw_tcp_conn c)
{
    return tcb_at(F.tcp, (uint32_t)c);
}

/* Established with 3000 bytes sent and unacknowledged: the retransmission
 * timer runs. */
static tcb *established_with_flight(void)
{
    establish_passive(T0, 65535);
    static uint8_t data[3000];
    assert_int_equal(tw_tcp_send(F.tcp, T0, F.conn, data, sizeof data), (int64_t)sizeof data);
    while (tw_tcp_pop_segment(F.tcp, T0, &(tw_tcp_out){0})) {
    }
    tcb *t = conn_tcb(F.conn);
    assert_true(t->snd_max - t->snd_una >= 2 * 1460); /* Nagle keeps the rest */
    return t;
}

static void test_tcp_check_holds_through_a_connection(void **state)
{
    (void)state;
    expect_clean();
    establish_passive(T0, 65535);
    expect_clean();
    uint8_t data[1000] = {0};
    send_segment(T0, TW_TCP_ACK, PEER_ISS + 1, F.iss + 1, 65535, data, sizeof data);
    expect_clean();
    assert_int_equal(tw_tcp_send(F.tcp, T0, F.conn, data, sizeof data), (int64_t)sizeof data);
    while (tw_tcp_pop_segment(F.tcp, T0, &(tw_tcp_out){0})) {
    }
    expect_clean();
    assert_int_equal(tw_tcp_close(F.tcp, T0, F.conn), 0);
    while (tw_tcp_pop_segment(F.tcp, T0, &(tw_tcp_out){0})) {
    }
    expect_clean();
    /* Out-of-order data: a reassembly range past RCV.NXT. */
    send_segment(T0, TW_TCP_ACK, PEER_ISS + 1 + 2000, F.iss + 1, 65535, data, 100);
    assert_int_equal(conn_tcb(F.conn)->reasm_n, 1);
    expect_clean();
}

static void test_tcp_check_send_sequence_order(void **state)
{
    (void)state;
    tcb *t = established_with_flight();
    expect_clean();
    EXPECT_BROKEN(t->snd_nxt, t->snd_max + 1, "SND.NXT");
    /* As if our SYN were unacknowledged, in ESTABLISHED. */
    EXPECT_BROKEN(t->snd_una, t->iss, "ISS");
}

static void test_tcp_check_send_ring_bounds(void **state)
{
    (void)state;
    tcb *t = established_with_flight();
    /* Less than was sent: a retransmission would read garbage. */
    EXPECT_BROKEN(t->sbuf.len, 10, "SND.MAX");
    EXPECT_BROKEN(t->sbuf.len, t->sbuf.cap + 1, "send ring");
}

/* The send chunks (sums.c): a sum that is not its bytes', a chunk out of
 * order or empty, a count past the ring. The segments just popped were
 * built in place, so the check also reads through the borrowed header
 * room. */
static void test_tcp_check_send_chunks(void **state)
{
    (void)state;
    tcb *t = established_with_flight();
    assert_true(t->ch_len >= 2);
    expect_clean();
    tcp_chunk *ring = tcp_chunks(F.tcp, t);
    tcp_chunk *first = &ring[t->ch_head];
    tcp_chunk *second = &ring[(t->ch_head + 1) % F.tcp->chunks_max];
    EXPECT_BROKEN(first->sum, (uint16_t)(first->sum + 0x1234), "sums to");
    EXPECT_BROKEN(second->seq, first->seq, "out of order");
    EXPECT_BROKEN(first->len, 0, "out of order");
    EXPECT_BROKEN(t->ch_len, F.tcp->chunks_max + 1, "send chunks");
}

static void test_tcp_check_receive_ranges(void **state)
{
    (void)state;
    establish_passive(T0, 65535);
    tcb *t = conn_tcb(F.conn);
    t->reasm[0] = (tcp_range){.left = t->rcv_nxt - 10, .right = t->rcv_nxt + 5};
    t->reasm_n = 1;
    expect_caught("RCV.NXT");
    /* Past the room the receive ring has. */
    t->reasm[0] = (tcp_range){.left = t->rcv_nxt + 10, .right = t->rcv_nxt + t->rbuf.cap + 1};
    expect_caught("room");
    t->reasm[0] = (tcp_range){.left = t->rcv_nxt + 10, .right = t->rcv_nxt + 20};
    t->reasm[1] = (tcp_range){.left = t->rcv_nxt + 15, .right = t->rcv_nxt + 30};
    t->reasm_n = 2;
    expect_caught("overlap");
    t->reasm_n = 0;
    expect_clean();
    /* A window advertised past the free space: a segment it admits would
     * overrun the ring. */
    EXPECT_BROKEN(t->rcv_adv, t->rcv_nxt + (t->rbuf.cap - t->rbuf.len) + 1, "advertised");
}

static void test_tcp_check_timers(void **state)
{
    (void)state;
    tcb *t = established_with_flight();
    tw_ns rtx = t->rtx_at;
    assert_true(rtx != TW_NS_NEVER);
    /* Data outstanding and no timer to recover it: a stalled connection.
     * The wheel still holds the old deadline, which is named first. */
    t->rtx_at = TW_NS_NEVER;
    expect_caught("wheel timer armed");
    tw_wheel_cancel(&F.tcp->wheel, &t->timer);
    expect_caught("outstanding");
    t->rtx_at = rtx;
    tw_wheel_arm(&F.tcp->wheel, &t->timer, rtx);
    expect_clean();
    /* A deadline the wheel does not know about never fires. */
    EXPECT_BROKEN(t->delack_at, rtx - 1, "earliest deadline");
    /* RFC 9293 §3.8.6.1: probing is for when nothing is outstanding. */
    EXPECT_BROKEN(t->persist_at, rtx + 1, "persist");
    EXPECT_BROKEN(t->timewait_at, rtx + 5, "TIME-WAIT timer");
}

static void test_tcp_check_queues_and_tables(void **state)
{
    (void)state;
    tcb *t = established_with_flight();
    EXPECT_BROKEN(t->flags, t->flags | TCB_IN_TXQ, "transmit queue"); /* flagged, not linked */
    EXPECT_BROKEN(t->ev_pending, EV_WRITABLE, "event queue");         /* pending, not queued */
    EXPECT_BROKEN(F.tcp->buf_free_n, F.tcp->buf_free_n + 1, "buffer pairs");
    EXPECT_BROKEN(t->flags, t->flags & ~TCB_IN_HASH, "4-tuple table");
}

static void test_tcp_check_listener_counts(void **state)
{
    (void)state;
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 8), 0);
    send_segment(T0, TW_TCP_SYN, PEER_ISS, 0, 65535, NULL, 0);
    expect_clean(); /* one child in SYN-RECEIVED */
    EXPECT_BROKEN(F.tcp->listeners[0].syn_count, 2, "listener 0");
}

static void test_tcp_check_counters(void **state)
{
    (void)state;
    establish_passive(T0, 65535);
    F.tcp->stats.drops[TW_TCP_DROP_PAWS]++; /* a drop without its total */
    expect_caught("drops");
    F.tcp->stats.drops_total++;
    expect_clean();
    EXPECT_BROKEN(F.tcp->stats.established, 5, "established");
}

static void test_tcp_check_message_truncated_and_terminated(void **state)
{
    (void)state;
    tcb *t = established_with_flight();
    t->snd_nxt = t->snd_max + 1;
    char small[8];
    memset(small, 'x', sizeof small);
    assert_int_equal(tw_tcp_check(F.tcp, small, sizeof small), -TW_EINVAL);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(tw_tcp_check(F.tcp, NULL, 0), -TW_EINVAL); /* no message wanted */
    t->snd_nxt = t->snd_una;
}

/* ---- regressions found by fuzz_stack ------------------------------------------ */

static void pop_all(tw_ns now)
{
    while (tw_tcp_pop_segment(F.tcp, now, &(tw_tcp_out){0})) {
    }
}

/* Out-of-order data starting just past a FIN that was itself out of order:
 * when the hole filled, RCV.NXT stepped over the FIN onto the held range,
 * which tcp_tcb_check asserts against (fuzz/regressions/stack/
 * ooo-data-after-fin). RFC 9293 §3.10.7.4 (eighth): nothing after the FIN
 * is data, so the range is forgotten. */
static void test_tcp_established_ooo_data_past_ooo_fin(void **state)
{
    (void)state;
    establish_passive(T0, 65535);
    static uint8_t data[200];
    uint32_t base = PEER_ISS + 1;
    send_segment(T0, TW_TCP_ACK, base + 51, F.iss + 1, 65535, data, 40); /* past the FIN */
    send_segment(T0, TW_TCP_ACK | TW_TCP_FIN, base + 50, F.iss + 1, 65535, NULL, 0);
    pop_all(T0);
    assert_int_equal(conn_tcb(F.conn)->reasm_n, 0);
    expect_clean();
    send_segment(T0, TW_TCP_ACK, base, F.iss + 1, 65535, data, 50); /* fills the hole */
    pop_all(T0);
    expect_clean();
    tw_tcp_conn_info info = conn_info(F.conn);
    assert_int_equal(info.state, TW_TCP_CLOSE_WAIT);
    assert_int_equal(info.rcv_nxt, base + 51);
    assert_int_equal(info.rcv_queued, 50);
    expect_event(T0, TW_TCP_EV_DATA);
    expect_event(T0, TW_TCP_EV_PEER_CLOSED);
}

/* The FIN arrives in order while out-of-order data past it is held. */
static void test_tcp_established_in_order_fin_drops_held_data(void **state)
{
    (void)state;
    establish_passive(T0, 65535);
    static uint8_t data[200];
    uint32_t base = PEER_ISS + 1;
    send_segment(T0, TW_TCP_ACK, base + 51, F.iss + 1, 65535, data, 40);
    send_segment(T0, TW_TCP_ACK | TW_TCP_FIN, base, F.iss + 1, 65535, data, 50);
    pop_all(T0);
    expect_clean();
    tw_tcp_conn_info info = conn_info(F.conn);
    assert_int_equal(info.state, TW_TCP_CLOSE_WAIT);
    assert_int_equal(info.rcv_nxt, base + 51);
    assert_int_equal(conn_tcb(F.conn)->reasm_n, 0);
}

/* In-order data running past a FIN seen out of order is cut at the FIN:
 * before, RCV.NXT went past the FIN, the FIN was never taken and the bytes
 * after it were delivered as data. */
static void test_tcp_established_data_across_ooo_fin_is_cut(void **state)
{
    (void)state;
    establish_passive(T0, 65535);
    static uint8_t data[200];
    uint32_t base = PEER_ISS + 1;
    send_segment(T0, TW_TCP_ACK | TW_TCP_FIN, base + 50, F.iss + 1, 65535, NULL, 0);
    send_segment(T0, TW_TCP_ACK, base, F.iss + 1, 65535, data, 80);
    pop_all(T0);
    expect_clean();
    tw_tcp_conn_info info = conn_info(F.conn);
    assert_int_equal(info.state, TW_TCP_CLOSE_WAIT);
    assert_int_equal(info.rcv_queued, 50);
    assert_int_equal(info.rcv_nxt, base + 51);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tcp_check_holds_through_a_connection),
        T(test_tcp_check_send_sequence_order),
        T(test_tcp_check_send_ring_bounds),
        T(test_tcp_check_send_chunks),
        T(test_tcp_check_receive_ranges),
        T(test_tcp_check_timers),
        T(test_tcp_check_queues_and_tables),
        T(test_tcp_check_listener_counts),
        T(test_tcp_check_counters),
        T(test_tcp_check_message_truncated_and_terminated),
        T(test_tcp_established_ooo_data_past_ooo_fin),
        T(test_tcp_established_in_order_fin_drops_held_data),
        T(test_tcp_established_data_across_ooo_fin_is_cut),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
