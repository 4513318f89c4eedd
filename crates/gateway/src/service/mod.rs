//! The call path every front door shares (HTTP routes, the jobs worker, the stream processor):
//! resolve the route (static, content-based `auto`, or a metric-routed group) to a fallback
//! chain, walk it target by target (breaker admission → the one retry loop → breaker and health
//! reports), fall over on what other targets may fix, end with the cached-response tier, and
//! report who served.
//!
//! - `routing`: caller's name or task → chain, decision and reason.
//! - `walk`: the chain walk, retries and breaker/health reporting.
//! - `stream`: first-event peeking (fallback only before the first byte) and mid-stream reports.
//! - `last_good`: the cached-response tier's port and in-memory store.
//! - `erased`: stores and clock behind concrete types, so `Gateway<M>` has one type parameter.

mod erased;
mod last_good;
mod routing;
mod stream;
mod timeout;
mod walk;

pub use erased::{AnyBreakerStore, AnyClock, AnyHealthStore, AnyStoreError, BoxFuture};
pub use last_good::{InMemoryLastGood, LastGood, LastGoodError, LastGoodStore, cache_key};
pub use routing::Route;

use crate::api::converse::{ConverseRequest, ConverseResponse};
use crate::api::invoke::{InvokeRequest, InvokeResponse};
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::ports::{ConverseEventStream, InvokeChunkStream, ModelClient, Target};
use crate::resilience::testing::{InMemoryBreakerStore, InMemoryHealthStore};
use crate::resilience::{
    BreakerStore, Clock, FallbackReport, HealthStore, RetryBudget, SharedBreaker, SharedHealth,
};
use routing::{Flexibility, RoutePlan};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
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
    pub from_cache: bool,
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
            from_cache: self.from_cache,
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
}

