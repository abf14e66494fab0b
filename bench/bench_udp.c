/* bench_udp: the user-space stack's UDP receive path, frame in to datagram
 * event out, beside the cost of merely copying the frame.
 *
 * Usage: bench_udp [iterations-scale]   (default 1; 10 runs ten times
 * longer). For 64- and 1400-byte payloads prints ns per packet of
 *   stack   tw_stack_on_frame (Ethernet, IPv4 header checks and checksum,
 *           UDP checksum over the payload, endpoint lookup, the copy into a
 *           frame buffer, the queue) then tw_stack_pop_event (the event,
 *           and the release of the previous datagram's buffer);
 *   memcpy  copying the frame once, what any receive path must at least do
 *           to keep a frame the driver lends it;
 * and their ratio; then the same for a 3000-byte datagram arriving as three
 * fragments (reassembly), per datagram.
 *
 * The sender's address is in the neighbour cache and nothing is sent, so
 * only the receive path is timed. Each result is the best of 7 rounds (the
 * least disturbed measurement on warm caches); every round checks that
 * each frame produced exactly one datagram. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/stack.h"
#include "wire/checksum.h"
#include "wire/udp.h"

#define OPAQUE(p) __asm__ volatile("" : : "r"(p) : "memory")

#define A_ADDR TW_IPV4_ADDR(10, 0, 0, 1)
#define X_ADDR TW_IPV4_ADDR(10, 0, 0, 9)
#define ROUNDS 7

static const tw_mac A_MAC = {{0x02, 0, 0, 0, 0, 0x01}};
static const tw_mac X_MAC = {{0x02, 0, 0, 0, 0, 0x09}};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_udp: %s\n", what);
    exit(1);
}

/* Ethernet + IPv4 + fragment of a UDP datagram (bytes [off, off+len) of
 * dgram); returns the frame length. */
static size_t build(uint8_t *frame, const uint8_t *dgram, uint16_t off, uint16_t len, bool more,
                    uint16_t ident)
{
    tw_eth_repr e = {.dst = A_MAC, .src = X_MAC, .ethertype = TW_ETHERTYPE_IPV4};
    tw_eth_emit(&e, frame);
    tw_ipv4_repr r = {.src = X_ADDR,
                      .dst = A_ADDR,
                      .protocol = TW_IP_PROTO_UDP,
                      .ttl = 64,
                      .ident = ident,
                      .frag_offset = off,
                      .more_frags = more,
                      .payload_len = len};
    tw_ipv4_emit(&r, frame + TW_ETH_HEADER_LEN);
    memcpy(frame + TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN, dgram + off, len);
    return TW_ETH_HEADER_LEN + TW_IPV4_HEADER_LEN + len;
}

static size_t make_dgram(uint8_t *dgram, size_t payload_len)
{
    static uint8_t payload[4096];
    for (size_t i = 0; i < payload_len; i++) {
        payload[i] = (uint8_t)(i * 7);
    }
    tw_udp_repr u = {
        .src_port = 4000, .dst_port = 7, .payload = payload, .payload_len = payload_len};
    tw_udp_emit(&u, X_ADDR, A_ADDR, dgram);
    return tw_udp_repr_len(&u);
}

static tw_stack *make_stack(void)
{
    tw_stack_config cfg;
    tw_stack_config_default(&cfg);
    tw_stack *s = tw_stack_create(&cfg, 0);
    tw_iface_config ic = {.mac = A_MAC, .addr = A_ADDR, .prefix_len = 24};
    if (tw_stack_iface_add(s, &ic) != 0 || tw_stack_iface_up(s, 0, 0) != 0 ||
        tw_stack_arp_add(s, 0, 0, X_ADDR, X_MAC) != 0 || tw_stack_udp_bind(s, 0, 7) < 0) {
        die("stack setup");
    }
    tw_frame_out f;
    while (tw_stack_pop_frame(s, 0, &f)) {
    }
    return s;
}

