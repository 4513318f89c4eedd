//! The price table: USD per 1k tokens by model, region and inference profile, for input,
//! output, cache-read and cache-write tokens. The built-in table is `prices.json` (with its
//! source and date); `controls.prices` entries take precedence, then a model's
//! `price_per_1k_tokens` from the models section.

use crate::controls::money::Nanos;
use crate::controls::usage::TokenUsage;
use crate::model_id::split_model_id;
use serde::Deserialize;

/// One row of the table. `region` and `profile` narrow it: the most specific row that
/// matches a call wins.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    /// The base model id (`anthropic.claude-3-5-haiku-20241022-v1:0`), without profile prefix.
    pub model: String,
    #[serde(default)]
    pub region: Option<String>,
    /// An inference profile's geography (`us`, `eu`, `apac`, `global`, …).
    #[serde(default)]
    pub profile: Option<String>,
    pub input_per_1k: f64,
    pub output_per_1k: f64,
    /// Unset: billed as input tokens.
    #[serde(default)]
    pub cache_read_per_1k: Option<f64>,
    /// 5-minute cache writes. Unset: billed as input tokens.
    #[serde(default)]
    pub cache_write_per_1k: Option<f64>,
    /// 1-hour cache writes. Unset: billed as 5-minute writes.
    #[serde(default)]
    pub cache_write_1h_per_1k: Option<f64>,
}

impl PriceEntry {
    pub fn validate(&self) -> Result<(), String> {
        if self.model.trim().is_empty() {
            return Err("model must not be empty".into());
        }
        let prices = [
            Some(self.input_per_1k),
            Some(self.output_per_1k),
            self.cache_read_per_1k,
            self.cache_write_per_1k,
            self.cache_write_1h_per_1k,
        ];
        if prices
            .into_iter()
            .flatten()
            .any(|p| Nanos::from_usd(p).is_none())
        {
            return Err("prices must be non-negative numbers".into());
        }
        Ok(())
    }

    fn price(&self) -> Price {
        let nanos = |usd: f64| Nanos::from_usd(usd).unwrap_or(Nanos::ZERO);
        let input = nanos(self.input_per_1k);
        let cache_write = self.cache_write_per_1k.map_or(input, nanos);
        Price {
            input,
            output: nanos(self.output_per_1k),
            cache_read: self.cache_read_per_1k.map_or(input, nanos),
            cache_write,
            cache_write_1h: self.cache_write_1h_per_1k.map_or(cache_write, nanos),
        }
    }
}

/// Nano-dollars per 1k tokens of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    pub input: Nanos,
    pub output: Nanos,
    pub cache_read: Nanos,
    /// 5-minute cache writes.
    pub cache_write: Nanos,
    /// 1-hour cache writes.
    pub cache_write_1h: Nanos,
}

impl Price {
    /// A flat price for every kind of token (a model's `price_per_1k_tokens`).
    pub fn flat(per_1k: Nanos) -> Self {
        Self {
            input: per_1k,
            output: per_1k,
            cache_read: per_1k,
            cache_write: per_1k,
            cache_write_1h: per_1k,
        }
    }

    /// The cost of `usage`, rounded up to the nano-dollar.
    pub fn cost(&self, usage: &TokenUsage) -> Nanos {
        let part = |tokens: u64, per_1k: Nanos| u128::from(tokens) * u128::from(per_1k.0);
        let total = part(usage.input, self.input)
            .saturating_add(part(usage.output, self.output))
            .saturating_add(part(usage.cache_read, self.cache_read))
            .saturating_add(part(usage.cache_write_5m(), self.cache_write))
            .saturating_add(part(usage.cache_write_1h, self.cache_write_1h));
        Nanos(u64::try_from(total.div_ceil(1_000)).unwrap_or(u64::MAX))
    }

