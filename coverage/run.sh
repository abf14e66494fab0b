#!/usr/bin/env bash
# Line coverage of core/ and sim/ under the whole test suite.
#
#   bash coverage/run.sh            (from the repository root, or anywhere)
#   COVERAGE_FLOOR=90 bash coverage/run.sh
#
# Builds build/coverage (-Db_coverage=true, debug), runs every meson test
# suite there but `live` (namespaces and real traffic: backends/ code, not
# core/ or sim/, and already run by the main build), captures with lcov,
# keeps core/ and sim/ only, writes the HTML report to build/coverage/html
# and prints line coverage per directory.
# Exit status: 0 at or above the floor, 1 below it or a test failed (the
# report is written either way), 2 a tool is missing or the build failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
build=build/coverage
lcovrc=coverage/lcovrc
floor=${COVERAGE_FLOOR:-85}
out=$build/lcov

die() { echo "coverage: $*" >&2; exit 2; }

for tool in meson ninja lcov genhtml gcov; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ $floor =~ ^[0-9]+([.][0-9]+)?$ ]] || die "COVERAGE_FLOOR must be a percentage, got '$floor'"

# Quiet when it works, the tool's own output when it does not.
quietly() {
    local log rc=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || rc=$?
    [[ $rc -eq 0 ]] || cat "$log" >&2
    rm -f "$log"
    return "$rc"
}

if [[ -f $build/meson-private/coredata.dat ]]; then
    # Reused: make sure it is still instrumented (a no-op when it is).
    quietly meson configure "$build" -Db_coverage=true -Dbuildtype=debug ||
        die "meson configure $build failed"
else
    quietly meson setup "$build" -Db_coverage=true --buildtype=debug ||
        die "meson setup $build failed"
fi
quietly ninja -C "$build" || die "building $build failed"
# A source that was moved or removed leaves its object and notes behind; they
# would name a file that no longer exists. Drop objects ninja no longer
# builds, then the coverage notes and counts that have no object.
quietly ninja -C "$build" -t cleandead || die "ninja -t cleandead failed"
while IFS= read -r -d '' note; do
    [[ -e ${note%.gcno}.o ]] || rm -f "$note" "${note%.gcno}.gcda"
done < <(find "$build" -name '*.gcno' -print0)

# lcov_: lcov, quietly, with coverage/lcovrc.
source coverage/lcov_quiet.sh

rm -rf "$out" "$build/html"
mkdir -p "$out"
lcov_ --zerocounters --directory "$build"
# The baseline lists every compiled line at zero, so a file no test links
# counts against the figure instead of vanishing from it.
lcov_ --capture --initial --directory "$build" --output-file "$out/base.info"

tests_rc=0
meson test -C "$build" --print-errorlogs --no-suite live || tests_rc=$?

lcov_ --capture --directory "$build" --output-file "$out/tests.info"
lcov_ --add-tracefile "$out/base.info" --add-tracefile "$out/tests.info" \
      --output-file "$out/all.info"
lcov_ --extract "$out/all.info" "$root/core/*" "$root/sim/*" --output-file "$out/coverage.info"
genhtml --config-file "$lcovrc" --quiet --title "twin: core/ and sim/" \
        --prefix "$root" --output-directory "$build/html" "$out/coverage.info"

# Per-directory totals from the tracefile: SF names the file, LF/LH count
# its instrumented and hit lines.
awk -v root="$root/" -v floor="$floor" -v html="$build/html/index.html" '
    /^SF:/ {
        path = substr($0, 4)
        if (index(path, root) == 1) path = substr(path, length(root) + 1)
        split(path, part, "/")
        dir = part[1] "/"
    }
    /^LF:/ { lf[dir] += substr($0, 4); total_lf += substr($0, 4) }
    /^LH:/ { lh[dir] += substr($0, 4); total_lh += substr($0, 4) }
    function line(name, hit, found) {
        printf "  %-6s %6.1f%%  (%d of %d lines)\n", name,
               found ? 100 * hit / found : 0, hit, found
    }
    END {
        print "line coverage:"
        n = split("core/ sim/", dirs, " ")
        for (i = 1; i <= n; i++) line(dirs[i], lh[dirs[i]], lf[dirs[i]])
        line("total", total_lh, total_lf)
        pct = total_lf ? 100 * total_lh / total_lf : 0
        print "report: " html
        if (pct + 1e-9 < floor) {
            printf "coverage: total %.1f%% is below the floor of %s%%\n", pct, floor
            exit 1
        }
        printf "coverage: total %.1f%% meets the floor of %s%%\n", pct, floor
    }' "$out/coverage.info" || floor_rc=$?

if [[ $tests_rc -ne 0 ]]; then
    echo "coverage: meson test failed (exit $tests_rc); the figures above are from a failing run" >&2
    exit 1
fi
exit "${floor_rc:-0}"
