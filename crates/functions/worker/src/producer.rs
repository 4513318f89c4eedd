//! Producer messages (`gateway.job.v1`, sent straight to the jobs queue or routed there by
//! the event bus) become jobs here: the producer's policy names the tenant and principal, the
//! one job-submission use case ([`JobSubmitter`]) admits, creates (idempotently: same
//! producer and idempotency id, one job) and queues the job's pointer, which this worker then
//! runs like any API job. A message that cannot become a job is dead-lettered with its reason.

use gateway::GatewayError;
use gateway::config::GatewayConfig;
use gateway::controls::{Controller, Principal};
use gateway::jobs::intake::{check_callback_url, check_caller_metadata};
use gateway::jobs::processor::RecordFailure;
use gateway::jobs::producer::{Inbound, ORIGIN_PRODUCER_PREFIX, Producers, Rejection};
use gateway::jobs::submit::{JobSettings, job_id, prepare};
use gateway::jobs::submitter::{JobSubmitter, SubmitError};
use gateway::webhook::CallbackPolicy;
use gateway_aws::control_store::DynamoControlStore;
use gateway_aws::jobs::{DynamoJobStore, SqsDeadLetters, SqsJobQueue};

/// Everything producer intake needs beyond the worker's own store and controls.
pub struct ProducerIntake {
    pub producers: Producers,
    /// The jobs queue: a new job's pointer is queued here.
    pub queue: SqsJobQueue,
    /// The jobs DLQ; `None`: a refused message is reported failed until the redrive policy
    /// moves it (its reason then only in the log).
    pub dead_letters: Option<SqsDeadLetters>,
    pub settings: JobSettings,
    /// The deployment's callback policy (static SSRF checks at intake).
    pub callback_policy: CallbackPolicy,
}

/// What intake needs from the worker.
pub struct Context<'a> {
    pub store: &'a DynamoJobStore,
    pub controls: Option<&'a Controller<DynamoControlStore>>,
    pub config: &'a GatewayConfig,
    pub now_ms: u64,
}

/// A refusal that retrying cannot fix becomes a dead letter; a rate limit or a store or
/// queue failure brings the message back.
enum Outcome {
    Reject(Rejection),
    Retry(String),
}

impl From<Rejection> for Outcome {
    fn from(rejection: Rejection) -> Self {
        Self::Reject(rejection)
    }
}

fn invalid(error: GatewayError) -> Outcome {
    let code = match error.status_code() {
        413 => "message_too_large",
        403 => "forbidden",
        _ => "invalid_request",
    };
    Outcome::Reject(Rejection::new(code, error.public_message()))
}

impl ProducerIntake {
    /// Turns one producer message into a job (or finds the job it already became).
    pub async fn accept(
        &self,
        cx: &Context<'_>,
        body: &str,
        inbound: Result<Inbound, Rejection>,
    ) -> Result<&'static str, RecordFailure> {
        let producer = inbound
            .as_ref()
            .map(|i| i.message.producer.clone())
            .unwrap_or_default();
        match self.submit(cx, inbound).await {
            Ok(replay) => Ok(if replay {
                "producer_replay"
            } else {
                "producer_job"
            }),
            Err(Outcome::Retry(reason)) => Err(RecordFailure::Retry(reason)),
            Err(Outcome::Reject(rejection)) => self.dead_letter(body, &producer, &rejection).await,
        }
    }

    async fn submit(
        &self,
        cx: &Context<'_>,
        inbound: Result<Inbound, Rejection>,
    ) -> Result<bool, Outcome> {
        let authorised = inbound?.authorise(&self.producers, cx.config)?;
        let (name, policy) = (authorised.name, authorised.policy);
        let submission = authorised.submission;
        check_caller_metadata(&submission.metadata).map_err(invalid)?;
        if let Some(url) = &submission.callback_url {
            check_callback_url(url, &self.callback_policy, &policy.callback_hosts)
                .map_err(invalid)?;
        }
        let has_callback = submission.callback_url.is_some();
        // NUL separators: no Idempotency-Key header can hold one, so an API key of the same
        // tenant can never name (and take) a producer's job id.
        let key = format!("\0producer\0{name}\0{}", authorised.idempotency_id);
        let id = job_id(&policy.tenant, Some(&key), "");
        let mut record = prepare(
            submission,
            cx.config,
            &policy.tenant,
            id,
            cx.now_ms,
            self.settings,
        )
        .map_err(invalid)?;
        record.origin = Some(format!("{ORIGIN_PRODUCER_PREFIX}{name}"));
        record.callback_hosts = has_callback.then(|| policy.callback_hosts.clone());
        record.allowed_models = policy.models.clone();
        // After the request hash: the same request under another idempotency id is another job.
        record.metadata.insert(
            "gateway_idempotency_id".into(),
            authorised.idempotency_id.clone(),
        );
        let principal = match cx.controls {
            Some(controls) => controls
                .service_principal(&policy.tenant, policy.key_id.as_deref(), cx.now_ms)
                .await
                .map_err(|error| match error {
                    GatewayError::Internal(reason) => Outcome::Retry(reason),
                    other => invalid(other),
                })?,
            None => Principal::open(policy.tenant.clone()),
        };
        let submitter = JobSubmitter {
            store: cx.store,
            queue: &self.queue,
            controls: cx.controls,
            config: cx.config,
        };
        let submit_id = uuid::Uuid::new_v4().simple().to_string();
        match submitter
            .submit(&principal, record, true, &submit_id, cx.now_ms)
            .await
        {
            Ok(submitted) => Ok(submitted.replay),
            Err(SubmitError::Refused(refusal)) => match refusal.error {
                // The producer's window reopens: its message comes back with the backoff.
                error @ GatewayError::RateLimited { .. } => Err(Outcome::Retry(error.to_string())),
                other => Err(Outcome::Reject(Rejection::new(
                    other.code(),
                    other.public_message(),
                ))),
            },
            Err(SubmitError::Failed(error @ GatewayError::Conflict(_))) => Err(Outcome::Reject(
                Rejection::new("conflict", error.public_message()),
            )),
            Err(SubmitError::Failed(error)) if error.status_code() < 500 => Err(invalid(error)),
            Err(SubmitError::Failed(error)) => Err(Outcome::Retry(error.to_string())),
        }
    }

    /// Sends the message to the DLQ with its reason and logs it (never its body); without a
    /// DLQ URL it is reported failed and the redrive policy moves it there.
    async fn dead_letter(
        &self,
        body: &str,
        producer: &str,
        rejection: &Rejection,
    ) -> Result<&'static str, RecordFailure> {
        tracing::error!(
            producer,
            code = rejection.code,
            reason = %rejection.reason,
            metric = "ProducerMessageDeadLettered",
            "producer message refused"
        );
        let Some(dead_letters) = &self.dead_letters else {
            return Err(RecordFailure::Poison(format!(
                "{}: {}",
                rejection.code, rejection.reason
            )));
        };
        dead_letters
            .send(body, rejection.code, &rejection.reason, Some(producer))
            .await
            .map_err(|e| RecordFailure::Retry(format!("dead letter: {e}")))?;
        Ok("dead_lettered")
    }
}
