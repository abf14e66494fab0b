/* The io_uring driver (uring.h).
 *
 * IMPLEMENTATION NOTES
 *
 * - A loop turn: read the clock once; take every CQE (multishot receives,
 *   accepts, sends, connects, MSG_RING wake-ups), turning each into worker
 *   inputs; give the worker the completions its requests produced at once
 *   (bind results, TCP SENT, queued DATA); drain the bus inboxes; fire due
 *   timers; publish recycled buffers; re-arm multishot operations that
 *   ended; send wake-ups; then one io_uring_submit_and_wait_timeout, which
 *   both submits the turn's SQEs and sleeps until a CQE or the worker's
 *   next deadline. Only a full SQ costs an extra submit within a turn.
 * - Every SQE's user_data names what it is for: a kind, the object's slot
 *   and its generation. An object (endpoint, listener, connection) that is
 *   closed and reused gets a new generation, so a late CQE for the old one
 *   is recognised and only its buffer is given back.
 * - Buffers. UDP: a datagram's buffer is recycled right after the task has
 *   been given it (tasks copy what they keep; rt/task.h). TCP: received
 *   buffers stay chained on their connection until the task consumes their
 *   bytes, so a DATA slice stays valid until consumed, as with the
 *   user-space stack; a task that never consumes holds buffers, and when
 *   the group runs dry the multishot receive ends with ENOBUFS and is
 *   re-armed after buffers come back.
 * - Sockets are created, bound and listened to with plain syscalls when the
 *   request comes (set-up, not the per-message path); closes cancel the
 *   object's multishot operation by user_data, never by fd, because the fd
 *   number may be reused before the cancel is submitted.
 * - The kernel's TCP does the work the stack would: a TCP_SEND is copied
 *   into the connection's bounded send buffer and answered at once with the
 *   bytes taken (SENT); the rest is refused until WRITABLE, as tw_tcp_send
 *   does. A graceful close is shutdown(SHUT_WR) once the buffer has drained;
 *   CLOSED comes when our FIN is out and the peer's has arrived. */
#define _GNU_SOURCE
#include "backends/uring/uring.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/bitset.h"
#include "base/error.h"
#include "rt/worker.h"

enum ud_kind {
    UD_IGNORE = 0, /* cancels, MSG_RING sends: nothing to do */
    UD_UDP_RECV,
    UD_UDP_SEND,
    UD_ACCEPT,
    UD_TCP_RECV,
    UD_TCP_SEND,
    UD_CONNECT,
    UD_WAKE, /* another thread's MSG_RING: look at the inboxes and the stop flag */
};

static inline uint64_t ud_make(enum ud_kind k, uint32_t slot, uint32_t gen)
{
    return (uint64_t)k << 56 | (uint64_t)(slot & 0xffffffu) << 32 | gen;
}
static inline enum ud_kind ud_kind(uint64_t u)
{
    return (enum ud_kind)(u >> 56);
}
static inline uint32_t ud_slot(uint64_t u)
{
    return (uint32_t)(u >> 32) & 0xffffffu;
}
static inline uint32_t ud_gen(uint64_t u)
{
    return (uint32_t)u;
}

/* After a turn that took this many CQEs the loop polls instead of
 * sleeping, and keeps polling through up to BUSY_EMPTY_POLLS turns that
 * find nothing: on a loaded path a sleep and a wake-up cost more CPU than
 * that many non-blocking enters (tens of microseconds on a virtual
 * machine), and an idle worker still sleeps after a few microseconds. */
#define BUSY_CQES 4
#define BUSY_EMPTY_POLLS 32

#define BGID_UDP 1
#define BGID_TCP 2
#define NONE UINT32_MAX

typedef struct bufpool {
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    uint8_t *mem;
    uint32_t count;
    uint32_t size;
    int mask;
    uint32_t added; /* recycled, not yet published to the kernel */
    uint16_t bgid;
    uint32_t *next; /* TCP: the next buffer held by the same connection */
    uint32_t *len;  /* TCP: bytes received into the buffer */
} bufpool;

typedef struct uep {
    int fd;
    uint32_t id; /* the worker's endpoint id */
    bool live;
    bool armed;
    tw_ipv4_addr local;
    uint16_t lport;
    struct msghdr msg; /* the multishot recvmsg's template: a source address, no control */
} uep;

typedef struct ulis {
    int fd;
    uint32_t gen;
    bool live;
    bool armed;
} ulis;

typedef struct uconn {
    int fd;
    int64_t id;
    bool live;
    bool recv_armed;
    bool connecting;
    bool peer_eof;
    bool fin_wanted;
    bool fin_sent;
    bool blocked;
    bool data_queued;
    uint32_t rx_head; /* held buffers, oldest first */
    uint32_t rx_tail;
    uint32_t rx_off; /* bytes of rx_head already consumed */
    uint8_t *tx;
    uint32_t tx_len;
    uint32_t tx_flight; /* bytes of tx the kernel is sending */
    struct sockaddr_in peer;
} uconn;

typedef struct sendslot {
    struct sockaddr_in to;
    uint32_t next; /* free list */
    uint32_t len;
} sendslot;

/* A bounded single-producer single-consumer ring of bus messages. */
typedef struct inbox {
    _Atomic uint32_t head;
    char pad_[60]; /* producer and consumer indices on their own cache lines */
    _Atomic uint32_t tail;
    uint32_t mask;
    tw_msg *slots;
} inbox;

typedef struct spawn_req {
    uint32_t type;
    uint32_t len;
    uint8_t args[TW_SPAWN_ARGS_MAX];
} spawn_req;

typedef struct uworker {
    tw_uring *u;
    uint32_t index;
    pthread_t thread;
    bool thread_ok;
    struct io_uring ring;
    bool ring_ok;
    int ring_fd;
    tw_worker w;
    tw_ns now;
    bufpool udp;
    bufpool tcp;
    uep *eps;
    ulis *lis;
    uconn *conns;
    uint8_t *tx_mem;
    sendslot *slots;
    uint8_t *slot_mem;
    uint32_t slot_free;
    tw_ring answers; /* tw_net_cpl: answers to requests, given before anything else */
    tw_ring cpls;    /* tw_net_cpl: connection events (DATA, closes), in order */
    uint64_t *rearm; /* user_data of multishot operations to arm again */
    uint32_t nrearm;
    uint32_t rearm_max;
    inbox *in;            /* in[s]: messages from worker s */
    bool *wake;           /* wake[t]: worker t has new messages from us this turn */
    bool self_msgs;       /* our own inbox has news: the next wait must not sleep */
    uint32_t udp_sends;   /* UDP sends submitted this turn: their CQEs come at once */
    uint32_t turn_cqes;   /* CQEs the turn took: many means more are likely coming */
    uint32_t empty_polls; /* polls in a row that found nothing */
    spawn_req spawns[TW_URING_SPAWNS_MAX];
    uint32_t nspawns;
    tw_uring_stats st;
    char err[200];
    /* Embedded (cfg.route): held during a turn, so that tw_uring_hold
     * stops the worker between turns; messages from outside the driver. */
    pthread_mutex_t hold;
    pthread_mutex_t post_mu;
    tw_ring posted; /* tw_msg */
} uworker;

struct tw_uring {
    tw_uring_config cfg;
    uworker *ws;
    _Atomic int stop;
    _Atomic int failed;
    pthread_barrier_t ready;
    struct io_uring ctl; /* the stopper's: it sends the workers' last wake-up */
    bool ctl_ok;
    pthread_mutex_t ctl_mu; /* embedded: tw_uring_post wakes workers through ctl */
    bool started;
    bool stopped;
};

static tw_ns clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (tw_ns)ts.tv_sec * 1000000000ull + (tw_ns)ts.tv_nsec;
}

/* A kernel errno (positive) as one of our codes. */
static int32_t tw_from_errno(int e)
{
    switch (e) {
    case EADDRINUSE:
        return -TW_EADDRINUSE;
    case ECONNREFUSED:
        return -TW_ECONNREFUSED;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
        return -TW_ECONNRESET;
    case ETIMEDOUT:
        return -TW_ETIMEDOUT;
    case ENETUNREACH:
    case EHOSTUNREACH:
        return -TW_EUNREACH;
    case EMSGSIZE:
        return -TW_ETOOBIG;
    case ENOBUFS:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
        return -TW_ENOMEM;
    case EAGAIN:
        return -TW_EAGAIN;
    case ENOTCONN:
        return -TW_ENOTCONN;
    default:
        return -TW_EINVAL;
    }
}

