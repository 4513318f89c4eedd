//! THE retry loop for model calls. Everything in the gateway that calls a model retries
//! through [`RetryPolicy::run`]; nothing else retries.
//!
//! The AWS SDK must not retry underneath it, or attempts multiply (SDK 3 × ours 3 × fallback
//! targets): the adapter builds its Bedrock client with
//! `aws_config::retry::RetryConfig::disabled()` (`.retry_config(...)` on the client config
//! builder) and lets this loop own backoff, budget and deadline.

use super::clock::Clock;
use super::duration_ms;
use super::error::{InvalidConfig, ensure};
use super::error_class::ErrorClass;
use super::retry_budget::RetryBudget;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::{Duration, Instant};

/// How often and how patiently one target is retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts including the first; 1 disables retries.
    pub max_attempts: u32,
    #[serde(rename = "base_delay_ms", with = "duration_ms")]
    pub base_delay: Duration,
    #[serde(rename = "max_delay_ms", with = "duration_ms")]
    pub max_delay: Duration,
    /// The shortest time an attempt can be expected to take. An attempt that cannot finish
    /// before the deadline is not started: it would only burn quota and the caller's wait.
    #[serde(rename = "min_attempt_ms", with = "duration_ms")]
    pub min_attempt: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            min_attempt: Duration::from_millis(500),
        }
    }
}

/// The failed attempt a retry decision is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAttempt {
    /// 1 for the first attempt.
    pub number: u32,
    pub class: ErrorClass,
    /// How long the attempt ran; a timed-out attempt is expected to need as long again.
    pub took: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAfter(Duration),
    Stop(StopReason),
}

/// Why the loop gave up on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    NotRetryable,
    AttemptsExhausted,
    /// The backoff plus another attempt would end after the deadline.
    DeadlineTooClose,
    /// The instance's retry budget is spent (a storm is going on).
    BudgetExhausted,
}

/// Passed to each attempt so it can bound its own call (e.g. an SDK operation timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptInfo {
    /// 1 for the first attempt.
    pub number: u32,
    /// Time left until the deadline when the attempt starts.
    pub remaining: Duration,
}

/// What one `run` needs from its caller besides the attempt itself.
pub struct RetryContext<'a, C> {
    /// When the caller stops waiting (request deadline minus what the response still needs).
    pub deadline: Instant,
    /// The instance's shared budget.
    pub budget: &'a RetryBudget,
    pub clock: &'a C,
    /// Jitter source; `fastrand::Rng::new()` in production, seeded in tests.
    pub rng: &'a mut fastrand::Rng,
}

/// The result of `run` and how many attempts it took (for headers and metrics).
#[derive(Debug)]
pub struct RetryOutcome<T, E> {
    pub attempts: u32,
    pub result: Result<T, RetryError<E>>,
}

#[derive(Debug, PartialEq)]
pub enum RetryError<E> {
    /// Not even one attempt fits before the deadline; nothing was called.
    NoTimeForAttempt,
    /// The last attempt failed with `error` and the loop stopped for `reason`.
    Failed {
        error: E,
        class: ErrorClass,
        reason: StopReason,
    },
}

impl<E> RetryError<E> {
    /// The class of the last failure; `None` when no attempt was made.
    pub fn class(&self) -> Option<&ErrorClass> {
        match self {
            Self::NoTimeForAttempt => None,
            Self::Failed { class, .. } => Some(class),
        }
    }

    /// Whether a fallback chain should try its next target. With no time for even one attempt,
    /// no other target fits either.
    pub fn falls_over(&self) -> bool {
        self.class().is_some_and(ErrorClass::falls_over)
    }

    pub fn into_error(self) -> Option<E> {
        match self {
            Self::NoTimeForAttempt => None,
            Self::Failed { error, .. } => Some(error),
        }
    }
}

