//! The controls around one model call, for the handlers: `CallContext` (an extractor: the
//! principal, the audit record, the route kind and `Cache-Control`) runs a Converse or Invoke
//! call as admit (limits, budgets and cache lookup, concurrently) → serve (from the cache, or
//! through the gateway) → settle (counters, ledger, cache entry, in one write), and says so
//! in headers: `x-ratelimit-*`, `x-gateway-cost`, `x-gateway-cache`.

use super::audit::AuditSlot;
use super::auth::{RouteInfo, classify, now_ms};
use super::stream;
use crate::app::SharedState;
use crate::error_response::{ApiError, Dialect};
use crate::headers::{ATTEMPTS, CACHE, served_headers};
use crate::principal::Principal;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use gateway::GatewayError;
use gateway::api::converse::{ContentBlock, ConverseRequest, ConverseResponse, SystemBlock};
use gateway::api::invoke::{InvokeRequest, InvokeResponse};
use gateway::controls::audit::{CacheStatus, truncate};
use gateway::controls::cache::{self, CacheDirective, CachePlan};
use gateway::controls::estimate::{self, Estimate};
use gateway::controls::reservation::RateView;
use gateway::controls::usage::{self as token_usage, TokenUsage};
use gateway::controls::{Admission, CallPlan, Outcome, Refusal, RouteClass, models};
use gateway::ports::{ConverseEventStream, InvokeChunkStream, Target};
use gateway::service::{LastGood, Route, Served, Unanswered};
use http::request::Parts;
use http::{HeaderMap, HeaderValue};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

/// What a response costs, in USD (`0.000123`); absent when not known at header time (a
/// streamed answer's cost is in the audit record and the usage ledger).
pub const COST: &str = "x-gateway-cost";

/// The request as the controls see it, extracted from what the auth layer left.
pub struct CallContext {
    pub principal: Principal,
    pub audit: AuditSlot,
    pub route: RouteClass,
    pub cache_control: CacheDirective,
}

impl<S: Send + Sync> FromRequestParts<S> for CallContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(principal) = Principal::from_request_parts(parts, state).await;
        let audit = parts
            .extensions
            .get::<AuditSlot>()
            .cloned()
            .unwrap_or_else(|| AuditSlot::new(Default::default()));
        let route = parts
            .extensions
            .get::<RouteInfo>()
            .copied()
            .unwrap_or_else(|| classify(parts.uri.path()))
            .class;
        let cache_control = CacheDirective::parse(
            parts
                .headers
                .get(http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
        );
        Ok(Self {
            principal,
            audit,
            route,
            cache_control,
        })
    }
}

/// A served call and the controls' headers.
pub struct Done<T> {
    pub served: Served<T>,
    pub headers: HeaderMap,
}

impl<T> Done<T> {
    /// Who served (`x-gateway-*`) and what the controls say (`x-ratelimit-*`, cost, cache).
    pub fn headers(&self, request_id: &str) -> HeaderMap {
        let mut headers = served_headers(request_id, &self.served);
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        headers
    }
}

/// A refused or failed call, with the rate-limit headers when a limit refused it.
#[derive(Debug)]
pub struct Refused {
    pub error: GatewayError,
    pub headers: HeaderMap,
}

impl From<GatewayError> for Refused {
    fn from(error: GatewayError) -> Self {
        Self {
            error,
            headers: HeaderMap::new(),
        }
    }
}

/// A refusal by the controls, with the rate headers when a rate limit refused.
impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        let mut headers = HeaderMap::new();
        rate_headers(refusal.rate.as_ref(), &mut headers);
        Self {
            error: refusal.error,
            headers,
        }
    }
}

