#!/usr/bin/env bash
# Merge-driver benchmark (issue 12): two branches change different values of a
# 1,000-value encrypted YAML file.
#   tresor: `tresor git merge-driver BASE OURS THEIRS PATH` (what Git runs).
#   peer:   what sops users do today (getsops/sops#52): `sops decrypt` the three versions,
#           `git merge-file` the plaintexts, `sops encrypt` the result.
# Both run in the same loop, interleaved; each run starts from a fresh copy of OURS.
# Usage: bash bench/merge.sh        (RUNS=N to change the number of runs)
source "$(dirname "$0")/common.sh"
build_release
SOPS=$(sops_binary)
export SOPS_AGE_KEY_FILE="$ROOT/testdata/keys/age-test.txt"
PUB=$(grep 'public key' "$SOPS_AGE_KEY_FILE" | awk '{print $4}')
RUNS=${RUNS:-9}
W="$OUT/merge"
rm -rf "$W"; mkdir -p "$W"
python3 "$ROOT/bench/gen_yaml.py" 10 100 "$W/plain.yaml"
echo "input: 1,000 values, $(wc -c < "$W/plain.yaml") bytes of plaintext"

# The three versions, written by each tool the way its users would.
"$TRESOR" encrypt --age "$PUB" "$W/plain.yaml" > "$W/t-base.yaml"
cp "$W/t-base.yaml" "$W/t-ours.yaml"; cp "$W/t-base.yaml" "$W/t-theirs.yaml"
"$TRESOR" set "$W/t-ours.yaml" '["section00002"]["key00010"]' '"ours"'
"$TRESOR" set "$W/t-theirs.yaml" '["section00007"]["key00050"]' '"theirs"'
"$SOPS" encrypt --age "$PUB" "$W/plain.yaml" > "$W/s-base.yaml"
cp "$W/s-base.yaml" "$W/s-ours.yaml"; cp "$W/s-base.yaml" "$W/s-theirs.yaml"
"$SOPS" set "$W/s-ours.yaml" '["section00002"]["key00010"]' '"ours"'
"$SOPS" set "$W/s-theirs.yaml" '["section00007"]["key00050"]' '"theirs"'

cat > "$W/tresor-merge.sh" <<SH
cp "$W/t-ours.yaml" "$W/t-work.yaml"
exec "$TRESOR" git merge-driver "$W/t-base.yaml" "$W/t-work.yaml" "$W/t-theirs.yaml" secrets.yaml
SH
# The peer writes plaintext to disk: that is how the workaround is done with sops today.
cat > "$W/sops-merge.sh" <<SH
set -e
cd "$W"
"$SOPS" decrypt s-base.yaml > p-base.yaml
"$SOPS" decrypt s-ours.yaml > p-ours.yaml
"$SOPS" decrypt s-theirs.yaml > p-theirs.yaml
git merge-file -p p-ours.yaml p-base.yaml p-theirs.yaml > p-merged.yaml
"$SOPS" encrypt --age "$PUB" --filename-override secrets.yaml p-merged.yaml > s-work.yaml
rm -f p-base.yaml p-ours.yaml p-theirs.yaml p-merged.yaml
SH
measure_pair "3-way merge, 1,000 values" "$RUNS" bash "$W/sops-merge.sh" --vs-- bash "$W/tresor-merge.sh"

# What each result is: same data; how many ciphertexts changed against ours.
bash "$W/tresor-merge.sh" 2>/dev/null; bash "$W/sops-merge.sh"
"$TRESOR" decrypt "$W/t-work.yaml" > "$W/t-merged.plain"; "$SOPS" decrypt "$W/s-work.yaml" > "$W/s-merged.plain"
cmp -s "$W/t-merged.plain" "$W/s-merged.plain" && echo "same merged plaintext: yes" || echo "same merged plaintext: NO"
changed() { diff <(grep -o 'ENC\[[^]]*\]' "$1" | head -1000) <(grep -o 'ENC\[[^]]*\]' "$2" | head -1000) | grep -c '^>' || true; }
echo "values whose ciphertext differs from ours: tresor $(changed "$W/t-ours.yaml" "$W/t-work.yaml"), sops workflow $(changed "$W/s-ours.yaml" "$W/s-work.yaml")"
rm -f "$W/t-merged.plain" "$W/s-merged.plain"
