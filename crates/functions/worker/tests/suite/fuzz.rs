//! Property-based fuzzing of the worker's SQS batch handler (`Worker::handle_with`, what the
//! Lambda binary calls, with callback delivery configured), against moto and the simulator.
//!
//! Each case is one `SqsEvent` of 0..20 records: pointers to jobs that are done (valid
//! redeliveries), pointers to missing jobs, callback messages, garbage JSON, wrong types,
//! arbitrary text, huge bodies, no body; random attributes (`ApproximateReceiveCount` out of
//! range or not a number) and message attributes. What must hold for every batch: the handler
//! returns (no panic), it reports only ids of its own records, every record it cannot run is
//! reported (never silently dropped), and a valid redelivery is never reported.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::{converse_job, flow};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use futures_util::FutureExt;
use gateway::jobs::callback::{CallbackSecrets, CallbackSettings};
use gateway::jobs::{JobMessage, MessageKind};
use gateway_aws::callback::HttpCallbackSender;
use gateway_aws::jobs::{SnsJobNotifier, SqsJobQueue};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use worker::Callbacks;

/// Generated batches per run. Bounds CI time: most records are refused before any emulator
/// call; the pointer-shaped share (one DynamoDB read each on moto) is kept small.
const CASES: u32 = 10_000;
const CALLBACK_SECRET: &str = "whsec_Y2FsbGJhY2stc2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz";

/// What a record's body is.
#[derive(Debug, Clone)]
enum Body {
    /// A redelivery of a job that finished and was announced: must not be reported.
    Done {
        job: usize,
        tenant: Option<String>,
    },
    /// A run message for a job that does not exist.
    Missing(String),
    /// A `JobMessage`-shaped object with fields of any type.
    Shaped(Value),
    Json(Value),
    Text(String),
    Huge(usize),
    None,
}

#[derive(Debug, Clone)]
struct Record {
    body: Body,
    attributes: Vec<(String, String)>,
    message_attributes: Vec<(String, String, String)>,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z_-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field of a job message: the right type or any other.
fn field(right: BoxedStrategy<Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        2 => right.prop_map(Some),
        1 => json_value().prop_map(Some),
        1 => Just(None),
    ]
}

fn shaped() -> impl Strategy<Value = Value> {
    (
        field(
            "job-[a-f0-9]{0,32}|[ -~]{0,40}"
                .prop_map(Value::String)
                .boxed(),
        ),
        field("[a-z-]{0,12}".prop_map(Value::String).boxed()),
        field(
            prop::sample::select(vec!["run", "callback", "Callback", "", "other"])
                .prop_map(Value::from)
                .boxed(),
        ),
        field(
            prop::sample::select(vec![
                json!(0),
                json!(1),
                json!(u32::MAX),
                json!(u64::MAX),
                json!(-1),
            ])
            .boxed(),
        ),
        field(
            prop::sample::select(vec![
                json!(0),
                json!(1),
                json!(u64::MAX),
                json!(i64::MAX),
                json!(-1),
                json!(1e308),
            ])
            .boxed(),
        ),
        field("high|low|[a-z]{0,8}".prop_map(Value::String).boxed()),
    )
        .prop_map(|(job_id, tenant, kind, attempt, not_before, priority)| {
            let mut object = serde_json::Map::new();
            for (name, value) in [
                ("job_id", job_id),
                ("tenant", tenant),
                ("kind", kind),
                ("attempt", attempt),
                ("not_before_ms", not_before),
                ("priority", priority),
            ] {
                if let Some(value) = value {
                    object.insert(name.to_owned(), value);
                }
            }
            Value::Object(object)
        })
}

fn body(done_jobs: usize) -> impl Strategy<Value = Body> {
    // Records that reach moto (pointers, most well-shaped messages, huge ids: one DynamoDB
    // read each) are a small share, which keeps 10,000 batches within CI time.
    prop_oneof![
        1 => (0..done_jobs, prop::option::of("default|[a-z-]{0,12}"))
            .prop_map(|(job, tenant)| Body::Done { job, tenant }),
        1 => "job-[a-f0-9]{32}|[a-zA-Z0-9_-]{1,64}".prop_map(Body::Missing),
        1 => (8 * 1024..64 * 1024usize).prop_map(Body::Huge),
        12 => shaped().prop_map(Body::Shaped),
        90 => json_value().prop_map(Body::Json),
        90 => any::<String>().prop_map(Body::Text),
        4 => Just(Body::None),
    ]
}

