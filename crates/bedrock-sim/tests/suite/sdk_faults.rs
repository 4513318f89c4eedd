//! Fault injection as the SDK sees it: error variants, in-stream exceptions, retries, hangs,
//! latency, and the admin API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::time::{Duration, Instant};

use crate::common::*;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::error::SdkError;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_sdk_bedrockruntime::types::{ContentBlockDelta, ConverseStreamOutput, ResponseStream};
use bedrock_sim::{Behavior, ErrorKind, Outcome, StreamErrorKind, expected_reply};
use serde_json::{Value, json};

async fn converse_error(kind: ErrorKind) -> (u16, ConverseError) {
    let sim = sim().await;
    sim.set_behavior(HAIKU, Behavior::always(kind));
    let client = client(&sim).await;
    let err = client
        .converse()
        .model_id(HAIKU)
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err();
    let status = err.raw_response().unwrap().status().as_u16();
    assert_eq!(sim.calls(HAIKU), 1, "no retries configured");
    (status, err.into_service_error())
}

macro_rules! converse_error_test {
    ($name:ident, $kind:ident, $status:expr) => {
        #[tokio::test]
        async fn $name() {
            let (status, err) = converse_error(ErrorKind::$kind).await;
            assert_eq!(status, $status);
            let ConverseError::$kind(e) = &err else {
                panic!("expected {}, got {err:?}", stringify!($kind))
            };
            assert_eq!(e.message(), Some(ErrorKind::$kind.default_message()));
        }
    };
}

converse_error_test!(validation_exception, ValidationException, 400);
converse_error_test!(access_denied_exception, AccessDeniedException, 403);
converse_error_test!(resource_not_found_exception, ResourceNotFoundException, 404);
converse_error_test!(model_timeout_exception, ModelTimeoutException, 408);
converse_error_test!(model_error_exception, ModelErrorException, 424);
converse_error_test!(throttling_exception, ThrottlingException, 429);
converse_error_test!(model_not_ready_exception, ModelNotReadyException, 429);
converse_error_test!(internal_server_exception, InternalServerException, 500);
converse_error_test!(
    service_unavailable_exception,
    ServiceUnavailableException,
    503
);

#[tokio::test]
async fn invoke_model_maps_errors_too() {
    let sim = sim().await;
    sim.set_behavior(
        HAIKU,
        Behavior::script([
            Outcome::Error(ErrorKind::ModelNotReadyException),
            Outcome::Error(ErrorKind::ThrottlingException),
        ]),
    );
    let client = client(&sim).await;
    let body = br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#;
    let call = || {
        client
            .invoke_model()
            .model_id(HAIKU)
            .body(Blob::new(body.to_vec()))
            .send()
    };
    let err = call().await.unwrap_err().into_service_error();
    assert!(
        matches!(err, InvokeModelError::ModelNotReadyException(_)),
        "{err:?}"
    );
    let err = call().await.unwrap_err().into_service_error();
    assert!(
        matches!(err, InvokeModelError::ThrottlingException(_)),
        "{err:?}"
    );
    assert!(call().await.is_ok());
}

