//! What the worker does with one queue message. Every step is a conditional write, so a
//! message delivered twice, or redelivered after a worker died, still yields exactly one result
//! and one settlement. Per job: claim (no read first), finish (with the notification and charge
//! claims), and, batched with the other jobs of a batch, the announcement and its mark. A
//! worker that dies between publishing and marking leaves the next delivery to publish again:
//! exactly-once announcement rests on the brokers' deduplication by job (docs/JOB_PRODUCERS.md).

use super::async_invoke::{AsyncInvokeJob, S3_URI_FIELD};
use super::events::{JobEventPublisher, JobResultEvent};
use super::model::{
    CallbackState, JobError, JobMessage, JobNotification, JobRecord, JobRequest, JobResult,
    JobStatus, MessageKind, NotificationState,
};
use super::ports::{
    ANNOUNCE_BATCH, Claim, FinishClaims, JobCharges, JobNotifier, JobOutcome, JobQueue, JobStore,
};
use crate::GatewayError;
use crate::api::converse::{ConverseRequest, ConverseResponse};
use crate::controls::job_charge::ChargeOutcome;
use crate::controls::pricing::Pricing;
use crate::controls::usage::TokenUsage;
use crate::resilience::{ErrorClass, RetryPolicy};
use crate::service::Caller;
use std::future::Future;
use std::time::Duration;

/// A job's answer, and the model and region that gave it (what it is priced by).
#[derive(Debug, Clone)]
pub struct JobAnswer {
    pub response: ConverseResponse,
    pub model: String,
    /// `None`: the home region.
    pub region: Option<String>,
}

/// Runs a job's model call through the gateway's call path (routing, retries, fallbacks).
pub trait JobRunner: Send + Sync {
    /// `caller`: the job's tenant and the allow-list its submitter had, which every model the
    /// call reaches is checked against, as for a direct call.
    fn run(
        &self,
        caller: Caller<'_>,
        model: &str,
        request: &ConverseRequest,
    ) -> impl Future<Output = Result<JobAnswer, GatewayError>> + Send;

    /// A StartAsyncInvoke job: its native body through the InvokeModel call, the answer
    /// written to its output location before the job may finish. Runners without an output
    /// location fail such jobs.
    fn invoke(
        &self,
        caller: Caller<'_>,
        job: &AsyncInvokeJob,
    ) -> impl Future<Output = Result<JobAnswer, GatewayError>> + Send {
        let _ = (caller, job);
        async {
            Err(super::async_invoke::invalid(
                S3_URI_FIELD,
                "this worker has no output bucket for async invocations",
            ))
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ProcessorSettings {
    /// How long a claim holds; keep it above the function timeout so a live worker keeps its job.
    pub lease: Duration,
    /// The queue's maxReceiveCount: on the last delivery a retryable failure becomes final, so
    /// the job ends `FAILED` instead of sitting `QUEUED` while its message goes to the DLQ.
    pub max_receive_count: u32,
    pub notify_lease: Duration,
    /// A message that must come back (a throttled model, a busy job) is made visible again
    /// after a full-jitter backoff growing with its receive count, from `redelivery_base` up
    /// to `redelivery_max`, instead of after the queue's visibility timeout (720 s deployed).
    pub redelivery_base: Duration,
    pub redelivery_max: Duration,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(180),
            max_receive_count: 5,
            notify_lease: Duration::from_secs(30),
            redelivery_base: Duration::from_secs(2),
            redelivery_max: Duration::from_secs(120),
        }
    }
}

impl ProcessorSettings {
    /// When a message received `receive_count` times comes back: at least 1 s (SQS counts
    /// visibility in whole seconds), jittered, through the one retry module's backoff.
    pub fn redelivery_delay(&self, receive_count: u32, rng: &mut fastrand::Rng) -> Duration {
        let policy = RetryPolicy {
            base_delay: self.redelivery_base,
            max_delay: self.redelivery_max,
            ..RetryPolicy::default()
        };
        policy
            .backoff(receive_count.saturating_sub(1), None, rng)
            .max(Duration::from_secs(1))
    }
}

/// The message is done with: delete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Completed(JobStatus),
    /// The job was already terminal and announced (a duplicate delivery).
    AlreadyDone,
    /// The record outlived its TTL; nothing to do.
    Expired,
    /// Held by another worker on the message's last delivery: a fresh pointer was queued to
    /// come back after the lease, instead of this one going to the DLQ and the job with it.
    Requeued,
}

