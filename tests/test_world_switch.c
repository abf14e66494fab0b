/* The simulated world's switches and routers: learning, flooding, ageing,
 * the MAC table's bound, port queue limits; and a router host forwarding
 * between two subnets with per-core stacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "harness.h"
#include "world_harness.h"

static tw_link_config fast_link(void)
{
    tw_link_config lc = tw_link_config_default();
    lc.bandwidth_bps = 1000000000ull;
    lc.delay_ns = TW_US(10);
    lc.pool_frames = 256;
    return lc;
}

/* `hosts` hosts 10.0.0.1.. on ports 0.. of one switch. */
static tw_world *star(uint64_t seed, uint32_t hosts, const tw_world_switch_config *sc,
                      const tw_link_config *lc)
{
    tw_world_config cfg;
    wt_world_config(&cfg, seed);
    tw_world *w = tw_world_create(&cfg);
    assert_int_equal(tw_world_switch_add(w, sc), 0);
    for (uint32_t i = 0; i < hosts; i++) {
        assert_int_equal(wt_host_add(w, i, 1), (int)i);
        assert_int_equal(
            tw_world_link_add(w, tw_world_host_end(i, 0), tw_world_switch_end(0, i), lc, lc),
            (int)i);
    }
    assert_int_equal(tw_world_start(w), 0);
    return w;
}

static void send_from(tw_world *w, uint32_t from, uint32_t to, uint32_t count, tw_ns start,
                      tw_ns interval)
{
    wt_sender_args a = {.dst = wt_addr(to),
                        .port = WT_SINK_PORT,
                        .size = 64,
                        .count = count,
                        .start_ns = start,
                        .interval_ns = interval};
    assert_true(tw_world_spawn(w, tw_world_host_core(w, from, 0), WT_SENDER, 0, &a, sizeof(a)) > 0);
}

static void sink_on(tw_world *w, uint32_t host)
{
    assert_true(tw_world_spawn(w, tw_world_host_core(w, host, 0), WT_SINK, 0, NULL, 0) > 0);
}

static void test_world_switch_broadcast_reaches_every_port(void **state)
{
    tw_world_switch_config sc;
    tw_world_switch_config_default(&sc);
    tw_link_config lc = fast_link();
    tw_world *w = star(1, 4, &sc, &lc);
    tw_world_run_until(w, TW_MS(1));
    /* Each host announced itself at start; every announcement flooded to
     * the three other hosts (of eight ports, four are not wired). */
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(tw_world_host_stats_get(w, i)->rx_frames, 3);
    }
    const tw_world_switch_stats *st = tw_world_switch_stats_get(w, 0);
    assert_int_equal(st->frames_in, 4);
    assert_int_equal(st->flooded, 4);
    assert_int_equal(st->copies, 12);
    assert_int_equal(st->learned, 4);
    assert_int_equal(st->entries, 4);
    tw_world_destroy(w);
}

static void test_world_switch_learns_and_stops_flooding(void **state)
{
    tw_world_switch_config sc;
    tw_world_switch_config_default(&sc);
    tw_link_config lc = fast_link();
    tw_world *w = star(1, 3, &sc, &lc);
    sink_on(w, 1);
    send_from(w, 0, 1, 100, TW_MS(1), TW_US(100));
    tw_world_run_until(w, TW_MS(50));

    wt_sink *k = wt_task_state(w, tw_world_host_core(w, 1, 0), 0);
    assert_int_equal(k->received, 100);
    /* Host 2 heard the two other announcements and A's ARP request, the
     * one broadcast of the exchange; the reply and every datagram went
     * to their port only. */
    assert_int_equal(tw_world_host_stats_get(w, 2)->rx_frames, 3);
    const tw_world_switch_stats *st = tw_world_switch_stats_get(w, 0);
    assert_int_equal(st->flooded, 4);     /* three announcements, one request */
    assert_int_equal(st->forwarded, 101); /* the reply and 100 datagrams */
    assert_int_equal(st->filtered, 0);
    tw_world_destroy(w);
}

