//! The DynamoDB Streams event source mapping: the shared stream poller of `gateway-aws`
//! (filter criteria, batch item failures, retries, on-failure destination) polled four times a
//! second, as Lambda polls a shard.

use super::StopSignal;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use event_source_emulator::dynamodb_stream::DynamoDbStreamPoller;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

const IDLE_POLL: Duration = Duration::from_millis(250);
/// Pause before a failed batch is read again (Lambda backs off too).
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Polls until `stop`; a poll in flight (and its invocation) finishes first.
pub async fn run<F, Fut>(
    function: String,
    mut poller: DynamoDbStreamPoller,
    handler: F,
    stop: StopSignal,
) where
    F: Fn(Event) -> Fut,
    Fut: Future<Output = DynamoDbEventResponse>,
{
    let mut invocations: u64 = 0;
    while !stop.is_stopped() {
        let report = poller
            .poll_once(|event: Event| {
                invocations += 1;
                let span = tracing::info_span!("invoke", function = %function, n = invocations);
                let records = event.records.len();
                let call = handler(event);
                async move {
                    let response = call.instrument(span.clone()).await;
                    let failed = response.batch_item_failures.len();
                    span.in_scope(|| tracing::info!(records, failed, "batch done"));
                    Ok::<_, Infallible>(response)
                }
            })
            .await;
        let pause = match report {
            Ok(report) if !report.failed.is_empty() => {
                if !report.discarded.is_empty() {
                    tracing::warn!(function, records = ?report.discarded, "records exhausted their retries: sent to the on-failure destination");
                }
                RETRY_PAUSE
            }
            Ok(report) if report.read > 0 => Duration::ZERO,
            Ok(_) => IDLE_POLL,
            Err(error) => {
                tracing::warn!(function, %error, "reading the stream failed; retrying");
                RETRY_PAUSE
            }
        };
        if !pause.is_zero() && stop.sleep(pause).await {
            break;
        }
    }
}
