//! The bedrock-runtime wire API: `/model/{modelId}/converse|converse-stream|invoke|invoke-with-response-stream|count-tokens`.
//! Bodies, errors and stream framing are Bedrock's own, so an unmodified AWS SDK works.

use super::{Segment, streaming};
use crate::body::{bytes_or_error, parse_json};
use crate::context::RequestContext;
use crate::error_response::{Bedrock, Failure};
use crate::headers::AMZN_REQUEST_ID;
use crate::http_controls::call::{CallContext, Done};
use crate::state::SharedState;
use crate::wire;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::GatewayError;
use gateway::api::converse::ConverseRequest;
use gateway::api::count_tokens::CountTokensInput;
use gateway::api::invoke::{InvokeRequest, InvokeResponse};
use gateway::service::Route;
use http::{HeaderMap, HeaderValue, header};

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
    Segment(model_id): Segment,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Bedrock>> {
    let request = converse_request(body, &state)?;
    let done = call.converse(Route::Model(&model_id), &request).await?;
    Ok((done.headers(&ctx.request_id), Json(&done.served.value)).into_response())
}

pub async fn converse_stream(
    State(state): State<SharedState>,
    Segment(model_id): Segment,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Bedrock>> {
    let request = converse_request(body, &state)?;
    let done = call
        .converse_stream(Route::Model(&model_id), &request)
        .await?;
    let headers = done.headers(&ctx.request_id);
    let frames = wire::converse_frames(done.served.value, ctx.request_id);
    Ok(streaming(headers, wire::CONTENT_TYPE, frames))
}

pub(super) fn invoke_request(
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

/// An InvokeModel answer: the model's own body, under its own content type.
pub(super) fn invoke_answer(done: Done<InvokeResponse>, request_id: &str) -> Response {
    let mut headers = done.headers(request_id);
    let content_type = HeaderValue::from_str(&done.served.value.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/json"));
    headers.insert(header::CONTENT_TYPE, content_type);
    (headers, done.served.value.body).into_response()
}

pub async fn invoke(
    State(state): State<SharedState>,
    Segment(model_id): Segment,
    ctx: RequestContext,
    call: CallContext,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Bedrock>> {
    let request = invoke_request(&model_id, &headers, body, &state)?;
    let done = call.invoke(&model_id, &request).await?;
    Ok(invoke_answer(done, &ctx.request_id))
}

pub async fn invoke_stream(
    State(state): State<SharedState>,
    Segment(model_id): Segment,
    ctx: RequestContext,
    call: CallContext,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Bedrock>> {
    let request = invoke_request(&model_id, &headers, body, &state)?;
    let done = call.invoke_stream(&model_id, &request).await?;
    let headers = done.headers(&ctx.request_id);
    let frames = wire::invoke_frames(done.served.value, ctx.request_id);
    Ok(streaming(headers, wire::CONTENT_TYPE, frames))
}

/// CountTokens: free on Bedrock, so nothing is reserved; the allow-list, rate limits and
/// concurrency cap apply (it uses the account's shared quota), and the audit record names the
/// model counted on.
pub async fn count_tokens(
    State(state): State<SharedState>,
    Segment(model_id): Segment,
    ctx: RequestContext,
    call: CallContext,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Bedrock>> {
    let input = CountTokensInput::from_wire(&bytes_or_error(body, state.body_limit())?)?;
    let done = call.count_tokens(&model_id, &input).await?;
    let mut headers = done.headers(&ctx.request_id);
    crate::headers::insert(&mut headers, AMZN_REQUEST_ID, &ctx.request_id);
    Ok((headers, Json(&done.served.value)).into_response())
}
