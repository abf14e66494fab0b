/* SEGMENT ARRIVES: RFC 9293 §3.10.7, in its order, one function per
 * transition.
 *
 * Reading list:
 *   RFC 9293  §3.10.7.1 CLOSED, §3.10.7.2 LISTEN, §3.10.7.3 SYN-SENT,
 *             §3.10.7.4 the other states (first check sequence number,
 *             second RST, third security, fourth SYN, fifth ACK, sixth URG,
 *             seventh text, eighth FIN); §3.8.6.2.1 sender window updates;
 *             §3.7.1 MSS
 *   RFC 5961  §3.2 RST, §4.2 SYN, §5.2 ACK validation (challenge ACKs)
 *   RFC 7323  §2.2-2.3 window scale, §3.2 and §4.3 timestamps and
 *             TS.Recent, §4.1 RTTM, §5.3 PAWS (R1-R5 order), §5.5 outdated
 *             timestamps
 *   RFC 6191, RFC 1122 §4.2.2.13  a SYN to a connection in TIME-WAIT
 *   RFC 5681  §2 duplicate ACKs, §3.2 fast retransmit, §4.2 ACK generation
 *   RFC 6582  §3.2 NewReno partial and full ACKs
 *   RFC 3042  limited transmit
 *   RFC 6298  §5.2-5.3 the timer on ACKs, §5.7 the 3 s RTO after a lost SYN
 *   RFC 1122  §4.2.3.10 segments to broadcast or multicast addresses
 *
 * Deviations (NOTE): the security/compartment check and the URG pointer
 * are ignored (RFC 6093 advises against urgent data); data carried on a SYN
 * is not accepted (the peer sends it again after the handshake); a segment
 * at RCV.NXT with a zero receive window is acknowledged and its ACK field
 * processed, as RFC 9293 §3.10.7.4 allows for ACKs, RSTs and URGs. */
#include "net/tcp/tcb.h"

#include "base/error.h"
#include "wire/checksum.h"

/* RFC 7323 §5.5: a TS.Recent older than 24 days is no longer compared. */
#define PAWS_IDLE_NS (TW_SEC(24ull * 24 * 3600))
/* RFC 6298 §5.7. */
#define RTO_AFTER_SYN_LOSS_NS TW_SEC(3)
/* Linux's TCP_MIN_MSS: an MSS option below this is taken as this. */
#define MSS_MIN 88u

/* One arriving segment. seq and the payload are trimmed to the window as
 * the first check prescribes; orig_seq is what the segment said. */
typedef struct seg_ctx {
    tw_tcp_repr r;
    tw_ipv4_addr src;
    tw_ipv4_addr dst;
    uint32_t seq;
    uint32_t orig_seq;
    tw_ns now;
    /* The payload already copied into `placed`'s receive ring at storage
     * position placed_pos (see parse_placing); placed is NULL otherwise. */
    tcb *placed;
    const uint8_t *placed_from; /* the payload's first byte in the segment */
    uint32_t placed_pos;
    uint32_t placed_len;
} seg_ctx;

static bool has(const seg_ctx *s, uint8_t flag)
{
    return (s->r.flags & flag) != 0;
}

/* RFC 9293 §3.10.7.1 and §3.10.7.2: the RST that answers a segment with
 * no connection: <SEQ=SEG.ACK><CTL=RST> if it had an ACK, else
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
static void reply_rst(tw_tcp *tcp, const seg_ctx *s)
{
    tcp_ctl c = {.src = s->dst, .dst = s->src, .sport = s->r.dst_port, .dport = s->r.src_port};
    if (has(s, TW_TCP_ACK)) {
        c.seq = s->r.ack;
        c.flags = TW_TCP_RST;
    } else {
        c.ack = s->orig_seq + tw_tcp_seg_len(&s->r);
        c.flags = TW_TCP_RST | TW_TCP_ACK;
    }
    tcp_ctl_push(tcp, &c);
}

/* ---- options (RFC 9293 §3.7.1, RFC 7323 §2.2, §3.2) ----------------------- */

static void negotiate(tw_tcp *tcp, tcb *t, const seg_ctx *s)
{
    const tw_tcp_options *o = &s->r.opts;
    /* RFC 9293 §3.7.1: 536 when the SYN has no MSS option. */
    uint32_t peer_mss = o->has_mss ? o->mss : 536u;
    uint32_t mss = u32_min(u32_max(peer_mss, MSS_MIN), tcp->mss_local);
    if ((t->flags & TCB_WS_OK) && o->has_wscale) {
        t->snd_wscale = o->wscale; /* parse clamped it to 14 (§2.3) */
    } else {
        /* RFC 7323 §2.2: both sides must send it, else neither scales. */
        t->flags &= ~TCB_WS_OK;
        t->snd_wscale = 0;
        t->rcv_wscale = 0;
    }
    if ((t->flags & TCB_TS_OK) && o->has_timestamp) {
        t->ts_recent = o->ts_val;
        t->ts_recent_at = s->now;
    } else {
        t->flags &= ~TCB_TS_OK; /* RFC 7323 §3.2: only if both sent it */
    }
    /* RFC 9293 §3.7.1 / RFC 6691: the MSS counts no TCP options, so the
     * timestamp option comes out of each segment's payload. */
    t->snd_mss = (uint16_t)(mss - ((t->flags & TCB_TS_OK) ? 12u : 0u));
    t->rcv_mss = (uint16_t)u32_min(536, t->snd_mss);
}

/* The congestion state once the MSS is known (RFC 6928 IW10, one segment
 * if the SYN or SYN-ACK had to be resent: RFC 5681 §3.1). */
static void cc_start(tw_tcp *tcp, tcb *t)
{
    uint32_t segs = (t->flags & TCB_SYN_RTX) ? 1u : tcp->cfg.initial_window_segs;
    tcp->cc->init(&t->cc, t->snd_mss, tw_tcp_cc_initial_window(t->snd_mss, segs));
}

static void established(tw_tcp *tcp, tcb *t, tw_ns now)
{
    tcp->stats.established++;
    cc_start(tcp, t);
    tcp_keepalive_reset(t, now);
    t->last_snd_at = now;
}

/* ---- RTT (RFC 6298, RFC 7323 §4.1) ------------------------------------------ */

/* One sample per flight: when the ACK passes the byte being timed. With
 * timestamps the sample comes from TSecr (valid for retransmissions too);
 * without, from the send time of a segment never retransmitted (Karn). */