fn attributes() -> impl Strategy<Value = Vec<(String, String)>> {
    let receive_count = prop_oneof![
        Just("1".to_owned()),
        Just("0".to_owned()),
        Just("3".to_owned()),
        Just("4294967295".to_owned()),
        Just("4294967296".to_owned()),
        Just("-1".to_owned()),
        Just("".to_owned()),
        any::<String>(),
    ];
    let one = prop_oneof![
        3 => receive_count.prop_map(|v| ("ApproximateReceiveCount".to_owned(), v)),
        1 => "[0-9]{0,20}".prop_map(|v| ("SentTimestamp".to_owned(), v)),
        1 => (any::<String>(), any::<String>()),
    ];
    prop::collection::vec(one, 0..4)
}

fn message_attributes() -> impl Strategy<Value = Vec<(String, String, String)>> {
    prop::collection::vec(
        (
            any::<String>(),
            prop::sample::select(vec!["String", "Number", "Binary", ""]).prop_map(str::to_owned),
            any::<String>(),
        ),
        0..3,
    )
}

fn record(done_jobs: usize) -> impl Strategy<Value = Record> {
    (body(done_jobs), attributes(), message_attributes()).prop_map(
        |(body, attributes, message_attributes)| Record {
            body,
            attributes,
            message_attributes,
        },
    )
}

