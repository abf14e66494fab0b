/* TCP data transfer tests: segmentation, ACK generation (delayed ACKs),
 * retransmission (RFC 6298 timeline, Karn), fast retransmit and NewReno,
 * limited transmit, flow control (zero windows, persist timer, window
 * updates, silly windows), Nagle, keepalive, reassembly, window scaling,
 * timestamps and PAWS. Times are exact: timers are checked one nanosecond
 * before and at their deadline. */
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
#define MSS 1460u

static uint8_t data[1 << 20];

static int setup(void **state)
{
    (void)state;
    harness_install_panic();
    tw_tcp_config c;
    fixture_config(&c);
    fixture_start(&c);
    fill_pattern(data, sizeof(data), 0);
    return 0;
}

static void restart(const tw_tcp_config *c)
{
    tw_tcp_destroy(F.tcp);
    fixture_start(c);
}

/* Active open whose SYN-ACK arrives rtt after the SYN: one RTT sample. */
static void establish_rtt(tw_ns t, tw_ns rtt, uint16_t w)
{
    F.conn = tw_tcp_connect_from(F.tcp, t, LOCAL, LPORT, REMOTE, RPORT);
    F.iss = expect_segment_any(t, SYN).seq;
    tw_tcp_options o = mss_opt(MSS);
    send_segment_opts(t + rtt, SYN | ACK, PEER_ISS, F.iss + 1, w, &o, NULL, 0);
    expect_segment(t + rtt, ACK, F.iss + 1, PEER_ISS + 1);
    expect_event(t + rtt, TW_TCP_EV_CONNECTED);
}

static void send_bytes(tw_ns now, uint64_t off, size_t n)
{
    assert_int_equal(tw_tcp_send(F.tcp, now, F.conn, data + off, n), (int64_t)n);
}

static void peer_ack(tw_ns now, uint32_t ack, uint16_t w)
{
    send_segment(now, ACK, PEER_ISS + 1, ack, w, NULL, 0);
}

/* A data segment from us: seq and length, payload checked. */
static void expect_data(tw_ns now, uint32_t seq, uint32_t len)
{
    tw_tcp_repr r = pop_segment_checked(now);
    assert_true(r.flags & ACK);
    if (r.seq != seq || r.payload_len != len) {
        fail_msg("data: want seq %u len %u, got seq %u len %zu", seq, len, r.seq, r.payload_len);
    }
    assert_memory_equal(r.payload, data + (seq - F.iss - 1), len);
}

/* ---- segmentation and ACKs ----------------------------------------------------- */

static void test_tcp_established_send_segments_at_mss(void **state)
{
    establish_active(T0, 65535);
    uint32_t base = F.iss + 1;
    send_bytes(T0, 0, 4000);
    expect_data(T0, base, MSS);
    expect_data(T0, base + MSS, MSS);
    expect_nothing(T0); /* 1080 left: Nagle holds it while data is unacked */
    peer_ack(T0 + TW_MS(10), base + 2 * MSS, 65535);
    tw_tcp_repr r = F.last;
    expect_data(T0 + TW_MS(10), base + 2 * MSS, 1080);
    r = F.last;
    assert_true(r.flags & PSH);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->bytes_out, 4000);
}

static void test_tcp_established_receive_delayed_ack(void **state)
{
    establish_passive(T0, 65535);
    send_segment(T0, ACK, PEER_ISS + 1, F.iss + 1, 65535, data, 1000);
    expect_nothing(T0); /* RFC 5681 §4.2: may wait */
    tw_tcp_event ev = expect_event(T0, TW_TCP_EV_DATA);
    assert_int_equal(ev.len, 1000);
    assert_memory_equal(ev.data, data, 1000);
    tick(T0 + F.cfg.delack_ns - 1);
    expect_nothing(T0 + F.cfg.delack_ns - 1);
    tick(T0 + F.cfg.delack_ns);
    expect_segment(T0 + F.cfg.delack_ns, ACK, F.iss + 1, PEER_ISS + 1001);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->delayed_acks, 1);
    /* Every second full-sized segment is acknowledged at once. */
    tw_ns t = T0 + TW_MS(100);
    send_segment(t, ACK, PEER_ISS + 1001, F.iss + 1, 65535, data, MSS);
    expect_nothing(t);
    send_segment(t, ACK, PEER_ISS + 1001 + MSS, F.iss + 1, 65535, data, MSS);
    expect_segment(t, ACK, F.iss + 1, PEER_ISS + 1001 + 2 * MSS);
    expect_nothing(t);
}

static void test_tcp_established_delayed_ack_bounded(void **state)
{
    tw_tcp_config c = F.cfg;
    c.delack_ns = TW_MS(200);
    restart(&c);
    establish_passive(T0, 65535);
    send_segment(T0, ACK, PEER_ISS + 1, F.iss + 1, 65535, data, 10);
    send_segment(T0 + TW_MS(150), ACK, PEER_ISS + 11, F.iss + 1, 65535, data, 10);
    /* The timer runs from the first unacknowledged segment: 200 ms. */
    tick(T0 + TW_MS(200) - 1);
    expect_nothing(T0 + TW_MS(200) - 1);
    tick(T0 + TW_MS(200));
    expect_segment(T0 + TW_MS(200), ACK, F.iss + 1, PEER_ISS + 21);
}

static void test_tcp_established_data_piggybacks_ack(void **state)
{
    establish_passive(T0, 65535);
    send_segment(T0, ACK, PEER_ISS + 1, F.iss + 1, 65535, "ping", 4);
    expect_event(T0, TW_TCP_EV_DATA);
    tw_tcp_consume(F.tcp, T0, F.conn, 4);
    send_bytes(T0, 0, 4);
    tw_tcp_repr r = expect_segment(T0, ACK | PSH, F.iss + 1, PEER_ISS + 5);
    assert_int_equal(r.payload_len, 4);
    tick(T0 + F.cfg.delack_ns);
    expect_nothing(T0 + F.cfg.delack_ns); /* the delayed ACK went with the data */
}

/* ---- Nagle (RFC 896) ----------------------------------------------------------- */

static void test_tcp_established_nagle_on_holds_small_segments(void **state)
{
    establish_active(T0, 65535);
    uint32_t base = F.iss + 1;
    send_bytes(T0, 0, 1);
    expect_data(T0, base, 1);
    send_bytes(T0, 1, 1);
    send_bytes(T0, 2, 1);
    expect_nothing(T0); /* unacknowledged data: wait */
    peer_ack(T0 + TW_MS(5), base + 1, 65535);
    expect_data(T0 + TW_MS(5), base + 1, 2); /* coalesced */
}

