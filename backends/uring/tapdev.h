/* A TAP device read and written through an io_uring: a frame device for
 * the user-space stack (core/net), for the live driver that runs a stack on
 * a worker thread instead of kernel sockets.
 *
 * The caller owns the ring and its loop; the device adds its SQEs to it and
 * is handed back the CQEs whose user_data it tagged (tw_uring_tap_owns).
 * Frames come in through a multishot read (IORING_OP_READ_MULTISHOT, or
 * re-armed one-shot reads on kernels before 6.7) into a provided buffer
 * ring of the device's own; each is given to the caller's callback and its
 * buffer goes back at once (the stack copies what it keeps). Frames go out
 * as writes from a bounded pool of slots: a full pool is an explicit
 * -TW_EFULL, counted, never a wait.
 *
 * Self-contained on purpose: the frame-device interface of the live driver
 * wraps these calls (open, on_cqe with a frame callback, send, flush,
 * close). */
#ifndef TW_BACKENDS_URING_TAPDEV_H
#define TW_BACKENDS_URING_TAPDEV_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tw_uring_tap tw_uring_tap;

typedef struct tw_uring_tap_config {
    const char *name;   /* the interface, e.g. "tap0": attached or created */
    uint16_t bgid;      /* a buffer group id free on the ring */
    uint8_t tag;        /* the top byte of this device's user_data, != 0 */
    uint32_t rx_bufs;   /* provided receive buffers (power of two), default 256 */
    uint32_t frame_max; /* bytes of the largest frame, default 2048 (MTU 1500 + headers) */
    uint32_t tx_slots;  /* writes in flight, default 256 */
} tw_uring_tap_config;

typedef struct tw_uring_tap_stats {
    uint64_t rx_frames;
    uint64_t rx_bytes;
    uint64_t tx_frames;
    uint64_t tx_bytes;
    uint64_t tx_full;    /* sends refused: every slot in flight */
    uint64_t tx_errors;  /* writes the kernel failed */
    uint64_t rx_errors;  /* reads that ended with an error other than ENOBUFS */
    uint64_t no_buffers; /* the read found no free buffer (the caller was slow) */
    uint64_t rearms;
    uint64_t sq_full;    /* submits the device made itself: the ring's SQ was full */
} tw_uring_tap_stats;

typedef void tw_uring_tap_frame_fn(void *ctx, const uint8_t *frame, size_t len);

/* Opens (or creates) the TAP interface (IFF_TAP | IFF_NO_PI), registers the
 * buffer ring and arms the read; the SQE goes with the ring's next submit.
 * 0, or a negative errno with the reason in err (no /dev/net/tun, not
 * permitted, the buffer ring refused). */
int tw_uring_tap_open(tw_uring_tap **out, struct io_uring *ring, const tw_uring_tap_config *cfg,
                      char *err, size_t err_len);
/* Unregisters, closes and frees; the ring must have no operation of the
 * device in flight that the caller still waits for. */
void tw_uring_tap_close(tw_uring_tap *t);

static inline bool tw_uring_tap_owns(const tw_uring_tap_config *cfg, uint64_t user_data)
{
    return (uint8_t)(user_data >> 56) == cfg->tag;
}
const tw_uring_tap_config *tw_uring_tap_config_get(const tw_uring_tap *t);
/* Whether one of the device's CQEs is a write's: a caller that must not
 * take frames at that moment (a send path) can still reap writes, which
 * only give back their slot. */
bool tw_uring_tap_is_write(uint64_t user_data);

/* One of the device's CQEs: a received frame goes to fn(ctx, frame, len).
 * Its buffer is queued for the kernel again but published only by the next
 * tw_uring_tap_flush: the frame stays valid until then. fn may be NULL for
 * a write's CQE. */
void tw_uring_tap_on_cqe(tw_uring_tap *t, const struct io_uring_cqe *cqe, tw_uring_tap_frame_fn *fn,
                         void *ctx);
/* Queues a frame (copied) for writing: its SQE waits for the caller's next
 * submit, so that a batch of sends costs one io_uring_enter. Only a full
 * SQ makes the device submit on its own (counted in sq_full). 0,
 * -TW_EFULL (no slot), -TW_ETOOBIG. */
int tw_uring_tap_send(tw_uring_tap *t, const uint8_t *frame, size_t len);
/* Write slots free now; the caller reaps write completions to get more. */
uint32_t tw_uring_tap_slots_free(const tw_uring_tap *t);
/* Once per loop turn, before the submit: publishes recycled buffers and
 * re-arms a read that ended. */
void tw_uring_tap_flush(tw_uring_tap *t);
const tw_uring_tap_stats *tw_uring_tap_stats_get(const tw_uring_tap *t);
int tw_uring_tap_fd(const tw_uring_tap *t);

#endif
