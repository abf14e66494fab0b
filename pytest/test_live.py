"""Live mode: `twin run FILE --live` builds the scenario from network
namespaces and veth pairs and runs twin's hosts on threads over real frame
devices. Each test skips, with twin's reason, where the machine cannot
build the live world (exit 77: no root, no AF_XDP, no TAP...), and each
checks that nothing of its run outlives it: no namespace or interface with
the run's name, no process, no XDP program.

Bounded: every run is a few seconds of wall time and uses one or two
threads per host; nothing is pinned (the development VM has two cores,
shared).
"""

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT

LIVE = REPO_ROOT / "scenarios" / "live"
SKIP = 77
RUN_TIMEOUT_S = 90


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        out = digits[n % 36] + out
        n //= 36
        if n == 0:
            return out


def netns_of(pid: int):
    """The namespaces of twin run `pid` (named tw<pid in base 36>-<name>)."""
    prefix = f"tw{base36(pid)}-"
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix))
    except FileNotFoundError:
        return []


def xsk_programs() -> int:
    """XDP programs of twin's xdp backend alive on the machine: ours, and
    libxdp's default for builds without clang."""
    out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True)
    return out.stdout.count("tw_xdp_steer") + out.stdout.count("xsk_def_prog")


class LiveRun:
    """twin run --live in the background, so that a test can act on the
    world (ping, curl) while it runs."""

    def __init__(self, twin_bin, scenario, *args, report=None):
        self.argv = [str(twin_bin), "run", str(scenario), "--live", *map(str, args)]
        if report:
            self.argv += ["--report", str(report)]
        self.xsk_before = xsk_programs()
        self.p = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, text=True)
        self.pid = self.p.pid

    def wait_netns(self, host, timeout=10.0):
        """The namespace of `host`, once the world is built; skips when twin
        exits 77 first."""
        name = f"tw{base36(self.pid)}-{host}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(f"/run/netns/{name}"):
                time.sleep(0.3)  # the devices open after the namespaces
                return name
            if self.p.poll() is not None:
                self.finish()
                pytest.fail(f"twin exited {self.p.returncode} before building the world")
            time.sleep(0.05)
        pytest.fail(f"no namespace {name} after {timeout}s")

    def finish(self, timeout=RUN_TIMEOUT_S):
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
            pytest.fail(f"{' '.join(self.argv)} ran past {timeout}s")
        if self.p.returncode == SKIP:
            pytest.skip(f"live world unavailable: {err.strip()}")
        self.check_clean()
        return self.p.returncode, out, err

    def check_clean(self):
        assert netns_of(self.pid) == [], "namespaces outlived the run"
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert f"tw{base36(self.pid)}" not in links, "an interface outlived the run"
        # The kernel frees programs after their interface goes (RCU).
        deadline = time.monotonic() + 5
        while xsk_programs() > self.xsk_before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert xsk_programs() <= self.xsk_before, "an XDP program outlived the run"


def run_live(twin_bin, scenario, *args, report=None):
    return LiveRun(twin_bin, scenario, *args, report=report).finish()