static void test_tcp_established_nagle_off_sends_at_once(void **state)
{
    establish_active(T0, 65535);
    uint32_t base = F.iss + 1;
    assert_int_equal(tw_tcp_set_nodelay(F.tcp, F.conn, true), 0);
    send_bytes(T0, 0, 1);
    expect_data(T0, base, 1);
    send_bytes(T0, 1, 1);
    expect_data(T0, base + 1, 1);
    /* Turning it back on holds the next. */
    assert_int_equal(tw_tcp_set_nodelay(F.tcp, F.conn, false), 0);
    send_bytes(T0, 2, 1);
    expect_nothing(T0);
    /* And turning it off releases what waits. */
    assert_int_equal(tw_tcp_set_nodelay(F.tcp, F.conn, true), 0);
    expect_data(T0, base + 2, 1);
}

/* ---- send checksums (sums.c) ---------------------------------------------------- */

static void check_instance(void)
{
    char why[256];
    if (tw_tcp_check(F.tcp, why, sizeof why) != 0) {
        fail_msg("tw_tcp_check: %s", why);
    }
}

/* Small segments sent at once (Nagle off) each seal a chunk; unacknowledged
 * they fill the chunk ring (64 KiB / 512 + 4 = 132 chunks), and the bytes
 * written after that are summed at emit instead. Every segment still
 * verifies (pop_segment_checked parses with the checksum), and once an ACK
 * frees the chunks the next writes are summed at send again. */
static void test_tcp_established_send_sums_when_chunk_ring_full(void **state)
{
    establish_active(T0, 65535);
    uint32_t base = F.iss + 1;
    assert_int_equal(tw_tcp_set_nodelay(F.tcp, F.conn, true), 0);
    for (uint32_t i = 0; i < 200; i++) {
        send_bytes(T0, 3 * i, 3);
        expect_data(T0, base + 3 * i, 3);
    }
    check_instance();
    assert_int_equal(tw_tcp_get_stats(F.tcp)->tx_csum_resummed, 3 * (200 - 132));
    peer_ack(T0 + TW_MS(1), base + 600, 65535);
    send_bytes(T0 + TW_MS(1), 600, 3000);
    expect_data(T0 + TW_MS(1), base + 600, MSS);
    expect_data(T0 + TW_MS(1), base + 600 + MSS, MSS);
    expect_data(T0 + TW_MS(1), base + 600 + 2 * MSS, 3000 - 2 * MSS);
    check_instance();
    assert_int_equal(tw_tcp_get_stats(F.tcp)->tx_csum_resummed, 3 * (200 - 132));
}

/* A segment cut inside a chunk: the zero-window probe takes one byte of a
 * full chunk (summed from the ring), the chunk keeps the rest with its sum
 * derived, and the segment after the window opens is exactly that rest. */
static void test_tcp_established_send_sums_probe_splits_chunk(void **state)
{
    establish_active(T0, 65535); /* RTO 200 ms */
    uint32_t base = F.iss + 1;
    send_bytes(T0, 0, 2 * MSS);
    expect_data(T0, base, MSS);
    expect_data(T0, base + MSS, MSS);
    tw_ns t = T0 + TW_MS(10);
    peer_ack(t, base + 2 * MSS, 0);
    send_bytes(t, 2 * MSS, MSS);
    expect_nothing(t);
    tick(t + TW_MS(200));
    expect_data(t + TW_MS(200), base + 2 * MSS, 1);
    check_instance();
    assert_int_equal(tw_tcp_get_stats(F.tcp)->tx_csum_resummed, 1);
    peer_ack(t + TW_MS(201), base + 2 * MSS + 1, 65535);
    expect_data(t + TW_MS(201), base + 2 * MSS + 1, MSS - 1);
    check_instance();
    assert_int_equal(tw_tcp_get_stats(F.tcp)->tx_csum_resummed, 1);
}

/* ---- RTO (RFC 6298) -------------------------------------------------------------- */

static void test_tcp_established_rtt_estimator(void **state)
{
    tw_tcp_config c = F.cfg;
    c.rto_min_ns = TW_MS(1);
    restart(&c);
    establish_rtt(T0, TW_MS(100), 65535);
    tw_tcp_conn_info i = conn_info(F.conn);
    /* RFC 6298 §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR. */
    assert_int_equal(i.srtt_ns, TW_MS(100));
    assert_int_equal(i.rttvar_ns, TW_MS(50));
    assert_int_equal(i.rto_ns, TW_MS(300));
    uint32_t base = F.iss + 1;
    tw_ns t1 = T0 + TW_SEC(1);
    send_bytes(t1, 0, 100);
    expect_data(t1, base, 100);
    peer_ack(t1 + TW_MS(60), base + 100, 65535);
    /* §2.3: RTTVAR = 3/4 50 + 1/4 |100 - 60| = 47.5; SRTT = 7/8 100 + 1/8
     * 60 = 95; RTO = 95 + 190. */
    i = conn_info(F.conn);
    assert_int_equal(i.rttvar_ns, TW_US(47500));
    assert_int_equal(i.srtt_ns, TW_MS(95));
    assert_int_equal(i.rto_ns, TW_MS(285));
}

static void test_tcp_established_rto_backoff_timeline(void **state)
{
    tw_tcp_config c = F.cfg;
    c.rto_max_ns = TW_SEC(4);
    c.rto_retries = 6;
    restart(&c);
    establish_rtt(T0, TW_MS(100), 65535); /* RTO 300 ms */
    uint32_t base = F.iss + 1;
    tw_ns t = T0 + TW_SEC(1);
    send_bytes(t, 0, 100);
    expect_data(t, base, 100);
    /* RFC 6298 §5.5: each expiry doubles, up to the maximum (4 s). */
    static const tw_ns gaps[] = {TW_MS(300),  TW_MS(600), TW_MS(1200),
                                 TW_MS(2400), TW_SEC(4),  TW_SEC(4)};
    for (size_t k = 0; k < TW_ARRAY_LEN(gaps); k++) {
        t += gaps[k];
        tick(t - 1);
        expect_nothing(t - 1);
        tick(t);
        expect_data(t, base, 100);
        expect_nothing(t);
    }
    assert_int_equal(tw_tcp_get_stats(F.tcp)->rto_timeouts, 6);
    /* The seventh expiry gives up (RFC 1122 §4.2.3.5, R2). */
    t += TW_SEC(4);
    tick(t - 1);
    expect_no_event(t - 1);
    tick(t);
    expect_nothing(t);
    tw_tcp_event ev = expect_event(t, TW_TCP_EV_TIMED_OUT);
    assert_int_equal(ev.error, -TW_ETIMEDOUT);
}

