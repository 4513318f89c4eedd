//! Done when: an AWS SDK bedrock-runtime client with a gateway key as credentials succeeds;
//! with a wrong secret gets 403. The signatures are the real Rust SDK's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::controls_support::*;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseStreamOutput, Message,
};
use serde_json::json;

fn client(endpoint: &str, key_id: &str, secret: &str) -> aws_sdk_bedrockruntime::Client {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key_id, secret, None, None, "gateway-key"))
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_aws_sdk_client_with_a_gateway_key_succeeds_and_a_wrong_secret_gets_403() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let endpoint = stack.serve().await;

    let good = client(&endpoint, &key.key_id, &key.secret);
    let output = good
        .converse()
        .model_id(HAIKU)
        .messages(user("signed ping"))
        .send()
        .await
        .unwrap();
    let text = output.output().unwrap().as_message().unwrap().content()[0]
        .as_text()
        .unwrap()
        .clone();
    assert_eq!(text, bedrock_sim::expected_reply("signed ping"));

    // Streaming and InvokeModel are signed the same way.
    let mut stream = good
        .converse_stream()
        .model_id(HAIKU)
        .messages(user("signed stream"))
        .send()
        .await
        .unwrap();
    let mut streamed = String::new();
    while let Some(event) = stream.stream.recv().await.unwrap() {
        if let ConverseStreamOutput::ContentBlockDelta(delta) = event
            && let Some(t) = delta.delta().and_then(|d| d.as_text().ok())
        {
            streamed.push_str(t);
        }
    }
    assert_eq!(streamed, bedrock_sim::expected_reply("signed stream"));
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
        "messages": [{"role": "user", "content": "native"}]});
    good.invoke_model()
        .model_id(HAIKU)
        .content_type("application/json")
        .body(aws_sdk_bedrockruntime::primitives::Blob::new(
            body.to_string(),
        ))
        .send()
        .await
        .unwrap();

    let mut wrong_secret = key.secret.clone();
    wrong_secret.replace_range(
        0..1,
        if key.secret.starts_with('x') {
            "y"
        } else {
            "x"
        },
    );
    let bad = client(&endpoint, &key.key_id, &wrong_secret);
    let error = bad
        .converse()
        .model_id(HAIKU)
        .messages(user("forged"))
        .send()
        .await
        .unwrap_err();
    let SdkError::ServiceError(service) = &error else {
        panic!("expected a service error, got {error:?}");
    };
    assert_eq!(service.raw().status().as_u16(), 403);
    assert_eq!(service.err().code(), Some("AccessDeniedException"));
    assert!(
        service
            .err()
            .message()
            .unwrap()
            .contains("signature does not match")
    );

    let unknown = client(&endpoint, "GWKAAAAAAAAAAAAAAAAA", &key.secret);
    let error = unknown
        .converse()
        .model_id(HAIKU)
        .messages(user("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.raw_response().unwrap().status().as_u16(), 403);
    assert_eq!(
        stack.sim.calls(HAIKU),
        3,
        "refused requests never reached the model"
    );

    // The usage ledger knows who called.
    let usage = stack.get("/v1/usage", &key.api_key).await.json();
    assert_eq!(usage["totals"]["requests"], 3);
}

/// A request as an SDK put it on the wire.
struct Captured {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// What the real Rust SDK sends for a Converse call signed with this key: caught by a listener
/// that answers 500 (the SDK's retries are off).
async fn sdk_signed_converse(key_id: &str, secret: &str, text: &str) -> Captured {
    use std::sync::{Arc, Mutex};
    let caught: Arc<Mutex<Option<Captured>>> = Arc::default();
    let sink = caught.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let sink = sink.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            *sink.lock().unwrap() = Some(Captured {
                path: parts.uri.path().to_owned(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                    .collect(),
                body: String::from_utf8(body.to_vec()).unwrap(),
            });
            http::StatusCode::INTERNAL_SERVER_ERROR
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let _ = client(&format!("http://{addr}"), key_id, secret)
        .converse()
        .model_id(HAIKU)
        .messages(user(text))
        .send()
        .await;
    server.abort();
    let captured = caught.lock().unwrap().take();
    captured.expect("the SDK sent its request")
}

/// An API Gateway v2 event fixture carrying the SDK's signed headers and body, at `raw_path`.
fn event_with(
    fixture: &str,
    captured: &Captured,
    raw_path: &str,
) -> http::Request<axum::body::Body> {
    let mut event: serde_json::Value = serde_json::from_str(fixture).unwrap();
    let headers = event["headers"].as_object_mut().unwrap();
    for (name, value) in &captured.headers {
        headers.insert(name.clone(), json!(value));
    }
    event["body"] = json!(captured.body);
    event["rawPath"] = json!(raw_path);
    event["requestContext"]["http"]["path"] = json!(raw_path);
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let (parts, body) = request.into_parts();
    http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()))
}

const HTTP_API_EVENT: &str =
    include_str!("../../../../../events/api/bedrock-converse-sigv4-http-api.json");
const FUNCTION_URL_EVENT: &str =
    include_str!("../../../../../events/api/bedrock-converse-sigv4-function-url.json");

#[tokio::test]
async fn a_sdk_signed_request_verifies_through_the_http_api_decoded_path_and_the_function_url() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let captured = sdk_signed_converse(&key.key_id, &key.secret, "through api gateway").await;
    // The SDK encodes the model id's `:` once on the wire.
    let wire = "/model/anthropic.claude-haiku-4-5-20251001-v1%3A0/converse";
    assert_eq!(captured.path, wire);
    let decoded = wire.replace("%3A", ":");

    // The fixtures have each host's shape: the HTTP API hands the function the decoded path,
    // the Function URL the path as sent.
    let http_api: serde_json::Value = serde_json::from_str(HTTP_API_EVENT).unwrap();
    assert_eq!(http_api["rawPath"], json!(decoded));
    let function_url: serde_json::Value = serde_json::from_str(FUNCTION_URL_EVENT).unwrap();
    assert_eq!(function_url["rawPath"], json!(wire));

    for (host, fixture, path) in [
        ("HTTP API", HTTP_API_EVENT, decoded.as_str()),
        ("Function URL", FUNCTION_URL_EVENT, wire),
    ] {
        let reply = send(&stack.router, event_with(fixture, &captured, path)).await;
        assert_eq!(reply.status.as_u16(), 200, "{host}: {}", reply.text());
        assert_eq!(
            reply.json()["output"]["message"]["content"][0]["text"],
            json!(bedrock_sim::expected_reply("through api gateway")),
            "{host}"
        );
    }

    // The same signature on another model or operation, decoded or not, is refused.
    for tampered in [
        "/model/anthropic.claude-3-7-sonnet-20250219-v1:0/converse",
        "/model/anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse",
        "/model/anthropic.claude-haiku-4-5-20251001-v1:0/converse-stream",
    ] {
        for (host, fixture) in [
            ("HTTP API", HTTP_API_EVENT),
            ("Function URL", FUNCTION_URL_EVENT),
        ] {
            let reply = send(&stack.router, event_with(fixture, &captured, tampered)).await;
            assert_eq!(
                reply.status.as_u16(),
                403,
                "{host} {tampered}: {}",
                reply.text()
            );
            assert_eq!(
                reply.header("x-amzn-errortype"),
                Some("AccessDeniedException"),
                "{host} {tampered}"
            );
        }
    }
    assert_eq!(
        stack.sim.calls(HAIKU),
        2,
        "only the two genuine requests were answered"
    );
}
