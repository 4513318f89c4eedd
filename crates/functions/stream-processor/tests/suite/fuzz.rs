//! Property-based fuzzing of the stream processor's batch handler (`StreamProcessor::handle`,
//! what the Lambda binary calls) with random DynamoDB stream events, against moto's documents
//! table and the Bedrock simulator.
//!
//! Each case is one event of 0..20 records: INSERT / MODIFY / REMOVE / unknown event names,
//! new and old images of random attributes (the document's own names with wrong types, numbers
//! that are not numbers, huge keys, empty images, unknown attributes). The documented failure
//! reporting: a record is reported (by its sequence number) only when it must come back; a
//! record that is not work (not INSERT/MODIFY, not `PENDING`, no string `pk`) is skipped, never
//! reported. What must hold for every event: the handler returns (no panic), reports only
//! sequence numbers of its own records, each at most once, and never a record that is not work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::harness;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use futures_util::FutureExt;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_dynamo::{AttributeValue, Item};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Generated events per run. Bounds CI time: only records that pass triage (a `PENDING`
/// INSERT/MODIFY with a string `pk`) reach moto, and those are a small share.
const CASES: u32 = 10_000;

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "[a-z0-9#-]{0,16}",
        4 => any::<String>(),
        2 => Just(String::new()),
        // Past DynamoDB's 2 KiB key limit.
        1 => (2048usize..5000).prop_map(|n| "k".repeat(n)),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,4}",
        Just("18446744073709551615".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-1".to_owned()),
        Just("1e400".to_owned()),
        Just("NaN".to_owned()),
        Just("1.5".to_owned()),
        Just(String::new()),
        "[ -~]{0,12}",
    ]
}

fn attribute() -> impl Strategy<Value = AttributeValue> {
    let leaf = prop_oneof![
        string().prop_map(AttributeValue::S),
        number().prop_map(AttributeValue::N),
        any::<bool>().prop_map(AttributeValue::Bool),
        any::<bool>().prop_map(AttributeValue::Null),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(AttributeValue::B),
        prop::collection::vec(string(), 0..3).prop_map(AttributeValue::Ss),
        prop::collection::vec(number(), 0..3).prop_map(AttributeValue::Ns),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
            prop::collection::hash_map(name(), inner, 0..4).prop_map(AttributeValue::M),
        ]
    })
}

/// The document's attribute names (so wrong types land where they matter), and any other.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "pk", "version", "status", "content", "task", "type", "labels", "schema", "name",
            "audience", "attempts", "result", "error", "enriched_at", "failed_at", "model",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A task attribute: a map of a valid type with random parts, or anything.
fn task() -> impl Strategy<Value = AttributeValue> {
    let kind = prop::sample::select(vec![
        "summarize",
        "classify",
        "extract",
        "template",
        "other",
        "",
    ]);
    prop_oneof![
        (kind, prop::collection::hash_map(name(), attribute(), 0..3)).prop_map(
            |(kind, mut extra)| {
                extra.insert("type".to_owned(), AttributeValue::S(kind.to_owned()));
                AttributeValue::M(extra)
            }
        ),
        attribute(),
    ]
}

/// A new or old image: usually document-shaped (`PENDING` status most often, so records get
/// past triage), with any attribute replaced, dropped or added.
fn image() -> impl Strategy<Value = HashMap<String, AttributeValue>> {
    let status = prop_oneof![
        4 => Just(Some(AttributeValue::S("PENDING".to_owned()))),
        1 => prop::sample::select(vec!["ENRICHED", "FAILED", "pending", ""])
            .prop_map(|s| Some(AttributeValue::S(s.to_owned()))),
        1 => attribute().prop_map(Some),
        1 => Just(None),
    ];
    let pk = prop_oneof![
        3 => string().prop_map(|s| Some(AttributeValue::S(s))),
        1 => attribute().prop_map(Some),
        1 => Just(None),
    ];
    let version = prop_oneof![
        2 => number().prop_map(|n| Some(AttributeValue::N(n))),
        1 => attribute().prop_map(Some),
        1 => Just(None),
    ];
    let content = prop::option::of(prop_oneof![
        3 => string().prop_map(AttributeValue::S),
        1 => attribute(),
    ]);
    let shaped = (
        status,
        pk,
        version,
        content,
        prop::option::of(task()),
        prop::collection::hash_map(name(), attribute(), 0..3),
    )
        .prop_map(|(status, pk, version, content, task, extra)| {
            let mut item = extra;
            for (name, value) in [
                ("status", status),
                ("pk", pk),
                ("version", version),
                ("content", content),
                ("task", task),
            ] {
                if let Some(value) = value {
                    item.insert(name.to_owned(), value);
                }
            }
            item
        });
    prop_oneof![
        4 => shaped,
        1 => prop::collection::hash_map(name(), attribute(), 0..6),
        1 => Just(HashMap::new()),
    ]
}

#[derive(Debug, Clone)]
struct Record {
    event_name: String,
    new_image: HashMap<String, AttributeValue>,
    old_image: HashMap<String, AttributeValue>,
}