static void test_tcp_established_karn_no_sample_from_retransmission(void **state)
{
    tw_tcp_config c = F.cfg;
    c.rto_min_ns = TW_MS(1);
    restart(&c);
    establish_rtt(T0, TW_MS(100), 65535); /* SRTT 100, RTO 300 ms */
    uint32_t base = F.iss + 1;
    tw_ns t = T0 + TW_SEC(1);
    send_bytes(t, 0, 100);
    expect_data(t, base, 100);
    tick(t + TW_MS(300));
    expect_data(t + TW_MS(300), base, 100); /* RTO now 600 ms */
    /* The ACK could answer either transmission: no sample (Karn), and the
     * backed-off RTO stays until a clean one. */
    peer_ack(t + TW_MS(310), base + 100, 65535);
    tw_tcp_conn_info i = conn_info(F.conn);
    assert_int_equal(i.srtt_ns, TW_MS(100));
    assert_int_equal(i.rto_ns, TW_MS(600));
    /* A new segment, never retransmitted, is sampled. */
    tw_ns t2 = t + TW_SEC(1);
    send_bytes(t2, 100, 10);
    expect_data(t2, base + 100, 10);
    peer_ack(t2 + TW_MS(100), base + 110, 65535);
    i = conn_info(F.conn);
    assert_int_equal(i.srtt_ns, TW_MS(100));
    assert_int_equal(i.rto_ns, TW_MS(100) + 4 * i.rttvar_ns);
}

static void test_tcp_established_rto_goes_back_n(void **state)
{
    establish_active(T0, 65535); /* RTT 0: RTO = rto_min = 200 ms */
    uint32_t base = F.iss + 1;
    send_bytes(T0, 0, 3 * MSS);
    for (uint32_t k = 0; k < 3; k++) {
        expect_data(T0, base + k * MSS, MSS);
    }
    tw_ns t = T0 + TW_MS(200);
    tick(t);
    /* RFC 5681 §3.1: cwnd = 1 MSS after a timeout: one segment. */
    expect_data(t, base, MSS);
    expect_nothing(t);
    tw_tcp_conn_info i = conn_info(F.conn);
    assert_int_equal(i.cwnd, MSS);
    assert_int_equal(i.ssthresh, 2 * MSS); /* max(FlightSize/2, 2 SMSS) */
    peer_ack(t + TW_MS(1), base + MSS, 65535);
    /* Slow start: two more, the rest of the lost flight. */
    expect_data(t + TW_MS(1), base + MSS, MSS);
    expect_data(t + TW_MS(1), base + 2 * MSS, MSS);
    expect_nothing(t + TW_MS(1));
    assert_int_equal(tw_tcp_get_stats(F.tcp)->retransmits, 3);
}

/* ---- fast retransmit, NewReno, limited transmit ----------------------------- */

/* 10 segments out (IW10), the first acknowledged. */
static uint32_t flight_of_ten(void)
{
    establish_active(T0, 65535);
    uint32_t base = F.iss + 1;
    send_bytes(T0, 0, 40 * MSS);
    for (uint32_t k = 0; k < 10; k++) {
        expect_data(T0, base + k * MSS, MSS);
    }
    expect_nothing(T0);
    /* The first ACK: slow start opens cwnd to 11 MSS: two more. */
    peer_ack(T0 + TW_MS(1), base + MSS, 65535);
    expect_data(T0 + TW_MS(1), base + 10 * MSS, MSS);
    expect_data(T0 + TW_MS(1), base + 11 * MSS, MSS);
    expect_nothing(T0 + TW_MS(1));
    return base;
}

static void test_tcp_established_fast_retransmit_after_three_dupacks(void **state)
{
    uint32_t base = flight_of_ten();
    tw_ns t = T0 + TW_MS(2);
    /* RFC 3042: the first two duplicates each release a new segment. */
    peer_ack(t, base + MSS, 65535);
    expect_data(t, base + 12 * MSS, MSS);
    expect_nothing(t);
    peer_ack(t, base + MSS, 65535);
    expect_data(t, base + 13 * MSS, MSS);
    expect_nothing(t);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->limited_transmits, 2);
    /* The third: retransmit the missing segment at once. */
    peer_ack(t, base + MSS, 65535);
    expect_data(t, base + MSS, MSS);
    expect_nothing(t);
    tw_tcp_conn_info i = conn_info(F.conn);
    uint32_t flight = 13 * MSS; /* base+MSS .. base+14 MSS */
    assert_int_equal(i.ssthresh, flight / 2);
    assert_int_equal(i.cwnd, flight / 2 + 3 * MSS);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->fast_retransmits, 1);
    /* Each further duplicate inflates cwnd by one MSS (RFC 5681 §3.2). */
    peer_ack(t, base + MSS, 65535);
    assert_int_equal(conn_info(F.conn).cwnd, flight / 2 + 4 * MSS);
}

static void test_tcp_established_newreno_partial_and_full_ack(void **state)
{
    uint32_t base = flight_of_ten();
    tw_ns t = T0 + TW_MS(2);
    peer_ack(t, base + MSS, 65535);
    expect_data(t, base + 12 * MSS, MSS);
    peer_ack(t, base + MSS, 65535);
    expect_data(t, base + 13 * MSS, MSS);
    peer_ack(t, base + MSS, 65535);
    expect_data(t, base + MSS, MSS); /* fast retransmit */
    expect_nothing(t);
    uint32_t ssthresh = conn_info(F.conn).ssthresh;
    /* A partial ACK (segments 1-4 arrived, 5 lost too): RFC 6582 step 5
     * retransmits the next hole at once and stays in recovery. */
    uint32_t cwnd_before = conn_info(F.conn).cwnd;
    peer_ack(t + TW_MS(1), base + 5 * MSS, 65535);
    expect_data(t + TW_MS(1), base + 5 * MSS, MSS);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->partial_acks, 1);
    assert_int_equal(conn_info(F.conn).cwnd, cwnd_before - 4 * MSS + MSS);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->fast_retransmits, 1);
    /* Drain what the deflated window lets out, then the full ACK ends
     * recovery: cwnd = min(ssthresh, FlightSize + SMSS). */
    while (tw_tcp_pop_segment(F.tcp, t + TW_MS(1), &(tw_tcp_out){0})) {
    }
    peer_ack(t + TW_MS(2), base + 14 * MSS, 65535);
    tw_tcp_conn_info i = conn_info(F.conn);
    uint32_t flight = i.snd_nxt - (base + 14 * MSS);
    uint32_t want = (flight > MSS ? flight : MSS) + MSS;
    assert_int_equal(i.cwnd, want < ssthresh ? want : ssthresh);
    assert_int_equal(i.ssthresh, ssthresh);
}

