#!/usr/bin/env bash
# The main job on the embedded default: a local age key (created on first use where sops
# also looks for it), no server. Encrypts a sample Kubernetes Secret the way a repository
# does it — a .sops.yaml rule encrypting only `data`/`stringData` — shows it, changes one
# value and shows the one-line diff, decrypts it, and checks the round trip is
# byte-identical. TRESOR=path uses a tresor binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TRESOR:-}
if [ -z "$T" ]; then
  echo "demo: building tresor (release; the first build takes a few minutes, then seconds)" >&2
  cargo build --release --bin tresor
  T="$PWD/target/release/tresor"
fi
sample="$PWD/testdata/roundtrip/k8s-secret.yaml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cp "$sample" secret.yaml
# What a repository keeps in .sops.yaml: apiVersion, kind and metadata stay readable (and
# Flux, Argo CD and reviewers can see them); only the Secret's values are encrypted. No key
# is named, so tresor uses your local age key, and creates it on first use.
printf 'creation_rules:\n  - encrypted_regex: ^(data|stringData)$\n' > .sops.yaml
echo "demo: .sops.yaml"; cat .sops.yaml
"$T" encrypt -i secret.yaml
echo "demo: secret.yaml, encrypted (values only; the sops: block holds the wrapped data key and the MAC)"
cat secret.yaml
cp secret.yaml before.yaml
"$T" set secret.yaml '["stringData"]["username"]' '"payments_app2"'
echo "demo: after changing one value, only its line changes (besides the MAC and timestamp): every other value keeps its ciphertext"
diff before.yaml secret.yaml | grep -v -e '^---' -e '^[0-9]' | grep -v -e 'lastmodified' -e 'mac:' || true
"$T" set secret.yaml '["stringData"]["username"]' '"payments_app"'
"$T" decrypt secret.yaml > secret.dec.yaml
if cmp -s "$sample" secret.dec.yaml; then
  echo "demo: decrypt(encrypt(x)) is byte-identical to x"
else
  echo "demo: round trip differs" >&2; diff "$sample" secret.dec.yaml >&2; exit 1
fi
