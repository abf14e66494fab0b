/* TCP state machine tests: every transition of the RFC 9293 state diagram
 * (§3.3.2 figure 5), each step of SEGMENT ARRIVES (§3.10.7), RSTs in every
 * state, RFC 5961 challenge ACKs, simultaneous open and close, half-close,
 * abort, TIME-WAIT and its reuse, listener queues, handles.
 *
 * The stack under test is 10.0.0.1; the peer 10.0.0.2 is scripted segment
 * by segment (tests/test_tcp_util.h). Options are off unless a test turns
 * them on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tcp_util.h"

#define SYN TW_TCP_SYN
#define ACK TW_TCP_ACK
#define FIN TW_TCP_FIN
#define RST TW_TCP_RST
#define PSH TW_TCP_PSH

static int setup(void **state)
{
    (void)state;
    harness_install_panic();
    tw_tcp_config c;
    fixture_config(&c);
    fixture_start(&c);
    return 0;
}

static uint32_t conns(void)
{
    return tw_tcp_conn_count(F.tcp);
}

/* ---- CLOSED (§3.10.7.1) ------------------------------------------------------- */

static void test_tcp_closed_segment_without_ack_gets_rst_ack(void **state)
{
    send_segment(T0, SYN, 5000, 0, 1000, NULL, 0);
    /* <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> */
    expect_segment(T0, RST | ACK, 0, 5001);
    expect_nothing(T0);
    assert_int_equal(drops(TW_TCP_DROP_NO_LISTENER), 1);
}

static void test_tcp_closed_segment_with_ack_gets_rst(void **state)
{
    send_segment(T0, ACK, 5000, 777, 1000, "abc", 3);
    expect_segment(T0, RST, 777, 0); /* <SEQ=SEG.ACK><CTL=RST> */
    expect_nothing(T0);
}

static void test_tcp_closed_rst_is_not_answered(void **state)
{
    send_segment(T0, RST, 5000, 0, 0, NULL, 0);
    expect_nothing(T0);
    assert_int_equal(drops(TW_TCP_DROP_CLOSED_RST), 1);
}

static void test_tcp_closed_bad_checksum_dropped(void **state)
{
    uint8_t buf[64];
    tw_tcp_repr r = {.src_port = RPORT, .dst_port = LPORT, .seq = 1, .flags = SYN};
    tw_tcp_emit(&r, REMOTE, LOCAL, buf);
    buf[16] ^= 0x01;
    tw_tcp_on_segment(F.tcp, T0, REMOTE, LOCAL, buf, tw_tcp_repr_len(&r));
    expect_nothing(T0);
    assert_int_equal(drops(TW_TCP_DROP_BAD_CHECKSUM), 1);
    tw_tcp_on_segment(F.tcp, T0, REMOTE, LOCAL, buf, 10);
    assert_int_equal(drops(TW_TCP_DROP_MALFORMED), 1);
}

static void test_tcp_closed_broadcast_dropped(void **state)
{
    uint8_t buf[64];
    tw_tcp_repr r = {.src_port = RPORT, .dst_port = LPORT, .seq = 1, .flags = SYN};
    tw_ipv4_addr bcast = TW_IPV4_ADDR_BROADCAST;
    tw_tcp_emit(&r, REMOTE, bcast, buf);
    tw_tcp_on_segment(F.tcp, T0, REMOTE, bcast, buf, tw_tcp_repr_len(&r));
    expect_nothing(T0);
    assert_int_equal(drops(TW_TCP_DROP_BAD_ADDRESS), 1);
}

/* ---- LISTEN (§3.10.7.2) ------------------------------------------------------- */

static void test_tcp_listen_syn_sends_synack(void **state)
{
    assert_int_equal(tw_tcp_listen(F.tcp, TW_IPV4_ADDR_ANY, LPORT, 4), 0);
    tw_tcp_options o = mss_opt(1400);
    send_segment_opts(T0, SYN, PEER_ISS, 0, 8192, &o, NULL, 0);
    tw_tcp_repr r = expect_segment_any(T0, SYN | ACK);
    assert_int_equal(r.ack, PEER_ISS + 1);
    assert_true(r.opts.has_mss);
    assert_int_equal(r.opts.mss, 1460); /* MTU 1500 - 40 */
    assert_false(r.opts.sack_permitted);
    assert_int_equal(r.window, 65535);
    assert_int_equal(conns(), 1);
    expect_no_event(T0); /* nothing for the application until ESTABLISHED */
}

static void test_tcp_listen_ack_gets_rst(void **state)
{
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 4), 0);
    send_segment(T0, ACK, 10, 4242, 100, NULL, 0);
    expect_segment(T0, RST, 4242, 0);
    assert_int_equal(drops(TW_TCP_DROP_LISTEN_ACK), 1);
    assert_int_equal(conns(), 0);
}

static void test_tcp_listen_rst_ignored(void **state)
{
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 4), 0);
    send_segment(T0, RST, 10, 0, 0, NULL, 0);
    send_segment(T0, FIN, 10, 0, 0, NULL, 0);
    expect_nothing(T0);
    assert_int_equal(drops(TW_TCP_DROP_LISTEN_RST), 1);
    assert_int_equal(drops(TW_TCP_DROP_LISTEN_NO_SYN), 1);
}

static void test_tcp_listen_syn_queue_full(void **state)
{
    tw_tcp_config c;
    fixture_config(&c);
    c.syn_backlog = 2;
    tw_tcp_destroy(F.tcp);
    fixture_start(&c);
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 8), 0);
    for (uint16_t i = 0; i < 3; i++) {
        F.rport = (uint16_t)(RPORT + i);
        send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    }
    expect_segment_any(T0, SYN | ACK);
    expect_segment_any(T0, SYN | ACK);
    expect_nothing(T0);
    assert_int_equal(drops(TW_TCP_DROP_SYN_QUEUE_FULL), 1);
    assert_int_equal(conns(), 2);
}

static void test_tcp_listen_accept_queue_full(void **state)
{
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 1), 0);
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    uint32_t iss1 = expect_segment_any(T0, SYN | ACK).seq;
    send_segment(T0, ACK, PEER_ISS + 1, iss1 + 1, 1000, NULL, 0);
    /* The first is established; its ACCEPTED event not yet popped. */
    F.rport = RPORT + 1;
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    expect_nothing(T0);
    assert_int_equal(drops(TW_TCP_DROP_ACCEPT_QUEUE_FULL), 1);
    expect_event(T0, TW_TCP_EV_ACCEPTED);
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    expect_segment_any(T0, SYN | ACK);
}

static void test_tcp_listen_unlisten_resets_half_open(void **state)
{
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 4), 0);
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 4), -TW_EADDRINUSE);
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    uint32_t iss = expect_segment_any(T0, SYN | ACK).seq;
    assert_int_equal(tw_tcp_unlisten(F.tcp, LOCAL, LPORT), 0);
    expect_segment(T0, RST, iss + 1, 0);
    assert_int_equal(conns(), 0);
    /* LISTEN -> CLOSED: a SYN now gets RST,ACK. */
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    expect_segment(T0, RST | ACK, 0, PEER_ISS + 1);
    assert_int_equal(tw_tcp_unlisten(F.tcp, LOCAL, LPORT), -TW_ENOENT);
}

/* ---- SYN-SENT (§3.10.7.3) --------------------------------------------------- */

