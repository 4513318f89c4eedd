//! `/api/classify|generate|analyze`: static routing to the configured model class.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn each_task_goes_to_its_configured_model() {
    let api = start().await;
    let classify = api
        .post_json(
            "/api/classify",
            &json!({"text": "I love it. Reply with: positive", "labels": ["positive", "negative"]}),
        )
        .await;
    assert_eq!(classify.status, 200, "{}", classify.text());
    assert_eq!(classify.json()["label"], "positive");
    assert_eq!(classify.json()["model"], HAIKU);

    let generate = api
        .post_json(
            "/api/generate",
            &json!({"prompt": "Write a haiku", "max_tokens": 30}),
        )
        .await;
    assert_eq!(generate.status, 200, "{}", generate.text());
    assert_eq!(generate.header("x-gateway-model"), Some(SONNET));

    let analyze = api
        .post_json(
            "/api/analyze",
            &json!({"text": "Quarterly revenue fell 3%."}),
        )
        .await;
    assert_eq!(analyze.status, 200, "{}", analyze.text());
    assert_eq!(analyze.json()["model"], NOVA_LITE);

    assert_eq!(
        (
            api.sim.calls(HAIKU),
            api.sim.calls(SONNET),
            api.sim.calls(NOVA_LITE)
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn task_input_is_validated_by_field() {
    let api = start().await;
    let reply = api
        .post_json(
            "/api/classify",
            &json!({"text": "x", "labels": ["only-one"]}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["field"], "labels");

    let reply = api
        .post_json("/api/generate", &json!({"prompt": "", "max_tokens": 3}))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["field"], "prompt");

    let reply = api.post_json("/api/summon", &json!({})).await;
    assert_eq!(reply.status, 404);
}
