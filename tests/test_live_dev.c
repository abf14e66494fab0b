/* The live frame devices (backends/common/dev.h) on a real veth pair in a
 * namespace of their own: a frame sent through one device arrives whole
 * through the other, both ways. Needs root (namespaces, AF_PACKET, TAP,
 * AF_XDP, io_uring): without it the whole program exits 77 (skipped); a
 * backend this kernel refuses skips its own test. The uring device is
 * tested as the live world uses it: its TAP bridged to a veth whose peer
 * the poll device reads and writes. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "backends/common/dev.h"
#include "backends/live/netns.h"

static char ns[TW_NETNS_NAME_MAX];

/* A test frame: broadcast (so that every device's filter takes it), an
 * experimental EtherType (IEEE 802 local 0x88b5: no kernel stack answers
 * it), and a payload that numbers its bytes. */
static uint32_t make_frame(uint8_t *f, uint8_t tag)
{
    memset(f, 0xff, 6);
    const uint8_t src[6] = {0x02, 0x74, 0x77, 0xee, 0x00, tag};
    memcpy(f + 6, src, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    for (int i = 14; i < 128; i++) {
        f[i] = (uint8_t)(i ^ tag);
    }
    return 128;
}

/* Waits (at most a second) for the frame tagged `tag` on d. */
static bool receive(const tw_dev_ops *ops, tw_dev *d, const uint8_t *want, uint32_t len)
{
    for (int tries = 0; tries < 100; tries++) {
        struct pollfd p = {.fd = ops->fd(d), .events = POLLIN};
        poll(&p, 1, 10);
        tw_dev_frame fr[TW_DEV_BATCH];
        int n = ops->rx(d, fr, TW_DEV_BATCH);
        for (int i = 0; i < n; i++) {
            if (fr[i].len >= len && memcmp(fr[i].data, want, len) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* Opens ops on ifname inside the test namespace; NULL (and the errno in
 * *err) when the kernel refuses. */
static tw_dev *open_in_ns(const tw_dev_ops *ops, const char *ifname, int *err)
{
    int saved;
    assert_int_equal(tw_netns_enter(ns, &saved), 0);
    tw_dev *d = NULL;
    *err = ops->open(&d, ifname, 1518, 256);
    tw_netns_leave(saved);
    return *err < 0 ? NULL : d;
}

static void exchange(const tw_dev_ops *ao, tw_dev *a, const tw_dev_ops *bo, tw_dev *b)
{
    uint8_t f[128];
    for (uint8_t tag = 1; tag <= 2; tag++) {
        uint32_t len = make_frame(f, tag);
        tw_dev_frame out = {f, len};
        const tw_dev_ops *so = tag == 1 ? ao : bo, *ro = tag == 1 ? bo : ao;
        tw_dev *s = tag == 1 ? a : b, *r = tag == 1 ? b : a;
        assert_int_equal(so->tx(s, &out, 1), 1);
        if (so->flush) {
            assert_int_equal(so->flush(s), 0);
        }
        assert_true(receive(ro, r, f, len));
    }
}

#define BURST 600 /* frames: several times a device's TX ring (128 here) */

/* A burst of `count` numbered frames from s, TW_DEV_BATCH per tx call and
 * one flush, all arrive at r: a device that queues and kicks per batch
 * sends everything it took. The receiver reads only after the burst, so
 * count stays within what it can hold (an AF_XDP RX ring: 128 here). */
static void burst(const tw_dev_ops *so, tw_dev *s, const tw_dev_ops *ro, tw_dev *r, uint32_t count)
{
    static uint8_t f[BURST][128];
    static bool seen[BURST];
    memset(seen, 0, sizeof seen);
    assert_true(count <= BURST);
    for (uint32_t sent = 0; sent < count;) {
        tw_dev_frame out[TW_DEV_BATCH];
        uint32_t n = count - sent < TW_DEV_BATCH ? count - sent : TW_DEV_BATCH;
        for (uint32_t i = 0; i < n; i++) {
            make_frame(f[sent + i], 3);
            memcpy(f[sent + i] + 14, &(uint32_t){sent + i}, 4);
            out[i] = (tw_dev_frame){f[sent + i], 128};
        }
        assert_int_equal(so->tx(s, out, n), (int)n);
        sent += n;
    }
    if (so->flush) {
        assert_int_equal(so->flush(s), 0);
    }
    uint32_t got = 0;
    for (int tries = 0; tries < 200 && got < count; tries++) {
        struct pollfd p = {.fd = ro->fd(r), .events = POLLIN};
        poll(&p, 1, 10);
        tw_dev_frame fr[TW_DEV_BATCH];
        int n = ro->rx(r, fr, TW_DEV_BATCH);
        for (int i = 0; i < n; i++) {
            uint32_t seq;
            memcpy(&seq, fr[i].data + 14, 4);
            if (fr[i].len == 128 && fr[i].data[13] == 0xb5 && seq < count && !seen[seq]) {
                assert_memory_equal(fr[i].data + 18, f[seq] + 18, 128 - 18);
                seen[seq] = true;
                got++;
            }
        }
    }
    assert_int_equal(got, count);
}

static void test_live_dev_poll_veth_both_ways(void **state)
{
    int err;
    tw_dev *a = open_in_ns(&tw_dev_poll_ops, "va", &err);
    tw_dev *b = open_in_ns(&tw_dev_poll_ops, "vb", &err);
    assert_non_null(a);
    assert_non_null(b);
    exchange(&tw_dev_poll_ops, a, &tw_dev_poll_ops, b);
    burst(&tw_dev_poll_ops, a, &tw_dev_poll_ops, b, BURST);
    tw_dev_poll_ops.close(a);
    tw_dev_poll_ops.close(b);
}

static void test_live_dev_xdp_veth_both_ways(void **state)
{
    int err;
    tw_dev *x = open_in_ns(&tw_dev_xdp_ops, "vb", &err);
    if (x == NULL) {
        fprintf(stderr, "AF_XDP unavailable: %s\n", strerror(-err));
        skip();
    }
    tw_dev *p = open_in_ns(&tw_dev_poll_ops, "va", &err);
    assert_non_null(p);
    exchange(&tw_dev_poll_ops, p, &tw_dev_xdp_ops, x);
    burst(&tw_dev_xdp_ops, x, &tw_dev_poll_ops, p, BURST);
    burst(&tw_dev_poll_ops, p, &tw_dev_xdp_ops, x, 100);
    tw_dev_xdp_ops.close(x);
    tw_dev_poll_ops.close(p);
}

/* A veth pair qa/qb with two queues each in the test namespace, qa
 * addressed 10.9.0.1/24 with qb's MAC as 10.9.0.2's neighbour, so that
 * the kernel's UDP from qa reaches qb's queues. */
static void make_two_queue_pair(void)
{
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "link", "add", "qa", "numtxqueues", "2",
                                 "numrxqueues", "2", "type", "veth", "peer", "name", "qb",
                                 "numtxqueues", "2", "numrxqueues", "2", NULL),
                     0);
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "link", "set", "qb", "address",
                                 "02:74:77:ee:00:0c", "up", NULL),
                     0);
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "link", "set", "qa", "up", NULL), 0);
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "addr", "add", "10.9.0.1/24", "dev", "qa",
                                 NULL),
                     0);
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "neigh", "add", "10.9.0.2", "lladdr",
                                 "02:74:77:ee:00:0c", "dev", "qa", NULL),
                     0);
    int saved;
    assert_int_equal(tw_netns_enter(ns, &saved), 0);
    tw_netns_offloads_off("qa");
    tw_netns_offloads_off("qb");
    tw_netns_leave(saved);
}

