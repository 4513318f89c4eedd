//! The Markdown report: every figure as median over runs with (min–max), the added latency
//! paired within each run, and the goals table, met or not.

use crate::cells::{cell, mib};
use crate::coldstart::ColdStartRun;
use crate::overhead::{Phase, Repeat, Scenario, Target};
use crate::size::PackageSize;
use crate::stats::{Spread, ms, spread_of};

/// Goals from issue 20 (performance), judged on the run's medians (RSS on its largest run).
pub const GOAL_CPU_CONVERSE_US: f64 = 100.0;
pub const GOAL_CPU_STREAM_US: f64 = 150.0;
/// Added p99 (converse) by concurrency.
pub const GOAL_ADDED_P99_MS: [(usize, f64); 3] = [(1, 0.3), (16, 1.0), (64, 3.0)];
pub const GOAL_ADDED_TTFB_P99_C16_MS: f64 = 1.0;
pub const GOAL_WARM_INVOCATION_P50_MS: f64 = 0.4;
pub const GOAL_INIT_MS: f64 = 5.0;
/// The Lambda binary's peak RSS measured before issue 20: no regression.
pub const GOAL_RSS_LAMBDA_MB: f64 = 12.7;
/// api-local under load (an older goal that still applies).
pub const GOAL_RSS_LOCAL_MB: f64 = 32.0;
pub const GOAL_API_ZIP_MB: f64 = 4.0;
/// Every other function's zip (an older goal that still applies).
pub const GOAL_ZIP_MB: f64 = 6.0;

pub struct RunInfo {
    pub date: String,
    pub mode: String,
    pub machine: String,
    pub command: String,
    pub binaries: String,
    pub features: Vec<String>,
}

pub struct Results {
    pub overhead: Option<Vec<Repeat>>,
    pub overhead_concurrency: Vec<usize>,
    pub overhead_requests: (usize, usize),
    pub cold_start: Option<Vec<ColdStartRun>>,
    pub lambda_bin: String,
    pub warm_invocations: usize,
    pub sizes: Option<Vec<PackageSize>>,
    pub worker: crate::worker_report::WorkerResults,
    pub pinned: Option<(usize, usize)>,
    /// The Lambda streaming protocol part, and its requests per cell.
    pub lambda_stream: Option<(Vec<crate::lambda_stream::StreamRun>, usize)>,
    /// The controls-on part, and its measured requests per phase.
    pub controls_on: Option<(Vec<crate::controls_on::ControlsRun>, usize)>,
}

fn phase(r: &Repeat, s: Scenario, c: usize, t: Target) -> Option<&Phase> {
    r.phases.get(&(s, c, t))
}

/// Failed requests of one phase, summed over the runs.
fn phase_errors(repeats: &[Repeat], s: Scenario, c: usize, t: Target) -> usize {
    repeats
        .iter()
        .filter_map(|r| phase(r, s, c, t))
        .map(|p| p.errors)
        .sum()
}

/// Gateway minus direct for one figure, paired within each run.
fn added(repeats: &[Repeat], s: Scenario, c: usize, f: impl Fn(&Phase) -> f64) -> Option<Spread> {
    spread_of(repeats, |r| {
        Some(f(phase(r, s, c, Target::Gateway)?) - f(phase(r, s, c, Target::Direct)?))
    })
}

const MIB: f64 = 1024.0 * 1024.0;

pub fn render(info: &RunInfo, results: &Results) -> String {
    let mut out = Vec::<String>::new();
    let mut push = |s: String| out.push(s);
    push(format!(
        "Run: {} · mode: {} · `{}`",
        info.date, info.mode, info.command
    ));
    push(String::new());
    push(format!("- Machine: {}", info.machine));
    push(format!("- Binaries: {}", info.binaries));
    match results.pinned {
        Some((sim, api)) => push(format!(
            "- Pinning: simulator on CPU {sim}, gateway on CPU {api}; load generator unpinned"
        )),
        None => push(
            "- Pinning: none (the kernel schedules simulator, gateway and load generator)"
                .to_owned(),
        ),
    }
    for f in &info.features {
        push(format!("- {f}"));
    }
    push(String::new());

    if let Some(repeats) = &results.overhead {
        overhead_section(&mut push, repeats, results);
    }
    if let Some((runs, requests)) = &results.controls_on {
        crate::controls_on::section(&mut push, runs, *requests);
    }
    if let Some((runs, requests)) = &results.lambda_stream {
        crate::lambda_stream::section(&mut push, runs, *requests);
    }
    if let Some(runs) = &results.cold_start {
        cold_start_section(&mut push, runs, results);
    }
    if let Some(sizes) = &results.sizes {
        size_section(&mut push, sizes);
    }
    crate::worker_report::section(&mut push, &results.worker);
    goals_section(&mut push, results);
    out.join("\n")
}

