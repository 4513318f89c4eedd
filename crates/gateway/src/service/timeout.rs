//! Bounding an attempt by the time left, with the injected clock's sleep (this crate has no
//! runtime of its own).

use crate::resilience::Clock;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// `work`'s output, or `None` if `limit` passed first. `work` is dropped on timeout, which
/// cancels an in-flight SDK call.
pub async fn within<C: Clock, F: Future>(clock: &C, limit: Duration, work: F) -> Option<F::Output> {
    let mut work = pin!(work);
    let mut expired = pin!(clock.sleep(limit));
    poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if expired.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::tests::TokioClock;

    #[tokio::test(start_paused = true)]
    async fn work_that_finishes_first_wins() {
        let clock = TokioClock;
        assert_eq!(
            within(&clock, Duration::from_secs(1), async { 7 }).await,
            Some(7)
        );
        let slow = tokio::time::sleep(Duration::from_secs(5));
        assert_eq!(within(&clock, Duration::from_secs(1), slow).await, None);
    }
}
