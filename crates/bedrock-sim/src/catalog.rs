//! The model catalogue: which model identifiers the simulator accepts, and how they resolve.
//!
//! Accepted forms, as in the real service: a base model id (`anthropic.claude-3-5-haiku-20241022-v1:0`),
//! a cross-region inference profile id (`us.` / `eu.` / `apac.` / `global.` … + base id), and the ARN
//! of either (`arn:aws:bedrock:us-east-1::foundation-model/<id>`,
//! `arn:aws:bedrock:us-east-1:123456789012:inference-profile/<profile id>`).

use std::collections::HashSet;
use std::sync::RwLock;

/// Base model ids known out of the box.
pub const BUILTIN_MODELS: &[&str] = &[
    "anthropic.claude-instant-v1",
    "anthropic.claude-v2",
    "anthropic.claude-v2:1",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-sonnet-20240229-v1:0",
    "anthropic.claude-3-opus-20240229-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "anthropic.claude-sonnet-4-20250514-v1:0",
    "anthropic.claude-opus-4-20250514-v1:0",
    "anthropic.claude-opus-4-1-20250805-v1:0",
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "anthropic.claude-haiku-4-5-20251001-v1:0",
    "amazon.nova-micro-v1:0",
    "amazon.nova-lite-v1:0",
    "amazon.nova-pro-v1:0",
    "amazon.nova-premier-v1:0",
    "amazon.titan-text-express-v1",
    "amazon.titan-text-lite-v1",
    "amazon.titan-text-premier-v1:0",
    "meta.llama3-8b-instruct-v1:0",
    "meta.llama3-70b-instruct-v1:0",
    "meta.llama3-1-8b-instruct-v1:0",
    "meta.llama3-1-70b-instruct-v1:0",
    "meta.llama3-2-1b-instruct-v1:0",
    "meta.llama3-2-3b-instruct-v1:0",
    "meta.llama3-3-70b-instruct-v1:0",
    "mistral.mistral-7b-instruct-v0:2",
    "mistral.mixtral-8x7b-instruct-v0:1",
    "mistral.mistral-small-2402-v1:0",
    "mistral.mistral-large-2402-v1:0",
    "mistral.mistral-large-2407-v1:0",
    "cohere.command-r-v1:0",
    "cohere.command-r-plus-v1:0",
    "ai21.jamba-1-5-mini-v1:0",
    "ai21.jamba-1-5-large-v1:0",
    "deepseek.r1-v1:0",
    // Embedding models (InvokeModel only; see `embeddings`).
    "amazon.titan-embed-text-v1",
    "amazon.titan-embed-text-v2:0",
    "cohere.embed-english-v3",
    "cohere.embed-multilingual-v3",
];

/// Prefixes of cross-region inference profile ids.
pub const PROFILE_PREFIXES: &[&str] = &[
    "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.",
];

/// Where a request's model identifier led.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The id without its ARN wrapper: a base model id or an inference profile id.
    pub id: String,
    /// The base model id the request runs on.
    pub base: String,
}

impl ResolvedModel {
    /// `anthropic`, `amazon`, `meta`, ... (the part of the base id before the first dot).
    pub fn provider(&self) -> &str {
        self.base.split('.').next().unwrap_or("")
    }

    pub fn is_anthropic(&self) -> bool {
        self.provider() == "anthropic"
    }

    /// Text embedding models (`amazon.titan-embed-*`, `cohere.embed-*`), which only InvokeModel
    /// serves.
    pub fn is_embedding(&self) -> bool {
        let name = self.base.split_once('.').map_or("", |(_, name)| name);
        name.starts_with("titan-embed") || name.starts_with("embed-")
    }

    /// The short model name Anthropic's API reports (`claude-3-5-haiku-20241022`).
    pub fn anthropic_model_name(&self) -> &str {
        let name = self.base.strip_prefix("anthropic.").unwrap_or(&self.base);
        match name.rfind("-v") {
            Some(idx) if name[idx + 2..].starts_with(|c: char| c.is_ascii_digit()) => &name[..idx],
            _ => name,
        }
    }
}

/// Built-in models plus those added by config or at runtime.
#[derive(Debug, Default)]
pub struct Catalog {
    extra: RwLock<HashSet<String>>,
}

