//! Gateway API keys and who a caller is.
//!
//! A key is issued once as `gwk_<KEY ID>_<SECRET>`: the key id (20 characters, `GWK…`, shown
//! in listings and usable as an AWS access key id) and a 40-character secret (about 237 bits
//! of entropy). The gateway stores the SHA-256 of the whole key string — records live under
//! `KEY#<that hash>` — and never the key itself.
//!
//! SigV4 is a symmetric scheme: to check a signature the verifier needs the secret. So for
//! keys usable as AWS credentials the record also holds the secret *sealed* with the
//! deployment's seal key (`GATEWAY_KEY_SEAL_SECRET`, kept outside the table): an HMAC-SHA256
//! keystream bound to the key id, and a tag that detects a wrong seal key or a tampered
//! record. Reading the table alone reveals no usable secret.

use super::crypto::{HmacSha256, new_mac, sha256_hex};
use super::money::Nanos;
use super::route_class::RouteClass;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const KEY_PREFIX: &str = "gwk_";
pub const KEY_ID_PREFIX: &str = "GWK";
const KEY_ID_LEN: usize = 20;
const SECRET_LEN: usize = 40;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random bytes a new key is made from; the caller supplies them from the OS's CSPRNG.
pub const ENTROPY_BYTES: usize = 11 + SECRET_LEN;

/// A key as issued: the only time the secret exists outside the caller's hands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedKey {
    pub key_id: String,
    pub secret: String,
    /// `gwk_<key id>_<secret>`: what `Authorization: Bearer` and `x-api-key` carry.
    pub api_key: String,
    pub secret_hash: String,
}

/// Makes a key from `entropy` (from a CSPRNG; never reused).
pub fn issue(entropy: &[u8; ENTROPY_BYTES]) -> IssuedKey {
    let mut key_id = String::from(KEY_ID_PREFIX);
    // 17 base32 characters from the first 11 bytes (85 of their 88 bits).
    let mut bits: u128 = 0;
    for byte in &entropy[..11] {
        bits = (bits << 8) | u128::from(*byte);
    }
    for i in 0..(KEY_ID_LEN - KEY_ID_PREFIX.len()) {
        let index = ((bits >> (5 * i)) & 31) as usize;
        key_id.push(char::from(BASE32[index]));
    }
    let secret: String = entropy[11..]
        .iter()
        .map(|b| char::from(BASE62[usize::from(*b) % BASE62.len()]))
        .collect();
    let api_key = format!("{KEY_PREFIX}{key_id}_{secret}");
    let secret_hash = hash_api_key(&api_key);
    IssuedKey {
        key_id,
        secret,
        api_key,
        secret_hash,
    }
}

/// The stored form of a presented key: hex SHA-256 of the whole key string.
pub fn hash_api_key(api_key: &str) -> String {
    sha256_hex(api_key.as_bytes())
}

/// (key id, secret) of a well-formed key string; `None` for anything else.
pub fn parse_api_key(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(KEY_PREFIX)?;
    let (key_id, secret) = rest.split_once('_')?;
    (is_key_id(key_id)
        && secret.len() == SECRET_LEN
        && secret.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then_some((key_id, secret))
}

/// Whether `text` has the shape of a gateway key id (`GWK` + 17 base32 characters).
pub fn is_key_id(text: &str) -> bool {
    text.len() == KEY_ID_LEN
        && text.starts_with(KEY_ID_PREFIX)
        && text.bytes().all(|b| BASE32.contains(&b))
}

fn keystream_block(seal_key: &[u8], key_id: &str, counter: u8) -> [u8; 32] {
    let mut mac = new_mac(seal_key);
    mac.update(b"gateway-sigv4-seal\0");
    mac.update(key_id.as_bytes());
    mac.update(&[0, counter]);
    mac.finalize().into_bytes().into()
}

fn tag_mac(seal_key: &[u8], key_id: &str, sealed: &[u8]) -> HmacSha256 {
    let mut mac = new_mac(seal_key);
    mac.update(b"gateway-sigv4-tag\0");
    mac.update(key_id.as_bytes());
    mac.update(&[0]);
    mac.update(sealed);
    mac
}

fn xor_keystream(seal_key: &[u8], key_id: &str, data: &mut [u8]) {
    for (i, chunk) in data.chunks_mut(32).enumerate() {
        let block = keystream_block(seal_key, key_id, u8::try_from(i).unwrap_or(u8::MAX));
        for (byte, k) in chunk.iter_mut().zip(block) {
            *byte ^= k;
        }
    }
}

/// The secret sealed for storage (hex): ciphertext then a 16-byte tag.
pub fn seal_secret(secret: &str, key_id: &str, seal_key: &[u8]) -> String {
    let mut data = secret.as_bytes().to_vec();
    xor_keystream(seal_key, key_id, &mut data);
    let tag = tag_mac(seal_key, key_id, &data).finalize().into_bytes();
    data.extend_from_slice(&tag[..16]);
    hex::encode(data)
}

/// The secret back, if `sealed` was sealed for `key_id` under `seal_key`.
pub fn unseal_secret(sealed: &str, key_id: &str, seal_key: &[u8]) -> Option<String> {
    let data = hex::decode(sealed).ok()?;
    if data.len() <= 16 {
        return None;
    }
    let (cipher, tag) = data.split_at(data.len() - 16);
    tag_mac(seal_key, key_id, cipher)
        .verify_truncated_left(tag)
        .ok()?;
    let mut plain = cipher.to_vec();
    xor_keystream(seal_key, key_id, &mut plain);
    String::from_utf8(plain).ok()
}

/// Requests per minute, tokens per minute (input + output, reserved before the call and
/// settled after) and calls in flight. Unset: unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
}

