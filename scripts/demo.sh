#!/usr/bin/env bash
# The main job on the embedded default: a local age key (created on first use where sops
# also looks for it), no server. Encrypts a sample Secret, shows it, decrypts it, and
# checks the round trip is byte-identical.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --bin tresor
T=target/release/tresor
sample=testdata/roundtrip/k8s-secret.yaml
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$T" encrypt "$sample" > "$out/secret.enc.yaml"
echo "--- encrypted ($sample) ---"
cat "$out/secret.enc.yaml"
"$T" decrypt "$out/secret.enc.yaml" > "$out/secret.dec.yaml"
if cmp -s "$sample" "$out/secret.dec.yaml"; then
  echo "--- decrypt(encrypt(x)) is byte-identical to x ---"
else
  echo "round trip differs" >&2; diff "$sample" "$out/secret.dec.yaml" >&2; exit 1
fi
