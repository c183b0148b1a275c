#!/usr/bin/env bash
# The whole test suite: install the real peers, then lint and test the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-peers.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --quiet
bash scripts/readme-install.sh
