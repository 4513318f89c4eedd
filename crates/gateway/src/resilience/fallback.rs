//! The fallback planner: which target to try next after a failure, and what to report about
//! it. Pure: the caller asks the breaker, runs the retry loop, and tells the plan what happened.

use super::error::{InvalidConfig, ensure};
use super::error_class::ErrorClass;
use super::retry::RetryError;
use crate::ports::Target;
use serde::{Deserialize, Serialize};

/// One model of a route, with the regions to try it in (in order; empty: the home region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackTarget {
    pub model_id: String,
    #[serde(default)]
    pub regions: Vec<String>,
}

/// A route's ordered targets; with `cache_tier`, a cached response is the last resort.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackChain {
    pub targets: Vec<FallbackTarget>,
    #[serde(default)]
    pub cache_tier: bool,
}

impl FallbackChain {
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        ensure(
            !self.targets.is_empty(),
            "targets",
            "a route needs at least one target",
        )?;
        ensure(
            self.targets.iter().all(|t| !t.model_id.is_empty()),
            "model_id",
            "must not be empty",
        )?;
        ensure(
            self.targets
                .iter()
                .flat_map(|t| &t.regions)
                .all(|r| !r.is_empty()),
            "regions",
            "must not contain an empty region",
        )
    }

    /// A fresh plan for one request: every (model, region) in order, duplicates removed.
    pub fn plan(&self) -> FallbackPlan {
        let mut candidates: Vec<Target> = Vec::new();
        for target in &self.targets {
            let expanded: Vec<Target> = if target.regions.is_empty() {
                vec![Target::new(target.model_id.clone())]
            } else {
                target
                    .regions
                    .iter()
                    .map(|r| Target::in_region(target.model_id.clone(), r.clone()))
                    .collect()
            };
            for candidate in expanded {
                if !candidates.contains(&candidate) {
                    candidates.push(candidate);
                }
            }
        }
        FallbackPlan {
            candidates,
            next: 0,
            current: None,
            attempts: 0,
            cache_tier: self.cache_tier,
            cache_offered: false,
            stopped: false,
        }
    }
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask the breaker, then call this target through the retry loop.
    Try(Target),
    /// Every target failed over; look for a cached response.
    Cache,
    /// Give up and return the last error.
    Done,
}

/// What served the request, for response headers and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FallbackReport {
    pub served_by_model: Option<String>,
    /// `None` for the home region (and when nothing or the cache served).
    pub served_by_region: Option<String>,
    /// Model calls made across all targets (breaker-skipped targets add none).
    pub attempts: u32,
    /// Served by anything but the first target.
    pub fell_back: bool,
    pub from_fallback_tier: bool,
}

/// One request's walk along a chain.
///
/// ```ignore
/// let mut plan = chain.plan();
/// loop {
///     match plan.next_step() {
///         Step::Try(target) => {
///             if !breaker.admit(&target, now_ms()).await.is_allowed() { plan.skip(); continue; }
///             let outcome = policy.run(ctx, |a| client.converse(&target, &req), ErrorClass::of).await;
///             // ... breaker.record(&target, now_ms(), ok) ...
///             match outcome.result {
///                 Ok(resp) => return Ok((resp, plan.served(outcome.attempts))),
///                 Err(err) => plan.gave_up(&err, outcome.attempts),
///             }
///         }
///         Step::Cache => if let Some(hit) = cache.get(..).await { return Ok((hit, plan.served_from_cache())) },
///         Step::Done => return Err(..),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct FallbackPlan {
    candidates: Vec<Target>,
    next: usize,
    current: Option<usize>,
    attempts: u32,
    cache_tier: bool,
    cache_offered: bool,
    stopped: bool,
}

impl FallbackPlan {
    pub fn next_step(&mut self) -> Step {
        if self.stopped {
            return Step::Done;
        }
        if let Some(candidate) = self.candidates.get(self.next) {
            self.current = Some(self.next);
            self.next += 1;
            return Step::Try(candidate.clone());
        }
        self.current = None;
        if self.cache_tier && !self.cache_offered {
            self.cache_offered = true;
            return Step::Cache;
        }
        Step::Done
    }

    /// The breaker rejected the current target: move on without counting an attempt.
    pub fn skip(&mut self) {
        self.current = None;
    }

    /// The current target failed after `attempts` calls; stops the plan unless `class`
    /// falls over.
    pub fn failed(&mut self, class: &ErrorClass, attempts: u32) {
        self.attempts = self.attempts.saturating_add(attempts);
        if !class.falls_over() {
            self.stopped = true;
        }
    }

    /// [`failed`](Self::failed) for a retry loop's error; no time for even one attempt stops
    /// the plan (no other target would fit either).
    pub fn gave_up<E>(&mut self, error: &RetryError<E>, attempts: u32) {
        match error.class() {
            Some(class) => self.failed(class, attempts),
            None => self.stopped = true,
        }
    }