static void test_tcp_closed_connect_sends_syn(void **state)
{
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    assert_true(F.conn > 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_SYN_SENT);
    tw_tcp_repr r = expect_segment_any(T0, SYN);
    assert_int_equal(r.ack, 0);
    assert_true(r.opts.has_mss);
    assert_false(r.opts.has_timestamp);
    expect_nothing(T0);
    assert_int_equal(tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT), -TW_EADDRINUSE);
}

static void test_tcp_syn_sent_synack_establishes(void **state)
{
    establish_active(T0, 30000);
    tw_tcp_conn_info i = conn_info(F.conn);
    assert_int_equal(i.snd_una, F.iss + 1);
    assert_int_equal(i.rcv_nxt, PEER_ISS + 1);
    assert_int_equal(i.snd_wnd, 30000);
    assert_int_equal(i.mss, 1460);
    assert_int_equal(i.cwnd, 10 * 1460); /* RFC 6928 IW10 */
}

static void test_tcp_syn_sent_bad_ack_gets_rst(void **state)
{
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    F.iss = expect_segment_any(T0, SYN).seq;
    send_segment(T0, SYN | ACK, PEER_ISS, F.iss + 7, 1000, NULL, 0);
    expect_segment(T0, RST, F.iss + 7, 0);
    send_segment(T0, ACK, PEER_ISS, F.iss, 1000, NULL, 0); /* SEG.ACK =< ISS */
    expect_segment(T0, RST, F.iss, 0);
    assert_int_equal(drops(TW_TCP_DROP_SYN_SENT_BAD_ACK), 2);
    assert_int_equal(conn_state(F.conn), TW_TCP_SYN_SENT);
}

static void test_tcp_syn_sent_rst_with_ack_refuses(void **state)
{
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    F.iss = expect_segment_any(T0, SYN).seq;
    send_segment(T0, RST, 0, 0, 0, NULL, 0); /* no ACK: ignored */
    assert_int_equal(drops(TW_TCP_DROP_SYN_SENT_RST_NO_ACK), 1);
    assert_int_equal(conn_state(F.conn), TW_TCP_SYN_SENT);
    send_segment(T0, RST | ACK, 0, F.iss + 1, 0, NULL, 0);
    expect_nothing(T0);
    tw_tcp_event ev = expect_event(T0, TW_TCP_EV_RESET);
    assert_int_equal(ev.error, -TW_ECONNREFUSED);
    assert_int_equal(conns(), 0);
    assert_int_equal(tw_tcp_send(F.tcp, T0, F.conn, "x", 1), -TW_ENOTCONN); /* stale */
}

static void test_tcp_syn_sent_ack_without_syn_dropped(void **state)
{
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    F.iss = expect_segment_any(T0, SYN).seq;
    send_segment(T0, ACK, PEER_ISS, F.iss + 1, 1000, NULL, 0);
    expect_nothing(T0);
    assert_int_equal(drops(TW_TCP_DROP_SYN_SENT_NO_SYN), 1);
}

static void test_tcp_syn_sent_close_deletes(void **state)
{
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    expect_segment_any(T0, SYN);
    assert_int_equal(tw_tcp_close(F.tcp, T0, F.conn), 0);
    expect_nothing(T0);
    expect_event(T0, TW_TCP_EV_CLOSED);
    assert_int_equal(conns(), 0);
    assert_int_equal(tw_tcp_next_deadline(F.tcp), TW_NS_NEVER);
}

static void test_tcp_syn_sent_timeout_gives_up(void **state)
{
    F.cfg.syn_retries = 2;
    tw_tcp_destroy(F.tcp);
    fixture_start(&F.cfg);
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    F.iss = expect_segment_any(T0, SYN).seq;
    /* RFC 6298 §2.1 / §5.5: 1 s, then doubling. */
    tick(T0 + TW_SEC(1) - 1);
    expect_nothing(T0 + TW_SEC(1) - 1);
    tick(T0 + TW_SEC(1));
    expect_segment(T0 + TW_SEC(1), SYN, F.iss, 0);
    tick(T0 + TW_SEC(3));
    expect_segment(T0 + TW_SEC(3), SYN, F.iss, 0);
    tick(T0 + TW_SEC(7) - 1);
    expect_no_event(T0 + TW_SEC(7) - 1);
    tick(T0 + TW_SEC(7));
    expect_nothing(T0 + TW_SEC(7));
    tw_tcp_event ev = expect_event(T0 + TW_SEC(7), TW_TCP_EV_TIMED_OUT);
    assert_int_equal(ev.error, -TW_ETIMEDOUT);
    assert_int_equal(conns(), 0);
}

static void test_tcp_syn_sent_syn_simultaneous_open(void **state)
{
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    F.iss = expect_segment_any(T0, SYN).seq;
    /* RFC 9293 §3.5 figure 8: the peer's SYN crosses ours. */
    tw_tcp_options o = mss_opt(1460);
    send_segment_opts(T0, SYN, PEER_ISS, 0, 5000, &o, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_SYN_RECEIVED);
    expect_segment(T0, SYN | ACK, F.iss, PEER_ISS + 1);
    expect_nothing(T0);
    /* Line 6: the peer's SYN-ACK completes it. */
    send_segment_opts(T0, SYN | ACK, PEER_ISS, F.iss + 1, 5000, &o, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_ESTABLISHED);
    expect_event(T0, TW_TCP_EV_CONNECTED);
    assert_int_equal(tw_tcp_send(F.tcp, T0, F.conn, "hi", 2), 2);
    tw_tcp_repr r = expect_segment(T0, ACK | PSH, F.iss + 1, PEER_ISS + 1);
    assert_int_equal(r.payload_len, 2);
}

static void test_tcp_syn_received_ack_simultaneous_open(void **state)
{
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    F.iss = expect_segment_any(T0, SYN).seq;
    send_segment(T0, SYN, PEER_ISS, 0, 5000, NULL, 0);
    expect_segment(T0, SYN | ACK, F.iss, PEER_ISS + 1);
    send_segment(T0, ACK, PEER_ISS + 1, F.iss + 1, 5000, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_ESTABLISHED);
    expect_event(T0, TW_TCP_EV_CONNECTED);
    assert_int_equal(conn_info(F.conn).mss, 536); /* no MSS option: 536 */
}

/* ---- SYN-RECEIVED --------------------------------------------------------------- */

static void test_tcp_syn_received_ack_establishes(void **state)
{
    establish_passive(T0, 20000);
    tw_tcp_conn_info i = conn_info(F.conn);
    assert_int_equal(i.snd_wnd, 20000);
    assert_int_equal(i.lport, LPORT);
    assert_int_equal(i.rport, RPORT);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->passive_opens, 1);
}

static void test_tcp_syn_received_bad_ack_gets_rst(void **state)
{
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 4), 0);
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    F.iss = expect_segment_any(T0, SYN | ACK).seq;
    send_segment(T0, ACK, PEER_ISS + 1, F.iss + 5, 1000, NULL, 0);
    expect_segment(T0, RST, F.iss + 5, 0);
    assert_int_equal(drops(TW_TCP_DROP_SYN_RECEIVED_BAD_ACK), 1);
    send_segment(T0, ACK, PEER_ISS + 1, F.iss + 1, 1000, NULL, 0);
    expect_event(T0, TW_TCP_EV_ACCEPTED);
}