    /// Each kind's price the higher of two: a price that covers either model.
    pub fn max(self, other: Self) -> Self {
        Self {
            input: self.input.max(other.input),
            output: self.output.max(other.output),
            cache_read: self.cache_read.max(other.cache_read),
            cache_write: self.cache_write.max(other.cache_write),
            cache_write_1h: self.cache_write_1h.max(other.cache_write_1h),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    source: String,
    as_of: String,
    #[allow(dead_code)]
    currency: String,
    #[allow(dead_code)]
    unit: String,
    prices: Vec<PriceEntry>,
}

#[derive(Debug, Clone)]
pub struct PriceTable {
    pub source: String,
    pub as_of: String,
    /// Overrides first: lookups take the first most specific match.
    entries: Vec<PriceEntry>,
}

const BUILTIN: &str = include_str!("prices.json");

impl PriceTable {
    /// The built-in table (`prices.json`, checked by a unit test), then `overrides` ahead of it.
    pub fn builtin(overrides: &[PriceEntry]) -> Result<Self, String> {
        let file: PriceFile =
            serde_json::from_str(BUILTIN).map_err(|e| format!("prices.json: {e}"))?;
        for (i, entry) in file.prices.iter().enumerate() {
            entry
                .validate()
                .map_err(|e| format!("prices.json: prices[{i}]: {e}"))?;
        }
        let mut entries = overrides.to_vec();
        entries.extend(file.prices);
        Ok(Self {
            source: file.source,
            as_of: file.as_of,
            entries,
        })
    }

    /// The price of a call to `model_id` (base id, inference profile id or ARN) in `region`.
    pub fn lookup(&self, model_id: &str, region: Option<&str>) -> Option<Price> {
        let (profile, base) = split_model_id(model_id);
        let score = |e: &PriceEntry| -> Option<u8> {
            if e.model != base {
                return None;
            }
            let region_score = match (&e.region, region) {
                (None, _) => 0,
                (Some(r), Some(want)) if r == want => 2,
                (Some(_), _) => return None,
            };
            let profile_score = match (&e.profile, profile) {
                (None, _) => 0,
                (Some(p), Some(want)) if p == want => 1,
                (Some(_), _) => return None,
            };
            Some(region_score + profile_score)
        };
        let mut best: Option<(u8, &PriceEntry)> = None;
        for entry in &self.entries {
            if let Some(s) = score(entry)
                && best.is_none_or(|(b, _)| s > b)
            {
                best = Some((s, entry));
            }
        }
        best.map(|(_, e)| e.price())
    }

    pub fn entries(&self) -> &[PriceEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HAIKU: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

    #[test]
    fn the_builtin_table_parses_and_is_dated() {
        let table = PriceTable::builtin(&[]).unwrap();
        assert!(table.source.contains("aws.amazon.com/bedrock/pricing"));
        assert_eq!(table.as_of.len(), 10);
        for model in [
            crate::config::HAIKU,
            crate::config::SONNET,
            crate::config::NOVA_LITE,
        ] {
            assert!(table.lookup(model, None).is_some(), "{model} has no price");
        }
    }

    #[test]
    fn cost_includes_cache_tokens_and_rounds_up() {
        let table = PriceTable::builtin(&[]).unwrap();
        let price = table.lookup(HAIKU, Some("us-east-1")).unwrap();
        let usage = TokenUsage {
            input: 1_000,
            output: 1_000,
            cache_read: 1_000,
            cache_write: 1_000,
            cache_write_1h: 0,
        };
        // 0.0008 + 0.004 + 0.00008 + 0.001
        assert_eq!(price.cost(&usage), Nanos(5_880_000));
        let one = TokenUsage {
            input: 1,
            ..TokenUsage::default()
        };
        assert_eq!(
            price.cost(&one),
            Nanos(800),
            "0.0008 / 1000 = 800 nano-dollars"
        );
        let lite = table.lookup(crate::config::NOVA_LITE, None).unwrap();
        let odd = TokenUsage {
            output: 1,
            ..TokenUsage::default()
        };
        assert_eq!(lite.cost(&odd), Nanos(240));
    }

    #[test]
    fn one_hour_writes_and_the_global_profile_have_their_own_prices() {
        let table = PriceTable::builtin(&[]).unwrap();
        let haiku45 = "anthropic.claude-haiku-4-5-20251001-v1:0";
        let usage = TokenUsage {
            input: 100,
            output: 10,
            cache_read: 1_000,
            cache_write: 3_000,
            cache_write_1h: 2_000,
        };
        // Global list price ($1 in, $5 out, $0.10 read, $1.25 5m write, $2 1h write per MTok):
        // tokens × price per 1k / 1000, in nano-dollars.
        let global = table.lookup(&format!("global.{haiku45}"), None).unwrap();
        assert_eq!(
            global.cost(&usage),
            Nanos(100_000 + 50_000 + 100_000 + 1_250_000 + 4_000_000)
        );
        // In-region and geographic profiles: 10% above.
        let us = table.lookup(&format!("us.{haiku45}"), None).unwrap();
        assert_eq!(us.cost(&usage), Nanos(6_050_000));
        assert_eq!(table.lookup(haiku45, None), Some(us));
        // Without a 1h price, 1h writes cost what 5m writes do.
        let flat = PriceEntry {
            model: "m.x".into(),
            region: None,
            profile: None,
            input_per_1k: 1.0,
            output_per_1k: 1.0,
            cache_read_per_1k: None,
            cache_write_per_1k: Some(2.0),
            cache_write_1h_per_1k: None,
        };
        assert_eq!(flat.price().cache_write_1h, flat.price().cache_write);
        for model in [
            "amazon.titan-embed-text-v2:0",
            "cohere.embed-english-v3",
            "amazon.nova-pro-v1:0",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-opus-4-5-20251101-v1:0",
        ] {
            assert!(table.lookup(model, None).is_some(), "{model} has no price");
        }
    }

    #[test]
    fn profiles_and_arns_resolve_to_the_base_model() {
        assert_eq!(split_model_id(&format!("us.{HAIKU}")), (Some("us"), HAIKU));
        assert_eq!(
            split_model_id(&format!(
                "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{HAIKU}"
            )),
            (Some("eu"), HAIKU)
        );
        assert_eq!(split_model_id(HAIKU), (None, HAIKU));
        let table = PriceTable::builtin(&[]).unwrap();
        assert_eq!(
            table.lookup(&format!("global.{HAIKU}"), None),
            table.lookup(HAIKU, None)
        );
    }

    #[test]
    fn the_most_specific_entry_wins() {
        let entry = |region: Option<&str>, profile: Option<&str>, input: f64| PriceEntry {
            model: "m.x".into(),
            region: region.map(str::to_owned),
            profile: profile.map(str::to_owned),
            input_per_1k: input,
            output_per_1k: 1.0,
            cache_read_per_1k: None,
            cache_write_per_1k: None,
            cache_write_1h_per_1k: None,
        };
        let table = PriceTable::builtin(&[
            entry(None, None, 1.0),
            entry(Some("eu-west-1"), None, 2.0),
            entry(None, Some("global"), 3.0),
            entry(Some("eu-west-1"), Some("eu"), 4.0),
        ])
        .unwrap();
        let input =
            |model: &str, region: Option<&str>| table.lookup(model, region).unwrap().input.usd();
        assert_eq!(input("m.x", None), "1");
        assert_eq!(input("m.x", Some("eu-west-1")), "2");
        assert_eq!(input("global.m.x", Some("us-east-1")), "3");
        assert_eq!(input("eu.m.x", Some("eu-west-1")), "4");
        assert!(table.lookup("other.model", None).is_none());
        // Unset cache prices are billed as input.
        assert_eq!(table.lookup("m.x", None).unwrap().cache_read.usd(), "1");
    }
}
