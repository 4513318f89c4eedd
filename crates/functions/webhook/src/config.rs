//! `WEBHOOK_CONFIG`: the webhook sources, parsed and validated once at cold start. A bad
//! document fails the init naming the path inside it; secrets are never echoed.
//!
//! ```json
//! {
//!   "sources": {
//!     "tickets": {
//!       "signature": {"scheme": "standard", "secrets": ["env:TICKETS_WEBHOOK_SECRET"]},
//!       "model": "haiku",
//!       "system": "You triage support tickets. Answer with one line.",
//!       "prompt": "Title: {{/ticket/title}}\n\n{{/ticket/body?}}",
//!       "inference_config": {"maxTokens": 512},
//!       "callback": {"pointer": "/callback_url"},
//!       "callback_hosts": ["hooks.example.com", "*.example.org"],
//!       "principal": {"tenant": "support", "key_id": "GWKAAAAAAAAAAAAAAAAA"},
//!       "metadata": {"ticket_id": "/ticket/id"}
//!     },
//!     "github": {
//!       "signature": {"scheme": "github", "secret": "env:GITHUB_WEBHOOK_SECRET"},
//!       "model": "sonnet",
//!       "prompt": "Review this pull request event: {{/pull_request/title}}",
//!       "callback": {"url": "https://ci.example.com/review-results"}
//!     }
//!   },
//!   "dedupe_ttl_secs": 604800,
//!   "max_body_bytes": 262144
//! }
//! ```
//!
//! A secret written `env:NAME` is read from the environment variable `NAME` at cold start
//! (in AWS, the template fills that variable from Secrets Manager with a dynamic reference),
//! so the document itself holds no secret.
//!
//! `principal` is who a source's jobs are admitted and charged against, exactly like an API
//! caller: the tenant's budget always applies, and with `key_id` that key's limits, budget
//! and allowed models too. Without `principal` the tenant is `tenant` (or `webhook:<source>`)
//! with its tenant record's budget. Callbacks go only to `callback_hosts`, or to the host of
//! a fixed `callback.url`: a source taking its callback URL from the payload (`pointer`)
//! must list its hosts.

use std::collections::BTreeMap;

use gateway::api::converse::InferenceConfig;
use gateway::config::GatewayConfig;
use gateway::webhook::{CallbackPolicy, SignatureScheme};
use serde::Deserialize;
use serde_json::Value;

use crate::template::Template;

/// Deliveries larger than this are refused with 413 unless a source says otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// How long a delivery id is remembered: senders retry for days, not weeks.
pub const DEFAULT_DEDUPE_TTL_SECS: u64 = 7 * 24 * 3600;
/// Values copied into job metadata are cut to this many characters.
const MAX_METADATA_CHARS: usize = 256;

/// All sources, by the `{source}` path segment.
#[derive(Debug)]
pub struct WebhookConfig {
    pub sources: BTreeMap<String, Source>,
    pub dedupe_ttl_secs: u64,
}

/// One sender: how it signs, and how its payload becomes a job.
#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub signature: SignatureScheme,
    /// A model id or alias of the gateway configuration.
    pub model: String,
    pub system: Option<Template>,
    pub prompt: Template,
    pub inference_config: Option<InferenceConfig>,
    pub callback: Option<CallbackSource>,
    /// The callback host allow-list (exact names, or `*.suffix`; a fixed URL's host when
    /// unset); checked at intake and again at delivery.
    pub callback_hosts: Option<Vec<String>>,
    /// The tenant the job belongs to and is charged to (quotas, notifications filtering):
    /// `principal.tenant`, else `tenant`, else `webhook:<source>`.
    pub tenant: String,
    /// The key whose limits, budget and allowed models apply to the source's jobs.
    pub key_id: Option<String>,
    pub priority: Option<String>,
    /// Job metadata key → JSON pointer into the payload.
    pub metadata: BTreeMap<String, String>,
    pub max_body_bytes: usize,
}

/// Where a source's results are POSTed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CallbackSource {
    /// Always this URL.
    Url(String),
    /// The URL found at this JSON pointer in each payload.
    Pointer(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    sources: BTreeMap<String, RawSource>,
    #[serde(default = "default_ttl")]
    dedupe_ttl_secs: u64,
    #[serde(default = "default_max_body")]
    max_body_bytes: usize,
}

