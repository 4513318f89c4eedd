//! Issue 6's callback promises end to end on the emulator: a signed webhook comes in, becomes
//! a job, the worker runs it on the Bedrock simulator and POSTs the result to a receiver on
//! 127.0.0.1 that verifies our signature with its own HMAC code (the `hmac` crate, not the
//! gateway's signer). Retries are SQS-delayed messages on the jobs queue (1 s schedule here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::serve::ListenerExt;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bedrock_sim::{SimHandle, expected_reply};
use bytes::Bytes;
use event_source_emulator::sqs::SqsPoller;
use gateway::config::GatewayConfig;
use gateway::jobs::callback::{CallbackSecrets, CallbackSettings, RetrySchedule};
use gateway::jobs::processor::ProcessorSettings;
use gateway::jobs::submit::JobSettings;
use gateway::jobs::{AttemptOutcome, CallbackState, JobRecord, JobStore};
use gateway::service::Gateway;
use gateway::webhook::CallbackPolicy;
use gateway_aws::bedrock::BedrockModelClient;
use gateway_aws::callback::HttpCallbackSender;
use gateway_aws::jobs::{DynamoJobStore, SnsJobNotifier, SqsJobQueue};
use hmac::{Hmac, Mac};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::Sha256;
use testkit::{moto, resources, unique_name};
use tower::ServiceExt;
use worker::{Callbacks, MeteredJobRunner, Worker};

/// What the ticket system signs its webhooks with.
const INBOUND_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// What the GitHub-style source signs with.
const GITHUB_SECRET: &str = "github-style-shared-secret";
/// What we sign callbacks with; the receiver knows it.
const CALLBACK_SECRET: &str = "whsec_Y2FsbGJhY2stc2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz";

// ---------------------------------------------------------------- the receiver

/// One callback as the receiver saw it.
#[derive(Debug, Clone)]
struct Hit {
    headers: HeaderMap,
    body: Bytes,
    /// Verified by [`verify_independently`].
    verified: bool,
}

#[derive(Clone)]
struct ReceiverState {
    script: Arc<Mutex<VecDeque<u16>>>,
    otherwise: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
}

/// A tiny HTTP server on 127.0.0.1 that answers from a script of status codes (then
/// `otherwise`), verifies every delivery's signature itself and counts TCP connections.
struct Receiver {
    addr: SocketAddr,
    state: ReceiverState,
    connections: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(script: &[u16], otherwise: u16) -> Self {
        let state = ReceiverState {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            otherwise,
            hits: Arc::default(),
        };
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = listener.tap_io(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            state,
            connections,
        }
    }

    fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/hooks/results?token=r3ceiver",
            self.addr.port()
        )
    }

    fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let verified = verify_independently(&headers, &body);
    state.hits.lock().unwrap().push(Hit {
        headers,
        body,
        verified,
    });
    let status = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(state.otherwise);
    StatusCode::from_u16(status).unwrap()
}

/// A receiver's own Standard Webhooks check: HMAC-SHA256 with the base64-decoded secret over
/// `{webhook-id}.{webhook-timestamp}.{body}`, any `v1,` entry matching, timestamp within 5 min.
fn verify_independently(headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signatures) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let Ok(sent_at) = timestamp.parse::<u64>() else {
        return false;
    };
    if now_secs().abs_diff(sent_at) > 300 {
        return false;
    }
    let key = derived_key(CALLBACK_SECRET, b"source\0tickets");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signatures.split(' ').any(|candidate| candidate == expected)
}

