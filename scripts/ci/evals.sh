#!/usr/bin/env bash
# The eval gate (buildspecs/evals.yml): the suite under evals/ against GATEWAY_URL with the key
# in GATEWAY_EVAL_KEY; reports in eval-reports/. The last passing report in the artifact bucket
# (when there is one) is the baseline. Exit status: gateway-eval's (0 pass, 1 regression, 2
# the run could not be made).
set -euo pipefail
: "${GATEWAY_URL:?the gateway to test (the ApiUrl output of the staging stack)}"
: "${GATEWAY_EVAL_KEY:?the gateway key the suite calls with}"
runner="${GATEWAY_EVAL_BIN:-dist/gateway-eval}"
# A pipeline artifact (a zip) may not keep the executable bit.
[ -x "$runner" ] || chmod +x "$runner"
args=(--url "$GATEWAY_URL" --suite evals --out eval-reports
      --min-pass-rate "${EVAL_MIN_PASS_RATE:-1}" --concurrency "${EVAL_CONCURRENCY:-4}")
if [ -n "${ARTIFACT_BUCKET:-}" ] \
   && aws s3 cp "s3://$ARTIFACT_BUCKET/eval-baselines/report.json" baseline.json --only-show-errors 2>/dev/null; then
  echo "evals: baseline: the last report that passed the gate" >&2
  args+=(--baseline baseline.json)
else
  echo "evals: no baseline yet (first release); gating on the pass rate only" >&2
fi
exec "$runner" "${args[@]}"
