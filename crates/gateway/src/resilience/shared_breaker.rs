//! Breakers shared by all instances through a store, with a short per-instance cache so the
//! hot path rarely touches the store. Writes happen on state transitions (conditional on the
//! record's version) and as periodic flushes of this instance's counts, never per call.

use super::breaker::{BreakerAdmission, BreakerConfig, BreakerRecord, BreakerState, Transition};
use super::window::Window;
use crate::ports::Target;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Where breaker records are shared (a DynamoDB item `BREAKER#<model>#<region>` in
/// production). A target with `region: None` means the deployment's home region.
pub trait BreakerStore: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The current record, or `None` if none was saved yet. Use a strongly consistent read:
    /// a stale read makes the next conditional write fail.
    fn load(
        &self,
        key: &Target,
    ) -> impl Future<Output = Result<Option<BreakerRecord>, Self::Error>> + Send;

    /// Writes `record` only if the stored version is `expected_version` (`None`: no record
    /// exists yet). `record.version` is already `expected_version + 1`. `Ok(false)` means
    /// another instance wrote first (DynamoDB's ConditionalCheckFailed).
    fn save_if_version(
        &self,
        key: &Target,
        record: &BreakerRecord,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// So one store can back several breakers (and tests can inspect it while a breaker uses it).
impl<S: BreakerStore> BreakerStore for std::sync::Arc<S> {
    type Error = S::Error;

    fn load(
        &self,
        key: &Target,
    ) -> impl Future<Output = Result<Option<BreakerRecord>, S::Error>> + Send {
        (**self).load(key)
    }

    fn save_if_version(
        &self,
        key: &Target,
        record: &BreakerRecord,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<bool, S::Error>> + Send {
        (**self).save_if_version(key, record, expected_version)
    }
}

/// One per instance, holding every target's breaker. Store failures never fail a call: the
/// instance then acts on its own view (a per-instance breaker) and logs a warning.
pub struct SharedBreaker<S> {
    store: S,
    config: BreakerConfig,
    entries: Mutex<HashMap<Target, Entry>>,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    /// This instance's view: the stored record at `local.version`, plus `pending`, plus any
    /// local decision that could not be saved.
    local: BreakerRecord,
    /// Results counted here and not yet added to the stored record.
    pending: Window,
    loaded_at_ms: Option<u64>,
    flushed_at_ms: u64,
}

/// How a write attempt ended; each carries the operation's result.
enum Written<R> {
    Saved(R),
    /// After (re)loading, the operation changed nothing that needs saving.
    Unchanged(R),
    /// Lost the race twice; the local decision stands until the cache refreshes.
    Conflict(R),
    StoreFailed(R),
}

impl<S: BreakerStore> SharedBreaker<S> {
    pub fn new(store: S, config: BreakerConfig) -> Self {
        Self {
            store,
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Whether a call to `key` may go ahead. Writes only when it takes a probe slot or moves
    /// open → half-open, so at most `half_open_max_probes` instances probe at once.
    pub async fn admit(&self, key: &Target, now_ms: u64) -> BreakerAdmission {
        let local = self.fresh(key, now_ms).await;
        let mut next = local.clone();
        let admission = next.admit(&self.config, now_ms);
        if next.control_fields() == local.control_fields() {
            return admission;
        }
        let cfg = &self.config;
        match self
            .write(key, now_ms, |record| record.admit(cfg, now_ms), false)
            .await
        {
            Written::Saved(admission)
            | Written::Unchanged(admission)
            | Written::StoreFailed(admission) => admission,
            // Another instance is changing this breaker right now; do not add a probe.
            Written::Conflict(BreakerAdmission::Probe) => BreakerAdmission::Rejected {
                retry_in: Duration::from_millis(cfg.cache_ttl_ms),
            },
            Written::Conflict(admission) => admission,
        }
    }

    /// Records a call's result. Returns the transition it caused (already saved, unless the
    /// store failed).
    pub async fn record(&self, key: &Target, now_ms: u64, success: bool) -> Transition {
        self.fresh(key, now_ms).await;
        let cfg = &self.config;
        let mut next = {
            let mut entries = self.lock();
            let entry = entries.entry(key.clone()).or_default();
            // Only a closed breaker's rate matters; counting otherwise would only cause flushes.
            if entry.local.state == BreakerState::Closed {
                entry.pending.record(cfg.span(), now_ms, success);
                entry.local.record(cfg, now_ms, success);
            }
            entry.local.clone()
        };
        if next.settle(cfg, now_ms, success) == Transition::None {
            self.flush_if_due(key, now_ms).await;
            return Transition::None;
        }
        self.transition(
            key,
            now_ms,
            |record| record.settle(cfg, now_ms, success),
            false,
        )
        .await
    }

    /// Adds this instance's unflushed counts for `key` to the store if the flush interval has
    /// passed. `record` calls it; call [`flush_all_due`](Self::flush_all_due) at the end of an
    /// invocation too, since a frozen Lambda instance flushes nothing.
    pub async fn flush_if_due(&self, key: &Target, now_ms: u64) {
        let due = self.lock().get(key).is_some_and(|entry| {
            !entry.pending.is_empty()
                && now_ms
                    >= entry
                        .flushed_at_ms
                        .saturating_add(self.config.flush_interval_ms)
        });
        if due {
            let cfg = &self.config;
            self.transition(key, now_ms, |record| record.evaluate(cfg, now_ms), true)
                .await;
        }
    }

    /// [`write`](Self::write)s a transition, whatever became of the save, and logs it when
    /// the breaker changed state.
    async fn transition(
        &self,
        key: &Target,
        now_ms: u64,
        op: impl FnMut(&mut BreakerRecord) -> Transition,
        force: bool,
    ) -> Transition {
        let (Written::Saved(transition)
        | Written::Unchanged(transition)
        | Written::Conflict(transition)
        | Written::StoreFailed(transition)) = self.write(key, now_ms, op, force).await;
        if transition != Transition::None {
            tracing::info!(model = %key.model_id, region = ?key.region, ?transition, "circuit breaker transition");
        }
        transition
    }

    pub async fn flush_all_due(&self, now_ms: u64) {
        let keys: Vec<Target> = self.lock().keys().cloned().collect();
        for key in keys {
            self.flush_if_due(&key, now_ms).await;
        }
    }

    /// This instance's current view of `key`, reloaded from the store when older than the TTL.
    async fn fresh(&self, key: &Target, now_ms: u64) -> BreakerRecord {
        let cached = self.lock().get(key).and_then(|entry| {
            let loaded_at = entry.loaded_at_ms?;
            (now_ms < loaded_at.saturating_add(self.config.cache_ttl_ms))
                .then(|| entry.local.clone())
        });
        match cached {
            Some(local) => local,
            None => self.reload(key, now_ms).await,
        }
    }

    async fn reload(&self, key: &Target, now_ms: u64) -> BreakerRecord {
        let loaded = self.store.load(key).await;
        let mut entries = self.lock();
        let entry = entries.entry(key.clone()).or_default();
        entry.loaded_at_ms = Some(now_ms);
        if entry.flushed_at_ms == 0 {
            // A new entry: its first flush is one interval from now, not on the first call.
            entry.flushed_at_ms = now_ms;
        }
        match loaded {
            // An older version than ours is a stale read; ours is newer.
            Ok(stored) if stored.as_ref().map_or(0, |r| r.version) >= entry.local.version => {
                let mut local = stored.unwrap_or_default();
                local
                    .window
                    .merge(&entry.pending, self.config.span(), now_ms);
                entry.local = local;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(model = %key.model_id, region = ?key.region, %error, "breaker store load failed; using local state");
            }
        }
        entry.local.clone()
    }

    /// Applies `op` to the local view and saves the result conditionally on the version it was
    /// based on. On a conflict: reload, re-apply `op` to the fresh record, try once more.
    /// `force` saves even when no control field changed (a counts flush).
    async fn write<R>(
        &self,
        key: &Target,
        now_ms: u64,
        mut op: impl FnMut(&mut BreakerRecord) -> R,
        force: bool,
    ) -> Written<R> {
        let mut reloaded = false;
        loop {
            let (local, pending) = {
                let mut entries = self.lock();
                let entry = entries.entry(key.clone()).or_default();
                entry.flushed_at_ms = now_ms;
                (entry.local.clone(), std::mem::take(&mut entry.pending))
            };
            let mut next = local.clone();
            let result = op(&mut next);
            if !force && next.control_fields() == local.control_fields() {
                self.restore_pending(key, &pending, now_ms);
                return Written::Unchanged(result);
            }
            next.window.prune(self.config.span(), now_ms);
            let expected = (local.version > 0).then_some(local.version);
            next.version = local.version.saturating_add(1);
            match self.store.save_if_version(key, &next, expected).await {
                Ok(true) => {
                    let mut entries = self.lock();
                    let entry = entries.entry(key.clone()).or_default();
                    // Results that arrived while saving are still pending; keep them in view.
                    next.window
                        .merge(&entry.pending, self.config.span(), now_ms);
                    entry.local = next;
                    entry.loaded_at_ms = Some(now_ms);
                    return Written::Saved(result);
                }
                Ok(false) if !reloaded => {
                    self.restore_pending(key, &pending, now_ms);
                    self.reload(key, now_ms).await;
                    reloaded = true;
                }
                outcome => {
                    if let Err(error) = &outcome {
                        tracing::warn!(model = %key.model_id, region = ?key.region, %error, "breaker store save failed; using local state");
                    }
                    next.version = local.version;
                    self.restore_pending(key, &pending, now_ms);
                    self.lock().entry(key.clone()).or_default().local = next;
                    return match outcome {
                        Ok(_) => Written::Conflict(result),
                        Err(_) => Written::StoreFailed(result),
                    };
                }
            }
        }
    }

    fn restore_pending(&self, key: &Target, pending: &Window, now_ms: u64) {
        let mut entries = self.lock();
        let entry = entries.entry(key.clone()).or_default();
        entry.pending.merge(pending, self.config.span(), now_ms);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Target, Entry>> {
        // Entries are caches of the store; a panic mid-update leaves at worst a stale view.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resilience::in_memory::InMemoryBreakerStore;
    use std::sync::Arc;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            min_requests: 10,
            ..BreakerConfig::default()
        }
    }

    fn key() -> Target {
        Target::in_region("anthropic.claude", "us-east-1")
    }

    fn pair(
        cfg: BreakerConfig,
    ) -> (
        Arc<InMemoryBreakerStore>,
        SharedBreaker<Arc<InMemoryBreakerStore>>,
        SharedBreaker<Arc<InMemoryBreakerStore>>,
    ) {
        let store = Arc::new(InMemoryBreakerStore::default());
        let a = SharedBreaker::new(store.clone(), cfg.clone());
        let b = SharedBreaker::new(store.clone(), cfg);
        (store, a, b)
    }

    async fn fail_times(
        breaker: &SharedBreaker<Arc<InMemoryBreakerStore>>,
        n: u32,
        now_ms: u64,
    ) -> Transition {
        let mut last = Transition::None;
        for _ in 0..n {
            assert!(breaker.admit(&key(), now_ms).await.is_allowed());
            last = breaker.record(&key(), now_ms, false).await;
        }
        last
    }

    #[tokio::test]
    async fn the_hot_path_reads_once_per_ttl_and_writes_nothing_while_healthy() {
        let (store, a, _) = pair(cfg());
        for i in 0..100 {
            assert_eq!(a.admit(&key(), 1_000 + i).await, BreakerAdmission::Allowed);
            a.record(&key(), 1_000 + i, true).await;
        }
        assert_eq!(store.loads(), 1);
        assert_eq!(store.saves(), 0, "counts wait for the flush interval");
        a.flush_all_due(3_100).await;
        assert_eq!(store.saves(), 1);
        assert_eq!(
            store.get(&key()).unwrap().counts(&cfg(), 3_100).successes,
            100
        );
    }

    #[tokio::test]
    async fn opens_after_threshold_and_another_instance_sees_it_when_its_cache_expires() {
        let (store, a, b) = pair(cfg());
        assert_eq!(b.admit(&key(), 1_000).await, BreakerAdmission::Allowed);
        assert_eq!(fail_times(&a, 10, 1_000).await, Transition::Opened);
        assert_eq!(store.get(&key()).unwrap().state, BreakerState::Open);
        assert!(!a.admit(&key(), 1_001).await.is_allowed());
        // B's cached copy is still closed within its TTL; after it, B reads the open breaker.
        assert_eq!(b.admit(&key(), 1_500).await, BreakerAdmission::Allowed);
        assert!(matches!(
            b.admit(&key(), 2_000).await,
            BreakerAdmission::Rejected { .. }
        ));
    }

    #[tokio::test]
    async fn half_opens_after_cool_down_with_one_probe_across_instances() {
        let (store, a, b) = pair(cfg());
        fail_times(&a, 10, 1_000).await;
        let after_cool_down = 1_000 + cfg().open_ms;
        assert_eq!(
            a.admit(&key(), after_cool_down).await,
            BreakerAdmission::Probe
        );
        assert_eq!(store.get(&key()).unwrap().state, BreakerState::HalfOpen);
        assert!(!b.admit(&key(), after_cool_down + 1).await.is_allowed());
    }

    #[tokio::test]
    async fn a_successful_probe_closes_for_every_instance() {
        let (store, a, b) = pair(cfg());
        fail_times(&a, 10, 1_000).await;
        let t = 1_000 + cfg().open_ms;
        assert_eq!(b.admit(&key(), t).await, BreakerAdmission::Probe);
        assert_eq!(b.record(&key(), t + 500, true).await, Transition::Closed);
        assert_eq!(store.get(&key()).unwrap().state, BreakerState::Closed);
        assert_eq!(a.admit(&key(), t + 2_000).await, BreakerAdmission::Allowed);
    }

    #[tokio::test]
    async fn a_failed_probe_reopens() {
        let (store, a, _) = pair(cfg());
        fail_times(&a, 10, 1_000).await;
        let t = 1_000 + cfg().open_ms;
        assert_eq!(a.admit(&key(), t).await, BreakerAdmission::Probe);
        assert_eq!(a.record(&key(), t + 500, false).await, Transition::Reopened);
        let stored = store.get(&key()).unwrap();
        assert_eq!(
            (stored.state, stored.opened_at_ms),
            (BreakerState::Open, Some(t + 500))
        );
    }

    #[tokio::test]
    async fn counts_from_several_instances_add_up() {
        let (store, a, b) = pair(cfg());
        // Each instance alone stays below min_requests.
        assert_eq!(fail_times(&a, 6, 1_000).await, Transition::None);
        assert_eq!(fail_times(&b, 6, 1_000).await, Transition::None);
        a.flush_all_due(3_000).await;
        b.flush_all_due(3_000).await;
        assert_eq!(store.get(&key()).unwrap().state, BreakerState::Open);
    }

    #[tokio::test]
    async fn a_lost_race_reloads_and_adopts_the_winner() {
        let (store, a, b) = pair(cfg());
        assert!(b.admit(&key(), 1_000).await.is_allowed()); // B caches "closed, never saved"
        assert_eq!(fail_times(&a, 10, 1_000).await, Transition::Opened);
        // B, within its TTL, opens too and its save conflicts; after reloading it finds the
        // breaker already open, so there is nothing left to write.
        for _ in 0..9 {
            b.record(&key(), 1_100, false).await;
        }
        assert_eq!(b.record(&key(), 1_100, false).await, Transition::None);
        let stored = store.get(&key()).unwrap();
        assert_eq!((stored.version, stored.opened_at_ms), (1, Some(1_000)));
        assert!(!b.admit(&key(), 1_101).await.is_allowed());
    }

    #[tokio::test]
    async fn a_lost_race_reapplies_on_the_fresh_record_and_saves_once_more() {
        let (store, a, b) = pair(cfg());
        assert!(b.admit(&key(), 1_000).await.is_allowed());
        fail_times(&a, 5, 1_000).await;
        a.flush_all_due(3_000).await; // stored v1: closed, 5 failures
        for _ in 0..9 {
            b.record(&key(), 1_100, false).await;
        }
        // B's 10th failure opens on its stale v0 view, conflicts, reloads v1 (+ its own 10
        // pending) and opens on that.
        assert_eq!(b.record(&key(), 1_100, false).await, Transition::Opened);
        let stored = store.get(&key()).unwrap();
        assert_eq!((stored.state, stored.version), (BreakerState::Open, 2));
    }

    #[tokio::test]
    async fn late_results_of_an_open_breaker_cause_no_writes() {
        let (store, a, _) = pair(cfg());
        fail_times(&a, 10, 1_000).await;
        let saves = store.saves();
        for i in 0..20 {
            a.record(&key(), 2_000 + i, false).await;
        }
        a.flush_all_due(10_000).await;
        assert_eq!(store.saves(), saves);
    }

    #[tokio::test]
    async fn a_failing_store_degrades_to_a_local_breaker() {
        let breaker = SharedBreaker::new(crate::resilience::in_memory::FailingBreakerStore, cfg());
        for _ in 0..10 {
            breaker.record(&key(), 1_000, false).await;
        }
        assert!(!breaker.admit(&key(), 1_001).await.is_allowed());
        assert_eq!(
            breaker.admit(&key(), 1_000 + cfg().open_ms).await,
            BreakerAdmission::Probe
        );
    }

    #[test]
    fn futures_are_send_for_axum_handlers() {
        fn assert_send<T: Send>(_: &T) {}
        let breaker = SharedBreaker::new(InMemoryBreakerStore::default(), cfg());
        let target = key();
        assert_send(&breaker.admit(&target, 0));
        assert_send(&breaker.record(&target, 0, true));
        assert_send(&breaker.flush_all_due(0));
    }
}
