//! The one metered call: every model call in the workspace goes through [`Meter`].
//!
//! ```text
//! authorise (allow-list) → admit (limits, budget; cache lookup, concurrently)
//!   → answered from the response cache?  settle as a hit
//!   → the gateway's call path (routing, retries, breakers, fallbacks; each target checked
//!     against the allow-list again)
//!   → settle (counters to actuals, ledger row, answer cached) — at once for a whole answer,
//!     at the end of a stream, from a background task when a stream is dropped midway
//!   → audit (usage, cost, who served) in the request's record
//! ```
//!
//! With controls off (`auth.mode: none`, and the worker and stream processor, whose jobs were
//! admitted when they were submitted) the same path runs without the admission: the answer is
//! priced into the audit record. The `Gateway`'s own call methods are private to this crate,
//! so nothing else can call a model.

mod audit_slot;
mod operation;
mod retrieval;
mod settlement;
mod streams;

pub use audit_slot::AuditSlot;
pub use retrieval::{GroundedAnswer, Query};

use crate::api::converse::{ConverseRequest, ConverseResponse};
use crate::api::count_tokens::{CountTokensInput, CountTokensResponse};
use crate::api::invoke::{InvokeRequest, InvokeResponse};
use crate::clock::unix_ms;
use crate::controls::audit::CacheStatus;
use crate::controls::cache::{self, CacheDirective};
use crate::controls::controller::{CallPlan, Controller, Outcome, Refusal};
use crate::controls::models;
use crate::controls::output_cap::BodyDialect;
use crate::controls::ports::CounterStore;
use crate::controls::pricing::Pricing;
use crate::controls::reservation::RateView;
use crate::controls::{Nanos, Principal, RouteClass};
use crate::error::GatewayError;
use crate::knowledge_base::{Chunk, KnowledgeBaseClient};
use crate::ports::{ConverseEventStream, InvokeChunkStream, ModelClient, Target};
use crate::service::{Caller, Gateway, LastGood, Route, Served};
use operation::{Finish, Operation};
use settlement::{Ledger, Settlement};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

/// The gateway's call path and the controls around it, borrowed from the host's state.
pub struct Meter<'a, M, S: CounterStore + 'static = Infallible> {
    pub gateway: &'a Gateway<M>,
    /// `None`: nothing is admitted or counted (controls off, or admitted elsewhere).
    pub controls: Option<&'a Arc<Controller<S>>>,
    /// Prices uncontrolled calls for the audit record.
    pub pricing: Option<&'a Arc<Pricing>>,
}

/// One model call as the controls see it.
pub struct Call<'a> {
    /// Whom the call is for: the tenant and the allow-list every target is checked against.
    pub caller: Caller<'a>,
    /// Who is admitted and charged; `None` for a call admitted elsewhere (a job is charged
    /// when it is submitted; the stream processor's enrichment is the gateway's own).
    pub principal: Option<&'a Principal>,
    pub route: RouteClass,
    pub cache_control: CacheDirective,
    pub audit: AuditSlot,
    pub deadline: Option<Instant>,
}

impl<'a> Call<'a> {
    /// A call for a caller already admitted: no admission, no response cache, its own
    /// audit record (the host keeps its own record of the work).
    pub fn admitted(caller: Caller<'a>, route: RouteClass, deadline: Option<Instant>) -> Self {
        Self {
            caller,
            principal: None,
            route,
            cache_control: CacheDirective::NoStore,
            audit: AuditSlot::new(Default::default()),
            deadline,
        }
    }
}

/// A served call and what the controls say about it.
pub struct Metered<T> {
    pub served: Served<T>,
    /// The caller's rate-limit windows after this call was admitted.
    pub rate: Option<RateView>,
    /// What the response cache did; `None` when it took no part.
    pub cache: Option<CacheStatus>,
    /// What the call cost, when the controls settled it before the answer went out (a
    /// stream's cost is known at its end: it is in the audit record and the ledger).
    pub cost: Option<Nanos>,
}

/// A call refused by the controls or answered by no model.
#[derive(Debug)]
pub struct Refused {
    pub error: GatewayError,
    /// Set when a rate limit refused.
    pub rate: Option<RateView>,
    /// Model calls made trying, when the call path was reached.
    pub attempts: Option<u32>,
}