#define QFLOWS 16
#define QPER_FLOW 4

/* One AF_XDP device per queue of a two-queue veth: the kernel's UDP from
 * 16 source ports spreads over both queues (veth delivers a frame on the
 * queue its sender's flow hash chose), each datagram arrives once, on
 * one device, and each flow stays on one queue. A frame sent through
 * queue 1's device reaches the far end. */
static void test_live_dev_xdp_socket_per_queue(void **state)
{
    make_two_queue_pair();
    int saved;
    assert_int_equal(tw_netns_enter(ns, &saved), 0);
    tw_dev *q[2] = {NULL, NULL};
    int err = tw_dev_xdp_ops.open_queue(&q[0], "qb", 0, 2, NULL, 1518, 256);
    if (err == 0) {
        err = tw_dev_xdp_ops.open_queue(&q[1], "qb", 1, 2, q[0], 1518, 256);
    }
    int udp[QFLOWS];
    for (int i = 0; i < QFLOWS && err == 0; i++) {
        udp[i] = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(41000 + i)),
                                .sin_addr.s_addr = htonl(0x0a090001)};
        assert_int_equal(bind(udp[i], (struct sockaddr *)&a, sizeof a), 0);
    }
    tw_netns_leave(saved);
    if (err < 0) {
        fprintf(stderr, "AF_XDP per queue unavailable: %s\n", tw_dev_why());
        if (q[0]) {
            tw_dev_xdp_ops.close(q[0]);
        }
        tw_netns_ip(NULL, 0, "-n", ns, "link", "del", "qa", NULL);
        skip();
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9),
                             .sin_addr.s_addr = htonl(0x0a090002)};
    for (int k = 0; k < QPER_FLOW; k++) {
        for (int i = 0; i < QFLOWS; i++) {
            assert_int_equal(sendto(udp[i], "q", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
        }
    }
    uint32_t per_queue[2] = {0, 0};
    uint8_t queue_of[QFLOWS];
    uint32_t count_of[QFLOWS];
    memset(queue_of, 0xff, sizeof queue_of);
    memset(count_of, 0, sizeof count_of);
    for (int tries = 0; tries < 100 && per_queue[0] + per_queue[1] < QFLOWS * QPER_FLOW; tries++) {
        usleep(10 * 1000);
        for (uint8_t j = 0; j < 2; j++) {
            tw_dev_frame fr[TW_DEV_BATCH];
            int n = tw_dev_xdp_ops.rx(q[j], fr, TW_DEV_BATCH);
            for (int f = 0; f < n; f++) {
                const uint8_t *d = fr[f].data;
                if (fr[f].len < 42 || d[12] != 0x08 || d[23] != 17) {
                    continue; /* not IPv4 UDP */
                }
                uint32_t flow = ((uint32_t)d[34] << 8 | d[35]) - 41000u;
                assert_true(flow < QFLOWS);
                assert_true(queue_of[flow] == 0xff || queue_of[flow] == j);
                queue_of[flow] = j;
                count_of[flow]++;
                per_queue[j]++;
            }
        }
    }
    for (int i = 0; i < QFLOWS; i++) {
        assert_int_equal(count_of[i], QPER_FLOW);
        close(udp[i]);
    }
    assert_true(per_queue[0] > 0);
    assert_true(per_queue[1] > 0);
    /* Out through queue 1's socket. */
    tw_dev *far = open_in_ns(&tw_dev_poll_ops, "qa", &err);
    assert_non_null(far);
    uint8_t f[128];
    uint32_t len = make_frame(f, 9);
    tw_dev_frame out = {f, len};
    assert_int_equal(tw_dev_xdp_ops.tx(q[1], &out, 1), 1);
    assert_int_equal(tw_dev_xdp_ops.flush(q[1]), 0);
    assert_true(receive(&tw_dev_poll_ops, far, f, len));
    tw_dev_poll_ops.close(far);
    tw_dev_xdp_ops.close(q[1]);
    tw_dev_xdp_ops.close(q[0]);
    tw_netns_ip(NULL, 0, "-n", ns, "link", "del", "qa", NULL);
}

/* A queue the interface does not have cannot be bound: the open fails
 * and says which queue of which interface (the world builder's exit 77). */
static void test_live_dev_xdp_queue_beyond_the_interface_is_refused(void **state)
{
    make_two_queue_pair();
    int saved;
    assert_int_equal(tw_netns_enter(ns, &saved), 0);
    tw_dev *q0 = NULL, *q2 = NULL;
    int err = tw_dev_xdp_ops.open_queue(&q0, "qb", 0, 3, NULL, 1518, 256);
    int err2 = err == 0 ? tw_dev_xdp_ops.open_queue(&q2, "qb", 2, 3, q0, 1518, 256) : 0;
    tw_netns_leave(saved);
    if (err < 0) {
        fprintf(stderr, "AF_XDP per queue unavailable: %s\n", tw_dev_why());
        tw_netns_ip(NULL, 0, "-n", ns, "link", "del", "qa", NULL);
        skip();
    }
    assert_true(err2 < 0);
    assert_null(q2);
    assert_non_null(strstr(tw_dev_why(), "queue 2 of 3 of qb"));
    tw_dev_xdp_ops.close(q0);
    tw_netns_ip(NULL, 0, "-n", ns, "link", "del", "qa", NULL);
}

static void test_live_dev_tap_both_ways(void **state)
{
    int err;
    tw_dev *t = open_in_ns(&tw_dev_tap_ops, "tt", &err);
    if (t == NULL) {
        fprintf(stderr, "TAP unavailable: %s\n", strerror(-err));
        skip();
    }
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "link", "set", "tt", "up", NULL), 0);
    int saved;
    assert_int_equal(tw_netns_enter(ns, &saved), 0);
    tw_netns_offloads_off("tt");
    tw_netns_leave(saved);
    tw_dev *p = open_in_ns(&tw_dev_poll_ops, "tt", &err);
    assert_non_null(p);
    exchange(&tw_dev_tap_ops, t, &tw_dev_poll_ops, p);
    tw_dev_poll_ops.close(p);
    tw_dev_tap_ops.close(t);
}

