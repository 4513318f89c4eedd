#!/usr/bin/env bash
# The security-scan stage (buildspecs/security-scan.yml), runnable locally:
#   1. template.yaml and pipeline.yaml through cfn-lint, `sam validate --lint` and checkov;
#   2. the dependency graph through cargo-deny (deny.toml): advisories (RustSec), licences,
#      banned crates, sources (`make lint` runs all but the advisories).
# --offline: no advisory database fetch (it is a git clone of the RustSec repository); the
# licence, ban and source checks still run. CodeBuild runs without it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"

offline=false
[ "${1:-}" = "--offline" ] && offline=true

bash scripts/setup.sh
bash scripts/lint-template.sh template.yaml pipeline.yaml

# cargo-deny from the project's .venv (scripts/setup.sh, pinned in scripts/requirements.txt),
# the same binary `make lint` runs.
deny="$root/.venv/bin/cargo-deny"
echo "security-scan: $("$deny" --version)" >&2
if $offline; then
  "$deny" --offline check licenses bans sources
  echo "security-scan: advisories not checked (--offline)"
else
  "$deny" check advisories licenses bans sources
fi
echo "security-scan: PASS"
