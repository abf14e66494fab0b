"""Fixtures for the end-to-end tests of the `twin` binary.

- `twin_bin`: the binary under test: $TWIN_BIN (what `meson test` passes),
  else <repo>/build/twin; the tests skip, saying so, when neither exists.
- `run_twin(*args, timeout=...)`: runs it and returns (rc, stdout, stderr);
  `run_binary(path, *args, timeout=...)` does the same for another build.
- `twin_builds`: the same program built at -O0 and -O2 in their own build
  directories, for checking that the trace hash does not depend on the
  compiler's choices.

The parsers for what twin prints live in twinlib.py. Scenario files
(scenarios/*.yaml) will become test items through a `pytest_collect_file`
hook here, built on the same `run_twin` and parsers.
"""

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import twinlib

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIO_DIR = REPO_ROOT / "scenarios"

# Build types whose trace hashes must agree, as (build dir name, meson setup
# arguments, the options introspection must then report).
BUILD_VARIANTS = {
    "O0": ("det-O0", ["--buildtype=debug", "-Doptimization=0"],
           {"buildtype": "debug", "optimization": "0"}),
    "O2": ("det-O2", ["--buildtype=release", "-Doptimization=2"],
           {"buildtype": "release", "optimization": "2"}),
}
BUILD_TIMEOUT_S = 600


def _twin_path() -> Path:
    env = os.environ.get("TWIN_BIN")
    return Path(env) if env else REPO_ROOT / "build" / "twin"


def pytest_report_header(config):
    return f"twin binary: {_twin_path()}"


@pytest.fixture(scope="session")
def twin_bin() -> Path:
    path = _twin_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        how = "$TWIN_BIN" if os.environ.get("TWIN_BIN") else "the default path"
        pytest.skip(f"no twin binary at {path} ({how}); build it with "
                    f"`meson setup build && ninja -C build` or set TWIN_BIN")
    return path


def run_bin(binary, *args, timeout=twinlib.DEFAULT_TIMEOUT_S) -> twinlib.Result:
    """twinlib.run, failing the test (not erroring it) on a timeout."""
    try:
        return twinlib.run(binary, *args, timeout=timeout)
    except twinlib.TwinTimeout as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def run_binary():
    """run_bin for another build of twin: run_binary(path, *args, timeout=...)."""
    return run_bin


@pytest.fixture(scope="session")
def run_twin(twin_bin):
    def run_twin(*args, timeout=twinlib.DEFAULT_TIMEOUT_S) -> twinlib.Result:
        return run_bin(twin_bin, *args, timeout=timeout)
    return run_twin


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _step(argv, what):
    """Runs one build step; any failure (or a hang) fails the calling test
    with the command and the end of its output."""
    try:
        p = subprocess.run([str(a) for a in argv], cwd=REPO_ROOT, capture_output=True,
                           text=True, timeout=BUILD_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: `{' '.join(map(str, argv))}` ran past {BUILD_TIMEOUT_S}s",
                    pytrace=False)
    if p.returncode != 0:
        pytest.fail(f"{what}: `{' '.join(map(str, argv))}` exited {p.returncode}\n"
                    f"{_tail(p.stdout)}\n{_tail(p.stderr)}", pytrace=False)
    return p.stdout


def _options(meson, build_dir):
    out = _step([meson, "introspect", "--buildoptions", build_dir], f"reading {build_dir}")
    return {o["name"]: str(o["value"]) for o in json.loads(out)}


def _build_variant(meson, ninja, name, setup_args, expect) -> Path:
    build_dir = REPO_ROOT / "build" / name
    what = f"building twin in {build_dir}"
    if not (build_dir / "meson-private" / "coredata.dat").is_file():
        _step([meson, "setup", *setup_args, build_dir, REPO_ROOT], what)
    else:
        # Reused: make sure it is still the build type the test claims.
        have = _options(meson, build_dir)
        if any(have.get(k) != v for k, v in expect.items()):
            _step([meson, "configure", *(f"-D{k}={v}" for k, v in expect.items()), build_dir],
                  what)
    _step([ninja, "-C", build_dir, "twin"], what)
    have = _options(meson, build_dir)
    wrong = {k: have.get(k) for k, v in expect.items() if have.get(k) != v}
    assert not wrong, f"{build_dir} has {wrong}, expected {expect}"
    binary = build_dir / "twin"
    assert binary.is_file(), f"{what}: ninja succeeded but {binary} does not exist"
    return binary


@pytest.fixture(scope="session")
def twin_builds(twin_bin):
    """{'main': twin_bin, 'O0': ..., 'O2': ...}: twin built at each
    optimisation level, configured on first use and reused afterwards (ninja
    brings a reused one up to date). Skips only when meson is missing."""
    meson = shutil.which("meson")
    if meson is None:
        pytest.skip("meson is not installed: cannot build the -O0/-O2 variants")
    ninja = shutil.which("ninja") or shutil.which("samu") or "ninja"
    (REPO_ROOT / "build").mkdir(exist_ok=True)
    builds = {"main": twin_bin}
    # Two sessions (say `meson test` in two build dirs) must not run ninja in
    # the same directory at once.
    with open(REPO_ROOT / "build" / ".det-builds.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for key, (name, setup_args, expect) in BUILD_VARIANTS.items():
            builds[key] = _build_variant(meson, ninja, name, setup_args, expect)
    return builds
