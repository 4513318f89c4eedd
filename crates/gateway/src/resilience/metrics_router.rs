//! Picks one of several equivalent candidates from their health, by power-of-two-choices:
//! compare two random candidates and take the better. Cheap, needs no global ranking, and
//! keeps instances with slightly different views from all stampeding to the same "best" one.

use super::health::ModelHealth;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Lowest expected time to a success: latency divided by success rate.
    #[default]
    Latency,
    /// Lowest expected price of a success: price per 1k tokens divided by success rate.
    Cost,
    /// Lowest error rate, then lowest latency.
    Health,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsRouterConfig {
    pub strategy: Strategy,
    /// Aggregates older than this are treated as unknown.
    pub stale_after_ms: u64,
}

impl Default for MetricsRouterConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::Latency,
            stale_after_ms: 60_000,
        }
    }
}

/// One of the equivalent choices. `health_key` is the key its [`ModelHealth`] is stored under.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteCandidate {
    pub health_key: String,
    /// Needed by [`Strategy::Cost`]; a candidate without a price loses to any priced one, so
    /// a missing price never causes a surprise bill.
    pub price_per_1k_tokens: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct MetricsRouter {
    config: MetricsRouterConfig,
}

/// Health as scored: unknown values already replaced by optimistic ones.
#[derive(Debug, Clone, Copy)]
struct Effective {
    latency_ms: f64,
    error_rate: f64,
}

impl MetricsRouter {
    pub fn new(config: MetricsRouterConfig) -> Self {
        Self { config }
    }

