/* IMPLEMENTATION NOTES
 *
 * Endpoints sit in a fixed array, found by port through a chained hash;
 * each has a ring of queue_len received datagrams carved from one
 * allocation. Endpoints with datagrams waiting are on a FIFO "ready" list:
 * tw_stack_pop_event takes one datagram from the head endpoint and moves
 * it to the tail if it has more, so one busy endpoint cannot starve the
 * others.
 *
 * A received datagram's bytes are copied out of the input frame into a
 * frame buffer (the frame is only lent for the duration of on_frame);
 * a reassembled datagram already lives in a stack-owned reassembly buffer,
 * which the queue entry keeps instead of copying. */
#include "net/udp.h"

#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "base/mem.h"
#include "net/icmp.h"
#include "net/internal.h"
#include "net/reasm.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/udp.h"

#define NONE TW_UDP_EP_NONE
#define GEN_MAX 0x7fffu /* ids stay positive ints */

static uint32_t bucket_of(const tw_udp_table *t, uint16_t port)
{
    return (uint32_t)tw_mix64(port) & t->bucket_mask;
}

void tw_udp_table_init(tw_udp_table *t, const tw_udp_config *cfg)
{
    TW_ASSERT(cfg->endpoints_max > 0);
    TW_ASSERT(cfg->endpoints_max <= 0xffff);
    TW_ASSERT(cfg->queue_len > 0);
    TW_ASSERT(cfg->ephemeral_first > 0);
    TW_ASSERT(cfg->ephemeral_first <= cfg->ephemeral_last);
    memset(t, 0, sizeof(*t));
    t->cfg = *cfg;
    uint32_t buckets = 1;
    while (buckets < cfg->endpoints_max) {
        buckets <<= 1;
    }
    t->bucket_mask = buckets - 1;
    t->buckets = tw_mem_calloc(buckets, sizeof(uint32_t));
    for (uint32_t i = 0; i < buckets; i++) {
        t->buckets[i] = NONE;
    }
    t->eps = tw_mem_calloc(cfg->endpoints_max, sizeof(tw_udp_endpoint));
    t->rx_mem = tw_mem_calloc((size_t)cfg->endpoints_max * cfg->queue_len, sizeof(tw_udp_rx));
    t->free_stack = tw_mem_calloc(cfg->endpoints_max, sizeof(uint32_t));
    for (uint32_t i = 0; i < cfg->endpoints_max; i++) {
        tw_udp_endpoint *ep = &t->eps[i];
        ep->gen = 1;
        ep->hash_next = NONE;
        ep->ready_next = NONE;
        ep->queue = &t->rx_mem[(size_t)i * cfg->queue_len];
        t->free_stack[i] = cfg->endpoints_max - 1 - i;
    }
    t->free_len = cfg->endpoints_max;
    t->ready_head = NONE;
    t->ready_tail = NONE;
    t->next_ephemeral = cfg->ephemeral_first;
}

void tw_udp_table_free(tw_udp_table *t)
{
    tw_mem_free(t->buckets);
    tw_mem_free(t->eps);
    tw_mem_free(t->rx_mem);
    tw_mem_free(t->free_stack);
    memset(t, 0, sizeof(*t));
}

uint32_t tw_udp_slot_of(const tw_udp_table *t, uint32_t id)
{
    uint32_t slot = id & 0xffff;
    uint32_t gen = id >> 16;
    if (slot >= t->cfg.endpoints_max || !t->eps[slot].open || t->eps[slot].gen != gen) {
        return NONE;
    }
    return slot;
}

uint32_t tw_udp_id_of(const tw_udp_table *t, uint32_t slot)
{
    TW_ASSERT(slot < t->cfg.endpoints_max);
    TW_ASSERT(t->eps[slot].open);
    return (uint32_t)t->eps[slot].gen << 16 | slot;
}

uint32_t tw_udp_match(const tw_udp_table *t, tw_ipv4_addr addr, uint16_t port, bool broadcast)
{
    uint32_t wildcard = NONE;
    for (uint32_t i = t->buckets[bucket_of(t, port)]; i != NONE; i = t->eps[i].hash_next) {
        const tw_udp_endpoint *ep = &t->eps[i];
        if (ep->port != port) {
            continue;
        }
        if (ep->addr == TW_IPV4_ADDR_ANY) {
            wildcard = i;
        } else if (ep->addr == addr && !broadcast) {
            return i; /* the exact binding wins over the wildcard */
        }
    }
    return wildcard;
}

