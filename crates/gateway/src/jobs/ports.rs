//! What the jobs flow needs from storage, the queue and the notification topic.

use super::model::{
    CallbackAttempt, CallbackState, JobError, JobMessage, JobNotification, JobRecord, JobResult,
};
use crate::GatewayError;
use crate::api::converse::Usage;
use crate::controls::Controller;
use crate::controls::job_charge::{ChargeOutcome, JobCharge};
use crate::controls::ports::CounterStore;
use crate::webhook::{CallbackPolicy, SsrfError};
use std::future::Future;
use std::time::Duration;

/// The result of creating a job record under a condition.
#[derive(Debug)]
pub enum Created {
    New,
    /// A record with this id already exists (same Idempotency-Key): here it is.
    Existing(Box<JobRecord>),
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// This caller holds the job until its lease ends: the record as written.
    Won(Box<JobRecord>),
    /// The condition did not hold: the record as it is, read by the same write (`None`: no
    /// such job).
    Lost(Option<Box<JobRecord>>),
}

/// What the write that finishes a job claims with it, so no write has to follow.
#[derive(Debug, Clone, Copy)]
pub struct FinishClaims {
    /// The notification: `SENDING`, held by this caller until then.
    pub notify_lease_until_ms: u64,
    /// The job's charge (it carries one, not yet settled): marked settled by this write, so
    /// this caller settles it.
    pub charge: bool,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    Succeeded {
        result: JobResult,
        usage: Usage,
    },
    Failed {
        error: JobError,
        usage: Option<Usage>,
    },
}

/// Job records. Every state change is a conditional write, so concurrent workers cannot both
/// win, and a terminal record is never rewritten.
pub trait JobStore: Send + Sync {
    /// Writes the record if no record has its id.
    fn create(
        &self,
        record: &JobRecord,
    ) -> impl Future<Output = Result<Created, GatewayError>> + Send;

    /// Strongly consistent read.
    fn get(
        &self,
        job_id: &str,
    ) -> impl Future<Output = Result<Option<JobRecord>, GatewayError>> + Send;

    /// Not expired at `now_ms`, of `tenant` (when not empty), and `QUEUED` or `RUNNING` whose
    /// lease ended before `now_ms` → `RUNNING` held by `token` until `lease_until_ms`,
    /// attempts + 1. One write, no read before it: a lost claim returns the record as it is.
    fn claim(
        &self,
        job_id: &str,
        tenant: &str,
        token: &str,
        now_ms: u64,
        lease_until_ms: u64,
    ) -> impl Future<Output = Result<Claim, GatewayError>> + Send;

    /// `RUNNING` held by `token` → terminal, with `claims` taken in the same write; the record
    /// as written (so no read has to follow). `None` when the lease was lost to another worker.
    fn finish(
        &self,
        job_id: &str,
        token: &str,
        now_ms: u64,
        outcome: &JobOutcome,
        claims: FinishClaims,
    ) -> impl Future<Output = Result<Option<JobRecord>, GatewayError>> + Send;

