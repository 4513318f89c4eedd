//! Done when: 64 concurrent requests against a budget that covers exactly 10 → at most 10
//! succeed, and the ledger equals the sum of settled costs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::controls_support::*;
use gateway::controls::keys::Budget;
use gateway::controls::usage::TokenUsage;
use serde_json::json;

#[tokio::test]
async fn sixty_four_concurrent_requests_against_a_budget_for_ten() {
    // The estimate counts input as the simulator does (4 characters a token), so each
    // reservation is exactly the call's cost: the budget covers exactly ten calls.
    // Many concurrent writes to one item: the emulator applies each atomically, as DynamoDB
    // does (scripts/moto_server.py).
    let stack = start(json!({"estimate": {"bytes_per_token": 4.0, "overhead_tokens": 0}})).await;
    // "reply with: …" makes the simulator answer those ten words; maxTokens 5 cuts it to 5.
    let body = ask("reply with: a b c d e f g h i j", 5, 0.7);
    let input_tokens = "reply with: a b c d e f g h i j".len().div_ceil(4) as u64;
    let controls = gateway::controls::Controller::new(&stack.config, (), vec![], None).unwrap();
    let one_call = controls
        .price(HAIKU, Some("us-east-1"))
        .unwrap()
        .cost(&TokenUsage {
            input: input_tokens,
            output: 5,
            ..TokenUsage::default()
        });
    let budget = one_call.0 * 10;
    let key = stack
        .key("acme", |k| {
            k.budget = Budget {
                daily_usd: Some(budget as f64 / 1e9),
                monthly_usd: None,
            }
        })
        .await;

    let calls = (0..64).map(|_| stack.post("/v1/converse", &key.api_key, &body));
    let replies = futures_util::future::join_all(calls).await;

    let succeeded: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    let refused: Vec<_> = replies.iter().filter(|r| r.status == 402).collect();
    assert_eq!(
        succeeded.len() + refused.len(),
        64,
        "only successes and budget refusals"
    );
    assert!(succeeded.len() <= 10, "{} calls succeeded", succeeded.len());
    assert_eq!(
        succeeded.len(),
        10,
        "the estimate is exact, so the budget admits exactly ten"
    );
    assert_eq!(refused[0].json()["error"]["code"], "budget_exceeded");
    assert!(
        refused[0].json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("daily budget")
    );
    assert_eq!(
        stack.sim.calls(HAIKU),
        10,
        "refused requests never reached the model"
    );

    let settled: u64 = succeeded
        .iter()
        .map(|r| nanos(r.header("x-gateway-cost").unwrap()))
        .sum();
    assert_eq!(settled, budget, "each call cost exactly its share");
    // The ledger (GET /v1/usage) equals the sum of the settled costs.
    let usage = stack.get("/v1/usage", &key.api_key).await;
    assert_eq!(usage.status, 200, "{}", usage.text());
    let totals = &usage.json()["totals"];
    assert_eq!(nanos(totals["cost_usd"].as_str().unwrap()), settled);
    assert_eq!(totals["requests"], 10);
    assert_eq!(totals["output_tokens"], 50);
    // Nothing stays reserved: committed (spent + in flight) is exactly what was spent.
    let day = gateway::controls::calendar::day_string(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    let item = stack
        .store
        .client()
        .get_item()
        .table_name(&stack.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "BUDGET#key:{}#d:{day}",
                key.key_id
            )),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("BUDGET".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let number = |name: &str| item[name].as_n().unwrap().parse::<u64>().unwrap();
    assert_eq!(number("spent"), settled);
    assert_eq!(number("committed"), settled);
}
