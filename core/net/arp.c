/* IMPLEMENTATION NOTES
 *
 * Entries live in a fixed array, found through a chained hash on (iface,
 * address), with a free stack for allocation. Each entry embeds its timer
 * on the stack's wheel: the retry timer while INCOMPLETE, the expiry while
 * REACHABLE, none when STATIC.
 *
 * Packets waiting for resolution are frame buffers linked through their
 * meta, so parking one costs no copy and the pending limits only count.
 * When resolution fails the list is detached and the entry freed *before*
 * the senders are told, because telling a forwarded packet's source (ICMP
 * host unreachable) sends a packet, which may itself need this cache. */
#include "net/arp.h"

#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "base/mem.h"
#include "net/internal.h"
#include "wire/arp.h"
#include "wire/icmp.h"

#define NONE UINT32_MAX

static uint32_t bucket_of(const tw_arp_cache *c, uint32_t iface, tw_ipv4_addr addr)
{
    return (uint32_t)tw_mix64((uint64_t)iface << 32 | addr) & c->bucket_mask;
}

void tw_arp_cache_init(tw_arp_cache *c, const tw_arp_config *cfg)
{
    TW_ASSERT(cfg->entries_max > 0);
    TW_ASSERT(cfg->entries_max < NONE / 2);
    TW_ASSERT(cfg->retry_interval_ns > 0);
    TW_ASSERT(cfg->retries < UINT8_MAX); /* counted in tw_arp_entry.requests */
    TW_ASSERT(cfg->entry_ttl_ns > 0);
    memset(c, 0, sizeof(*c));
    c->cfg = *cfg;
    uint32_t buckets = 1;
    while (buckets < cfg->entries_max) {
        buckets <<= 1;
    }
    c->bucket_mask = buckets - 1;
    c->buckets = tw_mem_calloc(buckets, sizeof(uint32_t));
    for (uint32_t i = 0; i < buckets; i++) {
        c->buckets[i] = NONE;
    }
    c->entries = tw_mem_calloc(cfg->entries_max, sizeof(tw_arp_entry));
    c->free_stack = tw_mem_calloc(cfg->entries_max, sizeof(uint32_t));
    for (uint32_t i = 0; i < cfg->entries_max; i++) {
        tw_arp_entry *e = &c->entries[i];
        e->timer.owner = TW_NET_TIMER_ARP;
        e->timer.token = i;
        e->hash_next = NONE;
        e->pending_head = TW_FBUF_NONE;
        e->pending_tail = TW_FBUF_NONE;
        c->free_stack[i] = cfg->entries_max - 1 - i;
    }
    c->free_len = cfg->entries_max;
}

void tw_arp_cache_free(tw_arp_cache *c)
{
    tw_mem_free(c->buckets);
    tw_mem_free(c->entries);
    tw_mem_free(c->free_stack);
    memset(c, 0, sizeof(*c));
}

tw_arp_entry *tw_arp_cache_find(const tw_arp_cache *c, uint32_t iface, tw_ipv4_addr addr)
{
    for (uint32_t i = c->buckets[bucket_of(c, iface, addr)]; i != NONE;
         i = c->entries[i].hash_next) {
        tw_arp_entry *e = &c->entries[i];
        if (e->addr == addr && e->iface == iface) {
            TW_ASSERT(e->state != TW_ARP_FREE);
            return e;
        }
    }
    return NULL;
}

static uint32_t entry_alloc(tw_arp_cache *c, uint32_t iface, tw_ipv4_addr addr, tw_arp_state st)
{
    TW_ASSERT(tw_arp_cache_find(c, iface, addr) == NULL);
    if (c->free_len == 0) {
        return NONE;
    }
    uint32_t i = c->free_stack[--c->free_len];
    tw_arp_entry *e = &c->entries[i];
    TW_ASSERT(e->state == TW_ARP_FREE);
    TW_ASSERT(!tw_timer_armed(&e->timer));
    e->addr = addr;
    e->iface = (uint16_t)iface;
    e->state = (uint8_t)st;
    e->requests = 0;
    e->mac = TW_MAC_ZERO;
    e->pending_len = 0;
    e->pending_head = TW_FBUF_NONE;
    e->pending_tail = TW_FBUF_NONE;
    uint32_t b = bucket_of(c, iface, addr);
    e->hash_next = c->buckets[b];
    c->buckets[b] = i;
    return i;
}

