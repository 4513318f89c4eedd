//! The `ModelClient` the functions use: each target goes to Bedrock, or to the SageMaker
//! endpoint its configured model names. To the router an endpoint is just a model, so
//! fallbacks, groups, breakers and prices apply to it unchanged.

use crate::bedrock::BedrockModelClient;
use crate::sagemaker::SageMakerModelClient;
use gateway::GatewayError;
use gateway::api::converse::{ConverseRequest, ConverseResponse};
use gateway::api::count_tokens::{CountTokensInput, CountTokensResponse};
use gateway::api::invoke::{InvokeRequest, InvokeResponse};
use gateway::config::GatewayConfig;
use gateway::ports::{ConverseEventStream, InvokeChunkStream, ModelClient, Target};

#[derive(Debug, Clone)]
pub struct GatewayModelClient {
    bedrock: BedrockModelClient,
    sagemaker: Option<SageMakerModelClient>,
}

impl From<BedrockModelClient> for GatewayModelClient {
    /// Bedrock only: no model is served by SageMaker.
    fn from(bedrock: BedrockModelClient) -> Self {
        Self {
            bedrock,
            sagemaker: None,
        }
    }
}

impl GatewayModelClient {
    pub fn new(bedrock: BedrockModelClient, sagemaker: Option<SageMakerModelClient>) -> Self {
        Self { bedrock, sagemaker }
    }

    /// Bedrock clients for every region the config names, and a SageMaker client when a model
    /// is served by an endpoint. Makes no network call.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, config: &GatewayConfig) -> Self {
        Self {
            bedrock: BedrockModelClient::from_sdk_config(sdk, &config.regions()),
            sagemaker: SageMakerModelClient::from_sdk_config(sdk, config),
        }
    }

    fn sagemaker(
        &self,
        target: &Target,
    ) -> Option<(&SageMakerModelClient, &gateway::sagemaker::SageMakerModel)> {
        let client = self.sagemaker.as_ref()?;
        Some((client, client.endpoint(&target.model_id)?))
    }
}

// A model client dispatching to the one that serves the target: not a caller of its own.
#[allow(clippy::disallowed_methods)]
impl ModelClient for GatewayModelClient {
    async fn converse(
        &self,
        target: &Target,
        request: &ConverseRequest,
    ) -> Result<ConverseResponse, GatewayError> {
        match self.sagemaker(target) {
            Some((client, model)) => client.converse(model, request).await,
            None => self.bedrock.converse(target, request).await,
        }
    }

    async fn converse_stream(
        &self,
        target: &Target,
        request: &ConverseRequest,
    ) -> Result<ConverseEventStream, GatewayError> {
        match self.sagemaker(target) {
            Some((client, model)) => client.converse_stream(model, request).await,
            None => self.bedrock.converse_stream(target, request).await,
        }
    }

    async fn invoke(
        &self,
        target: &Target,
        request: &InvokeRequest,
    ) -> Result<InvokeResponse, GatewayError> {
        match self.sagemaker(target) {
            Some((client, model)) => client.invoke(model, request).await,
            None => self.bedrock.invoke(target, request).await,
        }
    }

    async fn invoke_stream(
        &self,
        target: &Target,
        request: &InvokeRequest,
    ) -> Result<InvokeChunkStream, GatewayError> {
        match self.sagemaker(target) {
            Some((client, model)) => client.invoke_stream(model, request).await,
            None => self.bedrock.invoke_stream(target, request).await,
        }
    }

    async fn count_tokens(
        &self,
        target: &Target,
        input: &CountTokensInput,
    ) -> Result<CountTokensResponse, GatewayError> {
        if self.sagemaker(target).is_some() {
            return Err(GatewayError::invalid(
                "modelId",
                "CountTokens is not available for a model served by a SageMaker endpoint",
            ));
        }
        self.bedrock.count_tokens(target, input).await
    }
}