    /// `RUNNING` held by `token` → `QUEUED` (a retryable failure; the message will come back).
    fn release(
        &self,
        job_id: &str,
        token: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;

    /// Terminal and notification `PENDING` (or `SENDING` whose lease ended) → `SENDING` until
    /// `lease_until_ms`. `true`: this caller must publish.
    fn claim_notification(
        &self,
        job_id: &str,
        now_ms: u64,
        lease_until_ms: u64,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;

    /// The job carries a charge not yet settled → marked settled at `now_ms`. `true`: this
    /// caller must settle it (exactly one caller ever gets `true`).
    fn claim_charge(
        &self,
        job_id: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;

    /// `SENDING` → `SENT`.
    fn mark_notified(
        &self,
        job_id: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send;

    /// [`JobStore::mark_notified`] for up to [`ANNOUNCE_BATCH`] jobs: one write for them all
    /// where the store can (the worker marks a published batch at once, not a write per job).
    fn mark_all_notified(
        &self,
        job_ids: &[&str],
        now_ms: u64,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send {
        async move {
            for job_id in job_ids {
                self.mark_notified(job_id, now_ms).await?;
            }
            Ok(())
        }
    }

    /// Terminal job, exactly `attempt - 1` attempts recorded, callback `PENDING` (or `SENDING`
    /// whose lease ended) → `SENDING` until `lease_until_ms`. `true`: this caller makes attempt
    /// `attempt`.
    fn claim_callback(
        &self,
        job_id: &str,
        attempt: u32,
        now_ms: u64,
        lease_until_ms: u64,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;

    /// `SENDING` with `attempt.attempt - 1` attempts recorded → `state`, the attempt appended
    /// to the record's list. `false` when the claim was lost (the lease ran out).
    fn record_callback_attempt(
        &self,
        job_id: &str,
        attempt: &CallbackAttempt,
        state: CallbackState,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;
}

/// The jobs queue.
pub trait JobQueue: Send + Sync {
    fn enqueue(
        &self,
        message: &JobMessage,
        delay: Duration,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send;
}

/// The notifications topic.
pub trait JobNotifier: Send + Sync {
    fn publish(
        &self,
        notification: &JobNotification,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send;

    /// Publishes up to [`ANNOUNCE_BATCH`] notifications, in as few calls as the topic allows;
    /// one result per notification, in order. By default one call each.
    fn publish_batch(
        &self,
        notifications: &[JobNotification],
    ) -> impl Future<Output = Vec<Result<(), GatewayError>>> + Send {
        async move {
            let mut results = Vec::with_capacity(notifications.len());
            for notification in notifications {
                results.push(self.publish(notification).await);
            }
            results
        }
    }
}

/// The most notifications or result events announced in one call (SNS `PublishBatch` and
/// EventBridge `PutEvents` both take ten).
pub const ANNOUNCE_BATCH: usize = 10;

/// Why a callback POST got no HTTP status. Never carries the response body.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The URL or its addresses are not allowed: no connection was made.
    #[error("{0}")]
    Refused(#[from] SsrfError),
    /// No answer within the delivery timeout.
    #[error("timed out")]
    Timeout,
    /// Connecting, TLS or the exchange itself failed.
    #[error("{0}")]
    Transport(String),
}

impl DeliveryError {
    /// Stable code recorded with the attempt.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused(e) => e.code(),
            Self::Timeout => "callback_timeout",
            Self::Transport(_) => "callback_transport_error",
        }
    }

    /// A refused URL stays refused, except for a failed DNS lookup.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Refused(e) => e.is_retryable(),
            Self::Timeout | Self::Transport(_) => true,
        }
    }
}

/// POSTs a signed callback: vets `url` under `policy` (resolving the host once), connects only
/// to the vetted addresses, follows no redirect. Returns the receiver's status code.
pub trait CallbackSender: Send + Sync {
    fn post(
        &self,
        url: &str,
        policy: &CallbackPolicy,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> impl Future<Output = Result<u16, DeliveryError>> + Send;
}

/// A callback that will not be delivered: every attempt failed or the URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallbackAlert {
    pub job_id: String,
    pub tenant: String,
    /// The callback URL's host only: paths and queries may carry the receiver's tokens.
    pub host: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Where operators hear about callbacks that were given up on.
pub trait CallbackAlerts: Send + Sync {
    fn alert(&self, alert: &CallbackAlert)
    -> impl Future<Output = Result<(), GatewayError>> + Send;
}

/// Settles a finished job's charge against the caller's limits and budgets: the controls'
/// [`Controller`] over the state table.
pub trait JobCharges: Send + Sync {
    fn settle(
        &self,
        charge: &JobCharge,
        outcome: ChargeOutcome,
        now_ms: u64,
    ) -> impl Future<Output = ()> + Send;
}

impl<S: CounterStore> JobCharges for Controller<S> {
    async fn settle(&self, charge: &JobCharge, outcome: ChargeOutcome, now_ms: u64) {
        self.settle_charge(charge, outcome, now_ms).await;
    }
}

/// For a processor without a state table: `charges: None::<&NoCharges>`.
pub struct NoCharges;

impl JobCharges for NoCharges {
    async fn settle(&self, _: &JobCharge, _: ChargeOutcome, _: u64) {}
}
