/* Two tw_tcp instances back to back through a fake link per direction
 * (rate, propagation delay, a drop-tail queue, seeded Bernoulli loss,
 * duplication and reordering, optional outages), moving a byte stream
 * whose content is checked by a hash on both ends.
 *
 * The unit suite moves a few megabytes under each kind of impairment and
 * 100 MB clean and impaired (well under a second at -O2), checks that
 * throughput recovers after a loss burst, that the same seed gives the same
 * trace, and simultaneous open and close end to end. The slow suite
 * (`test_tcp_harness bulk`) moves 100 MB four times at 5 % loss,
 * duplication and reordering.
 *
 * Every random draw comes from a tw_rng seeded from the test's seed, and
 * a failing run prints "reproduce with seed=N". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/mem.h"
#include "base/ratio.h"
#include "base/rng.h"
#include "harness.h"
#include "net/tcp/tcp.h"

#define ADDR_A TW_IPV4_ADDR(10, 0, 0, 1)
#define ADDR_B TW_IPV4_ADDR(10, 0, 0, 2)
#define PORT_B 5001
#define PKT_MAX 1600
#define LINK_SLOTS 8192
#define STREAM_PERIOD ((1u << 20) + 7) /* the sender's bytes repeat after this */
#define BUCKETS 4096                   /* goodput per 100 ms */
#define BUCKET_NS TW_MS(100)

/* ---- the link ------------------------------------------------------------------ */

typedef struct pkt {
    tw_ns due;
    uint64_t order; /* ties in due time leave in arrival order */
    uint32_t len;
    tw_ipv4_addr src;
    tw_ipv4_addr dst;
    uint8_t bytes[PKT_MAX];
} pkt;

typedef struct link_cfg {
    tw_ns delay_ns;
    uint64_t rate_bps;  /* 0: no serialisation delay */
    tw_ns queue_ns_max; /* drop-tail: the backlog a packet may wait behind */
    tw_ratio loss;
    tw_ratio dup;
    tw_ratio reorder;
    tw_ns reorder_ns; /* a reordered packet is late by up to this */
    tw_ns outage_from;
    tw_ns outage_to; /* everything sent in [from, to) is lost */
} link_cfg;

typedef struct link {
    link_cfg cfg;
    tw_rng rng;
    tw_ns busy_until;
    uint64_t order;
    uint32_t n;
    uint32_t heap[LINK_SLOTS]; /* slot indices, a min-heap on (due, order) */
    uint32_t free_n;
    uint32_t free_slots[LINK_SLOTS];
    pkt slots[LINK_SLOTS];
    uint64_t sent, lost, dups, reordered, queue_drops, full_drops;
} link;

static bool pkt_before(const link *l, uint32_t a, uint32_t b)
{
    const pkt *x = &l->slots[a];
    const pkt *y = &l->slots[b];
    return x->due != y->due ? x->due < y->due : x->order < y->order;
}

static void link_init(link *l, const link_cfg *cfg, uint64_t seed, uint64_t stream)
{
    memset(l, 0, sizeof(*l));
    l->cfg = *cfg;
    tw_rng_init(&l->rng, seed, stream);
    l->free_n = LINK_SLOTS;
    for (uint32_t i = 0; i < LINK_SLOTS; i++) {
        l->free_slots[i] = LINK_SLOTS - 1 - i;
    }
}

static void heap_push(link *l, uint32_t slot)
{
    uint32_t i = l->n++;
    l->heap[i] = slot;
    while (i > 0 && pkt_before(l, l->heap[i], l->heap[(i - 1) / 2])) {
        uint32_t p = (i - 1) / 2;
        uint32_t tmp = l->heap[p];
        l->heap[p] = l->heap[i];
        l->heap[i] = tmp;
        i = p;
    }
}

static uint32_t heap_pop(link *l)
{
    uint32_t top = l->heap[0];
    l->heap[0] = l->heap[--l->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t m = i, c1 = 2 * i + 1, c2 = 2 * i + 2;
        if (c1 < l->n && pkt_before(l, l->heap[c1], l->heap[m])) {
            m = c1;
        }
        if (c2 < l->n && pkt_before(l, l->heap[c2], l->heap[m])) {
            m = c2;
        }
        if (m == i) {
            break;
        }
        uint32_t tmp = l->heap[m];
        l->heap[m] = l->heap[i];
        l->heap[i] = tmp;
        i = m;
    }
    return top;
}

