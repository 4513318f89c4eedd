#!/usr/bin/env bash
# Where the gateway's CPU goes, per route: `perf record` (sampling, 2,999 Hz, this process only)
# on the API router hosted by api-local, built with the `profiling` profile (the release profile,
# LTO included, plus line tables and symbols), while scripts/profile_load.py sends one route's
# requests one at a time against bedrock-sim (answering at once, streams without delay).
#
# Writes target/bench/profile.md: per route, the gateway's CPU per request and the top symbols by
# self time, plus the same samples grouped by where they are (kernel, allocator, memcpy, JSON,
# SigV4/hashing, tokio, hyper, tracing, the gateway's own code). BENCHMARKS.md keeps the
# before/after. Usage: scripts/profile.sh [REQUESTS per route, default 20000]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
requests="${1:-20000}"
# PROFILE_CALLGRAPH=1: also record call stacks (DWARF unwinding; large files), to see who calls
# a hot symbol. PROFILE_API_LOCAL=path: profile that api-local binary instead (an A/B of a change): perf report -i target/bench/profile/<route>.data --no-children -S <symbol> -G
callgraph=()
[ "${PROFILE_CALLGRAPH:-}" = 1 ] && callgraph=(--call-graph dwarf,32768)

command -v perf >/dev/null || { echo "profile: perf is missing (Debian: linux-perf)" >&2; exit 1; }
bash scripts/setup.sh
# PROFILE_NO_BUILD=1: profile the binaries already in target/profiling (e.g. those a bench run
# just measured) without rebuilding them from a changed tree.
if [ "${PROFILE_NO_BUILD:-}" != 1 ]; then
  echo "profile: build (profile 'profiling': release + symbols)" >&2
  cargo build --profile profiling --quiet -p bedrock-sim -p api -p bench --bins
fi
target_dir="$(cargo metadata --no-deps --format-version 1 --offline | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/profiling"
out="$target_dir/bench/profile"
mkdir -p "$out"
py="$root/.venv/bin/python"

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sim_port="$(free_port)"; api_port="$(free_port)"
"$bin/bedrock-sim" --port "$sim_port" --threads 1 >"$out/sim.log" 2>&1 &
sim_pid=$!
API_LISTEN="127.0.0.1:$api_port" AWS_ENDPOINT_URL_BEDROCK_RUNTIME="http://127.0.0.1:$sim_port" \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  "${PROFILE_API_LOCAL:-$bin/api-local}" >"$out/api-local.log" 2>&1 &
api_pid=$!
trap 'kill $sim_pid $api_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$api_port/health" >/dev/null && curl -sf "http://127.0.0.1:$sim_port/_sim/health" >/dev/null && break
  sleep 0.1
done
curl -sf -X PUT "http://127.0.0.1:$sim_port/_sim/behavior" -d '{}' >/dev/null

report="$out/../profile.md"
{
  echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC') · commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes') · load $(cut -d' ' -f1 /proc/loadavg) · $requests requests per route, one at a time"
  echo
} >"$report"
for route in converse converse-stream chat; do
  "$py" scripts/profile_load.py "127.0.0.1:$api_port" "$api_pid" "$route" 500 >/dev/null  # warm-up
  perf record -q -F 2999 "${callgraph[@]}" -p "$api_pid" -o "$out/$route.data" 2>/dev/null &
  perf_pid=$!
  sleep 0.5
  cpu="$("$py" scripts/profile_load.py "127.0.0.1:$api_port" "$api_pid" "$route" "$requests")"
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  perf report -i "$out/$route.data" --stdio --no-children --sort dso,symbol --percent-limit 0 -q 2>/dev/null \
    >"$out/$route.txt"
  "$py" scripts/profile_summary.py "$route" "$cpu" "$out/$route.txt" >>"$report"
done
cat "$report"
echo "profile: written to $report (raw: $out/*.data, perf report -i …)" >&2
