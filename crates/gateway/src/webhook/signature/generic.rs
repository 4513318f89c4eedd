//! Generic HMAC-SHA256 over the raw body, for sources that follow no standard: the header
//! name, encoding (hex or base64) and an optional prefix such as `sha256=` are configured.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::secret::{self, SecretKey};
use super::{HeaderLookup, VerifiedDelivery, WebhookError, delivery_id};

/// How the tag is written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagEncoding {
    #[default]
    Hex,
    Base64,
}

/// The MAC algorithm. Only HMAC-SHA256 today; named in config so adding one is not a
/// breaking change and a typo fails at cold start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum HmacAlgorithm {
    #[default]
    #[serde(rename = "hmac-sha256", alias = "sha256")]
    HmacSha256,
}

/// Verification settings for a generic HMAC source.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "HmacConfig")]
pub struct HmacScheme {
    header: String,
    secrets: Vec<SecretKey>,
    encoding: TagEncoding,
    prefix: Option<String>,
    id_header: Option<String>,
}

/// Config shape: `{"header":"x-signature","secret":"...","encoding":"hex","prefix":"sha256=",
/// "id_header":"x-request-id"}`; only `header` and a secret are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HmacConfig {
    header: String,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)] // Read by serde only: rejects unknown algorithms at config time.
    algorithm: HmacAlgorithm,
    #[serde(default)]
    encoding: TagEncoding,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    id_header: Option<String>,
}

impl TryFrom<HmacConfig> for HmacScheme {
    type Error = WebhookError;

    fn try_from(raw: HmacConfig) -> Result<Self, Self::Error> {
        let secrets = secret::collect(raw.secret, raw.secrets, SecretKey::from_raw)?;
        Self::new(raw.header, secrets, raw.encoding, raw.prefix, raw.id_header)
    }
}

impl HmacScheme {
    /// `id_header`: where the sender puts a delivery id; without one the body hash is used.
    pub fn new(
        header: String,
        secrets: Vec<SecretKey>,
        encoding: TagEncoding,
        prefix: Option<String>,
        id_header: Option<String>,
    ) -> Result<Self, WebhookError> {
        if header.trim().is_empty() {
            return Err(WebhookError::InvalidConfig(
                "signature header name is empty",
            ));
        }
        if id_header.as_ref().is_some_and(|h| h.trim().is_empty()) {
            return Err(WebhookError::InvalidConfig("id header name is empty"));
        }
        if secrets.is_empty() {
            return Err(WebhookError::InvalidConfig(
                "at least one secret is required",
            ));
        }
        Ok(Self {
            header: header.trim().to_ascii_lowercase(),
            secrets,
            encoding,
            prefix: prefix.filter(|p| !p.is_empty()),
            id_header: id_header.map(|h| h.trim().to_ascii_lowercase()),
        })
    }

    pub(super) fn verify(
        &self,
        headers: &(impl HeaderLookup + ?Sized),
        body: &[u8],
    ) -> Result<VerifiedDelivery, WebhookError> {
        let value = headers
            .header(&self.header)
            .ok_or_else(|| WebhookError::MissingHeader(self.header.clone()))?
            .trim();
        let encoded = match &self.prefix {
            Some(prefix) => value
                .strip_prefix(prefix.as_str())
                .ok_or(WebhookError::BadSignature)?,
            None => value,
        };
        let tag = match self.encoding {
            TagEncoding::Hex => hex::decode(encoded).ok(),
            TagEncoding::Base64 => STANDARD.decode(encoded).ok(),
        }
        .ok_or(WebhookError::BadSignature)?;
        let matched =
            secret::find_match(&self.secrets, &[body], &[tag]).ok_or(WebhookError::BadSignature)?;

        let id = match &self.id_header {
            Some(name) => {
                let id = headers
                    .header(name)
                    .ok_or_else(|| WebhookError::MissingHeader(name.clone()))?;
                delivery_id(id, name)?
            }
            // Identical bodies then count as one delivery, which is what a retry looks like.
            None => format!("sha256:{}", hex::encode(Sha256::digest(body))),
        };
        Ok(VerifiedDelivery {
            delivery_id: id,
            timestamp: None,
            matched_secret: matched,
            id_signed: false,
        })
    }
}