static void entry_free(tw_stack *s, uint32_t i)
{
    tw_arp_cache *c = &s->arp;
    tw_arp_entry *e = &c->entries[i];
    TW_ASSERT(e->state != TW_ARP_FREE);
    TW_ASSERT(e->pending_len == 0);
    tw_wheel_cancel(&s->wheel, &e->timer);
    uint32_t *link = &c->buckets[bucket_of(c, e->iface, e->addr)];
    while (*link != i) {
        TW_ASSERT(*link != NONE);
        link = &c->entries[*link].hash_next;
    }
    *link = e->hash_next;
    e->hash_next = NONE;
    e->state = TW_ARP_FREE;
    c->free_stack[c->free_len++] = i;
}

static void eth_header(uint8_t *frame, tw_mac dst, tw_mac src, uint16_t ethertype)
{
    tw_mac_store(frame, dst);
    tw_mac_store(frame + 6, src);
    tw_bytes_store_be16(frame + 12, ethertype);
}

/* Builds and queues one ARP packet from iface. The caller counts it. */
static int send_arp(tw_stack *s, uint32_t iface, tw_mac eth_dst, const tw_arp_repr *r)
{
    tw_iface *ifc = tw_net_iface(s, iface);
    uint32_t buf = tw_fbuf_take(&s->fbufs);
    if (buf == TW_FBUF_NONE) {
        tw_net_drop(s, iface, TW_DROP_NO_BUFFER);
        return -TW_ENOMEM;
    }
    uint8_t *frame = tw_fbuf_data(&s->fbufs, buf);
    eth_header(frame, eth_dst, ifc->mac, TW_ETHERTYPE_ARP);
    tw_arp_emit(r, frame + TW_ETH_HEADER_LEN);
    tw_fbuf_meta *m = tw_fbuf_meta_of(&s->fbufs, buf);
    m->len = TW_ETH_HEADER_LEN + TW_ARP_LEN;
    m->iface = (uint16_t)iface;
    m->origin = TW_NET_ORIGIN_STACK;
    return tw_net_tx(s, buf);
}

static void send_request(tw_stack *s, tw_arp_entry *e)
{
    tw_iface *ifc = tw_net_iface(s, e->iface);
    tw_arp_repr r = {
        .op = TW_ARP_OP_REQUEST,
        .sha = ifc->mac,
        .spa = ifc->addr,
        .tha = TW_MAC_ZERO,
        .tpa = e->addr,
    };
    e->requests++;
    s->arp.stats.requests_sent++;
    send_arp(s, e->iface, TW_MAC_BROADCAST, &r);
}

/* The neighbour is known: every parked packet goes out to it. */
static void flush_pending(tw_stack *s, tw_arp_entry *e)
{
    tw_iface *ifc = tw_net_iface(s, e->iface);
    uint32_t buf = e->pending_head;
    while (buf != TW_FBUF_NONE) {
        tw_fbuf_meta *m = tw_fbuf_meta_of(&s->fbufs, buf);
        uint32_t next = m->next;
        m->next = TW_FBUF_NONE;
        eth_header(tw_fbuf_data(&s->fbufs, buf), e->mac, ifc->mac, TW_ETHERTYPE_IPV4);
        s->arp.stats.pending_sent++;
        tw_net_tx(s, buf);
        buf = next;
    }
    TW_ASSERT(s->arp.pending_total >= e->pending_len);
    s->arp.pending_total -= e->pending_len;
    e->pending_len = 0;
    e->pending_head = TW_FBUF_NONE;
    e->pending_tail = TW_FBUF_NONE;
}

/* Detaches the parked packets of e and returns the head of their list. */
static uint32_t detach_pending(tw_stack *s, tw_arp_entry *e)
{
    uint32_t head = e->pending_head;
    TW_ASSERT(s->arp.pending_total >= e->pending_len);
    s->arp.pending_total -= e->pending_len;
    e->pending_len = 0;
    e->pending_head = TW_FBUF_NONE;
    e->pending_tail = TW_FBUF_NONE;
    return head;
}

