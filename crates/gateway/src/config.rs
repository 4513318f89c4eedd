//! The gateway's configuration: one JSON document, parsed and validated once at cold start.
//! A bad document fails the init with the offending path named; it never fails a request.
//!
//! Source, first found: `GATEWAY_CONFIG` (the JSON inline), `GATEWAY_CONFIG_FILE` (a path),
//! else the built-in defaults below.

use crate::api::tasks::Task;
use crate::error::GatewayError;
use crate::resilience::{
    BreakerConfig, ClassifierConfig, HealthConfig, InvalidConfig, RetryBudgetConfig, RetryPolicy,
    Strategy, Tier,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The models callers may use; anything else is refused with the list of these.
    pub models: Vec<ModelConfig>,
    /// Task route → model (id or alias): the static routing table.
    #[serde(default = "default_routes")]
    pub routes: BTreeMap<Task, String>,
    #[serde(default)]
    pub limits: Limits,
    /// Retry, circuit breaker, shared health and the cached-response tier.
    #[serde(default)]
    pub resilience: ResilienceConfig,
    /// Content-based (`auto`) and metric-based (model groups) routing.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// Authentication, limits, budgets, prices, the response cache, audit and metrics.
    #[serde(default)]
    pub controls: crate::controls::ControlsConfig,
    /// Bedrock knowledge bases callers may query (RAG route, Retrieve, RetrieveAndGenerate).
    #[serde(default)]
    pub knowledge_bases: Vec<crate::knowledge_base::KnowledgeBaseConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A Bedrock model id, inference-profile id (`us.`, `eu.`, `apac.`, `global.`) or ARN.
    pub id: String,
    /// Friendly names callers may use instead (`haiku`, `small`, `gpt-4o-mini`, …).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Regions to call the model in, in order; when one's breaker is open the next is tried.
    /// Empty: the home region only.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Models (ids or aliases) tried after this one fails over, in order, each in its own
    /// regions: the fallback chain, e.g. sonnet → haiku.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Whether the last good answer to an identical request may be served when every target
    /// failed. Unset: `resilience.cache_tier.enabled`.
    #[serde(default)]
    pub cache_tier: Option<bool>,
    /// USD per 1k tokens, for the `cost` strategy of model groups.
    #[serde(default)]
    pub price_per_1k_tokens: Option<f64>,
    /// Inference-profile geographies (`us`, `eu`, `apac`, `global`, …) callers may name this
    /// model through (`us.<id>` or a profile ARN); the call then goes to that profile.
    /// Empty: any geography.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Served by a SageMaker endpoint instead of Bedrock (`id` is then the gateway's own name
    /// for it): endpoint, inference component, payload dialect, hourly price.
    #[serde(default)]
    pub sagemaker: Option<crate::sagemaker::SageMakerModel>,
    /// `chat` or `embedding` (served on `/v1/embeddings`). Unset: `embedding` for the ids of
    /// Titan Text Embeddings v2 and Cohere Embed v3, else `chat`.
    #[serde(default)]
    pub kind: Option<ModelKind>,
}

/// What a model is called for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Chat,
    Embedding,
}

impl ModelConfig {
    pub fn kind(&self) -> ModelKind {
        self.kind.unwrap_or_else(|| {
            if crate::api::embeddings::EmbeddingFamily::of(&self.id).is_some() {
                ModelKind::Embedding
            } else {
                ModelKind::Chat
            }
        })
    }
}

/// The resilience policies' settings; every section has working defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResilienceConfig {
    /// The one retry loop: attempts per target, backoff, the shortest worthwhile attempt.
    pub retry: RetryPolicy,
    /// Per-instance token bucket that caps retries during a storm.
    pub retry_budget: RetryBudgetConfig,
    /// Circuit breaker per (model, region), shared through the state table.
    pub breaker: BreakerConfig,
    /// Latency / error EWMAs per model, shared through the state table (metric routing).
    pub health: HealthConfig,
    pub cache_tier: CacheTierConfig,
}

/// The last chain link: the last good answer to an identical request.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheTierConfig {
    /// Default for models that do not set `cache_tier`.
    pub enabled: bool,
    /// How old a remembered answer may be and still be served.
    pub ttl_ms: u64,
    /// Answers remembered per instance (the in-memory store); oldest are dropped first.
    pub max_entries: usize,
}

impl Default for CacheTierConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_ms: 24 * 60 * 60 * 1000,
            max_entries: 1_000,
        }
    }
}

