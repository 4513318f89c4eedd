//! The worker throughput section of the report and its goal rows.

use crate::report::{cell, mib, spread_of};
use crate::stats::ms;
use crate::worker::{GOAL_RATIO, WorkerRun};

/// What was measured, or why nothing was.
pub enum WorkerResults {
    Measured {
        runs: Vec<WorkerRun>,
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
}

pub fn goal_rows(push: &mut impl FnMut(String), results: &WorkerResults) {
    let WorkerResults::Measured { runs, .. } = results else {
        push(format!(
            "| worker ≥ {GOAL_RATIO} × emulator ceiling | – | not measured (see Worker throughput) |"
        ));
        return;
    };
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
