//! The gateway's rules. This crate knows no AWS SDK type: adapters in `gateway-aws`
//! implement its traits, and the Lambda functions wire the two together.

pub mod api;
pub mod clock;
pub mod config;
pub mod controls;
pub mod enrichment;
pub mod env;
pub mod error;
pub mod jobs;
pub mod knowledge_base;
pub mod metered;
pub mod model_id;
pub mod ports;
pub mod resilience;
pub mod sagemaker;
pub mod secrets;
pub mod service;
pub mod webhook;

#[cfg(test)]
mod fuzz_tests;

pub use error::{GatewayError, UpstreamKind};
