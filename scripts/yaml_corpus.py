#!/usr/bin/env python3
"""YAML interop on real Helm values files (issue 24): every `values*.yaml` of public chart
repositories (the snapshots the library's fetch brings: prometheus-community, grafana,
bitnami, external-secrets by default), run both directions against the real sops:

  * tresor encrypts: the round trip is byte-exact, and sops decrypts tresor's file without
    an "unencrypted comment" warning to the data and comments it gives for its own
    encryption of the same file;
  * sops encrypts, tresor decrypts: the data and comments sops prints for its own file.

Comments are compared as the sorted list of comment texts (own-line and after a value), so
a comment lost, left encrypted or duplicated shows; where sops itself loses one (a comment
inside an empty flow mapping) tresor keeping it is listed apart, not as a failure. Files sops
refuses are counted, not tested. Not a test: real files change under a snapshot.

Usage: python3 scripts/yaml_corpus.py [REPO_GIT_DIR ...]   (TRESOR=path, default target/debug;
       JOBS=n; LIMIT=n files per repository)
"""
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRESOR = os.environ.get("TRESOR", os.path.join(ROOT, "target", "debug", "tresor"))
KEY = os.path.join(ROOT, "testdata", "keys", "age-test.txt")
RECIPIENT = [l.split()[-1] for l in open(KEY) if "public key" in l][0]
ENV = dict(os.environ, SOPS_AGE_KEY_FILE=KEY)
DEFAULT = ["prometheus-community+helm-charts", "grafana+helm-charts", "bitnami+charts", "external-secrets+external-secrets"]


def files_of(git_dir):
    """(path, bytes) of every values*.yaml at HEAD."""
    names = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "-r", "--name-only", "HEAD"],
                           capture_output=True, text=True).stdout.split("\n")
    wanted = [n for n in names if re.search(r"(^|/)values[^/]*\.ya?ml$", n)]
    limit = int(os.environ.get("LIMIT", "0")) or len(wanted)
    for n in wanted[:limit]:
        blob = subprocess.run(["git", "--git-dir", git_dir, "show", f"HEAD:{n}"], capture_output=True)
        if blob.returncode == 0:
            yield n, blob.stdout


def comments(text):
    out = []
    for line in text.splitlines():
        t = line.lstrip()
        at = 0 if t.startswith("#") else (t.find(" #") + 1 if " #" in t else -1)
        if at >= 0:
            c = t[at:].rstrip()
            if c != "#":
                out.append(c)
    return sorted(out)


def integral(v):
    """sops prints a float without a fraction as an integer (`60.0` -> `60`, same number);
    tresor keeps the spelling. Compared as numbers, not as spellings."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        return {k: integral(x) for k, x in v.items()}
    if isinstance(v, list):
        return [integral(x) for x in v]
    return v


def data(text):
    try:
        return [json.dumps(integral(d), sort_keys=True, default=str) for d in yaml.safe_load_all(text)]
    except Exception as e:  # noqa: BLE001
        return f"unparsable: {e}"


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, env=ENV, **kw)


def check(work, i, name, raw):
    d = os.path.join(work, str(i))
    os.makedirs(d)
    plain = os.path.join(d, "values.yaml")
    with open(plain, "wb") as f:
        f.write(raw)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return ("not UTF-8", name, "")
    s = run("sops", "encrypt", "--age", RECIPIENT, plain)
    if s.returncode != 0:
        return ("sops refuses", name, s.stderr.decode(errors="replace").strip().splitlines()[-1:])
    senc = os.path.join(d, "s.yaml")
    with open(senc, "wb") as f:
        f.write(s.stdout)
    own = run("sops", "decrypt", senc)
    own_out = own.stdout.decode(errors="replace")
    if own.returncode != 0 or b"unencrypted comment" in own.stderr:
        return ("sops cannot read its own file", name, "")
    problems = []
    # tresor → sops
    t = run(TRESOR, "encrypt", "--age", RECIPIENT, plain)
    if t.returncode != 0:
        return ("tresor refuses", name, t.stderr.decode(errors="replace").strip().splitlines()[:1])
    tenc = os.path.join(d, "t.yaml")
    with open(tenc, "wb") as f:
        f.write(t.stdout)
    back = run(TRESOR, "decrypt", tenc)
    if back.stdout != raw:
        problems.append("round trip differs" if back.returncode == 0 else "tresor cannot read its own file")
    sd = run("sops", "decrypt", tenc)
    sout = sd.stdout.decode(errors="replace")
    if sd.returncode != 0:
        problems.append("sops cannot read tresor's file")
    else:
        if b"unencrypted comment" in sd.stderr or "ENC[" in sout:
            problems.append("sops leaves a comment of tresor's file encrypted")
        if data(sout) != data(own_out):
            problems.append("sops reads other data from tresor's file")
        elif comments(sout) != comments(own_out) and not ("ENC[" in sout):
            extra = collections.Counter(comments(sout)) - collections.Counter(comments(own_out))
            lost = collections.Counter(comments(own_out)) - collections.Counter(comments(sout))
            problems.append(("sops keeps more comments of tresor's file" if extra and not lost
                             else "sops reads other comments from tresor's file"))
    # sops → tresor
    td = run(TRESOR, "decrypt", senc)
    tout = td.stdout.decode(errors="replace")
    if td.returncode != 0:
        problems.append("tresor cannot read sops' file: " + td.stderr.decode(errors="replace").strip()[:160])
    else:
        if data(tout) != data(own_out):
            problems.append("tresor reads other data from sops' file")
        elif "ENC[" in tout:
            problems.append("tresor leaves a comment of sops' file encrypted")
        elif comments(tout) != comments(own_out):
            extra = collections.Counter(comments(tout)) - collections.Counter(comments(own_out))
            lost = collections.Counter(comments(own_out)) - collections.Counter(comments(tout))
            problems.append(("tresor keeps comments sops drops" if extra and not lost
                             else "tresor reads other comments from sops' file"))
    return ("ok" if not problems else "; ".join(sorted(set(problems))), name, "")


def main():
    repos = sys.argv[1:] or [os.path.join("/work/.mirror", r, "repo") for r in DEFAULT]
    work = tempfile.mkdtemp(prefix="tresor-yaml-corpus-")
    seen = set()
    jobs = []
    for repo in repos:
        if not os.path.isdir(repo):
            print(f"skipped {repo}: not there", file=sys.stderr)
            continue
        for name, raw in files_of(repo):
            if raw in seen:
                continue
            seen.add(raw)
            jobs.append((os.path.basename(os.path.dirname(repo.rstrip("/"))) + ":" + name, raw))
    results = collections.defaultdict(list)
    with concurrent.futures.ThreadPoolExecutor(int(os.environ.get("JOBS", "4"))) as ex:
        futs = [ex.submit(check, work, i, n, r) for i, (n, r) in enumerate(jobs)]
        for f in concurrent.futures.as_completed(futs):
            outcome, name, detail = f.result()
            results[outcome].append((name, detail))
    print(f"{len(jobs)} distinct values files")
    for outcome, items in sorted(results.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(items):5}  {outcome}")
        if outcome != "ok":
            for name, detail in sorted(items)[:12]:
                print(f"         {name} {detail}")


if __name__ == "__main__":
    main()
