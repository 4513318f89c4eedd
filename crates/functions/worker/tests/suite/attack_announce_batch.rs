//! Red-team attacks on the write that marks a published batch announced
//! (`JobStore::mark_all_notified`: one TransactWriteItems for the batch), through the worker,
//! moto and the Bedrock simulator. Each test is the attack; it fails while the attack works.

use crate::common::*;
use gateway::jobs::processor::ProcessorSettings;
use gateway::jobs::{JobStatus, JobStore, NotificationState};
use serde_json::{Value, json};
use std::time::Duration;

/// SQS delivers at least once, so one job's message can arrive twice in one batch. When the
/// first delivery's notification claim ends before the second delivery's turn (the records
/// beyond the worker's concurrency wait for the others' model calls; deployed, a 30 s claim
/// against model calls of minutes), both win the claim, and the batch mark names the job twice.
/// DynamoDB refuses a transaction with two operations on one item as a whole
/// (ValidationException, not TransactionCanceled, so no per-job fallback): every job of the
/// batch, published, is reported failed and left `SENDING`, and is published again after its
/// claim ends. Before the batch mark each job was marked on its own: only the repeated mark's
/// condition failed, and nothing came back.
#[tokio::test]
async fn attack_a_job_delivered_twice_in_one_batch_fails_the_whole_batch_mark() {
    let mut flow = flow_with(ProcessorSettings {
        max_receive_count: MAX_RECEIVE_COUNT,
        // The first claim has ended by the time the duplicate's turn comes.
        notify_lease: Duration::from_millis(1),
        ..ProcessorSettings::default()
    })
    .await;
    // Records one at a time: the duplicate runs after the other job's model call.
    flow.worker.concurrency = 1;

    let mut ids = Vec::new();
    for prompt in ["twice", "bystander"] {
        let (status, body) = flow.submit(&converse_job(prompt), None).await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["job_id"].as_str().unwrap().to_owned());
    }
    let (twice, bystander) = (ids[0].clone(), ids[1].clone());
    let tenant = flow.worker.store.get(&twice).await.unwrap().unwrap().tenant;
    // The duplicate delivery of the first job's pointer.
    flow.send_raw(&json!({"job_id": twice, "tenant": tenant}).to_string())
        .await;

    let (event, response) = flow.poll_once().await;
    assert_eq!(event.records.len(), 3, "one batch: {event:?}");
    let after_batch = flow.worker.store.get(&bystander).await.unwrap().unwrap();

    // The rest, with a claim that outlasts the batch (so the retry cannot repeat the attack).
    flow.worker.settings.notify_lease = Duration::from_secs(30);
    flow.worker.concurrency = 4;
    sleep(1_200).await;
    flow.drain().await;
    for job_id in &ids {
        let job = flow.worker.store.get(job_id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Succeeded, "{job_id}");
        assert_eq!(job.notification, NotificationState::Sent, "{job_id}");
    }
    let bystander_notes = flow
        .notifications()
        .await
        .iter()
        .filter(|n| {
            let message: Value = serde_json::from_str(n["Message"].as_str().unwrap()).unwrap();
            message["job_id"] == bystander.as_str()
        })
        .count();
    eprintln!(
        "bystander after the batch: {:?}; its notifications: {bystander_notes}; {response:?}",
        after_batch.notification
    );

    assert_eq!(
        after_batch.notification,
        NotificationState::Sent,
        "the bystander was published in that batch but not marked: {response:?}"
    );
    assert!(
        response.batch_item_failures.is_empty(),
        "every record of the batch came back: {response:?}"
    );
    assert_eq!(bystander_notes, 1, "the bystander was announced twice");
}
