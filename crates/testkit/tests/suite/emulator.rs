//! The local AWS world works with the real SDK clients: these are the foundation's promises.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use testkit::{moto, resources, unique_name};

#[tokio::test]
async fn dynamodb_conditional_write_and_read() {
    let ddb = moto().dynamodb();
    let table = unique_name("items");
    resources::create_table(&ddb, &table, false, false).await;

    let put = |value: &'static str| {
        ddb.put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S("k1".into()))
            .item("value", AttributeValue::S(value.into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
    };
    put("first").await.expect("first conditional put succeeds");
    let second = put("second")
        .await
        .expect_err("second conditional put must fail");
    assert!(
        second
            .into_service_error()
            .is_conditional_check_failed_exception(),
        "the condition is enforced"
    );

    let item = ddb
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("k1".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get_item")
        .item
        .expect("item exists");
    assert_eq!(item.get("value"), Some(&AttributeValue::S("first".into())));
}

#[tokio::test]
async fn dynamodb_stream_record_reads_back() {
    let ddb = moto().dynamodb();
    let streams = moto().dynamodb_streams();
    let table = unique_name("docs");
    let stream_arn = resources::create_table(&ddb, &table, false, true)
        .await
        .expect("stream ARN");

    ddb.put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("doc-1".into()))
        .item("status", AttributeValue::S("PENDING".into()))
        .send()
        .await
        .expect("put_item");

    let stream = streams
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await
        .expect("describe_stream");
    let shard_id = stream
        .stream_description()
        .and_then(|d| d.shards().first())
        .and_then(|s| s.shard_id())
        .expect("a shard")
        .to_owned();
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(&stream_arn)
        .shard_id(shard_id)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("get_shard_iterator")
        .shard_iterator
        .expect("iterator");
    let records = streams
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .expect("get_records");
    let record = records.records().first().expect("one record");
    assert_eq!(record.event_name().map(|n| n.as_str()), Some("INSERT"));
    let new_image = record
        .dynamodb()
        .and_then(|d| d.new_image())
        .expect("new image");
    assert_eq!(
        new_image.get("status"),
        Some(&aws_sdk_dynamodbstreams::types::AttributeValue::S(
            "PENDING".into()
        ))
    );
}

#[tokio::test]
async fn sqs_send_receive_delete() {
    let sqs = moto().sqs();
    let queue = resources::create_queue(&sqs, &unique_name("jobs"), None, 30).await;
    sqs.send_message()
        .queue_url(&queue.url)
        .message_body("hello")
        .send()
        .await
        .expect("send");

    let received = sqs
        .receive_message()
        .queue_url(&queue.url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    let messages = received.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body(), Some("hello"));
    sqs.delete_message()
        .queue_url(&queue.url)
        .receipt_handle(messages[0].receipt_handle().expect("receipt"))
        .send()
        .await
        .expect("delete");

    let again = sqs
        .receive_message()
        .queue_url(&queue.url)
        .wait_time_seconds(0)
        .send()
        .await
        .expect("receive");
    assert!(again.messages().is_empty(), "the deleted message is gone");
}

#[tokio::test]
async fn sns_publish_reaches_a_subscribed_queue_with_attributes() {
    let sqs = moto().sqs();
    let sns = moto().sns();
    let queue = resources::create_queue(&sqs, &unique_name("notify"), None, 30).await;
    let topic = resources::create_topic(&sns, &unique_name("jobs-topic")).await;
    resources::subscribe_queue(&sns, &topic, &queue.arn, false).await;

    sns.publish()
        .topic_arn(&topic)
        .message(r#"{"job_id":"j-1","status":"SUCCEEDED"}"#)
        .message_attributes(
            "status",
            aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value("SUCCEEDED")
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .expect("publish");

    let received = sqs
        .receive_message()
        .queue_url(&queue.url)
        .wait_time_seconds(2)
        .send()
        .await
        .expect("receive");
    let body = received
        .messages()
        .first()
        .and_then(|m| m.body())
        .expect("delivered message");
    let envelope: serde_json::Value = serde_json::from_str(body).expect("SNS envelope is JSON");
    assert_eq!(
        envelope["Message"],
        r#"{"job_id":"j-1","status":"SUCCEEDED"}"#
    );
    assert_eq!(
        envelope["MessageAttributes"]["status"]["Value"],
        "SUCCEEDED"
    );
}
