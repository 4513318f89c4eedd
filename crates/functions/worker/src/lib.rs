//! The jobs worker: an SQS batch handler. Records run concurrently (bounded); each one is
//! claimed, run through the gateway's call path, stored and announced by the gateway's
//! [`JobProcessor`]; only the records that must come back are reported as batch item failures.
//!
//! The same queue carries callback attempts (`"kind":"callback"` bodies): with [`Callbacks`]
//! configured, a finished job queues its first attempt and [`callback`] makes each one.

pub mod async_output;
pub mod callback;
pub mod config;
pub mod producer;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::FutureExt;
use gateway::GatewayError;
use gateway::api::converse::ConverseRequest;
use gateway::config::GatewayConfig;
use gateway::controls::pricing::Pricing;
use gateway::controls::{Controller, RouteClass};
use gateway::env::Env;
use gateway::jobs::events::JobEventPublisher;
use gateway::jobs::processor::{
    Disposition, JobAnswer, JobProcessor, JobRunner, Processed, ProcessorSettings, RecordFailure,
};
use gateway::jobs::submit::JobSettings;
use gateway::jobs::{JobMessage, JobRecord, MessageKind};
use gateway::metered::{Call, Meter};
use gateway::ports::ModelClient;
use gateway::service::{Caller, Gateway, Route};
use gateway::webhook::Resolver;
use gateway_aws::control_store::DynamoControlStore;
use gateway_aws::jobs::{
    DynamoJobStore, EventBridgeJobEvents, S3InvocationOutputs, SnsJobNotifier, SqsDeadLetters,
    SqsJobQueue, SqsRedelivery,
};
use gateway_aws::lambda_batch::{Outcome, run_batch, sqs_batch_response};
use gateway_aws::models::GatewayModelClient;
use std::panic::AssertUnwindSafe;

pub use callback::Callbacks;
pub use config::{CallbackConfig, ProducerConfig, WorkerConfig, WorkerInitError};
pub use producer::ProducerIntake;

/// Runs a job's model call through the gateway's one metered call, admitted already: the
/// job's submit reserved it, and the processor settles that charge.
pub struct MeteredJobRunner<M>(pub Gateway<M>);

impl<M: ModelClient> JobRunner for MeteredJobRunner<M> {
    async fn run(
        &self,
        caller: Caller<'_>,
        model: &str,
        request: &ConverseRequest,
    ) -> Result<JobAnswer, GatewayError> {
        // The job's own deadline is the configured request timeout; the queue's visibility
        // timeout is six times the function's, so a redelivery never races a live attempt.
        let call = Call::admitted(caller, RouteClass::Jobs, None);
        let served = Meter::unadmitted(&self.0)
            .converse(&call, Route::Model(model), request)
            .await
            .map_err(|refused| refused.error)?
            .served;
        Ok(JobAnswer {
            response: served.value,
            model: served.target.model_id,
            region: served.target.region,
        })
    }
}

pub struct Worker<M> {
    pub store: DynamoJobStore,
    pub notifier: SnsJobNotifier,
    pub runner: MeteredJobRunner<M>,
    pub settings: ProcessorSettings,
    pub concurrency: usize,
    /// Prices each job's answer into its result and notification (`cost_usd`).
    pub pricing: Option<Pricing>,
    /// Settles what each job's submit reserved against the caller's limits and budgets, and
    /// adds the job to the usage ledger; `None` without `STATE_TABLE`.
    pub charges: Option<Controller<DynamoControlStore>>,
    /// Turns producer messages (`gateway.job.v1`, direct or from the event bus) into jobs;
    /// `None`: they are reported failed, and the redrive policy dead-letters them.
    pub intake: Option<ProducerIntake>,
    /// Publishes each terminal job's result event to the bus; `None`: no events.
    pub events: Option<EventBridgeJobEvents>,
    /// Brings a record that must be retried back after a jittered backoff growing with its
    /// receive count (`settings.redelivery_*`); `None`: after the queue's visibility timeout.
    pub redelivery: Option<SqsRedelivery>,
    /// Where StartAsyncInvoke jobs' answers are written; `None` without `ASYNC_INVOKE_BUCKET`.
    pub outputs: Option<S3InvocationOutputs>,
}

