/* The uring frame device (backends/common/dev.h): a TAP device, bridged to
 * the host's veth by the world builder exactly as the tap backend's, read
 * and written through an io_uring of the device's own by tapdev.h, the one
 * TAP-over-ring implementation.
 *
 * IMPLEMENTATION NOTES
 *
 * - One ring per device, set up without SINGLE_ISSUER or DEFER_TASKRUN:
 *   the live driver calls rx from the host's core 0 and tx from whichever
 *   core transmits, each under the port's lock, so several threads submit
 *   to the ring over its life (and the world builder opens it on yet
 *   another). Read completions run as task work of the read's submitter
 *   (core 0, at its first rx). With COOP_TASKRUN a sleeping core 0 is
 *   woken for that work, and a running one is not interrupted by an IPI
 *   for every burst of frames (as a NIC that coalesces its interrupts
 *   would not interrupt it) but runs it at its next system call; rx enters
 *   the kernel for it when the ring flags work waiting (IORING_SQ_TASKRUN).
 * - rx hands out the provided buffers themselves, no copy. tapdev queues a
 *   buffer again as soon as its frame has been delivered but publishes it
 *   to the kernel only at the next tw_uring_tap_flush, which rx alone calls,
 *   first thing: so the frames one rx returns stay valid until the next rx,
 *   as the interface promises, even across tx calls in between (the driver
 *   steers received frames after dropping the lock, and steering may
 *   transmit on the same port).
 * - tx copies each frame into a write slot and queues its SQE, no more:
 *   the driver's flush, once per loop turn, submits every write of the
 *   turn in one io_uring_enter (as the AF_XDP device kicks once per batch)
 *   and reaps the writes' completions at the head of the completion queue
 *   (a TAP write completes during the submit). Reaping stops at the first
 *   read completion: that frame belongs to the next rx. tx reaps what
 *   earlier submits completed; a full pool of slots submits and reaps
 *   once more, then refuses the rest (the caller counts drops). An SQ
 *   full before the flush is submitted by tapdev itself (counted).
 *   flush returns the writes the kernel failed since the last flush: the
 *   caller's drops, as tx's refusals are.
 * - The completion queue holds every receive buffer's and every write
 *   slot's completion at once, so it cannot overflow.
 * - fd is the ring's fd: the kernel reports it readable while completions
 *   wait, which is what the driver's poll needs (level-triggered, so an rx
 *   that stops at its budget loses no wake-up). */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "backends/common/dev.h"
#include "backends/uring/tapdev.h"
#include "base/assert.h"
#include "base/error.h"

#define URINGDEV_TAG 0x55      /* the top byte of tapdev's user_data on this ring */
#define URINGDEV_BGID 1        /* the ring is the device's: any group id is free */
#define URINGDEV_SQ 128        /* submissions between two submits: a turn's writes and re-arms */
#define URINGDEV_BUFS_MAX 4096 /* receive buffers and write slots, each */

struct tw_dev {
    struct io_uring ring;
    tw_uring_tap *tap;
    uint64_t tx_errors_told; /* failed writes flush has reported */
    /* rx's output while it reaps. */
    tw_dev_frame *out;
    uint32_t got;
};

static int uring_open(tw_dev **out, const char *ifname, uint32_t frame_max, uint32_t frames)
{
    TW_ASSERT(frame_max > 0);
    TW_ASSERT(frame_max <= TW_DEV_FRAME_MAX);
    tw_dev_set_why("%s", "");
    /* The hint rounded up to a power of two (a buffer ring's size). */
    uint32_t want = frames < TW_DEV_BATCH        ? TW_DEV_BATCH
                    : frames > URINGDEV_BUFS_MAX ? URINGDEV_BUFS_MAX
                                                 : frames;
    uint32_t bufs = 1u << (32 - __builtin_clz(want - 1));
    TW_ASSERT(bufs >= want);
    TW_ASSERT(bufs <= URINGDEV_BUFS_MAX);
    tw_dev *d = calloc(1, sizeof(*d));
    TW_ASSERT(d != NULL);
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP |
                                         IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
                                .cq_entries = 2 * bufs + URINGDEV_SQ};
    int rc = io_uring_queue_init_params(URINGDEV_SQ, &d->ring, &p);
    if (rc == -EINVAL) {
        /* Before 5.19: no cooperative task running; completions then
         * interrupt the reading thread, which is correct, only dearer. */
        p.flags &= ~(unsigned)(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
        rc = io_uring_queue_init_params(URINGDEV_SQ, &d->ring, &p);
    }
    if (rc < 0) {
        tw_dev_set_why("io_uring_setup: %s (a kernel without io_uring, or io_uring disabled by "
                       "the kernel.io_uring_disabled sysctl or a seccomp filter)",
                       strerror(-rc));
        free(d);
        return rc;
    }
    tw_uring_tap_config cfg = {.name = ifname,
                               .bgid = URINGDEV_BGID,
                               .tag = URINGDEV_TAG,
                               .rx_bufs = bufs,
                               .frame_max = frame_max,
                               .tx_slots = bufs};
    char err[256];
    rc = tw_uring_tap_open(&d->tap, &d->ring, &cfg, err, sizeof err);
    if (rc < 0) {
        tw_dev_set_why("%s", err);
        io_uring_queue_exit(&d->ring);
        free(d);
        return rc;
    }
    /* The armed read is submitted by the first rx, on the thread that will
     * keep reading: its completions then run as that thread's task work
     * rather than the world builder's. */
    *out = d;
    return 0;
}

