//! SageMaker Runtime's wire API for SDK users whose endpoint is the gateway:
//! `POST /endpoints/{EndpointName}/invocations` and `…/invocations-response-stream`. The
//! endpoint must be one a configured model names (`models[].sagemaker.endpoint`); the call is
//! then an InvokeModel of that model through the call path, so keys, allow-lists, limits,
//! budgets, cost and audit apply. Bodies go to the container unchanged.

use super::{CallDeadline, Segment, streaming};
use crate::context::RequestContext;
use crate::error_response::Dialect;
use crate::http_controls::call::CallContext;
use crate::http_controls::call::Refused;
use crate::state::SharedState;
use crate::wire;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::GatewayError;
use gateway::api::invoke::InvokeRequest;
use http::{HeaderMap, HeaderValue, header};

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

fn refused(refused: Refused, ctx: &RequestContext) -> Response {
    refused.into_response(Dialect::Bedrock, &ctx.request_id)
}

pub async fn invoke_endpoint(
    State(state): State<SharedState>,
    Segment(endpoint): Segment,
    ctx: RequestContext,
    call: CallContext,
    CallDeadline(deadline): CallDeadline,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let request = request(&state, &call, &endpoint, &headers, body)?;
        call.invoke(&state, &request.model_id, &request, deadline)
            .await
    }
    .await;
    match result {
        Ok(done) => {
            let mut headers = done.headers(&ctx.request_id);
            let content_type = HeaderValue::from_str(&done.served.value.content_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/json"));
            headers.insert(header::CONTENT_TYPE, content_type);
            crate::headers::insert(&mut headers, "x-amzn-requestid", &ctx.request_id);
            (headers, done.served.value.body).into_response()
        }
        Err(e) => refused(e, &ctx),
    }
}

pub async fn invoke_endpoint_stream(
    State(state): State<SharedState>,
    Segment(endpoint): Segment,
    ctx: RequestContext,
    call: CallContext,
    CallDeadline(deadline): CallDeadline,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let request = request(&state, &call, &endpoint, &headers, body)?;
        call.invoke_stream(&state, &request.model_id, &request, deadline)
            .await
    }
    .await;
    match result {
        Ok(done) => {
            let mut headers = done.headers(&ctx.request_id);
            crate::headers::insert(&mut headers, "x-amzn-requestid", &ctx.request_id);
            crate::headers::insert(
                &mut headers,
                "x-amzn-sagemaker-content-type",
                "application/json",
            );
            streaming(
                headers,
                wire::CONTENT_TYPE,
                wire::payload_part_frames(done.served.value, ctx.request_id),
            )
        }
        Err(e) => refused(e, &ctx),
    }
}
