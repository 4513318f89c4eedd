//! Brings a failed jobs-queue message back after a chosen delay (`ChangeMessageVisibility`
//! on its receipt handle) instead of after the queue's visibility timeout.

use super::aws_error;
use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;
use gateway::GatewayError;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SqsRedelivery {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsRedelivery {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// The message becomes visible again `delay` from now (SQS: whole seconds, at most 12 h).
    #[tracing::instrument(skip_all)]
    pub async fn delay(&self, receipt_handle: &str, delay: Duration) -> Result<(), GatewayError> {
        let seconds = delay.as_secs().clamp(1, 43_200) as i32;
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| aws_error("sqs:ChangeMessageVisibility", e))?;
        Ok(())
    }

    /// The messages of these receipt handles become visible again `delay` from now: one
    /// `ChangeMessageVisibilityBatch` call per ten messages.
    #[tracing::instrument(skip_all, fields(messages = receipt_handles.len()))]
    pub async fn delay_batch(
        &self,
        receipt_handles: &[&str],
        delay: Duration,
    ) -> Result<(), GatewayError> {
        let seconds = delay.as_secs().clamp(1, 43_200) as i32;
        for chunk in receipt_handles.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*receipt)
                        .visibility_timeout(seconds)
                        .build()
                        .map_err(|e| GatewayError::Internal(format!("visibility entry: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| aws_error("sqs:ChangeMessageVisibilityBatch", e))?;
        }
        Ok(())
    }
}