/// Routing beyond the static name → model table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// The model name that asks for content-based routing.
    pub auto_model: String,
    /// Request features → tier, without a model call.
    pub classifier: ClassifierConfig,
    /// Tier → model or group name. Unset: `small` / `medium` / `large`, and `auto` is offered
    /// only if those three names exist; set: every tier must name a model or group.
    pub tiers: Option<BTreeMap<Tier, String>>,
    /// Equivalent models a caller names as one; the member is chosen per request from shared
    /// health (power of two choices) and the others are its fallbacks.
    pub groups: Vec<ModelGroup>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            auto_model: "auto".to_owned(),
            classifier: ClassifierConfig::default(),
            tiers: None,
            groups: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelGroup {
    /// The name callers use, like a model alias.
    pub name: String,
    /// Model ids or aliases; at least one.
    pub models: Vec<String>,
    #[serde(default)]
    pub strategy: Strategy,
    /// Health older than this is unknown (and so optimistic: the model gets probed again).
    #[serde(default = "default_stale_after_ms")]
    pub stale_after_ms: u64,
}

/// The geography prefixes of Bedrock's cross-region inference-profile ids.
pub const PROFILE_GEOGRAPHIES: [&str; 8] =
    ["us", "us-gov", "eu", "apac", "global", "jp", "au", "ca"];

const TIERS: [Tier; 3] = [Tier::Simple, Tier::Medium, Tier::Complex];

fn default_stale_after_ms() -> u64 {
    60_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted; larger gets 413.
    pub max_body_bytes: usize,
    /// Overall budget for one request, retries and fallbacks included.
    pub request_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout_ms: 60_000,
        }
    }
}

/// Claude Haiku 4.5 and Sonnet 4.5: current models (3.5 Haiku and 3.7 Sonnet are retired).
pub const HAIKU: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
pub const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
pub const NOVA_LITE: &str = "amazon.nova-lite-v1:0";
pub const TITAN_EMBED: &str = "amazon.titan-embed-text-v2:0";
pub const COHERE_EMBED: &str = "cohere.embed-english-v3";

fn default_routes() -> BTreeMap<Task, String> {
    BTreeMap::from([
        (Task::Classify, "small".to_owned()),
        (Task::Generate, "large".to_owned()),
        (Task::Analyze, "medium".to_owned()),
    ])
}

impl Default for GatewayConfig {
    fn default() -> Self {
        let model = |id: &str, aliases: &[&str]| ModelConfig {
            id: id.to_owned(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            ..ModelConfig::default()
        };
        Self {
            models: vec![
                model(HAIKU, &["haiku", "small"]),
                model(NOVA_LITE, &["nova-lite", "medium"]),
                model(SONNET, &["sonnet", "large"]),
                model(TITAN_EMBED, &["titan-embed"]),
                model(COHERE_EMBED, &["cohere-embed"]),
            ],
            routes: default_routes(),
            limits: Limits::default(),
            resilience: ResilienceConfig::default(),
            routing: RoutingConfig::default(),
            controls: crate::controls::ControlsConfig::default(),
            knowledge_bases: Vec::new(),
        }
    }
}

/// Why the configuration cannot be used. Names the variable and the path inside the document.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {path}: {message}")]
    Invalid {
        var: &'static str,
        path: String,
        message: String,
    },
    #[error("{var}: cannot read {file}: {message}")]
    Unreadable {
        var: &'static str,
        file: String,
        message: String,
    },
    /// A plain variable (a name, a number, a flag) that is missing or does not parse.
    #[error(transparent)]
    Env(#[from] crate::env::EnvError),
}

impl GatewayConfig {
    /// Reads the configuration from the environment (through `lookup`, so tests need no globals).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (var, json) = if let Some(json) =
            lookup("GATEWAY_CONFIG").filter(|s| !s.trim().is_empty())
        {
            ("GATEWAY_CONFIG", json)
        } else if let Some(file) = lookup("GATEWAY_CONFIG_FILE").filter(|s| !s.trim().is_empty()) {
            let json = std::fs::read_to_string(&file).map_err(|e| ConfigError::Unreadable {
                var: "GATEWAY_CONFIG_FILE",
                file: file.clone(),
                message: e.to_string(),
            })?;
            ("GATEWAY_CONFIG_FILE", json)
        } else {
            return Ok(Self::default());
        };
        Self::parse(var, &json)
    }

    pub fn parse(var: &'static str, json: &str) -> Result<Self, ConfigError> {
        let config: Self = Invalid(var).read(json)?;
        config.validate(var)?;
        Ok(config)
    }

