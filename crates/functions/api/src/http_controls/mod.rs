//! The gateway controls on the HTTP side: who is calling (`auth`, a layer on every model,
//! jobs and usage route), the limits, budgets, response cache and cost around each model call
//! (`call`, used by the handlers), and the one audit record and EMF line per request
//! (`audit`).
//!
//! Off (`controls.auth.mode: none`, the default for local runs): callers are the tenant of
//! their API Gateway JWT claims or `default`, nothing is limited, every request is still
//! audited. On (`api_keys`, which production sets through `AUTH_MODE`): `STATE_TABLE` is
//! required, keys are checked and everything is counted in the state table.

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod call;
mod deadline;

use gateway::config::{ConfigError, GatewayConfig};
use gateway::controls::{AuthMode, Controller};
use gateway_aws::control_store::DynamoControlStore;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// The controller over the state table.
pub type Controls = Controller<DynamoControlStore>;

/// Where EMF metric lines go.
#[derive(Clone, Default)]
pub enum MetricsSink {
    /// Not written (library use, tests that do not look).
    #[default]
    Off,
    /// One line per request on stdout, where Lambda's log agent hands it to CloudWatch.
    Stdout,
    /// Kept in memory, for tests.
    Memory(Arc<Mutex<Vec<String>>>),
}

impl MetricsSink {
    /// Whether lines are written at all (so a caller can skip making them).
    pub fn is_on(&self) -> bool {
        !matches!(self, Self::Off)
    }

    /// Writes one line (`line` without its newline).
    pub fn emit(&self, line: &str) {
        match self {
            Self::Off => {}
            Self::Stdout => {
                let mut buffer = Vec::with_capacity(line.len() + 1);
                buffer.extend_from_slice(line.as_bytes());
                buffer.push(b'\n');
                // The whole line in one write, so it leaves in one write(2), not piecewise.
                // A metric line that cannot be written is not worth failing a request for.
                let _ = std::io::stdout().lock().write_all(&buffer);
            }
            Self::Memory(lines) => lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line.to_owned()),
        }
    }
}

/// The environment variable that overrides `controls.auth.mode` (the SAM template sets it).
pub const AUTH_MODE_VAR: &str = "AUTH_MODE";
/// The seal key for gateway keys' SigV4 secrets (same value for the functions and gatewayctl).
pub const SEAL_SECRET_VAR: &str = "GATEWAY_KEY_SEAL_SECRET";

/// Applies `AUTH_MODE` to the configuration.
pub fn apply_auth_mode(
    config: &mut GatewayConfig,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    config.controls.auth.mode = match lookup(AUTH_MODE_VAR).as_deref().map(str::trim) {
        None | Some("") => return Ok(()),
        Some("api_keys") => AuthMode::ApiKeys,
        Some("none") => AuthMode::None,
        Some(other) => {
            return Err(ConfigError::Invalid {
                var: AUTH_MODE_VAR,
                path: String::new(),
                message: format!("'{other}' is not an auth mode (api_keys or none)"),
            });
        }
    };
    Ok(())
}

/// The controller when `controls.auth.mode` is `api_keys`: over `STATE_TABLE` (required).
/// The seal key comes from `GATEWAY_KEY_SEAL_SECRET`; without it gateway keys work as bearer
/// tokens only (SigV4 needs a sealed secret, and an unsealed one would be readable by
/// anyone who can read the table).
pub fn from_env(
    sdk: &aws_config::SdkConfig,
    config: &GatewayConfig,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<(Controls, DynamoControlStore)>, ConfigError> {
    if config.controls.auth.mode == AuthMode::None {
        tracing::warn!(
            "controls are off (controls.auth.mode = none): no authentication, limits or budgets; production must set AUTH_MODE=api_keys"
        );
        return Ok(None);
    }
    let table = lookup("STATE_TABLE")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ConfigError::Invalid {
            var: "STATE_TABLE",
            path: String::new(),
            message: "required when controls.auth.mode is api_keys".into(),
        })?;
    let store = DynamoControlStore::from_sdk_config(sdk, table, &config.controls.cache);
    let seal = seal_key(lookup);
    let mut config = config.clone();
    if seal.is_empty() && config.controls.auth.sigv4 {
        tracing::warn!("{SEAL_SECRET_VAR} is not set: SigV4 with gateway keys is off");
        config.controls.auth.sigv4 = false;
    }
    let home = sdk.region().map(|r| r.as_ref().to_owned());
    let controls = Controller::new(&config, store.clone(), seal, home).map_err(|message| {
        ConfigError::Invalid {
            var: "GATEWAY_CONFIG",
            path: "controls.prices".into(),
            message,
        }
    })?;
    Ok(Some((controls, store)))
}

/// The seal key's bytes; empty when unset.
pub fn seal_key(lookup: &impl Fn(&str) -> Option<String>) -> Vec<u8> {
    lookup(SEAL_SECRET_VAR)
        .map(|s| s.trim().as_bytes().to_vec())
        .unwrap_or_default()
}
