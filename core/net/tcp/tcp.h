/* TCP over IPv4, sans-io: one instance per core, segments in and out as
 * bytes, time as an argument, events for the application.
 *
 * Reading list (each rule in the .c files cites its section):
 *   RFC 9293  Transmission Control Protocol (§3.3 states and sequence
 *             space, §3.4 ISNs, §3.8 data communication, §3.10 event
 *             processing; SEGMENT ARRIVES is §3.10.7)
 *   RFC 1122  §4.2.2.13 TIME-WAIT reuse, §4.2.3.3-4 silly window
 *             avoidance, §4.2.3.6 keep-alives, §4.2.2.17 zero-window probes
 *   RFC 5961  blind in-window attacks: challenge ACKs, ACK validation
 *   RFC 6528  initial sequence numbers
 *   RFC 6191  TIME-WAIT reuse with timestamps
 *   RFC 6298  the retransmission timer
 *   RFC 7323  window scale, timestamps (RTTM, PAWS)
 *   RFC 5681, RFC 6582, RFC 3042, RFC 6928  congestion control: slow
 *             start and avoidance, NewReno, limited transmit, IW10
 *   RFC 896   Nagle's algorithm
 *
 * The IP boundary. The IPv4 layer hands the TCP segment (header and
 * payload, the IPv4 payload) to tw_tcp_on_segment with the datagram's
 * addresses; the instance verifies the checksum. What the instance wants
 * sent comes out of tw_tcp_pop_segment as addresses and segment bytes for
 * the IPv4 layer to wrap. Deadlines: tw_tcp_next_deadline says when to call
 * tw_tcp_on_tick next.
 *
 * Ordering obligations. After every input (on_segment, on_tick) and every
 * application call (connect, send, close, abort, consume, ...), the driver
 * pops segments until tw_tcp_pop_segment returns false and events until
 * tw_tcp_pop_event returns false. `now` never decreases across calls.
 *
 * The application API is event-driven (no BSD sockets): listen, connect,
 * send (accepts what fits in the send buffer), close (graceful: our
 * direction ends; receiving continues until the peer closes), abort (RST).
 * Received data is delivered as slices of the receive buffer: a DATA event
 * carries a pointer and length that stay valid until tw_tcp_consume frees
 * them. Connections are handles (index and generation) so a stale handle
 * is rejected with -TW_ENOTCONN, never confused with a newer connection.
 *
 * Connection lifetime. A handle is valid from connect (or the ACCEPTED
 * event) until the application pops the connection's terminal event
 * (CLOSED, RESET or TIMED_OUT) or calls tw_tcp_abort. The instance keeps a
 * closed connection's memory until then, so the data slices of its earlier
 * events stay readable; a connection in TIME-WAIT lives on without the
 * application.
 *
 * Limits. Every table is sized at tw_tcp_create from the config: TCBs,
 * buffers, listeners, the SYN and accept queues, out-of-order ranges, the
 * queue of segments that belong to no connection. Hitting one is counted
 * (tw_tcp_stats) and, for segments, has a drop reason. */
#ifndef TW_NET_TCP_H
#define TW_NET_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/time.h"
#include "wire/ipv4.h"
#include "wire/rss.h"

typedef struct tw_tcp tw_tcp;
typedef struct tw_tcp_cc_ops tw_tcp_cc_ops;

/* A connection handle: >= 0 is a connection (generation << 32 | index,
 * never 0); a negative value is an error code -TW_E*. */
typedef int64_t tw_tcp_conn;

/* RFC 9293 §3.3.2. LISTEN is the state of a listener (tw_tcp_listen); the
 * other ten are states of connections. */
typedef enum tw_tcp_state {
    TW_TCP_CLOSED,
    TW_TCP_LISTEN,
    TW_TCP_SYN_SENT,
    TW_TCP_SYN_RECEIVED,
    TW_TCP_ESTABLISHED,
    TW_TCP_FIN_WAIT_1,
    TW_TCP_FIN_WAIT_2,
    TW_TCP_CLOSE_WAIT,
    TW_TCP_CLOSING,
    TW_TCP_LAST_ACK,
    TW_TCP_TIME_WAIT,
    TW_TCP_STATE_COUNT
} tw_tcp_state;

