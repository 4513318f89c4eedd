//! Issue 4's promises, on the emulator with the real SDK clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use bedrock_sim::{Behavior, ErrorKind, Outcome, expected_reply};
use gateway::jobs::{Claim, JobStore};
use serde_json::json;
use testkit::moto;

#[tokio::test]
async fn submit_work_poll_and_notify() {
    let flow = flow().await;
    let (status, submitted) = flow
        .submit(&converse_job("Summarise the quarter"), None)
        .await;
    assert_eq!(status, 202, "{submitted}");
    let job_id = submitted["job_id"].as_str().unwrap().to_owned();
    assert_eq!(submitted["status"], "QUEUED");
    assert_eq!(submitted["status_url"], format!("/v1/jobs/{job_id}"));
    assert_eq!(flow.job(&job_id).await["status"], "QUEUED");

    flow.drain().await;

    let job = flow.job(&job_id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(
        job["result"]["text"],
        expected_reply("Summarise the quarter")
    );
    assert_eq!(job["result"]["model"], HAIKU);
    assert!(job["usage"]["totalTokens"].as_u64().unwrap() > 0);
    assert_eq!(job["metadata"]["ticket"], "T-1");
    // Priced like the API's x-gateway-cost: haiku's list price × the reported usage.
    let cost: f64 = job["result"]["cost_usd"].as_str().unwrap().parse().unwrap();
    assert!(cost > 0.0 && cost < 0.01, "{job}");

    let notes = flow.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let attributes = &notes[0]["MessageAttributes"];
    assert_eq!(attributes["job_id"]["Value"], job_id);
    assert_eq!(attributes["status"]["Value"], "SUCCEEDED");
    assert_eq!(attributes["tenant"]["Value"], "default");
    let message: serde_json::Value =
        serde_json::from_str(notes[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["job_id"], job_id);
    assert_eq!(message["cost_usd"], job["result"]["cost_usd"], "{message}");
}

#[tokio::test]
async fn a_message_delivered_twice_yields_one_result_and_one_notification() {
    let flow = flow().await;
    let (_, submitted) = flow.submit(&converse_job("once only"), None).await;
    let job_id = submitted["job_id"].as_str().unwrap();

    // At-least-once delivery: the same record handed to two invocations at the same time.
    let event = flow.jobs_poller.receive().await.unwrap();
    assert_eq!(event.records.len(), 1);
    let (first, second) = tokio::join!(
        flow.worker.handle(event.clone()),
        flow.worker.handle(event.clone())
    );
    // The loser of the claim asks for a retry; redelivery then finds the job done.
    let failures = first.batch_item_failures.len() + second.batch_item_failures.len();
    assert!(failures <= 1, "at most the losing duplicate is retried");
    let again = flow.worker.handle(event.clone()).await;
    assert!(again.batch_item_failures.is_empty());
    flow.jobs_poller.settle(&event, &again).await.unwrap();

    assert_eq!(flow.sim.calls(HAIKU), 1, "the model ran once");
    assert_eq!(flow.job(job_id).await["status"], "SUCCEEDED");
    assert_eq!(flow.notifications().await.len(), 1, "one notification");
}

#[tokio::test]
async fn a_poison_message_fails_alone_and_ends_in_the_dlq() {
    let flow = flow().await;
    let (_, good) = flow.submit(&converse_job("healthy job"), None).await;
    flow.send_raw("this is not JSON").await;
    flow.send_raw(r#"{"job_id": "job-does-not-exist"}"#).await;

    let (event, response) = flow.poll_once().await;
    assert_eq!(event.records.len(), 3, "one batch of three");
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed.len(), 2, "only the two poison records fail");
    assert_eq!(
        flow.job(good["job_id"].as_str().unwrap()).await["status"],
        "SUCCEEDED"
    );

    // Redelivered until maxReceiveCount, then moved to the DLQ by the queue's redrive policy.
    for _ in 0..(MAX_RECEIVE_COUNT + 2) {
        sleep(1100).await;
        flow.poll_once().await;
    }
    let mut dead = flow.dlq_bodies().await;
    dead.sort();
    let mut expected = vec![
        r#"{"job_id": "job-does-not-exist"}"#.to_owned(),
        "this is not JSON".to_owned(),
    ];
    expected.sort();
    assert_eq!(dead, expected);
}

#[tokio::test]
async fn throttling_is_retried_and_the_job_still_succeeds() {
    let flow = flow().await;
    flow.sim.set_behavior(
        HAIKU,
        Behavior::script([Outcome::Error(ErrorKind::ThrottlingException); 2]),
    );
    let (_, submitted) = flow.submit(&converse_job("busy model"), None).await;
    let job_id = submitted["job_id"].as_str().unwrap();
    for _ in 0..10 {
        flow.poll_once().await;
        if flow.job(job_id).await["status"] == "SUCCEEDED" {
            break;
        }
        sleep(1100).await;
    }
    let job = flow.job(job_id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(flow.sim.calls(HAIKU), 3, "two throttles, then the answer");
    assert_eq!(flow.notifications().await.len(), 1);
}

#[tokio::test]
async fn a_job_whose_worker_died_completes_once_after_its_lease() {
    let flow = flow().await;
    let (_, submitted) = flow.submit(&converse_job("orphaned"), None).await;
    let job_id = submitted["job_id"].as_str().unwrap();

    // A worker claims the job and dies: its lease runs 1.5 s from now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let claimed = flow
        .worker
        .store
        .claim(job_id, "", "dead-worker", now, now + 1500)
        .await
        .unwrap();
    assert!(matches!(claimed, Claim::Won(_)), "{claimed:?}");

    // While the lease holds, the message is handed back, not processed.
    let (_, response) = flow.poll_once().await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(flow.sim.calls(HAIKU), 0);

    sleep(1600).await;
    flow.drain().await;
    let job = flow.job(job_id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(
        job["attempts"], 2,
        "the dead worker's attempt and the one that finished"
    );
    assert_eq!(flow.sim.calls(HAIKU), 1);
    assert_eq!(flow.notifications().await.len(), 1);
}

#[tokio::test]
async fn idempotency_key_gives_one_job_and_a_different_body_conflicts() {
    let flow = flow().await;
    let (first_status, first) = flow
        .submit(&converse_job("idempotent"), Some("order-42"))
        .await;
    let (second_status, second) = flow
        .submit(&converse_job("idempotent"), Some("order-42"))
        .await;
    assert_eq!(first_status, 202);
    assert_eq!(second_status, 200, "a replay answers with the existing job");
    assert_eq!(first["job_id"], second["job_id"]);

    let (status, conflict) = flow
        .submit(&converse_job("something else"), Some("order-42"))
        .await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "conflict");

    flow.drain().await;
    assert_eq!(
        flow.sim.calls(HAIKU),
        1,
        "one job ran, though its message was sent twice"
    );
    assert_eq!(flow.notifications().await.len(), 1);
}

#[tokio::test]
async fn a_non_retryable_model_error_fails_the_job_with_a_stable_code() {
    let flow = flow().await;
    flow.sim
        .set_behavior(HAIKU, Behavior::always(ErrorKind::ValidationException));
    let (_, submitted) = flow
        .submit(&converse_job("bad request for the model"), None)
        .await;
    flow.drain().await;
    let job = flow.job(submitted["job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["error"]["code"], "invalid_request");
    assert_eq!(
        flow.sim.calls(HAIKU),
        1,
        "validation errors are not retried"
    );
    let notes = flow.notifications().await;
    assert_eq!(notes[0]["MessageAttributes"]["status"]["Value"], "FAILED");
}

#[tokio::test]
async fn bad_submissions_are_400s_naming_the_field_and_queue_nothing() {
    let flow = flow().await;
    let (status, body) = flow
        .submit(
            &json!({"converse": {"modelId": "nope", "messages": []}}),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "modelId");
    let (status, body) = flow
        .submit(&json!({"chat": {"model": "haiku"}}), None)
        .await;
    assert_eq!(status, 400, "{body}");
    let (event, _) = flow.poll_once().await;
    assert!(event.records.is_empty());
}

#[tokio::test]
async fn another_tenants_job_is_not_found() {
    let flow = flow().await;
    let (status, body) = flow.submit(&converse_job("mine"), None).await;
    assert_eq!(status, 202);
    // Same id, seen by a different tenant: simulate by rewriting the record's tenant.
    let job_id = body["job_id"].as_str().unwrap();
    moto()
        .dynamodb()
        .update_item()
        .table_name(&flow.jobs_table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(job_id.to_owned()),
        )
        .update_expression("SET tenant = :t")
        .expression_attribute_values(
            ":t",
            aws_sdk_dynamodb::types::AttributeValue::S("someone-else".into()),
        )
        .send()
        .await
        .unwrap();
    let (status, _) = flow
        .http(
            http::Request::get(format!("/v1/jobs/{job_id}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, 404);
}

/// The sample API Gateway event (JWT claims with tenant `acme`), as Lambda would hand it over.
#[tokio::test]
async fn the_sample_submit_event_runs_for_its_jwt_tenant() {
    let flow = flow().await;
    let event = include_str!("../../../../../events/api/jobs-submit.json");
    let (parts, body) = lambda_http::request::from_str(event).unwrap().into_parts();
    let (status, submitted) = flow
        .http(http::Request::from_parts(
            parts,
            axum::body::Body::from(body.to_vec()),
        ))
        .await;
    assert_eq!(status, 202, "{submitted}");
    flow.drain().await;
    let notes = flow.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["MessageAttributes"]["tenant"]["Value"], "acme");
    assert_eq!(
        notes[0]["MessageAttributes"]["status"]["Value"],
        "SUCCEEDED"
    );
    // The default tenant cannot read acme's job.
    let (status, _) = flow
        .http(
            http::Request::get(submitted["status_url"].as_str().unwrap())
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, 404);
}
