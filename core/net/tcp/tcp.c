/* The TCP instance: configuration, tables (TCBs by 4-tuple, listeners,
 * buffers), handles, the transmit and event queues, and the application
 * verbs. Segment processing is in input.c, segment building in output.c,
 * timers in timers.c.
 *
 * Reading list: RFC 9293 §3.10.1-§3.10.6 (the user calls OPEN, SEND,
 * RECEIVE, CLOSE, ABORT, STATUS and what each does in each state), RFC 1122
 * §4.2.3.6 (keep-alives), RFC 6056 and RFC 6191 (choosing ports, reusing a
 * 4-tuple in TIME-WAIT). */
#include "net/tcp/tcb.h"

#include <stddef.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "base/mem.h"
#include "base/rng.h"

static const char *const state_names[TW_TCP_STATE_COUNT] = {
    "CLOSED",     "LISTEN",     "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
    "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING",  "LAST-ACK",     "TIME-WAIT",
};

const char *tw_tcp_state_name(tw_tcp_state s)
{
    TW_ASSERT((unsigned)s < TW_TCP_STATE_COUNT);
    return state_names[s];
}

static const char *const drop_names[TW_TCP_DROP_COUNT] = {
#define TW_TCP_DROP_NAME(name, msg) #name,
    TW_TCP_DROPS(TW_TCP_DROP_NAME)
#undef TW_TCP_DROP_NAME
};

const char *tw_tcp_drop_name(tw_tcp_drop d)
{
    TW_ASSERT((unsigned)d < TW_TCP_DROP_COUNT);
    return drop_names[d];
}

void tw_tcp_config_default(tw_tcp_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->conns_max = 1024;
    cfg->listeners_max = 16;
    cfg->snd_buf_bytes = 64 * 1024;
    cfg->rcv_buf_bytes = 64 * 1024;
    cfg->ctl_queue_max = 64;
    cfg->syn_backlog = 128;
    cfg->mtu = 1500;
    cfg->reasm_ranges_max = TW_TCP_REASM_MAX;
    cfg->window_scaling = true;
    cfg->timestamps = true;
    cfg->initial_window_segs = 10;
    cfg->rto_initial_ns = TW_SEC(1);
    cfg->rto_min_ns = TW_MS(200);
    cfg->rto_max_ns = TW_SEC(60);
    cfg->syn_retries = 6;
    cfg->synack_retries = 5;
    cfg->rto_retries = 15;
    cfg->delack_ns = TW_MS(40);
    cfg->delack_segs = 2;
    cfg->msl_ns = TW_SEC(30);
    cfg->keepalive_idle_ns = TW_SEC(7200);
    cfg->keepalive_intvl_ns = TW_SEC(75);
    cfg->keepalive_probes = 9;
    cfg->challenge_acks_per_sec = 1000;
    cfg->ephemeral_lo = 32768;
    cfg->ephemeral_hi = 60999;
    cfg->ncores = 1;
}

static void config_check(const tw_tcp_config *c)
{
    TW_ASSERT(c->conns_max > 0);
    TW_ASSERT(c->conns_max < (1u << 30));
    TW_ASSERT(c->bufs_max <= c->conns_max);
    TW_ASSERT(c->listeners_max > 0);
    TW_ASSERT(c->listeners_max < UINT16_MAX);
    TW_ASSERT(c->snd_buf_bytes > 0);
    TW_ASSERT(c->rcv_buf_bytes > 0);
    TW_ASSERT(c->rcv_buf_bytes <= (1u << 30)); /* RFC 7323 §2.3 */
    TW_ASSERT(c->snd_buf_bytes <= (1u << 30));
    TW_ASSERT(c->ctl_queue_max > 0);
    TW_ASSERT(c->mtu >= 128);
    TW_ASSERT(c->reasm_ranges_max <= TW_TCP_REASM_MAX);
    TW_ASSERT(c->initial_window_segs > 0);
    TW_ASSERT(c->rto_min_ns > 0);
    TW_ASSERT(c->rto_min_ns <= c->rto_max_ns);
    TW_ASSERT(c->rto_initial_ns >= c->rto_min_ns);
    TW_ASSERT(c->rto_initial_ns <= c->rto_max_ns);
    TW_ASSERT(c->delack_segs > 0);
    TW_ASSERT(c->ephemeral_lo > 0);
    TW_ASSERT(c->ephemeral_lo <= c->ephemeral_hi);
    TW_ASSERT(c->ncores > 0);
    TW_ASSERT(c->core < c->ncores);
}

static size_t align64(size_t n)
{
    return (n + 63u) & ~(size_t)63u;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 16;
    while (p < n) {
        p <<= 1;
    }
    return p;
}

