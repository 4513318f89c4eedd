//! Rate limits and budgets as counters in the state table, reserved before a model call and
//! settled after it.
//!
//! Every limit is one numeric attribute of one item, changed only by atomic `ADD`s, each
//! guarded by `attribute_not_exists(a) OR a <= cap - amount` (DynamoDB conditions compare but
//! cannot add, so the gateway subtracts). All of a request's counters are reserved in one
//! transaction: either every limit admits the request or nothing is counted. Settling adds the
//! difference between actual and reserved, unconditionally.
//!
//! - `RL#<principal>#<model>#<minute>`: `requests` (+1) and `tokens` (+estimate, later
//!   +actual−estimate) in a fixed one-minute window.
//! - `CC#<principal>#<model>#<bucket>`: `inflight` (+1, later −1); see
//!   [`LimitsConfig::concurrency_bucket_secs`](super::config::LimitsConfig).
//! - `BUDGET#<key:id|tenant:name>#<d:YYYY-MM-DD|m:YYYY-MM>`: `committed` (spent plus
//!   reserved: +worst case, later +actual−worst) and `spent` (+actual).

use super::calendar;
use super::money::Nanos;
use crate::error::GatewayError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One guarded `ADD` to an attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub attribute: &'static str,
    pub amount: i64,
    /// The condition: the attribute is absent or at most this before the add.
    pub at_most: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterKind {
    Rate {
        requests_per_minute: Option<u64>,
        tokens_per_minute: Option<u64>,
        window_end_secs: u64,
    },
    Concurrency {
        limit: u64,
    },
    Budget {
        scope: BudgetScope,
        period: Period,
        cap: Nanos,
        resets_at_secs: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetScope {
    Key(String),
    Tenant(String),
}

impl BudgetScope {
    fn pk_part(&self) -> String {
        match self {
            Self::Key(id) => format!("key:{id}"),
            Self::Tenant(t) => format!("tenant:{t}"),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Key(id) => format!("key {id}"),
            Self::Tenant(t) => format!("tenant {t}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}

impl Period {
    fn label(self) -> &'static str {
        match self {
            Self::Day => "daily",
            Self::Month => "monthly",
        }
    }
}

/// One item a reservation touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub kind: CounterKind,
    pub pk: String,
    pub adds: Vec<Add>,
    /// Set as the item's `mark` with the adds: a read that shows it was made after them.
    pub mark: Option<String>,
    /// When the table's TTL may delete the item (epoch seconds).
    pub expires_at_secs: u64,
}

/// Everything a request reserves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reservation {
    pub counters: Vec<Counter>,
    pub tokens: u64,
    pub cost: Nanos,
}

/// What the reservation is built from.
#[derive(Debug, Clone)]
pub struct ReservationInput<'a> {
    pub principal: &'a str,
    pub model: &'a str,
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub concurrency: Option<u64>,
    pub concurrency_bucket_secs: u64,
    /// (scope, daily cap, monthly cap)
    pub budgets: Vec<(BudgetScope, Option<Nanos>, Option<Nanos>)>,
    pub tokens: u64,
    pub cost: Nanos,
    pub now_secs: u64,
    /// Unique per request: the rate counter's mark.
    pub mark: String,
}

pub fn rate_pk(principal: &str, model: &str, now_secs: u64) -> String {
    format!("RL#{principal}#{model}#{}", now_secs / 60)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The counters for a request, or the refusal when a single request can never fit (more
/// tokens than the per-minute limit, a worst case above the whole budget).
pub fn reserve(input: &ReservationInput<'_>) -> Result<Reservation, GatewayError> {
    let now = input.now_secs;
    let tokens = signed(input.tokens);
    let mut counters = Vec::new();
    if input.requests_per_minute.is_some() || input.tokens_per_minute.is_some() {
        let window_end = (now / 60 + 1) * 60;
        let mut adds = Vec::new();
        if let Some(rpm) = input.requests_per_minute {
            adds.push(Add {
                attribute: "requests",
                amount: 1,
                at_most: Some(signed(rpm) - 1),
            });
        }
        if let Some(tpm) = input.tokens_per_minute
            && input.tokens > tpm
        {
            return Err(GatewayError::RateLimited {
                message: format!(
                    "this request may use up to {} tokens, more than the key's limit of {tpm} tokens per minute for {}; lower the output-token limit (maxTokens, max_tokens) or shorten the input",
                    input.tokens, input.model
                ),
                retry_after: Duration::from_secs(60),
            });
        }
        adds.push(Add {
            attribute: "tokens",
            amount: tokens,
            at_most: input.tokens_per_minute.map(|tpm| signed(tpm) - tokens),
        });
        counters.push(Counter {
            kind: CounterKind::Rate {
                requests_per_minute: input.requests_per_minute,
                tokens_per_minute: input.tokens_per_minute,
                window_end_secs: window_end,
            },
            pk: rate_pk(input.principal, input.model, now),
            adds,
            mark: Some(input.mark.clone()),
            expires_at_secs: window_end + 3_600,
        });
    }
    if let Some(limit) = input.concurrency {
        let bucket = input.concurrency_bucket_secs.max(1);
        counters.push(Counter {
            kind: CounterKind::Concurrency { limit },
            pk: format!("CC#{}#{}#{}", input.principal, input.model, now / bucket),
            adds: vec![Add {
                attribute: "inflight",
                amount: 1,
                at_most: Some(signed(limit) - 1),
            }],
            mark: None,
            expires_at_secs: (now / bucket + 2) * bucket + 3_600,
        });
    }
    let cost = input.cost.as_i64();
    for (scope, daily, monthly) in &input.budgets {
        for (period, cap) in [(Period::Day, daily), (Period::Month, monthly)] {
            let Some(cap) = *cap else { continue };
            let (label, resets_at) = match period {
                Period::Day => (
                    format!("d:{}", calendar::day_string(now)),
                    calendar::day_end(now),
                ),
                Period::Month => (
                    format!("m:{}", calendar::month_string(now)),
                    calendar::month_end(now),
                ),
            };
            let kind = CounterKind::Budget {
                scope: scope.clone(),
                period,
                cap,
                resets_at_secs: resets_at,
            };
            if input.cost > cap {
                return Err(exhausted(&kind, true));
            }
            counters.push(Counter {
                kind,
                pk: format!("BUDGET#{}#{label}", scope.pk_part()),
                adds: vec![
                    Add {
                        attribute: "committed",
                        amount: cost,
                        at_most: Some(cap.as_i64() - cost),
                    },
                    Add {
                        attribute: "spent",
                        amount: 0,
                        at_most: None,
                    },
                ],
                mark: None,
                // Kept a while after the period, for reports.
                expires_at_secs: resets_at + 90 * 86_400,
            });
        }
    }
    Ok(Reservation {
        counters,
        tokens: input.tokens,
        cost: input.cost,
    })
}

fn exhausted(kind: &CounterKind, single_request: bool) -> GatewayError {
    let CounterKind::Budget {
        scope,
        period,
        cap,
        resets_at_secs,
    } = kind
    else {
        return GatewayError::Internal("not a budget counter".into());
    };
    let reset = calendar::day_string(*resets_at_secs);
    if single_request {
        GatewayError::BudgetExceeded(format!(
            "the worst-case cost of this request is above the {} budget of {cap} for {}; lower the output-token limit (maxTokens, max_tokens) or shorten the input",
            period.label(),
            scope.describe()
        ))
    } else {
        GatewayError::BudgetExceeded(format!(
            "the {} budget of {cap} for {} is exhausted (spent and reserved); it resets on {reset} 00:00 UTC",
            period.label(),
            scope.describe()
        ))
    }
}

/// The counter values a rate-limit item had (or has), by attribute.
pub type Observed = std::collections::BTreeMap<String, i64>;

/// The caller's error when the store refused `counter` (its condition failed), with what the
/// item held at that moment if the store returned it.
pub fn refusal(counter: &Counter, observed: Option<&Observed>, now_secs: u64) -> GatewayError {
    match &counter.kind {
        CounterKind::Rate {
            requests_per_minute,
            tokens_per_minute,
            window_end_secs,
        } => {
            let value = |a: &str| observed.and_then(|o| o.get(a)).copied();
            let requests_full = requests_per_minute
                .is_some_and(|rpm| value("requests").is_none_or(|r| r >= signed(rpm)));
            let (limit, unit) = if requests_full {
                (requests_per_minute, "requests")
            } else {
                (tokens_per_minute, "tokens")
            };
            GatewayError::RateLimited {
                message: format!(
                    "rate limit of {} {unit} per minute reached for {}",
                    limit.unwrap_or(0),
                    model_of(&counter.pk)
                ),
                retry_after: Duration::from_secs(window_end_secs.saturating_sub(now_secs).max(1)),
            }
        }
        CounterKind::Concurrency { limit } => GatewayError::RateLimited {
            message: format!(
                "{limit} requests for {} are already in flight",
                model_of(&counter.pk)
            ),
            retry_after: Duration::from_secs(1),
        },
        kind @ CounterKind::Budget { .. } => exhausted(kind, false),
    }
}

fn model_of(pk: &str) -> &str {
    pk.split('#').nth(2).unwrap_or("this model")
}

/// What the `x-ratelimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateView {
    pub requests_limit: Option<u64>,
    pub requests_remaining: Option<u64>,
    pub tokens_limit: Option<u64>,
    pub tokens_remaining: Option<u64>,
    pub reset_secs: u64,
}

impl RateView {
    /// From the rate counter and the values read alongside the reservation. `add_own`: the
    /// read may predate this request's own add (its mark is not on the item), so count the
    /// request on top; the remaining count is then exact without concurrent requests of the
    /// same key and model, and never over-reported with them.
    pub fn new(
        counter: &Counter,
        observed: Option<&Observed>,
        add_own: bool,
        tokens: u64,
        now_secs: u64,
    ) -> Option<Self> {
        let CounterKind::Rate {
            requests_per_minute,
            tokens_per_minute,
            window_end_secs,
        } = &counter.kind
        else {
            return None;
        };
        let seen = |a: &str| {
            u64::try_from(observed.and_then(|o| o.get(a)).copied().unwrap_or(0)).unwrap_or(0)
        };
        let (own_requests, own_tokens) = if add_own { (1, tokens) } else { (0, 0) };
        Some(Self {
            requests_limit: *requests_per_minute,
            requests_remaining: requests_per_minute
                .map(|l| l.saturating_sub(seen("requests").saturating_add(own_requests))),
            tokens_limit: *tokens_per_minute,
            tokens_remaining: tokens_per_minute
                .map(|l| l.saturating_sub(seen("tokens").saturating_add(own_tokens))),
            reset_secs: window_end_secs.saturating_sub(now_secs).max(1),
        })
    }
}

/// An unconditional change to one counter item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub pk: String,
    pub adds: Vec<(&'static str, i64)>,
}

/// How a held counter settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldKind {
    /// `tokens` becomes the actual count.
    Rate,
    /// `inflight` goes back down.
    Concurrency,
    /// `committed` becomes the actual cost, which `spent` gains.
    Budget,
}

/// A reservation as far as settling it needs: each counter's item and kind, and what was
/// reserved. Small and serialisable, so an async job carries it from its submit (which
/// reserves) to the worker that finishes it (which settles).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Held {
    pub counters: Vec<(String, HeldKind)>,
    pub tokens: u64,
    pub cost: Nanos,
}

impl CounterKind {
    fn held(&self) -> HeldKind {
        match self {
            Self::Rate { .. } => HeldKind::Rate,
            Self::Concurrency { .. } => HeldKind::Concurrency,
            Self::Budget { .. } => HeldKind::Budget,
        }
    }
}

impl Reservation {
    pub fn held(&self) -> Held {
        Held {
            counters: self
                .counters
                .iter()
                .map(|c| (c.pk.clone(), c.kind.held()))
                .collect(),
            tokens: self.tokens,
            cost: self.cost,
        }
    }
}

/// The adjustments that turn a reservation into what the call actually used.
pub fn settle(reservation: &Reservation, tokens: u64, cost: Nanos) -> Vec<Adjustment> {
    adjustments(
        reservation.counters.iter().map(|c| (&c.pk, c.kind.held())),
        reservation.tokens,
        reservation.cost,
        tokens,
        cost,
    )
}

/// [`settle`] for a reservation held by a job.
pub fn settle_held(held: &Held, tokens: u64, cost: Nanos) -> Vec<Adjustment> {
    adjustments(
        held.counters.iter().map(|(pk, kind)| (pk, *kind)),
        held.tokens,
        held.cost,
        tokens,
        cost,
    )
}

fn adjustments<'a>(
    counters: impl Iterator<Item = (&'a String, HeldKind)>,
    reserved_tokens: u64,
    reserved_cost: Nanos,
    tokens: u64,
    cost: Nanos,
) -> Vec<Adjustment> {
    let token_delta = signed(tokens) - signed(reserved_tokens);
    let cost_delta = cost.as_i64() - reserved_cost.as_i64();
    counters
        .filter_map(|(pk, kind)| {
            let adds = match kind {
                HeldKind::Rate => vec![("tokens", token_delta)],
                HeldKind::Concurrency => vec![("inflight", -1)],
                HeldKind::Budget => vec![("committed", cost_delta), ("spent", cost.as_i64())],
            };
            let adds: Vec<_> = adds.into_iter().filter(|(_, n)| *n != 0).collect();
            (!adds.is_empty()).then(|| Adjustment {
                pk: pk.clone(),
                adds,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_072_030; // 2025-11-25T12:00:30Z

    fn input() -> ReservationInput<'static> {
        ReservationInput {
            principal: "GWKA",
            model: "m",
            requests_per_minute: Some(10),
            tokens_per_minute: Some(1_000),
            concurrency: Some(2),
            concurrency_bucket_secs: 300,
            budgets: vec![
                (BudgetScope::Key("GWKA".into()), Some(Nanos(1_000)), None),
                (
                    BudgetScope::Tenant("acme".into()),
                    Some(Nanos(5_000)),
                    Some(Nanos(9_000)),
                ),
            ],
            tokens: 100,
            cost: Nanos(300),
            now_secs: NOW,
            mark: "m1".into(),
        }
    }

    #[test]
    fn one_counter_per_limit_with_conditions_pre_subtracted() {
        let r = reserve(&input()).unwrap();
        let pks: Vec<&str> = r.counters.iter().map(|c| c.pk.as_str()).collect();
        assert_eq!(
            pks,
            [
                format!("RL#GWKA#m#{}", NOW / 60).as_str(),
                format!("CC#GWKA#m#{}", NOW / 300).as_str(),
                "BUDGET#key:GWKA#d:2025-11-25",
                "BUDGET#tenant:acme#d:2025-11-25",
                "BUDGET#tenant:acme#m:2025-11",
            ]
        );
        let rate = &r.counters[0];
        assert_eq!(
            rate.adds[0],
            Add {
                attribute: "requests",
                amount: 1,
                at_most: Some(9)
            }
        );
        assert_eq!(
            rate.adds[1],
            Add {
                attribute: "tokens",
                amount: 100,
                at_most: Some(900)
            }
        );
        assert_eq!(r.counters[2].adds[0].at_most, Some(700));
    }

    #[test]
    fn impossible_requests_are_refused_before_any_call() {
        let too_many_tokens = ReservationInput {
            tokens: 1_001,
            ..input()
        };
        assert_eq!(reserve(&too_many_tokens).unwrap_err().status_code(), 429);
        let too_expensive = ReservationInput {
            cost: Nanos(1_001),
            ..input()
        };
        let err = reserve(&too_expensive).unwrap_err();
        assert_eq!(err.code(), "budget_exceeded");
        assert!(err.to_string().contains("key GWKA"), "{err}");
    }

    #[test]
    fn unlimited_principals_touch_nothing() {
        let free = ReservationInput {
            requests_per_minute: None,
            tokens_per_minute: None,
            concurrency: None,
            budgets: vec![],
            ..input()
        };
        assert!(reserve(&free).unwrap().counters.is_empty());
    }

    #[test]
    fn refusals_say_which_limit_and_when_to_retry() {
        let r = reserve(&input()).unwrap();
        let full = Observed::from([("requests".to_owned(), 10), ("tokens".to_owned(), 50)]);
        let err = refusal(&r.counters[0], Some(&full), NOW);
        assert!(err.to_string().contains("10 requests per minute"), "{err}");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        let tokens = Observed::from([("requests".to_owned(), 3), ("tokens".to_owned(), 950)]);
        assert!(
            refusal(&r.counters[0], Some(&tokens), NOW)
                .to_string()
                .contains("tokens per minute")
        );
        assert_eq!(
            refusal(&r.counters[1], None, NOW).retry_after(),
            Some(Duration::from_secs(1))
        );
        let budget = refusal(&r.counters[4], None, NOW);
        assert!(budget.to_string().contains("monthly budget"), "{budget}");
        assert!(budget.to_string().contains("2025-12-01"), "{budget}");
    }

    #[test]
    fn settling_moves_reservations_to_actuals() {
        let r = reserve(&input()).unwrap();
        let adjustments = settle(&r, 40, Nanos(120));
        assert_eq!(adjustments[0].adds, vec![("tokens", -60)]);
        assert_eq!(adjustments[1].adds, vec![("inflight", -1)]);
        assert_eq!(
            adjustments[2].adds,
            vec![("committed", -180), ("spent", 120)]
        );
        assert_eq!(adjustments.len(), 5);
    }

    #[test]
    fn rate_headers_never_over_report() {
        let r = reserve(&input()).unwrap();
        let seen = Observed::from([("requests".to_owned(), 4), ("tokens".to_owned(), 200)]);
        let view = RateView::new(&r.counters[0], Some(&seen), true, 100, NOW).unwrap();
        assert_eq!(view.requests_remaining, Some(5));
        assert_eq!(view.tokens_remaining, Some(700));
        assert_eq!(view.reset_secs, 30);
        let after_own = RateView::new(&r.counters[0], Some(&seen), false, 100, NOW).unwrap();
        assert_eq!(after_own.requests_remaining, Some(6));
        let full = Observed::from([("requests".to_owned(), 10)]);
        let refused = RateView::new(&r.counters[0], Some(&full), false, 100, NOW).unwrap();
        assert_eq!(refused.requests_remaining, Some(0));
    }
}
