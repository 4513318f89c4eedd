//! The `controls` section of the gateway's configuration: authentication mode, the per-instance
//! key cache, the response cache, token estimation, audit and metrics. Every field has a
//! working default; `auth.mode` defaults to `none` (local and dev runs), and production sets
//! `api_keys` (the SAM template does, through `AUTH_MODE`).

use super::pricing::PriceEntry;
use super::route_class::RouteClass;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlsConfig {
    pub auth: AuthConfig,
    pub cache: CacheConfig,
    pub estimate: EstimateConfig,
    pub limits: LimitsConfig,
    pub audit: AuditConfig,
    pub metrics: MetricsConfig,
    /// Price entries that take precedence over the built-in table (`prices.json`): a model
    /// the table lacks, a negotiated rate, another region.
    pub prices: Vec<PriceEntry>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// No authentication: every caller is the tenant of its API Gateway JWT claims, or
    /// `default`. No limits, budgets or response cache. For local and dev runs only.
    #[default]
    None,
    /// Gateway API keys (Bearer, `x-api-key`, SigV4 on the Bedrock paths) or API Gateway JWT
    /// claims; limits, budgets, usage and the response cache in the state table.
    ApiKeys,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// The JWT claim that names a caller's tenant (API Gateway JWT authorizer); `sub` when the
    /// claim is missing.
    pub jwt_tenant_claim: String,
    /// How long an instance trusts what it read about a key or tenant. A disabled key stops
    /// working within this time on every instance.
    pub key_cache_ttl_ms: u64,
    /// Whether a gateway key's id and secret work as AWS credentials (SigV4) on `/model/*`.
    pub sigv4: bool,
    /// How far a SigV4 request's `x-amz-date` may be from the gateway's clock.
    pub sigv4_max_skew_secs: u64,
    /// The policy of JWT callers whose tenant has no `TENANT#` record (limits, budget and
    /// allowed models, per tenant). Unset: such callers are refused (403), never unlimited.
    pub jwt_default_policy: Option<JwtDefaultPolicy>,
}

/// What a JWT caller of a tenant without a record may do: the tenant's budget, its callers'
/// limits and the models they may use, as a `TENANT#` record would say.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtDefaultPolicy {
    pub limits: super::keys::KeyLimits,
    pub budget: super::keys::Budget,
    pub allowed_models: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            jwt_tenant_claim: "tenant".to_owned(),
            key_cache_ttl_ms: 30_000,
            sigv4: true,
            sigv4_max_skew_secs: 300,
            jwt_default_policy: None,
        }
    }
}

/// Whether identical requests of different tenants share cached answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CachePartition {
    /// Keyed by the request alone, across tenants. Only for deployments whose tenants trust
    /// each other: a tenant learns (from the hit header and the answer) that someone sent the
    /// exact same request recently, and what they were told.
    Shared,
    /// Keyed by tenant and request: no tenant sees another's hits. The default: with a shared
    /// cache, tenant B sending tenant A's prompt gets A's answer and a `hit`, which confirms
    /// guesses about what A asked.
    #[default]
    Tenant,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    pub enabled: bool,
    /// Routes whose requests may be answered from the cache (`converse`, `converse_stream`,
    /// `chat`, `task`); the Bedrock wire paths are `converse` and `converse_stream` too.
    pub routes: Vec<RouteClass>,
    /// How long an answer is fresh when the request does not say (`Cache-Control: max-age`).
    pub default_ttl_secs: u64,
    /// The longest a request may ask an answer to be kept.
    pub max_ttl_secs: u64,
    /// Entries larger than this are stored gzip-compressed.
    pub compress_above_bytes: usize,
    /// Larger entries (even compressed) are not stored: a DynamoDB item holds at most 400 KB.
    pub max_entry_bytes: usize,
    pub partition: CachePartition,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            routes: vec![
                RouteClass::Converse,
                RouteClass::ConverseStream,
                RouteClass::Chat,
                RouteClass::Task,
            ],
            default_ttl_secs: 3_600,
            max_ttl_secs: 7 * 24 * 3_600,
            compress_above_bytes: 4 * 1024,
            max_entry_bytes: 350 * 1024,
            partition: CachePartition::Tenant,
        }
    }
}

