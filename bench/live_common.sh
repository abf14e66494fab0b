# Sourced by the live benchmarks: starts `twin run FILE --live ARGS...` in
# the background and waits until host HOST's namespace exists. Sets pid (of
# twin), run (its run id: the pid in base 36) and log; exits with twin's
# status when twin ends first (77: the live world cannot be built here).
#
#   live_start FILE HOST ARGS...
live_start() {
    local file=$1 host=$2
    shift 2
    log=$(mktemp)
    "$twin" run "$file" --live "$@" >"$log" 2>&1 &
    pid=$!
    trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
    run=$(python3 -c "
n=$pid; d='0123456789abcdefghijklmnopqrstuvwxyz'; s=''
while True:
    s=d[n%36]+s; n//=36
    if n==0: break
print(s)")
    for _ in $(seq 100); do
        [[ -e /run/netns/tw$run-$host ]] && return 0
        if ! kill -0 $pid 2>/dev/null; then
            wait $pid && rc=0 || rc=$?
            cat "$log" >&2
            exit $rc
        fi
        sleep 0.1
    done
    echo "live_start: no namespace tw$run-$host after 10 s" >&2
    exit 1
}

# Prints, for each figure, its median over the rounds with min and max. The
# rounds come on stdin, one line of numbers each (r[0], r[1], ...); each
# argument is "NAME|EXPRESSION|FORMAT", the expression in Python over the
# row r (a round where it divides by zero is left out of that figure).
#
#   printf '%s\n' "${results[@]}" | medians "twin req/s|r[0]|%.0f" "ratio|r[0] / r[1]|%.2f"
medians() {
    python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
for spec in sys.argv[1:]:
    name, expr, fmt = spec.split("|")
    xs = []
    for r in rows:
        try:
            xs.append(eval(expr, {"r": r}))
        except ZeroDivisionError:
            pass
    if xs:
        print("  %-22s median %s  (min %s, max %s)" % (name, fmt % statistics.median(xs), fmt % min(xs), fmt % max(xs)))
' "$@"
}
