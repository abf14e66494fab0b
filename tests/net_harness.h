/* A small world of user-space stacks for the net tests and the pcap
 * exchange program: hosts (one tw_stack each) joined by point-to-point
 * links, a loop that moves every popped frame to the other end of its link
 * with an explicit `now`, and a record of every application event.
 *
 * No cmocka here (the pcap program links without it): helpers report
 * misuse through TW_ASSERT, and tests check what the records say.
 *
 * Header-only; static functions unused by a test cost nothing. */
#ifndef TW_TESTS_NET_HARNESS_H
#define TW_TESTS_NET_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "net/stack.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define NET_HOSTS_MAX 4
#define NET_LINKS_MAX 4
#define NET_EVENTS_MAX 512
/* A world that moves this many frames without going quiet is looping. */
#define NET_SETTLE_FRAMES_MAX 1000000u

typedef struct net_event_rec {
    tw_net_event ev; /* ev.payload points at data */
    uint8_t *data;
} net_event_rec;

typedef struct net_host {
    tw_stack *s;
    uint32_t n_events;
    net_event_rec events[NET_EVENTS_MAX];
} net_host;

typedef struct net_link {
    uint32_t a, a_iface, b, b_iface;
    bool up; /* a link that is down loses every frame */
} net_link;

typedef struct net_world net_world;
/* Sees every frame a stack sends, before the link (the pcap tap). */
typedef void (*net_tap_fn)(void *ctx, tw_ns now, uint32_t host, uint32_t iface,
                           const uint8_t *frame, size_t len);
/* Says whether a frame crosses its link (tests lose chosen frames). */
typedef bool (*net_filter_fn)(void *ctx, uint32_t host, uint32_t iface, const uint8_t *frame,
                              size_t len);

struct net_world {
    tw_ns now;
    tw_ns delay_ns; /* added to now for every frame moved */
    uint32_t n_hosts;
    uint32_t n_links;
    net_host hosts[NET_HOSTS_MAX];
    net_link links[NET_LINKS_MAX];
    net_tap_fn tap;
    void *tap_ctx;
    net_filter_fn filter;
    void *filter_ctx;
    uint64_t frames_moved;
    uint64_t frames_lost;
};

static inline net_world *net_world_new(tw_ns start, tw_ns delay_ns)
{
    net_world *w = calloc(1, sizeof(*w));
    TW_ASSERT(w != NULL);
    w->now = start;
    w->delay_ns = delay_ns;
    return w;
}

static inline void net_world_clear_events(net_world *w)
{
    for (uint32_t h = 0; h < w->n_hosts; h++) {
        net_host *host = &w->hosts[h];
        for (uint32_t i = 0; i < host->n_events; i++) {
            free(host->events[i].data);
        }
        host->n_events = 0;
    }
}

static inline void net_world_free(net_world *w)
{
    net_world_clear_events(w);
    for (uint32_t h = 0; h < w->n_hosts; h++) {
        tw_stack_destroy(w->hosts[h].s);
    }
    free(w);
}

/* A host with the given stack configuration (NULL: defaults). */
static inline uint32_t net_host_add(net_world *w, const tw_stack_config *cfg)
{
    TW_ASSERT(w->n_hosts < NET_HOSTS_MAX);
    tw_stack_config def;
    if (cfg == NULL) {
        tw_stack_config_default(&def);
        cfg = &def;
    }
    uint32_t h = w->n_hosts++;
    w->hosts[h].s = tw_stack_create(cfg, w->now);
    w->hosts[h].n_events = 0;
    return h;
}

/* MAC 02:00:00:00:hh:ii for host h, interface i. */
static inline tw_mac net_mac(uint32_t host, uint32_t iface)
{
    return tw_mac_from_id((uint64_t)(host + 1) << 8 | iface);
}

/* Adds and brings up an interface (mtu 0: 1500); returns its id. */
static inline uint32_t net_iface_add(net_world *w, uint32_t h, tw_ipv4_addr addr, uint8_t prefix,
                                     uint16_t mtu)
{
    tw_stack *s = w->hosts[h].s;
    tw_iface_config ic = {
        .mac = net_mac(h, tw_stack_iface_count(s)),
        .addr = addr,
        .prefix_len = prefix,
        .mtu = mtu,
    };
    int id = tw_stack_iface_add(s, &ic);
    TW_ASSERT(id >= 0);
    int err = tw_stack_iface_up(s, w->now, (uint32_t)id);
    TW_ASSERT(err == 0);
    return (uint32_t)id;
}

