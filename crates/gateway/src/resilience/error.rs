//! The one way a resilience config can be wrong: a key and why, so init fails with a precise
//! message instead of every request failing later.

/// A config value that would make a policy misbehave. `key` names the field as written in
/// the config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid resilience config `{key}`: {reason}")]
pub struct InvalidConfig {
    pub key: &'static str,
    pub reason: &'static str,
}

impl InvalidConfig {
    pub(crate) fn new(key: &'static str, reason: &'static str) -> Self {
        Self { key, reason }
    }
}

/// Returns `Err` naming `key` unless `ok`.
pub(crate) fn ensure(
    ok: bool,
    key: &'static str,
    reason: &'static str,
) -> Result<(), InvalidConfig> {
    if ok {
        Ok(())
    } else {
        Err(InvalidConfig::new(key, reason))
    }
}
