//! `gateway-bench`: the gateway's benchmark harness. `scripts/bench.sh` is the full run;
//! `gateway-bench --quick` is the smoke check the test suite runs (it fails only when the
//! harness or the system under test breaks, never on a timing). See BENCHMARKS.md.
// A benchmark prints its report: that is its output, not a stray debug print.
#![allow(clippy::print_stdout)]

mod cells;
mod cli;
mod client;
mod coldstart;
mod controls_on;
mod invoke_host;
mod lambda_stream;
mod loadgen;
mod overhead;
mod procs;
mod recording_proxy;
mod report;
mod runtime_api;
mod sentinel;
mod size;
mod soak;
mod stats;
mod worker;
mod worker_report;

use anyhow::Context;
use cli::{Args, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e:#}\n\n{}", cli::USAGE);
            return ExitCode::from(64);
        }
    };
    // One thread: the load generator, the Runtime API and the sentinel share it, so the harness
    // takes at most one core from the processes it measures (and the cold-start hook cannot race
    // the function's first poll, see coldstart.rs).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gateway-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gateway-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.command == Command::ListFunctions {
        for f in size::discover(&args.root)?.functions {
            println!("{f}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let log_dir = std::env::temp_dir().join(format!("gateway-bench-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir).with_context(|| format!("create {}", log_dir.display()))?;
    if args.command == Command::Soak {
        return soak::main(&args, log_dir).await;
    }
    let wants = |c: Command| args.command == Command::All || args.command == c;
    let started = std::time::Instant::now();
    let load_before = cli::load_average();

    let workspace = if wants(Command::Size) {
        match size::discover(&args.root) {
            Ok(w) => Some(w),
            Err(e) if args.quick => {
                eprintln!("gateway-bench: function discovery skipped: {e:#}");
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };

    let mut results = report::Results {
        overhead: None,
        overhead_concurrency: args.concurrency.clone(),
        overhead_requests: (args.requests, args.stream_requests),
        cold_start: None,
        lambda_bin: args.lambda_bin.display().to_string(),
        warm_invocations: args.warm_invocations,
        sizes: None,
        worker: worker_report::WorkerResults::NotMeasured(
            "not run (`gateway-bench worker` measures it)".to_owned(),
        ),
        pinned: args.pin,
        lambda_stream: None,
        controls_on: None,
    };

    if wants(Command::Overhead) {
        eprintln!("gateway-bench: overhead ({} runs)…", args.repeats);
        let config = overhead::OverheadConfig {
            sim_bin: args.binary("bedrock-sim")?,
            api_local_bin: args.binary("api-local")?,
            concurrency: args.concurrency.clone(),
            requests: args.requests,
            stream_requests: args.stream_requests,
            repeats: args.repeats,
            pin: args.pin,
            log_dir: log_dir.clone(),
        };
        results.overhead = Some(overhead::run(&config).await?);
    }
    if wants(Command::ControlsOn) {
        let config = controls_on::ControlsOnConfig {
            sim_bin: args.binary("bedrock-sim")?,
            api_local_bin: args.binary("api-local")?,
            // Quick: c ≤ 16 only (moto and debug binaries make c = 64 slow).
            concurrency: args
                .concurrency
                .iter()
                .copied()
                .filter(|&c| !args.quick || c <= 16)
                .collect(),
            requests: args.controls_requests,
            counted_requests: if args.quick { 10 } else { 50 },
            repeats: if args.quick { 1 } else { args.repeats.min(3) },
            pin: args.pin,
            log_dir: log_dir.clone(),
        };
        eprintln!("gateway-bench: controls on ({} runs)…", config.repeats);
        results.controls_on = Some((controls_on::run(&config).await?, config.requests));
    }
    if wants(Command::LambdaStream) {
        let config = lambda_stream::LambdaStreamConfig {
            lambda_bin: cli::existing(&args.lambda_bin)?,
            api_local_bin: args.binary("api-local")?,
            sim_bin: args.binary("bedrock-sim")?,
            requests: args.stream_requests,
            repeats: args.repeats.min(3),
            pin: args.pin,
            log_dir: log_dir.clone(),
        };
        eprintln!(
            "gateway-bench: Lambda streaming protocol ({} runs)…",
            config.repeats
        );
        results.lambda_stream = Some((lambda_stream::run(&config).await?, config.requests));
    }
    if wants(Command::ColdStart) {
        eprintln!("gateway-bench: cold start ({} starts)…", args.cold_starts);
        let config = coldstart::ColdStartConfig {
            api_bin: cli::existing(&args.lambda_bin)?,
            repeats: args.cold_starts,
            warm_invocations: args.warm_invocations,
            cpu: args.pin.map(|p| p.1),
            log_dir: log_dir.clone(),
            timeout: std::time::Duration::from_secs(if args.quick { 60 } else { 20 }),
        };
        results.cold_start = Some(coldstart::run(&config, &args.binary("bedrock-sim")?).await?);
    }
    if wants(Command::Size) {
        results.sizes = workspace.as_ref().map(size::sizes);
    }
    if wants(Command::Worker) {
        eprintln!(
            "gateway-bench: worker ({} runs × instances {:?}, {} jobs per phase)…",
            args.worker_repeats, args.worker_instances, args.jobs
        );
        let config = worker::WorkerBenchConfig {
            worker_bin: cli::existing(&args.worker_bin)?,
            sim_bin: args.binary("bedrock-sim")?,
            jobs: args.jobs,
            repeats: args.worker_repeats,
            instances: args.worker_instances.clone(),
            concurrency: 8,
            log_dir: log_dir.clone(),
            timeout: std::time::Duration::from_secs(if args.quick { 120 } else { 300 }),
        };
        let (runs, calls) = worker::run(&config).await?;
        results.worker = worker_report::WorkerResults::Measured {
            runs,
            calls,
            jobs: config.jobs,
            concurrency: config.concurrency,
            worker_bin: args.worker_bin.display().to_string(),
        };
    }

    let mut features = vec![format!(
        "Gateway configuration: {}",
        match (
            std::env::var("GATEWAY_CONFIG"),
            std::env::var("GATEWAY_CONFIG_FILE")
        ) {
            (Ok(json), _) if !json.trim().is_empty() =>
                format!("GATEWAY_CONFIG ({} bytes)", json.len()),
            (_, Ok(file)) if !file.trim().is_empty() => format!("GATEWAY_CONFIG_FILE={file}"),
            _ => "built-in defaults".to_owned(),
        }
    )];
    if let Some(repeats) = &results.overhead {
        let mut headers: Vec<String> = repeats
            .iter()
            .flat_map(|r| r.gateway_headers.iter())
            .map(|(k, v)| format!("`{k}: {v}`"))
            .collect();
        headers.sort();
        headers.dedup();
        features.push(format!(
            "Gateway response headers seen (`x-gateway-*`, from one response per phase): {}",
            if headers.is_empty() {
                "none".to_owned()
            } else {
                headers.join(", ")
            }
        ));
        let mut lines: Vec<String> = repeats
            .iter()
            .flat_map(|r| r.startup_log.iter().cloned())
            .collect();
        lines.sort();
        lines.dedup();
        features.push(format!(
            "Gateway start-up log (api-local): {}",
            if lines.is_empty() {
                "empty".to_owned()
            } else {
                lines
                    .iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        ));
    }
    if let Some(note) = &args.features_note {
        features.push(format!("Features note: {note}"));
    }
    let info = report::RunInfo {
        date: httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(gateway::clock::unix_ms()),
        ),
        mode: if args.quick {
            "quick (smoke check; figures not meaningful)".to_owned()
        } else {
            "full".to_owned()
        },
        machine: format!(
            "{}; load average {} at start, {} at end; run took {:.0} s",
            cli::machine(),
            load_before,
            cli::load_average(),
            started.elapsed().as_secs_f64()
        ),
        command: args.command_line.clone(),
        binaries: format!("`{}`", args.bin_dir.display()),
        features,
    };
    let text = report::render(&info, &results);
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{text}\n"))
            .with_context(|| format!("write {}", out.display()))?;
    }
    // Only on success: on failure the logs stay for the error message's reader.
    let _ = std::fs::remove_dir_all(&log_dir);

    // A network call during init is a broken promise, not a slow timing: fail the run.
    let violated = results
        .cold_start
        .iter()
        .flatten()
        .any(|r| r.sentinel_at_first_poll > 0 || !r.foreign_sockets.is_empty());
    let sentinel_bypassed = results
        .cold_start
        .iter()
        .flatten()
        .any(|r| r.sentinel_after == 0);
    if violated {
        eprintln!(
            "gateway-bench: FAILED: the Lambda binary made network calls during init (see the cold start section)"
        );
        return Ok(ExitCode::from(2));
    }
    if sentinel_bypassed {
        eprintln!(
            "gateway-bench: FAILED: the sentinel saw no Bedrock call, so the no-network check proved nothing"
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}