static void test_tcp_syn_received_rst_returns_to_listen(void **state)
{
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 4), 0);
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    F.iss = expect_segment_any(T0, SYN | ACK).seq;
    send_segment(T0, RST, PEER_ISS + 1, 0, 0, NULL, 0);
    expect_nothing(T0);
    expect_no_event(T0);
    assert_int_equal(conns(), 0);
    /* The listener is still there. */
    send_segment(T0, SYN, PEER_ISS + 100, 0, 1000, NULL, 0);
    expect_segment_any(T0, SYN | ACK);
}

static void test_tcp_syn_received_rst_active_refuses(void **state)
{
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    F.iss = expect_segment_any(T0, SYN).seq;
    send_segment(T0, SYN, PEER_ISS, 0, 5000, NULL, 0);
    expect_segment_any(T0, SYN | ACK);
    send_segment(T0, RST, PEER_ISS + 1, 0, 0, NULL, 0);
    tw_tcp_event ev = expect_event(T0, TW_TCP_EV_RESET);
    assert_int_equal(ev.error, -TW_ECONNREFUSED);
}

static void test_tcp_syn_received_syn_resends_synack(void **state)
{
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 4), 0);
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    F.iss = expect_segment_any(T0, SYN | ACK).seq;
    send_segment(T0 + TW_MS(5), SYN, PEER_ISS, 0, 1000, NULL, 0);
    expect_segment(T0 + TW_MS(5), SYN | ACK, F.iss, PEER_ISS + 1);
    /* A SYN with another ISS, in window: back to LISTEN (§3.10.7.4). */
    send_segment(T0 + TW_MS(6), SYN, PEER_ISS + 10, 0, 1000, NULL, 0);
    expect_nothing(T0 + TW_MS(6));
    assert_int_equal(conns(), 0);
}

static void test_tcp_syn_received_timeout_drops_quietly(void **state)
{
    F.cfg.synack_retries = 1;
    tw_tcp_destroy(F.tcp);
    fixture_start(&F.cfg);
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 4), 0);
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    F.iss = expect_segment_any(T0, SYN | ACK).seq;
    tick(T0 + TW_SEC(1));
    expect_segment(T0 + TW_SEC(1), SYN | ACK, F.iss, PEER_ISS + 1);
    tick(T0 + TW_SEC(3));
    expect_nothing(T0 + TW_SEC(3));
    expect_no_event(T0 + TW_SEC(3));
    assert_int_equal(conns(), 0);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->timed_out, 1);
}

static void test_tcp_syn_received_close_goes_fin_wait_1(void **state)
{
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    F.iss = expect_segment_any(T0, SYN).seq;
    send_segment(T0, SYN, PEER_ISS, 0, 5000, NULL, 0);
    expect_segment_any(T0, SYN | ACK);
    assert_int_equal(tw_tcp_close(F.tcp, T0, F.conn), 0);
    expect_nothing(T0); /* the FIN waits for ESTABLISHED */
    send_segment(T0, ACK, PEER_ISS + 1, F.iss + 1, 5000, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_FIN_WAIT_1);
    expect_segment(T0, FIN | ACK, F.iss + 1, PEER_ISS + 1);
}

/* ---- closing transitions ------------------------------------------------------- */

static void test_tcp_established_close_active_to_time_wait(void **state)
{
    establish_active(T0, 10000);
    assert_int_equal(tw_tcp_close(F.tcp, T0, F.conn), 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_FIN_WAIT_1);
    expect_segment(T0, FIN | ACK, F.iss + 1, PEER_ISS + 1);
    assert_int_equal(tw_tcp_send(F.tcp, T0, F.conn, "x", 1), -TW_ECLOSED);
    assert_int_equal(tw_tcp_close(F.tcp, T0, F.conn), -TW_ECLOSED);
    /* FIN-WAIT-1 -> FIN-WAIT-2 on the ACK of our FIN. */
    send_segment(T0 + 1, ACK, PEER_ISS + 1, F.iss + 2, 10000, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_FIN_WAIT_2);
    expect_nothing(T0 + 1);
    /* FIN-WAIT-2 -> TIME-WAIT on the peer's FIN. */
    send_segment(T0 + 2, FIN | ACK, PEER_ISS + 1, F.iss + 2, 10000, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_TIME_WAIT);
    expect_segment(T0 + 2, ACK, F.iss + 2, PEER_ISS + 2);
    expect_event(T0 + 2, TW_TCP_EV_PEER_CLOSED);
    expect_event(T0 + 2, TW_TCP_EV_CLOSED);
    assert_int_equal(tw_tcp_send(F.tcp, T0, F.conn, "x", 1), -TW_ENOTCONN);
    /* TIME-WAIT -> CLOSED after 2 MSL (RFC 9293 §3.10.8). */
    assert_int_equal(conns(), 1);
    tw_ns end = T0 + 2 + 2 * F.cfg.msl_ns;
    tick(end - 1);
    assert_int_equal(conns(), 1);
    tick(end);
    assert_int_equal(conns(), 0);
    expect_nothing(end);
}

static void test_tcp_fin_wait_2_receives_data_half_close(void **state)
{
    establish_active(T0, 10000);
    assert_int_equal(tw_tcp_close(F.tcp, T0, F.conn), 0);
    expect_segment(T0, FIN | ACK, F.iss + 1, PEER_ISS + 1);
    send_segment(T0, ACK, PEER_ISS + 1, F.iss + 2, 10000, NULL, 0);
    /* Our direction is closed; the peer's is open. */
    send_segment(T0 + 1, ACK | PSH, PEER_ISS + 1, F.iss + 2, 10000, "hello", 5);
    tw_tcp_event ev = expect_event(T0 + 1, TW_TCP_EV_DATA);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "hello", 5);
    assert_int_equal(tw_tcp_consume(F.tcp, T0 + 1, F.conn, 5), 0);
    send_segment(T0 + 2, FIN | ACK, PEER_ISS + 6, F.iss + 2, 10000, NULL, 0);
    expect_segment(T0 + 2, ACK, F.iss + 2, PEER_ISS + 7);
    expect_event(T0 + 2, TW_TCP_EV_PEER_CLOSED);
    expect_event(T0 + 2, TW_TCP_EV_CLOSED);
}

static void test_tcp_fin_wait_1_finack_to_time_wait(void **state)
{
    establish_active(T0, 10000);
    tw_tcp_close(F.tcp, T0, F.conn);
    expect_segment(T0, FIN | ACK, F.iss + 1, PEER_ISS + 1);
    /* FIN and the ACK of ours in one segment: straight to TIME-WAIT. */
    send_segment(T0 + 1, FIN | ACK, PEER_ISS + 1, F.iss + 2, 10000, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_TIME_WAIT);
    expect_segment(T0 + 1, ACK, F.iss + 2, PEER_ISS + 2);
}

static void test_tcp_fin_wait_1_fin_simultaneous_close(void **state)
{
    establish_active(T0, 10000);
    tw_tcp_close(F.tcp, T0, F.conn);
    expect_segment(T0, FIN | ACK, F.iss + 1, PEER_ISS + 1);
    /* The peer's FIN crosses ours: CLOSING. */
    send_segment(T0 + 1, FIN | ACK, PEER_ISS + 1, F.iss + 1, 10000, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_CLOSING);
    expect_segment(T0 + 1, ACK, F.iss + 2, PEER_ISS + 2);
    expect_event(T0 + 1, TW_TCP_EV_PEER_CLOSED);
    expect_no_event(T0 + 1);
    /* CLOSING -> TIME-WAIT on the ACK of our FIN. */
    send_segment(T0 + 2, ACK, PEER_ISS + 2, F.iss + 2, 10000, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_TIME_WAIT);
    expect_event(T0 + 2, TW_TCP_EV_CLOSED);
}

