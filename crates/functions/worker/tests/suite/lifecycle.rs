//! The job lifecycle's cost and its announcement guarantee, counted on the real SDK clients:
//! - a job costs at most four AWS calls: claim and finish (with the notification claim) per
//!   job; one `PublishBatch`, one `PutEvents` and one write marking its jobs announced per
//!   batch; no read before the claim;
//! - a worker that dies between publishing a job's notification and result event and
//!   recording that it did leaves the next delivery to publish both again; on a FIFO topic
//!   (deduplication id = job id) and a subscriber queue deduplicating the event's content,
//!   each subscriber still gets exactly one of each (docs/JOB_PRODUCERS.md).

use crate::common::calls::{self, Calls, Counter};
use crate::common::*;
use aws_sdk_eventbridge::types::{InputTransformer, SqsParameters, Target};
use gateway::jobs::JobStore;
use gateway::jobs::NotificationState;
use gateway::jobs::processor::ProcessorSettings;
use gateway_aws::jobs::{DynamoJobStore, EventBridgeJobEvents, SnsJobNotifier};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use testkit::resources::create_fifo_queue;
use testkit::{moto, unique_name};

const JOBS: usize = 5;

#[tokio::test]
async fn a_job_costs_at_most_four_aws_calls_and_no_read() {
    let mut flow = flow().await;
    let counted = Arc::new(Calls::default());
    let counter = Counter::new(&counted);
    flow.worker.store = DynamoJobStore::new(calls::dynamodb(&counter), &flow.jobs_table);
    flow.worker.notifier = SnsJobNotifier::new(calls::sns(&counter), &flow.topic_arn);
    let bus = unique_name("bus");
    aws_sdk_eventbridge::Client::new(&moto().sdk_config())
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap();
    flow.worker.events = Some(EventBridgeJobEvents::new(
        calls::eventbridge(&counter),
        &bus,
    ));
    for i in 0..JOBS {
        let (status, body) = flow
            .submit(&converse_job(&format!("count {i}")), None)
            .await;
        assert_eq!(status, 202, "{body}");
    }
    let mut batches = 0;
    loop {
        let (event, response) = flow.poll_once().await;
        if event.records.is_empty() {
            break;
        }
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        batches += 1;
    }
    let seen = counted.take();
    eprintln!("calls for {JOBS} jobs in {batches} batch(es): {seen:?}");
    let updates = seen.get("DynamoDB_20120810.UpdateItem").unwrap_or(&0);
    let transactions = seen
        .get("DynamoDB_20120810.TransactWriteItems")
        .unwrap_or(&0);
    assert!(batches < JOBS, "some batch held several jobs: {batches}");
    assert!(*transactions >= 1, "a batch marked at once: {seen:?}");
    assert_eq!(
        updates + transactions,
        2 * JOBS + batches,
        "claim and finish per job, one mark per batch: {seen:?}"
    );
    assert_eq!(seen.get("DynamoDB_20120810.GetItem"), None, "{seen:?}");
    // One Publish(Batch) and one PutEvents per batch of the event source mapping.
    let publishes =
        seen.get("sns:Publish").unwrap_or(&0) + seen.get("sns:PublishBatch").unwrap_or(&0);
    assert_eq!(publishes, batches, "{seen:?}");
    assert_eq!(seen.get("AWSEvents.PutEvents"), Some(&batches), "{seen:?}");
    let total: usize = seen.values().sum();
    assert_eq!(total, 2 * JOBS + 3 * batches, "nothing else: {seen:?}");
    assert!(total <= 4 * JOBS, "{seen:?}");
    let notified = flow.notifications().await;
    assert_eq!(notified.len(), JOBS, "{notified:?}");
    let job_ids: Vec<String> = notified
        .iter()
        .map(|n| {
            let message: Value = serde_json::from_str(n["Message"].as_str().unwrap()).unwrap();
            message["job_id"].as_str().unwrap().to_owned()
        })
        .collect();
    for job_id in &job_ids {
        let job = flow.worker.store.get(job_id).await.unwrap().unwrap();
        assert_eq!(job.notification, NotificationState::Sent, "{job_id}");
    }
    // Marking jobs that are no longer SENDING cancels the transaction; each is then marked on
    // its own, whose failed conditions change nothing.
    let ids: Vec<&str> = job_ids.iter().map(String::as_str).collect();
    flow.worker.store.mark_all_notified(&ids, 1).await.unwrap();
    for job_id in &job_ids {
        let job = flow.worker.store.get(job_id).await.unwrap().unwrap();
        assert_eq!(job.notification, NotificationState::Sent, "{job_id}");
        assert_ne!(job.updated_at_ms, 1, "a failed condition wrote nothing");
    }
}

