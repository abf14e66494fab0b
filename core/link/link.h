/* One direction of a link, as a pure sans-io component.
 *
 * Frames go in with a time (tw_link_enqueue), come out when due
 * (tw_link_pop), and the link says when to look next
 * (tw_link_next_deadline). The simulator schedules it and the live shaper
 * runs the very same model on real frames, so nothing here reads a clock,
 * draws from anything but the link's own rng stream, or allocates after
 * tw_link_init.
 *
 * The path of a frame:
 *
 *   enqueue -> [down? mtu? queue limits? pool?] -> transmit queue (FIFO,
 *   drop-tail or CoDel at dequeue) -> serialisation at `bandwidth_bps` ->
 *   departure: loss (Bernoulli, Gilbert-Elliott), duplication, then per
 *   copy corruption, reordering and jitter -> propagation -> due -> clog
 *   -> pop
 *
 * Every frame that does not come out is a drop with a reason and a
 * counter. Determinism: the same configuration, seed and calls give the
 * same frames at the same times, bit for bit.
 *
 * Ordering obligations: `now` never decreases across calls on one link.
 * After the driver has popped everything due at `now`, the link has no
 * business before tw_link_next_deadline(), which may be a lower bound
 * (waking there may find nothing due: the head of the queue was lost or
 * dropped on the way). */
#ifndef TW_LINK_LINK_H
#define TW_LINK_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ratio.h"
#include "base/rng.h"
#include "base/time.h"

/* Limits on the configuration: each keeps the integer arithmetic far from
 * overflow and the buffers bounded. */
#define TW_LINK_BANDWIDTH_MIN 1000ull             /* bits/s, when not 0 */
#define TW_LINK_BANDWIDTH_MAX 1000000000000000ull /* 1 Pbit/s */
#define TW_LINK_DELAY_MAX TW_SEC(3600)            /* delay, jitter, reorder */
#define TW_LINK_MTU_MAX 65535u
#define TW_LINK_HEADER_MAX 256u
#define TW_LINK_FRAMES_MAX (1u << 20)                /* pool and queue packets */
#define TW_LINK_CODEL_INTERVAL_MAX TW_NS(UINT32_MAX) /* so interval^2 fits 64 bits */

typedef enum tw_link_aqm {
    TW_LINK_AQM_DROPTAIL = 0,
    TW_LINK_AQM_CODEL, /* RFC 8289 */
} tw_link_aqm;

/* Why a frame did not come out. */
typedef enum tw_link_drop {
    TW_LINK_DROP_QUEUE_BYTES = 0, /* the transmit queue's byte limit */
    TW_LINK_DROP_QUEUE_PACKETS,   /* the transmit queue's packet limit */
    TW_LINK_DROP_CODEL,           /* CoDel, at dequeue */
    TW_LINK_DROP_LOSS,            /* lost on the wire (Bernoulli or Gilbert-Elliott) */
    TW_LINK_DROP_MTU,             /* longer than mtu + header_bytes */
    TW_LINK_DROP_DOWN,            /* the link is (or went) down */
    TW_LINK_DROP_POOL,            /* no frame buffer left */
    TW_LINK_DROP_COUNT
} tw_link_drop;

/* Gilbert-Elliott burst loss: a two-state Markov chain stepped once per
 * frame; a frame is lost with the loss ratio of the state it meets. The
 * mean burst (stay in bad) is 1/bad_to_good frames; the share of frames in
 * bad is good_to_bad / (good_to_bad + bad_to_good). */
typedef struct tw_link_gilbert {
    tw_ratio good_to_bad;
    tw_ratio bad_to_good;
    tw_ratio loss_good;
    tw_ratio loss_bad;
} tw_link_gilbert;

typedef struct tw_link_config {
    uint64_t bandwidth_bps; /* 0: infinite (no serialisation delay) */
    tw_ns delay_ns;         /* propagation */
    tw_ns jitter_ns;        /* uniform in [0, jitter_ns] per frame */
    /* Without it a frame never arrives before the one sent before it: jitter
     * then only stretches gaps, as on a real wire. */
    bool jitter_reorders;

    /* The transmit queue in front of serialisation; a frame is counted
     * against both limits until it starts serialising. */
    uint32_t queue_packets_limit;
    uint32_t queue_bytes_limit;
    tw_link_aqm aqm;
    tw_ns codel_target_ns;   /* RFC 8289 TARGET, 5 ms by default */
    tw_ns codel_interval_ns; /* RFC 8289 INTERVAL, 100 ms by default */

    tw_ratio loss; /* Bernoulli, per frame */
    tw_link_gilbert gilbert;
    tw_ratio duplicate;     /* the copy takes its own corruption, reordering and jitter */
    tw_ratio reorder;       /* frames held back by reorder_delay_ns ... */
    tw_ns reorder_delay_ns; /* ... so that later frames overtake them */
    tw_ratio corrupt;       /* flip one uniformly chosen bit of the copy */

    uint32_t mtu;          /* bytes above the link header */
    uint32_t header_bytes; /* the link header: frames up to mtu + header_bytes pass */
    /* Frame buffers, for frames queued, in flight and the one last popped. */
    uint32_t pool_frames;
    /* Going down drops every accepted frame (queued, serialising or
     * propagating) unless this is set, when they are delivered as if the
     * link had stayed up. */
    bool keep_in_flight_on_down;
    uint64_t stream; /* this link's rng stream under the scenario seed */
} tw_link_config;

/* A frame handed out by tw_link_pop. */
#define TW_LINK_FRAME_DUPLICATE 0x1u /* the second copy of a duplicated frame */
#define TW_LINK_FRAME_CORRUPTED 0x2u /* one bit flipped */
#define TW_LINK_FRAME_REORDERED 0x4u /* held back by reorder_delay_ns */