static void rtt_on_ack(tw_tcp *tcp, tcb *t, const seg_ctx *s)
{
    if (!(t->flags & TCB_RTT_TIMING) && !(t->flags & TCB_TS_OK)) {
        return;
    }
    if ((t->flags & TCB_RTT_TIMING) && !seq_gt(s->r.ack, t->rtt_seq)) {
        return;
    }
    if ((t->flags & TCB_TS_OK) && s->r.opts.has_timestamp && s->r.opts.ts_ecr != 0) {
        uint32_t ticks = tcp_ts_now(t, s->now) - s->r.opts.ts_ecr;
        if ((int32_t)ticks >= 0 && (t->flags & TCB_RTT_TIMING)) {
            /* The echoed tick started at most now % tick before its
             * segment left: an upper bound within one tick (G). */
            tw_ns r = (tw_ns)ticks * TCP_TS_TICK_NS + s->now % TCP_TS_TICK_NS;
            tcp_rtt_sample(tcp, t, r, TCP_TS_TICK_NS);
        }
    } else if (t->flags & TCB_RTT_TIMING) {
        tcp_rtt_sample(tcp, t, s->now - t->rtt_start, 0);
    }
    t->flags &= ~TCB_RTT_TIMING;
}

/* ---- 3.10.7.1 CLOSED, 3.10.7.2 LISTEN --------------------------------------- */

static void on_closed_segment(tw_tcp *tcp, const seg_ctx *s)
{
    if (has(s, TW_TCP_RST)) {
        tcp_drop(tcp, TW_TCP_DROP_CLOSED_RST); /* an RST is never answered */
        return;
    }
    reply_rst(tcp, s);
    tcp_drop(tcp, TW_TCP_DROP_NO_LISTENER);
}

/* RFC 9293 §3.10.7.2 third: a SYN makes a TCB in SYN-RECEIVED. iss_floor
 * is nonzero when the 4-tuple leaves TIME-WAIT (RFC 1122 §4.2.2.13: the
 * new ISS must exceed the old connection's sequence numbers). */
static void on_listen_syn(tw_tcp *tcp, tcp_listener *l, const seg_ctx *s, uint32_t iss_floor)
{
    if (l->syn_count >= tcp->cfg.syn_backlog) {
        tcp_drop(tcp, TW_TCP_DROP_SYN_QUEUE_FULL);
        return;
    }
    if (l->accept_count >= l->backlog) {
        tcp_drop(tcp, TW_TCP_DROP_ACCEPT_QUEUE_FULL);
        return;
    }
    tw_tcp_drop why;
    tcb *t = tcp_tcb_new(tcp, s->now, s->dst, s->r.dst_port, s->src, s->r.src_port, &why);
    if (t == NULL) {
        tcp_drop(tcp, why);
        return;
    }
    t->iss = tcp_isn(tcp, s->now, s->dst, s->r.dst_port, s->src, s->r.src_port);
    if (iss_floor != 0 && seq_le(t->iss, iss_floor)) {
        t->iss = iss_floor + 1;
    }
    t->snd_una = t->snd_nxt = t->snd_max = t->iss;
    t->snd_buf_seq = t->iss + 1;
    t->recover = t->iss;
    t->irs = s->orig_seq;
    t->rcv_nxt = s->orig_seq + 1;
    negotiate(tcp, t, s);
    t->rcv_adv = t->rcv_nxt + u32_min(t->rbuf.cap, 0xffff);
    t->snd_wnd = s->r.window; /* RFC 7323 §2.2: unscaled in a SYN */
    t->max_snd_wnd = t->snd_wnd;
    t->state = TW_TCP_SYN_RECEIVED;
    t->flags |= TCB_PASSIVE | TCB_SYN_Q;
    t->listener = (uint16_t)(l - tcp->listeners);
    l->syn_count++;
    tcp->stats.passive_opens++;
    tcp_txq_mark(tcp, t);
}

static void on_listen_segment(tw_tcp *tcp, tcp_listener *l, const seg_ctx *s)
{
    if (has(s, TW_TCP_RST)) {
        tcp_drop(tcp, TW_TCP_DROP_LISTEN_RST); /* first: ignore an RST */
        return;
    }
    if (has(s, TW_TCP_ACK)) {
        reply_rst(tcp, s); /* second: any ACK is bad here */
        tcp_drop(tcp, TW_TCP_DROP_LISTEN_ACK);
        return;
    }
    if (!has(s, TW_TCP_SYN)) {
        tcp_drop(tcp, TW_TCP_DROP_LISTEN_NO_SYN); /* fourth: drop */
        return;
    }
    on_listen_syn(tcp, l, s, 0);
}

/* ---- 3.10.7.3 SYN-SENT --------------------------------------------------------- */

static void on_syn_sent_rst(tw_tcp *tcp, tcb *t)
{
    /* "error: connection reset": the peer refused. */
    tcp->stats.resets_received++;
    tcp_terminate(tcp, t, TW_TCP_EV_RESET, -TW_ECONNREFUSED);
}

static void process_text(tw_tcp *tcp, tcb *t, seg_ctx *s);
static void process_fin(tw_tcp *tcp, tcb *t, seg_ctx *s);

/* Our SYN acknowledged and the peer's SYN: ESTABLISHED. */
static void on_syn_sent_synack(tw_tcp *tcp, tcb *t, seg_ctx *s)
{
    t->irs = s->orig_seq;
    t->rcv_nxt = s->orig_seq + 1;
    negotiate(tcp, t, s);
    t->rcv_adv = t->rcv_nxt + u32_min(t->rbuf.cap, 0xffff); /* our SYN's window */
    t->last_ack_sent = t->rcv_nxt;
    t->snd_una = s->r.ack;
    t->snd_wnd = s->r.window; /* RFC 7323 §2.2: unscaled in a SYN */
    t->max_snd_wnd = t->snd_wnd;
    t->snd_wl1 = s->orig_seq;
    t->snd_wl2 = s->r.ack;
    rtt_on_ack(tcp, t, s);
    if ((t->flags & TCB_SYN_RTX) && !(t->flags & TCB_HAS_SAMPLE)) {
        t->rto = tw_ns_min(RTO_AFTER_SYN_LOSS_NS, tcp->cfg.rto_max_ns); /* RFC 6298 §5.7 */
    }
    t->rtx_count = 0;
    t->rtx_at = TW_NS_NEVER; /* RFC 6298 §5.2: all data acknowledged */
    t->state = TW_TCP_ESTABLISHED;
    established(tcp, t, s->now);
    tcp_event(tcp, t, EV_CONNECTED);
    tcp_ack_now(tcp, t); /* also sends data queued before now */
    /* "continue processing at the sixth step": text and FIN after the SYN,
     * inside the window our SYN offered. */
    s->seq = s->orig_seq + 1;
    s->r.flags &= (uint8_t)~TW_TCP_SYN;
    uint32_t wnd = t->rcv_adv - t->rcv_nxt;
    if (s->r.payload_len > wnd) {
        tcp->stats.bytes_trimmed += s->r.payload_len - wnd;
        s->r.payload_len = wnd;
        s->r.flags &= (uint8_t)~TW_TCP_FIN;
    }
    process_text(tcp, t, s);
    process_fin(tcp, t, s);
}