fn default_ttl() -> u64 {
    DEFAULT_DEDUPE_TTL_SECS
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

/// Who a source's jobs are charged to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    tenant: String,
    #[serde(default)]
    key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    signature: SignatureScheme,
    model: String,
    #[serde(default)]
    system: Option<String>,
    prompt: String,
    #[serde(default)]
    inference_config: Option<InferenceConfig>,
    #[serde(default)]
    callback: Option<CallbackSource>,
    #[serde(default)]
    callback_hosts: Option<Vec<String>>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    principal: Option<RawPrincipal>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    max_body_bytes: Option<usize>,
}

/// Why the webhook configuration cannot be used: the variable, the path, the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("WEBHOOK_CONFIG: {path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

impl WebhookConfig {
    /// `WEBHOOK_CONFIG` (inline JSON) from `lookup`, which also resolves `env:` secrets. Unset
    /// or empty: no sources.
    /// `callback_policy` is the deployment's (http / private receivers allowed or not): fixed
    /// callback URLs are checked against it here.
    pub fn from_env(
        lookup: &impl Fn(&str) -> Option<String>,
        gateway: &GatewayConfig,
        callback_policy: &CallbackPolicy,
    ) -> Result<Self, ConfigError> {
        let Some(json) = lookup("WEBHOOK_CONFIG").filter(|j| !j.trim().is_empty()) else {
            // A deployment without sources (the template's default): every delivery is 404.
            tracing::warn!("WEBHOOK_CONFIG is not set: no webhook source is configured");
            return Ok(Self {
                sources: BTreeMap::new(),
                dedupe_ttl_secs: DEFAULT_DEDUPE_TTL_SECS,
            });
        };
        Self::parse(&json, lookup, gateway, callback_policy)
    }

