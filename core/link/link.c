/* The link model: one direction, pure.
 *
 * Reading list: RFC 8289 (CoDel: §5.5 dequeue, §5.6 dodequeue and
 * control_law); Gilbert 1960 / Elliott 1963 for the two-state burst loss
 * channel; Linux netem for the set of impairments.
 *
 * IMPLEMENTATION NOTES
 *
 * Lazy transmitter. The transmit queue is drained by events nobody
 * schedules: the head starts serialising at max(tx_free_at, its enqueue
 * time). Every entry point first runs those events up to `now` (advance),
 * in time order and at their own times, so CoDel sees each dequeue at its
 * exact instant whatever the driver's call pattern. Invariant after any call
 * at `now`: every dequeue due at or before `now` has happened, so each frame
 * still queued was enqueued no later than the next dequeue.
 *
 * Exact serialisation. A frame of len bytes takes len*8*1e9/bandwidth ns;
 * the integer division's remainder is carried into the next frame while
 * the transmitter is busy, so n back-to-back frames end exactly
 * floor(total bits * 1e9 / bandwidth) ns after the first starts: no drift
 * however long the run. An idle gap of a whole ns swallows the fraction.
 *
 * Departure. A frame that finished serialising may be lost (it occupied
 * the wire all the same; NOTE: netem drops at enqueue instead) and may be
 * duplicated; then each copy independently may be corrupted, held back for
 * reordering and jittered. Random draws happen in that fixed order, only
 * here and never for a knob set to 0, so the stream is a function of the
 * configuration and the calls.
 *
 * In flight. Frames wait for their due time in a binary min-heap keyed by
 * (due, departure sequence). Without jitter_reorders each non-reordered
 * frame is due no earlier than the previous one (last_due), so only frames
 * held back by the reorder ratio (or jitter with the flag) overtake. A link
 * configured so that none can (no reorder ratio; no jitter, or jitter
 * without the flag) keeps them in a FIFO ring instead: the heap's order
 * would be push order anyway, and a ring costs O(1), not O(log n), per
 * frame (a 10 Gbps link with 100 us of delay has ~80 frames in flight).
 *
 * Clog. Frames due in [clog_from, clog_until) leave at clog_until; that map
 * is monotone in the due time, so the heap's top is still the next out.
 *
 * Buffers. A frame is an index into two parallel arrays, its metadata and
 * its bytes, taken from a stack of free indices: taking one clears 32
 * bytes of metadata, not a whole frame, and costs no division (a tw_pool
 * finds an object's index by dividing its offset). */
#include "link/link.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/mem.h"

#define NONE UINT32_MAX

typedef struct tw_link_meta {
    tw_ns enqueued;
    uint64_t tag;
    uint32_t len;
    uint32_t flags;
} frame_meta;

static const char *const drop_names[TW_LINK_DROP_COUNT] = {
    [TW_LINK_DROP_QUEUE_BYTES] = "queue_bytes",
    [TW_LINK_DROP_QUEUE_PACKETS] = "queue_packets",
    [TW_LINK_DROP_CODEL] = "codel",
    [TW_LINK_DROP_LOSS] = "loss",
    [TW_LINK_DROP_MTU] = "mtu",
    [TW_LINK_DROP_DOWN] = "down",
    [TW_LINK_DROP_POOL] = "pool",
};

const char *tw_link_drop_name(tw_link_drop reason)
{
    if ((unsigned)reason >= TW_LINK_DROP_COUNT) {
        return "unknown";
    }
    return drop_names[reason];
}

tw_link_config tw_link_config_default(void)
{
    return (tw_link_config){
        .bandwidth_bps = 0,
        .queue_packets_limit = 1000,
        .queue_bytes_limit = 1000u * 1514u,
        .aqm = TW_LINK_AQM_DROPTAIL,
        .codel_target_ns = TW_MS(5),
        .codel_interval_ns = TW_MS(100),
        .loss = TW_RATIO_ZERO,
        .gilbert = {.good_to_bad = TW_RATIO_ZERO,
                    .bad_to_good = TW_RATIO_ONE,
                    .loss_good = TW_RATIO_ZERO,
                    .loss_bad = TW_RATIO_ONE},
        .duplicate = TW_RATIO_ZERO,
        .reorder = TW_RATIO_ZERO,
        .corrupt = TW_RATIO_ZERO,
        .mtu = 1500,
        .header_bytes = 14,
        .pool_frames = 2048,
    };
}

