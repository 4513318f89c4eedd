//! Lambda entry point: config and clients once at cold start, then serve the router.

// mimalloc: fewer instructions per allocation than glibc's malloc (BENCHMARKS.md, profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Lambda sends one invocation at a time: a single-threaded runtime runs it (and a batch's
// records, concurrently) without handing wake-ups between threads, and starts no threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_aws::telemetry::init();
    let sdk = gateway_aws::lambda_sdk_config();
    // Secrets named by `*_SECRET_ID` come from Secrets Manager, not the environment.
    let env = |k: &str| std::env::var(k).ok();
    let secrets = gateway_aws::secrets::secret_env(&sdk, &env).await?;
    let state = webhook::AppState::from_env(&sdk, secrets.over(env))?;
    lambda_http::run(webhook::router(state)).await
}
