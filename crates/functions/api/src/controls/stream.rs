//! Settling streamed calls: the model's stream passes through unchanged while its usage (and,
//! for a cacheable request, the whole answer) is collected; the call settles when the stream
//! ends, before the response's last byte. A caller that goes away midway leaves the settlement
//! to a background task, charged the reservation.

use super::audit::AuditSlot;
use super::auth::now_ms;
use crate::app::SharedState;
use futures_util::StreamExt;
use gateway::controls::usage::{StreamAccumulator, TokenUsage, from_invoke_chunk};
use gateway::controls::{Admission, Nanos, Outcome};
use gateway::ports::{ConverseEventStream, InvokeChunkStream, Target};
use gateway::service::LastGood;

/// An admission to settle exactly once.
pub struct Settle {
    state: SharedState,
    admission: Option<Admission>,
    audit: AuditSlot,
}

impl Settle {
    pub fn new(state: SharedState, admission: Admission, audit: AuditSlot) -> Self {
        Self {
            state,
            admission: Some(admission),
            audit,
        }
    }

    async fn done(&mut self, outcome: Outcome) {
        let (Some(admission), Some(controls)) = (self.admission.take(), &self.state.controls)
        else {
            return;
        };
        let settled = controls.settle(&admission, outcome, now_ms()).await;
        self.audit
            .update(|r| r.set_usage(&settled.usage, settled.cost));
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        let Some(admission) = self.admission.take() else {
            return;
        };
        let state = self.state.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                "a streamed call ended without a runtime to settle it; its reservation stays counted"
            );
            return;
        };
        tracing::warn!(principal = %admission.principal, "the caller left mid-stream; charging the reservation");
        runtime.spawn(async move {
            if let Some(controls) = &state.controls {
                controls
                    .settle(&admission, Outcome::Broken { output_chars: 0 }, now_ms())
                    .await;
            }
        });
    }
}

/// A ConverseStream passed through, settled at its end; `keep`: cache the whole answer.
pub fn converse(
    mut events: ConverseEventStream,
    mut settle: Settle,
    target: Target,
    keep: bool,
    prompt: Option<String>,
) -> ConverseEventStream {
    Box::pin(async_stream::stream! {
        let mut collected = StreamAccumulator::default();
        while let Some(item) = events.next().await {
            match &item {
                Ok(event) => collected.observe(event),
                Err(_) => {
                    settle.done(Outcome::Broken { output_chars: collected.output_chars() }).await;
                    yield item;
                    return;
                }
            }
            yield item;
        }
        let outcome = match collected.usage() {
            Some(usage) => {
                let response = collected.finish();
                if let (Some(prompt), Some(response)) = (&prompt, &response) {
                    let max = settle.state.gateway.config().controls.audit.max_content_chars;
                    let completion = response.text();
                    settle.audit.update(|r| {
                        r.prompt = Some(gateway::controls::audit::truncate(prompt, max));
                        r.completion = Some(gateway::controls::audit::truncate(&completion, max));
                    });
                }
                let keep = response.filter(|_| keep).map(|response| {
                    Box::new(LastGood {
                        response,
                        model_id: target.model_id.clone(),
                        region: target.region.clone(),
                        stored_at_ms: now_ms(),
                    })
                });
                Outcome::Answered {
                    model_id: target.model_id.clone(),
                    region: target.region.clone(),
                    usage,
                    keep,
                }
            }
            None => Outcome::Broken { output_chars: collected.output_chars() },
        };
        settle.done(outcome).await;
    })
}

/// An InvokeModelWithResponseStream passed through, settled at its end from the usage in
/// Bedrock's `amazon-bedrock-invocationMetrics`.
pub fn invoke(
    mut chunks: InvokeChunkStream,
    mut settle: Settle,
    target: Target,
) -> InvokeChunkStream {
    Box::pin(async_stream::stream! {
        let mut usage: Option<TokenUsage> = None;
        let mut bytes = 0usize;
        while let Some(item) = chunks.next().await {
            match &item {
                Ok(chunk) => {
                    bytes += chunk.bytes.len();
                    if let Some(found) = from_invoke_chunk(&chunk.bytes) {
                        usage = Some(found);
                    }
                }
                Err(_) => {
                    settle.done(Outcome::Broken { output_chars: bytes }).await;
                    yield item;
                    return;
                }
            }
            yield item;
        }
        let outcome = match usage {
            Some(usage) => Outcome::Answered {
                model_id: target.model_id.clone(),
                region: target.region.clone(),
                usage,
                keep: None,
            },
            None => Outcome::Broken { output_chars: bytes },
        };
        settle.done(outcome).await;
    })
}

/// With controls off, what a call's usage is recorded with: the audit record, and the price
/// of the target that served.
pub struct Observe {
    audit: AuditSlot,
    state: SharedState,
    target: Target,
}

impl Observe {
    pub fn new(state: &SharedState, target: &Target, audit: AuditSlot) -> Self {
        Self {
            audit,
            state: state.clone(),
            target: target.clone(),
        }
    }

    fn record(&self, usage: &TokenUsage) {
        let cost = open_cost(&self.state, &self.target, usage);
        self.audit.update(|r| r.set_usage(usage, cost));
    }
}

/// What `usage` on `target` cost, from the price table (0 for a model without a price).
pub fn open_cost(state: &SharedState, target: &Target, usage: &TokenUsage) -> Nanos {
    state
        .pricing
        .as_ref()
        .and_then(|p| p.cost(&target.model_id, target.region.as_deref(), usage))
        .unwrap_or(Nanos::ZERO)
}

/// With controls off: the stream unchanged, its usage and cost noted in the audit record at
/// the end.
pub fn observe_usage(mut events: ConverseEventStream, observe: Observe) -> ConverseEventStream {
    Box::pin(async_stream::stream! {
        let mut collected = StreamAccumulator::default();
        while let Some(item) = events.next().await {
            if let Ok(event) = &item {
                collected.observe(event);
            }
            yield item;
        }
        if let Some(usage) = collected.usage() {
            observe.record(&usage);
        }
    })
}

/// With controls off: InvokeModelWithResponseStream unchanged, its usage (Bedrock's
/// `amazon-bedrock-invocationMetrics` on the last chunk) and cost noted at the end.
pub fn observe_invoke_usage(mut chunks: InvokeChunkStream, observe: Observe) -> InvokeChunkStream {
    Box::pin(async_stream::stream! {
        let mut usage: Option<TokenUsage> = None;
        while let Some(item) = chunks.next().await {
            if let Ok(chunk) = &item
                && let Some(found) = from_invoke_chunk(&chunk.bytes)
            {
                usage = Some(found);
            }
            yield item;
        }
        if let Some(usage) = usage {
            observe.record(&usage);
        }
    })
}
