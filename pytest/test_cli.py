"""The `twin` command line as a user meets it: exit codes (0 ok, 1 a check
failed, 2 usage or bad input), error messages that name the culprit, the run
summary, --trace files and --check-determinism."""

import re
import subprocess

import pytest

import twinlib
from twinlib import parse_determinism, parse_summary, parse_trace_line

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
HEX16 = re.compile(r"[0-9a-f]{16}")

# Short enough to keep the file fast, long enough that every check holds.
SHORT = ("--duration", "20ms")


def assert_usage_error(result, *names):
    """Exit 2, nothing on stdout, and a message on stderr naming each of
    `names` (the offending option or argument)."""
    rc, out, err = result
    assert rc == EXIT_USAGE, f"rc {rc}, stdout:\n{out}\nstderr:\n{err}"
    assert out == "", f"a usage error printed to stdout:\n{out}"
    for name in names:
        assert name in err, f"{name!r} not named in stderr:\n{err}"


# --- help and commands ------------------------------------------------------

@pytest.mark.parametrize("args, head", [
    (["--help"], "usage: twin <command>"),
    (["-h"], "usage: twin <command>"),
    (["help"], "usage: twin <command>"),
    (["help", "run"], "usage: twin run"),
    (["help", "demo"], "usage: twin demo"),
    (["demo", "--help"], "usage: twin demo"),
    (["run", "--help"], "usage: twin run"),
    (["run", "-h"], "usage: twin run"),
])
def test_help_exits_0_on_stdout(run_twin, args, head):
    rc, out, err = run_twin(*args)
    assert rc == EXIT_OK
    assert out.startswith(head)
    assert "exit status" in out
    assert err == ""


def test_run_help_lists_every_option(run_twin):
    out = run_twin("demo", "--help").stdout
    for opt in ("--seed", "--cores", "--tasks", "--period", "--duration", "--trace",
                "--check-determinism", "--quiet"):
        assert opt in out


def test_version_exits_0(run_twin):
    rc, out, _ = run_twin("--version")
    assert rc == EXIT_OK
    assert re.fullmatch(r"twin \d+\.\d+\.\d+\n", out)


def test_no_command_is_usage_error_with_usage_on_stderr(run_twin):
    rc, out, err = run_twin()
    assert rc == EXIT_USAGE
    assert out == ""
    assert "usage: twin <command>" in err


@pytest.mark.parametrize("args, name", [
    (["bogus"], "'bogus'"),
    (["--bogus"], "'--bogus'"),
    (["help", "bogus"], "'bogus'"),
])
def test_unknown_command_is_usage_error_naming_it(run_twin, args, name):
    assert_usage_error(run_twin(*args), name)


# --- options of `twin run` --------------------------------------------------

@pytest.mark.parametrize("opt", ["--bogus", "-x", "--seeds", "--quiets"])
def test_unknown_option_is_usage_error_naming_it(run_twin, opt):
    assert_usage_error(run_twin("demo", opt), f"'{opt}'")


BAD_VALUES = [
    ("--seed", ["abc", "-1", "", "1.5", "12x", "1e3", "99999999999999999999999"]),
    ("--cores", ["abc", "-1", "0", "255", "4x"]),
    ("--tasks", ["abc", "-2", "0", "1", "8193"]),
    ("--period", ["abc", "0", "-1ms", "10", "1 ms", "999ns", "0us", "1000000000000s"]),
    ("--duration", ["abc", "0", "-1ms", "10", "0ms", "1h1ns", "2h"]),
    ("--debug-perturb-at", ["abc", "-1"]),
]


@pytest.mark.parametrize("opt, value", [(o, v) for o, vs in BAD_VALUES for v in vs])
def test_bad_value_is_usage_error_naming_the_option(run_twin, opt, value):
    assert_usage_error(run_twin("demo", *SHORT, opt, value), opt)


@pytest.mark.parametrize("opt", ["--seed", "--cores", "--tasks", "--period", "--duration",
                                 "--trace", "--debug-perturb-at"])
def test_missing_value_is_usage_error_naming_the_option(run_twin, opt):
    result = run_twin("demo", opt)
    assert_usage_error(result, f"'{opt}'")
    assert "needs a value" in result.stderr


