#!/usr/bin/env bash
# The one run command: installs what the offline run needs (idempotent), builds, and starts the
# whole suite in one process (gateway-local): moto, bedrock-sim, the resources of template.yaml,
# and every function hosted as its event sources would invoke it. Ctrl-C stops everything.
# Arguments go to gateway-local, e.g. `bash scripts/run-local.sh --api-port 9080`
# (`--help` lists them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh
# Builds on first use (about two minutes on two cores), then starts in about a second.
# Human-readable logs unless asked otherwise; the summary with the URLs goes to stdout.
export LOG_FORMAT="${LOG_FORMAT:-text}"
exec cargo run --quiet -p local-stack --bin gateway-local -- "$@"
