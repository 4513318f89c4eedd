//! CountTokens through the real SDK, for Converse-shaped and InvokeModel-shaped input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use crate::common::*;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ConverseTokensRequest, CountTokensInput, InvokeModelTokensRequest, SystemContentBlock,
};
use bedrock_sim::count_input_tokens;
use serde_json::json;

#[tokio::test]
async fn count_tokens_for_converse_input_matches_what_converse_reports() {
    let sim = sim().await;
    let client = client(&sim).await;
    let system = "You are a careful assistant.";
    let prompt = "How many tokens is this question?";
    let counted = client
        .count_tokens()
        .model_id(SONNET_PROFILE)
        .input(CountTokensInput::Converse(
            ConverseTokensRequest::builder()
                .system(SystemContentBlock::Text(system.into()))
                .messages(user(prompt))
                .build(),
        ))
        .send()
        .await
        .unwrap();
    let expected = count_input_tokens(system.len() + prompt.len());
    assert_eq!(counted.input_tokens() as u32, expected);

    let out = client
        .converse()
        .model_id(SONNET_PROFILE)
        .system(SystemContentBlock::Text(system.into()))
        .messages(user(prompt))
        .send()
        .await
        .unwrap();
    assert_eq!(out.usage().unwrap().input_tokens(), counted.input_tokens());
    // Counting is not a model call.
    assert_eq!(sim.calls(SONNET_PROFILE), 1);
}

#[tokio::test]
async fn count_tokens_for_invoke_model_input() {
    let sim = sim().await;
    let client = client(&sim).await;
    let body = json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "system": "0123456789",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "abcdefghij"}]}]
    });
    let counted = client
        .count_tokens()
        .model_id(HAIKU)
        .input(CountTokensInput::InvokeModel(
            InvokeModelTokensRequest::builder()
                .body(Blob::new(serde_json::to_vec(&body).unwrap()))
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(counted.input_tokens(), 5); // 20 characters

    // A body the model would refuse is refused by the count too.
    let bad = json!({"anthropic_version": "nope", "max_tokens": 1, "messages": []});
    let err = client
        .count_tokens()
        .model_id(HAIKU)
        .input(CountTokensInput::InvokeModel(
            InvokeModelTokensRequest::builder()
                .body(Blob::new(serde_json::to_vec(&bad).unwrap()))
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");

    // An unknown model is refused like any other operation's.
    let err = client
        .count_tokens()
        .model_id("anthropic.claude-unknown")
        .input(CountTokensInput::Converse(
            ConverseTokensRequest::builder().messages(user("x")).build(),
        ))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(!err.is_throttling_exception(), "{err:?}");
    assert!(err.meta().code().is_some(), "{err:?}");
}

#[tokio::test]
async fn count_tokens_takes_no_script_step_and_counts_no_call() {
    let sim = sim().await;
    let client = client(&sim).await;
    sim.set_behavior(
        HAIKU,
        bedrock_sim::Behavior::script([bedrock_sim::Outcome::Error(
            bedrock_sim::ErrorKind::ThrottlingException,
        )]),
    );
    for model in [HAIKU, "anthropic.claude-unknown"] {
        let _ = client
            .count_tokens()
            .model_id(model)
            .input(CountTokensInput::Converse(
                ConverseTokensRequest::builder().messages(user("x")).build(),
            ))
            .send()
            .await;
    }
    assert_eq!(sim.call_counts().total, 0);
    // The scripted throttle is still there for the first real call.
    let err = client
        .converse()
        .model_id(HAIKU)
        .messages(user("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
}
