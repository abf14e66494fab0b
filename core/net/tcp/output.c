/* What to send: SYN and SYN-ACK, data (with Nagle and sender silly-window
 * avoidance), FIN, retransmissions, zero-window and keepalive probes, ACKs
 * and window updates; and the receive window we advertise.
 *
 * Reading list:
 *   RFC 9293  §3.8.6 managing the window, §3.10.7 the ACKs SEGMENT ARRIVES
 *             asks for
 *   RFC 1122  §4.2.3.3 receiver SWS avoidance, §4.2.3.4 sender SWS
 *             avoidance, §4.2.2.17 zero-window probes, §4.2.3.6 keepalive
 *             probes
 *   RFC 896   Nagle's algorithm
 *   RFC 5681  §3.1 cwnd, §4.1 restart after idle, §3.2 fast retransmit
 *   RFC 3042  limited transmit
 *   RFC 6298  §5.1 starting the retransmission timer, §3 Karn
 *   RFC 7323  §2.2-2.3 window scale in SYNs and after, §3.2 timestamps on
 *             every segment
 *   RFC 5961  §7 challenge ACK rate limit
 *
 * One call builds at most one segment. A data segment is built in place
 * in the send ring when its payload lies contiguous there (tcb.h, zero-copy
 * transmit); otherwise, and for segments without data, in the instance's
 * output buffer, the payload copied to where it belongs after the header.
 * Either way tw_tcp_emit writes the header and the checksum around it. */
#include "net/tcp/tcb.h"

/* ---- the receive window (RFC 1122 §4.2.3.3, RFC 7323 §2.3) --------------- */

uint32_t tcp_rcv_window(const tw_tcp *tcp, const tcb *t)
{
    uint32_t space = t->rbuf.cap - t->rbuf.len;
    uint32_t cur = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    uint32_t win = cur;
    /* RFC 1122 §4.2.3.3: move the right edge only by at least
     * min(RCV.BUFF / 2, Eff.snd.MSS), so the peer never sees a window
     * that invites tiny segments. */
    uint32_t threshold = u32_min(t->rbuf.cap / 2, t->rcv_mss);
    if (space > cur && space - cur >= threshold) {
        win = space;
    }
    uint32_t unit = 1u << t->rcv_wscale;
    win = u32_min(win, 0xffffu << t->rcv_wscale);
    uint32_t rounded = win & ~(unit - 1);
    if (rounded < cur) {
        /* RFC 9293 §3.8.6.2.2 (a receiver SHOULD NOT shrink the window):
         * round up instead; the few bytes past the buffer this may
         * promise are trimmed if they come. */
        rounded = (cur + unit - 1) & ~(unit - 1);
    }
    return rounded;
}

void tcp_ack_now(tw_tcp *tcp, tcb *t)
{
    t->flags |= TCB_ACK_NOW;
    tcp_txq_mark(tcp, t);
}

void tcp_maybe_window_update(tw_tcp *tcp, tcb *t)
{
    if (t->state != TW_TCP_ESTABLISHED && t->state != TW_TCP_FIN_WAIT_1 &&
        t->state != TW_TCP_FIN_WAIT_2) {
        return; /* the peer sends no more data in the other states */
    }
    uint32_t cur = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    uint32_t win = tcp_rcv_window(tcp, t);
    /* NOTE: an update only when the window at least doubles (Linux's
     * tcp_cleanup_rbuf rule) on top of the RFC 1122 threshold: a reader
     * that keeps up then costs no extra ACKs, and a closed window is
     * reopened at once. */
    if (win > cur && win / 2 >= cur) {
        tcp->stats.window_updates++;
        tcp_ack_now(tcp, t);
    }
}

void tcp_challenge_ack(tw_tcp *tcp, tcb *t, tw_ns now)
{
    /* RFC 5961 §7: at most challenge_acks_per_sec per second, instance
     * wide. NOTE: without Linux's per-second randomisation of the limit,
     * which hides the counter from a side channel; deterministic here. */
    tw_ns epoch = now / TW_SEC(1);
    if (epoch != tcp->chack_epoch) {
        tcp->chack_epoch = epoch;
        tcp->chack_count = 0;
    }
    if (tcp->chack_count >= tcp->cfg.challenge_acks_per_sec) {
        tcp->stats.challenge_acks_limited++;
        return;
    }
    tcp->chack_count++;
    tcp->stats.challenge_acks++;
    tcp_ack_now(tcp, t);
}

/* ---- building one segment ------------------------------------------------ */