impl Refused {
    pub fn into_response(self, dialect: Dialect, request_id: &str) -> Response {
        let mut response = ApiError::new(self.error, dialect, request_id).into_response();
        let headers = response.headers_mut();
        if dialect == Dialect::Bedrock {
            crate::headers::insert(headers, "x-amzn-requestid", request_id);
        }
        for (name, value) in self.headers {
            if let Some(name) = name {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// OpenAI's rate-limit headers.
fn rate_headers(view: Option<&RateView>, headers: &mut HeaderMap) {
    let Some(view) = view else { return };
    let reset = format!("{}s", view.reset_secs);
    let mut put = |name: &'static str, value: Option<u64>| {
        if let Some(value) = value {
            headers.insert(name, HeaderValue::from(value));
        }
    };
    put("x-ratelimit-limit-requests", view.requests_limit);
    put("x-ratelimit-remaining-requests", view.requests_remaining);
    put("x-ratelimit-limit-tokens", view.tokens_limit);
    put("x-ratelimit-remaining-tokens", view.tokens_remaining);
    if let Ok(reset) = HeaderValue::from_str(&reset) {
        if view.requests_limit.is_some() {
            headers.insert("x-ratelimit-reset-requests", reset.clone());
        }
        if view.tokens_limit.is_some() {
            headers.insert("x-ratelimit-reset-tokens", reset);
        }
    }
}

pub(super) fn cost_header(headers: &mut HeaderMap, cost: gateway::controls::Nanos) {
    crate::headers::insert(headers, COST, &cost.usd());
}

fn cache_header(headers: &mut HeaderMap, status: &'static str) {
    headers.insert(CACHE, HeaderValue::from_static(status));
}

/// Text of the request (system and messages), for audit records that keep content.
fn prompt_text(request: &ConverseRequest) -> String {
    let mut parts: Vec<&str> = request
        .system
        .iter()
        .filter_map(|b| match b {
            SystemBlock::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    for message in &request.messages {
        for block in &message.content {
            if let ContentBlock::Text(text) = block {
                parts.push(text);
            }
        }
    }
    parts.join("\n")
}

/// An admitted call: the admission to settle and the headers so far.
struct Admitted {
    admission: Admission,
    headers: HeaderMap,
}

impl CallContext {
    fn route_name<'a>(state: &'a SharedState, route: Route<'a>) -> Result<&'a str, GatewayError> {
        match route {
            Route::Model(name) => Ok(name),
            Route::Task(task) => models::task_model(state.gateway.config(), task),
        }
    }

    /// Admits the call, or refuses it with the rate headers.
    async fn admit(
        &self,
        state: &SharedState,
        name: &str,
        estimate: Estimate,
        cache: impl FnOnce(&str) -> Option<CachePlan>,
    ) -> Result<Option<Admitted>, Refused> {
        self.audit.update(|r| r.model = name.to_owned());
        let Some(controls) = &state.controls else {
            return Ok(None);
        };
        let model = models::resolve(
            state.gateway.config(),
            name,
            self.principal.allowed_models(),
        )?;
        let cache = cache(&model.scope);
        let plan = CallPlan {
            route: self.route,
            model,
            estimate,
            cache,
        };
        match controls.admit(&self.principal, plan, now_ms()).await {
            Ok(admission) => {
                let mut headers = HeaderMap::new();
                rate_headers(admission.rate.as_ref(), &mut headers);
                if admission.cache.is_some() {
                    cache_header(
                        &mut headers,
                        if admission.cached.is_some() {
                            "hit"
                        } else {
                            "miss"
                        },
                    );
                }
                Ok(Some(Admitted { admission, headers }))
            }
            Err(refusal) => Err(refusal.into()),
        }
    }

    fn cache_plan(
        &self,
        state: &SharedState,
        request: &ConverseRequest,
        scope: &str,
    ) -> Option<CachePlan> {
        cache::plan(
            &state.gateway.config().controls.cache,
            self.route,
            self.cache_control,
            request,
            scope,
            &self.principal.tenant,
        )
    }

    fn record_served<T>(&self, served: &Served<T>) {
        self.audit.update(|r| {
            r.served_model.clone_from(&served.target.model_id);
            r.region = served.region.clone().unwrap_or_default();
            r.attempts = served.attempts;
            if served.from_cache {
                r.cache = CacheStatus::Fallback;
            }
        });
    }

    /// A call no model answered: refused with how many model calls were made trying, in the
    /// audit record and `x-gateway-attempts`, as a served call says it.
    fn unanswered(&self, unanswered: Unanswered, mut headers: HeaderMap) -> Refused {
        self.audit.update(|r| r.attempts = unanswered.attempts);
        headers.insert(ATTEMPTS, HeaderValue::from(unanswered.attempts));
        Refused {
            error: unanswered.error,
            headers,
        }
    }

    fn record_usage(&self, usage: &TokenUsage, cost: gateway::controls::Nanos) {
        self.audit.update(|r| r.set_usage(usage, cost));
    }

    fn record_content(
        &self,
        state: &SharedState,
        prompt: impl FnOnce() -> String,
        completion: impl FnOnce() -> String,
    ) {
        let audit = &state.gateway.config().controls.audit;
        if audit.include_content {
            let max = audit.max_content_chars;
            self.audit.update(|r| {
                r.prompt = Some(truncate(&prompt(), max));
                r.completion = Some(truncate(&completion(), max));
            });
        }
    }

    /// A cached answer served as the gateway would have served the model's.
    fn served_from_cache<T>(state: &SharedState, answer: &LastGood, value: T) -> Served<T> {
        Served {
            value,
            target: Target {
                model_id: answer.model_id.clone(),
                region: answer.region.clone(),
            },
            attempts: 0,
            fell_back: false,
            from_cache: false,
            region: answer
                .region
                .clone()
                .or_else(|| state.gateway.home_region().map(str::to_owned)),
            route: "cache".to_owned(),
        }
    }

    /// An InvokeModel body's estimate, its output limit read from the fields the resolved
    /// model's provider reads (an alias names no provider; the call path writes the same
    /// model's field).
    fn invoke_estimate(
        state: &SharedState,
        model: &str,
        request: &InvokeRequest,
    ) -> Result<Estimate, GatewayError> {
        let config = state.gateway.config();
        let model_id = config.model(model).map_or(model, |m| m.id.as_str());
        estimate::invoke(model_id, &request.body, &config.controls.estimate)
    }

    /// A Converse call (`/v1/converse`, `/model/{id}/converse`, OpenAI chat, task routes).
    pub async fn converse(
        &self,
        state: &SharedState,
        route: Route<'_>,
        request: &ConverseRequest,
        deadline: Option<Instant>,
    ) -> Result<Done<ConverseResponse>, Refused> {
        let name = Self::route_name(state, route)?;
        let estimate = estimate::converse(request, &state.gateway.config().controls.estimate)?;
        let admitted = self
            .admit(state, name, estimate, |scope| {
                self.cache_plan(state, request, scope)
            })
            .await?;
        let (
            Some(controls),
            Some(Admitted {
                admission,
                mut headers,
            }),
        ) = (&state.controls, admitted)
        else {
            let served = state
                .gateway
                .converse(self.principal.caller(), route, request, deadline)
                .await
                .map_err(|u| self.unanswered(u, HeaderMap::new()))?;
            self.record_served(&served);
            let usage: TokenUsage = (&served.value.usage).into();
            // The cached-response tier called no model: nothing to pay.
            let cost = if served.from_cache {
                gateway::controls::Nanos::ZERO
            } else {
                stream::open_cost(state, &served.target, &usage)
            };
            self.record_usage(&usage, cost);
            return Ok(Done {
                served,
                headers: HeaderMap::new(),
            });
        };
        if let Some(cached) = &admission.cached {
            let answer = &cached.answer;
            let served = Self::served_from_cache(state, answer, answer.response.clone());
            let settled = controls
                .settle(
                    &admission,
                    Outcome::CacheHit {
                        model_id: answer.model_id.clone(),
                    },
                    now_ms(),
                )
                .await;
            self.record_served(&served);
            self.record_usage(&settled.usage, settled.cost);
            self.audit.update(|r| r.cache = CacheStatus::Hit);
            cost_header(&mut headers, settled.cost);
            return Ok(Done { served, headers });
        }
        let result = state
            .gateway
            .converse(self.principal.caller(), route, request, deadline)
            .await;
        let served = match result {
            Ok(served) => served,
            Err(unanswered) => {
                controls.settle(&admission, Outcome::Failed, now_ms()).await;
                return Err(self.unanswered(unanswered, headers));
            }
        };
        self.record_served(&served);
        let outcome = if served.from_cache {
            cache_header(&mut headers, "fallback");
            Outcome::FallbackCache {
                model_id: served.target.model_id.clone(),
            }
        } else {
            if admission.cache.is_some() {
                self.audit.update(|r| r.cache = CacheStatus::Miss);
            }
            let keep = admission
                .cache
                .as_ref()
                .and_then(|c| c.store_ttl_secs)
                .map(|_| {
                    Box::new(LastGood {
                        response: served.value.clone(),
                        model_id: served.target.model_id.clone(),
                        region: served.target.region.clone(),
                        stored_at_ms: now_ms(),
                    })
                });
            Outcome::Answered {
                model_id: served.target.model_id.clone(),
                region: served.target.region.clone(),
                usage: (&served.value.usage).into(),
                keep,
            }
        };
        let settled = controls.settle(&admission, outcome, now_ms()).await;
        self.record_usage(&settled.usage, settled.cost);
        self.record_content(state, || prompt_text(request), || served.value.text());
        cost_header(&mut headers, settled.cost);
        Ok(Done { served, headers })
    }

    /// A ConverseStream call. A cached answer is replayed as the events a model would have
    /// sent; a model's stream settles when it ends (and the answer is cached then).
    pub async fn converse_stream(
        &self,
        state: &SharedState,
        route: Route<'_>,
        request: &ConverseRequest,
        deadline: Option<Instant>,
    ) -> Result<Done<ConverseEventStream>, Refused> {
        let name = Self::route_name(state, route)?;
        let estimate = estimate::converse(request, &state.gateway.config().controls.estimate)?;
        let admitted = self
            .admit(state, name, estimate, |scope| {
                self.cache_plan(state, request, scope)
            })
            .await?;
        let (
            Some(controls),
            Some(Admitted {
                admission,
                mut headers,
            }),
        ) = (&state.controls, admitted)
        else {
            let served = state
                .gateway
                .converse_stream(self.principal.caller(), route, request, deadline)
                .await
                .map_err(|u| self.unanswered(u, HeaderMap::new()))?;
            self.record_served(&served);
            let observe = stream::Observe::new(state, &served.target, self.audit.clone());
            return Ok(Done {
                served: served.map(|events| stream::observe_usage(events, observe)),
                headers: HeaderMap::new(),
            });
        };
        if let Some(cached) = &admission.cached {
            let answer = &cached.answer;
            let events = cache::replay_events(&answer.response, 24);
            let replay: ConverseEventStream =
                Box::pin(futures_util::stream::iter(events.into_iter().map(Ok)));
            let served = Self::served_from_cache(state, answer, replay);
            let settled = controls
                .settle(
                    &admission,
                    Outcome::CacheHit {
                        model_id: answer.model_id.clone(),
                    },
                    now_ms(),
                )
                .await;
            self.record_served(&served);
            self.record_usage(&settled.usage, settled.cost);
            self.audit.update(|r| r.cache = CacheStatus::Hit);
            cost_header(&mut headers, settled.cost);
            return Ok(Done { served, headers });
        }
        let served = match state
            .gateway
            .converse_stream(self.principal.caller(), route, request, deadline)
            .await
        {
            Ok(served) => served,
            Err(unanswered) => {
                controls.settle(&admission, Outcome::Failed, now_ms()).await;
                return Err(self.unanswered(unanswered, headers));
            }
        };
        self.record_served(&served);
        if admission.cache.is_some() {
            self.audit.update(|r| r.cache = CacheStatus::Miss);
        }
        let keep = admission
            .cache
            .as_ref()
            .and_then(|c| c.store_ttl_secs)
            .is_some();
        let target = served.target.clone();
        let prompt = state
            .gateway
            .config()
            .controls
            .audit
            .include_content
            .then(|| prompt_text(request));
        let settle = stream::Settle::new(Arc::clone(state), admission, self.audit.clone());
        Ok(Done {
            served: served.map(|events| stream::converse(events, settle, target, keep, prompt)),
            headers,
        })
    }

    /// An InvokeModel call: the provider's own body; usage read from it. Not cached.
    pub async fn invoke(
        &self,
        state: &SharedState,
        model: &str,
        request: &InvokeRequest,
        deadline: Option<Instant>,
    ) -> Result<Done<InvokeResponse>, Refused> {
        let estimate = Self::invoke_estimate(state, model, request)?;
        let admitted = self.admit(state, model, estimate, |_| None).await?;
        let result = state
            .gateway
            .invoke(self.principal.caller(), model, request, deadline)
            .await;
        let (
            Some(controls),
            Some(Admitted {
                admission,
                mut headers,
            }),
        ) = (&state.controls, admitted)
        else {
            let served = result.map_err(|u| self.unanswered(u, HeaderMap::new()))?;
            self.record_served(&served);
            if let Some(usage) = token_usage::from_invoke_body(&served.value.body) {
                self.record_usage(&usage, stream::open_cost(state, &served.target, &usage));
            }
            return Ok(Done {
                served,
                headers: HeaderMap::new(),
            });
        };
        let served = match result {
            Ok(served) => served,
            Err(unanswered) => {
                controls.settle(&admission, Outcome::Failed, now_ms()).await;
                return Err(self.unanswered(unanswered, headers));
            }
        };
        self.record_served(&served);
        let outcome = match token_usage::from_invoke_body(&served.value.body) {
            Some(usage) => Outcome::Answered {
                model_id: served.target.model_id.clone(),
                region: served.target.region.clone(),
                usage,
                keep: None,
            },
            // A body without usage: the tokens are unknown, so the reservation is charged.
            None => Outcome::Broken {
                output_chars: served.value.body.len(),
            },
        };
        let settled = controls.settle(&admission, outcome, now_ms()).await;
        self.record_usage(&settled.usage, settled.cost);
        cost_header(&mut headers, settled.cost);
        Ok(Done { served, headers })
    }

    /// InvokeModelWithResponseStream: settled when the stream ends, from the usage Bedrock
    /// adds to the last chunk.
    pub async fn invoke_stream(
        &self,
        state: &SharedState,
        model: &str,
        request: &InvokeRequest,
        deadline: Option<Instant>,
    ) -> Result<Done<InvokeChunkStream>, Refused> {
        let estimate = Self::invoke_estimate(state, model, request)?;
        let admitted = self.admit(state, model, estimate, |_| None).await?;
        let result = state
            .gateway
            .invoke_stream(self.principal.caller(), model, request, deadline)
            .await;
        let (Some(controls), Some(Admitted { admission, headers })) = (&state.controls, admitted)
        else {
            let served = result.map_err(|u| self.unanswered(u, HeaderMap::new()))?;
            self.record_served(&served);
            let observe = stream::Observe::new(state, &served.target, self.audit.clone());
            return Ok(Done {
                served: served.map(|chunks| stream::observe_invoke_usage(chunks, observe)),
                headers: HeaderMap::new(),
            });
        };
        let served = match result {
            Ok(served) => served,
            Err(unanswered) => {
                controls.settle(&admission, Outcome::Failed, now_ms()).await;
                return Err(self.unanswered(unanswered, headers));
            }
        };
        self.record_served(&served);
        let target = served.target.clone();
        let settle = stream::Settle::new(Arc::clone(state), admission, self.audit.clone());
        Ok(Done {
            served: served.map(|chunks| stream::invoke(chunks, settle, target)),
            headers,
        })
    }
}
