#!/usr/bin/env python3
"""Randomised comparison of comment handling with the real sops (not a test: go-yaml's
comment rules are only approximated, see docs/format.md).

Generates YAML files with random nesting (maps, block and indentless lists, lists of maps)
and comments at random columns with blank lines, then checks for each file, with the
default rules or `--encrypted-regex`:
  * tresor's round trip is byte-exact;
  * sops decrypts tresor's file without an "unencrypted comment" warning, to the input's data
    and comments;
  * tresor decrypts sops' file to sops' own data and comments (skipped where sops cannot
    read its own file back: counted separately).

Usage: python3 scripts/comment_differential.py SEED COUNT   (needs sops, PyYAML, a debug build)
"""
import collections, json, os, random, re, subprocess, sys, tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRESOR = os.environ.get('TRESOR', os.path.join(ROOT, 'target', 'debug', 'tresor'))
KEY = os.path.join(ROOT, 'testdata', 'keys', 'age-test.txt')
RECIPIENT = [l.split()[-1] for l in open(KEY) if 'public key' in l][0]
ENV = dict(os.environ, SOPS_AGE_KEY_FILE=KEY)


def generate(rng, count):
    def scalar():
        return rng.choice(['v', '1', 'true', 'x y', '"q"', "'s'", 'null', ''])

    def gen_map(ind, depth, out):
        for k in range(rng.randint(1, 3)):
            key = rng.choice(['a', 'b', 'data', 'c', 'secret', 'd']) + str(k)
            r = rng.random()
            if depth < 3 and r < 0.3:
                out.append(' ' * ind + key + ':')
                gen_map(ind + rng.choice([2, 4]), depth + 1, out)
            elif depth < 3 and r < 0.55:
                out.append(' ' * ind + key + ':')
                gen_seq(ind + rng.choice([0, 2]), depth + 1, out)
            else:
                v = scalar()
                out.append(' ' * ind + key + ':' + (' ' + v if v else ''))

    def gen_seq(ind, depth, out):
        for _ in range(rng.randint(1, 3)):
            if depth < 3 and rng.random() < 0.3:
                sub = []
                gen_map(ind + 2, depth + 1, sub)
                sub[0] = ' ' * ind + '- ' + sub[0].lstrip()
                out.extend(sub)
            else:
                out.append(' ' * ind + '- ' + (scalar() or 'v'))

    cases = []
    for _ in range(count):
        lines = []
        gen_map(0, 0, lines)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randint(0, len(lines))
            if rng.random() < 0.2:
                lines.insert(pos, '')
            lines.insert(pos, ' ' * rng.choice([0, 2, 4, 6]) + rng.choice(['# c', '#', '# note', '#x']))
        cases.append(('\n'.join(lines) + '\n', rng.choice([[], [], ['--encrypted-regex', '^(data|secret)']])))
    return cases


def run(args):
    p = subprocess.run(args, capture_output=True, env=ENV)
    return p.returncode, p.stdout, p.stderr.decode(errors='replace')


def comments(b):
    return collections.Counter(m.group(2).strip() for m in re.finditer(r'(^|[ \t])(#[^\n]*)', b.decode(), re.M)
                               if m.group(2).strip() != '#')


def data(b):
    return list(yaml.safe_load_all(b))[:1]


def check(text, extra, d):
    f = os.path.join(d, 'c.yaml')
    open(f, 'w').write(text)
    problems = []
    rc, tenc, err = run([TRESOR, 'encrypt', *extra, '--age', RECIPIENT, f])
    rc2, senc, err2 = run(['sops', 'encrypt', *extra, '--age', RECIPIENT, f])
    selfbad = False
    if rc2 == 0:
        open(f + '.s.yaml', 'wb').write(senc)
        rc4, ssd, e4 = run(['sops', 'decrypt', f + '.s.yaml'])
        selfbad = rc4 != 0 or 'unencrypted comment' in e4 or data(ssd) != data(text.encode())
    if rc2 != 0 and rc == 0:
        problems.append('sops refuses but tresor encrypts: ' + err2.strip()[:100])
    if rc != 0 and rc2 == 0:
        problems.append('tresor refuses: ' + err.strip()[:200])
    if rc == 0:
        open(f + '.t.yaml', 'wb').write(tenc)
        _, tdec, _ = run([TRESOR, 'decrypt', f + '.t.yaml'])
        if tdec != text.encode():
            problems.append('tresor round trip differs')
        rc3, std, e3 = run(['sops', 'decrypt', f + '.t.yaml'])
        if rc3 != 0 or 'unencrypted comment' in e3:
            problems.append('sops on tresor file: ' + e3.strip()[-160:])
        else:
            if not selfbad and data(std) != data(text.encode()):
                problems.append('sops reads other data from the tresor file')
            if comments(std) != comments(text.encode()):
                problems.append('sops reads other comments from the tresor file')
    if rc2 == 0 and not selfbad:
        rc5, tsd, e5 = run([TRESOR, 'decrypt', f + '.s.yaml'])
        if rc5 != 0:
            problems.append('tresor on sops file: ' + e5.strip()[:200])
        elif data(tsd) != data(ssd) or comments(tsd) != comments(ssd):
            problems.append('tresor reads the sops file differently from sops')
    return problems, selfbad


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    bad = selfbad_count = 0
    with tempfile.TemporaryDirectory() as d:
        for i, (text, extra) in enumerate(generate(random.Random(seed), count)):
            problems, selfbad = check(text, extra, d)
            selfbad_count += selfbad
            if problems:
                bad += 1
                print(f'=== file {i} {extra}:\n{text}', *problems, sep='\n  ')
    print(f'{bad} of {count} files disagree; sops cannot read its own file back in {selfbad_count}')
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
