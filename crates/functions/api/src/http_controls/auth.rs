//! The layer in front of every model, jobs and usage route: opens the audit record, finds out
//! who is calling, refuses who may not, and hands the principal to the handler.
//!
//! Credentials, first found: `x-api-key: gwk_…`; `Authorization: Bearer gwk_…`; on `/model/*`
//! (and Bedrock's `/inference-profiles`, `/foundation-models`),
//! `Authorization: AWS4-HMAC-SHA256 …` (a gateway key's id and secret used as AWS credentials);
//! the claims of API Gateway's JWT authorizer (tenant from `controls.auth.jwt_tenant_claim`).

use super::audit::{self, AuditSlot};
use crate::context::RequestContext;
use crate::error_response::{ApiError, Dialect};
use crate::principal::{RequestPrincipal, jwt_claims, open_principal};
use crate::state::SharedState;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use gateway::GatewayError;
use gateway::controls::audit::AuditRecord;
use gateway::controls::sigv4::{self, SignedRequest};
use gateway::controls::{Credentials, RouteClass};
use http::request::Parts;
use std::sync::Arc;

/// The kind of route a request is on and the dialect its errors are rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    pub class: RouteClass,
    pub dialect: Dialect,
}

impl RouteInfo {
    /// The gateway's own routes: errors in the gateway's JSON.
    pub const fn gateway(class: RouteClass) -> Self {
        Self {
            class,
            dialect: Dialect::Gateway,
        }
    }

    /// Bedrock's (and SageMaker's, Agent Runtime's) wire routes: errors as the AWS SDKs parse them.
    pub const fn bedrock(class: RouteClass) -> Self {
        Self {
            class,
            dialect: Dialect::Bedrock,
        }
    }

    pub const fn openai(class: RouteClass) -> Self {
        Self {
            class,
            dialect: Dialect::OpenAi,
        }
    }

    pub const fn anthropic(class: RouteClass) -> Self {
        Self {
            class,
            dialect: Dialect::Anthropic,
        }
    }
}

/// A route behind the auth layer, declared where it is registered with its kind and the
/// dialect its errors are rendered in: the layer and the handler read them from the request,
/// nothing re-parses the path.
pub fn governed(
    state: &SharedState,
    info: RouteInfo,
    route: MethodRouter<SharedState>,
) -> MethodRouter<SharedState> {
    route
        .layer::<_, std::convert::Infallible>(axum::middleware::from_fn_with_state(
            Arc::clone(state),
            layer,
        ))
        .layer::<_, std::convert::Infallible>(axum::Extension(info))
}

pub fn now_ms() -> u64 {
    gateway::clock::unix_ms()
}

pub async fn layer(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let ctx = RequestContext::from_parts(&parts);
    parts.extensions.insert(ctx.clone());
    let Some(info) = parts.extensions.get::<RouteInfo>().copied() else {
        // Every governed route declares its kind (`governed`): a route without one is a bug.
        let error = GatewayError::Internal(format!("route {} declares no kind", parts.uri.path()));
        return refuse(error, Dialect::Gateway, &ctx.request_id);
    };
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path().to_owned(), |m| m.as_str().to_owned());
    let slot = AuditSlot::new(AuditRecord {
        request_id: ctx.request_id.clone(),
        method: parts.method.to_string(),
        route,
        ..AuditRecord::default()
    });
    let metrics = state.metrics.clone();
    let namespace = state.gateway.config().controls.metrics.namespace.clone();
    let (principal, body) = match authenticate(&state, &parts, body, info).await {
        Ok(found) => found,
        Err(error) => {
            let response = refuse(error, info.dialect, &ctx.request_id);
            return audit::finish(response, slot, metrics, namespace);
        }
    };
    slot.update(|r| {
        r.principal.clone_from(&principal.id);
        r.tenant.clone_from(&principal.tenant);
        r.auth = principal.method.as_str().to_owned();
    });
    if !principal.may_use_route(info.class) {
        let error = GatewayError::Forbidden(format!(
            "this API key may not use the {} route",
            info.class.as_str()
        ));
        let response = refuse(error, info.dialect, &ctx.request_id);
        return audit::finish(response, slot, metrics, namespace);
    }
    parts
        .extensions
        .insert(RequestPrincipal(Arc::new(principal)));
    parts.extensions.insert(slot.clone());
    let abandoned = audit::WriteIfAbandoned::arm(&slot, &metrics, &namespace);
    let handler = next.run(Request::from_parts(parts, body));
    let response = crate::context::serve(ctx.request_id.clone(), handler).await;
    abandoned.disarm();
    audit::finish(response, slot, metrics, namespace)
}

fn refuse(error: GatewayError, dialect: Dialect, request_id: &str) -> Response {
    ApiError::new(error, dialect, request_id).into_response()
}

async fn authenticate(
    state: &SharedState,
    parts: &Parts,
    body: Body,
    info: RouteInfo,
) -> Result<(gateway::controls::Principal, Body), GatewayError> {
    let claims = jwt_claims(parts);
    let claim = &state.gateway.config().controls.auth.jwt_tenant_claim;
    let Some(controls) = &state.controls else {
        return Ok((open_principal(claims.as_ref(), claim), body));
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let now = now_ms();
    if let Some(key) = header("x-api-key") {
        return Ok((
            controls.authenticate(Credentials::ApiKey(key), now).await?,
            body,
        ));
    }
    if let Some(authorization) = header("authorization") {
        let bearer = authorization
            .strip_prefix("Bearer ")
            .or_else(|| authorization.strip_prefix("bearer "));
        if let Some(token) = bearer {
            // A bearer token that is not a gateway key is a JWT API Gateway already checked
            // (its claims follow), or nothing we know.
            if token
                .trim()
                .starts_with(gateway::controls::keys::KEY_PREFIX)
                || claims.is_none()
            {
                return Ok((
                    controls
                        .authenticate(Credentials::ApiKey(token), now)
                        .await?,
                    body,
                ));
            }
        } else if authorization.starts_with(sigv4::ALGORITHM) {
            if info.dialect != Dialect::Bedrock {
                return Err(GatewayError::Forbidden(
                    "SigV4 is accepted on the Bedrock paths (/model/...) only".into(),
                ));
            }
            let limit = state.body_limit();
            let bytes = axum::body::to_bytes(body, limit)
                .await
                .map_err(|_| GatewayError::PayloadTooLarge { limit })?;
            let headers: Vec<(&str, &str)> = parts
                .headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
                .collect();
            let request = SignedRequest {
                method: parts.method.as_str(),
                // As Lambda hands it over: decoded behind the HTTP API, as sent through the
                // Function URL; the verifier rebuilds the wire form from either.
                path: parts.uri.path(),
                query: parts.uri.query(),
                headers,
                body: &bytes,
            };
            let principal = controls
                .authenticate(
                    Credentials::SigV4 {
                        authorization,
                        request,
                    },
                    now,
                )
                .await?;
            return Ok((principal, Body::from(bytes)));
        }
    }
    if let Some(claims) = &claims {
        let subject = claims.get("sub").map_or("unknown", String::as_str);
        let tenant = claims
            .get(claim.as_str())
            .or_else(|| claims.get("sub"))
            .map_or("", String::as_str);
        return Ok((
            controls
                .authenticate(Credentials::Jwt { subject, tenant }, now)
                .await?,
            body,
        ));
    }
    Err(GatewayError::Unauthenticated)
}
