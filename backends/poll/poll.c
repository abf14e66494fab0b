/* The poll backend: an AF_PACKET raw socket bound to one interface, frames
 * read with recvmmsg and written with sendmmsg in batches. The portable
 * baseline: it needs nothing but CAP_NET_RAW, and it is what the kernel's
 * own packet capture uses.
 *
 * PACKET_IGNORE_OUTGOING (Linux 4.20) keeps our own transmissions out of
 * the receive queue: an AF_PACKET socket otherwise sees every frame the
 * interface sends, its own included. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/common/dev.h"

struct tw_dev {
    int fd;
    int ifindex;
    uint32_t frame_max;
    uint8_t *bufs; /* TW_DEV_BATCH receive buffers */
    struct mmsghdr rx_msgs[TW_DEV_BATCH];
    struct iovec rx_iov[TW_DEV_BATCH];
    struct mmsghdr tx_msgs[TW_DEV_BATCH];
    struct iovec tx_iov[TW_DEV_BATCH];
    struct sockaddr_ll to;
};

static int poll_open(tw_dev **out, const char *ifname, uint32_t frame_max, uint32_t frames)
{
    int ifindex = (int)if_nametoindex(ifname);
    if (ifindex == 0) {
        return -errno;
    }
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    /* Room for a burst: the default receive buffer holds ~200 frames. */
    int rcvbuf = (int)(frames * frame_max);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = ifindex};
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    tw_dev *d = calloc(1, sizeof(*d));
    d->fd = fd;
    d->ifindex = ifindex;
    d->frame_max = frame_max;
    d->bufs = malloc((size_t)TW_DEV_BATCH * frame_max);
    for (int i = 0; i < TW_DEV_BATCH; i++) {
        d->rx_iov[i] = (struct iovec){d->bufs + (size_t)i * frame_max, frame_max};
        d->rx_msgs[i].msg_hdr = (struct msghdr){.msg_iov = &d->rx_iov[i], .msg_iovlen = 1};
    }
    d->to = sll;
    d->to.sll_halen = ETH_ALEN;
    *out = d;
    return 0;
}

static int poll_rx(tw_dev *d, tw_dev_frame *frames, uint32_t max)
{
    if (max > TW_DEV_BATCH) {
        max = TW_DEV_BATCH;
    }
    int n = recvmmsg(d->fd, d->rx_msgs, max, MSG_DONTWAIT, NULL);
    if (n < 0) {
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    }
    for (int i = 0; i < n; i++) {
        frames[i].data = d->rx_iov[i].iov_base;
        frames[i].len = d->rx_msgs[i].msg_len;
    }
    return n;
}

static int poll_tx(tw_dev *d, const tw_dev_frame *frames, uint32_t n)
{
    if (n > TW_DEV_BATCH) {
        n = TW_DEV_BATCH;
    }
    for (uint32_t i = 0; i < n; i++) {
        d->tx_iov[i] = (struct iovec){frames[i].data, frames[i].len};
        d->tx_msgs[i].msg_hdr = (struct msghdr){.msg_name = &d->to, .msg_namelen = sizeof d->to,
                                                .msg_iov = &d->tx_iov[i], .msg_iovlen = 1};
    }
    uint32_t sent = 0;
    while (sent < n) {
        int k = sendmmsg(d->fd, d->tx_msgs + sent, n - sent, MSG_DONTWAIT);
        if (k <= 0) {
            break; /* a full queue: the rest are drops, counted by the caller */
        }
        sent += (uint32_t)k;
    }
    return (int)sent;
}

static int poll_fd(const tw_dev *d) { return d->fd; }

static void poll_close(tw_dev *d)
{
    close(d->fd);
    free(d->bufs);
    free(d);
}

const tw_dev_ops tw_dev_poll_ops = {"poll", poll_open, poll_rx, poll_tx, poll_fd, poll_close};
