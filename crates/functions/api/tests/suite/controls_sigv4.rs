//! Done when: an AWS SDK bedrock-runtime client with a gateway key as credentials succeeds;
//! with a wrong secret gets 403. The signatures are the real Rust SDK's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::controls_support::*;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseStreamOutput, Message,
};
use serde_json::json;

fn client(endpoint: &str, key_id: &str, secret: &str) -> aws_sdk_bedrockruntime::Client {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key_id, secret, None, None, "gateway-key"))
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_aws_sdk_client_with_a_gateway_key_succeeds_and_a_wrong_secret_gets_403() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let endpoint = stack.serve().await;

    let good = client(&endpoint, &key.key_id, &key.secret);
    let output = good
        .converse()
        .model_id(HAIKU)
        .messages(user("signed ping"))
        .send()
        .await
        .unwrap();
    let text = output.output().unwrap().as_message().unwrap().content()[0]
        .as_text()
        .unwrap()
        .clone();
    assert_eq!(text, bedrock_sim::expected_reply("signed ping"));

    // Streaming and InvokeModel are signed the same way.
    let mut stream = good
        .converse_stream()
        .model_id(HAIKU)
        .messages(user("signed stream"))
        .send()
        .await
        .unwrap();
    let mut streamed = String::new();
    while let Some(event) = stream.stream.recv().await.unwrap() {
        if let ConverseStreamOutput::ContentBlockDelta(delta) = event
            && let Some(t) = delta.delta().and_then(|d| d.as_text().ok())
        {
            streamed.push_str(t);
        }
    }
    assert_eq!(streamed, bedrock_sim::expected_reply("signed stream"));
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
        "messages": [{"role": "user", "content": "native"}]});
    good.invoke_model()
        .model_id(HAIKU)
        .content_type("application/json")
        .body(aws_sdk_bedrockruntime::primitives::Blob::new(
            body.to_string(),
        ))
        .send()
        .await
        .unwrap();

    let mut wrong_secret = key.secret.clone();
    wrong_secret.replace_range(
        0..1,
        if key.secret.starts_with('x') {
            "y"
        } else {
            "x"
        },
    );
    let bad = client(&endpoint, &key.key_id, &wrong_secret);
    let error = bad
        .converse()
        .model_id(HAIKU)
        .messages(user("forged"))
        .send()
        .await
        .unwrap_err();
    let SdkError::ServiceError(service) = &error else {
        panic!("expected a service error, got {error:?}");
    };
    assert_eq!(service.raw().status().as_u16(), 403);
    assert_eq!(service.err().code(), Some("AccessDeniedException"));
    assert!(
        service
            .err()
            .message()
            .unwrap()
            .contains("signature does not match")
    );

    let unknown = client(&endpoint, "GWKAAAAAAAAAAAAAAAAA", &key.secret);
    let error = unknown
        .converse()
        .model_id(HAIKU)
        .messages(user("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.raw_response().unwrap().status().as_u16(), 403);
    assert_eq!(
        stack.sim.calls(HAIKU),
        3,
        "refused requests never reached the model"
    );

    // The usage ledger knows who called.
    let usage = stack.get("/v1/usage", &key.api_key).await.json();
    assert_eq!(usage["totals"]["requests"], 3);
}
