//! Attacks on the webhook intake (issue 14, findings 4, 5 and 11), each written as the attack
//! and asserting that it fails: one signed body replayed under fresh delivery ids, webhook
//! jobs that escape every budget, an oversized job, and a hostile callback URL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use gateway::controls::keys::{self, Budget, KeyRecord};
use gateway::jobs::JobStore;
use serde_json::json;

/// A GitHub-signed `issues` event.
fn github_delivery(body: &str, delivery_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-hub-signature-256", hex_signature(GITHUB_SECRET, body)),
        ("x-github-delivery", delivery_id.to_owned()),
    ]
}

#[tokio::test]
async fn attack_one_signed_github_body_under_four_delivery_ids_is_one_job() {
    let hooks = hooks().await;
    let body = json!({"action": "opened", "issue": {"number": 9, "title": "Refund 5000 USD"},
                      "repository": {"full_name": "o/r"}})
    .to_string();
    // The attacker captured one signed delivery; the delivery id header is not signed.
    let mut job_ids = Vec::new();
    for (i, id) in ["d-1", "d-forged-2", "d-forged-3", "d-forged-4"]
        .into_iter()
        .enumerate()
    {
        let reply = hooks
            .post("github", &github_delivery(&body, id), &body)
            .await;
        let expected = if i == 0 { 202 } else { 200 };
        assert_eq!(reply.status, expected, "{id}: {}", reply.json);
        job_ids.push(reply.json["job_id"].as_str().unwrap().to_owned());
    }
    assert!(job_ids.iter().all(|id| *id == job_ids[0]), "{job_ids:?}");
    assert_eq!(hooks.job_count().await, 1);
    assert_eq!(hooks.queued().await.len(), 1, "one job queued, once");

    // The same for a generic HMAC source whose id header is not signed either.
    let event = json!({"kind": "invoice.paid", "amount": 12}).to_string();
    for id in ["inv-1", "inv-forged"] {
        let headers = vec![
            ("x-signature", hex_signature(GENERIC_SECRET, &event)),
            ("x-delivery-id", id.to_owned()),
        ];
        hooks.post("generic", &headers, &event).await;
    }
    assert_eq!(hooks.job_count().await, 2);
}

#[tokio::test]
async fn a_signed_webhook_id_still_tells_distinct_events_apart() {
    // Standard Webhooks signs `webhook-id`: the same body under two signed ids is two events
    // (only the secret's holder can make the second), the same id twice is one.
    let hooks = hooks().await;
    let body = ticket("T-21", "http://127.0.0.1:9/results");
    for id in ["msg_a", "msg_b", "msg_a"] {
        let headers = standard_headers(TICKETS_SECRET, id, EVENT_TIME, &body);
        assert!(
            hooks
                .post("tickets", &headers, &body)
                .await
                .status
                .is_success()
        );
    }
    assert_eq!(hooks.job_count().await, 2);
}

/// A `tickets` source charged to `principal`, and a fresh key of tenant `support`.
async fn charged_hooks(budget: Budget, models: &[&str]) -> (Hooks, KeyRecord) {
    let mut entropy = [0u8; keys::ENTROPY_BYTES];
    entropy.iter_mut().for_each(|b| *b = fastrand::u8(..));
    let issued = keys::issue(&entropy);
    let mut record = KeyRecord::new(&issued, "support", 0);
    record.budget = budget;
    record.allowed_models = models.iter().map(|m| (*m).to_owned()).collect();
    let config = json!({"sources": {"tickets": {
        "signature": {"scheme": "standard", "secrets": ["env:TICKETS_SECRET"]},
        "model": "haiku",
        "prompt": "Ticket {{/ticket/id}}: {{/ticket/title}}",
        "principal": {"tenant": "support", "key_id": issued.key_id},
    }}})
    .to_string();
    let hooks = hooks_with(&config).await;
    control_store(&hooks.state_table)
        .create_key(&record)
        .await
        .unwrap();
    (hooks, record)
}

