//! What the jobs flow needs from storage, the queue and the notification topic.

use super::model::{JobError, JobMessage, JobNotification, JobRecord, JobResult};
use crate::GatewayError;
use crate::api::converse::Usage;
use std::future::Future;
use std::time::Duration;

/// The result of creating a job record under a condition.
#[derive(Debug)]
pub enum Created {
    New,
    /// A record with this id already exists (same Idempotency-Key): here it is.
    Existing(Box<JobRecord>),
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    Succeeded { result: JobResult, usage: Usage },
    Failed { error: JobError, usage: Option<Usage> },
}

/// Job records. Every state change is a conditional write, so concurrent workers cannot both
/// win, and a terminal record is never rewritten.
pub trait JobStore: Send + Sync {
    /// Writes the record if no record has its id.
    fn create(&self, record: &JobRecord) -> impl Future<Output = Result<Created, GatewayError>> + Send;

    /// Strongly consistent read.
    fn get(&self, job_id: &str) -> impl Future<Output = Result<Option<JobRecord>, GatewayError>> + Send;

    /// `QUEUED`, or `RUNNING` whose lease ended before `now_ms` → `RUNNING` held by `token` until
    /// `lease_until_ms`, attempts + 1. `None` when the condition did not hold.
    fn claim(
        &self,
        job_id: &str,
        token: &str,
        now_ms: u64,
        lease_until_ms: u64,
    ) -> impl Future<Output = Result<Option<JobRecord>, GatewayError>> + Send;

    /// `RUNNING` held by `token` → terminal. `false` when the lease was lost to another worker.
    fn finish(
        &self,
        job_id: &str,
        token: &str,
        now_ms: u64,
        outcome: &JobOutcome,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;

    /// `RUNNING` held by `token` → `QUEUED` (a retryable failure; the message will come back).
    fn release(&self, job_id: &str, token: &str, now_ms: u64) -> impl Future<Output = Result<bool, GatewayError>> + Send;

    /// Terminal and notification `PENDING` (or `SENDING` whose lease ended) → `SENDING` until
    /// `lease_until_ms`. `true`: this caller must publish.
    fn claim_notification(
        &self,
        job_id: &str,
        now_ms: u64,
        lease_until_ms: u64,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;

    /// `SENDING` → `SENT`.
    fn mark_notified(&self, job_id: &str, now_ms: u64) -> impl Future<Output = Result<(), GatewayError>> + Send;
}

/// The jobs queue.
pub trait JobQueue: Send + Sync {
    fn enqueue(&self, message: &JobMessage, delay: Duration) -> impl Future<Output = Result<(), GatewayError>> + Send;
}

/// The notifications topic.
pub trait JobNotifier: Send + Sync {
    fn publish(&self, notification: &JobNotification) -> impl Future<Output = Result<(), GatewayError>> + Send;
}
