//! Lambda entry point: config and clients once at cold start, then serve the router.
//! `API_RESPONSE_MODE=streaming` serves through Lambda response streaming (Function URL with
//! RESPONSE_STREAM); the default, `buffered`, serves API Gateway's buffered integration.

use api::{AppState, router};

// mimalloc: fewer instructions per request than glibc's malloc (BENCHMARKS.md, profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Lambda sends one invocation at a time: a single-threaded runtime serves it without handing
// wake-ups between worker threads (less CPU per request, BENCHMARKS.md), and starts no threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_aws::telemetry::init();
    let sdk = gateway_aws::lambda_sdk_config();
    // Secrets named by `*_SECRET_ID` come from Secrets Manager, not the environment.
    let env = |k: &str| std::env::var(k).ok();
    let secrets = gateway_aws::secrets::secret_env(&sdk, &env).await?;
    let app = router(AppState::from_env(&sdk, secrets.over(env))?);
    match std::env::var("API_RESPONSE_MODE").as_deref() {
        Ok("streaming") => lambda_http::run_with_streaming_response(app).await,
        _ => lambda_http::run(app).await,
    }
}
