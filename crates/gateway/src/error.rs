//! The one error type of the gateway's rules. Every failure a caller can see is a variant here;
//! its status, stable code, retryability and outward message are decided in this file only, and
//! the HTTP layer renders it in the caller's dialect (gateway JSON, OpenAI, or Bedrock's wire).

use std::time::Duration;

/// What went wrong upstream, as the gateway classifies a Bedrock failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    Throttled,
    ModelNotReady,
    ModelTimeout,
    ModelError,
    ServiceUnavailable,
    InternalServer,
    AccessDenied,
    ResourceNotFound,
    Validation,
    /// The stream broke while it was being read (a `modelStreamErrorException` or similar).
    StreamError,
    /// No HTTP response: connect or read failure, or our own attempt timeout.
    Network,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    /// The request body or a parameter is wrong. `field` is the JSON path of the offending field.
    #[error("{message}")]
    InvalidRequest {
        field: Option<String>,
        message: String,
    },

    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },

    #[error("model '{model}' is not available; allowed: {}", allowed.join(", "))]
    UnknownModel { model: String, allowed: Vec<String> },

    #[error("{0}")]
    NotFound(String),

    #[error("{0}")]
    Conflict(String),

    #[error("missing or invalid credentials")]
    Unauthenticated,

    #[error("{0}")]
    Forbidden(String),

    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },

    #[error("{0}")]
    BudgetExceeded(String),

    /// Bedrock answered with an error (or could not be reached). `message` is safe to show:
    /// adapters put Bedrock's own message only where Bedrock addresses it to the caller.
    #[error("{message}")]
    Upstream {
        kind: UpstreamKind,
        message: String,
        retry_after: Option<Duration>,
    },

    /// Every target of the route failed or was unavailable and nothing could be served from cache.
    #[error("no model could serve the request: {0}")]
    AllTargetsFailed(String),

    /// A bug or an unexpected state. The detail goes to the log, never to the client.
    #[error("internal error")]
    Internal(String),
}

impl GatewayError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn status_code(&self) -> u16 {
        match self {
            Self::InvalidRequest { .. } | Self::UnknownModel { .. } => 400,
            Self::Unauthenticated => 401,
            Self::BudgetExceeded(_) => 402,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::RateLimited { .. } => 429,
            Self::Upstream { kind, .. } => match kind {
                UpstreamKind::Throttled => 429,
                UpstreamKind::Validation => 400,
                UpstreamKind::ModelTimeout => 504,
                UpstreamKind::ModelNotReady | UpstreamKind::ServiceUnavailable => 503,
                UpstreamKind::ModelError
                | UpstreamKind::InternalServer
                | UpstreamKind::AccessDenied
                | UpstreamKind::ResourceNotFound
                | UpstreamKind::StreamError
                | UpstreamKind::Network => 502,
            },
            Self::AllTargetsFailed(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// A stable, documented code callers can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid_request",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnknownModel { .. } => "unknown_model",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::RateLimited { .. } => "rate_limited",
            Self::BudgetExceeded(_) => "budget_exceeded",
            Self::Upstream { kind, .. } => match kind {
                UpstreamKind::Throttled => "model_throttled",
                UpstreamKind::ModelNotReady => "model_not_ready",
                UpstreamKind::ModelTimeout => "model_timeout",
                UpstreamKind::ModelError => "model_error",
                UpstreamKind::ServiceUnavailable => "model_unavailable",
                UpstreamKind::InternalServer => "upstream_error",
                UpstreamKind::AccessDenied => "upstream_access_denied",
                UpstreamKind::ResourceNotFound => "upstream_not_found",
                UpstreamKind::Validation => "invalid_request",
                UpstreamKind::StreamError => "stream_error",
                UpstreamKind::Network => "upstream_unreachable",
            },
            Self::AllTargetsFailed(_) => "all_models_failed",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The message shown to the client. Internal details never leave the process.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "internal error".to_owned(),
            Self::Upstream {
                kind: UpstreamKind::AccessDenied,
                ..
            } => "the gateway is not permitted to call this model".to_owned(),
            other => other.to_string(),
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { field, .. } => field.as_deref(),
            Self::UnknownModel { .. } => Some("modelId"),
            _ => None,
        }
    }

