/* The xdp backend: AF_XDP sockets on a veth, through libxdp's xsk API,
 * one socket per receive queue. veth has no zero-copy driver mode, so the
 * sockets bind in copy mode (XDP_COPY).
 *
 * Queues. A veth made with one queue gets one socket on queue 0 and the
 * program in SKB (generic) mode, as it always had. A veth made with N > 1
 * queues (`ip link add ... numtxqueues N numrxqueues N`, by the world
 * builder, N the cores of the link's largest twin host) gets one socket
 * per queue and the program in native (driver) mode: veth runs a native
 * program from the NAPI instance of the receive queue the peer's transmit
 * queue chose (the peer's flow hash), so frames spread over the queues;
 * its generic path ignores that choice and reports queue 0 for almost
 * every frame (measured on 6.18: every frame of 16 flows on queue 0 of
 * two). The program redirects to xsks_map[rx_queue_index], and a frame can
 * only enter a socket bound to the queue it arrived on.
 *
 * UMEM: one per socket, not shared. The sockets are read and written by
 * different threads (the core that owns each queue), and a UMEM of its
 * own gives each its fill and completion rings and its free list with no
 * lock between cores; sharing would save memory only if a buffer passed
 * from one socket to another without a copy, and the driver copies a
 * frame that belongs to another core into that core's steering ring
 * anyway. Each UMEM holds `frames` buffers of frame_max rounded up to a
 * power of two (XSK's chunk size); the first half feeds the fill ring,
 * the second half is a free list for transmission.
 *
 * The XDP program is our own (xdp_prog.bpf.c, built with clang -target bpf
 * and embedded): it redirects frames for the interface's MAC and
 * broadcasts to the socket of their queue and passes the rest to the
 * kernel. Queue 0's device loads and attaches it; the other queues' join
 * its map through the queue-0 device and must be closed before it. A build
 * without clang falls back to libxdp's default program (xsk_def_prog),
 * which redirects every frame of the queue.
 *
 * Kicks. In copy mode the kernel sends nothing until a sendto() on the
 * socket (the TX ring always needs a wake-up there), and it sends then, in
 * the caller's context, at most TX_BATCH_SIZE (32) descriptors per call,
 * answering EAGAIN while more wait. So tx only queues descriptors and
 * kicks once per KICK_FRAMES of them; the driver's flush at the end of its
 * turn kicks out the rest: one syscall per 32 frames instead of one per
 * frame, and one wake-up of the receiving process per batch. Receiving
 * needs no syscall in copy mode (the kernel fills the RX ring from its
 * receive path and never asks for a fill-ring wake-up), but the flag is
 * honoured should it ever be set. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <stdarg.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "backends/common/dev.h"

#define KICK_FRAMES 32 /* the kernel's copy-mode TX_BATCH_SIZE */

#ifdef TW_XDP_PROG
extern const unsigned char tw_xdp_prog_obj[];
extern const size_t tw_xdp_prog_obj_len;
#endif

struct tw_dev {
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fill;
    struct xsk_ring_cons comp;
    struct xsk_ring_prod tx;
    struct xsk_ring_cons rx;
    void *area;
    size_t area_len;
    uint32_t chunk;
    uint32_t frames;
    uint32_t ring;      /* entries of each of the four rings */
    uint32_t tx_queued; /* descriptors submitted since the last kick */
    uint64_t *tx_free;  /* UMEM addresses free for transmission */
    uint32_t tx_free_len;
    uint64_t rx_held[TW_DEV_BATCH]; /* handed out by the last rx, refilled at the next */
    uint32_t rx_held_len;
    struct xdp_program *prog; /* ours on queue 0's device; NULL elsewhere */
    enum xdp_attach_mode mode;
    int map_fd;               /* the program's xsks_map (queue 0's), or -1 */
    int ifindex;
    uint32_t queue;
};

static uint32_t pow2_at_least(uint32_t x)
{
    uint32_t p = 2048;
    while (p < x) {
        p <<= 1;
    }
    return p;
}

static void refill(tw_dev *d, const uint64_t *addrs, uint32_t n)
{
    uint32_t idx;
    if (n == 0 || xsk_ring_prod__reserve(&d->fill, n, &idx) != n) {
        return; /* cannot happen: the fill ring holds every rx buffer */
    }
    for (uint32_t i = 0; i < n; i++) {
        *xsk_ring_prod__fill_addr(&d->fill, idx + i) = addrs[i];
    }
    xsk_ring_prod__submit(&d->fill, n);
}

static void xdp_close(tw_dev *d)
{
    if (d->xsk) {
        xsk_socket__delete(d->xsk);
    }
    if (d->prog) {
        xdp_program__detach(d->prog, d->ifindex, d->mode, 0);
        xdp_program__close(d->prog);
    }
    if (d->umem) {
        xsk_umem__delete(d->umem);
    }
    if (d->area) {
        munmap(d->area, d->area_len);
    }
    free(d->tx_free);
    free(d);
}

/* libxdp and libbpf narrate their fallbacks (no bpffs: no dispatcher) on
 * stderr; what matters reaches us as an error code, named by the caller. */