static void test_tcp_established_no_second_fast_retransmit(void **state)
{
    uint32_t base = flight_of_ten();
    tw_ns t = T0 + TW_MS(2);
    for (int k = 0; k < 6; k++) {
        peer_ack(t, base + MSS, 65535);
    }
    while (tw_tcp_pop_segment(F.tcp, t, &(tw_tcp_out){0})) {
    }
    assert_int_equal(tw_tcp_get_stats(F.tcp)->fast_retransmits, 1);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->dupacks, 6);
}

/* ---- flow control: zero window, persist, window updates --------------------- */

static void test_tcp_established_zero_window_probe_timeline(void **state)
{
    establish_active(T0, 65535); /* RTO 200 ms */
    uint32_t base = F.iss + 1;
    send_bytes(T0, 0, 2 * MSS + 80);
    expect_data(T0, base, MSS);
    expect_data(T0, base + MSS, MSS);
    expect_nothing(T0);
    /* Everything acknowledged, window closed. */
    tw_ns t = T0 + TW_MS(10);
    peer_ack(t, base + 2 * MSS, 0);
    expect_nothing(t);
    /* RFC 9293 §3.8.6.1: probe after an RTO, then back off. */
    tw_ns when[] = {TW_MS(200), TW_MS(600), TW_MS(1400), TW_MS(3000)};
    for (size_t k = 0; k < TW_ARRAY_LEN(when); k++) {
        tick(t + when[k] - 1);
        expect_nothing(t + when[k] - 1);
        tick(t + when[k]);
        expect_data(t + when[k], base + 2 * MSS, 1); /* one byte past the window */
        expect_nothing(t + when[k]);
        peer_ack(t + when[k] + 1, base + 2 * MSS, 0); /* still closed */
        expect_nothing(t + when[k] + 1);
    }
    assert_int_equal(tw_tcp_get_stats(F.tcp)->persist_probes, 4);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->rto_timeouts, 0);
    /* The window opens: the data goes, probing stops. */
    tw_ns t2 = t + TW_SEC(4);
    peer_ack(t2, base + 2 * MSS, 1000);
    expect_data(t2, base + 2 * MSS, 80);
    peer_ack(t2 + 1, base + 2 * MSS + 80, 1000);
    tick(t2 + TW_SEC(30));
    expect_nothing(t2 + TW_SEC(30));
}

static void test_tcp_established_zero_window_probe_accepted(void **state)
{
    establish_active(T0, 65535);
    uint32_t base = F.iss + 1;
    send_bytes(T0, 0, MSS + 10);
    expect_data(T0, base, MSS);
    peer_ack(T0 + 1, base + MSS, 0);
    expect_nothing(T0 + 1);
    tick(T0 + 1 + TW_MS(200));
    expect_data(T0 + 1 + TW_MS(200), base + MSS, 1);
    /* The receiver took the byte and opened up: the rest follows. */
    peer_ack(T0 + TW_MS(201), base + MSS + 1, 5000);
    expect_data(T0 + TW_MS(201), base + MSS + 1, 9);
    expect_nothing(T0 + TW_MS(201));
}

static void test_tcp_established_receive_window_closes_and_reopens(void **state)
{
    tw_tcp_config c = F.cfg;
    c.rcv_buf_bytes = 4 * MSS;
    restart(&c);
    establish_passive(T0, 65535);
    uint32_t seq = PEER_ISS + 1;
    for (int k = 0; k < 4; k++) {
        send_segment(T0, ACK, seq, F.iss + 1, 65535, data + (seq - PEER_ISS - 1), MSS);
        seq += MSS;
        if (k == 1) {
            tw_tcp_repr r = expect_segment(T0, ACK, F.iss + 1, seq);
            assert_int_equal(r.window, 2 * MSS);
        }
    }
    /* The buffer is full: the window is zero. */
    tw_tcp_repr r = expect_segment(T0, ACK, F.iss + 1, seq);
    assert_int_equal(r.window, 0);
    /* Beyond a zero window: not acceptable, ACKed, dropped. */
    send_segment(T0 + 1, ACK, seq, F.iss + 1, 65535, data, 100);
    r = expect_segment(T0 + 1, ACK, F.iss + 1, seq);
    assert_int_equal(r.window, 0);
    tw_tcp_event ev = expect_event(T0 + 1, TW_TCP_EV_DATA);
    assert_int_equal(ev.len, 4 * MSS);
    assert_memory_equal(ev.data, data, 4 * MSS);
    /* A small read is not worth a window update (RFC 1122 §4.2.3.3). */
    assert_int_equal(tw_tcp_consume(F.tcp, T0 + 2, F.conn, 100), 0);
    expect_nothing(T0 + 2);
    expect_event(T0 + 2, TW_TCP_EV_DATA); /* the rest is still readable */
    /* Reading the rest reopens it with an update. */
    assert_int_equal(tw_tcp_consume(F.tcp, T0 + 3, F.conn, 4 * MSS - 100), 0);
    r = expect_segment(T0 + 3, ACK, F.iss + 1, seq);
    assert_int_equal(r.window, 4 * MSS);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->window_updates, 1);
}

static void test_tcp_established_sender_sws_small_window(void **state)
{
    establish_active(T0, 1000); /* a peer with a 1000-byte window */
    uint32_t base = F.iss + 1;
    send_bytes(T0, 0, 5000);
    /* At least half the largest window seen: send it (§4.2.3.4). */
    expect_data(T0, base, 1000);
    expect_nothing(T0);
    /* A 200-byte opening is silly (< half the largest window): wait. */
    peer_ack(T0 + 1, base + 200, 1000);
    expect_nothing(T0 + 1);
    peer_ack(T0 + 2, base + 1000, 1000);
    expect_data(T0 + 2, base + 1000, 1000);
}

