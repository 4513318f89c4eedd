//! A handler's error names the request it failed (the caller's `x-request-id`, the id the
//! audit record and logs carry) in its route's dialect: in the body where the dialect has
//! one, and in the dialect's own request-id header.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use axum::body::Body;
use http::Request;
use serde_json::json;

async fn post_as(api: &TestApi, path: &str, request_id: &str, body: &serde_json::Value) -> Reply {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .header("x-request-id", request_id)
        .body(Body::from(body.to_string()))
        .unwrap();
    api.send(request).await
}

#[tokio::test]
async fn the_gateways_own_error_names_the_callers_request_id() {
    let api = start().await;
    let reply = post_as(
        &api,
        "/v1/converse",
        "req-gateway-1",
        &json!({"messages": []}),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["error"]["field"], "modelId");
    assert_eq!(body["error"]["request_id"], "req-gateway-1");
    assert_eq!(reply.header("x-request-id"), Some("req-gateway-1"));
    assert_eq!(reply.header("x-amzn-errortype"), None);
}

#[tokio::test]
async fn a_bedrock_error_carries_the_request_id_in_the_sdks_header() {
    let api = start().await;
    let path = format!("/model/{HAIKU}/converse");
    let body = json!({"modelId": HAIKU, "messages": [user_message("hi")]});
    let reply = post_as(&api, &path, "req-bedrock-1", &body).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.header("x-amzn-requestid"), Some("req-bedrock-1"));
    assert_eq!(reply.header("x-request-id"), Some("req-bedrock-1"));
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("ValidationException")
    );
    let body = reply.json();
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    assert!(body["message"].as_str().unwrap().contains("path"));
    assert_eq!(api.sim.calls(HAIKU), 0);
}

#[tokio::test]
async fn an_openai_error_is_openais_shape_under_the_callers_request_id() {
    let api = start().await;
    let reply = post_as(
        &api,
        "/v1/chat/completions",
        "req-openai-1",
        &json!({"messages": []}),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.header("x-request-id"), Some("req-openai-1"));
    let body = reply.json();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"].get("request_id").is_none(), "{body}");
}

#[tokio::test]
async fn an_anthropic_error_names_the_request_in_body_and_request_id_header() {
    let api = start().await;
    let reply = post_as(
        &api,
        "/v1/messages",
        "req-anthropic-1",
        &json!({"max_tokens": 5}),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.header("request-id"), Some("req-anthropic-1"));
    assert_eq!(reply.header("x-request-id"), Some("req-anthropic-1"));
    let body = reply.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["request_id"], "req-anthropic-1");
}
