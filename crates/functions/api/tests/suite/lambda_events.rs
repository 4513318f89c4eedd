//! The sample API Gateway events under `events/api/`, parsed by `lambda_http` exactly as in
//! Lambda and served by the router: proves the fixtures and the Lambda host path both work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;

const EVENTS: &[(&str, &str, u16)] = &[
    (
        "health",
        include_str!("../../../../../events/api/health.json"),
        200,
    ),
    (
        "models",
        include_str!("../../../../../events/api/models.json"),
        200,
    ),
    (
        "converse",
        include_str!("../../../../../events/api/converse.json"),
        200,
    ),
    (
        "converse-stream",
        include_str!("../../../../../events/api/converse-stream.json"),
        200,
    ),
    (
        "chat-completions",
        include_str!("../../../../../events/api/chat-completions.json"),
        200,
    ),
    (
        "chat-completions-stream",
        include_str!("../../../../../events/api/chat-completions-stream.json"),
        200,
    ),
    (
        "chat-completions-tools",
        include_str!("../../../../../events/api/chat-completions-tools.json"),
        200,
    ),
    (
        "task-classify",
        include_str!("../../../../../events/api/task-classify.json"),
        200,
    ),
    (
        "task-generate",
        include_str!("../../../../../events/api/task-generate.json"),
        200,
    ),
    (
        "task-analyze",
        include_str!("../../../../../events/api/task-analyze.json"),
        200,
    ),
    (
        "bedrock-converse",
        include_str!("../../../../../events/api/bedrock-converse.json"),
        200,
    ),
    (
        "bedrock-invoke",
        include_str!("../../../../../events/api/bedrock-invoke.json"),
        200,
    ),
    // Without a jobs table configured the route says so, as a 404 naming what is missing.
    (
        "jobs-submit",
        include_str!("../../../../../events/api/jobs-submit.json"),
        404,
    ),
    (
        "bad-json",
        include_str!("../../../../../events/api/bad-json.json"),
        400,
    ),
    (
        "unknown-model",
        include_str!("../../../../../events/api/unknown-model.json"),
        400,
    ),
];

#[tokio::test]
async fn every_sample_event_is_served_as_lambda_would_serve_it() {
    let api = start().await;
    for (name, json, expected) in EVENTS {
        let request = lambda_http::request::from_str(json)
            .unwrap_or_else(|e| panic!("{name}: not an API Gateway event: {e}"));
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
        let reply = api.send(request).await;
        assert_eq!(reply.status.as_u16(), *expected, "{name}: {}", reply.text());
    }
    let classify = lambda_http::request::from_str(EVENTS[7].1).unwrap();
    let (parts, body) = classify.into_parts();
    let reply = api
        .send(http::Request::from_parts(
            parts,
            axum::body::Body::from(body.to_vec()),
        ))
        .await;
    assert_eq!(reply.json()["label"], "negative");
}
