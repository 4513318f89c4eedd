//! One SDK configuration for every hosted function: Bedrock Runtime, SageMaker Runtime and
//! Bedrock Agent Runtime → bedrock-sim (one server simulates all three), every other
//! service → moto, dummy credentials, us-east-1. It is what `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (`_SAGEMAKER_RUNTIME`, `_BEDROCK_AGENT_RUNTIME`) give a
//! deployed binary, built without touching this process's environment (which would leak into
//! other threads).

use crate::template::intrinsics::REGION;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// The SDK's `service_id` of bedrock-runtime (what `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` keys on).
const BEDROCK_RUNTIME: &str = "Bedrock Runtime";
/// `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` and `AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME`.
const SIMULATED: [&str; 3] = [
    BEDROCK_RUNTIME,
    "SageMaker Runtime",
    "Bedrock Agent Runtime",
];

#[derive(Debug, Clone)]
struct LocalEndpoints {
    moto: String,
    bedrock: String,
}

impl LoadServiceConfig for LocalEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        Some(if SIMULATED.contains(&key.service_id()) {
            self.bedrock.clone()
        } else {
            self.moto.clone()
        })
    }
}

/// The endpoints are given only as service configuration, never as the config's own
/// `endpoint_url`: an explicit one would take precedence over the per-service Bedrock one.
pub async fn sdk_config(moto_url: &str, bedrock_url: &str) -> SdkConfig {
    let base = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "gateway-local",
        ))
        .load()
        .await;
    base.into_builder()
        .service_config(LocalEndpoints {
            moto: moto_url.to_owned(),
            bedrock: bedrock_url.to_owned(),
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(service_id: &'a str, env: &'a str) -> ServiceConfigKey<'a> {
        ServiceConfigKey::builder()
            .service_id(service_id)
            .env(env)
            .profile("endpoint_url")
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn bedrock_goes_to_the_simulator_and_every_other_service_to_moto() {
        let sdk = sdk_config("http://127.0.0.1:5000", "http://127.0.0.1:4010").await;
        let endpoints = sdk.service_config().unwrap();
        assert_eq!(
            endpoints
                .load_config(key(BEDROCK_RUNTIME, "AWS_ENDPOINT_URL"))
                .as_deref(),
            Some("http://127.0.0.1:4010")
        );
        for service in ["SageMaker Runtime", "Bedrock Agent Runtime"] {
            assert_eq!(
                endpoints
                    .load_config(key(service, "AWS_ENDPOINT_URL"))
                    .as_deref(),
                Some("http://127.0.0.1:4010"),
                "{service}"
            );
        }
        for service in ["DynamoDB", "DynamoDB Streams", "SQS", "SNS"] {
            assert_eq!(
                endpoints
                    .load_config(key(service, "AWS_ENDPOINT_URL"))
                    .as_deref(),
                Some("http://127.0.0.1:5000"),
                "{service}"
            );
        }
        assert_eq!(
            endpoints.load_config(key("bedrock", "AWS_BEARER_TOKEN")),
            None
        );
        // An explicit endpoint_url would override the per-service ones in every client.
        assert_eq!(sdk.endpoint_url(), None);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
    }
}
