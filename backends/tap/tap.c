/* The tap backend: a TAP device (IFF_TAP | IFF_NO_PI), one frame per read
 * and write. The world builder bridges it with the host's veth end, so the
 * frames twin writes enter the kernel as if a NIC had received them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backends/common/dev.h"

struct tw_dev {
    int fd;
    uint32_t frame_max;
    uint8_t *bufs;
};

static int tap_open(tw_dev **out, const char *ifname, uint32_t frame_max, uint32_t frames)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    tw_dev *d = calloc(1, sizeof(*d));
    d->fd = fd;
    d->frame_max = frame_max;
    d->bufs = malloc((size_t)TW_DEV_BATCH * frame_max);
    *out = d;
    return 0;
}

static int tap_rx(tw_dev *d, tw_dev_frame *frames, uint32_t max)
{
    uint32_t n = 0;
    while (n < max && n < TW_DEV_BATCH) {
        uint8_t *b = d->bufs + (size_t)n * d->frame_max;
        ssize_t k = read(d->fd, b, d->frame_max);
        if (k <= 0) {
            if (n == 0 && k < 0 && errno != EAGAIN && errno != EINTR) {
                return -errno;
            }
            break;
        }
        frames[n].data = b;
        frames[n].len = (uint32_t)k;
        n++;
    }
    return (int)n;
}

static int tap_tx(tw_dev *d, const tw_dev_frame *frames, uint32_t n)
{
    uint32_t sent = 0;
    for (; sent < n; sent++) {
        if (write(d->fd, frames[sent].data, frames[sent].len) < 0) {
            break;
        }
    }
    return (int)sent;
}

static int tap_fd(const tw_dev *d) { return d->fd; }

static void tap_close(tw_dev *d)
{
    close(d->fd);
    free(d->bufs);
    free(d);
}

const tw_dev_ops tw_dev_tap_ops = {"tap", tap_open, tap_rx, tap_tx, tap_fd, tap_close};