def ring_fds(pid: int, timeout=5.0) -> int:
    """io_uring instances process `pid` holds open, once it holds any (the
    devices open after the namespaces), or 0 after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        n = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                n += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[io_uring]"
            except OSError:
                pass
        if n or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


# ---- ping: Linux's ICMP reaches twin's stack ------------------------------------


@pytest.mark.parametrize("backend", ["xdp", "tap", "poll", "uring"])
def test_live_ping_reaches_twin_stack(twin_bin, backend, tmp_path):
    run = LiveRun(twin_bin, LIVE / "ping.yaml", "--backend", backend,
                  report=tmp_path / "r.json")
    ns = run.wait_netns("linux")
    if backend == "xdp":
        # twin's own program (backends/xdp/xdp_prog.bpf.c) is on the veth.
        twin_ns = ns[:-len("linux")] + "twin"
        links = subprocess.run(["ip", "-n", twin_ns, "link", "show", "eth0"],
                               capture_output=True, text=True).stdout
        assert "xdpgeneric" in links and "tw_xdp_steer" in links, links
    if backend in ("tap", "uring"):
        # The TAP device, bridged to the veth, is what twin reads and writes.
        twin_ns = ns[:-len("linux")] + "twin"
        links = subprocess.run(["ip", "-n", twin_ns, "link", "show", "tap0"],
                               capture_output=True, text=True).stdout
        assert "master twbr0" in links, links
    if backend == "uring":
        assert ring_fds(run.pid) >= 1, "no io_uring behind --backend uring"
    ping = subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "5", "-i", "0.2", "-W", "2",
                           "10.0.0.2"], capture_output=True, text=True, timeout=20)
    rc, out, err = run.finish()
    assert "5 received" in ping.stdout, ping.stdout + ping.stderr
    assert rc == 0, out + err
    import json
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["mode"] == "live"
    # twin counted the same echoes Linux saw answered.
    observed = {e["metric"]: e["observed"] for e in report["expectations"]}
    assert observed["host.twin.icmp.echo_requests_in"] >= 5
    assert observed["host.twin.icmp.echo_replies_out"] >= 5


# ---- the same scenarios in both worlds --------------------------------------------


SCENARIOS = ["udp_echo", "bulk_lossy", "http_load", "partition_heal", "link_faults"]


@pytest.mark.parametrize("mode", ["sim", "live"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_live_scenario_in_both_modes(twin_bin, run_twin, name, mode, tmp_path):
    import json
    path = LIVE / f"{name}.yaml"
    report = tmp_path / "r.json"
    if mode == "sim":
        rc, out, err = run_twin("run", path, "--report", report)
    else:
        rc, out, err = run_live(twin_bin, path, report=report)
    assert rc == 0, out + err
    r = json.loads(report.read_text())
    assert r["mode"] == mode
    assert r["passed"] is True
    assert all(e["passed"] for e in r["expectations"])


# The TCP and UDP scenarios over each backend besides the default (xdp,
# above): the same expectations hold whichever device carries the frames.
@pytest.mark.parametrize("backend", ["tap", "poll", "uring"])
@pytest.mark.parametrize("name", ["udp_echo", "http_load"])
def test_live_scenario_over_backend(twin_bin, name, backend, tmp_path):
    import json
    report = tmp_path / "r.json"
    rc, out, err = run_live(twin_bin, LIVE / f"{name}.yaml", "--backend", backend, report=report)
    assert rc == 0, out + err
    r = json.loads(report.read_text())
    assert r["mode"] == "live"
    assert r["passed"] is True
    assert all(e["passed"] for e in r["expectations"])


def test_live_scenario_selects_uring_backend(twin_bin, tmp_path):
    """`live: {backend: uring}` in the file does what --backend uring does."""
    path = tmp_path / "udp_echo_uring.yaml"
    path.write_text((LIVE / "udp_echo.yaml").read_text() + "\nlive: {backend: uring}\n")
    run = LiveRun(twin_bin, path)
    run.wait_netns("server")
    assert ring_fds(run.pid) >= 1, "no io_uring behind live.backend uring"
    rc, out, err = run.finish()
    assert rc == 0, out + err


def test_live_lossy_link_drops_like_the_simulator(twin_bin, run_twin, tmp_path):
    """One link model, both worlds: the sender's egress runs core/link with
    the simulator's seed and stream, and the loss decisions depend on the
    frames' order only, which a clean veth does not change."""
    import json
    path = LIVE / "bulk_lossy.yaml"
    run_twin("run", path, "--report", tmp_path / "sim.json")
    rc, out, err = run_live(twin_bin, path, "--backend", "poll", report=tmp_path / "live.json")
    assert rc == 0, out + err
    sim = json.loads((tmp_path / "sim.json").read_text())["metrics"]
    live = json.loads((tmp_path / "live.json").read_text())["metrics"]
    assert live["link.l1.forward.drops"] >= 1
    assert live["link.l1.forward.frames_in"] >= sim["link.l1.forward.frames_in"] * 9 // 10


# ---- real programs on both sides ---------------------------------------------------


def page_bytes(page: int, size: int) -> bytes:
    """app/http.h's tw_app_http_body_byte for a whole page, vectorised."""
    np = pytest.importorskip("numpy")
    alpha = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                          dtype=np.uint8)
    words = (size + 7) // 8
    with np.errstate(over="ignore"):
        x = (np.arange(words, dtype=np.uint64) * np.uint64(0x9e3779b97f4a7c15) +
             np.uint64((page << 32) | 0x5851f42d))
        x ^= x >> np.uint64(31)
        x *= np.uint64(0xbf58476d1ce4e5b9)
        x ^= x >> np.uint64(29)
    out = np.empty((words, 8), dtype=np.uint8)
    for k in range(8):
        out[:, k] = alpha[((x >> np.uint64(6 * k)) & np.uint64(63)).astype(np.intp)]
    return out.reshape(-1)[:size].tobytes()


