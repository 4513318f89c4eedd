//! `POST /v1/converse` and `/v1/converse-stream`: Bedrock's Converse body with `modelId` in it.

use super::streaming;
use crate::body::read_json;
use crate::context::RequestContext;
use crate::error_response::{Failure, Gateway};
use crate::http_controls::call::CallContext;
use crate::sse;
use crate::state::SharedState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::GatewayError;
use gateway::api::converse::ConverseRequest;
use gateway::service::Route;

/// The request without its model name, and the name (a model, alias, group or `auto`).
fn parse(
    state: &SharedState,
    body: Result<Bytes, BytesRejection>,
) -> Result<(ConverseRequest, String), GatewayError> {
    let mut request: ConverseRequest = read_json(body, state.body_limit())?;
    let name = request
        .model_id
        .take()
        .ok_or_else(|| GatewayError::invalid("modelId", "modelId is required"))?;
    Ok((request, name))
}

pub async fn converse(
    State(state): State<SharedState>,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Gateway>> {
    let (request, name) = parse(&state, body)?;
    let done = call.converse(Route::Model(&name), &request).await?;
    Ok((done.headers(&ctx.request_id), Json(&done.served.value)).into_response())
}

pub async fn converse_stream(
    State(state): State<SharedState>,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Gateway>> {
    let (request, name) = parse(&state, body)?;
    let done = call.converse_stream(Route::Model(&name), &request).await?;
    let headers = done.headers(&ctx.request_id);
    let events = sse::converse_events(done.served.value, ctx.request_id);
    Ok(streaming(headers, "text/event-stream", events))
}
