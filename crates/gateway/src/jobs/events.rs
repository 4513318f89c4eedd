//! Result events: every terminal job is announced on the event bus as `GenAI Job Succeeded`
//! or `GenAI Job Failed`, so any service subscribes with a rule. The event carries a summary,
//! usage and cost; the full result stays in DynamoDB (`GET /v1/jobs/{id}`).
//!
//! Published under the job's notification claim, with the SNS notification, so one job gives
//! one event (a publish that fails brings the message back to try both again).

use super::model::{JobError, JobRecord, JobStatus};
use crate::GatewayError;
use crate::api::converse::Usage;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// The source of the gateway's events.
pub const EVENT_SOURCE: &str = "genai.gateway";
pub const DETAIL_TYPE_SUCCEEDED: &str = "GenAI Job Succeeded";
pub const DETAIL_TYPE_FAILED: &str = "GenAI Job Failed";
/// The result text in an event is cut to this many characters.
pub const SUMMARY_CHARS: usize = 500;

/// The `detail` of a result event (schema `gateway.job-result.v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResultEvent {
    pub schema: String,
    pub job_id: String,
    pub tenant: String,
    pub status: JobStatus,
    /// `api`, `webhook:<source>` or `producer:<name>`.
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The answer's first [`SUMMARY_CHARS`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    /// The job's metadata (the producer's labels, its idempotency id).
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
}

impl JobResultEvent {
    pub fn detail_type(&self) -> &'static str {
        match self.status {
            JobStatus::Succeeded => DETAIL_TYPE_SUCCEEDED,
            _ => DETAIL_TYPE_FAILED,
        }
    }

    pub fn of(job: &JobRecord) -> Self {
        Self {
            schema: "gateway.job-result.v1".to_owned(),
            job_id: job.job_id.clone(),
            tenant: job.tenant.clone(),
            status: job.status,
            origin: job.origin().to_owned(),
            model: job.result.as_ref().map(|r| r.model.clone()),
            summary: job
                .result
                .as_ref()
                .map(|r| r.text.chars().take(SUMMARY_CHARS).collect()),
            usage: job.usage,
            cost_usd: job.result.as_ref().and_then(|r| r.cost_usd.clone()),
            error: job.error.clone(),
            metadata: job.metadata.clone(),
        }
    }
}

/// One result per event of a batch, in order.
pub type BatchPublished<'a> =
    Pin<Box<dyn Future<Output = Vec<Result<(), GatewayError>>> + Send + 'a>>;

/// Where result events go (the event bus). Object-safe so the processor needs no type
/// parameter for it.
pub trait JobEventPublisher: Send + Sync {
    fn publish<'a>(
        &'a self,
        event: &'a JobResultEvent,
    ) -> Pin<Box<dyn Future<Output = Result<(), GatewayError>> + Send + 'a>>;

    /// Puts up to ten events in as few calls as the bus allows; one result per event, in
    /// order. By default one call each.
    fn publish_batch<'a>(&'a self, events: &'a [JobResultEvent]) -> BatchPublished<'a> {
        Box::pin(async move {
            let mut results = Vec::with_capacity(events.len());
            for event in events {
                results.push(self.publish(event).await);
            }
            results
        })
    }
}
