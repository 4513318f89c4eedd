//! The call path every front door shares (HTTP routes, the jobs worker, the stream processor):
//! resolve the route (static, content-based `auto`, or a metric-routed group) to a fallback
//! chain, walk it target by target (breaker admission → the one retry loop → breaker and health
//! reports), fall over on what other targets may fix, end with the cached-response tier, and
//! report who served.
//!
//! - `routing`: caller's name or task → chain, decision and reason.
//! - `caller`: who the call is for: the allow-list every target is checked against, the
//!   tenant that partitions remembered answers.
//! - `walk`: the chain walk, retries and breaker/health reporting.
//! - `stream`: first-event peeking (fallback only before the first byte) and mid-stream reports.
//! - `last_good`: the cached-response tier's port and in-memory store.
//! - `erased`: stores and clock behind concrete types, so `Gateway<M>` has one type parameter.

pub(crate) mod caller;
mod erased;
pub(crate) mod last_good;
mod routing;
mod stream;
mod timeout;
mod walk;

pub use caller::Caller;
pub use erased::{AnyBreakerStore, AnyClock, AnyHealthStore, AnyStoreError, BoxFuture};
pub use last_good::{InMemoryLastGood, LastGood, LastGoodError, LastGoodStore, cache_key};
pub use routing::Route;

use crate::api::converse::{ConverseRequest, ConverseResponse};
use crate::api::count_tokens::{CountTokensInput, CountTokensResponse};
use crate::api::invoke::{InvokeRequest, InvokeResponse};
use crate::config::GatewayConfig;
use crate::controls::{cache, output_cap};
use crate::error::GatewayError;
use crate::ports::{ConverseEventStream, InvokeChunkStream, ModelClient, Target};
use crate::resilience::in_memory::{InMemoryBreakerStore, InMemoryHealthStore};
use crate::resilience::{
    BreakerStore, Clock, FallbackReport, HealthStore, RetryBudget, SharedBreaker, SharedHealth,
};
use routing::{Flexibility, RoutePlan};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use walk::{Policies, Unserved, Walked};

/// A model's answer and who gave it, for response headers, audit and cost.
#[derive(Debug)]
pub struct Served<T> {
    pub value: T,
    /// The target that answered; for a cached answer, the one that gave it originally.
    pub target: Target,
    /// Model calls made for this request, across every target tried.
    pub attempts: u32,
    /// Served by anything but the chain's first target (another region, model, or the cache).
    pub fell_back: bool,
    /// Served by the cached-response tier.
    pub from_fallback_tier: bool,
    /// The region that answered by name (the home region when the target named none).
    pub region: Option<String>,
    /// How the route was chosen, e.g. `static`, `task:classify`, `complex:code+long(5234 chars)`.
    pub route: String,
}

impl<T> Served<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Served<U> {
        Served {
            value: f(self.value),
            target: self.target,
            attempts: self.attempts,
            fell_back: self.fell_back,
            from_fallback_tier: self.from_fallback_tier,
            region: self.region,
            route: self.route,
        }
    }
}

/// A call no model answered: the error, and how many model calls were made trying (0 when
/// the request was refused before any: validation, every breaker open). The API puts the
/// count in `x-gateway-attempts` on error responses too.
#[derive(Debug)]
pub struct Unanswered {
    pub error: GatewayError,
    pub attempts: u32,
    /// Attempts the gateway cut off at the deadline while the model may still have been
    /// generating: Bedrock bills them, so the call is charged like one its caller abandoned.
    pub cut_off: u32,
}

impl From<GatewayError> for Unanswered {
    fn from(error: GatewayError) -> Self {
        Self {
            error,
            attempts: 0,
            cut_off: 0,
        }
    }
}

impl From<Unanswered> for GatewayError {
    fn from(unanswered: Unanswered) -> Self {
        unanswered.error
    }
}

impl Unserved {
    fn unanswered(self, route: &RoutePlan) -> Unanswered {
        let attempts = self.plan.attempts();
        let cut_off = self.cut_off();
        Unanswered {
            error: self.into_error(route),
            attempts,
            cut_off,
        }
    }
}

/// Where the gateway's shared state lives and what tells time. Built once at cold start.
pub struct GatewayParts {
    pub clock: AnyClock,
    pub breaker_store: AnyBreakerStore,
    pub health_store: AnyHealthStore,
    pub last_good: Arc<dyn LastGoodStore>,
    /// The region a target without one is called in (`AWS_REGION`), for headers.
    pub home_region: Option<String>,
}

