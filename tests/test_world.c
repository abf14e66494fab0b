/* The simulated world, point to point: two hosts on one link, UDP tasks on
 * their cores, and what the link does to the datagrams end to end (delays,
 * loss, queues, CoDel, duplication, reordering, corruption, MTU), with the
 * trace hash as the witness of determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "harness.h"
#include "world_harness.h"

typedef struct pair {
    tw_world *w;
    uint32_t link;
    uint32_t a; /* worker of host 0, core 0 */
    uint32_t b; /* worker of host 1, core 0 */
} pair;

static tw_link_config gig_100us(void)
{
    tw_link_config lc = tw_link_config_default();
    lc.bandwidth_bps = 1000000000ull;
    lc.delay_ns = TW_US(100);
    lc.pool_frames = 512;
    return lc;
}

static void pair_build(pair *p, uint64_t seed, const tw_link_config *ab, const tw_link_config *ba)
{
    tw_world_config cfg;
    wt_world_config(&cfg, seed);
    p->w = tw_world_create(&cfg);
    assert_int_equal(wt_host_add(p->w, 0, 1), 0);
    assert_int_equal(wt_host_add(p->w, 1, 1), 1);
    int l = tw_world_link_add(p->w, tw_world_host_end(0, 0), tw_world_host_end(1, 0), ab, ba);
    assert_int_equal(l, 0);
    p->link = (uint32_t)l;
    assert_int_equal(tw_world_start(p->w), 0);
    p->a = tw_world_host_core(p->w, 0, 0);
    p->b = tw_world_host_core(p->w, 1, 0);
}

static void spawn_sink(tw_world *w, uint32_t worker, uint16_t port)
{
    wt_sink_args a = {.port = port};
    assert_true(tw_world_spawn(w, worker, WT_SINK, 0, &a, sizeof(a)) > 0);
}

static void spawn_sender(tw_world *w, uint32_t worker, const wt_sender_args *a)
{
    assert_true(tw_world_spawn(w, worker, WT_SENDER, 0, a, sizeof(*a)) > 0);
}

/* A datagram to a closed port, so that ARP is resolved both ways before
 * the measured traffic starts (and a lost ARP frame has time to be
 * retried: RFC 1122's one second). */
static void warm_up(tw_world *w, uint32_t worker, tw_ipv4_addr dst)
{
    wt_sender_args a = {.dst = dst, .port = 9, .size = 16, .count = 1, .start_ns = TW_MS(1)};
    spawn_sender(w, worker, &a);
}

static void two_sinks(tw_controller *c, tw_ns now, void *ctx)
{
    tw_controller_spawn(c, WT_SINK, 0, 1, NULL, 0);
    tw_controller_spawn(c, WT_SINK, 0, 0, NULL, 0);
}
static const tw_controller_program two_sinks_program = {.on_start = two_sinks};

static void test_world_zero_hosts_is_the_plain_sim(void **state)
{
    /* The same runtime workload, once on a plain simulator and once in a
     * world of no hosts: the same events, the same hash. */
    tw_world_config wc;
    wt_world_config(&wc, 5);
    wc.sim.cores = 2;
    wc.sim.worker.registry = &wt_registry;
    wc.sim.worker.task_state_max = WT_STATE_MAX;
    wc.sim.worker.max_tasks = 4;
    wc.hosts_max = 0;
    wc.sim.controller.program = &two_sinks_program;

    static tw_sim s;
    tw_sim_init(&s, &wc.sim);
    tw_sim_run_until(&s, TW_MS(1));

    tw_world *w = tw_world_create(&wc);
    assert_int_equal(tw_world_start(w), 0);
    tw_world_run_until(w, TW_MS(1));

    assert_true(s.events > 4);
    assert_int_equal(tw_world_sim(w)->events, s.events);
    assert_int_equal(tw_world_trace_hash(w), s.trace_hash);
    /* Without a stack the sinks were told the network is not there. */
    wt_sink *k = wt_task_state(w, 1, 0);
    assert_non_null(k);
    assert_int_equal(k->ep, -TW_ENOTSUP);
    tw_world_destroy(w);
    tw_sim_free(&s);
}

