#!/usr/bin/env bash
# Load-test the Bedrock simulator alone: the baseline the gateway's overhead is measured against.
#
# Builds the release binary, runs it on core 0 with one tokio thread, and drives it from core 1
# with wrk (1 thread, 32 connections) for Converse, ConverseStream and InvokeModel in turn.
# Prints req/s, p50/p99 latency and the simulator's CPU time per request, per route. Env: DURATION (default 10s), CONNECTIONS (32), PORT (4310).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT="${PORT:-4310}"
MODEL="anthropic.claude-3-5-haiku-20241022-v1%3A0"

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq wrk >/dev/null
    else
        echo "wrk is missing: apt-get install wrk" >&2
        exit 1
    fi
fi

cargo build --release -p bedrock-sim --bin bedrock-sim
BIN=target/release/bedrock-sim

WORK="$(mktemp -d)"
SIM_PID=""
cleanup() {
    if [ -n "$SIM_PID" ]; then kill -TERM "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

taskset -c 0 "$BIN" --port "$PORT" --threads 1 >"$WORK/sim.out" 2>&1 &
SIM_PID=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$PORT/_sim/health" >/dev/null 2>&1 && break
    sleep 0.05
done
curl -fsS "http://127.0.0.1:$PORT/_sim/health" >/dev/null

CONVERSE_BODY='{"messages":[{"role":"user","content":[{"text":"What is the capital of France? Answer in one sentence."}]}],"inferenceConfig":{"maxTokens":200}}'
INVOKE_BODY='{"anthropic_version":"bedrock-2023-05-31","max_tokens":200,"messages":[{"role":"user","content":"What is the capital of France? Answer in one sentence."}]}'

lua_post() { # file body
    local body="${2//\\/\\\\}"
    body="${body//\"/\\\"}"
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = "$body"
wrk.headers["Content-Type"] = "application/json"
EOF
}
lua_post "$WORK/converse.lua" "$CONVERSE_BODY"
lua_post "$WORK/invoke.lua" "$INVOKE_BODY"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SIM_PID/stat"; }
TICK=$(getconf CLK_TCK)

run() { # name path lua
    local out="$WORK/$1.txt" before after
    before=$(cpu_ticks)
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$3" "http://127.0.0.1:$PORT$2" >"$out"
    local rps p50 p99 errors
    rps=$(awk '/^Requests\/sec/ {print $2}' "$out")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    errors=$(awk '/Non-2xx/ {print $5}' "$out")
    after=$(cpu_ticks)
    requests=$(awk '/requests in/ {print $1}' "$out")
    # Sim CPU time per request: robust to other load on the machine, unlike req/s and p99.
    cpu_us=$(awk -v t=$((after - before)) -v hz="$TICK" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
    printf '%-16s %10s req/s   p50 %-8s p99 %-8s sim CPU %6s us/req   non-2xx %s\n' \
        "$1" "$rps" "$p50" "$p99" "$cpu_us" "${errors:-0}"
}

echo "bedrock-sim on core 0 (--threads 1); wrk -t1 -c$CONNECTIONS -d$DURATION on core 1; $(nproc) cores, $(date -u +%F)"
run converse "/model/$MODEL/converse" "$WORK/converse.lua"
run converse-stream "/model/$MODEL/converse-stream" "$WORK/converse.lua"
run invoke "/model/$MODEL/invoke" "$WORK/invoke.lua"
echo "calls: $(curl -fsS "http://127.0.0.1:$PORT/_sim/calls" | head -c 300)"