impl From<GatewayError> for Refused {
    fn from(error: GatewayError) -> Self {
        Self {
            error,
            rate: None,
            attempts: None,
        }
    }
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Self {
            error: refusal.error,
            rate: refusal.rate,
            attempts: None,
        }
    }
}

impl<'a, M: ModelClient> Meter<'a, M> {
    /// The call path alone, for calls admitted elsewhere (see [`Call::admitted`]).
    pub fn unadmitted(gateway: &'a Gateway<M>) -> Self {
        Self {
            gateway,
            controls: None,
            pricing: None,
        }
    }
}

impl<'a, M: ModelClient, S: CounterStore + 'static> Meter<'a, M, S> {
    /// Converse (`/v1/converse`, `/model/{id}/converse`, OpenAI chat, task routes, jobs).
    pub async fn converse(
        &self,
        call: &Call<'_>,
        route: Route<'_>,
        request: &ConverseRequest,
    ) -> Result<Metered<ConverseResponse>, Refused> {
        self.run(call, operation::Converse { route, request }).await
    }

    /// ConverseStream: a cached answer is replayed as the events a model would have sent.
    pub async fn converse_stream(
        &self,
        call: &Call<'_>,
        route: Route<'_>,
        request: &ConverseRequest,
    ) -> Result<Metered<ConverseEventStream>, Refused> {
        self.run(call, operation::ConverseStream { route, request })
            .await
    }

    /// InvokeModel: the provider's own body; usage read from the answer's body.
    pub async fn invoke(
        &self,
        call: &Call<'_>,
        model: &str,
        request: &InvokeRequest,
    ) -> Result<Metered<InvokeResponse>, Refused> {
        self.run(call, operation::Invoke { model, request }).await
    }

    /// InvokeModelWithResponseStream: settled from the usage on the last chunk.
    pub async fn invoke_stream(
        &self,
        call: &Call<'_>,
        model: &str,
        request: &InvokeRequest,
    ) -> Result<Metered<InvokeChunkStream>, Refused> {
        let events = matches!(
            BodyDialect::of_named(self.gateway.config(), model),
            BodyDialect::SageMaker(_)
        );
        let op = operation::InvokeStream {
            model,
            request,
            events,
        };
        self.run(call, op).await
    }

    /// CountTokens: admitted like any call (rate limits, concurrency: it uses the account's
    /// shared quota), nothing reserved, settled at no cost.
    pub async fn count_tokens(
        &self,
        call: &Call<'_>,
        model: &str,
        input: &CountTokensInput,
    ) -> Result<Metered<CountTokensResponse>, Refused> {
        self.run(call, operation::CountTokens { model, input })
            .await
    }

    /// A knowledge base's `Retrieve`: admitted under `kb:<id>`, priced as the query's
    /// embedding.
    pub async fn retrieve<K: KnowledgeBaseClient>(
        &self,
        call: &Call<'_>,
        client: &K,
        query: Query<'_>,
    ) -> Result<Metered<Vec<Chunk>>, Refused> {
        let estimate = &self.gateway.config().controls.estimate;
        let op = retrieval::Retrieve {
            client,
            scope: query.knowledge_base.scope(),
            query_tokens: crate::controls::estimate::text_tokens(query.text.len(), estimate),
            query,
        };
        self.run(call, op).await
    }

    /// A question answered by `model` from chunks retrieved from a knowledge base: one
    /// admitted call, so a refused caller retrieves nothing.
    pub async fn grounded_converse<K: KnowledgeBaseClient>(
        &self,
        call: &Call<'_>,
        client: &K,
        query: Query<'_>,
        model: &str,
        max_tokens: Option<u32>,
    ) -> Result<Metered<GroundedAnswer>, Refused> {
        let op = retrieval::Grounded {
            client,
            query,
            model,
            max_tokens,
        };
        self.run(call, op).await
    }

    async fn run<Op: Operation>(
        &self,
        call: &Call<'_>,
        op: Op,
    ) -> Result<Metered<Op::Output>, Refused> {
        let config = self.gateway.config();
        let name = match op.route() {
            Route::Model(name) => name,
            Route::Task(task) => models::task_model(config, task)?,
        };
        let estimate = op.estimate(config)?;
        call.audit.update(|r| r.model = name.to_owned());

        let mut rate = None;
        let mut cache_status = None;
        let mut cache_plan = None;
        let mut cached = None;
        let ledger = match self.controls {
            None => Ledger::Open {
                pricing: self.pricing.cloned(),
            },
            Some(controls) => {
                let principal = call.principal.ok_or_else(|| {
                    GatewayError::Internal("a controlled call without a principal".to_owned())
                })?;
                let model = op.resolve(config, name, call.caller.allowed_models)?;
                let cache = op.cacheable().and_then(|request| {
                    cache::plan(
                        &config.controls.cache,
                        call.route,
                        call.cache_control,
                        request,
                        &model.scope,
                        call.caller.tenant,
                    )
                });
                let plan = CallPlan {
                    route: call.route,
                    model,
                    estimate,
                    cache,
                };
                let mut admission = controls.admit(principal, plan, unix_ms()).await?;
                rate.clone_from(&admission.rate);
                cached = admission.cached.take();
                if admission.cache.is_some() {
                    cache_status = Some(if cached.is_some() {
                        CacheStatus::Hit
                    } else {
                        CacheStatus::Miss
                    });
                }
                cache_plan.clone_from(&admission.cache);
                Ledger::Controlled {
                    controls: Arc::clone(controls),
                    admission,
                }
            }
        };
        let mut settlement = Settlement::new(ledger, call.audit.clone());

        if let Some(cached) = cached
            && let Some(value) = op.replay(&cached.answer)
        {
            let served = self.served_from_cache(&cached.answer, value);
            record_served(&call.audit, &served);
            let settled = settlement
                .settle(Outcome::CacheHit {
                    model_id: cached.answer.model_id.clone(),
                })
                .await;
            call.audit.update(|r| r.cache = CacheStatus::Hit);
            return Ok(Metered {
                served,
                rate,
                cache: cache_status,
                cost: settled.map(|s| s.cost),
            });
        }

        let served = match op.call(self.gateway, call.caller, call.deadline).await {
            Ok(served) => served,
            Err(unanswered) => {
                // An attempt cut off at the deadline was billed by Bedrock for what it wrote:
                // charged like a call its caller abandoned, never free.
                let outcome = if unanswered.cut_off > 0 {
                    Outcome::Broken { output_chars: 0 }
                } else {
                    Outcome::Failed
                };
                settlement.settle(outcome).await;
                call.audit.update(|r| r.attempts = unanswered.attempts);
                return Err(Refused {
                    error: unanswered.error,
                    rate,
                    attempts: Some(unanswered.attempts),
                });
            }
        };
        record_served(&call.audit, &served);
        if served.from_fallback_tier {
            cache_status = Some(CacheStatus::Fallback);
        } else if cache_plan.is_some() {
            call.audit.update(|r| r.cache = CacheStatus::Miss);
        }
        let audit = &config.controls.audit;
        let how = Finish {
            keep: cache_plan.and_then(|p| p.store_ttl_secs).is_some(),
            content_chars: audit.include_content.then_some(audit.max_content_chars),
        };
        let (served, settled) = op.finish(served, settlement, how).await;
        let controlled = self.controls.is_some();
        Ok(Metered {
            served,
            rate,
            cache: cache_status,
            cost: settled.filter(|_| controlled).map(|s| s.cost),
        })
    }

    /// A cached answer served as the gateway would have served the model's.
    fn served_from_cache<T>(&self, answer: &LastGood, value: T) -> Served<T> {
        Served {
            value,
            target: Target {
                model_id: answer.model_id.clone(),
                region: answer.region.clone(),
            },
            attempts: 0,
            fell_back: false,
            from_fallback_tier: false,
            region: answer
                .region
                .clone()
                .or_else(|| self.gateway.home_region().map(str::to_owned)),
            route: "cache".to_owned(),
        }
    }
}

/// Who served, in the audit record.
fn record_served<T>(audit: &AuditSlot, served: &Served<T>) {
    audit.update(|r| {
        r.served_model.clone_from(&served.target.model_id);
        r.region = served.region.clone().unwrap_or_default();
        r.attempts = served.attempts;
        if served.from_fallback_tier {
            r.cache = CacheStatus::Fallback;
        }
    });
}
