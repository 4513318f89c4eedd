//! Health, model list, and the JSON 404 and 405 (Bedrock's `UnknownOperationException` on
//! Bedrock's paths, so an AWS SDK reports what was refused).

use crate::context::RequestContext;
use crate::error_response::{ApiError, Dialect};
use crate::state::SharedState;
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

pub async fn not_found(ctx: RequestContext, method: http::Method, uri: http::Uri) -> Response {
    tracing::warn!(request_id = %ctx.request_id, %method, path = uri.path(), "no route");
    if is_aws_wire_path(uri.path()) {
        return unknown_operation(&ctx, &method, &uri);
    }
    let error = GatewayError::NotFound(format!("no route for {}", uri.path()));
    ApiError::new(error, Dialect::Gateway, &ctx.request_id).into_response()
}

/// Paths an AWS SDK sends to Bedrock: what it reads errors on is `x-amzn-ErrorType`.
/// Paths of the AWS wire APIs the gateway serves to the AWS SDKs (Bedrock Runtime and its async
/// API, Bedrock's listings, SageMaker Runtime, Agent Runtime): their errors are Bedrock's.
pub fn is_aws_wire_path(path: &str) -> bool {
    [
        "/model/",
        "/inference-profiles",
        "/foundation-models",
        "/async-invoke",
        "/endpoints/",
        "/knowledgebases/",
        "/retrieveAndGenerate",
    ]
    .iter()
    .any(|prefix| path.starts_with(prefix))
}

/// Bedrock's answer to an operation it does not have: 404, `UnknownOperationException`.
fn unknown_operation(ctx: &RequestContext, method: &http::Method, uri: &http::Uri) -> Response {
    let message = format!("{method} {} is not an operation of this API", uri.path());
    let mut response = (
        http::StatusCode::NOT_FOUND,
        Json(json!({ "message": message })),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        "x-amzn-errortype",
        http::HeaderValue::from_static("UnknownOperationException"),
    );
    crate::headers::insert(headers, crate::headers::AMZN_REQUEST_ID, &ctx.request_id);
    crate::headers::insert(headers, crate::headers::REQUEST_ID, &ctx.request_id);
    response
}

/// A registered path with a method it does not take: JSON like every other error (axum's
/// own 405 has an empty body).
pub async fn method_not_allowed(
    ctx: RequestContext,
    method: http::Method,
    uri: http::Uri,
) -> Response {
    tracing::warn!(request_id = %ctx.request_id, %method, path = uri.path(), "method not allowed");
    if is_aws_wire_path(uri.path()) {
        return unknown_operation(&ctx, &method, &uri);
    }
    let message = format!("{method} is not allowed on {}", uri.path());
    let body = json!({"error": {
        "code": "method_not_allowed", "message": message, "field": null, "request_id": ctx.request_id,
    }});
    (http::StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
