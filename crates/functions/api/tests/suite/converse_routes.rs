//! `/v1/converse` and `/v1/converse-stream` in process against the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use bedrock_sim::{Behavior, ErrorKind, Outcome, StreamErrorKind, expected_reply};
use serde_json::json;

#[tokio::test]
async fn converse_returns_bedrocks_body_and_says_who_served() {
    let api = start().await;
    let reply = api
        .post_json(
            "/v1/converse",
            &json!({"modelId": "haiku", "messages": [user_message("Hello there")]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["output"]["message"]["role"], "assistant");
    assert_eq!(
        body["output"]["message"]["content"][0]["text"],
        expected_reply("Hello there")
    );
    assert_eq!(body["stopReason"], "end_turn");
    let usage = &body["usage"];
    assert_eq!(
        usage["totalTokens"].as_u64().unwrap(),
        usage["inputTokens"].as_u64().unwrap() + usage["outputTokens"].as_u64().unwrap()
    );
    assert_eq!(reply.header("x-gateway-model"), Some(HAIKU));
    assert_eq!(reply.header("x-gateway-attempts"), Some("1"));
    assert!(
        reply
            .header("x-request-id")
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(api.sim.calls(HAIKU), 1);
}

#[tokio::test]
async fn converse_honours_inference_config() {
    let api = start().await;
    let reply = api
        .post_json(
            "/v1/converse",
            &json!({"modelId": SONNET, "messages": [user_message("tell me a long story")],
                    "inferenceConfig": {"maxTokens": 3}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["stopReason"], "max_tokens");
    assert_eq!(body["usage"]["outputTokens"], 3);
}

#[tokio::test]
async fn converse_tool_use_round_trip() {
    let api = start().await;
    let tools = json!({"tools": [{"toolSpec": {"name": "get_weather", "description": "weather",
        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}],
        "toolChoice": {"any": {}}});
    let reply = api
        .post_json("/v1/converse", &json!({"modelId": "haiku", "messages": [user_message("weather in Paris?")], "toolConfig": tools}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["stopReason"], "tool_use");
    let tool_use = body["output"]["message"]["content"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|b| b.get("toolUse"))
        .expect("a toolUse block")
        .clone();
    assert_eq!(tool_use["name"], "get_weather");
    assert!(tool_use["input"]["city"].is_string());

    // The caller answers with a tool result; the conversation continues.
    let follow_up = json!({"modelId": "haiku", "toolConfig": tools, "messages": [
        user_message("weather in Paris?"),
        {"role": "assistant", "content": [{"toolUse": tool_use}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": tool_use["toolUseId"], "content": [{"json": {"temp": 21}}]}}]},
    ]});
    let mut follow_up = follow_up;
    follow_up["toolConfig"]["toolChoice"] = json!({"auto": {}});
    let reply = api.post_json("/v1/converse", &follow_up).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn converse_stream_sends_bedrock_events_as_sse() {
    let api = start().await;
    let prompt = "Stream me something";
    let reply = api
        .post_json(
            "/v1/converse-stream",
            &json!({"modelId": "haiku", "messages": [user_message(prompt)]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let events = reply.sse();
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"messageStart"));
    assert_eq!(names.last(), Some(&"metadata"));
    assert!(names.contains(&"messageStop"));
    let deltas: Vec<_> = events
        .iter()
        .filter(|(e, _)| e == "contentBlockDelta")
        .collect();
    assert!(deltas.len() > 1, "text arrives in several deltas");
    let text: String = deltas
        .iter()
        .map(|(_, data)| {
            serde_json::from_str::<serde_json::Value>(data).unwrap()["delta"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, expected_reply(prompt));
    let metadata: serde_json::Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert!(metadata["usage"]["outputTokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_failure_mid_stream_ends_with_an_error_event() {
    let api = start().await;
    api.sim.set_behavior(
        HAIKU,
        Behavior::script([Outcome::StreamError {
            kind: StreamErrorKind::ModelStreamErrorException,
            after_chunks: Some(2),
        }]),
    );
    let reply = api
        .post_json(
            "/v1/converse-stream",
            &json!({"modelId": "haiku", "messages": [user_message("hi")]}),
        )
        .await;
    assert_eq!(reply.status, 200, "headers went out before the failure");
    let events = reply.sse();
    let (last_name, last_data) = events.last().unwrap();
    assert_eq!(last_name, "error");
    let error: serde_json::Value = serde_json::from_str(last_data).unwrap();
    assert_eq!(error["error"]["code"], "stream_error");
    assert!(
        events
            .iter()
            .filter(|(e, _)| e == "contentBlockDelta")
            .count()
            >= 1
    );
    assert!(!events.iter().any(|(e, _)| e == "messageStop"));
}

#[tokio::test]
async fn each_bedrock_error_maps_to_one_status_and_code() {
    let cases = [
        (ErrorKind::ThrottlingException, 429, "model_throttled"),
        (ErrorKind::ModelNotReadyException, 503, "model_not_ready"),
        (ErrorKind::ModelTimeoutException, 504, "model_timeout"),
        (ErrorKind::ModelErrorException, 502, "model_error"),
        (
            ErrorKind::ServiceUnavailableException,
            503,
            "model_unavailable",
        ),
        (ErrorKind::InternalServerException, 502, "upstream_error"),
        (
            ErrorKind::AccessDeniedException,
            502,
            "upstream_access_denied",
        ),
        (
            ErrorKind::ResourceNotFoundException,
            502,
            "upstream_not_found",
        ),
        (ErrorKind::ValidationException, 400, "invalid_request"),
    ];
    let api = start().await;
    for (kind, status, code) in cases {
        api.sim.set_behavior(HAIKU, Behavior::always(kind));
        let calls_before = api.sim.calls(HAIKU);
        let reply = api
            .post_json(
                "/v1/converse",
                &json!({"modelId": "haiku", "messages": [user_message("hi")]}),
            )
            .await;
        assert_eq!(reply.status, status, "{kind:?}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["error"]["code"], code, "{kind:?}");
        assert_eq!(
            body["error"]["request_id"],
            reply.header("x-request-id").unwrap()
        );
        if kind == ErrorKind::ThrottlingException {
            assert!(
                reply.header("retry-after").is_some(),
                "429 carries Retry-After"
            );
        }
        if kind == ErrorKind::AccessDeniedException {
            assert!(!reply.text().contains("arn:"), "no internal detail leaks");
        }
        // An error says how many model calls were made, as a served answer does: retryable
        // kinds were retried, the others tried once.
        let calls = api.sim.calls(HAIKU) - calls_before;
        assert!(calls >= 1, "{kind:?}");
        assert_eq!(
            reply.header("x-gateway-attempts"),
            Some(calls.to_string().as_str()),
            "{kind:?}"
        );
    }
}
