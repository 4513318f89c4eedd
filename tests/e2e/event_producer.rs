//! EventBridge in and out through the offline stack: a `GenAI Job Requested` event put on
//! the template's bus is routed by the template's rule to the jobs queue, the worker turns it
//! into a job of the demo producer's tenant and runs it, and a subscriber's rule on the same
//! bus receives the `GenAI Job Succeeded` event.

use crate::common::{eventually, stack};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

#[tokio::test]
async fn an_event_on_the_bus_becomes_a_job_and_its_result_an_event() {
    let stack = stack().require(&["WorkerFunction"]);
    let bus = stack.env("WorkerFunction", "EVENT_BUS_NAME");
    let events = aws_sdk_eventbridge::Client::new(&stack.sdk());
    let sqs = stack.sqs();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let name = format!("e2e-results-{suffix}");
    let results_url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue URL");
    let rule = format!("e2e-results-{suffix}");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(json!({"source": ["genai.gateway"]}).to_string())
        .send()
        .await
        .expect("PutRule");
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            Target::builder()
                .id("q")
                .arn(format!("arn:aws:sqs:us-east-1:123456789012:{name}"))
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("PutTargets");

    let idempotency_id = format!("e2e-{suffix}");
    let detail = json!({"schema": "gateway.job.v1", "producer": "demo", "idempotency_id": idempotency_id,
        "model": "haiku",
        "request": {"converse": {"messages": [{"role": "user", "content": [{"text": "From the bus"}]}]}}});
    events
        .put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .event_bus_name(&bus)
                .source("com.example.demo")
                .detail_type("GenAI Job Requested")
                .detail(detail.to_string())
                .build(),
        )
        .send()
        .await
        .expect("PutEvents");

    let digest = Sha256::new()
        .chain_update("demo")
        .chain_update([0])
        .chain_update(format!("\0producer\0demo\0{idempotency_id}"))
        .finalize();
    let job_id = format!("job-{}", &hex::encode(digest)[..32]);
    let table = stack.env("WorkerFunction", "JOBS_TABLE");
    let ddb = stack.dynamodb();
    let status = eventually("the job to finish", Duration::from_secs(60), || async {
        let item = ddb
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(job_id.clone()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item?;
        let status = item.get("status")?.as_s().ok()?.clone();
        matches!(status.as_str(), "SUCCEEDED" | "FAILED").then_some(status)
    })
    .await;
    assert_eq!(status, "SUCCEEDED");

    let event: Value = eventually("the result event", Duration::from_secs(30), || async {
        let output = sqs
            .receive_message()
            .queue_url(&results_url)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        output
            .messages()
            .iter()
            .filter_map(|m| serde_json::from_str::<Value>(m.body().unwrap_or_default()).ok())
            .find(|e| e["detail"]["job_id"] == job_id.as_str())
    })
    .await;
    assert_eq!(event["detail-type"], "GenAI Job Succeeded");
    assert_eq!(event["detail"]["tenant"], "demo");
}