void tw_uring_config_defaults(tw_uring_config *cfg)
{
    cfg->max_tasks = 16;
    cfg->task_state_max = 0; /* create takes the registry's largest */
    cfg->udp_endpoints_max = 16;
    cfg->tcp_conns_max = 1024;
    cfg->tcp_listeners_max = 4;
    cfg->ring_entries = 1024;
    /* Few enough that the buffers stay in cache: the ring hands them out in
     * turn, so every buffer is touched once per cycle through the ring. */
    cfg->udp_bufs = 256;
    cfg->udp_buf_size = 2048;
    cfg->udp_send_slots = 1024;
    cfg->tcp_bufs = 256;
    cfg->tcp_buf_size = 16384;
    cfg->tcp_send_buf = 65536;
    cfg->bus_queue = 256;
    cfg->seed = 1;
}

/* ---- probe ----------------------------------------------------------------- */

int tw_uring_probe(char *why, size_t why_len)
{
    struct io_uring r;
    int rc = io_uring_queue_init(8, &r, 0);
    if (rc < 0) {
        snprintf(why, why_len,
                 "io_uring_setup failed: %s (io_uring disabled by the kernel.io_uring_disabled "
                 "sysctl, a seccomp filter, or a kernel without io_uring)",
                 strerror(-rc));
        return -1;
    }
    struct io_uring_probe *p = io_uring_get_probe_ring(&r);
    static const struct {
        int op;
        const char *name;
    } need[] = {
        {IORING_OP_MSG_RING, "IORING_OP_MSG_RING"},
        {IORING_OP_RECVMSG, "IORING_OP_RECVMSG"},
        {IORING_OP_RECV, "IORING_OP_RECV"},
        {IORING_OP_SEND, "IORING_OP_SEND"},
        {IORING_OP_ACCEPT, "IORING_OP_ACCEPT"},
        {IORING_OP_CONNECT, "IORING_OP_CONNECT"},
        {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"},
    };
    int result = 0;
    for (size_t i = 0; p && i < sizeof(need) / sizeof(need[0]) && result == 0; i++) {
        if (!io_uring_opcode_supported(p, need[i].op)) {
            snprintf(why, why_len, "the kernel's io_uring lacks %s", need[i].name);
            result = -1;
        }
    }
    if (p == NULL) {
        snprintf(why, why_len, "io_uring opcode probe (IORING_REGISTER_PROBE) failed");
        result = -1;
    }
    io_uring_free_probe(p);
    if (result == 0) {
        /* Provided buffer rings (5.19) and multishot recvmsg (6.0) came
         * together; registering a small ring tells whether they are here. */
        size_t bytes = 8 * sizeof(struct io_uring_buf);
        void *br = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        struct io_uring_buf_reg reg = {
            .ring_addr = (unsigned long)br, .ring_entries = 8, .bgid = 0};
        rc = br == MAP_FAILED ? -ENOMEM : io_uring_register_buf_ring(&r, &reg, 0);
        if (rc < 0) {
            snprintf(why, why_len,
                     "provided buffer rings (IORING_REGISTER_PBUF_RING) are not available: %s",
                     strerror(-rc));
            result = -1;
        } else {
            io_uring_unregister_buf_ring(&r, 0);
        }
        if (br != MAP_FAILED) {
            munmap(br, bytes);
        }
    }
    io_uring_queue_exit(&r);
    return result;
}

/* ---- buffers ------------------------------------------------------------- */

static int pool_register(uworker *x, bufpool *p)
{
    p->br_bytes = (size_t)p->count * sizeof(struct io_uring_buf);
    void *m = mmap(NULL, p->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (m == MAP_FAILED) {
        return -errno;
    }
    p->br = m;
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)m, .ring_entries = p->count, .bgid = p->bgid};
    int rc = io_uring_register_buf_ring(&x->ring, &reg, 0);
    if (rc < 0) {
        return rc;
    }
    io_uring_buf_ring_init(p->br);
    p->mask = io_uring_buf_ring_mask(p->count);
    for (uint32_t i = 0; i < p->count; i++) {
        io_uring_buf_ring_add(p->br, p->mem + (size_t)i * p->size, p->size, (unsigned short)i,
                              p->mask, (int)i);
    }
    io_uring_buf_ring_advance(p->br, (int)p->count);
    return 0;
}

static void pool_recycle(bufpool *p, uint32_t bid)
{
    TW_ASSERT(bid < p->count);
    io_uring_buf_ring_add(p->br, p->mem + (size_t)bid * p->size, p->size, (unsigned short)bid,
                          p->mask, (int)p->added);
    p->added++;
}

/* Makes recycled buffers visible to the kernel: one store per pool per turn. */
static void pool_publish(bufpool *p)
{
    if (p->added) {
        io_uring_buf_ring_advance(p->br, (int)p->added);
        p->added = 0;
    }
}

/* ---- ring helpers ---------------------------------------------------------- */

static struct io_uring_sqe *sqe_get(uworker *x)
{
    struct io_uring_sqe *s = io_uring_get_sqe(&x->ring);
    if (s == NULL) {
        /* The SQ filled within one turn: submit what is there. */
        io_uring_submit(&x->ring);
        x->st.sq_full++;
        x->st.submits++;
        s = io_uring_get_sqe(&x->ring);
        TW_ASSERT(s != NULL);
    }
    return s;
}

static void cancel_ud(uworker *x, uint64_t ud)
{
    struct io_uring_sqe *s = sqe_get(x);
    io_uring_prep_cancel64(s, ud, 0);
    io_uring_sqe_set_data64(s, ud_make(UD_IGNORE, 0, 0));
    io_uring_sqe_set_flags(s, IOSQE_CQE_SKIP_SUCCESS);
}

/* Answers to requests (BOUND, LISTENING, SENT, SEND_FAILED) go to their
 * task right after the input whose outputs made them, before any other
 * event: the user-space stack answers within the same pop sequence, and
 * tasks count on it (the TCP echo sizes its next send from SENT). */
static bool is_answer(tw_net_cpl_kind k)
{
    return k == TW_NET_CPL_UDP_BOUND || k == TW_NET_CPL_UDP_SEND_FAILED ||
           k == TW_NET_CPL_TCP_LISTENING || k == TW_NET_CPL_TCP_SENT;
}

static void push_cpl(uworker *x, const tw_net_cpl *c)
{
    if (tw_ring_push(is_answer(c->kind) ? &x->answers : &x->cpls, c) < 0) {
        x->st.cpl_overflow++;
    }
}

static void push_cpl_kind(uworker *x, tw_net_cpl_kind kind, int64_t id, int32_t result)
{
    tw_net_cpl c = {.kind = kind, .id = id, .result = result};
    push_cpl(x, &c);
}

static void perform(uworker *x, const tw_net_req *r);
static void route_msg(uworker *x, const tw_msg *m);

/* Pops the worker dry, performing what it asks. */
static void drain(uworker *x)
{
    tw_output out;
    while (tw_worker_pop_output(&x->w, x->now, &out)) {
        if (out.kind == TW_OUT_NET_REQ) {
            perform(x, &out.req);
        } else {
            TW_ASSERT(out.kind == TW_OUT_MSG); /* no stack: never a frame */
            route_msg(x, &out.msg);
        }
    }
}

static void input_cpl(uworker *x, const tw_net_cpl *c);

/* After an input that is not a completion (a message, a tick, a spawn). */
static void drain_answers(uworker *x)
{
    tw_net_cpl a;
    if (tw_ring_pop(&x->answers, &a)) {
        input_cpl(x, &a);
    }
}

static void input_one(uworker *x, const tw_net_cpl *c)
{
    tw_input in = {.kind = TW_IN_NET_CPL, .cpl = c};
    tw_worker_on_input(&x->w, x->now, &in);
    drain(x);
}

/* An input, then the answers its outputs made, until there are none. */
static void input_cpl(uworker *x, const tw_net_cpl *c)
{
    input_one(x, c);
    tw_net_cpl a;
    while (tw_ring_pop(&x->answers, &a)) {
        input_one(x, &a);
    }
}

