//! `POST /webhooks/{source}`: verify → parse → map → dedupe → job → queue → 202.
//!
//! Fast by construction: no model call here, only the signature check and four small
//! DynamoDB/SQS writes; the worker does the rest and POSTs the result to the callback.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gateway::jobs::submit::{job_id, prepare};
use gateway::jobs::{Created, JobQueue, JobStatus, JobStore};
use gateway::webhook::HeaderLookup;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use crate::app::SharedState;
use crate::dedupe::Claim;
use crate::error::HandlerError;
use crate::mapping::submission;
use crate::request_id::RequestId;

/// Request headers for the signature schemes (`HeaderMap` lookups are case-insensitive).
struct Headers<'a>(&'a HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the sender is told on success.
struct Accepted {
    status: StatusCode,
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
            let status = if accepted.duplicate {
                "duplicate"
            } else {
                "queued"
            };
            let body = json!({"job_id": accepted.job_id, "delivery_id": accepted.delivery_id, "status": status});
            let mut response = (accepted.status, Json(body)).into_response();
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
        Ok(body) if body.len() > source.max_body_bytes => {
            return Err(HandlerError::TooLarge {
                limit: source.max_body_bytes,
            });
        }
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(HandlerError::TooLarge {
                limit: source.max_body_bytes,
            });
        }
        Err(_) => return Err(HandlerError::Unreadable),
    };

    let now_ms = state.now_ms();
    // Authenticate before reading anything the sender wrote.
    let delivery = source
        .signature
        .verify(&Headers(headers), &body, (now_ms / 1000) as i64)
        .map_err(HandlerError::Unauthenticated)?;
    let payload: Value =
        serde_json::from_slice(&body).map_err(|e| HandlerError::Malformed(e.to_string()))?;
    let submit = submission(
        source,
        &payload,
        &delivery.delivery_id,
        &state.callback_policy,
    )?;

    // One job per delivery, whatever happens to the dedupe record: the id is derived from it.
    let id = job_id(
        &source.tenant,
        Some(&format!("webhook/{name}/{}", delivery.delivery_id)),
        "",
    );
    let mut record = prepare(
        submit,
        &state.gateway,
        &source.tenant,
        id.clone(),
        now_ms,
        state.job_settings,
    )?;
    record.callback_hosts = source.callback_hosts.clone();

    let claim = state
        .dedupe
        .claim(
            name,
            &delivery.delivery_id,
            &id,
            now_ms,
            state.webhooks.dedupe_ttl_secs,
        )
        .await?;
    if let Claim::Seen {
        accepted: true,
        job_id,
    } = claim
    {
        return Ok(Accepted {
            status: StatusCode::OK,
            job_id,
            delivery_id: delivery.delivery_id,
            duplicate: true,
        });
    }
    let (record, duplicate) = match state.jobs.create(&record).await? {
        Created::New => (record, false),
        Created::Existing(existing) if existing.request_hash == record.request_hash => {
            (*existing, true)
        }
        Created::Existing(_) => return Err(HandlerError::Conflict),
    };
    // Also for a job an earlier attempt created but may not have queued; the worker ignores
    // duplicate messages.
    if record.status == JobStatus::Queued {
        state
            .queue
            .enqueue(&record.message(), Duration::ZERO)
            .await?;
    }
    state
        .dedupe
        .mark_accepted(name, &delivery.delivery_id, state.now_ms())
        .await?;
    Ok(Accepted {
        status: if duplicate {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        },
        job_id: record.job_id,
        delivery_id: delivery.delivery_id,
        duplicate,
    })
}

pub async fn not_found(RequestId(request_id): RequestId) -> Response {
    let body = json!({"error": {"code": "not_found", "message": "POST /webhooks/{source}", "request_id": request_id}});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
