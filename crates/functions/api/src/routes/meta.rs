//! Health, model list, and the JSON 404 and 405.

use crate::app::SharedState;
use crate::context::RequestContext;
use crate::error_response::{ApiError, Dialect};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gateway::GatewayError;
use serde_json::{Value, json};

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// OpenAI's model list: every configured id and alias a caller may use.
pub async fn models(State(state): State<SharedState>) -> Json<Value> {
    let data: Vec<Value> = state
        .gateway
        .config()
        .allowed_names()
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "bedrock"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

pub async fn not_found(ctx: RequestContext, uri: http::Uri) -> Response {
    let error = GatewayError::NotFound(format!("no route for {}", uri.path()));
    ApiError::new(error, Dialect::Gateway, &ctx.request_id).into_response()
}

/// A registered path with a method it does not take: JSON like every other error (axum's
/// own 405 has an empty body).
pub async fn method_not_allowed(
    ctx: RequestContext,
    method: http::Method,
    uri: http::Uri,
) -> Response {
    let message = format!("{method} is not allowed on {}", uri.path());
    let body = json!({"error": {
        "code": "method_not_allowed", "message": message, "field": null, "request_id": ctx.request_id,
    }});
    (http::StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