static void want_rearm(uworker *x, uint64_t ud)
{
    TW_ASSERT(x->nrearm < x->rearm_max); /* each object is listed at most once */
    x->rearm[x->nrearm++] = ud;
}

/* ---- UDP ------------------------------------------------------------------- */

static uep *ep_for(uworker *x, int64_t id)
{
    if (id < 0 || (uint64_t)id > UINT32_MAX) {
        return NULL;
    }
    uint32_t slot = (uint32_t)id & 0xffffu;
    if (slot >= x->u->cfg.udp_endpoints_max) {
        return NULL;
    }
    uep *e = &x->eps[slot];
    return e->live && e->id == (uint32_t)id ? e : NULL;
}

static void udp_arm(uworker *x, uep *e)
{
    struct io_uring_sqe *s = sqe_get(x);
    io_uring_prep_recvmsg_multishot(s, e->fd, &e->msg, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = BGID_UDP;
    io_uring_sqe_set_data64(s, ud_make(UD_UDP_RECV, (uint32_t)(e - x->eps), e->id >> 16));
    e->armed = true;
}

static int set_reuse(int fd)
{
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        return -errno;
    }
    return 0;
}

static struct sockaddr_in sin_of(tw_ipv4_addr a, uint16_t port)
{
    struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(port)};
    s.sin_addr.s_addr = htonl(a);
    return s;
}

/* socket, SO_REUSEPORT (so every worker binds the same port and the kernel
 * spreads flows over them), bind, and connect for a "connected" client. */
static int udp_open(const tw_net_req *r, uep *e)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    struct sockaddr_in a = sin_of(r->addr, r->port);
    int rc = set_reuse(fd);
    if (rc == 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        rc = -errno;
    }
    if (rc == 0 && r->port == 0 && r->remote) {
        struct sockaddr_in to = sin_of(r->remote, r->rport);
        rc = connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 ? -errno : 0;
    }
    socklen_t len = sizeof(a);
    if (rc == 0 && getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        rc = -errno;
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    e->fd = fd;
    e->local = ntohl(a.sin_addr.s_addr);
    e->lport = ntohs(a.sin_port);
    return 0;
}

static void udp_bind(uworker *x, const tw_net_req *r)
{
    uint32_t slot = (uint32_t)r->id & 0xffffu;
    TW_ASSERT(slot < x->u->cfg.udp_endpoints_max); /* the worker's table is ours */
    uep *e = &x->eps[slot];
    TW_ASSERT(!e->live);
    int rc = udp_open(r, e);
    if (rc == 0) {
        e->id = (uint32_t)r->id;
        e->live = true;
        memset(&e->msg, 0, sizeof(e->msg));
        e->msg.msg_namelen = sizeof(struct sockaddr_in);
        udp_arm(x, e);
    }
    push_cpl_kind(x, TW_NET_CPL_UDP_BOUND, r->id, rc < 0 ? tw_from_errno(-rc) : 0);
}

static void udp_close(uworker *x, int64_t id)
{
    uep *e = ep_for(x, id);
    if (e == NULL) {
        return;
    }
    if (e->armed) {
        cancel_ud(x, ud_make(UD_UDP_RECV, (uint32_t)(e - x->eps), e->id >> 16));
    }
    close(e->fd);
    e->live = false;
    e->armed = false;
}

static void udp_send(uworker *x, const tw_net_req *r)
{
    uep *e = ep_for(x, r->id);
    int32_t err = e == NULL                         ? -TW_EINVAL
                  : r->len > x->u->cfg.udp_buf_size ? -TW_ETOOBIG
                  : x->slot_free == NONE            ? -TW_EFULL
                                                    : 0;
    if (err) {
        x->st.udp_tx_refused++;
        tw_net_cpl c = {
            .kind = TW_NET_CPL_UDP_SEND_FAILED, .id = r->id, .result = err, .cookie = r->cookie};
        push_cpl(x, &c);
        return;
    }
    uint32_t i = x->slot_free;
    sendslot *s = &x->slots[i];
    x->slot_free = s->next;
    uint8_t *data = x->slot_mem + (size_t)i * x->u->cfg.udp_buf_size;
    memcpy(data, r->data, r->len);
    s->to = sin_of(r->addr, r->port);
    s->len = (uint32_t)r->len;
    struct io_uring_sqe *q = sqe_get(x);
    /* sendto as IORING_OP_SEND with a destination (6.0): no msghdr and
     * iovec for the kernel to copy in for each datagram. */
    io_uring_prep_send(q, e->fd, data, s->len, 0);
    io_uring_prep_send_set_addr(q, (const struct sockaddr *)&s->to, sizeof(s->to));
    io_uring_sqe_set_data64(q, ud_make(UD_UDP_SEND, i, 0));
    x->udp_sends++;
}

static void on_udp_send(uworker *x, const struct io_uring_cqe *cqe)
{
    uint32_t i = ud_slot(cqe->user_data);
    TW_ASSERT(i < x->u->cfg.udp_send_slots);
    if (cqe->res < 0) {
        x->st.udp_tx_errors++;
    } else {
        x->st.udp_tx++;
        x->st.udp_tx_bytes += (uint64_t)cqe->res;
    }
    x->slots[i].next = x->slot_free;
    x->slot_free = i;
}

static void on_udp_recv(uworker *x, const struct io_uring_cqe *cqe)
{
    uint32_t slot = ud_slot(cqe->user_data);
    uep *e = slot < x->u->cfg.udp_endpoints_max ? &x->eps[slot] : NULL;
    bool valid = e && e->live && (e->id >> 16) == ud_gen(cqe->user_data);
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (valid && !more) {
        e->armed = false;
        want_rearm(x, cqe->user_data);
    }
    if (!(cqe->flags & IORING_CQE_F_BUFFER)) {
        x->st.no_buffers += cqe->res == -ENOBUFS;
        return;
    }
    uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    if (valid && cqe->res > 0) {
        uint8_t *buf = x->udp.mem + (size_t)bid * x->udp.size;
        struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, cqe->res, &e->msg);
        if (o != NULL && o->namelen >= sizeof(struct sockaddr_in)) {
            const struct sockaddr_in *src = io_uring_recvmsg_name(o);
            x->st.udp_truncated += (o->flags & MSG_TRUNC) != 0;
            tw_net_cpl c = {.kind = TW_NET_CPL_UDP_DATAGRAM,
                            .id = e->id,
                            .addr = ntohl(src->sin_addr.s_addr),
                            .port = ntohs(src->sin_port),
                            .local = e->local,
                            .lport = e->lport,
                            .data = io_uring_recvmsg_payload(o, &e->msg),
                            .len = io_uring_recvmsg_payload_length(o, cqe->res, &e->msg)};
            x->st.udp_rx++;
            x->st.udp_rx_bytes += c.len;
            input_cpl(x, &c);
        }
    }
    pool_recycle(&x->udp, bid);
}

/* ---- TCP ------------------------------------------------------------------- */

static uconn *conn_for(uworker *x, int64_t id)
{
    if (id < 0) {
        return NULL;
    }
    uint32_t slot = (uint32_t)id;
    if (slot >= x->u->cfg.tcp_conns_max) {
        return NULL;
    }
    uconn *c = &x->conns[slot];
    return c->live && c->id == id ? c : NULL;
}

static uint32_t conn_gen(const uconn *c)
{
    return (uint32_t)((uint64_t)c->id >> 32);
}
static uint32_t conn_index(uworker *x, const uconn *c)
{
    return (uint32_t)(c - x->conns);
}

static void tcp_arm_recv(uworker *x, uconn *c)
{
    struct io_uring_sqe *s = sqe_get(x);
    io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = BGID_TCP;
    io_uring_sqe_set_data64(s, ud_make(UD_TCP_RECV, conn_index(x, c), conn_gen(c)));
    c->recv_armed = true;
}

static void tcp_submit_send(uworker *x, uconn *c)
{
    TW_ASSERT(c->tx_flight == 0);
    TW_ASSERT(c->tx_len > 0);
    struct io_uring_sqe *s = sqe_get(x);
    io_uring_prep_send(s, c->fd, c->tx, c->tx_len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, ud_make(UD_TCP_SEND, conn_index(x, c), conn_gen(c)));
    c->tx_flight = c->tx_len;
}

