//! The circuit breaker shared by two router instances (two Lambda instances, each with its own
//! cache) through the state table in the DynamoDB emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use bedrock_sim::{Behavior, ErrorKind};
use gateway::ports::Target;
use gateway::resilience::{BreakerState, BreakerStore};
use gateway_aws::resilience_store::DynamoStateStore;
use std::time::Duration;

/// One attempt per request so counts are exact; a breaker that opens after 3 failures, cools
/// down for 300 ms, and is cached per instance for 50 ms.
const SMALL_BREAKER: &str = r#"{
    "models": [
        {"id": "{HAIKU}", "aliases": ["haiku", "small", "medium", "large"]}
    ],
    "resilience": {
        "retry": {"max_attempts": 1},
        "breaker": {"min_requests": 3, "failure_rate_threshold": 0.5, "open_ms": 300,
                    "cache_ttl_ms": 50, "flush_interval_ms": 60000}
    }
}"#;

async fn stored_state(table: &str) -> Option<BreakerState> {
    let store = DynamoStateStore::from_sdk_config(&testkit::moto().sdk_config(), table);
    store
        .load(&Target::new(HAIKU))
        .await
        .unwrap()
        .map(|r| r.state)
}

#[tokio::test]
async fn the_breaker_opens_is_seen_open_by_another_instance_half_opens_and_closes() {
    let table = state_table().await;
    let a = start_resilient(config(SMALL_BREAKER), Some(&table)).await;
    let b = another_instance(&a, config(SMALL_BREAKER), Some(&table));
    let question = ask("haiku", "hi");

    // Three failures on instance A open the breaker, in the shared table.
    a.sim.set_behavior(
        HAIKU,
        Behavior::always(ErrorKind::ServiceUnavailableException),
    );
    for _ in 0..3 {
        let reply = a.post_json("/v1/converse", &question).await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.json()["error"]["code"], "model_unavailable");
    }
    assert_eq!(a.sim.calls(HAIKU), 3);
    assert_eq!(stored_state(&table).await, Some(BreakerState::Open));

    // A refuses without calling the model...
    let reply = a.post_json("/v1/converse", &question).await;
    assert_eq!(reply.status, 503);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "all_models_failed");
    assert!(
        error["message"].as_str().unwrap().contains("circuit open"),
        "{error}"
    );
    // ...and so does B, which never saw a failure: it read the open breaker from the table.
    let reply = TestApi::post_json_to(&b, "/v1/converse", &question).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["error"]["code"], "all_models_failed");
    assert_eq!(a.sim.calls(HAIKU), 3, "no call while open");

    // After the cool-down one probe goes through; it fails, so the breaker opens again.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let reply = TestApi::post_json_to(&b, "/v1/converse", &question).await;
    assert_eq!(reply.json()["error"]["code"], "model_unavailable");
    assert_eq!(a.sim.calls(HAIKU), 4, "exactly one probe");
    assert_eq!(stored_state(&table).await, Some(BreakerState::Open));
    tokio::time::sleep(Duration::from_millis(60)).await;
    let reply = a.post_json("/v1/converse", &question).await;
    assert_eq!(reply.json()["error"]["code"], "all_models_failed");
    assert_eq!(a.sim.calls(HAIKU), 4);

    // The model recovers; after the next cool-down A's probe succeeds and closes it for all.
    a.sim.remove_behavior(HAIKU);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let reply = a.post_json("/v1/converse", &question).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(stored_state(&table).await, Some(BreakerState::Closed));
    tokio::time::sleep(Duration::from_millis(60)).await;
    let reply = TestApi::post_json_to(&b, "/v1/converse", &question).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(a.sim.calls(HAIKU), 6);
}
