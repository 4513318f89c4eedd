//! Async jobs under the gateway controls: a submit reserves the job's worst case against its
//! key's rate limits and budget (a refusal creates and queues nothing), the worker that
//! finishes the job settles the reservation to the actual cost, and the usage ledger gains
//! the job, as it does a direct call.

use crate::common::*;
use gateway::controls::keys::{Budget, KeyLimits, RateLimits};
use gateway::jobs::FinishClaims;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

fn today() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    gateway::controls::calendar::day_string(now.as_secs())
}

fn budget_pk(key_id: &str) -> String {
    format!("BUDGET#key:{key_id}#d:{}", today())
}

fn daily_budget(usd: f64) -> Budget {
    Budget {
        daily_usd: Some(usd),
        monthly_usd: None,
    }
}

/// Nano-dollars of a `cost_usd` string.
fn nanos(usd: &str) -> i64 {
    let (whole, frac) = usd.split_once('.').unwrap_or((usd, ""));
    let frac = format!("{frac:0<9}");
    whole.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
}

#[tokio::test]
async fn a_job_is_reserved_at_submit_and_settled_by_the_worker() {
    let flow = flow_with_controls(json!({})).await;
    // A concurrency cap of one: queued jobs hold no in-flight slot, so both submits pass.
    let key = flow
        .api_key("acme", |k| {
            k.budget = daily_budget(1.0);
            k.limits = KeyLimits {
                default: RateLimits {
                    requests_per_minute: Some(100),
                    tokens_per_minute: None,
                    concurrency: Some(1),
                },
                models: BTreeMap::new(),
            };
        })
        .await;
    let api_key = Some(key.api_key.as_str());

    let mut ids = Vec::new();
    for prompt in ["summarise the first ticket", "summarise the second ticket"] {
        let (status, body) = flow.submit_as(api_key, &converse_job(prompt), None).await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["job_id"].as_str().unwrap().to_owned());
    }
    let reserved = flow.counter(&budget_pk(&key.key_id)).await;
    assert!(
        reserved["committed"] > 0,
        "the worst case is reserved: {reserved:?}"
    );
    assert_eq!(reserved.get("spent").copied().unwrap_or(0), 0);

    flow.drain().await;
    let mut cost = 0;
    for id in &ids {
        let job = flow.job_as(api_key, id).await;
        assert_eq!(job["status"], "SUCCEEDED", "{job}");
        cost += nanos(job["result"]["cost_usd"].as_str().unwrap());
    }
    assert!(cost > 0);
    let settled = flow.counter(&budget_pk(&key.key_id)).await;
    assert_eq!(
        settled["spent"], cost,
        "the budget is charged what the jobs cost"
    );
    assert_eq!(
        settled["committed"], cost,
        "nothing stays reserved once both jobs are settled"
    );
    assert!(settled["committed"] < reserved["committed"]);

    // The usage ledger has both jobs, at the same cost.
    let day = today();
    let usage = flow
        .get_as(api_key, &format!("/v1/usage?from={day}&to={day}"))
        .await;
    assert_eq!(usage["totals"]["requests"], 2, "{usage}");
    assert_eq!(nanos(usage["totals"]["cost_usd"].as_str().unwrap()), cost);
    assert_eq!(usage["totals"]["errors"], 0, "{usage}");
}

#[tokio::test]
async fn a_submit_over_budget_is_refused_and_queues_nothing() {
    let flow = flow_with_controls(json!({})).await;
    let key = flow
        .api_key("acme", |k| k.budget = daily_budget(0.000_001))
        .await;
    let (status, body) = flow
        .submit_as(Some(&key.api_key), &converse_job("hello"), None)
        .await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["error"]["code"], "budget_exceeded");
    let (event, _) = flow.poll_once().await;
    assert!(event.records.is_empty(), "a refused job is never queued");
    assert_eq!(flow.sim.calls(HAIKU), 0);
}

#[tokio::test]
async fn a_replayed_submit_reserves_once() {
    let flow = flow_with_controls(json!({})).await;
    let key = flow.api_key("acme", |k| k.budget = daily_budget(1.0)).await;
    let api_key = Some(key.api_key.as_str());
    let job = converse_job("one job, submitted twice");
    let (first, _) = flow.submit_as(api_key, &job, Some("order-7")).await;
    assert_eq!(first, 202);
    let once = flow.counter(&budget_pk(&key.key_id)).await["committed"];
    let (again, body) = flow.submit_as(api_key, &job, Some("order-7")).await;
    assert_eq!(again, 200, "{body}");
    assert_eq!(
        flow.counter(&budget_pk(&key.key_id)).await["committed"],
        once,
        "the replay's reservation is given back"
    );
    flow.drain().await;
    assert_eq!(flow.sim.calls(HAIKU), 1);
}

