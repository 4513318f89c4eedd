//! Why a delivery or a signature configuration was refused.
//!
//! Messages name headers and reasons only: never a secret, a signature value or the body,
//! because these errors end up in logs and (by code) in responses to untrusted senders.

/// A refused inbound delivery, or an unusable signature configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A header the scheme needs is absent. Carries the (lowercase) header name.
    #[error("missing header `{0}`")]
    MissingHeader(String),
    /// A header is present but cannot be read (e.g. a non-numeric timestamp, an oversized id).
    #[error("malformed header `{0}`")]
    MalformedHeader(String),
    /// No signature in the request matches any configured secret.
    #[error("signature does not match")]
    BadSignature,
    /// The signed timestamp is outside the tolerance window (replay protection).
    #[error("timestamp outside the allowed tolerance")]
    StaleTimestamp,
    /// A configured secret is unusable. The reason is a fixed text, never the secret.
    #[error("invalid webhook secret: {0}")]
    InvalidSecret(&'static str),
    /// The scheme configuration is unusable (e.g. no secrets, empty header name).
    #[error("invalid webhook signature config: {0}")]
    InvalidConfig(&'static str),
}

impl WebhookError {
    /// HTTP status for the sender: 400 for malformed requests, 401 for failed authentication,
    /// 500 for our own misconfiguration (which should have failed at cold start anyway).
    pub fn status_code(&self) -> u16 {
        match self {
            Self::MissingHeader(_) | Self::MalformedHeader(_) => 400,
            Self::BadSignature | Self::StaleTimestamp => 401,
            Self::InvalidSecret(_) | Self::InvalidConfig(_) => 500,
        }
    }

    /// Stable machine-readable code for responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "webhook_missing_header",
            Self::MalformedHeader(_) => "webhook_malformed_header",
            Self::BadSignature => "webhook_bad_signature",
            Self::StaleTimestamp => "webhook_stale_timestamp",
            Self::InvalidSecret(_) => "webhook_invalid_secret",
            Self::InvalidConfig(_) => "webhook_invalid_config",
        }
    }
}
