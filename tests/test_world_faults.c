/* The simulated world's fault timeline: partitions one way and both ways
 * and their heal, link down and up, clogs, host crash and restart, core
 * stalls. Datagrams go every millisecond, at half past, so each one is
 * plainly before, inside or after a fault window of whole milliseconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/mem.h"
#include "harness.h"
#include "world_harness.h"

#define SENDS 30
#define FROM TW_NS(10000000) /* the fault window: [10 ms, 20 ms) */
#define UNTIL TW_NS(20000000)

typedef struct notes {
    uint32_t crashed;
    uint32_t restarted;
    tw_world_note last;
    tw_ns at;
    bool respawn;
} notes;

static void on_world(tw_controller *c, tw_ns now, void *ctx, const tw_msg *m)
{
    notes *n = ctx;
    if (m->type != TW_MSG_WORLD) {
        return;
    }
    memcpy(&n->last, m->data, sizeof(n->last));
    n->at = now;
    if (n->last.kind == TW_WORLD_NOTE_CRASHED) {
        n->crashed++;
    } else {
        n->restarted++;
        if (n->respawn) {
            tw_controller_spawn(c, WT_SINK, 0, n->last.first_worker, NULL, 0);
        }
    }
}

static const tw_controller_program program = {.on_message = on_world};

static tw_link_config fast_link(void)
{
    tw_link_config lc = tw_link_config_default();
    lc.bandwidth_bps = 1000000000ull;
    lc.delay_ns = TW_US(10);
    lc.pool_frames = 256;
    return lc;
}

typedef struct net {
    tw_world *w;
    notes n;
    uint32_t core[3]; /* each host's worker */
} net;

/* Three hosts on a switch (switched = true), or hosts 0 and 1 on a direct
 * link (host 2 then has no link). Faults are added by `add`. */
static void net_build(net *t, bool switched, void (*add)(tw_world *w))
{
    memset(t, 0, sizeof(*t));
    tw_world_config cfg;
    wt_world_config(&cfg, 1);
    cfg.sim.controller.program = &program;
    cfg.sim.controller.program_ctx = &t->n;
    t->w = tw_world_create(&cfg);
    tw_link_config lc = fast_link();
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(wt_host_add(t->w, i, 1), (int)i);
    }
    if (switched) {
        tw_world_switch_config sc;
        tw_world_switch_config_default(&sc);
        assert_int_equal(tw_world_switch_add(t->w, &sc), 0);
        for (uint32_t i = 0; i < 3; i++) {
            assert_int_equal(tw_world_link_add(t->w, tw_world_host_end(i, 0),
                                               tw_world_switch_end(0, i), &lc, &lc),
                             (int)i);
        }
    } else {
        assert_int_equal(
            tw_world_link_add(t->w, tw_world_host_end(0, 0), tw_world_host_end(1, 0), &lc, &lc), 0);
    }
    add(t->w);
    assert_int_equal(tw_world_start(t->w), 0);
    for (uint32_t i = 0; i < 3; i++) {
        t->core[i] = tw_world_host_core(t->w, i, 0);
    }
}

/* A sink on every host (slot 0), then a sender from `from` to `to` (the
 * next slot on `from`): SENDS datagrams at 1.5 ms, 2.5 ms, ... */
static void sinks(net *t)
{
    for (uint32_t i = 0; i < 3; i++) {
        assert_true(tw_world_spawn(t->w, t->core[i], WT_SINK, 0, NULL, 0) > 0);
    }
}

static void flow(net *t, uint32_t from, uint32_t to)
{
    wt_sender_args a = {.dst = wt_addr(to),
                        .port = WT_SINK_PORT,
                        .size = 64,
                        .count = SENDS,
                        .start_ns = TW_US(1500),
                        .interval_ns = TW_MS(1)};
    assert_true(tw_world_spawn(t->w, t->core[from], WT_SENDER, 0, &a, sizeof(a)) > 0);
}

static wt_sink *sink_of(net *t, uint32_t host)
{
    return wt_task_state(t->w, t->core[host], 0);
}

static void add_nothing(tw_world *w) {}

