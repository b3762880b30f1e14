#!/usr/bin/env bash
# Runs every fuzz target of a TANDEM_FUZZ build for a bounded time, from the
# seed corpus kept in the repository (copied: new inputs stay out of the tree),
# two at a time. Prints each target's executions; fails on any finding.
#   bash tests/fuzz/run.sh <build dir> [seconds per target, default 60]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
seconds=${2:-60}
work=$(mktemp -d)
trap '[ -n "${TANDEM_FUZZ_KEEP:-}" ] || rm -rf "$work"' EXIT
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
targets=()
for bin in "$build"/bin/*_fuzz; do targets+=("$(basename "$bin")"); done
((${#targets[@]})) || { echo "fuzz: no targets in $build/bin" >&2; exit 1; }
run_one() {
  local name=$1 corpus="$work/$1"
  mkdir -p "$corpus"
  [ -d "$here/corpus/${name%_fuzz}" ] && cp -r "$here/corpus/${name%_fuzz}/." "$corpus/"
  # -timeout: one input may not take a second; -rss_limit_mb: nor a GiB.
  (cd "$work" && "$build/bin/$name" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$work/$name-" "$corpus") >"$work/$name.log" 2>&1 ||
    echo "$name exited with $?" >>"$work/failed"
}
status=0
pids=()
for name in "${targets[@]}"; do
  run_one "$name" &
  pids+=($!)
  if ((${#pids[@]} == 2)); then wait "${pids[0]}"; pids=("${pids[1]}"); fi
done
wait
for name in "${targets[@]}"; do
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/$name.log" | grep -o '[0-9]*$' || true)
  cover=$(grep -o 'cov: [0-9]*' "$work/$name.log" | tail -1 || true)
  echo "fuzz: $name ${seconds}s executions=${runs:-?} ${cover}"
  if grep -q "^$name " "$work/failed" 2>/dev/null ||
    grep -qE 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|deadly signal' "$work/$name.log"; then
    echo "fuzz: $name FAILED:" >&2
    tail -60 "$work/$name.log" >&2
    status=1
  fi
done
exit $status
