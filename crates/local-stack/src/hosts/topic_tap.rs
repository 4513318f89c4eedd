//! A local observer per SNS topic: a queue subscribed to the topic whose messages are logged,
//! so the offline run shows what subscribers would receive (the template's topics have their
//! subscribers outside the stack). The tap queue is `<Topic>-local-tap`; it is not part of the
//! template and exists only in the offline run.

use super::StopSignal;
use std::time::Duration;

pub struct Tap {
    pub topic: String,
    pub queue_url: String,
}

/// Creates the tap queue and subscribes it to the topic.
pub async fn create(
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    topic_logical_id: &str,
    topic_arn: &str,
) -> Result<Tap, String> {
    let name = format!("{topic_logical_id}-local-tap");
    let queue = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    let queue_url = queue.queue_url().unwrap_or_default().to_owned();
    let queue_arn = format!(
        "arn:aws:sqs:{}:{}:{name}",
        crate::template::intrinsics::REGION,
        crate::template::intrinsics::ACCOUNT_ID
    );
    sns.subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .map_err(|e| aws_sdk_sns::error::DisplayErrorContext(e).to_string())?;
    Ok(Tap {
        topic: topic_logical_id.to_owned(),
        queue_url,
    })
}

/// Logs every message published to the topic until `stop`.
pub async fn run(tap: Tap, sqs: aws_sdk_sqs::Client, stop: StopSignal) {
    while !stop.is_stopped() {
        let received = tokio::select! {
            () = stop.clone().stopped() => break,
            received = sqs
                .receive_message()
                .queue_url(&tap.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(20)
                .message_attribute_names("All")
                .send() => received,
        };
        let output = match received {
            Ok(output) => output,
            Err(_) => {
                if stop.sleep(Duration::from_secs(1)).await {
                    break;
                }
                continue;
            }
        };
        for message in output.messages() {
            tracing::info!(topic = %tap.topic, message = message.body().unwrap_or_default(), "SNS notification published");
            let _ = sqs
                .delete_message()
                .queue_url(&tap.queue_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await;
        }
    }
}