/* Lets the socket go: held buffers back to the pool, the receive
 * cancelled, the fd closed. With rst, SO_LINGER 0 makes the close an RST
 * (RFC 9293 §3.10.5: ABORT). */
static void conn_release(uworker *x, uconn *c, bool rst)
{
    for (uint32_t b = c->rx_head; b != NONE; b = x->tcp.next[b]) {
        pool_recycle(&x->tcp, b);
    }
    c->rx_head = c->rx_tail = NONE;
    if (c->recv_armed) {
        cancel_ud(x, ud_make(UD_TCP_RECV, conn_index(x, c), conn_gen(c)));
    }
    if (c->connecting) {
        cancel_ud(x, ud_make(UD_CONNECT, conn_index(x, c), conn_gen(c)));
    }
    if (rst) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    close(c->fd);
    c->live = false;
}

static void conn_finish(uworker *x, uconn *c, tw_net_cpl_kind kind, int32_t result)
{
    if (kind == TW_NET_CPL_TCP_CLOSED) {
        x->st.tcp_closed++;
    } else {
        x->st.tcp_resets++;
    }
    push_cpl_kind(x, kind, c->id, result);
    conn_release(x, c, false);
}

static void maybe_closed(uworker *x, uconn *c)
{
    if (c->fin_sent && c->peer_eof) {
        conn_finish(x, c, TW_NET_CPL_TCP_CLOSED, 0);
    }
}

static void send_fin(uworker *x, uconn *c)
{
    c->fin_sent = true;
    if (shutdown(c->fd, SHUT_WR) < 0) {
        conn_finish(x, c, TW_NET_CPL_TCP_RESET, tw_from_errno(errno));
        return;
    }
    maybe_closed(x, c);
}

static void queue_data(uworker *x, uconn *c)
{
    if (!c->data_queued && c->rx_head != NONE) {
        c->data_queued = true;
        push_cpl_kind(x, TW_NET_CPL_TCP_DATA, c->id, 0);
    }
}

static void conn_open(uworker *x, int64_t id, int fd, bool connecting)
{
    uconn *c = &x->conns[(uint32_t)id];
    TW_ASSERT(!c->live);
    uint8_t *tx = c->tx;
    memset(c, 0, sizeof(*c));
    c->tx = tx;
    c->fd = fd;
    c->id = id;
    c->live = true;
    c->connecting = connecting;
    c->rx_head = c->rx_tail = NONE;
}

static void tcp_listen(uworker *x, const tw_net_req *r)
{
    TW_ASSERT(r->id >= 0 && r->id < (int64_t)x->u->cfg.tcp_listeners_max);
    ulis *l = &x->lis[r->id];
    TW_ASSERT(!l->live);
    int rc = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = sin_of(r->addr, r->port);
    if (fd < 0 || set_reuse(fd) < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(fd, (int)r->backlog) < 0) {
        rc = tw_from_errno(errno);
        if (fd >= 0) {
            close(fd);
        }
    } else {
        l->fd = fd;
        l->gen++;
        l->live = true;
        struct io_uring_sqe *s = sqe_get(x);
        io_uring_prep_multishot_accept(s, fd, NULL, NULL, SOCK_CLOEXEC);
        io_uring_sqe_set_data64(s, ud_make(UD_ACCEPT, (uint32_t)r->id, l->gen));
        l->armed = true;
    }
    push_cpl_kind(x, TW_NET_CPL_TCP_LISTENING, r->id, rc);
}

static void tcp_unlisten(uworker *x, int64_t id)
{
    ulis *l = &x->lis[id];
    if (!l->live) {
        return;
    }
    if (l->armed) {
        cancel_ud(x, ud_make(UD_ACCEPT, (uint32_t)id, l->gen));
    }
    close(l->fd);
    l->live = false;
    l->armed = false;
}

static void on_accept(uworker *x, const struct io_uring_cqe *cqe)
{
    uint32_t slot = ud_slot(cqe->user_data);
    ulis *l = slot < x->u->cfg.tcp_listeners_max ? &x->lis[slot] : NULL;
    bool valid = l && l->live && l->gen == ud_gen(cqe->user_data);
    if (valid && !(cqe->flags & IORING_CQE_F_MORE)) {
        l->armed = false;
        want_rearm(x, cqe->user_data);
    }
    if (cqe->res < 0) {
        return;
    }
    if (!valid) {
        close(cqe->res);
        return;
    }
    /* The worker answers with TCP_ACCEPT in the same drain: the socket
     * becomes a connection (or is closed) before the next CQE. */
    tw_net_cpl c = {.kind = TW_NET_CPL_TCP_ACCEPTED, .id = slot, .handle = (uint64_t)cqe->res};
    input_cpl(x, &c);
}

static void tcp_adopt(uworker *x, const tw_net_req *r)
{
    int fd = (int)r->handle;
    if (r->id < 0) {
        close(fd); /* refused by the worker: no listener or no room */
        return;
    }
    TW_ASSERT((uint32_t)r->id < x->u->cfg.tcp_conns_max);
    conn_open(x, r->id, fd, false);
    x->st.tcp_accepted++;
    tcp_arm_recv(x, &x->conns[(uint32_t)r->id]);
}

static void tcp_connect(uworker *x, const tw_net_req *r)
{
    TW_ASSERT(r->id >= 0 && (uint32_t)r->id < x->u->cfg.tcp_conns_max);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        push_cpl_kind(x, TW_NET_CPL_TCP_CONNECTED, r->id, tw_from_errno(errno));
        return;
    }
    conn_open(x, r->id, fd, true);
    uconn *c = &x->conns[(uint32_t)r->id];
    c->peer = sin_of(r->addr, r->port);
    struct io_uring_sqe *s = sqe_get(x);
    io_uring_prep_connect(s, fd, (struct sockaddr *)&c->peer, sizeof(c->peer));
    io_uring_sqe_set_data64(s, ud_make(UD_CONNECT, conn_index(x, c), conn_gen(c)));
}

static uconn *conn_of_cqe(uworker *x, const struct io_uring_cqe *cqe)
{
    uint32_t slot = ud_slot(cqe->user_data);
    if (slot >= x->u->cfg.tcp_conns_max) {
        return NULL;
    }
    uconn *c = &x->conns[slot];
    return c->live && conn_gen(c) == ud_gen(cqe->user_data) ? c : NULL;
}

static void on_connect(uworker *x, const struct io_uring_cqe *cqe)
{
    uconn *c = conn_of_cqe(x, cqe);
    if (c == NULL) {
        return;
    }
    c->connecting = false;
    if (cqe->res < 0) {
        push_cpl_kind(x, TW_NET_CPL_TCP_CONNECTED, c->id, tw_from_errno(-cqe->res));
        conn_release(x, c, false);
        return;
    }
    x->st.tcp_connected++;
    tcp_arm_recv(x, c);
    push_cpl_kind(x, TW_NET_CPL_TCP_CONNECTED, c->id, 0);
    /* What the task queued or closed while the handshake ran goes now. */
    if (c->tx_len > 0) {
        tcp_submit_send(x, c);
    } else if (c->fin_wanted) {
        send_fin(x, c);
    }
}

static void on_tcp_recv(uworker *x, const struct io_uring_cqe *cqe)
{
    uconn *c = conn_of_cqe(x, cqe);
    bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
    uint32_t bid = has_buf ? cqe->flags >> IORING_CQE_BUFFER_SHIFT : NONE;
    if (c == NULL) {
        if (has_buf) {
            pool_recycle(&x->tcp, bid);
        }
        return;
    }
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (!more) {
        c->recv_armed = false;
    }
    if (cqe->res > 0) {
        TW_ASSERT(has_buf);
        x->tcp.next[bid] = NONE;
        x->tcp.len[bid] = (uint32_t)cqe->res;
        if (c->rx_tail == NONE) {
            c->rx_head = bid;
        } else {
            x->tcp.next[c->rx_tail] = bid;
        }
        c->rx_tail = bid;
        x->st.tcp_rx_bytes += (uint64_t)cqe->res;
        queue_data(x, c);
        if (!more) {
            want_rearm(x, cqe->user_data);
        }
        return;
    }
    if (has_buf) {
        pool_recycle(&x->tcp, bid);
    }
    if (cqe->res == 0) {
        c->peer_eof = true;
        push_cpl_kind(x, TW_NET_CPL_TCP_PEER_CLOSED, c->id, 0);
        maybe_closed(x, c);
    } else if (cqe->res == -ENOBUFS) {
        x->st.no_buffers++;
        want_rearm(x, cqe->user_data);
    } else if (cqe->res != -ECANCELED) {
        conn_finish(x, c, TW_NET_CPL_TCP_RESET, tw_from_errno(-cqe->res));
    }
}

