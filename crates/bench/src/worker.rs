//! Worker throughput: not measured yet. When this harness was written the worker function
//! (SQS → Bedrock → DynamoDB) did not exist; it is landing now, and this part is still to be
//! written. Until then this module says so (and whether a worker binary exists) instead of
//! giving a number.
//!
//! The plan (the harness already has the pieces: a Runtime API that hands out events, the
//! simulator, and `testkit`'s moto):
//! 1. Emulator ceiling: with moto (SQS + DynamoDB) and bedrock-sim started, a Rust client does
//!    the worker's own calls per job with no Lambda and no gateway logic — ReceiveMessage
//!    (batch of 10), the DynamoDB writes the job state machine makes, DeleteMessageBatch — at the
//!    worker's concurrency for a fixed job count: jobs/s.
//! 2. End to end: enqueue the same job count to SQS, run the release worker binary against the
//!    harness's Runtime API, which turns received messages into SQS batch events (as Lambda's
//!    event source mapping does) and deletes the messages the function did not report as
//!    failed; time until every job's item is in its final state: jobs/s.
//! 3. Report both and the ratio (goal ≥ 0.8), min/median/max over repeats.

use crate::size::Workspace;

pub const GOAL_RATIO: f64 = 0.8;

/// Why there is no worker figure.
pub fn status(workspace: Option<&Workspace>) -> String {
    let worker = workspace.and_then(|w| w.functions.iter().find(|f| f.contains("worker")).cloned());
    match worker {
        Some(bin) => format!(
            "not measured: a worker function binary (`{bin}`) exists, but this harness does not drive it yet \
             (plan in crates/bench/src/worker.rs)"
        ),
        None => "not available yet: there is no worker function (SQS → Bedrock → DynamoDB) in crates/functions; \
                 nothing was measured"
            .to_owned(),
    }
}