const char *tw_tcp_state_name(tw_tcp_state s);

/* Why a segment was discarded. Every discarded segment is counted under
 * exactly one reason. */
#define TW_TCP_DROPS(X)                                                                            \
    X(BAD_CHECKSUM, "checksum does not verify")                                                    \
    X(MALFORMED, "truncated or impossible header")                                                 \
    X(BAD_ADDRESS, "broadcast or multicast address")                                               \
    X(NO_LISTENER, "no connection and no listener (RST sent)")                                     \
    X(CLOSED_RST, "RST for no connection")                                                         \
    X(LISTEN_RST, "RST to a listener")                                                             \
    X(LISTEN_ACK, "ACK to a listener (RST sent)")                                                  \
    X(LISTEN_NO_SYN, "neither SYN, RST nor ACK to a listener")                                     \
    X(SYN_QUEUE_FULL, "listener's SYN queue is full")                                              \
    X(ACCEPT_QUEUE_FULL, "listener's accept queue is full")                                        \
    X(NO_TCB, "TCB pool exhausted")                                                                \
    X(NO_BUFFER, "buffer pool exhausted")                                                          \
    X(SYN_SENT_BAD_ACK, "SYN-SENT: ACK of something never sent")                                   \
    X(SYN_SENT_RST_NO_ACK, "SYN-SENT: RST without an acceptable ACK")                              \
    X(SYN_SENT_NO_SYN, "SYN-SENT: neither SYN nor RST")                                            \
    X(PAWS, "timestamp older than TS.Recent (PAWS)")                                               \
    X(NO_TIMESTAMP, "timestamps negotiated but the segment has none")                              \
    X(OUT_OF_WINDOW, "not acceptable: outside the receive window")                                 \
    X(RST_OUT_OF_WINDOW, "RST outside the receive window")                                         \
    X(RST_CHALLENGED, "RST in window but not at RCV.NXT (challenge ACK)")                          \
    X(SYN_CHALLENGED, "SYN on a synchronized connection (challenge ACK)")                          \
    X(NO_ACK, "ACK bit off")                                                                       \
    X(ACK_TOO_OLD, "ACK below SND.UNA - MAX.SND.WND (RFC 5961)")                                   \
    X(ACK_UNSENT, "ACK of data never sent")                                                        \
    X(SYN_RECEIVED_BAD_ACK, "SYN-RECEIVED: unacceptable ACK (RST sent)")                           \
    X(REASSEMBLY_FULL, "no out-of-order range free")                                               \
    X(TIME_WAIT, "segment to a connection in TIME-WAIT")                                           \
    X(AFTER_FIN, "data after the peer's FIN")

typedef enum tw_tcp_drop {
#define TW_TCP_DROP_ENUM(name, msg) TW_TCP_DROP_##name,
    TW_TCP_DROPS(TW_TCP_DROP_ENUM)
#undef TW_TCP_DROP_ENUM
        TW_TCP_DROP_COUNT
} tw_tcp_drop;

const char *tw_tcp_drop_name(tw_tcp_drop d);

typedef struct tw_tcp_stats {
    uint64_t segs_in;
    uint64_t segs_out;
    uint64_t bytes_in; /* payload accepted in order */
    uint64_t bytes_out; /* payload sent, retransmissions included */
    uint64_t drops[TW_TCP_DROP_COUNT];
    uint64_t drops_total;
    uint64_t active_opens;
    uint64_t passive_opens;
    uint64_t established;
    uint64_t resets_sent;
    uint64_t resets_received;
    uint64_t retransmits;      /* segments sent again */
    uint64_t rto_timeouts;
    uint64_t fast_retransmits;
    uint64_t partial_acks;     /* RFC 6582 */
    uint64_t dupacks;
    uint64_t limited_transmits; /* RFC 3042 */
    uint64_t challenge_acks;
    uint64_t challenge_acks_limited; /* suppressed by the RFC 5961 §7 limit */
    uint64_t persist_probes;
    uint64_t keepalive_probes;
    uint64_t delayed_acks;      /* ACKs sent by the delayed-ACK timer */
    uint64_t window_updates;
    uint64_t ooo_segments;      /* stored out of order */
    uint64_t bytes_trimmed;     /* payload cut to the window or the buffer */
    uint64_t timed_out;
    uint64_t time_wait_reused;  /* RFC 6191 / RFC 1122 §4.2.2.13 */
    uint64_t ctl_queue_full;    /* RSTs not sent: the queue was full */
    uint64_t ports_exhausted;   /* no ephemeral port landed on this core */
    uint64_t tx_csum_resummed;  /* payload bytes summed at emit, not at send */
} tw_tcp_stats;