static void link_put(link *l, tw_ns due, const tw_tcp_out *o)
{
    if (l->free_n == 0) {
        l->full_drops++; /* a limit like any other: counted */
        return;
    }
    uint32_t s = l->free_slots[--l->free_n];
    pkt *p = &l->slots[s];
    p->due = due;
    p->order = l->order++;
    p->len = (uint32_t)o->len;
    p->src = o->src;
    p->dst = o->dst;
    memcpy(p->bytes, o->seg, o->len);
    heap_push(l, s);
}

static void link_send(link *l, tw_ns now, const tw_tcp_out *o)
{
    assert_true(o->len <= PKT_MAX);
    l->sent++;
    if (now >= l->cfg.outage_from && now < l->cfg.outage_to) {
        l->lost++;
        return;
    }
    if (tw_rng_chance(&l->rng, l->cfg.loss)) {
        l->lost++;
        return;
    }
    tw_ns start = tw_ns_max(now, l->busy_until);
    if (start - now > l->cfg.queue_ns_max) {
        l->queue_drops++;
        return;
    }
    /* 20 bytes of IPv4 header on the wire too. */
    tw_ns tx = l->cfg.rate_bps ? (o->len + 20) * 8ull * TW_SEC(1) / l->cfg.rate_bps : 0;
    l->busy_until = start + tx;
    tw_ns due = l->busy_until + l->cfg.delay_ns;
    if (tw_rng_chance(&l->rng, l->cfg.reorder)) {
        due += 1 + tw_rng_below(&l->rng, l->cfg.reorder_ns);
        l->reordered++;
    }
    link_put(l, due, o);
    if (tw_rng_chance(&l->rng, l->cfg.dup)) {
        link_put(l, due + TW_US(1), o);
        l->dups++;
    }
}

static tw_ns link_next_due(const link *l)
{
    return l->n ? l->slots[l->heap[0]].due : TW_NS_NEVER;
}

/* ---- the world: two stacks, two links, two applications ----------------- */

typedef struct world {
    tw_tcp *a; /* client: sends */
    tw_tcp *b; /* server: receives */
    link ab;
    link ba;
    tw_ns now;
    uint64_t seed;
    uint64_t trace;
    /* applications */
    tw_tcp_conn client;
    tw_tcp_conn server;
    uint64_t total;
    uint64_t sent;
    uint64_t received;
    uint64_t send_hash;
    uint64_t recv_hash;
    bool client_closed;
    bool server_closed;
    bool sender_fin;
    uint32_t write_max; /* 0: the sender offers all it has; else 1..this per send */
    tw_rng write_rng;
    bool deep_check; /* tw_tcp_check both stacks after every drain */
    int client_terminal; /* event kind, or -1 */
    int server_terminal;
    uint64_t goodput[BUCKETS];
} world;

static uint8_t stream_bytes[STREAM_PERIOD];
static world W;

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * FNV_PRIME;
    }
    return h;
}

static void stream_init(void)
{
    static bool done;
    if (done) {
        return;
    }
    tw_rng rng;
    tw_rng_init(&rng, 0x5eed, 99);
    for (size_t i = 0; i < STREAM_PERIOD; i++) {
        stream_bytes[i] = (uint8_t)tw_rng_next(&rng);
    }
    done = true;
}

static void harness_tcp_config(tw_tcp_config *c, uint64_t seed)
{
    tw_tcp_config_default(c);
    c->seed = seed;
    c->conns_max = 8;
    c->snd_buf_bytes = 256 * 1024;
    c->rcv_buf_bytes = 256 * 1024;
}

static void sender_fill(world *w)
{
    while (w->sent < w->total) {
        uint64_t off = w->sent % STREAM_PERIOD;
        uint64_t n = STREAM_PERIOD - off;
        if (n > w->total - w->sent) {
            n = w->total - w->sent;
        }
        if (w->write_max != 0) {
            uint64_t want = 1 + tw_rng_below(&w->write_rng, w->write_max);
            n = n < want ? n : want;
        }
        int64_t k = tw_tcp_send(w->a, w->now, w->client, stream_bytes + off, n);
        assert_true(k >= 0);
        w->send_hash = fnv1a(w->send_hash, stream_bytes + off, (size_t)k);
        w->sent += (uint64_t)k;
        if ((uint64_t)k < n) {
            return; /* full: WRITABLE will say when */
        }
    }
    if (!w->sender_fin) {
        assert_int_equal(tw_tcp_close(w->a, w->now, w->client), 0);
        w->sender_fin = true;
    }
}

