/* Fuzz target: the link model (core/link), configuration and traffic.
 *
 * Input: a configuration (bandwidth, delay, jitter, queue limits, AQM,
 * loss, Gilbert-Elliott, duplication, reordering, corruption, MTU, pool),
 * then steps: enqueue a frame, advance time, go down or up, clog. After
 * each step every due frame is popped.
 *
 * Properties, beyond no crash and no sanitizer report:
 *   - a configuration tw_link_config_check rejects names the field, and
 *     tw_link_init agrees with the check;
 *   - a popped frame is due (due <= now), left no earlier than it came
 *     (due >= enqueued), and frames come out in due order;
 *   - its bytes are the ones sent, or (flagged corrupted) differ in exactly
 *     one bit; a flag appears only when its knob is on;
 *   - a frame comes out at most once, plus at most once more as a
 *     duplicate;
 *   - without jitter_reorders, frames not held back for reordering leave
 *     in the order they were sent (RFC-free: the model's own promise);
 *   - once the link is up and left alone, everything drains: nothing is
 *     queued or in flight, and the counters account for every frame. */
#include <string.h>

#include "base/error.h"
#include "fuzz.h"
#include "link/link.h"

#define SENT_MAX 512
#define STEPS_MAX 1024
#define FRAME_LEN_MAX 2100

typedef struct sent {
    uint16_t len;
    uint8_t seed;
    uint8_t out;      /* times popped without the duplicate flag */
    uint8_t dup_out;  /* times popped with it */
} sent;

static tw_link link_;
static sent sent_[SENT_MAX];
static uint32_t nsent;
static tw_ns now;
static tw_ns last_due;
static uint64_t last_tag_in_order;
static bool any_in_order;
static uint64_t popped;
static tw_link_config cfg;

static uint8_t frame_byte(uint8_t seed, uint32_t i)
{
    return (uint8_t)(seed + i * 13 + (i >> 8));
}

static tw_ratio pick_ratio(fuzz_in *in)
{
    uint8_t b = fin_u8(in);
    if ((b & 3) == 0) {
        return TW_RATIO_ZERO;
    }
    uint32_t den = 1 + fin_u16(in);
    /* Invalid ratios (num > den) now and then: the check must catch them. */
    uint32_t num = (b & 4) ? fin_u16(in) : fin_u16(in) % (den + 1);
    return TW_RATIO(num, den);
}

static void pick_config(fuzz_in *in)
{
    static const uint64_t bandwidths[8] = {0, 1000, 999, 1000000, 100000000, 10000000000ull,
                                           TW_LINK_BANDWIDTH_MAX, 500};
    cfg = tw_link_config_default();
    uint8_t b = fin_u8(in);
    cfg.bandwidth_bps = bandwidths[b & 7];
    cfg.jitter_reorders = (b & 8) != 0;
    cfg.aqm = (b & 16) ? TW_LINK_AQM_CODEL : TW_LINK_AQM_DROPTAIL;
    cfg.keep_in_flight_on_down = (b & 32) != 0;
    cfg.delay_ns = (tw_ns)fin_u16(in) << (fin_u8(in) % 28);
    cfg.jitter_ns = (tw_ns)fin_u16(in) << (fin_u8(in) % 24);
    cfg.queue_packets_limit = fin_u8(in);
    cfg.queue_bytes_limit = (uint32_t)fin_u16(in) * 4;
    if (cfg.aqm == TW_LINK_AQM_CODEL) {
        cfg.codel_target_ns = (tw_ns)fin_u16(in) << 8;
        cfg.codel_interval_ns = (tw_ns)fin_u16(in) << 10;
    }
    cfg.loss = pick_ratio(in);
    if (b & 64) {
        cfg.gilbert.good_to_bad = pick_ratio(in);
        cfg.gilbert.bad_to_good = pick_ratio(in);
        cfg.gilbert.loss_good = pick_ratio(in);
        cfg.gilbert.loss_bad = pick_ratio(in);
    }
    cfg.duplicate = pick_ratio(in);
    cfg.reorder = pick_ratio(in);
    cfg.reorder_delay_ns = (tw_ns)fin_u16(in) << 8;
    cfg.corrupt = pick_ratio(in);
    cfg.mtu = fin_u16(in) % 2100;
    cfg.header_bytes = fin_u8(in) % 32;
    cfg.pool_frames = fin_u8(in) % 80;
    cfg.stream = fin_u8(in);
}

