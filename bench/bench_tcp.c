/* bench_tcp: bulk transfer between two tw_tcp instances in one process on
 * one core, against the bound of copying and checksumming the same bytes;
 * and the memory one established idle connection costs.
 *
 * Usage: bench_tcp [megabytes]   (default 2048 per run)
 *
 * The transfer. Stack A sends, stack B receives; what A pops goes straight
 * into B and back (no link, no copy in between: the output buffer is valid
 * until A's next call, and B is done with it before then). The sender keeps
 * its send buffer full; the receiver consumes every DATA slice at once, and
 * reads one byte of each so the data is touched. Virtual time advances 1 us
 * per loop turn (timers never matter here: no loss). Every byte crosses: the
 * application's send copy into the send ring, which also takes the
 * payload's checksum share (core/net/tcp/sums.c; the segment is then built
 * in place in the ring and only its header summed at emit), and the copy
 * into the receive ring, which also verifies the checksum. The "resummed"
 * column counts payload bytes whose sum was taken again at emit (0 when
 * every segment is a whole chunk).
 *
 * The bound. The same number of bytes, in the same segment-sized pieces,
 * copied once (memcpy, ring to ring) and checksummed once (tw_csum): the
 * least any stack that copies and verifies must do. The ratio is
 * TCP bytes/s over bound bytes/s (goal >= 0.3).
 *
 * Memory. tw_tcp_conn_bytes(): the TCB as its pool stores it plus the
 * per-slot words of the tables (generation, two hash buckets, pool and
 * buffer free lists); buffers are reported apart. The goal is <= 1 KiB
 * without buffers. Best of three runs, timed by thread CPU time
 * (CLOCK_THREAD_CPUTIME_ID): on a shared machine wall time also counts
 * other processes. */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "base/rng.h"
#include "net/tcp/tcb.h"
#include "net/tcp/tcp.h"
#include "wire/checksum.h"

#define ADDR_A TW_IPV4_ADDR(10, 0, 0, 1)
#define ADDR_B TW_IPV4_ADDR(10, 0, 0, 2)
#define SRC_LEN (1u << 20)
#define RUNS 5

#define OPAQUE(p) __asm__ volatile("" : : "r"(p) : "memory")

static uint8_t src[SRC_LEN];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct run {
    tw_tcp *a, *b;
    tw_tcp_conn ca, cb;
    tw_ns now;
    uint64_t total, sent, received, sink;
    uint16_t seg_payload;
} run;

static void fill(run *r)
{
    while (r->sent < r->total) {
        size_t off = (size_t)(r->sent % SRC_LEN);
        size_t n = SRC_LEN - off;
        if (n > r->total - r->sent) {
            n = (size_t)(r->total - r->sent);
        }
        int64_t k = tw_tcp_send(r->a, r->now, r->ca, src + off, n);
        TW_ASSERT(k >= 0);
        r->sent += (uint64_t)k;
        if ((size_t)k < n) {
            return;
        }
    }
}

/* Moves everything pending between the stacks until both are quiet. */
static void pump(run *r)
{
    for (bool busy = true; busy;) {
        busy = false;
        tw_tcp_out o;
        while (tw_tcp_pop_segment(r->a, r->now, &o)) {
            if (r->seg_payload == 0 && o.len > 100) {
                r->seg_payload = (uint16_t)(o.len - tw_tcp_header_len(o.seg));
            }
            tw_tcp_on_segment(r->b, r->now, o.src, o.dst, o.seg, o.len);
            busy = true;
        }
        tw_tcp_event ev;
        while (tw_tcp_pop_event(r->b, r->now, &ev)) {
            if (ev.kind == TW_TCP_EV_ACCEPTED) {
                r->cb = ev.conn;
            } else if (ev.kind == TW_TCP_EV_DATA) {
                r->sink += ev.data[ev.len - 1];
                r->received += ev.len;
                tw_tcp_consume(r->b, r->now, ev.conn, ev.len);
            }
            busy = true;
        }
        while (tw_tcp_pop_segment(r->b, r->now, &o)) {
            tw_tcp_on_segment(r->a, r->now, o.src, o.dst, o.seg, o.len);
            busy = true;
        }
        while (tw_tcp_pop_event(r->a, r->now, &ev)) {
            if (ev.kind == TW_TCP_EV_CONNECTED || ev.kind == TW_TCP_EV_WRITABLE) {
                fill(r);
            }
            busy = true;
        }
    }
}

