//! Creates the tables, queues, topics and subscriptions a test needs, with unique names.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// A DynamoDB table keyed by string `pk` (and `sk` when `with_sort_key`), optionally streamed
/// with NEW_AND_OLD_IMAGES. Returns the stream ARN when a stream was asked for.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    with_sort_key: bool,
    with_stream: bool,
) -> Option<String> {
    let mut keys = vec![("pk", KeyType::Hash)];
    if with_sort_key {
        keys.push(("sk", KeyType::Range));
    }
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attribute, key_type) in keys {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(attribute)
                    .key_type(key_type)
                    .build()
                    .expect("key schema"),
            );
    }
    if with_stream {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .expect("stream specification"),
        );
    }
    let output = request.send().await.expect("testkit: create_table failed");
    output
        .table_description()
        .and_then(|t| t.latest_stream_arn())
        .map(str::to_owned)
}

/// A queue and, when `max_receive_count` is set, its dead-letter queue with a redrive policy.
pub struct TestQueue {
    pub url: String,
    pub arn: String,
    pub dlq_url: Option<String>,
}

pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: Option<u32>,
    visibility_timeout_secs: u32,
) -> TestQueue {
    let mut dlq_url = None;
    let mut request = client.create_queue().queue_name(name).attributes(
        QueueAttributeName::VisibilityTimeout,
        visibility_timeout_secs.to_string(),
    );
    if let Some(max) = max_receive_count {
        let dlq = client
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .send()
            .await
            .expect("testkit: create DLQ failed");
        let url = dlq.queue_url().expect("DLQ url").to_owned();
        let arn = queue_arn(client, &url).await;
        request = request.attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"{max}"}}"#),
        );
        dlq_url = Some(url);
    }
    let output = request.send().await.expect("testkit: create_queue failed");
    let url = output.queue_url().expect("queue url").to_owned();
    let arn = queue_arn(client, &url).await;
    TestQueue { url, arn, dlq_url }
}

/// A FIFO queue `<name>.fifo` (content-based deduplication when `content_dedupe`): its URL
/// and ARN.
pub async fn create_fifo_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    content_dedupe: bool,
) -> (String, String) {
    let output = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(
            QueueAttributeName::ContentBasedDeduplication,
            content_dedupe.to_string(),
        )
        .send()
        .await
        .expect("testkit: create FIFO queue failed");
    let url = output.queue_url().expect("queue url").to_owned();
    let arn = queue_arn(client, &url).await;
    (url, arn)
}

pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> String {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("testkit: get_queue_attributes failed")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("queue ARN")
        .clone()
}

pub async fn create_topic(client: &aws_sdk_sns::Client, name: &str) -> String {
    client
        .create_topic()
        .name(name)
        .send()
        .await
        .expect("testkit: create_topic failed")
        .topic_arn()
        .expect("topic ARN")
        .to_owned()
}

/// Subscribes a queue to a topic; `raw` skips the SNS envelope.
pub async fn subscribe_queue(
    client: &aws_sdk_sns::Client,
    topic_arn: &str,
    queue_arn: &str,
    raw: bool,
) {
    let mut request = client
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn);
    if raw {
        request = request.attributes("RawMessageDelivery", "true");
    }
    request.send().await.expect("testkit: subscribe failed");
}
