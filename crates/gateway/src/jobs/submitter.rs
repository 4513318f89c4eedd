//! The one job-submission use case, shared by every producer (`POST /v1/jobs`, webhook
//! deliveries, direct SQS and EventBridge messages, StartAsyncInvoke): create-or-replay,
//! admission against the principal's limits and budgets, own-write detection, release of a
//! reservation that did not become a job, and enqueueing.
//!
//! Callers map their transport onto a prepared [`JobRecord`] and a [`Principal`]; every rule
//! about what a submit reserves and when it gives it back lives here, once.

use super::model::{JobRecord, JobStatus};
use super::ports::{Created, JobQueue, JobStore};
use crate::GatewayError;
use crate::config::GatewayConfig;
use crate::controls::models;
use crate::controls::ports::CounterStore;
use crate::controls::{Admission, CallPlan, Controller, Principal, Refusal, RouteClass};
use std::time::Duration;

/// Why a submit created nothing.
#[derive(Debug)]
pub enum SubmitError {
    /// The controls refused the principal: allow-list, rate limit, budget (with rate headers).
    Refused(Refusal),
    /// The request, the store or the queue failed; `Conflict` when an idempotency id was
    /// already used with another request.
    Failed(GatewayError),
}

impl From<GatewayError> for SubmitError {
    fn from(error: GatewayError) -> Self {
        Self::Failed(error)
    }
}

impl SubmitError {
    /// The error either way, for callers that answer both the same.
    pub fn into_error(self) -> GatewayError {
        match self {
            Self::Refused(refusal) => refusal.error,
            Self::Failed(error) => error,
        }
    }
}

/// What a submit produced: the job, and whether an earlier submit had already created it.
#[derive(Debug)]
pub struct Submitted {
    pub record: JobRecord,
    pub replay: bool,
}

/// The ports a submit writes through.
pub struct JobSubmitter<'a, S, Q, C> {
    pub store: &'a S,
    pub queue: &'a Q,
    /// `None`: controls are off (nothing is admitted or charged).
    pub controls: Option<&'a Controller<C>>,
    pub config: &'a GatewayConfig,
}

/// A key's model allow-list applies to the model a job will call: 403 for a model the
/// principal may not use (whatever the name reaches: alias, group, `auto`). An unknown model
/// is left to `prepare`, which names the allowed ones.
pub fn check_model_allowed(
    config: &GatewayConfig,
    principal: &Principal,
    model: Option<&str>,
) -> Result<(), GatewayError> {
    let Some(name) = model else { return Ok(()) };
    match models::resolve(config, name, principal.allowed_models()) {
        Err(error @ GatewayError::Forbidden(_)) => Err(error),
        _ => Ok(()),
    }
}

/// An earlier submit's job, if it was for the same request.
fn same_request(existing: JobRecord, record: &JobRecord) -> Result<JobRecord, GatewayError> {
    if existing.request_hash == record.request_hash {
        Ok(existing)
    } else {
        Err(GatewayError::Conflict(
            "this idempotency id was already used with a different request".into(),
        ))
    }
}

impl<S: JobStore, Q: JobQueue, C: CounterStore> JobSubmitter<'_, S, Q, C> {
    /// Creates the job (or finds the one an earlier submit with the same id created) and
    /// queues it while it is `QUEUED`.
    ///
    /// `replayable`: the id is derived from an idempotency id, so a stored record is looked
    /// for before anything is admitted — a retry gets its job back even if a limit has been
    /// reached since. `submit_id` is unique per submit (own-write detection).
    pub async fn submit(
        &self,
        principal: &Principal,
        mut record: JobRecord,
        replayable: bool,
        submit_id: &str,
        now_ms: u64,
    ) -> Result<Submitted, SubmitError> {
        // The worker checks every model the call finally reaches against this list: the
        // key's, else the one the caller set (a producer's allow-list).
        let key_models = principal
            .key
            .as_ref()
            .map(|k| k.allowed_models.clone())
            .unwrap_or_default();
        if !key_models.is_empty() || record.allowed_models.is_empty() {
            record.allowed_models = key_models;
        }
        let stored = match replayable {
            true => self.store.get(&record.job_id).await?,
            false => None,
        };
        let submitted = match stored {
            Some(existing) => Submitted {
                record: same_request(existing, &record)?,
                replay: true,
            },
            None => {
                self.create_admitted(principal, record, submit_id, now_ms)
                    .await?
            }
        };
        // A replay re-sends the message while the job is still queued: if the first submit's
        // enqueue failed, this is what gets the job going (its reservation stays counted
        // meanwhile: never an overspend). The worker ignores duplicates.
        if submitted.record.status == JobStatus::Queued {
            self.queue
                .enqueue(&submitted.record.message(), Duration::ZERO)
                .await?;
        }
        Ok(submitted)
    }

    /// With controls on, the job's model call is admitted like a direct call (rate limits and
    /// budgets, no in-flight slot; a refusal creates nothing), and what it reserved travels
    /// on the record for the worker to settle.
    async fn admit(
        &self,
        principal: &Principal,
        record: &JobRecord,
        now_ms: u64,
    ) -> Result<Option<Admission>, SubmitError> {
        let Some(controls) = self.controls else {
            return Ok(None);
        };
        let (name, estimate) = record.request.estimate(self.config)?;
        let model = models::resolve(self.config, &name, principal.allowed_models())
            .map_err(|e| SubmitError::Refused(e.into()))?;
        let plan = CallPlan {
            route: RouteClass::Jobs,
            model,
            estimate,
            cache: None,
        };
        controls
            .admit(principal, plan, now_ms)
            .await
            .map(Some)
            .map_err(SubmitError::Refused)
    }

    /// Gives a reservation back when its job was not created by this submit.
    async fn release(&self, admission: Option<&Admission>) {
        if let (Some(controls), Some(admission)) = (self.controls, admission) {
            controls.release(admission).await;
        }
    }

    /// Admits the job and creates its record carrying the reservation.
    async fn create_admitted(
        &self,
        principal: &Principal,
        mut record: JobRecord,
        submit_id: &str,
        now_ms: u64,
    ) -> Result<Submitted, SubmitError> {
        let admission = self.admit(principal, &record, now_ms).await?;
        record.charge = admission.as_ref().map(|a| a.charge(submit_id));
        // Whether a stored record is this submit's own write (an SDK retried a create whose
        // response was lost): then the reservation is the record's and must not be given back.
        let own_write =
            |stored: &JobRecord| stored.charge.is_some() && stored.charge == record.charge;
        let new = |record| Submitted {
            record,
            replay: false,
        };
        match self.store.create(&record).await {
            Ok(Created::New) => Ok(new(record)),
            Ok(Created::Existing(existing)) if own_write(&existing) => Ok(new(record)),
            Ok(Created::Existing(existing)) => {
                // A concurrent submit with the same id won: its reservation stands.
                self.release(admission.as_ref()).await;
                Ok(Submitted {
                    record: same_request(*existing, &record)?,
                    replay: true,
                })
            }
            Err(error) => {
                // The write may have landed before the error: look before giving back.
                match self.store.get(&record.job_id).await {
                    Ok(Some(stored)) if own_write(&stored) => Ok(new(record)),
                    _ => {
                        self.release(admission.as_ref()).await;
                        Err(error.into())
                    }
                }
            }
        }
    }
}