fn now_ms() -> u64 {
    gateway::clock::unix_ms()
}

/// The worker as deployed: Bedrock through the gateway, DynamoDB, SNS and SQS.
pub type LambdaWorker = Worker<GatewayModelClient>;

impl LambdaWorker {
    /// The batch handler and, when the environment enables them, callback delivery, from the
    /// function's environment (see [`WorkerConfig`]) and clients from `sdk`. Makes no network
    /// call. The Lambda binary and the offline runner both build the worker here.
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(Self, Option<Callbacks>), WorkerInitError> {
        let config = WorkerConfig::from_env(&lookup)?;
        let gateway_config = GatewayConfig::from_env(&lookup)?;
        let env = Env(&lookup);
        let callbacks = config.callbacks.map(|callbacks| {
            Callbacks::new(
                &aws_sdk_sqs::Client::new(sdk),
                &aws_sdk_sns::Client::new(sdk),
                callbacks,
            )
        });
        let home = sdk.region().map(|r| r.as_ref().to_owned());
        // Settling needs no keys: the seal key (for SigV4 secrets) is never used here.
        let charges = env
            .optional("STATE_TABLE")
            .map(|table| {
                Controller::new(
                    &gateway_config,
                    DynamoControlStore::from_sdk_config(sdk, table, &gateway_config.controls.cache),
                    Vec::new(),
                    home.clone(),
                )
            })
            .transpose()
            .map_err(WorkerInitError::Controls)?;
        let worker = Worker {
            store: DynamoJobStore::new(aws_sdk_dynamodb::Client::new(sdk), config.jobs_table),
            notifier: SnsJobNotifier::new(aws_sdk_sns::Client::new(sdk), config.topic_arn),
            runner: MeteredJobRunner(Gateway::new(
                gateway_config.clone(),
                GatewayModelClient::from_sdk_config(sdk, &gateway_config),
                gateway_aws::resilience_store::gateway_parts(sdk, &gateway_config, &lookup),
            )),
            settings: config.settings,
            concurrency: config.concurrency,
            pricing: Some(Pricing::new(&gateway_config, home).map_err(WorkerInitError::Controls)?),
            charges,
            intake: producer_intake(sdk, &lookup)?,
            redelivery: env
                .optional("JOBS_QUEUE_URL")
                .map(|url| SqsRedelivery::new(aws_sdk_sqs::Client::new(sdk), url)),
            events: env
                .optional("EVENT_BUS_NAME")
                .map(|bus| EventBridgeJobEvents::new(aws_sdk_eventbridge::Client::new(sdk), bus)),
            outputs: env
                .optional("ASYNC_INVOKE_BUCKET")
                .map(|_| S3InvocationOutputs::from_sdk_config(sdk)),
        };
        Ok((worker, callbacks))
    }
}

