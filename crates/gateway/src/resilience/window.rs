//! Success/failure counts over a sliding time window, kept as a short sparse list of
//! time buckets so it serializes small and merges across instances by adding counts.

use serde::{Deserialize, Serialize};

/// Counts for one bucket of `bucket_ms` milliseconds; `epoch` is `unix_ms / bucket_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowBucket {
    pub epoch: u64,
    pub successes: u32,
    pub failures: u32,
}

/// How buckets are cut: the window spans `bucket_count` buckets of `bucket_ms` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpan {
    pub bucket_ms: u64,
    pub bucket_count: u32,
}

impl WindowSpan {
    fn epoch(self, now_ms: u64) -> u64 {
        now_ms / self.bucket_ms.max(1)
    }

    /// The oldest epoch still inside the window at `now_ms`.
    fn oldest(self, now_ms: u64) -> u64 {
        self.epoch(now_ms)
            .saturating_sub(u64::from(self.bucket_count.max(1)) - 1)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub successes: u32,
    pub failures: u32,
}

impl Counts {
    pub fn total(self) -> u32 {
        self.successes.saturating_add(self.failures)
    }

    /// `None` with no requests, so "no data" is not mistaken for "healthy" or "failing".
    pub fn failure_rate(self) -> Option<f64> {
        (self.total() > 0).then(|| f64::from(self.failures) / f64::from(self.total()))
    }
}

/// Buckets sorted by epoch, none older than the window (after `prune`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Window {
    buckets: Vec<WindowBucket>,
}

impl Window {
    pub fn buckets(&self) -> &[WindowBucket] {
        &self.buckets
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    pub fn clear(&mut self) {
        self.buckets.clear();
    }

    pub fn record(&mut self, span: WindowSpan, now_ms: u64, success: bool) {
        let (successes, failures) = if success { (1, 0) } else { (0, 1) };
        self.add(WindowBucket {
            epoch: span.epoch(now_ms),
            successes,
            failures,
        });
        self.prune(span, now_ms);
    }

    /// Adds another window's counts (e.g. this instance's unflushed results) bucket by bucket.
    pub fn merge(&mut self, other: &Window, span: WindowSpan, now_ms: u64) {
        for bucket in &other.buckets {
            self.add(*bucket);
        }
        self.prune(span, now_ms);
    }

    /// Counts inside the window. Buckets ahead of `now_ms` (another instance's clock is a bit
    /// ahead) still count.
    pub fn counts(&self, span: WindowSpan, now_ms: u64) -> Counts {
        let oldest = span.oldest(now_ms);
        self.buckets
            .iter()
            .filter(|b| b.epoch >= oldest)
            .fold(Counts::default(), |acc, b| Counts {
                successes: acc.successes.saturating_add(b.successes),
                failures: acc.failures.saturating_add(b.failures),
            })
    }

    pub fn prune(&mut self, span: WindowSpan, now_ms: u64) {
        let oldest = span.oldest(now_ms);
        self.buckets.retain(|b| b.epoch >= oldest);
    }

    fn add(&mut self, bucket: WindowBucket) {
        match self
            .buckets
            .binary_search_by_key(&bucket.epoch, |b| b.epoch)
        {
            Ok(i) => {
                let slot = &mut self.buckets[i];
                slot.successes = slot.successes.saturating_add(bucket.successes);
                slot.failures = slot.failures.saturating_add(bucket.failures);
            }
            Err(i) => self.buckets.insert(i, bucket),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: WindowSpan = WindowSpan {
        bucket_ms: 1000,
        bucket_count: 10,
    };

    #[test]
    fn counts_only_what_is_inside_the_window() {
        let mut window = Window::default();
        window.record(SPAN, 1_000, false);
        window.record(SPAN, 5_500, true);
        window.record(SPAN, 5_900, false);
        assert_eq!(
            window.counts(SPAN, 6_000),
            Counts {
                successes: 1,
                failures: 2
            }
        );
        // At 11 s the bucket of second 1 has slid out.
        assert_eq!(
            window.counts(SPAN, 11_000),
            Counts {
                successes: 1,
                failures: 1
            }
        );
        window.prune(SPAN, 20_000);
        assert!(window.is_empty());
    }

    #[test]
    fn merge_adds_counts_of_matching_buckets() {
        let mut a = Window::default();
        a.record(SPAN, 3_000, false);
        let mut b = Window::default();
        b.record(SPAN, 3_100, false);
        b.record(SPAN, 4_000, true);
        a.merge(&b, SPAN, 4_000);
        assert_eq!(a.buckets().len(), 2);
        assert_eq!(
            a.counts(SPAN, 4_000),
            Counts {
                successes: 1,
                failures: 2
            }
        );
        assert_eq!(a.counts(SPAN, 4_000).failure_rate(), Some(2.0 / 3.0));
        assert_eq!(Counts::default().failure_rate(), None);
    }

    #[test]
    fn serializes_as_a_plain_list() {
        let mut window = Window::default();
        window.record(SPAN, 2_000, true);
        let json = serde_json::to_string(&window).unwrap();
        assert_eq!(json, r#"[{"epoch":2,"successes":1,"failures":0}]"#);
        assert_eq!(serde_json::from_str::<Window>(&json).unwrap(), window);
    }
}