static int partition_ab(tw_world *w, bool one_way)
{
    uint32_t a = 0, b = 1;
    int id = tw_world_partition_add(w, &a, 1, &b, 1, one_way);
    assert_true(id >= 0);
    assert_int_equal(tw_world_fault_add(w, &(tw_world_fault){.kind = TW_WORLD_FAULT_PARTITION,
                                                             .at = FROM,
                                                             .target = (uint32_t)id}),
                     0);
    assert_int_equal(
        tw_world_fault_add(
            w, &(tw_world_fault){.kind = TW_WORLD_FAULT_HEAL, .at = UNTIL, .target = (uint32_t)id}),
        0);
    return id;
}

static void add_one_way(tw_world *w)
{
    partition_ab(w, true);
}
static void add_both_ways(tw_world *w)
{
    partition_ab(w, false);
}

static void check_partition(bool switched, bool one_way)
{
    net t;
    net_build(&t, switched, one_way ? add_one_way : add_both_ways);
    sinks(&t);
    flow(&t, 0, 1);
    flow(&t, 1, 0);
    if (switched) {
        flow(&t, 2, 1); /* a bystander: not in the partition */
    }
    tw_world_run_until(t.w, TW_MS(40));
    /* The ten datagrams sent at 10.5 ... 19.5 ms from A to B (9 to 18) are cut; all
     * of B's reach A unless the cut is both ways; after the heal,
     * everything flows again. */
    assert_int_equal(sink_of(&t, 1)->received, SENDS - 10 + (switched ? SENDS : 0));
    assert_int_equal(sink_of(&t, 0)->received, one_way ? SENDS : SENDS - 10);
    assert_int_equal(tw_world_drops(t.w, TW_SIM_DROP_PARTITION), one_way ? 10 : 20);
    tw_world_destroy(t.w);
}

static void test_world_partition_one_way_through_a_switch(void **state)
{
    check_partition(true, true);
}

static void test_world_partition_both_ways_through_a_switch(void **state)
{
    check_partition(true, false);
}

static void test_world_partition_one_way_on_a_direct_link(void **state)
{
    check_partition(false, true);
}

static void add_link_down(tw_world *w)
{
    tw_world_fault_add(
        w, &(tw_world_fault){
               .kind = TW_WORLD_FAULT_LINK_DOWN, .at = FROM, .target = 0, .dirs = TW_WORLD_DIR_AB});
    tw_world_fault_add(
        w, &(tw_world_fault){
               .kind = TW_WORLD_FAULT_LINK_UP, .at = UNTIL, .target = 0, .dirs = TW_WORLD_DIR_AB});
}

static void test_world_link_down_then_up(void **state)
{
    net t;
    net_build(&t, false, add_link_down);
    sinks(&t);
    flow(&t, 0, 1);
    flow(&t, 1, 0);
    tw_world_run_until(t.w, TW_MS(40));
    assert_int_equal(sink_of(&t, 1)->received, SENDS - 10);
    assert_int_equal(sink_of(&t, 0)->received, SENDS); /* the other direction stayed up */
    assert_int_equal(tw_world_drops(t.w, TW_SIM_DROP_LINK_DOWN), 10);
    tw_world_destroy(t.w);
}

static void add_clog(tw_world *w)
{
    tw_world_fault_add(w, &(tw_world_fault){.kind = TW_WORLD_FAULT_CLOG,
                                            .at = FROM,
                                            .target = 0,
                                            .dirs = TW_WORLD_DIR_AB,
                                            .duration = UNTIL - FROM});
}

