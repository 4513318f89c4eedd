//! Done when: a test counts DynamoDB calls on the hot path: at most 2 before the model call
//! (issued concurrently) and at most 1 after. Every SDK request (DynamoDB and Bedrock) goes
//! through a recording interceptor, so the order and overlap of calls is observed, not assumed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::controls_support::*;
use gateway::controls::keys::{Budget, KeyLimits, RateLimits, TenantRecord};
use serde_json::json;

struct Phases {
    before: Vec<LoggedCall>,
    model: LoggedCall,
    after: Vec<LoggedCall>,
}

fn phases(calls: Vec<LoggedCall>) -> Phases {
    let models: Vec<&LoggedCall> = calls.iter().filter(|c| !c.is_dynamodb()).collect();
    assert_eq!(models.len(), 1, "one model call: {calls:#?}");
    let model = models[0].clone();
    let model_end = model.ended.unwrap();
    let before = calls
        .iter()
        .filter(|c| c.is_dynamodb() && c.started < model.started)
        .cloned()
        .collect();
    let after = calls
        .iter()
        .filter(|c| c.is_dynamodb() && c.started >= model_end)
        .cloned()
        .collect();
    let during = calls
        .iter()
        .filter(|c| c.is_dynamodb() && c.started >= model.started && c.started < model_end)
        .count();
    assert_eq!(during, 0, "no DynamoDB call while the model answers");
    Phases {
        before,
        model,
        after,
    }
}

fn names(calls: &[LoggedCall]) -> Vec<String> {
    calls
        .iter()
        .map(|c| {
            c.operation
                .trim_start_matches("DynamoDB_20120810.")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn at_most_two_concurrent_calls_before_the_model_and_one_after() {
    let stack = start(json!({})).await;
    // Everything a request can be held to: per-key rate and token limits, a concurrency cap,
    // key and tenant budgets by day and month; and a deterministic (cacheable) request.
    let key = stack
        .key("acme", |k| {
            k.limits = KeyLimits {
                default: RateLimits {
                    requests_per_minute: Some(100),
                    tokens_per_minute: Some(100_000),
                    concurrency: Some(10),
                },
                ..KeyLimits::default()
            };
            k.budget = Budget {
                daily_usd: Some(10.0),
                monthly_usd: Some(100.0),
            };
        })
        .await;
    stack
        .store
        .save_tenant(&TenantRecord {
            tenant: "acme".into(),
            budget: Budget {
                daily_usd: Some(50.0),
                monthly_usd: Some(500.0),
            },
            ..TenantRecord::default()
        })
        .await
        .unwrap();

    // Cold instance: the key and tenant are read once, then cached.
    stack.log.clear();
    let cold = stack
        .post("/v1/converse", &key.api_key, &ask("first", 20, 0.0))
        .await;
    assert_eq!(cold.status, 200, "{}", cold.text());
    let cold = phases(stack.log.calls());
    println!(
        "cold instance: before the model {:?}; after {:?}",
        names(&cold.before),
        names(&cold.after)
    );
    assert_eq!(
        names(&cold.before)[..2],
        ["GetItem", "GetItem"],
        "key, then tenant"
    );
    assert_eq!(cold.after.len(), 1);

    for (what, body) in [
        ("cacheable", ask("second", 20, 0.0)),
        ("not cacheable", ask("third", 20, 0.7)),
    ] {
        stack.log.clear();
        let reply = stack.post("/v1/converse", &key.api_key, &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let warm = phases(stack.log.calls());
        println!(
            "warm, {what}: before the model {:?}; after {:?}; model call {:?}",
            names(&warm.before),
            names(&warm.after),
            warm.model.ended.unwrap() - warm.model.started
        );
        assert!(warm.before.len() <= 2, "{what}: {:?}", names(&warm.before));
        assert!(names(&warm.before).contains(&"TransactWriteItems".to_owned()));
        if let [a, b] = warm.before.as_slice() {
            // Concurrent: each started before the other finished.
            assert!(
                b.started < a.ended.unwrap() && a.started < b.ended.unwrap(),
                "{what}: not concurrent"
            );
        }
        assert_eq!(
            names(&warm.after),
            ["TransactWriteItems"],
            "{what}: one settlement"
        );
    }
    // The cacheable request's reservation went out with the cache read (BatchGetItem: rate
    // counter and cached answer in one call); its answer was kept by the settlement.
    stack.log.clear();
    let hit = stack
        .post("/v1/converse", &key.api_key, &ask("second", 20, 0.0))
        .await;
    assert_eq!(hit.header("x-gateway-cache"), Some("hit"));
    let calls = stack.log.calls();
    assert!(
        calls.iter().all(LoggedCall::is_dynamodb),
        "a hit calls no model"
    );
    assert!(
        calls.len() <= 3,
        "a hit: reserve and read, then settle: {:?}",
        names(&calls)
    );
}

#[tokio::test]
async fn an_unlimited_key_costs_one_write_after_and_nothing_before() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    stack
        .post("/v1/converse", &key.api_key, &ask("warm up", 20, 0.7))
        .await;
    stack.log.clear();
    let reply = stack
        .post("/v1/converse", &key.api_key, &ask("go", 20, 0.7))
        .await;
    assert_eq!(reply.status, 200);
    let warm = phases(stack.log.calls());
    assert!(warm.before.is_empty(), "{:?}", names(&warm.before));
    assert_eq!(names(&warm.after), ["UpdateItem"], "only the ledger row");
}