    /// The current target served the response after `attempts` calls.
    pub fn served(&mut self, attempts: u32) -> FallbackReport {
        self.attempts = self.attempts.saturating_add(attempts);
        let served = self
            .current
            .and_then(|i| self.candidates.get(i).map(|t| (i, t)));
        FallbackReport {
            served_by_model: served.map(|(_, t)| t.model_id.clone()),
            served_by_region: served.and_then(|(_, t)| t.region.clone()),
            attempts: self.attempts,
            fell_back: served.is_some_and(|(i, _)| i > 0),
            from_fallback_tier: false,
        }
    }

    pub fn served_from_cache(&mut self) -> FallbackReport {
        FallbackReport {
            attempts: self.attempts,
            fell_back: true,
            from_fallback_tier: true,
            ..FallbackReport::default()
        }
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// The streaming rule on its own: fall over only before the first byte reached the client.
pub fn stream_may_fall_over(class: &ErrorClass, first_byte_sent: bool) -> bool {
    !first_byte_sent && class.falls_over()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(cache_tier: bool) -> FallbackChain {
        serde_json::from_value(serde_json::json!({
            "targets": [
                { "model_id": "claude-sonnet", "regions": ["us-east-1", "us-west-2"] },
                { "model_id": "claude-haiku" }
            ],
            "cache_tier": cache_tier
        }))
        .unwrap()
    }

    #[test]
    fn walks_regions_then_models_then_cache() {
        let mut plan = chain(true).plan();
        assert_eq!(
            plan.next_step(),
            Step::Try(Target::in_region("claude-sonnet", "us-east-1"))
        );
        plan.failed(&ErrorClass::Throttled { retry_after: None }, 3);
        assert_eq!(
            plan.next_step(),
            Step::Try(Target::in_region("claude-sonnet", "us-west-2"))
        );
        plan.skip(); // breaker open
        assert_eq!(plan.next_step(), Step::Try(Target::new("claude-haiku")));
        plan.failed(&ErrorClass::Unavailable, 2);
        assert_eq!(plan.next_step(), Step::Cache);
        assert_eq!(plan.next_step(), Step::Done);
        assert_eq!(plan.attempts(), 5);
    }

    #[test]
    fn reports_the_target_that_served() {
        let mut plan = chain(false).plan();
        plan.next_step();
        plan.failed(&ErrorClass::ServerError, 2);
        plan.next_step();
        let report = plan.served(1);
        assert_eq!(
            report,
            FallbackReport {
                served_by_model: Some("claude-sonnet".into()),
                served_by_region: Some("us-west-2".into()),
                attempts: 3,
                fell_back: true,
                from_fallback_tier: false,
            }
        );
    }

    #[test]
    fn first_target_success_is_not_a_fallback() {
        let mut plan = chain(false).plan();
        plan.next_step();
        let report = plan.served(1);
        assert!(!report.fell_back);
        assert_eq!(report.attempts, 1);
    }

    #[test]
    fn validation_errors_stop_without_the_cache() {
        let mut plan = chain(true).plan();
        plan.next_step();
        plan.failed(&ErrorClass::Validation, 1);
        assert_eq!(plan.next_step(), Step::Done);
    }

    #[test]
    fn no_time_left_stops_the_plan() {
        let mut plan = chain(false).plan();
        plan.next_step();
        plan.gave_up(&RetryError::<()>::NoTimeForAttempt, 0);
        assert_eq!(plan.next_step(), Step::Done);
    }

    #[test]
    fn streams_fall_over_only_before_the_first_byte() {
        assert!(stream_may_fall_over(&ErrorClass::ServerError, false));
        assert!(!stream_may_fall_over(&ErrorClass::ServerError, true));
    }

    #[test]
    fn cache_served_report() {
        let mut plan = chain(true).plan();
        while let Step::Try(_) = plan.next_step() {
            plan.skip();
        }
        let report = plan.served_from_cache();
        assert!(report.from_fallback_tier && report.fell_back && report.served_by_model.is_none());
    }

    #[test]
    fn duplicate_targets_are_tried_once_and_empty_chains_are_invalid() {
        let chain = FallbackChain {
            targets: vec![
                FallbackTarget {
                    model_id: "m".into(),
                    regions: vec![],
                },
                FallbackTarget {
                    model_id: "m".into(),
                    regions: vec![],
                },
            ],
            cache_tier: false,
        };
        let mut plan = chain.plan();
        assert!(matches!(plan.next_step(), Step::Try(_)));
        assert_eq!(plan.next_step(), Step::Done);
        assert_eq!(
            FallbackChain::default().validate().map_err(|e| e.key),
            Err("targets")
        );
    }
}
