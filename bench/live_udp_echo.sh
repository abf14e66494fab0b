#!/bin/bash
# UDP echo live: twin over io_uring (`twin serve --backend uring --app
# udp_echo --sockperf`) against sockperf's own server on the kernel, both
# pinned to the same CPUs (taskset), each measured by the same sockperf
# client run, pinned to other CPUs. Two figures, each the median of ROUNDS
# alternating runs:
#   ping-pong   round trips per second (one message in flight), and the
#               average latency sockperf reports;
#   throughput  messages per second the server took in while the client
#               sent as fast as it could (sockperf throughput: no answers).
# and the ratio twin / sockperf for each (goal >= 1.0); and for each mode the
# server's CPU time per message it received (its threads' schedstat), the
# figure least disturbed by other load on a shared machine.
#
# usage: bench/live_udp_echo.sh [SECONDS]
# env:   TWIN (build/twin), SERVER_CPUS (1), CLIENT_CPUS (0), MSG (64 bytes),
#        ROUNDS (3), PORT (11111)
# Runs inside a network namespace of its own when it can make one (root),
# so only its own traffic is on that loopback. Exits 77 when sockperf or the
# uring backend is missing.
set -euo pipefail

SECS=${1:-5}
TWIN=${TWIN:-build/twin}
SERVER_CPUS=${SERVER_CPUS:-1}
CLIENT_CPUS=${CLIENT_CPUS:-0}
MSG=${MSG:-64}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-11111}
NCORES=$(awk -F, '{print NF}' <<<"$SERVER_CPUS")

command -v sockperf >/dev/null || { echo "live_udp_echo: sockperf is not installed" >&2; exit 77; }
[ -x "$TWIN" ] || { echo "live_udp_echo: no twin at $TWIN (build it, or set TWIN)" >&2; exit 2; }

NS=""
RUN=()
if [ "$(id -u)" = 0 ] && ip netns add "urbench-$$" 2>/dev/null; then
    NS="urbench-$$"
    ip -n "$NS" link set lo up
    RUN=(ip netns exec "$NS")
fi
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ -n "$NS" ]; then ip netns del "$NS" 2>/dev/null || true; fi
}
trap cleanup EXIT

TMP=$(mktemp -d)
trap 'cleanup; rm -rf "$TMP"' EXIT

wait_ready() { # file: the server's stdout
    for _ in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

start_server() { # kind
    local out=$TMP/server.out
    : >"$out"
    if [ "$1" = twin ]; then
        "${RUN[@]}" taskset -c "$SERVER_CPUS" "$TWIN" serve --backend uring --app udp_echo \
            --sockperf --port "$PORT" --cores "$NCORES" >"$out" 2>"$TMP/server.err" &
        SERVER_PID=$!
        if ! wait_ready "$out" ready; then
            wait "$SERVER_PID" && rc=0 || rc=$?
            SERVER_PID=""
            cat "$TMP/server.err" >&2
            exit $([ "$rc" = 77 ] && echo 77 || echo 1)
        fi
    else
        "${RUN[@]}" taskset -c "$SERVER_CPUS" sockperf server -i 127.0.0.1 -p "$PORT" \
            >"$out" 2>&1 &
        SERVER_PID=$!
        # Ready when its socket is bound.
        for _ in $(seq 100); do
            "${RUN[@]}" ss -Huln "sport = :$PORT" | grep -q . && return 0
            sleep 0.05
        done
        echo "live_udp_echo: sockperf server did not bind port $PORT" >&2
        exit 1
    fi
}

# Nanoseconds the server's threads have run on a CPU (schedstat), which
# other users of a shared machine disturb far less than wall-clock rates.
cpu_ns() {
    cat /proc/"$SERVER_PID"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}

# Stops the server; RX is then the datagrams it received, CPU the ns it ran.
# Not in a subshell: only this shell can wait for the server.
stop_server() { # kind
    CPU=$(cpu_ns)
    if [ "$1" = twin ]; then kill -TERM "$SERVER_PID"; else kill -INT "$SERVER_PID"; fi
    wait "$SERVER_PID" || true
    SERVER_PID=""
    if [ "$1" = twin ]; then
        RX=$(sed -n 's/^total: .* udp rx \([0-9]*\) .*/\1/p' "$TMP/server.out")
    else
        RX=$(sed -n 's/.*Total \([0-9]*\) messages received.*/\1/p' "$TMP/server.out")
    fi
}

client() { # mode
    "${RUN[@]}" taskset -c "$CLIENT_CPUS" sockperf "$1" -i 127.0.0.1 -p "$PORT" -t "$SECS" \
        -m "$MSG" 2>&1
}

# One measurement: LINE is "rate latency cpu_ns_per_message" (latency "-"
# for throughput).
measure() { # kind mode
    start_server "$1"
    local text
    text=$(client "$2") || true
    stop_server "$1"
    if grep -q "No messages were received" <<<"$text"; then
        echo "live_udp_echo: $1 did not answer sockperf $2" >&2
        exit 1
    fi
    if [ "$2" = ping-pong ]; then
        LINE=$(awk '/\[Total Run\]/ { for (i = 1; i <= NF; i++) {
                 if ($i ~ /^RunTime=/) { split($i, a, "="); t = a[2] + 0 }
                 if ($i ~ /^ReceivedMessages=/) { split($i, b, "="); n = b[2] + 0 } } }
             /Summary: Latency is/ { lat = $(NF - 1) }
             END { printf "%.0f %s\n", n / t, lat }' <<<"$text")
    else
        LINE=$(awk -v n="${RX:-0}" -v s="$SECS" 'BEGIN { printf "%.0f -\n", n / s }')
    fi
    LINE="$LINE $(awk -v c="${CPU:-0}" -v n="${RX:-0}" 'BEGIN { printf "%.0f", n ? c / n : 0 }')"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "live UDP echo: server on CPUs $SERVER_CPUS, sockperf client on CPUs $CLIENT_CPUS," \
     "${MSG}-byte messages, ${SECS}s x $ROUNDS rounds${NS:+, netns $NS}"
for mode in ping-pong throughput; do
    : >"$TMP/twin.$mode"
    : >"$TMP/kernel.$mode"
    for _ in $(seq "$ROUNDS"); do
        measure sockperf "$mode"
        echo "$LINE" >>"$TMP/kernel.$mode"
        measure twin "$mode"
        echo "$LINE" >>"$TMP/twin.$mode"
    done
    k=$(cut -d' ' -f1 "$TMP/kernel.$mode" | median)
    t=$(cut -d' ' -f1 "$TMP/twin.$mode" | median)
    kl=$(cut -d' ' -f2 "$TMP/kernel.$mode" | tr '\n' ' ')
    tl=$(cut -d' ' -f2 "$TMP/twin.$mode" | tr '\n' ' ')
    printf '%-10s sockperf server %9s msg/s   twin uring %9s msg/s   ratio %.2fx\n' \
        "$mode" "$k" "$t" "$(awk -v a="$t" -v b="$k" 'BEGIN { print b ? a / b : 0 }')"
    kc=$(cut -d' ' -f3 "$TMP/kernel.$mode" | median)
    tc=$(cut -d' ' -f3 "$TMP/twin.$mode" | median)
    printf '%-10s server CPU per message: sockperf %6s ns   twin %6s ns   ratio %.2fx (sockperf / twin)\n' \
        "" "$kc" "$tc" "$(awk -v a="$kc" -v b="$tc" 'BEGIN { print b ? a / b : 0 }')"
    if [ "$mode" = ping-pong ]; then
        echo "           avg latency us: sockperf server [ $kl]  twin [ $tl]"
    fi
done
