//! Anthropic InvokeModel bodies beyond plain text, through the real SDK: dated
//! `anthropic_version`s, `anthropic_beta`, extended thinking, tools with `tool_choice`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use crate::common::*;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::ResponseStream;
use bedrock_sim::{count_output_tokens, expected_reply};
use serde_json::{Value, json};

async fn invoke(
    client: &aws_sdk_bedrockruntime::Client,
    body: &Value,
) -> Result<Value, aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError> {
    client
        .invoke_model()
        .model_id(SONNET_PROFILE)
        .body(Blob::new(serde_json::to_vec(body).unwrap()))
        .send()
        .await
        .map(|out| serde_json::from_slice(out.body().as_ref()).unwrap())
        .map_err(|e| e.into_service_error())
}

#[tokio::test]
async fn dated_versions_and_beta_flags_are_accepted_garbage_is_not() {
    let sim = sim().await;
    let client = client(&sim).await;
    for version in [
        "bedrock-2023-05-31",
        "bedrock-2024-10-22",
        "bedrock-2025-06-01",
        // The anthropic SDK's AnthropicBedrock sends its own API version.
        "2023-06-01",
        "2026-10-21",
    ] {
        let body = json!({
            "anthropic_version": version,
            "anthropic_beta": ["interleaved-thinking-2025-05-14", "token-efficient-tools-2025-02-19"],
            "max_tokens": 50,
            "metadata": {"user_id": "u-1"},
            "messages": [{"role": "user", "content": "reply with: ok"}]
        });
        let out = invoke(&client, &body).await.unwrap();
        assert_eq!(out["content"][0]["text"], "ok", "{version}");
    }
    for version in [
        "bedrock-2022-01-01",
        "2023-05-01",
        "bedrock-2024-13-01",
        "bedrock-latest",
    ] {
        let body = json!({
            "anthropic_version": version,
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}]
        });
        let err = invoke(&client, &body).await.unwrap_err();
        assert!(err.is_validation_exception(), "{version}: {err:?}");
        assert!(format!("{err:?}").contains("anthropic_version"), "{err:?}");
    }
    let body = json!({
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": "not-a-list",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}]
    });
    assert!(
        invoke(&client, &body)
            .await
            .unwrap_err()
            .is_validation_exception()
    );
}

fn thinking_body(budget: u32, max_tokens: u32) -> Value {
    json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens,
        "thinking": {"type": "enabled", "budget_tokens": budget},
        "stop_sequences": ["NEVER"],
        "messages": [{"role": "user", "content": "Explain the breaker"}]
    })
}

#[tokio::test]
async fn thinking_comes_before_the_text_and_counts_as_output() {
    let sim = sim().await;
    let client = client(&sim).await;
    let out = invoke(&client, &thinking_body(1024, 4000)).await.unwrap();
    let content = out["content"].as_array().unwrap();
    assert_eq!(content.len(), 2);
    assert_eq!(content[0]["type"], "thinking");
    let thinking = content[0]["thinking"].as_str().unwrap();
    assert!(thinking.starts_with("Let me think"), "{thinking}");
    assert!(!content[0]["signature"].as_str().unwrap().is_empty());
    assert_eq!(content[1]["type"], "text");
    let text = content[1]["text"].as_str().unwrap();
    assert_eq!(text, expected_reply("Explain the breaker"));
    assert_eq!(
        out["usage"]["output_tokens"].as_u64().unwrap() as u32,
        count_output_tokens(thinking) + count_output_tokens(text)
    );
    // The same request gives the same thinking.
    let again = invoke(&client, &thinking_body(1024, 4000)).await.unwrap();
    assert_eq!(again["content"][0], content[0]);

    for (budget, max, needle) in [(1000, 4000, "1024"), (2048, 2048, "max_tokens")] {
        let err = invoke(&client, &thinking_body(budget, max))
            .await
            .unwrap_err();
        assert!(err.is_validation_exception(), "{err:?}");
        assert!(format!("{err:?}").contains(needle), "{err:?}");
    }
}

