#!/usr/bin/env bash
# The determinism figure: N seeds (default 100), each run twice, must give
# identical trace hashes. Without a scenario the runtime demo is checked
# (`twin demo --check-determinism` compares every event's running hash);
# with SCENARIO=FILE, that scenario (`twin run FILE --check-determinism`).
#
#   bash bench/determinism.sh [N]
#   SCENARIO=scenarios/quickstart.yaml bash bench/determinism.sh 100
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-100}
twin=${TWIN_BIN:-build/twin}
[[ -x $twin ]] || { echo "determinism: $twin not built (make build)" >&2; exit 2; }
same=0
diverged=()
start=$(date +%s.%N)
for ((seed = 1; seed <= n; seed++)); do
    if [[ -n ${SCENARIO:-} ]]; then
        cmd=("$twin" run "$SCENARIO" --check-determinism --quiet --seed "$seed")
    else
        cmd=("$twin" demo --check-determinism --quiet --seed "$seed")
    fi
    out=$("${cmd[@]}") && rc=0 || rc=$?
    if grep -q "✓" <<<"$out"; then
        same=$((same + 1))
    else
        diverged+=("$seed")
        printf 'seed %d (exit %d):\n%s\n' "$seed" "$rc" "$out"
    fi
done
end=$(date +%s.%N)
printf 'determinism: %d seeds x 2 runs of %s: %d identical, %d diverged (%.1fs)\n' \
    "$n" "${SCENARIO:-the demo}" "$same" "${#diverged[@]}" \
    "$(awk -v a="$start" -v b="$end" "BEGIN{print b-a}")"
[[ ${#diverged[@]} -eq 0 ]]
