//! One request's walk along its fallback chain: for each target, breaker admission and the
//! retry loop around single attempts, each attempt bounded by the time left and reported to
//! the breaker and to shared health. The only place model calls are retried.

use super::erased::{AnyBreakerStore, AnyClock, AnyHealthStore};
use super::routing::RoutePlan;
use super::timeout::within;
use super::unix_ms;
use crate::error::{GatewayError, UpstreamKind};
use crate::ports::Target;
use crate::resilience::{
    AttemptInfo, BreakerAdmission, Clock, ErrorClass, FallbackPlan, FallbackReport, RetryBudget,
    RetryContext, RetryError, RetryPolicy, SharedBreaker, SharedHealth, Step, StopReason,
};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The per-instance policy state every call shares.
pub(crate) struct Policies {
    pub retry: RetryPolicy,
    pub budget: RetryBudget,
    pub breaker: SharedBreaker<AnyBreakerStore>,
    pub health: SharedHealth<AnyHealthStore>,
    pub clock: AnyClock,
}

/// Why one attempt did not produce a value.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// The target's breaker refused the call; nothing was sent.
    Open {
        retry_in: Duration,
    },
    Call(GatewayError),
}

impl AttemptError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Open { .. } => ErrorClass::CircuitOpen,
            Self::Call(error) => ErrorClass::of(error),
        }
    }
}

/// A target answered.
pub(crate) struct Walked<T> {
    pub value: T,
    pub target: Target,
    pub report: FallbackReport,
}

/// Every target failed over (or the plan stopped). `plan` is positioned at the cache step
/// when `cache_next` is true.
pub(crate) struct Unserved {
    pub plan: FallbackPlan,
    pub cache_next: bool,
    failures: Failures,
}

/// What went wrong along the way.
#[derive(Default)]
struct Failures {
    /// The error that stopped the plan because no other target could do better (validation).
    fatal: Option<GatewayError>,
    last: Option<GatewayError>,
    /// One line per target, for the 503 message and the log.
    lines: Vec<String>,
    out_of_time: bool,
    retry_in: Option<Duration>,
    /// Attempts the gateway cut off at the deadline while the model may still have been
    /// generating: Bedrock bills those tokens.
    cut_off: u32,
}

impl Unserved {
    /// Attempts cut off at the deadline (see [`Failures::cut_off`]).
    pub(crate) fn cut_off(&self) -> u32 {
        self.failures.cut_off
    }
}

impl Policies {
    /// Walks `route`'s chain until a target answers, up to the cache step. `call` makes one
    /// attempt at a target; it is bounded here by the time left before `deadline`.
    pub async fn walk<T, F, Fut>(
        &self,
        route: &RoutePlan,
        deadline: Instant,
        mut call: F,
    ) -> Result<Walked<T>, Unserved>
    where
        F: FnMut(Target) -> Fut,
        Fut: Future<Output = Result<T, GatewayError>> + Send,
        T: Send,
    {
        let mut plan = route.chain.plan();
        let mut rng = fastrand::Rng::new();
        let mut failures = Failures::default();
        loop {
            let target = match plan.next_step() {
                Step::Try(target) => target,
                step => {
                    return Err(Unserved {
                        plan,
                        cache_next: step == Step::Cache,
                        failures,
                    });
                }
            };
            let calls = AtomicU32::new(0);
            let cut_off = AtomicU32::new(0);
            let ctx = RetryContext {
                deadline,
                budget: &self.budget,
                clock: &self.clock,
                rng: &mut rng,
            };
            let outcome = self
                .retry
                .run(
                    ctx,
                    |info| {
                        let work = call(target.clone());
                        self.attempt(&target, info, work, (&calls, &cut_off))
                    },
                    AttemptError::class,
                )
                .await;
            let calls = calls.into_inner();
            failures.cut_off = failures.cut_off.saturating_add(cut_off.into_inner());
            match outcome.result {
                Ok(value) => {
                    let report = plan.served(calls);
                    return Ok(Walked {
                        value,
                        target,
                        report,
                    });
                }
                Err(error) => {
                    plan.gave_up(&error, calls);
                    failures.note(&target, error, calls);
                }
            }
        }
    }

