//! A model call from a handler: `CallContext` (an extractor: the principal, the audit record,
//! the route kind, `Cache-Control` and Lambda's deadline) hands the call to the gateway's one metered call
//! ([`gateway::metered::Meter`]: admit → cache → call → settle → audit) and says what the
//! controls did in headers: `x-ratelimit-*`, `x-gateway-cost`, `x-gateway-cache`.

use super::audit::AuditSlot;
use super::auth::RouteInfo;
use super::deadline::lambda_deadline;
use crate::error_response::Refused;
use crate::headers::{CACHE, rate_headers, served_headers};
use crate::principal::RequestPrincipal;
use crate::state::SharedState;
use axum::extract::FromRequestParts;
use gateway::GatewayError;
use gateway::api::converse::{ConverseRequest, ConverseResponse};
use gateway::api::count_tokens::{CountTokensInput, CountTokensResponse};
use gateway::api::invoke::{InvokeRequest, InvokeResponse};
use gateway::controls::RouteClass;
use gateway::controls::cache::CacheDirective;
use gateway::knowledge_base::Chunk;
use gateway::metered::{Call, GroundedAnswer, Metered, Query};
use gateway::ports::{ConverseEventStream, InvokeChunkStream};
use gateway::service::{Route, Served};
use http::request::Parts;
use http::{HeaderMap, HeaderValue};
use std::convert::Infallible;
use std::time::Instant;

/// What a response costs, in USD (`0.000123`); absent when not known at header time (a
/// streamed answer's cost is in the audit record and the usage ledger).
pub const COST: &str = "x-gateway-cost";

/// The request as the controls see it, extracted from what the auth layer left.
pub struct CallContext {
    pub principal: RequestPrincipal,
    pub audit: AuditSlot,
    pub route: RouteClass,
    pub cache_control: CacheDirective,
    /// When the caller stops waiting, so retries and fallbacks never outrun the function.
    pub deadline: Option<Instant>,
    state: SharedState,
}

impl FromRequestParts<SharedState> for CallContext {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(principal) = RequestPrincipal::from_request_parts(parts, state).await;
        let audit = parts
            .extensions
            .get::<AuditSlot>()
            .cloned()
            .unwrap_or_else(|| AuditSlot::new(Default::default()));
        let route = parts
            .extensions
            .get::<RouteInfo>()
            .copied()
            .unwrap_or(RouteInfo::gateway(RouteClass::Task))
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
            deadline: lambda_deadline(parts),
            state: state.clone(),
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

/// The headers a metered call's answer carries, and the answer.
fn done<T>(metered: Metered<T>) -> Done<T> {
    let mut headers = HeaderMap::new();
    rate_headers(metered.rate.as_ref(), &mut headers);
    if let Some(status) = metered.cache {
        headers.insert(CACHE, HeaderValue::from_static(status.as_str()));
    }
    if let Some(cost) = metered.cost {
        crate::headers::insert(&mut headers, COST, &cost.usd());
    }
    Done {
        served: metered.served,
        headers,
    }
}

impl CallContext {
    fn call(&self) -> Call<'_> {
        Call {
            caller: self.principal.caller(),
            principal: Some(&self.principal),
            route: self.route,
            cache_control: self.cache_control,
            audit: self.audit.clone(),
            deadline: self.deadline,
        }
    }

    /// A Converse call (`/v1/converse`, `/model/{id}/converse`, OpenAI chat, task routes).
    pub async fn converse(
        &self,
        route: Route<'_>,
        request: &ConverseRequest,
    ) -> Result<Done<ConverseResponse>, Refused> {
        Ok(done(
            self.state
                .meter()
                .converse(&self.call(), route, request)
                .await?,
        ))
    }

    /// A ConverseStream call; it settles when the stream ends.
    pub async fn converse_stream(
        &self,
        route: Route<'_>,
        request: &ConverseRequest,
    ) -> Result<Done<ConverseEventStream>, Refused> {
        Ok(done(
            self.state
                .meter()
                .converse_stream(&self.call(), route, request)
                .await?,
        ))
    }

    /// An InvokeModel call: the provider's own body.
    pub async fn invoke(
        &self,
        model: &str,
        request: &InvokeRequest,
    ) -> Result<Done<InvokeResponse>, Refused> {
        Ok(done(
            self.state
                .meter()
                .invoke(&self.call(), model, request)
                .await?,
        ))
    }

    /// InvokeModelWithResponseStream; it settles when the stream ends.
    pub async fn invoke_stream(
        &self,
        model: &str,
        request: &InvokeRequest,
    ) -> Result<Done<InvokeChunkStream>, Refused> {
        Ok(done(
            self.state
                .meter()
                .invoke_stream(&self.call(), model, request)
                .await?,
        ))
    }

    /// CountTokens: free on Bedrock, held to the key's allow-list and rate limits.
    pub async fn count_tokens(
        &self,
        model: &str,
        input: &CountTokensInput,
    ) -> Result<Done<CountTokensResponse>, Refused> {
        Ok(done(
            self.state
                .meter()
                .count_tokens(&self.call(), model, input)
                .await?,
        ))
    }

    /// A knowledge base's `Retrieve`, admitted under `kb:<id>` and priced as its query.
    pub async fn retrieve(&self, query: Query<'_>) -> Result<Done<Vec<Chunk>>, Refused> {
        let client = knowledge_base_client(&self.state)?;
        Ok(done(
            self.state
                .meter()
                .retrieve(&self.call(), client, query)
                .await?,
        ))
    }

    /// A question answered by `model` from a knowledge base's chunks: one admitted call.
    pub async fn grounded_converse(
        &self,
        query: Query<'_>,
        model: &str,
        max_tokens: Option<u32>,
    ) -> Result<Done<GroundedAnswer>, Refused> {
        let client = knowledge_base_client(&self.state)?;
        let metered = self
            .state
            .meter()
            .grounded_converse(&self.call(), client, query, model, max_tokens)
            .await?;
        Ok(done(metered))
    }
}

fn knowledge_base_client(
    state: &SharedState,
) -> Result<&gateway_aws::knowledge_base::BedrockKnowledgeBases, GatewayError> {
    state.knowledge_bases.get().ok_or_else(|| {
        GatewayError::Internal("knowledge bases are configured but no client was built".into())
    })
}
