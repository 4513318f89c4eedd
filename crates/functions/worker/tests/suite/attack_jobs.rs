//! Attacks on `POST /v1/jobs` and its callbacks (issue 14, findings 3, 5 and 11), each written
//! as the attack and asserting that it fails, through the API router, the worker, moto and
//! the Bedrock simulator: forged callbacks across tenants, reserved metadata, private and
//! unlisted callback hosts, oversized jobs and results too large to store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use gateway::jobs::callback::{CallbackSecrets, CallbackSettings, RetrySchedule};
use gateway::jobs::{JobRecord, JobStatus, JobStore};
use gateway::webhook::CallbackPolicy;
use gateway_aws::callback::HttpCallbackSender;
use gateway_aws::jobs::{DynamoJobStore, SnsJobNotifier, SqsJobQueue};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde_json::{Value, json};
use sha2::Sha256;
use testkit::moto;
use worker::Callbacks;

use crate::common::*;

/// The deployment's master callback secret (the worker's `CALLBACK_SIGNING_SECRET`).
const MASTER: &str = "whsec_bWFzdGVyLWNhbGxiYWNrLXNlY3JldC1mb3ItYXR0YWNrcw==";

/// Tenant X's receiver: records every callback it is sent.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> &'static str {
    r.hits.lock().unwrap().push((headers, body));
    "ok"
}

impl Receiver {
    async fn start() -> (Self, SocketAddr) {
        let receiver = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, addr)
    }
}

