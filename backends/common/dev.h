/* A frame device: how a live twin host's stack reaches a real network
 * interface inside its namespace. One small interface, four backends:
 *
 *   poll  an AF_PACKET raw socket bound to the veth (recvmmsg/sendmmsg)
 *   tap   a TAP device (IFF_TAP | IFF_NO_PI) bridged to the veth
 *   xdp   AF_XDP sockets, one per queue of the veth (copy mode; the
 *         program in SKB mode on a one-queue veth, native on more)
 *   uring a TAP device bridged to the veth as tap's, read and written
 *         through an io_uring of the device's own (backends/uring)
 *
 * Ordering obligations: tw_dev_open runs on a thread that is inside the
 * interface's network namespace (setns); the device keeps working from any
 * namespace afterwards, as sockets do. rx and tx are called by one thread
 * at a time per device (the driver holds the device's lock); frames that
 * rx returns point into the device's own buffers and stay valid until the
 * next rx on it. Errors are negative errno values. */
#ifndef TW_BACKENDS_DEV_H
#define TW_BACKENDS_DEV_H

#include <stddef.h>
#include <stdint.h>

#define TW_DEV_BATCH 32       /* frames per rx or tx call */
#define TW_DEV_FRAME_MAX 9216 /* bytes of one frame: a jumbo MTU and its header */
#define TW_DEV_QUEUES_MAX 64  /* queues of one interface (the XDP program's xsks_map) */

typedef enum tw_dev_kind {
    TW_DEV_POLL = 0,
    TW_DEV_TAP,
    TW_DEV_XDP,
    TW_DEV_URING,
    TW_DEV_KIND_COUNT
} tw_dev_kind;

typedef struct tw_dev_frame {
    uint8_t *data;
    uint32_t len;
} tw_dev_frame;

typedef struct tw_dev tw_dev;

typedef struct tw_dev_ops {
    const char *name;
    /* Opens the device on ifname (for tap: creates the TAP device of that
     * name). frame_max sizes the buffers; frames is a hint for rings. */
    int (*open)(tw_dev **out, const char *ifname, uint32_t frame_max, uint32_t frames);
    /* Up to max received frames; 0 when none is waiting. */
    int (*rx)(tw_dev *d, tw_dev_frame *frames, uint32_t max);
    /* Sends n frames; returns how many the device took (the rest are the
     * caller's drops). */
    int (*tx)(tw_dev *d, const tw_dev_frame *frames, uint32_t n);
    /* The fd to poll for POLLIN. */
    int (*fd)(const tw_dev *d);
    void (*close)(tw_dev *d);
    /* Hands the kernel what tx queued (a device that kicks or sends once
     * per batch rather than once per frame); NULL where tx sends at once.
     * The thread that called tx calls it before it sleeps. Returns how many
     * frames tx took since the last flush that the kernel refused (the
     * caller's drops, as tx's refusals are). */
    int (*flush)(tw_dev *d);
    /* A device on one receive queue of a multi-queue interface (queue of
     * queues); NULL where the backend reads an interface through one device
     * (the driver then reads it from core 0 and steers every frame). Queue
     * 0 opens with first == NULL and sets up what the queues share (the
     * XDP program); queue k > 0 joins it through first, and is closed
     * before it. */
    int (*open_queue)(tw_dev **out, const char *ifname, uint32_t queue, uint32_t queues,
                      tw_dev *first, uint32_t frame_max, uint32_t frames);
} tw_dev_ops;

extern const tw_dev_ops tw_dev_poll_ops;
extern const tw_dev_ops tw_dev_tap_ops;
extern const tw_dev_ops tw_dev_xdp_ops;
#ifdef TW_HAVE_URING
extern const tw_dev_ops tw_dev_uring_ops;
#endif

/* The ops of a kind; NULL where this build lacks it (uring without
 * liburing). */
const tw_dev_ops *tw_dev_ops_of(tw_dev_kind kind);
/* The kind named "poll", "tap", "xdp" or "uring", whether built or not;
 * -1 for any other name. */
int tw_dev_kind_named(const char *name);
/* The ops named so; NULL for an unknown name or a kind not built. */
const tw_dev_ops *tw_dev_ops_named(const char *name);

/* A device that is a TAP interface of twin's making: the world builder
 * bridges it to the host's veth (and leaves the veth its own MAC). */
static inline int tw_dev_is_tap(tw_dev_kind kind)
{
    return kind == TW_DEV_TAP || kind == TW_DEV_URING;
}

/* Why the last open on this thread failed, in the backend's words where
 * it has more to say than an errno (a missing kernel feature); "" where it
 * has not. An open that fails sets it (or clears it) before returning. */
const char *tw_dev_why(void);
void tw_dev_set_why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
