//! Lambda entry point: config and clients once, then handle SQS batches.

use gateway::config::GatewayConfig;
use gateway::service::Gateway;
use gateway_aws::bedrock::BedrockModelClient;
use gateway_aws::jobs::{DynamoJobStore, SnsJobNotifier};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use worker::{Callbacks, GatewayRunner, Worker, WorkerConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    gateway_aws::telemetry::init();
    let env = |k: &str| std::env::var(k).ok();
    let config = WorkerConfig::from_env(env)?;
    let gateway_config = GatewayConfig::from_env(env)?;
    let sdk = gateway_aws::sdk_config().await;
    let worker = Worker {
        store: DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.jobs_table),
        notifier: SnsJobNotifier::new(aws_sdk_sns::Client::new(&sdk), config.topic_arn),
        runner: GatewayRunner(Gateway::new(
            gateway_config.clone(),
            BedrockModelClient::from_sdk_config(&sdk, &gateway_config.regions()),
            gateway_aws::resilience_store::gateway_parts(&sdk, &gateway_config, env),
        )),
        settings: config.settings,
        concurrency: config.concurrency,
    };
    let callbacks = config.callbacks.map(|callbacks| {
        Callbacks::new(
            &aws_sdk_sqs::Client::new(&sdk),
            &aws_sdk_sns::Client::new(&sdk),
            callbacks,
        )
    });
    if callbacks.is_none() {
        tracing::warn!("JOBS_QUEUE_URL is not set: callbacks will not be delivered");
    }
    let (worker, callbacks) = (&worker, callbacks.as_ref());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(worker.handle_with(event.payload, callbacks).await)
    }))
    .await
}