static void client_event(world *w, const tw_tcp_event *ev)
{
    switch (ev->kind) {
    case TW_TCP_EV_CONNECTED:
    case TW_TCP_EV_WRITABLE:
        sender_fill(w);
        break;
    case TW_TCP_EV_PEER_CLOSED:
        break;
    case TW_TCP_EV_CLOSED:
    case TW_TCP_EV_RESET:
    case TW_TCP_EV_TIMED_OUT:
        w->client_closed = true;
        w->client_terminal = (int)ev->kind;
        break;
    default:
        fail_msg("client: unexpected event %d (seed=%llu)", (int)ev->kind,
                 (unsigned long long)w->seed);
    }
}

static void server_event(world *w, const tw_tcp_event *ev)
{
    switch (ev->kind) {
    case TW_TCP_EV_ACCEPTED:
        w->server = ev->conn;
        break;
    case TW_TCP_EV_DATA:
        assert_true(ev->conn == w->server);
        w->recv_hash = fnv1a(w->recv_hash, ev->data, ev->len);
        w->received += ev->len;
        w->goodput[(w->now / BUCKET_NS) % BUCKETS] += ev->len;
        assert_int_equal(tw_tcp_consume(w->b, w->now, ev->conn, ev->len), 0);
        break;
    case TW_TCP_EV_PEER_CLOSED:
        assert_int_equal(tw_tcp_close(w->b, w->now, ev->conn), 0);
        break;
    case TW_TCP_EV_CLOSED:
    case TW_TCP_EV_RESET:
    case TW_TCP_EV_TIMED_OUT:
        w->server_closed = true;
        w->server_terminal = (int)ev->kind;
        break;
    default:
        fail_msg("server: unexpected event %d (seed=%llu)", (int)ev->kind,
                 (unsigned long long)w->seed);
    }
}

/* Pops everything a stack has: segments onto its outgoing link, events to
 * its application, until both are empty (an event may cause output). */
static void drain(world *w, tw_tcp *tcp, link *out, bool is_client)
{
    for (;;) {
        bool any = false;
        tw_tcp_out o;
        while (tw_tcp_pop_segment(tcp, w->now, &o)) {
            link_send(out, w->now, &o);
            any = true;
        }
        tw_tcp_event ev;
        while (tw_tcp_pop_event(tcp, w->now, &ev)) {
            if (is_client) {
                client_event(w, &ev);
            } else {
                server_event(w, &ev);
            }
            any = true;
        }
        if (!any) {
            break;
        }
    }
    if (w->deep_check) {
        char why[256];
        if (tw_tcp_check(tcp, why, sizeof why) != 0) {
            fail_msg("%s at t=%llu: %s (seed=%llu)", is_client ? "client" : "server",
                     (unsigned long long)w->now, why, (unsigned long long)w->seed);
        }
    }
}

static void deliver_due(world *w, link *l, tw_tcp *to, link *back, bool to_client)
{
    while (l->n > 0 && link_next_due(l) <= w->now) {
        uint32_t s = heap_pop(l);
        pkt *p = &l->slots[s];
        w->trace = tw_hash_fold(tw_hash_fold(w->trace, p->due), p->len);
        w->trace = tw_hash_fold(w->trace, (uint64_t)p->bytes[4] << 24 | p->bytes[13]);
        tw_tcp_on_segment(to, w->now, p->src, p->dst, p->bytes, p->len);
        l->free_slots[l->free_n++] = s;
        drain(w, to, back, to_client);
    }
}

static void world_start(world *w, uint64_t seed, const link_cfg *ab, const link_cfg *ba,
                        uint64_t total, const tw_tcp_config *cfg_override)
{
    stream_init();
    memset(w, 0, sizeof(*w));
    w->seed = seed;
    w->now = TW_SEC(1);
    w->total = total;
    w->trace = TW_TRACE_HASH_INIT;
    w->send_hash = w->recv_hash = FNV_OFFSET;
    w->client_terminal = w->server_terminal = -1;
    tw_tcp_config c;
    harness_tcp_config(&c, seed);
    if (cfg_override != NULL) {
        c = *cfg_override;
    }
    w->a = tw_tcp_create(&c, w->now);
    c.seed = seed ^ 0xb;
    w->b = tw_tcp_create(&c, w->now);
    link_init(&w->ab, ab, seed, 1);
    link_init(&w->ba, ba, seed, 2);
    assert_int_equal(tw_tcp_listen(w->b, ADDR_B, PORT_B, 4), 0);
    w->client = tw_tcp_connect(w->a, w->now, ADDR_A, ADDR_B, PORT_B);
    assert_true(w->client > 0);
    drain(w, w->a, &w->ab, true);
}

