//! The stream processor's settings, read once at cold start; an error names the variable.
//!
//! `DOCUMENTS_TABLE` (required) · `MAX_ATTEMPTS` (failed attempts before a document is
//! `FAILED`, default 3) · `STREAM_CONCURRENCY` (records of a batch in flight, default 8) ·
//! `ENRICHMENT_CONFIG` (model, answer length, prompt templates; see
//! [`gateway::enrichment::prompt`]) · `GATEWAY_CONFIG` / `GATEWAY_CONFIG_FILE` (the gateway's
//! models and resilience policies, as every function reads them).

use gateway::config::GatewayConfig;
use gateway::enrichment::{EnrichmentConfig, EnrichmentSettings};

#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub documents_table: String,
    pub settings: EnrichmentSettings,
    pub concurrency: usize,
    pub enrichment: EnrichmentConfig,
    pub gateway: GatewayConfig,
}

fn required(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, String> {
    lookup(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{name} is required"))
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> Result<u64, String> {
    match lookup(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{name} must be a whole number, got '{v}'")),
    }
}

impl ProcessorConfig {
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let gateway = GatewayConfig::from_env(&lookup).map_err(|e| e.to_string())?;
        let max_attempts = number(&lookup, "MAX_ATTEMPTS", 3)?;
        if !(1..=100).contains(&max_attempts) {
            return Err(format!(
                "MAX_ATTEMPTS must be between 1 and 100, got {max_attempts}"
            ));
        }
        let known_model = |name: &str| gateway.allowed_names().iter().any(|n| n == name);
        let enrichment = match lookup("ENRICHMENT_CONFIG").filter(|v| !v.trim().is_empty()) {
            Some(json) => EnrichmentConfig::parse("ENRICHMENT_CONFIG", &json, known_model),
            None => {
                let defaults = EnrichmentConfig::default();
                defaults
                    .validate("ENRICHMENT_CONFIG", known_model)
                    .map(|()| defaults)
            }
        }
        .map_err(|e| e.to_string())?;
        Ok(Self {
            documents_table: required(&lookup, "DOCUMENTS_TABLE")?,
            settings: EnrichmentSettings {
                max_attempts: max_attempts as u32,
            },
            concurrency: number(&lookup, "STREAM_CONCURRENCY", 8)?.clamp(1, 64) as usize,
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
            ProcessorConfig::from_env(env(&[])).unwrap_err(),
            "DOCUMENTS_TABLE is required"
        );
        let err =
            ProcessorConfig::from_env(env(&[("DOCUMENTS_TABLE", "d"), ("MAX_ATTEMPTS", "x")]))
                .unwrap_err();
        assert!(err.starts_with("MAX_ATTEMPTS"), "{err}");
        let err =
            ProcessorConfig::from_env(env(&[("DOCUMENTS_TABLE", "d"), ("MAX_ATTEMPTS", "0")]))
                .unwrap_err();
        assert!(err.starts_with("MAX_ATTEMPTS"), "{err}");
        let err = ProcessorConfig::from_env(env(&[
            ("DOCUMENTS_TABLE", "d"),
            ("ENRICHMENT_CONFIG", r#"{"model": "gpt-9"}"#),
        ]))
        .unwrap_err();
        assert!(err.starts_with("ENRICHMENT_CONFIG: model"), "{err}");
        let err =
            ProcessorConfig::from_env(env(&[("DOCUMENTS_TABLE", "d"), ("GATEWAY_CONFIG", "{")]))
                .unwrap_err();
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
