#!/usr/bin/env bash
# twin's HTTP server over AF_XDP against nginx, both driven by wrk from a
# kernel host over the same Linux bridge, one server core each: requests/s
# and the ratio twin/nginx. Root; exits 77 where the live world cannot be
# built.
#
#   sudo bash bench/live_http.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-5}
conns=${2:-32}
twin=${TWIN_BIN:-build/twin}
backend=${BACKEND:-xdp}
[[ -x $twin ]] || { echo "live_http: $twin not built" >&2; exit 2; }
. bench/live_common.sh
live_start bench/scenarios/live_http.yaml client --backend "$backend" \
    --set duration=$((4 * secs + 10))s
ns=tw$run-client
sleep 1
rps() {
    ip netns exec "$ns" wrk -t1 -c"$conns" -d"${secs}s" "http://$1/0" |
        awk '/Requests\/sec/ {print $2}'
}
rps 10.0.0.2 >/dev/null # warm up: ARP, connections
twin_rps=$(rps 10.0.0.2)
nginx_rps=$(rps 10.0.0.3)
printf 'live_http: wrk -c%s -d%ss, 4 KiB pages, one server core each (%s backend)\n' \
    "$conns" "$secs" "$backend"
printf '  twin (%s)  %10.0f req/s\n' "$backend" "$twin_rps"
printf '  nginx        %10.0f req/s\n' "$nginx_rps"
python3 -c "print('  ratio twin/nginx %.2f' % ($twin_rps / $nginx_rps))"
