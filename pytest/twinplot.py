#!/usr/bin/python3
"""Draws a run's metric samples (twin run --series S.jsonl) as a PNG: each
app's throughput over time (from its byte counter), each host's TCP
congestion window (summed over its connections), and each link direction's
transmit queue occupancy.

    /usr/bin/python3 pytest/twinplot.py S.jsonl OUT.png

Uses Debian's python3-matplotlib with the Agg backend (no display)."""
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def series(samples):
    """(times in s, {app: Mbps per interval}, {link dir: queue packets},
    {host: cwnd bytes})."""
    t = [s["t_ns"] / 1e9 for s in samples]
    apps = sorted({k[4:-6] for s in samples for k in s if k.startswith("app.") and k.endswith(".bytes")})
    queues = sorted({k for s in samples for k in s if k.endswith(".queue_packets")})
    rates = {}
    for a in apps:
        key = f"app.{a}.bytes"
        r = [0.0]
        for prev, cur in zip(samples, samples[1:]):
            dt = (cur["t_ns"] - prev["t_ns"]) / 1e9
            r.append((cur.get(key, 0) - prev.get(key, 0)) * 8 / dt / 1e6 if dt > 0 else 0.0)
        rates[a] = r
    occ = {q[5:-14]: [s.get(q, 0) for s in samples] for q in queues}
    hosts = sorted({k[5:-9] for s in samples for k in s if k.startswith("host.") and k.endswith(".tcp.cwnd")})
    cwnd = {h: [s.get(f"host.{h}.tcp.cwnd", 0) for s in samples] for h in hosts}
    return t, rates, occ, cwnd


def plot(samples, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, rates, occ, cwnd = series(samples)
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    for name, r in rates.items():
        top.plot(t, r, label=name)
    top.set_ylabel("throughput (Mbps)")
    top.legend(loc="upper right", fontsize="small")
    for name, w in cwnd.items():
        middle.plot(t, [x / 1024 for x in w], label=name)
    middle.set_ylabel("TCP cwnd (KiB)")
    middle.legend(loc="upper right", fontsize="small")
    for name, q in occ.items():
        bottom.plot(t, q, label=name)
    bottom.set_ylabel("queue (packets)")
    bottom.set_xlabel("simulated time (s)")
    bottom.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    plot(load(argv[1]), argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