/// Producer intake from its configuration (see [`ProducerConfig`]), with clients from `sdk`.
fn producer_intake(
    sdk: &aws_config::SdkConfig,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<ProducerIntake>, WorkerInitError> {
    let Some(config) = ProducerConfig::from_env(lookup)? else {
        return Ok(None);
    };
    let sqs = aws_sdk_sqs::Client::new(sdk);
    Ok(Some(ProducerIntake {
        producers: config.producers,
        queue: SqsJobQueue::new(sqs.clone(), config.queue_url),
        dead_letters: config.dlq_url.map(|url| SqsDeadLetters::new(sqs, url)),
        events_queue_arn: config.events_queue_arn,
        settings: JobSettings {
            ttl_secs: config.ttl_secs,
        },
        callback_policy: gateway::webhook::CallbackPolicy {
            allow_http: config.allow_http,
            allow_private: config.allow_private,
            allowed_hosts: None,
        },
    }))
}

impl<M: ModelClient> Worker<M> {
    /// Handles a whole batch without callback delivery (callback messages are reported failed).
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_with(event, None::<&Callbacks>).await
    }

    /// Handles a whole batch; never fails as a whole: each record that must come back is listed.
    /// Two phases: every record runs (claim, model call, finish) concurrently; then the jobs
    /// whose notifications this worker claimed are announced together (one `PublishBatch`
    /// and one `PutEvents` per ten jobs).
    pub async fn handle_with<R: Resolver + Send + Sync>(
        &self,
        event: SqsEvent,
        callbacks: Option<&Callbacks<R>>,
    ) -> SqsBatchResponse {
        let batch = run_batch(
            event.records,
            self.concurrency,
            |record: &SqsMessage| record.message_id.clone().unwrap_or_default(),
            |record| self.handle_record(record, callbacks),
        )
        .await;
        let mut failed = batch.failed;
        if !batch.deferred.is_empty() {
            failed.extend(self.announce(batch.deferred, callbacks).await);
        }
        sqs_batch_response(failed)
    }

    /// Announces the claimed jobs of a batch; the message ids of those that must come back.
    async fn announce<R: Resolver + Send + Sync>(
        &self,
        claimed: Vec<(SqsMessage, JobRecord)>,
        callbacks: Option<&Callbacks<R>>,
    ) -> Vec<String> {
        // Should this process die while announcing, its records come back after the
        // notification lease, not after the queue's visibility timeout (720 s deployed): the
        // republish then falls inside SNS FIFO's 5-minute deduplication window.
        if let Some(redelivery) = &self.redelivery {
            let receipts: Vec<&str> = claimed
                .iter()
                .filter_map(|(record, _)| record.receipt_handle.as_deref())
                .collect();
            let window = self.settings.notify_lease + self.settings.redelivery_base;
            if let Err(error) = redelivery.delay_batch(&receipts, window).await {
                tracing::warn!(%error, "could not shorten the announced records' visibility");
            }
        }
        let (records, jobs): (Vec<SqsMessage>, Vec<JobRecord>) = claimed.into_iter().unzip();
        let runner = self.runner_with_outputs();
        let processor = self.processor(callbacks, &runner);
        let results = AssertUnwindSafe(processor.announce_claimed(&jobs))
            .catch_unwind()
            .await;
        let Ok(results) = results else {
            tracing::error!("announcing the batch panicked; its records reported as failed");
            return records
                .into_iter()
                .map(|r| r.message_id.unwrap_or_default())
                .collect();
        };
        let mut failed = Vec::new();
        for (record, result) in records.iter().zip(results) {
            let message_id = record.message_id.clone().unwrap_or_default();
            match result.map(|disposition| disposition_name(&disposition)) {
                Ok(disposition) => tracing::info!(message_id, disposition, "record done"),
                Err(failure) => {
                    self.report(record, receive_count(record), &failure).await;
                    failed.push(message_id);
                }
            }
        }
        failed
    }

    /// Runs one record up to its job's announcement: `Deferred` with its job when the job's
    /// notification is claimed, to announce it with the batch.
    async fn handle_record<R: Resolver + Send + Sync>(
        &self,
        record: SqsMessage,
        callbacks: Option<&Callbacks<R>>,
    ) -> Outcome<(SqsMessage, JobRecord)> {
        let message_id = record.message_id.clone().unwrap_or_default();
        let receive_count = receive_count(&record);
        let body = record.body.as_deref().unwrap_or_default();
        let sender_id = record.attributes.get("SenderId").map(String::as_str);
        // Set by the event source mapping, not by whoever sent the message.
        let from_bus = self.intake.as_ref().is_some_and(|intake| {
            intake.events_queue_arn.is_some() && intake.events_queue_arn == record.event_source_arn
        });
        let outcome = self
            .dispatch(
                body,
                (&message_id, sender_id, from_bus),
                receive_count,
                callbacks,
            )
            .await;
        match outcome {
            Ok(Dispatched::Done(disposition)) => {
                tracing::info!(message_id, disposition, "record done");
                Outcome::Done
            }
            Ok(Dispatched::Announce(job)) => Outcome::Deferred((record, *job)),
            Err(failure) => {
                self.report(&record, receive_count, &failure).await;
                Outcome::Failed
            }
        }
    }

    /// Logs a record that must come back, and brings a released one back after its backoff.
    async fn report(&self, record: &SqsMessage, receive_count: u32, failure: &RecordFailure) {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        match failure {
            RecordFailure::Poison(_) => {
                tracing::error!(message_id, receive_count, %failure, "poison message")
            }
            // Released by this worker: the next delivery may claim it at once.
            RecordFailure::Retry(_) => {
                tracing::warn!(message_id, receive_count, %failure, "record will be retried");
                self.back_off(record, receive_count).await;
            }
            // Held by a live (or dead) worker's lease: the queue's visibility timeout
            // outlasts the lease, so the next delivery finds it finished or claimable;
            // a shorter wait would only burn receives towards the DLQ.
            RecordFailure::Busy(_) => {
                tracing::warn!(message_id, receive_count, %failure, "record will be retried")
            }
        }
    }

    /// Makes a record that must be retried visible again after the backoff for its receive
    /// count. A failure here only costs time: the queue's visibility timeout still applies.
    async fn back_off(&self, record: &SqsMessage, receive_count: u32) {
        let (Some(redelivery), Some(receipt)) = (&self.redelivery, &record.receipt_handle) else {
            return;
        };
        let delay = self
            .settings
            .redelivery_delay(receive_count, &mut fastrand::Rng::new());
        if let Err(error) = redelivery.delay(receipt, delay).await {
            tracing::warn!(%error, "could not shorten the record's redelivery");
        }
    }

    /// Runs the job or makes the callback attempt the body asks for.
    async fn dispatch<R: Resolver + Send + Sync>(
        &self,
        body: &str,
        (message_id, sender_id, from_bus): (&str, Option<&str>, bool),
        receive_count: u32,
        callbacks: Option<&Callbacks<R>>,
    ) -> Result<Dispatched, RecordFailure> {
        if let Some(inbound) = gateway::jobs::producer::read(body, message_id, sender_id, from_bus)
        {
            let intake = self.intake.as_ref().ok_or_else(|| {
                RecordFailure::Poison(
                    "producer message, but JOB_PRODUCERS is not configured".into(),
                )
            })?;
            let cx = producer::Context {
                store: &self.store,
                controls: self.charges.as_ref(),
                config: self.runner.0.config(),
                now_ms: now_ms(),
            };
            return intake
                .accept(&cx, body, inbound)
                .await
                .map(Dispatched::Done);
        }
        let callback = serde_json::from_str::<JobMessage>(body)
            .ok()
            .filter(|m| m.kind == MessageKind::Callback);
        if let Some(message) = callback {
            let callbacks = callbacks.ok_or_else(|| {
                RecordFailure::Poison("callback message, but callbacks are not configured".into())
            })?;
            return callbacks
                .process(&self.store, &message, now_ms)
                .await
                .map(Dispatched::Done);
        }
        // Unparseable bodies too: the processor reports them as poison.
        Ok(
            match self
                .processor(callbacks, &self.runner_with_outputs())
                .run_record(body, receive_count)
                .await?
            {
                Processed::Done(disposition) => Dispatched::Done(disposition_name(&disposition)),
                Processed::Announce(job) => Dispatched::Announce(job),
            },
        )
    }

    /// The metered runner, writing async invocations' answers to their S3 outputs.
    fn runner_with_outputs(&self) -> async_output::WithOutputs<'_, M, S3InvocationOutputs> {
        async_output::WithOutputs {
            runner: &self.runner,
            outputs: self.outputs.as_ref(),
        }
    }

    /// The job processor over this worker's store, topic, `runner`, bus and controls.
    fn processor<'a, R: Resolver + Send + Sync, J: JobRunner>(
        &'a self,
        callbacks: Option<&'a Callbacks<R>>,
        runner: &'a J,
    ) -> JobProcessor<
        'a,
        DynamoJobStore,
        SnsJobNotifier,
        J,
        SqsJobQueue,
        Controller<DynamoControlStore>,
    > {
        JobProcessor {
            store: &self.store,
            notifier: &self.notifier,
            runner,
            callbacks: callbacks.map(|c| &c.queue),
            settings: self.settings,
            clock: now_ms,
            pricing: self.pricing.as_ref(),
            charges: self.charges.as_ref(),
            events: self
                .events
                .as_ref()
                .map(|events| events as &dyn JobEventPublisher),
        }
    }
}

/// What one record's dispatch did.
enum Dispatched {
    Done(&'static str),
    Announce(Box<JobRecord>),
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

fn disposition_name(disposition: &Disposition) -> &'static str {
    match disposition {
        Disposition::Completed(status) => status.as_str(),
        Disposition::AlreadyDone => "already_done",
        Disposition::Expired => "expired",
        Disposition::Requeued => "requeued",
    }
}
