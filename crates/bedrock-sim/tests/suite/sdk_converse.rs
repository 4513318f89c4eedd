//! Converse and ConverseStream through the real `aws-sdk-bedrockruntime` client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use crate::common::*;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlock, ContentBlockDelta, ContentBlockStart, ConverseOutput,
    ConverseStreamOutput, InferenceConfiguration, StopReason, SystemContentBlock, Tool, ToolChoice,
    ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_smithy_types::Document;
use bedrock_sim::{count_input_tokens, count_output_tokens, expected_reply};
use serde_json::json;

fn reply_text(out: &aws_sdk_bedrockruntime::operation::converse::ConverseOutput) -> String {
    match out.output() {
        Some(ConverseOutput::Message(m)) => match &m.content()[0] {
            ContentBlock::Text(t) => t.clone(),
            other => panic!("expected text, got {other:?}"),
        },
        other => panic!("unexpected output {other:?}"),
    }
}

#[tokio::test]
async fn converse_returns_the_expected_reply_and_usage() {
    let sim = sim().await;
    let client = client(&sim).await;
    let prompt = "What is the capital of France?";
    let out = client
        .converse()
        .model_id(HAIKU)
        .system(SystemContentBlock::Text("Be brief.".into()))
        .messages(user(prompt))
        .send()
        .await
        .unwrap();
    let text = reply_text(&out);
    assert_eq!(text, expected_reply(prompt));
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let usage = out.usage().unwrap();
    let chars = "Be brief.".len() + prompt.len();
    assert_eq!(usage.input_tokens() as u32, count_input_tokens(chars));
    assert_eq!(usage.output_tokens() as u32, count_output_tokens(&text));
    assert_eq!(
        usage.total_tokens(),
        usage.input_tokens() + usage.output_tokens()
    );
    assert!(out.metrics().is_some());
    assert_eq!(sim.calls(HAIKU), 1);
}