static void test_tcp_established_send_buffer_full_then_writable(void **state)
{
    tw_tcp_config c = F.cfg;
    c.snd_buf_bytes = 4096;
    restart(&c);
    establish_active(T0, 65535);
    uint32_t base = F.iss + 1;
    assert_int_equal(tw_tcp_send(F.tcp, T0, F.conn, data, 10000), 4096);
    assert_int_equal(tw_tcp_send(F.tcp, T0, F.conn, data, 10), 0);
    expect_data(T0, base, MSS);
    expect_data(T0, base + MSS, MSS);
    expect_nothing(T0);
    expect_no_event(T0);
    peer_ack(T0 + 1, base + 2 * MSS, 65535);
    expect_data(T0 + 1, base + 2 * MSS, 4096 - 2 * MSS);
    expect_event(T0 + 1, TW_TCP_EV_WRITABLE);
    assert_int_equal(tw_tcp_send(F.tcp, T0 + 1, F.conn, data + 4096, 10), 10);
}

static void test_tcp_established_idle_restarts_cwnd(void **state)
{
    establish_active(T0, 65535);
    uint32_t base = F.iss + 1;
    send_bytes(T0, 0, 10 * MSS);
    for (int k = 0; k < 10; k++) {
        pop_segment_checked(T0);
    }
    peer_ack(T0 + TW_MS(1), base + 10 * MSS, 65535);
    /* RFC 5681 eq. 2: one ACK grows cwnd by at most one SMSS. */
    assert_int_equal(conn_info(F.conn).cwnd, 11 * MSS);
    /* RFC 5681 §4.1: idle longer than an RTO: back to the initial window. */
    tw_ns t = T0 + TW_SEC(5);
    send_bytes(t, 10 * MSS, 20 * MSS);
    int n = 0;
    while (tw_tcp_pop_segment(F.tcp, t, &(tw_tcp_out){0})) {
        n++;
    }
    assert_int_equal(n, 10);
    assert_int_equal(conn_info(F.conn).cwnd, 10 * MSS);
}

/* ---- reassembly --------------------------------------------------------------- */

static void peer_data(tw_ns now, uint32_t off, uint32_t len)
{
    send_segment(now, ACK, PEER_ISS + 1 + off, F.iss + 1, 65535, data + off, len);
}

static void test_tcp_established_out_of_order_reassembled(void **state)
{
    establish_passive(T0, 65535);
    uint32_t rcv = PEER_ISS + 1;
    peer_data(T0, 1000, 1000);               /* a hole at 0..1000 */
    expect_segment(T0, ACK, F.iss + 1, rcv); /* RFC 5681 §4.2: dup ACK now */
    peer_data(T0, 3000, 1000);
    expect_segment(T0, ACK, F.iss + 1, rcv);
    expect_no_event(T0);
    peer_data(T0 + 1, 0, 1000); /* fills the first hole */
    expect_segment(T0 + 1, ACK, F.iss + 1, rcv + 2000);
    tw_tcp_event ev = expect_event(T0 + 1, TW_TCP_EV_DATA);
    assert_int_equal(ev.len, 2000);
    assert_memory_equal(ev.data, data, 2000);
    peer_data(T0 + 2, 2000, 1000);
    expect_segment(T0 + 2, ACK, F.iss + 1, rcv + 4000);
    ev = expect_event(T0 + 2, TW_TCP_EV_DATA);
    assert_int_equal(ev.len, 4000);
    assert_memory_equal(ev.data, data, 4000);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->ooo_segments, 2);
}

/* A segment at RCV.NXT is copied into the receive ring while its checksum
 * is taken (input.c, parse_placing): a corrupted payload must still be
 * dropped before anything is delivered or acknowledged, and a good one
 * that wraps the ring's end at an odd position must arrive intact. */
static void test_tcp_established_in_place_receive_checks_checksum(void **state)
{
    tw_tcp_config c = F.cfg;
    c.rcv_buf_bytes = 4096;
    restart(&c);
    establish_passive(T0, 65535);
    uint32_t rcv = PEER_ISS + 1;
    static uint8_t buf[2048];
    tw_tcp_repr r = {.src_port = F.rport, .dst_port = F.lport, .seq = rcv, .ack = F.iss + 1,
                     .flags = ACK, .window = 65535, .payload = data, .payload_len = 1000};
    tw_tcp_emit(&r, REMOTE, LOCAL, buf);
    buf[tw_tcp_repr_header_len(&r) + 777] ^= 0x10;
    tw_tcp_on_segment(F.tcp, T0, REMOTE, LOCAL, buf, tw_tcp_repr_len(&r));
    assert_int_equal(drops(TW_TCP_DROP_BAD_CHECKSUM), 1);
    expect_no_event(T0);
    expect_nothing(T0);
    /* Move the ring's head to an odd position near its end, then send a
     * segment that wraps. */
    uint32_t off = 0;
    for (int k = 0; k < 3; k++) {
        uint32_t n = 1001;
        peer_data(T0, off, n);
        tw_tcp_event ev = expect_event(T0, TW_TCP_EV_DATA);
        assert_int_equal(ev.len, n);
        assert_memory_equal(ev.data, data + off, n);
        assert_int_equal(tw_tcp_consume(F.tcp, T0, F.conn, n), 0);
        off += n;
        tw_tcp_out o; /* the ACKs that open the window again */
        while (tw_tcp_pop_segment(F.tcp, T0, &o)) {
        }
    }
    peer_data(T0 + 1, off, 1400); /* 3003 + 1400 > 4096 */
    tw_tcp_event ev = expect_event(T0 + 1, TW_TCP_EV_DATA);
    uint8_t got[1400];
    uint32_t have = ev.len;
    memcpy(got, ev.data, have);
    assert_int_equal(tw_tcp_consume(F.tcp, T0 + 1, F.conn, have), 0);
    if (have < 1400) {
        ev = expect_event(T0 + 1, TW_TCP_EV_DATA);
        assert_int_equal(have + ev.len, 1400);
        memcpy(got + have, ev.data, ev.len);
    }
    assert_memory_equal(got, data + off, 1400);
    assert_int_equal(drops(TW_TCP_DROP_BAD_CHECKSUM), 1);
}

