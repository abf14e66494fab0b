/* The live driver: see live.h.
 *
 * IMPLEMENTATION NOTES
 *
 * Threads. One per twin host core (lcore), plus the caller's (controller,
 * faults). An lcore holds its `turn` mutex while it works and releases it
 * before blocking, so tw_live_lock can stop the world between turns to
 * read counters that only the lcore writes.
 *
 * Ports. A twin host's interface: its devices, the model of the direction
 * leaving it (out, always) and of the direction entering it (in, only when
 * the far end is not a twin host: otherwise the sender's out already ran
 * the model). The devices: one per receive queue where the interface has
 * several (xdp over a veth made with a queue per core of the link's
 * largest twin host: an AF_XDP socket on each), else one. Queue j is read
 * by core j % cores; core k transmits on queue k % queues (its own, where
 * there is one per core). A port's mutex covers its devices and its two
 * models. A frame a core transmits goes through `out` at once and leaves
 * when due: at once for a link without delay, else core 0 releases it at
 * the model's deadline (woken if the deadline came earlier than it
 * planned).
 *
 * Steering. Each core takes up to RX_BUDGET frames per queue it reads and
 * turn, runs `in` where there is one (releasing what it has due, under the
 * port's release lock, which keeps the model's order across cores), drops
 * frames cut by a partition, and hands each frame to its core: another
 * core's through that core's bounded frame ring (full: counted drop; every
 * such hand-off counted as a re-steer), woken once per batch, before it
 * feeds its own worker the batch's frames for it. The interface's choice
 * of queue (veth: the peer's transmit queue, by Linux's flow hash) is not
 * the simulator's Toeplitz hash, so a flow still lands on the same core in
 * both worlds, and never on two.
 *
 * Sleeping. After its turn a core announces `asleep`, looks at its
 * mailbox and frame ring once more and blocks in ppoll. Whoever
 * fills those writes the core's eventfd only when it is asleep: the store
 * of `asleep` and the pusher's store into the queue are each followed by
 * a full fence before the other side's load (Dekker), so either the
 * sleeper sees the work or the pusher sees the sleeper. Wake-ups for
 * anything else (a link's deadline moved, a fault, a restart, the stop)
 * are written always. NOTE: busy-polling for 50 us before sleeping was
 * measured and left out: on the shared 2-CPU VM it cost a third more CPU
 * per HTTP request and fewer requests/s (bench/live_http.sh), the spinning
 * thread taking the CPU that wrk and the kernel's softirq work needed. */
#define _GNU_SOURCE
#include "backends/live/live.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends/live/kernhost.h"
#include "backends/live/netns.h"
#include "base/assert.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/ring.h"
#include "wire/ethernet.h"
#include "wire/rss.h"

#define MAILBOX_MAX 4096  /* bus messages waiting per endpoint */
#define FRAME_RING_MAX 4096 /* steered frames waiting per core */
#define RX_BUDGET 256     /* frames a core takes from a device per turn */
#define PROGRAMS_MAX 64

typedef struct mailbox {
    pthread_mutex_t mu;
    tw_ring ring; /* tw_msg */
    uint64_t drops;
    uint32_t high;
} mailbox;

/* One receive queue of a port's interface and the device on it. */
typedef struct port_queue {
    tw_dev *dev;
    bool queued; /* tx since the last flush (atomic outside the mutex) */
} port_queue;

typedef struct port {
    const tw_dev_ops *ops;
    port_queue q[TW_DEV_QUEUES_MAX]; /* queue j is read by core j % ncores */
    uint32_t nq;
    pthread_mutex_t mu;
    pthread_mutex_t rmu; /* releasing from `in`: taken before mu, never inside it */
    tw_link *out; /* the direction leaving this interface */
    tw_link *in;  /* the direction entering it, when the far end is not twin */
    uint32_t link;
    uint32_t out_dir;
    uint64_t tx_drops;
    char ifname[TW_NETNS_NAME_MAX];
} port;

struct lhost;

typedef struct lcore {
    struct tw_live *l;
    struct lhost *h;
    uint32_t core;
    uint32_t id; /* worker id */
    int cpu;     /* -1: not pinned */
    tw_worker worker;
    tw_stack *stack;
    pthread_t th;
    bool started;
    pthread_mutex_t turn;
    mailbox box;
    pthread_mutex_t fmu;
    tw_ring frames; /* steered frames: uint32_t iface, uint32_t len, bytes */
    uint32_t frame_elem;
    uint64_t frame_drops;
    int efd;
    _Atomic bool asleep; /* in (or about to enter) ppoll: pushers must write efd */
    bool *wakes;         /* per core: this core pushed it frames in this batch */
    uint64_t resteers;   /* frames it took that it handed to the core owning them */
    uint8_t *own;        /* TW_DEV_BATCH frames (uint32_t len, bytes) released for it */
    uint64_t busy_ns;
    uint64_t inputs;
    uint64_t turns;
    uint8_t *scratch; /* one steered frame, popped */
    tw_ns stall_until; /* a stall fault: no turn before then (atomic) */
} lcore;

typedef struct lhost {
    char ns[TW_NETNS_NAME_MAX];
    bool twin;
    bool ns_made;
    tw_world_host_config hc; /* for a restart: the same cores again */
    bool up;                 /* false between a crash and its restart */
    uint32_t incarnation;
    uint32_t crashes;
    uint64_t down_drops; /* frames that reached it while it was down */
    tw_rss rss;
    lcore *cores;
    uint32_t ncores;
    port *ports;
    uint32_t nports;
    tw_kernhost *kh; /* a kernel host's task workers; NULL: it runs none */
    uint32_t kbase;  /* their first worker id */
    uint32_t kcores;
} lhost;

/* The forwarding element of an impaired link with no twin end (kernel to
 * kernel, kernel to switch): a namespace between the link's two ends with
 * a veth towards each, and a thread that reads both with the poll device
 * and runs the link's two models on the frames (these kernels have no
 * netem). */
typedef struct fwd {
    struct tw_live *l;
    uint32_t link;
    char ns[TW_NETNS_NAME_MAX];
    bool ns_made;
    const tw_dev_ops *ops;
    tw_dev *dev[2];    /* dev[e] faces the link's end e */
    tw_link *model[2]; /* model[d]: direction d, read on dev[d], sent on dev[1 - d] */
    uint64_t tx_drops;
    pthread_mutex_t mu; /* held during a turn (tw_live_lock, faults) */
    pthread_t th;
    bool started;
    int efd;
} fwd;

struct tw_live {
    tw_live_config cfg;
    const tw_scenario *sc;
    char run[16];
    lhost *hosts;
    char (*switch_ns)[TW_NETNS_NAME_MAX];
    bool *switch_made;
    uint32_t nworkers;
    lcore **workers; /* by worker id, 0..nworkers-1 */
    uint32_t nendpoints; /* workers, then the kernel hosts' task workers */
    uint32_t *kernel_host; /* by worker id - nworkers: the kernel host */
    _Atomic uint64_t kernel_post_drops; /* messages a kernel host's worker refused */
    tw_controller ctl;
    bool ctl_made;
    mailbox ctl_box;
    int ctl_efd;
    struct timespec t0;
    _Atomic bool stop;
    bool *part_active; /* per scenario fault: a partition in force, a link fault applied */
    uint8_t *fault_done; /* per scenario fault: 1 started, 2 ended (crash, stall, clog) */
    pid_t programs[PROGRAMS_MAX];
    uint32_t nprograms;
    uint64_t partition_drops;
    bool partitions; /* the scenario has partition faults: frames are checked */
    fwd **fwds; /* per link; NULL where no forwarding element is needed */
};

static volatile sig_atomic_t interrupted;

void tw_live_interrupt(void) { interrupted = 1; }
bool tw_live_interrupted(void) { return interrupted != 0; }

/* ---- time and wake-ups ------------------------------------------------------ */

tw_ns tw_live_now(const tw_live *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)(ts.tv_sec - l->t0.tv_sec) * 1000000000 + (ts.tv_nsec - l->t0.tv_nsec);
    return ns > 0 ? (tw_ns)ns : 0;
}

static void wake(int efd)
{
    uint64_t one = 1;
    ssize_t k = write(efd, &one, sizeof one);
    (void)k; /* a full counter still wakes the reader */
}

/* Wakes core c if it sleeps, after its mailbox or frame ring got work (see
 * Sleeping in the notes above). */
static void wake_core(lcore *c)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&c->asleep, memory_order_relaxed)) {
        wake(c->efd);
    }
}

static void drain_efd(int efd)
{
    uint64_t v;
    ssize_t k = read(efd, &v, sizeof v);
    (void)k;
}

/* Blocks until `next` (ns since start; TW_NS_NEVER: no deadline), at most
 * `cap` ns, or until one of the fds is readable. pfd[0] is the caller's
 * eventfd: work that arrived while it was busy is already counted there,
 * so no wake-up is lost between its last look and this wait. */
static void wait_until(const tw_live *l, struct pollfd *pfd, nfds_t n, tw_ns next, tw_ns cap)
{
    tw_ns now = tw_live_now(l);
    if (next <= now) {
        return;
    }
    tw_ns wait = next == TW_NS_NEVER ? cap : next - now < cap ? next - now : cap;
    struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
    if (ppoll(pfd, n, wait == TW_NS_NEVER ? NULL : &ts, NULL) > 0 && (pfd[0].revents & POLLIN)) {
        drain_efd(pfd[0].fd);
    }
}

static void mailbox_init(mailbox *mb)
{
    pthread_mutex_init(&mb->mu, NULL);
    tw_ring_init(&mb->ring, MAILBOX_MAX, sizeof(tw_msg));
}

static bool mailbox_push(mailbox *mb, const tw_msg *m)
{
    pthread_mutex_lock(&mb->mu);
    bool ok = tw_ring_push(&mb->ring, m) == 0;
    if (!ok) {
        mb->drops++;
    } else if (tw_ring_len(&mb->ring) > mb->high) {
        mb->high = tw_ring_len(&mb->ring);
    }
    pthread_mutex_unlock(&mb->mu);
    return ok;
}

static bool mailbox_pop(mailbox *mb, tw_msg *m)
{
    pthread_mutex_lock(&mb->mu);
    bool ok = tw_ring_pop(&mb->ring, m);
    pthread_mutex_unlock(&mb->mu);
    return ok;
}