/* Simultaneous open (RFC 9293 §3.5 figure 8): SYN-RECEIVED, and our SYN
 * goes again as a SYN-ACK. NOTE: marked as a SYN retransmission (IW of
 * one segment, no RTT sample from it: the peer's ACK may answer either). */
static void on_syn_sent_syn(tw_tcp *tcp, tcb *t, const seg_ctx *s)
{
    t->irs = s->orig_seq;
    t->rcv_nxt = s->orig_seq + 1;
    negotiate(tcp, t, s);
    t->rcv_adv = t->rcv_nxt + u32_min(t->rbuf.cap, 0xffff);
    t->snd_wnd = s->r.window;
    t->max_snd_wnd = t->snd_wnd;
    t->state = TW_TCP_SYN_RECEIVED;
    t->snd_nxt = t->iss;
    t->flags |= TCB_SYN_RTX;
    t->flags &= ~TCB_RTT_TIMING;
    tcp_txq_mark(tcp, t);
}

static void on_syn_sent_segment(tw_tcp *tcp, tcb *t, seg_ctx *s)
{
    bool ack = has(s, TW_TCP_ACK);
    /* first: an ACK must acknowledge our SYN and nothing more. */
    if (ack && (seq_le(s->r.ack, t->iss) || seq_gt(s->r.ack, t->snd_max))) {
        if (!has(s, TW_TCP_RST)) {
            reply_rst(tcp, s);
        }
        tcp_drop(tcp, TW_TCP_DROP_SYN_SENT_BAD_ACK);
        return;
    }
    /* second: RFC 5961 §3.2 / RFC 9293: an RST counts only with an
     * acceptable ACK. */
    if (has(s, TW_TCP_RST)) {
        if (ack) {
            on_syn_sent_rst(tcp, t);
        } else {
            tcp_drop(tcp, TW_TCP_DROP_SYN_SENT_RST_NO_ACK);
        }
        return;
    }
    /* fourth: SYN. */
    if (!has(s, TW_TCP_SYN)) {
        tcp_drop(tcp, TW_TCP_DROP_SYN_SENT_NO_SYN); /* fifth */
        return;
    }
    if (ack) {
        on_syn_sent_synack(tcp, t, s);
    } else {
        on_syn_sent_syn(tcp, t, s);
    }
}

/* ---- 3.10.7.4 first: PAWS and the sequence number ------------------------- */

/* RFC 7323 §5.3 R1 (and §3.2 for segments without the option). */
static bool check_paws(tw_tcp *tcp, tcb *t, const seg_ctx *s)
{
    if (!(t->flags & TCB_TS_OK) || has(s, TW_TCP_RST)) {
        return true; /* §3.2, §5.3 R1: an RST is not PAWS-checked */
    }
    if (!s->r.opts.has_timestamp) {
        /* RFC 7323 §3.2: a non-RST segment without TSopt SHOULD be
         * silently dropped once timestamps are agreed. */
        tcp_drop(tcp, TW_TCP_DROP_NO_TIMESTAMP);
        return false;
    }
    if (!seq_lt(s->r.opts.ts_val, t->ts_recent)) {
        return true;
    }
    if (s->now - t->ts_recent_at > PAWS_IDLE_NS) {
        return true; /* RFC 7323 §5.5: TS.Recent is too old to compare */
    }
    tcp_ack_now(tcp, t); /* R1: not acceptable: ACK and drop */
    tcp_drop(tcp, TW_TCP_DROP_PAWS);
    return false;
}

static uint32_t rcv_wnd(const tcb *t)
{
    return seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
}

/* RFC 9293 §3.10.7.4 first: the four cases of the acceptability test. */
static bool acceptable(const tcb *t, uint32_t seq, uint32_t seg_len)
{
    uint32_t wnd = rcv_wnd(t);
    if (seg_len == 0) {
        if (wnd == 0) {
            return seq == t->rcv_nxt;
        }
        return seq_le(t->rcv_nxt, seq) && seq_lt(seq, t->rcv_nxt + wnd);
    }
    if (wnd == 0) {
        return false;
    }
    uint32_t last = seq + seg_len - 1;
    return (seq_le(t->rcv_nxt, seq) && seq_lt(seq, t->rcv_nxt + wnd)) ||
           (seq_le(t->rcv_nxt, last) && seq_lt(last, t->rcv_nxt + wnd));
}

/* Cuts what lies before RCV.NXT or past the window's right edge. */
static void trim_to_window(tw_tcp *tcp, const tcb *t, seg_ctx *s)
{
    if (seq_lt(s->seq, t->rcv_nxt)) {
        uint32_t cut = t->rcv_nxt - s->seq;
        if (has(s, TW_TCP_SYN)) {
            s->r.flags &= (uint8_t)~TW_TCP_SYN; /* the SYN came first */
            s->seq++;
            cut--;
        }
        uint32_t data_cut = u32_min(cut, (uint32_t)s->r.payload_len);
        s->r.payload += data_cut;
        s->r.payload_len -= data_cut;
        s->seq += data_cut;
    }
    uint32_t right = t->rcv_nxt + rcv_wnd(t);
    if (seq_gt(s->seq + (uint32_t)s->r.payload_len, right)) {
        uint32_t keep = seq_gt(right, s->seq) ? right - s->seq : 0;
        tcp->stats.bytes_trimmed += s->r.payload_len - keep;
        s->r.payload_len = keep;
    }
    if (has(s, TW_TCP_FIN) && !seq_lt(s->seq + (uint32_t)s->r.payload_len, right)) {
        /* The FIN occupies the number after the data: it must be inside
         * the window as well. */
        s->r.flags &= (uint8_t)~TW_TCP_FIN;
    }
}

static bool check_sequence(tw_tcp *tcp, tcb *t, seg_ctx *s)
{
    uint32_t seg_len = tw_tcp_seg_len(&s->r);
    if (acceptable(t, s->seq, seg_len)) {
        trim_to_window(tcp, t, s);
        return true;
    }
    if (has(s, TW_TCP_RST)) {
        tcp_drop(tcp, TW_TCP_DROP_RST_OUT_OF_WINDOW); /* RFC 5961 §3.2: silently */
        return false;
    }
    if (rcv_wnd(t) == 0 && s->seq == t->rcv_nxt && !has(s, TW_TCP_SYN)) {
        /* A zero-window probe: acknowledge it, take its ACK field, keep
         * none of its data (NOTE in the header). */
        tcp->stats.bytes_trimmed += s->r.payload_len;
        s->r.payload_len = 0;
        s->r.flags &= (uint8_t)~TW_TCP_FIN;
        tcp_ack_now(tcp, t);
        return true;
    }
    /* "send an acknowledgment ... drop the unacceptable segment". */
    tcp_ack_now(tcp, t);
    tcp_drop(tcp, TW_TCP_DROP_OUT_OF_WINDOW);
    return false;
}

