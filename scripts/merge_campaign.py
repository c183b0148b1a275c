#!/usr/bin/env python3
"""Merge-driver campaign (issue 22): random pairs of branch changes to one encrypted file,
merged with the real git through `tresor git merge-driver`, in every text store.

One branch is a key holder's (set, add, rotate); the other may also be written without any
key — the encryption rule changed in the metadata, the file re-created for the team plus an
attacker, or for the team alone. After each merge it checks:
  * exit 0: no value that either side held encrypted is in clear in the result, the
    attacker's key opens nothing, tresor and sops both decrypt the result;
  * exit 1: the working file is still encrypted (ours), no plaintext anywhere in it.
Prints one line of counts; exits 1 on the first violation, naming it.

Usage: python3 scripts/merge_campaign.py [MERGES] [SEED]   (TRESOR=path, default target/debug)
"""
import configparser
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRESOR = os.environ.get("TRESOR", os.path.join(ROOT, "target", "debug", "tresor"))
TEAM_KEY = os.path.join(ROOT, "testdata", "keys", "age-test.txt")
STORES = ["yaml", "json", "env", "ini"]
THEIRS_OPS = [
    "set", "add", "delete", "rotate", "rule", "recreate_attacker", "recreate_team", "updatekeys", "sops_yaml_attacker",
]
OURS_OPS = ["set", "add", "delete", "rotate"]


def run(args, cwd, env=None, check=True, stdin=None):
    e = dict(os.environ, SOPS_AGE_KEY_FILE=TEAM_KEY, GIT_CONFIG_NOSYSTEM="1", HOME=cwd)
    e["PATH"] = os.path.dirname(TRESOR) + ":" + e["PATH"]
    e.update(env or {})
    p = subprocess.run(args, cwd=cwd, env=e, capture_output=True, text=True, input=stdin)
    if check and p.returncode != 0:
        raise RuntimeError(f"{args}: {p.returncode}: {p.stderr}")
    return p


def git(repo, *args, check=True):
    return run(["git", "-c", "user.name=t", "-c", "user.email=t@e.eu", "-c", "commit.gpgsign=false", *args], repo, check=check)


def public(key_file):
    for line in open(key_file):
        if line.startswith("# public key: "):
            return line.split(": ", 1)[1].strip()
    raise RuntimeError("no public key")


def render(store, items):
    if store == "yaml":
        return "".join(f"{k}: {v}\n" for k, v in items)
    if store == "json":
        return json.dumps(dict(items), indent=2) + "\n"
    if store == "env":
        return "".join(f"{k.upper()}={v}\n" for k, v in items)
    return "[app]\n" + "".join(f"{k} = {v}\n" for k, v in items)


def values(store, text):
    """key -> value of a plaintext or encrypted file (metadata left out)."""
    if store == "yaml":
        import yaml

        d = yaml.safe_load(text) or {}
    elif store == "json":
        d = json.loads(text)
    elif store == "env":
        d = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        d = {k: v for k, v in d.items() if not k.startswith("sops_")}
    else:
        cp = configparser.ConfigParser(interpolation=None)
        cp.optionxform = str
        cp.read_string(text)
        d = dict(cp["app"]) if cp.has_section("app") else {}
    d.pop("sops", None)
    return {str(k).lower(): str(v) for k, v in d.items()}


def edit(repo, name, store, change, env=None):
    """A key holder edits FILE in $EDITOR: change(dict) -> dict."""
    plain = run([TRESOR, "decrypt", name], repo).stdout
    items = list(values(store, plain).items())
    new = change(dict(items))
    script = os.path.join(repo, "..", "new-plain")
    with open(script, "w") as f:
        f.write(render(store, list(new.items())))
    run([TRESOR, "edit", name], repo, env={"EDITOR": f"cp {script}", **(env or {})})


def fresh(rng):
    return f"v{rng.randrange(10**12):012d}"


def apply(op, repo, name, store, rng, team, attacker, side_values):
    if op in ("set", "add"):
        def ch(d):
            k = rng.choice(sorted(d)) if op == "set" else f"new_{rng.randrange(10**6)}"
            d[k] = fresh(rng)
            side_values.append(d[k])
            return d
        edit(repo, name, store, ch)
    elif op == "delete":
        def ch(d):
            if len(d) > 1:
                del d[rng.choice(sorted(d))]
            return d
        edit(repo, name, store, ch)
    elif op == "rotate":
        run([TRESOR, "rotate", "-i", name], repo)
    elif op == "rule":
        # Keyless: only the metadata's unencrypted_suffix, to one that matches a key.
        text = open(os.path.join(repo, name)).read()
        suffix = "_TOK" if store == "env" else "_tok"
        for sep in ["=", ": ", " = ", '": "']:
            text = text.replace(f"unencrypted_suffix{sep}_unencrypted", f"unencrypted_suffix{sep}{suffix}", 1)
        open(os.path.join(repo, name), "w").write(text)
    elif op == "sops_yaml_attacker":
        # Keyless: .sops.yaml names the attacker too, and the file is re-created to match.
        open(os.path.join(repo, ".sops.yaml"), "w").write(f"creation_rules:\n  - age: {team},{attacker}\n")
        apply("recreate_attacker", repo, name, store, rng, team, attacker, side_values)
    elif op in ("recreate_attacker", "recreate_team"):
        # Keyless: the file written anew with values the writer chose.
        items = [("user", "mallory"), ("db_tok", fresh(rng))]
        side_values.append(items[1][1])
        with open(os.path.join(repo, name), "w") as f:
            f.write(render(store, items))
        recips = team if op == "recreate_team" else f"{team},{attacker}"
        run([TRESOR, "encrypt", "-i", "--age", recips, name], repo, env={"SOPS_AGE_KEY_FILE": "/dev/null"})
    elif op == "updatekeys":
        # .sops.yaml names a colleague too (base always has one for this op).
        run([TRESOR, "updatekeys", "-y", name], repo)


