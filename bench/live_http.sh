#!/usr/bin/env bash
# twin's HTTP server against nginx, small pages, driven by the same wrk.
#
# Setup (bench/scenarios/live_http.yaml, one live world for both):
#   client  kernel host, 10.0.0.1: wrk -t1 -cCONNS -dSECONDSs http://IP/0
#   web     twin host, 10.0.0.2: twin's http_server, 1 core (one driver
#           thread), over the BACKEND frame device (xdp: AF_XDP, copy mode,
#           our XDP program in SKB mode)
#   ngx     kernel host, 10.0.0.3: nginx, 1 worker (worker_processes = the
#           host's cores), sendfile, tcp_nodelay, unlimited keep-alive
#   sw      a Linux bridge; each host on its own veth pair to it, MTU 1500,
#           checksum/TSO/GSO/GRO offloads off on every veth
# Both serve the same generated site (100 pages, 4 KiB each); wrk asks for
# /0 over and over. Nothing is pinned: the VM's CPUs are shared by wrk, the
# server and the kernel's softirq work, alike for both servers.
#
# ROUNDS rounds, each one wrk run against each server, the order swapped
# every round (twin first in odd rounds) so that drifting load on a shared
# machine falls on both. Per run: requests/s, and the server's CPU time per
# request (the twin thread's or the nginx worker's schedstat run time: the
# figure least disturbed by other load, though softirq work lands on
# whichever task the CPU was running). Prints every round, then medians
# with min..max, and the median of the per-round ratios twin/nginx.
# Root; exits 77 where the live world cannot be built.
#
#   sudo bash bench/live_http.sh [SECONDS] [CONNECTIONS]
#   env: ROUNDS (5), BACKEND (xdp), TWIN_BIN (build/twin)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-5}
conns=${2:-32}
rounds=${ROUNDS:-5}
twin=${TWIN_BIN:-build/twin}
backend=${BACKEND:-xdp}
[[ -x $twin ]] || { echo "live_http: $twin not built" >&2; exit 2; }
. bench/live_common.sh
live_start bench/scenarios/live_http.yaml client --backend "$backend" \
    --set duration=$((2 * rounds * (secs + 2) + 20))s
ns=tw$run-client
sleep 1

# The server's run time in ns: twin's core thread, or nginx's workers.
server_ns() {
    if [[ $1 == twin ]]; then
        for t in /proc/$pid/task/*; do
            if [[ $(cat "$t/comm") == tw-web-0 ]]; then awk '{print $1}' "$t/schedstat"; fi
        done
    else
        local sum=0
        for p in $(ip netns pids "tw$run-ngx"); do
            if [[ $(tr '\0' ' ' <"/proc/$p/cmdline") == *worker* ]]; then
                sum=$((sum + $(awk '{print $1}' "/proc/$p/schedstat")))
            fi
        done
        echo $sum
    fi
}
# One wrk run: "requests/s ns/request".
measure() {
    local ip=10.0.0.2
    [[ $1 == nginx ]] && ip=10.0.0.3
    local t0 out
    t0=$(server_ns "$1")
    out=$(ip netns exec "$ns" wrk -t1 -c"$conns" -d"${secs}s" "http://$ip/0")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "live_http: $1 answered with errors, not pages:" >&2
        echo "$out" >&2
        exit 1
    fi
    local t1
    t1=$(server_ns "$1")
    local reqs
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    awk -v r="$(awk '/Requests\/sec/ {print $2}' <<<"$out")" -v n="$reqs" -v t=$((t1 - t0)) \
        'BEGIN {printf "%.0f %.2f\n", r, (n > 0 ? t / n / 1000 : 0)}'
}
ip netns exec "$ns" wrk -t1 -c"$conns" -d2s http://10.0.0.2/0 >/dev/null # warm up: ARP, connections
ip netns exec "$ns" wrk -t1 -c"$conns" -d2s http://10.0.0.3/0 >/dev/null
printf 'live_http: wrk -t1 -c%s -d%ss http://IP/0 (4 KiB), one server core each, twin over %s\n' \
    "$conns" "$secs" "$backend"
printf '  round  twin req/s  us/req   nginx req/s  us/req   twin/nginx\n'
results=()
for r in $(seq "$rounds"); do
    if ((r % 2)); then
        t=$(measure twin)
        n=$(measure nginx)
    else
        n=$(measure nginx)
        t=$(measure twin)
    fi
    read -r trps tus <<<"$t"
    read -r nrps nus <<<"$n"
    printf '  %5d  %10s  %6s   %11s  %6s   %10s\n' "$r" "$trps" "$tus" "$nrps" "$nus" \
        "$(awk -v a="$trps" -v b="$nrps" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
    results+=("$trps $tus $nrps $nus")
done
printf '%s\n' "${results[@]}" |
    medians "twin req/s|r[0]|%.0f" "nginx req/s|r[2]|%.0f" "ratio twin/nginx|r[0] / r[2]|%.2f" \
        "twin CPU us/request|r[1]|%.2f" "nginx CPU us/request|r[3]|%.2f" \
        "CPU ratio nginx/twin|r[3] / r[1]|%.2f"
