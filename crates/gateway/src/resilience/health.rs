//! Per-model latency and error aggregates (EWMAs), updated by pure functions and shared across
//! instances through a store, with a per-instance cache and periodic flushes of local deltas.

use super::error::{InvalidConfig, ensure};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// EWMA weight of one new sample (0..=1]; 0.2 forgets a change within ~10 samples.
    pub alpha: f64,
    /// How long an instance trusts its cached aggregates.
    pub cache_ttl_ms: u64,
    /// How often an instance merges its local observations into the store.
    pub flush_interval_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            alpha: 0.2,
            cache_ttl_ms: 5_000,
            flush_interval_ms: 5_000,
        }
    }
}

impl HealthConfig {
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        ensure(
            self.alpha > 0.0 && self.alpha <= 1.0,
            "alpha",
            "must be in (0, 1]",
        )
    }
}

/// The aggregate of one model (or model+region: the key is the caller's choice).
/// `ewma_latency_ms == 0` means no successful call was seen yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelHealth {
    pub ewma_latency_ms: f64,
    pub error_rate_ewma: f64,
    pub samples: u64,
    pub updated_at_ms: u64,
}

/// Observations not yet folded into the shared aggregate. Latency sums successes only: a fast
/// 429 must not make a throttled model look quick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthDelta {
    pub samples: u32,
    pub errors: u32,
    pub latency_ms_sum: f64,
    pub last_at_ms: u64,
}

impl HealthDelta {
    pub fn add(&mut self, now_ms: u64, latency_ms: f64, success: bool) {
        self.samples = self.samples.saturating_add(1);
        if success {
            self.latency_ms_sum += latency_ms.max(0.0);
        } else {
            self.errors = self.errors.saturating_add(1);
        }
        self.last_at_ms = self.last_at_ms.max(now_ms);
    }

    pub fn merge(&mut self, other: &HealthDelta) {
        self.samples = self.samples.saturating_add(other.samples);
        self.errors = self.errors.saturating_add(other.errors);
        self.latency_ms_sum += other.latency_ms_sum;
        self.last_at_ms = self.last_at_ms.max(other.last_at_ms);
    }

    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }
}

impl ModelHealth {
    pub fn observe(&mut self, now_ms: u64, latency_ms: f64, success: bool, alpha: f64) {
        let mut delta = HealthDelta::default();
        delta.add(now_ms, latency_ms, success);
        self.apply(&delta, alpha);
    }

    /// Folds a batch in as if its samples arrived one by one with the batch's mean value,
    /// so flushing every call or every few seconds gives nearly the same aggregate.
    pub fn apply(&mut self, delta: &HealthDelta, alpha: f64) {
        if delta.is_empty() {
            return;
        }
        let error_mean = f64::from(delta.errors) / f64::from(delta.samples);
        self.error_rate_ewma = if self.samples == 0 {
            error_mean
        } else {
            blend(self.error_rate_ewma, error_mean, alpha, delta.samples)
        };
        let successes = delta.samples.saturating_sub(delta.errors);
        if successes > 0 {
            let latency_mean = delta.latency_ms_sum / f64::from(successes);
            self.ewma_latency_ms = if self.ewma_latency_ms <= 0.0 {
                latency_mean
            } else {
                blend(self.ewma_latency_ms, latency_mean, alpha, successes)
            };
        }
        self.samples = self.samples.saturating_add(u64::from(delta.samples));
        self.updated_at_ms = self.updated_at_ms.max(delta.last_at_ms);
    }

    /// Whether the aggregate still describes the model; stale or empty ones are "unknown".
    pub fn is_fresh(&self, now_ms: u64, stale_after_ms: u64) -> bool {
        self.samples > 0 && now_ms.saturating_sub(self.updated_at_ms) < stale_after_ms
    }
}

