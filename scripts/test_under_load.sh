#!/usr/bin/env bash
# Run `make test` RUNS times in a row on a fresh clone, with CI=true, while HOGS CPU-bound
# processes run beside it; print each run's wall time and result, and exit non-zero if any failed.
#
#   scripts/test_under_load.sh            # 5 runs, 2 hogs
#   RUNS=3 HOGS=0 scripts/test_under_load.sh
#   TARGET="test-all" scripts/test_under_load.sh
#
# The clone is made from this checkout's HEAD (commit first), in a temporary directory that is
# removed at the end; the hogs are stopped whatever happens.
set -euo pipefail
RUNS=${RUNS:-5}
HOGS=${HOGS:-2}
TARGET=${TARGET:-test}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d)
hogs=()
cleanup() {
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

git clone --quiet "$repo" "$work/aiq"
cd "$work/aiq"
make install >/dev/null 2>&1
for _ in $(seq 1 "$HOGS"); do
  python3 -c 'while True: pass' &
  hogs+=($!)
done

failed=0
for run in $(seq 1 "$RUNS"); do
  start=$(date +%s)
  if CI=true make "$TARGET" PYTEST_ARGS="-p no:cacheprovider" >"$work/run-$run.log" 2>&1; then
    result=passed
  else
    result=FAILED
    failed=$((failed + 1))
    cp "$work/run-$run.log" "/tmp/aiq-test-under-load-$run.log"
  fi
  summary=$(grep -E '(passed|failed|error)' "$work/run-$run.log" | tail -n 1)
  echo "run $run/$RUNS: $result in $(($(date +%s) - start)) s with $HOGS CPU hogs: $summary"
done
[ "$failed" -eq 0 ] || { echo "$failed of $RUNS runs failed (logs in /tmp/aiq-test-under-load-*.log)"; exit 1; }
