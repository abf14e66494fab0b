/* NewReno: RFC 5681 slow start and congestion avoidance with the RFC 6582
 * fast recovery window arithmetic. Reading list in cc/cc.h. */
#include "net/tcp/cc/cc.h"

#include "base/assert.h"

static uint32_t u32_min(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}
static uint32_t u32_max(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

/* Saturating addition: cwnd must not wrap when the path is very long. */
static uint32_t u32_add_sat(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

uint32_t tw_tcp_cc_initial_window(uint32_t smss, uint32_t segs)
{
    TW_ASSERT(smss > 0);
    TW_ASSERT(segs > 0);
    /* RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)). */
    uint32_t cap = u32_max(2 * smss, 1460u * segs);
    return u32_min(segs * smss, cap);
}

static void newreno_init(tw_tcp_cc *cc, uint32_t smss, uint32_t iw)
{
    TW_ASSERT(smss > 0);
    TW_ASSERT(iw >= smss);
    cc->cwnd = iw;
    /* RFC 5681 §3.1: the initial ssthresh SHOULD be set arbitrarily high. */
    cc->ssthresh = UINT32_MAX;
    cc->bytes_acked = 0;
    cc->pacing_rate = 0;
}

static void newreno_on_ack(tw_tcp_cc *cc, uint32_t smss, uint32_t acked, tw_ns now)
{
    TW_ASSERT(acked > 0);
    if (cc->cwnd < cc->ssthresh) {
        /* RFC 5681 §3.1 eq. 2: cwnd += min(N, SMSS) per ACK. */
        cc->cwnd = u32_add_sat(cc->cwnd, u32_min(acked, smss));
        return;
    }
    /* RFC 5681 §3.1 (and RFC 3465 §2.1): one SMSS per cwnd of bytes
     * acknowledged, counted in bytes so that stretch and delayed ACKs grow
     * the window as fast as per-segment ACKs do. */
    cc->bytes_acked = u32_add_sat(cc->bytes_acked, acked);
    if (cc->bytes_acked >= cc->cwnd) {
        cc->bytes_acked -= cc->cwnd;
        cc->cwnd = u32_add_sat(cc->cwnd, smss);
    }
}

/* RFC 5681 §3.1 eq. 4: ssthresh = max(FlightSize / 2, 2 * SMSS). */
static uint32_t half_flight(uint32_t smss, uint32_t flight)
{
    return u32_max(flight / 2, 2 * smss);
}

static void newreno_enter_recovery(tw_tcp_cc *cc, uint32_t smss, uint32_t flight)
{
    cc->ssthresh = half_flight(smss, flight);
    /* RFC 5681 §3.2 step 3: inflate by the three segments that left. */
    cc->cwnd = cc->ssthresh + 3 * smss;
    cc->bytes_acked = 0;
}

static void newreno_on_recovery_dupack(tw_tcp_cc *cc, uint32_t smss)
{
    /* RFC 5681 §3.2 step 4. */
    cc->cwnd = u32_add_sat(cc->cwnd, smss);
}

static void newreno_on_partial_ack(tw_tcp_cc *cc, uint32_t smss, uint32_t acked)
{
    /* RFC 6582 §3.2 step 5: deflate by the amount acknowledged, then add
     * back one SMSS if at least one SMSS was acknowledged. */
    cc->cwnd = cc->cwnd > acked ? cc->cwnd - acked : 0;
    if (acked >= smss) {
        cc->cwnd = u32_add_sat(cc->cwnd, smss);
    }
    cc->cwnd = u32_max(cc->cwnd, smss);
}

static void newreno_exit_recovery(tw_tcp_cc *cc, uint32_t smss, uint32_t flight)
{
    /* RFC 6582 §3.2 step 3, option (1): min(ssthresh, max(FlightSize,
     * SMSS) + SMSS), which avoids a burst when little is in flight. */
    cc->cwnd = u32_min(cc->ssthresh, u32_max(flight, smss) + smss);
    cc->bytes_acked = 0;
}

static void newreno_on_rto(tw_tcp_cc *cc, uint32_t smss, uint32_t flight, int first)
{
    if (first) {
        cc->ssthresh = half_flight(smss, flight);
    }
    /* RFC 5681 §3.1: the loss window is one segment. */
    cc->cwnd = smss;
    cc->bytes_acked = 0;
}

static void newreno_on_idle_restart(tw_tcp_cc *cc, uint32_t smss, uint32_t iw)
{
    /* RFC 5681 §4.1: restart window RW = min(IW, cwnd). */
    cc->cwnd = u32_min(cc->cwnd, iw);
    cc->bytes_acked = 0;
}

const tw_tcp_cc_ops tw_tcp_cc_newreno = {
    .name = "newreno",
    .init = newreno_init,
    .on_ack = newreno_on_ack,
    .enter_recovery = newreno_enter_recovery,
    .on_recovery_dupack = newreno_on_recovery_dupack,
    .on_partial_ack = newreno_on_partial_ack,
    .exit_recovery = newreno_exit_recovery,
    .on_rto = newreno_on_rto,
    .on_idle_restart = newreno_on_idle_restart,
};
