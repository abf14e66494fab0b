/* The simulated NIC: RSS spreads flows over a host's cores, each flow stays
 * on one core (fragmented ones too, by a hand-off between cores), ARP
 * replies reach every core's stack, and the bounds (receive rings, the
 * shared frame buffers) are counted when hit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "harness.h"
#include "world_harness.h"

#define FLOWS 64
#define PER_FLOW 20

static tw_link_config plain_link(void)
{
    tw_link_config lc = tw_link_config_default();
    lc.bandwidth_bps = 1000000000ull;
    lc.delay_ns = TW_US(10);
    lc.pool_frames = 512;
    return lc;
}

/* Host 0's interface MTU (host 1's is 1500). */
static uint16_t mtu_a = 1500;

/* Host 0 (cores_a) and host 1 (cores_b) on a direct link. */
static tw_world *pair(const tw_world_config *cfg, uint32_t cores_a, uint32_t cores_b,
                      uint32_t rx_ring, const tw_link_config *lc)
{
    tw_world *w = tw_world_create(cfg);
    for (uint32_t i = 0; i < 2; i++) {
        tw_world_host_config hc;
        tw_world_host_config_default(&hc);
        hc.cores = i == 0 ? cores_a : cores_b;
        hc.worker.registry = &wt_registry;
        hc.worker.max_tasks = FLOWS + 2;
        hc.worker.task_state_max = WT_STATE_MAX;
        hc.stack.frame_buffers = 512;
        hc.stack.reasm.slots = 2;
        hc.rx_ring = rx_ring;
        tw_world_host_config_iface(&hc, tw_mac_from_id(i + 1), wt_addr(i), 24,
                                   i == 0 ? mtu_a : 1500);
        assert_int_equal(tw_world_host_add(w, &hc), (int)i);
    }
    assert_int_equal(tw_world_link_add(w, tw_world_host_end(0, 0), tw_world_host_end(1, 0), lc, lc),
                     0);
    return w;
}

static void sender(tw_world *w, uint32_t worker, uint32_t count, uint32_t burst, tw_ns start,
                   tw_ns interval)
{
    wt_sender_args a = {.dst = wt_addr(1),
                        .port = WT_SINK_PORT,
                        .size = 64,
                        .count = count,
                        .burst = burst,
                        .start_ns = start,
                        .interval_ns = interval};
    assert_true(tw_world_spawn(w, worker, WT_SENDER, 0, &a, sizeof(a)) > 0);
}

static void test_world_rss_spreads_flows_over_cores(void **state)
{
    tw_world_config cfg;
    wt_world_config(&cfg, 1);
    tw_link_config lc = plain_link();
    tw_world *w = pair(&cfg, 1, 4, 256, &lc);
    assert_int_equal(tw_world_start(w), 0);
    /* A sink on each of host 1's cores: each core's stack has its own
     * endpoints, so a flow is heard by the sink of the core RSS picks. */
    for (uint32_t c = 0; c < 4; c++) {
        assert_true(tw_world_spawn(w, tw_world_host_core(w, 1, c), WT_SINK, 0, NULL, 0) > 0);
    }
    /* 64 flows: one sender each, each from its own ephemeral port. */
    uint32_t a = tw_world_host_core(w, 0, 0);
    for (uint32_t f = 0; f < FLOWS; f++) {
        sender(w, a, PER_FLOW, 1, TW_MS(1) + f * TW_US(3), TW_US(500));
    }
    tw_world_run_until(w, TW_MS(50));

    uint64_t total = 0;
    for (uint32_t c = 0; c < 4; c++) {
        wt_sink *k = wt_task_state(w, tw_world_host_core(w, 1, c), 0);
        assert_non_null(k);
        print_message("core %u: %lu datagrams\n", c, (unsigned long)k->received);
        /* A fair share is a quarter; the hash is not perfectly even over
         * 64 flows, but no core is starved or swamped. */
        assert_in_range(k->received, FLOWS * PER_FLOW / 8, FLOWS * PER_FLOW / 2);
        /* A flow never splits: whole flows only. */
        assert_int_equal(k->received % PER_FLOW, 0);
        total += k->received;
    }
    assert_int_equal(total, FLOWS * PER_FLOW);
    tw_world_destroy(w);
}