impl RateLimits {
    /// `self`, with the fields `over` sets replacing its own.
    pub fn overlay(self, over: &Self) -> Self {
        Self {
            requests_per_minute: over.requests_per_minute.or(self.requests_per_minute),
            tokens_per_minute: over.tokens_per_minute.or(self.tokens_per_minute),
            concurrency: over.concurrency.or(self.concurrency),
        }
    }

    pub fn is_unlimited(&self) -> bool {
        *self == Self::default()
    }
}

/// Limits for every model, and per model (keyed by any name of it: id, alias, group).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLimits {
    #[serde(default)]
    pub default: RateLimits,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, RateLimits>,
}

impl KeyLimits {
    /// The limits for a model known by `names` (its scope first): the default overlaid with
    /// the first per-model entry that names it.
    pub fn for_model(&self, names: &[String]) -> RateLimits {
        names
            .iter()
            .find_map(|n| self.models.get(n))
            .map_or(self.default, |m| self.default.overlay(m))
    }
}

/// USD budgets per UTC day and calendar month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_usd: Option<f64>,
}

impl Budget {
    pub fn daily(&self) -> Option<Nanos> {
        self.daily_usd.and_then(Nanos::from_usd)
    }

    pub fn monthly(&self) -> Option<Nanos> {
        self.monthly_usd.and_then(Nanos::from_usd)
    }

    pub fn is_unlimited(&self) -> bool {
        self.daily_usd.is_none() && self.monthly_usd.is_none()
    }
}

/// A key's stored record (`KEY#<hash>`, mirrored under `KEYID#<key id>` for SigV4 and admin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    /// `gwk_<key id>`: what listings show to tell keys apart.
    pub prefix: String,
    pub secret_hash: String,
    pub tenant: String,
    #[serde(default)]
    pub name: String,
    /// Model ids, aliases or group names the key may call; empty: all.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// Routes the key may use; empty: every model route and jobs (usage is always allowed).
    #[serde(default)]
    pub allowed_routes: Vec<RouteClass>,
    #[serde(default)]
    pub limits: KeyLimits,
    #[serde(default)]
    pub budget: Budget,
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
    #[serde(default)]
    pub disabled: bool,
    /// May read any tenant's usage.
    #[serde(default)]
    pub admin: bool,
    pub created_at_ms: u64,
    /// The SigV4 secret sealed under the deployment's seal key; absent: no SigV4.
    #[serde(default)]
    pub sigv4_sealed: Option<String>,
    /// The key that replaced this one on rotation.
    #[serde(default)]
    pub rotated_to: Option<String>,
    /// Hosts this key's jobs may send callbacks to (exact names or `*.suffix`); empty: the
    /// tenant's list applies, and with none there, callbacks are refused.
    #[serde(default)]
    pub callback_hosts: Vec<String>,
}