# --cores and --tasks catch the wrapped value with their range check; the
# unbounded options do not.
@pytest.mark.parametrize("opt", ["--seed", "--debug-perturb-at"])
def test_negative_value_with_leading_blank_is_rejected(run_twin, opt):
    assert_usage_error(run_twin("demo", *SHORT, opt, " -1"), opt)


@pytest.mark.parametrize("args", [["scenario.yaml"], ["--seed", "3", "a.yaml"],
                                  ["a.yaml", "--seed", "3"]])
def test_demo_takes_no_file(run_twin, args):
    result = run_twin("demo", *args)
    assert_usage_error(result, ".yaml'")
    assert "twin run FILE" in result.stderr


def test_unwritable_trace_path_is_usage_error(run_twin, tmp_path):
    path = tmp_path / "no-such-dir" / "trace.txt"
    assert_usage_error(run_twin("demo", *SHORT, "--trace", path), "--trace", str(path))


def test_equals_form_is_the_same_option(run_twin):
    a = run_twin("demo", *SHORT, "--quiet", "--seed", "7")
    b = run_twin("demo", *SHORT, "--quiet", "--seed=7")
    assert a.rc == b.rc == EXIT_OK
    assert a.stdout == b.stdout


# --- the summary ------------------------------------------------------------

@pytest.fixture(scope="module")
def default_run(run_twin):
    """The documented default run: seed 1, 4 cores, 64 tasks, 1s."""
    result = run_twin("demo")
    return result, parse_summary(result.stdout)


def test_default_run_exits_0_with_every_check_held(default_run):
    (rc, out, err), s = default_run
    assert rc == EXIT_OK, out + err
    assert err == ""
    assert len(s.checks) >= 6
    assert s.all_ok, [c.name for c in s.failed]
    assert "✗" not in out


def test_summary_reports_hash_events_and_simulated_time(default_run):
    _, s = default_run
    assert HEX16.fullmatch(s.trace_hash)
    assert s.trace_hash != "0" * 16
    assert s.events and s.events > 0
    assert s.simulated_ns == 1_000_000_000
    assert (s.seed, s.cores, s.pingers) == (1, 4, 64)


def test_summary_has_one_line_per_core_and_the_controller(default_run):
    _, s = default_run
    assert sorted(s.per_core) == ["controller", "core 0", "core 1", "core 2", "core 3"]


@pytest.mark.parametrize("cores, tasks", [(1, 2), (7, 64), (16, 500)])
def test_summary_follows_the_options(run_twin, cores, tasks):
    rc, out, _ = run_twin("demo", "--duration", "50ms", "--seed", "9", "--cores", cores,
                          "--tasks", tasks)
    s = parse_summary(out)
    assert rc == EXIT_OK, out
    assert s.all_ok
    assert (s.seed, s.cores, s.pingers) == (9, cores, tasks)
    assert s.simulated_ns == 50_000_000
    assert len(s.per_core) == cores + 1


def test_quiet_prints_only_the_same_trace_hash(run_twin):
    loud = parse_summary(run_twin("demo", *SHORT).stdout)
    rc, out, err = run_twin("demo", *SHORT, "--quiet")
    assert rc == EXIT_OK
    assert err == ""
    assert out == f"  trace hash {loud.trace_hash}\n"


# A period far below what the simulated cores can serve floods the inboxes.
OVERLOAD = ("--period", "1us", "--duration", "1ms")


def test_failed_check_exits_1_and_is_marked(run_twin):
    rc, out, _ = run_twin("demo", *OVERLOAD)
    s = parse_summary(out)
    assert rc == EXIT_FAILED, out
    assert s.failed
    assert "✗" in out


def test_quiet_still_names_failed_checks(run_twin):
    rc, out, _ = run_twin("demo", *OVERLOAD, "--quiet")
    assert rc == EXIT_FAILED
    assert "✗" in out


# --- --trace ------------------------------------------------------------------

@pytest.mark.parametrize("args", [SHORT, ("--duration", "100ms", "--seed", "5", "--cores", "3")])
def test_trace_has_one_line_per_event_ending_in_the_trace_hash(run_twin, tmp_path, args):
    path = tmp_path / "trace.txt"
    rc, out, _ = run_twin("demo", *args, "--trace", path)
    assert rc == EXIT_OK
    s = parse_summary(out)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# index ")
    body = [parse_trace_line(line) for line in lines[1:]]
    assert len(body) == s.events
    assert body[-1].hash == s.trace_hash
    assert [e.index for e in body] == list(range(len(body)))
    times = [e.time_ns for e in body]
    assert times == sorted(times), "trace times go backwards"
    assert times[-1] <= s.simulated_ns
    assert all(e.core <= s.cores for e in body)  # workers 0..cores-1, controller = cores


