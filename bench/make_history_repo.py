#!/usr/bin/env python3
"""Build a reproducible Git repository with many commits for the history-scan benchmark,
through `git fast-import`. Secrets of kinds both tresor and gitleaks cover are planted in
some commits (and later removed), so recall can be compared.

Usage: make_history_repo.py DIR [COMMITS] [FILES]"""
import zlib
import os, random, string, subprocess, sys

out, commits, nfiles = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5000, int(sys.argv[3]) if len(sys.argv) > 3 else 400
rng = random.Random(7)
A = string.ascii_letters + string.digits
def r(n, al=A): return "".join(rng.choice(al) for _ in range(n))

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def gh_token(prefix, body30):
    """A GitHub/npm-style token: 30 random characters and their CRC-32 in base 62."""
    n, s = zlib.crc32(body30.encode()), ""
    while n: n, d = divmod(n, 62); s = B62[d] + s
    return prefix + body30 + s.rjust(6, "0")
words = ["config", "server", "client", "value", "items", "result", "handler", "request", "response", "cache", "index", "buffer", "render", "parse", "stream"]
def code_line():
    w = rng.sample(words, 3)
    return rng.choice([
        f"    let {w[0]}_{w[1]} = {w[2]}.get(\"{r(8)}\").unwrap_or_default();",
        f"    if {w[0]}.len() > {rng.randint(1, 999)} {{ return Err(\"{w[1]} {w[2]} failed\".into()); }}",
        f"    // {w[0]} {w[1]} {w[2]} {r(12)}",
        f"    {w[0]}.insert({rng.randint(0, 99)}, \"{r(16)}\");",
        f"fn {w[0]}_{w[1]}_{rng.randint(0, 9999)}() -> u32 {{ {rng.randint(0, 99999)} }}",
    ])
def secret(kind):
    return {
        "github": f"GITHUB_TOKEN = \"{gh_token('ghp_', r(30))}\"",
        "aws": f"AWS_ACCESS_KEY_ID = \"AKIA{r(16, string.ascii_uppercase + '234567')}\"",
        "stripe": f"STRIPE_KEY = \"sk_live_{r(32)}\"",
        "slack": f"SLACK = \"xoxb-{r(11, string.digits)}-{r(12, string.digits)}-{r(24)}\"",
        "gitlab": f"GITLAB = \"glpat-{r(20)}\"",
        "sendgrid": f"SENDGRID = \"SG.{r(22)}.{r(43)}\"",
        "npm": f"NPM_TOKEN = \"{gh_token('npm_', r(30))}\"",
        "pem": "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(r(64, A + "+/") for _ in range(8)) + "\n-----END RSA PRIVATE KEY-----",
    }[kind]
kinds = ["github", "aws", "stripe", "slack", "gitlab", "sendgrid", "npm", "pem"]
files = {f"src/mod{i // 40}/file{i}.rs": [code_line() for _ in range(rng.randint(20, 120))] for i in range(nfiles)}
os.makedirs(out, exist_ok=True)
subprocess.run(["git", "init", "-q", "-b", "main", out], check=True)
fi = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=out, stdin=subprocess.PIPE)
def data(s):
    b = s.encode()
    return b"data %d\n" % len(b) + b + b"\n"
planted = 0
buf = bytearray()
for c in range(commits):
    buf += b"commit refs/heads/main\n"
    buf += b"committer Dev <dev@example.eu> %d +0000\n" % (1700000000 + c * 600)
    buf += data(f"change {c}")
    names = list(files) if c == 0 else rng.sample(list(files), rng.randint(1, 4))
    for name in names:
        lines = files[name]
        for _ in range(rng.randint(1, 6)):
            lines.insert(rng.randrange(len(lines) + 1), code_line())
        if c > 0 and c % 97 == 0:
            lines.insert(rng.randrange(len(lines) + 1), secret(kinds[planted % len(kinds)]))
            planted += 1
        content = "\n".join(lines) + "\n"
        buf += b"M 100644 inline " + name.encode() + b"\n" + data(content)
    if len(buf) > 8 << 20:
        fi.stdin.write(buf); buf = bytearray()
fi.stdin.write(buf)
fi.stdin.close()
fi.wait()
subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=out, check=True)
# fast-import deltifies each blob against the previous blob in the stream (another file),
# which no real repository has; repack as a forge serves a clone, with git's own deltas.
subprocess.run(["git", "repack", "-adfq"], cwd=out, check=True)
print(f"{out}: {commits} commits, {nfiles} files, {planted} planted secrets")
