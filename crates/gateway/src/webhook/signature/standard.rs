//! Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")> ...`.
//!
//! We verify inbound deliveries with it and sign our outbound callbacks with it, so any of
//! the spec's receiver libraries can check what we send.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use serde::Deserialize;

use super::secret::{self, SecretKey};
use super::{VerifiedDelivery, WebhookError, delivery_id};

pub const WEBHOOK_ID: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// The spec's recommended replay window.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// Signatures read from one header. Rotation needs two or three; the cap bounds the work an
/// unauthenticated sender can cause (entries x secrets HMAC comparisons).
const MAX_SIGNATURES: usize = 16;
const VERSION_PREFIX: &str = "v1,";

/// Verification settings for a Standard Webhooks source.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "StandardConfig")]
pub struct StandardScheme {
    secrets: Vec<SecretKey>,
    tolerance_secs: u64,
}

/// Config shape: `{"secrets":["whsec_..."],"tolerance_secs":300}` (`secret` also accepted).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StandardConfig {
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default = "default_tolerance")]
    tolerance_secs: u64,
}

fn default_tolerance() -> u64 {
    DEFAULT_TOLERANCE_SECS
}

impl TryFrom<StandardConfig> for StandardScheme {
    type Error = WebhookError;

    fn try_from(raw: StandardConfig) -> Result<Self, Self::Error> {
        let secrets = secret::collect(raw.secret, raw.secrets, SecretKey::from_whsec)?;
        Self::new(secrets, raw.tolerance_secs)
    }
}

impl StandardScheme {
    /// Any of `secrets` may have signed a delivery (key rotation).
    pub fn new(secrets: Vec<SecretKey>, tolerance_secs: u64) -> Result<Self, WebhookError> {
        if secrets.is_empty() {
            return Err(WebhookError::InvalidConfig(
                "at least one secret is required",
            ));
        }
        Ok(Self {
            secrets,
            tolerance_secs,
        })
    }

    pub(super) fn verify(
        &self,
        headers: &(impl super::HeaderLookup + ?Sized),
        body: &[u8],
        now_unix: i64,
    ) -> Result<VerifiedDelivery, WebhookError> {
        let id = required(headers, WEBHOOK_ID)?;
        let raw_timestamp = required(headers, WEBHOOK_TIMESTAMP)?;
        let signatures = required(headers, WEBHOOK_SIGNATURE)?;

        let timestamp: i64 = raw_timestamp
            .trim()
            .parse()
            .map_err(|_| WebhookError::MalformedHeader(WEBHOOK_TIMESTAMP.to_owned()))?;
        // Checked before the HMAC: it is cheap and a replay must fail even with a valid tag.
        if now_unix.abs_diff(timestamp) > self.tolerance_secs {
            return Err(WebhookError::StaleTimestamp);
        }

        let candidates = parse_signatures(signatures);
        // The raw timestamp text is what the sender signed, so sign over it, not a reformat.
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", raw_timestamp.as_bytes(), b".", body];
        let matched = secret::find_match(&self.secrets, &parts, &candidates)
            .ok_or(WebhookError::BadSignature)?;

        Ok(VerifiedDelivery {
            delivery_id: delivery_id(id, WEBHOOK_ID)?,
            timestamp: Some(timestamp),
            matched_secret: matched,
            id_signed: true,
        })
    }
}

fn required<'h>(
    headers: &'h (impl super::HeaderLookup + ?Sized),
    name: &str,
) -> Result<&'h str, WebhookError> {
    headers
        .header(name)
        .ok_or_else(|| WebhookError::MissingHeader(name.to_owned()))
}

/// Decoded `v1` tags from a space-separated header. Other versions (e.g. asymmetric `v1a`)
/// and undecodable entries are skipped: they simply cannot match.
fn parse_signatures(header: &str) -> Vec<Vec<u8>> {
    header
        .split_ascii_whitespace()
        .filter_map(|entry| entry.strip_prefix(VERSION_PREFIX))
        .filter_map(|tag| STANDARD.decode(tag).ok())
        .take(MAX_SIGNATURES)
        .collect()
}

/// The `webhook-signature` value (`v1,<base64>`) for one secret.
pub fn sign_standard(secret: &SecretKey, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let parts: [&[u8]; 5] = [msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
    let tag = secret.mac_over(&parts).finalize().into_bytes();
    format!("{VERSION_PREFIX}{}", STANDARD.encode(tag))
}

/// The three headers for an outbound delivery. Signing with every secret lets a receiver
/// rotate keys: it accepts the delivery while it still knows any one of them.
pub fn standard_headers(
    secrets: &[SecretKey],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let signature = secrets
        .iter()
        .map(|secret| sign_standard(secret, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ");
    [
        (WEBHOOK_ID, msg_id.to_owned()),
        (WEBHOOK_TIMESTAMP, timestamp.to_string()),
        (WEBHOOK_SIGNATURE, signature),
    ]
}
