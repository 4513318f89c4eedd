#!/usr/bin/env bash
# The one lint command (`make lint`, which .ci/run and the build stage call): formatting,
# clippy with warnings as errors (its `incompatible_msrv` lint holds our code to the declared
# rust-version), cargo-deny's offline checks (licences, banned and duplicate crates, sources;
# deny.toml), the dependencies' own rust-version against ours (scripts/msrv.py) and no
# file-level import cycle inside a crate (scripts/import_cycles.py).
# The advisories (a git clone of the RustSec database) are the security-scan stage's.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Errors only: duplicate versions are warnings (deny.toml), listed by `make security-scan`.
.venv/bin/cargo-deny --offline --log-level error check licenses bans sources
cargo metadata --format-version 1 --locked | python3 scripts/msrv.py
# No module of a crate imports, through others, itself (scripts/import_cycles.py).
python3 scripts/import_cycles.py