#[tokio::test]
async fn a_worker_killed_between_publishing_and_recording_it_still_announces_once() {
    let mut flow = flow_with(ProcessorSettings {
        max_receive_count: MAX_RECEIVE_COUNT,
        notify_lease: Duration::from_millis(300),
        ..ProcessorSettings::default()
    })
    .await;
    let bus = unique_name("bus");
    aws_sdk_eventbridge::Client::new(&moto().sdk_config())
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap();
    let fifo = fifo_subscribers(&bus).await;
    let counted = Arc::new(Calls::default());
    let counter = Counter::new(&counted);
    flow.worker.notifier = SnsJobNotifier::new(calls::sns(&counter), &fifo.topic);
    flow.worker.events = Some(EventBridgeJobEvents::new(
        calls::eventbridge(&counter),
        &bus,
    ));
    // This worker publishes, then dies before the write that records it.
    let dying = Counter {
        fail_when: Some("notification = :sent"),
        ..counter.clone()
    };
    flow.worker.store = DynamoJobStore::new(calls::dynamodb(&dying), &flow.jobs_table);

    let (status, body) = flow.submit(&converse_job("announce once"), None).await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let (_, response) = flow.poll_once().await;
    assert_eq!(response.batch_item_failures.len(), 1, "the dying worker");
    let job = flow.worker.store.get(&job_id).await.unwrap().unwrap();
    assert_eq!(job.notification, NotificationState::Sending);

    // The next delivery, after the notification lease, by a worker that lives.
    flow.worker.store = DynamoJobStore::new(calls::dynamodb(&counter), &flow.jobs_table);
    sleep(1_200).await;
    flow.drain().await;
    let job = flow.worker.store.get(&job_id).await.unwrap().unwrap();
    assert_eq!(job.notification, NotificationState::Sent);
    let seen = counted.take();
    assert_eq!(
        seen.get("sns:Publish"),
        Some(&2),
        "published twice: {seen:?}"
    );
    assert_eq!(seen.get("AWSEvents.PutEvents"), Some(&2), "{seen:?}");

    let notified = receive_all(&fifo.notes_url).await;
    assert_eq!(notified.len(), 1, "one notification: {notified:?}");
    let message: Value = serde_json::from_str(notified[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["job_id"], job_id.as_str());
    let announced = receive_all(&fifo.results_url).await;
    assert_eq!(announced.len(), 1, "one result event: {announced:?}");
    assert_eq!(announced[0]["job_id"], job_id.as_str());
}

/// Subscribers that deduplicate: a FIFO notifications topic (the worker's, to be set) with a
/// FIFO queue subscribed, and on `bus` a rule sending every result event's detail to a FIFO
/// queue that deduplicates by content — a subscriber as docs/JOB_PRODUCERS.md describes.
pub(crate) struct FifoSubscribers {
    pub(crate) topic: String,
    pub(crate) notes_url: String,
    pub(crate) results_url: String,
}

pub(crate) async fn fifo_subscribers(bus: &str) -> FifoSubscribers {
    let sns = moto().sns();
    let topic = sns
        .create_topic()
        .name(format!("{}.fifo", unique_name("notes")))
        .attributes("FifoTopic", "true")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let notes = create_fifo_queue(&moto().sqs(), &unique_name("notes"), false).await;
    testkit::resources::subscribe_queue(&sns, &topic, &notes.1, false).await;
    let events = aws_sdk_eventbridge::Client::new(&moto().sdk_config());
    let results = create_fifo_queue(&moto().sqs(), &unique_name("results"), true).await;
    events
        .put_rule()
        .name("results-fifo")
        .event_bus_name(bus)
        .event_pattern(r#"{"source": ["genai.gateway"]}"#)
        .send()
        .await
        .unwrap();
    let target = Target::builder()
        .id("fifo")
        .arn(&results.1)
        .sqs_parameters(SqsParameters::builder().message_group_id("results").build())
        .input_transformer(
            InputTransformer::builder()
                .input_paths_map("detail", "$.detail")
                .input_template("<detail>")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    events
        .put_targets()
        .rule("results-fifo")
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .unwrap();
    FifoSubscribers {
        topic,
        notes_url: notes.0,
        results_url: results.0,
    }
}

/// Every message on `url`, parsed, deleted as read.
pub(crate) async fn receive_all(url: &str) -> Vec<Value> {
    let sqs = moto().sqs();
    let mut all = Vec::new();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if output.messages().is_empty() {
            return all;
        }
        for message in output.messages() {
            all.push(serde_json::from_str(message.body().unwrap_or("null")).unwrap());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap();
        }
    }
}