static int quiet_xdp(enum libxdp_print_level level, const char *fmt, va_list ap) { return 0; }
static int quiet_bpf(enum libbpf_print_level level, const char *fmt, va_list ap) { return 0; }

#ifdef TW_XDP_PROG
/* Loads and attaches our program (SKB mode) and writes the interface's MAC
 * into it; *map_fd is its XSK map. 0 or -errno. */
static int load_prog(tw_dev *d, const char *ifname, int *map_fd)
{
    d->ifindex = (int)if_nametoindex(ifname);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    int rc = d->ifindex && s >= 0 && ioctl(s, SIOCGIFHWADDR, &ifr) == 0 ? 0 : -ENODEV;
    if (s >= 0) {
        close(s);
    }
    if (rc < 0) {
        return rc;
    }
    struct bpf_object *obj = bpf_object__open_mem(tw_xdp_prog_obj, tw_xdp_prog_obj_len, NULL);
    if (obj == NULL) {
        return -errno ? -errno : -EINVAL;
    }
    d->prog = xdp_program__from_bpf_obj(obj, "xdp");
    if (libxdp_get_error(d->prog)) {
        d->prog = NULL;
        bpf_object__close(obj);
        return -EINVAL;
    }
    rc = xdp_program__attach(d->prog, d->ifindex, d->mode, 0);
    if (rc < 0) {
        xdp_program__close(d->prog);
        d->prog = NULL;
        tw_dev_set_why("attaching the XDP program to %s in %s mode: %s", ifname,
                       d->mode == XDP_MODE_NATIVE ? "native (driver)" : "SKB", strerror(-rc));
        return rc;
    }
    obj = xdp_program__bpf_obj(d->prog);
    struct bpf_map *xsks = bpf_object__find_map_by_name(obj, "xsks_map");
    struct bpf_map *macs = bpf_object__find_map_by_name(obj, "tw_mac");
    if (xsks == NULL || macs == NULL) {
        return -EINVAL;
    }
    uint64_t mac = 0;
    for (int i = 0; i < 6; i++) {
        mac |= (uint64_t)(uint8_t)ifr.ifr_hwaddr.sa_data[i] << (8 * i);
    }
    uint32_t zero = 0;
    if (bpf_map_update_elem(bpf_map__fd(macs), &zero, &mac, 0) < 0) {
        return -errno;
    }
    *map_fd = bpf_map__fd(xsks);
    return 0;
}
#endif

/* The UMEM and its rings, sized from the frames hint; 0 or -errno. */
static int make_umem(tw_dev *d, uint32_t frame_max, uint32_t frames)
{
    d->chunk = pow2_at_least(frame_max);
    if (d->chunk > 4096) {
        tw_dev_set_why("frames of %u bytes: XSK chunks are at most a page", frame_max);
        return -EMSGSIZE;
    }
    uint32_t ring = 1;
    while (ring < frames / 2 && ring < 4096) {
        ring <<= 1;
    }
    if (ring < 64) {
        ring = 64;
    }
    d->ring = ring;
    d->frames = 2 * ring;
    d->area_len = (size_t)d->frames * d->chunk;
    d->area = mmap(NULL, d->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (d->area == MAP_FAILED) {
        d->area = NULL;
        return -ENOMEM;
    }
    struct xsk_umem_config uc = {.fill_size = ring, .comp_size = ring, .frame_size = d->chunk,
                                 .frame_headroom = 0, .flags = 0};
    int rc = xsk_umem__create(&d->umem, d->area, d->area_len, &d->fill, &d->comp, &uc);
    return rc > 0 ? -rc : rc;
}

static int xdp_open_queue(tw_dev **out, const char *ifname, uint32_t queue, uint32_t queues,
                          tw_dev *first, uint32_t frame_max, uint32_t frames)
{
    libxdp_set_print(quiet_xdp);
    libbpf_set_print(quiet_bpf);
    tw_dev_set_why("%s", "");
    if (queues == 0 || queues > TW_DEV_QUEUES_MAX || queue >= queues || (queue > 0) != (first != NULL)) {
        return -EINVAL;
    }
    tw_dev *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return -ENOMEM;
    }
    d->queue = queue;
    d->map_fd = first ? first->map_fd : -1;
    /* One queue: generic mode, as ever; several: native, see above. */
    d->mode = queues > 1 ? XDP_MODE_NATIVE : XDP_MODE_SKB;
    int rc = make_umem(d, frame_max, frames);
    if (rc < 0) {
        xdp_close(d);
        return rc;
    }
    uint32_t ring = d->ring;
    struct xsk_socket_config sc = {.rx_size = ring, .tx_size = ring,
                                   .xdp_flags = queues > 1 ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE,
                                   .bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP};
#ifdef TW_XDP_PROG
    if (first == NULL && (rc = load_prog(d, ifname, &d->map_fd)) < 0) {
        xdp_close(d);
        return rc;
    }
    sc.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
#endif
    rc = xsk_socket__create(&d->xsk, ifname, queue, d->umem, &d->rx, &d->tx, &sc);
    if (rc == 0 && d->map_fd >= 0) {
        rc = xsk_socket__update_xskmap(d->xsk, d->map_fd);
    }
    if (rc) {
        rc = rc < 0 ? rc : -rc;
        if (tw_dev_why()[0] == '\0') {
            tw_dev_set_why("an AF_XDP socket on queue %u of %u of %s: %s", queue, queues, ifname,
                           strerror(-rc));
        }
        xdp_close(d);
        return rc;
    }
    d->tx_free = malloc(ring * sizeof(uint64_t));
    if (d->tx_free == NULL) {
        xdp_close(d);
        return -ENOMEM;
    }
    /* The first half to the fill ring (through the free list, which the
     * second half then fills for good). */
    for (uint32_t i = 0; i < ring; i++) {
        d->tx_free[i] = (uint64_t)i * d->chunk;
    }
    refill(d, d->tx_free, ring);
    for (uint32_t i = 0; i < ring; i++) {
        d->tx_free[i] = (uint64_t)(ring + i) * d->chunk;
    }
    d->tx_free_len = ring;
    *out = d;
    return 0;
}

