//! Webhook rules: proving an inbound delivery came from its source ([`signature`]), signing
//! our own outbound callbacks the same way, and refusing callback URLs that would make the
//! gateway reach into private networks ([`ssrf`]).
//!
//! Pure logic: no network I/O. DNS resolution is injected through [`ssrf::Resolver`], and
//! the HTTP client adapter that delivers callbacks lives outside this crate.

pub mod signature;
pub mod ssrf;

pub use signature::{
    HeaderLookup, SecretKey, SignatureScheme, VerifiedDelivery, WebhookError, sign_standard,
    standard_headers,
};
pub use ssrf::{
    CallbackPolicy, CallbackTarget, Resolver, SsrfError, VettedTarget, is_redirect, vet_address,
};
