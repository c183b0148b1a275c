#!/usr/bin/env bash
# Build the tresor container image from deploy/image/Containerfile with buildah (Debian
# package; no daemon: vfs storage, chroot isolation, as root).
# Usage: bash scripts/build-image.sh [IMAGE] [OCI_ARCHIVE]
#   PROFILE=debug uses the debug binaries (the test suite does; release is the default).
#   FLAVOUR=fleet builds the fleet image (deploy/image/Containerfile.fleet): tresor and
#   Debian's git with its HTTPS transport, for `scan --repos` in pods and workflows.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
flavour=${FLAVOUR:-gitops}
case "$flavour" in
  gitops) containerfile=Containerfile; default_image=localhost/tresor:dev ;;
  fleet) containerfile=Containerfile.fleet; default_image=localhost/tresor-fleet:dev ;;
  *) echo "build-image: FLAVOUR is gitops or fleet, not $flavour" >&2; exit 2 ;;
esac
image=${1:-$default_image}
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
if [ "$flavour" = gitops ]; then
  install -m 0755 "$bin/tresor" "$bin/tresor-kustomize" "$kustomize" "$rootfs/usr/local/bin/"
else
  # git as Debian builds it: the binary, its exec path (/usr/lib/git-core: the HTTP(S)
  # transport is a helper program there) and the CA bundle; ldd below adds their libraries.
  command -v /usr/bin/git >/dev/null || { echo "build-image: Debian's git (/usr/bin/git) is not installed" >&2; exit 1; }
  install -m 0755 "$bin/tresor" "$rootfs/usr/local/bin/"
  mkdir -p "$rootfs/usr/bin" "$rootfs/usr/lib/git-core" "$rootfs/etc/ssl/certs" "$rootfs/home/scan"
  install -m 0755 /usr/bin/git "$rootfs/usr/bin/git"
  install -m 0755 /usr/lib/git-core/git /usr/lib/git-core/git-remote-http "$rootfs/usr/lib/git-core/"
  ln -s git-remote-http "$rootfs/usr/lib/git-core/git-remote-https"
  cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
  # A POSIX shell and the few tools CI engines' script steps use (GitLab `script:`, Argo
  # `script:` templates): Debian's static busybox, one binary, linked by name.
  [ -x /bin/busybox ] || { echo "build-image: busybox-static is not installed (scripts/install-peers.sh)" >&2; exit 1; }
  install -m 0755 /bin/busybox "$rootfs/usr/bin/busybox"
  applets="sh awk base64 basename cat chmod cp cut date dirname echo env false find grep gzip head id
    ln ls mkdir mv printf pwd rm sed seq sleep sort stat tail tar tee test touch tr true uname wc which xargs"
  for applet in $applets; do
    ln -s busybox "$rootfs/usr/bin/$applet"
  done
fi
# The shared libraries the binaries load (glibc, libgcc), at the paths they load them from.
for b in "$rootfs"/usr/local/bin/* "$rootfs"/usr/bin/* "$rootfs"/usr/lib/git-core/git-remote-http; do
  # Symbolic links (busybox's applets) and static binaries (busybox) load nothing.
  [ -f "$b" ] && [ ! -L "$b" ] && [ "${b##*/}" != busybox ] || continue
  ldd "$b" | awk '/=> \// { print $3 } /^\t\// { print $1 }'
done | sort -u | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
printf 'root:x:0:0::/root:/sbin/nologin\nargocd:x:999:999::/home/argocd:/sbin/nologin\nscan:x:65532:65532::/home/scan:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nargocd:x:999:\nscan:x:65532:\n' > "$rootfs/etc/group"
chown -R 999:999 "$rootfs/home/argocd"
[ -d "$rootfs/home/scan" ] && chown -R 65532:65532 "$rootfs/home/scan"
chmod 1777 "$rootfs/tmp"
cp "$ROOT/deploy/image/$containerfile" "$ctx/Containerfile"
buildah --storage-driver vfs bud --quiet --isolation chroot -f "$ctx/Containerfile" -t "$image" "$ctx" >/dev/null
if [ -n "$archive" ]; then
  buildah --storage-driver vfs push --quiet "$image" "oci-archive:$archive" >/dev/null
fi
echo "$image"
