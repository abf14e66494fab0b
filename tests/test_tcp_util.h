/* Helpers for the TCP tests: one tw_tcp instance (local 10.0.0.1) and a
 * scripted peer (10.0.0.2) whose segments the test writes by hand.
 *
 *   send_segment(now, flags, seq, ack, window, data, len)  feed one segment
 *   send_segment_opts(...)                                  ... with options
 *   expect_segment(now, flags, seq, ack)                    pop one, check
 *   expect_segment_any(now, flags)                          pop one, flags only
 *   expect_nothing(now)                                     nothing to pop
 *   expect_event(now, kind) / expect_no_event(now)
 *
 * Times are explicit: every helper takes `now`, and tw_tcp_on_tick is only
 * called by tick(now) so a test states exactly when timers may fire.
 * Header-only, static inline. Include after <cmocka.h>. */
#ifndef TW_TESTS_TCP_UTIL_H
#define TW_TESTS_TCP_UTIL_H

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "harness.h"
#include "net/tcp/tcp.h"
#include "wire/tcp.h"

#define LOCAL TW_IPV4_ADDR(10, 0, 0, 1)
#define REMOTE TW_IPV4_ADDR(10, 0, 0, 2)
#define LPORT 80
#define RPORT 40000
#define PEER_ISS 1000000u
#define T0 TW_SEC(100)

typedef struct tcp_fixture {
    tw_tcp *tcp;
    tw_tcp_config cfg;
    tw_tcp_conn conn;
    uint32_t iss;      /* our ISS, learned from our SYN or SYN-ACK */
    uint32_t peer_iss; /* the peer's */
    uint16_t lport;    /* our port for this connection */
    uint16_t rport;    /* the peer's */
    uint8_t seg_copy[70000];
    tw_tcp_repr last;  /* the last segment popped, payload in seg_copy */
} tcp_fixture;

static tcp_fixture F;

/* A config for scripted tests: no options beyond MSS unless a test turns
 * them on, so segments are easy to write by hand. */
static inline void fixture_config(tw_tcp_config *c)
{
    tw_tcp_config_default(c);
    c->seed = 42;
    c->conns_max = 16;
    c->listeners_max = 4;
    c->timestamps = false;
    c->window_scaling = false;
    c->rto_min_ns = TW_MS(200);
}

static inline void fixture_start(const tw_tcp_config *config)
{
    tw_tcp_config c_copy = *config; /* config may point into F */
    const tw_tcp_config *c = &c_copy;
    memset(&F, 0, sizeof(F));
    F.cfg = *c;
    F.tcp = tw_tcp_create(c, T0);
    F.lport = LPORT;
    F.rport = RPORT;
}

static inline int fixture_teardown(void **state)
{
    (void)state;
    tw_tcp_destroy(F.tcp);
    F.tcp = NULL;
    return 0;
}

static inline void tick(tw_ns now) { tw_tcp_on_tick(F.tcp, now); }

static inline void send_segment_opts(tw_ns now, uint8_t flags, uint32_t seq, uint32_t ack,
                                     uint16_t window, const tw_tcp_options *opts,
                                     const void *data, size_t len)
{
    static uint8_t buf[70000];
    tw_tcp_repr r = {.src_port = F.rport, .dst_port = F.lport, .seq = seq, .ack = ack,
                     .flags = flags, .window = window, .payload = data, .payload_len = len};
    if (opts != NULL) {
        r.opts = *opts;
    }
    tw_tcp_emit(&r, REMOTE, LOCAL, buf);
    tw_tcp_on_segment(F.tcp, now, REMOTE, LOCAL, buf, tw_tcp_repr_len(&r));
}

static inline void send_segment(tw_ns now, uint8_t flags, uint32_t seq, uint32_t ack,
                                uint16_t window, const void *data, size_t len)
{
    send_segment_opts(now, flags, seq, ack, window, NULL, data, len);
}

static inline void flags_str(uint8_t f, char out[TW_TCP_FLAGS_STRLEN])
{
    tw_tcp_flags_format(f, out);
}

/* Pops one segment and parses it; fails the test when there is none. */
static inline tw_tcp_repr pop_segment_checked(tw_ns now)
{
    tw_tcp_out out;
    if (!tw_tcp_pop_segment(F.tcp, now, &out)) {
        fail_msg("expected a segment at t=%llu, got none", (unsigned long long)now);
    }
    assert_int_equal(out.src, LOCAL);
    assert_int_equal(out.dst, REMOTE);
    assert_true(out.len <= sizeof(F.seg_copy));
    memcpy(F.seg_copy, out.seg, out.len);
    tw_tcp_repr r;
    assert_int_equal(tw_tcp_parse(F.seg_copy, out.len, LOCAL, REMOTE, &r), 0);
    F.last = r;
    return r;
}

static inline tw_tcp_repr expect_segment_any(tw_ns now, uint8_t flags)
{
    tw_tcp_repr r = pop_segment_checked(now);
    if (r.flags != flags) {
        char want[TW_TCP_FLAGS_STRLEN], got[TW_TCP_FLAGS_STRLEN];
        flags_str(flags, want);
        flags_str(r.flags, got);
        fail_msg("flags: want %s, got %s (seq %u ack %u len %zu)", want, got, r.seq, r.ack,
                 r.payload_len);
    }
    return r;
}

