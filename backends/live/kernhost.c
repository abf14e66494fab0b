/* A kernel host's apps as twin's tasks over its kernel sockets: see
 * kernhost.h. A thin owner of one embedded io_uring driver per incarnation
 * of the host; the driver does the work. */
#define _GNU_SOURCE
#include "backends/live/kernhost.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "backends/live/netns.h"
#include "base/assert.h"
#include "base/error.h"

#ifdef TW_HAVE_URING
#include "backends/uring/uring.h"

struct tw_kernhost {
    tw_kernhost_config cfg;
    char netns[TW_NETNS_NAME_MAX];
    /* Guards `u` between post (any thread) and stop/start (the driving
     * thread, the only writer, which reads it without the lock). */
    pthread_mutex_t mu;
    tw_uring *u; /* NULL while down */
};

/* On each worker's thread, before its ring and sockets: into the host's
 * namespace, for good (the thread ends there). */
static int enter_netns(void *ctx, uint32_t w, char *err, size_t err_len)
{
    tw_kernhost *k = ctx;
    const char *host = strrchr(k->netns, '-'); /* tw<run>-<host> */
    char name[16];
    snprintf(name, sizeof name, "tk-%.8s-%u", host ? host + 1 : k->netns, w);
    prctl(PR_SET_NAME, name);
    int saved;
    int rc = tw_netns_enter(k->netns, &saved);
    if (rc < 0) {
        snprintf(err, err_len, "worker %u: entering namespace %s: %s", w, k->netns, strerror(-rc));
        return -1;
    }
    close(saved);
    return 0;
}

static void route(void *ctx, const tw_msg *m)
{
    tw_kernhost *k = ctx;
    k->cfg.route(k->cfg.ctx, m);
}

int tw_kernhost_create(tw_kernhost **out, const tw_kernhost_config *cfg, char *why, size_t why_len)
{
    *out = NULL;
    if (cfg->cores == 0 || cfg->cores > TW_KERNHOST_CORES_MAX || cfg->registry == NULL ||
        cfg->route == NULL || cfg->netns == NULL || strlen(cfg->netns) >= TW_NETNS_NAME_MAX) {
        snprintf(why, why_len, "kernel host apps: cores must be 1..%d (and a namespace, a "
                               "registry and a route given)", TW_KERNHOST_CORES_MAX);
        return -TW_EINVAL;
    }
    char reason[256];
    if (tw_uring_probe(reason, sizeof reason) < 0) {
        snprintf(why, why_len, "a kernel host's apps run as twin's tasks over io_uring: %s",
                 reason);
        return -TW_ENOTSUP;
    }
    tw_kernhost *k = calloc(1, sizeof(*k));
    TW_ASSERT(k != NULL);
    k->cfg = *cfg;
    snprintf(k->netns, sizeof k->netns, "%s", cfg->netns);
    k->cfg.netns = k->netns;
    pthread_mutex_init(&k->mu, NULL);
    *out = k;
    return 0;
}

int tw_kernhost_start(tw_kernhost *k, char *why, size_t why_len)
{
    TW_ASSERT(k->u == NULL);
    tw_uring_config uc;
    tw_uring_config_defaults(&uc);
    uc.workers = k->cfg.cores;
    for (uint32_t i = 0; i < k->cfg.cores; i++) {
        uc.cpus[i] = k->cfg.cpus[i];
    }
    uc.registry = k->cfg.registry;
    uc.max_tasks = k->cfg.max_tasks;
    uc.tcp_conns_max = k->cfg.tcp_conns_max;
    /* A datagram's buffer holds its header and source address too. */
    uint32_t udp = k->cfg.udp_size_max + 256;
    uc.udp_buf_size = udp > uc.udp_buf_size ? udp : uc.udp_buf_size;
    uc.seed = k->cfg.seed;
    uc.id_base = k->cfg.id_base;
    uc.route = route;
    uc.thread_init = enter_netns;
    uc.ctx = k;
    uc.post_max = 4096;
    tw_uring *u;
    char err[256];
    if (tw_uring_create(&u, &uc, err, sizeof err) < 0) {
        snprintf(why, why_len, "kernel host apps (namespace %s): %s", k->netns, err);
        return -TW_EINVAL;
    }
    if (tw_uring_start(u, err, sizeof err) < 0) {
        snprintf(why, why_len, "kernel host apps (namespace %s): io_uring: %s", k->netns, err);
        tw_uring_destroy(u);
        return -TW_ENOTSUP;
    }
    pthread_mutex_lock(&k->mu);
    k->u = u;
    pthread_mutex_unlock(&k->mu);
    return 0;
}

void tw_kernhost_stop(tw_kernhost *k)
{
    pthread_mutex_lock(&k->mu);
    tw_uring *u = k->u;
    k->u = NULL;
    pthread_mutex_unlock(&k->mu);
    if (u != NULL) {
        /* Joins the threads, then closes every socket: the kernel ends the
         * connections as it does a dead process's. */
        tw_uring_destroy(u);
    }
}

bool tw_kernhost_up(const tw_kernhost *k) { return k->u != NULL; }

bool tw_kernhost_post(tw_kernhost *k, uint32_t core, const tw_msg *m)
{
    TW_ASSERT(core < k->cfg.cores);
    pthread_mutex_lock(&k->mu);
    bool ok = k->u != NULL && tw_uring_post(k->u, core, m) == 0;
    pthread_mutex_unlock(&k->mu);
    return ok;
}

void tw_kernhost_hold(tw_kernhost *k, bool on)
{
    if (k->u != NULL) {
        tw_uring_hold(k->u, on);
    }
}

tw_worker *tw_kernhost_worker(tw_kernhost *k, uint32_t core)
{
    TW_ASSERT(core < k->cfg.cores);
    return k->u ? tw_uring_worker(k->u, core) : NULL;
}

void tw_kernhost_destroy(tw_kernhost *k)
{
    if (k == NULL) {
        return;
    }
    tw_kernhost_stop(k);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

#else /* built without liburing */

struct tw_kernhost {
    int unused;
};

int tw_kernhost_create(tw_kernhost **out, const tw_kernhost_config *cfg, char *why, size_t why_len)
{
    *out = NULL;
    snprintf(why, why_len, "a kernel host's apps run as twin's tasks over io_uring, which is not "
                           "in this build (twin was built without liburing)");
    return -TW_ENOTSUP;
}
int tw_kernhost_start(tw_kernhost *k, char *why, size_t why_len) { return -TW_ENOTSUP; }
void tw_kernhost_stop(tw_kernhost *k) {}
bool tw_kernhost_up(const tw_kernhost *k) { return false; }
bool tw_kernhost_post(tw_kernhost *k, uint32_t core, const tw_msg *m) { return false; }
void tw_kernhost_hold(tw_kernhost *k, bool on) {}
tw_worker *tw_kernhost_worker(tw_kernhost *k, uint32_t core) { return NULL; }
void tw_kernhost_destroy(tw_kernhost *k) {}

#endif