impl GatewayParts {
    /// Per-instance state only: breakers, health and last good answers in memory. For the
    /// offline runner and for deployments without a state table.
    pub fn local(config: &GatewayConfig, clock: impl Clock + 'static) -> Self {
        Self {
            clock: AnyClock::new(clock),
            breaker_store: AnyBreakerStore::new(InMemoryBreakerStore::default()),
            health_store: AnyHealthStore::new(InMemoryHealthStore::default()),
            last_good: Arc::new(InMemoryLastGood::new(
                config.resilience.cache_tier.max_entries,
            )),
            home_region: None,
        }
    }

    /// Shares breakers across instances through `store`.
    pub fn with_breaker_store(mut self, store: impl BreakerStore + 'static) -> Self {
        self.breaker_store = AnyBreakerStore::new(store);
        self
    }

    /// Shares model health across instances through `store`.
    pub fn with_health_store(mut self, store: impl HealthStore + 'static) -> Self {
        self.health_store = AnyHealthStore::new(store);
        self
    }

    pub fn with_last_good(mut self, store: Arc<dyn LastGoodStore>) -> Self {
        self.last_good = store;
        self
    }

    pub fn with_home_region(mut self, region: Option<String>) -> Self {
        self.home_region = region.filter(|r| !r.is_empty());
        self
    }
}

pub struct Gateway<M> {
    config: GatewayConfig,
    models: M,
    policies: Arc<Policies>,
    last_good: Arc<dyn LastGoodStore>,
    home_region: Option<String>,
}

