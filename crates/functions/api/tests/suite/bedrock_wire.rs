//! The unmodified AWS SDK (Rust) pointed at the gateway: Bedrock's own wire API through it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseStreamOutput, Message, ResponseStream,
};
use bedrock_sim::{Behavior, ErrorKind, Outcome, StreamErrorKind, expected_reply};

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn sdk_converse_through_the_gateway() {
    let api = start().await;
    let client = testkit::bedrock_client(&api.serve().await);
    let output = client
        .converse()
        .model_id(HAIKU)
        .messages(user("ping"))
        .send()
        .await
        .unwrap();
    let text = output.output().unwrap().as_message().unwrap().content()[0]
        .as_text()
        .unwrap()
        .clone();
    assert_eq!(text, expected_reply("ping"));
    assert!(output.usage().unwrap().total_tokens() > 0);
    assert_eq!(api.sim.calls(HAIKU), 1);
}

#[tokio::test]
async fn sdk_converse_stream_through_the_gateway() {
    let api = start().await;
    let client = testkit::bedrock_client(&api.serve().await);
    let mut output = client
        .converse_stream()
        .model_id(HAIKU)
        .messages(user("stream it"))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let mut saw_metadata = false;
    while let Some(event) = output.stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                if let Some(t) = delta.delta().and_then(|d| d.as_text().ok()) {
                    text.push_str(t);
                }
            }
            ConverseStreamOutput::Metadata(m) => {
                saw_metadata = m.usage().is_some_and(|u| u.output_tokens() > 0)
            }
            _ => {}
        }
    }
    assert_eq!(text, expected_reply("stream it"));
    assert!(saw_metadata);
}

#[tokio::test]
async fn sdk_invoke_and_invoke_stream_through_the_gateway() {
    let api = start().await;
    let client = testkit::bedrock_client(&api.serve().await);
    let body = serde_json::json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
        "messages": [{"role": "user", "content": "native body"}]});
    let output = client
        .invoke_model()
        .model_id(HAIKU)
        .content_type("application/json")
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .unwrap();
    let reply: serde_json::Value = serde_json::from_slice(output.body().as_ref()).unwrap();
    assert_eq!(reply["content"][0]["text"], expected_reply("native body"));

    let mut stream = client
        .invoke_model_with_response_stream()
        .model_id(HAIKU)
        .content_type("application/json")
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let mut kinds = Vec::new();
    while let Some(event) = stream.body.recv().await.unwrap() {
        if let ResponseStream::Chunk(chunk) = event {
            let event: serde_json::Value =
                serde_json::from_slice(chunk.bytes().unwrap().as_ref()).unwrap();
            kinds.push(event["type"].as_str().unwrap().to_owned());
            if let Some(t) = event["delta"]["text"].as_str() {
                text.push_str(t);
            }
        }
    }
    assert_eq!(text, expected_reply("native body"));
    assert_eq!(kinds.first().map(String::as_str), Some("message_start"));
    assert_eq!(kinds.last().map(String::as_str), Some("message_stop"));
}

#[tokio::test]
async fn sdk_sees_bedrocks_own_error_variants() {
    let api = start().await;
    let client = testkit::bedrock_client(&api.serve().await);
    api.sim
        .set_behavior(HAIKU, Behavior::always(ErrorKind::ThrottlingException));
    let err = client
        .converse()
        .model_id(HAIKU)
        .messages(user("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");

    let err = client
        .converse()
        .model_id("not-a-model")
        .messages(user("x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert!(err.message().unwrap_or_default().contains("allowed"));
}

#[tokio::test]
async fn sdk_stream_sees_an_in_stream_exception() {
    let api = start().await;
    let client = testkit::bedrock_client(&api.serve().await);
    api.sim.set_behavior(
        HAIKU,
        Behavior::script([Outcome::StreamError {
            kind: StreamErrorKind::ThrottlingException,
            after_chunks: Some(1),
        }]),
    );
    let mut output = client
        .converse_stream()
        .model_id(HAIKU)
        .messages(user("x"))
        .send()
        .await
        .unwrap();
    let mut events = 0;
    let error = loop {
        match output.stream.recv().await {
            Ok(Some(_)) => events += 1,
            Ok(None) => panic!("the stream ended without the exception"),
            Err(e) => break e.into_service_error(),
        }
    };
    assert!(events >= 2, "events arrived before the failure");
    assert!(error.is_throttling_exception(), "{error:?}");
}