static void on_tcp_send(uworker *x, const struct io_uring_cqe *cqe)
{
    uconn *c = conn_of_cqe(x, cqe);
    if (c == NULL) {
        return;
    }
    if (cqe->res < 0) {
        conn_finish(x, c, TW_NET_CPL_TCP_RESET, tw_from_errno(-cqe->res));
        return;
    }
    uint32_t n = (uint32_t)cqe->res;
    TW_ASSERT(n <= c->tx_flight);
    x->st.tcp_tx_bytes += n;
    memmove(c->tx, c->tx + n, c->tx_len - n);
    c->tx_len -= n;
    c->tx_flight = 0;
    if (c->tx_len > 0) {
        tcp_submit_send(x, c);
    }
    if (c->blocked && c->tx_len < x->u->cfg.tcp_send_buf) {
        c->blocked = false;
        push_cpl_kind(x, TW_NET_CPL_TCP_WRITABLE, c->id, 0);
    }
    if (c->tx_len == 0 && c->fin_wanted && !c->fin_sent) {
        send_fin(x, c);
    }
}

static void tcp_send(uworker *x, const tw_net_req *r)
{
    uconn *c = conn_for(x, r->id);
    if (c == NULL || c->fin_wanted) {
        /* RFC 9293 §3.10.2: no SEND after our CLOSE. */
        tw_net_cpl cpl = {.kind = TW_NET_CPL_TCP_SENT,
                          .id = r->id,
                          .result = c == NULL ? -TW_ENOTCONN : -TW_ESTATE,
                          .cookie = r->cookie};
        push_cpl(x, &cpl);
        return;
    }
    uint32_t room = x->u->cfg.tcp_send_buf - c->tx_len;
    uint32_t n = r->len < room ? (uint32_t)r->len : room;
    memcpy(c->tx + c->tx_len, r->data, n);
    c->tx_len += n;
    c->blocked = n < r->len;
    tw_net_cpl cpl = {
        .kind = TW_NET_CPL_TCP_SENT, .id = r->id, .result = (int32_t)n, .cookie = r->cookie};
    push_cpl(x, &cpl);
    /* During the handshake the bytes wait in the buffer (RFC 9293 §3.10.2:
     * SEND in SYN-SENT is queued until ESTABLISHED). */
    if (c->tx_flight == 0 && c->tx_len > 0 && !c->connecting) {
        tcp_submit_send(x, c);
    }
}

static void tcp_consume(uworker *x, const tw_net_req *r)
{
    uconn *c = conn_for(x, r->id);
    if (c == NULL) {
        return;
    }
    uint64_t n = r->len;
    while (n > 0 && c->rx_head != NONE) {
        uint32_t b = c->rx_head;
        uint32_t left = x->tcp.len[b] - c->rx_off;
        uint32_t take = n < left ? (uint32_t)n : left;
        c->rx_off += take;
        n -= take;
        if (c->rx_off == x->tcp.len[b]) {
            c->rx_head = x->tcp.next[b];
            if (c->rx_head == NONE) {
                c->rx_tail = NONE;
            }
            c->rx_off = 0;
            pool_recycle(&x->tcp, b);
        }
    }
    /* As tw_tcp_consume: bytes still readable make another DATA. */
    queue_data(x, c);
}

static void tcp_close(uworker *x, int64_t id)
{
    uconn *c = conn_for(x, id);
    if (c == NULL || c->fin_wanted) {
        return;
    }
    c->fin_wanted = true;
    if (c->tx_len == 0 && !c->connecting) {
        send_fin(x, c);
    }
}

static void deliver_data(uworker *x, int64_t id)
{
    uconn *c = conn_for(x, id);
    if (c == NULL || !c->data_queued) {
        return;
    }
    c->data_queued = false;
    if (c->rx_head == NONE) {
        return;
    }
    uint32_t b = c->rx_head;
    tw_net_cpl cpl = {.kind = TW_NET_CPL_TCP_DATA,
                      .id = id,
                      .data = x->tcp.mem + (size_t)b * x->tcp.size + c->rx_off,
                      .len = x->tcp.len[b] - c->rx_off};
    input_cpl(x, &cpl);
}

static void perform(uworker *x, const tw_net_req *r)
{
    x->st.requests++;
    switch (r->op) {
    case TW_NET_UDP_BIND:
        udp_bind(x, r);
        return;
    case TW_NET_UDP_SEND:
        udp_send(x, r);
        return;
    case TW_NET_UDP_CLOSE:
        udp_close(x, r->id);
        return;
    case TW_NET_TCP_LISTEN:
        tcp_listen(x, r);
        return;
    case TW_NET_TCP_UNLISTEN:
        tcp_unlisten(x, r->id);
        return;
    case TW_NET_TCP_ACCEPT:
        tcp_adopt(x, r);
        return;
    case TW_NET_TCP_CONNECT:
        tcp_connect(x, r);
        return;
    case TW_NET_TCP_SEND:
        tcp_send(x, r);
        return;
    case TW_NET_TCP_CONSUME:
        tcp_consume(x, r);
        return;
    case TW_NET_TCP_CLOSE:
        tcp_close(x, r->id);
        return;
    case TW_NET_TCP_ABORT: {
        uconn *c = conn_for(x, r->id);
        if (c) {
            x->st.tcp_resets++;
            conn_release(x, c, true);
        }
        return;
    }
    case TW_NET_TCP_NODELAY: {
        uconn *c = conn_for(x, r->id);
        int on = r->len != 0;
        if (c) {
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        }
        return;
    }
    }
    TW_UNREACHABLE();
}

/* ---- the bus --------------------------------------------------------------- */

static void route_msg(uworker *x, const tw_msg *m)
{
    if (x->u->cfg.route) {
        /* Embedded: the world around the driver knows every endpoint,
         * this driver's own workers included (they come back by post). */
        x->u->cfg.route(x->u->cfg.ctx, m);
        x->st.bus_sent++;
        return;
    }
    uint32_t workers = x->u->cfg.workers;
    uint32_t first = 0;
    uint32_t n = tw_bus_fanout(m, workers, &first);
    if (n == 0 || first >= workers) {
        x->st.bus_refused++; /* the controller's: serve runs without one */
        return;
    }
    for (uint32_t t = first; t < first + n && t < workers; t++) {
        inbox *b = &x->u->ws[t].in[x->index];
        uint32_t tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
        uint32_t head = atomic_load_explicit(&b->head, memory_order_acquire);
        if (tail - head > b->mask) {
            x->st.bus_refused++; /* full: an explicit error, never a wait */
            continue;
        }
        b->slots[tail & b->mask] = *m;
        atomic_store_explicit(&b->tail, tail + 1, memory_order_release);
        x->st.bus_sent++;
        x->wake[t] = true;
    }
}

static void drain_inboxes(uworker *x)
{
    for (uint32_t s = 0; s < x->u->cfg.workers; s++) {
        inbox *b = &x->in[s];
        uint32_t head = atomic_load_explicit(&b->head, memory_order_relaxed);
        uint32_t tail = atomic_load_explicit(&b->tail, memory_order_acquire);
        for (; head != tail; head++) {
            tw_msg m = b->slots[head & b->mask];
            atomic_store_explicit(&b->head, head + 1, memory_order_release);
            tw_input in = {.kind = TW_IN_MSG, .msg = &m};
            tw_worker_on_input(&x->w, x->now, &in);
            drain(x);
            drain_answers(x);
            x->st.bus_received++;
        }
    }
}

