//! `/v1/messages` and `/v1/messages/count_tokens` under the controls: the attacks every new
//! intake gets (a key without the model, a spent budget, oversized and absurd input, no key),
//! Anthropic's error shape, the SSE event sequence with the stream settled into the ledger,
//! and 1-hour cache writes priced apart on the Converse route too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::NOVA_LITE;
use crate::controls_support::*;
use axum::body::Body;
use gateway::controls::keys::Budget;
use http::Request;
use serde_json::{Value, json};

fn message(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": text}]})
}

async fn post_messages(stack: &Stack, path: &str, key: &str, body: &Value) -> Reply {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(&stack.router, request).await
}

fn anthropic_error(reply: &Reply) -> (String, String) {
    let body = reply.json();
    assert_eq!(body["type"], "error", "{body}");
    (
        body["error"]["type"].as_str().unwrap().to_owned(),
        body["error"]["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_key_without_the_model_is_refused_on_messages_and_count_tokens() {
    let stack = start(json!({})).await;
    let key = stack
        .key("acme", |k| k.allowed_models = vec!["nova-lite".into()])
        .await;
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let reply = post_messages(&stack, path, &key.api_key, &message("haiku", "hi")).await;
        assert_eq!(reply.status, 403, "{path}: {}", reply.text());
        assert_eq!(anthropic_error(&reply).0, "permission_error");
    }
    // Anthropic's name for the same model is the same model.
    let name = HAIKU
        .trim_start_matches("anthropic.")
        .rsplit_once("-v")
        .unwrap()
        .0;
    let reply = post_messages(&stack, "/v1/messages", &key.api_key, &message(name, "hi")).await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(stack.sim.calls(HAIKU), 0, "no model call for a refused key");
    // No key, a wrong key: Anthropic's authentication error.
    let reply = post_messages(&stack, "/v1/messages", "gwk_nope", &message("haiku", "hi")).await;
    assert_eq!(reply.status, 401);
    assert_eq!(anthropic_error(&reply).0, "authentication_error");
}

#[tokio::test]
async fn a_spent_budget_refuses_messages() {
    let stack = start(json!({})).await;
    let key = stack
        .key("acme", |k| {
            k.budget = Budget {
                daily_usd: Some(0.000_000_001),
                monthly_usd: None,
            }
        })
        .await;
    let reply = post_messages(
        &stack,
        "/v1/messages",
        &key.api_key,
        &message("haiku", "hi"),
    )
    .await;
    assert_eq!(reply.status, 402, "{}", reply.text());
    let (kind, text) = anthropic_error(&reply);
    assert_eq!(kind, "billing_error");
    assert!(text.contains("budget"), "{text}");
    let mut streamed = message("haiku", "hi");
    streamed["stream"] = json!(true);
    let reply = post_messages(&stack, "/v1/messages", &key.api_key, &streamed).await;
    assert_eq!(reply.status, 402, "a stream is refused before it starts");
    assert_eq!(stack.sim.calls(HAIKU), 0);
}

#[tokio::test]
async fn oversized_and_absurd_input_is_refused_naming_the_field() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let cases = [
        (
            json!({"model": "haiku", "max_tokens": 1_000_000_000u64, "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens",
        ),
        (
            json!({"model": "haiku", "max_tokens": -5, "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens",
        ),
        (
            json!({"model": "haiku", "max_tokens": 5, "messages": "all of them"}),
            "messages",
        ),
        (
            json!({"model": "haiku", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}),
            "messages.0.role",
        ),
        (
            json!({"model": "haiku", "max_tokens": 5, "thinking": {"type": "enabled", "budget_tokens": 1e15}, "messages": [{"role": "user", "content": "x"}]}),
            "thinking.budget_tokens",
        ),
        (
            json!({"model": "m".repeat(10_000), "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (
            json!({"model": NOVA_LITE, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (
            json!({"model": "haiku", "max_tokens": 5, "mcp_servers": [], "messages": [{"role": "user", "content": "x"}]}),
            "mcp_servers",
        ),
    ];
    for (body, field) in cases {
        let reply = post_messages(&stack, "/v1/messages", &key.api_key, &body).await;
        assert_eq!(reply.status, 400, "{field}: {}", reply.text());
        let (kind, text) = anthropic_error(&reply);
        assert_eq!(kind, "invalid_request_error");
        assert!(text.starts_with(field), "{field}: {text}");
    }
    // Over the body limit: 413, Anthropic's `request_too_large`.
    let limit = stack.config.limits.max_body_bytes;
    let huge = message("haiku", &"x".repeat(limit + 1));
    let reply = post_messages(&stack, "/v1/messages", &key.api_key, &huge).await;
    assert_eq!(reply.status, 413);
    assert_eq!(anthropic_error(&reply).0, "request_too_large");
    let reply = send(
        &stack.router,
        Request::post("/v1/messages")
            .header("x-api-key", &key.api_key)
            .body(Body::from("{not json"))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(stack.sim.calls(HAIKU), 0, "nothing reached the model");
}

/// The raw event sequence, `?beta=true` as Claude Code sends it, and the stream's usage in
/// the ledger once it ended: cache writes included.
#[tokio::test]
async fn a_stream_has_anthropics_event_sequence_and_is_settled() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let body = json!({
        "model": "haiku", "max_tokens": 50, "stream": true,
        "system": [{"type": "text", "text": format!("{} rules", uuid::Uuid::new_v4()), "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Say hello"}],
    });
    let reply = send(
        &stack.router,
        Request::post("/v1/messages?beta=true")
            .header("content-type", "application/json")
            .header("x-api-key", &key.api_key)
            .header("anthropic-beta", "claude-code-20250219,oauth-2025-04-20")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let text = reply.text();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names[..2], ["message_start", "ping"], "{text}");
    assert_eq!(names.last(), Some(&"message_stop"), "{text}");
    for name in [
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
    ] {
        assert!(names.contains(&name), "{name}: {text}");
    }
    assert!(!text.contains("amazon-bedrock-invocationMetrics"), "{text}");
    let start: Value = serde_json::from_str(
        text.lines()
            .find_map(|l| {
                l.strip_prefix("data: ")
                    .filter(|d| d.contains("message_start"))
            })
            .unwrap(),
    )
    .unwrap();
    let written = start["message"]["usage"]["cache_creation_input_tokens"]
        .as_u64()
        .unwrap();
    assert!(written > 0, "{start}");
    // Settled when the stream ended (the body was read whole above).
    let usage = stack.get("/v1/usage", &key.api_key).await;
    let totals = &usage.json()["totals"];
    assert_eq!(totals["requests"], 1, "{totals}");
    assert_eq!(totals["cache_write_tokens"], written, "{totals}");
    assert!(nanos(totals["cost_usd"].as_str().unwrap()) > 0, "{totals}");
}

/// Converse's `cachePoint` with `ttl: 1h`: Bedrock's `cacheDetails` split reaches the price.
#[tokio::test]
async fn converse_one_hour_cache_writes_are_priced_as_such() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let system = format!("{} {}", uuid::Uuid::new_v4(), "policy ".repeat(200));
    let body = json!({
        "modelId": "haiku",
        "system": [{"text": system}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 10},
    });
    let reply = stack.post("/v1/converse", &key.api_key, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let usage = &reply.json()["usage"];
    let written = usage["cacheWriteInputTokens"].as_u64().unwrap();
    assert!(written > 0, "{usage}");
    let price = gateway::controls::pricing::PriceTable::builtin(&[])
        .unwrap()
        .lookup(HAIKU, Some("us-east-1"))
        .unwrap();
    let expected = price.cost(&gateway::controls::usage::TokenUsage {
        input: usage["inputTokens"].as_u64().unwrap(),
        output: usage["outputTokens"].as_u64().unwrap(),
        cache_read: 0,
        cache_write: written,
        cache_write_1h: written,
    });
    assert!(price.cache_write_1h > price.cache_write);
    assert_eq!(nanos(reply.header("x-gateway-cost").unwrap()), expected.0);
}