#ifdef TW_HAVE_URING
/* A uring device whose TAP `tap` is bridged (bridge `br`) to the veth `ub`
 * of a pair ua/ub made for the test, as the world builder bridges it; the
 * poll device on `ua` is the far end. NULL when the kernel refuses. */
static tw_dev *open_uring_bridged(const char *tap, const char *br, uint32_t frames, tw_dev **far)
{
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "link", "add", "ua", "type", "veth", "peer",
                                 "name", "ub", NULL),
                     0);
    int saved;
    assert_int_equal(tw_netns_enter(ns, &saved), 0);
    tw_dev *d = NULL;
    int err = tw_dev_uring_ops.open(&d, tap, 1518, frames);
    tw_netns_leave(saved);
    if (err < 0) {
        fprintf(stderr, "io_uring TAP unavailable: %s\n", tw_dev_why());
        return NULL;
    }
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "link", "add", br, "type", "bridge",
                                 "forward_delay", "0", "stp_state", "0", NULL),
                     0);
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "link", "set", tap, "master", br, "up", NULL),
                     0);
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "link", "set", "ub", "master", br, "up", NULL),
                     0);
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "link", "set", "ua", "up", NULL), 0);
    assert_int_equal(tw_netns_ip(NULL, 0, "-n", ns, "link", "set", br, "up", NULL), 0);
    assert_int_equal(tw_netns_enter(ns, &saved), 0);
    tw_netns_offloads_off(tap);
    tw_netns_offloads_off("ua");
    tw_netns_offloads_off("ub");
    tw_netns_leave(saved);
    *far = open_in_ns(&tw_dev_poll_ops, "ua", &err);
    assert_non_null(*far);
    return d;
}

