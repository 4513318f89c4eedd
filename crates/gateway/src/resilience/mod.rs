//! Resilience policies for model calls: retry, circuit breaker, fallback, and the two routers
//! that pick a model before any of them run. Pure rules: time and randomness are passed in,
//! shared state goes through the [`BreakerStore`] and [`HealthStore`] traits that adapters
//! implement, and nothing here does I/O.
//!
//! # How a request flows through them
//!
//! 1. **Pick the route's model.** [`ClassifierConfig::classify`] turns request features into
//!    a [`Tier`] (and a short reason for a response header); among equivalent models of that
//!    tier, [`MetricsRouter::choose`] picks one from shared [`ModelHealth`] by
//!    power-of-two-choices. The result selects a [`FallbackChain`].
//! 2. **Walk the chain.** [`FallbackPlan::next_step`] yields (model, region) targets in order.
//! 3. **Breaker before each target.** [`SharedBreaker::admit`] rejects targets whose circuit is
//!    open (the plan [`skip`](FallbackPlan::skip)s them, no call made) or admits a probe.
//! 4. **Retry inside each target.** [`RetryPolicy::run`] calls the target until success, a
//!    non-retryable error, its attempt limit, the instance's [`RetryBudget`], or the deadline
//!    stops it. The SDK's own retries are disabled so attempts do not multiply.
//! 5. **Record and move on.** Inside the attempt closure, after each call, the caller reports
//!    to [`SharedBreaker::record`] (success, or failure when
//!    [`counts_against_breaker`](ErrorClass::counts_against_breaker); after a
//!    [`BreakerAdmission::Probe`] always record, a non-counting failure as success since the target
//!    answered, or the probe slot stays taken until `probe_timeout_ms`) and to
//!    [`SharedHealth::observe`]. Both are local and cheap; the store sees only transitions and
//!    periodic flushes. On failure the plan falls over when the [`ErrorClass`]
//!    [`falls_over`](ErrorClass::falls_over) (never for validation errors, and for streams only
//!    before the first byte was sent).
//! 6. **Cache tier last.** When every target failed over, a chain with `cache_tier` offers
//!    [`Step::Cache`]; the [`FallbackReport`] says who served and after how many attempts.
//!
//! Time: shared, persisted state uses unix milliseconds (`u64`), local deadlines use
//! `Instant` via the injected [`Clock`].

mod breaker;
mod classifier;
mod clock;
mod duration_ms;
mod error;
mod error_class;
mod fallback;
mod health;
pub mod in_memory;
mod metrics_router;
mod retry;
mod retry_budget;
mod shared_breaker;
mod window;

pub use breaker::{BreakerAdmission, BreakerConfig, BreakerRecord, BreakerState, Transition};
pub use classifier::{ClassifierConfig, RequestFeatures, Tier};
pub use clock::Clock;
pub use error::InvalidConfig;
pub use error_class::ErrorClass;
pub use fallback::{
    FallbackChain, FallbackPlan, FallbackReport, FallbackTarget, Step, stream_may_fall_over,
};
pub use health::{HealthConfig, HealthDelta, HealthStore, ModelHealth, SharedHealth};
pub use metrics_router::{MetricsRouter, MetricsRouterConfig, RouteCandidate, Strategy};
pub use retry::{
    AttemptInfo, FailedAttempt, RetryContext, RetryDecision, RetryError, RetryOutcome, RetryPolicy,
    StopReason,
};
pub use retry_budget::{RetryBudget, RetryBudgetConfig};
pub use shared_breaker::{BreakerStore, SharedBreaker};
pub use window::{Counts, Window, WindowBucket, WindowSpan};
