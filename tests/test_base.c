#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/rng.h"

static void test_base_rng_streams_differ(void **state)
{
    tw_rng a, b;
    tw_rng_init(&a, 1, 0);
    tw_rng_init(&b, 1, 1);
    assert_int_not_equal(tw_rng_next(&a), tw_rng_next(&b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_rng_streams_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
