//! Lambda entry point: config and clients once, then handle documents-stream batches.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use stream_processor::{LambdaProcessor, deadline_from};
use tracing::Instrument;

// mimalloc: fewer instructions per allocation than glibc's malloc (BENCHMARKS.md, profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Lambda sends one invocation at a time: a single-threaded runtime runs it (and a batch's
// records, concurrently) without handing wake-ups between threads, and starts no threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    gateway_aws::telemetry::init();
    let sdk = gateway_aws::lambda_sdk_config();
    let processor = LambdaProcessor::from_env(&sdk, |k| std::env::var(k).ok())?;
    let processor = &processor;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        let span = tracing::info_span!("invocation", request_id = %event.context.request_id);
        let deadline = deadline_from(event.context.deadline);
        Ok::<_, Error>(
            processor
                .handle(event.payload, deadline)
                .instrument(span)
                .await,
        )
    }))
    .await
}