/* RFC 7323 §4.3 (R3): remember the timestamp of a segment that covers
 * Last.ACK.sent. */
static void update_ts_recent(tcb *t, const seg_ctx *s)
{
    if (!(t->flags & TCB_TS_OK) || !s->r.opts.has_timestamp) {
        return;
    }
    if (seq_ge(s->r.opts.ts_val, t->ts_recent) && seq_le(s->orig_seq, t->last_ack_sent)) {
        t->ts_recent = s->r.opts.ts_val;
        t->ts_recent_at = s->now;
    }
}

/* ---- second: RST (RFC 5961 §3.2) -------------------------------------------- */

static void on_syn_received_rst(tw_tcp *tcp, tcb *t)
{
    if (t->flags & TCB_PASSIVE) {
        /* "return this connection to LISTEN": the listener stays; this
         * half-open child goes, quietly. */
        tcp_terminate(tcp, t, TW_TCP_EV_COUNT, 0);
        return;
    }
    tcp_terminate(tcp, t, TW_TCP_EV_RESET, -TW_ECONNREFUSED);
}

/* ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT: "connection reset". */
static void on_established_rst(tw_tcp *tcp, tcb *t)
{
    tcp_terminate(tcp, t, TW_TCP_EV_RESET, -TW_ECONNRESET);
}

/* CLOSING, LAST-ACK, TIME-WAIT: both sides had closed; just delete.
 * NOTE: RFC 9293's rule, not RFC 1337's (which ignores RST in
 * TIME-WAIT); RFC 5961's exact-sequence check already blunts the blind
 * TIME-WAIT assassination RFC 1337 is about. */
static void on_closing_rst(tw_tcp *tcp, tcb *t)
{
    tcp_terminate(tcp, t, TW_TCP_EV_CLOSED, 0);
}

static void on_rst(tw_tcp *tcp, tcb *t, const seg_ctx *s)
{
    if (s->orig_seq != t->rcv_nxt) {
        /* RFC 5961 §3.2: in window but not exact: challenge ACK. */
        tcp_challenge_ack(tcp, t, s->now);
        tcp_drop(tcp, TW_TCP_DROP_RST_CHALLENGED);
        return;
    }
    tcp->stats.resets_received++;
    switch (t->state) {
    case TW_TCP_SYN_RECEIVED:
        on_syn_received_rst(tcp, t);
        return;
    case TW_TCP_ESTABLISHED:
    case TW_TCP_FIN_WAIT_1:
    case TW_TCP_FIN_WAIT_2:
    case TW_TCP_CLOSE_WAIT:
        on_established_rst(tcp, t);
        return;
    default:
        on_closing_rst(tcp, t);
        return;
    }
}

/* ---- fourth: SYN (RFC 5961 §4.2) ------------------------------------------- */

static void on_syn_in_window(tw_tcp *tcp, tcb *t, const seg_ctx *s)
{
    if (t->state == TW_TCP_SYN_RECEIVED && (t->flags & TCB_PASSIVE)) {
        /* RFC 9293 §3.10.7.4 fourth, SYN-RECEIVED: back to LISTEN. */
        tcp_drop(tcp, TW_TCP_DROP_SYN_CHALLENGED);
        tcp_terminate(tcp, t, TW_TCP_EV_COUNT, 0);
        return;
    }
    /* Synchronized states: a challenge ACK whatever the sequence number;
     * a peer that really restarted answers it with an RST. */
    tcp_challenge_ack(tcp, t, s->now);
    tcp_drop(tcp, TW_TCP_DROP_SYN_CHALLENGED);
}

/* ---- fifth: ACK ------------------------------------------------------------------ */

/* RFC 9293 §3.10.7.4 fifth, SYN-RECEIVED: "If SND.UNA < SEG.ACK =<
 * SND.NXT, then enter ESTABLISHED state and continue processing". False
 * when the accept queue is full: the ACK is dropped, the SYN-ACK will be
 * resent, and the peer's ACK then finds room (as Linux does). */
static bool on_syn_received_ack(tw_tcp *tcp, tcb *t, const seg_ctx *s)
{
    tcp_listener *l = NULL;
    if (t->flags & TCB_PASSIVE) {
        TW_ASSERT(t->listener != UINT16_MAX);
        l = &tcp->listeners[t->listener];
        if (l->accept_count >= l->backlog) {
            tcp_drop(tcp, TW_TCP_DROP_ACCEPT_QUEUE_FULL);
            return false;
        }
    }
    t->snd_wnd = (uint32_t)s->r.window << t->snd_wscale;
    t->max_snd_wnd = u32_max(t->max_snd_wnd, t->snd_wnd);
    t->snd_wl1 = s->orig_seq;
    t->snd_wl2 = s->r.ack;
    if ((t->flags & TCB_SYN_RTX) && !(t->flags & TCB_HAS_SAMPLE)) {
        /* RFC 6298 §5.7; a timestamp sample taken from this ACK next
         * (ack_new_data) replaces it. */
        t->rto = tw_ns_min(RTO_AFTER_SYN_LOSS_NS, tcp->cfg.rto_max_ns);
    }
    t->state = (t->flags & TCB_FIN_QUEUED) ? TW_TCP_FIN_WAIT_1 : TW_TCP_ESTABLISHED;
    established(tcp, t, s->now);
    if (l != NULL) {
        TW_ASSERT(t->flags & TCB_SYN_Q);
        l->syn_count--;
        l->accept_count++;
        t->flags &= ~TCB_SYN_Q;
        t->flags |= TCB_ACCEPT_Q | TCB_APP_OWNED;
        tcp_event(tcp, t, EV_ACCEPTED);
    } else {
        tcp_event(tcp, t, EV_CONNECTED);
    }
    return true;
}

/* RFC 5681 §3.2, RFC 6582 §3.2 step 2, RFC 3042. */
static void on_dupack(tw_tcp *tcp, tcb *t, const seg_ctx *s)
{
    tcp->stats.dupacks++;
    if (t->dupacks < UINT8_MAX) {
        t->dupacks++;
    }
    if (t->flags & TCB_RECOVERY) {
        tcp->cc->on_recovery_dupack(&t->cc, t->snd_mss); /* step 4 */
        tcp_txq_mark(tcp, t);
        return;
    }
    if (t->dupacks < 3) {
        tcp_txq_mark(tcp, t); /* RFC 3042: limited transmit may send */
        return;
    }
    if (t->dupacks > 3 || !seq_gt(s->r.ack, t->recover)) {
        return; /* RFC 6582: no second fast retransmit for one window */
    }
    t->recover = t->snd_max;
    tcp->cc->enter_recovery(&t->cc, t->snd_mss, t->snd_max - t->snd_una);
    t->flags |= TCB_RECOVERY | TCB_RTX_UNA;
    t->flags &= ~(TCB_PARTIAL_SEEN | TCB_RTT_TIMING); /* Karn */
    tcp->stats.fast_retransmits++;
    tcp_txq_mark(tcp, t);
}

