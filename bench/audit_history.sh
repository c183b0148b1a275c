#!/usr/bin/env bash
# Lifecycle audit from Git history (issue 28): a generated repository of 10,000 commits
# touching 200 SOPS files (bench/make_audit_repo.py; real tresor encryption to two age keys,
# then one value changed per commit, the second key removed halfway as updatekeys does).
# tresor: the per-value age report and the departed-key exposure report, without a key.
# Peer: no tool reports either; what teams run today is a file-level date per file
# (`git log -1 --format=%aI -- FILE` for each file, or grepping `lastmodified`), which
# answers a weaker question (when the file changed, not each value) — timed in the same run
# as the baseline.
# Usage: bash bench/audit_history.sh   (COMMITS=N FILES=M RUNS=R to change the sizes)
source "$(dirname "$0")/common.sh"
build_release
COMMITS=${COMMITS:-10000}
FILES=${FILES:-200}
RUNS=${RUNS:-5}
REPO="$OUT/audit-history"
rm -rf "$REPO"
export SOPS_AGE_KEY_FILE="$ROOT/testdata/keys/age-test.txt"
python3 "$ROOT/bench/make_audit_repo.py" "$TRESOR" "$REPO" "$COMMITS" "$FILES"
GONE=$(grep 'public key' "$ROOT/testdata/keys/age-test2.txt" | awk '{print $4}')
cd "$REPO"
per_file_dates() { for f in secrets/*.yaml; do git log -1 --format=%aI -- "$f"; done; }
# The exposure report exits 10 when values must rotate: that is its answer, not a failure.
exposure() { "$TRESOR" audit --exposed-to "$GONE" -r secrets --format json || [ $? -eq 10 ]; }
export -f per_file_dates exposure
export TRESOR GONE
measure_pair "value age, every value of $FILES files" "$RUNS" bash -c per_file_dates --vs-- "$TRESOR" audit --value-age -r secrets --format json
measure_pair "departed-key exposure, $FILES files" "$RUNS" bash -c per_file_dates --vs-- bash -c exposure
"$TRESOR" audit --value-age -r secrets --format json > "$OUT/value-age.json"
exposure > "$OUT/exposure.json"
python3 - "$OUT/value-age.json" "$OUT/exposure.json" <<'PY'
import json, sys
ages, exp = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(f"value age: {len(ages)} values, {sum(a['exact'] for a in ages)} exact, the rest lower bounds")
print(f"exposure: {exp['revisions_exposed']} of {exp['revisions_read']} revisions readable by the removed key; "
      f"{len(exp['must_rotate'])} values must rotate, {len(exp['unknown'])} unknown without a key")
PY