static void test_world_switch_aged_entries_flood_again(void **state)
{
    tw_world_switch_config sc;
    tw_world_switch_config_default(&sc);
    sc.mac_ageing_ns = TW_MS(5);
    tw_link_config lc = fast_link();
    tw_world *w = star(1, 3, &sc, &lc);
    sink_on(w, 1);
    /* One datagram at 1 ms and one at 20 ms: by then B's entry has aged
     * (B sent nothing since its ARP reply), so the second floods. */
    send_from(w, 0, 1, 2, TW_MS(1), TW_MS(19));
    tw_world_run_until(w, TW_MS(50));
    wt_sink *k = wt_task_state(w, tw_world_host_core(w, 1, 0), 0);
    assert_int_equal(k->received, 2);
    const tw_world_switch_stats *st = tw_world_switch_stats_get(w, 0);
    assert_int_equal(st->flooded, 5);
    assert_int_equal(st->forwarded, 2);
    /* The flooded datagram reached host 2, whose stack refused it. */
    assert_int_equal(tw_world_host_stats_get(w, 2)->rx_frames, 4);
    const tw_iface_counters *ic = tw_stack_iface_counters(tw_world_stack(w, 2, 0), 0);
    assert_int_equal(ic->drops[TW_DROP_ETH_NOT_FOR_US], 1);
    /* Everything has aged by now. */
    assert_int_equal(tw_world_switch_stats_get(w, 0)->entries, 0);
    tw_world_destroy(w);
}

static void test_world_switch_table_bound_is_counted(void **state)
{
    tw_world_switch_config sc;
    tw_world_switch_config_default(&sc);
    sc.ports = 12;
    sc.mac_table_size = 8; /* one set of 8 ways */
    tw_link_config lc = fast_link();
    tw_world *w = star(1, 10, &sc, &lc);
    tw_world_run_until(w, TW_MS(1));
    const tw_world_switch_stats *st = tw_world_switch_stats_get(w, 0);
    assert_int_equal(st->learned, 8);
    assert_int_equal(st->table_full, 2);
    assert_int_equal(st->entries, 8);
    tw_world_destroy(w);
}

static void test_world_switch_port_queue_limit_drops(void **state)
{
    tw_world_switch_config sc;
    tw_world_switch_config_default(&sc);
    sc.port_queue_packets = 5;
    tw_link_config lc = fast_link();
    tw_link_config slow = lc;
    slow.bandwidth_bps = 10000000ull; /* 10 Mbps towards host 1 */
    tw_world_config cfg;
    wt_world_config(&cfg, 1);
    tw_world *w = tw_world_create(&cfg);
    assert_int_equal(tw_world_switch_add(w, &sc), 0);
    assert_int_equal(wt_host_add(w, 0, 1), 0);
    assert_int_equal(wt_host_add(w, 1, 1), 1);
    tw_world_link_add(w, tw_world_host_end(0, 0), tw_world_switch_end(0, 0), &lc, &lc);
    tw_world_link_add(w, tw_world_host_end(1, 0), tw_world_switch_end(0, 1), &lc, &slow);
    assert_int_equal(tw_world_start(w), 0);
    sink_on(w, 1);
    send_from(w, 0, 1, 1, TW_MS(1), 0); /* ARP first */
    wt_sender_args a = {.dst = wt_addr(1),
                        .port = WT_SINK_PORT,
                        .size = 64,
                        .count = 50,
                        .burst = 50,
                        .start_ns = TW_MS(10)};
    assert_true(tw_world_spawn(w, tw_world_host_core(w, 0, 0), WT_SENDER, 0, &a, sizeof(a)) > 0);
    tw_world_run_until(w, TW_MS(100));
    /* Frames reach the switch 50 ns apart (the sender's output cost) plus
     * 848 ns of serialisation each at 1 Gbps; the 10 Mbps port drains
     * one per 84.8 us: one on the wire, five queued, the rest dropped by
     * the switch before the link's own (larger) queue could take them. */
    const tw_world_switch_stats *st = tw_world_switch_stats_get(w, 0);
    assert_int_equal(st->queue_drops, 44);
    assert_int_equal(tw_world_drops(w, TW_SIM_DROP_SWITCH_QUEUE), 44);
    assert_int_equal(tw_world_drops(w, TW_SIM_DROP_LINK_QUEUE_PACKETS), 0);
    wt_sink *k = wt_task_state(w, tw_world_host_core(w, 1, 0), 0);
    assert_int_equal(k->received, 1 + 6);
    tw_world_destroy(w);
}

