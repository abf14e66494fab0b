/* The routing table: longest prefix match whatever the insertion order,
 * the default route, duplicates, deletion and the size limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/error.h"
#include "net/route.h"

#define A TW_IPV4_ADDR

static tw_route route(tw_ipv4_addr dst, uint8_t len, tw_ipv4_addr gw, uint32_t iface)
{
    return (tw_route){.dst = dst, .prefix_len = len, .gateway = gw, .iface = iface};
}

static void test_route_lookup_longest_prefix(void **state)
{
    (void)state;
    tw_route_table t;
    tw_route_table_init(&t, 8);
    /* Inserted shortest first, so order alone would give the wrong answer. */
    tw_route r;
    r = route(0, 0, A(10, 0, 0, 254), 0);
    assert_int_equal(tw_route_add(&t, &r), 0);
    r = route(A(10, 0, 0, 0), 8, A(10, 0, 0, 253), 0);
    assert_int_equal(tw_route_add(&t, &r), 0);
    r = route(A(10, 1, 0, 0), 16, 0, 1);
    assert_int_equal(tw_route_add(&t, &r), 0);
    r = route(A(10, 1, 2, 0), 24, 0, 2);
    assert_int_equal(tw_route_add(&t, &r), 0);
    r = route(A(10, 1, 2, 3), 32, A(10, 1, 2, 1), 3);
    assert_int_equal(tw_route_add(&t, &r), 0);

    assert_int_equal(tw_route_lookup(&t, A(10, 1, 2, 3))->iface, 3);
    assert_int_equal(tw_route_lookup(&t, A(10, 1, 2, 4))->iface, 2);
    assert_int_equal(tw_route_lookup(&t, A(10, 1, 9, 9))->iface, 1);
    const tw_route *via8 = tw_route_lookup(&t, A(10, 9, 9, 9));
    assert_int_equal(via8->prefix_len, 8);
    assert_int_equal(tw_route_next_hop(via8, A(10, 9, 9, 9)), A(10, 0, 0, 253));
    const tw_route *dflt = tw_route_lookup(&t, A(192, 0, 2, 1));
    assert_int_equal(dflt->prefix_len, 0);
    assert_int_equal(tw_route_next_hop(dflt, A(192, 0, 2, 1)), A(10, 0, 0, 254));
    /* A connected route's next hop is the destination itself. */
    assert_int_equal(tw_route_next_hop(tw_route_lookup(&t, A(10, 1, 2, 9)), A(10, 1, 2, 9)),
                     A(10, 1, 2, 9));
    tw_route_table_free(&t);
}

static void test_route_lookup_miss_without_default(void **state)
{
    (void)state;
    tw_route_table t;
    tw_route_table_init(&t, 4);
    tw_route r = route(A(192, 168, 0, 0), 16, 0, 0);
    assert_int_equal(tw_route_add(&t, &r), 0);
    assert_null(tw_route_lookup(&t, A(192, 169, 0, 1)));
    assert_non_null(tw_route_lookup(&t, A(192, 168, 255, 255)));
    assert_int_equal(t.misses, 1);
    assert_int_equal(t.lookups, 2);
    tw_route_table_free(&t);
}

static void test_route_add_duplicate_full_and_host_bits(void **state)
{
    (void)state;
    tw_route_table t;
    tw_route_table_init(&t, 2);
    /* Host bits are cleared: 10.1.2.3/16 is 10.1.0.0/16. */
    tw_route r = route(A(10, 1, 2, 3), 16, 0, 0);
    assert_int_equal(tw_route_add(&t, &r), 0);
    assert_int_equal(t.routes[0].dst, A(10, 1, 0, 0));
    r = route(A(10, 1, 0, 0), 16, 0, 1);
    assert_int_equal(tw_route_add(&t, &r), -TW_EEXIST);
    r = route(A(10, 1, 0, 0), 33, 0, 1);
    assert_int_equal(tw_route_add(&t, &r), -TW_EINVAL);
    r = route(A(10, 2, 0, 0), 16, 0, 1);
    assert_int_equal(tw_route_add(&t, &r), 0);
    r = route(A(10, 3, 0, 0), 16, 0, 1);
    assert_int_equal(tw_route_add(&t, &r), -TW_EFULL);
    tw_route_table_free(&t);
}

static void test_route_del_restores_shorter_match(void **state)
{
    (void)state;
    tw_route_table t;
    tw_route_table_init(&t, 4);
    tw_route r = route(A(10, 0, 0, 0), 8, 0, 0);
    assert_int_equal(tw_route_add(&t, &r), 0);
    r = route(A(10, 5, 0, 0), 16, 0, 1);
    assert_int_equal(tw_route_add(&t, &r), 0);
    assert_int_equal(tw_route_lookup(&t, A(10, 5, 0, 1))->iface, 1);
    assert_int_equal(tw_route_del(&t, A(10, 5, 0, 0), 16), 0);
    assert_int_equal(tw_route_lookup(&t, A(10, 5, 0, 1))->iface, 0);
    assert_int_equal(tw_route_del(&t, A(10, 5, 0, 0), 16), -TW_ENOENT);
    tw_route_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_lookup_longest_prefix),
        cmocka_unit_test(test_route_lookup_miss_without_default),
        cmocka_unit_test(test_route_add_duplicate_full_and_host_bits),
        cmocka_unit_test(test_route_del_restores_shorter_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