static void test_tcp_established_reassembly_bounded(void **state)
{
    tw_tcp_config c = F.cfg;
    c.reasm_ranges_max = 2;
    restart(&c);
    establish_passive(T0, 65535);
    peer_data(T0, 1000, 100);
    peer_data(T0, 2000, 100);
    peer_data(T0, 3000, 100); /* a third range: no room */
    peer_data(T0, 1100, 100); /* extends the first: fine */
    assert_int_equal(drops(TW_TCP_DROP_REASSEMBLY_FULL), 1);
    while (tw_tcp_pop_segment(F.tcp, T0, &(tw_tcp_out){0})) {
    }
    peer_data(T0 + 1, 0, 1000);
    expect_segment(T0 + 1, ACK, F.iss + 1, PEER_ISS + 1 + 1200);
}

static void test_tcp_established_out_of_order_fin(void **state)
{
    establish_passive(T0, 65535);
    send_segment(T0, ACK | FIN, PEER_ISS + 1 + 100, F.iss + 1, 65535, data + 100, 100);
    expect_segment(T0, ACK, F.iss + 1, PEER_ISS + 1);
    assert_int_equal(conn_state(F.conn), TW_TCP_ESTABLISHED);
    peer_data(T0 + 1, 0, 100);
    expect_segment(T0 + 1, ACK, F.iss + 1, PEER_ISS + 1 + 200 + 1);
    assert_int_equal(conn_state(F.conn), TW_TCP_CLOSE_WAIT);
    expect_event(T0 + 1, TW_TCP_EV_DATA);
    expect_event(T0 + 1, TW_TCP_EV_PEER_CLOSED);
}

/* ---- keepalive (RFC 1122 §4.2.3.6) ------------------------------------------ */

static void test_tcp_established_keepalive_probes_then_times_out(void **state)
{
    establish_passive(T0, 65535);
    assert_int_equal(tw_tcp_set_keepalive(F.tcp, T0, F.conn, true, TW_SEC(10), TW_SEC(1), 3), 0);
    tick(T0 + TW_SEC(10) - 1);
    expect_nothing(T0 + TW_SEC(10) - 1);
    tick(T0 + TW_SEC(10));
    /* SEG.SEQ = SND.NXT - 1, no data. */
    tw_tcp_repr r = expect_segment(T0 + TW_SEC(10), ACK, F.iss, PEER_ISS + 1);
    assert_int_equal(r.payload_len, 0);
    /* An answer restarts the idle period. */
    tw_ns t = T0 + TW_SEC(10) + TW_MS(500);
    peer_ack(t, F.iss + 1, 65535);
    expect_nothing(t);
    tick(t + TW_SEC(10) - 1);
    expect_nothing(t + TW_SEC(10) - 1);
    for (int k = 0; k < 3; k++) {
        tw_ns p = t + TW_SEC(10) + (tw_ns)k * TW_SEC(1);
        tick(p);
        expect_segment(p, ACK, F.iss, PEER_ISS + 1);
        expect_no_event(p);
    }
    tw_ns end = t + TW_SEC(13);
    tick(end - 1);
    expect_no_event(end - 1);
    tick(end);
    expect_nothing(end);
    expect_event(end, TW_TCP_EV_TIMED_OUT);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->keepalive_probes, 4);
}

static void test_tcp_established_keepalive_probe_answered(void **state)
{
    establish_passive(T0, 65535);
    /* The peer's keepalive probe (SEQ = RCV.NXT - 1) gets an ACK. */
    send_segment(T0 + 1, ACK, PEER_ISS, F.iss + 1, 65535, NULL, 0);
    expect_segment(T0 + 1, ACK, F.iss + 1, PEER_ISS + 1);
}

/* ---- options: window scaling, timestamps, PAWS ------------------------------ */

static void test_tcp_syn_sent_window_scale_one_gigabyte(void **state)
{
    tw_tcp_config c = F.cfg;
    c.window_scaling = true;
    c.rcv_buf_bytes = 1u << 30;
    c.conns_max = 2;
    c.bufs_max = 1;
    restart(&c);
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    tw_tcp_repr r = expect_segment_any(T0, SYN);
    F.iss = r.seq;
    assert_true(r.opts.has_wscale);
    assert_int_equal(r.opts.wscale, 14); /* RFC 7323 §2.3: 2^30 needs 14 */
    assert_int_equal(r.window, 65535);   /* a SYN's window is not scaled */
    tw_tcp_options o = {.has_mss = true, .mss = MSS, .has_wscale = true, .wscale = 14};
    send_segment_opts(T0, SYN | ACK, PEER_ISS, F.iss + 1, 65535, &o, NULL, 0);
    r = expect_segment(T0, ACK, F.iss + 1, PEER_ISS + 1);
    assert_int_equal(r.window, 65535); /* 65535 << 14: the whole gigabyte */
    tw_tcp_conn_info i = conn_info(F.conn);
    assert_int_equal(i.rcv_wscale, 14);
    assert_int_equal(i.snd_wscale, 14);
    assert_int_equal(i.rcv_wnd, 65535u << 14);
    /* The peer's window is scaled from now on. */
    send_segment(T0 + 1, ACK, PEER_ISS + 1, F.iss + 1, 65535, NULL, 0);
    assert_int_equal(conn_info(F.conn).snd_wnd, 65535u << 14);
    send_segment(T0 + 2, ACK, PEER_ISS + 1, F.iss + 1, 2, NULL, 0);
    assert_int_equal(conn_info(F.conn).snd_wnd, 2u << 14);
    /* Data into the gigabyte window, advertised back still scaled. */
    send_segment(T0 + 3, ACK, PEER_ISS + 1, F.iss + 1, 2, data, 1000);
    tick(T0 + 3 + F.cfg.delack_ns);
    r = expect_segment(T0 + 3 + F.cfg.delack_ns, ACK, F.iss + 1, PEER_ISS + 1001);
    assert_int_equal(r.window, 65535);
}

static void test_tcp_syn_sent_window_scale_needs_both(void **state)
{
    tw_tcp_config c = F.cfg;
    c.window_scaling = true;
    c.rcv_buf_bytes = 1u << 20;
    restart(&c);
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    tw_tcp_repr r = expect_segment_any(T0, SYN);
    F.iss = r.seq;
    assert_int_equal(r.opts.wscale, 5);
    tw_tcp_options o = mss_opt(MSS); /* no window scale from the peer */
    send_segment_opts(T0, SYN | ACK, PEER_ISS, F.iss + 1, 65535, &o, NULL, 0);
    r = expect_segment(T0, ACK, F.iss + 1, PEER_ISS + 1);
    assert_int_equal(r.window, 65535);
    tw_tcp_conn_info i = conn_info(F.conn);
    assert_int_equal(i.rcv_wscale, 0);
    assert_int_equal(i.snd_wscale, 0);
}

