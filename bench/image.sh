#!/usr/bin/env bash
# Image benchmark: size of the tresor image (deploy/image/Containerfile, release binaries)
# and cold start of the KRM function in it (a fresh `buildah run` of the entrypoint with a
# ResourceList generating one Secret), against the same function run natively, same run.
# Needs root and buildah (scripts/install-peers.sh). Usage: bash bench/image.sh
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-7}
export SOPS_AGE_KEY_FILE="$ROOT/testdata/keys/age-test.txt"
PUB=$(grep 'public key' "$SOPS_AGE_KEY_FILE" | awk '{print $4}')
tag=localhost/tresor-bench:latest
archive="$OUT/tresor-image.oci.tar"
bash "$ROOT/scripts/build-image.sh" "$tag" "$archive" >/dev/null
B="buildah --storage-driver vfs"
rootfs_kb=$($B inspect --format '{{.Size}}' "$tag" 2>/dev/null || echo 0)
W="$OUT/image-app"; rm -rf "$W"; mkdir -p "$W"
printf 'password: hunter2\n' | "$TRESOR" encrypt --input-type yaml --age "$PUB" > "$W/pw.enc.yaml"
cat > "$W/rl.yaml" <<RL
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items: []
functionConfig:
  apiVersion: tresor.dev/v1
  kind: SecretGenerator
  metadata:
    name: bench
  files:
    - password=pw.enc.yaml
RL
ctr=$($B from -q "$tag")
trap '$B rm "$ctr" >/dev/null 2>&1; $B rmi -f "$tag" >/dev/null 2>&1' EXIT
in_image() { $B run --isolation chroot --user 999:999 -v "$W:/app:ro" -v "$SOPS_AGE_KEY_FILE:/home/argocd/.config/sops/age/keys.txt:ro" --workingdir /app "$ctr" -- /usr/local/bin/tresor-kustomize < "$W/rl.yaml"; }
native() { (cd "$W" && "$ROOT/target/release/tresor-kustomize" < rl.yaml); }
in_image | grep -q 'name: bench' || { echo "the function in the image did not generate the Secret" >&2; exit 1; }
measure "KRM function, native" "$RUNS" native; n=$MEDIAN
measure "KRM function, fresh buildah run" "$RUNS" in_image; i=$MEDIAN
echo "image: oci-archive $(( $(wc -c < "$archive") / 1024 / 1024 )) MiB; binaries: tresor $(( $(wc -c < "$ROOT/target/release/tresor") / 1024 / 1024 )) MiB, tresor-kustomize $(( $(wc -c < "$ROOT/target/release/tresor-kustomize") / 1024 / 1024 )) MiB, kustomize $(( $(wc -c < "$(command -v kustomize)") / 1024 / 1024 )) MiB"
echo "cold start in the image: ${i}s (native ${n}s; the difference is buildah's container set-up)"
