#!/usr/bin/env bash
# Long fuzzing campaign: every cargo-fuzz target for SECONDS each (default 600), two at a
# time, on the nightly toolchain (`cargo install cargo-fuzz`). Prints one line per target:
# executions, executions/s, corpus size, crashes. Crashes land in fuzz/artifacts/TARGET/.
# CI runs the stable smoke test instead (cargo test -p tresor-fuzz).
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-600}; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(yaml_parse yaml_input json_parse enc_codec metadata roundtrip pack krm stores image)
cargo +nightly fuzz build -O >/dev/null 2>&1 || cargo +nightly fuzz build -O
mkdir -p logs
run() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  # A private copy of the corpus: the seeds in corpus/ stay small and reviewed.
  local work="logs/corpus-$t"; mkdir -p "$work"; cp -n corpus/"$t"/* "$work"/ 2>/dev/null || true
  cargo +nightly fuzz run -O "$t" "$work" -- -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=4096 \
    -timeout=20 >"logs/$t.log" 2>&1 && rc=0 || rc=$?
  local runs eps crashes
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | awk '{print $2}' | tail -1)
  eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | awk '{print $2}' | tail -1)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  printf '%-11s %6ss  %12s execs  %8s exec/s  corpus %5s  crashes %s  (exit %s)\n' \
    "$t" "$secs" "${runs:-?}" "${eps:-?}" "$(ls "$work" | wc -l)" "$crashes" "$rc"
}
i=0
for t in "${targets[@]}"; do
  run "$t" &
  i=$((i + 1))
  if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