impl RetryPolicy {
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        ensure(self.max_attempts >= 1, "max_attempts", "must be at least 1")?;
        ensure(
            !self.base_delay.is_zero(),
            "base_delay_ms",
            "must be positive",
        )?;
        ensure(
            self.base_delay <= self.max_delay,
            "max_delay_ms",
            "must not be below base_delay_ms",
        )
    }

    /// Full-jitter exponential backoff before retry `retry_index` (0 for the first retry):
    /// uniform in `[0, min(max_delay, base_delay * 2^retry_index)]`. A server hint raises the
    /// delay to at least the hint, still capped by `max_delay`.
    pub fn backoff(
        &self,
        retry_index: u32,
        hint: Option<Duration>,
        rng: &mut fastrand::Rng,
    ) -> Duration {
        let factor = 1u32.checked_shl(retry_index).unwrap_or(u32::MAX);
        let ceiling = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let jitter = Duration::from_nanos(rng.u64(0..=ceiling_nanos));
        hint.map_or(jitter, |hint| hint.max(jitter))
            .min(self.max_delay)
    }

    /// The pure decision after a failed attempt. Checks are ordered so that the budget is only
    /// spent on a retry that will actually happen.
    pub fn decide(
        &self,
        failed: &FailedAttempt,
        now: Instant,
        deadline: Instant,
        budget: &RetryBudget,
        rng: &mut fastrand::Rng,
    ) -> RetryDecision {
        if !failed.class.is_retryable() {
            return RetryDecision::Stop(StopReason::NotRetryable);
        }
        if failed.number >= self.max_attempts {
            return RetryDecision::Stop(StopReason::AttemptsExhausted);
        }
        let delay = self.backoff(
            failed.number.saturating_sub(1),
            failed.class.retry_after(),
            rng,
        );
        let next_attempt = match failed.class {
            ErrorClass::ModelTimeout => self.min_attempt.max(failed.took),
            _ => self.min_attempt,
        };
        if !fits(now, delay.saturating_add(next_attempt), deadline) {
            return RetryDecision::Stop(StopReason::DeadlineTooClose);
        }
        if !budget.try_withdraw(now) {
            return RetryDecision::Stop(StopReason::BudgetExhausted);
        }
        RetryDecision::RetryAfter(delay)
    }

    /// Runs `attempt` until it succeeds or [`decide`](Self::decide) stops, sleeping on
    /// `ctx.clock` between attempts. Successes deposit into the budget.
    ///
    /// For a stream, the attempt should resolve when the response has started (before the
    /// first byte goes to the client); failures after that are not retried.
    pub async fn run<T, E, F, Fut, K, C>(
        &self,
        ctx: RetryContext<'_, C>,
        mut attempt: F,
        classify: K,
    ) -> RetryOutcome<T, E>
    where
        F: FnMut(AttemptInfo) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        K: Fn(&E) -> ErrorClass,
        C: Clock,
    {
        let RetryContext {
            deadline,
            budget,
            clock,
            rng,
        } = ctx;
        if !fits(clock.now(), self.min_attempt, deadline) {
            return RetryOutcome {
                attempts: 0,
                result: Err(RetryError::NoTimeForAttempt),
            };
        }
        let mut number = 0;
        loop {
            number += 1;
            let started = clock.now();
            let remaining = deadline.saturating_duration_since(started);
            let error = match attempt(AttemptInfo { number, remaining }).await {
                Ok(value) => {
                    budget.deposit();
                    return RetryOutcome {
                        attempts: number,
                        result: Ok(value),
                    };
                }
                Err(error) => error,
            };
            let now = clock.now();
            let failed = FailedAttempt {
                number,
                class: classify(&error),
                took: now.saturating_duration_since(started),
            };
            match self.decide(&failed, now, deadline, budget, rng) {
                RetryDecision::RetryAfter(delay) => {
                    tracing::debug!(
                        attempt = number,
                        class = failed.class.as_str(),
                        ?delay,
                        "retrying model call"
                    );
                    clock.sleep(delay).await;
                }
                RetryDecision::Stop(reason) => {
                    let result = Err(RetryError::Failed {
                        error,
                        class: failed.class,
                        reason,
                    });
                    return RetryOutcome {
                        attempts: number,
                        result,
                    };
                }
            }
        }
    }
}