static void test_world_clog_holds_then_releases(void **state)
{
    net t;
    net_build(&t, false, add_clog);
    sinks(&t);
    flow(&t, 0, 1);
    tw_world_run_until(t.w, TW_MS(40));
    wt_sink *k = sink_of(&t, 1);
    /* Nothing lost: the ten held back arrive together when the clog ends. */
    assert_int_equal(k->received, SENDS);
    assert_int_equal(k->reordered, 0);
    uint64_t total = 0;
    for (uint32_t r = 0; r < TW_SIM_DROP_COUNT; r++) {
        total += tw_world_drops(t.w, (tw_sim_drop)r);
    }
    assert_int_equal(total, 1); /* host 2's announcement, on no link */
    /* Arrival times of datagrams 9 (at 10.5 ms, held) and 8 (at 9.5 ms,
     * not): the first times kept are for datagrams 0..15. */
    assert_true(k->at[8] < FROM);
    assert_int_equal(k->at[9], UNTIL);
    /* The core takes the released ones back to back: 200 ns each. */
    assert_int_equal(k->at[10], UNTIL + 200);
    assert_int_equal(k->at[15], UNTIL + 6 * 200);
    tw_world_destroy(t.w);
}

static void add_crash(tw_world *w)
{
    tw_world_fault_add(w, &(tw_world_fault){.kind = TW_WORLD_FAULT_CRASH, .at = FROM, .target = 1});
    tw_world_fault_add(w,
                       &(tw_world_fault){.kind = TW_WORLD_FAULT_RESTART, .at = UNTIL, .target = 1});
}

static void test_world_host_crash_and_restart(void **state)
{
    net t;
    net_build(&t, true, add_crash);
    t.n.respawn = true;
    sinks(&t);
    flow(&t, 0, 1);
    tw_world_run_until(t.w, TW_MS(15));
    /* Down: its stack and tasks are gone, frames for it dropped. */
    assert_false(tw_world_host_up(t.w, 1));
    assert_null(tw_world_stack(t.w, 1, 0));
    assert_int_equal(t.n.crashed, 1);
    assert_int_equal(t.n.last.host, 1);
    assert_int_equal(t.n.last.first_worker, t.core[1]);
    assert_int_equal(t.n.at, FROM);
    assert_int_equal(tw_world_ping(t.w, 1, 0, wt_addr(0), 1, 1, 8), -TW_ESTATE);
    /* The run allocates nothing but the restart, which leaves the
     * allocator sealed as it found it. */
    tw_mem_seal();
    tw_world_run_until(t.w, TW_MS(40));
    assert_true(tw_mem_sealed());
    tw_mem_unseal();
    assert_int_equal(tw_world_drops(t.w, TW_SIM_DROP_HOST_DOWN), 10);
    assert_int_equal(tw_world_host_stats_get(t.w, 1)->crashes, 1);
    assert_int_equal(tw_world_host_stats_get(t.w, 1)->restarts, 1);
    /* Back: the program was told and respawned the sink, which got what
     * was sent after (20.5 ... 30.5 ms: datagrams 19 to 29). The old
     * sink's count is gone with it. */
    assert_int_equal(t.n.restarted, 1);
    assert_true(tw_world_host_up(t.w, 1));
    wt_sink *k = sink_of(&t, 1);
    assert_non_null(k);
    assert_int_equal(k->received, 11);
    assert_int_equal(k->seq_at[0], 19);

    /* The fresh stack answers ARP and ping: host 2 never spoke to it. */
    assert_int_equal(tw_world_ping(t.w, 2, 0, wt_addr(1), 7, 1, 32), 0);
    tw_world_run_until(t.w, TW_MS(45));
    tw_stack_stats st;
    tw_stack_stats_get(tw_world_stack(t.w, 2, 0), &st);
    assert_int_equal(st.icmp->echo_replies_in, 1);
    tw_stack_stats_get(tw_world_stack(t.w, 1, 0), &st);
    assert_int_equal(st.icmp->echo_requests_in, 1);
    assert_int_equal(st.arp->replies_sent, 1);
    tw_world_destroy(t.w);
}

static void add_stall(tw_world *w)
{
    tw_world_fault_add(w, &(tw_world_fault){.kind = TW_WORLD_FAULT_STALL,
                                            .at = FROM,
                                            .target = 1,
                                            .core = 0,
                                            .duration = TW_MS(5)});
}

