/* Timers: retransmission (RFC 6298), persist (zero-window probes), delayed
 * ACK, keepalive, TIME-WAIT; and the RTT estimator they run on.
 *
 * Reading list:
 *   RFC 6298  Computing TCP's Retransmission Timer (§2 the estimator, §3
 *             Karn's algorithm, §5 managing the timer)
 *   RFC 9293  §3.8.1 retransmission timeout, §3.8.6.1 zero-window probing,
 *             §3.10.8 timeouts (USER, RETRANSMISSION, TIME-WAIT)
 *   RFC 1122  §4.2.2.17 probing zero windows, §4.2.3.2 delayed ACKs,
 *             §4.2.3.5 excessive retransmissions, §4.2.3.6 keep-alives
 *   RFC 5681  §3.1 ssthresh after a timeout, §4.2 delayed ACK bound
 *   RFC 6582  §3.2 step 4 (recover after a timeout)
 *
 * Each TCB has one wheel timer armed at the earliest of its deadlines; a
 * firing runs every handler that is due, in a fixed order. */
#include "net/tcp/tcb.h"

#include "base/error.h"

void tcp_cancel_timers(tcb *t)
{
    t->rtx_at = TW_NS_NEVER;
    t->persist_at = TW_NS_NEVER;
    t->delack_at = TW_NS_NEVER;
    t->keepalive_at = TW_NS_NEVER;
    t->timewait_at = TW_NS_NEVER;
}

void tcp_timer_sync(tw_tcp *tcp, tcb *t)
{
    tw_ns d = tw_ns_min(tw_ns_min(t->rtx_at, t->persist_at),
                        tw_ns_min(tw_ns_min(t->delack_at, t->keepalive_at), t->timewait_at));
    if (d == TW_NS_NEVER) {
        tw_wheel_cancel(&tcp->wheel, &t->timer);
        return;
    }
    if (!tw_timer_armed(&t->timer) || t->timer.deadline != d) {
        tw_wheel_arm(&tcp->wheel, &t->timer, d);
    }
}

tw_ns tw_tcp_next_deadline(const tw_tcp *tcp)
{
    return tw_wheel_next_deadline(&tcp->wheel);
}

/* ---- the estimator (RFC 6298 §2) -------------------------------------------- */

void tcp_rtt_sample(tw_tcp *tcp, tcb *t, tw_ns r, tw_ns granularity)
{
    if (!(t->flags & TCB_HAS_SAMPLE)) {
        /* RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2. */
        t->srtt = r;
        t->rttvar = r / 2;
        t->flags |= TCB_HAS_SAMPLE;
    } else {
        /* RFC 6298 §2.3, alpha = 1/8, beta = 1/4; RTTVAR first, with the
         * old SRTT. */
        tw_ns delta = t->srtt > r ? t->srtt - r : r - t->srtt;
        t->rttvar = (3 * t->rttvar + delta) / 4;
        t->srtt = (7 * t->srtt + r) / 8;
    }
    /* RFC 6298 §2.2-2.3: RTO <- SRTT + max(G, K*RTTVAR), K = 4; §2.4 the
     * minimum, §2.5 the maximum. A new RTO also ends the backoff (§5.7
     * reads the same way: the estimate replaces the doubled value). */
    tw_ns rto = t->srtt + tw_ns_max(granularity, 4 * t->rttvar);
    t->rto = tw_ns_min(tw_ns_max(rto, tcp->cfg.rto_min_ns), tcp->cfg.rto_max_ns);
    t->rtx_count = 0;
}

tw_ns tcp_rto_backed_off(const tw_tcp *tcp, const tcb *t, uint32_t shift)
{
    tw_ns rto = t->rto;
    for (uint32_t i = 0; i < shift && rto < tcp->cfg.rto_max_ns; i++) {
        rto *= 2;
    }
    return tw_ns_min(rto, tcp->cfg.rto_max_ns);
}

void tcp_rto_restart(tw_tcp *tcp, tcb *t, tw_ns now)
{
    TW_ASSERT(t->state != TW_TCP_TIME_WAIT);
    t->rtx_at = now + t->rto;
    /* The retransmission timer and the persist timer never run together
     * (RFC 9293 §3.8.6.1: probing is for when nothing is outstanding). */
    t->persist_at = TW_NS_NEVER;
}

