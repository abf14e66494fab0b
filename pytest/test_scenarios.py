"""The scenario files in scenarios/ as test items, each run for several
seeds, plus the CLI behaviour around them: malformed files, reports,
replay, sweeps, overrides and captures."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))
BAD = sorted((REPO / "tests" / "scenarios" / "bad").glob("*.yaml"))

# Long scenarios run for fewer seeds; every other one for seeds 1..20.
SEEDS = {"bulk_bdp": [1], "http_load": [1, 2], "quickstart": [1, 2, 3, 4, 5]}
DEFAULT_SEEDS = list(range(1, 21))
REPORT_KEYS = {"scenario", "seed", "mode", "passed", "expectations", "metrics", "trace_hash",
               "sim_time_ns", "wall_time_ns", "events"}


def live_only(path):
    return re.search(r"^\s*kind:\s*kernel\b", path.read_text(), re.M) is not None


def scenario_items():
    for path in SCENARIOS:
        for seed in SEEDS.get(path.stem, DEFAULT_SEEDS):
            marks = [pytest.mark.skip(reason="kernel hosts run only live")] if live_only(path) else []
            yield pytest.param(path, seed, id=f"{path.stem}-seed{seed}", marks=marks)


@pytest.mark.parametrize("path,seed", list(scenario_items()))
def test_scenario_holds(run_twin, tmp_path, path, seed):
    report = tmp_path / "r.json"
    rc, out, err = run_twin("run", path, "--seed", seed, "--report", report, timeout=300)
    assert rc == 0, f"twin run {path} --seed {seed}\n{out}{err}"
    r = json.loads(report.read_text())
    assert set(r) == REPORT_KEYS
    assert r["passed"] is True and r["seed"] == seed and r["mode"] == "sim"
    assert r["expectations"], "a maintained scenario checks something"
    for e in r["expectations"]:
        assert {"name", "passed", "observed", "expected"} <= set(e)
        assert e["passed"] is True, e
    assert f"trace hash {r['trace_hash']}" in out
    assert r["events"] > 0 and r["sim_time_ns"] > 0


def test_every_scenario_is_collected():
    assert len(SCENARIOS) >= 12


def test_live_only_scenario_is_refused_in_the_simulator(run_twin):
    live = [p for p in SCENARIOS if live_only(p)]
    if not live:
        pytest.skip("no live-only scenario")
    rc, out, err = run_twin("run", live[0])
    assert rc == 2
    assert "runs only live" in err


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_malformed_scenario_exits_2_with_position(run_twin, path):
    first = path.read_bytes().splitlines()[0].decode("utf-8", "replace")
    m = re.match(r"#\s*expect:\s*(\d+):(\d+):\s*(.*)$", first)
    assert m, f"{path} must open with '# expect: L:C: message'"
    rc, out, err = run_twin("run", path)
    assert rc == 2, out + err
    assert f"{path}:{m.group(1)}:{m.group(2)}: {m.group(3)}" in err, err
    assert out == ""


def test_at_least_20_malformed_files():
    assert len(BAD) >= 20


def test_missing_file_exits_2(run_twin, tmp_path):
    rc, out, err = run_twin("run", tmp_path / "nope.yaml")
    assert rc == 2 and "cannot read" in err


def test_failed_expectation_exits_1(run_twin):
    rc, out, err = run_twin("run", REPO / "scenarios" / "udp_echo.yaml", "--set", "duration=10ms")
    assert rc == 1, out + err
    assert "✗" in out


def test_set_override_is_applied_and_checked(run_twin, tmp_path):
    report = tmp_path / "r.json"
    rc, out, err = run_twin("run", REPO / "scenarios" / "partition_heal.yaml",
                            "--set", "duration=12s", "--report", report)
    assert json.loads(report.read_text())["sim_time_ns"] == 12_000_000_000
    rc, out, err = run_twin("run", REPO / "scenarios" / "udp_echo.yaml", "--set", "duration=fast")
    assert rc == 2 and "--set duration=fast" in err


def test_replay_reproduces_the_trace_hash(run_twin, tmp_path):
    report = tmp_path / "r.json"
    rc, out, err = run_twin("run", REPO / "scenarios" / "crash_restart.yaml", "--seed", "4",
                            "--report", report)
    assert rc == 0, out + err
    rc, out, err = run_twin("replay", report)
    assert rc == 0, out + err
    assert json.loads(report.read_text())["trace_hash"] in out
    # A report whose hash does not match this build's run is caught.
    doctored = tmp_path / "d.json"
    doctored.write_text(re.sub(r'"trace_hash": "[0-9a-f]+"', '"trace_hash": "0000000000000000"',
                               report.read_text()))
    rc, out, err = run_twin("replay", doctored)
    assert rc == 1 and "diverged" in out


def test_sweep_in_parallel_matches_sequential(run_twin):
    args = ("run", REPO / "scenarios" / "partition_heal.yaml", "--seeds", "1..8")
    seq = run_twin(*args, "--jobs", "1", timeout=300)
    par = run_twin(*args, "--jobs", "2", timeout=300)
    assert seq.rc == par.rc == 0, seq.stdout + seq.stderr
    assert seq.stdout == par.stdout
    assert seq.stdout.count("passed (trace hash") == 8
    # Each seed's hash is the one a single run of that seed prints.
    single = run_twin("run", REPO / "scenarios" / "partition_heal.yaml", "--seed", "3", "--quiet")
    h = re.search(r"trace hash ([0-9a-f]{16})", single.stdout).group(1)
    assert f"seed 3: passed (trace hash {h})" in seq.stdout


def test_sweep_names_failing_seeds_with_the_command(run_twin):
    rc, out, err = run_twin("run", REPO / "scenarios" / "udp_echo.yaml", "--seeds", "1..3",
                            "--jobs", "2", "--set", "duration=10ms")
    assert rc == 1
    for seed in (1, 2, 3):
        assert f"twin run {REPO / 'scenarios' / 'udp_echo.yaml'} --seed {seed} --set 'duration=10ms'" in out


def test_scenario_check_determinism(run_twin):
    rc, out, err = run_twin("run", REPO / "scenarios" / "quickstart.yaml", "--check-determinism")
    assert rc == 0, out + err
    assert "✓ deterministic" in out


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_quickstart_pcap_opens_cleanly_in_tshark(run_twin, tmp_path):
    rc, out, err = run_twin("run", REPO / "scenarios" / "quickstart.yaml", "--pcap", tmp_path)
    assert rc == 0, out + err
    files = sorted(tmp_path.glob("*.pcap"))
    assert files, "the quickstart captures link l1"
    total = 0
    for f in files:
        p = subprocess.run(["tshark", "-r", str(f), "-o", "ip.check_checksum:TRUE",
                            "-o", "tcp.check_checksum:TRUE", "-T", "fields",
                            "-e", "_ws.expert.message"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        bad = [l for l in p.stdout.splitlines() if "alformed" in l or "hecksum" in l.lower()
               and "bad" in l.lower()]
        assert not bad, bad[:5]
        total += sum(1 for _ in p.stdout.splitlines())
    assert total > 1000


def test_swarm_draws_knobs_from_the_seed(run_twin):
    path = REPO / "scenarios" / "reorder_dup_storm.yaml"
    a = run_twin("run", path, "--swarm", "--seed", "3")
    b = run_twin("run", path, "--swarm", "--seed", "3")
    c = run_twin("run", path, "--swarm", "--seed", "4")
    knobs = lambda out: [l for l in out.splitlines() if l.startswith("  swarm link")]
    assert knobs(a.stdout) and knobs(a.stdout) == knobs(b.stdout)
    assert knobs(a.stdout) != knobs(c.stdout)
    plain = run_twin("run", path, "--seed", "3", "--quiet")
    h = lambda out: re.search(r"trace hash ([0-9a-f]{16})", out).group(1)
    assert h(a.stdout) == h(b.stdout) != h(plain.stdout)


def test_swarm_sweep_passes(run_twin):
    rc, out, err = run_twin("run", REPO / "scenarios" / "reorder_dup_storm.yaml", "--swarm",
                            "--seeds", "1..10", "--jobs", "2", timeout=300)
    assert rc == 0, out + err
    assert "10 passed, 0 failed" in out


def test_series_and_plot(run_twin, tmp_path):
    series = tmp_path / "s.jsonl"
    rc, out, err = run_twin("run", REPO / "scenarios" / "quickstart.yaml", "--series", series)
    assert rc == 0, out + err
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    import twinplot
    samples = twinplot.load(series)
    # capture.metrics is 100ms over 10s: a sample at 0, every 100ms, and the end.
    assert len(samples) == 102
    assert [s["t_ns"] for s in samples[:3]] == [0, 100_000_000, 200_000_000]
    t, rates, occ, cwnd = twinplot.series(samples)
    assert set(rates) == {"server", "client1", "client2"}
    assert max(rates["server"]) > 1.0  # Mbps: the server sends pages
    assert "l1.forward" in occ
    assert max(cwnd["server"]) > 14600  # grown past the initial window of 10 segments
    pytest.importorskip("matplotlib")
    png = tmp_path / "plot.png"
    twinplot.plot(samples, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


def test_app_duration_stops_it_and_keeps_its_metrics(run_twin, tmp_path):
    scen = tmp_path / "stop.yaml"
    scen.write_text("""name: stop
seed: 1
duration: 2s
hosts:
  - name: server
    address: 10.0.0.1/24
    apps:
      - {type: udp_echo, port: 7}
  - name: client
    address: 10.0.0.2/24
    apps:
      - {type: udp_client, server: server, port: 7, rate: 1000/s, size: 64B, start: 200ms, duration: 500ms}
links:
  - {name: l1, endpoints: [client, server], bandwidth: 1Gbps, delay: 50us}
expect:
  - {metric: app.client.sent, between: [495, 505]}
  - {metric: app.server.requests, between: [495, 505]}
""")
    rc, out, err = run_twin("run", scen)
    assert rc == 0, out + err
