//! The controls' DynamoDB adapter against the emulator: keys, reservations and refusals,
//! settlement, the ledger and cached answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gateway::api::converse::ConverseResponse;
use gateway::controls::cache::CachedAnswer;
use gateway::controls::config::CacheConfig;
use gateway::controls::keys::{self, KeyRecord, TenantRecord};
use gateway::controls::ledger::LedgerEntry;
use gateway::controls::money::Nanos;
use gateway::controls::ports::{
    CacheWrite, CounterStore, KeyStore, Reserved, Settlement, UsageStore,
};
use gateway::controls::reservation::{self, BudgetScope, ReservationInput};
use gateway::controls::usage::TokenUsage;
use gateway::service::{LastGood, LastGoodStore};
use gateway_aws::control_store::{DynamoControlStore, TieredLastGood};
use std::time::{SystemTime, UNIX_EPOCH};

async fn store() -> DynamoControlStore {
    let moto = testkit::moto();
    let table = testkit::unique_name("state");
    testkit::resources::create_table(&moto.dynamodb(), &table, true, false).await;
    DynamoControlStore::from_sdk_config(&moto.sdk_config(), table, &CacheConfig::default())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn issued(seed: u8) -> keys::IssuedKey {
    let mut entropy = [seed; keys::ENTROPY_BYTES];
    entropy[0] = seed.wrapping_add(1);
    keys::issue(&entropy)
}

#[tokio::test]
async fn keys_are_stored_by_hash_and_id_and_listed() {
    let store = store().await;
    let key = issued(1);
    let mut record = KeyRecord::new(&key, "acme", 1);
    store.create_key(&record).await.unwrap();
    assert!(store.create_key(&record).await.is_err(), "ids are unique");
    assert_eq!(
        store.key_by_hash(&key.secret_hash).await.unwrap().unwrap(),
        record
    );
    record.disabled = true;
    record.budget.daily_usd = Some(2.5);
    store.save_key(&record).await.unwrap();
    assert_eq!(store.key_by_id(&key.key_id).await.unwrap().unwrap(), record);
    assert!(
        store
            .key_by_hash(&key.secret_hash)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    store
        .create_key(&KeyRecord::new(&issued(2), "other", 2))
        .await
        .unwrap();
    assert_eq!(store.list_keys(Some("acme")).await.unwrap(), vec![record]);
    assert_eq!(store.list_keys(None).await.unwrap().len(), 2);
    store
        .save_tenant(&TenantRecord {
            tenant: "acme".into(),
            ..TenantRecord::default()
        })
        .await
        .unwrap();
    assert!(store.tenant("acme").await.unwrap().is_some());
    assert!(store.tenant("nobody").await.unwrap().is_none());
}

fn input(cost: u64, now: u64) -> ReservationInput<'static> {
    ReservationInput {
        principal: "GWKTEST",
        model: "m",
        requests_per_minute: Some(2),
        tokens_per_minute: Some(1_000),
        concurrency: Some(5),
        concurrency_bucket_secs: 300,
        budgets: vec![(BudgetScope::Tenant("acme".into()), Some(Nanos(1_000)), None)],
        tokens: 100,
        cost: Nanos(cost),
        now_secs: now,
        mark: format!("m{cost}"),
    }
}

#[tokio::test]
async fn reservations_are_all_or_nothing_and_refusals_say_which() {
    let store = store().await;
    let now = now_secs();
    let first = reservation::reserve(&input(600, now)).unwrap();
    assert_eq!(
        store.reserve(&first.counters).await.unwrap(),
        Reserved::Admitted
    );
    // The budget cannot take another 600: the budget item (index 2) refuses, nothing counts.
    let second = reservation::reserve(&input(600, now)).unwrap();
    let Reserved::Refused { index, observed } = store.reserve(&second.counters).await.unwrap()
    else {
        panic!("expected a refusal");
    };
    assert_eq!(index, 2);
    assert_eq!(observed.unwrap()["committed"], 600);
    let peek = store.peek(Some(&first.counters[0].pk), None).await.unwrap();
    assert_eq!(
        peek.rate.as_ref().unwrap()["requests"],
        1,
        "the refused request was not counted"
    );
    assert_eq!(peek.rate_mark.as_deref(), Some("m600"));
    // A cheap one fits; then the request limit (2 per minute) refuses with the counts.
    let third = reservation::reserve(&input(100, now)).unwrap();
    assert_eq!(
        store.reserve(&third.counters).await.unwrap(),
        Reserved::Admitted
    );
    let fourth = reservation::reserve(&input(100, now)).unwrap();
    let Reserved::Refused {
        index: 0,
        observed: Some(seen),
    } = store.reserve(&fourth.counters).await.unwrap()
    else {
        panic!("expected the rate limit to refuse");
    };
    assert_eq!(seen["requests"], 2);
    assert_eq!(seen["tokens"], 200);
}

fn answer(text: &str) -> LastGood {
    LastGood {
        response: ConverseResponse::assistant_text(text),
        model_id: "m".into(),
        region: None,
        stored_at_ms: 1,
    }
}

#[tokio::test]
async fn settlement_moves_counters_writes_the_ledger_and_the_cache() {
    let store = store().await;
    let now = now_secs();
    let reserved = reservation::reserve(&input(600, now)).unwrap();
    store.reserve(&reserved.counters).await.unwrap();
    let day = gateway::controls::calendar::day_string(now);
    let big = "lorem ipsum ".repeat(2_000);
    for (cost, text) in [(250, "small"), (50, big.as_str())] {
        store
            .settle(&Settlement {
                adjustments: reservation::settle(&reserved, 40, Nanos(cost)),
                ledger: Some(LedgerEntry {
                    tenant: "acme".into(),
                    day: day.clone(),
                    principal: "GWKTEST".into(),
                    model: "m".into(),
                    usage: TokenUsage {
                        input: 30,
                        output: 10,
                        ..TokenUsage::default()
                    },
                    cost: Nanos(cost),
                    cache_hit: false,
                    error: false,
                    expires_at_secs: now + 86_400,
                }),
                cache: Some(CacheWrite {
                    key: format!("k-{cost}"),
                    answer: CachedAnswer {
                        answer: answer(text),
                        fresh_until_ms: (now + 60) * 1_000,
                    },
                    expires_at_secs: now + 3_600,
                }),
            })
            .await
            .unwrap();
    }
    let rows = store.usage("acme", &day).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].requests, rows[0].input_tokens, rows[0].cost_nanos),
        (2, 60, 300)
    );
    for (key, text) in [("k-250", "small"), ("k-50", big.as_str())] {
        let cached = store.cached_answer(key).await.unwrap().unwrap();
        assert_eq!(cached.answer.response.text(), text);
    }
    // The fallback tier finds the response cache's answers too.
    let tier = TieredLastGood::new(10, store.clone());
    assert_eq!(
        tier.get("k-250").await.unwrap().unwrap().response.text(),
        "small"
    );
    assert!(tier.get("missing").await.unwrap().is_none());
    // peek reads the rate item and the cached answer in one call.
    let peek = store
        .peek(Some(&reserved.counters[0].pk), Some("k-250"))
        .await
        .unwrap();
    assert!(peek.rate.is_some() && peek.cached.is_some());
}
