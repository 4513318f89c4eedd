//! The gateway's configuration: one JSON document, parsed and validated once at cold start.
//! A bad document fails the init with the offending path named; it never fails a request.
//!
//! Source, first found: `GATEWAY_CONFIG` (the JSON inline), `GATEWAY_CONFIG_FILE` (a path),
//! else the built-in defaults below.

use crate::api::tasks::Task;
use crate::error::GatewayError;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A Bedrock model id, inference-profile id (`us.`, `eu.`, `apac.`, `global.`) or ARN.
    pub id: String,
    /// Friendly names callers may use instead (`haiku`, `small`, `gpt-4o-mini`, …).
    #[serde(default)]
    pub aliases: Vec<String>,
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

pub const HAIKU: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";
pub const SONNET: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";
pub const NOVA_LITE: &str = "amazon.nova-lite-v1:0";

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
        };
        Self {
            models: vec![
                model(HAIKU, &["haiku", "small"]),
                model(NOVA_LITE, &["nova-lite", "medium"]),
                model(SONNET, &["sonnet", "large"]),
            ],
            routes: default_routes(),
            limits: Limits::default(),
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
        let deserializer = &mut serde_json::Deserializer::from_str(json);
        let config: Self =
            serde_path_to_error::deserialize(deserializer).map_err(|e| ConfigError::Invalid {
                var,
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        config.validate(var)?;
        Ok(config)
    }

    fn validate(&self, var: &'static str) -> Result<(), ConfigError> {
        let invalid = |path: String, message: String| ConfigError::Invalid { var, path, message };
        if self.models.is_empty() {
            return Err(invalid(
                "models".into(),
                "at least one model is required".into(),
            ));
        }
        let mut names = HashSet::new();
        for (i, model) in self.models.iter().enumerate() {
            if model.id.trim().is_empty() {
                return Err(invalid(
                    format!("models[{i}].id"),
                    "must not be empty".into(),
                ));
            }
            for name in std::iter::once(&model.id).chain(&model.aliases) {
                if !names.insert(name.as_str()) {
                    return Err(invalid(
                        format!("models[{i}]"),
                        format!("name '{name}' is used twice"),
                    ));
                }
            }
        }
        for (task, model) in &self.routes {
            if self.model(model).is_none() {
                return Err(invalid(
                    format!("routes.{}", task.name()),
                    format!("'{model}' is not a configured model id or alias"),
                ));
            }
        }
        if self.limits.max_body_bytes == 0 {
            return Err(invalid(
                "limits.max_body_bytes".into(),
                "must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The model a caller's name (id or alias) refers to.
    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models
            .iter()
            .find(|m| m.id == name || m.aliases.iter().any(|a| a == name))
    }

    /// Like [`Self::model`], with the error a caller sees for an unknown name.
    pub fn resolve_model(&self, name: &str) -> Result<&ModelConfig, GatewayError> {
        self.model(name).ok_or_else(|| GatewayError::UnknownModel {
            model: name.to_owned(),
            allowed: self.allowed_names(),
        })
    }

    pub fn allowed_names(&self) -> Vec<String> {
        self.models
            .iter()
            .flat_map(|m| std::iter::once(m.id.clone()).chain(m.aliases.iter().cloned()))
            .collect()
    }

    /// The model a task route is mapped to.
    pub fn route_model(&self, task: Task) -> Result<&ModelConfig, GatewayError> {
        let name = self.routes.get(&task).ok_or_else(|| {
            GatewayError::NotFound(format!("route '{}' is not configured", task.name()))
        })?;
        self.resolve_model(name)
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
        assert_eq!(config.route_model(Task::Classify).unwrap().id, HAIKU);
        assert_eq!(config.route_model(Task::Generate).unwrap().id, SONNET);
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
}
