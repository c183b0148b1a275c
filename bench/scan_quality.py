#!/usr/bin/env python3
"""Recall and false positives on the labelled corpus (testdata/scan), for tresor, gitleaks
and detect-secrets, side by side. A true positive is a finding in a positives/ file on a
line that holds an expected secret; negatives/ files should produce nothing.

Usage: python3 bench/scan_quality.py [path/to/tresor]"""
import json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "testdata", "scan")
TRESOR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "tresor")
expected = json.load(open(os.path.join(CORPUS, "expected.json")))
# Lines that hold an expected secret: every non-comment line of a positive file that a
# rule is expected for (the files are built one secret per line).
def secret_lines(rel):
    lines = open(os.path.join(CORPUS, "positives", rel)).read().splitlines()
    return {i + 1 for i, l in enumerate(lines) if l.strip() and not l.startswith(("#", "FROM", "[", "users:", "- name", "  user:", "image:", "postgresql:", "  auth:", "    username", "redis:", "  existing", "datadog:", "twilio:", "-----END")) and not l.strip().startswith(("user:", "existingSecret"))}

def norm(path):
    p = path.replace("\\", "/")
    for pre in (CORPUS + "/", "testdata/scan/", "./"):
        if p.startswith(pre): p = p[len(pre):]
    return p

def run_tresor():
    out = subprocess.run([TRESOR, "scan", "positives", "negatives", "--no-guard", "--confidence", "low", "--format", "json"], cwd=CORPUS, capture_output=True, text=True)
    return [(norm(f["File"]), f["StartLine"]) for f in json.loads(out.stdout)]

def run_gitleaks():
    with tempfile.TemporaryDirectory() as d:
        rep = os.path.join(d, "r.json")
        subprocess.run(["gitleaks", "dir", "--no-banner", "--report-format", "json", "--report-path", rep, "."], cwd=CORPUS, capture_output=True, text=True)
        return [(norm(f["File"]), f["StartLine"]) for f in json.load(open(rep))]

def run_detect_secrets():
    out = subprocess.run(["detect-secrets", "scan", "--all-files", "positives", "negatives"], cwd=CORPUS, capture_output=True, text=True)
    res = json.loads(out.stdout)["results"]
    return [(norm(f), s["line_number"]) for f, ss in res.items() for s in ss]

def score(found):
    want = {(f"positives/{rel}", ln) for rel in expected for ln in secret_lines(rel)}
    files_hit = {}
    tp_lines, fp = set(), 0
    for path, line in found:
        if path.startswith("positives/"):
            files_hit.setdefault(path, []).append(line)
            if (path, line) in want: tp_lines.add((path, line))
        elif path.startswith("negatives/"):
            fp += 1
    # Recall by expected finding: a positive file's expected secrets vs lines found there.
    total = sum(len(v) for v in expected.values())
    found_n = 0
    for rel, rules in expected.items():
        # Findings on secret lines (two rules may report one line, e.g. a key file by
        # name and its content), at most one per expected rule.
        hits = [l for l in files_hit.get(f"positives/{rel}", []) if l in secret_lines(rel)]
        found_n += min(len(rules), len(hits))
    return found_n, total, fp

rows = []
for name, fn in (("tresor", run_tresor), ("gitleaks 8.30.1", run_gitleaks), ("detect-secrets 1.5.0", run_detect_secrets)):
    try:
        tp, total, fp = score(fn())
        rows.append((name, tp, total, fp))
    except Exception as e:  # a missing tool is reported, not fatal
        rows.append((name, None, None, str(e)))
print(f"{'tool':<22} {'recall':>16} {'false positives':>16}")
for name, tp, total, fp in rows:
    if tp is None:
        print(f"{name:<22} {'error: ' + fp}")
    else:
        print(f"{name:<22} {f'{tp}/{total} ({100*tp/total:.0f}%)':>16} {fp:>16}")