def one(i, rng, workdir, team, attacker, attacker_key, colleague, counts):
    store = rng.choice(STORES)
    repo = os.path.join(workdir, f"r{i}")
    os.makedirs(repo)
    name = f"s.enc.{store}"
    git(repo, "init", "-q", "-b", "main")
    theirs_op, ours_op = rng.choice(THEIRS_OPS), rng.choice(OURS_OPS)
    rules = rng.choice(["none", "team", "team+colleague"]) if theirs_op != "updatekeys" else "team+colleague"
    if rules != "none":
        names = team if rules == "team" else f"{team},{colleague}"
        open(os.path.join(repo, ".sops.yaml"), "w").write(f"creation_rules:\n  - age: {names}\n")
    base_items = [("user", "admin"), ("db_tok", fresh(rng)), ("api_key", fresh(rng)), ("port", "5432")]
    all_values = [v for _, v in base_items if v.startswith("v")]
    with open(os.path.join(repo, name), "w") as f:
        f.write(render(store, base_items))
    run([TRESOR, "encrypt", "-i", "--age", team, name], repo)
    run([TRESOR, "git", "setup"], repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "theirs")
    apply(theirs_op, repo, name, store, rng, team, attacker, all_values)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", theirs_op)
    theirs_text = open(os.path.join(repo, name)).read()
    git(repo, "checkout", "-q", "main")
    apply(ours_op, repo, name, store, rng, team, attacker, all_values)
    git(repo, "commit", "-q", "-am", ours_op)
    ours_text = open(os.path.join(repo, name)).read()
    merge = git(repo, "merge", "-q", "--no-edit", "theirs", check=False)
    result = open(os.path.join(repo, name)).read()
    key = f"{theirs_op}/{ours_op}"
    # Values held in clear by a side (the 'rule' op makes db_tok clear in theirs' view of
    # the rules, but tresor never wrote it clear there: it stays ciphertext in the text).
    clear_somewhere = {v for t in (ours_text, theirs_text) for v in values(store, t).values()}
    secret_values = [v for v in all_values if v not in clear_somewhere]
    if merge.returncode == 0:
        counts["merged"] += 1
        counts.setdefault("merged:" + key, 0)
        counts["merged:" + key] += 1
        for v in secret_values:
            if v in result:
                raise RuntimeError(f"merge {i} ({store}, {key}): a value encrypted on a side is in clear in the result")
        peek = run([TRESOR, "decrypt", name], repo, env={"SOPS_AGE_KEY_FILE": attacker_key}, check=False)
        if peek.returncode == 0:
            raise RuntimeError(f"merge {i} ({store}, {key}): the attacker's key opens the merged file")
        run([TRESOR, "decrypt", name], repo)
        run(["sops", "decrypt", name], repo)
    elif merge.returncode == 1:
        counts["conflict"] += 1
        if result != ours_text and "<<<<<<<" not in result:
            raise RuntimeError(f"merge {i} ({store}, {key}): a conflict left something other than ours")
        for v in secret_values:
            if v in result:
                raise RuntimeError(f"merge {i} ({store}, {key}): plaintext in the conflicted file")
        git(repo, "merge", "--abort", check=False)
    else:
        raise RuntimeError(f"merge {i} ({store}, {key}): git merge exited {merge.returncode}: {merge.stderr}")
    shutil.rmtree(repo)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 22
    rng = random.Random(seed)
    workdir = tempfile.mkdtemp(prefix="tresor-merge-campaign-")
    team = public(TEAM_KEY)
    attacker_key = os.path.join(workdir, "attacker.txt")
    attacker = run([TRESOR, "keygen", "--output", attacker_key], workdir).stdout.strip()
    colleague = run([TRESOR, "keygen", "--output", os.path.join(workdir, "colleague.txt")], workdir).stdout.strip()
    counts = {"merged": 0, "conflict": 0}
    try:
        for i in range(n):
            one(i, rng, workdir, team, attacker, attacker_key, colleague, counts)
    except RuntimeError as e:
        print(f"VIOLATION: {e}")
        sys.exit(1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    merged = {k[7:]: v for k, v in counts.items() if k.startswith("merged:")}
    print(f"{n} merges (seed {seed}): {counts['merged']} merged, {counts['conflict']} conflicts, 0 violations")
    print("merged without conflict, by theirs/ours change: " + ", ".join(f"{k} {v}" for k, v in sorted(merged.items())))


if __name__ == "__main__":
    main()