int tw_link_config_check(const tw_link_config *c, const char **what)
{
#define CHECK(cond, name)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (what) {                                                                            \
                *what = (name);                                                                    \
            }                                                                                      \
            return -TW_EINVAL;                                                                     \
        }                                                                                          \
    } while (0)
    CHECK(c->bandwidth_bps == 0 || c->bandwidth_bps >= TW_LINK_BANDWIDTH_MIN, "bandwidth_bps");
    CHECK(c->bandwidth_bps <= TW_LINK_BANDWIDTH_MAX, "bandwidth_bps");
    CHECK(c->delay_ns <= TW_LINK_DELAY_MAX, "delay_ns");
    CHECK(c->jitter_ns <= TW_LINK_DELAY_MAX, "jitter_ns");
    CHECK(c->queue_packets_limit > 0, "queue_packets_limit");
    CHECK(c->queue_packets_limit <= TW_LINK_FRAMES_MAX, "queue_packets_limit");
    CHECK(c->aqm == TW_LINK_AQM_DROPTAIL || c->aqm == TW_LINK_AQM_CODEL, "aqm");
    CHECK(c->codel_target_ns > 0, "codel_target_ns");
    CHECK(c->codel_interval_ns > 0, "codel_interval_ns");
    CHECK(c->codel_interval_ns <= TW_LINK_CODEL_INTERVAL_MAX, "codel_interval_ns");
    CHECK(tw_ratio_valid(c->loss), "loss");
    CHECK(tw_ratio_valid(c->gilbert.good_to_bad), "gilbert.good_to_bad");
    CHECK(tw_ratio_valid(c->gilbert.bad_to_good), "gilbert.bad_to_good");
    CHECK(tw_ratio_valid(c->gilbert.loss_good), "gilbert.loss_good");
    CHECK(tw_ratio_valid(c->gilbert.loss_bad), "gilbert.loss_bad");
    CHECK(tw_ratio_valid(c->duplicate), "duplicate");
    CHECK(tw_ratio_valid(c->reorder), "reorder");
    CHECK(c->reorder_delay_ns <= TW_LINK_DELAY_MAX, "reorder_delay_ns");
    CHECK(tw_ratio_valid(c->corrupt), "corrupt");
    CHECK(c->mtu > 0, "mtu");
    CHECK(c->mtu <= TW_LINK_MTU_MAX, "mtu");
    CHECK(c->header_bytes <= TW_LINK_HEADER_MAX, "header_bytes");
    /* A byte limit below one full frame would refuse every full frame. */
    CHECK(c->queue_bytes_limit >= c->mtu + c->header_bytes, "queue_bytes_limit");
    CHECK(c->pool_frames > 0, "pool_frames");
    CHECK(c->pool_frames <= TW_LINK_FRAMES_MAX, "pool_frames");
#undef CHECK
    return 0;
}

int tw_link_init(tw_link *l, const tw_link_config *cfg, uint64_t seed)
{
    int rc = tw_link_config_check(cfg, NULL);
    if (rc < 0) {
        return rc;
    }
    memset(l, 0, sizeof(*l));
    l->cfg = *cfg;
    tw_rng_init(&l->rng, seed, cfg->stream);
    l->frame_max = cfg->mtu + cfg->header_bytes;
    l->metas = tw_mem_calloc(cfg->pool_frames, sizeof(frame_meta));
    l->free_ids = tw_mem_calloc(cfg->pool_frames, sizeof(uint32_t));
    for (uint32_t i = 0; i < cfg->pool_frames; i++) {
        l->free_ids[i] = cfg->pool_frames - 1 - i; /* 0 on top */
    }
    l->free_len = cfg->pool_frames;
    l->buffers = tw_mem_calloc(cfg->pool_frames, l->frame_max);
    l->queue = tw_mem_calloc(cfg->queue_packets_limit, sizeof(uint32_t));
    l->flight = tw_mem_calloc(cfg->pool_frames, sizeof(tw_link_flight));
    l->held = NONE;
    l->up = true;
    l->flight_fifo = tw_ratio_is_zero(cfg->reorder) && (cfg->jitter_ns == 0 || !cfg->jitter_reorders);
    /* Each of these at zero makes its tw_rng_chance answer no without a
     * draw, and the Gilbert-Elliott chain never leaves good: a departure
     * then draws nothing whether or not it asks. */
    l->plain = tw_ratio_is_zero(cfg->loss) && tw_ratio_is_zero(cfg->gilbert.good_to_bad) &&
               tw_ratio_is_zero(cfg->gilbert.loss_good) && tw_ratio_is_zero(cfg->duplicate) &&
               tw_ratio_is_zero(cfg->reorder) && tw_ratio_is_zero(cfg->corrupt) &&
               cfg->jitter_ns == 0;
    return 0;
}