static void world_stop(world *w)
{
    tw_tcp_destroy(w->a);
    tw_tcp_destroy(w->b);
}

/* Runs until both applications saw a terminal event and every timer is
 * idle, or until `until`. */
static void world_run(world *w, tw_ns until)
{
    while (w->now < until) {
        if (w->client_closed && w->server_closed && w->ab.n == 0 && w->ba.n == 0) {
            return;
        }
        tw_ns next = tw_ns_min(tw_ns_min(link_next_due(&w->ab), link_next_due(&w->ba)),
                               tw_ns_min(tw_tcp_next_deadline(w->a), tw_tcp_next_deadline(w->b)));
        if (next == TW_NS_NEVER) {
            fail_msg("stuck at t=%llu with nothing pending (seed=%llu)", (unsigned long long)w->now,
                     (unsigned long long)w->seed);
        }
        w->now = tw_ns_max(w->now, next);
        deliver_due(w, &w->ab, w->b, &w->ba, false);
        deliver_due(w, &w->ba, w->a, &w->ab, true);
        tw_tcp_on_tick(w->a, w->now);
        drain(w, w->a, &w->ab, true);
        tw_tcp_on_tick(w->b, w->now);
        drain(w, w->b, &w->ba, false);
    }
}

static void check_transfer(const world *w)
{
    if (w->received != w->total || w->recv_hash != w->send_hash) {
        fail_msg("received %llu of %llu bytes, hash %s; reproduce with seed=%llu",
                 (unsigned long long)w->received, (unsigned long long)w->total,
                 w->recv_hash == w->send_hash ? "ok" : "MISMATCH", (unsigned long long)w->seed);
    }
    assert_int_equal(w->client_terminal, TW_TCP_EV_CLOSED);
    assert_int_equal(w->server_terminal, TW_TCP_EV_CLOSED);
}

static void print_run(const char *name, const world *w)
{
    const tw_tcp_stats *sa = tw_tcp_get_stats(w->a);
    printf("  %s seed=%llu: %llu bytes in %.3f s simulated; link a->b sent %llu lost %llu "
           "dup %llu reordered %llu queue-drops %llu; retransmits %llu (rto %llu, fast %llu)\n",
           name, (unsigned long long)w->seed, (unsigned long long)w->received,
           (double)(w->now - TW_SEC(1)) / 1e9, (unsigned long long)w->ab.sent,
           (unsigned long long)w->ab.lost, (unsigned long long)w->ab.dups,
           (unsigned long long)w->ab.reordered, (unsigned long long)w->ab.queue_drops,
           (unsigned long long)sa->retransmits, (unsigned long long)sa->rto_timeouts,
           (unsigned long long)sa->fast_retransmits);
}

static const link_cfg clean_link = {
    .delay_ns = TW_MS(1),
    .rate_bps = 1000000000ull,
    .queue_ns_max = TW_MS(10),
    .loss = {0, 1},
    .dup = {0, 1},
    .reorder = {0, 1},
    .reorder_ns = 0,
};

