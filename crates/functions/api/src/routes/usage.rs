//! `GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD[&tenant=…]`: requests, tokens and cost by
//! model, day and key from the usage ledger. A caller sees its own tenant; an admin key may
//! name any. Defaults: today (UTC).

use crate::context::RequestContext;
use crate::error_response::{Failure, Gateway};
use crate::headers;
use crate::http_controls::auth::now_ms;
use crate::principal::RequestPrincipal;
use crate::state::SharedState;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use gateway::GatewayError;
use gateway::controls::calendar;
use http::HeaderMap;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct UsageQuery {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

pub async fn usage(
    State(state): State<SharedState>,
    ctx: RequestContext,
    principal: RequestPrincipal,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure<Gateway>> {
    let Query(query) = query.map_err(|e| GatewayError::InvalidRequest {
        field: None,
        message: e.body_text(),
    })?;
    let controls = state.controls.as_ref().ok_or_else(|| {
        GatewayError::NotFound(
            "usage is recorded only with controls on (controls.auth.mode: api_keys)".into(),
        )
    })?;
    let tenant = match query.tenant {
        Some(tenant) if tenant != principal.tenant && !principal.is_admin() => {
            return Err(GatewayError::Forbidden(
                "only an admin key may read another tenant's usage".into(),
            )
            .into());
        }
        Some(tenant) => tenant,
        None => principal.tenant.clone(),
    };
    let today = calendar::day_string(now_ms() / 1_000);
    let to = query.to.unwrap_or_else(|| today.clone());
    let from = query.from.unwrap_or_else(|| to.clone());
    let report = controls.usage_report(&tenant, &from, &to).await?;
    let mut response_headers = HeaderMap::new();
    headers::insert(&mut response_headers, headers::REQUEST_ID, &ctx.request_id);
    Ok((response_headers, Json(report)).into_response())
}
