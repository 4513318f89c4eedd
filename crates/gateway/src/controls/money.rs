//! Money as whole nano-dollars (1e-9 USD). Budgets, reservations, the ledger and the cost
//! header all use the same integers, so the ledger is exactly the sum of settled costs and
//! DynamoDB's atomic `ADD` never rounds.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A USD amount in nano-dollars.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Nanos(pub u64);

pub const NANOS_PER_USD: u64 = 1_000_000_000;

impl Nanos {
    pub const ZERO: Self = Self(0);

    /// From a USD amount (config, CLI): finite and non-negative, rounded to the nano-dollar.
    pub fn from_usd(usd: f64) -> Option<Self> {
        if !usd.is_finite() || !(0.0..=1.0e9).contains(&usd) {
            return None;
        }
        // In range and non-negative: the cast neither wraps nor saturates.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let nanos = (usd * NANOS_PER_USD as f64).round() as u64;
        Some(Self(nanos))
    }

    pub fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    pub fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// As a signed amount for a DynamoDB `ADD` (a refund is negative).
    pub fn as_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// Exact decimal USD, trailing zeros trimmed: `0.000012`, `1.5`, `0`.
    pub fn usd(self) -> String {
        let whole = self.0 / NANOS_PER_USD;
        let frac = self.0 % NANOS_PER_USD;
        if frac == 0 {
            return whole.to_string();
        }
        let digits = format!("{frac:09}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.usd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_round_trips_exactly() {
        assert_eq!(Nanos::from_usd(0.000_012), Some(Nanos(12_000)));
        assert_eq!(Nanos(12_000).usd(), "0.000012");
        assert_eq!(Nanos(1_500_000_000).usd(), "1.5");
        assert_eq!(Nanos(0).usd(), "0");
        assert_eq!(Nanos(7).usd(), "0.000000007");
        assert_eq!(Nanos::from_usd(-1.0), None);
        assert_eq!(Nanos::from_usd(f64::NAN), None);
        assert_eq!(Nanos(3).to_string(), "$0.000000003");
    }
}
