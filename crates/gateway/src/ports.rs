//! The capabilities the gateway's rules need from the outside world, one small trait each, so
//! every Lambda function gets only the adapters (and IAM permissions) it uses.

use crate::api::converse::{ConverseRequest, ConverseResponse};
use crate::api::count_tokens::{CountTokensInput, CountTokensResponse};
use crate::api::invoke::{InvokeChunk, InvokeRequest, InvokeResponse};
use crate::api::stream::StreamEvent;
use crate::error::GatewayError;
use futures_core::Stream;
use std::future::Future;
use std::pin::Pin;

/// Events of a ConverseStream call as they arrive. An `Err` item ends the stream.
pub type ConverseEventStream =
    Pin<Box<dyn Stream<Item = Result<StreamEvent, GatewayError>> + Send>>;

/// Chunks of an InvokeModelWithResponseStream call as they arrive. An `Err` item ends the stream.
pub type InvokeChunkStream = Pin<Box<dyn Stream<Item = Result<InvokeChunk, GatewayError>> + Send>>;

/// Where one attempt goes: a model id (base model, inference profile or ARN) and, for
/// cross-region failover, the region whose endpoint to call (`None`: the home region).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub model_id: String,
    pub region: Option<String>,
}

impl Target {
    pub fn new(model_id: impl Into<String>) -> Self {
        Self {
            model_id: model_id.into(),
            region: None,
        }
    }

    pub fn in_region(model_id: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            model_id: model_id.into(),
            region: Some(region.into()),
        }
    }
}

/// A Bedrock Runtime. One attempt per call: retries, fallbacks and breakers live in the rules,
/// so the implementation must not retry on its own.
pub trait ModelClient: Send + Sync {
    fn converse(
        &self,
        target: &Target,
        request: &ConverseRequest,
    ) -> impl Future<Output = Result<ConverseResponse, GatewayError>> + Send;

    /// Resolves once the response headers arrived (so errors before the first event are plain
    /// errors a fallback can act on); the events then follow on the stream.
    fn converse_stream(
        &self,
        target: &Target,
        request: &ConverseRequest,
    ) -> impl Future<Output = Result<ConverseEventStream, GatewayError>> + Send;

    fn invoke(
        &self,
        target: &Target,
        request: &InvokeRequest,
    ) -> impl Future<Output = Result<InvokeResponse, GatewayError>> + Send;

    fn invoke_stream(
        &self,
        target: &Target,
        request: &InvokeRequest,
    ) -> impl Future<Output = Result<InvokeChunkStream, GatewayError>> + Send;

    /// CountTokens: the input tokens `input` would use on the target, without running it.
    fn count_tokens(
        &self,
        target: &Target,
        input: &CountTokensInput,
    ) -> impl Future<Output = Result<CountTokensResponse, GatewayError>> + Send;
}
