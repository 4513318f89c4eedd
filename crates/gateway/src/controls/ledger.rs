//! The usage ledger: one item per tenant and UTC day (`USAGE#<tenant>#<day>`), one row per
//! key × model (`sk = <principal>#<model>`), only ever changed by atomic adds, so concurrent
//! requests on any number of instances add up exactly. And the report `GET /v1/usage` and
//! `gatewayctl usage` print from it.

use super::money::Nanos;
use super::usage::TokenUsage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub fn usage_pk(tenant: &str, day: &str) -> String {
    format!("USAGE#{tenant}#{day}")
}

pub fn usage_sk(principal: &str, model: &str) -> String {
    format!("{principal}#{model}")
}

/// One request's line in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub tenant: String,
    pub day: String,
    pub principal: String,
    pub model: String,
    pub usage: TokenUsage,
    pub cost: Nanos,
    pub cache_hit: bool,
    pub error: bool,
    pub expires_at_secs: u64,
}

/// A ledger row as stored: totals of one key × model on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    pub day: String,
    pub principal: String,
    pub model: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Of `cache_write_tokens`, those written for 1 hour (priced apart).
    #[serde(default)]
    pub cache_write_1h_tokens: u64,
    pub cost_nanos: u64,
    pub cache_hits: u64,
    pub errors: u64,
}

impl UsageRow {
    fn add(&mut self, other: &Self) {
        self.requests = self.requests.saturating_add(other.requests);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_read_tokens = self
            .cache_read_tokens
            .saturating_add(other.cache_read_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
        self.cache_write_1h_tokens = self
            .cache_write_1h_tokens
            .saturating_add(other.cache_write_1h_tokens);
        self.cost_nanos = self.cost_nanos.saturating_add(other.cost_nanos);
        self.cache_hits = self.cache_hits.saturating_add(other.cache_hits);
        self.errors = self.errors.saturating_add(other.errors);
    }
}

/// Totals over any grouping, as the report shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub cache_hits: u64,
    pub errors: u64,
    pub cost_usd: String,
    #[serde(skip)]
    pub cost: Nanos,
}

impl Totals {
    fn from_row(row: &UsageRow) -> Self {
        Self {
            requests: row.requests,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            cache_read_tokens: row.cache_read_tokens,
            cache_write_tokens: row.cache_write_tokens,
            cache_write_1h_tokens: row.cache_write_1h_tokens,
            cache_hits: row.cache_hits,
            errors: row.errors,
            cost_usd: Nanos(row.cost_nanos).usd(),
            cost: Nanos(row.cost_nanos),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    pub tenant: String,
    pub from: String,
    pub to: String,
    pub totals: Totals,
    pub by_model: BTreeMap<String, Totals>,
    pub by_day: BTreeMap<String, Totals>,
    pub by_key: BTreeMap<String, Totals>,
    pub rows: Vec<UsageRow>,
}

impl UsageReport {
    pub fn new(tenant: &str, from: &str, to: &str, mut rows: Vec<UsageRow>) -> Self {
        rows.sort_by(|a, b| {
            (&a.day, &a.principal, &a.model).cmp(&(&b.day, &b.principal, &b.model))
        });
        let mut total = UsageRow::default();
        let mut by_model: BTreeMap<String, UsageRow> = BTreeMap::new();
        let mut by_day: BTreeMap<String, UsageRow> = BTreeMap::new();
        let mut by_key: BTreeMap<String, UsageRow> = BTreeMap::new();
        for row in &rows {
            total.add(row);
            by_model.entry(row.model.clone()).or_default().add(row);
            by_day.entry(row.day.clone()).or_default().add(row);
            by_key.entry(row.principal.clone()).or_default().add(row);
        }
        let totals = |m: BTreeMap<String, UsageRow>| {
            m.into_iter()
                .map(|(k, v)| (k, Totals::from_row(&v)))
                .collect()
        };
        Self {
            tenant: tenant.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            totals: Totals::from_row(&total),
            by_model: totals(by_model),
            by_day: totals(by_day),
            by_key: totals(by_key),
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_add_up_by_model_day_and_key() {
        let row = |day: &str, key: &str, model: &str, cost| UsageRow {
            day: day.into(),
            principal: key.into(),
            model: model.into(),
            requests: 1,
            input_tokens: 10,
            cost_nanos: cost,
            ..UsageRow::default()
        };
        let report = UsageReport::new(
            "acme",
            "2026-11-24",
            "2026-11-25",
            vec![
                row("2026-11-25", "k1", "a", 5),
                row("2026-11-24", "k1", "a", 7),
                row("2026-11-25", "k2", "b", 11),
            ],
        );
        assert_eq!(report.totals.requests, 3);
        assert_eq!(report.totals.cost, Nanos(23));
        assert_eq!(report.by_model["a"].cost, Nanos(12));
        assert_eq!(report.by_day["2026-11-25"].input_tokens, 20);
        assert_eq!(report.by_key["k2"].cost_usd, "0.000000011");
        assert_eq!(report.rows[0].day, "2026-11-24", "rows sorted by day");
    }
}