tw_tcp *tw_tcp_create(const tw_tcp_config *cfg, tw_ns now)
{
    config_check(cfg);
    tw_tcp *tcp = tw_mem_calloc(1, sizeof(*tcp));
    tcp->cfg = *cfg;
    if (tcp->cfg.bufs_max == 0) {
        tcp->cfg.bufs_max = cfg->conns_max;
    }
    tcp->cc = cfg->cc ? cfg->cc : &tw_tcp_cc_newreno;
    tw_pool_init(&tcp->tcbs, cfg->conns_max, sizeof(tcb));
    tcp->gens = tw_mem_calloc(cfg->conns_max, sizeof(uint32_t));
    for (uint32_t i = 0; i < cfg->conns_max; i++) {
        tcp->gens[i] = 1;
    }
    uint32_t nb = pow2_at_least(2 * cfg->conns_max);
    tcp->buckets = tw_mem_calloc(nb, sizeof(uint32_t));
    memset(tcp->buckets, 0xff, nb * sizeof(uint32_t));
    tcp->bucket_mask = nb - 1;
    tcp->last_hit = TCP_NONE;
    tcp->listeners = tw_mem_calloc(cfg->listeners_max, sizeof(tcp_listener));
    /* A pair: the send ring, the receive ring, the send chunks (sums.c:
     * one per 512 bytes covers segments of any MSS a peer may set, and a
     * full chunk ring only costs speed), each 64-byte aligned. */
    tcp->chunks_max = cfg->snd_buf_bytes / 512u + 4u;
    tcp->buf_pair = align64(cfg->snd_buf_bytes) + align64(cfg->rcv_buf_bytes) +
                    align64((size_t)tcp->chunks_max * sizeof(tcp_chunk));
    tcp->buf_mem = tw_mem_calloc(tcp->cfg.bufs_max, tcp->buf_pair);
    tcp->buf_free = tw_mem_calloc(tcp->cfg.bufs_max, sizeof(uint32_t));
    for (uint32_t i = 0; i < tcp->cfg.bufs_max; i++) {
        tcp->buf_free[i] = tcp->cfg.bufs_max - 1 - i; /* pops 0 first */
    }
    tcp->buf_free_n = tcp->cfg.bufs_max;
    tcp->ctlq = tw_mem_calloc(cfg->ctl_queue_max, sizeof(tcp_ctl));
    tcp->mss_local = (uint16_t)(cfg->mtu - TW_IPV4_HEADER_LEN - TW_TCP_HEADER_LEN);
    tcp->out_buf = tw_mem_calloc(1, TW_TCP_HEADER_LEN_MAX + tcp->mss_local);
    tcp->txq = (tcb_queue){TCP_NONE, TCP_NONE};
    tcp->evq = (tcb_queue){TCP_NONE, TCP_NONE};
    /* RFC 6528 §3: the secret key; derived from the seed so that a run
     * is reproducible, never from a clock. */
    uint64_t st = cfg->seed ^ 0x7463702d69736e00ull; /* "tcp-isn" */
    tcp->key.k0 = tw_splitmix64(&st);
    tcp->key.k1 = tw_splitmix64(&st);
    tcp->hash_salt = tw_splitmix64(&st);
    tcp->port_cursor = (uint32_t)tw_splitmix64(&st);
    tw_wheel_init(&tcp->wheel, now);
    tcp->last_now = now;
    return tcp;
}

void tw_tcp_destroy(tw_tcp *tcp)
{
    if (tcp == NULL) {
        return;
    }
    tw_pool_free(&tcp->tcbs);
    tw_mem_free(tcp->gens);
    tw_mem_free(tcp->buckets);
    tw_mem_free(tcp->listeners);
    tw_mem_free(tcp->buf_mem);
    tw_mem_free(tcp->buf_free);
    tw_mem_free(tcp->ctlq);
    tw_mem_free(tcp->out_buf);
    tw_mem_free(tcp);
}

/* ---- the 4-tuple table --------------------------------------------------- */

static uint32_t tuple_bucket(const tw_tcp *tcp, tw_ipv4_addr laddr, uint16_t lport,
                             tw_ipv4_addr raddr, uint16_t rport)
{
    /* Salted from the seed so that a peer cannot aim many tuples at one
     * bucket without knowing it. NOTE: a keyed mix, not SipHash, to keep
     * the per-segment cost low; chains stay bounded by conns_max anyway. */
    uint64_t x = ((uint64_t)laddr << 32 | raddr) ^ tcp->hash_salt;
    x = tw_mix64(x ^ ((uint64_t)lport << 16 | rport) * 0x9e3779b97f4a7c15ull);
    return (uint32_t)x & tcp->bucket_mask;
}

static bool tuple_is(const tcb *t, tw_ipv4_addr laddr, uint16_t lport, tw_ipv4_addr raddr,
                     uint16_t rport)
{
    return t->lport == lport && t->rport == rport && t->laddr == laddr && t->raddr == raddr;
}

tcb *tcp_lookup(tw_tcp *tcp, tw_ipv4_addr laddr, uint16_t lport, tw_ipv4_addr raddr, uint16_t rport)
{
    if (tcp->last_hit != TCP_NONE) {
        tcb *t = tcb_at(tcp, tcp->last_hit);
        if ((t->flags & TCB_IN_HASH) && tuple_is(t, laddr, lport, raddr, rport)) {
            return t;
        }
    }
    uint32_t i = tcp->buckets[tuple_bucket(tcp, laddr, lport, raddr, rport)];
    for (uint32_t steps = 0; i != TCP_NONE; steps++) {
        TW_ASSERT(steps < tcp->cfg.conns_max);
        tcb *t = tcb_at(tcp, i);
        if (tuple_is(t, laddr, lport, raddr, rport)) {
            tcp->last_hit = i;
            return t;
        }
        i = t->hash_next;
    }
    return NULL;
}

static void hash_insert(tw_tcp *tcp, tcb *t)
{
    TW_ASSERT(!(t->flags & TCB_IN_HASH));
    TW_ASSERT(tcp_lookup(tcp, t->laddr, t->lport, t->raddr, t->rport) == NULL);
    uint32_t b = tuple_bucket(tcp, t->laddr, t->lport, t->raddr, t->rport);
    t->hash_next = tcp->buckets[b];
    tcp->buckets[b] = tcb_index(tcp, t);
    t->flags |= TCB_IN_HASH;
}

static void hash_remove(tw_tcp *tcp, tcb *t)
{
    if (!(t->flags & TCB_IN_HASH)) {
        return;
    }
    uint32_t self = tcb_index(tcp, t);
    uint32_t *link = &tcp->buckets[tuple_bucket(tcp, t->laddr, t->lport, t->raddr, t->rport)];
    while (*link != self) {
        TW_ASSERT(*link != TCP_NONE);
        link = &tcb_at(tcp, *link)->hash_next;
    }
    *link = t->hash_next;
    t->hash_next = TCP_NONE;
    t->flags &= ~TCB_IN_HASH;
}

