//! `POST /v1/converse` and `/v1/converse-stream`: Bedrock's Converse body with `modelId` in it.

use super::{CallDeadline, streaming};
use crate::app::SharedState;
use crate::body::read_json;
use crate::context::RequestContext;
use crate::error_response::{ApiError, Dialect};
use crate::headers::served_headers;
use crate::sse;
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
    CallDeadline(deadline): CallDeadline,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let (request, name) = parse(&state, body)?;
        state
            .gateway
            .converse(Route::Model(&name), &request, deadline)
            .await
    }
    .await;
    match result {
        Ok(served) => (
            served_headers(&ctx.request_id, &served),
            Json(&served.value),
        )
            .into_response(),
        Err(error) => ApiError::new(error, Dialect::Gateway, &ctx.request_id).into_response(),
    }
}

pub async fn converse_stream(
    State(state): State<SharedState>,
    ctx: RequestContext,
    CallDeadline(deadline): CallDeadline,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let (request, name) = parse(&state, body)?;
        state
            .gateway
            .converse_stream(Route::Model(&name), &request, deadline)
            .await
    }
    .await;
    match result {
        Ok(served) => {
            let headers = served_headers(&ctx.request_id, &served);
            streaming(
                headers,
                "text/event-stream",
                sse::converse_events(served.value, ctx.request_id),
            )
        }
        Err(error) => ApiError::new(error, Dialect::Gateway, &ctx.request_id).into_response(),
    }
}
