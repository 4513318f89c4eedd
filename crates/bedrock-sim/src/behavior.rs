//! Behaviour knobs (latency, error injection, scripts, hangs) and the simulator's config file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{ErrorKind, SimError, StreamErrorKind};
use crate::prompt_cache::PromptCacheConfig;

/// Environment variable naming a JSON config file (same format as `--config`).
pub const CONFIG_ENV: &str = "BEDROCK_SIM_CONFIG";

/// How the simulated model behaves. Every field is optional in JSON (camelCase keys).
///
/// A per-model behaviour replaces the default one entirely (fields are not merged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Behavior {
    /// Delay before the first byte of a response (and of a non-streaming reply), in ms.
    pub first_token_ms: u64,
    /// Delay between two streamed chunks, in ms (non-streaming replies wait the same total).
    pub chunk_delay_ms: u64,
    /// Words per streamed text delta (at least 1).
    pub words_per_chunk: usize,
    /// Fraction of calls (0..=1) failing with `error_type`, drawn deterministically from `seed`
    /// and the call's index.
    pub error_rate: f64,
    /// The error injected by `error_rate`.
    pub error_type: ErrorKind,
    /// Seed for `error_rate`.
    pub seed: u64,
    /// Outcomes consumed one per call, before `error_rate` applies; once empty, calls behave
    /// normally. Items: `"ok"`, `"hang"`, an exception name such as `"ThrottlingException"`, or
    /// `"stream:<exceptionType>"` / `"stream:<exceptionType>:<n>"` to fail a streaming call
    /// mid-stream after n (default `failAfterChunks` or 1) content chunks.
    pub script: Vec<Outcome>,
    /// If set, every streaming call fails after this many content chunks with `stream_error`.
    pub fail_after_chunks: Option<u32>,
    /// The in-stream exception used by `fail_after_chunks`.
    pub stream_error: StreamErrorKind,
    /// Never answer (until the simulator shuts down): for client timeouts.
    pub hang: bool,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            first_token_ms: 0,
            chunk_delay_ms: 0,
            words_per_chunk: 3,
            error_rate: 0.0,
            error_type: ErrorKind::ThrottlingException,
            seed: 0,
            script: Vec::new(),
            fail_after_chunks: None,
            stream_error: StreamErrorKind::ModelStreamErrorException,
            hang: false,
        }
    }
}

impl Behavior {
    /// A behaviour that plays `outcomes` in order, then answers normally.
    pub fn script(outcomes: impl IntoIterator<Item = Outcome>) -> Self {
        Behavior {
            script: outcomes.into_iter().collect(),
            ..Behavior::default()
        }
    }

    /// Every call fails with `kind`.
    pub fn always(kind: ErrorKind) -> Self {
        Behavior {
            error_rate: 1.0,
            error_type: kind,
            ..Behavior::default()
        }
    }

    /// Checks ranges serde cannot; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "errorRate must be between 0 and 1, got {}",
                self.error_rate
            ));
        }
        if self.words_per_chunk == 0 {
            return Err("wordsPerChunk must be at least 1".to_string());
        }
        Ok(())
    }

    /// Parses a behaviour from JSON, naming the offending key on error.
    pub fn from_json(json: &[u8]) -> Result<Behavior, SimError> {
        let behavior: Behavior = parse_json(json)?;
        behavior
            .validate()
            .map_err(|message| SimError::ConfigInvalid {
                path: ".".to_string(),
                message,
            })?;
        Ok(behavior)
    }
}

/// One scripted outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answer normally.
    Ok,
    /// Never answer.
    Hang,
    /// Fail with this HTTP-level exception.
    Error(ErrorKind),
    /// Streaming calls fail mid-stream after `after_chunks` content chunks (`None`: the
    /// behaviour's `fail_after_chunks`, else 1); non-streaming calls get the HTTP equivalent.
    StreamError {
        kind: StreamErrorKind,
        after_chunks: Option<u32>,
    },
}

impl Outcome {
    /// Parses the string form used in configs and the admin API.
    pub fn parse(s: &str) -> Result<Outcome, String> {
        match s {
            "ok" => return Ok(Outcome::Ok),
            "hang" => return Ok(Outcome::Hang),
            _ => {}
        }
        if let Some(rest) = s.strip_prefix("stream:") {
            let (name, after) = match rest.split_once(':') {
                Some((name, n)) => (
                    name,
                    Some(
                        n.parse::<u32>()
                            .map_err(|_| format!("bad chunk count `{n}` in outcome `{s}`"))?,
                    ),
                ),
                None => (rest, None),
            };
            let kind = StreamErrorKind::from_name(name)
                .ok_or_else(|| format!("unknown in-stream exception `{name}` in outcome `{s}`"))?;
            return Ok(Outcome::StreamError {
                kind,
                after_chunks: after,
            });
        }
        ErrorKind::from_name(s).map(Outcome::Error).ok_or_else(|| {
            format!(
                "unknown outcome `{s}`: expected \"ok\", \"hang\", an exception name like \"ThrottlingException\", or \"stream:<exceptionType>[:<n>]\""
            )
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Hang => f.write_str("hang"),
            Outcome::Error(kind) => f.write_str(kind.name()),
            Outcome::StreamError {
                kind,
                after_chunks: None,
            } => write!(f, "stream:{}", kind.name()),
            Outcome::StreamError {
                kind,
                after_chunks: Some(n),
            } => write!(f, "stream:{}:{n}", kind.name()),
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Outcome::parse(&s).map_err(de::Error::custom)
    }
}

/// The simulator's configuration (`--config file`, `BEDROCK_SIM_CONFIG`, or built in code).
///
/// ```json
/// { "default": { "firstTokenMs": 20 },
///   "models": { "us.anthropic.claude-3-5-haiku-20241022-v1:0": { "script": ["ThrottlingException", "ok"] } },
///   "extraModels": ["acme.custom-model-v1:0"],
///   "promptCache": { "fiveMinuteTtlMs": 300000, "oneHourTtlMs": 3600000, "minTokens": 0 } }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SimConfig {
    /// Behaviour of models without their own entry.
    pub default: Behavior,
    /// Behaviour per model id: exact id as requested (decoded, ARN stripped), else the base id.
    pub models: BTreeMap<String, Behavior>,
    /// Base model ids accepted in addition to the built-in catalogue.
    pub extra_models: Vec<String>,
    /// Prompt-cache lifetimes and minimum prefix size (`{"fiveMinuteTtlMs": 300000, ...}`).
    pub prompt_cache: PromptCacheConfig,
}

impl SimConfig {
    /// Parses and validates a JSON config; errors name the bad key (`models.x.errorRate`).
    pub fn from_json(json: &str) -> Result<SimConfig, SimError> {
        let config: SimConfig = parse_json(json.as_bytes())?;
        config.validate()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<SimConfig, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ConfigRead {
            path: path.display().to_string(),
            source,
        })?;
        SimConfig::from_json(&text)
    }