/* A -- R -- B: R routes between 10.0.0.0/24 and 10.0.1.0/24 with two cores,
 * each with its own stack and neighbour cache. */
static void test_world_router_forwards_between_subnets(void **state)
{
    tw_world_config cfg;
    wt_world_config(&cfg, 1);
    tw_world *w = tw_world_create(&cfg);
    tw_world_host_config hc;
    tw_world_host_config_default(&hc);
    hc.worker.registry = &wt_registry;
    hc.worker.max_tasks = 16;
    hc.worker.task_state_max = WT_STATE_MAX;
    hc.stack.frame_buffers = 256;
    hc.stack.reasm.slots = 2;

    tw_world_host_config a = hc, b = hc, r = hc;
    tw_world_host_config_iface(&a, tw_mac_from_id(1), TW_IPV4_ADDR(10, 0, 0, 1), 24, 1500);
    a.gateway = TW_IPV4_ADDR(10, 0, 0, 254);
    tw_world_host_config_iface(&b, tw_mac_from_id(2), TW_IPV4_ADDR(10, 0, 1, 1), 24, 1500);
    b.gateway = TW_IPV4_ADDR(10, 0, 1, 254);
    r.cores = 2;
    r.stack.forwarding = true;
    tw_world_host_config_iface(&r, tw_mac_from_id(3), TW_IPV4_ADDR(10, 0, 0, 254), 24, 1500);
    tw_world_host_config_iface(&r, tw_mac_from_id(4), TW_IPV4_ADDR(10, 0, 1, 254), 24, 1500);
    assert_int_equal(tw_world_host_add(w, &a), 0);
    assert_int_equal(tw_world_host_add(w, &b), 1);
    assert_int_equal(tw_world_host_add(w, &r), 2);
    tw_link_config lc = fast_link();
    tw_world_link_add(w, tw_world_host_end(0, 0), tw_world_host_end(2, 0), &lc, &lc);
    tw_world_link_add(w, tw_world_host_end(1, 0), tw_world_host_end(2, 1), &lc, &lc);
    assert_int_equal(tw_world_start(w), 0);

    assert_true(tw_world_spawn(w, tw_world_host_core(w, 1, 0), WT_SINK, 0, NULL, 0) > 0);
    /* Many flows (one sender each, its own ephemeral port), so both of R's
     * cores forward some. */
    for (uint32_t i = 0; i < 8; i++) {
        wt_sender_args s = {.dst = TW_IPV4_ADDR(10, 0, 1, 1),
                            .port = WT_SINK_PORT,
                            .size = 64,
                            .count = 50,
                            .start_ns = TW_MS(1) + i * TW_US(7),
                            .interval_ns = TW_US(100)};
        assert_true(tw_world_spawn(w, tw_world_host_core(w, 0, 0), WT_SENDER, 0, &s, sizeof(s)) >
                    0);
    }
    tw_world_run_until(w, TW_MS(50));
    wt_sink *k = wt_task_state(w, tw_world_host_core(w, 1, 0), 0);
    assert_int_equal(k->received, 8 * 50);
    uint64_t forwarded = 0;
    for (uint32_t c = 0; c < 2; c++) {
        tw_stack_stats st;
        tw_stack_stats_get(tw_world_stack(w, 2, c), &st);
        /* Each core forwarded some flows and resolved B itself. */
        assert_true(st.forwarded > 0);
        forwarded += st.forwarded;
    }
    assert_int_equal(forwarded, 8 * 50);
    tw_world_destroy(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_world_switch_broadcast_reaches_every_port),
        cmocka_unit_test(test_world_switch_learns_and_stops_flooding),
        cmocka_unit_test(test_world_switch_aged_entries_flood_again),
        cmocka_unit_test(test_world_switch_table_bound_is_counted),
        cmocka_unit_test(test_world_switch_port_queue_limit_drops),
        cmocka_unit_test(test_world_router_forwards_between_subnets),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
