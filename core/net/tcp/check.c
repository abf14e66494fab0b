/* The instance-wide invariant checker (tw_tcp_check): what must hold of a
 * TCP instance between entry points, checked from the outside and reported
 * as a message rather than asserted, so that a fuzz target can check after
 * every step and a test can break an invariant on purpose and see it named.
 *
 * Reading list: RFC 9293 §3.3.1 (the send and receive sequence variables
 * and how they are ordered), §3.8.6 (windows), RFC 6298 §5 (the
 * retransmission timer runs while data is outstanding), RFC 7323 §2.3 (the
 * largest window shift).
 *
 * tcp_tcb_check (tcp.c) asserts the per-TCB part on the hot path; this file
 * adds what only a walk over the whole instance can see: the tables, the
 * queues, the buffer pool, the listeners' counts, the timers against the
 * wheel, the counters. It reads only, allocates nothing, and is O(conns_max
 * + buckets + listeners). */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "base/error.h"
#include "net/tcp/tcb.h"

typedef struct check_ctx {
    const tw_tcp *tcp;
    char *why;
    size_t why_len;
} check_ctx;

/* Records the first broken invariant. Always returns -TW_EINVAL, so a check
 * reads `if (bad) return fail(c, ...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(check_ctx *c, const char *fmt, ...)
{
    if (c->why != NULL && c->why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, c->why_len, fmt, ap);
        va_end(ap);
    }
    return -TW_EINVAL;
}

static bool slot_taken(const tw_tcp *tcp, uint32_t i)
{
    return tcp->tcbs.next_free[i] == TW_POOL_TAKEN;
}

static tw_ns earliest_deadline(const tcb *t)
{
    return tw_ns_min(tw_ns_min(t->rtx_at, t->persist_at),
                     tw_ns_min(tw_ns_min(t->delack_at, t->keepalive_at), t->timewait_at));
}

/* RFC 9293 §3.3.1: ISS =< SND.UNA =< SND.NXT =< SND.MAX, and the send ring
 * holds every byte from its head that was sent and not acknowledged. */
static int check_send(check_ctx *c, uint32_t i, const tcb *t)
{
    if (!seq_le(t->snd_una, t->snd_nxt)) {
        return fail(c, "tcb %u: SND.UNA %u > SND.NXT %u", i, t->snd_una, t->snd_nxt);
    }
    if (!seq_le(t->snd_nxt, t->snd_max)) {
        return fail(c, "tcb %u: SND.NXT %u > SND.MAX %u", i, t->snd_nxt, t->snd_max);
    }
    if (t->state != TW_TCP_CLOSED && !seq_le(t->iss, t->snd_una)) {
        return fail(c, "tcb %u: SND.UNA %u before ISS %u", i, t->snd_una, t->iss);
    }
    if (t->state == TW_TCP_SYN_SENT || t->state == TW_TCP_SYN_RECEIVED) {
        if (t->snd_una != t->iss) {
            return fail(c, "tcb %u: %s with SND.UNA %u != ISS %u", i,
                        tw_tcp_state_name((tw_tcp_state)t->state), t->snd_una, t->iss);
        }
    }
    if (t->state >= TW_TCP_ESTABLISHED && t->state != TW_TCP_CLOSED &&
        !seq_gt(t->snd_una, t->iss)) {
        return fail(c, "tcb %u: %s but our SYN (ISS %u) is unacknowledged (SND.UNA %u)", i,
                    tw_tcp_state_name((tw_tcp_state)t->state), t->iss, t->snd_una);
    }
    if (t->buf == TCP_NONE || !tcb_synchronized(t)) {
        return 0;
    }
    if (t->sbuf.len > t->sbuf.cap || t->sbuf.head >= t->sbuf.cap) {
        return fail(c, "tcb %u: send ring len %u head %u, capacity %u", i, t->sbuf.len,
                    t->sbuf.head, t->sbuf.cap);
    }
    uint32_t end = t->snd_buf_seq + t->sbuf.len;
    if (t->flags & TCB_FIN_QUEUED) {
        if (t->fin_seq != end) {
            return fail(c, "tcb %u: FIN at %u, not after the send ring's last byte %u", i,
                        t->fin_seq, end);
        }
        end++;
    }
    if (!seq_le(t->snd_max, end)) {
        return fail(c, "tcb %u: SND.MAX %u past the data queued (ends at %u)", i, t->snd_max,
                    end);
    }
    return 0;
}

/* The receive ring holds the readable bytes and, past RCV.NXT, room for
 * everything the window lets in: out-of-order ranges lie inside that room,
 * sorted and apart. */