#[tokio::test]
async fn attack_webhook_jobs_cannot_escape_the_source_principals_budget() {
    // A budget of a millionth of a dollar: not even one reservation fits.
    let (hooks, _) = charged_hooks(
        Budget {
            daily_usd: Some(0.000_001),
            monthly_usd: None,
        },
        &[],
    )
    .await;
    let body = ticket("T-30", "");
    let headers = standard_headers(TICKETS_SECRET, "msg_budget", EVENT_TIME, &body);
    let reply = hooks.post("tickets", &headers, &body).await;
    assert_eq!(reply.status, 429, "{}", reply.json);
    assert_eq!(reply.json["error"]["code"], "budget_exceeded");
    assert_eq!(hooks.job_count().await, 0, "nothing created");
    assert!(hooks.queued().await.is_empty(), "nothing queued");
}

#[tokio::test]
async fn webhook_jobs_are_charged_to_the_source_principal() {
    let (hooks, key) = charged_hooks(
        Budget {
            daily_usd: Some(5.0),
            monthly_usd: None,
        },
        &["haiku"],
    )
    .await;
    let body = ticket("T-31", "");
    let headers = standard_headers(TICKETS_SECRET, "msg_charged", EVENT_TIME, &body);
    let reply = hooks.post("tickets", &headers, &body).await;
    assert_eq!(reply.status, 202, "{}", reply.json);
    let job = hooks
        .jobs
        .get(reply.json["job_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let charge = job.charge.expect("the job carries its reservation");
    assert_eq!(
        (charge.principal.as_str(), charge.tenant.as_str()),
        (key.key_id.as_str(), "support")
    );
    assert!(charge.held.cost.0 > 0, "{charge:?}");
    assert_eq!(job.allowed_models, ["haiku"]);
    assert_eq!(job.origin.as_deref(), Some("webhook:tickets"));

    // A key that may not use the source's model: refused, nothing created.
    let (hooks, _) = charged_hooks(Budget::default(), &["sonnet"]).await;
    let reply = hooks.post("tickets", &headers, &body).await;
    assert_eq!(reply.status, 403, "{}", reply.json);
    assert_eq!(hooks.job_count().await, 0);
}

#[tokio::test]
async fn attack_an_oversized_webhook_job_is_413_before_any_write() {
    let config = json!({"sources": {"bulk": {
        "signature": {"scheme": "hmac", "header": "x-signature", "secret": "env:GENERIC_SECRET",
                      "prefix": "sha256="},
        "model": "haiku",
        "prompt": "{{}}",
        "max_body_bytes": 1_048_576,
    }}})
    .to_string();
    let hooks = hooks_with(&config).await;
    let body = json!({"blob": "x".repeat(300 * 1024)}).to_string();
    let headers = vec![("x-signature", hex_signature(GENERIC_SECRET, &body))];
    let reply = hooks.post("bulk", &headers, &body).await;
    assert_eq!(reply.status, 413, "{}", reply.json);
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&gateway::jobs::submit::MAX_JOB_RECORD_BYTES.to_string()),
        "{}",
        reply.json
    );
    assert_eq!(hooks.job_count().await, 0);
}

#[tokio::test]
async fn attack_a_callback_off_the_sources_host_list_is_refused_at_intake() {
    let hooks = hooks().await;
    for (i, url) in [
        "https://attacker.example.net/steal",
        "http://localhost:8080/admin",
    ]
    .into_iter()
    .enumerate()
    {
        let body = ticket("T-40", url);
        let id = format!("msg_host_{i}");
        let reply = hooks
            .post(
                "tickets",
                &standard_headers(TICKETS_SECRET, &id, EVENT_TIME, &body),
                &body,
            )
            .await;
        assert_eq!(reply.status, 400, "{url}: {}", reply.json);
        assert!(
            reply.json["error"]["code"]
                .as_str()
                .unwrap()
                .starts_with("callback_"),
            "{url}: {}",
            reply.json
        );
    }
    assert_eq!(hooks.job_count().await, 0);
    assert!(hooks.queued().await.is_empty());
}
