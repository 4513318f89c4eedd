//! Failures as the resilience policies see them. Adapters and handlers map their errors to
//! an `ErrorClass`; retry, breaker and fallback decide from the class alone.

use crate::error::{GatewayError, UpstreamKind};
use std::time::Duration;

/// What kind of failure an attempt ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// 429 / ThrottlingException. `retry_after` is the server's hint, if it sent one.
    Throttled { retry_after: Option<Duration> },
    /// 5xx from the service or the model (InternalServer, ModelError, a broken stream).
    ServerError,
    /// ModelNotReadyException: the model is loading; it will answer soon.
    ModelNotReady,
    /// ModelTimeoutException or our own per-attempt timeout.
    ModelTimeout,
    /// ServiceUnavailableException / 503.
    Unavailable,
    /// No HTTP response: connect, TLS or read failure.
    Network,
    /// A service quota (e.g. tokens per day) is used up for this model in this region.
    QuotaExceeded,
    /// Our own breaker refused the target; no call was made.
    CircuitOpen,
    /// The request itself is wrong; no model or region will accept it.
    Validation,
    /// The gateway may not call this model (model access not granted, IAM).
    AccessDenied,
    /// The model id does not exist (in this region).
    NotFound,
    /// Anything else: not retried, not fallen over, so surprises surface instead of looping.
    Other,
}

impl ErrorClass {
    /// Whether the same target may be tried again. `ModelTimeout` is retryable only while time
    /// remains; the retry loop checks that, because only it knows the deadline.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. }
                | Self::ServerError
                | Self::ModelNotReady
                | Self::ModelTimeout
                | Self::Unavailable
                | Self::Network
        )
    }

    /// Whether a fallback chain should move on to its next target. Access and not-found
    /// errors are about the target (model not enabled or not offered in that region), so
    /// another target may work; validation errors are about the request, so none will.
    pub fn falls_over(&self) -> bool {
        !matches!(self, Self::Validation | Self::Other)
    }

    /// Whether the failure says something about the target's health and so counts in its
    /// circuit breaker. Validation is the caller's fault; `CircuitOpen` made no call.
    pub fn counts_against_breaker(&self) -> bool {
        !matches!(self, Self::Validation | Self::CircuitOpen)
    }

    /// The server's Retry-After hint, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A stable label for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Throttled { .. } => "throttled",
            Self::ServerError => "server_error",
            Self::ModelNotReady => "model_not_ready",
            Self::ModelTimeout => "model_timeout",
            Self::Unavailable => "unavailable",
            Self::Network => "network",
            Self::QuotaExceeded => "quota_exceeded",
            Self::CircuitOpen => "circuit_open",
            Self::Validation => "validation",
            Self::AccessDenied => "access_denied",
            Self::NotFound => "not_found",
            Self::Other => "other",
        }
    }
}

impl ErrorClass {
    /// The class of the gateway's own error type. A plain fn (not only `From`) so it can be
    /// passed straight to the retry loop: `policy.run(ctx, attempt, ErrorClass::of)`.
    pub fn of(error: &GatewayError) -> Self {
        match error {
            GatewayError::Upstream {
                kind, retry_after, ..
            } => match kind {
                UpstreamKind::Throttled => Self::Throttled {
                    retry_after: *retry_after,
                },
                UpstreamKind::ModelNotReady => Self::ModelNotReady,
                UpstreamKind::ModelTimeout => Self::ModelTimeout,
                UpstreamKind::ModelError
                | UpstreamKind::InternalServer
                | UpstreamKind::StreamError => Self::ServerError,
                UpstreamKind::ServiceUnavailable => Self::Unavailable,
                UpstreamKind::AccessDenied => Self::AccessDenied,
                UpstreamKind::ResourceNotFound => Self::NotFound,
                UpstreamKind::Validation => Self::Validation,
                UpstreamKind::Network => Self::Network,
            },
            GatewayError::InvalidRequest { .. } | GatewayError::PayloadTooLarge { .. } => {
                Self::Validation
            }
            // The gateway's own limits, auth and bugs are not the model's fault: never retried.
            _ => Self::Other,
        }
    }
}

impl From<&GatewayError> for ErrorClass {
    fn from(error: &GatewayError) -> Self {
        Self::of(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_retry_and_request_errors_do_not() {
        for class in [
            ErrorClass::Throttled { retry_after: None },
            ErrorClass::ServerError,
            ErrorClass::ModelNotReady,
            ErrorClass::ModelTimeout,
            ErrorClass::Unavailable,
            ErrorClass::Network,
        ] {
            assert!(class.is_retryable(), "{class:?}");
            assert!(class.falls_over(), "{class:?}");
        }
        for class in [
            ErrorClass::Validation,
            ErrorClass::AccessDenied,
            ErrorClass::NotFound,
            ErrorClass::CircuitOpen,
            ErrorClass::QuotaExceeded,
            ErrorClass::Other,
        ] {
            assert!(!class.is_retryable(), "{class:?}");
        }
    }

    #[test]
    fn validation_never_falls_over_but_open_circuit_does() {
        assert!(!ErrorClass::Validation.falls_over());
        assert!(ErrorClass::CircuitOpen.falls_over());
        assert!(ErrorClass::QuotaExceeded.falls_over());
        assert!(!ErrorClass::CircuitOpen.counts_against_breaker());
        assert!(!ErrorClass::Validation.counts_against_breaker());
        assert!(ErrorClass::Throttled { retry_after: None }.counts_against_breaker());
    }

    #[test]
    fn gateway_errors_map_to_classes_with_their_hint() {
        let throttled = GatewayError::Upstream {
            kind: UpstreamKind::Throttled,
            message: String::new(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            ErrorClass::from(&throttled),
            ErrorClass::Throttled {
                retry_after: Some(Duration::from_secs(2))
            }
        );
        assert_eq!(
            ErrorClass::from(&GatewayError::invalid("x", "bad")),
            ErrorClass::Validation
        );
        assert_eq!(
            ErrorClass::from(&GatewayError::Internal("bug".into())),
            ErrorClass::Other
        );
    }
}