/* Messages tw_uring_post queued from outside the driver. */
static void drain_posted(uworker *x)
{
    for (;;) {
        tw_msg m;
        pthread_mutex_lock(&x->post_mu);
        bool got = tw_ring_pop(&x->posted, &m);
        pthread_mutex_unlock(&x->post_mu);
        if (!got) {
            return;
        }
        tw_input in = {.kind = TW_IN_MSG, .msg = &m};
        tw_worker_on_input(&x->w, x->now, &in);
        drain(x);
        drain_answers(x);
        x->st.bus_received++;
    }
}

/* One MSG_RING per target with news this turn; our own inbox needs none. */
static void send_wakes(uworker *x)
{
    for (uint32_t t = 0; t < x->u->cfg.workers; t++) {
        if (!x->wake[t]) {
            continue;
        }
        x->wake[t] = false;
        if (t == x->index) {
            x->self_msgs = true;
            continue;
        }
        struct io_uring_sqe *s = sqe_get(x);
        io_uring_prep_msg_ring(s, x->u->ws[t].ring_fd, 0, ud_make(UD_WAKE, 0, 0), 0);
        io_uring_sqe_set_data64(s, ud_make(UD_IGNORE, 0, 0));
        io_uring_sqe_set_flags(s, IOSQE_CQE_SKIP_SUCCESS);
        x->st.wakeups++;
    }
}

/* ---- the loop -------------------------------------------------------------- */

static void on_cqe(uworker *x, const struct io_uring_cqe *cqe)
{
    x->st.cqes++;
    switch (ud_kind(cqe->user_data)) {
    case UD_UDP_RECV:
        on_udp_recv(x, cqe);
        return;
    case UD_UDP_SEND:
        on_udp_send(x, cqe);
        return;
    case UD_ACCEPT:
        on_accept(x, cqe);
        return;
    case UD_TCP_RECV:
        on_tcp_recv(x, cqe);
        return;
    case UD_TCP_SEND:
        on_tcp_send(x, cqe);
        return;
    case UD_CONNECT:
        on_connect(x, cqe);
        return;
    case UD_WAKE:
    case UD_IGNORE:
        return;
    }
}

/* Gives the worker the completions its requests made. A DATA redelivered
 * because a task consumed nothing waits for the next turn, so a task that
 * never consumes cannot hold the loop. */
static void deliver_cpls(uworker *x)
{
    for (uint32_t n = tw_ring_len(&x->cpls); n > 0; n--) {
        tw_net_cpl c;
        bool ok = tw_ring_pop(&x->cpls, &c);
        TW_ASSERT(ok);
        if (c.kind == TW_NET_CPL_TCP_DATA) {
            deliver_data(x, c.id);
        } else {
            input_cpl(x, &c);
        }
    }
}

static void rearm_all(uworker *x)
{
    uint32_t n = x->nrearm;
    x->nrearm = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t ud = x->rearm[i];
        uint32_t slot = ud_slot(ud);
        switch (ud_kind(ud)) {
        case UD_UDP_RECV: {
            uep *e = &x->eps[slot];
            if (e->live && !e->armed && (e->id >> 16) == ud_gen(ud)) {
                udp_arm(x, e);
                x->st.rearms++;
            }
            break;
        }
        case UD_ACCEPT: {
            ulis *l = &x->lis[slot];
            if (l->live && !l->armed && l->gen == ud_gen(ud)) {
                struct io_uring_sqe *s = sqe_get(x);
                io_uring_prep_multishot_accept(s, l->fd, NULL, NULL, SOCK_CLOEXEC);
                io_uring_sqe_set_data64(s, ud);
                l->armed = true;
                x->st.rearms++;
            }
            break;
        }
        case UD_TCP_RECV: {
            uconn *c = &x->conns[slot];
            if (c->live && !c->recv_armed && !c->peer_eof && conn_gen(c) == ud_gen(ud)) {
                tcp_arm_recv(x, c);
                x->st.rearms++;
            }
            break;
        }
        default:
            TW_UNREACHABLE();
        }
    }
}

static void turn(uworker *x)
{
    x->now = clock_ns();
    x->st.turns++;
    struct io_uring_cqe *cqe;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&x->ring, head, cqe)
    {
        on_cqe(x, cqe);
        seen++;
    }
    io_uring_cq_advance(&x->ring, seen);
    x->turn_cqes = seen;
    deliver_cpls(x);
    drain_inboxes(x);
    if (x->u->cfg.route) {
        drain_posted(x);
    }
    if (tw_worker_next_deadline(&x->w) <= x->now) {
        tw_worker_on_tick(&x->w, x->now);
        drain(x);
        drain_answers(x);
    }
    deliver_cpls(x);
    pool_publish(&x->udp);
    pool_publish(&x->tcp);
    rearm_all(x);
    send_wakes(x);
}

/* Submits the turn's SQEs and sleeps until there is something to do. A
 * UDP send completes during the submit itself (the datagram is copied into
 * the socket then), so waiting for one CQE would return at once for it and
 * cost a second io_uring_enter per echoed datagram; waiting for one more
 * than the sends submitted sleeps until real news instead, and the sends'
 * CQEs are taken with it. */
static void wait_turn(uworker *x)
{
    x->st.submits++;
    unsigned want = 1 + x->udp_sends;
    x->udp_sends = 0;
    if (!tw_ring_empty(&x->cpls) || x->self_msgs) {
        x->self_msgs = false;
        io_uring_submit(&x->ring);
        return;
    }
    if (x->turn_cqes >= BUSY_CQES) {
        x->empty_polls = 0;
    } else if (x->turn_cqes == 0 && x->empty_polls < BUSY_EMPTY_POLLS) {
        x->empty_polls++;
    } else {
        x->empty_polls = BUSY_EMPTY_POLLS; /* a quiet stretch: sleep */
    }
    if (x->empty_polls < BUSY_EMPTY_POLLS) {
        x->st.busy_polls++;
        io_uring_submit_and_get_events(&x->ring);
        return;
    }
    tw_ns d = tw_worker_next_deadline(&x->w);
    if (d == TW_NS_NEVER) {
        io_uring_submit_and_wait(&x->ring, want);
        return;
    }
    tw_ns wait = d > x->now ? d - x->now : 0;
    struct __kernel_timespec ts = {.tv_sec = (long long)(wait / 1000000000ull),
                                   .tv_nsec = (long long)(wait % 1000000000ull)};
    struct io_uring_cqe *cqe;
    io_uring_submit_and_wait_timeout(&x->ring, &cqe, want, &ts, NULL);
}

/* At the end: the sends the last wait did not wait for are complete
 * already (their CQEs were posted during the submit); count them. */
static void reap_sends(uworker *x)
{
    struct io_uring_cqe *cqe;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&x->ring, head, cqe)
    {
        if (ud_kind(cqe->user_data) == UD_UDP_SEND) {
            on_udp_send(x, cqe);
        }
        seen++;
    }
    io_uring_cq_advance(&x->ring, seen);
}

