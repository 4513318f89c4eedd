//! SageMaker Runtime's wire API for SDK users whose endpoint is the gateway:
//! `POST /endpoints/{EndpointName}/invocations` and `…/invocations-response-stream`. The
//! endpoint must be one a configured model names (`models[].sagemaker.endpoint`); the call is
//! then an InvokeModel of that model through the call path, so keys, allow-lists, limits,
//! budgets, cost and audit apply. Bodies go to the container unchanged.

use super::{Segment, streaming};
use crate::context::RequestContext;
use crate::error_response::{Bedrock, Failure};
use crate::headers::AMZN_REQUEST_ID;
use crate::http_controls::call::CallContext;
use crate::state::SharedState;
use crate::wire;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use gateway::GatewayError;
use gateway::api::invoke::InvokeRequest;
use http::HeaderMap;

/// An InvokeModel request for the configured model served by `endpoint`. A caller whose
/// allow-list does not cover that model gets the same 403 as for an endpoint that does not
/// exist: keys cannot enumerate endpoints, nor learn the models behind them.
fn request(
    state: &SharedState,
    call: &CallContext,
    endpoint: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<InvokeRequest, GatewayError> {
    let config = state.gateway.config();
    let allowed = call.principal.allowed_models();
    let model = config
        .models
        .iter()
        .find(|m| m.sagemaker.as_ref().is_some_and(|s| s.endpoint == endpoint))
        .filter(|m| config.permits(allowed, &m.id));
    let Some(model) = model else {
        return Err(if allowed.is_empty() {
            GatewayError::NotFound(format!(
                "endpoint '{endpoint}' is not served by this gateway"
            ))
        } else {
            GatewayError::Forbidden(format!("this API key may not use endpoint '{endpoint}'"))
        });
    };
    super::bedrock::invoke_request(&model.id, headers, body, state)
}

pub async fn invoke_endpoint(
    State(state): State<SharedState>,
    Segment(endpoint): Segment,
    ctx: RequestContext,
    call: CallContext,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Bedrock>> {
    let request = request(&state, &call, &endpoint, &headers, body)?;
    let done = call.invoke(&request.model_id, &request).await?;
    let mut response = super::bedrock::invoke_answer(done, &ctx.request_id);
    crate::headers::insert(response.headers_mut(), AMZN_REQUEST_ID, &ctx.request_id);
    Ok(response)
}

pub async fn invoke_endpoint_stream(
    State(state): State<SharedState>,
    Segment(endpoint): Segment,
    ctx: RequestContext,
    call: CallContext,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Bedrock>> {
    let request = request(&state, &call, &endpoint, &headers, body)?;
    let done = call.invoke_stream(&request.model_id, &request).await?;
    let mut headers = done.headers(&ctx.request_id);
    crate::headers::insert(&mut headers, AMZN_REQUEST_ID, &ctx.request_id);
    crate::headers::insert(
        &mut headers,
        "x-amzn-sagemaker-content-type",
        "application/json",
    );
    let frames = wire::payload_part_frames(done.served.value, ctx.request_id);
    Ok(streaming(headers, wire::CONTENT_TYPE, frames))
}
