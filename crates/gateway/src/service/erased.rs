//! The stores and the clock behind one concrete type each, so `Gateway<M>` keeps a single type
//! parameter whichever adapters a function wires in (DynamoDB, in-memory, a test double).
//! Boxing costs one allocation per store call; store calls are rare by design (per-instance
//! caches), so the hot path does not notice.

use crate::ports::Target;
use crate::resilience::{
    BreakerRecord, BreakerStore, Clock, HealthDelta, HealthStore, ModelHealth,
};
use futures_util::TryFutureExt;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Any store's error, as the policies need it: `Display` for the warning they log.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AnyStoreError(Box<dyn std::error::Error + Send + Sync>);

impl AnyStoreError {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(error))
    }
}

trait ObjectBreakerStore: Send + Sync {
    fn load<'a>(
        &'a self,
        key: &'a Target,
    ) -> BoxFuture<'a, Result<Option<BreakerRecord>, AnyStoreError>>;
    fn save<'a>(
        &'a self,
        key: &'a Target,
        record: &'a BreakerRecord,
        expected_version: Option<u64>,
    ) -> BoxFuture<'a, Result<bool, AnyStoreError>>;
}

impl<S: BreakerStore> ObjectBreakerStore for S {
    fn load<'a>(
        &'a self,
        key: &'a Target,
    ) -> BoxFuture<'a, Result<Option<BreakerRecord>, AnyStoreError>> {
        Box::pin(BreakerStore::load(self, key).map_err(AnyStoreError::new))
    }

    fn save<'a>(
        &'a self,
        key: &'a Target,
        record: &'a BreakerRecord,
        expected_version: Option<u64>,
    ) -> BoxFuture<'a, Result<bool, AnyStoreError>> {
        Box::pin(
            self.save_if_version(key, record, expected_version)
                .map_err(AnyStoreError::new),
        )
    }
}

/// A [`BreakerStore`] of any type.
#[derive(Clone)]
pub struct AnyBreakerStore(Arc<dyn ObjectBreakerStore>);

impl AnyBreakerStore {
    pub fn new(store: impl BreakerStore + 'static) -> Self {
        Self(Arc::new(store))
    }
}

impl BreakerStore for AnyBreakerStore {
    type Error = AnyStoreError;

    fn load(
        &self,
        key: &Target,
    ) -> impl Future<Output = Result<Option<BreakerRecord>, AnyStoreError>> + Send {
        // Owned copies: the boxed future may borrow only `self`, not the caller's arguments.
        let key = key.clone();
        async move { self.0.load(&key).await }
    }

    fn save_if_version(
        &self,
        key: &Target,
        record: &BreakerRecord,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<bool, AnyStoreError>> + Send {
        let (key, record) = (key.clone(), record.clone());
        async move { self.0.save(&key, &record, expected_version).await }
    }
}

trait ObjectHealthStore: Send + Sync {
    fn load_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<HashMap<String, ModelHealth>, AnyStoreError>>;
    fn merge<'a>(
        &'a self,
        key: &'a str,
        delta: &'a HealthDelta,
        alpha: f64,
    ) -> BoxFuture<'a, Result<ModelHealth, AnyStoreError>>;
}

impl<S: HealthStore> ObjectHealthStore for S {
    fn load_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<HashMap<String, ModelHealth>, AnyStoreError>> {
        Box::pin(HealthStore::load_many(self, keys).map_err(AnyStoreError::new))
    }

    fn merge<'a>(
        &'a self,
        key: &'a str,
        delta: &'a HealthDelta,
        alpha: f64,
    ) -> BoxFuture<'a, Result<ModelHealth, AnyStoreError>> {
        Box::pin(HealthStore::merge(self, key, delta, alpha).map_err(AnyStoreError::new))
    }
}

/// A [`HealthStore`] of any type.
#[derive(Clone)]
pub struct AnyHealthStore(Arc<dyn ObjectHealthStore>);

impl AnyHealthStore {
    pub fn new(store: impl HealthStore + 'static) -> Self {
        Self(Arc::new(store))
    }
}

impl HealthStore for AnyHealthStore {
    type Error = AnyStoreError;

    fn load_many(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<HashMap<String, ModelHealth>, AnyStoreError>> + Send {
        let keys = keys.to_vec();
        async move { self.0.load_many(&keys).await }
    }

    fn merge(
        &self,
        key: &str,
        delta: &HealthDelta,
        alpha: f64,
    ) -> impl Future<Output = Result<ModelHealth, AnyStoreError>> + Send {
        let (key, delta) = (key.to_owned(), delta.clone());
        async move { self.0.merge(&key, &delta, alpha).await }
    }
}

trait ObjectClock: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()>;
}

impl<C: Clock> ObjectClock for C {
    fn now(&self) -> Instant {
        Clock::now(self)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(Clock::sleep(self, duration))
    }
}

/// A [`Clock`] of any type.
#[derive(Clone)]
pub struct AnyClock(Arc<dyn ObjectClock>);

impl AnyClock {
    pub fn new(clock: impl Clock + 'static) -> Self {
        Self(Arc::new(clock))
    }
}

impl Clock for AnyClock {
    fn now(&self) -> Instant {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        self.0.sleep(duration)
    }
}