static void close_uring_bridged(tw_dev *d, tw_dev *far, const char *br)
{
    tw_dev_poll_ops.close(far);
    tw_dev_uring_ops.close(d);
    tw_netns_ip(NULL, 0, "-n", ns, "link", "del", "ua", NULL);
    tw_netns_ip(NULL, 0, "-n", ns, "link", "del", br, NULL);
}

/* Takes test frames (EtherType 0x88b5) from d until `want` of them have
 * come or a second passes; their tags (the source MAC's last byte) go to
 * tags in order of arrival. How many came. */
static uint32_t receive_tags(const tw_dev_ops *ops, tw_dev *d, uint8_t *tags, uint32_t want)
{
    uint32_t got = 0;
    for (int tries = 0; tries < 100 && got < want; tries++) {
        struct pollfd p = {.fd = ops->fd(d), .events = POLLIN};
        poll(&p, 1, 10);
        tw_dev_frame fr[TW_DEV_BATCH];
        int n = ops->rx(d, fr, TW_DEV_BATCH);
        for (int i = 0; i < n && got < want; i++) {
            if (fr[i].len >= 14 && fr[i].data[12] == 0x88 && fr[i].data[13] == 0xb5) {
                tags[got++] = fr[i].data[11];
            }
        }
    }
    return got;
}

