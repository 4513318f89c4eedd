//! Fallback chains, retries and deadlines through the router, against bedrock-sim faults:
//! a throttled primary, every model down (cache tier, then 503), streams failing before and
//! after their first byte, a hanging model and a bad request, and a failing region.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use bedrock_sim::{Behavior, ErrorKind, Outcome, StreamErrorKind, expected_reply};
use gateway_aws::bedrock::BedrockModelClient;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Sonnet falls back to Haiku; quick retries and a generous budget so counts are exact.
const CHAIN: &str = r#"{
    "models": [
        {"id": "{SONNET}", "aliases": ["sonnet", "large"], "fallbacks": ["haiku"]},
        {"id": "{NOVA_LITE}", "aliases": ["nova-lite", "medium"]},
        {"id": "{HAIKU}", "aliases": ["haiku", "small"]}
    ],
    "resilience": {
        "retry": {"max_attempts": 3, "base_delay_ms": 10, "max_delay_ms": 50, "min_attempt_ms": 100},
        "retry_budget": {"min_retries_per_sec": 100, "max_balance": 100}
    }
}"#;

#[tokio::test]
async fn a_throttle_storm_on_the_primary_is_answered_by_the_fallback_with_headers() {
    let api = start_resilient(config(CHAIN), None).await;
    api.sim
        .set_behavior(SONNET, Behavior::always(ErrorKind::ThrottlingException));
    let reply = api
        .post_json("/v1/converse", &ask("sonnet", "Hello there"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["output"]["message"]["content"][0]["text"],
        expected_reply("Hello there")
    );
    assert_eq!(reply.header("x-gateway-model"), Some(HAIKU));
    assert_eq!(reply.header("x-gateway-fallback"), Some("true"));
    assert_eq!(reply.header("x-gateway-region"), Some("us-east-1"));
    assert_eq!(reply.header("x-gateway-route"), Some("static"));
    assert_eq!(reply.header("x-gateway-cache"), None);
    assert_eq!((api.sim.calls(SONNET), api.sim.calls(HAIKU)), (3, 1));
    assert_eq!(reply.header("x-gateway-attempts"), Some("4"));

    // The OpenAI route walks the same chain and names the model that answered.
    let reply = api
        .post_json(
            "/v1/chat/completions",
            &serde_json::json!({"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["model"], HAIKU);
    assert_eq!(reply.header("x-gateway-fallback"), Some("true"));
}

#[tokio::test]
async fn every_model_failing_serves_the_last_good_answer_then_a_clear_503() {
    let api = start_resilient(config(CHAIN), None).await;
    let question = ask("sonnet", "What is the capital of France?");
    let fresh = api.post_json("/v1/converse", &question).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text());
    assert_eq!(fresh.header("x-gateway-cache"), None);

    api.sim.set_behavior(
        SONNET,
        Behavior::always(ErrorKind::ServiceUnavailableException),
    );
    api.sim
        .set_behavior(HAIKU, Behavior::always(ErrorKind::InternalServerException));
    // The identical request, by alias: the cached-response tier answers, marked as such.
    let cached = api
        .post_json(
            "/v1/converse",
            &ask(SONNET, "What is the capital of France?"),
        )
        .await;
    assert_eq!(cached.status, 200, "{}", cached.text());
    assert_eq!(cached.header("x-gateway-cache"), Some("fallback"));
    assert_eq!(cached.header("x-gateway-fallback"), Some("true"));
    assert_eq!(cached.header("x-gateway-model"), Some(SONNET));
    assert_eq!(cached.json()["output"], fresh.json()["output"]);
    assert_eq!(cached.header("x-gateway-attempts"), Some("6"));

    let new = api
        .post_json("/v1/converse", &ask("sonnet", "Something never asked"))
        .await;
    assert_eq!(new.status, 503, "{}", new.text());
    let error = &new.json()["error"];
    assert_eq!(error["code"], "all_models_failed");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(SONNET) && message.contains(HAIKU) && message.contains("no cached answer"),
        "{message}"
    );
    assert!(new.header("retry-after").is_some());
}

#[tokio::test]
async fn a_stream_failing_before_its_first_byte_falls_back() {
    let api = start_resilient(config(CHAIN), None).await;
    api.sim.set_behavior(
        SONNET,
        Behavior::script([Outcome::Error(ErrorKind::ServiceUnavailableException); 3]),
    );
    let reply = api
        .post_json("/v1/converse-stream", &ask("sonnet", "Stream to me"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-gateway-model"), Some(HAIKU));
    assert_eq!(reply.header("x-gateway-fallback"), Some("true"));
    let events = reply.sse();
    assert_eq!(events.first().unwrap().0, "messageStart");
    assert!(events.iter().any(|(e, _)| e == "messageStop"));
    assert!(!events.iter().any(|(e, _)| e == "error"));
    assert_eq!((api.sim.calls(SONNET), api.sim.calls(HAIKU)), (3, 1));
}

#[tokio::test]
async fn a_stream_failing_after_its_first_byte_ends_with_a_clean_error_event() {
    let api = start_resilient(config(CHAIN), None).await;
    api.sim.set_behavior(
        SONNET,
        Behavior::script([Outcome::StreamError {
            kind: StreamErrorKind::ModelStreamErrorException,
            after_chunks: Some(2),
        }]),
    );
    let reply = api
        .post_json("/v1/converse-stream", &ask("sonnet", "Stream to me please"))
        .await;
    assert_eq!(reply.status, 200, "headers went out with the first event");
    assert_eq!(reply.header("x-gateway-model"), Some(SONNET));
    assert_eq!(reply.header("x-gateway-fallback"), None);
    let events = reply.sse();
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "error");
    let error: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(error["error"]["code"], "stream_error");
    assert!(events.iter().any(|(e, _)| e == "contentBlockDelta"));
    assert_eq!(api.sim.calls(HAIKU), 0, "no second answer spliced in");
}

#[tokio::test]
async fn retries_and_fallbacks_never_run_past_the_deadline() {
    let mut config = config(CHAIN);
    config.limits.request_timeout_ms = 800;
    let api = start_resilient(config, None).await;
    api.sim.set_behavior(
        SONNET,
        Behavior {
            hang: true,
            ..Behavior::default()
        },
    );
    let started = Instant::now();
    let reply = api
        .post_json("/v1/converse", &ask("sonnet", "Are you there?"))
        .await;
    let took = started.elapsed();
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "model_timeout");
    assert!(
        took >= Duration::from_millis(750) && took < Duration::from_millis(1_300),
        "answered after {took:?}"
    );
    assert_eq!(
        (api.sim.calls(SONNET), api.sim.calls(HAIKU)),
        (1, 0),
        "no retry or fallback started without time to finish"
    );

    // A slow first token is cut the same way, and the stream route keeps the same rule.
    api.sim.set_behavior(
        SONNET,
        Behavior {
            first_token_ms: 5_000,
            ..Behavior::default()
        },
    );
    let started = Instant::now();
    let reply = api
        .post_json("/v1/converse-stream", &ask("sonnet", "Slowly"))
        .await;
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(started.elapsed() < Duration::from_millis(1_300));
}

#[tokio::test]
async fn a_validation_exception_is_never_retried_nor_fallen_over() {
    let api = start_resilient(config(CHAIN), None).await;
    api.sim
        .set_behavior(SONNET, Behavior::always(ErrorKind::ValidationException));
    let reply = api.post_json("/v1/converse", &ask("sonnet", "hi")).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "invalid_request");
    assert_eq!((api.sim.calls(SONNET), api.sim.calls(HAIKU)), (1, 0));
}

#[tokio::test]
async fn a_failing_region_fails_over_to_the_next_and_its_open_breaker_is_skipped() {
    // Two simulators stand for two regions' endpoints.
    let home = testkit::bedrock_sim().await;
    let west = testkit::bedrock_sim().await;
    let config = config(
        r#"{
        "models": [{"id": "{SONNET}", "aliases": ["sonnet", "large", "medium", "small"],
                    "regions": ["us-east-1", "us-west-2"]}],
        "resilience": {
            "retry": {"max_attempts": 2, "base_delay_ms": 10, "max_delay_ms": 50, "min_attempt_ms": 100},
            "retry_budget": {"min_retries_per_sec": 100, "max_balance": 100},
            "breaker": {"min_requests": 3, "failure_rate_threshold": 0.5}
        }
    }"#,
    );
    let models = BedrockModelClient::new(
        testkit::bedrock_client(&home.endpoint_url()),
        HashMap::from([(
            "us-west-2".to_owned(),
            testkit::bedrock_client(&west.endpoint_url()),
        )]),
    );
    let router = resilient_router(models, config, None);
    home.set_behavior(
        SONNET,
        Behavior::always(ErrorKind::ServiceUnavailableException),
    );
    for expected_home_calls in [2, 3, 3] {
        let reply = TestApi::post_json_to(&router, "/v1/converse", &ask("sonnet", "hi")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.header("x-gateway-region"), Some("us-west-2"));
        assert_eq!(reply.header("x-gateway-model"), Some(SONNET));
        assert_eq!(reply.header("x-gateway-fallback"), Some("true"));
        assert_eq!(home.calls(SONNET), expected_home_calls);
    }
    assert_eq!(west.calls(SONNET), 3);
}
