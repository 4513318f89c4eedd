//! Bedrock's async API on the bedrock-runtime wire: `POST /async-invoke` (StartAsyncInvoke),
//! `GET /async-invoke/{invocationArn}` (GetAsyncInvoke) and `GET /async-invoke`
//! (ListAsyncInvokes). A start is a job submitted through [`JobSubmitter`] (the key's model
//! allow-list, limits and budget, idempotent by `clientRequestToken`); reads show the
//! caller's own invocations only, and another tenant's ARN answers as an unknown one.

use crate::body::read_json;
use crate::context::RequestContext;
use crate::error_response::{Bedrock, Failure};
use crate::headers::{self, AMZN_REQUEST_ID};
use crate::principal::RequestPrincipal;
use crate::state::{JobsBackend, SharedState};
use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::GatewayError;
use gateway::jobs::JobStore;
use gateway::jobs::async_invoke::{self, AsyncInvokeSettings, StartAsyncInvoke};
use gateway::jobs::async_invoke_list::{InvocationIndex, ListFilter};
use gateway::jobs::submitter::{JobSubmitter, check_model_allowed};
use http::{HeaderMap, Uri};
use serde_json::{Value, json};

fn enabled(state: &SharedState) -> Result<(&JobsBackend, &AsyncInvokeSettings), GatewayError> {
    let not_enabled = || {
        GatewayError::NotFound(
            "async invocations are not enabled in this deployment (JOBS_TABLE, JOBS_QUEUE_URL and ASYNC_INVOKE_BUCKET)"
                .into(),
        )
    };
    let jobs = state.jobs.as_ref().ok_or_else(not_enabled)?;
    let settings = state.async_invoke.get().ok_or_else(not_enabled)?;
    Ok((jobs, settings))
}

/// A body with the request id in both the gateway's and the AWS SDKs' headers.
fn answer(ctx: &RequestContext, body: Value) -> Response {
    let mut response_headers = HeaderMap::new();
    headers::insert(&mut response_headers, headers::REQUEST_ID, &ctx.request_id);
    headers::insert(&mut response_headers, AMZN_REQUEST_ID, &ctx.request_id);
    (response_headers, Json(body)).into_response()
}

/// StartAsyncInvoke: `{"invocationArn"}`, the same one again for a replayed token.
pub async fn start(
    State(state): State<SharedState>,
    ctx: RequestContext,
    principal: RequestPrincipal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Bedrock>> {
    let (backend, settings) = enabled(&state)?;
    let config = state.gateway.config();
    let start: StartAsyncInvoke = read_json(body, state.body_limit())?;
    // The same refusal a sync InvokeModel of this model gets.
    check_model_allowed(config, &principal, Some(&start.model_id))?;
    let replayable = start.client_request_token.is_some();
    let fresh = uuid::Uuid::new_v4().as_u64_pair().0;
    let now = gateway::clock::unix_ms();
    let record = settings.prepare(
        start,
        config,
        &principal.tenant,
        fresh,
        now,
        backend.settings,
    )?;
    let submitter = JobSubmitter {
        store: &backend.store,
        queue: &backend.queue,
        controls: state.controls.as_deref(),
        config,
    };
    let submitted = submitter
        .submit(&principal, record, replayable, &format!("{fresh:x}"), now)
        .await?;
    let view = settings
        .view(&submitted.record)
        .ok_or_else(|| GatewayError::Internal("not an async invocation".into()))?;
    Ok(answer(
        &ctx,
        json!({"invocationArn": view["invocationArn"]}),
    ))
}

/// GetAsyncInvoke. The ARN is one URL-encoded segment from SDKs; a front door that decodes
/// `%2F` hands it over as the rest of the path, which the wildcard route takes too.
pub async fn get(
    State(state): State<SharedState>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    ctx: RequestContext,
    principal: RequestPrincipal,
) -> Result<Response, Failure<Bedrock>> {
    let (backend, settings) = enabled(&state)?;
    let Path(arn) = path.map_err(|e| GatewayError::invalid("invocationArn", e.body_text()))?;
    let id = settings.invocation_id_of(&arn)?;
    let record = backend.store.get(&async_invoke::job_id(id)).await?;
    let now = gateway::clock::unix_ms();
    // Another tenant's invocation answers exactly like a missing one.
    let view = record
        .filter(|r| r.tenant == principal.tenant && !r.is_expired(now))
        .and_then(|r| settings.view(&r))
        .ok_or_else(|| async_invoke::not_found(&arn))?;
    Ok(answer(&ctx, view))
}

/// ListAsyncInvokes: the caller's own invocations, a page at a time.
pub async fn list(
    State(state): State<SharedState>,
    uri: Uri,
    ctx: RequestContext,
    principal: RequestPrincipal,
) -> Result<Response, Failure<Bedrock>> {
    let (backend, settings) = enabled(&state)?;
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map_err(|e| GatewayError::invalid("query", e.body_text()))?;
    let filter = ListFilter::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let page = backend.store.list(&principal.tenant, &filter).await?;
    let summaries: Vec<Value> = page
        .records
        .iter()
        .filter(|r| r.tenant == principal.tenant)
        .filter_map(|r| settings.view(r))
        .collect();
    let mut body = json!({"asyncInvokeSummaries": summaries});
    if let Some(next) = page.next {
        body["nextToken"] = json!(next.encode());
    }
    Ok(answer(&ctx, body))
}