impl<M: ModelClient> Gateway<M> {
    pub fn new(config: GatewayConfig, models: M, parts: GatewayParts) -> Self {
        let resilience = &config.resilience;
        let policies = Policies {
            retry: resilience.retry.clone(),
            budget: RetryBudget::new(resilience.retry_budget.clone()),
            breaker: SharedBreaker::new(parts.breaker_store, resilience.breaker.clone()),
            health: SharedHealth::new(parts.health_store, resilience.health.clone()),
            clock: parts.clock,
        };
        Self {
            models,
            policies: Arc::new(policies),
            last_good: parts.last_good,
            home_region: parts.home_region,
            config,
        }
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    pub fn home_region(&self) -> Option<&str> {
        self.home_region.as_deref()
    }

    /// A Converse call along the route's chain, ending with the cached-response tier. Every
    /// target is one `caller` may use, and the request carries an output limit (its own, or
    /// the reserved default). `deadline`: when the caller stops waiting (Lambda's remaining
    /// time); the configured `limits.request_timeout_ms` applies too, whichever is sooner.
    /// The error says how many model calls were made (`x-gateway-attempts`).
    #[allow(clippy::disallowed_methods)] // the call path: the model client's one caller
    pub(crate) async fn converse(
        &self,
        caller: Caller<'_>,
        route: Route<'_>,
        request: &ConverseRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<ConverseResponse>, Unanswered> {
        let deadline = self.deadline(deadline);
        let plan = self
            .plan(caller, route, Some(request), Flexibility::AnyModel)
            .await?;
        let sent = self.cap_converse(request)?;
        let models = &self.models;
        let walked = self
            .policies
            .walk(&plan, deadline, |target| {
                let sent = &sent;
                async move { models.converse(&target, sent).await }
            })
            .await;
        let result = match walked {
            Ok(walked) => {
                if plan.chain.cache_tier {
                    self.remember(caller, &plan, request, &walked).await;
                }
                Ok(self.served(walked, &plan))
            }
            Err(unserved) => {
                self.serve_from_cache(caller, &plan, request, unserved)
                    .await
            }
        };
        self.policies.flush().await;
        result
    }

    /// A ConverseStream call. Falls over only until the first event arrived; the returned
    /// stream starts with it. A failure after that ends the stream with an `Err` item.
    #[allow(clippy::disallowed_methods)] // the call path: the model client's one caller
    pub(crate) async fn converse_stream(
        &self,
        caller: Caller<'_>,
        route: Route<'_>,
        request: &ConverseRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<ConverseEventStream>, Unanswered> {
        let deadline = self.deadline(deadline);
        let plan = self
            .plan(caller, route, Some(request), Flexibility::AnyModel)
            .await?;
        let sent = self.cap_converse(request)?;
        let models = &self.models;
        let started = self
            .walk(&plan, deadline, |target| {
                let sent = &sent;
                async move { stream::start(models.converse_stream(&target, sent).await?).await }
            })
            .await?;
        Ok(self.resume(started))
    }

    /// An InvokeModel call: the provider's own body, so only the named model (in its regions)
    /// can take it; no cross-model fallback and no cache tier.
    #[allow(clippy::disallowed_methods)] // the call path: the model client's one caller
    pub(crate) async fn invoke(
        &self,
        caller: Caller<'_>,
        model: &str,
        request: &InvokeRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<InvokeResponse>, Unanswered> {
        let deadline = self.deadline(deadline);
        let plan = self
            .plan(caller, Route::Model(model), None, Flexibility::SameModel)
            .await?;
        let sent = self.cap_invoke(&plan, request)?;
        let models = &self.models;
        self.walk(&plan, deadline, |target| {
            let sent = &sent;
            async move { models.invoke(&target, sent).await }
        })
        .await
    }

    /// InvokeModelWithResponseStream, with the same first-chunk rule as `converse_stream`.
    #[allow(clippy::disallowed_methods)] // the call path: the model client's one caller
    pub(crate) async fn invoke_stream(
        &self,
        caller: Caller<'_>,
        model: &str,
        request: &InvokeRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<InvokeChunkStream>, Unanswered> {
        let deadline = self.deadline(deadline);
        let plan = self
            .plan(caller, Route::Model(model), None, Flexibility::SameModel)
            .await?;
        let sent = self.cap_invoke(&plan, request)?;
        let models = &self.models;
        let started = self
            .walk(&plan, deadline, |target| {
                let sent = &sent;
                async move { stream::start(models.invoke_stream(&target, sent).await?).await }
            })
            .await?;
        Ok(self.resume(started))
    }

    /// CountTokens for the named model (as InvokeModel: that model only, in its regions,
    /// through the one retry loop). Free on Bedrock: nothing to cap, no cache tier. Asked of
    /// the foundation model even when the caller named a profile: Bedrock's CountTokens takes
    /// foundation-model ids, and a profile's count is its model's.
    #[allow(clippy::disallowed_methods)] // the call path: the model client's one caller
    pub(crate) async fn count_tokens(
        &self,
        caller: Caller<'_>,
        model: &str,
        input: &CountTokensInput,
        deadline: Option<Instant>,
    ) -> Result<Served<CountTokensResponse>, Unanswered> {
        let deadline = self.deadline(deadline);
        let plan = self
            .plan(caller, Route::Model(model), None, Flexibility::SameModel)
            .await?;
        let models = &self.models;
        self.walk(&plan, deadline, |target| async move {
            let target = Target {
                model_id: crate::config::foundation_model_id(&target.model_id).to_owned(),
                region: target.region,
            };
            models.count_tokens(&target, input).await
        })
        .await
    }

    /// `plan`'s targets through the one retry loop with `call`, the policies' state flushed:
    /// the answer served, or why none was. (Converse walks on its own: its cache tier answers
    /// when the walk fails.)
    async fn walk<T, F, Fut>(
        &self,
        plan: &RoutePlan,
        deadline: Instant,
        call: F,
    ) -> Result<Served<T>, Unanswered>
    where
        F: FnMut(Target) -> Fut,
        Fut: Future<Output = Result<T, GatewayError>> + Send,
        T: Send,
    {
        let walked = self.policies.walk(plan, deadline, call).await;
        self.policies.flush().await;
        walked
            .map(|walked| self.served(walked, plan))
            .map_err(|unserved| unserved.unanswered(plan))
    }

    /// A started stream as one stream again, a failure after its first item reported against
    /// the target that served it.
    fn resume<I: Send + 'static>(
        &self,
        started: Served<stream::Started<I>>,
    ) -> Served<stream::ItemStream<I>> {
        let target = started.target.clone();
        let policies = Arc::clone(&self.policies);
        started.map(|started| stream::resume(started, policies, target))
    }

    /// The route's chain, without the targets `caller` may not use.
    async fn plan(
        &self,
        caller: Caller<'_>,
        route: Route<'_>,
        request: Option<&ConverseRequest>,
        flexibility: Flexibility,
    ) -> Result<RoutePlan, GatewayError> {
        let mut plan = routing::plan(
            &self.config,
            &self.policies.health,
            route,
            request,
            flexibility,
            unix_ms(),
        )
        .await
        .map_err(|e| self.config.narrow_unknown(e, caller.allowed_models))?;
        caller.restrict(&self.config, &mut plan.chain)?;
        Ok(plan)
    }

    /// The request as sent: with an output limit, the reserved default when it has none.
    fn cap_converse<'r>(
        &self,
        request: &'r ConverseRequest,
    ) -> Result<Cow<'r, ConverseRequest>, GatewayError> {
        output_cap::converse_limit(request)?;
        Ok(output_cap::cap_converse(
            request,
            self.config.controls.estimate.default_max_output_tokens,
        ))
    }

    /// The InvokeModel request as sent: its body with an output limit in the field the
    /// model's provider reads (every target of an InvokeModel plan is the same model).
    fn cap_invoke<'r>(
        &self,
        plan: &RoutePlan,
        request: &'r InvokeRequest,
    ) -> Result<Cow<'r, InvokeRequest>, GatewayError> {
        let model_id = plan
            .chain
            .targets
            .first()
            .map_or(request.model_id.as_str(), |t| t.model_id.as_str());
        let default = self.config.controls.estimate.default_max_output_tokens;
        let dialect = output_cap::BodyDialect::of(&self.config, model_id);
        Ok(
            match output_cap::cap_invoke(dialect, &request.body, default)? {
                Cow::Borrowed(_) => Cow::Borrowed(request),
                Cow::Owned(body) => Cow::Owned(InvokeRequest {
                    body,
                    ..request.clone()
                }),
            },
        )
    }

