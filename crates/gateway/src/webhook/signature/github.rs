//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, delivery id in
//! `X-GitHub-Delivery`. GitHub signs no timestamp, so replays are stopped by id dedupe only.

use serde::Deserialize;

use super::secret::{self, SecretKey};
use super::{HeaderLookup, VerifiedDelivery, WebhookError, delivery_id};

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
pub const DELIVERY_HEADER: &str = "x-github-delivery";
const PREFIX: &str = "sha256=";

/// Verification settings for GitHub webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "GithubConfig")]
pub struct GithubScheme {
    secrets: Vec<SecretKey>,
}

/// Config shape: `{"secret":"..."}`; `secrets` (a list) covers rotation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GithubConfig {
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secrets: Vec<String>,
}

impl TryFrom<GithubConfig> for GithubScheme {
    type Error = WebhookError;

    fn try_from(raw: GithubConfig) -> Result<Self, Self::Error> {
        Self::new(secret::collect(
            raw.secret,
            raw.secrets,
            SecretKey::from_raw,
        )?)
    }
}

impl GithubScheme {
    pub fn new(secrets: Vec<SecretKey>) -> Result<Self, WebhookError> {
        if secrets.is_empty() {
            return Err(WebhookError::InvalidConfig(
                "at least one secret is required",
            ));
        }
        Ok(Self { secrets })
    }

    pub(super) fn verify(
        &self,
        headers: &(impl HeaderLookup + ?Sized),
        body: &[u8],
    ) -> Result<VerifiedDelivery, WebhookError> {
        let signature = headers
            .header(SIGNATURE_HEADER)
            .ok_or_else(|| WebhookError::MissingHeader(SIGNATURE_HEADER.to_owned()))?;
        let tag = signature
            .trim()
            .strip_prefix(PREFIX)
            .and_then(|hex_tag| hex::decode(hex_tag).ok())
            .ok_or(WebhookError::BadSignature)?;
        let matched =
            secret::find_match(&self.secrets, &[body], &[tag]).ok_or(WebhookError::BadSignature)?;

        let id = headers
            .header(DELIVERY_HEADER)
            .ok_or_else(|| WebhookError::MissingHeader(DELIVERY_HEADER.to_owned()))?;
        Ok(VerifiedDelivery {
            delivery_id: delivery_id(id, DELIVERY_HEADER)?,
            timestamp: None,
            matched_secret: matched,
            id_signed: false,
        })
    }
}
