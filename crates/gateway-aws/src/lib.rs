//! Adapters: the gateway's ports over the real AWS SDK clients. Endpoints come from the standard
//! `AWS_ENDPOINT_URL*` variables, so no code here knows whether it talks to AWS or an emulator.

pub mod bedrock;
pub mod callback;
pub mod control_store;
pub mod documents;
mod dynamo_attr;
pub mod jobs;
pub mod knowledge_base;
pub mod lambda_batch;
pub mod models;
pub mod resilience_store;
pub mod sagemaker;
mod sdk;
pub mod secrets;
pub mod telemetry;
pub mod webhook_dedupe;

pub use sdk::{lambda_sdk_config, lambda_sdk_config_from, sdk_config};