static void test_tcp_established_fin_passive_close(void **state)
{
    establish_passive(T0, 10000);
    send_segment(T0 + 1, FIN | ACK, PEER_ISS + 1, F.iss + 1, 10000, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_CLOSE_WAIT);
    expect_segment(T0 + 1, ACK, F.iss + 1, PEER_ISS + 2);
    expect_event(T0 + 1, TW_TCP_EV_PEER_CLOSED);
    /* CLOSE-WAIT: we may still send. */
    assert_int_equal(tw_tcp_send(F.tcp, T0 + 2, F.conn, "bye", 3), 3);
    expect_segment(T0 + 2, ACK | PSH, F.iss + 1, PEER_ISS + 2);
    /* CLOSE-WAIT -> LAST-ACK. */
    assert_int_equal(tw_tcp_close(F.tcp, T0 + 3, F.conn), 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_LAST_ACK);
    expect_segment(T0 + 3, FIN | ACK, F.iss + 4, PEER_ISS + 2);
    /* LAST-ACK -> CLOSED. */
    send_segment(T0 + 4, ACK, PEER_ISS + 2, F.iss + 5, 10000, NULL, 0);
    expect_event(T0 + 4, TW_TCP_EV_CLOSED);
    assert_int_equal(conns(), 0);
    expect_nothing(T0 + 4);
}

static void test_tcp_last_ack_fin_retransmitted(void **state)
{
    establish_passive(T0, 10000);
    send_segment(T0, FIN | ACK, PEER_ISS + 1, F.iss + 1, 10000, NULL, 0);
    expect_segment(T0, ACK, F.iss + 1, PEER_ISS + 2);
    tw_tcp_close(F.tcp, T0, F.conn);
    expect_segment(T0, FIN | ACK, F.iss + 1, PEER_ISS + 2);
    tick(T0 + TW_SEC(1));
    expect_segment(T0 + TW_SEC(1), FIN | ACK, F.iss + 1, PEER_ISS + 2);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->retransmits, 1);
}

/* ---- TIME-WAIT ------------------------------------------------------------------ */

static void enter_time_wait(void)
{
    establish_active(T0, 10000);
    tw_tcp_close(F.tcp, T0, F.conn);
    expect_segment(T0, FIN | ACK, F.iss + 1, PEER_ISS + 1);
    send_segment(T0, FIN | ACK, PEER_ISS + 1, F.iss + 2, 10000, NULL, 0);
    expect_segment(T0, ACK, F.iss + 2, PEER_ISS + 2);
    expect_event(T0, TW_TCP_EV_PEER_CLOSED);
    expect_event(T0, TW_TCP_EV_CLOSED);
}

static void test_tcp_time_wait_fin_restarts_timer(void **state)
{
    enter_time_wait();
    tw_ns t1 = T0 + TW_SEC(10);
    send_segment(t1, FIN | ACK, PEER_ISS + 1, F.iss + 2, 10000, NULL, 0);
    expect_segment(t1, ACK, F.iss + 2, PEER_ISS + 2);
    tick(T0 + 2 * F.cfg.msl_ns);
    assert_int_equal(conns(), 1); /* restarted at t1 */
    tick(t1 + 2 * F.cfg.msl_ns);
    assert_int_equal(conns(), 0);
}

static void test_tcp_time_wait_stray_ack_counted(void **state)
{
    enter_time_wait();
    send_segment(T0 + 1, ACK, PEER_ISS + 2, F.iss + 2, 10000, NULL, 0);
    expect_nothing(T0 + 1);
    assert_int_equal(drops(TW_TCP_DROP_TIME_WAIT), 1);
    assert_int_equal(conns(), 1);
}

static void test_tcp_time_wait_rst_closes(void **state)
{
    enter_time_wait();
    send_segment(T0 + 1, RST, PEER_ISS + 2, 0, 0, NULL, 0);
    assert_int_equal(conns(), 0);
}

static void test_tcp_time_wait_syn_reused_when_newer(void **state)
{
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 4), 0);
    enter_time_wait();
    /* RFC 1122 §4.2.2.13: a SYN above the old RCV.NXT opens anew. */
    send_segment(T0 + 1, SYN, PEER_ISS + 100000, 0, 1000, NULL, 0);
    tw_tcp_repr r = expect_segment_any(T0 + 1, SYN | ACK);
    assert_int_equal(r.ack, PEER_ISS + 100001);
    assert_true((int32_t)(r.seq - (F.iss + 2)) > 0); /* the new ISS is above */
    assert_int_equal(tw_tcp_get_stats(F.tcp)->time_wait_reused, 1);
    assert_int_equal(conns(), 1);
}

static void test_tcp_time_wait_syn_old_gets_ack(void **state)
{
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 4), 0);
    enter_time_wait();
    /* Below RCV.NXT: the first check answers it with an ACK. */
    send_segment(T0 + 1, SYN, PEER_ISS - 5, 0, 1000, NULL, 0);
    expect_segment(T0 + 1, ACK, F.iss + 2, PEER_ISS + 2);
    assert_int_equal(drops(TW_TCP_DROP_OUT_OF_WINDOW), 1);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->time_wait_reused, 0);
}

/* ---- RST in each synchronized state (RFC 5961 §3.2) ----------------------- */

static void test_tcp_established_rst_exact_resets(void **state)
{
    establish_passive(T0, 10000);
    send_segment(T0 + 1, RST, PEER_ISS + 1, 0, 0, NULL, 0);
    tw_tcp_event ev = expect_event(T0 + 1, TW_TCP_EV_RESET);
    assert_int_equal(ev.error, -TW_ECONNRESET);
    assert_int_equal(conns(), 0);
    expect_nothing(T0 + 1);
}

static void test_tcp_established_rst_in_window_challenged(void **state)
{
    establish_passive(T0, 10000);
    send_segment(T0 + 1, RST, PEER_ISS + 100, 0, 0, NULL, 0);
    expect_segment(T0 + 1, ACK, F.iss + 1, PEER_ISS + 1); /* challenge ACK */
    assert_int_equal(conn_state(F.conn), TW_TCP_ESTABLISHED);
    assert_int_equal(drops(TW_TCP_DROP_RST_CHALLENGED), 1);
}

static void test_tcp_established_rst_out_of_window_dropped(void **state)
{
    establish_passive(T0, 10000);
    send_segment(T0 + 1, RST, PEER_ISS + 1 + 70000, 0, 0, NULL, 0);
    send_segment(T0 + 1, RST, PEER_ISS - 10, 0, 0, NULL, 0);
    expect_nothing(T0 + 1);
    assert_int_equal(drops(TW_TCP_DROP_RST_OUT_OF_WINDOW), 2);
    assert_int_equal(conn_state(F.conn), TW_TCP_ESTABLISHED);
}