/* ---- intrusive queues ------------------------------------------------------ */

/* The two queues share these; `link` says which of the TCB's links (and so
 * which queue) is meant, as an offset into the TCB. */
static tcb_link *link_at(tw_tcp *tcp, uint32_t i, size_t link)
{
    return (tcb_link *)((char *)tcb_at(tcp, i) + link);
}

static void queue_append(tw_tcp *tcp, tcb_queue *q, tcb *t, size_t link)
{
    uint32_t i = tcb_index(tcp, t);
    tcb_link *l = link_at(tcp, i, link);
    l->prev = q->tail;
    l->next = TCP_NONE;
    if (q->tail != TCP_NONE) {
        link_at(tcp, q->tail, link)->next = i;
    } else {
        q->head = i;
    }
    q->tail = i;
}

static void queue_remove(tw_tcp *tcp, tcb_queue *q, tcb *t, size_t link)
{
    tcb_link *l = link_at(tcp, tcb_index(tcp, t), link);
    if (l->prev != TCP_NONE) {
        link_at(tcp, l->prev, link)->next = l->next;
    } else {
        q->head = l->next;
    }
    if (l->next != TCP_NONE) {
        link_at(tcp, l->next, link)->prev = l->prev;
    } else {
        q->tail = l->prev;
    }
    l->prev = l->next = TCP_NONE;
}

void tcp_txq_mark(tw_tcp *tcp, tcb *t)
{
    if (!(t->flags & TCB_IN_TXQ)) {
        queue_append(tcp, &tcp->txq, t, offsetof(tcb, txq));
        t->flags |= TCB_IN_TXQ;
    }
}

void tcp_txq_remove(tw_tcp *tcp, tcb *t)
{
    if (t->flags & TCB_IN_TXQ) {
        queue_remove(tcp, &tcp->txq, t, offsetof(tcb, txq));
        t->flags &= ~TCB_IN_TXQ;
    }
}

void tcp_event(tw_tcp *tcp, tcb *t, uint8_t ev)
{
    TW_ASSERT(ev != 0);
    t->ev_pending |= ev;
    if (!(t->flags & TCB_IN_EVQ)) {
        queue_append(tcp, &tcp->evq, t, offsetof(tcb, evq));
        t->flags |= TCB_IN_EVQ;
    }
}

static void evq_remove(tw_tcp *tcp, tcb *t)
{
    if (t->flags & TCB_IN_EVQ) {
        queue_remove(tcp, &tcp->evq, t, offsetof(tcb, evq));
        t->flags &= ~TCB_IN_EVQ;
    }
}

bool tcp_ctl_push(tw_tcp *tcp, const tcp_ctl *c)
{
    if (tcp->ctl_len == tcp->cfg.ctl_queue_max) {
        tcp->stats.ctl_queue_full++;
        return false;
    }
    uint32_t slot = (tcp->ctl_head + tcp->ctl_len) % tcp->cfg.ctl_queue_max;
    tcp->ctlq[slot] = *c;
    tcp->ctl_len++;
    return true;
}

void tcp_drop(tw_tcp *tcp, tw_tcp_drop why)
{
    TW_ASSERT((unsigned)why < TW_TCP_DROP_COUNT);
    tcp->stats.drops[why]++;
    tcp->stats.drops_total++;
}

/* ---- TCB lifetime ------------------------------------------------------------ */

static uint8_t wscale_for(uint32_t space)
{
    /* RFC 7323 §2.3: the smallest shift that lets the 16-bit field cover
     * the buffer, at most 14. */
    uint8_t s = 0;
    while (s < TW_TCP_WSCALE_MAX && (space >> s) > 0xffff) {
        s++;
    }
    return s;
}

static void buffers_attach(tw_tcp *tcp, tcb *t, uint32_t b)
{
    uint8_t *base = tcp->buf_mem + (size_t)b * tcp->buf_pair;
    t->buf = b;
    t->sbuf = (tcp_ring){.mem = base, .cap = tcp->cfg.snd_buf_bytes};
    t->rbuf = (tcp_ring){.mem = base + align64(tcp->cfg.snd_buf_bytes),
                         .cap = tcp->cfg.rcv_buf_bytes};
    tcp_sums_reset(t);
}

static void buffers_release(tw_tcp *tcp, tcb *t)
{
    if (t->buf == TCP_NONE) {
        return;
    }
    TW_ASSERT(tcp->buf_free_n < tcp->cfg.bufs_max);
    tcp->buf_free[tcp->buf_free_n++] = t->buf;
    t->buf = TCP_NONE;
    memset(&t->sbuf, 0, sizeof(t->sbuf));
    memset(&t->rbuf, 0, sizeof(t->rbuf));
}

static void tcb_init_fields(tw_tcp *tcp, tcb *t, tw_ns now)
{
    t->listener = UINT16_MAX;
    t->hash_next = TCP_NONE;
    t->txq = (tcb_link){TCP_NONE, TCP_NONE};
    t->evq = (tcb_link){TCP_NONE, TCP_NONE};
    t->rto = tcp->cfg.rto_initial_ns;
    t->rtx_at = t->persist_at = t->delack_at = TW_NS_NEVER;
    t->keepalive_at = t->timewait_at = TW_NS_NEVER;
    t->last_rcv_at = t->last_snd_at = now;
    t->ka_idle = tcp->cfg.keepalive_idle_ns;
    t->ka_intvl = tcp->cfg.keepalive_intvl_ns;
    t->ka_probes = tcp->cfg.keepalive_probes;
    if (tcp->cfg.keepalive) {
        t->flags |= TCB_KEEPALIVE;
    }
    if (tcp->cfg.nodelay) {
        t->flags |= TCB_NODELAY;
    }
    if (tcp->cfg.window_scaling) {
        t->flags |= TCB_WS_OK;
        t->rcv_wscale = wscale_for(tcp->cfg.rcv_buf_bytes);
    }
    if (tcp->cfg.timestamps) {
        t->flags |= TCB_TS_OK;
    }
    /* RFC 9293 §3.7.1: 536 until the peer's MSS option says otherwise. */
    t->snd_mss = (uint16_t)u32_min(536, tcp->mss_local);
    t->rcv_mss = t->snd_mss;
    tcp->cc->init(&t->cc, t->snd_mss, tw_tcp_cc_initial_window(t->snd_mss, 1));
}