/// Reads a ConverseStream until it ends or fails; returns (text deltas, the error if any).
async fn drain_converse_stream(
    kind: StreamErrorKind,
    after: u32,
) -> (usize, String, Option<ConverseStreamOutputError>) {
    let sim = sim().await;
    sim.set_behavior(
        HAIKU,
        Behavior {
            fail_after_chunks: Some(after),
            stream_error: kind,
            words_per_chunk: 1,
            ..Behavior::default()
        },
    );
    let client = client(&sim).await;
    let mut out = client
        .converse_stream()
        .model_id(HAIKU)
        .messages(user("a long enough prompt for several chunks"))
        .send()
        .await
        .unwrap();
    let (mut deltas, mut text) = (0, String::new());
    loop {
        match out.stream.recv().await {
            Ok(Some(ConverseStreamOutput::ContentBlockDelta(d))) => {
                if let Some(ContentBlockDelta::Text(t)) = d.delta() {
                    deltas += 1;
                    text.push_str(t);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return (deltas, text, None),
            Err(err) => return (deltas, text, Some(err.into_service_error())),
        }
    }
}

#[tokio::test]
async fn in_stream_exceptions_surface_as_the_right_variant() {
    let (deltas, text, err) =
        drain_converse_stream(StreamErrorKind::ModelStreamErrorException, 3).await;
    assert_eq!(deltas, 3);
    assert!(expected_reply("a long enough prompt for several chunks").starts_with(&text));
    match err {
        Some(ConverseStreamOutputError::ModelStreamErrorException(e)) => {
            assert_eq!(e.original_status_code(), Some(500));
            assert!(e.message().is_some());
        }
        other => panic!("{other:?}"),
    }

    let (deltas, _, err) = drain_converse_stream(StreamErrorKind::ThrottlingException, 2).await;
    assert_eq!(deltas, 2);
    assert!(
        matches!(err, Some(ConverseStreamOutputError::ThrottlingException(_))),
        "{err:?}"
    );

    let (_, _, err) = drain_converse_stream(StreamErrorKind::InternalServerException, 1).await;
    assert!(
        matches!(
            err,
            Some(ConverseStreamOutputError::InternalServerException(_))
        ),
        "{err:?}"
    );

    let (_, _, err) = drain_converse_stream(StreamErrorKind::ServiceUnavailableException, 1).await;
    assert!(
        matches!(
            err,
            Some(ConverseStreamOutputError::ServiceUnavailableException(_))
        ),
        "{err:?}"
    );

    let (deltas, _, err) = drain_converse_stream(StreamErrorKind::ValidationException, 0).await;
    assert_eq!(deltas, 0);
    assert!(
        matches!(err, Some(ConverseStreamOutputError::ValidationException(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn invoke_stream_model_timeout_in_stream() {
    let sim = sim().await;
    sim.set_behavior(
        SONNET_PROFILE,
        Behavior::script([Outcome::StreamError {
            kind: StreamErrorKind::ModelTimeoutException,
            after_chunks: Some(1),
        }]),
    );
    let client = client(&sim).await;
    let mut out = client
        .invoke_model_with_response_stream()
        .model_id(SONNET_PROFILE)
        .body(Blob::new(
            br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"x"}]}"#
                .to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let mut chunks = 0;
    let err = loop {
        match out.body.recv().await {
            Ok(Some(ResponseStream::Chunk(_))) => chunks += 1,
            Ok(Some(other)) => panic!("{other:?}"),
            Ok(None) => panic!("stream ended without the scripted error"),
            Err(err) => break err.into_service_error(),
        }
    };
    // message_start, content_block_start, one delta.
    assert_eq!(chunks, 3);
    assert!(
        matches!(err, ResponseStreamError::ModelTimeoutException(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn throttled_twice_then_succeeds_with_standard_retries() {
    let sim = sim().await;
    sim.set_behavior(
        HAIKU,
        Behavior::script([
            Outcome::Error(ErrorKind::ThrottlingException),
            Outcome::Error(ErrorKind::ThrottlingException),
            Outcome::Ok,
        ]),
    );
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5));
    let client = client_with(&sim, retry, None).await;
    let out = client
        .converse()
        .model_id(HAIKU)
        .messages(user("retry me"))
        .send()
        .await
        .unwrap();
    assert!(out.output().is_some());
    assert_eq!(sim.calls(HAIKU), 3);
}

#[tokio::test]
async fn hang_lets_client_timeouts_fire() {
    let sim = sim().await;
    sim.set_behavior(
        HAIKU,
        Behavior {
            hang: true,
            ..Behavior::default()
        },
    );
    let client = client_with(
        &sim,
        RetryConfig::disabled(),
        Some(Duration::from_millis(200)),
    )
    .await;
    let started = Instant::now();
    let err = client
        .converse()
        .model_id(HAIKU)
        .messages(user("hello?"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Shutdown is not held up by the hanging request.
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn latency_knobs_delay_first_token_and_chunks() {
    let sim = sim().await;
    sim.set_default_behavior(Behavior {
        first_token_ms: 150,
        chunk_delay_ms: 20,
        words_per_chunk: 4,
        ..Behavior::default()
    });
    let client = client(&sim).await;
    let started = Instant::now();
    let mut out = client
        .converse_stream()
        .model_id(NOVA)
        .messages(user(
            "reply with: one two three four five six seven eight nine ten",
        ))
        .send()
        .await
        .unwrap();
    let mut first_delta = None;
    let mut deltas = 0;
    while let Some(event) = out.stream.recv().await.unwrap() {
        if let ConverseStreamOutput::ContentBlockDelta(_) = event {
            deltas += 1;
            first_delta.get_or_insert_with(|| started.elapsed());
        }
    }
    assert_eq!(deltas, 3);
    assert!(first_delta.unwrap() >= Duration::from_millis(150));
    assert!(started.elapsed() >= Duration::from_millis(190));
}

#[tokio::test]
async fn admin_api_changes_behaviour_at_runtime() {
    let sim = sim().await;
    let client = client(&sim).await;
    let http = reqwest::Client::new();
    let base = sim.endpoint_url();
    let model_path = "us.anthropic.claude-sonnet-4-20250514-v1%3A0";

    assert!(
        client
            .converse()
            .model_id(SONNET_PROFILE)
            .messages(user("a"))
            .send()
            .await
            .is_ok()
    );

    let resp = http
        .put(format!("{base}/_sim/models/{model_path}/behavior"))
        .json(&json!({"script": ["ServiceUnavailableException", "ok"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let behavior: Value = http
        .get(format!("{base}/_sim/models/{SONNET_PROFILE}/behavior"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        behavior["script"],
        json!(["ServiceUnavailableException", "ok"])
    );

    let err = client
        .converse()
        .model_id(SONNET_PROFILE)
        .messages(user("b"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, ConverseError::ServiceUnavailableException(_)),
        "{err:?}"
    );
    assert!(
        client
            .converse()
            .model_id(SONNET_PROFILE)
            .messages(user("c"))
            .send()
            .await
            .is_ok()
    );

    let calls: Value = http
        .get(format!("{base}/_sim/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["models"][SONNET_PROFILE], 3);
    assert_eq!(calls["total"], 3);

    // A bad behaviour is rejected with a message naming the key.
    let resp = http
        .put(format!("{base}/_sim/behavior"))
        .json(&json!({"errorRate": 1.0, "errorType": "Bogus"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("errorType"),
        "{body}"
    );

    // Default behaviour for everyone, then reset.
    let resp = http
        .put(format!("{base}/_sim/behavior"))
        .json(&json!({"errorRate": 1.0, "errorType": "ModelErrorException"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let err = client
        .converse()
        .model_id(NOVA)
        .messages(user("d"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, ConverseError::ModelErrorException(_)),
        "{err:?}"
    );

    let resp = http
        .post(format!("{base}/_sim/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(sim.calls(SONNET_PROFILE), 0);
    assert!(
        client
            .converse()
            .model_id(NOVA)
            .messages(user("e"))
            .send()
            .await
            .is_ok()
    );

    // Extra models can be registered at runtime.
    let err = client
        .converse()
        .model_id("acme.custom-v1:0")
        .messages(user("f"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, ConverseError::ValidationException(_)),
        "{err:?}"
    );
    let resp = http
        .put(format!("{base}/_sim/models/acme.custom-v1:0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(
        client
            .converse()
            .model_id("us.acme.custom-v1:0")
            .messages(user("g"))
            .send()
            .await
            .is_ok()
    );

    let health: Value = http
        .get(format!("{base}/_sim/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
}
