/* Internals of core/net/tcp shared by its files: the TCB, the instance, and
 * the functions one file calls in another (prefix tcp_, not exported from
 * the module's public header).
 *
 * IMPLEMENTATION NOTES
 *
 * Sequence space. Every comparison of sequence numbers goes through
 * seq_lt/seq_le/... (mod 2^32, RFC 9293 §3.4). Besides the RFC 9293 §3.3.1
 * variables the TCB keeps snd_max, the highest sequence number sent: after
 * a timeout snd_nxt is pulled back to snd_una (go-back-N) while ACKs up to
 * snd_max stay acceptable, and a zero-window probe is sent without moving
 * snd_nxt.
 *
 * Buffers. Each connection has a send ring and a receive ring of fixed
 * size, a pair taken from a table allocated at create. The send ring holds
 * the bytes from snd_buf_seq (SND.UNA, or ISS+1 before the SYN is
 * acknowledged) on; retransmission reads them from there. The receive ring
 * holds readable bytes from `head`, then, past RCV.NXT, out-of-order data
 * at its own offset: the receive window never exceeds the free space, so
 * any acceptable segment fits where it belongs, and reassembly only tracks
 * ranges (a bounded array), never copies.
 *
 * Zero-copy transmit. A data segment whose payload lies contiguous in the
 * send ring, with room for the header before it, is built right there:
 * the header overwrites (after saving) the bytes in front of the payload,
 * and the output points into the ring. That saves one copy of every
 * payload byte. The saved bytes are put back at the next entry point,
 * which the output's lifetime ("until the next call") allows. The
 * payload's share of the checksum was taken when tw_tcp_send copied it in
 * (sums.c), so emitting sums the header only.
 *
 * Timers. A TCB has one wheel timer armed at the earliest of its logical
 * deadlines (retransmission, persist, delayed ACK, keepalive, TIME-WAIT);
 * tcp_timer_sync re-arms it after anything that may have moved one.
 *
 * Queues. Connections with something to send sit on the transmit queue;
 * connections with events for the application sit on the event queue, with
 * one pending bit per event kind. Both are intrusive lists, so neither can
 * overflow; segments that belong to no connection (RSTs) go through a
 * bounded control queue whose overflow is counted. */
#ifndef TW_NET_TCP_TCB_H
#define TW_NET_TCP_TCB_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/pool.h"
#include "base/siphash.h"
#include "base/timer.h"
#include "net/tcp/cc/cc.h"
#include "net/tcp/tcp.h"
#include "wire/checksum.h"
#include "wire/tcp.h"

#define TCP_NONE UINT32_MAX

/* ---- sequence arithmetic (RFC 9293 §3.4) --------------------------------- */

static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline uint32_t seq_max(uint32_t a, uint32_t b) { return seq_gt(a, b) ? a : b; }
static inline uint32_t seq_min(uint32_t a, uint32_t b) { return seq_lt(a, b) ? a : b; }

static inline uint32_t u32_min(uint32_t a, uint32_t b) { return a < b ? a : b; }
static inline uint32_t u32_max(uint32_t a, uint32_t b) { return a > b ? a : b; }

/* ---- byte rings ----------------------------------------------------------- */

typedef struct tcp_ring {
    uint8_t *mem;
    uint32_t cap;
    uint32_t head; /* offset of the first byte, < cap */
    uint32_t len;  /* bytes from head (send: queued; receive: readable) */
} tcp_ring;

/* The storage index of the byte `off` bytes past head (off <= cap). */
static inline uint32_t ring_pos(const tcp_ring *r, uint32_t off)
{
    uint32_t p = r->head + off;
    return p >= r->cap ? p - r->cap : p;
}

/* Copies n bytes to the ring, starting off bytes past head (which may be
 * past len: out-of-order data); the caller keeps off + n <= cap. */
static inline void tcp_ring_write(tcp_ring *r, uint32_t off, const uint8_t *src, uint32_t n)
{
    TW_ASSERT(off <= r->cap);
    TW_ASSERT(n <= r->cap - off);
    uint32_t p = ring_pos(r, off);
    uint32_t first = u32_min(n, r->cap - p);
    memcpy(r->mem + p, src, first);
    if (n > first) {
        memcpy(r->mem, src + first, n - first);
    }
}