/* Sends frames tagged first, first + 1, ... in batches of the device's
 * size. */
static void send_tags(const tw_dev_ops *ops, tw_dev *d, uint8_t first, uint32_t count)
{
    static uint8_t bufs[TW_DEV_BATCH][128];
    for (uint32_t done = 0; done < count;) {
        tw_dev_frame out[TW_DEV_BATCH];
        uint32_t n = count - done < TW_DEV_BATCH ? count - done : TW_DEV_BATCH;
        for (uint32_t i = 0; i < n; i++) {
            out[i] = (tw_dev_frame){bufs[i], make_frame(bufs[i], (uint8_t)(first + done + i))};
        }
        assert_int_equal(ops->tx(d, out, n), (int)n);
        done += n;
    }
    if (ops->flush) {
        assert_int_equal(ops->flush(d), 0);
    }
}

static void expect_tags(const uint8_t *tags, uint32_t got, uint8_t first, uint32_t count)
{
    assert_int_equal(got, count);
    for (uint32_t i = 0; i < count; i++) {
        assert_int_equal(tags[i], (uint8_t)(first + i));
    }
}

static void test_live_dev_uring_bridged_veth_both_ways(void **state)
{
    tw_dev *far;
    tw_dev *u = open_uring_bridged("ut", "ubr", 256, &far);
    if (u == NULL) {
        skip();
    }
    exchange(&tw_dev_poll_ops, far, &tw_dev_uring_ops, u);
    close_uring_bridged(u, far, "ubr");
}

/* More frames than one rx or tx call takes, both ways: all of them, in
 * the order they were sent (the ring's batches keep the TAP's order). */
static void test_live_dev_uring_burst_arrives_in_order(void **state)
{
    tw_dev *far;
    tw_dev *u = open_uring_bridged("ut", "ubr", 256, &far);
    if (u == NULL) {
        skip();
    }
    uint8_t tags[200];
    tw_dev_frame none[TW_DEV_BATCH];
    tw_dev_uring_ops.rx(u, none, TW_DEV_BATCH); /* arms the read */
    send_tags(&tw_dev_poll_ops, far, 0x10, 100);
    expect_tags(tags, receive_tags(&tw_dev_uring_ops, u, tags, 100), 0x10, 100);
    send_tags(&tw_dev_uring_ops, u, 0x80, 100);
    expect_tags(tags, receive_tags(&tw_dev_poll_ops, far, tags, 100), 0x80, 100);
    close_uring_bridged(u, far, "ubr");
}

/* Batched submission: tx only queues the writes, the driver's flush (once
 * per loop turn) submits them in one go. Nothing leaves before the flush;
 * after it every frame arrives, in order, and the flush reports no
 * refused write. More frames than the ring's SQ holds (128) are submitted
 * by the device itself when the SQ fills, and still all arrive. */
static void test_live_dev_uring_tx_waits_for_flush(void **state)
{
    tw_dev *far;
    tw_dev *u = open_uring_bridged("ut", "ubr", 256, &far);
    if (u == NULL) {
        skip();
    }
    static uint8_t bufs[20][128];
    tw_dev_frame out[20];
    for (uint32_t i = 0; i < 20; i++) {
        out[i] = (tw_dev_frame){bufs[i], make_frame(bufs[i], (uint8_t)(0x40 + i))};
    }
    assert_int_equal(tw_dev_uring_ops.tx(u, out, 20), 20);
    uint8_t tags[200];
    assert_int_equal(receive_tags(&tw_dev_poll_ops, far, tags, 1), 0);
    assert_int_equal(tw_dev_uring_ops.flush(u), 0);
    expect_tags(tags, receive_tags(&tw_dev_poll_ops, far, tags, 20), 0x40, 20);
    /* 200 frames in 32-frame calls and one flush: beyond the SQ. */
    tw_dev_frame none[TW_DEV_BATCH];
    tw_dev_uring_ops.rx(u, none, TW_DEV_BATCH);
    send_tags(&tw_dev_uring_ops, u, 0x10, 200);
    expect_tags(tags, receive_tags(&tw_dev_poll_ops, far, tags, 200), 0x10, 200);
    close_uring_bridged(u, far, "ubr");
}

