//! The sample API Gateway (HTTP API v2) events under `events/webhook/`, parsed by
//! `lambda_http` exactly as in Lambda and served by the router. They were signed once (see
//! `events/webhook/README.md`) at a fixed time; the handler's injected clock is set to it, so
//! the committed signatures stay inside the replay window.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use crate::common::*;
use axum::body::Body;
use gateway::jobs::JobStore;

const TICKETS: &str = include_str!("../../../../../events/webhook/tickets-standard.json");
const ROTATED: &str = include_str!("../../../../../events/webhook/tickets-rotated-secret.json");
const GITHUB: &str = include_str!("../../../../../events/webhook/github-issue.json");
const TAMPERED: &str = include_str!("../../../../../events/webhook/tickets-tampered.json");

fn lambda_request(event: &str) -> http::Request<Body> {
    let request = lambda_http::request::from_str(event)
        .unwrap_or_else(|e| panic!("not an API Gateway event: {e}"));
    let (parts, body) = request.into_parts();
    http::Request::from_parts(parts, Body::from(body.to_vec()))
}

#[tokio::test]
async fn every_sample_event_is_served_as_lambda_would_serve_it() {
    let hooks = hooks().await;
    for (name, event, status) in [
        ("tickets", TICKETS, 202),
        ("rotated", ROTATED, 202),
        ("github", GITHUB, 202),
        ("tampered", TAMPERED, 401),
    ] {
        let reply = hooks.send(lambda_request(event)).await;
        assert_eq!(reply.status.as_u16(), status, "{name}: {}", reply.json);
    }

    // Redelivered by the sender: acknowledged, not processed again.
    let again = hooks.send(lambda_request(TICKETS)).await;
    assert_eq!(
        (again.status.as_u16(), again.json["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(hooks.job_count().await, 3);

    let job = hooks
        .jobs
        .get(again.json["job_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.metadata["ticket_id"], "T-1001");
    assert_eq!(
        job.metadata["webhook_delivery_id"],
        "msg_2Ozb9rBwxY8ZFJ9Ttd4zGZ0v2a1"
    );
    assert_eq!(
        job.callback_url.as_deref(),
        Some("https://hooks.example.com/triage?token=abc")
    );
}

#[tokio::test]
async fn the_sample_event_replayed_after_the_tolerance_is_refused() {
    let hooks = hooks().await;
    hooks.set_now_secs(EVENT_TIME + 301);
    let reply = hooks.send(lambda_request(TICKETS)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json["error"]["code"], "webhook_stale_timestamp");
    // The Lambda request id is the response's request id.
    assert!(
        reply.json["error"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
}
