#!/usr/bin/env bash
# Install a standalone kustomize (which supports --enable-exec) from Debian's archive
# without touching the machine's apt configuration: download the .deb with a private
# sources list and extract the binary. Debian bookworm has no kustomize; trixie has 5.6.0.
# Usage: install-kustomize.sh [SUITE] [DEST]
set -euo pipefail
SUITE="${1:-trixie}"
DEST="${2:-/usr/local/bin}"
W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT
URI="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
[ -n "$URI" ] || URI="http://deb.debian.org/debian"
mkdir -p "$W/lists/partial" "$W/root"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $URI $SUITE main" > "$W/sources.list"
APT=(-o "Dir::Etc::SourceList=$W/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$W/lists" -o APT::Sandbox::User=root)
apt-get "${APT[@]}" -qq update
(cd "$W" && apt-get "${APT[@]}" -qq download kustomize)
dpkg -x "$W"/kustomize_*.deb "$W/root"
install -m 0755 "$W/root/usr/bin/kustomize" "$DEST/kustomize"
echo "installed $DEST/kustomize (Debian $SUITE $(dpkg-deb -f "$W"/kustomize_*.deb Version))"
