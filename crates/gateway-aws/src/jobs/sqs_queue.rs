//! The jobs queue over SQS: the body is the job id; tenant and priority ride as attributes.

use super::aws_error;
use aws_sdk_sqs::types::MessageAttributeValue;
use gateway::GatewayError;
use gateway::jobs::{JobMessage, JobQueue};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsJobQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

pub(super) fn string_attribute(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

impl JobQueue for SqsJobQueue {
    #[tracing::instrument(skip_all, fields(job_id = %message.job_id))]
    async fn enqueue(&self, message: &JobMessage, delay: Duration) -> Result<(), GatewayError> {
        let body =
            serde_json::to_string(message).map_err(|e| GatewayError::Internal(e.to_string()))?;
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            // SQS caps a message delay at 15 minutes.
            .delay_seconds(delay.as_secs().min(900) as i32);
        if let Some(tenant) = Some(message.tenant.as_str())
            .filter(|t| !t.is_empty())
            .and_then(string_attribute)
        {
            request = request.message_attributes("tenant", tenant);
        }
        if let Some(priority) = message.priority.as_deref().and_then(string_attribute) {
            request = request.message_attributes("priority", priority);
        }
        request
            .send()
            .await
            .map_err(|e| aws_error("sqs:SendMessage", e))?;
        Ok(())
    }
}
