"""`twin serve --backend uring`: the scenario apps live on io_uring over the
kernel's sockets, checked by real clients (sockperf, curl, Python sockets).

Every test runs inside a network namespace made for it (its own loopback,
so ports cannot collide with anything else on the machine) and removed
after. Where namespaces cannot be made, or twin says the backend cannot
run here (exit 77: no io_uring, no MSG_RING, no provided buffer rings), the
test is skipped with the reason.
"""

import ctypes
import os
import platform
import random
import struct
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

READY_TIMEOUT_S = 10
RUN_TIMEOUT_S = 30


@pytest.fixture
def netns():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2's `ip`")
    name = f"urtest-{os.getpid()}-{random.randrange(1 << 30)}"
    p = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {p.stderr.strip()}")
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def in_ns(ns, *argv):
    return ["ip", "netns", "exec", ns, *map(str, argv)]


class Server:
    """A `twin serve` in the namespace, started and waited for until ready."""

    def __init__(self, twin_bin, ns, *args):
        self.proc = subprocess.Popen(in_ns(ns, twin_bin, "serve", "--backend", "uring", *args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        line = ""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                if "ready" in line or line == "":
                    break
            elif self.proc.poll() is not None:
                break
        if "ready" not in line:
            out, err = self.finish()
            if self.proc.returncode == 77:
                pytest.skip(f"twin serve: {err.strip()}")
            pytest.fail(f"twin serve did not get ready (exit {self.proc.returncode}):\n"
                        f"{line}{out}\n{err}", pytrace=False)

    def finish(self):
        """SIGTERM, then its output: (stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"twin serve ignored SIGTERM:\n{out}\n{err}", pytrace=False)
        return out, err


def core_counter(out, name):
    """Each core's value of a `core N ...: ... name V` counter."""
    return [int(m) for m in re.findall(rf"^core \d+ \(cpu -?\d+\):.*?{name} (\d+)", out, re.M)]


def test_uring_udp_echo_answers_sockperf_ping_pong(twin_bin, netns):
    if shutil.which("sockperf") is None:
        pytest.skip("sockperf is not installed")
    srv = Server(twin_bin, netns, "--app", "udp_echo", "--sockperf", "--port", 11111)
    try:
        p = subprocess.run(in_ns(netns, "sockperf", "ping-pong", "-i", "127.0.0.1", "-p", 11111,
                                 "-t", 2, "-m", 64),
                           capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    finally:
        out, err = srv.finish()
    text = p.stdout + p.stderr
    assert p.returncode == 0, text
    assert "No messages were received" not in text, text
    m = re.search(r"\[Total Run\].*SentMessages=(\d+); ReceivedMessages=(\d+)", text)
    assert m, text
    sent, received = int(m.group(1)), int(m.group(2))
    # Ping-pong has one message in flight: at most the last goes unanswered.
    assert received > 1000, text
    assert sent - received <= 1, text
    # sockperf's own error accounting: nothing lost, doubled or reordered.
    errs = re.search(r"# dropped messages = (\d+); # duplicated messages = (\d+); "
                     r"# out-of-order messages = (\d+)", text)
    assert errs and errs.groups() == ("0", "0", "0"), text
    lat = re.search(r"Summary: Latency is ([0-9.]+) usec", text)
    assert lat, text
    assert 0 < float(lat.group(1)) < 10000, text
    # twin saw every message sockperf sent and answered each.
    assert sum(core_counter(out, "udp rx")) >= sent, out
    pairs = re.findall(r"udp rx (\d+) tx (\d+)", out)
    assert pairs and all(rx == tx for rx, tx in pairs[:-1]), out  # the last is the totals line
    assert re.search(r"udp_echo\.unanswered 0$", out, re.M), out
    errors = re.findall(r"udp_echo\.(?:overflows|errors) (\d+)", out)
    assert errors and all(e == "0" for e in errors), out


def test_uring_udp_echo_spreads_flows_over_cores(twin_bin, netns):
    srv = Server(twin_bin, netns, "--app", "udp_echo", "--port", 7000, "--cores", 2)
    answered = 0
    try:
        # Many flows (source ports): SO_REUSEPORT hashes them over both
        # workers' sockets; each must still get its own bytes back.
        code = ("import socket\n"
                "n = 0\n"
                "for i in range(32):\n"
                "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "    s.settimeout(2)\n"
                "    msg = b'flow %d ' % i + bytes(range(200))\n"
                "    s.sendto(msg, ('127.0.0.1', 7000))\n"
                "    data, src = s.recvfrom(2048)\n"
                "    assert data == msg and src[1] == 7000, (data, src)\n"
                "    n += 1\n"
                "print(n)\n")
        p = subprocess.run(in_ns(netns, "/usr/bin/python3", "-c", code), capture_output=True,
                           text=True, timeout=RUN_TIMEOUT_S)
        assert p.returncode == 0, p.stderr
        answered = int(p.stdout)
    finally:
        out, err = srv.finish()
    assert answered == 32
    rx = core_counter(out, "udp rx")
    assert len(rx) == 2 and sum(rx) == 32, out
    assert all(n > 0 for n in rx), f"every flow on one core: {rx}\n{out}"


def _tcp_echo_client(ns, port, size, seed):
    code = ("import random, socket, sys\n"
            f"data = random.Random({seed}).randbytes({size})\n"
            f"s = socket.create_connection(('127.0.0.1', {port}), timeout=10)\n"
            "import threading\n"
            "t = threading.Thread(target=s.sendall, args=(data,)); t.start()\n"
            "got = bytearray()\n"
            "while len(got) < len(data):\n"
            "    b = s.recv(1 << 16)\n"
            "    if not b: break\n"
            "    got += b\n"
            "t.join()\n"
            "s.shutdown(socket.SHUT_WR)\n"
            "eof = s.recv(16) == b''\n"
            "print(len(got), got == data, eof)\n")
    return subprocess.run(in_ns(ns, "/usr/bin/python3", "-c", code), capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S)


def test_uring_tcp_echo_returns_every_byte_over_kernel_tcp(twin_bin, netns):
    srv = Server(twin_bin, netns, "--app", "tcp_echo", "--port", 7001)
    try:
        # Several connections at once, each larger than the echo's and the
        # driver's buffers, so short sends and WRITABLE are exercised.
        results = [None] * 4
        def one(i):
            results[i] = _tcp_echo_client(netns, 7001, 300_000 + i * 7, seed=i)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        out, err = srv.finish()
    for i, p in enumerate(results):
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == [str(300_000 + i * 7), "True", "True"], (p.stdout, out)
    assert "tcp_echo.accepted 4" in out, out
    assert "tcp_echo.closed 4" in out, out
    assert "tcp_echo.resets 0" in out, out


def _body_byte(page, i):
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    m = (1 << 64) - 1
    x = ((i >> 3) * 0x9e3779b97f4a7c15 + ((page << 32) | 0x5851f42d)) & m
    x ^= x >> 31
    x = (x * 0xbf58476d1ce4e5b9) & m
    x ^= x >> 29
    return alphabet[(x >> ((i & 7) * 6)) & 63]


def test_uring_http_server_answers_curl_with_the_generated_pages(twin_bin, netns):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    srv = Server(twin_bin, netns, "--app", "http", "--port", 8080)
    try:
        bodies = {}
        for page in (0, 3, 17):
            p = subprocess.run(in_ns(netns, "curl", "-s", "-S", "-D", "-", "--max-time", 10,
                                     f"http://127.0.0.1:8080/{page}"),
                               capture_output=True, timeout=RUN_TIMEOUT_S)
            assert p.returncode == 0, p.stderr
            head, _, body = p.stdout.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
            assert len(body) == length
            bodies[page] = body
        missing = subprocess.run(in_ns(netns, "curl", "-s", "-o", "/dev/null", "-w",
                                       "%{http_code}", "--max-time", 10,
                                       "http://127.0.0.1:8080/nope"),
                                 capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    finally:
        out, err = srv.finish()
    for page, body in bodies.items():
        want = bytes(_body_byte(page, i) for i in range(len(body)))
        assert body == want, f"page {page}: bytes differ from the generated site"
    assert missing.stdout == "404"
    assert "http.responses_2xx 3" in out, out
    assert "http.responses_4xx 1" in out, out
    assert "http.parse_errors 0" in out, out


@pytest.mark.parametrize("args,message", [
    (["--app", "gopher", "--port", "1"], "--app: expected udp_echo, tcp_echo or http"),
    (["--app", "udp_echo", "--port", "0"], "--port must be 1..65535"),
    (["--app", "udp_echo"], "--port must be 1..65535"),
    (["--port", "9"], "--app is required"),
    (["--backend", "xdp", "--app", "udp_echo", "--port", "9"], "only 'uring'"),
    (["--app", "tcp_echo", "--port", "9", "--sockperf"], "--sockperf is for --app udp_echo"),
    (["--app", "udp_echo", "--port", "9", "--cores", "100000"], "--cores must be"),
])
def test_uring_serve_bad_usage_is_exit_2(run_twin, args, message):
    r = run_twin("serve", *args)
    assert r.rc == 2, (r.stdout, r.stderr)
    assert message in r.stderr


def test_uring_serve_help(run_twin):
    for args in (["help", "serve"], ["serve", "--help"]):
        r = run_twin(*args)
        assert r.rc == 0, r.stderr
        assert "usage: twin serve --backend uring --app APP --port P" in r.stdout
    assert "serve" in run_twin("--help").stdout


def test_uring_serve_port_in_use_is_exit_1(twin_bin, netns):
    # A TCP listener already on the port without SO_REUSEPORT: the echo's
    # listen fails, and serve says so and exits 1.
    holder = subprocess.Popen(in_ns(netns, "/usr/bin/python3", "-c",
                                    "import socket, time\n"
                                    "s = socket.socket(); s.bind(('0.0.0.0', 7002)); s.listen()\n"
                                    "print('up', flush=True); time.sleep(30)\n"),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "up"
        srv = Server(twin_bin, netns, "--app", "tcp_echo", "--port", 7002, "--duration", "300ms")
        out, err = srv.finish()
    finally:
        holder.kill()
        holder.wait()
    assert srv.proc.returncode == 1, (out, err)
    assert "could not listen: address already in use" in err, err


def _deny_io_uring_setup():
    """preexec_fn: a seccomp filter that fails io_uring_setup with EPERM,
    as a kernel with io_uring disabled (kernel.io_uring_disabled=2) does."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    NR_IO_URING_SETUP = 425
    AUDIT_ARCH_X86_64 = 0xC000003E
    SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, EPERM = 0x7FFF0000, 0x00050000, 1
    LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
    insns = [
        (LD_W_ABS, 0, 0, 4),                       # seccomp_data.arch
        (JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (RET_K, 0, 0, SECCOMP_RET_ALLOW),
        (LD_W_ABS, 0, 0, 0),                       # seccomp_data.nr
        (JEQ_K, 0, 1, NR_IO_URING_SETUP),
        (RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        (RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    prog = b"".join(struct.pack("HBBI", *i) for i in insns)
    buf = ctypes.create_string_buffer(prog)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(insns), ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        os._exit(99)


def test_uring_serve_without_io_uring_is_exit_77(twin_bin):
    if platform.machine() != "x86_64":
        pytest.skip("the seccomp filter here is written for x86_64")
    p = subprocess.run([str(twin_bin), "serve", "--backend", "uring", "--app", "udp_echo",
                        "--port", "9", "--duration", "100ms"], capture_output=True, text=True,
                       timeout=RUN_TIMEOUT_S, preexec_fn=_deny_io_uring_setup)
    assert p.returncode != 99, "could not install the seccomp filter"
    assert p.returncode == 77, (p.stdout, p.stderr)
    assert "the uring backend cannot run here: io_uring_setup failed" in p.stderr, p.stderr
