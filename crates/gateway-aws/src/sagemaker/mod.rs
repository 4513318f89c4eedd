//! SageMaker endpoints as models: `InvokeEndpoint` and `InvokeEndpointWithResponseStream` over
//! `aws-sdk-sagemakerruntime`, with the payload each model's dialect needs (built by
//! `gateway::sagemaker`). One attempt per call, as for Bedrock.
//!
//! - `client`: `SageMakerModelClient`, the endpoints of the configured models.
//! - `error`: SageMaker's exceptions in the table Bedrock's errors use.

mod client;
mod error;

pub use client::SageMakerModelClient;