    fn validate(&self, var: &'static str) -> Result<(), ConfigError> {
        let invalid = Invalid(var);
        if self.models.is_empty() {
            return Err(invalid.at("models", "at least one model is required"));
        }
        let mut names = HashSet::new();
        for (i, model) in self.models.iter().enumerate() {
            if model.id.trim().is_empty() {
                return Err(invalid.at(format!("models[{i}].id"), "must not be empty"));
            }
            for name in std::iter::once(&model.id).chain(&model.aliases) {
                if !names.insert(name.as_str()) {
                    return Err(invalid.at(
                        format!("models[{i}]"),
                        format!("name '{name}' is used twice"),
                    ));
                }
            }
        }
        self.validate_models(invalid)?;
        self.validate_routing(invalid, &mut names)?;
        for (task, name) in &self.routes {
            if !self.is_routable(name) {
                return Err(invalid.at(
                    format!("routes.{}", task.name()),
                    format!("'{name}' is not a configured model id, alias or group"),
                ));
            }
        }
        if self.limits.max_body_bytes == 0 {
            return Err(invalid.at("limits.max_body_bytes", "must be positive"));
        }
        if self.limits.request_timeout_ms == 0 {
            return Err(invalid.at("limits.request_timeout_ms", "must be positive"));
        }
        self.validate_resilience(invalid)?;
        self.validate_knowledge_bases(invalid)?;
        self.controls
            .validate()
            .map_err(|e| invalid.at(format!("controls.{}", e.key), e.reason))
    }

