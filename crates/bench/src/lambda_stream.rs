//! The deployed streaming path, timed: the Lambda binary with `API_RESPONSE_MODE=streaming`
//! (what runs behind the Function URL in `RESPONSE_STREAM` mode) under the harness's Runtime
//! API speaking the response-streaming protocol, one invocation at a time as Lambda runs them,
//! beside the same requests to the simulator directly and to the router on a local listener
//! (`api-local`), in the same run against the same simulator.
//!
//! Through the Runtime API, time to first byte is event queued → first body chunk after the
//! prelude received by the Runtime API (the bytes a Function URL would forward), and whole
//! stream is → the end of the chunked body. It includes the function's `/next` long poll being
//! answered, which Lambda's own front end also does; it excludes the Function URL's network hop.

use crate::loadgen::{self, Load};
use crate::overhead::{
    CONVERSE_BODY, MODEL_PATH_ID, STREAM_CHUNK_DELAY_MS, STREAM_WORDS_PER_CHUNK,
};
use crate::procs::{self, Proc};
use crate::runtime_api::{FUNCTION_NAME, function_url_event, lambda_command};
use crate::stats::{Latencies, ms};
use anyhow::{Context, bail};
use bytes::Bytes;
use http::Method;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use testkit::lambda_runtime::{Answer, RuntimeApi, StreamEnd, StreamItem};

const INVOKE_BODY: &str = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":200,"messages":[{"role":"user","content":"What is the capital of France? Answer in one sentence."}]}"#;
const GATEWAY_CONVERSE_STREAM_BODY: &str = crate::overhead::GATEWAY_CONVERSE_BODY;
const CHAT_STREAM_BODY: &str = r#"{"model":"haiku","stream":true,"max_tokens":200,"messages":[{"role":"user","content":"What is the capital of France? Answer in one sentence."}]}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
/// A streamed route (every variant streams).
pub enum Route {
    Converse,
    Chat,
    Invoke,
}

impl Route {
    pub const ALL: [Route; 3] = [Route::Converse, Route::Chat, Route::Invoke];

