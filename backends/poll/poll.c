/* The poll backend: an AF_PACKET raw socket bound to one interface, frames
 * read with recvmmsg and written with sendmmsg in batches. The portable
 * baseline: it needs nothing but CAP_NET_RAW, and it is what the kernel's
 * own packet capture uses.
 *
 * PACKET_IGNORE_OUTGOING (Linux 4.20) keeps our own transmissions out of
 * the receive queue: an AF_PACKET socket otherwise sees every frame the
 * interface sends, its own included.
 *
 * Sending: tx copies frames into TW_DEV_BATCH buffers of the device's own
 * and sends them with one sendmmsg when they are full or at flush (the end
 * of the driver's turn): one syscall per batch, not per frame, for the
 * price of a copy (the driver's frames live only until its next pop).
 * Frames the socket refuses (a full queue) are counted and returned by the
 * next flush as drops. */
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
    uint8_t *bufs;    /* TW_DEV_BATCH receive buffers */
    uint8_t *tx_bufs; /* TW_DEV_BATCH frames waiting to be sent */
    uint32_t tx_n;    /* how many */
    uint32_t tx_lost; /* taken but refused by the socket, since the last flush */
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
    d->tx_bufs = malloc((size_t)TW_DEV_BATCH * frame_max);
    d->to = sll;
    d->to.sll_halen = ETH_ALEN;
    for (int i = 0; i < TW_DEV_BATCH; i++) {
        d->rx_iov[i] = (struct iovec){d->bufs + (size_t)i * frame_max, frame_max};
        d->rx_msgs[i].msg_hdr = (struct msghdr){.msg_iov = &d->rx_iov[i], .msg_iovlen = 1};
        d->tx_iov[i] = (struct iovec){d->tx_bufs + (size_t)i * frame_max, 0};
        d->tx_msgs[i].msg_hdr = (struct msghdr){.msg_name = &d->to,
                                                .msg_namelen = sizeof d->to,
                                                .msg_iov = &d->tx_iov[i],
                                                .msg_iovlen = 1};
    }
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

/* Sends the waiting frames; what the socket refuses is lost (counted). */
static void send_waiting(tw_dev *d)
{
    uint32_t sent = 0;
    while (sent < d->tx_n) {
        int k = sendmmsg(d->fd, d->tx_msgs + sent, d->tx_n - sent, MSG_DONTWAIT);
        if (k <= 0) {
            break; /* a full queue: the rest are drops */
        }
        sent += (uint32_t)k;
    }
    d->tx_lost += d->tx_n - sent;
    d->tx_n = 0;
}

static int poll_tx(tw_dev *d, const tw_dev_frame *frames, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (d->tx_n == TW_DEV_BATCH) {
            send_waiting(d);
        }
        uint32_t len = frames[i].len < d->frame_max ? frames[i].len : d->frame_max;
        memcpy(d->tx_iov[d->tx_n].iov_base, frames[i].data, len);
        d->tx_iov[d->tx_n].iov_len = len;
        d->tx_n++;
    }
    return (int)n;
}

static int poll_flush(tw_dev *d)
{
    send_waiting(d);
    int lost = (int)d->tx_lost;
    d->tx_lost = 0;
    return lost;
}

static int poll_fd(const tw_dev *d) { return d->fd; }

static void poll_close(tw_dev *d)
{
    close(d->fd);
    free(d->bufs);
    free(d->tx_bufs);
    free(d);
}

const tw_dev_ops tw_dev_poll_ops = {"poll",  poll_open,  poll_rx,   poll_tx,
                                    poll_fd, poll_close, poll_flush};