tcb *tcp_tcb_new(tw_tcp *tcp, tw_ns now, tw_ipv4_addr laddr, uint16_t lport, tw_ipv4_addr raddr,
                 uint16_t rport, tw_tcp_drop *why)
{
    TW_ASSERT(lport != 0);
    TW_ASSERT(rport != 0);
    if (tcp->buf_free_n == 0) {
        *why = TW_TCP_DROP_NO_BUFFER;
        return NULL;
    }
    tcb *t = tw_pool_take(&tcp->tcbs);
    if (t == NULL) {
        *why = TW_TCP_DROP_NO_TCB;
        return NULL;
    }
    t->timer.owner = tw_pool_index(&tcp->tcbs, t);
    buffers_attach(tcp, t, tcp->buf_free[--tcp->buf_free_n]);
    t->laddr = laddr;
    t->lport = lport;
    t->raddr = raddr;
    t->rport = rport;
    t->state = TW_TCP_CLOSED;
    tcb_init_fields(tcp, t, now);
    t->ts_offset = tcp_ts_offset(tcp, laddr, lport, raddr, rport);
    hash_insert(tcp, t);
    return t;
}

static void listener_release(tw_tcp *tcp, tcb *t)
{
    if (t->listener == UINT16_MAX) {
        return;
    }
    tcp_listener *l = &tcp->listeners[t->listener];
    if (t->flags & TCB_SYN_Q) {
        TW_ASSERT(l->syn_count > 0);
        l->syn_count--;
    }
    if (t->flags & TCB_ACCEPT_Q) {
        TW_ASSERT(l->accept_count > 0);
        l->accept_count--;
    }
    t->flags &= ~(TCB_SYN_Q | TCB_ACCEPT_Q);
    t->listener = UINT16_MAX;
}

void tcp_tcb_free(tw_tcp *tcp, tcb *t)
{
    uint32_t i = tcb_index(tcp, t);
    tw_wheel_cancel(&tcp->wheel, &t->timer);
    hash_remove(tcp, t);
    tcp_txq_remove(tcp, t);
    evq_remove(tcp, t);
    listener_release(tcp, t);
    buffers_release(tcp, t);
    /* The next generation makes every handle to this slot stale. */
    tcp->gens[i] = (tcp->gens[i] + 1) & 0x7fffffffu;
    if (tcp->gens[i] == 0) {
        tcp->gens[i] = 1;
    }
    tw_pool_put(&tcp->tcbs, t);
}

void tcp_terminate(tw_tcp *tcp, tcb *t, tw_tcp_event_kind kind, int error)
{
    TW_ASSERT(kind == TW_TCP_EV_CLOSED || kind == TW_TCP_EV_RESET || kind == TW_TCP_EV_TIMED_OUT ||
              kind == TW_TCP_EV_COUNT);
    bool was_time_wait = t->state == TW_TCP_TIME_WAIT;
    tcp_cancel_timers(t);
    tw_wheel_cancel(&tcp->wheel, &t->timer);
    t->state = TW_TCP_CLOSED;
    t->flags &= ~(TCB_ACK_NOW | TCB_RTX_UNA | TCB_PROBE | TCB_KA_PROBE);
    hash_remove(tcp, t);
    tcp_txq_remove(tcp, t);
    if (tcp->listeners != NULL && (t->flags & TCB_SYN_Q)) {
        listener_release(tcp, t);
    }
    if (!(t->flags & TCB_APP_OWNED)) {
        tcp_tcb_free(tcp, t);
        return;
    }
    /* A TIME-WAIT connection still owned had its CLOSED event queued when
     * it entered TIME-WAIT; it stays queued. */
    if (was_time_wait || kind == TW_TCP_EV_COUNT) {
        return;
    }
    t->terminal = (uint8_t)kind;
    t->terminal_error = (int16_t)error;
    tcp_event(tcp, t, EV_TERMINAL);
}

/* ---- invariants -------------------------------------------------------------- */

static void check_send_space(const tcb *t)
{
    /* RFC 9293 §3.3.1 (plus SND.MAX): SND.UNA =< SND.NXT =< SND.MAX. */
    TW_ASSERT(seq_le(t->snd_una, t->snd_nxt));
    TW_ASSERT(seq_le(t->snd_nxt, t->snd_max));
    if (!tcb_synchronized(t) || t->buf == TCP_NONE) {
        return;
    }
    /* What was sent is still in the send ring (a FIN past it). */
    uint32_t end = t->snd_buf_seq + t->sbuf.len;
    if (t->flags & TCB_FIN_QUEUED) {
        TW_ASSERT(t->fin_seq == end);
        end++;
    }
    TW_ASSERT(seq_le(t->snd_max, end));
    /* The ring starts at SND.UNA, or just before it once the FIN is
     * acknowledged. */
    bool fin_acked = (t->flags & TCB_FIN_QUEUED) && t->snd_una == t->fin_seq + 1;
    TW_ASSERT(seq_le(t->snd_una, t->snd_buf_seq) || fin_acked);
}