static int check_receive(check_ctx *c, uint32_t i, const tcb *t)
{
    if (t->reasm_n > c->tcp->cfg.reasm_ranges_max) {
        return fail(c, "tcb %u: %u out-of-order ranges, limit %u", i, t->reasm_n,
                    c->tcp->cfg.reasm_ranges_max);
    }
    for (uint32_t k = 0; k < t->reasm_n; k++) {
        const tcp_range *r = &t->reasm[k];
        if (!seq_gt(r->left, t->rcv_nxt) || !seq_lt(r->left, r->right)) {
            return fail(c, "tcb %u: range %u [%u, %u) not past RCV.NXT %u or empty", i, k,
                        r->left, r->right, t->rcv_nxt);
        }
        if (k > 0 && !seq_gt(r->left, t->reasm[k - 1].right)) {
            return fail(c, "tcb %u: ranges %u and %u overlap or touch", i, k - 1, k);
        }
    }
    if (t->buf == TCP_NONE || !tcb_synchronized(t)) {
        return 0;
    }
    if (t->rbuf.len > t->rbuf.cap || t->rbuf.head >= t->rbuf.cap) {
        return fail(c, "tcb %u: receive ring len %u head %u, capacity %u", i, t->rbuf.len,
                    t->rbuf.head, t->rbuf.cap);
    }
    uint32_t room_end = t->rcv_nxt + (t->rbuf.cap - t->rbuf.len);
    /* The window we advertised never promises more than the ring can hold
     * (tcb.h: so any acceptable segment fits where it belongs). */
    if (seq_gt(t->rcv_adv, room_end)) {
        return fail(c, "tcb %u: advertised right edge %u past the receive ring's room (ends %u)",
                    i, t->rcv_adv, room_end);
    }
    if (t->reasm_n > 0 && seq_gt(t->reasm[t->reasm_n - 1].right, room_end)) {
        return fail(c, "tcb %u: out-of-order data up to %u past the ring's room (ends %u)", i,
                    t->reasm[t->reasm_n - 1].right, room_end);
    }
    return 0;
}

/* One wheel timer at the earliest logical deadline (tcp_timer_sync), and
 * the deadlines each state allows. */
/* A byte of the send ring as the application wrote it: the header room a
 * segment built in place borrows reads from where it was saved. */
static uint8_t send_byte(const tw_tcp *tcp, const tcb *t, uint32_t off)
{
    const uint8_t *p = t->sbuf.mem + ring_pos(&t->sbuf, off);
    if (tcp->lent_len != 0 && p >= tcp->lent_at && p < tcp->lent_at + tcp->lent_len) {
        return tcp->lent_save[p - tcp->lent_at];
    }
    return *p;
}

/* The send chunks (sums.c): in sequence order inside the send ring, and
 * each one's sum that of its bytes, recomputed byte by byte (RFC 1071: the
 * byte at an even offset is the high half of its word). */
static int check_sums(check_ctx *c, uint32_t i, const tcb *t)
{
    const tw_tcp *tcp = c->tcp;
    if (t->ch_len > tcp->chunks_max || t->ch_head >= tcp->chunks_max) {
        return fail(c, "tcb %u: %u send chunks from %u of %u", i, t->ch_len, t->ch_head,
                    tcp->chunks_max);
    }
    const tcp_chunk *ring = tcp_chunks(tcp, t);
    uint32_t end = t->snd_buf_seq + t->sbuf.len;
    uint32_t prev_end = t->snd_buf_seq;
    for (uint32_t k = 0; k < t->ch_len; k++) {
        const tcp_chunk *ch = &ring[(t->ch_head + k) % tcp->chunks_max];
        if (ch->len == 0 || seq_gt(ch->seq + ch->len, end) ||
            seq_le(ch->seq + ch->len, t->snd_buf_seq) || (k > 0 && seq_lt(ch->seq, prev_end))) {
            return fail(c, "tcb %u: send chunk %u [%u, +%u) out of order or outside [%u, %u)", i,
                        k, ch->seq, ch->len, t->snd_buf_seq, end);
        }
        prev_end = ch->seq + ch->len;
        uint64_t sum = 0;
        for (uint32_t b = 0; b < ch->len; b++) {
            uint32_t seq = ch->seq + b;
            if (seq_lt(seq, t->snd_buf_seq)) {
                continue; /* acknowledged: no longer in the ring */
            }
            uint8_t v = send_byte(tcp, t, seq - t->snd_buf_seq);
            sum += (b & 1) ? v : (uint32_t)v << 8;
        }
        if (seq_ge(ch->seq, t->snd_buf_seq) && sum % 0xffff != ch->sum % 0xffffu) {
            return fail(c, "tcb %u: send chunk %u [%u, +%u) sums to 0x%04x, holds 0x%04x", i, k,
                        ch->seq, ch->len, (unsigned)(sum % 0xffff), ch->sum);
        }
    }
    return 0;
}

