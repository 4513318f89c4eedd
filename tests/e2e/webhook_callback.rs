//! The webhook function: a signed delivery becomes a job with a callback; the worker runs it
//! and POSTs the result, signed, to a receiver this test runs.

use crate::common::{eventually, http, json, stack};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::{HeaderMap, StatusCode};
use local_stack::local_defaults::{DEMO_CALLBACK_SECRET, DEMO_WEBHOOK_SECRET};
use serde_json::Value;
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receive(State(received): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    received.lock().expect("lock").push((headers, body));
    StatusCode::NO_CONTENT
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[tokio::test]
async fn a_signed_webhook_becomes_a_job_whose_result_is_called_back() {
    let stack = stack().require(&["WebhookFunction", "WorkerFunction"]);
    let webhook_url = stack
        .webhook_url
        .as_deref()
        .expect("the webhook function is hosted");

    // The application that receives callbacks.
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let receiver = format!("http://{}/results", listener.local_addr().expect("address"));
    let app = Router::new()
        .route("/results", post(receive))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The sender: the offline run's demo source, signed as GitHub signs.
    let body = serde_json::json!({
        "ticket": {"id": "T-42", "title": "Printer on fire", "body": "Smoke on floor 3."},
        "callback_url": receiver,
    })
    .to_string();
    let signature = hex::encode(hmac_sha256(DEMO_WEBHOOK_SECRET.as_bytes(), body.as_bytes()));
    let delivery = uuid::Uuid::new_v4().to_string();
    let (status, accepted) = json(
        http()
            .post(format!("{webhook_url}/webhooks/demo"))
            .header("content-type", "application/json")
            .header("x-github-delivery", &delivery)
            .header("x-hub-signature-256", format!("sha256={signature}"))
            .body(body)
            .send()
            .await
            .expect("POST /webhooks/demo"),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let job_id = accepted["job_id"].as_str().expect("job_id").to_owned();

    let (headers, body) = eventually("the callback", Duration::from_secs(60), || async {
        received.lock().expect("lock").first().cloned()
    })
    .await;
    let callback: Value = serde_json::from_slice(&body).expect("callback JSON");
    assert_eq!(callback["type"], "job.succeeded", "{callback}");
    assert_eq!(callback["data"]["job_id"], job_id.as_str());
    assert_eq!(callback["data"]["metadata"]["ticket_id"], "T-42");
    assert!(
        callback["data"]["result"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{callback}"
    );

    // Signed with the source's derived secret (Standard Webhooks), checked here independently.
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("webhook-id"), job_id);
    // The demo source's own secret, derived from the master as `gatewayctl callbacks secret
    // --source demo` derives it.
    let master = STANDARD
        .decode(DEMO_CALLBACK_SECRET.trim_start_matches("whsec_"))
        .expect("whsec secret");
    let key = hmac_sha256(&master, b"gateway-callback-v1\0source\0demo");
    let signed = [
        header("webhook-id").as_bytes(),
        b".",
        header("webhook-timestamp").as_bytes(),
        b".",
        &body,
    ]
    .concat();
    let expected = format!("v1,{}", STANDARD.encode(hmac_sha256(&key, &signed)));
    assert!(
        header("webhook-signature")
            .split(' ')
            .any(|s| s == expected),
        "signature {} is not {expected}",
        header("webhook-signature")
    );
}