static void check_receive_space(const tw_tcp *tcp, const tcb *t)
{
    TW_ASSERT(t->reasm_n <= tcp->cfg.reasm_ranges_max);
    for (uint32_t i = 0; i < t->reasm_n; i++) {
        /* Out-of-order ranges: past RCV.NXT, non-empty, sorted, apart. */
        TW_ASSERT(seq_gt(t->reasm[i].left, t->rcv_nxt));
        TW_ASSERT(seq_lt(t->reasm[i].left, t->reasm[i].right));
        TW_ASSERT(i == 0 || seq_gt(t->reasm[i].left, t->reasm[i - 1].right));
    }
    if (t->buf != TCP_NONE) {
        TW_ASSERT(t->rbuf.len <= t->rbuf.cap);
        TW_ASSERT(t->sbuf.len <= t->sbuf.cap);
        TW_ASSERT(t->rbuf.head < t->rbuf.cap);
        TW_ASSERT(t->sbuf.head < t->sbuf.cap);
    }
}

void tcp_tcb_check(const tw_tcp *tcp, const tcb *t)
{
    TW_ASSERT(t->state < TW_TCP_STATE_COUNT);
    TW_ASSERT(t->state != TW_TCP_LISTEN); /* listeners are not TCBs */
    check_send_space(t);
    check_receive_space(tcp, t);
    /* Retransmission and persist timers never run together. */
    TW_ASSERT(t->rtx_at == TW_NS_NEVER || t->persist_at == TW_NS_NEVER);
    if (t->state == TW_TCP_TIME_WAIT) {
        TW_ASSERT(t->timewait_at != TW_NS_NEVER);
        TW_ASSERT(t->rtx_at == TW_NS_NEVER);
    } else {
        TW_ASSERT(t->timewait_at == TW_NS_NEVER);
    }
    if (t->state == TW_TCP_CLOSED) {
        TW_ASSERT(!(t->flags & TCB_IN_HASH));
        TW_ASSERT(!(t->flags & TCB_IN_TXQ));
        TW_ASSERT(t->flags & TCB_APP_OWNED); /* else it would be free */
    } else {
        TW_ASSERT(t->flags & TCB_IN_HASH);
    }
    TW_ASSERT(!((t->flags & TCB_SYN_Q) && (t->flags & TCB_ACCEPT_Q)));
}

/* ---- handles ------------------------------------------------------------- */

static tcb *conn_get(const tw_tcp *tcp, tw_tcp_conn conn)
{
    if (conn <= 0) {
        return NULL;
    }
    uint32_t i = (uint32_t)conn;
    uint32_t gen = (uint32_t)((uint64_t)conn >> 32);
    if (i >= tcp->cfg.conns_max || tcp->gens[i] != gen) {
        return NULL;
    }
    tcb *t = tcb_at(tcp, i);
    if (!(t->flags & TCB_APP_OWNED)) {
        return NULL;
    }
    return t;
}

/* ---- events ---------------------------------------------------------------- */

/* The application is done with the connection: its handle goes stale. */
static void app_detach(tw_tcp *tcp, tcb *t)
{
    t->flags &= ~TCB_APP_OWNED;
    if (t->state == TW_TCP_CLOSED) {
        tcp_tcb_free(tcp, t);
        return;
    }
    TW_ASSERT(t->state == TW_TCP_TIME_WAIT);
    uint32_t i = tcb_index(tcp, t);
    tcp->gens[i] = (tcp->gens[i] + 1) & 0x7fffffffu;
    if (tcp->gens[i] == 0) {
        tcp->gens[i] = 1;
    }
    buffers_release(tcp, t);
}

/* Fills ev with connection t's next pending event; false if it had none.
 * Takes t off the event queue when nothing more is pending. */
static bool event_take(tw_tcp *tcp, tcb *t, tw_tcp_event *ev)
{
    while (t->ev_pending != 0) {
        uint8_t bit = (uint8_t)(t->ev_pending & -t->ev_pending);
        t->ev_pending &= (uint8_t)~bit;
        memset(ev, 0, sizeof(*ev));
        ev->conn = tcb_handle(tcp, t);
        if (bit == EV_TERMINAL) {
            ev->kind = (tw_tcp_event_kind)t->terminal;
            ev->error = t->terminal_error;
            t->ev_pending = 0;
            evq_remove(tcp, t);
            app_detach(tcp, t); /* may free t */
            return true;
        }
        if (bit == EV_DATA && t->rbuf.len == 0) {
            continue; /* consumed through recv_slice meanwhile */
        }
        switch (bit) {
        case EV_ACCEPTED:
            ev->kind = TW_TCP_EV_ACCEPTED;
            if (t->flags & TCB_ACCEPT_Q) {
                listener_release(tcp, t);
            }
            break;
        case EV_CONNECTED:
            ev->kind = TW_TCP_EV_CONNECTED;
            break;
        case EV_DATA:
            ev->kind = TW_TCP_EV_DATA;
            ev->data = t->rbuf.mem + t->rbuf.head;
            ev->len = u32_min(t->rbuf.len, t->rbuf.cap - t->rbuf.head);
            break;
        case EV_WRITABLE:
            ev->kind = TW_TCP_EV_WRITABLE;
            break;
        case EV_PEER_CLOSED:
            ev->kind = TW_TCP_EV_PEER_CLOSED;
            break;
        default:
            TW_UNREACHABLE();
        }
        if (t->ev_pending == 0) {
            evq_remove(tcp, t);
        }
        return true;
    }
    evq_remove(tcp, t);
    return false;
}

bool tw_tcp_pop_event(tw_tcp *tcp, tw_ns now, tw_tcp_event *ev)
{
    tcp_out_reclaim(tcp);
    TW_ASSERT(now >= tcp->last_now);
    tcp->last_now = now;
    while (tcp->evq.head != TCP_NONE) {
        if (event_take(tcp, tcb_at(tcp, tcp->evq.head), ev)) {
            return true;
        }
    }
    return false;
}

