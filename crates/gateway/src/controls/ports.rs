//! What the controls need from the state table, one small trait per capability. The DynamoDB
//! adapters are in `gateway-aws::controls`; [`super::testing`] has an in-memory one.

use super::cache::CachedAnswer;
use super::keys::{KeyRecord, TenantRecord};
use super::ledger::{LedgerEntry, UsageRow};
use super::reservation::{Adjustment, Counter, Observed};
use std::future::Future;

/// A failed store call. The controls fail closed on the hot path (a request is refused rather
/// than let through uncounted) and log the detail; the caller sees an internal error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Keys and tenant policies, read on the hot path (through a per-instance cache).
pub trait KeyStore: Send + Sync {
    fn key_by_hash(
        &self,
        secret_hash: &str,
    ) -> impl Future<Output = Result<Option<KeyRecord>, StoreError>> + Send;

    fn key_by_id(
        &self,
        key_id: &str,
    ) -> impl Future<Output = Result<Option<KeyRecord>, StoreError>> + Send;

    fn tenant(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<Option<TenantRecord>, StoreError>> + Send;
}

/// The outcome of a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    Admitted,
    /// The condition of `counters[index]` failed: nothing was counted. `observed` is what the
    /// item held, when the store could say.
    Refused {
        index: usize,
        observed: Option<Observed>,
    },
}

/// What is read alongside the reservation (one round trip, concurrently with it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Peek {
    /// The rate-limit item's counters, for the `x-ratelimit-*` headers.
    pub rate: Option<Observed>,
    /// The rate item's `mark`: which request's add the read already shows.
    pub rate_mark: Option<String>,
    pub cached: Option<CachedAnswer>,
}

/// An answer to keep in the response cache, written with the settlement.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheWrite {
    pub key: String,
    pub answer: CachedAnswer,
    /// When the table's TTL may delete it (the later of the cache's and the fallback tier's).
    pub expires_at_secs: u64,
}

/// Everything written after a call, in one round trip.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub adjustments: Vec<Adjustment>,
    /// `None` when a reservation is given back for a call that was never made.
    pub ledger: Option<LedgerEntry>,
    pub cache: Option<CacheWrite>,
}

/// Counters, the ledger and the response cache on the hot path: at most two round trips
/// before the model call (`reserve` and `peek`, concurrently) and one after (`settle`).
pub trait CounterStore: Send + Sync {
    /// All counters or none, atomically.
    fn reserve(
        &self,
        counters: &[Counter],
    ) -> impl Future<Output = Result<Reserved, StoreError>> + Send;

    fn peek(
        &self,
        rate_pk: Option<&str>,
        cache_key: Option<&str>,
    ) -> impl Future<Output = Result<Peek, StoreError>> + Send;

    fn settle(
        &self,
        settlement: &Settlement,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Ledger rows for reports.
pub trait UsageStore: Send + Sync {
    fn usage(
        &self,
        tenant: &str,
        day: &str,
    ) -> impl Future<Output = Result<Vec<UsageRow>, StoreError>> + Send;
}

/// The store of a host that admits nothing (the worker and the stream processor, whose calls
/// were admitted elsewhere): it cannot be made, so its methods are never called.
impl CounterStore for std::convert::Infallible {
    async fn reserve(&self, _counters: &[Counter]) -> Result<Reserved, StoreError> {
        match *self {}
    }

    async fn peek(
        &self,
        _rate_pk: Option<&str>,
        _cache_key: Option<&str>,
    ) -> Result<Peek, StoreError> {
        match *self {}
    }

    async fn settle(&self, _settlement: &Settlement) -> Result<(), StoreError> {
        match *self {}
    }
}
