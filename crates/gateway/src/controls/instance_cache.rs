//! What one instance remembers of keys and tenants, for a short time: the hot path then skips
//! the key lookup, and a change (a disabled key) reaches every instance within the TTL.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value if it was stored less than `ttl` (or `ttl_override`) ago.
    pub fn get(&self, key: &K, now: Instant, ttl_override: Option<Duration>) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (stored, value) = entries.get(key)?;
        let ttl = ttl_override.map_or(self.ttl, |t| t.min(self.ttl));
        (now.saturating_duration_since(*stored) < ttl).then(|| value.clone())
    }

    pub fn put(&self, key: K, value: V, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.max_entries && !entries.contains_key(&key) {
            // Drop what has expired; if everything is fresh, start over (a flood of distinct
            // keys, most of them bogus, must not grow memory without bound).
            let ttl = self.ttl;
            entries.retain(|_, (stored, _)| now.saturating_duration_since(*stored) < ttl);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (now, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_memory_is_bounded() {
        let cache = TtlCache::new(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        cache.put("a", 1, t0);
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(9), None), Some(1));
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(10), None), None);
        assert_eq!(
            cache.get(
                &"a",
                t0 + Duration::from_secs(2),
                Some(Duration::from_secs(1))
            ),
            None,
            "a shorter TTL for negative entries"
        );
        cache.put("b", 2, t0);
        cache.put("c", 3, t0);
        assert_eq!(cache.get(&"c", t0, None), Some(3));
    }
}