static inline void tcp_ring_read(const tcp_ring *r, uint32_t off, uint8_t *dst, uint32_t n)
{
    TW_ASSERT(off <= r->len);
    TW_ASSERT(n <= r->len - off);
    uint32_t p = ring_pos(r, off);
    uint32_t first = u32_min(n, r->cap - p);
    memcpy(dst, r->mem + p, first);
    if (n > first) {
        memcpy(dst + first, r->mem, n - first);
    }
}

/* The RFC 1071 sum of n ring bytes from off, as if they began at an even
 * offset (wire/checksum.h). */
static inline uint32_t tcp_ring_sum(const tcp_ring *r, uint32_t off, uint32_t n)
{
    uint32_t p = ring_pos(r, off);
    uint32_t first = u32_min(n, r->cap - p);
    uint32_t sum = tw_csum_add(0, r->mem + p, first);
    if (n > first) {
        sum = tw_csum_block_add(sum, tw_csum_add(0, r->mem, n - first), first);
    }
    return sum;
}

/* tcp_ring_write that also returns the bytes' sum, in one pass over them
 * (tw_csum_copy). */
static inline uint32_t tcp_ring_copy_sum(tcp_ring *r, uint32_t off, const uint8_t *src,
                                         uint32_t n)
{
    TW_ASSERT(off <= r->cap);
    TW_ASSERT(n <= r->cap - off);
    uint32_t p = ring_pos(r, off);
    uint32_t first = u32_min(n, r->cap - p);
    uint32_t sum = tw_csum_copy(0, r->mem + p, src, first);
    if (n > first) {
        sum = tw_csum_block_add(sum, tw_csum_copy(0, r->mem, src + first, n - first), first);
    }
    return sum;
}

/* Frees n bytes at the head. */
static inline void tcp_ring_drop(tcp_ring *r, uint32_t n)
{
    TW_ASSERT(n <= r->len);
    r->head = ring_pos(r, n);
    r->len -= n;
}

/* ---- the TCB -------------------------------------------------------------- */

enum {
    TCB_APP_OWNED = 1u << 0,   /* the application holds the handle */
    TCB_PASSIVE = 1u << 1,     /* created by a listener */
    TCB_NODELAY = 1u << 2,     /* Nagle off */
    TCB_KEEPALIVE = 1u << 3,
    TCB_TS_OK = 1u << 4,       /* timestamps offered (SYN-SENT) or agreed */
    TCB_WS_OK = 1u << 5,       /* window scaling offered or agreed */
    TCB_FIN_QUEUED = 1u << 6,  /* close called: a FIN at fin_seq */
    TCB_ACK_NOW = 1u << 7,     /* an ACK is owed now */
    TCB_RTX_UNA = 1u << 8,     /* retransmit the segment at SND.UNA */
    TCB_PROBE = 1u << 9,       /* send a zero-window probe */
    TCB_KA_PROBE = 1u << 10,   /* send a keepalive probe */
    TCB_RECOVERY = 1u << 11,   /* in NewReno fast recovery */
    TCB_PARTIAL_SEEN = 1u << 12, /* RFC 6582: the timer reset was done */
    TCB_SEND_BLOCKED = 1u << 13, /* a send was short: WRITABLE owed */
    TCB_SYN_RTX = 1u << 14,    /* the SYN was retransmitted */
    TCB_ACCEPT_Q = 1u << 15,   /* counted in its listener's accept queue */
    TCB_RTT_TIMING = 1u << 16, /* rtt_seq/rtt_start time a segment */
    TCB_IN_TXQ = 1u << 17,
    TCB_IN_EVQ = 1u << 18,
    TCB_CHUNK_OPEN = 1u << 19, /* the last send chunk may still grow */
    TCB_OOO_FIN = 1u << 20,    /* a FIN arrived out of order at ooo_fin_seq */
    TCB_HAS_SAMPLE = 1u << 21, /* srtt holds a measurement */
    TCB_IN_HASH = 1u << 22,
    TCB_SYN_Q = 1u << 23,      /* counted in its listener's SYN queue */
};

/* Pending application events, delivered in this order per connection. */
enum {
    EV_ACCEPTED = 1u << 0,
    EV_CONNECTED = 1u << 1,
    EV_DATA = 1u << 2,
    EV_WRITABLE = 1u << 3,
    EV_PEER_CLOSED = 1u << 4,
    EV_TERMINAL = 1u << 5,
};