def test_live_curl_downloads_100mb_from_twin_over_xdp(twin_bin, tmp_path):
    want = hashlib.sha256(page_bytes(0, 100_000_000)).hexdigest()
    run = LiveRun(twin_bin, LIVE / "curl_100mb.yaml", "--backend", "xdp", "--set", "duration=40s")
    ns = run.wait_netns("linux")
    got = tmp_path / "page"
    curl = subprocess.run(["ip", "netns", "exec", ns, "curl", "-s", "--max-time", "35", "-o",
                           str(got), "-w", "%{http_code} %{size_download} %{speed_download}",
                           "http://10.0.0.2/0"], capture_output=True, text=True, timeout=40)
    run.p.send_signal(signal.SIGTERM)  # done: end the run early
    rc, out, err = run.finish()
    assert curl.stdout.startswith("200 100000000"), curl.stdout + curl.stderr
    assert hashlib.sha256(got.read_bytes()).hexdigest() == want
    assert "interrupted" in err


def test_live_twin_http_client_fetches_from_nginx(twin_bin):
    rc, out, err = run_live(twin_bin, REPO_ROOT / "scenarios" / "kernel_peer.yaml", "--backend",
                            "xdp", "--set", "duration=3s")
    assert rc == 0, out + err
    assert "✓ app.client.errors == 0" in out


# ---- errors and cleanup --------------------------------------------------------------


def test_live_unknown_backend_is_usage_error(run_twin):
    rc, out, err = run_twin("run", LIVE / "udp_echo.yaml", "--live", "--backend", "dpdk")
    assert rc == 2
    assert "expected xdp, tap, poll or uring" in err


def run_without_io_uring(twin_bin, scenario, backend):
    """twin run --live with io_uring refused (a seccomp filter, as the
    kernel.io_uring_disabled sysctl refuses it): the run's stderr, once it
    has exited 77 and left no namespace behind."""
    import platform
    from test_uring import _deny_io_uring_setup
    if platform.machine() != "x86_64":
        pytest.skip("the seccomp filter here is written for x86_64")
    p = subprocess.Popen([str(twin_bin), "run", str(scenario), "--live", "--backend", backend],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True, preexec_fn=_deny_io_uring_setup)
    out, err = p.communicate(timeout=RUN_TIMEOUT_S)
    assert p.returncode != 99, "could not install the seccomp filter"
    if p.returncode == SKIP and "io_uring" not in err:
        pytest.skip(f"live world unavailable: {err.strip()}")
    assert p.returncode == SKIP, out + err
    assert netns_of(p.pid) == [], "namespaces outlived the run"
    return err


def test_live_uring_without_io_uring_is_exit_77(twin_bin):
    """Without io_uring the uring backend exits 77 and names the missing
    feature."""
    err = run_without_io_uring(twin_bin, LIVE / "udp_echo.yaml", "uring")
    assert "backend uring" in err and "io_uring_setup: Operation not permitted" in err, err


def test_live_kernel_tasks_without_io_uring_is_exit_77(twin_bin):
    """A kernel host's tasks need io_uring: without it the run exits 77
    naming it, over a backend that needs no io_uring itself."""
    err = run_without_io_uring(twin_bin, LIVE / "kernel_bulk.yaml", "poll")
    assert "kernel host's apps run as twin's tasks over io_uring" in err, err
    assert "io_uring_setup failed: Operation not permitted" in err, err


def test_live_sigterm_removes_the_world(twin_bin):
    run = LiveRun(twin_bin, LIVE / "udp_echo.yaml", "--set", "duration=60s")
    run.wait_netns("server")
    run.p.send_signal(signal.SIGTERM)
    rc, out, err = run.finish(timeout=20)
    assert rc == 1
    assert "interrupted" in err