static void test_world_core_stall_delays_inputs(void **state)
{
    net t;
    net_build(&t, false, add_stall);
    sinks(&t);
    flow(&t, 0, 1);
    tw_world_run_until(t.w, TW_MS(40));
    wt_sink *k = sink_of(&t, 1);
    assert_int_equal(k->received, SENDS);
    /* Datagrams 9..13 (10.5 .. 14.5 ms) wait for the stalled core, which
     * takes them at 15 ms one after another; 14 (15.5 ms) is on time. */
    assert_int_equal(k->at[9], FROM + TW_MS(5));
    assert_int_equal(k->at[13], FROM + TW_MS(5) + 4 * 200);
    assert_true(k->at[14] > FROM + TW_MS(5) + TW_US(500));
    assert_int_equal(tw_sim_core_at(tw_world_sim(t.w), t.core[1])->stalled_ns, TW_MS(5));
    tw_world_destroy(t.w);
}

static void test_world_host_started_down_boots_on_restart(void **state)
{
    tw_world_config cfg;
    wt_world_config(&cfg, 1);
    notes n = {.respawn = true};
    cfg.sim.controller.program = &program;
    cfg.sim.controller.program_ctx = &n;
    tw_world *w = tw_world_create(&cfg);
    assert_int_equal(wt_host_add(w, 0, 1), 0);
    tw_world_host_config hc;
    tw_world_host_config_default(&hc);
    hc.worker.registry = &wt_registry;
    hc.worker.task_state_max = WT_STATE_MAX;
    hc.start_down = true;
    tw_world_host_config_iface(&hc, tw_mac_from_id(2), wt_addr(1), 24, 1500);
    assert_int_equal(tw_world_host_add(w, &hc), 1);
    tw_link_config lc = fast_link();
    tw_world_link_add(w, tw_world_host_end(0, 0), tw_world_host_end(1, 0), &lc, &lc);
    tw_world_fault_add(
        w, &(tw_world_fault){.kind = TW_WORLD_FAULT_RESTART, .at = TW_MS(5), .target = 1});
    assert_int_equal(tw_world_start(w), 0);
    assert_false(tw_world_host_up(w, 1));
    assert_null(tw_world_stack(w, 1, 0));
    wt_sender_args a = {.dst = wt_addr(1),
                        .port = WT_SINK_PORT,
                        .size = 64,
                        .count = 10,
                        .start_ns = TW_US(1500),
                        .interval_ns = TW_MS(1)};
    assert_true(tw_world_spawn(w, tw_world_host_core(w, 0, 0), WT_SENDER, 0, &a, sizeof(a)) > 0);
    tw_world_run_until(w, TW_MS(20));
    /* Powered off until 5 ms: host 0's announcement and ARP requests found
     * nobody (ARP retries once a second, so the datagrams waiting on it are
     * still waiting); then it booted, announced itself, the program put a
     * sink there, and the waiting datagrams went. */
    assert_true(tw_world_host_up(w, 1));
    assert_int_equal(n.restarted, 1);
    assert_int_equal(n.crashed, 0);
    assert_int_equal(tw_world_host_stats_get(w, 1)->restarts, 1);
    assert_true(tw_world_drops(w, TW_SIM_DROP_HOST_DOWN) >= 2);
    wt_sink *k = wt_task_state(w, tw_world_host_core(w, 1, 0), 0);
    assert_non_null(k);
    assert_true(k->received > 0);
    tw_world_destroy(w);
}

static void test_world_faults_refused_after_start(void **state)
{
    net t;
    net_build(&t, false, add_nothing);
    assert_int_equal(
        tw_world_fault_add(
            t.w, &(tw_world_fault){.kind = TW_WORLD_FAULT_CRASH, .at = FROM, .target = 1}),
        -TW_ESTATE);
    tw_world_destroy(t.w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_world_partition_one_way_through_a_switch),
        cmocka_unit_test(test_world_partition_both_ways_through_a_switch),
        cmocka_unit_test(test_world_partition_one_way_on_a_direct_link),
        cmocka_unit_test(test_world_link_down_then_up),
        cmocka_unit_test(test_world_clog_holds_then_releases),
        cmocka_unit_test(test_world_host_crash_and_restart),
        cmocka_unit_test(test_world_core_stall_delays_inputs),
        cmocka_unit_test(test_world_host_started_down_boots_on_restart),
        cmocka_unit_test(test_world_faults_refused_after_start),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
