//! The webhook function on the emulator: real DynamoDB (state + jobs tables) and SQS clients
//! against moto, the router driven in-process. Signatures in these tests are computed with the
//! `hmac` crate directly, independently of the gateway's signing code.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gateway::config::GatewayConfig;
use gateway::controls::Controller;
use gateway::jobs::submit::JobSettings;
use gateway::webhook::CallbackPolicy;
use gateway_aws::control_store::DynamoControlStore;
use gateway_aws::jobs::{DynamoJobStore, SqsJobQueue};
use hmac::{Hmac, Mac};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::Sha256;
use testkit::{moto, resources, unique_name};
use tower::ServiceExt;
use webhook::config::WebhookConfig;
use webhook::dedupe::DedupeStore;
use webhook::{AppState, router};

/// The Standard Webhooks specification's example secret: the sender's current secret.
pub const TICKETS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The secret before the rotation; senders may still sign with it.
pub const TICKETS_OLD_SECRET: &str = "whsec_YW4tb2xkZXItdGlja2V0cy1zZWNyZXQta2V5LTMyYnk=";
/// GitHub's documentation example secret.
pub const GITHUB_SECRET: &str = "It's a Secret to Everybody";
pub const GENERIC_SECRET: &str = "generic-shared-secret";
/// The time the committed sample events were signed at (epoch seconds).
pub const EVENT_TIME: u64 = 1_795_600_000;

pub fn webhook_config_json() -> String {
    json!({
        "sources": {
            "tickets": {
                "signature": {"scheme": "standard", "secrets": ["env:TICKETS_SECRET", "env:TICKETS_OLD_SECRET"]},
                "model": "haiku",
                "system": "You triage support tickets.",
                "prompt": "Ticket {{/ticket/id}}: {{/ticket/title}}\n\n{{/ticket/body?}}",
                "inference_config": {"maxTokens": 256},
                "callback": {"pointer": "/callback_url"},
                "callback_hosts": ["127.0.0.1", "hooks.example.com"],
                "metadata": {"ticket_id": "/ticket/id", "event": "/type"}
            },
            "github": {
                "signature": {"scheme": "github", "secret": "env:GITHUB_SECRET"},
                "model": "sonnet",
                "prompt": "Triage issue #{{/issue/number}} in {{/repository/full_name}}: {{/issue/title}}",
                "tenant": "octo-org"
            },
            "generic": {
                "signature": {"scheme": "hmac", "header": "x-signature", "secret": "env:GENERIC_SECRET",
                              "prefix": "sha256=", "id_header": "x-delivery-id"},
                "model": "haiku",
                "prompt": "{{}}",
                "callback": {"url": "https://hooks.example.com/results"},
                "callback_hosts": ["hooks.example.com"],
                "max_body_bytes": 1024
            }
        }
    })
    .to_string()
}

pub fn secrets(var: &str) -> Option<String> {
    match var {
        "TICKETS_SECRET" => Some(TICKETS_SECRET.to_owned()),
        "TICKETS_OLD_SECRET" => Some(TICKETS_OLD_SECRET.to_owned()),
        "GITHUB_SECRET" => Some(GITHUB_SECRET.to_owned()),
        "GENERIC_SECRET" => Some(GENERIC_SECRET.to_owned()),
        _ => None,
    }
}

/// The function's state on fresh tables and a fresh queue, with a settable clock.
pub struct Hooks {
    pub router: axum::Router,
    pub state: Arc<AppState>,
    pub now_ms: Arc<AtomicU64>,
    pub jobs: DynamoJobStore,
    pub jobs_table: String,
    pub queue_url: String,
    pub state_table: String,
}

pub async fn hooks() -> Hooks {
    hooks_with(&webhook_config_json()).await
}

/// The state table's control store (keys, tenants, counters) of `hooks`.
pub fn control_store(state_table: &str) -> DynamoControlStore {
    DynamoControlStore::new(
        moto().dynamodb(),
        state_table,
        &GatewayConfig::default().controls.cache,
    )
}