/// The documented derivation of a tenant's or source's callback secret, computed here
/// independently: `HMAC-SHA256(master key, "gateway-callback-v1\0" + kind + "\0" + name)`.
pub(crate) fn derived_key(master: &str, kind_and_name: &[u8]) -> Vec<u8> {
    let master = STANDARD
        .decode(master.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&master).unwrap();
    mac.update(b"gateway-callback-v1\0");
    mac.update(kind_and_name);
    mac.finalize().into_bytes().to_vec()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------- the flow

struct Flow {
    sim: SimHandle,
    webhook: axum::Router,
    worker: Worker<BedrockModelClient>,
    callbacks: Callbacks,
    poller: SqsPoller,
    store: DynamoJobStore,
    dlq_url: String,
    alerts_url: String,
}

struct Options {
    schedule: &'static str,
    /// The worker's policy; the webhook intake always allows loopback http here.
    worker_allows_private: bool,
    /// `JOBS_DLQ_URL` set (else the redrive policy dead-letters given-up callbacks).
    explicit_dlq: bool,
}

async fn flow(options: Options) -> Flow {
    let sim = testkit::bedrock_sim().await;
    let (ddb, sqs, sns) = (moto().dynamodb(), moto().sqs(), moto().sns());
    let (jobs_table, state_table) = (unique_name("jobs"), unique_name("state"));
    resources::create_table(&ddb, &jobs_table, false, false).await;
    resources::create_table(&ddb, &state_table, true, false).await;
    let queue = resources::create_queue(&sqs, &unique_name("jobs-q"), Some(3), 2).await;
    let topic = resources::create_topic(&sns, &unique_name("jobs-topic")).await;
    let alerts_topic = resources::create_topic(&sns, &unique_name("alerts")).await;
    let alerts = resources::create_queue(&sqs, &unique_name("alerts-q"), None, 30).await;
    resources::subscribe_queue(&sns, &alerts_topic, &alerts.arn, false).await;

    let lenient = CallbackPolicy {
        allow_http: true,
        allow_private: true,
        allowed_hosts: None,
    };
    let config = json!({"sources": {"tickets": {
        "signature": {"scheme": "standard", "secret": INBOUND_SECRET},
        "model": "haiku",
        "prompt": "Triage ticket {{/ticket/id}}: {{/ticket/title}}",
        "callback": {"pointer": "/callback_url"},
        "callback_hosts": ["127.0.0.1"],
        "metadata": {"ticket_id": "/ticket/id"}
    }, "ghtickets": {
        "signature": {"scheme": "github", "secret": GITHUB_SECRET},
        "model": "haiku",
        "prompt": "Triage ticket {{/ticket/id}}: {{/ticket/title}}",
        "callback": {"pointer": "/callback_url"},
        "callback_hosts": ["127.0.0.1"],
        "metadata": {"ticket_id": "/ticket/id"}
    }}})
    .to_string();
    let webhooks = webhook::config::WebhookConfig::parse(
        &config,
        &|_| None,
        &GatewayConfig::default(),
        &lenient,
    )
    .unwrap();
    let state = Arc::new(webhook::AppState {
        webhooks,
        gateway: GatewayConfig::default(),
        callback_policy: lenient,
        jobs: DynamoJobStore::new(ddb.clone(), &jobs_table),
        queue: SqsJobQueue::new(sqs.clone(), &queue.url),
        job_settings: JobSettings::default(),
        dedupe: webhook::dedupe::DedupeStore::new(ddb.clone(), &state_table),
        controls: gateway::controls::Controller::new(
            &GatewayConfig::default(),
            gateway_aws::control_store::DynamoControlStore::new(
                ddb.clone(),
                &state_table,
                &GatewayConfig::default().controls.cache,
            ),
            Vec::new(),
            None,
        )
        .unwrap(),
        clock: webhook::state::system_clock(),
    });

    let bedrock = testkit::local_sdk_config(&sim.endpoint_url());
    let worker = Worker {
        store: DynamoJobStore::new(ddb.clone(), &jobs_table),
        notifier: SnsJobNotifier::new(sns.clone(), &topic),
        runner: MeteredJobRunner(Gateway::new(
            GatewayConfig::default(),
            BedrockModelClient::from_sdk_config(&bedrock, &[]),
            gateway_aws::resilience_store::local_parts(&GatewayConfig::default()),
        )),
        settings: ProcessorSettings {
            max_receive_count: 3,
            ..ProcessorSettings::default()
        },
        concurrency: 4,
        pricing: None,
        charges: None,
        intake: None,
        events: None,
        redelivery: None,
        outputs: None,
    };
    let mut settings =
        CallbackSettings::new(CallbackSecrets::parse(CALLBACK_SECRET, None).unwrap());
    settings.schedule = RetrySchedule::parse(options.schedule).unwrap();
    settings.allow_http = true;
    settings.allow_private = options.worker_allows_private;
    let dlq_url = queue.dlq_url.clone().unwrap();
    let callbacks = Callbacks {
        queue: SqsJobQueue::new(sqs.clone(), &queue.url),
        dead_letters: options
            .explicit_dlq
            .then(|| SqsJobQueue::new(sqs.clone(), &dlq_url)),
        alerts: SnsJobNotifier::new(sns, &alerts_topic),
        sender: HttpCallbackSender::new().with_timeout(Duration::from_secs(5)),
        settings,
    };
    Flow {
        sim,
        webhook: webhook::router(state),
        worker,
        callbacks,
        poller: SqsPoller::new(sqs, &queue.url, &queue.arn),
        store: DynamoJobStore::new(ddb, &jobs_table),
        dlq_url,
        alerts_url: alerts.url,
    }
}

impl Flow {
    /// The ticket system sends a signed `ticket.created` webhook; returns the job id.
    async fn ticket_created(&self, ticket: &str, callback_url: &str) -> String {
        let body =
            json!({"type": "ticket.created", "ticket": {"id": ticket, "title": "Printer on fire"},
                          "callback_url": callback_url})
            .to_string();
        let (id, timestamp) = (format!("msg_{ticket}"), now_secs());
        let key = STANDARD
            .decode(INBOUND_SECRET.trim_start_matches("whsec_"))
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
        let signature = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        let request = Request::post("/webhooks/tickets")
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(Body::from(body))
            .unwrap();
        let started = Instant::now();
        let response = self.webhook.clone().oneshot(request).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the sender waits for the 202, not for the model"
        );
        let status = response.status();
        let reply: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                .unwrap();
        assert_eq!(status, 202, "{reply}");
        reply["job_id"].as_str().unwrap().to_owned()
    }

    /// One poll of the jobs queue, as Lambda's event source mapping would.
    async fn poll_once(&self) -> usize {
        let event = self.poller.receive().await.unwrap();
        let records = event.records.len();
        let response = self
            .worker
            .handle_with(event.clone(), Some(&self.callbacks))
            .await;
        self.poller.settle(&event, &response).await.unwrap();
        records
    }

    async fn job(&self, job_id: &str) -> JobRecord {
        self.store.get(job_id).await.unwrap().unwrap()
    }

    /// Polls until the job's callback reaches a final state (bounded).
    async fn until_callback_final(&self, job_id: &str) -> JobRecord {
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            self.poll_once().await;
            let job = self.job(job_id).await;
            if job.callback_state.is_some_and(CallbackState::is_final) {
                return job;
            }
        }
        panic!(
            "callback of {job_id} did not finish: {:?}",
            self.job(job_id).await
        );
    }

    /// Polls for a while more, returning how many records came through.
    async fn keep_polling(&self, duration: Duration) -> usize {
        let deadline = Instant::now() + duration;
        let mut records = 0;
        while Instant::now() < deadline {
            records += self.poll_once().await;
        }
        records
    }

    async fn drain_queue(&self, url: &str) -> Vec<Value> {
        let output = moto()
            .sqs()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        output
            .messages()
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
            .collect()
    }
}