def test_tracing_does_not_change_the_run(run_twin, tmp_path):
    plain = run_twin("demo", *SHORT, "--seed", "3")
    traced = run_twin("demo", *SHORT, "--seed", "3", "--trace", tmp_path / "t")
    assert parse_summary(plain.stdout).stable == parse_summary(traced.stdout).stable


# --- seeds --------------------------------------------------------------------

def test_different_seeds_give_different_hashes(run_twin):
    hashes = {seed: parse_summary(run_twin("demo", *SHORT, "--quiet", "--seed", seed).stdout)
              .trace_hash for seed in (0, 1, 2, 3, 1000, 2**64 - 1)}
    assert len(set(hashes.values())) == len(hashes), hashes


def test_same_seed_same_hash_across_two_concurrent_processes(twin_bin):
    argv = [str(twin_bin), "demo", "--duration", "200ms", "--seed", "42", "--cores", "5"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=twinlib.DEFAULT_TIMEOUT_S)
        assert p.returncode == EXIT_OK
        outs.append(parse_summary(out.decode()))
    assert outs[0].trace_hash == outs[1].trace_hash
    assert outs[0].stable == outs[1].stable


# --- --check-determinism ------------------------------------------------------

@pytest.mark.parametrize("args", [(), ("--seed", "77", "--cores", "7", "--duration", "100ms")])
def test_check_determinism_says_identical(run_twin, args):
    rc, out, err = run_twin("demo", "--check-determinism", *args)
    assert rc == EXIT_OK, out + err
    d = parse_determinism(out)
    assert d.identical
    assert d.diverged_at is None
    assert d.events[0] == d.events[1] > 0
    assert d.hashes[0] == d.hashes[1]
    # ...and it is the hash a plain run of the same options prints.
    assert d.hashes[0] == parse_summary(run_twin("demo", "--quiet", *args).stdout).trace_hash


@pytest.mark.parametrize("at", [0, 1000, 5000, 20000])
def test_check_determinism_names_the_divergence_after_a_perturbation(run_twin, at):
    rc, out, err = run_twin("demo", "--check-determinism", "--duration", "100ms",
                            "--debug-perturb-at", at)
    assert rc == EXIT_FAILED, out + err
    d = parse_determinism(out)
    assert not d.identical
    assert d.diverged_at >= at
    assert d.hashes[0] != d.hashes[1]
    # Both runs are described at the diverging event.
    assert re.search(r"^    run 1: t=\d+ns ", out, re.M)
    assert re.search(r"^    run 2: t=\d+ns ", out, re.M)


def test_perturbation_after_the_last_event_changes_nothing(run_twin):
    rc, out, _ = run_twin("demo", "--check-determinism", *SHORT,
                          "--debug-perturb-at", 10**12)
    assert rc == EXIT_OK
    assert parse_determinism(out).identical


# --- the JSON report ----------------------------------------------------------

REPORT_KEYS = {"scenario", "seed", "mode", "passed", "expectations", "metrics", "trace_hash",
               "sim_time_ns", "wall_time_ns", "events"}


def test_report_has_the_documented_keys_and_agrees_with_the_summary(run_twin, tmp_path):
    import json
    path = tmp_path / "r.json"
    rc, out, err = run_twin("demo", *SHORT, "--seed", "3", "--report", path)
    assert rc == EXIT_OK, out + err
    report = json.loads(path.read_text())
    assert set(report) == REPORT_KEYS
    s = parse_summary(out)
    assert report["trace_hash"] == s.trace_hash
    assert report["seed"] == 3
    assert report["mode"] == "sim"
    assert report["passed"] is True
    assert report["events"] == s.events
    assert report["sim_time_ns"] == 20_000_000
    assert len(report["expectations"]) == len(s.checks)
    for e in report["expectations"]:
        assert set(e) == {"name", "passed", "observed", "expected"}
        assert e["passed"] is True


def test_unwritable_report_path_is_usage_error(run_twin, tmp_path):
    path = tmp_path / "no-such-dir" / "r.json"
    assert_usage_error(run_twin("demo", *SHORT, "--report", path), "--report", str(path))