/* A run of the send ring's sequence space and its checksum share (sums.c). */
typedef struct tcp_chunk {
    uint32_t seq;
    uint16_t len;
    uint16_t sum; /* RFC 1071 sum of the bytes, as if at an even offset */
} tcp_chunk;

typedef struct tcp_range {
    uint32_t left;  /* first sequence number held */
    uint32_t right; /* one past the last */
} tcp_range;

/* A TCB's place in one of the instance's intrusive FIFO queues, by index:
 * O(1) append and removal without allocation. */
typedef struct tcb_link {
    uint32_t prev;
    uint32_t next;
} tcb_link;

typedef struct tcb_queue {
    uint32_t head;
    uint32_t tail;
} tcb_queue;

typedef struct tcb {
    /* identity and links */
    tw_ipv4_addr laddr;
    tw_ipv4_addr raddr;
    uint16_t lport;
    uint16_t rport;
    uint32_t flags;
    uint8_t state;      /* tw_tcp_state */
    uint8_t ev_pending; /* EV_* */
    uint8_t terminal;   /* tw_tcp_event_kind of the terminal event */
    uint8_t reasm_n;
    int16_t terminal_error;
    uint16_t listener;  /* index, or UINT16_MAX */
    uint32_t hash_next;
    tcb_link txq; /* in tw_tcp.txq: has something to send */
    tcb_link evq; /* in tw_tcp.evq: has events to pop */
    uint32_t buf;       /* buffer pair index, or TCP_NONE */

    /* send sequence space (RFC 9293 §3.3.1) */
    uint32_t iss;
    uint32_t snd_una;
    uint32_t snd_nxt;
    uint32_t snd_max;
    uint32_t snd_wnd;     /* scaled */
    uint32_t max_snd_wnd; /* RFC 5961 §5.2 MAX.SND.WND, RFC 1122 SWS */
    uint32_t snd_wl1;
    uint32_t snd_wl2;
    uint32_t snd_buf_seq; /* the sequence number of the send ring's head */
    uint32_t fin_seq;     /* our FIN, when TCB_FIN_QUEUED */
    uint32_t recover;     /* RFC 6582: one past the highest byte sent */
    uint32_t rtt_seq;     /* timed byte (Karn) or flight marker (TS) */

    /* receive sequence space */
    uint32_t irs;
    uint32_t rcv_nxt;
    uint32_t rcv_adv;       /* the right edge we advertised */
    uint32_t last_ack_sent; /* RFC 7323 §4.3 Last.ACK.sent */
    uint32_t rcv_unacked;   /* bytes received since the last ACK */
    uint32_t ooo_fin_seq;

    /* options */
    uint16_t snd_mss;     /* payload bytes per segment we send */
    uint16_t rcv_mss;     /* largest payload seen: a full segment */
    uint8_t snd_wscale;
    uint8_t rcv_wscale;
    uint8_t dupacks;
    uint8_t rtx_count;     /* timeouts in a row (backoff exponent) */
    uint8_t persist_count; /* probes in a row */
    uint8_t ka_sent;
    uint8_t ka_probes;
    uint8_t pad_;
    uint32_t ts_recent;
    uint32_t ts_offset; /* RFC 7323 §5.4: per connection */
    tw_ns ts_recent_at;

    /* RFC 6298 */
    tw_ns srtt;
    tw_ns rttvar;
    tw_ns rto;
    tw_ns rtt_start;

    tw_tcp_cc cc;

    /* timers: one wheel timer at the earliest of these */
    tw_timer timer;
    tw_ns rtx_at;
    tw_ns persist_at;
    tw_ns delack_at;
    tw_ns keepalive_at;
    tw_ns timewait_at;
    tw_ns last_rcv_at;
    tw_ns last_snd_at;
    tw_ns ka_idle;
    tw_ns ka_intvl;

    tcp_ring sbuf;
    tcp_ring rbuf;
    tcp_range reasm[TW_TCP_REASM_MAX];
    uint32_t retransmits;
    /* send chunks (sums.c): a ring beside the buffers */
    uint32_t ch_head;
    uint32_t ch_len;
    uint32_t ch_hint; /* the chunk after the last segment's */
} tcb;

