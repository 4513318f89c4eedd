//! Controls on: the API router (`api-local`) with `AUTH_MODE=api_keys` over a state table in
//! moto, called with a key that has rate and token limits, a concurrency cap and key and tenant
//! budgets (made by `gatewayctl`, as an operator would), the response cache on and missed (every
//! request deterministic, temperature 0, with a prompt of its own). Same converse requests as the
//! overhead part, to bedrock-sim directly and through the gateway, in the same run.
//!
//! api-local's DynamoDB and Bedrock endpoints point at the harness's recording proxy
//! ([`crate::recording_proxy`]), which keeps one ordered log of both. From it:
//! - DynamoDB calls per request before and after the model call, named, counted on sequential
//!   requests (each followed by a short quiet gap, so work done after the response is seen);
//! - the emulator's share of the latency: the time at least one DynamoDB call was outstanding
//!   (the union of the calls' upstream intervals), per request.
//!
//! The direct calls go through the proxy's Bedrock listener too, so the proxy's hop to the
//! simulator is on both sides and cancels out of "added"; the hops to moto are in "added" and in
//! the emulator's share. The gateway's CPU is api-local's user+sys from /proc: the emulator and
//! the simulator are other processes.

use crate::loadgen::{self, Bodies, Load};
use crate::overhead::{MODEL_PATH_ID, Phase, Target};
use crate::procs::{self, Proc};
use crate::recording_proxy::{self, Call, CallLog, Upstream};
use crate::stats::Spread;
use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const GOAL_CPU_US: f64 = 200.0;
pub const GOAL_DDB_BEFORE: f64 = 2.0;
pub const GOAL_DDB_AFTER: f64 = 1.0;
/// After each counted request, how long to wait for work the gateway does after answering.
const QUIET_GAP: Duration = Duration::from_millis(25);
const TENANT: &str = "bench";

pub struct ControlsOnConfig {
    pub sim_bin: PathBuf,
    pub api_local_bin: PathBuf,
    pub concurrency: Vec<usize>,
    /// Measured requests per timed phase.
    pub requests: usize,
    /// Sequential requests whose DynamoDB calls are counted.
    pub counted_requests: usize,
    pub repeats: usize,
    pub pin: Option<(usize, usize)>,
    pub log_dir: PathBuf,
}

/// One timed phase.
#[derive(Debug, Clone)]
pub struct ControlsPhase {
    pub figures: Phase,
    /// Mean latency of the measured requests (ms), to set against the mean moto time.
    pub mean_ms: f64,
    /// DynamoDB calls the proxy forwarded per request sent.
    pub ddb_calls_per_request: f64,
    /// Time with at least one DynamoDB call outstanding, per request sent (ms): at c = 1 the
    /// emulator's time on the requests' critical path.
    pub moto_ms_per_request: f64,
    /// api-local's CPU (user+sys) per request sent in this phase (µs); NaN for the direct
    /// phases.
    pub cpu_us_per_request: f64,
}

/// DynamoDB calls of the sequential requests, split at the model call.
#[derive(Debug, Clone, Default)]
pub struct CallCount {
    pub requests: usize,
    /// The controls' calls (keys, limits, budgets, cache): every call but the resilience
    /// layer's shared state.
    pub before: usize,
    pub after: usize,
    /// Calls on the shared model health and breaker items, amortised over requests.
    pub resilience: usize,
    /// Of `after`, calls the proxy received once the response had been read.
    pub after_response: usize,
    pub max_before: usize,
    pub max_after: usize,
    /// Requests with no (or more than one) model call: a cache hit or a retry.
    pub not_one_model_call: usize,
    /// DynamoDB calls answered with an error status (e.g. a failed condition).
    pub failed: usize,
    pub before_operations: BTreeMap<String, usize>,
    pub after_operations: BTreeMap<String, usize>,
}

impl CallCount {
    pub fn before_per_request(&self) -> f64 {
        self.before as f64 / self.requests.max(1) as f64
    }
    pub fn after_per_request(&self) -> f64 {
        self.after as f64 / self.requests.max(1) as f64
    }
    pub fn resilience_per_request(&self) -> f64 {
        self.resilience as f64 / self.requests.max(1) as f64
    }
}