def test_live_removes_leftovers_of_a_killed_run(twin_bin):
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"tw{base36(dead.pid)}-old"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        rc, out, err = run_live(twin_bin, LIVE / "udp_echo.yaml", "--backend", "poll")
        assert rc == 0, out + err
        assert not os.path.exists(f"/run/netns/{name}")
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_live_kernel_to_kernel_link_is_shaped_by_the_link_model(twin_bin):
    """No netem here: the 20 ms link between two kernel hosts is twin's
    forwarding element running core/link, so a ping's round trip carries
    both directions' delay."""
    import re
    run = LiveRun(twin_bin, LIVE / "kernel_link.yaml", "--backend", "poll")
    ns = run.wait_netns("k1")
    ping = subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "5", "-i", "0.2", "-W", "2",
                           "10.0.0.2"], capture_output=True, text=True, timeout=20)
    rc, out, err = run.finish()
    assert "5 received" in ping.stdout, ping.stdout + ping.stderr
    rtt_min = float(re.search(r"= ([\d.]+)/", ping.stdout).group(1))
    assert 40.0 <= rtt_min < 1000.0, ping.stdout
    assert rc == 0, out + err


UDP_FLOWS = r"""
import socket, sys
flows, per_flow = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(flows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.0.0.1", 40000 + i))
    s.settimeout(2.0)
    socks.append(s)
answered = []
for i, s in enumerate(socks):
    got = 0
    for k in range(per_flow):
        s.sendto(b"flow %d datagram %d" % (i, k), ("10.0.0.2", 7))
        try:
            if s.recv(2048) == b"flow %d datagram %d" % (i, k):
                got += 1
        except socket.timeout:
            pass
    answered.append(got)
print(" ".join(map(str, answered)))
"""


def ethtool_stats(ns, ifname):
    out = subprocess.run(["ip", "netns", "exec", ns, "ethtool", "-S", ifname],
                         capture_output=True, text=True)
    stats = {}
    for line in out.stdout.splitlines()[1:]:
        name, _, value = line.strip().partition(": ")
        if value.isdigit():
            stats[name] = int(value)
    return stats


def test_live_xdp_binds_a_socket_per_queue(twin_bin, tmp_path):
    """A two-core host over xdp: its veth has two queues, each with an
    AF_XDP socket (the kernel's per-queue counters show frames redirected
    into a socket on queue 0 and on queue 1: a redirect to a queue without
    a bound socket falls back to the kernel and is not counted), Linux's
    flows spread over both, every datagram of every flow is echoed, and
    the frames that landed on the queue of the core their flow does not
    hash to were re-steered (host.server.resteers)."""
    import json
    import shutil
    if shutil.which("ethtool") is None:
        pytest.skip("ethtool (Debian package ethtool) reads the veth's per-queue counters")
    run = LiveRun(twin_bin, LIVE / "xdp_queues.yaml", "--backend", "xdp",
                  report=tmp_path / "r.json")
    ns = run.wait_netns("linux")
    twin_ns = ns[:-len("linux")] + "server"
    link = subprocess.run(["ip", "-d", "-n", twin_ns, "link", "show", "eth0"],
                          capture_output=True, text=True).stdout
    assert "numtxqueues 2 numrxqueues 2" in link, link
    # Native mode: veth's generic path would report queue 0 for every frame.
    assert "prog/xdp " in link and "xdpgeneric" not in link, link
    subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", "10.0.0.2"],
                   capture_output=True, timeout=10)
    flows = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", UDP_FLOWS,
                            "16", "20"], capture_output=True, text=True, timeout=60)
    stats = ethtool_stats(twin_ns, "eth0")
    rc, out, err = run.finish()
    assert flows.returncode == 0, flows.stderr
    assert flows.stdout.split() == ["20"] * 16, flows.stdout
    assert stats.get("rx_queue_0_xdp_redirect", 0) > 0, stats
    assert stats.get("rx_queue_1_xdp_redirect", 0) > 0, stats
    assert rc == 0, out + err
    metrics = json.loads((tmp_path / "r.json").read_text())["metrics"]
    received = stats["rx_queue_0_xdp_redirect"] + stats["rx_queue_1_xdp_redirect"]
    assert 1 <= metrics["host.server.resteers"] < received, (metrics, stats)
    assert metrics["host.server.core.0.events"] > 0 and metrics["host.server.core.1.events"] > 0