impl From<GatewayError> for Unanswered {
    fn from(error: GatewayError) -> Self {
        Self { error, attempts: 0 }
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
        Unanswered {
            error: self.into_error(route),
            attempts,
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

    /// [`Self::converse_with_attempts`], for callers that need only the error.
    pub async fn converse(
        &self,
        route: Route<'_>,
        request: &ConverseRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<ConverseResponse>, GatewayError> {
        self.converse_with_attempts(route, request, deadline)
            .await
            .map_err(GatewayError::from)
    }

    /// A Converse call along the route's chain, ending with the cached-response tier.
    /// `deadline`: when the caller stops waiting (Lambda's remaining time); the configured
    /// `limits.request_timeout_ms` applies too, whichever is sooner.
    pub async fn converse_with_attempts(
        &self,
        route: Route<'_>,
        request: &ConverseRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<ConverseResponse>, Unanswered> {
        let deadline = self.deadline(deadline);
        let plan = self
            .plan(route, Some(request), Flexibility::AnyModel)
            .await?;
        let models = &self.models;
        let walked = self
            .policies
            .walk(&plan, deadline, |target| async move {
                models.converse(&target, request).await
            })
            .await;
        let result = match walked {
            Ok(walked) => {
                if plan.chain.cache_tier {
                    self.remember(&plan, request, &walked).await;
                }
                Ok(self.served(walked, &plan))
            }
            Err(unserved) => self.serve_from_cache(&plan, request, unserved).await,
        };
        self.policies.flush().await;
        result
    }

    /// [`Self::converse_stream_with_attempts`], for callers that need only the error.
    pub async fn converse_stream(
        &self,
        route: Route<'_>,
        request: &ConverseRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<ConverseEventStream>, GatewayError> {
        self.converse_stream_with_attempts(route, request, deadline)
            .await
            .map_err(GatewayError::from)
    }

    /// A ConverseStream call. Falls over only until the first event arrived; the returned
    /// stream starts with it. A failure after that ends the stream with an `Err` item.
    pub async fn converse_stream_with_attempts(
        &self,
        route: Route<'_>,
        request: &ConverseRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<ConverseEventStream>, Unanswered> {
        let deadline = self.deadline(deadline);
        let plan = self
            .plan(route, Some(request), Flexibility::AnyModel)
            .await?;
        let models = &self.models;
        let walked = self
            .policies
            .walk(&plan, deadline, |target| async move {
                stream::start(models.converse_stream(&target, request).await?).await
            })
            .await;
        self.policies.flush().await;
        match walked {
            Ok(walked) => {
                let target = walked.target.clone();
                let policies = Arc::clone(&self.policies);
                Ok(self
                    .served(walked, &plan)
                    .map(|started| stream::resume(started, policies, target)))
            }
            Err(unserved) => Err(unserved.unanswered(&plan)),
        }
    }

    /// [`Self::invoke_with_attempts`], for callers that need only the error.
    pub async fn invoke(
        &self,
        model: &str,
        request: &InvokeRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<InvokeResponse>, GatewayError> {
        self.invoke_with_attempts(model, request, deadline)
            .await
            .map_err(GatewayError::from)
    }

    /// An InvokeModel call: the provider's own body, so only the named model (in its regions)
    /// can take it; no cross-model fallback and no cache tier.
    pub async fn invoke_with_attempts(
        &self,
        model: &str,
        request: &InvokeRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<InvokeResponse>, Unanswered> {
        let deadline = self.deadline(deadline);
        let plan = self
            .plan(Route::Model(model), None, Flexibility::SameModel)
            .await?;
        let models = &self.models;
        let walked = self
            .policies
            .walk(&plan, deadline, |target| async move {
                models.invoke(&target, request).await
            })
            .await;
        self.policies.flush().await;
        match walked {
            Ok(walked) => Ok(self.served(walked, &plan)),
            Err(unserved) => Err(unserved.unanswered(&plan)),
        }
    }

    /// [`Self::invoke_stream_with_attempts`], for callers that need only the error.
    pub async fn invoke_stream(
        &self,
        model: &str,
        request: &InvokeRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<InvokeChunkStream>, GatewayError> {
        self.invoke_stream_with_attempts(model, request, deadline)
            .await
            .map_err(GatewayError::from)
    }

    /// InvokeModelWithResponseStream, with the same first-chunk rule as `converse_stream`.
    pub async fn invoke_stream_with_attempts(
        &self,
        model: &str,
        request: &InvokeRequest,
        deadline: Option<Instant>,
    ) -> Result<Served<InvokeChunkStream>, Unanswered> {
        let deadline = self.deadline(deadline);
        let plan = self
            .plan(Route::Model(model), None, Flexibility::SameModel)
            .await?;
        let models = &self.models;
        let walked = self
            .policies
            .walk(&plan, deadline, |target| async move {
                stream::start(models.invoke_stream(&target, request).await?).await
            })
            .await;
        self.policies.flush().await;
        match walked {
            Ok(walked) => {
                let target = walked.target.clone();
                let policies = Arc::clone(&self.policies);
                Ok(self
                    .served(walked, &plan)
                    .map(|started| stream::resume(started, policies, target)))
            }
            Err(unserved) => Err(unserved.unanswered(&plan)),
        }
    }

    async fn plan(
        &self,
        route: Route<'_>,
        request: Option<&ConverseRequest>,
        flexibility: Flexibility,
    ) -> Result<RoutePlan, GatewayError> {
        routing::plan(
            &self.config,
            &self.policies.health,
            route,
            request,
            flexibility,
            unix_ms(),
        )
        .await
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
            from_cache: false,
            region,
            route: plan.decision.clone(),
        }
    }

    /// Keeps a good answer for the cache tier. A store failure costs only that answer.
    async fn remember(
        &self,
        plan: &RoutePlan,
        request: &ConverseRequest,
        walked: &Walked<ConverseResponse>,
    ) {
        let answer = LastGood {
            response: walked.value.clone(),
            model_id: walked.target.model_id.clone(),
            region: walked.target.region.clone(),
            stored_at_ms: unix_ms(),
        };
        let key = cache_key(&plan.scope, request);
        if let Err(error) = self.last_good.put(&key, answer).await {
            tracing::warn!(%error, "could not keep the answer for the cache tier");
        }
    }

    /// The cache tier: the last good answer to an identical request, if the chain has the
    /// tier and the answer is not older than its TTL.
    async fn serve_from_cache(
        &self,
        plan: &RoutePlan,
        request: &ConverseRequest,
        mut unserved: Unserved,
    ) -> Result<Served<ConverseResponse>, Unanswered> {
        if !unserved.cache_next {
            return Err(unserved.unanswered(plan));
        }
        let key = cache_key(&plan.scope, request);
        let ttl_ms = self.config.resilience.cache_tier.ttl_ms;
        let found = match self.last_good.get(&key).await {
            Ok(found) => found.filter(|a| unix_ms() < a.stored_at_ms.saturating_add(ttl_ms)),
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
            from_cache: true,
            region,
            route: plan.decision.clone(),
        })
    }
}

/// Wall-clock milliseconds: the time base of state shared with other instances.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests;
