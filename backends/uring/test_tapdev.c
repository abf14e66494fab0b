/* backends/uring/tapdev: frames through a TAP device on an io_uring, both
 * ways, against the kernel's own stack on the other side of the device.
 *
 * In a network namespace of its own (unshare; root), the test gives the
 * TAP interface 10.77.0.1/24 and sends a UDP datagram to 10.77.0.2 from an
 * ordinary socket. The kernel asks for 10.77.0.2 with ARP: that request
 * must come out of the device's multishot read. The test answers it by
 * writing an ARP reply through the device, and the kernel then sends the
 * datagram it held: that frame must come out too, with the payload intact.
 * Without the privileges or the kernel features it skips, saying which. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/uring/tapdev.h"
#include "base/error.h"
#include "wire/arp.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define OUR_IP 0x0a4d0001u  /* 10.77.0.1, the kernel's side */
#define PEER_IP 0x0a4d0002u /* 10.77.0.2, answered by the test */
#define PEER_PORT 9999
#define PAYLOAD "frames through the ring"

typedef struct seen {
    bool arp_request;
    tw_mac kernel_mac;
    bool datagram;
    bool payload_ok;
    uint32_t frames;
} seen;

static void on_frame(void *ctx, const uint8_t *frame, size_t len)
{
    seen *s = ctx;
    s->frames++;
    tw_eth_repr eth;
    if (tw_eth_parse(frame, len, &eth) < 0) {
        return;
    }
    if (eth.ethertype == TW_ETHERTYPE_ARP) {
        tw_arp_repr arp;
        if (tw_arp_parse(eth.payload, eth.payload_len, &arp) == 0 && arp.op == TW_ARP_OP_REQUEST &&
            arp.tpa == PEER_IP && arp.spa == OUR_IP) {
            s->arp_request = true;
            s->kernel_mac = arp.sha;
        }
        return;
    }
    tw_ipv4_repr ip;
    tw_udp_repr udp;
    if (eth.ethertype != TW_ETHERTYPE_IPV4 ||
        tw_ipv4_parse(eth.payload, eth.payload_len, &ip) < 0 || ip.protocol != 17 ||
        ip.dst != PEER_IP || tw_udp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, &udp) < 0) {
        return; /* IPv6 neighbour discovery and the like */
    }
    s->datagram = udp.dst_port == PEER_PORT;
    s->payload_ok =
        udp.payload_len == strlen(PAYLOAD) && memcmp(udp.payload, PAYLOAD, udp.payload_len) == 0;
}

static void set_addr(int sock, unsigned long req, const char *name, uint32_t a)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(a);
    assert_int_equal(ioctl(sock, req, &ifr), 0);
}

static void link_up(const char *name)
{
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(sock >= 0);
    set_addr(sock, SIOCSIFADDR, name, OUR_IP);
    set_addr(sock, SIOCSIFNETMASK, name, 0xffffff00u);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    assert_int_equal(ioctl(sock, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    assert_int_equal(ioctl(sock, SIOCSIFFLAGS, &ifr), 0);
    close(sock);
}

/* Runs the ring until cond holds or about two seconds pass. */
static void run_until(struct io_uring *ring, tw_uring_tap *tap, seen *s, const bool *cond)
{
    for (int i = 0; i < 40 && !*cond; i++) {
        tw_uring_tap_flush(tap);
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
        struct io_uring_cqe *cqe;
        io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
        unsigned head;
        unsigned n = 0;
        io_uring_for_each_cqe(ring, head, cqe)
        {
            assert_true(tw_uring_tap_owns(tw_uring_tap_config_get(tap), cqe->user_data));
            tw_uring_tap_on_cqe(tap, cqe, on_frame, s);
            n++;
        }
        io_uring_cq_advance(ring, n);
    }
}

/* RFC 826: the reply to the kernel's request, from 10.77.0.2. */
static size_t arp_reply(uint8_t *buf, tw_mac kernel_mac)
{
    tw_mac ours = tw_mac_from_id(0x77);
    tw_eth_repr eth = {.dst = kernel_mac, .src = ours, .ethertype = TW_ETHERTYPE_ARP};
    tw_arp_repr arp = {
        .op = TW_ARP_OP_REPLY, .sha = ours, .spa = PEER_IP, .tha = kernel_mac, .tpa = OUR_IP};
    tw_eth_emit(&eth, buf);
    tw_arp_emit(&arp, buf + tw_eth_repr_len(&eth));
    return tw_eth_repr_len(&eth) + tw_arp_repr_len(&arp);
}

static void test_uring_tapdev_frames_both_ways(void **state)
{
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "skip: unshare(CLONE_NEWNET): %s (needs root)\n", strerror(errno));
        skip();
    }
    struct io_uring ring;
    int rc = io_uring_queue_init(64, &ring, 0);
    if (rc < 0) {
        fprintf(stderr, "skip: io_uring_queue_init: %s\n", strerror(-rc));
        skip();
    }
    tw_uring_tap_config cfg = {.name = "urtap0", .bgid = 7, .tag = 0x54, .rx_bufs = 64};
    tw_uring_tap *tap;
    char err[256];
    if (tw_uring_tap_open(&tap, &ring, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "skip: %s\n", err);
        io_uring_queue_exit(&ring);
        skip();
    }
    link_up("urtap0");
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(sock >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PEER_PORT)};
    to.sin_addr.s_addr = htonl(PEER_IP);
    assert_int_equal(sendto(sock, PAYLOAD, strlen(PAYLOAD), 0, (struct sockaddr *)&to, sizeof(to)),
                     (ssize_t)strlen(PAYLOAD));
    seen s = {0};
    run_until(&ring, tap, &s, &s.arp_request);
    assert_true(s.arp_request);
    assert_false(s.datagram); /* held until the address resolves */

    uint8_t frame[64];
    size_t len = arp_reply(frame, s.kernel_mac);
    assert_int_equal(tw_uring_tap_send(tap, frame, len), 0);
    run_until(&ring, tap, &s, &s.datagram);
    assert_true(s.datagram);
    assert_true(s.payload_ok);
    const tw_uring_tap_stats *st = tw_uring_tap_stats_get(tap);
    assert_int_equal(st->tx_frames, 1);
    assert_int_equal(st->tx_bytes, len);
    assert_int_equal(st->tx_errors, 0);
    assert_int_equal(st->rx_frames, s.frames);
    assert_int_equal(st->rx_errors, 0);
    /* A frame larger than a buffer is refused, not truncated. */
    uint8_t big[4096] = {0};
    assert_int_equal(tw_uring_tap_send(tap, big, sizeof(big)), -TW_ETOOBIG);
    close(sock);
    tw_uring_tap_close(tap);
    io_uring_queue_exit(&ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uring_tapdev_frames_both_ways),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
