//! The sample events under `events/dynamodb/` (Lambda's DynamoDB stream event JSON) through the
//! handler, with the items they describe in the emulator's table; and the template's filter in
//! step with the code's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use std::collections::HashMap;
use stream_processor::FILTER_PATTERN;

const INSERT: &str = include_str!("../../../../../events/dynamodb/insert.json");
const MODIFY: &str = include_str!("../../../../../events/dynamodb/modify.json");
const REMOVE: &str = include_str!("../../../../../events/dynamodb/remove.json");
const TEMPLATE: &str = include_str!("../../../../../template.yaml");

fn event(json: &str) -> Event {
    serde_json::from_str(json).expect("a Lambda DynamoDB stream event")
}

/// Puts the item a record's new image describes, as the table holds it when the record arrives.
async fn seed(h: &Harness, event: &Event) {
    for record in &event.records {
        let item: HashMap<String, AttributeValue> = record.change.new_image.clone().into();
        h.put_item(item).await;
    }
}

#[tokio::test]
async fn sample_events_run_through_the_handler() {
    let h = harness().await;

    let insert = event(INSERT);
    seed(&h, &insert).await;
    let response = h.processor.handle(insert, None).await;
    assert!(reported(&response).is_empty(), "{response:?}");
    let item = h.item("doc-sample-insert").await;
    assert_eq!(
        (item["status"].as_str(), item["result"].as_str()),
        (Some("ENRICHED"), Some("billing")),
        "{item}"
    );

    let modify = event(MODIFY);
    seed(&h, &modify).await;
    let response = h.processor.handle(modify.clone(), None).await;
    assert!(reported(&response).is_empty(), "{response:?}");
    let item = h.item("doc-sample-modify").await;
    assert_eq!(item["status"], "ENRICHED", "{item}");
    assert_eq!(item["result"], json!({"vendor": "ACME", "total": 120.5}));
    assert_eq!(item["enriched_version"], 2);

    let calls = h.calls();
    let response = h.processor.handle(event(REMOVE), None).await;
    assert!(reported(&response).is_empty(), "{response:?}");
    // Replaying the MODIFY after it was enriched is a duplicate: nothing to do.
    assert!(reported(&h.processor.handle(modify, None).await).is_empty());
    assert_eq!(h.calls(), calls);
}

#[tokio::test]
async fn a_sample_record_that_fails_is_reported_by_its_sequence_number() {
    let h = harness().await;
    h.sim.set_behavior(
        HAIKU,
        bedrock_sim::Behavior::always(bedrock_sim::ErrorKind::ServiceUnavailableException),
    );
    let insert = event(INSERT);
    seed(&h, &insert).await;
    let response = h.processor.handle(insert, None).await;
    assert_eq!(
        reported(&response),
        vec!["111000000000000000000001".to_owned()]
    );
    let item = h.item("doc-sample-insert").await;
    assert_eq!(
        (item["status"].as_str(), item["attempts"].as_u64()),
        (Some("PENDING"), Some(1)),
        "{item}"
    );
}

#[test]
fn the_template_filters_the_stream_with_the_same_pattern() {
    assert!(
        TEMPLATE.contains(&format!("Pattern: '{FILTER_PATTERN}'")),
        "template.yaml's stream-processor FilterCriteria must be exactly: Pattern: '{FILTER_PATTERN}'"
    );
}
