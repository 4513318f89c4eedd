//! A job can target a model served by a SageMaker endpoint: the worker's runner (the one it
//! deploys with, over the composite Bedrock + SageMaker client) answers it from the endpoint,
//! and falls back to the Bedrock model the entry names when the endpoint fails.

use crate::common::HAIKU;
use bedrock_sim::{Behavior, ErrorKind};
use gateway::api::converse::{ContentBlock, ConverseRequest, Message, Role};
use gateway::config::GatewayConfig;
use gateway::jobs::processor::JobRunner;
use gateway::service::{Caller, Gateway};
use gateway_aws::models::GatewayModelClient;
use worker::MeteredJobRunner;

const ENDPOINT: &str = "ft-llama-ep";

fn config() -> GatewayConfig {
    GatewayConfig::parse(
        "test",
        &format!(
            r#"{{"models": [
                {{"id": "ft-llama", "fallbacks": ["haiku"],
                  "sagemaker": {{"endpoint": "{ENDPOINT}", "dialect": "chat"}}}},
                {{"id": "{HAIKU}", "aliases": ["haiku"]}}
              ],
              "routes": {{}}}}"#
        ),
    )
    .unwrap()
}

fn ask(text: &str) -> ConverseRequest {
    ConverseRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock::Text(text.to_owned())],
        }],
        ..ConverseRequest::default()
    }
}

#[tokio::test]
async fn a_job_is_answered_by_a_sagemaker_endpoint_and_falls_back_to_bedrock() {
    let sim = testkit::bedrock_sim().await;
    let sdk = testkit::local_sdk_config(&sim.endpoint_url());
    let config = config();
    let runner = MeteredJobRunner(Gateway::new(
        config.clone(),
        GatewayModelClient::from_sdk_config(&sdk, &config),
        gateway_aws::resilience_store::local_parts(&config),
    ));
    let caller = Caller {
        tenant: "acme",
        allowed_models: &[],
    };

    let answer = runner
        .run(caller, "ft-llama", &ask("reply with: from the endpoint"))
        .await
        .unwrap();
    assert_eq!(answer.model, "ft-llama");
    assert_eq!(answer.response.text(), "from the endpoint");
    assert_eq!(sim.calls(&format!("sagemaker:{ENDPOINT}")), 1);
    assert_eq!(sim.calls(HAIKU), 0);

    sim.set_behavior(
        &format!("sagemaker:{ENDPOINT}"),
        Behavior::always(ErrorKind::ServiceUnavailableException),
    );
    let answer = runner
        .run(caller, "ft-llama", &ask("reply with: from the fallback"))
        .await
        .unwrap();
    assert_eq!(answer.model, HAIKU);
    assert_eq!(answer.response.text(), "from the fallback");
}