/// How the tokens of a request are estimated before the call, for the token limit and the
/// budget reservation. The defaults over-estimate on purpose (a token is at least one byte in
/// the tokenizers Bedrock models use), so a reservation covers the actual cost and budgets
/// cannot be overspent; the difference is returned when the call settles.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EstimateConfig {
    pub bytes_per_token: f64,
    /// Added to every input estimate: role markers and the model's own prompt framing.
    pub overhead_tokens: u64,
    /// Output tokens reserved when a request sets no `maxTokens`.
    pub default_max_output_tokens: u64,
}

impl Default for EstimateConfig {
    fn default() -> Self {
        Self {
            bytes_per_token: 1.0,
            overhead_tokens: 16,
            default_max_output_tokens: 4_096,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Concurrency slots are counted per bucket of this length. A slot whose release was lost
    /// (an instance killed mid-call) frees itself when its bucket ends; requests still running
    /// from the previous bucket are not counted in the new one.
    pub concurrency_bucket_secs: u64,
    /// How long usage ledger items are kept.
    pub usage_retention_days: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            concurrency_bucket_secs: 300,
            usage_retention_days: 400,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Put prompt and completion text in the audit record. Off: they never reach a log.
    pub include_content: bool,
    /// The most characters of each kept when `include_content` is on.
    pub max_content_chars: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            include_content: false,
            max_content_chars: 8_192,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Write a CloudWatch Embedded Metric Format line per request.
    pub enabled: bool,
    pub namespace: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            namespace: "BedrockGateway".to_owned(),
        }
    }
}

/// A bad value, with its key inside the `controls` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidControls {
    pub key: String,
    pub reason: String,
}

impl ControlsConfig {
    pub fn validate(&self) -> Result<(), InvalidControls> {
        let invalid = |key: &str, reason: &str| {
            Err(InvalidControls {
                key: key.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.auth.jwt_tenant_claim.trim().is_empty() {
            return invalid("auth.jwt_tenant_claim", "must not be empty");
        }
        if self.auth.key_cache_ttl_ms == 0 {
            return invalid("auth.key_cache_ttl_ms", "must be positive");
        }
        if self.cache.default_ttl_secs == 0 {
            return invalid("cache.default_ttl_secs", "must be positive");
        }
        if self.cache.max_ttl_secs < self.cache.default_ttl_secs {
            return invalid("cache.max_ttl_secs", "must be at least default_ttl_secs");
        }
        if self.cache.max_entry_bytes > 390 * 1024 {
            return invalid(
                "cache.max_entry_bytes",
                "must leave room in a 400 KB DynamoDB item (at most 399360)",
            );
        }
        let bpt = self.estimate.bytes_per_token;
        if !bpt.is_finite() || !(0.5..=16.0).contains(&bpt) {
            return invalid("estimate.bytes_per_token", "must be between 0.5 and 16");
        }
        if self.estimate.default_max_output_tokens == 0 {
            return invalid("estimate.default_max_output_tokens", "must be positive");
        }
        if self.limits.concurrency_bucket_secs < 30 {
            return invalid(
                "limits.concurrency_bucket_secs",
                "must be at least 30 (longer than a request)",
            );
        }
        if self.limits.usage_retention_days == 0 {
            return invalid("limits.usage_retention_days", "must be positive");
        }
        if self.metrics.namespace.trim().is_empty() {
            return invalid("metrics.namespace", "must not be empty");
        }
        for (i, entry) in self.prices.iter().enumerate() {
            if let Err(reason) = entry.validate() {
                return Err(InvalidControls {
                    key: format!("prices[{i}]"),
                    reason,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_open() {
        let config = ControlsConfig::default();
        config.validate().unwrap();
        assert_eq!(config.auth.mode, AuthMode::None);
        assert!(config.cache.routes.contains(&RouteClass::Chat));
        assert!(!config.cache.routes.contains(&RouteClass::Invoke));
    }

    #[test]
    fn bad_values_name_their_key() {
        let parse = |json: &str| serde_json::from_str::<ControlsConfig>(json).unwrap();
        let cases = [
            (
                r#"{"auth":{"key_cache_ttl_ms":0}}"#,
                "auth.key_cache_ttl_ms",
            ),
            (
                r#"{"estimate":{"bytes_per_token":0}}"#,
                "estimate.bytes_per_token",
            ),
            (r#"{"cache":{"max_ttl_secs":1}}"#, "cache.max_ttl_secs"),
            (
                r#"{"prices":[{"model":"m","input_per_1k":-1,"output_per_1k":1}]}"#,
                "prices[0]",
            ),
        ];
        for (json, key) in cases {
            assert_eq!(parse(json).validate().unwrap_err().key, key, "{json}");
        }
    }
}