    pub fn parse(
        json: &str,
        lookup: &impl Fn(&str) -> Option<String>,
        gateway: &GatewayConfig,
        callback_policy: &CallbackPolicy,
    ) -> Result<Self, ConfigError> {
        let mut document: Value =
            serde_json::from_str(json).map_err(|e| invalid(".", format!("not JSON: {e}")))?;
        resolve_secrets(&mut document, lookup)?;
        let raw: RawConfig = serde_path_to_error::deserialize(document)
            .map_err(|e| invalid(e.path().to_string(), e.inner().to_string()))?;
        if raw.sources.is_empty() {
            return Err(invalid("sources", "at least one source is required"));
        }
        let sources = raw
            .sources
            .into_iter()
            .map(|(name, source)| {
                Source::build(&name, source, raw.max_body_bytes, gateway, callback_policy)
                    .map(|built| (name, built))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Self {
            sources,
            dedupe_ttl_secs: raw.dedupe_ttl_secs,
        })
    }

    /// The largest body any source accepts: the router's body limit.
    pub fn max_body_bytes(&self) -> usize {
        self.sources
            .values()
            .map(|s| s.max_body_bytes)
            .max()
            .unwrap_or(DEFAULT_MAX_BODY_BYTES)
    }
}

impl Source {
    fn build(
        name: &str,
        raw: RawSource,
        default_max_body: usize,
        gateway: &GatewayConfig,
        callback_policy: &CallbackPolicy,
    ) -> Result<Self, ConfigError> {
        let at = |field: &str| format!("sources.{name}.{field}");
        // Names become part of dedupe keys (`WEBHOOK#<source>#<id>`): no separators in them.
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                format!("sources.{name}"),
                "source names are letters, digits, `-` and `_`",
            ));
        }
        gateway
            .resolve_model(&raw.model)
            .map_err(|e| invalid(at("model"), e.to_string()))?;
        let prompt = Template::parse(&raw.prompt).map_err(|e| invalid(at("prompt"), e))?;
        let system = raw
            .system
            .as_deref()
            .map(Template::parse)
            .transpose()
            .map_err(|e| invalid(at("system"), e))?;
        let mut callback_hosts = raw.callback_hosts.filter(|hosts| !hosts.is_empty());
        match &raw.callback {
            Some(CallbackSource::Url(url)) => {
                let policy = CallbackPolicy {
                    allowed_hosts: callback_hosts.clone(),
                    ..callback_policy.clone()
                };
                let target = policy
                    .parse_callback_url(url)
                    .map_err(|e| invalid(at("callback.url"), e.to_string()))?;
                // The operator wrote this URL: its host is the allow-list when none is given.
                if callback_hosts.is_none() {
                    let host = target.url().host_str().unwrap_or_default().to_owned();
                    callback_hosts = Some(vec![host]);
                }
            }
            Some(CallbackSource::Pointer(pointer)) if !pointer.starts_with('/') => {
                return Err(invalid(
                    at("callback.pointer"),
                    "must be a JSON pointer starting with `/`",
                ));
            }
            Some(CallbackSource::Pointer(_)) if callback_hosts.is_none() => {
                // A URL from the payload is the sender's choice: only listed hosts get results.
                return Err(invalid(
                    at("callback_hosts"),
                    "required when the callback URL comes from the payload (callback.pointer)",
                ));
            }
            Some(CallbackSource::Pointer(_)) | None => {}
        }
        let named_tenant = raw.tenant.filter(|t| !t.trim().is_empty());
        let (tenant, key_id) = match raw.principal {
            Some(principal) => {
                if principal.tenant.trim().is_empty() {
                    return Err(invalid(at("principal.tenant"), "must not be empty"));
                }
                if named_tenant
                    .as_ref()
                    .is_some_and(|t| *t != principal.tenant)
                {
                    return Err(invalid(
                        at("tenant"),
                        "differs from principal.tenant; give one of them",
                    ));
                }
                if let Some(key_id) = &principal.key_id
                    && !gateway::controls::keys::is_key_id(key_id)
                {
                    return Err(invalid(
                        at("principal.key_id"),
                        "is not a gateway key id (GWK...)",
                    ));
                }
                (principal.tenant, principal.key_id)
            }
            None => (
                named_tenant.unwrap_or_else(|| format!("webhook:{name}")),
                None,
            ),
        };
        if !gateway::controls::keys::valid_tenant(&tenant) {
            return Err(invalid(at("tenant"), "is not a usable tenant name"));
        }
        if let Some((key, _)) = raw
            .metadata
            .iter()
            .find(|(_, pointer)| !pointer.starts_with('/'))
        {
            return Err(invalid(
                at(&format!("metadata.{key}")),
                "must be a JSON pointer starting with `/`",
            ));
        }
        if let Some(priority) = &raw.priority
            && !matches!(priority.as_str(), "high" | "normal")
        {
            return Err(invalid(at("priority"), "must be \"high\" or \"normal\""));
        }
        Ok(Self {
            name: name.to_owned(),
            signature: raw.signature,
            model: raw.model,
            system,
            prompt,
            inference_config: raw.inference_config,
            callback: raw.callback,
            callback_hosts,
            tenant,
            key_id,
            priority: raw.priority,
            metadata: raw.metadata,
            max_body_bytes: raw.max_body_bytes.unwrap_or(default_max_body),
        })
    }

    /// Metadata for the job: the source, then the configured pointers' values (absent ones
    /// skipped, long ones cut). The delivery id is added by the handler after the request is
    /// hashed: redeliveries of one body under other ids are the same job.
    pub fn metadata_for(&self, payload: &Value) -> BTreeMap<String, String> {
        let values = self.metadata.iter().filter_map(|(key, pointer)| {
            let text = crate::template::text_of(payload.pointer(pointer)?);
            Some((key.clone(), text.chars().take(MAX_METADATA_CHARS).collect()))
        });
        // Inserted in this order: a configured `webhook_source` key overrides the source's name.
        std::iter::once(("webhook_source".to_owned(), self.name.clone()))
            .chain(values)
            .collect()
    }
}

