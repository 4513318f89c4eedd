//! Red team (red5) on the handlers' `Result<Response, Failure<D>>` errors: errors answered
//! outside a handler's `Failure` (a `{id}` segment that does not decode, a wrong operation,
//! an auth refusal) and bad input that reaches the store. Each test passes only when the
//! control it names holds; each was written from the code and failed when written (branch
//! red5, on main at eb93c8f), for the reason its assertion message gives.

use crate::controls_support::*;
use axum::body::Body;
use http::Request;
use serde_json::{Value, json};

/// GET with a key and a request id of the caller's.
async fn get_with_id(stack: &Stack, path: &str, key: &str, request_id: &str) -> Reply {
    let request = Request::get(path)
        .header("x-api-key", key)
        .header("x-request-id", request_id)
        .body(Body::empty())
        .unwrap();
    send(&stack.router, request).await
}

/// Red team (red5), low: `GET /inference-profiles/{id}` (GetInferenceProfile) is a Bedrock
/// control-plane read whose errors are Bedrock's (`x-amzn-errortype` + `{"message"}`, as the
/// AWS SDKs parse them), and its handler returns `Failure<Bedrock>`. But an id that
/// percent-decodes to bytes that are not UTF-8 is refused by `Segment`, which picks the
/// dialect from a list of path prefixes (`/model/`, `/endpoints/`, `/knowledgebases/`) that
/// lacks `/inference-profiles/`: the answer is the gateway's own `{"error": {...}}` with no
/// `x-amzn-errortype`, which boto3 / the JS SDK report as an unknown error without its
/// message. Expected: a 400 in Bedrock's shape, with the caller's request id.
#[tokio::test]
async fn attack_a_bad_inference_profile_id_is_answered_in_bedrocks_dialect() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    let reply = get_with_id(
        &stack,
        "/inference-profiles/%FF%FE",
        &key.api_key,
        "red5-ip",
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("ValidationException"),
        "no Bedrock error type: {:?} {}",
        reply.headers,
        reply.text()
    );
    let body = reply.json();
    assert!(
        body.get("message").and_then(Value::as_str).is_some(),
        "not Bedrock's error body: {body}"
    );
    assert_eq!(reply.header("x-amzn-requestid"), Some("red5-ip"));
}

/// Red team (red5), low: every other Bedrock-dialect error (a `Failure<Bedrock>`, an auth
/// refusal) carries the request id in `x-amzn-requestid`, the header the AWS SDKs read it
/// from (`ResponseMetadata.RequestId`, `$metadata.requestId`). A path segment that does not
/// decode on a Bedrock, SageMaker or Agent Runtime wire route is answered by `Segment`'s own
/// `ApiError`, which sets only `x-request-id`: the SDK caller is left without the id support
/// would ask for. (`Segment` also recomputes the id from the headers instead of reading the
/// one the auth layer recorded: without an `x-request-id` from the caller the id it answers
/// is a fresh UUID that no audit record carries.) Expected: the caller's id in
/// `x-amzn-requestid` on each.
#[tokio::test]
async fn attack_a_bad_path_segment_on_a_wire_route_names_the_request_for_the_sdk() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    for path in [
        "/model/%FF%FE/converse",
        "/model/%C0/invoke",
        "/endpoints/%FF/invocations",
        "/knowledgebases/%FF/retrieve",
    ] {
        let reply = stack
            .post_with(
                &stack.router,
                path,
                &key.api_key,
                &json!({"messages": []}),
                &[("x-request-id", "red5-seg")],
            )
            .await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        assert_eq!(
            reply.header("x-amzn-errortype"),
            Some("ValidationException"),
            "{path}: {}",
            reply.text()
        );
        assert_eq!(
            reply.header("x-amzn-requestid"),
            Some("red5-seg"),
            "{path}: the SDK's request id header is missing: {:?}",
            reply.headers
        );
    }
}