/* RFC 6582 §3.2 steps 3 and 5, or RFC 5681 §3.1 growth. */
static void cc_on_new_ack(tw_tcp *tcp, tcb *t, const seg_ctx *s, uint32_t acked)
{
    uint32_t flight = t->snd_max - t->snd_una;
    if (!(t->flags & TCB_RECOVERY)) {
        t->dupacks = 0;
        if (acked > 0) {
            tcp->cc->on_ack(&t->cc, t->snd_mss, acked, s->now);
        }
        return;
    }
    if (seq_ge(s->r.ack, t->recover)) {
        /* Full acknowledgment (recover is one past the highest byte sent,
         * so covering it is reaching it): recovery is over. */
        tcp->cc->exit_recovery(&t->cc, t->snd_mss, flight);
        t->flags &= ~(TCB_RECOVERY | TCB_PARTIAL_SEEN);
        t->dupacks = 0;
        return;
    }
    /* Partial acknowledgment: the next hole is lost too. */
    tcp->stats.partial_acks++;
    tcp->cc->on_partial_ack(&t->cc, t->snd_mss, acked);
    t->flags |= TCB_RTX_UNA;
}

/* SND.UNA < SEG.ACK: release acknowledged bytes, sample the RTT, run
 * congestion control, manage the timer. */
static void ack_new_data(tw_tcp *tcp, tcb *t, const seg_ctx *s)
{
    uint32_t ack = s->r.ack;
    uint32_t acked = ack - t->snd_una;
    if (seq_gt(ack, t->snd_buf_seq)) {
        uint32_t data = u32_min(ack - t->snd_buf_seq, t->sbuf.len);
        tcp_ring_drop(&t->sbuf, data);
        t->snd_buf_seq += data;
        tcp_sums_drop(tcp, t);
    }
    if (t->snd_una == t->iss) {
        acked--; /* the SYN */
    }
    rtt_on_ack(tcp, t, s);
    t->snd_una = ack;
    if (seq_lt(t->snd_nxt, t->snd_una)) {
        t->snd_nxt = t->snd_una; /* a probe byte was taken */
    }
    bool first_partial =
        (t->flags & TCB_RECOVERY) && seq_lt(ack, t->recover) && !(t->flags & TCB_PARTIAL_SEEN);
    bool in_recovery = (t->flags & TCB_RECOVERY) != 0;
    cc_on_new_ack(tcp, t, s, acked);
    t->rtx_count = 0;
    if (t->snd_una == t->snd_max) {
        t->rtx_at = TW_NS_NEVER; /* RFC 6298 §5.2 */
    } else if (!in_recovery || !(t->flags & TCB_RECOVERY) || first_partial) {
        /* RFC 6298 §5.3; in recovery RFC 6582 §3.2 step 5 resets the
         * timer on the first partial ACK only. */
        tcp_rto_restart(tcp, t, s->now);
    }
    if (first_partial) {
        t->flags |= TCB_PARTIAL_SEEN;
    }
    if ((t->flags & TCB_SEND_BLOCKED) && t->sbuf.cap - t->sbuf.len >= t->sbuf.cap / 2) {
        t->flags &= ~TCB_SEND_BLOCKED;
        tcp_event(tcp, t, EV_WRITABLE);
    }
    tcp_txq_mark(tcp, t);
}

/* RFC 9293 §3.10.7.4 fifth (ESTABLISHED): the send window, if the
 * segment is newer than the last one that set it (WL1, WL2). */
static void update_send_window(tw_tcp *tcp, tcb *t, const seg_ctx *s)
{
    uint32_t seq = s->orig_seq;
    uint32_t ack = s->r.ack;
    if (!(seq_lt(t->snd_wl1, seq) || (t->snd_wl1 == seq && seq_le(t->snd_wl2, ack)))) {
        return;
    }
    uint32_t wnd = (uint32_t)s->r.window << t->snd_wscale; /* RFC 7323 §2.3 */
    if (wnd != t->snd_wnd) {
        t->persist_at = TW_NS_NEVER; /* output re-arms it if still stuck */
        tcp_txq_mark(tcp, t);
    }
    t->snd_wnd = wnd;
    t->snd_wl1 = seq;
    t->snd_wl2 = ack;
    t->max_snd_wnd = u32_max(t->max_snd_wnd, wnd);
}

/* RFC 5681 §2: same ACK, nothing new in it, data outstanding, and the
 * same window. A zero-window probe's answers are not duplicates. */
static bool is_dupack(const tcb *t, const seg_ctx *s)
{
    return s->r.ack == t->snd_una && t->snd_max != t->snd_una && t->persist_at == TW_NS_NEVER &&
           s->r.payload_len == 0 && !has(s, TW_TCP_SYN) && !has(s, TW_TCP_FIN) &&
           ((uint32_t)s->r.window << t->snd_wscale) == t->snd_wnd;
}

static bool fin_acked(const tcb *t)
{
    return (t->flags & TCB_FIN_QUEUED) && seq_gt(t->snd_una, t->fin_seq);
}

static void on_fin_wait_1_ack_of_fin(tcb *t)
{
    t->state = TW_TCP_FIN_WAIT_2;
}

static void on_closing_ack_of_fin(tw_tcp *tcp, tcb *t, tw_ns now)
{
    tcp_enter_time_wait(tcp, t, now);
}

static void on_last_ack_ack_of_fin(tw_tcp *tcp, tcb *t)
{
    tcp_terminate(tcp, t, TW_TCP_EV_CLOSED, 0);
}

