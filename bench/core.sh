#!/usr/bin/env bash
# Core benchmark (issue: encrypt/decrypt speed): tresor vs sops on the same inputs, same run.
#   10,000 leaves (~1 MB) YAML, and a ~100 MB YAML (set BIG_MB=0 to skip it).
# Usage: bash bench/core.sh
source "$(dirname "$0")/common.sh"
build_release
SOPS=$(sops_binary)
export SOPS_AGE_KEY_FILE="$ROOT/testdata/keys/age-test.txt"
PUB=$(grep 'public key' "$SOPS_AGE_KEY_FILE" | awk '{print $4}')
RUNS=${RUNS:-5}

python3 "$ROOT/bench/gen_yaml.py" 100 100 "$OUT/perf-10k.yaml"
echo "input: perf-10k.yaml $(wc -c < "$OUT/perf-10k.yaml") bytes, 10000 leaves"
"$TRESOR" encrypt --age "$PUB" "$OUT/perf-10k.yaml" > "$OUT/perf-10k.tresor.yaml"
"$SOPS" encrypt --age "$PUB" "$OUT/perf-10k.yaml" > "$OUT/perf-10k.sops.yaml"

measure "sops encrypt 10k" "$RUNS" "$SOPS" encrypt --age "$PUB" "$OUT/perf-10k.yaml"; s_enc=$MEDIAN
measure "tresor encrypt 10k" "$RUNS" "$TRESOR" encrypt --age "$PUB" "$OUT/perf-10k.yaml"; t_enc=$MEDIAN; t_enc_rss=$RSS
measure "sops decrypt 10k" "$RUNS" "$SOPS" decrypt "$OUT/perf-10k.sops.yaml"; s_dec=$MEDIAN
measure "tresor decrypt 10k (own file)" "$RUNS" "$TRESOR" decrypt "$OUT/perf-10k.tresor.yaml"; t_dec=$MEDIAN; t_dec_rss=$RSS
measure "tresor decrypt 10k (sops' file)" "$RUNS" "$TRESOR" decrypt "$OUT/perf-10k.sops.yaml"
measure_pair "encrypt 10k, sops vs tresor" "$RUNS" "$SOPS" encrypt --age "$PUB" "$OUT/perf-10k.yaml" --vs-- "$TRESOR" encrypt --age "$PUB" "$OUT/perf-10k.yaml"
measure_pair "decrypt 10k, sops vs tresor" "$RUNS" "$SOPS" decrypt "$OUT/perf-10k.sops.yaml" --vs-- "$TRESOR" decrypt "$OUT/perf-10k.tresor.yaml"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 0.001; printf "%.1fx", a / b }'; }
echo "separate runs: encrypt sops/tresor = $(ratio "$s_enc" "$t_enc"); decrypt sops/tresor = $(ratio "$s_dec" "$t_dec")"
echo "tresor peak RSS: encrypt ${t_enc_rss} KiB, decrypt ${t_dec_rss} KiB (input $(( $(wc -c < "$OUT/perf-10k.yaml") / 1024 )) KiB)"

BIG_MB=${BIG_MB:-100}
if [ "$BIG_MB" -gt 0 ]; then
  sections=$(( BIG_MB * 100 ))
  python3 "$ROOT/bench/gen_yaml.py" "$sections" 100 "$OUT/perf-big.yaml"
  size=$(wc -c < "$OUT/perf-big.yaml")
  echo "input: perf-big.yaml $size bytes, $(( sections * 100 )) leaves"
  "$TRESOR" encrypt --age "$PUB" "$OUT/perf-big.yaml" > "$OUT/perf-big.tresor.yaml"
  measure "tresor encrypt big" 1 "$TRESOR" encrypt --age "$PUB" "$OUT/perf-big.yaml"; tb_enc=$MEDIAN; tb_enc_rss=$RSS
  measure "tresor decrypt big" 1 "$TRESOR" decrypt "$OUT/perf-big.tresor.yaml"; tb_dec=$MEDIAN; tb_dec_rss=$RSS
  measure "sops encrypt big" 1 "$SOPS" encrypt --age "$PUB" "$OUT/perf-big.yaml"; sb_enc=$MEDIAN; sb_enc_rss=$RSS
  "$SOPS" encrypt --age "$PUB" "$OUT/perf-big.yaml" > "$OUT/perf-big.sops.yaml"
  measure "sops decrypt big" 1 "$SOPS" decrypt "$OUT/perf-big.sops.yaml"; sb_dec=$MEDIAN
  echo "big: encrypt sops/tresor = $(ratio "$sb_enc" "$tb_enc"); decrypt sops/tresor = $(ratio "$sb_dec" "$tb_dec")"
  echo "big: tresor peak RSS encrypt $tb_enc_rss KiB, decrypt $tb_dec_rss KiB = $(awk -v r="$tb_enc_rss" -v s="$size" 'BEGIN{printf "%.2f", r*1024/s}')x / $(awk -v r="$tb_dec_rss" -v s="$size" 'BEGIN{printf "%.2f", r*1024/s}')x input; sops encrypt $sb_enc_rss KiB"
fi
