#!/usr/bin/env bash
# Runs every libFuzzer target (or the TARGETs given) built in BUILD_DIR for SECONDS each, two
# at a time (one per core), from the seeds in tests/fuzz/corpus/<target>/. Inputs a run finds
# go to a temporary directory that is deleted afterwards, never into the repository. A crash,
# leak, timeout or memory blow-up fails the run (exit 1) and names the saved reproducer, kept
# in BUILD_DIR/fuzz-artifacts/. BUILD_DIR is relative to the repository's top.
#   tools/run-fuzzers.sh BUILD_DIR [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/.."

build=${1:?usage: tools/run-fuzzers.sh BUILD_DIR [SECONDS] [TARGET...]}
seconds=${2:-60}
shift $(($# < 2 ? $# : 2))
targets=("$@")
# Every target has a seed directory, so the seeds name the targets.
if [ ${#targets[@]} -eq 0 ]; then
  for dir in tests/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi
parallel=2

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
work="$(mktemp -d "${TMPDIR:-/tmp}/sigver-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Longer inputs where the parser has a size limit to cross (8 KiB headers, long INI lines).
max_len() {
  case "$1" in
    fuzz_upgrade | fuzz_config) echo 12000 ;;
    *) echo 4096 ;;
  esac
}

run_one() {
  local target=$1
  mkdir -p "$work/$target"
  # -timeout: one input running 10 s is a hang. The outer timeout only guards against
  # libFuzzer itself not stopping.
  timeout -k 10 $((seconds + 120)) "$build/$target" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len="$(max_len "$target")" -print_final_stats=1 \
    -artifact_prefix="$artifacts/$target-" "$work/$target" "tests/fuzz/corpus/$target" \
    >"$work/$target.log" 2>&1
  echo $? >"$work/$target.rc"
}

for target in "${targets[@]}"; do
  if [ ! -x "$build/$target" ]; then
    echo "fuzz: $build/$target not built" >&2
    exit 1
  fi
done

echo "fuzz: ${#targets[@]} targets, ${seconds} s each, $parallel at a time"
running=0
for target in "${targets[@]}"; do
  if [ "$running" -ge "$parallel" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_one "$target" &
  running=$((running + 1))
done
wait

failed=0
for target in "${targets[@]}"; do
  rc=$(cat "$work/$target.rc" 2>/dev/null || echo 1)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $target ok (${runs:-?} inputs)"
    continue
  fi
  failed=1
  echo "FAIL fuzz: $target (exit $rc); the end of its log:"
  tail -n 40 "$work/$target.log" | sed 's/^/  /'
  reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/$target.log" | tail -1)
  if [ -n "$reproducer" ]; then
    echo "fuzz: reproducer $reproducer"
    echo "fuzz: rerun with $build/$target $reproducer"
  fi
done
exit $failed