static int ring_setup(uworker *x)
{
    const tw_uring_config *cfg = &x->u->cfg;
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
                                         IORING_SETUP_DEFER_TASKRUN,
                                .cq_entries = cfg->ring_entries * 4};
    int rc = io_uring_queue_init_params(cfg->ring_entries, &x->ring, &p);
    if (rc == -EINVAL) {
        /* Kernels before 6.1 lack DEFER_TASKRUN: cooperative task running
         * is the next best (no IPI per completion). */
        p = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN,
                                     .cq_entries = cfg->ring_entries * 4};
        rc = io_uring_queue_init_params(cfg->ring_entries, &x->ring, &p);
    }
    if (rc < 0) {
        snprintf(x->err, sizeof(x->err), "worker %u: io_uring_queue_init: %s", x->index,
                 strerror(-rc));
        return -1;
    }
    x->ring_ok = true;
    x->ring_fd = x->ring.ring_fd; /* the real fd: other threads' MSG_RING target */
    /* Every io_uring_enter then skips the fd lookup; optional (5.18). */
    io_uring_register_ring_fd(&x->ring);
    if ((rc = pool_register(x, &x->udp)) < 0 || (rc = pool_register(x, &x->tcp)) < 0) {
        snprintf(x->err, sizeof(x->err),
                 "worker %u: provided buffer ring (IORING_REGISTER_PBUF_RING): %s", x->index,
                 strerror(-rc));
        return -1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    uworker *x = arg;
    tw_uring *u = x->u;
    int cpu = u->cfg.cpus[x->index];
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
        if (rc != 0) {
            snprintf(x->err, sizeof(x->err), "worker %u: pinning to CPU %d: %s", x->index, cpu,
                     strerror(rc));
            atomic_store(&u->failed, 1);
        }
    }
    if (!atomic_load(&u->failed) && u->cfg.thread_init &&
        u->cfg.thread_init(u->cfg.ctx, x->index, x->err, sizeof(x->err)) != 0) {
        atomic_store(&u->failed, 1);
    }
    if (!atomic_load(&u->failed) && ring_setup(x) < 0) {
        atomic_store(&u->failed, 1);
    }
    pthread_barrier_wait(&u->ready);
    /* Every ring exists now (or the start failed): spawn, then run. */
    x->now = clock_ns();
    for (uint32_t i = 0; !atomic_load(&u->failed) && i < x->nspawns; i++) {
        int64_t rc = tw_worker_spawn(&x->w, x->now, x->spawns[i].type, 0, x->spawns[i].args,
                                     x->spawns[i].len);
        if (rc < 0) {
            snprintf(x->err, sizeof(x->err), "worker %u: spawning task type %u: %s", x->index,
                     x->spawns[i].type, tw_strerror((int)rc));
            atomic_store(&u->failed, 1);
        }
        drain(x);
        drain_answers(x);
    }
    pthread_barrier_wait(&u->ready);
    bool embedded = u->cfg.route != NULL;
    while (!atomic_load_explicit(&u->stop, memory_order_relaxed) && !atomic_load(&u->failed)) {
        if (embedded) {
            pthread_mutex_lock(&x->hold);
        }
        turn(x);
        if (embedded) {
            pthread_mutex_unlock(&x->hold);
        }
        wait_turn(x);
    }
    reap_sends(x);
    return NULL;
}

/* ---- life cycle ------------------------------------------------------------ */

static uint32_t pow2(uint32_t n)
{
    uint32_t p = 1;
    while (p < n) {
        p <<= 1;
    }
    return p;
}

static void pool_alloc(bufpool *p, uint16_t bgid, uint32_t count, uint32_t size, bool chained)
{
    p->bgid = bgid;
    p->count = pow2(count);
    p->size = size;
    p->mem = aligned_alloc(4096, (size_t)p->count * size);
    TW_ASSERT(p->mem != NULL);
    /* Touched now, so the loop takes no page faults on them. */
    memset(p->mem, 0, (size_t)p->count * size);
    if (chained) {
        p->next = calloc(p->count, sizeof(uint32_t));
        p->len = calloc(p->count, sizeof(uint32_t));
        TW_ASSERT(p->next && p->len);
    }
}

static uint32_t state_max(const tw_task_registry *reg)
{
    uint32_t m = 0;
    for (uint32_t i = 0; i < reg->count; i++) {
        m = reg->types[i]->state_size > m ? reg->types[i]->state_size : m;
    }
    return m;
}

static void worker_alloc(tw_uring *u, uworker *x, uint32_t index)
{
    const tw_uring_config *cfg = &u->cfg;
    x->u = u;
    x->index = index;
    tw_worker_config wc = {.id = cfg->id_base + index,
                           .max_tasks = cfg->max_tasks,
                           .task_state_max = cfg->task_state_max,
                           .outq_max = 64,
                           .seed = cfg->seed,
                           .registry = cfg->registry,
                           .kernel_net = true,
                           .net_endpoints_max = cfg->udp_endpoints_max,
                           .tcp_conns_max = cfg->tcp_conns_max,
                           .tcp_listeners_max = cfg->tcp_listeners_max};
    tw_worker_init(&x->w, &wc, clock_ns());
    pool_alloc(&x->udp, BGID_UDP, cfg->udp_bufs, cfg->udp_buf_size, false);
    pool_alloc(&x->tcp, BGID_TCP, cfg->tcp_bufs, cfg->tcp_buf_size, true);
    x->eps = calloc(cfg->udp_endpoints_max, sizeof(uep));
    x->lis = calloc(cfg->tcp_listeners_max, sizeof(ulis));
    x->conns = calloc(cfg->tcp_conns_max, sizeof(uconn));
    x->tx_mem = calloc(cfg->tcp_conns_max, cfg->tcp_send_buf);
    x->slots = calloc(cfg->udp_send_slots, sizeof(sendslot));
    x->slot_mem = calloc(cfg->udp_send_slots, cfg->udp_buf_size);
    TW_ASSERT(x->eps && x->lis && x->conns && x->tx_mem && x->slots && x->slot_mem);
    for (uint32_t i = 0; i < cfg->tcp_conns_max; i++) {
        x->conns[i].tx = x->tx_mem + (size_t)i * cfg->tcp_send_buf;
    }
    for (uint32_t i = 0; i < cfg->udp_send_slots; i++) {
        x->slots[i].next = i + 1 < cfg->udp_send_slots ? i + 1 : NONE;
    }
    x->slot_free = 0;
    /* Every request makes at most one completion, and a turn's requests are
     * bounded by the objects there are; the rest is headroom. */
    tw_ring_init(&x->cpls, 4 * (cfg->tcp_conns_max + cfg->udp_endpoints_max) + 1024,
                 sizeof(tw_net_cpl));
    tw_ring_init(&x->answers, cfg->tcp_conns_max + cfg->udp_endpoints_max + 1024,
                 sizeof(tw_net_cpl));
    x->rearm_max = cfg->udp_endpoints_max + cfg->tcp_conns_max + cfg->tcp_listeners_max;
    x->rearm = calloc(x->rearm_max, sizeof(uint64_t));
    x->in = calloc(cfg->workers, sizeof(inbox));
    x->wake = calloc(cfg->workers, sizeof(bool));
    TW_ASSERT(x->rearm && x->in && x->wake);
    for (uint32_t s = 0; s < cfg->workers; s++) {
        uint32_t cap = pow2(cfg->bus_queue);
        x->in[s].mask = cap - 1;
        x->in[s].slots = calloc(cap, sizeof(tw_msg));
        TW_ASSERT(x->in[s].slots != NULL);
    }
    pthread_mutex_init(&x->hold, NULL);
    pthread_mutex_init(&x->post_mu, NULL);
    tw_ring_init(&x->posted, cfg->route ? (cfg->post_max ? cfg->post_max : cfg->bus_queue) : 1,
                 sizeof(tw_msg));
}

int tw_uring_create(tw_uring **out, const tw_uring_config *cfg_in, char *err, size_t err_len)
{
    tw_uring_config cfg = *cfg_in;
    if (cfg.workers == 0 || cfg.workers > TW_URING_WORKERS_MAX) {
        snprintf(err, err_len, "workers must be 1..%d, got %u", TW_URING_WORKERS_MAX, cfg.workers);
        return -1;
    }
    if (cfg.registry == NULL || cfg.udp_buf_size < 256 || cfg.tcp_buf_size < 256 ||
        cfg.udp_send_slots == 0 || cfg.tcp_send_buf == 0 || cfg.bus_queue == 0 ||
        cfg.udp_bufs > 32768 || cfg.tcp_bufs > 32768 || cfg.udp_endpoints_max > 0x10000u ||
        cfg.tcp_conns_max > 0xffffffu || cfg.udp_send_slots > 0xffffffu) {
        snprintf(err, err_len, "bad uring configuration (buffer sizes, counts or registry)");
        return -1;
    }
    if (cfg.task_state_max == 0) {
        cfg.task_state_max = state_max(cfg.registry);
    }
    if (cfg.route && (uint64_t)cfg.id_base + cfg.workers > TW_ENDPOINTS_MAX) {
        snprintf(err, err_len, "worker endpoints %u..%u are past the bus's %u", cfg.id_base,
                 cfg.id_base + cfg.workers - 1, TW_ENDPOINTS_MAX - 1);
        return -1;
    }
    tw_uring *u = calloc(1, sizeof(*u));
    TW_ASSERT(u != NULL);
    u->cfg = cfg;
    pthread_mutex_init(&u->ctl_mu, NULL);
    u->ws = calloc(cfg.workers, sizeof(uworker));
    TW_ASSERT(u->ws != NULL);
    for (uint32_t i = 0; i < cfg.workers; i++) {
        worker_alloc(u, &u->ws[i], i);
    }
    *out = u;
    return 0;
}