/* A Linux-like passive open: MSS, SACK-permitted, timestamps, WS 7. */
static uint32_t establish_linux_peer(tw_ns t, uint32_t tsval)
{
    tw_tcp_config c = F.cfg;
    c.timestamps = true;
    c.window_scaling = true;
    restart(&c);
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 8), 0);
    tw_tcp_options o = {.has_mss = true,
                        .mss = MSS,
                        .sack_permitted = true,
                        .has_timestamp = true,
                        .ts_val = tsval,
                        .has_wscale = true,
                        .wscale = 7};
    send_segment_opts(t, SYN, PEER_ISS, 0, 64240, &o, NULL, 0);
    tw_tcp_repr r = expect_segment_any(t, SYN | ACK);
    F.iss = r.seq;
    /* Timestamps and WS answered; SACK not offered (not implemented). */
    assert_true(r.opts.has_timestamp);
    assert_int_equal(r.opts.ts_ecr, tsval);
    assert_true(r.opts.has_wscale);
    assert_int_equal(r.opts.wscale, 1); /* 64 KiB buffer */
    assert_false(r.opts.sack_permitted);
    uint32_t our_ts = r.opts.ts_val;
    tw_tcp_options a = {.has_timestamp = true, .ts_val = tsval + 1, .ts_ecr = our_ts};
    send_segment_opts(t, ACK, PEER_ISS + 1, F.iss + 1, 502, &a, NULL, 0);
    F.conn = expect_event(t, TW_TCP_EV_ACCEPTED).conn;
    assert_int_equal(conn_info(F.conn).snd_wnd, 502u << 7);
    assert_int_equal(conn_info(F.conn).mss, MSS - 12); /* TS option space */
    return our_ts;
}

static void test_tcp_established_timestamps_echoed(void **state)
{
    establish_linux_peer(T0, 5000);
    tw_tcp_options a = {.has_timestamp = true, .ts_val = 5010};
    send_segment_opts(T0 + TW_MS(3), ACK, PEER_ISS + 1, F.iss + 1, 502, &a, data, 100);
    tick(T0 + TW_MS(3) + F.cfg.delack_ns);
    tw_tcp_repr r = expect_segment(T0 + TW_MS(3) + F.cfg.delack_ns, ACK, F.iss + 1, PEER_ISS + 101);
    assert_true(r.opts.has_timestamp);
    assert_int_equal(r.opts.ts_ecr, 5010); /* TS.Recent */
}

static void test_tcp_established_paws_rejects_old_timestamp(void **state)
{
    establish_linux_peer(T0, 5000);
    tw_tcp_options a = {.has_timestamp = true, .ts_val = 6000};
    send_segment_opts(T0 + 1, ACK, PEER_ISS + 1, F.iss + 1, 502, &a, data, 10);
    expect_event(T0 + 1, TW_TCP_EV_DATA);
    tick(T0 + 1 + F.cfg.delack_ns);
    expect_segment_any(T0 + 1 + F.cfg.delack_ns, ACK);
    /* RFC 7323 §5.3 R1: an older TSval is not acceptable: ACK, drop. */
    tw_ns t = T0 + TW_MS(100);
    a.ts_val = 5999;
    send_segment_opts(t, ACK, PEER_ISS + 11, F.iss + 1, 502, &a, data + 10, 10);
    tw_tcp_repr r = expect_segment(t, ACK, F.iss + 1, PEER_ISS + 11);
    assert_int_equal(r.opts.ts_ecr, 6000);
    assert_int_equal(drops(TW_TCP_DROP_PAWS), 1);
    expect_no_event(t);
    /* A wrapped-around newer one (mod 2^32) is fine. */
    a.ts_val = 6000 + 0x7fffffffu;
    send_segment_opts(t + 1, ACK, PEER_ISS + 11, F.iss + 1, 502, &a, data + 10, 10);
    expect_event(t + 1, TW_TCP_EV_DATA);
    /* A segment without timestamps is dropped (RFC 7323 §3.2). */
    send_segment(t + 2, ACK, PEER_ISS + 21, F.iss + 1, 502, data + 20, 10);
    assert_int_equal(drops(TW_TCP_DROP_NO_TIMESTAMP), 1);
}

static void test_tcp_established_paws_ignores_stale_ts_recent(void **state)
{
    establish_linux_peer(T0, 5000);
    /* RFC 7323 §5.5: after 24 days idle TS.Recent is not compared. */
    tw_ns t = T0 + TW_SEC(25ull * 24 * 3600);
    tw_tcp_options a = {.has_timestamp = true, .ts_val = 10};
    send_segment_opts(t, ACK, PEER_ISS + 1, F.iss + 1, 502, &a, data, 10);
    expect_event(t, TW_TCP_EV_DATA);
    assert_int_equal(drops(TW_TCP_DROP_PAWS), 0);
}

static void test_tcp_established_rtt_from_timestamps(void **state)
{
    uint32_t our_ts = establish_linux_peer(T0, 5000);
    uint32_t base = F.iss + 1;
    send_bytes(T0, 0, 100);
    tw_tcp_repr r = pop_segment_checked(T0);
    assert_int_equal(r.opts.ts_val, our_ts);
    /* The handshake's ACK echoed our SYN-ACK's TSval at once: a sample
     * of 0. The echo of this segment's TSval 30 ms later: 30 ms (RFC 7323
     * §4.1; within one 1 ms tick), folded in by RFC 6298 §2.3. */
    tw_tcp_conn_info i = conn_info(F.conn);
    assert_int_equal(i.srtt_ns, 0);
    tw_tcp_options a = {.has_timestamp = true, .ts_val = 5003, .ts_ecr = our_ts};
    send_segment_opts(T0 + TW_MS(30), ACK, PEER_ISS + 1, base + 100, 502, &a, NULL, 0);
    i = conn_info(F.conn);
    assert_int_equal(i.rttvar_ns, TW_US(7500));
    assert_int_equal(i.srtt_ns, TW_US(3750));
}

/* ---- sequence numbers wrap (RFC 9293 §3.4: arithmetic mod 2^32) --------- */

