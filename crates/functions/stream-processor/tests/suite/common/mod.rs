//! The reactive flow on the emulator: a documents table with a real stream (moto), the stream
//! read back through the DynamoDB Streams API and shaped as Lambda's event, the handler with the
//! real DynamoDB store, and Bedrock played by the simulator.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodb::types::AttributeValue;
use bedrock_sim::SimHandle;
use event_source_emulator::dynamodb_stream::{
    DynamoDbStreamPoller, FilterCriteria, OnFailure, PollReport,
};
use gateway::config::GatewayConfig;
use gateway::enrichment::{EnrichmentConfig, EnrichmentSettings};
use gateway::service::{Gateway, GatewayParts};
use gateway_aws::bedrock::BedrockModelClient;
use gateway_aws::documents::DynamoDocumentStore;
use gateway_aws::resilience_store::TokioClock;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;
use stream_processor::{FILTER_PATTERN, MeteredEnrichmentRunner, StreamProcessor};
use testkit::{moto, resources, unique_name};

pub const HAIKU: &str = gateway::config::HAIKU;
pub const NOVA_LITE: &str = gateway::config::NOVA_LITE;
/// Failed attempts before a document is FAILED (the function's MAX_ATTEMPTS).
pub const MAX_ATTEMPTS: u32 = 2;

/// `ENRICHMENT_CONFIG` of these tests: tasks on `small` (haiku); the `on-nova` template runs
/// on nova-lite, which a test can make fail without touching the other documents.
const ENRICHMENT_CONFIG: &str = r#"{
    "model": "small",
    "templates": {
        "on-nova": {"system": "Rewrite the text.", "model": "medium", "prompt": "{{content}}"},
        "tone": {"prompt": "Rewrite for {{audience}}: {{content}}"}
    }
}"#;

pub type Processor =
    StreamProcessor<DynamoDocumentStore, MeteredEnrichmentRunner<BedrockModelClient>>;

pub struct Harness {
    pub sim: SimHandle,
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub stream_arn: String,
    pub processor: Processor,
}

pub async fn harness() -> Harness {
    let sim = testkit::bedrock_sim().await;
    let ddb = moto().dynamodb();
    let table = unique_name("documents");
    let stream_arn = resources::create_table(&ddb, &table, false, true)
        .await
        .expect("the documents table has a stream");
    let mut config = GatewayConfig::default();
    // One model call per attempt and no cached answers: every failure is the record's.
    config.resilience.retry.max_attempts = 1;
    config.resilience.cache_tier.enabled = false;
    let known = |name: &str| config.allowed_names().iter().any(|n| n == name);
    let enrichment =
        EnrichmentConfig::parse("ENRICHMENT_CONFIG", ENRICHMENT_CONFIG, known).expect("config");
    let models =
        BedrockModelClient::from_sdk_config(&testkit::local_sdk_config(&sim.endpoint_url()), &[]);
    let parts = GatewayParts::local(&config, TokioClock);
    let processor = StreamProcessor {
        store: DynamoDocumentStore::new(ddb.clone(), &table),
        runner: MeteredEnrichmentRunner(Gateway::new(config, models, parts)),
        enrichment,
        settings: EnrichmentSettings {
            max_attempts: MAX_ATTEMPTS,
        },
        concurrency: 4,
    };
    Harness {
        sim,
        ddb,
        table,
        stream_arn,
        processor,
    }
}

pub fn summarize() -> Value {
    json!({"type": "summarize"})
}

pub fn classify(labels: &[&str]) -> Value {
    json!({"type": "classify", "labels": labels})
}

pub fn extract(schema: Value) -> Value {
    json!({"type": "extract", "schema": schema})
}

pub fn template(name: &str) -> Value {
    json!({"type": "template", "name": name})
}

impl Harness {
    /// The event source mapping as the template configures it: the PENDING filter,
    /// `MaximumRetryAttempts` = MAX_ATTEMPTS - 1, TRIM_HORIZON.
    pub fn poller(&self, on_failure: OnFailure) -> DynamoDbStreamPoller {
        DynamoDbStreamPoller::new(moto().dynamodb_streams(), &self.stream_arn)
            .with_filter(FilterCriteria::from_patterns([FILTER_PATTERN]).unwrap())
            .with_maximum_retry_attempts(MAX_ATTEMPTS - 1)
            .with_on_failure(on_failure)
    }

    /// One poll with the handler as the function; returns the events and responses too.
    pub async fn poll(
        &self,
        poller: &mut DynamoDbStreamPoller,
    ) -> (PollReport, Vec<(Event, DynamoDbEventResponse)>) {
        let seen = Mutex::new(Vec::new());
        let report = poller
            .poll_once(|event: Event| {
                let seen = &seen;
                async move {
                    let response = self.processor.handle(event.clone(), None).await;
                    seen.lock().unwrap().push((event, response.clone()));
                    Ok::<_, Infallible>(response)
                }
            })
            .await
            .expect("poll");
        (report, seen.into_inner().unwrap())
    }

    /// Every record of the stream so far, unfiltered, as the Lambda event shapes them.
    pub async fn all_records(&self) -> Vec<EventRecord> {
        let mut poller = DynamoDbStreamPoller::new(moto().dynamodb_streams(), &self.stream_arn)
            .with_batch_size(1000);
        let records = Mutex::new(Vec::new());
        loop {
            let report = poller
                .poll_once(|event: Event| {
                    records.lock().unwrap().extend(event.records);
                    async { Ok::<_, Infallible>(DynamoDbEventResponse::default()) }
                })
                .await
                .expect("read the stream");
            if report.read == 0 {
                break;
            }
        }
        records.into_inner().unwrap()
    }

    pub async fn handle(&self, records: &[EventRecord]) -> DynamoDbEventResponse {
        let mut event = Event::default();
        event.records = records.to_vec();
        self.processor.handle(event, None).await
    }

    /// Writes a PENDING document as an application would (PutItem).
    pub async fn put(&self, key: &str, version: u64, content: &str, task: Value) {
        let item = json!({"pk": key, "version": version, "status": "PENDING", "content": content, "task": task});
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(item).unwrap();
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
    }

    pub async fn put_item(&self, item: HashMap<String, AttributeValue>) {
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
    }

    /// The item as plain JSON (`Null` when absent).
    pub async fn item(&self, key: &str) -> Value {
        let output = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem");
        output
            .item
            .map(|item| serde_dynamo::from_item(item).unwrap())
            .unwrap_or(Value::Null)
    }

    pub fn calls(&self) -> u64 {
        self.sim.call_counts().total
    }
}

/// The key (`pk`) of a record.
pub fn key_of(record: &EventRecord) -> String {
    match record.change.keys.get("pk") {
        Some(serde_dynamo::AttributeValue::S(key)) => key.clone(),
        other => panic!("record without a string pk: {other:?}"),
    }
}

pub fn sequence_number(record: &EventRecord) -> String {
    record
        .change
        .sequence_number
        .clone()
        .expect("sequence number")
}

/// The sequence numbers a response reports.
pub fn reported(response: &DynamoDbEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap_or_default())
        .collect()
}