fn overhead_section(push: &mut impl FnMut(String), repeats: &[Repeat], results: &Results) {
    let runs = repeats.len();
    let (requests, stream_requests) = results.overhead_requests;
    push(
        "### Overhead: bedrock-sim direct vs through the API router (api-local), same run"
            .to_owned(),
    );
    push(String::new());
    push(format!(
        "Each cell: median over {runs} runs (min–max), milliseconds. Added = gateway − direct within the same run. \
         {requests} requests per converse phase, {stream_requests} per stream phase, after a warm-up of max(2×c, 20)."
    ));
    push(String::new());
    push("#### converse (non-streaming; simulator answers at once)".to_owned());
    push(String::new());
    push("| c | target | p50 | p90 | p99 | req/s | errors | sim calls/req |".to_owned());
    push("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |".to_owned());
    for &c in &results.overhead_concurrency {
        for t in [Target::Direct, Target::Gateway] {
            let get = |f: fn(&Phase) -> f64| {
                spread_of(repeats, |r| phase(r, Scenario::Converse, c, t).map(f))
            };
            let errors = phase_errors(repeats, Scenario::Converse, c, t);
            push(format!(
                "| {c} | {} | {} | {} | {} | {} | {errors} | {} |",
                t.name(),
                cell(get(|p| p.p50), 3),
                cell(get(|p| p.p90), 3),
                cell(get(|p| p.p99), 3),
                cell(get(|p| p.throughput), 0),
                cell(get(|p| p.sim_calls_per_request), 2),
            ));
        }
        let a = |f: fn(&Phase) -> f64| cell(added(repeats, Scenario::Converse, c, f), 3);
        push(format!(
            "| {c} | **added** | **{}** | **{}** | **{}** | | | |",
            a(|p| p.p50),
            a(|p| p.p90),
            a(|p| p.p99)
        ));
    }
    push(String::new());
    push(format!(
        "#### converse-stream: time to first byte (simulator waits {} ms between deltas)",
        crate::overhead::STREAM_CHUNK_DELAY_MS
    ));
    push(String::new());
    push("| c | target | TTFB p50 | TTFB p90 | TTFB p99 | whole stream p50 | whole stream p99 | errors | sim calls/req |".to_owned());
    push("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |".to_owned());
    let s = Scenario::ConverseStream;
    for &c in &results.overhead_concurrency {
        for t in [Target::Direct, Target::Gateway] {
            let get = |f: fn(&Phase) -> f64| spread_of(repeats, |r| phase(r, s, c, t).map(f));
            let errors = phase_errors(repeats, s, c, t);
            push(format!(
                "| {c} | {} | {} | {} | {} | {} | {} | {errors} | {} |",
                t.name(),
                cell(get(|p| p.ttfb_p50), 3),
                cell(get(|p| p.ttfb_p90), 3),
                cell(get(|p| p.ttfb_p99), 3),
                cell(get(|p| p.p50), 3),
                cell(get(|p| p.p99), 3),
                cell(get(|p| p.sim_calls_per_request), 2),
            ));
        }
        let a = |f: fn(&Phase) -> f64| cell(added(repeats, s, c, f), 3);
        push(format!(
            "| {c} | **added** | **{}** | **{}** | **{}** | {} | {} | | |",
            a(|p| p.ttfb_p50),
            a(|p| p.ttfb_p90),
            a(|p| p.ttfb_p99),
            a(|p| p.p50),
            a(|p| p.p99)
        ));
    }
    push(String::new());
    let first_errors: Vec<String> = repeats
        .iter()
        .flat_map(|r| r.phases.iter())
        .filter_map(|((s, c, t), p)| {
            p.first_error
                .as_ref()
                .map(|e| format!("{} c={c} {}: {e}", s.name(), t.name()))
        })
        .take(3)
        .collect();
    for e in first_errors {
        push(format!("- First error: {e}"));
    }
    push("Gateway process (api-local), per run:".to_owned());
    push(String::new());
    push("| figure | median (min–max) |".to_owned());
    push("| --- | ---: |".to_owned());
    for scenario in Scenario::ALL {
        push(format!(
            "| gateway CPU per {} request (µs, user+sys from /proc) | {} |",
            scenario.name(),
            cell(
                spread_of(repeats, |r| r.gateway_cpu_us.get(&scenario).copied()),
                0
            )
        ));
    }
    push(format!(
        "| gateway peak RSS after all phases, up to c={} (MiB, VmHWM) | {} |",
        results
            .overhead_concurrency
            .iter()
            .max()
            .copied()
            .unwrap_or(0),
        cell(
            spread_of(repeats, |r| Some(mib(r.gateway_peak_rss_kib as f64))),
            1
        )
    ));
    push(String::new());
}

