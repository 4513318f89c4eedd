//! Settling a metered call exactly once, however it ends: at once for a whole answer, when
//! the last event passed for a stream, and — when the caller goes away midway and the stream
//! is dropped — from a background task that charges the reservation (Bedrock bills tokens the
//! gateway never saw). With controls off the same settlement prices the usage for the audit
//! record, so every record has its cost.

use super::AuditSlot;
use crate::clock::unix_ms;
use crate::controls::Nanos;
use crate::controls::controller::{Admission, Controller, Outcome, Settled};
use crate::controls::ports::CounterStore;
use crate::controls::pricing::Pricing;
use crate::controls::usage::TokenUsage;
use std::sync::Arc;

/// What a call is settled against: an admission, or (controls off) just the price table.
// One per call, moved a couple of times: boxing the admission would add an allocation instead.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Ledger<S: CounterStore + 'static> {
    Controlled {
        controls: Arc<Controller<S>>,
        admission: Admission,
    },
    Open {
        pricing: Option<Arc<Pricing>>,
    },
}

/// A call to settle exactly once; dropping it unsettled charges a controlled call's reservation.
pub(crate) struct Settlement<S: CounterStore + 'static> {
    pending: Option<Ledger<S>>,
    audit: AuditSlot,
}

impl<S: CounterStore + 'static> Settlement<S> {
    pub(crate) fn new(ledger: Ledger<S>, audit: AuditSlot) -> Self {
        Self {
            pending: Some(ledger),
            audit,
        }
    }

    pub(crate) fn audit(&self) -> &AuditSlot {
        &self.audit
    }

    /// Settles with `outcome` (the first call only) and notes usage and cost in the audit
    /// record. `None`: nothing to note (an open call that failed, or settled already).
    pub(crate) async fn settle(&mut self, outcome: Outcome) -> Option<Settled> {
        let settled = match self.pending.take()? {
            Ledger::Controlled {
                controls,
                admission,
            } => controls.settle(&admission, outcome, unix_ms()).await,
            Ledger::Open { pricing } => open(pricing.as_deref(), outcome)?,
        };
        self.audit
            .update(|r| r.set_usage(&settled.usage, settled.cost));
        Some(settled)
    }
}

/// What an uncontrolled call cost, priced as a controlled one would be: nothing for an answer
/// no model gave, nothing noted for a call that failed or broke.
fn open(pricing: Option<&Pricing>, outcome: Outcome) -> Option<Settled> {
    match outcome {
        Outcome::Answered {
            model_id,
            region,
            usage,
            ..
        } => {
            let cost = pricing
                .and_then(|p| p.cost(&model_id, region.as_deref(), &usage))
                .unwrap_or(Nanos::ZERO);
            Some(Settled {
                usage,
                cost,
                model: model_id,
            })
        }
        Outcome::CacheHit { model_id } | Outcome::FallbackCache { model_id } => Some(Settled {
            usage: TokenUsage::default(),
            cost: Nanos::ZERO,
            model: model_id,
        }),
        Outcome::Failed | Outcome::Broken { .. } | Outcome::Estimated { .. } => None,
    }
}

impl<S: CounterStore + 'static> Drop for Settlement<S> {
    fn drop(&mut self) {
        let Some(Ledger::Controlled {
            controls,
            admission,
        }) = self.pending.take()
        else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                "a metered call ended without a runtime to settle it; its reservation stays counted"
            );
            return;
        };
        tracing::warn!(principal = %admission.principal, "the caller left mid-call; charging the reservation");
        // The audit record is written after this (the host drops the call before it writes):
        // it says what the ledger is about to charge.
        let (usage, cost) = controls.broken_charge(&admission, 0);
        self.audit.update(|r| {
            r.set_usage(&usage, cost);
            if r.error_code.is_empty() {
                r.error_code = "client_closed".to_owned();
            }
        });
        runtime.spawn(async move {
            controls
                .settle(&admission, Outcome::Broken { output_chars: 0 }, unix_ms())
                .await;
        });
    }
}
