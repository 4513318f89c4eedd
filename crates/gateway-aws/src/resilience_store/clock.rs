//! The retry loop's clock over tokio, so the gateway's rules need no runtime of their own.

use gateway::resilience::Clock;
use std::future::Future;
use std::time::{Duration, Instant};

/// `now` and `sleep` from tokio (which follows a paused test clock too).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}
