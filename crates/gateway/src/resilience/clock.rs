//! Time as the retry loop sees it. Injected so tests run on a fake clock and the library
//! needs no async runtime.

use std::future::Future;
use std::time::{Duration, Instant};

/// A source of `now` and a way to wait. The loop needs both from the same place: a fake
/// sleep that advances a fake clock keeps deadline checks consistent in tests.
///
/// The Lambda functions implement it over tokio (this crate has tokio only for tests):
///
/// ```ignore
/// struct TokioClock;
/// impl gateway::resilience::Clock for TokioClock {
///     fn now(&self) -> std::time::Instant { tokio::time::Instant::now().into_std() }
///     fn sleep(&self, d: std::time::Duration) -> impl std::future::Future<Output = ()> + Send {
///         tokio::time::sleep(d)
///     }
/// }
/// ```
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}