/* ns per datagram for nframes frames per datagram, best of ROUNDS. */
static double time_stack(tw_stack *s, uint8_t frames[][1600], const size_t *lens, int nframes,
                         long iters, size_t payload_len)
{
    double best = 1e30;
    tw_ns now = 1;
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            for (int k = 0; k < nframes; k++) {
                if (nframes > 1) {
                    /* A fresh identification per datagram. */
                    uint8_t *ip = frames[k] + TW_ETH_HEADER_LEN;
                    uint16_t id = (uint16_t)i;
                    uint16_t old = tw_bytes_load_be16(ip + 4);
                    tw_bytes_store_be16(ip + 4, id);
                    tw_bytes_store_be16(ip + 10,
                                        tw_csum_update16(tw_bytes_load_be16(ip + 10), old, id));
                }
                tw_stack_on_frame(s, now++, 0, frames[k], lens[k]);
            }
            tw_net_event ev;
            if (!tw_stack_pop_event(s, now, &ev) || ev.payload_len != payload_len) {
                die("no datagram");
            }
            OPAQUE(ev.payload);
        }
        double ns = (double)(now_ns() - t0) / (double)iters;
        best = ns < best ? ns : best;
    }
    return best;
}

static double time_memcpy(const uint8_t *frame, size_t len, long iters)
{
    static uint8_t dst[2048];
    double best = 1e30;
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            OPAQUE(frame);
            memcpy(dst, frame, len);
            OPAQUE(dst);
        }
        double ns = (double)(now_ns() - t0) / (double)iters;
        best = ns < best ? ns : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    long scale = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    if (scale < 1) {
        die("the iterations scale is a positive integer");
    }
    long iters = 1000000 * scale;
    static uint8_t dgram[4096];
    static uint8_t frames[3][1600];
    size_t lens[3];

    printf("%-10s %7s %7s %9s %9s %7s\n", "udp rx", "payload", "frame", "stack", "memcpy", "ratio");
    printf("%-10s %7s %7s %9s %9s %7s\n", "", "bytes", "bytes", "ns/pkt", "ns/pkt", "");
    static const size_t sizes[] = {64, 1400};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        tw_stack *s = make_stack();
        size_t dlen = make_dgram(dgram, sizes[i]);
        lens[0] = build(frames[0], dgram, 0, (uint16_t)dlen, false, 1);
        double stack = time_stack(s, frames, lens, 1, iters, sizes[i]);
        double copy = time_memcpy(frames[0], lens[0], iters);
        const tw_iface_counters *c = tw_stack_iface_counters(s, 0);
        if (c->rx_delivered != (uint64_t)iters * ROUNDS || tw_drop_total(c) != 0) {
            die("not every frame was delivered");
        }
        printf("%-10s %7zu %7zu %9.1f %9.1f %6.1fx\n", "", sizes[i], lens[0], stack, copy,
               stack / copy);
        tw_stack_destroy(s);
    }

    /* 3000 bytes in three fragments, reassembled: per datagram. */
    tw_stack *s = make_stack();
    size_t dlen = make_dgram(dgram, 3000);
    lens[0] = build(frames[0], dgram, 0, 1480, true, 0);
    lens[1] = build(frames[1], dgram, 1480, 1480, true, 0);
    lens[2] = build(frames[2], dgram, 2960, (uint16_t)(dlen - 2960), false, 0);
    double stack = time_stack(s, frames, lens, 3, iters / 4, 3000);
    double copy = time_memcpy(frames[0], lens[0], iters) + time_memcpy(frames[1], lens[1], iters) +
                  time_memcpy(frames[2], lens[2], iters);
    printf("%-10s %7d %7zu %9.1f %9.1f %6.1fx  (3 fragments, reassembled; per datagram)\n", "",
           3000, lens[0] + lens[1] + lens[2], stack, copy, stack / copy);
    tw_stack_destroy(s);
    return 0;
}
