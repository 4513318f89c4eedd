//! Gateway overhead: the same requests, at the same concurrency, sent to bedrock-sim directly
//! and through the API router (the `api-local` binary: the Lambda function's router on a TCP
//! listener, in its own process, calling the simulator through the real AWS SDK), in the same
//! run. Each repeat starts fresh processes; direct and gateway alternate which goes first.
//!
//! Both targets get the Bedrock wire route `POST /model/{id}/converse[-stream]` with the same
//! body, so the responses have the same shape and size and the only difference is the gateway.

use crate::loadgen::{self, Load};
use crate::procs::{self, Proc};
use crate::stats::{Latencies, ms};
use anyhow::{Context, bail};
use bytes::Bytes;
use http::Method;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub const MODEL_PATH_ID: &str = "anthropic.claude-haiku-4-5-20251001-v1%3A0";
pub const CONVERSE_BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"What is the capital of France? Answer in one sentence."}]}],"inferenceConfig":{"maxTokens":200}}"#;
/// The same request on the gateway's own route (model in the body, by alias).
pub const GATEWAY_CONVERSE_BODY: &str = r#"{"modelId":"haiku","messages":[{"role":"user","content":[{"text":"What is the capital of France? Answer in one sentence."}]}],"inferenceConfig":{"maxTokens":200}}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// Non-streaming Converse; the simulator answers at once (no configured latency).
    Converse,
    /// ConverseStream; the simulator waits `STREAM_CHUNK_DELAY_MS` between deltas, so a
    /// gateway that buffered the stream would show it in the time to first byte.
    ConverseStream,
}

pub const STREAM_CHUNK_DELAY_MS: u64 = 2;
/// Larger deltas than the simulator's default (3 words) keep a stream to a few chunks, so the
/// c=1 phase stays short while a buffering gateway would still show in the first byte.
pub const STREAM_WORDS_PER_CHUNK: usize = 6;

impl Scenario {
    pub const ALL: [Scenario; 2] = [Scenario::Converse, Scenario::ConverseStream];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Converse => "converse",
            Scenario::ConverseStream => "converse-stream",
        }
    }

    fn path(self) -> String {
        format!("/model/{MODEL_PATH_ID}/{}", self.name())
    }

    fn sim_behavior(self) -> String {
        match self {
            Scenario::Converse => "{}".to_owned(),
            Scenario::ConverseStream => format!(
                r#"{{"chunkDelayMs":{STREAM_CHUNK_DELAY_MS},"wordsPerChunk":{STREAM_WORDS_PER_CHUNK}}}"#
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Direct,
    Gateway,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Direct => "direct",
            Target::Gateway => "gateway",
        }
    }
}

pub struct OverheadConfig {
    pub sim_bin: PathBuf,
    pub api_local_bin: PathBuf,
    pub concurrency: Vec<usize>,
    pub requests: usize,
    pub stream_requests: usize,
    pub repeats: usize,
    /// CPUs for the simulator and the gateway (`taskset`), if pinned.
    pub pin: Option<(usize, usize)>,
    pub log_dir: PathBuf,
}

/// The figures of one measured phase.
#[derive(Debug, Clone)]
pub struct Phase {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub ttfb_p50: f64,
    pub ttfb_p90: f64,
    pub ttfb_p99: f64,
    pub throughput: f64,
    pub errors: usize,
    pub first_error: Option<String>,
    /// Simulator calls per request sent (1.0 = one Bedrock call per request; below: a cache
    /// answered; above: retries or fallbacks).
    pub sim_calls_per_request: f64,
}

impl Phase {
    pub fn from(result: &loadgen::LoadResult, sim_calls: u64, sent: usize) -> Phase {
        let f = |l: &Latencies, p: f64| l.percentile(p).map(ms).unwrap_or(f64::NAN);
        Phase {
            p50: f(&result.latency, 50.0),
            p90: f(&result.latency, 90.0),
            p99: f(&result.latency, 99.0),
            ttfb_p50: f(&result.ttfb, 50.0),
            ttfb_p90: f(&result.ttfb, 90.0),
            ttfb_p99: f(&result.ttfb, 99.0),
            throughput: result.throughput,
            errors: result.errors,
            first_error: result.first_error.clone(),
            sim_calls_per_request: if sent > 0 {
                sim_calls as f64 / sent as f64
            } else {
                f64::NAN
            },
        }
    }
}

pub type PhaseKey = (Scenario, usize, Target);

/// Everything one repeat measured.
#[derive(Debug, Default)]
pub struct Repeat {
    pub phases: BTreeMap<PhaseKey, Phase>,
    /// The gateway's VmHWM after all phases (KiB).
    pub gateway_peak_rss_kib: u64,
    /// The gateway's CPU time per request, per scenario (µs), from `/proc` (robust to load).
    pub gateway_cpu_us: BTreeMap<Scenario, f64>,
    /// `x-gateway-*` response headers seen (name → value of one response).
    pub gateway_headers: BTreeMap<String, String>,
    /// What the gateway logged while starting (its JSON `message`s): it names features that are
    /// off or degraded, e.g. a missing state table.
    pub startup_log: Vec<String>,
}