static void fill_options(const tw_tcp *tcp, const tcb *t, tw_ns now, uint8_t flags,
                         tw_tcp_options *o)
{
    if (flags & TW_TCP_SYN) {
        /* RFC 9293 §3.7.1: our MSS, from the MTU (the config clamps it). */
        o->has_mss = true;
        o->mss = tcp->mss_local;
        /* RFC 7323 §2.2: offered in a SYN, in a SYN-ACK only if the SYN
         * had it (the TCB's WS_OK says which). NOTE: SACK-permitted is
         * never offered: SACK is not implemented. */
        if (t->flags & TCB_WS_OK) {
            o->has_wscale = true;
            o->wscale = t->rcv_wscale;
        }
    }
    if (t->flags & TCB_TS_OK) {
        /* RFC 7323 §3.2: TSecr is TS.Recent, 0 when the ACK bit is off. */
        o->has_timestamp = true;
        o->ts_val = tcp_ts_now(t, now);
        o->ts_ecr = (flags & TW_TCP_ACK) ? t->ts_recent : 0;
    }
}

static uint16_t window_field(const tw_tcp *tcp, const tcb *t, uint8_t flags, uint32_t *adv)
{
    uint32_t win = tcp_rcv_window(tcp, t);
    if (flags & TW_TCP_SYN) {
        /* RFC 7323 §2.2: the window in a SYN is never scaled. */
        *adv = u32_min(win, 0xffff);
        return (uint16_t)*adv;
    }
    *adv = win;
    return (uint16_t)(win >> t->rcv_wscale);
}

/* Where the segment goes: in place in the send ring when the payload is
 * contiguous there with header room in front (the room's bytes saved, see
 * tcb.h), else the output buffer with the payload copied in. Points
 * r->payload at the payload and returns the segment's first byte. */
static uint8_t *place_segment(tw_tcp *tcp, tcb *t, uint32_t seq, uint32_t len, tw_tcp_repr *r)
{
    size_t header = tw_tcp_repr_header_len(r);
    r->payload_len = len;
    if (len == 0) {
        return tcp->out_buf;
    }
    uint32_t off = seq - t->snd_buf_seq;
    TW_ASSERT(off < t->sbuf.len);
    TW_ASSERT(len <= t->sbuf.len - off);
    uint32_t pos = ring_pos(&t->sbuf, off);
    if (pos >= TW_TCP_HEADER_LEN_MAX && pos + len <= t->sbuf.cap) {
        /* The largest header's room is saved whatever this header's size:
         * a constant-size copy the compiler inlines. */
        TW_ASSERT(tcp->lent_len == 0);
        uint8_t *room = t->sbuf.mem + pos - TW_TCP_HEADER_LEN_MAX;
        memcpy(tcp->lent_save, room, TW_TCP_HEADER_LEN_MAX);
        tcp->lent_at = room;
        tcp->lent_len = TW_TCP_HEADER_LEN_MAX;
        r->payload = t->sbuf.mem + pos;
        return t->sbuf.mem + pos - header;
    }
    uint8_t *payload = tcp->out_buf + header;
    tcp_ring_read(&t->sbuf, off, payload, len);
    r->payload = payload;
    return tcp->out_buf;
}

/* Emits <seq, flags> with len payload bytes from the send ring at seq. */
static void build(tw_tcp *tcp, tcb *t, tw_ns now, uint32_t seq, uint8_t flags, uint32_t len,
                  tw_tcp_out *out)
{
    TW_ASSERT(len <= t->snd_mss);
    /* Field by field: the SACK blocks stay unwritten (sack_count is 0),
     * which spares clearing the whole repr on every segment. */
    tw_tcp_repr r;
    r.src_port = t->lport;
    r.dst_port = t->rport;
    r.seq = seq;
    r.ack = (flags & TW_TCP_ACK) ? t->rcv_nxt : 0;
    r.flags = flags;
    r.urgent = 0;
    r.opts.has_mss = r.opts.has_wscale = r.opts.sack_permitted = r.opts.has_timestamp = false;
    r.opts.sack_count = 0;
    r.payload = NULL;
    uint32_t adv = 0;
    r.window = window_field(tcp, t, flags, &adv);
    fill_options(tcp, t, now, flags, &r.opts);
    if (len > 0) {
        /* The payload's share of the checksum, from the sums taken at send
         * (sums.c), before the header borrows the ring in front of it. */
        uint32_t payload_sum = tcp_payload_sum(tcp, t, seq, len);
        uint8_t *seg = place_segment(tcp, t, seq, len, &r);
        out->len = tw_tcp_emit_summed(&r, t->laddr, t->raddr, seg, payload_sum);
        out->seg = seg;
    } else {
        uint8_t *seg = place_segment(tcp, t, seq, len, &r);
        out->len = tw_tcp_emit(&r, t->laddr, t->raddr, seg);
        out->seg = seg;
    }
    out->src = t->laddr;
    out->dst = t->raddr;
    tcp->stats.segs_out++;
    tcp->stats.bytes_out += len;
    if (flags & TW_TCP_ACK) {
        /* Every ACK we send settles what was owed. */
        t->flags &= ~TCB_ACK_NOW;
        t->delack_at = TW_NS_NEVER;
        t->rcv_unacked = 0;
        t->last_ack_sent = t->rcv_nxt;
        t->rcv_adv = seq_max(t->rcv_adv, t->rcv_nxt + adv);
    }
}

