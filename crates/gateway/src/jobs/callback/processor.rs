//! One callback message, end to end: wait until due, claim the attempt, sign and POST,
//! schedule the next attempt or dead-letter and alert, record the attempt on the job.
//!
//! Side effects come before the record: the next attempt's message (or the dead letter and
//! alert) is sent before the attempt is written, so a crash in between repeats an attempt
//! (receivers dedupe on `webhook-id`) instead of silently ending the chain. The claim makes
//! each attempt number happen once per recorded result: a duplicate message finds the
//! attempt already counted and is dropped.

use std::time::Duration;

use crate::GatewayError;
use crate::jobs::model::AttemptOutcome;
use crate::jobs::model::{CallbackAttempt, CallbackState, JobMessage, JobRecord};
use crate::jobs::ports::{CallbackAlert, CallbackAlerts, CallbackSender, JobQueue, JobStore};
use crate::jobs::processor::RecordFailure;
use crate::webhook::CallbackPolicy;

use super::schedule::{Next, RetrySchedule, classify, queue_delay};
use super::signing::{CallbackSecrets, Signer, callback_body, callback_headers};

/// SQS delays are not exact: a message this early is treated as due.
const EARLY_TOLERANCE_MS: u64 = 1_000;

/// How callbacks are delivered; built once at cold start.
#[derive(Debug, Clone)]
pub struct CallbackSettings {
    pub schedule: RetrySchedule,
    pub secrets: CallbackSecrets,
    /// Permit `http://` callback URLs. Local development only.
    pub allow_http: bool,
    /// Permit loopback and private-network receivers. Local development and tests only.
    pub allow_private: bool,
    /// How long a claimed attempt is held: above the HTTP timeout, so a live worker keeps it.
    pub lease: Duration,
}

impl CallbackSettings {
    /// Production defaults: the default schedule, https and public addresses only.
    pub fn new(secrets: CallbackSecrets) -> Self {
        Self {
            schedule: RetrySchedule::default(),
            secrets,
            allow_http: false,
            allow_private: false,
            lease: Duration::from_secs(60),
        }
    }

    /// The policy a job's callback is vetted under: ours, plus the job's host allow-list.
    pub fn policy_for(&self, job: &JobRecord) -> CallbackPolicy {
        CallbackPolicy {
            allow_http: self.allow_http,
            allow_private: self.allow_private,
            allowed_hosts: job.callback_hosts.clone(),
        }
    }
}

/// The message is done with: delete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackDisposition {
    /// An attempt was made and recorded.
    Attempted {
        attempt: u32,
        outcome: AttemptOutcome,
        next: Next,
    },
    /// Not due yet: a re-delayed copy was queued.
    Deferred,
    /// Delivery already ended, or this attempt was already made (a duplicate message).
    AlreadyDone,
    /// The job outlived its TTL.
    Expired,
    /// The job has no callback.
    NoCallback,
}

pub struct CallbackProcessor<'a, S, Q, A, H> {
    pub store: &'a S,
    /// The jobs queue: the next attempt goes here, delayed.
    pub queue: &'a Q,
    /// The jobs queue's dead-letter queue: a message given up on is sent there. `None`: the
    /// message is reported failed on every delivery until the queue's redrive policy moves
    /// it there (slower: maxReceiveCount visibility timeouts).
    pub dead_letters: Option<&'a Q>,
    pub alerts: &'a A,
    pub sender: &'a H,
    pub settings: &'a CallbackSettings,
    /// Epoch milliseconds.
    pub clock: fn() -> u64,
}

fn store_failure(error: GatewayError) -> RecordFailure {
    RecordFailure::Retry(format!("job store: {error}"))
}

