//! The stream processor's settings, read once at cold start; an error names the variable.
//!
//! `DOCUMENTS_TABLE` (required) · `MAX_ATTEMPTS` (failed attempts before a document is
//! `FAILED`, default 3) · `STREAM_CONCURRENCY` (records of a batch in flight, default 8) ·
//! `ENRICHMENT_CONFIG` (model, answer length, prompt templates; see
//! [`gateway::enrichment::prompt`]) · `GATEWAY_CONFIG` / `GATEWAY_CONFIG_FILE` (the gateway's
//! models and resilience policies, as every function reads them).

use gateway::config::{ConfigError, GatewayConfig};
use gateway::enrichment::{EnrichmentConfig, EnrichmentSettings};
use gateway::env::{Env, EnvError};

/// Why the stream processor could not start; each variant names the variable (or the
/// configuration document) it rejects.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorInitError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub documents_table: String,
    pub settings: EnrichmentSettings,
    pub concurrency: usize,
    pub enrichment: EnrichmentConfig,
    pub gateway: GatewayConfig,
}

impl ProcessorConfig {
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ProcessorInitError> {
        let gateway = GatewayConfig::from_env(&lookup)?;
        let env = Env(&lookup);
        let max_attempts = env.number("MAX_ATTEMPTS", 3u32, 1..=100)?;
        let known_model = |name: &str| gateway.allowed_names().iter().any(|n| n == name);
        let enrichment = match env.optional("ENRICHMENT_CONFIG") {
            Some(json) => EnrichmentConfig::parse("ENRICHMENT_CONFIG", &json, known_model),
            None => {
                let defaults = EnrichmentConfig::default();
                defaults
                    .validate("ENRICHMENT_CONFIG", known_model)
                    .map(|()| defaults)
            }
        }?;
        Ok(Self {
            documents_table: env.required("DOCUMENTS_TABLE")?,
            settings: EnrichmentSettings { max_attempts },
            concurrency: env.number("STREAM_CONCURRENCY", 8usize, 1..=64)?,
            enrichment,
            gateway,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(
            ProcessorConfig::from_env(env(&[])).unwrap_err().to_string(),
            "DOCUMENTS_TABLE: is required"
        );
        let err =
            ProcessorConfig::from_env(env(&[("DOCUMENTS_TABLE", "d"), ("MAX_ATTEMPTS", "x")]))
                .unwrap_err()
                .to_string();
        assert!(err.starts_with("MAX_ATTEMPTS"), "{err}");
        let err =
            ProcessorConfig::from_env(env(&[("DOCUMENTS_TABLE", "d"), ("MAX_ATTEMPTS", "0")]))
                .unwrap_err()
                .to_string();
        assert!(err.starts_with("MAX_ATTEMPTS"), "{err}");
        let err = ProcessorConfig::from_env(env(&[
            ("DOCUMENTS_TABLE", "d"),
            ("ENRICHMENT_CONFIG", r#"{"model": "gpt-9"}"#),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("ENRICHMENT_CONFIG: model"), "{err}");
        let err =
            ProcessorConfig::from_env(env(&[("DOCUMENTS_TABLE", "d"), ("GATEWAY_CONFIG", "{")]))
                .unwrap_err()
                .to_string();
        assert!(err.starts_with("GATEWAY_CONFIG"), "{err}");
    }

    #[test]
    fn defaults_work_with_the_default_gateway_configuration() {
        let config = ProcessorConfig::from_env(env(&[("DOCUMENTS_TABLE", "docs")])).unwrap();
        assert_eq!((config.settings.max_attempts, config.concurrency), (3, 8));
        assert_eq!(config.enrichment.model, "small");
        let config = ProcessorConfig::from_env(env(&[
            ("DOCUMENTS_TABLE", "docs"),
            ("MAX_ATTEMPTS", "5"),
            (
                "ENRICHMENT_CONFIG",
                r#"{"model": "haiku", "templates": {"t": {"prompt": "Say {{content}}"}}}"#,
            ),
        ]))
        .unwrap();
        assert_eq!(config.settings.max_attempts, 5);
        assert!(config.enrichment.templates.contains_key("t"));
    }
}
