#!/usr/bin/env bash
# Bulk re-wrap benchmark: 500 files get an OpenBao transit key added by .sops.yaml.
# tresor updatekeys -y -r DIR (batched: one transit call per 499 files) vs a loop of
# `sops updatekeys -y FILE` (one process and one transit call per file), same run.
# Usage: bash bench/updatekeys.sh [N]
source "$(dirname "$0")/common.sh"
build_release
SOPS=$(sops_binary)
N=${1:-500}
export SOPS_AGE_KEY_FILE="$ROOT/testdata/keys/age-test.txt"
PUB=$(grep 'public key' "$SOPS_AGE_KEY_FILE" | awk '{print $4}')
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BAO_HOME=$(mktemp -d)
HOME="$BAO_HOME" bao server -dev -dev-root-token-id=root "-dev-listen-address=127.0.0.1:$PORT" >/dev/null 2>&1 &
BAO_PID=$!
trap 'kill $BAO_PID 2>/dev/null; rm -rf "$BAO_HOME"' EXIT
export BAO_ADDR="http://127.0.0.1:$PORT" BAO_TOKEN=root VAULT_TOKEN=root
for _ in $(seq 50); do bao status >/dev/null 2>&1 && break; sleep 0.1; done
bao secrets enable transit >/dev/null
bao write -f transit/keys/bench >/dev/null
URI="http://127.0.0.1:$PORT/v1/transit/keys/bench"

W="$OUT/updatekeys"
rm -rf "$W"; mkdir -p "$W/src"
printf 'creation_rules:\n  - age: %s\n' "$PUB" > "$W/src/.sops.yaml"
for i in $(seq "$N"); do printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s%d\nstringData:\n  password: pw-%d\n  token: tok-%d\n' "$i" "$i" "$i" > "$W/src/s$i.yaml"; done
"$TRESOR" encrypt -i "$W"/src/s*.yaml 2>/dev/null || for f in "$W"/src/s*.yaml; do "$TRESOR" encrypt -i "$f"; done
printf 'creation_rules:\n  - age: %s\n    hc_vault_transit_uri: %s\n' "$PUB" "$URI" > "$W/src/.sops.yaml"
cp -r "$W/src" "$W/tresor"; cp -r "$W/src" "$W/sops"

t0=$(date +%s%N)
"$TRESOR" updatekeys -y -r "$W/tresor" 2> "$OUT/.tresor-uk.err"
t1=$(date +%s%N)
(cd "$W/sops" && for f in s*.yaml; do "$SOPS" updatekeys -y "$f" >/dev/null 2>&1; done)
t2=$(date +%s%N)
tt=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
ts=$(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.3f", (b-a)/1e9}')
tail -1 "$OUT/.tresor-uk.err"
echo "files: $N; tresor updatekeys -r: ${tt} s; sops updatekeys loop: ${ts} s; ratio $(awk -v a="$ts" -v b="$tt" 'BEGIN{printf "%.1fx", a/b}')"
# Both results decrypt through the transit key alone.
for d in tresor sops; do
  n=$(grep -l "hc_vault:" "$W/$d"/s*.yaml | wc -l)
  echo "$d: $n/$N files carry the transit key"
done
SOPS_AGE_KEY_FILE=/dev/null "$SOPS" decrypt "$W/tresor/s1.yaml" | grep -q pw-1 && echo "sops decrypts tresor's result through transit only"