#[tokio::test]
async fn thinking_streams_as_block_zero_with_a_signature() {
    let sim = sim().await;
    let client = client(&sim).await;
    let mut out = client
        .invoke_model_with_response_stream()
        .model_id(HAIKU)
        .body(Blob::new(
            serde_json::to_vec(&thinking_body(1024, 4000)).unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let (mut thinking, mut text, mut signature) = (String::new(), String::new(), None);
    let mut starts = Vec::new();
    while let Some(event) = out.body.recv().await.unwrap() {
        let ResponseStream::Chunk(part) = event else {
            panic!("{event:?}")
        };
        let v: Value = serde_json::from_slice(part.bytes().unwrap().as_ref()).unwrap();
        match v["type"].as_str().unwrap() {
            "content_block_start" => starts.push((
                v["index"].as_u64().unwrap(),
                v["content_block"]["type"].as_str().unwrap().to_string(),
            )),
            "content_block_delta" => match v["delta"]["type"].as_str().unwrap() {
                "thinking_delta" => {
                    assert_eq!(v["index"], 0);
                    thinking.push_str(v["delta"]["thinking"].as_str().unwrap());
                }
                "signature_delta" => signature = v["delta"]["signature"].as_str().map(String::from),
                "text_delta" => {
                    assert_eq!(v["index"], 1);
                    text.push_str(v["delta"]["text"].as_str().unwrap());
                }
                other => panic!("{other}"),
            },
            _ => {}
        }
    }
    assert_eq!(starts, [(0, "thinking".into()), (1, "text".into())]);
    assert!(thinking.starts_with("Let me think"));
    assert!(signature.is_some());
    assert_eq!(text, expected_reply("Explain the breaker"));
}

#[tokio::test]
async fn tools_with_cache_control_and_tool_choice() {
    let sim = sim().await;
    let client = client(&sim).await;
    let body = json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 300,
        "tools": [
            {"name": "get_weather", "description": "Weather for a city",
             "input_schema": {"type": "object", "required": ["city"],
                              "properties": {"city": {"type": "string"}}},
             "cache_control": {"type": "ephemeral"}}
        ],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Weather in Oslo?"}]}]
    });
    let out = invoke(&client, &body).await.unwrap();
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(out["content"][0]["type"], "tool_use");
    assert_eq!(out["content"][0]["name"], "get_weather");
    assert_eq!(out["content"][0]["input"], json!({"city": "example"}));
    // Tool definitions count no input tokens in the simulator, so their cache point caches none.
    assert_eq!(out["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(out["usage"]["cache_read_input_tokens"], 0);
}

fn thinking_fields() -> aws_smithy_types::Document {
    to_document(&json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}))
}

#[tokio::test]
async fn converse_thinking_through_additional_fields() {
    use aws_sdk_bedrockruntime::types::{
        ContentBlock, ContentBlockDelta, ConverseStreamOutput, InferenceConfiguration,
        ReasoningContentBlock, ReasoningContentBlockDelta,
    };
    let sim = sim().await;
    let client = client(&sim).await;
    let out = client
        .converse()
        .model_id(SONNET_PROFILE)
        .messages(user("Explain the breaker"))
        .inference_config(InferenceConfiguration::builder().max_tokens(4000).build())
        .additional_model_request_fields(thinking_fields())
        .send()
        .await
        .unwrap();
    let content = out.output().unwrap().as_message().unwrap().content();
    let ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(reasoning)) =
        &content[0]
    else {
        panic!("{content:?}")
    };
    assert!(reasoning.text().starts_with("Let me think"));
    assert!(reasoning.signature().is_some());
    assert_eq!(
        content[1].as_text().unwrap(),
        &expected_reply("Explain the breaker")
    );
    assert_eq!(
        out.usage().unwrap().output_tokens() as u32,
        count_output_tokens(reasoning.text()) + count_output_tokens(content[1].as_text().unwrap())
    );

    let mut stream = client
        .converse_stream()
        .model_id(SONNET_PROFILE)
        .messages(user("Explain the breaker"))
        .additional_model_request_fields(thinking_fields())
        .send()
        .await
        .unwrap();
    let (mut thinking, mut text, mut signed) = (String::new(), String::new(), false);
    while let Some(event) = stream.stream.recv().await.unwrap() {
        if let ConverseStreamOutput::ContentBlockDelta(d) = event {
            match d.delta().unwrap() {
                ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(t)) => {
                    assert_eq!(d.content_block_index(), 0);
                    thinking.push_str(t);
                }
                ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Signature(_)) => {
                    signed = true
                }
                ContentBlockDelta::Text(t) => {
                    assert_eq!(d.content_block_index(), 1);
                    text.push_str(t);
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(&thinking, reasoning.text());
    assert!(signed);
    assert_eq!(text, expected_reply("Explain the breaker"));

    let err = client
        .converse()
        .model_id(SONNET_PROFILE)
        .messages(user("x"))
        .additional_model_request_fields(to_document(
            &json!({"thinking": {"type": "enabled", "budget_tokens": 10}}),
        ))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
}