#[tokio::test]
async fn a_failed_job_gives_its_reservation_back() {
    let flow = flow_with_controls(json!({})).await;
    flow.sim.set_behavior(
        HAIKU,
        bedrock_sim::Behavior::always(bedrock_sim::ErrorKind::ValidationException),
    );
    let key = flow.api_key("acme", |k| k.budget = daily_budget(1.0)).await;
    let api_key = Some(key.api_key.as_str());
    let (status, body) = flow.submit_as(api_key, &converse_job("hello"), None).await;
    assert_eq!(status, 202, "{body}");
    flow.drain().await;
    let job = flow.job_as(api_key, body["job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    let budget = flow.counter(&budget_pk(&key.key_id)).await;
    assert_eq!(budget["committed"], 0, "{budget:?}");
    assert_eq!(budget.get("spent").copied().unwrap_or(0), 0);
    let day = today();
    let usage = flow
        .get_as(api_key, &format!("/v1/usage?from={day}&to={day}"))
        .await;
    assert_eq!(usage["totals"]["errors"], 1, "{usage}");
    assert_eq!(usage["totals"]["cost_usd"], "0", "{usage}");
}

#[tokio::test]
async fn a_replay_gets_its_job_back_even_at_the_rate_limit() {
    let flow = flow_with_controls(json!({})).await;
    let key = flow
        .api_key("acme", |k| {
            k.limits = KeyLimits {
                default: RateLimits {
                    requests_per_minute: Some(1),
                    tokens_per_minute: None,
                    concurrency: None,
                },
                models: BTreeMap::new(),
            };
        })
        .await;
    let api_key = Some(key.api_key.as_str());
    let job = converse_job("the one job this minute");
    let (first, body) = flow.submit_as(api_key, &job, Some("order-9")).await;
    assert_eq!(first, 202, "{body}");
    let (again, replay) = flow.submit_as(api_key, &job, Some("order-9")).await;
    assert_eq!(again, 200, "a retry is not a new request: {replay}");
    assert_eq!(replay["job_id"], body["job_id"]);
    let (other, refused) = flow
        .submit_as(api_key, &converse_job("a second job"), None)
        .await;
    assert_eq!(other, 429, "{refused}");
}

#[tokio::test]
async fn a_job_finished_by_a_worker_that_died_is_settled_by_the_next_delivery() {
    use gateway::api::converse::Usage;
    use gateway::controls::pricing::Pricing;
    use gateway::controls::usage::TokenUsage;
    use gateway::jobs::{JobOutcome, JobResult, JobStore};

    let flow = flow_with_controls(json!({})).await;
    let key = flow.api_key("acme", |k| k.budget = daily_budget(1.0)).await;
    let (status, body) = flow
        .submit_as(Some(&key.api_key), &converse_job("hello"), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["job_id"].as_str().unwrap();
    let reserved = flow.counter(&budget_pk(&key.key_id)).await["committed"];

    // Another worker claims and finishes the job without claiming its charge (a worker of the
    // release before the finish took the charge claim with it, during a deploy), then dies.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let store = &flow.worker.store;
    store
        .claim(id, "", "dead", now, now + 60_000)
        .await
        .unwrap();
    let usage = Usage {
        input_tokens: 10,
        output_tokens: 20,
        total_tokens: 30,
        ..Usage::default()
    };
    let outcome = JobOutcome::Succeeded {
        result: JobResult {
            model: HAIKU.to_owned(),
            text: "hi".into(),
            stop_reason: "end_turn".into(),
            cost_usd: None,
            response: json!({}),
        },
        usage,
    };
    store
        .finish(
            id,
            "dead",
            now,
            &outcome,
            FinishClaims {
                notify_lease_until_ms: now,
                charge: false,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        flow.counter(&budget_pk(&key.key_id)).await["committed"],
        reserved
    );

    // Its message comes back: this worker settles the charge from the record, once.
    flow.drain().await;
    let cost = Pricing::new(
        &gateway::config::GatewayConfig::default(),
        Some("us-east-1".into()),
    )
    .unwrap()
    .cost(
        HAIKU,
        None,
        &TokenUsage {
            input: 10,
            output: 20,
            ..TokenUsage::default()
        },
    )
    .unwrap();
    let settled = flow.counter(&budget_pk(&key.key_id)).await;
    assert_eq!(settled["committed"], cost.as_i64(), "{settled:?}");
    assert_eq!(settled["spent"], cost.as_i64());
    assert_eq!(flow.sim.calls(HAIKU), 0, "the job was not run again");
    let message = json!({"job_id": id, "tenant": "acme"}).to_string();
    flow.send_raw(&message).await;
    flow.drain().await;
    assert_eq!(
        flow.counter(&budget_pk(&key.key_id)).await["committed"],
        cost.as_i64(),
        "a duplicate delivery settles nothing twice"
    );
}
