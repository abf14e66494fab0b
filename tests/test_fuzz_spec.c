/* `twin fuzz`'s specs (cli/fuzz_spec.c): every draw renders to a scenario
 * file the loader accepts, byte for byte the same for the same seed;
 * every reduction the shrinker may apply keeps it loadable, never grows
 * it, and leaves the names of what remains alone (so an invariant keeps
 * its name while the spec shrinks around it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cli/fuzz_spec.h"
#include "scenario/scenario.h"

#define TEXT_MAX (64 * 1024)
#define SEEDS 300

static char text[TEXT_MAX];
static char other[TEXT_MAX];

static const fz_limits lim = {.max_hosts = 9, .traffic_ns = TW_SEC(25)};

/* Renders and loads; fails the test with the loader's message. */
static tw_scenario *load_spec(const fz_spec *s, const char *const *user, uint32_t n)
{
    size_t len = fz_spec_render(s, user, n, text, sizeof text);
    assert_true(len < sizeof text);
    tw_scenario *sc = NULL;
    char err[512];
    if (tw_scenario_load("fuzz.yaml", text, len, &sc, err, sizeof err) != 0) {
        fail_msg("seed %llu: %s\n%s", (unsigned long long)s->seed, err, text);
    }
    return sc;
}

static void test_fuzz_spec_every_draw_loads(void **state)
{
    (void)state;
    uint32_t topo[3] = {0}, kinds[FZ_KIND_COUNT] = {0}, faults = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        fz_spec s;
        fz_spec_draw(&s, seed, &lim);
        tw_scenario *sc = load_spec(&s, NULL, 0);
        assert_int_equal(sc->host_count, s.host_count);
        assert_int_equal(sc->link_count, s.link_count);
        assert_int_equal(sc->seed, seed);
        /* Every draw names l0 and the server: what --expect may rely on. */
        assert_int_not_equal(tw_scenario_find_link(sc, "l0"), TW_SCENARIO_NONE);
        assert_int_not_equal(tw_scenario_find_host(sc, "server"), TW_SCENARIO_NONE);
        tw_scenario_free(sc);
        topo[s.topo]++;
        faults += s.fault_count;
        for (uint32_t i = 0; i < s.work_count; i++) {
            kinds[s.works[i].kind]++;
        }
    }
    /* The swarm covers every topology and workload, and faults. */
    for (int t = 0; t < 3; t++) {
        assert_true(topo[t] > SEEDS / 6);
    }
    for (int k = 0; k < FZ_KIND_COUNT; k++) {
        assert_true(kinds[k] > SEEDS / 8);
    }
    assert_true(faults > SEEDS);
}

static void test_fuzz_spec_same_seed_same_file(void **state)
{
    (void)state;
    fz_spec a, b;
    fz_spec_draw(&a, 77, &lim);
    fz_spec_draw(&b, 77, &lim);
    size_t la = fz_spec_render(&a, NULL, 0, text, sizeof text);
    size_t lb = fz_spec_render(&b, NULL, 0, other, sizeof other);
    assert_int_equal(la, lb);
    assert_memory_equal(text, other, la);
    fz_spec_draw(&b, 78, &lim);
    fz_spec_render(&b, NULL, 0, other, sizeof other);
    assert_string_not_equal(text, other);
    /* A buffer too small is told how much it needs, and stays a string. */
    char small[16];
    assert_int_equal(fz_spec_render(&a, NULL, 0, small, sizeof small), la);
    assert_int_equal(strlen(small), sizeof small - 1);
}

static void test_fuzz_spec_user_expectation_appended(void **state)
{
    (void)state;
    fz_spec s;
    fz_spec_draw(&s, 5, &lim);
    const char *user[] = {"{name: mine, metric: link.l0.forward.drops, \"<=\": 10}"};
    tw_scenario *plain = load_spec(&s, NULL, 0);
    tw_scenario *sc = load_spec(&s, user, 1);
    assert_int_equal(sc->expect_count, plain->expect_count + 1);
    assert_string_equal(sc->expects[sc->expect_count - 1].name, "mine");
    tw_scenario_free(plain);
    tw_scenario_free(sc);
}

static uint32_t size_of(const fz_spec *s)
{
    return s->host_count + s->link_count + s->work_count + s->fault_count;
}

/* Applies every reduction that applies, over and over, to a fixed point:
 * each step keeps a loadable file and never grows the spec. */
static void test_fuzz_spec_reductions_stay_loadable(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 60; seed++) {
        fz_spec s;
        fz_spec_draw(&s, seed, &lim);
        uint32_t steps = 0;
        bool changed = true;
        while (changed) {
            changed = false;
            for (uint32_t r = 0; r < FZ_REDUCERS; r++) {
                for (uint32_t k = 0; k < 128; k++) {
                    fz_spec c = s;
                    if (!fz_spec_reduce(&c, r, k)) {
                        continue;
                    }
                    assert_true(size_of(&c) <= size_of(&s));
                    tw_scenario_free(load_spec(&c, NULL, 0));
                    s = c;
                    changed = true;
                    steps++;
                    assert_true(steps < 10000);
                }
            }
        }
        /* The fixed point: one workload on one clean link between two
         * single-core hosts (a switch keeps its two links). */
        assert_int_equal(s.work_count, 1);
        assert_int_equal(s.host_count, 2);
        for (uint32_t i = 0; i < s.host_count; i++) {
            assert_int_equal(s.hosts[i].cores, 1);
        }
        for (uint32_t i = 0; i < s.link_count; i++) {
            assert_int_equal(s.links[i].loss_ppm, 0);
            assert_int_equal(s.links[i].bandwidth_bps, 0);
        }
    }
}

/* ddmin's subsets keep the faults they name, in order. */
static void test_fuzz_spec_keep_faults(void **state)
{
    (void)state;
    fz_spec s;
    uint64_t seed = 1;
    do {
        fz_spec_draw(&s, seed++, &lim);
    } while (s.fault_count < 3);
    fz_spec c = s;
    fz_spec_keep_faults(&c, 0x5); /* the first and the third */
    assert_int_equal(c.fault_count, 2);
    assert_memory_equal(&c.faults[0], &s.faults[0], sizeof(fz_fault));
    assert_memory_equal(&c.faults[1], &s.faults[2], sizeof(fz_fault));
    tw_scenario_free(load_spec(&c, NULL, 0));
    fz_spec_keep_faults(&c, 0);
    assert_int_equal(c.fault_count, 0);
    tw_scenario_free(load_spec(&c, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_spec_every_draw_loads),
        cmocka_unit_test(test_fuzz_spec_same_seed_same_file),
        cmocka_unit_test(test_fuzz_spec_user_expectation_appended),
        cmocka_unit_test(test_fuzz_spec_reductions_stay_loadable),
        cmocka_unit_test(test_fuzz_spec_keep_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
