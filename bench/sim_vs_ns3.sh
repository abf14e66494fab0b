#!/bin/sh
# sim_vs_ns3: twin's simulator against ns-3 on the same transfer, as wall
# nanoseconds per simulated byte delivered (lower is better) and their
# ratio (goal: twin >= 10x faster).
#
# Usage: bench/sim_vs_ns3.sh [BUILD_DIR] [SECONDS] [RUNS]
#        (defaults: build, 10 simulated seconds, best of 1 run each)
#
# Both run TCP bulk over one point-to-point link for SECONDS simulated
# seconds: two hosts, 10 Gbps and 100 us each way, a 4096-packet drop-tail
# queue, MTU 1500, NewReno, one connection sending without end. twin runs
# bench/scenarios/bulk_10g.yaml; ns-3 3.37 (Debian libns3-dev) runs
# bench/ns3/bulk_p2p.cc, built by meson only where ns-3 is installed. Each
# figure is the wall time of the run loop only (loading a scenario, or
# building ns-3's nodes, is left out), over the bytes the receiving
# application got. Best of RUNS.
#
# What is the same: the link (rate, delay, queue, MTU), the segment payload
# (1448 B: MSS 1460 less the timestamp option), window scaling and
# timestamps on, SACK off (twin has none), an ACK per two segments or after
# 40 ms, initial window 10, minimum RTO 200 ms, NewReno with RFC 6582
# recovery (ns-3's default would be PRR), send and receive buffers of
# 312500 B (twin's runner sizes them 1.25 x the path's BDP; ns-3 is told
# the same number). ns-3's traffic-control queue disc is removed so that
# the device queue is the only queue, as on twin's link.
#
# What differs, and which way it leans:
#  - twin models each host's CPU: a core is busy for a cost per frame in
#    and out (sim/sim.c tw_cost_profile_default), so its sender is CPU
#    bound at about 6.2 Gbps, while ns-3's hosts are infinitely fast and
#    fill the link (about 9.6 Gbps). Hence the figure per byte delivered,
#    not per run: twin moves fewer bytes in the same simulated time.
#  - twin carries real bytes: every payload byte is generated, copied
#    through the socket buffers, checksummed (IPv4 and TCP, both ways) and
#    checked against the expected stream at the sink. ns-3 carries virtual
#    payload (zero-filled, never copied) and computes no checksums
#    (ChecksumEnabled is off by default). This leans in ns-3's favour.
#  - twin models Ethernet framing (14-byte header) on the wire; ns-3's
#    point-to-point device adds a 2-byte PPP header. Both serialise at 10
#    Gbps.
#  - twin folds every event into its trace hash; ns-3 keeps no such record.
#  - Debian builds ns-3 in its default (not "optimized") profile: logging
#    and asserts are compiled in but off. That leans in twin's favour; it
#    is the ns-3 a user of the distribution gets.
set -eu

build=${1:-build}
secs=${2:-10}
runs=${3:-1}
here=$(dirname "$0")
twin=$build/twin
ns3=$build/bench/bulk_p2p

if [ ! -x "$twin" ]; then
    echo "sim_vs_ns3: $twin not built (meson setup $build && ninja -C $build)" >&2
    exit 2
fi
if [ ! -x "$ns3" ]; then
    echo "sim_vs_ns3: $ns3 not built: ns-3 (Debian libns3-dev) was not found at setup" >&2
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints "wall_ns bytes" of one twin run.
twin_once() {
    "$twin" run "$here/scenarios/bulk_10g.yaml" --set duration="${secs}s" \
        --report "$tmp/r.json" >/dev/null || true
    w=$(sed -n 's/.*"wall_time_ns": *\([0-9]*\).*/\1/p' "$tmp/r.json")
    b=$(sed -n 's/.*"app\.b\.bytes": *\([0-9]*\).*/\1/p' "$tmp/r.json")
    echo "$w $b"
}

# Prints "wall_ns bytes" of one ns-3 run.
ns3_once() {
    "$ns3" --seconds="$secs" >"$tmp/n.txt"
    awk '/^wall_s/ {w = $2} /^bytes/ {b = $2} END {printf "%.0f %s", w * 1e9, b}' "$tmp/n.txt"
}

# best NAME FUNCTION: runs it RUNS times, prints each, keeps the least
# wall ns per byte in $best_nspb (and its run's figures).
best() {
    best_nspb=
    once=$2
    i=0
    while [ "$i" -lt "$runs" ]; do
        set -- $($once)
        nspb=$(awk -v w="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.4f", w / b; else print "inf"}')
        printf '  %-5s run %d: %12s B in %8.3f s wall: %s ns per simulated byte, %.2f sim-s per wall-s\n' \
            "$name" $((i + 1)) "$2" "$(awk -v w="$1" 'BEGIN {print w / 1e9}')" "$nspb" \
            "$(awk -v w="$1" -v s="$secs" 'BEGIN {print s * 1e9 / w}')"
        if [ -z "$best_nspb" ] || awk -v a="$nspb" -v b="$best_nspb" 'BEGIN {exit !(a < b)}'; then
            best_nspb=$nspb
        fi
        i=$((i + 1))
    done
}

echo "sim_vs_ns3: TCP bulk, 10 Gbps / 100 us point-to-point, $secs simulated s, best of $runs"
name=twin; best twin twin_once; twin_nspb=$best_nspb
name=ns-3; best ns3 ns3_once; ns3_nspb=$best_nspb
awk -v t="$twin_nspb" -v n="$ns3_nspb" 'BEGIN {
    printf "wall ns per simulated byte: twin %s, ns-3 %s; twin is %.1fx faster (goal >= 10x)\n",
        t, n, n / t }'
