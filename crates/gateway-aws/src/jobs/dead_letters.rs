//! Producer messages that cannot become jobs go straight to the jobs DLQ with their reason
//! as message attributes (`dead_letter_code`, `dead_letter_reason`, `producer`): a redrive
//! could not add them, and the message is deleted from the jobs queue only once this send
//! succeeded, so nothing is dropped silently.

use super::aws_error;
use super::sqs_queue::string_attribute;
use aws_sdk_sqs::types::MessageAttributeValue;
use gateway::GatewayError;

#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

fn attribute(value: &str) -> Result<MessageAttributeValue, GatewayError> {
    string_attribute(value).ok_or_else(|| GatewayError::Internal("SQS attribute".into()))
}

impl SqsDeadLetters {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Sends `body` unchanged, with why it was refused.
    #[tracing::instrument(skip_all, fields(code))]
    pub async fn send(
        &self,
        body: &str,
        code: &str,
        reason: &str,
        producer: Option<&str>,
    ) -> Result<(), GatewayError> {
        // SQS attribute values are limited with the body to 256 KiB: keep the reason short.
        let reason: String = reason.chars().take(1_000).collect();
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes("dead_letter_code", attribute(code)?)
            .message_attributes("dead_letter_reason", attribute(&reason)?);
        if let Some(producer) = producer.filter(|p| !p.is_empty()) {
            let producer: String = producer.chars().take(128).collect();
            request = request.message_attributes("producer", attribute(&producer)?);
        }
        request
            .send()
            .await
            .map_err(|e| aws_error("sqs:SendMessage(dead letter)", e))?;
        Ok(())
    }
}