static int check_timers(check_ctx *c, uint32_t i, const tcb *t)
{
    tw_ns d = earliest_deadline(t);
    bool armed = tw_timer_armed(&t->timer);
    if (armed != (d != TW_NS_NEVER)) {
        return fail(c, "tcb %u (%s): wheel timer %s but earliest deadline %llu", i,
                    tw_tcp_state_name((tw_tcp_state)t->state), armed ? "armed" : "idle",
                    (unsigned long long)d);
    }
    if (armed && t->timer.deadline != d) {
        return fail(c, "tcb %u: wheel timer at %llu, earliest deadline %llu", i,
                    (unsigned long long)t->timer.deadline, (unsigned long long)d);
    }
    if (t->rtx_at != TW_NS_NEVER && t->persist_at != TW_NS_NEVER) {
        return fail(c, "tcb %u: retransmission and persist timers both armed", i);
    }
    if ((t->state == TW_TCP_TIME_WAIT) != (t->timewait_at != TW_NS_NEVER)) {
        return fail(c, "tcb %u (%s): TIME-WAIT timer %s", i,
                    tw_tcp_state_name((tw_tcp_state)t->state),
                    t->timewait_at != TW_NS_NEVER ? "armed" : "idle");
    }
    if ((t->state == TW_TCP_TIME_WAIT || t->state == TW_TCP_CLOSED) && t->rtx_at != TW_NS_NEVER) {
        return fail(c, "tcb %u (%s): retransmission timer armed", i,
                    tw_tcp_state_name((tw_tcp_state)t->state));
    }
    if (t->state == TW_TCP_CLOSED && d != TW_NS_NEVER) {
        return fail(c, "tcb %u: CLOSED with a deadline at %llu", i, (unsigned long long)d);
    }
    /* RFC 6298 §5.1-5.2: while sent data (or a SYN or FIN) is unacknowledged
     * the retransmission timer runs; a zero window hands over to the
     * persist timer, which probes instead. */
    bool outstanding = t->snd_una != t->snd_max;
    bool live = t->state != TW_TCP_CLOSED && t->state != TW_TCP_TIME_WAIT;
    if (live && outstanding && t->rtx_at == TW_NS_NEVER && t->persist_at == TW_NS_NEVER) {
        return fail(c, "tcb %u (%s): %u bytes outstanding and no retransmission or persist timer",
                    i, tw_tcp_state_name((tw_tcp_state)t->state), t->snd_max - t->snd_una);
    }
    return 0;
}

static int check_tcb(check_ctx *c, uint32_t i, const tcb *t)
{
    const tw_tcp *tcp = c->tcp;
    if (t->state >= TW_TCP_STATE_COUNT || t->state == TW_TCP_LISTEN) {
        return fail(c, "tcb %u: state %u", i, t->state);
    }
    if (t->timer.owner != i) {
        return fail(c, "tcb %u: timer owner %u", i, t->timer.owner);
    }
    if (t->state == TW_TCP_CLOSED) {
        if (!(t->flags & TCB_APP_OWNED)) {
            return fail(c, "tcb %u: CLOSED, not owned by the application, not freed", i);
        }
        if (t->flags & (TCB_IN_HASH | TCB_IN_TXQ)) {
            return fail(c, "tcb %u: CLOSED but still hashed or queued to send", i);
        }
    } else if (!(t->flags & TCB_IN_HASH)) {
        return fail(c, "tcb %u (%s): not in the 4-tuple table", i,
                    tw_tcp_state_name((tw_tcp_state)t->state));
    }
    if ((t->flags & TCB_SYN_Q) && (t->flags & TCB_ACCEPT_Q)) {
        return fail(c, "tcb %u: in its listener's SYN and accept queues at once", i);
    }
    if ((t->flags & TCB_SYN_Q) && t->state != TW_TCP_SYN_RECEIVED) {
        return fail(c, "tcb %u (%s): counted in a SYN queue", i,
                    tw_tcp_state_name((tw_tcp_state)t->state));
    }
    if ((t->flags & (TCB_SYN_Q | TCB_ACCEPT_Q)) && t->listener >= tcp->cfg.listeners_max) {
        return fail(c, "tcb %u: queued on listener %u of %u", i, t->listener,
                    tcp->cfg.listeners_max);
    }
    if (t->ev_pending != 0 && !(t->flags & TCB_IN_EVQ)) {
        return fail(c, "tcb %u: events 0x%x pending but not on the event queue", i,
                    t->ev_pending);
    }
    if (t->buf != TCP_NONE && t->buf >= tcp->cfg.bufs_max) {
        return fail(c, "tcb %u: buffer pair %u of %u", i, t->buf, tcp->cfg.bufs_max);
    }
    if (tcb_synchronized(t) && t->state != TW_TCP_TIME_WAIT && t->state != TW_TCP_CLOSED) {
        if (t->snd_mss == 0 || t->snd_mss > tcp->mss_local) {
            return fail(c, "tcb %u: send MSS %u outside 1..%u", i, t->snd_mss, tcp->mss_local);
        }
        if (t->cc.cwnd == 0) {
            return fail(c, "tcb %u: congestion window 0", i);
        }
        if (t->buf == TCP_NONE) {
            return fail(c, "tcb %u (%s): no buffers", i,
                        tw_tcp_state_name((tw_tcp_state)t->state));
        }
    }
    if (t->snd_wscale > TW_TCP_WSCALE_MAX || t->rcv_wscale > TW_TCP_WSCALE_MAX) {
        return fail(c, "tcb %u: window shifts %u/%u over 14 (RFC 7323 §2.3)", i, t->snd_wscale,
                    t->rcv_wscale);
    }
    int err = check_send(c, i, t);
    if (err == 0 && t->buf != TCP_NONE) {
        err = check_sums(c, i, t);
    }
    if (err == 0) {
        err = check_receive(c, i, t);
    }
    if (err == 0) {
        err = check_timers(c, i, t);
    }
    return err;
}

