//! `POST /v1/jobs` (validate, record `QUEUED` under a condition, enqueue, 202) and
//! `GET /v1/jobs/{id}` (only for its owner).
//!
//! Before anything is admitted or queued: reserved metadata keys are refused, and a callback
//! URL must be on the key's (else the tenant's) callback host allow-list and pass the
//! deployment's static SSRF checks; a job record too large to finish is refused with 413.

use super::Segment;
use crate::app::{JobsBackend, SharedState};
use crate::body::read_json;
use crate::context::RequestContext;
use crate::controls::call::Refused;
use crate::error_response::{ApiError, Dialect};
use crate::headers;
use crate::principal::Principal;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::GatewayError;
use gateway::controls::estimate;
use gateway::controls::{Admission, CallPlan, RouteClass};
use gateway::jobs::intake::{check_callback_url, check_caller_metadata};
use gateway::jobs::submit::{job_id, prepare};
use gateway::jobs::{Created, JobQueue, JobRecord, JobStatus, JobStore, SubmitJob};
use http::{HeaderMap, StatusCode};
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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

/// A key's model allow-list applies to the model a job will call.
fn check_model_allowed(
    state: &SharedState,
    principal: &Principal,
    submission: &SubmitJob,
) -> Result<(), GatewayError> {
    let name = submission
        .converse
        .as_ref()
        .and_then(|c| c.model_id.clone())
        .or_else(|| {
            submission
                .chat
                .as_ref()
                .and_then(|c| c.get("model"))
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        });
    let Some(name) = name else { return Ok(()) };
    // An unknown model is refused by `prepare` with the list of allowed ones; a model the
    // key may not use (whatever the name reaches: alias, group, `auto`) is a 403 here.
    match gateway::controls::models::resolve(
        state.gateway.config(),
        &name,
        principal.allowed_models(),
    ) {
        Err(error @ GatewayError::Forbidden(_)) => Err(error),
        _ => Ok(()),
    }
}

/// The hosts the principal's jobs may call back: its key's list, else its tenant's; empty
/// (callbacks refused) for callers with neither.
fn callback_hosts(principal: &Principal) -> Vec<String> {
    let key = principal.key.as_ref().map(|k| &k.callback_hosts);
    let tenant = principal.tenant_policy.as_ref().map(|t| &t.callback_hosts);
    key.filter(|hosts| !hosts.is_empty())
        .or(tenant)
        .cloned()
        .unwrap_or_default()
}

/// With controls on, the job's model call is admitted at submit like a direct call (rate
/// limits and budgets; a refusal creates nothing), and what it reserved travels on the
/// record for the worker to settle. `None` with controls off.
async fn admit(
    state: &SharedState,
    principal: &Principal,
    record: &JobRecord,
) -> Result<Option<Admission>, Refused> {
    let Some(controls) = &state.controls else {
        return Ok(None);
    };
    let (name, request) = record.call()?;
    let config = state.gateway.config();
    let plan = CallPlan {
        route: RouteClass::Jobs,
        model: gateway::controls::models::resolve(config, &name, principal.allowed_models())?,
        estimate: estimate::converse(&request, &config.controls.estimate)?,
        cache: None,
    };
    match controls.admit(principal, plan, now_ms()).await {
        Ok(admission) => Ok(Some(admission)),
        Err(refusal) => Err(refusal.into()),
    }
}

/// An earlier submit's job, if it was for the same request.
fn same_request(existing: JobRecord, record: &JobRecord) -> Result<JobRecord, GatewayError> {
    if existing.request_hash == record.request_hash {
        Ok(existing)
    } else {
        Err(GatewayError::Conflict(
            "this Idempotency-Key was already used with a different request".into(),
        ))
    }
}

/// Gives a reservation back when its job was not created by this submit.
async fn release(state: &SharedState, admission: Option<&Admission>) {
    if let (Some(controls), Some(admission)) = (&state.controls, admission) {
        controls.release(admission).await;
    }
}

