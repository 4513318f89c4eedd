//! [`SecretSource`] over Secrets Manager: a secret's `SecretString` by name or ARN, cached in the
//! process for a TTL (default 5 minutes) so a rotated value is picked up without a redeploy and
//! without a Secrets Manager call per use. A refresh that fails keeps the last good value (and
//! logs, without the value): a Secrets Manager outage must not take a warm function down.

use aws_config::SdkConfig;
use gateway::secrets::{SecretEnv, SecretError, SecretSource};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a value is used before it is read again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

#[derive(Clone)]
struct Cached {
    value: String,
    checked_at: Instant,
}

/// Secrets Manager, read through a per-process cache.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for SecretsManagerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerSource")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self {
            client,
            ttl: DEFAULT_TTL,
            cache: Mutex::default(),
        }
    }

    pub fn from_sdk_config(sdk: &SdkConfig) -> Self {
        Self::new(aws_sdk_secretsmanager::Client::new(sdk))
    }

    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    fn cached(&self, id: &str) -> Option<Cached> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(id).cloned()
    }

    fn remember(&self, id: &str, value: String) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.insert(
            id.to_owned(),
            Cached {
                value,
                checked_at: Instant::now(),
            },
        );
    }

    #[tracing::instrument(skip(self))]
    async fn fetch(&self, id: &str) -> Result<String, SecretError> {
        let error = |message: String| SecretError {
            id: id.to_owned(),
            message,
        };
        let output = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                error(format!(
                    "secretsmanager:GetSecretValue failed: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                ))
            })?;
        output.secret_string.ok_or_else(|| {
            error("the secret has no SecretString (binary secrets are not supported)".into())
        })
    }
}

impl SecretSource for SecretsManagerSource {
    async fn secret_string(&self, id: &str) -> Result<String, SecretError> {
        let cached = self.cached(id);
        if let Some(c) = &cached
            && c.checked_at.elapsed() < self.ttl
        {
            return Ok(c.value.clone());
        }
        match (self.fetch(id).await, cached) {
            (Ok(value), _) => {
                self.remember(id, value.clone());
                Ok(value)
            }
            (Err(e), Some(last_good)) => {
                // Checked again only after another TTL, so an outage costs one call per TTL.
                tracing::warn!(error = %e, "refreshing a secret failed; using its last good value");
                self.remember(id, last_good.value.clone());
                Ok(last_good.value)
            }
            (Err(e), None) => Err(e),
        }
    }
}

/// The variables a function's environment takes from Secrets Manager (`*_SECRET_ID`; see
/// [`gateway::secrets::SECRET_VARS`]), read once at cold start. Makes no call when no id is set.
pub async fn secret_env(
    sdk: &SdkConfig,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<SecretEnv, SecretError> {
    if gateway::secrets::secret_ids(lookup).is_empty() {
        return Ok(SecretEnv::default());
    }
    let env = SecretEnv::resolve(&SecretsManagerSource::from_sdk_config(sdk), lookup).await?;
    tracing::info!(variables = ?env.names().collect::<Vec<_>>(), "read from Secrets Manager");
    Ok(env)
}