/* False when processing of the segment ends here. */
static bool process_ack(tw_tcp *tcp, tcb *t, const seg_ctx *s)
{
    uint32_t ack = s->r.ack;
    if (t->state == TW_TCP_SYN_RECEIVED) {
        if (!seq_gt(ack, t->snd_una) || seq_gt(ack, t->snd_max)) {
            reply_rst(tcp, s); /* <SEQ=SEG.ACK><CTL=RST> */
            tcp_drop(tcp, TW_TCP_DROP_SYN_RECEIVED_BAD_ACK);
            return false;
        }
        if (!on_syn_received_ack(tcp, t, s)) {
            return false;
        }
    }
    if (seq_gt(ack, t->snd_max)) {
        tcp_ack_now(tcp, t); /* RFC 9293: ACK of something not yet sent */
        tcp_drop(tcp, TW_TCP_DROP_ACK_UNSENT);
        return false;
    }
    if (seq_lt(ack, t->snd_una - t->max_snd_wnd)) {
        tcp_challenge_ack(tcp, t, s->now); /* RFC 5961 §5.2 */
        tcp_drop(tcp, TW_TCP_DROP_ACK_TOO_OLD);
        return false;
    }
    bool dup = is_dupack(t, s);
    if (seq_gt(ack, t->snd_una)) {
        ack_new_data(tcp, t, s);
    }
    update_send_window(tcp, t, s);
    if (dup) {
        on_dupack(tcp, t, s);
    }
    if (t->state == TW_TCP_FIN_WAIT_1 && fin_acked(t)) {
        on_fin_wait_1_ack_of_fin(t);
    } else if (t->state == TW_TCP_CLOSING && fin_acked(t)) {
        on_closing_ack_of_fin(tcp, t, s->now);
    } else if (t->state == TW_TCP_LAST_ACK && fin_acked(t)) {
        on_last_ack_ack_of_fin(tcp, t);
        return false;
    }
    return true;
}

/* ---- seventh: text --------------------------------------------------------------- */

/* Inserts [left, right) into the sorted, disjoint out-of-order ranges,
 * merging what it touches. False when a new range has no room. */
static bool reasm_insert(tcb *t, uint32_t max, uint32_t left, uint32_t right)
{
    uint32_t n = t->reasm_n;
    uint32_t i = 0;
    while (i < n && seq_lt(t->reasm[i].right, left)) {
        i++;
    }
    uint32_t j = i;
    while (j < n && seq_le(t->reasm[j].left, right)) {
        left = seq_min(left, t->reasm[j].left);
        right = seq_max(right, t->reasm[j].right);
        j++;
    }
    if (j == i) {
        if (n >= max) {
            return false;
        }
        memmove(&t->reasm[i + 1], &t->reasm[i], (n - i) * sizeof(tcp_range));
        t->reasm_n++;
    } else {
        memmove(&t->reasm[i + 1], &t->reasm[j], (n - j) * sizeof(tcp_range));
        t->reasm_n = (uint8_t)(n - (j - i - 1));
    }
    t->reasm[i] = (tcp_range){.left = left, .right = right};
    return true;
}

/* Forgets out-of-order bytes at or past fin_seq: RFC 9293 §3.10.7.4
 * (eighth, FIN): the FIN ends the stream, so nothing after it is data. */
static void reasm_cut(tcb *t, uint32_t fin_seq)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->reasm_n; i++) {
        tcp_range r = t->reasm[i];
        if (!seq_lt(r.left, fin_seq)) {
            break; /* sorted: the rest lies past it too */
        }
        r.right = seq_min(r.right, fin_seq);
        t->reasm[n++] = r;
    }
    t->reasm_n = (uint8_t)n;
}

/* Makes the ranges that now touch RCV.NXT readable (the bytes are already
 * in place in the ring). */
static void reasm_advance(tw_tcp *tcp, tcb *t)
{
    while (t->reasm_n > 0 && seq_le(t->reasm[0].left, t->rcv_nxt)) {
        if (seq_gt(t->reasm[0].right, t->rcv_nxt)) {
            uint32_t add = t->reasm[0].right - t->rcv_nxt;
            t->rcv_nxt += add;
            t->rbuf.len += add;
            tcp->stats.bytes_in += add;
        }
        t->reasm_n--;
        memmove(&t->reasm[0], &t->reasm[1], t->reasm_n * sizeof(tcp_range));
    }
}

/* RFC 5681 §4.2 and RFC 1122 §4.2.3.2: ACK at least every second full
 * segment, and within the delayed-ACK timeout. */
static void delay_ack(tw_tcp *tcp, tcb *t, uint32_t n, tw_ns now)
{
    t->rcv_unacked += n;
    if (t->rcv_unacked >= (uint32_t)tcp->cfg.delack_segs * t->rcv_mss) {
        tcp_ack_now(tcp, t);
    } else if (t->delack_at == TW_NS_NEVER) {
        t->delack_at = now + tcp->cfg.delack_ns;
    }
}

static void receive_data(tw_tcp *tcp, tcb *t, seg_ctx *s)
{
    if ((t->flags & TCB_OOO_FIN) && seq_gt(s->seq + (uint32_t)s->r.payload_len, t->ooo_fin_seq)) {
        /* Text past a FIN already seen out of order is not data (eighth,
         * FIN); taking it would carry RCV.NXT over the FIN. */
        uint32_t keep = seq_gt(t->ooo_fin_seq, s->seq) ? t->ooo_fin_seq - s->seq : 0;
        tcp->stats.bytes_trimmed += s->r.payload_len - keep;
        s->r.payload_len = keep;
        s->r.flags &= (uint8_t)~TW_TCP_FIN; /* its FIN was not where the first said */
        if (keep == 0) {
            tcp_ack_now(tcp, t);
            return;
        }
    }
    uint32_t n = (uint32_t)s->r.payload_len;
    uint32_t off = s->seq - t->rcv_nxt;
    uint32_t space = t->rbuf.cap - t->rbuf.len;
    if (n > space - u32_min(off, space)) {
        /* Past the buffer (only a rounded-up window can promise this). */
        uint32_t keep = off < space ? space - off : 0;
        tcp->stats.bytes_trimmed += n - keep;
        n = keep;
        s->r.payload_len = n;
        s->r.flags &= (uint8_t)~TW_TCP_FIN;
        if (n == 0) {
            tcp_ack_now(tcp, t);
            return;
        }
    }
    t->rcv_mss = (uint16_t)u32_min(u32_max(t->rcv_mss, n), tcp->mss_local);
    /* Copied in place by parse_placing, unless the segment was trimmed
     * in front since or lands elsewhere. */
    bool placed = s->placed == t && off == 0 && n <= s->placed_len &&
                  s->r.payload == s->placed_from && ring_pos(&t->rbuf, t->rbuf.len) == s->placed_pos;
    if (!placed) {
        tcp_ring_write(&t->rbuf, t->rbuf.len + off, s->r.payload, n);
    }
    if (off > 0) {
        if (!reasm_insert(t, tcp->cfg.reasm_ranges_max, s->seq, s->seq + n)) {
            tcp_drop(tcp, TW_TCP_DROP_REASSEMBLY_FULL);
            s->r.flags &= (uint8_t)~TW_TCP_FIN;
        } else {
            tcp->stats.ooo_segments++;
        }
        tcp_ack_now(tcp, t); /* RFC 5681 §4.2: at once for out-of-order */
        return;
    }
    bool had_holes = t->reasm_n > 0;
    t->rcv_nxt += n;
    t->rbuf.len += n;
    tcp->stats.bytes_in += n;
    reasm_advance(tcp, t);
    tcp_event(tcp, t, EV_DATA);
    if (had_holes) {
        tcp_ack_now(tcp, t); /* RFC 5681 §4.2: it filled a gap */
    } else {
        delay_ack(tcp, t, n, s->now);
    }
}

