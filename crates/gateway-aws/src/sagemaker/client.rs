//! `SageMakerModelClient`: the SageMaker-served models of the configuration, by model id, and
//! one SDK client (home region; SDK retries off, connect timeout only, no stall guard).

use crate::bedrock::CONNECT_TIMEOUT;
use crate::bedrock::error::{Phase, from_sdk};
use aws_sdk_sagemakerruntime::Client;
use aws_sdk_sagemakerruntime::config::StalledStreamProtectionConfig;
use aws_sdk_sagemakerruntime::config::retry::RetryConfig;
use aws_sdk_sagemakerruntime::config::timeout::TimeoutConfig;
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
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .disable_operation_timeout()
            .disable_operation_attempt_timeout()
            .build();
        let conf = aws_sdk_sagemakerruntime::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts)
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
        let send = self
            .client
            .invoke_endpoint()
            .endpoint_name(&model.endpoint)
            .set_inference_component_name(model.inference_component.clone())
            .content_type(JSON)
            .accept(JSON)
            .body(Blob::new(body.clone()))
            .send();
        // Boxed: the SDK's send futures are several KB (see the Bedrock client).
        let output = Box::pin(send)
            .await
            .map_err(|err| from_sdk(err, Phase::Call))?;
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
        let send = self
            .client
            .invoke_endpoint_with_response_stream()
            .endpoint_name(&model.endpoint)
            .set_inference_component_name(model.inference_component.clone())
            .content_type(JSON)
            .accept(JSON)
            .body(Blob::new(body.clone()))
            .send();
        let output = Box::pin(send)
            .await
            .map_err(|err| from_sdk(err, Phase::Call))?;
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
        let send = self
            .client
            .invoke_endpoint()
            .endpoint_name(&model.endpoint)
            .set_inference_component_name(model.inference_component.clone())
            .content_type(request.content_type.as_deref().unwrap_or(JSON))
            .set_accept(request.accept.clone())
            .body(Blob::new(request.body.clone()))
            .send();
        let output = Box::pin(send)
            .await
            .map_err(|err| from_sdk(err, Phase::Call))?;
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
        let send = self
            .client
            .invoke_endpoint_with_response_stream()
            .endpoint_name(&model.endpoint)
            .set_inference_component_name(model.inference_component.clone())
            .content_type(request.content_type.as_deref().unwrap_or(JSON))
            .set_accept(request.accept.clone())
            .body(Blob::new(request.body.clone()))
            .send();
        let output = Box::pin(send)
            .await
            .map_err(|err| from_sdk(err, Phase::Call))?;
        let mut receiver = output.body;
        Ok(Box::pin(async_stream::stream! {
            loop {
                match receiver.recv().await {
                    Ok(Some(ResponseStream::PayloadPart(part))) => {
                        if let Some(bytes) = part.bytes {
                            yield Ok(InvokeChunk { bytes: bytes.into_inner() });
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(err) => {
                        yield Err(from_sdk(err, Phase::InStream));
                        break;
                    }
                }
            }
        }))
    }
}
