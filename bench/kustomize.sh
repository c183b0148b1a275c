#!/usr/bin/env bash
# KRM benchmark: a kustomization with N encrypted Secrets, built by the real kustomize
# with tresor's function (one process decrypting all files) vs ksops-style decryption by
# the sops binary (one sops process per file, from a shell KRM function), same run.
# Usage: bash bench/kustomize.sh [N]
source "$(dirname "$0")/common.sh"
(cd "$ROOT" && cargo build --release -q --bin tresor --bin tresor-kustomize)
SOPS=$(sops_binary)
N=${1:-100}
RUNS=${RUNS:-3}
export SOPS_AGE_KEY_FILE="$ROOT/testdata/keys/age-test.txt"
PUB=$(grep 'public key' "$SOPS_AGE_KEY_FILE" | awk '{print $4}')
W="$OUT/kustomize"; rm -rf "$W"; mkdir -p "$W/tresor/secrets" "$W/sops"
for i in $(seq "$N"); do
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s%d\nstringData:\n  password: pw-%d\n  token: tok-%d\n' "$i" "$i" "$i" \
    | "$TRESOR" encrypt --input-type yaml --encrypted-regex '^(data|stringData)$' --age "$PUB" > "$W/tresor/secrets/s$i.enc.yaml"
done
cp -r "$W/tresor/secrets" "$W/sops/secrets"
{
  printf 'apiVersion: tresor.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: all\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: %s\nresources:\n' "$ROOT/target/release/tresor-kustomize"
  for i in $(seq "$N"); do printf '  - secrets/s%d.enc.yaml\n' "$i"; done
} > "$W/tresor/gen.yaml"
printf 'generators:\n  - gen.yaml\n' > "$W/tresor/kustomization.yaml"
# ksops-style: a KRM exec function that runs `sops decrypt` once per listed file.
cat > "$W/sops/sops-fn.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
files=\$(grep -oE 'secrets/[^ ]+\.enc\.yaml' | sort -u)
echo "apiVersion: config.kubernetes.io/v1"
echo "kind: ResourceList"
echo "items:"
for f in \$files; do "$SOPS" decrypt "\$f" | sed -e '1s/^/- /' -e '2,\$s/^/  /'; done
SH
chmod +x "$W/sops/sops-fn.sh"
sed -e "s|path: .*|path: $W/sops/sops-fn.sh|" -e 's/tresor.dev\/v1/viaduct.ai\/v1/' -e 's/kind: SecretGenerator/kind: ksops/' -e 's/^resources:/files:/' "$W/tresor/gen.yaml" > "$W/sops/gen.yaml"
cp "$W/tresor/kustomization.yaml" "$W/sops/"

kustomize build --enable-alpha-plugins --enable-exec "$W/tresor" > "$W/tresor.out"
kustomize build --enable-alpha-plugins --enable-exec "$W/sops" > "$W/sops.out"
echo "secrets built: tresor $(grep -c '^kind: Secret' "$W/tresor.out"), sops $(grep -c '^kind: Secret' "$W/sops.out")"
cmp -s <(grep -E 'password|token' "$W/tresor.out" | sort) <(grep -E 'password|token' "$W/sops.out" | sort) && echo "same decrypted values"
measure "kustomize build + tresor function" "$RUNS" kustomize build --enable-alpha-plugins --enable-exec "$W/tresor"; t=$MEDIAN
measure "kustomize build + sops per file" "$RUNS" kustomize build --enable-alpha-plugins --enable-exec "$W/sops"; s=$MEDIAN
echo "N=$N: ratio sops-per-file / tresor = $(awk -v a="$s" -v b="$t" 'BEGIN{printf "%.1fx", a/b}')"