/* True when a binding to (addr, port) would clash with an open one: same
 * port and either address the wildcard, or both the same. */
static bool port_taken(const tw_udp_table *t, tw_ipv4_addr addr, uint16_t port)
{
    for (uint32_t i = t->buckets[bucket_of(t, port)]; i != NONE; i = t->eps[i].hash_next) {
        const tw_udp_endpoint *ep = &t->eps[i];
        if (ep->port == port && (ep->addr == addr || ep->addr == 0 || addr == 0)) {
            return true;
        }
    }
    return false;
}

/* RFC 6335 §6: ephemeral ports from the dynamic range, taken in turn.
 * NOTE: sequential, not randomised (RFC 6056): the simulator wants
 * determinism and no off-path attacker exists there. Returns 0 when every
 * port of the range is taken. */
static uint16_t pick_ephemeral(tw_udp_table *t, tw_ipv4_addr addr)
{
    uint32_t range = (uint32_t)t->cfg.ephemeral_last - t->cfg.ephemeral_first + 1;
    for (uint32_t n = 0; n < range; n++) {
        uint16_t port = t->next_ephemeral;
        t->next_ephemeral =
            port == t->cfg.ephemeral_last ? t->cfg.ephemeral_first : (uint16_t)(port + 1);
        if (!port_taken(t, addr, port)) {
            return port;
        }
    }
    return 0;
}

int tw_stack_udp_bind(tw_stack *s, tw_ipv4_addr addr, uint16_t port)
{
    tw_udp_table *t = &s->udp;
    if (addr != TW_IPV4_ADDR_ANY && !tw_net_is_local(s, addr)) {
        return -TW_EINVAL;
    }
    if (port == 0) {
        port = pick_ephemeral(t, addr);
        if (port == 0) {
            return -TW_EFULL;
        }
    } else if (port_taken(t, addr, port)) {
        return -TW_EADDRINUSE;
    }
    if (t->free_len == 0) {
        return -TW_EFULL;
    }
    uint32_t slot = t->free_stack[--t->free_len];
    tw_udp_endpoint *ep = &t->eps[slot];
    TW_ASSERT(!ep->open);
    TW_ASSERT(ep->q_len == 0);
    ep->open = 1;
    ep->addr = addr;
    ep->port = port;
    ep->ready = 0;
    ep->q_head = 0;
    ep->rx_datagrams = 0;
    ep->rx_overflows = 0;
    ep->tx_datagrams = 0;
    ep->errors = 0;
    uint32_t b = bucket_of(t, port);
    ep->hash_next = t->buckets[b];
    t->buckets[b] = slot;
    return (int)tw_udp_id_of(t, slot);
}

static void ready_remove(tw_udp_table *t, uint32_t slot)
{
    uint32_t prev = NONE;
    for (uint32_t i = t->ready_head; i != NONE; prev = i, i = t->eps[i].ready_next) {
        if (i != slot) {
            continue;
        }
        uint32_t next = t->eps[i].ready_next;
        if (prev == NONE) {
            t->ready_head = next;
        } else {
            t->eps[prev].ready_next = next;
        }
        if (t->ready_tail == slot) {
            t->ready_tail = prev;
        }
        t->eps[slot].ready_next = NONE;
        t->eps[slot].ready = 0;
        return;
    }
    TW_UNREACHABLE();
}

static void ready_append(tw_udp_table *t, uint32_t slot)
{
    tw_udp_endpoint *ep = &t->eps[slot];
    TW_ASSERT(!ep->ready);
    ep->ready = 1;
    ep->ready_next = NONE;
    if (t->ready_tail == NONE) {
        t->ready_head = slot;
    } else {
        t->eps[t->ready_tail].ready_next = slot;
    }
    t->ready_tail = slot;
}

