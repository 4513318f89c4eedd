//! The `ModelClient` port over the Bedrock Runtime SDK.
//!
//! - `client`: `BedrockModelClient`, one SDK client per region, no SDK retries.
//! - `convert`: the gateway's Bedrock-shaped types to and from the SDK's types.
//! - `stream`: SDK event receivers as the gateway's event streams.
//! - `error`: every SDK failure as a `GatewayError`, in one place.

mod client;
mod convert;
pub(crate) mod error;
pub(crate) mod stream;

pub(crate) use client::connect_timeout_only;
pub use client::{BedrockModelClient, CONNECT_TIMEOUT};