/* ---- the instance -------------------------------------------------------- */

typedef struct tcp_listener {
    tw_ipv4_addr addr;
    uint16_t port;
    bool used;
    uint32_t backlog;
    uint32_t syn_count;    /* children in SYN-RECEIVED */
    uint32_t accept_count; /* established, ACCEPTED not popped */
} tcp_listener;

/* A segment that belongs to no TCB: an RST (or RST,ACK). */
typedef struct tcp_ctl {
    tw_ipv4_addr src;
    tw_ipv4_addr dst;
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint8_t flags;
} tcp_ctl;

struct tw_tcp {
    tw_tcp_config cfg;
    const tw_tcp_cc_ops *cc;
    tw_pool tcbs;
    uint32_t *gens; /* per TCB slot: the generation of its handle */
    uint32_t *buckets;
    uint32_t bucket_mask;
    uint32_t last_hit; /* the TCB the last lookup found: bulk flows repeat */
    tcp_listener *listeners;
    uint8_t *buf_mem;
    size_t buf_pair;     /* bytes per connection: rings and chunk ring */
    uint32_t chunks_max; /* send chunks per connection */
    uint32_t *buf_free;
    uint32_t buf_free_n;
    tcp_ctl *ctlq;
    uint32_t ctl_head;
    uint32_t ctl_len;
    tcb_queue txq;
    tcb_queue evq;
    uint8_t *out_buf;
    /* A segment built in place in a send ring borrows the header room in
     * front of its payload; the bytes it covered come back at the next
     * entry point (tcp_out_reclaim), since the segment is only valid until
     * then. */
    uint8_t *lent_at;
    uint32_t lent_len;
    uint8_t lent_save[TW_TCP_HEADER_LEN_MAX];
    tw_siphash_key key;
    uint64_t hash_salt;
    tw_ns chack_epoch;
    uint32_t chack_count;
    uint32_t port_cursor;
    uint16_t mss_local; /* mtu - 40: our MSS option */
    tw_ns last_now;
    tw_tcp_stats stats;
    tw_wheel wheel;
};

/* Every entry point that may touch a ring calls this first. */
static inline void tcp_out_reclaim(tw_tcp *tcp)
{
    if (tcp->lent_len != 0) {
        TW_ASSERT(tcp->lent_len == TW_TCP_HEADER_LEN_MAX);
        memcpy(tcp->lent_at, tcp->lent_save, TW_TCP_HEADER_LEN_MAX);
        tcp->lent_len = 0;
    }
}

/* ---- sums.c: send checksums ---------------------------------------------- */

/* The connection's chunk ring: after its two rings in its buffer pair. */
static inline tcp_chunk *tcp_chunks(const tw_tcp *tcp, const tcb *t)
{
    TW_ASSERT(t->buf != TCP_NONE);
    return (tcp_chunk *)(void *)(t->rbuf.mem + ((t->rbuf.cap + 63u) & ~63u));
}

void tcp_sums_reset(tcb *t);
/* Appends n bytes (n <= free space) to the send ring, summing as it copies. */
void tcp_send_write(tw_tcp *tcp, tcb *t, const uint8_t *src, uint32_t n);
/* Forgets the chunks the send ring's head has moved past. */
void tcp_sums_drop(const tw_tcp *tcp, tcb *t);
/* The sum of the payload [seq, seq + len) of the send ring, as if at an
 * even offset; may shrink the chunk a segment ends inside. */
uint32_t tcp_payload_sum(tw_tcp *tcp, tcb *t, uint32_t seq, uint32_t len);

/* ---- tcp.c: tables, queues, lifetime ------------------------------------ */

/* The TCB's slot, kept in its timer's owner word from allocation on (the
 * pool's own lookup divides, and this is on every segment's path). */
static inline uint32_t tcb_index(const tw_tcp *tcp, const tcb *t)
{
    TW_ASSERT(t->timer.owner < tcp->cfg.conns_max);
    return t->timer.owner;
}
static inline tcb *tcb_at(const tw_tcp *tcp, uint32_t i)
{
    TW_ASSERT(i < tcp->tcbs.capacity);
    return (tcb *)(tcp->tcbs.objects + (size_t)i * tcp->tcbs.obj_size);
}
static inline tw_tcp_conn tcb_handle(const tw_tcp *tcp, const tcb *t)
{
    uint32_t i = tcb_index(tcp, t);
    return (tw_tcp_conn)((uint64_t)tcp->gens[i] << 32 | i);
}
static inline bool tcb_synchronized(const tcb *t)
{
    return t->state >= TW_TCP_ESTABLISHED;
}