    /// The file named by `BEDROCK_SIM_CONFIG`, or the default config if it is unset.
    pub fn from_env() -> Result<SimConfig, SimError> {
        match std::env::var_os(CONFIG_ENV) {
            Some(path) if !path.is_empty() => SimConfig::from_file(Path::new(&path)),
            _ => Ok(SimConfig::default()),
        }
    }

    pub fn validate(&self) -> Result<(), SimError> {
        self.default
            .validate()
            .map_err(|message| SimError::ConfigInvalid {
                path: "default".to_string(),
                message,
            })?;
        for (model, behavior) in &self.models {
            behavior
                .validate()
                .map_err(|message| SimError::ConfigInvalid {
                    path: format!("models.{model}"),
                    message,
                })?;
        }
        Ok(())
    }

    /// Builder-style helper: a behaviour for one model.
    pub fn with_model(mut self, model: impl Into<String>, behavior: Behavior) -> Self {
        self.models.insert(model.into(), behavior);
        self
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(json: &[u8]) -> Result<T, SimError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    serde_path_to_error::deserialize(&mut de).map_err(|err| SimError::ConfigInvalid {
        path: err.path().to_string(),
        message: err.inner().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config() {
        let config = SimConfig::from_json(
            r#"{
              "default": {"firstTokenMs": 5, "chunkDelayMs": 1},
              "models": {
                "m1": {"script": ["ThrottlingException", "ok", "hang", "stream:modelStreamErrorException:2"]},
                "m2": {"errorRate": 0.5, "errorType": "ModelNotReadyException", "seed": 7,
                       "failAfterChunks": 3, "streamError": "throttlingException"}
              },
              "extraModels": ["acme.x-v1"]
            }"#,
        )
        .unwrap();
        assert_eq!(config.default.first_token_ms, 5);
        assert_eq!(config.default.words_per_chunk, 3);
        assert_eq!(
            config.models["m1"].script,
            vec![
                Outcome::Error(ErrorKind::ThrottlingException),
                Outcome::Ok,
                Outcome::Hang,
                Outcome::StreamError {
                    kind: StreamErrorKind::ModelStreamErrorException,
                    after_chunks: Some(2)
                }
            ]
        );
        assert_eq!(
            config.models["m2"].error_type,
            ErrorKind::ModelNotReadyException
        );
        assert_eq!(
            config.models["m2"].stream_error,
            StreamErrorKind::ThrottlingException
        );
        // Round trip through JSON.
        let again = SimConfig::from_json(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn prompt_cache_settings_parse_with_defaults() {
        let config = SimConfig::from_json(r#"{"promptCache": {"fiveMinuteTtlMs": 50}}"#).unwrap();
        assert_eq!(config.prompt_cache.five_minute_ttl_ms, 50);
        assert_eq!(config.prompt_cache.one_hour_ttl_ms, 3_600_000);
        assert_eq!(config.prompt_cache.min_tokens, 0);
        let err = SimConfig::from_json(r#"{"promptCache": {"ttl": 1}}"#).unwrap_err();
        assert!(err.to_string().contains("promptCache"), "{err}");
    }

    #[test]
    fn errors_name_the_bad_key() {
        let err = SimConfig::from_json(r#"{"models": {"m": {"firstTokenMS": 1}}}"#).unwrap_err();
        assert!(err.to_string().contains("models.m"), "{err}");
        assert!(err.to_string().contains("firstTokenMS"), "{err}");

        let err = SimConfig::from_json(r#"{"models": {"m": {"script": ["Nope"]}}}"#).unwrap_err();
        assert!(err.to_string().contains("models.m.script"), "{err}");

        let err = SimConfig::from_json(r#"{"default": {"errorRate": 2}}"#).unwrap_err();
        assert!(err.to_string().contains("errorRate"), "{err}");

        let err = SimConfig::from_json(r#"{"default": {"wordsPerChunk": 0}}"#).unwrap_err();
        assert!(err.to_string().contains("wordsPerChunk"), "{err}");
    }

    #[test]
    fn outcome_strings_round_trip() {
        for s in [
            "ok",
            "hang",
            "ThrottlingException",
            "stream:throttlingException",
            "stream:modelTimeoutException:4",
        ] {
            assert_eq!(Outcome::parse(s).unwrap().to_string(), s);
        }
        assert!(Outcome::parse("stream:throttlingException:x").is_err());
        assert!(Outcome::parse("").is_err());
    }
}
