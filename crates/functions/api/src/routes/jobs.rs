//! `POST /v1/jobs` (map the request onto a job record; [`JobSubmitter`] creates or replays,
//! admits and queues it; 202) and
//! `GET /v1/jobs/{id}` (only for its owner).
//!
//! Before anything is admitted or queued: reserved metadata keys are refused, and a callback
//! URL must be on the key's (else the tenant's) callback host allow-list and pass the
//! deployment's static SSRF checks; a job record too large to finish is refused with 413.

use super::Segment;
use crate::body::read_json;
use crate::context::RequestContext;
use crate::error_response::{Failure, Gateway};
use crate::headers;
use crate::principal::RequestPrincipal;
use crate::state::{JobsBackend, SharedState};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::GatewayError;
use gateway::jobs::intake::{check_callback_url, check_caller_metadata};
use gateway::jobs::submit::{job_id, prepare};
use gateway::jobs::submitter::{JobSubmitter, check_model_allowed};
use gateway::jobs::{JobStore, SubmitJob};
use http::{HeaderMap, StatusCode};
use serde_json::json;

fn now_ms() -> u64 {
    gateway::clock::unix_ms()
}

fn backend(state: &SharedState) -> Result<&JobsBackend, GatewayError> {
    state.jobs.as_ref().ok_or_else(|| {
        GatewayError::NotFound(
            "async jobs are not enabled in this deployment (JOBS_TABLE / JOBS_QUEUE_URL)".into(),
        )
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, GatewayError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            GatewayError::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
        })?;
    Ok(Some(key.to_owned()))
}

/// The hosts the principal's jobs may call back: its key's list, else its tenant's; empty
/// (callbacks refused) for callers with neither.
fn callback_hosts(principal: &RequestPrincipal) -> Vec<String> {
    let key = principal.key.as_ref().map(|k| &k.callback_hosts);
    let tenant = principal.tenant_policy.as_ref().map(|t| &t.callback_hosts);
    key.filter(|hosts| !hosts.is_empty())
        .or(tenant)
        .cloned()
        .unwrap_or_default()
}

pub async fn submit(
    State(state): State<SharedState>,
    ctx: RequestContext,
    principal: RequestPrincipal,
    request_headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure<Gateway>> {
    let backend = backend(&state)?;
    let submission: SubmitJob = read_json(body, state.body_limit())?;
    check_model_allowed(state.gateway.config(), &principal, submission.model_name())?;
    check_caller_metadata(&submission.metadata)?;
    let allowed_callback_hosts = match &submission.callback_url {
        Some(url) => {
            let hosts = callback_hosts(&principal);
            check_callback_url(url, &backend.callback_policy, &hosts)?;
            Some(hosts)
        }
        None => None,
    };
    let key = idempotency_key(&request_headers)?;
    let fresh = uuid::Uuid::new_v4().simple().to_string();
    let id = job_id(&principal.tenant, key.as_deref(), &fresh);
    let now = now_ms();
    let mut record = prepare(
        submission,
        state.gateway.config(),
        &principal.tenant,
        id,
        now,
        backend.settings,
    )
    .map_err(|e| {
        state
            .gateway
            .config()
            .narrow_unknown(e, principal.allowed_models())
    })?;
    // The worker vets the callback against the same list again when it delivers.
    record.callback_hosts = allowed_callback_hosts;
    let submitter = JobSubmitter {
        store: &backend.store,
        queue: &backend.queue,
        controls: state.controls.as_deref(),
        config: state.gateway.config(),
    };
    let submitted = submitter
        .submit(&principal, record, key.is_some(), &fresh, now)
        .await?;
    let record = submitted.record;
    let mut response_headers = HeaderMap::new();
    headers::insert(&mut response_headers, headers::REQUEST_ID, &ctx.request_id);
    let location = format!("/v1/jobs/{}", record.job_id);
    headers::insert(&mut response_headers, "location", &location);
    let status = if submitted.replay {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let body = json!({"job_id": record.job_id, "status": record.status, "status_url": location});
    Ok((status, response_headers, Json(body)).into_response())
}

pub async fn status(
    State(state): State<SharedState>,
    Segment(job_id): Segment,
    ctx: RequestContext,
    principal: RequestPrincipal,
) -> Result<Response, Failure<Gateway>> {
    if job_id.len() > gateway::jobs::submit::MAX_JOB_ID_BYTES {
        return Err(GatewayError::InvalidRequest {
            field: Some("job_id".into()),
            message: format!(
                "job_id is at most {} bytes",
                gateway::jobs::submit::MAX_JOB_ID_BYTES
            ),
        }
        .into());
    }
    let backend = backend(&state)?;
    let not_found = || GatewayError::NotFound(format!("no job {job_id}"));
    let record = backend.store.get(&job_id).await?.ok_or_else(not_found)?;
    // Another tenant's job answers exactly like a missing one: ids are not an oracle.
    if record.tenant != principal.tenant || record.is_expired(now_ms()) {
        return Err(not_found().into());
    }
    let mut response_headers = HeaderMap::new();
    headers::insert(&mut response_headers, headers::REQUEST_ID, &ctx.request_id);
    Ok((response_headers, Json(record.public_view())).into_response())
}