static void check_frame(const tw_link_frame *f)
{
    FUZZ_CHECK(f->due <= now, "popped a frame due at %llu at %llu", (unsigned long long)f->due,
               (unsigned long long)now);
    FUZZ_CHECK(f->due >= f->enqueued, "due before it was sent");
    FUZZ_CHECK(f->due >= last_due, "out of due order: %llu after %llu",
               (unsigned long long)f->due, (unsigned long long)last_due);
    last_due = f->due;
    FUZZ_CHECK(f->tag < nsent, "unknown tag %llu", (unsigned long long)f->tag);
    sent *s = &sent_[f->tag];
    FUZZ_CHECK(f->len == s->len, "length %u, sent %u", f->len, s->len);
    unsigned bits = 0;
    for (uint32_t i = 0; i < f->len; i++) {
        bits += (unsigned)__builtin_popcount(f->data[i] ^ frame_byte(s->seed, i));
    }
    bool corrupted = (f->flags & TW_LINK_FRAME_CORRUPTED) != 0;
    FUZZ_CHECK(bits == (corrupted ? 1u : 0u), "%u bits changed, corrupted flag %d", bits,
               corrupted);
    FUZZ_CHECK(!corrupted || !tw_ratio_is_zero(cfg.corrupt), "corrupted with corrupt 0");
    bool dup = (f->flags & TW_LINK_FRAME_DUPLICATE) != 0;
    FUZZ_CHECK(!dup || !tw_ratio_is_zero(cfg.duplicate), "duplicated with duplicate 0");
    bool reordered = (f->flags & TW_LINK_FRAME_REORDERED) != 0;
    FUZZ_CHECK(!reordered || !tw_ratio_is_zero(cfg.reorder), "reordered with reorder 0");
    if (dup) {
        FUZZ_CHECK(++s->dup_out == 1, "tag %llu duplicated twice", (unsigned long long)f->tag);
    } else {
        FUZZ_CHECK(++s->out == 1, "tag %llu delivered twice", (unsigned long long)f->tag);
    }
    if (!cfg.jitter_reorders && !reordered) {
        FUZZ_CHECK(!any_in_order || f->tag >= last_tag_in_order,
                   "tag %llu overtook tag %llu without being reordered",
                   (unsigned long long)f->tag, (unsigned long long)last_tag_in_order);
        last_tag_in_order = f->tag;
        any_in_order = true;
    }
    popped++;
}

static void drain(void)
{
    tw_link_frame f;
    for (uint32_t n = 0; tw_link_pop(&link_, now, &f); n++) {
        FUZZ_CHECK(n <= 2 * SENT_MAX, "more frames out than could be in");
        check_frame(&f);
    }
    tw_ns d = tw_link_next_deadline(&link_);
    const tw_link_stats *st = tw_link_get_stats(&link_);
    FUZZ_CHECK(d != TW_NS_NEVER || (st->in_flight == 0 && st->queue_packets == 0),
               "no deadline with %u in flight and %u queued", st->in_flight, st->queue_packets);
    FUZZ_CHECK(st->queue_bytes <= (cfg.queue_bytes_limit ? cfg.queue_bytes_limit : UINT32_MAX),
               "queue bytes over the limit");
}

