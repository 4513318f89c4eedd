//! Done when: an identical deterministic request twice → the second comes from the cache with
//! zero model calls (simulator counter) and zero cost; `no-store` is respected. And a cached
//! answer replays as a stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::controls_support::*;
use serde_json::json;

#[tokio::test]
async fn an_identical_deterministic_request_is_answered_from_the_cache() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let body = ask("what is the capital of France?", 50, 0.0);

    let first = stack.post("/v1/converse", &key.api_key, &body).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-gateway-cache"), Some("miss"));
    assert!(nanos(first.header("x-gateway-cost").unwrap()) > 0);
    assert_eq!(stack.sim.calls(HAIKU), 1);

    let second = stack.post("/v1/converse", &key.api_key, &body).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.header("x-gateway-cache"), Some("hit"));
    assert_eq!(second.header("x-gateway-cost"), Some("0"));
    assert_eq!(
        stack.sim.calls(HAIKU),
        1,
        "no model call for the cached answer"
    );
    assert_eq!(second.json()["output"], first.json()["output"]);

    // The same request by another key of the same tenant is answered too: the cache is
    // partitioned by tenant, not by key (another tenant misses: attack_governance).
    let other = stack.key("acme", |_| {}).await;
    let third = stack.post("/v1/converse", &other.api_key, &body).await;
    assert_eq!(third.header("x-gateway-cache"), Some("hit"));

    // no-store: neither read nor written.
    let no_store = stack
        .post_with(
            &stack.router,
            "/v1/converse",
            &key.api_key,
            &body,
            &[("cache-control", "no-store")],
        )
        .await;
    assert_eq!(no_store.status, 200);
    assert_eq!(no_store.header("x-gateway-cache"), None);
    assert!(nanos(no_store.header("x-gateway-cost").unwrap()) > 0);
    assert_eq!(stack.sim.calls(HAIKU), 2);
    let fresh = ask("never cached", 50, 0.0);
    for _ in 0..2 {
        let reply = stack
            .post_with(
                &stack.router,
                "/v1/converse",
                &key.api_key,
                &fresh,
                &[("cache-control", "no-store")],
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(stack.sim.calls(HAIKU), 4, "no-store answers are not kept");

    // Non-deterministic requests are not cached unless they ask (max-age).
    let warm = ask("tell me a story", 50, 0.9);
    stack.post("/v1/converse", &key.api_key, &warm).await;
    stack.post("/v1/converse", &key.api_key, &warm).await;
    assert_eq!(stack.sim.calls(HAIKU), 6);
    let opt_in = [("cache-control", "max-age=600")];
    stack
        .post_with(&stack.router, "/v1/converse", &key.api_key, &warm, &opt_in)
        .await;
    let hit = stack
        .post_with(&stack.router, "/v1/converse", &key.api_key, &warm, &opt_in)
        .await;
    assert_eq!(hit.header("x-gateway-cache"), Some("hit"));
    assert_eq!(stack.sim.calls(HAIKU), 7);

    // The ledger counts hits, at no cost.
    let usage = stack.get("/v1/usage", &key.api_key).await.json();
    let rows = usage["rows"].as_array().unwrap();
    let hits: u64 = rows.iter().map(|r| r["cache_hits"].as_u64().unwrap()).sum();
    assert_eq!(hits, 2);
}

#[tokio::test]
async fn a_cached_answer_replays_as_a_stream() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let body = ask("stream me once", 50, 0.0);
    // The first streamed answer is kept when its stream ends.
    let first = stack.post("/v1/converse-stream", &key.api_key, &body).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-gateway-cache"), Some("miss"));
    let second = stack.post("/v1/converse-stream", &key.api_key, &body).await;
    assert_eq!(second.header("x-gateway-cache"), Some("hit"));
    assert_eq!(second.header("x-gateway-cost"), Some("0"));
    assert_eq!(stack.sim.calls(HAIKU), 1);
    let text = |reply: &Reply| -> String {
        reply
            .text()
            .split("\n\n")
            .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter_map(|data| serde_json::from_str::<serde_json::Value>(data).ok())
            .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(text(&second), text(&first));
    assert_eq!(text(&first), bedrock_sim::expected_reply("stream me once"));
    // And the non-streaming route answers from the same entry.
    let plain = stack.post("/v1/converse", &key.api_key, &body).await;
    assert_eq!(plain.header("x-gateway-cache"), Some("hit"));
    // OpenAI streaming too.
    let chat = json!({"model": "haiku", "stream": true, "temperature": 0, "max_tokens": 50,
        "messages": [{"role": "user", "content": "stream me once"}]});
    let replayed = stack
        .post("/v1/chat/completions", &key.api_key, &chat)
        .await;
    assert_eq!(replayed.header("x-gateway-cache"), Some("hit"));
    assert!(replayed.text().contains("[DONE]"));
    assert_eq!(stack.sim.calls(HAIKU), 1);
}
