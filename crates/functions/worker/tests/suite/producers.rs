//! Jobs from other systems: a raw `gateway.job.v1` message on the jobs queue and a
//! `GenAI Job Requested` event on the bus (routed to the queue by a rule in moto) each become
//! one job, run through the simulator, stored, notified once on SNS and announced once as a
//! `GenAI Job Succeeded` event (read back through a second rule to a test queue). Refused
//! messages land in the DLQ with their reason; the attacks of issue 15 each get theirs.

use crate::common::*;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use event_source_emulator::sqs::SqsPoller;
use gateway::jobs::JobStore;
use gateway::jobs::producer::{Producers, SCHEMA_V1};
use gateway::jobs::submit::{JobSettings, job_id};
use gateway_aws::jobs::{EventBridgeJobEvents, SqsDeadLetters, SqsJobQueue};
use serde_json::{Value, json};
use testkit::{moto, resources, unique_name};
use worker::ProducerIntake;

pub(crate) struct ProducerFlow {
    pub(crate) flow: Flow,
    pub(crate) bus: String,
    results_url: String,
}

pub(crate) const SOURCE: &str = "com.example.crm";

/// The flow with controls on, producer `crm` (tenant `crm`, model `haiku` only, events under
/// `com.example.crm`), a bus whose request rule targets the events queue (the worker's second
/// event source, the only queue it takes envelopes from) and whose result rule targets a test
/// queue.
pub(crate) async fn producer_flow() -> ProducerFlow {
    let mut flow = flow_with_controls(json!({})).await;
    let sqs = moto().sqs();
    let events = aws_sdk_eventbridge::Client::new(&moto().sdk_config());
    let bus = unique_name("bus");
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create bus");
    let results = resources::create_queue(&sqs, &unique_name("results"), None, 30).await;
    let requests = resources::create_queue(&sqs, &unique_name("job-events"), None, 1).await;
    let mut events_poller = SqsPoller::new(sqs.clone(), &requests.url, &requests.arn);
    events_poller.wait_seconds = 0;
    flow.events_poller = Some(events_poller);
    for (rule, pattern, arn) in [
        (
            "requests",
            json!({"detail-type": ["GenAI Job Requested"]}),
            &requests.arn,
        ),
        (
            "results",
            json!({"source": ["genai.gateway"]}),
            &results.arn,
        ),
    ] {
        events
            .put_rule()
            .name(rule)
            .event_bus_name(&bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("put rule");
        events
            .put_targets()
            .rule(rule)
            .event_bus_name(&bus)
            .targets(Target::builder().id("q").arn(arn).build().expect("target"))
            .send()
            .await
            .expect("put targets");
    }
    let producers = json!({"crm": {"tenant": "crm", "models": ["haiku"], "event_sources": [SOURCE],
                                   "max_message_bytes": 16384}});
    flow.worker.intake = Some(ProducerIntake {
        producers: Producers::parse(&producers.to_string()).expect("producers"),
        queue: SqsJobQueue::new(sqs.clone(), &flow.jobs_queue_url),
        dead_letters: Some(SqsDeadLetters::new(sqs, &flow.dlq_url)),
        events_queue_arn: Some(requests.arn.clone()),
        settings: JobSettings::default(),
        callback_policy: lenient_callbacks(),
    });
    flow.worker.events = Some(EventBridgeJobEvents::new(events, &bus));
    ProducerFlow {
        flow,
        bus,
        results_url: results.url,
    }
}

pub(crate) fn message(idempotency_id: &str, prompt: &str) -> Value {
    json!({"schema": SCHEMA_V1, "producer": "crm", "idempotency_id": idempotency_id,
           "model": "haiku", "metadata": {"order": idempotency_id},
           "request": {"converse": {"messages": [{"role": "user", "content": [{"text": prompt}]}]}}})
}

pub(crate) fn producer_job_id(idempotency_id: &str) -> String {
    job_id(
        "crm",
        Some(&format!("\0producer\0crm\0{idempotency_id}")),
        "",
    )
}

impl ProducerFlow {
    /// Every message on `url` so far: (body, message attributes).
    async fn drain_queue(&self, url: &str) -> Vec<(Value, Vec<(String, String)>)> {
        let sqs = moto().sqs();
        let mut all = Vec::new();
        loop {
            let output = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            if output.messages().is_empty() {
                return all;
            }
            for message in output.messages() {
                let attributes = message
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.clone(), v.string_value().unwrap_or("").to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                all.push((
                    serde_json::from_str(message.body().unwrap_or("null")).unwrap_or(Value::Null),
                    attributes,
                ));
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    pub(crate) async fn result_events(&self) -> Vec<Value> {
        let url = self.results_url.clone();
        self.drain_queue(&url)
            .await
            .into_iter()
            .map(|(body, _)| body)
            .collect()
    }

    /// The DLQ's messages: (code, reason) of each.
    pub(crate) async fn dead_letters(&self) -> Vec<(String, String)> {
        let url = self.flow.dlq_url.clone();
        self.drain_queue(&url)
            .await
            .into_iter()
            .map(|(_, attributes)| {
                let get = |name: &str| {
                    attributes
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                (get("dead_letter_code"), get("dead_letter_reason"))
            })
            .collect()
    }

    pub(crate) async fn put_event(&self, source: &str, detail: &Value) {
        let events = aws_sdk_eventbridge::Client::new(&moto().sdk_config());
        let output = events
            .put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(source)
                    .detail_type("GenAI Job Requested")
                    .detail(detail.to_string())
                    .build(),
            )
            .send()
            .await
            .expect("put events");
        assert_eq!(output.failed_entry_count(), 0);
    }

    /// The one dead letter the last drain produced.
    async fn only_dead_letter(&self) -> (String, String) {
        self.flow.drain().await;
        let letters = self.dead_letters().await;
        assert_eq!(letters.len(), 1, "{letters:?}");
        letters.into_iter().next().expect("one")
    }
}

#[tokio::test]
async fn a_raw_message_twice_is_one_job_one_notification_and_one_result_event() {
    let p = producer_flow().await;
    let body = message("order-1", "Summarise order 1").to_string();
    p.flow.send_raw(&body).await;
    p.flow.send_raw(&body).await;
    p.flow.drain().await;

    let id = producer_job_id("order-1");
    let owner = p.flow.api_key("crm", |_| {}).await;
    let job = p.flow.job_as(Some(&owner.api_key), &id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["metadata"]["order"], "order-1");
    assert_eq!(job["metadata"]["gateway_idempotency_id"], "order-1");
    assert!(!job["result"]["text"].as_str().unwrap_or("").is_empty());

    // Another tenant's key sees nothing.
    let stranger = p.flow.api_key("other", |_| {}).await;
    let (status, _) = p
        .flow
        .http(
            http::Request::get(format!("/v1/jobs/{id}"))
                .header("authorization", format!("Bearer {}", stranger.api_key))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, 404);

    let notifications = p.flow.notifications().await;
    assert_eq!(notifications.len(), 1, "{notifications:?}");
    let events = p.result_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], "GenAI Job Succeeded");
    assert_eq!(events[0]["source"], "genai.gateway");
    let detail = &events[0]["detail"];
    assert_eq!(detail["job_id"], id.as_str());
    assert_eq!(detail["tenant"], "crm");
    assert_eq!(detail["origin"], "producer:crm");
    assert!(
        detail["usage"]["totalTokens"].as_u64().unwrap_or(0) > 0,
        "{detail}"
    );
    assert!(detail["summary"].is_string());
    assert!(p.dead_letters().await.is_empty());
}

#[tokio::test]
async fn an_event_on_the_bus_runs_a_job_and_a_subscriber_sees_its_result() {
    let p = producer_flow().await;
    p.put_event(SOURCE, &message("event-1", "From the bus"))
        .await;
    p.flow.drain().await;
    let owner = p.flow.api_key("crm", |_| {}).await;
    let job = p
        .flow
        .job_as(Some(&owner.api_key), &producer_job_id("event-1"))
        .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let events = p.result_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["job_id"], producer_job_id("event-1"));
    assert_eq!(p.flow.notifications().await.len(), 1);
}

#[tokio::test]
async fn a_malformed_message_goes_to_the_dlq_with_its_reason() {
    let p = producer_flow().await;
    p.flow
        .send_raw(&json!({"schema": SCHEMA_V1, "producer": "crm"}).to_string())
        .await;
    let (code, reason) = p.only_dead_letter().await;
    assert_eq!(code, "malformed_message");
    assert!(reason.contains("request"), "{reason}");
    p.flow
        .send_raw(&json!({"schema": "gateway.job.v0", "producer": "crm"}).to_string())
        .await;
    assert_eq!(p.only_dead_letter().await.0, "unknown_schema");
    assert!(p.result_events().await.is_empty());
}

#[tokio::test]
async fn attack_a_producer_naming_another_tenant_is_dead_lettered() {
    let p = producer_flow().await;
    let mut body = message("t-1", "x");
    body["tenant"] = json!("payroll");
    p.flow.send_raw(&body.to_string()).await;
    let (code, reason) = p.only_dead_letter().await;
    assert_eq!(code, "tenant_not_allowed");
    assert!(reason.contains("payroll"), "{reason}");
    assert!(p.flow.notifications().await.is_empty());
}

#[tokio::test]
async fn attack_a_model_outside_the_producers_allow_list_is_dead_lettered() {
    let p = producer_flow().await;
    let mut body = message("m-1", "x");
    body["model"] = json!("sonnet");
    p.flow.send_raw(&body.to_string()).await;
    assert_eq!(p.only_dead_letter().await.0, "model_not_allowed");
}

#[tokio::test]
async fn attack_an_oversized_message_is_dead_lettered_naming_the_limit() {
    let p = producer_flow().await;
    let body = message("big-1", &"x".repeat(20_000));
    p.flow.send_raw(&body.to_string()).await;
    let (code, reason) = p.only_dead_letter().await;
    assert_eq!(code, "message_too_large");
    assert!(reason.contains("16384"), "{reason}");
}

#[tokio::test]
async fn attack_an_event_from_an_unlisted_source_is_dead_lettered() {
    let p = producer_flow().await;
    p.put_event("com.example.intruder", &message("ev-x", "x"))
        .await;
    assert_eq!(p.only_dead_letter().await.0, "sender_not_allowed");
}

#[tokio::test]
async fn attack_a_forged_pointer_to_another_tenants_job_runs_nothing_and_is_refused() {
    let p = producer_flow().await;
    p.flow.send_raw(&message("order-9", "x").to_string()).await;
    p.flow.drain().await;
    assert_eq!(p.flow.notifications().await.len(), 1);
    assert_eq!(p.result_events().await.len(), 1);
    let id = producer_job_id("order-9");
    p.flow
        .send_raw(&json!({"job_id": id, "tenant": "attacker"}).to_string())
        .await;
    let (event, response) = p.flow.poll_once().await;
    assert_eq!(event.records.len(), 1);
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "the forged pointer is refused"
    );
    assert!(
        p.flow.notifications().await.is_empty(),
        "no second notification"
    );
    assert!(p.result_events().await.is_empty(), "no second result event");
}

