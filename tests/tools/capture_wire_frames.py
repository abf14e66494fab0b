#!/usr/bin/env python3
"""Capture the reference frames of tests/test_wire.c from the running kernel.

Creates a TAP device (which does no checksum offload, so every checksum in
a captured frame is the kernel's own), gives it 10.7.0.1/24 at
02:00:00:00:00:01, and makes the kernel send to 10.7.0.2
(02:00:00:00:00:02): an ARP request, an echo request through a ping socket
(iputils' 56-byte payload), a UDP datagram and a TCP SYN (receive buffer
forced to 6 MiB so the window scale is 7). Prints one hex line per frame.

Needs root; not run by the test suite. ping sockets need
net.ipv4.ping_group_range to include our group: the script widens it and
restores it. IDs, sequence numbers and timestamps differ per run.
"""
import fcntl
import os
import select
import socket
import struct
import subprocess
import time

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
SO_RCVBUFFORCE = 33
DEV = "twtap0"


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def main():
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", DEV.encode(), IFF_TAP | IFF_NO_PI))
    sh(f"ip link set {DEV} address 02:00:00:00:00:01 mtu 1500 up")
    sh(f"ip addr add 10.7.0.1/24 dev {DEV}")
    subprocess.run(f"sysctl -qw net.ipv6.conf.{DEV}.disable_ipv6=1", shell=True)
    time.sleep(0.5)

    def drain():
        while select.select([fd], [], [], 0.2)[0]:
            os.read(fd, 2048)

    def grab(pred, timeout=3.0):
        end = time.time() + timeout
        while time.time() < end:
            if select.select([fd], [], [], 0.2)[0]:
                f = os.read(fd, 2048)
                if pred(f):
                    return f
        raise SystemExit("timed out waiting for a frame")

    ipv4 = lambda proto: lambda f: f[12:14] == b"\x08\x00" and f[23] == proto
    out = {}
    drain()
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("10.7.0.2", 9))
    out["arp"] = grab(lambda f: f[12:14] == b"\x08\x06")
    sh(f"ip neigh replace 10.7.0.2 lladdr 02:00:00:00:00:02 dev {DEV} nud permanent")
    drain()

    old = subprocess.run("sysctl -n net.ipv4.ping_group_range", shell=True,
                         capture_output=True, text=True).stdout.strip()
    sh('sysctl -qw net.ipv4.ping_group_range="0 0"')
    try:
        p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    finally:
        sh(f'sysctl -qw net.ipv4.ping_group_range="{old}"')
    payload = struct.pack("<QQ", 1700000000, 123456) + bytes(range(0x10, 0x38))
    p.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, 1) + payload, ("10.7.0.2", 0))
    out["ping"] = grab(ipv4(1))

    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("10.7.0.1", 40000))
    u.sendto(b"hello twin\n", ("10.7.0.2", 7))
    out["udp"] = grab(ipv4(17))

    t = socket.socket()
    t.setblocking(False)
    t.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 6 * 1024 * 1024)
    t.bind(("10.7.0.1", 40001))
    try:
        t.connect(("10.7.0.2", 80))
    except BlockingIOError:
        pass
    out["syn"] = grab(ipv4(6))

    for name, frame in out.items():
        print(name, frame.hex())
    os.close(fd)


if __name__ == "__main__":
    main()