/* An intrusive queue: links agree both ways, every member carries the flag,
 * and it ends within conns_max steps. Returns the member count or an
 * error. */
static int64_t check_queue(check_ctx *c, const char *name, tcb_queue q, size_t link,
                           uint32_t flag)
{
    const tw_tcp *tcp = c->tcp;
    uint32_t prev = TCP_NONE;
    int64_t n = 0;
    for (uint32_t i = q.head; i != TCP_NONE;) {
        if (i >= tcp->cfg.conns_max || n >= tcp->cfg.conns_max) {
            return fail(c, "%s: link %u or length %lld out of range", name, i, (long long)n);
        }
        const tcb *t = tcb_at(tcp, i);
        const tcb_link *l = (const tcb_link *)((const char *)t + link);
        if (!slot_taken(tcp, i) || !(t->flags & flag)) {
            return fail(c, "%s: member %u is free or not flagged", name, i);
        }
        if (l->prev != prev) {
            return fail(c, "%s: member %u links back to %u, not %u", name, i, l->prev, prev);
        }
        prev = i;
        i = l->next;
        n++;
    }
    if (q.tail != prev) {
        return fail(c, "%s: tail %u, last member %u", name, q.tail, prev);
    }
    return n;
}

/* Every hashed TCB is reachable from its bucket, chains are acyclic, and
 * nothing unhashed is chained. */
static int check_hash(check_ctx *c, uint32_t hashed)
{
    const tw_tcp *tcp = c->tcp;
    uint32_t chained = 0;
    for (uint32_t b = 0; b <= tcp->bucket_mask; b++) {
        uint32_t steps = 0;
        for (uint32_t i = tcp->buckets[b]; i != TCP_NONE; i = tcb_at(tcp, i)->hash_next) {
            if (i >= tcp->cfg.conns_max || ++steps > tcp->cfg.conns_max) {
                return fail(c, "bucket %u: link %u or a cycle", b, i);
            }
            if (!slot_taken(tcp, i) || !(tcb_at(tcp, i)->flags & TCB_IN_HASH)) {
                return fail(c, "bucket %u: tcb %u chained but free or not hashed", b, i);
            }
            chained++;
        }
    }
    if (chained != hashed) {
        return fail(c, "%u TCBs flagged hashed, %u chained", hashed, chained);
    }
    return 0;
}

typedef struct tally {
    uint32_t live;
    uint32_t hashed;
    uint32_t in_txq;
    uint32_t in_evq;
    uint32_t with_buf;
} tally;