fn cold_start_section(push: &mut impl FnMut(String), runs: &[ColdStartRun], results: &Results) {
    push(format!(
        "### Cold start: the Lambda binary under the harness's Runtime API ({} starts)",
        runs.len()
    ));
    push(String::new());
    push(format!("Binary: `{}`.", results.lambda_bin));
    push(String::new());
    push("| figure (ms unless stated) | median (min–max) |".to_owned());
    push("| --- | ---: |".to_owned());
    let ms_of = |f: fn(&ColdStartRun) -> Option<f64>| cell(spread_of(runs, f), 2);
    push(format!(
        "| init: exec → first `/next` poll | {} |",
        ms_of(|r| Some(ms(r.init)))
    ));
    push(format!(
        "| first invocation (converse POST; first Bedrock connection) | {} |",
        ms_of(|r| Some(ms(r.first_invocation)))
    ));
    push(format!(
        "| second invocation (`GET /health`) | {} |",
        ms_of(|r| Some(ms(r.health_invocation)))
    ));
    push(format!(
        "| warm converse invocation p50, {} per start | {} |",
        results.warm_invocations,
        ms_of(|r| r.warm.p50().map(ms))
    ));
    push(format!(
        "| warm converse invocation p99 | {} |",
        ms_of(|r| r.warm.p99().map(ms))
    ));
    push(format!(
        "| peak RSS after {} invocations (MiB, VmHWM) | {} |",
        results.warm_invocations + 2,
        cell(spread_of(runs, |r| Some(mib(r.peak_rss_kib as f64))), 1)
    ));
    push(String::new());
    let at_poll: u64 = runs.iter().map(|r| r.sentinel_at_first_poll).sum();
    let foreign: Vec<String> = runs
        .iter()
        .flat_map(|r| r.foreign_sockets.iter())
        .map(|s| format!("{} {}", s.proto, s.remote))
        .collect();
    let after = runs.iter().map(|r| r.sentinel_after).min().unwrap_or(0);
    let verdict = if at_poll == 0 && foreign.is_empty() {
        "PASS"
    } else {
        "FAIL"
    };
    push(format!(
        "No network during init: **{verdict}** — AWS endpoint sentinel connections before the first invocation: \
         {at_poll} (all starts); sockets at the first poll connected elsewhere than the Runtime API: {}; \
         the sentinel did see the first invocation's Bedrock call (≥ {after} connection per start), so it was in the path.",
        if foreign.is_empty() {
            "none".to_owned()
        } else {
            foreign.join(", ")
        }
    ));
    push(String::new());
}

fn size_section(push: &mut impl FnMut(String), sizes: &[PackageSize]) {
    push("### Package size (release, x86_64; cargo-lambda zip)".to_owned());
    push(String::new());
    push("| function | zip (MiB) | bytes | file |".to_owned());
    push("| --- | ---: | ---: | --- |".to_owned());
    for s in sizes {
        let (size, bytes) = match s.zip_bytes {
            Some(b) => (format!("{:.2}", b as f64 / MIB), b.to_string()),
            None => ("not built".to_owned(), "–".to_owned()),
        };
        push(format!(
            "| {} | {size} | {bytes} | `{}` |",
            s.function,
            s.zip.display()
        ));
    }
    push(String::new());
}

