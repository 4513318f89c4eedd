//! The one wall clock: milliseconds since the Unix epoch, the time base of everything shared
//! with other instances (counters, leases, cache freshness, job timestamps). Code that needs
//! injected time takes a [`crate::resilience::Clock`]; everything else calls this.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the Unix epoch (0 before it, saturating far after it).
#[allow(clippy::disallowed_methods)] // the one place that reads the system clock
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Whole seconds since the Unix epoch (OpenAI's `created` fields, TTL attributes).
pub fn unix_secs() -> u64 {
    unix_ms() / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_after_2024_and_moves_forward() {
        let first = unix_ms();
        assert!(first > 1_704_067_200_000, "{first}");
        assert!(unix_ms() >= first);
    }
}
