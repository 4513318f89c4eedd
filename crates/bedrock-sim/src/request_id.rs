//! `x-amzn-RequestId` values: unique per process, cheap (a counter, no RNG per request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A UUID-shaped id: start-time-derived prefix + per-request counter.
// The simulator stands apart from the gateway (no dependency on it): its own clock read.
#[allow(clippy::disallowed_methods)]
pub fn next() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        epoch & 0xffff_ffff,
        (n >> 48) & 0xffff,
        (n >> 36) & 0xfff,
        (n >> 24) & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

pub(crate) fn next_header_value() -> HeaderValue {
    HeaderValue::from_str(&next())
        .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-4000-8000-000000000000"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_uuid_shaped() {
        let (a, b) = (super::next(), super::next());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