static double tcp_run(uint64_t total, uint16_t mtu, uint32_t buf, uint16_t *payload,
                      uint64_t *resummed)
{
    tw_tcp_config c;
    tw_tcp_config_default(&c);
    c.conns_max = 4;
    c.mtu = mtu;
    c.snd_buf_bytes = buf;
    c.rcv_buf_bytes = buf;
    run r = {.now = TW_SEC(1), .total = total};
    r.a = tw_tcp_create(&c, r.now);
    c.seed = 1;
    r.b = tw_tcp_create(&c, r.now);
    TW_ASSERT(tw_tcp_listen(r.b, ADDR_B, 5001, 4) == 0);
    r.ca = tw_tcp_connect(r.a, r.now, ADDR_A, ADDR_B, 5001);
    TW_ASSERT(r.ca > 0);
    double t0 = now_s(); /* the handshake's pump already moves data */
    pump(&r);
    while (r.received < total) {
        r.now += TW_US(1);
        tw_tcp_on_tick(r.a, r.now);
        tw_tcp_on_tick(r.b, r.now);
        fill(&r);
        pump(&r);
    }
    double dt = now_s() - t0;
    TW_ASSERT(tw_tcp_get_stats(r.a)->retransmits == 0);
    *resummed = tw_tcp_get_stats(r.a)->tx_csum_resummed;
    OPAQUE(&r.sink);
    *payload = r.seg_payload;
    tw_tcp_destroy(r.a);
    tw_tcp_destroy(r.b);
    return (double)total / dt;
}

/* One copy and one checksum per segment-sized piece, ring to ring. */
static double bound_run(uint64_t total, uint16_t payload, uint32_t buf)
{
    uint8_t *dst = calloc(1, buf);
    TW_ASSERT(dst != NULL);
    uint64_t acc = 0;
    size_t soff = 0, doff = 0;
    double t0 = now_s();
    for (uint64_t done = 0; done < total; done += payload) {
        size_t n = payload;
        if (soff + n > SRC_LEN) {
            soff = 0;
        }
        if (doff + n > buf) {
            doff = 0;
        }
        memcpy(dst + doff, src + soff, n);
        OPAQUE(dst);
        acc += tw_csum(dst + doff, n);
        soff += n;
        doff += n;
    }
    double dt = now_s() - t0;
    OPAQUE(&acc);
    free(dst);
    return (double)total / dt;
}

static void transfer(uint64_t total, uint16_t mtu, uint32_t buf)
{
    double best_tcp = 0, best_bound = 0;
    uint16_t payload = 0;
    uint64_t resummed = 0;
    for (int i = 0; i < RUNS; i++) {
        double t = tcp_run(total, mtu, buf, &payload, &resummed);
        double b = getenv("BENCH_TCP_ONLY") ? 1 : bound_run(total, payload, buf);
        best_tcp = t > best_tcp ? t : best_tcp;
        best_bound = b > best_bound ? b : best_bound;
    }
    printf("%6u %9u %8u %12.2f %12.2f %8.2fx %8.2f%%\n", mtu, buf >> 10, payload,
           best_tcp / 1e9, best_bound / 1e9, best_tcp / best_bound,
           100.0 * (double)resummed / (double)total);
}

int main(int argc, char **argv)
{
    uint64_t mb = argc > 1 ? strtoull(argv[1], NULL, 10) : 2048;
    if (mb == 0) {
        fprintf(stderr, "usage: bench_tcp [megabytes]\n");
        return 2;
    }
    tw_rng rng;
    tw_rng_init(&rng, 7, 0);
    for (size_t i = 0; i < SRC_LEN; i++) {
        src[i] = (uint8_t)tw_rng_next(&rng);
    }
    uint64_t total = mb << 20;
    printf("bench_tcp: bulk transfer of %" PRIu64 " MB between two stacks, one core, best of %d\n",
           mb, RUNS);
    printf("%6s %9s %8s %12s %12s %9s %9s\n", "mtu", "buf KiB", "payload", "tcp GB/s",
           "bound GB/s", "ratio", "resummed");
    transfer(total, 1500, 16 * 1024);
    transfer(total, 1500, 32 * 1024);
    transfer(total, 1500, 64 * 1024);
    transfer(total, 1500, 256 * 1024);
    transfer(total, 1500, 1024 * 1024);
    transfer(total, 9000, 1024 * 1024);
    printf("bound: one memcpy and one tw_csum of the same bytes in payload-sized pieces\n");
    printf("resummed: payload bytes whose checksum share was taken at emit, not at send\n\n");
    printf("memory per established idle connection, buffers excluded: %zu bytes\n",
           tw_tcp_conn_bytes());
    printf("  TCB %zu (of which wheel timer %zu, congestion state %zu, reassembly ranges %zu),"
           " table words %zu\n",
           sizeof(tcb), sizeof(tw_timer), sizeof(tw_tcp_cc), sizeof(((tcb *)0)->reasm),
           tw_tcp_conn_bytes() - ((sizeof(tcb) + 15) & ~(size_t)15));
    printf("  buffers: send + receive ring, as configured (defaults 64 + 64 KiB)\n");
    return 0;
}