    /// The index in `candidates` of the one to call, `None` if there are none.
    ///
    /// Unknown or stale health is optimistic (as good as the best fresh candidate), so new
    /// and recovered models get traffic and their health is learned again.
    pub fn choose(
        &self,
        candidates: &[RouteCandidate],
        health: &HashMap<String, ModelHealth>,
        now_ms: u64,
        rng: &mut fastrand::Rng,
    ) -> Option<usize> {
        match candidates.len() {
            0 => return None,
            1 => return Some(0),
            _ => {}
        }
        let fresh: Vec<Option<&ModelHealth>> = candidates
            .iter()
            .map(|c| {
                health
                    .get(&c.health_key)
                    .filter(|h| h.is_fresh(now_ms, self.config.stale_after_ms))
            })
            .collect();
        let best_latency = fresh
            .iter()
            .flatten()
            .map(|h| h.ewma_latency_ms)
            .filter(|l| *l > 0.0)
            .min_by(f64::total_cmp);
        let best_error = fresh
            .iter()
            .flatten()
            .map(|h| h.error_rate_ewma)
            .min_by(f64::total_cmp);
        let effective = |i: usize| {
            let h = fresh[i];
            Effective {
                latency_ms: h
                    .map(|h| h.ewma_latency_ms)
                    .filter(|l| *l > 0.0)
                    .or(best_latency)
                    .unwrap_or(0.0),
                error_rate: h.map(|h| h.error_rate_ewma).or(best_error).unwrap_or(0.0),
            }
        };

        let first = rng.usize(..candidates.len());
        let mut second = rng.usize(..candidates.len() - 1);
        if second >= first {
            second += 1;
        }
        let a = self.score(&candidates[first], effective(first));
        let b = self.score(&candidates[second], effective(second));
        let order = a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1));
        Some(match order {
            Ordering::Less => first,
            Ordering::Greater => second,
            Ordering::Equal if rng.bool() => first,
            Ordering::Equal => second,
        })
    }

    /// Lower is better; the second number breaks ties.
    fn score(&self, candidate: &RouteCandidate, health: Effective) -> (f64, f64) {
        let success = (1.0 - health.error_rate).max(0.01);
        let time_to_success = health.latency_ms / success;
        match self.config.strategy {
            Strategy::Latency => (time_to_success, health.error_rate),
            Strategy::Health => (health.error_rate, health.latency_ms),
            Strategy::Cost => {
                let price = candidate
                    .price_per_1k_tokens
                    .filter(|p| p.is_finite())
                    .unwrap_or(f64::INFINITY);
                (price / success, time_to_success)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(keys: &[&str]) -> Vec<RouteCandidate> {
        keys.iter()
            .map(|k| RouteCandidate {
                health_key: (*k).to_owned(),
                price_per_1k_tokens: None,
            })
            .collect()
    }

    fn healthy(latency_ms: f64, error_rate: f64, at_ms: u64) -> ModelHealth {
        ModelHealth {
            ewma_latency_ms: latency_ms,
            error_rate_ewma: error_rate,
            samples: 100,
            updated_at_ms: at_ms,
        }
    }

    fn picks(
        router: &MetricsRouter,
        cands: &[RouteCandidate],
        health: &HashMap<String, ModelHealth>,
        n: usize,
    ) -> Vec<usize> {
        let mut rng = fastrand::Rng::with_seed(42);
        let mut counts = vec![0; cands.len()];
        for _ in 0..n {
            counts[router.choose(cands, health, 1_000, &mut rng).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn a_slow_model_loses_most_traffic_in_a_simulation() {
        let router = MetricsRouter::default();
        let cands = candidates(&["fast-a", "fast-b", "slow"]);
        let true_latency = [300.0, 350.0, 3_000.0];
        let mut health: HashMap<String, ModelHealth> = HashMap::new();
        let mut rng = fastrand::Rng::with_seed(9);
        let mut counts = [0usize; 3];
        for step in 0..1_000u64 {
            let now_ms = 1_000 + step * 100;
            let i = router.choose(&cands, &health, now_ms, &mut rng).unwrap();
            counts[i] += 1;
            let observed = true_latency[i] * (0.8 + 0.4 * rng.f64());
            health
                .entry(cands[i].health_key.clone())
                .or_default()
                .observe(now_ms, observed, true, 0.2);
        }
        assert!(
            counts[2] < 50,
            "slow model got {} of 1000 picks: {counts:?}",
            counts[2]
        );
        assert!(
            counts[2] > 0,
            "stale health must let the slow model be re-probed: {counts:?}"
        );
    }

    #[test]
    fn health_strategy_avoids_an_erroring_model() {
        let router = MetricsRouter::new(MetricsRouterConfig {
            strategy: Strategy::Health,
            ..Default::default()
        });
        let cands = candidates(&["ok", "flaky"]);
        let health = HashMap::from([
            ("ok".into(), healthy(900.0, 0.01, 1_000)),
            ("flaky".into(), healthy(200.0, 0.4, 1_000)),
        ]);
        assert_eq!(picks(&router, &cands, &health, 200), vec![200, 0]);
    }

    #[test]
    fn latency_strategy_weighs_errors_as_wasted_time() {
        let router = MetricsRouter::default();
        let cands = candidates(&["steady", "fast-but-failing"]);
        // 300 ms at 80 % errors is 1.5 s per success; 600 ms at 0 % wins.
        let health = HashMap::from([
            ("steady".into(), healthy(600.0, 0.0, 1_000)),
            ("fast-but-failing".into(), healthy(300.0, 0.8, 1_000)),
        ]);
        assert_eq!(picks(&router, &cands, &health, 100), vec![100, 0]);
    }

    #[test]
    fn cost_strategy_prefers_the_cheaper_and_distrusts_unpriced() {
        let router = MetricsRouter::new(MetricsRouterConfig {
            strategy: Strategy::Cost,
            ..Default::default()
        });
        let mut cands = candidates(&["premium", "budget", "unpriced"]);
        cands[0].price_per_1k_tokens = Some(0.015);
        cands[1].price_per_1k_tokens = Some(0.001);
        let counts = picks(&router, &cands, &HashMap::new(), 300);
        assert_eq!(counts[2], 0);
        assert!(counts[1] > counts[0]);
    }

    #[test]
    fn unknown_and_stale_health_is_optimistic() {
        let router = MetricsRouter::default();
        let cands = candidates(&["known", "new"]);
        let health = HashMap::from([("known".into(), healthy(500.0, 0.0, 1_000))]);
        let counts = picks(&router, &cands, &health, 1_000);
        assert!(
            counts[1] > 400,
            "a new model ties with the best known one: {counts:?}"
        );

        let router = MetricsRouter::new(MetricsRouterConfig {
            stale_after_ms: 500,
            ..Default::default()
        });
        let stale = HashMap::from([
            ("known".into(), healthy(500.0, 0.0, 1_000)),
            ("new".into(), healthy(9_000.0, 0.9, 0)),
        ]);
        assert!(
            picks(&router, &cands, &stale, 1_000)[1] > 400,
            "last seen bad, but long ago"
        );
    }

    #[test]
    fn trivial_candidate_lists() {
        let router = MetricsRouter::default();
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(router.choose(&[], &HashMap::new(), 0, &mut rng), None);
        assert_eq!(
            router.choose(&candidates(&["only"]), &HashMap::new(), 0, &mut rng),
            Some(0)
        );
    }

    #[test]
    fn config_reads_snake_case_strategy() {
        let config: MetricsRouterConfig = serde_json::from_str(r#"{"strategy":"cost"}"#).unwrap();
        assert_eq!(config.strategy, Strategy::Cost);
        assert_eq!(config.stale_after_ms, 60_000);
    }
}
