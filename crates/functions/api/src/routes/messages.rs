//! Anthropic's Messages API: `POST /v1/messages` (plain and `stream: true`) and
//! `POST /v1/messages/count_tokens`, for the Anthropic SDKs and Claude Code with
//! `ANTHROPIC_BASE_URL`. Served as InvokeModel with the Anthropic body through the one call
//! path (`CallContext::invoke` / `invoke_stream`), so keys, allow-lists, limits, budgets, cost
//! and audit apply as on `/model/{id}/invoke`. Translation: `gateway::api::anthropic`.

use super::streaming;
use crate::body::bytes_or_error;
use crate::context::RequestContext;
use crate::error_response::{Anthropic, ApiError, Dialect, Failure};
use crate::headers::ANTHROPIC_REQUEST_ID;
use crate::http_controls::call::CallContext;
use crate::state::SharedState;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use gateway::GatewayError;
use gateway::api::anthropic::{self, Endpoint, MessagesRequest};
use gateway::api::anthropic_stream;
use gateway::api::count_tokens::CountTokensInput;
use gateway::api::invoke::InvokeRequest;
use gateway::ports::InvokeChunkStream;
use http::{HeaderMap, HeaderValue, header};
use std::convert::Infallible;

fn parse(
    state: &SharedState,
    call: &CallContext,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    endpoint: Endpoint,
) -> Result<(MessagesRequest, String), GatewayError> {
    let bytes = bytes_or_error(body, state.body_limit())?;
    let betas: Vec<&str> = headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let request = anthropic::parse(&bytes, &betas, endpoint)?;
    if !request.dropped.is_empty() {
        tracing::debug!(dropped = ?request.dropped, "Messages fields Bedrock does not take");
    }
    let config = state.gateway.config();
    let name = anthropic::route_name(config, &request.model)
        .map_err(|e| config.narrow_unknown(e, call.principal.allowed_models()))?;
    Ok((request, name))
}

pub async fn create(
    State(state): State<SharedState>,
    ctx: RequestContext,
    call: CallContext,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Anthropic>> {
    let (request, name) = parse(&state, &call, &headers, body, Endpoint::Create)?;
    let invoke = InvokeRequest {
        model_id: name.clone(),
        body: request.body,
        content_type: Some("application/json".to_owned()),
        accept: Some("application/json".to_owned()),
    };
    if request.stream {
        let done = call.invoke_stream(&name, &invoke).await?;
        let mut headers = done.headers(&ctx.request_id);
        crate::headers::insert(&mut headers, ANTHROPIC_REQUEST_ID, &ctx.request_id);
        return Ok(streaming(
            headers,
            "text/event-stream",
            events(done.served.value, ctx.request_id.clone()),
        ));
    }
    let done = call.invoke(&name, &invoke).await?;
    let body = anthropic::response_body(&done.served.value.body)?;
    let mut headers = done.headers(&ctx.request_id);
    crate::headers::insert(&mut headers, ANTHROPIC_REQUEST_ID, &ctx.request_id);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok((headers, body).into_response())
}

/// Bedrock's chunks as Anthropic's server-sent events; a failure midway is a final `error`
/// event (the stream's settlement is the call path's, whatever happens here).
fn events(
    mut chunks: InvokeChunkStream,
    request_id: String,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    async_stream::stream! {
        while let Some(item) = chunks.next().await {
            match item {
                Ok(chunk) => {
                    for event in anthropic_stream::events(&chunk.bytes) {
                        yield Ok(Bytes::from(event));
                    }
                }
                Err(error) => {
                    let error = ApiError::new(error, Dialect::Anthropic, &request_id);
                    error.log();
                    yield Ok(Bytes::from(anthropic_stream::sse("error", &error.body())));
                    return;
                }
            }
        }
    }
}

/// Free on Bedrock, so nothing is reserved; the allow-list, rate limits and concurrency cap
/// apply, as on `/model/{id}/count-tokens`.
pub async fn count_tokens(
    State(state): State<SharedState>,
    ctx: RequestContext,
    call: CallContext,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Anthropic>> {
    let (request, name) = parse(&state, &call, &headers, body, Endpoint::CountTokens)?;
    let input = CountTokensInput::InvokeModel(request.body);
    let done = call.count_tokens(&name, &input).await?;
    let mut headers = done.headers(&ctx.request_id);
    crate::headers::insert(&mut headers, ANTHROPIC_REQUEST_ID, &ctx.request_id);
    let body = anthropic::count_tokens_body(done.served.value.input_tokens);
    Ok((headers, axum::Json(body)).into_response())
}
