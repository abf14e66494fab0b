"""Running the twin binary and reading what it prints.

Plain functions with no pytest in them, so that the fixtures in conftest.py,
the test modules and (later) the scenario collector share one way of
starting twin and one parser for each of its outputs. When cli/cmd_run.c
changes what it prints, this file is the one place to follow it.
"""

import re
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Dict, List, NamedTuple, Optional

# A run of the built-in demo takes well under a second; the bound is there so
# that a hang fails one test instead of stalling the whole session.
DEFAULT_TIMEOUT_S = 60.0


class Result(NamedTuple):
    rc: int
    stdout: str
    stderr: str


class TwinTimeout(Exception):
    pass


def run(binary: str, *args: str, timeout: float = DEFAULT_TIMEOUT_S, cwd=None) -> Result:
    """Runs `binary *args` with a bounded wall time and returns its exit code
    and decoded output. Raises TwinTimeout (with the command line) when the
    bound is hit, after killing the process."""
    argv = [str(binary), *map(str, args)]
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=cwd,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise TwinTimeout(f"{' '.join(argv)} ran past {timeout}s") from e
    return Result(p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


_UNITS_NS = {"ns": 1, "us": 1000, "µs": 1000, "ms": 10**6, "s": 10**9}


def parse_duration_ns(text: str) -> int:
    """'1.000s', '500.000ms', '200.000us', '37ns' (tw_format_duration's
    forms) to nanoseconds. The printed form is truncated, so the result is
    too."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s)", text.strip())
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    return int(Decimal(m.group(1)) * _UNITS_NS[m.group(2)])


@dataclass
class Check:
    name: str
    ok: bool
    observed: int
    expected: str


@dataclass
class Summary:
    """What `twin run` printed. Fields a --quiet run does not print are None."""
    trace_hash: str
    seed: Optional[int] = None
    cores: Optional[int] = None
    pingers: Optional[int] = None
    events: Optional[int] = None
    simulated_ns: Optional[int] = None
    checks: List[Check] = field(default_factory=list)
    per_core: Dict[str, str] = field(default_factory=dict)
    # The output with everything that depends on the wall clock removed: two
    # runs that agree on every counter have equal `stable` text.
    stable: str = ""

    @property
    def failed(self) -> List[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def all_ok(self) -> bool:
        return bool(self.checks) and not self.failed


_HASH_RE = re.compile(r"^  trace hash ([0-9a-f]{16})$", re.M)
_SEED_RE = re.compile(r"^  seed (\d+), (\d+) cores \+ controller, (\d+) pingers", re.M)
_SIM_RE = re.compile(r"^  simulated +(\S+)", re.M)
_EVENTS_RE = re.compile(r"^  events +(\d+)", re.M)
_CHECK_RE = re.compile(r"^  ([✓✗]) (.+?) +observed (\d+), expected (.*)$", re.M)
_CORE_RE = re.compile(r"^    (core \d+|controller) +(.*)$", re.M)


def stable_text(stdout: str) -> str:
    lines = []
    for line in stdout.splitlines():
        if line.startswith("  wall "):
            continue
        lines.append(re.sub(r" \([0-9.]+M events/s\)$", "", line))
    return "\n".join(lines)


def parse_summary(stdout: str) -> Summary:
    """Parses the summary `twin run` prints (full or --quiet). Raises
    ValueError when there is no trace hash line, so a test that expected a
    summary fails saying so rather than on a None."""
    hashes = _HASH_RE.findall(stdout)
    if len(hashes) != 1:
        raise ValueError(f"expected one 'trace hash' line, found {len(hashes)} in:\n{stdout}")
    s = Summary(trace_hash=hashes[0], stable=stable_text(stdout))
    m = _SEED_RE.search(stdout)
    if m:
        s.seed, s.cores, s.pingers = (int(g) for g in m.groups())
    m = _SIM_RE.search(stdout)
    if m:
        s.simulated_ns = parse_duration_ns(m.group(1))
    m = _EVENTS_RE.search(stdout)
    if m:
        s.events = int(m.group(1))
    s.checks = [Check(name, mark == "✓", int(obs), exp)
                for mark, name, obs, exp in _CHECK_RE.findall(stdout)]
    s.per_core = dict(_CORE_RE.findall(stdout))
    return s


@dataclass
class Determinism:
    """What `twin run --check-determinism` printed."""
    seed: int
    events: List[int]
    hashes: List[str]
    identical: bool
    diverged_at: Optional[int]


_DET_HEAD_RE = re.compile(
    r"^twin demo --check-determinism: seed (\d+), (\d+) and (\d+) events$", re.M)
_DET_HASH_RE = re.compile(r"^  run ([12]) trace hash ([0-9a-f]{16})$", re.M)
_DET_SAME_RE = re.compile(r"^  ✓ identical: every one of (\d+) events", re.M)
_DET_DIFF_RE = re.compile(r"^  ✗ diverged at event (\d+)$", re.M)


def parse_determinism(stdout: str) -> Determinism:
    head = _DET_HEAD_RE.search(stdout)
    if not head:
        raise ValueError(f"no --check-determinism header in:\n{stdout}")
    hashes = dict(_DET_HASH_RE.findall(stdout))
    if set(hashes) != {"1", "2"}:
        raise ValueError(f"expected 'run 1/2 trace hash' lines in:\n{stdout}")
    same = _DET_SAME_RE.search(stdout)
    diff = _DET_DIFF_RE.search(stdout)
    if bool(same) == bool(diff):
        raise ValueError(f"expected exactly one of 'identical'/'diverged' in:\n{stdout}")
    return Determinism(seed=int(head.group(1)),
                       events=[int(head.group(2)), int(head.group(3))],
                       hashes=[hashes["1"], hashes["2"]],
                       identical=bool(same),
                       diverged_at=int(diff.group(1)) if diff else None)


class TraceLine(NamedTuple):
    index: int
    time_ns: int
    kind: str
    core: int
    work: str
    type: int
    outputs: int
    cost_ns: int
    hash: str


_TRACE_RE = re.compile(
    r"(\d+) (\d+) (\S+) core=(\d+) (\S+) type=(\d+) out=(\d+) cost=(\d+) ([0-9a-f]{16})")


def parse_trace_line(line: str) -> TraceLine:
    m = _TRACE_RE.fullmatch(line.rstrip("\n"))
    if not m:
        raise ValueError(f"not a trace line: {line!r}")
    g = m.groups()
    return TraceLine(int(g[0]), int(g[1]), g[2], int(g[3]), g[4], int(g[5]), int(g[6]),
                     int(g[7]), g[8])


def first_trace_difference(path_a, path_b) -> Optional[str]:
    """Compares two --trace files line by line; returns a description of the
    first line that differs, or None when they are equal."""
    with open(path_a, encoding="utf-8") as a, open(path_b, encoding="utf-8") as b:
        n = 0
        while True:
            la, lb = a.readline(), b.readline()
            if la != lb:
                return (f"first difference at line {n} (header is line 0):\n"
                        f"  {path_a}: {la.rstrip() or '<end of file>'}\n"
                        f"  {path_b}: {lb.rstrip() or '<end of file>'}")
            if not la:
                return None
            n += 1