fn record() -> impl Strategy<Value = Record> {
    let event_name = prop_oneof![
        4 => prop::sample::select(vec!["INSERT", "MODIFY", "REMOVE"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["insert", "", "UPDATE"]).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    // Most records are refused by triage before any moto call: work is kept a small share.
    // About one in ten would-be work records stays work (the rest become REMOVEs).
    (event_name, image(), image(), prop::bool::weighted(0.1)).prop_map(
        |(event_name, new_image, old_image, stays_work)| {
            let work = matches!(event_name.as_str(), "INSERT" | "MODIFY")
                && matches!(new_image.get("status"), Some(AttributeValue::S(s)) if s == "PENDING");
            let keep = !work || stays_work;
            Record {
                event_name: if keep {
                    event_name
                } else {
                    "REMOVE".to_owned()
                },
                new_image,
                old_image,
            }
        },
    )
}

/// A record the processor must never report: triage skips it without reading anything.
fn is_not_work(record: &Record) -> bool {
    let string_pk = matches!(record.new_image.get("pk"), Some(AttributeValue::S(_)));
    let pending =
        matches!(record.new_image.get("status"), Some(AttributeValue::S(s)) if s == "PENDING");
    !matches!(record.event_name.as_str(), "INSERT" | "MODIFY") || !pending || !string_pk
}

#[derive(Default)]
struct Tally {
    events: u64,
    records: u64,
    panics: u64,
    not_work: u64,
    reported: u64,
    event_names: BTreeMap<&'static str, u64>,
}

#[test]
fn events_of_random_records() {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let harness = rt.block_on(harness());
    // The reporting path itself, once, on a real document: a PENDING document whose task is
    // not one the processor knows is marked FAILED and its record reported.
    rt.block_on(async {
        harness
            .put(
                "fuzz-bad-task",
                1,
                "text",
                serde_json::json!({"type": "nonsense"}),
            )
            .await;
        let image = HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S("fuzz-bad-task".to_owned()),
            ),
            ("version".to_owned(), AttributeValue::N("1".to_owned())),
            ("status".to_owned(), AttributeValue::S("PENDING".to_owned())),
            ("content".to_owned(), AttributeValue::S("text".to_owned())),
            (
                "task".to_owned(),
                AttributeValue::M(HashMap::from([(
                    "type".to_owned(),
                    AttributeValue::S("nonsense".to_owned()),
                )])),
            ),
        ]);
        let mut record = EventRecord::default();
        record.event_name = "INSERT".to_owned();
        record.change.sequence_number = Some("bad-task".to_owned());
        record.change.new_image = Item::from(image);
        let response = harness.handle(&[record]).await;
        let reported: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(reported, vec![Some("bad-task".to_owned())]);
        assert_eq!(harness.item("fuzz-bad-task").await["status"], "FAILED");
    });
    let tally = Mutex::new(Tally::default());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = prop::collection::vec(record(), 0..20);
    let next_event = AtomicU64::new(0);
    let result = runner.run(&strategy, |records| {
        let mut event = Event::default();
        let mut sequence_numbers = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let mut record = EventRecord::default();
            let sequence_number =
                format!("{:08}{i:04}", next_event.fetch_add(1, Ordering::Relaxed));
            record.event_name = r.event_name.clone();
            record.event_source = Some("aws:dynamodb".to_owned());
            record.change.sequence_number = Some(sequence_number.clone());
            record.change.new_image = Item::from(r.new_image.clone());
            record.change.old_image = Item::from(r.old_image.clone());
            if let Some(pk) = r.new_image.get("pk") {
                record.change.keys = Item::from(HashMap::from([("pk".to_owned(), pk.clone())]));
            }
            sequence_numbers.push(sequence_number);
            event.records.push(record);
        }
        let outcome =
            rt.block_on(AssertUnwindSafe(harness.processor.handle(event, None)).catch_unwind());
        let mut tally = tally.lock().unwrap();
        tally.events += 1;
        tally.records += records.len() as u64;
        for r in &records {
            let name = match r.event_name.as_str() {
                "INSERT" => "INSERT",
                "MODIFY" => "MODIFY",
                "REMOVE" => "REMOVE",
                _ => "other",
            };
            *tally.event_names.entry(name).or_default() += 1;
        }
        let Ok(response) = outcome else {
            tally.panics += 1;
            return Err(TestCaseError::fail(format!("PANIC on event {records:?}")));
        };
        let reported: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone().unwrap_or_default())
            .collect();
        tally.reported += reported.len() as u64;
        let unique: HashSet<&String> = reported.iter().collect();
        prop_assert_eq!(unique.len(), reported.len(), "a record reported twice");
        for id in &reported {
            let index = sequence_numbers.iter().position(|s| s == id);
            prop_assert!(index.is_some(), "reported {id}, which is not in the event");
            let record = &records[index.unwrap_or_default()];
            prop_assert!(
                !is_not_work(record),
                "a record that is not work was reported: {record:?}"
            );
        }
        tally.not_work += records.iter().filter(|r| is_not_work(r)).count() as u64;
        Ok(())
    });
    let tally = tally.into_inner().unwrap();
    // Straight to stderr, past libtest's capture: the summary belongs in every run's output.
    let _ = writeln!(
        std::io::stderr(),
        "fuzz: stream processor: {} cases ({} records: {} work, {} not work, {} reported failed), {} panics, {:.1} s, event names {:?}",
        tally.events,
        tally.records,
        tally.records - tally.not_work,
        tally.not_work,
        tally.reported,
        tally.panics,
        started.elapsed().as_secs_f64(),
        tally.event_names,
    );
    if let Err(failure) = result {
        panic!("fuzz: stream processor: {failure}");
    }
}