/// Issue 15's soak finding: a released message waited out the queue's visibility timeout
/// (720 s deployed). With redelivery, a throttled job's message comes back after a backoff of
/// about a second here although its queue hides messages for 60 s.
#[tokio::test]
async fn a_throttled_job_comes_back_after_a_short_backoff_not_the_visibility_timeout() {
    use bedrock_sim::{Behavior, ErrorKind, Outcome};
    use event_source_emulator::sqs::SqsPoller;
    use gateway_aws::jobs::SqsRedelivery;
    use std::time::{Duration, Instant};

    let mut p = producer_flow().await;
    let sqs = moto().sqs();
    let slow = resources::create_queue(&sqs, &unique_name("slow-q"), Some(5), 60).await;
    if let Some(intake) = &mut p.flow.worker.intake {
        intake.queue = SqsJobQueue::new(sqs.clone(), &slow.url);
    }
    p.flow.worker.redelivery = Some(SqsRedelivery::new(sqs.clone(), &slow.url));
    p.flow.worker.settings.max_receive_count = 5;
    p.flow.worker.settings.redelivery_base = Duration::from_secs(1);
    p.flow.worker.settings.redelivery_max = Duration::from_secs(1);
    // More throttles than one invocation's retry loop makes: the first delivery fails.
    p.flow.sim.set_behavior(
        HAIKU,
        Behavior::script([Outcome::Error(ErrorKind::ThrottlingException); 4]),
    );
    let poller = SqsPoller::new(sqs.clone(), &slow.url, &slow.arn);
    sqs.send_message()
        .queue_url(&slow.url)
        .message_body(message("slow-1", "busy model").to_string())
        .send()
        .await
        .unwrap();

    let owner = p.flow.api_key("crm", |_| {}).await;
    let id = producer_job_id("slow-1");
    let started = Instant::now();
    let mut failed_deliveries = 0;
    let mut status = Value::Null;
    while started.elapsed() < Duration::from_secs(20) {
        let event = poller.receive().await.unwrap();
        let response = p.flow.worker.handle(event.clone()).await;
        failed_deliveries += response.batch_item_failures.len();
        poller.settle(&event, &response).await.unwrap();
        let (code, job) = p
            .flow
            .http(
                http::Request::get(format!("/v1/jobs/{id}"))
                    .header("authorization", format!("Bearer {}", owner.api_key))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        if code == 200 && job["status"] == "SUCCEEDED" {
            status = job["status"].clone();
            break;
        }
    }
    assert_eq!(
        status, "SUCCEEDED",
        "not finished within 20 s of a 60 s visibility timeout"
    );
    assert!(failed_deliveries >= 1, "the first delivery was throttled");
    assert_eq!(p.flow.notifications().await.len(), 1);
    assert_eq!(p.result_events().await.len(), 1);
}

/// Red team (red2): a producer's job id is `job_id(tenant, "producer/<name>/<idempotency id>")`
/// and `POST /v1/jobs` derives its id from the same hash of the raw `Idempotency-Key`, so any
/// key of the producer's tenant can take the producer's job id first. Its own request then
/// makes the producer's real message a `conflict` dead letter (the producer's job never
/// runs), or, with the same request, turns it into a replay of the key holder's job. The two
/// namespaces must not meet: the producer's job must run as its own.
#[tokio::test]
async fn attack_an_api_key_cannot_take_a_producers_job_id_with_its_idempotency_key() {
    let p = producer_flow().await;
    let squatter = p.flow.api_key("crm", |_| {}).await;
    let forged = json!({"converse": {"modelId": "haiku",
        "messages": [{"role": "user", "content": [{"text": "not the producer's request"}]}]}});
    let (status, body) = p
        .flow
        .submit_as(
            Some(&squatter.api_key),
            &forged,
            Some("producer/crm/order-77"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    // The squatter now holds exactly the id the producer's message will compute.
    let squatted = body["job_id"].as_str().unwrap_or_default().to_owned();
    p.flow.drain().await;

    p.flow
        .send_raw(&message("order-77", "Summarise order 77").to_string())
        .await;
    p.flow.drain().await;
    let letters = p.dead_letters().await;
    assert!(
        letters.is_empty(),
        "the producer's message was refused because a key took its id: {letters:?}"
    );
    assert_ne!(
        squatted,
        producer_job_id("order-77"),
        "an Idempotency-Key reaches the producer's job id namespace"
    );
}

/// Red team (red2): a producer message nested deeper than serde_json's recursion limit is not
/// recognised as a producer message at all (`read` returns `None` on any parse error): the
/// worker takes it for a job pointer, fails it as "poison … missing field `job_id`" and the
/// queue redelivers it until its redrive policy moves it — no `dead_letter_code`, a reason
/// that names the wrong thing, and a worker invocation per delivery. Expected: one dead letter
/// `malformed_message` at once.
#[tokio::test]
async fn attack_a_too_deep_producer_message_is_dead_lettered_as_malformed() {
    let p = producer_flow().await;
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let body = format!(
        r#"{{"schema":"gateway.job.v1","producer":"crm","idempotency_id":"deep-1","model":"haiku","request":{{"chat":{{"messages":[{{"role":"user","content":"hi"}}],"x":{deep}}}}}}}"#
    );
    p.flow.send_raw(&body).await;
    let (event, response) = p.flow.poll_once().await;
    assert_eq!(event.records.len(), 1);
    assert!(
        response.batch_item_failures.is_empty(),
        "the message is failed back to the queue instead of dead-lettered with a reason"
    );
    let letters = p.dead_letters().await;
    assert_eq!(
        letters.first().map(|(code, _)| code.as_str()),
        Some("malformed_message"),
        "{letters:?}"
    );
}

/// Red team (red2): producer `crm` is pinned to its SQS sender (`sender_ids`) and publishes on
/// the bus under its own source — the set-up docs/JOB_PRODUCERS.md recommends "for a producer
/// whose identity matters". Any other principal allowed `SendMessage` on the jobs queue wraps
/// a message in a hand-written EventBridge envelope with `source: com.example.crm`: the worker
/// takes the envelope as coming from the bus, checks only the source, never the SQS sender,
/// and creates a job as `crm`. Expected: `sender_not_allowed`, no job.
#[tokio::test]
async fn attack_a_hand_written_event_envelope_cannot_bypass_the_producers_sender_ids() {
    let mut p = producer_flow().await;
    let producers = json!({"crm": {"tenant": "crm", "models": ["haiku"],
                                   "sender_ids": ["AROAEXAMPLE:crm-service"],
                                   "event_sources": [SOURCE]}});
    if let Some(intake) = p.flow.worker.intake.as_mut() {
        intake.producers = Producers::parse(&producers.to_string()).expect("producers");
    }
    // A direct message from this (unlisted) sender is refused, as documented.
    p.flow.send_raw(&message("direct-1", "x").to_string()).await;
    assert_eq!(p.only_dead_letter().await.0, "sender_not_allowed");

    // The same sender, the same message, in an envelope it wrote itself.
    let envelope = json!({"version": "0", "id": "forged-1", "source": SOURCE,
                          "detail-type": "GenAI Job Requested", "account": "123456789012",
                          "detail": message("forged-1", "x")});
    p.flow.send_raw(&envelope.to_string()).await;
    p.flow.drain().await;
    let letters = p.dead_letters().await;
    assert_eq!(
        letters.first().map(|(code, _)| code.as_str()),
        Some("sender_not_allowed"),
        "an unlisted SQS sender created a job as producer crm through a forged envelope: {letters:?}"
    );
    assert!(
        p.flow
            .worker
            .store
            .get(&producer_job_id("forged-1"))
            .await
            .expect("get")
            .is_none(),
        "the forged envelope became a job"
    );
}