static void collect(void *ctx, const uint8_t *frame, size_t len)
{
    tw_dev *d = ctx;
    TW_ASSERT(len <= UINT32_MAX);
    d->out[d->got].data = (uint8_t *)frame;
    d->out[d->got].len = (uint32_t)len;
    d->got++;
}

static int uring_rx(tw_dev *d, tw_dev_frame *frames, uint32_t max)
{
    /* The previous rx's frames are the caller's no longer: their buffers
     * go back to the kernel now, and a read that ended is re-armed. */
    tw_uring_tap_flush(d->tap);
    if (io_uring_sq_ready(&d->ring) > 0) {
        io_uring_submit(&d->ring);
    }
    if (io_uring_cq_ready(&d->ring) == 0 &&
        (IO_URING_READ_ONCE(*d->ring.sq.kflags) & IORING_SQ_TASKRUN)) {
        /* Reads the kernel has done for us but not yet completed: under
         * COOP_TASKRUN they wait for this thread to enter the kernel. */
        io_uring_get_events(&d->ring);
    }
    uint64_t errors = tw_uring_tap_stats_get(d->tap)->rx_errors;
    d->out = frames;
    d->got = 0;
    unsigned head, seen = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&d->ring, head, cqe)
    {
        if (d->got == max) {
            break;
        }
        tw_uring_tap_on_cqe(d->tap, cqe, collect, d);
        seen++;
    }
    io_uring_cq_advance(&d->ring, seen);
    TW_ASSERT(d->got <= max);
    d->out = NULL;
    if (d->got == 0 && tw_uring_tap_stats_get(d->tap)->rx_errors > errors) {
        return -EIO;
    }
    return (int)d->got;
}

/* The writes' completions at the head of the queue: slots come back. */
static void reap_writes(tw_dev *d)
{
    unsigned head, seen = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&d->ring, head, cqe)
    {
        if (!tw_uring_tap_is_write(cqe->user_data)) {
            break;
        }
        tw_uring_tap_on_cqe(d->tap, cqe, NULL, NULL);
        seen++;
    }
    io_uring_cq_advance(&d->ring, seen);
}

static int uring_tx(tw_dev *d, const tw_dev_frame *frames, uint32_t n)
{
    reap_writes(d);
    uint32_t sent = 0;
    for (; sent < n; sent++) {
        int rc = tw_uring_tap_send(d->tap, frames[sent].data, frames[sent].len);
        if (rc == -TW_EFULL) {
            /* Every slot queued or in flight: this turn's batch goes now. */
            io_uring_submit(&d->ring);
            reap_writes(d);
            rc = tw_uring_tap_send(d->tap, frames[sent].data, frames[sent].len);
        }
        if (rc < 0) {
            break;
        }
    }
    return (int)sent;
}

/* The turn's writes in one submit; their completions reaped. */
static int uring_flush(tw_dev *d)
{
    if (io_uring_sq_ready(&d->ring) > 0) {
        io_uring_submit(&d->ring);
    }
    reap_writes(d);
    uint64_t errors = tw_uring_tap_stats_get(d->tap)->tx_errors;
    TW_ASSERT(errors >= d->tx_errors_told);
    uint64_t fresh = errors - d->tx_errors_told;
    d->tx_errors_told = errors;
    return fresh > INT32_MAX ? INT32_MAX : (int)fresh;
}

static int uring_fd(const tw_dev *d)
{
    return d->ring.ring_fd;
}

static void uring_close(tw_dev *d)
{
    /* Closing the ring cancels the armed read; the buffer ring goes first,
     * while the ring is there to unregister it from. */
    tw_uring_tap_close(d->tap);
    io_uring_queue_exit(&d->ring);
    free(d);
}

const tw_dev_ops tw_dev_uring_ops = {"uring",  uring_open, uring_rx,   uring_tx,
                                     uring_fd, uring_close, uring_flush};