/* A parked packet will never be sent: tell whoever sent it. RFC 1812
 * §5.2.7.1: a router that cannot resolve the next hop reports host
 * unreachable to the source; for our own datagrams the same news becomes
 * an event. Only the fragment at offset 0 reports, so a fragmented
 * datagram is reported once. */
static void notify_failure(tw_stack *s, tw_ns now, uint32_t buf)
{
    tw_fbuf_meta *m = tw_fbuf_meta_of(&s->fbufs, buf);
    if (m->origin == TW_NET_ORIGIN_STACK) {
        return;
    }
    tw_net_dgram d;
    const uint8_t *pkt = tw_fbuf_data(&s->fbufs, buf) + TW_NET_L3_OFFSET;
    if (tw_ipv4_dgram_of(pkt, m->len - TW_NET_L3_OFFSET, m->iface, &d) < 0 || d.frag_offset != 0) {
        return;
    }
    if (m->origin == TW_NET_ORIGIN_FORWARD) {
        tw_icmp_send_error(s, now, &d, TW_ICMP_DEST_UNREACH, TW_ICMP_UNREACH_HOST, 0);
        return;
    }
    tw_iface *ifc = tw_net_iface(s, m->iface);
    tw_net_report_error(s, m->origin, &d, -TW_EUNREACH, TW_ICMP_DEST_UNREACH, TW_ICMP_UNREACH_HOST,
                        0, ifc->addr, m->iface);
}

/* Drops every packet of the detached list head for reason r, telling
 * their senders when notify is set. */
static void drop_list(tw_stack *s, tw_ns now, uint32_t head, uint32_t iface, tw_drop_reason r,
                      bool notify)
{
    uint32_t buf = head;
    while (buf != TW_FBUF_NONE) {
        uint32_t next = tw_fbuf_meta_of(&s->fbufs, buf)->next;
        tw_net_drop(s, iface, r);
        if (notify) {
            notify_failure(s, now, buf);
        }
        tw_fbuf_put(&s->fbufs, buf);
        buf = next;
    }
}

int tw_arp_output(tw_stack *s, tw_ns now, uint32_t iface, tw_ipv4_addr next_hop, uint32_t buf)
{
    tw_arp_cache *c = &s->arp;
    tw_iface *ifc = tw_net_iface(s, iface);
    tw_fbuf_meta *m = tw_fbuf_meta_of(&s->fbufs, buf);
    uint8_t *frame = tw_fbuf_data(&s->fbufs, buf);
    TW_ASSERT(m->len > TW_NET_L3_OFFSET);
    TW_ASSERT(m->iface == iface);
    /* RFC 1122 §3.3.6: a broadcast goes to the link-layer broadcast
     * address, without resolution. */
    if (next_hop == TW_IPV4_ADDR_BROADCAST || next_hop == tw_iface_bcast(ifc)) {
        eth_header(frame, TW_MAC_BROADCAST, ifc->mac, TW_ETHERTYPE_IPV4);
        return tw_net_tx(s, buf);
    }
    tw_arp_entry *e = tw_arp_cache_find(c, iface, next_hop);
    if (e != NULL && e->state != TW_ARP_INCOMPLETE) {
        eth_header(frame, e->mac, ifc->mac, TW_ETHERTYPE_IPV4);
        return tw_net_tx(s, buf);
    }
    if (e == NULL) {
        uint32_t i = entry_alloc(c, iface, next_hop, TW_ARP_INCOMPLETE);
        if (i == NONE) {
            tw_net_drop(s, iface, TW_DROP_ARP_CACHE_FULL);
            tw_fbuf_put(&s->fbufs, buf);
            return -TW_EFULL;
        }
        e = &c->entries[i];
        send_request(s, e);
        tw_wheel_arm(&s->wheel, &e->timer, tw_ns_add(now, c->cfg.retry_interval_ns));
    }
    /* RFC 1122 §2.3.2.2: queue at least one packet per unresolved
     * destination; the limits bound how many. */
    if (e->pending_len >= c->cfg.pending_per_entry || c->pending_total >= c->cfg.pending_total) {
        tw_net_drop(s, iface, TW_DROP_ARP_PENDING_FULL);
        tw_fbuf_put(&s->fbufs, buf);
        return -TW_EFULL;
    }
    m->next = TW_FBUF_NONE;
    if (e->pending_tail == TW_FBUF_NONE) {
        e->pending_head = buf;
    } else {
        tw_fbuf_meta_of(&s->fbufs, e->pending_tail)->next = buf;
    }
    e->pending_tail = buf;
    e->pending_len++;
    c->pending_total++;
    c->stats.pending_queued++;
    return 0;
}

