#!/usr/bin/env python3
"""Recall on token samples nobody here wrote: the examples other scanners' authors keep next
to their rules, and the look-alikes they keep as negatives.

- Kingfisher (mongodb/kingfisher): `examples` and `negative_examples` of every rule in
  data/rules/*.yml.
- Betterleaks (betterleaks/betterleaks): the string literals of every rule's `tps` and `fps`
  in cmd/generate/config/rules/*.go, and ("bl-generated") three samples per rule made from
  the rule's own regex, as its generator does at run time (no Go here to run it).

Each sample is written to a file of its own and scanned by tresor (every tier, and the
default medium+high), gitleaks, Betterleaks and Kingfisher in the same run. A positive
counts as found when any finding lands in its file; a look-alike counts as flagged likewise.
A scanner's recall on its own samples is not independent, so each tool's row on its own
source is marked.

Usage: python3 bench/scan_independent.py [--kingfisher REPO] [--betterleaks REPO] [--tresor BIN]
  (REPO: a git clone; defaults: this machine's library snapshots)"""
import argparse, collections, json, os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reports import findings  # noqa: E402
from independent_samples import betterleaks_generated, betterleaks_samples, dedup, kingfisher_samples, write  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--kingfisher", default="/work/.mirror/mongodb+kingfisher/repo")
ap.add_argument("--betterleaks", default="/work/.mirror/betterleaks+betterleaks/repo")
ap.add_argument("--tresor", default=os.path.join(ROOT, "target", "release", "tresor"))
ap.add_argument("--betterleaks-bin", default=None)
ap.add_argument("--misses", type=int, default=0, help="print this many of tresor's misses per source")
args = ap.parse_args()


def files_of(tool, report):
    """Basenames of the files a report has findings in (`tresor-default`: medium and high)."""
    found = findings("tresor" if tool.startswith("tresor") else tool, report)
    if found is None:
        return None
    return {os.path.basename(p) for _, p, c in found if not (tool == "tresor-default" and c == "low")}


# Betterleaks rules whose "secrets" are identifiers, not credentials: hosts, instance URLs,
# client and app IDs, cloud and token *names*. A scanner that stays quiet on them is right;
# recall is also reported without them ("secrets only").
IDENTIFIER_RULES = {
    "artifactory-jfrog-url", "salesforce-instance-url.1", "snowflake-account-host.1", "supabase-project-url",
    "tableau-server-host.1", "tableau-personal-access-token-name.1", "cloudinary-cloud-name", "planetscale-id",
    "lark-app-id", "canva-client-id", "ebay-client-id", "aikido-client-id", "clickhouse-cloud-key-id",
    "azure-storage-account-name", "polymarket-address", "mongodb-atlas-service-account-id",
}

sources = {}
if os.path.isdir(args.kingfisher):
    p, n = kingfisher_samples(args.kingfisher)
    sources["kingfisher"] = (dedup(p), dedup(n))
if os.path.isdir(args.betterleaks):
    p, n = betterleaks_samples(args.betterleaks)
    sources["betterleaks"] = (dedup(p), dedup(n))
    # Three samples per rule made from its own regex (what its generator does at run time):
    # random bodies in the rule's own shape, so every tool but Betterleaks is on foreign ground.
    sources["bl-generated"] = (dedup(betterleaks_generated(args.betterleaks)), [])
if not sources:
    sys.exit("no sample source found (pass --kingfisher / --betterleaks)")

bl = args.betterleaks_bin or next(iter(subprocess.run(
    ["bash", "-c", "find bench/out/noise/betterleaks-venv -path '*betterleaks/bin/betterleaks' -type f 2>/dev/null | head -1"],
    cwd=ROOT, capture_output=True, text=True).stdout.split()), None)
