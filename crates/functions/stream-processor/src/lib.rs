//! The stream processor: a DynamoDB Streams batch handler over the documents table. Records run
//! concurrently (bounded); each one goes through the gateway's [`EnrichmentProcessor`] (triage
//! and loop guard → fresh read → model → validation → conditional write-back); the records
//! that must come back are reported by sequence number in the `DynamoDbEventResponse`.
//!
//! Loops are prevented twice: the event source mapping's filter ([`FILTER_PATTERN`]) never
//! invokes the function for the processor's `ENRICHED`/`FAILED` writes or for deletions, and
//! the same rule — plus "a change confined to the processor's bookkeeping is not work" — is
//! enforced again in code ([`gateway::enrichment::triage`]).

pub mod config;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use gateway::GatewayError;
use gateway::api::converse::ConverseRequest;
use gateway::controls::RouteClass;
use gateway::enrichment::{
    DocumentDisposition, DocumentFailure, DocumentStore, EnrichmentConfig, EnrichmentProcessor,
    EnrichmentSettings, ModelAnswer, ModelRunner, StreamChange,
};
use gateway::metered::{Call, Meter};
use gateway::ports::ModelClient;
use gateway::service::{Caller, Gateway, Route};
use gateway_aws::documents::DynamoDocumentStore;
use gateway_aws::lambda_batch::{Outcome, dynamodb_batch_response, run_batch};
use gateway_aws::models::GatewayModelClient;
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

pub use config::{ProcessorConfig, ProcessorInitError};

/// The event source mapping's `FilterCriteria` pattern (template.yaml): only INSERT/MODIFY
/// records whose new image is `PENDING` invoke the function.
pub const FILTER_PATTERN: &str = r#"{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"status": {"S": ["PENDING"]}}}}"#;

/// Time kept back from the invocation's deadline for the write-back after the model answers.
pub const WRITE_BACK_RESERVE: Duration = Duration::from_secs(5);

/// Runs the enrichment's model call through the gateway's one metered call, as the gateway's
/// own (no caller's allow-list or budget).
pub struct MeteredEnrichmentRunner<M>(pub Gateway<M>);

impl<M: ModelClient> ModelRunner for MeteredEnrichmentRunner<M> {
    async fn run(
        &self,
        model: &str,
        request: &ConverseRequest,
        deadline: Option<Instant>,
    ) -> Result<ModelAnswer, GatewayError> {
        let call = Call::admitted(Caller::SYSTEM, RouteClass::Converse, deadline);
        let served = Meter::unadmitted(&self.0)
            .converse(&call, Route::Model(model), request)
            .await
            .map_err(|refused| refused.error)?
            .served;
        Ok(ModelAnswer {
            text: served.value.text(),
            model: served.target.model_id,
            usage: served.value.usage,
        })
    }
}

pub struct StreamProcessor<S, R> {
    pub store: S,
    pub runner: R,
    pub enrichment: EnrichmentConfig,
    pub settings: EnrichmentSettings,
    /// Records of a batch in flight at once.
    pub concurrency: usize,
}

/// The Lambda function as deployed: DynamoDB documents table, Bedrock through the gateway.
pub type LambdaProcessor =
    StreamProcessor<DynamoDocumentStore, MeteredEnrichmentRunner<GatewayModelClient>>;

impl LambdaProcessor {
    /// Configuration from the environment (see [`config`]) and clients from `sdk`. Makes no
    /// network call.
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProcessorInitError> {
        let config = ProcessorConfig::from_env(&lookup)?;
        let models = GatewayModelClient::from_sdk_config(sdk, &config.gateway);
        // With STATE_TABLE set, breakers and model health are the ones the API and the worker
        // see: a model the API found failing is not hammered again by a burst of documents.
        let parts = gateway_aws::resilience_store::gateway_parts(sdk, &config.gateway, &lookup);
        Ok(Self {
            store: DynamoDocumentStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.documents_table,
            ),
            runner: MeteredEnrichmentRunner(Gateway::new(config.gateway, models, parts)),
            enrichment: config.enrichment,
            settings: config.settings,
            concurrency: config.concurrency,
        })
    }
}

fn now_ms() -> u64 {
    gateway::clock::unix_ms()
}

/// When model calls must be done by, from the invocation's deadline (epoch milliseconds),
/// keeping [`WRITE_BACK_RESERVE`] for the write-back. `None` when no deadline is known.
pub fn deadline_from(deadline_epoch_ms: u64) -> Option<Instant> {
    if deadline_epoch_ms == 0 {
        return None;
    }
    let remaining = Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms()));
    Some(Instant::now() + remaining.saturating_sub(WRITE_BACK_RESERVE))
}

/// A DynamoDB-JSON image of the event as a JSON object (empty when absent).
fn image(item: &serde_dynamo::Item) -> Result<Map<String, Value>, String> {
    match serde_json::to_value(item) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("image is not a map".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

impl<S: DocumentStore, R: ModelRunner> StreamProcessor<S, R> {
    /// Handles a whole batch; never fails as a whole: each record that must come back is
    /// listed by its sequence number.
    pub async fn handle(&self, event: Event, deadline: Option<Instant>) -> DynamoDbEventResponse {
        let batch = run_batch(
            event.records,
            self.concurrency,
            |record: &EventRecord| record.change.sequence_number.clone().unwrap_or_default(),
            |record| self.handle_record(record, deadline),
        )
        .await;
        dynamodb_batch_response(batch.failed)
    }

    /// `Failed` when the record must be reported (by its sequence number).
    async fn handle_record(&self, record: EventRecord, deadline: Option<Instant>) -> Outcome {
        let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
        let (new_image, old_image) = match (
            image(&record.change.new_image),
            image(&record.change.old_image),
        ) {
            (Ok(new), Ok(old)) => (new, old),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(sequence_number, error = %e, "record images do not convert; reported as failed");
                return Outcome::Failed;
            }
        };
        let change = StreamChange {
            event_name: &record.event_name,
            new_image: &new_image,
            old_image: &old_image,
        };
        let processor = EnrichmentProcessor {
            store: &self.store,
            runner: &self.runner,
            config: &self.enrichment,
            settings: self.settings,
            clock: now_ms,
        };
        let processed = processor.process(change, deadline).await;
        match &processed {
            Ok(disposition @ DocumentDisposition::Enriched { model }) => {
                tracing::info!(
                    sequence_number,
                    model,
                    disposition = disposition.as_str(),
                    "record done"
                )
            }
            Ok(disposition @ DocumentDisposition::Skipped(_)) => {
                tracing::debug!(
                    sequence_number,
                    disposition = disposition.as_str(),
                    "record skipped"
                )
            }
            Err(DocumentFailure::Retry(reason)) => {
                tracing::warn!(
                    sequence_number,
                    code = reason.code,
                    "record will be retried"
                )
            }
            Err(DocumentFailure::Failed(reason)) => {
                tracing::error!(sequence_number, code = reason.code, "document FAILED")
            }
        }
        if processed.is_ok() {
            Outcome::Done
        } else {
            Outcome::Failed
        }
    }
}
