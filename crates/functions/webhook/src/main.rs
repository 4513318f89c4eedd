//! Lambda entry point: config and clients once at cold start, then serve the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_aws::telemetry::init();
    let sdk = gateway_aws::lambda_sdk_config();
    // Secrets named by `*_SECRET_ID` come from Secrets Manager, not the environment.
    let env = |k: &str| std::env::var(k).ok();
    let secrets = gateway_aws::secrets::secret_env(&sdk, &env).await?;
    let state = webhook::AppState::from_env(&sdk, secrets.over(env))?;
    lambda_http::run(webhook::router(state)).await
}