static inline tw_tcp_repr expect_segment(tw_ns now, uint8_t flags, uint32_t seq, uint32_t ack)
{
    tw_tcp_repr r = expect_segment_any(now, flags);
    if (r.seq != seq) {
        fail_msg("seq: want %u, got %u", seq, r.seq);
    }
    if ((flags & TW_TCP_ACK) && r.ack != ack) {
        fail_msg("ack: want %u, got %u", ack, r.ack);
    }
    return r;
}

static inline void expect_nothing(tw_ns now)
{
    tw_tcp_out out;
    if (tw_tcp_pop_segment(F.tcp, now, &out)) {
        tw_tcp_repr r;
        assert_int_equal(tw_tcp_parse(out.seg, out.len, LOCAL, REMOTE, &r), 0);
        char got[TW_TCP_FLAGS_STRLEN];
        flags_str(r.flags, got);
        fail_msg("expected nothing at t=%llu, got %s seq %u ack %u len %zu",
                 (unsigned long long)now, got, r.seq, r.ack, r.payload_len);
    }
}

static inline tw_tcp_event expect_event(tw_ns now, tw_tcp_event_kind kind)
{
    tw_tcp_event ev;
    if (!tw_tcp_pop_event(F.tcp, now, &ev)) {
        fail_msg("expected event %d, got none", (int)kind);
    }
    if (ev.kind != kind) {
        fail_msg("expected event %d, got %d", (int)kind, (int)ev.kind);
    }
    return ev;
}

static inline void expect_no_event(tw_ns now)
{
    tw_tcp_event ev;
    if (tw_tcp_pop_event(F.tcp, now, &ev)) {
        fail_msg("expected no event, got %d", (int)ev.kind);
    }
}

static inline tw_tcp_state conn_state(tw_tcp_conn c)
{
    tw_tcp_conn_info info;
    if (tw_tcp_conn_get_info(F.tcp, c, &info) < 0) {
        return TW_TCP_CLOSED;
    }
    return info.state;
}

static inline tw_tcp_conn_info conn_info(tw_tcp_conn c)
{
    tw_tcp_conn_info info;
    assert_int_equal(tw_tcp_conn_get_info(F.tcp, c, &info), 0);
    return info;
}

static inline uint64_t drops(tw_tcp_drop why) { return tw_tcp_get_stats(F.tcp)->drops[why]; }

static inline tw_tcp_options mss_opt(uint16_t mss)
{
    tw_tcp_options o = {.has_mss = true, .mss = mss};
    return o;
}

/* Passive open: listen on LPORT, the peer's SYN (ISS PEER_ISS, MSS 1460,
 * window w), our SYN-ACK, the peer's ACK, ACCEPTED. Leaves F.conn, F.iss. */
static inline void establish_passive(tw_ns now, uint16_t w)
{
    assert_int_equal(tw_tcp_listen(F.tcp, LOCAL, LPORT, 8), 0);
    tw_tcp_options o = mss_opt(1460);
    send_segment_opts(now, TW_TCP_SYN, PEER_ISS, 0, w, &o, NULL, 0);
    tw_tcp_repr r = expect_segment_any(now, TW_TCP_SYN | TW_TCP_ACK);
    assert_int_equal(r.ack, PEER_ISS + 1);
    F.iss = r.seq;
    expect_nothing(now);
    send_segment(now, TW_TCP_ACK, PEER_ISS + 1, F.iss + 1, w, NULL, 0);
    expect_nothing(now);
    tw_tcp_event ev = expect_event(now, TW_TCP_EV_ACCEPTED);
    F.conn = ev.conn;
    expect_no_event(now);
    assert_int_equal(conn_state(F.conn), TW_TCP_ESTABLISHED);
}

/* Active open to REMOTE:RPORT from LPORT: our SYN, the peer's SYN-ACK
 * (ISS PEER_ISS, MSS 1460, window w), our ACK, CONNECTED. */
static inline void establish_active(tw_ns now, uint16_t w)
{
    F.conn = tw_tcp_connect_from(F.tcp, now, LOCAL, LPORT, REMOTE, RPORT);
    assert_true(F.conn > 0);
    tw_tcp_repr r = expect_segment_any(now, TW_TCP_SYN);
    F.iss = r.seq;
    expect_nothing(now);
    tw_tcp_options o = mss_opt(1460);
    send_segment_opts(now, TW_TCP_SYN | TW_TCP_ACK, PEER_ISS, F.iss + 1, w, &o, NULL, 0);
    expect_segment(now, TW_TCP_ACK, F.iss + 1, PEER_ISS + 1);
    expect_nothing(now);
    expect_event(now, TW_TCP_EV_CONNECTED);
    expect_no_event(now);
    assert_int_equal(conn_state(F.conn), TW_TCP_ESTABLISHED);
}

/* A pattern byte for stream offset i: the receiver can check any slice. */
static inline uint8_t pattern(uint64_t i) { return (uint8_t)(i * 7 + (i >> 8) * 13 + 1); }

static inline void fill_pattern(uint8_t *p, size_t n, uint64_t start)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = pattern(start + i);
    }
}

#endif