@pytest.mark.parametrize("backend", ["poll", "xdp"])
def test_live_flow_lands_on_the_simulators_core(twin_bin, run_twin, backend, tmp_path):
    """Share-nothing steering is the same in both worlds: the core that
    serves the one flow in the simulator (the busiest) is the one the live
    driver feeds it to (the one with the inputs)."""
    import json
    path = LIVE / "rss_steering.yaml"
    rc, out, err = run_twin("run", path, "--report", tmp_path / "sim.json")
    assert rc == 0, out + err
    rc, out, err = run_live(twin_bin, path, "--backend", backend, report=tmp_path / "live.json")
    assert rc == 0, out + err
    sim = json.loads((tmp_path / "sim.json").read_text())["metrics"]
    live = json.loads((tmp_path / "live.json").read_text())["metrics"]
    busy = [sim[f"host.server.core.{k}.busy"] for k in range(4)]
    inputs = [live[f"host.server.core.{k}.events"] for k in range(4)]
    core = busy.index(max(busy))
    assert inputs.index(max(inputs)) == core, (busy, inputs)
    assert inputs[core] >= 500  # every request, on that core


@pytest.mark.parametrize("backend", ["poll", "xdp"])
def test_live_fragments_reach_the_flows_core(twin_bin, backend, tmp_path):
    """A four-core client behind a 713-byte hop: the driver's software RSS
    steers each fragment by the addresses alone, and the core that
    reassembles a datagram hands it to the core that owns its flow
    (TW_OUT_STEER into that core's steering ring); before, the UDP client
    heard no reply (docs/fuzz.md, seed 46)."""
    import json
    path = REPO_ROOT / "tests" / "scenarios" / "frag_steer_multicore.yaml"
    rc, out, err = run_live(twin_bin, path, "--backend", backend, report=tmp_path / "r.json")
    assert rc == 0, out + err
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["mode"] == "live"
    assert all(e["passed"] for e in r["expectations"]), r["expectations"]


def test_live_crash_restart_and_stall(twin_bin):
    """The simulator's crash_restart.yaml, live: the server host crashes
    (its stacks and tasks gone), comes back as a new incarnation whose apps
    the controller respawns, and one of its cores stalls; the client
    recovers within the file's bound."""
    rc, out, err = run_live(twin_bin, REPO_ROOT / "scenarios" / "crash_restart.yaml",
                            "--backend", "poll")
    assert rc == 0, out + err
    assert "✓ host.server.crashes == 1" in out


# ---- kernel hosts' apps as twin's tasks over the Linux stack -----------------------
#
# A kernel host's apps other than nginx run as twin's own tasks over its
# kernel sockets (backends/live/kernhost.h: the io_uring driver, a worker
# thread per core inside the host's namespace). The scenarios run in the
# simulator too, where the kernel host is a twin host (`--set
# hosts.linux.kind=twin`: the simulator has no Linux), and the same
# expectations hold in both.

MiB = 1 << 20


def established(ns, port):
    """TCP connections of namespace ns established to or from `port`, as
    Linux sees them."""
    out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-tnH", "state", "established",
                          f"( sport = :{port} or dport = :{port} )"],
                         capture_output=True, text=True).stdout
    return len(out.splitlines())


def wait_established(ns, port, want, seconds):
    """established(ns, port) once it reaches `want`, or its last count
    after `seconds`."""
    deadline = time.monotonic() + seconds
    n = established(ns, port)
    while n < want and time.monotonic() < deadline:
        time.sleep(0.05)
        n = established(ns, port)
    return n


def run_kernel_scenario(twin_bin, run_twin, name, mode, tmp_path, during=None,
                        kernel=("linux",)):
    """Runs scenarios/live/NAME.yaml in `mode`, the simulator's with its
    kernel hosts as twin hosts; live over the poll device (so that every
    io_uring the run holds is a kernel host's task worker), calling
    during(run, ns of the first kernel host) while the world is up. Returns
    the report."""
    import json
    import re
    path = LIVE / f"{name}.yaml"
    report = tmp_path / "r.json"
    if mode == "sim":
        as_twin = [a for h in kernel for a in ("--set", f"hosts.{h}.kind=twin")]
        rc, out, err = run_twin("run", path, *as_twin, "--report", report)
    else:
        run = LiveRun(twin_bin, path, "--backend", "poll", report=report)
        ns = run.wait_netns(kernel[0])
        assert ring_fds(run.pid) >= 1, "no io_uring behind the kernel host's tasks"
        if during:
            during(run, ns)
        rc, out, err = run.finish()
    assert rc == 0, out + err
    r = json.loads(report.read_text())
    assert r["mode"] == mode and r["passed"] is True
    assert all(e["passed"] for e in r["expectations"]), r["expectations"]
    if mode == "live":
        # Not deterministic, so no trace: null, not a hash of nothing.
        assert r["trace_hash"] is None
        assert "trace hash none" in out
        # Linux's stack ran the kernel host: twin publishes no stack
        # counters of its own for it.
        assert not any(k.startswith(f"host.{h}.tcp.") for k in r["metrics"] for h in kernel)
    else:
        assert re.fullmatch(r"[0-9a-f]{16}", r["trace_hash"])
        assert all(f"host.{h}.tcp.connections" in r["metrics"] for h in kernel)
    return r


