//! Secrets read at run time instead of from the environment: a deployed function's environment
//! holds only the *id* of a secret (`GATEWAY_KEY_SEAL_SECRET_ID`, ...), readable by anyone with
//! `lambda:GetFunctionConfiguration`; the value is fetched at cold start from the secret store
//! (Secrets Manager, in `gateway-aws::secrets`) with the function's own role. The plain
//! variables (`GATEWAY_KEY_SEAL_SECRET`, ...) still work, for the offline run and tests.

use std::collections::BTreeMap;
use std::future::Future;

/// A secret could not be read (and no earlier value of it is known).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {id}: {message}")]
pub struct SecretError {
    pub id: String,
    pub message: String,
}

/// Where secret values come from, by id (a Secrets Manager name or ARN).
pub trait SecretSource: Send + Sync {
    /// The secret's current string value.
    fn secret_string(&self, id: &str) -> impl Future<Output = Result<String, SecretError>> + Send;
}

/// Each variable that may come from the secret store, with the variable naming its secret.
pub const SECRET_VARS: &[(&str, &str)] = &[
    ("GATEWAY_KEY_SEAL_SECRET", "GATEWAY_KEY_SEAL_SECRET_ID"),
    ("CALLBACK_SIGNING_SECRET", "CALLBACK_SIGNING_SECRET_ID"),
    ("WEBHOOK_CONFIG", "WEBHOOK_CONFIG_SECRET_ID"),
];

/// The secret ids an environment names (`*_SECRET_ID` variables that are set and not empty).
pub fn secret_ids(lookup: &impl Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
    SECRET_VARS
        .iter()
        .filter_map(|(var, id_var)| {
            let id = lookup(id_var)?.trim().to_owned();
            (!id.is_empty()).then_some((*var, id))
        })
        .collect()
}

/// Variables read from the secret store, layered over an environment: a variable whose
/// `*_SECRET_ID` is set takes the secret's value (the id wins over a plain value, so a
/// deployment cannot be downgraded by also setting the variable).
#[derive(Clone, Default)]
pub struct SecretEnv {
    values: BTreeMap<&'static str, String>,
}

impl std::fmt::Debug for SecretEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretEnv")
            .field("from_secrets", &self.values.keys())
            .finish()
    }
}

impl SecretEnv {
    /// Reads every secret `lookup` names; the first that cannot be read fails the whole (a
    /// function must not start without a secret it was configured with).
    pub async fn resolve(
        source: &impl SecretSource,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SecretError> {
        let mut values = BTreeMap::new();
        for (var, id) in secret_ids(lookup) {
            values.insert(var, source.secret_string(&id).await?);
        }
        Ok(Self { values })
    }

    /// The variables that came from secrets.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.values.keys().copied()
    }

    /// `lookup` with the secrets' values in front.
    pub fn over<'a>(
        &'a self,
        lookup: impl Fn(&str) -> Option<String> + 'a,
    ) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| self.values.get(name).cloned().or_else(|| lookup(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fixed(HashMap<&'static str, &'static str>);

    impl SecretSource for Fixed {
        async fn secret_string(&self, id: &str) -> Result<String, SecretError> {
            self.0
                .get(id)
                .map(|v| (*v).to_owned())
                .ok_or_else(|| SecretError {
                    id: id.to_owned(),
                    message: "not found".into(),
                })
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[tokio::test]
    async fn a_secret_id_supplies_its_variable_and_wins_over_a_plain_value() {
        let source = Fixed(HashMap::from([("seal-arn", "sealed!"), ("cb", "whsec_x")]));
        let base = env(&[
            ("GATEWAY_KEY_SEAL_SECRET_ID", "seal-arn"),
            ("GATEWAY_KEY_SEAL_SECRET", "plain"),
            ("CALLBACK_SIGNING_SECRET_ID", " cb "),
            ("WEBHOOK_CONFIG_SECRET_ID", ""),
            ("WEBHOOK_CONFIG", "{}"),
            ("OTHER", "o"),
        ]);
        let secrets = SecretEnv::resolve(&source, &base).await.unwrap();
        let lookup = secrets.over(&base);
        assert_eq!(
            lookup("GATEWAY_KEY_SEAL_SECRET").as_deref(),
            Some("sealed!")
        );
        assert_eq!(
            lookup("CALLBACK_SIGNING_SECRET").as_deref(),
            Some("whsec_x")
        );
        // An empty id is no id: the plain variable stays.
        assert_eq!(lookup("WEBHOOK_CONFIG").as_deref(), Some("{}"));
        assert_eq!(lookup("OTHER").as_deref(), Some("o"));
        assert_eq!(
            secrets.names().collect::<Vec<_>>(),
            ["CALLBACK_SIGNING_SECRET", "GATEWAY_KEY_SEAL_SECRET"]
        );
    }

    #[tokio::test]
    async fn a_secret_that_cannot_be_read_fails_and_names_its_id() {
        let source = Fixed(HashMap::new());
        let base = env(&[("WEBHOOK_CONFIG_SECRET_ID", "missing")]);
        let error = SecretEnv::resolve(&source, &base).await.unwrap_err();
        assert_eq!(error.id, "missing");
        assert_eq!(error.to_string(), "secret missing: not found");
    }
}