static void process_text(tw_tcp *tcp, tcb *t, seg_ctx *s)
{
    if (s->r.payload_len == 0) {
        return;
    }
    switch (t->state) {
    case TW_TCP_ESTABLISHED:
    case TW_TCP_FIN_WAIT_1:
    case TW_TCP_FIN_WAIT_2:
        receive_data(tcp, t, s);
        return;
    default:
        /* CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This should not
         * occur since a FIN has been received from the remote side.
         * Ignore the segment text." */
        tcp_drop(tcp, TW_TCP_DROP_AFTER_FIN);
        return;
    }
}

/* ---- eighth: FIN ---------------------------------------------------------------- */

static void on_established_fin(tcb *t)
{
    t->state = TW_TCP_CLOSE_WAIT;
}

static void on_fin_wait_1_fin(tcb *t)
{
    t->state = TW_TCP_CLOSING;
}

static void on_fin_wait_2_fin(tw_tcp *tcp, tcb *t, tw_ns now)
{
    tcp_enter_time_wait(tcp, t, now);
}

/* "Remain in the TIME-WAIT state. Restart the 2 MSL time-wait timeout." */
static void on_time_wait_fin(tw_tcp *tcp, tcb *t, tw_ns now)
{
    t->timewait_at = now + 2 * tcp->cfg.msl_ns;
    tcp_ack_now(tcp, t);
}

static void fin_in_order(tw_tcp *tcp, tcb *t, tw_ns now)
{
    reasm_cut(t, t->rcv_nxt); /* out-of-order bytes past the FIN */
    t->rcv_nxt++; /* "advance RCV.NXT over the FIN" */
    t->flags &= ~TCB_OOO_FIN;
    tcp_ack_now(tcp, t);
    tcp_event(tcp, t, EV_PEER_CLOSED);
    switch (t->state) {
    case TW_TCP_SYN_RECEIVED:
    case TW_TCP_ESTABLISHED:
        on_established_fin(t);
        return;
    case TW_TCP_FIN_WAIT_1:
        /* Our FIN unacknowledged (else fifth made this FIN-WAIT-2). */
        on_fin_wait_1_fin(t);
        return;
    case TW_TCP_FIN_WAIT_2:
        on_fin_wait_2_fin(tcp, t, now);
        return;
    default:
        return; /* CLOSE-WAIT, CLOSING, LAST-ACK: remain */
    }
}

static void process_fin(tw_tcp *tcp, tcb *t, seg_ctx *s)
{
    if (t->state == TW_TCP_CLOSED) {
        return;
    }
    if (t->state == TW_TCP_TIME_WAIT) {
        if (has(s, TW_TCP_FIN)) {
            on_time_wait_fin(tcp, t, s->now);
        } else if (s->r.payload_len == 0) {
            /* An acceptable segment with nothing for TIME-WAIT (a stray
             * ACK): processed, and of no use. */
            tcp_drop(tcp, TW_TCP_DROP_TIME_WAIT);
        }
        return;
    }
    uint32_t fin_seq = s->seq + (uint32_t)s->r.payload_len;
    if (has(s, TW_TCP_FIN) && seq_gt(fin_seq, t->rcv_nxt)) {
        /* Out of order: remembered until the data before it arrives;
         * what was held past it is not data. */
        t->flags |= TCB_OOO_FIN;
        t->ooo_fin_seq = fin_seq;
        reasm_cut(t, fin_seq);
        return;
    }
    bool fin_now = has(s, TW_TCP_FIN) && fin_seq == t->rcv_nxt;
    bool ooo_now = (t->flags & TCB_OOO_FIN) && t->ooo_fin_seq == t->rcv_nxt;
    if (fin_now || ooo_now) {
        fin_in_order(tcp, t, s->now);
    }
}

/* ---- 3.10.7.4: the synchronized states and SYN-RECEIVED ------------------- */

static void segment_arrives(tw_tcp *tcp, tcb *t, seg_ctx *s)
{
    if (!check_paws(tcp, t, s)) {
        return; /* RFC 7323 §5.3 R1 */
    }
    if (!check_sequence(tcp, t, s)) {
        return; /* first */
    }
    update_ts_recent(t, s); /* RFC 7323 §5.3 R3 */
    if (has(s, TW_TCP_RST)) {
        on_rst(tcp, t, s); /* second */
        return;
    }
    /* third: security and precedence; NOTE: not implemented. */
    if (has(s, TW_TCP_SYN)) {
        on_syn_in_window(tcp, t, s); /* fourth */
        return;
    }
    if (!has(s, TW_TCP_ACK)) {
        tcp_drop(tcp, TW_TCP_DROP_NO_ACK); /* fifth: "drop the segment" */
        return;
    }
    t->last_rcv_at = s->now;
    tcp_keepalive_reset(t, s->now);
    if (!process_ack(tcp, t, s)) {
        return;
    }
    /* sixth: URG; NOTE: ignored (RFC 6093). */
    process_text(tcp, t, s); /* seventh */
    process_fin(tcp, t, s);  /* eighth */
}

/* RFC 6191 §2: a SYN to a tuple in TIME-WAIT starts a new incarnation if
 * its timestamp is newer than TS.Recent; without timestamps, RFC 1122
 * §4.2.2.13: if its sequence number is above the old RCV.NXT. */
static bool time_wait_reusable(const tcb *t, const seg_ctx *s)
{
    if (!has(s, TW_TCP_SYN) || has(s, TW_TCP_ACK)) {
        return false;
    }
    if ((t->flags & TCB_TS_OK) && s->r.opts.has_timestamp) {
        return seq_gt(s->r.opts.ts_val, t->ts_recent);
    }
    return seq_gt(s->orig_seq, t->rcv_nxt);
}

static void on_time_wait_syn(tw_tcp *tcp, tcb *t, tcp_listener *l, const seg_ctx *s)
{
    uint32_t floor = t->snd_max + 65535 + 2; /* Linux's margin */
    tcp->stats.time_wait_reused++;
    tcp_terminate(tcp, t, TW_TCP_EV_COUNT, 0);
    on_listen_syn(tcp, l, s, floor);
}

/* A retransmitted FIN in TIME-WAIT (its ACK was lost): acknowledge it and
 * restart the 2 MSL wait (RFC 9293 §3.10.7.4 fifth, TIME-WAIT). It lies
 * below RCV.NXT, so the general path would only ACK it. */