static void test_world_udp_arrives_after_serialisation_and_propagation(void **state)
{
    tw_link_config lc = gig_100us();
    pair p;
    pair_build(&p, 1, &lc, &lc);
    spawn_sink(p.w, p.b, WT_SINK_PORT);
    /* 58 bytes of payload: 100-byte frames, 800 ns at 1 Gbps. The first
     * datagram waits for ARP; the others go straight out. */
    wt_sender_args a = {.dst = wt_addr(1),
                        .port = WT_SINK_PORT,
                        .size = 58,
                        .count = 4,
                        .start_ns = TW_MS(1),
                        .interval_ns = TW_MS(1)};
    spawn_sender(p.w, p.a, &a);
    tw_world_run_until(p.w, TW_MS(10));

    wt_sink *k = wt_task_state(p.w, p.b, 0);
    wt_sender *s = wt_task_state(p.w, p.a, 0);
    assert_non_null(k);
    assert_non_null(s);
    assert_int_equal(k->received, 4);
    assert_int_equal(s->failed, 0);
    for (uint32_t i = 1; i < 4; i++) {
        assert_int_equal(k->seq_at[i], i);
        assert_int_equal(s->sent_at[i], TW_MS(1) + i * TW_MS(1));
        /* The sender's core: the timer (100 ns), then the frame out (50);
         * the wire: 800 ns of serialisation and 100 us of propagation; the
         * receiving core is idle and takes it as it arrives. */
        assert_int_equal(k->at[i], s->sent_at[i] + 100 + 50 + 800 + TW_US(100));
    }
    /* ARP: the request, its reply, and the datagram it held back. */
    assert_int_equal(k->at[0], s->sent_at[0] + 100 + 50 + 336 + TW_US(100) /* request: 42 B */
                                   + 200 + 50 + 336 + TW_US(100)           /* reply */
                                   + 200 + 50 + 800 + TW_US(100));         /* datagram */
    tw_world_destroy(p.w);
}

static void test_world_loss_rate_within_bounds(void **state)
{
    tw_link_config lc = gig_100us();
    lc.loss = TW_RATIO(1, 100);
    pair p;
    pair_build(&p, 7, &lc, &lc);
    warm_up(p.w, p.a, wt_addr(1));
    spawn_sink(p.w, p.b, WT_SINK_PORT);
    const uint32_t n = 100000;
    wt_sender_args a = {.dst = wt_addr(1),
                        .port = WT_SINK_PORT,
                        .size = 58,
                        .count = n,
                        .start_ns = TW_SEC(3),
                        .interval_ns = TW_US(2)};
    spawn_sender(p.w, p.a, &a);
    tw_world_run_until(p.w, TW_SEC(4));

    wt_sink *k = wt_task_state(p.w, p.b, 0);
    assert_non_null(k);
    /* 1% of 100,000: 1000 lost, standard deviation 31.5; allow 5 of them. */
    uint64_t lost = n - k->received;
    assert_in_range(lost, 1000 - 158, 1000 + 158);
    assert_int_equal(k->duplicates, 0);
    assert_int_equal(k->bad, 0);
    /* Every loss is a drop with its reason, counted by the link and the
     * world alike. */
    const tw_link_stats *st = tw_link_get_stats(tw_world_link(p.w, p.link, 0));
    assert_int_equal(st->frames_in - st->frames_out, st->drops[TW_LINK_DROP_LOSS]);
    assert_true(st->drops[TW_LINK_DROP_LOSS] >= lost);
    assert_int_equal(
        tw_world_drops(p.w, TW_SIM_DROP_LINK_LOSS),
        st->drops[TW_LINK_DROP_LOSS] +
            tw_link_get_stats(tw_world_link(p.w, p.link, 1))->drops[TW_LINK_DROP_LOSS]);
    tw_world_destroy(p.w);
}

static void test_world_queue_overflow_is_counted(void **state)
{
    tw_link_config lc = gig_100us();
    lc.bandwidth_bps = 10000000ull; /* 80 us per 100-byte frame */
    lc.queue_packets_limit = 50;
    pair p;
    pair_build(&p, 1, &lc, &lc);
    warm_up(p.w, p.a, wt_addr(1));
    spawn_sink(p.w, p.b, WT_SINK_PORT);
    /* 200 datagrams in one tick: they leave the core 50 ns apart, far
     * faster than the link drains. One serialises, 50 wait, 149 are
     * dropped. */
    wt_sender_args a = {.dst = wt_addr(1),
                        .port = WT_SINK_PORT,
                        .size = 58,
                        .count = 200,
                        .burst = 200,
                        .start_ns = TW_MS(100)};
    spawn_sender(p.w, p.a, &a);
    tw_world_run_until(p.w, TW_MS(200));

    wt_sink *k = wt_task_state(p.w, p.b, 0);
    assert_int_equal(k->received, 51);
    const tw_link_stats *st = tw_link_get_stats(tw_world_link(p.w, p.link, 0));
    assert_int_equal(st->drops[TW_LINK_DROP_QUEUE_PACKETS], 149);
    assert_int_equal(st->queue_packets_high, 50);
    assert_int_equal(tw_world_drops(p.w, TW_SIM_DROP_LINK_QUEUE_PACKETS), 149);
    tw_world_destroy(p.w);
}

