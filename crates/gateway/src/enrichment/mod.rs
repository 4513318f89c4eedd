//! Enriching documents written to the documents table (DynamoDB Streams → Bedrock → write-back).
//!
//! An application writes an item with `status = PENDING`, a `version`, its `content` and a
//! `task`; the stream-processor function sees the stream record, asks a model, validates the
//! answer against the task, and writes the enrichment back under a condition on the version.
//!
//! - [`document`]: the item's attributes, the task shapes, DynamoDB-JSON images → documents.
//! - [`triage`]: which stream records need work; the in-code loop guard.
//! - [`prompt`]: the Converse request per task, and the named prompt templates' configuration.
//! - [`output`]: what a model answer must look like to be written (labels, JSON schema).
//! - [`schema`]: the JSON Schema subset `extract` tasks may use.
//! - [`processor`]: one record end to end over the [`DocumentStore`] and [`ModelRunner`] ports.
//!
//! No AWS type appears here: stream images arrive as DynamoDB JSON (`{"S": "..."}`) in
//! `serde_json` values, exactly as they appear in the Lambda event.

pub mod document;
pub mod output;
pub mod processor;
pub mod prompt;
pub mod schema;
mod time;
pub mod triage;

pub use document::{Document, DocumentError, Status, Task};
pub use processor::{
    DocumentDisposition, DocumentFailure, DocumentState, DocumentStore, Enrichment,
    EnrichmentProcessor, EnrichmentSettings, FailureReason, ModelAnswer, ModelRunner,
};
pub use prompt::{EnrichmentConfig, PromptTemplate};
pub use time::rfc3339_millis;
pub use triage::{SkipReason, StreamChange, Triage, triage};
