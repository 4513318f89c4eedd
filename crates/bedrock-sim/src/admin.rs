//! The admin API under `/_sim/`, for tests and scripts that drive a running simulator.
//!
//! | route | effect |
//! | --- | --- |
//! | `GET /_sim/health` | `{"status":"ok"}` |
//! | `GET /_sim/models` | `{"models":[base ids],"profilePrefixes":["us.",...]}` |
//! | `PUT /_sim/models/{modelId}` | accept one more base model id (204) |
//! | `GET/PUT/DELETE /_sim/models/{modelId}/behavior` | a model's own behaviour (JSON [`Behavior`]) |
//! | `GET/PUT /_sim/behavior` | the default behaviour |
//! | `DELETE /_sim/behavior` | back to the start-up config's behaviours (204) |
//! | `GET /_sim/calls` | `{"total":N,"models":{"<id>":N}}` |
//! | `POST /_sim/reset` | start-up behaviours, zero counters, empty prompt cache (204) |
//! | `DELETE /_sim/prompt-cache` | forget every cached prompt prefix, as if all expired (204) |
//! | `POST /_sim/hold` / `POST /_sim/release` | streams hold back their last delta / let it go (204) |
//!
//! `{modelId}` may be percent-encoded; errors are `{"message": ...}` with status 400/404.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use http::{Method, StatusCode, Uri};
use serde_json::json;

use crate::behavior::Behavior;
use crate::catalog::PROFILE_PREFIXES;
use crate::error::ApiError;
use crate::paths::{decode_segment, unknown_operation};
use crate::state::SimState;

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route(
            "/_sim/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/_sim/calls", get(calls))
        .route("/_sim/reset", post(reset))
        .route("/_sim/prompt-cache", delete(clear_prompt_cache))
        .route(
            "/_sim/hold",
            post(|State(state): State<Arc<SimState>>| async move {
                state.set_hold(true);
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_sim/release",
            post(|State(state): State<Arc<SimState>>| async move {
                state.set_hold(false);
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_sim/behavior",
            get(get_default).put(put_default).delete(reset_behaviors),
        )
        .route("/_sim/models", get(list_models))
        .route("/_sim/models/{*rest}", any(model_admin))
}

async fn calls(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(state.control.call_counts()).into_response()
}

async fn reset(State(state): State<Arc<SimState>>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}

async fn clear_prompt_cache(State(state): State<Arc<SimState>>) -> StatusCode {
    state.prompt_cache.clear();
    StatusCode::NO_CONTENT
}

async fn get_default(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(state.control.default_behavior()).into_response()
}

async fn put_default(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    match Behavior::from_json(&body) {
        Ok(behavior) => {
            state.control.set_default_behavior(behavior);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(err) => ApiError::validation(err.to_string()).into_response(),
    }
}

async fn reset_behaviors(State(state): State<Arc<SimState>>) -> StatusCode {
    state.control.reset_behaviors();
    StatusCode::NO_CONTENT
}

async fn list_models(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(json!({
        "models": state.catalog.base_ids(),
        "profilePrefixes": PROFILE_PREFIXES,
    }))
    .into_response()
}

async fn model_admin(
    State(state): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let Some(rest) = uri.path().strip_prefix("/_sim/models/") else {
        return unknown_operation(uri).await;
    };
    let (raw_id, behavior_route) = match rest.strip_suffix("/behavior") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    let Some(model) = decode_segment(raw_id).filter(|m| !m.is_empty()) else {
        return ApiError::validation("The model identifier is empty or not valid UTF-8.")
            .into_response();
    };
    match (behavior_route, method) {
        (true, Method::GET) => match state.control.behavior(&model) {
            Some(behavior) => axum::Json(behavior).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"message": format!("No behaviour set for model {model}")})),
            )
                .into_response(),
        },
        (true, Method::PUT) => match Behavior::from_json(&body) {
            Ok(behavior) => {
                state.control.set_behavior(&model, behavior);
                StatusCode::NO_CONTENT.into_response()
            }
            Err(err) => ApiError::validation(err.to_string()).into_response(),
        },
        (true, Method::DELETE) => {
            state.control.remove_behavior(&model);
            StatusCode::NO_CONTENT.into_response()
        }
        (false, Method::PUT) => {
            state.catalog.add(&model);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}
