//! Why a callback URL was refused.
//!
//! Display texts never include resolved addresses: telling a client that its host resolved
//! to 10.0.0.5 would turn the API into an oracle for internal DNS. The variants keep the
//! address for our own logs.

use std::io;
use std::net::IpAddr;

#[derive(Debug, thiserror::Error)]
pub enum SsrfError {
    #[error("callback URL is not a valid absolute URL: {0}")]
    InvalidUrl(#[from] url::ParseError),
    #[error("callback URL scheme `{0}` is not allowed")]
    SchemeNotAllowed(String),
    #[error("callback URL must not contain credentials")]
    CredentialsNotAllowed,
    #[error("callback URL has no host")]
    MissingHost,
    #[error("callback URL port {0} is not allowed")]
    PortNotAllowed(u16),
    #[error("callback host `{0}` is not in the allow-list")]
    HostNotAllowed(String),
    #[error("callback address is not publicly routable")]
    ForbiddenAddress(IpAddr),
    #[error("callback host has no addresses")]
    NoAddresses,
    #[error("callback host could not be resolved")]
    Resolution(#[source] io::Error),
}

impl SsrfError {
    /// Every refusal is the client's URL; 400 whether found at submit or delivery time.
    pub fn status_code(&self) -> u16 {
        400
    }

    /// Only a failed lookup may succeed later; a forbidden URL stays forbidden.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Resolution(_))
    }

    /// Stable machine-readable code for responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl(_) => "callback_invalid_url",
            Self::SchemeNotAllowed(_) => "callback_scheme_not_allowed",
            Self::CredentialsNotAllowed => "callback_credentials_not_allowed",
            Self::MissingHost => "callback_missing_host",
            Self::PortNotAllowed(_) => "callback_port_not_allowed",
            Self::HostNotAllowed(_) => "callback_host_not_allowed",
            Self::ForbiddenAddress(_) => "callback_forbidden_address",
            Self::NoAddresses => "callback_no_addresses",
            Self::Resolution(_) => "callback_resolution_failed",
        }
    }
}
