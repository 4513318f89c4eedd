//! The async flow wired end to end on the emulator: API router (submit/poll) → SQS → worker →
//! DynamoDB → SNS → a subscribed queue. Real SDK clients everywhere; Bedrock is the simulator.
#![allow(dead_code)]

pub mod calls;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use bedrock_sim::SimHandle;
use event_source_emulator::sqs::SqsPoller;
use gateway::config::GatewayConfig;
use gateway::controls::Controller;
use gateway::controls::keys::{self, IssuedKey, KeyRecord};
use gateway::controls::pricing::Pricing;
use gateway::jobs::processor::ProcessorSettings;
use gateway::jobs::submit::JobSettings;
use gateway::service::Gateway;
use gateway::webhook::CallbackPolicy;
use gateway_aws::bedrock::BedrockModelClient;
use gateway_aws::control_store::DynamoControlStore;
use gateway_aws::jobs::{DynamoJobStore, SnsJobNotifier, SqsJobQueue};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use testkit::{moto, resources, unique_name};
use tower::ServiceExt;
use worker::{MeteredJobRunner, Worker};

pub const HAIKU: &str = gateway::config::HAIKU;
pub const MAX_RECEIVE_COUNT: u32 = 3;

pub struct Flow {
    pub sim: SimHandle,
    pub router: axum::Router,
    pub worker: Worker<BedrockModelClient>,
    pub jobs_poller: SqsPoller,
    /// The queue only the bus's request rule sends to (set by the producer flow), polled
    /// after the jobs queue by `poll_once`.
    pub events_poller: Option<SqsPoller>,
    pub dlq_url: String,
    pub notifications_url: String,
    pub topic_arn: String,
    pub jobs_table: String,
    pub jobs_queue_url: String,
    /// The state table's store when the flow has controls on.
    pub controls: Option<DynamoControlStore>,
}

pub async fn flow() -> Flow {
    flow_with(ProcessorSettings {
        max_receive_count: MAX_RECEIVE_COUNT,
        ..ProcessorSettings::default()
    })
    .await
}

pub async fn flow_with(settings: ProcessorSettings) -> Flow {
    build(settings, None, lenient_callbacks()).await
}

/// Receivers in these tests listen on loopback over plain HTTP.
pub fn lenient_callbacks() -> CallbackPolicy {
    CallbackPolicy {
        allow_http: true,
        allow_private: true,
        allowed_hosts: None,
    }
}

/// Controls on, and the API checking callback URLs under `policy` (the deployment's).
pub async fn flow_with_callback_policy(controls: Value, policy: CallbackPolicy) -> Flow {
    let settings = ProcessorSettings {
        max_receive_count: MAX_RECEIVE_COUNT,
        ..ProcessorSettings::default()
    };
    build(settings, Some(controls), policy).await
}

/// With the gateway controls on (`controls` merged over `auth.mode: api_keys`): the API
/// admits each job against its key's limits and budgets, the worker settles it, both over a
/// state table of the flow's own (`Flow::controls`).
pub async fn flow_with_controls(controls: Value) -> Flow {
    let settings = ProcessorSettings {
        max_receive_count: MAX_RECEIVE_COUNT,
        ..ProcessorSettings::default()
    };
    build(settings, Some(controls), lenient_callbacks()).await
}

async fn build(
    settings: ProcessorSettings,
    controls: Option<Value>,
    callback_policy: CallbackPolicy,
) -> Flow {
    let sim = testkit::bedrock_sim().await;
    let ddb = moto().dynamodb();
    let sqs = moto().sqs();
    let sns = moto().sns();
    let jobs_table = unique_name("jobs");
    resources::create_table(&ddb, &jobs_table, false, false).await;
    // Visibility timeout 1 s so retried messages come back quickly in tests.
    let queue =
        resources::create_queue(&sqs, &unique_name("jobs-q"), Some(MAX_RECEIVE_COUNT), 1).await;
    let notifications = resources::create_queue(&sqs, &unique_name("notes"), None, 30).await;
    let topic = resources::create_topic(&sns, &unique_name("jobs-topic")).await;
    resources::subscribe_queue(&sns, &topic, &notifications.arn, false).await;

    let mut config = GatewayConfig::default();
    let mut state = None;
    if let Some(controls) = controls {
        let mut merged = json!({"auth": {"mode": "api_keys"}});
        merged
            .as_object_mut()
            .expect("object")
            .extend(controls.as_object().cloned().unwrap_or_default());
        config.controls = serde_json::from_value(merged).expect("controls config");
        config.controls.validate().expect("valid controls");
        let table = unique_name("state");
        resources::create_table(&ddb, &table, true, false).await;
        state = Some(DynamoControlStore::new(
            ddb.clone(),
            &table,
            &config.controls.cache,
        ));
    }
    let home = Some("us-east-1".to_owned());
    let controller = |store: &DynamoControlStore| {
        Controller::new(&config, store.clone(), Vec::new(), home.clone()).expect("controller")
    };

    let bedrock = testkit::local_sdk_config(&sim.endpoint_url());
    let models = || BedrockModelClient::from_sdk_config(&bedrock, &[]);
    let backend = api::JobsBackend {
        store: DynamoJobStore::new(ddb.clone(), &jobs_table),
        queue: SqsJobQueue::new(sqs.clone(), &queue.url),
        settings: JobSettings::default(),
        callback_policy,
    };
    let router = api::router(api::AppState::with_controls(
        config.clone(),
        models(),
        gateway_aws::resilience_store::local_parts(&config),
        state.as_ref().map(controller),
        api::MetricsSink::Off,
        Some(backend),
    ));
    let worker = Worker {
        store: DynamoJobStore::new(ddb, &jobs_table),
        notifier: SnsJobNotifier::new(sns, &topic),
        runner: MeteredJobRunner(Gateway::new(
            config.clone(),
            models(),
            gateway_aws::resilience_store::local_parts(&config),
        )),
        settings,
        concurrency: 4,
        pricing: Some(Pricing::new(&config, home.clone()).unwrap()),
        charges: state.as_ref().map(controller),
        intake: None,
        events: None,
        redelivery: None,
        outputs: None,
    };
    let jobs_poller = SqsPoller::new(sqs, &queue.url, &queue.arn);
    Flow {
        sim,
        router,
        worker,
        jobs_poller,
        events_poller: None,
        dlq_url: queue.dlq_url.expect("DLQ"),
        notifications_url: notifications.url,
        topic_arn: topic.clone(),
        jobs_table,
        jobs_queue_url: queue.url,
        controls: state,
    }
}