static void test_world_codel_drops_under_a_standing_queue(void **state)
{
    tw_link_config lc = gig_100us();
    lc.bandwidth_bps = 10000000ull; /* 80 us per 100-byte frame */
    lc.aqm = TW_LINK_AQM_CODEL;
    lc.queue_packets_limit = 400;
    lc.pool_frames = 1024;
    pair p;
    pair_build(&p, 1, &lc, &lc);
    warm_up(p.w, p.a, wt_addr(1));
    spawn_sink(p.w, p.b, WT_SINK_PORT);
    /* 10% more than the link carries, for two seconds: a queue that stands
     * and that CoDel answers with drops at a rising rate (RFC 8289 §3.3:
     * interval / sqrt(count)). An unresponsive sender keeps it full, so
     * drop-tail takes the rest. */
    const uint32_t n = 27500;
    wt_sender_args a = {.dst = wt_addr(1),
                        .port = WT_SINK_PORT,
                        .size = 58,
                        .count = n,
                        .start_ns = TW_MS(100),
                        .interval_ns = TW_NS(72727)};
    spawn_sender(p.w, p.a, &a);
    tw_world_run_until(p.w, TW_SEC(3));

    wt_sink *k = wt_task_state(p.w, p.b, 0);
    const tw_link_stats *st = tw_link_get_stats(tw_world_link(p.w, p.link, 0));
    uint64_t codel = st->drops[TW_LINK_DROP_CODEL];
    uint64_t tail = st->drops[TW_LINK_DROP_QUEUE_PACKETS];
    assert_true(codel > 100);
    assert_int_equal(k->received + codel + tail, n);
    assert_int_equal(tw_world_drops(p.w, TW_SIM_DROP_LINK_CODEL), codel);
    assert_int_equal(tw_world_drops(p.w, TW_SIM_DROP_LINK_QUEUE_PACKETS), tail);
    /* The link never idled while the queue stood: it carried its rate for
     * the two seconds, and then what was left queued (at most 400). */
    assert_in_range(k->received, 24900, 25400);
    tw_world_destroy(p.w);
}

static void test_world_duplication_and_reordering_end_to_end(void **state)
{
    tw_link_config lc = gig_100us();
    lc.duplicate = TW_RATIO(1, 10);
    lc.reorder = TW_RATIO(1, 10);
    lc.reorder_delay_ns = TW_US(50);
    pair p;
    pair_build(&p, 3, &lc, &lc);
    warm_up(p.w, p.a, wt_addr(1));
    spawn_sink(p.w, p.b, WT_SINK_PORT);
    const uint32_t n = 10000;
    wt_sender_args a = {.dst = wt_addr(1),
                        .port = WT_SINK_PORT,
                        .size = 58,
                        .count = n,
                        .start_ns = TW_SEC(3),
                        .interval_ns = TW_US(10)};
    spawn_sender(p.w, p.a, &a);
    tw_world_run_until(p.w, TW_SEC(4));

    wt_sink *k = wt_task_state(p.w, p.b, 0);
    /* 10% duplicated: 1000 copies, standard deviation 30. */
    assert_in_range(k->duplicates, 1000 - 150, 1000 + 150);
    assert_int_equal(k->received, n + k->duplicates);
    /* Held back 50 us while datagrams come every 10 us: each reordered one
     * lands behind about five later ones. */
    assert_true(k->reordered > 500);
    assert_int_equal(k->bad, 0);
    tw_world_destroy(p.w);
}

