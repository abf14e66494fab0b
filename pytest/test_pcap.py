"""The user-space stack's frames as Wireshark sees them.

tests/pcap_exchange runs a back-to-back exchange between two stacks (ARP,
pings small and fragmented, UDP echo small and fragmented, a port
unreachable) and writes every frame to a nanosecond pcap; tshark must find
nothing malformed, every IPv4, UDP and ICMP checksum good (UDP and ICMP
over the reassembled datagrams), and exactly the frames the exchange
makes. Skips when the program was not built (no libpcap) or tshark is
missing."""

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 60
# tshark verifies IPv4 and UDP checksums only when asked; ICMP always.
CHECKSUMS = ("-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE")

# What the exchange sends, frame by frame (see tests/pcap_exchange.c).
FRAMES = 28
ARP_FRAMES = 4            # two announcements, a request and its reply
FRAGMENT_FRAMES = 12      # 4000-byte ping and 3000-byte UDP, both ways, 3 each
ECHO_REQUESTS = 4
ECHO_REPLIES = 4
UDP_ECHO_DATAGRAMS = 6    # three to port 7 and three back
PORT_UNREACHABLE = 1
STEP_NS = 5000            # the harness's per-frame link delay


def _program() -> Path:
    env = os.environ.get("TWIN_BIN")
    build = Path(env).parent if env else REPO_ROOT / "build"
    return build / "tests" / "pcap_exchange"


def _tshark(pcap: Path, *args: str) -> str:
    p = subprocess.run(["tshark", "-r", str(pcap), *CHECKSUMS, *args], capture_output=True,
                       text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"tshark {' '.join(args)} exited {p.returncode}:\n{p.stderr}"
    return p.stdout


def _fields(pcap: Path, *names: str) -> list:
    args = ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for n in names:
        args += ["-e", n]
    out = _tshark(pcap, *args)
    return [line.split("\t") for line in out.splitlines()]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    prog = _program()
    if not (prog.is_file() and os.access(prog, os.X_OK)):
        pytest.skip(f"{prog} was not built (libpcap missing?)")
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt install tshark)")
    pcap = tmp_path_factory.mktemp("pcap") / "exchange.pcap"
    p = subprocess.run([str(prog), str(pcap)], capture_output=True, text=True,
                       timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"{prog} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    summary = dict(line.split("=", 1) for line in p.stdout.split())
    return pcap, summary


def test_pcap_nothing_malformed_no_expert_findings(capture):
    pcap, _ = capture
    rows = _fields(pcap, "frame.number", "_ws.expert.message", "_ws.malformed")
    assert len(rows) == FRAMES
    findings = [r for r in rows if any(c.strip() for c in r[1:])]
    assert findings == [], f"tshark expert findings: {findings}"
    expert = _tshark(pcap, "-q", "-z", "expert")
    for word in ("Errors", "Warnings", "Malformed"):
        assert word not in expert, expert


def test_pcap_checksums_good(capture):
    pcap, _ = capture
    # Status 1 is "Good", 0 "Bad", 2 "Unverified"; a frame may carry several
    # (an ICMP error quotes an IPv4 header and UDP header of its own).
    rows = _fields(pcap, "frame.number", "ip.checksum.status", "udp.checksum.status",
                   "icmp.checksum.status")
    seen = Counter()
    for number, *statuses in rows:
        for name, value in zip(("ip", "udp", "icmp"), statuses):
            for v in filter(None, value.split(",")):
                assert v == "1", f"frame {number}: {name} checksum status {v}"
                seen[name] += 1
    assert seen["ip"] == FRAMES - ARP_FRAMES + PORT_UNREACHABLE
    assert seen["udp"] > 0 and seen["icmp"] > 0


def test_pcap_counts_and_protocols(capture):
    pcap, summary = capture
    assert int(summary["frames"]) == FRAMES
    assert int(summary["arp"]) == ARP_FRAMES
    assert int(summary["fragments"]) == FRAGMENT_FRAMES
    assert int(summary["echo_replies"]) == ECHO_REPLIES
    rows = _fields(pcap, "frame.protocols", "ip.flags.mf", "ip.frag_offset", "icmp.type",
                   "icmp.code", "udp.port")
    protocols = Counter()
    fragments = echo_req = echo_rep = unreachable = udp_echo = 0
    for protos, mf, offset, icmp_type, icmp_code, ports in rows:
        layers = protos.split(":")
        protocols.update(set(layers))
        first_mf, first_offset = mf.split(",")[0], offset.split(",")[0]
        if first_mf in ("1", "True") or first_offset not in ("", "0"):
            fragments += 1
        types = icmp_type.split(",")
        echo_req += "8" in types
        echo_rep += "0" in types
        unreachable += types[:1] == ["3"] and icmp_code.split(",")[0] == "3"
        udp_echo += "udp" in layers and "icmp" not in layers and "7" in ports.split(",")
    assert protocols["eth"] == FRAMES
    assert protocols["arp"] == ARP_FRAMES
    assert protocols["ip"] == FRAMES - ARP_FRAMES
    assert fragments == FRAGMENT_FRAMES
    assert echo_req == ECHO_REQUESTS
    assert echo_rep == ECHO_REPLIES
    assert unreachable == PORT_UNREACHABLE
    assert udp_echo == UDP_ECHO_DATAGRAMS


def test_pcap_nanosecond_timestamps(capture):
    pcap, _ = capture
    with open(pcap, "rb") as f:
        magic = f.read(4)
    # The nanosecond pcap magic, in either byte order.
    assert magic in (bytes.fromhex("4d3cb2a1"), bytes.fromhex("a1b23c4d"))
    times = [int(sec) * 10**9 + int(frac) for sec, frac in
             (row[0].split(".") for row in _fields(pcap, "frame.time_epoch"))]
    assert times == sorted(times)
    assert times[1] - times[0] == STEP_NS
