#!/usr/bin/env python3
"""Generate a YAML file of SECTIONS x KEYS string leaves of 88 random characters
(the shape of the reference's perf-10k.yaml: 100 x 100 = 10,000 leaves, ~1 MB)."""
import random, string, sys

sections, keys, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(42)
alphabet = string.ascii_letters + string.digits
with open(out, "w") as f:
    for s in range(sections):
        f.write(f"section{s:05d}:\n")
        for k in range(keys):
            v = "".join(rng.choice(alphabet) for _ in range(88))
            f.write(f"    key{k:05d}: {v}\n")
