//! In-memory stand-ins for the stores and the clock: for unit tests here and in other
//! crates, and for the offline runner where no shared state is needed.

use super::breaker::BreakerRecord;
use super::clock::Clock;
use super::health::{HealthDelta, HealthStore, ModelHealth};
use super::shared_breaker::BreakerStore;
use crate::ports::Target;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A clock that only moves when slept on or advanced, and remembers every sleep.
#[derive(Debug)]
pub struct FakeClock {
    now: Mutex<Instant>,
    sleeps: Mutex<Vec<Duration>>,
}

impl FakeClock {
    pub fn new() -> Self {
        Self {
            now: Mutex::new(Instant::now()),
            sleeps: Mutex::new(Vec::new()),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now);
        *now += by;
    }

    pub fn sleeps(&self) -> Vec<Duration> {
        lock(&self.sleeps).clone()
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        *lock(&self.now)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        lock(&self.sleeps).push(duration);
        self.advance(duration);
        std::future::ready(())
    }
}

/// A [`BreakerStore`] in a map, with the same conditional-write rule as the DynamoDB one.
#[derive(Debug, Default)]
pub struct InMemoryBreakerStore {
    records: Mutex<HashMap<Target, BreakerRecord>>,
    loads: AtomicUsize,
    saves: AtomicUsize,
}

impl InMemoryBreakerStore {
    pub fn get(&self, key: &Target) -> Option<BreakerRecord> {
        lock(&self.records).get(key).cloned()
    }

    /// Loads served so far.
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::Relaxed)
    }

    /// Successful saves so far.
    pub fn saves(&self) -> usize {
        self.saves.load(Ordering::Relaxed)
    }
}

impl BreakerStore for InMemoryBreakerStore {
    type Error = Infallible;

    fn load(
        &self,
        key: &Target,
    ) -> impl Future<Output = Result<Option<BreakerRecord>, Infallible>> + Send {
        self.loads.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Ok(self.get(key)))
    }

    fn save_if_version(
        &self,
        key: &Target,
        record: &BreakerRecord,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        let mut records = lock(&self.records);
        let current = records.get(key).map(|r| r.version);
        let saved = current == expected_version;
        if saved {
            records.insert(key.clone(), record.clone());
            self.saves.fetch_add(1, Ordering::Relaxed);
        }
        std::future::ready(Ok(saved))
    }
}

/// The error of [`FailingBreakerStore`].
#[derive(Debug, thiserror::Error)]
#[error("store unavailable")]
pub struct StoreDown;

/// A store that is always down, to test that breakers degrade to local state.
#[derive(Debug, Default)]
pub struct FailingBreakerStore;

impl BreakerStore for FailingBreakerStore {
    type Error = StoreDown;

    fn load(
        &self,
        _: &Target,
    ) -> impl Future<Output = Result<Option<BreakerRecord>, StoreDown>> + Send {
        std::future::ready(Err(StoreDown))
    }

    fn save_if_version(
        &self,
        _: &Target,
        _: &BreakerRecord,
        _: Option<u64>,
    ) -> impl Future<Output = Result<bool, StoreDown>> + Send {
        std::future::ready(Err(StoreDown))
    }
}

/// A [`HealthStore`] in a map.
#[derive(Debug, Default)]
pub struct InMemoryHealthStore {
    aggregates: Mutex<HashMap<String, ModelHealth>>,
    loads: AtomicUsize,
    merges: AtomicUsize,
}

impl InMemoryHealthStore {
    pub fn get(&self, key: &str) -> Option<ModelHealth> {
        lock(&self.aggregates).get(key).cloned()
    }

    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::Relaxed)
    }

    pub fn merges(&self) -> usize {
        self.merges.load(Ordering::Relaxed)
    }
}

impl HealthStore for InMemoryHealthStore {
    type Error = Infallible;

    fn load_many(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<HashMap<String, ModelHealth>, Infallible>> + Send {
        self.loads.fetch_add(1, Ordering::Relaxed);
        let aggregates = lock(&self.aggregates);
        let found = keys
            .iter()
            .filter_map(|k| aggregates.get(k).map(|h| (k.clone(), h.clone())))
            .collect();
        std::future::ready(Ok(found))
    }

    fn merge(
        &self,
        key: &str,
        delta: &HealthDelta,
        alpha: f64,
    ) -> impl Future<Output = Result<ModelHealth, Infallible>> + Send {
        self.merges.fetch_add(1, Ordering::Relaxed);
        let mut aggregates = lock(&self.aggregates);
        let health = aggregates.entry(key.to_owned()).or_default();
        health.apply(delta, alpha);
        std::future::ready(Ok(health.clone()))
    }
}