void tcp_persist_arm(tw_tcp *tcp, tcb *t, tw_ns now)
{
    if (t->persist_at != TW_NS_NEVER || t->rtx_at != TW_NS_NEVER) {
        return;
    }
    /* RFC 9293 §3.8.6.1: the first probe after the zero window has existed
     * for the retransmission timeout period. */
    t->persist_count = 0;
    t->persist_at = now + t->rto;
}

void tcp_keepalive_reset(tcb *t, tw_ns now)
{
    t->ka_sent = 0;
    t->keepalive_at = (t->flags & TCB_KEEPALIVE) ? now + t->ka_idle : TW_NS_NEVER;
}

void tcp_enter_time_wait(tw_tcp *tcp, tcb *t, tw_ns now)
{
    t->state = TW_TCP_TIME_WAIT;
    tcp_cancel_timers(t);
    t->flags &= ~(TCB_RTX_UNA | TCB_PROBE | TCB_KA_PROBE | TCB_RECOVERY);
    /* RFC 9293 §3.10.7.4 (FIN, FIN-WAIT-2): start the time-wait timer,
     * turn off the other timers. */
    t->timewait_at = now + 2 * tcp->cfg.msl_ns;
    if (t->flags & TCB_APP_OWNED) {
        /* The application is done; the 2 MSL wait is ours. */
        t->terminal = TW_TCP_EV_CLOSED;
        t->terminal_error = 0;
        tcp_event(tcp, t, EV_TERMINAL);
    }
}

/* ---- handlers ---------------------------------------------------------------- */

static uint8_t retries_allowed(const tw_tcp *tcp, const tcb *t)
{
    switch (t->state) {
    case TW_TCP_SYN_SENT:
        return tcp->cfg.syn_retries;
    case TW_TCP_SYN_RECEIVED:
        return (t->flags & TCB_PASSIVE) ? tcp->cfg.synack_retries : tcp->cfg.syn_retries;
    default:
        return tcp->cfg.rto_retries;
    }
}

/* RFC 6298 §5.4-5.6, RFC 1122 §4.2.3.5. False when the connection ended. */
static bool on_rtx_timeout(tw_tcp *tcp, tcb *t, tw_ns now)
{
    TW_ASSERT(t->state != TW_TCP_CLOSED);
    TW_ASSERT(t->state != TW_TCP_TIME_WAIT);
    t->rtx_at = TW_NS_NEVER;
    if (t->rtx_count >= retries_allowed(tcp, t)) {
        tcp->stats.timed_out++;
        bool quiet = t->state == TW_TCP_SYN_RECEIVED && (t->flags & TCB_PASSIVE) &&
                     !(t->flags & TCB_APP_OWNED);
        tcp_terminate(tcp, t, quiet ? TW_TCP_EV_COUNT : TW_TCP_EV_TIMED_OUT, -TW_ETIMEDOUT);
        return false;
    }
    tcp->stats.rto_timeouts++;
    uint32_t flight = t->snd_max - t->snd_una;
    if (tcb_synchronized(t) && flight > 0) {
        /* RFC 5681 §3.1: ssthresh only on the first timeout of a loss. */
        tcp->cc->on_rto(&t->cc, t->snd_mss, flight, t->rtx_count == 0);
        /* RFC 6582 §3.2 step 4: recover <- highest sequence sent, and
         * whatever recovery was under way is over. */
        t->recover = t->snd_max;
        t->flags &= ~(TCB_RECOVERY | TCB_PARTIAL_SEEN);
        t->dupacks = 0;
    } else {
        t->flags |= TCB_SYN_RTX; /* RFC 5681 §3.1 and RFC 6298 §5.7 */
    }
    t->rtx_count++;
    /* RFC 6298 §5.5: back off the timer. */
    t->rto = tw_ns_min(2 * t->rto, tcp->cfg.rto_max_ns);
    /* RFC 6298 §3 (Karn): no sample from what is about to be resent. */
    t->flags &= ~TCB_RTT_TIMING;
    /* RFC 6298 §5.4: retransmit the earliest unacknowledged segment; the
     * rest follows go-back-N as the window allows. The timer restarts
     * when it is sent (§5.6, output.c). */
    t->snd_nxt = t->snd_una;
    tcp_txq_mark(tcp, t);
    return true;
}

/* RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17: probe, and back off. */
static void on_persist_timeout(tw_tcp *tcp, tcb *t, tw_ns now)
{
    t->persist_at = TW_NS_NEVER;
    if (!tcb_synchronized(t) || t->state == TW_TCP_TIME_WAIT) {
        return;
    }
    t->flags |= TCB_PROBE;
    tcp->stats.persist_probes++;
    if (t->persist_count < 32) {
        t->persist_count++;
    }
    /* The probe itself never gives up (RFC 1122 §4.2.2.17: as long as the
     * receiver answers). */
    t->persist_at = now + tcp_rto_backed_off(tcp, t, t->persist_count);
    tcp_txq_mark(tcp, t);
}

/* RFC 5681 §4.2, RFC 1122 §4.2.3.2: the delayed ACK is due. */
static void on_delack_timeout(tw_tcp *tcp, tcb *t, tw_ns now)
{
    t->delack_at = TW_NS_NEVER;
    if (t->state == TW_TCP_CLOSED || t->state == TW_TCP_SYN_SENT) {
        return;
    }
    tcp->stats.delayed_acks++;
    tcp_ack_now(tcp, t);
}

/* RFC 1122 §4.2.3.6. False when the connection ended. */
static bool on_keepalive_timeout(tw_tcp *tcp, tcb *t, tw_ns now)
{
    t->keepalive_at = TW_NS_NEVER;
    if (!(t->flags & TCB_KEEPALIVE)) {
        return true;
    }
    if (t->state != TW_TCP_ESTABLISHED && t->state != TW_TCP_CLOSE_WAIT &&
        t->state != TW_TCP_FIN_WAIT_2) {
        return true;
    }
    if (t->snd_max != t->snd_una || t->persist_at != TW_NS_NEVER) {
        /* Something is outstanding: the retransmission or persist timer
         * is watching the peer; look again after another idle period. */
        t->keepalive_at = now + t->ka_idle;
        return true;
    }
    if (t->ka_sent >= t->ka_probes) {
        tcp->stats.timed_out++;
        tcp_terminate(tcp, t, TW_TCP_EV_TIMED_OUT, -TW_ETIMEDOUT);
        return false;
    }
    t->ka_sent++;
    tcp->stats.keepalive_probes++;
    t->flags |= TCB_KA_PROBE;
    t->keepalive_at = now + t->ka_intvl;
    tcp_txq_mark(tcp, t);
    return true;
}

/* RFC 9293 §3.10.8: the time-wait timeout deletes the TCB. */
static void on_time_wait_timeout(tw_tcp *tcp, tcb *t, tw_ns now)
{
    TW_ASSERT(t->state == TW_TCP_TIME_WAIT);
    t->timewait_at = TW_NS_NEVER;
    tcp_terminate(tcp, t, TW_TCP_EV_COUNT, 0);
}

static void run_due(tw_tcp *tcp, tcb *t, tw_ns now)
{
    if (t->timewait_at <= now) {
        on_time_wait_timeout(tcp, t, now);
        return;
    }
    if (t->rtx_at <= now && !on_rtx_timeout(tcp, t, now)) {
        return;
    }
    if (t->persist_at <= now) {
        on_persist_timeout(tcp, t, now);
    }
    if (t->delack_at <= now) {
        on_delack_timeout(tcp, t, now);
    }
    if (t->keepalive_at <= now && !on_keepalive_timeout(tcp, t, now)) {
        return;
    }
    tcp_timer_sync(tcp, t);
    tcp_tcb_check(tcp, t);
}

void tw_tcp_on_tick(tw_tcp *tcp, tw_ns now)
{
    tcp_out_reclaim(tcp);
    TW_ASSERT(now >= tcp->last_now);
    tcp->last_now = now;
    /* Bounded: each TCB has one timer, and a handler re-arms it in the
     * future only. */
    for (uint32_t n = 0; n <= tcp->cfg.conns_max; n++) {
        tw_timer *tm = tw_wheel_pop_expired(&tcp->wheel, now);
        if (tm == NULL) {
            return;
        }
        run_due(tcp, tcb_at(tcp, tm->owner), now);
    }
}
