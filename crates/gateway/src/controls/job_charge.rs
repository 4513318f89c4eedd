//! Async jobs under the same limits and budgets as direct calls. `POST /v1/jobs` admits the
//! job's model call like any other (rate limits and budgets, no in-flight slot: see
//! [`Controller::admit`]) and stores what it reserved on the job record as a [`JobCharge`];
//! the worker that finishes the job settles that charge to the actual usage, once, and the
//! usage ledger gains the job's row.

use super::controller::{Admission, Controller, Settled};
use super::money::Nanos;
use super::ports::{CounterStore, Settlement};
use super::reservation::{self, Held, HeldKind};
use super::usage::TokenUsage;
use serde::{Deserialize, Serialize};

/// What a job's submit reserved, kept on the job record until a worker settles it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCharge {
    /// Unique per submit: a submit that finds a record carrying its own charge knows the
    /// record is its own write (an SDK retry after a lost response), not an earlier submit's.
    pub submit_id: String,
    pub principal: String,
    pub tenant: String,
    /// The model name the limits were counted under (the ledger's model on failure).
    pub scope: String,
    pub held: Held,
}

/// How a charged job ended.
#[derive(Debug, Clone)]
pub enum ChargeOutcome {
    /// A model answered: charged at its price (the reserved worst case if it has none).
    Answered {
        model_id: String,
        region: Option<String>,
        usage: TokenUsage,
    },
    /// The job failed for good: nothing billed, the reservation is given back.
    Failed,
}

impl Admission {
    /// The part of this admission a job carries to its worker; `submit_id` is unique per submit.
    pub fn charge(&self, submit_id: &str) -> JobCharge {
        JobCharge {
            submit_id: submit_id.to_owned(),
            principal: self.principal.clone(),
            tenant: self.tenant.clone(),
            scope: self.scope.clone(),
            held: self.reservation.held(),
        }
    }
}

impl<S: CounterStore> Controller<S> {
    /// Settles a finished job's charge: counters to actuals and a ledger row, in one write.
    /// Call it once per job (the worker whose `finish` won). A store failure is logged: the
    /// reservation then stays counted, never an overspend.
    pub async fn settle_charge(
        &self,
        charge: &JobCharge,
        outcome: ChargeOutcome,
        now_ms: u64,
    ) -> Settled {
        let (settled, error) = match outcome {
            ChargeOutcome::Answered {
                model_id,
                region,
                usage,
            } => {
                let cost = self
                    .price(&model_id, region.as_deref())
                    .map_or(charge.held.cost, |price| price.cost(&usage));
                let settled = Settled {
                    usage,
                    cost,
                    model: model_id,
                };
                (settled, false)
            }
            ChargeOutcome::Failed => {
                let settled = Settled {
                    usage: TokenUsage::default(),
                    cost: Nanos::ZERO,
                    model: charge.scope.clone(),
                };
                (settled, true)
            }
        };
        if settled.cost > charge.held.cost && !charge.held.counters.is_empty() {
            tracing::warn!(
                reserved = %charge.held.cost, actual = %settled.cost,
                "a job cost more than its reservation (estimate.bytes_per_token is set too high)"
            );
        }
        let now_secs = now_ms / 1_000;
        // A rate window that has closed is left as it is: its item may already be gone (TTL),
        // and an ADD would bring it back without one.
        let mut held = charge.held.clone();
        held.counters.retain(|(pk, kind)| {
            *kind != HeldKind::Rate
                || pk
                    .rsplit('#')
                    .next()
                    .and_then(|minute| minute.parse::<u64>().ok())
                    .is_some_and(|minute| minute >= now_secs / 60)
        });
        let settlement = Settlement {
            adjustments: reservation::settle_held(&held, settled.usage.total(), settled.cost),
            ledger: Some(self.ledger_entry(
                &charge.tenant,
                &charge.principal,
                &settled,
                (false, error),
                now_secs,
            )),
            cache: None,
        };
        self.apply(&settlement, &charge.principal, settled.cost)
            .await;
        settled
    }
}