impl KeyRecord {
    /// A record for a freshly issued key with no limits.
    pub fn new(issued: &IssuedKey, tenant: &str, now_ms: u64) -> Self {
        Self {
            key_id: issued.key_id.clone(),
            prefix: format!("{KEY_PREFIX}{}", issued.key_id),
            secret_hash: issued.secret_hash.clone(),
            tenant: tenant.to_owned(),
            name: String::new(),
            allowed_models: Vec::new(),
            allowed_routes: Vec::new(),
            limits: KeyLimits::default(),
            budget: Budget::default(),
            expires_at_ms: None,
            disabled: false,
            admin: false,
            created_at_ms: now_ms,
            sigv4_sealed: None,
            rotated_to: None,
            callback_hosts: Vec::new(),
        }
    }

    /// Why the key cannot be used now, if it cannot.
    pub fn unusable(&self, now_ms: u64) -> Option<&'static str> {
        if self.disabled {
            Some("this API key is disabled")
        } else if self.expires_at_ms.is_some_and(|at| at <= now_ms) {
            Some("this API key has expired")
        } else {
            None
        }
    }

    pub fn status(&self, now_ms: u64) -> &'static str {
        if self.disabled {
            "disabled"
        } else if self.expires_at_ms.is_some_and(|at| at <= now_ms) {
            "expired"
        } else {
            "active"
        }
    }
}

/// A tenant's stored policy (`TENANT#<tenant>`): its budget across all its keys, and the
/// limits of callers that come with a JWT instead of a key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub tenant: String,
    #[serde(default)]
    pub budget: Budget,
    #[serde(default)]
    pub jwt_limits: KeyLimits,
    /// Model ids, aliases, group names or `auto` the tenant's JWT callers may use; empty: all.
    #[serde(default)]
    pub jwt_allowed_models: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
    /// Hosts the tenant's jobs may send callbacks to, for keys without a list of their own.
    #[serde(default)]
    pub callback_hosts: Vec<String>,
}

impl TenantRecord {
    /// Whether the record says what its JWT callers may do (limits or models); a record
    /// that only sets a budget or callback hosts does not.
    pub fn sets_jwt_policy(&self) -> bool {
        !self.jwt_limits.default.is_unlimited()
            || !self.jwt_limits.models.is_empty()
            || !self.jwt_allowed_models.is_empty()
    }
}

/// Whether a tenant name can be used in keys of the state table.
pub fn valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 128
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b':'))
}

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `auth.mode` is `none`.
    Open,
    /// `Authorization: Bearer gwk_…` or `x-api-key`.
    ApiKey,
    /// AWS SigV4 with a key id and secret.
    SigV4,
    /// API Gateway's JWT authorizer.
    Jwt,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::ApiKey => "api_key",
            Self::SigV4 => "sigv4",
            Self::Jwt => "jwt",
        }
    }
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key id, `jwt:<subject>`, or `anonymous`: the "key" of per-key limits and ledger rows.
    pub id: String,
    pub tenant: String,
    pub method: AuthMethod,
    pub key: Option<Arc<KeyRecord>>,
    pub tenant_policy: Option<Arc<TenantRecord>>,
}

impl Principal {
    /// A caller of an open (`auth.mode: none`) deployment.
    pub fn open(tenant: impl Into<String>) -> Self {
        Self {
            id: "anonymous".to_owned(),
            tenant: tenant.into(),
            method: AuthMethod::Open,
            key: None,
            tenant_policy: None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.key.as_ref().is_some_and(|k| k.admin)
    }

    /// Whether the key may use this route (callers without a key: every route).
    pub fn may_use_route(&self, route: RouteClass) -> bool {
        route == RouteClass::Usage
            || self
                .key
                .as_ref()
                .is_none_or(|k| k.allowed_routes.is_empty() || k.allowed_routes.contains(&route))
    }

    /// The model names this caller may use (empty: every model): the key's allow-list, or
    /// for a JWT caller its tenant's `jwt_allowed_models`. Checked against the models a call
    /// reaches (`GatewayConfig::permits`), never against the name asked for.
    pub fn allowed_models(&self) -> &[String] {
        match (&self.key, &self.tenant_policy) {
            (Some(key), _) => &key.allowed_models,
            (None, Some(tenant)) => &tenant.jwt_allowed_models,
            (None, None) => &[],
        }
    }

    /// Who the call path serves: this caller's allow-list and tenant.
    pub fn caller(&self) -> crate::service::caller::Caller<'_> {
        crate::service::caller::Caller::new(&self.tenant, self.allowed_models())
    }