/* The same flows in datagrams host 0 fragments (its MTU is 576, as a
 * narrow hop's router would): the NIC steers each fragment by the address
 * pair alone, so every datagram is reassembled on one core, which hands
 * those of flows it does not own to the core that does. Before the
 * hand-off only the sink on that one core heard anything (`twin fuzz`
 * seed 46). */
static void test_world_fragmented_flows_reach_their_cores(void **state)
{
    tw_world_config cfg;
    wt_world_config(&cfg, 3);
    tw_link_config lc = plain_link();
    mtu_a = 576;
    tw_world *w = pair(&cfg, 1, 4, 256, &lc);
    mtu_a = 1500;
    assert_int_equal(tw_world_start(w), 0);
    for (uint32_t c = 0; c < 4; c++) {
        assert_true(tw_world_spawn(w, tw_world_host_core(w, 1, c), WT_SINK, 0, NULL, 0) > 0);
    }
    uint32_t a = tw_world_host_core(w, 0, 0);
    for (uint32_t f = 0; f < FLOWS; f++) {
        wt_sender_args sa = {.dst = wt_addr(1),
                             .port = WT_SINK_PORT,
                             .size = WT_PAYLOAD_MAX, /* 3 fragments at 576 */
                             .count = PER_FLOW,
                             .burst = 1,
                             .start_ns = TW_MS(1) + f * TW_US(50),
                             .interval_ns = TW_MS(4)};
        assert_true(tw_world_spawn(w, a, WT_SENDER, 0, &sa, sizeof(sa)) > 0);
    }
    tw_world_run_until(w, TW_MS(200));

    uint64_t total = 0;
    uint32_t cores_heard = 0;
    for (uint32_t c = 0; c < 4; c++) {
        wt_sink *k = wt_task_state(w, tw_world_host_core(w, 1, c), 0);
        assert_non_null(k);
        assert_int_equal(k->bad, 0); /* intact */
        assert_int_equal(k->received % PER_FLOW, 0);
        cores_heard += k->received > 0;
        total += k->received;
    }
    assert_int_equal(total, FLOWS * PER_FLOW);
    assert_int_equal(cores_heard, 4);
    const tw_world_host_stats *hs = tw_world_host_stats_get(w, 1);
    /* Every datagram of the flows the fragments' core does not own (about
     * three quarters), one unfragmented frame each: 1500 fits it. */
    assert_in_range(hs->handoffs, FLOWS * PER_FLOW / 2, FLOWS * PER_FLOW - PER_FLOW);
    assert_int_equal(hs->handoffs % PER_FLOW, 0);
    assert_int_equal(hs->drops, 0);
    tw_world_destroy(w);
}

static void test_world_arp_replies_reach_every_core(void **state)
{
    tw_world_config cfg;
    wt_world_config(&cfg, 1);
    tw_link_config lc = plain_link();
    tw_world *w = pair(&cfg, 4, 1, 256, &lc);
    assert_int_equal(tw_world_start(w), 0);
    assert_true(tw_world_spawn(w, tw_world_host_core(w, 1, 0), WT_SINK, 0, NULL, 0) > 0);
    /* Core 0 asks first; the reply lands on every core, so the other
     * cores' stacks learn host 1 without asking. */
    sender(w, tw_world_host_core(w, 0, 0), 1, 1, TW_MS(1), 0);
    for (uint32_t c = 1; c < 4; c++) {
        sender(w, tw_world_host_core(w, 0, c), 5, 1, TW_MS(2), TW_US(100));
    }
    tw_world_run_until(w, TW_MS(10));
    wt_sink *k = wt_task_state(w, tw_world_host_core(w, 1, 0), 0);
    assert_int_equal(k->received, 1 + 3 * 5);
    for (uint32_t c = 0; c < 4; c++) {
        tw_stack_stats st;
        tw_stack_stats_get(tw_world_stack(w, 0, c), &st);
        assert_int_equal(st.arp->requests_sent, c == 0 ? 1 : 0);
        assert_int_equal(st.arp_entries, 1);
    }
    /* One ARP reply, four copies on the receive rings. */
    const tw_world_host_stats *hs = tw_world_host_stats_get(w, 0);
    assert_int_equal(hs->rx_copies - hs->rx_frames, 3);
    tw_world_destroy(w);
}

