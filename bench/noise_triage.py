#!/usr/bin/env python3
"""Precision of tresor's findings on the noise corpus, from the checked-in triage.

Reads bench/out/noise/<tree>.tresor-all.json (written by bench/scan_noise.sh with
--confidence low) and bench/noise-triage.tsv; prints, per tree, the findings of the default
output (medium and high) and of every tier, split into real / fixture / false / untriaged.
Precision here is (real + fixture) / all: a fixture is a value someone put there on purpose,
which a scanner is right to show. Untriaged findings are listed and count against it.

Usage: python3 bench/noise_triage.py [bench/out/noise]"""
import collections, csv, json, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench", "out", "noise")
verdicts = {}
with open(os.path.join(ROOT, "bench", "noise-triage.tsv")) as f:
    rows = csv.DictReader((l for l in f if not l.startswith("#")), delimiter="\t")
    for r in rows:
        verdicts[(r["tree"], r["file"], int(r["line"]), r["rule"])] = r["verdict"]

print(f"{'tree':8} {'shown':>6} {'real':>5} {'fixture':>8} {'false':>6} {'untriaged':>10} {'precision':>10}   (all tiers: findings, precision)")
untriaged = []
worst = 1.0
for tree in ["rust", "python", "npm", "go"]:
    path = os.path.join(out_dir, f"{tree}.tresor-all.json")
    if not os.path.exists(path):
        print(f"{tree:8} no run ({path})")
        continue
    findings = json.load(open(path))
    def tally(fs):
        c = collections.Counter()
        for x in fs:
            v = verdicts.get((tree, x["File"], x["StartLine"], x["RuleID"]), "untriaged")
            c[v] += 1
            if v == "untriaged":
                untriaged.append(f"{tree}\t{x['Confidence']}\t{x['RuleID']}\t{x['File']}\t{x['StartLine']}")
        n = sum(c.values())
        return c, n, (c["real"] + c["fixture"]) / n if n else 1.0
    shown = [x for x in findings if x.get("Confidence", "medium") != "low"]
    c, n, p = tally(shown)
    untriaged_shown = len(untriaged)
    call, nall, pall = tally(findings)
    del untriaged[untriaged_shown:]  # list the untriaged findings once
    untriaged.extend(f"{tree}\t{x['Confidence']}\t{x['RuleID']}\t{x['File']}\t{x['StartLine']}" for x in findings
                     if x.get("Confidence") == "low" and (tree, x["File"], x["StartLine"], x["RuleID"]) not in verdicts)
    worst = min(worst, p)
    print(f"{tree:8} {n:>6} {c['real']:>5} {c['fixture']:>8} {c['false']:>6} {c['untriaged']:>10} {p:>10.1%}   ({nall}, {pall:.1%})")
if untriaged:
    print("\nuntriaged (add them to bench/noise-triage.tsv):")
    print("\n".join(untriaged))
print(f"\nlowest precision of the default output: {worst:.1%} (target >= 90%)")
