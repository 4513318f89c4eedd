//! Where a record goes when the event source mapping gives up on it: the on-failure
//! destination, which receives the batch's metadata (not the record itself), in Lambda's shape.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The invocation record Lambda sends to a stream's on-failure destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnFailureRecord {
    pub request_context: RequestContext,
    pub response_context: ResponseContext,
    pub version: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    #[serde(rename = "DDBStreamBatchInfo")]
    pub batch_info: DdbStreamBatchInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    pub request_id: String,
    pub function_arn: String,
    /// `RetryAttemptsExhausted` (the only condition this poller produces).
    pub condition: String,
    pub approximate_invoke_count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseContext {
    pub status_code: u16,
    pub executed_version: String,
    /// `Unhandled` when the function itself failed; absent when it reported the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DdbStreamBatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub approximate_arrival_of_first_record: String,
    pub approximate_arrival_of_last_record: String,
    pub batch_size: u32,
    pub stream_arn: String,
}

/// The on-failure destination.
#[derive(Clone, Default)]
pub enum OnFailure {
    /// No destination configured: the record is skipped (and logged), as Lambda does.
    #[default]
    Discard,
    /// An SQS queue (the template's `DestinationConfig.OnFailure`): one message per record,
    /// its body the [`OnFailureRecord`] JSON.
    Sqs {
        client: aws_sdk_sqs::Client,
        queue_url: String,
    },
    /// In-process (tests, the offline runner's own bookkeeping).
    Callback(Arc<dyn Fn(&OnFailureRecord) + Send + Sync>),
}

impl std::fmt::Debug for OnFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Discard => f.write_str("Discard"),
            Self::Sqs { queue_url, .. } => {
                f.debug_struct("Sqs").field("queue_url", queue_url).finish()
            }
            Self::Callback(_) => f.write_str("Callback"),
        }
    }
}

impl OnFailure {
    pub(super) async fn send(&self, record: &OnFailureRecord) -> Result<(), String> {
        match self {
            Self::Discard => {
                tracing::warn!(
                    start = %record.batch_info.start_sequence_number,
                    "record exhausted its retries; no on-failure destination, dropped"
                );
                Ok(())
            }
            Self::Sqs { client, queue_url } => {
                let body = serde_json::to_string(record).map_err(|e| e.to_string())?;
                client
                    .send_message()
                    .queue_url(queue_url)
                    .message_body(body)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        format!(
                            "sqs:SendMessage to the on-failure destination failed: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(&e)
                        )
                    })
            }
            Self::Callback(callback) => {
                callback(record);
                Ok(())
            }
        }
    }
}
