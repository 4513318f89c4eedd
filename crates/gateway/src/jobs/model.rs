//! The job record and what a client submits.

use crate::GatewayError;
use crate::api::converse::{ConverseRequest, Usage};
use crate::api::openai::ChatRequest;
use crate::controls::job_charge::JobCharge;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// The model call a job makes: a Converse body (with `modelId`) or an OpenAI chat body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobRequest {
    /// Boxed: a Converse request is many times the size of a JSON value.
    Converse(Box<ConverseRequest>),
    Chat(Value),
    /// StartAsyncInvoke: a native InvokeModel body and where its answer goes.
    AsyncInvoke(Box<super::async_invoke_job::AsyncInvokeJob>),
}

impl JobRequest {
    /// The model name and Converse request this job runs.
    pub fn to_converse(&self) -> Result<(String, ConverseRequest), crate::GatewayError> {
        match self {
            Self::Converse(request) => {
                let mut request = (**request).clone();
                let model = request.model_id.take().ok_or_else(|| {
                    crate::GatewayError::invalid("converse.modelId", "modelId is required")
                })?;
                Ok((model, request))
            }
            Self::Chat(body) => {
                let chat: ChatRequest = serde_json::from_value(body.clone()).map_err(|e| {
                    crate::GatewayError::invalid("chat", format!("not an OpenAI chat request: {e}"))
                })?;
                let mut request = chat.to_converse()?;
                request.model_id = None;
                Ok((chat.model, request))
            }
            Self::AsyncInvoke(_) => Err(crate::GatewayError::invalid(
                "modelInput",
                "an InvokeModel job has no Converse request",
            )),
        }
    }

    /// The model name the job calls and what its call is estimated at (for admission).
    pub fn estimate(
        &self,
        config: &crate::config::GatewayConfig,
    ) -> Result<(String, crate::controls::estimate::Estimate), crate::GatewayError> {
        let estimates = &config.controls.estimate;
        if let Self::AsyncInvoke(job) = self {
            let body = serde_json::to_vec(&job.model_input)
                .map_err(|e| crate::GatewayError::Internal(e.to_string()))?;
            let dialect = crate::controls::output_cap::BodyDialect::of_named(config, &job.model_id);
            let estimate = crate::controls::estimate::invoke(dialect, &body, estimates)?;
            return Ok((job.model_id.clone(), estimate));
        }
        let (name, request) = self.to_converse()?;
        Ok((
            name,
            crate::controls::estimate::converse(&request, estimates)?,
        ))
    }
}

/// `POST /v1/jobs` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitJob {
    #[serde(default)]
    pub converse: Option<ConverseRequest>,
    #[serde(default)]
    pub chat: Option<Value>,
    /// Where the result is POSTed when the job completes (signed; see the webhook module).
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Free-form labels returned with the job and in its notification.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// `high` or `normal` (default): carried as a message attribute for consumers that care.
    #[serde(default)]
    pub priority: Option<String>,
}

impl SubmitJob {
    /// The model name the submission asks for, when it names one.
    pub fn model_name(&self) -> Option<&str> {
        self.converse
            .as_ref()
            .and_then(|c| c.model_id.as_deref())
            .or_else(|| self.chat.as_ref()?.get("model")?.as_str())
    }
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub model: String,
    pub text: String,
    pub stop_reason: String,
    /// What the call cost in USD (`"0.000123"`), priced like the API's `x-gateway-cost`;
    /// absent when the model has no price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<String>,
    /// The full Converse response, for callers that need tool calls or content blocks.
    pub response: Value,
}

/// Why a job failed, in the gateway's stable error vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

/// Whether the job's completion has been announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationState {
    /// Not terminal yet, or terminal and not announced.
    #[default]
    Pending,
    /// A worker holds the right to publish until `notify_lease_until_ms`.
    Sending,
    Sent,
}

/// The origin of jobs submitted through `POST /v1/jobs`.
pub const ORIGIN_API: &str = "api";
/// The origin of a webhook source's jobs is this prefix and the source name.
pub const ORIGIN_WEBHOOK_PREFIX: &str = "webhook:";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub tenant: String,
    pub status: JobStatus,
    /// The model call, typed: validated once at submit, stored as `{"converse": ..}` or
    /// `{"chat": ..}`.
    pub request: JobRequest,
    /// SHA-256 of the canonical request: same Idempotency-Key with another body is a conflict.
    pub request_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub notification: NotificationState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_lease_until_ms: Option<u64>,
    /// Hosts the callback may go to (a webhook source's allow-list); `None`: any public host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_hosts: Option<Vec<String>>,
    /// Where the callback delivery stands; `None` for jobs without a callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_state: Option<CallbackState>,
    /// How many delivery attempts are recorded: the conditional writes of the delivery
    /// compare against it, so one attempt number is made and recorded once.
    #[serde(default)]
    pub callback_sent: u32,
    /// Every delivery attempt, oldest first (DynamoDB `list_append`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callback_attempts: Vec<CallbackAttempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_lease_until_ms: Option<u64>,
    /// Epoch seconds after which the record may be deleted (DynamoDB TTL; also checked on read).
    pub expires_at: u64,
    /// What the submit reserved against the caller's limits and budgets, settled by the worker
    /// that finishes the job. `None`: controls were off, or the job came from a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<JobCharge>,
    /// When a worker claimed the settling of `charge` (see `JobStore::claim_charge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_settled_at_ms: Option<u64>,
    /// Who caused the job: `webhook:<source>` for a webhook delivery; `None` is `api` (a
    /// caller of `POST /v1/jobs`). Decides whose derived secret signs the callback, and is
    /// inside the signed callback body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The model names the submitting principal may call (its key's `allowed_models`; empty:
    /// all), so the model the worker finally calls is checked against them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_models: Vec<String>,
}

