//! The bedrock-runtime wire API: `/model/{modelId}/converse|converse-stream|invoke|invoke-with-response-stream`.
//! Bodies, errors and stream framing are Bedrock's own, so an unmodified AWS SDK works.

use super::{CallDeadline, streaming};
use crate::app::SharedState;
use crate::body::{bytes_or_error, parse_json};
use crate::context::RequestContext;
use crate::error_response::{ApiError, Dialect};
use crate::headers::served_headers;
use crate::wire;
use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::GatewayError;
use gateway::api::converse::ConverseRequest;
use gateway::api::invoke::InvokeRequest;
use gateway::service::Route;
use http::{HeaderMap, HeaderValue, header};

fn bedrock_error(error: GatewayError, ctx: &RequestContext) -> Response {
    let mut response = ApiError::new(error, Dialect::Bedrock, &ctx.request_id).into_response();
    crate::headers::insert(response.headers_mut(), "x-amzn-requestid", &ctx.request_id);
    response
}

fn converse_request(
    body: Result<Bytes, BytesRejection>,
    state: &SharedState,
) -> Result<ConverseRequest, GatewayError> {
    let request: ConverseRequest = parse_json(&bytes_or_error(body, state.body_limit())?)?;
    if request.model_id.is_some() {
        return Err(GatewayError::invalid(
            "modelId",
            "the model id belongs in the path on this route",
        ));
    }
    Ok(request)
}

pub async fn converse(
    State(state): State<SharedState>,
    Path(model_id): Path<String>,
    ctx: RequestContext,
    CallDeadline(deadline): CallDeadline,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let request = converse_request(body, &state)?;
        state
            .gateway
            .converse(Route::Model(&model_id), &request, deadline)
            .await
    }
    .await;
    match result {
        Ok(served) => (
            served_headers(&ctx.request_id, &served),
            Json(&served.value),
        )
            .into_response(),
        Err(error) => bedrock_error(error, &ctx),
    }
}

pub async fn converse_stream(
    State(state): State<SharedState>,
    Path(model_id): Path<String>,
    ctx: RequestContext,
    CallDeadline(deadline): CallDeadline,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let request = converse_request(body, &state)?;
        state
            .gateway
            .converse_stream(Route::Model(&model_id), &request, deadline)
            .await
    }
    .await;
    match result {
        Ok(served) => {
            let headers = served_headers(&ctx.request_id, &served);
            streaming(
                headers,
                wire::CONTENT_TYPE,
                wire::converse_frames(served.value, ctx.request_id),
            )
        }
        Err(error) => bedrock_error(error, &ctx),
    }
}

fn invoke_request(
    model_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    state: &SharedState,
) -> Result<InvokeRequest, GatewayError> {
    let body = bytes_or_error(body, state.body_limit())?;
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Ok(InvokeRequest {
        model_id: model_id.to_owned(),
        body: body.to_vec(),
        content_type: header(header::CONTENT_TYPE),
        accept: header(header::ACCEPT),
    })
}

pub async fn invoke(
    State(state): State<SharedState>,
    Path(model_id): Path<String>,
    ctx: RequestContext,
    CallDeadline(deadline): CallDeadline,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let request = invoke_request(&model_id, &headers, body, &state)?;
        state.gateway.invoke(&model_id, &request, deadline).await
    }
    .await;
    match result {
        Ok(served) => {
            let mut headers = served_headers(&ctx.request_id, &served);
            let content_type = HeaderValue::from_str(&served.value.content_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/json"));
            headers.insert(header::CONTENT_TYPE, content_type);
            (headers, served.value.body).into_response()
        }
        Err(error) => bedrock_error(error, &ctx),
    }
}

pub async fn invoke_stream(
    State(state): State<SharedState>,
    Path(model_id): Path<String>,
    ctx: RequestContext,
    CallDeadline(deadline): CallDeadline,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let request = invoke_request(&model_id, &headers, body, &state)?;
        state
            .gateway
            .invoke_stream(&model_id, &request, deadline)
            .await
    }
    .await;
    match result {
        Ok(served) => {
            let headers = served_headers(&ctx.request_id, &served);
            streaming(
                headers,
                wire::CONTENT_TYPE,
                wire::invoke_frames(served.value, ctx.request_id),
            )
        }
        Err(error) => bedrock_error(error, &ctx),
    }
}