/// `n` EWMA steps towards `mean`.
fn blend(current: f64, mean: f64, alpha: f64, n: u32) -> f64 {
    let keep = (1.0 - alpha.clamp(0.0, 1.0)).powi(i32::try_from(n).unwrap_or(i32::MAX));
    current * keep + mean * (1.0 - keep)
}

/// Where aggregates are shared (`HEALTH#<key>` items in production).
pub trait HealthStore: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The stored aggregates of those `keys` that have one.
    fn load_many(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<HashMap<String, ModelHealth>, Self::Error>> + Send;

    /// Folds `delta` into the stored aggregate with [`ModelHealth::apply`] (read, apply,
    /// conditional write; retry on conflict) and returns the merged aggregate.
    fn merge(
        &self,
        key: &str,
        delta: &HealthDelta,
        alpha: f64,
    ) -> impl Future<Output = Result<ModelHealth, Self::Error>> + Send;
}

/// So one store can back several instances' aggregates (and tests can inspect it).
impl<S: HealthStore> HealthStore for std::sync::Arc<S> {
    type Error = S::Error;

    fn load_many(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<HashMap<String, ModelHealth>, S::Error>> + Send {
        (**self).load_many(keys)
    }

    fn merge(
        &self,
        key: &str,
        delta: &HealthDelta,
        alpha: f64,
    ) -> impl Future<Output = Result<ModelHealth, S::Error>> + Send {
        (**self).merge(key, delta, alpha)
    }
}

/// One per instance. Observing is local and synchronous; the store is read at most once per
/// TTL per key and written once per flush interval per key. Store failures only cost
/// freshness (logged), never a request.
pub struct SharedHealth<S> {
    store: S,
    config: HealthConfig,
    state: Mutex<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    view: HashMap<String, ModelHealth>,
    loaded_at_ms: HashMap<String, u64>,
    pending: HashMap<String, HealthDelta>,
    flushed_at_ms: Option<u64>,
}

impl<S: HealthStore> SharedHealth<S> {
    pub fn new(store: S, config: HealthConfig) -> Self {
        Self {
            store,
            config,
            state: Mutex::new(HealthState::default()),
        }
    }

    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Aggregates for `keys` (those known), refreshing stale cache entries in one load.
    pub async fn snapshot(&self, keys: &[String], now_ms: u64) -> HashMap<String, ModelHealth> {
        let ttl = self.config.cache_ttl_ms;
        let stale: Vec<String> = {
            let state = self.lock();
            keys.iter()
                .filter(|k| {
                    state
                        .loaded_at_ms
                        .get(*k)
                        .is_none_or(|at| now_ms >= at.saturating_add(ttl))
                })
                .cloned()
                .collect()
        };
        if !stale.is_empty() {
            let loaded = self.store.load_many(&stale).await;
            let mut state = self.lock();
            for key in &stale {
                state.loaded_at_ms.insert(key.clone(), now_ms);
            }
            match loaded {
                Ok(found) => {
                    for (key, mut health) in found {
                        if let Some(pending) = state.pending.get(&key) {
                            health.apply(pending, self.config.alpha);
                        }
                        state.view.insert(key, health);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "health store load failed; using cached aggregates")
                }
            }
        }
        let state = self.lock();
        keys.iter()
            .filter_map(|k| state.view.get(k).map(|h| (k.clone(), h.clone())))
            .collect()
    }

    /// Records one call's latency and success locally; visible to this instance at once.
    pub fn observe(&self, key: &str, now_ms: u64, latency_ms: f64, success: bool) {
        let mut state = self.lock();
        state.flushed_at_ms.get_or_insert(now_ms);
        state.view.entry(key.to_owned()).or_default().observe(
            now_ms,
            latency_ms,
            success,
            self.config.alpha,
        );
        state
            .pending
            .entry(key.to_owned())
            .or_default()
            .add(now_ms, latency_ms, success);
    }