impl JobRecord {
    /// The model call the job makes: the model name and the Converse request.
    pub fn call(&self) -> Result<(String, ConverseRequest), GatewayError> {
        self.request.to_converse()
    }

    /// `api`, or `webhook:<source>`.
    pub fn origin(&self) -> &str {
        self.origin.as_deref().unwrap_or(ORIGIN_API)
    }

    /// The webhook source that caused the job, if one did.
    pub fn webhook_source(&self) -> Option<&str> {
        self.origin
            .as_deref()
            .and_then(|o| o.strip_prefix(ORIGIN_WEBHOOK_PREFIX))
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at.saturating_mul(1000) <= now_ms
    }

    /// The job as its owner sees it through `GET /v1/jobs/{id}`.
    pub fn public_view(&self) -> Value {
        serde_json::json!({
            "job_id": self.job_id,
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "usage": self.usage,
            "metadata": self.metadata,
            "attempts": self.attempts,
            "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms,
            "callback": self.callback_state.map(|state| serde_json::json!({
                "state": state,
                "attempts": self.callback_attempts,
            })),
        })
    }
}

/// Where a job's callback delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallbackState {
    /// The next attempt is due (or scheduled); `callback_sent` attempts were made so far.
    Pending,
    /// A worker holds the right to make the next attempt until `callback_lease_until_ms`.
    Sending,
    /// The receiver answered 2xx.
    Delivered,
    /// The receiver answered 410 Gone: it wants no more deliveries.
    Gone,
    /// Every attempt failed, or the URL was refused: dead-lettered and alerted.
    Failed,
}

impl CallbackState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sending => "SENDING",
            Self::Delivered => "DELIVERED",
            Self::Gone => "GONE",
            Self::Failed => "FAILED",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Gone | Self::Failed)
    }
}

/// How one delivery attempt ended, as recorded on the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// 2xx.
    Delivered,
    /// 410: stop.
    Gone,
    /// Failed, another attempt is scheduled (or would be, were any left).
    Retryable,
    /// Failed in a way retrying cannot fix (a refused URL).
    Permanent,
}

/// One callback delivery attempt. Never holds the response body or the URL's secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackAttempt {
    /// 1-based.
    pub attempt: u32,
    pub at_ms: u64,
    pub duration_ms: u64,
    pub outcome: AttemptOutcome,
    /// The receiver's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed: a stable code and a short reason (`connect_failed: ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the next attempt is due, if one was scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<u64>,
}

/// What a jobs-queue message asks the worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Run the job (claim, call the model, store, announce). Bodies without `kind` are this.
    #[default]
    Run,
    /// Make callback delivery attempt `attempt` for a finished job.
    Callback,
}

impl MessageKind {
    pub fn is_run(&self) -> bool {
        *self == Self::Run
    }
}

/// The SQS message body: only the id; the record is the source of truth.
///
/// Run: `{"job_id":"..","tenant":"..","priority":".."}` (no `kind`, as before callbacks existed).
/// Callback: `{"job_id":"..","kind":"callback","attempt":3,"not_before_ms":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: String,
    #[serde(default)]
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "MessageKind::is_run")]
    pub kind: MessageKind,
    /// Callback: the 1-based attempt this message makes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Callback: not to be attempted before this time (epoch ms). SQS delays a message by at
    /// most 15 minutes, so a longer wait is a chain of re-delayed messages until this is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before_ms: Option<u64>,
}

impl JobMessage {
    /// The message that makes callback attempt `attempt` for `job_id`, due at `not_before_ms`.
    pub fn callback(job_id: &str, tenant: &str, attempt: u32, not_before_ms: Option<u64>) -> Self {
        Self {
            job_id: job_id.to_owned(),
            tenant: tenant.to_owned(),
            priority: None,
            kind: MessageKind::Callback,
            attempt: Some(attempt),
            not_before_ms,
        }
    }
}

/// What subscribers of the notifications topic receive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobNotification {
    pub job_id: String,
    pub tenant: String,
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// What the job's model call cost in USD, when priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}