void tw_link_free(tw_link *l)
{
    tw_mem_free(l->metas);
    tw_mem_free(l->free_ids);
    tw_mem_free(l->queue);
    tw_mem_free(l->buffers);
    tw_mem_free(l->flight);
    memset(l, 0, sizeof(*l));
}

static frame_meta *meta_at(const tw_link *l, uint32_t i)
{
    TW_ASSERT(i < l->cfg.pool_frames);
    return &l->metas[i];
}

/* A cleared frame, or NONE when every buffer is in use. */
static uint32_t frame_take(tw_link *l)
{
    if (l->free_len == 0) {
        return NONE;
    }
    uint32_t i = l->free_ids[--l->free_len];
    *meta_at(l, i) = (frame_meta){0};
    return i;
}

static uint8_t *data_at(const tw_link *l, uint32_t i)
{
    return l->buffers + (size_t)i * l->frame_max;
}

static void release(tw_link *l, uint32_t i)
{
    TW_ASSERT(i < l->cfg.pool_frames);
    TW_ASSERT(l->free_len < l->cfg.pool_frames); /* not a double release */
    l->free_ids[l->free_len++] = i;
}

static void drop(tw_link *l, uint32_t i, tw_link_drop reason)
{
    release(l, i);
    l->stats.drops[reason]++;
    l->stats.dropped++;
}

/* Time arithmetic in here stays below TW_NS_NEVER by the configuration's
 * limits; an overflow would mean a driver fed an absurd `now`. */
static tw_ns add_ns(tw_ns a, tw_ns b)
{
    TW_ASSERT(b < TW_NS_NEVER - a);
    return a + b;
}

static void observe(tw_link *l, tw_ns now)
{
    TW_ASSERT(now >= l->now);
    TW_ASSERT(now != TW_NS_NEVER);
    l->now = now;
}

/* ---- in flight: a binary min-heap on (due, seq) ---- */

static bool flight_before(const tw_link_flight *a, const tw_link_flight *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static uint32_t fifo_slot(const tw_link *l, uint32_t i)
{
    uint32_t p = l->flight_head + i;
    return p >= l->cfg.pool_frames ? p - l->cfg.pool_frames : p;
}

/* The next frame out; flight_len > 0. */
static const tw_link_flight *flight_top(const tw_link *l)
{
    return &l->flight[l->flight_fifo ? l->flight_head : 0];
}

static void flight_push(tw_link *l, tw_link_flight f)
{
    /* Every entry holds a pool buffer, so the pool bounds the heap. */
    TW_ASSERT(l->flight_len < l->cfg.pool_frames);
    if (l->flight_fifo) {
        /* Monotone due times are what make the ring the heap's order. */
        TW_ASSERT(l->flight_len == 0 ||
                  l->flight[fifo_slot(l, l->flight_len - 1)].due <= f.due);
        l->flight[fifo_slot(l, l->flight_len)] = f;
        l->stats.in_flight = ++l->flight_len;
        return;
    }
    uint32_t i = l->flight_len++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!flight_before(&f, &l->flight[parent])) {
            break;
        }
        l->flight[i] = l->flight[parent];
        i = parent;
    }
    l->flight[i] = f;
    l->stats.in_flight = l->flight_len;
}

