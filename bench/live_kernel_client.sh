#!/usr/bin/env bash
# twin's HTTP client as a task on a kernel host (over Linux's sockets,
# through the io_uring driver, backends/live/kernhost.c) against wrk on the
# same host, both driving the same nginx.
#
# Setup (bench/scenarios/live_kernel_client.yaml, a fresh live world per run):
#   client  kernel host, 10.0.0.1, one core: twin's http_client, CONNS
#           connections, closed loop (one request outstanding on each),
#           checking every page byte for byte; or, in the wrk run, wrk
#           -t1 -cCONNS (its own epoll loop, no checking) while twin's
#           client is cut to a single request
#   ngx     kernel host, 10.0.0.2: nginx, 1 worker, sendfile, tcp_nodelay,
#           unlimited keep-alive, 100 pages of 4 KiB; /0 over and over
#   one veth pair between them, MTU 1500, offloads off; no twin host, no
#   link model: Linux to Linux, only the client differs
# Nothing is pinned: the VM's CPUs are shared by the client, nginx and
# the kernel's softirq work, alike for both clients.
#
# ROUNDS rounds, each one run of each client, the order swapped every
# round. Per run: responses per second (twin: its 2xx responses over the
# run, connection set-up included; wrk: its Requests/sec). Prints every
# round, then medians with min..max and the median of the per-round ratios
# twin/wrk. Root; exits 77 where the live world cannot be built (io_uring
# included).
#
#   sudo bash bench/live_kernel_client.sh [SECONDS] [CONNECTIONS]
#   env: ROUNDS (5), TWIN_BIN (build/twin)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-5}
conns=${2:-32}
rounds=${ROUNDS:-5}
twin=${TWIN_BIN:-build/twin}
file=bench/scenarios/live_kernel_client.yaml
[[ -x $twin ]] || { echo "live_kernel_client: $twin not built" >&2; exit 2; }
. bench/live_common.sh
report=$(mktemp)
trap 'rm -f "$report"' EXIT

# twin's client: responses/s from the run's report.
measure_twin() {
    local rc=0 err
    err=$("$twin" run "$file" --live --set duration="${secs}s" \
        --set hosts.client.apps.client.connections="$conns" --report "$report" 2>&1 >/dev/null) ||
        rc=$?
    if ((rc != 0)); then
        echo "live_kernel_client: twin run exited $rc: $err" >&2
        exit $((rc == 77 ? 77 : 1))
    fi
    python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
if m["app.client.errors"] or m["app.client.responses_4xx"] or m["app.client.responses_5xx"]:
    sys.exit("live_kernel_client: twin client saw errors: %s" % m)
print("%.0f" % (m["app.client.responses_2xx"] / float(sys.argv[2])))' "$report" "$secs"
}

# wrk in the same world, twin's client cut to one request.
measure_wrk() {
    live_start "$file" client --set duration="$((secs + 6))s" \
        --set hosts.client.apps.client.connections=1 --set hosts.client.apps.client.count=1
    sleep 1
    local out
    out=$(ip netns exec "tw$run-client" wrk -t1 -c"$conns" -d"${secs}s" http://10.0.0.2/0)
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    trap 'rm -f "$report"' EXIT
    if grep -q "Non-2xx" <<<"$out"; then
        echo "live_kernel_client: wrk saw errors: $out" >&2
        exit 1
    fi
    awk '/Requests\/sec/ {printf "%.0f\n", $2}' <<<"$out"
}

printf 'live_kernel_client: %s connections, %ss, 4 KiB pages from nginx, Linux to Linux\n' \
    "$conns" "$secs"
printf '  round  twin resp/s   wrk req/s   twin/wrk\n'
results=()
for r in $(seq "$rounds"); do
    if ((r % 2)); then
        t=$(measure_twin)
        w=$(measure_wrk)
    else
        w=$(measure_wrk)
        t=$(measure_twin)
    fi
    printf '  %5d  %11s  %10s   %8s\n' "$r" "$t" "$w" \
        "$(awk -v a="$t" -v b="$w" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
    results+=("$t $w")
done
printf '%s\n' "${results[@]}" |
    medians "twin resp/s|r[0]|%.0f" "wrk req/s|r[1]|%.0f" "ratio twin/wrk|r[0] / r[1]|%.2f"
