/* core/rt/bus tests: who a message reaches (fan-out), bounded mailboxes that
 * refuse and count instead of losing silently, and the single-threaded bus
 * that tests and simple drivers route through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/error.h"
#include "harness.h"
#include "rt/bus.h"

#define WORKERS 3u
#define CAPACITY 4u
#define APP_NOTE (TW_MSG_APP + 1)

static tw_bus bus;

static int setup_bus(void **state)
{
    tw_bus_init(&bus, WORKERS, CAPACITY);
    return 0;
}

static int teardown_bus(void **state)
{
    tw_bus_free(&bus);
    return 0;
}

static tw_msg note_to(tw_addr target, uint64_t tag)
{
    tw_msg m = harness_direct(APP_NOTE, tw_addr_make(0, 0, 1), target);
    m.tag = tag;
    return m;
}

static tw_msg note_mode(tw_msg_mode mode, uint32_t target)
{
    return harness_msg(mode, APP_NOTE, tw_addr_make(0, 0, 1), target, "hi", 2);
}

/* Every endpoint's mailbox is empty. */
static void expect_bus_empty(void)
{
    for (uint32_t ep = 0; ep < WORKERS; ep++) {
        assert_int_equal(tw_mailbox_len(tw_bus_mailbox(&bus, ep)), 0);
    }
    assert_int_equal(tw_mailbox_len(tw_bus_mailbox(&bus, TW_ENDPOINT_CONTROLLER)), 0);
}

/* The next message for ep has this tag. */
static void expect_recv_tag(uint32_t ep, uint64_t tag)
{
    tw_msg m;
    assert_true(tw_bus_recv(&bus, ep, &m));
    assert_int_equal(m.tag, tag);
}

/* ---- fan-out ------------------------------------------------------------ */

static void test_bus_fanout_direct_one_endpoint(void **state)
{
    uint32_t first = 0xeeee;
    tw_msg m = note_to(tw_addr_make(2, 5, 17), 0);
    assert_int_equal(tw_bus_fanout(&m, 4, &first), 1);
    assert_int_equal(first, 2);
}

static void test_bus_fanout_direct_controller_endpoint(void **state)
{
    uint32_t first;
    tw_msg m = note_to(TW_ADDR_CONTROLLER, 0);
    assert_int_equal(tw_bus_fanout(&m, 4, &first), 1);
    assert_int_equal(first, TW_ENDPOINT_CONTROLLER);
}

static void test_bus_fanout_group_every_worker(void **state)
{
    uint32_t first = 99;
    tw_msg group = note_mode(TW_MSG_GROUP, 9);
    tw_msg publish = note_mode(TW_MSG_PUBLISH, 9);
    assert_int_equal(tw_bus_fanout(&group, 4, &first), 4);
    assert_int_equal(first, 0);
    /* Publications also go to every worker (0..3), never to the controller. */
    first = 99;
    assert_int_equal(tw_bus_fanout(&publish, 4, &first), 4);
    assert_int_equal(first, 0);
}

static void test_bus_fanout_direct_unknown_worker_asserts(void **state)
{
    uint32_t first;
    tw_msg m = note_to(tw_addr_make(4, 0, 0), 0);
    expect_assert_failure(tw_bus_fanout(&m, 4, &first));
}

/* ---- mailboxes ---------------------------------------------------------- */

static void test_bus_mailbox_fifo_order(void **state)
{
    tw_mailbox mb;
    tw_mailbox_init(&mb, 8);
    for (uint64_t tag = 1; tag <= 8; tag++) {
        tw_msg m = note_to(0, tag);
        assert_int_equal(tw_mailbox_push(&mb, &m), 0);
    }
    assert_int_equal(tw_mailbox_len(&mb), 8);
    for (uint64_t tag = 1; tag <= 8; tag++) {
        tw_msg m;
        assert_true(tw_mailbox_pop(&mb, &m));
        assert_int_equal(m.tag, tag);
        assert_int_equal(m.type, APP_NOTE);
    }
    tw_msg m;
    assert_false(tw_mailbox_pop(&mb, &m));
    tw_mailbox_free(&mb);
}

static void test_bus_mailbox_full_push_refused_counted(void **state)
{
    tw_mailbox mb;
    tw_mailbox_init(&mb, 2);
    tw_msg a = note_to(0, 1), b = note_to(0, 2), c = note_to(0, 3);
    assert_int_equal(tw_mailbox_push(&mb, &a), 0);
    assert_int_equal(tw_mailbox_push(&mb, &b), 0);
    assert_int_equal(tw_mailbox_push(&mb, &c), -TW_EFULL);
    assert_int_equal(tw_mailbox_push(&mb, &c), -TW_EFULL);
    assert_int_equal(mb.drops, 2);
    /* The refused message did not displace the queued ones. */
    tw_msg m;
    assert_true(tw_mailbox_pop(&mb, &m));
    assert_int_equal(m.tag, 1);
    assert_true(tw_mailbox_pop(&mb, &m));
    assert_int_equal(m.tag, 2);
    assert_false(tw_mailbox_pop(&mb, &m));
    tw_mailbox_free(&mb);
}

