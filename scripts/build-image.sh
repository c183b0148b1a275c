#!/usr/bin/env bash
# Build the tresor container image from deploy/image/Containerfile with buildah (Debian
# package; no daemon: vfs storage, chroot isolation, as root).
# Usage: bash scripts/build-image.sh [IMAGE] [OCI_ARCHIVE]
#   PROFILE=debug uses the debug binaries (the test suite does; release is the default).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
image=${1:-localhost/tresor:dev}
archive=${2:-}
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
  (cd "$ROOT" && cargo build --release -q --bin tresor --bin tresor-kustomize)
fi
bin="$ROOT/target/$profile"
kustomize=$(command -v kustomize) || { echo "build-image: kustomize is not installed (scripts/install-peers.sh)" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
rootfs="$ctx/rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/home/argocd" "$rootfs/tmp"
install -m 0755 "$bin/tresor" "$bin/tresor-kustomize" "$kustomize" "$rootfs/usr/local/bin/"
# The shared libraries the binaries load (glibc, libgcc), at the paths they load them from.
for b in "$rootfs"/usr/local/bin/*; do
  ldd "$b" | awk '/=> \// { print $3 } /^\t\// { print $1 }'
done | sort -u | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
printf 'root:x:0:0::/root:/sbin/nologin\nargocd:x:999:999::/home/argocd:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nargocd:x:999:\n' > "$rootfs/etc/group"
chown -R 999:999 "$rootfs/home/argocd"
chmod 1777 "$rootfs/tmp"
cp "$ROOT/deploy/image/Containerfile" "$ctx/Containerfile"
buildah --storage-driver vfs bud --quiet --isolation chroot -f "$ctx/Containerfile" -t "$image" "$ctx" >/dev/null
if [ -n "$archive" ]; then
  buildah --storage-driver vfs push --quiet "$image" "oci-archive:$archive" >/dev/null
fi
echo "$image"
