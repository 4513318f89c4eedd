//! Streams passed through unchanged while their usage (and, for a cacheable request, the
//! whole answer) is collected; the call settles when the stream ends, before its last item
//! goes out. A stream that is dropped midway leaves its settlement to the [`Settlement`]'s drop.

use super::audit_slot::record_content;
use super::settlement::Settlement;
use crate::controls::Outcome;
use crate::controls::ports::CounterStore;
use crate::controls::usage::{InvokeStreamUsage, StreamAccumulator};
use crate::ports::{ConverseEventStream, InvokeChunkStream, Target};
use crate::service::LastGood;
use futures_util::StreamExt;

/// How a ConverseStream settles at its end.
pub(crate) struct ConverseSettle<S: CounterStore + 'static> {
    pub settlement: Settlement<S>,
    pub target: Target,
    /// Keep the whole answer in the response cache.
    pub keep: bool,
    /// Note the prompt (and the completion) in the audit record, cut to this many characters.
    pub prompt: Option<(usize, String)>,
}

pub(crate) fn converse<S: CounterStore + 'static>(
    mut events: ConverseEventStream,
    settle: ConverseSettle<S>,
) -> ConverseEventStream {
    let ConverseSettle {
        mut settlement,
        target,
        keep,
        prompt,
    } = settle;
    Box::pin(async_stream::stream! {
        let mut collected = StreamAccumulator::default();
        while let Some(item) = events.next().await {
            match &item {
                Ok(event) => collected.observe(event),
                Err(error) => {
                    failed_midway(settlement.audit(), error);
                    settlement.settle(Outcome::Broken { output_chars: collected.output_chars() }).await;
                    yield item;
                    return;
                }
            }
            yield item;
        }
        let outcome = match collected.usage() {
            Some(usage) => {
                let response = collected.finish();
                if let (Some((max, prompt)), Some(response)) = (&prompt, &response) {
                    record_content(settlement.audit(), *max, prompt, &response.text());
                }
                let keep = response
                    .filter(|_| keep)
                    .map(|response| Box::new(LastGood::given(response, &target)));
                Outcome::answered(&target, usage, keep)
            }
            None => Outcome::Broken { output_chars: collected.output_chars() },
        };
        settlement.settle(outcome).await;
    })
}

/// InvokeModelWithResponseStream, settled from the usage Bedrock adds to the last chunk
/// (`amazon-bedrock-invocationMetrics`); a stream that ends without it (a SageMaker
/// container's) at its estimate.
pub(crate) fn invoke<S: CounterStore + 'static>(
    mut chunks: InvokeChunkStream,
    mut settlement: Settlement<S>,
    target: Target,
    events: bool,
) -> InvokeChunkStream {
    Box::pin(async_stream::stream! {
        // The 5-minute / 1-hour split of cache writes comes in `message_start`, the totals on
        // the last chunk: both are needed to price the writes.
        let mut usage = if events {
            InvokeStreamUsage::events()
        } else {
            InvokeStreamUsage::default()
        };
        let mut bytes = 0usize;
        while let Some(item) = chunks.next().await {
            match &item {
                Ok(chunk) => {
                    bytes = bytes.saturating_add(chunk.bytes.len());
                    usage.observe(&chunk.bytes);
                }
                Err(error) => {
                    failed_midway(settlement.audit(), error);
                    settlement.settle(Outcome::Broken { output_chars: bytes }).await;
                    yield item;
                    return;
                }
            }
            yield item;
        }
        let outcome = match usage.usage() {
            Some(usage) => Outcome::answered(&target, usage, None),
            None => Outcome::Estimated { output_chars: bytes },
        };
        settlement.settle(outcome).await;
    })
}

/// A stream that failed after it started is an error in the audit record (its status was
/// already 200), as it is in the ledger.
fn failed_midway(audit: &super::AuditSlot, error: &crate::error::GatewayError) {
    audit.update(|r| {
        r.failed_midway = true;
        r.error_code = error.code().to_owned();
    });
}
