# Sourced by coverage/run.sh and scripts/fuzz-coverage.sh: lcov_ runs lcov
# with the project's configuration ($lcovrc, set by the caller) quietly.
# Debian's lcov 1.16 has geninfo warn that it redefines its own subroutines
# on every capture; that noise is dropped, anything else is passed on.
lcov_() {
    local err rc=0
    err=$(mktemp)
    lcov --config-file "$lcovrc" --quiet "$@" 2>"$err" || rc=$?
    grep -v '^Subroutine .* redefined at .*geninfo' "$err" >&2 || true
    rm -f "$err"
    return "$rc"
}