int tw_stack_udp_close(tw_stack *s, uint32_t id)
{
    tw_udp_table *t = &s->udp;
    uint32_t slot = tw_udp_slot_of(t, id);
    if (slot == NONE) {
        return -TW_EINVAL;
    }
    tw_udp_endpoint *ep = &t->eps[slot];
    while (ep->q_len > 0) {
        tw_net_ref_release(s, ep->queue[ep->q_head].ref);
        ep->q_head = (ep->q_head + 1) % t->cfg.queue_len;
        ep->q_len--;
    }
    if (ep->ready) {
        ready_remove(t, slot);
    }
    uint32_t *link = &t->buckets[bucket_of(t, ep->port)];
    while (*link != slot) {
        TW_ASSERT(*link != NONE);
        link = &t->eps[*link].hash_next;
    }
    *link = ep->hash_next;
    ep->hash_next = NONE;
    ep->open = 0;
    ep->gen = ep->gen == GEN_MAX ? 1 : (uint16_t)(ep->gen + 1);
    t->free_stack[t->free_len++] = slot;
    return 0;
}

uint16_t tw_stack_udp_port(const tw_stack *s, uint32_t id)
{
    uint32_t slot = tw_udp_slot_of(&s->udp, id);
    return slot == NONE ? 0 : s->udp.eps[slot].port;
}

const tw_udp_endpoint *tw_stack_udp_endpoint(const tw_stack *s, uint32_t id)
{
    uint32_t slot = tw_udp_slot_of(&s->udp, id);
    return slot == NONE ? NULL : &s->udp.eps[slot];
}

int tw_stack_udp_send(tw_stack *s, tw_ns now, uint32_t id, tw_ipv4_addr dst, uint16_t port,
                      const void *data, size_t len)
{
    tw_udp_table *t = &s->udp;
    uint32_t slot = tw_udp_slot_of(t, id);
    if (slot == NONE || port == 0 || (len > 0 && data == NULL)) {
        return -TW_EINVAL;
    }
    if (tw_ipv4_addr_is_unspecified(dst) || tw_ipv4_addr_is_multicast(dst)) {
        return -TW_EINVAL;
    }
    if (len > TW_UDP_PAYLOAD_LEN_MAX) {
        return -TW_ETOOBIG;
    }
    if (tw_net_is_local(s, dst)) {
        return -TW_ENOTSUP; /* no loopback */
    }
    tw_udp_endpoint *ep = &t->eps[slot];
    uint32_t iface;
    tw_ipv4_addr next_hop;
    int err = tw_ipv4_route(s, dst, &iface, &next_hop);
    if (err < 0) {
        return err;
    }
    /* The source address is needed now, for the pseudo-header. */
    tw_ipv4_addr src = ep->addr ? ep->addr : tw_net_iface(s, iface)->addr;
    uint16_t length = (uint16_t)(TW_UDP_HEADER_LEN + len);
    uint8_t hdr[TW_UDP_HEADER_LEN];
    tw_bytes_store_be16(hdr, ep->port);
    tw_bytes_store_be16(hdr + 2, port);
    tw_bytes_store_be16(hdr + 4, length);
    tw_bytes_store_be16(hdr + 6, 0);
    uint32_t sum = tw_csum_pseudo_ipv4(src, dst, TW_IP_PROTO_UDP, length);
    sum = tw_csum_add(tw_csum_add(sum, hdr, sizeof(hdr)), data, len);
    uint16_t check = tw_csum_finish(sum);
    /* RFC 768: a computed zero is sent as all ones; zero means "none". */
    tw_bytes_store_be16(hdr + 6, check == 0 ? 0xffff : check);
    tw_ipv4_out o = {
        .src = src,
        .dst = dst,
        .protocol = TW_IP_PROTO_UDP,
        .ttl = s->cfg.ttl,
        .origin = id,
        .head = hdr,
        .head_len = sizeof(hdr),
        .body = data,
        .body_len = len,
    };
    err = tw_ipv4_send(s, now, &o);
    if (err == 0) {
        ep->tx_datagrams++;
        t->stats.datagrams_out++;
    }
    return err;
}

/* The wire parser's errors as drop reasons, told apart where it lumps
 * them together. */
static tw_drop_reason parse_drop(int err, const tw_net_dgram *d)
{
    if (err == -TW_ETRUNC) {
        return TW_DROP_UDP_TRUNCATED;
    }
    if (err == -TW_EBADCSUM) {
        return TW_DROP_UDP_BAD_CHECKSUM;
    }
    TW_ASSERT(err == -TW_EMALFORMED);
    return tw_udp_length(d->payload) < TW_UDP_HEADER_LEN ? TW_DROP_UDP_BAD_LENGTH
                                                         : TW_DROP_UDP_BAD_PORT;
}