typedef struct tw_tcp_config {
    uint64_t seed;             /* keys the ISN function, TS offsets, hashing */
    uint32_t conns_max;        /* TCBs, TIME-WAIT and SYN-RECEIVED included */
    uint32_t bufs_max;         /* send+receive buffer pairs (<= conns_max) */
    uint32_t listeners_max;
    uint32_t snd_buf_bytes;    /* per connection */
    uint32_t rcv_buf_bytes;    /* per connection; <= 2^30 (RFC 7323 §2.3) */
    uint32_t ctl_queue_max;    /* RSTs for segments that have no TCB */
    uint32_t syn_backlog;      /* SYN-RECEIVED per listener */
    uint16_t mtu;              /* IP MTU: MSS is clamped to mtu - 40 */
    uint8_t reasm_ranges_max;  /* out-of-order ranges, <= TW_TCP_REASM_MAX */
    bool window_scaling;       /* RFC 7323 §2 */
    bool timestamps;           /* RFC 7323 §3 */
    uint32_t initial_window_segs; /* RFC 6928: 10 */
    tw_ns rto_initial_ns;      /* RFC 6298 §2.1: 1 s */
    tw_ns rto_min_ns;          /* RFC 6298 §2.4: 1 s; Linux 200 ms */
    tw_ns rto_max_ns;          /* RFC 6298 §2.5: at least 60 s */
    uint8_t syn_retries;       /* SYN retransmissions before TIMED_OUT */
    uint8_t synack_retries;    /* SYN-ACK retransmissions before dropping */
    uint8_t rto_retries;       /* data retransmissions before TIMED_OUT */
    tw_ns delack_ns;           /* RFC 5681 §4.2: < 500 ms; RFC 1122 200 ms */
    uint8_t delack_segs;       /* ACK at least every this many full segments */
    tw_ns msl_ns;              /* TIME-WAIT lasts 2 * msl_ns */
    bool keepalive;            /* default for new connections */
    bool nodelay;              /* default for new connections: Nagle (RFC 896) off */
    tw_ns keepalive_idle_ns;   /* RFC 1122 §4.2.3.6: >= 2 hours default */
    tw_ns keepalive_intvl_ns;
    uint8_t keepalive_probes;
    uint32_t challenge_acks_per_sec; /* RFC 5961 §7 */
    uint16_t ephemeral_lo;     /* connect's local ports */
    uint16_t ephemeral_hi;
    const tw_rss *rss;         /* NULL: any port is fine for this core */
    uint16_t core;
    uint16_t ncores;
    const tw_tcp_cc_ops *cc;   /* NULL: NewReno */
} tw_tcp_config;

#define TW_TCP_REASM_MAX 8

/* Defaults: RFC values where there is one, Linux's where the RFC leaves a
 * choice (rto_min 200 ms, delayed ACK 40 ms, MSL 30 s), 64 KiB buffers
 * with window scaling and timestamps on. */
void tw_tcp_config_default(tw_tcp_config *cfg);

/* Allocates everything the instance will ever use (init time only). */
tw_tcp *tw_tcp_create(const tw_tcp_config *cfg, tw_ns now);
void tw_tcp_destroy(tw_tcp *tcp);

/* ---- the IP boundary ------------------------------------------------------- */

typedef struct tw_tcp_out {
    tw_ipv4_addr src;
    tw_ipv4_addr dst;
    /* Owned by the instance (its output buffer, or a connection's send
     * buffer: data segments are built in place); valid until the next call
     * into the instance. */
    const uint8_t *seg;
    size_t len;
} tw_tcp_out;