static void test_tcp_fin_wait_1_rst_resets(void **state)
{
    establish_active(T0, 10000);
    tw_tcp_close(F.tcp, T0, F.conn);
    expect_segment_any(T0, FIN | ACK);
    send_segment(T0 + 1, RST, PEER_ISS + 1, 0, 0, NULL, 0);
    expect_event(T0 + 1, TW_TCP_EV_RESET);
    assert_int_equal(conns(), 0);
}

static void test_tcp_fin_wait_2_rst_resets(void **state)
{
    establish_active(T0, 10000);
    tw_tcp_close(F.tcp, T0, F.conn);
    expect_segment_any(T0, FIN | ACK);
    send_segment(T0, ACK, PEER_ISS + 1, F.iss + 2, 10000, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_FIN_WAIT_2);
    send_segment(T0 + 1, RST, PEER_ISS + 1, 0, 0, NULL, 0);
    expect_event(T0 + 1, TW_TCP_EV_RESET);
}

static void test_tcp_close_wait_rst_resets(void **state)
{
    establish_passive(T0, 10000);
    send_segment(T0, FIN | ACK, PEER_ISS + 1, F.iss + 1, 10000, NULL, 0);
    expect_segment_any(T0, ACK);
    expect_event(T0, TW_TCP_EV_PEER_CLOSED);
    send_segment(T0 + 1, RST, PEER_ISS + 2, 0, 0, NULL, 0);
    expect_event(T0 + 1, TW_TCP_EV_RESET);
}

static void test_tcp_closing_rst_closes(void **state)
{
    establish_active(T0, 10000);
    tw_tcp_close(F.tcp, T0, F.conn);
    expect_segment_any(T0, FIN | ACK);
    send_segment(T0, FIN | ACK, PEER_ISS + 1, F.iss + 1, 10000, NULL, 0);
    expect_segment_any(T0, ACK);
    assert_int_equal(conn_state(F.conn), TW_TCP_CLOSING);
    expect_event(T0, TW_TCP_EV_PEER_CLOSED);
    send_segment(T0 + 1, RST, PEER_ISS + 2, 0, 0, NULL, 0);
    expect_event(T0 + 1, TW_TCP_EV_CLOSED);
    assert_int_equal(conns(), 0);
}

static void test_tcp_last_ack_rst_closes(void **state)
{
    establish_passive(T0, 10000);
    send_segment(T0, FIN | ACK, PEER_ISS + 1, F.iss + 1, 10000, NULL, 0);
    expect_segment_any(T0, ACK);
    tw_tcp_close(F.tcp, T0, F.conn);
    expect_segment_any(T0, FIN | ACK);
    send_segment(T0 + 1, RST, PEER_ISS + 2, 0, 0, NULL, 0);
    expect_event(T0 + 1, TW_TCP_EV_PEER_CLOSED);
    expect_event(T0 + 1, TW_TCP_EV_CLOSED);
    assert_int_equal(conns(), 0);
}

/* ---- SYN and ACK checks (RFC 5961 §4, §5) ----------------------------------- */

static void test_tcp_established_syn_challenged(void **state)
{
    establish_passive(T0, 10000);
    send_segment(T0 + 1, SYN, PEER_ISS + 50, 0, 1000, NULL, 0); /* in window */
    expect_segment(T0 + 1, ACK, F.iss + 1, PEER_ISS + 1);
    send_segment(T0 + 1, SYN, PEER_ISS - 5000, 0, 1000, NULL, 0); /* not: plain ACK */
    expect_segment(T0 + 1, ACK, F.iss + 1, PEER_ISS + 1);
    assert_int_equal(drops(TW_TCP_DROP_SYN_CHALLENGED), 1);
    assert_int_equal(drops(TW_TCP_DROP_OUT_OF_WINDOW), 1);
    assert_int_equal(conn_state(F.conn), TW_TCP_ESTABLISHED);
}

static void test_tcp_established_challenge_acks_rate_limited(void **state)
{
    F.cfg.challenge_acks_per_sec = 3;
    tw_tcp_destroy(F.tcp);
    fixture_start(&F.cfg);
    establish_passive(T0, 10000);
    for (int i = 0; i < 5; i++) {
        send_segment(T0 + 1, RST, PEER_ISS + 10 + i, 0, 0, NULL, 0);
        if (i < 3) {
            expect_segment(T0 + 1, ACK, F.iss + 1, PEER_ISS + 1);
        }
        expect_nothing(T0 + 1);
    }
    const tw_tcp_stats *st = tw_tcp_get_stats(F.tcp);
    assert_int_equal(st->challenge_acks, 3);
    assert_int_equal(st->challenge_acks_limited, 2);
    /* The next second has a fresh allowance. */
    send_segment(T0 + TW_SEC(1), RST, PEER_ISS + 10, 0, 0, NULL, 0);
    expect_segment(T0 + TW_SEC(1), ACK, F.iss + 1, PEER_ISS + 1);
}

static void test_tcp_established_ack_unsent_dropped(void **state)
{
    establish_passive(T0, 10000);
    send_segment(T0 + 1, ACK, PEER_ISS + 1, F.iss + 1000, 10000, "zz", 2);
    expect_segment(T0 + 1, ACK, F.iss + 1, PEER_ISS + 1);
    assert_int_equal(drops(TW_TCP_DROP_ACK_UNSENT), 1);
    expect_no_event(T0 + 1); /* the data was not taken */
}

static void test_tcp_established_ack_too_old_challenged(void **state)
{
    establish_passive(T0, 10000);
    /* RFC 5961 §5.2: below SND.UNA - MAX.SND.WND. */
    send_segment(T0 + 1, ACK, PEER_ISS + 1, F.iss - 20000, 10000, "zz", 2);
    expect_segment(T0 + 1, ACK, F.iss + 1, PEER_ISS + 1);
    assert_int_equal(drops(TW_TCP_DROP_ACK_TOO_OLD), 1);
    /* An old ACK inside MAX.SND.WND is fine: the data is taken. */
    send_segment(T0 + 2, ACK, PEER_ISS + 1, F.iss - 100, 10000, "zz", 2);
    expect_event(T0 + 2, TW_TCP_EV_DATA);
}

static void test_tcp_established_no_ack_bit_dropped(void **state)
{
    establish_passive(T0, 10000);
    send_segment(T0 + 1, PSH, PEER_ISS + 1, 0, 10000, "zz", 2);
    assert_int_equal(drops(TW_TCP_DROP_NO_ACK), 1);
    expect_no_event(T0 + 1);
}

static void test_tcp_established_unacceptable_gets_ack(void **state)
{
    establish_passive(T0, 10000);
    /* Entirely old data: ACK with the current numbers, drop. */
    send_segment(T0 + 1, ACK, PEER_ISS - 10, F.iss + 1, 10000, "0123456789", 10);
    expect_segment(T0 + 1, ACK, F.iss + 1, PEER_ISS + 1);
    assert_int_equal(drops(TW_TCP_DROP_OUT_OF_WINDOW), 1);
    /* Partly old: the new part is kept (trimmed at the front). */
    send_segment(T0 + 2, ACK, PEER_ISS - 4, F.iss + 1, 10000, "0123456789", 10);
    tw_tcp_event ev = expect_event(T0 + 2, TW_TCP_EV_DATA);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "56789", 5);
}

