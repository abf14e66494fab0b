/* Congestion control behind a small ops table.
 *
 * Reading list:
 *   RFC 5681  TCP Congestion Control (§3.1 slow start and congestion
 *             avoidance, §3.2 fast retransmit/fast recovery, §4.1
 *             restarting idle connections)
 *   RFC 6582  The NewReno Modification to TCP's Fast Recovery Algorithm
 *   RFC 6928  Increasing TCP's Initial Window
 *   RFC 3465  Appropriate Byte Counting (the byte counting in CA)
 *
 * Division of labour. The TCP core detects loss (duplicate ACKs, partial
 * and full ACKs against `recover`, retransmission timeouts), decides what
 * to retransmit and keeps the recovery state; the algorithm only moves
 * cwnd and ssthresh. So a SACK scoreboard or RACK replaces the detection
 * without touching the algorithms, and CUBIC or BBR replaces the window
 * arithmetic without touching the detection. `priv` is each algorithm's
 * own state (CUBIC's W_max and epoch fit); `pacing_rate` is where a paced
 * algorithm would publish its rate (0: not paced, unused by NewReno).
 *
 * Every hook takes the sender's MSS (SMSS) and, where the RFC needs it,
 * FlightSize in bytes. All integer arithmetic. */
#ifndef TW_NET_TCP_CC_H
#define TW_NET_TCP_CC_H

#include <stdint.h>

#include "base/time.h"
#include "net/tcp/tcp.h"

typedef struct tw_tcp_cc {
    uint32_t cwnd;        /* bytes */
    uint32_t ssthresh;    /* bytes */
    uint32_t bytes_acked; /* congestion avoidance byte counter */
    uint32_t pacing_rate; /* bytes per ms; 0: not paced */
    uint64_t priv[2];
} tw_tcp_cc;

struct tw_tcp_cc_ops {
    const char *name;
    /* A new connection with initial window iw bytes. */
    void (*init)(tw_tcp_cc *cc, uint32_t smss, uint32_t iw);
    /* acked bytes of new data acknowledged outside recovery. */
    void (*on_ack)(tw_tcp_cc *cc, uint32_t smss, uint32_t acked, tw_ns now);
    /* The third duplicate ACK: ssthresh and the inflated window of fast
     * recovery (RFC 5681 §3.2 steps 2-3). */
    void (*enter_recovery)(tw_tcp_cc *cc, uint32_t smss, uint32_t flight);
    /* Each further duplicate ACK in recovery (RFC 5681 §3.2 step 4). */
    void (*on_recovery_dupack)(tw_tcp_cc *cc, uint32_t smss);
    /* An ACK of new data below `recover` (RFC 6582 §3.2 step 5). */
    void (*on_partial_ack)(tw_tcp_cc *cc, uint32_t smss, uint32_t acked);
    /* An ACK covering `recover` (RFC 6582 §3.2 step 3). */
    void (*exit_recovery)(tw_tcp_cc *cc, uint32_t smss, uint32_t flight);
    /* A retransmission timeout; first is false for the backed-off repeats
     * of one loss, which must not lower ssthresh again (RFC 5681 §3.1). */
    void (*on_rto)(tw_tcp_cc *cc, uint32_t smss, uint32_t flight, int first);
    /* Sending after an idle period longer than RTO (RFC 5681 §4.1). */
    void (*on_idle_restart)(tw_tcp_cc *cc, uint32_t smss, uint32_t iw);
};

extern const tw_tcp_cc_ops tw_tcp_cc_newreno;

/* RFC 6928 §2: min(segs * SMSS, max(2 * SMSS, 14600)) for segs = 10; for
 * other segment counts the cap scales the same way. */
uint32_t tw_tcp_cc_initial_window(uint32_t smss, uint32_t segs);

#endif