static void test_world_corruption_is_caught_by_checksums(void **state)
{
    tw_link_config lc = gig_100us();
    pair p;
    tw_link_config bad = lc;
    bad.corrupt = TW_RATIO(1, 10);
    pair_build(&p, 11, &bad, &lc);
    warm_up(p.w, p.a, wt_addr(1));
    spawn_sink(p.w, p.b, WT_SINK_PORT);
    const uint32_t n = 10000;
    wt_sender_args a = {.dst = wt_addr(1),
                        .port = WT_SINK_PORT,
                        .size = 200,
                        .count = n,
                        .start_ns = TW_SEC(3),
                        .interval_ns = TW_US(10)};
    spawn_sender(p.w, p.a, &a);
    tw_world_run_until(p.w, TW_SEC(4));

    wt_sink *k = wt_task_state(p.w, p.b, 0);
    /* No damaged payload reaches the task ... */
    assert_int_equal(k->bad, 0);
    assert_int_equal(k->out_of_range, 0);
    /* ... because the receiving stack dropped them, by reason. */
    const tw_iface_counters *ic = tw_stack_iface_counters(tw_world_stack(p.w, 1, 0), 0);
    uint64_t ip = ic->drops[TW_DROP_IPV4_BAD_CHECKSUM];
    uint64_t udp = ic->drops[TW_DROP_UDP_BAD_CHECKSUM];
    /* 242-byte frames: 160 of the 1936 bits are the IP header, 1600 the
     * UDP header and payload. */
    assert_true(ip > 30);
    assert_true(udp > 500);
    const tw_link_stats *st = tw_link_get_stats(tw_world_link(p.w, p.link, 0));
    assert_true(st->corrupted >= ip + udp);
    /* A flipped bit in a source MAC harms nothing: those arrive. */
    assert_true(k->received > n - st->corrupted);
    assert_true(k->received < n);
    tw_world_destroy(p.w);
}

static void test_world_frames_over_the_link_mtu_are_dropped(void **state)
{
    tw_link_config lc = gig_100us();
    tw_link_config small = lc;
    small.mtu = 576;
    pair p;
    pair_build(&p, 1, &small, &lc);
    warm_up(p.w, p.a, wt_addr(1));
    spawn_sink(p.w, p.b, WT_SINK_PORT);
    /* Small datagrams pass; 1000-byte ones do not fit 576. */
    wt_sender_args a = {.dst = wt_addr(1),
                        .port = WT_SINK_PORT,
                        .size = 1000,
                        .count = 10,
                        .start_ns = TW_MS(100),
                        .interval_ns = TW_MS(1)};
    spawn_sender(p.w, p.a, &a);
    tw_world_run_until(p.w, TW_MS(200));
    wt_sink *k = wt_task_state(p.w, p.b, 0);
    assert_int_equal(k->received, 0);
    assert_int_equal(tw_world_drops(p.w, TW_SIM_DROP_LINK_MTU), 10);
    assert_int_equal(tw_link_get_stats(tw_world_link(p.w, p.link, 0))->drops[TW_LINK_DROP_MTU], 10);
    tw_world_destroy(p.w);
}

static void test_world_interface_without_link_drops_with_reason(void **state)
{
    tw_world_config cfg;
    wt_world_config(&cfg, 1);
    tw_world *w = tw_world_create(&cfg);
    assert_int_equal(wt_host_add(w, 0, 1), 0);
    assert_int_equal(tw_world_start(w), 0);
    /* The announcement at start goes nowhere. */
    tw_world_run_until(w, TW_MS(1));
    assert_int_equal(tw_world_drops(w, TW_SIM_DROP_NO_LINK), 1);
    tw_world_destroy(w);
}

static void test_world_building_refuses_what_cannot_be(void **state)
{
    tw_world_config cfg;
    wt_world_config(&cfg, 1);
    cfg.hosts_max = 2;
    cfg.links_max = 1;
    tw_world *w = tw_world_create(&cfg);
    assert_int_equal(wt_host_add(w, 0, 1), 0);
    assert_int_equal(wt_host_add(w, 1, 1), 1);
    assert_int_equal(wt_host_add(w, 2, 1), -TW_EFULL);
    tw_world_host_config hc;
    tw_world_host_config_default(&hc);
    assert_int_equal(tw_world_host_add(w, &hc), -TW_EFULL);
    tw_link_config lc = gig_100us();
    tw_link_config bad = lc;
    bad.mtu = 0;
    /* An end that does not exist, a configuration the link refuses, an
     * end already wired, a link from an end to itself. */
    assert_int_equal(
        tw_world_link_add(w, tw_world_host_end(0, 1), tw_world_host_end(1, 0), &lc, &lc),
        -TW_EINVAL);
    assert_int_equal(
        tw_world_link_add(w, tw_world_host_end(0, 0), tw_world_host_end(1, 0), &bad, &lc),
        -TW_EINVAL);
    assert_int_equal(
        tw_world_link_add(w, tw_world_host_end(0, 0), tw_world_host_end(0, 0), &lc, &lc),
        -TW_EINVAL);
    assert_int_equal(
        tw_world_link_add(w, tw_world_host_end(0, 0), tw_world_host_end(1, 0), &lc, &lc), 0);
    assert_int_equal(tw_world_tap_link(w, 1, TW_WORLD_DIR_BOTH), -TW_EINVAL);
    assert_int_equal(tw_world_tap_nic(w, 0, 3), -TW_EINVAL);
    assert_int_equal(tw_world_fault_add(
                         w, &(tw_world_fault){.kind = TW_WORLD_FAULT_CRASH, .at = 1, .target = 2}),
                     -TW_EINVAL);
    assert_int_equal(tw_world_start(w), 0);
    /* Built: nothing more can be added. */
    assert_int_equal(tw_world_start(w), -TW_ESTATE);
    assert_int_equal(tw_world_tap_link(w, 0, TW_WORLD_DIR_AB), -TW_ESTATE);
    assert_int_equal(tw_world_host_core(w, 1, 0), 1);
    tw_world_destroy(w);

    /* Two interfaces on one subnet: the stack refuses, so start does. */
    w = tw_world_create(&cfg);
    tw_world_host_config_default(&hc);
    hc.worker.registry = &wt_registry;
    tw_world_host_config_iface(&hc, tw_mac_from_id(1), wt_addr(0), 24, 1500);
    tw_world_host_config_iface(&hc, tw_mac_from_id(2), wt_addr(1), 24, 1500);
    assert_int_equal(tw_world_host_add(w, &hc), 0);
    assert_int_equal(tw_world_start(w), -TW_EINVAL);
    tw_world_destroy(w);
}

