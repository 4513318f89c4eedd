//! Inbound webhook signature verification, and the signer for our outbound callbacks.
//!
//! A source's [`SignatureScheme`] is read from config JSON once at cold start, e.g.
//! `{"scheme":"standard","secrets":["whsec_..."],"tolerance_secs":300}`,
//! `{"scheme":"github","secret":"..."}` or
//! `{"scheme":"hmac","header":"x-signature","secret":"...","encoding":"hex","prefix":"sha256="}`.
//! Every scheme accepts several secrets (`secrets: [...]`) so keys can be rotated without
//! dropping deliveries: a delivery is accepted if any signature matches any secret.

mod error;
mod generic;
mod github;
mod headers;
mod secret;
mod standard;

#[cfg(test)]
mod tests;

use serde::Deserialize;

pub use error::WebhookError;
pub use generic::{HmacAlgorithm, HmacScheme, TagEncoding};
pub use github::GithubScheme;
pub use headers::HeaderLookup;
pub use secret::SecretKey;
pub use standard::{
    DEFAULT_TOLERANCE_SECS, StandardScheme, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
    sign_standard, standard_headers,
};

/// Longest delivery id we accept. Ids become dedupe keys in storage, so an attacker-sized
/// id must not reach it (even a correctly signed one is bounded here).
const MAX_DELIVERY_ID_LEN: usize = 256;

/// How one webhook source proves its deliveries.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case")]
pub enum SignatureScheme {
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    Standard(StandardScheme),
    /// GitHub (`X-Hub-Signature-256`, `X-GitHub-Delivery`).
    Github(GithubScheme),
    /// HMAC-SHA256 of the body in a configurable header.
    Hmac(HmacScheme),
}

/// A delivery whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDelivery {
    /// Key for dedupe: `webhook-id`, `X-GitHub-Delivery`, the configured id header, or
    /// `sha256:<hex of body>` for generic sources without one.
    pub delivery_id: String,
    /// The signed send time, for schemes that sign one.
    pub timestamp: Option<i64>,
    /// Whether the signature covers `delivery_id` (Standard Webhooks signs `webhook-id`;
    /// GitHub's `X-GitHub-Delivery` and generic id headers are not signed). An unsigned id
    /// is the sender's word only: anyone holding one signed body can replay it under new ids,
    /// so dedupe must not trust it alone.
    pub id_signed: bool,
    /// Index of the configured secret that matched, so operators can see when an old
    /// secret stops being used and can be removed after a rotation.
    pub matched_secret: usize,
}

impl VerifiedDelivery {
    /// What makes two deliveries the same: the hash of the body, and the delivery id only
    /// when the signature covers it (Standard Webhooks' `webhook-id`). An unsigned id
    /// (`X-GitHub-Delivery`, a generic id header) is the sender's word: a replayed body under
    /// a fresh id must still be recognised.
    pub fn dedupe_key(&self, body: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        let hash = hex::encode(Sha256::digest(body));
        if self.id_signed {
            format!("sha256:{hash}:id:{}", self.delivery_id)
        } else {
            format!("sha256:{hash}")
        }
    }
}

impl SignatureScheme {
    /// Checks `body` against the signature headers. `now_unix` is injected so replay
    /// windows are testable. Errors never contain the secret or the body.
    pub fn verify(
        &self,
        headers: &(impl HeaderLookup + ?Sized),
        body: &[u8],
        now_unix: i64,
    ) -> Result<VerifiedDelivery, WebhookError> {
        match self {
            Self::Standard(scheme) => scheme.verify(headers, body, now_unix),
            Self::Github(scheme) => scheme.verify(headers, body),
            Self::Hmac(scheme) => scheme.verify(headers, body),
        }
    }
}

/// A header value usable as a dedupe key: trimmed, non-empty, bounded, printable ASCII.
fn delivery_id(raw: &str, header: &str) -> Result<String, WebhookError> {
    let id = raw.trim();
    let printable = id.bytes().all(|b| b.is_ascii_graphic());
    if id.is_empty() || id.len() > MAX_DELIVERY_ID_LEN || !printable {
        return Err(WebhookError::MalformedHeader(header.to_owned()));
    }
    Ok(id.to_owned())
}