/// The final message of a given-up callback, kept failing so the redrive policy dead-letters it.
fn left_for_redrive(job_id: &str) -> RecordFailure {
    RecordFailure::Poison(format!(
        "callback for {job_id} was given up; left for the queue's redrive policy"
    ))
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

impl<S: JobStore, Q: JobQueue, A: CallbackAlerts, H: CallbackSender>
    CallbackProcessor<'_, S, Q, A, H>
{
    pub async fn process(
        &self,
        message: &JobMessage,
    ) -> Result<CallbackDisposition, RecordFailure> {
        let attempt = message.attempt.unwrap_or(1).max(1);
        let now = (self.clock)();
        if let Some(due) = message.not_before_ms
            && due > now + EARLY_TOLERANCE_MS
        {
            // Longer than SQS can delay at once: send it on its way again.
            self.queue
                .enqueue(message, queue_delay(due, now))
                .await
                .map_err(|e| RecordFailure::Retry(format!("re-delay: {e}")))?;
            return Ok(CallbackDisposition::Deferred);
        }

        let job = self
            .store
            .get(&message.job_id)
            .await
            .map_err(store_failure)?
            .ok_or_else(|| RecordFailure::Poison(format!("unknown job {}", message.job_id)))?;
        if job.is_expired(now) {
            return Ok(CallbackDisposition::Expired);
        }
        let (Some(url), Some(state)) = (job.callback_url.clone(), job.callback_state) else {
            tracing::warn!(job_id = %job.job_id, "callback message for a job without a callback");
            return Ok(CallbackDisposition::NoCallback);
        };
        if !job.status.is_terminal() {
            return Err(RecordFailure::Poison(format!(
                "callback for unfinished job {}",
                job.job_id
            )));
        }
        if state == CallbackState::Failed
            && job.callback_sent == attempt
            && self.dead_letters.is_none()
        {
            return Err(left_for_redrive(&job.job_id));
        }
        if state.is_final() || job.callback_sent >= attempt {
            return Ok(CallbackDisposition::AlreadyDone);
        }
        if job.callback_sent + 1 < attempt {
            // The previous attempt's message was sent before that attempt was recorded: come
            // back once it is.
            return Err(RecordFailure::Busy(job.job_id));
        }

        let lease_until = now + self.settings.lease.as_millis() as u64;
        let claimed = self
            .store
            .claim_callback(&job.job_id, attempt, now, lease_until)
            .await
            .map_err(store_failure)?;
        if !claimed {
            let current = self.store.get(&job.job_id).await.map_err(store_failure)?;
            return match current {
                Some(job)
                    if job.callback_sent >= attempt
                        || job.callback_state.is_some_and(CallbackState::is_final) =>
                {
                    Ok(CallbackDisposition::AlreadyDone)
                }
                _ => Err(RecordFailure::Busy(message.job_id.clone())),
            };
        }

        let host = host_of(&url);
        let body = callback_body(&job);
        let started = (self.clock)();
        let headers = callback_headers(
            &self.settings.secrets.for_job(&host, Signer::of(&job)),
            &job.job_id,
            (started / 1000) as i64,
            &body,
        );
        let result = self
            .sender
            .post(&url, &self.settings.policy_for(&job), &headers, &body)
            .await;
        let finished = (self.clock)();

        let outcome = classify(&result);
        let next = self.settings.schedule.next(attempt, outcome);
        let (status, error) = match &result {
            Ok(status) if crate::webhook::is_redirect(*status) => {
                (Some(*status), Some("redirect_not_followed".to_owned()))
            }
            Ok(status) => (Some(*status), None),
            Err(e) => (None, Some(format!("{}: {e}", e.code()))),
        };
        let retry_at_ms = match next {
            Next::RetryAfter(delay) => Some(finished + delay.as_millis() as u64),
            Next::Finish(_) | Next::GiveUp => None,
        };
        let record = CallbackAttempt {
            attempt,
            at_ms: started,
            duration_ms: finished.saturating_sub(started),
            outcome,
            status,
            error: error.clone(),
            retry_at_ms,
        };
        tracing::info!(
            job_id = %job.job_id, attempt, host = %host, status, error = error.as_deref().unwrap_or(""),
            outcome = ?outcome, "callback attempt"
        );

        let state = match next {
            Next::Finish(state) => state,
            Next::RetryAfter(_) => {
                let due = retry_at_ms.unwrap_or(finished);
                let following =
                    JobMessage::callback(&job.job_id, &job.tenant, attempt + 1, Some(due));
                self.queue
                    .enqueue(&following, queue_delay(due, finished))
                    .await
                    .map_err(|e| RecordFailure::Retry(format!("schedule next attempt: {e}")))?;
                CallbackState::Pending
            }
            Next::GiveUp => {
                if let Some(dead_letters) = self.dead_letters {
                    dead_letters
                        .enqueue(message, Duration::ZERO)
                        .await
                        .map_err(|e| RecordFailure::Retry(format!("dead-letter: {e}")))?;
                }
                let alert = CallbackAlert {
                    job_id: job.job_id.clone(),
                    tenant: job.tenant.clone(),
                    host: host.clone(),
                    attempts: attempt,
                    last_status: status,
                    last_error: error,
                };
                self.alerts
                    .alert(&alert)
                    .await
                    .map_err(|e| RecordFailure::Retry(format!("alert: {e}")))?;
                tracing::error!(job_id = %job.job_id, attempts = attempt, host = %host, "callback given up");
                CallbackState::Failed
            }
        };

        let recorded = self
            .store
            .record_callback_attempt(&job.job_id, &record, state, (self.clock)())
            .await
            .map_err(store_failure)?;
        if !recorded {
            tracing::warn!(job_id = %job.job_id, attempt, "callback claim lost before the attempt was recorded");
        }
        if next == Next::GiveUp && self.dead_letters.is_none() {
            return Err(left_for_redrive(&job.job_id));
        }
        Ok(CallbackDisposition::Attempted {
            attempt,
            outcome,
            next,
        })
    }
}
