/* A TAP device through io_uring (tapdev.h). */
#define _GNU_SOURCE
#include "backends/uring/tapdev.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/error.h"

/* Kernel 6.7's opcode; liburing 2.3 predates it, so it is named here and
 * probed before use. */
#define TAP_OP_READ_MULTISHOT 49
/* One-shot reads kept in flight where there is no multishot read. */
#define TAP_READS_ONESHOT 8

enum { TAP_UD_READ = 1, TAP_UD_WRITE = 2 };

struct tw_uring_tap {
    tw_uring_tap_config cfg;
    struct io_uring *ring;
    int fd;
    bool multishot;
    bool armed_once;
    uint32_t reads_armed; /* reads in flight */
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    int mask;
    uint32_t added;
    uint8_t *rx_mem;
    uint8_t *tx_mem;
    uint32_t *tx_next; /* free list of write slots */
    uint32_t tx_free;
    uint32_t slots_used; /* writes queued or in flight */
    tw_uring_tap_stats st;
};

static uint64_t ud(const tw_uring_tap *t, uint32_t kind, uint32_t slot)
{
    return (uint64_t)t->cfg.tag << 56 | (uint64_t)kind << 32 | slot;
}

/* The TAP's fd, or a negative errno with the reason in err. */
static int tap_attach(const char *name, char *err, size_t err_len)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, err_len, "open /dev/net/tun (TAP devices): %s", strerror(e));
        return -e;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        snprintf(err, err_len, "TUNSETIFF %s: %s", name, strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

static bool has_read_multishot(struct io_uring *ring)
{
    struct io_uring_probe *p = io_uring_get_probe_ring(ring);
    bool ok = p && io_uring_opcode_supported(p, TAP_OP_READ_MULTISHOT);
    io_uring_free_probe(p);
    return ok;
}

/* An SQE of the caller's ring; a full SQ is submitted first (the only
 * submit the device makes on its own, counted). */
static struct io_uring_sqe *get_sqe(tw_uring_tap *t)
{
    struct io_uring_sqe *s = io_uring_get_sqe(t->ring);
    if (s == NULL) {
        t->st.sq_full++;
        io_uring_submit(t->ring);
        s = io_uring_get_sqe(t->ring);
        TW_ASSERT(s != NULL);
    }
    return s;
}

static void arm_read(tw_uring_tap *t)
{
    struct io_uring_sqe *s = get_sqe(t);
    io_uring_prep_rw(t->multishot ? TAP_OP_READ_MULTISHOT : IORING_OP_READ, s, t->fd, NULL,
                     t->multishot ? 0 : t->cfg.frame_max, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = t->cfg.bgid;
    io_uring_sqe_set_data64(s, ud(t, TAP_UD_READ, 0));
    t->reads_armed++;
}

int tw_uring_tap_open(tw_uring_tap **out, struct io_uring *ring, const tw_uring_tap_config *cfg,
                      char *err, size_t err_len)
{
    TW_ASSERT(cfg->tag != 0);
    tw_uring_tap *t = calloc(1, sizeof(*t));
    TW_ASSERT(t != NULL);
    t->cfg = *cfg;
    t->cfg.rx_bufs = cfg->rx_bufs ? cfg->rx_bufs : 256;
    t->cfg.frame_max = cfg->frame_max ? cfg->frame_max : 2048;
    t->cfg.tx_slots = cfg->tx_slots ? cfg->tx_slots : 256;
    TW_ASSERT((t->cfg.rx_bufs & (t->cfg.rx_bufs - 1)) == 0);
    TW_ASSERT(t->cfg.rx_bufs <= 32768);
    t->ring = ring;
    t->fd = tap_attach(cfg->name, err, err_len);
    if (t->fd < 0) {
        int rc = t->fd;
        free(t);
        return rc;
    }
    t->rx_mem = aligned_alloc(4096, (size_t)t->cfg.rx_bufs * t->cfg.frame_max);
    t->tx_mem = malloc((size_t)t->cfg.tx_slots * t->cfg.frame_max);
    t->tx_next = malloc(t->cfg.tx_slots * sizeof(uint32_t));
    TW_ASSERT(t->rx_mem && t->tx_mem && t->tx_next);
    for (uint32_t i = 0; i < t->cfg.tx_slots; i++) {
        t->tx_next[i] = i + 1 < t->cfg.tx_slots ? i + 1 : UINT32_MAX;
    }
    t->br_bytes = (size_t)t->cfg.rx_bufs * sizeof(struct io_uring_buf);
    void *m = mmap(NULL, t->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)m, .ring_entries = t->cfg.rx_bufs, .bgid = cfg->bgid};
    int rc = m == MAP_FAILED ? -ENOMEM : io_uring_register_buf_ring(ring, &reg, 0);
    if (rc < 0) {
        snprintf(err, err_len, "provided buffer ring (IORING_REGISTER_PBUF_RING): %s",
                 strerror(-rc));
        if (m != MAP_FAILED) {
            munmap(m, t->br_bytes);
        }
        close(t->fd);
        free(t->rx_mem);
        free(t->tx_mem);
        free(t->tx_next);
        free(t);
        return rc;
    }
    t->br = m;
    io_uring_buf_ring_init(t->br);
    t->mask = io_uring_buf_ring_mask(t->cfg.rx_bufs);
    for (uint32_t i = 0; i < t->cfg.rx_bufs; i++) {
        io_uring_buf_ring_add(t->br, t->rx_mem + (size_t)i * t->cfg.frame_max, t->cfg.frame_max,
                              (unsigned short)i, t->mask, (int)i);
    }
    io_uring_buf_ring_advance(t->br, (int)t->cfg.rx_bufs);
    t->multishot = has_read_multishot(ring);
    tw_uring_tap_flush(t);
    *out = t;
    return 0;
}

void tw_uring_tap_close(tw_uring_tap *t)
{
    io_uring_unregister_buf_ring(t->ring, t->cfg.bgid);
    munmap(t->br, t->br_bytes);
    close(t->fd);
    free(t->rx_mem);
    free(t->tx_mem);
    free(t->tx_next);
    free(t);
}

const tw_uring_tap_config *tw_uring_tap_config_get(const tw_uring_tap *t)
{
    return &t->cfg;
}
const tw_uring_tap_stats *tw_uring_tap_stats_get(const tw_uring_tap *t)
{
    return &t->st;
}
int tw_uring_tap_fd(const tw_uring_tap *t)
{
    return t->fd;
}
bool tw_uring_tap_is_write(uint64_t user_data)
{
    return ((uint32_t)(user_data >> 32) & 0xffffffu) == TAP_UD_WRITE;
}

static void on_read(tw_uring_tap *t, const struct io_uring_cqe *cqe, tw_uring_tap_frame_fn *fn,
                    void *ctx)
{
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        TW_ASSERT(t->reads_armed > 0);
        t->reads_armed--;
    }
    if (cqe->res < 0) {
        if (cqe->res == -ENOBUFS) {
            t->st.no_buffers++;
        } else if (cqe->res != -ECANCELED) {
            t->st.rx_errors++;
        }
        return;
    }
    TW_ASSERT(cqe->flags & IORING_CQE_F_BUFFER);
    uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    TW_ASSERT(bid < t->cfg.rx_bufs);
    uint8_t *frame = t->rx_mem + (size_t)bid * t->cfg.frame_max;
    t->st.rx_frames++;
    t->st.rx_bytes += (uint64_t)cqe->res;
    fn(ctx, frame, (size_t)cqe->res);
    io_uring_buf_ring_add(t->br, frame, t->cfg.frame_max, (unsigned short)bid, t->mask,
                          (int)t->added);
    t->added++;
}

