//! The crate's integration tests as one test binary: one link instead of one per file,
//! which keeps a clean build's disk use and link time down. Each module is one former file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests read the wall clock and call adapters directly: the "one of" rules bind production code.
#![allow(clippy::disallowed_methods)] // test code: fail loudly

mod common;
mod controls_support;

mod attack_governance;
mod attack_red5;
mod attack_sagemaker_kb;
mod attack_sagemaker_kb_red3;
mod bedrock_wire;
mod bedrock_wire_more;
mod controls_budget;
mod controls_cache;
mod controls_hot_path;
mod controls_keys;
mod controls_limits;
mod controls_sigv4;
mod converse_routes;
mod embeddings_routes;
mod error_dialects;
mod fuzz;
mod lambda_events;
mod lambda_streaming;
mod messages_routes;
mod openai_routes;
mod openapi_doc;
mod python_clients;
mod python_openai_more;
mod resilience_breaker;
mod resilience_fallback;
mod resilience_routing;
mod responses_routes;
mod robustness;
mod sagemaker_kb;
mod task_routes;
