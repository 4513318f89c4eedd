//! One stream record, end to end: triage → fresh read → model → validation → conditional
//! write-back. Every write is conditional on the item still being `PENDING` at the record's
//! version, so stale, duplicate and out-of-order records cannot overwrite newer content or
//! enrich twice; and the processor never writes `PENDING` with anything but its bookkeeping,
//! so its writes never come back as work (see [`triage`](super::triage)).

use super::document::{Document, Status};
use super::output;
use super::prompt::EnrichmentConfig;
use super::time::rfc3339_millis;
use super::triage::{SkipReason, StreamChange, Triage, triage};
use crate::GatewayError;
use crate::api::converse::{ConverseRequest, Usage};
use crate::error::UpstreamKind;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::time::Instant;

/// The decision-relevant part of the item as it is now (a strongly consistent read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentState {
    /// `None` when the item has no whole-number version.
    pub version: Option<u64>,
    pub status: Option<Status>,
    /// Failed attempts counted at `version` (zero when the count belongs to an older version).
    pub attempts: u32,
}

/// Why an attempt, or a document, failed: stored on the item (`last_error`, `error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureReason {
    pub code: String,
    pub message: String,
}

impl FailureReason {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// What an `ENRICHED` write stores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Enrichment {
    /// The label (classify), the JSON object (extract) or the text (summarize, template).
    pub result: Value,
    /// The model that answered.
    pub model: String,
    pub usage: Usage,
    /// RFC 3339, UTC.
    pub processed_at: String,
}

/// The documents table, as the processor needs it. Every write is conditional.
pub trait DocumentStore: Send + Sync {
    /// Strongly consistent read of the item's version, status and attempts.
    fn state(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<DocumentState>, GatewayError>> + Send;

    /// `PENDING` at `version` → `ENRICHED` with `enrichment`. `false` when the item no longer
    /// is `PENDING` at `version`.
    fn enrich(
        &self,
        key: &str,
        version: u64,
        enrichment: &Enrichment,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;

    /// `PENDING` at `version` → the failed attempt counted (`attempts`, `attempted_version`,
    /// `last_error`), still `PENDING`. `false` when the condition did not hold.
    fn count_attempt(
        &self,
        key: &str,
        version: u64,
        attempts: u32,
        reason: &FailureReason,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;

    /// `PENDING` at `version` → `FAILED` with `reason` (and `attempts`, when given). With
    /// `version: None`, only an item whose version is missing or not a number qualifies.
    fn fail(
        &self,
        key: &str,
        version: Option<u64>,
        attempts: Option<u32>,
        reason: &FailureReason,
        failed_at: &str,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;
}

/// A model's answer and who gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelAnswer {
    pub text: String,
    pub model: String,
    pub usage: Usage,
}

/// Runs a Converse request through the gateway's call path (routing, retries, fallbacks).
pub trait ModelRunner: Send + Sync {
    /// `model`: a model id, alias or group of the gateway's configuration. `deadline`: when
    /// the caller stops waiting.
    fn run(
        &self,
        model: &str,
        request: &ConverseRequest,
        deadline: Option<Instant>,
    ) -> impl Future<Output = Result<ModelAnswer, GatewayError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrichmentSettings {
    /// Failed attempts after which a document is `FAILED` (`MAX_ATTEMPTS`). Set the event
    /// source mapping's `MaximumRetryAttempts` to at least `max_attempts - 1`, so the stream
    /// brings a record back that often before giving up on it.
    pub max_attempts: u32,
}

impl Default for EnrichmentSettings {
    fn default() -> Self {
        Self { max_attempts: 3 }
    }
}

/// The record is done with.
#[derive(Debug, Clone, PartialEq)]
pub enum DocumentDisposition {
    Enriched { model: String },
    Skipped(SkipReason),
}

impl DocumentDisposition {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Enriched { .. } => "enriched",
            Self::Skipped(reason) => reason.as_str(),
        }
    }
}

/// The record must be reported as a batch item failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentFailure {
    /// A transient failure (the model's, counted on the item; or the store's): the stream
    /// must bring the record back.
    #[error("will retry: {0}")]
    Retry(FailureReason),
    /// The document is `FAILED`. Still reported, so that the event source mapping hands the
    /// record to its on-failure destination once its retries are exhausted; every later
    /// delivery finds the item `FAILED` and makes no model call.
    #[error("document failed: {0}")]
    Failed(FailureReason),
}

pub struct EnrichmentProcessor<'a, S, R> {
    pub store: &'a S,
    pub runner: &'a R,
    pub config: &'a EnrichmentConfig,
    pub settings: EnrichmentSettings,
    /// Milliseconds since the Unix epoch.
    pub clock: fn() -> u64,
}