bl = bl and os.path.join(ROOT, bl)
work = tempfile.mkdtemp(prefix="tresor-indep-")
try:
    rows = []
    for src, (pos, neg) in sources.items():
        d = os.path.join(work, src)
        os.makedirs(d)
        pnames = write(d, pos, "pos")
        nnames = write(d, neg, "neg")
        reports = {}
        r = os.path.join(work, f"{src}.tresor.json")
        subprocess.run([args.tresor, "scan", ".", "--no-guard", "--confidence", "low", "--exit-code", "0", "--format", "json", "--report", r], cwd=d, capture_output=True)
        reports["tresor (all tiers)"] = files_of("tresor", r)
        reports["tresor (default)"] = files_of("tresor-default", r)
        r = os.path.join(work, f"{src}.gitleaks.json")
        subprocess.run(["gitleaks", "dir", "--no-banner", "--exit-code", "0", "--report-format", "json", "--report-path", r, d], capture_output=True)
        reports["gitleaks"] = files_of("gitleaks", r)
        if bl:
            r = os.path.join(work, f"{src}.betterleaks.json")
            subprocess.run([bl, "fs", ".", "--no-banner", "-o", r], cwd=d, capture_output=True)
            reports["betterleaks"] = files_of("betterleaks", r)
        r = os.path.join(work, f"{src}.kingfisher.json")
        subprocess.run(["kingfisher", "scan", d, "--no-validate", "--no-update-check", "-f", "json", "-o", r], capture_output=True)
        reports["kingfisher"] = files_of("kingfisher", r)
        for tool, found in reports.items():
            if found is None:
                rows.append((src, tool, None, None, len(pos), len(neg), None, None, None))
                continue
            tp = sum(1 for n in pnames if n in found)
            fp = sum(1 for n in nnames if n in found)
            secrets = [n for (rid, _), n in zip(pos, pnames) if rid not in IDENTIFIER_RULES]
            tps = sum(1 for n in secrets if n in found)
            # Look-alikes only this tool flags: Betterleaks' fps are negatives *for the rule
            # they sit next to*, and many are secret-shaped assignments every scanner reports
            # (`api_key=8b6f…` next to a rule that wants its provider's name); what neither
            # gitleaks nor Betterleaks flags is noise of this tool's own.
            others = [reports.get(t) or set() for t in ("gitleaks", "betterleaks") if t != tool]
            alone = sum(1 for n in nnames if n in found and not any(n in o for o in others))
            rows.append((src, tool, tp, fp, len(pos), len(neg), tps, len(secrets), alone))
        if args.misses:
            found = reports["tresor (all tiers)"] or set()
            missed = collections.Counter(rid for (rid, _), n in zip(pos, pnames) if n not in found)
            print(f"tresor's misses on {src} by rule: " + ", ".join(f"{k} {v}" for k, v in missed.most_common(args.misses)))
            flagged = [(rid, s[:100]) for (rid, s), n in zip(neg, nnames) if n in found]
            for rid, s in flagged[: args.misses]:
                print(f"  flagged look-alike ({rid}): {s!r}")
    print(f"{'samples from':13} {'tool':20} {'recall':>16} {'look-alikes flagged':>22} {'secrets only':>18} {'flagged by it alone':>20}")
    for src, tool, tp, fp, np_, nn, tps, ns, alone in rows:
        # The installed Kingfisher (2.14, PyPI kingfisher-bin) runs rules named betterleaks.*, so
        # only Betterleaks on its own samples is marked.
        own = " (its own samples)" if tool == "betterleaks" and src in ("betterleaks", "bl-generated") else ""
        if tp is None:
            print(f"{src:13} {tool:20} {'—':>16} {'—':>22}")
            continue
        print(f"{src:13} {tool:20} {tp:>6}/{np_:<5} {tp / np_:.3f} {fp:>8}/{nn:<5} {fp / max(nn, 1):.3f} {tps:>6}/{ns:<5} {tps / max(ns, 1):.3f} {alone:>8}/{nn:<5} {alone / max(nn, 1):.3f}{own}")
finally:
    shutil.rmtree(work, ignore_errors=True)
