//! The stream-processor function: a PENDING document written to the documents table is
//! enriched through the table's stream (DynamoDB Streams event source mapping) and written
//! back ENRICHED.

use crate::common::{eventually, stack};
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::Duration;

#[tokio::test]
async fn a_pending_document_is_enriched_through_the_stream() {
    let stack = stack().require(&["StreamProcessorFunction"]);
    let ddb = stack.dynamodb();
    let table = stack.env("StreamProcessorFunction", "DOCUMENTS_TABLE");
    let key = format!("e2e-doc-{}", uuid::Uuid::new_v4().simple());
    let labels = AttributeValue::L(vec![
        AttributeValue::S("positive".into()),
        AttributeValue::S("negative".into()),
    ]);
    let task = AttributeValue::M(
        [
            ("type".to_owned(), AttributeValue::S("classify".into())),
            ("labels".to_owned(), labels),
        ]
        .into(),
    );
    ddb.put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S(key.clone()))
        .item("version", AttributeValue::N("1".into()))
        .item("status", AttributeValue::S("PENDING".into()))
        .item(
            "content",
            AttributeValue::S("The parcel arrived broken and late. reply with: negative".into()),
        )
        .item("task", task)
        .send()
        .await
        .expect("PutItem");

    let item = eventually(
        "the document to leave PENDING",
        Duration::from_secs(60),
        || async {
            let item = ddb
                .get_item()
                .table_name(&table)
                .key("pk", AttributeValue::S(key.clone()))
                .consistent_read(true)
                .send()
                .await
                .expect("GetItem")
                .item
                .unwrap_or_default();
            let status = item.get("status").and_then(|s| s.as_s().ok()).cloned();
            (status.as_deref() != Some("PENDING")).then_some(item)
        },
    )
    .await;
    let status = item
        .get("status")
        .and_then(|s| s.as_s().ok())
        .map(String::as_str);
    assert_eq!(status, Some("ENRICHED"), "{item:?}");
    // The simulator answers what the content asks it to; the label is validated and stored.
    let result = item
        .get("result")
        .and_then(|r| r.as_s().ok())
        .map(String::as_str);
    assert_eq!(result, Some("negative"), "{item:?}");
    assert_eq!(
        item.get("enriched_version")
            .and_then(|v| v.as_n().ok())
            .map(String::as_str),
        Some("1")
    );
}