impl Catalog {
    pub fn new(extra: impl IntoIterator<Item = String>) -> Self {
        Catalog {
            extra: RwLock::new(extra.into_iter().collect()),
        }
    }

    /// Registers one more base model id.
    pub fn add(&self, base_id: &str) {
        if let Ok(mut extra) = self.extra.write() {
            extra.insert(base_id.to_string());
        }
    }

    pub fn contains_base(&self, base_id: &str) -> bool {
        BUILTIN_MODELS.contains(&base_id)
            || self
                .extra
                .read()
                .map(|extra| extra.contains(base_id))
                .unwrap_or(false)
    }

    /// Every accepted base model id, sorted.
    pub fn base_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = BUILTIN_MODELS.iter().map(|s| (*s).to_string()).collect();
        if let Ok(extra) = self.extra.read() {
            ids.extend(extra.iter().cloned());
        }
        ids.sort();
        ids.dedup();
        ids
    }

    /// Resolves an already percent-decoded model identifier; `None` if the service would reject it.
    pub fn resolve(&self, model_id: &str) -> Option<ResolvedModel> {
        let id = strip_arn(model_id)?;
        if self.contains_base(id) {
            return Some(ResolvedModel {
                id: id.to_string(),
                base: id.to_string(),
            });
        }
        let base = PROFILE_PREFIXES
            .iter()
            .find_map(|prefix| id.strip_prefix(prefix))?;
        self.contains_base(base).then(|| ResolvedModel {
            id: id.to_string(),
            base: base.to_string(),
        })
    }
}

/// `arn:<partition>:bedrock:<region>:<account>:<type>/<id>` → `<id>` for foundation models and
/// inference profiles; a plain id is returned as is; any other ARN is `None`.
pub fn strip_arn(model_id: &str) -> Option<&str> {
    if !model_id.starts_with("arn:") {
        return Some(model_id);
    }
    let mut parts = model_id.splitn(6, ':');
    let (_arn, partition, service, _region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if !partition.starts_with("aws") || service != "bedrock" {
        return None;
    }
    let (kind, id) = resource.split_once('/')?;
    matches!(kind, "foundation-model" | "inference-profile").then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_base_profile_and_arns() {
        let catalog = Catalog::new(["acme.custom-v1:0".to_string()]);
        let base = catalog
            .resolve("anthropic.claude-3-5-haiku-20241022-v1:0")
            .unwrap();
        assert_eq!(base.base, "anthropic.claude-3-5-haiku-20241022-v1:0");
        assert!(base.is_anthropic());
        assert_eq!(base.anthropic_model_name(), "claude-3-5-haiku-20241022");

        let profile = catalog
            .resolve("us.anthropic.claude-sonnet-4-20250514-v1:0")
            .unwrap();
        assert_eq!(profile.id, "us.anthropic.claude-sonnet-4-20250514-v1:0");
        assert_eq!(profile.base, "anthropic.claude-sonnet-4-20250514-v1:0");

        let arn = catalog
            .resolve("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0")
            .unwrap();
        assert_eq!(arn.base, "amazon.nova-lite-v1:0");
        assert_eq!(arn.provider(), "amazon");

        let profile_arn = catalog
            .resolve(
                "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0",
            )
            .unwrap();
        assert_eq!(profile_arn.id, "eu.amazon.nova-pro-v1:0");

        assert!(catalog.resolve("global.acme.custom-v1:0").is_some());
        assert!(catalog.resolve("anthropic.claude-9").is_none());
        assert!(catalog.resolve("xx.amazon.nova-lite-v1:0").is_none());
        assert!(
            catalog
                .resolve("arn:aws:s3:::bucket/amazon.nova-lite-v1:0")
                .is_none()
        );
        assert!(catalog.resolve("arn:aws:bedrock").is_none());
        assert!(catalog.resolve("").is_none());
    }

    #[test]
    fn added_models_resolve() {
        let catalog = Catalog::default();
        assert!(catalog.resolve("acme.new-v1").is_none());
        catalog.add("acme.new-v1");
        assert!(catalog.resolve("us.acme.new-v1").is_some());
        assert!(catalog.base_ids().contains(&"acme.new-v1".to_string()));
    }
}
