//! Lambda entry point: config and clients once, then handle SQS batches.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use worker::LambdaWorker;

// mimalloc: fewer instructions per allocation than glibc's malloc (BENCHMARKS.md, profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Lambda sends one invocation at a time: a single-threaded runtime runs it (and a batch's
// records, concurrently) without handing wake-ups between threads, and starts no threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    gateway_aws::telemetry::init();
    let sdk = gateway_aws::lambda_sdk_config();
    // Secrets named by `*_SECRET_ID` come from Secrets Manager, not the environment.
    let env = |k: &str| std::env::var(k).ok();
    let secrets = gateway_aws::secrets::secret_env(&sdk, &env).await?;
    let (worker, callbacks) = LambdaWorker::from_env(&sdk, secrets.over(env))?;
    if callbacks.is_none() {
        tracing::warn!("JOBS_QUEUE_URL is not set: callbacks will not be delivered");
    }
    let (worker, callbacks) = (&worker, callbacks.as_ref());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(worker.handle_with(event.payload, callbacks).await)
    }))
    .await
}
