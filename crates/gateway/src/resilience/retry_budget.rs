//! A per-instance token bucket that caps retries relative to successes, so a throttle storm
//! is not multiplied by every instance retrying every call.

use super::error::{InvalidConfig, ensure};
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryBudgetConfig {
    /// Tokens a success deposits; one retry costs one token. 0.1 allows one retry per ten
    /// successes on top of the floor.
    pub retry_ratio: f64,
    /// Retries per second allowed whatever the success history, so a fresh (cold) instance
    /// can still retry a little.
    pub min_retries_per_sec: f64,
    /// Upper bound on saved-up tokens, so a long healthy period cannot fund a burst.
    pub max_balance: f64,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            retry_ratio: 0.1,
            min_retries_per_sec: 1.0,
            max_balance: 10.0,
        }
    }
}

impl RetryBudgetConfig {
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        ensure(
            self.retry_ratio >= 0.0,
            "retry_ratio",
            "must not be negative",
        )?;
        ensure(
            self.min_retries_per_sec >= 0.0,
            "min_retries_per_sec",
            "must not be negative",
        )?;
        ensure(
            self.max_balance >= 1.0,
            "max_balance",
            "must allow at least one retry",
        )
    }
}

/// Share one per instance (`Arc<RetryBudget>`) across all model calls. A `Mutex` is cheap
/// here: a Lambda instance serves one request at a time, so it is never contended.
#[derive(Debug)]
pub struct RetryBudget {
    config: RetryBudgetConfig,
    state: Mutex<BudgetState>,
}

#[derive(Debug)]
struct BudgetState {
    balance: f64,
    refilled_at: Option<Instant>,
}

impl RetryBudget {
    /// Starts full, as the AWS SDK's own retry bucket does: on Lambda most instances are
    /// fresh, and a fresh instance must retry as configured, not give up after one retry
    /// until it has seen ten successes.
    pub fn new(config: RetryBudgetConfig) -> Self {
        let balance = config.max_balance;
        Self {
            config,
            state: Mutex::new(BudgetState {
                balance,
                refilled_at: None,
            }),
        }
    }

    /// Called on every successful attempt.
    pub fn deposit(&self) {
        let mut state = self.lock();
        state.balance = (state.balance + self.config.retry_ratio).min(self.config.max_balance);
    }

    /// Takes one token for a retry; `false` means the retry must not happen.
    pub fn try_withdraw(&self, now: Instant) -> bool {
        let mut state = self.lock();
        self.refill(&mut state, now);
        if state.balance >= 1.0 {
            state.balance -= 1.0;
            true
        } else {
            false
        }
    }

    /// The tokens available at `now`, for metrics and tests.
    pub fn balance(&self, now: Instant) -> f64 {
        let mut state = self.lock();
        self.refill(&mut state, now);
        state.balance
    }

    /// Time tops the balance up to the floor only; savings above it come from successes.
    fn refill(&self, state: &mut BudgetState, now: Instant) {
        let floor = self.config.min_retries_per_sec.min(self.config.max_balance);
        if let Some(at) = state.refilled_at {
            let earned =
                now.saturating_duration_since(at).as_secs_f64() * self.config.min_retries_per_sec;
            if state.balance < floor {
                state.balance = (state.balance + earned).min(floor);
            }
        }
        state.refilled_at = Some(now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        // The state is two numbers that are always valid; a panic elsewhere cannot corrupt it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(RetryBudgetConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget(ratio: f64, floor: f64) -> RetryBudget {
        RetryBudget::new(RetryBudgetConfig {
            retry_ratio: ratio,
            min_retries_per_sec: floor,
            max_balance: 10.0,
        })
    }

    #[test]
    fn a_storm_is_capped_by_the_floor() {
        let budget = budget(0.1, 1.0);
        let t0 = Instant::now();
        let allowed = (0..100)
            .filter(|i| budget.try_withdraw(t0 + Duration::from_millis(i * 10)))
            .count();
        // One second of storm: the full starting balance plus ~one refilled token.
        assert!(allowed <= 11, "allowed {allowed}");
        let later = t0 + Duration::from_secs(2);
        let after = (0..100)
            .filter(|i| budget.try_withdraw(later + Duration::from_millis(i * 10)))
            .count();
        assert!(
            after <= 2,
            "the floor only, once the balance is spent: {after}"
        );
    }

    #[test]
    fn a_fresh_instance_starts_with_a_full_balance() {
        let budget = budget(0.1, 1.0);
        let now = Instant::now();
        assert!((budget.balance(now) - 10.0).abs() < 1e-9);
        assert_eq!((0..20).filter(|_| budget.try_withdraw(now)).count(), 10);
    }

    #[test]
    fn successes_fund_retries_at_the_ratio() {
        let budget = budget(0.1, 0.0);
        let now = Instant::now();
        while budget.try_withdraw(now) {}
        assert!(!budget.try_withdraw(now));
        for _ in 0..20 {
            budget.deposit();
        }
        assert!(budget.try_withdraw(now));
        assert!(budget.try_withdraw(now));
        assert!(!budget.try_withdraw(now));
    }

    #[test]
    fn balance_is_capped() {
        let budget = budget(1.0, 0.0);
        for _ in 0..100 {
            budget.deposit();
        }
        assert!((budget.balance(Instant::now()) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn config_rejects_a_budget_that_never_allows_a_retry() {
        let config = RetryBudgetConfig {
            max_balance: 0.5,
            ..RetryBudgetConfig::default()
        };
        assert_eq!(config.validate().map_err(|e| e.key), Err("max_balance"));
    }
}