static int xdp_open(tw_dev **out, const char *ifname, uint32_t frame_max, uint32_t frames)
{
    return xdp_open_queue(out, ifname, 0, 1, NULL, frame_max, frames);
}

static int xdp_rx(tw_dev *d, tw_dev_frame *frames, uint32_t max)
{
    refill(d, d->rx_held, d->rx_held_len);
    d->rx_held_len = 0;
    if (max > TW_DEV_BATCH) {
        max = TW_DEV_BATCH;
    }
    uint32_t idx;
    uint32_t n = xsk_ring_cons__peek(&d->rx, max, &idx);
    for (uint32_t i = 0; i < n; i++) {
        const struct xdp_desc *desc = xsk_ring_cons__rx_desc(&d->rx, idx + i);
        frames[i].data = xsk_umem__get_data(d->area, desc->addr);
        frames[i].len = desc->len;
        d->rx_held[d->rx_held_len++] = xsk_umem__extract_addr(desc->addr);
    }
    xsk_ring_cons__release(&d->rx, n);
    if (n == 0 && xsk_ring_prod__needs_wakeup(&d->fill)) {
        recvfrom(xsk_socket__fd(d->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
    }
    return (int)n;
}

static void reap_completions(tw_dev *d)
{
    uint32_t idx;
    uint32_t n = xsk_ring_cons__peek(&d->comp, d->frames, &idx);
    for (uint32_t i = 0; i < n; i++) {
        d->tx_free[d->tx_free_len++] = *xsk_ring_cons__comp_addr(&d->comp, idx + i);
    }
    xsk_ring_cons__release(&d->comp, n);
}

/* Makes the kernel send what the TX ring holds: one sendto per
 * KICK_FRAMES descriptors, until the ring is empty or the kernel stops
 * taking (a full device queue: the rest waits for the next kick). */
static void kick(tw_dev *d)
{
    for (uint32_t tries = 0; tries <= d->ring / KICK_FRAMES + 1; tries++) {
        if (xsk_prod_nb_free(&d->tx, d->ring) == d->ring || !xsk_ring_prod__needs_wakeup(&d->tx)) {
            break;
        }
        if (sendto(xsk_socket__fd(d->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN) {
            break; /* EBUSY, ENOBUFS, ENETDOWN: not now */
        }
    }
    /* What the kernel did not take waits for the next flush. */
    d->tx_queued = d->ring - xsk_prod_nb_free(&d->tx, d->ring);
}

static int xdp_tx(tw_dev *d, const tw_dev_frame *frames, uint32_t n)
{
    reap_completions(d);
    if (n > d->tx_free_len && d->tx_queued > 0) {
        kick(d); /* our own queue holds the buffers: send it, take them back */
        reap_completions(d);
    }
    if (n > d->tx_free_len) {
        n = d->tx_free_len;
    }
    uint32_t idx;
    n = xsk_ring_prod__reserve(&d->tx, n, &idx);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t addr = d->tx_free[--d->tx_free_len];
        uint32_t len = frames[i].len > d->chunk ? d->chunk : frames[i].len;
        memcpy(xsk_umem__get_data(d->area, addr), frames[i].data, len);
        struct xdp_desc *desc = xsk_ring_prod__tx_desc(&d->tx, idx + i);
        desc->addr = addr;
        desc->len = len;
    }
    xsk_ring_prod__submit(&d->tx, n);
    d->tx_queued += n;
    if (d->tx_queued >= KICK_FRAMES) {
        kick(d);
    }
    return (int)n;
}

/* Descriptors the kernel does not take now stay in the ring for the next
 * kick: none is lost. */
static int xdp_flush(tw_dev *d)
{
    if (d->tx_queued > 0) {
        kick(d);
    }
    return 0;
}

static int xdp_fd(const tw_dev *d) { return xsk_socket__fd(d->xsk); }

const tw_dev_ops tw_dev_xdp_ops = {"xdp",     xdp_open,  xdp_rx,        xdp_tx,
                                   xdp_fd,    xdp_close, xdp_flush,     xdp_open_queue};
