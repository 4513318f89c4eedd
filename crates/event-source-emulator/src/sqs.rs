//! The SQS event source mapping: long-poll, hand over an `SqsEvent`, delete only what succeeded.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct SqsPoller {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    region: String,
    pub batch_size: i32,
    pub wait_seconds: i32,
}

impl SqsPoller {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        queue_arn: impl Into<String>,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            queue_arn: queue_arn.into(),
            region: "us-east-1".to_owned(),
            batch_size: 10,
            wait_seconds: 1,
        }
    }

    /// One receive; an empty event when the queue had nothing.
    pub async fn receive(&self) -> Result<SqsEvent, aws_sdk_sqs::Error> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(self.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await?;
        let records = output
            .messages()
            .iter()
            .map(|m| self.to_lambda_message(m))
            .collect();
        let mut event = SqsEvent::default();
        event.records = records;
        Ok(event)
    }

    /// Deletes every message of `event` the function did not report as failed; failed ones
    /// reappear after their visibility timeout (and reach the DLQ after maxReceiveCount).
    pub async fn settle(
        &self,
        event: &SqsEvent,
        response: &SqsBatchResponse,
    ) -> Result<usize, aws_sdk_sqs::Error> {
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let mut deleted = 0;
        for record in &event.records {
            let (Some(id), Some(receipt)) = (&record.message_id, &record.receipt_handle) else {
                continue;
            };
            if failed.contains(&id.as_str()) {
                continue;
            }
            self.client
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(receipt)
                .send()
                .await?;
            deleted += 1;
        }
        Ok(deleted)
    }

    fn to_lambda_message(&self, message: &Message) -> SqsMessage {
        let attributes: HashMap<String, String> = message
            .attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let message_attributes: HashMap<String, SqsMessageAttribute> = message
            .message_attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| {
                        let mut attribute = SqsMessageAttribute::default();
                        attribute.string_value = v.string_value().map(str::to_owned);
                        attribute.data_type = Some(v.data_type().to_owned());
                        (k.clone(), attribute)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut record = SqsMessage::default();
        record.message_id = message.message_id().map(str::to_owned);
        record.receipt_handle = message.receipt_handle().map(str::to_owned);
        record.body = message.body().map(str::to_owned);
        record.md5_of_body = message.md5_of_body().map(str::to_owned);
        record.attributes = attributes;
        record.message_attributes = message_attributes;
        record.event_source = Some("aws:sqs".to_owned());
        record.event_source_arn = Some(self.queue_arn.clone());
        record.aws_region = Some(self.region.clone());
        record
    }
}