#[tokio::test]
async fn profiles_and_arns_are_accepted() {
    let sim = sim().await;
    let client = client(&sim).await;
    for model in [
        SONNET_PROFILE,
        "global.amazon.nova-pro-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0",
        "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.meta.llama3-1-8b-instruct-v1:0",
        "mistral.mistral-large-2407-v1:0",
    ] {
        let out = client
            .converse()
            .model_id(model)
            .messages(user("hi"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{model}: {:?}", e.into_service_error()));
        assert_eq!(reply_text(&out), expected_reply("hi"));
    }
    assert_eq!(sim.calls(SONNET_PROFILE), 1);
    assert_eq!(sim.calls("eu.meta.llama3-1-8b-instruct-v1:0"), 1);
    assert_eq!(sim.calls(HAIKU), 1);
}

#[tokio::test]
async fn unknown_model_is_the_services_validation_error() {
    let sim = sim().await;
    let client = client(&sim).await;
    let err = client
        .converse()
        .model_id("anthropic.claude-does-not-exist-v1:0")
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
    match err.into_service_error() {
        ConverseError::ValidationException(e) => {
            assert_eq!(
                e.message(),
                Some("The provided model identifier is invalid.")
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.calls("anthropic.claude-does-not-exist-v1:0"), 1);
}

#[tokio::test]
async fn max_tokens_truncates_and_reports_max_tokens() {
    let sim = sim().await;
    let client = client(&sim).await;
    let prompt = "Tell me a long story";
    let out = client
        .converse()
        .model_id(NOVA)
        .messages(user(prompt))
        .inference_config(InferenceConfiguration::builder().max_tokens(4).build())
        .send()
        .await
        .unwrap();
    let text = reply_text(&out);
    let full = expected_reply(prompt);
    let expected: Vec<&str> = full.split(' ').take(4).collect();
    assert_eq!(text, expected.join(" "));
    assert_eq!(out.stop_reason(), &StopReason::MaxTokens);
    assert_eq!(out.usage().unwrap().output_tokens(), 4);
}

#[tokio::test]
async fn stop_sequences_cut_before_the_sequence() {
    let sim = sim().await;
    let client = client(&sim).await;
    let out = client
        .converse()
        .model_id(HAIKU)
        .messages(user("reply with: {\"a\": 1} END trailing"))
        .inference_config(
            InferenceConfiguration::builder()
                .stop_sequences("END")
                .stop_sequences("never")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(reply_text(&out), "{\"a\": 1} ");
    assert_eq!(out.stop_reason(), &StopReason::StopSequence);
}

#[tokio::test]
async fn bad_requests_are_validation_errors() {
    let sim = sim().await;
    let client = client(&sim).await;
    let err = client
        .converse()
        .model_id(HAIKU)
        .messages(user("a"))
        .messages(user("b"))
        .send()
        .await
        .unwrap_err();
    match err.into_service_error() {
        ConverseError::ValidationException(e) => {
            assert!(e.message().unwrap().contains("alternate"), "{e:?}")
        }
        other => panic!("{other:?}"),
    }
}

fn weather_tool() -> ToolConfiguration {
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "note": {"type": "string"}
        },
        "required": ["city", "days", "unit"]
    });
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(
            ToolSpecification::builder()
                .name("get_weather")
                .description("Weather forecast")
                .input_schema(ToolInputSchema::Json(to_document(&schema)))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap()
}

#[tokio::test]
async fn tool_use_input_has_the_required_fields() {
    let sim = sim().await;
    let client = client(&sim).await;
    let out = client
        .converse()
        .model_id(SONNET_PROFILE)
        .messages(user("Please call get_weather for Paris"))
        .tool_config(weather_tool())
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let Some(ConverseOutput::Message(m)) = out.output() else {
        panic!()
    };
    let ContentBlock::ToolUse(tool_use) = &m.content()[0] else {
        panic!("{m:?}")
    };
    assert_eq!(tool_use.name(), "get_weather");
    assert!(tool_use.tool_use_id().starts_with("tooluse_"));
    let Document::Object(input) = tool_use.input() else {
        panic!("{tool_use:?}")
    };
    assert!(matches!(input.get("city"), Some(Document::String(_))));
    assert!(matches!(input.get("days"), Some(Document::Number(_))));
    assert_eq!(input.get("unit"), Some(&Document::String("celsius".into())));
    assert!(!input.contains_key("note"));

    // A forced choice with no mention still calls the tool.
    let forced =
        weather_tool().to_builder_with_choice(ToolChoice::Any(AnyToolChoice::builder().build()));
    let out = client
        .converse()
        .model_id(SONNET_PROFILE)
        .messages(user("hello"))
        .tool_config(forced)
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
}

trait WithChoice {
    fn to_builder_with_choice(self, choice: ToolChoice) -> ToolConfiguration;
}

impl WithChoice for ToolConfiguration {
    fn to_builder_with_choice(self, choice: ToolChoice) -> ToolConfiguration {
        ToolConfiguration::builder()
            .set_tools(Some(self.tools().to_vec()))
            .tool_choice(choice)
            .build()
            .unwrap()
    }
}

#[tokio::test]
async fn converse_stream_deltas_concatenate_to_the_reply() {
    let sim = sim().await;
    let client = client(&sim).await;
    let prompt = "Stream a few words please";
    let mut out = client
        .converse_stream()
        .model_id(HAIKU)
        .messages(user(prompt))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let mut deltas = 0;
    let mut kinds = Vec::new();
    let mut usage = None;
    let mut stop = None;
    while let Some(event) = out.stream.recv().await.unwrap() {
        match &event {
            ConverseStreamOutput::MessageStart(_) => kinds.push("start"),
            ConverseStreamOutput::ContentBlockDelta(d) => {
                if let Some(ContentBlockDelta::Text(t)) = d.delta() {
                    text.push_str(t);
                    deltas += 1;
                }
            }
            ConverseStreamOutput::ContentBlockStop(_) => kinds.push("blockStop"),
            ConverseStreamOutput::MessageStop(m) => {
                stop = Some(m.stop_reason().clone());
                kinds.push("stop");
            }
            ConverseStreamOutput::Metadata(m) => {
                usage = m.usage().cloned();
                assert!(m.metrics().is_some());
                kinds.push("metadata");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(text, expected_reply(prompt));
    assert!(
        deltas >= 4,
        "text should arrive in several deltas, got {deltas}"
    );
    assert_eq!(kinds, ["start", "blockStop", "stop", "metadata"]);
    assert_eq!(stop, Some(StopReason::EndTurn));
    let usage = usage.unwrap();
    assert_eq!(usage.output_tokens() as u32, count_output_tokens(&text));
    assert_eq!(
        usage.input_tokens() as u32,
        count_input_tokens(prompt.len())
    );
    assert_eq!(
        usage.total_tokens(),
        usage.input_tokens() + usage.output_tokens()
    );
}

#[tokio::test]
async fn converse_stream_tool_use_streams_json_fragments() {
    let sim = sim().await;
    let client = client(&sim).await;
    let mut out = client
        .converse_stream()
        .model_id(HAIKU)
        .messages(user("use get_weather"))
        .tool_config(weather_tool())
        .send()
        .await
        .unwrap();
    let mut name = None;
    let mut input = String::new();
    let mut stop = None;
    while let Some(event) = out.stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockStart(s) => {
                if let Some(ContentBlockStart::ToolUse(t)) = s.start() {
                    name = Some(t.name().to_string());
                    assert!(t.tool_use_id().starts_with("tooluse_"));
                }
            }
            ConverseStreamOutput::ContentBlockDelta(d) => {
                if let Some(ContentBlockDelta::ToolUse(t)) = d.delta() {
                    input.push_str(t.input());
                }
            }
            ConverseStreamOutput::MessageStop(m) => stop = Some(m.stop_reason().clone()),
            _ => {}
        }
    }
    assert_eq!(name.as_deref(), Some("get_weather"));
    let input: serde_json::Value = serde_json::from_str(&input).unwrap();
    assert_eq!(
        input,
        json!({"city": "example", "days": 1, "unit": "celsius"})
    );
    assert_eq!(stop, Some(StopReason::ToolUse));
}
