//! The SDK configuration, built once at cold start.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{ConnectorBuilder, tls};
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use std::collections::BTreeMap;

/// For people and hosts outside Lambda (gatewayctl, the local hosts): the SDK's default
/// loader, with its whole provider chain (environment, profiles, SSO, IMDS, ECS, STS web
/// identity). Reads only environment and files; credentials are fetched on the first call.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(shared_https_client())
        .load()
        .await
}

/// The HTTPS client every SDK client built from one `SdkConfig` shares. Without it each service
/// client gets its own default client: its own connection pool (a function with three DynamoDB
/// clients opened three TLS connections to DynamoDB on its first requests). The connector is
/// the SDK's default one, built as the SDK builds it (hyper 1, rustls with aws-lc, the platform's
/// root certificates, `HTTPS_PROXY`/`NO_PROXY` from the environment).
fn shared_https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut builder = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    })
}

/// For the Lambda functions: region, credentials and endpoint settings from the environment
/// only. Lambda gives every function its role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and its region (`AWS_REGION`) there, so the
/// default chain's other providers are never consulted in Lambda; not linking them (their
/// profile parsing, IMDS and STS clients) takes their code out of every function's zip and
/// their setup out of cold start. As with the default loader: `AWS_ENDPOINT_URL` and
/// `AWS_ENDPOINT_URL_<SERVICE>` (unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`),
/// `AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`. Makes no network call.
pub fn lambda_sdk_config() -> SdkConfig {
    lambda_sdk_config_from(std::env::vars())
}

/// [`lambda_sdk_config`] from the given variables.
pub fn lambda_sdk_config_from(vars: impl IntoIterator<Item = (String, String)>) -> SdkConfig {
    let vars: BTreeMap<String, String> = vars
        .into_iter()
        .filter(|(name, value)| name.starts_with("AWS_") && !value.is_empty())
        .collect();
    let get = |name: &str| vars.get(name).map(String::as_str);
    let flag = |name: &str| get(name).map(|v| v.eq_ignore_ascii_case("true"));
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(shared_https_client());
    if let Some(region) = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")) {
        builder.set_region(Some(Region::new(region.to_owned())));
    }
    if let (Some(id), Some(secret)) = (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
        let credentials = Credentials::new(
            id,
            secret,
            get("AWS_SESSION_TOKEN").map(str::to_owned),
            None,
            "lambda-environment",
        );
        builder.set_credentials_provider(Some(SharedCredentialsProvider::new(credentials)));
    }
    builder.set_use_fips(flag("AWS_USE_FIPS_ENDPOINT"));
    builder.set_use_dual_stack(flag("AWS_USE_DUALSTACK_ENDPOINT"));
    let ignore_endpoints = flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").unwrap_or(false);
    builder
        .service_config(EnvironmentSettings {
            vars,
            ignore_endpoints,
        })
        .build()
}

/// Per-service settings from the environment: `<KEY>_<SERVICE_ID>` (e.g.
/// `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`) before `<KEY>`, as the default loader reads them.
#[derive(Debug)]
struct EnvironmentSettings {
    vars: BTreeMap<String, String>,
    ignore_endpoints: bool,
}

impl LoadServiceConfig for EnvironmentSettings {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if self.ignore_endpoints && key.env() == "AWS_ENDPOINT_URL" {
            return None;
        }
        let service = key.service_id().to_uppercase().replace(' ', "_");
        self.vars
            .get(&format!("{}_{service}", key.env()))
            .or_else(|| self.vars.get(key.env()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::ProvideCredentials;

    fn config(vars: &[(&str, &str)]) -> SdkConfig {
        lambda_sdk_config_from(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    fn key<'a>(env: &'a str, service: &'a str) -> ServiceConfigKey<'a> {
        ServiceConfigKey::builder()
            .env(env)
            .profile("endpoint_url")
            .service_id(service)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn region_and_credentials_come_from_lambdas_variables() {
        let sdk = config(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("HOME", "/root"),
        ]);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        let credentials = sdk
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.session_token(), Some("token"));
        assert_eq!(sdk.use_fips(), None);
    }

    #[test]
    fn a_service_specific_endpoint_wins_over_the_global_one() {
        let sdk = config(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:4010"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
        ]);
        let settings = sdk.service_config().unwrap();
        assert_eq!(
            settings.load_config(key("AWS_ENDPOINT_URL", "Bedrock Runtime")),
            Some("http://127.0.0.1:4010".to_owned())
        );
        assert_eq!(
            settings.load_config(key("AWS_ENDPOINT_URL", "DynamoDB")),
            Some("http://127.0.0.1:5000".to_owned())
        );
        assert_eq!(sdk.use_fips(), Some(true));
        let ignored = config(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert_eq!(
            ignored
                .service_config()
                .unwrap()
                .load_config(key("AWS_ENDPOINT_URL", "DynamoDB")),
            None
        );
    }
}