typedef struct drop_log {
    uint64_t records[TW_SIM_DROP_COUNT];
    uint64_t events;
    uint64_t last_hash;
} drop_log;

static void log_hook(void *ctx, const tw_sim_record *rec)
{
    drop_log *l = ctx;
    if (rec->kind == TW_SIM_EV_DROP) {
        assert_true(rec->drop < TW_SIM_DROP_COUNT);
        l->records[rec->drop]++;
    } else {
        /* A message refused by a full inbox is its arrival's own record. */
        if (rec->kind == TW_SIM_EV_ARRIVE && rec->work == TW_SIM_WORK_DROP) {
            l->records[TW_SIM_DROP_INBOX]++;
        }
        l->events++;
    }
    l->last_hash = rec->hash;
}

static uint64_t lossy_run(uint64_t seed, drop_log *log)
{
    tw_link_config lc = gig_100us();
    lc.loss = TW_RATIO(1, 20);
    lc.jitter_ns = TW_US(5);
    pair p;
    pair_build(&p, seed, &lc, &lc);
    if (log) {
        tw_sim_set_hook(tw_world_sim(p.w), log_hook, log);
    }
    warm_up(p.w, p.a, wt_addr(1));
    spawn_sink(p.w, p.b, WT_SINK_PORT);
    wt_sender_args a = {.dst = wt_addr(1),
                        .port = WT_SINK_PORT,
                        .size = 100,
                        .count = 2000,
                        .start_ns = TW_SEC(3),
                        .interval_ns = TW_US(20)};
    spawn_sender(p.w, p.a, &a);
    tw_world_run_until(p.w, TW_SEC(4));
    uint64_t h = tw_world_trace_hash(p.w);
    if (log) {
        /* Every drop of every reason has its record. */
        for (uint32_t r = 0; r < TW_SIM_DROP_COUNT; r++) {
            assert_int_equal(log->records[r], tw_world_drops(p.w, (tw_sim_drop)r));
        }
        assert_int_equal(log->events, tw_world_sim(p.w)->events);
        assert_int_equal(log->last_hash, h);
    }
    tw_world_destroy(p.w);
    return h;
}

static void test_world_same_seed_same_hash(void **state)
{
    drop_log log = {0};
    uint64_t a = lossy_run(42, &log);
    assert_true(log.records[TW_SIM_DROP_LINK_LOSS] > 50);
    assert_int_equal(lossy_run(42, NULL), a);
    assert_int_not_equal(lossy_run(43, NULL), a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_world_zero_hosts_is_the_plain_sim),
        cmocka_unit_test(test_world_udp_arrives_after_serialisation_and_propagation),
        cmocka_unit_test(test_world_loss_rate_within_bounds),
        cmocka_unit_test(test_world_queue_overflow_is_counted),
        cmocka_unit_test(test_world_codel_drops_under_a_standing_queue),
        cmocka_unit_test(test_world_duplication_and_reordering_end_to_end),
        cmocka_unit_test(test_world_corruption_is_caught_by_checksums),
        cmocka_unit_test(test_world_frames_over_the_link_mtu_are_dropped),
        cmocka_unit_test(test_world_interface_without_link_drops_with_reason),
        cmocka_unit_test(test_world_building_refuses_what_cannot_be),
        cmocka_unit_test(test_world_same_seed_same_hash),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
