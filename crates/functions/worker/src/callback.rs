//! Callback delivery in the worker: the adapters the gateway's [`CallbackProcessor`] needs,
//! built once at cold start.

use gateway::jobs::JobMessage;
use gateway::jobs::callback::{CallbackDisposition, CallbackProcessor, CallbackSettings, Next};
use gateway::jobs::processor::RecordFailure;
use gateway::webhook::Resolver;
use gateway_aws::callback::{HttpCallbackSender, TokioResolver};
use gateway_aws::jobs::{DynamoJobStore, SnsJobNotifier, SqsJobQueue};

use crate::config::CallbackConfig;

/// Everything callback attempts need besides the job store. `R` resolves callback hosts
/// (the system resolver in Lambda).
pub struct Callbacks<R = TokioResolver> {
    /// The jobs queue: first attempts (queued by the job runner) and delayed retries.
    pub queue: SqsJobQueue,
    /// `None`: given-up callbacks reach the DLQ through the queue's redrive policy.
    pub dead_letters: Option<SqsJobQueue>,
    pub alerts: SnsJobNotifier,
    pub sender: HttpCallbackSender<R>,
    pub settings: CallbackSettings,
}

impl Callbacks<TokioResolver> {
    pub fn new(
        sqs: &aws_sdk_sqs::Client,
        sns: &aws_sdk_sns::Client,
        config: CallbackConfig,
    ) -> Self {
        Self {
            queue: SqsJobQueue::new(sqs.clone(), config.queue_url),
            dead_letters: config.dlq_url.map(|url| SqsJobQueue::new(sqs.clone(), url)),
            alerts: SnsJobNotifier::new(sns.clone(), config.alert_topic_arn),
            sender: HttpCallbackSender::new(),
            settings: config.settings,
        }
    }
}

impl<R: Resolver + Send + Sync> Callbacks<R> {
    /// One callback message; the label says what happened, for the record's log line.
    pub(crate) async fn process(
        &self,
        store: &DynamoJobStore,
        message: &JobMessage,
        clock: fn() -> u64,
    ) -> Result<&'static str, RecordFailure> {
        let processor = CallbackProcessor {
            store,
            queue: &self.queue,
            dead_letters: self.dead_letters.as_ref(),
            alerts: &self.alerts,
            sender: &self.sender,
            settings: &self.settings,
            clock,
        };
        Ok(match processor.process(message).await? {
            CallbackDisposition::Attempted { next, .. } => match next {
                Next::Finish(state) => state.as_str(),
                Next::RetryAfter(_) => "callback_retry_scheduled",
                Next::GiveUp => "callback_dead_lettered",
            },
            CallbackDisposition::Deferred => "callback_deferred",
            CallbackDisposition::AlreadyDone => "callback_already_done",
            CallbackDisposition::Expired => "expired",
            CallbackDisposition::NoCallback => "no_callback",
        })
    }
}