fn met(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

fn goals_section(push: &mut impl FnMut(String), results: &Results) {
    push("### Goals (issue 20)".to_owned());
    push(String::new());
    push("| goal | measured: median (min–max) | status |".to_owned());
    push("| --- | ---: | --- |".to_owned());
    let repeats = results.overhead.as_deref().unwrap_or(&[]);
    let median_at_most = |s: Option<Spread>, goal: f64| met(s.map(|s| s.median <= goal));
    for (scenario, goal, what) in [
        (
            Scenario::Converse,
            GOAL_CPU_CONVERSE_US,
            "converse request (controls off)",
        ),
        (
            Scenario::ConverseStream,
            GOAL_CPU_STREAM_US,
            "streamed request (converse-stream, local listener)",
        ),
    ] {
        let cpu = spread_of(repeats, |r| r.gateway_cpu_us.get(&scenario).copied());
        push(format!(
            "| gateway CPU per {what} ≤ {goal} µs | {} µs | {} |",
            cell(cpu, 0),
            median_at_most(cpu, goal)
        ));
    }
    for (c, goal) in GOAL_ADDED_P99_MS {
        let p99 = added(repeats, Scenario::Converse, c, |p| p.p99);
        let status = if results.overhead_concurrency.contains(&c) {
            median_at_most(p99, goal)
        } else {
            "not measured (c not run)"
        };
        push(format!(
            "| added p99 ≤ {goal} ms at c={c} (converse) | {} ms | {status} |",
            cell(p99, 3)
        ));
    }
    let ttfb = added(repeats, Scenario::ConverseStream, 16, |p| p.ttfb_p99);
    push(format!(
        "| added TTFB p99 ≤ {GOAL_ADDED_TTFB_P99_C16_MS} ms at c=16 (converse-stream) | {} ms | {} |",
        cell(ttfb, 3),
        median_at_most(ttfb, GOAL_ADDED_TTFB_P99_C16_MS)
    ));
    crate::lambda_stream::goal_rows(
        push,
        results
            .lambda_stream
            .as_ref()
            .map(|r| &r.0[..])
            .unwrap_or(&[]),
    );
    let runs = results.cold_start.as_deref().unwrap_or(&[]);
    let warm = spread_of(runs, |r| r.warm.p50().map(ms));
    push(format!(
        "| warm Lambda invocation p50 ≤ {GOAL_WARM_INVOCATION_P50_MS} ms (bench's Runtime API) | {} ms | {} |",
        cell(warm, 3),
        median_at_most(warm, GOAL_WARM_INVOCATION_P50_MS)
    ));
    crate::controls_on::goal_rows(
        push,
        results
            .controls_on
            .as_ref()
            .map(|r| &r.0[..])
            .unwrap_or(&[]),
    );
    crate::worker_report::goal_rows(push, &results.worker);
    let init = spread_of(runs, |r| Some(ms(r.init)));
    push(format!(
        "| init ≤ {GOAL_INIT_MS} ms | {} ms | {} |",
        cell(init, 2),
        median_at_most(init, GOAL_INIT_MS)
    ));
    match &results.sizes {
        Some(sizes) if !sizes.is_empty() => {
            for s in sizes {
                let goal = if s.function == "api" {
                    GOAL_API_ZIP_MB
                } else {
                    GOAL_ZIP_MB
                };
                let mb = s.zip_bytes.map(|b| b as f64 / MIB);
                push(format!(
                    "| zip ≤ {goal} MiB: `{}` (x86_64) | {} | {} |",
                    s.function,
                    mb.map(|m| format!("{m:.2} MiB"))
                        .unwrap_or_else(|| "not built".to_owned()),
                    met(mb.map(|m| m <= goal))
                ));
            }
        }
        _ => push(format!(
            "| zip ≤ {GOAL_API_ZIP_MB} MiB (api), ≤ {GOAL_ZIP_MB} MiB (others) | – | not measured |"
        )),
    }
    let rss_lambda = spread_of(runs, |r| Some(mib(r.peak_rss_kib as f64)));
    push(format!(
        "| RSS no regression: ≤ {GOAL_RSS_LAMBDA_MB} MiB, Lambda binary, one request at a time | {} MiB | {} |",
        cell(rss_lambda, 1),
        met(rss_lambda.map(|s| s.max <= GOAL_RSS_LAMBDA_MB))
    ));
    let c_max = results
        .overhead_concurrency
        .iter()
        .max()
        .copied()
        .unwrap_or(0);
    let rss_local = spread_of(repeats, |r| Some(mib(r.gateway_peak_rss_kib as f64)));
    push(format!(
        "| RSS ≤ {GOAL_RSS_LOCAL_MB} MiB: api-local under load up to c={c_max} | {} MiB | {} |",
        cell(rss_local, 1),
        met(rss_local.map(|s| s.max <= GOAL_RSS_LOCAL_MB))
    ));
    push(String::new());
    push(
        "RSS goals are judged on the largest run, the others on the median. MiB is AWS's \"MB\" \
         (the 50 MB zip quota is 52,428,800 bytes)."
            .to_owned(),
    );
}
