//! `SageMakerModelClient`: the SageMaker-served models of the configuration, by model id, and
//! one SDK client (home region; SDK retries off, connect timeout only, no stall guard).

use crate::bedrock::connect_timeout_only;
use crate::bedrock::error::{Phase, from_sdk, sent};
use crate::bedrock::stream::items;
use aws_sdk_sagemakerruntime::Client;
use aws_sdk_sagemakerruntime::config::StalledStreamProtectionConfig;
use aws_sdk_sagemakerruntime::config::retry::RetryConfig;
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_sdk_sagemakerruntime::types::ResponseStream;
use gateway::GatewayError;
use gateway::api::converse::{ConverseRequest, ConverseResponse};
use gateway::api::invoke::{InvokeChunk, InvokeRequest, InvokeResponse};
use gateway::config::GatewayConfig;
use gateway::ports::{ConverseEventStream, InvokeChunkStream};
use gateway::sagemaker::stream::StreamDecoder;
use gateway::sagemaker::{SageMakerModel, dialect};
use std::collections::HashMap;
use std::time::Instant;

const JSON: &str = "application/json";

/// InvokeEndpoint and InvokeEndpointWithResponseStream take the same input, but the SDK's
/// builders share no trait: one body fills either and sends it.
macro_rules! send_to_endpoint {
    ($builder:expr, $model:expr, $content_type:expr, $accept:expr, $body:expr) => {
        sent(
            $builder
                .endpoint_name(&$model.endpoint)
                .set_inference_component_name($model.inference_component.clone())
                .content_type($content_type)
                .set_accept($accept)
                .body(Blob::new($body))
                .send(),
        )
    };
}

#[derive(Debug, Clone)]
pub struct SageMakerModelClient {
    client: Client,
    /// Model id → its endpoint.
    models: HashMap<String, SageMakerModel>,
}

impl SageMakerModelClient {
    /// `None` when no configured model is served by SageMaker. Makes no network call.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, config: &GatewayConfig) -> Option<Self> {
        let models: HashMap<_, _> = config
            .models
            .iter()
            .filter_map(|m| Some((m.id.clone(), m.sagemaker.clone()?)))
            .collect();
        if models.is_empty() {
            return None;
        }
        let conf = aws_sdk_sagemakerruntime::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .timeout_config(connect_timeout_only())
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        Some(Self {
            client: Client::from_conf(conf),
            models,
        })
    }

    /// The endpoint model id `model_id` names, if SageMaker serves it.
    pub fn endpoint(&self, model_id: &str) -> Option<&SageMakerModel> {
        self.models.get(model_id)
    }

    #[tracing::instrument(skip_all, fields(endpoint = %model.endpoint))]
    pub async fn converse(
        &self,
        model: &SageMakerModel,
        request: &ConverseRequest,
    ) -> Result<ConverseResponse, GatewayError> {
        let body = dialect::request_body(model.dialect, request, false)?;
        let started = Instant::now();
        let accept = Some(JSON.to_owned());
        let operation = self.client.invoke_endpoint();
        let output = send_to_endpoint!(operation, model, JSON, accept, body.clone()).await?;
        let answer = output.body.map(Blob::into_inner).unwrap_or_default();
        let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        dialect::response(model.dialect, &answer, &body, latency)
    }

    #[tracing::instrument(skip_all, fields(endpoint = %model.endpoint))]
    pub async fn converse_stream(
        &self,
        model: &SageMakerModel,
        request: &ConverseRequest,
    ) -> Result<ConverseEventStream, GatewayError> {
        let body = dialect::request_body(model.dialect, request, true)?;
        let started = Instant::now();
        let accept = Some(JSON.to_owned());
        let operation = self.client.invoke_endpoint_with_response_stream();
        let output = send_to_endpoint!(operation, model, JSON, accept, body.clone()).await?;
        let mut receiver = output.body;
        let mut decoder = StreamDecoder::new(model.dialect, &body);
        Ok(Box::pin(async_stream::stream! {
            loop {
                match receiver.recv().await {
                    Ok(Some(ResponseStream::PayloadPart(part))) => {
                        let bytes = part.bytes.map(Blob::into_inner).unwrap_or_default();
                        match decoder.feed(&bytes) {
                            Ok(events) => for event in events { yield Ok(event) },
                            Err(err) => { yield Err(err); return; }
                        }
                    }
                    // A future event kind: nothing the caller could use.
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(err) => {
                        yield Err(from_sdk(err, Phase::InStream));
                        return;
                    }
                }
            }
            let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match decoder.finish(latency) {
                Ok(events) => for event in events { yield Ok(event) },
                Err(err) => yield Err(err),
            }
        }))
    }

    /// The caller's body as is (SageMaker's own wire, or InvokeModel naming the model).
    #[tracing::instrument(skip_all, fields(endpoint = %model.endpoint))]
    pub async fn invoke(
        &self,
        model: &SageMakerModel,
        request: &InvokeRequest,
    ) -> Result<InvokeResponse, GatewayError> {
        let content_type = request.content_type.as_deref().unwrap_or(JSON);
        let (accept, body) = (request.accept.clone(), request.body.clone());
        let operation = self.client.invoke_endpoint();
        let output = send_to_endpoint!(operation, model, content_type, accept, body).await?;
        Ok(InvokeResponse {
            content_type: output.content_type.unwrap_or_else(|| JSON.to_owned()),
            body: output.body.map(Blob::into_inner).unwrap_or_default(),
        })
    }

    /// The payload parts as they arrive, unchanged.
    #[tracing::instrument(skip_all, fields(endpoint = %model.endpoint))]
    pub async fn invoke_stream(
        &self,
        model: &SageMakerModel,
        request: &InvokeRequest,
    ) -> Result<InvokeChunkStream, GatewayError> {
        let content_type = request.content_type.as_deref().unwrap_or(JSON);
        let (accept, body) = (request.accept.clone(), request.body.clone());
        let operation = self.client.invoke_endpoint_with_response_stream();
        let output = send_to_endpoint!(operation, model, content_type, accept, body).await?;
        Ok(items(output.body, |event| match event {
            ResponseStream::PayloadPart(part) => Some(InvokeChunk {
                bytes: part.bytes?.into_inner(),
            }),
            _ => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::{assert_no_retries_and_connect_timeout_only, test_sdk_config};

    #[test]
    fn the_client_has_no_sdk_retries_and_only_a_connect_timeout() {
        let sdk = test_sdk_config("us-east-1");
        let config = GatewayConfig::parse(
            "GATEWAY_CONFIG",
            r#"{"models":[{"id":"a","sagemaker":{"endpoint":"ep","dialect":"chat"}}],"routes":{}}"#,
        )
        .unwrap();
        let sagemaker = SageMakerModelClient::from_sdk_config(&sdk, &config).unwrap();
        let config = sagemaker.client.config();
        assert_no_retries_and_connect_timeout_only(config.retry_config(), config.timeout_config());
    }
}
