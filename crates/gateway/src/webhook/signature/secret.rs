//! Webhook secrets as ready-keyed HMAC state.
//!
//! The key is derived once at config time, so verification cannot fail on a bad key and the
//! raw secret is not kept around as a string. `Debug` is redacted so a config dump or an
//! error report can never print it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::WebhookError;

pub(super) type HmacSha256 = Hmac<Sha256>;

/// Prefix of Standard Webhooks secrets; the rest is the base64 key.
const WHSEC_PREFIX: &str = "whsec_";
/// Standard Webhooks asks for 24..=64 random bytes; shorter keys are a config mistake.
const MIN_STANDARD_KEY_BYTES: usize = 24;
const MAX_STANDARD_KEY_BYTES: usize = 64;

/// An HMAC-SHA256 key. Cheap to clone; never printed.
#[derive(Clone)]
pub struct SecretKey {
    mac: HmacSha256,
}

impl SecretKey {
    /// A Standard Webhooks secret, `whsec_<base64 key>`. The prefix is optional, as in the
    /// reference libraries, because some providers display the bare base64.
    pub fn from_whsec(secret: &str) -> Result<Self, WebhookError> {
        let encoded = secret.trim();
        let encoded = encoded.strip_prefix(WHSEC_PREFIX).unwrap_or(encoded);
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookError::InvalidSecret("not `whsec_` followed by base64"))?;
        if !(MIN_STANDARD_KEY_BYTES..=MAX_STANDARD_KEY_BYTES).contains(&key.len()) {
            return Err(WebhookError::InvalidSecret(
                "key must decode to 24..=64 bytes",
            ));
        }
        Self::from_bytes(&key)
    }

    /// A shared secret used verbatim as the key (GitHub, generic HMAC).
    pub fn from_raw(secret: &str) -> Result<Self, WebhookError> {
        Self::from_bytes(secret.as_bytes())
    }

    /// A key from raw bytes. Empty keys are refused: they would let anyone sign.
    pub fn from_bytes(key: &[u8]) -> Result<Self, WebhookError> {
        if key.is_empty() {
            return Err(WebhookError::InvalidSecret("empty key"));
        }
        let mac = HmacSha256::new_from_slice(key)
            .map_err(|_| WebhookError::InvalidSecret("unusable key length"))?;
        Ok(Self { mac })
    }

    /// HMAC-SHA256 of `label` under this secret: a key derived for one purpose, from which
    /// neither this secret nor any other derived key can be computed.
    pub fn derive(&self, label: &[u8]) -> [u8; 32] {
        self.mac_over(&[label]).finalize().into_bytes().into()
    }

    /// HMAC state keyed with this secret and fed `parts` in order.
    pub(super) fn mac_over(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Index of the first secret whose HMAC over `parts` equals any of `candidates`.
///
/// Each comparison is constant-time (`verify_slice`), so timing reveals nothing about how
/// many leading bytes of a forged tag were right. Which secret matched is not secret.
pub(super) fn find_match(
    secrets: &[SecretKey],
    parts: &[&[u8]],
    candidates: &[Vec<u8>],
) -> Option<usize> {
    secrets.iter().position(|secret| {
        let mac = secret.mac_over(parts);
        candidates
            .iter()
            .any(|tag| mac.clone().verify_slice(tag).is_ok())
    })
}

/// Collects a scheme's `secret` / `secrets` config fields into keys, refusing an empty set.
pub(super) fn collect(
    one: Option<String>,
    many: Vec<String>,
    parse: fn(&str) -> Result<SecretKey, WebhookError>,
) -> Result<Vec<SecretKey>, WebhookError> {
    let keys = one
        .iter()
        .chain(many.iter())
        .map(|s| parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(WebhookError::InvalidConfig(
            "at least one secret is required",
        ));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let key = SecretKey::from_raw("hunter2-super-secret").unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "SecretKey(<redacted>)");
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn whsec_secrets_are_validated_without_echoing_them() {
        assert!(SecretKey::from_whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(SecretKey::from_whsec("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        for bad in ["whsec_", "whsec_not base64!", "whsec_c2hvcnQ="] {
            let err = SecretKey::from_whsec(bad).unwrap_err();
            assert!(matches!(err, WebhookError::InvalidSecret(_)), "{bad}");
            // Fixed reason texts only: the offending value is never part of the message.
            assert!(
                !err.to_string().contains("c2hvcnQ") && !err.to_string().contains("not base64!")
            );
        }
        assert!(SecretKey::from_raw("").is_err());
    }

    #[test]
    fn at_least_one_secret_is_required() {
        assert_eq!(
            collect(None, vec![], SecretKey::from_raw).unwrap_err(),
            WebhookError::InvalidConfig("at least one secret is required")
        );
        assert_eq!(
            collect(Some("a".into()), vec!["b".into()], SecretKey::from_raw)
                .unwrap()
                .len(),
            2
        );
    }
}