/// The message must come back (a batch item failure). Poison messages end in the DLQ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordFailure {
    #[error("poison message: {0}")]
    Poison(String),
    #[error("job is held by another worker: {0}")]
    Busy(String),
    #[error("retryable failure: {0}")]
    Retry(String),
}

/// What one message left to do.
#[derive(Debug)]
pub enum Processed {
    Done(Disposition),
    /// This worker holds the job's notification claim: announce it
    /// ([`JobProcessor::announce_claimed`], with the other jobs of the batch).
    Announce(Box<JobRecord>),
}

impl From<Disposition> for Processed {
    fn from(disposition: Disposition) -> Self {
        Self::Done(disposition)
    }
}

pub struct JobProcessor<'a, S, N, R, Q, C> {
    pub store: &'a S,
    pub notifier: &'a N,
    pub runner: &'a R,
    /// Where a finished job's first callback attempt is queued. `None`: this worker does not
    /// deliver callbacks (logged for jobs that asked for one).
    pub callbacks: Option<&'a Q>,
    pub settings: ProcessorSettings,
    pub clock: fn() -> u64,
    /// Prices the answer into the job's result; `None`: results carry no cost.
    pub pricing: Option<&'a Pricing>,
    /// Settles the charge a job's submit reserved; `None`: this worker has no state table
    /// (logged for jobs that carry a charge: their reservation stays counted).
    pub charges: Option<&'a C>,
    /// Where each terminal job's result event goes (the event bus); `None`: no events.
    pub events: Option<&'a dyn JobEventPublisher>,
}

/// How a finished job ended, as its record says (priced in the home region: the record does
/// not keep the serving region).
fn recorded_outcome(job: &JobRecord) -> ChargeOutcome {
    match (&job.status, &job.result, &job.usage) {
        (JobStatus::Succeeded, Some(result), Some(usage)) => ChargeOutcome::Answered {
            model_id: result.model.clone(),
            region: None,
            usage: TokenUsage::from(usage),
        },
        _ => ChargeOutcome::Failed,
    }
}

/// The SNS notification of a terminal job.
fn notification(job: &JobRecord) -> JobNotification {
    JobNotification {
        job_id: job.job_id.clone(),
        tenant: job.tenant.clone(),
        status: job.status,
        error: job.error.clone(),
        usage: job.usage,
        cost_usd: job.result.as_ref().and_then(|r| r.cost_usd.clone()),
        callback_url: job.callback_url.clone(),
    }
}

fn store_failure(error: GatewayError) -> RecordFailure {
    RecordFailure::Retry(format!("job store: {error}"))
}

