#!/usr/bin/env bash
# One TCP stream: twin to twin against iperf3 between two Linux stacks.
#
# Setup (bench/scenarios/live_bulk.yaml, one live world per round):
#   s1 -> s2  twin hosts, 1 core each (one driver thread each), on one veth
#             pair, each end over the BACKEND frame device (xdp: AF_XDP,
#             copy mode, our XDP program in SKB mode); bulk_send of 256 MiB
#             to bulk_sink, which checks every byte (a round fails unless all
#             256 MiB arrived intact)
#   k1 -> k2  kernel hosts on a veth pair of their own: iperf3 -c for
#             SECONDS seconds against iperf3 -s (one stream, cubic/bbr as
#             the kernel has it)
#   both veth pairs: MTU 1500, checksum/TSO/GSO/GRO offloads off (each
#   stack sees every 1500-byte frame and checksums it in software)
# In each round iperf3 runs first, then twin's transfer starts (the two
# never share the CPUs). Nothing is pinned. ROUNDS rounds; prints every
# round, then the medians with min..max and the median of the per-round
# ratios. Root; exits 77 where the live world cannot be built.
#
#   sudo bash bench/live_bulk.sh [SECONDS]
#   env: ROUNDS (5), BACKEND (xdp), TWIN_BIN (build/twin)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-5}
rounds=${ROUNDS:-5}
twin=${TWIN_BIN:-build/twin}
backend=${BACKEND:-xdp}
[[ -x $twin ]] || { echo "live_bulk: $twin not built" >&2; exit 2; }
. bench/live_common.sh
report=$(mktemp)
start=$((secs + 4))

# One round: "twin_bps iperf_bps".
round() {
    live_start bench/scenarios/live_bulk.yaml k2 --backend "$backend" \
        --set "hosts.s1.apps.s1.start=${start}s" --set "duration=$((start + 20))s" \
        --report "$report"
    trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -f "$log" "$report"' EXIT
    sleep 0.5
    ip netns exec "tw$run-k2" iperf3 -s -1 >/dev/null 2>&1 &
    sleep 0.5
    local iperf_bps twin_bps
    iperf_bps=$(ip netns exec "tw$run-k1" iperf3 -c 10.0.1.2 -t "$secs" -J |
        python3 -c "import json,sys; print(int(json.load(sys.stdin)['end']['sum_received']['bits_per_second']))")
    wait $pid || true
    twin_bps=$(python3 -c "
import json, sys
m = json.load(open('$report'))['metrics']
if m['app.s2.bytes'] != 256 << 20 or m['app.s2.corrupt'] != 0:
    sys.exit('live_bulk: the sink got %d bytes, %d corrupt streams' % (m['app.s2.bytes'], m['app.s2.corrupt']))
print(m['app.s1.throughput'])")
    rm -f "$log"
    echo "$twin_bps $iperf_bps"
}
printf 'live_bulk: one TCP stream over a veth pair, twin (%s, 256 MiB) vs iperf3 (%ss)\n' \
    "$backend" "$secs"
printf '  round  twin Mbit/s  iperf3 Mbit/s  twin/iperf3\n'
results=()
for r in $(seq "$rounds"); do
    res=$(round)
    read -r t k <<<"$res"
    awk -v r="$r" -v t="$t" -v k="$k" \
        'BEGIN {printf "  %5d  %11.1f  %13.1f  %11.2f\n", r, t / 1e6, k / 1e6, t / k}'
    results+=("$res")
done
rm -f "$report"
printf '%s\n' "${results[@]}" |
    medians "twin Mbit/s|r[0] / 1e6|%.1f" "iperf3 Mbit/s|r[1] / 1e6|%.1f" \
        "ratio twin/iperf3|r[0] / r[1]|%.2f"
