//! The DynamoDB breaker and health stores against the moto emulator: conditional writes on
//! version, TTL checked in code, and two instances sharing state through one table.

// Helpers outside `#[test]` functions fail the test by panicking, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gateway::ports::Target;
use gateway::resilience::{
    BreakerAdmission, BreakerConfig, BreakerRecord, BreakerState, BreakerStore, HealthConfig,
    HealthDelta, HealthStore, SharedBreaker, SharedHealth, Transition,
};
use gateway_aws::resilience_store::DynamoStateStore;
use std::sync::Arc;
use std::time::Duration;
use testkit::moto;

async fn store() -> DynamoStateStore {
    let client = moto().dynamodb();
    let table = testkit::unique_name("state");
    testkit::resources::create_table(&client, &table, true, false).await;
    DynamoStateStore::new(client, table, Some("us-east-1".into()))
}

fn record(state: BreakerState, version: u64) -> BreakerRecord {
    BreakerRecord {
        state,
        opened_at_ms: Some(1_000),
        version,
        ..BreakerRecord::default()
    }
}

#[tokio::test]
async fn breaker_saves_are_conditional_on_the_version() {
    let store = store().await;
    let key = Target::in_region("anthropic.claude", "us-west-2");
    assert_eq!(store.load(&key).await.unwrap(), None);

    let v1 = record(BreakerState::Open, 1);
    assert!(store.save_if_version(&key, &v1, None).await.unwrap());
    assert!(
        !store.save_if_version(&key, &v1, None).await.unwrap(),
        "a second first write loses"
    );
    assert_eq!(store.load(&key).await.unwrap(), Some(v1));

    let v2 = record(BreakerState::HalfOpen, 2);
    assert!(
        !store.save_if_version(&key, &v2, Some(7)).await.unwrap(),
        "stale version"
    );
    assert!(store.save_if_version(&key, &v2, Some(1)).await.unwrap());
    assert_eq!(store.load(&key).await.unwrap(), Some(v2));
}

#[tokio::test]
async fn the_home_region_and_no_region_are_one_breaker() {
    let store = store().await;
    let v1 = record(BreakerState::Open, 1);
    assert!(
        store
            .save_if_version(&Target::new("m"), &v1, None)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .load(&Target::in_region("m", "us-east-1"))
            .await
            .unwrap(),
        Some(v1)
    );
    assert_eq!(
        store
            .load(&Target::in_region("m", "eu-west-1"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn an_expired_item_reads_as_absent_and_may_be_replaced() {
    // The emulator never deletes expired items (nor, promptly, does DynamoDB): code checks.
    let store = store().await.with_ttl(Duration::ZERO);
    let key = Target::new("m");
    assert!(
        store
            .save_if_version(&key, &record(BreakerState::Open, 1), None)
            .await
            .unwrap()
    );
    assert_eq!(store.load(&key).await.unwrap(), None);
    assert!(
        store
            .save_if_version(&key, &record(BreakerState::Closed, 1), None)
            .await
            .unwrap(),
        "an expired record does not block a first write"
    );
}

#[tokio::test]
async fn two_instances_share_one_breaker_through_the_table() {
    let store = store().await;
    let config = BreakerConfig {
        min_requests: 3,
        open_ms: 300,
        cache_ttl_ms: 50,
        ..BreakerConfig::default()
    };
    let a = SharedBreaker::new(store.clone(), config.clone());
    let b = SharedBreaker::new(store.clone(), config);
    let key = Target::new("anthropic.claude");
    let t = 10_000_000;
    assert_eq!(b.admit(&key, t).await, BreakerAdmission::Allowed);
    let mut last = Transition::None;
    for _ in 0..3 {
        assert!(a.admit(&key, t).await.is_allowed());
        last = a.record(&key, t, false).await;
    }
    assert_eq!(last, Transition::Opened);
    assert_eq!(
        store.load(&key).await.unwrap().unwrap().state,
        BreakerState::Open
    );
    // B's cache expires after 50 ms; then it reads the open breaker from the table.
    assert!(matches!(
        b.admit(&key, t + 60).await,
        BreakerAdmission::Rejected { .. }
    ));
    // After the cool-down one instance gets the probe; the other is held back.
    assert_eq!(b.admit(&key, t + 300).await, BreakerAdmission::Probe);
    assert!(!a.admit(&key, t + 301).await.is_allowed());
    assert_eq!(b.record(&key, t + 320, true).await, Transition::Closed);
    assert_eq!(a.admit(&key, t + 400).await, BreakerAdmission::Allowed);
}

#[tokio::test]
async fn health_merges_add_up_across_concurrent_instances() {
    let store = Arc::new(store().await);
    let mut delta = HealthDelta::default();
    for i in 0..4 {
        delta.add(1_000 + i, 200.0, true);
    }
    let merges = (0..6).map(|_| {
        let store = Arc::clone(&store);
        let delta = delta.clone();
        tokio::spawn(async move { store.merge("haiku", &delta, 0.2).await })
    });
    for merge in merges {
        merge.await.unwrap().unwrap();
    }
    let keys = vec!["haiku".to_owned(), "never-seen".to_owned()];
    let loaded = store.load_many(&keys).await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded["haiku"].samples, 24, "every merge counted once");
    assert!((loaded["haiku"].ewma_latency_ms - 200.0).abs() < 1e-9);
}

#[tokio::test]
async fn a_slow_model_seen_by_one_instance_is_seen_by_another() {
    let store = store().await;
    let config = HealthConfig {
        flush_interval_ms: 10,
        cache_ttl_ms: 10,
        ..HealthConfig::default()
    };
    let a = SharedHealth::new(store.clone(), config.clone());
    let b = SharedHealth::new(store.clone(), config);
    for i in 0..5 {
        a.observe("slow", 1_000 + i, 2_500.0, true);
    }
    a.flush_if_due(2_000).await;
    let seen = b.snapshot(&["slow".to_owned()], 2_001).await;
    assert_eq!(seen["slow"].ewma_latency_ms, 2_500.0);
    assert_eq!(seen["slow"].samples, 5);
}