/// Everything one repeat measured.
#[derive(Debug, Clone, Default)]
pub struct ControlsRun {
    pub phases: BTreeMap<(usize, Target), ControlsPhase>,
    /// api-local's CPU per request over all gateway phases (µs).
    pub gateway_cpu_us: f64,
    /// api-local's CPU per request at c = 1 (µs): one request at a time, as a Lambda instance
    /// serves them; the goal's figure. Under concurrency the requests queue behind moto (tens
    /// of requests a second), and timers, retries and wake-ups of waiting requests add CPU
    /// that a Lambda instance never sees.
    pub gateway_cpu_us_c1: f64,
    pub count: CallCount,
    /// The status of a request without a key (a refusal when the controls are on: 403 on the
    /// Bedrock wire route, as Bedrock answers).
    pub without_key_status: u16,
    /// `x-gateway-*` headers of one gateway response.
    pub gateway_headers: BTreeMap<String, String>,
}

/// A converse body with a prompt of its own (temperature 0: the cache would keep and reuse it).
fn body(tag: &str, index: usize) -> Bytes {
    Bytes::from(format!(
        r#"{{"messages":[{{"role":"user","content":[{{"text":"What is the capital of France? Answer in one sentence. ({tag}-{index})"}}]}}],"inferenceConfig":{{"maxTokens":200,"temperature":0}}}}"#
    ))
}

fn converse_path() -> String {
    format!("/model/{MODEL_PATH_ID}/converse")
}

/// Creates a key for [`TENANT`] with limits and a budget the run stays within, and a tenant
/// budget, with `gatewayctl`'s own commands; returns the API key.
async fn make_key(table: &str, max_concurrency: usize) -> anyhow::Result<String> {
    let moto = testkit::moto();
    let ctl = |args: Vec<String>| async move {
        let mut out = Vec::new();
        gatewayctl::run(&args, |_| None, moto.dynamodb(), &mut out)
            .await
            .with_context(|| format!("gatewayctl {}", args.join(" ")))?;
        Ok::<_, anyhow::Error>(out)
    };
    let words = |s: String| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let out = ctl(words(format!(
        "--table {table} keys create --tenant {TENANT} --rpm 10000000 --tpm 100000000000 \
         --concurrency {max_concurrency} --daily-usd 1000000 --monthly-usd 1000000 --no-sigv4 --json"
    )))
    .await?;
    let issued: serde_json::Value =
        serde_json::from_slice(&out).context("gatewayctl keys create --json: not JSON")?;
    let key = issued["api_key"]
        .as_str()
        .context("gatewayctl keys create printed no api_key")?
        .to_owned();
    ctl(words(format!(
        "--table {table} tenants set-budget {TENANT} --daily-usd 1000000 --monthly-usd 1000000"
    )))
    .await?;
    Ok(key)
}