/* ---- listeners ------------------------------------------------------------- */

tcp_listener *tcp_find_listener(tw_tcp *tcp, tw_ipv4_addr addr, uint16_t port)
{
    tcp_listener *wildcard = NULL;
    for (uint32_t i = 0; i < tcp->cfg.listeners_max; i++) {
        tcp_listener *l = &tcp->listeners[i];
        if (!l->used || l->port != port) {
            continue;
        }
        if (l->addr == addr) {
            return l;
        }
        if (l->addr == TW_IPV4_ADDR_ANY) {
            wildcard = l;
        }
    }
    return wildcard;
}

int tw_tcp_listen(tw_tcp *tcp, tw_ipv4_addr addr, uint16_t port, uint32_t backlog)
{
    tcp_out_reclaim(tcp);
    if (port == 0 || backlog == 0) {
        return -TW_EINVAL;
    }
    tcp_listener *free_slot = NULL;
    for (uint32_t i = 0; i < tcp->cfg.listeners_max; i++) {
        tcp_listener *l = &tcp->listeners[i];
        if (l->used && l->port == port && l->addr == addr) {
            return -TW_EADDRINUSE;
        }
        if (!l->used && free_slot == NULL) {
            free_slot = l;
        }
    }
    if (free_slot == NULL) {
        return -TW_EFULL;
    }
    *free_slot = (tcp_listener){.addr = addr, .port = port, .used = true, .backlog = backlog};
    return 0;
}

int tw_tcp_unlisten(tw_tcp *tcp, tw_ipv4_addr addr, uint16_t port)
{
    tcp_out_reclaim(tcp);
    for (uint32_t i = 0; i < tcp->cfg.listeners_max; i++) {
        tcp_listener *l = &tcp->listeners[i];
        if (!l->used || l->port != port || l->addr != addr) {
            continue;
        }
        /* Half-open children go with their listener, as Linux resets them;
         * accepted ones belong to the application and stay. Bounded by the
         * TCB table, and only on this application call. */
        for (uint32_t k = 0; k < tcp->cfg.conns_max; k++) {
            if (tcp->tcbs.next_free[k] != TW_POOL_TAKEN) {
                continue;
            }
            tcb *t = tcb_at(tcp, k);
            if (t->listener != i) {
                continue;
            }
            if (t->state == TW_TCP_SYN_RECEIVED && !(t->flags & TCB_APP_OWNED)) {
                tcp_ctl rst = {.src = t->laddr,
                               .dst = t->raddr,
                               .sport = t->lport,
                               .dport = t->rport,
                               .seq = t->snd_max,
                               .flags = TW_TCP_RST};
                tcp_ctl_push(tcp, &rst);
                tcp_terminate(tcp, t, TW_TCP_EV_COUNT, 0);
                continue;
            }
            listener_release(tcp, t);
        }
        TW_ASSERT(l->syn_count == 0);
        TW_ASSERT(l->accept_count == 0);
        memset(l, 0, sizeof(*l));
        return 0;
    }
    return -TW_ENOENT;
}

/* ---- ports ------------------------------------------------------------------- */

int tw_tcp_pick_local_port(tw_tcp *tcp, tw_ipv4_addr local, tw_ipv4_addr remote, uint16_t rport,
                           uint16_t core, uint16_t ncores, const tw_rss *rss)
{
    TW_ASSERT(ncores > 0);
    TW_ASSERT(core < ncores);
    uint32_t lo = tcp->cfg.ephemeral_lo;
    uint32_t range = (uint32_t)tcp->cfg.ephemeral_hi - lo + 1;
    /* RFC 6056 §3.3.3 (algorithm 3): a keyed hash of the destination plus
     * a moving counter, so that successive connections to one peer walk
     * the range rather than probe it from the same place. */
    uint8_t dest[10];
    memcpy(dest, &local, 4);
    memcpy(dest + 4, &remote, 4);
    memcpy(dest + 8, &rport, 2);
    uint32_t start = (uint32_t)tw_siphash24(&tcp->key, dest, sizeof(dest)) + tcp->port_cursor;
    for (uint32_t i = 0; i < range; i++) {
        uint16_t port = (uint16_t)(lo + (start + i) % range);
        if (rss != NULL) {
            /* The NIC hashes what arrives: remote -> local. */
            uint32_t h = tw_rss_hash_ipv4_ports(rss, remote, local, rport, port);
            if (tw_rss_queue(rss, h) % ncores != core) {
                continue;
            }
        }
        if (tcp_lookup(tcp, local, port, remote, rport) != NULL) {
            continue;
        }
        tcp->port_cursor += i + 1;
        return port;
    }
    tcp->stats.ports_exhausted++;
    return -TW_EADDRINUSE;
}

/* ---- application verbs ------------------------------------------------------ */

static bool addr_is_unicast(tw_ipv4_addr a)
{
    return !tw_ipv4_addr_is_unspecified(a) && !tw_ipv4_addr_is_broadcast(a) &&
           !tw_ipv4_addr_is_multicast(a);
}

/* RFC 6191 §2 on the active side: a 4-tuple in TIME-WAIT may be reused
 * when timestamps were in use, since our timestamps on the new connection
 * (the same per-tuple offset, a later clock) exceed the peer's TS.Recent. */
static int claim_tuple(tw_tcp *tcp, tw_ipv4_addr local, uint16_t lport, tw_ipv4_addr remote,
                       uint16_t rport, uint32_t *old_snd_max)
{
    tcb *old = tcp_lookup(tcp, local, lport, remote, rport);
    if (old == NULL) {
        return 0;
    }
    if (old->state != TW_TCP_TIME_WAIT || !(old->flags & TCB_TS_OK)) {
        return -TW_EADDRINUSE;
    }
    *old_snd_max = old->snd_max;
    tcp->stats.time_wait_reused++;
    tcp_terminate(tcp, old, TW_TCP_EV_COUNT, 0);
    return 1;
}