@pytest.mark.parametrize("mode", ["sim", "live"])
def test_live_kernel_bulk_both_ways(twin_bin, run_twin, mode, tmp_path):
    """A kernel host's bulk_send into twin's bulk_sink and twin's bulk_send
    into a kernel host's bulk_sink: every byte arrives, verified byte by
    byte by the sink on either side."""
    m = run_kernel_scenario(twin_bin, run_twin, "kernel_bulk", mode, tmp_path)["metrics"]
    for app in ("k_send", "t_sink", "t_send", "k_sink"):
        assert m[f"app.{app}.bytes"] == 4 * MiB, app
    for sink in ("t_sink", "k_sink"):
        assert m[f"app.{sink}.mismatches"] == 0
        assert m[f"app.{sink}.streams"] == 1
        assert m[f"app.{sink}.corrupt"] == 0
    assert m["app.k_send.intact"] == 1 and m["app.t_send.intact"] == 1


@pytest.mark.parametrize("mode", ["sim", "live"])
def test_live_kernel_echo_apps_both_ways(twin_bin, run_twin, mode, tmp_path):
    """UDP and TCP echo servers and clients on a kernel host, each against
    twin's: every datagram answered, the TCP clients' counts matching the
    servers' on the other side."""
    m = run_kernel_scenario(twin_bin, run_twin, "kernel_echo", mode, tmp_path)["metrics"]
    for client, server in (("t_uclient", "k_uecho"), ("k_uclient", "t_uecho")):
        assert m[f"app.{client}.replies"] == 500
        assert m[f"app.{client}.timeouts"] == 0
        assert m[f"app.{server}.bytes"] == 500 * 1200
    for client, server in (("t_tclient", "k_techo"), ("k_tclient", "t_techo")):
        # The echo answered every request the client counted, and at most
        # the 4 in flight at the end besides.
        assert 0 <= m[f"app.{server}.bytes"] // 256 - m[f"app.{client}.replies"] <= 4
        assert m[f"app.{client}.connections"] == 4


@pytest.mark.parametrize("mode", ["sim", "live"])
def test_live_kernel_http_client_against_twin_server(twin_bin, run_twin, mode, tmp_path):
    """twin's HTTP client on a kernel host, its 8 connections Linux's,
    fetches twin's pages with 2xx answers only."""
    seen = {}

    def during(run, ns):
        seen["conns"] = wait_established(ns, 8080, 8, 3)

    r = run_kernel_scenario(twin_bin, run_twin, "kernel_http_client", mode, tmp_path, during)
    m = r["metrics"]
    if mode == "live":
        assert seen["conns"] == 8, "the client's connections are not Linux's"
    assert m["app.client.responses_2xx"] >= 300
    assert m["app.client.responses_4xx"] == 0 and m["app.client.errors"] == 0
    # The server answered what the client counted, but for what was in
    # flight on the 8 connections at the end.
    assert 0 <= m["app.web.responses_2xx"] - m["app.client.responses_2xx"] <= 8


@pytest.mark.parametrize("mode", ["sim", "live"])
def test_live_kernel_host_crash_respawns_its_tasks(twin_bin, run_twin, mode, tmp_path):
    """The kernel host's TCP echo dies with its workers at the crash (Linux
    closes its sockets) and is respawned at the restart: twin's client is
    served again within the file's bound."""
    seen = {}

    def during(run, ns):
        # Before the crash (1.5 s) Linux holds the 4 connections; after it,
        # until the client reconnects, fewer.
        seen["before"] = wait_established(ns, 7, 4, 1.2)

    r = run_kernel_scenario(twin_bin, run_twin, "kernel_crash", mode, tmp_path, during)
    observed = {e["metric"]: e["observed"] for e in r["expectations"]}
    assert observed["host.linux.crashes"] == 1
    assert observed["app.client.replies"] >= 500
    if mode == "live":
        assert seen["before"] == 4