void tw_tcp_on_segment(tw_tcp *tcp, tw_ns now, tw_ipv4_addr src, tw_ipv4_addr dst,
                       const uint8_t *seg, size_t len);
bool tw_tcp_pop_segment(tw_tcp *tcp, tw_ns now, tw_tcp_out *out);
void tw_tcp_on_tick(tw_tcp *tcp, tw_ns now);
/* The next timer deadline (exact or a lower bound, as tw_wheel's), or
 * TW_NS_NEVER. */
tw_ns tw_tcp_next_deadline(const tw_tcp *tcp);

/* ---- application ------------------------------------------------------------ */

typedef enum tw_tcp_event_kind {
    TW_TCP_EV_ACCEPTED,    /* a listener's connection reached ESTABLISHED */
    TW_TCP_EV_CONNECTED,   /* tw_tcp_connect's connection is ESTABLISHED */
    TW_TCP_EV_DATA,        /* data/len: readable bytes, until consumed */
    TW_TCP_EV_WRITABLE,    /* send buffer space after a short send */
    TW_TCP_EV_PEER_CLOSED, /* the peer's FIN: no more data will come */
    TW_TCP_EV_CLOSED,      /* terminal: both directions closed cleanly */
    TW_TCP_EV_RESET,       /* terminal: RST received (error says which) */
    TW_TCP_EV_TIMED_OUT,   /* terminal: retransmissions or keepalive gave up */
    TW_TCP_EV_COUNT
} tw_tcp_event_kind;

typedef struct tw_tcp_event {
    tw_tcp_event_kind kind;
    int error;          /* RESET: -TW_ECONNREFUSED or -TW_ECONNRESET */
    tw_tcp_conn conn;
    const uint8_t *data; /* DATA */
    size_t len;
} tw_tcp_event;

bool tw_tcp_pop_event(tw_tcp *tcp, tw_ns now, tw_tcp_event *ev);

/* Accepts connections to addr (TW_IPV4_ADDR_ANY: every local address) and
 * port; backlog bounds established connections whose ACCEPTED event has
 * not been popped. 0, -TW_EADDRINUSE, -TW_EFULL, -TW_EINVAL. */
int tw_tcp_listen(tw_tcp *tcp, tw_ipv4_addr addr, uint16_t port, uint32_t backlog);
/* Stops accepting; connections already accepted or half open continue. */
int tw_tcp_unlisten(tw_tcp *tcp, tw_ipv4_addr addr, uint16_t port);

/* Active open from local to remote:rport; the local port is an ephemeral
 * port chosen by tw_tcp_pick_local_port with the config's rss, core and
 * ncores. A handle, or -TW_EADDRINUSE (no port), -TW_ENOMEM (no TCB or
 * buffer), -TW_EINVAL. */
tw_tcp_conn tw_tcp_connect(tw_tcp *tcp, tw_ns now, tw_ipv4_addr local, tw_ipv4_addr remote,
                           uint16_t rport);
/* The same with the local port given (0: pick one). */
tw_tcp_conn tw_tcp_connect_from(tw_tcp *tcp, tw_ns now, tw_ipv4_addr local, uint16_t lport,
                                tw_ipv4_addr remote, uint16_t rport);

/* Copies what fits of data into the send buffer: the count (0 when full;
 * a WRITABLE event follows when space frees), or -TW_ENOTCONN, -TW_ECLOSED
 * (after close), -TW_ESTATE. */
int64_t tw_tcp_send(tw_tcp *tcp, tw_ns now, tw_tcp_conn conn, const void *data, size_t len);

/* The readable bytes at the front of the receive buffer (a slice: the part
 * before the ring wraps). 0 or a negative error. */
int tw_tcp_recv_slice(tw_tcp *tcp, tw_tcp_conn conn, const uint8_t **data, size_t *len);
/* Frees n received bytes (n <= what is readable); may open the window.
 * Queues another DATA event if bytes remain readable. */
int tw_tcp_consume(tw_tcp *tcp, tw_ns now, tw_tcp_conn conn, size_t n);