void tw_arp_on_timer(tw_stack *s, tw_ns now, uint32_t i)
{
    tw_arp_cache *c = &s->arp;
    TW_ASSERT(i < c->cfg.entries_max);
    tw_arp_entry *e = &c->entries[i];
    if (e->state == TW_ARP_REACHABLE) {
        /* RFC 1122 §2.3.2.1: entries time out so a changed binding is
         * learned again. */
        TW_ASSERT(e->pending_len == 0);
        c->stats.expired++;
        entry_free(s, i);
        return;
    }
    TW_ASSERT(e->state == TW_ARP_INCOMPLETE);
    if (e->requests <= c->cfg.retries) {
        send_request(s, e);
        tw_wheel_arm(&s->wheel, &e->timer, tw_ns_add(now, c->cfg.retry_interval_ns));
        return;
    }
    c->stats.failed++;
    uint32_t iface = e->iface;
    uint32_t head = detach_pending(s, e);
    entry_free(s, i);
    drop_list(s, now, head, iface, TW_DROP_ARP_FAILED, true);
}

/* RFC 826, "Packet Reception": update a known sender (the merge), then,
 * if we are the target, learn the sender and answer a request. */
static bool merge_sender(tw_stack *s, tw_ns now, uint32_t iface, const tw_arp_repr *r)
{
    tw_arp_cache *c = &s->arp;
    tw_arp_entry *e = tw_arp_cache_find(c, iface, r->spa);
    if (e == NULL) {
        return false;
    }
    if (e->state == TW_ARP_STATIC) {
        return true; /* configured bindings are not overridden */
    }
    e->mac = r->sha;
    if (e->state == TW_ARP_INCOMPLETE) {
        e->state = TW_ARP_REACHABLE;
        c->stats.resolved++;
        flush_pending(s, e);
    } else {
        c->stats.updated++;
    }
    tw_wheel_arm(&s->wheel, &e->timer, tw_ns_add(now, c->cfg.entry_ttl_ns));
    return true;
}

static void learn_sender(tw_stack *s, tw_ns now, uint32_t iface, const tw_arp_repr *r)
{
    tw_arp_cache *c = &s->arp;
    uint32_t i = entry_alloc(c, iface, r->spa, TW_ARP_REACHABLE);
    if (i == NONE) {
        c->stats.learn_refused++;
        return;
    }
    c->entries[i].mac = r->sha;
    c->stats.learned++;
    tw_wheel_arm(&s->wheel, &c->entries[i].timer, tw_ns_add(now, c->cfg.entry_ttl_ns));
}

static bool sender_usable(const tw_iface *ifc, const tw_arp_repr *r)
{
    /* RFC 5227 probes (sender 0) teach nothing; a sender claiming our
     * address or MAC is a conflict or our own frame looped back.
     * NOTE: we do not defend our address (RFC 5227 §2.4); the conflict is
     * only counted. */
    if (tw_ipv4_addr_is_unspecified(r->spa) || tw_ipv4_addr_is_broadcast(r->spa) ||
        tw_ipv4_addr_is_multicast(r->spa) || tw_ipv4_addr_is_loopback(r->spa)) {
        return false;
    }
    if (r->spa == ifc->addr || tw_mac_equal(r->sha, ifc->mac) || tw_mac_is_zero(r->sha)) {
        return false;
    }
    return true;
}