static link_cfg impaired_link(uint32_t loss_permille, uint32_t dup_permille,
                              uint32_t reorder_permille)
{
    link_cfg l = clean_link;
    l.loss = TW_RATIO(loss_permille, 1000);
    l.dup = TW_RATIO(dup_permille, 1000);
    l.reorder = TW_RATIO(reorder_permille, 1000);
    l.reorder_ns = TW_MS(2);
    return l;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_tcp_harness_clean_transfer(void **state)
{
    world_start(&W, 1, &clean_link, &clean_link, 8u << 20, NULL);
    world_run(&W, TW_SEC(600));
    print_run("clean", &W);
    check_transfer(&W);
    assert_int_equal(tw_tcp_get_stats(W.a)->retransmits, 0);
    assert_int_equal(tw_tcp_get_stats(W.a)->drops_total, 0);
    assert_int_equal(tw_tcp_get_stats(W.b)->drops_total, 0);
    /* TIME-WAIT on the active closer ends after 2 MSL. */
    assert_int_equal(tw_tcp_conn_count(W.a), 1);
    assert_int_equal(tw_tcp_conn_count(W.b), 0);
    tw_tcp_on_tick(W.a, W.now + TW_SEC(60));
    assert_int_equal(tw_tcp_conn_count(W.a), 0);
    world_stop(&W);
}

static void impaired_run(uint64_t seed, uint32_t loss, uint32_t dup, uint32_t reorder,
                         uint64_t bytes)
{
    link_cfg fwd = impaired_link(loss, dup, reorder);
    link_cfg rev = impaired_link(loss, dup, reorder);
    world_start(&W, seed, &fwd, &rev, bytes, NULL);
    world_run(&W, TW_SEC(3600));
    print_run("impaired", &W);
    check_transfer(&W);
    world_stop(&W);
}

static void test_tcp_harness_loss_transfer(void **state)
{
    for (uint64_t seed = 10; seed < 13; seed++) {
        impaired_run(seed, 30, 0, 0, 2u << 20);
    }
}

static void test_tcp_harness_dup_reorder_transfer(void **state)
{
    for (uint64_t seed = 20; seed < 23; seed++) {
        impaired_run(seed, 0, 50, 50, 2u << 20);
    }
}

static void test_tcp_harness_mixed_transfer(void **state)
{
    for (uint64_t seed = 30; seed < 34; seed++) {
        impaired_run(seed, 50, 50, 50, 2u << 20);
    }
}

static void test_tcp_harness_same_seed_same_trace(void **state)
{
    link_cfg l = impaired_link(20, 10, 20);
    uint64_t traces[2];
    for (int k = 0; k < 2; k++) {
        world_start(&W, 77, &l, &l, 1u << 20, NULL);
        world_run(&W, TW_SEC(3600));
        check_transfer(&W);
        traces[k] = W.trace;
        world_stop(&W);
    }
    assert_int_equal(traces[0], traces[1]);
    world_start(&W, 78, &l, &l, 1u << 20, NULL);
    world_run(&W, TW_SEC(3600));
    assert_true(W.trace != traces[0]);
    world_stop(&W);
}

static uint64_t goodput_between(const world *w, tw_ns from, tw_ns to)
{
    uint64_t sum = 0;
    for (tw_ns t = from; t < to; t += BUCKET_NS) {
        sum += w->goodput[(t / BUCKET_NS) % BUCKETS];
    }
    return sum;
}

static void test_tcp_harness_throughput_recovers_after_loss_burst(void **state)
{
    /* 100 Mbit/s, 10 ms RTT, a 40 ms queue; both directions lose
     * everything for 300 ms at t = 3 s. */
    link_cfg l = {.delay_ns = TW_MS(5),
                  .rate_bps = 100000000ull,
                  .queue_ns_max = TW_MS(40),
                  .loss = TW_RATIO_ZERO,
                  .dup = TW_RATIO_ZERO,
                  .reorder = TW_RATIO_ZERO};
    l.outage_from = TW_SEC(3);
    l.outage_to = TW_SEC(3) + TW_MS(300);
    world_start(&W, 5, &l, &l, 100u << 20, NULL);
    world_run(&W, TW_SEC(9));
    uint64_t before = goodput_between(&W, TW_SEC(2), TW_SEC(3));
    uint64_t during = goodput_between(&W, TW_SEC(3) + TW_MS(100), TW_SEC(3) + TW_MS(300));
    uint64_t after = goodput_between(&W, TW_SEC(7), TW_SEC(8));
    printf("  goodput: before %.1f Mbit/s, during %.1f, 4-5 s after %.1f (rto %llu)\n",
           (double)before * 8 / 1e6, (double)during * 8 * 5 / 1e6, (double)after * 8 / 1e6,
           (unsigned long long)tw_tcp_get_stats(W.a)->rto_timeouts);
    /* Near the line rate before; nothing during; back to >= 80 % after. */
    assert_true(before * 8 > 80000000ull);
    assert_int_equal(during, 0);
    assert_true(after * 10 >= before * 8);
    assert_true(tw_tcp_get_stats(W.a)->rto_timeouts > 0);
    world_stop(&W);
}

/* Both sides connect to each other at the same instant (RFC 9293 §3.5
 * figure 8), exchange a message each way, and close at the same instant
 * (figure 14): CLOSING on both, then TIME-WAIT. */
static void test_tcp_harness_simultaneous_open_and_close(void **state)
{
    stream_init();
    tw_tcp_config c;
    harness_tcp_config(&c, 3);
    tw_tcp *x = tw_tcp_create(&c, TW_SEC(1));
    c.seed = 4;
    tw_tcp *y = tw_tcp_create(&c, TW_SEC(1));
    tw_ns now = TW_SEC(1);
    tw_tcp_conn cx = tw_tcp_connect_from(x, now, ADDR_A, 7000, ADDR_B, 8000);
    tw_tcp_conn cy = tw_tcp_connect_from(y, now, ADDR_B, 8000, ADDR_A, 7000);
    assert_true(cx > 0 && cy > 0);
    int connected = 0, peer_closed = 0, closed = 0;
    bool closing_seen = false;
    for (int round = 0; round < 20; round++) {
        /* One-way latency of 1 ms: exchange whatever each side has. */
        now += TW_MS(1);
        uint8_t qx[8][PKT_MAX], qy[8][PKT_MAX];
        size_t lx[8], ly[8], nx = 0, ny = 0;
        tw_tcp_out o;
        while (tw_tcp_pop_segment(x, now, &o)) {
            assert_true(nx < 8);
            memcpy(qx[nx], o.seg, o.len);
            lx[nx++] = o.len;
        }
        while (tw_tcp_pop_segment(y, now, &o)) {
            assert_true(ny < 8);
            memcpy(qy[ny], o.seg, o.len);
            ly[ny++] = o.len;
        }
        for (size_t i = 0; i < nx; i++) {
            tw_tcp_on_segment(y, now, ADDR_A, ADDR_B, qx[i], lx[i]);
        }
        for (size_t i = 0; i < ny; i++) {
            tw_tcp_on_segment(x, now, ADDR_B, ADDR_A, qy[i], ly[i]);
        }
        tw_tcp_conn_info ix, iy;
        if (tw_tcp_conn_get_info(x, cx, &ix) == 0 && tw_tcp_conn_get_info(y, cy, &iy) == 0 &&
            ix.state == TW_TCP_CLOSING && iy.state == TW_TCP_CLOSING) {
            closing_seen = true;
        }
        tw_tcp *stacks[2] = {x, y};
        tw_tcp_conn conns[2] = {cx, cy};
        for (int s = 0; s < 2; s++) {
            tw_tcp_event ev;
            while (tw_tcp_pop_event(stacks[s], now, &ev)) {
                if (ev.kind == TW_TCP_EV_CONNECTED) {
                    connected++;
                    assert_int_equal(tw_tcp_send(stacks[s], now, conns[s], "hello", 5), 5);
                } else if (ev.kind == TW_TCP_EV_DATA) {
                    assert_int_equal(ev.len, 5);
                    assert_memory_equal(ev.data, "hello", 5);
                    tw_tcp_consume(stacks[s], now, conns[s], 5);
                    /* Both read their message in the same round: both
                     * close at once. */
                    assert_int_equal(tw_tcp_close(stacks[s], now, conns[s]), 0);
                } else if (ev.kind == TW_TCP_EV_PEER_CLOSED) {
                    peer_closed++;
                } else if (ev.kind == TW_TCP_EV_CLOSED) {
                    closed++;
                } else {
                    fail_msg("unexpected event %d", (int)ev.kind);
                }
            }
        }
    }
    assert_int_equal(connected, 2);
    assert_int_equal(peer_closed, 2);
    assert_int_equal(closed, 2);
    assert_true(closing_seen);
    /* Both ended in TIME-WAIT (both were active closers). */
    assert_int_equal(tw_tcp_conn_count(x), 1);
    assert_int_equal(tw_tcp_conn_count(y), 1);
    tw_tcp_destroy(x);
    tw_tcp_destroy(y);
}

/* The send checksums (core/net/tcp/sums.c) taken at tw_tcp_send, under the
 * conditions that cut segments where no chunk ends: small writes of random
 * size with Nagle off (short segments seal chunks), a small odd-sized
 * receive window (window-limited segments split chunks), loss, duplication
 * and reordering (retransmissions after partial acknowledgments), and a
 * send ring small enough that its chunk ring fills. Every segment must
 * verify at the receiver, every chunk must hold its bytes' sum after every
 * step (tw_tcp_check), and the stream must arrive intact. */
static void test_tcp_harness_send_sums_under_cut_segments(void **state)
{
    /* Writes up to write_max; a receive window under MSS / 2 cuts segments
     * near a chunk's start, tiny writes fill the chunk ring. */
    static const struct {
        uint32_t write_max, rcv_buf;
    } runs[] = {{3001, 7001}, {700, 7001}, {40, 7001}, {3001, 600}};
    uint64_t resummed = 0, sent = 0;
    for (uint64_t seed = 40; seed < 40 + TW_ARRAY_LEN(runs); seed++) {
        tw_tcp_config c;
        harness_tcp_config(&c, seed);
        c.nodelay = true;
        c.snd_buf_bytes = 6000;
        c.rcv_buf_bytes = runs[seed - 40].rcv_buf;
        link_cfg fwd = impaired_link(20, 20, 30);
        link_cfg rev = impaired_link(20, 20, 30);
        world_start(&W, seed, &fwd, &rev, runs[seed - 40].write_max < 100 ? 1u << 18 : 1u << 20,
                    &c);
        W.write_max = runs[seed - 40].write_max;
        tw_rng_init(&W.write_rng, seed, 7);
        W.deep_check = true;
        world_run(&W, TW_SEC(3600));
        print_run("cut segments", &W);
        check_transfer(&W);
        assert_int_equal(tw_tcp_get_stats(W.b)->drops[TW_TCP_DROP_BAD_CHECKSUM], 0);
        resummed += tw_tcp_get_stats(W.a)->tx_csum_resummed;
        sent += tw_tcp_get_stats(W.a)->bytes_out;
        world_stop(&W);
    }
    /* Some payload had to be summed again at emit (the cuts happened) but
     * most was summed once, at send. */
    printf("  resummed %llu of %llu payload bytes sent\n", (unsigned long long)resummed,
           (unsigned long long)sent);
    assert_true(resummed > 0);
    assert_true(resummed < sent / 2);
}

/* ---- 100 MB ------------------------------------------------------------------- */

static void test_tcp_harness_100mb_clean(void **state)
{
    world_start(&W, 101, &clean_link, &clean_link, 100ull << 20, NULL);
    /* No allocation after init: a sealed allocator panics on any. */
    uint64_t allocs = tw_mem_allocations();
    tw_mem_seal();
    world_run(&W, TW_SEC(3600));
    tw_mem_unseal();
    assert_int_equal(tw_mem_allocations(), allocs);
    print_run("clean", &W);
    check_transfer(&W);
    assert_int_equal(tw_tcp_get_stats(W.a)->retransmits, 0);
    /* Bulk writes, full segments: every payload byte was summed as it was
     * copied in at send, none again at emit. */
    assert_int_equal(tw_tcp_get_stats(W.a)->tx_csum_resummed, 0);
    world_stop(&W);
}

static void test_tcp_harness_100mb_impaired(void **state)
{
    /* 2 % loss, 1 % duplication, 2 % reordering, both directions. */
    impaired_run(100, 20, 10, 20, 100ull << 20);
}

/* The slow suite: 100 MB at the top of the range (5 % of each), seeds. */
static void test_tcp_harness_100mb_heavy_seeds(void **state)
{
    for (uint64_t seed = 200; seed < 204; seed++) {
        impaired_run(seed, 50, 50, 50, 100ull << 20);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest unit[] = {
        cmocka_unit_test(test_tcp_harness_clean_transfer),
        cmocka_unit_test(test_tcp_harness_loss_transfer),
        cmocka_unit_test(test_tcp_harness_dup_reorder_transfer),
        cmocka_unit_test(test_tcp_harness_mixed_transfer),
        cmocka_unit_test(test_tcp_harness_same_seed_same_trace),
        cmocka_unit_test(test_tcp_harness_throughput_recovers_after_loss_burst),
        cmocka_unit_test(test_tcp_harness_simultaneous_open_and_close),
        cmocka_unit_test(test_tcp_harness_send_sums_under_cut_segments),
        cmocka_unit_test(test_tcp_harness_100mb_clean),
        cmocka_unit_test(test_tcp_harness_100mb_impaired),
    };
    const struct CMUnitTest bulk[] = {
        cmocka_unit_test(test_tcp_harness_100mb_heavy_seeds),
    };
    if (argc > 1 && strcmp(argv[1], "bulk") == 0) {
        return cmocka_run_group_tests(bulk, harness_group_setup, NULL);
    }
    return cmocka_run_group_tests(unit, harness_group_setup, NULL);
}