static void test_tcp_established_sequence_wraps_both_ways(void **state)
{
    /* Find when our ISS for this tuple is 2^32 - 1000: the ISN clock
     * moves one per 4 us (RFC 6528), the keyed part stays. */
    F.conn = tw_tcp_connect_from(F.tcp, T0, LOCAL, LPORT, REMOTE, RPORT);
    uint32_t iss0 = expect_segment_any(T0, SYN).seq;
    tw_tcp_abort(F.tcp, T0, F.conn);
    uint32_t want = 0xfffffc18u;
    tw_ns t = T0 + (tw_ns)(uint32_t)(want - iss0) * TW_US(4);
    F.conn = tw_tcp_connect_from(F.tcp, t, LOCAL, LPORT, REMOTE, RPORT);
    F.iss = expect_segment_any(t, SYN).seq;
    assert_int_equal(F.iss, want);
    uint32_t peer = 0xffffff00u;
    tw_tcp_options o = mss_opt(MSS);
    send_segment_opts(t, SYN | ACK, peer, F.iss + 1, 65535, &o, NULL, 0);
    expect_segment(t, ACK, F.iss + 1, peer + 1);
    expect_event(t, TW_TCP_EV_CONNECTED);
    /* Ours: 3000 bytes across 2^32. */
    send_bytes(t, 0, 3000);
    expect_data(t, F.iss + 1, MSS);
    expect_data(t, F.iss + 1 + MSS, MSS);
    send_segment(t + 1, ACK, peer + 1, F.iss + 1 + 2 * MSS, 65535, NULL, 0);
    expect_data(t + 1, F.iss + 1 + 2 * MSS, 3000 - 2 * MSS);
    send_segment(t + 2, ACK, peer + 1, F.iss + 3001, 65535, NULL, 0);
    tw_tcp_conn_info i = conn_info(F.conn);
    assert_int_equal(i.snd_una, F.iss + 3001); /* small: wrapped */
    assert_true(i.snd_una < 4000);
    /* Theirs: 600 bytes across 2^32, out of order first. */
    send_segment(t + 3, ACK, peer + 301, F.iss + 3001, 65535, data + 300, 300);
    expect_segment(t + 3, ACK, F.iss + 3001, peer + 1);
    send_segment(t + 4, ACK, peer + 1, F.iss + 3001, 65535, data, 300);
    expect_segment(t + 4, ACK, F.iss + 3001, peer + 601);
    tw_tcp_event ev = expect_event(t + 4, TW_TCP_EV_DATA);
    assert_int_equal(ev.len, 600);
    assert_memory_equal(ev.data, data, 600);
}

static void test_tcp_established_segment_past_window_trimmed(void **state)
{
    tw_tcp_config c = F.cfg;
    c.rcv_buf_bytes = 4 * MSS;
    restart(&c);
    establish_passive(T0, 65535);
    /* One segment larger than the window, with a FIN: RFC 9293 §3.10.7.4
     * keeps what fits; the FIN past the edge goes too. */
    send_segment(T0, ACK | FIN, PEER_ISS + 1, F.iss + 1, 65535, data, 7000);
    tw_tcp_repr r = expect_segment(T0, ACK, F.iss + 1, PEER_ISS + 1 + 4 * MSS);
    assert_int_equal(r.window, 0);
    assert_int_equal(tw_tcp_get_stats(F.tcp)->bytes_trimmed, 7000 - 4 * MSS);
    assert_int_equal(conn_state(F.conn), TW_TCP_ESTABLISHED);
    tw_tcp_event ev = expect_event(T0, TW_TCP_EV_DATA);
    assert_int_equal(ev.len, 4 * MSS);
    expect_no_event(T0);
}

static void test_tcp_established_sws_override_timeout(void **state)
{
    establish_active(T0, 1000);
    uint32_t base = F.iss + 1;
    send_bytes(T0, 0, 5000);
    expect_data(T0, base, 1000);
    /* All acknowledged, but only 300 bytes of window: too small to send
     * (RFC 1122 §4.2.3.4), and nothing is in flight to bring an ACK. */
    peer_ack(T0 + 1, base + 1000, 300);
    expect_nothing(T0 + 1);
    /* The override timeout sends what fits. */
    tick(T0 + 1 + TW_MS(200) - 1);
    expect_nothing(T0 + 1 + TW_MS(200) - 1);
    tick(T0 + 1 + TW_MS(200));
    expect_data(T0 + 1 + TW_MS(200), base + 1000, 300);
    expect_nothing(T0 + 1 + TW_MS(200));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_tcp_established_send_segments_at_mss),
        T(test_tcp_established_receive_delayed_ack),
        T(test_tcp_established_delayed_ack_bounded),
        T(test_tcp_established_data_piggybacks_ack),
        T(test_tcp_established_nagle_on_holds_small_segments),
        T(test_tcp_established_nagle_off_sends_at_once),
        T(test_tcp_established_send_sums_when_chunk_ring_full),
        T(test_tcp_established_send_sums_probe_splits_chunk),
        T(test_tcp_established_rtt_estimator),
        T(test_tcp_established_rto_backoff_timeline),
        T(test_tcp_established_karn_no_sample_from_retransmission),
        T(test_tcp_established_rto_goes_back_n),
        T(test_tcp_established_fast_retransmit_after_three_dupacks),
        T(test_tcp_established_newreno_partial_and_full_ack),
        T(test_tcp_established_no_second_fast_retransmit),
        T(test_tcp_established_zero_window_probe_timeline),
        T(test_tcp_established_zero_window_probe_accepted),
        T(test_tcp_established_receive_window_closes_and_reopens),
        T(test_tcp_established_sender_sws_small_window),
        T(test_tcp_established_send_buffer_full_then_writable),
        T(test_tcp_established_idle_restarts_cwnd),
        T(test_tcp_established_out_of_order_reassembled),
        T(test_tcp_established_in_place_receive_checks_checksum),
        T(test_tcp_established_reassembly_bounded),
        T(test_tcp_established_out_of_order_fin),
        T(test_tcp_established_keepalive_probes_then_times_out),
        T(test_tcp_established_keepalive_probe_answered),
        T(test_tcp_syn_sent_window_scale_one_gigabyte),
        T(test_tcp_syn_sent_window_scale_needs_both),
        T(test_tcp_established_timestamps_echoed),
        T(test_tcp_established_paws_rejects_old_timestamp),
        T(test_tcp_established_paws_ignores_stale_ts_recent),
        T(test_tcp_established_rtt_from_timestamps),
        T(test_tcp_established_sequence_wraps_both_ways),
        T(test_tcp_established_segment_past_window_trimmed),
        T(test_tcp_established_sws_override_timeout),
    };
#undef T
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
