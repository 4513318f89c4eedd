#!/usr/bin/env bash
# The full benchmark run, one command: every figure in BENCHMARKS.md's gateway section.
#
# 1. release builds (with symbols: the `profiling` profile) of the simulator, the API (Lambda
#    binary and api-local host) and the harness;
# 2. a release zip per Lambda function binary with cargo-lambda (x86_64: the arm64 target is not
#    installable on these machines), from the project's .venv;
# 3. gateway-bench: overhead (direct vs gateway, c = 1, 16, 64, 5 runs), controls on (api keys,
#    limits, budgets, cache missed, state table in moto; 3 runs), Lambda streaming protocol, cold start of the binary
#    inside the api zip (20 starts), memory, zip sizes, worker throughput (the bootstrap inside
#    the worker zip against moto and the simulator, vs the emulator's own ceiling), goals.
# 4. scripts/profile.sh: perf on api-local per route (converse, converse-stream, chat), appended.
# The report is printed and written to target/bench/report.md. Extra arguments go to
# gateway-bench, e.g. `--features-note "retries + breaker on"` or `--pin 0,1`.
# Two release builds with LTO (target/profiling for the processes measured, cargo-lambda's
# x86_64-unknown-linux-gnu for the zips): ~20 min after source changes on 2 shared cores, of
# which the measurements take ~3 min.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh

# The processes measured are the `profiling` build: the release profile (LTO, opt-level 3) with
# line tables and symbols, so the profile at the end (scripts/profile.sh) samples these very
# binaries; symbols change no code. The zips below are cargo-lambda's stripped release builds.
echo "bench: release build with symbols (simulator, api, api-local, gateway-bench)" >&2
cargo build --profile profiling --quiet -p bedrock-sim -p api -p bench --bins

target_dir="$(cargo metadata --no-deps --format-version 1 --offline | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bench="$target_dir/profiling/gateway-bench"

mapfile -t functions < <("$bench" list-functions)
echo "bench: release zips (x86_64) for: ${functions[*]}" >&2
# A stale zip must not pass for a current one: a function that fails to build is reported as
# not built. One cargo-lambda call builds them all (shared compile); if one fails, one by one.
for f in "${functions[@]}"; do rm -f "$target_dir/lambda/$f/bootstrap.zip"; done
cargo_lambda() { PATH="$root/.venv/bin:$PATH" "$root/.venv/bin/cargo-lambda" lambda build --release --quiet --output-format zip "$@" >&2; }
bin_args=()
for f in "${functions[@]}"; do bin_args+=(--bin "$f"); done
if ! cargo_lambda "${bin_args[@]}"; then
    for f in "${functions[@]}"; do
        cargo_lambda --bin "$f" || echo "bench: cargo-lambda could not build $f; its size is reported as not built" >&2
    done
fi

# Measure the very bytes that would be deployed: the bootstrap inside each function's zip (else
# the plain release binary, which the report then names).
deployed_binary() {
    local f="$1" dir="$target_dir/bench/lambda/$1"
    rm -rf "$dir"
    if [ -f "$target_dir/lambda/$f/bootstrap.zip" ]; then
        mkdir -p "$dir"
        "$root/.venv/bin/python" -m zipfile -e "$target_dir/lambda/$f/bootstrap.zip" "$dir" >&2
        chmod +x "$dir/bootstrap"
        echo "$dir/bootstrap"
    else
        echo "$target_dir/profiling/$f"
    fi
}
lambda_bin="$(deployed_binary api)"
worker_bin="$(deployed_binary worker)"

"$bench" all --bin-dir "$target_dir/profiling" --lambda-bin "$lambda_bin" --worker-bin "$worker_bin" \
    --out "$target_dir/bench/report.md" "$@"

# Where the CPU goes: perf on api-local per route, appended to the report.
bash scripts/profile.sh
{ echo; echo "### Profile (scripts/profile.sh)"; echo; cat "$target_dir/bench/profile.md"; } >>"$target_dir/bench/report.md"
echo "bench: report written to $target_dir/bench/report.md" >&2