fn batch(done_jobs: usize) -> impl Strategy<Value = Vec<Record>> {
    prop::collection::vec(record(done_jobs), 0..20)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A callback message due later than the processor's tolerance is re-delayed on the queue
/// (done with, not dropped: it comes back when due) without reading the job.
fn is_deferred_callback(body: &str, sent_at_ms: u64) -> bool {
    serde_json::from_str::<JobMessage>(body).is_ok_and(|m| {
        m.kind == MessageKind::Callback
            && m.not_before_ms.is_some_and(|due| due > sent_at_ms + 1_000)
    })
}

#[derive(Default)]
struct Tally {
    batches: u64,
    records: u64,
    panics: u64,
    reported: u64,
    valid: u64,
    deferred: u64,
    kinds: BTreeMap<&'static str, u64>,
}

#[test]
fn batches_of_random_records() {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (flow, callbacks, done) = rt.block_on(async {
        let flow = flow().await;
        // Jobs that ran to the end and were announced: their redeliveries are valid records.
        let mut done = Vec::new();
        for i in 0..3 {
            let (status, body) = flow.submit(&converse_job(&format!("fuzz {i}")), None).await;
            assert_eq!(status, 202, "{body}");
            done.push(body["job_id"].as_str().unwrap().to_owned());
        }
        flow.drain().await;
        for id in &done {
            assert_eq!(flow.job(id).await["status"], "SUCCEEDED");
        }
        let sqs = testkit::moto().sqs();
        let sns = testkit::moto().sns();
        let alerts =
            testkit::resources::create_topic(&sns, &testkit::unique_name("fuzz-alerts")).await;
        let mut settings =
            CallbackSettings::new(CallbackSecrets::parse(CALLBACK_SECRET, None).unwrap());
        settings.allow_http = true;
        let callbacks = Callbacks {
            queue: SqsJobQueue::new(sqs.clone(), &flow.jobs_queue_url),
            dead_letters: None,
            alerts: SnsJobNotifier::new(sns, &alerts),
            sender: HttpCallbackSender::new(),
            settings,
        };
        (flow, callbacks, done)
    });
    let tally = Mutex::new(Tally::default());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let next_batch = AtomicU64::new(0);
    let result = runner.run(&batch(done.len()), |records| {
        next_batch.fetch_add(1, Ordering::Relaxed);
        let mut event = SqsEvent::default();
        let mut valid = HashSet::new();
        let mut may_pass = HashSet::new();
        let sent_at = now_ms();
        let mut kinds = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let id = format!("msg-{:08}-{i:02}", next_batch.load(Ordering::Relaxed));
            let (kind, body) = match &r.body {
                Body::Done { job, tenant } => {
                    // The jobs are the default tenant's: a pointer naming another tenant is
                    // forged and must be reported (it goes to the DLQ), never run.
                    let forged = tenant
                        .as_deref()
                        .is_some_and(|t| !t.is_empty() && t != "default");
                    if !forged {
                        valid.insert(id.clone());
                    }
                    let mut m = json!({"job_id": done[*job]});
                    if let Some(t) = tenant {
                        m["tenant"] = json!(t);
                    }
                    (if forged { "forged" } else { "done" }, Some(m.to_string()))
                }
                Body::Missing(job_id) => (
                    "missing",
                    Some(json!({"job_id": job_id, "tenant": "t"}).to_string()),
                ),
                Body::Shaped(v) => ("shaped", Some(v.to_string())),
                Body::Json(v) => ("json", Some(v.to_string())),
                Body::Text(s) => ("text", Some(s.clone())),
                Body::Huge(n) => ("huge", Some(json!({"job_id": "j".repeat(*n)}).to_string())),
                Body::None => ("none", None),
            };
            if body
                .as_deref()
                .is_some_and(|b| is_deferred_callback(b, sent_at))
            {
                may_pass.insert(id.clone());
            }
            kinds.push(kind);
            let mut message = SqsMessage::default();
            message.message_id = Some(id);
            message.receipt_handle = Some(format!("rh-{i}"));
            message.body = body;
            message.attributes = r.attributes.iter().cloned().collect::<HashMap<_, _>>();
            message.message_attributes = r
                .message_attributes
                .iter()
                .map(|(name, data_type, value)| {
                    let mut attribute = SqsMessageAttribute::default();
                    attribute.data_type = Some(data_type.clone());
                    attribute.string_value = Some(value.clone());
                    (name.clone(), attribute)
                })
                .collect();
            message.event_source = Some("aws:sqs".to_owned());
            event.records.push(message);
        }
        let ids: Vec<String> = event
            .records
            .iter()
            .filter_map(|m| m.message_id.clone())
            .collect();
        let outcome = rt.block_on(
            AssertUnwindSafe(flow.worker.handle_with(event, Some(&callbacks))).catch_unwind(),
        );
        let mut tally = tally.lock().unwrap();
        tally.batches += 1;
        tally.records += ids.len() as u64;
        for kind in kinds {
            *tally.kinds.entry(kind).or_default() += 1;
        }
        let Ok(response) = outcome else {
            tally.panics += 1;
            return Err(TestCaseError::fail(format!("PANIC on batch {records:?}")));
        };
        let reported: HashSet<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        tally.reported += reported.len() as u64;
        tally.valid += valid.len() as u64;
        tally.deferred += may_pass.len() as u64;
        prop_assert_eq!(
            reported.len(),
            response.batch_item_failures.len(),
            "an id reported twice"
        );
        for id in &reported {
            prop_assert!(ids.contains(id), "reported {id}, which is not in the batch");
        }
        for id in &ids {
            let body = records[ids.iter().position(|x| x == id).unwrap()].clone();
            if valid.contains(id) {
                prop_assert!(
                    !reported.contains(id),
                    "a valid redelivery was reported failed: {body:?}"
                );
            } else if !may_pass.contains(id) {
                prop_assert!(
                    reported.contains(id),
                    "a record that cannot run was dropped: {body:?}"
                );
            }
        }
        Ok(())
    });
    let tally = tally.into_inner().unwrap();
    // Straight to stderr, past libtest's capture: the summary belongs in every run's output.
    let _ = writeln!(
        std::io::stderr(),
        "fuzz: worker batch handler: {} cases ({} records: {} valid, {} reported failed, {} deferred callbacks), {} panics, {:.1} s, record kinds {:?}",
        tally.batches,
        tally.records,
        tally.valid,
        tally.reported,
        tally.deferred,
        tally.panics,
        started.elapsed().as_secs_f64(),
        tally.kinds,
    );
    if let Err(failure) = result {
        panic!("fuzz: worker batch handler: {failure}");
    }
}