static tw_link_flight flight_pop(tw_link *l)
{
    TW_ASSERT(l->flight_len > 0);
    if (l->flight_fifo) {
        tw_link_flight head = l->flight[l->flight_head];
        l->flight_head = fifo_slot(l, 1);
        l->stats.in_flight = --l->flight_len;
        return head;
    }
    tw_link_flight top = l->flight[0];
    uint32_t n = --l->flight_len;
    if (n > 0) {
        tw_link_flight last = l->flight[n];
        uint32_t i = 0;
        for (;;) {
            uint32_t child = 2 * i + 1;
            if (child >= n) {
                break;
            }
            if (child + 1 < n && flight_before(&l->flight[child + 1], &l->flight[child])) {
                child++;
            }
            if (!flight_before(&l->flight[child], &last)) {
                break;
            }
            l->flight[i] = l->flight[child];
            i = child;
        }
        l->flight[i] = last;
    }
    l->stats.in_flight = n;
    return top;
}

/* When a frame due at `due` may leave: a clog holds it to the clog's end. */
static tw_ns release_time(const tw_link *l, tw_ns due)
{
    return (due >= l->clog_from && due < l->clog_until) ? l->clog_until : due;
}

/* ---- the transmit queue ----
 *
 * A ring of its own rather than a tw_ring: the transmitter looks at its
 * head on every entry point, and these are inline. Its length is
 * stats.queue_packets, which the packet limit keeps within the ring. */

static bool queue_empty(const tw_link *l)
{
    return l->stats.queue_packets == 0;
}

/* The oldest frame queued; the queue is not empty. */
static uint32_t queue_head(const tw_link *l)
{
    TW_ASSERT(!queue_empty(l));
    return l->queue[l->queue_head];
}

static void queue_push(tw_link *l, uint32_t i)
{
    uint32_t n = l->stats.queue_packets;
    TW_ASSERT(n < l->cfg.queue_packets_limit);
    uint32_t slot = l->queue_head + n;
    l->queue[slot >= l->cfg.queue_packets_limit ? slot - l->cfg.queue_packets_limit : slot] = i;
}

static uint32_t queue_take(tw_link *l)
{
    if (queue_empty(l)) {
        return NONE;
    }
    uint32_t i = queue_head(l);
    l->queue_head = l->queue_head + 1 == l->cfg.queue_packets_limit ? 0 : l->queue_head + 1;
    const frame_meta *m = meta_at(l, i);
    TW_ASSERT(l->stats.queue_bytes >= m->len);
    l->stats.queue_packets--;
    l->stats.queue_bytes -= m->len;
    return i;
}

/* Serialisation time of len bytes starting at `start`, with the remainder
 * to carry into the next frame (see the notes). */
static tw_ns serialise_ns(const tw_link *l, uint32_t len, tw_ns start, uint64_t *rem)
{
    uint64_t bw = l->cfg.bandwidth_bps;
    if (bw == 0) {
        *rem = 0;
        return 0;
    }
    /* The last frame truly ended within a ns after tx_free_at; a start
     * later than that found the wire idle, and the fraction is gone. */
    uint64_t carry = start > l->tx_free_at ? 0 : l->tx_rem;
    /* Fits 64 bits: len <= 65791 gives < 5.3e14, carry < bw <= 1e15. */
    TW_STATIC_ASSERT((TW_LINK_MTU_MAX + TW_LINK_HEADER_MAX) * 8000000000ull +
                             TW_LINK_BANDWIDTH_MAX <
                         UINT64_MAX / 2,
                     "bit-ns of a frame fit 64 bits");
    uint64_t bit_ns = (uint64_t)len * 8000000000ull + carry;
    *rem = bit_ns % bw;
    return bit_ns / bw;
}

/* ---- CoDel, RFC 8289 ---- */