/// Replaces `env:NAME` secrets under `sources.*.signature.secret(s)` with the variable's
/// value. Errors name the path and the variable, never a value.
fn resolve_secrets(
    document: &mut Value,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let Some(sources) = document.get_mut("sources").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    for (name, source) in sources.iter_mut() {
        let Some(signature) = source.get_mut("signature").and_then(Value::as_object_mut) else {
            continue;
        };
        let mut slots: Vec<(String, &mut Value)> = Vec::new();
        for (key, value) in signature.iter_mut() {
            match (key.as_str(), value) {
                ("secret", value) => {
                    slots.push((format!("sources.{name}.signature.secret"), value))
                }
                ("secrets", Value::Array(items)) => {
                    for (i, item) in items.iter_mut().enumerate() {
                        slots.push((format!("sources.{name}.signature.secrets[{i}]"), item));
                    }
                }
                _ => {}
            }
        }
        for (path, slot) in slots {
            if let Some(var) = slot.as_str().and_then(|s| s.strip_prefix("env:")) {
                let var = var.trim().to_owned();
                let secret = lookup(&var)
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| {
                        invalid(path, format!("environment variable {var} is not set"))
                    })?;
                *slot = Value::String(secret);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn env(var: &str) -> Option<String> {
        match var {
            "TICKETS_SECRET" => Some(SECRET.to_owned()),
            "GH_SECRET" => Some("It's a Secret to Everybody".to_owned()),
            _ => None,
        }
    }

    fn parse(document: Value) -> Result<WebhookConfig, ConfigError> {
        WebhookConfig::parse(
            &document.to_string(),
            &env,
            &GatewayConfig::default(),
            &CallbackPolicy::default(),
        )
    }

    fn example() -> Value {
        json!({
            "sources": {
                "tickets": {
                    "signature": {"scheme": "standard", "secrets": ["env:TICKETS_SECRET"]},
                    "model": "haiku",
                    "prompt": "Title: {{/ticket/title}}",
                    "callback": {"pointer": "/callback_url"},
                    "callback_hosts": ["hooks.example.com"],
                    "metadata": {"ticket_id": "/ticket/id"}
                },
                "github": {
                    "signature": {"scheme": "github", "secret": "env:GH_SECRET"},
                    "model": "sonnet",
                    "prompt": "{{/action}}",
                    "callback": {"url": "https://ci.example.com/results"},
                    "tenant": "ci",
                    "max_body_bytes": 1048576
                }
            }
        })
    }

    #[test]
    fn the_documented_shape_parses_and_resolves_env_secrets() {
        let config = parse(example()).unwrap();
        let tickets = &config.sources["tickets"];
        assert_eq!(tickets.tenant, "webhook:tickets");
        assert_eq!(
            tickets.callback,
            Some(CallbackSource::Pointer("/callback_url".into()))
        );
        assert_eq!(config.sources["github"].tenant, "ci");
        assert_eq!(config.max_body_bytes(), 1048576);
        assert_eq!(config.dedupe_ttl_secs, DEFAULT_DEDUPE_TTL_SECS);
        assert!(
            !format!("{config:?}").contains("MfKQ9"),
            "secrets are never printed"
        );
        // The module docs' example is the one operators copy: it must parse.
        let docs = include_str!("config.rs");
        let start = docs.find("//! ```json").unwrap();
        let end = start + docs[start..].find("//! ```\n").unwrap();
        let example: String = docs[start..end]
            .lines()
            .skip(1)
            .map(|l| l.trim_start_matches("//!"))
            .collect();
        let lookup = |var: &str| match var {
            "TICKETS_WEBHOOK_SECRET" => Some(SECRET.to_owned()),
            "GITHUB_WEBHOOK_SECRET" => Some("gh-secret".to_owned()),
            _ => None,
        };
        WebhookConfig::parse(
            &example,
            &lookup,
            &GatewayConfig::default(),
            &CallbackPolicy::default(),
        )
        .unwrap();
    }

    #[test]
    fn errors_name_the_path_and_never_the_secret() {
        let mut missing_var = example();
        missing_var["sources"]["github"]["signature"]["secret"] = json!("env:NOPE");
        let err = parse(missing_var).unwrap_err().to_string();
        assert_eq!(
            err,
            "WEBHOOK_CONFIG: sources.github.signature.secret: environment variable NOPE is not set"
        );

        let mut short = example();
        short["sources"]["tickets"]["signature"]["secrets"] = json!(["whsec_c2hvcnQ="]);
        let err = parse(short).unwrap_err().to_string();
        assert!(
            err.starts_with("WEBHOOK_CONFIG: sources.tickets.signature"),
            "{err}"
        );
        assert!(!err.contains("c2hvcnQ"), "{err}");

        let cases = [
            (json!({"sources": {}}), "sources"),
            (
                with(example(), "/sources/tickets/model", json!("gpt-17")),
                "sources.tickets.model",
            ),
            (
                with(example(), "/sources/tickets/prompt", json!("{{oops")),
                "sources.tickets.prompt",
            ),
            (
                with(example(), "/sources/tickets/modle", json!("x")),
                "sources.tickets",
            ),
            (
                with(
                    example(),
                    "/sources/github/callback",
                    json!({"url": "http://169.254.169.254/"}),
                ),
                "sources.github.callback.url",
            ),
            (
                with(
                    example(),
                    "/sources/tickets/metadata",
                    json!({"ticket_id": "id"}),
                ),
                "sources.tickets.metadata.ticket_id",
            ),
            (
                with(example(), "/sources/tickets/priority", json!("urgent")),
                "sources.tickets.priority",
            ),
        ];
        for (document, path) in cases {
            let err = parse(document).unwrap_err();
            assert!(err.path.starts_with(path), "{path}: {err}");
        }
        let bad_name = with(
            example(),
            "/sources/bad#name",
            example()["sources"]["tickets"].clone(),
        );
        assert!(
            parse(bad_name)
                .unwrap_err()
                .path
                .starts_with("sources.bad#name")
        );
    }

    #[test]
    fn principals_and_callback_hosts_are_checked() {
        let with_principal = with(
            example(),
            "/sources/tickets/principal",
            json!({"tenant": "support", "key_id": "GWKAAAAAAAAAAAAAAAAA"}),
        );
        let config = parse(with_principal.clone()).unwrap();
        let tickets = &config.sources["tickets"];
        assert_eq!(tickets.tenant, "support");
        assert_eq!(tickets.key_id.as_deref(), Some("GWKAAAAAAAAAAAAAAAAA"));
        // A fixed URL's host is the allow-list when none is given.
        assert_eq!(
            config.sources["github"].callback_hosts,
            Some(vec!["ci.example.com".to_owned()])
        );
        let cases = [
            (
                with(
                    with_principal.clone(),
                    "/sources/tickets/tenant",
                    json!("other"),
                ),
                "sources.tickets.tenant",
            ),
            (
                with(
                    example(),
                    "/sources/tickets/principal",
                    json!({"tenant": "support", "key_id": "nope"}),
                ),
                "sources.tickets.principal.key_id",
            ),
            (
                with(example(), "/sources/tickets/callback_hosts", json!([])),
                "sources.tickets.callback_hosts",
            ),
        ];
        for (document, path) in cases {
            let err = parse(document).unwrap_err();
            assert!(err.path.starts_with(path), "{path}: {err}");
        }
    }

    #[test]
    fn an_unset_config_means_no_sources() {
        let config = WebhookConfig::from_env(
            &|_| None,
            &GatewayConfig::default(),
            &CallbackPolicy::default(),
        )
        .unwrap();
        assert!(config.sources.is_empty());
        assert_eq!(config.max_body_bytes(), DEFAULT_MAX_BODY_BYTES);
        let json = example().to_string();
        let lookup = |var: &str| {
            if var == "WEBHOOK_CONFIG" {
                Some(json.clone())
            } else {
                env(var)
            }
        };
        let config = WebhookConfig::from_env(
            &lookup,
            &GatewayConfig::default(),
            &CallbackPolicy::default(),
        )
        .unwrap();
        assert_eq!(config.sources.len(), 2);
    }

    fn with(mut document: Value, pointer: &str, value: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        document.pointer_mut(parent).unwrap()[key] = value;
        document
    }

    #[test]
    fn metadata_comes_from_pointers_and_is_bounded() {
        let config = parse(example()).unwrap();
        let payload = json!({"ticket": {"id": "x".repeat(1000)}});
        let metadata = config.sources["tickets"].metadata_for(&payload);
        assert_eq!(metadata["webhook_source"], "tickets");
        assert_eq!(metadata["ticket_id"].len(), 256);
        let absent = config.sources["tickets"].metadata_for(&json!({}));
        assert!(!absent.contains_key("ticket_id"));
    }
}