/// Whether something taking `needed` from `now` ends no later than `deadline`.
fn fits(now: Instant, needed: Duration, deadline: Instant) -> bool {
    now.checked_add(needed).is_some_and(|end| end <= deadline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resilience::in_memory::FakeClock;
    use crate::resilience::retry_budget::RetryBudgetConfig;
    use std::cell::Cell;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            min_attempt: Duration::from_millis(200),
        }
    }

    fn generous_budget() -> RetryBudget {
        RetryBudget::new(RetryBudgetConfig {
            retry_ratio: 0.1,
            min_retries_per_sec: 100.0,
            max_balance: 100.0,
        })
    }

    fn throttled() -> ErrorClass {
        ErrorClass::Throttled { retry_after: None }
    }

    #[test]
    fn backoff_stays_within_the_exponential_ceiling() {
        let policy = policy();
        let mut rng = fastrand::Rng::with_seed(7);
        for retry in 0..10 {
            let ceiling = Duration::from_millis(100 * (1 << retry)).min(policy.max_delay);
            for _ in 0..50 {
                assert!(policy.backoff(retry, None, &mut rng) <= ceiling);
            }
        }
        // Huge indices saturate instead of overflowing.
        assert!(policy.backoff(200, None, &mut rng) <= policy.max_delay);
    }

    #[test]
    fn backoff_honours_retry_after_up_to_max_delay() {
        let policy = policy();
        let mut rng = fastrand::Rng::with_seed(1);
        let hinted = policy.backoff(0, Some(Duration::from_millis(900)), &mut rng);
        assert_eq!(hinted, Duration::from_millis(900));
        let capped = policy.backoff(0, Some(Duration::from_secs(60)), &mut rng);
        assert_eq!(capped, policy.max_delay);
    }

    #[test]
    fn decide_stops_on_non_retryable_and_exhausted_attempts() {
        let policy = policy();
        let budget = generous_budget();
        let mut rng = fastrand::Rng::with_seed(1);
        let now = Instant::now();
        let deadline = now + Duration::from_secs(30);
        let failed = |number, class| FailedAttempt {
            number,
            class,
            took: Duration::from_millis(50),
        };
        assert_eq!(
            policy.decide(
                &failed(1, ErrorClass::Validation),
                now,
                deadline,
                &budget,
                &mut rng
            ),
            RetryDecision::Stop(StopReason::NotRetryable)
        );
        assert_eq!(
            policy.decide(&failed(3, throttled()), now, deadline, &budget, &mut rng),
            RetryDecision::Stop(StopReason::AttemptsExhausted)
        );
        assert!(matches!(
            policy.decide(&failed(1, throttled()), now, deadline, &budget, &mut rng),
            RetryDecision::RetryAfter(_)
        ));
    }

    #[test]
    fn decide_never_starts_an_attempt_that_cannot_finish() {
        let policy = policy();
        let budget = generous_budget();
        let mut rng = fastrand::Rng::with_seed(1);
        let now = Instant::now();
        // The hint alone (1 s) plus the minimal attempt (200 ms) overshoots a 1.1 s deadline.
        let class = ErrorClass::Throttled {
            retry_after: Some(Duration::from_secs(1)),
        };
        let failed = FailedAttempt {
            number: 1,
            class,
            took: Duration::ZERO,
        };
        assert_eq!(
            policy.decide(
                &failed,
                now,
                now + Duration::from_millis(1100),
                &budget,
                &mut rng
            ),
            RetryDecision::Stop(StopReason::DeadlineTooClose)
        );
        // The budget was not charged for the retry that did not happen.
        assert!(budget.balance(now) >= 100.0 - 1e-9);
    }

    #[test]
    fn a_timeout_is_retried_only_if_a_whole_timeout_fits_again() {
        let policy = policy();
        let budget = generous_budget();
        let mut rng = fastrand::Rng::with_seed(1);
        let now = Instant::now();
        let failed = FailedAttempt {
            number: 1,
            class: ErrorClass::ModelTimeout,
            took: Duration::from_secs(5),
        };
        assert_eq!(
            policy.decide(
                &failed,
                now,
                now + Duration::from_secs(4),
                &budget,
                &mut rng
            ),
            RetryDecision::Stop(StopReason::DeadlineTooClose)
        );
        assert!(matches!(
            policy.decide(
                &failed,
                now,
                now + Duration::from_secs(10),
                &budget,
                &mut rng
            ),
            RetryDecision::RetryAfter(_)
        ));
    }

    #[test]
    fn decide_stops_when_the_budget_is_spent() {
        let policy = policy();
        let budget = RetryBudget::new(RetryBudgetConfig {
            retry_ratio: 0.1,
            min_retries_per_sec: 0.0,
            max_balance: 10.0,
        });
        let mut rng = fastrand::Rng::with_seed(1);
        let now = Instant::now();
        // The budget starts full; spend it.
        while budget.try_withdraw(now) {}
        let failed = FailedAttempt {
            number: 1,
            class: ErrorClass::ServerError,
            took: Duration::ZERO,
        };
        assert_eq!(
            policy.decide(
                &failed,
                now,
                now + Duration::from_secs(30),
                &budget,
                &mut rng
            ),
            RetryDecision::Stop(StopReason::BudgetExhausted)
        );
    }

    #[tokio::test]
    async fn run_retries_until_success_and_sleeps_on_the_clock() {
        let clock = FakeClock::new();
        let budget = generous_budget();
        let mut rng = fastrand::Rng::with_seed(3);
        let calls = Cell::new(0);
        let ctx = RetryContext {
            deadline: clock.now() + Duration::from_secs(30),
            budget: &budget,
            clock: &clock,
            rng: &mut rng,
        };
        let outcome = policy()
            .run(
                ctx,
                |info| {
                    calls.set(calls.get() + 1);
                    assert_eq!(info.number, calls.get());
                    async move {
                        if info.number < 3 {
                            Err("503")
                        } else {
                            Ok("done")
                        }
                    }
                },
                |_: &&str| ErrorClass::Unavailable,
            )
            .await;
        assert_eq!(outcome.attempts, 3);
        assert_eq!(outcome.result, Ok("done"));
        assert_eq!(clock.sleeps().len(), 2);
    }

    #[tokio::test]
    async fn run_reports_the_last_error_and_why_it_stopped() {
        let clock = FakeClock::new();
        let budget = generous_budget();
        let mut rng = fastrand::Rng::with_seed(3);
        let ctx = RetryContext {
            deadline: clock.now() + Duration::from_secs(30),
            budget: &budget,
            clock: &clock,
            rng: &mut rng,
        };
        let outcome = policy()
            .run(
                ctx,
                |info| async move { Err::<(), _>(info.number) },
                |_: &u32| throttled(),
            )
            .await;
        assert_eq!(outcome.attempts, 3);
        assert_eq!(
            outcome.result,
            Err(RetryError::Failed {
                error: 3,
                class: throttled(),
                reason: StopReason::AttemptsExhausted
            })
        );
    }

    #[tokio::test]
    async fn run_makes_no_call_when_the_deadline_is_too_close() {
        let clock = FakeClock::new();
        let budget = generous_budget();
        let mut rng = fastrand::Rng::with_seed(3);
        let ctx = RetryContext {
            deadline: clock.now() + Duration::from_millis(50),
            budget: &budget,
            clock: &clock,
            rng: &mut rng,
        };
        let outcome = policy()
            .run(
                ctx,
                |_| async { Ok::<_, ()>(()) },
                |_: &()| ErrorClass::Other,
            )
            .await;
        assert_eq!(outcome.attempts, 0);
        assert_eq!(outcome.result, Err(RetryError::NoTimeForAttempt));
        assert!(!RetryError::<()>::NoTimeForAttempt.falls_over());
    }

    #[tokio::test]
    async fn run_stops_early_when_time_runs_out_between_attempts() {
        let clock = FakeClock::new();
        let budget = generous_budget();
        let mut rng = fastrand::Rng::with_seed(3);
        let deadline = clock.now() + Duration::from_millis(1150);
        let ctx = RetryContext {
            deadline,
            budget: &budget,
            clock: &clock,
            rng: &mut rng,
        };
        // The attempt takes a full second of fake time; 150 ms are left, less than a minimal attempt.
        let outcome = policy()
            .run(
                ctx,
                |_| {
                    clock.advance(Duration::from_secs(1));
                    async { Err::<(), _>("slow 500") }
                },
                |_: &&str| ErrorClass::ServerError,
            )
            .await;
        assert_eq!(outcome.attempts, 1);
        assert!(matches!(
            outcome.result,
            Err(RetryError::Failed {
                reason: StopReason::DeadlineTooClose,
                ..
            })
        ));
        assert!(clock.now() <= deadline);
    }

    #[tokio::test]
    async fn run_classifies_gateway_errors_directly() {
        use crate::error::{GatewayError, UpstreamKind};
        let clock = FakeClock::new();
        let budget = generous_budget();
        let mut rng = fastrand::Rng::with_seed(3);
        let ctx = RetryContext {
            deadline: clock.now() + Duration::from_secs(30),
            budget: &budget,
            clock: &clock,
            rng: &mut rng,
        };
        let outcome = policy()
            .run(
                ctx,
                |_| async {
                    Err::<(), _>(GatewayError::Upstream {
                        kind: UpstreamKind::AccessDenied,
                        message: String::new(),
                        retry_after: None,
                    })
                },
                ErrorClass::of,
            )
            .await;
        assert_eq!(outcome.attempts, 1, "access denied is not retried");
        assert!(outcome.result.is_err_and(|e| e.falls_over()));
    }

    #[test]
    fn run_future_is_send_for_axum_handlers() {
        fn assert_send<T: Send>(_: &T) {}
        let clock = FakeClock::new();
        let budget = RetryBudget::default();
        let mut rng = fastrand::Rng::with_seed(1);
        let ctx = RetryContext {
            deadline: clock.now(),
            budget: &budget,
            clock: &clock,
            rng: &mut rng,
        };
        let policy = policy();
        let future = policy.run(
            ctx,
            |_| async { Ok::<u8, String>(1) },
            |_: &String| ErrorClass::Other,
        );
        assert_send(&future);
    }

    #[test]
    fn policy_config_reads_milliseconds_and_validates() {
        let policy: RetryPolicy =
            serde_json::from_str(r#"{"max_attempts":2,"base_delay_ms":100,"max_delay_ms":50}"#)
                .unwrap();
        assert_eq!(policy.base_delay, Duration::from_millis(100));
        assert_eq!(policy.min_attempt, RetryPolicy::default().min_attempt);
        assert_eq!(policy.validate().map_err(|e| e.key), Err("max_delay_ms"));
        assert!(RetryPolicy::default().validate().is_ok());
    }
}
