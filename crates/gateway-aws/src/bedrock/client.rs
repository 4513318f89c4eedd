//! `ModelClient` over the Bedrock Runtime SDK: one SDK client per region, one HTTP attempt per
//! call. Retries, fallbacks and deadlines belong to the gateway's rules, so the SDK's own retry
//! loop is switched off here.

use crate::bedrock::convert::request::ConverseParts;
use crate::bedrock::convert::response::converse_response;
use crate::bedrock::error::sent;
use crate::bedrock::stream::{converse_events, invoke_chunks};
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::config::{Region, StalledStreamProtectionConfig};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ConverseTokensRequest, CountTokensInput as SdkCountTokensInput, InvokeModelTokensRequest,
};
use gateway::GatewayError;
use gateway::api::converse::{ConverseRequest, ConverseResponse};
use gateway::api::count_tokens::{CountTokensInput, CountTokensResponse};
use gateway::api::invoke::{InvokeRequest, InvokeResponse};
use gateway::ports::{ConverseEventStream, InvokeChunkStream, ModelClient, Target};
use std::collections::HashMap;
use std::time::Duration;

/// How long to wait for a TCP + TLS connection before the attempt counts as a network failure.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Bedrock Runtime clients: the home region's, and one per region that routes may fail over to.
#[derive(Debug, Clone)]
pub struct BedrockModelClient {
    home: Client,
    others: HashMap<String, Client>,
}

impl BedrockModelClient {
    /// Wraps prebuilt clients (tests, custom endpoints). `others` is keyed by region name. The
    /// clients are used as given: build them without SDK retries, as `from_sdk_config` does.
    pub fn new(home: Client, others: HashMap<String, Client>) -> Self {
        Self { home, others }
    }

    /// One client for the config's region and one per `extra_regions` entry, with SDK retries
    /// disabled and only a connect timeout. Makes no network call.
    pub fn from_sdk_config(config: &aws_config::SdkConfig, extra_regions: &[String]) -> Self {
        let home_region = config.region().map(|region| region.as_ref().to_owned());
        let others = extra_regions
            .iter()
            .filter(|region| Some(region.as_str()) != home_region.as_deref())
            .map(|region| {
                let client = build_client(config, Some(Region::new(region.clone())));
                (region.clone(), client)
            })
            .collect();
        Self {
            home: build_client(config, None),
            others,
        }
    }

    fn client_for(&self, target: &Target) -> Result<&Client, GatewayError> {
        if target.model_id.is_empty() {
            return Err(GatewayError::invalid(
                "modelId",
                "modelId must not be empty",
            ));
        }
        let Some(region) = target.region.as_deref() else {
            return Ok(&self.home);
        };
        if let Some(client) = self.others.get(region) {
            return Ok(client);
        }
        if self
            .home
            .config()
            .region()
            .is_some_and(|home| home.as_ref() == region)
        {
            return Ok(&self.home);
        }
        // Routes come from validated configuration, so an unknown region is our bug, not the caller's.
        Err(GatewayError::Internal(format!(
            "no Bedrock client configured for region '{region}'"
        )))
    }
}

/// The timeouts of every model-facing client (Bedrock, SageMaker, Knowledge Bases): the caller
/// enforces each attempt's deadline, so only a connect timeout and no SDK-level overall one.
pub(crate) fn connect_timeout_only() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .disable_operation_timeout()
        .disable_operation_attempt_timeout()
        .build()
}

/// For the clients' tests: an SDK config for `region` that makes no network call.
#[cfg(test)]
pub(crate) fn test_sdk_config(region: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .region(Region::new(region.to_owned()))
        .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
        .build()
}

/// For the clients' tests: SDK retries off and [`connect_timeout_only`].
#[cfg(test)]
pub(crate) fn assert_no_retries_and_connect_timeout_only(
    retry: Option<&RetryConfig>,
    timeouts: Option<&TimeoutConfig>,
) {
    assert_eq!(retry.map(RetryConfig::max_attempts), Some(1));
    let timeouts = timeouts.unwrap();
    assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
    assert_eq!(timeouts.operation_timeout(), None);
    assert_eq!(timeouts.operation_attempt_timeout(), None);
}

fn build_client(config: &aws_config::SdkConfig, region: Option<Region>) -> Client {
    let mut builder = aws_sdk_bedrockruntime::config::Builder::from(config)
        .retry_config(RetryConfig::disabled())
        .timeout_config(connect_timeout_only())
        // A model may think for many seconds between stream events; the stall guard would cut it.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    if region.is_some() {
        builder = builder.region(region);
    }
    Client::from_conf(builder.build())
}

impl ModelClient for BedrockModelClient {
    #[tracing::instrument(skip_all, fields(model = %target.model_id, region = ?target.region))]
    async fn converse(
        &self,
        target: &Target,
        request: &ConverseRequest,
    ) -> Result<ConverseResponse, GatewayError> {
        let client = self.client_for(target)?;
        let parts = ConverseParts::from_request(request)?;
        let builder = parts.fill_converse(client.converse().model_id(&target.model_id));
        converse_response(sent(builder.send()).await?)
    }