    /// The Retry-After a client should honour, when the condition is temporary.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Upstream {
                retry_after, kind, ..
            } => match kind {
                UpstreamKind::Throttled => Some(retry_after.unwrap_or(Duration::from_secs(1))),
                _ => *retry_after,
            },
            Self::AllTargetsFailed(_) => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// The exception name Bedrock's own API would use, for the wire-compatible routes, so an
    /// AWS SDK pointed at the gateway maps the error to the variant it knows.
    pub fn bedrock_error_type(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. }
            | Self::UnknownModel { .. }
            | Self::PayloadTooLarge { .. }
            | Self::Conflict(_) => "ValidationException",
            Self::NotFound(_) => "ResourceNotFoundException",
            Self::Unauthenticated | Self::Forbidden(_) | Self::BudgetExceeded(_) => {
                "AccessDeniedException"
            }
            Self::RateLimited { .. } => "ThrottlingException",
            Self::Upstream { kind, .. } => match kind {
                UpstreamKind::Throttled => "ThrottlingException",
                UpstreamKind::ModelNotReady => "ModelNotReadyException",
                UpstreamKind::ModelTimeout => "ModelTimeoutException",
                UpstreamKind::ModelError => "ModelErrorException",
                UpstreamKind::ServiceUnavailable | UpstreamKind::Network => {
                    "ServiceUnavailableException"
                }
                UpstreamKind::InternalServer => "InternalServerException",
                UpstreamKind::AccessDenied => "AccessDeniedException",
                UpstreamKind::ResourceNotFound => "ResourceNotFoundException",
                UpstreamKind::Validation => "ValidationException",
                UpstreamKind::StreamError => "ModelStreamErrorException",
            },
            Self::AllTargetsFailed(_) => "ServiceUnavailableException",
            Self::Internal(_) => "InternalServerException",
        }
    }

    /// The HTTP status Bedrock itself uses with `bedrock_error_type`.
    /// A too-large body keeps its 413: the SDKs map by the error-type header, not the status.
    pub fn bedrock_status(&self) -> u16 {
        if let Self::PayloadTooLarge { .. } = self {
            return 413;
        }
        match self.bedrock_error_type() {
            "ValidationException" => 400,
            "AccessDeniedException" => 403,
            "ResourceNotFoundException" => 404,
            "ModelTimeoutException" => 408,
            "ModelErrorException" | "ModelStreamErrorException" => 424,
            "ThrottlingException" | "ModelNotReadyException" => 429,
            "ServiceUnavailableException" => 503,
            _ => 500,
        }
    }

    /// The in-stream exception name (`:exception-type`) for an error that ends a stream.
    pub fn bedrock_stream_exception(&self) -> &'static str {
        match self.bedrock_error_type() {
            "ThrottlingException" => "throttlingException",
            "ValidationException" => "validationException",
            "ServiceUnavailableException" => "serviceUnavailableException",
            "ModelStreamErrorException" | "ModelErrorException" | "ModelTimeoutException" => {
                "modelStreamErrorException"
            }
            _ => "internalServerException",
        }
    }

    /// The OpenAI error `type` for the OpenAI-compatible routes.
    pub fn openai_type(&self) -> &'static str {
        match self.status_code() {
            400 | 404 | 409 | 413 => "invalid_request_error",
            401 => "authentication_error",
            402 => "insufficient_quota",
            403 => "permission_error",
            429 => "rate_limit_error",
            _ => "api_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_detail_never_reaches_the_public_message() {
        let err = GatewayError::Internal("connection pool poisoned at 0xdeadbeef".into());
        assert_eq!(err.public_message(), "internal error");
        assert_eq!(err.status_code(), 500);
    }

    #[test]
    fn throttling_is_429_with_a_retry_after_and_bedrock_name() {
        let err = GatewayError::Upstream {
            kind: UpstreamKind::Throttled,
            message: "slow down".into(),
            retry_after: None,
        };
        assert_eq!(err.status_code(), 429);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(err.bedrock_error_type(), "ThrottlingException");
        assert_eq!(err.bedrock_status(), 429);
        assert_eq!(err.openai_type(), "rate_limit_error");
    }

    #[test]
    fn upstream_kinds_map_to_the_documented_statuses() {
        let status = |kind| {
            GatewayError::Upstream {
                kind,
                message: String::new(),
                retry_after: None,
            }
            .status_code()
        };
        assert_eq!(status(UpstreamKind::ModelTimeout), 504);
        assert_eq!(status(UpstreamKind::ModelError), 502);
        assert_eq!(status(UpstreamKind::ServiceUnavailable), 503);
        assert_eq!(status(UpstreamKind::AccessDenied), 502);
        assert_eq!(status(UpstreamKind::Validation), 400);
    }

    #[test]
    fn access_denied_upstream_gets_a_safe_message() {
        let err = GatewayError::Upstream {
            kind: UpstreamKind::AccessDenied,
            message: "User arn:aws:iam::123:role/x is not authorized".into(),
            retry_after: None,
        };
        assert!(!err.public_message().contains("arn:aws"));
    }

    #[test]
    fn unknown_model_names_the_field_and_lists_allowed() {
        let err = GatewayError::UnknownModel {
            model: "gpt-9".into(),
            allowed: vec!["a".into(), "b".into()],
        };
        assert_eq!(err.field(), Some("modelId"));
        assert!(err.public_message().contains("allowed: a, b"));
    }
}
