#!/usr/bin/env bash
# The eval gate's commands against the offline stack instead of staging: gateway-local with
# the deployed rule (AuthMode=api_keys), a key issued by gatewayctl, then scripts/ci/evals.sh.
# Reports in target/evals/local/. Needs no AWS account.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

bash scripts/setup.sh
cargo build --quiet -p local-stack --bin gateway-local -p gatewayctl --bin gatewayctl -p evals --bin gateway-eval
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api_port="$(free_port)"
moto_port="$(free_port)"
out="$root/target/evals/local"
mkdir -p "$out"

target/debug/gateway-local --api-port "$api_port" --moto-port "$moto_port" --webhook-port 0 \
  --bedrock-port 0 --callback-port 0 --no-topic-taps --param AuthMode=api_keys \
  >"$out/gateway-local.out" 2>"$out/gateway-local.log" &
stack_pid=$!
trap 'kill "$stack_pid" 2>/dev/null || true; wait "$stack_pid" 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$api_port/health" >/dev/null 2>&1 && break
  kill -0 "$stack_pid" 2>/dev/null || { cat "$out/gateway-local.log" >&2; exit 2; }
  sleep 0.5
done

key="$(AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=local \
  AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 STATE_TABLE=StateTable \
  target/debug/gatewayctl keys create --tenant evals --name evals-local --no-sigv4 --json \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')"

cd "$out"
ln -sfn "$root/evals" evals
GATEWAY_URL="http://127.0.0.1:$api_port" GATEWAY_EVAL_KEY="$key" ARTIFACT_BUCKET="" \
  GATEWAY_EVAL_BIN="$root/target/debug/gateway-eval" bash "$root/scripts/ci/evals.sh"