/* Graceful close of our direction: a FIN after the queued data (RFC 9293
 * §3.10.4). Receiving continues until the peer's FIN. */
int tw_tcp_close(tw_tcp *tcp, tw_ns now, tw_tcp_conn conn);
/* Sends RST where the state calls for one (RFC 9293 §3.10.5) and releases
 * the connection now: the handle is stale on return, no event follows. */
int tw_tcp_abort(tw_tcp *tcp, tw_ns now, tw_tcp_conn conn);

int tw_tcp_set_nodelay(tw_tcp *tcp, tw_tcp_conn conn, bool nodelay);
/* RFC 1122 §4.2.3.6: probes after idle_ns without traffic, every intvl_ns,
 * TIMED_OUT after probes unanswered. */
int tw_tcp_set_keepalive(tw_tcp *tcp, tw_ns now, tw_tcp_conn conn, bool on, tw_ns idle_ns,
                         tw_ns intvl_ns, uint8_t probes);

typedef struct tw_tcp_conn_info {
    tw_tcp_state state;
    tw_ipv4_addr local;
    tw_ipv4_addr remote;
    uint16_t lport;
    uint16_t rport;
    uint32_t snd_una;
    uint32_t snd_nxt;
    uint32_t snd_wnd;   /* scaled */
    uint32_t rcv_nxt;
    uint32_t rcv_wnd;   /* what we advertise now, scaled */
    uint32_t cwnd;
    uint32_t ssthresh;
    uint16_t mss;       /* the segment payload we send */
    uint8_t snd_wscale;
    uint8_t rcv_wscale;
    bool timestamps;
    tw_ns srtt_ns;
    tw_ns rttvar_ns;
    tw_ns rto_ns;
    uint32_t snd_queued; /* bytes in the send buffer, unacked included */
    uint32_t rcv_queued; /* readable bytes */
    uint64_t retransmits;
} tw_tcp_conn_info;

int tw_tcp_conn_get_info(const tw_tcp *tcp, tw_tcp_conn conn, tw_tcp_conn_info *info);

/* An ephemeral port for local -> remote:rport that is free and whose RSS
 * queue for the packets coming back (remote:rport -> local:port, the
 * direction the NIC hashes) is `core` (modulo ncores); rss NULL accepts
 * any free port. The port, or -TW_EADDRINUSE after trying the whole range. */
int tw_tcp_pick_local_port(tw_tcp *tcp, tw_ipv4_addr local, tw_ipv4_addr remote, uint16_t rport,
                           uint16_t core, uint16_t ncores, const tw_rss *rss);

const tw_tcp_stats *tw_tcp_get_stats(const tw_tcp *tcp);
/* Connections in use (any state), for tests and reports. */
uint32_t tw_tcp_conn_count(const tw_tcp *tcp);
/* The congestion windows of every connection in ESTABLISHED or CLOSE-WAIT,
 * summed (bytes): what a time series plots. O(conns_max). */
uint64_t tw_tcp_cwnd_sum(const tw_tcp *tcp);

/* Checks what must hold of the instance between calls (check.c): per
 * connection, the sequence space ordered (ISS =< SND.UNA =< SND.NXT =<
 * SND.MAX, RFC 9293 §3.3.1), the rings' bounds, out-of-order ranges and
 * the advertised window inside the receive room, the one wheel timer at
 * the earliest deadline and the deadlines each state allows (RFC 6298 §5:
 * a retransmission or persist timer while anything is outstanding);
 * across the instance, the
 * 4-tuple table, the transmit and event queues, the buffer pool, the
 * listeners' SYN and accept counts and the drop counters. Reads only.
 * 0, or -TW_EINVAL with the first broken invariant written to why (always
 * NUL-terminated when why_len > 0). For fuzz targets and tests. */
int tw_tcp_check(const tw_tcp *tcp, char *why, size_t why_len);

/* Bytes of instance memory one connection costs, buffers excluded, and
 * with them: what bench_tcp reports. */
size_t tw_tcp_conn_bytes(void);
size_t tw_tcp_conn_buffer_bytes(const tw_tcp *tcp);

#endif
