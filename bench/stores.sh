#!/usr/bin/env bash
# Stores benchmark (issue 15): dotenv (10,000 KEY=VALUE lines), INI (100 sections of 100
# keys) and binary (10 MB of random bytes), tresor vs sops on the same inputs, interleaved
# in the same run.
# Usage: bash bench/stores.sh        (RUNS=N to change the number of runs)
source "$(dirname "$0")/common.sh"
build_release
SOPS=$(sops_binary)
export SOPS_AGE_KEY_FILE="$ROOT/testdata/keys/age-test.txt"
PUB=$(grep 'public key' "$SOPS_AGE_KEY_FILE" | awk '{print $4}')
RUNS=${RUNS:-7}
W="$OUT/stores"
rm -rf "$W"; mkdir -p "$W"
python3 - "$W/app.env" <<'PY'
import random, string, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    for i in range(10000):
        f.write(f"KEY_{i:05d}=" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(40)) + "\n")
PY
python3 - "$W/app.ini" <<'PY'
import random, string, sys
rng = random.Random(8)
with open(sys.argv[1], "w") as f:
    for s in range(100):
        f.write(f"[section_{s:03d}]\n")
        for k in range(100):
            f.write(f"key_{k:03d} = " + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(40)) + "\n")
        f.write("\n")
PY
# One section of 40,000 keys: duplicate-key checks must stay linear (issue 22: 18.3 s before).
python3 - "$W/wide.ini" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("[wide]\n")
    for k in range(40000):
        f.write(f"key_{k:05d} = value-{k:05d}-abcdefghijklmnopqrstuvwxyz\n")
PY
head -c $((10 * 1024 * 1024)) /dev/urandom > "$W/blob.bin"
echo "inputs: app.env $(wc -c < "$W/app.env") bytes (10,000 lines); app.ini $(wc -c < "$W/app.ini") bytes (100 x 100 keys); blob.bin $(wc -c < "$W/blob.bin") bytes"
"$TRESOR" encrypt --age "$PUB" "$W/app.env" > "$W/t.enc.env"
"$SOPS" encrypt --age "$PUB" "$W/app.env" > "$W/s.enc.env"
"$TRESOR" encrypt --age "$PUB" "$W/app.ini" > "$W/t.enc.ini"
"$SOPS" encrypt --age "$PUB" "$W/app.ini" > "$W/s.enc.ini"
"$TRESOR" encrypt --age "$PUB" "$W/blob.bin" > "$W/t.enc.bin"
"$SOPS" encrypt --age "$PUB" "$W/blob.bin" > "$W/s.enc.bin"
measure_pair "dotenv encrypt 10k lines" "$RUNS" "$SOPS" encrypt --age "$PUB" "$W/app.env" --vs-- "$TRESOR" encrypt --age "$PUB" "$W/app.env"
measure_pair "dotenv decrypt 10k lines" "$RUNS" "$SOPS" decrypt "$W/s.enc.env" --vs-- "$TRESOR" decrypt "$W/t.enc.env"
measure_pair "INI encrypt 10k keys" "$RUNS" "$SOPS" encrypt --age "$PUB" "$W/app.ini" --vs-- "$TRESOR" encrypt --age "$PUB" "$W/app.ini"
measure_pair "INI decrypt 10k keys" "$RUNS" "$SOPS" decrypt "$W/s.enc.ini" --vs-- "$TRESOR" decrypt "$W/t.enc.ini"
measure_pair "INI encrypt 40k keys in one section" "$RUNS" "$SOPS" encrypt --age "$PUB" "$W/wide.ini" --vs-- "$TRESOR" encrypt --age "$PUB" "$W/wide.ini"
measure_pair "binary encrypt 10 MB" "$RUNS" "$SOPS" encrypt --age "$PUB" "$W/blob.bin" --vs-- "$TRESOR" encrypt --age "$PUB" "$W/blob.bin"
measure_pair "binary decrypt 10 MB" "$RUNS" "$SOPS" decrypt "$W/s.enc.bin" --vs-- "$TRESOR" decrypt "$W/t.enc.bin"
# Each tool reads the other's files to the same bytes.
"$SOPS" decrypt "$W/t.enc.bin" | cmp -s - "$W/blob.bin" && echo "sops reads tresor's binary file: same bytes"
"$TRESOR" decrypt "$W/s.enc.bin" | cmp -s - "$W/blob.bin" && echo "tresor reads sops' binary file: same bytes"
"$TRESOR" decrypt "$W/t.enc.env" | cmp -s - "$W/app.env" && echo "tresor dotenv round trip: same bytes"
"$TRESOR" decrypt "$W/t.enc.ini" | cmp -s - "$W/app.ini" && echo "tresor INI round trip: same bytes"
"$TRESOR" decrypt "$W/s.enc.ini" > "$W/from-sops.ini" && "$SOPS" decrypt "$W/t.enc.ini" > "$W/from-tresor.ini" && cmp -s "$W/from-sops.ini" "$W/from-tresor.ini" && echo "INI: each tool reads the other's file to the same text"
rm -f "$W/blob.bin" "$W"/*.enc.bin