static void step(fuzz_in *in)
{
    uint8_t op = fin_u8(in);
    switch (op % 6) {
    case 0:
    case 1: {
        if (nsent == SENT_MAX) {
            break;
        }
        uint16_t len = fin_u16(in) % FRAME_LEN_MAX;
        if (len == 0) {
            len = 1;
        }
        static uint8_t buf[FRAME_LEN_MAX];
        sent *s = &sent_[nsent];
        *s = (sent){.len = len, .seed = fin_u8(in)};
        for (uint32_t i = 0; i < len; i++) {
            buf[i] = frame_byte(s->seed, i);
        }
        int rc = tw_link_enqueue(&link_, now, buf, len, nsent);
        FUZZ_CHECK(rc == 0 || rc == -TW_ECLOSED || rc == -TW_ETOOBIG || rc == -TW_EFULL ||
                   rc == -TW_ENOMEM, "enqueue returned %d", rc);
        FUZZ_CHECK(rc != -TW_ETOOBIG || len > cfg.mtu + cfg.header_bytes, "too big at %u", len);
        nsent++;
        break;
    }
    case 2:
        now += (tw_ns)fin_u16(in) << (fin_u8(in) % 32);
        break;
    case 3: {
        tw_ns d = tw_link_next_deadline(&link_);
        if (d != TW_NS_NEVER && d > now) {
            now = d;
        }
        break;
    }
    case 4:
        tw_link_set_up(&link_, now, (op & 8) != 0);
        break;
    default:
        tw_link_clog(&link_, now, now + ((tw_ns)fin_u16(in) << (fin_u8(in) % 24)));
        break;
    }
    drain();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {.p = data, .n = size};
    pick_config(&in);
    const char *what = NULL;
    int check = tw_link_config_check(&cfg, &what);
    FUZZ_CHECK(check == 0 || (check == -TW_EINVAL && what != NULL && what[0] != '\0'),
               "config check %d without a field", check);
    memset(&link_, 0, sizeof link_);
    int rc = tw_link_init(&link_, &cfg, 42);
    FUZZ_CHECK(rc == check, "init %d, check %d", rc, check);
    if (rc != 0) {
        return 0;
    }
    nsent = 0;
    now = 0;
    last_due = 0;
    any_in_order = false;
    popped = 0;
    for (int i = 0; i < STEPS_MAX && in.n > 0; i++) {
        step(&in);
    }
    /* Up, unclogged and left alone, the link empties. */
    tw_link_set_up(&link_, now, true);
    tw_link_clog(&link_, now, now);
    drain();
    for (int i = 0; i < 4 * SENT_MAX && tw_link_next_deadline(&link_) != TW_NS_NEVER; i++) {
        tw_ns d = tw_link_next_deadline(&link_);
        now = d > now ? d : now;
        drain();
    }
    const tw_link_stats *st = tw_link_get_stats(&link_);
    FUZZ_CHECK(tw_link_next_deadline(&link_) == TW_NS_NEVER, "the link never empties");
    FUZZ_CHECK(st->in_flight == 0 && st->queue_packets == 0 && st->queue_bytes == 0,
               "left: %u in flight, %u queued", st->in_flight, st->queue_packets);
    FUZZ_CHECK(st->frames_in == nsent, "frames in %llu, sent %u",
               (unsigned long long)st->frames_in, nsent);
    FUZZ_CHECK(st->frames_out == popped, "frames out %llu, popped %llu",
               (unsigned long long)st->frames_out, (unsigned long long)popped);
    uint64_t drops = 0;
    for (int d = 0; d < TW_LINK_DROP_COUNT; d++) {
        drops += st->drops[d];
    }
    /* Every frame sent, and every copy made, either came out or was dropped
     * for a reason. (A copy the pool refused counts in both duplicated and
     * the pool drops, which the sum allows for.) */
    FUZZ_CHECK(st->frames_out + drops == st->frames_in + st->duplicated,
               "in %llu + copies %llu != out %llu + dropped %llu",
               (unsigned long long)st->frames_in, (unsigned long long)st->duplicated,
               (unsigned long long)st->frames_out, (unsigned long long)drops);
    tw_link_free(&link_);
    return 0;
}
