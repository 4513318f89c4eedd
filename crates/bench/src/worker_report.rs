//! The worker throughput section of the report and its goal rows.

use crate::cells::{cell, mib};
use crate::stats::{ms, spread_of};
use crate::worker::{GOAL_RATIO, WorkerRun};

/// What was measured, or why nothing was.
pub enum WorkerResults {
    Measured {
        runs: Vec<WorkerRun>,
        /// Jobs counted and the AWS calls per job, from the untimed proxied pass.
        calls: (usize, crate::worker::CallsPerJob),
        jobs: usize,
        concurrency: usize,
        worker_bin: String,
    },
    NotMeasured(String),
}

fn instance_counts(runs: &[WorkerRun]) -> Vec<usize> {
    let mut counts: Vec<usize> = runs.iter().map(|r| r.instances).collect();
    counts.sort_unstable();
    counts.dedup();
    counts
}

fn at(runs: &[WorkerRun], instances: usize) -> Vec<WorkerRun> {
    runs.iter()
        .filter(|r| r.instances == instances)
        .cloned()
        .collect()
}

pub fn section(push: &mut impl FnMut(String), results: &WorkerResults) {
    push("### Worker throughput".to_owned());
    push(String::new());
    let (runs, jobs, concurrency, worker_bin) = match results {
        WorkerResults::NotMeasured(why) => {
            push(why.clone());
            push(String::new());
            return;
        }
        WorkerResults::Measured {
            runs,
            jobs,
            concurrency,
            worker_bin,
            ..
        } => (runs, jobs, concurrency, worker_bin),
    };
    let repeats = instance_counts(runs)
        .first()
        .map(|&n| at(runs, n).len())
        .unwrap_or(0);
    push(format!(
        "Binary: `{worker_bin}`. {jobs} jobs per phase, batches of up to 10, \
         `WORKER_CONCURRENCY={concurrency}`; each cell: median over {repeats} runs (min–max). \
         *Ceiling* = the emulator alone doing the worker's SQS, DynamoDB and SNS calls per job; \
         *end to end* = that worker Lambda binary under the harness's Runtime API, calling \
         bedrock-sim and moto. Every job was checked `SUCCEEDED`, with its result stored and its \
         notification sent, after every phase."
    ));
    push(String::new());
    push(
        "| instances | ceiling jobs/s | end-to-end jobs/s | ratio | worker CPU per job (µs) | \
         worker peak RSS (MiB) | end-to-end mean batch time (ms) | sim calls/job | records reported failed |"
            .to_owned(),
    );
    push("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |".to_owned());
    for n in instance_counts(runs) {
        let runs = at(runs, n);
        let ceiling = spread_of(&runs, |r| Some(r.ceiling.jobs_per_second()));
        let e2e = spread_of(&runs, |r| Some(r.end_to_end.jobs_per_second()));
        let ratio = spread_of(&runs, |r| Some(r.ratio()));
        let cpu = spread_of(&runs, |r| Some(r.worker_cpu_us_per_job));
        let rss = spread_of(&runs, |r| Some(mib(r.worker_peak_rss_kib as f64)));
        // Lanes work in parallel: the time one batch takes is lanes × elapsed ÷ batches.
        let batch = spread_of(&runs, |r| {
            let d = r.end_to_end;
            (d.batches > 0).then(|| ms(d.elapsed) * n as f64 / d.batches as f64)
        });
        let sim = spread_of(&runs, |r| Some(r.sim_calls_per_job));
        let failed: usize = runs
            .iter()
            .map(|r| r.end_to_end.item_failures + r.ceiling.item_failures)
            .sum();
        push(format!(
            "| {n} | {} | {} | **{}** | {} | {} | {} | {} | {failed} |",
            cell(ceiling, 0),
            cell(e2e, 0),
            cell(ratio, 2),
            cell(cpu, 0),
            cell(rss, 1),
            cell(batch, 1),
            cell(sim, 2),
        ));
    }
    push(String::new());
    if let WorkerResults::Measured {
        calls: (counted, per_job),
        ..
    } = results
    {
        push(format!(
            "AWS calls per job (the worker binary's, through the harness's recording proxy, on a \
             separate untimed pass of {counted} jobs, 1 instance; SQS receive and delete are the \
             event source mapping's, not the function's): {:.2} — {}",
            per_job.values().sum::<f64>(),
            per_job
                .iter()
                .map(|(op, n)| format!("{op} × {n:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        push(String::new());
    }
}

/// Issue 20's worker goals.
pub const GOAL_CPU_US_PER_JOB: f64 = 1000.0;
pub const GOAL_AWS_CALLS_PER_JOB: f64 = 4.0;

pub fn goal_rows(push: &mut impl FnMut(String), results: &WorkerResults) {
    let WorkerResults::Measured { runs, calls, .. } = results else {
        push(format!(
            "| worker CPU per job ≤ {GOAL_CPU_US_PER_JOB} µs; AWS calls per job ≤ {GOAL_AWS_CALLS_PER_JOB}; worker ≥ {GOAL_RATIO} × emulator ceiling | – | not measured (see Worker throughput) |"
        ));
        return;
    };
    let status = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    };
    let cpu = spread_of(runs, |r| Some(r.worker_cpu_us_per_job));
    push(format!(
        "| worker CPU per job ≤ {GOAL_CPU_US_PER_JOB} µs (all instance counts) | {} µs | {} |",
        cell(cpu, 0),
        status(cpu.map(|s| s.median <= GOAL_CPU_US_PER_JOB))
    ));
    let aws = (calls.0 > 0).then(|| calls.1.values().sum::<f64>());
    push(format!(
        "| AWS calls per job ≤ {GOAL_AWS_CALLS_PER_JOB} (worker binary, recording proxy, one pass) | {} | {} |",
        aws.map(|n| format!("{n:.2}"))
            .unwrap_or_else(|| "–".to_owned()),
        status(aws.map(|n| n <= GOAL_AWS_CALLS_PER_JOB))
    ));
    for n in instance_counts(runs) {
        let ratio = spread_of(&at(runs, n), |r| Some(r.ratio()));
        let status = match ratio {
            Some(s) if s.median >= GOAL_RATIO => "met",
            Some(_) => "**not met**",
            None => "not measured",
        };
        push(format!(
            "| worker ≥ {GOAL_RATIO} × emulator ceiling, {n} instance(s) | {} | {status} |",
            cell(ratio, 2)
        ));
    }
}
