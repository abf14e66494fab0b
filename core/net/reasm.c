/* IMPLEMENTATION NOTES
 *
 * Each slot keeps the byte ranges it holds as a sorted array of disjoint
 * [start, end) intervals (at most fragments_max of them). Because
 * overlapping fragments discard the datagram and exact duplicates are
 * ignored, the ranges never overlap, so the datagram is complete exactly
 * when the last fragment has fixed the total length, fragment zero has
 * supplied the header, and the bytes held add up to the total: no hole
 * list (RFC 815) is needed.
 *
 * Slots are found by a linear scan of the (few) slots: reassembly is rare
 * and the number of datagrams being reassembled at once is small by
 * configuration.
 *
 * When every slot is busy, the oldest incomplete datagram gives way to
 * the new one, as Linux's evictor does past ipfrag_high_thresh: a datagram
 * that lost a fragment would otherwise hold its slot for the whole
 * timeout, and a lossy path would then refuse every fragmented datagram
 * for 30 s (found by `twin fuzz`: HTTP over a narrow, lossy hop starved).
 *
 * NOTE: the timeout runs from the first fragment and is not extended by
 * later ones (RFC 791 §3.2 raises the timer to each fragment's TTL; Linux
 * and BSD use a fixed timer, which bounds how long a slow trickle of
 * fragments can pin a buffer). */
#include "net/reasm.h"

#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "net/internal.h"
#include "wire/checksum.h"
#include "wire/icmp.h"

void tw_reasm_init(tw_reasm *r, const tw_reasm_config *cfg)
{
    TW_ASSERT(cfg->slots > 0);
    TW_ASSERT(cfg->datagram_len_max >= 8);
    TW_ASSERT(cfg->datagram_len_max <= TW_IPV4_TOTAL_LEN_MAX);
    TW_ASSERT(cfg->fragments_max >= 2);
    TW_ASSERT(cfg->timeout_ns > 0);
    memset(r, 0, sizeof(*r));
    r->cfg = *cfg;
    r->slots = tw_mem_calloc(cfg->slots, sizeof(tw_reasm_slot));
    r->ranges = tw_mem_calloc((size_t)cfg->slots * cfg->fragments_max, sizeof(tw_reasm_range));
    size_t slot_bytes = TW_REASM_DATA_OFFSET + (size_t)cfg->datagram_len_max;
    r->mem = tw_mem_calloc(cfg->slots, slot_bytes);
    for (uint32_t i = 0; i < cfg->slots; i++) {
        tw_reasm_slot *sl = &r->slots[i];
        sl->timer.owner = TW_NET_TIMER_REASM;
        sl->timer.token = i;
        sl->ranges = &r->ranges[(size_t)i * cfg->fragments_max];
        sl->buf = r->mem + (size_t)i * slot_bytes;
    }
}

void tw_reasm_free(tw_reasm *r)
{
    tw_mem_free(r->slots);
    tw_mem_free(r->ranges);
    tw_mem_free(r->mem);
    memset(r, 0, sizeof(*r));
}

static uint32_t find_slot(const tw_reasm *r, const tw_net_dgram *d)
{
    for (uint32_t i = 0; i < r->cfg.slots; i++) {
        const tw_reasm_slot *sl = &r->slots[i];
        /* RFC 791 §3.2: fragments of one datagram share source,
         * destination, protocol and identification. */
        if (sl->state == TW_REASM_ACTIVE && sl->ident == d->ident && sl->src == d->src &&
            sl->dst == d->dst && sl->protocol == d->protocol) {
            return i;
        }
    }
    return UINT32_MAX;
}

static void free_slot(tw_stack *s, uint32_t i);

/* Frees the slot of the oldest datagram still being reassembled (the
 * earliest timeout; held datagrams belong to their reader). False when
 * every slot is held. */
static bool evict_oldest(tw_stack *s)
{
    tw_reasm *r = &s->reasm;
    uint32_t oldest = UINT32_MAX;
    for (uint32_t i = 0; i < r->cfg.slots; i++) {
        const tw_reasm_slot *sl = &r->slots[i];
        if (sl->state == TW_REASM_ACTIVE &&
            (oldest == UINT32_MAX || sl->timer.deadline < r->slots[oldest].timer.deadline)) {
            oldest = i;
        }
    }
    if (oldest == UINT32_MAX) {
        return false;
    }
    r->stats.refused++;
    tw_net_drop(s, r->slots[oldest].iface, TW_DROP_REASM_NO_SLOT);
    free_slot(s, oldest);
    return true;
}

