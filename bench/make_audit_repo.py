#!/usr/bin/env python3
"""Build a reproducible repository for the lifecycle-audit benchmark (issue 28): FILES SOPS
files encrypted for real by tresor to two age keys, then COMMITS commits through
`git fast-import`, each changing one value of one file (a new ciphertext of the same shape,
as `tresor set` writes); halfway, one commit removes the second key from every file keeping
the data key, as `updatekeys` does. The reports read metadata and ciphertexts only, so the
later ciphertexts need no key.

Usage: make_audit_repo.py TRESOR DIR [COMMITS] [FILES]"""
import base64, os, random, re, subprocess, sys, tempfile

tresor, out = sys.argv[1], sys.argv[2]
commits = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
nfiles = int(sys.argv[4]) if len(sys.argv) > 4 else 200
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
def recipient(name):
    for line in open(os.path.join(root, "testdata/keys", name)):
        if "public key:" in line:
            return line.split()[-1]
A, B = recipient("age-test.txt"), recipient("age-test2.txt")
rng = random.Random(28)
def b64(n): return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(n))).decode()
def enc(n): return f"ENC[AES256_GCM,data:{b64(n)},iv:{b64(32)},tag:{b64(16)},type:str]"

files = {}
with tempfile.TemporaryDirectory() as tmp:
    for i in range(nfiles):
        p = os.path.join(tmp, f"app-{i:03d}.yaml")
        with open(p, "w") as f:
            f.write("".join(f"key_{k}: value-{i}-{k}-{rng.getrandbits(64):016x}\n" for k in range(10)))
        subprocess.run([tresor, "encrypt", "-i", "--age", f"{A},{B}", p], check=True)
        files[f"secrets/app-{i:03d}.yaml"] = open(p).read()

os.makedirs(out, exist_ok=True)
subprocess.run(["git", "init", "-q", "-b", "main", out], check=True)
fi = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=out, stdin=subprocess.PIPE)
w = fi.stdin.write
t0 = 1_600_000_000
def commit(n, msg, changed):
    body = msg.encode()
    w(f"commit refs/heads/main\nmark :{n}\nauthor Ops <ops@example.org> {t0 + n * 3600} +0000\n"
      f"committer Ops <ops@example.org> {t0 + n * 3600} +0000\ndata {len(body)}\n".encode() + body + b"\n")
    if n > 1:
        w(f"from :{n - 1}\n".encode())
    for path in changed:
        data = files[path].encode()
        w(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
    w(b"\n")
commit(1, "add files", list(files))
names = sorted(files)
# The second key's entry in sops' metadata layout: one list item of the age list.
entry = re.compile(r"        - recipient: " + re.escape(B) + r"\n          enc: \|\n(?:            .*\n)+")
for n in range(2, commits + 1):
    if n == commits // 2:
        for p in names:
            files[p] = entry.sub("", files[p])
        commit(n, "remove the second key (updatekeys)", names)
        continue
    p = rng.choice(names)
    k = rng.randrange(10)
    files[p] = re.sub(rf"^key_{k}: ENC\[[^\]]*\]", lambda m: f"key_{k}: {enc(28)}", files[p], count=1, flags=re.M)
    commit(n, f"change key_{k} of {p}", [p])
fi.stdin.close()
assert fi.wait() == 0
subprocess.run(["git", "checkout", "-q", "main"], cwd=out, check=True)
print(f"{out}: {commits} commits, {nfiles} files; second key {B} removed at commit {commits // 2}")
