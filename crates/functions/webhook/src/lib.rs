//! The webhook function: `POST /webhooks/{source}` verifies the sender's signature, drops
//! redeliveries, maps the payload to a model request and queues it as an async job whose
//! result the worker POSTs to the callback URL. One axum router, hosted by `lambda_http` in
//! Lambda and by a TCP listener locally and in tests.
//!
//! Where a delivery goes: `handler.rs`; what a source is: `config.rs`.

pub mod app;
pub mod config;
/// Remembering deliveries (the adapter over the state table).
pub use gateway_aws::webhook_dedupe as dedupe;
mod error;
mod handler;
mod mapping;
mod request_id;
pub mod state;
pub mod template;

pub use app::router;
pub use state::{AppState, EpochClock, SharedState};