tcb *tcp_lookup(tw_tcp *tcp, tw_ipv4_addr laddr, uint16_t lport, tw_ipv4_addr raddr,
                uint16_t rport);
tcp_listener *tcp_find_listener(tw_tcp *tcp, tw_ipv4_addr addr, uint16_t port);
/* A TCB in CLOSED with buffers, hashed, its timer disarmed; NULL (and the
 * drop reason in *why) when a pool is empty. */
tcb *tcp_tcb_new(tw_tcp *tcp, tw_ns now, tw_ipv4_addr laddr, uint16_t lport, tw_ipv4_addr raddr,
                 uint16_t rport, tw_tcp_drop *why);
/* Ends a connection: CLOSED, out of the tables; the terminal event kind (or
 * TW_TCP_EV_COUNT for none) is queued when the application owns it, else
 * the TCB is freed at once. */
void tcp_terminate(tw_tcp *tcp, tcb *t, tw_tcp_event_kind kind, int error);
void tcp_tcb_free(tw_tcp *tcp, tcb *t);
/* Asserts what must hold of a live TCB between entry points. */
void tcp_tcb_check(const tw_tcp *tcp, const tcb *t);
void tcp_txq_mark(tw_tcp *tcp, tcb *t);
void tcp_txq_remove(tw_tcp *tcp, tcb *t);
void tcp_event(tw_tcp *tcp, tcb *t, uint8_t ev);
bool tcp_ctl_push(tw_tcp *tcp, const tcp_ctl *c);
void tcp_drop(tw_tcp *tcp, tw_tcp_drop why);

/* ---- isn.c --------------------------------------------------------------- */

uint32_t tcp_isn(const tw_tcp *tcp, tw_ns now, tw_ipv4_addr laddr, uint16_t lport,
                 tw_ipv4_addr raddr, uint16_t rport);
uint32_t tcp_ts_offset(const tw_tcp *tcp, tw_ipv4_addr laddr, uint16_t lport, tw_ipv4_addr raddr,
                       uint16_t rport);
/* The timestamp clock (RFC 7323 §5.4): milliseconds. */
#define TCP_TS_TICK_NS TW_MS(1)
static inline uint32_t tcp_ts_now(const tcb *t, tw_ns now)
{
    return (uint32_t)(now / TCP_TS_TICK_NS) + t->ts_offset;
}

/* ---- output.c ------------------------------------------------------------ */

bool tcp_output(tw_tcp *tcp, tcb *t, tw_ns now, tw_tcp_out *out);
void tcp_emit_ctl(tw_tcp *tcp, const tcp_ctl *c, tw_tcp_out *out);
/* What we would advertise now, scaled (not yet committed to rcv_adv). */
uint32_t tcp_rcv_window(const tw_tcp *tcp, const tcb *t);
/* After the application frees receive space: whether to send an update. */
void tcp_maybe_window_update(tw_tcp *tcp, tcb *t);
/* Sends a challenge ACK unless the per-second limit is reached. */
void tcp_challenge_ack(tw_tcp *tcp, tcb *t, tw_ns now);
void tcp_ack_now(tw_tcp *tcp, tcb *t);

/* ---- timers.c ------------------------------------------------------------ */

void tcp_timer_sync(tw_tcp *tcp, tcb *t);
void tcp_rtt_sample(tw_tcp *tcp, tcb *t, tw_ns sample, tw_ns granularity);
void tcp_rto_restart(tw_tcp *tcp, tcb *t, tw_ns now);
tw_ns tcp_rto_backed_off(const tw_tcp *tcp, const tcb *t, uint32_t shift);
void tcp_cancel_timers(tcb *t);
void tcp_enter_time_wait(tw_tcp *tcp, tcb *t, tw_ns now);
void tcp_keepalive_reset(tcb *t, tw_ns now);
void tcp_persist_arm(tw_tcp *tcp, tcb *t, tw_ns now);

#endif