/// Merged length of the DynamoDB calls' upstream intervals.
fn moto_busy(calls: &[Call]) -> Duration {
    let mut spans: Vec<(Instant, Instant)> = calls
        .iter()
        .filter(|c| c.upstream == Upstream::Moto)
        .map(|c| (c.upstream_started, c.upstream_ended))
        .collect();
    spans.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, end) in spans {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

/// One request on `sender`, the whole answer read; its status.
async fn send(
    sender: &mut crate::client::Sender,
    addr: std::net::SocketAddr,
    key: Option<&str>,
    body: Bytes,
) -> anyhow::Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let mut request = crate::client::build(addr, Method::POST, &converse_path(), body)?;
    if let Some(key) = key {
        request.headers_mut().insert(
            http::header::AUTHORIZATION,
            format!("Bearer {key}").parse()?,
        );
    }
    let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
        .await
        .context("no answer within 30 s")??;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

/// Sequential requests, each followed by a quiet gap; their DynamoDB calls split at the model
/// call.
async fn count_calls(
    api_addr: std::net::SocketAddr,
    key: &str,
    log: &CallLog,
    requests: usize,
) -> anyhow::Result<CallCount> {
    let mut sender = crate::client::connect(api_addr).await?;
    let mut count = CallCount {
        requests,
        ..CallCount::default()
    };
    for index in 0..requests {
        let mark = log.mark();
        let (status, answer) = send(&mut sender, api_addr, Some(key), body("count", index)).await?;
        let answered = Instant::now();
        if !status.is_success() {
            bail!(
                "counted request {index}: {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        tokio::time::sleep(QUIET_GAP).await;
        let calls = log.since(mark);
        let models: Vec<usize> = calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.upstream == Upstream::Bedrock)
            .map(|(i, _)| i)
            .collect();
        let [model] = models[..] else {
            count.not_one_model_call += 1;
            continue;
        };
        let (mut before, mut after) = (0, 0);
        for (i, call) in calls.iter().enumerate() {
            if call.upstream != Upstream::Moto {
                continue;
            }
            let (n, ops) = if i < model {
                (&mut before, &mut count.before_operations)
            } else {
                (&mut after, &mut count.after_operations)
            };
            *ops.entry(call.operation.clone()).or_default() += 1;
            if call.operation.ends_with(recording_proxy::RESILIENCE_SUFFIX) {
                count.resilience += 1;
            } else {
                *n += 1;
            }
            if call.status >= 400 {
                count.failed += 1;
            }
            if i > model && call.received >= answered {
                count.after_response += 1;
            }
        }
        count.before += before;
        count.after += after;
        count.max_before = count.max_before.max(before);
        count.max_after = count.max_after.max(after);
    }
    Ok(count)
}

async fn one_repeat(config: &ControlsOnConfig, index: usize) -> anyhow::Result<ControlsRun> {
    let (mut sim, sim_addr) = procs::start_sim(
        &config.sim_bin,
        &format!("controls-sim-{index}"),
        config.pin.map(|p| p.0),
        &config.log_dir,
    )
    .await?;
    let moto = testkit::moto();
    let table = testkit::unique_name("bench-state");
    testkit::resources::create_table(&moto.dynamodb(), &table, true, false).await;
    let max_c = config.concurrency.iter().copied().max().unwrap_or(1);
    let key = make_key(&table, max_c).await?;

    let log = Arc::new(CallLog::default());
    let moto_addr = recording_proxy::socket_addr(moto.endpoint_url())?;
    let moto_proxy = recording_proxy::listen(Upstream::Moto, moto_addr, log.clone()).await?;
    let sim_proxy = recording_proxy::listen(Upstream::Bedrock, sim_addr, log.clone()).await?;

    let api_addr = procs::localhost(procs::free_port()?);
    let mut command =
        crate::overhead::api_local_command(&config.api_local_bin, api_addr, sim_proxy);
    command
        .env("AUTH_MODE", "api_keys")
        .env("STATE_TABLE", &table)
        .env("AWS_ENDPOINT_URL_DYNAMODB", format!("http://{moto_proxy}"))
        // Any other AWS call lands in the log too (named by its target), not in AWS.
        .env("AWS_ENDPOINT_URL", format!("http://{moto_proxy}"));
    let mut api = Proc::spawn(
        &format!("controls-api-local-{index}"),
        command,
        config.pin.map(|p| p.1),
        &config.log_dir,
    )?;
    api.wait_http(api_addr, "/health", Duration::from_secs(20))
        .await?;

    let mut run = ControlsRun::default();
    let mut sender = crate::client::connect(api_addr).await?;
    run.without_key_status = send(&mut sender, api_addr, None, body("nokey", 0))
        .await?
        .0
        .as_u16();
    drop(sender);

    let mut auth = HeaderMap::new();
    auth.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {key}"))?,
    );
    let mut cpu = Duration::ZERO;
    let mut gateway_sent = 0;
    for (ci, &concurrency) in config.concurrency.iter().enumerate() {
        let order = if (index + ci).is_multiple_of(2) {
            [Target::Direct, Target::Gateway]
        } else {
            [Target::Gateway, Target::Direct]
        };
        for target in order {
            let tag = format!("r{index}-c{concurrency}-{}", target.name());
            let load = Load {
                addr: match target {
                    Target::Direct => sim_proxy,
                    Target::Gateway => api_addr,
                },
                path: converse_path(),
                body: Bytes::new(),
                requests: config.requests,
                warmup: (2 * concurrency).max(20).min(config.requests),
                concurrency,
                headers: auth.clone(),
                bodies: Some(Bodies(Arc::new(move |i| body(&tag, i)))),
            };
            let calls_before = crate::overhead::sim_calls(sim_addr).await?;
            let mark = log.mark();
            let cpu_before = api.cpu_time()?;
            let result = loadgen::run(&load).await?;
            let cpu_after = api.cpu_time()?;
            // Work the gateway does after answering belongs to this phase.
            tokio::time::sleep(QUIET_GAP).await;
            let calls = log.since(mark);
            let sim_calls = crate::overhead::sim_calls(sim_addr)
                .await?
                .saturating_sub(calls_before);
            sim.check_alive()?;
            api.check_alive()?;
            let sent = load.warmup + load.requests;
            let phase_cpu = cpu_after.saturating_sub(cpu_before);
            if result.latency.len() == 0 {
                bail!(
                    "controls on, {} c={concurrency}: no request succeeded ({} errors; first: {})",
                    target.name(),
                    result.errors,
                    result.first_error.as_deref().unwrap_or("none"),
                );
            }
            if target == Target::Gateway {
                cpu += phase_cpu;
                gateway_sent += sent;
                for (name, value) in result.sample_headers.iter().flatten() {
                    if name.as_str().starts_with("x-gateway-") {
                        run.gateway_headers
                            .insert(name.to_string(), value.to_str().unwrap_or("?").to_owned());
                    }
                }
            }
            let ddb = calls
                .iter()
                .filter(|c| c.upstream == Upstream::Moto)
                .count();
            run.phases.insert(
                (concurrency, target),
                ControlsPhase {
                    figures: Phase::from(&result, sim_calls, sent),
                    mean_ms: result
                        .latency
                        .mean()
                        .map(crate::stats::ms)
                        .unwrap_or(f64::NAN),
                    ddb_calls_per_request: ddb as f64 / sent as f64,
                    moto_ms_per_request: crate::stats::ms(moto_busy(&calls)) / sent as f64,
                    cpu_us_per_request: match target {
                        Target::Gateway => phase_cpu.as_secs_f64() * 1e6 / sent as f64,
                        Target::Direct => f64::NAN,
                    },
                },
            );
        }
    }
    run.gateway_cpu_us = cpu.as_secs_f64() * 1e6 / gateway_sent.max(1) as f64;
    run.gateway_cpu_us_c1 = run
        .phases
        .get(&(1, Target::Gateway))
        .map_or(f64::NAN, |p| p.cpu_us_per_request);
    run.count = count_calls(api_addr, &key, &log, config.counted_requests).await?;
    api.check_alive()?;
    api.stop();
    sim.stop();
    Ok(run)
}

pub async fn run(config: &ControlsOnConfig) -> anyhow::Result<Vec<ControlsRun>> {
    procs::repeat(config.repeats, "controls-on repeat", |i| {
        one_repeat(config, i)
    })
    .await
}

fn spread(runs: &[ControlsRun], f: impl Fn(&ControlsRun) -> Option<f64>) -> Option<Spread> {
    crate::stats::spread_of(runs, f)
}

fn phase_spread(
    runs: &[ControlsRun],
    c: usize,
    t: Target,
    f: impl Fn(&ControlsPhase) -> f64,
) -> Option<Spread> {
    spread(runs, |r| r.phases.get(&(c, t)).map(&f))
}

/// Gateway minus direct, paired within each run.
fn added(runs: &[ControlsRun], c: usize, f: impl Fn(&ControlsPhase) -> f64) -> Option<Spread> {
    spread(runs, |r| {
        Some(f(r.phases.get(&(c, Target::Gateway))?) - f(r.phases.get(&(c, Target::Direct))?))
    })
}

fn operations(ops: &BTreeMap<String, usize>, requests: usize) -> String {
    if ops.is_empty() {
        return "none".to_owned();
    }
    ops.iter()
        .map(|(op, n)| format!("{op} × {:.2}", *n as f64 / requests.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn section(push: &mut impl FnMut(String), runs: &[ControlsRun], requests: usize) {
    use crate::cells::cell;
    let mut concurrency: Vec<usize> = runs
        .iter()
        .flat_map(|r| r.phases.keys().map(|(c, _)| *c))
        .collect();
    concurrency.dedup();
    concurrency.sort_unstable();
    concurrency.dedup();
    push(
        "### Controls on: API keys, limits, budgets, response cache (missed), state table in moto"
            .to_owned(),
    );
    push(String::new());
    push(format!(
        "api-local with `AUTH_MODE=api_keys` over a fresh state table in moto; a key (made with \
         `gatewayctl keys create`) with rate and token limits, a concurrency cap and a daily and \
         monthly budget, and a tenant budget; every request a converse call on the Bedrock wire \
         route with a prompt of its own at temperature 0 (cacheable, never cached before: the \
         cache is read and written, never hit). api-local's DynamoDB and Bedrock endpoints go \
         through the harness's recording proxy; the direct calls go through the same proxy's \
         Bedrock listener, so that hop is on both sides. {requests} measured requests per phase \
         after a warm-up of max(2×c, 20). Each cell: median over {} runs (min–max), ms. \
         **moto busy** = time at least one DynamoDB call was outstanding at the proxy, per \
         request: the emulator's share of the added latency (exact at c = 1, where calls of \
         different requests do not overlap); *added mean − moto busy* (in the p50 column) is what \
         is left for the gateway and the proxy's hops to moto.",
        runs.len()
    ));
    push(String::new());
    push("| c | target | p50 | p90 | p99 | req/s | errors | sim calls/req | DynamoDB calls/req | moto busy ms/req | gateway CPU µs/req |".to_owned());
    push(
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |".to_owned(),
    );
    for &c in &concurrency {
        for t in [Target::Direct, Target::Gateway] {
            let get = |f: fn(&ControlsPhase) -> f64| phase_spread(runs, c, t, f);
            let errors: usize = runs
                .iter()
                .filter_map(|r| r.phases.get(&(c, t)))
                .map(|p| p.figures.errors)
                .sum();
            push(format!(
                "| {c} | {} | {} | {} | {} | {} | {errors} | {} | {} | {} | {} |",
                t.name(),
                cell(get(|p| p.figures.p50), 3),
                cell(get(|p| p.figures.p90), 3),
                cell(get(|p| p.figures.p99), 3),
                cell(get(|p| p.figures.throughput), 0),
                cell(get(|p| p.figures.sim_calls_per_request), 2),
                cell(get(|p| p.ddb_calls_per_request), 2),
                cell(get(|p| p.moto_ms_per_request), 3),
                match t {
                    Target::Gateway => cell(get(|p| p.cpu_us_per_request), 0),
                    Target::Direct => "–".to_owned(),
                },
            ));
        }
        let a = |f: fn(&ControlsPhase) -> f64| cell(added(runs, c, f), 3);
        push(format!(
            "| {c} | **added** | **{}** | **{}** | **{}** | | | | | | |",
            a(|p| p.figures.p50),
            a(|p| p.figures.p90),
            a(|p| p.figures.p99)
        ));
        let not_moto = spread(runs, |r| {
            let g = r.phases.get(&(c, Target::Gateway))?;
            let d = r.phases.get(&(c, Target::Direct))?;
            Some(g.mean_ms - d.mean_ms - g.moto_ms_per_request)
        });
        push(format!(
            "| {c} | added mean − moto busy (the gateway's own share) | {} | | | | | | | | |",
            cell(not_moto, 3)
        ));
    }
    push(String::new());
    for e in runs
        .iter()
        .flat_map(|r| r.phases.iter())
        .filter_map(|((c, t), p)| {
            p.figures
                .first_error
                .as_ref()
                .map(|e| format!("c={c} {}: {e}", t.name()))
        })
        .take(3)
    {
        push(format!("- First error: {e}"));
    }
    let count_requests = runs.first().map(|r| r.count.requests).unwrap_or(0);
    push(format!(
        "DynamoDB calls per request, counted on {count_requests} sequential requests per run after \
         the timed phases (each followed by {} ms of quiet), split at the Bedrock call in the \
         proxy's ordered log:",
        QUIET_GAP.as_millis()
    ));
    push(String::new());
    push("| figure | median (min–max) |".to_owned());
    push("| --- | ---: |".to_owned());
    push(format!(
        "| gateway CPU per request, controls on, c = 1 (µs, api-local user+sys from /proc) | {} |",
        cell(spread(runs, |r| Some(r.gateway_cpu_us_c1)), 0)
    ));
    push(format!(
        "| gateway CPU per request, controls on, all phases (µs) | {} |",
        cell(spread(runs, |r| Some(r.gateway_cpu_us)), 0)
    ));
    push(format!(
        "| the controls' DynamoDB calls before the model call, per request (largest) | {} ({}) |",
        cell(spread(runs, |r| Some(r.count.before_per_request())), 2),
        runs.iter().map(|r| r.count.max_before).max().unwrap_or(0)
    ));
    push(format!(
        "| the controls' DynamoDB calls after the model call, per request (largest) | {} ({}) |",
        cell(spread(runs, |r| Some(r.count.after_per_request())), 2),
        runs.iter().map(|r| r.count.max_after).max().unwrap_or(0)
    ));
    push(format!(
        "| the resilience layer's calls (shared model health and breaker state, loaded when stale and flushed every few seconds), per request | {} |",
        cell(spread(runs, |r| Some(r.count.resilience_per_request())), 2),
    ));
    push(format!(
        "| of those after, received once the response was read, per request | {} |",
        cell(
            spread(runs, |r| Some(
                r.count.after_response as f64 / r.count.requests.max(1) as f64
            )),
            2
        )
    ));
    push(format!(
        "| requests without exactly one model call (cache hit, retry) | {} |",
        runs.iter()
            .map(|r| r.count.not_one_model_call)
            .sum::<usize>()
    ));
    push(format!(
        "| DynamoDB calls answered with an error status | {} |",
        runs.iter().map(|r| r.count.failed).sum::<usize>()
    ));
    push(format!(
        "| request without a key: status | {} |",
        runs.iter()
            .map(|r| r.without_key_status.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    push(String::new());
    if let Some(first) = runs.first() {
        push(format!(
            "- Operations before the model call (first run, per request): {}",
            operations(&first.count.before_operations, first.count.requests)
        ));
        push(format!(
            "- Operations after the model call (first run, per request): {}",
            operations(&first.count.after_operations, first.count.requests)
        ));
        let headers: Vec<String> = first
            .gateway_headers
            .iter()
            .map(|(k, v)| format!("`{k}: {v}`"))
            .collect();
        push(format!(
            "- Gateway response headers (one response): {}",
            if headers.is_empty() {
                "none".to_owned()
            } else {
                headers.join(", ")
            }
        ));
    }
    push(String::new());
}

pub fn goal_rows(push: &mut impl FnMut(String), runs: &[ControlsRun]) {
    let status = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    };
    let cpu = spread(runs, |r| {
        Some(r.gateway_cpu_us_c1).filter(|v| v.is_finite())
    });
    push(format!(
        "| gateway CPU per request, controls on (excluding emulator; c = 1, as Lambda serves) ≤ {GOAL_CPU_US} µs | {} µs | {} |",
        crate::cells::cell(cpu, 0),
        status(cpu.map(|s| s.median <= GOAL_CPU_US))
    ));
    let before = spread(runs, |r| Some(r.count.before_per_request()));
    let after = spread(runs, |r| Some(r.count.after_per_request()));
    let ok = match (before, after) {
        (Some(b), Some(a)) => Some(b.median <= GOAL_DDB_BEFORE && a.median <= GOAL_DDB_AFTER),
        _ => None,
    };
    let resilience = spread(runs, |r| Some(r.count.resilience_per_request()));
    push(format!(
        "| the controls' DynamoDB calls per request, warm ≤ {GOAL_DDB_BEFORE} before + {GOAL_DDB_AFTER} after | {} before + {} after (and {} of shared model health and breaker state) | {} |",
        crate::cells::cell(before, 2),
        crate::cells::cell(after, 2),
        crate::cells::cell(resilience, 2),
        status(ok)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(upstream: Upstream, from_ms: u64, to_ms: u64, zero: Instant) -> Call {
        Call {
            upstream,
            operation: "GetItem".to_owned(),
            received: zero + Duration::from_millis(from_ms),
            upstream_started: zero + Duration::from_millis(from_ms),
            upstream_ended: zero + Duration::from_millis(to_ms),
            status: 200,
        }
    }

    #[test]
    fn moto_busy_is_the_union_of_dynamodb_calls() {
        let zero = Instant::now();
        let calls = [
            // Two concurrent calls (0–10, 5–12), a gap, one more (20–25); Bedrock not counted.
            call(Upstream::Moto, 0, 10, zero),
            call(Upstream::Moto, 5, 12, zero),
            call(Upstream::Bedrock, 12, 20, zero),
            call(Upstream::Moto, 20, 25, zero),
        ];
        assert_eq!(moto_busy(&calls), Duration::from_millis(17));
        assert_eq!(moto_busy(&[]), Duration::ZERO);
    }

    #[test]
    fn every_body_has_a_prompt_of_its_own() {
        assert_ne!(body("a", 1), body("a", 2));
        assert_ne!(body("a", 1), body("b", 1));
        let v: serde_json::Value = serde_json::from_slice(&body("a", 1)).unwrap();
        assert_eq!(v["inferenceConfig"]["temperature"], 0);
    }
}
