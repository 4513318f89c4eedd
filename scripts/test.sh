#!/usr/bin/env bash
# The one test command: installs what the tests need (idempotent), then runs every test.
# Tests start their own emulator (moto) and Bedrock simulator; nothing needs to be running.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh

# One build of the whole workspace, then one test run over it.
cargo test --workspace --no-run --quiet
mkdir -p target
# Eval reports of this run only (crates/evals' tests write them under target/evals/).
rm -rf target/evals
set +e
# --no-fail-fast: one failing test binary must not hide the results of the others.
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt
status=${PIPESTATUS[0]}
# The emulator wrapper's own attacks (scripts/moto_server.py: its transaction rollback and its
# kept-alive connections), which every test above relies on.
.venv/bin/python scripts/tests/moto_server_attacks.py
wrapper_status=$?
set -e
if [ "$status" -eq 0 ]; then status=$wrapper_status; fi
passed=$(grep -Eo '[0-9]+ passed' target/test-output.txt | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' target/test-output.txt | awk '{s+=$1} END {print s+0}')
# The starter eval suite against the offline stack (crates/evals, test `starter`).
if [ -f target/evals/starter/summary.md ]; then
  echo
  cat target/evals/starter/summary.md
  echo "(JUnit XML: target/evals/starter/junit.xml)"
fi
echo "cargo test: $passed passed, $failed failed"
exit "$status"
