//! Streams and fallback: a stream counts as started only when its first item arrived, so a
//! failure before that is an ordinary attempt failure (retried, fallen over) and the client has
//! seen nothing. After it, an error ends the stream (the HTTP layer turns it into a clean error
//! event) and is reported to the target's breaker and health.

use super::unix_ms;
use super::walk::Policies;
use crate::error::GatewayError;
use crate::ports::Target;
use crate::resilience::ErrorClass;
use futures_core::Stream;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;

pub(crate) type ItemStream<I> = Pin<Box<dyn Stream<Item = Result<I, GatewayError>> + Send>>;

/// A stream whose first item has arrived (or that ended without any).
pub(crate) struct Started<I> {
    first: Option<I>,
    rest: ItemStream<I>,
}

/// Waits for the first item: an error before it is the attempt's error.
pub(crate) async fn start<I>(mut stream: ItemStream<I>) -> Result<Started<I>, GatewayError> {
    match poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        Some(Err(error)) => Err(error),
        first => Ok(Started {
            first: first.and_then(Result::ok),
            rest: stream,
        }),
    }
}

/// The started stream as one stream again, reporting a mid-stream failure of `target`.
pub(crate) fn resume<I: Send + 'static>(
    started: Started<I>,
    policies: Arc<Policies>,
    target: Target,
) -> ItemStream<I> {
    let Started { first, mut rest } = started;
    Box::pin(async_stream::stream! {
        if let Some(first) = first {
            yield Ok(first);
        }
        while let Some(item) = poll_fn(|cx| rest.as_mut().poll_next(cx)).await {
            if let Err(error) = &item {
                let class = ErrorClass::of(error);
                tracing::warn!(model = %target.model_id, region = ?target.region, class = class.as_str(), "stream failed after its first event");
                if class.counts_against_breaker() {
                    let now_ms = unix_ms();
                    policies.breaker.record(&target, now_ms, false).await;
                    policies.health.observe(&target.model_id, now_ms, 0.0, false);
                }
                yield item;
                break;
            }
            yield item;
        }
    })
}