tw_tcp_conn tw_tcp_connect_from(tw_tcp *tcp, tw_ns now, tw_ipv4_addr local, uint16_t lport,
                                tw_ipv4_addr remote, uint16_t rport)
{
    tcp_out_reclaim(tcp);
    if (rport == 0 || !addr_is_unicast(local) || !addr_is_unicast(remote)) {
        return -TW_EINVAL;
    }
    if (lport == 0) {
        int p = tw_tcp_pick_local_port(tcp, local, remote, rport, tcp->cfg.core, tcp->cfg.ncores,
                                       tcp->cfg.rss);
        if (p < 0) {
            return p;
        }
        lport = (uint16_t)p;
    }
    uint32_t old_snd_max = 0;
    int reused = claim_tuple(tcp, local, lport, remote, rport, &old_snd_max);
    if (reused < 0) {
        return reused;
    }
    tw_tcp_drop why;
    tcb *t = tcp_tcb_new(tcp, now, local, lport, remote, rport, &why);
    if (t == NULL) {
        return -TW_ENOMEM;
    }
    t->iss = tcp_isn(tcp, now, local, lport, remote, rport);
    if (reused && seq_le(t->iss, old_snd_max)) {
        t->iss = old_snd_max + 65537; /* above anything the old one sent */
    }
    t->snd_una = t->snd_nxt = t->snd_max = t->iss;
    t->snd_buf_seq = t->iss + 1;
    t->recover = t->iss;
    t->state = TW_TCP_SYN_SENT;
    t->flags |= TCB_APP_OWNED;
    tcp->stats.active_opens++;
    tcp_txq_mark(tcp, t);
    return tcb_handle(tcp, t);
}

tw_tcp_conn tw_tcp_connect(tw_tcp *tcp, tw_ns now, tw_ipv4_addr local, tw_ipv4_addr remote,
                           uint16_t rport)
{
    return tw_tcp_connect_from(tcp, now, local, 0, remote, rport);
}

int64_t tw_tcp_send(tw_tcp *tcp, tw_ns now, tw_tcp_conn conn, const void *data, size_t len)
{
    tcp_out_reclaim(tcp);
    tcb *t = conn_get(tcp, conn);
    if (t == NULL) {
        return -TW_ENOTCONN;
    }
    if (t->flags & TCB_FIN_QUEUED) {
        return -TW_ECLOSED;
    }
    switch (t->state) {
    case TW_TCP_SYN_SENT:
    case TW_TCP_SYN_RECEIVED:
    case TW_TCP_ESTABLISHED:
    case TW_TCP_CLOSE_WAIT:
        break;
    default:
        return -TW_ECLOSED;
    }
    TW_ASSERT(data != NULL || len == 0);
    uint32_t room = t->sbuf.cap - t->sbuf.len;
    uint32_t n = len < room ? (uint32_t)len : room;
    tcp_send_write(tcp, t, data, n);
    if (n < len) {
        t->flags |= TCB_SEND_BLOCKED;
    }
    if (n > 0 && tcb_synchronized(t)) {
        tcp_txq_mark(tcp, t);
    }
    tcp_tcb_check(tcp, t);
    return n;
}

int tw_tcp_recv_slice(tw_tcp *tcp, tw_tcp_conn conn, const uint8_t **data, size_t *len)
{
    tcp_out_reclaim(tcp);
    tcb *t = conn_get(tcp, conn);
    if (t == NULL) {
        return -TW_ENOTCONN;
    }
    *data = t->rbuf.mem + t->rbuf.head;
    *len = u32_min(t->rbuf.len, t->rbuf.cap - t->rbuf.head);
    return 0;
}

int tw_tcp_consume(tw_tcp *tcp, tw_ns now, tw_tcp_conn conn, size_t n)
{
    tcp_out_reclaim(tcp);
    tcb *t = conn_get(tcp, conn);
    if (t == NULL) {
        return -TW_ENOTCONN;
    }
    if (n > t->rbuf.len) {
        return -TW_EINVAL;
    }
    tcp_ring_drop(&t->rbuf, (uint32_t)n);
    if (t->state != TW_TCP_CLOSED) {
        tcp_maybe_window_update(tcp, t);
    }
    if (t->rbuf.len > 0) {
        tcp_event(tcp, t, EV_DATA);
    }
    tcp_tcb_check(tcp, t);
    return 0;
}

/* RFC 9293 §3.10.4: the FIN goes after everything queued. */
static void queue_fin(tw_tcp *tcp, tcb *t)
{
    t->flags |= TCB_FIN_QUEUED;
    t->fin_seq = t->snd_buf_seq + t->sbuf.len;
    tcp_txq_mark(tcp, t);
}

int tw_tcp_close(tw_tcp *tcp, tw_ns now, tw_tcp_conn conn)
{
    tcp_out_reclaim(tcp);
    tcb *t = conn_get(tcp, conn);
    if (t == NULL) {
        return -TW_ENOTCONN;
    }
    if (t->flags & TCB_FIN_QUEUED) {
        return -TW_ECLOSED;
    }
    switch (t->state) {
    case TW_TCP_SYN_SENT:
        /* RFC 9293 §3.10.4 SYN-SENT: delete the TCB. */
        tcp_terminate(tcp, t, TW_TCP_EV_CLOSED, 0);
        return 0;
    case TW_TCP_SYN_RECEIVED:
        /* RFC 9293 §3.10.4 SYN-RECEIVED: queued until ESTABLISHED, where
         * on_syn_received_ack moves on to FIN-WAIT-1. */
        queue_fin(tcp, t);
        return 0;
    case TW_TCP_ESTABLISHED:
        queue_fin(tcp, t);
        t->state = TW_TCP_FIN_WAIT_1;
        return 0;
    case TW_TCP_CLOSE_WAIT:
        /* RFC 9293 §3.10.4 CLOSE-WAIT: FIN after the queued data, then
         * LAST-ACK. */
        queue_fin(tcp, t);
        t->state = TW_TCP_LAST_ACK;
        return 0;
    default:
        return -TW_ECLOSED;
    }
}