/* After a timeout, go-back-N rewinds SND.NXT to SND.UNA, but a pure ACK
 * must still carry the next new sequence number (SND.MAX; RFC 9293's
 * SND.NXT never moves back, and BSD's tcp_output does the same): the peer
 * has seen what we sent before the rewind, and an ACK numbered below its
 * RCV.NXT is unacceptable there, answered by an ACK that is unacceptable
 * here in turn. Found by `twin fuzz` as an ACK storm of 65 million events
 * between two hosts that had both timed out. */
static void test_tcp_established_rto_ack_carries_snd_max(void **state)
{
    establish_passive(T0, 60000);
    static uint8_t data[3 * 1460];
    fill_pattern(data, sizeof data, 0);
    assert_int_equal(tw_tcp_send(F.tcp, T0, F.conn, data, sizeof data), (int64_t)sizeof data);
    for (int i = 0; i < 3; i++) {
        tw_tcp_repr r = expect_segment_any(T0, i == 2 ? ACK | PSH : ACK);
        assert_int_equal(r.seq, F.iss + 1 + 1460u * (uint32_t)i);
    }
    expect_nothing(T0);
    /* The timeout: one segment again (cwnd 1 MSS), the rest waits. */
    tw_ns rto = T0 + conn_info(F.conn).rto_ns;
    tick(rto);
    tw_tcp_repr r = expect_segment_any(rto, ACK);
    assert_int_equal(r.seq, F.iss + 1);
    expect_nothing(rto);
    /* The peer's data (its window closing on what is in flight, so no
     * data rides along) is acknowledged at SND.MAX, not the rewound
     * SND.NXT. */
    send_segment(rto + 1, ACK | PSH, PEER_ISS + 1, F.iss + 1, 1460, "zz", 2);
    tw_ns delack = rto + 1 + TW_MS(40); /* before the next, backed-off timeout */
    tick(delack);
    r = expect_segment_any(delack, ACK);
    assert_int_equal(r.seq, F.iss + 1 + sizeof data);
    assert_int_equal(r.ack, PEER_ISS + 3);
    assert_int_equal(r.payload_len, 0);
}

/* ---- application verbs and handles ------------------------------------------ */

static void test_tcp_established_abort_sends_rst(void **state)
{
    establish_active(T0, 10000);
    assert_int_equal(tw_tcp_send(F.tcp, T0, F.conn, "abc", 3), 3);
    expect_segment_any(T0, ACK | PSH);
    assert_int_equal(tw_tcp_abort(F.tcp, T0, F.conn), 0);
    expect_segment(T0, RST, F.iss + 4, 0);
    expect_nothing(T0);
    expect_no_event(T0);
    assert_int_equal(conns(), 0);
    assert_int_equal(tw_tcp_abort(F.tcp, T0, F.conn), -TW_ENOTCONN);
    assert_int_equal(tw_tcp_next_deadline(F.tcp), TW_NS_NEVER);
}

static void test_tcp_syn_sent_abort_is_silent(void **state)
{
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    expect_segment_any(T0, SYN);
    assert_int_equal(tw_tcp_abort(F.tcp, T0, F.conn), 0);
    expect_nothing(T0);
}

static void test_tcp_closed_stale_handle_rejected(void **state)
{
    establish_active(T0, 10000);
    tw_tcp_conn old = F.conn;
    assert_int_equal(tw_tcp_abort(F.tcp, T0, old), 0);
    expect_segment_any(T0, RST);
    /* The same slot again, a new generation. */
    tw_tcp_conn fresh = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT + 1, REMOTE, RPORT);
    assert_true(fresh > 0);
    assert_int_equal((uint32_t)fresh, (uint32_t)old);
    assert_true(fresh != old);
    assert_int_equal(tw_tcp_send(F.tcp, T0, old, "x", 1), -TW_ENOTCONN);
    assert_int_equal(tw_tcp_close(F.tcp, T0, old), -TW_ENOTCONN);
    assert_int_equal(tw_tcp_send(F.tcp, T0, fresh, "x", 1), 1);
    assert_int_equal(tw_tcp_send(F.tcp, T0, -5, "x", 1), -TW_ENOTCONN);
    assert_int_equal(tw_tcp_send(F.tcp, T0, 0, "x", 1), -TW_ENOTCONN);
}

static void test_tcp_closed_connect_table_full(void **state)
{
    F.cfg.conns_max = 2;
    tw_tcp_destroy(F.tcp);
    fixture_start(&F.cfg);
    assert_true(tw_tcp_connect(F.tcp, T0, LOCAL, REMOTE, 1) > 0);
    assert_true(tw_tcp_connect(F.tcp, T0, LOCAL, REMOTE, 2) > 0);
    assert_int_equal(tw_tcp_connect(F.tcp, T0, LOCAL, REMOTE, 3), -TW_ENOMEM);
    assert_int_equal(tw_tcp_connect(F.tcp, T0, LOCAL, REMOTE, 0), -TW_EINVAL);
    assert_int_equal(tw_tcp_connect(F.tcp, T0, LOCAL, TW_IPV4_ADDR_BROADCAST, 9), -TW_EINVAL);
}

static void test_tcp_listen_syn_no_tcb_dropped(void **state)
{
    F.cfg.conns_max = 1;
    tw_tcp_destroy(F.tcp);
    fixture_start(&F.cfg);
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 4), 0);
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    expect_segment_any(T0, SYN | ACK);
    F.rport = RPORT + 1;
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    expect_nothing(T0);
    assert_int_equal(drops(TW_TCP_DROP_NO_BUFFER) + drops(TW_TCP_DROP_NO_TCB), 1);
}

static void test_tcp_established_names_and_drop_table(void **state)
{
    assert_string_equal(tw_tcp_state_name(TW_TCP_SYN_RECEIVED), "SYN-RECEIVED");
    assert_string_equal(tw_tcp_state_name(TW_TCP_TIME_WAIT), "TIME-WAIT");
    assert_string_equal(tw_tcp_drop_name(TW_TCP_DROP_PAWS), "PAWS");
    expect_assert_failure(tw_tcp_drop_name(TW_TCP_DROP_COUNT));
    assert_true(tw_tcp_conn_bytes() <= 1024);
}

/* ---- more transitions and edges --------------------------------------------- */

/* A passive open with timestamps; returns our TSval from the SYN-ACK. */
static uint32_t establish_passive_ts(tw_ns t, uint32_t tsval)
{
    F.cfg.timestamps = true;
    tw_tcp_destroy(F.tcp);
    fixture_start(&F.cfg);
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 8), 0);
    tw_tcp_options o = {.has_mss = true, .mss = 1460, .has_timestamp = true, .ts_val = tsval};
    send_segment_opts(t, SYN, PEER_ISS, 0, 10000, &o, NULL, 0);
    tw_tcp_repr r = expect_segment_any(t, SYN | ACK);
    F.iss = r.seq;
    tw_tcp_options a = {.has_timestamp = true, .ts_val = tsval, .ts_ecr = r.opts.ts_val};
    send_segment_opts(t, ACK, PEER_ISS + 1, F.iss + 1, 10000, &a, NULL, 0);
    F.conn = expect_event(t, TW_TCP_EV_ACCEPTED).conn;
    return r.opts.ts_val;
}