/// Whether another attempt at the same request cannot succeed.
fn is_permanent(error: &GatewayError) -> bool {
    matches!(
        error,
        GatewayError::InvalidRequest { .. }
            | GatewayError::PayloadTooLarge { .. }
            | GatewayError::UnknownModel { .. }
            | GatewayError::Upstream {
                kind: UpstreamKind::Validation,
                ..
            }
    )
}

fn store_failure(error: GatewayError) -> DocumentFailure {
    DocumentFailure::Retry(FailureReason::new("store_error", error.to_string()))
}

impl<S: DocumentStore, R: ModelRunner> EnrichmentProcessor<'_, S, R> {
    pub async fn process(
        &self,
        change: StreamChange<'_>,
        deadline: Option<Instant>,
    ) -> Result<DocumentDisposition, DocumentFailure> {
        match triage(change) {
            Triage::Skip(reason) => Ok(DocumentDisposition::Skipped(reason)),
            Triage::Reject {
                key,
                version,
                error,
            } => {
                let reason = FailureReason::new("invalid_document", error.to_string());
                self.give_up(&key, version, None, reason).await
            }
            Triage::Work(document) => self.enrich(&document, deadline).await,
        }
    }

    async fn enrich(
        &self,
        document: &Document,
        deadline: Option<Instant>,
    ) -> Result<DocumentDisposition, DocumentFailure> {
        let Some(state) = self
            .store
            .state(&document.key)
            .await
            .map_err(store_failure)?
        else {
            return Ok(DocumentDisposition::Skipped(SkipReason::Deleted));
        };
        if state.version != Some(document.version) {
            return Ok(DocumentDisposition::Skipped(SkipReason::Superseded {
                record: document.version,
                current: state.version,
            }));
        }
        match state.status {
            Some(Status::Pending) => {}
            Some(Status::Enriched) => {
                return Ok(DocumentDisposition::Skipped(SkipReason::AlreadyEnriched));
            }
            Some(Status::Failed) => {
                return Err(DocumentFailure::Failed(FailureReason::new(
                    "document_failed",
                    format!("the document is FAILED at version {}", document.version),
                )));
            }
            None => return Ok(DocumentDisposition::Skipped(SkipReason::NotPending)),
        }
        let (key, version) = (document.key.as_str(), Some(document.version));

        let (model, request) = match self.config.request_for(document) {
            Ok(prepared) => prepared,
            Err(error) => {
                let reason = FailureReason::new(error.code(), error.to_string());
                return self.give_up(key, version, None, reason).await;
            }
        };
        let answer = match self.runner.run(&model, &request, deadline).await {
            Ok(answer) => answer,
            Err(error) => {
                let reason = FailureReason::new(error.code(), error.public_message());
                if is_permanent(&error) {
                    return self
                        .give_up(key, version, Some(state.attempts + 1), reason)
                        .await;
                }
                return self.attempt_failed(document, state.attempts, reason).await;
            }
        };
        let result = match output::result_for(&document.task, &answer.text) {
            Ok(result) => result,
            Err(invalid) => {
                let reason = FailureReason::new("invalid_output", invalid.0);
                return self.attempt_failed(document, state.attempts, reason).await;
            }
        };
        let enrichment = Enrichment {
            result,
            model: answer.model,
            usage: answer.usage,
            processed_at: rfc3339_millis((self.clock)()),
        };
        let written = self
            .store
            .enrich(key, document.version, &enrichment)
            .await
            .map_err(store_failure)?;
        Ok(if written {
            DocumentDisposition::Enriched {
                model: enrichment.model,
            }
        } else {
            DocumentDisposition::Skipped(SkipReason::LostRace)
        })
    }

    /// Counts a failed attempt; the last one allowed makes the document `FAILED`.
    async fn attempt_failed(
        &self,
        document: &Document,
        seen_attempts: u32,
        reason: FailureReason,
    ) -> Result<DocumentDisposition, DocumentFailure> {
        let attempts = seen_attempts.saturating_add(1);
        if attempts >= self.settings.max_attempts {
            let reason = FailureReason::new(
                reason.code,
                format!("gave up after {attempts} attempts: {}", reason.message),
            );
            return self
                .give_up(
                    &document.key,
                    Some(document.version),
                    Some(attempts),
                    reason,
                )
                .await;
        }
        let counted = self
            .store
            .count_attempt(&document.key, document.version, attempts, &reason)
            .await
            .map_err(store_failure)?;
        if counted {
            Err(DocumentFailure::Retry(reason))
        } else {
            Ok(DocumentDisposition::Skipped(SkipReason::LostRace))
        }
    }

    async fn give_up(
        &self,
        key: &str,
        version: Option<u64>,
        attempts: Option<u32>,
        reason: FailureReason,
    ) -> Result<DocumentDisposition, DocumentFailure> {
        let failed_at = rfc3339_millis((self.clock)());
        let failed = self
            .store
            .fail(key, version, attempts, &reason, &failed_at)
            .await
            .map_err(store_failure)?;
        if failed {
            Err(DocumentFailure::Failed(reason))
        } else {
            Ok(DocumentDisposition::Skipped(SkipReason::LostRace))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};
    use std::collections::{HashMap, VecDeque};
    use std::sync::Mutex;

    #[derive(Debug, Clone)]
    struct Item {
        version: u64,
        status: Status,
        attempts: u32,
        result: Option<Value>,
        error: Option<FailureReason>,
    }

    #[derive(Default)]
    struct MemoryStore {
        items: Mutex<HashMap<String, Item>>,
    }

    impl MemoryStore {
        fn put(&self, key: &str, version: u64) {
            let item = Item {
                version,
                status: Status::Pending,
                attempts: 0,
                result: None,
                error: None,
            };
            self.items.lock().unwrap().insert(key.to_owned(), item);
        }

        fn get(&self, key: &str) -> Item {
            self.items.lock().unwrap()[key].clone()
        }

        fn pending_at(&self, key: &str, version: Option<u64>) -> bool {
            self.items.lock().unwrap().get(key).is_some_and(|i| {
                i.status == Status::Pending && version.is_none_or(|v| v == i.version)
            })
        }
    }

    impl DocumentStore for MemoryStore {
        async fn state(&self, key: &str) -> Result<Option<DocumentState>, GatewayError> {
            Ok(self.items.lock().unwrap().get(key).map(|i| DocumentState {
                version: Some(i.version),
                status: Some(i.status),
                attempts: i.attempts,
            }))
        }

        async fn enrich(
            &self,
            key: &str,
            version: u64,
            e: &Enrichment,
        ) -> Result<bool, GatewayError> {
            if !self.pending_at(key, Some(version)) {
                return Ok(false);
            }
            let mut items = self.items.lock().unwrap();
            let item = items.get_mut(key).unwrap();
            item.status = Status::Enriched;
            item.result = Some(e.result.clone());
            Ok(true)
        }

        async fn count_attempt(
            &self,
            key: &str,
            version: u64,
            attempts: u32,
            _: &FailureReason,
        ) -> Result<bool, GatewayError> {
            if !self.pending_at(key, Some(version)) {
                return Ok(false);
            }
            self.items.lock().unwrap().get_mut(key).unwrap().attempts = attempts;
            Ok(true)
        }

        async fn fail(
            &self,
            key: &str,
            version: Option<u64>,
            attempts: Option<u32>,
            reason: &FailureReason,
            _: &str,
        ) -> Result<bool, GatewayError> {
            if !self.pending_at(key, version) {
                return Ok(false);
            }
            let mut items = self.items.lock().unwrap();
            let item = items.get_mut(key).unwrap();
            item.status = Status::Failed;
            item.error = Some(reason.clone());
            item.attempts = attempts.unwrap_or(item.attempts);
            Ok(true)
        }
    }

    /// Answers from a script, then with `fallback`; counts calls.
    struct ScriptedModel {
        script: Mutex<VecDeque<Result<&'static str, GatewayError>>>,
        fallback: &'static str,
        calls: Mutex<u32>,
    }

    impl ScriptedModel {
        fn new(
            fallback: &'static str,
            script: impl IntoIterator<Item = Result<&'static str, GatewayError>>,
        ) -> Self {
            Self {
                script: Mutex::new(script.into_iter().collect()),
                fallback,
                calls: Mutex::new(0),
            }
        }

        fn calls(&self) -> u32 {
            *self.calls.lock().unwrap()
        }
    }

    impl ModelRunner for ScriptedModel {
        async fn run(
            &self,
            _: &str,
            _: &ConverseRequest,
            _: Option<Instant>,
        ) -> Result<ModelAnswer, GatewayError> {
            *self.calls.lock().unwrap() += 1;
            let next = self
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Ok(self.fallback));
            next.map(|text| ModelAnswer {
                text: text.to_owned(),
                model: "m".into(),
                usage: Usage::default(),
            })
        }
    }

    fn throttled() -> GatewayError {
        GatewayError::Upstream {
            kind: UpstreamKind::Throttled,
            message: "slow down".into(),
            retry_after: None,
        }
    }

    fn image(key: &str, version: u64, task: Value) -> Map<String, Value> {
        json!({"pk": {"S": key}, "version": {"N": version.to_string()}, "status": {"S": "PENDING"},
               "content": {"S": "Some text"}, "task": task})
        .as_object()
        .unwrap()
        .clone()
    }

    struct Run<'a> {
        store: &'a MemoryStore,
        model: &'a ScriptedModel,
        config: EnrichmentConfig,
    }

    impl Run<'_> {
        async fn insert(
            &self,
            image: &Map<String, Value>,
        ) -> Result<DocumentDisposition, DocumentFailure> {
            let processor = EnrichmentProcessor {
                store: self.store,
                runner: self.model,
                config: &self.config,
                settings: EnrichmentSettings { max_attempts: 3 },
                clock: || 0,
            };
            let empty = Map::new();
            processor
                .process(
                    StreamChange {
                        event_name: "INSERT",
                        new_image: image,
                        old_image: &empty,
                    },
                    None,
                )
                .await
        }
    }

    #[tokio::test]
    async fn enriches_once_and_treats_duplicates_and_stale_records_as_done() {
        let (store, model) = (MemoryStore::default(), ScriptedModel::new("A summary.", []));
        let run = Run {
            store: &store,
            model: &model,
            config: EnrichmentConfig::default(),
        };
        store.put("a", 1);
        let v1 = image("a", 1, json!({"S": "summarize"}));
        assert_eq!(
            run.insert(&v1).await,
            Ok(DocumentDisposition::Enriched { model: "m".into() })
        );
        assert_eq!(store.get("a").result, Some(json!("A summary.")));
        assert_eq!(
            run.insert(&v1).await,
            Ok(DocumentDisposition::Skipped(SkipReason::AlreadyEnriched))
        );

        store.put("b", 2);
        let stale = image("b", 1, json!({"S": "summarize"}));
        let superseded = DocumentDisposition::Skipped(SkipReason::Superseded {
            record: 1,
            current: Some(2),
        });
        assert_eq!(run.insert(&stale).await, Ok(superseded));
        assert_eq!(
            run.insert(&image("gone", 1, json!({"S": "summarize"})))
                .await,
            Ok(DocumentDisposition::Skipped(SkipReason::Deleted))
        );
        assert_eq!(model.calls(), 1);
    }

    #[tokio::test]
    async fn transient_failures_are_counted_then_the_document_fails() {
        let model =
            ScriptedModel::new("ok", [Err(throttled()), Err(throttled()), Err(throttled())]);
        let store = MemoryStore::default();
        let run = Run {
            store: &store,
            model: &model,
            config: EnrichmentConfig::default(),
        };
        store.put("a", 1);
        let record = image("a", 1, json!({"S": "summarize"}));
        for attempts in 1..=2 {
            let Err(DocumentFailure::Retry(reason)) = run.insert(&record).await else {
                panic!("not retried")
            };
            assert_eq!(reason.code, "model_throttled");
            assert_eq!(
                (store.get("a").status, store.get("a").attempts),
                (Status::Pending, attempts)
            );
        }
        let Err(DocumentFailure::Failed(reason)) = run.insert(&record).await else {
            panic!("not failed")
        };
        assert!(
            reason.message.starts_with("gave up after 3 attempts"),
            "{reason}"
        );
        assert_eq!(
            (store.get("a").status, store.get("a").attempts),
            (Status::Failed, 3)
        );
        // Redelivered after it failed: reported again, no model call.
        assert!(matches!(
            run.insert(&record).await,
            Err(DocumentFailure::Failed(_))
        ));
        assert_eq!(model.calls(), 3);
    }

    #[tokio::test]
    async fn invalid_output_is_retried_and_never_written() {
        let model = ScriptedModel::new("maybe", []);
        let store = MemoryStore::default();
        let run = Run {
            store: &store,
            model: &model,
            config: EnrichmentConfig::default(),
        };
        store.put("a", 1);
        let record = image(
            "a",
            1,
            json!({"M": {"type": {"S": "classify"}, "labels": {"L": [{"S": "yes"}, {"S": "no"}]}}}),
        );
        for _ in 0..2 {
            assert!(
                matches!(run.insert(&record).await, Err(DocumentFailure::Retry(r)) if r.code == "invalid_output")
            );
        }
        assert!(
            matches!(run.insert(&record).await, Err(DocumentFailure::Failed(r)) if r.code == "invalid_output")
        );
        let item = store.get("a");
        assert_eq!((item.status, item.result), (Status::Failed, None));
    }

    #[tokio::test]
    async fn permanent_problems_fail_the_document_at_once() {
        let invalid = GatewayError::Upstream {
            kind: UpstreamKind::Validation,
            message: "too long".into(),
            retry_after: None,
        };
        let model = ScriptedModel::new("ok", [Err(invalid)]);
        let store = MemoryStore::default();
        let run = Run {
            store: &store,
            model: &model,
            config: EnrichmentConfig::default(),
        };
        store.put("a", 1);
        let Err(DocumentFailure::Failed(reason)) =
            run.insert(&image("a", 1, json!({"S": "summarize"}))).await
        else {
            panic!()
        };
        assert_eq!(reason.code, "invalid_request");

        store.put("b", 1);
        let unknown = json!({"M": {"type": {"S": "template"}, "name": {"S": "nope"}}});
        let Err(DocumentFailure::Failed(reason)) = run.insert(&image("b", 1, unknown)).await else {
            panic!()
        };
        assert_eq!(reason.code, "unknown_template");

        store.put("c", 1);
        let Err(DocumentFailure::Failed(reason)) =
            run.insert(&image("c", 1, json!({"S": "translate"}))).await
        else {
            panic!()
        };
        assert_eq!(reason.code, "invalid_document");
        assert_eq!(store.get("c").status, Status::Failed);
        assert_eq!(model.calls(), 1);
    }
}
