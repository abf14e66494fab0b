#!/usr/bin/env bash
# The determinism figure: N seeds (default 100), each run twice in separate
# runs of `twin run --check-determinism`, must give identical trace hashes
# (every event's running hash is compared, not just the last).
#
#   bash bench/determinism.sh [N] [extra twin run options...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-100}
shift || true
twin=${TWIN_BIN:-build/twin}
[[ -x $twin ]] || { echo "determinism: $twin not built (make build)" >&2; exit 2; }
same=0
diverged=()
start=$(date +%s.%N)
for ((seed = 1; seed <= n; seed++)); do
    if out=$("$twin" run --check-determinism --quiet --seed "$seed" "$@"); then
        same=$((same + 1))
    else
        diverged+=("$seed")
        printf 'seed %d:\n%s\n' "$seed" "$out"
    fi
done
end=$(date +%s.%N)
printf 'determinism: %d seeds x 2 runs: %d identical, %d diverged (%.1fs)\n' \
    "$n" "$same" "${#diverged[@]}" "$(awk -v a="$start" -v b="$end" "BEGIN{print b-a}")"
[[ ${#diverged[@]} -eq 0 ]]