    fn validate_models(&self, invalid: Invalid) -> Result<(), ConfigError> {
        for (i, model) in self.models.iter().enumerate() {
            let mut seen = HashSet::new();
            for (j, region) in model.regions.iter().enumerate() {
                if region.is_empty() || !region.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(invalid.at(
                        format!("models[{i}].regions[{j}]"),
                        format!("'{region}' is not a region name"),
                    ));
                }
                if !seen.insert(region) {
                    return Err(invalid.at(
                        format!("models[{i}].regions[{j}]"),
                        format!("region '{region}' is listed twice"),
                    ));
                }
            }
            for (j, name) in model.fallbacks.iter().enumerate() {
                let path = format!("models[{i}].fallbacks[{j}]");
                let Some(fallback) = self.model(name) else {
                    return Err(invalid.at(
                        path,
                        format!("'{name}' is not a configured model id or alias"),
                    ));
                };
                if fallback.id == model.id {
                    return Err(invalid.at(path, "a model cannot fall back to itself"));
                }
            }
            for (j, geography) in model.profiles.iter().enumerate() {
                if !PROFILE_GEOGRAPHIES.contains(&geography.as_str()) {
                    return Err(invalid.at(
                        format!("models[{i}].profiles[{j}]"),
                        format!(
                            "'{geography}' is not an inference-profile geography (one of {})",
                            PROFILE_GEOGRAPHIES.join(", ")
                        ),
                    ));
                }
            }
            let speaks = crate::api::embeddings::EmbeddingFamily::of(&model.id).is_some();
            if model.kind() == ModelKind::Embedding && !speaks {
                return Err(invalid.at(
                    format!("models[{i}].kind"),
                    "embedding models are Titan Text Embeddings v2 or Cohere Embed v3 ids",
                ));
            }
            if model
                .price_per_1k_tokens
                .is_some_and(|p| !p.is_finite() || p < 0.0)
            {
                return Err(invalid.at(
                    format!("models[{i}].price_per_1k_tokens"),
                    "must be a non-negative number",
                ));
            }
            if let Some(sagemaker) = &model.sagemaker {
                if let Err((field, reason)) = sagemaker.validate() {
                    return Err(invalid.at(format!("models[{i}].sagemaker.{field}"), reason));
                }
                // The endpoint lives in the home region; failover is a fallback model's job.
                if !model.regions.is_empty() || !model.profiles.is_empty() {
                    return Err(invalid.at(
                        format!("models[{i}].regions"),
                        "a SageMaker-served model has no regions or inference profiles",
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_routing<'a>(
        &'a self,
        invalid: Invalid,
        names: &mut HashSet<&'a str>,
    ) -> Result<(), ConfigError> {
        let routing = &self.routing;
        if routing.auto_model.trim().is_empty() {
            return Err(invalid.at("routing.auto_model", "must not be empty"));
        }
        routing
            .classifier
            .validate()
            .map_err(|e| invalid.section("routing.classifier", e))?;
        for (i, group) in routing.groups.iter().enumerate() {
            if group.name.trim().is_empty() {
                return Err(invalid.at(format!("routing.groups[{i}].name"), "must not be empty"));
            }
            if !names.insert(group.name.as_str()) {
                return Err(invalid.at(
                    format!("routing.groups[{i}].name"),
                    format!("name '{}' is used twice", group.name),
                ));
            }
            if group.models.is_empty() {
                return Err(invalid.at(
                    format!("routing.groups[{i}].models"),
                    "a group needs at least one model",
                ));
            }
            let mut members = HashSet::new();
            for (j, name) in group.models.iter().enumerate() {
                let path = format!("routing.groups[{i}].models[{j}]");
                let Some(model) = self.model(name) else {
                    return Err(invalid.at(
                        path,
                        format!("'{name}' is not a configured model id or alias"),
                    ));
                };
                if !members.insert(model.id.as_str()) {
                    return Err(invalid.at(path, format!("'{name}' is in the group twice")));
                }
            }
            if group.stale_after_ms == 0 {
                return Err(invalid.at(
                    format!("routing.groups[{i}].stale_after_ms"),
                    "must be positive",
                ));
            }
        }
        if let Some(tiers) = &routing.tiers {
            for tier in TIERS {
                let path = format!("routing.tiers.{}", tier.as_str());
                let Some(name) = tiers.get(&tier) else {
                    return Err(invalid.at(path, "every tier needs a model or group"));
                };
                if !self.is_routable(name) {
                    return Err(invalid.at(
                        path,
                        format!("'{name}' is not a configured model id, alias or group"),
                    ));
                }
            }
        }
        if self.auto_enabled() && !names.insert(routing.auto_model.as_str()) {
            return Err(invalid.at(
                "routing.auto_model",
                format!("'{}' is already a model or group name", routing.auto_model),
            ));
        }
        Ok(())
    }

    fn validate_resilience(&self, invalid: Invalid) -> Result<(), ConfigError> {
        let r = &self.resilience;
        r.retry
            .validate()
            .map_err(|e| invalid.section("resilience.retry", e))?;
        r.retry_budget
            .validate()
            .map_err(|e| invalid.section("resilience.retry_budget", e))?;
        r.breaker
            .validate()
            .map_err(|e| invalid.section("resilience.breaker", e))?;
        r.health
            .validate()
            .map_err(|e| invalid.section("resilience.health", e))?;
        if r.cache_tier.ttl_ms == 0 {
            return Err(invalid.at("resilience.cache_tier.ttl_ms", "must be positive"));
        }
        if r.cache_tier.max_entries == 0 {
            return Err(invalid.at("resilience.cache_tier.max_entries", "must be at least 1"));
        }
        Ok(())
    }

    fn validate_knowledge_bases(&self, invalid: Invalid) -> Result<(), ConfigError> {
        use crate::knowledge_base::{MAX_CHUNK_BYTES, MAX_RESULTS, valid_id};
        let mut ids = HashSet::new();
        for (i, kb) in self.knowledge_bases.iter().enumerate() {
            let path = |field: &str| format!("knowledge_bases[{i}].{field}");
            if !valid_id(&kb.id) {
                return Err(invalid.at(
                    path("id"),
                    format!("'{}' is not a knowledge base id ([0-9a-zA-Z]{{10}})", kb.id),
                ));
            }
            if !ids.insert(kb.id.as_str()) {
                return Err(invalid.at(path("id"), format!("'{}' is listed twice", kb.id)));
            }
            if !self.is_routable(&kb.model) {
                return Err(invalid.at(
                    path("model"),
                    format!(
                        "'{}' is not a configured model id, alias or group",
                        kb.model
                    ),
                ));
            }
            if !(1..=MAX_RESULTS).contains(&kb.number_of_results) {
                return Err(invalid.at(
                    path("number_of_results"),
                    format!("must be 1 to {MAX_RESULTS}"),
                ));
            }
            if !(1..=MAX_CHUNK_BYTES).contains(&kb.max_chunk_bytes) {
                return Err(invalid.at(
                    path("max_chunk_bytes"),
                    format!("must be 1 to {MAX_CHUNK_BYTES}"),
                ));
            }
            if kb.embedding_model.trim().is_empty() {
                return Err(invalid.at(
                    path("embedding_model"),
                    "must name the model that embeds queries",
                ));
            }
        }
        Ok(())
    }

    /// A configured knowledge base.
    pub fn knowledge_base(&self, id: &str) -> Option<&crate::knowledge_base::KnowledgeBaseConfig> {
        self.knowledge_bases.iter().find(|kb| kb.id == id)
    }

    /// The model group a caller's name refers to.
    pub fn group(&self, name: &str) -> Option<&ModelGroup> {
        self.routing.groups.iter().find(|g| g.name == name)
    }

    /// Whether `name` asks for content-based routing.
    pub fn is_auto(&self, name: &str) -> bool {
        self.routing.auto_model == name && self.auto_enabled()
    }

    /// Whether content-based routing is offered: every tier names a model or group.
    pub fn auto_enabled(&self) -> bool {
        TIERS.iter().all(|t| self.tier_target(*t).is_some())
    }

    /// The model or group name a tier routes to.
    pub fn tier_target(&self, tier: Tier) -> Option<&str> {
        let name = match &self.routing.tiers {
            Some(tiers) => tiers.get(&tier)?.as_str(),
            None => match tier {
                Tier::Simple => "small",
                Tier::Medium => "medium",
                Tier::Complex => "large",
            },
        };
        self.is_routable(name).then_some(name)
    }

    /// A model id, alias or group name (what a route, tier or caller may name).
    fn is_routable(&self, name: &str) -> bool {
        self.model(name).is_some() || self.group(name).is_some()
    }

    /// Every region a model may be called in: the Bedrock clients to build at cold start.
    pub fn regions(&self) -> Vec<String> {
        let regions: BTreeSet<&String> = self.models.iter().flat_map(|m| &m.regions).collect();
        regions.into_iter().cloned().collect()
    }

    /// Whether a model's chain ends with the cached-response tier.
    pub fn cache_tier_for(&self, model: &ModelConfig) -> bool {
        model
            .cache_tier
            .unwrap_or(self.resilience.cache_tier.enabled)
    }

    /// The model a caller's name refers to: its id or an alias, or an inference-profile id
    /// or ARN of a configured model (`us.<id>`, `global.<id>`, `arn:…:inference-profile/…`)
    /// in a geography the model's `profiles` allow.
    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.named(name).or_else(|| {
            let id = strip_bedrock_arn(name)?;
            if let Some(model) = self.models.iter().find(|m| m.id == id) {
                return Some(model);
            }
            let (geography, base) = crate::model_id::split_model_id(id);
            let geography = geography?;
            // A SageMaker-served model has no inference profiles.
            self.models.iter().find(|m| {
                m.id == base
                    && m.sagemaker.is_none()
                    && (m.profiles.is_empty() || m.profiles.iter().any(|p| p == geography))
            })
        })
    }

    fn named(&self, name: &str) -> Option<&ModelConfig> {
        self.models
            .iter()
            .find(|m| m.id == name || m.aliases.iter().any(|a| a == name))
    }

    /// The id to call Bedrock with when a caller named `model` as `name`: the profile id or
    /// ARN the caller gave (so the call goes through that profile), else the configured id.
    pub fn call_id<'a>(&self, name: &'a str, model: &'a ModelConfig) -> &'a str {
        if self.named(name).is_some() {
            &model.id
        } else {
            name
        }
    }

    /// Like [`Self::model`], with the error a caller sees for an unknown name.
    pub fn resolve_model(&self, name: &str) -> Result<&ModelConfig, GatewayError> {
        self.model(name).ok_or_else(|| GatewayError::UnknownModel {
            model: name.to_owned(),
            allowed: self.allowed_names(),
        })
    }

    /// Every name a caller may use: model ids, aliases, group names and the `auto` name.
    pub fn allowed_names(&self) -> Vec<String> {
        self.models
            .iter()
            .flat_map(|m| std::iter::once(m.id.clone()).chain(m.aliases.iter().cloned()))
            .chain(self.routing.groups.iter().map(|g| g.name.clone()))
            .chain(self.auto_enabled().then(|| self.routing.auto_model.clone()))
            .collect()
    }

    /// The names a caller with allow-list `allowed` (empty: every model) may use: what an
    /// unknown-model error lists to it, so a key never learns the models outside its list.
    pub fn names_for(&self, allowed: &[String]) -> Vec<String> {
        let mut names = self.allowed_names();
        if !allowed.is_empty() {
            names.retain(|name| {
                allowed.contains(name)
                    || self
                        .model(name)
                        .is_some_and(|m| self.permits(allowed, &m.id))
            });
        }
        names
    }

    /// `error`, with an unknown-model error's list cut to the names `allowed` may use.
    pub fn narrow_unknown(&self, error: GatewayError, allowed: &[String]) -> GatewayError {
        match error {
            GatewayError::UnknownModel { model, .. } => GatewayError::UnknownModel {
                model,
                allowed: self.names_for(allowed),
            },
            other => other,
        }
    }

    /// Whether an allow-list (a key's `allowed_models`; empty: every model) lets a caller's
    /// call reach `model_id`. A listed name covers a model when it is the model's id or one
    /// of its aliases, a group the model is a member of, or the `auto` name when the model
    /// is (a member of) one of its tiers' targets. Fallbacks are not covered by the name of
    /// the model they back up: a key reaches a fallback only if it may use it by name.
    pub fn permits(&self, allowed: &[String], model_id: &str) -> bool {
        allowed.is_empty() || allowed.iter().any(|name| self.covers(name, model_id))
    }

    fn covers(&self, name: &str, model_id: &str) -> bool {
        // A target called through an inference profile is the configured model it resolves to.
        let model_id = self.model(model_id).map_or(model_id, |m| m.id.as_str());
        if name == model_id || self.model(name).is_some_and(|m| m.id == model_id) {
            return true;
        }
        let in_group = |group: &ModelGroup| {
            group
                .models
                .iter()
                .any(|m| self.model(m).is_some_and(|m| m.id == model_id))
        };
        if self.group(name).is_some_and(in_group) {
            return true;
        }
        self.is_auto(name)
            && TIERS
                .iter()
                .filter_map(|t| self.tier_target(*t))
                .any(|target| {
                    self.model(target).is_some_and(|m| m.id == model_id)
                        || self.group(target).is_some_and(in_group)
                })
    }
}

/// `arn:<partition>:bedrock:<region>:<account>:inference-profile/<id>` (or `foundation-model/`)
/// → `<id>`; a plain id as is; any other ARN (application profiles, other services) `None`.
pub fn strip_bedrock_arn(model_id: &str) -> Option<&str> {
    if !model_id.starts_with("arn:") {
        return Some(model_id);
    }
    let mut fields = model_id.splitn(6, ':');
    let service = fields.nth(2)?;
    let resource = fields.nth(2)?;
    let (kind, id) = resource.split_once('/')?;
    (service == "bedrock"
        && matches!(kind, "inference-profile" | "foundation-model")
        && !id.is_empty())
    .then_some(id)
}

/// The foundation model behind a model id, profile id or ARN: `us.anthropic.x` →
/// `anthropic.x`; an id that is neither (e.g. an application-profile ARN) as is.
pub fn foundation_model_id(model_id: &str) -> &str {
    strip_bedrock_arn(model_id).map_or(model_id, |id| crate::model_id::split_model_id(id).1)
}

/// Makes the error naming a bad key of the configuration read from `.0` (the variable).
#[derive(Clone, Copy)]
pub(crate) struct Invalid(pub &'static str);

impl Invalid {
    pub(crate) fn at(self, path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            var: self.0,
            path: path.into(),
            message: message.into(),
        }
    }

    /// A section's own check failed: its key under the section's path.
    fn section(self, section: &str, error: InvalidConfig) -> ConfigError {
        self.at(format!("{section}.{}", error.key), error.reason)
    }

    /// `json` read as a `T`, a wrong field named with its path.
    pub(crate) fn read<T: serde::de::DeserializeOwned>(self, json: &str) -> Result<T, ConfigError> {
        let deserializer = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(deserializer)
            .map_err(|e| self.at(e.path().to_string(), e.inner().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_valid_and_route_every_task() {
        let config = GatewayConfig::from_env(env(&[])).unwrap();
        config.validate("default").unwrap();
        let routed = |task| {
            config
                .resolve_model(&config.routes[&task])
                .unwrap()
                .id
                .clone()
        };
        assert_eq!(routed(Task::Classify), HAIKU);
        assert_eq!(routed(Task::Generate), SONNET);
    }

    #[test]
    fn a_wrong_field_is_named_with_its_path() {
        let err = GatewayConfig::from_env(env(&[(
            "GATEWAY_CONFIG",
            r#"{"models":[{"id":"a","aliase":[]}]}"#,
        )]))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("GATEWAY_CONFIG: models[0]"), "{err}");
        assert!(err.contains("aliase"), "{err}");
    }

    #[test]
    fn a_route_to_an_unknown_model_is_refused() {
        let err = GatewayConfig::parse(
            "GATEWAY_CONFIG",
            r#"{"models":[{"id":"a"}],"routes":{"classify":"b"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("routes.classify"), "{err}");
    }

    #[test]
    fn duplicate_names_are_refused() {
        let err = GatewayConfig::parse(
            "GATEWAY_CONFIG",
            r#"{"models":[{"id":"a","aliases":["x"]},{"id":"b","aliases":["x"]}],"routes":{}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("'x' is used twice"), "{err}");
    }

    #[test]
    fn an_unreadable_file_names_the_variable() {
        let err = GatewayConfig::from_env(env(&[("GATEWAY_CONFIG_FILE", "/nonexistent/gw.json")]))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("GATEWAY_CONFIG_FILE: cannot read /nonexistent/gw.json")
        );
    }

    #[test]
    fn unknown_model_lists_allowed_names() {
        let config = GatewayConfig::default();
        let GatewayError::UnknownModel { allowed, .. } = config.resolve_model("gpt-5").unwrap_err()
        else {
            panic!("expected UnknownModel");
        };
        assert!(allowed.contains(&"haiku".to_owned()));
    }

    fn refusal(json: &str) -> String {
        GatewayConfig::parse("GATEWAY_CONFIG", json)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn resilience_and_routing_sections_parse_with_defaults() {
        let config = GatewayConfig::parse(
            "GATEWAY_CONFIG",
            r#"{
                "models": [
                    {"id": "us.big", "aliases": ["large"], "regions": ["us-east-1", "us-west-2"],
                     "fallbacks": ["small"], "price_per_1k_tokens": 0.015},
                    {"id": "mid", "aliases": ["medium"]},
                    {"id": "tiny", "aliases": ["small"], "cache_tier": false}
                ],
                "routes": {"classify": "fast", "generate": "large", "analyze": "medium"},
                "resilience": {
                    "retry": {"max_attempts": 2, "base_delay_ms": 50},
                    "breaker": {"open_ms": 300, "cache_ttl_ms": 50},
                    "cache_tier": {"ttl_ms": 60000}
                },
                "routing": {
                    "auto_model": "router",
                    "classifier": {"complex_keywords": ["audit"]},
                    "tiers": {"simple": "fast", "medium": "medium", "complex": "large"},
                    "groups": [{"name": "fast", "models": ["tiny", "mid"], "strategy": "cost"}]
                }
            }"#,
        )
        .unwrap();
        assert_eq!(config.resilience.retry.max_attempts, 2);
        assert_eq!(config.resilience.breaker.open_ms, 300);
        assert_eq!(
            config.resilience.breaker.min_requests, 20,
            "defaults fill in"
        );
        assert!(config.is_auto("router") && !config.is_auto("auto"));
        assert_eq!(config.tier_target(Tier::Simple), Some("fast"));
        assert_eq!(config.group("fast").unwrap().strategy, Strategy::Cost);
        assert_eq!(config.regions(), ["us-east-1", "us-west-2"]);
        assert!(config.cache_tier_for(config.model("large").unwrap()));
        assert!(!config.cache_tier_for(config.model("small").unwrap()));
        assert!(config.allowed_names().contains(&"router".to_owned()));
    }

    #[test]
    fn default_config_offers_auto_over_the_size_aliases() {
        let config = GatewayConfig::default();
        assert!(config.is_auto("auto"));
        assert_eq!(config.tier_target(Tier::Complex), Some("large"));
        // Without the size aliases and without tiers, `auto` is simply not offered.
        let bare = GatewayConfig::parse("GATEWAY_CONFIG", r#"{"models":[{"id":"a"}],"routes":{}}"#)
            .unwrap();
        assert!(!bare.is_auto("auto"));
    }

    #[test]
    fn inference_profile_ids_resolve_to_configured_models() {
        let config = GatewayConfig::default();
        for name in [
            format!("us.{HAIKU}"),
            format!("global.{HAIKU}"),
            format!("eu.{HAIKU}"),
            format!("apac.{HAIKU}"),
            format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{HAIKU}"),
            format!("arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}"),
        ] {
            let model = config.model(&name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(model.id, HAIKU, "{name}");
            // Called through the profile the caller named.
            assert_eq!(config.call_id(&name, model), name);
        }
        let haiku = config.model("haiku").unwrap();
        assert_eq!(config.call_id("haiku", haiku), HAIKU);
        assert_eq!(config.call_id(HAIKU, haiku), HAIKU);
        for unknown in [
            format!("xx.{HAIKU}"),
            "us.anthropic.claude-unknown-v1:0".to_owned(),
            format!("arn:aws:s3:::bucket/{HAIKU}"),
            format!("arn:aws:bedrock:us-east-1:1:application-inference-profile/{HAIKU}"),
            "us.haiku".to_owned(),
        ] {
            assert!(config.model(&unknown).is_none(), "{unknown}");
        }
        assert_eq!(foundation_model_id(&format!("global.{HAIKU}")), HAIKU);
        assert_eq!(
            foundation_model_id(&format!(
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{HAIKU}"
            )),
            HAIKU
        );
        assert_eq!(foundation_model_id(HAIKU), HAIKU);
        // The allow-list applies to the model, whatever id it is called by.
        let allowed = ["haiku".to_owned()];
        assert!(config.permits(&allowed, &format!("us.{HAIKU}")));
        assert!(!config.permits(&allowed, &format!("us.{SONNET}")));
        let by_profile = [format!("global.{HAIKU}")];
        assert!(config.permits(&by_profile, HAIKU));
    }

    #[test]
    fn a_model_may_be_limited_to_some_profile_geographies() {
        let config = GatewayConfig::parse(
            "GATEWAY_CONFIG",
            r#"{"models":[{"id":"anthropic.m-v1:0","profiles":["us","global"]},
                          {"id":"eu.amazon.n-v1:0"}],"routes":{}}"#,
        )
        .unwrap();
        assert!(config.model("us.anthropic.m-v1:0").is_some());
        assert!(config.model("global.anthropic.m-v1:0").is_some());
        assert!(config.model("eu.anthropic.m-v1:0").is_none());
        assert!(config.model("apac.anthropic.m-v1:0").is_none());
        // A configured profile id is matched as is, and through its ARN.
        let eu = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.amazon.n-v1:0";
        assert_eq!(config.model(eu).unwrap().id, "eu.amazon.n-v1:0");
        let err = refusal(r#"{"models":[{"id":"a","profiles":["mars"]}],"routes":{}}"#);
        assert!(
            err.starts_with("GATEWAY_CONFIG: models[0].profiles[0]"),
            "{err}"
        );
    }

    #[test]
    fn policy_errors_name_their_path() {
        let cases = [
            (
                r#"{"models":[{"id":"a"}],"routes":{},"resilience":{"breaker":{"failure_rate_threshold":2}}}"#,
                "resilience.breaker.failure_rate_threshold",
            ),
            (
                r#"{"models":[{"id":"a"}],"routes":{},"resilience":{"retry":{"max_attempts":0}}}"#,
                "resilience.retry.max_attempts",
            ),
            (
                r#"{"models":[{"id":"a"}],"routes":{},"resilience":{"retry":{"max_atempts":2}}}"#,
                "resilience.retry",
            ),
            (
                r#"{"models":[{"id":"a","fallbacks":["b"]}],"routes":{}}"#,
                "models[0].fallbacks[0]",
            ),
            (
                r#"{"models":[{"id":"a","fallbacks":["a"]}],"routes":{}}"#,
                "models[0].fallbacks[0]",
            ),
            (
                r#"{"models":[{"id":"a","regions":["us-east-1",""]}],"routes":{}}"#,
                "models[0].regions[1]",
            ),
            (
                r#"{"models":[{"id":"a"}],"routes":{},"routing":{"groups":[{"name":"g","models":["a","zz"]}]}}"#,
                "routing.groups[0].models[1]",
            ),
            (
                r#"{"models":[{"id":"a"}],"routes":{},"routing":{"groups":[{"name":"a","models":["a"]}]}}"#,
                "routing.groups[0].name",
            ),
            (
                r#"{"models":[{"id":"a"}],"routes":{},"routing":{"tiers":{"simple":"a","medium":"a"}}}"#,
                "routing.tiers.complex",
            ),
            (
                r#"{"models":[{"id":"auto"}],"routes":{},"routing":{"tiers":{"simple":"auto","medium":"auto","complex":"auto"}}}"#,
                "routing.auto_model",
            ),
            (
                r#"{"models":[{"id":"a"}],"routes":{},"limits":{"request_timeout_ms":0}}"#,
                "limits.request_timeout_ms",
            ),
            (
                r#"{"models":[{"id":"a","sagemaker":{"endpoint":"bad_name","dialect":"chat"}}],"routes":{}}"#,
                "models[0].sagemaker.endpoint",
            ),
            (
                r#"{"models":[{"id":"a","sagemaker":{"endpoint":"ep","dialect":"yaml"}}],"routes":{}}"#,
                "models[0].sagemaker.dialect",
            ),
            (
                r#"{"models":[{"id":"a","regions":["us-west-2"],"sagemaker":{"endpoint":"ep","dialect":"chat"}}],"routes":{}}"#,
                "models[0].regions",
            ),
            (
                r#"{"models":[{"id":"a"}],"routes":{},"knowledge_bases":[{"id":"kb-1","model":"a"}]}"#,
                "knowledge_bases[0].id",
            ),
            (
                r#"{"models":[{"id":"a"}],"routes":{},"knowledge_bases":[{"id":"KB00000001","model":"zz"}]}"#,
                "knowledge_bases[0].model",
            ),
            (
                r#"{"models":[{"id":"a"}],"routes":{},"knowledge_bases":[{"id":"KB00000001","model":"a","number_of_results":0}]}"#,
                "knowledge_bases[0].number_of_results",
            ),
            (
                r#"{"models":[{"id":"a","kind":"embedding"}],"routes":{}}"#,
                "models[0].kind",
            ),
        ];
        for (json, path) in cases {
            let err = refusal(json);
            assert!(
                err.starts_with(&format!("GATEWAY_CONFIG: {path}")),
                "{path}: {err}"
            );
        }
    }

    #[test]
    fn embedding_kind_is_inferred_from_the_id_or_set() {
        let config = GatewayConfig::default();
        let kind = |name: &str| config.model(name).map(ModelConfig::kind);
        assert_eq!(kind("titan-embed"), Some(ModelKind::Embedding));
        assert_eq!(kind("cohere-embed"), Some(ModelKind::Embedding));
        assert_eq!(kind("haiku"), Some(ModelKind::Chat));
        let set = GatewayConfig::parse(
            "GATEWAY_CONFIG",
            r#"{"models":[{"id":"us.amazon.titan-embed-text-v2:0","kind":"embedding"},
                          {"id":"cohere.embed-english-v3","kind":"chat"}],"routes":{}}"#,
        )
        .unwrap();
        assert_eq!(set.models[0].kind(), ModelKind::Embedding);
        assert_eq!(
            set.models[1].kind(),
            ModelKind::Chat,
            "an explicit kind wins"
        );
    }
}