void tw_udp_input(tw_stack *s, tw_ns now, const tw_net_dgram *d)
{
    tw_udp_table *t = &s->udp;
    tw_udp_repr u;
    int err = tw_udp_parse(d->payload, d->payload_len, d->src, d->dst, &u);
    if (err < 0) {
        tw_net_rx_drop(s, parse_drop(err, d));
        return;
    }
    t->stats.datagrams_in++;
    uint32_t slot = tw_udp_match(t, d->dst, u.dst_port, d->broadcast);
    if (slot == NONE) {
        /* RFC 1122 §4.1.3.1 (RFC 792): port unreachable when no one
         * listens; tw_icmp_send_error leaves broadcasts alone. */
        t->stats.no_endpoint++;
        tw_net_rx_drop(s, TW_DROP_UDP_NO_ENDPOINT);
        tw_icmp_send_error(s, now, d, TW_ICMP_DEST_UNREACH, TW_ICMP_UNREACH_PORT, 0);
        return;
    }
    tw_udp_endpoint *ep = &t->eps[slot];
    if (ep->q_len == t->cfg.queue_len) {
        ep->rx_overflows++;
        t->stats.queue_overflows++;
        tw_net_rx_drop(s, TW_DROP_UDP_QUEUE_FULL);
        return;
    }
    tw_udp_rx *rx = &ep->queue[(ep->q_head + ep->q_len) % t->cfg.queue_len];
    if (d->ref != TW_NET_REF_NONE) {
        TW_ASSERT(d->ref & TW_NET_REF_REASM);
        tw_reasm_hold(&s->reasm, d->ref & ~TW_NET_REF_REASM);
        rx->ref = d->ref;
        rx->payload = u.payload;
    } else {
        uint32_t buf = tw_fbuf_take(&s->fbufs);
        if (buf == TW_FBUF_NONE) {
            tw_net_rx_drop(s, TW_DROP_NO_BUFFER);
            return;
        }
        TW_ASSERT(u.payload_len <= s->fbufs.size);
        uint8_t *data = tw_fbuf_data(&s->fbufs, buf);
        memcpy(data, u.payload, u.payload_len);
        rx->ref = buf;
        rx->payload = data;
    }
    rx->len = (uint32_t)u.payload_len;
    rx->src = d->src;
    rx->dst = d->dst;
    rx->src_port = u.src_port;
    rx->iface = (uint16_t)d->iface;
    ep->q_len++;
    ep->rx_datagrams++;
    if (!ep->ready) {
        ready_append(t, slot);
    }
    tw_net_rx_outcome(s, TW_RX_DELIVERED);
}

bool tw_udp_pop_datagram(tw_stack *s, tw_net_event *ev, uint32_t *ref)
{
    tw_udp_table *t = &s->udp;
    uint32_t slot = t->ready_head;
    if (slot == NONE) {
        return false;
    }
    tw_udp_endpoint *ep = &t->eps[slot];
    TW_ASSERT(ep->ready);
    TW_ASSERT(ep->q_len > 0);
    const tw_udp_rx *rx = &ep->queue[ep->q_head];
    ep->q_head = (ep->q_head + 1) % t->cfg.queue_len;
    ep->q_len--;
    memset(ev, 0, sizeof(*ev));
    ev->kind = TW_NET_EV_UDP_DATAGRAM;
    ev->endpoint = tw_udp_id_of(t, slot);
    ev->iface = rx->iface;
    ev->local_addr = rx->dst;
    ev->local_port = ep->port;
    ev->remote_addr = rx->src;
    ev->remote_port = rx->src_port;
    ev->payload = rx->payload;
    ev->payload_len = rx->len;
    *ref = rx->ref;
    /* Take turns: the endpoint goes to the back if it has more. */
    t->ready_head = ep->ready_next;
    if (t->ready_head == NONE) {
        t->ready_tail = NONE;
    }
    ep->ready = 0;
    ep->ready_next = NONE;
    if (ep->q_len > 0) {
        ready_append(t, slot);
    }
    return true;
}
