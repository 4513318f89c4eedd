//! Lambda entry point: config and clients once at cold start, then serve the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_aws::telemetry::init();
    let sdk = gateway_aws::lambda_sdk_config();
    let state = webhook::AppState::from_env(&sdk, |k| std::env::var(k).ok())?;
    lambda_http::run(webhook::router(state)).await
}