@pytest.mark.parametrize("mode", ["sim", "live"])
def test_live_partition_between_kernel_hosts(twin_bin, run_twin, mode, tmp_path):
    """Two kernel hosts' tasks, no twin host on the path: the link's
    forwarding element cuts the partition's frames (counted), and the
    client is answered again after the heal."""
    r = run_kernel_scenario(twin_bin, run_twin, "kernel_partition", mode, tmp_path,
                            kernel=("k1", "k2"))
    m = r["metrics"]
    assert m["app.client.timeouts"] >= 150
    assert m["app.client.replies"] + m["app.client.timeouts"] <= m["app.client.sent"]
    if mode == "live":
        assert m["world.drops.partition"] >= 150


SWITCHED = """\
name: switched
seed: 1
duration: 2s
hosts:
  - {name: a, address: 10.0.0.1/24, apps: [{type: udp_echo, port: 7}]}
  - {name: b, address: 10.0.0.2/24, apps: [{type: udp_client, server: a, port: 7, rate: 100/s}]}
switches:
  - {name: tor}
links:
  - {endpoints: [a, tor]}
  - {endpoints: [b, tor]}
expect:
  - {metric: app.b.replies, ">=": 50}
  - {metric: switch.tor.forwarded, ">=": 1}
"""


def test_live_sim_only_metric_fails_saying_why(twin_bin, run_twin, tmp_path):
    """switch.* is the simulator's (a Linux bridge keeps no such counters):
    live, an expectation on it fails, saying so before the run and in the
    verdict, while the others are judged as usual."""
    import json
    f = tmp_path / "switched.yaml"
    f.write_text(SWITCHED)
    rc, out, err = run_twin("run", f)
    assert rc == 0, out + err
    report = tmp_path / "r.json"
    rc, out, err = run_live(twin_bin, f, "--backend", "poll", report=report)
    assert rc == 1, out + err
    assert "switch.tor.forwarded is not measured in live mode" in err
    assert "✗ switch.tor.forwarded >= 1: not measured in live mode: a switch is a Linux bridge" \
        in out
    assert "✓ app.b.replies >= 50" in out
    r = json.loads(report.read_text())
    verdict = {e["metric"]: e for e in r["expectations"]}
    assert verdict["switch.tor.forwarded"]["observed"] is None
    assert "Linux bridge" in verdict["switch.tor.forwarded"]["unmeasured"]
    assert verdict["app.b.replies"]["passed"] is True
    assert not any(k.startswith("switch.") for k in r["metrics"])


KERNEL_SERVER = """\
name: kernel_server
seed: 1
duration: 2s
hosts:
  - name: linux
    kind: kernel
    address: 10.0.0.1/24
    apps: [{name: server, type: http_server, port: 80, pages: 10, page_size: 4KiB}]
  - name: client
    address: 10.0.0.2/24
    apps: [{type: http_client, server: linux, connections: 4}]
links:
  - {name: l1, endpoints: [client, linux]}
expect:
  - {metric: app.client.responses_2xx, ">=": 100}
  - {metric: app.server.responses_2xx, ">=": 100}
"""


@pytest.mark.parametrize("programs", ["default", "false"])
def test_live_kernel_http_server_is_nginx_unless_the_file_says(twin_bin, tmp_path, programs):
    """A kernel host's http_server is nginx, whose counters twin cannot
    read (an expectation on them fails saying so); with `live: {programs:
    false}` it is twin's task over Linux's sockets, and they are read."""
    f = tmp_path / "k.yaml"
    f.write_text(KERNEL_SERVER + ("live: {programs: false}\n" if programs == "false" else ""))
    rc, out, err = run_live(twin_bin, f, "--backend", "poll")
    assert "✓ app.client.responses_2xx >= 100" in out, out + err
    if programs == "default":
        assert rc == 1
        assert "app 'server' is nginx, a real program on a kernel host" in out
    else:
        assert rc == 0, out + err
        assert "✓ app.server.responses_2xx >= 100" in out