void tw_arp_input(tw_stack *s, tw_ns now, uint32_t iface, const uint8_t *pkt, size_t len)
{
    tw_iface *ifc = tw_net_iface(s, iface);
    tw_arp_repr r;
    int err = tw_arp_parse(pkt, len, &r);
    if (err == -TW_ETRUNC) {
        tw_net_rx_drop(s, TW_DROP_ARP_TRUNCATED);
        return;
    }
    if (err == -TW_ENOTSUP) {
        tw_net_rx_drop(s, TW_DROP_ARP_UNSUPPORTED);
        return;
    }
    if (err < 0) {
        tw_net_rx_drop(s, TW_DROP_ARP_MALFORMED);
        return;
    }
    if (r.op == TW_ARP_OP_REQUEST) {
        s->arp.stats.requests_received++;
    } else {
        s->arp.stats.replies_received++;
    }
    if (!sender_usable(ifc, &r)) {
        tw_net_rx_drop(s, TW_DROP_ARP_BAD_SENDER);
        return;
    }
    bool merged = merge_sender(s, now, iface, &r);
    /* Only the receiving interface's address is answered for, so a router
     * does not claim its other subnets' addresses on this link. */
    if (r.tpa != ifc->addr) {
        if (merged) {
            tw_net_rx_outcome(s, TW_RX_DELIVERED);
        } else {
            tw_net_rx_drop(s, TW_DROP_ARP_NOT_FOR_US);
        }
        return;
    }
    if (!merged) {
        learn_sender(s, now, iface, &r);
    }
    tw_net_rx_outcome(s, TW_RX_DELIVERED);
    if (r.op == TW_ARP_OP_REQUEST) {
        tw_arp_repr reply = {
            .op = TW_ARP_OP_REPLY,
            .sha = ifc->mac,
            .spa = ifc->addr,
            .tha = r.sha,
            .tpa = r.spa,
        };
        s->arp.stats.replies_sent++;
        send_arp(s, iface, r.sha, &reply);
    }
}

int tw_arp_announce(tw_stack *s, tw_ns now, uint32_t iface)
{
    (void)now;
    tw_iface *ifc = tw_net_iface(s, iface);
    if (!ifc->up) {
        return -TW_ESTATE;
    }
    /* RFC 5227 §3: an announcement is a request whose sender and target
     * protocol addresses are both ours, target hardware address zero. */
    tw_arp_repr r = {
        .op = TW_ARP_OP_REQUEST,
        .sha = ifc->mac,
        .spa = ifc->addr,
        .tha = TW_MAC_ZERO,
        .tpa = ifc->addr,
    };
    s->arp.stats.announcements_sent++;
    return send_arp(s, iface, TW_MAC_BROADCAST, &r);
}

int tw_arp_add_static(tw_stack *s, tw_ns now, uint32_t iface, tw_ipv4_addr addr, tw_mac mac)
{
    (void)now;
    tw_arp_cache *c = &s->arp;
    tw_arp_entry *e = tw_arp_cache_find(c, iface, addr);
    if (e == NULL) {
        uint32_t i = entry_alloc(c, iface, addr, TW_ARP_STATIC);
        if (i == NONE) {
            return -TW_EFULL;
        }
        e = &c->entries[i];
    }
    tw_wheel_cancel(&s->wheel, &e->timer);
    e->mac = mac;
    e->state = TW_ARP_STATIC;
    flush_pending(s, e);
    return 0;
}

void tw_arp_flush_iface(tw_stack *s, tw_ns now, uint32_t iface)
{
    tw_arp_cache *c = &s->arp;
    for (uint32_t i = 0; i < c->cfg.entries_max; i++) {
        tw_arp_entry *e = &c->entries[i];
        /* Static entries are configuration: they outlive a link flap. */
        if (e->state == TW_ARP_FREE || e->state == TW_ARP_STATIC || e->iface != iface) {
            continue;
        }
        uint32_t head = detach_pending(s, e);
        entry_free(s, i);
        drop_list(s, now, head, iface, TW_DROP_IFACE_DOWN, false);
    }
}
