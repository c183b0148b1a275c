"""Token samples other scanners' authors keep next to their rules (Kingfisher's rule
`examples`/`negative_examples`, Betterleaks' generator `tps`/`fps` string literals), read
from their repositories. Shared by bench/scan_independent.py and scripts/scan_coverage.py."""
import os, re, subprocess

import yaml


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




def sample_from_regex(pattern, rng):
    """One string the regex matches, built from its parse tree: repeats take their minimum
    (context such as `[\\w.-]{0,50}?` shrinks away) unless the minimum is below 8 and the
    maximum allows more (a secret's body, e.g. `[a-z0-9]{32}` or `{16,}`, gets a random
    length in its bounds), alternations their first branch, classes a random member. Go RE2
    syntax Python cannot read (\\z, \\p{..}) raises ValueError."""
    import re._parser as sre  # stdlib; the only regex parser here
    import string
    pattern = pattern.replace(r"\z", r"\Z")
    if r"\p{" in pattern or r"\P{" in pattern:
        raise ValueError("unicode classes")
    tree = sre.parse(pattern)
    alnum = string.ascii_letters + string.digits
    cats = {
        sre.CATEGORY_DIGIT: string.digits, sre.CATEGORY_WORD: alnum + "_", sre.CATEGORY_SPACE: " ",
        sre.CATEGORY_NOT_DIGIT: string.ascii_letters, sre.CATEGORY_NOT_WORD: "-", sre.CATEGORY_NOT_SPACE: alnum,
    }

    def one_of_class(items):
        chars, negate = [], False
        for op, av in items:
            if op == sre.NEGATE:
                negate = True
            elif op == sre.LITERAL:
                chars.append(chr(av))
            elif op == sre.RANGE:
                chars += [chr(c) for c in range(av[0], av[1] + 1)]
            elif op == sre.CATEGORY:
                chars += list(cats.get(av, alnum))
        if negate:
            chars = [c for c in alnum if c not in chars]
        pool = [c for c in chars if c.isalnum()] or chars
        return rng.choice(pool) if pool else "a"

    def gen(seq):
        out = []
        for op, av in seq:
            if op == sre.LITERAL:
                out.append(chr(av))
            elif op == sre.NOT_LITERAL:
                out.append("a" if chr(av) != "a" else "b")
            elif op == sre.ANY:
                out.append(rng.choice(alnum))
            elif op == sre.IN:
                out.append(one_of_class(av))
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
                lo, hi, sub = av
                hi = lo + 64 if hi == sre.MAXREPEAT else hi
                n = lo if (lo >= 8 or hi == lo) else (rng.randint(max(lo, 8), min(hi, 64)) if hi >= 8 and lo > 0 else lo)
                out += [gen(sub) for _ in range(n)]
            elif op == sre.SUBPATTERN:
                out.append(gen(av[-1]))
            elif op == sre.BRANCH:
                out.append(gen(av[1][0]))
            elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT, sre.GROUPREF):
                continue
            elif op == sre.CATEGORY:
                out.append(rng.choice(cats.get(av, alnum)))
            else:
                raise ValueError(f"unsupported {op}")
        return "".join(out)

    return gen(tree)


def betterleaks_generated(repo, per_rule=3, seed=7):
    """Samples made from each Betterleaks rule's own regex (as its generator's
    `secrets.NewSecret` does), kept only when Python's `re` agrees the regex matches them."""
    import random
    import tomllib
    import warnings
    text = subprocess.run(["git", "-C", repo, "show", "HEAD:config/betterleaks.toml"], capture_output=True, text=True, check=True).stdout
    rng = random.Random(seed)
    out = []
    for r in tomllib.loads(text)["rules"]:
        if "regex" not in r:
            continue
        for _ in range(per_rule):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s = sample_from_regex(r["regex"], rng)
                    if re.search(r["regex"].replace(r"\z", r"\Z"), s):
                        out.append((r["id"], s))
            except (ValueError, re.error, RecursionError):
                break
    return out