    /// Where the cached-response tier keeps answers to `request`: the response cache's key,
    /// so it is partitioned by tenant exactly when the response cache is.
    fn tier_key(&self, caller: Caller<'_>, plan: &RoutePlan, request: &ConverseRequest) -> String {
        cache::key(
            self.config.controls.cache.partition,
            &plan.scope,
            caller.tenant,
            request,
        )
    }

    /// `work` bounded by the request timeout and the caller's deadline: for the calls the
    /// gateway makes that are not model calls (a knowledge base's `Retrieve`).
    pub(crate) async fn within_deadline<F: Future>(
        &self,
        deadline: Option<Instant>,
        work: F,
    ) -> Result<F::Output, GatewayError> {
        let until = self.deadline(deadline);
        let left = until.saturating_duration_since(self.policies.clock.now());
        timeout::within(&self.policies.clock, left, work)
            .await
            .ok_or_else(|| GatewayError::Upstream {
                kind: crate::error::UpstreamKind::ModelTimeout,
                message: "the call did not finish within the request's deadline".to_owned(),
                retry_after: None,
            })
    }

    /// The sooner of the configured request timeout and the caller's deadline.
    fn deadline(&self, caller: Option<Instant>) -> Instant {
        let configured = self.policies.clock.now()
            + Duration::from_millis(self.config.limits.request_timeout_ms);
        caller.map_or(configured, |d| d.min(configured))
    }

    fn served<T>(&self, walked: Walked<T>, plan: &RoutePlan) -> Served<T> {
        let Walked {
            value,
            target,
            report,
        } = walked;
        let region = target.region.clone().or_else(|| self.home_region.clone());
        Served {
            value,
            target,
            attempts: report.attempts,
            fell_back: report.fell_back,
            from_fallback_tier: false,
            region,
            route: plan.decision.clone(),
        }
    }

    /// Keeps a good answer for the cache tier. A store failure costs only that answer.
    async fn remember(
        &self,
        caller: Caller<'_>,
        plan: &RoutePlan,
        request: &ConverseRequest,
        walked: &Walked<ConverseResponse>,
    ) {
        let answer = LastGood::given(walked.value.clone(), &walked.target);
        let key = self.tier_key(caller, plan, request);
        if let Err(error) = self.last_good.put(&key, answer).await {
            tracing::warn!(%error, "could not keep the answer for the cache tier");
        }
    }

    /// The cache tier: the last good answer to an identical request, if the chain has the
    /// tier and the answer is not older than its TTL.
    /// The answer's model must be one the caller may use, as for any target.
    async fn serve_from_cache(
        &self,
        caller: Caller<'_>,
        plan: &RoutePlan,
        request: &ConverseRequest,
        mut unserved: Unserved,
    ) -> Result<Served<ConverseResponse>, Unanswered> {
        if !unserved.cache_next {
            return Err(unserved.unanswered(plan));
        }
        let key = self.tier_key(caller, plan, request);
        let ttl_ms = self.config.resilience.cache_tier.ttl_ms;
        let found = match self.last_good.get(&key).await {
            Ok(found) => found.filter(|a| {
                unix_ms() < a.stored_at_ms.saturating_add(ttl_ms)
                    && caller.may_call(&self.config, &a.model_id)
            }),
            Err(error) => {
                tracing::warn!(%error, "cache tier lookup failed");
                None
            }
        };
        let Some(answer) = found else {
            return Err(unserved.unanswered(plan));
        };
        let report: FallbackReport = unserved.plan.served_from_cache();
        tracing::warn!(model = %answer.model_id, attempts = report.attempts, "every model failed; serving the last good answer");
        let region = answer.region.clone().or_else(|| self.home_region.clone());
        Ok(Served {
            value: answer.response,
            target: Target {
                model_id: answer.model_id,
                region: answer.region,
            },
            attempts: report.attempts,
            fell_back: true,
            from_fallback_tier: true,
            region,
            route: plan.decision.clone(),
        })
    }
}

pub(crate) use crate::clock::unix_ms;

#[cfg(test)]
pub(crate) mod tests;