int tw_uring_spawn(tw_uring *u, uint32_t w, uint32_t type, const void *args, uint32_t len)
{
    if (w >= u->cfg.workers || u->ws[w].nspawns == TW_URING_SPAWNS_MAX || len > TW_SPAWN_ARGS_MAX ||
        u->started) {
        return -1;
    }
    spawn_req *s = &u->ws[w].spawns[u->ws[w].nspawns++];
    s->type = type;
    s->len = len;
    if (len) {
        memcpy(s->args, args, len);
    }
    return 0;
}

int tw_uring_start(tw_uring *u, char *err, size_t err_len)
{
    TW_ASSERT(!u->started);
    /* Made now, not at stop: a stop that could not wake its workers would
     * wait for them forever. */
    int rc = io_uring_queue_init(8, &u->ctl, 0);
    if (rc < 0) {
        snprintf(err, err_len, "io_uring_queue_init (the stopper's ring): %s", strerror(-rc));
        return -1;
    }
    u->ctl_ok = true;
    u->started = true;
    pthread_barrier_init(&u->ready, NULL, u->cfg.workers + 1);
    for (uint32_t i = 0; i < u->cfg.workers; i++) {
        uworker *x = &u->ws[i];
        if (pthread_create(&x->thread, NULL, worker_main, x) != 0) {
            /* The barrier counts on every thread: without one, give up
             * before anyone waits forever. */
            tw_panic(__FILE__, __LINE__, "pthread_create failed");
        }
        x->thread_ok = true;
    }
    pthread_barrier_wait(&u->ready); /* rings set up */
    pthread_barrier_wait(&u->ready); /* tasks spawned */
    if (atomic_load(&u->failed)) {
        tw_uring_stop(u);
        for (uint32_t i = 0; i < u->cfg.workers; i++) {
            if (u->ws[i].err[0]) {
                snprintf(err, err_len, "%s", u->ws[i].err);
                break;
            }
        }
        return -1;
    }
    return 0;
}

void tw_uring_stop(tw_uring *u)
{
    if (!u->started || u->stopped) {
        return;
    }
    pthread_mutex_lock(&u->ctl_mu); /* a post may be using the ring */
    u->stopped = true;
    atomic_store(&u->stop, 1);
    /* Wake every worker from its wait with a MSG_RING from a ring of our
     * own; a worker that is busy sees the flag at its next turn. */
    for (uint32_t i = 0; i < u->cfg.workers; i++) {
        if (!u->ws[i].ring_ok) {
            continue;
        }
        struct io_uring_sqe *s = io_uring_get_sqe(&u->ctl);
        if (s == NULL) {
            io_uring_submit(&u->ctl);
            s = io_uring_get_sqe(&u->ctl);
            TW_ASSERT(s != NULL);
        }
        io_uring_prep_msg_ring(s, u->ws[i].ring_fd, 0, ud_make(UD_WAKE, 0, 0), 0);
        io_uring_sqe_set_flags(s, IOSQE_CQE_SKIP_SUCCESS);
    }
    io_uring_submit(&u->ctl);
    pthread_mutex_unlock(&u->ctl_mu);
    for (uint32_t i = 0; i < u->cfg.workers; i++) {
        if (u->ws[i].thread_ok) {
            pthread_join(u->ws[i].thread, NULL);
        }
    }
}

void tw_uring_stats_get(const tw_uring *u, uint32_t w, tw_uring_stats *out)
{
    TW_ASSERT(w < u->cfg.workers);
    *out = u->ws[w].st;
}

const tw_worker_status *tw_uring_worker_status(const tw_uring *u, uint32_t w)
{
    TW_ASSERT(w < u->cfg.workers);
    return tw_worker_status_get(&u->ws[w].w);
}

void tw_uring_report(tw_uring *u, uint32_t w, tw_metric_sink *sink)
{
    TW_ASSERT(w < u->cfg.workers);
    tw_worker *wk = &u->ws[w].w;
    for (uint32_t s = tw_bit_next(wk->live, wk->cfg.max_tasks, 0); s != UINT32_MAX;
         s = tw_bit_next(wk->live, wk->cfg.max_tasks, s + 1)) {
        tw_task *t = &wk->tasks[s];
        if (t->ops->report) {
            t->ops->report(t, sink);
        }
    }
}

static void pool_free(bufpool *p)
{
    if (p->br) {
        munmap(p->br, p->br_bytes);
    }
    free(p->mem);
    free(p->next);
    free(p->len);
}

void tw_uring_destroy(tw_uring *u)
{
    tw_uring_stop(u);
    for (uint32_t i = 0; i < u->cfg.workers; i++) {
        uworker *x = &u->ws[i];
        for (uint32_t e = 0; e < u->cfg.udp_endpoints_max; e++) {
            if (x->eps[e].live) {
                close(x->eps[e].fd);
            }
        }
        for (uint32_t l = 0; l < u->cfg.tcp_listeners_max; l++) {
            if (x->lis[l].live) {
                close(x->lis[l].fd);
            }
        }
        for (uint32_t c = 0; c < u->cfg.tcp_conns_max; c++) {
            if (x->conns[c].live) {
                close(x->conns[c].fd);
            }
        }
        if (x->ring_ok) {
            io_uring_queue_exit(&x->ring);
        }
        pool_free(&x->udp);
        pool_free(&x->tcp);
        tw_worker_free(&x->w);
        tw_ring_free(&x->cpls);
        tw_ring_free(&x->answers);
        for (uint32_t s = 0; s < u->cfg.workers; s++) {
            free(x->in[s].slots);
        }
        free(x->in);
        free(x->wake);
        free(x->rearm);
        free(x->eps);
        free(x->lis);
        free(x->conns);
        free(x->tx_mem);
        free(x->slots);
        free(x->slot_mem);
        tw_ring_free(&x->posted);
        pthread_mutex_destroy(&x->hold);
        pthread_mutex_destroy(&x->post_mu);
    }
    if (u->started) {
        pthread_barrier_destroy(&u->ready);
    }
    if (u->ctl_ok) {
        io_uring_queue_exit(&u->ctl);
    }
    pthread_mutex_destroy(&u->ctl_mu);
    free(u->ws);
    free(u);
}

/* ---- embedded use ---------------------------------------------------------- */

int tw_uring_post(tw_uring *u, uint32_t w, const tw_msg *m)
{
    TW_ASSERT(u->cfg.route != NULL);
    TW_ASSERT(w < u->cfg.workers);
    TW_ASSERT(u->started);
    uworker *x = &u->ws[w];
    pthread_mutex_lock(&x->post_mu);
    int rc = tw_ring_push(&x->posted, m);
    pthread_mutex_unlock(&x->post_mu);
    if (rc < 0) {
        return -1;
    }
    /* The worker may be asleep in its wait: a CQE on its ring ends it.
     * After stop no worker reads its queue; the message is only queued. */
    pthread_mutex_lock(&u->ctl_mu);
    if (!u->stopped) {
        struct io_uring_sqe *s = io_uring_get_sqe(&u->ctl);
        if (s == NULL) {
            io_uring_submit(&u->ctl);
            s = io_uring_get_sqe(&u->ctl);
            TW_ASSERT(s != NULL);
        }
        io_uring_prep_msg_ring(s, x->ring_fd, 0, ud_make(UD_WAKE, 0, 0), 0);
        io_uring_sqe_set_flags(s, IOSQE_CQE_SKIP_SUCCESS);
        io_uring_submit(&u->ctl);
    }
    pthread_mutex_unlock(&u->ctl_mu);
    return 0;
}

void tw_uring_hold(tw_uring *u, bool on)
{
    TW_ASSERT(u->cfg.route != NULL);
    for (uint32_t i = 0; i < u->cfg.workers; i++) {
        if (on) {
            pthread_mutex_lock(&u->ws[i].hold);
        } else {
            pthread_mutex_unlock(&u->ws[i].hold);
        }
    }
}

tw_worker *tw_uring_worker(tw_uring *u, uint32_t w)
{
    TW_ASSERT(w < u->cfg.workers);
    return &u->ws[w].w;
}