static void arm_rtx_if_idle(tw_tcp *tcp, tcb *t, tw_ns now)
{
    /* RFC 6298 §5.1: on sending data, start the timer if not running. */
    if (t->rtx_at == TW_NS_NEVER) {
        tcp_rto_restart(tcp, t, now);
    }
}

/* SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), at ISS. */
static bool send_syn(tw_tcp *tcp, tcb *t, tw_ns now, tw_tcp_out *out)
{
    uint8_t flags = TW_TCP_SYN;
    if (t->state == TW_TCP_SYN_RECEIVED) {
        flags |= TW_TCP_ACK;
    }
    if (t->snd_max != t->iss) {
        tcp->stats.retransmits++;
        t->retransmits++;
    }
    build(tcp, t, now, t->iss, flags, 0, out);
    t->snd_nxt = t->iss + 1;
    t->snd_max = seq_max(t->snd_max, t->snd_nxt);
    if (!(t->flags & TCB_SYN_RTX)) {
        /* RFC 6298 §2 and §3: time the SYN unless it is a retransmission. */
        t->rtt_seq = t->iss;
        t->rtt_start = now;
        t->flags |= TCB_RTT_TIMING;
    }
    arm_rtx_if_idle(tcp, t, now);
    return true;
}

static bool send_ack(tw_tcp *tcp, tcb *t, tw_ns now, tw_tcp_out *out)
{
    /* RFC 9293 §3.10.7.4: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, where
     * SND.NXT is the next new octet: after a timeout rewinds snd_nxt for
     * go-back-N that is snd_max (as BSD's tcp_output numbers a pure ACK).
     * Numbered below what the peer has received, the ACK would be
     * unacceptable there and answered by an ACK, and two hosts that both
     * timed out would trade ACKs for ever. */
    build(tcp, t, now, t->snd_max, TW_TCP_ACK, 0, out);
    return true;
}

/* RFC 5681 §3.2 step 2 and RFC 6582 §3.2 step 5: the first unacknowledged
 * segment, regardless of the windows. */
static bool send_rtx_una(tw_tcp *tcp, tcb *t, tw_ns now, tw_tcp_out *out)
{
    uint32_t seq = t->snd_una;
    uint32_t data_end = t->snd_buf_seq + t->sbuf.len;
    uint32_t sent_end =
        (t->flags & TCB_FIN_QUEUED) && seq_lt(t->fin_seq, t->snd_max) ? t->fin_seq : t->snd_max;
    uint32_t len = 0;
    if (seq_lt(seq, seq_min(data_end, sent_end))) {
        len = u32_min(t->snd_mss, seq_min(data_end, sent_end) - seq);
    }
    bool fin =
        (t->flags & TCB_FIN_QUEUED) && seq + len == t->fin_seq && seq_lt(t->fin_seq, t->snd_max);
    if (len == 0 && !fin) {
        return false;
    }
    build(tcp, t, now, seq, (uint8_t)(TW_TCP_ACK | (fin ? TW_TCP_FIN : 0)), len, out);
    tcp->stats.retransmits++;
    t->retransmits++;
    t->flags &= ~TCB_RTT_TIMING; /* RFC 6298 §3: Karn */
    arm_rtx_if_idle(tcp, t, now);
    return true;
}

/* RFC 1122 §4.2.3.4 and RFC 896: may a segment shorter than the MSS go? */
static bool sws_allows(const tcb *t, uint32_t seq, uint32_t len, uint32_t avail)
{
    if (len >= t->snd_mss) {
        return true;
    }
    if (seq_lt(seq, t->snd_max)) {
        return true; /* resending what was already sent in this shape */
    }
    if (len == avail && ((t->flags & TCB_NODELAY) || t->snd_max == t->snd_una)) {
        return true; /* all we have, and nothing unacknowledged (Nagle) */
    }
    /* RFC 1122 §4.2.3.4 (2)(b): at least half the largest window seen. */
    return t->max_snd_wnd > 0 && len >= t->max_snd_wnd / 2;
}

