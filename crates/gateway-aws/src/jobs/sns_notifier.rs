//! Job notifications over SNS. job_id, status and tenant are message attributes, so
//! subscribers can filter (e.g. only FAILED, or only their tenant).
//!
//! On a FIFO topic (an ARN ending in `.fifo`) each notification is published with
//! `MessageDeduplicationId` = its job id: SNS drops a second publish for the same job within
//! its 5-minute deduplication window, so a worker that dies between publishing and recording
//! it, and the delivery that publishes again, give subscribers one notification
//! (docs/JOB_PRODUCERS.md, "Exactly one notification and one result event").
//!
//! Callback alerts use the same client on their own topic (or the notifications topic):
//! they carry `event = callback_failed` and no `status`, so a subscriber filtering on status
//! never mistakes one for a job notification.

use super::aws_error;
use super::batch_publish::{Refused, publish_in_batches};
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use gateway::GatewayError;
use gateway::jobs::{CallbackAlert, CallbackAlerts, JobNotification, JobNotifier};

#[derive(Debug, Clone)]
pub struct SnsJobNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsJobNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    fn is_fifo(&self) -> bool {
        self.topic_arn.ends_with(".fifo")
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, GatewayError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| GatewayError::Internal(format!("SNS attribute: {e}")))
}

impl SnsJobNotifier {
    /// One `PublishBatch` entry, its id the notification's place in the batch.
    fn entry(
        &self,
        index: usize,
        notification: &JobNotification,
    ) -> Result<PublishBatchRequestEntry, GatewayError> {
        let message = serde_json::to_string(notification)
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
        let mut entry = PublishBatchRequestEntry::builder()
            .id(index.to_string())
            .message(message)
            .message_attributes("job_id", attribute(&notification.job_id)?)
            .message_attributes("status", attribute(notification.status.as_str())?);
        if !notification.tenant.is_empty() {
            entry = entry.message_attributes("tenant", attribute(&notification.tenant)?);
        }
        if self.is_fifo() {
            entry = entry
                .message_group_id(&notification.job_id)
                .message_deduplication_id(&notification.job_id);
        }
        entry
            .build()
            .map_err(|e| GatewayError::Internal(format!("SNS batch entry: {e}")))
    }
}

impl JobNotifier for SnsJobNotifier {
    /// `PublishBatch` calls of up to ten notifications; an entry SNS refuses fails alone.
    #[tracing::instrument(skip_all, fields(notifications = notifications.len()))]
    async fn publish_batch(
        &self,
        notifications: &[JobNotification],
    ) -> Vec<Result<(), GatewayError>> {
        if notifications.len() == 1 {
            return vec![self.publish(&notifications[0]).await];
        }
        let send = |entries: Vec<(usize, PublishBatchRequestEntry)>| async move {
            let output = self
                .client
                .publish_batch()
                .topic_arn(&self.topic_arn)
                .set_publish_batch_request_entries(Some(
                    entries.into_iter().map(|(_, entry)| entry).collect(),
                ))
                .send()
                .await
                .map_err(|error| aws_error("sns:PublishBatch", error))?;
            // An entry's id is its notification's index.
            let refused: Refused = output
                .failed()
                .iter()
                .filter_map(|failed| {
                    let index = failed.id().parse::<usize>().ok()?;
                    Some((index, failed.code().to_owned()))
                })
                .collect();
            Ok::<Refused, GatewayError>(refused)
        };
        let entry = |index, notification: &JobNotification| self.entry(index, notification);
        publish_in_batches(notifications, entry, send, "sns:PublishBatch(entry)").await
    }

    #[tracing::instrument(skip_all, fields(job_id = %notification.job_id))]
    async fn publish(&self, notification: &JobNotification) -> Result<(), GatewayError> {
        let message = serde_json::to_string(notification)
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message)
            .message_attributes("job_id", attribute(&notification.job_id)?)
            .message_attributes("status", attribute(notification.status.as_str())?);
        if !notification.tenant.is_empty() {
            request = request.message_attributes("tenant", attribute(&notification.tenant)?);
        }
        if self.is_fifo() {
            // One group per job: no job's notification waits behind another's.
            request = request
                .message_group_id(&notification.job_id)
                .message_deduplication_id(&notification.job_id);
        }
        request
            .send()
            .await
            .map_err(|e| aws_error("sns:Publish", e))?;
        Ok(())
    }
}

impl CallbackAlerts for SnsJobNotifier {
    #[tracing::instrument(skip_all, fields(job_id = %alert.job_id))]
    async fn alert(&self, alert: &CallbackAlert) -> Result<(), GatewayError> {
        let message =
            serde_json::to_string(alert).map_err(|e| GatewayError::Internal(e.to_string()))?;
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject("Callback delivery failed")
            .message(message)
            .message_attributes("event", attribute("callback_failed")?)
            .message_attributes("job_id", attribute(&alert.job_id)?);
        if !alert.tenant.is_empty() {
            request = request.message_attributes("tenant", attribute(&alert.tenant)?);
        }
        if self.is_fifo() {
            request = request
                .message_group_id(&alert.job_id)
                .message_deduplication_id(format!("callback_failed-{}", alert.job_id));
        }
        request
            .send()
            .await
            .map_err(|e| aws_error("sns:Publish", e))?;
        Ok(())
    }
}