static void test_tcp_time_wait_syn_reused_by_timestamp(void **state)
{
    uint32_t ours = establish_passive_ts(T0, 500);
    tw_tcp_close(F.tcp, T0, F.conn);
    expect_segment(T0, FIN | ACK, F.iss + 1, PEER_ISS + 1);
    tw_tcp_options a = {.has_timestamp = true, .ts_val = 600, .ts_ecr = ours};
    send_segment_opts(T0, FIN | ACK, PEER_ISS + 1, F.iss + 2, 10000, &a, NULL, 0);
    expect_segment(T0, ACK, F.iss + 2, PEER_ISS + 2);
    expect_event(T0, TW_TCP_EV_PEER_CLOSED);
    expect_event(T0, TW_TCP_EV_CLOSED);
    /* RFC 6191 §2: an older timestamp may not reopen the tuple ... */
    tw_tcp_options syn = {.has_mss = true, .mss = 1460, .has_timestamp = true, .ts_val = 599};
    send_segment_opts(T0 + 1, SYN, PEER_ISS + 50, 0, 10000, &syn, NULL, 0);
    expect_segment(T0 + 1, ACK, F.iss + 2, PEER_ISS + 2); /* PAWS: ACK, drop */
    assert_int_equal(tw_tcp_get_stats(F.tcp)->time_wait_reused, 0);
    /* ... a newer one may, even with a sequence number below RCV.NXT. */
    syn.ts_val = 601;
    send_segment_opts(T0 + 2, SYN, PEER_ISS - 100, 0, 10000, &syn, NULL, 0);
    tw_tcp_repr r = expect_segment_any(T0 + 2, SYN | ACK);
    assert_int_equal(r.ack, PEER_ISS - 99);
    assert_int_equal(r.opts.ts_ecr, 601);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->time_wait_reused, 1);
}

static void test_tcp_time_wait_connect_reuses_tuple_with_timestamps(void **state)
{
    F.cfg.timestamps = true;
    tw_tcp_destroy(F.tcp);
    fixture_start(&F.cfg);
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    tw_tcp_repr r = expect_segment_any(T0, SYN);
    F.iss = r.seq;
    tw_tcp_options o = {
        .has_mss = true, .mss = 1460, .has_timestamp = true, .ts_val = 7, .ts_ecr = r.opts.ts_val};
    send_segment_opts(T0, SYN | ACK, PEER_ISS, F.iss + 1, 10000, &o, NULL, 0);
    expect_segment_any(T0, ACK);
    expect_event(T0, TW_TCP_EV_CONNECTED);
    tw_tcp_close(F.tcp, T0, F.conn);
    expect_segment_any(T0, FIN | ACK);
    o.ts_val = 8;
    send_segment_opts(T0, FIN | ACK, PEER_ISS + 1, F.iss + 2, 10000, &o, NULL, 0);
    expect_segment_any(T0, ACK);
    assert_int_equal(tw_tcp_conn_count(F.tcp), 1); /* TIME-WAIT */
    /* The same 4-tuple again a second later: our timestamps are newer, so
     * the peer accepts the new incarnation (RFC 6191); TIME-WAIT yields. */
    tw_tcp_conn again = tw_tcp_connect_from(F.tcp, T0 + TW_SEC(1), LOCAL, LPORT, REMOTE, RPORT);
    assert_true(again > 0);
    tw_tcp_repr syn = expect_segment_any(T0 + TW_SEC(1), SYN);
    assert_true((int32_t)(syn.opts.ts_val - r.opts.ts_val) >= 1000);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->time_wait_reused, 1);
}

static void test_tcp_syn_sent_mss_clamped(void **state)
{
    static const struct {
        uint16_t peer;
        uint16_t want;
    } cases[] = {{9000, 1460}, {1000, 1000}, {10, 88}};
    for (size_t i = 0; i < TW_ARRAY_LEN(cases); i++) {
        F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, (uint16_t)(LPORT + i), REMOTE, RPORT);
        F.lport = (uint16_t)(LPORT + i);
        F.iss = expect_segment_any(T0, SYN).seq;
        tw_tcp_options o = mss_opt(cases[i].peer);
        send_segment_opts(T0, SYN | ACK, PEER_ISS, F.iss + 1, 65535, &o, NULL, 0);
        expect_segment_any(T0, ACK);
        /* RFC 9293 §3.7.1: min(the peer's, our MTU - 40). */
        assert_int_equal(conn_info(F.conn).mss, cases[i].want);
    }
}

static void test_tcp_established_close_piggybacks_fin(void **state)
{
    establish_active(T0, 10000);
    assert_int_equal(tw_tcp_send(F.tcp, T0, F.conn, "last words", 10), 10);
    assert_int_equal(tw_tcp_close(F.tcp, T0, F.conn), 0);
    tw_tcp_repr r = expect_segment(T0, FIN | PSH | ACK, F.iss + 1, PEER_ISS + 1);
    assert_int_equal(r.payload_len, 10);
    expect_nothing(T0);
    /* Lost: the timeout resends data and FIN together. */
    tick(T0 + TW_MS(200));
    r = expect_segment(T0 + TW_MS(200), FIN | PSH | ACK, F.iss + 1, PEER_ISS + 1);
    assert_int_equal(r.payload_len, 10);
    send_segment(T0 + TW_MS(201), ACK, PEER_ISS + 1, F.iss + 12, 10000, NULL, 0);
    assert_int_equal(conn_state(F.conn), TW_TCP_FIN_WAIT_2);
}

static void test_tcp_close_wait_data_after_fin_dropped(void **state)
{
    establish_passive(T0, 10000);
    send_segment(T0, FIN | ACK, PEER_ISS + 1, F.iss + 1, 10000, NULL, 0);
    expect_segment(T0, ACK, F.iss + 1, PEER_ISS + 2);
    send_segment(T0 + 1, ACK, PEER_ISS + 2, F.iss + 1, 10000, "late", 4);
    assert_int_equal(drops(TW_TCP_DROP_AFTER_FIN), 1);
    expect_event(T0 + 1, TW_TCP_EV_PEER_CLOSED);
    expect_no_event(T0 + 1);
}

static void test_tcp_established_urgent_data_is_plain_data(void **state)
{
    establish_passive(T0, 10000);
    /* NOTE (input.c): URG is ignored (RFC 6093): the bytes are data. */
    uint8_t buf[128];
    tw_tcp_repr r = {.src_port = RPORT,
                     .dst_port = LPORT,
                     .seq = PEER_ISS + 1,
                     .ack = F.iss + 1,
                     .flags = ACK | TW_TCP_URG,
                     .window = 10000,
                     .urgent = 2,
                     .payload = (const uint8_t *)"ab",
                     .payload_len = 2};
    tw_tcp_emit(&r, REMOTE, LOCAL, buf);
    tw_tcp_on_segment(F.tcp, T0, REMOTE, LOCAL, buf, tw_tcp_repr_len(&r));
    tw_tcp_event ev = expect_event(T0, TW_TCP_EV_DATA);
    assert_memory_equal(ev.data, "ab", 2);
}

static void test_tcp_listen_accepted_then_reset_before_pop(void **state)
{
    establish_passive(T0, 10000);
    tw_tcp_conn first = F.conn;
    F.rport = RPORT + 1;
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    uint32_t iss = expect_segment_any(T0, SYN | ACK).seq;
    send_segment(T0, ACK, PEER_ISS + 1, iss + 1, 1000, "x", 1);
    send_segment(T0, RST, PEER_ISS + 2, 0, 0, NULL, 0);
    /* The application still learns of it, in order: accepted, its data,
     * then the reset; the handle is good until the last is popped. */
    tw_tcp_event ev = expect_event(T0, TW_TCP_EV_ACCEPTED);
    assert_true(ev.conn != first);
    ev = expect_event(T0, TW_TCP_EV_DATA);
    assert_memory_equal(ev.data, "x", 1);
    expect_event(T0, TW_TCP_EV_RESET);
    assert_int_equal(tw_tcp_send(F.tcp, T0, ev.conn, "y", 1), -TW_ENOTCONN);
    assert_int_equal(conns(), 1);
}