typedef struct tw_link_frame {
    tw_ns due;           /* when it reached the far end (held by a clog: its end) */
    tw_ns enqueued;      /* when it was handed to the link */
    const uint8_t *data; /* valid until the next tw_link_pop on this link */
    uint32_t len;
    uint32_t flags; /* TW_LINK_FRAME_* */
    uint64_t tag;   /* the caller's, from tw_link_enqueue */
} tw_link_frame;

typedef struct tw_link_stats {
    uint64_t frames_in; /* every tw_link_enqueue call */
    uint64_t bytes_in;
    uint64_t frames_out; /* every frame popped */
    uint64_t bytes_out;
    uint64_t drops[TW_LINK_DROP_COUNT];
    uint64_t dropped; /* the sum of drops[], so a driver can tell at a glance */
    uint64_t duplicated; /* copies decided (one refused by the pool is also a pool drop) */
    uint64_t reordered;
    uint64_t corrupted;
    uint32_t queue_packets; /* current transmit-queue backlog */
    uint32_t queue_bytes;
    uint32_t queue_packets_high; /* high water of the backlog */
    uint32_t queue_bytes_high;
    uint32_t in_flight; /* serialising or propagating, including clogged */
} tw_link_stats;

/* RFC 8289 §5 state; first_above_time 0 means "not above target". */
typedef struct tw_link_codel {
    tw_ns first_above_time;
    tw_ns drop_next;
    uint32_t count;
    uint32_t lastcount;
    bool dropping;
} tw_link_codel;

/* A frame in flight, ordered by (due, seq): ties leave in departure order. */
typedef struct tw_link_flight {
    tw_ns due;
    uint64_t seq;
    uint32_t index; /* in the frame pool */
} tw_link_flight;

typedef struct tw_link {
    tw_link_config cfg;
    tw_rng rng;
    uint32_t frame_max;         /* mtu + header_bytes: one buffer */
    struct tw_link_meta *metas; /* per-frame metadata, pool_frames, indexed like buffers */
    uint32_t *free_ids;         /* a stack of the free indices */
    uint32_t free_len;
    uint8_t *buffers;       /* pool_frames * frame_max bytes */
    uint32_t *queue;        /* pool indices before serialisation: a FIFO ring of
                             * queue_packets_limit, stats.queue_packets long */
    uint32_t queue_head;    /* the ring's oldest slot */
    tw_link_flight *flight; /* binary min-heap, pool_frames entries */
    uint32_t flight_len;
    /* Without reordering every frame is due no earlier than the one before
     * (see link.c), so the heap would only ever pop in push order: then
     * `flight` is a FIFO ring from flight_head instead. */
    bool flight_fifo;
    /* No random impairment configured: departures draw nothing (see
     * link.c) and skip the draws' calls. */
    bool plain;
    uint32_t flight_head;
    uint32_t held; /* the frame last popped, released at the next pop */

    tw_ns tx_free_at; /* when serialisation of the last dequeued frame ends */
    uint64_t tx_rem;  /* the remainder (bit-ns mod bandwidth) carried on */
    tw_link_codel codel;
    bool gilbert_bad;
    tw_ns last_due; /* the no-reorder floor for the next frame */
    uint64_t seq;
    tw_ns clog_from; /* frames due in [clog_from, clog_until) are held */
    tw_ns clog_until;
    bool up;
    tw_ns now; /* the last `now` seen, to assert monotonicity */
    tw_link_stats stats;
} tw_link;

/* A usable link: 1500-byte MTU over a 14-byte Ethernet header, infinite
 * bandwidth, no delay, 1000-packet drop-tail queue, no impairments. */
tw_link_config tw_link_config_default(void);

/* 0, or -TW_EINVAL with *what naming the first offending field as written
 * in a scenario ("codel_interval_ns", "gilbert.loss_bad"). */
int tw_link_config_check(const tw_link_config *cfg, const char **what);

/* Allocates the pools (init time only); the link starts up at time 0 with
 * its rng on stream cfg->stream of `seed`. Returns 0 or -TW_EINVAL for a
 * configuration tw_link_config_check rejects. */
int tw_link_init(tw_link *l, const tw_link_config *cfg, uint64_t seed);
void tw_link_free(tw_link *l);

/* Hands a frame of len > 0 bytes to the link at now; the link copies it.
 * 0 when accepted (it may still be lost or dropped by CoDel later), or a
 * negative error with the drop counted: -TW_ECLOSED (down), -TW_ETOOBIG
 * (mtu), -TW_EFULL (queue bytes or packets), -TW_ENOMEM (pool). */
int tw_link_enqueue(tw_link *l, tw_ns now, const uint8_t *frame, size_t len, uint64_t tag);

/* The next frame due at or before now, in (due, departure) order; false
 * when none is. Releases the frame returned by the previous pop. */
bool tw_link_pop(tw_link *l, tw_ns now, tw_link_frame *out);

/* When the next frame may be due; TW_NS_NEVER when the link holds none. */
tw_ns tw_link_next_deadline(const tw_link *l);

/* Down: frames enqueued are dropped (reason down), and so are those
 * accepted before unless keep_in_flight_on_down. */
void tw_link_set_up(tw_link *l, tw_ns now, bool up);

/* Holds every frame due from now on until `until`, then releases them in
 * order. A later call replaces `until` (tw_link_clog(l, now, now) ends a
 * clog early); frames already held stay held. */
void tw_link_clog(tw_link *l, tw_ns now, tw_ns until);

static inline const tw_link_stats *tw_link_get_stats(const tw_link *l)
{
    return &l->stats;
}

/* "queue_bytes", "queue_packets", "codel", "loss", "mtu", "down", "pool". */
const char *tw_link_drop_name(tw_link_drop reason);

#endif
