//! Intelligent routing through the router: content-based (`auto` → tier → model) and
//! metric-based (a model group choosing by shared latency), against bedrock-sim.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use bedrock_sim::Behavior;
use gateway::config::GatewayConfig;
use std::time::Duration;

#[tokio::test]
async fn content_routing_sends_a_short_question_small_and_a_long_code_review_large() {
    let api = start_resilient(GatewayConfig::default(), None).await;

    let reply = api
        .post_json(
            "/v1/converse",
            &ask("auto", "What is the capital of France?"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-gateway-model"), Some(HAIKU));
    assert_eq!(
        reply.header("x-gateway-route"),
        Some("simple:short(30 chars)")
    );

    let code = "fn total(items: &[Item]) -> u64 {\n    let mut sum = 0;\n    for item in items { sum += item.price; }\n    return sum;\n}\n".repeat(40);
    let review = format!("Please review this Rust code for bugs and style:\n```rust\n{code}```");
    let reply = api.post_json("/v1/converse", &ask("auto", &review)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-gateway-model"), Some(SONNET));
    let route = reply.header("x-gateway-route").unwrap();
    let chars = review.chars().count();
    assert_eq!(route, format!("complex:code+long({chars} chars)+kw:review"));

    // The OpenAI route takes the same name.
    let reply = api
        .post_json(
            "/v1/chat/completions",
            &serde_json::json!({"model": "auto", "messages": [
                {"role": "user", "content": "Explain photosynthesis in two sentences."}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["model"], NOVA_LITE);
    assert_eq!(reply.header("x-gateway-route"), Some("medium:kw:explain"));

    assert_eq!(
        (
            api.sim.calls(HAIKU),
            api.sim.calls(NOVA_LITE),
            api.sim.calls(SONNET)
        ),
        (1, 1, 1)
    );
    // `auto` is offered in the model list.
    let models = api.get("/v1/models").await.json();
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "auto")
    );
}

/// A group of two equivalent models, chosen by latency; health shared every 20 ms.
const GROUP: &str = r#"{
    "models": [
        {"id": "{HAIKU}", "aliases": ["haiku", "small"]},
        {"id": "{NOVA_LITE}", "aliases": ["nova-lite", "medium"]},
        {"id": "{SONNET}", "aliases": ["sonnet", "large"]}
    ],
    "resilience": {"health": {"flush_interval_ms": 20, "cache_ttl_ms": 20}},
    "routing": {"groups": [{"name": "fast", "models": ["haiku", "nova-lite"], "strategy": "latency"}]}
}"#;

#[tokio::test]
async fn metric_routing_shifts_traffic_away_from_a_slow_model() {
    let table = state_table().await;
    let a = start_resilient(config(GROUP), Some(&table)).await;
    a.sim.set_behavior(
        HAIKU,
        Behavior {
            first_token_ms: 200,
            ..Behavior::default()
        },
    );
    let question = ask("fast", "hi");

    // Until both members were measured, unknown health is optimistic and either may be picked.
    let mut learned = false;
    for _ in 0..30 {
        let reply = a.post_json("/v1/converse", &question).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.header("x-gateway-route"), Some("group:fast:latency"));
        if reply.header("x-gateway-model") == Some(NOVA_LITE) && a.sim.calls(HAIKU) > 0 {
            learned = true;
            break;
        }
    }
    assert!(learned, "both members measured within 30 requests");
    let slow_calls = a.sim.calls(HAIKU);
    for _ in 0..10 {
        let reply = a.post_json("/v1/converse", &question).await;
        assert_eq!(reply.header("x-gateway-model"), Some(NOVA_LITE));
    }
    assert_eq!(
        a.sim.calls(HAIKU),
        slow_calls,
        "the slow model got no more traffic"
    );

    // Another instance learns it from the state table, without measuring anything itself.
    tokio::time::sleep(Duration::from_millis(30)).await;
    a.post_json("/v1/converse", &question).await; // flushes A's due observations
    let b = another_instance(&a, config(GROUP), Some(&table));
    for _ in 0..5 {
        let reply = TestApi::post_json_to(&b, "/v1/converse", &question).await;
        assert_eq!(reply.header("x-gateway-model"), Some(NOVA_LITE));
    }
    assert_eq!(a.sim.calls(HAIKU), slow_calls);
}