/* floor(sqrt(x)), digit by digit: exact, and no floats. */
static uint64_t isqrt64(uint64_t x)
{
    uint64_t root = 0;
    uint64_t bit = 1ull << 62;
    while (bit > x) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (x >= root + bit) {
            x -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}

/* RFC 8289 §5.6 control_law: t + INTERVAL / sqrt(count). Computed as
 * floor(sqrt(floor(INTERVAL^2 / count))), which equals
 * floor(INTERVAL / sqrt(count)) exactly; INTERVAL^2 fits 64 bits by the
 * configuration limit. */
static tw_ns codel_control_law(const tw_link *l, tw_ns t, uint32_t count)
{
    TW_ASSERT(count > 0);
    uint64_t interval = l->cfg.codel_interval_ns;
    return add_ns(t, isqrt64(interval * interval / count));
}

/* RFC 8289 §5.6 dodequeue: takes the head and says whether the sojourn
 * time has stayed above TARGET for INTERVAL (with more than one MTU
 * queued, so a link too slow for TARGET is not starved). */
static uint32_t codel_dodequeue(tw_link *l, tw_ns now, bool *ok_to_drop)
{
    tw_link_codel *c = &l->codel;
    *ok_to_drop = false;
    uint32_t i = queue_take(l);
    if (i == NONE) {
        c->first_above_time = 0;
        return NONE;
    }
    const frame_meta *m = meta_at(l, i);
    TW_ASSERT(m->enqueued <= now);
    tw_ns sojourn = now - m->enqueued;
    if (sojourn < l->cfg.codel_target_ns || l->stats.queue_bytes <= l->frame_max) {
        c->first_above_time = 0;
    } else if (c->first_above_time == 0) {
        c->first_above_time = add_ns(now, l->cfg.codel_interval_ns);
    } else if (now >= c->first_above_time) {
        *ok_to_drop = true;
    }
    return i;
}

static void codel_count_up(tw_link_codel *c)
{
    /* A limit on everything: the count saturates instead of wrapping. */
    if (c->count < UINT32_MAX) {
        c->count++;
    }
}

/* RFC 8289 §5.5 dequeue, at the instant the transmitter is free: the frame
 * to serialise, or NONE when CoDel dropped everything queued. */
static uint32_t codel_dequeue(tw_link *l, tw_ns now)
{
    tw_link_codel *c = &l->codel;
    bool ok_to_drop;
    uint32_t i = codel_dodequeue(l, now, &ok_to_drop);
    if (i == NONE) {
        c->dropping = false;
        return NONE;
    }
    if (c->dropping) {
        if (!ok_to_drop) {
            c->dropping = false;
        }
        /* A large backlog may call for several drops at one instant. */
        while (c->dropping && now >= c->drop_next) {
            drop(l, i, TW_LINK_DROP_CODEL);
            codel_count_up(c);
            i = codel_dodequeue(l, now, &ok_to_drop);
            if (!ok_to_drop) {
                c->dropping = false;
            } else {
                c->drop_next = codel_control_law(l, c->drop_next, c->count);
            }
        }
    } else if (ok_to_drop) {
        drop(l, i, TW_LINK_DROP_CODEL);
        i = codel_dodequeue(l, now, &ok_to_drop);
        c->dropping = true;
        /* Re-entering soon after the last episode resumes its drop rate
         * (the Linux variant the RFC adopts). Signed: drop_next may lie
         * ahead of now. */
        uint32_t delta = c->count - c->lastcount;
        int64_t since = (int64_t)(now - c->drop_next);
        c->count = 1;
        if (delta > 1 && since < (int64_t)(16 * l->cfg.codel_interval_ns)) {
            c->count = delta;
        }
        c->drop_next = codel_control_law(l, now, c->count);
        c->lastcount = c->count;
    }
    return i;
}

static void codel_idle(tw_link_codel *c)
{
    c->first_above_time = 0;
    c->dropping = false;
}

/* ---- departure ---- */

/* Bernoulli loss, then Gilbert-Elliott: lost with the current state's
 * ratio, then the chain steps for the next frame. */
static bool lost_on_wire(tw_link *l)
{
    const tw_link_gilbert *g = &l->cfg.gilbert;
    bool lost = tw_rng_chance(&l->rng, l->cfg.loss);
    lost |= tw_rng_chance(&l->rng, l->gilbert_bad ? g->loss_bad : g->loss_good);
    if (l->gilbert_bad) {
        l->gilbert_bad = !tw_rng_chance(&l->rng, g->bad_to_good);
    } else {
        l->gilbert_bad = tw_rng_chance(&l->rng, g->good_to_bad);
    }
    return lost;
}

/* A second copy of frame i, or NONE (a pool drop) when no buffer is left. */
static uint32_t duplicate(tw_link *l, uint32_t i)
{
    l->stats.duplicated++;
    uint32_t c = frame_take(l);
    if (c == NONE) {
        l->stats.drops[TW_LINK_DROP_POOL]++;
        l->stats.dropped++;
        return NONE;
    }
    const frame_meta *m = meta_at(l, i);
    frame_meta *copy = meta_at(l, c);
    *copy = *m;
    copy->flags |= TW_LINK_FRAME_DUPLICATE;
    memcpy(data_at(l, c), data_at(l, i), m->len);
    return c;
}

/* One copy onto the wire: corruption, reordering, jitter, propagation. */
static void launch(tw_link *l, uint32_t i, tw_ns departed)
{
    const tw_link_config *c = &l->cfg;
    frame_meta *m = meta_at(l, i);
    bool held_back = false;
    tw_ns jitter = 0;
    if (!l->plain) {
        if (tw_rng_chance(&l->rng, c->corrupt)) {
            uint64_t bit = tw_rng_below(&l->rng, (uint64_t)m->len * 8u);
            data_at(l, i)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            m->flags |= TW_LINK_FRAME_CORRUPTED;
            l->stats.corrupted++;
        }
        held_back = tw_rng_chance(&l->rng, c->reorder);
        jitter = c->jitter_ns ? tw_rng_below(&l->rng, c->jitter_ns + 1) : 0;
    }
    tw_ns due = add_ns(add_ns(departed, c->delay_ns), jitter);
    if (held_back) {
        /* Exempt from last_due: the point is that later frames overtake. */
        due = add_ns(due, c->reorder_delay_ns);
        m->flags |= TW_LINK_FRAME_REORDERED;
        l->stats.reordered++;
    } else if (!c->jitter_reorders) {
        due = tw_ns_max(due, l->last_due);
        l->last_due = due;
    }
    flight_push(l, (tw_link_flight){.due = due, .seq = l->seq++, .index = i});
}

static void depart(tw_link *l, uint32_t i, tw_ns departed)
{
    if (l->plain) {
        launch(l, i, departed);
        return;
    }
    if (lost_on_wire(l)) {
        drop(l, i, TW_LINK_DROP_LOSS);
        return;
    }
    uint32_t copy = NONE;
    if (tw_rng_chance(&l->rng, l->cfg.duplicate)) {
        copy = duplicate(l, i);
    }
    launch(l, i, departed);
    if (copy != NONE) {
        launch(l, copy, departed);
    }
}

/* Runs the transmitter's dequeues due at or before now, each at its own
 * instant (see the notes). */
static void advance(tw_link *l, tw_ns now)
{
    while (!queue_empty(l)) {
        tw_ns start = tw_ns_max(l->tx_free_at, meta_at(l, queue_head(l))->enqueued);
        if (start > now) {
            break;
        }
        uint32_t i = l->cfg.aqm == TW_LINK_AQM_CODEL ? codel_dequeue(l, start) : queue_take(l);
        if (i == NONE) {
            continue;
        }
        uint64_t rem;
        tw_ns ser = serialise_ns(l, meta_at(l, i)->len, start, &rem);
        l->tx_rem = rem;
        l->tx_free_at = add_ns(start, ser);
        depart(l, i, l->tx_free_at);
    }
    /* RFC 8289 §5.5: a dequeue that finds the queue empty leaves the
     * dropping state; the transmitter did that when it went idle. */
    if (queue_empty(l) && l->tx_free_at <= now) {
        codel_idle(&l->codel);
    }
}

/* ---- the entry points ---- */

static int refuse(tw_link *l, tw_link_drop reason, int err)
{
    l->stats.drops[reason]++;
    l->stats.dropped++;
    return err;
}

int tw_link_enqueue(tw_link *l, tw_ns now, const uint8_t *frame, size_t len, uint64_t tag)
{
    TW_ASSERT(frame != NULL);
    TW_ASSERT(len > 0);
    observe(l, now);
    advance(l, now);
    tw_link_stats *st = &l->stats;
    st->frames_in++;
    st->bytes_in += len;
    if (!l->up) {
        return refuse(l, TW_LINK_DROP_DOWN, -TW_ECLOSED);
    }
    if (len > l->frame_max) {
        return refuse(l, TW_LINK_DROP_MTU, -TW_ETOOBIG);
    }
    if (st->queue_packets >= l->cfg.queue_packets_limit) {
        return refuse(l, TW_LINK_DROP_QUEUE_PACKETS, -TW_EFULL);
    }
    if (st->queue_bytes + len > l->cfg.queue_bytes_limit) {
        return refuse(l, TW_LINK_DROP_QUEUE_BYTES, -TW_EFULL);
    }
    uint32_t i = frame_take(l);
    if (i == NONE) {
        return refuse(l, TW_LINK_DROP_POOL, -TW_ENOMEM);
    }
    frame_meta *m = meta_at(l, i);
    m->enqueued = now;
    m->tag = tag;
    m->len = (uint32_t)len;
    memcpy(data_at(l, i), frame, len);
    /* The packet limit is checked above: the ring has room. */
    queue_push(l, i);
    st->queue_packets++;
    st->queue_bytes += (uint32_t)len;
    if (st->queue_packets > st->queue_packets_high) {
        st->queue_packets_high = st->queue_packets;
    }
    if (st->queue_bytes > st->queue_bytes_high) {
        st->queue_bytes_high = st->queue_bytes;
    }
    /* An idle transmitter takes the frame at once. */
    advance(l, now);
    return 0;
}

bool tw_link_pop(tw_link *l, tw_ns now, tw_link_frame *out)
{
    observe(l, now);
    advance(l, now);
    if (l->held != NONE) {
        release(l, l->held);
        l->held = NONE;
    }
    if (l->flight_len == 0 || release_time(l, flight_top(l)->due) > now) {
        return false;
    }
    tw_link_flight f = flight_pop(l);
    const frame_meta *m = meta_at(l, f.index);
    *out = (tw_link_frame){
        .due = release_time(l, f.due),
        .enqueued = m->enqueued,
        .data = data_at(l, f.index),
        .len = m->len,
        .flags = m->flags,
        .tag = m->tag,
    };
    l->held = f.index;
    l->stats.frames_out++;
    l->stats.bytes_out += m->len;
    return true;
}

tw_ns tw_link_next_deadline(const tw_link *l)
{
    tw_ns next = TW_NS_NEVER;
    if (l->flight_len > 0) {
        next = release_time(l, flight_top(l)->due);
    }
    if (!queue_empty(l)) {
        /* A lower bound: the head (or, if it is dropped, a later frame)
         * cannot arrive before it is serialised and has propagated. */
        const frame_meta *m = meta_at(l, queue_head(l));
        tw_ns start = tw_ns_max(l->tx_free_at, m->enqueued);
        uint64_t rem;
        tw_ns ser = serialise_ns(l, m->len, start, &rem);
        next = tw_ns_min(next, release_time(l, start + ser + l->cfg.delay_ns));
    }
    return next;
}

/* Going down empties the wire and the queue; the frame last popped stays
 * valid, it was delivered. */
static void drop_accepted(tw_link *l, tw_ns now)
{
    uint32_t i;
    while ((i = queue_take(l)) != NONE) {
        drop(l, i, TW_LINK_DROP_DOWN);
    }
    while (l->flight_len > 0) {
        drop(l, flight_pop(l).index, TW_LINK_DROP_DOWN);
    }
    l->tx_free_at = tw_ns_min(l->tx_free_at, now);
    l->tx_rem = 0;
    l->last_due = now;
    codel_idle(&l->codel);
}

void tw_link_set_up(tw_link *l, tw_ns now, bool up)
{
    observe(l, now);
    advance(l, now);
    if (l->up == up) {
        return;
    }
    l->up = up;
    if (!up && !l->cfg.keep_in_flight_on_down) {
        drop_accepted(l, now);
    }
}

void tw_link_clog(tw_link *l, tw_ns now, tw_ns until)
{
    TW_ASSERT(until >= now);
    observe(l, now);
    advance(l, now);
    /* A clog in force keeps its start, so what it holds stays held. */
    if (now >= l->clog_until) {
        l->clog_from = now;
    }
    l->clog_until = until;
}