    /// Merges local observations into the store once per flush interval. Call it at the end
    /// of each invocation: a frozen Lambda instance flushes nothing.
    pub async fn flush_if_due(&self, now_ms: u64) {
        let taken = {
            let mut state = self.lock();
            let due = state
                .flushed_at_ms
                .is_some_and(|at| now_ms >= at.saturating_add(self.config.flush_interval_ms));
            if !due || state.pending.is_empty() {
                return;
            }
            state.flushed_at_ms = Some(now_ms);
            std::mem::take(&mut state.pending)
        };
        for (key, delta) in taken {
            let merged = self.store.merge(&key, &delta, self.config.alpha).await;
            let mut state = self.lock();
            match merged {
                Ok(mut health) => {
                    if let Some(newer) = state.pending.get(&key) {
                        health.apply(newer, self.config.alpha);
                    }
                    state.view.insert(key.clone(), health);
                    state.loaded_at_ms.insert(key, now_ms);
                }
                Err(error) => {
                    tracing::warn!(%error, key = %key, "health store merge failed; keeping the delta");
                    state.pending.entry(key).or_default().merge(&delta);
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HealthState> {
        // A cache of the store; a panic mid-update leaves at worst a stale view.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resilience::in_memory::InMemoryHealthStore;
    use std::sync::Arc;

    #[test]
    fn first_samples_set_the_aggregate_and_later_ones_blend() {
        let mut health = ModelHealth::default();
        health.observe(1_000, 400.0, true, 0.5);
        assert_eq!(
            (
                health.ewma_latency_ms,
                health.error_rate_ewma,
                health.samples
            ),
            (400.0, 0.0, 1)
        );
        health.observe(2_000, 800.0, true, 0.5);
        assert!((health.ewma_latency_ms - 600.0).abs() < 1e-9);
        health.observe(3_000, 5.0, false, 0.5);
        assert!(
            (health.ewma_latency_ms - 600.0).abs() < 1e-9,
            "failures do not move latency"
        );
        assert!((health.error_rate_ewma - 0.5).abs() < 1e-9);
        assert_eq!(health.updated_at_ms, 3_000);
    }

    #[test]
    fn a_batch_equals_the_same_samples_one_by_one_when_they_are_equal() {
        let mut one_by_one = ModelHealth {
            ewma_latency_ms: 100.0,
            samples: 5,
            ..ModelHealth::default()
        };
        let mut batched = one_by_one.clone();
        let mut delta = HealthDelta::default();
        for _ in 0..4 {
            one_by_one.observe(1_000, 300.0, true, 0.2);
            delta.add(1_000, 300.0, true);
        }
        batched.apply(&delta, 0.2);
        assert!((one_by_one.ewma_latency_ms - batched.ewma_latency_ms).abs() < 1e-9);
    }

    #[test]
    fn freshness_expires() {
        let health = ModelHealth {
            samples: 3,
            updated_at_ms: 1_000,
            ..ModelHealth::default()
        };
        assert!(health.is_fresh(50_000, 60_000));
        assert!(!health.is_fresh(61_000, 60_000));
        assert!(!ModelHealth::default().is_fresh(0, 60_000));
    }

    #[tokio::test]
    async fn instances_share_aggregates_through_periodic_flushes() {
        let store = Arc::new(InMemoryHealthStore::default());
        let a = SharedHealth::new(store.clone(), HealthConfig::default());
        let b = SharedHealth::new(store.clone(), HealthConfig::default());
        let keys = vec!["slow".to_owned()];
        for i in 0..10 {
            a.observe("slow", 1_000 + i, 4_000.0, true);
        }
        a.flush_if_due(2_000).await;
        assert_eq!(store.merges(), 0, "not due yet");
        a.flush_if_due(6_000).await;
        assert_eq!(store.merges(), 1);
        let seen = b.snapshot(&keys, 6_001).await;
        assert_eq!(seen["slow"].ewma_latency_ms, 4_000.0);
        // Cached: a second snapshot within the TTL does not read the store.
        b.snapshot(&keys, 7_000).await;
        assert_eq!(store.loads(), 1);
    }
}
