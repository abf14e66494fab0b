/* A host's `tcp:` mapping: the per-machine TCP settings (what sysctls and
 * socket options set on a real host) that the simulator applies to every
 * core's stack on the host, and that `twin fuzz` draws per seed.
 *
 *   RFC 9293 §3.7.1  MSS
 *   RFC 896          Nagle's algorithm
 *   RFC 5681 §4.2    delayed ACKs: under 500 ms
 *   RFC 6298 §2.4    the minimum RTO
 *   RFC 7323 §2.3    windows (so buffers) up to 2^30 bytes
 *   RFC 1122 §4.2.3.6 keep-alives */
#include <string.h>

#include "base/error.h"
#include "scenario/internal.h"

static const char *const tcp_keys[] = {"mss",         "send_buffer", "receive_buffer",
                                       "nagle",       "delayed_ack", "rto_min",
                                       "msl",         "keepalive",   NULL};
static const char *const keepalive_keys[] = {"idle", "interval", "probes", NULL};

/* `off`, or a duration: 0 < d < 500 ms. */
static int load_delayed_ack(sc_ctx *c, const yaml_node_t *n, tw_scenario_tcp *t)
{
    const char *text;
    if (n == NULL) {
        return 0;
    }
    if (sc_text(c, n, "a duration such as 40ms, or off", &text) < 0) {
        return -TW_EINVAL;
    }
    t->delayed_ack_set = true;
    if (strcmp(text, "off") == 0) {
        t->delayed_ack_ns = 0;
        return 0;
    }
    int rc = sc_duration(c, n, "delayed_ack", 1, TW_SEC(3600), &t->delayed_ack_ns);
    if (rc == 0 && t->delayed_ack_ns >= TW_SCENARIO_TCP_DELACK_MAX) {
        char q[64];
        sc_quote(text, q, sizeof(q));
        return sc_fail(c, n, "'delayed_ack' must be under 500ms (RFC 5681 §4.2), got '%s'", q);
    }
    return rc;
}

/* `off`, or {idle, interval, probes}, all required. */
static int load_keepalive(sc_ctx *c, const yaml_node_t *n, tw_scenario_tcp *t)
{
    int rc;
    if (n == NULL) {
        return 0;
    }
    if (n->type == YAML_SCALAR_NODE) {
        const char *text;
        if ((rc = sc_text(c, n, "off, or {idle, interval, probes}", &text)) < 0) {
            return rc;
        }
        if (strcmp(text, "off") != 0) {
            char q[64];
            sc_quote(text, q, sizeof(q));
            return sc_fail(c, n, "expected off, or {idle, interval, probes}, got '%s'", q);
        }
        return 0;
    }
    if ((rc = sc_check_map(c, n, "keep-alive settings", keepalive_keys)) < 0) {
        return rc;
    }
    const yaml_node_t *idle = sc_need(c, n, "idle");
    const yaml_node_t *intvl = idle ? sc_need(c, n, "interval") : NULL;
    const yaml_node_t *probes = intvl ? sc_need(c, n, "probes") : NULL;
    if (probes == NULL) {
        return -TW_EINVAL;
    }
    if ((rc = sc_duration(c, idle, "idle", TW_MS(1), TW_SEC(7 * 24 * 3600),
                          &t->keepalive_idle_ns)) < 0 ||
        (rc = sc_duration(c, intvl, "interval", TW_MS(1), TW_SEC(3600),
                          &t->keepalive_interval_ns)) < 0 ||
        (rc = sc_u32(c, probes, "probes", 1, 255, &t->keepalive_probes)) < 0) {
        return rc;
    }
    t->keepalive = true;
    return 0;
}

/* The MSS must fit the host's largest interface MTU: a larger one would
 * send segments no interface can carry without fragmenting every one. */
static int check_mss(sc_ctx *c, const yaml_node_t *n, const tw_scenario_host *h, uint32_t mss)
{
    uint32_t mtu = 0;
    for (uint32_t i = 0; i < h->iface_count; i++) {
        mtu = h->ifaces[i].mtu > mtu ? h->ifaces[i].mtu : mtu;
    }
    if (mss + 40 > mtu) {
        return sc_fail(c, n, "mss %uB does not fit host '%s''s MTU %u (at most %uB)", mss, h->name,
                       mtu, mtu - 40);
    }
    return 0;
}

int sc_load_host_tcp(sc_ctx *c, const yaml_node_t *hn, tw_scenario_host *h)
{
    const yaml_node_t *n = sc_get(c, hn, "tcp");
    tw_scenario_tcp *t = &h->tcp;
    int rc;
    if (n == NULL) {
        return 0;
    }
    if (h->kind == TW_SCENARIO_HOST_KERNEL) {
        return sc_fail(c, sc_get_key(c, hn, "tcp"),
                       "'tcp' applies to twin hosts only (host '%s' is a kernel host: set its "
                       "sysctls instead)",
                       h->name);
    }
    if ((rc = sc_check_map(c, n, "TCP settings", tcp_keys)) < 0) {
        return rc;
    }
    uint64_t mss = 0, snd = 0, rcv = 0;
    bool nagle = false;
    const yaml_node_t *nagle_node = sc_get(c, n, "nagle");
    if ((rc = sc_size(c, sc_get(c, n, "mss"), "mss", TW_SCENARIO_TCP_MSS_MIN, 65535 - 40, &mss)) <
            0 ||
        (rc = sc_size(c, sc_get(c, n, "send_buffer"), "send_buffer", TW_SCENARIO_TCP_BUFFER_MIN,
                      TW_SCENARIO_TCP_BUFFER_MAX, &snd)) < 0 ||
        (rc = sc_size(c, sc_get(c, n, "receive_buffer"), "receive_buffer",
                      TW_SCENARIO_TCP_BUFFER_MIN, TW_SCENARIO_TCP_BUFFER_MAX, &rcv)) < 0 ||
        (rc = sc_bool(c, nagle_node, "nagle", &nagle)) < 0 ||
        (rc = load_delayed_ack(c, sc_get(c, n, "delayed_ack"), t)) < 0 ||
        (rc = sc_duration(c, sc_get(c, n, "rto_min"), "rto_min", TW_MS(1), TW_SEC(60),
                          &t->rto_min_ns)) < 0 ||
        (rc = sc_duration(c, sc_get(c, n, "msl"), "msl", TW_MS(1), TW_SEC(3600), &t->msl_ns)) < 0 ||
        (rc = load_keepalive(c, sc_get(c, n, "keepalive"), t)) < 0) {
        return rc;
    }
    if (mss && (rc = check_mss(c, sc_get(c, n, "mss"), h, (uint32_t)mss)) < 0) {
        return rc;
    }
    t->mss_bytes = (uint32_t)mss;
    t->send_buffer_bytes = (uint32_t)snd;
    t->receive_buffer_bytes = (uint32_t)rcv;
    t->nagle = nagle_node == NULL ? TW_SCENARIO_NAGLE_APP
               : nagle        ? TW_SCENARIO_NAGLE_ON
                              : TW_SCENARIO_NAGLE_OFF;
    return 0;
}