static uint32_t start_slot(tw_stack *s, tw_ns now, const tw_net_dgram *d)
{
    tw_reasm *r = &s->reasm;
    if (r->active == r->cfg.slots && !evict_oldest(s)) {
        return UINT32_MAX;
    }
    for (uint32_t i = 0; i < r->cfg.slots; i++) {
        tw_reasm_slot *sl = &r->slots[i];
        if (sl->state != TW_REASM_FREE) {
            continue;
        }
        sl->state = TW_REASM_ACTIVE;
        sl->src = d->src;
        sl->dst = d->dst;
        sl->ident = d->ident;
        sl->protocol = d->protocol;
        sl->iface = (uint16_t)d->iface;
        sl->header_len = 0;
        sl->have_last = false;
        sl->total_len = 0;
        sl->received = 0;
        sl->range_count = 0;
        r->active++;
        r->stats.started++;
        tw_wheel_arm(&s->wheel, &sl->timer, tw_ns_add(now, r->cfg.timeout_ns));
        return i;
    }
    return UINT32_MAX;
}

static void free_slot(tw_stack *s, uint32_t i)
{
    tw_reasm *r = &s->reasm;
    tw_reasm_slot *sl = &r->slots[i];
    TW_ASSERT(sl->state != TW_REASM_FREE);
    TW_ASSERT(r->active > 0);
    tw_wheel_cancel(&s->wheel, &sl->timer);
    sl->state = TW_REASM_FREE;
    r->active--;
}

/* Gives up the datagram in slot i, and drops the frame that made us. */
static void abandon(tw_stack *s, uint32_t i, tw_drop_reason why)
{
    free_slot(s, i);
    tw_net_rx_drop(s, why);
}

/* Where [start, end) goes among the slot's ranges: its index, or -1 after
 * dropping the frame (a duplicate) or the datagram (an overlap). */
static int place_range(tw_stack *s, uint32_t i, uint32_t start, uint32_t end)
{
    tw_reasm *r = &s->reasm;
    tw_reasm_slot *sl = &r->slots[i];
    uint32_t at = 0;
    for (uint32_t k = 0; k < sl->range_count; k++) {
        const tw_reasm_range *g = &sl->ranges[k];
        if (start < g->end && g->start < end) {
            if (start == g->start && end == g->end) {
                r->stats.duplicates++;
                tw_net_rx_drop(s, TW_DROP_REASM_DUPLICATE);
            } else {
                /* RFC 5722 §4 (applied to IPv4, see reasm.h): an
                 * overlapping fragment discards the whole datagram. */
                r->stats.overlaps++;
                abandon(s, i, TW_DROP_REASM_OVERLAP);
            }
            return -1;
        }
        if (g->end <= start) {
            at = k + 1;
        }
    }
    if (sl->range_count == r->cfg.fragments_max) {
        r->stats.refused++;
        abandon(s, i, TW_DROP_REASM_TOO_MANY_FRAGS);
        return -1;
    }
    return (int)at;
}

/* True when a fragment ending at end (the last one if !more) agrees with
 * what the slot knows about the datagram's end. */
static bool end_consistent(const tw_reasm_slot *sl, uint32_t end, bool more)
{
    if (!more) {
        if (sl->have_last && end != sl->total_len) {
            return false;
        }
        return sl->range_count == 0 || sl->ranges[sl->range_count - 1].end <= end;
    }
    return !sl->have_last || end <= sl->total_len;
}

static void complete(tw_stack *s, tw_ns now, uint32_t i, const tw_net_dgram *last)
{
    tw_reasm *r = &s->reasm;
    tw_reasm_slot *sl = &r->slots[i];
    r->stats.completed++;
    tw_wheel_cancel(&s->wheel, &sl->timer);
    /* The header of fragment zero, made the header of the whole datagram:
     * its length, no fragment fields, a new checksum. */
    uint8_t *hdr = sl->buf + TW_REASM_DATA_OFFSET - sl->header_len;
    tw_bytes_store_be16(hdr + 2, (uint16_t)(sl->header_len + sl->total_len));
    tw_bytes_store_be16(hdr + 6, 0);
    tw_bytes_store_be16(hdr + 10, 0);
    tw_bytes_store_be16(hdr + 10, tw_csum(hdr, sl->header_len));
    tw_net_dgram d;
    int err = tw_ipv4_dgram_of(hdr, sl->header_len + sl->total_len, last->iface, &d);
    TW_ASSERT(err == 0);
    d.broadcast = last->broadcast;
    d.link_broadcast = last->link_broadcast;
    d.ref = TW_NET_REF_REASM | i;
    if (!tw_ipv4_handoff(s, now, &d)) {
        tw_ipv4_deliver(s, now, &d);
    }
    if (sl->state == TW_REASM_ACTIVE) {
        free_slot(s, i); /* consumed during delivery, or dropped */
    }
}