    pub fn name(self) -> &'static str {
        match self {
            Route::Converse => "converse-stream (`/v1/converse-stream`)",
            Route::Chat => "chat, `stream: true` (`/v1/chat/completions`)",
            Route::Invoke => "invoke-with-response-stream (`/model/{id}/…`)",
        }
    }

    /// The gateway's route and body.
    fn gateway(self) -> (String, &'static str) {
        match self {
            Route::Converse => ("/v1/converse-stream".into(), GATEWAY_CONVERSE_STREAM_BODY),
            Route::Chat => ("/v1/chat/completions".into(), CHAT_STREAM_BODY),
            Route::Invoke => (
                format!("/model/{MODEL_PATH_ID}/invoke-with-response-stream"),
                INVOKE_BODY,
            ),
        }
    }

    /// The Bedrock call the gateway makes for it, sent to the simulator directly.
    fn direct(self) -> (String, &'static str) {
        match self {
            Route::Converse | Route::Chat => (
                format!("/model/{MODEL_PATH_ID}/converse-stream"),
                CONVERSE_BODY,
            ),
            Route::Invoke => (
                format!("/model/{MODEL_PATH_ID}/invoke-with-response-stream"),
                INVOKE_BODY,
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Host {
    /// bedrock-sim itself.
    Direct,
    /// The router on a TCP listener (`api-local`).
    Local,
    /// The Lambda binary in streaming mode under the Runtime API (Function URL mode).
    FunctionUrl,
}

/// Milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub ttfb_p50: f64,
    pub ttfb_p99: f64,
    pub whole_p50: f64,
    pub whole_p99: f64,
}

impl Figures {
    fn of(ttfb: &Latencies, whole: &Latencies) -> Figures {
        let f = |l: &Latencies, p: f64| l.percentile(p).map(ms).unwrap_or(f64::NAN);
        Figures {
            ttfb_p50: f(ttfb, 50.0),
            ttfb_p99: f(ttfb, 99.0),
            whole_p50: f(whole, 50.0),
            whole_p99: f(whole, 99.0),
        }
    }
}

#[derive(Debug, Default)]
pub struct StreamRun {
    pub figures: BTreeMap<(Route, Host), Figures>,
    /// The Lambda process's CPU per invocation (µs), per route.
    pub lambda_cpu_us: BTreeMap<Route, f64>,
    /// Function URL mode: event queued → prelude (status and headers) received, p50 (ms).
    pub prelude_p50_ms: BTreeMap<Route, f64>,
}

pub struct LambdaStreamConfig {
    pub lambda_bin: PathBuf,
    pub api_local_bin: PathBuf,
    pub sim_bin: PathBuf,
    pub requests: usize,
    pub repeats: usize,
    pub pin: Option<(usize, usize)>,
    pub log_dir: PathBuf,
}

fn warmup(requests: usize) -> usize {
    (requests / 10).clamp(5, 30)
}

/// Sequential invocations through the streaming protocol: TTFB and whole-stream latencies.
async fn function_url(
    host: &RuntimeApi,
    route: Route,
    requests: usize,
    lambda: &mut Proc,
) -> anyhow::Result<(Latencies, Latencies, Latencies, Duration)> {
    let (path, body) = route.gateway();
    let event = function_url_event("POST", &path, Some(body)).to_string();
    let mut ttfb = Vec::with_capacity(requests);
    let mut whole = Vec::with_capacity(requests);
    let mut prelude = Vec::with_capacity(requests);
    let mut cpu_before = Duration::ZERO;
    for i in 0..warmup(requests) + requests {
        let measured = i >= warmup(requests);
        if i == warmup(requests) {
            // The process's CPU over the whole measured loop: `/proc` counts in clock ticks,
            // too coarse for one invocation.
            cpu_before = lambda.cpu_time()?;
        }
        let started = Instant::now();
        let answer =
            tokio::time::timeout(Duration::from_secs(30), host.invoke_answer(event.clone()))
                .await
                .with_context(|| format!("{path}: no answer within 30 s"))??;
        let Answer::Streamed(mut stream) = answer else {
            bail!(
                "{path}: a buffered answer; is API_RESPONSE_MODE=streaming reaching the function?"
            );
        };
        if stream.status() != Some(200) {
            bail!("{path}: status {:?} ({})", stream.status(), stream.prelude);
        }
        let mut first = None;
        let end = loop {
            match stream.next().await {
                Some(StreamItem::Chunk(_, at)) => {
                    first.get_or_insert(at);
                }
                Some(StreamItem::End(end, at)) => break (end, at),
                None => bail!("{path}: the stream vanished"),
            }
        };
        if end.0 != StreamEnd::Complete {
            bail!("{path}: the stream ended with {:?}", end.0);
        }
        let first = first.with_context(|| format!("{path}: an empty body"))?;
        if measured {
            prelude.push(stream.prelude_at.saturating_duration_since(started));
            ttfb.push(first.saturating_duration_since(started));
            whole.push(end.1.saturating_duration_since(started));
        }
        lambda.check_alive()?;
    }
    // Read after the Runtime API has the last body: the function's share is done (it then
    // waits in `/next`).
    let cpu = lambda.cpu_time()?.saturating_sub(cpu_before);
    Ok((
        Latencies::new(prelude),
        Latencies::new(ttfb),
        Latencies::new(whole),
        cpu,
    ))
}

async fn one_run(config: &LambdaStreamConfig, index: usize) -> anyhow::Result<StreamRun> {
    let (mut sim, sim_addr) = procs::start_sim(
        &config.sim_bin,
        &format!("sim-stream-{index}"),
        config.pin.map(|p| p.0),
        &config.log_dir,
    )
    .await?;
    crate::client::call_ok(
        sim_addr,
        Method::PUT,
        "/_sim/behavior",
        &format!(
            r#"{{"chunkDelayMs":{STREAM_CHUNK_DELAY_MS},"wordsPerChunk":{STREAM_WORDS_PER_CHUNK}}}"#
        ),
    )
    .await?;

    let api_addr = procs::localhost(procs::free_port()?);
    let mut api = Proc::spawn(
        &format!("api-local-stream-{index}"),
        crate::overhead::api_local_command(&config.api_local_bin, api_addr, sim_addr),
        config.pin.map(|p| p.1),
        &config.log_dir,
    )?;
    api.wait_http(api_addr, "/health", Duration::from_secs(20))
        .await?;

    let host = RuntimeApi::start(FUNCTION_NAME).await?;
    let sim_url = format!("http://{sim_addr}");
    let lambda_cmd = lambda_command(
        &config.lambda_bin,
        host.addr,
        FUNCTION_NAME,
        [
            ("API_RESPONSE_MODE", "streaming".to_owned()),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", sim_url),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ],
    );
    let mut lambda = Proc::spawn(
        &format!("lambda-stream-{index}"),
        lambda_cmd,
        config.pin.map(|p| p.1),
        &config.log_dir,
    )?;
    let waited = Instant::now();
    while host.polls() == 0 {
        if let Some(problem) = host.problem() {
            bail!("the streaming function: {problem}");
        }
        lambda.check_alive()?;
        if waited.elapsed() > Duration::from_secs(20) {
            bail!(
                "the streaming function never polled; output:\n{}",
                lambda.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let mut run = StreamRun::default();
    for route in Route::ALL {
        // Alternate which host goes first, so drift on a shared machine favours none.
        let mut hosts = [Host::Direct, Host::Local, Host::FunctionUrl];
        hosts.rotate_left((index + route as usize) % 3);
        for h in hosts {
            let figures = match h {
                Host::FunctionUrl => {
                    let (prelude, ttfb, whole, cpu) =
                        function_url(&host, route, config.requests, &mut lambda).await?;
                    if let Some(p) = prelude.percentile(50.0) {
                        run.prelude_p50_ms.insert(route, ms(p));
                    }
                    run.lambda_cpu_us.insert(
                        route,
                        cpu.as_secs_f64() * 1e6 / config.requests.max(1) as f64,
                    );
                    Figures::of(&ttfb, &whole)
                }
                Host::Direct | Host::Local => {
                    let ((path, body), addr) = if h == Host::Direct {
                        (route.direct(), sim_addr)
                    } else {
                        (route.gateway(), api_addr)
                    };
                    let load = Load {
                        addr,
                        path,
                        body: Bytes::from_static(body.as_bytes()),
                        requests: config.requests,
                        warmup: warmup(config.requests),
                        concurrency: 1,
                        headers: http::HeaderMap::new(),
                        bodies: None,
                    };
                    let result = loadgen::run(&load).await?;
                    if result.errors > 0 || result.latency.len() == 0 {
                        bail!(
                            "{} {h:?}: {} errors (first: {})",
                            route.name(),
                            result.errors,
                            result.first_error.as_deref().unwrap_or("none")
                        );
                    }
                    Figures::of(&result.ttfb, &result.latency)
                }
            };
            run.figures.insert((route, h), figures);
        }
        sim.check_alive()?;
        api.check_alive()?;
    }
    if let Some(problem) = host.problem() {
        bail!("the Runtime API saw: {problem}");
    }
    lambda.stop();
    api.stop();
    sim.stop();
    Ok(run)
}

pub async fn run(config: &LambdaStreamConfig) -> anyhow::Result<Vec<StreamRun>> {
    procs::repeat(config.repeats, "lambda streaming run", |i| {
        one_run(config, i)
    })
    .await
}

/// Most the Function URL path may add to the local listener's time to first byte (p50).
pub const GOAL_ADDED_TTFB_OVER_LOCAL_MS: f64 = 1.0;

fn spread(
    runs: &[StreamRun],
    f: impl Fn(&StreamRun) -> Option<f64>,
) -> Option<crate::stats::Spread> {
    crate::stats::spread_of(runs, f)
}

fn fig(r: &StreamRun, route: Route, h: Host) -> Option<Figures> {
    r.figures.get(&(route, h)).copied()
}

fn added_over_local(
    runs: &[StreamRun],
    route: Route,
    f: impl Fn(&Figures) -> f64,
) -> Option<crate::stats::Spread> {
    spread(runs, |r| {
        Some(f(&fig(r, route, Host::FunctionUrl)?) - f(&fig(r, route, Host::Local)?))
    })
}

/// The report's section.
pub fn section(push: &mut impl FnMut(String), runs: &[StreamRun], requests: usize) {
    use crate::cells::cell;
    push(
        "### Streaming through Lambda's response-streaming protocol (Function URL mode)".to_owned(),
    );
    push(String::new());
    push(format!(
        "The Lambda binary with `API_RESPONSE_MODE=streaming` under the harness's Runtime API \
         (`testkit::lambda_runtime`: `Lambda-Runtime-Function-Response-Mode: streaming`, chunked \
         `/response`, the HTTP-integration prelude and its 8 NUL bytes, error trailers), one \
         invocation at a time, beside the simulator direct and the router on a local listener \
         (`api-local`), same simulator (chunk delay {STREAM_CHUNK_DELAY_MS} ms, \
         {STREAM_WORDS_PER_CHUNK} words per delta), c = 1, {requests} measured requests per cell \
         after a warm-up. Each cell: median over {} runs (min–max), ms. Function URL TTFB = event \
         queued → first body byte after the prelude at the Runtime API (includes the function's \
         `/next` being answered; excludes the Function URL's network hop). Direct for chat is the \
         ConverseStream call the gateway makes for it.",
        runs.len()
    ));
    push(String::new());
    push("| route | host | TTFB p50 | TTFB p99 | whole p50 | whole p99 |".to_owned());
    push("| --- | --- | ---: | ---: | ---: | ---: |".to_owned());
    for route in Route::ALL {
        for (h, name) in [
            (Host::Direct, "direct (simulator)"),
            (Host::Local, "local listener (api-local)"),
            (
                Host::FunctionUrl,
                "**Function URL mode (Lambda streaming)**",
            ),
        ] {
            let c =
                |f: fn(&Figures) -> f64| cell(spread(runs, |r| fig(r, route, h).map(|x| f(&x))), 3);
            push(format!(
                "| {} | {name} | {} | {} | {} | {} |",
                route.name(),
                c(|f| f.ttfb_p50),
                c(|f| f.ttfb_p99),
                c(|f| f.whole_p50),
                c(|f| f.whole_p99),
            ));
        }
        push(format!(
            "| {} | **added: Function URL − local listener** | {} | {} | {} | {} |",
            route.name(),
            cell(added_over_local(runs, route, |f| f.ttfb_p50), 3),
            cell(added_over_local(runs, route, |f| f.ttfb_p99), 3),
            cell(added_over_local(runs, route, |f| f.whole_p50), 3),
            cell(added_over_local(runs, route, |f| f.whole_p99), 3),
        ));
    }
    push(String::new());
    push(
        "Function URL mode: the prelude (status, headers) against the first body byte, and the \
         Lambda process's CPU per invocation (from `/proc`, over the measured loop):"
            .to_owned(),
    );
    push(String::new());
    push(
        "| route | prelude p50 (ms) | first body byte p50 (ms) | CPU per invocation (µs) |"
            .to_owned(),
    );
    push("| --- | ---: | ---: | ---: |".to_owned());
    for route in Route::ALL {
        push(format!(
            "| {} | {} | {} | {} |",
            route.name(),
            cell(spread(runs, |r| r.prelude_p50_ms.get(&route).copied()), 3),
            cell(
                spread(runs, |r| fig(r, route, Host::FunctionUrl)
                    .map(|f| f.ttfb_p50)),
                3
            ),
            cell(spread(runs, |r| r.lambda_cpu_us.get(&route).copied()), 0)
        ));
    }
    push(String::new());
}

/// Goal rows: TTFB through the streaming protocol, judged on the worst route's median p50.
pub fn goal_rows(push: &mut impl FnMut(String), runs: &[StreamRun]) {
    let worst = Route::ALL
        .iter()
        .filter_map(|&route| added_over_local(runs, route, |f| f.ttfb_p50).map(|s| (route, s)))
        .max_by(|a, b| a.1.median.total_cmp(&b.1.median));
    match worst {
        Some((route, s)) => push(format!(
            "| TTFB through the Lambda streaming protocol ≤ {GOAL_ADDED_TTFB_OVER_LOCAL_MS} ms added over the local listener (p50, c=1; worst route: {}) | {} ms | {} |",
            route.name(),
            crate::cells::cell(Some(s), 3),
            if s.median <= GOAL_ADDED_TTFB_OVER_LOCAL_MS {
                "met"
            } else {
                "**not met**"
            }
        )),
        None => push(format!(
            "| TTFB through the Lambda streaming protocol ≤ {GOAL_ADDED_TTFB_OVER_LOCAL_MS} ms added over the local listener | – | not measured |"
        )),
    }
    let cpu = spread(runs, |r| r.lambda_cpu_us.values().copied().reduce(f64::max));
    push(format!(
        "| gateway CPU per streamed request ≤ 150 µs (Lambda binary, streaming protocol, worst route) | {} µs | {} |",
        crate::cells::cell(cpu, 0),
        match cpu {
            Some(s) if s.median <= 150.0 => "met",
            Some(_) => "**not met**",
            None => "not measured",
        }
    ));
}
