//! Why a delivery was not accepted: one enum, its status, stable code and outward body in
//! one place. Logged once with the request id and source; never with the body or a secret.

use axum::Json;
use axum::response::{IntoResponse, Response};
use gateway::GatewayError;
use gateway::webhook::{SsrfError, WebhookError};
use http::StatusCode;
use serde_json::json;

use crate::template::MissingField;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("no webhook source named `{0}`")]
    UnknownSource(String),
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the body could not be read")]
    Unreadable,
    /// Missing, malformed or wrong signature headers, or a stale timestamp.
    #[error("{0}")]
    Unauthenticated(WebhookError),
    #[error("the body is not JSON: {0}")]
    Malformed(String),
    #[error("{0}")]
    MissingField(#[from] MissingField),
    #[error("{0}")]
    CallbackRefused(#[from] SsrfError),
    /// The payload made a model request the gateway refuses (e.g. too large, bad config).
    #[error("{0}")]
    Invalid(GatewayError),
    #[error("this delivery id was already used with a different payload")]
    Conflict,
    /// The source's principal may not run this job now: a rate limit or budget (429, so the
    /// sender's retry policy delivers it again later) or its key's allow-lists (403).
    #[error("{0}")]
    Refused(GatewayError),
    /// Storage, queue or our own configuration: the sender should retry later.
    #[error("internal error")]
    Internal(String),
}

impl From<GatewayError> for HandlerError {
    fn from(error: GatewayError) -> Self {
        match error.status_code() {
            400 | 413 => Self::Invalid(error),
            _ => Self::Internal(format!("{}: {error:?}", error.code())),
        }
    }
}

impl HandlerError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownSource(_) => StatusCode::NOT_FOUND,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthenticated(e) if e.status_code() >= 500 => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Unreadable
            | Self::Malformed(_)
            | Self::MissingField(_)
            | Self::CallbackRefused(_) => StatusCode::BAD_REQUEST,
            Self::Invalid(e) => {
                StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            Self::Conflict => StatusCode::CONFLICT,
            // Every sender retries a 429; a budget is exhausted until its period rolls over
            // or an operator raises it, and then the retried delivery goes through.
            Self::Refused(GatewayError::RateLimited { .. } | GatewayError::BudgetExceeded(_)) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Refused(e) => {
                StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::FORBIDDEN)
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownSource(_) => "unknown_source",
            Self::TooLarge { .. } => "payload_too_large",
            Self::Unreadable => "unreadable_body",
            Self::Unauthenticated(e) => e.code(),
            Self::Malformed(_) => "malformed_payload",
            Self::MissingField(_) => "payload_missing_field",
            Self::CallbackRefused(e) => e.code(),
            Self::Invalid(e) => e.code(),
            Self::Conflict => "delivery_conflict",
            Self::Refused(e) => e.code(),
            Self::Internal(_) => "internal_error",
        }
    }

    /// What the sender is told: fixed texts for authentication failures (which part of the
    /// signature failed is in the code, enough to debug a clock skew, nothing to probe with).
    fn public_message(&self) -> String {
        match self {
            Self::Unauthenticated(_) => "the delivery's signature could not be verified".to_owned(),
            Self::Invalid(e) | Self::Refused(e) => e.public_message(),
            other => other.to_string(),
        }
    }

    pub fn into_response(self, request_id: &str, source: &str) -> Response {
        let status = self.status();
        let detail = match &self {
            Self::Internal(detail) => detail.as_str(),
            _ => "",
        };
        if status.is_server_error() {
            tracing::error!(
                request_id,
                source,
                status = status.as_u16(),
                code = self.code(),
                detail,
                "webhook failed"
            );
        } else {
            tracing::warn!(
                request_id,
                source,
                status = status.as_u16(),
                code = self.code(),
                "webhook refused"
            );
        }
        let body = json!({"error": {"code": self.code(), "message": self.public_message(), "request_id": request_id}});
        let mut response = (status, Json(body)).into_response();
        if let Ok(value) = http::HeaderValue::from_str(request_id) {
            response.headers_mut().insert("x-request-id", value);
        }
        if let Self::Refused(e) = &self
            && let Some(after) = e.retry_after()
        {
            response.headers_mut().insert(
                "retry-after",
                http::HeaderValue::from(after.as_secs().max(1)),
            );
        }
        response
    }
}