void tw_reasm_input(tw_stack *s, tw_ns now, const tw_net_dgram *frag)
{
    tw_reasm *r = &s->reasm;
    r->stats.fragments++;
    uint32_t start = frag->frag_offset;
    uint32_t end = start + frag->payload_len;
    /* RFC 791 §3.2: every fragment but the last carries a multiple of 8
     * data bytes; one that carries none serves no purpose. */
    if (frag->payload_len == 0 || (frag->more_frags && frag->payload_len % 8 != 0)) {
        tw_net_rx_drop(s, TW_DROP_IPV4_BAD_FRAGMENT);
        return;
    }
    uint32_t i = find_slot(r, frag);
    if (i == UINT32_MAX) {
        if (end > r->cfg.datagram_len_max) {
            r->stats.refused++;
            tw_net_rx_drop(s, TW_DROP_REASM_TOO_BIG);
            return;
        }
        i = start_slot(s, now, frag);
        if (i == UINT32_MAX) {
            r->stats.refused++;
            tw_net_rx_drop(s, TW_DROP_REASM_NO_SLOT);
            return;
        }
    }
    tw_reasm_slot *sl = &r->slots[i];
    if (end > r->cfg.datagram_len_max) {
        r->stats.refused++;
        abandon(s, i, TW_DROP_REASM_TOO_BIG);
        return;
    }
    if (!end_consistent(sl, end, frag->more_frags)) {
        r->stats.overlaps++;
        abandon(s, i, TW_DROP_REASM_OVERLAP);
        return;
    }
    int at = place_range(s, i, start, end);
    if (at < 0) {
        return;
    }
    memmove(&sl->ranges[at + 1], &sl->ranges[at],
            (sl->range_count - (uint32_t)at) * sizeof(*sl->ranges));
    sl->ranges[at] = (tw_reasm_range){.start = start, .end = end};
    sl->range_count++;
    memcpy(sl->buf + TW_REASM_DATA_OFFSET + start, frag->payload, frag->payload_len);
    sl->received += frag->payload_len;
    if (start == 0) {
        sl->header_len = (uint8_t)frag->header_len;
        memcpy(sl->buf + TW_REASM_DATA_OFFSET - frag->header_len, frag->header, frag->header_len);
    }
    if (!frag->more_frags) {
        sl->have_last = true;
        sl->total_len = end;
    }
    /* RFC 791 §3.1: the whole datagram, header included, fits 65535 bytes
     * (a reassembled "ping of death" would not). */
    if (sl->have_last && sl->header_len != 0 &&
        sl->header_len + sl->total_len > TW_IPV4_TOTAL_LEN_MAX) {
        r->stats.refused++;
        abandon(s, i, TW_DROP_REASM_TOO_BIG);
        return;
    }
    TW_ASSERT(!sl->have_last || sl->received <= sl->total_len);
    if (sl->have_last && sl->header_len != 0 && sl->received == sl->total_len) {
        complete(s, now, i, frag);
        return;
    }
    tw_net_rx_outcome(s, TW_RX_HELD);
}

void tw_reasm_on_timer(tw_stack *s, tw_ns now, uint32_t i)
{
    tw_reasm *r = &s->reasm;
    TW_ASSERT(i < r->cfg.slots);
    tw_reasm_slot *sl = &r->slots[i];
    TW_ASSERT(sl->state == TW_REASM_ACTIVE);
    r->stats.timeouts++;
    tw_net_drop(s, sl->iface, TW_DROP_REASM_TIMEOUT);
    /* RFC 1122 §3.3.2 (after RFC 792): time exceeded, code 1, only when
     * fragment zero has arrived, so there is a header to quote. */
    if (r->cfg.icmp_time_exceeded && sl->header_len != 0) {
        TW_ASSERT(sl->range_count > 0);
        TW_ASSERT(sl->ranges[0].start == 0);
        tw_net_dgram d;
        uint8_t *hdr = sl->buf + TW_REASM_DATA_OFFSET - sl->header_len;
        /* ranges[0] is fragment zero itself (ranges are never merged), so
         * its header, kept as it arrived, describes exactly these bytes. */
        uint32_t held = sl->ranges[0].end;
        int err = tw_ipv4_dgram_of(hdr, sl->header_len + held, sl->iface, &d);
        if (err == 0) {
            d.broadcast = tw_net_is_bcast(s, d.dst);
            tw_icmp_send_error(s, now, &d, TW_ICMP_TIME_EXCEEDED, TW_ICMP_EXCEEDED_REASSEMBLY, 0);
        }
    }
    free_slot(s, i);
}

void tw_reasm_hold(tw_reasm *r, uint32_t i)
{
    TW_ASSERT(i < r->cfg.slots);
    TW_ASSERT(r->slots[i].state == TW_REASM_ACTIVE);
    r->slots[i].state = TW_REASM_HELD;
}

void tw_reasm_release(tw_reasm *r, uint32_t i)
{
    TW_ASSERT(i < r->cfg.slots);
    TW_ASSERT(r->slots[i].state == TW_REASM_HELD);
    TW_ASSERT(r->active > 0);
    r->slots[i].state = TW_REASM_FREE;
    r->active--;
}