    #[tracing::instrument(skip_all, fields(model = %target.model_id, region = ?target.region))]
    async fn converse_stream(
        &self,
        target: &Target,
        request: &ConverseRequest,
    ) -> Result<ConverseEventStream, GatewayError> {
        let client = self.client_for(target)?;
        let parts = ConverseParts::from_request(request)?;
        let builder =
            parts.fill_converse_stream(client.converse_stream().model_id(&target.model_id));
        Ok(converse_events(sent(builder.send()).await?.stream))
    }

    #[tracing::instrument(skip_all, fields(model = %target.model_id, region = ?target.region))]
    async fn invoke(
        &self,
        target: &Target,
        request: &InvokeRequest,
    ) -> Result<InvokeResponse, GatewayError> {
        let client = self.client_for(target)?;
        let send = client
            .invoke_model()
            .model_id(&target.model_id)
            .body(Blob::new(request.body.clone()))
            .set_content_type(request.content_type.clone())
            .set_accept(request.accept.clone())
            .send();
        let output = sent(send).await?;
        Ok(InvokeResponse {
            body: output.body.into_inner(),
            content_type: output.content_type,
        })
    }

    #[tracing::instrument(skip_all, fields(model = %target.model_id, region = ?target.region))]
    async fn invoke_stream(
        &self,
        target: &Target,
        request: &InvokeRequest,
    ) -> Result<InvokeChunkStream, GatewayError> {
        let client = self.client_for(target)?;
        let send = client
            .invoke_model_with_response_stream()
            .model_id(&target.model_id)
            .body(Blob::new(request.body.clone()))
            .set_content_type(request.content_type.clone())
            .set_accept(request.accept.clone())
            .send();
        Ok(invoke_chunks(sent(send).await?.body))
    }

    #[tracing::instrument(skip_all, fields(model = %target.model_id, region = ?target.region))]
    async fn count_tokens(
        &self,
        target: &Target,
        input: &CountTokensInput,
    ) -> Result<CountTokensResponse, GatewayError> {
        let client = self.client_for(target)?;
        let input = match input {
            CountTokensInput::Converse(request) => {
                let parts = ConverseParts::from_request(request)?;
                SdkCountTokensInput::Converse(
                    ConverseTokensRequest::builder()
                        .set_messages(Some(parts.messages))
                        .set_system((!parts.system.is_empty()).then_some(parts.system))
                        .set_tool_config(parts.tool_config)
                        .set_additional_model_request_fields(parts.additional_model_request_fields)
                        .build(),
                )
            }
            CountTokensInput::InvokeModel(body) => SdkCountTokensInput::InvokeModel(
                InvokeModelTokensRequest::builder()
                    .body(Blob::new(body.clone()))
                    .build()
                    .map_err(|e| GatewayError::invalid("input.invokeModel", e.to_string()))?,
            ),
        };
        let send = client
            .count_tokens()
            .model_id(&target.model_id)
            .input(input)
            .send();
        let output = sent(send).await?;
        Ok(CountTokensResponse {
            input_tokens: u32::try_from(output.input_tokens).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_have_no_sdk_retries_and_only_a_connect_timeout() {
        let clients = BedrockModelClient::from_sdk_config(
            &test_sdk_config("us-east-1"),
            &["us-west-2".into()],
        );
        for client in [&clients.home, &clients.others["us-west-2"]] {
            let config = client.config();
            assert_no_retries_and_connect_timeout_only(
                config.retry_config(),
                config.timeout_config(),
            );
        }
        assert_eq!(
            clients.others["us-west-2"]
                .config()
                .region()
                .unwrap()
                .as_ref(),
            "us-west-2"
        );
    }

    #[test]
    fn targets_pick_their_region_client() {
        let clients = BedrockModelClient::from_sdk_config(
            &test_sdk_config("us-east-1"),
            &["us-west-2".into(), "us-east-1".into()],
        );
        assert!(
            !clients.others.contains_key("us-east-1"),
            "home region is not duplicated"
        );
        let region_of = |target: &Target| {
            clients
                .client_for(target)
                .unwrap()
                .config()
                .region()
                .unwrap()
                .as_ref()
                .to_owned()
        };
        assert_eq!(region_of(&Target::new("m")), "us-east-1");
        assert_eq!(region_of(&Target::in_region("m", "us-east-1")), "us-east-1");
        assert_eq!(region_of(&Target::in_region("m", "us-west-2")), "us-west-2");
        let unknown = clients
            .client_for(&Target::in_region("m", "eu-west-1"))
            .unwrap_err();
        assert!(matches!(unknown, GatewayError::Internal(_)));
        let empty = clients.client_for(&Target::new("")).unwrap_err();
        assert_eq!(empty.field(), Some("modelId"));
    }
}