/* The interface's promise: frames rx returned stay intact until the next
 * rx, though tx runs in between and more frames arrive than the device has
 * free buffers. With 32 buffers, 8 held by the caller: the next 30 frames
 * fill the other 24 and wait in the TAP's queue for the rest, and every
 * one of them arrives, in order, once rx runs again. */
static void test_live_dev_uring_frames_valid_until_next_rx(void **state)
{
    tw_dev *far;
    tw_dev *u = open_uring_bridged("ut", "ubr", TW_DEV_BATCH, &far);
    if (u == NULL) {
        skip();
    }
    tw_dev_frame fr[TW_DEV_BATCH];
    tw_dev_uring_ops.rx(u, fr, TW_DEV_BATCH); /* arms the read */
    send_tags(&tw_dev_poll_ops, far, 0x20, 8);
    usleep(100 * 1000);
    int n = tw_dev_uring_ops.rx(u, fr, TW_DEV_BATCH);
    uint8_t held[8][128];
    uint8_t *where[8];
    uint32_t ours = 0;
    for (int i = 0; i < n; i++) {
        if (fr[i].len == 128 && fr[i].data[12] == 0x88 && ours < 8) {
            where[ours] = fr[i].data;
            memcpy(held[ours++], fr[i].data, 128);
        }
    }
    assert_int_equal(ours, 8);
    send_tags(&tw_dev_uring_ops, u, 0x60, 8);
    send_tags(&tw_dev_poll_ops, far, 0x30, 30);
    usleep(100 * 1000);
    for (uint32_t i = 0; i < ours; i++) {
        assert_int_equal(held[i][11], 0x20 + i);
        assert_memory_equal(where[i], held[i], 128);
    }
    uint8_t tags[30];
    expect_tags(tags, receive_tags(&tw_dev_uring_ops, u, tags, 30), 0x30, 30);
    expect_tags(tags, receive_tags(&tw_dev_poll_ops, far, tags, 8), 0x60, 8);
    close_uring_bridged(u, far, "ubr");
}
#endif /* TW_HAVE_URING: built without liburing, there is no uring device */

static int setup(void **state)
{
    char run[16];
    tw_netns_run_id(run, sizeof run);
    snprintf(ns, sizeof ns, "%s%s-devtest", TW_NETNS_PREFIX, run);
    if (tw_netns_ip(NULL, 0, "netns", "add", ns, NULL) < 0 ||
        tw_netns_ip(NULL, 0, "-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb",
                    NULL) < 0 ||
        tw_netns_ip(NULL, 0, "-n", ns, "link", "set", "va", "up", NULL) < 0 ||
        tw_netns_ip(NULL, 0, "-n", ns, "link", "set", "vb", "address", "02:74:77:ee:00:0b", "up",
                    NULL) < 0) {
        return -1;
    }
    int saved;
    if (tw_netns_enter(ns, &saved) < 0) {
        return -1;
    }
    tw_netns_sysctl("net/ipv6/conf/all/disable_ipv6", "1");
    tw_netns_sysctl("net/ipv6/conf/default/disable_ipv6", "1");
    tw_netns_offloads_off("va");
    tw_netns_offloads_off("vb");
    tw_netns_leave(saved);
    return 0;
}

static int teardown(void **state)
{
    tw_netns_ip(NULL, 0, "-n", ns, "link", "del", "va", NULL);
    tw_netns_ip(NULL, 0, "netns", "del", ns, NULL);
    return 0;
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_live_dev: needs root (namespaces, raw sockets): skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_dev_poll_veth_both_ways),
        cmocka_unit_test(test_live_dev_xdp_veth_both_ways),
        cmocka_unit_test(test_live_dev_xdp_socket_per_queue),
        cmocka_unit_test(test_live_dev_xdp_queue_beyond_the_interface_is_refused),
        cmocka_unit_test(test_live_dev_tap_both_ways),
#ifdef TW_HAVE_URING
        cmocka_unit_test(test_live_dev_uring_bridged_veth_both_ways),
        cmocka_unit_test(test_live_dev_uring_burst_arrives_in_order),
        cmocka_unit_test(test_live_dev_uring_frames_valid_until_next_rx),
        cmocka_unit_test(test_live_dev_uring_tx_waits_for_flush),
#endif
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
