//! Adapters: the gateway's ports over the real AWS SDK clients. Endpoints come from the standard
//! `AWS_ENDPOINT_URL*` variables, so no code here knows whether it talks to AWS or an emulator.

pub mod bedrock;
pub mod callback;
pub mod controls;
pub mod documents;
pub mod event_source;
pub mod jobs;
pub mod resilience_store;
pub mod telemetry;

/// The SDK configuration from the environment, loaded once at cold start. Reads only
/// environment and files; credentials are fetched lazily on the first call, not here.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
