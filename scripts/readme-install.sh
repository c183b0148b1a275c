#!/usr/bin/env bash
# README's install block, run as written in a fresh home (called by scripts/test.sh after
# the suite, because it is a release build): the block marked
# `<!-- ci: run by scripts/test.sh -->`. The binaries go to a scratch CARGO_INSTALL_ROOT
# (the crates come from the usual CARGO_HOME cache); the completion and man page files
# must then exist where the README says.
set -euo pipefail
cd "$(dirname "$0")/.."
block=$(awk '/<!-- ci: run by scripts\/test.sh -->/{m=1; next} m && /^```/{if (f) exit; f=1; next} m && f' README.md)
[ -n "$block" ] || { echo "readme-install: no block marked in README.md" >&2; exit 1; }
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
# The toolchain and crate cache stay where rustup put them (a new user has them in their home).
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo} RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
echo "readme-install: running README's install block in a fresh home (a release build; a few minutes)" >&2
HOME=$home CARGO_INSTALL_ROOT=$home/.cargo PATH=$home/.cargo/bin:$PATH bash -e -c "$block"
for f in .cargo/bin/tresor .cargo/bin/tresor-kustomize .local/share/bash-completion/completions/tresor .local/share/man/man1/tresor.1; do
  [ -s "$home/$f" ] || { echo "readme-install: $f missing after the README's install block" >&2; exit 1; }
done
echo "readme-install: ok" >&2