/* A bus message to its endpoints: the controller or workers. */
static void route_msg(tw_live *l, const tw_msg *m, uint32_t self)
{
    uint32_t first;
    uint32_t n = tw_bus_fanout(m, l->nendpoints, &first);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ep = first + i;
        if (ep == TW_ENDPOINT_CONTROLLER) {
            if (mailbox_push(&l->ctl_box, m)) {
                wake(l->ctl_efd);
            }
            continue;
        }
        if (ep >= l->nworkers) {
            lhost *kh = &l->hosts[l->kernel_host[ep - l->nworkers]];
            if (!tw_kernhost_post(kh->kh, ep - kh->kbase, m)) {
                atomic_fetch_add(&l->kernel_post_drops, 1); /* down, or its queue full */
            }
            continue;
        }
        lcore *c = l->workers[ep];
        if (mailbox_push(&c->box, m) && ep != self) {
            wake_core(c);
        }
    }
}

/* A message a kernel host's task worker sends (on its thread). */
static void kernel_route(void *ctx, const tw_msg *m)
{
    tw_live *l = ctx;
    route_msg(l, m, UINT32_MAX);
}

/* ---- partitions -------------------------------------------------------------- */

static uint32_t host_of_mac(const tw_live *l, const uint8_t *mac)
{
    for (uint32_t h = 0; h < l->sc->host_count; h++) {
        const tw_scenario_host *sh = &l->sc->hosts[h];
        for (uint32_t f = 0; f < sh->iface_count; f++) {
            if (memcmp(sh->ifaces[f].mac, mac, 6) == 0) {
                return h;
            }
        }
    }
    return TW_SCENARIO_NONE;
}

static bool in_side(const uint32_t *side, uint32_t n, uint32_t h)
{
    for (uint32_t i = 0; i < n; i++) {
        if (side[i] == h) {
            return true;
        }
    }
    return false;
}

/* Whether an active partition cuts frames from host `from` to host `to`. */
static bool cut(const tw_live *l, uint32_t from, uint32_t to)
{
    if (from == TW_SCENARIO_NONE || to == TW_SCENARIO_NONE) {
        return false;
    }
    for (uint32_t i = 0; i < l->sc->fault_count; i++) {
        const tw_scenario_fault *f = &l->sc->faults[i];
        if (!__atomic_load_n(&l->part_active[i], __ATOMIC_RELAXED)) {
            continue;
        }
        if (in_side(f->side_a, f->side_a_count, from) && in_side(f->side_b, f->side_b_count, to)) {
            return true;
        }
        if (!f->oneway && in_side(f->side_b, f->side_b_count, from) &&
            in_side(f->side_a, f->side_a_count, to)) {
            return true;
        }
    }
    return false;
}

/* ---- transmission ---------------------------------------------------------- */

/* Threads read the clock at the start of their turns, so a port's models
 * may see a `now` older than one another core already gave them: time on a
 * model never goes back (core/link's obligation), it waits for the later
 * reading. The port's mutex is held. */
static tw_ns model_now(const tw_link *m, tw_ns now)
{
    return m && m->now > now ? m->now : now;
}

/* The queue core `core` transmits on: its own where the interface has a
 * queue per core, else the one device every core shares. */
static port_queue *tx_queue(port *p, uint32_t core)
{
    return &p->q[core % p->nq];
}

/* Sends what `out` has due on the caller's queue; the port's mutex is
 * held. A popped frame stays valid only until the next pop, so frames
 * leave one by one. */
static void port_flush(port *p, tw_ns now, uint32_t core)
{
    now = model_now(p->out, now);
    port_queue *q = tx_queue(p, core);
    tw_link_frame lf;
    while (tw_link_pop(p->out, now, &lf)) {
        tw_dev_frame f = {(uint8_t *)lf.data, lf.len};
        if (p->ops->tx(q->dev, &f, 1) != 1) {
            p->tx_drops++;
        }
        __atomic_store_n(&q->queued, true, __ATOMIC_RELAXED);
    }
}

/* Hands the devices what this turn queued on them: a device may keep
 * frames until then to kick the kernel once per batch. Before sleeping. */