/// The secret `gatewayctl callbacks secret --tenant T` hands T, computed independently.
fn tenant_secret(tenant: &str) -> Vec<u8> {
    let master = STANDARD.decode(&MASTER[6..]).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&master).unwrap();
    mac.update(format!("gateway-callback-v1\0tenant\0{tenant}").as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A receiver's own Standard Webhooks check with `key`.
fn verifies(key: &[u8], headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{}.{}.", header("webhook-id"), header("webhook-timestamp")).as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header("webhook-signature")
        .split(' ')
        .any(|candidate| candidate == expected)
}

fn callbacks(flow: &Flow) -> Callbacks {
    let sqs = moto().sqs();
    let mut settings = CallbackSettings::new(CallbackSecrets::parse(MASTER, None).unwrap());
    settings.schedule = RetrySchedule::parse("1s").unwrap();
    settings.allow_http = true;
    settings.allow_private = true;
    Callbacks {
        queue: SqsJobQueue::new(sqs.clone(), &flow.jobs_queue_url),
        dead_letters: None,
        alerts: SnsJobNotifier::new(moto().sns(), "arn:aws:sns:us-east-1:123456789012:none"),
        sender: HttpCallbackSender::new().with_timeout(Duration::from_secs(5)),
        settings,
    }
}

fn job_with_callback(prompt: &str, url: &str, metadata: Value) -> Value {
    json!({"converse": {"modelId": "haiku", "messages": [{"role": "user", "content": [{"text": prompt}]}]},
           "callback_url": url, "metadata": metadata})
}

async fn job_record(flow: &Flow, job_id: &str) -> JobRecord {
    DynamoJobStore::new(moto().dynamodb(), &flow.jobs_table)
        .get(job_id)
        .await
        .unwrap()
        .unwrap()
}

/// Polls the jobs queue (running jobs and delivering callbacks) until it stays empty.
async fn drain_with_callbacks(flow: &Flow, callbacks: &Callbacks) {
    for _ in 0..30 {
        let event = flow.jobs_poller.receive().await.unwrap();
        if event.records.is_empty() {
            return;
        }
        let response = flow
            .worker
            .handle_with(event.clone(), Some(callbacks))
            .await;
        flow.jobs_poller.settle(&event, &response).await.unwrap();
    }
    panic!("the jobs queue did not drain");
}

#[tokio::test]
async fn attack_tenant_y_cannot_send_a_callback_to_tenant_xs_receiver() {
    let flow = flow_with_controls(json!({})).await;
    let (_, addr) = Receiver::start().await;
    let x_receiver = format!("http://127.0.0.1:{}/hooks", addr.port());
    // Tenant Y holds a key with no callback hosts (nor does its tenant).
    let y = flow.api_key("tenant-y", |_| {}).await;
    let forged = job_with_callback(
        "APPROVED: refund 5000 USD",
        &x_receiver,
        json!({"ticket": "T-9"}),
    );
    let (status, body) = flow.submit_as(Some(&y.api_key), &forged, None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("callback_url"),
        "{body}"
    );
    flow.drain().await;
    assert_eq!(flow.sim.calls(HAIKU), 0, "refused before any model call");
}

#[tokio::test]
async fn attack_a_receiver_verifying_tenant_x_cannot_verify_tenant_ys_callbacks() {
    let flow = flow_with_controls(json!({})).await;
    let callbacks = callbacks(&flow);
    let (receiver, addr) = Receiver::start().await;
    let shared_host = format!("http://127.0.0.1:{}/hooks", addr.port());
    // Both tenants may call back to the same host (an operator allowed it for both).
    let x = flow
        .api_key("tenant-x", |k| k.callback_hosts = vec!["127.0.0.1".into()])
        .await;
    let y = flow
        .api_key("tenant-y", |k| k.callback_hosts = vec!["127.0.0.1".into()])
        .await;
    let (status, x_job) = flow
        .submit_as(
            Some(&x.api_key),
            &job_with_callback("real ticket", &shared_host, json!({})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{x_job}");
    let (status, y_job) = flow
        .submit_as(
            Some(&y.api_key),
            &job_with_callback("APPROVED: refund 5000 USD", &shared_host, json!({})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{y_job}");
    drain_with_callbacks(&flow, &callbacks).await;

    let hits = receiver.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 2, "both delivered");
    let x_secret = tenant_secret("tenant-x");
    let y_secret = tenant_secret("tenant-y");
    for (headers, body) in &hits {
        let callback: Value = serde_json::from_slice(body).unwrap();
        let tenant = callback["data"]["tenant"].as_str().unwrap();
        assert_eq!(callback["data"]["origin"], "api");
        assert_eq!(
            callback["data"]["job_id"].as_str(),
            headers["webhook-id"].to_str().ok()
        );
        match tenant {
            "tenant-x" => {
                assert!(verifies(&x_secret, headers, body));
                assert!(!verifies(&y_secret, headers, body));
            }
            "tenant-y" => {
                assert!(
                    !verifies(&x_secret, headers, body),
                    "X's secret verifies a callback Y caused"
                );
                assert!(verifies(&y_secret, headers, body));
            }
            other => panic!("unexpected tenant {other}"),
        }
        // The deployment's master secret itself verifies nothing.
        let master = STANDARD.decode(&MASTER[6..]).unwrap();
        assert!(!verifies(&master, headers, body));
    }
}

#[tokio::test]
async fn attack_reserved_metadata_keys_are_refused() {
    let flow = flow_with_controls(json!({})).await;
    let key = flow.api_key("tenant-y", |_| {}).await;
    for reserved in [
        "webhook_source",
        "ticket_id",
        "webhook_delivery_id",
        "gateway_origin",
    ] {
        let mut job = converse_job("hi");
        job["metadata"] = json!({reserved: "tickets"});
        let (status, body) = flow.submit_as(Some(&key.api_key), &job, None).await;
        assert_eq!(status, 400, "{reserved}: {body}");
        assert_eq!(
            body["error"]["param"]
                .as_str()
                .or(body["error"]["field"].as_str()),
            Some(format!("metadata.{reserved}").as_str()),
            "{body}"
        );
    }
    flow.drain().await;
    assert_eq!(flow.sim.calls(HAIKU), 0);
}

#[tokio::test]
async fn attack_private_and_unlisted_callback_urls_are_refused_before_any_model_call() {
    // The deployment's policy: https and public receivers only (production's).
    let flow = flow_with_callback_policy(json!({}), CallbackPolicy::default()).await;
    let key = flow
        .api_key("acme", |k| {
            // Even listed, a private or loopback receiver is refused by the policy.
            k.callback_hosts = vec![
                "hooks.acme.example".into(),
                "127.0.0.1".into(),
                "localhost".into(),
                "10.0.0.5".into(),
                "169.254.169.254".into(),
                "::1".into(),
            ]
        })
        .await;
    for url in [
        "https://127.0.0.1/cb",
        "https://localhost/cb",
        "https://10.0.0.5/cb",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/cb",
        "http://hooks.acme.example/cb",
    ] {
        let (status, body) = flow
            .submit_as(
                Some(&key.api_key),
                &job_with_callback("probe", url, json!({})),
                None,
            )
            .await;
        assert_eq!(status, 400, "{url}: {body}");
    }
    let (status, body) = flow
        .submit_as(
            Some(&key.api_key),
            &job_with_callback("probe", "https://elsewhere.example/cb", json!({})),
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    flow.drain().await;
    assert_eq!(flow.sim.calls(HAIKU), 0, "no probe was paid for");
    let (status, _) = flow
        .submit_as(
            Some(&key.api_key),
            &job_with_callback("fine", "https://hooks.acme.example/cb", json!({})),
            None,
        )
        .await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn attack_oversized_jobs_are_413_and_create_nothing() {
    let flow = flow().await;
    for kb in [300, 398, 450] {
        let (status, body) = flow
            .submit(&converse_job(&"x".repeat(kb * 1024)), None)
            .await;
        assert_eq!(status, 413, "{kb} KB: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&gateway::jobs::submit::MAX_JOB_RECORD_BYTES.to_string()),
            "{body}"
        );
    }
    let (event, _) = flow.poll_once().await;
    assert!(event.records.is_empty(), "nothing queued");
    let (status, body) = flow
        .submit(&converse_job(&"x".repeat(150 * 1024)), None)
        .await;
    assert_eq!(status, 202, "{body}");
}

/// Random letters and digits: gzip cannot shrink them much.
fn noise(chars: usize) -> String {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..chars).map(|_| rng.alphanumeric()).collect()
}

async fn wait_terminal(flow: &Flow, job_id: &str) -> JobRecord {
    for _ in 0..20 {
        flow.poll_once().await;
        let job = job_record(flow, job_id).await;
        if job.status.is_terminal() {
            return job;
        }
        sleep(500).await;
    }
    panic!(
        "job {job_id} did not finish: {:?}",
        job_record(flow, job_id).await.status
    );
}

#[tokio::test]
async fn attack_a_result_too_large_to_store_fails_the_job_once_without_billing_again() {
    let flow = flow().await;
    // Accepted (under the record limit), but the answer (echoed by the simulator) is ~190 KB
    // of noise, twice in the result: too large for the record even compressed.
    let prompt = format!("reply with: {}", noise(185 * 1024));
    let (status, body) = flow.submit(&converse_job(&prompt), None).await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap();
    let job = wait_terminal(&flow, job_id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_ref().unwrap().code, "result_too_large");
    // Redeliveries and time change nothing: the model was called once.
    sleep(1_500).await;
    flow.drain().await;
    assert_eq!(flow.sim.calls(HAIKU), 1);
    assert!(flow.dlq_bodies().await.is_empty());
}

/// Finding 1 through a job: a key allowed only `haiku` cannot have a job call Sonnet. The
/// submit is refused with 403 naming the model and nothing is queued; the record of an
/// admitted job carries the key's allow-list, which the worker hands to the call path, so
/// the model the route finally chooses is checked again when the job runs.
#[tokio::test]
async fn a_job_cannot_reach_a_model_outside_its_submitters_allow_list() {
    let flow = flow_with_controls(json!({})).await;
    let key = flow
        .api_key("acme", |k| k.allowed_models = vec!["haiku".into()])
        .await;
    let job = json!({"converse": {"modelId": "sonnet",
        "messages": [{"role": "user", "content": [{"text": "hi"}]}]}});
    let (status, body) = flow.submit_as(Some(&key.api_key), &job, None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("sonnet"), "{body}");
    let (status, body) = flow
        .submit_as(Some(&key.api_key), &converse_job("hello"), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["job_id"].as_str().unwrap().to_owned();
    let record = flow.worker.store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.allowed_models, ["haiku".to_owned()]);
    flow.drain().await;
    let done = flow.job_as(Some(&key.api_key), &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(
        flow.sim.calls(gateway::config::SONNET),
        0,
        "Sonnet was never called"
    );
}
