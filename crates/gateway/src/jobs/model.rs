//! The job record and what a client submits.

use crate::api::converse::{ConverseRequest, Usage};
use crate::api::openai::ChatRequest;
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobRequest {
    Converse(ConverseRequest),
    Chat(Value),
}

impl JobRequest {
    /// The model name and Converse request this job runs.
    pub fn to_converse(&self) -> Result<(String, ConverseRequest), crate::GatewayError> {
        match self {
            Self::Converse(request) => {
                let mut request = request.clone();
                let model = request
                    .model_id
                    .take()
                    .ok_or_else(|| crate::GatewayError::invalid("converse.modelId", "modelId is required"))?;
                Ok((model, request))
            }
            Self::Chat(body) => {
                let chat: ChatRequest = serde_json::from_value(body.clone())
                    .map_err(|e| crate::GatewayError::invalid("chat", format!("not an OpenAI chat request: {e}")))?;
                let mut request = chat.to_converse()?;
                request.model_id = None;
                Ok((chat.model, request))
            }
        }
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

/// What the model answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub model: String,
    pub text: String,
    pub stop_reason: String,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub tenant: String,
    pub status: JobStatus,
    pub request: Value,
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
    /// Epoch seconds after which the record may be deleted (DynamoDB TTL; also checked on read).
    pub expires_at: u64,
}

impl JobRecord {
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
        })
    }
}

/// The SQS message body: only the id; the record is the source of truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: String,
    #[serde(default)]
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}