/// Admits the job (with controls on) and creates its record carrying the reservation;
/// `true` when an earlier submit with the same key created the job meanwhile.
async fn create_admitted(
    state: &SharedState,
    backend: &JobsBackend,
    principal: &Principal,
    mut record: JobRecord,
    submit_id: &str,
) -> Result<(JobRecord, bool), Refused> {
    let admission = admit(state, principal, &record).await?;
    record.charge = admission.as_ref().map(|a| a.charge(submit_id));
    // Whether a stored record is this submit's own write (the SDK retried a create whose
    // response was lost): then the reservation is the record's and must not be given back.
    let own_write = |stored: &JobRecord| stored.charge.is_some() && stored.charge == record.charge;
    Ok(match backend.store.create(&record).await {
        Ok(Created::New) => (record, false),
        Ok(Created::Existing(existing)) if own_write(&existing) => (record, false),
        Ok(Created::Existing(existing)) => {
            // A concurrent submit with the same key won: its reservation stands.
            release(state, admission.as_ref()).await;
            (same_request(*existing, &record)?, true)
        }
        Err(error) => {
            // The write may have landed before the error: look before giving back.
            match backend.store.get(&record.job_id).await {
                Ok(Some(stored)) if own_write(&stored) => (record, false),
                _ => {
                    release(state, admission.as_ref()).await;
                    return Err(error.into());
                }
            }
        }
    })
}

pub async fn submit(
    State(state): State<SharedState>,
    ctx: RequestContext,
    principal: Principal,
    request_headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let backend = backend(&state)?;
        let submission: SubmitJob = read_json(body, state.body_limit())?;
        check_model_allowed(&state, &principal, &submission)?;
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
        let mut record = prepare(
            submission,
            state.gateway.config(),
            &principal.tenant,
            id,
            now_ms(),
            backend.settings,
        )?;
        // The worker vets the callback against the same list again when it delivers.
        record.callback_hosts = allowed_callback_hosts;
        record.allowed_models = principal
            .key
            .as_ref()
            .map(|k| k.allowed_models.clone())
            .unwrap_or_default();
        // A retry with the same Idempotency-Key gets its job back before anything is admitted:
        // a limit reached since the first submit must not refuse it.
        let stored = match key {
            Some(_) => backend.store.get(&record.job_id).await?,
            None => None,
        };
        let (record, replay) = match stored {
            Some(existing) => (same_request(existing, &record)?, true),
            None => create_admitted(&state, backend, &principal, record, &fresh).await?,
        };
        // A replay re-sends the message while the job is still queued: if the first submit's
        // enqueue failed, this is what gets the job going (its reservation stays counted
        // meanwhile: never an overspend). The worker ignores duplicates.
        if record.status == JobStatus::Queued {
            backend
                .queue
                .enqueue(&record.message(), Duration::ZERO)
                .await?;
        }
        Ok::<_, Refused>((record, replay))
    }
    .await;
    match result {
        Ok((record, replay)) => {
            let mut response_headers = HeaderMap::new();
            headers::insert(&mut response_headers, headers::REQUEST_ID, &ctx.request_id);
            let location = format!("/v1/jobs/{}", record.job_id);
            headers::insert(&mut response_headers, "location", &location);
            let status = if replay {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            let body =
                json!({"job_id": record.job_id, "status": record.status, "status_url": location});
            (status, response_headers, Json(body)).into_response()
        }
        Err(refused) => refused.into_response(Dialect::Gateway, &ctx.request_id),
    }
}

pub async fn status(
    State(state): State<SharedState>,
    Segment(job_id): Segment,
    ctx: RequestContext,
    principal: Principal,
) -> Response {
    let result = async {
        let backend = backend(&state)?;
        let not_found = || GatewayError::NotFound(format!("no job {job_id}"));
        let record = backend.store.get(&job_id).await?.ok_or_else(not_found)?;
        // Another tenant's job answers exactly like a missing one: ids are not an oracle.
        if record.tenant != principal.tenant || record.is_expired(now_ms()) {
            return Err(not_found());
        }
        Ok(record.public_view())
    }
    .await;
    match result {
        Ok(view) => {
            let mut response_headers = HeaderMap::new();
            headers::insert(&mut response_headers, headers::REQUEST_ID, &ctx.request_id);
            (response_headers, Json(view)).into_response()
        }
        Err(error) => ApiError::new(error, Dialect::Gateway, &ctx.request_id).into_response(),
    }
}
