//! `POST /webhooks/{source}`: verify → parse → map (callback URL checked) → dedupe (source +
//! body hash, + the delivery id when signed) → the source's principal → [`JobSubmitter`]
//! (admit, create or replay, queue) → 202.
//!
//! Fast by construction: no model call here, only the signature check and a few small
//! DynamoDB/SQS writes; the worker does the rest, settles the charge and POSTs the result to
//! the callback.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::GatewayError;
use gateway::jobs::ORIGIN_WEBHOOK_PREFIX;
use gateway::jobs::submit::{job_id, prepare};
use gateway::jobs::submitter::{JobSubmitter, SubmitError};
use gateway::webhook::HeaderLookup;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::dedupe::{Claim, DedupeStore};
use crate::error::HandlerError;
use crate::mapping::submission;
use crate::request_id::RequestId;
use crate::state::SharedState;

/// Request headers for the signature schemes (`HeaderMap` lookups are case-insensitive).
struct Headers<'a>(&'a HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the sender is told on success: 202 for a new job, 200 for a duplicate.
struct Accepted {
    job_id: String,
    delivery_id: String,
    duplicate: bool,
}

pub async fn receive(
    State(state): State<SharedState>,
    Path(source): Path<String>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match accept(&state, &source, &headers, body).await {
        Ok(accepted) => {
            tracing::info!(
                request_id, source, delivery_id = %accepted.delivery_id, job_id = %accepted.job_id,
                duplicate = accepted.duplicate, "webhook accepted"
            );
            let (code, status) = if accepted.duplicate {
                (StatusCode::OK, "duplicate")
            } else {
                (StatusCode::ACCEPTED, "queued")
            };
            let body = json!({"job_id": accepted.job_id, "delivery_id": accepted.delivery_id, "status": status});
            let mut response = (code, Json(body)).into_response();
            if let Ok(value) = http::HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-request-id", value);
            }
            response
        }
        Err(error) => error.into_response(&request_id, &source),
    }
}

async fn accept(
    state: &SharedState,
    name: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Accepted, HandlerError> {
    let source = state
        .webhooks
        .sources
        .get(name)
        .ok_or_else(|| HandlerError::UnknownSource(name.to_owned()))?;
    let body = match body {
        Ok(body) if body.len() <= source.max_body_bytes => body,
        Err(rejection) if rejection.status() != StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(HandlerError::Unreadable);
        }
        _ => {
            return Err(HandlerError::TooLarge {
                limit: source.max_body_bytes,
            });
        }
    };

    let now_ms = state.now_ms();
    // Authenticate before reading anything the sender wrote.
    let delivery = source
        .signature
        .verify(&Headers(headers), &body, (now_ms / 1000) as i64)
        .map_err(HandlerError::Unauthenticated)?;
    let payload: Value =
        serde_json::from_slice(&body).map_err(|e| HandlerError::Malformed(e.to_string()))?;
    // Includes the callback URL's checks (static SSRF policy and the source's host list).
    let submit = submission(source, &payload, &state.callback_policy)?;

    // One job per delivery, whatever happens to the dedupe record: the id is derived from
    // what identifies the delivery, which binds the body.
    let key = DedupeStore::delivery_key(&delivery, &body);
    let id = job_id(&source.tenant, Some(&format!("webhook/{name}/{key}")), "");
    let mut record = prepare(
        submit,
        &state.gateway,
        &source.tenant,
        id.clone(),
        now_ms,
        state.job_settings,
    )?;
    record.callback_hosts = source.callback_hosts.clone();
    record.origin = Some(format!("{ORIGIN_WEBHOOK_PREFIX}{name}"));
    // After the request hash: a redelivery under another id is still the same request.
    record.metadata.insert(
        "webhook_delivery_id".to_owned(),
        delivery.delivery_id.clone(),
    );

    let claim = state
        .dedupe
        .claim(name, &key, &id, now_ms, state.webhooks.dedupe_ttl_secs)
        .await?;
    if let Claim::Seen {
        accepted: true,
        job_id,
    } = claim
    {
        return Ok(Accepted {
            job_id,
            delivery_id: delivery.delivery_id,
            duplicate: true,
        });
    }

    let principal = state
        .controls
        .service_principal(&source.tenant, source.key_id.as_deref(), now_ms)
        .await
        .map_err(refused)?;
    let submitter = JobSubmitter {
        store: &state.jobs,
        queue: &state.queue,
        controls: Some(&state.controls),
        config: &state.gateway,
    };
    let submit_id = uuid::Uuid::new_v4().simple().to_string();
    // Replayable: a job an earlier attempt created (and may not have queued) is found and
    // queued again, not admitted twice; the worker ignores duplicate messages.
    let submitted = submitter
        .submit(&principal, record, true, &submit_id, state.now_ms())
        .await
        .map_err(|error| match error {
            SubmitError::Refused(refusal) => refused(refusal.error),
            SubmitError::Failed(GatewayError::Conflict(_)) => HandlerError::Conflict,
            SubmitError::Failed(error) => error.into(),
        })?;
    state
        .dedupe
        .mark_accepted(name, &key, state.now_ms())
        .await?;
    Ok(Accepted {
        job_id: submitted.record.job_id,
        delivery_id: delivery.delivery_id,
        duplicate: submitted.replay,
    })
}

/// A refusal of the controls: limits and budgets, the key's allow-lists, or a principal
/// that cannot be used; a store failure stays an internal error.
fn refused(error: GatewayError) -> HandlerError {
    match error {
        GatewayError::Internal(_) => error.into(),
        other => HandlerError::Refused(other),
    }
}

pub async fn not_found(RequestId(request_id): RequestId) -> Response {
    let body = json!({"error": {"code": "not_found", "message": "POST /webhooks/{source}", "request_id": request_id}});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
