//! The API function: one axum router, hosted by `lambda_http` in Lambda and by a plain TCP
//! listener locally and in tests. Where a request goes: `app.rs` lists every route; what
//! it finds there: `state.rs`.

pub mod app;
mod body;
mod context;
mod error_response;
mod headers;
pub mod http_controls;
pub mod openapi;
mod principal;
mod routes;
mod sse;
pub mod state;
mod wire;

pub use app::router;
pub use http_controls::{Controls, MetricsSink};
pub use state::{AppState, JobsBackend, SharedState};
