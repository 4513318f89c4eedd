//! Bedrock's control-plane reads on the runtime's base URL: `GET /inference-profiles`
//! (ListInferenceProfiles), `GET /inference-profiles/{id}` (GetInferenceProfile) and
//! `GET /foundation-models` (ListFoundationModels). Claude Code lists the system-defined
//! profiles on every run; the answers come from the configuration (`gateway::api::catalog`)
//! and show only the models the caller's key may use. Errors in Bedrock's shape.

use super::Segment;
use crate::error_response::{Bedrock, Failure};
use crate::principal::RequestPrincipal;
use crate::state::SharedState;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use gateway::GatewayError;
use gateway::api::catalog::Catalog;
use serde_json::json;
use std::collections::HashMap;

type Params = Query<HashMap<String, String>>;

fn catalog<'a>(state: &'a SharedState, principal: &'a RequestPrincipal) -> Catalog<'a> {
    Catalog {
        config: state.gateway.config(),
        allowed: principal.allowed_models(),
        region: state.gateway.home_region().unwrap_or("us-east-1"),
    }
}

/// `maxResults` (1–1000) and `nextToken` (the offset the previous page ended at).
fn page(params: &HashMap<String, String>) -> Result<(usize, usize), GatewayError> {
    let max = match params.get("maxResults") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| GatewayError::invalid("maxResults", "must be between 1 and 1000"))?,
    };
    let start = match params.get("nextToken") {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| GatewayError::invalid("nextToken", "is not a token this API gave"))?,
    };
    Ok((start, max))
}

pub async fn list_inference_profiles(
    State(state): State<SharedState>,
    principal: RequestPrincipal,
    Query(params): Params,
) -> Result<Response, Failure<Bedrock>> {
    let (start, max) = page(&params)?;
    // `type` on the wire (`typeEquals` in the SDKs): SYSTEM_DEFINED or APPLICATION.
    let kind = params
        .get("type")
        .or_else(|| params.get("typeEquals"))
        .map_or("SYSTEM_DEFINED", String::as_str);
    let profiles = match kind {
        "SYSTEM_DEFINED" => catalog(&state, &principal).profiles(),
        "APPLICATION" => Vec::new(),
        other => {
            return Err(GatewayError::invalid(
                "type",
                format!("'{other}' is not SYSTEM_DEFINED or APPLICATION"),
            )
            .into());
        }
    };
    let total = profiles.len();
    let summaries: Vec<_> = profiles.into_iter().skip(start).take(max).collect();
    let end = start.saturating_add(summaries.len());
    let mut body = json!({ "inferenceProfileSummaries": summaries });
    if end < total {
        body["nextToken"] = json!(end.to_string());
    }
    Ok(Json(body).into_response())
}

pub async fn get_inference_profile(
    State(state): State<SharedState>,
    principal: RequestPrincipal,
    Segment(id): Segment,
) -> Result<Response, Failure<Bedrock>> {
    let profile = catalog(&state, &principal).profile_by_id(&id)?;
    Ok(Json(profile).into_response())
}

pub async fn list_foundation_models(
    State(state): State<SharedState>,
    principal: RequestPrincipal,
    Query(params): Params,
) -> Response {
    let mut models = catalog(&state, &principal).foundation_models();
    if let Some(provider) = params.get("byProvider") {
        models.retain(|m| {
            m.provider_name.eq_ignore_ascii_case(provider)
                || m.model_id
                    .split('.')
                    .next()
                    .is_some_and(|p| p.eq_ignore_ascii_case(provider))
        });
    }
    if let Some(modality) = params.get("byOutputModality") {
        models.retain(|m| m.output_modalities.contains(&modality.as_str()));
    }
    if let Some(kind) = params.get("byInferenceType") {
        models.retain(|m| m.inference_types_supported.contains(&kind.as_str()));
    }
    if params.contains_key("byCustomizationType") {
        // No configured model is offered for customization through the gateway.
        models.clear();
    }
    Json(json!({ "modelSummaries": models })).into_response()
}
