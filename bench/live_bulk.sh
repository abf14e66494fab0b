#!/usr/bin/env bash
# One TCP stream: twin to twin over AF_XDP on a veth pair, against iperf3
# between two Linux namespaces on a veth pair, in the same live world (one
# after the other, never at once). Prints both rates and the ratio.
# Root; exits 77 where the live world cannot be built.
#
#   sudo bash bench/live_bulk.sh [SECONDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-5}
twin=${TWIN_BIN:-build/twin}
backend=${BACKEND:-xdp}
[[ -x $twin ]] || { echo "live_bulk: $twin not built" >&2; exit 2; }
report=$(mktemp)
start=$((secs + 4))
. bench/live_common.sh
live_start bench/scenarios/live_bulk.yaml k2 --backend "$backend" \
    --set "hosts.s1.apps.s1.start=${start}s" --report "$report"
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -f "$log" "$report"' EXIT
sleep 0.5
ip netns exec "tw$run-k2" iperf3 -s -1 >/dev/null 2>&1 &
sleep 0.5
iperf_bps=$(ip netns exec "tw$run-k1" iperf3 -c 10.0.1.2 -t "$secs" -J |
    python3 -c "import json,sys; print(int(json.load(sys.stdin)['end']['sum_received']['bits_per_second']))")
wait $pid || true
twin_bps=$(python3 -c "import json; print(json.load(open('$report'))['metrics']['app.s1.throughput'])")
printf 'live_bulk: one TCP stream over a veth pair\n'
printf '  twin (%s)  %8.1f Mbit/s  (256 MiB)\n' "$backend" "$(python3 -c "print($twin_bps/1e6)")"
printf '  iperf3       %8.1f Mbit/s  (%ss)\n' "$(python3 -c "print($iperf_bps/1e6)")" "$secs"
python3 -c "print('  ratio twin/iperf3 %.2f' % ($twin_bps / $iperf_bps))"
