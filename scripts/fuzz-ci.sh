#!/usr/bin/env bash
# Every libFuzzer target for a bounded time: the fuzzing smoke test that runs
# at each submission.
#
#   bash scripts/fuzz-ci.sh [SECONDS]        (default 30 per target)
#   FUZZ_TARGETS="wire stack" bash scripts/fuzz-ci.sh 60
#
# Builds build-fuzz (CC=clang, -Dfuzzing=true: libFuzzer with ASan and
# UBSan) when needed, then runs each target from its committed corpus
# (fuzz/corpus/<target>, copied to a scratch directory so the run does not
# grow the repository) with -max_total_time=SECONDS, one after another (the
# machine is shared). Prints executions, executions per second and coverage
# per target. A crash leaves its input in build-fuzz/artifacts/ with the
# command that reproduces it.
#
# Exit status: 0 every target ran clean; 1 a target crashed (or leaked, or
# broke a check); 2 the build failed or SECONDS is not a number; 77 clang or
# its libFuzzer runtime is missing (the reason is printed: a skip, not a
# failure, as a test that needs a missing tool).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-30}
build=${FUZZ_BUILD:-build-fuzz}
targets=${FUZZ_TARGETS:-wire stack scenario link}

[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || {
    echo "fuzz-ci: SECONDS must be a positive whole number, got '$seconds'" >&2
    exit 2
}

if ! command -v clang >/dev/null; then
    echo "fuzz-ci: skipped: clang is not installed (apt-get install clang libclang-rt-14-dev)"
    exit 77
fi
# libFuzzer ships in the compiler-rt package; without it the link fails
# with a message that does not say so.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
    >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>/dev/null; then
    echo "fuzz-ci: skipped: clang cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev)"
    exit 77
fi

if [[ ! -f $build/build.ninja ]]; then
    CC=clang meson setup "$build" -Dfuzzing=true -Dtests=disabled >"$probe/setup.log" 2>&1 || {
        cat "$probe/setup.log" >&2
        echo "fuzz-ci: meson setup $build failed" >&2
        exit 2
    }
fi
exes=()
for t in $targets; do
    exes+=("fuzz/fuzz_$t")
done
nice ninja -C "$build" "${exes[@]}" >"$probe/build.log" 2>&1 || {
    cat "$probe/build.log" >&2
    echo "fuzz-ci: building the fuzz targets failed" >&2
    exit 2
}

mkdir -p "$build/artifacts"
failed=()
printf '%-10s %10s %10s %8s %8s  %s\n' target executions 'exec/s' cov ft result
for t in $targets; do
    work="$probe/corpus-$t"
    mkdir -p "$work"
    cp -r fuzz/corpus/"$t"/. "$work"/ 2>/dev/null || true
    log="$build/artifacts/fuzz_$t.log"
    rc=0
    # -rss_limit_mb: the stack target's biggest configuration stays far
    # below; a leak that grows past it is a finding.
    nice "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
        -rss_limit_mb=2048 -timeout=25 -artifact_prefix="$build/artifacts/$t-" \
        "$work" fuzz/regressions/"$t" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    result=ok
    if [[ $rc -ne 0 ]]; then
        result="CRASH (exit $rc, log $log)"
        failed+=("$t")
    fi
    printf '%-10s %10s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
        "$result"
done

if [[ ${#failed[@]} -gt 0 ]]; then
    for t in "${failed[@]}"; do
        echo "fuzz-ci: fuzz_$t failed; the end of its log:" >&2
        grep -v '^#[0-9]' "$build/artifacts/fuzz_$t.log" | tail -40 >&2
        echo "reproduce: $build/fuzz/fuzz_$t $build/artifacts/$t-crash-* (or the file named above)" >&2
    done
    exit 1
fi
echo "fuzz-ci: every target ran ${seconds}s without a crash"