static void test_bus_mailbox_oversized_len_asserts(void **state)
{
    tw_mailbox mb;
    tw_mailbox_init(&mb, 2);
    tw_msg m = note_to(0, 1);
    m.len = TW_MSG_DATA_MAX + 1;
    expect_assert_failure(tw_mailbox_push(&mb, &m));
    assert_int_equal(tw_mailbox_len(&mb), 0);
    tw_mailbox_free(&mb);
}

/* ---- the bus ------------------------------------------------------------ */

static void test_bus_send_direct_reaches_only_target(void **state)
{
    tw_msg m = note_to(tw_addr_make(1, 0, 3), 42);
    assert_int_equal(tw_bus_send(&bus, &m), 1);
    expect_recv_tag(1, 42);
    expect_bus_empty();
    assert_int_equal(bus.sent, 1);
    assert_int_equal(bus.delivered, 1);
    assert_int_equal(bus.refused, 0);
}

static void test_bus_send_direct_controller_mailbox(void **state)
{
    tw_msg m = note_to(TW_ADDR_CONTROLLER, 7);
    assert_int_equal(tw_bus_send(&bus, &m), 1);
    expect_recv_tag(TW_ENDPOINT_CONTROLLER, 7);
    expect_bus_empty();
}

static void test_bus_send_group_every_worker_once(void **state)
{
    tw_msg m = note_mode(TW_MSG_GROUP, 5);
    m.tag = 11;
    assert_int_equal(tw_bus_send(&bus, &m), (int)WORKERS);
    for (uint32_t ep = 0; ep < WORKERS; ep++) {
        tw_msg got;
        assert_true(tw_bus_recv(&bus, ep, &got));
        assert_int_equal(got.tag, 11);
        assert_int_equal(got.mode, TW_MSG_GROUP);
        assert_memory_equal(got.data, "hi", 2);
    }
    expect_bus_empty();
    assert_int_equal(bus.sent, 1);
    assert_int_equal(bus.delivered, WORKERS);
}

static void test_bus_send_one_mailbox_full_others_delivered(void **state)
{
    for (uint64_t tag = 1; tag <= CAPACITY; tag++) {
        tw_msg m = note_to(tw_addr_make(1, 0, 0), tag);
        assert_int_equal(tw_bus_send(&bus, &m), 1);
    }
    tw_msg pub = note_mode(TW_MSG_PUBLISH, 3);
    pub.tag = 99;
    assert_int_equal(tw_bus_send(&bus, &pub), -TW_EFULL);
    /* Workers 0 and 2 still took it; worker 1's refusal is counted there. */
    expect_recv_tag(0, 99);
    expect_recv_tag(2, 99);
    assert_int_equal(tw_bus_mailbox(&bus, 1)->drops, 1);
    assert_int_equal(tw_bus_mailbox(&bus, 0)->drops, 0);
    assert_int_equal(bus.sent, CAPACITY + 1);
    assert_int_equal(bus.delivered, CAPACITY + 2);
    assert_int_equal(bus.refused, 1);
    /* Worker 1 keeps what it had, in order, without the publication. */
    for (uint64_t tag = 1; tag <= CAPACITY; tag++) {
        expect_recv_tag(1, tag);
    }
    expect_bus_empty();
}

static void test_bus_recv_per_endpoint_fifo(void **state)
{
    /* Interleave sends to two endpoints; each sees its own in send order. */
    for (uint64_t i = 0; i < CAPACITY; i++) {
        tw_msg a = note_to(tw_addr_make(0, 0, 0), 100 + i);
        tw_msg b = note_to(TW_ADDR_CONTROLLER, 200 + i);
        assert_int_equal(tw_bus_send(&bus, &a), 1);
        assert_int_equal(tw_bus_send(&bus, &b), 1);
    }
    for (uint64_t i = 0; i < CAPACITY; i++) {
        expect_recv_tag(TW_ENDPOINT_CONTROLLER, 200 + i);
    }
    for (uint64_t i = 0; i < CAPACITY; i++) {
        expect_recv_tag(0, 100 + i);
    }
    tw_msg m;
    assert_false(tw_bus_recv(&bus, 0, &m));
    assert_false(tw_bus_recv(&bus, TW_ENDPOINT_CONTROLLER, &m));
    assert_int_equal(bus.sent, 2 * CAPACITY);
    assert_int_equal(bus.delivered, 2 * CAPACITY);
}

int main(void)
{
#define BUS_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_bus, teardown_bus)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_fanout_direct_one_endpoint),
        cmocka_unit_test(test_bus_fanout_direct_controller_endpoint),
        cmocka_unit_test(test_bus_fanout_group_every_worker),
        cmocka_unit_test(test_bus_fanout_direct_unknown_worker_asserts),
        cmocka_unit_test(test_bus_mailbox_fifo_order),
        cmocka_unit_test(test_bus_mailbox_full_push_refused_counted),
        cmocka_unit_test(test_bus_mailbox_oversized_len_asserts),
        BUS_TEST(test_bus_send_direct_reaches_only_target),
        BUS_TEST(test_bus_send_direct_controller_mailbox),
        BUS_TEST(test_bus_send_group_every_worker_once),
        BUS_TEST(test_bus_send_one_mailbox_full_others_delivered),
        BUS_TEST(test_bus_recv_per_endpoint_fifo),
    };
#undef BUS_TEST
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