static void test_tcp_syn_received_ack_accept_queue_full(void **state)
{
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 1), 0);
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    uint32_t iss1 = expect_segment_any(T0, SYN | ACK).seq;
    F.rport = RPORT + 1;
    send_segment(T0, SYN, PEER_ISS, 0, 1000, NULL, 0);
    uint32_t iss2 = expect_segment_any(T0, SYN | ACK).seq;
    F.rport = RPORT;
    send_segment(T0, ACK, PEER_ISS + 1, iss1 + 1, 1000, NULL, 0);
    /* The second handshake completes while the queue is full: its ACK
     * is dropped and it stays half open. */
    F.rport = RPORT + 1;
    send_segment(T0, ACK, PEER_ISS + 1, iss2 + 1, 1000, NULL, 0);
    assert_int_equal(drops(TW_TCP_DROP_ACCEPT_QUEUE_FULL), 1);
    expect_event(T0, TW_TCP_EV_ACCEPTED);
    expect_no_event(T0);
    /* Room again: the resent SYN-ACK's ACK gets it in. */
    tick(T0 + TW_SEC(1));
    expect_segment(T0 + TW_SEC(1), SYN | ACK, iss2, PEER_ISS + 1);
    send_segment(T0 + TW_SEC(1), ACK, PEER_ISS + 1, iss2 + 1, 1000, NULL, 0);
    tw_tcp_conn c = expect_event(T0 + TW_SEC(1), TW_TCP_EV_ACCEPTED).conn;
    /* The SYN-ACK was resent, so no RTT sample: RTO 3 s (RFC 6298 §5.7)
     * and an initial window of one segment (RFC 5681 §3.1). */
    assert_int_equal(conn_info(c).rto_ns, TW_SEC(3));
    assert_int_equal(conn_info(c).cwnd, 536);
}

static void test_tcp_syn_sent_synack_after_syn_loss(void **state)
{
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    F.iss = expect_segment_any(T0, SYN).seq;
    tick(T0 + TW_SEC(1));
    expect_segment(T0 + TW_SEC(1), SYN, F.iss, 0);
    tw_tcp_options o = mss_opt(1460);
    send_segment_opts(T0 + TW_SEC(1) + TW_MS(10), SYN | ACK, PEER_ISS, F.iss + 1, 65535, &o, NULL,
                      0);
    expect_segment_any(T0 + TW_SEC(1) + TW_MS(10), ACK);
    /* Karn: no sample from a resent SYN; RFC 6298 §5.7: RTO 3 s; RFC
     * 5681 §3.1: the initial window is one segment. */
    tw_tcp_conn_info i = conn_info(F.conn);
    assert_int_equal(i.rto_ns, TW_SEC(3));
    assert_int_equal(i.srtt_ns, 0);
    assert_int_equal(i.cwnd, 1460);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_tcp_closed_segment_without_ack_gets_rst_ack),
        T(test_tcp_closed_segment_with_ack_gets_rst),
        T(test_tcp_closed_rst_is_not_answered),
        T(test_tcp_closed_bad_checksum_dropped),
        T(test_tcp_closed_broadcast_dropped),
        T(test_tcp_listen_syn_sends_synack),
        T(test_tcp_listen_ack_gets_rst),
        T(test_tcp_listen_rst_ignored),
        T(test_tcp_listen_syn_queue_full),
        T(test_tcp_listen_accept_queue_full),
        T(test_tcp_listen_unlisten_resets_half_open),
        T(test_tcp_closed_connect_sends_syn),
        T(test_tcp_syn_sent_synack_establishes),
        T(test_tcp_syn_sent_bad_ack_gets_rst),
        T(test_tcp_syn_sent_rst_with_ack_refuses),
        T(test_tcp_syn_sent_ack_without_syn_dropped),
        T(test_tcp_syn_sent_close_deletes),
        T(test_tcp_syn_sent_timeout_gives_up),
        T(test_tcp_syn_sent_syn_simultaneous_open),
        T(test_tcp_syn_received_ack_simultaneous_open),
        T(test_tcp_syn_received_ack_establishes),
        T(test_tcp_syn_received_bad_ack_gets_rst),
        T(test_tcp_syn_received_rst_returns_to_listen),
        T(test_tcp_syn_received_rst_active_refuses),
        T(test_tcp_syn_received_syn_resends_synack),
        T(test_tcp_syn_received_timeout_drops_quietly),
        T(test_tcp_syn_received_close_goes_fin_wait_1),
        T(test_tcp_established_close_active_to_time_wait),
        T(test_tcp_fin_wait_2_receives_data_half_close),
        T(test_tcp_fin_wait_1_finack_to_time_wait),
        T(test_tcp_fin_wait_1_fin_simultaneous_close),
        T(test_tcp_established_fin_passive_close),
        T(test_tcp_last_ack_fin_retransmitted),
        T(test_tcp_time_wait_fin_restarts_timer),
        T(test_tcp_time_wait_stray_ack_counted),
        T(test_tcp_time_wait_rst_closes),
        T(test_tcp_time_wait_syn_reused_when_newer),
        T(test_tcp_time_wait_syn_old_gets_ack),
        T(test_tcp_established_rst_exact_resets),
        T(test_tcp_established_rst_in_window_challenged),
        T(test_tcp_established_rst_out_of_window_dropped),
        T(test_tcp_fin_wait_1_rst_resets),
        T(test_tcp_fin_wait_2_rst_resets),
        T(test_tcp_close_wait_rst_resets),
        T(test_tcp_closing_rst_closes),
        T(test_tcp_last_ack_rst_closes),
        T(test_tcp_established_syn_challenged),
        T(test_tcp_established_challenge_acks_rate_limited),
        T(test_tcp_established_ack_unsent_dropped),
        T(test_tcp_established_ack_too_old_challenged),
        T(test_tcp_established_no_ack_bit_dropped),
        T(test_tcp_established_unacceptable_gets_ack),
        T(test_tcp_established_rto_ack_carries_snd_max),
        T(test_tcp_established_abort_sends_rst),
        T(test_tcp_syn_sent_abort_is_silent),
        T(test_tcp_closed_stale_handle_rejected),
        T(test_tcp_closed_connect_table_full),
        T(test_tcp_listen_syn_no_tcb_dropped),
        T(test_tcp_established_names_and_drop_table),
        T(test_tcp_time_wait_syn_reused_by_timestamp),
        T(test_tcp_time_wait_connect_reuses_tuple_with_timestamps),
        T(test_tcp_syn_sent_mss_clamped),
        T(test_tcp_established_close_piggybacks_fin),
        T(test_tcp_close_wait_data_after_fin_dropped),
        T(test_tcp_established_urgent_data_is_plain_data),
        T(test_tcp_listen_accepted_then_reset_before_pop),
        T(test_tcp_syn_received_ack_accept_queue_full),
        T(test_tcp_syn_sent_synack_after_syn_loss),
    };
#undef T
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
