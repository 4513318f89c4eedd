//! The SQS event source mapping: long-poll the queue, invoke the function with the batch as an
//! `SqsEvent`, delete what succeeded and leave the reported failures to reappear after their
//! visibility timeout (and to reach the dead-letter queue after `maxReceiveCount`).

use super::StopSignal;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use event_source_emulator::sqs::SqsPoller;
use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

/// Lambda's long poll.
pub const WAIT_SECONDS: i32 = 20;

/// Polls until `stop`. A batch in flight is finished and settled before stopping.
pub async fn run<F, Fut>(function: String, poller: SqsPoller, mut handler: F, stop: StopSignal)
where
    F: FnMut(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let mut invocations: u64 = 0;
    while !stop.is_stopped() {
        let received = tokio::select! {
            () = stop.clone().stopped() => break,
            received = poller.receive() => received,
        };
        let event = match received {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(function, error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "ReceiveMessage failed; retrying");
                if stop.sleep(Duration::from_secs(1)).await {
                    break;
                }
                continue;
            }
        };
        if event.records.is_empty() {
            continue;
        }
        invocations += 1;
        let span = tracing::info_span!("invoke", function = %function, n = invocations);
        let records = event.records.len();
        let response = handler(event.clone()).instrument(span.clone()).await;
        let failed = response.batch_item_failures.len();
        match poller.settle(&event, &response).instrument(span.clone()).await {
            Ok(deleted) => {
                span.in_scope(|| tracing::info!(records, deleted, failed, "batch settled"));
            }
            Err(error) => span.in_scope(|| {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "DeleteMessage failed; the messages will come again")
            }),
        }
    }
}