static inline uint32_t net_link_add(net_world *w, uint32_t a, uint32_t a_iface, uint32_t b,
                                    uint32_t b_iface)
{
    TW_ASSERT(w->n_links < NET_LINKS_MAX);
    uint32_t l = w->n_links++;
    w->links[l] = (net_link){a, a_iface, b, b_iface, true};
    return l;
}

static inline void net_record_events(net_world *w, uint32_t h)
{
    net_host *host = &w->hosts[h];
    tw_net_event ev;
    while (tw_stack_pop_event(host->s, w->now, &ev)) {
        TW_ASSERT(host->n_events < NET_EVENTS_MAX);
        net_event_rec *r = &host->events[host->n_events++];
        r->ev = ev;
        r->data = NULL;
        if (ev.payload != NULL) {
            r->data = malloc(ev.payload_len ? ev.payload_len : 1);
            TW_ASSERT(r->data != NULL);
            memcpy(r->data, ev.payload, ev.payload_len);
            r->ev.payload = r->data;
        }
    }
}

/* Pops one frame of host h and moves it across its link. False when h had
 * nothing to send. */
static inline bool net_move_one(net_world *w, uint32_t h)
{
    tw_frame_out f;
    if (!tw_stack_pop_frame(w->hosts[h].s, w->now, &f)) {
        return false;
    }
    w->now += w->delay_ns;
    if (w->tap) {
        w->tap(w->tap_ctx, w->now, h, f.iface, f.data, f.len);
    }
    for (uint32_t l = 0; l < w->n_links; l++) {
        const net_link *k = &w->links[l];
        uint32_t peer, peer_iface;
        if (k->a == h && k->a_iface == f.iface) {
            peer = k->b;
            peer_iface = k->b_iface;
        } else if (k->b == h && k->b_iface == f.iface) {
            peer = k->a;
            peer_iface = k->a_iface;
        } else {
            continue;
        }
        if (!k->up || (w->filter && !w->filter(w->filter_ctx, h, f.iface, f.data, f.len))) {
            break;
        }
        w->frames_moved++;
        tw_stack_on_frame(w->hosts[peer].s, w->now, peer_iface, f.data, f.len);
        return true;
    }
    w->frames_lost++;
    return true;
}

/* Moves frames until every stack is quiet, recording events. */
static inline void net_settle(net_world *w)
{
    uint64_t moved = 0;
    for (;;) {
        bool any = false;
        for (uint32_t h = 0; h < w->n_hosts; h++) {
            while (net_move_one(w, h)) {
                any = true;
                TW_ASSERT(++moved < NET_SETTLE_FRAMES_MAX);
            }
        }
        for (uint32_t h = 0; h < w->n_hosts; h++) {
            net_record_events(w, h);
        }
        if (!any) {
            return;
        }
    }
}

static inline tw_ns net_next_deadline(const net_world *w)
{
    tw_ns next = TW_NS_NEVER;
    for (uint32_t h = 0; h < w->n_hosts; h++) {
        next = tw_ns_min(next, tw_stack_next_deadline(w->hosts[h].s));
    }
    return next;
}

static inline void net_tick_all(net_world *w)
{
    for (uint32_t h = 0; h < w->n_hosts; h++) {
        tw_stack_on_tick(w->hosts[h].s, w->now);
    }
}

/* Runs the world for dt: wakes every stack at each deadline up to now+dt,
 * moving frames in between; ends at exactly now+dt. */
static inline void net_advance(net_world *w, tw_ns dt)
{
    tw_ns until = w->now + dt;
    net_settle(w);
    for (uint32_t turns = 0;; turns++) {
        TW_ASSERT(turns < 1000000u);
        tw_ns next = net_next_deadline(w);
        if (next > until) {
            break;
        }
        if (next > w->now) {
            w->now = next;
        }
        /* A lower-bound deadline may find nothing due; the wheels move on
         * and the next answer is tighter. */
        net_tick_all(w);
        net_settle(w);
    }
    if (w->now < until) {
        w->now = until;
    }
    net_tick_all(w);
    net_settle(w);
}

