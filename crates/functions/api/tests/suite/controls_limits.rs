//! Done when: requests beyond the per-minute limit get 429 with Retry-After; token limits are
//! enforced. With OpenAI's `x-ratelimit-*` headers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::controls_support::*;
use gateway::controls::keys::{KeyLimits, RateLimits};
use serde_json::json;
use std::collections::BTreeMap;

fn limits(rpm: Option<u64>, tpm: Option<u64>) -> KeyLimits {
    KeyLimits {
        default: RateLimits {
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            concurrency: None,
        },
        models: BTreeMap::new(),
    }
}

#[tokio::test]
async fn requests_beyond_the_per_minute_limit_get_429_with_retry_after() {
    let stack = start(json!({})).await;
    let key = stack
        .key("acme", |k| k.limits = limits(Some(3), None))
        .await;
    let body = ask("hello", 20, 0.5);
    for remaining in ["2", "1", "0"] {
        let ok = stack.post("/v1/converse", &key.api_key, &body).await;
        assert_eq!(ok.status, 200, "{}", ok.text());
        assert_eq!(ok.header("x-ratelimit-limit-requests"), Some("3"));
        assert_eq!(ok.header("x-ratelimit-remaining-requests"), Some(remaining));
        assert!(
            ok.header("x-ratelimit-reset-requests")
                .unwrap()
                .ends_with('s')
        );
    }
    let refused = stack.post("/v1/converse", &key.api_key, &body).await;
    assert_eq!(refused.status, 429);
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.header("x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(refused.json()["error"]["code"], "rate_limited");
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("3 requests per minute")
    );
    assert_eq!(
        stack.sim.calls(HAIKU),
        3,
        "the refused request never reached the model"
    );

    // OpenAI clients see the same, in their dialect.
    let chat = json!({"model": "haiku", "messages": [{"role": "user", "content": "hi"}]});
    let refused = stack
        .post("/v1/chat/completions", &key.api_key, &chat)
        .await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["error"]["type"], "rate_limit_error");
    assert!(refused.header("retry-after").is_some());

    // The limit is per key × model: another model has its own window, another key too.
    let sonnet =
        json!({"modelId": "sonnet", "messages": [{"role": "user", "content": [{"text": "x"}]}]});
    assert_eq!(
        stack
            .post("/v1/converse", &key.api_key, &sonnet)
            .await
            .status,
        200
    );
    let other = stack
        .key("acme", |k| k.limits = limits(Some(3), None))
        .await;
    assert_eq!(
        stack
            .post("/v1/converse", &other.api_key, &body)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn token_limits_are_enforced_with_reserve_then_settle() {
    // Estimates as the simulator counts (4 characters a token), so reservations are exact.
    let stack = start(json!({"estimate": {"bytes_per_token": 4.0, "overhead_tokens": 0}})).await;
    // 40 characters = 10 input tokens, plus up to 10 output: 20 tokens reserved per call.
    let text = "reply with: one two three four five six";
    let body = ask(&format!("{text}."), 10, 0.5);
    let key = stack
        .key("acme", |k| k.limits = limits(None, Some(60)))
        .await;

    let first = stack.post("/v1/converse", &key.api_key, &body).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-ratelimit-limit-tokens"), Some("60"));
    let usage = &first.json()["usage"];
    let used = usage["totalTokens"].as_u64().unwrap();
    assert_eq!(
        used,
        10 + 6,
        "six words answered, settled to the actual count"
    );
    assert_eq!(
        first.header("x-ratelimit-remaining-tokens"),
        Some("40"),
        "remaining counts the reservation (20) until the call settles"
    );
    // Settled at 16: a call is admitted while at most 60 - 20 are used: 16 → 32 → 48 (refused).
    assert_eq!(
        stack.post("/v1/converse", &key.api_key, &body).await.status,
        200
    );
    let third = stack.post("/v1/converse", &key.api_key, &body).await;
    assert_eq!(third.status, 200, "{}", third.text());
    let refused = stack.post("/v1/converse", &key.api_key, &body).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tokens per minute")
    );
    assert!(refused.header("retry-after").is_some());

    // A request that could never fit is refused outright, before any call.
    let huge = ask("hi", 1_000, 0.5);
    let refused = stack.post("/v1/converse", &key.api_key, &huge).await;
    assert_eq!(refused.status, 429);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lower the output-token limit")
    );
}

#[tokio::test]
async fn concurrency_caps_calls_in_flight() {
    let stack = start(json!({})).await;
    let key = stack
        .key("acme", |k| {
            k.limits = KeyLimits {
                default: RateLimits {
                    concurrency: Some(2),
                    ..RateLimits::default()
                },
                models: BTreeMap::new(),
            }
        })
        .await;
    stack.sim.set_behavior(
        HAIKU,
        bedrock_sim::Behavior {
            first_token_ms: 400,
            ..bedrock_sim::Behavior::default()
        },
    );
    let body = ask("slow", 10, 0.5);
    let calls = (0..5).map(|_| stack.post("/v1/converse", &key.api_key, &body));
    let replies = futures_util::future::join_all(calls).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let limited = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!((ok, limited), (2, 3));
    // Slots are released when calls settle.
    assert_eq!(
        stack.post("/v1/converse", &key.api_key, &body).await.status,
        200
    );
}