/// Red team (red5), low: a required top-level field left out, or an unknown top-level field
/// (`ConverseRequest` is `deny_unknown_fields` "so a typo is a clear 400"), fails at the
/// document's root, whose path is `.`: `body::parse_json` takes that path for a syntax error
/// and answers "malformed JSON: …" with no field (`field: null`, OpenAI's `param: null`), on a
/// body that is well-formed JSON. A client that highlights the field named in the error has
/// nothing to show. Expected: the field named — `model` left out of a chat completion, a
/// response or an embedding, `mesages` (a typo) on Converse — and no "malformed JSON".
#[tokio::test]
async fn attack_a_missing_or_unknown_top_level_field_is_named() {
    let api = crate::common::start().await;
    let user = json!([{"role": "user", "content": "hi"}]);
    let cases = [
        (
            "/v1/chat/completions",
            json!({"messages": user}),
            "/error/param",
            "model",
        ),
        (
            "/v1/responses",
            json!({"input": "hi"}),
            "/error/param",
            "model",
        ),
        (
            "/v1/embeddings",
            json!({"input": "hi"}),
            "/error/param",
            "model",
        ),
        (
            "/v1/converse",
            json!({"modelId": "haiku", "mesages": []}),
            "/error/field",
            "mesages",
        ),
    ];
    for (path, body, pointer, field) in cases {
        let reply = api.post_json(path, &body).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        let error = reply.json();
        assert_eq!(
            error.pointer(pointer).and_then(Value::as_str),
            Some(field),
            "{path}: the field is not named: {error}"
        );
        assert!(
            !reply.text().contains("malformed JSON"),
            "{path}: well-formed JSON called malformed: {error}"
        );
    }
}

/// Red team (red5), low: a wrong method or an unknown operation is answered in Bedrock's
/// shape (`UnknownOperationException` in `x-amzn-errortype`) only on the paths
/// `meta::is_bedrock_path` lists (`/model/`, `/inference-profiles`, `/foundation-models`).
/// The other wire APIs the gateway serves to AWS SDKs — Bedrock's async API
/// (`/async-invoke`), SageMaker Runtime (`/endpoints/…`) and Agent Runtime
/// (`/knowledgebases/…`, `/retrieveAndGenerate`) — get the gateway's own
/// `{"error": {...}}`, which the SDKs report as an unknown error without its message.
/// Expected: Bedrock's error type header on each.
#[tokio::test]
async fn attack_a_wrong_operation_on_an_aws_wire_path_is_answered_for_the_sdk() {
    let stack = start(json!({})).await;
    let key = stack.key("acme", |_| {}).await;
    for (method, path) in [
        (http::Method::DELETE, "/async-invoke"),
        (http::Method::GET, "/retrieveAndGenerate"),
        (http::Method::GET, "/endpoints/ft-llama/invocations"),
        (http::Method::POST, "/endpoints/ft-llama/invocationz"),
        (http::Method::POST, "/knowledgebases/kb1/retrieveAll"),
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("x-api-key", &key.api_key)
            .header("x-request-id", "red5-op")
            .body(Body::from("{}"))
            .unwrap();
        let reply = send(&stack.router, request).await;
        assert!(
            reply.status.is_client_error(),
            "{method} {path}: {} {}",
            reply.status,
            reply.text()
        );
        assert!(
            reply.header("x-amzn-errortype").is_some(),
            "{method} {path}: not an error the AWS SDKs read: {} {}",
            reply.status,
            reply.text()
        );
        assert!(
            reply
                .json()
                .get("message")
                .and_then(Value::as_str)
                .is_some(),
            "{method} {path}: not Bedrock's error body: {}",
            reply.text()
        );
    }
}