static bool is_time_wait_fin_rtx(const tcb *t, const seg_ctx *s)
{
    return has(s, TW_TCP_FIN) && !has(s, TW_TCP_RST) && !has(s, TW_TCP_SYN) &&
           s->orig_seq + (uint32_t)s->r.payload_len + 1 == t->rcv_nxt;
}

static void segment_for_tcb(tw_tcp *tcp, tcb *t, seg_ctx *s)
{
    if (t->state == TW_TCP_SYN_SENT) {
        on_syn_sent_segment(tcp, t, s);
        return;
    }
    if (t->state == TW_TCP_SYN_RECEIVED && has(s, TW_TCP_SYN) && !has(s, TW_TCP_ACK) &&
        !has(s, TW_TCP_RST) && s->orig_seq == t->irs) {
        /* The peer's SYN again: our SYN-ACK was lost. Resend it now
         * rather than ACK (which the peer in SYN-SENT would drop). */
        t->snd_nxt = t->iss;
        tcp_txq_mark(tcp, t);
        return;
    }
    if (t->state == TW_TCP_SYN_RECEIVED && !(t->flags & TCB_PASSIVE) && has(s, TW_TCP_SYN) &&
        has(s, TW_TCP_ACK) && s->orig_seq + 1 == t->rcv_nxt) {
        /* Simultaneous open, RFC 9293 §3.5 figure 8 line 6: the peer's
         * SYN-ACK repeats its SYN, which the first check would refuse.
         * Take it as the ACK it carries (Linux does the same). */
        s->r.flags &= (uint8_t)~TW_TCP_SYN;
        s->seq = s->orig_seq = s->orig_seq + 1;
    }
    if (t->state == TW_TCP_TIME_WAIT) {
        tcp_listener *l = tcp_find_listener(tcp, s->dst, s->r.dst_port);
        if (l != NULL && time_wait_reusable(t, s)) {
            on_time_wait_syn(tcp, t, l, s);
            return;
        }
        if (is_time_wait_fin_rtx(t, s) && check_paws(tcp, t, s)) {
            on_time_wait_fin(tcp, t, s->now);
            return;
        }
    }
    segment_arrives(tcp, t, s);
}

static bool addr_ok(tw_ipv4_addr a)
{
    return !tw_ipv4_addr_is_unspecified(a) && !tw_ipv4_addr_is_broadcast(a) &&
           !tw_ipv4_addr_is_multicast(a);
}

/* The connection whose receive ring the segment's payload may be copied
 * into before anything is decided (the common case of a bulk receiver):
 * established, nothing out of order, the segment at RCV.NXT and fitting
 * the free space. Free space past the readable bytes holds nothing then,
 * so writing there is harmless whatever the segment turns out to be. */
static tcb *placing_target(tw_tcp *tcp, const uint8_t *seg, size_t len, const seg_ctx *s)
{
    size_t header = tw_tcp_header_len(seg);
    if (len == header) {
        return NULL;
    }
    tcb *t = tcp_lookup(tcp, s->dst, tw_tcp_dst_port(seg), s->src, tw_tcp_src_port(seg));
    if (t == NULL || t->state != TW_TCP_ESTABLISHED || t->buf == TCP_NONE || t->reasm_n != 0 ||
        tw_tcp_seq(seg) != t->rcv_nxt || len - header > t->rbuf.cap - t->rbuf.len) {
        return NULL;
    }
    return t;
}

/* tw_tcp_parse, except that a payload placing_target accepts is copied
 * into the receive ring while its checksum is taken (tw_csum_copy): one
 * pass over the bytes instead of a checksum here and a copy in
 * receive_data, which then finds them in place. The checksum is still
 * verified before anything else looks at the segment. */
static int parse_placing(tw_tcp *tcp, const uint8_t *seg, size_t len, seg_ctx *s)
{
    s->placed = NULL;
    tcb *t = NULL;
    if (tw_tcp_view_check(seg, len) == 0 && len <= TW_IPV4_TOTAL_LEN_MAX - TW_IPV4_HEADER_LEN) {
        t = placing_target(tcp, seg, len, s);
    }
    if (t == NULL) {
        return tw_tcp_parse(seg, len, s->src, s->dst, &s->r);
    }
    size_t header = tw_tcp_header_len(seg);
    uint32_t n = (uint32_t)(len - header);
    uint32_t pos = ring_pos(&t->rbuf, t->rbuf.len);
    uint32_t sum = tw_csum_pseudo_ipv4(s->src, s->dst, TW_IP_PROTO_TCP, (uint16_t)len);
    sum = tw_csum_add(sum, seg, header);
    /* The header is a multiple of 4 bytes: the payload's sum adds as is. */
    sum += tcp_ring_copy_sum(&t->rbuf, t->rbuf.len, seg + header, n);
    if (!tw_csum_ok(sum)) {
        return -TW_EBADCSUM;
    }
    s->placed = t;
    s->placed_from = seg + header;
    s->placed_pos = pos;
    s->placed_len = n;
    return tw_tcp_parse_summed(seg, len, &s->r);
}

void tw_tcp_on_segment(tw_tcp *tcp, tw_ns now, tw_ipv4_addr src, tw_ipv4_addr dst,
                       const uint8_t *seg, size_t len)
{
    tcp_out_reclaim(tcp);
    TW_ASSERT(now >= tcp->last_now);
    tcp->last_now = now;
    tcp->stats.segs_in++;
    /* Not zero-initialised: parse writes every field of s.r, and clearing
     * the whole context costs more than the rest of this function. */
    seg_ctx s;
    s.src = src;
    s.dst = dst;
    s.now = now;
    int err = parse_placing(tcp, seg, len, &s);
    if (err < 0) {
        tcp_drop(tcp, err == -TW_EBADCSUM ? TW_TCP_DROP_BAD_CHECKSUM : TW_TCP_DROP_MALFORMED);
        return;
    }
    if (!addr_ok(src) || !addr_ok(dst)) {
        tcp_drop(tcp, TW_TCP_DROP_BAD_ADDRESS); /* RFC 1122 §4.2.3.10 */
        return;
    }
    s.seq = s.orig_seq = s.r.seq;
    tcb *t = s.placed != NULL ? s.placed : tcp_lookup(tcp, dst, s.r.dst_port, src, s.r.src_port);
    if (t == NULL) {
        tcp_listener *l = tcp_find_listener(tcp, dst, s.r.dst_port);
        if (l != NULL) {
            on_listen_segment(tcp, l, &s);
        } else {
            on_closed_segment(tcp, &s);
        }
        return;
    }
    uint32_t i = tcb_index(tcp, t);
    uint32_t gen = tcp->gens[i];
    segment_for_tcb(tcp, t, &s);
    if (tcp->gens[i] == gen && t->state != TW_TCP_CLOSED) {
        tcp_timer_sync(tcp, t); /* still alive: its deadlines may have moved */
        tcp_tcb_check(tcp, t);
    }
}