/* The congestion window plus what limited transmit adds (RFC 3042 §2:
 * up to two segments beyond cwnd on the first two duplicate ACKs). */
static uint32_t cwnd_allowed(const tcb *t)
{
    uint32_t cwnd = t->cc.cwnd;
    if (!(t->flags & TCB_RECOVERY) && t->dupacks > 0 && t->dupacks < 3) {
        cwnd += (uint32_t)t->dupacks * t->snd_mss;
    }
    return cwnd;
}

static uint32_t usable_window(const tcb *t, uint32_t seq)
{
    uint32_t wnd_end = t->snd_una + u32_min(t->snd_wnd, cwnd_allowed(t));
    return seq_gt(wnd_end, seq) ? wnd_end - seq : 0;
}

static void after_data_sent(tw_tcp *tcp, tcb *t, tw_ns now, uint32_t seq, uint32_t len, bool fin)
{
    if (seq_lt(seq, t->snd_max)) {
        tcp->stats.retransmits++;
        t->retransmits++;
    } else if (len > 0 && !(t->flags & TCB_RTT_TIMING)) {
        /* RFC 6298 §3: time one new segment per flight. */
        t->rtt_seq = seq;
        t->rtt_start = now;
        t->flags |= TCB_RTT_TIMING;
    }
    if (!(t->flags & TCB_RECOVERY) && t->dupacks > 0 && seq + len - t->snd_una > t->cc.cwnd) {
        tcp->stats.limited_transmits++;
    }
    t->snd_nxt = seq + len + (fin ? 1u : 0u);
    t->snd_max = seq_max(t->snd_max, t->snd_nxt);
    t->last_snd_at = now;
    t->persist_at = TW_NS_NEVER;
    arm_rtx_if_idle(tcp, t, now);
}

/* New data, or go-back-N resends after a timeout, and the FIN. */
static bool send_data(tw_tcp *tcp, tcb *t, tw_ns now, tw_tcp_out *out)
{
    uint32_t seq = t->snd_nxt;
    uint32_t data_end = t->snd_buf_seq + t->sbuf.len;
    uint32_t avail = seq_lt(seq, data_end) ? data_end - seq : 0;
    bool fin_due = (t->flags & TCB_FIN_QUEUED) && seq_le(seq, t->fin_seq);
    if (avail == 0 && !fin_due) {
        return false;
    }
    if (t->snd_una == t->snd_max && now - t->last_snd_at > t->rto) {
        /* RFC 5681 §4.1: idle for more than an RTO: restart window. */
        tcp->cc->on_idle_restart(
            &t->cc, t->snd_mss, tw_tcp_cc_initial_window(t->snd_mss, tcp->cfg.initial_window_segs));
        t->last_snd_at = now;
    }
    uint32_t len = u32_min(u32_min(avail, usable_window(t, seq)), t->snd_mss);
    bool fin = fin_due && seq + len == t->fin_seq;
    if ((len == 0 && !fin) || (!fin && !sws_allows(t, seq, len, avail))) {
        if (t->snd_nxt == t->snd_una) {
            /* Nothing outstanding will bring an ACK: only the persist
             * timer gets us going again (RFC 1122 §4.2.3.4 override). */
            tcp_persist_arm(tcp, t, now);
        }
        return false;
    }
    uint8_t flags = TW_TCP_ACK;
    if (fin) {
        flags |= TW_TCP_FIN;
    }
    if (len > 0 && len == avail) {
        flags |= TW_TCP_PSH; /* RFC 9293 §3.9.1.2: the buffer is empty */
    }
    build(tcp, t, now, seq, flags, len, out);
    after_data_sent(tcp, t, now, seq, len, fin);
    return true;
}

/* RFC 1122 §4.2.2.17: one byte past the window when it is zero (the
 * probe moves SND.MAX, not SND.NXT, and starts no retransmission timer);
 * when the window is open but too small for SWS, the override timeout
 * sends what fits (§4.2.3.4). */