/// Red team (red5), low: on `/v1/messages` a handler's error (`Failure<Anthropic>`) carries
/// the request id in `request-id`, the header the Anthropic SDKs read it from
/// (`error.request_id`, `_request_id`); an auth refusal — no key, a wrong key — is rendered
/// by the auth layer's `refuse`, which adds the SDK's header for the Bedrock dialect only.
/// The caller told "401" cannot quote the request to support. Expected: `request-id` on the
/// refusal, as on every other error of the route.
#[tokio::test]
async fn attack_an_auth_refusal_on_the_messages_api_names_the_request_for_the_sdk() {
    let stack = start(json!({})).await;
    let body = json!({
        "model": "haiku", "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
    });
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        for key in [None, Some("gwk_not_a_key")] {
            let mut request = Request::post(path)
                .header("content-type", "application/json")
                .header("x-request-id", "red5-auth");
            if let Some(key) = key {
                request = request.header("x-api-key", key);
            }
            let reply = send(
                &stack.router,
                request.body(Body::from(body.to_string())).unwrap(),
            )
            .await;
            assert!(
                reply.status == 401 || reply.status == 403,
                "{path} {key:?}: not refused: {} {}",
                reply.status,
                reply.text()
            );
            assert_eq!(reply.json()["type"], "error", "{path}: {}", reply.text());
            assert_eq!(
                reply.header("request-id"),
                Some("red5-auth"),
                "{path} {key:?}: no request-id header: {:?}",
                reply.headers
            );
        }
    }
}

/// Red team (red5), medium: `GET /v1/jobs/{job_id}` hands any id straight to DynamoDB's
/// `GetItem` as the partition key. A key over DynamoDB's 2048-byte limit is a
/// `ValidationException` on the real service ("Size of hashkey has exceeded the maximum size
/// limit of 2048 bytes"), which `jobs::aws_error` turns into `GatewayError::Internal`: a
/// 500 for bad input, logged at error level, on every such poll (moto does not check key sizes
/// on reads, so the emulator answers 404 and hides it). Expected: the id's shape and length
/// checked before the store — a 400 naming `job_id`, and no `GetItem` sent.
#[tokio::test]
async fn attack_an_oversized_job_id_is_refused_before_the_store() {
    use gateway::jobs::submit::JobSettings;
    use gateway_aws::jobs::{DynamoJobStore, SqsJobQueue};
    use std::sync::Arc;

    let moto = testkit::moto();
    let log = Arc::new(CallLog::default());
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&moto.sdk_config())
            .interceptor(Recorder(Arc::clone(&log)))
            .build(),
    );
    let table = testkit::unique_name("red5-jobs");
    testkit::resources::create_table(&moto.dynamodb(), &table, false, false).await;
    let queue =
        testkit::resources::create_queue(&moto.sqs(), &testkit::unique_name("red5-q"), None, 30)
            .await;
    let backend = api::JobsBackend {
        store: DynamoJobStore::new(dynamodb, &table),
        queue: SqsJobQueue::new(moto.sqs(), &queue.url),
        settings: JobSettings::default(),
        callback_policy: gateway::webhook::CallbackPolicy::default(),
    };
    let sim = testkit::bedrock_sim().await;
    let sdk = testkit::local_sdk_config(&sim.endpoint_url());
    let models = gateway_aws::bedrock::BedrockModelClient::from_sdk_config(&sdk, &[]);
    let config = gateway::config::GatewayConfig::default();
    let parts = gateway_aws::resilience_store::local_parts(&config);
    let router = api::router(api::AppState::with_controls(
        config,
        models,
        parts,
        None,
        Default::default(),
        Some(backend),
    ));
    let path = format!("/v1/jobs/{}", "a".repeat(3_000));
    let request = Request::get(path.as_str())
        .header("x-request-id", "red5-job")
        .body(Body::empty())
        .unwrap();
    let reply = send(&router, request).await;
    let get_items: Vec<_> = log
        .calls()
        .into_iter()
        .filter(|c| c.operation.ends_with("GetItem"))
        .collect();
    assert!(
        get_items.is_empty(),
        "a 3000-byte partition key was sent to DynamoDB (a ValidationException, so a 500, on the real service): {get_items:?}"
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["error"]["field"], "job_id", "{}", reply.text());
    assert_eq!(reply.json()["error"]["request_id"], "red5-job");
}
