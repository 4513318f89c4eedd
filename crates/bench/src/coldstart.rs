//! Cold start of the Lambda binary: exec it against the harness's Runtime API, time exec → first
//! `/next` poll (init) and the first invocation, then a run of warm invocations for the
//! function's peak RSS as Lambda hosts it (one request at a time). Every AWS endpoint points at
//! the sentinel, which must have seen no connection when init ends.

use crate::procs::{self, Proc};
use crate::runtime_api::{self, Event, RuntimeState};
use crate::sentinel::{self, Socket};
use crate::stats::Latencies;
use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct ColdStartConfig {
    pub api_bin: PathBuf,
    pub repeats: usize,
    /// Warm `converse` invocations after the first two (converse, then health).
    pub warm_invocations: usize,
    pub cpu: Option<usize>,
    pub log_dir: PathBuf,
    /// How long one start may take before the run fails (debug builds are slower).
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ColdStartRun {
    /// exec → first `GET /runtime/invocation/next`.
    pub init: Duration,
    /// The first invocation (a converse POST): event handed out → response posted.
    pub first_invocation: Duration,
    /// The second invocation, `GET /health`.
    pub health_invocation: Duration,
    pub warm: Latencies,
    /// VmHWM after all invocations.
    pub peak_rss_kib: u64,
    pub sentinel_at_first_poll: u64,
    pub sentinel_after: u64,
    /// Sockets open at the first poll that are connected anywhere but the Runtime API.
    pub foreign_sockets: Vec<Socket>,
}

/// The api function under the harness: every AWS service, Bedrock by name and the instance
/// metadata service point at the sentinel.
fn lambda_command(bin: &Path, runtime_api: SocketAddr, sentinel: SocketAddr) -> Command {
    let sentinel_url = format!("http://{sentinel}");
    runtime_api::lambda_command(
        bin,
        runtime_api,
        runtime_api::FUNCTION_NAME,
        [
            ("AWS_ENDPOINT_URL", sentinel_url.clone()),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", sentinel_url.clone()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", sentinel_url),
        ],
    )
}

fn events(warm: usize) -> Vec<Event> {
    let converse = || Event {
        label: "converse",
        payload: runtime_api::http_api_event(
            "POST",
            "/v1/converse",
            Some(crate::overhead::GATEWAY_CONVERSE_BODY),
        ),
    };
    let mut events = vec![
        converse(),
        Event {
            label: "health",
            payload: runtime_api::http_api_event("GET", "/health", None),
        },
    ];
    events.extend((0..warm).map(|_| converse()));
    events
}

async fn one_start(
    config: &ColdStartConfig,
    sentinel_addr: SocketAddr,
    sentinel_count: &Arc<AtomicU64>,
    run: usize,
) -> anyhow::Result<ColdStartRun> {
    sentinel_count.store(0, Ordering::SeqCst);
    let state = RuntimeState::new(events(config.warm_invocations), sentinel_count.clone());
    let total = 2 + config.warm_invocations;
    let (runtime_addr, server) = runtime_api::serve(state.clone()).await?;
    let command = lambda_command(&config.api_bin, runtime_addr, sentinel_addr);

    // No await between exec and installing the hook: on this single-threaded runtime the first
    // poll cannot be handled before the hook is in place.
    let started = Instant::now();
    let mut proc = Proc::spawn(
        &format!("lambda-api-{run}"),
        command,
        config.cpu,
        &config.log_dir,
    )?;
    let census: Arc<Mutex<Option<anyhow::Result<Vec<Socket>>>>> = Arc::default();
    {
        let census = census.clone();
        let pid = proc.pid();
        state.on_first_poll(move || {
            if let Ok(mut c) = census.lock() {
                *c = Some(sentinel::sockets_of(pid));
            }
        });
    }

    let result = async {
        loop {
            if state.answered().len() >= total {
                break;
            }
            if let Some(e) = state.init_error.lock().ok().and_then(|e| e.clone()) {
                bail!("the function reported an init error: {e}");
            }
            proc.check_alive()?;
            if started.elapsed() > config.timeout {
                bail!(
                    "{} of {total} invocations answered after {:?}; output:\n{}",
                    state.answered().len(),
                    config.timeout,
                    proc.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
    .await;
    let peak_rss_kib = proc.peak_rss_kib().unwrap_or(0);
    proc.stop();
    server.abort();
    result?;

    let first_poll = state
        .first_poll
        .get()
        .cloned()
        .context("the function never polled")?;
    let done = state.answered();
    for inv in &done {
        if let Some(error) = &inv.error {
            bail!("invocation `{}` failed: {error}", inv.label);
        }
        if inv.status_code != Some(200) {
            bail!(
                "invocation `{}` returned status {:?}, not 200",
                inv.label,
                inv.status_code
            );
        }
    }
    if let Some(u) = state
        .unexpected
        .lock()
        .ok()
        .and_then(|u| u.first().cloned())
    {
        bail!("the function made an unexpected Runtime API call: {u}");
    }
    let runtime_port = runtime_addr.port();
    let sockets = match census.lock().ok().and_then(|mut c| c.take()) {
        Some(result) => result.context("socket census at the first poll")?,
        None => bail!("no socket census was taken at the first poll"),
    };
    let foreign_sockets = sockets
        .into_iter()
        .filter(|s| s.remote_port != 0 && s.remote_port != runtime_port)
        .collect();
    let duration_of = |i: usize| done.get(i).map(|d| d.duration).unwrap_or_default();
    Ok(ColdStartRun {
        init: first_poll.at.saturating_duration_since(started),
        first_invocation: duration_of(0),
        health_invocation: duration_of(1),
        warm: Latencies::new(done.iter().skip(2).map(|d| d.duration).collect()),
        peak_rss_kib,
        sentinel_at_first_poll: first_poll.sentinel_connections,
        sentinel_after: sentinel_count.load(Ordering::SeqCst),
        foreign_sockets,
    })
}

/// Runs `repeats` cold starts against one simulator (through the sentinel).
pub async fn run(config: &ColdStartConfig, sim_bin: &Path) -> anyhow::Result<Vec<ColdStartRun>> {
    let (sim, sim_addr) = procs::start_sim(sim_bin, "sim-coldstart", None, &config.log_dir).await?;

    let count = Arc::new(AtomicU64::new(0));
    let (sentinel_addr, sentinel_task) = sentinel::start(sim_addr, count.clone()).await?;
    let mut runs = Vec::with_capacity(config.repeats);
    for run in 0..config.repeats {
        let result = one_start(config, sentinel_addr, &count, run).await;
        match result {
            Ok(r) => runs.push(r),
            Err(e) => {
                sentinel_task.abort();
                return Err(e.context(format!("cold start {}/{}", run + 1, config.repeats)));
            }
        }
    }
    sentinel_task.abort();
    sim.stop();
    Ok(runs)
}
