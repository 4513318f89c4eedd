//! Closed-loop load: a fixed number of requests shared by N connections, each sending its next
//! request as soon as the previous response has been read in full. Every latency is kept, so
//! percentiles are exact. The same code drives every target in a run.

use crate::client::{self, Sender};
use crate::stats::Latencies;
use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Load {
    pub addr: SocketAddr,
    pub path: String,
    pub body: Bytes,
    /// Requests measured.
    pub requests: usize,
    /// Requests sent first at the same concurrency and not measured (connections, pools, caches
    /// of both sides warm up).
    pub warmup: usize,
    pub concurrency: usize,
    /// Extra request headers (e.g. a gateway key).
    pub headers: HeaderMap,
    /// A body per request index instead of `body` (distinct prompts miss a response cache).
    pub bodies: Option<Bodies>,
}

/// Makes the body of request `index`.
#[derive(Clone)]
pub struct Bodies(pub Arc<dyn Fn(usize) -> Bytes + Send + Sync>);

impl std::fmt::Debug for Bodies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bodies(..)")
    }
}

#[derive(Debug, Default)]
pub struct LoadResult {
    /// Request sent → last body byte read.
    pub latency: Latencies,
    /// Request sent → first body byte read (time to first byte of a stream).
    pub ttfb: Latencies,
    pub errors: usize,
    pub first_error: Option<String>,
    /// Measured requests per second of wall time (warm-up excluded).
    pub throughput: f64,
    /// Headers of one successful response, to show which gateway features answered.
    pub sample_headers: Option<HeaderMap>,
}

#[derive(Default)]
struct WorkerResult {
    latency: Vec<Duration>,
    ttfb: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    sample_headers: Option<HeaderMap>,
    last_done: Option<Instant>,
}

/// A successful response's timings, or why it failed.
async fn one_request(
    sender: &mut Sender,
    load: &Load,
    index: usize,
) -> anyhow::Result<(Duration, Duration, HeaderMap)> {
    sender.ready().await?;
    let body = match &load.bodies {
        Some(bodies) => (bodies.0)(index),
        None => load.body.clone(),
    };
    let mut request = client::build(load.addr, Method::POST, &load.path, body)?;
    request
        .headers_mut()
        .extend(load.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    let started = Instant::now();
    let response = sender.send_request(request).await?;
    let (parts, mut body) = response.into_parts();
    let mut first_byte = None;
    let mut error_body = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data()
            && !data.is_empty()
        {
            first_byte.get_or_insert_with(|| started.elapsed());
            if !parts.status.is_success() && error_body.len() < 300 {
                error_body.extend_from_slice(&data);
            }
        }
    }
    let total = started.elapsed();
    if !parts.status.is_success() {
        anyhow::bail!("{}: {}", parts.status, String::from_utf8_lossy(&error_body));
    }
    Ok((total, first_byte.unwrap_or(total), parts.headers))
}

async fn worker(
    load: Arc<Load>,
    next: Arc<AtomicUsize>,
    measure_from: Arc<std::sync::OnceLock<Instant>>,
) -> WorkerResult {
    let mut out = WorkerResult::default();
    let total = load.warmup + load.requests;
    let mut sender: Option<Sender> = None;
    let mut failed_connects = 0;
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= total {
            break;
        }
        if index == load.warmup {
            let _ = measure_from.set(Instant::now());
        }
        let result = async {
            let s = match sender.as_mut() {
                Some(s) => s,
                None => sender.insert(client::connect(load.addr).await?),
            };
            one_request(s, &load, index).await
        }
        .await;
        match result {
            Ok((latency, ttfb, headers)) => {
                failed_connects = 0;
                if index >= load.warmup {
                    out.latency.push(latency);
                    out.ttfb.push(ttfb);
                    out.last_done = Some(Instant::now());
                    if out.sample_headers.is_none() {
                        out.sample_headers = Some(headers);
                    }
                }
            }
            Err(error) => {
                // Count it, start a fresh connection, and give up on a target that refuses them.
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("{error:#}"));
                sender = None;
                failed_connects += 1;
                if failed_connects >= 5 {
                    break;
                }
            }
        }
    }
    out
}

pub async fn run(load: &Load) -> anyhow::Result<LoadResult> {
    let load = Arc::new(load.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let measure_from = Arc::new(std::sync::OnceLock::new());
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..load.concurrency.max(1) {
        set.spawn(worker(load.clone(), next.clone(), measure_from.clone()));
    }
    let mut latency = Vec::with_capacity(load.requests);
    let mut ttfb = Vec::with_capacity(load.requests);
    let mut result = LoadResult::default();
    let mut last_done = started;
    while let Some(joined) = set.join_next().await {
        let w = joined?;
        latency.extend(w.latency);
        ttfb.extend(w.ttfb);
        result.errors += w.errors;
        if result.first_error.is_none() {
            result.first_error = w.first_error;
        }
        if result.sample_headers.is_none() {
            result.sample_headers = w.sample_headers;
        }
        if let Some(t) = w.last_done {
            last_done = last_done.max(t);
        }
    }
    let from = measure_from.get().copied().unwrap_or(started);
    let wall = last_done.saturating_duration_since(from).as_secs_f64();
    result.throughput = if wall > 0.0 {
        latency.len() as f64 / wall
    } else {
        0.0
    };
    result.latency = Latencies::new(latency);
    result.ttfb = Latencies::new(ttfb);
    Ok(result)
}
