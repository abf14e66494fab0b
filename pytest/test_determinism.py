"""Determinism is tested, not hoped for: the same seed gives the same trace
hash across processes and across build types (-O0, -O2 and the build under
test). A mismatch names the seed and options to reproduce it with and, across
builds, the first event at which the two traces part."""

import pytest

from twinlib import first_trace_difference, parse_summary

SEEDS = range(1, 21)


@pytest.mark.parametrize("seed", SEEDS)
def test_same_seed_same_hash_across_runs(run_twin, seed):
    args = ("demo", "--duration", "20ms", "--seed", seed)
    first, second = run_twin(*args), run_twin(*args)
    assert first.rc == second.rc == 0, f"reproduce with: twin {' '.join(map(str, args))}"
    a, b = parse_summary(first.stdout), parse_summary(second.stdout)
    assert a.trace_hash == b.trace_hash, f"reproduce with: twin {' '.join(map(str, args))}"
    assert a.stable == b.stable


# (seed, cores, extra options): core counts 1, 4 and 7, seeds at the edges of
# the range, and task counts and periods away from the defaults, one of them
# overloaded so that the drop paths run too. Later options win, so an extra
# --duration overrides SHORT. The test after this one runs the full default
# length, so that a divergence which needs time to show up has it.
CROSS_BUILD = [
    (1, 1, ()),
    (1, 4, ()),
    (1, 7, ()),
    (2, 1, ("--tasks", "2")),
    # Overloaded: messages dropped, checks failed, exit 1 from every build.
    (3, 4, ("--tasks", "300", "--period", "50us", "--duration", "30ms")),
    (12345, 7, ("--tasks", "7")),
    (2**64 - 1, 4, ()),
    (0, 7, ("--period", "1ms")),
]
SHORT = ("--duration", "100ms")


def _ids(case):
    seed, cores, extra = case
    return f"seed{seed}-cores{cores}" + ("-" + "".join(extra).replace("--", "-") if extra else "")


@pytest.mark.parametrize("case", CROSS_BUILD, ids=_ids)
def test_same_hash_across_build_types(twin_builds, run_binary, tmp_path, case):
    seed, cores, extra = case
    args = ["demo", "--seed", seed, "--cores", cores, *SHORT, *extra]
    reproduce = f"reproduce with: twin {' '.join(map(str, args))}"
    summaries, rcs = {}, {}
    for build, binary in twin_builds.items():
        rc, out, err = run_binary(binary, *args)
        # 1 is a legitimate outcome here (the overloaded case fails its
        # checks); what must not differ is the outcome.
        assert rc in (0, 1), f"{build} build exited {rc}; {reproduce}\n{out}{err}"
        rcs[build] = rc
        summaries[build] = parse_summary(out)
    assert len(set(rcs.values())) == 1, f"exit codes differ across builds {rcs}; {reproduce}"
    hashes = {build: s.trace_hash for build, s in summaries.items()}
    if len(set(hashes.values())) != 1:
        pytest.fail(f"trace hashes differ across builds {hashes}; {reproduce}\n"
                    + _first_difference(run_binary, twin_builds, args, tmp_path), pytrace=False)
    stable = {build: s.stable for build, s in summaries.items()}
    assert len(set(stable.values())) == 1, f"summaries differ across builds; {reproduce}"


def test_full_length_default_run_same_hash_across_build_types(twin_builds, run_binary,
                                                             tmp_path):
    hashes = {build: parse_summary(run_binary(binary, "demo", "--quiet").stdout).trace_hash
              for build, binary in twin_builds.items()}
    if len(set(hashes.values())) != 1:
        pytest.fail(f"trace hashes of `twin run` differ across builds {hashes}\n"
                    + _first_difference(run_binary, twin_builds, ["demo"], tmp_path), pytrace=False)


def _first_difference(run_binary, builds, args, tmp_path):
    """Traces the run under every build and says where each departs from the
    main build's trace."""
    paths = {}
    for build, binary in builds.items():
        paths[build] = tmp_path / f"trace-{build}.txt"
        run_binary(binary, *args, "--trace", paths[build])
    report = []
    for build in builds:
        if build != "main":
            diff = first_trace_difference(paths["main"], paths[build])
            report.append(f"main vs {build}: {diff or 'traces identical'}")
    return "\n".join(report)