static int check_tcbs(check_ctx *c, tally *n)
{
    const tw_tcp *tcp = c->tcp;
    for (uint32_t i = 0; i < tcp->cfg.conns_max; i++) {
        if (!slot_taken(tcp, i)) {
            continue;
        }
        const tcb *t = tcb_at(tcp, i);
        int err = check_tcb(c, i, t);
        if (err < 0) {
            return err;
        }
        n->live++;
        n->hashed += (t->flags & TCB_IN_HASH) ? 1 : 0;
        n->in_txq += (t->flags & TCB_IN_TXQ) ? 1 : 0;
        n->in_evq += (t->flags & TCB_IN_EVQ) ? 1 : 0;
        n->with_buf += t->buf != TCP_NONE ? 1 : 0;
    }
    if (n->live != tcp->tcbs.in_use) {
        return fail(c, "%u TCB slots taken, pool says %u in use", n->live, tcp->tcbs.in_use);
    }
    if (n->with_buf + tcp->buf_free_n != tcp->cfg.bufs_max) {
        return fail(c, "%u buffer pairs held + %u free != %u", n->with_buf, tcp->buf_free_n,
                    tcp->cfg.bufs_max);
    }
    return 0;
}

/* Each listener's SYN and accept counts are the TCBs that carry its mark. */
static int check_listeners(check_ctx *c)
{
    const tw_tcp *tcp = c->tcp;
    for (uint32_t l = 0; l < tcp->cfg.listeners_max; l++) {
        const tcp_listener *ls = &tcp->listeners[l];
        uint32_t syn = 0, acc = 0;
        for (uint32_t i = 0; i < tcp->cfg.conns_max; i++) {
            const tcb *t = tcb_at(tcp, i);
            if (!slot_taken(tcp, i) || t->listener != l) {
                continue;
            }
            syn += (t->flags & TCB_SYN_Q) ? 1 : 0;
            acc += (t->flags & TCB_ACCEPT_Q) ? 1 : 0;
        }
        if (syn != ls->syn_count || acc != ls->accept_count) {
            return fail(c, "listener %u: counts SYN %u accept %u, TCBs say %u and %u", l,
                        ls->syn_count, ls->accept_count, syn, acc);
        }
        if (!ls->used && (syn != 0 || acc != 0)) {
            continue; /* unlistened: its queued children live on */
        }
        if (ls->used && syn > tcp->cfg.syn_backlog) {
            return fail(c, "listener %u: %u in SYN-RECEIVED, backlog %u", l, syn,
                        tcp->cfg.syn_backlog);
        }
    }
    return 0;
}

static int check_counters(check_ctx *c)
{
    const tw_tcp *tcp = c->tcp;
    const tw_tcp_stats *st = &tcp->stats;
    uint64_t sum = 0;
    for (uint32_t d = 0; d < TW_TCP_DROP_COUNT; d++) {
        sum += st->drops[d];
    }
    if (sum != st->drops_total) {
        return fail(c, "drops by reason sum to %llu, drops_total %llu", (unsigned long long)sum,
                    (unsigned long long)st->drops_total);
    }
    if (st->drops_total > st->segs_in) {
        return fail(c, "%llu segments dropped of %llu received",
                    (unsigned long long)st->drops_total, (unsigned long long)st->segs_in);
    }
    if (st->established > st->active_opens + st->passive_opens) {
        return fail(c, "%llu established of %llu active + %llu passive opens",
                    (unsigned long long)st->established, (unsigned long long)st->active_opens,
                    (unsigned long long)st->passive_opens);
    }
    if (tcp->ctl_len > tcp->cfg.ctl_queue_max || tcp->ctl_head >= tcp->cfg.ctl_queue_max) {
        return fail(c, "control queue head %u len %u, limit %u", tcp->ctl_head, tcp->ctl_len,
                    tcp->cfg.ctl_queue_max);
    }
    return 0;
}

int tw_tcp_check(const tw_tcp *tcp, char *why, size_t why_len)
{
    check_ctx c = {.tcp = tcp, .why = why, .why_len = why_len};
    if (why != NULL && why_len > 0) {
        why[0] = '\0';
    }
    tally n = {0};
    int err = check_tcbs(&c, &n);
    if (err < 0) {
        return err;
    }
    if ((err = check_hash(&c, n.hashed)) < 0) {
        return err;
    }
    int64_t txq = check_queue(&c, "transmit queue", tcp->txq, offsetof(tcb, txq), TCB_IN_TXQ);
    if (txq < 0) {
        return (int)txq;
    }
    if ((uint32_t)txq != n.in_txq) {
        return fail(&c, "transmit queue holds %lld, %u flagged", (long long)txq, n.in_txq);
    }
    int64_t evq = check_queue(&c, "event queue", tcp->evq, offsetof(tcb, evq), TCB_IN_EVQ);
    if (evq < 0) {
        return (int)evq;
    }
    if ((uint32_t)evq != n.in_evq) {
        return fail(&c, "event queue holds %lld, %u flagged", (long long)evq, n.in_evq);
    }
    if ((err = check_listeners(&c)) < 0) {
        return err;
    }
    return check_counters(&c);
}