static bool send_probe(tw_tcp *tcp, tcb *t, tw_ns now, tw_tcp_out *out)
{
    uint32_t seq = t->snd_nxt;
    uint32_t data_end = t->snd_buf_seq + t->sbuf.len;
    uint32_t avail = seq_lt(seq, data_end) ? data_end - seq : 0;
    if (avail == 0) {
        return false;
    }
    uint32_t usable = usable_window(t, seq);
    if (usable > 0) {
        uint32_t len = u32_min(u32_min(avail, usable), t->snd_mss);
        build(tcp, t, now, seq, TW_TCP_ACK | (len == avail ? TW_TCP_PSH : 0), len, out);
        after_data_sent(tcp, t, now, seq, len, false);
        return true;
    }
    build(tcp, t, now, seq, TW_TCP_ACK, 1, out);
    t->snd_max = seq_max(t->snd_max, seq + 1);
    return true;
}

/* RFC 1122 §4.2.3.6: SEG.SEQ = SND.NXT - 1, no data, so the peer answers
 * with an ACK whatever its state. */
static bool send_keepalive(tw_tcp *tcp, tcb *t, tw_ns now, tw_tcp_out *out)
{
    build(tcp, t, now, t->snd_nxt - 1, TW_TCP_ACK, 0, out);
    return true;
}

bool tcp_output(tw_tcp *tcp, tcb *t, tw_ns now, tw_tcp_out *out)
{
    switch (t->state) {
    case TW_TCP_CLOSED:
    case TW_TCP_LISTEN:
        return false;
    case TW_TCP_SYN_SENT:
        return t->snd_nxt == t->iss && send_syn(tcp, t, now, out);
    case TW_TCP_SYN_RECEIVED:
        if (t->snd_nxt == t->iss) {
            return send_syn(tcp, t, now, out);
        }
        return (t->flags & TCB_ACK_NOW) && send_ack(tcp, t, now, out);
    case TW_TCP_TIME_WAIT:
        return (t->flags & TCB_ACK_NOW) && send_ack(tcp, t, now, out);
    default:
        break;
    }
    if (t->flags & TCB_RTX_UNA) {
        t->flags &= ~TCB_RTX_UNA;
        if (send_rtx_una(tcp, t, now, out)) {
            return true;
        }
    }
    if (send_data(tcp, t, now, out)) {
        return true;
    }
    if (t->flags & TCB_PROBE) {
        t->flags &= ~TCB_PROBE;
        if (send_probe(tcp, t, now, out)) {
            return true;
        }
    }
    if (t->flags & TCB_KA_PROBE) {
        t->flags &= ~TCB_KA_PROBE;
        return send_keepalive(tcp, t, now, out);
    }
    return (t->flags & TCB_ACK_NOW) && send_ack(tcp, t, now, out);
}

void tcp_emit_ctl(tw_tcp *tcp, const tcp_ctl *c, tw_tcp_out *out)
{
    tw_tcp_repr r = {.src_port = c->sport,
                     .dst_port = c->dport,
                     .seq = c->seq,
                     .ack = c->ack,
                     .flags = c->flags};
    tw_tcp_emit(&r, c->src, c->dst, tcp->out_buf);
    out->src = c->src;
    out->dst = c->dst;
    out->seg = tcp->out_buf;
    out->len = tw_tcp_repr_len(&r);
    tcp->stats.segs_out++;
    if (c->flags & TW_TCP_RST) {
        tcp->stats.resets_sent++;
    }
}

bool tw_tcp_pop_segment(tw_tcp *tcp, tw_ns now, tw_tcp_out *out)
{
    tcp_out_reclaim(tcp);
    TW_ASSERT(now >= tcp->last_now);
    tcp->last_now = now;
    if (tcp->ctl_len > 0) {
        tcp_emit_ctl(tcp, &tcp->ctlq[tcp->ctl_head], out);
        tcp->ctl_head = (tcp->ctl_head + 1) % tcp->cfg.ctl_queue_max;
        tcp->ctl_len--;
        return true;
    }
    /* Bounded: a connection leaves the queue the first time it has
     * nothing to send, and one that sends goes to the back (round robin). */
    while (tcp->txq.head != TCP_NONE) {
        tcb *t = tcb_at(tcp, tcp->txq.head);
        bool sent = tcp_output(tcp, t, now, out);
        if (!sent || tcp->txq.tail != tcp->txq.head) {
            tcp_txq_remove(tcp, t);
        }
        if (sent) {
            tcp_txq_mark(tcp, t); /* a no-op when it is alone in the queue */
        }
        tcp_timer_sync(tcp, t);
        tcp_tcb_check(tcp, t);
        if (sent) {
            return true;
        }
    }
    return false;
}
