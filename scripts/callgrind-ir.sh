#!/usr/bin/env bash
# Instructions per request of an api-local binary, from callgrind: repeatable to the instruction
# on a shared VM with no hardware counters, so it decides A/Bs (an allocator, a runtime flavour,
# a code change) where CPU time moves by ~20% between runs. Counts user-space instructions only.
#
# usage: scripts/callgrind-ir.sh [API_LOCAL_BIN] [ROUTE] [REQUESTS]
#   defaults: target/profiling/api-local, converse, 1000 (after 300 warm-up requests);
#   ROUTE as in scripts/profile_load.py. Needs valgrind and the profiling build (scripts/profile.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/target/profiling/api-local}"
route="${2:-converse}"
requests="${3:-1000}"
command -v valgrind >/dev/null || { echo "callgrind-ir: valgrind is missing (Debian: valgrind)" >&2; exit 1; }
py="$root/.venv/bin/python"
out="$(mktemp -d)"
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sim_port="$(free_port)"; api_port="$(free_port)"
"$root/target/profiling/bedrock-sim" --port "$sim_port" --threads 1 >"$out/sim.log" 2>&1 &
sim_pid=$!
API_LISTEN="127.0.0.1:$api_port" AWS_ENDPOINT_URL_BEDROCK_RUNTIME="http://127.0.0.1:$sim_port" \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" "$bin" >"$out/api.log" 2>&1 &
api_pid=$!
trap 'kill $sim_pid $api_pid 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$api_port/health" >/dev/null && break; sleep 0.2; done
"$py" "$root/scripts/profile_load.py" "127.0.0.1:$api_port" "$api_pid" "$route" 300 >/dev/null
callgrind_control -z "$api_pid" >/dev/null
"$py" "$root/scripts/profile_load.py" "127.0.0.1:$api_port" "$api_pid" "$route" "$requests" >/dev/null
callgrind_control -d "$api_pid" >/dev/null
sleep 1
dump="$(ls -S "$out"/cg.* | head -1)"
awk -v n="$requests" -v route="$route" '/^totals:/ {printf "%s: %.0f instructions per request (%d requests)\n", route, $2 / n, n}' "$dump"
