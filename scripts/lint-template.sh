#!/usr/bin/env bash
# Usage: scripts/lint-template.sh [TEMPLATE...] (default: template.yaml; pipeline.yaml too).
# Lints each template offline: cfn-lint (in a few regions the stack is meant for), then
# `sam validate --lint`, then the checkov security scan. Any finding, warnings included, fails;
# a scan finding is either fixed or suppressed in the template with a written reason
# (`Metadata: checkov: skip: [{id, comment}]`). Needs no AWS account or network: the tools come
# from the project's .venv (scripts/setup.sh) and no credentials are needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/.venv/bin"

for tool in cfn-lint sam checkov; do
  if [ ! -x "$bin/$tool" ]; then
    echo "lint-template: $bin/$tool is missing; run scripts/setup.sh first" >&2
    exit 2
  fi
done

export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0

start_ms=$(( $(date +%s%N) / 1000000 ))
templates=("$@")
[ ${#templates[@]} -gt 0 ] || templates=(template.yaml)
for template in "${templates[@]}"; do
  echo "lint-template: $template: cfn-lint $("$bin/cfn-lint" --version | awk '{print $2}')" >&2
  "$bin/cfn-lint" --regions us-east-1 us-west-2 eu-central-1 ap-northeast-1 -- "$template"

  echo "lint-template: $template: sam validate --lint ($("$bin/sam" --version | awk '{print $NF}'))" >&2
  "$bin/sam" validate --lint --template "$template" --region us-east-1 >&2

  # --skip-download: no call to the vendor's platform (guidelines, custom policies); the checks
  # ship in the package.
  echo "lint-template: $template: checkov $("$bin/checkov" --version)" >&2
  scan="$("$bin/checkov" -f "$template" --framework cloudformation --compact --quiet --skip-download 2>&1)" || {
    echo "$scan" >&2
    echo "lint-template: checkov found unsuppressed findings in $template: fix them, or suppress each with a written reason" >&2
    exit 1
  }
  summary="$(echo "$scan" | grep -E '^Passed checks: [0-9]+, Failed checks: [0-9]+, Skipped checks: [0-9]+' || true)"
  if [ -z "$summary" ] || ! echo "$summary" | grep -q 'Failed checks: 0,'; then
    echo "$scan" >&2
    echo "lint-template: no checkov summary with 0 failed checks for $template" >&2
    exit 1
  fi
  echo "lint-template: checkov $summary ($template)"
done

elapsed_ms=$(( $(date +%s%N) / 1000000 - start_ms ))
echo "lint-template: PASS ${templates[*]} (cfn-lint, sam validate --lint, checkov) in ${elapsed_ms} ms"