static void add_stall(tw_world *w)
{
    tw_world_fault f = {
        .kind = TW_WORLD_FAULT_STALL, .at = TW_MS(10), .target = 1, .duration = TW_MS(1)};
    assert_int_equal(tw_world_fault_add(w, &f), 0);
}

static void test_world_nic_ring_overflow_is_counted(void **state)
{
    tw_world_config cfg;
    wt_world_config(&cfg, 1);
    tw_link_config lc = plain_link();
    tw_world *w = pair(&cfg, 1, 1, 8, &lc);
    add_stall(w);
    assert_int_equal(tw_world_start(w), 0);
    assert_true(tw_world_spawn(w, tw_world_host_core(w, 1, 0), WT_SINK, 0, NULL, 0) > 0);
    uint32_t a = tw_world_host_core(w, 0, 0);
    sender(w, a, 1, 1, TW_MS(1), 0); /* ARP */
    /* 100 datagrams arrive while the receiving core is stalled: its ring
     * holds 8, the NIC drops the rest. */
    sender(w, a, 100, 100, TW_US(10100), 0);
    tw_world_run_until(w, TW_MS(20));
    wt_sink *k = wt_task_state(w, tw_world_host_core(w, 1, 0), 0);
    assert_int_equal(k->received, 1 + 8);
    assert_int_equal(tw_world_drops(w, TW_SIM_DROP_NIC_RX_RING), 92);
    const tw_ring *r = tw_world_rx_ring(w, 1, 0, 0);
    assert_int_equal(r->overflows, 92);
    assert_int_equal(r->high_water, 8);
    assert_int_equal(tw_world_host_stats_get(w, 1)->drops, 92);
    tw_world_destroy(w);
}

static void test_world_nic_buffers_are_shared_and_bounded(void **state)
{
    tw_world_config cfg;
    wt_world_config(&cfg, 1);
    cfg.nic_buffers = 5;
    tw_link_config lc = plain_link();
    tw_world *w = pair(&cfg, 1, 1, 256, &lc);
    add_stall(w);
    assert_int_equal(tw_world_start(w), 0);
    assert_true(tw_world_spawn(w, tw_world_host_core(w, 1, 0), WT_SINK, 0, NULL, 0) > 0);
    uint32_t a = tw_world_host_core(w, 0, 0);
    sender(w, a, 1, 1, TW_MS(1), 0);
    sender(w, a, 100, 100, TW_US(10100), 0);
    tw_world_run_until(w, TW_MS(20));
    /* Five buffers for the whole world: the sender's transmit ring takes
     * some as the burst leaves, and the stalled receiver's ring holds what
     * is left, so most of the burst finds none. Nothing is lost silently. */
    wt_sink *k = wt_task_state(w, tw_world_host_core(w, 1, 0), 0);
    uint64_t none = tw_world_drops(w, TW_SIM_DROP_NIC_BUFFERS);
    assert_true(none > 90);
    assert_true(k->received >= 1 + 1);
    assert_int_equal(k->received - 1 + none, 100);
    tw_world_destroy(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_world_rss_spreads_flows_over_cores),
        cmocka_unit_test(test_world_fragmented_flows_reach_their_cores),
        cmocka_unit_test(test_world_arp_replies_reach_every_core),
        cmocka_unit_test(test_world_nic_ring_overflow_is_counted),
        cmocka_unit_test(test_world_nic_buffers_are_shared_and_bounded),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