fn statuses(job: &JobRecord) -> Vec<Option<u16>> {
    job.callback_attempts.iter().map(|a| a.status).collect()
}

// ---------------------------------------------------------------- the promises

#[tokio::test]
async fn webhook_in_job_through_the_simulator_and_a_signed_callback_out() {
    let receiver = Receiver::start(&[], 200).await;
    let flow = flow(Options {
        schedule: "1s,1s",
        worker_allows_private: true,
        explicit_dlq: true,
    })
    .await;
    let job_id = flow.ticket_created("T-100", &receiver.url()).await;

    let job = flow.until_callback_final(&job_id).await;
    assert_eq!(job.callback_state, Some(CallbackState::Delivered));
    assert_eq!(statuses(&job), [Some(200)]);
    assert_eq!(flow.sim.calls(gateway::config::HAIKU), 1);

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert!(
        hit.verified,
        "the receiver could not verify our signature: {:?}",
        hit.headers
    );
    assert_eq!(hit.headers["webhook-id"], job_id.as_str());
    assert_eq!(hit.headers["content-type"], "application/json");
    let callback: Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(callback["type"], "job.succeeded");
    assert_eq!(callback["data"]["job_id"], job_id);
    assert_eq!(callback["data"]["status"], "SUCCEEDED");
    assert_eq!(
        callback["data"]["result"]["text"],
        expected_reply("Triage ticket T-100: Printer on fire")
    );
    assert_eq!(callback["data"]["metadata"]["ticket_id"], "T-100");

    // Nothing more happens: no second delivery, nothing dead-lettered or alerted.
    flow.keep_polling(Duration::from_secs(2)).await;
    assert_eq!(receiver.hits().len(), 1);
    assert!(flow.drain_queue(&flow.dlq_url).await.is_empty());
    assert!(flow.drain_queue(&flow.alerts_url).await.is_empty());
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_result_on_the_third_attempt() {
    let receiver = Receiver::start(&[500, 500], 200).await;
    let flow = flow(Options {
        schedule: "1s,1s,1s",
        worker_allows_private: true,
        explicit_dlq: true,
    })
    .await;
    let job_id = flow.ticket_created("T-200", &receiver.url()).await;

    let job = flow.until_callback_final(&job_id).await;
    assert_eq!(job.callback_state, Some(CallbackState::Delivered));
    assert_eq!(statuses(&job), [Some(500), Some(500), Some(200)]);
    let outcomes: Vec<_> = job.callback_attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [
            AttemptOutcome::Retryable,
            AttemptOutcome::Retryable,
            AttemptOutcome::Delivered
        ]
    );
    for pair in job.callback_attempts.windows(2) {
        // SQS delayed the next attempt; nobody slept in the function.
        assert!(pair[1].at_ms >= pair[0].at_ms + 900, "{pair:?}");
        assert_eq!(
            pair[0].retry_at_ms.map(|due| due <= pair[1].at_ms + 1000),
            Some(true),
            "{pair:?}"
        );
    }

    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h.verified));
    // Same webhook-id and body on every attempt, so the receiver can dedupe.
    assert!(
        hits.iter()
            .all(|h| h.headers["webhook-id"] == job_id.as_str() && h.body == hits[0].body)
    );

    // The owner sees the attempts through GET /v1/jobs/{id} as well.
    let view = job.public_view();
    assert_eq!(view["callback"]["state"], "DELIVERED");
    assert_eq!(view["callback"]["attempts"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn gone_stops_the_retries() {
    let receiver = Receiver::start(&[410], 200).await;
    let flow = flow(Options {
        schedule: "1s,1s",
        worker_allows_private: true,
        explicit_dlq: true,
    })
    .await;
    let job_id = flow.ticket_created("T-300", &receiver.url()).await;

    let job = flow.until_callback_final(&job_id).await;
    assert_eq!(job.callback_state, Some(CallbackState::Gone));
    assert_eq!(statuses(&job), [Some(410)]);
    // Longer than the whole schedule: no further attempt, no dead letter, no alert.
    flow.keep_polling(Duration::from_secs(4)).await;
    assert_eq!(receiver.hits().len(), 1);
    assert_eq!(flow.job(&job_id).await.callback_attempts.len(), 1);
    assert!(flow.drain_queue(&flow.dlq_url).await.is_empty());
    assert!(flow.drain_queue(&flow.alerts_url).await.is_empty());
}

#[tokio::test]
async fn the_last_failure_is_dead_lettered_and_alerted() {
    let receiver = Receiver::start(&[], 503).await;
    let flow = flow(Options {
        schedule: "1s",
        worker_allows_private: true,
        explicit_dlq: true,
    })
    .await;
    let job_id = flow.ticket_created("T-400", &receiver.url()).await;

    let job = flow.until_callback_final(&job_id).await;
    assert_eq!(job.callback_state, Some(CallbackState::Failed));
    assert_eq!(statuses(&job), [Some(503), Some(503)]);
    assert_eq!(receiver.hits().len(), 2);

    let dead = flow.drain_queue(&flow.dlq_url).await;
    assert_eq!(
        dead,
        vec![
            json!({"job_id": job_id, "tenant": "webhook:tickets", "kind": "callback", "attempt": 2,
                                 "not_before_ms": job.callback_attempts[0].retry_at_ms})
        ]
    );
    let alerts = flow.drain_queue(&flow.alerts_url).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0]["MessageAttributes"]["event"]["Value"],
        "callback_failed"
    );
    let alert: Value = serde_json::from_str(alerts[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        alert,
        json!({"job_id": job_id, "tenant": "webhook:tickets", "host": "127.0.0.1", "attempts": 2,
                             "last_status": 503})
    );
    assert!(
        !alerts[0].to_string().contains("r3ceiver"),
        "the URL's token is not in the alert"
    );
}

#[tokio::test]
async fn a_private_callback_is_refused_at_delivery_without_a_connection() {
    // The intake allowed a loopback URL, the deployed worker policy does not: defence in depth.
    let receiver = Receiver::start(&[], 200).await;
    let flow = flow(Options {
        schedule: "1s,1s",
        worker_allows_private: false,
        explicit_dlq: true,
    })
    .await;
    let job_id = flow.ticket_created("T-500", &receiver.url()).await;

    let job = flow.until_callback_final(&job_id).await;
    assert_eq!(job.callback_state, Some(CallbackState::Failed));
    assert_eq!(
        job.callback_attempts.len(),
        1,
        "a refused URL is not retried"
    );
    assert_eq!(job.callback_attempts[0].outcome, AttemptOutcome::Permanent);
    assert!(
        job.callback_attempts[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("callback_forbidden_address")
    );
    assert_eq!(receiver.connections.load(Ordering::SeqCst), 0);
    assert_eq!(flow.drain_queue(&flow.dlq_url).await.len(), 1);
    assert_eq!(flow.drain_queue(&flow.alerts_url).await.len(), 1);
}

#[tokio::test]
async fn a_duplicated_attempt_message_does_not_post_twice() {
    let receiver = Receiver::start(&[], 200).await;
    let flow = flow(Options {
        schedule: "1s",
        worker_allows_private: true,
        explicit_dlq: true,
    })
    .await;
    let job_id = flow.ticket_created("T-600", &receiver.url()).await;
    // Run the job only (no callback delivery yet): its first attempt is now queued.
    let event = flow.poller.receive().await.unwrap();
    let response = flow
        .worker
        .handle_with(event.clone(), Some(&flow.callbacks))
        .await;
    flow.poller.settle(&event, &response).await.unwrap();
    // At-least-once: the attempt-1 message handed to two invocations at once.
    let event = flow.poller.receive().await.unwrap();
    assert_eq!(
        event.records.len(),
        1,
        "the first callback attempt was queued"
    );
    let (a, b) = tokio::join!(
        flow.worker
            .handle_with(event.clone(), Some(&flow.callbacks)),
        flow.worker
            .handle_with(event.clone(), Some(&flow.callbacks)),
    );
    let again = flow
        .worker
        .handle_with(event.clone(), Some(&flow.callbacks))
        .await;
    assert!(a.batch_item_failures.len() + b.batch_item_failures.len() <= 1);
    assert!(again.batch_item_failures.is_empty());
    flow.poller.settle(&event, &again).await.unwrap();

    assert_eq!(receiver.hits().len(), 1, "one POST");
    let job = flow.job(&job_id).await;
    assert_eq!(
        (job.callback_state, job.callback_attempts.len()),
        (Some(CallbackState::Delivered), 1)
    );
}

#[tokio::test]
async fn without_a_dlq_url_the_redrive_policy_dead_letters_the_last_attempt() {
    let receiver = Receiver::start(&[], 500).await;
    let flow = flow(Options {
        schedule: "",
        worker_allows_private: true,
        explicit_dlq: false,
    })
    .await;
    let job_id = flow.ticket_created("T-700", &receiver.url()).await;
    let job = flow.until_callback_final(&job_id).await;
    assert_eq!(job.callback_state, Some(CallbackState::Failed));
    assert_eq!(flow.drain_queue(&flow.alerts_url).await.len(), 1);
    // maxReceiveCount (3) deliveries of the last message, 2 s visibility apart, then the
    // queue's redrive policy moves it: no further POST meanwhile.
    flow.keep_polling(Duration::from_secs(12)).await;
    let dead = flow.drain_queue(&flow.dlq_url).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (dead[0]["kind"].as_str(), dead[0]["attempt"].as_u64()),
        (Some("callback"), Some(1))
    );
    assert_eq!(receiver.hits().len(), 1);
}

#[tokio::test]
async fn attack_one_signed_github_body_under_four_delivery_ids_is_one_model_call_and_one_callback()
{
    let receiver = Receiver::start(&[], 200).await;
    let flow = flow(Options {
        schedule: "1s",
        worker_allows_private: true,
        explicit_dlq: true,
    })
    .await;
    let body = json!({"ticket": {"id": "T-900", "title": "APPROVED: refund 5000 USD"},
                      "callback_url": receiver.url()})
    .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let tag: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let signature = format!("sha256={tag}");
    let mut job_ids = Vec::new();
    // The captured delivery, then three replays under delivery ids the signature never covered.
    for id in ["d-1", "d-2", "d-3", "d-4"] {
        let request = Request::post("/webhooks/ghtickets")
            .header("content-type", "application/json")
            .header("x-github-delivery", id)
            .header("x-hub-signature-256", &signature)
            .body(Body::from(body.clone()))
            .unwrap();
        let response = flow.webhook.clone().oneshot(request).await.unwrap();
        assert!(
            response.status().is_success(),
            "{id}: {}",
            response.status()
        );
        let reply: Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                .unwrap();
        job_ids.push(reply["job_id"].as_str().unwrap().to_owned());
    }
    assert!(job_ids.iter().all(|id| *id == job_ids[0]), "{job_ids:?}");
    let job = flow.until_callback_final(&job_ids[0]).await;
    assert_eq!(job.callback_state, Some(CallbackState::Delivered));
    flow.keep_polling(Duration::from_secs(2)).await;
    assert_eq!(flow.sim.calls(gateway::config::HAIKU), 1, "one model call");
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "one callback");
    // Signed with the source's own derived secret; its body says where it came from.
    let key = derived_key(CALLBACK_SECRET, b"source\0ghtickets");
    let header = |name: &str| hits[0].headers[name].to_str().unwrap().to_owned();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", header("webhook-id"), header("webhook-timestamp")).as_bytes());
    mac.update(&hits[0].body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert!(
        header("webhook-signature")
            .split(' ')
            .any(|s| s == expected)
    );
    let callback: Value = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(callback["data"]["origin"], "webhook:ghtickets");
    assert_eq!(callback["data"]["tenant"], "webhook:ghtickets");
}
