//! The worker function: an async job submitted to the api function runs on the worker (SQS
//! event source mapping), succeeds, and is announced on the notifications topic.

use crate::common::{eventually, http, json, stack};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn an_async_job_is_run_by_the_worker_and_notified_over_sns() {
    let stack = stack().require(&["ApiFunction", "WorkerFunction"]);
    // A subscriber of the topic the worker publishes to, as an application would subscribe.
    let sqs = stack.sqs();
    let name = format!(
        "e2e-notifications-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let queue_url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue URL");
    stack
        .sns()
        .subscribe()
        .topic_arn(stack.env("WorkerFunction", "NOTIFY_TOPIC_ARN"))
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:us-east-1:123456789012:{name}"))
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("Subscribe");

    let key = uuid::Uuid::new_v4().to_string();
    let (status, submitted) = json(
        http()
            .post(format!("{}/v1/jobs", stack.api_url))
            .header("idempotency-key", &key)
            .json(&serde_json::json!({
                "converse": {"modelId": "haiku", "messages": [{"role": "user", "content": [{"text": "Summarise the quarter"}]}]}
            }))
            .send()
            .await
            .expect("POST /v1/jobs"),
    )
    .await;
    assert_eq!(status, 202, "{submitted}");
    let job_id = submitted["job_id"].as_str().expect("job_id").to_owned();

    let job = eventually("the job to finish", Duration::from_secs(60), || async {
        let (status, job) = json(
            http()
                .get(format!("{}/v1/jobs/{job_id}", stack.api_url))
                .send()
                .await
                .expect("GET /v1/jobs/{id}"),
        )
        .await;
        assert_eq!(status, 200, "{job}");
        matches!(job["status"].as_str(), Some("SUCCEEDED" | "FAILED")).then_some(job)
    })
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");

    let notification: Value =
        eventually("the SNS notification", Duration::from_secs(30), || async {
            let output = sqs
                .receive_message()
                .queue_url(&queue_url)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("ReceiveMessage");
            output
                .messages()
                .iter()
                .filter_map(|m| serde_json::from_str::<Value>(m.body().unwrap_or_default()).ok())
                .find(|n| n["job_id"] == job_id.as_str())
        })
        .await;
    assert_eq!(notification["status"], "SUCCEEDED", "{notification}");
}
