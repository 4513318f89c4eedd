//! Lambda entry point: config and clients once at cold start, then serve the router.
//! `API_RESPONSE_MODE=streaming` serves through Lambda response streaming (Function URL with
//! RESPONSE_STREAM); the default, `buffered`, serves API Gateway's buffered integration.

use api::{AppState, router};
use gateway::config::GatewayConfig;
use gateway_aws::bedrock::BedrockModelClient;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_aws::telemetry::init();
    let config = GatewayConfig::from_env(|k| std::env::var(k).ok())?;
    let sdk = gateway_aws::sdk_config().await;
    let models = BedrockModelClient::from_sdk_config(&sdk, &[]);
    let app = router(AppState::new(config, models));
    match std::env::var("API_RESPONSE_MODE").as_deref() {
        Ok("streaming") => lambda_http::run_with_streaming_response(app).await,
        _ => lambda_http::run(app).await,
    }
}