/// With a `WEBHOOK_CONFIG` of the test's own.
pub async fn hooks_with(config_json: &str) -> Hooks {
    let ddb = moto().dynamodb();
    let sqs = moto().sqs();
    let jobs_table = unique_name("jobs");
    let state_table = unique_name("state");
    resources::create_table(&ddb, &jobs_table, false, false).await;
    resources::create_table(&ddb, &state_table, true, false).await;
    let queue = resources::create_queue(&sqs, &unique_name("jobs-q"), None, 30).await;

    let policy = CallbackPolicy {
        allow_http: true,
        allow_private: true,
        allowed_hosts: None,
    };
    let webhooks = WebhookConfig::parse(config_json, &secrets, &GatewayConfig::default(), &policy)
        .expect("test WEBHOOK_CONFIG");
    let now_ms = Arc::new(AtomicU64::new(EVENT_TIME * 1000));
    let clock = now_ms.clone();
    let state = Arc::new(AppState {
        webhooks,
        gateway: GatewayConfig::default(),
        callback_policy: policy,
        jobs: DynamoJobStore::new(ddb.clone(), &jobs_table),
        queue: SqsJobQueue::new(sqs, &queue.url),
        job_settings: JobSettings::default(),
        dedupe: DedupeStore::new(ddb.clone(), &state_table),
        controls: Controller::new(
            &GatewayConfig::default(),
            control_store(&state_table),
            Vec::new(),
            Some("us-east-1".to_owned()),
        )
        .expect("controller"),
        clock: Arc::new(move || clock.load(Ordering::SeqCst)),
    });
    Hooks {
        router: router(state.clone()),
        state,
        now_ms,
        jobs: DynamoJobStore::new(ddb, &jobs_table),
        jobs_table,
        queue_url: queue.url,
        state_table,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub json: Value,
}

impl Hooks {
    pub fn set_now_secs(&self, secs: u64) {
        self.now_ms.store(secs * 1000, Ordering::SeqCst);
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("router");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Reply {
            status,
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    pub async fn post(&self, source: &str, headers: &[(&str, String)], body: &str) -> Reply {
        let mut request =
            Request::post(format!("/webhooks/{source}")).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.send(request.body(Body::from(body.to_owned())).expect("request"))
            .await
    }

    /// Every message on the jobs queue (received and deleted).
    pub async fn queued(&self) -> Vec<Value> {
        let sqs = moto().sqs();
        let mut all = Vec::new();
        loop {
            let output = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            if output.messages().is_empty() {
                return all;
            }
            for message in output.messages() {
                all.push(
                    serde_json::from_str(message.body().unwrap_or("null")).expect("JSON body"),
                );
                sqs.delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    /// How many job records the table holds.
    pub async fn job_count(&self) -> usize {
        moto()
            .dynamodb()
            .scan()
            .table_name(&self.jobs_table)
            .send()
            .await
            .expect("scan")
            .items()
            .len()
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("key");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// `v1,<base64 HMAC-SHA256(base64-decoded secret, "{id}.{timestamp}.{body}")>`.
pub fn standard_signature(secret: &str, id: &str, timestamp: u64, body: &str) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("whsec secret");
    let tag = hmac_sha256(
        &key,
        &[
            id.as_bytes(),
            b".",
            timestamp.to_string().as_bytes(),
            b".",
            body.as_bytes(),
        ],
    );
    format!("v1,{}", STANDARD.encode(tag))
}

pub fn standard_headers(
    secret: &str,
    id: &str,
    timestamp: u64,
    body: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            standard_signature(secret, id, timestamp, body),
        ),
    ]
}

/// `sha256=<hex HMAC-SHA256(secret, body)>` (GitHub, and our generic source's format).
pub fn hex_signature(secret: &str, body: &str) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &[body.as_bytes()]))
    )
}

pub fn ticket(id: &str, callback: &str) -> String {
    json!({
        "type": "ticket.created",
        "ticket": {"id": id, "title": "Printer on fire", "body": "Smoke on floor 3."},
        "callback_url": callback,
    })
    .to_string()
}
