//! `/v1/chat/completions` and `/v1/models` in process against the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use bedrock_sim::expected_reply;
use serde_json::json;

#[tokio::test]
async fn chat_completion_has_openais_shape() {
    let api = start().await;
    let reply = api
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "haiku", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "What is Rust?"}
            ]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], HAIKU);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        expected_reply("What is Rust?")
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let usage = &body["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn chat_stream_sends_chunks_usage_and_done() {
    let api = start().await;
    let reply = api
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "haiku", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "stream please"}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let events = reply.sse();
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<serde_json::Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| {
            c["choices"]
                .get(0)
                .and_then(|ch| ch["delta"]["content"].as_str())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, expected_reply("stream please"));
    assert!(chunks.iter().any(|c| {
        c["choices"]
            .get(0)
            .is_some_and(|ch| ch["finish_reason"] == "stop")
    }));
    let last = chunks.last().unwrap();
    assert_eq!(
        last["choices"].as_array().unwrap().len(),
        0,
        "the usage chunk has no choices"
    );
    assert!(last["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn chat_tool_call_and_tool_result() {
    let api = start().await;
    let tools = json!([{"type": "function", "function": {"name": "lookup_order", "parameters":
        {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]);
    let reply = api
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "haiku", "tools": tools, "tool_choice": "required",
            "messages": [{"role": "user", "content": "where is my order?"}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = body["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "lookup_order");
    let arguments: serde_json::Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["order_id"].is_string());

    let reply = api
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "haiku", "tools": tools, "messages": [
                {"role": "user", "content": "where is my order?"},
                {"role": "assistant", "content": null, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": "shipped"}
            ]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn chat_errors_use_openais_error_shape() {
    let api = start().await;
    let reply = api
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "gpt-17", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(reply.status, 400);
    let error = &reply.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "unknown_model");
    assert!(error["message"].as_str().unwrap().contains("haiku"));

    let reply = api
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "haiku", "n": 2, "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["param"], "n");
}

#[tokio::test]
async fn models_lists_ids_and_aliases() {
    let api = start().await;
    let reply = api.get("/v1/models").await;
    assert_eq!(reply.status, 200);
    let ids: Vec<String> = reply.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.contains(&HAIKU.to_owned()) && ids.contains(&"haiku".to_owned()),
        "{ids:?}"
    );
}

#[tokio::test]
async fn health_is_ok() {
    let api = start().await;
    let reply = api.get("/health").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["status"], "ok");
}