impl<S: JobStore, N: JobNotifier, R: JobRunner, Q: JobQueue, C: JobCharges>
    JobProcessor<'_, S, N, R, Q, C>
{
    /// One message, its job announced at once. (The batch handler announces a batch's jobs
    /// together: [`Self::run_record`] for each, then [`Self::announce_claimed`].)
    pub async fn process(
        &self,
        body: &str,
        receive_count: u32,
    ) -> Result<Disposition, RecordFailure> {
        match self.run_record(body, receive_count).await? {
            Processed::Done(disposition) => Ok(disposition),
            Processed::Announce(job) => self
                .announce_claimed(std::slice::from_ref(&*job))
                .await
                .into_iter()
                .next()
                .unwrap_or_else(|| Err(RecordFailure::Retry("nothing announced".into()))),
        }
    }

    /// Runs the job a message points to, up to (not including) its announcement.
    pub async fn run_record(
        &self,
        body: &str,
        receive_count: u32,
    ) -> Result<Processed, RecordFailure> {
        let message: JobMessage = serde_json::from_str(body)
            .map_err(|e| RecordFailure::Poison(format!("unparseable body: {e}")))?;
        if message.kind != MessageKind::Run {
            // Handled by the callback processor; running it here would drop the delivery.
            return Err(RecordFailure::Poison(format!(
                "{:?} message sent to the job runner",
                message.kind
            )));
        }
        let now = (self.clock)();
        let token = format!("{now:x}-{:016x}", fastrand::u64(..));
        let lease_until = now + self.settings.lease.as_millis() as u64;
        // Claim first, read never: the one conditional write either takes the job or returns
        // it as it is. A pointer is only ever written by the gateway with its job's tenant,
        // so the claim requires it: one naming another tenant (anyone who may send to the
        // queue could write one) claims nothing.
        let job = match self
            .store
            .claim(&message.job_id, &message.tenant, &token, now, lease_until)
            .await
            .map_err(store_failure)?
        {
            Claim::Won(job) => job,
            Claim::Lost(None) => {
                return Err(RecordFailure::Poison(format!(
                    "unknown job {}",
                    message.job_id
                )));
            }
            Claim::Lost(Some(job)) => return self.not_claimed(&job, &message, receive_count).await,
        };
        self.guard_last_delivery(&message, receive_count, self.settings.lease)
            .await?;

        let (outcome, charged) = match self.run(&job).await {
            Ok(ran) => ran,
            Err(error) => {
                let retryable = ErrorClass::of(&error).is_retryable();
                if retryable && receive_count < self.settings.max_receive_count {
                    tracing::warn!(job_id = %job.job_id, code = error.code(), receive_count, "job failed, will retry");
                    self.store
                        .release(&job.job_id, &token, (self.clock)())
                        .await
                        .map_err(store_failure)?;
                    return Err(RecordFailure::Retry(error.code().to_owned()));
                }
                let message = if retryable {
                    format!(
                        "gave up after {receive_count} deliveries: {}",
                        error.public_message()
                    )
                } else {
                    error.public_message()
                };
                let outcome = JobOutcome::Failed {
                    error: JobError {
                        code: error.code().to_owned(),
                        message,
                    },
                    usage: None,
                };
                (outcome, ChargeOutcome::Failed)
            }
        };
        // One write finishes the job, claims its notification and (when it carries one) its
        // charge: nothing is read or claimed after it.
        let now = (self.clock)();
        let claims = FinishClaims {
            notify_lease_until_ms: now + self.settings.notify_lease.as_millis() as u64,
            charge: job.charge.is_some() && job.charge_settled_at_ms.is_none(),
        };
        let finished = self
            .store
            .finish(&job.job_id, &token, now, &outcome, claims)
            .await
            .map_err(store_failure)?;
        let Some(job) = finished else {
            // Our lease ran out and another worker took the job over: its result stands.
            return self
                .busy(&message, receive_count, None)
                .await
                .map(Processed::from);
        };
        if claims.charge {
            self.settle_claimed_charge(&job, charged, now).await;
        }
        Ok(Processed::Announce(Box::new(job)))
    }

    /// The claim did not hold: the job is another tenant's, expired, finished (perhaps not
    /// yet settled or announced), or held by another worker.
    async fn not_claimed(
        &self,
        job: &JobRecord,
        message: &JobMessage,
        receive_count: u32,
    ) -> Result<Processed, RecordFailure> {
        if !message.tenant.is_empty() && message.tenant != job.tenant {
            return Err(RecordFailure::Poison(format!(
                "pointer to job {} names another tenant",
                message.job_id
            )));
        }
        let now = (self.clock)();
        if job.is_expired(now) {
            // A job that never ran gives back what its submit reserved.
            let outcome = (!job.status.is_terminal()).then_some(ChargeOutcome::Failed);
            self.settle_charge(job, outcome).await?;
            return Ok(Disposition::Expired.into());
        }
        if job.status.is_terminal() {
            // A worker that finished the job may have died before settling or announcing it.
            self.settle_charge(job, None).await?;
            return self.announce(job, message, receive_count).await;
        }
        // Held by a live lease, or claimed or finished between our read and our write.
        let until = job.lease_until_ms.filter(|until| *until > now);
        self.busy(message, receive_count, until)
            .await
            .map(Processed::from)
    }

    /// The job is held by another worker's lease. Before the message's last delivery it just
    /// comes back; on the last one a fresh pointer is queued (delayed past the lease, `until`
    /// or a whole lease from now) so the job is not lost with a dead-lettered message.
    async fn busy(
        &self,
        message: &JobMessage,
        receive_count: u32,
        until_ms: Option<u64>,
    ) -> Result<Disposition, RecordFailure> {
        let Some(queue) = self
            .callbacks
            .filter(|_| receive_count >= self.settings.max_receive_count)
        else {
            return Err(RecordFailure::Busy(message.job_id.clone()));
        };
        let now = (self.clock)();
        let until = until_ms.unwrap_or(now + self.settings.lease.as_millis() as u64);
        let delay = Duration::from_millis(until.saturating_sub(now)) + Duration::from_secs(1);
        queue
            .enqueue(message, delay)
            .await
            .map_err(|e| RecordFailure::Retry(format!("requeue: {e}")))?;
        Ok(Disposition::Requeued)
    }

    /// Settles the charge the job's submit reserved, once: whoever claims it on the record
    /// settles it (the worker whose finish won, with the exact outcome; else a later delivery,
    /// from the record). A failed claim brings the message back to try again.
    async fn settle_charge(
        &self,
        job: &JobRecord,
        outcome: Option<ChargeOutcome>,
    ) -> Result<(), RecordFailure> {
        // Nothing to settle: no charge, or one already settled.
        let (Some(charge), None) = (&job.charge, job.charge_settled_at_ms) else {
            return Ok(());
        };
        let Some(charges) = self.charges else {
            tracing::warn!(
                job_id = %job.job_id,
                "job carries a charge but this worker has no state table: its reservation stays counted"
            );
            return Ok(());
        };
        let now = (self.clock)();
        if !self
            .store
            .claim_charge(&job.job_id, now)
            .await
            .map_err(store_failure)?
        {
            return Ok(());
        }
        let outcome = outcome.unwrap_or_else(|| recorded_outcome(job));
        charges.settle(charge, outcome, now).await;
        Ok(())
    }

    /// Settles a charge this worker's finish claimed.
    async fn settle_claimed_charge(&self, job: &JobRecord, outcome: ChargeOutcome, now: u64) {
        let Some(charge) = &job.charge else {
            return;
        };
        match self.charges {
            Some(charges) => charges.settle(charge, outcome, now).await,
            None => tracing::warn!(
                job_id = %job.job_id,
                "job carries a charge but this worker has no state table: its reservation stays counted"
            ),
        }
    }

    async fn run(&self, job: &JobRecord) -> Result<(JobOutcome, ChargeOutcome), GatewayError> {
        let caller = Caller::new(&job.tenant, &job.allowed_models);
        let answer = match &job.request {
            JobRequest::AsyncInvoke(invoke) => self.runner.invoke(caller, invoke).await?,
            _ => {
                let (model, converse) = job.call()?;
                self.runner.run(caller, &model, &converse).await?
            }
        };
        let usage = answer.response.usage;
        let cost = self.pricing.and_then(|pricing| {
            pricing.cost(
                &answer.model,
                answer.region.as_deref(),
                &TokenUsage::from(&usage),
            )
        });
        let charged = ChargeOutcome::Answered {
            model_id: answer.model.clone(),
            region: answer.region.clone(),
            usage: TokenUsage::from(&usage),
        };
        let result = JobResult {
            text: answer.response.text(),
            stop_reason: answer.response.stop_reason.clone(),
            cost_usd: cost.map(|c| c.usd()),
            response: serde_json::to_value(&answer.response)
                .map_err(|e| GatewayError::Internal(e.to_string()))?,
            model: answer.model,
        };
        Ok((JobOutcome::Succeeded { result, usage }, charged))
    }

    /// Claims the job's notification: only the worker that wins the claim publishes.
    async fn announce(
        &self,
        job: &JobRecord,
        message: &JobMessage,
        receive_count: u32,
    ) -> Result<Processed, RecordFailure> {
        if job.notification == NotificationState::Sent {
            return Ok(Disposition::AlreadyDone.into());
        }
        let now = (self.clock)();
        let lease_until = now + self.settings.notify_lease.as_millis() as u64;
        let won = self
            .store
            .claim_notification(&job.job_id, now, lease_until)
            .await
            .map_err(store_failure)?;
        if !won {
            let current = self.store.get(&job.job_id).await.map_err(store_failure)?;
            return match current {
                Some(job) if job.notification == NotificationState::Sent => {
                    Ok(Disposition::AlreadyDone.into())
                }
                // Another worker is publishing (or died doing it); come back to confirm.
                _ => {
                    let until = (self.clock)() + self.settings.notify_lease.as_millis() as u64;
                    self.busy(message, receive_count, Some(until))
                        .await
                        .map(Processed::from)
                }
            };
        }
        self.guard_last_delivery(message, receive_count, self.settings.notify_lease)
            .await?;
        Ok(Processed::Announce(Box::new(job.clone())))
    }

    /// On a message's last delivery, before working on a claim that holds for `lease`: a fresh
    /// pointer delayed past the lease. Should this process die now, SQS moves the message to
    /// the DLQ on its next receive and nothing would bring the job back; the fresh pointer
    /// does (and finds the job done if this worker lives).
    async fn guard_last_delivery(
        &self,
        message: &JobMessage,
        receive_count: u32,
        lease: Duration,
    ) -> Result<(), RecordFailure> {
        let Some(queue) = self
            .callbacks
            .filter(|_| receive_count >= self.settings.max_receive_count)
        else {
            return Ok(());
        };
        queue
            .enqueue(message, lease + Duration::from_secs(1))
            .await
            .map_err(|e| RecordFailure::Retry(format!("requeue: {e}")))
    }

    /// Announces jobs whose notification claims this worker holds: their notifications and
    /// result events in batches of [`ANNOUNCE_BATCH`] (one `PublishBatch` and one `PutEvents`
    /// each), then each job's first callback and the write that marks it announced. One
    /// result per job, in order; a job whose publish failed comes back (its claim expires).
    pub async fn announce_claimed(
        &self,
        jobs: &[JobRecord],
    ) -> Vec<Result<Disposition, RecordFailure>> {
        let mut results = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(ANNOUNCE_BATCH) {
            let notifications: Vec<JobNotification> = chunk.iter().map(notification).collect();
            let mut published: Vec<Result<(), RecordFailure>> = self
                .notifier
                .publish_batch(&notifications)
                .await
                .into_iter()
                .map(|r| r.map_err(|e| RecordFailure::Retry(format!("notify: {e}"))))
                .collect();
            published.resize_with(chunk.len(), || {
                Err(RecordFailure::Retry("notify: no answer".into()))
            });
            if let Some(events) = self.events {
                let (indexes, events_of): (Vec<usize>, Vec<JobResultEvent>) = chunk
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| published[*i].is_ok())
                    .map(|(i, job)| (i, JobResultEvent::of(job)))
                    .unzip();
                if !events_of.is_empty() {
                    let answers = events.publish_batch(&events_of).await;
                    for (n, i) in indexes.into_iter().enumerate() {
                        let failure = match answers.get(n) {
                            Some(Ok(())) => continue,
                            Some(Err(e)) => format!("result event: {e}"),
                            None => "result event: no answer".to_owned(),
                        };
                        published[i] = Err(RecordFailure::Retry(failure));
                    }
                }
            }
            let queued = chunk
                .iter()
                .zip(published)
                .map(|(job, published)| async move {
                    published?;
                    // Before marking the job announced: if this fails, the message comes back
                    // and queues it again; a duplicate first-attempt message is dropped by the
                    // callback claim.
                    self.queue_first_callback(job).await?;
                    Ok(Disposition::Completed(job.status))
                });
            let mut announced = futures_util::future::join_all(queued).await;
            // One write marks the chunk's announced jobs; if it fails they all come back. A job
            // delivered twice in one batch can be announced by both deliveries (the first's
            // lease ended while the second waited): it is marked once.
            let mut to_mark: Vec<&str> = Vec::with_capacity(chunk.len());
            for (job, announced) in chunk.iter().zip(&announced) {
                if announced.is_ok() && !to_mark.contains(&job.job_id.as_str()) {
                    to_mark.push(&job.job_id);
                }
            }
            if !to_mark.is_empty()
                && let Err(e) = self.store.mark_all_notified(&to_mark, (self.clock)()).await
            {
                let failure = store_failure(e);
                for result in announced.iter_mut().filter(|r| r.is_ok()) {
                    *result = Err(failure.clone());
                }
            }
            results.extend(announced);
        }
        results
    }

    async fn queue_first_callback(&self, job: &JobRecord) -> Result<(), RecordFailure> {
        if job.callback_url.is_none()
            || job.callback_state != Some(CallbackState::Pending)
            || job.callback_sent > 0
        {
            return Ok(());
        }
        let Some(queue) = self.callbacks else {
            tracing::warn!(job_id = %job.job_id, "job has a callback URL but this worker delivers no callbacks");
            return Ok(());
        };
        let message = JobMessage::callback(&job.job_id, &job.tenant, 1, None);
        queue
            .enqueue(&message, Duration::ZERO)
            .await
            .map_err(|e| RecordFailure::Retry(format!("queue callback: {e}")))
    }
}
