#!/usr/bin/env bash
# Lints template.yaml offline: cfn-lint (in a few regions the stack is meant for), then
# `sam validate --lint`. Any finding, warnings included, fails. Needs no AWS account or network:
# the tools come from the project's .venv (scripts/setup.sh) and no credentials are needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/.venv/bin"

for tool in cfn-lint sam; do
  if [ ! -x "$bin/$tool" ]; then
    echo "lint-template: $bin/$tool is missing; run scripts/setup.sh first" >&2
    exit 2
  fi
done

export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0

start_ms=$(( $(date +%s%N) / 1000000 ))
echo "lint-template: cfn-lint $("$bin/cfn-lint" --version | awk '{print $2}')" >&2
"$bin/cfn-lint" --regions us-east-1 us-west-2 eu-central-1 ap-northeast-1 -- template.yaml

echo "lint-template: sam validate --lint ($("$bin/sam" --version | awk '{print $NF}'))" >&2
"$bin/sam" validate --lint --template template.yaml --region us-east-1 >&2

elapsed_ms=$(( $(date +%s%N) / 1000000 - start_ms ))
echo "lint-template: PASS template.yaml (cfn-lint, sam validate --lint) in ${elapsed_ms} ms"