/// The `level: message` of each JSON log line (other lines as they are), at most 10.
pub fn log_messages(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(
            |line| match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => format!(
                    "{} {}",
                    v["level"].as_str().unwrap_or("?"),
                    v["message"].as_str().unwrap_or(line)
                ),
                Err(_) => line.to_owned(),
            },
        )
        .take(10)
        .collect()
}

pub async fn sim_calls(sim: SocketAddr) -> anyhow::Result<u64> {
    let body = crate::client::call_ok(sim, Method::GET, "/_sim/calls", "").await?;
    let value: serde_json::Value = serde_json::from_slice(&body)?;
    value["total"].as_u64().context("/_sim/calls has no total")
}

/// api-local listening on `listen`, calling Bedrock at `sim`, with test credentials.
pub fn api_local_command(
    api_local_bin: &std::path::Path,
    listen: SocketAddr,
    sim: SocketAddr,
) -> Command {
    let mut command = Command::new(api_local_bin);
    command
        .env("API_LISTEN", listen.to_string())
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", format!("http://{sim}"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

async fn one_repeat(config: &OverheadConfig, index: usize) -> anyhow::Result<Repeat> {
    let (mut sim, sim_addr) = procs::start_sim(
        &config.sim_bin,
        &format!("sim-{index}"),
        config.pin.map(|p| p.0),
        &config.log_dir,
    )
    .await?;

    let api_addr = procs::localhost(procs::free_port()?);
    let mut api = Proc::spawn(
        &format!("api-local-{index}"),
        api_local_command(&config.api_local_bin, api_addr, sim_addr),
        config.pin.map(|p| p.1),
        &config.log_dir,
    )?;
    api.wait_http(api_addr, "/health", Duration::from_secs(20))
        .await?;

    let mut repeat = Repeat {
        startup_log: log_messages(&std::fs::read_to_string(&api.log).unwrap_or_default()),
        ..Repeat::default()
    };
    for scenario in Scenario::ALL {
        crate::client::call_ok(
            sim_addr,
            Method::PUT,
            "/_sim/behavior",
            &scenario.sim_behavior(),
        )
        .await?;
        let requests = match scenario {
            Scenario::Converse => config.requests,
            Scenario::ConverseStream => config.stream_requests,
        };
        let mut gateway_cpu = Duration::ZERO;
        let mut gateway_sent = 0;
        for (ci, &concurrency) in config.concurrency.iter().enumerate() {
            // Alternate the order so slow drift on a shared machine does not favour one side.
            let order = if (index + ci).is_multiple_of(2) {
                [Target::Direct, Target::Gateway]
            } else {
                [Target::Gateway, Target::Direct]
            };
            for target in order {
                let addr = match target {
                    Target::Direct => sim_addr,
                    Target::Gateway => api_addr,
                };
                let load = Load {
                    addr,
                    path: scenario.path(),
                    body: Bytes::from_static(CONVERSE_BODY.as_bytes()),
                    requests,
                    warmup: (2 * concurrency).max(20).min(requests),
                    concurrency,
                    headers: http::HeaderMap::new(),
                    bodies: None,
                };
                let calls_before = sim_calls(sim_addr).await?;
                let cpu_before = api.cpu_time()?;
                let result = loadgen::run(&load).await?;
                let cpu_after = api.cpu_time()?;
                let calls = sim_calls(sim_addr).await?.saturating_sub(calls_before);
                sim.check_alive()?;
                api.check_alive()?;
                let sent = load.warmup + load.requests;
                if target == Target::Gateway {
                    gateway_cpu += cpu_after.saturating_sub(cpu_before);
                    gateway_sent += sent;
                    if let Some(headers) = &result.sample_headers {
                        for (name, value) in headers {
                            if name.as_str().starts_with("x-gateway-") {
                                repeat.gateway_headers.insert(
                                    name.to_string(),
                                    value.to_str().unwrap_or("?").to_owned(),
                                );
                            }
                        }
                    }
                }
                if result.latency.len() == 0 {
                    bail!(
                        "{} {} c={concurrency}: no request succeeded ({} errors; first: {})",
                        scenario.name(),
                        target.name(),
                        result.errors,
                        result.first_error.as_deref().unwrap_or("none"),
                    );
                }
                repeat.phases.insert(
                    (scenario, concurrency, target),
                    Phase::from(&result, calls, sent),
                );
            }
        }
        if gateway_sent > 0 {
            repeat.gateway_cpu_us.insert(
                scenario,
                gateway_cpu.as_secs_f64() * 1e6 / gateway_sent as f64,
            );
        }
    }
    repeat.gateway_peak_rss_kib = api.peak_rss_kib()?;
    api.stop();
    sim.stop();
    Ok(repeat)
}

pub async fn run(config: &OverheadConfig) -> anyhow::Result<Vec<Repeat>> {
    procs::repeat(config.repeats, "overhead repeat", |i| one_repeat(config, i)).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn start_up_log_messages() {
        let log = "{\"level\":\"WARN\",\"message\":\"STATE_TABLE is not set\",\"target\":\"x\"}\nplain line\n\n";
        assert_eq!(
            super::log_messages(log),
            ["WARN STATE_TABLE is not set", "plain line"]
        );
    }
}
