#!/usr/bin/env bash
# Line coverage of core/ reached by the fuzz corpora alone.
#
#   bash scripts/fuzz-coverage.sh            (from anywhere)
#   FUZZ_CORPUS=/tmp/bigger-corpus bash scripts/fuzz-coverage.sh
#
# Builds build/fuzz-coverage (gcc, -Db_coverage=true, debug) with the
# standalone fuzz targets only, runs each over fuzz/corpus/<target> and
# fuzz/regressions/<target> (or $FUZZ_CORPUS/<target> instead of the
# corpus), captures with lcov, keeps core/, and prints line coverage per
# core/ directory and in total. The HTML report goes to
# build/fuzz-coverage/html. Exit 0, 1 a target crashed on its corpus,
# 2 a tool is missing or the build failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
build=build/fuzz-coverage
out=$build/lcov
lcovrc=coverage/lcovrc
corpus=${FUZZ_CORPUS:-fuzz/corpus}

die() { echo "fuzz-coverage: $*" >&2; exit 2; }
for tool in meson ninja lcov genhtml gcov; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

if [[ ! -f $build/build.ninja ]]; then
    meson setup "$build" -Db_coverage=true --buildtype=debug -Dtests=disabled >/dev/null ||
        die "meson setup $build failed"
fi
nice ninja -C "$build" fuzz/fuzz_wire fuzz/fuzz_stack fuzz/fuzz_scenario fuzz/fuzz_link >/dev/null ||
    die "building $build failed"

# lcov_: lcov, quietly, with coverage/lcovrc.
source coverage/lcov_quiet.sh

rm -rf "$out" "$build/html"
mkdir -p "$out"
lcov_ --zerocounters --directory "$build"
# Every compiled line of core/ at zero first, so code no input reaches
# counts against the figure.
lcov_ --capture --initial --directory "$build" --output-file "$out/base.info"

rc=0
for t in wire stack scenario link; do
    printf 'fuzz-coverage: %-8s ' "$t"
    nice "$build/fuzz/fuzz_$t" "$corpus/$t" "fuzz/regressions/$t" 2>"$out/$t.err" | tail -1 ||
        { rc=1; echo; tail -20 "$out/$t.err" >&2; }
done

lcov_ --capture --directory "$build" --output-file "$out/run.info"
lcov_ --add-tracefile "$out/base.info" --add-tracefile "$out/run.info" --output-file "$out/all.info"
lcov_ --extract "$out/all.info" "$root/core/*" --output-file "$out/core.info"
genhtml --config-file "$lcovrc" --quiet --title "twin: core/ under the fuzz corpora" \
        --prefix "$root" --output-directory "$build/html" "$out/core.info"

awk -v root="$root/" -v html="$build/html/index.html" '
    /^SF:/ {
        path = substr($0, 4)
        if (index(path, root) == 1) path = substr(path, length(root) + 1)
        n = split(path, part, "/")
        dir = part[1] "/" part[2] "/"
        if (part[2] == "net" && part[3] == "tcp") dir = "core/net/tcp/"
    }
    /^LF:/ { lf[dir] += substr($0, 4); total_lf += substr($0, 4) }
    /^LH:/ { lh[dir] += substr($0, 4); total_lh += substr($0, 4) }
    END {
        print "line coverage of core/ by the fuzz corpora:"
        for (d in lf) printf "  %-14s %6.1f%%  (%d of %d lines)\n", d,
            lf[d] ? 100 * lh[d] / lf[d] : 0, lh[d], lf[d] | "sort"
        close("sort")
        printf "  %-14s %6.1f%%  (%d of %d lines)\n", "core/ total",
            total_lf ? 100 * total_lh / total_lf : 0, total_lh, total_lf
        print "report: " html
    }' "$out/core.info"
exit "$rc"
