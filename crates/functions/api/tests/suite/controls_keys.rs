//! Done when: a disabled key is refused within the cache TTL. And: how keys are presented,
//! allow-lists, usage visibility, and the audit record / EMF line every request leaves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::controls_support::*;
use axum::body::Body;
use gateway::controls::RouteClass;
use http::Request;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_disabled_key_is_refused_within_the_cache_ttl() {
    let ttl = Duration::from_millis(1_000);
    let stack = start(json!({"auth": {"key_cache_ttl_ms": 1_000}})).await;
    let key = stack.key("acme", |_| {}).await;
    let body = ask("hello", 20, 0.5);
    assert_eq!(
        stack.post("/v1/converse", &key.api_key, &body).await.status,
        200
    );

    let mut record = stack.record(&key).await;
    record.disabled = true;
    stack.store.save_key(&record).await.unwrap();
    let disabled_at = Instant::now();
    // An instance that never saw the key refuses it at once.
    let fresh = stack.another_instance();
    let refused = stack
        .post_with(&fresh, "/v1/converse", &key.api_key, &body, &[])
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    // The instance that cached it stops accepting it within the TTL.
    loop {
        let reply = stack.post("/v1/converse", &key.api_key, &body).await;
        if reply.status == 403 {
            break;
        }
        assert_eq!(reply.status, 200);
        assert!(
            disabled_at.elapsed() < ttl,
            "still accepted {:?} after disabling",
            disabled_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(disabled_at.elapsed() <= ttl + Duration::from_millis(200));
}

#[tokio::test]
async fn keys_work_as_bearer_or_x_api_key_and_nothing_else_gets_in() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let body = ask("hi", 10, 0.5);
    assert_eq!(
        stack.post("/v1/converse", &key.api_key, &body).await.status,
        200
    );
    let with_header = Request::post("/v1/converse")
        .header("x-api-key", &key.api_key)
        .body(Body::from(body.to_string()))
        .unwrap();
    assert_eq!(send(&stack.router, with_header).await.status, 200);

    let anonymous = Request::post("/v1/converse")
        .body(Body::from(body.to_string()))
        .unwrap();
    let refused = send(&stack.router, anonymous).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"]["code"], "unauthenticated");
    let mut forged = key.api_key.clone();
    forged.pop();
    forged.push(if key.api_key.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(stack.post("/v1/converse", &forged, &body).await.status, 401);
    // The OpenAI dialect for the OpenAI route; /health needs no key.
    let chat = json!({"model": "haiku", "messages": [{"role": "user", "content": "hi"}]});
    let refused = stack
        .post("/v1/chat/completions", "sk-not-a-gateway-key", &chat)
        .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"]["type"], "authentication_error");
    let health = send(
        &stack.router,
        Request::get("/health").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(health.status, 200);
    assert_eq!(stack.sim.calls(HAIKU), 2);
}

#[tokio::test]
async fn allow_lists_limit_models_and_routes() {
    let stack = start(json!({})).await;
    let key = stack
        .key("acme", |k| {
            k.allowed_models = vec!["haiku".into()];
            k.allowed_routes = vec![RouteClass::Converse];
        })
        .await;
    let haiku = ask("hi", 10, 0.5);
    assert_eq!(
        stack
            .post("/v1/converse", &key.api_key, &haiku)
            .await
            .status,
        200
    );
    let sonnet =
        json!({"modelId": "sonnet", "messages": [{"role": "user", "content": [{"text": "x"}]}]});
    let refused = stack.post("/v1/converse", &key.api_key, &sonnet).await;
    assert_eq!(refused.status, 403);
    assert!(refused.text().contains("may not use model"));
    let chat = json!({"model": "haiku", "messages": [{"role": "user", "content": "hi"}]});
    let refused = stack
        .post("/v1/chat/completions", &key.api_key, &chat)
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.text().contains("chat route"));
    let expired = stack.key("acme", |k| k.expires_at_ms = Some(1)).await;
    let refused = stack.post("/v1/converse", &expired.api_key, &haiku).await;
    assert_eq!(refused.status, 403);
    assert!(refused.text().contains("expired"));
}

#[tokio::test]
async fn usage_is_visible_to_its_tenant_and_to_admins() {
    let stack = start(json!({})).await;
    let acme = stack.key("acme", |_| {}).await;
    let other = stack.key("other", |_| {}).await;
    let admin = stack.key("ops", |k| k.admin = true).await;
    let body = ask("count me", 10, 0.5);
    for _ in 0..2 {
        assert_eq!(
            stack
                .post("/v1/converse", &acme.api_key, &body)
                .await
                .status,
            200
        );
    }
    let own = stack.get("/v1/usage", &acme.api_key).await;
    assert_eq!(own.status, 200, "{}", own.text());
    let report = own.json();
    assert_eq!(report["tenant"], "acme");
    assert_eq!(report["totals"]["requests"], 2);
    assert_eq!(report["by_model"][HAIKU]["requests"], 2);
    assert_eq!(report["by_key"][&acme.key_id]["requests"], 2);
    assert!(nanos(report["totals"]["cost_usd"].as_str().unwrap()) > 0);
    let refused = stack.get("/v1/usage?tenant=acme", &other.api_key).await;
    assert_eq!(refused.status, 403);
    let as_admin = stack.get("/v1/usage?tenant=acme", &admin.api_key).await;
    assert_eq!(as_admin.json()["totals"]["requests"], 2);
    let bad = stack.get("/v1/usage?from=2026-02-31", &acme.api_key).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn every_request_leaves_one_audit_record_and_emf_line() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let ok = stack
        .post("/v1/converse", &key.api_key, &ask("secret prompt", 10, 0.5))
        .await;
    assert_eq!(ok.status, 200);
    let refused = stack
        .post("/v1/converse", "gwk_nope", &ask("x", 10, 0.5))
        .await;
    assert_eq!(refused.status, 401);
    let stream = stack
        .post("/v1/converse-stream", &key.api_key, &ask("stream", 10, 0.5))
        .await;
    assert_eq!(stream.status, 200);
    let lines = stack.metric_lines();
    assert_eq!(lines.len(), 3, "one line per request");
    let first = &lines[0];
    let directive = &first["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "BedrockGateway");
    assert_eq!(first["Model"], HAIKU);
    assert_eq!(first["Tenant"], "acme");
    assert_eq!(first["Requests"], 1);
    assert!(first["InputTokens"].as_u64().unwrap() > 0);
    assert!(first["CostUSD"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[1]["Errors"], 1);
    assert_eq!(lines[1]["Status"], 401);
    // The streamed call is recorded when its stream ended, with its usage and cost.
    assert!(lines[2]["OutputTokens"].as_u64().unwrap() > 0);
    assert!(lines[2]["CostUSD"].as_f64().unwrap() > 0.0);
    // Prompts and completions are not in metrics (nor in the audit log unless enabled).
    assert!(
        !lines
            .iter()
            .any(|l| l.to_string().contains("secret prompt"))
    );
}
