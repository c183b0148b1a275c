#!/usr/bin/env python3
"""INI interop on real files (issue 24): gathers the INI files of real projects — the
setup.cfg, tox.ini, pytest.ini, mypy.ini, alembic.ini, .editorconfig, … inside the source
distributions of PyPI packages — and runs both directions against the real sops:

  * sops encrypts, tresor decrypts: tresor must print what `sops decrypt` prints;
  * tresor encrypts, sops decrypts: sops must print what it prints for its own encryption
    of the same file (go-ini normalises both alike), and tresor's round trip is byte-exact.

A file tresor refuses to encrypt is counted with the refusal's reason; anything that
decrypts to something else is a silent difference and is listed. Needs network (PyPI).

Usage: python3 scripts/ini_corpus.py [WORKDIR]   (TRESOR=path, default target/debug)
"""
import collections
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRESOR = os.environ.get("TRESOR", os.path.join(ROOT, "target", "debug", "tresor"))
KEY = os.path.join(ROOT, "testdata", "keys", "age-test.txt")
# Projects whose sdists carry INI configuration (test runners, linters, frameworks, tools).
PACKAGES = """alembic pytest tox mypy flake8 coverage pylint isort black sqlalchemy requests urllib3
celery kombu django flask jinja2 click attrs pluggy setuptools wheel virtualenv pip-tools
paramiko cryptography pyyaml sphinx docutils babel pytz python-dateutil six mock nose
pyflakes pycodestyle mccabe configobj supervisor gunicorn uvicorn ansible-core jsonschema
pyparsing packaging psycopg2 redis boto3 botocore s3transfer markdown pygments tornado twisted
zope.interface waitress webob pyramid paste pastedeploy sqlalchemy-utils marshmallow""".split()
NAMES = (".ini", ".cfg", ".editorconfig")


def gather(work):
    dl = os.path.join(work, "sdists")
    os.makedirs(dl, exist_ok=True)
    import json
    import urllib.parse
    import urllib.request
    for p in PACKAGES:
        # The newest sdist, from PyPI's JSON API (pip would try to build each one).
        try:
            api = f"https://pypi.org/pypi/{p}/json"
            meta = json.load(urllib.request.urlopen(api, timeout=60))
            sdist = next(u for u in meta["urls"] if u["packagetype"] == "sdist")
            dest = os.path.join(dl, sdist["filename"])
            if not os.path.exists(dest):
                # A mirror may answer with addresses relative to the API's.
                urllib.request.urlretrieve(urllib.parse.urljoin(api, sdist["url"]), dest)
        except Exception as e:
            print(f"skipped {p}: {e}", file=sys.stderr)
    out = os.path.join(work, "files")
    os.makedirs(out, exist_ok=True)
    n = 0
    for f in sorted(os.listdir(dl)):
        path = os.path.join(dl, f)
        wanted = lambda name: os.path.basename(name).endswith(NAMES) and "egg-info" not in name
        members = []
        try:
            if f.endswith((".tar.gz", ".tgz")):
                with tarfile.open(path) as t:
                    for m in t.getmembers():
                        if m.isfile() and wanted(m.name) and m.size <= 256 << 10:
                            members.append((m.name, t.extractfile(m).read()))
            elif f.endswith(".zip"):
                with zipfile.ZipFile(path) as z:
                    for i in z.namelist():
                        if wanted(i) and z.getinfo(i).file_size <= 256 << 10:
                            members.append((i, z.read(i)))
        except Exception:
            continue
        for name, data in members:
            n += 1
            safe = name.replace("/", "__")
            # sops picks the INI store by the .ini extension.
            with open(os.path.join(out, f"{n:04d}-{safe}.ini"), "wb") as w:
                w.write(data)
    return out


def run(args, **kw):
    env = dict(os.environ, SOPS_AGE_KEY_FILE=KEY)
    return subprocess.run(args, capture_output=True, env=env, **kw)


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="tresor-ini-")
    files = gather(work) if not os.path.isdir(os.path.join(work, "files")) else os.path.join(work, "files")
    recipient = [l.split(": ", 1)[1].strip() for l in open(KEY) if l.startswith("# public key: ")][0]
    counts = collections.Counter()
    refusals = collections.Counter()
    silent = []
    for f in sorted(x for x in os.listdir(files) if not x.endswith((".sops.ini", ".tresor.ini"))):
        path = os.path.join(files, f)
        counts["files"] += 1
        sops_enc = run(["sops", "encrypt", "--age", recipient, path])
        if sops_enc.returncode != 0:
            counts["sops refuses"] += 1
            continue
        s_path = path[:-4] + ".sops.ini"
        open(s_path, "wb").write(sops_enc.stdout)
        own = run(["sops", "decrypt", s_path])
        if own.returncode != 0:
            # sops 3.11's INI writer panics on some comments (a `###` line) of its own files.
            counts["sops cannot read its own file"] += 1
            continue
        sops_view = own.stdout
        ours = run([TRESOR, "decrypt", s_path])
        if ours.returncode != 0:
            counts["tresor cannot read sops' file"] += 1
            silent.append((f, "tresor cannot read sops' file: " + ours.stderr.decode(errors="replace").splitlines()[0][:120]))
        elif ours.stdout != sops_view:
            counts["tresor reads sops' file differently"] += 1
            silent.append((f, "tresor reads sops' file differently"))
        else:
            counts["tresor reads sops' file as sops does"] += 1
        t_enc = run([TRESOR, "encrypt", "--age", recipient, path])
        if t_enc.returncode != 0:
            counts["tresor refuses to encrypt"] += 1
            import re
            why = t_enc.stderr.decode(errors="replace").splitlines()[0]
            why = re.sub(r"^tresor: error: encrypting [^:]*: (INI line \d+: )?", "", why).split(";")[0].split(",")[0].strip()[:90]
            refusals[why] += 1
            continue
        t_path = path[:-4] + ".tresor.ini"
        open(t_path, "wb").write(t_enc.stdout)
        back = run([TRESOR, "decrypt", t_path]).stdout
        if back != open(path, "rb").read():
            silent.append((f, "tresor round trip not byte-exact"))
        theirs = run(["sops", "decrypt", t_path])
        if theirs.returncode != 0:
            silent.append((f, "sops cannot read tresor's file"))
        elif theirs.stdout != sops_view:
            silent.append((f, "sops reads tresor's file differently from its own"))
        else:
            counts["sops reads tresor's file as its own"] += 1
    for k in ["files", "sops refuses", "sops cannot read its own file", "tresor reads sops' file as sops does", "tresor cannot read sops' file",
              "tresor reads sops' file differently", "tresor refuses to encrypt", "sops reads tresor's file as its own"]:
        print(f"{k}: {counts[k]}")
    print("tresor's refusals (reason: files):")
    for why, n in refusals.most_common():
        print(f"  {n:4d}  {why}")
    print(f"differences: {len(silent)}")
    for f, why in silent[:40]:
        print(f"  {f}: {why}")


if __name__ == "__main__":
    main()