static void ports_flush(lhost *h)
{
    for (uint32_t i = 0; i < h->nports; i++) {
        port *p = &h->ports[i];
        for (uint32_t j = 0; j < p->nq; j++) {
            port_queue *q = &p->q[j];
            if (!__atomic_load_n(&q->queued, __ATOMIC_RELAXED)) {
                continue;
            }
            pthread_mutex_lock(&p->mu);
            if (p->ops->flush) {
                p->tx_drops += (uint64_t)p->ops->flush(q->dev);
            }
            __atomic_store_n(&q->queued, false, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void transmit(lcore *c, tw_ns now, uint32_t iface, const uint8_t *frame, size_t len)
{
    lhost *h = c->h;
    if (iface >= h->nports) {
        return;
    }
    port *p = &h->ports[iface];
    if (c->l->partitions && len >= TW_ETH_HEADER_LEN && !(frame[0] & 1) &&
        cut(c->l, (uint32_t)(h - c->l->hosts), host_of_mac(c->l, frame))) {
        __atomic_fetch_add(&c->l->partition_drops, 1, __ATOMIC_RELAXED);
        return;
    }
    pthread_mutex_lock(&p->mu);
    tw_ns before = tw_link_next_deadline(p->out);
    tw_link_enqueue(p->out, model_now(p->out, now), frame, len, 0);
    port_flush(p, now, c->core);
    tw_ns after = tw_link_next_deadline(p->out);
    pthread_mutex_unlock(&p->mu);
    /* A frame due later than now: core 0 releases it, and must know. */
    if (c->core != 0 && after != TW_NS_NEVER && after < before) {
        wake(h->cores[0].efd);
    }
}

static bool ring_frame(lcore *to, uint32_t iface, const uint8_t *frame, size_t len);

static void drain_outputs(lcore *c, tw_ns now)
{
    tw_output out;
    while (tw_worker_pop_output(&c->worker, now, &out)) {
        if (out.kind == TW_OUT_FRAME) {
            transmit(c, now, out.iface, out.frame, out.frame_len);
        } else if (out.kind == TW_OUT_STEER) {
            /* A datagram this core reassembled for a flow another core
             * owns: into that core's ring, as software RSS would have put
             * it had it arrived whole, and woken now (any core may push). */
            TW_ASSERT(out.core < c->h->ncores && out.core != c->core);
            if (ring_frame(&c->h->cores[out.core], out.iface, out.frame, out.frame_len)) {
                wake_core(&c->h->cores[out.core]);
            }
        } else {
            route_msg(c->l, &out.msg, c->id);
        }
    }
}

/* ---- reception and steering ------------------------------------------------- */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A core's busy time is the time its worker works (inputs, ticks and their
 * outputs), as a simulated core's is: the device reading and steering that
 * the cores do for their host stand for the NIC, which costs a simulated core
 * nothing, so they are left out (host.H.balance compares workers). */
static void busy_add(lcore *c, uint64_t t0)
{
    c->busy_ns += mono_ns() - t0;
}

static void feed_frame(lcore *c, tw_ns now, uint32_t iface, const uint8_t *frame, size_t len)
{
    uint64_t t0 = mono_ns();
    tw_input in = {.kind = TW_IN_FRAME, .iface = iface, .frame = frame, .frame_len = len};
    tw_worker_on_input(&c->worker, now, &in);
    c->inputs++;
    drain_outputs(c, now);
    busy_add(c, t0);
}

/* Into another core's frame ring: false when full (counted). */
static bool ring_frame(lcore *to, uint32_t iface, const uint8_t *frame, size_t len)
{
    pthread_mutex_lock(&to->fmu);
    uint8_t *slot = tw_ring_full(&to->frames) || sizeof(uint32_t[2]) + len > to->frame_elem
                        ? NULL
                        : tw_ring_push_slot(&to->frames);
    if (slot) {
        uint32_t hdr[2] = {iface, (uint32_t)len};
        memcpy(slot, hdr, sizeof hdr);
        memcpy(slot + sizeof hdr, frame, len);
        tw_ring_push_commit(&to->frames);
    } else {
        to->frame_drops++;
    }
    pthread_mutex_unlock(&to->fmu);
    return slot != NULL;
}

/* From the reading core into another core's frame ring; woken at the end
 * of the batch. */
static void push_frame(lcore *from, lcore *to, uint32_t iface, const uint8_t *frame, size_t len)
{
    TW_ASSERT(from != to);
    from->wakes[to->core] |= ring_frame(to, iface, frame, len);
}

/* The cores that reading core c pushed frames to, once each. */
static void steer_wakes(lcore *c)
{
    lhost *h = c->h;
    for (uint32_t k = 0; k < h->ncores; k++) {
        if (c->wakes[k]) {
            c->wakes[k] = false;
            wake_core(&h->cores[k]);
        }
    }
}

static bool is_arp_reply(const uint8_t *frame, size_t len)
{
    if (len < TW_ETH_HEADER_LEN + 8 || tw_eth_has_vlan(frame) ||
        tw_eth_ethertype(frame) != TW_ETHERTYPE_ARP) {
        return false;
    }
    const uint8_t *arp = frame + TW_ETH_HEADER_LEN;
    return ((uint32_t)arp[6] << 8 | arp[7]) == 2; /* RFC 826: reply */
}

/* The simulated NIC's steering (sim/world.c nic_rx): ARP replies to every
 * core, everything else by the RSS hash through the indirection table.
 * Core c took the frame (from one of its receive queues, or from an
 * ingress model); it pushes the frame to the other cores it is for and
 * returns whether its own worker takes it too (the caller feeds it, after
 * waking the others). A frame that belongs to another core is a re-steer
 * (the interface's queue choice is not our hash), counted. */
static bool steer_push(lcore *c, uint32_t iface, const uint8_t *frame, size_t len)
{
    lhost *h = c->h;
    if (len < TW_ETH_HEADER_LEN || len > TW_DEV_FRAME_MAX) {
        return false;
    }
    uint32_t self = (uint32_t)(h - c->l->hosts);
    if (c->l->partitions && cut(c->l, host_of_mac(c->l, frame + 6), self)) {
        __atomic_fetch_add(&c->l->partition_drops, 1, __ATOMIC_RELAXED);
        return false;
    }
    if (is_arp_reply(frame, len)) {
        for (uint32_t k = 0; k < h->ncores; k++) {
            if (k != c->core) {
                push_frame(c, &h->cores[k], iface, frame, len);
            }
        }
        return true;
    }
    if (h->ncores == 1) {
        return true;
    }
    uint32_t hash = tw_stack_flow_hash(&h->rss, frame, len);
    uint32_t k = tw_rss_queue(&h->rss, hash);
    if (k == c->core) {
        return true;
    }
    c->resteers++;
    push_frame(c, &h->cores[k], iface, frame, len);
    return false;
}

/* The earliest deadline of host h's link models, read after the turn's
 * outputs went into them: a reply to a frame an ingress model released
 * goes into the egress model after that model's deadline was last read,
 * and core 0 (which wakes no one for its own frames) would sleep past it
 * until an unrelated timer (a kernel peer's echo waited 40 ms a round). */
static tw_ns ports_deadline(lhost *h)
{
    tw_ns next = TW_NS_NEVER;
    for (uint32_t i = 0; i < h->nports; i++) {
        port *p = &h->ports[i];
        pthread_mutex_lock(&p->mu);
        tw_ns d = tw_link_next_deadline(p->out);
        next = d < next ? d : next;
        d = p->in ? tw_link_next_deadline(p->in) : TW_NS_NEVER;
        next = d < next ? d : next;
        pthread_mutex_unlock(&p->mu);
    }
    return next;
}

/* Whether core c reads queue j of port p. */
static bool reads_queue(const lcore *c, const port *p, uint32_t j)
{
    return j % c->h->ncores == c->core;
}

static tw_ns release_ingress(lcore *c, tw_ns now, uint32_t i);

/* Core c's receive queues of port i: up to RX_BUDGET frames each, into
 * the ingress model where there is one (and what it has due released),
 * else steered at once. */
static void read_queues(lcore *c, tw_ns now, uint32_t i)
{
    lhost *h = c->h;
    port *p = &h->ports[i];
    tw_dev_frame fr[TW_DEV_BATCH];
    for (uint32_t j = 0; j < p->nq; j++) {
        if (!reads_queue(c, p, j)) {
            continue;
        }
        for (uint32_t taken = 0; taken < RX_BUDGET;) {
            pthread_mutex_lock(&p->mu);
            int n = p->ops->rx(p->q[j].dev, fr, TW_DEV_BATCH);
            tw_ns before = p->in ? tw_link_next_deadline(p->in) : TW_NS_NEVER;
            for (int k = 0; k < n && p->in; k++) {
                tw_link_enqueue(p->in, model_now(p->in, now), fr[k].data, fr[k].len, 0);
            }
            tw_ns after = p->in ? tw_link_next_deadline(p->in) : TW_NS_NEVER;
            pthread_mutex_unlock(&p->mu);
            if (n <= 0) {
                break;
            }
            taken += (uint32_t)n;
            if (p->in) {
                if (c->core != 0 && after < before) {
                    wake(h->cores[0].efd); /* it releases what is due later */
                }
                release_ingress(c, now, i);
                continue;
            }
            bool own[TW_DEV_BATCH];
            for (int k = 0; k < n; k++) {
                own[k] = steer_push(c, i, fr[k].data, fr[k].len);
            }
            steer_wakes(c);
            for (int k = 0; k < n; k++) {
                if (own[k]) {
                    feed_frame(c, now, i, fr[k].data, fr[k].len);
                }
            }
        }
    }
}

/* What the ingress model of port i has due, steered by core c (any core
 * that read frames into it, and core 0 for the model's deadlines).
 * Returns the model's next deadline. The release lock keeps the model's
 * order across cores: frames are popped and pushed to their cores' rings
 * under it, so that two cores releasing at once cannot swap two frames of
 * one flow; c's own frames are copied out and fed after it (steering may
 * transmit, which takes the port's mutex, and a core's ring is read only
 * at its next turn, after these). */
static tw_ns release_ingress(lcore *c, tw_ns now, uint32_t i)
{
    port *p = &c->h->ports[i];
    for (;;) {
        uint32_t own = 0;
        bool more = true;
        tw_ns next = TW_NS_NEVER;
        pthread_mutex_lock(&p->rmu);
        while (own < TW_DEV_BATCH) {
            uint8_t *slot = c->own + (size_t)own * c->frame_elem;
            tw_link_frame lf;
            pthread_mutex_lock(&p->mu);
            bool got = tw_link_pop(p->in, model_now(p->in, now), &lf);
            uint32_t len = got ? lf.len : 0;
            bool fits = sizeof(uint32_t) + len <= c->frame_elem;
            if (got && fits) {
                memcpy(slot, &len, sizeof len);
                memcpy(slot + sizeof len, lf.data, len);
            }
            next = tw_link_next_deadline(p->in);
            pthread_mutex_unlock(&p->mu);
            if (!got) {
                more = false;
                break;
            }
            if (!fits) {
                /* Larger than the host's MTU: no stack of it takes it. */
                pthread_mutex_lock(&c->fmu); /* other cores count into it too */
                c->frame_drops++;
                pthread_mutex_unlock(&c->fmu);
                continue;
            }
            own += steer_push(c, i, slot + sizeof len, len);
        }
        pthread_mutex_unlock(&p->rmu);
        steer_wakes(c);
        for (uint32_t k = 0; k < own; k++) {
            const uint8_t *slot = c->own + (size_t)k * c->frame_elem;
            uint32_t len;
            memcpy(&len, slot, sizeof len);
            feed_frame(c, now, i, slot + sizeof len, len);
        }
        if (!more) {
            return next;
        }
    }
}

/* Core c: its receive queues of every port; core 0 also what the ingress
 * and egress models have due (their next deadline is read at the end of
 * the turn: ports_deadline). */
static void service_ports(lcore *c, tw_ns now)
{
    lhost *h = c->h;
    for (uint32_t i = 0; i < h->nports; i++) {
        read_queues(c, now, i);
        if (c->core != 0) {
            continue;
        }
        port *p = &h->ports[i];
        pthread_mutex_lock(&p->mu);
        port_flush(p, now, c->core);
        pthread_mutex_unlock(&p->mu);
        if (p->in) {
            release_ingress(c, now, i);
        }
    }
}

/* ---- a core's loop ---------------------------------------------------------- */

/* A crashed host's core: what reaches it is dropped, as by a powered-off
 * machine; its queues are still read (each by its core), so nothing piles
 * up. */
static tw_ns turn_down(lcore *c)
{
    tw_msg m;
    while (mailbox_pop(&c->box, &m)) {
    }
    pthread_mutex_lock(&c->fmu);
    __atomic_fetch_add(&c->h->down_drops, tw_ring_len(&c->frames), __ATOMIC_RELAXED);
    tw_ring_clear(&c->frames);
    pthread_mutex_unlock(&c->fmu);
    tw_dev_frame fr[TW_DEV_BATCH];
    for (uint32_t i = 0; i < c->h->nports; i++) {
        port *p = &c->h->ports[i];
        for (uint32_t j = 0; j < p->nq; j++) {
            if (!reads_queue(c, p, j)) {
                continue;
            }
            pthread_mutex_lock(&p->mu);
            int n;
            while ((n = p->ops->rx(p->q[j].dev, fr, TW_DEV_BATCH)) > 0) {
                __atomic_fetch_add(&c->h->down_drops, (uint64_t)n, __ATOMIC_RELAXED);
            }
            pthread_mutex_unlock(&p->mu);
        }
    }
    return TW_NS_NEVER;
}

static tw_ns turn(lcore *c)
{
    tw_live *l = c->l;
    if (!c->h->up) {
        return turn_down(c);
    }
    tw_ns now = tw_live_now(l);
    tw_msg m;
    while (mailbox_pop(&c->box, &m)) {
        uint64_t t0 = mono_ns();
        tw_input in = {.kind = TW_IN_MSG, .msg = &m};
        tw_worker_on_input(&c->worker, now, &in);
        c->inputs++;
        drain_outputs(c, now);
        busy_add(c, t0);
    }
    uint8_t *slot = c->scratch;
    for (uint32_t n = 0; n < RX_BUDGET; n++) {
        pthread_mutex_lock(&c->fmu);
        bool got = tw_ring_pop(&c->frames, slot);
        pthread_mutex_unlock(&c->fmu);
        if (!got) {
            break;
        }
        uint32_t hdr[2];
        memcpy(hdr, slot, sizeof hdr);
        feed_frame(c, now, hdr[0], slot + sizeof hdr, hdr[1]);
    }
    service_ports(c, now);
    if (tw_worker_next_deadline(&c->worker) <= now) {
        uint64_t t0 = mono_ns();
        tw_worker_on_tick(&c->worker, now);
        drain_outputs(c, now);
        busy_add(c, t0);
    }
    ports_flush(c->h);
    tw_ns ports = c->core == 0 ? ports_deadline(c->h) : TW_NS_NEVER;
    tw_ns next = tw_worker_next_deadline(&c->worker);
    return ports < next ? ports : next;
}

/* Bus messages or steered frames waiting for core c. */
static bool work_waiting(lcore *c)
{
    pthread_mutex_lock(&c->box.mu);
    bool any = tw_ring_len(&c->box.ring) > 0;
    pthread_mutex_unlock(&c->box.mu);
    pthread_mutex_lock(&c->fmu);
    any = any || tw_ring_len(&c->frames) > 0;
    pthread_mutex_unlock(&c->fmu);
    return any;
}

static void *core_main(void *arg)
{
    lcore *c = arg;
    tw_live *l = c->l;
    char name[16];
    snprintf(name, sizeof name, "tw-%.6s-%u", l->sc->hosts[c->h - l->hosts].name, c->core);
    prctl(PR_SET_NAME, name);
    if (c->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(c->cpu, &set);
        int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        if (rc != 0) {
            /* The run goes on unpinned: pinning is a hint (live.cpus). */
            fprintf(stderr, "twin: host '%s' core %u: cannot pin to CPU %d: %s\n",
                    l->sc->hosts[c->h - l->hosts].name, c->core, c->cpu, strerror(rc));
        }
    }
    /* The eventfd and the devices of the queues this core reads. */
    struct pollfd pfd[1 + TW_WORLD_IFACES_MAX * TW_DEV_QUEUES_MAX];
    uint32_t npfd = 1;
    pfd[0] = (struct pollfd){.fd = c->efd, .events = POLLIN};
    for (uint32_t i = 0; i < c->h->nports; i++) {
        port *p = &c->h->ports[i];
        for (uint32_t j = 0; j < p->nq; j++) {
            if (reads_queue(c, p, j)) {
                pfd[npfd++] = (struct pollfd){.fd = p->ops->fd(p->q[j].dev), .events = POLLIN};
            }
        }
    }
    while (!atomic_load(&l->stop)) {
        tw_ns stall = __atomic_load_n(&c->stall_until, __ATOMIC_RELAXED);
        if (tw_live_now(l) < stall) {
            /* A stalled core does nothing, as a simulated busy one. */
            struct pollfd none = {.fd = -1};
            wait_until(l, &none, 1, stall, TW_MS(50));
            continue;
        }
        pthread_mutex_lock(&c->turn);
        tw_ns next = turn(c);
        c->turns++;
        pthread_mutex_unlock(&c->turn);
        atomic_store(&c->asleep, true);
        atomic_thread_fence(memory_order_seq_cst); /* the store before the look */
        if (!work_waiting(c)) {
            wait_until(l, pfd, npfd, next, TW_NS_NEVER);
        }
        atomic_store_explicit(&c->asleep, false, memory_order_relaxed);
    }
    return NULL;
}

/* ---- the controller and the faults, on the caller's thread ------------------ */

static void ctl_drain(tw_live *l, tw_ns now)
{
    tw_output out;
    while (tw_controller_pop_output(&l->ctl, now, &out)) {
        if (out.kind == TW_OUT_MSG) {
            route_msg(l, &out.msg, UINT32_MAX);
        }
    }
}

typedef enum model_op { MODEL_UP, MODEL_DOWN, MODEL_CLOG } model_op;

static void model_apply(tw_link *m, tw_ns now, model_op op, tw_ns until)
{
    now = model_now(m, now);
    if (op == MODEL_CLOG) {
        tw_link_clog(m, now, until);
    } else {
        tw_link_set_up(m, now, op == MODEL_UP);
    }
}

/* Applies a link fault to every model of the link, wherever it runs (its
 * forwarding element, its twin hosts' ports), under the owner's mutex. */
static void link_models(tw_live *l, uint32_t link, tw_ns now, model_op op, tw_ns until)
{
    fwd *f = l->fwds[link];
    if (f) {
        pthread_mutex_lock(&f->mu);
        model_apply(f->model[0], now, op, until);
        model_apply(f->model[1], now, op, until);
        pthread_mutex_unlock(&f->mu);
        wake(f->efd);
    }
    for (uint32_t h = 0; h < l->sc->host_count; h++) {
        lhost *lh = &l->hosts[h];
        for (uint32_t i = 0; i < lh->nports; i++) {
            port *p = &lh->ports[i];
            if (p->link != link) {
                continue;
            }
            pthread_mutex_lock(&p->mu);
            model_apply(p->out, now, op, until);
            if (p->in) {
                model_apply(p->in, now, op, until);
            }
            pthread_mutex_unlock(&p->mu);
        }
        if (lh->nports) {
            wake(lh->cores[0].efd); /* core 0 releases what is now due later */
        }
    }
}

static void note_controller(tw_live *l, uint32_t h, tw_world_note_kind kind)
{
    lhost *lh = &l->hosts[h];
    tw_msg m;
    if (lh->kh) {
        tw_world_note_msg(&m, kind, h, lh->kbase, lh->kcores);
    } else {
        tw_world_note_msg(&m, kind, h, lh->cores[0].id, lh->ncores);
    }
    route_msg(l, &m, UINT32_MAX);
}

static void host_turns(lhost *lh, bool on)
{
    for (uint32_t k = 0; k < lh->ncores; k++) {
        if (on) {
            pthread_mutex_lock(&lh->cores[k].turn);
        } else {
            pthread_mutex_unlock(&lh->cores[k].turn);
        }
    }
}

/* The simulator's crash (sim/world.c host_stop): the host loses its tasks,
 * stacks and waiting frames; the controller is told. Between turns. */
static void host_crash(tw_live *l, uint32_t h)
{
    lhost *lh = &l->hosts[h];
    if (!lh->up) {
        return;
    }
    if (lh->kh) {
        /* A kernel host: its tasks die with their workers; the kernel
         * closes their sockets (its stack itself stays up). */
        tw_kernhost_stop(lh->kh);
        lh->up = false;
        lh->incarnation++;
        lh->crashes++;
        note_controller(l, h, TW_WORLD_NOTE_CRASHED);
        return;
    }
    host_turns(lh, true);
    lh->up = false;
    lh->incarnation++;
    lh->crashes++;
    for (uint32_t k = 0; k < lh->ncores; k++) {
        lcore *c = &lh->cores[k];
        tw_worker_free(&c->worker);
        tw_stack_destroy(c->stack);
        c->stack = NULL;
    }
    host_turns(lh, false);
    note_controller(l, h, TW_WORLD_NOTE_CRASHED);
}

/* Back with fresh stacks and workers of its next incarnation, as the
 * simulator's restart; the controller's program respawns the apps. */
static void host_restart(tw_live *l, uint32_t h, tw_ns now)
{
    lhost *lh = &l->hosts[h];
    if (lh->up) {
        return;
    }
    if (lh->kh) {
        char why[256];
        if (tw_kernhost_start(lh->kh, why, sizeof why) < 0) {
            /* It stays down, as a host that does not boot. */
            fprintf(stderr, "twin: kernel host '%s' cannot restart its apps: %s\n",
                    l->sc->hosts[h].name, why);
            return;
        }
        lh->up = true;
        note_controller(l, h, TW_WORLD_NOTE_RESTARTED);
        return;
    }
    host_turns(lh, true);
    for (uint32_t k = 0; k < lh->ncores; k++) {
        lcore *c = &lh->cores[k];
        c->stack = tw_world_host_stack_build(&lh->hc, &lh->rss, l->sc->seed, h, lh->incarnation,
                                             k, now);
        tw_worker_config wc = {.id = c->id};
        tw_world_host_worker_config(&lh->hc, c->stack, l->sc->seed, lh->incarnation, &wc);
        tw_worker_init(&c->worker, &wc, now);
    }
    lh->up = true;
    host_turns(lh, false);
    for (uint32_t k = 0; k < lh->ncores; k++) {
        wake(lh->cores[k].efd);
    }
    note_controller(l, h, TW_WORLD_NOTE_RESTARTED);
}


/* The start and end of a crash, stall or clog, each applied once. */
static void fault_edges(tw_live *l, uint32_t i, tw_ns now)
{
    const tw_scenario_fault *f = &l->sc->faults[i];
    if (l->fault_done[i] == 0 && now >= f->at_ns) {
        l->fault_done[i] = 1;
        if (f->kind == TW_SCENARIO_FAULT_CRASH) {
            host_crash(l, f->host);
        } else if (f->kind == TW_SCENARIO_FAULT_STALL) {
            lcore *c = &l->hosts[f->host].cores[f->core];
            __atomic_store_n(&c->stall_until, f->until_ns, __ATOMIC_RELAXED);
        } else if (f->kind == TW_SCENARIO_FAULT_CLOG) {
            link_models(l, f->link, now, MODEL_CLOG, f->until_ns);
        }
    }
    if (l->fault_done[i] == 1 && now >= f->until_ns) {
        l->fault_done[i] = 2;
        if (f->kind == TW_SCENARIO_FAULT_CRASH) {
            host_restart(l, f->host, now);
        }
    }
}

/* Applies the faults whose start or end is due; returns the next time one is. */
static tw_ns faults_apply(tw_live *l, tw_ns now)
{
    tw_ns next = TW_NS_NEVER;
    for (uint32_t i = 0; i < l->sc->fault_count; i++) {
        const tw_scenario_fault *f = &l->sc->faults[i];
        bool on = now >= f->at_ns && now < f->until_ns;
        tw_ns edge = now < f->at_ns ? f->at_ns : now < f->until_ns ? f->until_ns : TW_NS_NEVER;
        next = edge < next ? edge : next;
        switch (f->kind) {
        case TW_SCENARIO_FAULT_PARTITION:
            __atomic_store_n(&l->part_active[i], on, __ATOMIC_RELAXED); /* read by every core */
            break;
        case TW_SCENARIO_FAULT_LINK_DOWN:
        case TW_SCENARIO_FAULT_LINK_UP:
            if (now >= f->at_ns && !l->part_active[i]) {
                l->part_active[i] = true; /* applied: link faults have no end */
                link_models(l, f->link, now,
                            f->kind == TW_SCENARIO_FAULT_LINK_UP ? MODEL_UP : MODEL_DOWN, 0);
            }
            break;
        default:
            fault_edges(l, i, now);
            break;
        }
    }
    return next;
}

void tw_live_run_until(tw_live *l, tw_ns until)
{
    for (;;) {
        tw_ns now = tw_live_now(l);
        tw_msg m;
        while (mailbox_pop(&l->ctl_box, &m)) {
            tw_input in = {.kind = TW_IN_MSG, .msg = &m};
            tw_controller_on_input(&l->ctl, now, &in);
            ctl_drain(l, now);
        }
        if (tw_controller_next_deadline(&l->ctl) <= now) {
            tw_controller_on_tick(&l->ctl, now);
        }
        ctl_drain(l, now);
        tw_ns next = faults_apply(l, now);
        if (now >= until || interrupted) {
            return;
        }
        tw_ns d = tw_controller_next_deadline(&l->ctl);
        next = d < next ? d : next;
        next = until < next ? until : next;
        /* Wake at least every 50 ms to notice a signal. */
        struct pollfd pfd = {.fd = l->ctl_efd, .events = POLLIN};
        wait_until(l, &pfd, 1, next, TW_MS(50));
    }
}

/* ---- building ---------------------------------------------------------------- */

#define WHY(...) (snprintf(why, why_len, __VA_ARGS__), -TW_ENOTSUP)

static void mac_str(const uint8_t *m, char *out)
{
    sprintf(out, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void ipv4_str(tw_ipv4_addr a, uint8_t prefix, char *out)
{
    uint32_t v = a; /* host order */
    if (prefix > 32) {
        sprintf(out, "%u.%u.%u.%u", v >> 24, v >> 16 & 255, v >> 8 & 255, v & 255);
    } else {
        sprintf(out, "%u.%u.%u.%u/%u", v >> 24, v >> 16 & 255, v >> 8 & 255, v & 255, prefix);
    }
}

/* The namespace and in-namespace name of a link end. */
static void end_names(const tw_live *l, const tw_scenario_end *e, char *ns, char *ifname)
{
    if (e->kind == TW_SCENARIO_END_IFACE) {
        strcpy(ns, l->hosts[e->host].ns);
        snprintf(ifname, 16, "%.15s", l->sc->hosts[e->host].ifaces[e->iface].name);
    } else {
        strcpy(ns, l->switch_ns[e->sw]);
        snprintf(ifname, 16, "p%u", e->port);
    }
}

/* Whether link i needs a forwarding element: it has impairments or link
 * faults, and no twin host at either end to run its model. */
static bool needs_fwd(const tw_scenario *sc, uint32_t i)
{
    const tw_scenario_link *lk = &sc->links[i];
    for (int e = 0; e < 2; e++) {
        if (lk->end[e].kind == TW_SCENARIO_END_IFACE &&
            sc->hosts[lk->end[e].host].kind == TW_SCENARIO_HOST_TWIN) {
            return false;
        }
    }
    for (uint32_t f = 0; f < sc->fault_count; f++) {
        if ((sc->faults[f].kind == TW_SCENARIO_FAULT_LINK_DOWN ||
             sc->faults[f].kind == TW_SCENARIO_FAULT_LINK_UP) && sc->faults[f].link == i) {
            return true;
        }
        /* No twin port on this link to cut a partition's frames: the
         * element cuts them (kernel hosts' tasks talk to each other). */
        if (sc->faults[f].kind == TW_SCENARIO_FAULT_PARTITION) {
            return true;
        }
    }
    /* Compared with a plain link, leaving out what the driver sets. */
    tw_link_config plain = tw_link_config_default();
    for (int d = 0; d < 2; d++) {
        tw_link_config x = lk->dir[d];
        x.header_bytes = plain.header_bytes;
        x.pool_frames = plain.pool_frames;
        x.stream = plain.stream;
        x.mtu = plain.mtu;
        x.queue_packets_limit = plain.queue_packets_limit;
        x.queue_bytes_limit = plain.queue_bytes_limit;
        if (memcmp(&x, &plain, sizeof x) != 0) {
            return true;
        }
    }
    return false;
}

/* Whether kernel host h has apps run as real programs (programs) or as
 * twin's tasks (!programs). */
static bool kernel_apps(const tw_live *l, uint32_t h, bool programs)
{
    for (uint32_t a = 0; a < l->sc->app_count; a++) {
        bool program = l->cfg.app_program != NULL && l->cfg.app_program[a];
        if (l->sc->apps[a].host == h && program == programs) {
            return true;
        }
    }
    return false;
}

/* The receive queues of link i's veths: one per core of its largest twin
 * host over xdp (an AF_XDP socket each, each core reading its own), else
 * one. Both ends get as many, so that a frame the far end sends on its
 * queue k arrives on queue k (veth's choice), which the near end reads. */
static uint32_t link_queues(const tw_live *l, uint32_t i)
{
    const tw_scenario *sc = l->sc;
    if (l->cfg.backend != TW_DEV_XDP) {
        return 1;
    }
    uint32_t n = 1;
    for (int e = 0; e < 2; e++) {
        const tw_scenario_end *end = &sc->links[i].end[e];
        if (end->kind == TW_SCENARIO_END_IFACE && sc->hosts[end->host].kind == TW_SCENARIO_HOST_TWIN) {
            uint32_t cores = l->cfg.hosts[end->host].cores;
            n = cores > n ? cores : n;
        }
    }
    return n > TW_DEV_QUEUES_MAX ? TW_DEV_QUEUES_MAX : n;
}

/* What the live world cannot do with this scenario, or 0. */
static int check_scenario(const tw_live *l, char *why, size_t why_len)
{
    const tw_scenario *sc = l->sc;
    for (uint32_t i = 0; i < sc->fault_count; i++) {
        const tw_scenario_fault *f = &sc->faults[i];
        bool kernel = (f->kind == TW_SCENARIO_FAULT_CRASH || f->kind == TW_SCENARIO_FAULT_STALL) &&
                      sc->hosts[f->host].kind == TW_SCENARIO_HOST_KERNEL;
        /* A kernel host's crash is its tasks' (kernhost.h): one that runs
         * a real program, or nothing of twin's, has none to crash. */
        if (kernel && (f->kind == TW_SCENARIO_FAULT_STALL || kernel_apps(l, f->host, true) ||
                       !kernel_apps(l, f->host, false))) {
            static const char *const names[] = {"partition", "link_down", "link_up", "clog",
                                                "crash", "stall"};
            return WHY("fault '%s' (line %u) on kernel host '%s': twin stalls only its own hosts, "
                       "and crashes a kernel host only where all its apps are twin's tasks (not "
                       "real programs such as nginx)",
                       names[f->kind], f->line, sc->hosts[f->host].name);
        }
    }
    return 0;
}

/* Creates namespace `name` (tw<run>-<what>) with IPv6 off (router
 * solicitations and ND would reach twin's IPv4 stacks as drops no scenario
 * asked for), IPv4 forwarding when asked, and lo up. */
static int make_ns(char *name, const char *run, const char *what, bool forward, char *why,
                   size_t why_len)
{
    char err[512];
    snprintf(name, TW_NETNS_NAME_MAX, "%s%s-%s", TW_NETNS_PREFIX, run, what);
    if (tw_netns_ip(err, sizeof err, "netns", "add", name, NULL) < 0) {
        return WHY("cannot create network namespaces (CAP_SYS_ADMIN?): %s", err);
    }
    int saved;
    if (tw_netns_enter(name, &saved) < 0) {
        return WHY("cannot enter namespace %s", name);
    }
    tw_netns_sysctl("net/ipv6/conf/default/disable_ipv6", "1");
    tw_netns_sysctl("net/ipv6/conf/all/disable_ipv6", "1");
    if (forward) {
        tw_netns_sysctl("net/ipv4/ip_forward", "1");
    }
    tw_netns_leave(saved);
    tw_netns_ip(NULL, 0, "-n", name, "link", "set", "lo", "up", NULL);
    return 0;
}

/* The model of direction dir of link i, seeded as the simulator seeds it. */
static tw_link *model_create(const tw_scenario *sc, uint32_t i, uint32_t dir)
{
    tw_link_config lc = sc->links[i].dir[dir];
    lc.header_bytes = TW_ETH_HEADER_LEN;
    lc.pool_frames = lc.queue_packets_limit + 4096;
    lc.pool_frames = lc.pool_frames > TW_LINK_FRAMES_MAX ? TW_LINK_FRAMES_MAX : lc.pool_frames;
    lc.stream = tw_world_link_stream(i, dir);
    tw_link *m = calloc(1, sizeof(tw_link));
    int rc = tw_link_init(m, &lc, sc->seed);
    TW_ASSERT(rc == 0); /* the loader checked the configuration */
    return m;
}

static int make_namespaces(tw_live *l, char *why, size_t why_len)
{
    char err[512];
    const tw_scenario *sc = l->sc;
    for (uint32_t h = 0; h < sc->host_count; h++) {
        lhost *lh = &l->hosts[h];
        bool fwd_on = sc->hosts[h].kind == TW_SCENARIO_HOST_KERNEL && sc->hosts[h].router;
        int rc = make_ns(lh->ns, l->run, sc->hosts[h].name, fwd_on, why, why_len);
        lh->ns_made = rc == 0;
        if (rc) {
            return rc;
        }
    }
    for (uint32_t s = 0; s < sc->switch_count; s++) {
        int rc = make_ns(l->switch_ns[s], l->run, sc->switches[s].name, false, why, why_len);
        l->switch_made[s] = rc == 0;
        if (rc) {
            return rc;
        }
        if (tw_netns_ip(err, sizeof err, "-n", l->switch_ns[s], "link", "add", "br0", "type",
                        "bridge", NULL) < 0) {
            return WHY("switch '%s' needs a Linux bridge (CONFIG_BRIDGE): %s",
                       sc->switches[s].name, err);
        }
        /* No ageing surprises and no STP delay: forward from the start. */
        tw_netns_ip(NULL, 0, "-n", l->switch_ns[s], "link", "set", "br0", "type", "bridge",
                    "forward_delay", "0", "stp_state", "0", NULL);
        tw_netns_ip(NULL, 0, "-n", l->switch_ns[s], "link", "set", "br0", "up", NULL);
    }
    return 0;
}

/* ---- the forwarding element ---------------------------------------------------- */

/* A unicast frame between hosts an active partition separates, by the
 * scenario's MACs (a twin host's port cuts what it sends by destination
 * and what it receives by source; here both ends may be kernel hosts). */
static bool fwd_cut(tw_live *l, const uint8_t *frame, size_t len)
{
    if (!l->partitions || len < TW_ETH_HEADER_LEN || (frame[0] & 1) ||
        !cut(l, host_of_mac(l, frame + 6), host_of_mac(l, frame))) {
        return false;
    }
    __atomic_fetch_add(&l->partition_drops, 1, __ATOMIC_RELAXED);
    return true;
}

static void *fwd_main(void *arg)
{
    fwd *f = arg;
    tw_live *l = f->l;
    prctl(PR_SET_NAME, "tw-forward");
    struct pollfd pfd[3] = {{.fd = f->efd, .events = POLLIN},
                            {.fd = f->ops->fd(f->dev[0]), .events = POLLIN},
                            {.fd = f->ops->fd(f->dev[1]), .events = POLLIN}};
    tw_dev_frame fr[TW_DEV_BATCH];
    while (!atomic_load(&l->stop)) {
        pthread_mutex_lock(&f->mu);
        tw_ns next = TW_NS_NEVER;
        for (int d = 0; d < 2; d++) {
            tw_link *m = f->model[d];
            tw_ns now = model_now(m, tw_live_now(l));
            for (uint32_t taken = 0; taken < RX_BUDGET;) {
                int n = f->ops->rx(f->dev[d], fr, TW_DEV_BATCH);
                if (n <= 0) {
                    break;
                }
                for (int k = 0; k < n; k++) {
                    if (!fwd_cut(l, fr[k].data, fr[k].len)) {
                        tw_link_enqueue(m, now, fr[k].data, fr[k].len, 0);
                    }
                }
                taken += (uint32_t)n;
            }
            tw_link_frame lf;
            while (tw_link_pop(m, now, &lf)) {
                tw_dev_frame out = {(uint8_t *)lf.data, lf.len};
                if (f->ops->tx(f->dev[1 - d], &out, 1) != 1) {
                    f->tx_drops++;
                }
            }
            tw_ns dn = tw_link_next_deadline(m);
            next = dn < next ? dn : next;
        }
        for (int e = 0; e < 2 && f->ops->flush; e++) {
            f->tx_drops += (uint64_t)f->ops->flush(f->dev[e]);
        }
        pthread_mutex_unlock(&f->mu);
        wait_until(l, pfd, 3, next, TW_NS_NEVER);
    }
    return NULL;
}

/* Link i's two ends joined through a forwarding namespace: end e's veth
 * peers with "e<e>" there, read and written by the element's thread. */
static int make_fwd(tw_live *l, uint32_t i, char ns[2][TW_NETNS_NAME_MAX], char ifn[2][16],
                    char *why, size_t why_len)
{
    char err[512];
    const tw_scenario_link *lk = &l->sc->links[i];
    fwd *f = calloc(1, sizeof(*f));
    l->fwds[i] = f;
    f->l = l;
    f->link = i;
    f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&f->mu, NULL);
    f->ops = &tw_dev_poll_ops;
    char what[16];
    snprintf(what, sizeof what, "fw%u", i);
    int rc = make_ns(f->ns, l->run, what, false, why, why_len);
    f->ns_made = rc == 0;
    if (rc) {
        return rc;
    }
    int saved;
    uint32_t mtu = lk->dir[0].mtu > lk->dir[1].mtu ? lk->dir[0].mtu : lk->dir[1].mtu;
    char mtus[16];
    snprintf(mtus, sizeof mtus, "%u", mtu ? mtu : 1500);
    for (int e = 0; e < 2; e++) {
        char mine[4] = {'e', (char)('0' + e), 0, 0};
        if (tw_netns_ip(err, sizeof err, "-n", ns[e], "link", "add", ifn[e], "type", "veth", "peer",
                        "name", mine, "netns", f->ns, NULL) < 0 ||
            tw_netns_ip(err, sizeof err, "-n", f->ns, "link", "set", mine, "mtu", mtus, "promisc",
                        "on", "up", NULL) < 0) {
            return WHY("cannot create the forwarding element's veths: %s", err);
        }
        if (tw_netns_enter(f->ns, &saved) < 0) {
            return WHY("cannot enter namespace %s", f->ns);
        }
        tw_netns_offloads_off(mine);
        rc = f->ops->open(&f->dev[e], mine, (mtu ? mtu : 1500) + TW_ETH_HEADER_LEN + 4, 4096);
        tw_netns_leave(saved);
        if (rc < 0) {
            f->dev[e] = NULL;
            return WHY("the forwarding element of link '%s' needs AF_PACKET: %s", lk->name,
                       strerror(-rc));
        }
    }
    for (uint32_t d = 0; d < 2; d++) {
        f->model[d] = model_create(l->sc, i, d);
    }
    return 0;
}

static void fwd_free(fwd *f)
{
    if (f->started) {
        wake(f->efd);
        pthread_join(f->th, NULL);
    }
    for (int e = 0; e < 2; e++) {
        if (f->dev[e]) {
            f->ops->close(f->dev[e]);
        }
        if (f->model[e]) {
            tw_link_free(f->model[e]);
            free(f->model[e]);
        }
    }
    if (f->ns_made) {
        tw_netns_ip(NULL, 0, "-n", f->ns, "link", "del", "e0", NULL);
        tw_netns_ip(NULL, 0, "-n", f->ns, "link", "del", "e1", NULL);
        tw_netns_ip(NULL, 0, "netns", "del", f->ns, NULL);
    }
    close(f->efd);
    free(f);
}

/* One end of link `lk` (in namespace ns, named ifn): a host's gets the
 * scenario's MAC and, on a kernel host, its address; a switch's joins the
 * bridge. Then the MTU, up, offloads off. */
static int setup_end(tw_live *l, const tw_scenario_link *lk, int e, const char *ns,
                     const char *ifn, char *why, size_t why_len)
{
    char err[512];
    const tw_scenario *sc = l->sc;
    const tw_scenario_end *end = &lk->end[e];
    uint32_t m = lk->dir[e].mtu > lk->dir[1 - e].mtu ? lk->dir[e].mtu : lk->dir[1 - e].mtu;
    if (end->kind == TW_SCENARIO_END_IFACE) {
        const tw_scenario_iface *si = &sc->hosts[end->host].ifaces[end->iface];
        bool kernel = sc->hosts[end->host].kind == TW_SCENARIO_HOST_KERNEL;
        m = si->mtu;
        char mac[24];
        mac_str(si->mac, mac);
        /* A bridge delivers frames for its ports' own MACs to itself:
         * bridged (tap), the veth must not wear twin's. */
        if (kernel || !tw_dev_is_tap(l->cfg.backend)) {
            tw_netns_ip(NULL, 0, "-n", ns, "link", "set", ifn, "address", mac, NULL);
        }
        char a[32];
        ipv4_str(si->addr, si->prefix_len, a);
        if (kernel && tw_netns_ip(err, sizeof err, "-n", ns, "addr", "add", a, "dev", ifn, NULL) < 0) {
            return WHY("cannot address %s: %s", ifn, err);
        }
    } else {
        tw_netns_ip(NULL, 0, "-n", ns, "link", "set", ifn, "master", "br0", NULL);
    }
    char mtu[16];
    snprintf(mtu, sizeof mtu, "%u", m ? m : 1500);
    if (tw_netns_ip(err, sizeof err, "-n", ns, "link", "set", ifn, "mtu", mtu, "up", NULL) < 0) {
        return WHY("cannot bring %s up: %s", ifn, err);
    }
    int saved;
    if (tw_netns_enter(ns, &saved) == 0) {
        tw_netns_offloads_off(ifn);
        tw_netns_leave(saved);
    }
    return 0;
}

/* Kernel hosts' routes, once every address is in place. */
static int make_routes(tw_live *l, char *why, size_t why_len)
{
    char err[512];
    for (uint32_t h = 0; h < l->sc->host_count; h++) {
        const tw_scenario_host *sh = &l->sc->hosts[h];
        for (uint32_t r = 0; sh->kind == TW_SCENARIO_HOST_KERNEL && r < sh->route_count; r++) {
            char dst[32], via[32];
            ipv4_str(sh->routes[r].dest, sh->routes[r].prefix_len, dst);
            ipv4_str(sh->routes[r].via, 255, via);
            if (tw_netns_ip(err, sizeof err, "-n", l->hosts[h].ns, "route", "add",
                            sh->routes[r].prefix_len ? dst : "default", "via", via, NULL) < 0) {
                return WHY("cannot add a route on %s: %s", sh->name, err);
            }
        }
    }
    return 0;
}

/* A veth pair per link (or two and a forwarding element between them),
 * each end in its namespace, named, addressed, up. */
static int make_links(tw_live *l, char *why, size_t why_len)
{
    char err[512];
    const tw_scenario *sc = l->sc;
    for (uint32_t i = 0; i < sc->link_count; i++) {
        const tw_scenario_link *lk = &sc->links[i];
        char ns[2][TW_NETNS_NAME_MAX], ifn[2][16];
        for (int e = 0; e < 2; e++) {
            end_names(l, &lk->end[e], ns[e], ifn[e]);
        }
        int rc = 0;
        char nq[16];
        snprintf(nq, sizeof nq, "%u", link_queues(l, i));
        if (needs_fwd(sc, i)) {
            rc = make_fwd(l, i, ns, ifn, why, why_len);
        } else if (tw_netns_ip(err, sizeof err, "-n", ns[0], "link", "add", ifn[0], "numtxqueues",
                               nq, "numrxqueues", nq, "type", "veth", "peer", "name", ifn[1],
                               "numtxqueues", nq, "numrxqueues", nq, "netns", ns[1], NULL) < 0) {
            rc = WHY("cannot create a veth pair with %s queues: %s", nq, err);
        }
        for (int e = 0; e < 2 && rc == 0; e++) {
            rc = setup_end(l, lk, e, ns[e], ifn[e], why, why_len);
        }
        if (rc) {
            return rc;
        }
    }
    return make_routes(l, why, why_len);
}

/* Queues k > 0 join queue 0's device (the XDP program): closed first. */
static void close_queues(port *p)
{
    while (p->nq > 0) {
        p->nq--;
        if (p->q[p->nq].dev) {
            p->ops->close(p->q[p->nq].dev);
            p->q[p->nq].dev = NULL;
        }
    }
}

/* The devices of a port's interface: one on each of its nq receive
 * queues (the xdp backend on a multi-queue veth), or one for the whole
 * interface. On failure none stays open. 0 or -errno. */
static int open_queues(port *p, uint32_t nq, const char *dev_name, uint32_t frame_max,
                       uint32_t frames)
{
    TW_ASSERT(nq >= 1 && nq <= TW_DEV_QUEUES_MAX);
    TW_ASSERT(nq == 1 || p->ops->open_queue != NULL);
    int rc = 0;
    for (p->nq = 0; p->nq < nq && rc == 0; p->nq++) {
        tw_dev **d = &p->q[p->nq].dev;
        rc = nq == 1 ? p->ops->open(d, dev_name, frame_max, frames)
                     : p->ops->open_queue(d, dev_name, p->nq, nq, p->q[0].dev, frame_max, frames);
        if (rc < 0) {
            *d = NULL;
            break;
        }
    }
    if (rc < 0) {
        close_queues(p);
    }
    return rc;
}

static int open_port(tw_live *l, uint32_t h, uint32_t i, char *why, size_t why_len)
{
    const tw_scenario *sc = l->sc;
    const tw_scenario_host *sh = &sc->hosts[h];
    const tw_scenario_iface *si = &sh->ifaces[i];
    lhost *lh = &l->hosts[h];
    port *p = &lh->ports[i];
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->rmu, NULL);
    p->ops = tw_dev_ops_of(l->cfg.backend);
    p->link = si->link;
    snprintf(p->ifname, sizeof p->ifname, "%s", si->name);
    char dev_name[16];
    snprintf(dev_name, sizeof dev_name, "%.15s", si->name);
    if (tw_dev_is_tap(l->cfg.backend)) {
        snprintf(dev_name, sizeof dev_name, "tap%u", i);
    }
    int saved;
    if (tw_netns_enter(lh->ns, &saved) < 0) {
        return WHY("cannot enter namespace %s", lh->ns);
    }
    uint32_t frame_max = si->mtu + TW_ETH_HEADER_LEN + 4;
    /* Buffers (the UMEM, the socket buffers) for the link's queue both
     * ways: what the scenario lets be in flight towards this host. */
    const tw_scenario_link *ql = &sc->links[si->link];
    uint32_t q = ql->dir[0].queue_packets_limit > ql->dir[1].queue_packets_limit
                     ? ql->dir[0].queue_packets_limit
                     : ql->dir[1].queue_packets_limit;
    uint32_t frames = 2 * q < 256 ? 256 : 2 * q > 8192 ? 8192 : 2 * q;
    tw_dev_set_why("%s", "");
    int rc = open_queues(p, link_queues(l, si->link), dev_name, frame_max, frames);
    tw_netns_leave(saved);
    if (rc < 0) {
        static const char *const need[TW_DEV_KIND_COUNT] = {
            [TW_DEV_POLL] = "AF_PACKET raw sockets (CAP_NET_RAW)",
            [TW_DEV_TAP] = "/dev/net/tun (TAP devices)",
            [TW_DEV_XDP] = "AF_XDP with libxdp's program in SKB mode",
            [TW_DEV_URING] = "io_uring with provided buffer rings, and /dev/net/tun"};
        /* The backend's own words name the missing feature best. */
        const char *why_dev = tw_dev_why();
        return WHY("backend %s on %s in %s: %s: %s", p->ops->name, dev_name, lh->ns,
                   need[l->cfg.backend], why_dev[0] ? why_dev : strerror(-rc));
    }
    if (tw_dev_is_tap(l->cfg.backend)) {
        char err[512], br[16];
        snprintf(br, sizeof br, "twbr%u", i);
        if (tw_netns_ip(err, sizeof err, "-n", lh->ns, "link", "add", br, "type", "bridge", NULL) < 0) {
            return WHY("the %s backend bridges its TAP device to the veth (CONFIG_BRIDGE): %s",
                       p->ops->name, err);
        }
        char mtu[16];
        snprintf(mtu, sizeof mtu, "%u", si->mtu);
        tw_netns_ip(NULL, 0, "-n", lh->ns, "link", "set", br, "type", "bridge", "forward_delay",
                    "0", "stp_state", "0", NULL);
        tw_netns_ip(NULL, 0, "-n", lh->ns, "link", "set", dev_name, "mtu", mtu, "master", br,
                    "up", NULL);
        tw_netns_ip(NULL, 0, "-n", lh->ns, "link", "set", si->name, "master", br, NULL);
        tw_netns_ip(NULL, 0, "-n", lh->ns, "link", "set", br, "up", NULL);
        if (tw_netns_enter(lh->ns, &saved) == 0) {
            tw_netns_offloads_off(dev_name);
            tw_netns_leave(saved);
        }
    }
    /* The models: out always, in when the far end is not a twin host. */
    const tw_scenario_link *lk = &sc->links[si->link];
    uint32_t far = 1 - si->link_end;
    p->out_dir = si->link_end == 0 ? TW_SCENARIO_FORWARD : TW_SCENARIO_REVERSE;
    bool far_twin = lk->end[far].kind == TW_SCENARIO_END_IFACE &&
                    sc->hosts[lk->end[far].host].kind == TW_SCENARIO_HOST_TWIN;
    for (int k = 0; k < 2; k++) {
        uint32_t dir = k == 0 ? p->out_dir : 1 - p->out_dir;
        if (k == 1 && far_twin) {
            break;
        }
        *(k == 0 ? &p->out : &p->in) = model_create(sc, si->link, dir);
    }
    return 0;
}

static int make_cores(tw_live *l, uint32_t h, uint32_t *next_id)
{
    const tw_scenario_host *sh = &l->sc->hosts[h];
    lhost *lh = &l->hosts[h];
    lh->hc = l->cfg.hosts[h];
    lh->up = true;
    const tw_world_host_config *hc = &lh->hc;
    lh->ncores = hc->cores;
    lh->cores = calloc(lh->ncores, sizeof(lcore));
    tw_world_host_rss(&lh->rss, l->sc->seed, h, lh->ncores);
    uint32_t frame_max = 0;
    for (uint32_t i = 0; i < sh->iface_count; i++) {
        uint32_t f = sh->ifaces[i].mtu + TW_ETH_HEADER_LEN + 4;
        frame_max = f > frame_max ? f : frame_max;
    }
    for (uint32_t k = 0; k < lh->ncores; k++) {
        lcore *c = &lh->cores[k];
        c->l = l;
        c->h = lh;
        c->core = k;
        c->id = (*next_id)++;
        c->cpu = -1;
        if (l->cfg.pin) {
            c->cpu = sh->live_cpus ? (int)sh->live_cpus[k] : (int)(c->id % (uint32_t)sysconf(_SC_NPROCESSORS_ONLN));
        }
        c->stack = tw_world_host_stack_build(hc, &lh->rss, l->sc->seed, h, 0, k, 0);
        tw_worker_config wc = {.id = c->id};
        tw_world_host_worker_config(hc, c->stack, l->sc->seed, 0, &wc);
        tw_worker_init(&c->worker, &wc, 0);
        pthread_mutex_init(&c->turn, NULL);
        pthread_mutex_init(&c->fmu, NULL);
        mailbox_init(&c->box);
        c->frame_elem = 8 + frame_max;
        tw_ring_init(&c->frames, lh->ncores > 1 ? FRAME_RING_MAX : 1, c->frame_elem);
        c->scratch = malloc(c->frame_elem);
        c->wakes = calloc(lh->ncores, sizeof(bool));
        c->own = malloc((size_t)TW_DEV_BATCH * c->frame_elem);
        c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    }
    return 0;
}

/* The TCP connections one of kernel host h's workers may hold: every
 * connection of the scenario's apps could be its (a client's instances
 * may share one core, RSS may give one core most of a server's). */
static uint32_t kernel_conns(const tw_scenario *sc)
{
    uint64_t n = 64;
    for (uint32_t a = 0; a < sc->app_count; a++) {
        n += sc->apps[a].connections ? sc->apps[a].connections : 1;
    }
    return (uint32_t)(n > 65536 ? 65536 : n);
}

/* Task workers for each kernel host with apps that are not programs,
 * numbered from *next_id on. */
static int make_kernel_hosts(tw_live *l, uint32_t *next_id, char *why, size_t why_len)
{
    const tw_scenario *sc = l->sc;
    uint32_t first = *next_id;
    for (uint32_t h = 0; h < sc->host_count; h++) {
        const tw_scenario_host *sh = &sc->hosts[h];
        lhost *lh = &l->hosts[h];
        if (sh->kind != TW_SCENARIO_HOST_KERNEL || !kernel_apps(l, h, false)) {
            continue;
        }
        tw_kernhost_config kc = {.netns = lh->ns, .cores = sh->cores, .id_base = *next_id,
                                 .registry = l->cfg.registry, .max_tasks = sh->app_count + 4,
                                 .tcp_conns_max = kernel_conns(sc), .seed = sc->seed,
                                 .route = kernel_route, .ctx = l};
        /* Its echo answers any host's datagrams, its client sends its own
         * (a UDP payload is at most 65507 bytes; the loader checks). */
        for (uint32_t a = 0; a < sc->app_count; a++) {
            const tw_scenario_app *ap = &sc->apps[a];
            uint32_t size = ap->type == TW_SCENARIO_APP_UDP_CLIENT ? ap->size_bytes : 0;
            kc.udp_size_max = size > kc.udp_size_max ? size : kc.udp_size_max;
        }
        for (uint32_t k = 0; k < TW_KERNHOST_CORES_MAX; k++) {
            kc.cpus[k] = l->cfg.pin && sh->live_cpus && k < sh->cores ? (int)sh->live_cpus[k] : -1;
        }
        int rc = tw_kernhost_create(&lh->kh, &kc, why, why_len);
        if (rc < 0) {
            return rc;
        }
        lh->kbase = *next_id;
        lh->kcores = sh->cores;
        lh->up = true;
        *next_id += sh->cores;
    }
    l->kernel_host = calloc(*next_id - first + 1, sizeof(uint32_t));
    for (uint32_t h = 0; h < sc->host_count; h++) {
        for (uint32_t k = 0; l->hosts[h].kh && k < l->hosts[h].kcores; k++) {
            l->kernel_host[l->hosts[h].kbase + k - first] = h;
        }
    }
    return 0;
}

int tw_live_create(tw_live **out, const tw_live_config *cfg, char *why, size_t why_len)
{
    tw_live *l = calloc(1, sizeof(*l));
    *out = l;
    l->cfg = *cfg;
    l->sc = cfg->sc;
    l->ctl_efd = -1;
    const tw_scenario *sc = l->sc;
    tw_netns_run_id(l->run, sizeof l->run);
    l->hosts = calloc(sc->host_count ? sc->host_count : 1, sizeof(lhost));
    l->switch_ns = calloc(sc->switch_count ? sc->switch_count : 1, TW_NETNS_NAME_MAX);
    l->switch_made = calloc(sc->switch_count ? sc->switch_count : 1, sizeof(bool));
    l->part_active = calloc(sc->fault_count ? sc->fault_count : 1, sizeof(bool));
    l->fault_done = calloc(sc->fault_count ? sc->fault_count : 1, 1);
    l->fwds = calloc(sc->link_count ? sc->link_count : 1, sizeof(fwd *));
    if (geteuid() != 0) {
        return WHY("live mode needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for namespaces)");
    }
    int rc = check_scenario(l, why, why_len);
    if (rc) {
        return rc;
    }
    for (uint32_t i = 0; i < sc->fault_count; i++) {
        l->partitions |= sc->faults[i].kind == TW_SCENARIO_FAULT_PARTITION;
    }
    tw_netns_cleanup_stale();
    if ((rc = make_namespaces(l, why, why_len)) || (rc = make_links(l, why, why_len))) {
        return rc;
    }
    uint32_t next_id = 0;
    for (uint32_t h = 0; h < sc->host_count; h++) {
        lhost *lh = &l->hosts[h];
        lh->twin = sc->hosts[h].kind == TW_SCENARIO_HOST_TWIN;
        if (!lh->twin) {
            continue;
        }
        lh->nports = sc->hosts[h].iface_count;
        lh->ports = calloc(lh->nports ? lh->nports : 1, sizeof(port));
        for (uint32_t i = 0; i < lh->nports; i++) {
            if (sc->hosts[h].ifaces[i].link == TW_SCENARIO_NONE) {
                snprintf(why, why_len, "host '%s' interface '%s' is on no link", sc->hosts[h].name,
                         sc->hosts[h].ifaces[i].name);
                return -TW_EINVAL;
            }
            if ((rc = open_port(l, h, i, why, why_len))) {
                return rc;
            }
        }
        make_cores(l, h, &next_id);
    }
    /* Set together: destroy walks the workers of a half-built world. */
    l->nworkers = next_id;
    l->workers = calloc(l->nworkers ? l->nworkers : 1, sizeof(lcore *));
    for (uint32_t h = 0; h < sc->host_count; h++) {
        for (uint32_t k = 0; k < l->hosts[h].ncores; k++) {
            l->workers[l->hosts[h].cores[k].id] = &l->hosts[h].cores[k];
        }
    }
    if ((rc = make_kernel_hosts(l, &next_id, why, why_len))) {
        return rc;
    }
    l->nendpoints = next_id;
    if (l->nendpoints == 0) {
        snprintf(why, why_len, "the scenario has no twin host and no app on a kernel host that "
                               "runs as twin's task: nothing for twin to run");
        return -TW_EINVAL;
    }
    tw_controller_config cc = {.workers = l->nendpoints, .outq_max = cfg->outq_max,
                               .registry = cfg->registry, .program = cfg->program,
                               .program_ctx = cfg->program_ctx};
    tw_controller_init(&l->ctl, &cc);
    l->ctl_made = true;
    mailbox_init(&l->ctl_box);
    l->ctl_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return 0;
}

int tw_live_start(tw_live *l)
{
    clock_gettime(CLOCK_MONOTONIC, &l->t0);
    for (uint32_t w = 0; w < l->nworkers; w++) {
        lcore *c = l->workers[w];
        if (pthread_create(&c->th, NULL, core_main, c) != 0) {
            return -TW_ENOMEM;
        }
        c->started = true;
    }
    for (uint32_t i = 0; i < l->sc->link_count; i++) {
        fwd *f = l->fwds[i];
        if (f && pthread_create(&f->th, NULL, fwd_main, f) == 0) {
            f->started = true;
        }
    }
    for (uint32_t h = 0; h < l->sc->host_count; h++) {
        char why[256];
        if (l->hosts[h].kh && tw_kernhost_start(l->hosts[h].kh, why, sizeof why) < 0) {
            fprintf(stderr, "twin: kernel host '%s': %s\n", l->sc->hosts[h].name, why);
            return -TW_ENOTSUP;
        }
    }
    return 0;
}

/* ---- programs in namespaces ---------------------------------------------------- */

static pid_t fork_in(tw_live *l, uint32_t host, const char *log)
{
    if (l->nprograms == PROGRAMS_MAX) {
        return -ENOSPC;
    }
    pid_t pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        /* Its own process group, so that destroy ends its children too;
         * and it dies with us if we are killed outright. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int saved;
        if (tw_netns_enter(l->hosts[host].ns, &saved) < 0) {
            _exit(126);
        }
        int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        return 0;
    }
    setpgid(pid, pid);
    l->programs[l->nprograms++] = pid;
    return pid;
}

pid_t tw_live_exec(tw_live *l, uint32_t host, char *const argv[], const char *log)
{
    pid_t pid = fork_in(l, host, log);
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}


/* ---- teardown ------------------------------------------------------------------ */

/* Ends the kernel hosts' programs: SIGTERM to each process group, SIGKILL
 * to what is still there a second later. */
static void programs_end(tw_live *l)
{
    for (uint32_t i = 0; i < l->nprograms; i++) {
        kill(-l->programs[i], SIGTERM);
    }
    for (uint32_t i = 0; i < l->nprograms; i++) {
        int st;
        for (int t = 0; t < 40 && waitpid(l->programs[i], &st, WNOHANG) == 0; t++) {
            usleep(50000);
            if (t == 20) {
                kill(-l->programs[i], SIGKILL);
            }
        }
    }
}

static void host_free(tw_live *l, uint32_t h)
{
    lhost *lh = &l->hosts[h];
    for (uint32_t i = 0; i < lh->nports; i++) {
        port *p = &lh->ports[i];
        close_queues(p);
        for (int k = 0; k < 2; k++) {
            tw_link *m = k ? p->in : p->out;
            if (m) {
                tw_link_free(m);
                free(m);
            }
        }
    }
    for (uint32_t k = 0; k < lh->ncores; k++) {
        lcore *c = &lh->cores[k];
        if (lh->up) {
            tw_worker_free(&c->worker);
            tw_stack_destroy(c->stack);
        }
        tw_ring_free(&c->box.ring);
        tw_ring_free(&c->frames);
        free(c->scratch);
        free(c->wakes);
        free(c->own);
        close(c->efd);
    }
    /* Deleting a namespace frees its interfaces (and their XDP programs)
     * later, in the kernel's cleanup work; deleting the twin host's veths
     * first frees them now. */
    for (uint32_t i = 0; lh->ns_made && i < l->sc->hosts[h].iface_count; i++) {
        char ifname[16];
        snprintf(ifname, sizeof ifname, "%.15s", l->sc->hosts[h].ifaces[i].name);
        tw_netns_ip(NULL, 0, "-n", lh->ns, "link", "del", ifname, NULL);
    }
    free(lh->cores);
    free(lh->ports);
    if (lh->ns_made) {
        tw_netns_ip(NULL, 0, "netns", "del", lh->ns, NULL);
    }
}

void tw_live_destroy(tw_live *l)
{
    if (l == NULL) {
        return;
    }
    atomic_store(&l->stop, true);
    for (uint32_t w = 0; w < l->nworkers; w++) {
        if (l->workers[w]->started) {
            wake(l->workers[w]->efd);
            pthread_join(l->workers[w]->th, NULL);
        }
    }
    for (uint32_t h = 0; l->hosts && h < l->sc->host_count; h++) {
        tw_kernhost_destroy(l->hosts[h].kh); /* before its namespace goes */
        l->hosts[h].kh = NULL;
    }
    for (uint32_t i = 0; l->fwds && i < l->sc->link_count; i++) {
        if (l->fwds[i]) {
            fwd_free(l->fwds[i]);
        }
    }
    free(l->fwds);
    l->fwds = NULL;
    programs_end(l);
    for (uint32_t h = 0; h < l->sc->host_count; h++) {
        host_free(l, h);
    }
    for (uint32_t s = 0; s < l->sc->switch_count; s++) {
        if (l->switch_made[s]) {
            tw_netns_ip(NULL, 0, "netns", "del", l->switch_ns[s], NULL);
        }
    }
    if (l->ctl_made) {
        tw_controller_free(&l->ctl);
        tw_ring_free(&l->ctl_box.ring);
    }
    if (l->ctl_efd >= 0) {
        close(l->ctl_efd);
    }
    free(l->workers);
    free(l->kernel_host);
    free(l->hosts);
    free(l->switch_ns);
    free(l->switch_made);
    free(l->part_active);
    free(l->fault_done);
    free(l);
}

int tw_live_cleanup_stale(void) { return tw_netns_cleanup_stale(); }

/* ---- observation ---------------------------------------------------------------- */

uint32_t tw_live_host_core(const tw_live *l, uint32_t host, uint32_t core)
{
    const lhost *lh = &l->hosts[host];
    if (lh->kh) {
        return lh->kbase + core % lh->kcores;
    }
    return lh->ncores ? lh->cores[core % lh->ncores].id : 0;
}

tw_worker *tw_live_worker(tw_live *l, uint32_t worker)
{
    if (worker >= l->nworkers && worker < l->nendpoints) {
        lhost *lh = &l->hosts[l->kernel_host[worker - l->nworkers]];
        return tw_kernhost_worker(lh->kh, worker - lh->kbase);
    }
    return worker < l->nworkers && l->workers[worker]->h->up ? &l->workers[worker]->worker : NULL;
}

tw_stack *tw_live_stack(tw_live *l, uint32_t host, uint32_t core)
{
    lhost *lh = &l->hosts[host];
    return core < lh->ncores && lh->up ? lh->cores[core].stack : NULL;
}

bool tw_live_core_stat(tw_live *l, uint32_t host, uint32_t core, const char *leaf, uint64_t *out)
{
    lhost *lh = &l->hosts[host];
    if (core >= lh->ncores) {
        *out = 0;
        return false;
    }
    lcore *c = &lh->cores[core];
    *out = !strcmp(leaf, "busy")       ? c->busy_ns
           : !strcmp(leaf, "events")   ? c->inputs
           : !strcmp(leaf, "resteers") ? c->resteers
                                       : c->box.drops + c->frame_drops;
    return !strcmp(leaf, "busy") || !strcmp(leaf, "events") || !strcmp(leaf, "inbox_drops") ||
           !strcmp(leaf, "resteers");
}

const tw_link *tw_live_link(tw_live *l, uint32_t link, uint32_t dir)
{
    if (l->fwds[link]) {
        return l->fwds[link]->model[dir];
    }
    for (uint32_t h = 0; h < l->sc->host_count; h++) {
        lhost *lh = &l->hosts[h];
        for (uint32_t i = 0; i < lh->nports; i++) {
            port *p = &lh->ports[i];
            if (p->link != link) {
                continue;
            }
            if (p->out_dir == dir) {
                return p->out;
            }
            if (p->in) {
                return p->in;
            }
        }
    }
    return NULL;
}

int64_t tw_live_spawn(tw_live *l, uint32_t worker, uint32_t type, const void *args, uint32_t len)
{
    return tw_controller_spawn(&l->ctl, type, 0, worker, args, len);
}

void tw_live_kill(tw_live *l, tw_addr task) { tw_controller_kill(&l->ctl, task); }

void tw_live_lock(tw_live *l, bool on)
{
    for (uint32_t h = 0; h < l->sc->host_count; h++) {
        if (l->hosts[h].kh) {
            tw_kernhost_hold(l->hosts[h].kh, on);
        }
    }
    for (uint32_t i = 0; i < l->sc->link_count; i++) {
        if (l->fwds[i] && on) {
            pthread_mutex_lock(&l->fwds[i]->mu);
        } else if (l->fwds[i]) {
            pthread_mutex_unlock(&l->fwds[i]->mu);
        }
    }
    for (uint32_t w = 0; w < l->nworkers; w++) {
        if (on) {
            pthread_mutex_lock(&l->workers[w]->turn);
        } else {
            pthread_mutex_unlock(&l->workers[w]->turn);
        }
    }
}

uint64_t tw_live_turns(const tw_live *l)
{
    uint64_t n = 0;
    for (uint32_t w = 0; w < l->nworkers; w++) {
        n += l->workers[w]->turns;
    }
    return n;
}

uint64_t tw_live_drops(const tw_live *l, const char **name, uint32_t which)
{
    uint64_t tx = 0, steer = 0;
    for (uint32_t h = 0; h < l->sc->host_count; h++) {
        for (uint32_t i = 0; i < l->hosts[h].nports; i++) {
            tx += l->hosts[h].ports[i].tx_drops;
        }
        for (uint32_t k = 0; k < l->hosts[h].ncores; k++) {
            steer += l->hosts[h].cores[k].frame_drops;
        }
    }
    for (uint32_t i = 0; i < l->sc->link_count; i++) {
        tx += l->fwds[i] ? l->fwds[i]->tx_drops : 0;
    }
    switch (which) {
    case 0: *name = "device_tx"; return tx;
    case 1: *name = "steer_ring"; return steer;
    case 2: *name = "partition"; return l->partition_drops;
    case 3: {
        uint64_t down = 0;
        for (uint32_t h = 0; h < l->sc->host_count; h++) {
            down += l->hosts[h].down_drops;
        }
        *name = "host_down";
        return down;
    }
    case 4: *name = "kernel_bus"; return atomic_load(&l->kernel_post_drops);
    default: *name = NULL; return 0;
    }
}

const char *tw_live_netns(const tw_live *l, uint32_t host) { return l->hosts[host].ns; }

uint32_t tw_live_crashes(const tw_live *l, uint32_t host) { return l->hosts[host].crashes; }