void tw_uring_tap_on_cqe(tw_uring_tap *t, const struct io_uring_cqe *cqe, tw_uring_tap_frame_fn *fn,
                         void *ctx)
{
    TW_ASSERT(tw_uring_tap_owns(&t->cfg, cqe->user_data));
    uint32_t kind = (uint32_t)(cqe->user_data >> 32) & 0xffffffu;
    if (kind == TAP_UD_READ) {
        on_read(t, cqe, fn, ctx);
        return;
    }
    TW_ASSERT(kind == TAP_UD_WRITE);
    uint32_t slot = (uint32_t)cqe->user_data;
    TW_ASSERT(slot < t->cfg.tx_slots);
    if (cqe->res < 0) {
        t->st.tx_errors++;
    } else {
        t->st.tx_frames++;
        t->st.tx_bytes += (uint64_t)cqe->res;
    }
    t->tx_next[slot] = t->tx_free;
    t->tx_free = slot;
    TW_ASSERT(t->slots_used > 0);
    t->slots_used--;
}

uint32_t tw_uring_tap_slots_free(const tw_uring_tap *t)
{
    return t->cfg.tx_slots - t->slots_used;
}

int tw_uring_tap_send(tw_uring_tap *t, const uint8_t *frame, size_t len)
{
    if (len > t->cfg.frame_max) {
        return -TW_ETOOBIG;
    }
    if (t->tx_free == UINT32_MAX) {
        t->st.tx_full++;
        return -TW_EFULL;
    }
    uint32_t slot = t->tx_free;
    t->tx_free = t->tx_next[slot];
    uint8_t *buf = t->tx_mem + (size_t)slot * t->cfg.frame_max;
    memcpy(buf, frame, len);
    t->slots_used++;
    TW_ASSERT(t->slots_used <= t->cfg.tx_slots);
    struct io_uring_sqe *s = get_sqe(t);
    io_uring_prep_write(s, t->fd, buf, (unsigned)len, 0);
    io_uring_sqe_set_data64(s, ud(t, TAP_UD_WRITE, slot));
    return 0;
}

void tw_uring_tap_flush(tw_uring_tap *t)
{
    if (t->added) {
        io_uring_buf_ring_advance(t->br, (int)t->added);
        t->added = 0;
    }
    uint32_t want = t->multishot ? 1 : TAP_READS_ONESHOT;
    while (t->reads_armed < want) {
        t->st.rearms += t->armed_once;
        arm_read(t);
    }
    t->armed_once = true;
}
