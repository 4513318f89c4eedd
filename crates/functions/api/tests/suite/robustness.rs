//! Bad input gets a clear 4xx naming the field; nothing panics; oversize bodies get 413.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use gateway::config::GatewayConfig;
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_a_400() {
    let api = start().await;
    let reply = api.post("/v1/converse", "{\"modelId\": \"haiku\", ").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["code"], "invalid_request");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );
}

#[tokio::test]
async fn a_wrong_field_is_named_by_its_path() {
    let api = start().await;
    let reply = api
        .post_json("/v1/converse", &json!({"modelId": "haiku", "messages": [{"role": "user", "content": [{"txt": "hi"}]}]}))
        .await;
    assert_eq!(reply.status, 400);
    let error = &reply.json()["error"];
    assert_eq!(error["field"], "messages[0].content[0]", "{error}");

    let reply = api
        .post_json(
            "/v1/converse",
            &json!({"modelId": "haiku", "messages": [], "inferenceConfig": {"maxTokens": "ten"}}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["field"], "inferenceConfig.maxTokens");
}

#[tokio::test]
async fn missing_and_unknown_models_are_400s_listing_allowed_ones() {
    let api = start().await;
    let reply = api
        .post_json("/v1/converse", &json!({"messages": [user_message("hi")]}))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["field"], "modelId");

    let reply = api
        .post_json(
            "/v1/converse",
            &json!({"modelId": "gpt-17", "messages": [user_message("hi")]}),
        )
        .await;
    assert_eq!(reply.status, 400);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "unknown_model");
    assert!(
        error["message"].as_str().unwrap().contains(HAIKU),
        "{error}"
    );
    assert_eq!(api.sim.call_counts().total, 0, "nothing reached the model");
}

#[tokio::test]
async fn an_oversize_body_is_a_413() {
    let mut config = GatewayConfig::default();
    config.limits.max_body_bytes = 1024;
    let api = start_with(config).await;
    let big = "x".repeat(4096);
    for path in [
        "/v1/converse",
        "/v1/chat/completions",
        "/api/generate",
        &format!("/model/{HAIKU}/invoke"),
    ] {
        let reply = api
            .post_json(
                path,
                &json!({"modelId": "haiku", "messages": [user_message(&big)]}),
            )
            .await;
        assert_eq!(reply.status, 413, "{path}: {}", reply.text());
    }
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let api = start().await;
    let reply = api.get("/v2/nothing").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], "not_found");
}

/// Random and adversarial bodies on every route: always an answer, never a 5xx or a panic.
#[tokio::test]
async fn garbage_never_panics_or_5xxs() {
    let api = start().await;
    let routes = [
        "/v1/converse".to_owned(),
        "/v1/converse-stream".to_owned(),
        "/v1/chat/completions".to_owned(),
        "/api/classify".to_owned(),
        "/api/generate".to_owned(),
        "/api/analyze".to_owned(),
        format!("/model/{HAIKU}/converse"),
        format!("/model/{HAIKU}/converse-stream"),
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    let mut bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"x\"".to_vec(),
        b"{\"messages\": null}".to_vec(),
        b"{\"modelId\": \"haiku\", \"messages\": [{\"role\": \"system\", \"content\": []}]}".to_vec(),
        b"{\"model\": \"haiku\", \"messages\": [{\"role\": \"tool\"}]}".to_vec(),
        b"{\"model\": \"haiku\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"http://169.254.169.254/\"}}]}]}".to_vec(),
        "{\"modelId\": \"haiku\", \"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"\u{0}\u{ffff}\"}]}]}".as_bytes().to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
    ];
    for _ in 0..40 {
        let len = rng.usize(0..200);
        bodies.push((0..len).map(|_| rng.u8(..)).collect());
    }
    for route in &routes {
        for body in &bodies {
            let reply = api.post(route, body.clone()).await;
            assert!(
                reply.status.is_client_error() || reply.status.is_success(),
                "{route} answered {} to {:?}: {}",
                reply.status,
                String::from_utf8_lossy(body),
                reply.text()
            );
        }
    }
}
