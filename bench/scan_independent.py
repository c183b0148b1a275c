#!/usr/bin/env python3
"""Recall on token samples nobody here wrote: the examples other scanners' authors keep next
to their rules, and the look-alikes they keep as negatives.

- Kingfisher (mongodb/kingfisher): `examples` and `negative_examples` of every rule in
  data/rules/*.yml.
- Betterleaks (betterleaks/betterleaks): the string literals of every rule's `tps` and `fps`
  in cmd/generate/config/rules/*.go (samples generated at run time by Go code are skipped: no
  Go here to run them).

Each sample is written to a file of its own and scanned by tresor (every tier, and the
default medium+high), gitleaks, Betterleaks and Kingfisher in the same run. A positive
counts as found when any finding lands in its file; a look-alike counts as flagged likewise.
A scanner's recall on its own samples is not independent, so each tool's row on its own
source is marked.

Usage: python3 bench/scan_independent.py [--kingfisher REPO] [--betterleaks REPO] [--tresor BIN]
  (REPO: a git clone; defaults: this machine's library snapshots)"""
import argparse, collections, json, os, re, shutil, subprocess, sys, tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--kingfisher", default="/work/.mirror/mongodb+kingfisher/repo")
ap.add_argument("--betterleaks", default="/work/.mirror/betterleaks+betterleaks/repo")
ap.add_argument("--tresor", default=os.path.join(ROOT, "target", "release", "tresor"))
ap.add_argument("--betterleaks-bin", default=None)
ap.add_argument("--misses", type=int, default=0, help="print this many of tresor's misses per source")
args = ap.parse_args()


def git_files(repo, prefix, suffix):
    out = subprocess.run(["git", "-C", repo, "ls-tree", "-r", "--name-only", "HEAD", prefix], capture_output=True, text=True, check=True)
    for path in out.stdout.split():
        if path.endswith(suffix):
            yield path, subprocess.run(["git", "-C", repo, "show", f"HEAD:{path}"], capture_output=True, text=True, check=True).stdout


def kingfisher_samples(repo):
    pos, neg = [], []
    for path, text in git_files(repo, "data/rules", ".yml"):
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            continue
        for r in doc.get("rules") or []:
            rid = r.get("id", path)
            pos += [(rid, e) for e in r.get("examples") or [] if isinstance(e, str)]
            neg += [(rid, e) for e in r.get("negative_examples") or [] if isinstance(e, str)]
    return pos, neg


GO_STRING = re.compile(r'`([^`]*)`|"((?:[^"\\\n]|\\.)*)"')


def go_literals(block):
    """The whole-literal elements of a Go slice/append body: elements that are one string
    literal (or literals joined by +); anything with a call or a variable is skipped."""
    items, depth, cur = [], 0, ""
    i = 0
    while i < len(block):
        c = block[i]
        if c in "`\"":
            m = GO_STRING.match(block, i)
            if not m:
                break
            cur += m.group(0)
            i = m.end()
            continue
        if c == "/" and block[i:i + 2] == "//":
            j = block.find("\n", i)
            i = len(block) if j < 0 else j
            continue
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        if c == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    items.append(cur)
    out = []
    for it in items:
        it = it.strip()
        if not it:
            continue
        parts = [p.strip() for p in it.split("+")] if not GO_STRING.fullmatch(it) else [it]
        vals = []
        for p in parts:
            m = GO_STRING.fullmatch(p)
            if not m:
                vals = None
                break
            vals.append(m.group(1) if m.group(1) is not None else bytes(m.group(2), "utf-8").decode("unicode_escape"))
        if vals:
            out.append("".join(vals))
    return out