int tw_tcp_abort(tw_tcp *tcp, tw_ns now, tw_tcp_conn conn)
{
    tcp_out_reclaim(tcp);
    tcb *t = conn_get(tcp, conn);
    if (t == NULL) {
        return -TW_ENOTCONN;
    }
    switch (t->state) {
    case TW_TCP_SYN_RECEIVED:
    case TW_TCP_ESTABLISHED:
    case TW_TCP_FIN_WAIT_1:
    case TW_TCP_FIN_WAIT_2:
    case TW_TCP_CLOSE_WAIT: {
        /* RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>. NOTE: SND.MAX, since
         * after a timeout SND.NXT is behind what the peer may have. */
        tcp_ctl rst = {.src = t->laddr,
                       .dst = t->raddr,
                       .sport = t->lport,
                       .dport = t->rport,
                       .seq = t->snd_max,
                       .flags = TW_TCP_RST};
        tcp_ctl_push(tcp, &rst);
        break;
    }
    default:
        break; /* SYN-SENT, CLOSING, LAST-ACK, TIME-WAIT, CLOSED: no RST */
    }
    tcp_tcb_free(tcp, t);
    return 0;
}

int tw_tcp_set_nodelay(tw_tcp *tcp, tw_tcp_conn conn, bool nodelay)
{
    tcp_out_reclaim(tcp);
    tcb *t = conn_get(tcp, conn);
    if (t == NULL) {
        return -TW_ENOTCONN;
    }
    if (nodelay) {
        t->flags |= TCB_NODELAY;
        if (tcb_synchronized(t)) {
            tcp_txq_mark(tcp, t); /* what Nagle held may go now */
        }
    } else {
        t->flags &= ~TCB_NODELAY;
    }
    return 0;
}

int tw_tcp_set_keepalive(tw_tcp *tcp, tw_ns now, tw_tcp_conn conn, bool on, tw_ns idle_ns,
                         tw_ns intvl_ns, uint8_t probes)
{
    tcp_out_reclaim(tcp);
    tcb *t = conn_get(tcp, conn);
    if (t == NULL) {
        return -TW_ENOTCONN;
    }
    if (on && (idle_ns == 0 || intvl_ns == 0 || probes == 0)) {
        return -TW_EINVAL;
    }
    if (!on) {
        t->flags &= ~TCB_KEEPALIVE;
        t->keepalive_at = TW_NS_NEVER;
        tcp_timer_sync(tcp, t);
        return 0;
    }
    t->flags |= TCB_KEEPALIVE;
    t->ka_idle = idle_ns;
    t->ka_intvl = intvl_ns;
    t->ka_probes = probes;
    tcp_keepalive_reset(t, t->last_rcv_at > now ? now : t->last_rcv_at);
    tcp_timer_sync(tcp, t);
    return 0;
}

int tw_tcp_conn_get_info(const tw_tcp *tcp, tw_tcp_conn conn, tw_tcp_conn_info *info)
{
    const tcb *t = conn_get(tcp, conn);
    if (t == NULL) {
        return -TW_ENOTCONN;
    }
    memset(info, 0, sizeof(*info));
    info->state = (tw_tcp_state)t->state;
    info->local = t->laddr;
    info->remote = t->raddr;
    info->lport = t->lport;
    info->rport = t->rport;
    info->snd_una = t->snd_una;
    info->snd_nxt = t->snd_nxt;
    info->snd_wnd = t->snd_wnd;
    info->rcv_nxt = t->rcv_nxt;
    info->rcv_wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    info->cwnd = t->cc.cwnd;
    info->ssthresh = t->cc.ssthresh;
    info->mss = t->snd_mss;
    info->snd_wscale = t->snd_wscale;
    info->rcv_wscale = t->rcv_wscale;
    info->timestamps = (t->flags & TCB_TS_OK) != 0 && tcb_synchronized(t);
    info->srtt_ns = t->srtt;
    info->rttvar_ns = t->rttvar;
    info->rto_ns = t->rto;
    info->snd_queued = t->sbuf.len;
    info->rcv_queued = t->rbuf.len;
    info->retransmits = t->retransmits;
    return 0;
}

const tw_tcp_stats *tw_tcp_get_stats(const tw_tcp *tcp)
{
    return &tcp->stats;
}

uint32_t tw_tcp_conn_count(const tw_tcp *tcp)
{
    return tcp->tcbs.in_use;
}

uint64_t tw_tcp_cwnd_sum(const tw_tcp *tcp)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < tcp->tcbs.capacity; i++) {
        if (tcp->tcbs.next_free[i] != TW_POOL_TAKEN) {
            continue;
        }
        const tcb *t = tcb_at((tw_tcp *)tcp, i);
        if (t->state == TW_TCP_ESTABLISHED || t->state == TW_TCP_CLOSE_WAIT) {
            sum += t->cc.cwnd;
        }
    }
    return sum;
}

size_t tw_tcp_conn_bytes(void)
{
    /* The TCB as the pool stores it (rounded to 16), its generation word
     * and its two hash-bucket words (the table has 2 per connection). */
    return ((sizeof(tcb) + 15u) & ~(size_t)15u) + sizeof(uint32_t) + 2 * sizeof(uint32_t) +
           sizeof(uint32_t) /* pool free-list link */ + sizeof(uint32_t) /* buffer free list */;
}

size_t tw_tcp_conn_buffer_bytes(const tw_tcp *tcp)
{
    return tcp->buf_pair;
}
