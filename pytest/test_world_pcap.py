"""Captures of the simulated world: tests/world_pcap runs a switch and three
hosts exchanging UDP and ping with every link direction and NIC tapped, and
writes nanosecond pcap files plus expect.txt (file, simulated time, length of
every captured frame, in capture order). tshark must read every file without
a malformed packet or a bad IP, UDP or ICMP checksum, and each frame's
timestamp must be its simulated time to the nanosecond."""

import os
import shutil
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

TSHARK = shutil.which("tshark")
CHECKSUMS = ("-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE")
TIMEOUT_S = 120


def _world_pcap() -> Path:
    twin = os.environ.get("TWIN_BIN")
    base = Path(twin).parent if twin else Path(__file__).resolve().parent.parent / "build"
    return base / "tests" / "world_pcap"


@pytest.fixture(scope="module")
def world_pcap():
    if TSHARK is None:
        pytest.skip("tshark is not installed (apt install tshark)")
    path = _world_pcap()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"no capture program at {path}: build the tests (meson -Dtests=enabled)")
    return path


def _capture(world_pcap, out: Path, *args) -> str:
    p = subprocess.run([str(world_pcap), str(out), *map(str, args)], capture_output=True,
                       text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"{world_pcap} {out} {' '.join(map(str, args))}: exit " \
                              f"{p.returncode}\n{p.stdout}{p.stderr}"
    return p.stdout


def _tshark(*args) -> str:
    p = subprocess.run([TSHARK, *args], capture_output=True, text=True, timeout=TIMEOUT_S,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"tshark {' '.join(args)}: exit {p.returncode}\n{p.stderr}"
    return p.stdout


def _expected(out: Path):
    frames = defaultdict(list)
    for line in (out / "expect.txt").read_text().splitlines():
        name, time_ns, length = line.split()
        frames[name].append((int(time_ns), int(length)))
    return frames


# A frame whose checksum tshark found wrong, or that it could not dissect.
DAMAGE = ("_ws.malformed or _ws.expert.severity >= warning or ip.checksum.status == 0 "
          "or udp.checksum.status == 0 or icmp.checksum.status == 0")


def _damaged(pcap: Path) -> list:
    out = _tshark("-r", str(pcap), *CHECKSUMS, "-Y", DAMAGE, "-T", "fields",
                  "-e", "frame.number", "-e", "_ws.expert.message")
    return [line for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def clean_run(world_pcap, tmp_path_factory):
    out = tmp_path_factory.mktemp("world_pcap")
    summary = _capture(world_pcap, out, 1)
    return out, summary


def test_world_pcap_run_exchanged_everything(clean_run):
    out, summary = clean_run
    fields = dict(zip(summary.split()[0::2], summary.split()[1::2]))
    assert int(fields["received"]) == 40, summary
    assert int(fields["echo_replies"]) == 10, summary
    names = sorted(p.name for p in out.glob("*.pcap"))
    assert names == sorted([f"link{i}-{d}.pcap" for i in range(3) for d in ("ab", "ba")] +
                           [f"host{i}-if0.pcap" for i in range(3)])


def test_world_pcap_no_malformed_packets_or_bad_checksums(clean_run):
    out, _ = clean_run
    for pcap in sorted(out.glob("*.pcap")):
        assert _damaged(pcap) == [], f"{pcap.name} has damaged frames"
        expert = _tshark("-r", str(pcap), *CHECKSUMS, "-q", "-z", "expert,warn")
        assert "Malformed" not in expert and "Bad checksum" not in expert, expert


def test_world_pcap_timestamps_are_the_simulated_times(clean_run):
    out, _ = clean_run
    expected = _expected(out)
    assert sum(len(v) for v in expected.values()) > 100
    for name, frames in sorted(expected.items()):
        got = _tshark("-r", str(out / name), "-T", "fields", "-e", "frame.time_epoch",
                      "-e", "frame.len")
        rows = [line.split("\t") for line in got.splitlines() if line.strip()]
        assert len(rows) == len(frames), f"{name}: {len(rows)} frames, expected {len(frames)}"
        for i, ((epoch, length), (time_ns, want_len)) in enumerate(zip(rows, frames)):
            # frame.time_epoch is seconds with nine decimals: exact in Decimal.
            assert int(Decimal(epoch) * 10**9) == time_ns, \
                f"{name} frame {i + 1}: {epoch} s, expected {time_ns} ns"
            assert int(length) == want_len, f"{name} frame {i + 1}: {length} bytes"


def test_world_pcap_same_seed_same_captures(world_pcap, clean_run, tmp_path):
    out, summary = clean_run
    again = _capture(world_pcap, tmp_path, 1)
    assert again == summary
    for pcap in out.glob("*.pcap"):
        assert (tmp_path / pcap.name).read_bytes() == pcap.read_bytes(), pcap.name


def test_world_pcap_checker_finds_corruption(world_pcap, tmp_path):
    """The checks above would pass on empty files too: with one frame in four
    damaged on host 0's link, tshark must see damage after the link (at the
    NICs it leads to) and none before it."""
    _capture(world_pcap, tmp_path, 1, "corrupt")
    assert _damaged(tmp_path / "link0-ab.pcap") == []
    after = [_damaged(tmp_path / f"host{i}-if0.pcap") for i in (1, 2)]
    assert sum(map(len, after)) > 0