/* The i-th recorded event of host h of the given kind, or NULL. */
static inline const tw_net_event *net_event(const net_world *w, uint32_t h, tw_net_event_kind kind,
                                            uint32_t nth)
{
    const net_host *host = &w->hosts[h];
    for (uint32_t i = 0; i < host->n_events; i++) {
        if (host->events[i].ev.kind == kind && nth-- == 0) {
            return &host->events[i].ev;
        }
    }
    return NULL;
}

static inline uint32_t net_event_count(const net_world *w, uint32_t h, tw_net_event_kind kind)
{
    uint32_t n = 0;
    const net_host *host = &w->hosts[h];
    for (uint32_t i = 0; i < host->n_events; i++) {
        n += host->events[i].ev.kind == kind;
    }
    return n;
}

static inline const tw_iface_counters *net_counters(const net_world *w, uint32_t h, uint32_t i)
{
    return tw_stack_iface_counters(w->hosts[h].s, i);
}

/* True when the rx outcomes of every interface of every host add up. */
static inline bool net_accounts_balance(const net_world *w)
{
    for (uint32_t h = 0; h < w->n_hosts; h++) {
        const tw_stack *s = w->hosts[h].s;
        for (uint32_t i = 0; i < tw_stack_iface_count(s); i++) {
            const tw_iface_counters *c = tw_stack_iface_counters(s, i);
            if (c->rx_frames != c->rx_delivered + c->rx_forwarded + c->rx_held + c->rx_dropped) {
                return false;
            }
        }
    }
    return true;
}

/* A deterministic payload: byte i is (seed + i * 7) & 0xff. */
static inline void net_fill(uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed + i * 7);
    }
}

/* ---- frame builders for injecting hand-made frames ------------------ */

/* Writes Ethernet + IPv4 (from r, payload copied) into frame; returns the
 * frame length. */
static inline size_t net_build_ipv4(uint8_t *frame, tw_mac dst, tw_mac src, const tw_ipv4_repr *r,
                                    const uint8_t *payload)
{
    tw_eth_repr e = {.dst = dst, .src = src, .ethertype = TW_ETHERTYPE_IPV4};
    tw_eth_emit(&e, frame);
    tw_ipv4_emit(r, frame + TW_ETH_HEADER_LEN);
    memcpy(frame + TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN, payload, r->payload_len);
    return TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN + r->payload_len;
}

/* A complete UDP frame; returns its length. */
static inline size_t net_build_udp(uint8_t *frame, tw_mac dst_mac, tw_mac src_mac, tw_ipv4_addr src,
                                   tw_ipv4_addr dst, uint16_t sport, uint16_t dport,
                                   const uint8_t *data, size_t len, uint16_t ident)
{
    tw_eth_repr e = {.dst = dst_mac, .src = src_mac, .ethertype = TW_ETHERTYPE_IPV4};
    tw_eth_emit(&e, frame);
    uint8_t *udp = frame + TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN;
    tw_udp_repr u = {.src_port = sport, .dst_port = dport, .payload = data, .payload_len = len};
    tw_udp_emit(&u, src, dst, udp);
    tw_ipv4_repr r = {
        .src = src,
        .dst = dst,
        .protocol = TW_IP_PROTO_UDP,
        .ttl = 64,
        .ident = ident,
        .payload_len = (uint16_t)tw_udp_repr_len(&u),
    };
    tw_ipv4_emit(&r, frame + TW_ETH_HEADER_LEN);
    return TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN + tw_udp_repr_len(&u);
}

/* Rewrites the IPv4 header checksum of a frame after a test edited it. */
static inline void net_fix_ipv4_csum(uint8_t *frame)
{
    uint8_t *ip = frame + TW_ETH_HEADER_LEN;
    size_t hl = tw_ipv4_header_len(ip);
    tw_bytes_store_be16(ip + 10, 0);
    tw_bytes_store_be16(ip + 10, tw_csum(ip, hl));
}

#endif