def betterleaks_samples(repo):
    pos, neg = [], []
    for path, text in git_files(repo, "cmd/generate/config/rules", ".go"):
        if path.endswith("_test.go"):
            continue
        for fn in re.split(r"\nfunc ", text)[1:]:
            rid = re.search(r'RuleID:\s*"([^"]+)"', fn)
            rid = rid.group(1) if rid else path
            for m in re.finditer(r'(tps|fps)\s*(?::=|=)\s*(?:\[\]string\{|append\(\w+,)', fn):
                start = m.end()
                depth, j = 1, start
                while j < len(fn) and depth:
                    if fn[j] in "`\"":
                        mm = GO_STRING.match(fn, j)
                        j = mm.end() if mm else j + 1
                        continue
                    depth += fn[j] in "({[" and 1 or 0
                    depth -= fn[j] in ")}]" and 1 or 0
                    j += 1
                body = fn[start:j - 1]
                target = pos if m.group(1) == "tps" else neg
                target += [(rid, s) for s in go_literals(body)]
            # GenerateSampleSecrets("name", "literal") places a literal secret in contexts.
            for g in re.finditer(r'GenerateSampleSecrets\(\s*"([^"]*)"\s*,\s*(`[^`]*`|"(?:[^"\\]|\\.)*")\s*\)', fn):
                lit = g.group(2)[1:-1]
                pos.append((rid, f'{g.group(1)}_api_token = "{lit}"'))
    return pos, neg


def dedup(samples):
    seen, out = set(), []
    for rid, s in samples:
        if s.strip() and s not in seen:
            seen.add(s)
            out.append((rid, s))
    return out


def write(dirpath, samples, tag):
    names = []
    for i, (rid, s) in enumerate(samples):
        name = f"{tag}-{i:05d}.txt"
        with open(os.path.join(dirpath, name), "w") as f:
            f.write(s if s.endswith("\n") else s + "\n")
        names.append(name)
    return names


def files_of(tool, report):
    try:
        text = open(report).read()
    except OSError:
        return None
    dec, i, objs = json.JSONDecoder(), 0, []
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        v, i = dec.raw_decode(text, i)
        objs.append(v)
    files = set()
    for o in objs:
        if tool == "kingfisher":
            for f in (o.get("findings") or []) if isinstance(o, dict) else []:
                p = (f.get("finding") or {}).get("path") or f.get("path") or ""
                files.add(os.path.basename(p))
        elif tool == "betterleaks":
            for f in o.get("findings") or []:
                p = (f.get("location") or {}).get("path") or (f.get("attributes") or {}).get("path") or ""
                files.add(os.path.basename(p))
        elif tool == "tresor-default":
            files |= {os.path.basename(f["File"]) for f in o if f.get("Confidence") != "low"}
        else:
            files |= {os.path.basename(f["File"]) for f in o}
    return files


sources = {}
if os.path.isdir(args.kingfisher):
    p, n = kingfisher_samples(args.kingfisher)
    sources["kingfisher"] = (dedup(p), dedup(n))
if os.path.isdir(args.betterleaks):
    p, n = betterleaks_samples(args.betterleaks)
    sources["betterleaks"] = (dedup(p), dedup(n))
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
                rows.append((src, tool, None, None, len(pos), len(neg)))
                continue
            tp = sum(1 for n in pnames if n in found)
            fp = sum(1 for n in nnames if n in found)
            rows.append((src, tool, tp, fp, len(pos), len(neg)))
        if args.misses:
            found = reports["tresor (all tiers)"] or set()
            missed = collections.Counter(rid for (rid, _), n in zip(pos, pnames) if n not in found)
            print(f"tresor's misses on {src} by rule: " + ", ".join(f"{k} {v}" for k, v in missed.most_common(args.misses)))
            flagged = [(rid, s[:100]) for (rid, s), n in zip(neg, nnames) if n in found]
            for rid, s in flagged[: args.misses]:
                print(f"  flagged look-alike ({rid}): {s!r}")
    print(f"{'samples from':13} {'tool':20} {'recall':>16} {'look-alikes flagged':>22}")
    for src, tool, tp, fp, np_, nn in rows:
        # The installed Kingfisher (2.14, PyPI kingfisher-bin) runs rules named betterleaks.*, so
        # only Betterleaks on its own samples is marked.
        own = " (its own samples)" if tool == src == "betterleaks" else ""
        if tp is None:
            print(f"{src:13} {tool:20} {'—':>16} {'—':>22}")
            continue
        print(f"{src:13} {tool:20} {tp:>6}/{np_:<5} {tp / np_:.3f} {fp:>8}/{nn:<5} {fp / max(nn, 1):.3f}{own}")
finally:
    shutil.rmtree(work, ignore_errors=True)
