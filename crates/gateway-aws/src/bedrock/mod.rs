//! The `ModelClient` port over the Bedrock Runtime SDK.
//!
//! - `client`: `BedrockModelClient`, one SDK client per region, no SDK retries.
//! - `convert`: the gateway's Bedrock-shaped types to and from the SDK's types.
//! - `stream`: SDK event receivers (Bedrock's, and SageMaker's unchanged invoke stream) as the
//!   gateway's event streams.
//! - `error`: every SDK failure as a `GatewayError`, in one place (SageMaker's and Knowledge
//!   Bases' too), and the one boxed send of an SDK call.

mod client;
mod convert;
pub(crate) mod error;
pub(crate) mod stream;

pub(crate) use client::connect_timeout_only;
pub use client::{BedrockModelClient, CONNECT_TIMEOUT};
#[cfg(test)]
pub(crate) use client::{assert_no_retries_and_connect_timeout_only, test_sdk_config};
