//! InvokeModel and InvokeModelWithResponseStream through the real SDK, plus raw wire checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use crate::common::*;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::ResponseStream;
use bedrock_sim::{count_output_tokens, expected_reply};
use serde_json::{Value, json};

fn anthropic_body(prompt: &str, max_tokens: u32) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        "temperature": 0.1
    }))
    .unwrap()
}

#[tokio::test]
async fn invoke_model_anthropic_messages() {
    let sim = sim().await;
    let client = client(&sim).await;
    let prompt = "Summarise the plot of Hamlet";
    let out = client
        .invoke_model()
        .model_id(HAIKU)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(anthropic_body(prompt, 1000)))
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_type(), "application/json");
    let body: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-3-5-haiku-20241022");
    assert!(body["id"].as_str().unwrap().starts_with("msg_bdrk_"));
    assert_eq!(body["content"][0]["type"], "text");
    let text = body["content"][0]["text"].as_str().unwrap();
    assert_eq!(text, expected_reply(prompt));
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["stop_sequence"], Value::Null);
    assert_eq!(
        body["usage"]["output_tokens"].as_u64().unwrap() as u32,
        count_output_tokens(text)
    );
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn invoke_model_titan_style_body() {
    let sim = sim().await;
    let client = client(&sim).await;
    let out = client
        .invoke_model()
        .model_id("amazon.titan-text-express-v1")
        .body(Blob::new(
            serde_json::to_vec(&json!({"inputText": "reply with: hello titan"})).unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    assert_eq!(body["results"][0]["outputText"], "hello titan");
    assert_eq!(body["results"][0]["completionReason"], "FINISH");
}

#[tokio::test]
async fn anthropic_body_on_a_non_anthropic_model_is_rejected() {
    let sim = sim().await;
    let client = client(&sim).await;
    let err = client
        .invoke_model()
        .model_id(NOVA)
        .body(Blob::new(anthropic_body("hi", 10)))
        .send()
        .await
        .unwrap_err();
    match err.into_service_error() {
        InvokeModelError::ValidationException(e) => {
            assert!(e.message().unwrap().contains("anthropic"), "{e:?}")
        }
        other => panic!("{other:?}"),
    }
    // And a body missing a required key names it.
    let err = client
        .invoke_model()
        .model_id(HAIKU)
        .body(Blob::new(
            br#"{"anthropic_version":"bedrock-2023-05-31","messages":[]}"#.to_vec(),
        ))
        .send()
        .await
        .unwrap_err();
    match err.into_service_error() {
        InvokeModelError::ValidationException(e) => {
            assert!(e.message().unwrap().contains("max_tokens"), "{e:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn invoke_stream_chunks_decode_to_anthropic_events() {
    let sim = sim().await;
    let client = client(&sim).await;
    let prompt = "Stream me some text";
    let mut out = client
        .invoke_model_with_response_stream()
        .model_id(SONNET_PROFILE)
        .content_type("application/json")
        .body(Blob::new(anthropic_body(prompt, 1000)))
        .send()
        .await
        .unwrap();
    let mut types = Vec::new();
    let mut text = String::new();
    let mut metrics = None;
    let mut output_tokens = None;
    while let Some(event) = out.body.recv().await.unwrap() {
        let ResponseStream::Chunk(part) = event else {
            panic!("{event:?}")
        };
        let v: Value = serde_json::from_slice(part.bytes().unwrap().as_ref()).unwrap();
        let ty = v["type"].as_str().unwrap().to_string();
        match ty.as_str() {
            "content_block_delta" => {
                assert_eq!(v["delta"]["type"], "text_delta");
                text.push_str(v["delta"]["text"].as_str().unwrap());
            }
            "message_delta" => {
                assert_eq!(v["delta"]["stop_reason"], "end_turn");
                output_tokens = v["usage"]["output_tokens"].as_u64();
            }
            "message_stop" => metrics = Some(v["amazon-bedrock-invocationMetrics"].clone()),
            _ => {}
        }
        if types.last() != Some(&ty) {
            types.push(ty);
        }
    }
    assert_eq!(
        types,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(text, expected_reply(prompt));
    assert_eq!(output_tokens.unwrap() as u32, count_output_tokens(&text));
    let metrics = metrics.unwrap();
    assert_eq!(metrics["outputTokenCount"].as_u64(), output_tokens);
    assert!(metrics["inputTokenCount"].as_u64().unwrap() > 0);
    assert!(metrics["invocationLatency"].is_u64());
    assert!(metrics["firstByteLatency"].is_u64());
}

#[tokio::test]
async fn raw_wire_invoke_headers_and_error_shape() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let url = format!(
        "{}/model/{}/invoke",
        sim.endpoint_url(),
        "anthropic.claude-3-5-haiku-20241022-v1%3A0"
    );
    let resp = http
        .post(&url)
        .body(anthropic_body("headers", 3))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["x-amzn-bedrock-output-token-count"], "3");
    assert!(h.contains_key("x-amzn-bedrock-input-token-count"));
    assert!(h.contains_key("x-amzn-bedrock-invocation-latency"));
    assert!(h.contains_key("x-amzn-requestid"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["stop_reason"], "max_tokens");

    let resp = http
        .post(format!("{}/model/nope/converse", sim.endpoint_url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "The provided model identifier is invalid."})
    );

    let resp = http
        .post(format!("{}/model/{}/converse", sim.endpoint_url(), HAIKU))
        .body("{\"messages\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Malformed request body")
    );
}