pub fn converse_job(prompt: &str) -> Value {
    json!({"converse": {"modelId": "haiku", "messages": [{"role": "user", "content": [{"text": prompt}]}]},
           "metadata": {"ticket": "T-1"}})
}

impl Flow {
    pub async fn http(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.router.clone().oneshot(request).await.expect("router");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    pub async fn submit(&self, body: &Value, idempotency_key: Option<&str>) -> (StatusCode, Value) {
        self.submit_as(None, body, idempotency_key).await
    }

    /// A submit with an API key (`Authorization: Bearer …`) when `api_key` is given.
    pub async fn submit_as(
        &self,
        api_key: Option<&str>,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::post("/v1/jobs").header("content-type", "application/json");
        if let Some(key) = api_key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        self.http(request.body(Body::from(body.to_string())).expect("request"))
            .await
    }

    pub async fn job(&self, job_id: &str) -> Value {
        self.job_as(None, job_id).await
    }

    pub async fn job_as(&self, api_key: Option<&str>, job_id: &str) -> Value {
        self.get_as(api_key, &format!("/v1/jobs/{job_id}")).await
    }

    /// A GET that must answer 200, with an API key when `api_key` is given.
    pub async fn get_as(&self, api_key: Option<&str>, path: &str) -> Value {
        let mut request = Request::get(path);
        if let Some(key) = api_key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let (status, body) = self
            .http(request.body(Body::empty()).expect("request"))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A new API key of `tenant` in the state table, shaped by `edit`; returns the key.
    pub async fn api_key(&self, tenant: &str, edit: impl FnOnce(&mut KeyRecord)) -> IssuedKey {
        let store = self.controls.as_ref().expect("a flow with controls");
        let mut entropy = [0u8; keys::ENTROPY_BYTES];
        entropy.iter_mut().for_each(|b| *b = fastrand::u8(..));
        let issued = keys::issue(&entropy);
        let mut record = KeyRecord::new(&issued, tenant, 0);
        edit(&mut record);
        store.create_key(&record).await.expect("create key");
        issued
    }

    /// The numeric attributes of a counter item in the state table (empty when absent).
    pub async fn counter(&self, pk: &str) -> BTreeMap<String, i64> {
        let store = self.controls.as_ref().expect("a flow with controls");
        let sk = pk.split('#').next().unwrap_or_default();
        let item = store
            .client()
            .get_item()
            .table_name(store.table())
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("read counter")
            .item
            .unwrap_or_default();
        item.iter()
            .filter_map(|(name, value)| Some((name.clone(), value.as_n().ok()?.parse().ok()?)))
            .collect()
    }

    /// One poll of the jobs queue, as Lambda's event source mapping would: receive, invoke, settle.
    /// With an events queue, that queue is polled too and the records and failures of both
    /// are returned together.
    pub async fn poll_once(&self) -> (SqsEvent, SqsBatchResponse) {
        let mut polled = Vec::new();
        for poller in std::iter::once(&self.jobs_poller).chain(&self.events_poller) {
            let event = poller.receive().await.expect("receive");
            let response = self.worker.handle(event.clone()).await;
            poller.settle(&event, &response).await.expect("settle");
            polled.push((event, response));
        }
        polled
            .into_iter()
            .reduce(|(mut event, mut response), (more, failures)| {
                event.records.extend(more.records);
                response
                    .batch_item_failures
                    .extend(failures.batch_item_failures);
                (event, response)
            })
            .expect("the jobs queue was polled")
    }

    /// Polls until the queue stays empty for one poll (bounded).
    pub async fn drain(&self) {
        for _ in 0..30 {
            let (event, _) = self.poll_once().await;
            if event.records.is_empty() {
                return;
            }
        }
        panic!("the jobs queue did not drain");
    }

    /// Everything that arrived on the notifications queue so far (SNS envelopes, parsed).
    pub async fn notifications(&self) -> Vec<Value> {
        let sqs = moto().sqs();
        let mut all = Vec::new();
        loop {
            let output = sqs
                .receive_message()
                .queue_url(&self.notifications_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive notifications");
            if output.messages().is_empty() {
                return all;
            }
            for message in output.messages() {
                all.push(
                    serde_json::from_str(message.body().unwrap_or("null")).expect("SNS envelope"),
                );
                sqs.delete_message()
                    .queue_url(&self.notifications_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    pub async fn dlq_bodies(&self) -> Vec<String> {
        let output = moto()
            .sqs()
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive DLQ");
        output
            .messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_owned))
            .collect()
    }

    pub async fn send_raw(&self, body: &str) {
        moto()
            .sqs()
            .send_message()
            .queue_url(&self.jobs_queue_url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }
}

pub async fn sleep(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