    /// One attempt: admission, the call bounded by the time left, and its result reported.
    async fn attempt<T>(
        &self,
        target: &Target,
        info: AttemptInfo,
        work: impl Future<Output = Result<T, GatewayError>>,
        (calls, cut_off): (&AtomicU32, &AtomicU32),
    ) -> Result<T, AttemptError> {
        let admission = self.breaker.admit(target, unix_ms()).await;
        if let BreakerAdmission::Rejected { retry_in } = admission {
            return Err(AttemptError::Open { retry_in });
        }
        calls.fetch_add(1, Ordering::Relaxed);
        let started = self.clock.now();
        let result = within(&self.clock, info.remaining, work)
            .await
            .unwrap_or_else(|| {
                cut_off.fetch_add(1, Ordering::Relaxed);
                Err(deadline_passed(info.remaining))
            });
        let latency_ms = self
            .clock
            .now()
            .saturating_duration_since(started)
            .as_secs_f64()
            * 1e3;
        let now_ms = unix_ms();
        match &result {
            Ok(_) => {
                self.breaker.record(target, now_ms, true).await;
                self.health
                    .observe(&target.model_id, now_ms, latency_ms, true);
            }
            Err(error) => {
                let class = ErrorClass::of(error);
                tracing::info!(model = %target.model_id, region = ?target.region, attempt = info.number, class = class.as_str(), "model attempt failed");
                if class.counts_against_breaker() {
                    self.breaker.record(target, now_ms, false).await;
                    self.health
                        .observe(&target.model_id, now_ms, latency_ms, false);
                } else if admission == BreakerAdmission::Probe {
                    // The target answered (the request was at fault): the probe slot must be
                    // released, and an answer is a healthy sign.
                    self.breaker.record(target, now_ms, true).await;
                }
            }
        }
        result.map_err(AttemptError::Call)
    }

    /// Writes due breaker counts and health deltas. Called before each response: a frozen
    /// Lambda instance flushes nothing afterwards.
    pub async fn flush(&self) {
        let now_ms = unix_ms();
        self.breaker.flush_all_due(now_ms).await;
        self.health.flush_if_due(now_ms).await;
    }
}

/// Our own per-attempt timeout: the model did not answer in the time the request had left.
fn deadline_passed(waited: Duration) -> GatewayError {
    GatewayError::Upstream {
        kind: UpstreamKind::ModelTimeout,
        message: format!(
            "the model did not answer within the request deadline ({} ms)",
            waited.as_millis()
        ),
        retry_after: None,
    }
}

impl Failures {
    fn note(&mut self, target: &Target, error: RetryError<AttemptError>, calls: u32) {
        let name = match &target.region {
            Some(region) => format!("{} ({region})", target.model_id),
            None => target.model_id.clone(),
        };
        let line = match error {
            RetryError::NoTimeForAttempt => {
                self.out_of_time = true;
                format!("{name}: not tried, no time left")
            }
            RetryError::Failed {
                error: AttemptError::Open { retry_in },
                ..
            } => {
                self.retry_in = Some(self.retry_in.map_or(retry_in, |r| r.min(retry_in)));
                if calls == 0 {
                    format!("{name}: circuit open")
                } else {
                    format!("{name}: circuit opened after {calls} attempts")
                }
            }
            RetryError::Failed {
                error: AttemptError::Call(error),
                class,
                reason,
            } => {
                if reason == StopReason::DeadlineTooClose {
                    self.out_of_time = true;
                }
                let line = format!(
                    "{name}: {} after {calls} attempt{}",
                    error.code(),
                    if calls == 1 { "" } else { "s" }
                );
                if !class.falls_over() {
                    self.fatal = Some(error.clone());
                }
                self.last = Some(error);
                line
            }
        };
        tracing::warn!(failure = %line, "target failed");
        self.lines.push(line);
    }
}

impl Unserved {
    /// The error the caller sees once the cache tier (if any) had nothing either.
    pub fn into_error(self, route: &RoutePlan) -> GatewayError {
        let failures = self.failures;
        if let Some(fatal) = failures.fatal {
            return fatal;
        }
        let summary = failures.lines.join("; ");
        if failures.out_of_time {
            return match failures.last {
                Some(last) if route.target_count() == 1 => last,
                _ => GatewayError::Upstream {
                    kind: UpstreamKind::ModelTimeout,
                    message: format!("no model answered within the request deadline ({summary})"),
                    retry_after: None,
                },
            };
        }
        match failures.last {
            // A route with one target: its own error says more than "all failed".
            Some(last) if route.target_count() == 1 => last,
            _ => {
                let cache = if route.chain.cache_tier {
                    "; no cached answer"
                } else {
                    ""
                };
                let retry = failures
                    .retry_in
                    .map(|d| format!(" (retry in {} ms)", d.as_millis()))
                    .unwrap_or_default();
                GatewayError::AllTargetsFailed(format!("{summary}{cache}{retry}"))
            }
        }
    }
}