    /// The rate limits for a model known by `names`.
    pub fn rate_limits(&self, names: &[String]) -> RateLimits {
        match (&self.key, &self.tenant_policy) {
            (Some(key), _) => key.limits.for_model(names),
            (None, Some(tenant)) => tenant.jwt_limits.for_model(names),
            (None, None) => RateLimits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entropy(seed: u8) -> [u8; ENTROPY_BYTES] {
        let mut bytes = [0u8; ENTROPY_BYTES];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = seed
                .wrapping_mul(31)
                .wrapping_add(u8::try_from(i).unwrap().wrapping_mul(7));
        }
        bytes
    }

    #[test]
    fn issued_keys_parse_back_and_hash_stably() {
        let issued = issue(&entropy(1));
        assert!(is_key_id(&issued.key_id), "{}", issued.key_id);
        assert_eq!(issued.secret.len(), 40);
        let (id, secret) = parse_api_key(&issued.api_key).unwrap();
        assert_eq!(
            (id, secret),
            (issued.key_id.as_str(), issued.secret.as_str())
        );
        assert_eq!(hash_api_key(&issued.api_key), issued.secret_hash);
        assert_eq!(issued.secret_hash.len(), 64);
        assert_ne!(issue(&entropy(2)).api_key, issued.api_key);
    }

    #[test]
    fn malformed_keys_are_refused() {
        let issued = issue(&entropy(3));
        for bad in [
            "",
            "Bearer x",
            &issued.api_key[..issued.api_key.len() - 1],
            &issued.api_key.replace("gwk_", "gwx_"),
            &format!("{}!", issued.api_key),
        ] {
            assert!(parse_api_key(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sealed_secrets_need_the_seal_key_and_the_key_id() {
        let issued = issue(&entropy(4));
        let sealed = seal_secret(&issued.secret, &issued.key_id, b"seal-1");
        assert!(!sealed.contains(&hex::encode(&issued.secret)));
        assert_eq!(
            unseal_secret(&sealed, &issued.key_id, b"seal-1").as_deref(),
            Some(issued.secret.as_str())
        );
        assert_eq!(unseal_secret(&sealed, &issued.key_id, b"seal-2"), None);
        assert_eq!(
            unseal_secret(&sealed, "GWKAAAAAAAAAAAAAAAAA", b"seal-1"),
            None
        );
        let mut tampered = sealed.into_bytes();
        tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(unseal_secret(&tampered, &issued.key_id, b"seal-1"), None);
    }

    #[test]
    fn per_model_limits_overlay_the_default() {
        let limits = KeyLimits {
            default: RateLimits {
                requests_per_minute: Some(10),
                tokens_per_minute: Some(1_000),
                concurrency: None,
            },
            models: BTreeMap::from([(
                "haiku".to_owned(),
                RateLimits {
                    requests_per_minute: Some(2),
                    ..RateLimits::default()
                },
            )]),
        };
        let haiku = limits.for_model(&["anthropic.haiku".into(), "haiku".into()]);
        assert_eq!(haiku.requests_per_minute, Some(2));
        assert_eq!(haiku.tokens_per_minute, Some(1_000));
        assert_eq!(
            limits.for_model(&["sonnet".into()]).requests_per_minute,
            Some(10)
        );
    }

    #[test]
    fn key_status_and_permissions() {
        let issued = issue(&entropy(5));
        let mut record = KeyRecord::new(&issued, "acme", 0);
        assert_eq!(record.unusable(10), None);
        record.expires_at_ms = Some(10);
        assert!(record.unusable(10).is_some());
        record.expires_at_ms = None;
        record.disabled = true;
        assert_eq!(record.status(0), "disabled");
        record.disabled = false;
        record.allowed_models = vec!["haiku".into()];
        record.allowed_routes = vec![RouteClass::Chat];
        let principal = Principal {
            id: record.key_id.clone(),
            tenant: "acme".into(),
            method: AuthMethod::ApiKey,
            key: Some(Arc::new(record)),
            tenant_policy: None,
        };
        assert_eq!(principal.allowed_models(), ["haiku".to_owned()]);
        assert!(principal.may_use_route(RouteClass::Chat));
        assert!(principal.may_use_route(RouteClass::Usage));
        assert!(!principal.may_use_route(RouteClass::Invoke));
        assert!(Principal::open("t").may_use_route(RouteClass::Invoke));
    }

    #[test]
    fn tenant_names() {
        assert!(valid_tenant("acme-corp_1"));
        assert!(!valid_tenant("a#b"));
        assert!(!valid_tenant(""));
    }
}
