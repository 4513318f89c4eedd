#!/usr/bin/env bash
# CodeBuild's install phase: a Rust toolchain with clippy and rustfmt, unless one is there
# (a cached ~/.rustup, or a developer's machine). Idempotent.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null || ! cargo clippy --version >/dev/null 2>&1; then
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y --profile minimal --component clippy,rustfmt
fi
cargo --version
